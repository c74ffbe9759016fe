/* SPDX-License-Identifier: GPL-3.0-or-later */
/* check: planning reads the inspection and never writes it; what the saved state says (deploy-failed,
 * renewal-failing) is kept beside the facts and shown with them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "check.h"
#include "test-util.h"

static Inventory *inventory_ok(void) {
        const char *fx = getenv("CERTHERD_FIXTURES");
        Inventory *inv = inventory_new();
        _cleanup_free_ char *text = NULL, *err = NULL;

        assert_non_null(fx);
        assert_non_null(inv);
        assert_true(
            asprintf(
                &text,
                "[agent]\nstate-directory = /nonexistent/state\n"
                "[certificate \"ok\"]\ncertificate = %s/ok.crt\nkey = %s/ok.key\nca = %s/ca.crt\n"
                "names = ok.example.test localhost 127.0.0.1 ::1\nissuer = none\n",
                fx, fx, fx) > 0);
        if (config_parse_string(inv, text, "test.conf", &err) < 0 || config_validate(inv, &err) < 0)
                fail_msg("%s", err);
        return inv;
}

static bool has_code(const CertFacts *f, ProblemCode code) {
        for (size_t i = 0; i < f->n_problems; i++)
                if (f->problems[i].code == code)
                        return true;
        return false;
}

static void test_plan_never_writes(void **state) {
        Inventory *inv = inventory_ok();
        CheckReport *rep = NULL;
        CertState st = {
            .deploy_failed = true,
            .deploy_failures = 1,
            .deploy_step = (char *)"exec /bin/false",
            .deploy_error = (char *)"status 1",
            .deploy_serial = (char *)"0a"};
        usec_t now = now_realtime();
        CheckShown shown = {};
        const CertFacts *x;
        size_t n_problems;
        Severity before;

        assert_int_equal(check_run(inv, NULL, 1, now, &rep), 0);
        assert_int_equal(rep->n_results, 1);
        n_problems = rep->results[0].facts->n_problems;
        before = rep->results[0].facts->state;
        rep->states = &st;

        /* Planned twice (the daemon plans the same facts on every pass): the facts stay as inspected, the
         * notes are replaced, not added again. */
        for (int k = 0; k < 2; k++) {
                assert_int_equal(check_plan(inv, rep, (PlanFlags){}, now), 0);
                assert_int_equal(rep->results[0].facts->n_problems, n_problems);
                assert_int_equal(rep->results[0].facts->state, before);
                assert_false(has_code(rep->results[0].facts, PROBLEM_DEPLOY_FAILED));
                assert_int_equal(rep->notes[0].n, 1);
                assert_int_equal(rep->notes[0].problems[0].code, PROBLEM_DEPLOY_FAILED);
        }
        /* Shown together, and counted. */
        x = check_result_shown(rep, 0, &shown);
        assert_int_equal(x->n_problems, n_problems + 1);
        assert_true(has_code(x, PROBLEM_DEPLOY_FAILED));
        assert_int_equal(x->state, SEVERITY_CRITICAL);
        assert_non_null(
            strstr(x->problems[n_problems].message, "deploy of serial 0a failed at exec /bin/false"));
        check_shown_done(&shown);
        assert_int_equal(rep->worst, SEVERITY_CRITICAL);
        assert_int_equal(check_notes_state(rep->results[0].facts, NULL), before);

        /* The deploy succeeded since: no note. */
        st.deploy_failed = false;
        assert_int_equal(check_plan(inv, rep, (PlanFlags){}, now), 0);
        assert_int_equal(rep->notes[0].n, 0);
        assert_int_equal(rep->worst, before);
        assert_ptr_equal(check_result_shown(rep, 0, &shown), rep->results[0].facts);
        check_shown_done(&shown);

        rep->states = NULL;
        check_report_free(rep);
        inventory_free(inv);
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_plan_never_writes),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
