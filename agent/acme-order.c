/* SPDX-License-Identifier: GPL-3.0-or-later */
/* One certificate through an ACME order (RFC 8555 §7.4): newOrder (with ARI `replaces`), the
 * authorizations and their challenges (§7.5), finalize with our CSR, polling that honours Retry-After,
 * the certificate with its chain and the alternates of §7.4.2. The order URL is persisted as soon as it
 * exists, so a run that dies resumes the same order instead of starting over. */
#include <arpa/inet.h>
#include <string.h>

#include "acme-internal.h"
#include "gnutls-util.h"
#include "keygen.h"
#include "log.h"
#include "x509.h"

#define POLL_FIRST (10 * USEC_PER_SEC / 1000)
#define POLL_STEP_MAX (USEC_PER_SEC)

typedef struct Poll {
        usec_t deadline;
        usec_t next;
} Poll;

static usec_t now_mono(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

static Poll poll_start(void) {
        return (Poll) { .deadline = now_mono() + ACME_POLL_MAX, .next = POLL_FIRST };
}

/* Wait before polling again: the server's Retry-After (at most ACME_POLL_WAIT_MAX) or a short doubling
 * step. Returns 0, or -ETIMEDOUT once the poll deadline has passed. */
static int poll_wait(Poll *p, const AcmeResponse *resp) {
        usec_t wait = p->next;

        if (resp->has_retry_after)
                wait = resp->retry_after < ACME_POLL_WAIT_MAX ? resp->retry_after : ACME_POLL_WAIT_MAX;
        if (now_mono() + wait > p->deadline)
                return -ETIMEDOUT;
        acme_wait(wait);
        p->next = p->next * 2 < POLL_STEP_MAX ? p->next * 2 : POLL_STEP_MAX;
        return 0;
}

static bool is_ip(const char *s) {
        uint8_t buf[16];

        return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static bool strv_equal(char *const *a, char *const *b) {
        for (; a && *a && b && *b; a++, b++)
                if (strcmp(*a, *b) != 0)
                        return false;
        return (!a || !*a) && (!b || !*b);
}

static bool status_is(const char *status, const char *want) {
        return status && strcmp(status, want) == 0;
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

static int new_order(AcmeSession *s, const CertConfig *c, const char *replaces, char **ret_url, AcmeOrder *o) {
        _cleanup_free_ char *payload = NULL;
        AcmeResponse resp = {};
        json_t *ids = json_array(), *p;
        int r;

        for (char **n = c->names; ids && n && *n; n++)
                json_array_append_new(ids, json_pack("{s:s, s:s}", "type", is_ip(*n) ? "ip" : "dns", "value", *n));
        p = ids ? json_pack("{s:o}", "identifiers", ids) : NULL;
        if (p && replaces)
                json_object_set_new(p, "replaces", json_string(replaces));
        payload = p ? json_dumps(p, JSON_COMPACT) : NULL;
        json_decref(p);
        if (!payload)
                return -ENOMEM;

        r = acme_post(s, s->dir.new_order, payload, 0, &resp);
        if (r < 0 && replaces && resp.status >= 400 && resp.status < 500) {
                /* The server would not take `replaces` (already replaced, unknown): order without it. */
                log_notice("[acme \"%s\"] %s: the server refused replaces=%s (%s), ordering without it", s->cfg->name,
                           c->name, replaces, resp.problem.detail ?: resp.problem.type ?: "no detail");
                acme_response_done(&resp);
                return new_order(s, c, NULL, ret_url, o);
        }
        if (r >= 0 && (!resp.location || acme_parse_order(resp.json, o) < 0))
                r = -EPROTO;
        if (r < 0) {
                r = acme_log_failure(s, r, &resp, s->dir.new_order, "newOrder failed");
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
} Pending;

static int fetch_authz(AcmeSession *s, Pending *p, AcmeResponse *resp) {
        const char *type = challenge_type_to_string(s->cfg->challenge);
        int r;

        r = acme_post(s, p->url, NULL, 0, resp);
        if (r == -ENOENT)
                return -ESTALE; /* the server forgot the order */
        if (r < 0)
                return acme_log_failure(s, r, resp, p->url, "cannot fetch the authorization");
        acme_authz_done(&p->authz);
        r = acme_parse_authz(resp->json, type, &p->authz);
        if (r < 0)
                return log_error_errno(r, "[acme \"%s\"] %s: not an authorization", s->cfg->name, p->url);
        return 0;
}

static int authz_failed(AcmeSession *s, const CertConfig *c, const Pending *p) {
        const AcmeProblem *e = &p->authz.challenge_error;

        if (e->type)
                return log_error_errno(-EPROTO, "[acme \"%s\"] %s: %s validation of %s failed: %s: %s%s%s", s->cfg->name,
                                       c->name, challenge_type_to_string(s->cfg->challenge), p->authz.identifier, e->type,
                                       e->detail ?: "", e->subproblems ? " — " : "", e->subproblems ?: "");
        return log_error_errno(-EPROTO, "[acme \"%s\"] %s: authorization of %s is %s", s->cfg->name, c->name,
                               p->authz.identifier, p->authz.status);
}

/* §7.5: every pending authorization of the order, its challenges published all at once, then answered,
 * then polled. */
static int authorize(AcmeSession *s, const CertConfig *c, const AcmeOrder *o) {
        size_t n = strv_length(o->authorizations);
        _cleanup_free_ Pending *p = NULL;
        AcmeResponse resp = {};
        Challenger *ch = NULL;
        int r = 0;

        p = calloc(n ? n : 1, sizeof(Pending));
        if (!p)
                return -ENOMEM;
        for (size_t i = 0; i < n && r >= 0; i++) {
                p[i].url = o->authorizations[i];
                r = fetch_authz(s, &p[i], &resp);
                if (r < 0 || status_is(p[i].authz.status, "valid"))
                        continue;
                if (!status_is(p[i].authz.status, "pending")) {
                        r = authz_failed(s, c, &p[i]);
                        break;
                }
                if (!p[i].authz.challenge_url) {
                        r = log_error_errno(-EOPNOTSUPP, "[acme \"%s\"] %s: the server offers no %s challenge for %s%s",
                                            s->cfg->name, c->name, challenge_type_to_string(s->cfg->challenge),
                                            p[i].authz.wildcard ? "*." : "", p[i].authz.identifier);
                        break;
                }
                if (asprintf(&p[i].key_authorization, "%s.%s", p[i].authz.token, jws_key_thumbprint(s->key)) < 0) {
                        r = -ENOMEM;
                        break;
                }
                if (!ch && (r = acme_session_challenger(s, &ch)) < 0)
                        break;
                /* A challenge already "processing" (we answered before a restart) may still be fetched by
                 * the server: publish it again too. */
                r = challenge_add(ch, p[i].authz.identifier, p[i].authz.token, p[i].key_authorization);
                p[i].deployed = r >= 0;
        }

        /* §7.5.1: tell the server each response is ready. */
        for (size_t i = 0; i < n && r >= 0; i++)
                if (p[i].deployed && status_is(p[i].authz.challenge_status, "pending")) {
                        r = acme_post(s, p[i].authz.challenge_url, "{}", 0, &resp);
                        if (r == -ENOENT)
                                r = -ESTALE; /* the server forgot the order */
                        else if (r < 0)
                                acme_log_failure(s, r, &resp, p[i].authz.challenge_url, "cannot answer the challenge");
                }

        for (size_t i = 0; i < n && r >= 0; i++) {
                Poll pl = poll_start();

                if (!p[i].deployed)
                        continue;
                while (r >= 0 && status_is(p[i].authz.status, "pending")) {
                        r = poll_wait(&pl, &resp);
                        if (r < 0)
                                r = log_error_errno(r, "[acme \"%s\"] %s: %s is still pending after %llu s", s->cfg->name,
                                                    c->name, p[i].url, (unsigned long long) (ACME_POLL_MAX / USEC_PER_SEC));
                        else
                                r = fetch_authz(s, &p[i], &resp);
                }
                if (r >= 0 && !status_is(p[i].authz.status, "valid"))
                        r = authz_failed(s, c, &p[i]);
        }

        for (size_t i = 0; i < n; i++) {
                if (p[i].deployed)
                        challenge_remove(ch, p[i].authz.identifier, p[i].authz.token, p[i].key_authorization);
                acme_authz_done(&p[i].authz);
                free(p[i].key_authorization);
        }
        acme_response_done(&resp);
        return r;
}

static int finalize(AcmeSession *s, const CertConfig *c, gnutls_x509_privkey_t key, AcmeOrder *o) {
        _cleanup_datum_ gnutls_datum_t csr = {};
        _cleanup_free_ char *b64 = NULL, *payload = NULL;
        AcmeResponse resp = {};
        int r;

        r = keygen_csr(key, c->names, &csr);
        if (r < 0)
                return log_error_errno(r, "[acme \"%s\"] %s: cannot make the CSR: %m", s->cfg->name, c->name);
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
                return log_error_errno(-EBADMSG, "[acme \"%s\"] %s: %s is not a PEM certificate chain", s->cfg->name,
                                       c->name, url);
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
        if (r >= 0 && s->cfg->preferred_chain &&
            !(chain_top_issuer(&resp, cn, sizeof(cn)) >= 0 && strcmp(cn, s->cfg->preferred_chain) == 0)) {
                for (char **l = resp.links; l && *l; l++)
                        if (acme_parse_link(*l, "alternate", &alternates) < 0) {
                                r = -ENOMEM;
                                break;
                        }
                pick = NULL;
                for (char **a = alternates; r >= 0 && a && *a && !pick; a++) {
                        if (download(s, c, *a, &alt) < 0)
                                continue;
                        if (chain_top_issuer(&alt, cn, sizeof(cn)) >= 0 && strcmp(cn, s->cfg->preferred_chain) == 0)
                                pick = &alt;
                }
                if (!pick) {
                        log_notice("[acme \"%s\"] %s: no chain up to \"%s\" among %zu alternates, using the default one",
                                   s->cfg->name, c->name, s->cfg->preferred_chain, strv_length(alternates));
                        pick = &resp;
                } else
                        log_info("[acme \"%s\"] %s: using the alternate chain up to \"%s\"", s->cfg->name, c->name, cn);
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
static bool chain_matches_key(const gnutls_datum_t *pem, gnutls_x509_privkey_t key) {
        gnutls_x509_crt_t *crts = NULL;
        uint8_t a[64], b[64];
        size_t na = sizeof(a), nb = sizeof(b);
        unsigned n = 0;
        bool ok;

        if (x509_load_crts(pem->data, pem->size, &crts, &n) < 0)
                return false;
        ok = gnutls_x509_crt_get_key_id(crts[0], GNUTLS_KEYID_USE_SHA256, a, &na) >= 0 &&
             gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, b, &nb) >= 0 && na == nb && memcmp(a, b, na) == 0;
        x509_crts_free(crts, n);
        return ok;
}

static int issue_once(AcmeSession *s, const CertConfig *c, gnutls_x509_privkey_t key, const char *replaces,
                      bool resume, gnutls_datum_t *ret) {
        _cleanup_free_ char *url = NULL;
        _cleanup_strv_free_ char **names = NULL;
        AcmeOrder o = {};
        AcmeResponse resp = {};
        Poll pl = poll_start();
        bool resumed = false;
        int r;

        if (resume && acme_order_state_load(s, c->name, &url, &names) >= 0) {
                r = strv_equal(names, c->names) ? fetch_order(s, url, &o, &resp) : -ESTALE;
                if (r < 0 && r != -ESTALE && (resp.status == 0 || resp.status >= 500)) {
                        /* The server is unwell, not the order: keep it for the next run. */
                        acme_log_failure(s, r, &resp, url, "cannot fetch the order in flight");
                        goto out;
                }
                if (r < 0 || status_is(o.status, "invalid")) {
                        log_info("[acme \"%s\"] %s: not resuming order %s (%s)", s->cfg->name, c->name, url,
                                 !strv_equal(names, c->names) ? "the names changed"
                                 : resp.problem.type          ? resp.problem.type
                                 : o.status                   ? o.status
                                                              : "gone");
                        acme_order_state_remove(s, c->name);
                        free(url);
                        url = NULL;
                        acme_order_done(&o);
                } else {
                        log_info("[acme \"%s\"] %s: resuming order %s (%s)", s->cfg->name, c->name, url, o.status);
                        resumed = true;
                }
        }
        if (!url) {
                r = new_order(s, c, replaces, &url, &o);
                if (r < 0)
                        goto out;
                (void) acme_order_state_save(s, c->name, url, c->names);
        }

        for (;;) {
                if (status_is(o.status, "pending")) {
                        r = authorize(s, c, &o);
                        if (r >= 0)
                                r = refresh(s, url, &o, &resp);
                } else if (status_is(o.status, "ready")) {
                        r = finalize(s, c, key, &o);
                } else if (status_is(o.status, "processing")) {
                        r = poll_wait(&pl, &resp);
                        if (r < 0)
                                log_error_errno(r, "[acme \"%s\"] %s: order %s still processing, giving up for now",
                                                s->cfg->name, c->name, url);
                        else
                                r = refresh(s, url, &o, &resp);
                } else if (status_is(o.status, "valid") && o.certificate) {
                        r = download_chain(s, c, o.certificate, ret);
                        if (r >= 0 && resumed && !chain_matches_key(ret, key)) {
                                log_info("[acme \"%s\"] %s: the resumed order was finalized with another key, ordering "
                                         "again",
                                         s->cfg->name, c->name);
                                gnutls_free(ret->data);
                                *ret = (gnutls_datum_t) {};
                                r = -ESTALE;
                        }
                        break;
                } else {
                        r = o.error.type ? log_error_errno(-EPROTO, "[acme \"%s\"] %s: order %s is %s: %s: %s%s%s",
                                                           s->cfg->name, c->name, url, o.status, o.error.type,
                                                           o.error.detail ?: "", o.error.subproblems ? " — " : "",
                                                           o.error.subproblems ?: "")
                                         : log_error_errno(-EPROTO, "[acme \"%s\"] %s: order %s is %s", s->cfg->name,
                                                           c->name, url, o.status);
                        acme_order_state_remove(s, c->name);
                        break;
                }
                if (r < 0)
                        break;
        }
        if (r >= 0)
                acme_order_state_remove(s, c->name);
out:
        acme_order_done(&o);
        acme_response_done(&resp);
        return r;
}

int acme_issue(AcmeSession *s, const CertConfig *c, gnutls_x509_privkey_t key, const char *replaces,
               gnutls_datum_t *ret_chain_pem) {
        gnutls_datum_t chain = {};
        int r;

        r = issue_once(s, c, key, replaces, true, &chain);
        if (r == -ESTALE) {
                /* The order went away under us (a server restart) or was for another key: a new one. */
                log_notice("[acme \"%s\"] %s: starting a new order", s->cfg->name, c->name);
                acme_order_state_remove(s, c->name);
                r = issue_once(s, c, key, replaces, false, &chain);
        }
        if (r < 0)
                return r;
        *ret_chain_pem = chain;
        return 0;
}
