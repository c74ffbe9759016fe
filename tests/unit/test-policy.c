/* SPDX-License-Identifier: GPL-3.0-or-later */
/* policy is pure: facts, thresholds, state and a fake clock in, decisions out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "policy.h"
#include "test-fs.h"

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
        /* A revoked certificate (or compromised key) is replaced at once; a CRL about to lapse
         * is the CA's matter, not a reason to renew the leaf. */
        p[0].code = PROBLEM_REVOKED;
        assert_int_equal(policy_renew_reason(&f, percent(33), false, T0), RENEW_REASON_BROKEN);
        p[0].code = PROBLEM_CRL_EXPIRED;
        assert_int_equal(policy_renew_reason(&f, percent(33), false, T0), RENEW_REASON_NONE);
        p[0].code = PROBLEM_CRL_EXPIRING;
        assert_int_equal(policy_renew_reason(&f, percent(33), false, T0), RENEW_REASON_NONE);

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

/* ---- policy_plan: one decision for both modes, with a fake clock ---------------------------------- */

static Plan plan_at(const CertFacts *f, const CertState *st, bool daemon, bool force, usec_t now) {
        return policy_plan(&(PlanInput) { .name = "web", .can_renew = true, .facts = f, .state = st,
                                          .renew_before = days(30), .warn_before = days(14),
                                          .critical_before = days(7) },
                           (PlanFlags) { .daemon = daemon, .force = force }, now);
}

static void assert_same_plan(const Plan *a, const Plan *b) {
        assert_int_equal(a->action, b->action);
        assert_int_equal(a->why, b->why);
        assert_true(a->due == b->due);
        assert_true(a->retry == b->retry);
        assert_true(a->next == b->next);
        assert_int_equal(a->alert.emit, b->alert.emit);
        assert_int_equal(a->alert.level, b->alert.level);
        assert_true(a->alert.next == b->alert.next);
        assert_int_equal(a->failing, b->failing);
        assert_int_equal(a->failing_severity, b->failing_severity);
}

/* Timer mode and the daemon decide the same for the same facts, state and clock, over a whole life:
 * fresh, inside the window before and after the jitter, backing off, deploy failed, expired. */
static void test_plan_same_in_both_modes(void **state) {
        usec_t na = T0 + 90 * USEC_PER_DAY;
        CertFacts f = facts(T0, na);
        CertState states[] = {
                {},
                { .failures = 3, .last_attempt = T0 + 70 * USEC_PER_DAY, .next_retry = T0 + 75 * USEC_PER_DAY,
                  .last_error = (char *) "boom" },
                { .deploy_failed = true, .deploy_failures = 2, .deploy_time = T0 + 61 * USEC_PER_DAY },
                { .alert_level = ALERT_WARNING, .alert_last = T0 + 77 * USEC_PER_DAY },
        };

        for (size_t k = 0; k < ELEMENTSOF(states); k++)
                for (usec_t now = T0; now < na + USEC_PER_DAY; now += 7 * USEC_PER_HOUR) {
                        Plan t = plan_at(&f, &states[k], false, false, now);
                        Plan d = plan_at(&f, &states[k], true, false, now);

                        /* The one documented difference: a failed deploy backs off in the daemon only. */
                        if (d.action == PLAN_BACKOFF && d.why == RENEW_REASON_NONE && states[k].deploy_failed) {
                                assert_int_equal(t.action, PLAN_DEPLOY);
                                continue;
                        }
                        assert_same_plan(&t, &d);
                        assert_true(t.next >= now || t.action != PLAN_NONE);
                }
}

/* Due from the window's opening plus the set's jitter, in both modes (documented in policy.h). */
static void test_plan_jitter(void **state) {
        usec_t na = T0 + 90 * USEC_PER_DAY, open = na - 30 * USEC_PER_DAY;
        usec_t at = open + policy_jitter("web", T0, na);
        CertFacts f = facts(T0, na);

        for (int daemon = 0; daemon <= 1; daemon++) {
                Plan p = plan_at(&f, NULL, daemon, false, T0);

                assert_int_equal(p.action, PLAN_NONE);
                assert_true(p.due == at);
                assert_true(p.next == at);
                if (at > open) {
                        p = plan_at(&f, NULL, daemon, false, at - 1);
                        assert_int_equal(p.action, PLAN_NONE);
                }
                p = plan_at(&f, NULL, daemon, false, at);
                assert_int_equal(p.action, PLAN_RENEW);
                assert_int_equal(p.why, RENEW_REASON_DUE);
                /* --force: now, whatever the window */
                p = plan_at(&f, NULL, daemon, true, T0);
                assert_int_equal(p.action, PLAN_RENEW);
                assert_int_equal(p.why, RENEW_REASON_FORCED);
        }
        /* missing or broken: at once, no jitter */
        Plan p = plan_at(NULL, NULL, false, false, T0);
        assert_int_equal(p.action, PLAN_RENEW);
        assert_int_equal(p.why, RENEW_REASON_MISSING);
}

