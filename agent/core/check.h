/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stddef.h>

#include "config.h"
#include "macro.h"
#include "policy.h"
#include "state.h"
#include "time-util.h"
#include "x509.h"

/* Inspect an inventory: read every certificate set's files and run x509_inspect() on them, in parallel
 * over all cores. The read-only half of the pipeline, shared by `check`, `status`, `renew` and the daemon. */

typedef struct CheckResult {
        const CertConfig *cert; /* borrowed from the inventory */
        CertFacts *facts;
        bool ca_rotated;      /* Issued by ca:NAME, but not by its current certificate (authority key id) */
        usec_t ca_reissue_at; /* then: when it moves to the current one (the rotation's overlap); 0: at once */
        bool has_next_pin;    /* key-policy = rotate: next_pin is the next key's (check_next_pins) */
        uint8_t next_pin[PIN_SIZE];
} CheckResult;

/* An internal CA's own certificate, inspected for its expiry like a certificate (warn-before and
 * critical-before of [agent]). */
typedef struct CheckCa {
        const CaConfig *ca; /* borrowed from the inventory */
        CertFacts *facts;
} CheckCa;

/* What planning finds in a set's saved state beside its inspection: deploy-failed [critical] while the
 * last deploy failed, renewal-failing [warning; critical inside critical-before] while renewals fail.
 * The facts stay as inspected; the renderers show both (check_result_shown). */
typedef struct CheckNotes {
        Problem problems[4];
        size_t n;
} CheckNotes;

void check_notes_done(CheckNotes *n);
/* The state of facts `f` (NULL: never inspected, critical) with notes `n` (NULL: none). */
Severity check_notes_state(const CertFacts *f, const CheckNotes *n);

typedef struct CheckReport {
        CheckResult *results; /* in inventory order */
        size_t n_results;
        Severity worst;
        size_t count[_SEVERITY_MAX];
        CertState *states; /* borrowed, indexed like results; NULL: not loaded */
        Plan *plans;       /* indexed like results (check_plan_one); NULL: not planned */
        CheckNotes *notes; /* likewise */
        CheckCa *cas;      /* check_cas(); NULL/0: not inspected */
        size_t n_cas;
        /* Render for a caller who may not renew: the texts of renewal and deploy errors (which may quote a
         * hook's command line) are left out. */
        bool redact;
} CheckReport;

/* certs: the certificate sets to inspect (NULL-terminated array of borrowed pointers; NULL for all).
 * threads: 0 for one per online CPU. Returns 0 or -ENOMEM. */
int check_run(const Inventory *inv, CertConfig *const *certs, unsigned threads, usec_t now,
              CheckReport **ret);
CheckReport *check_report_free(CheckReport *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(CheckReport *, check_report_free)
#define _cleanup_check_report_ _cleanup_(check_report_freep)

/* Each result's saved state into a new array (*ret, indexed like results); a damaged state file is
 * warned about and read as the zero state. Returns 0 or -ENOMEM. */
int check_load_states(const Inventory *inv, const CheckReport *rep, CertState **ret);
void cert_states_free(CertState *states, size_t n);

/* Plan result i (policy_plan with rep->states[i], or the zero state) into rep->plans[i], and what its
 * saved state says beside the inspection into rep->notes[i]; the facts are not touched (inspection
 * never writes). The alert part of the plan is a decision only. Call check_report_recount() after the
 * last. Returns 0 or -ENOMEM. */
int check_plan_one(const Inventory *inv, CheckReport *rep, size_t i, PlanFlags flags, usec_t now);
/* check_plan_one() for one set outside a report: its facts, its saved state (NULL: none), into *ret and
 * *ret_notes (whose old contents are freed: both must hold a plan and notes, or zeroes). */
int check_plan_set(const Inventory *inv, const CertConfig *c, const CertFacts *f, bool ca_rotated,
                   usec_t ca_reissue_at, const CertState *st, PlanFlags flags, usec_t now, Plan *ret,
                   CheckNotes *ret_notes);

/* Result i as the renderers show it: its facts, with its notes after their problems and in its state.
 * Borrows from rep (and from *buf, which check_shown_done() frees). */
typedef struct CheckShown {
        CertFacts facts;
        Problem *problems;
} CheckShown;
const CertFacts *check_result_shown(const CheckReport *rep, size_t i, CheckShown *buf);
void check_shown_done(CheckShown *buf);
/* The same for every result, then recount. */
int check_plan(const Inventory *inv, CheckReport *rep, PlanFlags flags, usec_t now);
void check_report_recount(CheckReport *rep);

/* For each ACME set, whether the CAA records published for its names would make the CA refuse this
 * account or challenge type (caa-mismatch [warning]; through the resolver, as dns-persist-01's records
 * are; a lookup that fails gives no verdict). Recounts. Returns 0 or -ENOMEM. */
int check_caa(const Inventory *inv, CheckReport *rep);

/* For each key-policy = rotate set, the pin of its next key as it stands (keys_next_pin_lookup: read
 * only, no key is made), for check --json's next_pin_sha256. A key that cannot be read is no pin. */
void check_next_pins(const Inventory *inv, CheckReport *rep);

/* The fingerprint (hex SHA-256) of what an issuance of `c` depends on: issuer, names, key type, usage, the
 * paths, and the contents of its `ca` file and of the installed certificate. A certificate refused by
 * validation is not ordered again while this stays the same (CertState.held_inputs). */
int check_inputs_fingerprint(const Inventory *inv, const CertConfig *c, char ret[65]);

/* Inspect every [ca]'s certificate (its expiry; a CA not created yet is reported, and does not count in
 * rep->worst, as `ca init` is the operator's step); a parsed CA's state counts in rep->worst. */
int check_cas(const Inventory *inv, CheckReport *rep, usec_t now);
