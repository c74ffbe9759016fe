/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <inttypes.h>
#include <string.h>

#include <jansson.h>

#include "pool.h"
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

static json_t *time_or_null(usec_t t) {
        char buf[32];

        return t == 0 || t == USEC_INFINITY ? json_null()
                                            : json_string(format_timestamp_iso(buf, sizeof(buf), t));
}

/* What a caller who may not renew (a Check over the bus from another user) sees instead of a text that
 * may quote a hook's command line, or an error about one. */
#define REDACTED "(details for root and the certherd user only)"

static const char *problem_message(const CheckReport *rep, const Problem *p) {
        return rep->redact && (p->code == PROBLEM_DEPLOY_FAILED || p->code == PROBLEM_RENEWAL_FAILING)
                       ? REDACTED
                       : p->message;
}

static const char *error_text(const CheckReport *rep, const char *s) {
        return rep->redact && s ? REDACTED : s;
}

/* A deploy step ("exec /usr/local/sbin/hook", "reload nginx.service") as a caller who may not renew sees
 * it: its kind alone. Points into step or into buf. */
static const char *step_text(const CheckReport *rep, const char *step, char *buf, size_t size) {
        if (!rep->redact || !step)
                return step;
        snprintf(buf, size, "%.*s", (int) strcspn(step, " "), step);
        return buf;
}

static json_t *problems_to_json(const CheckReport *rep, const CertFacts *f) {
        json_t *problems = json_array();

        for (size_t i = 0; problems && i < f->n_problems; i++)
                json_array_append_new(problems,
                                      json_pack("{s:s, s:s, s:s}", "code",
                                                problem_code_to_string(f->problems[i].code), "severity",
                                                severity_to_string(f->problems[i].severity), "message",
                                                problem_message(rep, &f->problems[i])));
        return problems;
}

/* When the next renewal (or, backing off, the next attempt) is due; USEC_INFINITY: never. */
static usec_t next_renewal(const Plan *p) {
        return p->action == PLAN_BACKOFF && p->why != RENEW_REASON_NONE ? p->retry : p->due;
}

/* next_renewal, last_renewal {time, result, error}, deploy {time, result, step, error, serial}. */
static void add_lifecycle(json_t *o, const CheckReport *rep, size_t i) {
        const CertState *st = rep->states ? &rep->states[i] : NULL;
        char step[32];

        json_object_set_new(o, "next_renewal",
                            rep->plans ? time_or_null(next_renewal(&rep->plans[i])) : json_null());
        /* The maintenance window open now or next; null: no windows. */
        json_object_set_new(o, "next_window",
                            rep->plans && rep->plans[i].window_end != USEC_INFINITY
                                    ? json_pack("{s:o, s:o, s:b}", "start",
                                                time_or_null(rep->plans[i].window_start), "end",
                                                time_or_null(rep->plans[i].window_end), "open",
                                                rep->plans[i].window_open)
                                    : json_null());
        json_object_set_new(o, "profile", st && st->profile ? json_string(st->profile) : json_null());
        if (st && st->failures > 0)
                json_object_set_new(o, "last_renewal",
                                    json_pack("{s:o, s:s, s:s?}", "time", time_or_null(st->last_attempt),
                                              "result", "failed", "error", error_text(rep, st->last_error)));
        else if (st && st->last_renewal > 0)
                json_object_set_new(o, "last_renewal",
                                    json_pack("{s:o, s:s, s:n}", "time", time_or_null(st->last_renewal),
                                              "result", "ok", "error"));
        else
                json_object_set_new(o, "last_renewal", json_null());
        if (st && st->deploy_time > 0)
                json_object_set_new(
                        o, "deploy",
                        json_pack("{s:o, s:s, s:s?, s:s?, s:s?}", "time", time_or_null(st->deploy_time),
                                  "result", st->deploy_failed ? "failed" : "ok", "step",
                                  st->deploy_failed ? step_text(rep, st->deploy_step, step, sizeof(step))
                                                    : NULL,
                                  "error", st->deploy_failed ? error_text(rep, st->deploy_error) : NULL,
                                  "serial", st->deploy_serial));
        else
                json_object_set_new(o, "deploy", json_null());
}

