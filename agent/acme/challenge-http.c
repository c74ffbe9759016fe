/* SPDX-License-Identifier: GPL-3.0-or-later */
/* http-01 (RFC 8555 §8.3): files under a webroot, or a built-in responder that serves exactly the tokens
 * of the orders in flight and 404 for anything else. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acme-internal.h"
#include "fd-util.h"
#include "install.h"
#include "log.h"

#define WELL_KNOWN "/.well-known/acme-challenge/"

/* ---- webroot ---- */

static int webroot_path(Challenger *c, const char *token, char **ret) {
        return asprintf(ret, "%s%s%s", c->cfg->webroot, WELL_KNOWN, token) < 0 ? -ENOMEM : 0;
}

static int webroot_start(Challenger *c) {
        return 0;
}

static int webroot_add(Challenger *c, const ChallengeItem *it) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = webroot_path(c, it->token, &path);
        if (r < 0)
                return r;
        r = mkdir_parents(path, 0755);
        if (r < 0)
                return log_error_errno(r, "[acme \"%s\"] cannot create the directory of %s: %m",
                                       c->cfg->name, path);
        /* Readable by the web server, whoever it runs as. */
        r = install_data(path, it->key_authorization, strlen(it->key_authorization), 0644);
        if (r < 0)
                return log_error_errno(r, "[acme \"%s\"] cannot write %s: %m", c->cfg->name, path);
        return 0;
}

static void webroot_remove(Challenger *c, const ChallengeItem *it) {
        _cleanup_free_ char *path = NULL;
        int r;

        if (webroot_path(c, it->token, &path) < 0)
                return;
        r = unlink_nofollow(path); /* not through a link someone swapped into the webroot's path */
        if (r < 0)
                log_warning_errno(r, "[acme \"%s\"] cannot remove %s: %m, ignoring", c->cfg->name, path);
}

const ChallengeOps challenge_http_webroot_ops = {
        .start = webroot_start,
        .add = webroot_add,
        .remove = webroot_remove,
};

/* ---- built-in responder ---- */

typedef struct Token {
        char *token;
        char *key_authorization;
        unsigned refs; /* the same token may be added twice (two orders for one name) */
        struct Token *next;
} Token;

static Token **tokens(Challenger *c) {
        return (Token **) &c->backend;
}

static int responder_http_add(Challenger *c, const ChallengeItem *it) {
        Token *t;
        int r = 0;

        pthread_mutex_lock(&c->lock);
        for (t = *tokens(c); t; t = t->next)
                if (strcmp(t->token, it->token) == 0)
                        break;
        if (t)
                t->refs++;
        else if (!(t = calloc(1, sizeof(*t))) || !(t->token = strdup(it->token)) ||
                 !(t->key_authorization = strdup(it->key_authorization))) {
                if (t) {
                        free(t->token);
                        free(t);
                }
                r = -ENOMEM;
        } else {
                t->refs = 1;
                t->next = *tokens(c);
                *tokens(c) = t;
        }
        pthread_mutex_unlock(&c->lock);
        return r;
}

static void responder_http_remove(Challenger *c, const ChallengeItem *it) {
        pthread_mutex_lock(&c->lock);
        for (Token **p = tokens(c); *p; p = &(*p)->next)
                if (strcmp((*p)->token, it->token) == 0) {
                        Token *t = *p;

                        if (--t->refs == 0) {
                                *p = t->next;
                                free(t->token);
                                free(t->key_authorization);
                                free(t);
                        }
                        break;
                }
        pthread_mutex_unlock(&c->lock);
}

/* One connection: the request head (at most CHALLENGE_HTTP_REQUEST_MAX bytes), then the answer. */
typedef struct HttpConn {
        char buf[CHALLENGE_HTTP_REQUEST_MAX + 1];
        size_t n;
        char *resp; /* once the head is complete */
        size_t resp_size, sent;
} HttpConn;

