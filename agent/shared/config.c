/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The inventory: its sections, loading the main file and conf.d/ (config-read.c reads each file,
 * config-check.c checks the whole), packing the sets a daemon keeps, and lookups. */
#include <assert.h>
#include <stdalign.h>
#include <stddef.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared-internal.h"
#include "config-value.h"
#include "config.h"
#include "fd-util.h"
#include "log.h"

const char *const config_section_kind_table[] = {
        [SECTION_AGENT] = "agent",
        [SECTION_ACME] = "acme",
        [SECTION_CA] = "ca",
        [SECTION_CERT] = "certificate",
};

int config_verror(char **reterr, int r, const char *file, unsigned line, const char *fmt, va_list ap) {
        _cleanup_free_ char *msg = NULL;
        char *s;
        int k;

        if (!reterr)
                return r;
        if (vasprintf(&msg, fmt, ap) < 0)
                return r;
        file = file ?: "<config>"; /* sections of an inventory built by hand */
        k = line > 0 ? asprintf(&s, "%s:%u: %s", file, line, msg) : asprintf(&s, "%s: %s", file, msg);
        if (k >= 0)
                *reterr = s;
        return r;
}

int config_error_at(char **reterr, int r, const char *file, unsigned line, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        config_verror(reterr, r, file, line, fmt, ap);
        va_end(ap);
        return r;
}

/* "[certificate \"web\"]" for messages. */
char *config_section_display(char *buf, size_t size, SectionKind kind, const char *name) {
        if (name)
                snprintf(buf, size, "[%s \"%s\"]", config_section_kind_table[kind], name);
        else
                snprintf(buf, size, "[%s]", config_section_kind_table[kind]);
        return buf;
}

static bool index_is_complete(const Inventory *inv) {
        return inv->index && inv->index->n == inv->n_acme + inv->n_ca + inv->n_certs;
}

/* An inventory whose arrays were filled by hand gets its index rebuilt before we merge into it. */
int config_index_sync(Inventory *inv) {
        int r = 0;

        if (index_is_complete(inv))
                return 0;
        inv->index = config_index_free(inv->index);
        inv->index = calloc(1, sizeof(ConfigIndex));
        if (!inv->index)
                return -ENOMEM;
        for (size_t i = 0; i < inv->n_acme && r >= 0; i++)
                r = config_index_put(inv, SECTION_ACME, i);
        for (size_t i = 0; i < inv->n_ca && r >= 0; i++)
                r = config_index_put(inv, SECTION_CA, i);
        for (size_t i = 0; i < inv->n_certs && r >= 0; i++)
                r = config_index_put(inv, SECTION_CERT, i);
        return r;
}

/* The structs keep no capacity, so arrays grow whenever n is a power of two: amortized O(1). */
static void *grow_array(void *array, size_t n) {
        if (n & (n - 1))
                return array;
        return reallocarray(array, n ? n * 2 : 1, sizeof(void *));
}

static AcmeConfig *acme_free(AcmeConfig *a) {
        if (!a)
                return NULL;
        free_many(a->name, a->directory, a->contact, a->ca_bundle, a->eab_kid, a->eab_hmac_file, a->webroot,
                  a->listen, a->dns_hook, a->preferred_chain, a->account_key, a->pkcs11_pin_file, a->profile,
                  a->persist_issuer, a->file);
        free(a);
        return NULL;
}

static CaConfig *ca_free(CaConfig *c) {
        if (!c)
                return NULL;
        strv_free(c->export);
        strv_free(c->reload);
        strv_free(c->permitted_names);
        free_many(c->name, c->certificate, c->key, c->crl, c->exec, c->pkcs11_pin_file, c->parent,
                  c->subject, c->file);
        free(c);
        return NULL;
}

const CertExtra cert_extra_none = {};

CertExtra *cert_extra_mut(CertConfig *c) {
        CertExtra *x;

        assert(!c->packed);
        if (c->x && c->x != &cert_extra_none)
                return (CertExtra *) c->x;
        x = calloc(1, sizeof(CertExtra));
        if (x)
                c->x = x;
        return x;
}

