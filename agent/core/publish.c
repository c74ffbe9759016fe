/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Pin publication (docs/pins.md): <pin-directory>/<name>.pin and .json, and for key-policy = rotate the
 * next key, made ahead of its renewal so its pin is announced as next_pin_sha256 before the switch. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fd-util.h"
#include "gnutls-util.h"
#include "install.h"
#include "keys.h"
#include "log.h"
#include "publish.h"

#define INPUT_MAX (1024U * 1024U)

int publish_read_pin(const char *path, uint8_t ret[PIN_SIZE]) {
        _cleanup_free_ char *s = NULL;
        int r;

        r = read_secret_file(path, &s);
        if (r < 0)
                return r;
        return pin_parse(s, ret, NULL);
}

/* Whether the published JSON announces exactly `next` (NULL: no next pin). */
static bool json_up_to_date(const char *path, const char *next) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t size;

        if (read_full_file(path, 64 * 1024, &data, &size) < 0)
                return false;
        if (!next)
                return !strstr((const char *) data, "next_pin_sha256");
        return strstr((const char *) data, next) != NULL;
}

/* What publishing one set's pins writes, decided before anything is written. */
typedef struct PinUpdate {
        char *name;
        char *json_name, *pin_name; /* inside the pin directory */
        char *json, *line;
        char *pin_s, *prev_s; /* prev_s: set when the published pin changes */
} PinUpdate;

static void pin_update_done(PinUpdate *u) {
        free_many(u->name, u->json_name, u->pin_name, u->json, u->line, u->pin_s, u->prev_s);
        *u = (PinUpdate){};
}

/* 1 and *ret when <name>.pin and .json must be (re)written, 0 when they say so already, -errno. */
static int pins_prepare(const Inventory *inv, const CertConfig *c, const uint8_t pin[PIN_SIZE],
                        usec_t not_after, const uint8_t *fallback_previous, usec_t now, PinUpdate *ret) {
        _cleanup_(pin_update_done) PinUpdate u = {};
        _cleanup_free_ char *pin_path = NULL, *json_path = NULL, *next_s = NULL;
        uint8_t previous[PIN_SIZE], next[PIN_SIZE];
        bool have_previous, have_next = false;
        int r;

        if (asprintf(&pin_path, "%s/%s.pin", inv->agent.pin_directory, c->name) < 0 ||
            asprintf(&json_path, "%s/%s.json", inv->agent.pin_directory, c->name) < 0)
                return -ENOMEM;

        if (c->key_policy == KEY_POLICY_ROTATE && c->issuer != ISSUER_NONE) {
                /* Read only: the pass makes the next key in its act phase (keys_next_make). */
                r = keys_next_pin(inv, c, pin, next);
                if (r < 0 && r != -ENOENT && r != -ESTALE)
                        log_warning_errno(
                                r, "%s: cannot read the next key: %m, publishing without next_pin_sha256",
                                c->name);
                have_next = r >= 0;
        }
        r = have_next ? pin_format(next, PIN_FORMAT_BASE64, &next_s) : 0;
        if (r < 0)
                return r;

        have_previous = publish_read_pin(pin_path, previous) >= 0;
        if (have_previous && memcmp(previous, pin, PIN_SIZE) == 0 && json_up_to_date(json_path, next_s))
                return 0;
        if (!have_previous && fallback_previous) {
                memcpy(previous, fallback_previous, PIN_SIZE);
                have_previous = true;
        }

        r = pin_format(pin, PIN_FORMAT_BASE64, &u.pin_s);
        if (r < 0)
                return r;
        if (asprintf(&u.line, "%s\n", u.pin_s) < 0 || asprintf(&u.json_name, "%s.json", c->name) < 0 ||
            asprintf(&u.pin_name, "%s.pin", c->name) < 0 || !(u.name = strdup(c->name)))
                return -ENOMEM;
        r = pin_render_json(c->name, pin, have_next ? next : NULL, not_after, now, &u.json);
        if (r < 0)
                return r;
        if (have_previous && memcmp(previous, pin, PIN_SIZE) != 0 &&
            pin_format(previous, PIN_FORMAT_BASE64, &u.prev_s) < 0)
                return -ENOMEM;
        *ret = TAKE_STRUCT(u);
        return 1;
}

static void pins_event(const PinUpdate *u) {
        char f_pin[80], f_prev[96];

        if (!u->prev_s)
                return;
        snprintf(f_pin, sizeof(f_pin), "CERTHERD_PIN=%s", u->pin_s);
        snprintf(f_prev, sizeof(f_prev), "CERTHERD_PREVIOUS_PIN=%s", u->prev_s);
        log_cert_event(CERT_EVENT_PIN_CHANGED, u->name, (const char *[]){ f_pin, f_prev, NULL },
                       "pin changed from %s to %s", u->prev_s, u->pin_s);
}

/* The two files of u, the JSON first: a client that polls the .pin file then finds the matching document. */
static void pins_files(const PinUpdate *u, InstallFile ret[2]) {
        ret[0] = INSTALL_DATA(u->json_name, u->json, strlen(u->json), 0644);
        ret[1] = INSTALL_DATA(u->pin_name, u->line, strlen(u->line), 0644);
}

