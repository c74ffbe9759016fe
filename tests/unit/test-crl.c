/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ca-index and crl: reason names in both spellings, serial normalisation, the index's strict
 * parser and its round trip, the compromised-keys list, and CRLs signed here read back by our parser and
 * by OpenSSL (number, AKI, nextUpdate, revoked serials); the crl-expiring / crl-expired thresholds. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "test-util.h"

#include "ca-index.h"
#include "compromised-keys.h"
#include "ca.h"
#include "crl.h"
#include "gnutls-util.h"
#include "keygen.h"
#include "test-fs.h"

static char tmpdir[] = "/tmp/certherd-test-crl.XXXXXX";

static void test_reasons(void **state) {
        assert_int_equal(crl_reason_from_string("key-compromise"), CRL_REASON_KEY_COMPROMISE);
        assert_int_equal(crl_reason_from_string("keyCompromise"), CRL_REASON_KEY_COMPROMISE);
        assert_int_equal(crl_reason_from_string("KEYCOMPROMISE"), CRL_REASON_KEY_COMPROMISE);
        assert_int_equal(crl_reason_from_string("cessation-of-operation"), CRL_REASON_CESSATION_OF_OPERATION);
        assert_int_equal(crl_reason_from_string("cessationOfOperation"), CRL_REASON_CESSATION_OF_OPERATION);
        assert_int_equal(crl_reason_from_string("aa-compromise"), CRL_REASON_AA_COMPROMISE);
        assert_int_equal(crl_reason_from_string("1"), CRL_REASON_KEY_COMPROMISE);
        assert_int_equal(crl_reason_from_string("7"), _CRL_REASON_INVALID); /* unused in RFC 5280 */
        assert_int_equal(crl_reason_from_string("8"), _CRL_REASON_INVALID); /* removeFromCRL: delta CRLs only */
        assert_int_equal(crl_reason_from_string("11"), _CRL_REASON_INVALID);
        assert_int_equal(crl_reason_from_string(""), _CRL_REASON_INVALID);
        assert_int_equal(crl_reason_from_string("key compromise"), _CRL_REASON_INVALID);
        for (int i = 0; i < _CRL_REASON_MAX; i++)
                if (crl_reason_to_string(i))
                        assert_int_equal(crl_reason_from_string(crl_reason_to_string(i)), i);
}

static void test_serial(void **state) {
        static const char *const good[][2] = { { "0A:1B:ff", "0a1bff" }, { "00ABC", "0abc" }, { "0x00", "00" } };
        char *s = NULL;

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                assert_int_equal(ca_index_normalize_serial(good[i][0], &s), 0);
                assert_string_equal(s, good[i][1]);
                free(s);
        }
        assert_int_equal(ca_index_normalize_serial("xyz", &s), -EINVAL);
        assert_int_equal(ca_index_normalize_serial("", &s), -EINVAL);
}

static const char good_index[] =
        "{\"version\": 1, \"crl_number\": 7, \"certificates\": [{\"serial\": \"0a\", \"name\": \"web\", "
        "\"subject\": \"CN=web\", \"names\": [\"web\"], \"not_after\": 100, "
        "\"pin_sha256\": \"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\", \"status\": \"revoked\", "
        "\"revoked_at\": 50, \"reason\": \"key-compromise\"}]}";

