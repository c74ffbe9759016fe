/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "acme-ari.h"
#include "crl.h"
#include "install.h"
#include "keys.h"
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
                /* The other mode is at work: let it finish (docs/operation.md). */
                log_notice("another certherd holds the lock in %s, waiting for it",
                           inv->agent.state_directory);
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
        snprintf(f_days, sizeof(f_days), "CERTHERD_DAYS_LEFT=%" PRIi32, f->days_left);
        for (size_t i = 0; i < f->n_problems; i++) {
                CertEvent e = f->problems[i].code == PROBLEM_EXPIRED           ? CERT_EVENT_EXPIRED
                              : f->problems[i].code == PROBLEM_EXPIRY_CRITICAL ? CERT_EVENT_EXPIRY_CRITICAL
                              : f->problems[i].code == PROBLEM_EXPIRY_WARNING  ? CERT_EVENT_EXPIRY_WARNING
                                                                               : _CERT_EVENT_INVALID;
                if (e >= 0)
                        log_cert_event(e, c->name, (const char *[]){ f_na, f_days, NULL }, "%s",
                                       f->problems[i].message);
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
                                 &(AlertState){ .level = st.alert_level, .last = st.alert_last }, now);
                if (d.next < next)
                        next = d.next;
                if (d.emit || (d.level == ALERT_NONE && st.alert_level != ALERT_NONE)) {
                        if (d.emit)
                                log_expiry(&(CertConfig){ .name = name, .x = &cert_extra_none }, f);
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
                replace(&st->held_inputs,
                        j->held && check_inputs_fingerprint(inv, j->cert, fp) >= 0 ? strdup(fp) : NULL);

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
                        replace(&st->profile,
                                cert_profile(inv, j->cert) ? strdup(cert_profile(inv, j->cert)) : NULL);
                } else {
                        st->failures++;
                        st->next_retry = now + policy_backoff(st->failures, lifetime);
                        replace(&st->last_error, clean_line(j->error));
                        log_notice("%s: renewal attempt %u failed; next attempt in %" PRIu64 " s",
                                   j->cert->name, st->failures, (st->next_retry - now) / USEC_PER_SEC);
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
                           st->deploy_failures,
                           policy_backoff(st->deploy_failures, lifetime) / USEC_PER_SEC);
        } else {
                if (st->deploy_failed)
                        log_notice("%s: deployed (serial %s); the earlier deploy failure is resolved",
                                   j->cert->name, j->outcome.serial);
                st->deploy_failed = false;
                st->deploy_failures = 0;
                replace(&st->deploy_step, NULL);
                replace(&st->deploy_error, NULL);
        }
}

/* ---- the pass ---- */

/* The longest the daemon sleeps between passes (certherd(8) METRICS: at least every 12 h). */
#define PASS_INTERVAL_MAX_USEC (12 * USEC_PER_HOUR)

static bool ari_ask_real(AcmeAriSet *a, const CertConfig *c, usec_t now, usec_t *ret_next) {
        return acme_ari_set_ask(a, c, now, ret_next);
}

const PassOps pass_ops_real = {
        .crls = crl_refresh_all,
        .crls_due = crl_next_due,
        .ari = ari_ask_real,
        .renew = renew_many,
        .next_key = keys_next_make,
};

bool pass_work_empty(const PassWork *w) {
        return !w || (!w->crls && w->n_ari == 0 && w->n_pins == 0 && w->n_due == 0);
}

PassWork *pass_work_free(PassWork *w) {
        if (!w)
                return NULL;
        for (size_t i = 0; i < w->n_jobs; i++)
                renew_job_done(&w->jobs[i]);
        free(w->jobs);
        free(w->job_set);
        free(w->ari);
        free(w->pins);
        free(w);
        return NULL;
}

static void pass_work_freep(PassWork **w) {
        pass_work_free(*w);
}

static void pass_set_done(Pass *p, PassSet *s) {
        facts_store_drop(p->facts, s->facts);
        plan_done(&s->plan);
        if (s->notes)
                check_notes_done(s->notes);
        free(s->notes);
        if (s->state)
                cert_state_done(s->state);
        free(s->state);
}

static bool cert_listed(CertConfig *const *certs, const CertConfig *c) {
        for (size_t i = 0; certs[i]; i++)
                if (certs[i] == c)
                        return true;
        return false;
}