/* Failed renewals: backoff until next_retry, renewal-failing warning, critical inside critical-before;
 * --force does not wait. */
static void test_plan_backoff(void **state) {
        usec_t na = T0 + 90 * USEC_PER_DAY, now = na - 20 * USEC_PER_DAY;
        CertFacts f = facts(T0, na);
        CertState st = { .failures = 2, .last_attempt = now - USEC_PER_SEC, .next_retry = now + 60 * USEC_PER_SEC };
        Plan p;

        for (int daemon = 0; daemon <= 1; daemon++) {
                p = plan_at(&f, &st, daemon, false, now);
                assert_int_equal(p.action, PLAN_BACKOFF);
                assert_int_equal(p.why, RENEW_REASON_DUE);
                assert_true(p.retry == now + 60 * USEC_PER_SEC);
                assert_true(p.next == p.retry);
                assert_true(p.failing);
                assert_int_equal(p.failing_severity, SEVERITY_WARNING);

                p = plan_at(&f, &st, daemon, false, now + 60 * USEC_PER_SEC);
                assert_int_equal(p.action, PLAN_RENEW);
                p = plan_at(&f, &st, daemon, true, now);
                assert_int_equal(p.action, PLAN_RENEW);
        }
        st.next_retry = na - 5 * USEC_PER_DAY;
        p = plan_at(&f, &st, false, false, na - 6 * USEC_PER_DAY);
        assert_int_equal(p.action, PLAN_BACKOFF);
        assert_int_equal(p.failing_severity, SEVERITY_CRITICAL);
        /* no failures: not failing */
        p = plan_at(&f, &(CertState) {}, false, false, now);
        assert_false(p.failing);
}

/* A failed deploy is retried without a new certificate, after the deploy backoff. */
static void test_plan_deploy_retry(void **state) {
        usec_t na = T0 + 90 * USEC_PER_DAY, now = T0 + USEC_PER_DAY;
        CertFacts f = facts(T0, na);
        CertState st = { .deploy_failed = true, .deploy_failures = 1, .deploy_time = now };
        Plan p;

        /* timer mode (one-shot runs): at once, every run */
        p = plan_at(&f, &st, false, false, now);
        assert_int_equal(p.action, PLAN_DEPLOY);
        assert_true(p.next == now);
        for (int daemon = 1; daemon <= 1; daemon++) {
                p = plan_at(&f, &st, daemon, false, now);
                assert_int_equal(p.action, PLAN_BACKOFF);
                assert_int_equal(p.why, RENEW_REASON_NONE);
                assert_true(p.retry == now + policy_backoff(1, 90 * USEC_PER_DAY));
                p = plan_at(&f, &st, daemon, false, p.retry);
                assert_int_equal(p.action, PLAN_DEPLOY);
                assert_true(p.next == now + policy_backoff(1, 90 * USEC_PER_DAY));
                /* a renewal that is due wins: it deploys anyway */
                p = plan_at(&f, &st, daemon, false, na - USEC_PER_DAY);
                assert_int_equal(p.action, PLAN_RENEW);
        }
        st.deploy_failures = 3;
        p = plan_at(&f, &st, true, false, now + policy_backoff(2, 90 * USEC_PER_DAY));
        assert_int_equal(p.action, PLAN_BACKOFF);
}

/* A refused ACME certificate holds further orders while the inputs are unchanged; once they change the
 * backoff does not stand in the way; --force orders anyway. */