static void test_index_parse(void **state) {
        static const char *const bad[] = {
                "",
                "[]",
                "{\"version\": 2, \"crl_number\": 0, \"certificates\": []}",
                "{\"version\": 1, \"certificates\": []}",
                "{\"version\": 1, \"crl_number\": -1, \"certificates\": []}",
                "{\"version\": 1, \"crl_number\": 0, \"certificates\": [{}]}",
                "{\"version\": 1, \"crl_number\": 0, \"certificates\": [{\"serial\": \"XY\", \"name\": \"\", "
                "\"subject\": \"\", \"names\": [], \"not_after\": 1, \"pin_sha256\": "
                "\"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\", \"status\": \"valid\"}]}",
                "{\"version\": 1, \"crl_number\": 0, \"certificates\": [{\"serial\": \"0a\", \"name\": \"\", "
                "\"subject\": \"\", \"names\": [], \"not_after\": 1, \"pin_sha256\": "
                "\"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\", \"status\": \"gone\"}]}",
                "{\"version\": 1, \"crl_number\": 0, \"certificates\": [{\"serial\": \"0a\", \"name\": \"\", "
                "\"subject\": \"\", \"names\": [], \"not_after\": 1, \"pin_sha256\": "
                "\"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\", \"status\": \"revoked\"}]}",
                "{\"version\": 1, \"crl_number\": 0, \"certificates\": [{\"serial\": \"0a\", \"name\": \"\", "
                "\"subject\": \"\", \"names\": [], \"not_after\": 1, \"pin_sha256\": \"short\", "
                "\"status\": \"valid\"}]}",
        };
        CaIndex idx = {};

        assert_int_equal(ca_index_parse(good_index, strlen(good_index), &idx), 0);
        assert_int_equal(idx.n, 1);
        assert_int_equal(idx.crl_number, 7);
        assert_string_equal(idx.entries[0].serial, "0a");
        assert_true(idx.entries[0].revoked);
        assert_int_equal(idx.entries[0].reason, CRL_REASON_KEY_COMPROMISE);
        assert_int_equal(idx.entries[0].revoked_at, 50 * USEC_PER_SEC);
        assert_non_null(ca_index_find(&idx, "0a"));
        assert_null(ca_index_find(&idx, "0b"));
        ca_index_done(&idx);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(ca_index_parse(bad[i], strlen(bad[i]), &idx), -EBADMSG);
}

