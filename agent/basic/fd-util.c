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

/* Split path into a directory (allocated) and the last component (inside path). */
static int split_dir(const char *path, char **ret_dir, const char **ret_base) {
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

static int open_regular_internal(int dirfd, const char *path, ReadFlags flags, bool blocking, struct stat *ret_st) {
        _cleanup_free_ char *dir = NULL;
        _cleanup_close_ int safe_dirfd = -1, fd = -1;
        const char *name = path;
        struct stat st;
        int r;

        if (!path || !path[0])
                return -EINVAL;
        if (flags & READ_SAFE_DIR) {
                r = split_dir(path, &dir, &name);
                if (r < 0)
                        return r;
                if (!name[0])
                        return -EISDIR;
                if (dirfd != AT_FDCWD && dir[0] != '/')
                        return -EINVAL; /* open_dir_nofollow() resolves from the working directory */
                r = open_dir_nofollow(dir, (mode_t) -1, &safe_dirfd);
                if (r < 0)
                        return r;
                dirfd = safe_dirfd;
        }
        /* O_NONBLOCK: opening a FIFO would otherwise wait for a writer, forever. */
        fd = openat(dirfd, name,
                    O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | ((flags & READ_NOFOLLOW) ? O_NOFOLLOW : 0));
        if (fd < 0) {
                r = -errno;
                /* open(2) refuses a socket with ENXIO, as it does a device without a driver. */
                if (r == -ENXIO && fstatat(dirfd, name, &st, (flags & READ_NOFOLLOW) ? AT_SYMLINK_NOFOLLOW : 0) >= 0)
                        r = S_ISSOCK(st.st_mode) ? -ENXIO : -ENODEV;
                return r;
        }
        if (fstat(fd, &st) < 0)
                return -errno;
        r = type_error(st.st_mode);
        if (r < 0)
                return r;
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

int read_file_at(int dirfd, const char *path, ReadFlags flags, size_t max, FileBuffer *b, mode_t *ret_mode) {
        _cleanup_close_ int fd = -1;
        struct stat st;
        size_t want;

        /* Left non-blocking: a scan reads twenty thousand files, two syscalls each saved. */
        fd = open_regular_internal(dirfd, path, flags, false, &st);
        if (fd < 0)
                return fd;
        if ((uint64_t) st.st_size > max)
                return -EFBIG;

        b->size = 0;
        want = (size_t) st.st_size + 1;
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
                        if (errno == EAGAIN && clear_nonblock(fd) >= 0) /* a mandatory lock: wait as before */
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

/* Resolve `path` from start_fd (O_PATH) one component at a time; *links counts the links followed.
 * Returns an O_PATH fd of the directory or -errno. */
static int walk(int start_fd, const char *path, mode_t create_mode, unsigned *links) {
        _cleanup_free_ char *copy = strdup(path);
        _cleanup_close_ int cur = -1;
        char *saveptr = NULL;

        if (!copy)
                return -ENOMEM;
        if (path[0] == '/' || start_fd == AT_FDCWD)
                cur = open(path[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        else
                cur = fcntl(start_fd, F_DUPFD_CLOEXEC, 3);
        if (cur < 0)
                return -errno;

        for (char *c = strtok_r(copy, "/", &saveptr); c; c = strtok_r(NULL, "/", &saveptr)) {
                _cleanup_close_ int fd = -1;
                char target[PATH_MAX];
                struct stat st;
                ssize_t n;
                int next;

                if (strcmp(c, ".") == 0)
                        continue;
                fd = openat(cur, c, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0 && errno == ENOENT && create_mode != (mode_t) -1) {
                        if (mkdirat(cur, c, create_mode) < 0 && errno != EEXIST)
                                return -errno;
                        fd = openat(cur, c, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                }
                if (fd < 0)
                        return -errno;
                if (fstat(fd, &st) < 0)
                        return -errno;
                if (S_ISDIR(st.st_mode)) {
                        closep(&cur);
                        cur = TAKE_FD(fd);
                        continue;
                }
                if (!S_ISLNK(st.st_mode))
                        return -ENOTDIR;
                if (++*links > LINKS_MAX)
                        return -ELOOP;
                if (!link_trusted(cur, &st))
                        return -ENOLINK;
                /* The O_PATH fd pins the very link whose owner we checked. */
                n = readlinkat(fd, "", target, sizeof(target));
                if (n < 0)
                        return -errno;
                if ((size_t) n >= sizeof(target))
                        return -ENAMETOOLONG;
                target[n] = 0;
                next = walk(cur, target, create_mode, links);
                if (next < 0)
                        return next;
                closep(&cur);
                cur = next;
        }
        return TAKE_FD(cur);
}

static int openat2_no_symlinks(const char *path) {
#ifdef SYS_openat2
        struct open_how how = {
                .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                .resolve = RESOLVE_NO_SYMLINKS,
        };
        int fd = (int) syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));

        return fd < 0 ? -errno : fd;
#else
        (void) path;
        return -ENOSYS;
#endif
}

int open_dir_nofollow(const char *path, mode_t create_mode, int *ret_fd) {
        _cleanup_close_ int dir = -1;
        unsigned links = 0;
        int fd;

        if (!path || !path[0] || !ret_fd)
                return -EINVAL;
        fd = openat2_no_symlinks(path);
        if (fd >= 0) {
                *ret_fd = fd;
                return 0;
        }
        /* ELOOP: a link on the way, which the rule may trust; ENOENT: to be created; ENOSYS, EPERM (a
         * seccomp filter), E2BIG: no openat2 here. */
        if (fd != -ELOOP && fd != -ENOSYS && fd != -EPERM && fd != -E2BIG &&
            !(fd == -ENOENT && create_mode != (mode_t) -1))
                return fd;

        dir = walk(AT_FDCWD, path, create_mode, &links);
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

        r = split_dir(path, &dir, &base);
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

        r = split_dir(path, &dir, &base);
        if (r < 0)
                return r;
        if (strcmp(dir, "/") == 0 || strcmp(dir, ".") == 0)
                return 0;
        return mkdir_p(dir, mode);
}