/* <pin-directory>/<name>.pin and .json (docs/pins.md), each written atomically, and a pin-changed event
 * when the published pin (or, before the first publication, `fallback_previous`) differs. */
int publish_pins(const Inventory *inv, const CertConfig *c, const uint8_t pin[PIN_SIZE], usec_t not_after,
                 const uint8_t *fallback_previous, usec_t now) {
        _cleanup_(pin_update_done) PinUpdate u = {};
        InstallFile files[2];
        int r;

        r = pins_prepare(inv, c, pin, not_after, fallback_previous, now, &u);
        if (r <= 0)
                return r;
        r = mkdir_p(inv->agent.pin_directory, 0755);
        if (r < 0)
                return log_error_errno(r, "%s: cannot create pin directory %s: %m", c->name,
                                       inv->agent.pin_directory);
        pins_files(&u, files);
        for (size_t i = 0; i < 2 && r >= 0; i++) {
                _cleanup_free_ char *path = NULL;

                if (asprintf(&path, "%s/%s", inv->agent.pin_directory, files[i].path) < 0)
                        return -ENOMEM;
                files[i].path = path;
                r = install_file(&files[i]);
        }
        if (r < 0)
                return log_error_errno(r, "%s: cannot publish the pin in %s: %m", c->name,
                                       inv->agent.pin_directory);
        pins_event(&u);
        return 1;
}

int publish_pins_stale(const Inventory *inv, const CertConfig *c, const uint8_t pin[PIN_SIZE],
                       usec_t not_after, usec_t now) {
        _cleanup_(pin_update_done) PinUpdate u = {};

        return pins_prepare(inv, c, pin, not_after, NULL, now, &u);
}

struct PublishBatch {
        const Inventory *inv;
        InstallBatch *files; /* made at the first set to publish */
        PinUpdate *events;   /* only name, pin_s and prev_s: the sets whose pin changes */
        size_t n_sets, n_events, allocated;
};

int publish_batch_new(const Inventory *inv, PublishBatch **ret) {
        PublishBatch *b = calloc(1, sizeof(PublishBatch));

        if (!b)
                return -ENOMEM;
        b->inv = inv;
        *ret = b;
        return 0;
}

PublishBatch *publish_batch_free(PublishBatch *b) {
        if (!b)
                return NULL;
        install_batch_free(b->files);
        for (size_t i = 0; i < b->n_events; i++)
                pin_update_done(&b->events[i]);
        free(b->events);
        free(b);
        return NULL;
}

static int batch_keep_event(PublishBatch *b, PinUpdate *u) {
        if (!u->prev_s)
                return 0;
        if (b->n_events == b->allocated) {
                size_t a = b->allocated ? b->allocated * 2 : 16;
                PinUpdate *p = realloc(b->events, a * sizeof(PinUpdate));

                if (!p)
                        return -ENOMEM;
                b->events = p;
                b->allocated = a;
        }
        b->events[b->n_events++] = (PinUpdate){ .name = TAKE_PTR(u->name),
                                                .pin_s = TAKE_PTR(u->pin_s),
                                                .prev_s = TAKE_PTR(u->prev_s) };
        return 0;
}

int publish_batch_add(PublishBatch *b, const CertConfig *c, const uint8_t pin[PIN_SIZE], usec_t not_after,
                      const uint8_t *fallback_previous, usec_t now) {
        _cleanup_(pin_update_done) PinUpdate u = {};
        const char *dir = b->inv->agent.pin_directory;
        InstallFile files[2];
        int r;

        r = pins_prepare(b->inv, c, pin, not_after, fallback_previous, now, &u);
        if (r <= 0)
                return r;
        if (!b->files) {
                r = mkdir_p(dir, 0755);
                if (r >= 0)
                        r = install_batch_new(dir, &b->files);
                if (r < 0)
                        return log_error_errno(r, "cannot create pin directory %s: %m", dir);
        }
        /* The files are written now (only their temp names are kept), the syncs and renames at commit. */
        pins_files(&u, files);
        for (size_t i = 0; i < 2; i++) {
                r = install_batch_add(b->files, &files[i]);
                if (r < 0)
                        return log_error_errno(r, "%s: cannot publish the pin in %s: %m", c->name, dir);
        }
        r = batch_keep_event(b, &u);
        if (r < 0)
                return r;
        b->n_sets++;
        return 1;
}

int publish_batch_commit(PublishBatch *b) {
        size_t n = b->n_sets;
        int r;

        if (!b->files)
                return 0;
        r = install_batch_commit(b->files);
        if (r < 0)
                return log_error_errno(r, "cannot publish %zu pins in %s: %m", n,
                                       b->inv->agent.pin_directory);
        for (size_t i = 0; i < b->n_events; i++) {
                pins_event(&b->events[i]);
                pin_update_done(&b->events[i]);
        }
        b->n_events = b->n_sets = 0;
        return (int) n;
}
