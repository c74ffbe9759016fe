/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The facade of challenge.h: picks the backend for the [acme] section, starts it on first use, and runs
 * the accept loop the built-in responders share. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "challenge-internal.h"
#include "gnutls-util.h"
#include "jws.h"
#include "log.h"

int challenge_new(const AcmeConfig *a, Challenger **ret) {
        Challenger *c;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->cfg = a;
        c->responder = (Responder) { .listen_fd = -1, .stop_pipe = { -1, -1 } };
        switch (a->challenge) {
        case CHALLENGE_HTTP_01:
                c->ops = a->webroot ? &challenge_http_webroot_ops : &challenge_http_responder_ops;
                break;
        case CHALLENGE_DNS_01:
                c->ops = &challenge_dns_hook_ops;
                break;
        case CHALLENGE_TLS_ALPN_01:
                c->ops = &challenge_alpn_ops;
                break;
        default:
                free(c);
                return -EOPNOTSUPP;
        }
        pthread_mutex_init(&c->lock, NULL);
        *ret = c;
        return 0;
}

Challenger *challenge_free(Challenger *c) {
        if (!c)
                return NULL;
        if (c->started)
                c->ops->stop(c);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
}

ChallengeType challenge_type(const Challenger *c) {
        return c->cfg->challenge;
}

int challenge_add(Challenger *c, const char *identifier, const char *token, const char *key_authorization) {
        ChallengeItem it = { .identifier = identifier, .token = token, .key_authorization = key_authorization };
        int r;

        pthread_mutex_lock(&c->lock);
        if (!c->started && c->start_error == 0) {
                r = c->ops->start(c);
                if (r < 0)
                        c->start_error = r;
                else
                        c->started = true;
        }
        r = c->start_error;
        pthread_mutex_unlock(&c->lock);
        if (r < 0)
                return r; /* logged by start() the first time */
        return c->ops->add(c, &it);
}

void challenge_remove(Challenger *c, const char *identifier, const char *token, const char *key_authorization) {
        ChallengeItem it = { .identifier = identifier, .token = token, .key_authorization = key_authorization };
        bool started;

        pthread_mutex_lock(&c->lock);
        started = c->started;
        pthread_mutex_unlock(&c->lock);
        if (started)
                c->ops->remove(c, &it);
}

int challenge_parse_listen(const char *s, struct sockaddr_storage *ret, unsigned *ret_len) {
        _cleanup_free_ char *host = NULL;
        const char *port_s;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) ret;
        struct sockaddr_in *in4 = (struct sockaddr_in *) ret;
        char *end;
        unsigned long port;

        if (!s || !*s)
                return -EINVAL;
        if (s[0] == '[') {
                const char *e = strchr(s, ']');

                if (!e || e[1] != ':')
                        return -EINVAL;
                host = strndup(s + 1, (size_t) (e - s - 1));
                port_s = e + 2;
        } else if (strchr(s, ':')) {
                const char *e = strrchr(s, ':');

                host = strndup(s, (size_t) (e - s));
                port_s = e + 1;
        } else {
                host = strdup("");
                port_s = s;
        }
        if (!host)
                return -ENOMEM;
        errno = 0;
        port = strtoul(port_s, &end, 10);
        if (errno || *end || end == port_s || port == 0 || port > 65535)
                return -EINVAL;

        memset(ret, 0, sizeof(*ret));
        if (!*host || strcmp(host, "*") == 0 || strcmp(host, "::") == 0) {
                in6->sin6_family = AF_INET6;
                in6->sin6_addr = in6addr_any;
                in6->sin6_port = htons((uint16_t) port);
                *ret_len = sizeof(*in6);
        } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons((uint16_t) port);
                *ret_len = sizeof(*in6);
        } else if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
                in4->sin_family = AF_INET;
                in4->sin_port = htons((uint16_t) port);
                *ret_len = sizeof(*in4);
        } else
                return -EINVAL;
        return 0;
}

int challenge_dns_value(const char *key_authorization, char **ret) {
        uint8_t digest[32];
        int r;

        r = gnutls_hash_fast(GNUTLS_DIG_SHA256, key_authorization, strlen(key_authorization), digest);
        if (r < 0)
                return errno_from_gnutls(r);
        return jws_base64url_encode(digest, sizeof(digest), ret);
}

int challenge_fd_wait(int fd, bool write, int timeout_ms) {
        struct pollfd p = { .fd = fd, .events = write ? POLLOUT : POLLIN };
        int k;

        do
                k = poll(&p, 1, timeout_ms);
        while (k < 0 && errno == EINTR);
        if (k < 0)
                return -errno;
        return k > 0;
}

typedef struct Connection {
        Challenger *c;
        int fd;
} Connection;

