/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <jansson.h>

#include "fd-util.h"
#include "json-util.h"
#include "log.h"
#include "revocations.h"
#include "x509.h"

#define REVOCATIONS_MAX (16U * 1024U * 1024U)

static int revocations_path(const char *state_dir, char **ret) {
        return asprintf(ret, "%s/revocations.json", state_dir) < 0 ? -ENOMEM : 0;
}

void revocation_done(Revocation *r) {
        free(r->name);
        free(r->serial);
        free(r->reason);
        *r = (Revocation){};
}

static void entry_done(void *entry) {
        revocation_done(entry);
}

static int parse_one(json_t *v, void *entry) {
        Revocation *e = entry;
        int r;

        if ((r = json_get_string(v, "name", false, &e->name)) < 0 ||
            (r = json_get_string(v, "serial", false, &e->serial)) < 0 ||
            (r = json_get_string(v, "reason", false, &e->reason)) < 0 ||
            (r = json_get_seconds(v, "revoked_at", &e->revoked_at)) < 0 ||
            (r = json_get_seconds(v, "not_after", &e->not_after)) < 0)
                return r;
        /* Serials are hex as x509 facts print them; anything else was not written here. */
        if (strspn(e->serial, "0123456789abcdef") != strlen(e->serial))
                return -EBADMSG;
        return 0;
}

static const JsonList revocation_list = JSON_LIST("revocations", Revocation, parse_one, entry_done);

void revocations_done(Revocations *l) {
        json_list_free(&revocation_list, l->entries, l->n);
        *l = (Revocations){};
}

int revocations_parse(const char *text, size_t size, Revocations *ret) {
        return json_list_parse_text(text, size, &revocation_list, (void **) &ret->entries, &ret->n);
}

static int load_path(const char *path, Revocations *ret) {
        return json_list_load(path, REVOCATIONS_MAX, &revocation_list, (void **) &ret->entries, &ret->n);
}

int revocations_load(const char *state_dir, Revocations *ret) {
        _cleanup_free_ char *path = NULL;

        if (revocations_path(state_dir, &path) < 0)
                return -ENOMEM;
        return load_path(path, ret);
}

const Revocation *revocations_lookup(const Revocations *l, const char *name, const char *serial) {
        for (size_t i = 0; l && name && serial && i < l->n; i++)
                if (strcmp(l->entries[i].name, name) == 0 && strcmp(l->entries[i].serial, serial) == 0)
                        return &l->entries[i];
        return NULL;
}

static json_t *entry_json(const char *name, const char *serial, const char *reason, usec_t at,
                          usec_t not_after) {
        return json_pack("{s:s, s:s, s:s, s:I, s:I}", "name", name, "serial", serial, "reason", reason,
                         "revoked_at", (json_int_t) (at / USEC_PER_SEC), "not_after",
                         (json_int_t) (not_after / USEC_PER_SEC));
}

int revocations_add(const char *state_dir, const char *name, const char *serial, const char *reason,
                    usec_t not_after, usec_t now) {
        _cleanup_(revocations_done) Revocations l = {};
        _cleanup_free_ char *path = NULL, *lock_path = NULL;
        _cleanup_close_ int lock = -1;
        json_t *list;
        int r;

        /* Its own lock: `revoke` and `ca revoke` may run at the same time, beside a daemon. */
        if (revocations_path(state_dir, &path) < 0 || asprintf(&lock_path, "%s.lock", path) < 0)
                return log_error_errno(-ENOMEM, "Out of memory");
        lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (lock < 0 || flock(lock, LOCK_EX) < 0)
                return log_error_errno(-errno, "cannot lock %s: %m", lock_path);
        r = load_path(path, &l);
        if (r == -EBADMSG)
                return log_error_errno(r, "%s is damaged; not writing over it (look at it, or remove it)",
                                       path);
        if (r < 0)
                return log_error_errno(r, "cannot read %s: %m", path);
        list = json_array();
        for (size_t i = 0; list && i < l.n; i++) {
                const Revocation *e = &l.entries[i];

                /* An expired certificate needs no record; the same one recorded again is replaced. */
                if (e->not_after < now || (strcmp(e->name, name) == 0 && strcmp(e->serial, serial) == 0))
                        continue;
                json_array_append_new(
                        list, entry_json(e->name, e->serial, e->reason, e->revoked_at, e->not_after));
        }
        if (list)
                json_array_append_new(list, entry_json(name, serial, reason, now, not_after));
        r = json_save_state_file(path, json_pack("{s:o*}", "revocations", list),
                                 JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        if (r < 0)
                return log_error_errno(r, "cannot write %s: %m", path);
        return 0;
}

int revocations_find(const char *state_dir, const char *name, const char *serial, Revocation *ret) {
        _cleanup_(revocations_done) Revocations l = {};
        _cleanup_free_ char *path = NULL;
        int r;

        if (!name || !serial)
                return 0;
        if (revocations_path(state_dir, &path) < 0)
                return -ENOMEM;
        r = load_path(path, &l);
        if (r < 0)
                return log_debug_errno(r, "cannot read %s: %m", path);
        for (size_t i = 0; i < l.n; i++)
                if (strcmp(l.entries[i].name, name) == 0 && strcmp(l.entries[i].serial, serial) == 0) {
                        *ret = l.entries[i];
                        l.entries[i] = (Revocation){};
                        return 1;
                }
        return 0;
}

int revocations_add_certificate(const char *state_dir, const char *name, const uint8_t *data, size_t size,
                                const char *reason, usec_t now) {
        _cleanup_cert_facts_ CertFacts *f = NULL;
        int r;

        r = x509_inspect_data(data, size, now, &f);
        if (r < 0)
                return log_error_errno(r, "%s: cannot read the revoked certificate: %m", name);
        if (!f->parsed || !f->serial)
                return log_error_errno(-EBADMSG, "%s: the revoked certificate cannot be parsed", name);
        return revocations_add(state_dir, name, f->serial, reason, f->not_after, now);
}
