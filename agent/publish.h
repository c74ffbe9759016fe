/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gnutls/x509.h>

#include "config.h"
#include "pin.h"
#include "time-util.h"

/* STATE/keys/NAME.next: the key the next renewal of a key-policy = rotate certificate will use. */
int publish_next_key_path(const Inventory *inv, const CertConfig *c, char **ret);
/* Load it (encrypted PKCS#8 with `password`, the set's key-password-file, else plain); -ENOENT when there
 * is none, -ESTALE when it no longer has the configured key type, -EACCES when it cannot be decrypted. */
int publish_next_key_load(const Inventory *inv, const CertConfig *c, const char *password, gnutls_x509_privkey_t *ret);

/* Publish <pin-directory>/<name>.pin and .json for (pin, not_after) unless they say so already (for
 * rotate, with next_pin_sha256 of the next key, made here when missing and written encrypted when the set
 * has a key-password-file); a pin-changed event when the
 * published pin (or fallback_previous, before any) differs. Returns 1 when written, 0 when up to date,
 * -errno (logged). */
int publish_pins(const Inventory *inv, const CertConfig *c, const uint8_t pin[PIN_SIZE], usec_t not_after,
                 const uint8_t *fallback_previous, usec_t now);

/* The pin in a published .pin file. */
int publish_read_pin(const char *path, uint8_t ret[PIN_SIZE]);
