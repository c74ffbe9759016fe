/* SPDX-License-Identifier: GPL-3.0-or-later */
/* outcome: what `renew` prints (alone and as the daemon's answer), what --quiet keeps to itself, and the
 * daemon's STATUS= words. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "outcome.h"
#include "test-fs.h"

#define T0 ((usec_t)1798761600 * USEC_PER_SEC) /* 2027-01-01T00:00:00Z */

/* Render `l` into a malloc'd string; *ret_code the exit code. */
static char *render(const Outcome *l, size_t n, OutcomeFlags flags, int *ret_code) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        assert_non_null(f);
        *ret_code = outcome_render(l, n, flags, f);
        assert_int_equal(fclose(f), 0);
        return text;
}

static void test_deploy_failed_after_renewal(void **state) {
        CertState st = {};
        Plan plan = {.action = PLAN_RENEW, .due = T0};
        RenewJob j = {
            .deploy_result = -EIO,
            .deploy_step = (char *)"exec /bin/false",
            .deploy_error = (char *)"hook '/bin/false' failed with exit status 1"};
        Outcome l[2];
        char *text;
        int code;

        strcpy(j.outcome.serial, "0a1b");
        l[0] = outcome_of("web", &plan, &st, &j);
        assert_int_equal(l[0].kind, OUTCOME_INSTALLED);
        l[1] = outcome_of("api", &(Plan){.action = PLAN_NONE, .due = T0}, &st, NULL);
        assert_int_equal(l[1].kind, OUTCOME_NOT_DUE);
        text = render(l, 2, 0, &code);
        assert_string_equal(
            text, "web: deploy failed at exec /bin/false: hook '/bin/false' failed with exit status 1 "
                  "(serial 0a1b)\n"
                  "api: not due (renews from 2027-01-01T00:00:00Z)\n"
                  "1 renewed (1 deploy failed), 1 not due, 0 failed\n");
        assert_int_equal(code, 1);
        assert_false(outcome_text_is_idle(text));
        free(text);

        /* Deployed again, and failing again: a failure, not a renewal. */
        j.deploy_only = true;
        l[0] = outcome_of("web", &(Plan){.action = PLAN_DEPLOY}, &st, &j);
        assert_int_equal(l[0].kind, OUTCOME_DEPLOY_FAILED);
        text = render(l, 1, 0, &code);
        assert_string_equal(
            text, "web: deploy failed at exec /bin/false: hook '/bin/false' failed with exit status 1 "
                  "(serial 0a1b)\n"
                  "0 renewed, 0 not due, 1 failed\n");
        assert_int_equal(code, 1);
        free(text);
}

static void test_renewed_lines(void **state) {
        CertState st = {};
        RenewJob j = {.outcome.not_after = T0};
        Outcome o;
        char *text;
        int code;

        strcpy(j.outcome.serial, "ff");
        o = outcome_of("web", &(Plan){.action = PLAN_RENEW}, &st, &j);
        assert_int_equal(o.kind, OUTCOME_RENEWED);
        /* Alone, a renewal is logged, not printed; the daemon's answer names it. */
        text = render(&o, 1, 0, &code);
        assert_string_equal(text, "1 renewed, 0 not due, 0 failed\n");
        assert_int_equal(code, 0);
        free(text);
        text = render(&o, 1, OUTCOME_RENEWED_LINES | OUTCOME_QUIET, &code);
        assert_string_equal(
            text, "web: renewed (serial ff), valid until 2027-01-01T00:00:00Z\n"
                  "1 renewed, 0 not due, 0 failed\n");
        assert_false(outcome_text_is_idle(text));
        free(text);
}

