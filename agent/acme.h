/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "config.h"
#include "time-util.h"

/* RFC 8555 client over libcurl (GnuTLS backend) and jansson. One AcmeSession per [acme "NAME"] section
 * and batch of renewals: it holds the directory, the account and shared connections, and may be used
 * from several threads at once (renew_many runs orders concurrently). */

typedef struct AcmeSession AcmeSession;

/* Open a session: fetch the directory, load or create the account key (0600 under the state directory)
 * and look up or register the account (EAB when configured). Returns 0 or -errno (logged, naming the
 * [acme] section and, for ACME problem documents, their type and detail verbatim). */
int acme_session_new(const Inventory *inv, const AcmeConfig *a, AcmeSession **ret);
AcmeSession *acme_session_free(AcmeSession *s);

/* Order, authorize (the section's challenge type), finalize with a CSR for `key`, download the chain
 * (the preferred one when configured). *ret_chain_pem: leaf followed by its chain, PEM, gnutls-allocated.
 * An order in flight is persisted under the state directory and resumed by the next call for `c`.
 * `replaces`: the ARI certificate id of the certificate being replaced, or NULL. Returns 0 or -errno
 * (logged). */
int acme_issue(AcmeSession *s, const CertConfig *c, gnutls_x509_privkey_t key, const char *replaces,
               gnutls_datum_t *ret_chain_pem);

/* Revoke the certificate `cert_pem` (RFC 8555 §7.6) with `reason` (RFC 5280 CRLReason code, 0 default). */
int acme_revoke(AcmeSession *s, const gnutls_datum_t *cert_pem, int reason);

static inline void acme_session_freep(AcmeSession **s) {
        acme_session_free(*s);
}
#define _cleanup_acme_session_ _cleanup_(acme_session_freep)

/* The account URL (kid) and the RFC 7638 thumbprint of the account key in use. */
const char *acme_session_account(const AcmeSession *s);
const char *acme_session_key_thumbprint(AcmeSession *s);

/* RFC 5280 CRLReason by name (keyCompromise, superseded, cessationOfOperation, …, case-insensitive) or
 * number. Returns the code or -EINVAL. */
int acme_revocation_reason_from_string(const char *s);

/* Account key rollover (RFC 8555 §7.3.5): a new key of the section's account-key-type replaces
 * STATE/acme/NAME/account.key once the server accepted it. The new key is written to account.key.next
 * first, so that a crash at any point leaves a key the server knows (the next session picks it).
 * Returns 0 or -errno (logged). */
int acme_key_rollover(AcmeSession *s);

/* ARI (RFC 9773). Whether the directory offers renewalInfo. */
bool acme_session_has_ari(const AcmeSession *s);
/* The ARI certificate identifier base64url(AKI keyIdentifier).base64url(serial) of the first certificate
 * in `data` (PEM or DER). Returns 0, -ENODATA (no AKI), -errno. */
int acme_ari_cert_id(const uint8_t *data, size_t size, char **ret);
/* Fetch the suggested window for cert_id; *ret_retry_after: when to ask again (the server's Retry-After,
 * else 6 h as RFC 9773 §4.3 suggests). Returns 0, -EOPNOTSUPP (no ARI), -errno (logged). */
int acme_renewal_info(AcmeSession *s, const char *cert_id, usec_t *ret_start, usec_t *ret_end,
                      usec_t *ret_retry_after);
/* A uniformly random point of [start, end) (RFC 9773 §4.2), from `random`. Pure. */
usec_t acme_ari_pick(usec_t start, usec_t end, uint64_t random);

typedef struct AcmeAriDecision {
        usec_t start, end;  /* the suggested window */
        usec_t when;        /* the point picked in it (kept under STATE/acme/NAME/ari/ until the window moves) */
        usec_t retry_after; /* ask again this much later */
        bool due;           /* now >= when */
        char *id;           /* the ARI id, for `replaces` (malloc'd) */
} AcmeAriDecision;

/* For the certificate installed at c->certificate: fetch its window, pick the point to renew at, and
 * say whether `now` is past it. Returns 0, -EOPNOTSUPP (no ARI at this server), -ENODATA (the
 * certificate has no AKI), -errno. */
int acme_ari_due(AcmeSession *s, const CertConfig *c, usec_t now, AcmeAriDecision *ret);
