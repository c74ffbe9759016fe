/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "check.h"
#include "config.h"
#include "policy.h"
#include "publish.h"
#include "renew.h"
#include "state.h"
#include "time-util.h"

/* One pass over the inventory, the same for `certherd renew` (timer mode) and `certherd run`:
 * prepare (state directory, lock, interrupted installs) → inspect → plan (policy_plan, with the saved
 * state) → alerts → renew or re-deploy (renew_many) → record the outcome in the state → pins → metrics.
 * The daemon calls the pieces from its event loop (the renewals on its worker thread); pass_run() is
 * the whole pass in one go for timer mode. */

/* The state directory and the lock shared with the other mode (wait: until the holder is done, else
 * -EWOULDBLOCK). Returns the lock fd, -EWOULDBLOCK, or -errno (logged). */
int pass_prepare(const Inventory *inv, bool wait);

/* Complete (or roll back) every install a crash interrupted, before anything is inspected. */
void pass_recover(const Inventory *inv);

/* Plan result i (check_plan_one) and send the expiry alerts its plan says are due, remembering the alert
 * sent in rep->states[i] (both modes: repetition is suppressed the same way). Returns > 0 when the state
 * changed (the caller saves it), 0, or -ENOMEM. */
/* issue 11: the internal CAs' own expiry, alerted like a certificate's (expiry-warning, expiry-critical,
 * expired events named "ca:NAME", with [agent]'s warn-before and critical-before; a reminder a day later,
 * kept in STATE/certs/ca:NAME.json). Returns when the CAs need looking at again. */
usec_t pass_ca_alerts(const Inventory *inv, usec_t now);

int pass_decide(const Inventory *inv, CheckReport *rep, size_t i, PlanFlags flags, usec_t now);

/* A job's outcome into its set's state: the failure count, backoff and last error of the renewal, the
 * deploy's result, step, error and serial (kept until a later deploy succeeds). `started`: when the
 * batch began. */
void pass_record(const Inventory *inv, CertState *st, const RenewJob *j, usec_t started, usec_t now);

/* Republish the pins of result i from the installed certificate (publish_pins writes only what
 * changed) — unless its deploy failed: the pin moves only with a deployed certificate. Both modes call
 * it for every set inspected in the pass and not acted on. */
void pass_pins(const Inventory *inv, const CheckReport *rep, size_t i, PublishBatch **batch, usec_t now);
/* Make the pins queued in *batch (pass_pins) durable with one sync, and free it. */
void pass_pins_commit(PublishBatch **batch);

/* [agent] metrics-file from a planned report (rep->states, rep->plans). A failure is a warning — with
 * `last_error` (the caller's memory, 0 at start) only when it differs from the last pass's, so a
 * missing directory is one warning per start, not one per pass. */
void pass_metrics(const Inventory *inv, const CheckReport *rep, usec_t now, int *last_error);

/* Save result i's state (a failure is a warning: state is advisory). */
void pass_save(const Inventory *inv, const CheckReport *rep, size_t i);

/* Re-sign the internal CAs' CRLs that are due (crl_refresh_all; issue 11), before anything is inspected
 * so that the sets are checked against the fresh CRL. Returns when the next one falls due (USEC_INFINITY:
 * none): the daemon's timer includes it like any other deadline; timer mode does this on every run. */
usec_t pass_crls(const Inventory *inv, usec_t now);
/* When pass_crls() has work next (≤ now: now), without signing anything: the daemon decides on its loop
 * and signs on its worker thread (a unit reload or hook may take long; the watchdog must not wait). */
usec_t pass_crls_due(const Inventory *inv, usec_t now);

typedef struct PassItem {
        const CertConfig *cert;
        Plan plan;
        RenewJob *job; /* NULL: not acted on */
} PassItem;

typedef struct PassResult {
        CheckReport *report; /* of the pass (before it acted) */
        CertState *states;   /* indexed like report->results, after recording */
        PassItem *items;     /* indexed like report->results */
        size_t n_items;
        RenewJob *jobs;
        size_t n_jobs;
} PassResult;

void pass_result_done(PassResult *p);

/* Timer mode: the whole pass for `certs` (NULL: all), at the caller's lock. Returns 0 or -errno. */
int pass_run(const Inventory *inv, CertConfig *const *certs, PlanFlags flags, PassResult *ret);
