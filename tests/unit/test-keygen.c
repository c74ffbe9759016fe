/* SPDX-License-Identifier: GPL-3.0-or-later */
/* keygen: every key type of docs/inventory.md is generated, recognised (and only as itself), exported as PKCS#8
 * PEM that GnuTLS reads back; CSRs verify, carry the names as SANs and CN = the first name, and bad names
 * are refused. OpenSSL cross-checks the CSRs when it is installed. */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "test-util.h"
#include "test-fs.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "gnutls-util.h"
#include "keygen.h"

typedef struct KeyTypeInfo {
        KeyType type;
        const char *name;
        gnutls_pk_algorithm_t pk;
        unsigned bits;
} KeyTypeInfo;

static const KeyTypeInfo key_types[] = {
        { KEY_TYPE_EC_P256, "ec-p256", GNUTLS_PK_ECDSA, 256 },
        { KEY_TYPE_EC_P384, "ec-p384", GNUTLS_PK_ECDSA, 384 },
        { KEY_TYPE_RSA_2048, "rsa-2048", GNUTLS_PK_RSA, 2048 },
        { KEY_TYPE_RSA_3072, "rsa-3072", GNUTLS_PK_RSA, 3072 },
        { KEY_TYPE_RSA_4096, "rsa-4096", GNUTLS_PK_RSA, 4096 },
        { KEY_TYPE_ED25519, "ed25519", GNUTLS_PK_EDDSA_ED25519, 256 },
};

/* Made once by the group setup (RSA-4096 takes a while under the sanitizers), then shared. */
static gnutls_x509_privkey_t keys[_KEY_TYPE_MAX];
static char *tmpdir;
static bool have_openssl;

static char *const test_names[] = { "www.example.com", "*.example.com", "example.com", "127.0.0.1", "::1", NULL };

/* ---- helpers ---- */

static void skip_without_openssl(void) {
        if (!have_openssl) {
                print_message("openssl(1) not found: skipping the OpenSSL cross-check\n");
                skip();
        }
}

static bool key_ids_equal(gnutls_x509_privkey_t a, gnutls_x509_privkey_t b) {
        uint8_t ia[64], ib[64];
        size_t sa = sizeof(ia), sb = sizeof(ib);

        assert_int_equal(gnutls_x509_privkey_get_key_id(a, GNUTLS_KEYID_USE_SHA256, ia, &sa), 0);
        assert_int_equal(gnutls_x509_privkey_get_key_id(b, GNUTLS_KEYID_USE_SHA256, ib, &sb), 0);
        return sa == sb && memcmp(ia, ib, sa) == 0;
}

/* ---- keys ---- */

static void test_generate_each_type(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(key_types); i++) {
                const KeyTypeInfo *kt = &key_types[i];
                gnutls_x509_privkey_t key = keys[kt->type];
                unsigned bits = 0;

                print_message("%s\n", kt->name);
                assert_non_null(key);
                assert_int_equal(gnutls_x509_privkey_get_pk_algorithm2(key, &bits), kt->pk);
                assert_int_equal(bits, kt->bits);

                /* Itself, and none of the others. */
                for (size_t j = 0; j < ELEMENTSOF(key_types); j++)
                        assert_int_equal(keygen_key_is_type(key, key_types[j].type), i == j);
        }
}

static void test_generate_fresh(void **state) {
        _cleanup_x509_privkey_ gnutls_x509_privkey_t a = NULL, b = NULL;

        /* Two keys of one type differ. */
        assert_int_equal(keygen_generate(KEY_TYPE_EC_P256, &a), 0);
        assert_int_equal(keygen_generate(KEY_TYPE_EC_P256, &b), 0);
        assert_false(key_ids_equal(a, b));
}

static void test_generate_invalid(void **state) {
        gnutls_x509_privkey_t key = (gnutls_x509_privkey_t) 0x1;

        assert_int_equal(keygen_generate(_KEY_TYPE_MAX, &key), -EINVAL);
        assert_int_equal(keygen_generate(_KEY_TYPE_INVALID, &key), -EINVAL);
        assert_ptr_equal(key, (gnutls_x509_privkey_t) 0x1); /* untouched on failure */

        assert_false(keygen_key_is_type(NULL, KEY_TYPE_EC_P256));
        assert_false(keygen_key_is_type(keys[KEY_TYPE_EC_P256], _KEY_TYPE_MAX));
        assert_false(keygen_key_is_type(keys[KEY_TYPE_EC_P256], _KEY_TYPE_INVALID));
}

