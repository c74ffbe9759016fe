/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "state.h"
#include "time-util.h"
#include "x509.h"

/* Decisions (docs/architecture.md): pure functions of facts, configuration and a clock. No I/O, no logging. */

typedef enum RenewReason {
        RENEW_REASON_NONE,    /* not due */
        RENEW_REASON_FORCED,  /* --force */
        RENEW_REASON_MISSING, /* no usable certificate: unreadable or malformed */
        RENEW_REASON_BROKEN, /* a problem a new certificate fixes: key-mismatch, names, chain, weak, usage */
        RENEW_REASON_EXPIRED,
        RENEW_REASON_DUE,        /* inside the renew-before window */
        RENEW_REASON_CA_ROTATED, /* Issued by an earlier generation of its internal CA */
        _RENEW_REASON_MAX,
        _RENEW_REASON_INVALID = -22,
} RenewReason;

const char *renew_reason_to_string(RenewReason r) _pure_;

/* When the renew-before window opens for a certificate valid [not_before, not_after]. A renew-before that
 * was not given (Threshold.implicit) opens it when a third of the lifetime is left, half of it for
 * lifetimes under 10 days (6-day certificates). The window never
 * opens before a third of the lifetime has passed: a renew-before as long as the validity would otherwise
 * renew forever. */
usec_t policy_renew_time(usec_t not_before, usec_t not_after, Threshold renew_before);

/* A stable pseudo-random delay in [0, lifetime/20] for certificate `name` (docs/architecture.md), so that many
 * certificates issued together do not all renew in the same second, yet short-lived ones stay on time. */
usec_t policy_jitter(const char *name, usec_t not_before, usec_t not_after);

/* Delay before retry number `failures` (≥ 1) of a failed renewal: exponential from 30 s, capped at 6 h
 * and at a tenth of the certificate's lifetime (0: unknown). */
usec_t policy_backoff(unsigned failures, usec_t lifetime);

/* Alerts: one event when a threshold is crossed, a reminder a day later while it lasts, the
 * level rising warning → critical → expired; an expired certificate every hour. */
typedef enum AlertLevel {
        ALERT_NONE,
        ALERT_WARNING,
        ALERT_CRITICAL,
        ALERT_EXPIRED,
        _ALERT_LEVEL_MAX,
        _ALERT_LEVEL_INVALID = -22,
} AlertLevel;

typedef struct AlertState {
        AlertLevel level; /* of the last alert sent */
        usec_t last;      /* when it was sent; 0: never */
} AlertState;

typedef struct AlertDecision {
        usec_t next; /* when this certificate's alerts need looking at again (USEC_INFINITY: never) */
        AlertLevel level : 8; /* the certificate's level now */
        bool emit;            /* send an alert of `level` now */
} AlertDecision;

AlertDecision policy_alert(const CertFacts *f, Threshold warn_before, Threshold critical_before,
                           const AlertState *st, usec_t now);

/* Whether (and why) the certificate set described by `facts` (NULL: never inspected) should be renewed
 * at `now`. */
RenewReason policy_renew_reason(const CertFacts *facts, Threshold renew_before, bool force, usec_t now);

/* Whether a freshly issued certificate's findings allow installing it: any problem blocks, except the
 * expiry thresholds (a leaf that lives hours is legitimately inside a 14-day warn window). */
bool policy_issued_ok(const CertFacts *facts);

/* The plan for one certificate set (one decision layer). The same function decides for the
 * daemon and for timer mode; what differs between the modes is in PlanFlags, and exactly one decision
 * depends on `daemon`: a failed deploy is retried at once by a one-shot run, after the backoff by the
 * daemon (a re-deploy costs the CA nothing; the timer's period is its backoff).
 *
 * - Due: a set that is missing, broken or expired is due at once; otherwise from the opening of its
 *   renew-before window (policy_renew_time) plus its jitter (policy_jitter), in both modes — a timer run
 *   before that point leaves the set for a later run.
 * - Backoff: after failed renewals (CertState.failures > 0) nothing is tried before next_retry; a failed
 *   deploy is retried (without re-issuing) from deploy_time + policy_backoff(deploy_failures).
 *   --force ignores jitter, backoff and the window.
 * - Alerts: policy_alert with the alert last sent as saved in CertState (both modes keep it there), so a
 *   reminder comes once a day (an expired certificate once an hour) whichever mode runs.
 * - renewal-failing: while CertState.failures > 0; critical inside critical-before (or without a usable
 *   certificate), warning before.
 * - Held: an ACME certificate that was issued and then refused by our validation is not ordered again
 *   while the inputs are unchanged (PlanInput.held); --force orders anyway. Once they change, it is
 *   tried again at once, without waiting for the backoff (the kept certificate may do without an order). */
typedef struct PlanFlags {
        bool daemon; /* certherd run; else a one-shot `certherd renew` (timer mode) */
        bool force;  /* renew --force */
} PlanFlags;

typedef enum PlanAction {
        PLAN_NONE,   /* nothing to do before plan.next */
        PLAN_RENEW,  /* issue, install and deploy now */
        PLAN_DEPLOY, /* deploy the installed certificate again (its last deploy failed); no new issuance */
        PLAN_BACKOFF, /* a renewal or deploy is wanted, but the backoff after failures runs until plan.retry */
        PLAN_HELD,    /* a renewal is wanted, but the certificate issued last was refused and the inputs are
                       * the same: no new order until the inventory or the files change */
        _PLAN_ACTION_MAX,
        _PLAN_ACTION_INVALID = -22,
} PlanAction;

const char *plan_action_to_string(PlanAction a) _pure_;

