/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The inventory writer and account store shared by the importers and `discover`. Everything an importer
 * emits goes through here, so that a hostile foreign file (a path with " ; ", a "${X}" in a hook) can
 * never become an inventory that means something else: such values are refused, not quoted. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "fd-util.h"
#include "gnutls-util.h"
#include "import-inventory.h"
#include "install.h"
#include "keygen.h"
#include "log.h"
#include "privilege.h"
#include "state.h"
#include "x509.h"

#define ACCOUNT_FILE_MAX (64U * 1024U)

int import_writer_init(ImportWriter *w) {
        *w = (ImportWriter){};
        w->f = open_memstream(&w->text, &w->size);
        return w->f ? 0 : -ENOMEM;
}

void import_writer_done(ImportWriter *w) {
        if (w->f)
                fclose(w->f);
        free(w->text);
        *w = (ImportWriter){};
}

void import_comment(ImportWriter *w, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;

        if (VA_FORMAT(&s, fmt) < 0) {
                w->error = w->error ?: -ENOMEM;
                return;
        }
        for (char *p = s; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        *p = '?';
        fprintf(w->f, "# %s\n", s);
}

void import_blank(ImportWriter *w) {
        fputc('\n', w->f);
}

static bool section_name_is_valid(const char *s) {
        if (!s || !*s || *s == '.' || *s == '-')
                return false;
        for (; *s; s++)
                if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-", *s))
                        return false;
        return true;
}

int import_section_name(const char *prefix, const char *s, char **ret) {
        _cleanup_free_ char *n = NULL;

        if (asprintf(&n, "%s%s%s", prefix ?: "", prefix && *prefix ? "-" : "", s) < 0)
                return -ENOMEM;
        for (char *p = n; *p; p++)
                if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-", *p))
                        *p = '-';
        if (!*n || *n == '.' || *n == '-') {
                char *x;
                if (asprintf(&x, "x%s", n) < 0)
                        return -ENOMEM;
                free(n);
                n = x;
        }
        *ret = TAKE_PTR(n);
        return 0;
}

int import_section(ImportWriter *w, const char *kind, const char *name) {
        if (!section_name_is_valid(name))
                return -EINVAL;
        fprintf(w->f, "\n[%s \"%s\"]\n", kind, name);
        return 0;
}

static const char *value_problem(const char *v) {
        size_t n = strlen(v);

        if (n == 0)
                return "empty";
        if (n > 4096)
                return "longer than 4096 characters";
        if (v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' || v[n - 1] == '\t')
                return "leading or trailing blanks";
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) v[i];
                if (c < 0x20 || c == 0x7f)
                        return "a control character";
                if (c == ';' && i > 0 && (v[i - 1] == ' ' || v[i - 1] == '\t'))
                        return "';' after a blank (an inventory comment)";
        }
        return NULL;
}

int import_key(ImportWriter *w, const char *key, const char *value) {
        if (!value || value_problem(value))
                return -EINVAL;
        fprintf(w->f, "%s = ", key);
        for (const char *p = value; *p; p++) {
                if (*p == '$')
                        fputc('$', w->f);
                fputc(*p, w->f);
        }
        fputc('\n', w->f);
        return 0;
}

int import_key_or_comment(ImportWriter *w, const char *key, const char *value) {
        const char *why = value ? value_problem(value) : "missing";

        if (!why)
                return import_key(w, key, value);
        import_comment(w, "not imported: %s: the value has %s", key, why);
        return 0;
}

int import_list_open(ImportList *l) {
        *l = (ImportList){};
        l->f = open_memstream(&l->text, &l->size);
        return l->f ? 0 : -ENOMEM;
}

void import_list_add(ImportList *l, const char *fmt, ...) {
        va_list ap;

        if (ftell(l->f) > 0)
                fputc(' ', l->f);
        va_start(ap, fmt);
        vfprintf(l->f, fmt, ap);
        va_end(ap);
}

int import_list_close(ImportWriter *w, ImportList *l, const char *key) {
        int r = fclose(l->f) != 0 ? -ENOMEM : 0;

        if (r >= 0 && l->text && *l->text)
                r = import_key(w, key, l->text) ?: 1;
        free(l->text);
        *l = (ImportList){};
        return r;
}

/* Whether the inventory parser accepts `text` as a whole: the importer never writes what check refuses. */
static int validate(const char *text) {
        _cleanup_inventory_ Inventory *inv = inventory_new();
        _cleanup_free_ char *err = NULL;
        int r;

        if (!inv)
                return -ENOMEM;
        r = config_parse_string(inv, text, "(imported inventory)", &err);
        if (r >= 0)
                r = config_validate(inv, &err);
        if (r < 0)
                return log_error_errno(r, "the imported inventory does not load: %s", err ?: "invalid");
        return 0;
}

