/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>

#include <gnutls/gnutls.h>

#include "config.h"
#include "time-util.h"
#include "x509.h"

/* The act pipeline (docs/architecture.md): issue → validate → install → deploy (units, signal, exec hook) →
 * verify → publish pins, each step with its journal event. What is due, and what the outcome means for
 * the saved state, is the pass's (pass.h); this only acts. */

typedef struct RenewOutcome {
        usec_t not_after;
        uint8_t pin[PIN_SIZE];
        char serial[64];   /* hex, of the certificate installed (or re-deployed) */
        char previous[64]; /* the pin published before, base64, "" when none (CERTHERD_PREVIOUS_PIN) */
        bool pin_changed;
        bool key_reused;
        gnutls_datum_t leaf_der; /* the installed leaf (gnutls-allocated), for deploy verification */
} RenewOutcome;

typedef struct RenewJob {
        const CertConfig *cert;
        const CertFacts *current; /* the inspection of what is installed (may be NULL) */
        bool deploy_only;         /* deploy the installed certificate again: no issuance, no install */
        bool forced;              /* renew --force: not counted by the loop guard (policy_issued) */

        int result;  /* issue + install: 0 or -errno (always 0 for deploy_only) */
        bool held;   /* ACME: issued, refused by validation, kept as STATE/certs/NAME.pending.{pem,key} */
        char *error; /* why it failed, one line (malloc'd) */
        RenewOutcome outcome;

        bool deployed;     /* the deploy phase ran (result ≥ 0) */
        int deploy_result; /* 0, or the -errno of the first deploy step that failed */
        char *deploy_step; /* that step: "reload nginx.service", "signal 1 /run/x.pid", "exec CMD", "verify URL" */
        char *deploy_error; /* and why */
} RenewJob;

void renew_job_done(RenewJob *j);

/* Act on every job, `concurrency` at a time (an install waits mostly on fsync, and overlapping those
 * waits is what makes a hundred renewals fast), then the deploy phase for those renewed (and the
 * deploy_only ones): each systemd unit they name reloaded (or restarted) once, their signal and exec
 * hook, their verify endpoints — and only after a deploy that fully succeeded are their pins published,
 * so a client refreshing its pins never sees a pin the server does not serve (with rotate, the new pin
 * was announced as next_pin_sha256 long before). A failed deploy step logs a deploy-failed event and
 * leaves the pin where it was. */
#define RENEW_CONCURRENCY 8
void renew_many(const Inventory *inv, RenewJob *jobs, size_t n, unsigned concurrency, usec_t now);
