/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "check.h"
#include "pass.h"
#include "policy.h"
#include "renew.h"
#include "state.h"
#include "time-util.h"

/* What became of each set a renewal pass covered, and the one text that tells it: `certherd renew`
 * working alone and the daemon answering a Renew order over D-Bus print the same lines and summary, and
 * the daemon's STATUS= counts its sets with the same words. */

typedef enum OutcomeKind {
        OUTCOME_NOT_DUE,       /* when: the next renewal (USEC_INFINITY: never) */
        OUTCOME_RENEWED,       /* serial, when: the new notAfter */
        OUTCOME_INSTALLED,     /* renewed and installed, then a deploy step failed: step, error, serial */
        OUTCOME_REDEPLOYED,    /* serial: deployed again after a failed deploy */
        OUTCOME_FAILED,        /* error: the renewal failed in this pass */
        OUTCOME_HELD,          /* error: issued, refused by validation, kept aside */
        OUTCOME_DEPLOY_FAILED, /* step, error; serial (deployed again in this pass) or when: the next attempt
                                */
        OUTCOME_BACKING_OFF,   /* failures, error, when: the next attempt */
        OUTCOME_GONE,          /* no longer in the inventory (reloaded meanwhile) */
        _OUTCOME_KIND_MAX,
} OutcomeKind;

/* The strings are borrowed from the job and state they were taken from. */
typedef struct Outcome {
        const char *name;
        OutcomeKind kind;
        unsigned failures;
        usec_t when;
        const char *error, *step, *serial;
        bool ineffective; /* backing off: the last renewal left what made it due (the loop guard) */
        bool looping;     /* held: issued too often within a quarter of its lifetime (the loop guard) */
        unsigned recent_issues; /* with looping: how often */
} Outcome;

/* The outcome of one set from its plan in the pass, its state as recorded after it and its job (NULL:
 * not acted on). A job decides over the plan (the daemon adds jobs the ACME server's window asks for). */
Outcome outcome_of(const char *name, const Plan *plan, const CertState *st, const RenewJob *j);

typedef enum OutcomeFlags {
        /* A line for each renewal too (the daemon's answer; working alone, each renewal is logged). */
        OUTCOME_RENEWED_LINES = 1 << 0,
        /* Print nothing when nothing was renewed or deployed and nothing failed (renew --quiet). */
        OUTCOME_QUIET = 1 << 1,
} OutcomeFlags;

/* One line per set that is failing or was acted on (and "not due" lines), then the summary
 *   N renewed[ (D deploy failed)], M not due, K failed[, R redeployed]
 * Returns the exit code: 1 when a renewal or deploy failed, a set backs off or is held; else 0. */
int outcome_render(const Outcome *l, size_t n, OutcomeFlags flags, FILE *f);

/* The outcomes of timer mode's pass (the sets with an issuer), rendered by outcome_render(). */
int outcome_render_pass(const Pass *p, OutcomeFlags flags, FILE *f);

/* Whether a rendered text (outcome_render, e.g. the daemon's answer) says nothing was renewed or deployed
 * and nothing failed: what `renew --quiet` keeps to itself. */
bool outcome_text_is_idle(const char *text);

/* The daemon's STATUS= words for a planned report: the failing sets first, then the others,
 *   "12 certificates: 1 deploy failed, 1 renewal failing, 9 ok, 1 expiring in 6 days"
 * (rep->states and rep->plans may be NULL). Returns the length written (snprintf's). */
int outcome_status(const CheckReport *rep, char *buf, size_t size);
