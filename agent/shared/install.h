/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Atomic, crash-safe installation of files and of certificate/key pairs (docs/architecture.md, conventions 10).
 *
 * Every file is written to a temporary file created with O_EXCL|O_NOFOLLOW in the target's directory
 * (opened with O_DIRECTORY, relative opens with openat), gets its owner and mode before any data, is
 * fsync'ed, renamed over the target (which replaces a planted symlink rather than following it), and
 * the directory is fsync'ed. The target's directory is resolved by open_dir_nofollow() (fd-util.h): a
 * symbolic link on its path that root did not make gives -ENOLINK and nothing is written. A pair is installed under a write-ahead record in the state directory, so
 * that a crash at any instant leaves either the old pair or the new pair after install_recover(). */

typedef struct InstallFile {
        const char *path;
        const void *data;
        size_t size;
        mode_t mode;
        uid_t uid; /* (uid_t) -1: leave as the process creates it */
        gid_t gid; /* (gid_t) -1: likewise */
} InstallFile;

/* A file the process owns as it creates it (uid and gid left as they are): install_data()'s. */
#define INSTALL_DATA(p, d, s, m)                                                                            \
        ((InstallFile){                                                                                     \
                .path = (p), .data = (d), .size = (s), .mode = (m), .uid = (uid_t) -1, .gid = (gid_t) -1 })

/* "user", "user:group", ":group", numeric ids. Unknown names: -ESRCH. NULL or "" → (-1, -1). */
int install_parse_owner(const char *owner, uid_t *ret_uid, gid_t *ret_gid);

/* Write one file atomically (temp file, fchown/fchmod, write, fsync, rename, fsync dir). The parent
 * directory must exist. Returns 0 or -errno; on failure the target is untouched and no temp file stays. */
int install_file(const InstallFile *f);

/* install_file() of a file the process owns as it creates it (uid and gid left as they are). */
int install_data(const char *path, const void *data, size_t size, mode_t mode);
/* install_data() after making the directories above `path` that are missing, with dir_mode (mkdir_parents()). */
int install_data_mkdir(const char *path, const void *data, size_t size, mode_t mode, mode_t dir_mode);

/* Many small files into the one directory `dir` (the pins of every set at start). install_batch_add()
 * writes f (f->path is a name inside dir) to a temp file beside its target at once (owner, mode, data,
 * no fsync of its own); install_batch_commit() then makes all the data durable with ONE syncfs() before
 * any rename, renames in the order of the adds (a .json added before its .pin is in place first), and
 * fsyncs dir once. Each file keeps install_file()'s guarantee (old or new content, never a torn one,
 * after a crash) for two syncs in all instead of two per file; only a temp name is held per file.
 * commit returns the number renamed or -errno (what was renamed stays; the rest may be committed again);
 * install_batch_free() removes every temp file not renamed. The directory is resolved by
 * open_dir_nofollow(). */
typedef struct InstallBatch InstallBatch;
int install_batch_new(const char *dir, InstallBatch **ret);
int install_batch_add(InstallBatch *b, const InstallFile *f);
int install_batch_commit(InstallBatch *b);
InstallBatch *install_batch_free(InstallBatch *b);

/* The same for an array: new, add each, commit, free. Returns n or -errno. */
int install_files_batch(const char *dir, const InstallFile *files, size_t n);

/* The files of one generation of a certificate set, in the order they are staged, backed up and renamed.
 * Backups keep them under these labels: key cert chain leaf combined pkcs12. */
typedef enum InstallPart {
        INSTALL_PART_KEY,
        INSTALL_PART_CERT,     /* leaf + chain ("fullchain") */
        INSTALL_PART_CHAIN,    /* the intermediates alone */
        INSTALL_PART_LEAF,     /* the leaf alone */
        INSTALL_PART_COMBINED, /* key + leaf + chain, one PEM */
        INSTALL_PART_PKCS12,   /* key + leaf + chain, PKCS#12 */
        _INSTALL_PART_MAX,
} InstallPart;

/* Install every file of one generation of certificate set `name` together, under one write-ahead record:
 * after a crash and install_recover() a reader sees all of them from the old generation or all from the
 * new one, never a mix. files[INSTALL_PART_CERT] is required; any other may be NULL (not installed; a
 * NULL key: the key file stays as it is). The previous generation of the files given is kept under
 * STATE_DIR/backup/NAME/ (by label; key, combined, pkcs12 mode 0600, the others 0644). Two parts naming
 * one file: -EINVAL. Returns 0 or -errno; on failure before the commit point nothing changed, after it
 * install_recover() completes the install. */
int install_set(const char *state_dir, const char *name, const InstallFile *const files[_INSTALL_PART_MAX]);

/* Install key and certificate of certificate set `name` together: install_set() with these two. The previous generation is kept under
 * STATE_DIR/backup/NAME/ (key and cert, mode 0600/0644) before it is replaced. `key` may be NULL when
 * only the certificate changes. Returns 0 or -errno; on failure before the commit point nothing changed,
 * after it install_recover() completes the install. */
int install_pair(const char *state_dir, const char *name, const InstallFile *key, const InstallFile *cert);

/* Complete (roll forward) or roll back an install of `name` that a crash interrupted; a no-op when there
 * is none. Returns 1 when it repaired something, 0 when there was nothing to do, -errno on failure. */
int install_recover(const char *state_dir, const char *name);

/* install_recover() for every set that has a record (complete or half written) in STATE_DIR/install,
 * including sets no longer in the inventory: what `certherd recover` runs at boot. report (may be NULL)
 * is called for each set it repaired (r = 1) or failed to (r < 0). Returns the number repaired, or the
 * first failure (-errno) after trying every set. A missing state or install directory: 0. */
typedef void (*InstallRecoverReport)(const char *name, int r, void *userdata);
int install_recover_all(const char *state_dir, InstallRecoverReport report, void *userdata);

/* Parse the text of a write-ahead record (STATE_DIR/install/NAME.rec) as install_recover() does:
 * strictly, accepting only exactly what install_pair() writes. Returns 1 for a committed record, 0 for a
 * prepared one, -EBADMSG for anything else. *ret_targets (may be NULL) gets "KEY\nCERT\n", the target
 * paths (empty when absent), then "LABEL PATH\n" for each other output the record names. For the fuzzer and tests. */
int install_record_parse(const void *data, size_t size, char **ret_targets);

/* Test hook: when the environment variable CERTHERD_TEST_KILL_POINT equals k, the process SIGKILLs itself
 * at the k-th crash point of install_pair (used by the crash-safety test; costs a getenv otherwise). */
void install_crash_point(unsigned k);

/* install_set's (and install_pair's) crash points are numbered 1..INSTALL_CRASH_POINTS in the order they
 * are passed, each passed on every call (whether or not the part it concerns is installed): intent
 * record (1), each part staged (2..7), each part backed up (8..13), backup swapped (14), before commit
 * (15), committed (16), each part renamed (17..22), directories synced (23), record removed (24). */
#define INSTALL_CRASH_POINTS 24
