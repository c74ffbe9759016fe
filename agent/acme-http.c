/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The ACME transport: libcurl easy handles kept in a per-session pool (each keeps its connection, so a
 * batch of orders reuses a few TLS connections), nonces in a per-session pool, signed POSTs (RFC 8555
 * §6.2), retries with exponential backoff, badNonce (§6.5) retried with the fresh nonce of the error. */
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "acme-internal.h"
#include "log.h"

void acme_wait(usec_t usec) {
        struct timespec ts = { .tv_sec = (time_t) (usec / USEC_PER_SEC), .tv_nsec = (long) (usec % USEC_PER_SEC) * 1000 };

        /* Renewals run on worker threads (renew_many, the daemon's worker): blocking one is the point. */
        while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
                ;
}

static usec_t now_monotonic(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

void acme_response_done(AcmeResponse *r) {
        free(r->body);
        free(r->location);
        free(r->nonce);
        free(r->content_type);
        strv_free(r->links);
        json_decref(r->json);
        acme_problem_done(&r->problem);
        *r = (AcmeResponse) {};
}

static size_t on_body(char *data, size_t size, size_t n, void *userdata) {
        AcmeResponse *r = userdata;
        size_t len = size * n;
        char *p;

        if (r->size + len > ACME_BODY_MAX)
                return 0; /* aborts the transfer */
        p = realloc(r->body, r->size + len + 1);
        if (!p)
                return 0;
        memcpy(p + r->size, data, len);
        r->body = p;
        r->size += len;
        r->body[r->size] = 0;
        return len;
}

static int set_header(char **field, const char *v, size_t len) {
        char *s = strndup(v, len);

        if (!s)
                return -ENOMEM;
        free(*field);
        *field = s;
        return 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *userdata) {
        AcmeResponse *r = userdata;
        size_t len = size * n, name_len;
        const char *colon = memchr(data, ':', len), *v;
        size_t v_len;
        int k = 0;

        if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
                /* A new response (after a 100 Continue or a redirect): forget the previous headers. */
                strv_free(r->links);
                r->links = NULL;
                r->has_retry_after = false;
                return len;
        }
        if (!colon)
                return len;
        name_len = (size_t) (colon - data);
        v = colon + 1;
        v_len = len - name_len - 1;
        while (v_len > 0 && (*v == ' ' || *v == '\t'))
                v++, v_len--;
        while (v_len > 0 && isspace((unsigned char) v[v_len - 1]))
                v_len--;

#define IS(h) (name_len == sizeof(h) - 1 && strncasecmp(data, h, name_len) == 0)
        if (IS("Location"))
                k = set_header(&r->location, v, v_len);
        else if (IS("Replay-Nonce"))
                k = set_header(&r->nonce, v, v_len);
        else if (IS("Content-Type"))
                k = set_header(&r->content_type, v, v_len);
        else if (IS("Retry-After")) {
                _cleanup_free_ char *s = strndup(v, v_len);

                if (s && acme_parse_retry_after(s, now_realtime(), &r->retry_after) >= 0)
                        r->has_retry_after = true;
        } else if (IS("Link")) {
                size_t m = strv_length(r->links);
                char **l = realloc(r->links, (m + 2) * sizeof(char *));

                if (!l)
                        return 0;
                r->links = l;
                l[m] = strndup(v, v_len);
                l[m + 1] = NULL;
                if (!l[m])
                        return 0;
        }
#undef IS
        return k < 0 ? 0 : len;
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *userdata) {
        AcmeSession *s = userdata;

        pthread_mutex_lock(&s->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *userdata) {
        AcmeSession *s = userdata;

        pthread_mutex_unlock(&s->share_locks[data]);
}

int acme_transport_init(AcmeSession *s) {
        for (size_t i = 0; i < ELEMENTSOF(s->share_locks); i++)
                pthread_mutex_init(&s->share_locks[i], NULL);
        s->share = curl_share_init();
        if (!s->share)
                return -ENOMEM;
        /* Not CURL_LOCK_DATA_CONNECT: libcurl does not support sharing connections between threads;
         * each pooled handle keeps its own instead. */
        if (curl_share_setopt(s->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
            curl_share_setopt(s->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
            curl_share_setopt(s->share, CURLSHOPT_USERDATA, s) != CURLSHE_OK ||
            curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
            curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK)
                return -ENOMEM;
        return 0;
}

void acme_transport_done(AcmeSession *s) {
        for (size_t i = 0; i < s->n_easy; i++)
                curl_easy_cleanup(s->easy[i]);
        free(s->easy);
        s->easy = NULL;
        s->n_easy = 0;
        if (s->share)
                curl_share_cleanup(s->share);
        s->share = NULL;
        for (size_t i = 0; i < ELEMENTSOF(s->share_locks); i++)
                pthread_mutex_destroy(&s->share_locks[i]);
        for (size_t i = 0; i < s->n_nonces; i++)
                free(s->nonces[i]);
        s->n_nonces = 0;
}

static CURL *easy_acquire(AcmeSession *s) {
        CURL *h = NULL;

        pthread_mutex_lock(&s->lock);
        if (s->n_easy > 0)
                h = s->easy[--s->n_easy];
        pthread_mutex_unlock(&s->lock);
        return h ?: curl_easy_init();
}

static void easy_release(AcmeSession *s, CURL *h) {
        CURL **l;

        /* Options go, the connection and TLS session stay (curl_easy_reset keeps them). */
        curl_easy_reset(h);
        pthread_mutex_lock(&s->lock);
        l = realloc(s->easy, (s->n_easy + 1) * sizeof(CURL *));
        if (l) {
                s->easy = l;
                s->easy[s->n_easy++] = h;
                h = NULL;
        }
        pthread_mutex_unlock(&s->lock);
        if (h)
                curl_easy_cleanup(h);
}

/* libcurl's sockets would be inherited by a dns-hook spawned while connections are pooled. */
static curl_socket_t open_socket(void *userdata, curlsocktype purpose, struct curl_sockaddr *a) {
        return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static bool is_json(const char *content_type) {
        return content_type && (strncasecmp(content_type, "application/json", 16) == 0 ||
                                strncasecmp(content_type, "application/problem+json", 24) == 0);
}

/* One exchange. Returns 0 when a response came, or the curl failure as -errno. */
static int perform(AcmeSession *s, const char *method, const char *url, const char *body, bool accept_pem,
                   usec_t budget, AcmeResponse *ret) {
        struct curl_slist *headers = NULL;
        CURL *h;
        CURLcode c;
        usec_t timeout = budget < ACME_TRANSFER_TIMEOUT ? budget : ACME_TRANSFER_TIMEOUT;
        usec_t connect = timeout < ACME_CONNECT_TIMEOUT ? timeout : ACME_CONNECT_TIMEOUT;

        acme_response_done(ret);
        /* A try gets at least a second, however little of the budget is left. */
        timeout = timeout < USEC_PER_SEC ? USEC_PER_SEC : timeout;
        connect = connect < USEC_PER_SEC ? USEC_PER_SEC : connect;

        h = easy_acquire(s);
        if (!h)
                return -ENOMEM;
        atomic_fetch_add(&s->n_requests, 1);
        if (body)
                headers = curl_slist_append(headers, "Content-Type: application/jose+json");
        if (accept_pem)
                headers = curl_slist_append(headers, "Accept: application/pem-certificate-chain");
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
        curl_easy_setopt(h, CURLOPT_SHARE, s->share);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "certherd/" CERTHERD_VERSION);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
        curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long) (connect / 1000));
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long) (timeout / 1000));
        curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
        if (s->cfg->ca_bundle) {
                /* Only this file: libcurl would otherwise also read the whole CA directory it was built
                 * with, for every connection. */
                curl_easy_setopt(h, CURLOPT_CAINFO, s->cfg->ca_bundle);
                curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
        }
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, ret);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, ret);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ret->curl_error);
        if (strcmp(method, "HEAD") == 0)
                curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        else if (body) {
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
        }

        c = curl_easy_perform(h);
        ret->curl_code = c;
        if (c == CURLE_OK)
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &ret->status);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
        curl_slist_free_all(headers);
        easy_release(s, h);
        log_debug("[acme \"%s\"] %s %s: %ld%s%s", s->cfg->name, method, url, ret->status, c ? " " : "",
                  c ? curl_easy_strerror(c) : "");

        if (c != CURLE_OK) {
                if (!ret->curl_error[0])
                        snprintf(ret->curl_error, sizeof(ret->curl_error), "%s", curl_easy_strerror(c));
                switch (c) {
                case CURLE_OPERATION_TIMEDOUT:
                        return -ETIMEDOUT;
                case CURLE_COULDNT_CONNECT:
                        return -ECONNREFUSED;
                case CURLE_COULDNT_RESOLVE_HOST:
                        return -EHOSTUNREACH;
                case CURLE_OUT_OF_MEMORY:
                        return -ENOMEM;
                case CURLE_PEER_FAILED_VERIFICATION:
                case CURLE_SSL_CACERT_BADFILE:
                case CURLE_SSL_CERTPROBLEM:
                case CURLE_UNSUPPORTED_PROTOCOL:
                case CURLE_URL_MALFORMAT:
                        return -EPERM; /* not worth retrying */
                case CURLE_WRITE_ERROR:
                        return -EFBIG;
                default:
                        return -EIO;
                }
        }
        if (is_json(ret->content_type) && ret->size > 0) {
                ret->json = json_loadb(ret->body, ret->size, 0, NULL);
                if (ret->json && ret->status >= 400)
                        (void) acme_problem_from_json(ret->json, &ret->problem);
        }
        return 0;
}

