/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <gnutls/x509.h>

#include "fd-util.h"
#include "macro.h"

/* What `import` and `discover` share: the options, an inventory writer that never emits text certherd would
 * read differently (values are checked, `$` doubled), the output (stdout, or a new file written atomically)
 * and the ACME account files under STATE/acme/NAME/ (the layout acme.c reads). */

typedef struct ImportOptions {
        const char *config;          /* -c: the target inventory, for its [agent] state-directory */
        const char *config_dir;      /* certbot's --config-dir */
        const char *write;           /* --write FILE; NULL: stdout */
        const char *state_directory; /* --state-directory; overrides the target inventory's */
        bool disable_source;         /* certbot: rename renewal/NAME.conf once imported */
} ImportOptions;

typedef struct ImportWriter {
        char *text;
        size_t size;
        FILE *f;
        int error; /* the first -errno; the text is then not written */
} ImportWriter;

int import_writer_init(ImportWriter *w);
void import_writer_done(ImportWriter *w);

/* "# TEXT": control characters become '?'. */
void import_comment(ImportWriter *w, const char *fmt, ...) _printf_(2, 3);
void import_blank(ImportWriter *w);
/* [KIND "NAME"]: -EINVAL when NAME is no valid section name (import_section_name() makes one). */
int import_section(ImportWriter *w, const char *kind, const char *name);
/* KEY = VALUE; VALUE must be one line without a control character, without leading or trailing blanks and
 * without a ';' after a blank (the inventory's comment): -EINVAL otherwise. `$` is written as `$$`. */
int import_key(ImportWriter *w, const char *key, const char *value);
/* As import_key, but a value that cannot be represented becomes a comment saying why. */
int import_key_or_comment(ImportWriter *w, const char *key, const char *value);

/* A key whose value is a list (names, verify endpoints), made one item at a time. */
typedef struct ImportList {
        char *text;
        size_t size;
        FILE *f;
} ImportList;
/* Returns 0 or -ENOMEM. */
int import_list_open(ImportList *l);
/* One item, after a blank when there is one before it. */
void import_list_add(ImportList *l, const char *fmt, ...) _printf_(2, 3);
/* KEY = the items (import_key), and the list freed. Returns 1 when the key was written, 0 when the list
 * is empty (nothing written), -EINVAL when it cannot be represented (nothing written), -ENOMEM. */
int import_list_close(ImportWriter *w, ImportList *l, const char *key);

/* A valid section name from `s` (a lineage, a domain): characters outside [A-Za-z0-9._-] become '-', a
 * leading '.' or '-' gets a "x" before it. Returns 0 or -ENOMEM. */
int import_section_name(const char *prefix, const char *s, char **ret);

/* Whether the inventory parser (and validation) accepts the text: 0 or -errno (logged). */
int import_writer_validate(ImportWriter *w);

/* Parse the text with the inventory parser (plus validation), then write it to o->write (a new file, 0644,
 * atomically; an existing one is refused) or stdout. Returns 0 or -errno (logged). */
int import_writer_output(ImportWriter *w, const ImportOptions *o);

/* The state directory accounts go to: --state-directory, else the target inventory's. Returns 0 or -errno
 * (logged). */
int import_state_directory(const ImportOptions *o, char **ret);

/* Write STATE/acme/NAME/account.key (0600) and account.json ({contact, directory, url}), so that certherd uses
 * this account as it is, without a registration. An account.key that exists with another key is refused
 * (-EEXIST): it is an account certherd already uses. `contact` is a blank-separated list or NULL. */
typedef struct ImportAccount {
        const char *name; /* of its [acme] section */
        gnutls_x509_privkey_t key;
        const char *directory, *url;
        const char *contact;
} ImportAccount;
int import_account(const char *state_dir, const ImportAccount *a);

/* Whether the inventory knows KEY in [SECTION] (a key another branch adds, such as `profile`). */
bool import_inventory_knows(const char *section, const char *key);

/* s single-quoted for sh. */
void import_shell_quote(FILE *f, const char *s);

/* A hook wrapper's text being written: import_hook_begin() opens it with the shebang and "# certherd exec
 * hook of [certificate "CERT"], written by `certherd import TOOL` from SOURCE" (the caller ends the
 * sentence); import_hook_end() closes it and names its file (path_fmt). Both return 0 or -ENOMEM;
 * import_hook_end() sets *ret_text and *ret_path only on success and frees the text otherwise. */
