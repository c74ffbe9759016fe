/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ca-index and crl (issue 11): reason names in both spellings, serial normalisation, the index's strict
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
        char *s = NULL;

        assert_int_equal(ca_index_normalize_serial("0A:1B:ff", &s), 0);
        assert_string_equal(s, "0a1bff");
        free(s);
        assert_int_equal(ca_index_normalize_serial("00ABC", &s), 0);
        assert_string_equal(s, "0abc");
        free(s);
        assert_int_equal(ca_index_normalize_serial("0x00", &s), 0);
        assert_string_equal(s, "00");
        free(s);
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
                CaConfig cc = { .name = (char *) "t", .crl = path };
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

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_reasons),
                cmocka_unit_test(test_serial),
                cmocka_unit_test(test_index_parse),
                cmocka_unit_test(test_index_and_crl),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
