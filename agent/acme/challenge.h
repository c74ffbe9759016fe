/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "macro.h"

/* Answering ACME challenges (RFC 8555 §8, RFC 8737), one interface over three backends:
 *   http-01      webroot: WEBROOT/.well-known/acme-challenge/TOKEN written atomically, removed after;
 *                without webroot: a built-in HTTP responder on `listen` serving only the tokens added.
 *   dns-01       `dns-hook add|remove DOMAIN VALUE`: DOMAIN is the identifier without "*." (the record
 *                goes at _acme-challenge.DOMAIN), VALUE the TXT value base64url(SHA-256(key authorization)).
 *   tls-alpn-01  a built-in GnuTLS responder on `listen` (acme-tls/1, a self-signed certificate per
 *                name carrying the acmeIdentifier extension).
 * A Challenger belongs to one [acme] section and may be used from several threads: the responders are
 * started on first use and serve every order of the batch, each from one event loop on a thread of its
 * own (acme-internal.h). */

typedef struct Challenger Challenger;

int challenge_new(const AcmeConfig *a, Challenger **ret);
/* Stops the responders, removes what is still published. */
Challenger *challenge_free(Challenger *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Challenger *, challenge_free)
#define _cleanup_challenger_ _cleanup_(challenge_freep)

ChallengeType challenge_type(const Challenger *c) _pure_;

/* Publish the response for `identifier` (a DNS name or IP address; no "*."), `token` (base64url) and
 * `key_authorization` (token.thumbprint). Returns 0 or -errno (logged with the detail: the hook's exit
 * status, the path, the address that could not be bound). */
int challenge_add(Challenger *c, const char *identifier, const char *token, const char *key_authorization);
/* Withdraw it; failures are logged and otherwise ignored. */
void challenge_remove(Challenger *c, const char *identifier, const char *token,
                      const char *key_authorization);
