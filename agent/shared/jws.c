/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <jansson.h>

#include "gnutls-util.h"
#include "jws.h"

struct JwsKey {
        pthread_mutex_t lock; /* around signing */
        gnutls_privkey_t key;
        JwsAlg alg;
        char *jwk;
        char *thumbprint;
};

static const char *const jws_alg_table[_JWS_ALG_MAX] = {
        [JWS_ALG_ES256] = "ES256",
        [JWS_ALG_RS256] = "RS256",
};

DEFINE_STRING_TABLE_TO_STRING(jws_alg, JwsAlg, jws_alg_table, _JWS_ALG_MAX)

/* GnuTLS does the base64; RFC 4648 §5 only swaps two letters and drops the padding (and GnuTLS may
 * break long lines, which go too). */
int jws_base64url_encode(const void *data, size_t size, char **ret) {
        _cleanup_datum_ gnutls_datum_t out = {};
        gnutls_datum_t in = { .data = (unsigned char *) data, .size = (unsigned) size };
        char *s;
        size_t j = 0;
        int r;

        if (size == 0)
                return (*ret = strdup("")) ? 0 : -ENOMEM;
        r = gnutls_base64_encode2(&in, &out);
        if (r < 0)
                return errno_from_gnutls(r);
        s = malloc(out.size + 1);
        if (!s)
                return -ENOMEM;
        for (unsigned i = 0; i < out.size; i++) {
                char c = (char) out.data[i];

                if (c == '=' || c == '\n' || c == '\r' || c == 0)
                        continue;
                s[j++] = c == '+' ? '-' : c == '/' ? '_' : c;
        }
        s[j] = 0;
        *ret = s;
        return 0;
}

int jws_base64url_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_size) {
        _cleanup_datum_ gnutls_datum_t out = {};
        _cleanup_free_ char *t = NULL;
        gnutls_datum_t in;
        size_t n = 0;
        uint8_t *p;
        int r;

        while (len > 0 && s[len - 1] == '=')
                len--;
        if (len % 4 == 1)
                return -EINVAL;
        t = malloc(len + 4);
        if (!t)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];

                if (c == '+' || c == '/' ||
                    !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_'))
                        return -EINVAL;
                t[n++] = c == '-' ? '+' : c == '_' ? '/' : c;
        }
        while (n % 4 != 0)
                t[n++] = '=';
        if (n == 0) {
                p = malloc(1);
                if (!p)
                        return -ENOMEM;
                *p = 0;
                *ret = p;
                *ret_size = 0;
                return 0;
        }
        in = (gnutls_datum_t){ .data = (unsigned char *) t, .size = (unsigned) n };
        r = gnutls_base64_decode2(&in, &out);
        if (r < 0)
                return r == GNUTLS_E_MEMORY_ERROR ? -ENOMEM : -EINVAL;
        p = malloc(out.size + 1);
        if (!p)
                return -ENOMEM;
        memcpy(p, out.data, out.size);
        p[out.size] = 0;
        *ret = p;
        *ret_size = out.size;
        return 0;
}

static int b64u_datum(const gnutls_datum_t *d, char **ret) {
        return jws_base64url_encode(d->data, d->size, ret);
}

/* A coordinate left-padded to the curve's size (RFC 7518 §6.2.1.2: "the full size"). */
static int b64u_padded(const gnutls_datum_t *d, size_t size, char **ret) {
        uint8_t buf[66] = {};

        if (d->size > size || size > sizeof(buf))
                return -EINVAL;
        memcpy(buf + size - d->size, d->data, d->size);
        return jws_base64url_encode(buf, size, ret);
}

int jws_sha256_base64url(const char *s, char **ret) {
        uint8_t digest[32];
        int r;

        r = gnutls_hash_fast(GNUTLS_DIG_SHA256, s, strlen(s), digest);
        if (r < 0)
                return errno_from_gnutls(r);
        return jws_base64url_encode(digest, sizeof(digest), ret);
}

