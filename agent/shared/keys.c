/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compromised-keys.h"
#include "revocations.h"
#include "fd-util.h"
#include "gnutls-util.h"
#include "install.h"
#include "keygen.h"
#include "keys.h"
#include "log.h"
#include "pin.h"
#include "token.h"

#define KEY_FILE_MAX (1024U * 1024U)

/* Read the installed key without following a symlink someone else planted at its name (a link is followed
 * only when root made it where nobody else may replace it: certbot's live/privkey.pem into archive/),
 * without opening a FIFO or device, and only when it is a regular file with one link whose owner may
 * receive it. Returns 0, or -errno with *ret_why saying why it is not used. */
static int read_own_key(const CertConfig *c, uint8_t **ret, size_t *ret_size, const char **ret_why) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_close_ int fd = -1;
        uid_t owner = (uid_t) -1;
        gid_t group;
        struct stat st;
        size_t size = 0;
        ssize_t n;

        fd = open_regular_at(AT_FDCWD, c->key, READ_TRUSTED, &st);
        if (fd < 0) {
                *ret_why =
                        fd == -ENOLINK
                                ? "a symbolic link on its path was not made by root where nobody else may replace it"
                        : fd == -ENOENT ? "there is none"
                        : fd == -ESPIPE || fd == -ENODEV || fd == -ENXIO || fd == -EISDIR
                                ? "it is not a regular file"
                                : "it is unreadable";
                return fd;
        }
        /* A hard link to someone else's key (the CA's) is no key we made for this set. */
        if (st.st_nlink != 1) {
                *ret_why = "it has more than one link";
                return -EPERM;
        }
        if (c->owner && install_parse_owner(c->owner, &owner, &group) < 0)
                owner = (uid_t) -1;
        if (st.st_uid != 0 && st.st_uid != geteuid() && st.st_uid != owner) {
                *ret_why = "it is owned by another user";
                return -EPERM;
        }
        if ((uintmax_t) st.st_size > KEY_FILE_MAX) {
                *ret_why = "it is too big";
                return -EFBIG;
        }
        buf = malloc((size_t) st.st_size + 2);
        if (!buf)
                return -ENOMEM;
        while (size < (size_t) st.st_size + 1 &&
               (n = read(fd, buf + size, (size_t) st.st_size + 1 - size)) != 0) {
                if (n < 0 && errno != EINTR) {
                        *ret_why = "it is unreadable";
                        return -errno;
                }
                size += n > 0 ? (size_t) n : 0;
        }
        if (size > (size_t) st.st_size) {
                *ret_why = "it is being written to";
                return -EBUSY;
        }
        buf[size] = 0;
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

static int key_pin(gnutls_x509_privkey_t key, uint8_t ret[PIN_SIZE]) {
        _cleanup_datum_ gnutls_datum_t pem = {}, spki = {};
        int r;

        r = keygen_export_pem(key, &pem);
        if (r >= 0)
                r = x509_spki_from_data(pem.data, pem.size, NULL, &spki);
        if (r >= 0)
                r = pin_compute(spki.data, spki.size, ret);
        return r;
}

int keys_password(const CertConfig *c, char **ret) {
        int r;

        *ret = NULL;
        if (!c->x->key_password_file)
                return 0;
        r = read_secret_file(c->x->key_password_file, ret);
        if (r < 0)
                return log_error_errno(
                        r, "%s: cannot read key-password-file %s: %m; no key is written without it", c->name,
                        c->x->key_password_file);
        return 0;
}

/* The installed key, when it is ours to look at (read_own_key). 1 with *ret_key set (and *ret_encrypted),
 * 0 when there is none to use (why logged unless there is no file), -EACCES when it is encrypted and
 * cannot be opened: writing a new key there would either drop the operator's encryption or lock them out
 * of a key they can no longer decrypt, so the renewal stops with the reason. */