static void test_plan_held(void **state) {
        usec_t na = T0 + 90 * USEC_PER_DAY, now = na - 20 * USEC_PER_DAY;
        CertFacts f = facts(T0, na);
        CertState st = { .failures = 1, .next_retry = now + USEC_PER_HOUR, .held_inputs = (char *) "ab" };
        PlanInput in = { .name = "web", .can_renew = true, .facts = &f, .state = &st, .renew_before = days(30),
                         .warn_before = days(14), .critical_before = days(7), .held = true };
        Plan p;

        for (int daemon = 0; daemon <= 1; daemon++) {
                p = policy_plan(&in, (PlanFlags) { .daemon = daemon }, now + 2 * USEC_PER_HOUR);
                assert_int_equal(p.action, PLAN_HELD);
                assert_true(p.failing);
                assert_true(p.next > now + 2 * USEC_PER_HOUR); /* no busy loop: only a change wakes it */
                p = policy_plan(&in, (PlanFlags) { .daemon = daemon, .force = true }, now);
                assert_int_equal(p.action, PLAN_RENEW);
        }
        in.held = false;
        in.held_changed = true;
        p = policy_plan(&in, (PlanFlags) {}, now);
        assert_int_equal(p.action, PLAN_RENEW);
}

/* Alert repetition lives in the saved state: whichever mode runs, one alert on crossing, then one a day. */
static void test_plan_alert_repetition(void **state) {
        usec_t na = T0 + 90 * USEC_PER_DAY, now = na - 10 * USEC_PER_DAY;
        CertFacts f = facts(T0, na);
        CertState st = {};
        Plan p;

        p = plan_at(&f, &st, false, false, now); /* timer mode sends it */
        assert_true(p.alert.emit);
        assert_int_equal(p.alert.level, ALERT_WARNING);
        st.alert_level = p.alert.level;
        st.alert_last = now;
        p = plan_at(&f, &st, true, false, now + USEC_PER_HOUR); /* the daemon does not repeat it */
        assert_false(p.alert.emit);
        assert_true(p.alert.next == now + USEC_PER_DAY);
        p = plan_at(&f, &st, false, false, now + 2 * USEC_PER_HOUR); /* nor does the timer */
        assert_false(p.alert.emit);
        p = plan_at(&f, &st, true, false, now + USEC_PER_DAY);
        assert_true(p.alert.emit);
        /* watch only: alerts, never a renewal */
        p = policy_plan(&(PlanInput) { .name = "w", .facts = &f, .warn_before = days(14), .critical_before = days(7) },
                        (PlanFlags) {}, now);
        assert_int_equal(p.action, PLAN_NONE);
        assert_true(p.due == USEC_INFINITY);
        assert_true(p.alert.emit);
}

/* A leaf of a rotated CA is due at once (after missing/expired/broken), in both modes. */
static void test_plan_ca_rotated(void **state) {
        usec_t na = T0 + 90 * USEC_PER_DAY;
        CertFacts f = facts(T0, na);
        PlanInput in = { .name = "web", .can_renew = true, .facts = &f, .renew_before = days(30),
                         .warn_before = days(14), .critical_before = days(7), .ca_rotated = true };
        Plan p;

        for (int daemon = 0; daemon <= 1; daemon++) {
                p = policy_plan(&in, (PlanFlags) { .daemon = daemon }, T0 + USEC_PER_DAY);
                assert_int_equal(p.action, PLAN_RENEW);
                assert_int_equal(p.why, RENEW_REASON_CA_ROTATED);
                assert_true(p.due == T0 + USEC_PER_DAY);
        }
        assert_string_equal(renew_reason_to_string(RENEW_REASON_CA_ROTATED),
                            "issued by the previous generation of its CA (ca rotate)");
        /* inside the window it is still renewed at once, for the rotation */
        p = policy_plan(&in, (PlanFlags) {}, na - USEC_PER_DAY);
        assert_int_equal(p.action, PLAN_RENEW);
        assert_int_equal(p.why, RENEW_REASON_CA_ROTATED);
        in.ca_rotated = false;
        p = policy_plan(&in, (PlanFlags) {}, T0 + USEC_PER_DAY);
        assert_int_equal(p.action, PLAN_NONE);
}

/* A rotated CA's leaves wait for the end of the rotation's overlap (rotate-overlap), then are due at once
 * in both modes; the plan says why the coming renewal is due (status names it); a window that opens
 * first still renews at the window; a broken, expired or forced set does not wait. */
