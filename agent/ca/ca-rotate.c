/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <jansson.h>

#include "ca-index.h"
#include "ca-pki.h"
#include "ca-rotate.h"
#include "ca.h"
#include "fd-util.h"
#include "gnutls-util.h"
#include "json-util.h"
#include "log.h"
#include "x509-file.h"
#include "x509.h"

#define ROTATION_FILE_MAX (64U * 1024U)
#define CRT_FILE_MAX (1024U * 1024U)
#define KEY_ID_MAX 64

static int record_path(const Inventory *inv, const CaConfig *ca, char **ret) {
        return asprintf(ret, "%s/ca/%s/rotation.json", inv->agent.state_directory, ca->name) < 0 ? -ENOMEM
                                                                                                 : 0;
}

static char *with_suffix(const char *path, const char *suffix) {
        char *p = NULL;

        return asprintf(&p, "%s%s", path, suffix) < 0 ? NULL : p;
}

void ca_rotation_record(const Inventory *inv, const CaConfig *ca, usec_t now, bool reissue_now) {
        _cleanup_free_ char *path = NULL;
        char when[32];
        int r;

        r = record_path(inv, ca, &path);
        if (r >= 0)
                r = mkdir_parents(path, 0700);
        if (r >= 0)
                r = json_save_state_file(path,
                                         json_pack("{s:I, s:s}", "rotated_usec", (json_int_t) now, "reissue",
                                                   reissue_now ? "now" : "overlap"),
                                         JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (!reissue_now)
                log_notice(
                        "[ca \"%s\"]: its leaves move to the new generation at %s (rotate-overlap); clients "
                        "must trust the exported bundle, which holds both, by then",
                        ca->name, format_timestamp_iso(when, sizeof(when), now + ca->rotate_overlap));
        if (r < 0)
                log_warning_errno(r,
                                  "[ca \"%s\"]: cannot record the time of the rotation in %s: %m; the new "
                                  "certificate's not_before stands for it",
                                  ca->name, path ?: "the state directory");
}

/* 0 and the record's facts, -ENOENT without one, -EBADMSG for a record we did not write. */
static int record_load(const Inventory *inv, const CaConfig *ca, usec_t *ret_rotated, bool *ret_now) {
        _cleanup_(json_decrefp) json_t *o = NULL;
        _cleanup_free_ char *path = NULL;
        json_t *t, *how;
        int r;

        r = record_path(inv, ca, &path);
        if (r < 0)
                return r;
        r = json_load_state_file(path, ROTATION_FILE_MAX, &o);
        if (r < 0)
                return r;
        if (!o)
                return -ENOENT;
        t = json_object_get(o, "rotated_usec");
        how = json_object_get(o, "reissue");
        if (!json_is_integer(t) || json_integer_value(t) <= 0 || !json_is_string(how) ||
            (strcmp(json_string_value(how), "now") != 0 && strcmp(json_string_value(how), "overlap") != 0))
                return -EBADMSG;
        *ret_rotated = (usec_t) json_integer_value(t);
        *ret_now = strcmp(json_string_value(how), "now") == 0;
        return 0;
}

int ca_reissue_time(const Inventory *inv, const CaConfig *ca, usec_t *ret) {
        _cleanup_free_ char *prev = with_suffix(ca->certificate, CA_PREVIOUS_SUFFIX);
        _cleanup_x509_crt_ gnutls_x509_crt_t cur = NULL;
        usec_t rotated = 0;
        bool now = false;
        time_t nb;
        int r;

        if (!prev)
                return -ENOMEM;
        if (access(prev, F_OK) < 0)
                return errno == ENOENT ? 0 : -errno;
        r = record_load(inv, ca, &rotated, &now);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                /* Rotated without a record (by an older certherd, or the state was lost): ca_make_ca()
                 * backdates not_before by an hour. */
                r = x509_read_first_crt(ca->certificate, CRT_FILE_MAX, &cur);
                if (r < 0)
                        return r;
                nb = gnutls_x509_crt_get_activation_time(cur);
                if (nb < 0)
                        return -EBADMSG;
                rotated = (usec_t) nb * USEC_PER_SEC + USEC_PER_HOUR;
        }
        *ret = now                                            ? rotated
               : rotated > USEC_INFINITY - ca->rotate_overlap ? USEC_INFINITY - 1
                                                              : rotated + ca->rotate_overlap;
        return 1;
}

/* Whether the certificate in `path` was signed by the key whose id is `id` (its authority key id), and is
 * valid at `now`; *ret_not_after (may be NULL) gets its expiry then. */