typedef struct PlanInput {
        const char *name;       /* seeds the jitter */
        bool can_renew;         /* issuer != none */
        const CertFacts *facts; /* NULL: never inspected */
        const CertState *state; /* saved state; NULL: none */
        bool held;              /* state->held_inputs matches the inputs now (the caller hashed them) */
        bool held_changed;      /* state->held_inputs is set but the inputs changed: retry without backoff */
        bool ca_rotated;        /* The leaf's issuer is not its internal CA's current certificate:
                                 * due from ca_reissue_at (like a broken set once there), after
                                 * missing/expired/broken */
        usec_t ca_reissue_at; /* when a rotated CA's overlap ends and its leaves move (ca rotate); 0: at once */
        bool issued_inputs_changed; /* state->issued_inputs is set and the inputs differ from it now (the
                                     * caller hashed them; only needed once a loop guard could trip): the
                                     * inventory or its files changed, so a renewal may fix what the last
                                     * one did not */
        Threshold renew_before;
        Threshold warn_before;
        Threshold critical_before;
        const WindowList *window; /* maintenance windows (cert_window()); NULL or none: always open */
        /* An order now would exceed a rate-limit budget of its ACME server (acme-budget.h), which frees up
         * then: a renewal waits until then, --force or not, whatever the window or the guard say — the
         * server would refuse it (a budget of 0 turns it off). 0: no limit in the way. `rate_limit_why`
         * says which budget. */
        usec_t rate_limited_until;
        const char *rate_limit_why;
} PlanInput;

typedef struct Plan {
        usec_t due;   /* when a renewal falls due, jitter included; USEC_INFINITY: never */
        usec_t retry; /* BACKOFF: the next attempt from; 0 otherwise */
        usec_t next;  /* when this set needs looking at again (action, retry, due, alert) */
        AlertDecision alert;
        /* Maintenance windows: renewals and deploys happen only inside one (not --force), unless waiting
         * for the next one would let the certificate reach critical-before (the guard). */
        usec_t window_start; /* the window open now (≤ now) or the next one; 0: no windows */
        usec_t window_end;   /* its end; USEC_INFINITY: no windows */
        /* For the journal: why it waits (window, rate limit) or why the guard renews; NULL: neither (or out
         * of memory). Owned by the Plan (plan_done()): a daemon keeps one Plan per set, so the text is
         * allocated only when there is one (idle RSS). For the same reason the small fields below are
         * bit-fields: 72 bytes a Plan, not 96. */
        char *wait_why;
        PlanAction action : 8;
        RenewReason why : 8; /* why a renewal is wanted (RENEW, or BACKOFF of a renewal); NONE otherwise */
        RenewReason due_why : 8; /* why the renewal at `due` will be wanted: CA_ROTATED when the end of a CA
                                  * rotation's overlap sets it, DUE for the renew-before window; NONE: never */
        Severity failing_severity : 8; /* of renewal-failing, when `failing` */
        unsigned recent_issues : 16;   /* automatic issuances within the guard's window (at most 65535) */
        bool failing : 1;              /* problem renewal-failing */
        bool ineffective : 1;          /* the last renewal left the problem that caused it: backing off */
        bool looping : 1;      /* HELD by the loop guard: issued too often, until the inputs change */
        bool window_open : 1;  /* now is inside a window (or there are none) */
        bool window_wait : 1;  /* a renewal or deploy was wanted now and waits: action NONE, due =
                                * window_start (or BACKOFF, retry moved to a window) */
        bool window_guard : 1; /* renewed outside a window: the next one opens too late */
        bool rate_limited : 1; /* a renewal was wanted now and waits for a rate limit: action NONE, due = the
                                * time it frees up */
} Plan;

/* The returned Plan owns its wait_why: release it with plan_done(). */
Plan policy_plan(const PlanInput *in, PlanFlags flags, usec_t now);
void plan_done(Plan *p);

/* No renewal loop, whatever the inventory says (a set trusting the wrong anchors, a hook that breaks what
 * was installed…). Two rules of policy_plan:
 * - A renewal whose result still shows the problem that caused it (the installed serial is the one issued
 *   last, and a problem of the mask recorded then is there again) enters the backoff, from the last
 *   renewal: policy_backoff(ineffective + 1), with renewal-failing.
 * - A guard whatever the cause: a set issued automatically more than POLICY_LOOP_ISSUES times within a
 *   quarter of its certificate's lifetime (an hour when it cannot be read) stops renewing (PLAN_HELD,
 *   renewal-failing critical) until the inventory or its files change. --force is never held, and its
 *   issuances do not count. A certificate that lives 30 seconds renews every 15: once per window. */
#define POLICY_LOOP_ISSUES 5U

/* The problems of `f` a new certificate is meant to fix (those that make a set broken, but `revoked`:
 * a revocation of the new certificate is a new event), as a mask of 1 << ProblemCode. */
unsigned policy_broken_mask(const CertFacts *f);

/* Whether the certificate `f` describes is the one renewed last (st->issued_serial) and still shows a
 * problem that caused that renewal. */
bool policy_renewal_ineffective(const CertState *st, const CertFacts *f);

/* Automatic issuances recorded in `st` within a quarter of the lifetime of `f` (an hour when it cannot
 * be read) before `now`: the loop guard holds the set beyond POLICY_LOOP_ISSUES. */
unsigned policy_recent_issues(const CertState *st, const CertFacts *f, usec_t now);

/* Record a successful issuance in `st`: `before` is the inspection that caused it, `serial` the new
 * certificate's; a forced one does not count toward the loop guard. Returns 0 or -ENOMEM. */
int policy_issued(CertState *st, const CertFacts *before, bool forced, const char *serial, usec_t now);
