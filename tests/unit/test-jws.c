/* SPDX-License-Identifier: GPL-3.0-or-later */
/* jws: base64url (RFC 4648 §5 vectors), RFC 7638 thumbprints (the RFC's own example and the committed
 * test keys, whose expected values were computed independently with OpenSSL and Python), ES256 and RS256
 * signatures that GnuTLS verifies with a public key rebuilt from our JWK, HS256 (RFC 7515 A.1) and the
 * External Account Binding object. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <jansson.h>

#include "fd-util.h"
#include "gnutls-util.h"
#include "jws.h"
#include "x509.h"
#include "test-fs.h"

static gnutls_x509_privkey_t load_key(const char *name) {
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        gnutls_x509_privkey_t k = NULL;
        const char *root = getenv("CERTHERD_SOURCE_ROOT");
        size_t size;

        assert_non_null(root);
        assert_true(asprintf(&path, "%s/tests/data/keys/%s", root, name) >= 0);
        assert_int_equal(read_full_file(path, 1 << 20, &data, &size), 0);
        assert_int_equal(x509_load_privkey(data, size, NULL, &k), 0);
        return k;
}

static void check_encode(const char *in, size_t n, const char *want) {
        _cleanup_free_ char *s = NULL;
        _cleanup_free_ uint8_t *back = NULL;
        size_t size;

        assert_int_equal(jws_base64url_encode(in, n, &s), 0);
        assert_string_equal(s, want);
        assert_int_equal(jws_base64url_decode(s, strlen(s), &back, &size), 0);
        assert_int_equal(size, n);
        assert_memory_equal(back, in, n);
}

static void test_base64url(void **state) {
        uint8_t *p = NULL;
        size_t size;

        check_encode("", 0, "");
        check_encode("f", 1, "Zg");
        check_encode("fo", 2, "Zm8");
        check_encode("foo", 3, "Zm9v");
        check_encode("foobar", 6, "Zm9vYmFy");
        check_encode("\xfb\xff\xbf", 3, "-_-_");
        check_encode("\x03\xef\xff", 3, "A-__");
        /* long input: no line breaks survive */
        {
                char buf[300];
                _cleanup_free_ char *s = NULL;

                memset(buf, 0xa5, sizeof(buf));
                assert_int_equal(jws_base64url_encode(buf, sizeof(buf), &s), 0);
                assert_int_equal(strlen(s), 400);
                assert_null(strpbrk(s, "\n=+/"));
        }
        /* padding is tolerated, standard-alphabet letters and garbage are not */
        assert_int_equal(jws_base64url_decode("Zg==", 4, &p, &size), 0);
        assert_int_equal(size, 1);
        free(p);
        assert_int_equal(jws_base64url_decode("Z", 1, &p, &size), -EINVAL);
        assert_int_equal(jws_base64url_decode("ab+/", 4, &p, &size), -EINVAL);
        assert_int_equal(jws_base64url_decode("ab c", 4, &p, &size), -EINVAL);
}

