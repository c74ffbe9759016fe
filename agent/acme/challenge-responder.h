/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The accept loop the built-in challenge responders (http-01, tls-alpn-01) share: a listening socket on
 * a thread of its own, each connection served on a thread of its own within a total deadline, at most
 * RESPONDER_CONNECTIONS_MAX at once. When all are taken the oldest connection is dropped to make room:
 * the accept loop never serves a connection itself, so idle or slow clients (a port scanner, a flood
 * of 65 dribbling connections) cannot keep the CA's validation requests out. */

#include <pthread.h>
#include <stdbool.h>

#include "config.h"
#include "time-util.h"

#define RESPONDER_CONNECTIONS_MAX 64
/* Everything a connection may take, from accept to close: requests are a line and a few headers. */
#define RESPONDER_DEADLINE (10 * USEC_PER_SEC)

/* Serve one accepted connection (non-blocking fd) before `deadline` (CLOCK_MONOTONIC); closes nothing. */
typedef void (*ResponderServe)(void *userdata, int fd, usec_t deadline);

typedef struct ResponderSlot {
        int fd; /* -1: free */
        usec_t started;
} ResponderSlot;

typedef struct Responder {
        const AcmeConfig *cfg;
        int listen_fd;
        int stop_pipe[2];
        pthread_t thread;
        bool running;
        ResponderServe serve;
        void *userdata;
        pthread_mutex_t lock;
        pthread_cond_t freed; /* a slot became free */
        ResponderSlot slots[RESPONDER_CONNECTIONS_MAX];
        unsigned active;
        unsigned dropped; /* connections shut down to make room, for the debug log and tests */
} Responder;

/* A Responder that is not running (for challenge_new). */
void responder_init(Responder *r);
/* Listen on cfg->listen and serve each connection with serve(userdata, fd, deadline). Returns 0 or
 * -errno (logged: the address that could not be bound). */
int responder_start(Responder *r, const AcmeConfig *cfg, ResponderServe serve, void *userdata);
/* Stop accepting, cut the connections still open, wait for their threads. */
void responder_stop(Responder *r);

/* Wait until fd is readable (or writable), at most until `deadline` (CLOCK_MONOTONIC). Returns 1, 0 when
 * the deadline passed, -errno. */
int responder_fd_wait(int fd, bool write, usec_t deadline);

/* "[::]:80", "127.0.0.1:5002", "*:80", ":80", "80" → a socket address. Returns 0 or -EINVAL. */
struct sockaddr_storage;
int challenge_parse_listen(const char *s, struct sockaddr_storage *ret, unsigned *ret_len);
