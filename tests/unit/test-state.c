/* SPDX-License-Identifier: GPL-3.0-or-later */
/* state: saved per-certificate state round-trips, and a damaged file is refused whole (issue 10 item 14). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "state.h"

static int parse(const char *text, CertState *st) {
        return state_parse(text, strlen(text), st);
}

static void test_round_trip(void **state) {
        char dir[] = "/tmp/test-state-XXXXXX";
        CertState in = { .failures = 3, .last_attempt = 11, .next_retry = 12, .last_renewal = 13,
                         .last_error = (char *) "acme: order failed", .alert_level = 2, .alert_last = 14,
                         .deploy_failed = true, .deploy_failures = 1, .deploy_time = 15,
                         .deploy_step = (char *) "exec /bin/false", .deploy_error = (char *) "status 1",
                         .deploy_serial = (char *) "0a1b", .profile = (char *) "shortlived", .ari_next = 16 };
        CertState out = {};
        char cmd[64];

        assert_non_null(mkdtemp(dir));
        assert_int_equal(state_save(dir, "web", &in), 0);
        assert_int_equal(state_load(dir, "web", &out), 0);
        assert_int_equal(out.failures, 3);
        assert_true(out.last_attempt == 11 && out.next_retry == 12 && out.last_renewal == 13);
        assert_string_equal(out.last_error, "acme: order failed");
        assert_int_equal(out.alert_level, 2);
        assert_true(out.alert_last == 14);
        assert_true(out.deploy_failed);
        assert_int_equal(out.deploy_failures, 1);
        assert_true(out.deploy_time == 15);
        assert_string_equal(out.deploy_step, "exec /bin/false");
        assert_string_equal(out.deploy_error, "status 1");
        assert_string_equal(out.deploy_serial, "0a1b");
        assert_string_equal(out.profile, "shortlived");
        assert_true(out.ari_next == 16);
        cert_state_done(&out);

        /* missing: the zero state */
        assert_int_equal(state_load(dir, "nope", &out), 0);
        assert_int_equal(out.failures, 0);
        assert_null(out.last_error);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
}

static void test_old_files_load(void **state) {
        CertState st = {};

        /* what earlier versions wrote */
        assert_int_equal(parse("{\"failures\": 1, \"last_attempt_usec\": 5, \"next_retry_usec\": 6, "
                               "\"last_renewal_usec\": 0, \"alert_level\": 0, \"alert_last_usec\": 0}", &st), 0);
        assert_int_equal(st.failures, 1);
        assert_false(st.deploy_failed);
        cert_state_done(&st);
        assert_int_equal(parse("{}", &st), 0);
        assert_int_equal(parse("{\"last_error\": null, \"future_field\": [1]}", &st), 0);
        cert_state_done(&st);
}

/* Each is refused whole with -EBADMSG, nothing half-filled and nothing leaked (ASan checks the latter). */
static void test_strict(void **state) {
        static const char *const bad[] = {
                "",
                "[]",
                "not json",
                "{\"failures\": -1}",
                "{\"failures\": \"3\"}",
                "{\"failures\": 1.5}",
                "{\"failures\": 99999999999}",
                "{\"alert_level\": 4}",
                "{\"last_attempt_usec\": -5}",
                "{\"deploy_failed\": 1}",
                "{\"last_error\": 42}",
                "{\"deploy_step\": \"ok\", \"deploy_error\": [\"x\"]}",
                "{\"last_error\": \"a\", \"deploy_serial\": {}}",
                "{\"last_error\": \"line\\nbreak\"}",
                "{\"last_error\": \"nul\\u0000inside\"}",
                "{\"failures\": 1, \"failures\": 2}",
                "{\"profile\": 1}",
                "{\"profile\": \"\"}",
                "{\"profile\": \"short lived\"}",
                "{\"profile\": \"x;y\"}",
                "{\"profile\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
        };

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                CertState st = { .failures = 77 };

                if (parse(bad[i], &st) != -EBADMSG)
                        fail_msg("accepted: %s", bad[i]);
                assert_int_equal(st.failures, 77); /* untouched */
        }
}

/* issue 9: the daemon keeps only a state that is not empty; every field counts. */
static void test_is_empty(void **state) {
        char s[] = "x";
        CertState st = {};

        assert_true(cert_state_is_empty(&st));
#define ONE(field, value)                                      \
        do {                                                   \
                st = (CertState) { .field = value };           \
                assert_false(cert_state_is_empty(&st));        \
        } while (0)
        ONE(failures, 1);
        ONE(last_attempt, 1);
        ONE(next_retry, 1);
        ONE(last_renewal, 1);
        ONE(last_error, s);
        ONE(alert_level, 1);
        ONE(alert_last, 1);
        ONE(deploy_failed, true);
        ONE(deploy_failures, 1);
        ONE(deploy_time, 1);
        ONE(deploy_step, s);
        ONE(deploy_error, s);
        ONE(deploy_serial, s);
        ONE(held_inputs, s);
        ONE(profile, s);
        ONE(ari_next, 1);
#undef ONE
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_old_files_load),
                cmocka_unit_test(test_strict),
                cmocka_unit_test(test_is_empty),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
