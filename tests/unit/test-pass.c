/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The pass (pass.h) under both schedules: timer mode (a new Pass per run, the act phase inline) and the
 * daemon (one Pass for its life, the act phase on a thread), driven by a fake clock and fake issuers,
 * must leave identical records, metrics and ARI traffic. */
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fd-util.h"
#include "pass.h"
#include "test-fs.h"
#include "test-util.h"

#define N_SETS 3
#define ARI_RETRY_AFTER (2 * USEC_PER_HOUR)

static char root[] = "/tmp/test-pass-XXXXXX";

/* What the fakes saw, per schedule (0: timer, 1: daemon), found from the inventory. */
static const Inventory *invs[2];
static unsigned ari_calls[2], renew_calls[2][N_SETS];

static int mode_of(const Inventory *inv) {
        return inv == invs[1];
}

static usec_t fake_crls(const Inventory *inv, usec_t now) {
        return USEC_INFINITY;
}

/* CRLs for the scheduling test: due at crl_due_at; a re-sign says the next is due at crl_next_at. */
static usec_t crl_due_at = USEC_INFINITY, crl_next_at = USEC_INFINITY;
static unsigned crl_signs;

static usec_t fake_crls_due(const Inventory *inv, usec_t now) {
        return crl_due_at;
}

static usec_t fake_crls_sign(const Inventory *inv, usec_t now) {
        crl_signs++;
        return crl_next_at;
}

/* ARI: never due, ask again after the server's Retry-After; counted per schedule (a set's config is
 * one inventory's). */
static bool fake_ari(AcmeAriSet *a, const CertConfig *c, usec_t now, usec_t *ret_next) {
        for (int m = 0; m < 2; m++)
                for (size_t i = 0; invs[m] && i < invs[m]->n_certs; i++)
                        if (invs[m]->certs[i] == c)
                                ari_calls[m]++;
        *ret_next = now + ARI_RETRY_AFTER;
        return false;
}

/* Set k's issuer fails its first two orders, then issues (without installing: the set stays due). */
static void fake_renew(const Inventory *inv, RenewJob *jobs, size_t n, unsigned concurrency, usec_t now) {
        int m = mode_of(inv);

        for (size_t j = 0; j < n; j++) {
                RenewJob *jb = &jobs[j];
                unsigned k = (unsigned)(jb->cert->name[1] - '0');
                unsigned attempt = renew_calls[m][k]++;

                if (attempt < 2) {
                        jb->result = -EIO;
                        jb->error = strdup("fake issuer: refused");
                        continue;
                }
                jb->result = 0;
                jb->deployed = true;
                jb->outcome.not_after = now + 90 * USEC_PER_DAY;
                snprintf(jb->outcome.serial, sizeof(jb->outcome.serial), "%02x", attempt);
        }
}

static int fake_next_key(const Inventory *inv, const CertConfig *c, const uint8_t current[PIN_SIZE]) {
        return 0;
}

static const PassOps fake_ops = {
    .crls = fake_crls,
    .crls_due = fake_crls,
    .ari = fake_ari,
    .renew = fake_renew,
    .next_key = fake_next_key,
};

static int setup(void **state) {
        assert_non_null(mkdtemp(root));
        return 0;
}

static int teardown(void **state) {
        rm_rf(root);
        return 0;
}

/* s0: an ACME set installed and valid (ARI is asked), s1 and s2: missing, so due at once (their issuers
 * fail twice, then issue). */