static int load_installed(const CertConfig *c, const char *password, uint8_t **ret_data, size_t *ret_size,
                          gnutls_x509_privkey_t *ret_key, bool *ret_encrypted) {
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_x509_privkey_ gnutls_x509_privkey_t key = NULL;
        const char *why = NULL;
        size_t size = 0;
        bool encrypted;
        int r;

        r = read_own_key(c, &data, &size, &why);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                if (r != -ENOENT && c->key_policy == KEY_POLICY_REUSE)
                        log_warning("%s: not reusing the key %s: %s; making a new key", c->name, c->key,
                                    why);
                return 0;
        }
        /* Without a password an encrypted structure is refused at once (no key derivation is run). */
        r = x509_load_privkey(data, size, NULL, &key);
        /* An encrypted DER structure carries no "ENCRYPTED" marker: with a password, try it too. */
        encrypted = r == -EACCES || (r == -EBADMSG && password);
        if (r == -ENOMEM)
                return r;
        if (encrypted && !password)
                return log_error_errno(-EACCES,
                                       "%s: the installed key %s is encrypted and no key-password-file is "
                                       "set; refusing to replace it with a plaintext key",
                                       c->name, c->key);
        if (encrypted) {
                r = x509_load_privkey(data, size, password, &key);
                if (r == -EBADMSG && !memmem(data, size, "ENCRYPTED", 9))
                        return 0; /* not a key at all: replaced by a new one */
                if (r == -EACCES || r == -EBADMSG)
                        return log_error_errno(
                                r,
                                "%s: the installed key %s is encrypted and the password in %s "
                                "does not decrypt it; refusing to replace it",
                                c->name, c->key, c->x->key_password_file);
                if (r == -ENOMEM)
                        return r;
        }
        if (r < 0)
                return 0; /* not a key: replaced by a new one */
        *ret_data = TAKE_PTR(data);
        *ret_size = size;
        *ret_key = TAKE_PTR(key);
        *ret_encrypted = encrypted;
        return 1;
}

/* key-policy = reuse keeps the installed key (and so the pin) while it still has the configured type and
 * the installed certificate shows that it is this set's key. A key file alone proves nothing: a link or
 * a copy could put any key there (the CA's included), so without a certificate that parses and carries
 * its public key the key is not handed back. 1: reused, 0: not (why logged), -errno. */
static int reuse_key(const CertConfig *c, const CertFacts *current, gnutls_x509_privkey_t *key,
                     const uint8_t *data, size_t size, bool encrypted, const char *password,
                     gnutls_datum_t *ret_pem) {
        uint8_t pin[PIN_SIZE];

        if (!keygen_key_is_type(*key, c->key_type)) {
                log_info("%s: not reusing the key %s: it is not a %s key; making a new key", c->name, c->key,
                         key_type_to_string(c->key_type));
                return 0;
        }
        if (!current || !current->parsed || !current->has_pin) {
                /* Unparsed facts carry the certificate's own problem first: missing, empty or not X.509. */
                log_warning(
                        "%s: not reusing the key %s: no installed certificate shows that it is this set's key "
                        "(%s); making a new key",
                        c->name, c->key,
                        current && current->n_problems > 0 ? current->problems[0].message
                                                           : "none is installed");
                return 0;
        }
        if (key_pin(*key, pin) < 0 || memcmp(pin, current->pin, PIN_SIZE) != 0) {
                log_warning("%s: not reusing the key %s: it is not the key of the installed certificate %s; "
                            "making a new key",
                            c->name, c->key, c->certificate);
                return 0;
        }
        /* An encrypted key stays as the operator wrote it (their cipher, their KDF); a plain one is
         * rewritten so that owner and mode apply — encrypted now when a password is configured. */
        if (encrypted)
                *ret_pem = (gnutls_datum_t){};
        else if (password)
                return keygen_export_key(*key, password, ret_pem) < 0 ? -ENOMEM : 1;
        else if (datum_dup(data, size, ret_pem) < 0)
                return -ENOMEM;
        return 1;
}