static void test_plan_ca_rotation_overlap(void **state) {
        usec_t na = T0 + 90 * USEC_PER_DAY, rotated = T0 + 10 * USEC_PER_DAY, end = rotated + USEC_PER_DAY;
        CertFacts f = facts(T0, na);
        PlanInput in = { .name = "web", .can_renew = true, .facts = &f, .renew_before = days(30),
                         .warn_before = days(14), .critical_before = days(7), .ca_rotated = true,
                         .ca_reissue_at = end };
        Plan p;

        for (int daemon = 0; daemon <= 1; daemon++) {
                /* during the overlap: not due, due at its end, for the rotation */
                p = policy_plan(&in, (PlanFlags) { .daemon = daemon }, rotated);
                assert_int_equal(p.action, PLAN_NONE);
                assert_int_equal(p.why, RENEW_REASON_NONE);
                assert_true(p.due == end);
                assert_int_equal(p.due_why, RENEW_REASON_CA_ROTATED);
                assert_true(p.next == end); /* the daemon's timer wakes it then */
                p = policy_plan(&in, (PlanFlags) { .daemon = daemon }, end - 1);
                assert_int_equal(p.action, PLAN_NONE);
                /* at its end: renewed now */
                p = policy_plan(&in, (PlanFlags) { .daemon = daemon }, end);
                assert_int_equal(p.action, PLAN_RENEW);
                assert_int_equal(p.why, RENEW_REASON_CA_ROTATED);
                assert_int_equal(p.due_why, RENEW_REASON_CA_ROTATED);
                /* --force does not wait */
                p = policy_plan(&in, (PlanFlags) { .daemon = daemon, .force = true }, rotated);
                assert_int_equal(p.action, PLAN_RENEW);
                assert_int_equal(p.why, RENEW_REASON_FORCED);
        }
        /* the certificate's own window opens before the overlap ends: renewed at the window */
        in.ca_reissue_at = na;
        p = policy_plan(&in, (PlanFlags) {}, na - 20 * USEC_PER_DAY);
        assert_int_equal(p.action, PLAN_RENEW);
        assert_int_equal(p.why, RENEW_REASON_DUE);
        p = policy_plan(&in, (PlanFlags) {}, rotated);
        assert_int_equal(p.due_why, RENEW_REASON_DUE);
        assert_true(p.due >= na - 30 * USEC_PER_DAY && p.due < na - 20 * USEC_PER_DAY);
        /* not issued by an earlier generation: the overlap is no reason */
        in.ca_rotated = false;
        in.ca_reissue_at = end;
        p = policy_plan(&in, (PlanFlags) {}, rotated);
        assert_int_equal(p.due_why, RENEW_REASON_DUE);
        assert_true(p.due > end);
        /* a revoked leaf does not wait for the overlap: broken sets are due at once */
        in.ca_rotated = true;
        assert_int_equal(cert_facts_add_problem(&f, PROBLEM_REVOKED, "revoked"), 0);
        p = policy_plan(&in, (PlanFlags) {}, rotated);
        assert_int_equal(p.action, PLAN_RENEW);
        assert_int_equal(p.why, RENEW_REASON_BROKEN);
        free(f.problems[0].message);
        free(f.problems);
}

/* With no renew-before given (the [agent] default, implicit), a 90-day certificate renews with
 * a third of its life left and a 6-day one with half of it left: 3 days, so a timer every 6 h has about a
 * dozen chances. Both modes, with a fake clock; jitter stays within lifetime/20. */
static void test_plan_implicit_renew_before(void **state) {
        Threshold implicit = { .set = true, .implicit = true, .is_percent = true, .percent = 33 };
        struct {
                usec_t lifetime, left;
        } cases[] = {
                { 90 * USEC_PER_DAY, 30 * USEC_PER_DAY },
                { 6 * USEC_PER_DAY, 3 * USEC_PER_DAY },
                { 160 * USEC_PER_HOUR, 80 * USEC_PER_HOUR },
                { 10 * USEC_PER_DAY, 10 * USEC_PER_DAY / 3 }, /* 10 days is not "under 10 days" */
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                usec_t na = T0 + cases[i].lifetime, open = na - cases[i].left;
                CertFacts f = facts(T0, na);

                assert_true(policy_renew_time(T0, na, implicit) == open);
                for (int daemon = 0; daemon <= 1; daemon++) {
                        PlanInput in = { .name = "short", .can_renew = true, .facts = &f, .renew_before = implicit,
                                         .warn_before = days(14), .critical_before = days(7) };
                        Plan p;

                        /* just before the window: not due, due at the window plus jitter */
                        p = policy_plan(&in, (PlanFlags) { .daemon = daemon }, open - USEC_PER_SEC);
                        assert_int_equal(p.action, PLAN_NONE);
                        assert_true(p.due >= open && p.due <= open + cases[i].lifetime / 20);
                        /* once window and jitter passed: renew */
                        p = policy_plan(&in, (PlanFlags) { .daemon = daemon }, open + cases[i].lifetime / 20);
                        assert_int_equal(p.action, PLAN_RENEW);
                        assert_int_equal(p.why, RENEW_REASON_DUE);
                }
        }

        /* An explicit 33 % keeps meaning 33 %, whatever the lifetime. */
        assert_true(policy_renew_time(T0, T0 + 6 * USEC_PER_DAY, percent(33)) ==
                    T0 + 6 * USEC_PER_DAY - 6 * USEC_PER_DAY * 33 / 100);
}