static int status_to_errno(long status) {
        if (status >= 200 && status < 300)
                return 0;
        switch (status) {
        case 401:
        case 403:
                return -EACCES;
        case 404:
                return -ENOENT;
        case 429:
                return -EBUSY;
        default:
                return status >= 500 ? -EIO : -EPROTO;
        }
}

/* The retry decision shared by GET and POST: whether to try again, after waiting. */
typedef struct Retry {
        usec_t deadline;
        usec_t backoff;
} Retry;

static Retry retry_start(const AcmeSession *s) {
        return (Retry) {
                .deadline = now_monotonic() + (usec_t) (s->cfg->max_retry_duration * USEC_PER_SEC),
                .backoff = (usec_t) (s->cfg->initial_backoff * USEC_PER_SEC),
        };
}

static usec_t retry_budget(const Retry *t) {
        usec_t now = now_monotonic();

        return t->deadline > now ? t->deadline - now : 0;
}

static bool retry_again(AcmeSession *s, Retry *t, int r, const AcmeResponse *resp, const char *url) {
        usec_t wait = t->backoff;

        if (r == -EPERM || r == -ENOMEM || r == -EFBIG)
                return false;
        if (r == 0) {
                if (resp->status < 500 && resp->status != 429)
                        return false;
                /* 429 is worth waiting for only when the server says how long, and that fits. */
                if (resp->status == 429 && !resp->has_retry_after)
                        return false;
                if (resp->has_retry_after && resp->retry_after > wait)
                        wait = resp->retry_after;
        }
        if (wait > retry_budget(t))
                return false;
        log_debug("[acme \"%s\"] %s: %s, retrying in %.2f s", s->cfg->name, url,
                  r < 0 ? resp->curl_error : "server error", (double) wait / USEC_PER_SEC);
        atomic_fetch_add(&s->n_retries, 1);
        acme_wait(wait);
        t->backoff = t->backoff * 2 ?: USEC_PER_SEC / 10;
        return true;
}

