/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A read buffer that can be reused file after file (a scan of ten thousand pairs reads twenty thousand). */
typedef struct FileBuffer {
        uint8_t *data;
        size_t size; /* of the last file read, without the NUL after it */
        size_t allocated;
} FileBuffer;

/* Read the regular file `path` (at most max bytes: -EFBIG beyond) into b, NUL-terminated, reusing its
 * allocation; *ret_mode (may be NULL) gets its st_mode. Returns 0 or -errno. */
int read_file_into(const char *path, size_t max, FileBuffer *b, mode_t *ret_mode);

/* Read a whole regular file (at most max bytes: -EFBIG beyond) into *ret, NUL-terminated; *ret_size
 * excludes the NUL. Returns 0 or -errno. */
int read_full_file(const char *path, size_t max, uint8_t **ret, size_t *ret_size);

/* A password or secret file: like read_full_file, without the trailing newline(s). */
int read_secret_file(const char *path, char **ret);

/* Create the directory `path` and its missing parents with `mode`. Returns 0 or -errno. */
int mkdir_p(const char *path, mode_t mode);

/* The same for the directory that holds the file `path`. */
int mkdir_parents(const char *path, mode_t mode);
