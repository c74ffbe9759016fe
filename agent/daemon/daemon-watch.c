/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The daemon's inotify watches: on the directory of every file the inventory names, so that atomic
 * replacements (rename over the file) are seen, which a watch on the file itself would lose with the old
 * inode. A change marks the sets naming the file dirty; one pass follows the burst. */
#include <string.h>
#include <sys/inotify.h>

#include "daemon-internal.h"
#include "log.h"
#include "token.h"

/* Files change in bursts (a key, then its certificate); one inspection after the burst is enough. */
#define RESCAN_DELAY_USEC (100 * 1000)

/* The certificate of the internal CA that issues `c` (NULL for other issuers): a rotation replaces it,
 * and the set is then due (check: ca_rotated). */
static const char *issuing_ca_certificate(const Inventory *inv, const CertConfig *c) {
        const CaConfig *ca = c->issuer == ISSUER_CA ? inventory_find_ca(inv, c->issuer_name) : NULL;

        return ca ? ca->certificate : NULL;
}

/* The files of `c` a change to which matters. A key in a token is no file to watch (its URI may hold a
 * pin-source path). The further outputs too: check compares them, a deleted one makes the set due. */
#define SET_PATHS(inv, c)                                                                                   \
        {                                                                                                   \
                (c)->certificate, token_is_url((c)->key) ? NULL : (c)->key, (c)->ca,                        \
                        issuing_ca_certificate(inv, c), (c)->x->chain, (c)->x->leaf, (c)->x->combined,      \
                        (c)->x->pkcs12                                                                      \
        }

/* Whether `name` (a file name in a watched directory) is a CRL `c` is checked against: its `crl` files,
 * else its internal CA's. */
static bool crl_named(const Inventory *inv, const CertConfig *c, const char *name) {
        const CaConfig *ca = c->issuer == ISSUER_CA ? inventory_find_ca(inv, c->issuer_name) : NULL;
        const char *base;

        for (char **p = c->x->crl; p && *p; p++)
                if ((base = strrchr(*p, '/')) && strcmp(base + 1, name) == 0)
                        return true;
        return !c->x->crl && ca && ca->crl && (base = strrchr(ca->crl, '/')) && strcmp(base + 1, name) == 0;
}

static int on_rescan(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        m->rescan_pending = false;
        if (m->worker.running) /* the work's end runs a pass anyway */
                return 0;
        log_debug("watched files changed, inspecting them again");
        return manager_pass(m, false);
}

void schedule_rescan(Manager *m) {
        if (m->rescan_pending)
                return;
        m->rescan_pending = true;
        if (!m->rescan && sd_event_add_time_relative(m->event, &m->rescan, CLOCK_MONOTONIC,
                                                     RESCAN_DELAY_USEC, 0, on_rescan, m) < 0) {
                log_warning("cannot schedule an inspection of the files that changed, ignoring");
                m->rescan_pending = false;
                return;
        }
        (void) sd_event_source_set_time_relative(m->rescan, RESCAN_DELAY_USEC);
        (void) sd_event_source_set_enabled(m->rescan, SD_EVENT_ONESHOT);
}

static int on_inotify(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        Manager *m = userdata;

        /* Lost events, or a key marked compromised (ca revoke, revoke: any set may hold it). */
        /* A key marked compromised (ca revoke, revoke) or a certificate certherd revoked (revocations.json,
         * with or without a CRL): any set may be concerned. */
        if ((ev->mask & IN_Q_OVERFLOW) || (ev->len > 0 && (strcmp(ev->name, "compromised-keys.json") == 0 ||
                                                           strcmp(ev->name, "revocations.json") == 0))) {
                m->rescan_all = true;
                schedule_rescan(m);
                return 0;
        }
        if (ev->len == 0)
                return 0;
        /* Only the names the inventory watches matter; a directory may hold much else. Several sets may
         * share a file (a CA): mark every one that names it. */
        for (size_t i = 0; i < m->inv->n_certs; i++) {
                const CertConfig *c = m->inv->certs[i];
                const char *paths[] = SET_PATHS(m->inv, c);
                bool hit = crl_named(m->inv, c, ev->name); /* a new CRL: revoked is seen at once */

                for (size_t j = 0; !hit && j < ELEMENTSOF(paths); j++) {
                        const char *base = paths[j] ? strrchr(paths[j], '/') : NULL;

                        hit = base && strcmp(base + 1, ev->name) == 0;
                }
                if (hit) {
                        m->pass->sets[i].dirty = true;
                        schedule_rescan(m);
                }
        }
        return 0;
}

/* The directory of `path` into dirs (once). `is_dir`: path is the directory itself. */
static int add_dir(char **dirs, size_t *n, const char *path, bool is_dir) {
        const char *slash = path ? strrchr(path, '/') : NULL;
        char *d;

        if (!path || (!is_dir && !slash))
                return 0;
        d = is_dir ? strdup(path) : slash == path ? strdup("/") : strndup(path, (size_t) (slash - path));
        if (!d)
                return -ENOMEM;
        if (strv_contains(dirs, d))
                free(d);
        else
                dirs[(*n)++] = d;
        return 0;
}

/* Every directory to watch: the sets' files and CRLs, the CAs' CRLs and the state directory (for
 * compromised-keys.json). */
static int watched_dirs(const Inventory *inv, char ***ret) {
        _cleanup_strv_free_ char **dirs = NULL;
        size_t n = 0, room = inv->n_ca + 2;
        int r = 0;

        for (size_t i = 0; i < inv->n_certs; i++)
                room += 8 + strv_length(inv->certs[i]->x->crl);
        dirs = calloc(room, sizeof(char *));
        if (!dirs)
                return -ENOMEM;
        for (size_t i = 0; r >= 0 && i < inv->n_certs; i++) {
                const CertConfig *c = inv->certs[i];
                const char *paths[] = SET_PATHS(inv, c);

                for (size_t j = 0; r >= 0 && j < ELEMENTSOF(paths); j++)
                        r = add_dir(dirs, &n, paths[j], false);
                for (char **p = c->x->crl; r >= 0 && p && *p; p++)
                        r = add_dir(dirs, &n, *p, false);
        }
        for (size_t i = 0; r >= 0 && i < inv->n_ca; i++)
                r = add_dir(dirs, &n, inv->ca[i]->crl, false);
        if (r >= 0)
                r = add_dir(dirs, &n, inv->agent.state_directory, true);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(dirs);
        return 0;
}

void watches_free(Manager *m) {
        for (size_t i = 0; i < m->n_watches; i++)
                sd_event_source_disable_unref(m->watches[i]);
        free(m->watches);
        m->watches = NULL;
        m->n_watches = 0;
}

int watches_setup(Manager *m) {
        _cleanup_strv_free_ char **dirs = NULL;
        size_t n;
        int r;

        watches_free(m);
        r = watched_dirs(m->inv, &dirs);
        if (r < 0)
                return r;
        n = strv_length(dirs);
        m->watches = new0(sd_event_source *, n);
        if (!m->watches)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                r = sd_event_add_inotify(m->event, &m->watches[m->n_watches], dirs[i],
                                         IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                                 IN_DELETE | IN_ATTRIB | IN_ONLYDIR,
                                         on_inotify, m);
                if (r < 0) {
                        /* A directory that does not exist yet (first issuance) is seen by the pass. */
                        log_debug_errno(r, "cannot watch %s: %m, ignoring", dirs[i]);
                        continue;
                }
                m->n_watches++;
        }
        return 0;
}
