/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fd-util.h"
#include "gnutls-util.h"
#include "keygen.h"
#include "outputs.h"
#include "x509.h"
#include "test-fs.h"

/* The further outputs of a set (chain, leaf, combined, PKCS#12) built from the fixtures' leaf + intermediate chain (ok-chain) and
 * inspected back: each output holds exactly its part of one generation, the PKCS#12 file opens with its
 * password only, and a stale, missing or damaged output is a problem naming it. */

#define PASSWORD "correct horse battery staple"

typedef struct Fixture {
        char dir[PATH_MAX];
        uint8_t *chain, *key;
        size_t chain_size, key_size;
        CertConfig c;
        CertExtra x; /* c's */
} Fixture;

static uint8_t *read_fixture(const char *name, size_t *ret_size) {
        const char *dir = getenv("CERTHERD_FIXTURES");
        _cleanup_free_ char *p = NULL;
        uint8_t *data = NULL;

        assert_non_null(dir);
        p = pathf("%s/%s", dir, name);
        if (read_full_file(p, 1 << 20, &data, ret_size) < 0)
                fail_msg("cannot read fixture %s (run the gen-fixtures test first)", p);
        return data;
}

static void write_file(const char *path, const void *data, size_t size) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, size), (ssize_t) size);
        assert_int_equal(close(fd), 0);
}

