/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "acme-budget.h"
#include "install.h"
#include "log.h"
#include "macro.h"
#include "metrics.h"

typedef enum MetricKind {
        METRIC_NOT_AFTER,
        METRIC_STATE,
        METRIC_RENEWAL_FAILURES,
        METRIC_LAST_RENEWAL,
        METRIC_DEPLOY_OK,
        METRIC_NEXT_RENEWAL,
        _METRIC_KIND_MAX,
} MetricKind;

static const struct {
        const char *name, *help;
} metrics[_METRIC_KIND_MAX] = {
        [METRIC_NOT_AFTER] = { "certherd_certificate_not_after_seconds",
                               "Expiry (notAfter) of the installed certificate, in seconds since the epoch." },
        [METRIC_STATE] = { "certherd_certificate_state",
                           "State of the certificate: 0 ok, 1 warning, 2 critical." },
        [METRIC_RENEWAL_FAILURES] = { "certherd_certificate_renewal_failures",
                                      "Consecutive failed renewals since the last success." },
        [METRIC_LAST_RENEWAL] = { "certherd_certificate_last_renewal_timestamp_seconds",
                                  "Time of the last successful renewal, in seconds since the epoch; 0 for never." },
        [METRIC_DEPLOY_OK] = { "certherd_certificate_deploy_ok",
                               "0 while a failed deploy of the set is recorded, else 1." },
        [METRIC_NEXT_RENEWAL] = { "certherd_certificate_next_renewal_timestamp_seconds",
                                  "When the set is planned to renew, in seconds since the epoch." },
};

/* A label value in the exposition format: backslash, double quote and line feed are escaped. */
static void put_label_value(FILE *f, const char *s) {
        for (; *s; s++)
                switch (*s) {
                case '\\':
                        fputs("\\\\", f);
                        break;
                case '"':
                        fputs("\\\"", f);
                        break;
                case '\n':
                        fputs("\\n", f);
                        break;
                default:
                        fputc(*s, f);
                }
}

/* One sample of `kind` for result i; false when it has none. */
static bool sample_value(const CheckReport *rep, const MetricsState *st, size_t i, MetricKind kind,
                         uint64_t *ret) {
        const CertFacts *facts = rep->results[i].facts;

        switch (kind) {
        case METRIC_NOT_AFTER:
                if (!facts || !facts->parsed)
                        return false;
                *ret = facts->not_after / USEC_PER_SEC;
                return true;
        case METRIC_STATE:
                *ret = (uint64_t) check_notes_state(facts, rep->notes ? &rep->notes[i] : NULL);
                return true;
        case METRIC_RENEWAL_FAILURES:
                *ret = st ? st[i].renewal_failures : 0;
                return true;
        case METRIC_LAST_RENEWAL:
                *ret = st ? st[i].last_renewal / USEC_PER_SEC : 0;
                return true;
        case METRIC_DEPLOY_OK:
                *ret = !(st && st[i].deploy_failed);
                return true;
        case METRIC_NEXT_RENEWAL:
                /* A watch-only set never renews, and "unknown" is no sample rather than a 0 that a rule
                 * would read as long overdue. */
                if (!st || st[i].next_renewal == 0 || rep->results[i].cert->issuer == ISSUER_NONE)
                        return false;
                *ret = st[i].next_renewal / USEC_PER_SEC;
                return true;
        default:
                return false;
        }
}

/* One sample: NAME{LABEL="VALUE"} V. */
static void put_sample(FILE *f, const char *name, const char *label, const char *value, uint64_t v) {
        fprintf(f, "%s{%s=\"", name, label);
        put_label_value(f, value);
        fprintf(f, "\"} %" PRIu64 "\n", v);
}

