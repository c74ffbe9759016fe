/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Crash-safe installation of a certificate set's files (install_set, install_pair) and its recovery.
 *
 * A set (install_set; install_pair is its key+certificate case): several renames are not one atomic
 * step, and a service must never load the new certificate with the old key, nor a combined PEM, PKCS#12
 * or chain file of another generation than the certificate beside it. A write-ahead record,
 * STATE_DIR/install/NAME.rec, listing every file of the generation, makes them one:
 *   0. Intent: write the record in state "prepared", naming the targets and their staging files
 *      (".BASE.certherd-new" beside each target); install_recover() gets only the name and needs them.
 *   1. Stage: write each new file (key, cert, then the other outputs) to its staging file (owner, mode, data, fsync), fsync the dirs.
 *   2. Backup: copy the current files into STATE_DIR/backup/.NAME.new/{key,cert,chain,...} (each by the
 *      atomic single-file path), exchange that directory with STATE_DIR/backup/NAME (RENAME_EXCHANGE) and
 *      delete the older generation: a backup is one whole generation, never half of two.
 *   3. Commit: atomically replace the record by one in state "committed". This rename is the commit
 *      point: a crash before it leaves the old pair, a crash after it the new pair.
 *   4. Switch: rename each staging file over its target (key first, cert next); fsync the dirs.
 *   5. Done: remove the record, fsync STATE_DIR/install.
 * install_recover(): with a committed record, rename each staging file that still exists over its target
 * (both were complete and fsync'ed before the commit, so rolling forward always works) and fsync the
 * dirs; with a prepared record, delete them (roll back: the old pair was never touched). Either way the
 * half-built backup goes, then the record, last, so a crash during recovery is repaired by the next one.
 * install_pair() recovers first, so an interrupted install is finished or undone before a new one starts.
 *
 * Staging files have fixed names: recovery finds them from the record alone, and a record naming any
 * other file is refused, so a damaged record cannot make us rename an arbitrary file over a target. The
 * price: a stale staging file must be unlinked before O_EXCL can create it again. That is safe because
 * one certherd installs at a time (the state directory's lock, docs/operation.md) and recovery has
 * already removed every staging file a record knew of; O_EXCL refuses anything appearing in between.
 * Targets are never followed to read them for the backup, but for one case: a symbolic link of root's
 * (or ours) to a certificate of root's (or ours) is logged, and what it led to is kept (backup_link).
 *
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "install.h"
#include "log.h"
#include "shared-internal.h"
#include "macro.h"

#define STAGE_SUFFIX INSTALL_STAGE_SUFFIX
#define DIR_OPEN_FLAGS INSTALL_DIR_OPEN_FLAGS
#define FILE_MAX INSTALL_FILE_MAX
#define RECORD_MAX 65536U
#define RECORD_MAGIC "certherd-install-record 1"

/* install_set's crash points, numbered in the order they are passed (each on every call, whether or not
 * the part it names is being installed, so that a test can walk them all): */
#define N_PARTS ((unsigned) _INSTALL_PART_MAX)
#define CRASH_PREPARED 1u                               /* intent record written, nothing staged */
#define CRASH_STAGED(i) (2u + (unsigned) (i))           /* part i in its staging file */
#define CRASH_BACKUP(i) (2u + N_PARTS + (unsigned) (i)) /* old part i copied into the backup being built */
#define CRASH_BACKUP_SWAPPED (2u + 2 * N_PARTS) /* new backup in place, older generation not deleted */
#define CRASH_BEFORE_COMMIT (CRASH_BACKUP_SWAPPED + 1) /* backup complete, record still "prepared" */
#define CRASH_COMMITTED (CRASH_BEFORE_COMMIT + 1)      /* record "committed", nothing renamed */
#define CRASH_RENAMED(i) (CRASH_COMMITTED + 1 + (unsigned) (i)) /* parts 0..i renamed, the rest not */
#define CRASH_SYNCED (CRASH_COMMITTED + 1 + N_PARTS) /* directories fsync'ed, record not yet removed */
#define CRASH_DONE (CRASH_SYNCED + 1)                /* record removed, STATE_DIR/install not yet fsync'ed */
_Static_assert(CRASH_DONE == INSTALL_CRASH_POINTS, "INSTALL_CRASH_POINTS must name the last crash point");

/* Record lines and backup file names. No label is a prefix of another (record_slot relies on it). */
static const char *const part_label[_INSTALL_PART_MAX] = {
        [INSTALL_PART_KEY] = "key",   [INSTALL_PART_CERT] = "cert",         [INSTALL_PART_CHAIN] = "chain",
        [INSTALL_PART_LEAF] = "leaf", [INSTALL_PART_COMBINED] = "combined", [INSTALL_PART_PKCS12] = "pkcs12",
};

/* What holds a private key is backed up readable by root alone. */
static bool part_is_secret(size_t i) {
        return i == INSTALL_PART_KEY || i == INSTALL_PART_COMBINED || i == INSTALL_PART_PKCS12;
}

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

typedef struct Record {
        bool committed;
        char *target[_INSTALL_PART_MAX]; /* NULL: this part is not being installed */
        char *temp[_INSTALL_PART_MAX];
} Record;

static void record_done(Record *rec) {
        for (size_t i = 0; i < _INSTALL_PART_MAX; i++) {
                free(rec->target[i]);
                free(rec->temp[i]);
        }
}

static char *record_name(const char *name) {
        return install_strdup_printf("%s.rec", name);
}

static int staging_path(const char *target, char **ret) {
        _cleanup_free_ char *dir = NULL, *temp = NULL;
        const char *base;
        int r;

        r = install_path_split(target, &dir, &base);
        if (r < 0)
                return r;
        temp = install_stage_name(base);
        if (!temp || !(*ret = install_path_join(dir, temp)))
                return -ENOMEM;
        return 0;
}

/* Every file of the generation, in part order: one record makes them one install. */
static char *record_format(const Record *rec, bool committed) {
        _cleanup_free_ char *text = install_strdup_printf(RECORD_MAGIC "\nstate %s\n",
                                                          committed ? "committed" : "prepared");

        for (size_t i = 0; i < _INSTALL_PART_MAX && text; i++) {
                const char *l = part_label[i];
                char *more;

                if (!rec->target[i])
                        continue;
                more = install_strdup_printf("%s%s %s\n%s-temp %s\n", text, l, rec->target[i], l,
                                             rec->temp[i]);
                free(text);
                text = more;
        }
        return TAKE_PTR(text);
}

static char **record_slot(Record *rec, const char *key) {
        for (size_t i = 0; i < _INSTALL_PART_MAX; i++) {
                size_t n = strlen(part_label[i]);

                if (strncmp(key, part_label[i], n) != 0)
                        continue;
                if (!key[n])
                        return &rec->target[i];
                if (streq(key + n, "-temp"))
                        return &rec->temp[i];
        }
        return NULL;
}

/* The temp paths must be exactly the staging names of the targets: recovery renames them over the
 * targets, and must not be talked into renaming anything else. */
static int record_verify(const Record *rec) {
        bool any = false;

        for (size_t i = 0; i < _INSTALL_PART_MAX; i++) {
                _cleanup_free_ char *expected = NULL;

                if (!rec->target[i] != !rec->temp[i])
                        return -EBADMSG;
                if (!rec->target[i])
                        continue;
                if (!install_path_is_absolute(rec->target[i]) ||
                    staging_path(rec->target[i], &expected) < 0 || !streq(expected, rec->temp[i]))
                        return -EBADMSG;
                any = true;
        }
        return any ? 0 : -EBADMSG;
}

static int record_parse(char *text, Record *ret) {
        _cleanup_(record_done) Record rec = {};
        char *saveptr = NULL, *line = strtok_r(text, "\n", &saveptr);
        int state = -1;

        if (!line || !streq(line, RECORD_MAGIC))
                return -EBADMSG;
        while ((line = strtok_r(NULL, "\n", &saveptr))) {
                char *value = strchr(line, ' '), **slot;

                if (!value)
                        return -EBADMSG;
                *value++ = 0;
                if (streq(line, "state") && state < 0 &&
                    (streq(value, "prepared") || streq(value, "committed"))) {
                        state = streq(value, "committed");
                        continue;
                }
                slot = record_slot(&rec, line);
                if (!slot || *slot)
                        return -EBADMSG;
                if (!(*slot = strdup(value)))
                        return -ENOMEM;
        }
        if (state < 0 || record_verify(&rec) < 0)
                return -EBADMSG;
        rec.committed = state > 0;
        *ret = TAKE_STRUCT(rec);
        return 0;
}

/* The record exactly as record_format() writes it, nothing else: no blank, reordered, repeated or extra
 * line, no control character, a final newline. Whatever recovery acts on was written by us. */
static int record_parse_strict(const char *text, size_t size, Record *ret) {
        _cleanup_(record_done) Record rec = {};
        _cleanup_free_ char *copy = NULL, *canonical = NULL;
        int r;

        if (size == 0 || size > RECORD_MAX || memchr(text, 0, size))
                return -EBADMSG;
        for (size_t i = 0; i < size; i++)
                if (((uint8_t) text[i] < 0x20 && text[i] != '\n') || text[i] == 0x7f)
                        return -EBADMSG;
        copy = strndup(text, size);
        if (!copy)
                return -ENOMEM;
        r = record_parse(copy, &rec);
        if (r < 0)
                return r;
        canonical = record_format(&rec, rec.committed);
        if (!canonical)
                return -ENOMEM;
        if (strlen(canonical) != size || memcmp(canonical, text, size) != 0)
                return -EBADMSG;
        *ret = TAKE_STRUCT(rec);
        return 0;
}

int install_record_parse(const void *data, size_t size, char **ret_targets) {
        _cleanup_(record_done) Record rec = {};
        char *t;
        int r;

        r = record_parse_strict(data, size, &rec);
        if (r < 0)
                return r;
        if (ret_targets) {
                t = install_strdup_printf("%s\n%s\n", rec.target[INSTALL_PART_KEY] ?: "",
                                          rec.target[INSTALL_PART_CERT] ?: "");
                /* The other outputs, only when present: "LABEL PATH" lines. */
                for (size_t i = INSTALL_PART_CHAIN; i < _INSTALL_PART_MAX && t; i++) {
                        char *more;

                        if (!rec.target[i])
                                continue;
                        more = install_strdup_printf("%s%s %s\n", t, part_label[i], rec.target[i]);
                        free(t);
                        t = more;
                }
                if (!t)
                        return -ENOMEM;
                *ret_targets = t;
        }
        return rec.committed;
}

/* Replace the record atomically: staged under a fixed name (so that recovery finds a half-written
 * one), renamed over NAME.rec, the directory fsync'ed. */
static int record_write(int install_fd, const char *name, const Record *rec, bool committed) {
        _cleanup_free_ char *text = record_format(rec, committed), *rec_name = record_name(name);
        _cleanup_free_ char *temp = NULL;
        int r;

        if (!text || !rec_name || !(temp = install_stage_name(rec_name)))
                return -ENOMEM;
        r = install_stage_at(install_fd, temp, &INSTALL_DATA(NULL, text, strlen(text), 0600));
        if (r < 0)
                return r;
        if (renameat(install_fd, temp, install_fd, rec_name) < 0) {
                r = -errno;
                (void) unlinkat(install_fd, temp, 0);
                return r;
        }
        return install_fsync_fd(install_fd);
}

/* Open STATE_DIR/name, creating it 0700 when missing. */
static int open_subdir(int parent_fd, const char *name) {
        int fd;

        if (mkdirat(parent_fd, name, 0700) >= 0) {
                /* What we put inside is only as durable as the directory's own entry. */
                if (fsync(parent_fd) < 0)
                        return -errno;
        } else if (errno != EEXIST)
                return -errno;
        fd = openat(parent_fd, name, DIR_OPEN_FLAGS | O_NOFOLLOW);
        return fd < 0 ? -errno : fd;
}

/* The directory `name` of parent_fd, a symbolic link not followed, to read. Returns 0 or -errno. */
static int subdir_open(int parent_fd, const char *name, DIR **ret) {
        int fd = openat(parent_fd, name, DIR_OPEN_FLAGS | O_NOFOLLOW);

        if (fd < 0)
                return -errno;
        *ret = fdopendir(fd);
        if (!*ret) {
                closep(&fd);
                return -ENOMEM;
        }
        return 0;
}

/* Remove a directory of plain files that we made (a backup generation). 1 when removed, 0 when absent. */
static int remove_dir_at(int parent_fd, const char *name) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int r;

        r = subdir_open(parent_fd, name, &d);
        if (r == -ENOTDIR || r == -ELOOP)
                return install_unlink_if_exists(parent_fd, name);
        if (r < 0)
                return r == -ENOENT ? 0 : r;
        while ((errno = 0, de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..") &&
                    unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT)
                        return -errno;
        if (errno != 0)
                return -errno;
        if (unlinkat(parent_fd, name, AT_REMOVEDIR) < 0)
                return errno == ENOENT ? 0 : -errno;
        return 1;
}

typedef struct Target {
        const char *path;
        char *dir;
        const char *base; /* inside path */
        char *temp;       /* the staging file's name inside dir */
        int dirfd;        /* -1: this part is not being installed */
} Target;

static char *backup_staging_name(const char *name) {
        return install_strdup_printf(".%s.new", name);
}

/* A symbolic link at a target: the install replaces it by a regular file, which an operator who made the
 * link (certbot's live/ → archive/, a shared certificate) must hear of, with where it pointed. What it
 * led to goes into the backup too when that is a certificate in a regular file of root's or ours, behind
 * a link of root's or ours: never a key (a link is no way to copy another key into this set's backup),
 * never another user's file. Returns 1 with the data, 0 when there is no link or nothing to keep. */
static int backup_link(const Target *t, size_t i, char **ret_data, size_t *ret_size) {
        _cleanup_free_ char *data = NULL;
        _cleanup_close_ int fd = -1;
        char target[PATH_MAX];
        struct stat lst, st;
        ssize_t n;

        n = readlinkat(t->dirfd, t->base, target, sizeof(target) - 1);
        if (n < 0)
                return errno == EINVAL || errno == ENOENT ? 0 : -errno;
        target[n] = 0;
        log_notice("%s: replacing the symbolic link to %s with a regular file%s", t->path, target,
                   part_is_secret(i) ? "" : " (what it pointed to is kept in the backup)");
        if (part_is_secret(i) || fstatat(t->dirfd, t->base, &lst, AT_SYMLINK_NOFOLLOW) < 0 ||
            (lst.st_uid != 0 && lst.st_uid != geteuid()))
                return 0;
        fd = openat(t->dirfd, t->base, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
            (st.st_uid != 0 && st.st_uid != geteuid()) || (uintmax_t) st.st_size > FILE_MAX)
                return 0;
        data = malloc((size_t) st.st_size + 1);
        if (!data)
                return -ENOMEM;
        n = read(fd, data, (size_t) st.st_size);
        if (n < 0 || n != st.st_size)
                return 0;
        data[n] = 0;
        if (!strstr(data, "-----BEGIN CERTIFICATE-----"))
                return 0;
        *ret_data = TAKE_PTR(data);
        *ret_size = (size_t) n;
        return 1;
}

/* 1 when the current file was copied, 0 when there is none. */
static int backup_copy(const Target *t, int new_fd, size_t i) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r;

        if (t->dirfd < 0)
                return 0;
        r = install_read_regular_at(t->dirfd, t->base, FILE_MAX, &data, &size);
        if (r == 0)
                r = backup_link(t, i, &data, &size);
        if (r <= 0)
                return r;
        r = install_at(new_fd, part_label[i],
                       &INSTALL_DATA(NULL, data, size, part_is_secret(i) ? 0600 : 0644));
        return r < 0 ? r : 1;
}

static int backup_swap(int backup_fd, const char *new_name, const char *name) {
        int r;

        if (renameat2(backup_fd, new_name, backup_fd, name, RENAME_EXCHANGE) < 0) {
                if (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) {
                        /* The file system cannot exchange. Dropping the older generation first means a
                         * crash in between leaves no backup, never a mixed one. */
                        r = remove_dir_at(backup_fd, name);
                        if (r < 0)
                                return r;
                } else if (errno != ENOENT) /* ENOENT: the first backup of this name */
                        return -errno;
                if (renameat(backup_fd, new_name, backup_fd, name) < 0)
                        return -errno;
        }
        install_crash_point(CRASH_BACKUP_SWAPPED);

        /* After an exchange, new_name holds the older generation. */
        r = remove_dir_at(backup_fd, new_name);
        return r < 0 ? r : install_fsync_fd(backup_fd);
}

static int backup_take(int state_fd, const char *name, const Target t[_INSTALL_PART_MAX]) {
        _cleanup_close_ int backup_fd = -1, new_fd = -1;
        _cleanup_free_ char *new_name = backup_staging_name(name);
        unsigned copied = 0;
        int r;

        if (!new_name)
                return -ENOMEM;
        backup_fd = open_subdir(state_fd, "backup");
        if (backup_fd < 0)
                return backup_fd;
        r = remove_dir_at(backup_fd, new_name);
        if (r < 0)
                return r;
        new_fd = open_subdir(backup_fd, new_name);
        if (new_fd < 0)
                return new_fd;

        for (size_t i = 0; i < _INSTALL_PART_MAX; i++) {
                r = backup_copy(&t[i], new_fd, i);
                if (r < 0)
                        return r;
                copied += (unsigned) r;
                install_crash_point(CRASH_BACKUP(i));
        }
        if (copied > 0)
                return backup_swap(backup_fd, new_name, name);

        /* Nothing is installed yet: keep whatever backup an earlier generation left. */
        r = remove_dir_at(backup_fd, new_name);
        install_crash_point(CRASH_BACKUP_SWAPPED);
        return r < 0 ? r : 0;
}

/* Drop a backup generation that a crash left half built. 1 when there was one. */
static int backup_discard_staging(int state_fd, const char *name) {
        _cleanup_free_ char *new_name = backup_staging_name(name);
        _cleanup_close_ int backup_fd = -1;
        int r;

        if (!new_name)
                return -ENOMEM;
        backup_fd = openat(state_fd, "backup", DIR_OPEN_FLAGS | O_NOFOLLOW);
        if (backup_fd < 0)
                return errno == ENOENT ? 0 : -errno;
        r = remove_dir_at(backup_fd, new_name);
        if (r > 0 && fsync(backup_fd) < 0)
                return -errno;
        return r;
}

/* Finish (forward) or undo one target of a recorded install. 1 when it changed something. */
static int recover_target(const char *target, bool forward) {
        _cleanup_free_ char *dir = NULL, *temp = NULL;
        _cleanup_close_ int dirfd = -1;
        const char *base;
        struct stat st;
        int r;

        r = install_path_split(target, &dir, &base);
        if (r < 0)
                return r;
        temp = install_stage_name(base);
        if (!temp)
                return -ENOMEM;
        r = open_dir_nofollow(dir, (mode_t) -1, &dirfd);
        if (r < 0)
                return !forward && r == -ENOENT ? 0 : r;

        if (!forward)
                r = install_unlink_if_exists(dirfd, temp);
        else if (fstatat(dirfd, temp, &st, AT_SYMLINK_NOFOLLOW) < 0)
                r = errno == ENOENT ? 0 : -errno; /* ENOENT: renamed before the crash */
        else if (!S_ISREG(st.st_mode))
                r = -EBADMSG;
        else
                r = renameat(dirfd, temp, dirfd, base) < 0 ? -errno : 1;
        if (r < 0)
                return r;
        /* Even a rename done before the crash may not be on disk yet, and the record goes only after. */
        if ((r > 0 || forward) && fsync(dirfd) < 0)
                return -errno;
        return r;
}

/* Apply the record, if there is one. 1 when there was, 0 when not, or -errno. */
static int recover_record(int install_fd, const char *rec_name) {
        _cleanup_(record_done) Record rec = {};
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        r = install_read_regular_at(install_fd, rec_name, RECORD_MAX, &text, &size);
        if (r <= 0)
                return r;
        r = record_parse_strict(text, size, &rec);
        if (r < 0)
                return r;
        for (size_t i = 0; i < _INSTALL_PART_MAX; i++) {
                int k = rec.target[i] ? recover_target(rec.target[i], rec.committed) : 0;
                if (k < 0)
                        return k;
        }
        return 1;
}

int install_recover(const char *state_dir, const char *name) {
        _cleanup_free_ char *rec_name = NULL, *rec_temp = NULL;
        _cleanup_close_ int state_fd = -1, install_fd = -1;
        int r, removed, have_record, discarded;

        if (!install_path_is_absolute(state_dir) || !install_name_is_valid(name))
                return -EINVAL;
        rec_name = record_name(name);
        if (!rec_name || !(rec_temp = install_stage_name(rec_name)))
                return -ENOMEM;
        r = open_dir_nofollow(state_dir, (mode_t) -1, &state_fd);
        if (r < 0)
                return r;
        install_fd = openat(state_fd, "install", DIR_OPEN_FLAGS | O_NOFOLLOW);
        if (install_fd < 0)
                return errno == ENOENT ? 0 : -errno; /* no pair was ever installed here */

        /* A record half written at the crash never replaced the one before it, which still rules. */
        removed = install_unlink_if_exists(install_fd, rec_temp);
        if (removed < 0)
                return removed;
        have_record = recover_record(install_fd, rec_name);
        if (have_record < 0)
                return have_record;
        discarded = backup_discard_staging(state_fd, name);
        if (discarded < 0)
                return discarded;
        /* The record goes last: until then, a crash here is repaired by the next recovery. */
        r = have_record > 0 ? install_unlink_if_exists(install_fd, rec_name) : 0;
        if (r < 0)
                return r;
        if (removed + have_record + discarded == 0)
                return 0;
        r = install_fsync_fd(install_fd);
        return r < 0 ? r : 1;
}

/* The set a file in STATE_DIR/install belongs to: "NAME.rec" or ".NAME.rec.certherd-new". */
static char *record_owner(const char *entry) {
        size_t n = strlen(entry), rec = strlen(".rec"), stage = strlen(".rec" STAGE_SUFFIX);
        char *name = NULL;

        if (entry[0] != '.' && n > rec && streq(entry + n - rec, ".rec"))
                name = strndup(entry, n - rec);
        else if (entry[0] == '.' && n > stage + 1 && streq(entry + n - stage, ".rec" STAGE_SUFFIX))
                name = strndup(entry + 1, n - stage - 1);
        if (name && !install_name_is_valid(name)) {
                free(name);
                return NULL;
        }
        return name;
}

int install_recover_all(const char *state_dir, InstallRecoverReport report, void *userdata) {
        _cleanup_(closedirp) DIR *d = NULL;
        _cleanup_close_ int state_fd = -1;
        struct dirent *de;
        int r, repaired = 0, failed = 0;

        if (!install_path_is_absolute(state_dir))
                return -EINVAL;
        r = open_dir_nofollow(state_dir, (mode_t) -1, &state_fd);
        if (r < 0)
                return r == -ENOENT ? 0 : r;
        r = subdir_open(state_fd, "install", &d);
        if (r < 0)
                return r == -ENOENT ? 0 : r;
        /* Recovery only removes entries, which readdir tolerates: each name is seen at most once more. */
        while ((errno = 0, de = readdir(d))) {
                _cleanup_free_ char *name = record_owner(de->d_name);

                if (!name)
                        continue;
                r = install_recover(state_dir, name);
                if (r != 0 && report)
                        report(name, r, userdata);
                if (r > 0)
                        repaired++;
                else if (r < 0 && failed == 0)
                        failed = r;
        }
        if (errno != 0)
                return -errno;
        return failed < 0 ? failed : repaired;
}

typedef struct Pair {
        const char *state_dir, *name;
        const InstallFile *f[_INSTALL_PART_MAX];
        Target t[_INSTALL_PART_MAX];
        Record rec;
        int state_fd, install_fd;
} Pair;

static void pair_done(Pair *p) {
        for (size_t i = 0; i < _INSTALL_PART_MAX; i++) {
                free(p->t[i].dir);
                free(p->t[i].temp);
                closep(&p->t[i].dirfd);
        }
        record_done(&p->rec);
        closep(&p->state_fd);
        closep(&p->install_fd);
}

static int target_open(const char *path, Target *ret) {
        _cleanup_free_ char *dir = NULL, *temp = NULL;
        _cleanup_close_ int fd = -1;
        const char *base;
        struct stat st;
        int r;

        if (!install_path_is_absolute(path))
                return -EINVAL;
        r = install_path_split(path, &dir, &base);
        if (r < 0)
                return r;
        temp = install_stage_name(base);
        if (!temp)
                return -ENOMEM;
        r = open_dir_nofollow(dir, (mode_t) -1, &fd);
        if (r < 0)
                return r;
        /* Ask rather than try: validation must not touch anything. */
        if (faccessat(fd, ".", W_OK | X_OK, AT_EACCESS) < 0)
                return -errno;
        if (fstatat(fd, base, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISDIR(st.st_mode))
                return -EISDIR;
        *ret = (Target){ .path = path,
                         .dir = TAKE_PTR(dir),
                         .base = base,
                         .temp = TAKE_PTR(temp),
                         .dirfd = TAKE_FD(fd) };
        return 0;
}

/* Validate everything before touching anything, and build the record. */
static int pair_open(Pair *p) {
        struct stat sk, sc;
        int r;

        if (!install_path_is_absolute(p->state_dir) || !install_name_is_valid(p->name) ||
            !p->f[INSTALL_PART_CERT])
                return -EINVAL;
        r = open_dir_nofollow(p->state_dir, (mode_t) -1, &p->state_fd);
        if (r < 0)
                return r;
        if (faccessat(p->state_fd, ".", W_OK | X_OK, AT_EACCESS) < 0)
                return -errno;
        for (size_t i = 0; i < _INSTALL_PART_MAX; i++) {
                if (!p->f[i])
                        continue;
                if (!p->f[i]->data && p->f[i]->size > 0)
                        return -EINVAL;
                r = target_open(p->f[i]->path, &p->t[i]);
                if (r < 0)
                        return r;
                p->rec.target[i] = strdup(p->f[i]->path);
                p->rec.temp[i] = install_path_join(p->t[i].dir, p->t[i].temp);
                if (!p->rec.target[i] || !p->rec.temp[i])
                        return -ENOMEM;
        }
        /* Two spellings of one file (a/../a, a symlinked directory) would stage twice under one name. */
        for (size_t i = 0; i < _INSTALL_PART_MAX; i++)
                for (size_t k = i + 1; k < _INSTALL_PART_MAX; k++) {
                        if (p->t[i].dirfd < 0 || p->t[k].dirfd < 0)
                                continue;
                        if (fstat(p->t[i].dirfd, &sk) < 0 || fstat(p->t[k].dirfd, &sc) < 0)
                                return -errno;
                        if (sk.st_dev == sc.st_dev && sk.st_ino == sc.st_ino &&
                            streq(p->t[i].base, p->t[k].base))
                                return -EINVAL;
                }
        return 0;
}

/* Steps 0-2: everything before the commit point. */
static int pair_prepare(Pair *p) {
        int r;

        r = record_write(p->install_fd, p->name, &p->rec, false);
        if (r < 0)
                return r;
        install_crash_point(CRASH_PREPARED);

        for (size_t i = 0; i < _INSTALL_PART_MAX; i++) {
                if (p->f[i]) {
                        r = install_stage_at(p->t[i].dirfd, p->t[i].temp, p->f[i]);
                        /* The commit record will promise this file: its name must survive a power cut. */
                        if (r >= 0)
                                r = install_fsync_fd(p->t[i].dirfd);
                        if (r < 0)
                                return r;
                }
                install_crash_point(CRASH_STAGED(i));
        }

        r = backup_take(p->state_fd, p->name, p->t);
        if (r < 0)
                return r;
        install_crash_point(CRASH_BEFORE_COMMIT);
        return 0;
}

/* Steps 4 and 5: the renames, the directories, the record. */
static int pair_switch(Pair *p) {
        _cleanup_free_ char *rec_name = NULL;
        int r;

        for (size_t i = 0; i < _INSTALL_PART_MAX; i++) {
                const Target *t = &p->t[i];

                if (t->dirfd >= 0 && renameat(t->dirfd, t->temp, t->dirfd, t->base) < 0)
                        return -errno;
                install_crash_point(CRASH_RENAMED(i));
        }
        for (size_t i = 0; i < _INSTALL_PART_MAX; i++)
                if (p->t[i].dirfd >= 0 && fsync(p->t[i].dirfd) < 0)
                        return -errno;
        install_crash_point(CRASH_SYNCED);

        rec_name = record_name(p->name);
        if (!rec_name)
                return -ENOMEM;
        r = install_unlink_if_exists(p->install_fd, rec_name);
        if (r < 0)
                return r;
        install_crash_point(CRASH_DONE);
        return install_fsync_fd(p->install_fd);
}

int install_set(const char *state_dir, const char *name, const InstallFile *const files[_INSTALL_PART_MAX]) {
        _cleanup_(pair_done)
                Pair p = { .state_dir = state_dir, .name = name, .state_fd = -1, .install_fd = -1 };
        int r;

        for (size_t i = 0; i < _INSTALL_PART_MAX; i++) {
                p.f[i] = files[i];
                p.t[i].dirfd = -1;
        }

        r = pair_open(&p);
        if (r < 0)
                return r;
        /* An install that a crash interrupted is finished or undone before this one starts. */
        r = install_recover(state_dir, name);
        if (r < 0)
                return r;
        p.install_fd = open_subdir(p.state_fd, "install");
        if (p.install_fd < 0)
                return p.install_fd;

        r = pair_prepare(&p);
        if (r >= 0)
                r = record_write(p.install_fd, name, &p.rec, true);
        if (r < 0) {
                /* Undo what was staged; the old pair is intact. (If only the fsync after the commit rename
                 * failed, this completes the new pair instead: the pair is whole either way.) */
                (void) install_recover(state_dir, name);
                return r;
        }
        install_crash_point(CRASH_COMMITTED);

        /* Past the commit point a failure leaves the record, and install_recover() completes the pair. */
        return pair_switch(&p);
}

int install_pair(const char *state_dir, const char *name, const InstallFile *key, const InstallFile *cert) {
        const InstallFile *files[_INSTALL_PART_MAX] = {
                [INSTALL_PART_KEY] = key, [INSTALL_PART_CERT] = cert
        };

        return install_set(state_dir, name, files);
}

void install_crash_point(unsigned k) {
        const char *e = getenv("CERTHERD_TEST_KILL_POINT");
        unsigned long v;
        char *end;

        if (!e || !e[0])
                return;
        errno = 0;
        v = strtoul(e, &end, 10);
        if (errno == 0 && !*end && v == k)
                raise(SIGKILL);
}
