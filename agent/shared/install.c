/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Atomic installation of files, crash-safe installation of key/certificate pairs.
 *
 * One file (install_file): a temp file ".BASE.certherd-XXXXXX" is created beside the target with
 * O_EXCL|O_NOFOLLOW (anything planted under that name only makes us pick another), gets owner and mode
 * before any data, is written, fsync'ed and renamed over the target (which replaces a symlink there rather
 * than following it), and the directory is fsync'ed so that the rename survives a power cut.
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
 * one certherd installs at a time (the state directory's lock, DESIGN.md section 8) and recovery has
 * already removed every staging file a record knew of; O_EXCL refuses anything appearing in between.
 * Targets are never followed, not even to read them for the backup: a symlink or another non-regular
 * file there is replaced without a backup copy.
 *
 * Directories (of targets, of the state directory, during recovery) are opened with open_dir_nofollow():
 * a symbolic link anywhere on the path is followed only when root (or our own user) owns both the link
 * and the directory holding it (fd-util.h says why), so a service user who owns a directory on a
 * target's path cannot swap a component for a link and redirect root's writes (-ENOLINK). */

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
#include "macro.h"

#define streq(a, b) (strcmp((a), (b)) == 0)

#define TEMP_INFIX ".certherd-"
#define STAGE_SUFFIX TEMP_INFIX "new"
#define RANDOM_SUFFIX_LEN 6
#define TEMP_ATTEMPTS 128
#define TEMP_OPEN_FLAGS (O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC)
#define DIR_OPEN_FLAGS (O_RDONLY | O_DIRECTORY | O_CLOEXEC)
#define FILE_MAX (16U * 1024U * 1024U) /* far above any key or chain; bounds what a backup reads */
#define RECORD_MAX 65536U
#define RECORD_MAGIC "certherd-install-record 1"
#define NAME_LEN_MAX 200

/* install_set's crash points, numbered in the order they are passed (each on every call, whether or not
 * the part it names is being installed, so that a test can walk them all): */
#define N_PARTS ((unsigned) _INSTALL_PART_MAX)
#define CRASH_PREPARED 1u                               /* intent record written, nothing staged */
#define CRASH_STAGED(i) (2u + (unsigned) (i))           /* part i in its staging file */
#define CRASH_BACKUP(i) (2u + N_PARTS + (unsigned) (i)) /* old part i copied into the backup being built */
#define CRASH_BACKUP_SWAPPED (2u + 2 * N_PARTS)         /* new backup in place, older generation not deleted */
#define CRASH_BEFORE_COMMIT (CRASH_BACKUP_SWAPPED + 1)  /* backup complete, record still "prepared" */
#define CRASH_COMMITTED (CRASH_BEFORE_COMMIT + 1)       /* record "committed", nothing renamed */
#define CRASH_RENAMED(i) (CRASH_COMMITTED + 1 + (unsigned) (i)) /* parts 0..i renamed, the rest not */
#define CRASH_SYNCED (CRASH_COMMITTED + 1 + N_PARTS)    /* directories fsync'ed, record not yet removed */
#define CRASH_DONE (CRASH_SYNCED + 1)                   /* record removed, STATE_DIR/install not yet fsync'ed */
_Static_assert(CRASH_DONE == INSTALL_CRASH_POINTS, "INSTALL_CRASH_POINTS must name the last crash point");

/* Record lines and backup file names. No label is a prefix of another (record_slot relies on it). */
static const char *const part_label[_INSTALL_PART_MAX] = {
        [INSTALL_PART_KEY] = "key",           [INSTALL_PART_CERT] = "cert",
        [INSTALL_PART_CHAIN] = "chain",       [INSTALL_PART_LEAF] = "leaf",
        [INSTALL_PART_COMBINED] = "combined", [INSTALL_PART_PKCS12] = "pkcs12",
};

/* What holds a private key is backed up readable by root alone. */
static bool part_is_secret(size_t i) {
        return i == INSTALL_PART_KEY || i == INSTALL_PART_COMBINED || i == INSTALL_PART_PKCS12;
}

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

static char *strdup_printf(const char *fmt, ...) _printf_(1, 2);
static char *strdup_printf(const char *fmt, ...) {
        va_list ap;
        char *s;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        return s;
}

static char *mfree_str(char *p) {
        free(p);
        return NULL;
}

static bool path_is_absolute(const char *p) {
        return p && p[0] == '/';
}

/* The name becomes a file name in the state directory; a leading dot could collide with our temps. */
static bool name_is_valid(const char *name) {
        return name && name[0] && name[0] != '.' && !strchr(name, '/') && !strchr(name, '\n') &&
               strlen(name) <= NAME_LEN_MAX;
}

static int fsync_fd(int fd) {
        return fsync(fd) < 0 ? -errno : 0;
}

/* 1 when removed, 0 when there was nothing to remove. */
static int unlink_if_exists(int dirfd, const char *name) {
        if (unlinkat(dirfd, name, 0) >= 0)
                return 1;
        return errno == ENOENT ? 0 : -errno;
}

/* Split a path into its directory (allocated) and its last component (inside path). */
static int path_split(const char *path, char **ret_dir, const char **ret_base) {
        const char *slash, *base;
        char *dir;

        if (!path || !path[0] || strchr(path, '\n'))
                return -EINVAL;
        slash = strrchr(path, '/');
        base = slash ? slash + 1 : path;
        if (!base[0] || streq(base, ".") || streq(base, ".."))
                return -EINVAL;
        /* Room for the temp name made from it: "." BASE ".certherd-XXXXXX". */
        if (strlen(base) + 1 + strlen(TEMP_INFIX) + RANDOM_SUFFIX_LEN > NAME_MAX)
                return -ENAMETOOLONG;

        if (!slash)
                dir = strdup(".");
        else
                dir = slash == path ? strdup("/") : strndup(path, (size_t) (slash - path));
        if (!dir)
                return -ENOMEM;
        *ret_dir = dir;
        *ret_base = base;
        return 0;
}

static char *path_join(const char *dir, const char *name) {
        size_t n = strlen(dir);

        return strdup_printf("%s%s%s", dir, n > 0 && dir[n - 1] == '/' ? "" : "/", name);
}

static char *stage_name(const char *base) {
        return strdup_printf(".%s" STAGE_SUFFIX, base);
}

static int write_all(int fd, const void *data, size_t size) {
        const uint8_t *p = data;

        while (size > 0) {
                ssize_t n = write(fd, p, size);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EIO;
                p += n;
                size -= (size_t) n;
        }
        return 0;
}

/* Read a regular file without following a symlink (or blocking on a FIFO) planted at its name.
 * Returns 1 and the data (NUL-terminated), 0 when there is no regular file, or -errno. */
static int read_regular_at(int dirfd, const char *name, size_t max, char **ret_data, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = -1;
        size_t size = 0, alloc;
        struct stat st;
        ssize_t n;

        /* The type is checked before the open: a device planted at the name is never opened. */
        fd = open_regular_at(dirfd, name, READ_NOFOLLOW, &st);
        if (fd == -ENOENT || fd == -ELOOP || fd == -EISDIR || fd == -ESPIPE || fd == -ENODEV ||
            fd == -ENXIO || fd == -EBADF)
                return 0;
        if (fd < 0)
                return fd;
        if ((uintmax_t) st.st_size > max)
                return -EFBIG;
        /* One spare byte to see EOF (or that the file grew while we read), one more for the NUL. */
        alloc = (size_t) st.st_size + 1;
        buf = malloc(alloc + 1);
        if (!buf)
                return -ENOMEM;
        while (size < alloc && (n = read(fd, buf + size, alloc - size)) != 0) {
                if (n < 0 && errno != EINTR)
                        return -errno;
                size += n > 0 ? (size_t) n : 0;
        }
        if (size == alloc)
                return -EBUSY; /* being written to right now; a later attempt will do */
        buf[size] = 0;
        *ret_data = TAKE_PTR(buf);
        *ret_size = size;
        return 1;
}

static void random_suffix(unsigned attempt, char out[static RANDOM_SUFFIX_LEN + 1]) {
        static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        uint8_t bytes[RANDOM_SUFFIX_LEN] = { (uint8_t) attempt, (uint8_t) (attempt >> 8) };

        /* O_EXCL settles every collision: the name need not be unpredictable, only differ between
         * attempts, so the attempt number will do while the entropy pool is not ready. */
        (void) getrandom(bytes, sizeof(bytes), GRND_NONBLOCK);
        for (size_t i = 0; i < RANDOM_SUFFIX_LEN; i++)
                out[i] = alphabet[bytes[i] % (sizeof(alphabet) - 1)];
        out[RANDOM_SUFFIX_LEN] = 0;
}

static int temp_create_random(int dirfd, const char *base, char **ret_name, int *ret_fd) {
        for (unsigned attempt = 0; attempt < TEMP_ATTEMPTS; attempt++) {
                _cleanup_free_ char *name = NULL;
                char suffix[RANDOM_SUFFIX_LEN + 1];
                int fd;

                random_suffix(attempt, suffix);
                name = strdup_printf(".%s" TEMP_INFIX "%s", base, suffix);
                if (!name)
                        return -ENOMEM;
                fd = openat(dirfd, name, TEMP_OPEN_FLAGS, 0600);
                if (fd >= 0) {
                        *ret_name = TAKE_PTR(name);
                        *ret_fd = fd;
                        return 0;
                }
                if (errno != EEXIST)
                        return -errno;
        }
        return -EEXIST;
}

static int temp_fill(int fd, const InstallFile *f, bool sync) {
        int r;

        /* Owner and mode go on before any data, so that no one the final mode excludes can ever read it
         * (the file starts as 0600 of this process). fchmod comes after fchown because changing the
         * owner clears set-id bits. */
        if ((f->uid != (uid_t) -1 || f->gid != (gid_t) -1) && fchown(fd, f->uid, f->gid) < 0)
                return -errno;
        if (fchmod(fd, f->mode & 07777) < 0)
                return -errno;
        r = write_all(fd, f->data, f->size);
        if (r < 0)
                return r;
        /* The data must be on disk before a rename makes it the target: otherwise a power cut can leave
         * the target's name on an empty file. (A batch syncs the whole file system once instead.) */
        return sync ? fsync_fd(fd) : 0;
}

/* Write f under a random temp name in dirfd and rename it over base. */
static int install_at(int dirfd, const char *base, const InstallFile *f) {
        _cleanup_free_ char *temp = NULL;
        _cleanup_close_ int fd = -1;
        int r;

        r = temp_create_random(dirfd, base, &temp, &fd);
        if (r < 0)
                return r;
        r = temp_fill(fd, f, true);
        if (r >= 0 && renameat(dirfd, temp, dirfd, base) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(dirfd, temp, 0);
                return r;
        }
        /* The rename is durable only once the directory is. Should this fail, the target is already
         * replaced and nothing can undo that, but the caller learns it may not survive a power cut. */
        return fsync_fd(dirfd);
}

int install_file(const InstallFile *f) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int dirfd = -1;
        const char *base;
        int r;

        if (!f || (!f->data && f->size > 0))
                return -EINVAL;
        r = path_split(f->path, &dir, &base);
        if (r < 0)
                return r;
        r = open_dir_nofollow(dir, (mode_t) -1, &dirfd);
        if (r < 0)
                return r;
        return install_at(dirfd, base, f);
}

