/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "config.h"
#include "x509.h"

/* The one home of a renewal's key (key-policy): reuse the installed key, take the next key announced
 * for rotate (next_pin_sha256), or make a new one. */

typedef enum KeyOrigin {
        KEY_ORIGIN_NEW,    /* generated now */
        KEY_ORIGIN_REUSED, /* the installed key, kept (key-policy = reuse) */
        KEY_ORIGIN_NEXT,   /* the key announced as next_pin_sha256 (key-policy = rotate) */
        _KEY_ORIGIN_MAX,
        _KEY_ORIGIN_INVALID = -22,
} KeyOrigin;

/* The key for the next certificate of `c`. With reuse, the installed key is taken only when it is safe
 * to hand it back to the set's owner: a regular file at c->key itself (a symlink there is not followed),
 * one link, owned by root, by us or by the configured owner, of the configured type, and the key of the
 * installed certificate (`current`, may be NULL): no certificate that parses, or one for another key,
 * means a new key. Otherwise why is logged and a new key made: a key is never handed to an owner unless
 * it was made for that set.
 * *ret_pem: what to install as the key file; NULL data means "leave the installed file as it is" (an
 * encrypted reused key stays as the operator wrote it). With key-password-file every key handed out is
 * encrypted PKCS#8 (keygen_export_key); an installed key that is encrypted and cannot be opened (no
 * password file, or a password that does not decrypt it) is -EACCES, never replaced by a plaintext key.
 * `revoked`: the installed certificate was revoked (by any source): its key is never kept, whatever
 * key-policy says (rotate's announced next key, a different key, is still used).
 * Returns 0 or -errno (logged). */
int keys_obtain(const Inventory *inv, const CertConfig *c, const CertFacts *current, bool revoked,
                gnutls_x509_privkey_t *ret_key, gnutls_datum_t *ret_pem, KeyOrigin *ret_origin);

/* Whether `key` is in the compromised-keys list (revoked with key-compromise): 1 yes, 0 no,
 * -errno when the list cannot be read (callers then refuse to certify). */
int keys_compromised(const Inventory *inv, gnutls_x509_privkey_t key);
/* The key of the next certificate of a set whose `key = pkcs11:…;object=LABEL` is in a token: the object
 * LABEL (generated in the token when there is none: KEY_ORIGIN_NEW; else reused), or with rotate the
 * object LABEL.next (generated when missing or when it is the installed certificate's: KEY_ORIGIN_NEXT;
 * keys_next_used() then renames it to LABEL). No private key leaves the token. Returns 0 or -errno
 * (logged). */
int keys_obtain_token(const Inventory *inv, const CertConfig *c, const CertFacts *current, bool revoked,
                      gnutls_privkey_t *ret_key, KeyOrigin *ret_origin);

/* The set's key-password-file, read (NULL without one). An unreadable file is an error (logged): a key is
 * never written in plaintext because its password could not be read. Returns 0 or -errno. */
int keys_password(const CertConfig *c, char **ret);

/* Forget the next key once it is the current one (keys_next_make() makes the next). */
void keys_next_used(const Inventory *inv, const CertConfig *c);

/* The next key of a key-policy = rotate set (docs/pins.md), made ahead of its renewal so that its pin is
 * announced as next_pin_sha256 long before the switch: STATE/keys/NAME.next (encrypted with the set's
 * key-password-file), or the token object LABEL.next for a key in a token. */
int keys_next_key_path(const Inventory *inv, const CertConfig *c, char **ret);
/* Load it; -ENOENT when there is none, -ESTALE when it no longer has the configured key type, -EACCES when
 * it cannot be decrypted. */
int keys_next_key_load(const Inventory *inv, const CertConfig *c, const char *password,
                       gnutls_x509_privkey_t *ret);
/* The pin of the next key, read only: -ENOENT when there is none, -ESTALE when it is the `current` key,
 * of another key type, or still to be encrypted; -errno. Publishing announces it; it never makes one. */
int keys_next_pin(const Inventory *inv, const CertConfig *c, const uint8_t current[PIN_SIZE],
                  uint8_t ret[PIN_SIZE]);
/* The pin of the next key as it is now, for reports (check): read only, nothing is made or rewritten.
 * -ENOENT when there is no next key yet — none saved, one of another key type (-ESTALE inside), or one
 * that is the `current` key (may be NULL) and so is replaced before it is announced; -EACCES when it
 * cannot be decrypted or the token refuses; other -errno. Not logged. */
int keys_next_pin_lookup(const Inventory *inv, const CertConfig *c, const uint8_t *current,
                         uint8_t ret[PIN_SIZE]);

/* Make (and save) the next key when there is none or it is the `current` key (or encrypt it once a
 * key-password-file appeared); logged. A step of its own in a pass's act phase and after a renewal that
 * used the previous one. Returns 1 when made, 0 when there is one already, -errno. */
int keys_next_make(const Inventory *inv, const CertConfig *c, const uint8_t current[PIN_SIZE]);
