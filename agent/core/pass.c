/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "acme-ari.h"
#include "crl.h"
#include "install.h"
#include "log.h"
#include "metrics.h"
#include "pass.h"
#include "publish.h"

int pass_prepare(const Inventory *inv, bool wait) {
        int fd, r;

        r = state_directory(inv->agent.state_directory);
        if (r < 0)
                return r;
        fd = state_lock(inv->agent.state_directory, false);
        if (fd == -EWOULDBLOCK && wait) {
                /* The other mode is at work: let it finish (DESIGN.md §8). */
                log_notice("another certherd holds the lock in %s, waiting for it", inv->agent.state_directory);
                fd = state_lock(inv->agent.state_directory, true);
        }
        return fd;
}

void pass_recover(const Inventory *inv) {
        for (size_t i = 0; i < inv->n_certs; i++)
                if (install_recover(inv->agent.state_directory, inv->certs[i]->name) > 0)
                        log_notice("%s: completed an interrupted install", inv->certs[i]->name);
}

/* Journal events for a certificate inside its warn/critical windows or expired. */
static void log_expiry(const CertConfig *c, const CertFacts *f) {
        char na[32], f_na[64], f_days[48];

        if (!f || !f->parsed)
                return;
        format_timestamp_iso(na, sizeof(na), f->not_after);
        snprintf(f_na, sizeof(f_na), "CERTHERD_NOT_AFTER=%s", na);
        snprintf(f_days, sizeof(f_days), "CERTHERD_DAYS_LEFT=%" PRIi64, f->days_left);
        for (size_t i = 0; i < f->n_problems; i++) {
                CertEvent e = f->problems[i].code == PROBLEM_EXPIRED           ? CERT_EVENT_EXPIRED
                              : f->problems[i].code == PROBLEM_EXPIRY_CRITICAL ? CERT_EVENT_EXPIRY_CRITICAL
                              : f->problems[i].code == PROBLEM_EXPIRY_WARNING  ? CERT_EVENT_EXPIRY_WARNING
                                                                               : _CERT_EVENT_INVALID;
                if (e >= 0)
                        log_cert_event(e, c->name, (const char *[]) { f_na, f_days, NULL }, "%s", f->problems[i].message);
        }
}

usec_t pass_ca_alerts(const Inventory *inv, usec_t now) {
        _cleanup_check_report_ CheckReport *rep = NULL;
        usec_t next = USEC_INFINITY;

        if (inv->n_ca == 0)
                return next;
        if (!(rep = calloc(1, sizeof(CheckReport))) || check_cas(inv, rep, now) < 0) {
                log_warning("cannot inspect the internal CAs: out of memory, ignoring");
                return next;
        }
        for (size_t i = 0; i < rep->n_cas; i++) {
                const CertFacts *f = rep->cas[i].facts;
                CertState st = {};
                AlertDecision d;
                char name[256];
                int r;

                if (!f || !f->parsed)
                        continue; /* not created yet: `ca init` is the operator's step, check says so */
                /* "ca:NAME" cannot be a certificate set's name (no ':' in section names). */
                snprintf(name, sizeof(name), "ca:%s", rep->cas[i].ca->name);
                (void) state_load(inv->agent.state_directory, name, &st);
                d = policy_alert(f, inv->agent.warn_before, inv->agent.critical_before,
                                 &(AlertState) { .level = st.alert_level, .last = st.alert_last }, now);
                if (d.next < next)
                        next = d.next;
                if (d.emit || (d.level == ALERT_NONE && st.alert_level != ALERT_NONE)) {
                        if (d.emit)
                                log_expiry(&(CertConfig) { .name = name }, f);
                        st.alert_level = d.level;
                        st.alert_last = d.emit ? now : 0;
                        r = state_save(inv->agent.state_directory, name, &st);
                        if (r < 0)
                                log_warning_errno(r, "%s: cannot save its state: %m, ignoring", name);
                }
                cert_state_done(&st);
        }
        return next;
}

