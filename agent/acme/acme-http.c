/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The ACME transport (acme-http.h): libcurl easy handles kept in a per-session pool (each keeps its
 * connection, so a batch of orders reuses a few TLS connections), exchanges bounded in time, retries
 * with exponential backoff, waits a cancel cuts short, and every URL held to the directory's origin. */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "acme-http.h"
#include "log.h"
#include "macro.h"

/* How often a wait or a transfer looks at the cancel flag. */
#define CANCEL_CHECK (100 * USEC_PER_SEC / 1000)

/* A transfer handle and the multi handle it runs in: the connection cache is the multi handle's, so the
 * pair stays together in the pool and the connection is reused by the next request. */
typedef struct HttpHandle {
        CURL *easy;
        CURLM *multi;
} HttpHandle;

struct AcmeHttp {
        const AcmeConfig *cfg;
        char *origin; /* of the directory: "https://host:port" */

        pthread_mutex_t lock; /* the pool */
        HttpHandle *easy;     /* idle handles, each keeping its connection */
        size_t n_easy;
        CURLSH *share; /* DNS cache and TLS sessions across handles */
        pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

        atomic_bool cancelled;
        _Atomic usec_t deadline;
        atomic_uint n_requests;
        atomic_uint n_retries;
};

/* The one exception to "no mutable globals": a one-way latch set by SIGTERM. The sessions that must
 * stop live in the renewal batch on a worker thread, out of the signal handler's reach. */
static atomic_bool cancel_all = false;

void acme_http_cancel_all(void) {
        atomic_store(&cancel_all, true);
}

void acme_http_cancel(AcmeHttp *h) {
        atomic_store(&h->cancelled, true);
}

bool acme_http_cancelled(const AcmeHttp *h) {
        return atomic_load(&((AcmeHttp *) h)->cancelled) || atomic_load(&cancel_all);
}

void acme_http_set_deadline(AcmeHttp *h, usec_t deadline) {
        atomic_store(&h->deadline, deadline);
}

/* Time left before the deadline (USEC_INFINITY: none), 0 once it passed. */
static usec_t deadline_left(AcmeHttp *h) {
        usec_t d = atomic_load(&h->deadline), now;

        if (d == 0)
                return USEC_INFINITY;
        now = now_monotonic();
        return d > now ? d - now : 0;
}

int acme_http_wait(AcmeHttp *h, usec_t usec) {
        usec_t end = now_monotonic() + usec;

        for (;;) {
                usec_t now = now_monotonic(), slice;
                struct timespec ts;

                if (acme_http_cancelled(h))
                        return -ECANCELED;
                if (deadline_left(h) == 0)
                        return -ETIMEDOUT;
                if (now >= end)
                        return 0;
                slice = end - now < CANCEL_CHECK ? end - now : CANCEL_CHECK;
                if (deadline_left(h) < slice)
                        slice = deadline_left(h);
                ts = (struct timespec){ .tv_sec = (time_t) (slice / USEC_PER_SEC),
                                        .tv_nsec = (long) (slice % USEC_PER_SEC) * 1000 };
                while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
                        ;
        }
}