static Inventory *inventory_for(const char *dir) {
        const char *fx = getenv("CERTHERD_FIXTURES");
        Inventory *inv = inventory_new();
        _cleanup_free_ char *text = NULL, *err = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        assert_non_null(fx);
        assert_non_null(inv);
        assert_non_null(f);
        fprintf(
            f,
            "[agent]\nstate-directory = %s/%s/state\npin-directory = %s/%s/pins\nmetrics-file = "
            "%s/%s/m.prom\n",
            root, dir, root, dir, root, dir);
        fprintf(f, "[acme \"le\"]\ndirectory = https://acme.invalid/dir\n");
        fprintf(
            f,
            "[certificate \"s0\"]\ncertificate = %s/ok.crt\nkey = %s/ok.key\nca = %s/ca.crt\n"
            "names = ok.example.test localhost 127.0.0.1 ::1\nissuer = acme:le\n",
            fx, fx, fx);
        for (int i = 1; i < N_SETS; i++)
                fprintf(
                    f,
                    "[certificate \"s%d\"]\ncertificate = %s/%s/s%d.crt\nkey = %s/%s/s%d.key\nnames = "
                    "s%d.test\n"
                    "issuer = self\n",
                    i, root, dir, i, root, dir, i, i);
        assert_int_equal(fclose(f), 0);
        if (config_parse_string(inv, text, "test.conf", &err) < 0 || config_validate(inv, &err) < 0)
                fail_msg("%s", err);
        return inv;
}

static void *act_thread(void *userdata) {
        pass_act(userdata);
        return NULL;
}

static void assert_states_equal(const CertState *a, const CertState *b) {
        assert_int_equal(a->failures, b->failures);
        assert_true(a->last_attempt == b->last_attempt);
        assert_true(a->next_retry == b->next_retry);
        assert_true(a->last_renewal == b->last_renewal);
        assert_string_equal(a->last_error ?: "", b->last_error ?: "");
        assert_int_equal(a->alert_level, b->alert_level);
        assert_true(a->alert_last == b->alert_last);
        assert_int_equal(a->deploy_failed, b->deploy_failed);
        assert_int_equal(a->deploy_failures, b->deploy_failures);
        assert_true(a->deploy_time == b->deploy_time);
        assert_string_equal(a->deploy_serial ?: "", b->deploy_serial ?: "");
        assert_true(a->ari_next == b->ari_next);
}

static char *metrics_of(const Inventory *inv) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t size;

        assert_int_equal(read_full_file(inv->agent.metrics_file, 1 << 20, &data, &size), 0);
        return strndup((const char *)data, size);
}

/* One tick of each schedule at `now`; the records on disk afterwards, and the metrics, agree. */
static void tick(Pass *daemon, usec_t now) {
        _cleanup_(pass_freep) Pass *timer = NULL;
        _cleanup_free_ char *mt = NULL, *md = NULL;
        PassWork *w = NULL;
        pthread_t t;

        assert_int_equal(pass_new(invs[0], NULL, false, &fake_ops, &timer), 0);
        assert_int_equal(pass_begin(timer, true, (PlanFlags){}, NULL, now, &w), 0);
        if (w)
                pass_act(w);
        pass_finish(timer, w, now);

        assert_int_equal(pass_begin(daemon, false, (PlanFlags){}, NULL, now, &w), 0);
        /* A daemon with nothing to do sleeps until its deadline: no later than anything it must do next
         * (with work, its end runs the next pass at once). */
        for (size_t i = 0; !w && i < N_SETS; i++) {
                assert_true(daemon->deadline <= daemon->sets[i].plan.next);
                assert_true(daemon->deadline <= pass_set_state(&daemon->sets[0])->ari_next);
        }
        if (w) {
                assert_int_equal(pthread_create(&t, NULL, act_thread, w), 0);
                assert_int_equal(pthread_join(t, NULL), 0);
        }
        pass_finish(daemon, w, now);

        for (size_t i = 0; i < N_SETS; i++) {
                CertState a = {}, b = {};

                assert_int_equal(state_load(invs[0]->agent.state_directory, invs[0]->certs[i]->name, &a), 0);
                assert_int_equal(state_load(invs[1]->agent.state_directory, invs[1]->certs[i]->name, &b), 0);
                assert_states_equal(&a, &b);
                assert_states_equal(
                    &a, pass_set_state(&daemon->sets[i])); /* what the daemon keeps is what it saved */
                assert_int_equal(timer->sets[i].plan.action, daemon->sets[i].plan.action);
                assert_int_equal(pass_set_job(timer, &timer->sets[i]) != NULL,
                                 pass_set_job(daemon, &daemon->sets[i]) != NULL);
                cert_state_done(&a);
                cert_state_done(&b);
        }
        mt = metrics_of(invs[0]);
        md = metrics_of(invs[1]);
        assert_string_equal(mt, md);
        assert_int_equal(ari_calls[0], ari_calls[1]);
        assert_memory_equal(renew_calls[0], renew_calls[1], sizeof(renew_calls[0]));
}