int acme_get(AcmeSession *s, const char *url, AcmeResponse *ret) {
        Retry t = retry_start(s);
        int r;

        for (;;) {
                r = perform(s, "GET", url, NULL, false, retry_budget(&t), ret);
                if (!retry_again(s, &t, r, ret, url))
                        break;
        }
        return r < 0 ? r : status_to_errno(ret->status);
}

static void nonce_put(AcmeSession *s, char *nonce) {
        if (!nonce)
                return;
        pthread_mutex_lock(&s->lock);
        if (s->n_nonces < ACME_NONCE_POOL) {
                s->nonces[s->n_nonces++] = nonce;
                nonce = NULL;
        }
        pthread_mutex_unlock(&s->lock);
        free(nonce);
}

/* A nonce from the pool, else a fresh one from newNonce (RFC 8555 §7.2). */
static int nonce_get(AcmeSession *s, Retry *t, char **ret) {
        AcmeResponse resp = {};
        char *n = NULL;
        int r;

        pthread_mutex_lock(&s->lock);
        if (s->n_nonces > 0)
                n = s->nonces[--s->n_nonces];
        pthread_mutex_unlock(&s->lock);
        if (n) {
                *ret = n;
                return 0;
        }
        for (;;) {
                r = perform(s, "HEAD", s->dir.new_nonce, NULL, false, retry_budget(t), &resp);
                if (!retry_again(s, t, r, &resp, s->dir.new_nonce))
                        break;
        }
        if (r >= 0)
                r = status_to_errno(resp.status);
        if (r >= 0 && !resp.nonce)
                r = -EPROTO;
        if (r < 0) {
                acme_log_failure(s, r, &resp, s->dir.new_nonce, "cannot get a nonce");
                acme_response_done(&resp);
                return r;
        }
        *ret = TAKE_PTR(resp.nonce);
        acme_response_done(&resp);
        return 0;
}