/* The JWK from the public half: a key in a PKCS#11 token exports its public key, never its private one. */
static int make_jwk(gnutls_privkey_t key, JwsAlg *ret_alg, char **ret_jwk) {
        _cleanup_pubkey_ gnutls_pubkey_t pub = NULL;
        _cleanup_datum_ gnutls_datum_t a = {}, b = {};
        _cleanup_free_ char *sa = NULL, *sb = NULL;
        gnutls_ecc_curve_t curve;
        unsigned bits = 0;
        int pk, r;

        r = pubkey_from_privkey(key, &pub);
        if (r < 0)
                return errno_from_gnutls(r);
        pk = gnutls_pubkey_get_pk_algorithm(pub, &bits);
        if (pk == GNUTLS_PK_ECDSA) {
                r = gnutls_pubkey_export_ecc_raw2(pub, &curve, &a, &b, GNUTLS_EXPORT_FLAG_NO_LZ);
                if (r < 0)
                        return errno_from_gnutls(r);
                if (curve != GNUTLS_ECC_CURVE_SECP256R1)
                        return -EOPNOTSUPP;
                if ((r = b64u_padded(&a, 32, &sa)) < 0 || (r = b64u_padded(&b, 32, &sb)) < 0)
                        return r;
                *ret_alg = JWS_ALG_ES256;
                return asprintf(ret_jwk, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", sa,
                                sb) < 0
                               ? -ENOMEM
                               : 0;
        }
        if (pk == GNUTLS_PK_RSA) {
                if (bits < 2048)
                        return -EOPNOTSUPP;
                r = gnutls_pubkey_export_rsa_raw2(pub, &a, &b, GNUTLS_EXPORT_FLAG_NO_LZ);
                if (r < 0)
                        return errno_from_gnutls(r);
                if ((r = b64u_datum(&a, &sa)) < 0 || (r = b64u_datum(&b, &sb)) < 0)
                        return r;
                *ret_alg = JWS_ALG_RS256;
                return asprintf(ret_jwk, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", sb, sa) < 0 ? -ENOMEM
                                                                                                    : 0;
        }
        return -EOPNOTSUPP;
}

int jws_key_new_privkey(gnutls_privkey_t key, JwsKey **ret) {
        _cleanup_jws_key_ JwsKey *k = NULL;
        int r;

        if (!key)
                return -EINVAL;
        k = calloc(1, sizeof(*k));
        if (!k) {
                gnutls_privkey_deinit(key);
                return -ENOMEM;
        }
        pthread_mutex_init(&k->lock, NULL);
        k->key = key; /* owned by k from here on, whatever happens */
        r = make_jwk(k->key, &k->alg, &k->jwk);
        if (r < 0)
                return r;
        r = jws_sha256_base64url(k->jwk, &k->thumbprint);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(k);
        return 0;
}

int jws_key_new(gnutls_x509_privkey_t x509_key, JwsKey **ret) {
        _cleanup_x509_privkey_ gnutls_x509_privkey_t copy = NULL;
        gnutls_privkey_t key = NULL;
        int r;

        if (gnutls_x509_privkey_init(&copy) < 0)
                return -ENOMEM;
        r = gnutls_x509_privkey_cpy(copy, x509_key);
        if (r < 0)
                return errno_from_gnutls(r);
        if (gnutls_privkey_init(&key) < 0)
                return -ENOMEM;
        r = gnutls_privkey_import_x509(key, copy, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE);
        if (r < 0) {
                gnutls_privkey_deinit(key);
                return errno_from_gnutls(r);
        }
        copy = NULL; /* owned by key now */
        return jws_key_new_privkey(key, ret);
}

JwsKey *jws_key_free(JwsKey *k) {
        if (!k)
                return NULL;
        if (k->key)
                gnutls_privkey_deinit(k->key);
        pthread_mutex_destroy(&k->lock);
        free(k->jwk);
        free(k->thumbprint);
        free(k);
        return NULL;
}

JwsAlg jws_key_alg(const JwsKey *k) {
        return k->alg;
}

const char *jws_key_jwk(const JwsKey *k) {
        return k->jwk;
}

const char *jws_key_thumbprint(const JwsKey *k) {
        return k->thumbprint;
}

int jws_jwk_thumbprint(const char *jwk_json, char **ret) {
        json_t *jwk = json_loads(jwk_json, 0, NULL);
        const char *kty, *m[3] = {};
        _cleanup_free_ char *canonical = NULL;
        int r = -EINVAL;

        if (!jwk || !json_is_object(jwk))
                goto out;
        kty = json_string_value(json_object_get(jwk, "kty"));
        if (kty && strcmp(kty, "EC") == 0) {
                m[0] = json_string_value(json_object_get(jwk, "crv"));
                m[1] = json_string_value(json_object_get(jwk, "x"));
                m[2] = json_string_value(json_object_get(jwk, "y"));
                if (!m[0] || !m[1] || !m[2])
                        goto out;
                r = asprintf(&canonical, "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", m[0],
                             m[1], m[2]) < 0
                            ? -ENOMEM
                            : 0;
        } else if (kty && strcmp(kty, "RSA") == 0) {
                m[0] = json_string_value(json_object_get(jwk, "e"));
                m[1] = json_string_value(json_object_get(jwk, "n"));
                if (!m[0] || !m[1])
                        goto out;
                r = asprintf(&canonical, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", m[0], m[1]) < 0
                            ? -ENOMEM
                            : 0;
        }
        /* Members are base64url or curve names: nothing in them needs JSON escaping, but check. */
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(m) && m[i]; i++)
                if (strpbrk(m[i], "\"\\"))
                        r = -EINVAL;
        if (r >= 0)
                r = jws_sha256_base64url(canonical, ret);
out:
        json_decref(jwk);
        return r;
}

/* ES256 wants r || s, each 32 bytes (RFC 7518 §3.4); GnuTLS gives a DER ECDSA-Sig-Value. */
static int sign_raw(JwsKey *k, const char *input, char **ret) {
        _cleanup_datum_ gnutls_datum_t sig = {}, rr = {}, ss = {};
        gnutls_datum_t data = { .data = (unsigned char *) input, .size = (unsigned) strlen(input) };
        uint8_t raw[64] = {};
        int r;

        pthread_mutex_lock(&k->lock);
        r = gnutls_privkey_sign_data2(
                k->key, k->alg == JWS_ALG_ES256 ? GNUTLS_SIGN_ECDSA_SHA256 : GNUTLS_SIGN_RSA_SHA256, 0,
                &data, &sig);
        pthread_mutex_unlock(&k->lock);
        if (r < 0)
                return errno_from_gnutls(r);
        if (k->alg == JWS_ALG_RS256)
                return b64u_datum(&sig, ret);

        r = gnutls_decode_rs_value(&sig, &rr, &ss);
        if (r < 0)
                return errno_from_gnutls(r);
        /* r and s are INTEGERs: strip a sign byte, left-pad to 32. */
        for (gnutls_datum_t *d = &rr; d; d = d == &rr ? &ss : NULL) {
                unsigned char *p = d->data;
                unsigned n = d->size;

                while (n > 32 && *p == 0)
                        p++, n--;
                if (n > 32)
                        return -EBADMSG;
                memcpy(raw + (d == &rr ? 0 : 32) + 32 - n, p, n);
        }
        return jws_base64url_encode(raw, sizeof(raw), ret);
}

static int finish(const char *protected_b64, const char *payload_b64, const char *sig_b64, char **ret) {
        return asprintf(ret, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", protected_b64,
                        payload_b64, sig_b64) < 0
                       ? -ENOMEM
                       : 0;
}

int jws_sign(JwsKey *k, const char *kid, const char *nonce, const char *url, const char *payload,
             char **ret) {
        _cleanup_free_ char *header = NULL, *p64 = NULL, *pl64 = NULL, *input = NULL, *sig = NULL;
        json_t *h;
        int r;

        if (!k || !url)
                return -EINVAL;
        h = json_pack("{s:s, s:s}", "alg", jws_alg_to_string(k->alg), "url", url);
        if (!h)
                return -ENOMEM;
        r = 0;
        if (kid)
                r = json_object_set_new(h, "kid", json_string(kid));
        else
                r = json_object_set_new(h, "jwk", json_loads(k->jwk, 0, NULL));
        if (r >= 0 && nonce)
                r = json_object_set_new(h, "nonce", json_string(nonce));
        header = r >= 0 ? json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(h);
        if (!header)
                return -ENOMEM;

        if ((r = jws_base64url_encode(header, strlen(header), &p64)) < 0 ||
            (r = jws_base64url_encode(payload ?: "", payload ? strlen(payload) : 0, &pl64)) < 0)
                return r;
        if (asprintf(&input, "%s.%s", p64, pl64) < 0)
                return -ENOMEM;
        r = sign_raw(k, input, &sig);
        if (r < 0)
                return r;
        return finish(p64, pl64, sig, ret);
}

int jws_hs256(const uint8_t *key, size_t key_size, const char *input, char **ret) {
        uint8_t mac[32];
        int r;

        r = gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, key_size, input, strlen(input), mac);
        if (r < 0)
                return errno_from_gnutls(r);
        return jws_base64url_encode(mac, sizeof(mac), ret);
}

int jws_eab(const JwsKey *account, const char *eab_kid, const uint8_t *hmac_key, size_t hmac_key_size,
            const char *url, char **ret) {
        _cleanup_free_ char *header = NULL, *p64 = NULL, *pl64 = NULL, *input = NULL, *sig = NULL;
        json_t *h;
        int r;

        h = json_pack("{s:s, s:s, s:s}", "alg", "HS256", "kid", eab_kid, "url", url);
        header = h ? json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(h);
        if (!header)
                return -ENOMEM;
        if ((r = jws_base64url_encode(header, strlen(header), &p64)) < 0 ||
            (r = jws_base64url_encode(account->jwk, strlen(account->jwk), &pl64)) < 0)
                return r;
        if (asprintf(&input, "%s.%s", p64, pl64) < 0)
                return -ENOMEM;
        r = jws_hs256(hmac_key, hmac_key_size, input, &sig);
        if (r < 0)
                return r;
        return finish(p64, pl64, sig, ret);
}