static void cert_extra_free(CertExtra *x) {
        if (!x || x == &cert_extra_none)
                return;
        strv_free(x->restart);
        strv_free(x->verify);
        strv_free(x->crl);
        free_many(x->subject, x->key_password_file, x->pkcs11_pin_file, x->signal_pidfile, x->exec,
                  x->profile, x->chain, x->leaf, x->combined, x->pkcs12, x->pkcs12_password_file);
        free(x);
}

static CertConfig *cert_free(CertConfig *c) {
        if (!c)
                return NULL;
        if (c->packed) /* it lives in Inventory.pack, its shared strings in Inventory.shared */
                return NULL;
        strv_free(c->names);
        strv_free(c->reload);
        free_many(c->name, c->certificate, c->key, c->ca, c->issuer_name, c->owner, c->file);
        cert_extra_free((CertExtra *) c->x);
        free(c);
        return NULL;
}

Inventory *inventory_free(Inventory *inv) {
        if (!inv)
                return NULL;
        strv_free(inv->files);
        strv_free(inv->agent.pkcs11_modules);
        free_many(inv->path, inv->agent.state_directory, inv->agent.pin_directory, inv->agent.metrics_file,
                  inv->agent.file);
        for (size_t i = 0; i < inv->n_acme; i++)
                acme_free(inv->acme[i]);
        free(inv->acme);
        for (size_t i = 0; i < inv->n_ca; i++)
                ca_free(inv->ca[i]);
        free(inv->ca);
        for (size_t i = 0; i < inv->n_certs; i++)
                cert_free(inv->certs[i]);
        free(inv->certs);
        config_index_free(inv->index);
        strv_free(inv->warnings);
        for (size_t i = 0; i < inv->n_shared; i++)
                free(inv->shared[i]);
        free(inv->shared);
        free(inv->pack);
        free(inv);
        return NULL;
}

Inventory *inventory_new(void) {
        Inventory *inv = calloc(1, sizeof(Inventory));

        if (!inv)
                return NULL;
        inv->index = calloc(1, sizeof(ConfigIndex));
        if (!inv->index)
                return inventory_free(inv);
        return inv;
}

/* Non-string defaults are set when a section is created, as they have no "unset" value to test for
 * later; string defaults and [agent]'s thresholds are applied by config_validate(). */
static void *section_new(SectionKind kind, const char *name, const char *file, unsigned line) {
        _cleanup_free_ char *n = strdup(name), *f = strdup(file);
        AcmeConfig *a;
        CaConfig *ca;
        CertConfig *c;

        if (!n || !f)
                return NULL;
        switch (kind) {
        case SECTION_ACME:
                if (!(a = malloc(sizeof(AcmeConfig))))
                        return NULL;
                *a = (AcmeConfig){
                        .name = TAKE_PTR(n),
                        .file = TAKE_PTR(f),
                        .line = line,
                        .challenge = CHALLENGE_HTTP_01,
                        .account_key_type = KEY_TYPE_EC_P256,
                        .initial_backoff = 0.15,
                        .max_retry_duration = 30,
                };
                return a;
        case SECTION_CA:
                if (!(ca = malloc(sizeof(CaConfig))))
                        return NULL;
                *ca = (CaConfig){
                        .name = TAKE_PTR(n),
                        .file = TAKE_PTR(f),
                        .line = line,
                        .key_type = KEY_TYPE_EC_P256,
                        .validity = 90 * USEC_PER_DAY,
                        .ca_validity = 10 * USEC_PER_YEAR,
                        .crl_validity = 7 * USEC_PER_DAY,
                        .path_length = -1,
                        .rotate_overlap = 24 * USEC_PER_HOUR,
                };
                return ca;
        default:
                if (!(c = malloc(sizeof(CertConfig))))
                        return NULL;
                *c = (CertConfig){
                        .name = TAKE_PTR(n),
                        .file = TAKE_PTR(f),
                        .line = line,
                        .issuer = ISSUER_NONE,
                        .usage = USAGE_SERVER,
                        .key_type = KEY_TYPE_EC_P256,
                        .key_policy = KEY_POLICY_REUSE,
                        .mode = 0600,
                        .x = &cert_extra_none,
                };
                return c;
        }
}