int pass_new(const Inventory *inv, CertConfig *const *certs, bool daemon, const PassOps *ops, Pass **ret) {
        _cleanup_(pass_freep) Pass *p = NULL;
        /* The metrics file holds every set (it is replaced whole): `renew NAME` inspects the others too. */
        bool only = certs && !inv->agent.metrics_file;
        size_t n = 0;

        while (only && certs[n])
                n++;
        if (!only)
                n = inv->n_certs;
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        *p = (Pass){ .inv = inv, .ops = ops ?: &pass_ops_real, .daemon = daemon, .deadline = USEC_INFINITY };
        p->sets = calloc(n ? n : 1, sizeof(PassSet));
        if (!p->sets || facts_store_new(&p->facts) < 0)
                return -ENOMEM;
        p->n_sets = n;
        for (size_t i = 0; i < n; i++) {
                PassSet *s = &p->sets[i];
                CertState st = {};
                int r;

                s->cert = only ? certs[i] : inv->certs[i];
                s->selected = !certs || only || cert_listed(certs, s->cert);
                s->dirty = true;
                r = state_load(inv->agent.state_directory, s->cert->name, &st);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        log_warning_errno(r, "%s: cannot read its saved state: %m, starting afresh",
                                          s->cert->name);
                /* Most sets have no saved state: only those that have one cost its memory. */
                else if (!cert_state_is_empty(&st)) {
                        s->state = malloc(sizeof(CertState));
                        if (!s->state) {
                                cert_state_done(&st);
                                return -ENOMEM;
                        }
                        *s->state = st;
                }
        }
        *ret = TAKE_PTR(p);
        return 0;
}

Pass *pass_free(Pass *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_sets; i++)
                pass_set_done(p, &p->sets[i]);
        free(p->sets);
        facts_store_free(p->facts);
        pass_work_free(p->work);
        pass_work_free(p->done);
        free(p);
        return NULL;
}

size_t pass_find(const Pass *p, const CertConfig *c) {
        for (size_t i = 0; c && i < p->n_sets; i++)
                if (p->sets[i].cert == c)
                        return i;
        return SIZE_MAX;
}

static const CertState zero_state = {};

const RenewJob *pass_set_job(const Pass *p, const PassSet *s) {
        return s->job > 0 && p->done ? &p->done->jobs[s->job - 1] : NULL;
}

const CertState *pass_set_state(const PassSet *s) {
        return s->state ?: &zero_state;
}

/* The state of a set, to write to: made when it has none (NULL: out of memory, logged). */
static CertState *set_state_mut(PassSet *s) {
        if (!s->state && !(s->state = calloc(1, sizeof(CertState))))
                log_error_errno(-ENOMEM, "%s: out of memory, its state is not recorded", s->cert->name);
        return s->state;
}

/* Plan set s into *ret, and what its saved state says beside its facts into s->notes. */
static int plan_set(const Pass *p, PassSet *s, PlanFlags flags, usec_t now, Plan *ret) {
        CheckNotes n = {};
        int r;

        r = check_plan_set(p->inv, s->cert, s->facts, s->ca_rotated, s->ca_reissue_at, s->state, flags, now,
                           ret, &n);
        if (s->notes)
                check_notes_done(s->notes);
        if (r < 0 || n.n == 0) {
                free(s->notes);
                s->notes = NULL;
                check_notes_done(&n);
                return r;
        }
        if (!s->notes && !(s->notes = malloc(sizeof(CheckNotes)))) {
                check_notes_done(&n);
                return -ENOMEM;
        }
        *s->notes = n;
        return 0;
}

static void set_save(const Pass *p, const PassSet *s) {
        int r = state_save(p->inv->agent.state_directory, s->cert->name, pass_set_state(s));
        if (r < 0)
                log_warning_errno(r, "%s: cannot save its state: %m, ignoring", s->cert->name);
}

/* The facts still used, into a new store: the old one is mostly what inspections replaced. Nothing
 * borrows them now (no work is out: see pass_begin() and pass_finish()). Out of memory, the old store
 * stays as it is. */
static void repack_facts(Pass *p) {
        _cleanup_(facts_store_freep) FactsStore *new = NULL;
        _cleanup_free_ CertFacts **moved = NULL;

        if (facts_store_new(&new) < 0 || !(moved = calloc(p->n_sets ? p->n_sets : 1, sizeof(CertFacts *))))
                return;
        for (size_t i = 0; i < p->n_sets; i++)
                if (p->sets[i].facts &&
                    !(moved[i] = facts_store_add(new, p->sets[i].facts, p->sets[i].cert->names)))
                        return;
        for (size_t i = 0; i < p->n_sets; i++)
                p->sets[i].facts = moved[i];
        facts_store_free(p->facts);
        p->facts = TAKE_PTR(new);
}