static bool base_is_valid(const char *base) {
        return base && base[0] && !strchr(base, '/') && !strchr(base, '\n') && !streq(base, ".") &&
               !streq(base, "..") && strlen(base) + 1 + strlen(TEMP_INFIX) + RANDOM_SUFFIX_LEN <= NAME_MAX;
}

struct InstallBatch {
        int dirfd;
        char **temps; /* ".NAME.certherd-XXXXXX": the target's name is inside; NULL once renamed */
        size_t n, allocated;
};

int install_batch_new(const char *dir, InstallBatch **ret) {
        _cleanup_close_ int dirfd = -1;
        InstallBatch *b;
        int r;

        r = open_dir_nofollow(dir, (mode_t) -1, &dirfd);
        if (r < 0)
                return r;
        b = calloc(1, sizeof(InstallBatch));
        if (!b)
                return -ENOMEM;
        b->dirfd = TAKE_FD(dirfd);
        *ret = b;
        return 0;
}

InstallBatch *install_batch_free(InstallBatch *b) {
        if (!b)
                return NULL;
        for (size_t i = 0; i < b->n; i++)
                if (b->temps[i]) {
                        (void) unlinkat(b->dirfd, b->temps[i], 0);
                        free(b->temps[i]);
                }
        free(b->temps);
        closep(&b->dirfd);
        free(b);
        return NULL;
}