/* Appends `s` to the pointer array `array` of `n` entries (grown by grow_array()): 0 or -ENOMEM. */
#define PTR_ARRAY_APPEND(array, n, s)                                                                       \
        ({                                                                                                  \
                void *_a = grow_array((array), (n));                                                        \
                if (_a) {                                                                                   \
                        (array) = _a;                                                                       \
                        (array)[(n)++] = (s);                                                               \
                }                                                                                           \
                _a ? 0 : -ENOMEM;                                                                           \
        })

static int section_append(Inventory *inv, SectionKind kind, void *s) {
        switch (kind) {
        case SECTION_ACME:
                return PTR_ARRAY_APPEND(inv->acme, inv->n_acme, s);
        case SECTION_CA:
                return PTR_ARRAY_APPEND(inv->ca, inv->n_ca, s);
        default:
                return PTR_ARRAY_APPEND(inv->certs, inv->n_certs, s);
        }
}

static size_t section_count(const Inventory *inv, SectionKind kind) {
        return kind == SECTION_ACME ? inv->n_acme : kind == SECTION_CA ? inv->n_ca : inv->n_certs;
}

/* The section (kind, name), created at the current line unless an earlier one is merged into. */
int config_section_get(Inventory *inv, SectionKind kind, const char *name, const char *file, unsigned line,
                       void **ret) {
        void *s = config_index_get(inv, kind, name);
        int r;

        if (!s) {
                s = section_new(kind, name, file, line);
                if (!s)
                        return -ENOMEM;
                r = section_append(inv, kind, s);
                if (r < 0) {
                        if (kind == SECTION_ACME)
                                acme_free(s);
                        else if (kind == SECTION_CA)
                                ca_free(s);
                        else
                                cert_free(s);
                        return r;
                }
                /* From here on the inventory owns s; a failed put only leaves the index to rebuild. */
                r = config_index_put(inv, kind, section_count(inv, kind) - 1);
                if (r < 0)
                        return r;
        }
        *ret = s;
        return 0;
}

/* Run by root, certherd executes what the inventory says (exec =, dns-hook =) as root: a file that
 * someone else owns or may write would hand them root. Owned by root (or by whoever runs certherd),
 * and writable by nobody else. Other users run certherd with their own rights: nothing to protect. */
static int check_file_owner(const char *path, const struct stat *st, uid_t euid, char **reterr) {
        if (euid != 0)
                return 0;
        if (st->st_uid != 0 && st->st_uid != euid)
                return config_error_at(
                        reterr, -EPERM, path, 0,
                        "refusing an inventory file owned by uid %u: running as root, it must belong to root",
                        (unsigned) st->st_uid);
        if (st->st_mode & (S_IWGRP | S_IWOTH))
                return config_error_at(
                        reterr, -EPERM, path, 0,
                        "refusing an inventory file writable by %s (mode %04o): running as root, only its "
                        "owner may write it",
                        (st->st_mode & S_IWOTH) ? "others" : "its group", (unsigned) (st->st_mode & 07777));
        return 0;
}

/* The directories holding inventory files, as root: whoever may write them may add a file (with an
 * exec =) or swap one, so they are held to check_file_owner()'s rule. A missing one is no error. The main
 * file may sit in a sticky directory (-c /tmp/x.conf): nobody else may replace it there, and a conf.d
 * someone else made beside it is refused by this same rule. */