typedef struct ImportHook {
        FILE *f;
        char *text;
        size_t size;
} ImportHook;
int import_hook_begin(ImportHook *h, const char *tool, const char *cert, const char *source);
int import_hook_end(ImportHook *h, char **ret_text, char **ret_path, const char *path_fmt, ...)
        _printf_(4, 5);

/* Write an executable hook wrapper (0700) the inventory's exec = names. Returns 0 or -errno (logged). */
int import_install_hook(const char *path, const char *text);

/* The source rule. A foreign tool's files tell certherd what to run (hooks become exec =) and where to
 * write (install targets) — as whoever runs the import, root mostly. So they are believed only when
 * nobody else could have written them: the source tree, and every file read from it, must belong to root
 * or to the user running the import, with every directory above it, and be writable by neither group
 * nor others (fd-util.h, path_check_owned). Otherwise the import refuses, naming the path and its owner:
 * -EPERM, which the verbs turn into exit 3.
 *
 * Check the source tree (or the named file) `path`; *ret_owner (may be NULL) gets its owner. Returns 0,
 * -EPERM (logged), or -errno (not logged). */
int import_source_check(const char *source, const char *path, uid_t *ret_owner);

/* Read a file of the source `source` under the source rule. 0, -EPERM (logged) or -errno (not logged). */
int import_source_read(const char *source, const char *path, ReadFlags flags, size_t max, uint8_t **ret,
                       size_t *ret_size);

/* import_source_read() that logs its errors ("PATH: why"), all but those a missing file gives when
 * `missing` says so: ENOENT (with ENOTDIR), or EISDIR; 0: none. Returns 0 or -errno. */
int import_source_load(const char *source, const char *path, size_t max, int missing, uint8_t **ret,
                       size_t *ret_size);

/* A parser's result r for the source file `path`: -EBADMSG is logged as "PATH:LINE: message" (*err, the
 * parser's reterr, may be NULL). Returns r. */
int import_parse_logged(int r, const char *path, char *const *err);

/* An install target `path` of the source (owned by `owner`) must lie where the owner may write already:
 * a user's acme.sh home cannot make root write /etc/shadow. Root's sources may name any target. Returns
 * 0 or -EPERM (logged). */
int import_target_check(const char *source, uid_t owner, const char *what, const char *path);

/* import_target_check() of a set's files, in this order; a NULL path is not checked. Returns 0 or -errno. */
int import_targets_check(const char *source, uid_t owner, const char *certificate, const char *key,
                         const char *leaf, const char *chain);

/* What every importer does first: the state directory (import_state_directory()), the source rule for the
 * tree `source`, no existing --write file. Returns 0, or the exit code (logged). */
int import_prepare(const ImportOptions *o, const char *source, char **ret_state_dir, uid_t *ret_owner);

/* Files of KEY=VALUE lines (acme.sh's .conf, certmonger's requests) become a NULL-terminated list key,
 * value, key, value, …; a bad line is "LINE: message" in *reterr (the convention of reterr_set()). */
#define IMPORT_KV_FILE_MAX (1024U * 1024U)
typedef struct ImportKv {
        char **l; /* NULL-terminated */
        size_t n;
} ImportKv;
/* One line (NUL-terminated, without its newline; number `line`, from 1) into kv. Returns 0 or -errno. */
typedef int (*ImportKvLine)(char *text, unsigned line, ImportKv *kv, char **reterr);
/* Split the file into lines and hand each to parse_line. A file over 1 MiB or with a NUL byte is refused:
 * -EBADMSG ("0: …"). Returns 0, -EBADMSG or -ENOMEM. */
int import_kv_parse(const char *text, size_t size, ImportKvLine parse_line, char ***ret, char **reterr);
/* Append `key` and `value` (taken over, freed on failure; a NULL one is -ENOMEM). A key given twice is
 * -EBADMSG "LINE: a key given twice". */
int import_kv_add(ImportKv *kv, char *key, char *value, unsigned line, char **reterr);
/* The value of `key` in the list (may be NULL), or NULL. */
const char *import_kv_get(char *const *kv, const char *key);
/* *reterr = "LINE: msg"; returns -EBADMSG. */
int import_line_error(char **reterr, unsigned line, const char *msg);

/* The exit code for an importer's error: 3 for a refused source (-EPERM), else 1. */
static inline int import_exit_code(int r) {
        return r == -EPERM ? 3 : r < 0 ? 1 : 0;
}