int install_batch_add(InstallBatch *b, const InstallFile *f) {
        _cleanup_free_ char *temp = NULL;
        _cleanup_close_ int fd = -1;
        int r;

        if (!f || !base_is_valid(f->path) || (!f->data && f->size > 0))
                return -EINVAL;
        if (b->n == b->allocated) {
                size_t a = b->allocated ? b->allocated * 2 : 64;
                char **t = realloc(b->temps, a * sizeof(char *));

                if (!t)
                        return -ENOMEM;
                b->temps = t;
                b->allocated = a;
        }
        r = temp_create_random(b->dirfd, f->path, &temp, &fd);
        if (r < 0)
                return r;
        /* No fsync here: install_batch_commit() syncs them all at once. */
        r = temp_fill(fd, f, false);
        if (r < 0) {
                (void) unlinkat(b->dirfd, temp, 0);
                return r;
        }
        b->temps[b->n++] = TAKE_PTR(temp);
        return 0;
}

int install_batch_commit(InstallBatch *b) {
        size_t renamed = 0;

        /* One sync for every file's data, before any rename can make one of them a target. */
        if (b->n > 0 && syncfs(b->dirfd) < 0)
                return -errno;
        for (size_t i = 0; i < b->n; i++) {
                char name[NAME_MAX + 1];
                size_t len;

                if (!b->temps[i])
                        continue;
                len = strlen(b->temps[i]) - 1 - strlen(TEMP_INFIX) - RANDOM_SUFFIX_LEN;
                memcpy(name, b->temps[i] + 1, len);
                name[len] = 0;
                if (renameat(b->dirfd, b->temps[i], b->dirfd, name) < 0)
                        return -errno;
                b->temps[i] = mfree_str(b->temps[i]);
                renamed++;
        }
        if (renamed > 0 && fsync(b->dirfd) < 0)
                return -errno;
        return (int) renamed;
}

