/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "time-util.h"

/* What certherd itself revoked (`revoke`, `ca revoke`), per certificate set: STATE/revocations.json,
 * {"revocations": [{"name": "set", "serial": "hex", "reason": "superseded", "revoked_at": SECONDS,
 * "not_after": SECONDS}]}. A CA may publish no CRL (an ACME server without one, an internal CA without
 * `crl`), or a peer may not have fetched it yet: from this record `check` still calls the installed
 * certificate revoked, and the next renewal replaces it with a new key. Written atomically under its own
 * lock; entries of certificates that have expired are dropped when one is added. Parsing is strict. */

typedef struct Revocation {
        char *name;
        char *serial; /* lowercase hex, as x509 facts print it */
        char *reason; /* "key-compromise", "superseded", … */
        usec_t revoked_at;
        usec_t not_after;
} Revocation;

typedef struct Revocations {
        Revocation *entries;
        size_t n;
} Revocations;

void revocations_done(Revocations *l);
int revocations_parse(const char *text, size_t size, Revocations *ret);

/* The whole record, for a caller that looks up many sets (check): a missing file is an empty record.
 * Returns 0, -EBADMSG (damaged), -errno. */
int revocations_load(const char *state_dir, Revocations *ret);
/* The entry of set `name`'s certificate `serial`, or NULL. */
const Revocation *revocations_lookup(const Revocations *l, const char *name, const char *serial);

/* Record that set `name`'s certificate `serial` (valid until not_after) was revoked for `reason` at
 * `now`. Returns 0 or -errno (logged). */
int revocations_add(const char *state_dir, const char *name, const char *serial, const char *reason,
                    usec_t not_after, usec_t now);

/* Whether set `name`'s certificate `serial` was revoked by certherd: 1 with *ret (a copy; free it with
 * revocation_done), 0 no, -errno when the record cannot be read (logged at debug level: check goes on). */
int revocations_find(const char *state_dir, const char *name, const char *serial, Revocation *ret);
void revocation_done(Revocation *r);

/* revocations_add() for the certificate in `data` (PEM or DER; the first one): its serial and not_after.
 * Returns 0 or -errno (logged). */
int revocations_add_certificate(const char *state_dir, const char *name, const uint8_t *data, size_t size,
                                const char *reason, usec_t now);