static void test_schedules_agree(void **state) {
        _cleanup_(pass_freep) Pass *daemon = NULL;
        Inventory *a = inventory_for("timer"), *b = inventory_for("daemon");
        usec_t t0 = now_realtime();

        invs[0] = a;
        invs[1] = b;
        assert_int_equal(pass_new(b, NULL, true, &fake_ops, &daemon), 0);
        /* Seconds apart while the failing issuers back off (30 s, then 60 s), then hours. */
        static const usec_t at[] = {0,    20,   40,   70,    100,   140,   3600,
                                    5400, 7200, 9000, 10800, 14400, 16200, 19800};
        unsigned backoffs = 0;

        for (size_t k = 0; k < ELEMENTSOF(at); k++) {
                tick(daemon, t0 + at[k] * USEC_PER_SEC);
                backoffs += daemon->sets[1].plan.action == PLAN_BACKOFF;
        }
        assert_int_equal(backoffs, 2); /* at 20 s and at 70 s */

        /* ARI at t0, then every Retry-After (2 h) in 5.5 h: t0, +2 h, +4 h. */
        assert_int_equal(ari_calls[0], 3);
        assert_true(pass_set_state(&daemon->sets[0])->ari_next == t0 + 4 * USEC_PER_HOUR + ARI_RETRY_AFTER);
        /* The failing issuers backed off, then issued. */
        assert_int_equal(renew_calls[0][1], 2 + 10); /* 2 failed, then one per tick from 100 s */
        assert_int_equal(pass_set_state(&daemon->sets[1])->failures, 0);
        assert_true(pass_set_state(&daemon->sets[1])->last_renewal != 0);

        daemon = pass_free(daemon);
        invs[0] = invs[1] = NULL;
        inventory_free(a);
        inventory_free(b);
}

/* A set named by an order is planned as `certherd renew NAME` plans it: its failed deploy is retried at
 * once, where the daemon alone waits out the backoff. */
static bool ordered_s0(void *ud, const char *name) {
        return strcmp(name, "s0") == 0;
}

static void test_order_redeploys(void **state) {
        _cleanup_(pass_freep) Pass *p = NULL;
        Inventory *inv = inventory_for("order");
        PassOrders orders = {.ordered = ordered_s0};
        usec_t now = now_realtime();
        PassWork *w = NULL;

        assert_int_equal(pass_new(inv, NULL, true, &fake_ops, &p), 0);
        assert_null(p->sets[0].state); /* nothing saved: none kept */
        p->sets[0].state = calloc(1, sizeof(CertState));
        assert_non_null(p->sets[0].state);
        p->sets[0].state->deploy_failed = true;
        p->sets[0].state->deploy_failures = 1;
        p->sets[0].state->deploy_time = now;
        assert_int_equal(pass_begin(p, true, (PlanFlags){}, NULL, now, &w), 0);
        assert_int_equal(p->sets[0].plan.action, PLAN_BACKOFF);
        assert_true(p->deadline <= p->sets[0].plan.retry);
        if (w)
                pass_act(w);
        pass_finish(p, w, now);

        assert_int_equal(pass_begin(p, false, (PlanFlags){}, &orders, now, &w), 0);
        assert_int_equal(p->sets[0].plan.action, PLAN_DEPLOY);
        assert_non_null(w);
        assert_int_equal(w->jobs[0].deploy_only, true);
        assert_ptr_equal(w->jobs[0].cert, inv->certs[0]);
        pass_act(w);
        pass_finish(p, w, now);
        assert_non_null(pass_set_job(p, &p->sets[0]));

        p = pass_free(p);
        inventory_free(inv);
}