static json_t *result_to_json(const CheckReport *rep, size_t i) {
        const CheckResult *res = &rep->results[i];
        _cleanup_(check_shown_done) CheckShown shown = {};
        const CertFacts *f = check_result_shown(rep, i, &shown);
        json_t *o, *problems;
        char nb[32], na[32];
        _cleanup_free_ char *pin = NULL, *next_pin = NULL;

        problems = problems_to_json(rep, f);
        if (f->has_pin && pin_format(f->pin, PIN_FORMAT_BASE64, &pin) < 0)
                pin = NULL;
        if (res->has_next_pin && pin_format(res->next_pin, PIN_FORMAT_BASE64, &next_pin) < 0)
                next_pin = NULL;

        o = json_pack("{s:s, s:s, s:s, s:o?}", "name", res->cert->name, "state",
                      severity_to_string(f->state), "certificate", res->cert->certificate, "key",
                      res->cert->key ? json_string(res->cert->key) : json_null());
        if (!o) {
                json_decref(problems);
                return NULL;
        }
        if (f->parsed) {
                /* x509_inspect() escaped what is not valid UTF-8; the rest is ours: no check needed (the
                 * check is a tenth of a daemon's report). */
                json_object_set_new_nocheck(o, "subject", json_string_nocheck(f->subject));
                json_object_set_new_nocheck(o, "issuer", json_string_nocheck(f->issuer));
                json_object_set_new_nocheck(o, "serial", json_string_nocheck(f->serial));
                json_object_set_new_nocheck(
                        o, "not_before",
                        json_string_nocheck(format_timestamp_iso(nb, sizeof(nb), f->not_before)));
                json_object_set_new_nocheck(
                        o, "not_after",
                        json_string_nocheck(format_timestamp_iso(na, sizeof(na), f->not_after)));
                json_object_set_new_nocheck(o, "days_left", json_integer(f->days_left));
                json_object_set_new_nocheck(o, "names", strv_to_json(f->names));
                json_object_set_new_nocheck(o, "key_type", json_string_nocheck(f->key_type));
                json_object_set_new_nocheck(o, "pin_sha256", pin ? json_string_nocheck(pin) : json_null());
        } else {
                /* Nothing could be read: the same keys, with null values, so consumers need no special case. */
                const char *keys[] = { "subject",   "issuer", "serial",   "not_before", "not_after",
                                       "days_left", "names",  "key_type", "pin_sha256" };
                for (size_t k = 0; k < ELEMENTSOF(keys); k++)
                        json_object_set_new(o, keys[k],
                                            strcmp(keys[k], "names") == 0 ? json_array() : json_null());
        }
        /* The key the next renewal certifies (key-policy = rotate), whether or not the installed
         * certificate could be read: what clients should already trust. */
        json_object_set_new(o, "next_pin_sha256", next_pin ? json_string(next_pin) : json_null());
        json_object_set_new(o, "problems", problems);
        return o;
}

/* The i-th element of an array being written: its separator, then the object (consumed). Dumped into a
 * buffer and written at once: json_dumpf() writes each token with its own fwrite(), a third of the time
 * of a daemon's report. */
static int dump_element(FILE *f, size_t i, json_t *o) {
        const size_t flags = JSON_INDENT(2) | JSON_PRESERVE_ORDER;
        char buf[4096], *big = NULL, *p = buf;
        size_t n;
        int r = 0;

        if (!o)
                return -ENOMEM;
        n = json_dumpb(o, buf, sizeof(buf), flags);
        if (n > sizeof(buf)) {
                p = big = malloc(n);
                if (!p || json_dumpb(o, big, n, flags) != n)
                        r = -ENOMEM;
        }
        json_decref(o);
        if (r >= 0 && n == 0)
                r = -EIO;
        if (r >= 0 && (fputs(i == 0 ? "\n" : ",\n", f) < 0 || fwrite(p, 1, n, f) != n))
                r = -EIO;
        free(big);
        return r;
}

/* Sets per chunk rendered by one thread, and chunks per thread in a round. */
#define REPORT_CHUNK 256
#define REPORT_ROUND 4

static size_t min_size(size_t a, size_t b) {
        return a < b ? a : b;
}

typedef struct ReportChunk {
        char *text;
        size_t size;
} ReportChunk;

typedef struct ReportRound {
        const CheckReport *rep;
        size_t first; /* the set the round's first chunk begins with */
        ReportChunk *chunks;
} ReportRound;

