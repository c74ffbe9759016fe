/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ca: the root, leaves for every key type and usage, self-signed certificates. Each is checked three ways:
 * field by field with GnuTLS against what ca.h promises, by x509_inspect() (the inspector certherd runs on
 * what it installs: it must find no problem), and by OpenSSL (`openssl verify`, `openssl x509 -ext`), so
 * that a second implementation agrees. Clamping, expired CAs, serials and bad names have their own cases. */
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

#include "ca.h"
#include "gnutls-util.h"
#include "keygen.h"
#include "x509.h"

typedef struct KeyTypeInfo {
        KeyType type;
        const char *name; /* as x509_inspect() reports it */
} KeyTypeInfo;

static const KeyTypeInfo key_types[] = {
        { KEY_TYPE_EC_P256, "ec-p256" },   { KEY_TYPE_EC_P384, "ec-p384" },   { KEY_TYPE_RSA_2048, "rsa-2048" },
        { KEY_TYPE_RSA_3072, "rsa-3072" }, { KEY_TYPE_RSA_4096, "rsa-4096" }, { KEY_TYPE_ED25519, "ed25519" },
};

static const char *const usage_names[_USAGE_MAX] = {
        [USAGE_SERVER] = "server",
        [USAGE_CLIENT] = "client",
        [USAGE_SERVER_CLIENT] = "server+client",
};

#define ROOT_CN "certherd test CA"
#define VALIDITY (90 * USEC_PER_DAY)

/* Shared by every test, made once in the group setup (key generation is the slow part). */
static usec_t now;
static gnutls_x509_privkey_t keys[_KEY_TYPE_MAX]; /* one of each type: leaf keys, and CA keys in test_roots */
static gnutls_x509_privkey_t root_key;            /* ec-p256 */
static gnutls_x509_crt_t root;
static char *tmpdir;
static char *root_pem_path;
static bool have_openssl;

static char *const leaf_names[] = { "leaf.example.com", "*.leaf.example.com", "localhost", "127.0.0.1", "::1", NULL };
#define LEAF_SAN_OPENSSL \
        "DNS:leaf.example.com, DNS:*.leaf.example.com, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"

/* ---- helpers ---- */

/* The certificate's PEM written to tmpdir/name; returns the path. */
static char *write_crt(gnutls_x509_crt_t crt, const char *name) {
        _cleanup_datum_ gnutls_datum_t pem = {};
        char *path = pathf("%s/%s", tmpdir, name);

        assert_int_equal(ca_export_pem(crt, &pem), 0);
        write_file(path, pem.data, pem.size);
        return path;
}

/* `openssl verify -CAfile ca crt` prints "crt: OK". Skipped (with a message) without openssl(1). */
static void openssl_verify(const char *ca_path, const char *crt_path) {
        _cleanup_free_ char *out = NULL, *expect = NULL;

        if (!have_openssl)
                return;
        assert_true(asprintf(&expect, "%s: OK\n", crt_path) >= 0);
        if (run(&out, "openssl verify -CAfile '%s' '%s' 2>&1", ca_path, crt_path) != 0 || strcmp(out, expect) != 0) {
                print_error("openssl verify: %s", out);
                fail();
        }
}

/* The extensions as `openssl x509 -noout -ext …` prints them, or NULL without openssl(1). */
static char *openssl_ext(const char *crt_path) {
        char *out = NULL;

        if (!have_openssl)
                return NULL;
        assert_int_equal(
                run(&out, "openssl x509 -noout -ext subjectAltName,extendedKeyUsage,basicConstraints,keyUsage -in '%s' 2>&1",
                    crt_path),
                0);
        return out;
}

static void assert_contains(const char *haystack, const char *needle) {
        if (!strstr(haystack, needle)) {
                print_error("\"%s\" not found in:\n%s\n", needle, haystack);
                fail();
        }
}

static void assert_lacks(const char *haystack, const char *needle) {
        if (strstr(haystack, needle)) {
                print_error("\"%s\" unexpectedly found in:\n%s\n", needle, haystack);
                fail();
        }
}

/* x509_inspect() of the certificate (PEM) with its key, the names, the usage and trust in `anchor_pem`:
 * no problem at all, the key type as expected. */