/* Inspect the sets marked dirty (or all). A change to one file costs one inspection, not one of the
 * whole inventory. */
static int inspect(Pass *p, bool all, usec_t now) {
        _cleanup_check_report_ CheckReport *part = NULL;
        _cleanup_free_ CertConfig **subset = NULL;
        _cleanup_free_ size_t *index = NULL;
        size_t n = 0;
        int r;

        for (size_t i = 0; i < p->n_sets; i++)
                p->sets[i].inspected = false;
        subset = calloc(p->n_sets + 1, sizeof(CertConfig *));
        index = calloc(p->n_sets + 1, sizeof(size_t));
        if (!subset || !index)
                return -ENOMEM;
        for (size_t i = 0; i < p->n_sets; i++)
                if (all || p->sets[i].dirty || !p->sets[i].facts) {
                        subset[n] = (CertConfig *) p->sets[i].cert;
                        index[n++] = i;
                }
        if (n == 0)
                return 0;
        r = check_run(p->inv, subset, 0, now, &part);
        if (r < 0)
                return r;
        for (size_t k = 0; k < n; k++) {
                PassSet *s = &p->sets[index[k]];
                CertFacts *f = facts_store_add(p->facts, part->results[k].facts, s->cert->names);

                if (!f)
                        return -ENOMEM;
                facts_store_drop(p->facts, s->facts);
                s->facts = f;
                s->ca_rotated = part->results[k].ca_rotated;
                s->ca_reissue_at = part->results[k].ca_reissue_at;
                s->inspected = true;
                s->dirty = false;
        }
        if (facts_store_sparse(p->facts))
                repack_facts(p);
        return 0;
}

/* When the metrics say the set renews (usec_t: USEC_INFINITY for never or unknown). */
static usec_t plan_next_renewal(const PassSet *s, const Plan *pl) {
        if (s->cert->issuer == ISSUER_NONE)
                return USEC_INFINITY;
        return pl->action == PLAN_BACKOFF && pl->why != RENEW_REASON_NONE ? pl->retry : pl->due;
}

/* The expiry alerts the plan says are due, remembered in the state (both modes: repetition is
 * suppressed the same way). Returns true when the state changed. */
static bool set_alert(PassSet *s, usec_t now) {
        const Plan *pl = &s->plan;
        CertState *st;

        if (pl->alert.emit) {
                log_expiry(s->cert, s->facts);
                if (!(st = set_state_mut(s)))
                        return false;
                st->alert_level = pl->alert.level;
                st->alert_last = now;
                return true;
        }
        if (pl->alert.level == ALERT_NONE && s->state && s->state->alert_level != ALERT_NONE) {
                s->state->alert_level = ALERT_NONE; /* renewed: a new crossing alerts again */
                s->state->alert_last = 0;
                return true;
        }
        return false;
}

static PlanFlags set_flags(const Pass *p, const PassSet *s, PlanFlags flags, const PassOrders *o) {
        const char *name = s->cert->name;

        /* A set named by an order is planned as `certherd renew NAME` plans it: a failed deploy is
         * retried at once, not after the daemon's backoff. */
        return (PlanFlags){ .daemon = p->daemon && !(o && o->ordered && o->ordered(o->ud, name)),
                            .force = s->cert->issuer != ISSUER_NONE &&
                                     (flags.force || (o && o->forced && o->forced(o->ud, name))) };
}

/* The pins of a set inspected now and not acted on: 1 when they are to be published (the act phase
 * writes them), 2 when its next key is to be made first (key-policy = rotate), 0 when they are up to
 * date (or not to be published: the pin moves only with a deployed certificate). Reads only. */
static int set_pins(const Pass *p, const PassSet *s, usec_t now) {
        uint8_t next[PIN_SIZE];

        if (!s->facts->has_pin || pass_set_state(s)->deploy_failed)
                return 0;
        if (s->cert->key_policy == KEY_POLICY_ROTATE && s->cert->issuer != ISSUER_NONE &&
            keys_next_pin(p->inv, s->cert, s->facts->pin, next) < 0)
                return 2;
        return publish_pins_stale(p->inv, s->cert, s->facts->pin, s->facts->not_after, now) > 0;
}

