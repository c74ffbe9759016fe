/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The built-in challenge responders (http-01, tls-alpn-01) share one event loop on a thread of its own:
 * the listening socket and every connection in one epoll set, each connection a small state machine
 * stepped whenever its socket is ready, with a deadline of its own (RESPONDER_DEADLINE from accept).
 * There is no cap a flood could fill: an idle or dribbling connection costs a descriptor and a few
 * kilobytes, not a thread, so the CA's request is served the moment its bytes arrive, whatever else is
 * connected. When the process runs out of descriptors, the oldest connection is dropped to accept the
 * new one. */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "time-util.h"

/* Everything a connection may take, from accept to close: requests are a line and a few headers. */
#define RESPONDER_DEADLINE (10 * USEC_PER_SEC)

/* What a connection's step asks for next. */
enum {
        RESPONDER_DONE = 0,   /* close it */
        RESPONDER_WANT_READ,  /* call again when readable */
        RESPONDER_WANT_WRITE, /* call again when writable */
};

/* A protocol: conn_size bytes of state per connection (zeroed), open() once after accept, step() when the
 * socket is ready (returns RESPONDER_* or -errno to close), close() once, whatever ended it. */
typedef struct ResponderProto {
        size_t conn_size;
        int (*open)(void *userdata, void *conn, int fd);
        int (*step)(void *userdata, void *conn, int fd);
        void (*close)(void *userdata, void *conn);
} ResponderProto;

typedef struct ResponderConn ResponderConn;

typedef struct Responder {
        const AcmeConfig *cfg;
        int listen_fd;
        int epoll_fd;
        int stop_pipe[2];
        pthread_t thread;
        bool running;
        const ResponderProto *proto;
        void *userdata;
        ResponderConn *oldest, *newest; /* in accept order, so also in deadline order */
        unsigned active;
        unsigned expired; /* connections cut at their deadline, for the debug log */
        unsigned dropped; /* connections dropped for want of descriptors */
} Responder;

/* A Responder that is not running (for challenge_new). */
void responder_init(Responder *r);
/* Listen on cfg->listen and serve each connection with proto. Returns 0 or -errno (logged: the address
 * that could not be bound). */
int responder_start(Responder *r, const AcmeConfig *cfg, const ResponderProto *proto, void *userdata);
/* Stop accepting, close every connection still open, wait for the thread. */
void responder_stop(Responder *r);

/* "[::]:80", "127.0.0.1:5002", "*:80", ":80", "80" → a socket address. Returns 0 or -EINVAL. */
struct sockaddr_storage;
int challenge_parse_listen(const char *s, struct sockaddr_storage *ret, unsigned *ret_len);