static void test_thumbprint_rfc7638(void **state) {
        /* RFC 7638 §3.1, with its members in another order and an extra member. */
        const char *jwk =
                "{\"kid\":\"2011-04-29\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw\",\"e\":\"AQAB\",\"kty\":\"RSA\"}";
        _cleanup_free_ char *t = NULL;

        assert_int_equal(jws_jwk_thumbprint(jwk, &t), 0);
        assert_string_equal(t, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        assert_int_equal(jws_jwk_thumbprint("{\"kty\":\"oct\",\"k\":\"AA\"}", &t), -EINVAL);
        assert_int_equal(jws_jwk_thumbprint("[1]", &t), -EINVAL);
        assert_int_equal(jws_jwk_thumbprint("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"a\\\"\",\"y\":\"b\"}", &t), -EINVAL);
}

/* Decode the three parts of a flattened JWS. */
static json_t *parse_jws(const char *s, json_t **ret_header, char **ret_payload, uint8_t **ret_sig, size_t *ret_sig_size,
                         char **ret_input) {
        json_t *j = json_loads(s, 0, NULL);
        const char *p, *pl, *sig;
        uint8_t *h;
        size_t size;

        assert_non_null(j);
        p = json_string_value(json_object_get(j, "protected"));
        pl = json_string_value(json_object_get(j, "payload"));
        sig = json_string_value(json_object_get(j, "signature"));
        assert_non_null(p);
        assert_non_null(pl);
        assert_non_null(sig);
        assert_int_equal(jws_base64url_decode(p, strlen(p), &h, &size), 0);
        *ret_header = json_loads((char *) h, 0, NULL);
        assert_non_null(*ret_header);
        free(h);
        assert_int_equal(jws_base64url_decode(pl, strlen(pl), (uint8_t **) ret_payload, &size), 0);
        assert_int_equal(jws_base64url_decode(sig, strlen(sig), ret_sig, ret_sig_size), 0);
        assert_true(asprintf(ret_input, "%s.%s", p, pl) >= 0);
        return j;
}

static gnutls_pubkey_t pubkey_from_jwk(json_t *jwk) {
        gnutls_pubkey_t pub;
        uint8_t *a, *b;
        size_t na, nb;
        const char *kty = json_string_value(json_object_get(jwk, "kty"));
        const char *ka = strcmp(kty, "EC") == 0 ? "x" : "n", *kb = strcmp(kty, "EC") == 0 ? "y" : "e";

        assert_int_equal(jws_base64url_decode(json_string_value(json_object_get(jwk, ka)),
                                              strlen(json_string_value(json_object_get(jwk, ka))), &a, &na),
                         0);
        assert_int_equal(jws_base64url_decode(json_string_value(json_object_get(jwk, kb)),
                                              strlen(json_string_value(json_object_get(jwk, kb))), &b, &nb),
                         0);
        assert_int_equal(gnutls_pubkey_init(&pub), 0);
        if (strcmp(kty, "EC") == 0) {
                assert_int_equal(na, 32);
                assert_int_equal(nb, 32);
                assert_int_equal(gnutls_pubkey_import_ecc_raw(pub, GNUTLS_ECC_CURVE_SECP256R1,
                                                              &(gnutls_datum_t) { a, (unsigned) na },
                                                              &(gnutls_datum_t) { b, (unsigned) nb }),
                                 0);
        } else
                assert_int_equal(gnutls_pubkey_import_rsa_raw(pub, &(gnutls_datum_t) { a, (unsigned) na },
                                                              &(gnutls_datum_t) { b, (unsigned) nb }),
                                 0);
        free(a);
        free(b);
        return pub;
}

static void check_signed(JwsKey *k, const char *kid, const char *nonce, const char *payload) {
        _cleanup_free_ char *s = NULL, *pl = NULL, *input = NULL;
        _cleanup_free_ uint8_t *sig = NULL;
        json_t *j, *h, *jwk;
        gnutls_pubkey_t pub;
        size_t sig_size;

        assert_int_equal(jws_sign(k, kid, nonce, "https://acme.test/new-order", payload, &s), 0);
        j = parse_jws(s, &h, &pl, &sig, &sig_size, &input);
        assert_string_equal(json_string_value(json_object_get(h, "alg")), jws_alg_to_string(jws_key_alg(k)));
        assert_string_equal(json_string_value(json_object_get(h, "url")), "https://acme.test/new-order");
        if (nonce)
                assert_string_equal(json_string_value(json_object_get(h, "nonce")), nonce);
        else
                assert_null(json_object_get(h, "nonce"));
        if (kid) {
                assert_string_equal(json_string_value(json_object_get(h, "kid")), kid);
                assert_null(json_object_get(h, "jwk"));
        } else
                assert_null(json_object_get(h, "kid"));
        assert_string_equal(pl, payload ?: "");

        /* Verify with a public key rebuilt from the JWK alone. */
        jwk = json_loads(jws_key_jwk(k), 0, NULL);
        assert_non_null(jwk);
        if (!kid) {
                char *a = json_dumps(json_object_get(h, "jwk"), JSON_COMPACT | JSON_SORT_KEYS);
                char *b = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
                assert_string_equal(a, b);
                free(a);
                free(b);
        }
        pub = pubkey_from_jwk(jwk);
        if (jws_key_alg(k) == JWS_ALG_ES256) {
                _cleanup_datum_ gnutls_datum_t der = {};

                assert_int_equal(sig_size, 64);
                assert_int_equal(gnutls_encode_rs_value(&der, &(gnutls_datum_t) { sig, 32 },
                                                        &(gnutls_datum_t) { sig + 32, 32 }),
                                 0);
                assert_int_equal(gnutls_pubkey_verify_data2(pub, GNUTLS_SIGN_ECDSA_SHA256, 0,
                                                            &(gnutls_datum_t) { (unsigned char *) input, (unsigned) strlen(input) },
                                                            &der),
                                 0);
                /* a flipped bit fails */
                der.data[der.size - 1] ^= 1;
                assert_true(gnutls_pubkey_verify_data2(pub, GNUTLS_SIGN_ECDSA_SHA256, 0,
                                                       &(gnutls_datum_t) { (unsigned char *) input, (unsigned) strlen(input) },
                                                       &der) < 0);
        } else {
                assert_int_equal(sig_size, 256);
                assert_int_equal(gnutls_pubkey_verify_data2(pub, GNUTLS_SIGN_RSA_SHA256, 0,
                                                            &(gnutls_datum_t) { (unsigned char *) input, (unsigned) strlen(input) },
                                                            &(gnutls_datum_t) { sig, (unsigned) sig_size }),
                                 0);
        }
        gnutls_pubkey_deinit(pub);
        json_decref(jwk);
        json_decref(h);
        json_decref(j);
}

static void test_es256(void **state) {
        _cleanup_x509_privkey_ gnutls_x509_privkey_t x = load_key("leaf-ec.key");
        _cleanup_jws_key_ JwsKey *k = NULL;
        _cleanup_free_ char *t = NULL;

        assert_int_equal(jws_key_new(x, &k), 0);
        assert_int_equal(jws_key_alg(k), JWS_ALG_ES256);
        assert_string_equal(jws_key_jwk(k), "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"WQNf-iU_-DEQNXTWUW0-dkCm_AGfxQWXX1evGULokdw\","
                                            "\"y\":\"NWr3rpIGg6VSEvEsca0abDup4bsZ_qlmc1BbMOhtb4A\"}");
        assert_string_equal(jws_key_thumbprint(k), "FTu1AG04i_wYFzmcxnws7bIZUjEs96UCH8m6caqi9o4");
        assert_int_equal(jws_jwk_thumbprint(jws_key_jwk(k), &t), 0);
        assert_string_equal(t, jws_key_thumbprint(k));

        check_signed(k, NULL, "nonce-1", "{\"termsOfServiceAgreed\":true}");
        check_signed(k, "https://acme.test/acct/1", "nonce-2", "{}");
        check_signed(k, "https://acme.test/acct/1", "nonce-3", NULL); /* POST-as-GET */
        check_signed(k, NULL, NULL, "{\"account\":\"x\"}");         /* inner key-change JWS */
        for (int i = 0; i < 50; i++)                                 /* r or s with leading zeros */
                check_signed(k, "k", "n", "{}");
}

static void test_rs256(void **state) {
        _cleanup_x509_privkey_ gnutls_x509_privkey_t x = load_key("leaf-rsa.key");
        _cleanup_jws_key_ JwsKey *k = NULL;

        assert_int_equal(jws_key_new(x, &k), 0);
        assert_int_equal(jws_key_alg(k), JWS_ALG_RS256);
        assert_string_equal(jws_key_thumbprint(k), "okPl4P3PbQTbK2KRs4XiG4e47fTrrtKFAIpo2H92ROw");
        check_signed(k, NULL, "n1", "{\"a\":1}");
        check_signed(k, "https://acme.test/acct/2", "n2", NULL);
}

static void test_unsupported_keys(void **state) {
        const char *names[] = { "p384.key", "rsa1024.key", "ed25519.key" };
        JwsKey *k = NULL;

        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_x509_privkey_ gnutls_x509_privkey_t x = load_key(names[i]);

                assert_int_equal(jws_key_new(x, &k), -EOPNOTSUPP);
                assert_null(k);
        }
}

