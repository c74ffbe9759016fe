/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The facts store: a stored copy reads like the facts it was made from, shares the strings many sets
 * repeat, and gives its memory back when the copies are dropped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "facts-store.h"

/* Loose facts, as x509_inspect() returns them: parsed, issuer as given, two names, problems as given. */
static CertFacts *facts_make(const char *cn, const char *issuer, unsigned n_problems) {
        CertFacts *f = calloc(1, sizeof(CertFacts));
        char *names[3] = {};

        assert_non_null(f);
        assert_int_not_equal(asprintf(&f->subject, "CN=%s", cn), -1);
        assert_non_null(f->issuer = strdup(issuer));
        assert_non_null(f->serial = strdup("1ce7c0ffee000001"));
        assert_non_null(f->key_type = strdup("ec-p256"));
        assert_non_null(names[0] = strdup(cn));
        assert_int_not_equal(asprintf(&names[1], "www.%s", cn), -1);
        assert_non_null(f->names = calloc(3, sizeof(char *)));
        memcpy(f->names, names, sizeof(names));
        f->not_before = 1000;
        f->not_after = 2000;
        f->days_left = -3;
        memset(f->pin, 0xa5, PIN_SIZE);
        f->has_pin = true;
        f->parsed = true;
        for (unsigned i = 0; i < n_problems; i++)
                assert_int_equal(cert_facts_add_problem(f, i % 2 ? PROBLEM_EXPIRED : PROBLEM_KEY_PERMISSIONS,
                                                        "problem %u of %s", i, cn),
                                 0);
        return f;
}

static void assert_same(const CertFacts *a, const CertFacts *b) {
        assert_string_equal(a->subject, b->subject);
        assert_string_equal(a->issuer, b->issuer);
        assert_string_equal(a->serial, b->serial);
        assert_string_equal(a->key_type, b->key_type);
        for (size_t i = 0; a->names[i] || b->names[i]; i++) {
                assert_non_null(a->names[i]);
                assert_non_null(b->names[i]);
                assert_string_equal(a->names[i], b->names[i]);
        }
        assert_true(a->not_before == b->not_before && a->not_after == b->not_after);
        assert_true(a->days_left == b->days_left);
        assert_memory_equal(a->pin, b->pin, PIN_SIZE);
        assert_int_equal(a->n_problems, b->n_problems);
        for (size_t i = 0; i < a->n_problems; i++) {
                assert_int_equal(a->problems[i].code, b->problems[i].code);
                assert_int_equal(a->problems[i].severity, b->problems[i].severity);
                assert_string_equal(a->problems[i].message, b->problems[i].message);
        }
        assert_int_equal(a->state, b->state);
        assert_true(a->parsed == b->parsed && a->has_pin == b->has_pin);
        assert_true(a->key_compromised == b->key_compromised);
}

static void test_copy(_unused_ void **state) {
        _cleanup_(facts_store_freep) FactsStore *s = NULL;
        _cleanup_cert_facts_ CertFacts *a = facts_make("a.example", "CN=Some CA,O=Example", 3);
        _cleanup_cert_facts_ CertFacts *b = facts_make("b.example", "CN=Some CA,O=Example", 0);
        _cleanup_cert_facts_ CertFacts *self = facts_make("self.example", "CN=self.example", 1);
        CertFacts *sa, *sb, *sself, *again;

        assert_int_equal(facts_store_new(&s), 0);
        assert_non_null(sa = facts_store_add(s, a, NULL));
        assert_non_null(sb = facts_store_add(s, b, NULL));
        assert_non_null(sself = facts_store_add(s, self, NULL));
        assert_true(sa->stored && sb->stored && !a->stored);
        assert_same(sa, a);
        assert_same(sb, b);
        assert_same(sself, self);
        assert_null(sb->problems);
        /* The loose facts are untouched: their strings are not the store's. */
        assert_ptr_not_equal(sa->subject, a->subject);
        assert_ptr_not_equal(sa->names, a->names);
        /* Kept once: the issuer and key type the sets repeat; a self-signed issuer is its subject. */
        assert_ptr_equal(sa->issuer, sb->issuer);
        assert_ptr_equal(sa->key_type, sb->key_type);
        assert_ptr_equal(sself->issuer, sself->subject);
        /* A copy of a stored copy (a repack) reads the same. */
        assert_non_null(again = facts_store_add(s, sa, NULL));
        assert_same(again, a);
        facts_store_drop(s, again);
        /* The set's configured names, when the certificate names the same: not copied. */
        char *same[] = { (char *) "a.example", (char *) "www.a.example", NULL };
        char *other[] = { (char *) "www.a.example", (char *) "a.example", NULL };
        assert_non_null(again = facts_store_add(s, a, same));
        assert_ptr_equal(again->names, same);
        assert_same(again, a);
        facts_store_drop(s, again);
        assert_non_null(again = facts_store_add(s, a, other));
        assert_ptr_not_equal(again->names, other);
        assert_same(again, a);
        facts_store_drop(s, again);
        facts_store_drop(s, sself);
        facts_store_drop(s, sb);
        facts_store_drop(s, sa);
        facts_store_drop(s, NULL);
}

