/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "acme-http.h"
#include "acme-json.h"
#include "challenge.h"
#include "config.h"
#include "macro.h"
#include "time-util.h"

/* RFC 8555 client over libcurl (GnuTLS backend) and jansson. One AcmeSession per [acme "NAME"] section
 * and batch of renewals: it holds the directory, the account and shared connections, and may be used
 * from several threads at once (renew_many runs orders concurrently).
 *
 * Layers, each calling only the ones below it (no cycles, one header per .c):
 *   acme-order.c (orders, acme_issue)   acme-ari.c (RFC 9773 renewal information)
 *   acme.c       (this: session, account, key rollover, revocation, nonces, signed requests)
 *   acme-http.c  (transport: handles, retries, waits, cancel, the origin rule)
 *   acme-json.c  (pure parsers and checks)
 * This header also brings acme-order.h and acme-ari.h, so that a caller of the client includes one. */

typedef struct AcmeSession AcmeSession;

/* Open a session: fetch the directory, load or create the account key (0600 under the state directory)
 * and look up or register the account (EAB when configured). Returns 0 or -errno (logged, naming the
 * [acme] section and, for ACME problem documents, their type and detail verbatim). */
int acme_session_new(const Inventory *inv, const AcmeConfig *a, AcmeSession **ret);
/* The same without the account: the directory only (no key made, nothing registered), for `acme profiles`. */
int acme_session_new_directory(const Inventory *inv, const AcmeConfig *a, AcmeSession **ret);
AcmeSession *acme_session_free(AcmeSession *s);

/* Without network: the account URL saved for `a`'s directory under STATE/acme/NAME/ (NULL: none yet) and the
 * dns-persist-01 issuer domain (persist-issuer, else the one the CA named in its last challenge; NULL:
 * unknown). Returns 0 or -ENOMEM. */
int acme_saved_state(const Inventory *inv, const AcmeConfig *a, char **ret_account,
                     char **ret_persist_issuer);

/* Revoke the certificate `cert_pem` (RFC 8555 §7.6) with `reason` (RFC 5280 CRLReason code, 0 default). */
int acme_revoke(AcmeSession *s, const gnutls_datum_t *cert_pem, int reason);
/* RFC 5280 CRLReason keyCompromise. */
#define ACME_REASON_KEY_COMPROMISE 1
/* `revoke NAME`: revoke set c's installed certificate at its ACME server with `reason`; for keyCompromise
 * its key also joins the compromised-keys list, so that no set and no `ca sign` certifies it again.
 * Returns 0 or -errno (logged). */
int acme_revoke_installed(const Inventory *inv, const CertConfig *c, int reason, usec_t now);

/* Cancel everything the session does, from any thread (it only sets an atomic flag, so a signal handler
 * may call it too): waits (polling, backoff, Retry-After) and transfers in flight end within about
 * 100 ms with -ECANCELED, and so does every later request, so that acme_issue() and friends return
 * promptly (the order in flight stays persisted and is resumed by the next session). Meant for SIGTERM:
 * the daemon calls it for each session of the batch it is stopping. The session must still be freed. */
void acme_session_cancel(AcmeSession *s);
/* acme_session_cancel() for every session of the process, present and future: for the daemon's SIGTERM,
 * whose sessions live in the renewal batch on a worker thread. Async-signal-safe; cannot be undone. */
void acme_cancel_all(void);
/* An absolute CLOCK_MONOTONIC deadline for everything the session does (0: none): past it, waits and
 * transfers end with -ETIMEDOUT. Each order has its own deadline besides (ACME_ORDER_DEADLINE). */
void acme_session_set_deadline(AcmeSession *s, usec_t deadline);

DEFINE_TRIVIAL_CLEANUP_FUNC(AcmeSession *, acme_session_free)
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

/* ---- for the protocol modules above (acme-order.c, acme-ari.c) ---- */

const AcmeConfig *acme_session_config(const AcmeSession *s) _pure_;
const AcmeDirectory *acme_session_directory(const AcmeSession *s) _pure_;
const Inventory *acme_session_inventory(const AcmeSession *s) _pure_;
/* The session's transport (for unsigned GETs, waits and the cancel flag). */
AcmeHttp *acme_session_http(const AcmeSession *s) _pure_;
/* A copy of the account URL, or NULL (OOM, no account yet). */
char *acme_session_account_dup(AcmeSession *s);
/* The challenger of this session, made on first use. */
int acme_session_challenger(AcmeSession *s, Challenger **ret);
/* token.thumbprint (RFC 8555 §8.1). */
int acme_session_key_authorization(AcmeSession *s, const char *token, char **ret);

/* Files of the session under STATE/acme/NAME/: `rel` such as "orders/www.json". Write: atomically,
 * 0600, parents made. Returns 0 or -errno (not logged). */
int acme_session_write_state(AcmeSession *s, const char *rel, const char *text);
/* acme_session_write_state() of `j` as compact JSON; `j` is taken (NULL: -ENOMEM, from a failed pack). */
int acme_session_write_json(AcmeSession *s, const char *rel, json_t *j);
int acme_session_read_state(AcmeSession *s, const char *rel, size_t max, char **ret, size_t *ret_size);
int acme_session_state_path(const AcmeSession *s, const char *rel, char **ret);

typedef enum AcmePostFlags {
        ACME_POST_JWK = 1 << 0,           /* sign with the JWK instead of the account URL (newAccount) */
        ACME_POST_PEM = 1 << 1,           /* Accept: application/pem-certificate-chain */
        ACME_POST_NO_REREGISTER = 1 << 2, /* accountDoesNotExist is an answer, not a reason to re-register */
} AcmePostFlags;

/* Unsigned GET (directory, renewalInfo) and signed POST (RFC 8555 §6.2, POST-as-GET when payload is
 * NULL), each retried with exponential backoff (initial-backoff, doubling) on transport errors, 5xx and
 * 429 with a Retry-After that fits, until max-retry-duration. badNonce is retried with the nonce of the
 * error; accountDoesNotExist registers again once. Returns 0 for a 2xx response, else -errno:
 * -ETIMEDOUT/-ECONNREFUSED/-EHOSTUNREACH/-EIO for transport failures, -ENOENT for 404, -EACCES for
 * 401/403, -EBUSY for 429, -EPROTO for other answers, -EXDEV for a URL off the directory's origin,
 * -ECANCELED after acme_session_cancel(); *ret holds what came back either way (for acme_log_failure).
 * Nothing is logged. */
int acme_get(AcmeSession *s, const char *url, AcmeResponse *ret);
int acme_post(AcmeSession *s, const char *url, const char *payload, AcmePostFlags flags, AcmeResponse *ret);

/* Log "[acme "NAME"] what: URL: HTTP 403 urn:…:unauthorized: detail" (the problem verbatim) or the
 * transport error, and return r. */
int acme_log_failure(AcmeSession *s, int r, const AcmeResponse *resp, const char *url, const char *what);

#include "acme-ari.h"   /* IWYU pragma: export */
#include "acme-order.h" /* IWYU pragma: export */