static void test_hs256_rfc7515(void **state) {
        /* RFC 7515 Appendix A.1. */
        const char *k64 = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
        const char *input =
                "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
                "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
        _cleanup_free_ uint8_t *key = NULL;
        _cleanup_free_ char *sig = NULL;
        size_t size;

        assert_int_equal(jws_base64url_decode(k64, strlen(k64), &key, &size), 0);
        assert_int_equal(jws_hs256(key, size, input, &sig), 0);
        assert_string_equal(sig, "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
}

static void test_eab(void **state) {
        _cleanup_x509_privkey_ gnutls_x509_privkey_t x = load_key("leaf-ec.key");
        _cleanup_jws_key_ JwsKey *k = NULL;
        _cleanup_free_ char *s = NULL, *pl = NULL, *input = NULL, *mac = NULL, *sig64 = NULL;
        _cleanup_free_ uint8_t *sig = NULL;
        const uint8_t hmac[] = "0123456789abcdef0123456789abcdef";
        size_t sig_size;
        json_t *j, *h;

        assert_int_equal(jws_key_new(x, &k), 0);
        assert_int_equal(jws_eab(k, "kid-1", hmac, 32, "https://acme.test/new-acct", &s), 0);
        j = parse_jws(s, &h, &pl, &sig, &sig_size, &input);
        assert_string_equal(json_string_value(json_object_get(h, "alg")), "HS256");
        assert_string_equal(json_string_value(json_object_get(h, "kid")), "kid-1");
        assert_string_equal(json_string_value(json_object_get(h, "url")), "https://acme.test/new-acct");
        assert_null(json_object_get(h, "nonce"));
        assert_string_equal(pl, jws_key_jwk(k));
        assert_int_equal(jws_hs256(hmac, 32, input, &mac), 0);
        assert_int_equal(jws_base64url_encode(sig, sig_size, &sig64), 0);
        assert_string_equal(mac, sig64);
        json_decref(h);
        json_decref(j);
}

TEST_MAIN(cmocka_unit_test(test_base64url),
          cmocka_unit_test(test_thumbprint_rfc7638),
          cmocka_unit_test(test_es256),
          cmocka_unit_test(test_rs256),
          cmocka_unit_test(test_unsupported_keys),
          cmocka_unit_test(test_hs256_rfc7515),
          cmocka_unit_test(test_eab))