/* A CA, two leaves in its index (one revoked), a CRL over it read back by us and by OpenSSL. */
static void test_index_and_crl(void **state) {
        _cleanup_x509_privkey_ gnutls_x509_privkey_t ca_key = NULL, k1 = NULL, k2 = NULL;
        _cleanup_x509_crt_ gnutls_x509_crt_t ca = NULL, c1 = NULL, c2 = NULL;
        _cleanup_datum_ gnutls_datum_t pem = {}, ca_pem = {};
        char *const names1[] = { "one.test", "127.0.0.1", NULL }, *const names2[] = { "two.test", NULL };
        usec_t now = now_realtime();
        CaIndex idx = {}, back = {};
        CrlInfo info = {};
        char path[256], ca_path[256], *out = NULL;
        uint8_t pin[PIN_SIZE];

        assert_int_equal(keygen_generate(KEY_TYPE_EC_P256, &ca_key), 0);
        assert_int_equal(keygen_generate(KEY_TYPE_EC_P256, &k1), 0);
        assert_int_equal(keygen_generate(KEY_TYPE_ED25519, &k2), 0);
        assert_int_equal(ca_make_root(ca_key, "crl test CA", 365 * USEC_PER_DAY, now, &ca), 0);
        assert_int_equal(ca_issue(ca, ca_key, k1, &(IssueRequest) { .names = names1, .usage = USAGE_CLIENT,
                                                                     .validity = USEC_PER_DAY, .now = now }, &c1), 0);
        assert_int_equal(ca_issue(ca, ca_key, k2, &(IssueRequest) { .names = names2, .usage = USAGE_SERVER,
                                                                     .validity = USEC_PER_DAY, .now = now }, &c2), 0);
        assert_int_equal(ca_index_add(&idx, "one", c1), 0);
        assert_int_equal(ca_index_add(&idx, "two", c2), 0);
        assert_int_equal(ca_index_add(&idx, "one", c1), 0); /* a serial is recorded once */
        assert_int_equal(idx.n, 2);
        assert_string_equal(idx.entries[0].names[0], "one.test");
        assert_string_equal(idx.entries[0].names[1], "127.0.0.1");
        assert_string_equal(idx.entries[0].subject, "CN=one.test");
        idx.entries[0].revoked = true;
        idx.entries[0].revoked_at = now / USEC_PER_SEC * USEC_PER_SEC;
        idx.entries[0].reason = CRL_REASON_SUPERSEDED;
        idx.crl_number = 41;

        /* Round trip through the state directory. */
        assert_int_equal(ca_index_save(tmpdir, "t", &idx), 0);
        assert_int_equal(ca_index_load(tmpdir, "t", &back), 0);
        assert_int_equal(back.n, 2);
        assert_int_equal(back.crl_number, 41);
        assert_true(back.entries[0].revoked && !back.entries[1].revoked);
        assert_string_equal(back.entries[1].pin, idx.entries[1].pin);
        ca_index_done(&back);
        assert_int_equal(ca_index_load(tmpdir, "missing", &back), 0);
        assert_int_equal(back.n, 0);

        /* The CRL: number 42, one revoked serial (with a high bit: positive DER padding round-trips). */
        {
                gnutls_privkey_t signer = NULL;

                assert_int_equal(gnutls_privkey_init(&signer), 0);
                assert_int_equal(gnutls_privkey_import_x509(signer, ca_key, 0), 0);
                assert_int_equal(crl_make(ca, signer, &idx, 0x80, now, 30 * USEC_PER_SEC, &pem), 0);
                gnutls_privkey_deinit(signer);
        }
        assert_int_equal(crl_parse(pem.data, pem.size, &info), 0);
        assert_int_equal(info.number, 0x80);
        assert_int_equal(info.n, 1);
        assert_string_equal(info.serials[0], idx.entries[0].serial);
        assert_int_equal(info.next_update - info.this_update, 30 * USEC_PER_SEC);
        assert_string_equal(info.issuer, "CN=crl test CA");
        crl_info_done(&info);

        snprintf(path, sizeof(path), "%s/crl.pem", tmpdir);
        snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", tmpdir);
        write_file(path, pem.data, pem.size);
        assert_int_equal(ca_export_pem(ca, &ca_pem), 0);
        write_file(ca_path, ca_pem.data, ca_pem.size);
        if (system("command -v openssl >/dev/null") == 0) {
                assert_int_equal(run(&out, "openssl crl -in %s -noout -CAfile %s -crlnumber -text 2>&1", path, ca_path), 0);
                assert_non_null(strstr(out, "verify OK"));
                assert_non_null(strstr(out, "crlNumber=0x80"));
                assert_non_null(strstr(out, "Authority Key Identifier"));
                assert_non_null(strstr(out, "Version 2"));
                free(out);
        }
        assert_int_equal(crl_parse((const uint8_t *) "garbage", 7, &info), -EBADMSG);

        /* crl-expiring: inside min(warn-before, a third of the validity) of nextUpdate; crl-expired after. */
        {
                CaConfig cc = { .name = (char *) "t", .crl = path, .certificate = ca_path };
                Inventory inv = { .agent = { .state_directory = tmpdir,
                                             .warn_before = { .set = true, .usec = 14 * USEC_PER_DAY } } };
                CertFacts f1 = { .parsed = true }, f2 = { .parsed = true }, f3 = { .parsed = true };

                assert_int_equal(crl_check_ca(&inv, &cc, &f1, now + 5 * USEC_PER_SEC), 0);
                assert_int_equal(f1.n_problems, 0);
                assert_int_equal(crl_check_ca(&inv, &cc, &f2, now + 25 * USEC_PER_SEC), 0);
                assert_int_equal(f2.n_problems, 1);
                assert_int_equal(f2.problems[0].code, PROBLEM_CRL_EXPIRING);
                assert_int_equal(crl_check_ca(&inv, &cc, &f3, now + 31 * USEC_PER_SEC), 0);
                assert_int_equal(f3.n_problems, 1);
                assert_int_equal(f3.problems[0].code, PROBLEM_CRL_EXPIRED);
                for (size_t i = 0; i < 1; i++) {
                        free(f2.problems[i].message);
                        free(f3.problems[i].message);
                }
                free(f2.problems);
                free(f3.problems);
        }

        /* The compromised-keys list. */
        assert_int_equal(pin_parse(idx.entries[1].pin, pin, NULL), 0);
        assert_int_equal(compromised_keys_check(tmpdir, pin, NULL), 0);
        assert_int_equal(compromised_keys_add(tmpdir, pin, "two", idx.entries[1].serial, now), 0);
        assert_int_equal(compromised_keys_add(tmpdir, pin, "two", idx.entries[1].serial, now), 0);
        assert_int_equal(compromised_keys_check(tmpdir, pin, NULL), 1);
        {
                CompromisedKeys l = {};
                assert_int_equal(compromised_keys_load(tmpdir, &l), 0);
                assert_int_equal(l.n, 1);
                compromised_keys_done(&l);
                assert_int_equal(compromised_keys_parse("{\"keys\": [{\"pin_sha256\": \"x\"}]}", 34, &l), -EBADMSG);
                /* found by fuzz-ca-index: an element that is not an object was taken as an empty entry */
                assert_int_equal(compromised_keys_parse("{\"keys\": [1]}", 13, &l), -EBADMSG);
        }
        ca_index_done(&idx);
}

