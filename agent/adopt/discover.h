/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "import-inventory.h"

/* `certherd discover [--write FILE]`: a watch-only inventory of the certificates this host serves. Sources:
 * the running nginx masters (`nginx -T` with their -p/-c), Apache's site files, HAProxy's configuration
 * (`bind … ssl crt`), the running PostgreSQL postmasters and Debian's clusters (postgresql.conf with
 * ssl = on), and the TCP listeners of this network namespace, each probed with a TLS handshake (and
 * PostgreSQL's SSLRequest). One set per key and certificate pair: issuer = none, reload = the unit that
 * serves it, verify = each listener that served its certificate. Listeners on non-loopback addresses that
 * speak no TLS are reported on stderr, one line each, and as comments. Returns an exit code. */
int discover_run(const ImportOptions *o);

/* The server blocks of an `nginx -T` dump: calls add(cert, key, listen, server_name) for every
 * ssl_certificate/ssl_certificate_key pair of every server block (listen: "ADDR:PORT", "PORT", one call
 * per listen with `ssl`, or NULL). Pure; exposed for tests. Returns 0 or -ENOMEM. */
typedef int (*DiscoverNginxAdd)(void *userdata, const char *cert, const char *key, const char *listen,
                                const char *server_name);
int discover_parse_nginx(const char *text, size_t size, DiscoverNginxAdd add, void *userdata);
