/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "gnutls-util.h"
#include "install.h"
#include "keygen.h"
#include "keys.h"
#include "log.h"
#include "pin.h"
#include "publish.h"

#define KEY_FILE_MAX (1024U * 1024U)

/* Read the installed key without following a symlink planted at its name, without blocking on a FIFO,
 * and only when it is a regular file with one link whose owner may receive it. Returns 0, or -errno with
 * *ret_why saying why it is not used. */
static int read_own_key(const CertConfig *c, uint8_t **ret, size_t *ret_size, const char **ret_why) {
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_close_ int fd = -1;
        uid_t owner = (uid_t) -1;
        gid_t group;
        struct stat st;
        size_t size = 0;
        ssize_t n;

        fd = open(c->key, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0) {
                *ret_why = errno == ELOOP ? "it is a symlink" : errno == ENOENT ? "there is none" : "it is unreadable";
                return -errno;
        }
        if (fstat(fd, &st) < 0) {
                *ret_why = "it is unreadable";
                return -errno;
        }
        if (!S_ISREG(st.st_mode)) {
                *ret_why = "it is not a regular file";
                return -EPERM;
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
        while (size < (size_t) st.st_size + 1 && (n = read(fd, buf + size, (size_t) st.st_size + 1 - size)) != 0) {
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

/* key-policy = reuse keeps the installed key (and so the pin) while it still has the configured type and
 * is safe to hand back. 1: reused, 0: not (why logged), -ENOMEM. */
static int reuse_key(const CertConfig *c, const CertFacts *current, gnutls_x509_privkey_t *ret_key,
                     gnutls_datum_t *ret_pem) {
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_free_ char *password = NULL;
        _cleanup_x509_privkey_ gnutls_x509_privkey_t key = NULL;
        const char *why = NULL;
        uint8_t pin[PIN_SIZE];
        size_t size;
        int r;

        r = read_own_key(c, &data, &size, &why);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                if (r != -ENOENT)
                        log_warning("%s: not reusing the key %s: %s; making a new key", c->name, c->key, why);
                return 0;
        }
        if (c->key_password_file && read_secret_file(c->key_password_file, &password) < 0)
                password = NULL;
        if (x509_load_privkey(data, size, password, &key) < 0 || !keygen_key_is_type(key, c->key_type))
                return 0;
        if (current && current->parsed && current->has_pin &&
            (key_pin(key, pin) < 0 || memcmp(pin, current->pin, PIN_SIZE) != 0)) {
                log_warning("%s: not reusing the key %s: it is not the key of the installed certificate; "
                            "making a new key", c->name, c->key);
                return 0;
        }
        /* An encrypted key stays as the operator wrote it; a plain one is rewritten unchanged so that owner
         * and mode are applied. */
        if (!password && datum_dup(data, size, ret_pem) < 0)
                return -ENOMEM;
        *ret_key = TAKE_PTR(key);
        return 1;
}

int keys_obtain(const Inventory *inv, const CertConfig *c, const CertFacts *current, gnutls_x509_privkey_t *ret_key,
                gnutls_datum_t *ret_pem, KeyOrigin *ret_origin) {
        _cleanup_x509_privkey_ gnutls_x509_privkey_t key = NULL;
        gnutls_datum_t pem = {};
        KeyOrigin origin = KEY_ORIGIN_NEW;
        int r;

        if (c->key_policy == KEY_POLICY_REUSE) {
                r = reuse_key(c, current, &key, &pem);
                if (r < 0)
                        return r;
                if (r > 0) {
                        *ret_key = TAKE_PTR(key);
                        *ret_pem = pem;
                        *ret_origin = KEY_ORIGIN_REUSED;
                        return 0;
                }
        }
        /* rotate: the key announced as next_pin_sha256, when there is one. */
        if (c->key_policy == KEY_POLICY_ROTATE && publish_next_key_load(inv, c, &key) >= 0)
                origin = KEY_ORIGIN_NEXT;
        else {
                r = keygen_generate(c->key_type, &key);
                if (r < 0)
                        return r;
        }
        r = keygen_export_pem(key, &pem);
        if (r < 0)
                return r;
        *ret_key = TAKE_PTR(key);
        *ret_pem = pem;
        *ret_origin = origin;
        return 0;
}

void keys_next_used(const Inventory *inv, const CertConfig *c) {
        _cleanup_free_ char *path = NULL;

        if (publish_next_key_path(inv, c, &path) >= 0)
                (void) unlink(path);
}
