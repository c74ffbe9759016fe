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
