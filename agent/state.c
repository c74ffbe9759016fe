/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "fd-util.h"
#include "install.h"
#include "macro.h"
#include "state.h"

static int state_path(const char *state_dir, const char *name, char **ret) {
        return asprintf(ret, "%s/certs/%s.json", state_dir, name) < 0 ? -ENOMEM : 0;
}

static usec_t json_usec(json_t *o, const char *key) {
        json_t *v = json_object_get(o, key);
        return json_is_integer(v) && json_integer_value(v) > 0 ? (usec_t) json_integer_value(v) : 0;
}

int state_load(const char *state_dir, const char *name, CertState *ret) {
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        json_t *o;
        size_t size;
        int r;

        r = state_path(state_dir, name, &path);
        if (r < 0)
                return r;
        r = read_full_file(path, 64 * 1024, &data, &size);
        if (r == -ENOENT) {
                *ret = (CertState) {};
                return 0;
        }
        if (r < 0)
                return r;

        o = json_loadb((const char *) data, size, 0, NULL);
        if (!json_is_object(o)) {
                json_decref(o);
                return -EBADMSG;
        }
        /* Times are stored as microseconds since the epoch, like usec_t. */
        *ret = (CertState) {
                .failures = (unsigned) json_usec(o, "failures"),
                .last_attempt = json_usec(o, "last_attempt_usec"),
                .next_retry = json_usec(o, "next_retry_usec"),
                .last_renewal = json_usec(o, "last_renewal_usec"),
                .alert_level = (int) json_usec(o, "alert_level"),
                .alert_last = json_usec(o, "alert_last_usec"),
        };
        json_decref(o);
        return 0;
}

int state_save(const char *state_dir, const char *name, const CertState *st) {
        _cleanup_free_ char *path = NULL, *dir = NULL, *text = NULL;
        json_t *o;
        int r;

        r = state_path(state_dir, name, &path);
        if (r < 0)
                return r;
        if (asprintf(&dir, "%s/certs", state_dir) < 0)
                return -ENOMEM;
        r = mkdir_p(dir, 0700);
        if (r < 0)
                return r;

        o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "failures", (json_int_t) st->failures, "last_attempt_usec",
                      (json_int_t) st->last_attempt, "next_retry_usec", (json_int_t) st->next_retry,
                      "last_renewal_usec", (json_int_t) st->last_renewal, "alert_level", (json_int_t) st->alert_level,
                      "alert_last_usec", (json_int_t) st->alert_last);
        if (!o)
                return -ENOMEM;
        text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (!text)
                return -ENOMEM;
        return install_file(&(InstallFile) { .path = path, .data = text, .size = strlen(text), .mode = 0600,
                                             .uid = (uid_t) -1, .gid = (gid_t) -1 });
}
