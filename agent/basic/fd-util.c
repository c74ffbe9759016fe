/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"

#define LINKS_MAX 40 /* as the kernel's own limit on links followed in one lookup */

const char *file_strerror(int error) {
        switch (error < 0 ? -error : error) {
        case EISDIR:
                return "not a regular file (directory)";
        case ESPIPE:
                return "not a regular file (FIFO)";
        case ENODEV:
                return "not a regular file (device)";
        case ENXIO:
                return "not a regular file (socket)";
        case ELOOP:
                return "not a regular file (symbolic link)";
        case ENOLINK:
                return "symbolic link in the path not owned by root";
        case EXDEV:
                return "symbolic link of one user to a file of another";
        default:
                return strerror(error < 0 ? -error : error);
        }
}

static int type_error(mode_t mode) {
        if (S_ISREG(mode))
                return 0;
        if (S_ISDIR(mode))
                return -EISDIR;
        if (S_ISFIFO(mode))
                return -ESPIPE;
        if (S_ISCHR(mode) || S_ISBLK(mode))
                return -ENODEV;
        if (S_ISSOCK(mode))
                return -ENXIO;
        if (S_ISLNK(mode))
                return -ELOOP;
        return -EBADF;
}

int path_split_dir(const char *path, char **ret_dir, const char **ret_base) {
        const char *slash = strrchr(path, '/');
        char *dir;

        if (!slash)
                dir = strdup(".");
        else
                dir = slash == path ? strdup("/") : strndup(path, (size_t) (slash - path));
        if (!dir)
                return -ENOMEM;
        *ret_dir = dir;
        *ret_base = slash ? slash + 1 : path;
        return 0;
}

static int clear_nonblock(int fd) {
        int fl = fcntl(fd, F_GETFL);

        return fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 ? -errno : 0;
}

/* open_dir_nofollow()'s rule for the link `link_st`, found in the directory parent_fd. */
static bool link_trusted(int parent_fd, const struct stat *link_st) {
        uid_t me = geteuid();
        struct stat parent;

        if (link_st->st_uid != 0 && link_st->st_uid != me)
                return false;
        if (fstat(parent_fd, &parent) < 0 || (parent.st_uid != 0 && parent.st_uid != me))
                return false;
        /* Whoever may write a non-sticky directory may move another of root's links into that name. */
        return !(parent.st_mode & (S_IWGRP | S_IWOTH)) || (parent.st_mode & S_ISVTX);
}

/* How a path is resolved (see fd-util.h for the two rules). */
typedef struct Chase {
        bool nofollow;  /* a link as the last component: -ELOOP */
        bool safe_last; /* a link as the last component: followed under the strict rule only */
        mode_t create_mode;
        unsigned links;
        uid_t foreign; /* owner of a link followed under the chase rule that is neither root nor us */
} Chase;

/* The chase rule for a link owned by `uid`: links of root and of ourselves lead anywhere; what another
 * user's link leads to must be theirs, so we remember whose it was (one user per path). */
static int chase_link(Chase *c, uid_t uid) {
        if (uid == 0 || uid == geteuid())
                return 0;
        if (c->foreign != (uid_t) -1 && c->foreign != uid)
                return -EXDEV;
        c->foreign = uid;
        return 0;
}

static int chase_walk(int start_fd, const char *path, bool want_dir, bool safe, Chase *c);

/* Follow the link `link_fd` (O_PATH) found in cur; final: it is the last component of the path. Returns
 * an O_PATH fd of where it leads, or -errno. */
static int chase_follow(int cur, int link_fd, const struct stat *st, bool final, bool safe, Chase *c) {
        char target[PATH_MAX];
        ssize_t n;
        int r;

        if (final && c->nofollow)
                return -ELOOP;
        if (++c->links > LINKS_MAX)
                return -ELOOP;
        safe = final ? c->safe_last : safe;
        if (safe && !link_trusted(cur, st))
                return -ENOLINK;
        if (!safe) {
                r = chase_link(c, st->st_uid);
                if (r < 0)
                        return r;
        }
        /* The O_PATH fd pins the very link whose owner we checked. */
        n = readlinkat(link_fd, "", target, sizeof(target));
        if (n < 0)
                return -errno;
        if ((size_t) n >= sizeof(target))
                return -ENAMETOOLONG;
        target[n] = 0;
        return chase_walk(cur, target, !final, safe, c);
}

