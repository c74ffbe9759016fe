/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "policy.h"

static const char *const renew_reason_table[_RENEW_REASON_MAX] = {
        [RENEW_REASON_NONE] = "not due",
        [RENEW_REASON_FORCED] = "forced",
        [RENEW_REASON_MISSING] = "no usable certificate",
        [RENEW_REASON_BROKEN] = "certificate set is broken",
        [RENEW_REASON_EXPIRED] = "expired",
        [RENEW_REASON_DUE] = "inside the renew-before window",
        [RENEW_REASON_CA_ROTATED] = "issued by the previous generation of its CA (ca rotate)",
};

DEFINE_STRING_TABLE_TO_STRING(renew_reason, RenewReason, renew_reason_table, _RENEW_REASON_MAX)

usec_t policy_renew_time(usec_t not_before, usec_t not_after, Threshold renew_before) {
        usec_t lifetime = not_after > not_before ? not_after - not_before : 0;
        usec_t before = threshold_resolve(renew_before, lifetime);

        /* No renew-before given anywhere: a third of the lifetime left, half of it for lifetimes
         * under 10 days, so that a 6-day certificate renews with 3 days left and a twice-daily timer or an
         * ARI window still has several chances before expiry. */
        if (renew_before.implicit)
                before = lifetime < 10 * USEC_PER_DAY ? lifetime / 2 : lifetime / 3;
        if (before > lifetime - lifetime / 3)
                before = lifetime - lifetime / 3;
        return before >= not_after ? 0 : not_after - before;
}

usec_t policy_jitter(const char *name, usec_t not_before, usec_t not_after) {
        usec_t lifetime = not_after > not_before ? not_after - not_before : 0;
        uint64_t h = 1469598103934665603ULL; /* FNV-1a: stable across runs and machines */

        for (const char *p = name; p && *p; p++)
                h = (h ^ (unsigned char) *p) * 1099511628211ULL;
        h ^= not_after;
        h *= 1099511628211ULL;
        return lifetime / 20 == 0 ? 0 : h % (lifetime / 20 + 1);
}

usec_t policy_backoff(unsigned failures, usec_t lifetime) {
        usec_t cap = 6 * USEC_PER_HOUR, d = 30 * USEC_PER_SEC;

        if (lifetime > 0 && lifetime / 10 < cap)
                cap = lifetime / 10 > USEC_PER_SEC ? lifetime / 10 : USEC_PER_SEC;
        for (unsigned i = 1; i < failures && d < cap; i++)
                d *= 2;
        return d < cap ? d : cap;
}

static AlertLevel alert_level(const CertFacts *f, usec_t warn, usec_t crit, usec_t now) {
        if (now > f->not_after)
                return ALERT_EXPIRED;
        if (now + crit >= f->not_after)
                return ALERT_CRITICAL;
        if (now + warn >= f->not_after)
                return ALERT_WARNING;
        return ALERT_NONE;
}

AlertDecision policy_alert(const CertFacts *f, Threshold warn_before, Threshold critical_before,
                           const AlertState *st, usec_t now) {
        AlertDecision d = { .level = ALERT_NONE, .next = USEC_INFINITY };
        usec_t lifetime, warn, crit, repeat, crossing;

        if (!f || !f->parsed)
                return d;
        lifetime = f->not_after > f->not_before ? f->not_after - f->not_before : 0;
        warn = threshold_resolve(warn_before, lifetime);
        crit = threshold_resolve(critical_before, lifetime);
        d.level = alert_level(f, warn, crit, now);

        /* The next threshold this certificate crosses, if no alert comes first. */
        crossing = d.level == ALERT_NONE       ? (f->not_after > warn ? f->not_after - warn : now)
                   : d.level == ALERT_WARNING  ? (f->not_after > crit ? f->not_after - crit : now)
                   : d.level == ALERT_CRITICAL ? f->not_after + 1
                                               : USEC_INFINITY;
        if (d.level == ALERT_NONE) {
                d.next = crossing;
                return d;
        }

        repeat = d.level == ALERT_EXPIRED ? USEC_PER_HOUR : USEC_PER_DAY;
        if (!st || st->last == 0 || d.level > st->level || now >= st->last + repeat) {
                d.emit = true;
                d.next = now + repeat;
        } else
                d.next = st->last + repeat;
        if (crossing < d.next)
                d.next = crossing;
        return d;
}