static void *connection_main(void *userdata) {
        Connection *conn = userdata;
        Responder *r = &conn->c->responder;

        r->serve(conn->c, conn->fd);
        close(conn->fd);
        pthread_mutex_lock(&r->lock);
        if (--r->active == 0)
                pthread_cond_broadcast(&r->idle);
        pthread_mutex_unlock(&r->lock);
        free(conn);
        return NULL;
}

/* Serve fd on a detached thread of its own, or here when that cannot be. */
static void dispatch(Challenger *c, Responder *r, int fd) {
        pthread_attr_t attr;
        pthread_t t;
        Connection *conn;
        bool ok = false;

        pthread_mutex_lock(&r->lock);
        if (r->active < RESPONDER_CONNECTIONS_MAX && (conn = malloc(sizeof(*conn)))) {
                *conn = (Connection) { .c = c, .fd = fd };
                r->active++;
                if (pthread_attr_init(&attr) == 0) {
                        (void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                        (void) pthread_attr_setstacksize(&attr, 256 * 1024);
                        ok = pthread_create(&t, &attr, connection_main, conn) == 0;
                        pthread_attr_destroy(&attr);
                }
                if (!ok) {
                        r->active--;
                        free(conn);
                }
        }
        pthread_mutex_unlock(&r->lock);
        if (!ok) {
                r->serve(c, fd);
                close(fd);
        }
}

static void *responder_main(void *userdata) {
        Challenger *c = userdata;
        Responder *r = &c->responder;

        for (;;) {
                struct pollfd p[2] = { { .fd = r->listen_fd, .events = POLLIN }, { .fd = r->stop_pipe[0], .events = POLLIN } };
                int fd;

                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (p[1].revents)
                        break;
                if (!(p[0].revents & POLLIN))
                        continue;
                fd = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd >= 0)
                        dispatch(c, r, fd);
        }
        return NULL;
}

int responder_start(Challenger *c, Responder *r, void (*serve)(Challenger *c, int fd)) {
        struct sockaddr_storage sa;
        unsigned sa_len;
        int one = 1, zero = 0, k;

        if (challenge_parse_listen(c->cfg->listen, &sa, &sa_len) < 0)
                return log_error_errno(-EINVAL, "[acme \"%s\"] invalid listen address '%s'", c->cfg->name,
                                       c->cfg->listen);
        r->listen_fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (r->listen_fd < 0)
                return log_error_errno(-errno, "[acme \"%s\"] cannot make a socket for %s: %m", c->cfg->name,
                                       c->cfg->listen);
        (void) setsockopt(r->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (sa.ss_family == AF_INET6)
                (void) setsockopt(r->listen_fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
        if (bind(r->listen_fd, (struct sockaddr *) &sa, sa_len) < 0 || listen(r->listen_fd, 64) < 0) {
                k = -errno;
                close(r->listen_fd);
                r->listen_fd = -1;
                return log_error_errno(k, "[acme \"%s\"] cannot listen on %s for %s: %m", c->cfg->name, c->cfg->listen,
                                       challenge_type_to_string(c->cfg->challenge));
        }
        if (pipe2(r->stop_pipe, O_CLOEXEC) < 0) {
                k = -errno;
                close(r->listen_fd);
                r->listen_fd = -1;
                return log_error_errno(k, "cannot make a pipe: %m");
        }
        r->serve = serve;
        pthread_mutex_init(&r->lock, NULL);
        pthread_cond_init(&r->idle, NULL);
        r->active = 0;
        k = pthread_create(&r->thread, NULL, responder_main, c);
        if (k != 0) {
                responder_stop(r);
                return log_error_errno(-k, "[acme \"%s\"] cannot start the %s responder: %m", c->cfg->name,
                                       challenge_type_to_string(c->cfg->challenge));
        }
        r->running = true;
        log_debug("[acme \"%s\"] %s responder listening on %s", c->cfg->name,
                  challenge_type_to_string(c->cfg->challenge), c->cfg->listen);
        return 0;
}

void responder_stop(Responder *r) {
        if (r->running) {
                (void) !write(r->stop_pipe[1], "x", 1);
                pthread_join(r->thread, NULL);
                /* Connections still being served end within their I/O timeouts. */
                pthread_mutex_lock(&r->lock);
                while (r->active > 0)
                        pthread_cond_wait(&r->idle, &r->lock);
                pthread_mutex_unlock(&r->lock);
                pthread_mutex_destroy(&r->lock);
                pthread_cond_destroy(&r->idle);
                r->running = false;
        }
        for (int i = 0; i < 2; i++)
                if (r->stop_pipe[i] >= 0) {
                        close(r->stop_pipe[i]);
                        r->stop_pipe[i] = -1;
                }
        if (r->listen_fd >= 0) {
                close(r->listen_fd);
                r->listen_fd = -1;
        }
}