void acme_response_done(AcmeResponse *r) {
        free_many(r->body, r->location, r->nonce, r->content_type);
        strv_free(r->links);
        json_decref(r->json);
        acme_problem_done(&r->problem);
        *r = (AcmeResponse){};
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

static void share_lock(CURL *c, curl_lock_data data, curl_lock_access access, void *userdata) {
        AcmeHttp *h = userdata;

        pthread_mutex_lock(&h->share_locks[data]);
}

static void share_unlock(CURL *c, curl_lock_data data, void *userdata) {
        AcmeHttp *h = userdata;

        pthread_mutex_unlock(&h->share_locks[data]);
}

int acme_http_new(const AcmeConfig *cfg, AcmeHttp **ret) {
        AcmeHttp *h;
        int r;

        r = curl_lib_load();
        if (r < 0)
                return r;
        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->cfg = cfg;
        pthread_mutex_init(&h->lock, NULL);
        for (size_t i = 0; i < ELEMENTSOF(h->share_locks); i++)
                pthread_mutex_init(&h->share_locks[i], NULL);
        r = acme_url_origin(cfg->directory, &h->origin);
        if (r < 0) {
                acme_http_free(h);
                return r;
        }
        h->share = sym_curl_share_init();
        /* Not CURL_LOCK_DATA_CONNECT: libcurl does not support sharing connections between threads;
         * each pooled handle keeps its own instead. */
        if (!h->share || sym_curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
            sym_curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
            sym_curl_share_setopt(h->share, CURLSHOPT_USERDATA, h) != CURLSHE_OK ||
            sym_curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
            sym_curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK) {
                acme_http_free(h);
                return -ENOMEM;
        }
        *ret = h;
        return 0;
}

static void handle_free(HttpHandle x) {
        if (x.multi)
                sym_curl_multi_cleanup(x.multi);
        if (x.easy)
                sym_curl_easy_cleanup(x.easy);
}

AcmeHttp *acme_http_free(AcmeHttp *h) {
        if (!h)
                return NULL;
        for (size_t i = 0; i < h->n_easy; i++)
                handle_free(h->easy[i]);
        free(h->easy);
        if (h->share)
                sym_curl_share_cleanup(h->share);
        for (size_t i = 0; i < ELEMENTSOF(h->share_locks); i++)
                pthread_mutex_destroy(&h->share_locks[i]);
        pthread_mutex_destroy(&h->lock);
        free(h->origin);
        free(h);
        return NULL;
}

unsigned acme_http_requests(const AcmeHttp *h) {
        return atomic_load(&((AcmeHttp *) h)->n_requests);
}

unsigned acme_http_retries(const AcmeHttp *h) {
        return atomic_load(&((AcmeHttp *) h)->n_retries);
}

/* libcurl 7.88 makes pipes and AF_UNIX socket pairs without O_CLOEXEC: the wakeup pipe of the multi
 * handle that every easy handle keeps after its first transfer, and a socket pair per threaded name
 * resolution. A hook spawned meanwhile (dns-hook, exec) would inherit them. Mark every socket and pipe
 * of ours that lacks FD_CLOEXEC (certherd hands descriptors to children only through dup2, which makes
 * fresh ones) after every transfer: the resolver's pair may outlive the transfer that made it. The spawner
 * closes what is left in the child as well (close_range): this is the belt to those braces. */
static void sockets_cloexec(void) {
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d))) {
                struct stat st;
                int fd, flags;

                fd = atoi(de->d_name);
                if (fd <= 2 || fd == dirfd(d))
                        continue;
                flags = fcntl(fd, F_GETFD);
                if (flags < 0 || (flags & FD_CLOEXEC) || fstat(fd, &st) < 0 ||
                    !(S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode)))
                        continue;
                (void) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
        }
        closedir(d);
}

/* A pooled handle, or a new one; .easy NULL when out of memory. */
static HttpHandle easy_acquire(AcmeHttp *h) {
        HttpHandle x = {};

        pthread_mutex_lock(&h->lock);
        if (h->n_easy > 0)
                x = h->easy[--h->n_easy];
        pthread_mutex_unlock(&h->lock);
        if (!x.easy) {
                x.easy = sym_curl_easy_init();
                x.multi = sym_curl_multi_init();
                if (!x.easy || !x.multi) {
                        handle_free(x);
                        return (HttpHandle){};
                }
        }
        return x;
}

static void easy_release(AcmeHttp *h, HttpHandle x) {
        HttpHandle *l;

        /* Options go, the connection and TLS session stay (curl_easy_reset keeps them). */
        sym_curl_easy_reset(x.easy);
        pthread_mutex_lock(&h->lock);
        l = realloc(h->easy, (h->n_easy + 1) * sizeof(HttpHandle));
        if (l) {
                h->easy = l;
                h->easy[h->n_easy++] = x;
                x = (HttpHandle){};
        }
        pthread_mutex_unlock(&h->lock);
        handle_free(x);
}

/* curl_easy_perform(), but looking at the cancel flag and the deadline every CANCEL_CHECK, also while the
 * server is silent: libcurl calls the progress function only about once a second then, which let a
 * SIGTERM wait up to a second for a request that was waiting for its answer. */
static CURLcode perform(AcmeHttp *h, HttpHandle x) {
        CURLcode k = CURLE_ABORTED_BY_CALLBACK;
        int running = 1, queued;

        if (sym_curl_multi_add_handle(x.multi, x.easy) != CURLM_OK)
                return CURLE_OUT_OF_MEMORY;
        for (;;) {
                CURLMsg *msg;

                if (sym_curl_multi_perform(x.multi, &running) != CURLM_OK) {
                        k = CURLE_OUT_OF_MEMORY;
                        break;
                }
                if (!running) {
                        msg = sym_curl_multi_info_read(x.multi, &queued);
                        k = msg && msg->msg == CURLMSG_DONE ? msg->data.result : CURLE_RECV_ERROR;
                        break;
                }
                if (acme_http_cancelled(h) || deadline_left(h) == 0)
                        break; /* CURLE_ABORTED_BY_CALLBACK, as the progress function would have said */
                if (sym_curl_multi_poll(x.multi, NULL, 0, (int) (CANCEL_CHECK / 1000), NULL) != CURLM_OK) {
                        k = CURLE_OUT_OF_MEMORY;
                        break;
                }
        }
        (void) sym_curl_multi_remove_handle(x.multi, x.easy);
        return k;
}