static void test_export_pem_reimport(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(key_types); i++) {
                const KeyTypeInfo *kt = &key_types[i];
                _cleanup_x509_privkey_ gnutls_x509_privkey_t back = NULL;
                _cleanup_datum_ gnutls_datum_t pem = {};
                static const char header[] = "-----BEGIN PRIVATE KEY-----\n";

                print_message("%s\n", kt->name);
                assert_int_equal(keygen_export_pem(keys[kt->type], &pem), 0);
                assert_true(pem.size > sizeof(header));
                assert_memory_equal(pem.data, header, sizeof(header) - 1);
                assert_null(memmem(pem.data, pem.size, "ENCRYPTED", 9));

                assert_int_equal(gnutls_x509_privkey_init(&back), 0);
                assert_int_equal(gnutls_x509_privkey_import2(back, &pem, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN), 0);
                assert_true(key_ids_equal(keys[kt->type], back));
                assert_true(keygen_key_is_type(back, kt->type));
        }
}

/* With a password: encrypted PKCS#8, PBES2 with AES-256-CBC (its OID in the DER), that only the password
 * opens; the same key comes back. */
static void test_export_key_encrypted(void **state) {
        static const uint8_t aes256_cbc_oid[] = { 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a };
        static const uint8_t pbes2_oid[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d };
        static const char header[] = "-----BEGIN ENCRYPTED PRIVATE KEY-----\n";
        _cleanup_x509_privkey_ gnutls_x509_privkey_t back = NULL, wrong = NULL;
        _cleanup_datum_ gnutls_datum_t pem = {}, der = {}, plain = {};

        assert_int_equal(keygen_export_key(keys[KEY_TYPE_EC_P256], "s3cret", &pem), 0);
        assert_memory_equal(pem.data, header, sizeof(header) - 1);
        assert_int_equal(gnutls_pem_base64_decode2("ENCRYPTED PRIVATE KEY", &pem, &der), 0);
        assert_non_null(memmem(der.data, der.size, pbes2_oid, sizeof(pbes2_oid)));
        assert_non_null(memmem(der.data, der.size, aes256_cbc_oid, sizeof(aes256_cbc_oid)));

        assert_int_equal(gnutls_x509_privkey_init(&back), 0);
        assert_int_equal(gnutls_x509_privkey_import2(back, &pem, GNUTLS_X509_FMT_PEM, "s3cret", 0), 0);
        assert_true(key_ids_equal(keys[KEY_TYPE_EC_P256], back));
        assert_int_equal(gnutls_x509_privkey_init(&wrong), 0);
        assert_true(gnutls_x509_privkey_import2(wrong, &pem, GNUTLS_X509_FMT_PEM, "wrong", 0) < 0);

        /* No password: the plain export. */
        assert_int_equal(keygen_export_key(keys[KEY_TYPE_EC_P256], NULL, &plain), 0);
        assert_null(memmem(plain.data, plain.size, "ENCRYPTED", 9));
}

/* ---- names ---- */