static bool issued_by(const char *path, const uint8_t *id, size_t id_size, usec_t now,
                      usec_t *ret_not_after) {
        _cleanup_x509_crt_ gnutls_x509_crt_t crt = NULL;
        uint8_t aki[KEY_ID_MAX];
        size_t aki_size = sizeof(aki);
        unsigned critical;
        time_t na;

        if (x509_read_first_crt(path, CRT_FILE_MAX, &crt) < 0)
                return false;
        na = gnutls_x509_crt_get_expiration_time(crt);
        if (na < 0 || (usec_t) na * USEC_PER_SEC <= now)
                return false;
        if (gnutls_x509_crt_get_authority_key_id(crt, aki, &aki_size, &critical) < 0 ||
            aki_size != id_size || memcmp(aki, id, id_size) != 0)
                return false;
        if (ret_not_after)
                *ret_not_after = (usec_t) na * USEC_PER_SEC;
        return true;
}

/* Every set of `ca` and every CA below it that still depends on the previous generation (key id `id`),
 * logged; how many. */
static unsigned still_dependent(const Inventory *inv, const CaConfig *ca, const uint8_t *id, size_t id_size,
                                usec_t now) {
        unsigned n = 0;
        char when[32];
        usec_t na;

        for (size_t i = 0; i < inv->n_certs; i++) {
                const CertConfig *c = inv->certs[i];

                if (c->issuer != ISSUER_CA || strcmp(c->issuer_name, ca->name) != 0 ||
                    !issued_by(c->certificate, id, id_size, now, &na))
                        continue;
                log_error(
                        "%s: the installed %s is a leaf of the previous generation, valid until %s: re-issue it "
                        "first (certherd renew --force %s)",
                        c->name, c->certificate, format_timestamp_iso(when, sizeof(when), na), c->name);
                n++;
        }
        for (size_t i = 0; i < inv->n_ca; i++) {
                const CaConfig *child = inv->ca[i];

                if (!child->parent || strcmp(child->parent, ca->name) != 0 ||
                    !issued_by(child->certificate, id, id_size, now, NULL))
                        continue;
                log_error(
                        "[ca \"%s\"]: %s is signed by the previous generation of [ca \"%s\"]: rotate it first "
                        "(certherd ca rotate %s)",
                        child->name, child->certificate, ca->name, child->name);
                n++;
        }
        return n;
}

static int remove_file(const char *path) {
        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

int ca_rotate_finish(const Inventory *inv, const CaConfig *ca, usec_t now) {
        _cleanup_free_ char *prev_crt = with_suffix(ca->certificate, CA_PREVIOUS_SUFFIX),
                            *prev_key = with_suffix(ca->key, CA_PREVIOUS_SUFFIX), *record = NULL;
        _cleanup_x509_crt_ gnutls_x509_crt_t old = NULL;
        uint8_t id[KEY_ID_MAX];
        size_t id_size = sizeof(id);
        unsigned busy;
        int r;

        if (!prev_crt || !prev_key || record_path(inv, ca, &record) < 0)
                return log_error_errno(-ENOMEM, "Out of memory");
        r = x509_read_first_crt(prev_crt, CRT_FILE_MAX, &old);
        if (r == -ENOENT)
                return log_error_errno(
                        r, "[ca \"%s\"]: no rotation to finish: there is no previous generation %s",
                        ca->name, prev_crt);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot read the previous generation %s: %m",
                                       ca->name, prev_crt);
        r = ca_authority_key_id(old, id, &id_size);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot read the key id of %s: %m", ca->name,
                                       prev_crt);
        /* A leaf still served, or a CA still signing, with the old generation would stop verifying for
         * every client that fetches the bundle without it. */
        busy = still_dependent(inv, ca, id, id_size, now);
        if (busy > 0)
                return log_error_errno(
                        -EBUSY,
                        "[ca \"%s\"]: not finishing the rotation: %u certificate%s above still depend%s "
                        "on the previous generation",
                        ca->name, busy, busy == 1 ? "" : "s", busy == 1 ? "s" : "");
        /* The key first: once it is gone, nothing can sign with the old generation again. */
        r = remove_file(prev_key);
        if (r >= 0)
                r = remove_file(prev_crt);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot remove the previous generation: %m",
                                       ca->name);
        (void) remove_file(record);
        log_notice(
                "[ca \"%s\"]: rotation finished: the previous generation (%s) is removed; the bundle and the "
                "CRL "
                "hold the current generation only",
                ca->name, prev_crt);
        return ca_export_bundle(ca, now);
}
