/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Rate-limit budgets with a fake clock: what fits, what is deferred and until when, the file's strict
 * grammar, and the record kept in a state directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "acme-budget.h"
#include "test-fs.h"

#define T0 ((usec_t)1800000000 * USEC_PER_SEC)

static char *const names[] = {(char *)"B.example", (char *)"a.example", NULL};
static char *const names_again[] = {(char *)"a.example", (char *)"b.example", NULL};

static AcmeBudget *parse(const char *text) {
        AcmeBudget *b = NULL;

        assert_int_equal(acme_budget_parse(text, strlen(text), &b), 0);
        return b;
}

static void test_defaults(void **state) {
        AcmeConfig a = {};

        assert_true(
            acme_budget_limit(&a, ACME_LIMIT_ORDERS).count == 300 &&
            acme_budget_limit(&a, ACME_LIMIT_ORDERS).period == 3 * USEC_PER_HOUR);
        assert_true(
            acme_budget_limit(&a, ACME_LIMIT_DUPLICATES).count == 5 &&
            acme_budget_limit(&a, ACME_LIMIT_DUPLICATES).period == 7 * USEC_PER_DAY);
        assert_true(
            acme_budget_limit(&a, ACME_LIMIT_FAILED_VALIDATIONS).count == 5 &&
            acme_budget_limit(&a, ACME_LIMIT_FAILED_VALIDATIONS).period == USEC_PER_HOUR);
        a.max_orders = (RateLimit){.set = true, .count = 0};
        assert_int_equal(acme_budget_limit(&a, ACME_LIMIT_ORDERS).count, 0);
}

static void test_orders(void **state) {
        AcmeConfig a = {
            .name = (char *)"le", .max_orders = {.set = true, .count = 2, .period = USEC_PER_HOUR}};
        AcmeBudget *b = parse(
            "{\"orders\": [1799998000, 1800000000], \"certificates\": {}, \"failed_validations\": {}}");
        AcmeBudgetVerdict v;
        char buf[ACME_BUDGET_VERDICT_MAX];

        assert_false(acme_budget_check(b, &a, names, false, T0, &v));
        assert_int_equal(v.limit, ACME_LIMIT_ORDERS);
        assert_true(v.used == 2 && v.max == 2);
        /* The older order ages out first: 1799998000 + 3600 s. */
        assert_true(v.until == (usec_t)(1799998000 + 3600) * USEC_PER_SEC);
        assert_string_equal(
            acme_budget_verdict_format(&v, buf, sizeof(buf)),
            "2 of 2 new orders in 1h used (max-orders); frees up at 2027-01-15T08:26:40Z");
        assert_int_equal(acme_budget_remaining(b, &a, ACME_LIMIT_ORDERS, T0), 0);
        assert_true(acme_budget_check(b, &a, names, false, v.until, &v));
        assert_int_equal(acme_budget_remaining(b, &a, ACME_LIMIT_ORDERS, T0 + USEC_PER_HOUR - 1), 1);
        /* 0: off */
        a.max_orders.count = 0;
        assert_true(acme_budget_check(b, &a, names, false, T0, &v));
        assert_int_equal(acme_budget_remaining(b, &a, ACME_LIMIT_ORDERS, T0), -1);
        acme_budget_free(b);
}

static void test_duplicates_and_failures(void **state) {
        AcmeConfig a = {
            .name = (char *)"le", .max_duplicates = {.set = true, .count = 2, .period = USEC_PER_DAY}};
        AcmeBudget *b = parse(
            "{\"orders\": [], \"certificates\": {\"a.example,b.example\": {\"times\": [1799990000, "
            "1799999000]}}, \"failed_validations\": {\"c.example\": {\"times\": [1799999000, 1799999100, "
            "1799999200, 1799999300, 1799999400]}}}");
        static char *const other[] = {(char *)"a.example", NULL};
        static char *const failing[] = {(char *)"c.example", (char *)"d.example", NULL};
        AcmeBudgetVerdict v;

        /* The same set in another order and case is the same set. */
        assert_false(acme_budget_check(b, &a, names, false, T0, &v));
        assert_int_equal(v.limit, ACME_LIMIT_DUPLICATES);
        assert_true(v.until == (usec_t)(1799990000 + 86400) * USEC_PER_SEC);
        assert_false(acme_budget_check(b, &a, names_again, false, T0, &v));
        /* A renewal that names what it replaces (ARI) is exempt; another set is another budget. */
        assert_true(acme_budget_check(b, &a, names, true, T0, &v));
        assert_true(acme_budget_check(b, &a, other, false, T0, &v));
        assert_int_equal(acme_budget_remaining(b, &a, ACME_LIMIT_DUPLICATES, T0), 0);
        /* Five failed validations of c.example within the hour. */
        assert_false(acme_budget_check(b, &a, failing, false, T0, &v));
        assert_int_equal(v.limit, ACME_LIMIT_FAILED_VALIDATIONS);
        assert_true(v.until == (usec_t)(1799999000 + 3600) * USEC_PER_SEC);
        assert_int_equal(acme_budget_remaining(b, &a, ACME_LIMIT_FAILED_VALIDATIONS, T0), 0);
        acme_budget_free(b);
}