static void test_san_ext_names(void **state) {
        char label63[64], name253[254];
        static const char *const good[] = {
                "localhost", "example.com", "*.example.com", "a-b.c-d.example", "xn--bcher-kva.example",
                "EXAMPLE.COM", "0.example", "10.0.0.1", "::1", "2001:db8::1", "::ffff:10.0.0.1", "a",
        };
        static const char *const bad[] = {
                "", "bad_name!", "-x.com", "x-.com", "a..b", ".a", "a.", "example.com.", "*", "*.", "*.*.example.com",
                "a.*.example.com", "w*.example.com", "10.0.0.256", "1.2.3", "exa mple.com", "fe80::1%eth0",
                "[::1]", "example.com:443", "ex\xc3\xa4mple.com",
        };

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                _cleanup_datum_ gnutls_datum_t der = {};
                char *names[] = { (char *) good[i], NULL };

                print_message("good: %s\n", good[i]);
                assert_int_equal(keygen_san_ext(names, &der), 0);
                assert_non_null(der.data);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                gnutls_datum_t der = { (unsigned char *) 0x1, 7 };
                char *names[] = { "ok.example.com", (char *) bad[i], NULL };

                print_message("bad: \"%s\"\n", bad[i]);
                assert_int_equal(keygen_san_ext(names, &der), -EINVAL);
                assert_ptr_equal(der.data, (unsigned char *) 0x1);
                assert_int_equal(der.size, 7);
        }

        /* Label and total length limits: 63 and 253 pass, 64 and 254 do not. */
        memset(label63, 'a', 63);
        label63[63] = 0;
        memset(name253, 'b', 253);
        for (size_t i = 63; i < 253; i += 64)
                name253[i] = '.';
        name253[253] = 0;
        {
                _cleanup_datum_ gnutls_datum_t d1 = {}, d2 = {};
                _cleanup_free_ char *label64 = NULL, *name254 = NULL;
                char *l63[] = { label63, NULL }, *n253[] = { name253, NULL }, *l64[] = { NULL, NULL },
                     *n254[] = { NULL, NULL };
                gnutls_datum_t d = {};

                assert_true(asprintf(&label64, "%sa", label63) >= 0);
                assert_true(asprintf(&name254, "%sb", name253) >= 0);
                l64[0] = label64;
                n254[0] = name254;
                assert_int_equal(keygen_san_ext(l63, &d1), 0);
                assert_int_equal(keygen_san_ext(n253, &d2), 0);
                assert_int_equal(keygen_san_ext(l64, &d), -EINVAL);
                assert_int_equal(keygen_san_ext(n254, &d), -EINVAL);
        }
}

/* ---- CSRs ---- */

static void check_csr(gnutls_x509_privkey_t key, const gnutls_datum_t *der, char *const *names) {
        _cleanup_x509_crq_ gnutls_x509_crq_t crq = NULL;
        uint8_t id_key[64], id_crq[64];
        size_t s_key = sizeof(id_key), s_crq = sizeof(id_crq);
        char cn[256];
        size_t cn_size = sizeof(cn);
        int sig;

        assert_int_equal(gnutls_x509_crq_init(&crq), 0);
        assert_int_equal(gnutls_x509_crq_import(crq, der, GNUTLS_X509_FMT_DER), 0);
        assert_int_equal(gnutls_x509_crq_verify(crq, 0), 0);

        /* The request is for this key. */
        assert_int_equal(gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, id_key, &s_key), 0);
        assert_int_equal(gnutls_x509_crq_get_key_id(crq, GNUTLS_KEYID_USE_SHA256, id_crq, &s_crq), 0);
        assert_int_equal(s_key, s_crq);
        assert_memory_equal(id_key, id_crq, s_key);

        /* SHA-256, or Ed25519's own. */
        sig = gnutls_x509_crq_get_signature_algorithm(crq);
        if (gnutls_x509_privkey_get_pk_algorithm(key) == GNUTLS_PK_EDDSA_ED25519)
                assert_int_equal(sig, GNUTLS_SIGN_EDDSA_ED25519);
        else
                assert_int_equal(gnutls_sign_get_hash_algorithm(sig), GNUTLS_DIG_SHA256);

        if (strlen(names[0]) <= KEYGEN_CN_MAX) {
                assert_int_equal(gnutls_x509_crq_get_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &cn_size), 0);
                assert_string_equal(cn, names[0]);
        } else
                assert_int_equal(gnutls_x509_crq_get_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &cn_size),
                                 GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);
        assert_sans_equal(NULL, crq, names);
}

static void test_csr_each_type(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(key_types); i++) {
                const KeyTypeInfo *kt = &key_types[i];
                _cleanup_datum_ gnutls_datum_t der = {};

                print_message("%s\n", kt->name);
                assert_int_equal(keygen_csr(keys[kt->type], test_names, &der), 0);
                check_csr(keys[kt->type], &der, test_names);
        }
}