int install_files_batch(const char *dir, const InstallFile *files, size_t n) {
        InstallBatch *b = NULL;
        int r;

        for (size_t i = 0; i < n; i++)
                if (!base_is_valid(files[i].path) || (!files[i].data && files[i].size > 0))
                        return -EINVAL;
        if (n == 0)
                return 0;
        r = install_batch_new(dir, &b);
        for (size_t i = 0; i < n && r >= 0; i++)
                r = install_batch_add(b, &files[i]);
        if (r >= 0)
                r = install_batch_commit(b);
        install_batch_free(b);
        return r;
}

/* Write f to the fixed staging name temp in dirfd, without renaming it. */
static int stage_at(int dirfd, const char *temp, const InstallFile *f) {
        _cleanup_close_ int fd = -1;
        int r;

        /* The top of this file says why removing a stale staging file is safe. */
        r = unlink_if_exists(dirfd, temp);
        if (r < 0)
                return r;
        fd = openat(dirfd, temp, TEMP_OPEN_FLAGS, 0600);
        if (fd < 0)
                return -errno;
        r = temp_fill(fd, f, true);
        if (r < 0)
                (void) unlinkat(dirfd, temp, 0);
        return r;
}

/* 1 and the id when s is a decimal id, 0 when it is a name, -EINVAL when out of range. */
static int parse_numeric_id(const char *s, uint32_t *ret) {
        unsigned long long v;

        if (!s[0] || strspn(s, "0123456789") != strlen(s))
                return 0;
        errno = 0;
        v = strtoull(s, NULL, 10);
        /* (uid_t) -1 means "leave unchanged" to chown(2), so it cannot name an owner. */
        if (errno != 0 || v >= UINT32_MAX)
                return -EINVAL;
        *ret = (uint32_t) v;
        return 1;
}

