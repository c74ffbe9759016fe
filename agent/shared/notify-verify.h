/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "time-util.h"

/* Deploy verification: connect to `endpoint` ("tls://HOST:PORT" or "tls://HOST:PORT?starttls=postgres",
 * the PostgreSQL SSLRequest preamble done here), do a GnuTLS handshake (no trust check: we compare) and
 * compare the served leaf with `expected_der`, retrying until it matches or `timeout` passes.
 * A HOST that is a name is also sent as SNI. Attempts come every 20 ms for half a second (nginx serves a
 * new certificate ~120 ms after its reload job is done), then back off to 250 ms; the first attempt always
 * gets at least 1 s.
 * Logs deploy-verified, or deploy-mismatch with the served serial and pin (CERTHERD_PIN: the served pin),
 * both with CERTHERD_ENDPOINT; an endpoint still unreachable at the deadline is a deploy-mismatch too, saying
 * why. Returns 0 when it matched, -EPROTO on mismatch, -EINVAL for a malformed endpoint, -errno when the
 * endpoint could not be reached (-ECONNREFUSED, -ETIMEDOUT, -EPROTONOSUPPORT: PostgreSQL said no to SSL).
 * On failure, when reterr is non-NULL, *reterr is a malloc'd one-line reason, the deploy-mismatch event's
 * message ("tls://127.0.0.1:4443 serves serial 1a2b (pin …), not the installed serial 3c4d (pin …); …"). */
int notify_verify(const char *endpoint, const uint8_t *expected_der, size_t expected_size,
                  const char *cert_name, usec_t timeout, char **reterr);

typedef enum NotifyStarttls {
        NOTIFY_STARTTLS_NONE,
        NOTIFY_STARTTLS_POSTGRES,
        _NOTIFY_STARTTLS_MAX,
        _NOTIFY_STARTTLS_INVALID = -22,
} NotifyStarttls;

typedef struct NotifyEndpoint {
        char host[256]; /* without the brackets of an IPv6 literal */
        char port[6];
        bool host_is_ip;
        NotifyStarttls starttls;
} NotifyEndpoint;

/* Parse "tls://HOST:PORT[?starttls=postgres]" (HOST: a name, an IPv4 or a bracketed IPv6 address).
 * Pure, for config validation too. Returns 0 or -EINVAL. */
int notify_endpoint_parse(const char *s, NotifyEndpoint *ret);