RenewReason policy_renew_reason(const CertFacts *facts, Threshold renew_before, bool force, usec_t now) {
        RenewReason worst = RENEW_REASON_NONE;

        if (force)
                return RENEW_REASON_FORCED;
        if (!facts || !facts->parsed)
                return RENEW_REASON_MISSING;

        for (size_t i = 0; i < facts->n_problems; i++)
                switch (facts->problems[i].code) {
                case PROBLEM_UNREADABLE:
                case PROBLEM_MALFORMED:
                        /* An unreadable or malformed key is as good as no certificate set. */
                        return RENEW_REASON_MISSING;
                case PROBLEM_EXPIRED:
                        worst = RENEW_REASON_EXPIRED;
                        break;
                case PROBLEM_KEY_MISMATCH:
                case PROBLEM_NAME_MISSING:
                case PROBLEM_UNTRUSTED_CHAIN:
                case PROBLEM_WEAK_KEY:
                case PROBLEM_WEAK_SIGNATURE:
                case PROBLEM_USAGE_MISSING:
                case PROBLEM_REVOKED: /* a revoked certificate or compromised key: replace it now */
                        if (worst == RENEW_REASON_NONE)
                                worst = RENEW_REASON_BROKEN;
                        break;
                default:
                        /* not-yet-valid, expiry thresholds and key permissions: a new certificate changes
                         * nothing about them, the renew window decides. */
                        break;
                }
        if (worst != RENEW_REASON_NONE)
                return worst;

        return now >= policy_renew_time(facts->not_before, facts->not_after, renew_before)
                       ? RENEW_REASON_DUE
                       : RENEW_REASON_NONE;
}

bool policy_issued_ok(const CertFacts *facts) {
        if (!facts || !facts->parsed)
                return false;
        for (size_t i = 0; i < facts->n_problems; i++)
                if (facts->problems[i].code != PROBLEM_EXPIRY_WARNING &&
                    facts->problems[i].code != PROBLEM_EXPIRY_CRITICAL)
                        return false;
        return true;
}

/* Not `revoked`: the certificate a renewal installs has a new serial and key, so a revocation of it is a
 * new event, not the old problem left in place. */
static bool makes_broken(ProblemCode c) {
        return c == PROBLEM_KEY_MISMATCH || c == PROBLEM_NAME_MISSING || c == PROBLEM_UNTRUSTED_CHAIN ||
               c == PROBLEM_WEAK_KEY || c == PROBLEM_WEAK_SIGNATURE || c == PROBLEM_USAGE_MISSING;
}

unsigned policy_broken_mask(const CertFacts *f) {
        unsigned m = 0;

        for (size_t i = 0; f && i < f->n_problems; i++)
                if (makes_broken(f->problems[i].code))
                        m |= 1u << f->problems[i].code;
        return m;
}

bool policy_renewal_ineffective(const CertState *st, const CertFacts *f) {
        return st && st->renew_cause != 0 && st->issued_serial && f && f->parsed && f->serial &&
               strcmp(f->serial, st->issued_serial) == 0 && (policy_broken_mask(f) & st->renew_cause) != 0;
}

int policy_issued(CertState *st, const CertFacts *before, bool forced, const char *serial, usec_t now) {
        char *s = serial && serial[0] ? strdup(serial) : NULL;

        if (serial && serial[0] && !s)
                return -ENOMEM;
        /* Before the cause is replaced: did the renewal that made `before` fix what caused it? */
        st->ineffective = !forced && policy_renewal_ineffective(st, before) ? st->ineffective + 1 : 0;
        st->renew_cause = forced ? 0 : policy_broken_mask(before);
        free(st->issued_serial);
        st->issued_serial = s;
        if (!forced) {
                unsigned n = st->n_issued < CERT_STATE_ISSUED_MAX ? st->n_issued + 1 : CERT_STATE_ISSUED_MAX;

                memmove(st->issued + 1, st->issued, (n - 1) * sizeof(usec_t));
                st->issued[0] = now;
                st->n_issued = n;
        }
        return 0;
}

unsigned policy_recent_issues(const CertState *st, const CertFacts *f, usec_t now) {
        usec_t lifetime = f && f->parsed && f->not_after > f->not_before ? f->not_after - f->not_before : 0;
        usec_t window = lifetime > 0 ? lifetime / 4 : USEC_PER_HOUR;
        unsigned n = 0;

        for (unsigned i = 0; st && i < st->n_issued && i < CERT_STATE_ISSUED_MAX; i++)
                if (st->issued[i] + window > now)
                        n++;
        return n;
}

static const char *const plan_action_table[_PLAN_ACTION_MAX] = {
        [PLAN_NONE] = "none",       [PLAN_RENEW] = "renew", [PLAN_DEPLOY] = "deploy",
        [PLAN_BACKOFF] = "backoff", [PLAN_HELD] = "held",
};

DEFINE_STRING_TABLE_TO_STRING(plan_action, PlanAction, plan_action_table, _PLAN_ACTION_MAX)

static usec_t min_usec(usec_t a, usec_t b) {
        return a < b ? a : b;
}