static int render_chunk(_unused_ unsigned worker, size_t item, void *userdata) {
        ReportRound *round = userdata;
        const CheckReport *rep = round->rep;
        ReportChunk *c = &round->chunks[item];
        size_t from = round->first + item * REPORT_CHUNK, to = min_size(from + REPORT_CHUNK, rep->n_results);
        FILE *f = open_memstream(&c->text, &c->size);
        int r = 0;

        if (!f)
                return -ENOMEM;
        for (size_t i = from; i < to && r >= 0; i++) {
                json_t *o = result_to_json(rep, i);

                if (o)
                        add_lifecycle(o, rep, i);
                r = dump_element(f, i, o);
        }
        if (fclose(f) != 0 && r >= 0)
                r = -ENOMEM;
        return r;
}

/* One object at a time, in chunks that threads render side by side and that are written in order as
 * each round ends: a tree of ten thousand certificates would cost tens of MiB and a second of CPU before
 * the first byte is out, and the rendering is most of what a `check` answered by the daemon costs. */
int report_json(const CheckReport *rep, FILE *f) {
        unsigned threads = pool_threads_for(rep->n_results, REPORT_CHUNK);
        size_t per_round = (size_t) threads * REPORT_ROUND;
        _cleanup_free_ ReportChunk *chunks = calloc(per_round, sizeof(ReportChunk));

        if (!chunks)
                return -ENOMEM;
        fputs("{\"certificates\": [", f);
        for (size_t first = 0; first < rep->n_results; first += per_round * REPORT_CHUNK) {
                ReportRound round = { .rep = rep, .first = first, .chunks = chunks };
                size_t n = min_size(per_round, (rep->n_results - first + REPORT_CHUNK - 1) / REPORT_CHUNK);
                int r = pool_run(n, threads, render_chunk, &round);

                for (size_t k = 0; k < n; k++) {
                        if (r >= 0 && fwrite(chunks[k].text, 1, chunks[k].size, f) != chunks[k].size)
                                r = -EIO;
                        free(chunks[k].text);
                        chunks[k] = (ReportChunk){};
                }
                if (r < 0)
                        return r;
        }
        fputs("\n], \"cas\": [", f);
        for (size_t i = 0; i < rep->n_cas; i++) {
                const CertFacts *x = rep->cas[i].facts;
                json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:s, s:o}", "name", rep->cas[i].ca->name,
                                      "certificate", rep->cas[i].ca->certificate, "not_after",
                                      x->parsed ? time_or_null(x->not_after) : json_null(), "days_left",
                                      x->parsed ? json_integer(x->days_left) : json_null(), "state",
                                      severity_to_string(x->state), "problems", problems_to_json(rep, x));
                int r = dump_element(f, i, o);

                if (r < 0)
                        return r;
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
                _cleanup_(check_shown_done) CheckShown shown = {};
                const CertFacts *x = check_result_shown(rep, i, &shown);
                char na[32];

                if (x->n_problems == 0) {
                        fprintf(f, "%-8s %s: expires %.10s (%" PRIi32 " days left)\n", "ok", res->cert->name,
                                format_timestamp_iso(na, sizeof(na), x->not_after), x->days_left);
                        continue;
                }
                for (size_t j = 0; j < x->n_problems; j++)
                        fprintf(f, "%-8s %s: %s: %s\n", severity_to_string(x->problems[j].severity),
                                res->cert->name, problem_code_to_string(x->problems[j].code),
                                problem_message(rep, &x->problems[j]));
        }
        /* An internal CA is mentioned when something is wrong with it. */
        for (size_t i = 0; i < rep->n_cas; i++)
                for (size_t j = 0; j < rep->cas[i].facts->n_problems; j++)
                        fprintf(f, "%-8s ca:%s: %s: %s\n",
                                severity_to_string(rep->cas[i].facts->problems[j].severity),
                                rep->cas[i].ca->name,
                                problem_code_to_string(rep->cas[i].facts->problems[j].code),
                                rep->cas[i].facts->problems[j].message);
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