int keys_compromised(const Inventory *inv, gnutls_x509_privkey_t key) {
        uint8_t pin[PIN_SIZE];
        int r;

        r = key_pin(key, pin);
        if (r < 0)
                return r;
        return compromised_keys_check(inv->agent.state_directory, pin, NULL);
}

/* A kept key (reuse, or rotate's announced next key) that was revoked with key-compromise is never
 * certified again: drop it, whatever key-policy says. 1: dropped, 0: fine, -errno: list unreadable. */
static int drop_compromised(const Inventory *inv, const CertConfig *c, gnutls_x509_privkey_t *key,
                            gnutls_datum_t *pem) {
        int r = keys_compromised(inv, *key);

        if (r <= 0)
                return r;
        log_warning(
                "%s: the key %s was revoked with key-compromise; making a new key (key-policy = %s notwithstanding)",
                c->name, c->key, key_policy_to_string(c->key_policy));
        gnutls_x509_privkey_deinit(*key);
        *key = NULL;
        if (pem) {
                gnutls_free(pem->data);
                *pem = (gnutls_datum_t){};
        }
        return 1;
}

/* A revoked certificate is replaced with a new key: whoever revoked it (certherd's own record, or a CRL)
 * may have done so because the key leaked, whatever reason was given. */
static bool current_revoked(const Inventory *inv, const CertConfig *c, const CertFacts *current) {
        _cleanup_(revocation_done) Revocation rev = {};

        if (!current || !current->parsed)
                return false;
        for (size_t i = 0; i < current->n_problems; i++)
                if (current->problems[i].code == PROBLEM_REVOKED)
                        return true;
        /* The record too: a daemon's facts may predate a revocation made a moment ago (revoke --replace). */
        return revocations_find(inv->agent.state_directory, c->name, current->serial, &rev) > 0;
}

int keys_obtain(const Inventory *inv, const CertConfig *c, const CertFacts *current, bool revoked,
                gnutls_x509_privkey_t *ret_key, gnutls_datum_t *ret_pem, KeyOrigin *ret_origin) {
        _cleanup_x509_privkey_ gnutls_x509_privkey_t key = NULL;
        _cleanup_free_ char *password = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        gnutls_datum_t pem = {};
        KeyOrigin origin = KEY_ORIGIN_NEW;
        bool encrypted = false;
        size_t size = 0;
        int r;

        r = keys_password(c, &password);
        if (r < 0)
                return r;
        r = load_installed(c, password, &data, &size, &key, &encrypted);
        if (r < 0)
                return r;
        /* A revoked certificate is never renewed with its key: whoever revoked it may hold the key. */
        if (r > 0 && c->key_policy == KEY_POLICY_REUSE && revoked) {
                if (keys_compromised(inv, key) > 0)
                        log_warning(
                                "%s: the key %s was revoked with key-compromise; making a new key (key-policy = "
                                "reuse notwithstanding)",
                                c->name, c->key);
                else
                        log_warning(
                                "%s: not reusing the key %s: its certificate was revoked; making a new key "
                                "(key-policy = reuse notwithstanding)",
                                c->name, c->key);
        } else if (r > 0 && c->key_policy == KEY_POLICY_REUSE) {
                r = reuse_key(c, current, &key, data, size, encrypted, password, &pem);
                /* A key revoked with key-compromise is never certified again, whatever key-policy says. */
                if (r > 0)
                        r = drop_compromised(inv, c, &key, &pem) < 0 ? -EKEYREVOKED : key ? 1 : 0;
                if (r > 0 && current_revoked(inv, c, current)) {
                        log_notice(
                                "%s: not reusing the key %s: its certificate was revoked; making a new key",
                                c->name, c->key);
                        gnutls_free(pem.data);
                        pem = (gnutls_datum_t){};
                        r = 0;
                }
                if (r < 0)
                        return r;
                if (r > 0) {
                        *ret_key = TAKE_PTR(key);
                        *ret_pem = pem;
                        *ret_origin = KEY_ORIGIN_REUSED;
                        return 0;
                }
        }
        if (key)
                gnutls_x509_privkey_deinit(TAKE_PTR(key));
        /* rotate: the key announced as next_pin_sha256, when there is one. */
        if (c->key_policy == KEY_POLICY_ROTATE && keys_next_key_load(inv, c, password, &key) >= 0 &&
            drop_compromised(inv, c, &key, NULL) == 0)
                origin = KEY_ORIGIN_NEXT;
        else {
                if (key) {
                        gnutls_x509_privkey_deinit(key);
                        key = NULL;
                }
                r = keygen_generate(c->key_type, &key);
                if (r < 0)
                        return log_error_errno(r, "%s: cannot make a %s key: %m", c->name,
                                               key_type_to_string(c->key_type));
        }
        r = keygen_export_key(key, password, &pem);
        if (r < 0)
                return log_error_errno(r, "%s: cannot encode the key: %m", c->name);
        *ret_key = TAKE_PTR(key);
        *ret_pem = pem;
        *ret_origin = origin;
        return 0;
}

