/* SPDX-License-Identifier: GPL-3.0-or-later */
/* One certificate through an ACME order (RFC 8555 §7.4): newOrder (with ARI `replaces`), the
 * authorizations and their challenges (§7.5), finalize with our CSR, polling that honours Retry-After
 * or backs off (never a busy loop) within one deadline per order, the certificate with its chain and the
 * alternates of §7.4.2. The order URL is persisted as soon as it exists, so a run that dies resumes the
 * same order instead of starting over. What the server names is checked before use: identifiers against
 * the names ordered (acme_authz_identifier_check), URLs against the directory's origin (acme-http.c). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "acme-budget.h"
#include "acme.h"
#include "dns-persist.h"
#include "gnutls-util.h"
#include "jws.h"
#include "keygen.h"
#include "log.h"
#include "x509.h"

#define ORDER_STATE_MAX (1024U * 1024U)

typedef struct Poll {
        AcmeSession *s;
        usec_t deadline; /* of the whole order */
        usec_t next;
} Poll;

/* For tests: CERTHERD_TEST_ORDER_DEADLINE=SECONDS shortens ACME_ORDER_DEADLINE (a test cannot wait
 * five minutes for a server that keeps an order pending). */
static usec_t order_deadline(void) {
        const char *e = getenv("CERTHERD_TEST_ORDER_DEADLINE");
        char *end;
        unsigned long v;

        if (e && *e) {
                v = strtoul(e, &end, 10);
                if (!*end && v > 0 && v < 3600)
                        return (usec_t) v * USEC_PER_SEC;
        }
        return ACME_ORDER_DEADLINE;
}

static Poll poll_start(AcmeSession *s) {
        return (Poll){ .s = s, .deadline = now_monotonic() + order_deadline(), .next = 0 };
}

/* Wait before asking again: the server's Retry-After (within [ACME_POLL_WAIT_MIN, ACME_POLL_WAIT_MAX]), or
 * nothing the first time, then a doubling step. Returns 0, -ETIMEDOUT once the order's deadline would
 * pass (not waited for), -ECANCELED. */
static int poll_wait(Poll *p, const AcmeResponse *resp) {
        usec_t wait = p->next;

        if (resp->has_retry_after)
                wait = resp->retry_after < ACME_POLL_WAIT_MIN   ? ACME_POLL_WAIT_MIN
                       : resp->retry_after > ACME_POLL_WAIT_MAX ? ACME_POLL_WAIT_MAX
                                                                : resp->retry_after;
        p->next = p->next == 0                       ? ACME_POLL_STEP
                  : p->next * 2 < ACME_POLL_WAIT_MAX ? p->next * 2
                                                     : ACME_POLL_WAIT_MAX;
        if (now_monotonic() + wait > p->deadline)
                return -ETIMEDOUT;
        return acme_http_wait(acme_session_http(p->s), wait);
}

/* Log why an order stops waiting and return r. */
static int poll_failed(AcmeSession *s, const CertConfig *c, int r, const char *url, const char *status) {
        if (r == -ECANCELED)
                return log_error_errno(
                        r, "[acme \"%s\"] %s: cancelled while order %s is %s (kept, resumed next time)",
                        acme_session_config(s)->name, c->name, url, status);
        return log_error_errno(
                r,
                "[acme \"%s\"] %s: %s is still %s after %llu s, giving up for now (kept, resumed "
                "next time)",
                acme_session_config(s)->name, c->name, url, status,
                (unsigned long long) (order_deadline() / USEC_PER_SEC));
}