static int setup(void **state) {
        const char *tmp = getenv("TMPDIR");
        Fixture *fx = calloc(1, sizeof(*fx));

        assert_non_null(fx);
        snprintf(fx->dir, sizeof(fx->dir), "%s/certherd-test-outputs-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        assert_non_null(mkdtemp(fx->dir));
        fx->chain = read_fixture("ok-chain.crt", &fx->chain_size);
        fx->key = read_fixture("ok-chain.key", &fx->key_size);
        fx->x = (CertExtra) {
                .chain = pathf("%s/chain.pem", fx->dir),
                .leaf = pathf("%s/cert.pem", fx->dir),
                .combined = pathf("%s/combined.pem", fx->dir),
                .pkcs12 = pathf("%s/web.p12", fx->dir),
                .pkcs12_password_file = pathf("%s/p12pass", fx->dir),
        };
        fx->c = (CertConfig) {
                .name = "web",
                .certificate = pathf("%s/web.crt", fx->dir),
                .key = pathf("%s/web.key", fx->dir),
                .x = &fx->x,
        };
        write_file(fx->c.certificate, fx->chain, fx->chain_size);
        write_file(fx->c.key, fx->key, fx->key_size);
        write_file(fx->c.x->pkcs12_password_file, PASSWORD "\n", strlen(PASSWORD "\n"));
        *state = fx;
        return 0;
}

static int teardown(void **state) {
        Fixture *fx = *state;

        rm_rf(fx->dir);
        free(fx->chain);
        free(fx->key);
        free(fx->c.certificate);
        free(fx->c.key);
        free(fx->x.chain);
        free(fx->x.leaf);
        free(fx->x.combined);
        free(fx->x.pkcs12);
        free(fx->x.pkcs12_password_file);
        free(fx);
        return 0;
}

static void load_crts(const gnutls_datum_t *d, gnutls_x509_crt_t **ret, unsigned *ret_n) {
        assert_int_equal(x509_load_crts(d->data, d->size, ret, ret_n), 0);
}

static void build(Fixture *fx, OutputFiles *o) {
        _cleanup_x509_privkey_ gnutls_x509_privkey_t key = NULL;

        assert_int_equal(x509_load_privkey(fx->key, fx->key_size, NULL, &key), 0);
        assert_int_equal(outputs_build(&fx->c, fx->chain, fx->chain_size, key, fx->key, fx->key_size, PASSWORD, o), 0);
}

static void test_build(void **state) {
        Fixture *fx = *state;
        _cleanup_(output_files_done) OutputFiles o = {};
        _cleanup_x509_privkey_ gnutls_x509_privkey_t p12_key = NULL;
        gnutls_x509_crt_t *all = NULL, *chain = NULL, *leaf = NULL, *comb = NULL, *p12 = NULL, *bad = NULL;
        unsigned n_all = 0, n_chain = 0, n_leaf = 0, n_comb = 0, n_p12 = 0, n_bad = 0;
        gnutls_x509_privkey_t no_key = NULL;

        build(fx, &o);
        assert_int_equal(x509_load_crts(fx->chain, fx->chain_size, &all, &n_all), 0);
        assert_int_equal(n_all, 2);

        load_crts(&o.chain, &chain, &n_chain);
        assert_int_equal(n_chain, 1);
        assert_true(gnutls_x509_crt_equals(chain[0], all[1]));
        load_crts(&o.leaf, &leaf, &n_leaf);
        assert_int_equal(n_leaf, 1);
        assert_true(gnutls_x509_crt_equals(leaf[0], all[0]));

        /* combined: the key file's bytes first, then leaf and chain. */
        assert_true(o.combined.size > fx->key_size);
        assert_memory_equal(o.combined.data, fx->key, fx->key_size);
        load_crts(&o.combined, &comb, &n_comb);
        assert_int_equal(n_comb, 2);
        assert_true(gnutls_x509_crt_equals(comb[0], all[0]) && gnutls_x509_crt_equals(comb[1], all[1]));

        assert_int_equal(outputs_pkcs12_parse(o.pkcs12.data, o.pkcs12.size, PASSWORD, &p12_key, &p12, &n_p12), 0);
        assert_int_equal(n_p12, 2);
        assert_true(gnutls_x509_crt_equals(p12[0], all[0]) && gnutls_x509_crt_equals(p12[1], all[1]));
        assert_int_equal(outputs_pkcs12_parse(o.pkcs12.data, o.pkcs12.size, "wrong", &no_key, &bad, &n_bad), -EACCES);
        assert_int_equal(outputs_pkcs12_parse(o.leaf.data, o.leaf.size, PASSWORD, &no_key, &bad, &n_bad), -EBADMSG);
        assert_null(no_key);

        x509_crts_free(all, n_all);
        x509_crts_free(chain, n_chain);
        x509_crts_free(leaf, n_leaf);
        x509_crts_free(comb, n_comb);
        x509_crts_free(p12, n_p12);
}

/* A leaf without intermediates (issuer = self, an internal CA): the chain output is there, and empty. */
static void test_build_no_intermediates(void **state) {
        Fixture *fx = *state;
        _cleanup_(output_files_done) OutputFiles o = {};
        _cleanup_free_ uint8_t *leaf = NULL;
        size_t leaf_size;
        CertConfig c = { .name = "web", .x = &(CertExtra) { .chain = fx->x.chain, .leaf = fx->x.leaf } };

        leaf = read_fixture("ok.crt", &leaf_size);
        assert_int_equal(outputs_build(&c, leaf, leaf_size, NULL, NULL, 0, NULL, &o), 0);
        assert_non_null(o.chain.data);
        assert_int_equal(o.chain.size, 0);
        assert_non_null(o.leaf.data);
        assert_null(o.combined.data);
        assert_null(o.pkcs12.data);
        /* No certificate at all: refused. */
        output_files_done(&o);
        assert_int_equal(outputs_build(&c, (const uint8_t *) "x", 1, NULL, NULL, 0, NULL, &o), -EBADMSG);
}

static CertFacts *inspect(Fixture *fx) {
        X509Input in = {
                .cert_path = fx->c.certificate, .cert_data = fx->chain, .cert_size = fx->chain_size,
                .key_path = fx->c.key, .key_data = fx->key, .key_size = fx->key_size, .key_mode = (mode_t) -1,
        };
        CertFacts *f = NULL;

        assert_int_equal(x509_inspect(&in, 0, &f), 0);
        /* Only what outputs_inspect adds counts here. */
        for (size_t i = 0; i < f->n_problems; i++)
                free(f->problems[i].message);
        f->n_problems = 0;
        f->state = SEVERITY_OK;
        assert_int_equal(outputs_inspect(&fx->c, fx->chain, fx->chain_size, NULL, f), 0);
        return f;
}

static bool has_problem(const CertFacts *f, ProblemCode code, const char *path) {
        for (size_t i = 0; i < f->n_problems; i++)
                if (f->problems[i].code == code && strstr(f->problems[i].message, path))
                        return true;
        return false;
}

static void test_inspect(void **state) {
        Fixture *fx = *state;
        _cleanup_(output_files_done) OutputFiles o = {};
        CertFacts *f;

        build(fx, &o);
        write_file(fx->c.x->chain, o.chain.data, o.chain.size);
        write_file(fx->c.x->leaf, o.leaf.data, o.leaf.size);
        write_file(fx->c.x->combined, o.combined.data, o.combined.size);
        write_file(fx->c.x->pkcs12, o.pkcs12.data, o.pkcs12.size);
        f = inspect(fx);
        assert_int_equal(f->n_problems, 0);
        cert_facts_free(f);

        /* What holds the key is held to the key's rule: group- or world-readable is key-permissions. */
        assert_int_equal(chmod(fx->c.x->combined, 0644), 0);
        assert_int_equal(chmod(fx->c.x->leaf, 0644), 0);
        f = inspect(fx);
        assert_int_equal(f->n_problems, 1);
        assert_true(has_problem(f, PROBLEM_KEY_PERMISSIONS, fx->c.x->combined));
        assert_int_equal(f->state, SEVERITY_WARNING);
        cert_facts_free(f);
        fx->c.mode_set = true;
        fx->c.mode = 0640;
        assert_int_equal(chmod(fx->c.x->combined, 0640), 0);
        f = inspect(fx);
        assert_int_equal(f->n_problems, 0);
        cert_facts_free(f);
        fx->c.mode_set = false;
        assert_int_equal(chmod(fx->c.x->combined, 0600), 0);

        /* Another generation's leaf, no chain, a combined file with the certificates only, a PKCS#12 file
         * whose password changed: each a problem naming its file. */
        write_file(fx->c.x->leaf, o.chain.data, o.chain.size);
        assert_int_equal(unlink(fx->c.x->chain), 0);
        write_file(fx->c.x->combined, o.leaf.data, o.leaf.size);
        write_file(fx->c.x->pkcs12_password_file, "other\n", 6);
        f = inspect(fx);
        assert_int_equal(f->n_problems, 4);
        assert_true(has_problem(f, PROBLEM_KEY_MISMATCH, fx->c.x->leaf));
        assert_true(has_problem(f, PROBLEM_UNREADABLE, fx->c.x->chain));
        assert_true(has_problem(f, PROBLEM_MALFORMED, fx->c.x->combined));
        assert_true(has_problem(f, PROBLEM_MALFORMED, fx->c.x->pkcs12));
        assert_int_equal(f->state, SEVERITY_CRITICAL);
        cert_facts_free(f);

        /* A combined file with another key: key-mismatch. */
        {
                _cleanup_x509_privkey_ gnutls_x509_privkey_t other = NULL;
                _cleanup_datum_ gnutls_datum_t pem = {};
                _cleanup_free_ char *text = NULL;

                assert_int_equal(keygen_generate(KEY_TYPE_EC_P256, &other), 0);
                assert_int_equal(keygen_export_pem(other, &pem), 0);
                text = pathf("%.*s%.*s", (int) pem.size, (const char *) pem.data, (int) (o.combined.size - fx->key_size),
                             (const char *) o.combined.data + fx->key_size);
                write_file(fx->c.x->combined, text, strlen(text));
        }
        write_file(fx->c.x->pkcs12_password_file, PASSWORD, strlen(PASSWORD));
        write_file(fx->c.x->chain, o.chain.data, o.chain.size);
        write_file(fx->c.x->leaf, o.leaf.data, o.leaf.size);
        f = inspect(fx);
        assert_int_equal(f->n_problems, 1);
        assert_true(has_problem(f, PROBLEM_KEY_MISMATCH, fx->c.x->combined));
        cert_facts_free(f);
}

TEST_MAIN(cmocka_unit_test_setup_teardown(test_build, setup, teardown),
          cmocka_unit_test_setup_teardown(test_build_no_intermediates, setup, teardown),
          cmocka_unit_test_setup_teardown(test_inspect, setup, teardown))