/* The next component of *p (NUL-terminated in place), NULL at the end; *ret_last: nothing follows it. */
static char *next_component(char **p, bool *ret_last) {
        char *s = *p + strspn(*p, "/"), *e;

        if (!*s)
                return NULL;
        e = s + strcspn(s, "/");
        if (*e)
                *e++ = 0;
        *p = e;
        *ret_last = !e[strspn(e, "/")];
        return s;
}

/* Resolve `path` from start_fd one component at a time. want_dir: every component is a directory (made
 * with c->create_mode when missing); else the last one, after its links, may be anything. safe: links in
 * the directory part only under the strict rule. Returns an O_PATH fd or -errno. */
static int chase_walk(int start_fd, const char *path, bool want_dir, bool safe, Chase *c) {
        _cleanup_free_ char *copy = strdup(path);
        _cleanup_close_ int cur = -1;
        char *p = copy, *name;
        bool last = false;

        if (!copy)
                return -ENOMEM;
        if (path[0] == '/' || start_fd == AT_FDCWD)
                cur = open(path[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        else
                cur = fcntl(start_fd, F_DUPFD_CLOEXEC, 3);
        if (cur < 0)
                return -errno;

        while ((name = next_component(&p, &last))) {
                _cleanup_close_ int fd = -1;
                bool final = last && !want_dir;
                struct stat st;

                if (strcmp(name, ".") == 0 && !final)
                        continue;
                fd = openat(cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0 && errno == ENOENT && want_dir && c->create_mode != (mode_t) -1) {
                        if (mkdirat(cur, name, c->create_mode) < 0 && errno != EEXIST)
                                return -errno;
                        fd = openat(cur, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                }
                if (fd < 0)
                        return -errno;
                if (fstat(fd, &st) < 0)
                        return -errno;
                if (S_ISLNK(st.st_mode)) {
                        int next = chase_follow(cur, fd, &st, final, safe, c);
                        if (next < 0)
                                return next;
                        closep(&cur);
                        cur = next;
                        if (final)
                                return TAKE_FD(cur);
                        continue;
                }
                if (final) {
                        /* What another user's link led to must be theirs. */
                        if (c->foreign != (uid_t) -1 && st.st_uid != c->foreign)
                                return -EXDEV;
                        return TAKE_FD(fd);
                }
                if (!S_ISDIR(st.st_mode))
                        return -ENOTDIR;
                closep(&cur);
                cur = TAKE_FD(fd);
        }
        return TAKE_FD(cur);
}

static int openat2_opath(int dirfd, const char *path, int flags) {
#ifdef SYS_openat2
        struct open_how how = {
                .flags = (uint64_t) (flags | O_CLOEXEC),
                .resolve = RESOLVE_NO_SYMLINKS,
        };
        int fd = (int) syscall(SYS_openat2, dirfd, path, &how, sizeof(how));

        return fd < 0 ? -errno : fd;
#else
        (void) dirfd;
        (void) path;
        (void) flags;
        return -ENOSYS;
#endif
}

/* Whether openat2()'s answer calls for the walk: ELOOP, a link on the way (which a rule may allow);
 * ENOSYS, EPERM (a seccomp filter), E2BIG: no openat2 here. */
static bool needs_walk(int r) {
        return r == -ELOOP || r == -ENOSYS || r == -EPERM || r == -E2BIG;
}

/* An O_PATH fd of what `path` names, resolved under the rules of `flags`. */
static int open_path(int dirfd, const char *path, ReadFlags flags) {
        Chase c = { .nofollow = flags & READ_NOFOLLOW,
                    .safe_last = flags & READ_SAFE_LINK,
                    .create_mode = (mode_t) -1,
                    .foreign = (uid_t) -1 };
        int fd;

        /* One call for the common path without any link. */
        fd = openat2_opath(dirfd, path, O_PATH);
        if (!needs_walk(fd))
                return fd;
        return chase_walk(dirfd, path, false, flags & READ_SAFE_DIR, &c);
}

/* Open the regular file behind the O_PATH fd for reading. Through /proc the very inode is opened: what
 * was checked is what is read, and a device swapped in meanwhile is never opened. */
static int reopen_regular(int opath, int dirfd, const char *path, ReadFlags flags, const struct stat *st) {
        char proc[64];
        struct stat now;
        int fd;

        snprintf(proc, sizeof(proc), "/proc/self/fd/%i", opath);
        fd = open(proc, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd >= 0 || errno != ENOENT || access("/proc/self/fd", F_OK) >= 0)
                return fd < 0 ? -errno : fd;
        /* No /proc: by name again, and only when it is still the same file (O_NONBLOCK: a FIFO swapped in
         * does not block the open; it fails the comparison). */
        fd = openat(dirfd, path,
                    O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC |
                            ((flags & READ_NOFOLLOW) ? O_NOFOLLOW : 0));
        if (fd < 0)
                return -errno;
        if (fstat(fd, &now) < 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
                closep(&fd);
                return -ESTALE;
        }
        return fd;
}

static int open_regular_internal(int dirfd, const char *path, ReadFlags flags, bool blocking,
                                 struct stat *ret_st) {
        _cleanup_close_ int opath = -1, fd = -1;
        struct stat st;
        int r;

        if (!path || !path[0])
                return -EINVAL;
        opath = open_path(dirfd, path, flags);
        if (opath < 0)
                return opath;
        /* The type is known before anything is opened: a device is never opened, a FIFO never waited on. */
        if (fstat(opath, &st) < 0)
                return -errno;
        r = type_error(st.st_mode);
        if (r < 0)
                return r;
        fd = reopen_regular(opath, dirfd, path, flags, &st);
        if (fd < 0)
                return fd;
        /* Regular files ignore O_NONBLOCK (our own reads handle the EAGAIN of a mandatory lock); a caller
         * that gets the fd (for a stream reader) gets the ordinary semantics. */
        if (blocking && clear_nonblock(fd) < 0)
                return -errno;
        if (ret_st)
                *ret_st = st;
        return TAKE_FD(fd);
}

int open_regular_at(int dirfd, const char *path, ReadFlags flags, struct stat *ret_st) {
        return open_regular_internal(dirfd, path, flags, true, ret_st);
}

/* Read the open regular file fd (of stat st) into b. */
static int read_fd_into(int fd, const struct stat *st, size_t max, FileBuffer *b) {
        size_t want;

        if ((uint64_t) st->st_size > max)
                return -EFBIG;
        b->size = 0;
        want = (size_t) st->st_size + 1;
        for (;;) {
                ssize_t k;

                if (b->allocated < want) {
                        uint8_t *p = realloc(b->data, want);
                        if (!p)
                                return -ENOMEM;
                        b->data = p;
                        b->allocated = want;
                }
                k = read(fd, b->data + b->size, b->allocated - b->size - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN &&
                            clear_nonblock(fd) >= 0) /* a mandatory lock: wait as before */
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                b->size += (size_t) k;
                if (b->size > max)
                        return -EFBIG;
                if (b->size + 1 == b->allocated) /* the file grew while we read it */
                        want = b->allocated * 2;
        }
        b->data[b->size] = 0;
        return 0;
}

int read_file_at(int dirfd, const char *path, ReadFlags flags, size_t max, FileBuffer *b, mode_t *ret_mode) {
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        /* Left non-blocking: a scan reads twenty thousand files, two syscalls each saved. */
        fd = open_regular_internal(dirfd, path, flags, false, &st);
        if (fd < 0)
                return fd;
        r = read_fd_into(fd, &st, max, b);
        if (r < 0)
                return r;
        if (ret_mode)
                *ret_mode = st.st_mode;
        return 0;
}

int read_file_into(const char *path, size_t max, FileBuffer *b, mode_t *ret_mode) {
        return read_file_at(AT_FDCWD, path, 0, max, b, ret_mode);
}

int read_full_file_flags(const char *path, ReadFlags flags, size_t max, uint8_t **ret, size_t *ret_size) {
        FileBuffer b = {};
        int r;

        r = read_file_at(AT_FDCWD, path, flags, max, &b, NULL);
        if (r < 0) {
                free(b.data);
                return r;
        }
        *ret = b.data;
        *ret_size = b.size;
        return 0;
}

int read_full_file(const char *path, size_t max, uint8_t **ret, size_t *ret_size) {
        return read_full_file_flags(path, 0, max, ret, ret_size);
}

int read_secret_file(const char *path, char **ret) {
        uint8_t *data;
        size_t size;
        int r;

        r = read_full_file(path, 64 * 1024, &data, &size);
        if (r < 0)
                return r;
        /* A secret file ends with a newline more often than not; it is not part of the secret. */
        while (size > 0 && (data[size - 1] == '\n' || data[size - 1] == '\r'))
                data[--size] = 0;
        *ret = (char *) data;
        return 0;
}

int open_dir_nofollow(const char *path, mode_t create_mode, int *ret_fd) {
        _cleanup_close_ int dir = -1;
        Chase c = { .create_mode = create_mode, .foreign = (uid_t) -1 };
        int fd;

        if (!path || !path[0] || !ret_fd)
                return -EINVAL;
        fd = openat2_opath(AT_FDCWD, path, O_RDONLY | O_DIRECTORY);
        if (fd >= 0) {
                *ret_fd = fd;
                return 0;
        }
        /* ENOENT: to be created, by the walk. */
        if (!needs_walk(fd) && !(fd == -ENOENT && create_mode != (mode_t) -1))
                return fd;

        dir = chase_walk(AT_FDCWD, path, true, true, &c);
        if (dir < 0)
                return dir;
        /* From the O_PATH walk to a descriptor that can be read and fsync'ed. */
        fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return 0;
}

int unlink_nofollow(const char *path) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int fd = -1;
        const char *base;
        int r;

        r = path_split_dir(path, &dir, &base);
        if (r < 0)
                return r;
        r = open_dir_nofollow(dir, (mode_t) -1, &fd);
        if (r < 0)
                return r == -ENOENT ? 0 : r;
        return unlinkat(fd, base, 0) < 0 && errno != ENOENT ? -errno : 0;
}

int mkdir_p(const char *path, mode_t mode) {
        _cleanup_close_ int fd = -1;

        return open_dir_nofollow(path, mode, &fd);
}

int mkdir_parents(const char *path, mode_t mode) {
        _cleanup_free_ char *dir = NULL;
        const char *base;
        int r;

        r = path_split_dir(path, &dir, &base);
        if (r < 0)
                return r;
        if (strcmp(dir, "/") == 0 || strcmp(dir, ".") == 0)
                return 0;
        return mkdir_p(dir, mode);
}

bool stat_is_owned(const struct stat *st) {
        return (st->st_uid == 0 || st->st_uid == geteuid()) && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

int dir_check_owned(const char *path, struct stat *reterr_st) {
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        r = open_dir_nofollow(path, (mode_t) -1, &fd);
        if (r < 0)
                return r;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (stat_is_owned(&st))
                return 0;
        if (reterr_st)
                *reterr_st = st;
        return -EPERM;
}

/* One entry of path_check_owned(): `last`, what the path names, gets no sticky exemption. */
static int check_entry(const char *path, bool last, struct stat *ret_st) {
        struct stat st;

        if (lstat(path, &st) < 0)
                return -errno;
        *ret_st = st;
        if (stat_is_owned(&st))
                return 0;
        if (!last && S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX) &&
            (st.st_uid == 0 || st.st_uid == geteuid()))
                return 0;
        return -EPERM;
}

int path_check_owned(const char *path, struct stat *ret_st, char **reterr_path, struct stat *reterr_st) {
        _cleanup_free_ char *real = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st, named;
        const char *bad = "/";
        char *p, *slash = NULL;
        int r;

        /* Which directories hold it, links resolved: those are the ones whose owners could replace it. */
        real = realpath(path, NULL);
        if (!real)
                return -errno;
        r = check_entry("/", real[1] == 0, &st);
        for (p = real + 1; r >= 0 && *p; p = slash + 1) {
                slash = strchr(p, '/');
                if (slash)
                        *slash = 0;
                bad = real;
                r = check_entry(real, !slash, &st);
                if (!slash || r < 0)
                        break;
                *slash = '/';
        }
        if (r == -EPERM) {
                if (reterr_path) {
                        *reterr_path = strdup(bad);
                        if (!*reterr_path)
                                return -ENOMEM;
                }
                if (reterr_st)
                        *reterr_st = st;
        }
        if (r < 0)
                return r;
        /* The path as given, under the chase rule, must still name what was checked. */
        fd = open_path(AT_FDCWD, path, 0);
        if (fd < 0)
                return fd;
        if (fstat(fd, &named) < 0)
                return -errno;
        if (named.st_dev != st.st_dev || named.st_ino != st.st_ino)
                return -ESTALE;
        if (ret_st)
                *ret_st = st;
        return 0;
}

int read_owned_file(const char *path, ReadFlags flags, size_t max, uint8_t **ret, size_t *ret_size,
                    char **reterr_path, struct stat *reterr_st) {
        _cleanup_close_ int fd = -1;
        struct stat checked, st;
        FileBuffer b = {};
        int r;

        r = path_check_owned(path, &checked, reterr_path, reterr_st);
        if (r < 0)
                return r;
        fd = open_regular_internal(AT_FDCWD, path, flags, false, &st);
        if (fd < 0)
                return fd;
        if (st.st_dev != checked.st_dev || st.st_ino != checked.st_ino)
                return -ESTALE;
        r = read_fd_into(fd, &st, max, &b);
        if (r < 0) {
                free(b.data);
                return r;
        }
        *ret = b.data;
        *ret_size = b.size;
        return 0;
}