static int check_inventory_dir(const char *dir, bool sticky_ok, char **reterr) {
        struct stat st;
        int r;

        if (geteuid() != 0)
                return 0;
        r = dir_check_owned(dir, &st);
        if (r == -ENOENT || r == -ENOTDIR)
                return 0;
        if (r == -EPERM && sticky_ok && st.st_uid == 0 && (st.st_mode & S_ISVTX))
                return 0;
        if (r == -EPERM && st.st_uid != 0)
                return config_error_at(
                        reterr, r, dir, 0,
                        "refusing an inventory directory owned by uid %u: running as root, it must "
                        "belong to root",
                        (unsigned) st.st_uid);
        if (r == -EPERM)
                return config_error_at(
                        reterr, r, dir, 0,
                        "refusing an inventory directory writable by %s (mode %04o): running as root, "
                        "only its owner may write it",
                        (st.st_mode & S_IWOTH) ? "others" : "its group", (unsigned) (st.st_mode & 07777));
        if (r < 0)
                return config_error_at(reterr, r, dir, 0, "%s", file_strerror(r));
        return 0;
}

char *inventory_files_string(const Inventory *inv) {
        size_t size = 1;
        char *s, *p;

        for (char **f = inv->files; f && *f; f++)
                size += strlen(*f) + 2;
        if (!inv->files)
                return strdup(inv->path ?: "");
        s = p = malloc(size);
        if (!s)
                return NULL;
        for (char **f = inv->files; *f; f++)
                p = stpcpy(stpcpy(p, f == inv->files ? "" : ", "), *f);
        return s;
}

/* For messages about the inventory as a whole ("no certificate sets in FILES"). */
static int remember_file(Inventory *inv, const char *path) {
        size_t n = strv_length(inv->files);
        char **l = realloc(inv->files, (n + 2) * sizeof(char *));

        if (!l)
                return -ENOMEM;
        inv->files = l;
        l[n] = strdup(path);
        l[n + 1] = NULL;
        return l[n] ? 0 : -ENOMEM;
}

static int parse_file(Inventory *inv, const char *path, char **reterr) {
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        /* Never blocks on a FIFO, never opens a device; as root, a link is followed only when root made
         * it in a directory nobody else may write (fd-util.h). */
        fd = open_regular_at(AT_FDCWD, path, geteuid() == 0 ? READ_TRUSTED : 0, &st);
        if (fd < 0)
                return config_error_at(reterr, fd == -ENODEV || fd == -ESPIPE || fd == -ENXIO ? -EINVAL : fd,
                                       path, 0, "%s", file_strerror(fd));
        r = check_file_owner(path, &st, geteuid(), reterr);
        if (r < 0)
                return r;
        r = remember_file(inv, path);
        if (r < 0)
                return config_error_at(reterr, r, path, 0, "out of memory");
        return config_parse_fd(inv, fd, path, reterr);
}

static int conf_filter(const struct dirent *de) {
        size_t n = strlen(de->d_name);

        return de->d_name[0] != '.' && n > 5 && strcmp(de->d_name + n - 5, ".conf") == 0 &&
               de->d_type != DT_DIR;
}

/* Byte order, not alphasort()'s strcoll(): the order must not depend on the locale. */
static int conf_compare(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

static int parse_conf_d(Inventory *inv, const char *main_path, char **reterr) {
        const char *slash = strrchr(main_path, '/');
        _cleanup_free_ char *dir = NULL;
        struct dirent **list = NULL;
        int n, r = 0;

        if (asprintf(&dir, "%.*sconf.d", slash ? (int) (slash - main_path + 1) : 0, main_path) < 0)
                return config_error_at(reterr, -ENOMEM, main_path, 0, "out of memory");
        r = check_inventory_dir(dir, false, reterr);
        if (r < 0)
                return r;
        n = scandir(dir, &list, conf_filter, conf_compare);
        if (n < 0) {
                r = -errno;
                if (r == -ENOENT || r == -ENOTDIR)
                        return 0;
                return config_error_at(reterr, r, dir, 0, "%s", strerror(-r));
        }
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *path = NULL;

                if (r >= 0 && asprintf(&path, "%s/%s", dir, list[i]->d_name) < 0)
                        r = config_error_at(reterr, -ENOMEM, dir, 0, "out of memory");
                else if (r >= 0)
                        r = parse_file(inv, path, reterr);
                free(list[i]);
        }
        free(list);
        return r;
}

