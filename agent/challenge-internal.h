/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Private to challenge*.c: the backend interface behind the facade of challenge.h. */

#include <pthread.h>
#include <stdbool.h>

#include "challenge.h"

typedef struct ChallengeItem {
        const char *identifier;
        const char *token;
        const char *key_authorization;
} ChallengeItem;

typedef struct ChallengeOps {
        /* Called once, on the first add; may start a responder thread. */
        int (*start)(Challenger *c);
        int (*add)(Challenger *c, const ChallengeItem *it);
        void (*remove)(Challenger *c, const ChallengeItem *it);
        /* Undo start(). */
        void (*stop)(Challenger *c);
} ChallengeOps;

extern const ChallengeOps challenge_http_webroot_ops;
extern const ChallengeOps challenge_http_responder_ops;
extern const ChallengeOps challenge_dns_hook_ops;
extern const ChallengeOps challenge_alpn_ops;

/* A listening socket's accept loop on its own thread, stopped through a pipe. */
typedef struct Responder {
        int listen_fd;
        int stop_pipe[2];
        pthread_t thread;
        bool running;
        void (*serve)(Challenger *c, int fd); /* one accepted connection; closes nothing */
        /* Connections are served on threads of their own, so that one that idles (a port scanner on
         * port 80) does not hold up the validation servers' requests. */
        pthread_mutex_t lock;
        pthread_cond_t idle;
        unsigned active;
} Responder;

/* At most this many connections are served at once; beyond, the accept loop serves them itself. */
#define RESPONDER_CONNECTIONS_MAX 64

int responder_start(Challenger *c, Responder *r, void (*serve)(Challenger *c, int fd));
void responder_stop(Responder *r);

/* Wait until fd is readable (or writable), at most timeout_ms. Returns 1, 0 on timeout, -errno. */
int challenge_fd_wait(int fd, bool write, int timeout_ms);

struct Challenger {
        const AcmeConfig *cfg;
        const ChallengeOps *ops;
        pthread_mutex_t lock; /* started, and each backend's table */
        bool started;
        int start_error;
        Responder responder;
        void *backend; /* the backend's own state (token table, TLS key) */
};