/* "ok", "failed: why", "deploy-failed: step" — the last result of a set's lifecycle. */
static void last_result(const CheckReport *rep, const CertState *st, char *buf, size_t size) {
        char step[32];

        if (!st)
                snprintf(buf, size, "-");
        else if (st->deploy_failed)
                snprintf(buf, size, "deploy-failed: %s",
                         step_text(rep, st->deploy_step, step, sizeof(step)) ?: "?");
        else if (st->failures > 0)
                snprintf(buf, size, "failed: %s", error_text(rep, st->last_error) ?: "?");
        else if (st->last_renewal > 0 || st->deploy_time > 0)
                snprintf(buf, size, "ok");
        else
                snprintf(buf, size, "-");
        /* The ACME profile the installed certificate was ordered under. */
        if (st && st->profile && strlen(buf) + strlen(st->profile) + 12 < size)
                snprintf(buf + strlen(buf), size - strlen(buf), " (profile %s)", st->profile);
}

static void table_row(FILE *f, bool color, int wname, const char *name, const CertFacts *x, const char *next,
                      const char *last) {
        char na[32] = "-", days[24] = "-", issuer[25] = "-", pin[16] = "-", problems[256] = "";
        _cleanup_free_ char *p = NULL;
        size_t off = 0;

        if (x->parsed) {
                format_timestamp_iso(na, sizeof(na), x->not_after);
                na[10] = 0;
                snprintf(days, sizeof(days), "%" PRIi32, x->days_left);
                short_issuer(x->issuer, issuer, sizeof(issuer));
                if (x->has_pin && pin_format(x->pin, PIN_FORMAT_BASE64, &p) >= 0)
                        snprintf(pin, sizeof(pin), "%.11s…", p);
        }
        for (size_t j = 0; j < x->n_problems && off < sizeof(problems); j++)
                off += (size_t) snprintf(problems + off, sizeof(problems) - off, "%s%s", j ? ", " : "",
                                         problem_code_to_string(x->problems[j].code));

        fprintf(f, "%-*s  %s%-8s%s  %-10s  %5s  %-24s  %-12s  %-16s  %-20s  %s\n", wname, name,
                color ? state_color(x->state) : "", severity_to_string(x->state), color ? "\033[0m" : "", na,
                days, issuer, pin, next, x->n_problems ? problems : "-", last);
}

/* Why a coming renewal is planned when it is not the certificate's own window: the end of its CA's
 * rotation overlap moves the leaf to the new generation (the column above shows only the time). */
static void table_notes(const CheckReport *rep, FILE *f) {
        for (size_t i = 0; rep->plans && i < rep->n_results; i++) {
                const Plan *p = &rep->plans[i];
                char when[32];

                if (p->due_why == RENEW_REASON_CA_ROTATED && p->due != USEC_INFINITY)
                        fprintf(f, "%s: CA rotated: re-issue %s %s\n", rep->results[i].cert->name,
                                p->action == PLAN_NONE ? "at" : "due since",
                                format_timestamp_iso(when, sizeof(when), p->due));
        }
}

/* "window nginx: open until 2026-12-08T04:00:00Z" / "window nginx: next 2026-12-08T02:00:00Z to …" for the
 * sets with maintenance windows. */
static void window_lines(const CheckReport *rep, FILE *f) {
        for (size_t i = 0; rep->plans && i < rep->n_results; i++) {
                const Plan *p = &rep->plans[i];
                char a[32], b[32];

                if (p->window_end == USEC_INFINITY)
                        continue;
                format_timestamp_iso(a, sizeof(a), p->window_start);
                format_timestamp_iso(b, sizeof(b), p->window_end);
                if (p->window_open)
                        fprintf(f, "window %s: open until %s\n", rep->results[i].cert->name, b);
                else
                        fprintf(f, "window %s: next %s to %s\n", rep->results[i].cert->name, a, b);
        }
}

