/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "config.h"
#include "time-util.h"

/* The internal CA: making its root, issuing server/client leaves, and self-signed certificates, as
 * crypto over GnuTLS objects; and the CA's own files: loading them (ca_load_files) and `ca init`. */

typedef struct IssueRequest {
        char *const
                *names; /* DNS names, IP addresses, uri:URI, email:ADDRESS; NULL-terminated, at least one */
        const char *subject; /* the inventory's subject syntax; NULL: CN = the first DNS name or IP */
        Usage usage;         /* EKU serverAuth / clientAuth / both */
        usec_t validity;     /* lifetime asked for */
        usec_t now;          /* not_before is now minus a small backdate for clock skew */
} IssueRequest;

/* A self-signed CA certificate for `key`: basicConstraints CA:true (critical), keyUsage keyCertSign +
 * cRLSign (critical), subject key id, CN = common_name, random positive serial of at least 64 bits. */
int ca_make_root(gnutls_x509_privkey_t key, const char *common_name, usec_t validity, usec_t now,
                 gnutls_x509_crt_t *ret);
/* The same for any signing key, a PKCS#11 token's too (token.h). */
int ca_make_root_privkey(gnutls_privkey_t key, const char *common_name, usec_t validity, usec_t now,
                         gnutls_x509_crt_t *ret);

/* What a CA certificate (root or intermediate) is made of. */
typedef struct CaParams {
        const char *common_name;
        const char *subject; /* [ca] subject in the inventory's DN syntax; NULL: CN = common_name */
        usec_t validity;
        usec_t now;
        int path_length;        /* basicConstraints pathLenConstraint; -1: unlimited */
        char *const *permitted; /* permitted-names (nameConstraints, critical); NULL: none */
} CaParams;

/* A CA certificate for `key`: self-signed when parent is NULL, else signed by parent/parent_key (never
 * outliving it; authority key id = the parent's subject key id). basicConstraints CA:TRUE with
 * path_length (critical), keyUsage keyCertSign + cRLSign (critical), subject key id, nameConstraints.
 * Both keys are abstract: either may be in a PKCS#11 token. */
int ca_make_ca(gnutls_privkey_t key, const CaParams *p, gnutls_x509_crt_t parent,
               gnutls_privkey_t parent_key, gnutls_x509_crt_t *ret);

/* The request (PEM) of a CA whose signer is elsewhere (an offline root): CN, and as requested extensions
 * basicConstraints, keyUsage and nameConstraints as ca_make_ca would set them; signed through the
 * abstract key. */
int ca_make_csr(gnutls_privkey_t key, const CaParams *p, gnutls_datum_t *ret_pem);

/* 0 when crt is a CA certificate (basicConstraints CA:TRUE) of `key`, else -EINVAL. */
int ca_cert_matches_key(gnutls_x509_crt_t crt, gnutls_privkey_t key);

/* A leaf for `leaf_key` signed by the CA: SANs from names, CN = first name, EKU from usage, keyUsage
 * right for the key type (digitalSignature, plus keyEncipherment for RSA), basicConstraints CA:false,
 * authority and subject key ids, random serial ≥ 64 bits; not_after never beyond the CA's own.
 * Returns 0, -EINVAL (bad request, e.g. a name that is neither a DNS name nor an IP; CA expired), -EPERM (a
 * name outside the CA certificate's nameConstraints), -errno. */
int ca_issue(gnutls_x509_crt_t ca_crt, gnutls_x509_privkey_t ca_key, gnutls_x509_privkey_t leaf_key,
             const IssueRequest *req, gnutls_x509_crt_t *ret);
/* The same with the CA's key as any signing key (in a token too) and the leaf's public key alone (also
 * `ca sign`: a request made elsewhere). */
int ca_issue_pubkey(gnutls_x509_crt_t ca_crt, gnutls_privkey_t ca_key, gnutls_pubkey_t leaf_key,
                    const IssueRequest *req, gnutls_x509_crt_t *ret);

/* A self-signed end-entity certificate for the names, its own trust anchor: basicConstraints CA:false
 * (critical), keyUsage digitalSignature (+ keyEncipherment for RSA; never keyCertSign), EKU from usage,
 * SANs, subject key id. */
int ca_self_sign(gnutls_x509_privkey_t key, const IssueRequest *req, gnutls_x509_crt_t *ret);
int ca_self_sign_privkey(gnutls_privkey_t key, const IssueRequest *req, gnutls_x509_crt_t *ret);

/* PEM of one certificate, gnutls-allocated. */
int ca_export_pem(gnutls_x509_crt_t crt, gnutls_datum_t *ret);

/* The CA's certificate (first in its file) and key from its files, and the certificate file's PEM (the
 * anchor a leaf it issues must chain to). Returns 0 or -errno (logged, naming the file). */
int ca_load_files(const CaConfig *ca, gnutls_x509_crt_t *ret_crt, gnutls_x509_privkey_t *ret_key,
                  gnutls_datum_t *ret_pem);

/* Like ca_load_files, with the key as a signing key: a file's, or the token object `key = pkcs11:…`
 * names (PIN from pin-source= or pkcs11-pin-file). Returns 0 or -errno (logged). */
int ca_load_signer(const CaConfig *ca, gnutls_x509_crt_t *ret_crt, gnutls_privkey_t *ret_key,
                   gnutls_datum_t *ret_pem);

/* The CA's key alone as a signing key (file or token), for a CA whose certificate is not there yet
 * (`ca import`). Returns 0 or -errno (logged). */
int ca_load_key(const CaConfig *ca, gnutls_privkey_t *ret);

/* The pathLenConstraint of `ca`: path-length when set, else room for the [ca] sections below it
 * (parent = ca) in the inventory: 0 for a CA that signs leaves only. */
int ca_path_length(const Inventory *inv, const CaConfig *ca);

/* "certherd NAME CA" (malloc'd), the CN of the CAs made here without a [ca] subject. Returns 0 or -ENOMEM
 * (logged). */
int ca_common_name(const CaConfig *ca, char **ret);

/* `certherd ca init NAME`: create the CA's key and self-signed certificate unless either exists, then
 * copy the certificate to every `export` path. An intermediate (parent =) is signed by its parent, whose
 * certificate and key must be readable. Path length and name constraints as configured. Returns 0, -EEXIST, or -errno (logged). */
int ca_init(const Inventory *inv, const CaConfig *ca, usec_t now);

/* For other signers of this CA (CRLs): the digest that goes with the CA's key, and its key id
 * as an authority key identifier (subject key id, else the SHA-1 key id over its public key). */
gnutls_digest_algorithm_t ca_sign_digest(gnutls_privkey_t key);
int ca_authority_key_id(gnutls_x509_crt_t ca_crt, uint8_t *id, size_t *size);