/* A daemon's pass at now over the set "loop" whose issued-th certificate (serial issued, into serial[]) is
 * untrusted: its facts into f, the plan returned. */
static Plan plan_untrusted(CertState *st, CertFacts *f, char serial[static 32], unsigned issued, usec_t lifetime,
                           bool inputs_changed, usec_t now) {
        static Problem untrusted = { .code = PROBLEM_UNTRUSTED_CHAIN, .severity = SEVERITY_CRITICAL };
        PlanInput in = { .name = "loop", .can_renew = true, .facts = f, .state = st,
                         .renew_before = percent(33), .warn_before = days(14), .critical_before = days(7),
                         .issued_inputs_changed = inputs_changed };

        *f = facts(now - USEC_PER_SEC, now - USEC_PER_SEC + lifetime);
        snprintf(serial, 32, "%02x", issued);
        f->serial = serial;
        f->problems = &untrusted;
        f->n_problems = 1;
        return policy_plan(&in, (PlanFlags) { .daemon = true }, now);
}

/* The renewal a plan asked for, done at now: the next serial recorded as issued. */
static void renew_as_planned(CertState *st, const CertFacts *f, unsigned *issued, usec_t now) {
        char next[32];

        snprintf(next, sizeof(next), "%02x", ++*issued);
        assert_int_equal(policy_issued(st, f, false, next, now), 0);
        st->last_renewal = now;
}

/* A set whose renewals cannot fix what makes it broken (it trusts anchors the issuer does not chain to):
 * with a fake clock, the planner never loops. The renewal that left its cause enters the backoff with
 * renewal-failing; and whatever the cause, more than five automatic issuances within a quarter of the
 * lifetime stop renewals (held, critical) until the inputs change. */
static void test_plan_no_loop(void **state) {
        usec_t lifetime = 90 * USEC_PER_DAY, now = T0;
        CertState st = {};
        unsigned issued = 0;
        char serial[32];

        /* The daemon of the report: each pass sees the certificate it just issued, still untrusted. */
        for (unsigned pass = 0; pass < 200; pass++, now += 100 * (USEC_PER_SEC / 1000)) {
                CertFacts f;
                Plan p = plan_untrusted(&st, &f, serial, issued, lifetime, false, now);

                assert_int_equal(p.why, RENEW_REASON_BROKEN);
                if (issued > 0) {
                        /* The renewal left untrusted-chain: backoff and renewal-failing. */
                        assert_true(p.ineffective && p.failing);
                        assert_true(p.action == PLAN_BACKOFF || p.action == PLAN_RENEW);
                }
                if (p.action == PLAN_RENEW)
                        renew_as_planned(&st, &f, &issued, now);
        }
        /* 20 s of passes every 100 ms: the first renewal, then the backoff's 30 s holds the next. */
        assert_int_equal(issued, 1);
        assert_int_equal(st.renew_cause, 1u << PROBLEM_UNTRUSTED_CHAIN);
        assert_int_equal(st.ineffective, 0);
        {
                /* Unless the inventory or its files changed since that issuance (a new `ca =`, a name
                 * added): then a renewal may fix it, at once. */
                CertFacts f;
                Plan p = plan_untrusted(&st, &f, serial, issued, lifetime, true, now);

                assert_false(p.ineffective);
                assert_int_equal(p.action, PLAN_RENEW);
        }

        /* Over a day, with the backoff doubling: a handful of attempts, never a loop. */
        for (; now < T0 + USEC_PER_DAY; now += USEC_PER_SEC) {
                CertFacts f;
                Plan p = plan_untrusted(&st, &f, serial, issued, lifetime, false, now);

                if (p.action == PLAN_RENEW)
                        renew_as_planned(&st, &f, &issued, now);
        }
        assert_true(issued >= 5 && issued <= 16);
        assert_int_equal(st.ineffective, issued - 1);

        /* A fixed set: the next renewal that leaves no problem resets the count. */
        {
                CertFacts ok = facts(now, now + lifetime);

                ok.serial = serial;
                assert_false(policy_renewal_ineffective(&st, &ok));
                assert_int_equal(policy_issued(&st, &ok, false, "ff", now), 0);
                assert_int_equal(st.ineffective, 0);
                assert_int_equal(st.renew_cause, 0);
        }
        cert_state_done(&st);
}

