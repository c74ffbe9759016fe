/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "acme-ari.h"
#include "check.h"
#include "config.h"
#include "facts-store.h"
#include "policy.h"
#include "renew.h"
#include "state.h"
#include "time-util.h"

/* One pass over the inventory, the only one: `certherd renew` (timer mode) runs its phases inline, the
 * daemon runs begin and finish on its event loop and act on its worker thread.
 *
 *   begin   inventory → inspect (all, or the sets marked dirty) → plan (policy_plan with the saved state)
 *           → alerts → which pins are out of date; says what the network and the act phase must do: a
 *           PassWork
 *   act     CRLs → ARI → next keys and pins → renewals; touches nothing but the PassWork it is handed
 *           (and files),
 *           so it may run on another thread while the loop answers the bus from the Pass
 *   finish  record (each outcome into its set's state) → save → inspect again what was acted on →
 *           metrics → outcomes (the work stays in the Pass until the next begin, for the renderers)
 *
 * Both modes make the same decisions from the same inputs; the one difference policy_plan names (a
 * failed deploy is retried at once by a one-shot run, after a backoff by the daemon) does not apply to a
 * set named by an order (`renew NAME` over the bus), which is planned as the one-shot command plans it. */

/* The state directory and the lock shared with the other mode (wait: until the holder is done, else
 * -EWOULDBLOCK). Returns the lock fd, -EWOULDBLOCK, or -errno (logged). */
int pass_prepare(const Inventory *inv, bool wait);

/* Complete (or roll back) every install a crash interrupted, before anything is inspected. */
void pass_recover(const Inventory *inv);

/* The internal CAs' own expiry, alerted like a certificate's (expiry-warning, expiry-critical, expired
 * events named "ca:NAME", with [agent]'s warn-before and critical-before; a reminder a day later, kept in
 * STATE/certs/ca:NAME.json). Returns when the CAs need looking at again. */
usec_t pass_ca_alerts(const Inventory *inv, usec_t now);

/* A job's outcome into its set's state: the failure count, backoff and last error of the renewal, the
 * deploy's result, step, error and serial (kept until a later deploy succeeds). `started`: when the
 * batch began. */
void pass_record(const Inventory *inv, CertState *st, const RenewJob *j, usec_t started, usec_t now);

/* How the act phase reaches the world; tests hand fakes. NULL in pass_new: the real ones. */
typedef struct PassOps {
        /* Re-sign the CRLs that are due; returns when the next one falls due (crl_refresh_all). */
        usec_t (*crls)(const Inventory *inv, usec_t now);
        /* When the CRLs have work next, without signing anything (crl_next_due). */
        usec_t (*crls_due)(const Inventory *inv, usec_t now);
        /* Whether c's ACME server suggests renewing now, and when to ask again (acme_ari_set_ask). */
        bool (*ari)(AcmeAriSet *a, const CertConfig *c, usec_t now, usec_t *ret_next);
        /* Issue, install and deploy (renew_many). */
        void (*renew)(const Inventory *inv, RenewJob *jobs, size_t n, unsigned concurrency, usec_t now);
        /* Make the next key of a key-policy = rotate set when there is none (keys_next_make). */
        int (*next_key)(const Inventory *inv, const CertConfig *c, const uint8_t current[PIN_SIZE]);
} PassOps;

extern const PassOps pass_ops_real;

/* Everything the pass knows about one certificate set. */
typedef struct PassSet {
        const CertConfig *cert; /* borrowed from the inventory */
        CertFacts *facts;       /* the last inspection, in the Pass's store; NULL before the first */
        CertState *state;       /* as saved; NULL: nothing saved (read it with pass_set_state()) */
        CheckNotes *notes;      /* what the saved state adds to the facts (deploy-failed, renewal-failing);
                                 * NULL: nothing */
        usec_t ca_reissue_at; /* with ca_rotated: when it moves to its CA's current generation (0: at once) */
        Plan plan;            /* the decision of the last begin */
        uint32_t job;         /* 1 + its index in the last work's jobs (0: not acted on): pass_set_job() */
        bool ca_rotated;      /* found with the facts (check.h) */
        bool selected;        /* acted on by this pass (timer mode: the sets named; the daemon: all) */
        bool dirty;           /* one of its files changed: inspect it again at the next begin */
        bool inspected;       /* by the last begin */
        /* A daemon holds one per set: the fields are ordered to leave no padding, 120 bytes (idle RSS). */
} PassSet;