/* A CRL over `idx` signed by `ca` (crl_make: with AKI), or with no AKI when `no_aki` (as a forger
 * using `openssl ca` without authorityKeyIdentifier would). */
static void sign_crl(gnutls_x509_crt_t ca, gnutls_x509_privkey_t key, const CaIndex *idx, bool no_aki, usec_t now,
                     gnutls_datum_t *ret) {
        gnutls_privkey_t signer = NULL;

        assert_int_equal(gnutls_privkey_init(&signer), 0);
        assert_int_equal(gnutls_privkey_import_x509(signer, key, 0), 0);
        if (!no_aki)
                assert_int_equal(crl_make(ca, signer, idx, 7, now, USEC_PER_DAY, ret), 0);
        else {
                gnutls_x509_crl_t crl = NULL;
                uint8_t serial[20];
                unsigned v;

                assert_int_equal(gnutls_x509_crl_init(&crl), 0);
                assert_int_equal(gnutls_x509_crl_set_version(crl, 2), 0);
                assert_int_equal(gnutls_x509_crl_set_this_update(crl, (time_t) (now / USEC_PER_SEC)), 0);
                assert_int_equal(gnutls_x509_crl_set_next_update(crl, (time_t) (now / USEC_PER_SEC + 86400)), 0);
                for (size_t i = 0; i < strlen(idx->entries[0].serial) / 2; i++) {
                        assert_int_equal(sscanf(idx->entries[0].serial + 2 * i, "%2x", &v), 1);
                        serial[i] = (uint8_t) v;
                }
                assert_int_equal(gnutls_x509_crl_set_crt_serial(crl, serial, strlen(idx->entries[0].serial) / 2,
                                                                (time_t) (now / USEC_PER_SEC)),
                                 0);
                assert_int_equal(gnutls_x509_crl_privkey_sign(crl, ca, signer, GNUTLS_DIG_SHA256, 0), 0);
                assert_int_equal(gnutls_x509_crl_export2(crl, GNUTLS_X509_FMT_PEM, ret), 0);
                gnutls_x509_crl_deinit(crl);
        }
        gnutls_privkey_deinit(signer);
}

static void cat(gnutls_datum_t *a, const gnutls_datum_t *b) {
        a->data = gnutls_realloc(a->data, a->size + b->size);
        assert_non_null(a->data);
        memcpy(a->data + a->size, b->data, b->size);
        a->size += b->size;
}

static CrlTrust judge(const gnutls_datum_t *d, gnutls_x509_crt_t leaf, gnutls_x509_crt_t *cas, unsigned n,
                      const char *error_has, size_t n_revoked) {
        CrlVerdict v = {};
        CrlTrust t;

        assert_int_equal(crl_read_verified(d->data, d->size, leaf, cas, n, &v), 0);
        t = v.trust;
        if (error_has) {
                assert_non_null(v.error);
                if (!strstr(v.error, error_has))
                        fail_msg("error \"%s\" lacks \"%s\"", v.error, error_has);
        }
        if (t == CRL_FOR_ISSUER || t == CRL_FOR_CHAIN)
                assert_int_equal(v.info.n, n_revoked);
        crl_verdict_done(&v);
        return t;
}

/* A CRL is believed only when the key of the leaf's issuer signed it: one made by another key under the
 * same name (with its own AKI, or none) is a forgery; two generations of a CA share a name and each CRL
 * speaks for its own; without the issuer's certificate nothing can be believed. */
