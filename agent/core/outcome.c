/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "outcome.h"

Outcome outcome_of(const char *name, const Plan *plan, const CertState *st, const RenewJob *j) {
        Outcome o = { .name = name, .kind = OUTCOME_NOT_DUE, .when = USEC_INFINITY };

        if (j && j->result == -EDQUOT) /* deferred at the last moment for a rate limit (acme-budget.h) */
                return (Outcome){
                        .name = name, .kind = OUTCOME_NOT_DUE, .when = USEC_INFINITY, .error = j->error
                };
        if (j) {
                /* A job held aside says "failed" in the pass that held it; later passes say "held". */
                if (j->result < 0)
                        o = (Outcome){ .name = name,
                                       .kind = OUTCOME_FAILED,
                                       .when = USEC_INFINITY,
                                       .error = st->last_error ?: j->error };
                else if (j->deploy_result < 0)
                        o = (Outcome){ .name = name,
                                       .kind = j->deploy_only ? OUTCOME_DEPLOY_FAILED : OUTCOME_INSTALLED,
                                       .when = USEC_INFINITY,
                                       .step = j->deploy_step,
                                       .error = j->deploy_error,
                                       .serial = j->outcome.serial };
                else
                        o = (Outcome){ .name = name,
                                       .kind = j->deploy_only ? OUTCOME_REDEPLOYED : OUTCOME_RENEWED,
                                       .when = j->deploy_only || !j->outcome.not_after
                                                       ? USEC_INFINITY
                                                       : j->outcome.not_after,
                                       .serial = j->outcome.serial };
                return o;
        }
        if (!plan)
                return o;
        if (plan->action == PLAN_BACKOFF && plan->why == RENEW_REASON_NONE && st->deploy_failed)
                o = (Outcome){ .name = name,
                               .kind = OUTCOME_DEPLOY_FAILED,
                               .when = plan->retry,
                               .step = st->deploy_step,
                               .error = st->deploy_error };
        else if (plan->action == PLAN_BACKOFF)
                o = (Outcome){ .name = name,
                               .kind = OUTCOME_BACKING_OFF,
                               .when = plan->retry,
                               .failures = st->failures,
                               .error = st->last_error,
                               .ineffective = plan->ineffective && st->failures == 0 };
        else if (plan->action == PLAN_HELD)
                o = (Outcome){ .name = name,
                               .kind = OUTCOME_HELD,
                               .when = USEC_INFINITY,
                               .error = st->last_error,
                               .looping = plan->looping,
                               .recent_issues = plan->recent_issues };
        else {
                o.when = plan->due;
                if (plan->window_wait || plan->rate_limited) /* wanted: say that it waits, and for when */
                        o.error = plan->wait_why;
        }
        return o;
}

static void render_line(const Outcome *o, OutcomeFlags flags, FILE *f) {
        char when[32] = "?";

        if (o->when != USEC_INFINITY)
                format_timestamp_iso(when, sizeof(when), o->when);
        switch (o->kind) {
        case OUTCOME_NOT_DUE:
                if (o->error)
                        fprintf(f, "%s: not now: %s\n", o->name, o->error);
                else if (o->when == USEC_INFINITY)
                        fprintf(f, "%s: not due\n", o->name);
                else
                        fprintf(f, "%s: not due (renews from %s)\n", o->name, when);
                break;
        case OUTCOME_RENEWED:
                if (!(flags & OUTCOME_RENEWED_LINES))
                        break;
                fprintf(f, "%s: renewed (serial %s)", o->name, o->serial ?: "?");
                if (o->when != USEC_INFINITY)
                        fprintf(f, ", valid until %s", when);
                fputc('\n', f);
                break;
        case OUTCOME_REDEPLOYED:
                fprintf(f, "%s: deployed again (serial %s)\n", o->name, o->serial ?: "?");
                break;
        case OUTCOME_FAILED:
                fprintf(f, "%s: renewal failed: %s\n", o->name, o->error ?: "unknown error");
                break;
        case OUTCOME_HELD:
                if (o->looping) {
                        fprintf(f,
                                "%s: renewal held: issued %u times within a quarter of its lifetime; no renewal "
                                "until the inventory or its files change\n",
                                o->name, o->recent_issues);
                        break;
                }
                fprintf(f,
                        "%s: renewal held: %s; the certificate issued was kept, no new order until the "
                        "inventory or its files change\n",
                        o->name, o->error ?: "refused");
                break;
        case OUTCOME_INSTALLED:
        case OUTCOME_DEPLOY_FAILED:
                if (o->when != USEC_INFINITY)
                        fprintf(f, "%s: deploy failed at %s: %s; next attempt from %s\n", o->name,
                                o->step ?: "?", o->error ?: "?", when);
                else
                        fprintf(f, "%s: deploy failed at %s: %s (serial %s)\n", o->name, o->step ?: "?",
                                o->error ?: "?", o->serial ?: "?");
                break;
        case OUTCOME_BACKING_OFF:
                if (o->ineffective) {
                        fprintf(f,
                                "%s: renewal failing: the last renewal left what made it due; next attempt from %s\n",
                                o->name, when);
                        break;
                }
                fprintf(f,
                        "%s: renewal failing: %u failed attempt%s, last error: %s; next attempt from %s\n",
                        o->name, o->failures, o->failures == 1 ? "" : "s", o->error ?: "unknown", when);
                break;
        default:
                fprintf(f, "%s: no longer in the inventory\n", o->name);
                break;
        }
}