int report_table(const CheckReport *rep, FILE *f, bool color) {
        int wname = 4;

        for (size_t i = 0; i < rep->n_results; i++) {
                int l = (int) strlen(rep->results[i].cert->name);
                if (l > wname)
                        wname = l > 40 ? 40 : l;
        }
        for (size_t i = 0; i < rep->n_cas; i++) {
                int l = (int) strlen(rep->cas[i].ca->name) + 3;
                if (l > wname)
                        wname = l > 40 ? 40 : l;
        }
        fprintf(f, "%s%-*s  %-8s  %-10s  %5s  %-24s  %-12s  %-16s  %-20s  %s%s\n", color ? "\033[1m" : "",
                wname, "NAME", "STATE", "EXPIRES", "DAYS", "ISSUER", "PIN", "NEXT RENEWAL", "PROBLEMS",
                "LAST RESULT", color ? "\033[0m" : "");

        for (size_t i = 0; i < rep->n_results; i++) {
                const CheckResult *res = &rep->results[i];
                _cleanup_(check_shown_done) CheckShown shown = {};
                char next[32] = "-", last[512];
                usec_t t = rep->plans ? next_renewal(&rep->plans[i]) : USEC_INFINITY;

                if (t != USEC_INFINITY) {
                        format_timestamp_iso(next, sizeof(next), t);
                        next[16] = 0; /* 2026-12-01T13:00 */
                }
                last_result(rep, rep->states ? &rep->states[i] : NULL, last, sizeof(last));
                table_row(f, color, wname, res->cert->name, check_result_shown(rep, i, &shown), next, last);
        }
        for (size_t i = 0; i < rep->n_cas; i++) {
                char name[64];

                snprintf(name, sizeof(name), "ca:%s", rep->cas[i].ca->name);
                table_row(f, color, wname, name, rep->cas[i].facts, "-", "-");
        }
        table_notes(rep, f);
        window_lines(rep, f);
        summary(rep, f);
        return ferror(f) ? -EIO : 0;
}

/* A perfdata label: single-quoted, a quote inside doubled (monitoring-plugins guidelines). */
static void perf_label(FILE *f, const char *name) {
        fputc('\'', f);
        for (const char *p = name; *p; p++) {
                if (*p == '\'')
                        fputc('\'', f);
                fputc(*p == '=' ? '_' : *p, f);
        }
        fputc('\'', f);
}

static void nagios_problems(FILE *f, const char *prefix, const char *name, const CertFacts *x, bool *first) {
        for (size_t j = 0; j < x->n_problems; j++) {
                if (x->problems[j].severity == SEVERITY_OK)
                        continue;
                fprintf(f, "%s%s%s: %s", *first ? ": " : ", ", prefix, name,
                        problem_code_to_string(x->problems[j].code));
                *first = false;
        }
}

int report_nagios(const Inventory *inv, const CheckReport *rep, FILE *f) {
        static const char *const words[_SEVERITY_MAX] = { "OK", "WARNING", "CRITICAL" };
        bool first = true;

        fprintf(f, "CERTHERD %s - ", words[rep->worst]);
        if (rep->worst == SEVERITY_OK)
                fprintf(f, "%zu certificate%s ok", rep->n_results, rep->n_results == 1 ? "" : "s");
        else {
                fprintf(f, "%zu critical, %zu warning of %zu certificate%s", rep->count[SEVERITY_CRITICAL],
                        rep->count[SEVERITY_WARNING], rep->n_results, rep->n_results == 1 ? "" : "s");
                for (size_t i = 0; i < rep->n_results; i++) {
                        _cleanup_(check_shown_done) CheckShown shown = {};

                        nagios_problems(f, "", rep->results[i].cert->name,
                                        check_result_shown(rep, i, &shown), &first);
                }
                for (size_t i = 0; i < rep->n_cas; i++)
                        if (rep->cas[i].facts->parsed)
                                nagios_problems(f, "ca:", rep->cas[i].ca->name, rep->cas[i].facts, &first);
        }
        fputs(" |", f);
        for (size_t i = 0; i < rep->n_results; i++) {
                const CertConfig *c = rep->results[i].cert;
                const CertFacts *x = rep->results[i].facts;
                usec_t lifetime = x->parsed && x->not_after > x->not_before ? x->not_after - x->not_before
                                                                            : 0;

                fputc(' ', f);
                perf_label(f, c->name);
                if (x->parsed)
                        fprintf(f, "=%" PRIi32 "d", x->days_left);
                else
                        fputs("=U", f);
                fprintf(f, ";%" PRIu64 ";%" PRIu64,
                        threshold_resolve(cert_warn_before(inv, c), lifetime) / USEC_PER_DAY,
                        threshold_resolve(cert_critical_before(inv, c), lifetime) / USEC_PER_DAY);
        }
        fputc('\n', f);
        return ferror(f) ? -EIO : 0;
}