static void test_server_retry_after(void **state) {
        AcmeConfig a = {.name = (char *)"le"};
        AcmeBudget *b =
            parse("{\"orders\": [], \"certificates\": {\"a.example,b.example\": {\"times\": [], \"until\": "
                  "1800003600, \"detail\": \"too many new orders\"}}, \"failed_validations\": {}}");
        AcmeBudgetVerdict v;
        char buf[ACME_BUDGET_VERDICT_MAX];

        assert_false(acme_budget_check(b, &a, names, true, T0, &v));
        assert_int_equal(v.limit, ACME_LIMIT_SERVER);
        assert_true(v.until == T0 + USEC_PER_HOUR);
        assert_string_equal(
            acme_budget_verdict_format(&v, buf, sizeof(buf)),
            "the server refused an order (rateLimited: too many new orders); next order from "
            "2027-01-15T09:00:00Z");
        assert_true(acme_budget_check(b, &a, names, true, T0 + USEC_PER_HOUR, &v));
        acme_budget_free(b);
}

static void test_strict(void **state) {
        static const char *const bad[] = {
            "",
            "[]",
            "{\"orders\": []}",
            "{\"orders\": [], \"certificates\": {}, \"failed_validations\": {}, \"x\": 1}",
            "{\"orders\": [-1], \"certificates\": {}, \"failed_validations\": {}}",
            "{\"orders\": [2, 1], \"certificates\": {}, \"failed_validations\": {}}",
            "{\"orders\": [1.5], \"certificates\": {}, \"failed_validations\": {}}",
            "{\"orders\": [\"1\"], \"certificates\": {}, \"failed_validations\": {}}",
            "{\"orders\": [], \"certificates\": {\"a\": {}}, \"failed_validations\": {}}",
            "{\"orders\": [], \"certificates\": {\"a\": {\"times\": [], \"extra\": 1}}, "
            "\"failed_validations\": {}}",
            "{\"orders\": [], \"certificates\": {}, \"failed_validations\": {\"a\": {\"times\": [], "
            "\"until\": 5}}}",
            "{\"orders\": [], \"certificates\": {\"a\\u0007\": {\"times\": []}}, \"failed_validations\": "
            "{}}",
            "{\"orders\": [], \"certificates\": {\"a\": {\"times\": [], \"detail\": \"\\n\"}}, "
            "\"failed_validations\": {}}",
            "{\"orders\": [], \"orders\": [], \"certificates\": {}, \"failed_validations\": {}}",
        };
        AcmeBudget *b = NULL;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(acme_budget_parse(bad[i], strlen(bad[i]), &b), -EBADMSG);
}

/* Recorded in STATE/acme/NAME/budget.json, old entries dropped on the way. */
static void test_record(void **state) {
        char dir[] = "/tmp/test-acme-budget-XXXXXX";
        AcmeConfig a = {
            .name = (char *)"le",
            .max_orders = {.set = true, .count = 2, .period = USEC_PER_HOUR},
            .max_duplicates = {.set = true, .count = 1, .period = USEC_PER_HOUR},
            .max_failed_validations = {.set = true, .count = 1, .period = USEC_PER_HOUR}};
        AcmeConfig *acme[] = {&a};
        Inventory inv = {.agent.state_directory = dir, .acme = acme, .n_acme = 1};
        AcmeBudget *b = NULL;
        AcmeBudgetVerdict v;
        char cmd[128];

        assert_non_null(mkdtemp(dir));
        assert_int_equal(acme_budget_take_order(&inv, &a, names, false, T0 - 2 * USEC_PER_HOUR, &v), 1);
        assert_int_equal(acme_budget_take_order(&inv, &a, names, false, T0, &v), 1);
        assert_int_equal(acme_budget_note_certificate(&inv, &a, names, T0), 1);
        assert_int_equal(acme_budget_take_order(&inv, &a, names_again, false, T0 + 1, &v), 0);
        assert_int_equal(v.limit, ACME_LIMIT_DUPLICATES);
        assert_int_equal(acme_budget_take_order(&inv, &a, names_again, true, T0 + 1, &v), 1);
        assert_int_equal(acme_budget_take_order(&inv, &a, names_again, true, T0 + 2, &v), 0);
        assert_int_equal(v.limit, ACME_LIMIT_ORDERS);
        assert_int_equal(acme_budget_note_failed_validation(&inv, &a, "c.example\n", T0), 1);
        assert_int_equal(
            acme_budget_note_rate_limited(&inv, &a, names, now_realtime() + USEC_PER_HOUR, "slow\tdown"), 1);

        assert_int_equal(acme_budget_load(&inv, &a, &b), 0);
        assert_int_equal(b->orders.n, 2); /* the one two hours old is gone */
        assert_int_equal(b->n_failed, 1);
        assert_string_equal(b->failed[0].key, "c.example ");
        assert_int_equal(b->n_sets, 1);
        assert_string_equal(b->sets[0].detail, "slow down");
        acme_budget_free(b);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
}

TEST_MAIN(cmocka_unit_test(test_defaults),
          cmocka_unit_test(test_orders),
          cmocka_unit_test(test_duplicates_and_failures),
          cmocka_unit_test(test_server_retry_after),
          cmocka_unit_test(test_strict),
          cmocka_unit_test(test_record))
