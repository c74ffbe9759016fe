/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The compromised-keys list of the state directory (compromised-keys.json): the pins of keys revoked for
 * key compromise, which certherd never certifies again, whoever asks (a renewal, `ca sign`). */

#include <stddef.h>
#include <stdint.h>

#include "pin.h"
#include "time-util.h"
typedef struct CompromisedKey {
        char *pin; /* base64 */
        usec_t since;
        char *name;   /* set it was revoked for, may be "" */
        char *serial; /* certificate it was revoked with, may be "" */
} CompromisedKey;

typedef struct CompromisedKeys {
        CompromisedKey *keys;
        size_t n;
} CompromisedKeys;

void compromised_keys_done(CompromisedKeys *l);
int compromised_keys_parse(const char *text, size_t size, CompromisedKeys *ret);
/* A missing list is empty. Returns 0, -EBADMSG (logged), -errno. */
int compromised_keys_load(const char *state_dir, CompromisedKeys *ret);
/* The entry for `pin`, or NULL. */
const CompromisedKey *compromised_keys_find(const CompromisedKeys *l, const uint8_t pin[PIN_SIZE]);
/* Add `pin` (locked, atomic). Returns 0 or -errno (logged). */
int compromised_keys_add(const char *state_dir, const uint8_t pin[PIN_SIZE], const char *name,
                         const char *serial, usec_t now);
/* Add the key of the certificate in `data` (PEM or DER; revoked for key compromise, at set `name`).
 * Returns 0, -EBADMSG when it holds no certificate, or -errno. */
int compromised_keys_add_certificate(const char *state_dir, const uint8_t *data, size_t size,
                                     const char *name, usec_t now);
/* Whether `pin` is in the list: 1 yes (*ret_since set when non-NULL), 0 no, -errno when the list cannot be
 * read (the caller refuses to certify then: an unreadable list must not let a compromised key through). */
int compromised_keys_check(const char *state_dir, const uint8_t pin[PIN_SIZE], usec_t *ret_since);
