/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "macro.h"
#include "time-util.h"

/* Rate-limit budgets: what certherd itself spent at one ACME server, kept in STATE/acme/NAME/budget.json,
 * so that an order the server would refuse for a rate limit is not sent (a refused order still counts
 * against some limits, and repeated ones can get an account blocked). Three budgets, after Let's
 * Encrypt's published limits:
 *   max-orders              new orders of the account (default 300/3h)
 *   max-duplicates          certificates for one identical set of names (default 5/7d); a renewal that
 *                           names the certificate it replaces (ARI, RFC 9773) is exempt, as Let's
 *                           Encrypt exempts it
 *   max-failed-validations  failed validations of one identifier (default 5/1h)
 * and the server's own word: a rateLimited problem defers the name set until its Retry-After. */

typedef enum AcmeLimit {
        ACME_LIMIT_ORDERS,
        ACME_LIMIT_DUPLICATES,
        ACME_LIMIT_FAILED_VALIDATIONS,
        ACME_LIMIT_SERVER, /* the server answered rateLimited */
        _ACME_LIMIT_MAX,
        _ACME_LIMIT_INVALID = -22,
} AcmeLimit;

/* "orders", "duplicates", "failed-validations", "server" (the metric's `limit` label). */
const char *acme_limit_to_string(AcmeLimit l) _pure_;

typedef struct AcmeBudgetTimes {
        char *key; /* the name set ("a.example,b.example", sorted) or the identifier; NULL for orders */
        usec_t *t; /* when, oldest first */
        size_t n;
        usec_t until; /* name sets: the server's Retry-After after rateLimited; 0: none */
        char *detail; /* and the problem's detail */
} AcmeBudgetTimes;

typedef struct AcmeBudget {
        AcmeBudgetTimes orders;
        AcmeBudgetTimes *sets; /* certificates issued, per name set */
        size_t n_sets;
        AcmeBudgetTimes *failed; /* failed validations, per identifier */
        size_t n_failed;
} AcmeBudget;

AcmeBudget *acme_budget_free(AcmeBudget *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(AcmeBudget *, acme_budget_free)

/* The limit in force: the section's value, else the default. count 0: off. */
RateLimit acme_budget_limit(const AcmeConfig *a, AcmeLimit l);

/* Strict: exactly the members acme_budget_format() writes, times as non-negative integers (seconds),
 * at most ACME_BUDGET_ENTRIES_MAX entries in all. Returns 0 or -EBADMSG / -ENOMEM. */
#define ACME_BUDGET_ENTRIES_MAX 100000
int acme_budget_parse(const char *text, size_t size, AcmeBudget **ret);
/* The JSON text, entries older than the longest period dropped. NULL on OOM. */
char *acme_budget_format(const AcmeBudget *b, const AcmeConfig *a, usec_t now);

/* STATE/acme/NAME/budget.json; missing: an empty budget; damaged: an empty one and a warning. */
int acme_budget_load(const Inventory *inv, const AcmeConfig *a, AcmeBudget **ret);

typedef struct AcmeBudgetVerdict {
        AcmeLimit limit; /* the budget an order would exceed */
        unsigned used, max;
        usec_t period;
        usec_t until;       /* when it frees up */
        const char *detail; /* ACME_LIMIT_SERVER: the server's words (borrowed from the budget) */
} AcmeBudgetVerdict;

/* Whether an order for `names` fits at `now` (true), or which budget it would exceed (false, *ret).
 * exempt: a renewal that names the certificate it replaces (not counted against max-duplicates). Pure. */
bool acme_budget_check(const AcmeBudget *b, const AcmeConfig *a, char *const *names, bool exempt, usec_t now,
                       AcmeBudgetVerdict *ret);
/* "2 of 2 new orders in 1h used (max-orders); frees up at 2026-12-07T07:00:00Z" */
char *acme_budget_verdict_format(const AcmeBudgetVerdict *v, char *buf, size_t size);
#define ACME_BUDGET_VERDICT_MAX 256
/* What is left of budget `l` at `now`: for duplicates and failed validations, of the name set or
 * identifier with the least left. -1: the budget is off. */
long acme_budget_remaining(const AcmeBudget *b, const AcmeConfig *a, AcmeLimit l, usec_t now);

/* Effects, under one lock of the process (renewals of one server run on several threads):
 * load, check, record, save. acme_budget_take_order() records a new order when it fits: returns 1, or 0
 * and *ret when it does not (nothing recorded), or -errno. */
int acme_budget_take_order(const Inventory *inv, const AcmeConfig *a, char *const *names, bool exempt,
                           usec_t now, AcmeBudgetVerdict *ret);
int acme_budget_note_certificate(const Inventory *inv, const AcmeConfig *a, char *const *names, usec_t now);
int acme_budget_note_failed_validation(const Inventory *inv, const AcmeConfig *a, const char *identifier,
                                       usec_t now);
int acme_budget_note_rate_limited(const Inventory *inv, const AcmeConfig *a, char *const *names,
                                  usec_t until, const char *detail);
