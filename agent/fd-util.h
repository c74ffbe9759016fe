/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Read a whole regular file (at most max bytes: -EFBIG beyond) into *ret, NUL-terminated; *ret_size
 * excludes the NUL. Returns 0 or -errno. */
int read_full_file(const char *path, size_t max, uint8_t **ret, size_t *ret_size);

/* A password or secret file: like read_full_file, without the trailing newline(s). */
int read_secret_file(const char *path, char **ret);

/* Create the directory `path` and its missing parents with `mode`. Returns 0 or -errno. */
int mkdir_p(const char *path, mode_t mode);

/* The same for the directory that holds the file `path`. */
int mkdir_parents(const char *path, mode_t mode);