static bool is_ip(const char *s) {
        uint8_t buf[16];

        return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static bool status_is(const char *status, const char *want) {
        return status && strcmp(status, want) == 0;
}

/* How far along an order is (§7.1.6); anything else (invalid, unknown) ends the loop anyway. */
static int status_rank(const char *status) {
        static const char *const order[] = { "pending", "ready", "processing", "valid" };

        for (size_t i = 0; i < ELEMENTSOF(order); i++)
                if (status_is(status, order[i]))
                        return (int) i;
        return -1;
}

/* POST-as-GET an order and parse it. */
static int fetch_order(AcmeSession *s, const char *url, AcmeOrder *o, AcmeResponse *resp) {
        int r;

        r = acme_post(s, url, NULL, 0, resp);
        if (r < 0)
                return r;
        acme_order_done(o);
        return acme_parse_order(resp->json, o) < 0 ? -EBADMSG : 0;
}

/* fetch_order for an order we work on: a 404 means the server forgot it (-ESTALE: order again), other
 * failures are logged. */
static int refresh(AcmeSession *s, const char *url, AcmeOrder *o, AcmeResponse *resp) {
        int r = fetch_order(s, url, o, resp);

        if (r == -ENOENT)
                return -ESTALE;
        if (r < 0)
                return acme_log_failure(s, r, resp, url, "cannot fetch the order");
        return 0;
}

/* draft-ietf-acme-profiles §3: a profile the directory does not list is refused here, naming the ones
 * it offers, rather than spending an order on it (-EINVAL). */
static int profile_check(AcmeSession *s, const CertConfig *c, const char *profile) {
        const AcmeDirectory *d = acme_session_directory(s);
        _cleanup_free_ char *offered = NULL;
        size_t n = 1;

        if (!profile || acme_directory_has_profile(d, profile))
                return 0;
        if (!d->profiles || !d->profiles[0])
                return log_error_errno(-EINVAL,
                                       "[acme \"%s\"] %s: profile '%s' asked for, but the server %s offers "
                                       "no profiles (no meta.profiles in its directory)",
                                       acme_session_config(s)->name, c->name, profile,
                                       acme_session_config(s)->directory);
        for (char **p = d->profiles; *p; p++)
                n += strlen(*p) + 2;
        offered = calloc(n, 1);
        if (!offered)
                return -ENOMEM;
        for (char **p = d->profiles; *p; p++) {
                if (p != d->profiles)
                        strcat(offered, ", ");
                strcat(offered, *p);
        }
        return log_error_errno(
                -EINVAL, "[acme \"%s\"] %s: the server %s offers no profile '%s'; it offers: %s",
                acme_session_config(s)->name, c->name, acme_session_config(s)->directory, profile, offered);
}

/* The server refused the order for a rate limit (urn:ietf:params:acme:error:rateLimited): no order for
 * these names until its Retry-After (an hour without one), remembered in the budget so that the planner
 * defers the set until then. Returns -EDQUOT. */
static int rate_limited(AcmeSession *s, const CertConfig *c, const AcmeResponse *resp) {
        usec_t until = now_realtime() + (resp->has_retry_after ? resp->retry_after : USEC_PER_HOUR);
        char when[32];

        (void) acme_budget_note_rate_limited(acme_session_inventory(s), acme_session_config(s), c->names,
                                             until, resp->problem.detail);
        return log_error_errno(
                -EDQUOT,
                "[acme \"%s\"] %s: rate-limited: the server refused the order (rateLimited: %s); "
                "next order from %s",
                acme_session_config(s)->name, c->name, resp->problem.detail ?: "no detail",
                format_timestamp_iso(when, sizeof(when), until));
}

/* A new order must fit the budgets of acme-budget.h; it is counted as it is sent. Returns 0, or -EDQUOT
 * (logged) when it would exceed one. */
static int budget_order(AcmeSession *s, const CertConfig *c, const char *replaces) {
        char why[ACME_BUDGET_VERDICT_MAX];
        AcmeBudgetVerdict v;
        int r;

        r = acme_budget_take_order(acme_session_inventory(s), acme_session_config(s), c->names,
                                   replaces != NULL, now_realtime(), &v);
        if (r < 0)
                return log_error_errno(r, "[acme \"%s\"] %s: cannot read the rate-limit budget: %m",
                                       acme_session_config(s)->name, c->name);
        if (r > 0)
                return 0;
        return log_error_errno(-EDQUOT, "[acme \"%s\"] %s: rate-limited: %s", acme_session_config(s)->name,
                               c->name, acme_budget_verdict_format(&v, why, sizeof(why)));
}

static int new_order(AcmeSession *s, const CertConfig *c, const char *replaces, char **ret_url,
                     AcmeOrder *o) {
        const char *profile = cert_profile(acme_session_inventory(s), c);
        _cleanup_free_ char *payload = NULL;
        AcmeResponse resp = {};
        json_t *ids, *p;
        int r;

        r = profile_check(s, c, profile);
        if (r < 0)
                return r;
        ids = json_array();
        for (char **n = c->names; ids && n && *n; n++)
                json_array_append_new(
                        ids, json_pack("{s:s, s:s}", "type", is_ip(*n) ? "ip" : "dns", "value", *n));
        p = ids ? json_pack("{s:o}", "identifiers", ids) : NULL;
        if (p && replaces)
                json_object_set_new(p, "replaces", json_string(replaces));
        if (p && profile)
                json_object_set_new(p, "profile", json_string(profile));
        payload = p ? json_dumps(p, JSON_COMPACT) : NULL;
        json_decref(p);
        if (!payload)
                return -ENOMEM;

        r = acme_post(s, acme_session_directory(s)->new_order, payload, 0, &resp);
        if (r < 0 && replaces && resp.status >= 400 && resp.status < 500 &&
            !acme_problem_is(&resp.problem, "rateLimited")) {
                /* The server would not take `replaces` (already replaced, unknown): order without it. */
                log_notice("[acme \"%s\"] %s: the server refused replaces=%s (%s), ordering without it", acme_session_config(s)->name,
                           c->name, replaces, resp.problem.detail ?: resp.problem.type ?: "no detail");
                acme_response_done(&resp);
                return new_order(s, c, NULL, ret_url, o);
        }
        if (r >= 0 && (!resp.location || acme_parse_order(resp.json, o) < 0))
                r = -EPROTO;
        if (r < 0 && acme_problem_is(&resp.problem, "rateLimited")) {
                /* The problem verbatim first, then the deferral (the error the set records). */
                (void) acme_log_failure(s, r, &resp, acme_session_directory(s)->new_order,
                                        "newOrder failed");
                r = rate_limited(s, c, &resp);
                acme_response_done(&resp);
                return r;
        }
        if (r < 0) {
                r = acme_log_failure(s, r, &resp, acme_session_directory(s)->new_order, "newOrder failed");
                if (profile && acme_problem_is(&resp.problem, "unauthorized"))
                        /* The profile exists, this account may not use it (draft-ietf-acme-profiles §3): said
                         * last, so that it is the error recorded for the set. */
                        r = log_error_errno(
                                r,
                                "[acme \"%s\"] %s: profile '%s' is not authorized for this account "
                                "(urn:ietf:params:acme:error:unauthorized): %s",
                                acme_session_config(s)->name, c->name, profile,
                                resp.problem.detail ?: "no detail");
                acme_response_done(&resp);
                return r;
        }
        *ret_url = TAKE_PTR(resp.location);
        acme_response_done(&resp);
        return 0;
}

typedef struct Pending {
        char *url; /* of the authorization */
        AcmeAuthz authz;
        char *key_authorization;
        bool deployed;
        unsigned retries; /* of a challenge the server keeps pending with an error */
} Pending;

static int fetch_authz(AcmeSession *s, Pending *p, AcmeResponse *resp) {
        const char *type = challenge_type_to_string(acme_session_config(s)->challenge);
        int r;

        r = acme_post(s, p->url, NULL, 0, resp);
        if (r == -ENOENT)
                return -ESTALE; /* the server forgot the order */
        if (r < 0)
                return acme_log_failure(s, r, resp, p->url, "cannot fetch the authorization");
        acme_authz_done(&p->authz);
        r = acme_parse_authz(resp->json, type, &p->authz);
        if (r < 0)
                return log_error_errno(r, "[acme \"%s\"] %s: not an authorization",
                                       acme_session_config(s)->name, p->url);
        return 0;
}

static int authz_failed(AcmeSession *s, const CertConfig *c, const Pending *p) {
        const AcmeProblem *e = &p->authz.challenge_error;

        if (e->type || status_is(p->authz.status, "invalid"))
                (void) acme_budget_note_failed_validation(acme_session_inventory(s), acme_session_config(s),
                                                          p->authz.identifier, now_realtime());
        if (e->type)
                return log_error_errno(-EPROTO, "[acme \"%s\"] %s: %s validation of %s failed: %s: %s%s%s",
                                       acme_session_config(s)->name, c->name,
                                       challenge_type_to_string(acme_session_config(s)->challenge),
                                       p->authz.identifier, e->type, e->detail ?: "",
                                       e->subproblems ? " — " : "", e->subproblems ?: "");
        return log_error_errno(-EPROTO, "[acme \"%s\"] %s: authorization of %s is %s",
                               acme_session_config(s)->name, c->name, p->authz.identifier, p->authz.status);
}

/* A validation that failed while the server keeps the challenge "pending" (step-ca does so for errors it
 * deems passing, such as a refused connection or a missing TXT record): say why at once, and answer the
 * challenge again (RFC 8555 §8.2) after a growing wait, a few times, rather than poll a challenge nobody
 * validates any more until the order's deadline. Then fail with the server's error. Returns 0 at once for
 * a challenge without an error. */
static int challenge_retry(AcmeSession *s, const CertConfig *c, Pending *p, const Poll *pl,
                           AcmeResponse *resp) {
        const AcmeProblem *e = &p->authz.challenge_error;
        const char *name = acme_session_config(s)->name;
        usec_t wait = ACME_CHALLENGE_RETRY_FIRST << p->retries;
        int r;

        if (!e->type || !status_is(p->authz.challenge_status, "pending"))
                return 0;
        if (p->retries >= ACME_CHALLENGE_RETRIES || now_monotonic() + wait > pl->deadline)
                return authz_failed(s, c, p);
        p->retries++;
        log_warning(
                "[acme \"%s\"] %s: %s validation of %s failed: %s: %s%s%s; answering the challenge again in "
                "%.0f s (%u of %u)",
                name, c->name, challenge_type_to_string(acme_session_config(s)->challenge),
                p->authz.identifier, e->type, e->detail ?: "", e->subproblems ? " — " : "",
                e->subproblems ?: "", (double) wait / USEC_PER_SEC, p->retries, ACME_CHALLENGE_RETRIES);
        r = acme_http_wait(acme_session_http(s), wait);
        if (r < 0)
                return log_error_errno(r, "[acme \"%s\"] %s: cancelled while validating %s", name, c->name,
                                       p->authz.identifier);
        r = acme_post(s, p->authz.challenge_url, "{}", 0, resp);
        if (r == -ENOENT)
                return -ESTALE; /* the server forgot the order */
        if (r < 0)
                return acme_log_failure(s, r, resp, p->authz.challenge_url, "cannot answer the challenge");
        return 0;
}

/* Whether the authorization is for a name of c at all (§7.1.4 gives the server the identifier; it
 * reaches hooks, files and certificates): refuse it, with what it was, before anything uses it. */
static int authz_check(AcmeSession *s, const CertConfig *c, const Pending *p) {
        _cleanup_free_ char *shown = NULL;
        int r = acme_authz_identifier_check(&p->authz, c->names);
        size_t n;

        if (r >= 0 || r == -ENOMEM)
                return r;
        /* The identifier as JSON (escaped): it may hold newlines or terminal escapes. */
        shown = json_dumps(json_string(p->authz.identifier) ?: json_null(), JSON_ENCODE_ANY);
        n = shown ? strlen(shown) : 0;
        if (r == -EPERM)
                return log_error_errno(
                        -EBADMSG,
                        "[acme \"%s\"] %s: the server sent authorization %s for %s%.*s, which was not "
                        "ordered: refused",
                        acme_session_config(s)->name, c->name, p->url, p->authz.wildcard ? "*." : "",
                        n > 200 ? 200 : (int) n, shown ?: "?");
        return log_error_errno(
                -EBADMSG,
                "[acme \"%s\"] %s: the server sent authorization %s for identifier %.*s (type %s), "
                "which is no DNS name or IP address: refused",
                acme_session_config(s)->name, c->name, p->url, n > 200 ? 200 : (int) n, shown ?: "?",
                p->authz.identifier_type ?: "?");
}

/* dns-persist-01 (draft-ietf-acme-dns-persist): answer the challenge only once _validation-persist.NAME
 * names one of the CA's issuer domains (those of the challenge, or [acme] persist-issuer among them) and
 * this account, as far as the system resolver sees it — a failed validation counts against the account
 * at the CA, a missing record is better said here with the record to publish. A resolver that does not
 * answer at all is no reason to stop: the CA looks for itself. */
static int persist_ready(AcmeSession *s, const CertConfig *c, const AcmeAuthz *a) {
        const AcmeConfig *cfg = acme_session_config(s);
        _cleanup_free_ char *account = NULL, *owner = NULL, *want = NULL;
        _cleanup_strv_free_ char **values = NULL;
        char *only[2] = { cfg->persist_issuer, NULL };
        char *const *issuers = a->issuer_domain_names;
        const char *issuer = NULL;
        PersistMatch m;
        int r;

        if (cfg->persist_issuer) {
                bool offered = false;

                for (char *const *i = issuers; i && *i; i++)
                        offered = offered || strcasecmp(*i, cfg->persist_issuer) == 0;
                if (!offered)
                        return log_error_errno(-EINVAL,
                                               "[acme \"%s\"] %s: persist-issuer = %s, but the CA's "
                                               "dns-persist-01 challenge for %s names issuer domain %s",
                                               cfg->name, c->name, cfg->persist_issuer, a->identifier,
                                               issuers && issuers[0] ? issuers[0] : "?");
                issuers = only;
        }
        /* Remembered for `certherd acme persist-record` and `check`. */
        (void) acme_session_write_state(s, "persist-issuer", issuers[0]);
        account = acme_session_account_dup(s);
        if (!account)
                return -ENOMEM;
        if ((r = persist_record_name(a->identifier, &owner)) < 0 ||
            (r = persist_record_value(issuers[0], account, a->wildcard, &want)) < 0)
                return r;
        r = persist_lookup(owner, &values);
        if (r < 0) {
                log_warning_errno(r,
                                  "[acme \"%s\"] %s: cannot look up the TXT record %s (%m); answering the "
                                  "dns-persist-01 challenge anyway",
                                  cfg->name, c->name, owner);
                return 0;
        }
        m = persist_match(values, issuers, account, &issuer);
        if (m == PERSIST_OK)
                return 0;
        return log_error_errno(-ENOENT,
                               "[acme \"%s\"] %s: dns-persist-01: %s; publish %s. IN TXT \"%s\" "
                               "(certherd acme persist-record %s)",
                               cfg->name, c->name,
                               m == PERSIST_MISSING ? "no TXT record for this CA at the validation name"
                                                    : "the TXT record names another ACME account",
                               owner, want, c->name);
}

/* §7.5: every pending authorization of the order, its challenges published all at once, then answered,
 * then polled (within the order's deadline, pl). */
/* One authorization of the order: fetched, checked, and its response published (or, for dns-persist-01,
 * the standing record checked). Valid already: nothing to do. */
static int prepare_authz(AcmeSession *s, const CertConfig *c, Pending *p, Challenger **ch,
                         AcmeResponse *resp) {
        const AcmeConfig *cfg = acme_session_config(s);
        int r;

        r = fetch_authz(s, p, resp);
        if (r >= 0)
                r = authz_check(s, c, p);
        if (r < 0 || status_is(p->authz.status, "valid"))
                return r;
        if (!status_is(p->authz.status, "pending"))
                return authz_failed(s, c, p);
        if (!p->authz.challenge_url)
                return log_error_errno(-EOPNOTSUPP,
                                       "[acme \"%s\"] %s: the server offers no %s challenge for %s%s",
                                       cfg->name, c->name, challenge_type_to_string(cfg->challenge),
                                       p->authz.wildcard ? "*." : "", p->authz.identifier);
        if (cfg->challenge == CHALLENGE_DNS_PERSIST_01) {
                /* Nothing to publish per order: the standing record answers, once it is there. */
                r = persist_ready(s, c, &p->authz);
                p->deployed = r >= 0;
                return r;
        }
        r = acme_session_key_authorization(s, p->authz.token, &p->key_authorization);
        if (r < 0)
                return r;
        if (!*ch && (r = acme_session_challenger(s, ch)) < 0)
                return r;
        /* A challenge already "processing" (we answered before a restart) may still be fetched by the server:
         * publish it again too. */
        r = challenge_add(*ch, p->authz.identifier, p->authz.token, p->key_authorization);
        p->deployed = r >= 0;
        return r;
}

static int authorize(AcmeSession *s, const CertConfig *c, const AcmeOrder *o, Poll *pl) {
        size_t n = strv_length(o->authorizations);
        _cleanup_free_ Pending *p = NULL;
        AcmeResponse resp = {};
        Challenger *ch = NULL;
        int r = 0;

        p = new0(Pending, n);
        if (!p)
                return -ENOMEM;
        for (size_t i = 0; i < n && r >= 0; i++) {
                p[i].url = o->authorizations[i];
                r = prepare_authz(s, c, &p[i], &ch, &resp);
        }

        /* §7.5.1: tell the server each response is ready. */
        for (size_t i = 0; i < n && r >= 0; i++)
                if (p[i].deployed && status_is(p[i].authz.challenge_status, "pending")) {
                        r = acme_post(s, p[i].authz.challenge_url, "{}", 0, &resp);
                        if (r == -ENOENT)
                                r = -ESTALE; /* the server forgot the order */
                        else if (r < 0)
                                acme_log_failure(s, r, &resp, p[i].authz.challenge_url,
                                                 "cannot answer the challenge");
                }

        for (size_t i = 0; i < n && r >= 0; i++) {
                if (!p[i].deployed)
                        continue;
                while (r >= 0 && status_is(p[i].authz.status, "pending")) {
                        r = challenge_retry(s, c, &p[i], pl, &resp);
                        if (r >= 0 && (r = poll_wait(pl, &resp)) < 0)
                                r = poll_failed(s, c, r, p[i].url, "pending");
                        else if (r >= 0 && (r = fetch_authz(s, &p[i], &resp)) >= 0)
                                r = authz_check(s, c, &p[i]);
                }
                if (r >= 0 && !status_is(p[i].authz.status, "valid"))
                        r = authz_failed(s, c, &p[i]);
        }

        for (size_t i = 0; i < n; i++) {
                if (p[i].deployed && ch)
                        challenge_remove(ch, p[i].authz.identifier, p[i].authz.token,
                                         p[i].key_authorization);
                acme_authz_done(&p[i].authz);
                free(p[i].key_authorization);
        }
        acme_response_done(&resp);
        return r;
}

static int finalize(AcmeSession *s, const CertConfig *c, gnutls_privkey_t key, AcmeOrder *o) {
        _cleanup_datum_ gnutls_datum_t csr = {};
        _cleanup_free_ char *b64 = NULL, *payload = NULL;
        AcmeResponse resp = {};
        int r;

        r = keygen_csr_privkey(key, c->names, &csr);
        if (r < 0)
                return log_error_errno(r, "[acme \"%s\"] %s: cannot make the CSR: %m",
                                       acme_session_config(s)->name, c->name);
        r = jws_base64url_encode(csr.data, csr.size, &b64);
        if (r < 0)
                return r;
        if (asprintf(&payload, "{\"csr\":\"%s\"}", b64) < 0)
                return -ENOMEM;
        r = acme_post(s, o->finalize, payload, 0, &resp);
        if (r >= 0) {
                acme_order_done(o);
                if (acme_parse_order(resp.json, o) < 0)
                        r = -EPROTO;
        }
        if (r < 0)
                acme_log_failure(s, r, &resp, o->finalize, "finalize failed");
        acme_response_done(&resp);
        return r;
}

/* The common name of the issuer of the last certificate in a chain: the root it chains to. */
static int chain_top_issuer(const AcmeResponse *resp, char *buf, size_t size) {
        gnutls_x509_crt_t *crts = NULL;
        unsigned n = 0;
        int r;

        r = x509_load_crts((const uint8_t *) resp->body, resp->size, &crts, &n);
        if (r < 0)
                return r;
        r = gnutls_x509_crt_get_issuer_dn_by_oid(crts[n - 1], GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &size);
        x509_crts_free(crts, n);
        return r < 0 ? -ENODATA : 0;
}

static int download(AcmeSession *s, const CertConfig *c, const char *url, AcmeResponse *resp) {
        int r = acme_post(s, url, NULL, ACME_POST_PEM, resp);

        if (r < 0)
                return acme_log_failure(s, r, resp, url, "cannot download the certificate");
        if (resp->size == 0 || !strstr(resp->body, "-----BEGIN CERTIFICATE-----"))
                return log_error_errno(-EBADMSG, "[acme \"%s\"] %s: %s is not a PEM certificate chain",
                                       acme_session_config(s)->name, c->name, url);
        return 0;
}

/* §7.4.2: the default chain, or the first alternate whose root has the preferred-chain name. */
static int download_chain(AcmeSession *s, const CertConfig *c, const char *url, gnutls_datum_t *ret) {
        _cleanup_strv_free_ char **alternates = NULL;
        AcmeResponse resp = {}, alt = {};
        AcmeResponse *pick = &resp;
        char cn[256];
        int r;

        r = download(s, c, url, &resp);
        if (r >= 0 && acme_session_config(s)->preferred_chain &&
            !(chain_top_issuer(&resp, cn, sizeof(cn)) >= 0 &&
              strcmp(cn, acme_session_config(s)->preferred_chain) == 0)) {
                for (char **l = resp.links; l && *l; l++)
                        if (acme_parse_link(*l, "alternate", &alternates) < 0) {
                                r = -ENOMEM;
                                break;
                        }
                pick = NULL;
                for (char **a = alternates; r >= 0 && a && *a && !pick; a++) {
                        if (download(s, c, *a, &alt) < 0)
                                continue;
                        if (chain_top_issuer(&alt, cn, sizeof(cn)) >= 0 &&
                            strcmp(cn, acme_session_config(s)->preferred_chain) == 0)
                                pick = &alt;
                }
                if (!pick) {
                        log_notice(
                                "[acme \"%s\"] %s: no chain up to \"%s\" among %zu alternates, using the default one",
                                acme_session_config(s)->name, c->name,
                                acme_session_config(s)->preferred_chain, strv_length(alternates));
                        pick = &resp;
                } else
                        log_info("[acme \"%s\"] %s: using the alternate chain up to \"%s\"",
                                 acme_session_config(s)->name, c->name, cn);
        }
        if (r >= 0) {
                ret->data = gnutls_malloc(pick->size + 1);
                if (!ret->data)
                        r = -ENOMEM;
                else {
                        memcpy(ret->data, pick->body, pick->size + 1);
                        ret->size = (unsigned) pick->size;
                }
        }
        acme_response_done(&alt);
        acme_response_done(&resp);
        return r;
}

/* Whether the leaf of a chain is for `key` (a resumed order may have been finalized with another). */
static bool chain_matches_key(const gnutls_datum_t *pem, gnutls_privkey_t key) {
        _cleanup_pubkey_ gnutls_pubkey_t pub = NULL;
        gnutls_x509_crt_t *crts = NULL;
        uint8_t a[64], b[64];
        size_t na = sizeof(a), nb = sizeof(b);
        unsigned n = 0;
        bool ok;

        if (gnutls_pubkey_init(&pub) < 0 || gnutls_pubkey_import_privkey(pub, key, 0, 0) < 0)
                return false;
        if (x509_load_crts(pem->data, pem->size, &crts, &n) < 0)
                return false;
        ok = gnutls_x509_crt_get_key_id(crts[0], GNUTLS_KEYID_USE_SHA256, a, &na) >= 0 &&
             gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA256, b, &nb) >= 0 && na == nb &&
             memcmp(a, b, na) == 0;
        x509_crts_free(crts, n);
        return ok;
}