/* The string and list fields of a set, for cert_pack(): in its CertConfig, or in its CertExtra. */
typedef struct PackField {
        size_t offset;
        bool extra;
} PackField;

#define C_FIELD(f)                                                                                          \
        { offsetof(CertConfig, f), false }
#define X_FIELD(f)                                                                                          \
        { offsetof(CertExtra, f), true }
static const PackField cert_string_fields[] = {
        C_FIELD(name),
        C_FIELD(certificate),
        C_FIELD(key),
        C_FIELD(ca),
        C_FIELD(issuer_name),
        C_FIELD(owner),
        C_FIELD(file),
        X_FIELD(subject),
        X_FIELD(key_password_file),
        X_FIELD(pkcs11_pin_file),
        X_FIELD(signal_pidfile),
        X_FIELD(exec),
        X_FIELD(profile),
        X_FIELD(chain),
        X_FIELD(leaf),
        X_FIELD(combined),
        X_FIELD(pkcs12),
        X_FIELD(pkcs12_password_file),
};
static const PackField cert_strv_fields[] = {
        C_FIELD(names), C_FIELD(reload), X_FIELD(restart), X_FIELD(verify), X_FIELD(crl),
};

static char *field_base(const CertConfig *c, PackField f) {
        return (char *) (f.extra ? (const void *) (c->x ?: &cert_extra_none) : (const void *) c) + f.offset;
}
#define FIELD(c, f) (*(char **) field_base((c), (f)))
#define STRV_FIELD(c, f) (*(char ***) field_base((c), (f)))

static bool streq_ptr(const char *a, const char *b) {
        return a && b && strcmp(a, b) == 0;
}

/* One copy of `s` in inv->shared for the sets that repeat it; *last: the copy the previous set used for
 * this field (the sets of one file come in a row, so a run shares one copy). NULL on OOM. */
static char *share_string(Inventory *inv, char **last, const char *s) {
        char **a;

        if (streq_ptr(*last, s))
                return *last;
        a = grow_array(inv->shared, inv->n_shared);
        if (!a)
                return NULL;
        inv->shared = a;
        if (!(a[inv->n_shared] = strdup(s)))
                return NULL;
        return *last = a[inv->n_shared++];
}

static char *pack_string(char **p, const char *s) {
        size_t n = strlen(s) + 1;
        char *d = memcpy(*p, s, n);

        *p += n;
        return d;
}

/* The size of c packed (cert_pack), and which of its string fields it shares with its neighbours
 * instead: those that the previous or next set has too. last[k]: the value of field k the last sharing
 * set shared (NULL: none yet). Rounded so that the set after it stays aligned. */
static size_t cert_pack_size(const CertConfig *c, const CertConfig *next,
                             char *const last[static ELEMENTSOF(cert_string_fields)],
                             bool shared[static ELEMENTSOF(cert_string_fields)]) {
        size_t size = sizeof(CertConfig) + (c->x && c->x != &cert_extra_none ? sizeof(CertExtra) : 0);

        for (size_t k = 0; k < ELEMENTSOF(cert_string_fields); k++) {
                const char *f = FIELD(c, cert_string_fields[k]);

                shared[k] = f && (streq_ptr(last[k], f) ||
                                  (next && streq_ptr(FIELD(next, cert_string_fields[k]), f)));
                if (f && !shared[k])
                        size += strlen(f) + 1;
        }
        for (size_t k = 0; k < ELEMENTSOF(cert_strv_fields); k++)
                for (char **l = STRV_FIELD(c, cert_strv_fields[k]), **e = l; l; e++) {
                        size += sizeof(char *);
                        if (!*e)
                                break;
                        size += strlen(*e) + 1;
                }
        return ALIGN_TO(size, alignof(CertConfig));
}