/* Token sets: the object labelled LABEL (the `object=` of the set's URI) is the key in use — the name the
 * set's services open; with rotate the next key waits in the token as LABEL.next, and the one it replaces
 * is kept as LABEL.old (one generation, like a file's backup). */
static int token_urls(const CertConfig *c, char **ret_label, char **ret_cur, char **ret_next,
                      char **ret_next_label) {
        _cleanup_free_ char *label = NULL, *next_label = NULL, *cur = NULL, *next = NULL;
        int r;

        r = token_url_label(c->key, &label);
        if (r < 0)
                return r;
        if (!label)
                return log_error_errno(-EINVAL, "%s: key %s names no object: add ;object=LABEL", c->name,
                                       c->key);
        if (asprintf(&next_label, "%s.next", label) < 0)
                return -ENOMEM;
        if ((r = token_url_with_label(c->key, label, &cur)) < 0 ||
            (r = token_url_with_label(c->key, next_label, &next)) < 0)
                return r;
        *ret_label = TAKE_PTR(label);
        *ret_cur = TAKE_PTR(cur);
        *ret_next = TAKE_PTR(next);
        *ret_next_label = TAKE_PTR(next_label);
        return 0;
}

static int token_failed(const CertConfig *c, int r, const char *what, const char *url) {
        return log_error_errno(r, "%s: cannot %s %s: %s", c->name, what, url,
                               r == -EACCES   ? "no PIN (pkcs11-pin-file or pin-source=) or a wrong one"
                               : r == -ENOENT ? "no such token or object"
                                              : strerror(-r));
}