static void inspect_clean_full(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, gnutls_x509_crt_t anchor,
                               char *const *names, Usage usage, const char *key_type, bool fullchain) {
        _cleanup_datum_ gnutls_datum_t pem = {}, key_pem = {}, anchor_pem = {};
        _cleanup_cert_facts_ CertFacts *f = NULL;
        _cleanup_free_ char *chain = NULL;
        gnutls_x509_trust_list_t trust = NULL;
        X509Input in;

        assert_int_equal(ca_export_pem(crt, &pem), 0);
        assert_int_equal(keygen_export_pem(key, &key_pem), 0);
        assert_int_equal(ca_export_pem(anchor, &anchor_pem), 0);
        assert_int_equal(x509_trust_new(anchor_pem.data, anchor_pem.size, &trust), 0);
        /* fullchain: the leaf followed by its CA, as a certificate file is installed (docs/inventory.md). */
        assert_true(asprintf(&chain, "%.*s%.*s", (int) pem.size, (const char *) pem.data,
                             fullchain ? (int) anchor_pem.size : 0, (const char *) anchor_pem.data) >= 0);

        in = (X509Input) {
                .cert_path = "leaf.pem",
                .cert_data = (const uint8_t *) chain,
                .cert_size = strlen(chain),
                .key_path = "leaf.key",
                .key_data = key_pem.data,
                .key_size = key_pem.size,
                .key_mode = 0600,
                .names = names,
                .usage = usage,
                .warn_before = { .set = true, .usec = 14 * USEC_PER_DAY },
                .critical_before = { .set = true, .usec = 7 * USEC_PER_DAY },
                .trust = trust,
        };
        assert_int_equal(x509_inspect(&in, now, &f), 0);
        gnutls_x509_trust_list_deinit(trust, 1);

        for (size_t i = 0; i < f->n_problems; i++)
                print_error("x509_inspect: %s: %s\n", problem_code_to_string(f->problems[i].code), f->problems[i].message);
        assert_int_equal(f->n_problems, 0);
        assert_int_equal(f->state, SEVERITY_OK);
        assert_true(f->parsed);
        assert_string_equal(f->key_type, key_type);
        assert_true(f->has_pin);
}

static void inspect_clean(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, gnutls_x509_crt_t anchor,
                          char *const *names, Usage usage, const char *key_type) {
        inspect_clean_full(crt, key, anchor, names, usage, key_type, false);
}

static void check_serial(gnutls_x509_crt_t crt, uint8_t ret[16]) {
        uint8_t serial[64];
        size_t size = sizeof(serial);

        assert_int_equal(gnutls_x509_crt_get_serial(crt, serial, &size), 0);
        /* 16 bytes of DER INTEGER content: minimal (first byte non-zero), positive (top bit clear), so
         * 121 to 127 significant bits, well above 64. */
        assert_int_equal(size, 16);
        assert_true(serial[0] != 0);
        assert_true(serial[0] < 0x80);
        if (ret)
                memcpy(ret, serial, 16);
}

static void check_key_id(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, uint8_t *ret_ski, size_t *ret_size) {
        uint8_t ski[64], id[64];
        size_t ski_size = sizeof(ski), id_size = sizeof(id);
        unsigned critical = 1;

        assert_int_equal(gnutls_x509_crt_get_subject_key_id(crt, ski, &ski_size, &critical), 0);
        assert_false(critical);
        assert_int_equal(gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA1, id, &id_size), 0);
        assert_int_equal(ski_size, id_size);
        assert_memory_equal(ski, id, id_size);
        if (ret_ski) {
                memcpy(ret_ski, ski, ski_size);
                *ret_size = ski_size;
        }
}

static void check_cn(gnutls_x509_crt_t crt, const char *cn) {
        char buf[256];
        size_t size = sizeof(buf);

        assert_int_equal(gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &size), 0);
        assert_string_equal(buf, cn);
        size = sizeof(buf);
        assert_int_equal(gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 1, 0, buf, &size),
                         GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);
}

static void check_eku(gnutls_x509_crt_t crt, Usage usage) {
        bool server = false, client = false;
        unsigned i;

        for (i = 0;; i++) {
                char oid[128];
                size_t size = sizeof(oid);
                unsigned critical = 1;

                if (gnutls_x509_crt_get_key_purpose_oid(crt, i, oid, &size, &critical) < 0)
                        break;
                assert_false(critical);
                if (strcmp(oid, GNUTLS_KP_TLS_WWW_SERVER) == 0)
                        server = true;
                else if (strcmp(oid, GNUTLS_KP_TLS_WWW_CLIENT) == 0)
                        client = true;
                else
                        fail_msg("unexpected EKU %s", oid);
        }
        assert_int_equal(server, usage == USAGE_SERVER || usage == USAGE_SERVER_CLIENT);
        assert_int_equal(client, usage == USAGE_CLIENT || usage == USAGE_SERVER_CLIENT);
        assert_int_equal(i, (unsigned) server + (unsigned) client);
}

static void check_eku_openssl(const char *ext, Usage usage) {
        if (usage == USAGE_SERVER)
                assert_contains(ext, "X509v3 Extended Key Usage: \n    TLS Web Server Authentication\n");
        else if (usage == USAGE_CLIENT)
                assert_contains(ext, "X509v3 Extended Key Usage: \n    TLS Web Client Authentication\n");
        else
                assert_contains(ext, "X509v3 Extended Key Usage: \n"
                                     "    TLS Web Server Authentication, TLS Web Client Authentication\n");
}

static void check_basic_constraints(gnutls_x509_crt_t crt, bool is_ca) {
        unsigned critical = 0, ca = !is_ca;
        int pathlen = -2;

        assert_true(gnutls_x509_crt_get_basic_constraints(crt, &critical, &ca, &pathlen) >= 0);
        assert_true(critical);
        assert_int_equal(ca, is_ca);
}