/* ---- the order in flight: STATE/acme/NAME/orders/CERT.json ---- */

static int order_rel(const char *cert, char **ret) {
        return asprintf(ret, "orders/%s.json", cert) < 0 ? -ENOMEM : 0;
}

static int order_state_load(AcmeSession *s, const char *cert, char **ret_url, char ***ret_names) {
        _cleanup_free_ char *rel = NULL, *url = NULL, *data = NULL, *kid = NULL;
        _cleanup_strv_free_ char **names = NULL;
        const char *account, *u;
        json_t *j, *v, *a;
        size_t size, i;
        int r;

        if ((r = order_rel(cert, &rel)) < 0)
                return r;
        r = acme_session_read_state(s, rel, ORDER_STATE_MAX, &data, &size);
        if (r < 0)
                return r;
        j = json_loadb(data, size, 0, NULL);
        account = json_string_value(json_object_get(j, "account"));
        u = json_string_value(json_object_get(j, "order"));
        a = json_object_get(j, "names");
        kid = acme_session_account_dup(s);
        /* An order belongs to the account (and so the server) that made it. */
        r = account && u && kid && strcmp(account, kid) == 0 && json_is_array(a) ? 0 : -ESTALE;
        if (r >= 0 && !(url = strdup(u)))
                r = -ENOMEM;
        if (r >= 0 && !(names = calloc(json_array_size(a) + 1, sizeof(char *))))
                r = -ENOMEM;
        json_array_foreach (a, i, v) {
                if (r < 0)
                        break;
                if (!json_is_string(v))
                        r = -ESTALE; /* not ours: start over */
                else if (!(names[i] = strdup(json_string_value(v))))
                        r = -ENOMEM;
        }
        json_decref(j);
        if (r < 0)
                return r;
        *ret_url = TAKE_PTR(url);
        *ret_names = TAKE_PTR(names);
        return 0;
}

