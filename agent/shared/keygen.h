/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "config.h"

/* Private keys and certificate requests through GnuTLS. No file I/O: callers install what this makes. */

/* A fresh key of type t (ec-p256, ec-p384, rsa-2048/3072/4096, ed25519). Returns 0 or -errno. */
int keygen_generate(KeyType t, gnutls_x509_privkey_t *ret);

/* The GnuTLS algorithm and bits (modulus size, or GNUTLS_CURVE_TO_BITS(curve)) of key type t, for
 * generating it elsewhere (in a token). Returns 0 or -EINVAL. */
int keygen_type_params(KeyType t, gnutls_pk_algorithm_t *ret_pk, unsigned *ret_bits);

/* Whether `key` is of type t (algorithm, curve, modulus size): the key-policy = reuse test. */
bool keygen_key_is_type(gnutls_x509_privkey_t key, KeyType t);

/* The key as unencrypted PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"), gnutls-allocated. */
int keygen_export_pem(gnutls_x509_privkey_t key, gnutls_datum_t *ret);

/* The key as it is written to disk: with a password, encrypted PKCS#8 PEM ("-----BEGIN ENCRYPTED PRIVATE
 * KEY-----": PBES2, AES-256-CBC, PBKDF2-HMAC-SHA256 with GnuTLS's iteration count, 600000 in 3.7.9 —
 * what OpenSSL 3 and Python's ssl read with the same password); without one, keygen_export_pem. */
int keygen_export_key(gnutls_x509_privkey_t key, const char *password, gnutls_datum_t *ret);

/* A PKCS#10 request (DER) signed by `key` for `names` (DNS names and IP addresses as SANs, CN = the
 * first name), as ACME's finalize wants it. Returns 0, -EINVAL (no names / a bad name), -errno. */
int keygen_csr(gnutls_x509_privkey_t key, char *const *names, gnutls_datum_t *ret_der);
/* The same signed by any key (one in a PKCS#11 token too). */
int keygen_csr_privkey(gnutls_privkey_t key, char *const *names, gnutls_datum_t *ret_der);

/* The subjectAltName extension (DER) for `names`: an IP literal (inet_pton) becomes an iPAddress, anything
 * else must be a DNS name, "uri:URI" a uniformResourceIdentifier, "email:ADDRESS" an rfc822Name (labels of [A-Za-z0-9-], 1..63 bytes, no hyphen at either end, at most 253 in
 * all, an optional leading "*.", the last label not all digits). Shared with ca.c so that a CSR and an
 * issued certificate accept the same names. Returns 0, -EINVAL (no names / a bad name), -ENOMEM. */
int keygen_san_ext(char *const *names, gnutls_datum_t *ret_der);

/* The subject of a certificate (crt) or request (crq; exactly one of the two): `subject` in the inventory's
 * syntax (config_subject_split), or when NULL CN = the first DNS name or IP of `names` that fits in a CN.
 * Returns 1 when a subject was set, 0 when it stays empty (then the SAN extension must be critical),
 * -EINVAL, -errno. */
int keygen_set_subject(gnutls_x509_crt_t crt, gnutls_x509_crq_t crq, const char *subject,
                       char *const *names);

/* The longest common name X.520 allows (ub-common-name); a longer first name goes into the SANs only. */
#define KEYGEN_CN_MAX 64