static void test_verify(void **state) {
        _cleanup_x509_privkey_ gnutls_x509_privkey_t ca_key = NULL, forger_key = NULL, next_key = NULL, leaf_key = NULL;
        _cleanup_x509_crt_ gnutls_x509_crt_t ca = NULL, forger = NULL, next = NULL, other = NULL, leaf = NULL;
        _cleanup_datum_ gnutls_datum_t genuine = {}, forged = {}, forged_bare = {}, rotated = {}, stranger = {};
        char *const names[] = { "bank.test", NULL };
        usec_t now = now_realtime();
        CaIndex idx = {};

        assert_int_equal(keygen_generate(KEY_TYPE_EC_P256, &ca_key), 0);
        assert_int_equal(keygen_generate(KEY_TYPE_EC_P256, &forger_key), 0);
        assert_int_equal(keygen_generate(KEY_TYPE_EC_P256, &next_key), 0);
        assert_int_equal(keygen_generate(KEY_TYPE_EC_P256, &leaf_key), 0);
        assert_int_equal(ca_make_root(ca_key, "crl test CA", 365 * USEC_PER_DAY, now, &ca), 0);
        assert_int_equal(ca_make_root(forger_key, "crl test CA", 365 * USEC_PER_DAY, now, &forger), 0);
        assert_int_equal(ca_make_root(next_key, "crl test CA", 365 * USEC_PER_DAY, now, &next), 0);
        assert_int_equal(ca_make_root(forger_key, "another CA", 365 * USEC_PER_DAY, now, &other), 0);
        assert_int_equal(ca_issue(ca, ca_key, leaf_key, &(IssueRequest) { .names = names, .usage = USAGE_SERVER,
                                                                           .validity = USEC_PER_DAY, .now = now }, &leaf),
                         0);
        assert_int_equal(ca_index_add(&idx, "bank", leaf), 0);
        idx.entries[0].revoked = true;
        idx.entries[0].revoked_at = now / USEC_PER_SEC * USEC_PER_SEC;

        sign_crl(ca, ca_key, &idx, false, now, &genuine);
        sign_crl(forger, forger_key, &idx, false, now, &forged);
        sign_crl(forger, forger_key, &idx, true, now, &forged_bare);
        sign_crl(next, next_key, &idx, false, now, &rotated);
        sign_crl(other, forger_key, &idx, false, now, &stranger);

        {
                gnutls_x509_crt_t cas[] = { ca }, bundle[] = { next, ca }, only_next[] = { next };
                _cleanup_datum_ gnutls_datum_t both = {}, generations = {};

                assert_int_equal(judge(&genuine, leaf, cas, 1, NULL, 1), CRL_FOR_ISSUER);
                assert_int_equal(judge(&forged, leaf, cas, 1, "authority key id", 0), CRL_INVALID);
                assert_int_equal(judge(&forged_bare, leaf, cas, 1, "signature does not verify", 0), CRL_INVALID);
                /* No issuer certificate at hand: nothing is believed. */
                assert_int_equal(judge(&genuine, leaf, NULL, 0, "neither its chain nor its ca", 0), CRL_INVALID);
                /* A CRL under a name nobody in the chain bears. */
                assert_int_equal(judge(&stranger, leaf, cas, 1, "issued neither", 0), CRL_OTHER_ISSUER);
                /* A forgery beside the genuine CRL does not hide it. */
                cat(&both, &forged);
                cat(&both, &genuine);
                assert_int_equal(judge(&both, leaf, cas, 1, NULL, 1), CRL_FOR_ISSUER);
                /* A rotation: the new generation's CRL first, the leaf's generation's after it. */
                cat(&generations, &rotated);
                cat(&generations, &genuine);
                assert_int_equal(judge(&generations, leaf, bundle, 2, NULL, 1), CRL_FOR_ISSUER);
                /* The new generation's CRL alone is genuine but not the leaf's issuer's: fresh, revokes nothing. */
                assert_int_equal(judge(&rotated, leaf, bundle, 2, NULL, 1), CRL_FOR_CHAIN);
                /* The leaf's issuer not at hand, only a CA of the same name with another key. */
                assert_int_equal(judge(&genuine, leaf, only_next, 1, "authority key id", 0), CRL_INVALID);
        }

        /* Through check: a forged CRL file is crl-invalid and revokes nothing; the genuine one revokes. */
        {
                char path[256];
                char *crls[] = { path, NULL };
                CertConfig cc = { .name = (char *) "bank", .x = &(CertExtra) { .crl = crls } };
                Inventory inv = { .agent = { .state_directory = tmpdir } };
                gnutls_x509_crt_t cas[] = { ca };
                CertFacts f1 = { .parsed = true, .serial = idx.entries[0].serial },
                          f2 = { .parsed = true, .serial = idx.entries[0].serial };

                snprintf(path, sizeof(path), "%s/forged.crl", tmpdir);
                write_file(path, forged.data, forged.size);
                assert_int_equal(crl_check_cert(&inv, &cc, leaf, cas, 1, &f1, now), 0);
                assert_int_equal(f1.n_problems, 1);
                assert_int_equal(f1.problems[0].code, PROBLEM_CRL_INVALID);
                if (!strstr(f1.problems[0].message, path))
                        fail_msg("message: %s", f1.problems[0].message);
                assert_false(f1.key_compromised);

                snprintf(path, sizeof(path), "%s/genuine.crl", tmpdir);
                write_file(path, genuine.data, genuine.size);
                assert_int_equal(crl_check_cert(&inv, &cc, leaf, cas, 1, &f2, now), 0);
                assert_int_equal(f2.n_problems, 1);
                assert_int_equal(f2.problems[0].code, PROBLEM_REVOKED);
                /* Our CRLs carry no reason per entry, and no index names one here: taken as key compromise. */
                assert_true(f2.key_compromised);
                free(f1.problems[0].message);
                free(f1.problems);
                free(f2.problems[0].message);
                free(f2.problems);
        }

        /* The CA's own CRL file: a forgery in its place is crl-invalid on the CA row (and re-signed). */
        {
                _cleanup_datum_ gnutls_datum_t ca_pem = {};
                char path[256], ca_path[256];
                CaConfig cc = { .name = (char *) "t", .crl = path, .certificate = ca_path };
                Inventory inv = { .agent = { .state_directory = tmpdir } };
                CertFacts f1 = { .parsed = true }, f2 = { .parsed = true };

                snprintf(path, sizeof(path), "%s/own.crl", tmpdir);
                snprintf(ca_path, sizeof(ca_path), "%s/own-ca.pem", tmpdir);
                assert_int_equal(ca_export_pem(ca, &ca_pem), 0);
                write_file(ca_path, ca_pem.data, ca_pem.size);
                write_file(path, forged.data, forged.size);
                assert_int_equal(crl_check_ca(&inv, &cc, &f1, now), 0);
                assert_int_equal(f1.n_problems, 1);
                assert_int_equal(f1.problems[0].code, PROBLEM_CRL_INVALID);
                write_file(path, genuine.data, genuine.size);
                assert_int_equal(crl_check_ca(&inv, &cc, &f2, now), 0);
                assert_int_equal(f2.n_problems, 0);
                free(f1.problems[0].message);
                free(f1.problems);
        }
        ca_index_done(&idx);
}