/* inv->certs[i] and its strings at *pos in inv->pack (advanced past them); a string that the previous or
 * next set has in the same field is shared with them instead: a daemon holds every set as long as it
 * runs, and two dozen small chunks per set cost more in malloc headers, rounding and holes than their
 * text. The index is pointed at the new struct. Returns 0 or -errno (then inv->certs[i] is unchanged). */
static int cert_pack(Inventory *inv, size_t i, char *last[static ELEMENTSOF(cert_string_fields)],
                     char **pos) {
        const CertConfig *c = inv->certs[i], *next = i + 1 < inv->n_certs ? inv->certs[i + 1] : NULL;
        bool shared[ELEMENTSOF(cert_string_fields)];
        size_t size = cert_pack_size(c, next, last, shared);
        CertConfig *p = (CertConfig *) *pos;
        char *s, **v;

        for (size_t k = 0; k < ELEMENTSOF(cert_string_fields); k++)
                if (shared[k] && !share_string(inv, &last[k], FIELD(c, cert_string_fields[k])))
                        return -ENOMEM;
        *p = *c;
        p->packed = true;
        p->x = &cert_extra_none;
        v = (char **) (p + 1);
        if (c->x && c->x != &cert_extra_none) { /* right after the struct */
                p->x = memcpy(v, c->x, sizeof(CertExtra));
                v = (char **) ((CertExtra *) v + 1);
        }
        for (size_t k = 0; k < ELEMENTSOF(cert_strv_fields); k++) {
                char **l = STRV_FIELD(c, cert_strv_fields[k]);
                size_t n = 0;

                if (!l)
                        continue;
                STRV_FIELD(p, cert_strv_fields[k]) = v;
                while (l[n])
                        n++;
                v += n + 1;
        }
        s = (char *) v;
        for (size_t k = 0; k < ELEMENTSOF(cert_strv_fields); k++) {
                char **l = STRV_FIELD(c, cert_strv_fields[k]), **d = STRV_FIELD(p, cert_strv_fields[k]);

                for (; l && *l; l++, d++)
                        *d = pack_string(&s, *l);
                if (l)
                        *d = NULL;
        }
        for (size_t k = 0; k < ELEMENTSOF(cert_string_fields); k++) {
                const char *f = FIELD(c, cert_string_fields[k]);

                if (f)
                        FIELD(p, cert_string_fields[k]) = shared[k] ? last[k] : pack_string(&s, f);
        }
        assert(s <= (char *) p + size && (char *) p + size - s < (ptrdiff_t) alignof(CertConfig));

        /* The index names the place, not the struct: nothing to update there. */
        cert_free(inv->certs[i]);
        inv->certs[i] = p;
        *pos += size;
        return 0;
}

/* Every set packed into one allocation, inv->pack. Returns 0 or -ENOMEM. */
static int inventory_pack(Inventory *inv) {
        char *last[ELEMENTSOF(cert_string_fields)] = {}, *pos;
        size_t total = 0;
        int r;

        assert(!inv->pack);
        for (size_t i = 0; i < inv->n_certs; i++) {
                const CertConfig *c = inv->certs[i];
                bool shared[ELEMENTSOF(cert_string_fields)];

                total += cert_pack_size(c, i + 1 < inv->n_certs ? inv->certs[i + 1] : NULL, last, shared);
                for (size_t k = 0; k < ELEMENTSOF(cert_string_fields); k++)
                        if (shared[k])
                                last[k] = FIELD(c, cert_string_fields[k]);
        }
        if (total == 0)
                return 0;
        pos = inv->pack = malloc(total);
        if (!pos)
                return -ENOMEM;
        memset(last, 0, sizeof(last));
        for (size_t i = 0; i < inv->n_certs; i++)
                if ((r = cert_pack(inv, i, last, &pos)) < 0)
                        return r;
        assert(pos == (char *) inv->pack + total);
        return 0;
}