/* The connection sockets themselves are made close-on-exec from the start. */
static curl_socket_t open_socket(void *userdata, curlsocktype purpose, struct curl_sockaddr *a) {
        return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* Called by libcurl whenever data moves (and about once a second): a cancel aborts the transfer. */
static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
        AcmeHttp *h = userdata;

        return acme_http_cancelled(h) || deadline_left(h) == 0;
}

static bool is_json(const char *content_type) {
        return content_type && (strncasecmp(content_type, "application/json", 16) == 0 ||
                                strncasecmp(content_type, "application/problem+json", 24) == 0);
}

/* One request's options on a handle taken from the pool. */
static void setup_request(AcmeHttp *h, CURL *c, const char *method, const char *url, const char *body,
                          struct curl_slist *headers, usec_t timeout, usec_t connect, AcmeResponse *ret) {
        sym_curl_easy_setopt(c, CURLOPT_URL, url);
        sym_curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        sym_curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
        sym_curl_easy_setopt(c, CURLOPT_SHARE, h->share);
        sym_curl_easy_setopt(c, CURLOPT_USERAGENT, "certherd/" CERTHERD_VERSION);
        sym_curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
        sym_curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION,
                             0L); /* a redirect would leave the origin check behind */
        sym_curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
        sym_curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long) (connect / 1000) ?: 1L);
        sym_curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long) (timeout / 1000) ?: 1L);
        sym_curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        sym_curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        sym_curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);
        sym_curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
        if (h->cfg->ca_bundle) {
                /* Only this file: libcurl would otherwise also read the whole CA directory it was built
                 * with, for every connection. */
                sym_curl_easy_setopt(c, CURLOPT_CAINFO, h->cfg->ca_bundle);
                sym_curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
        }
        sym_curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        sym_curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        sym_curl_easy_setopt(c, CURLOPT_WRITEDATA, ret);
        sym_curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        sym_curl_easy_setopt(c, CURLOPT_HEADERDATA, ret);
        sym_curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ret->curl_error);
        if (strcmp(method, "HEAD") == 0)
                sym_curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        else if (body) {
                sym_curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
                sym_curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
        }
}

/* A failed transfer as -errno, with its reason in ret->curl_error. */
static int transfer_errno(AcmeHttp *h, CURLcode k, AcmeResponse *ret) {
        if (!ret->curl_error[0])
                snprintf(ret->curl_error, sizeof(ret->curl_error), "%s", sym_curl_easy_strerror(k));
        switch (k) {
        case CURLE_ABORTED_BY_CALLBACK:
                if (acme_http_cancelled(h)) {
                        snprintf(ret->curl_error, sizeof(ret->curl_error), "cancelled");
                        return -ECANCELED;
                }
                snprintf(ret->curl_error, sizeof(ret->curl_error), "deadline reached");
                return -ETIMEDOUT;
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

int acme_http_exchange(AcmeHttp *h, const char *method, const char *url, const char *body, bool accept_pem,
                       const AcmeRetry *t, AcmeResponse *ret) {
        struct curl_slist *headers = NULL;
        usec_t budget = t->deadline > now_monotonic() ? t->deadline - now_monotonic() : 0;
        usec_t timeout = budget < ACME_TRANSFER_TIMEOUT ? budget : ACME_TRANSFER_TIMEOUT;
        usec_t connect, left;
        HttpHandle x;
        CURLcode k;
        CURL *c;

        acme_response_done(ret);
        if (acme_http_cancelled(h))
                return -ECANCELED;
        left = deadline_left(h);
        if (left == 0)
                return -ETIMEDOUT;
        if (!acme_url_has_origin(url, h->origin)) {
                /* RFC 8555 gives a server no reason to send us elsewhere, and a signed POST to another
                 * host or port (a local service) is a request forgery. */
                snprintf(ret->curl_error, sizeof(ret->curl_error),
                         "the server sent a URL outside the directory's origin %s: refused", h->origin);
                return -EXDEV;
        }
        /* A try gets at least a second, however little of the budget is left, but never more than the
         * overall deadline. */
        timeout = timeout < USEC_PER_SEC ? USEC_PER_SEC : timeout;
        timeout = timeout < left ? timeout : left;
        connect = timeout < ACME_CONNECT_TIMEOUT ? timeout : ACME_CONNECT_TIMEOUT;

        x = easy_acquire(h);
        if (!x.easy)
                return -ENOMEM;
        c = x.easy;
        atomic_fetch_add(&h->n_requests, 1);
        if (body)
                headers = sym_curl_slist_append(headers, "Content-Type: application/jose+json");
        if (accept_pem)
                headers = sym_curl_slist_append(headers, "Accept: application/pem-certificate-chain");
        setup_request(h, c, method, url, body, headers, timeout, connect, ret);

        k = perform(h, x);
        ret->curl_code = k;
        if (k == CURLE_OK)
                sym_curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &ret->status);
        sym_curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
        sym_curl_slist_free_all(headers);
        easy_release(h, x);
        sockets_cloexec();
        log_debug("[acme \"%s\"] %s %s: %ld%s%s", h->cfg->name, method, url, ret->status, k ? " " : "",
                  k ? sym_curl_easy_strerror(k) : "");

        if (k != CURLE_OK)
                return transfer_errno(h, k, ret);
        if (is_json(ret->content_type) && ret->size > 0) {
                ret->json = json_loadb(ret->body, ret->size, 0, NULL);
                if (ret->json && ret->status >= 400)
                        (void) acme_problem_from_json(ret->json, &ret->problem);
        }
        return 0;
}

int acme_status_to_errno(long status) {
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
        case 501:
                return -EOPNOTSUPP;
        default:
                return status >= 500 ? -EIO : -EPROTO;
        }
}

