/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What the files of shared/ share among themselves and nobody else: the single-file steps of install.c
 * that install-set.c builds the set install from. */

#include <stdbool.h>
#include <stddef.h>

#include "install.h"
#include "macro.h"

#define INSTALL_TEMP_INFIX ".certherd-"
#define INSTALL_STAGE_SUFFIX INSTALL_TEMP_INFIX "new"
#define INSTALL_DIR_OPEN_FLAGS (O_RDONLY | O_DIRECTORY | O_CLOEXEC)
#define INSTALL_FILE_MAX (16U * 1024U * 1024U) /* far above any key or chain; bounds what a backup reads */

char *install_strdup_printf(const char *fmt, ...) _printf_(1, 2);
bool install_path_is_absolute(const char *p);
/* A file name: not empty, no '/', not "." or "..". */
bool install_name_is_valid(const char *name);
int install_fsync_fd(int fd);
int install_unlink_if_exists(int dirfd, const char *name);
/* "/dir/base" → "/dir" (new string) and "base" (inside path). */
int install_path_split(const char *path, char **ret_dir, const char **ret_base);
char *install_path_join(const char *dir, const char *name);
/* The fixed staging name beside a target: ".BASE.certherd-new". */
char *install_stage_name(const char *base);
/* Read a regular file without following a symlink (or blocking on a FIFO) planted at its name.
 * Returns 1 and the data (NUL-terminated), 0 when there is no regular file, or -errno. */
int install_read_regular_at(int dirfd, const char *name, size_t max, char **ret_data, size_t *ret_size);
/* One file at dirfd/base, atomically (install_file's steps). */
int install_at(int dirfd, const char *base, const InstallFile *f);
/* Write f to the staging file `temp` in dirfd (created with O_EXCL; owner, mode, data, fsync). */
int install_stage_at(int dirfd, const char *temp, const InstallFile *f);
