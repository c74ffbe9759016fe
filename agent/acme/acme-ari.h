/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* ACME Renewal Information (RFC 9773) on top of an AcmeSession (acme.h): the certificate id, the
 * renewalInfo document, the random point in the suggested window kept under STATE/acme/NAME/ari/, and
 * AcmeAriSet, which asks for many certificates across the [acme] sections of an inventory. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "macro.h"
#include "time-util.h"

typedef struct AcmeSession AcmeSession;

/* Ask again at least this often, whatever the server's Retry-After says: windows move (an incident, a
 * mass revocation), and certificates that live 6 days leave no time for a server's long Retry-After
 * (at least twice a day). Without a Retry-After: 6 h, as RFC 9773 §4.3 suggests. */
#define ACME_ARI_RETRY_MAX (12 * USEC_PER_HOUR)
#define ACME_ARI_RETRY_DEFAULT (6 * USEC_PER_HOUR)

/* Whether the directory offers renewalInfo. */
bool acme_session_has_ari(const AcmeSession *s);

/* The ARI certificate identifier base64url(AKI keyIdentifier).base64url(serial) of the first certificate
 * in `data` (PEM or DER). Returns 0, -ENODATA (no AKI), -errno. */
int acme_ari_cert_id(const uint8_t *data, size_t size, char **ret);
/* The renewalInfo URL of cert_id under the directory's renewalInfo `base`. Pure. Returns 0, -EINVAL
 * (base empty), -ENOMEM. */
int acme_ari_url(const char *base, const char *cert_id, char **ret);
/* renewalInfo (RFC 9773 §4.2): the suggested window. Pure. Returns 0 or -EBADMSG (end before start
 * too). */
int acme_parse_renewal_info(const char *body, size_t size, usec_t *ret_start, usec_t *ret_end);
/* When to ask again: the server's Retry-After (has_retry_after) capped at ACME_ARI_RETRY_MAX, else
 * ACME_ARI_RETRY_DEFAULT. Pure. */
usec_t acme_ari_retry_after(bool has_retry_after, usec_t retry_after);

/* Fetch the suggested window for cert_id; *ret_retry_after: when to ask again (acme_ari_retry_after).
 * Returns 0, -EOPNOTSUPP (no ARI), -errno (logged). */
int acme_renewal_info(AcmeSession *s, const char *cert_id, usec_t *ret_start, usec_t *ret_end,
                      usec_t *ret_retry_after);
/* A uniformly random point of [start, end) (RFC 9773 §4.2), from `random`. Pure. */
usec_t acme_ari_pick(usec_t start, usec_t end, uint64_t random);

typedef struct AcmeAriDecision {
        usec_t start, end; /* the suggested window */
        usec_t when; /* the point picked in it (kept under STATE/acme/NAME/ari/ until the window moves) */
        usec_t retry_after; /* ask again this much later (at most ACME_ARI_RETRY_MAX) */
        bool due;           /* now >= when */
        char *id;           /* the ARI id, for `replaces` (malloc'd) */
} AcmeAriDecision;

/* For the certificate installed at c->certificate: fetch its window, pick the point to renew at, and
 * say whether `now` is past it. Returns 0, -EOPNOTSUPP (no ARI at this server), -ENODATA (the
 * certificate has no AKI), -errno. */
int acme_ari_due(AcmeSession *s, const CertConfig *c, usec_t now, AcmeAriDecision *ret);

/* ARI for many certificates: one session per [acme] section of `inv`, opened on first use (a section
 * that fails to open is not tried again by this set). */
typedef struct AcmeAriSet AcmeAriSet;

/* Returns NULL only when out of memory. */
AcmeAriSet *acme_ari_set_new(const Inventory *inv);
AcmeAriSet *acme_ari_set_free(AcmeAriSet *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(AcmeAriSet *, acme_ari_set_free)
/* Whether the ACME server of c (an ACME set) suggests renewing c now, and in *ret_next when to ask again
 * (now + the response's Retry-After, capped at ACME_ARI_RETRY_MAX; ACME_ARI_RETRY_DEFAULT without an
 * answer). false when c is not an ACME set, its server has no ARI (silently: the plain schedule), the
 * certificate has no AKI, or asking failed (logged as a warning): ARI only ever brings a renewal
 * forward, so "no answer" means "go by the lifetime". A NULL set: false. */
bool acme_ari_set_ask(AcmeAriSet *a, const CertConfig *c, usec_t now, usec_t *ret_next);
