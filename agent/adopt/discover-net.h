/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The host's own TCP listeners (/proc/net/tcp and tcp6 of the current network namespace) and what each
 * speaks: a TLS handshake (without SNI, nothing verified: only the served certificate is wanted), else
 * PostgreSQL's SSLRequest. */

typedef enum ListenerKind {
        LISTENER_UNKNOWN,   /* not probed */
        LISTENER_TLS,       /* a TLS handshake: leaf holds the served certificate */
        LISTENER_POSTGRES,  /* SSLRequest answered 'S', then a handshake: leaf likewise */
        LISTENER_PLAINTEXT, /* no TLS handshake and no PostgreSQL TLS */
} ListenerKind;

typedef struct Listener {
        char address[64]; /* as a URL host: 127.0.0.1, [::1], 0.0.0.0, [::] */
        char connect[64]; /* what to connect to: the wildcard replaced by loopback */
        uint16_t port;
        bool loopback; /* bound to 127.0.0.0/8 or ::1 only */
        bool wildcard;
        unsigned long inode;
        pid_t pid; /* the owning process, 0 when not found */
        char comm[32];
        ListenerKind kind;
        uint8_t *leaf; /* DER */
        size_t leaf_size;
} Listener;

/* The LISTEN sockets, deduplicated by address and port. Returns 0 or -errno. */
int discover_listeners(Listener **ret, size_t *ret_n);
void discover_listeners_free(Listener *l, size_t n);

/* Probe each listener (2 s per attempt). */
void discover_probe(Listener *l, size_t n);

/* The DER of the first certificate in PEM or DER data, or -errno. */
int discover_leaf_of(const uint8_t *data, size_t size, uint8_t **ret, size_t *ret_size);