static int order_state_save(AcmeSession *s, const char *cert, const char *url, char *const *names) {
        _cleanup_free_ char *rel = NULL, *kid = NULL;
        json_t *a;
        int r;

        if ((r = order_rel(cert, &rel)) < 0)
                return r;
        kid = acme_session_account_dup(s);
        a = json_array();
        for (size_t i = 0; a && names && names[i]; i++)
                json_array_append_new(a, json_string(names[i]));
        r = acme_session_write_json(
                s, rel,
                a ? json_pack("{s:s, s:s, s:o}", "order", url, "account", kid ?: "", "names", a) : NULL);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                log_warning_errno(
                        r, "[acme \"%s\"] cannot persist the order of %s in %s (a restart starts over): %m",
                        acme_session_config(s)->name, cert, rel);
        return 0;
}

static void order_state_remove(AcmeSession *s, const char *cert) {
        _cleanup_free_ char *rel = NULL, *path = NULL;

        if (order_rel(cert, &rel) >= 0 && acme_session_state_path(s, rel, &path) >= 0 && unlink(path) < 0 &&
            errno != ENOENT)
                log_warning_errno(-errno, "[acme \"%s\"] cannot remove %s: %m, ignoring",
                                  acme_session_config(s)->name, path);
}

/* The order a previous run left in flight, if it is still worth finishing: its names are unchanged and
 * the server still has it. Returns < 0 only when the server is unwell (the order is kept for the next run);
 * otherwise *url is the order to go on with, or NULL for a new one. */
