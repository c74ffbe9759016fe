/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include "config.h"
#include "pin.h"

/* Keys in a PKCS#11 token (RFC 7512 URIs, "pkcs11:token=…;object=…"), through GnuTLS. Private keys stay
 * in the token: generated there, used there for signatures, never exported.
 *
 * Modules: the ones p11-kit registers (its module files, e.g. Debian's softhsm2.module), or exactly the
 * [agent] pkcs11-module list when it is set. The PIN: `pin-source=` in the URI (a file, as p11-kit reads
 * it) or the key's pkcs11-pin-file; a PIN is tried once (a wrong PIN is never retried: tokens lock). */

/* Whether a `key =` value names a token object rather than a file. */
bool token_is_url(const char *s);

/* Load the PKCS#11 modules: `modules` (NULL or empty: p11-kit's registered modules). The first call in a
 * process decides; later calls do nothing. Returns 0 or -errno (logged). */
int token_init(char *const *modules);

/* token_init with [agent] pkcs11-module when the inventory names a key in a token; nothing otherwise (a
 * run without token keys loads no module). Call right after loading the inventory. */
int token_init_inventory(const Inventory *inv);

/* The private key object `url` names (type=private is implied), ready to sign. pin_file may be NULL.
 * Returns 0, -ENOENT (no such object), -EACCES (no PIN or a wrong one), -errno. */
int token_load_privkey(const char *url, const char *pin_file, gnutls_privkey_t *ret);

/* The pin (SHA-256 of the SubjectPublicKeyInfo) and the DER SPKI of the key `url` names: from its public
 * object when there is one (no login), else through the private key. ret_spki may be NULL. */
int token_key_pin(const char *url, const char *pin_file, uint8_t ret[PIN_SIZE], gnutls_datum_t *ret_spki);

/* Generate a key pair of type t inside the token `url` names, labelled `label` (its CKA_ID: the SHA-1 key
 * id of the public key, as GnuTLS does). Returns 0 or -errno. */
int token_generate(const char *url, const char *pin_file, KeyType t, const char *label);

/* Relabel every object (private and public) labelled `from` in the token as `to`; with to == NULL delete
 * them. 0 when there was none, >0 the number changed, -errno. */
int token_relabel(const char *url, const char *pin_file, const char *from, const char *to);

/* The label (`object=`) the URL names, percent-decoded; NULL when it names none. */
int token_url_label(const char *url, char **ret);

/* The URL with `object=` set to label (replacing any object=, id= and type=). */
int token_url_with_label(const char *url, const char *label, char **ret);
