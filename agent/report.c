/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <inttypes.h>
#include <string.h>

#include <jansson.h>

#include "report.h"

static json_t *strv_to_json(char *const *l) {
        json_t *a = json_array();

        for (size_t i = 0; a && l && l[i]; i++)
                if (json_array_append_new(a, json_string(l[i])) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

static json_t *result_to_json(const CheckResult *res) {
        const CertFacts *f = res->facts;
        json_t *o, *problems;
        char nb[32], na[32];
        _cleanup_free_ char *pin = NULL;

        problems = json_array();
        for (size_t i = 0; problems && i < f->n_problems; i++) {
                ProblemCode c = f->problems[i].code;
                json_array_append_new(problems,
                                      json_pack("{s:s, s:s, s:s}", "code", problem_code_to_string(c), "severity",
                                                severity_to_string(problem_code_severity(c)), "message",
                                                f->problems[i].message));
        }
        if (f->has_pin && pin_format(f->pin, PIN_FORMAT_BASE64, &pin) < 0)
                pin = NULL;

        o = json_pack("{s:s, s:s, s:s, s:o?}", "name", res->cert->name, "state", severity_to_string(f->state),
                      "certificate", res->cert->certificate, "key", res->cert->key ? json_string(res->cert->key) : json_null());
        if (!o) {
                json_decref(problems);
                return NULL;
        }
        if (f->parsed) {
                json_object_set_new(o, "subject", json_string(f->subject));
                json_object_set_new(o, "issuer", json_string(f->issuer));
                json_object_set_new(o, "serial", json_string(f->serial));
                json_object_set_new(o, "not_before", json_string(format_timestamp_iso(nb, sizeof(nb), f->not_before)));
                json_object_set_new(o, "not_after", json_string(format_timestamp_iso(na, sizeof(na), f->not_after)));
                json_object_set_new(o, "days_left", json_integer(f->days_left));
                json_object_set_new(o, "names", strv_to_json(f->names));
                json_object_set_new(o, "key_type", json_string(f->key_type));
                json_object_set_new(o, "pin_sha256", pin ? json_string(pin) : json_null());
        } else {
                /* Nothing could be read: the same keys, with null values, so consumers need no special case. */
                const char *keys[] = { "subject", "issuer", "serial", "not_before", "not_after", "days_left",
                                       "names", "key_type", "pin_sha256" };
                for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                        json_object_set_new(o, keys[i], strcmp(keys[i], "names") == 0 ? json_array() : json_null());
        }
        json_object_set_new(o, "problems", problems);
        return o;
}

/* One object at a time: a tree of ten thousand certificates would cost tens of MiB and a second of CPU
 * before the first byte is out. */
int report_json(const CheckReport *rep, FILE *f) {
        fputs("{\"certificates\": [", f);
        for (size_t i = 0; i < rep->n_results; i++) {
                json_t *o = result_to_json(&rep->results[i]);
                int r;

                if (!o)
                        return -ENOMEM;
                fputs(i == 0 ? "\n" : ",\n", f);
                r = json_dumpf(o, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                json_decref(o);
                if (r < 0)
                        return -EIO;
        }
        fputs("\n]}\n", f);
        return ferror(f) ? -EIO : 0;
}

static void summary(const CheckReport *rep, FILE *f) {
        fprintf(f, "%zu certificate%s: %zu ok, %zu warning, %zu critical\n", rep->n_results,
                rep->n_results == 1 ? "" : "s", rep->count[SEVERITY_OK], rep->count[SEVERITY_WARNING],
                rep->count[SEVERITY_CRITICAL]);
}

int report_lines(const CheckReport *rep, FILE *f) {
        for (size_t i = 0; i < rep->n_results; i++) {
                const CheckResult *res = &rep->results[i];
                const CertFacts *x = res->facts;
                char na[32];

                if (x->n_problems == 0) {
                        fprintf(f, "%-8s %s: expires %.10s (%" PRIi64 " days left)\n", "ok", res->cert->name,
                                format_timestamp_iso(na, sizeof(na), x->not_after), x->days_left);
                        continue;
                }
                for (size_t j = 0; j < x->n_problems; j++) {
                        ProblemCode c = x->problems[j].code;
                        fprintf(f, "%-8s %s: %s: %s\n", severity_to_string(problem_code_severity(c)), res->cert->name,
                                problem_code_to_string(c), x->problems[j].message);
                }
        }
        summary(rep, f);
        return ferror(f) ? -EIO : 0;
}

/* The issuer's CN reads better in a table than its whole DN. */
static void short_issuer(const char *dn, char *buf, size_t size) {
        const char *cn = strstr(dn, "CN=");
        size_t n;

        if (!cn)
                cn = dn;
        else
                cn += 3;
        n = strcspn(cn, ",");
        snprintf(buf, size, "%.*s", (int) n, cn);
}

static const char *state_color(Severity s) {
        return s == SEVERITY_OK ? "\033[32m" : s == SEVERITY_WARNING ? "\033[33m" : "\033[1;31m";
}

int report_table(const CheckReport *rep, FILE *f, bool color) {
        int wname = 4;

        for (size_t i = 0; i < rep->n_results; i++) {
                int l = (int) strlen(rep->results[i].cert->name);
                if (l > wname)
                        wname = l > 40 ? 40 : l;
        }
        fprintf(f, "%s%-*s  %-8s  %-10s  %5s  %-24s  %-12s  %s%s\n", color ? "\033[1m" : "", wname, "NAME", "STATE",
                "EXPIRES", "DAYS", "ISSUER", "PIN", "PROBLEMS", color ? "\033[0m" : "");

        for (size_t i = 0; i < rep->n_results; i++) {
                const CheckResult *res = &rep->results[i];
                const CertFacts *x = res->facts;
                char na[32] = "-", days[24] = "-", issuer[25] = "-", pin[16] = "-", problems[256] = "";
                _cleanup_free_ char *p = NULL;
                size_t off = 0;

                if (x->parsed) {
                        format_timestamp_iso(na, sizeof(na), x->not_after);
                        na[10] = 0;
                        snprintf(days, sizeof(days), "%" PRIi64, x->days_left);
                        short_issuer(x->issuer, issuer, sizeof(issuer));
                        if (x->has_pin && pin_format(x->pin, PIN_FORMAT_BASE64, &p) >= 0)
                                snprintf(pin, sizeof(pin), "%.11s…", p);
                }
                for (size_t j = 0; j < x->n_problems && off < sizeof(problems); j++)
                        off += (size_t) snprintf(problems + off, sizeof(problems) - off, "%s%s", j ? ", " : "",
                                                 problem_code_to_string(x->problems[j].code));

                fprintf(f, "%-*s  %s%-8s%s  %-10s  %5s  %-24s  %-12s  %s\n", wname, res->cert->name,
                        color ? state_color(x->state) : "", severity_to_string(x->state), color ? "\033[0m" : "", na,
                        days, issuer, pin, x->n_problems ? problems : "-");
        }
        summary(rep, f);
        return ferror(f) ? -EIO : 0;
}
