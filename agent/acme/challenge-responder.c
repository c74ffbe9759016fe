/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The responders' event loop (acme-internal.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acme-internal.h"
#include "challenge.h"
#include "log.h"
#include "macro.h"

struct ResponderConn {
        int fd;
        usec_t deadline;
        ResponderConn *older, *newer;
        max_align_t state[]; /* the protocol's, proto->conn_size bytes */
};

/* epoll data of the two descriptors that are not connections */
static char listen_tag, stop_tag;

void responder_init(Responder *r) {
        *r = (Responder){ .listen_fd = -1, .epoll_fd = -1, .stop_pipe = { -1, -1 } };
}

static void conn_close(Responder *r, ResponderConn *c) {
        r->proto->close(r->userdata, c->state);
        (void) epoll_ctl(r->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        if (c->older)
                c->older->newer = c->newer;
        else
                r->oldest = c->newer;
        if (c->newer)
                c->newer->older = c->older;
        else
                r->newest = c->older;
        r->active--;
        free(c);
}

/* Step c and re-arm it for what it wants next, or close it. */
static void conn_step(Responder *r, ResponderConn *c) {
        struct epoll_event ev = { .data.ptr = c };
        int k = r->proto->step(r->userdata, c->state, c->fd);

        if (k == RESPONDER_WANT_READ || k == RESPONDER_WANT_WRITE) {
                ev.events = (k == RESPONDER_WANT_READ ? EPOLLIN : EPOLLOUT) | EPOLLRDHUP | EPOLLONESHOT;
                if (epoll_ctl(r->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) >= 0)
                        return;
        }
        conn_close(r, c);
}

static void conn_new(Responder *r, int fd) {
        ResponderConn *c = calloc(1, sizeof(ResponderConn) + r->proto->conn_size);
        struct epoll_event ev = { .events = EPOLLONESHOT };

        if (!c) {
                close(fd);
                return;
        }
        *c = (ResponderConn){ .fd = fd,
                              .deadline = now_monotonic() + RESPONDER_DEADLINE,
                              .older = r->newest };
        ev.data.ptr = c;
        if (epoll_ctl(r->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0 ||
            r->proto->open(r->userdata, c->state, fd) < 0) {
                close(fd);
                free(c);
                return;
        }
        if (r->newest)
                r->newest->newer = c;
        else
                r->oldest = c;
        r->newest = c;
        r->active++;
        /* The request may already be there: serve it now rather than after a round through epoll. */
        conn_step(r, c);
}

/* Accept everything pending. Out of descriptors, the oldest connection makes room (an idle flood is
 * older than the CA's request, which is served the moment it arrives). */
static void accept_all(Responder *r) {
        for (;;) {
                int fd = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

                if (fd >= 0) {
                        conn_new(r, fd);
                        continue;
                }
                if (errno == EINTR || errno == ECONNABORTED)
                        continue;
                if ((errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) &&
                    r->oldest) {
                        conn_close(r, r->oldest);
                        r->dropped++;
                        continue;
                }
                return; /* EAGAIN: nothing more to accept */
        }
}

static void *responder_main(void *userdata) {
        Responder *r = userdata;

        for (;;) {
                struct epoll_event ev[64];
                usec_t now = now_monotonic();
                int n, timeout = -1;

                while (r->oldest && r->oldest->deadline <= now) {
                        conn_close(r, r->oldest);
                        r->expired++;
                }
                if (r->oldest)
                        timeout = (int) ((r->oldest->deadline - now + 999) / 1000);
                n = epoll_wait(r->epoll_fd, ev, (int) ELEMENTSOF(ev), timeout);
                if (n < 0 && errno != EINTR)
                        break;
                for (int i = 0; i < n; i++) {
                        if (ev[i].data.ptr == &stop_tag)
                                return NULL;
                        if (ev[i].data.ptr == &listen_tag)
                                accept_all(r);
                        else
                                conn_step(r, ev[i].data.ptr);
                }
        }
        return NULL;
}

int responder_start(Responder *r, const AcmeConfig *cfg, const ResponderProto *proto, void *userdata) {
        struct epoll_event lev = { .events = EPOLLIN, .data.ptr = &listen_tag },
                           sev = { .events = EPOLLIN, .data.ptr = &stop_tag };
        struct sockaddr_storage sa;
        unsigned sa_len;
        int one = 1, zero = 0, k;

        r->cfg = cfg;
        r->proto = proto;
        r->userdata = userdata;
        if (challenge_parse_listen(cfg->listen, &sa, &sa_len) < 0)
                return log_error_errno(-EINVAL, "[acme \"%s\"] invalid listen address '%s'", cfg->name,
                                       cfg->listen);
        r->listen_fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (r->listen_fd < 0)
                return log_error_errno(-errno, "[acme \"%s\"] cannot make a socket for %s: %m", cfg->name,
                                       cfg->listen);
        (void) setsockopt(r->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (sa.ss_family == AF_INET6)
                (void) setsockopt(r->listen_fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
        if (bind(r->listen_fd, (struct sockaddr *) &sa, sa_len) < 0 || listen(r->listen_fd, 4096) < 0) {
                k = -errno;
                responder_stop(r);
                return log_error_errno(k, "[acme \"%s\"] cannot listen on %s for %s: %m", cfg->name,
                                       cfg->listen, challenge_type_to_string(cfg->challenge));
        }
        r->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (r->epoll_fd < 0 || pipe2(r->stop_pipe, O_CLOEXEC) < 0 ||
            epoll_ctl(r->epoll_fd, EPOLL_CTL_ADD, r->listen_fd, &lev) < 0 ||
            epoll_ctl(r->epoll_fd, EPOLL_CTL_ADD, r->stop_pipe[0], &sev) < 0) {
                k = -errno;
                responder_stop(r);
                return log_error_errno(k, "[acme \"%s\"] cannot set up the %s responder: %m", cfg->name,
                                       challenge_type_to_string(cfg->challenge));
        }
        k = pthread_create(&r->thread, NULL, responder_main, r);
        if (k != 0) {
                responder_stop(r);
                return log_error_errno(-k, "[acme \"%s\"] cannot start the %s responder: %m", cfg->name,
                                       challenge_type_to_string(cfg->challenge));
        }
        r->running = true;
        log_debug("[acme \"%s\"] %s responder listening on %s", cfg->name,
                  challenge_type_to_string(cfg->challenge), cfg->listen);
        return 0;
}

void responder_stop(Responder *r) {
        if (r->running) {
                (void) !write(r->stop_pipe[1], "x", 1);
                pthread_join(r->thread, NULL);
                r->running = false;
        }
        while (r->oldest)
                conn_close(r, r->oldest);
        if (r->cfg && (r->expired > 0 || r->dropped > 0))
                log_debug(
                        "[acme \"%s\"] %s responder: %u connections cut at their deadline, %u dropped for want of "
                        "descriptors",
                        r->cfg->name, challenge_type_to_string(r->cfg->challenge), r->expired, r->dropped);
        r->expired = r->dropped = 0;
        for (int i = 0; i < 2; i++)
                if (r->stop_pipe[i] >= 0) {
                        close(r->stop_pipe[i]);
                        r->stop_pipe[i] = -1;
                }
        if (r->epoll_fd >= 0) {
                close(r->epoll_fd);
                r->epoll_fd = -1;
        }
        if (r->listen_fd >= 0) {
                close(r->listen_fd);
                r->listen_fd = -1;
        }
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