int keys_obtain_token(const Inventory *inv, const CertConfig *c, const CertFacts *current, bool revoked,
                      gnutls_privkey_t *ret_key, KeyOrigin *ret_origin) {
        _cleanup_free_ char *label = NULL, *cur = NULL, *next = NULL, *next_label = NULL;
        uint8_t pin[PIN_SIZE];
        KeyOrigin origin = KEY_ORIGIN_REUSED;
        const char *use;
        bool have_cur;
        int r;

        r = token_urls(c, &label, &cur, &next, &next_label);
        if (r < 0)
                return r;
        have_cur = token_key_pin(cur, c->x->pkcs11_pin_file, pin, NULL) >= 0;
        /* An interrupted switch (LABEL already moved to LABEL.old, LABEL.next not yet renamed): finish it. */
        if (!have_cur && token_key_pin(next, c->x->pkcs11_pin_file, pin, NULL) >= 0 &&
            token_relabel(c->key, c->x->pkcs11_pin_file, next_label, label) > 0)
                have_cur = true;

        use = cur;
        if (!have_cur) {
                /* The first key of the set, made where it will stay. */
                r = token_generate(c->key, c->x->pkcs11_pin_file, c->key_type, label);
                if (r < 0)
                        return token_failed(c, r, "generate a key in the token of", c->key);
                log_notice("%s: generated a %s key in the token: %s", c->name,
                           key_type_to_string(c->key_type), cur);
                origin = KEY_ORIGIN_NEW;
        } else if (c->key_policy == KEY_POLICY_ROTATE || revoked || current_revoked(inv, c, current)) {
                /* The announced next key, unless there is none or it is the installed certificate's. A
                 * revoked certificate (found by the caller, or in certherd's own record) gets one too,
                 * whatever key-policy says: made as LABEL.next, it becomes LABEL only once its
                 * certificate is installed (keys_next_used). */
                if (token_key_pin(next, c->x->pkcs11_pin_file, pin, NULL) < 0 ||
                    (current && current->has_pin && memcmp(pin, current->pin, PIN_SIZE) == 0)) {
                        (void) token_relabel(c->key, c->x->pkcs11_pin_file, next_label, NULL);
                        r = token_generate(c->key, c->x->pkcs11_pin_file, c->key_type, next_label);
                        if (r < 0)
                                return token_failed(c, r, "generate a key in the token of", c->key);
                }
                use = next;
                origin = KEY_ORIGIN_NEXT;
        }
        r = token_load_privkey(use, c->x->pkcs11_pin_file, ret_key);
        if (r < 0)
                return token_failed(c, r, "use the token key", use);
        *ret_origin = origin;
        return 0;
}

/* After the certificate of LABEL.next is installed: LABEL.old goes, LABEL becomes LABEL.old, LABEL.next
 * becomes LABEL — the URI the services open now names the new key. */
static void token_next_used(const CertConfig *c) {
        _cleanup_free_ char *label = NULL, *cur = NULL, *next = NULL, *next_label = NULL, *old_label = NULL;
        int r;

        if (token_urls(c, &label, &cur, &next, &next_label) < 0 || asprintf(&old_label, "%s.old", label) < 0)
                return;
        r = token_relabel(c->key, c->x->pkcs11_pin_file, old_label, NULL);
        if (r >= 0)
                r = token_relabel(c->key, c->x->pkcs11_pin_file, label, old_label);
        if (r >= 0)
                r = token_relabel(c->key, c->x->pkcs11_pin_file, next_label, label);
        if (r < 0)
                (void) token_failed(c, r, "rename the keys (LABEL.next to LABEL) in the token of", c->key);
}

void keys_next_used(const Inventory *inv, const CertConfig *c) {
        _cleanup_free_ char *path = NULL;

        if (token_is_url(c->key)) {
                token_next_used(c);
                return;
        }

        if (keys_next_key_path(inv, c, &path) >= 0)
                (void) unlink(path);
}

/* The key of the next renewal (key-policy = rotate) is kept in STATE/keys/NAME.next,
 * so its pin can be published (next_pin_sha256) long before the switch (docs/pins.md). */
int keys_next_key_path(const Inventory *inv, const CertConfig *c, char **ret) {
        return asprintf(ret, "%s/keys/%s.next", inv->agent.state_directory, c->name) < 0 ? -ENOMEM : 0;
}

/* The saved next key file as it is. */
static int next_key_read(const Inventory *inv, const CertConfig *c, uint8_t **ret, size_t *ret_size) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = keys_next_key_path(inv, c, &path);
        if (r < 0)
                return r;
        return read_full_file(path, KEY_FILE_MAX, ret, ret_size);
}

