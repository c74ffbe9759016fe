/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What only the files of acme/ share: the challenge backends behind the facade challenge.h (http-01,
 * dns-01, tls-alpn-01), the responders' event loop they run on, and the one DNS lookup (dns-persist-01,
 * CAA). Nothing outside acme/ includes this; the unit tests do, to drive the backends directly. */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "challenge.h"
#include "config.h"
#include "time-util.h"

/* ---- challenge-responder.c ---- */

/* The built-in challenge responders (http-01, tls-alpn-01) share one event loop on a thread of its own:
 * the listening socket and every connection in one epoll set, each connection a small state machine
 * stepped whenever its socket is ready, with a deadline of its own (RESPONDER_DEADLINE from accept).
 * There is no cap a flood could fill: an idle or dribbling connection costs a descriptor and a few
 * kilobytes, not a thread, so the CA's request is served the moment its bytes arrive, whatever else is
 * connected. When the process runs out of descriptors, the oldest connection is dropped to accept the
 * new one. */

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

/* ---- the backend interface (challenge-http.c, challenge-dns.c, challenge-alpn.c) ---- */

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
        /* Undo start(); NULL when start() leaves nothing to undo. */
        void (*stop)(Challenger *c);
} ChallengeOps;

struct Challenger {
        const AcmeConfig *cfg;
        const ChallengeOps *ops;
        pthread_mutex_t lock; /* started, and each backend's table */
        bool started;
        int start_error;
        Responder responder;
        void *backend; /* the backend's own state (token table, TLS key) */
};

/* ---- challenge-http.c ---- */

/* http-01 backends of challenge.h: files under a webroot, or the built-in responder. */

extern const ChallengeOps challenge_http_webroot_ops;
extern const ChallengeOps challenge_http_responder_ops;

/* The largest request head the responder reads; anything longer is answered by closing. */
#define CHALLENGE_HTTP_REQUEST_MAX 4096

/* ---- challenge-dns.c ---- */

/* dns-01 backend of challenge.h: the operator's dns-hook. */

extern const ChallengeOps challenge_dns_hook_ops;

/* The dns-01 TXT value for a key authorization: base64url(SHA-256(ka)). */
int challenge_dns_value(const char *key_authorization, char **ret);

/* ---- challenge-alpn.c ---- */

/* tls-alpn-01 backend of challenge.h: the built-in GnuTLS responder. */

extern const ChallengeOps challenge_alpn_ops;

/* The reverse-DNS name of an IP address, which a CA sends in SNI to validate it over tls-alpn-01
 * (RFC 8738 §6): "127.0.0.1" → "1.0.0.127.in-addr.arpa", "2001:db8::1" → "1.0.…8.b.d.0.1.0.0.2.ip6.arpa".
 * *ret NULL when s is no IP address. Returns 0 or -ENOMEM. */
int challenge_alpn_reverse_name(const char *s, char **ret);

/* ---- dns-lookup.c ---- */

/* One DNS query through the system's resolvers (libresolv), for the records certherd reads itself: the
 * TXT records of dns-persist-01 and CAA. In test builds, $CERTHERD_TEST_RESOLVER=ADDRESS:PORT (IPv4)
 * names the server to ask instead.
 *
 * The whole answer message (of any size a DNS message may have) in *ret (free()), its length in
 * *ret_size. Returns 0, -ENOENT for NXDOMAIN or no record of that type (an answer: nothing there),
 * -EHOSTUNREACH when no server answered (or SERVFAIL), -EINVAL for a bad test resolver, -ENOMEM. */
int dns_lookup(const char *owner, int type, unsigned char **ret, size_t *ret_size);