static int resume_order(AcmeSession *s, const CertConfig *c, char **url, AcmeOrder *o, AcmeResponse *resp,
                        bool *resumed) {
        const char *name = acme_session_config(s)->name;
        _cleanup_strv_free_ char **names = NULL;
        int r;

        if (order_state_load(s, c->name, url, &names) < 0)
                return 0;
        r = strv_equal(names, c->names) ? fetch_order(s, *url, o, resp) : -ESTALE;
        if (r < 0 && r != -ESTALE && (resp->status == 0 || resp->status >= 500)) {
                /* The server is unwell, not the order: keep it for the next run. */
                acme_log_failure(s, r, resp, *url, "cannot fetch the order in flight");
                return r;
        }
        if (r < 0 || status_is(o->status, "invalid")) {
                log_info("[acme \"%s\"] %s: not resuming order %s (%s)", name, c->name, *url,
                         !strv_equal(names, c->names) ? "the names changed"
                         : resp->problem.type         ? resp->problem.type
                         : o->status                  ? o->status
                                                      : "gone");
                order_state_remove(s, c->name);
                free(*url);
                *url = NULL;
                acme_order_done(o);
                return 0;
        }
        log_info("[acme \"%s\"] %s: resuming order %s (%s)", name, c->name, *url, o->status);
        *resumed = true;
        return 0;
}