int pass_decide(const Inventory *inv, CheckReport *rep, size_t i, PlanFlags flags, usec_t now) {
        CertState *st = &rep->states[i];
        const Plan *p;
        int r;

        r = check_plan_one(inv, rep, i, flags, now);
        if (r < 0)
                return r;
        p = &rep->plans[i];
        /* Maintenance windows: the guard is worth a notice; a wait, once per run of the timer. */
        if (p->window_guard)
                log_notice("%s: %s", rep->results[i].cert->name, p->wait_why);
        else if ((p->window_wait || p->rate_limited) && !flags.daemon)
                log_info("%s: %s", rep->results[i].cert->name, p->wait_why);
        if (p->alert.emit) {
                log_expiry(rep->results[i].cert, rep->results[i].facts);
                st->alert_level = p->alert.level;
                st->alert_last = now;
                return 1;
        }
        if (p->alert.level == ALERT_NONE && st->alert_level != ALERT_NONE) {
                st->alert_level = ALERT_NONE; /* renewed: a new crossing alerts again */
                st->alert_last = 0;
                return 1;
        }
        return 0;
}

/* A line fit for the state file, the journal and a terminal: control characters become spaces. */
static char *clean_line(const char *s) {
        char *d = strdup(s && s[0] ? s : "unknown error");

        for (char *p = d; p && *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        *p = ' ';
        return d;
}

static void replace(char **dst, char *s) {
        free(*dst);
        *dst = s;
}

void pass_record(const Inventory *inv, CertState *st, const RenewJob *j, usec_t started, usec_t now) {
        const CertFacts *f = j->current;
        usec_t lifetime = f && f->parsed && f->not_after > f->not_before ? f->not_after - f->not_before : 0;
        char fp[65];

        /* A refused certificate holds further orders while the inputs stay as they are now. */
        if (!j->deploy_only)
                replace(&st->held_inputs, j->held && check_inputs_fingerprint(inv, j->cert, fp) >= 0 ? strdup(fp) : NULL);

        /* Cut short by SIGTERM (the ACME order stays saved and is resumed), or deferred for a rate limit
         * before ordering (the next plan says until when): not a failed attempt. */
        if (!j->deploy_only && (j->result == -ECANCELED || j->result == -EDQUOT))
                return;
        if (!j->deploy_only) {
                st->last_attempt = started;
                if (j->result >= 0) {
                        st->failures = 0;
                        st->next_retry = 0;
                        st->last_renewal = now;
                        /* For the loop guards: what was issued, why, and the inputs it left behind. */
                        if (policy_issued(st, j->current, j->forced, j->outcome.serial, now) < 0 ||
                            check_inputs_fingerprint(inv, j->cert, fp) < 0)
                                fp[0] = 0;
                        replace(&st->issued_inputs, fp[0] ? strdup(fp) : NULL);
                        replace(&st->last_error, NULL);
                        replace(&st->profile, cert_profile(inv, j->cert) ? strdup(cert_profile(inv, j->cert)) : NULL);
                } else {
                        st->failures++;
                        st->next_retry = now + policy_backoff(st->failures, lifetime);
                        replace(&st->last_error, clean_line(j->error));
                        log_notice("%s: renewal attempt %u failed; next attempt in %" PRIu64 " s", j->cert->name,
                                   st->failures, (st->next_retry - now) / USEC_PER_SEC);
                }
        }
        if (!j->deployed)
                return;
        st->deploy_time = now;
        replace(&st->deploy_serial, j->outcome.serial[0] ? strdup(j->outcome.serial) : NULL);
        if (j->deploy_result < 0) {
                st->deploy_failed = true;
                st->deploy_failures++;
                replace(&st->deploy_step, clean_line(j->deploy_step));
                replace(&st->deploy_error, clean_line(j->deploy_error));
                log_notice("%s: deploy attempt %u failed; next attempt in %" PRIu64 " s", j->cert->name,
                           st->deploy_failures, policy_backoff(st->deploy_failures, lifetime) / USEC_PER_SEC);
        } else {
                if (st->deploy_failed)
                        log_notice("%s: deployed (serial %s); the earlier deploy failure is resolved", j->cert->name,
                                   j->outcome.serial);
                st->deploy_failed = false;
                st->deploy_failures = 0;
                replace(&st->deploy_step, NULL);
                replace(&st->deploy_error, NULL);
        }
}

void pass_pins(const Inventory *inv, const CheckReport *rep, size_t i, PublishBatch **batch, usec_t now) {
        const CheckResult *res = &rep->results[i];

        if (!res->facts->has_pin || (rep->states && rep->states[i].deploy_failed))
                return;
        /* A pass publishes every pin it republishes through one batch: one syncfs for all of them, where
         * a file at a time cost two fsyncs each (20 s for the first start at 10 000 sets). */
        if (batch && (*batch || publish_batch_new(inv, batch) >= 0)) {
                (void) publish_batch_add(*batch, res->cert, res->facts->pin, res->facts->not_after, NULL, now);
                return;
        }
        (void) publish_pins(inv, res->cert, res->facts->pin, res->facts->not_after, NULL, now);
}

void pass_pins_commit(PublishBatch **batch) {
        if (!*batch)
                return;
        (void) publish_batch_commit(*batch);
        *batch = publish_batch_free(*batch);
}

void pass_save(const Inventory *inv, const CheckReport *rep, size_t i) {
        int r = state_save(inv->agent.state_directory, rep->results[i].cert->name, &rep->states[i]);
        if (r < 0)
                log_warning_errno(r, "%s: cannot save its state: %m, ignoring", rep->results[i].cert->name);
}

static int metrics_render_write(const Inventory *inv, const CheckReport *rep, usec_t now) {
        _cleanup_check_report_ CheckReport *own = NULL;
        _cleanup_free_ MetricsState *ms = NULL;
        _cleanup_free_ MetricsCa *cas = NULL;
        const CheckReport *cas_rep;
        _cleanup_free_ char *text = NULL;
        int r = 0;

        ms = calloc(rep->n_results ? rep->n_results : 1, sizeof(MetricsState));
        if (!ms)
                r = -ENOMEM;
        for (size_t i = 0; r >= 0 && rep->states && i < rep->n_results; i++) {
                const Plan *p = rep->plans ? &rep->plans[i] : NULL;
                usec_t next = !p ? 0 : p->action == PLAN_BACKOFF && p->why != RENEW_REASON_NONE ? p->retry : p->due;

                ms[i] = (MetricsState) { .renewal_failures = rep->states[i].failures,
                                         .last_renewal = rep->states[i].last_renewal,
                                         .deploy_failed = rep->states[i].deploy_failed,
                                         .next_renewal = rep->results[i].cert->issuer == ISSUER_NONE ||
                                                                         next == USEC_INFINITY
                                                                 ? 0
                                                                 : next };
        }
        /* The internal CAs' own expiry (a report of the CAs alone when the caller did not inspect them). */
        if (r >= 0 && !rep->cas && inv->n_ca > 0) {
                if (!(own = calloc(1, sizeof(CheckReport))))
                        r = -ENOMEM;
                else
                        r = check_cas(inv, own, now);
        }
        cas_rep = own ?: rep;
        if (r >= 0 && cas_rep->n_cas > 0 && !(cas = calloc(cas_rep->n_cas, sizeof(MetricsCa))))
                r = -ENOMEM;
        for (size_t i = 0; r >= 0 && i < cas_rep->n_cas; i++) {
                const CertFacts *f = cas_rep->cas[i].facts;

                cas[i] = (MetricsCa) { .name = cas_rep->cas[i].ca->name, .not_after = f ? f->not_after : 0,
                                       .crl_next_update = crl_ca_next_update(cas_rep->cas[i].ca),
                                       .parsed = f && f->parsed };
        }
        if (r >= 0)
                r = metrics_render(rep, ms, cas, cas_rep->n_cas, now, now, &text);
        if (r >= 0)
                r = metrics_append_budgets(inv, now, &text);
        if (r >= 0)
                r = metrics_write(inv->agent.metrics_file, text);
        return r;
}

void pass_metrics(const Inventory *inv, const CheckReport *rep, usec_t now, int *last_error) {
        const char *path = inv->agent.metrics_file;
        bool no_dir;
        int r;

        if (!path)
                return;
        r = metrics_directory_check(path);
        no_dir = r < 0;
        if (r >= 0)
                r = metrics_render_write(inv, rep, now);
        /* The same failure every pass is noise that hides what changed: a daemon says it once, and again
         * only after the file could be written in between. */
        if (last_error && r < 0 && r == *last_error)
                return;
        if (last_error && r >= 0 && *last_error < 0)
                log_info("metrics-file %s: written again", path);
        if (last_error)
                *last_error = r < 0 ? r : 0;
        if (no_dir)
                metrics_warn_directory(path, r);
        else if (r < 0)
                log_warning_errno(r, "cannot write the metrics file %s: %m, ignoring", path);
}

void pass_result_done(PassResult *p) {
        size_t n = p->report ? p->report->n_results : 0;

        for (size_t i = 0; i < p->n_jobs; i++)
                renew_job_done(&p->jobs[i]);
        free(p->jobs);
        free(p->items);
        check_report_free(p->report);
        cert_states_free(p->states, n);
        *p = (PassResult) {};
}

/* The metrics file holds every set (it is replaced whole, so `renew NAME` must not drop the others), as
 * installed after this pass, with the state it recorded. */
static void metrics_after(const Inventory *inv, usec_t now) {
        _cleanup_check_report_ CheckReport *rep = NULL;
        CertState *states = NULL;

        if (!inv->agent.metrics_file)
                return;
        if (check_run(inv, NULL, 0, now, &rep) < 0 || check_load_states(inv, rep, &states) < 0) {
                log_warning("cannot write the metrics file %s: out of memory, ignoring", inv->agent.metrics_file);
                return;
        }
        rep->states = states;
        if (check_plan(inv, rep, (PlanFlags) {}, now) >= 0)
                pass_metrics(inv, rep, now, NULL);
        rep->states = NULL;
        cert_states_free(states, rep->n_results);
}

usec_t pass_crls(const Inventory *inv, usec_t now) {
        return crl_refresh_all(inv, now);
}

usec_t pass_crls_due(const Inventory *inv, usec_t now) {
        return crl_next_due(inv, now);
}

int pass_run(const Inventory *inv, CertConfig *const *certs, PlanFlags flags, PassResult *ret) {
        _cleanup_(publish_batch_freep) PublishBatch *pins = NULL;
        _cleanup_(pass_result_done) PassResult p = {};
        _cleanup_(acme_ari_set_freep) AcmeAriSet *ari = NULL;
        usec_t now = now_realtime();
        CheckReport *rep;
        int r;

        (void) pass_crls(inv, now);
        r = check_run(inv, certs, 0, now, &p.report);
        if (r < 0)
                return r;
        rep = p.report;
        r = check_load_states(inv, rep, &p.states);
        if (r < 0)
                return r;
        rep->states = p.states;
        p.items = calloc(rep->n_results ? rep->n_results : 1, sizeof(PassItem));
        p.jobs = calloc(rep->n_results ? rep->n_results : 1, sizeof(RenewJob));
        if (!p.items || !p.jobs)
                return -ENOMEM;
        p.n_items = rep->n_results;

        for (size_t i = 0; i < rep->n_results; i++) {
                const CertConfig *c = rep->results[i].cert;
                Plan *pl;

                r = pass_decide(inv, rep, i, flags, now);
                if (r < 0)
                        return r;
                if (r > 0)
                        pass_save(inv, rep, i);
                pl = &rep->plans[i];
                /* ARI: the ACME server may want a renewal before policy does (network: asked only here). */
                if (pl->action == PLAN_NONE && c->issuer == ISSUER_ACME && pl->window_open) {
                        if (!ari)
                                ari = acme_ari_set_new(inv);
                        if (acme_ari_set_due(ari, c, now)) {
                                pl->action = PLAN_RENEW;
                                pl->why = RENEW_REASON_DUE;
                        }
                }
                p.items[i] = (PassItem) { .cert = c, .plan = *pl };
                if (pl->action == PLAN_RENEW || pl->action == PLAN_DEPLOY) {
                        if (pl->action == PLAN_RENEW)
                                log_info("%s: renewing: %s", c->name, renew_reason_to_string(pl->why));
                        p.jobs[p.n_jobs] = (RenewJob) { .cert = c, .current = rep->results[i].facts,
                                                        .deploy_only = pl->action == PLAN_DEPLOY,
                                                        .forced = pl->why == RENEW_REASON_FORCED };
                        p.items[i].job = &p.jobs[p.n_jobs++];
                } else
                        pass_pins(inv, rep, i, &pins, now);
        }
        pass_pins_commit(&pins);
        check_report_recount(rep);
        (void) pass_ca_alerts(inv, now);

        renew_many(inv, p.jobs, p.n_jobs, RENEW_CONCURRENCY, now);
        for (size_t i = 0; i < rep->n_results; i++)
                if (p.items[i].job) {
                        pass_record(inv, &p.states[i], p.items[i].job, now, now_realtime());
                        pass_save(inv, rep, i);
                }
        metrics_after(inv, now_realtime());
        *ret = p;
        p = (PassResult) {};
        return 0;
}
