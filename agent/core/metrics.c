/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "install.h"
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
        [METRIC_STATE] = { "certherd_certificate_state", "State of the certificate: 0 ok, 1 warning, 2 critical." },
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
static bool sample_value(const CheckReport *rep, const MetricsState *st, size_t i, MetricKind kind, uint64_t *ret) {
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

static void put_header(FILE *f, const char *name, const char *help) {
        fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
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
                        fprintf(f, "%s{name=\"", metrics[k].name);
                        put_label_value(f, rep->results[i].cert->name);
                        fprintf(f, "\"} %" PRIu64 "\n", v);
                }
        }
        put_header(f, "certherd_ca_not_after_seconds",
                   "Expiry (notAfter) of the internal CA's certificate, in seconds since the epoch.");
        for (size_t i = 0; i < n_cas; i++) {
                if (!cas[i].parsed)
                        continue;
                fputs("certherd_ca_not_after_seconds{ca=\"", f);
                put_label_value(f, cas[i].name);
                fprintf(f, "\"} %" PRIu64 "\n", cas[i].not_after / USEC_PER_SEC);
        }
        /* An expired CRL is the most common internal-PKI outage: let monitoring see it coming. */
        put_header(f, "certherd_ca_crl_next_update_seconds",
                   "nextUpdate of the internal CA's CRL, in seconds since the epoch.");
        for (size_t i = 0; i < n_cas; i++) {
                if (cas[i].crl_next_update == 0)
                        continue;
                fputs("certherd_ca_crl_next_update_seconds{ca=\"", f);
                put_label_value(f, cas[i].name);
                fprintf(f, "\"} %" PRIu64 "\n", cas[i].crl_next_update / USEC_PER_SEC);
        }
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
        return install_file(&(InstallFile) {
                .path = path,
                .data = text,
                .size = strlen(text),
                .mode = 0644,
                .uid = (uid_t) -1,
                .gid = (gid_t) -1,
        });
}
