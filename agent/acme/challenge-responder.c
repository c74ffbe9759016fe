/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The responders' accept loop (challenge-responder.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "challenge-responder.h"
#include "challenge.h"
#include "log.h"

/* How long the accept loop waits for the oldest connection's thread to let go of its slot. */
#define DROP_WAIT_MS 1000

int responder_fd_wait(int fd, bool write, usec_t deadline) {
        struct pollfd p = { .fd = fd, .events = write ? POLLOUT : POLLIN };
        int k;

        for (;;) {
                usec_t now = now_monotonic();

                if (now >= deadline)
                        return 0;
                k = poll(&p, 1, (int) ((deadline - now + 999) / 1000));
                if (k >= 0 || errno != EINTR)
                        break;
        }
        if (k < 0)
                return -errno;
        return k > 0;
}

void responder_init(Responder *r) {
        *r = (Responder) { .listen_fd = -1, .stop_pipe = { -1, -1 } };
        for (size_t i = 0; i < RESPONDER_CONNECTIONS_MAX; i++)
                r->slots[i].fd = -1;
}

typedef struct Connection {
        Responder *r;
        size_t slot;
        int fd;
} Connection;

static void *connection_main(void *userdata) {
        Connection *conn = userdata;
        Responder *r = conn->r;

        r->serve(r->userdata, conn->fd, r->slots[conn->slot].started + RESPONDER_DEADLINE);
        /* The slot is given up before the fd is closed: whoever shuts a slot's fd down (to drop it) does
         * so under the lock, while the fd is certainly still ours. */
        pthread_mutex_lock(&r->lock);
        r->slots[conn->slot].fd = -1;
        r->active--;
        pthread_cond_broadcast(&r->freed);
        pthread_mutex_unlock(&r->lock);
        close(conn->fd);
        free(conn);
        return NULL;
}

/* With every slot taken: cut the oldest connection (its thread sees EOF at once and ends) and wait a
 * little for its slot. Called with the lock held. Returns a free slot or -1. */
static ssize_t slot_make_room(Responder *r) {
        struct timespec until;
        size_t oldest = 0;

        for (size_t i = 1; i < RESPONDER_CONNECTIONS_MAX; i++)
                if (r->slots[i].started < r->slots[oldest].started)
                        oldest = i;
        (void) shutdown(r->slots[oldest].fd, SHUT_RDWR);
        r->dropped++;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (long) DROP_WAIT_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (r->active >= RESPONDER_CONNECTIONS_MAX)
                if (pthread_cond_timedwait(&r->freed, &r->lock, &until) == ETIMEDOUT)
                        return -1;
        for (size_t i = 0; i < RESPONDER_CONNECTIONS_MAX; i++)
                if (r->slots[i].fd < 0)
                        return (ssize_t) i;
        return -1;
}

/* Serve fd on a detached thread of its own; when that cannot be, drop it (never serve it here: the
 * accept loop must stay free for the next client, which may be the CA). */
static void dispatch(Responder *r, int fd) {
        pthread_attr_t attr;
        pthread_t t;
        Connection *conn = NULL;
        ssize_t slot = -1;
        bool ok = false;

        pthread_mutex_lock(&r->lock);
        if (r->active < RESPONDER_CONNECTIONS_MAX) {
                for (size_t i = 0; i < RESPONDER_CONNECTIONS_MAX && slot < 0; i++)
                        if (r->slots[i].fd < 0)
                                slot = (ssize_t) i;
        } else
                slot = slot_make_room(r);
        if (slot >= 0 && (conn = malloc(sizeof(*conn)))) {
                *conn = (Connection) { .r = r, .slot = (size_t) slot, .fd = fd };
                r->slots[slot] = (ResponderSlot) { .fd = fd, .started = now_monotonic() };
                r->active++;
                if (pthread_attr_init(&attr) == 0) {
                        (void) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
                        (void) pthread_attr_setstacksize(&attr, 256 * 1024);
                        ok = pthread_create(&t, &attr, connection_main, conn) == 0;
                        pthread_attr_destroy(&attr);
                }
                if (!ok) {
                        r->slots[slot].fd = -1;
                        r->active--;
                        free(conn);
                }
        }
        pthread_mutex_unlock(&r->lock);
        if (!ok)
                close(fd);
}

static void *responder_main(void *userdata) {
        Responder *r = userdata;

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
                        dispatch(r, fd);
        }
        return NULL;
}

int responder_start(Responder *r, const AcmeConfig *cfg, ResponderServe serve, void *userdata) {
        struct sockaddr_storage sa;
        unsigned sa_len;
        int one = 1, zero = 0, k;

        r->cfg = cfg;
        if (challenge_parse_listen(cfg->listen, &sa, &sa_len) < 0)
                return log_error_errno(-EINVAL, "[acme \"%s\"] invalid listen address '%s'", cfg->name, cfg->listen);
        r->listen_fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (r->listen_fd < 0)
                return log_error_errno(-errno, "[acme \"%s\"] cannot make a socket for %s: %m", cfg->name, cfg->listen);
        (void) setsockopt(r->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (sa.ss_family == AF_INET6)
                (void) setsockopt(r->listen_fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
        if (bind(r->listen_fd, (struct sockaddr *) &sa, sa_len) < 0 || listen(r->listen_fd, 128) < 0) {
                k = -errno;
                close(r->listen_fd);
                r->listen_fd = -1;
                return log_error_errno(k, "[acme \"%s\"] cannot listen on %s for %s: %m", cfg->name, cfg->listen,
                                       challenge_type_to_string(cfg->challenge));
        }
        if (pipe2(r->stop_pipe, O_CLOEXEC) < 0) {
                k = -errno;
                close(r->listen_fd);
                r->listen_fd = -1;
                return log_error_errno(k, "cannot make a pipe: %m");
        }
        r->serve = serve;
        r->userdata = userdata;
        pthread_condattr_t ca;

        pthread_mutex_init(&r->lock, NULL);
        /* slot_make_room's timed wait counts on the monotonic clock */
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&r->freed, &ca);
        pthread_condattr_destroy(&ca);
        r->active = 0;
        k = pthread_create(&r->thread, NULL, responder_main, r);
        if (k != 0) {
                pthread_mutex_destroy(&r->lock);
                pthread_cond_destroy(&r->freed);
                responder_stop(r);
                return log_error_errno(-k, "[acme \"%s\"] cannot start the %s responder: %m", cfg->name,
                                       challenge_type_to_string(cfg->challenge));
        }
        r->running = true;
        log_debug("[acme \"%s\"] %s responder listening on %s", cfg->name, challenge_type_to_string(cfg->challenge),
                  cfg->listen);
        return 0;
}

void responder_stop(Responder *r) {
        if (r->running) {
                (void) !write(r->stop_pipe[1], "x", 1);
                pthread_join(r->thread, NULL);
                /* Connections still being served are cut: their threads end at once. */
                pthread_mutex_lock(&r->lock);
                for (size_t i = 0; i < RESPONDER_CONNECTIONS_MAX; i++)
                        if (r->slots[i].fd >= 0)
                                (void) shutdown(r->slots[i].fd, SHUT_RDWR);
                while (r->active > 0)
                        pthread_cond_wait(&r->freed, &r->lock);
                pthread_mutex_unlock(&r->lock);
                if (r->dropped > 0)
                        log_debug("[acme \"%s\"] %s responder: %u connections dropped to make room", r->cfg->name,
                                  challenge_type_to_string(r->cfg->challenge), r->dropped);
                pthread_mutex_destroy(&r->lock);
                pthread_cond_destroy(&r->freed);
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