/* What the sets to act on and to ask about: indices, until their count is known. */
typedef struct Wanted {
        size_t *due, *ari, *pins;
        bool *keys;
        size_t n_due, n_ari, n_pins;
} Wanted;

static void wanted_done(Wanted *w) {
        free(w->due);
        free(w->ari);
        free(w->pins);
        free(w->keys);
}

/* Plan one selected set and decide what it needs; returns its contribution to the deadline. */
static int begin_set(Pass *p, size_t i, PlanFlags flags, const PassOrders *o, usec_t now, Wanted *want,
                     usec_t *deadline) {
        PassSet *s = &p->sets[i];
        const Plan *pl = &s->plan;
        int r;

        r = plan_set(p, s, set_flags(p, s, flags, o), now, &s->plan);
        if (r < 0)
                return r;
        /* Maintenance windows: the guard is worth a notice; a wait, once per run of the timer. */
        if (pl->window_guard)
                log_notice("%s: %s", s->cert->name,
                           pl->wait_why ?: "renewing outside the maintenance window");
        else if ((pl->window_wait || pl->rate_limited) && !p->daemon)
                log_info("%s: %s", s->cert->name, pl->wait_why ?: "waiting");
        if (set_alert(s, now))
                set_save(p, s);
        if (pl->action == PLAN_RENEW || pl->action == PLAN_DEPLOY) {
                if (pl->action == PLAN_RENEW)
                        log_info("%s: renewing: %s", s->cert->name, renew_reason_to_string(pl->why));
                want->due[want->n_due++] = i; /* finish runs the next pass: no deadline for these */
                return 0;
        }
        if (pl->next < *deadline)
                *deadline = pl->next;
        /* ARI: the ACME server may want a renewal before policy does (network: asked in the act phase, at
         * most as often as its Retry-After says). */
        if (pl->action == PLAN_NONE && s->cert->issuer == ISSUER_ACME && pl->window_open) {
                usec_t ari_next = pass_set_state(s)->ari_next;

                if (ari_next <= now)
                        want->ari[want->n_ari++] = i;
                else if (ari_next < *deadline)
                        *deadline = ari_next;
        }
        if (s->inspected && (r = set_pins(p, s, now)) > 0) {
                want->keys[want->n_pins] = r == 2;
                want->pins[want->n_pins++] = i;
        }
        return 0;
}

static int work_new(Pass *p, const Wanted *want, bool crls, usec_t now, PassWork **ret) {
        _cleanup_(pass_work_freep) PassWork *w = calloc(1, sizeof(PassWork));
        size_t room = want->n_due + want->n_ari;

        if (!w)
                return -ENOMEM;
        *w = (PassWork){ .inv = p->inv, .ops = p->ops, .now = now, .crls = crls, .crl_next = USEC_INFINITY };
        w->jobs = calloc(room ? room : 1, sizeof(RenewJob));
        w->job_set = calloc(room ? room : 1, sizeof(size_t));
        w->ari = calloc(want->n_ari ? want->n_ari : 1, sizeof(PassAri));
        w->pins = calloc(want->n_pins ? want->n_pins : 1, sizeof(PassPin));
        if (!w->jobs || !w->job_set || !w->ari || !w->pins)
                return -ENOMEM;
        for (size_t k = 0; k < want->n_due; k++) {
                const PassSet *s = &p->sets[want->due[k]];

                w->job_set[w->n_jobs] = want->due[k];
                w->jobs[w->n_jobs++] = (RenewJob){ .cert = s->cert,
                                                   .current = s->facts,
                                                   .deploy_only = s->plan.action == PLAN_DEPLOY,
                                                   .forced = s->plan.why == RENEW_REASON_FORCED };
        }
        w->n_due = w->n_jobs;
        for (size_t k = 0; k < want->n_ari; k++) {
                const PassSet *s = &p->sets[want->ari[k]];

                w->ari[w->n_ari++] = (PassAri){ .set = want->ari[k], .cert = s->cert, .current = s->facts };
        }
        for (size_t k = 0; k < want->n_pins; k++) {
                const PassSet *s = &p->sets[want->pins[k]];

                w->pins[k] = (PassPin){ .set = want->pins[k],
                                        .cert = s->cert,
                                        .not_after = s->facts->not_after,
                                        .next_key = want->keys[k] };
                memcpy(w->pins[k].pin, s->facts->pin, PIN_SIZE);
                w->n_pins++;
        }
        *ret = TAKE_PTR(w);
        return 0;
}