int outcome_render(const Outcome *l, size_t n, OutcomeFlags flags, FILE *f) {
        size_t renewed = 0, deploy_failed = 0, redeployed = 0, skipped = 0, failed = 0;

        for (size_t i = 0; i < n; i++)
                switch (l[i].kind) {
                case OUTCOME_NOT_DUE:
                        skipped++;
                        break;
                case OUTCOME_INSTALLED:
                        /* The certificate is renewed and installed; its deploy is what failed. */
                        deploy_failed++;
                        renewed++;
                        break;
                case OUTCOME_RENEWED:
                        renewed++;
                        break;
                case OUTCOME_REDEPLOYED:
                        redeployed++;
                        break;
                default:
                        failed++;
                        break;
                }
        if ((flags & OUTCOME_QUIET) && renewed + redeployed + failed == 0)
                return 0;
        for (size_t i = 0; i < n; i++)
                render_line(&l[i], flags, f);
        fprintf(f, "%zu renewed", renewed);
        if (deploy_failed)
                fprintf(f, " (%zu deploy failed)", deploy_failed);
        fprintf(f, ", %zu not due, %zu failed", skipped, failed);
        if (redeployed)
                fprintf(f, ", %zu redeployed", redeployed);
        fputc('\n', f);
        return failed + deploy_failed > 0 ? 1 : 0;
}

int outcome_render_pass(const Pass *p, OutcomeFlags flags, FILE *f) {
        _cleanup_free_ Outcome *l = new0(Outcome, p->n_sets);
        size_t n = 0;

        if (!l)
                return log_error_errno(-ENOMEM, "Out of memory"), 1;
        for (size_t i = 0; i < p->n_sets; i++) {
                const PassSet *it = &p->sets[i];

                if (it->cert->issuer != ISSUER_NONE && it->selected)
                        l[n++] = outcome_of(it->cert->name, &it->plan, pass_set_state(it),
                                            pass_set_job(p, it));
        }
        return outcome_render(l, n, flags, f);
}

bool outcome_text_is_idle(const char *text) {
        const char *end, *last;
        unsigned long not_due;
        int k = -1;

        if (!text)
                return false;
        end = text + strlen(text);
        if (end > text && end[-1] == '\n')
                end--;
        last = end;
        while (last > text && last[-1] != '\n')
                last--;
        return sscanf(last, "0 renewed, %lu not due, 0 failed%n", &not_due, &k) == 1 && k == end - last;
}

/* snprintf at *k into buf, which may already be full (then only *k grows, as snprintf counts). */
_printf_(4, 5) static void append(char *buf, size_t size, int *k, const char *fmt, ...) {
        size_t at = (size_t) *k < size ? (size_t) *k : size;
        va_list ap;

        va_start(ap, fmt);
        *k += vsnprintf(buf + at, size - at, fmt, ap);
        va_end(ap);
}

int outcome_status(const CheckReport *rep, char *buf, size_t size) {
        size_t deploy_failed = 0, failing = 0, held = 0, ok = 0, problems = 0;
        const CertFacts *soonest = NULL;
        int k;

        for (size_t i = 0; i < rep->n_results; i++) {
                const CertState *st = rep->states ? &rep->states[i] : NULL;
                const Plan *p = rep->plans ? &rep->plans[i] : NULL;
                const CertFacts *f = rep->results[i].facts;

                if (st && st->deploy_failed)
                        deploy_failed++;
                else if (p && (p->failing || p->action == PLAN_BACKOFF))
                        failing++;
                else if (p && p->action == PLAN_HELD)
                        held++;
                else if (f->state == SEVERITY_OK)
                        ok++;
                else {
                        problems++;
                        if (f->parsed && (!soonest || f->not_after < soonest->not_after))
                                soonest = f;
                }
        }
        k = snprintf(buf, size, "%zu certificate%s: ", rep->n_results, rep->n_results == 1 ? "" : "s");
        if (deploy_failed)
                append(buf, size, &k, "%zu deploy failed, ", deploy_failed);
        if (failing)
                append(buf, size, &k, "%zu renewal failing, ", failing);
        if (held)
                append(buf, size, &k, "%zu held, ", held);
        append(buf, size, &k, "%zu ok", ok);
        if (problems > 0 && soonest && soonest->days_left >= 0)
                append(buf, size, &k, ", %zu expiring in %" PRIi32 " days", problems, soonest->days_left);
        else if (problems > 0)
                append(buf, size, &k, ", %zu with problems", problems);
        return k;
}