/* The 5xx answers that can pass on their own: an error inside the server, a gateway that did not reach
 * it or got no answer in time, an overload. Anything else (501 not implemented, 505, …) says the same
 * the next time, so it is not asked again. */
static bool status_is_transient(long status) {
        return status == 500 || status == 502 || status == 503 || status == 504;
}

AcmeRetry acme_retry_start(const AcmeHttp *h) {
        return (AcmeRetry){
                .deadline = now_monotonic() + (usec_t) (h->cfg->max_retry_duration * USEC_PER_SEC),
                .backoff = (usec_t) (h->cfg->initial_backoff * USEC_PER_SEC),
        };
}

bool acme_http_retry_again(AcmeHttp *h, AcmeRetry *t, int r, const AcmeResponse *resp, const char *url) {
        usec_t wait = t->backoff, now = now_monotonic();

        if (r == -EPERM || r == -ENOMEM || r == -EFBIG || r == -EXDEV || r == -ECANCELED)
                return false;
        if (r == -ETIMEDOUT && deadline_left(h) == 0)
                return false;
        if (r == 0) {
                if (!status_is_transient(resp->status) && resp->status != 429)
                        return false;
                /* 429 is worth waiting for only when the server says how long, and that fits. */
                if (resp->status == 429 && !resp->has_retry_after)
                        return false;
                if (resp->has_retry_after && resp->retry_after > wait)
                        wait = resp->retry_after;
        }
        if (now + wait > t->deadline || wait > deadline_left(h))
                return false;
        log_debug("[acme \"%s\"] %s: %s, retrying in %.2f s", h->cfg->name, url,
                  r < 0 ? resp->curl_error : "server error", (double) wait / USEC_PER_SEC);
        atomic_fetch_add(&h->n_retries, 1);
        if (acme_http_wait(h, wait) < 0)
                return false;
        t->backoff = t->backoff * 2 ?: USEC_PER_SEC / 10;
        return true;
}

int acme_http_get(AcmeHttp *h, const char *url, AcmeResponse *ret) {
        AcmeRetry t = acme_retry_start(h);
        int r;

        for (;;) {
                r = acme_http_exchange(h, "GET", url, NULL, false, &t, ret);
                if (!acme_http_retry_again(h, &t, r, ret, url))
                        break;
        }
        return r < 0 ? r : acme_status_to_errno(ret->status);
}

int acme_http_log_failure(const AcmeHttp *h, int r, const AcmeResponse *resp, const char *url,
                          const char *what) {
        /* Said outright: step-ca, for one, types its 501 as rejectedIdentifier. */
        const char *note = resp->status == 501 ? " (not implemented by this server)" : "";

        if (r == -ECANCELED)
                return log_error_errno(r, "[acme \"%s\"] %s: %s: cancelled", h->cfg->name, what, url);
        if (r == -EXDEV)
                return log_error_errno(r, "[acme \"%s\"] %s: %s: %s", h->cfg->name, what, url,
                                       resp->curl_error);
        if (resp->status == 0)
                return log_error_errno(r, "[acme \"%s\"] %s: %s: %s (gave up after %.0f s of retries)",
                                       h->cfg->name, what, url,
                                       resp->curl_error[0] ? resp->curl_error : strerror(-r),
                                       h->cfg->max_retry_duration);
        if (resp->problem.type)
                return log_error_errno(r, "[acme \"%s\"] %s: %s: HTTP %ld%s %s: %s%s%s", h->cfg->name, what,
                                       url, resp->status, note, resp->problem.type,
                                       resp->problem.detail ?: "", resp->problem.subproblems ? " — " : "",
                                       resp->problem.subproblems ?: "");
        return log_error_errno(r, "[acme \"%s\"] %s: %s: HTTP %ld%s%s%.200s", h->cfg->name, what, url,
                               resp->status, note, resp->size && !is_json(resp->content_type) ? ": " : "",
                               resp->size && !is_json(resp->content_type) ? resp->body : "");
}