static void test_csr_openssl(void **state) {
        skip_without_openssl();

        for (size_t i = 0; i < ELEMENTSOF(key_types); i++) {
                const KeyTypeInfo *kt = &key_types[i];
                _cleanup_datum_ gnutls_datum_t der = {};
                _cleanup_free_ char *path = NULL, *out = NULL;
                char file[64];

                print_message("%s\n", kt->name);
                assert_int_equal(keygen_csr(keys[kt->type], test_names, &der), 0);
                snprintf(file, sizeof(file), "%s.csr", kt->name);
                path = pathf("%s/%s", tmpdir, file);
                write_file(path, der.data, der.size);

                assert_int_equal(run(&out, "openssl req -inform DER -in '%s' -noout -verify -subject -text 2>&1", path), 0);
                assert_non_null(strstr(out, "verify OK"));
                assert_non_null(strstr(out, "CN = www.example.com"));
                assert_non_null(strstr(out, "DNS:www.example.com, DNS:*.example.com, DNS:example.com, "
                                            "IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"));
        }
}

static void test_csr_long_first_name(void **state) {
        /* 70 bytes, a valid host name, too long for a CN: SANs only, and then critical. */
        char *names[] = { "abcdefghijklmnopqrstuvwxyz0123456789.abcdefghijklmnopqrstuvwxyz.example", "short.example",
                          NULL };
        _cleanup_x509_crq_ gnutls_x509_crq_t crq = NULL;
        _cleanup_datum_ gnutls_datum_t der = {};
        char buf[512];
        size_t size = sizeof(buf);
        unsigned critical = 0;

        assert_true(strlen(names[0]) > KEYGEN_CN_MAX);
        assert_int_equal(keygen_csr(keys[KEY_TYPE_EC_P256], names, &der), 0);
        check_csr(keys[KEY_TYPE_EC_P256], &der, names);

        assert_int_equal(gnutls_x509_crq_init(&crq), 0);
        assert_int_equal(gnutls_x509_crq_import(crq, &der, GNUTLS_X509_FMT_DER), 0);
        assert_int_equal(gnutls_x509_crq_get_subject_alt_name(crq, 0, buf, &size, NULL, &critical), GNUTLS_SAN_DNSNAME);
        assert_true(critical);
}

static void test_csr_bad_names(void **state) {
        _cleanup_free_ char *long_name = NULL;
        char *none[] = { NULL };
        char *lists[][3] = {
                { "bad_name!", NULL },
                { "", NULL },
                { "-x.com", NULL },
                { "ok.example.com", "bad name", NULL },
                { NULL, NULL }, /* the 300-byte name, below */
        };

        long_name = malloc(301);
        assert_non_null(long_name);
        memset(long_name, 'a', 300);
        for (size_t i = 50; i < 300; i += 51)
                long_name[i] = '.'; /* labels are fine; the total is not */
        long_name[300] = 0;
        lists[4][0] = long_name;

        for (size_t i = 0; i < ELEMENTSOF(lists); i++) {
                gnutls_datum_t der = { (unsigned char *) 0x1, 7 };

                assert_int_equal(keygen_csr(keys[KEY_TYPE_EC_P256], lists[i], &der), -EINVAL);
                assert_ptr_equal(der.data, (unsigned char *) 0x1);
        }
        {
                gnutls_datum_t der = {};

                assert_int_equal(keygen_csr(keys[KEY_TYPE_EC_P256], none, &der), -EINVAL);
                assert_int_equal(keygen_csr(keys[KEY_TYPE_EC_P256], NULL, &der), -EINVAL);
                assert_int_equal(keygen_csr(NULL, test_names, &der), -EINVAL);
                assert_null(der.data);
        }
}

/* ---- setup ---- */

static int group_setup(void **state) {
        if (keys_generate_each(keys) < 0)
                return -1;
        tmpdir = scratch_dir("test-keygen");
        if (!tmpdir)
                return -1;
        have_openssl = have_openssl_cli();
        return 0;
}

static int group_teardown(void **state) {
        keys_free_each(keys);
        if (tmpdir)
                rm_rf(tmpdir);
        free(tmpdir);
        return 0;
}

TEST_MAIN_GROUP(group_setup,
                group_teardown,
                cmocka_unit_test(test_generate_each_type),
                cmocka_unit_test(test_generate_fresh),
                cmocka_unit_test(test_generate_invalid),
                cmocka_unit_test(test_export_pem_reimport),
                cmocka_unit_test(test_export_key_encrypted),
                cmocka_unit_test(test_san_ext_names),
                cmocka_unit_test(test_csr_each_type),
                cmocka_unit_test(test_csr_openssl),
                cmocka_unit_test(test_csr_long_first_name),
                cmocka_unit_test(test_csr_bad_names))