static void check_key_usage(gnutls_x509_crt_t crt, unsigned expect) {
        unsigned ku = 0, critical = 0;

        assert_int_equal(gnutls_x509_crt_get_key_usage(crt, &ku, &critical), 0);
        assert_true(critical);
        assert_int_equal(ku, expect);
}

static void check_verifies(gnutls_x509_crt_t crt, gnutls_x509_crt_t anchor) {
        unsigned status = ~0u;

        assert_int_equal(gnutls_x509_crt_verify(crt, &anchor, 1, 0, &status), 0);
        assert_int_equal(status, 0);
}

static bool is_rsa(KeyType t) {
        return t == KEY_TYPE_RSA_2048 || t == KEY_TYPE_RSA_3072 || t == KEY_TYPE_RSA_4096;
}

/* ---- the root ---- */

static void test_root(void **state) {
        uint8_t ski[64], aki[64];
        size_t ski_size = 0, aki_size = sizeof(aki);
        unsigned critical, ca = 0;
        int pathlen = -2;
        _cleanup_free_ char *ext = NULL;

        assert_int_equal(gnutls_x509_crt_get_version(root), 3);
        check_cn(root, ROOT_CN);
        check_serial(root, NULL);
        check_key_id(root, root_key, ski, &ski_size);
        assert_true(gnutls_x509_crt_get_basic_constraints(root, &critical, &ca, &pathlen) >= 0);
        assert_true(critical);
        assert_true(ca);
        check_key_usage(root, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN);
        assert_int_equal(gnutls_x509_crt_get_signature_algorithm(root), GNUTLS_SIGN_ECDSA_SHA256);
        assert_true(gnutls_x509_crt_check_issuer(root, root));
        check_verifies(root, root);
        assert_int_equal(gnutls_x509_crt_get_activation_time(root), (time_t) ((now - USEC_PER_HOUR) / USEC_PER_SEC));
        assert_int_equal(gnutls_x509_crt_get_expiration_time(root),
                         (time_t) ((now + 10 * USEC_PER_YEAR) / USEC_PER_SEC));
        /* A root needs no authority key id; if there is one it must be its own. */
        if (gnutls_x509_crt_get_authority_key_id(root, aki, &aki_size, &critical) >= 0) {
                assert_int_equal(aki_size, ski_size);
                assert_memory_equal(aki, ski, ski_size);
        }

        openssl_verify(root_pem_path, root_pem_path);
        ext = openssl_ext(root_pem_path);
        if (ext) {
                assert_contains(ext, "X509v3 Basic Constraints: critical\n    CA:TRUE");
                assert_contains(ext, "X509v3 Key Usage: critical\n    Certificate Sign, CRL Sign\n");
                assert_lacks(ext, "Extended Key Usage");
                assert_lacks(ext, "Subject Alternative Name");
        }
}

static void test_root_bad_arguments(void **state) {
        gnutls_x509_crt_t crt = (gnutls_x509_crt_t) 0x1;
        char cn65[66];

        memset(cn65, 'c', 65);
        cn65[65] = 0;
        assert_int_equal(ca_make_root(root_key, NULL, VALIDITY, now, &crt), -EINVAL);
        assert_int_equal(ca_make_root(root_key, "", VALIDITY, now, &crt), -EINVAL);
        assert_int_equal(ca_make_root(root_key, cn65, VALIDITY, now, &crt), -EINVAL);
        assert_int_equal(ca_make_root(root_key, ROOT_CN, 0, now, &crt), -EINVAL);
        assert_int_equal(ca_make_root(NULL, ROOT_CN, VALIDITY, now, &crt), -EINVAL);
        assert_ptr_equal(crt, (gnutls_x509_crt_t) 0x1);
}

/* ---- leaves ---- */

/* What every end entity carries, issued or self-signed: v3, a serial, the first name as CN, the names as
 * SANs, the usage's EKU, CA:FALSE and no keyCertSign (with CA:TRUE, the service's key could mint
 * certificates that every client trusting this one accepts), the key's id (into ski when not NULL). */
static void check_end_entity(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, KeyType t, Usage usage,
                             char *const *names, uint8_t *ski, size_t *ski_size) {
        assert_int_equal(gnutls_x509_crt_get_version(crt), 3);
        check_serial(crt, NULL);
        check_cn(crt, names[0]);
        assert_sans_equal(crt, NULL, names);
        check_eku(crt, usage);
        check_basic_constraints(crt, false);
        check_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE | (is_rsa(t) ? GNUTLS_KEY_KEY_ENCIPHERMENT : 0));
        check_key_id(crt, key, ski, ski_size);
}

static void check_leaf(gnutls_x509_crt_t leaf, gnutls_x509_crt_t ca, gnutls_x509_privkey_t ca_key,
                       gnutls_x509_privkey_t key, KeyType t, Usage usage, char *const *names) {
        uint8_t ca_ski[64], aki[64];
        size_t ca_ski_size = 0, aki_size = sizeof(aki);
        unsigned critical = 1;

        check_end_entity(leaf, key, t, usage, names, NULL, NULL);
        check_key_id(ca, ca_key, ca_ski, &ca_ski_size);
        assert_int_equal(gnutls_x509_crt_get_authority_key_id(leaf, aki, &aki_size, &critical), 0);
        assert_false(critical);
        assert_int_equal(aki_size, ca_ski_size);
        assert_memory_equal(aki, ca_ski, aki_size);
        assert_true(gnutls_x509_crt_check_issuer(leaf, ca));
        check_verifies(leaf, ca);
}