static void test_failing(void **state) {
        CertState st = {.failures = 2, .last_error = (char *)"connection refused"};
        RenewJob j = {.result = -EIO, .error = (char *)"refused by the server"};
        Outcome l[3];
        char *text;
        int code;

        l[0] = outcome_of(
            "a", &(Plan){.action = PLAN_BACKOFF, .why = RENEW_REASON_DUE, .retry = T0}, &st, NULL);
        l[1] = outcome_of("b", &(Plan){.action = PLAN_HELD}, &st, NULL);
        l[2] = outcome_of("c", &(Plan){.action = PLAN_RENEW}, &st, &j);
        assert_int_equal(l[0].kind, OUTCOME_BACKING_OFF);
        assert_int_equal(l[1].kind, OUTCOME_HELD);
        assert_int_equal(l[2].kind, OUTCOME_FAILED);
        text = render(l, 3, OUTCOME_QUIET, &code);
        assert_string_equal(
            text, "a: renewal failing: 2 failed attempts, last error: connection refused; next attempt "
                  "from 2027-01-01T00:00:00Z\n"
                  "b: renewal held: connection refused; the certificate issued was kept, no new order "
                  "until the inventory or its files change\n"
                  "c: renewal failed: connection refused\n"
                  "0 renewed, 0 not due, 3 failed\n");
        assert_int_equal(code, 1);
        free(text);

        /* A deploy backing off after a failure names the step and the next attempt. */
        st = (CertState){
            .deploy_failed = true,
            .deploy_step = (char *)"reload nginx.service",
            .deploy_error = (char *)"job failed"};
        l[0] = outcome_of("d", &(Plan){.action = PLAN_BACKOFF, .retry = T0}, &st, NULL);
        l[1] = (Outcome){.name = "gone", .kind = OUTCOME_GONE, .when = USEC_INFINITY};
        text = render(l, 2, 0, &code);
        assert_string_equal(
            text, "d: deploy failed at reload nginx.service: job failed; next attempt from "
                  "2027-01-01T00:00:00Z\n"
                  "gone: no longer in the inventory\n"
                  "0 renewed, 0 not due, 2 failed\n");
        free(text);
}

static void test_quiet(void **state) {
        CertState st = {};
        Outcome l[2];
        char *text;
        int code;

        l[0] = outcome_of("a", &(Plan){.action = PLAN_NONE, .due = T0}, &st, NULL);
        l[1] = outcome_of("b", &(Plan){.action = PLAN_NONE, .due = USEC_INFINITY}, &st, NULL);
        text = render(l, 2, 0, &code);
        assert_string_equal(
            text, "a: not due (renews from 2027-01-01T00:00:00Z)\nb: not due\n"
                  "0 renewed, 2 not due, 0 failed\n");
        assert_int_equal(code, 0);
        /* The daemon's answer of such a pass is what renew --quiet keeps to itself. */
        assert_true(outcome_text_is_idle(text));
        free(text);
        text = render(l, 2, OUTCOME_QUIET, &code);
        assert_string_equal(text ?: "", "");
        assert_int_equal(code, 0);
        free(text);
        text = render(l, 0, OUTCOME_QUIET, &code);
        assert_string_equal(text ?: "", "");
        free(text);

        assert_true(outcome_text_is_idle("0 renewed, 0 not due, 0 failed\n"));
        FOREACH_STRING(busy, "0 renewed, 1 not due, 0 failed, 1 redeployed\n", "10 renewed, 1 not due, 0 failed\n",
                       "0 renewed, 1 not due, 10 failed\n", "0 renewed, 1 not due, 0 failed\nmore\n", "")
                assert_false(outcome_text_is_idle(busy));
        assert_false(outcome_text_is_idle(NULL));
}

static void test_status(void **state) {
        CertFacts ok = {.parsed = true, .state = SEVERITY_OK, .days_left = 60};
        CertFacts bad = {.parsed = false, .state = SEVERITY_CRITICAL}; /* unreadable */
        CertFacts soon = {.parsed = true, .state = SEVERITY_WARNING, .days_left = 6};
        CheckResult results[] = {
            {.facts = &ok}, {.facts = &bad}, {.facts = &bad}, {.facts = &soon}, {.facts = &bad}};
        CertState states[5] = {[1] = {.deploy_failed = true}};
        Plan plans[5] = {[2] = {.action = PLAN_BACKOFF}, [4] = {.action = PLAN_HELD}};
        CheckReport rep = {.results = results, .n_results = 2};
        char buf[256];
        int k;

        k = outcome_status(&rep, buf, sizeof(buf));
        assert_int_equal(k, (int)strlen(buf));
        assert_string_equal(buf, "2 certificates: 1 ok, 1 with problems");
        rep.states = states;
        rep.plans = plans;
        outcome_status(&rep, buf, sizeof(buf));
        assert_string_equal(buf, "2 certificates: 1 deploy failed, 1 ok");
        rep.n_results = 5;
        outcome_status(&rep, buf, sizeof(buf));
        assert_string_equal(
            buf, "5 certificates: 1 deploy failed, 1 renewal failing, 1 held, 1 ok, 1 expiring in 6 days");
        /* Cut short, it still ends in a NUL and says how long it would be. */
        assert_true(outcome_status(&rep, buf, 10) > 10);
        assert_string_equal(buf, "5 certifi");
}

TEST_MAIN(cmocka_unit_test(test_deploy_failed_after_renewal),
          cmocka_unit_test(test_renewed_lines),
          cmocka_unit_test(test_failing),
          cmocka_unit_test(test_quiet),
          cmocka_unit_test(test_status))