/* The _r lookups report "not found" as 0 or as one of several errnos, depending on the NSS module;
 * ERANGE asks for a larger buffer. */
static int nss_result(int r, size_t *size) {
        if (r == ERANGE && *size < 1024 * 1024) {
                *size *= 2;
                return 1;
        }
        return r == 0 || r == ENOENT || r == ESRCH || r == EBADF || r == EPERM ? -ESRCH : -r;
}

/* A user alone also names its primary group (as chown "user:" does); a numeric uid that the user
 * database does not know leaves the group unset. */
static int lookup_user(const char *user, uid_t *ret_uid, gid_t *ret_gid) {
        long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
        size_t size = hint > 0 ? (size_t) hint : 1024;
        uint32_t id;
        int numeric, r;

        numeric = parse_numeric_id(user, &id);
        if (numeric < 0)
                return numeric;
        for (;;) {
                _cleanup_free_ char *buf = malloc(size);
                struct passwd pw, *result = NULL;

                if (!buf)
                        return -ENOMEM;
                r = numeric ? getpwuid_r(id, &pw, buf, size, &result)
                            : getpwnam_r(user, &pw, buf, size, &result);
                if (result) {
                        *ret_uid = pw.pw_uid;
                        *ret_gid = pw.pw_gid;
                        return 0;
                }
                r = nss_result(r, &size);
                if (r > 0)
                        continue;
                if (numeric && r == -ESRCH) {
                        *ret_uid = (uid_t) id;
                        *ret_gid = (gid_t) -1;
                        return 0;
                }
                return r;
        }
}

static int lookup_group(const char *group, gid_t *ret_gid) {
        long hint = sysconf(_SC_GETGR_R_SIZE_MAX);
        size_t size = hint > 0 ? (size_t) hint : 1024;
        uint32_t id;
        int r;

        r = parse_numeric_id(group, &id);
        if (r != 0) {
                if (r > 0)
                        *ret_gid = (gid_t) id;
                return r < 0 ? r : 0;
        }
        for (;;) {
                _cleanup_free_ char *buf = malloc(size);
                struct group gr, *result = NULL;

                if (!buf)
                        return -ENOMEM;
                r = getgrnam_r(group, &gr, buf, size, &result);
                if (result) {
                        *ret_gid = gr.gr_gid;
                        return 0;
                }
                r = nss_result(r, &size);
                if (r <= 0)
                        return r;
        }
}

int install_parse_owner(const char *owner, uid_t *ret_uid, gid_t *ret_gid) {
        _cleanup_free_ char *user = NULL;
        const char *colon, *group = NULL;
        uid_t uid = (uid_t) -1;
        gid_t gid = (gid_t) -1;
        int r;

        if (!ret_uid || !ret_gid)
                return -EINVAL;
        if (owner && owner[0]) {
                colon = strchr(owner, ':');
                user = colon ? strndup(owner, (size_t) (colon - owner)) : strdup(owner);
                if (!user)
                        return -ENOMEM;
                group = colon ? colon + 1 : NULL;
                if (group && (strchr(group, ':') || (!user[0] && !group[0])))
                        return -EINVAL;
                r = user[0] ? lookup_user(user, &uid, &gid) : 0;
                if (r >= 0 && group && group[0])
                        r = lookup_group(group, &gid);
                if (r < 0)
                        return r;
        }
        *ret_uid = uid;
        *ret_gid = gid;
        return 0;
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
        return strdup_printf("%s.rec", name);
}