static void put_header(FILE *f, const char *name, const char *help) {
        fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

/* The problem codes of a set as one label value, "expired,key-mismatch", in the order of the problem
 * table and each once: the alert rules join it onto certherd_certificate_state, so that an alert names
 * what is wrong. A set with no facts at all is reported as unreadable, as check reports it. */
static void put_problem_codes(FILE *f, const CertFacts *facts) {
        bool seen[_PROBLEM_CODE_MAX] = {}, first = true;

        if (!facts) {
                fputs(problem_code_to_string(PROBLEM_UNREADABLE), f);
                return;
        }
        for (size_t j = 0; j < facts->n_problems; j++)
                if (facts->problems[j].code >= 0 && facts->problems[j].code < _PROBLEM_CODE_MAX)
                        seen[facts->problems[j].code] = true;
        for (ProblemCode c = 0; c < _PROBLEM_CODE_MAX; c++)
                if (seen[c]) {
                        fprintf(f, "%s%s", first ? "" : ",", problem_code_to_string(c));
                        first = false;
                }
}

int metrics_render(const CheckReport *rep, const MetricsState *st, const MetricsCa *cas, size_t n_cas,
                   usec_t last_pass, usec_t now, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;

        assert(rep && ret);
        assert(cas || n_cas == 0);
        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        for (MetricKind k = 0; k < _METRIC_KIND_MAX; k++) {
                put_header(f, metrics[k].name, metrics[k].help);
                for (size_t i = 0; i < rep->n_results; i++) {
                        uint64_t v;

                        if (!sample_value(rep, st, i, k, &v))
                                continue;
                        put_sample(f, metrics[k].name, "name", rep->results[i].cert->name, v);
                }
        }
        put_header(
                f, "certherd_certificate_problems_info",
                "Always 1; the label problems lists the set's problem codes, comma-separated (empty when none).");
        for (size_t i = 0; i < rep->n_results; i++) {
                fputs("certherd_certificate_problems_info{name=\"", f);
                put_label_value(f, rep->results[i].cert->name);
                fputs("\",problems=\"", f);
                /* with what the saved state adds (deploy-failed, renewal-failing, rate-limited) */
                {
                        _cleanup_(check_shown_done) CheckShown shown = {};

                        put_problem_codes(f,
                                          rep->results[i].facts ? check_result_shown(rep, i, &shown) : NULL);
                }
                fputs("\"} 1\n", f);
        }
        put_header(f, "certherd_ca_not_after_seconds",
                   "Expiry (notAfter) of the internal CA's certificate, in seconds since the epoch.");
        for (size_t i = 0; i < n_cas; i++)
                if (cas[i].parsed)
                        put_sample(f, "certherd_ca_not_after_seconds", "ca", cas[i].name,
                                   cas[i].not_after / USEC_PER_SEC);
        /* An expired CRL is the most common internal-PKI outage: let monitoring see it coming. */
        put_header(f, "certherd_ca_crl_next_update_seconds",
                   "nextUpdate of the internal CA's CRL, in seconds since the epoch.");
        for (size_t i = 0; i < n_cas; i++)
                if (cas[i].crl_next_update != 0)
                        put_sample(f, "certherd_ca_crl_next_update_seconds", "ca", cas[i].name,
                                   cas[i].crl_next_update / USEC_PER_SEC);
        put_header(f, "certherd_last_run_timestamp_seconds",
                   "When certherd last inspected its certificates.");
        fprintf(f, "certherd_last_run_timestamp_seconds %" PRIu64 "\n", now / USEC_PER_SEC);
        /* The heartbeat that CertherdAgentStale watches: every pass, timer or daemon, moves it. */
        put_header(f, "certherd_last_pass_timestamp_seconds",
                   "When certherd last completed a pass over its certificates, in seconds since the epoch.");
        if (last_pass > 0)
                fprintf(f, "certherd_last_pass_timestamp_seconds %" PRIu64 "\n", last_pass / USEC_PER_SEC);
        if (ferror(f)) {
                fclose(f);
                return -ENOMEM;
        }
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(buf);
        return 0;
}

int metrics_write(const char *path, const char *text) {
        assert(path && text);
        return install_data(path, text, strlen(text), 0644);
}

int metrics_directory_check(const char *path) {
        _cleanup_free_ char *dir = NULL;
        const char *slash;
        struct stat st;

        assert(path);
        slash = strrchr(path, '/');
        if (!slash)
                return 0; /* relative to the working directory, which exists */
        dir = strndup(path, slash == path ? 1 : (size_t) (slash - path));
        if (!dir)
                return -ENOMEM;
        if (stat(dir, &st) < 0)
                return -errno;
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

void metrics_warn_directory(const char *path, int r) {
        if (r == -ENOENT || r == -ENOTDIR)
                log_warning(
                        "metrics-file %s: its directory does not exist; no metrics are written until it is made",
                        path);
        else
                log_warning_errno(
                        r, "metrics-file %s: cannot look at its directory: %m; no metrics are written",
                        path);
}

int metrics_render_budgets(const MetricsBudget *b, size_t n, char **text) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;
        char *t;

        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        fputs(*text ?: "", f);
        put_header(f, "certherd_acme_budget_remaining",
                   "What is left of a rate-limit budget of the ACME server (limit: orders, duplicates, "
                   "failed-validations); absent when the budget is off.");
        for (size_t i = 0; i < n; i++)
                for (AcmeLimit l = 0; l < ACME_LIMIT_SERVER; l++) {
                        if (b[i].remaining[l] < 0)
                                continue;
                        fputs("certherd_acme_budget_remaining{acme=\"", f);
                        put_label_value(f, b[i].acme);
                        fprintf(f, "\",limit=\"%s\"} %ld\n", acme_limit_to_string(l), b[i].remaining[l]);
                }
        if (fclose(f) != 0)
                return -ENOMEM;
        t = TAKE_PTR(buf);
        free(*text);
        *text = t;
        return 0;
}

int metrics_append_budgets(const Inventory *inv, usec_t now, char **text) {
        _cleanup_free_ MetricsBudget *b = new0(MetricsBudget, inv->n_acme);
        int r;

        if (!b)
                return -ENOMEM;
        for (size_t i = 0; i < inv->n_acme; i++) {
                _cleanup_(acme_budget_freep) AcmeBudget *budget = NULL;

                r = acme_budget_load(inv, inv->acme[i], &budget);
                if (r < 0)
                        return r;
                b[i].acme = inv->acme[i]->name;
                for (AcmeLimit l = 0; l < ACME_LIMIT_SERVER; l++)
                        b[i].remaining[l] = acme_budget_remaining(budget, inv->acme[i], l, now);
        }
        return metrics_render_budgets(b, inv->n_acme, text);
}