/* The saved state of a set: the zero state when it has none. */
const CertState *pass_set_state(const PassSet *s);

typedef struct Pass Pass;
/* What the last work did with set s (NULL: not acted on); valid until the next begin. */
const RenewJob *pass_set_job(const Pass *p, const PassSet *s);

typedef struct PassAri {
        size_t set;
        const CertConfig *cert;
        const CertFacts *current;
        bool due;    /* the answer: renew now */
        usec_t next; /* the answer: ask again from then */
} PassAri;

typedef struct PassPin {
        size_t set;
        const CertConfig *cert;
        uint8_t pin[PIN_SIZE];
        usec_t not_after;
        bool next_key; /* key-policy = rotate without a next key: make it first */
} PassPin;

/* What the act phase is handed: copies and borrowed read-only pointers (the inventory, the facts of
 * the sets in it), nothing the loop writes while the work is out. */
typedef struct PassWork {
        const Inventory *inv;
        const PassOps *ops;
        usec_t now;
        bool crls;       /* re-sign the CRLs that are due */
        usec_t crl_next; /* the answer: when the CRLs have work next */
        PassAri *ari;
        size_t n_ari;
        PassPin *pins; /* to publish (in one batch), after their next key where wanted */
        size_t n_pins;
        RenewJob *jobs; /* room for n_due + n_ari; the act phase adds the ARI ones */
        size_t *job_set;
        size_t n_due; /* the jobs begin planned (read by the loop while the work is out: never changed) */
        size_t n_jobs;
} PassWork;

bool pass_work_empty(const PassWork *w);
PassWork *pass_work_free(PassWork *w);

struct Pass {
        const Inventory *inv;
        const PassOps *ops;
        bool daemon;
        PassSet *sets;     /* indexed like inv->certs */
        FactsStore *facts; /* where the sets' facts live */
        size_t n_sets;
        PassWork *work;  /* handed out by begin (NULL: none), taken back by finish */
        PassWork *done;  /* the work finish took back, for the outcomes */
        usec_t crl_hold; /* no CRL work before this: the retry time after a failed re-sign */
        usec_t deadline; /* when the next begin is due (the daemon arms its timer for it) */
        uint64_t passes;
        int metrics_error; /* the last metrics-file failure, said once (0: none) */
};

/* A pass over `inv` (borrowed; it must outlive the Pass). certs: the sets timer mode acts on (NULL: all);
 * the others are inspected for the metrics file only. Saved states are read here. Returns 0 or -ENOMEM. */
int pass_new(const Inventory *inv, CertConfig *const *certs, bool daemon, const PassOps *ops, Pass **ret);
Pass *pass_free(Pass *p);
static inline void pass_freep(Pass **p) {
        pass_free(*p);
}

/* Orders over the bus (the daemon's): whether a waiting order names `name`, and whether it forces. */
typedef struct PassOrders {
        bool (*ordered)(void *ud, const char *name);
        bool (*forced)(void *ud, const char *name);
        void *ud;
} PassOrders;

/* begin: inspect the sets marked dirty (all: every set), plan, alert, publish pins, and hand out the work
 * (*ret_work, also p->work; NULL when there is none: then call pass_finish(p, NULL, now) at once).
 * flags.force: every selected set is forced. Returns 0 or -errno (logged). */
int pass_begin(Pass *p, bool all, PlanFlags flags, const PassOrders *orders, usec_t now,
               PassWork **ret_work);
/* act: CRLs, ARI, next keys, renewals. Thread-safe against everything but the Pass's own finish. */
void pass_act(PassWork *w);
/* finish: record, save, inspect again, metrics; takes the work back (may be NULL). */
void pass_finish(Pass *p, PassWork *w, usec_t now);

/* The set of `c` (SIZE_MAX: none). */
size_t pass_find(const Pass *p, const CertConfig *c);

/* A CheckReport of sets idx[0..n) (idx NULL: every set) borrowing the Pass's facts, states and plans,
 * for the renderers of report.h and metrics.h; free it with pass_view_done(). Returns 0 or -ENOMEM. */
int pass_view(const Pass *p, const size_t *idx, size_t n, CheckReport *ret);
void pass_view_done(CheckReport *v);

/* Timer mode: the whole pass, at the caller's lock, at the real clock. Returns 0 or -errno. */
int pass_run(const Inventory *inv, CertConfig *const *certs, PlanFlags flags, Pass **ret);
