/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "fd-util.h"
#include "macro.h"

int read_file_into(const char *path, size_t max, FileBuffer *b, mode_t *ret_mode) {
        _cleanup_close_ int fd = -1;
        struct stat st;
        size_t want;

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

int read_full_file(const char *path, size_t max, uint8_t **ret, size_t *ret_size) {
        FileBuffer b = {};
        int r;

        r = read_file_into(path, max, &b, NULL);
        if (r < 0) {
                free(b.data);
                return r;
        }
        *ret = b.data;
        *ret_size = b.size;
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