/* The DER of a CRL with two entries, one with reasonCode keyCompromise(1), one without. */
/* A genuine CRL whose outer signature algorithm is an OID GnuTLS does not know (ecdsa-with-SHA256 with
 * one byte changed, as a fuzzer found): GnuTLS answers a bare INVALID, no date bit, and it is not
 * believed, fresh or lapsed. A genuine lapsed CRL stays believed (crl-expired says the rest). */
static void test_verify_unknown_algorithm(void **state) {
        static const uint8_t ecdsa_sha256[] = { 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02 };
        _cleanup_x509_privkey_ gnutls_x509_privkey_t ca_key = NULL, leaf_key = NULL;
        _cleanup_x509_crt_ gnutls_x509_crt_t ca = NULL, leaf = NULL;
        char *const names[] = { "bank.test", NULL };
        usec_t now = now_realtime();
        CaIndex idx = {};

        assert_int_equal(keygen_generate(KEY_TYPE_EC_P256, &ca_key), 0);
        assert_int_equal(keygen_generate(KEY_TYPE_EC_P256, &leaf_key), 0);
        assert_int_equal(ca_make_root(ca_key, "crl test CA", 365 * USEC_PER_DAY, now, &ca), 0);
        assert_int_equal(ca_issue(ca, ca_key, leaf_key, &(IssueRequest) { .names = names, .usage = USAGE_SERVER,
                                                                           .validity = USEC_PER_DAY, .now = now }, &leaf),
                         0);
        assert_int_equal(ca_index_add(&idx, "bank", leaf), 0);
        for (int lapsed = 0; lapsed < 2; lapsed++) {
                _cleanup_datum_ gnutls_datum_t pem = {}, der = {};
                gnutls_x509_crt_t cas[] = { ca };
                uint8_t *oid = NULL;

                sign_crl(ca, ca_key, &idx, false, lapsed ? now - 3 * USEC_PER_DAY : now, &pem);
                assert_int_equal(judge(&pem, leaf, cas, 1, NULL, 0), CRL_FOR_ISSUER);
                assert_int_equal(gnutls_pem_base64_decode2("X509 CRL", &pem, &der), 0);
                /* The last occurrence: the outer signatureAlgorithm, after the signed part. */
                for (uint8_t *p = der.data; (p = memmem(p, der.size - (size_t) (p - der.data), ecdsa_sha256,
                                                        sizeof(ecdsa_sha256)));
                     p++)
                        oid = p;
                assert_non_null(oid);
                oid[6] = 0x43;
                assert_int_equal(judge(&der, leaf, cas, 1, "signature algorithm is unknown", 0), CRL_INVALID);
        }
        ca_index_done(&idx);
}