/* The cross-check with openssl(1) of a leaf (self-signed when ca_path is NULL) written to file: it
 * verifies, and its extensions are a leaf's for its key type and usage. */
static void check_leaf_openssl(gnutls_x509_crt_t crt, const char *file, const char *ca_path, KeyType t, Usage u) {
        _cleanup_free_ char *path = write_crt(crt, file), *ext = NULL;

        openssl_verify(ca_path ?: path, path);
        ext = openssl_ext(path);
        if (!ext)
                return;
        assert_contains(ext, "X509v3 Subject Alternative Name: \n    " LEAF_SAN_OPENSSL "\n");
        assert_contains(ext, "X509v3 Basic Constraints: critical\n    CA:FALSE\n");
        assert_lacks(ext, "CA:TRUE");
        assert_lacks(ext, "Certificate Sign");
        assert_contains(ext, is_rsa(t) ? "X509v3 Key Usage: critical\n    Digital Signature, Key Encipherment\n"
                                       : "X509v3 Key Usage: critical\n    Digital Signature\n");
        check_eku_openssl(ext, u);
}

static void test_issue_each_type_and_usage(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(key_types); i++)
                for (Usage u = 0; u < _USAGE_MAX; u++) {
                        const KeyTypeInfo *kt = &key_types[i];
                        IssueRequest req = { .names = leaf_names, .usage = u, .validity = VALIDITY, .now = now };
                        _cleanup_x509_crt_ gnutls_x509_crt_t leaf = NULL;
                        char file[64];

                        print_message("%s %s\n", kt->name, usage_names[u]);
                        assert_int_equal(ca_issue(root, root_key, keys[kt->type], &req, &leaf), 0);
                        check_leaf(leaf, root, root_key, keys[kt->type], kt->type, u, leaf_names);
                        assert_int_equal(gnutls_x509_crt_get_signature_algorithm(leaf), GNUTLS_SIGN_ECDSA_SHA256);
                        assert_int_equal(gnutls_x509_crt_get_activation_time(leaf),
                                         (time_t) ((now - USEC_PER_HOUR) / USEC_PER_SEC));
                        assert_int_equal(gnutls_x509_crt_get_expiration_time(leaf),
                                         (time_t) ((now + VALIDITY) / USEC_PER_SEC));
                        inspect_clean(leaf, keys[kt->type], root, leaf_names, u, kt->name);
                        inspect_clean_full(leaf, keys[kt->type], root, leaf_names, u, kt->name, true);

                        snprintf(file, sizeof(file), "leaf-%s-%s.pem", kt->name, usage_names[u]);
                        check_leaf_openssl(leaf, file, root_pem_path, kt->type, u);
                }
}

/* A CA of every key type signs a leaf: the signature algorithm follows the CA key. */
static void test_roots_of_each_type(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(key_types); i++) {
                const KeyTypeInfo *kt = &key_types[i];
                IssueRequest req = { .names = leaf_names, .usage = USAGE_SERVER, .validity = VALIDITY, .now = now };
                _cleanup_x509_crt_ gnutls_x509_crt_t ca = NULL, leaf = NULL;
                _cleanup_free_ char *ca_path = NULL, *leaf_path = NULL;
                gnutls_x509_privkey_t ca_key = keys[kt->type], leaf_key = root_key; /* P-256, not any CA's key */
                gnutls_sign_algorithm_t expect;
                char file[64];

                print_message("CA %s\n", kt->name);
                assert_int_equal(ca_make_root(ca_key, ROOT_CN, 10 * USEC_PER_YEAR, now, &ca), 0);
                assert_int_equal(ca_issue(ca, ca_key, leaf_key, &req, &leaf), 0);
                check_leaf(leaf, ca, ca_key, leaf_key, KEY_TYPE_EC_P256, USAGE_SERVER, leaf_names);

                expect = kt->type == KEY_TYPE_ED25519   ? GNUTLS_SIGN_EDDSA_ED25519
                         : kt->type == KEY_TYPE_EC_P384 ? GNUTLS_SIGN_ECDSA_SHA384
                         : kt->type == KEY_TYPE_EC_P256 ? GNUTLS_SIGN_ECDSA_SHA256
                                                        : GNUTLS_SIGN_RSA_SHA256;
                assert_int_equal(gnutls_x509_crt_get_signature_algorithm(ca), expect);
                assert_int_equal(gnutls_x509_crt_get_signature_algorithm(leaf), expect);
                inspect_clean(leaf, leaf_key, ca, leaf_names, USAGE_SERVER, "ec-p256");

                snprintf(file, sizeof(file), "ca-%s.pem", kt->name);
                ca_path = write_crt(ca, file);
                snprintf(file, sizeof(file), "leaf-by-%s.pem", kt->name);
                leaf_path = write_crt(leaf, file);
                openssl_verify(ca_path, leaf_path);
        }
}

