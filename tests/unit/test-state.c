/* SPDX-License-Identifier: GPL-3.0-or-later */
/* state: saved per-certificate state round-trips, and a damaged file is refused whole. */
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
                         .deploy_serial = (char *) "0a1b", .profile = (char *) "shortlived",
                         .issued = { 30, 20, 10 }, .n_issued = 3, .issued_serial = (char *) "0c",
                         .renew_cause = 1u << 8, .ineffective = 2, .issued_inputs = (char *) "ab12", .ari_next = 16 };
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
        assert_int_equal(out.n_issued, 3);
        assert_true(out.issued[0] == 30 && out.issued[2] == 10);
        assert_string_equal(out.issued_serial, "0c");
        assert_int_equal(out.renew_cause, 1u << 8);
        assert_int_equal(out.ineffective, 2);
        assert_string_equal(out.issued_inputs, "ab12");
        assert_true(out.ari_next == 16);
        cert_state_done(&out);
        /* The history is newest first, and bounded. */
        assert_int_equal(parse("{\"issued_usec\": [1, 2]}", &out), -EBADMSG);
        assert_int_equal(parse("{\"issued_usec\": [9, 8, 7, 6, 5, 4, 3, 2, 1]}", &out), -EBADMSG);

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

/* The daemon keeps only a state that is not empty; every field counts. */
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
        ONE(n_issued, 1);
        ONE(issued_serial, s);
        ONE(renew_cause, 1);
        ONE(ineffective, 1);
        ONE(issued_inputs, s);
        ONE(ari_next, 1);
#undef ONE
}

/* The lock notes its holder: a command that finds it taken can tell the daemon (and its pid) from another
 * run of a command, and from what a crashed daemon left behind. */
static void test_lock_holder(void **state) {
        char dir[] = "/tmp/test-state-lock-XXXXXX", path[sizeof(dir) + 8];
        pid_t pid = 0;
        FILE *f;
        int fd;

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/lock", dir);
        assert_int_equal(state_lock_daemon(dir, &pid), -ENOENT);

        fd = state_lock(dir, false);
        assert_true(fd >= 0);
        assert_int_equal(state_lock_daemon(dir, &pid), -ESRCH);
        assert_int_equal(state_lock_note_daemon(fd), 0);
        assert_int_equal(state_lock(dir, false), -EWOULDBLOCK);
        assert_int_equal(state_lock_daemon(dir, &pid), 0);
        assert_int_equal(pid, getpid());
        close(fd);

        /* A daemon that died: its pid no longer runs. */
        assert_non_null(f = fopen(path, "we"));
        fputs("2147483646 daemon\n", f);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(state_lock_daemon(dir, &pid), -ESRCH);
        /* The next holder replaces the note. */
        fd = state_lock(dir, false);
        assert_true(fd >= 0);
        assert_int_equal(state_lock_daemon(dir, &pid), -ESRCH);
        close(fd);

        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_old_files_load),
                cmocka_unit_test(test_strict),
                cmocka_unit_test(test_is_empty),
                cmocka_unit_test(test_lock_holder),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