static int http_open(void *userdata, void *conn, int fd) {
        return 0;
}

static void http_close(void *userdata, void *conn) {
        free(((HttpConn *) conn)->resp);
}

/* The answer to a complete request head: the key authorization of a token added, else 404. */
static int http_answer(Challenger *c, HttpConn *h) {
        _cleanup_free_ char *body = NULL;
        const char *status = "404 Not Found";

        h->buf[h->n] = 0;
        if (strncmp(h->buf, "GET ", 4) == 0 && strncmp(h->buf + 4, WELL_KNOWN, strlen(WELL_KNOWN)) == 0) {
                const char *path = h->buf + 4 + strlen(WELL_KNOWN);
                size_t len = strcspn(path, " ?#\r\n");

                pthread_mutex_lock(&c->lock);
                for (Token *t = *tokens(c); t; t = t->next)
                        if (strlen(t->token) == len && strncmp(t->token, path, len) == 0) {
                                body = strdup(t->key_authorization);
                                break;
                        }
                pthread_mutex_unlock(&c->lock);
                if (body)
                        status = "200 OK";
        }
        if (asprintf(
                    &h->resp,
                    "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                    status, body ? strlen(body) : 0, body ?: "") < 0) {
                h->resp = NULL;
                return -ENOMEM;
        }
        h->resp_size = strlen(h->resp);
        return 0;
}

/* After a recv() or send() that returned k: true to go on (k bytes added to *done, or interrupted), false
 * with *ret_step the step to return (`blocked` when the socket would block, else done with it). */
static bool io_goes_on(ssize_t k, size_t *done, int blocked, int *ret_step) {
        if (k > 0)
                *done += (size_t) k;
        else if (k == 0 || errno != EINTR) {
                *ret_step = k < 0 && errno == EAGAIN ? blocked : RESPONDER_DONE;
                return false;
        }
        return true;
}

/* Read until the head is complete (bytes may arrive in any pieces, within the connection's deadline;
 * more than CHALLENGE_HTTP_REQUEST_MAX without its end closes it), then send the answer. */
static int http_step(void *userdata, void *conn, int fd) {
        HttpConn *h = conn;
        int step;

        while (!h->resp) {
                ssize_t k;

                if (memmem(h->buf, h->n, "\r\n\r\n", 4) || memmem(h->buf, h->n, "\n\n", 2)) {
                        int r = http_answer(userdata, h);
                        if (r < 0)
                                return r;
                        break;
                }
                if (h->n == CHALLENGE_HTTP_REQUEST_MAX)
                        return RESPONDER_DONE;
                k = recv(fd, h->buf + h->n, CHALLENGE_HTTP_REQUEST_MAX - h->n, 0);
                if (!io_goes_on(k, &h->n, RESPONDER_WANT_READ, &step))
                        return step;
        }
        while (h->sent < h->resp_size) {
                ssize_t k = send(fd, h->resp + h->sent, h->resp_size - h->sent, MSG_NOSIGNAL);

                if (!io_goes_on(k, &h->sent, RESPONDER_WANT_WRITE, &step))
                        return step;
        }
        return RESPONDER_DONE;
}

static const ResponderProto http_proto = {
        .conn_size = sizeof(HttpConn),
        .open = http_open,
        .step = http_step,
        .close = http_close,
};

static int responder_http_start(Challenger *c) {
        return responder_start(&c->responder, c->cfg, &http_proto, c);
}

static void responder_http_stop(Challenger *c) {
        responder_stop(&c->responder);
        for (Token *t = *tokens(c), *next; t; t = next) {
                next = t->next;
                free(t->token);
                free(t->key_authorization);
                free(t);
        }
        *tokens(c) = NULL;
}

const ChallengeOps challenge_http_responder_ops = {
        .start = responder_http_start,
        .add = responder_http_add,
        .remove = responder_http_remove,
        .stop = responder_http_stop,
};
