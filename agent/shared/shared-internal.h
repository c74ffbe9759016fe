/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "config-value.h"
#include "config.h"
#include "install.h"
#include "macro.h"

/* What the files of shared/ share among themselves and nobody else: the single-file steps of install.c
 * that install-set.c builds the set install from. */

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

/* ---- the inventory's files: config.c, config-read.c, config-check.c ---- */

/* Shared by the files of the inventory module and nothing else: config.c (the sections, loading,
 * lookups), config-read.c (one file through inih) and config-check.c (the inventory as a whole). */

/* Files are read a chunk at a time: a large inventory never sits in memory whole. */
#define CONFIG_CHUNK_SIZE (64U * 1024)

/* "agent", "acme", "ca", "certificate", by SectionKind. */
extern const char *const config_section_kind_table[];

/* "FILE:LINE: message" (or "FILE: message" for line 0) into *reterr, if reterr; returns r. */
_printf_(5, 0) int config_verror(char **reterr, int r, const char *file, unsigned line, const char *fmt,
                                 va_list ap);
_printf_(5, 6) int config_error_at(char **reterr, int r, const char *file, unsigned line, const char *fmt,
                                   ...);

/* "[certificate \"web\"]" for messages. */
char *config_section_display(char *buf, size_t size, SectionKind kind, const char *name);

/* Rebuilds the section index of an inventory whose arrays were filled by hand. */
int config_index_sync(Inventory *inv);

/* The section (kind, name), created at FILE:LINE unless an earlier one is merged into; owned by inv. */
int config_section_get(Inventory *inv, SectionKind kind, const char *name, const char *file, unsigned line,
                       void **ret);

/* Reads one inventory file from fd (borrowed), named path in messages. */
int config_parse_fd(Inventory *inv, int fd, const char *path, char **reterr);
/* c's own CertExtra, to write to: made (a zeroed copy) while c still points at cert_extra_none. NULL on
 * OOM. Only while the inventory is read: a packed set is read-only. */
CertExtra *cert_extra_mut(CertConfig *c);

/* ---- config-index.c ---- */

/* The section index behind Inventory.index: (kind, name) → section, open addressing with linear
 * probing in a power-of-two table kept at most seven eighths full, so merging 100 000 sections stays
 * linear. An entry is the section's place in its array (inv->acme, ->ca or ->certs), not a pointer, so
 * that packing the sets (config.c) moves them without touching the index, and 8 bytes: a daemon keeps the
 * table as long as it runs. The hash kept in each entry makes a long probe cheap: the name is compared
 * (read from the section, whose struct begins with it) only when the hashes match. */
typedef struct ConfigIndexEntry {
        uint32_t hash;
        uint32_t at; /* 0: free slot; else kind << 28 | (place in its array + 1) */
} ConfigIndexEntry;

struct ConfigIndex {
        ConfigIndexEntry *entries;
        size_t n, size;
};

void *config_index_get(const Inventory *inv, int kind, const char *name);
/* Adds or replaces the entry for (kind, the name of the section at place `at` of its array). */
int config_index_put(Inventory *inv, int kind, size_t at);
struct ConfigIndex *config_index_free(struct ConfigIndex *ix);
