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
                *ret = facts ? (uint64_t) facts->state : (uint64_t) SEVERITY_CRITICAL;
                return true;
        case METRIC_RENEWAL_FAILURES:
                *ret = st ? st[i].renewal_failures : 0;
                return true;
        case METRIC_LAST_RENEWAL:
                *ret = st ? st[i].last_renewal / USEC_PER_SEC : 0;
                return true;
        default:
                return false;
        }
}

int metrics_render(const CheckReport *rep, const MetricsState *st, usec_t now, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *f;

        assert(rep && ret);
        f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        for (MetricKind k = 0; k < _METRIC_KIND_MAX; k++) {
                fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", metrics[k].name, metrics[k].help, metrics[k].name);
                for (size_t i = 0; i < rep->n_results; i++) {
                        uint64_t v;

                        if (!sample_value(rep, st, i, k, &v))
                                continue;
                        fprintf(f, "%s{name=\"", metrics[k].name);
                        put_label_value(f, rep->results[i].cert->name);
                        fprintf(f, "\"} %" PRIu64 "\n", v);
                }
        }
        fprintf(f,
                "# HELP certherd_last_run_timestamp_seconds When certherd last inspected its certificates.\n"
                "# TYPE certherd_last_run_timestamp_seconds gauge\n"
                "certherd_last_run_timestamp_seconds %" PRIu64 "\n",
                now / USEC_PER_SEC);
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
