/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Atomic installation of files (install_file, batches) and owners; the set install is install-set.c.
 *
 * One file (install_file): a temp file ".BASE.certherd-XXXXXX" is created beside the target with
 * O_EXCL|O_NOFOLLOW (anything planted under that name only makes us pick another), gets owner and mode
 * before any data, is written, fsync'ed and renamed over the target (which replaces a symlink there rather
 * than following it), and the directory is fsync'ed so that the rename survives a power cut.
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
#include "shared-internal.h"
#include "macro.h"

#define TEMP_INFIX INSTALL_TEMP_INFIX
#define STAGE_SUFFIX INSTALL_STAGE_SUFFIX
#define NAME_LEN_MAX 200
#define RANDOM_SUFFIX_LEN 6
#define TEMP_ATTEMPTS 128
#define TEMP_OPEN_FLAGS (O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC)
#define DIR_OPEN_FLAGS INSTALL_DIR_OPEN_FLAGS
char *install_strdup_printf(const char *fmt, ...) _printf_(1, 2);
char *install_strdup_printf(const char *fmt, ...) {
        char *s;

        (void) VA_FORMAT(&s, fmt);
        return s;
}

static char *mfree_str(char *p) {
        free(p);
        return NULL;
}

bool install_path_is_absolute(const char *p) {
        return p && p[0] == '/';
}

/* The name becomes a file name in the state directory; a leading dot could collide with our temps. */
bool install_name_is_valid(const char *name) {
        return name && name[0] && name[0] != '.' && !strchr(name, '/') && !strchr(name, '\n') &&
               strlen(name) <= NAME_LEN_MAX;
}

int install_fsync_fd(int fd) {
        return fsync(fd) < 0 ? -errno : 0;
}

/* 1 when removed, 0 when there was nothing to remove. */
int install_unlink_if_exists(int dirfd, const char *name) {
        if (unlinkat(dirfd, name, 0) >= 0)
                return 1;
        return errno == ENOENT ? 0 : -errno;
}

/* Split a path into its directory (allocated) and its last component (inside path). */
int install_path_split(const char *path, char **ret_dir, const char **ret_base) {
        const char *slash, *base;

        if (!path || !path[0] || strchr(path, '\n'))
                return -EINVAL;
        slash = strrchr(path, '/');
        base = slash ? slash + 1 : path;
        if (!base[0] || streq(base, ".") || streq(base, ".."))
                return -EINVAL;
        /* Room for the temp name made from it: "." BASE ".certherd-XXXXXX". */
        if (strlen(base) + 1 + strlen(TEMP_INFIX) + RANDOM_SUFFIX_LEN > NAME_MAX)
                return -ENAMETOOLONG;

        return path_split_dir(path, ret_dir, ret_base);
}

char *install_path_join(const char *dir, const char *name) {
        size_t n = strlen(dir);

        return install_strdup_printf("%s%s%s", dir, n > 0 && dir[n - 1] == '/' ? "" : "/", name);
}

char *install_stage_name(const char *base) {
        return install_strdup_printf(".%s" STAGE_SUFFIX, base);
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
int install_read_regular_at(int dirfd, const char *name, size_t max, char **ret_data, size_t *ret_size) {
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
                name = install_strdup_printf(".%s" TEMP_INFIX "%s", base, suffix);
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
        return sync ? install_fsync_fd(fd) : 0;
}

/* Write f under a random temp name in dirfd and rename it over base. */
int install_at(int dirfd, const char *base, const InstallFile *f) {
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
        return install_fsync_fd(dirfd);
}

int install_file(const InstallFile *f) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int dirfd = -1;
        const char *base;
        int r;

        if (!f || (!f->data && f->size > 0))
                return -EINVAL;
        r = install_path_split(f->path, &dir, &base);
        if (r < 0)
                return r;
        r = open_dir_nofollow(dir, (mode_t) -1, &dirfd);
        if (r < 0)
                return r;
        return install_at(dirfd, base, f);
}

int install_data(const char *path, const void *data, size_t size, mode_t mode) {
        return install_file(&INSTALL_DATA(path, data, size, mode));
}

int install_data_mkdir(const char *path, const void *data, size_t size, mode_t mode, mode_t dir_mode) {
        int r;

        r = mkdir_parents(path, dir_mode);
        if (r < 0)
                return r;
        return install_data(path, data, size, mode);
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
int install_stage_at(int dirfd, const char *temp, const InstallFile *f) {
        _cleanup_close_ int fd = -1;
        int r;

        /* The top of this file says why removing a stale staging file is safe. */
        r = install_unlink_if_exists(dirfd, temp);
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