static void test_unparsed(_unused_ void **state) {
        _cleanup_(facts_store_freep) FactsStore *s = NULL;
        _cleanup_cert_facts_ CertFacts *f = calloc(1, sizeof(CertFacts));
        CertFacts *d;

        assert_non_null(f);
        assert_int_equal(cert_facts_add_problem(f, PROBLEM_UNREADABLE, "%s: %s", "/x.crt", "No such file"),
                         0);
        assert_int_equal(facts_store_new(&s), 0);
        assert_non_null(d = facts_store_add(s, f, NULL));
        assert_false(d->parsed);
        assert_null(d->subject);
        assert_null(d->issuer);
        assert_null(d->serial);
        assert_null(d->key_type);
        assert_null(d->names);
        assert_int_equal(d->n_problems, 1);
        assert_int_equal(d->problems[0].code, PROBLEM_UNREADABLE);
        assert_string_equal(d->problems[0].message, "/x.crt: No such file");
        assert_int_equal(d->state, SEVERITY_CRITICAL);
}

/* Many sets, many re-inspections: the store says when it is mostly garbage, and not before; blocks larger
 * than a mapping still fit. Leaks (a mapping never returned) show under valgrind and ASan's leak check
 * only for malloc; the count of what is live is checked through sparse. */
static void test_sparse(_unused_ void **state) {
        _cleanup_(facts_store_freep) FactsStore *s = NULL;
        _cleanup_cert_facts_ CertFacts *f = facts_make("many.example", "CN=Some CA", 2);
        _cleanup_cert_facts_ CertFacts *big = facts_make("big.example", "CN=Some CA", 0);
        enum { N = 6000 };
        CertFacts **v = calloc(N, sizeof(CertFacts *)), *sbig;

        assert_non_null(v);
        assert_int_equal(facts_store_new(&s), 0);
        for (size_t i = 0; i < N; i++)
                assert_non_null(v[i] = facts_store_add(s, f, NULL));
        assert_false(facts_store_sparse(s));
        /* Every other one replaced: half garbage, no mapping empty, not yet sparse. */
        for (size_t i = 0; i < N; i += 2) {
                facts_store_drop(s, v[i]);
                assert_non_null(v[i] = facts_store_add(s, f, NULL));
        }
        assert_false(facts_store_sparse(s));
        /* Two thirds dropped: mostly garbage. */
        for (size_t i = 0; i < N; i++)
                if (i % 3 != 0) {
                        facts_store_drop(s, v[i]);
                        v[i] = NULL;
                }
        assert_true(facts_store_sparse(s));
        for (size_t i = 0; i < N; i += 3)
                facts_store_drop(s, v[i]);
        /* All dropped: the mappings are gone, and their garbage with them. */
        assert_false(facts_store_sparse(s));

        free(big->names[0]);
        assert_non_null(big->names[0] = calloc(2 * 1024 * 1024, 1));
        memset(big->names[0], 'x', 2 * 1024 * 1024 - 1);
        assert_non_null(sbig = facts_store_add(s, big, NULL));
        assert_same(sbig, big);
        facts_store_drop(s, sbig);
        free(v);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_copy),
                cmocka_unit_test(test_unparsed),
                cmocka_unit_test(test_sparse),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
