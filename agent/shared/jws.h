/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "macro.h"

/* JSON Web Signatures as ACME uses them (RFC 7515, RFC 7518, RFC 7638, RFC 8555 §6.2): flattened JSON
 * serialisation, ES256 (P-256) or RS256 account keys, HS256 for External Account Binding. Pure: no I/O. */

typedef enum JwsAlg {
        JWS_ALG_ES256,
        JWS_ALG_RS256,
        _JWS_ALG_MAX,
        _JWS_ALG_INVALID = -22,
} JwsAlg;

const char *jws_alg_to_string(JwsAlg a) _pure_;

/* base64url without padding (RFC 7515 §2). Returns 0 or -ENOMEM; decoding returns -EINVAL on bad input
 * (padding is accepted but not required). The result is NUL-terminated. */
int jws_base64url_encode(const void *data, size_t size, char **ret);
int jws_base64url_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_size);
/* The SHA-256 of the string s, base64url-encoded: a JWK thumbprint (RFC 7638), a dns-01 TXT value (RFC 8555
 * §8.4). Returns 0 or -errno. */
int jws_sha256_base64url(const char *s, char **ret);

/* An account key ready to sign: its algorithm, its public JWK and RFC 7638 thumbprint, computed once.
 * Signing is serialised inside (a GnuTLS key is not documented as safe for concurrent use). */
typedef struct JwsKey JwsKey;

/* From a P-256 key (ES256) or an RSA key of at least 2048 bits (RS256); -EOPNOTSUPP for anything else.
 * The key is copied. */
int jws_key_new(gnutls_x509_privkey_t key, JwsKey **ret);
/* The same for any signing key — one in a PKCS#11 token too (signatures through gnutls_privkey_sign_data2,
 * the JWK from its public key). Takes ownership of `key`, also on failure. */
int jws_key_new_privkey(gnutls_privkey_t key, JwsKey **ret);
JwsKey *jws_key_free(JwsKey *k);
DEFINE_TRIVIAL_CLEANUP_FUNC(JwsKey *, jws_key_free)
#define _cleanup_jws_key_ _cleanup_(jws_key_freep)

JwsAlg jws_key_alg(const JwsKey *k) _pure_;
/* The public JWK with only its required members in lexicographic order: {"crv","kty","x","y"} or
 * {"e","kty","n"}. This exact text is what the thumbprint hashes. */
const char *jws_key_jwk(const JwsKey *k) _pure_;
/* base64url(SHA-256(jwk)), RFC 7638. */
const char *jws_key_thumbprint(const JwsKey *k) _pure_;

/* RFC 7638 thumbprint of any EC or RSA JWK given as JSON text (members in any order, extra members
 * ignored). Returns 0, -EINVAL (not a JWK of a known kty), -ENOMEM. */
int jws_jwk_thumbprint(const char *jwk_json, char **ret);

/* A flattened JWS (RFC 8555 §6.2) signed by k: protected header {alg, kid | jwk, nonce, url}. kid NULL:
 * the JWK goes in instead (newAccount, revocation by certificate key, the inner key-change JWS). nonce
 * NULL: no nonce member (the inner key-change JWS). payload NULL: the empty payload of a POST-as-GET.
 * *ret: the JSON text. Returns 0 or -errno. */
int jws_sign(JwsKey *k, const char *kid, const char *nonce, const char *url, const char *payload,
             char **ret);

/* base64url(HMAC-SHA256(key, input)): the HS256 signature over a JWS signing input. */
int jws_hs256(const uint8_t *key, size_t key_size, const char *input, char **ret);

/* The External Account Binding JWS of RFC 8555 §7.3.4: {alg: HS256, kid: eab_kid, url}, payload the
 * account's JWK, MACed with hmac_key. *ret: JSON text. */
int jws_eab(const JwsKey *account, const char *eab_kid, const uint8_t *hmac_key, size_t hmac_key_size,
            const char *url, char **ret);