/* The daemon's scheduling: the deadline it arms its one timer for. */
static void test_deadlines(void **state) {
        static const PassOps crl_ops = {
            .crls = fake_crls_sign,
            .crls_due = fake_crls_due,
            .ari = fake_ari,
            .renew = fake_renew,
            .next_key = fake_next_key,
        };
        _cleanup_(pass_freep) Pass *p = NULL;
        _cleanup_free_ char *text = NULL, *err = NULL;
        const char *fx = getenv("CERTHERD_FIXTURES");
        Inventory *inv = inventory_new();
        usec_t now = now_realtime();
        PassWork *w = NULL;

        /* One watched set, valid for months: nothing falls due for long. */
        assert_true(
            asprintf(
                &text,
                "[agent]\nstate-directory = %s/sched/state\npin-directory = %s/sched/pins\n"
                "[certificate \"w\"]\ncertificate = %s/ok.crt\nkey = %s/ok.key\nca = %s/ca.crt\n"
                "names = ok.example.test localhost 127.0.0.1 ::1\n",
                root, root, fx, fx, fx) > 0);
        if (config_parse_string(inv, text, "test.conf", &err) < 0 || config_validate(inv, &err) < 0)
                fail_msg("%s", err);
        assert_int_equal(pass_new(inv, NULL, true, &crl_ops, &p), 0);

        /* The first pass: its pin is published by the act phase (the daemon's worker), not by begin. */
        assert_int_equal(pass_begin(p, true, (PlanFlags){}, NULL, now, &w), 0);
        assert_non_null(w);
        assert_int_equal(w->n_pins, 1);
        assert_int_equal(w->n_due, 0);
        pass_act(w);
        pass_finish(p, w, now);

        /* Nothing due: a pass at least every 12 h all the same (the heartbeat monitoring watches). */
        assert_int_equal(pass_begin(p, true, (PlanFlags){}, NULL, now, &w), 0);
        assert_null(w);
        pass_finish(p, NULL, now);
        assert_true(p->deadline == now + 12 * USEC_PER_HOUR);

        /* A CRL due in an hour is the deadline. */
        crl_due_at = now + USEC_PER_HOUR;
        assert_int_equal(pass_begin(p, false, (PlanFlags){}, NULL, now, &w), 0);
        assert_null(w);
        pass_finish(p, NULL, now);
        assert_true(p->deadline == now + USEC_PER_HOUR);

        /* Due now: the act phase re-signs it; a failed re-sign's retry time holds further work. */
        crl_due_at = now - 1;
        crl_next_at = now + 5 * USEC_PER_HOUR;
        assert_int_equal(pass_begin(p, false, (PlanFlags){}, NULL, now, &w), 0);
        assert_non_null(w);
        assert_true(w->crls);
        pass_act(w);
        pass_finish(p, w, now);
        assert_int_equal(crl_signs, 1);
        assert_true(p->crl_hold == now + 5 * USEC_PER_HOUR);
        assert_int_equal(pass_begin(p, false, (PlanFlags){}, NULL, now, &w), 0);
        assert_null(w);
        pass_finish(p, NULL, now);
        assert_int_equal(crl_signs, 1);
        assert_true(p->deadline == now + 5 * USEC_PER_HOUR);

        crl_due_at = crl_next_at = USEC_INFINITY;
        p = pass_free(p);
        inventory_free(inv);
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_schedules_agree),
            cmocka_unit_test(test_order_redeploys),
            cmocka_unit_test(test_deadlines),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