static int sign_request(AcmeSession *s, const char *url, const char *payload, AcmePostFlags flags, const char *nonce,
                        char **ret, unsigned *ret_generation) {
        _cleanup_free_ char *kid = NULL;
        JwsKey *key;

        pthread_mutex_lock(&s->lock);
        key = s->key;
        *ret_generation = s->account_generation;
        if (!(flags & ACME_POST_JWK) && s->kid)
                kid = strdup(s->kid);
        pthread_mutex_unlock(&s->lock);
        if (!(flags & ACME_POST_JWK) && !kid)
                return -ENOMEM;
        /* The key object is only replaced by a rollover, which holds no request in flight. */
        return jws_sign(key, kid, nonce, url, payload, ret);
}

int acme_post(AcmeSession *s, const char *url, const char *payload, AcmePostFlags flags, AcmeResponse *ret) {
        Retry t = retry_start(s);
        _cleanup_free_ char *nonce = NULL;
        unsigned bad_nonces = 0, generation = 0;
        bool reregistered = false;
        int r;

        for (;;) {
                _cleanup_free_ char *jws = NULL;

                if (!nonce) {
                        r = nonce_get(s, &t, &nonce);
                        if (r < 0) {
                                acme_response_done(ret);
                                return r;
                        }
                }
                r = sign_request(s, url, payload, flags, nonce, &jws, &generation);
                if (r < 0)
                        return r;
                free(nonce);
                nonce = NULL;

                r = perform(s, "POST", url, jws, flags & ACME_POST_PEM, retry_budget(&t), ret);
                if (r == 0 && ret->status == 400 && acme_problem_is(&ret->problem, "badNonce") && ret->nonce &&
                    bad_nonces++ < ACME_BAD_NONCE_RETRIES) {
                        log_debug("[acme \"%s\"] %s: badNonce, retrying with the nonce it came with", s->cfg->name, url);
                        atomic_fetch_add(&s->n_bad_nonces, 1);
                        nonce = TAKE_PTR(ret->nonce);
                        continue;
                }
                if (r == 0)
                        nonce_put(s, TAKE_PTR(ret->nonce));
                /* The server forgot the account (a restarted test server, a deactivated account): register
                 * again once, then repeat the request under the new account URL. */
                if (r == 0 && !(flags & (ACME_POST_JWK | ACME_POST_NO_REREGISTER)) && !reregistered &&
                    acme_problem_is(&ret->problem, "accountDoesNotExist")) {
                        reregistered = true;
                        r = acme_account_ensure(s, generation);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (!retry_again(s, &t, r, ret, url))
                        break;
        }
        return r < 0 ? r : status_to_errno(ret->status);
}

int acme_log_failure(AcmeSession *s, int r, const AcmeResponse *resp, const char *url, const char *what) {
        if (resp->status == 0)
                return log_error_errno(r, "[acme \"%s\"] %s: %s: %s (gave up after %.0f s of retries)", s->cfg->name,
                                       what, url, resp->curl_error[0] ? resp->curl_error : strerror(-r),
                                       s->cfg->max_retry_duration);
        if (resp->problem.type)
                return log_error_errno(r, "[acme \"%s\"] %s: %s: HTTP %ld %s: %s%s%s", s->cfg->name, what, url,
                                       resp->status, resp->problem.type, resp->problem.detail ?: "",
                                       resp->problem.subproblems ? " — " : "", resp->problem.subproblems ?: "");
        return log_error_errno(r, "[acme \"%s\"] %s: %s: HTTP %ld%s%.200s", s->cfg->name, what, url, resp->status,
                               resp->size && !is_json(resp->content_type) ? ": " : "",
                               resp->size && !is_json(resp->content_type) ? resp->body : "");
}