/* Forget the work of the previous pass (the outcomes it answered). */
static void forget_done(Pass *p) {
        for (size_t i = 0; i < p->n_sets; i++)
                p->sets[i].job = 0;
        p->done = pass_work_free(p->done);
}

int pass_begin(Pass *p, bool all, PlanFlags flags, const PassOrders *orders, usec_t now,
               PassWork **ret_work) {
        _cleanup_(wanted_done) Wanted want = {};
        PassWork *w = NULL;
        usec_t deadline, ca_next;
        bool crls;
        int r;

        assert(!p->work);
        p->passes++;
        forget_done(p);
        /* A CRL due is a deadline like any other; the act phase re-signs it (crl_hold: not before a retry).
         */
        deadline = p->ops->crls_due(p->inv, now);
        if (deadline < p->crl_hold)
                deadline = p->crl_hold;
        crls = deadline <= now;
        if (crls)
                deadline = USEC_INFINITY; /* finish runs the next pass */
        r = inspect(p, all, now);
        if (r < 0)
                return log_error_errno(r, "cannot inspect certificates: %m");
        want.due = calloc(p->n_sets ? p->n_sets : 1, sizeof(size_t));
        want.ari = calloc(p->n_sets ? p->n_sets : 1, sizeof(size_t));
        want.pins = calloc(p->n_sets ? p->n_sets : 1, sizeof(size_t));
        want.keys = calloc(p->n_sets ? p->n_sets : 1, sizeof(bool));
        if (!want.due || !want.ari || !want.pins || !want.keys)
                return log_error_errno(-ENOMEM, "Out of memory");
        for (size_t i = 0; i < p->n_sets; i++) {
                PassSet *s = &p->sets[i];

                if (s->selected)
                        r = begin_set(p, i, flags, orders, now, &want, &deadline);
                else { /* for the metrics only */
                        r = plan_set(p, s, (PlanFlags){ .daemon = p->daemon }, now, &s->plan);
                }
                if (r < 0)
                        return log_error_errno(-ENOMEM, "Out of memory");
        }
        ca_next = pass_ca_alerts(p->inv, now);
        if (ca_next < deadline)
                deadline = ca_next;
        /* A pass at least every PASS_INTERVAL_MAX_USEC, whatever the deadlines: the metrics' last-pass time
         * is how monitoring tells a live agent from a stuck one (CertherdAgentStale). */
        if (deadline > now + PASS_INTERVAL_MAX_USEC)
                deadline = now + PASS_INTERVAL_MAX_USEC;
        p->deadline = deadline;
        if (crls || want.n_due + want.n_ari + want.n_pins > 0) {
                r = work_new(p, &want, crls, now, &w);
                if (r < 0)
                        return log_error_errno(-ENOMEM, "Out of memory");
        }
        p->work = w;
        *ret_work = w;
        return 0;
}

/* The pins of the sets inspected and not acted on, in one batch: one syncfs for all of them, where a
 * file at a time cost two fsyncs each (20 s for the first start at 10 000 sets). With rotate, the next
 * key first, so that its pin is announced long before the switch. */
static void act_pins(PassWork *w) {
        _cleanup_(publish_batch_freep) PublishBatch *b = NULL;

        if (w->n_pins == 0 || publish_batch_new(w->inv, &b) < 0)
                return;
        for (size_t k = 0; k < w->n_pins; k++) {
                const PassPin *q = &w->pins[k];

                if (q->next_key) {
                        int r = w->ops->next_key(w->inv, q->cert, q->pin);
                        if (r < 0)
                                log_warning_errno(r,
                                                  "%s: cannot make the next key: %m, publishing without "
                                                  "next_pin_sha256",
                                                  q->cert->name);
                }
                (void) publish_batch_add(b, q->cert, q->pin, q->not_after, NULL, w->now);
        }
        (void) publish_batch_commit(b);
}