int import_writer_validate(ImportWriter *w) {
        if (w->error < 0)
                return log_error_errno(w->error, "Failed to write the inventory: %m");
        if (fflush(w->f) != 0)
                return log_error_errno(-ENOMEM, "Out of memory");
        return validate(w->text);
}

int import_writer_output(ImportWriter *w, const ImportOptions *o) {
        struct stat st;
        int r;

        r = import_writer_validate(w);
        if (r < 0)
                return r;
        if (!o->write) {
                if (fwrite(w->text, 1, w->size, stdout) != w->size || fflush(stdout) != 0)
                        return log_error_errno(-EIO, "Failed to write the inventory to standard output");
                return 0;
        }
        if (lstat(o->write, &st) >= 0)
                return log_error_errno(-EEXIST, "%s exists: not replacing it (remove it or write elsewhere)",
                                       o->write);
        r = install_data_mkdir(o->write, w->text, w->size, 0644, 0755);
        if (r < 0)
                return log_error_errno(r, "cannot write %s: %m", o->write);
        log_info("wrote %s", o->write);
        return 0;
}

int import_state_directory(const ImportOptions *o, char **ret) {
        _cleanup_inventory_ Inventory *inv = NULL;
        _cleanup_free_ char *err = NULL;
        const char *path = o->config;
        char *s;
        int r;

        if (o->state_directory) {
                if (o->state_directory[0] != '/')
                        return log_error_errno(-EINVAL, "--state-directory must be an absolute path: %s",
                                               o->state_directory);
                s = strdup(o->state_directory);
                if (!s)
                        return -ENOMEM;
                *ret = s;
                return 0;
        }
        if (!path)
                path = getenv("CERTHERD_CONFIG");
        if (!path || !*path)
                path = CONFIG_DEFAULT_PATH;
        r = config_load(path, &inv, &err);
        if (r == -ENOENT && access(path, F_OK) < 0) {
                /* No inventory yet: the default state directory, as an empty inventory has it. */
                inv = inventory_new();
                if (!inv || config_validate(inv, NULL) < 0)
                        return -ENOMEM;
        } else if (r < 0)
                return log_error_errno(r,
                                       "%s (the state directory for imported accounts comes from it; or "
                                       "give --state-directory)",
                                       err ?: path);
        s = strdup(inv->agent.state_directory);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int write_private(const char *path, const void *data, size_t size) {
        return install_data(path, data, size, 0600);
}

int import_account(const char *state_dir, const ImportAccount *a) {
        _cleanup_free_ char *dir = NULL, *key_path = NULL, *json_path = NULL, *copy = NULL, *text = NULL;
        _cleanup_free_ uint8_t *old = NULL;
        _cleanup_datum_ gnutls_datum_t pem = {};
        PrivilegeFs fs = {};
        json_t *j, *c;
        char *save = NULL;
        size_t old_size;
        int r;

        r = keygen_export_pem(a->key, &pem);
        if (r < 0)
                return log_error_errno(r, "[acme \"%s\"] cannot export the account key: %m", a->name);
        if (asprintf(&dir, "%s/acme/%s", state_dir, a->name) < 0 ||
            asprintf(&key_path, "%s/account.key", dir) < 0 ||
            asprintf(&json_path, "%s/account.json", dir) < 0)
                return -ENOMEM;

        r = read_full_file_flags(key_path, READ_STRICT, ACCOUNT_FILE_MAX, &old, &old_size);
        if (r >= 0) {
                _cleanup_x509_privkey_ gnutls_x509_privkey_t k = NULL;
                _cleanup_datum_ gnutls_datum_t old_pem = {};

                if (x509_load_privkey(old, old_size, NULL, &k) < 0 || keygen_export_pem(k, &old_pem) < 0 ||
                    old_pem.size != pem.size || memcmp(old_pem.data, pem.data, pem.size) != 0)
                        return log_error_errno(
                                -EEXIST,
                                "[acme \"%s\"] %s holds another account key: not replacing an "
                                "account certherd uses",
                                a->name, key_path);
        } else if (r != -ENOENT)
                return log_error_errno(r, "cannot read %s: %s", key_path, file_strerror(r));

        c = json_array();
        if (a->contact && !(copy = strdup(a->contact)))
                return -ENOMEM;
        for (char *t = copy ? strtok_r(copy, " ,", &save) : NULL; c && t; t = strtok_r(NULL, " ,", &save))
                json_array_append_new(c, json_string(t));
        j = c ? json_pack("{s:o, s:s, s:s}", "contact", c, "directory", a->directory, "url", a->url) : NULL;
        text = j ? json_dumps(j, JSON_PRESERVE_ORDER) : NULL;
        json_decref(j);
        if (!text)
                return -ENOMEM;

        r = state_directory(state_dir);
        if (r < 0)
                return r;
        /* The service user reads its account: root writes it as the state directory's owner. */
        r = privilege_fs_enter(state_dir, &fs);
        if (r >= 0)
                r = mkdir_p(dir, 0700);
        if (r >= 0)
                r = write_private(key_path, pem.data, pem.size);
        if (r >= 0)
                r = write_private(json_path, text, strlen(text));
        privilege_fs_leave(&fs);
        if (r < 0)
                return log_error_errno(r, "[acme \"%s\"] cannot write the account to %s: %m", a->name, dir);
        log_info("[acme \"%s\"] account %s stored in %s", a->name, a->url, dir);
        return 0;
}

bool import_inventory_knows(const char *section, const char *key) {
        _cleanup_inventory_ Inventory *inv = inventory_new();
        _cleanup_free_ char *text = NULL, *err = NULL;

        if (!inv || asprintf(&text, "[%s \"x\"]\n%s = x\n", section, key) < 0)
                return false;
        if (config_parse_string(inv, text, "probe", &err) >= 0)
                return true;
        return !err || !strstr(err, "unknown key");
}

void import_shell_quote(FILE *f, const char *s) {
        fputc('\'', f);
        for (; *s; s++)
                if (*s == '\'')
                        fputs("'\\''", f);
                else
                        fputc(*s, f);
        fputc('\'', f);
}

int import_hook_begin(ImportHook *h, const char *tool, const char *cert, const char *source) {
        *h = (ImportHook){};
        h->f = open_memstream(&h->text, &h->size);
        if (!h->f)
                return -ENOMEM;
        fprintf(h->f,
                "#!/bin/sh\n# certherd exec hook of [certificate \"%s\"], written by `certherd import %s` "
                "from %s",
                cert, tool, source);
        return 0;
}

int import_hook_end(ImportHook *h, char **ret_text, char **ret_path, const char *path_fmt, ...) {
        _cleanup_free_ char *text = NULL;
        int r;

        r = fclose(h->f);
        text = TAKE_PTR(h->text);
        if (r != 0 || VA_FORMAT(ret_path, path_fmt) < 0)
                return -ENOMEM;
        *ret_text = TAKE_PTR(text);
        return 0;
}

int import_install_hook(const char *path, const char *text) {
        PrivilegeFs fs = {};
        int r;

        /* The service runs the hook: root writes it as the owner of the directory it goes in. */
        r = privilege_fs_enter(path, &fs);
        if (r >= 0)
                r = install_data_mkdir(path, text, strlen(text), 0700, 0700);
        privilege_fs_leave(&fs);
        if (r < 0)
                return log_error_errno(r, "cannot write the hook %s: %m", path);
        return 0;
}

/* "uid 1000 (alice)" */
static void owner_name(uid_t uid, char *buf, size_t size) {
        struct passwd *pw = getpwuid(uid);

        if (pw && pw->pw_name)
                snprintf(buf, size, "uid %u (%s)", (unsigned) uid, pw->pw_name);
        else
                snprintf(buf, size, "uid %u", (unsigned) uid);
}

static int source_refused(const char *source, const char *bad, const struct stat *st) {
        char owner[128];

        owner_name(st->st_uid, owner, sizeof(owner));
        if (st->st_uid != 0 && st->st_uid != geteuid())
                return log_error_errno(
                        -EPERM,
                        "refusing to import from %s: %s is owned by %s, not by root or the user "
                        "running the import (run the import as that user, or make it root's)",
                        source, bad, owner);
        return log_error_errno(-EPERM,
                               "refusing to import from %s: %s (owned by %s) is writable by %s (mode %04o): "
                               "others could have written what it says",
                               source, bad, owner, (st->st_mode & S_IWOTH) ? "others" : "its group",
                               (unsigned) (st->st_mode & 07777));
}

int import_source_check(const char *source, const char *path, uid_t *ret_owner) {
        _cleanup_free_ char *bad = NULL;
        struct stat st, bad_st;
        int r;

        r = path_check_owned(path, &st, &bad, &bad_st);
        if (r == -EPERM)
                return source_refused(source, bad, &bad_st);
        if (r < 0)
                return r;
        if (ret_owner)
                *ret_owner = st.st_uid;
        return 0;
}

int import_source_read(const char *source, const char *path, ReadFlags flags, size_t max, uint8_t **ret,
                       size_t *ret_size) {
        _cleanup_free_ char *bad = NULL;
        struct stat bad_st;
        int r;

        r = read_owned_file(path, flags, max, ret, ret_size, &bad, &bad_st);
        if (r == -EPERM)
                return source_refused(source, bad, &bad_st);
        return r;
}

int import_source_load(const char *source, const char *path, size_t max, int missing, uint8_t **ret,
                       size_t *ret_size) {
        int r;

        r = import_source_read(source, path, 0, max, ret, ret_size);
        if (r >= 0 || r == -EPERM ||
            (missing != 0 && (r == -missing || (missing == ENOENT && r == -ENOTDIR))))
                return r;
        return log_error_errno(r, "%s: %s", path, file_strerror(r));
}

int import_parse_logged(int r, const char *path, char *const *err) {
        if (r == -EBADMSG)
                log_error("%s:%s", path, *err ?: " invalid");
        return r;
}

int import_target_check(const char *source, uid_t owner, const char *what, const char *path) {
        _cleanup_free_ char *dir = NULL;
        char name[128];
        char *slash;

        if (owner == 0)
                return 0;
        /* The owner is the user running the import (the source rule): the kernel answers for them. The
         * directory may not exist yet: the nearest one that does decides who may create it. */
        dir = strdup(path);
        if (!dir)
                return log_error_errno(-ENOMEM, "Out of memory");
        for (;;) {
                slash = strrchr(dir, '/');
                if (!slash || slash == dir) {
                        strcpy(dir, "/");
                        break;
                }
                *slash = 0;
                if (access(dir, F_OK) >= 0)
                        break;
        }
        if (faccessat(AT_FDCWD, dir, W_OK, AT_EACCESS) >= 0)
                return 0;
        owner_name(owner, name, sizeof(name));
        return log_error_errno(
                -EPERM,
                "refusing to import from %s: its %s %s lies in %s, which its owner %s may not "
                "write: the import would write there with more rights than the source has",
                source, what, path, dir, name);
}

int import_targets_check(const char *source, uid_t owner, const char *certificate, const char *key,
                         const char *leaf, const char *chain) {
        const char *const what[] = { "certificate", "key", "leaf", "chain" };
        const char *const path[] = { certificate, key, leaf, chain };
        int r;

        for (size_t i = 0; i < ELEMENTSOF(path); i++)
                if (path[i]) {
                        r = import_target_check(source, owner, what[i], path[i]);
                        if (r < 0)
                                return r;
                }
        return 0;
}

int import_prepare(const ImportOptions *o, const char *source, char **ret_state_dir, uid_t *ret_owner) {
        _cleanup_free_ char *state_dir = NULL;
        uid_t owner;
        int r;

        r = import_state_directory(o, &state_dir);
        if (r < 0)
                return r == -ENOMEM ? 1 : 3;
        r = import_source_check(source, source, &owner);
        if (r == -EPERM)
                return 3;
        if (r < 0) {
                log_error_errno(r, "cannot read %s: %s", source, file_strerror(r));
                return 1;
        }
        if (o->write && access(o->write, F_OK) >= 0) {
                log_error("%s exists: not replacing it (remove it or write elsewhere)", o->write);
                return 1;
        }
        *ret_state_dir = TAKE_PTR(state_dir);
        *ret_owner = owner;
        return 0;
}

int import_line_error(char **reterr, unsigned line, const char *msg) {
        return reterr_set(reterr, -EBADMSG, "%u: %s", line, msg);
}

int import_kv_parse(const char *text, size_t size, ImportKvLine parse_line, char ***ret, char **reterr) {
        _cleanup_free_ char *buf = NULL;
        ImportKv kv = {};
        unsigned lineno = 0;
        int r = 0;

        if (size > IMPORT_KV_FILE_MAX)
                return import_line_error(reterr, 0, "file larger than 1 MiB");
        if (memchr(text, 0, size))
                return import_line_error(reterr, 0, "a NUL byte");
        buf = strndup(text, size);
        kv.l = calloc(1, sizeof(char *));
        if (!buf || !kv.l)
                r = -ENOMEM;
        for (char *p = buf, *nl; r >= 0 && p && *p; p = nl) {
                nl = strchr(p, '\n');
                if (nl)
                        *nl++ = 0;
                r = parse_line(p, ++lineno, &kv, reterr);
        }
        if (r < 0) {
                strv_free(kv.l);
                return r;
        }
        *ret = kv.l;
        return 0;
}

const char *import_kv_get(char *const *kv, const char *key) {
        for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2)
                if (strcmp(kv[i], key) == 0)
                        return kv[i + 1];
        return NULL;
}

int import_kv_add(ImportKv *kv, char *key, char *value, unsigned line, char **reterr) {
        _cleanup_free_ char *k = key, *v = value;
        char **l;

        if (!k || !v)
                return -ENOMEM;
        if (import_kv_get(kv->l, k))
                return import_line_error(reterr, line, "a key given twice");
        l = reallocarray(kv->l, kv->n + 3, sizeof(char *));
        if (!l)
                return -ENOMEM;
        kv->l = l;
        l[kv->n++] = TAKE_PTR(k);
        l[kv->n++] = TAKE_PTR(v);
        l[kv->n] = NULL;
        return 0;
}
