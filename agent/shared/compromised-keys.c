/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <jansson.h>

#include "compromised-keys.h"
#include "fd-util.h"
#include "install.h"
#include "json-util.h"
#include "log.h"
#include "x509.h"

#define LIST_MAX (64U * 1024U * 1024U)

void compromised_keys_done(CompromisedKeys *l) {
        for (size_t i = 0; i < l->n; i++) {
                free(l->keys[i].pin);
                free(l->keys[i].name);
                free(l->keys[i].serial);
        }
        free(l->keys);
        *l = (CompromisedKeys) {};
}

int compromised_keys_parse(const char *text, size_t size, CompromisedKeys *ret) {
        _cleanup_(compromised_keys_done) CompromisedKeys l = {};
        json_t *root, *list, *v;
        size_t i;
        int r = 0;

        root = json_loadb(text, size, JSON_REJECT_DUPLICATES, NULL);
        list = json_is_object(root) ? json_object_get(root, "keys") : NULL;
        if (!json_is_array(list))
                r = -EBADMSG;
        else if (!(l.keys = calloc(json_array_size(list) + 1, sizeof(CompromisedKey))))
                r = -ENOMEM;
        if (r >= 0)
                json_array_foreach(list, i, v) {
                        CompromisedKey *k = &l.keys[l.n++];
                        uint8_t pin[PIN_SIZE];

                        if (!json_is_object(v)) {
                                r = -EBADMSG;
                                break;
                        }
                        if ((r = json_get_string(v, "pin_sha256", false, &k->pin)) < 0 ||
                            (r = json_get_string(v, "name", true, &k->name)) < 0 ||
                            (r = json_get_string(v, "serial", true, &k->serial)) < 0 ||
                            (r = json_get_seconds(v, "since", &k->since)) < 0)
                                break;
                        if (pin_parse(k->pin, pin, NULL) < 0) {
                                r = -EBADMSG;
                                break;
                        }
                }
        json_decref(root);
        if (r < 0)
                return r == -ENOMEM ? r : -EBADMSG;
        *ret = l;
        l = (CompromisedKeys) {};
        return 0;
}

static int compromised_path(const char *state_dir, char **ret) {
        return asprintf(ret, "%s/compromised-keys.json", state_dir) < 0 ? -ENOMEM : 0;
}

int compromised_keys_load(const char *state_dir, CompromisedKeys *ret) {
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        size_t size;
        int r;

        if (compromised_path(state_dir, &path) < 0)
                return -ENOMEM;
        r = read_full_file(path, LIST_MAX, &data, &size);
        if (r == -ENOENT) {
                *ret = (CompromisedKeys) {};
                return 0;
        }
        if (r < 0)
                return log_error_errno(r, "cannot read the compromised-keys list %s: %m", path);
        r = compromised_keys_parse((const char *) data, size, ret);
        if (r == -EBADMSG)
                return log_error_errno(r, "%s is damaged; fix it (certherd certifies no key while it cannot read it)",
                                       path);
        return r;
}

const CompromisedKey *compromised_keys_find(const CompromisedKeys *l, const uint8_t pin[PIN_SIZE]) {
        uint8_t p[PIN_SIZE];

        for (size_t i = 0; i < l->n; i++)
                if (pin_parse(l->keys[i].pin, p, NULL) >= 0 && memcmp(p, pin, PIN_SIZE) == 0)
                        return &l->keys[i];
        return NULL;
}

int compromised_keys_add(const char *state_dir, const uint8_t pin[PIN_SIZE], const char *name, const char *serial,
                         usec_t now) {
        _cleanup_(compromised_keys_done) CompromisedKeys l = {};
        _cleanup_free_ char *path = NULL, *lock_path = NULL, *b64 = NULL, *text = NULL;
        _cleanup_close_ int lock = -1;
        json_t *root, *list;
        int r;

        /* Its own lock: `ca revoke`, `revoke` and the daemon may add at the same time. */
        if (compromised_path(state_dir, &path) < 0 || asprintf(&lock_path, "%s.lock", path) < 0)
                return -ENOMEM;
        lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (lock < 0 || flock(lock, LOCK_EX) < 0)
                return log_error_errno(-errno, "cannot lock %s: %m", lock_path);
        r = compromised_keys_load(state_dir, &l);
        if (r < 0)
                return r;
        if (compromised_keys_find(&l, pin))
                return 0;
        r = pin_format(pin, PIN_FORMAT_BASE64, &b64);
        if (r < 0)
                return r;
        list = json_array();
        for (size_t i = 0; list && i < l.n; i++)
                json_array_append_new(list, json_pack("{s:s, s:I, s:s, s:s}", "pin_sha256", l.keys[i].pin, "since",
                                                      (json_int_t) (l.keys[i].since / USEC_PER_SEC), "name",
                                                      l.keys[i].name, "serial", l.keys[i].serial));
        if (list)
                json_array_append_new(list, json_pack("{s:s, s:I, s:s, s:s}", "pin_sha256", b64, "since",
                                                      (json_int_t) (now / USEC_PER_SEC), "name", name ?: "",
                                                      "serial", serial ?: ""));
        root = json_pack("{s:o*}", "keys", list);
        text = root ? json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
        json_decref(root);
        if (!text)
                return -ENOMEM;
        r = install_file(&(InstallFile) { .path = path, .data = text, .size = strlen(text), .mode = 0600,
                                          .uid = (uid_t) -1, .gid = (gid_t) -1 });
        if (r < 0)
                return log_error_errno(r, "cannot write %s: %m", path);
        log_notice("key %s marked compromised (%s%s%s): certherd will not certify it again", b64, name ?: "",
                   serial && *serial ? ", serial " : "", serial ?: "");
        return 0;
}

int compromised_keys_check(const char *state_dir, const uint8_t pin[PIN_SIZE], usec_t *ret_since) {
        _cleanup_(compromised_keys_done) CompromisedKeys l = {};
        const CompromisedKey *k;
        int r;

        r = compromised_keys_load(state_dir, &l);
        if (r < 0)
                return r;
        k = compromised_keys_find(&l, pin);
        if (k && ret_since)
                *ret_since = k->since;
        return k ? 1 : 0;
}

int compromised_keys_add_certificate(
    const char *state_dir, const uint8_t *data, size_t size, const char *name, usec_t now) {
        _cleanup_cert_facts_ CertFacts *f = NULL;
        int r;

        r = x509_inspect(
            &(X509Input){.cert_data = data, .cert_size = size, .key_mode = (mode_t)-1}, now, &f);
        if (r < 0)
                return r;
        if (!f->parsed || !f->has_pin)
                return -EBADMSG;
        return compromised_keys_add(state_dir, f->pin, name, f->serial, now);
}