/* When the certificate reaches critical-before; 0 when it has (or there is no usable certificate). */
static usec_t critical_at(const PlanInput *in, usec_t lifetime) {
        const CertFacts *f = in->facts;
        usec_t crit;

        if (!f || !f->parsed)
                return 0;
        crit = threshold_resolve(in->critical_before, lifetime);
        return f->not_after > crit ? f->not_after - crit : 0;
}

/* A time `t` outside every window moves to the next window's start, unless that is at or after `limit`
 * (critical-before: the guard). Returns the time the action may happen. */
static usec_t window_shift(const WindowList *w, usec_t t, usec_t limit) {
        usec_t start, end;

        if (window_next(w, t, &start, &end) < 0 || start <= t || start >= limit)
                return t;
        return start;
}

/* Maintenance windows over a plan made without them. */
void plan_done(Plan *p) {
        if (!p)
                return;
        free(p->wait_why);
        p->wait_why = NULL;
}

_printf_(2, 3) static void plan_say(Plan *p, const char *fmt, ...) {
        va_list ap;

        free(p->wait_why);
        va_start(ap, fmt);
        if (vasprintf(&p->wait_why, fmt, ap) < 0)
                p->wait_why = NULL;
        va_end(ap);
}

static void plan_window(const PlanInput *in, PlanFlags flags, usec_t lifetime, usec_t now, Plan *p) {
        usec_t limit = critical_at(in, lifetime), t;
        char start[32], crit[32];

        if (!in->window || in->window->n == 0 ||
            window_next(in->window, now, &p->window_start, &p->window_end) < 0)
                return;
        p->window_open = p->window_start <= now;
        if (flags.force)
                return;
        format_timestamp_iso(start, sizeof(start), p->window_start);
        format_timestamp_iso(crit, sizeof(crit), limit);
        switch (p->action) {
        case PLAN_RENEW:
        case PLAN_DEPLOY:
                if (p->window_start <= now)
                        return;
                if (p->action == PLAN_RENEW && p->window_start >= limit) {
                        p->window_guard = true;
                        plan_say(
                                p,
                                "renewing outside the maintenance window (%s): the next one opens at %s, %s%s",
                                renew_reason_to_string(p->why), start,
                                limit <= now ? "and the certificate is already inside critical-before"
                                             : "after the certificate reaches critical-before at ",
                                limit <= now ? "" : crit);
                        return;
                }
                plan_say(p, "%s%s%s waits for the maintenance window at %s",
                         p->action == PLAN_RENEW ? "renewal (" : "deploy",
                         p->action == PLAN_RENEW ? renew_reason_to_string(p->why) : "",
                         p->action == PLAN_RENEW ? ")" : "", start);
                p->action = PLAN_NONE;
                p->why = RENEW_REASON_NONE;
                p->due = p->window_start;
                p->window_wait = true;
                return;
        case PLAN_BACKOFF:
                /* A retry of a renewal is held to a window like the renewal; a deploy has no guard (its
                 * certificate is already installed). */
                t = window_shift(in->window, p->retry, p->why != RENEW_REASON_NONE ? limit : USEC_INFINITY);
                if (t != p->retry) {
                        p->retry = t;
                        p->window_wait = true;
                        format_timestamp_iso(start, sizeof(start), t);
                        plan_say(p, "the next attempt waits for the maintenance window at %s", start);
                }
                return;
        case PLAN_NONE:
                if (p->due != USEC_INFINITY && p->due > now)
                        p->due = window_shift(in->window, p->due, limit);
                return;
        default:
                return;
        }
}

/* Why the set wants a renewal now (p->why) or when it will (p->due, p->due_why). */
static void plan_reason(const PlanInput *in, PlanFlags flags, usec_t now, Plan *p) {
        const CertFacts *f = in->facts;
        bool rotated;

        p->why = policy_renew_reason(f, in->renew_before, flags.force, now);
        rotated = in->ca_rotated && f && f->parsed &&
                  (p->why == RENEW_REASON_NONE || p->why == RENEW_REASON_DUE);
        /* A leaf of a rotated CA moves to the new CA once the rotation's overlap ends, not at its next
         * window: the old generation should have no leaves left long before it expires; yet not before,
         * so that clients holding only the old CA certificate have fetched the new bundle. */
        if (rotated && in->ca_reissue_at <= now)
                p->why = RENEW_REASON_CA_ROTATED;
        if (f && f->parsed && (p->why == RENEW_REASON_NONE || p->why == RENEW_REASON_DUE)) {
                p->due = policy_renew_time(f->not_before, f->not_after, in->renew_before) +
                         policy_jitter(in->name, f->not_before, f->not_after);
                p->due_why = RENEW_REASON_DUE;
                /* No jitter here: the CA is local, and the operator chose the moment. */
                if (rotated && in->ca_reissue_at < p->due) {
                        p->due = in->ca_reissue_at;
                        p->due_why = RENEW_REASON_CA_ROTATED;
                }
                if (p->due > now)
                        p->why = RENEW_REASON_NONE;
        } else if (p->why != RENEW_REASON_NONE) {
                p->due = now;
                p->due_why = p->why;
        }
}