/* Leaves of one CA differ in serial; every serial is positive and ≥ 64 bits. */
static void test_serials(void **state) {
        uint8_t serials[16][16];

        for (size_t i = 0; i < ELEMENTSOF(serials); i++) {
                IssueRequest req = { .names = leaf_names, .usage = USAGE_SERVER, .validity = VALIDITY, .now = now };
                _cleanup_x509_crt_ gnutls_x509_crt_t leaf = NULL;

                assert_int_equal(ca_issue(root, root_key, keys[KEY_TYPE_EC_P256], &req, &leaf), 0);
                check_serial(leaf, serials[i]);
                for (size_t j = 0; j < i; j++)
                        assert_memory_not_equal(serials[i], serials[j], 16);
        }
}

static void test_clamp_to_ca(void **state) {
        IssueRequest req = { .names = leaf_names, .usage = USAGE_SERVER, .validity = VALIDITY, .now = now };
        _cleanup_x509_crt_ gnutls_x509_crt_t ca = NULL, leaf = NULL, young = NULL, leaf2 = NULL;
        _cleanup_free_ char *ca_path = NULL, *leaf_path = NULL;

        /* A CA with 10 days left: a 90-day leaf ends with it. */
        assert_int_equal(ca_make_root(root_key, ROOT_CN, 10 * USEC_PER_DAY, now, &ca), 0);
        assert_int_equal(ca_issue(ca, root_key, keys[KEY_TYPE_EC_P256], &req, &leaf), 0);
        assert_int_equal(gnutls_x509_crt_get_expiration_time(leaf), gnutls_x509_crt_get_expiration_time(ca));
        assert_int_equal(gnutls_x509_crt_get_activation_time(leaf), (time_t) ((now - USEC_PER_HOUR) / USEC_PER_SEC));
        check_verifies(leaf, ca);
        ca_path = write_crt(ca, "short-ca.pem");
        leaf_path = write_crt(leaf, "clamped.pem");
        openssl_verify(ca_path, leaf_path);

        /* A CA made half an hour from now (so valid since 30 minutes ago): the backdate stops at its
         * not_before. */
        assert_int_equal(ca_make_root(root_key, ROOT_CN, 10 * USEC_PER_YEAR, now + 30 * USEC_PER_MINUTE, &young), 0);
        assert_int_equal(ca_issue(young, root_key, keys[KEY_TYPE_EC_P256], &req, &leaf2), 0);
        assert_int_equal(gnutls_x509_crt_get_activation_time(leaf2), gnutls_x509_crt_get_activation_time(young));
        assert_int_equal(gnutls_x509_crt_get_expiration_time(leaf2), (time_t) ((now + VALIDITY) / USEC_PER_SEC));
        check_verifies(leaf2, young);
}

static void test_ca_not_valid_now(void **state) {
        IssueRequest req = { .names = leaf_names, .usage = USAGE_SERVER, .validity = VALIDITY, .now = now };
        _cleanup_x509_crt_ gnutls_x509_crt_t expired = NULL, future = NULL;
        gnutls_x509_crt_t leaf = (gnutls_x509_crt_t) 0x1;

        /* Valid for 10 days from 20 days ago. */
        assert_int_equal(ca_make_root(root_key, ROOT_CN, 10 * USEC_PER_DAY, now - 20 * USEC_PER_DAY, &expired), 0);
        assert_int_equal(ca_issue(expired, root_key, keys[KEY_TYPE_EC_P256], &req, &leaf), -EINVAL);
        /* Valid from (two days minus the backdate) from now. */
        assert_int_equal(ca_make_root(root_key, ROOT_CN, 10 * USEC_PER_YEAR, now + 2 * USEC_PER_DAY, &future), 0);
        assert_int_equal(ca_issue(future, root_key, keys[KEY_TYPE_EC_P256], &req, &leaf), -EINVAL);
        /* The last second of the CA's life is the first it cannot issue in. */
        req.now = (usec_t) gnutls_x509_crt_get_expiration_time(root) * USEC_PER_SEC;
        assert_int_equal(ca_issue(root, root_key, keys[KEY_TYPE_EC_P256], &req, &leaf), -EINVAL);
        assert_ptr_equal(leaf, (gnutls_x509_crt_t) 0x1);
}

static void test_issue_bad_ca(void **state) {
        IssueRequest req = { .names = leaf_names, .usage = USAGE_SERVER, .validity = VALIDITY, .now = now };
        _cleanup_x509_crt_ gnutls_x509_crt_t leaf = NULL;
        gnutls_x509_crt_t out = (gnutls_x509_crt_t) 0x1;

        /* The CA certificate with another key than its own. */
        assert_int_equal(ca_issue(root, keys[KEY_TYPE_EC_P256], keys[KEY_TYPE_EC_P256], &req, &out), -EINVAL);
        /* A leaf (CA:false) as the CA. */
        assert_int_equal(ca_issue(root, root_key, keys[KEY_TYPE_EC_P384], &req, &leaf), 0);
        assert_int_equal(ca_issue(leaf, keys[KEY_TYPE_EC_P384], keys[KEY_TYPE_EC_P256], &req, &out), -EINVAL);
        assert_ptr_equal(out, (gnutls_x509_crt_t) 0x1);
}

