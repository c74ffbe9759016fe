/* SPDX-License-Identifier: GPL-3.0-or-later */
/* policy is pure: facts, thresholds, state and a fake clock in, decisions out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy.h"

#define T0 ((usec_t) 1800000000 * USEC_PER_SEC)

static CertFacts facts(usec_t nb, usec_t na) {
        return (CertFacts) { .parsed = true, .not_before = nb, .not_after = na };
}

static Threshold days(unsigned d) {
        return (Threshold) { .set = true, .usec = d * USEC_PER_DAY };
}

static Threshold percent(unsigned p) {
        return (Threshold) { .set = true, .is_percent = true, .percent = p };
}

static void test_renew_time(void **state) {
        /* 90-day certificate, 33 %: the window opens with 29.7 days left. */
        usec_t nb = T0, na = T0 + 90 * USEC_PER_DAY;
        CertFacts f = facts(nb, na);

        assert_true(policy_renew_time(nb, na, percent(33)) == na - 90 * USEC_PER_DAY * 33 / 100);
        assert_true(policy_renew_time(nb, na, days(30)) == na - 30 * USEC_PER_DAY);
        assert_int_equal(policy_renew_reason(&f, days(30), false, na - 31 * USEC_PER_DAY), RENEW_REASON_NONE);
        assert_int_equal(policy_renew_reason(&f, days(30), false, na - 30 * USEC_PER_DAY), RENEW_REASON_DUE);
        assert_int_equal(policy_renew_reason(&f, days(30), true, nb), RENEW_REASON_FORCED);
        assert_int_equal(policy_renew_reason(NULL, days(30), false, nb), RENEW_REASON_MISSING);

        /* renew-before as long as the validity must not renew forever: the window opens after a third. */
        assert_true(policy_renew_time(nb, na, days(365)) == nb + 30 * USEC_PER_DAY);
        assert_int_equal(policy_renew_reason(&f, days(365), false, nb + USEC_PER_DAY), RENEW_REASON_NONE);
}

static void test_renew_reasons(void **state) {
        CertFacts f = facts(T0, T0 + 90 * USEC_PER_DAY);
        Problem p[2] = { { .code = PROBLEM_KEY_MISMATCH }, { .code = PROBLEM_EXPIRED } };

        f.problems = p;
        f.n_problems = 1;
        assert_int_equal(policy_renew_reason(&f, percent(33), false, T0), RENEW_REASON_BROKEN);
        f.n_problems = 2;
        assert_int_equal(policy_renew_reason(&f, percent(33), false, T0), RENEW_REASON_EXPIRED);
        p[0].code = PROBLEM_KEY_PERMISSIONS; /* a new certificate changes nothing about that */
        f.n_problems = 1;
        assert_int_equal(policy_renew_reason(&f, percent(33), false, T0), RENEW_REASON_NONE);
        p[0].code = PROBLEM_MALFORMED;
        assert_int_equal(policy_renew_reason(&f, percent(33), false, T0), RENEW_REASON_MISSING);

        assert_true(policy_issued_ok(&(CertFacts) { .parsed = true }));
        p[0].code = PROBLEM_EXPIRY_WARNING;
        assert_true(policy_issued_ok(&(CertFacts) { .parsed = true, .problems = p, .n_problems = 1 }));
        p[0].code = PROBLEM_NAME_MISSING;
        assert_false(policy_issued_ok(&(CertFacts) { .parsed = true, .problems = p, .n_problems = 1 }));
}

static void test_jitter(void **state) {
        usec_t nb = T0, na = T0 + 20 * USEC_PER_SEC; /* a certificate that lives 20 s */
        usec_t j = policy_jitter("quick", nb, na);

        assert_true(j <= USEC_PER_SEC); /* at most a twentieth of the lifetime */
        assert_true(j == policy_jitter("quick", nb, na)); /* stable across runs */
        j = policy_jitter("web", T0, T0 + 90 * USEC_PER_DAY);
        assert_true(j <= 90 * USEC_PER_DAY / 20);
        /* different names spread out */
        assert_true(policy_jitter("a", T0, T0 + 90 * USEC_PER_DAY) != policy_jitter("b", T0, T0 + 90 * USEC_PER_DAY));
}

static void test_backoff(void **state) {
        assert_true(policy_backoff(1, 90 * USEC_PER_DAY) == 30 * USEC_PER_SEC);
        assert_true(policy_backoff(2, 90 * USEC_PER_DAY) == 60 * USEC_PER_SEC);
        assert_true(policy_backoff(5, 90 * USEC_PER_DAY) == 480 * USEC_PER_SEC);
        assert_true(policy_backoff(50, 90 * USEC_PER_DAY) == 6 * USEC_PER_HOUR);   /* capped */
        assert_true(policy_backoff(50, 20 * USEC_PER_MINUTE) == 2 * USEC_PER_MINUTE); /* a tenth of a short life */
        assert_true(policy_backoff(1, 5 * USEC_PER_SEC) == USEC_PER_SEC);
}

/* The alert schedule over the life of a 90-day certificate, with a fake clock stepping by hours:
 * one event per threshold crossing, one reminder a day, hourly once expired, never more. */
static void test_alert_schedule(void **state) {
        usec_t na = T0 + 90 * USEC_PER_DAY;
        CertFacts f = facts(T0, na);
        AlertState st = {};
        unsigned warn = 0, crit = 0, expired = 0;

        for (usec_t now = T0; now < na + 10 * USEC_PER_HOUR; now += USEC_PER_HOUR) {
                AlertDecision d = policy_alert(&f, days(14), days(7), &st, now);

                assert_true(d.next > now);
                if (!d.emit) {
                        if (d.level == ALERT_NONE)
                                assert_true(d.next == na - 14 * USEC_PER_DAY || d.next <= na);
                        continue;
                }
                st = (AlertState) { .level = d.level, .last = now };
                if (d.level == ALERT_WARNING)
                        warn++;
                else if (d.level == ALERT_CRITICAL)
                        crit++;
                else if (d.level == ALERT_EXPIRED)
                        expired++;
        }
        assert_int_equal(warn, 7);     /* days 14..8 left: the crossing and six reminders */
        assert_int_equal(crit, 8);     /* days 7..0 left (valid through notAfter itself) */
        assert_int_equal(expired, 9);  /* hourly: +1 h … +9 h after expiry */

        /* Nothing to say long before: the next look is the warn crossing itself. */
        AlertDecision d = policy_alert(&f, days(14), days(7), &(AlertState) {}, T0);
        assert_false(d.emit);
        assert_int_equal(d.level, ALERT_NONE);
        assert_true(d.next == na - 14 * USEC_PER_DAY);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_renew_time),  cmocka_unit_test(test_renew_reasons),
                cmocka_unit_test(test_jitter),      cmocka_unit_test(test_backoff),
                cmocka_unit_test(test_alert_schedule),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
