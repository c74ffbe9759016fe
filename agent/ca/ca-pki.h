/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "config.h"
#include "time-util.h"

/* The internal CA as a PKI: intermediates and their chain, a CA whose signer is
 * offline (a request out, the certificate back in), signing requests made elsewhere, and rotating a CA
 * with an overlap. The crypto is ca.c's; this module handles the CA files around it. */

/* The previous generation of a rotated CA lives beside the current one: CERT.prev and KEY.prev. */
#define CA_PREVIOUS_SUFFIX ".prev"

/* What a leaf of `ca` is installed with and must chain to: *ret_chain the PEM of the CA certificates from
 * `ca` up to, not including, a self-signed root (empty for a root: the leaf alone); *ret_anchor the PEM of
 * that root (a CA without one at hand, e.g. an imported intermediate whose root lives elsewhere, is its
 * own anchor). Follows `parent` and the certificates after the first in each CA file. Returns 0 or
 * -errno (logged). */
int ca_chain(const Inventory *inv, const CaConfig *ca, gnutls_datum_t *ret_chain,
             gnutls_datum_t *ret_anchor);

/* What the leaves of `ca` are checked against when their set names no `ca =` (as issue = self trusts its
 * own certificate): the anchor ca_chain() finds, with the previous generation during a rotation. PEM,
 * gnutls-allocated. Returns 0 or -errno (not logged: a CA not made yet is the CA row's problem). */
int ca_trust_bundle(const Inventory *inv, const CaConfig *ca, gnutls_datum_t *ret);

/* Each name against the permitted-names of `ca` and of every CA above it: -EPERM (logged, naming the name
 * and the CA) for the first name outside, 0 when all may be issued. `who` prefixes the message. */
int ca_names_check(const Inventory *inv, const CaConfig *ca, char *const *names, const char *who);

/* Write the CA's certificate, and during a rotation's overlap the previous generation after it, to every
 * `export` path (atomically). Returns 0 or -errno (logged). */
int ca_export_bundle(const CaConfig *ca, usec_t now);

/* `ca init NAME --csr`: keep (or make) the CA's key and write a request for it to `out` ("-": stdout;
 * NULL: CERT.csr). Refuses when the certificate exists. Returns 0 or -errno (logged). */
int ca_init_csr(const Inventory *inv, const CaConfig *ca, const char *out, usec_t now);

/* `ca import NAME FILE`: install the signed CA certificate (optionally followed by its chain): it must be
 * a CA certificate of the CA's key, valid now, signed by the parent when one is configured. Refuses to
 * replace another installed certificate. Exports. Returns 0 or -errno (logged). */
int ca_import(const Inventory *inv, const CaConfig *ca, const char *path, usec_t now);

/* `ca rotate NAME`: keep the current key and certificate as KEY.prev and CERT.prev, make a new key and
 * certificate (signed by the parent for an intermediate), export both generations, and record the time
 * (ca-rotate.h): the leaves move after rotate-overlap, or at once with reissue_now. Refused while an
 * earlier previous generation may still have leaves (see ca_previous_until) and its rotation is not
 * finished. Returns 0 or -errno (logged). */
int ca_rotate(const Inventory *inv, const CaConfig *ca, usec_t now, bool reissue_now);

/* Until when the previous generation of `ca` (CERT.prev) may still have valid leaves: the earlier of its
 * own expiry and the rotation time plus the leaves' validity. The old CA keeps signing CRLs until then.
 * Returns 1 and *ret_until, 0 when there is no previous generation, -errno. */
int ca_previous_until(const CaConfig *ca, usec_t *ret_until);

/* The previous generation's certificate and key (for CRLs of the leaves it issued). 0, -ENOENT, -errno. */
int ca_load_previous(const CaConfig *ca, gnutls_x509_crt_t *ret_crt, gnutls_x509_privkey_t *ret_key);

/* `ca sign CA CSR` (ca-sign.c): sign a request made elsewhere. */
typedef struct CaSignRequest {
        const char *csr_path;
        Usage usage;
        usec_t validity;     /* 0: the CA's */
        const char *out;     /* NULL or "-": standard output */
        const char *subject; /* --subject: the subject to write; NULL: CN = the first DNS name or IP */
        bool keep_subject; /* --keep-subject: the request's, each attribute checked against permitted-names */
} CaSignRequest;

/* Its SANs (DNS, IP, URI, email) must lie within the permitted-names of the CA and those above; the
 * subject is certherd's (req->subject, else CN = the first DNS name or IP), the request's only with
 * keep_subject, each attribute checked (a CN as a DNS name or IP, for a client certificate also as a
 * plain identity without a dot; other attributes only under a CA without permitted-names); a client
 * request without SANs keeps its CN alone. A key in the compromised-keys list is refused. The signed subject and names are
 * logged (standard error) before the leaf and the chain (PEM) go to req->out. Returns 0 or -errno
 * (logged). */
int ca_sign(const Inventory *inv, const CaConfig *ca, const CaSignRequest *req, usec_t now);

/* The issued-certificate index (ca-index.c): called for every leaf this module signs outside a
 * certificate set (`ca sign`; set_name NULL), recorded there so that it can be listed and revoked. */
void ca_index_record_hook(const Inventory *inv, const CaConfig *ca, gnutls_x509_crt_t leaf,
                          const char *set_name);