static void test_bad_requests(void **state) {
        _cleanup_free_ char *long_name = NULL;
        char *none[] = { NULL };
        char *lists[][3] = {
                { "bad_name!", NULL },
                { "", NULL },
                { "-x.com", NULL },
                { "ok.example.com", "under_score.example.com", NULL },
                { "ok.example.com", "256.0.0.1", NULL },
                { NULL, NULL }, /* the 300-byte name, below */
                { NULL, NULL }, /* no names at all */
        };
        gnutls_x509_crt_t out = (gnutls_x509_crt_t) 0x1;
        IssueRequest req = { .usage = USAGE_SERVER, .validity = VALIDITY, .now = now };

        long_name = malloc(301);
        assert_non_null(long_name);
        memset(long_name, 'a', 300);
        for (size_t i = 50; i < 300; i += 51)
                long_name[i] = '.';
        long_name[300] = 0;
        lists[5][0] = long_name;

        for (size_t i = 0; i < ELEMENTSOF(lists); i++) {
                req.names = lists[i];
                assert_int_equal(ca_issue(root, root_key, keys[KEY_TYPE_EC_P256], &req, &out), -EINVAL);
                assert_int_equal(ca_self_sign(keys[KEY_TYPE_EC_P256], &req, &out), -EINVAL);
        }
        req.names = none;
        assert_int_equal(ca_issue(root, root_key, keys[KEY_TYPE_EC_P256], &req, &out), -EINVAL);
        req.names = NULL;
        assert_int_equal(ca_issue(root, root_key, keys[KEY_TYPE_EC_P256], &req, &out), -EINVAL);

        req.names = leaf_names;
        req.validity = 0;
        assert_int_equal(ca_issue(root, root_key, keys[KEY_TYPE_EC_P256], &req, &out), -EINVAL);
        assert_int_equal(ca_self_sign(keys[KEY_TYPE_EC_P256], &req, &out), -EINVAL);
        req.validity = VALIDITY;
        req.usage = _USAGE_MAX;
        assert_int_equal(ca_issue(root, root_key, keys[KEY_TYPE_EC_P256], &req, &out), -EINVAL);
        assert_int_equal(ca_issue(root, root_key, keys[KEY_TYPE_EC_P256], NULL, &out), -EINVAL);
        assert_ptr_equal(out, (gnutls_x509_crt_t) 0x1);
}

/* A first name longer than a CN may be: the subject is empty and the SAN extension critical; the leaf is
 * still valid for every verifier and for the inspector. */
static void test_long_first_name(void **state) {
        char *names[] = { "abcdefghijklmnopqrstuvwxyz0123456789.abcdefghijklmnopqrstuvwxyz.example", "short.example",
                          NULL };
        IssueRequest req = { .names = names, .usage = USAGE_SERVER, .validity = VALIDITY, .now = now };
        _cleanup_x509_crt_ gnutls_x509_crt_t leaf = NULL;
        _cleanup_free_ char *path = NULL, *ext = NULL;
        _cleanup_datum_ gnutls_datum_t san = {};
        char buf[512];
        size_t size = sizeof(buf);
        unsigned critical = 0;

        assert_int_equal(ca_issue(root, root_key, keys[KEY_TYPE_EC_P256], &req, &leaf), 0);
        /* (gnutls_x509_crt_get_subject_alt_name() does not report criticality: ask for the extension.) */
        assert_int_equal(gnutls_x509_crt_get_extension_by_oid2(leaf, "2.5.29.17", 0, &san, &critical), 0);
        assert_true(critical);
        assert_int_equal(gnutls_x509_crt_get_dn_by_oid(leaf, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &size),
                         GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE);
        assert_sans_equal(leaf, NULL, names);
        check_verifies(leaf, root);
        inspect_clean(leaf, keys[KEY_TYPE_EC_P256], root, names, USAGE_SERVER, "ec-p256");

        path = write_crt(leaf, "long-name.pem");
        openssl_verify(root_pem_path, path);
        ext = openssl_ext(path);
        if (ext)
                assert_contains(ext, "X509v3 Subject Alternative Name: critical\n");
}

/* ---- self-signed ---- */