static void test_plan_loop_guard(void **state) {
        Problem missing = { .code = PROBLEM_NAME_MISSING, .severity = SEVERITY_CRITICAL };
        usec_t lifetime = 4 * USEC_PER_HOUR; /* a quarter: one hour */
        CertFacts f = facts(T0, T0 + lifetime);
        CertState st = {};
        PlanInput in = { .name = "guard", .can_renew = true, .facts = &f, .state = &st, .renew_before = percent(33),
                         .warn_before = days(14), .critical_before = days(7) };
        Plan p;

        f.problems = &missing;
        f.n_problems = 1;
        /* Five issuances within the hour (by different serials, so no backoff applies): still renewed. */
        for (unsigned i = 0; i < 5; i++)
                assert_int_equal(policy_issued(&st, NULL, false, "01", T0 + i * USEC_PER_MINUTE), 0);
        p = policy_plan(&in, (PlanFlags) { .daemon = true }, T0 + 10 * USEC_PER_MINUTE);
        assert_int_equal(p.action, PLAN_RENEW);
        assert_false(p.failing);
        /* The sixth: held, renewal-failing critical, until the inputs change; --force still renews. */
        assert_int_equal(policy_issued(&st, NULL, false, "01", T0 + 5 * USEC_PER_MINUTE), 0);
        for (int daemon = 0; daemon <= 1; daemon++) {
                p = policy_plan(&in, (PlanFlags) { .daemon = daemon }, T0 + 10 * USEC_PER_MINUTE);
                assert_int_equal(p.action, PLAN_HELD);
                assert_true(p.looping && p.failing);
                assert_int_equal(p.failing_severity, SEVERITY_CRITICAL);
                assert_int_equal(p.recent_issues, 6);
        }
        p = policy_plan(&in, (PlanFlags) { .daemon = true, .force = true }, T0 + 10 * USEC_PER_MINUTE);
        assert_int_equal(p.action, PLAN_RENEW);
        in.issued_inputs_changed = true;
        p = policy_plan(&in, (PlanFlags) { .daemon = true }, T0 + 10 * USEC_PER_MINUTE);
        assert_int_equal(p.action, PLAN_RENEW);
        in.issued_inputs_changed = false;
        /* Once the window has passed the old issuances no longer count. */
        p = policy_plan(&in, (PlanFlags) { .daemon = true }, T0 + 2 * USEC_PER_HOUR);
        assert_int_equal(p.action, PLAN_RENEW);
        /* A set that is fine is never held, however often it was issued. */
        f.n_problems = 0;
        p = policy_plan(&in, (PlanFlags) { .daemon = true }, T0 + 10 * USEC_PER_MINUTE);
        assert_int_equal(p.action, PLAN_NONE);
        assert_false(p.failing);
        /* Forced issuances do not count. */
        cert_state_done(&st);
        for (unsigned i = 0; i < 8; i++)
                assert_int_equal(policy_issued(&st, NULL, true, "01", T0 + i * USEC_PER_MINUTE), 0);
        assert_int_equal(st.n_issued, 0);
        cert_state_done(&st);
}

/* 30-second certificates (the demo) renew on time for ten minutes: never held, never backing off. */
static void test_plan_short_lived_on_time(void **state) {
        usec_t lifetime = 30 * USEC_PER_SEC, nb = T0, now;
        Threshold implicit = { .set = true, .implicit = true, .is_percent = true, .percent = 33 };
        CertState st = {};
        unsigned issued = 0;

        for (now = T0; now < T0 + 10 * USEC_PER_MINUTE; now += 250 * (USEC_PER_SEC / 1000)) {
                CertFacts f = facts(nb, nb + lifetime);
                PlanInput in = { .name = "demo", .can_renew = true, .facts = &f, .state = &st,
                                 .renew_before = implicit, .warn_before = days(14), .critical_before = days(7) };
                Plan p = policy_plan(&in, (PlanFlags) { .daemon = true }, now);

                assert_true(now < nb + lifetime); /* never expired */
                assert_true(p.action == PLAN_NONE || p.action == PLAN_RENEW);
                if (p.action == PLAN_RENEW) {
                        assert_int_equal(policy_issued(&st, &f, false, "01", now), 0);
                        nb = now;
                        issued++;
                }
        }
        assert_true(issued >= 35 && issued <= 45);
        cert_state_done(&st);
}