int keys_next_key_load(const Inventory *inv, const CertConfig *c, const char *password,
                       gnutls_x509_privkey_t *ret) {
        _cleanup_free_ uint8_t *data = NULL;
        gnutls_x509_privkey_t key;
        size_t size;
        int r;

        r = next_key_read(inv, c, &data, &size);
        if (r < 0)
                return r;
        r = x509_load_privkey(data, size, password, &key);
        if (r < 0)
                return r;
        if (!keygen_key_is_type(key, c->key_type)) { /* key-type changed since it was made */
                gnutls_x509_privkey_deinit(key);
                return -ESTALE;
        }
        *ret = key;
        return 0;
}

/* Write the next key, 0600, encrypted with `password` when there is one. */
static int next_key_save(const Inventory *inv, const CertConfig *c, gnutls_x509_privkey_t key,
                         const char *password) {
        _cleanup_datum_ gnutls_datum_t pem = {};
        _cleanup_free_ char *path = NULL, *dir = NULL;
        int r;

        r = keygen_export_key(key, password, &pem);
        if (r < 0)
                return r;
        if (keys_next_key_path(inv, c, &path) < 0 ||
            asprintf(&dir, "%s/keys", inv->agent.state_directory) < 0)
                return -ENOMEM;
        r = mkdir_p(dir, 0700);
        if (r < 0)
                return r;
        return install_data(path, pem.data, pem.size, 0600);
}

/* Whether the saved next key is stored in plaintext (to encrypt it once a key-password-file appears). */
static bool next_key_is_plain(const Inventory *inv, const CertConfig *c) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t size;

        return next_key_read(inv, c, &data, &size) >= 0 && !memmem(data, size, "ENCRYPTED", 9);
}

/* The token URL of a set's next key: the object LABEL.next beside LABEL. */
static int next_token_url(const CertConfig *c, char **ret_label, char **ret_url) {
        _cleanup_free_ char *label = NULL, *next_label = NULL, *next = NULL;
        int r;

        r = token_url_label(c->key, &label);
        if (r < 0)
                return r;
        if (!label)
                return -EINVAL;
        if (asprintf(&next_label, "%s.next", label) < 0)
                return -ENOMEM;
        r = token_url_with_label(c->key, next_label, &next);
        if (r < 0)
                return r;
        *ret_label = TAKE_PTR(next_label);
        *ret_url = TAKE_PTR(next);
        return 0;
}

/* The next key of the set, loaded without making one: -ENOENT when there is none, -ESTALE when it is of
 * another key type or is the current key (`current` may be NULL: not compared). *ret_password: the set's
 * password (NULL without one). */
static int next_key_peek(const Inventory *inv, const CertConfig *c, const uint8_t current[PIN_SIZE],
                         char **ret_password, gnutls_x509_privkey_t *ret_key, uint8_t ret_pin[PIN_SIZE]) {
        _cleanup_x509_privkey_ gnutls_x509_privkey_t key = NULL;
        _cleanup_free_ char *password = NULL;
        size_t size = PIN_SIZE;
        int r;

        /* Never a plaintext next key for a set whose keys are encrypted: without its password, none. */
        if (c->x->key_password_file) {
                r = read_secret_file(c->x->key_password_file, &password);
                if (r < 0)
                        return r;
        }
        r = keys_next_key_load(inv, c, password, &key);
        if (r >= 0 && gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, ret_pin, &size) < 0)
                r = -EIO;
        if (r >= 0 && current && memcmp(ret_pin, current, PIN_SIZE) == 0)
                r = -ESTALE;
        if (ret_password)
                *ret_password = TAKE_PTR(password);
        if (r >= 0 && ret_key)
                *ret_key = TAKE_PTR(key);
        return r;
}

/* The pin of a token set's next key: -errno of its URL, -ENOENT when the token has no such key. */
static int next_token_pin(const CertConfig *c, uint8_t ret[PIN_SIZE]) {
        _cleanup_free_ char *label = NULL, *next = NULL;
        int r;

        r = next_token_url(c, &label, &next);
        if (r < 0)
                return r;
        return token_key_pin(next, c->x->pkcs11_pin_file, ret, NULL) < 0 ? -ENOENT : 0;
}