static void test_self_sign(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(key_types); i++) {
                const KeyTypeInfo *kt = &key_types[i];
                Usage u = (Usage) (i % _USAGE_MAX);
                IssueRequest req = { .names = leaf_names, .usage = u, .validity = VALIDITY, .now = now };
                _cleanup_x509_crt_ gnutls_x509_crt_t self = NULL;
                uint8_t ski[64], aki[64];
                size_t ski_size = 0, aki_size = sizeof(aki);
                unsigned critical;
                char file[64];

                print_message("%s %s\n", kt->name, usage_names[u]);
                assert_int_equal(ca_self_sign(keys[kt->type], &req, &self), 0);
                check_end_entity(self, keys[kt->type], kt->type, u, leaf_names, ski, &ski_size);
                if (gnutls_x509_crt_get_authority_key_id(self, aki, &aki_size, &critical) >= 0) {
                        assert_int_equal(aki_size, ski_size);
                        assert_memory_equal(aki, ski, ski_size);
                }
                assert_int_equal(gnutls_x509_crt_get_activation_time(self),
                                 (time_t) ((now - USEC_PER_HOUR) / USEC_PER_SEC));
                assert_int_equal(gnutls_x509_crt_get_expiration_time(self), (time_t) ((now + VALIDITY) / USEC_PER_SEC));
                assert_true(gnutls_x509_crt_check_issuer(self, self));
                check_verifies(self, self);
                inspect_clean(self, keys[kt->type], self, leaf_names, u, kt->name);

                snprintf(file, sizeof(file), "self-%s.pem", kt->name);
                check_leaf_openssl(self, file, NULL, kt->type, u);
        }
}

/* ---- setup ---- */

/* ca_make_ca signs through abstract keys (a CA key may be in a token); these borrow the x509 key. */
static gnutls_privkey_t priv_of(gnutls_x509_privkey_t x) {
        gnutls_privkey_t p = NULL;

        assert_int_equal(gnutls_privkey_init(&p), 0);
        assert_int_equal(gnutls_privkey_import_x509(p, x, 0), 0);
        return p;
}

/* [ca] subject: the CA certificate (and a CA's request) carries the operator's DN, and the leaves it
 * signs name it as their issuer; an invalid subject is refused. */
static void test_ca_subject(void **state) {
        char *names[] = { "api.internal.example", NULL };
        _cleanup_x509_crt_ gnutls_x509_crt_t root1 = NULL, leaf = NULL, bad = NULL;
        _cleanup_x509_privkey_ gnutls_x509_privkey_t key1 = NULL;
        _cleanup_privkey_ gnutls_privkey_t priv1 = NULL; /* borrows key1 */
        _cleanup_x509_crq_ gnutls_x509_crq_t crq = NULL;
        _cleanup_datum_ gnutls_datum_t dn = {}, issuer = {}, csr = {};
        CaParams p = { .common_name = "certherd x CA", .subject = "CN=Example Root, O=Example Corp, C=DE",
                       .validity = 10 * USEC_PER_YEAR, .now = now };
        IssueRequest req = { .names = names, .usage = USAGE_SERVER, .validity = VALIDITY, .now = now };

        assert_int_equal(keygen_generate(KEY_TYPE_EC_P256, &key1), 0);
        priv1 = priv_of(key1);
        assert_int_equal(ca_make_ca(priv1, &p, NULL, NULL, &root1), 0);
        assert_int_equal(gnutls_x509_crt_get_dn3(root1, &dn, 0), 0);
        assert_string_equal((char *) dn.data, "CN=Example Root,O=Example Corp,C=DE");
        assert_int_equal(ca_issue(root1, key1, keys[KEY_TYPE_EC_P256], &req, &leaf), 0);
        assert_int_equal(gnutls_x509_crt_get_issuer_dn3(leaf, &issuer, 0), 0);
        assert_string_equal((char *) issuer.data, "CN=Example Root,O=Example Corp,C=DE");
        /* the request of ca init --csr too */
        assert_int_equal(ca_make_csr(priv1, &p, &csr), 0);
        assert_int_equal(gnutls_x509_crq_init(&crq), 0);
        assert_int_equal(gnutls_x509_crq_import(crq, &csr, GNUTLS_X509_FMT_PEM), 0);
        gnutls_free(dn.data);
        dn = (gnutls_datum_t) {};
        assert_int_equal(gnutls_x509_crq_get_dn3(crq, &dn, 0), 0);
        assert_string_equal((char *) dn.data, "CN=Example Root,O=Example Corp,C=DE");
        p.subject = "XX=nope";
        assert_true(ca_make_ca(priv1, &p, NULL, NULL, &bad) < 0);
        assert_null(bad);
}

/* An intermediate with path length and name constraints; its leaves chain to the root and
 * names outside the constraints are refused (-EPERM), as a verifier would refuse them. */