/* A valid order's certificate chain. A resumed order finalized with another key (a run that crashed
 * between finalize and install) is refused: -ESTALE orders again. */
static int collect_chain(AcmeSession *s, const CertConfig *c, gnutls_privkey_t key, const char *replaces,
                         bool resumed, const char *certificate, gnutls_datum_t *ret) {
        int r = download_chain(s, c, certificate, ret);

        /* A renewal that names what it replaces (ARI) does not count against duplicates. */
        if (r >= 0 && !replaces)
                (void) acme_budget_note_certificate(acme_session_inventory(s), acme_session_config(s),
                                                    c->names, now_realtime());
        if (r >= 0 && resumed && !chain_matches_key(ret, key)) {
                log_info(
                        "[acme \"%s\"] %s: the resumed order was finalized with another key, ordering again",
                        acme_session_config(s)->name, c->name);
                gnutls_free(ret->data);
                *ret = (gnutls_datum_t){};
                r = -ESTALE;
        }
        return r;
}

static int issue_once(AcmeSession *s, const CertConfig *c, gnutls_privkey_t key, const char *replaces,
                      bool resume, gnutls_datum_t *ret) {
        const char *name = acme_session_config(s)->name;
        _cleanup_free_ char *url = NULL;
        AcmeOrder o = {};
        AcmeResponse resp = {};
        Poll pl = poll_start(s);
        bool resumed = false;
        int r;

        if (resume) {
                r = resume_order(s, c, &url, &o, &resp, &resumed);
                if (r < 0)
                        goto out;
        }
        if (!url) {
                r = budget_order(s, c, replaces);
                if (r >= 0)
                        r = new_order(s, c, replaces, &url, &o);
                if (r < 0)
                        goto out;
                (void) order_state_save(s, c->name, url, c->names);
        }

        /* Each turn acts on the order's status. When that moved the order forward (pending → ready →
         * processing → valid) the next turn follows at once; otherwise it waits first (Retry-After, else
         * backoff) and fetches the order again. So an order the server keeps pending or ready, or one
         * that bounces between states, costs a bounded number of requests until the order's deadline. */
        for (;;) {
                int before = status_rank(o.status);

                if (status_is(o.status, "pending")) {
                        r = authorize(s, c, &o, &pl);
                        if (r >= 0)
                                r = refresh(s, url, &o, &resp);
                } else if (status_is(o.status, "ready"))
                        r = finalize(s, c, key, &o);
                else if (status_is(o.status, "processing") ||
                         (status_is(o.status, "valid") && !o.certificate))
                        r = 0; /* nothing to do but ask again */
                else if (status_is(o.status, "valid")) {
                        r = collect_chain(s, c, key, replaces, resumed, o.certificate, ret);
                        break;
                } else {
                        r = o.error.type
                                    ? log_error_errno(
                                              -EPROTO, "[acme \"%s\"] %s: order %s is %s: %s: %s%s%s", name,
                                              c->name, url, o.status, o.error.type, o.error.detail ?: "",
                                              o.error.subproblems ? " — " : "", o.error.subproblems ?: "")
                                    : log_error_errno(-EPROTO, "[acme \"%s\"] %s: order %s is %s", name,
                                                      c->name, url, o.status);
                        order_state_remove(s, c->name);
                        break;
                }
                if (r < 0)
                        break;
                if (status_rank(o.status) > before && !(status_is(o.status, "valid") && !o.certificate))
                        continue;
                r = poll_wait(&pl, &resp);
                if (r < 0) {
                        poll_failed(s, c, r, url, o.status);
                        break;
                }
                r = refresh(s, url, &o, &resp);
                if (r < 0)
                        break;
        }
        /* Done, or an order the server answered nonsense about (an identifier we never ordered): the
         * next run starts a new one rather than resuming this. */
        if (r >= 0 || r == -EBADMSG)
                order_state_remove(s, c->name);
out:
        acme_order_done(&o);
        acme_response_done(&resp);
        return r;
}

int acme_issue(AcmeSession *s, const CertConfig *c, gnutls_privkey_t key, const char *replaces,
               gnutls_datum_t *ret_chain_pem) {
        gnutls_datum_t chain = {};
        int r;

        r = issue_once(s, c, key, replaces, true, &chain);
        if (r == -ESTALE) {
                /* The order went away under us (a server restart) or was for another key: a new one. */
                log_notice("[acme \"%s\"] %s: starting a new order", acme_session_config(s)->name, c->name);
                order_state_remove(s, c->name);
                r = issue_once(s, c, key, replaces, false, &chain);
        }
        if (r < 0)
                return r;
        *ret_chain_pem = chain;
        return 0;
}