int keys_next_pin(const Inventory *inv, const CertConfig *c, const uint8_t current[PIN_SIZE],
                  uint8_t ret[PIN_SIZE]) {
        uint8_t pin[PIN_SIZE];
        int r;

        if (token_is_url(c->key)) {
                r = next_token_pin(c, pin);
                if (r < 0)
                        return r;
                if (memcmp(pin, current, PIN_SIZE) == 0)
                        return -ESTALE;
                memcpy(ret, pin, PIN_SIZE);
                return 0;
        }
        r = next_key_peek(inv, c, current, NULL, NULL, pin);
        if (r < 0)
                return r;
        /* A plaintext next key of a set that has a key-password-file now is not announced until
         * keys_next_make() has encrypted it. */
        if (c->x->key_password_file && next_key_is_plain(inv, c))
                return -ESTALE;
        memcpy(ret, pin, PIN_SIZE);
        return 0;
}

static int next_token_make(const CertConfig *c, const uint8_t current[PIN_SIZE]) {
        _cleanup_free_ char *label = NULL, *next = NULL;
        uint8_t pin[PIN_SIZE];
        int r;

        r = next_token_url(c, &label, &next);
        if (r < 0)
                return r;
        if (token_key_pin(next, c->x->pkcs11_pin_file, pin, NULL) >= 0 &&
            memcmp(pin, current, PIN_SIZE) != 0)
                return 0;
        (void) token_relabel(c->key, c->x->pkcs11_pin_file, label, NULL);
        r = token_generate(c->key, c->x->pkcs11_pin_file, c->key_type, label);
        if (r < 0)
                return r;
        log_info("%s: generated the next key in the token: %s", c->name, next);
        return 1;
}

int keys_next_make(const Inventory *inv, const CertConfig *c, const uint8_t current[PIN_SIZE]) {
        _cleanup_x509_privkey_ gnutls_x509_privkey_t key = NULL;
        _cleanup_free_ char *password = NULL, *pin_s = NULL;
        uint8_t pin[PIN_SIZE];
        size_t size = PIN_SIZE;
        int r;

        if (token_is_url(c->key))
                return next_token_make(c, current);
        r = next_key_peek(inv, c, current, &password, &key, pin);
        if (r >= 0) {
                if (!password || !next_key_is_plain(inv, c))
                        return 0;
                /* A key-password-file appeared since the next key was made: store it encrypted. */
                r = next_key_save(inv, c, key, password);
                if (r < 0)
                        return r;
                log_info("%s: encrypted the next key with its key-password-file", c->name);
                return 1;
        }
        if (c->x->key_password_file && !password)
                return r; /* the password file cannot be read: never a plaintext key */
        r = keygen_generate(c->key_type, &key);
        if (r < 0)
                return r;
        r = next_key_save(inv, c, key, password);
        if (r < 0)
                return r;
        if (gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, pin, &size) < 0)
                return -EIO;
        (void) pin_format(pin, PIN_FORMAT_BASE64, &pin_s);
        log_info("%s: made the next key (pin %s), announced as next_pin_sha256 until it is used", c->name,
                 pin_s ?: "?");
        return 1;
}

int keys_next_pin_lookup(const Inventory *inv, const CertConfig *c, const uint8_t *current,
                         uint8_t ret[PIN_SIZE]) {
        uint8_t pin[PIN_SIZE];
        int r;

        if (token_is_url(c->key))
                r = next_token_pin(c, pin);
        else
                r = next_key_peek(inv, c, NULL, NULL, NULL, pin);
        if (r == -ESTALE)
                r = -ENOENT;
        if (r < 0)
                return r;
        if (current && memcmp(pin, current, PIN_SIZE) == 0)
                return -ENOENT;
        memcpy(ret, pin, PIN_SIZE);
        return 0;
}