static void test_entry_reasons(void **state) {
        static const uint8_t der[] = {
                0x30, 0x5f,                                     /* CertificateList */
                0x30, 0x53,                                     /* tbsCertList */
                0x02, 0x01, 0x01,                               /* version v2 */
                0x30, 0x05, 0x06, 0x03, 0x2a, 0x03, 0x04,       /* signature */
                0x30, 0x00,                                     /* issuer */
                0x17, 0x0d, '2', '6', '0', '1', '0', '1', '0', '0', '0', '0', '0', '0', 'Z',
                0x30, 0x36,                                     /* revokedCertificates */
                0x30, 0x20, 0x02, 0x01, 0x05,
                0x17, 0x0d, '2', '6', '0', '1', '0', '1', '0', '0', '0', '0', '0', '0', 'Z',
                0x30, 0x0c, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01, 0x01, /* reasonCode */
                0x30, 0x12, 0x02, 0x01, 0x06,
                0x17, 0x0d, '2', '6', '0', '1', '0', '1', '0', '0', '0', '0', '0', '0', 'Z',
                0x30, 0x05, 0x06, 0x03, 0x2a, 0x03, 0x04,       /* signatureAlgorithm */
                0x03, 0x01, 0x00,                               /* signature */
        };
        int8_t reasons[2];

        assert_int_equal(sizeof(der), 0x61);
        assert_int_equal(crl_entry_reasons(der, sizeof(der), 2, reasons), 0);
        assert_int_equal(reasons[0], CRL_REASON_KEY_COMPROMISE);
        assert_int_equal(reasons[1], -1);
        /* A count that does not match, and every truncation, are refused. */
        assert_int_equal(crl_entry_reasons(der, sizeof(der), 1, reasons), -EBADMSG);
        for (size_t n = 0; n < sizeof(der); n++)
                assert_int_equal(crl_entry_reasons(der, n, 2, reasons), -EBADMSG);
}

static int setup(void **state) {
        return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
        char *cmd = NULL;
        int r;

        if (asprintf(&cmd, "rm -rf %s", tmpdir) < 0)
                return -1;
        r = system(cmd);
        free(cmd);
        return r == 0 ? 0 : -1;
}

TEST_MAIN_GROUP(setup,
                teardown,
                cmocka_unit_test(test_reasons),
                cmocka_unit_test(test_serial),
                cmocka_unit_test(test_index_parse),
                cmocka_unit_test(test_index_and_crl),
                cmocka_unit_test(test_verify),
                cmocka_unit_test(test_verify_unknown_algorithm),
                cmocka_unit_test(test_entry_reasons))
