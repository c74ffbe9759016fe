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
#include "json-util.h"
#include "log.h"
#include "x509.h"

#define LIST_MAX (64U * 1024U * 1024U)

static void key_done(void *entry) {
        CompromisedKey *k = entry;

        free(k->pin);
        free(k->name);
        free(k->serial);
}

static int parse_key(json_t *v, void *entry) {
        CompromisedKey *k = entry;
        uint8_t pin[PIN_SIZE];
        int r;

        if ((r = json_get_string(v, "pin_sha256", false, &k->pin)) < 0 ||
            (r = json_get_string(v, "name", true, &k->name)) < 0 ||
            (r = json_get_string(v, "serial", true, &k->serial)) < 0 ||
            (r = json_get_seconds(v, "since", &k->since)) < 0)
                return r;
        return pin_parse(k->pin, pin, NULL) < 0 ? -EBADMSG : 0;
}

static const JsonList key_list = JSON_LIST("keys", CompromisedKey, parse_key, key_done);

void compromised_keys_done(CompromisedKeys *l) {
        json_list_free(&key_list, l->keys, l->n);
        *l = (CompromisedKeys){};
}

int compromised_keys_parse(const char *text, size_t size, CompromisedKeys *ret) {
        return json_list_parse_text(text, size, &key_list, (void **) &ret->keys, &ret->n);
}

static int compromised_path(const char *state_dir, char **ret) {
        return asprintf(ret, "%s/compromised-keys.json", state_dir) < 0 ? -ENOMEM : 0;
}

int compromised_keys_load(const char *state_dir, CompromisedKeys *ret) {
        _cleanup_free_ char *path = NULL;
        int r;

        if (compromised_path(state_dir, &path) < 0)
                return -ENOMEM;
        r = json_list_load(path, LIST_MAX, &key_list, (void **) &ret->keys, &ret->n);
        if (r == -EBADMSG)
                return log_error_errno(
                        r, "%s is damaged; fix it (certherd certifies no key while it cannot read it)",
                        path);
        if (r < 0 && r != -ENOMEM)
                return log_error_errno(r, "cannot read the compromised-keys list %s: %m", path);
        return r;
}

const CompromisedKey *compromised_keys_find(const CompromisedKeys *l, const uint8_t pin[PIN_SIZE]) {
        uint8_t p[PIN_SIZE];

        for (size_t i = 0; i < l->n; i++)
                if (pin_parse(l->keys[i].pin, p, NULL) >= 0 && memcmp(p, pin, PIN_SIZE) == 0)
                        return &l->keys[i];
        return NULL;
}

int compromised_keys_add(const char *state_dir, const uint8_t pin[PIN_SIZE], const char *name,
                         const char *serial, usec_t now) {
        _cleanup_(compromised_keys_done) CompromisedKeys l = {};
        _cleanup_free_ char *path = NULL, *lock_path = NULL, *b64 = NULL;
        _cleanup_close_ int lock = -1;
        json_t *list;
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
                json_array_append_new(list, json_pack("{s:s, s:I, s:s, s:s}", "pin_sha256", l.keys[i].pin,
                                                      "since", (json_int_t) (l.keys[i].since / USEC_PER_SEC),
                                                      "name", l.keys[i].name, "serial", l.keys[i].serial));
        if (list)
                json_array_append_new(list, json_pack("{s:s, s:I, s:s, s:s}", "pin_sha256", b64, "since",
                                                      (json_int_t) (now / USEC_PER_SEC), "name", name ?: "",
                                                      "serial", serial ?: ""));
        r = json_save_state_file(path, json_pack("{s:o*}", "keys", list),
                                 JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        if (r == -ENOMEM)
                return r;
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

int compromised_keys_add_certificate(const char *state_dir, const uint8_t *data, size_t size,
                                     const char *name, usec_t now) {
        _cleanup_cert_facts_ CertFacts *f = NULL;
        int r;

        r = x509_inspect_data(data, size, now, &f);
        if (r < 0)
                return r;
        if (!f->parsed || !f->has_pin)
                return -EBADMSG;
        return compromised_keys_add(state_dir, f->pin, name, f->serial, now);
}