/* The loop guards (see POLICY_LOOP_ISSUES), which matter only while a renewal is wanted, and whether the
 * set counts as failing, and how badly. */
static void plan_guards(const PlanInput *in, const CertState *st, PlanFlags flags, usec_t lifetime,
                        usec_t now, Plan *p) {
        const CertFacts *f = in->facts;

        p->recent_issues = policy_recent_issues(st, f, now);
        if (p->why != RENEW_REASON_NONE && !flags.force) {
                p->ineffective = p->why == RENEW_REASON_BROKEN && policy_renewal_ineffective(st, f) &&
                                 !in->issued_inputs_changed;
                p->looping = p->recent_issues > POLICY_LOOP_ISSUES && !in->issued_inputs_changed;
        }
        if (st->failures > 0 || p->ineffective || p->looping) {
                p->failing = true;
                p->failing_severity = p->looping || !f || !f->parsed ||
                                                      now + threshold_resolve(in->critical_before,
                                                                              lifetime) >=
                                                              f->not_after
                                              ? SEVERITY_CRITICAL
                                              : SEVERITY_WARNING;
        }
}

/* What to do about it: renew, wait out a backoff, hold, or deploy again what is already issued. */
static void plan_action(const PlanInput *in, const CertState *st, PlanFlags flags, usec_t lifetime,
                        usec_t now, Plan *p) {
        const CertFacts *f = in->facts;

        if (p->why != RENEW_REASON_NONE) {
                usec_t again = p->ineffective
                                       ? st->last_renewal + policy_backoff(st->ineffective + 1, lifetime)
                                       : 0;

                if (!flags.force && (in->held || p->looping))
                        p->action = PLAN_HELD;
                else if (!flags.force && !in->held_changed && st->failures > 0 && st->next_retry > now) {
                        p->action = PLAN_BACKOFF;
                        p->retry = st->next_retry;
                } else if (p->ineffective && again > now) {
                        p->action = PLAN_BACKOFF;
                        p->retry = again;
                } else
                        p->action = PLAN_RENEW;
        } else if (st->deploy_failed && f && f->parsed) {
                usec_t at = st->deploy_time + policy_backoff(st->deploy_failures ?: 1, lifetime);

                /* A re-deploy costs the CA nothing. The daemon retries on its own, so it backs off; a one-shot
                 * run (the timer, or an operator who just fixed the cause) deploys again at once: the timer's
                 * period is its backoff. The one planning difference between the modes. */
                if (flags.daemon && at > now) {
                        p->action = PLAN_BACKOFF;
                        p->retry = at;
                } else
                        p->action = PLAN_DEPLOY;
        }
}

Plan policy_plan(const PlanInput *in, PlanFlags flags, usec_t now) {
        static const CertState zero = {};
        const CertState *st = in->state ?: &zero;
        const CertFacts *f = in->facts;
        AlertState as = { .level = st->alert_level, .last = st->alert_last };
        usec_t lifetime = f && f->parsed && f->not_after > f->not_before ? f->not_after - f->not_before : 0;
        Plan p = { .action = PLAN_NONE,
                   .why = RENEW_REASON_NONE,
                   .due = USEC_INFINITY,
                   .next = USEC_INFINITY,
                   .due_why = RENEW_REASON_NONE,
                   .window_end = USEC_INFINITY,
                   .window_open = true };

        p.alert = policy_alert(f, in->warn_before, in->critical_before, &as, now);
        p.next = p.alert.next;
        if (!in->can_renew)
                return p;

        plan_reason(in, flags, now, &p);
        plan_guards(in, st, flags, lifetime, now, &p);
        plan_action(in, st, flags, lifetime, now, &p);
        plan_window(in, flags, lifetime, now, &p);
        if (p.action == PLAN_RENEW && in->rate_limited_until > now) {
                p.action = PLAN_NONE;
                p.why = RENEW_REASON_NONE;
                p.due = in->rate_limited_until;
                p.rate_limited = true;
                p.window_guard = false;
                plan_say(&p, "rate-limited: %s", in->rate_limit_why ?: "");
        }

        if (p.action == PLAN_RENEW || p.action == PLAN_DEPLOY)
                p.next = now;
        else if (p.action == PLAN_BACKOFF)
                p.next = min_usec(p.next, p.retry);
        else if (p.action == PLAN_NONE)
                p.next = min_usec(p.next, p.due);
        /* PLAN_HELD: only a change of the inputs (inotify, a reload) brings the set back. */
        return p;
}
