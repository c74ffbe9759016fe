/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* SPKI SHA-256 pins (docs/pins.md, contract): base64 of SHA-256 over the DER SubjectPublicKeyInfo,
 * exactly what `curl --pinnedpubkey sha256//…` and SDK `pin_sha256` options take. Pure: no I/O. */

#define PIN_SIZE 32

typedef enum PinFormat {
        PIN_FORMAT_BASE64, /* "q1w2…=" (44 chars) */
        PIN_FORMAT_CURL,   /* "sha256//q1w2…=" */
        PIN_FORMAT_HEX,    /* 64 lowercase hex digits */
        _PIN_FORMAT_MAX,
        _PIN_FORMAT_INVALID = -22,
} PinFormat;

const char *pin_format_to_string(PinFormat f) _pure_;
PinFormat pin_format_from_string(const char *s) _pure_;

/* SHA-256 over `spki_der` (the DER of a SubjectPublicKeyInfo). Returns 0 or -errno. */
int pin_compute(const uint8_t *spki_der, size_t size, uint8_t ret[PIN_SIZE]);

/* Format into a malloc'd string. Returns 0 or -ENOMEM/-EINVAL. */
int pin_format(const uint8_t pin[PIN_SIZE], PinFormat f, char **ret);

/* Parse "base64", "sha256//base64" or 64 hex digits; the base64 must decode to exactly 32 bytes.
 * Returns 0, or -EINVAL with *reterr (static string) saying why. */
int pin_parse(const char *s, uint8_t ret[PIN_SIZE], const char **reterr);

/* The <pin-directory>/<name>.json document of docs/pins.md (contract): {"name", "pin_sha256",
 * "next_pin_sha256"? (when next_pin is non-NULL), "not_after", "updated"}, newline-terminated. */
int pin_render_json(const char *name, const uint8_t pin[PIN_SIZE], const uint8_t *next_pin,
                    uint64_t not_after_usec, uint64_t updated_usec, char **ret);
