/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "check.h"
#include "time-util.h"

/* Prometheus metrics for node_exporter's textfile collector ([agent] metrics-file, certherd(8) METRICS):
 * a pure renderer from a CheckReport plus per-certificate renewal state, and the atomic write. */

/* What an inspection does not know about a certificate set: its renewal history (from state.h's
 * CertState). An array of these is indexed like CheckReport.results. */
typedef struct MetricsState {
        unsigned renewal_failures; /* consecutive failed renewals since the last success */
        usec_t last_renewal;       /* realtime of the last successful renewal; 0: never */
        bool deploy_failed;        /* state records a failed deploy not yet followed by a good one */
        usec_t next_renewal;       /* realtime the set is planned to renew; 0: unknown */
} MetricsState;

/* One internal CA ([ca "NAME"]): its certificate's notAfter, when it could be parsed. */
typedef struct MetricsCa {
        const char *name;
        usec_t not_after;
        bool parsed;
        usec_t crl_next_update; /* nextUpdate of its crl; 0: no crl, or it cannot be read */
} MetricsCa;

/* Render the text exposition format (version 0.0.4, what the textfile collector reads): for each metric
 * a HELP and a TYPE line (always, even without samples), then one sample per certificate set, labelled
 * name="…" (escaped):
 *   certherd_certificate_not_after_seconds            (absent while the certificate cannot be parsed)
 *   certherd_certificate_state                        0 ok, 1 warning, 2 critical
 *   certherd_certificate_renewal_failures
 *   certherd_certificate_last_renewal_timestamp_seconds   0 for never
 *   certherd_certificate_deploy_ok                    1, or 0 while a failed deploy is recorded
 *   certherd_certificate_next_renewal_timestamp_seconds   (absent for watch-only sets and when unknown)
 * then one sample per internal CA, labelled ca="…":
 *   certherd_ca_not_after_seconds                     (absent while the CA certificate cannot be parsed)
 *   certherd_ca_crl_next_update_seconds               (absent without a crl, unreadable or not the CA's)
 * and agent-wide certherd_last_run_timestamp_seconds = now and certherd_last_pass_timestamp_seconds =
 * last_pass (absent when 0). `st` holds rep->n_results entries, or is NULL (zeros: no failures, deploy
 * ok, next renewal unknown); `cas` holds n_cas entries. Times are whole seconds since the epoch.
 * Returns 0 and a malloc'd text in *ret, or -ENOMEM. */
int metrics_render(const CheckReport *rep, const MetricsState *st, const MetricsCa *cas, size_t n_cas,
                   usec_t last_pass, usec_t now, char **ret);

/* What is left of each rate-limit budget of an ACME server (acme-budget.h), indexed by AcmeLimit up to
 * ACME_LIMIT_SERVER; -1: that budget is off. */
typedef struct MetricsBudget {
        const char *acme;
        long remaining[3];
} MetricsBudget;

/* certherd_acme_budget_remaining{acme="…",limit="orders|duplicates|failed-validations"}: how many more
 * new orders, certificates for the most used name set, failed validations of the most failed name, fit
 * now. Appended to *text (a metrics_render() text), HELP and TYPE always. Returns 0 or -ENOMEM. */
int metrics_render_budgets(const MetricsBudget *b, size_t n, char **text);
/* The same from the budgets saved for every [acme] section of inv. */
int metrics_append_budgets(const Inventory *inv, usec_t now, char **text);

/* Write `text` to `path` atomically with mode 0644 (install_file: temp file, fsync, rename), so the
 * collector never reads half a file. The directory must exist. Returns 0 or -errno. */
int metrics_write(const char *path, const char *text);

/* Whether the directory `path` goes into exists: 0, -ENOENT (or -ENOTDIR) when it does not, another
 * -errno when it cannot be looked at. The directory is the operator's (the collector reads it): certherd
 * never makes it. */
int metrics_directory_check(const char *path);
/* The one warning for a metrics-file whose directory is missing (metrics_directory_check() < 0), the
 * same words from `check`, `renew` and the daemon. */
void metrics_warn_directory(const char *path, int r);
