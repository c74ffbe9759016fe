/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* One certificate through an ACME order (RFC 8555 §7.4), on top of an AcmeSession (acme.h). */

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "config.h"
#include "time-util.h"

typedef struct AcmeSession AcmeSession;

/* An order may take this long in all (authorizations validated, certificate issued) before this run gives
 * up on it; it stays persisted and the next run resumes it. */
#define ACME_ORDER_DEADLINE (300 * USEC_PER_SEC)
/* Polling an order or authorization that is pending, ready or processing: the server's Retry-After
 * (within [ACME_POLL_WAIT_MIN, ACME_POLL_WAIT_MAX]), else once at once (a fast server is often done by
 * then), then a wait doubling from ACME_POLL_STEP up to ACME_POLL_WAIT_MAX: never a busy loop, whatever
 * the server answers. */
#define ACME_POLL_STEP (50 * USEC_PER_SEC / 1000)
#define ACME_POLL_WAIT_MIN (50 * USEC_PER_SEC / 1000)
#define ACME_POLL_WAIT_MAX (10 * USEC_PER_SEC)
/* A challenge the server failed to validate but keeps "pending" (RFC 8555 §8.2: the client may ask again)
 * is answered again this many times, after ACME_CHALLENGE_RETRY_FIRST, then twice that, …; then the
 * order fails with the server's error. */
#define ACME_CHALLENGE_RETRIES 3U
#define ACME_CHALLENGE_RETRY_FIRST (1 * USEC_PER_SEC)

/* Order, authorize (the section's challenge type), finalize with a CSR for `key`, download the chain
 * (the preferred one when configured). *ret_chain_pem: leaf followed by its chain, PEM, gnutls-allocated.
 * An order in flight is persisted under the state directory and resumed by the next call for `c`.
 * `replaces`: the ARI certificate id of the certificate being replaced, or NULL. Authorizations for
 * identifiers that are not among c->names, or not DNS names / IP addresses at all, are refused
 * (-EBADMSG) before anything uses them. Returns 0 or -errno (logged): -ETIMEDOUT once the order took
 * ACME_ORDER_DEADLINE, -ECANCELED after acme_session_cancel(). */
int acme_issue(AcmeSession *s, const CertConfig *c, gnutls_privkey_t key, const char *replaces,
               gnutls_datum_t *ret_chain_pem);