/* Maintenance windows, in UTC (TZ=UTC0) for round numbers: T0 is Friday 2027-01-15 08:00. A 90-day
 * certificate with renew-before 30d falls due on Friday 2027-03-19 at 08:00 (plus a jitter under 4.5
 * days); the window is Saturday 02:00-04:00. */
/* policy_plan() into a Plan that may hold the text of an earlier one. */
static Plan replan(Plan *old, const PlanInput *in, PlanFlags flags, usec_t now) {
        plan_done(old);
        return policy_plan(in, flags, now);
}

static PlanInput window_input(CertFacts *f, WindowList *w) {
        return (PlanInput) { .name = "web", .can_renew = true, .facts = f, .renew_before = days(30),
                             .warn_before = days(14), .critical_before = days(7), .window = w };
}

static void test_plan_window(void **state) {
        CertFacts f = facts(T0, T0 + 90 * USEC_PER_DAY);
        WindowList w;
        PlanInput in = window_input(&f, &w);
        usec_t sat = T0 + 18 * USEC_PER_HOUR; /* Saturday 2027-01-16 02:00 */
        usec_t due, at;
        Plan p = {};

        setenv("TZ", "UTC0", 1);
        tzset();
        assert_int_equal(window_parse("Sat 02:00-04:00", &w), 0);

        /* Not due yet: the due time moves to the window that opens after it; the daemon sleeps until then. */
        p = replan(&p, &in, (PlanFlags) { .daemon = true }, T0);
        assert_int_equal(p.action, PLAN_NONE);
        assert_false(p.window_open);
        assert_true(p.window_start == sat && p.window_end == sat + 2 * USEC_PER_HOUR);
        due = p.due;
        assert_true((due - sat) % USEC_PER_WEEK == 0 && due > T0 + 60 * USEC_PER_DAY);
        assert_true(p.next <= due);

        /* Due, outside the window: waits, says until when, and a timer run does nothing. */
        at = due - 12 * USEC_PER_HOUR; /* Friday 14:00 */
        in.renew_before = days(31);    /* due since a day, window tomorrow */
        p = replan(&p, &in, (PlanFlags) {}, at);
        assert_int_equal(p.action, PLAN_NONE);
        assert_true(p.window_wait);
        assert_true(p.due == due);
        assert_non_null(strstr(p.wait_why, "waits for the maintenance window at"));
        /* Inside the window: renewed. */
        p = replan(&p, &in, (PlanFlags) {}, due + USEC_PER_MINUTE);
        assert_int_equal(p.action, PLAN_RENEW);
        assert_true(p.window_open);
        assert_false(p.window_wait || p.window_guard);
        /* --force ignores the window. */
        p = replan(&p, &in, (PlanFlags) { .force = true }, at);
        assert_int_equal(p.action, PLAN_RENEW);
        assert_false(p.window_guard);

        /* The guard (the jitter of "web" is 7.8 h): due on Monday 2027-04-05 15:50 with 10 days left; the
         * next window, Saturday, opens after critical-before (Thursday 08:00): renew at once. */
        in.renew_before = days(10);
        at = policy_renew_time(f.not_before, f.not_after, days(10)) + policy_jitter("web", f.not_before, f.not_after);
        p = replan(&p, &in, (PlanFlags) {}, at);
        assert_int_equal(p.action, PLAN_RENEW);
        assert_true(p.window_guard);
        assert_non_null(strstr(p.wait_why, "after the certificate reaches critical-before at 2027-04-08T08:00:00Z"));
        /* Already inside critical-before: the same, said so. */
        p = replan(&p, &in, (PlanFlags) {}, f.not_after - 3 * USEC_PER_DAY);
        assert_int_equal(p.action, PLAN_RENEW);
        assert_non_null(strstr(p.wait_why, "already inside critical-before"));
        /* Due with 20 days left (Friday 03-26 15:50): Saturday's window comes before critical-before. */
        in.renew_before = days(20);
        at = policy_renew_time(f.not_before, f.not_after, days(20)) + policy_jitter("web", f.not_before, f.not_after);
        p = replan(&p, &in, (PlanFlags) {}, at);
        assert_int_equal(p.action, PLAN_NONE);
        assert_true(p.window_wait);
        assert_true(p.due == sat + 10 * USEC_PER_WEEK);
        /* No usable certificate: guard at once. */
        in.facts = NULL;
        p = replan(&p, &in, (PlanFlags) {}, T0);
        assert_int_equal(p.action, PLAN_RENEW);
        assert_true(p.window_guard);
        plan_done(&p);
}