void pass_act(PassWork *w) {
        _cleanup_(acme_ari_set_freep) AcmeAriSet *a = NULL;

        /* CRLs first: a reload or hook after a new CRL may take as long as a renewal's. */
        if (w->crls)
                w->crl_next = w->ops->crls(w->inv, w->now);
        if (w->n_ari > 0)
                a = acme_ari_set_new(w->inv);
        for (size_t k = 0; k < w->n_ari; k++) {
                PassAri *q = &w->ari[k];

                q->due = w->ops->ari(a, q->cert, w->now, &q->next);
                if (!q->due)
                        continue;
                w->job_set[w->n_jobs] = q->set;
                w->jobs[w->n_jobs++] = (RenewJob){ .cert = q->cert, .current = q->current };
        }
        /* key-policy = rotate: the key after the installed one, so that its pin is announced long before
         * the switch. */
        act_pins(w);
        w->ops->renew(w->inv, w->jobs, w->n_jobs, RENEW_CONCURRENCY, w->now);
}

/* The outcomes of the work into the sets' states, saved. */
static void finish_record(Pass *p, PassWork *w, usec_t now) {

        for (size_t k = 0; k < w->n_ari; k++) {
                PassSet *s = &p->sets[w->ari[k].set];

                CertState *st = set_state_mut(s);

                if (!st)
                        continue;
                st->ari_next = w->ari[k].next;
                if (w->ari[k].due) { /* what the outcome says: renewed as due */
                        s->plan.action = PLAN_RENEW;
                        s->plan.why = RENEW_REASON_DUE;
                } else
                        set_save(p, s);
        }
        for (size_t j = 0; j < w->n_jobs; j++) {
                PassSet *s = &p->sets[w->job_set[j]];
                CertState *st = set_state_mut(s);

                s->job = (uint32_t) j + 1;
                s->dirty = true; /* its files changed (or a failure left them): inspect it again */
                if (!st)
                        continue;
                pass_record(p->inv, st, &w->jobs[j], w->now, now);
                set_save(p, s);
        }
        /* The facts the jobs and the ARI questions were handed are replaced by the inspection that follows
         * (and may leave the store with it). */
        for (size_t j = 0; j < w->n_jobs; j++)
                w->jobs[j].current = NULL;
        for (size_t k = 0; k < w->n_ari; k++)
                w->ari[k].current = NULL;
        if (w->crls) {
                /* New CRLs: every set checked against one is inspected again (revoked, crl-expiring). */
                p->crl_hold = w->crl_next;
                for (size_t i = 0; i < p->n_sets; i++)
                        p->sets[i].dirty = true;
        }
}

int pass_view(const Pass *p, const size_t *idx, size_t n, CheckReport *ret) {
        CheckReport v = {};

        if (!idx)
                n = p->n_sets;
        v.results = calloc(n ? n : 1, sizeof(CheckResult));
        v.states = calloc(n ? n : 1, sizeof(CertState));
        v.plans = calloc(n ? n : 1, sizeof(Plan));
        v.notes = calloc(n ? n : 1, sizeof(CheckNotes));
        if (!v.results || !v.states || !v.plans || !v.notes) {
                pass_view_done(&v);
                return -ENOMEM;
        }
        v.n_results = n;
        for (size_t k = 0; k < n; k++) {
                const PassSet *s = &p->sets[idx ? idx[k] : k];

                v.results[k] = (CheckResult){ .cert = s->cert,
                                              .facts = s->facts,
                                              .ca_rotated = s->ca_rotated,
                                              .ca_reissue_at = s->ca_reissue_at };
                v.states[k] = *pass_set_state(s); /* borrowed */
                v.plans[k] = s->plan;
                v.notes[k] = s->notes ? *s->notes : (CheckNotes){}; /* borrowed */
        }
        check_report_recount(&v);
        *ret = v;
        return 0;
}

void pass_view_done(CheckReport *v) {
        free(v->results);
        free(v->states);
        free(v->plans);
        free(v->notes);
        for (size_t i = 0; i < v->n_cas; i++)
                cert_facts_free(v->cas[i].facts);
        free(v->cas);
        *v = (CheckReport){};
}

/* [agent] metrics-file, from every set as the pass left it: next[i], when set i renews (NULL: as its plan
 * says). */