static void test_intermediate_constraints(void **state) {
        char *permitted[] = { ".internal.example", "10.0.0.0/8", NULL };
        char *inside[] = { "api.internal.example", "10.1.2.3", "uri:spiffe://internal.example/x", NULL };
        char *outside[] = { "api.internal.example", "www.example.com", NULL };
        char *outside_ip[] = { "192.168.1.1", NULL };
        _cleanup_x509_crt_ gnutls_x509_crt_t inter = NULL, leaf = NULL, out = NULL, root1 = NULL;
        _cleanup_x509_privkey_ gnutls_x509_privkey_t inter_key = NULL, key1 = NULL;
        _cleanup_privkey_ gnutls_privkey_t inter_priv = NULL, priv1 = NULL; /* borrow the two above */
        unsigned critical = 0, ca = 0, status = 1;
        int pathlen = -2;
        gnutls_x509_crt_t chain[2];
        IssueRequest req = { .names = inside, .usage = USAGE_CLIENT, .validity = VALIDITY, .now = now,
                             .subject = "CN=client, O=Example" };
        char buf[256];
        size_t size = sizeof(buf);

        assert_int_equal(keygen_generate(KEY_TYPE_EC_P256, &key1), 0);
        priv1 = priv_of(key1);
        assert_int_equal(ca_make_ca(priv1, &(CaParams) { .common_name = "root1", .validity = 10 * USEC_PER_YEAR,
                                                        .now = now, .path_length = 1 },
                                    NULL, NULL, &root1),
                         0);
        assert_int_equal(keygen_generate(KEY_TYPE_EC_P256, &inter_key), 0);
        inter_priv = priv_of(inter_key);
        assert_int_equal(ca_make_ca(inter_priv,
                                    &(CaParams) { .common_name = "issuing", .validity = 20 * USEC_PER_YEAR, .now = now,
                                                  .path_length = 0, .permitted = permitted },
                                    root1, priv1, &inter),
                         0);
        assert_int_equal(gnutls_x509_crt_get_basic_constraints(inter, &critical, &ca, &pathlen), 1);
        assert_true(critical && ca && pathlen == 0);
        /* never outlives its parent */
        assert_true(gnutls_x509_crt_get_expiration_time(inter) <= gnutls_x509_crt_get_expiration_time(root1));
        assert_int_equal(gnutls_x509_crt_verify(inter, &root1, 1, 0, &status), 0);
        assert_int_equal(status, 0);

        assert_int_equal(ca_issue(inter, inter_key, keys[KEY_TYPE_EC_P256], &req, &leaf), 0);
        assert_int_equal(gnutls_x509_crt_get_dn_by_oid(leaf, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, 0, buf, &size), 0);
        assert_string_equal(buf, "Example");
        chain[0] = leaf;
        chain[1] = inter;
        status = 1;
        assert_int_equal(gnutls_x509_crt_list_verify(chain, 2, &root1, 1, NULL, 0, 0, &status), 0);
        assert_int_equal(status, 0);

        req.names = outside;
        assert_int_equal(ca_issue(inter, inter_key, keys[KEY_TYPE_EC_P256], &req, &out), -EPERM);
        req.names = outside_ip;
        assert_int_equal(ca_issue(inter, inter_key, keys[KEY_TYPE_EC_P256], &req, &out), -EPERM);
        assert_null(out);
        /* a parent without its key, or a key that is not the parent's */
        assert_int_equal(ca_make_ca(inter_priv, &(CaParams) { .common_name = "x", .validity = VALIDITY, .now = now },
                                    root1, NULL, &out),
                         -EINVAL);
        assert_int_equal(ca_make_ca(inter_priv, &(CaParams) { .common_name = "x", .validity = VALIDITY, .now = now },
                                    root1, inter_priv, &out),
                         -EINVAL);
}

static int group_setup(void **state) {
        _cleanup_datum_ gnutls_datum_t pem = {};

        now = now_realtime();
        if (keys_generate_each(keys) < 0)
                return -1;
        if (keygen_generate(KEY_TYPE_EC_P256, &root_key) < 0)
                return -1;
        if (ca_make_root(root_key, ROOT_CN, 10 * USEC_PER_YEAR, now, &root) < 0)
                return -1;

        tmpdir = scratch_dir("test-ca");
        if (!tmpdir || asprintf(&root_pem_path, "%s/root.pem", tmpdir) < 0)
                return -1;
        if (ca_export_pem(root, &pem) < 0)
                return -1;
        write_file(root_pem_path, pem.data, pem.size);

        have_openssl = have_openssl_cli();
        if (!have_openssl)
                print_message("openssl(1) not found: skipping the OpenSSL cross-checks\n");
        return 0;
}

static int group_teardown(void **state) {
        keys_free_each(keys);
        if (root_key)
                gnutls_x509_privkey_deinit(root_key);
        if (root)
                gnutls_x509_crt_deinit(root);
        if (tmpdir)
                rm_rf(tmpdir);
        free(tmpdir);
        free(root_pem_path);
        return 0;
}

TEST_MAIN_GROUP(group_setup,
                group_teardown,
                cmocka_unit_test(test_root),
                cmocka_unit_test(test_root_bad_arguments),
                cmocka_unit_test(test_issue_each_type_and_usage),
                cmocka_unit_test(test_roots_of_each_type),
                cmocka_unit_test(test_serials),
                cmocka_unit_test(test_clamp_to_ca),
                cmocka_unit_test(test_ca_not_valid_now),
                cmocka_unit_test(test_issue_bad_ca),
                cmocka_unit_test(test_bad_requests),
                cmocka_unit_test(test_long_first_name),
                cmocka_unit_test(test_self_sign),
                cmocka_unit_test(test_intermediate_constraints),
                cmocka_unit_test(test_ca_subject))