static int staging_path(const char *target, char **ret) {
        _cleanup_free_ char *dir = NULL, *temp = NULL;
        const char *base;
        int r;

        r = path_split(target, &dir, &base);
        if (r < 0)
                return r;
        temp = stage_name(base);
        if (!temp || !(*ret = path_join(dir, temp)))
                return -ENOMEM;
        return 0;
}

/* Every file of the generation, in part order: one record makes them one install. */
static char *record_format(const Record *rec, bool committed) {
        _cleanup_free_ char *text = strdup_printf(RECORD_MAGIC "\nstate %s\n", committed ? "committed" : "prepared");

        for (size_t i = 0; i < _INSTALL_PART_MAX && text; i++) {
                const char *l = part_label[i];
                char *more;

                if (!rec->target[i])
                        continue;
                more = strdup_printf("%s%s %s\n%s-temp %s\n", text, l, rec->target[i], l, rec->temp[i]);
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
                if (!path_is_absolute(rec->target[i]) || staging_path(rec->target[i], &expected) < 0 ||
                    !streq(expected, rec->temp[i]))
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
        *ret = rec;
        rec = (Record) {};
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
        *ret = rec;
        rec = (Record) {};
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
                t = strdup_printf("%s\n%s\n", rec.target[INSTALL_PART_KEY] ?: "", rec.target[INSTALL_PART_CERT] ?: "");
                /* The other outputs, only when present: "LABEL PATH" lines. */
                for (size_t i = INSTALL_PART_CHAIN; i < _INSTALL_PART_MAX && t; i++) {
                        char *more;

                        if (!rec.target[i])
                                continue;
                        more = strdup_printf("%s%s %s\n", t, part_label[i], rec.target[i]);
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

        if (!text || !rec_name || !(temp = stage_name(rec_name)))
                return -ENOMEM;
        r = stage_at(install_fd, temp, &(const InstallFile) {
                .data = text, .size = strlen(text), .mode = 0600, .uid = (uid_t) -1, .gid = (gid_t) -1 });
        if (r < 0)
                return r;
        if (renameat(install_fd, temp, install_fd, rec_name) < 0) {
                r = -errno;
                (void) unlinkat(install_fd, temp, 0);
                return r;
        }
        return fsync_fd(install_fd);
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

/* Remove a directory of plain files that we made (a backup generation). 1 when removed, 0 when absent. */
static int remove_dir_at(int parent_fd, const char *name) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int fd;

        fd = openat(parent_fd, name, DIR_OPEN_FLAGS | O_NOFOLLOW);
        if (fd < 0 && (errno == ENOTDIR || errno == ELOOP))
                return unlink_if_exists(parent_fd, name);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        d = fdopendir(fd);
        if (!d) {
                closep(&fd);
                return -ENOMEM;
        }
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
        return strdup_printf(".%s.new", name);
}

/* 1 when the current file was copied, 0 when there is none. */
static int backup_copy(const Target *t, int new_fd, size_t i) {
        _cleanup_free_ char *data = NULL;
        size_t size;
        int r;

        if (t->dirfd < 0)
                return 0;
        r = read_regular_at(t->dirfd, t->base, FILE_MAX, &data, &size);
        if (r <= 0)
                return r;
        r = install_at(new_fd, part_label[i], &(const InstallFile) {
                .data = data, .size = size, .mode = part_is_secret(i) ? 0600 : 0644,
                .uid = (uid_t) -1, .gid = (gid_t) -1 });
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
        return r < 0 ? r : fsync_fd(backup_fd);
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

        r = path_split(target, &dir, &base);
        if (r < 0)
                return r;
        temp = stage_name(base);
        if (!temp)
                return -ENOMEM;
        r = open_dir_nofollow(dir, (mode_t) -1, &dirfd);
        if (r < 0)
                return !forward && r == -ENOENT ? 0 : r;

        if (!forward)
                r = unlink_if_exists(dirfd, temp);
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

        r = read_regular_at(install_fd, rec_name, RECORD_MAX, &text, &size);
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

        if (!path_is_absolute(state_dir) || !name_is_valid(name))
                return -EINVAL;
        rec_name = record_name(name);
        if (!rec_name || !(rec_temp = stage_name(rec_name)))
                return -ENOMEM;
        r = open_dir_nofollow(state_dir, (mode_t) -1, &state_fd);
        if (r < 0)
                return r;
        install_fd = openat(state_fd, "install", DIR_OPEN_FLAGS | O_NOFOLLOW);
        if (install_fd < 0)
                return errno == ENOENT ? 0 : -errno; /* no pair was ever installed here */

        /* A record half written at the crash never replaced the one before it, which still rules. */
        removed = unlink_if_exists(install_fd, rec_temp);
        if (removed < 0)
                return removed;
        have_record = recover_record(install_fd, rec_name);
        if (have_record < 0)
                return have_record;
        discarded = backup_discard_staging(state_fd, name);
        if (discarded < 0)
                return discarded;
        /* The record goes last: until then, a crash here is repaired by the next recovery. */
        r = have_record > 0 ? unlink_if_exists(install_fd, rec_name) : 0;
        if (r < 0)
                return r;
        if (removed + have_record + discarded == 0)
                return 0;
        r = fsync_fd(install_fd);
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
        if (name && !name_is_valid(name)) {
                free(name);
                return NULL;
        }
        return name;
}

int install_recover_all(const char *state_dir, InstallRecoverReport report, void *userdata) {
        _cleanup_(closedirp) DIR *d = NULL;
        _cleanup_close_ int state_fd = -1;
        struct dirent *de;
        int r, fd, repaired = 0, failed = 0;

        if (!path_is_absolute(state_dir))
                return -EINVAL;
        r = open_dir_nofollow(state_dir, (mode_t) -1, &state_fd);
        if (r < 0)
                return r == -ENOENT ? 0 : r;
        fd = openat(state_fd, "install", DIR_OPEN_FLAGS | O_NOFOLLOW);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        d = fdopendir(fd);
        if (!d) {
                closep(&fd);
                return -ENOMEM;
        }
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

        if (!path_is_absolute(path))
                return -EINVAL;
        r = path_split(path, &dir, &base);
        if (r < 0)
                return r;
        temp = stage_name(base);
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
        *ret = (Target) { .path = path, .dir = TAKE_PTR(dir), .base = base, .temp = TAKE_PTR(temp),
                          .dirfd = TAKE_FD(fd) };
        return 0;
}

/* Validate everything before touching anything, and build the record. */
static int pair_open(Pair *p) {
        struct stat sk, sc;
        int r;

        if (!path_is_absolute(p->state_dir) || !name_is_valid(p->name) || !p->f[INSTALL_PART_CERT])
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
                p->rec.temp[i] = path_join(p->t[i].dir, p->t[i].temp);
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
                        if (sk.st_dev == sc.st_dev && sk.st_ino == sc.st_ino && streq(p->t[i].base, p->t[k].base))
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
                        r = stage_at(p->t[i].dirfd, p->t[i].temp, p->f[i]);
                        /* The commit record will promise this file: its name must survive a power cut. */
                        if (r >= 0)
                                r = fsync_fd(p->t[i].dirfd);
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
        r = unlink_if_exists(p->install_fd, rec_name);
        if (r < 0)
                return r;
        install_crash_point(CRASH_DONE);
        return fsync_fd(p->install_fd);
}

int install_set(const char *state_dir, const char *name, const InstallFile *const files[_INSTALL_PART_MAX]) {
        _cleanup_(pair_done) Pair p = { .state_dir = state_dir, .name = name, .state_fd = -1, .install_fd = -1 };
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
        const InstallFile *files[_INSTALL_PART_MAX] = { [INSTALL_PART_KEY] = key, [INSTALL_PART_CERT] = cert };

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
