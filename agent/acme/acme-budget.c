/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "acme-budget.h"
#include "fd-util.h"
#include "json-util.h"
#include "log.h"

static const char *const acme_limit_table[_ACME_LIMIT_MAX] = {
        [ACME_LIMIT_ORDERS] = "orders",
        [ACME_LIMIT_DUPLICATES] = "duplicates",
        [ACME_LIMIT_FAILED_VALIDATIONS] = "failed-validations",
        [ACME_LIMIT_SERVER] = "server",
};

DEFINE_STRING_TABLE_TO_STRING(acme_limit, AcmeLimit, acme_limit_table, _ACME_LIMIT_MAX)

static void times_done(AcmeBudgetTimes *t) {
        free(t->key);
        free(t->t);
        free(t->detail);
        *t = (AcmeBudgetTimes){};
}

AcmeBudget *acme_budget_free(AcmeBudget *b) {
        if (!b)
                return NULL;
        times_done(&b->orders);
        for (size_t i = 0; i < b->n_sets; i++)
                times_done(&b->sets[i]);
        for (size_t i = 0; i < b->n_failed; i++)
                times_done(&b->failed[i]);
        free(b->sets);
        free(b->failed);
        free(b);
        return NULL;
}

RateLimit acme_budget_limit(const AcmeConfig *a, AcmeLimit l) {
        /* Let's Encrypt's published limits (letsencrypt.org/docs/rate-limits). */
        static const RateLimit defaults[] = {
                [ACME_LIMIT_ORDERS] = { .set = true, .count = 300, .period = 3 * USEC_PER_HOUR },
                [ACME_LIMIT_DUPLICATES] = { .set = true, .count = 5, .period = 7 * USEC_PER_DAY },
                [ACME_LIMIT_FAILED_VALIDATIONS] = { .set = true, .count = 5, .period = USEC_PER_HOUR },
        };
        const RateLimit *given = !a                                   ? NULL
                                 : l == ACME_LIMIT_ORDERS             ? &a->max_orders
                                 : l == ACME_LIMIT_DUPLICATES         ? &a->max_duplicates
                                 : l == ACME_LIMIT_FAILED_VALIDATIONS ? &a->max_failed_validations
                                                                      : NULL;

        if (l < 0 || l >= ACME_LIMIT_SERVER)
                return (RateLimit){};
        return given && given->set ? *given : defaults[l];
}

/* ---- JSON ---- */

static int times_parse(json_t *a, AcmeBudgetTimes *ret, size_t *budget) {
        size_t i;
        json_t *v;

        if (!json_is_array(a) || json_array_size(a) > *budget)
                return -EBADMSG;
        *budget -= json_array_size(a);
        ret->t = new0(usec_t, json_array_size(a));
        if (!ret->t)
                return -ENOMEM;
        json_array_foreach (a, i, v) {
                json_int_t s = json_is_integer(v) ? json_integer_value(v) : -1;

                /* oldest first, as written: the checks count on it */
                if (s < 0 || s > (json_int_t) UINT32_MAX ||
                    (ret->n > 0 && (usec_t) s * USEC_PER_SEC < ret->t[ret->n - 1]))
                        return -EBADMSG;
                ret->t[ret->n++] = (usec_t) s * USEC_PER_SEC;
        }
        return 0;
}

/* Keys and details reach terminals and the journal: printable text only. */
static bool text_is_clean(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || *s == 0x7f)
                        return false;
        return true;
}