static int metrics_render_write(const Pass *p, const usec_t *next, usec_t now) {
        _cleanup_(pass_view_done) CheckReport v = {};
        _cleanup_free_ MetricsState *ms = NULL;
        _cleanup_free_ MetricsCa *cas = NULL;
        _cleanup_free_ char *text = NULL;
        int r;

        r = pass_view(p, NULL, 0, &v);
        if (r >= 0 && !(ms = calloc(p->n_sets ? p->n_sets : 1, sizeof(MetricsState))))
                r = -ENOMEM;
        for (size_t i = 0; r >= 0 && i < p->n_sets; i++) {
                const PassSet *s = &p->sets[i];
                usec_t t = next ? next[i] : plan_next_renewal(s, &s->plan);

                ms[i] = (MetricsState){ .renewal_failures = pass_set_state(s)->failures,
                                        .last_renewal = pass_set_state(s)->last_renewal,
                                        .deploy_failed = pass_set_state(s)->deploy_failed,
                                        .next_renewal = t == USEC_INFINITY ? 0 : t };
        }
        /* The internal CAs' own expiry: a few files, read afresh. */
        if (r >= 0 && p->inv->n_ca > 0)
                r = check_cas(p->inv, &v, now);
        if (r >= 0 && v.n_cas > 0 && !(cas = calloc(v.n_cas, sizeof(MetricsCa))))
                r = -ENOMEM;
        for (size_t i = 0; r >= 0 && i < v.n_cas; i++) {
                const CertFacts *f = v.cas[i].facts;

                cas[i] = (MetricsCa){ .name = v.cas[i].ca->name,
                                      .not_after = f ? f->not_after : 0,
                                      .crl_next_update = crl_ca_next_update(v.cas[i].ca),
                                      .parsed = f && f->parsed };
        }
        if (r >= 0)
                r = metrics_render(&v, ms, cas, v.n_cas, now, now, &text);
        if (r >= 0)
                r = metrics_append_budgets(p->inv, now, &text);
        if (r >= 0)
                r = metrics_write(p->inv->agent.metrics_file, text);
        return r;
}

/* A failure is a warning, said when it differs from the last pass's: the same failure every pass is
 * noise that hides what changed (a missing directory: once per start of the daemon or run of the timer). */
static void pass_metrics(Pass *p, const usec_t *next, usec_t now) {
        const char *path = p->inv->agent.metrics_file;
        bool no_dir;
        int r;

        if (!path)
                return;
        r = metrics_directory_check(path);
        no_dir = r < 0;
        if (r >= 0)
                r = metrics_render_write(p, next, now);
        if (r < 0 && r == p->metrics_error)
                return;
        if (r >= 0 && p->metrics_error < 0)
                log_info("metrics-file %s: written again", path);
        p->metrics_error = r < 0 ? r : 0;
        if (no_dir)
                metrics_warn_directory(path, r);
        else if (r < 0)
                log_warning_errno(r, "cannot write the metrics file %s: %m, ignoring", path);
}

void pass_finish(Pass *p, PassWork *w, usec_t now) {
        _cleanup_free_ usec_t *next = NULL;

        assert(w == p->work);
        p->work = NULL;
        if (w)
                finish_record(p, w, now);
        /* What was acted on, as installed now: the metrics and the renderers show it. */
        if (inspect(p, false, now) < 0)
                log_warning("cannot inspect the sets acted on again: out of memory, ignoring");
        /* When each set renews, for the metrics: as planned at begin, or, for what was inspected again, as
         * planned now (not kept: the plan of begin stays, for the outcomes). Out of memory: as planned. */
        next = p->inv->agent.metrics_file ? calloc(p->n_sets ? p->n_sets : 1, sizeof(usec_t)) : NULL;
        for (size_t i = 0; i < p->n_sets; i++) {
                PassSet *s = &p->sets[i];
                Plan after = {};
                const Plan *pl = &s->plan;

                if (s->inspected && plan_set(p, s, (PlanFlags){ .daemon = p->daemon }, now, &after) >= 0)
                        pl = &after;
                if (next)
                        next[i] = plan_next_renewal(s, pl);
                plan_done(&after);
        }
        pass_metrics(p, next, now);
        p->done = w;
}

int pass_run(const Inventory *inv, CertConfig *const *certs, PlanFlags flags, Pass **ret) {
        _cleanup_(pass_freep) Pass *p = NULL;
        PassWork *w = NULL;
        int r;

        r = pass_new(inv, certs, false, NULL, &p);
        if (r < 0)
                return r;
        r = pass_begin(p, true, flags, NULL, now_realtime(), &w);
        if (r < 0)
                return r;
        if (w)
                pass_act(w);
        pass_finish(p, w, now_realtime());
        *ret = TAKE_PTR(p);
        return 0;
}