/* A failed deploy is retried inside a window only; a backoff retry moves to the window. */
static void test_plan_window_deploy_backoff(void **state) {
        CertFacts f = facts(T0, T0 + 90 * USEC_PER_DAY);
        WindowList w;
        CertState st = { .deploy_failed = true, .deploy_failures = 1, .deploy_time = T0 };
        PlanInput in = window_input(&f, &w);
        usec_t sat = T0 + 18 * USEC_PER_HOUR;
        Plan p = {};

        setenv("TZ", "UTC0", 1);
        tzset();
        assert_int_equal(window_parse("Sat 02:00-04:00", &w), 0);
        in.state = &st;
        p = replan(&p, &in, (PlanFlags) {}, T0 + USEC_PER_HOUR);
        assert_int_equal(p.action, PLAN_NONE);
        assert_true(p.window_wait && p.due == sat);
        p = replan(&p, &in, (PlanFlags) {}, sat + USEC_PER_MINUTE);
        assert_int_equal(p.action, PLAN_DEPLOY);

        /* Renewal failures: the retry after the backoff moves to the window (far from critical). */
        st = (CertState) { .failures = 1, .next_retry = T0 + 60 * USEC_PER_DAY + USEC_PER_HOUR };
        in.renew_before = days(40);
        p = replan(&p, &in, (PlanFlags) {}, T0 + 60 * USEC_PER_DAY);
        assert_int_equal(p.action, PLAN_BACKOFF);
        assert_true(window_open(&w, p.retry));
        assert_true(p.retry > st.next_retry);
        plan_done(&p);
}

/* A rate-limit budget in the way: the renewal waits until it frees up, whatever the window, the guard or
 * --force say (the server would refuse the order). */
static void test_plan_rate_limited(void **state) {
        CertFacts f = facts(T0, T0 + 90 * USEC_PER_DAY);
        WindowList w = {};
        PlanInput in = window_input(&f, &w);
        usec_t at = f.not_after - 20 * USEC_PER_DAY;
        Plan p = {};

        in.rate_limited_until = at + USEC_PER_HOUR;
        in.rate_limit_why = "2 of 2 new orders in 1h used (max-orders)";
        p = replan(&p, &in, (PlanFlags) {}, at);
        assert_int_equal(p.action, PLAN_NONE);
        assert_true(p.rate_limited && p.due == at + USEC_PER_HOUR && p.next <= p.due);
        assert_string_equal(p.wait_why, "rate-limited: 2 of 2 new orders in 1h used (max-orders)");
        p = replan(&p, &in, (PlanFlags) { .force = true }, at);
        assert_int_equal(p.action, PLAN_NONE);
        in.facts = NULL; /* no certificate: the guard would renew at once, the budget still wins */
        p = replan(&p, &in, (PlanFlags) {}, at);
        assert_int_equal(p.action, PLAN_NONE);
        assert_false(p.window_guard);
        /* Once it frees up: renewed. */
        in.facts = &f;
        p = replan(&p, &in, (PlanFlags) {}, at + USEC_PER_HOUR);
        assert_int_equal(p.action, PLAN_RENEW);
        assert_false(p.rate_limited);
        plan_done(&p);
}

TEST_MAIN(cmocka_unit_test(test_renew_time),  cmocka_unit_test(test_renew_reasons),
          cmocka_unit_test(test_jitter),      cmocka_unit_test(test_backoff),
          cmocka_unit_test(test_alert_schedule),
          cmocka_unit_test(test_plan_same_in_both_modes),
          cmocka_unit_test(test_plan_jitter),
          cmocka_unit_test(test_plan_backoff),
          cmocka_unit_test(test_plan_deploy_retry),
          cmocka_unit_test(test_plan_alert_repetition),
          cmocka_unit_test(test_plan_ca_rotated),
          cmocka_unit_test(test_plan_ca_rotation_overlap),
          cmocka_unit_test(test_plan_held),
          cmocka_unit_test(test_plan_implicit_renew_before),
          cmocka_unit_test(test_plan_no_loop),
          cmocka_unit_test(test_plan_loop_guard),
          cmocka_unit_test(test_plan_short_lived_on_time),
          cmocka_unit_test(test_plan_window),
          cmocka_unit_test(test_plan_window_deploy_backoff),
          cmocka_unit_test(test_plan_rate_limited))