int config_load(const char *path, Inventory **ret, char **reterr) {
        _cleanup_inventory_ Inventory *inv = NULL;
        int r;

        assert(ret);
        if (!path) {
                path = getenv("CERTHERD_CONFIG");
                if (!path || !*path)
                        path = CONFIG_DEFAULT_PATH;
        }
        inv = inventory_new();
        if (!inv || !(inv->path = strdup(path)))
                return config_error_at(reterr, -ENOMEM, path, 0, "out of memory");
        {
                const char *slash = strrchr(path, '/');
                _cleanup_free_ char *dir = slash ? strndup(path, slash == path ? 1 : (size_t) (slash - path))
                                                 : strdup(".");

                r = dir ? check_inventory_dir(dir, true, reterr)
                        : config_error_at(reterr, -ENOMEM, path, 0, "out of memory");
        }
        if (r >= 0)
                r = parse_file(inv, path, reterr);
        if (r < 0)
                return r;
        r = parse_conf_d(inv, path, reterr);
        if (r < 0)
                return r;
        r = config_validate(inv, reterr);
        if (r < 0)
                return r;
        r = inventory_pack(inv);
        if (r < 0)
                return config_error_at(reterr, r, path, 0, "cannot keep the inventory: %s", strerror(-r));
        for (char **w = inv->warnings; w && *w; w++)
                log_warning("%s", *w);
        *ret = TAKE_PTR(inv);
        return 0;
}

static void *find_section(const Inventory *inv, SectionKind kind, const char *name) {
        if (!inv || !name)
                return NULL;
        if (index_is_complete(inv))
                return config_index_get(inv, kind, name);
        /* Built by hand, or the index lost an allocation race with OOM: scan. */
        if (kind == SECTION_ACME) {
                for (size_t i = 0; i < inv->n_acme; i++)
                        if (strcmp(inv->acme[i]->name, name) == 0)
                                return inv->acme[i];
        } else if (kind == SECTION_CA) {
                for (size_t i = 0; i < inv->n_ca; i++)
                        if (strcmp(inv->ca[i]->name, name) == 0)
                                return inv->ca[i];
        } else {
                for (size_t i = 0; i < inv->n_certs; i++)
                        if (strcmp(inv->certs[i]->name, name) == 0)
                                return inv->certs[i];
        }
        return NULL;
}

CertConfig *inventory_find_cert(const Inventory *inv, const char *name) {
        return find_section(inv, SECTION_CERT, name);
}

CaConfig *inventory_find_ca(const Inventory *inv, const char *name) {
        return find_section(inv, SECTION_CA, name);
}

AcmeConfig *inventory_find_acme(const Inventory *inv, const char *name) {
        return find_section(inv, SECTION_ACME, name);
}

Threshold cert_warn_before(const Inventory *inv, const CertConfig *c) {
        return c && c->x->warn_before.set ? c->x->warn_before : inv->agent.warn_before;
}

Threshold cert_critical_before(const Inventory *inv, const CertConfig *c) {
        return c && c->x->critical_before.set ? c->x->critical_before : inv->agent.critical_before;
}

usec_t cert_hook_timeout(const Inventory *inv, const CertConfig *c) {
        if (c && c->x->hook_timeout > 0)
                return c->x->hook_timeout;
        return inv && inv->agent.hook_timeout > 0 ? inv->agent.hook_timeout : CONFIG_HOOK_TIMEOUT_DEFAULT;
}

const char *cert_profile(const Inventory *inv, const CertConfig *c) {
        const AcmeConfig *a;

        if (!c || c->issuer != ISSUER_ACME)
                return NULL;
        if (c->x->profile)
                return c->x->profile;
        a = inventory_find_acme(inv, c->issuer_name);
        return a ? a->profile : NULL;
}

Threshold cert_renew_before(const Inventory *inv, const CertConfig *c) {
        return c && c->x->renew_before.set ? c->x->renew_before : inv->agent.renew_before;
}

const WindowList *cert_window(const Inventory *inv, const CertConfig *c) {
        return c && c->x->window.set ? &c->x->window : &inv->agent.window;
}
