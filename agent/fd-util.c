/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "fd-util.h"
#include "macro.h"

int read_full_file(const char *path, size_t max, uint8_t **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t size = 0, allocated;
        struct stat st;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EBADF;
        if ((uint64_t) st.st_size > max)
                return -EFBIG;

        allocated = (size_t) st.st_size + 1;
        buf = malloc(allocated);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t k;

                if (size + 1 == allocated) { /* the file grew while we read it */
                        uint8_t *p;

                        if (size >= max)
                                return -EFBIG;
                        p = realloc(buf, allocated * 2);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        allocated *= 2;
                }
                k = read(fd, buf + size, allocated - size - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                size += (size_t) k;
        }
        if (size > max)
                return -EFBIG;
        buf[size] = 0;
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
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

int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1;; s++) {
                char c = *s;

                if (c != '/' && c != 0)
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = c;
                if (c == 0)
                        break;
        }
        return 0;
}

int mkdir_parents(const char *path, mode_t mode) {
        _cleanup_free_ char *p = strdup(path);
        char *slash;

        if (!p)
                return -ENOMEM;
        slash = strrchr(p, '/');
        if (!slash || slash == p)
                return 0;
        *slash = 0;
        return mkdir_p(p, mode);
}