/* {"KEY": {"times": [...], "until": N, "detail": "…"}} (until and detail for name sets only). */
static int keyed_parse(json_t *o, bool with_until, AcmeBudgetTimes **ret, size_t *ret_n, size_t *budget) {
        const char *key;
        json_t *v;
        int r;

        if (!json_is_object(o) || json_object_size(o) > *budget)
                return -EBADMSG;
        *ret = new0(AcmeBudgetTimes, json_object_size(o));
        if (!*ret)
                return -ENOMEM;
        json_object_foreach (o, key, v) {
                AcmeBudgetTimes *t = &(*ret)[(*ret_n)++];
                json_t *until = json_object_get(v, "until"), *detail = json_object_get(v, "detail");
                size_t known = 1 + !!until + !!detail;

                if (!json_is_object(v) || json_object_size(v) != known || !key[0] || strlen(key) > 4096 ||
                    (!with_until && known > 1) ||
                    (until && (!json_is_integer(until) || json_integer_value(until) < 0 ||
                               json_integer_value(until) > (json_int_t) (UINT32_MAX))) ||
                    (detail && (!json_is_string(detail) || !text_is_clean(json_string_value(detail)))) ||
                    !text_is_clean(key))
                        return -EBADMSG;
                t->key = strdup(key);
                t->detail = detail ? strdup(json_string_value(detail)) : NULL;
                if (!t->key || (detail && !t->detail))
                        return -ENOMEM;
                t->until = until ? (usec_t) json_integer_value(until) * USEC_PER_SEC : 0;
                r = times_parse(json_object_get(v, "times"), t, budget);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* NULL j: no file yet, an empty budget. ret: AcmeBudget **. */
static int budget_from_json(json_t *j, void *ret) {
        _cleanup_(acme_budget_freep) AcmeBudget *b = NULL;
        size_t budget = ACME_BUDGET_ENTRIES_MAX;
        int r = 0;

        if (j && json_object_size(j) != 3)
                return -EBADMSG;
        b = calloc(1, sizeof(AcmeBudget));
        if (!b)
                return -ENOMEM;
        if (j)
                r = times_parse(json_object_get(j, "orders"), &b->orders, &budget);
        if (j && r >= 0)
                r = keyed_parse(json_object_get(j, "certificates"), true, &b->sets, &b->n_sets, &budget);
        if (j && r >= 0)
                r = keyed_parse(json_object_get(j, "failed_validations"), false, &b->failed, &b->n_failed,
                                &budget);
        if (r < 0)
                return r;
        *(AcmeBudget **) ret = TAKE_PTR(b);
        return 0;
}

int acme_budget_parse(const char *text, size_t size, AcmeBudget **ret) {
        return json_parse_with(text, size, budget_from_json, ret);
}

static json_t *times_json(const AcmeBudgetTimes *t, usec_t oldest) {
        json_t *a = json_array();

        for (size_t i = 0; a && i < t->n; i++)
                if (t->t[i] >= oldest &&
                    json_array_append_new(a, json_integer((json_int_t) (t->t[i] / USEC_PER_SEC))) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

char *acme_budget_format(const AcmeBudget *b, const AcmeConfig *a, usec_t now) {
        usec_t keep = 0, oldest;
        json_t *j, *sets, *failed, *o;
        char *text;

        for (AcmeLimit l = 0; l < ACME_LIMIT_SERVER; l++)
                if (acme_budget_limit(a, l).period > keep)
                        keep = acme_budget_limit(a, l).period;
        oldest = now > keep ? now - keep : 0;
        sets = json_object();
        failed = json_object();
        for (size_t i = 0; sets && i < b->n_sets; i++) {
                const AcmeBudgetTimes *t = &b->sets[i];
                json_t *times = times_json(t, oldest);

                if (!times)
                        goto oom;
                if (json_array_size(times) == 0 && t->until <= now) {
                        json_decref(times);
                        continue; /* nothing left to remember */
                }
                o = json_pack("{s:o}", "times", times);
                if (o && t->until > now)
                        json_object_set_new(o, "until",
                                            json_integer((json_int_t) (t->until / USEC_PER_SEC)));
                if (o && t->until > now && t->detail)
                        json_object_set_new(o, "detail", json_string(t->detail));
                json_object_set_new(sets, t->key, o);
        }
        for (size_t i = 0; failed && i < b->n_failed; i++) {
                json_t *times = times_json(&b->failed[i], oldest);

                if (!times)
                        goto oom;
                if (json_array_size(times) == 0)
                        json_decref(times);
                else
                        json_object_set_new(failed, b->failed[i].key, json_pack("{s:o}", "times", times));
        }
        j = sets && failed ? json_pack("{s:o, s:o, s:o}", "orders", times_json(&b->orders, oldest),
                                       "certificates", sets, "failed_validations", failed)
                           : NULL;
        text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(j);
        return text;
oom:
        json_decref(sets);
        json_decref(failed);
        return NULL;
}

static int budget_path(const Inventory *inv, const AcmeConfig *a, char **ret) {
        return asprintf(ret, "%s/acme/%s/budget.json", inv->agent.state_directory, a->name) < 0 ? -ENOMEM
                                                                                                : 0;
}

int acme_budget_load(const Inventory *inv, const AcmeConfig *a, AcmeBudget **ret) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        r = budget_path(inv, a, &path);
        if (r < 0)
                return r;
        r = json_load_state_file(path, 16 << 20, &j);
        if (r >= 0) {
                r = budget_from_json(j, ret);
                if (r != -EBADMSG)
                        return r;
        }
        if (r == -EBADMSG)
                log_warning("%s: not a budget file certherd wrote, starting from an empty budget", path);
        else
                log_warning_errno(r, "cannot read %s: %m, starting from an empty budget", path);
        return budget_from_json(NULL, ret);
}

/* ---- decisions ---- */

/* "a.example,b.example": sorted and lower-cased, so that the same set written in another order is the
 * same set (Let's Encrypt compares them so). */
static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static char *names_key(char *const *names) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0, len = 0;
        char *k;

        for (; names && names[n]; n++)
                len += strlen(names[n]) + 1;
        l = calloc(n + 1, sizeof(char *));
        if (!l)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                if (!(l[i] = strdup(names[i])))
                        return NULL;
                for (char *p = l[i]; *p; p++)
                        if (*p >= 'A' && *p <= 'Z')
                                *p = (char) (*p - 'A' + 'a');
        }
        qsort(l, n, sizeof(char *), cmp_str);
        k = calloc(len + 1, 1);
        for (size_t i = 0; k && i < n; i++) {
                if (i)
                        strcat(k, ",");
                strcat(k, l[i]);
        }
        return k;
}

static AcmeBudgetTimes *find_key(AcmeBudgetTimes *l, size_t n, const char *key) {
        for (size_t i = 0; key && i < n; i++)
                if (strcmp(l[i].key, key) == 0)
                        return &l[i];
        return NULL;
}

/* Whether one more event fits in `lim` over the times `t`; if not, *v says until when. */
static bool fits(const AcmeBudgetTimes *t, RateLimit lim, AcmeLimit l, usec_t now, AcmeBudgetVerdict *v) {
        size_t used = 0, first = 0;

        if (!t || lim.count == 0)
                return true;
        for (size_t i = 0; i < t->n; i++)
                if (t->t[i] + lim.period > now && used++ == 0)
                        first = i;
        if (used < lim.count)
                return true;
        /* The oldest counting entry that must age out for one more to fit. */
        *v = (AcmeBudgetVerdict){ .limit = l,
                                  .used = (unsigned) used,
                                  .max = lim.count,
                                  .period = lim.period,
                                  .until = t->t[first + (used - lim.count)] + lim.period };
        return false;
}

bool acme_budget_check(const AcmeBudget *b, const AcmeConfig *a, char *const *names, bool exempt, usec_t now,
                       AcmeBudgetVerdict *ret) {
        _cleanup_free_ char *key = names_key(names);
        const AcmeBudgetTimes *set = find_key(b->sets, b->n_sets, key);
        AcmeBudgetVerdict v = {};

        if (set && set->until > now) {
                *ret = (AcmeBudgetVerdict){ .limit = ACME_LIMIT_SERVER,
                                            .until = set->until,
                                            .detail = set->detail };
                return false;
        }
        if (!fits(&b->orders, acme_budget_limit(a, ACME_LIMIT_ORDERS), ACME_LIMIT_ORDERS, now, &v) ||
            (!exempt &&
             !fits(set, acme_budget_limit(a, ACME_LIMIT_DUPLICATES), ACME_LIMIT_DUPLICATES, now, &v))) {
                *ret = v;
                return false;
        }
        for (size_t i = 0; names && names[i]; i++)
                if (!fits(find_key(b->failed, b->n_failed, names[i]),
                          acme_budget_limit(a, ACME_LIMIT_FAILED_VALIDATIONS), ACME_LIMIT_FAILED_VALIDATIONS,
                          now, &v)) {
                        *ret = v;
                        return false;
                }
        return true;
}

char *acme_budget_verdict_format(const AcmeBudgetVerdict *v, char *buf, size_t size) {
        static const char *const what[] = {
                [ACME_LIMIT_ORDERS] = "new orders",
                [ACME_LIMIT_DUPLICATES] = "certificates for these names",
                [ACME_LIMIT_FAILED_VALIDATIONS] = "failed validations of a name",
        };
        static const char *const key[] = {
                [ACME_LIMIT_ORDERS] = "max-orders",
                [ACME_LIMIT_DUPLICATES] = "max-duplicates",
                [ACME_LIMIT_FAILED_VALIDATIONS] = "max-failed-validations",
        };
        char until[32], period[32];

        format_timestamp_iso(until, sizeof(until), v->until);
        if (v->limit == ACME_LIMIT_SERVER)
                snprintf(buf, size, "the server refused an order (rateLimited: %s); next order from %s",
                         v->detail ?: "no detail", until);
        else {
                /* The period as given: a whole number of its largest unit. */
                usec_t p = v->period;
                snprintf(period, sizeof(period), "%llu%s",
                         (unsigned long long) (p % USEC_PER_DAY == 0      ? p / USEC_PER_DAY
                                               : p % USEC_PER_HOUR == 0   ? p / USEC_PER_HOUR
                                               : p % USEC_PER_MINUTE == 0 ? p / USEC_PER_MINUTE
                                                                          : p / USEC_PER_SEC),
                         p % USEC_PER_DAY == 0      ? "d"
                         : p % USEC_PER_HOUR == 0   ? "h"
                         : p % USEC_PER_MINUTE == 0 ? "m"
                                                    : "s");
                snprintf(buf, size, "%u of %u %s in %s used (%s); frees up at %s", v->used, v->max,
                         what[v->limit], period, key[v->limit], until);
        }
        return buf;
}

static long left(const AcmeBudgetTimes *t, RateLimit lim, usec_t now) {
        long used = 0;

        for (size_t i = 0; t && i < t->n; i++)
                if (t->t[i] + lim.period > now)
                        used++;
        return used >= (long) lim.count ? 0 : (long) lim.count - used;
}

long acme_budget_remaining(const AcmeBudget *b, const AcmeConfig *a, AcmeLimit l, usec_t now) {
        RateLimit lim = acme_budget_limit(a, l);
        long least;

        if (lim.count == 0)
                return -1;
        if (l == ACME_LIMIT_ORDERS)
                return left(&b->orders, lim, now);
        least = lim.count;
        for (size_t i = 0; l == ACME_LIMIT_DUPLICATES && i < b->n_sets; i++)
                if (left(&b->sets[i], lim, now) < least)
                        least = left(&b->sets[i], lim, now);
        for (size_t i = 0; l == ACME_LIMIT_FAILED_VALIDATIONS && i < b->n_failed; i++)
                if (left(&b->failed[i], lim, now) < least)
                        least = left(&b->failed[i], lim, now);
        return least;
}

/* ---- effects ---- */

/* One lock for the budget files of the process: renewals of one server run on several threads, and a
 * load-change-save must not lose another's change. (Another process is kept out by the state lock.) */
static pthread_mutex_t budget_lock = PTHREAD_MUTEX_INITIALIZER;

static int times_add(AcmeBudgetTimes *t, usec_t now) {
        usec_t *n = realloc(t->t, (t->n + 1) * sizeof(usec_t));

        if (!n)
                return -ENOMEM;
        t->t = n;
        t->t[t->n++] = now;
        return 0;
}

/* The entry of `key` in *l, added when missing. */
static AcmeBudgetTimes *keyed_get(AcmeBudgetTimes **l, size_t *n, const char *key) {
        AcmeBudgetTimes *t = find_key(*l, *n, key), *m;

        if (t || !key)
                return t;
        m = realloc(*l, (*n + 1) * sizeof(AcmeBudgetTimes));
        if (!m)
                return NULL;
        *l = m;
        m[*n] = (AcmeBudgetTimes){ .key = strdup(key) };
        if (!m[*n].key)
                return NULL;
        return &m[(*n)++];
}

/* Replace `path` by `text` through a temporary file and rename(), without fsync: a budget is advisory,
 * and a file torn by a power cut reads as an empty budget (with a warning), while two fsyncs per order
 * and per certificate would sit on the path of every issuance. */
static int write_replace(const char *path, const char *text) {
        _cleanup_free_ char *tmp = NULL;
        size_t n = strlen(text);
        ssize_t k;
        int fd, r = 0;

        if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        for (size_t off = 0; r == 0 && off < n; off += (size_t) k) {
                k = write(fd, text + off, n - off);
                if (k < 0 && errno != EINTR)
                        r = -errno;
                else if (k < 0)
                        k = 0;
        }
        if (r == 0 && fchmod(fd, 0600) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

static int budget_save(const Inventory *inv, const AcmeConfig *a, const AcmeBudget *b, usec_t now) {
        _cleanup_free_ char *path = NULL, *text = acme_budget_format(b, a, now);
        int r;

        if (!text)
                return -ENOMEM;
        r = budget_path(inv, a, &path);
        if (r >= 0)
                r = mkdir_parents(path, 0700);
        if (r >= 0)
                r = write_replace(path, text);
        if (r < 0)
                log_warning_errno(r, "[acme \"%s\"] cannot save the rate-limit budget in %s: %m, ignoring",
                                  a->name, path);
        return r;
}

typedef enum BudgetEvent {
        EVENT_ORDER,
        EVENT_CERTIFICATE,
        EVENT_FAILED_VALIDATION,
        EVENT_RATE_LIMITED,
} BudgetEvent;

typedef struct BudgetChange {
        BudgetEvent event;
        char *const *names;
        const char *identifier;
        bool exempt;
        usec_t until;
        const char *detail;
} BudgetChange;

/* A copy with control characters as spaces (what the server sent may hold any). */
static char *clean_dup(const char *s) {
        char *d = s ? strdup(s) : NULL;

        for (char *p = d; p && *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        *p = ' ';
        return d;
}

static int budget_apply(AcmeBudget *b, const BudgetChange *c, usec_t now) {
        _cleanup_free_ char *key = c->names ? names_key(c->names) : NULL, *ident = clean_dup(c->identifier);
        AcmeBudgetTimes *t;

        if ((c->names && !key) || (c->identifier && !ident))
                return -ENOMEM;
        switch (c->event) {
        case EVENT_ORDER:
                return times_add(&b->orders, now);
        case EVENT_CERTIFICATE:
                t = keyed_get(&b->sets, &b->n_sets, key);
                return t ? times_add(t, now) : -ENOMEM;
        case EVENT_FAILED_VALIDATION:
                t = keyed_get(&b->failed, &b->n_failed, ident);
                return t ? times_add(t, now) : -ENOMEM;
        case EVENT_RATE_LIMITED:
                t = keyed_get(&b->sets, &b->n_sets, key);
                if (!t)
                        return -ENOMEM;
                t->until = c->until;
                free(t->detail);
                t->detail = clean_dup(c->detail);
                return 0;
        }
        return -EINVAL;
}

/* Load, (for an order: check), apply, save, under the lock. 1: applied; 0: the order does not fit. */
static int budget_change(const Inventory *inv, const AcmeConfig *a, const BudgetChange *c, usec_t now,
                         AcmeBudgetVerdict *ret) {
        _cleanup_(acme_budget_freep) AcmeBudget *b = NULL;
        int r;

        pthread_mutex_lock(&budget_lock);
        r = acme_budget_load(inv, a, &b);
        if (r >= 0 && c->event == EVENT_ORDER && !acme_budget_check(b, a, c->names, c->exempt, now, ret))
                r = 0;
        else if (r >= 0 && (r = budget_apply(b, c, now)) >= 0) {
                (void) budget_save(inv, a, b, now); /* a budget not saved costs a warning, not the order */
                r = 1;
        }
        pthread_mutex_unlock(&budget_lock);
        return r;
}

int acme_budget_take_order(const Inventory *inv, const AcmeConfig *a, char *const *names, bool exempt,
                           usec_t now, AcmeBudgetVerdict *ret) {
        return budget_change(
                inv, a, &(BudgetChange){ .event = EVENT_ORDER, .names = names, .exempt = exempt }, now, ret);
}

int acme_budget_note_certificate(const Inventory *inv, const AcmeConfig *a, char *const *names, usec_t now) {
        return budget_change(inv, a, &(BudgetChange){ .event = EVENT_CERTIFICATE, .names = names }, now,
                             NULL);
}

int acme_budget_note_failed_validation(const Inventory *inv, const AcmeConfig *a, const char *identifier,
                                       usec_t now) {
        return budget_change(inv, a,
                             &(BudgetChange){ .event = EVENT_FAILED_VALIDATION, .identifier = identifier },
                             now, NULL);
}

int acme_budget_note_rate_limited(const Inventory *inv, const AcmeConfig *a, char *const *names,
                                  usec_t until, const char *detail) {
        return budget_change(
                inv, a,
                &(BudgetChange){
                        .event = EVENT_RATE_LIMITED, .names = names, .until = until, .detail = detail },
                now_realtime(), NULL);
}
