/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Shared by the files of the inventory module and nothing else: config.c (the sections, loading,
 * lookups), config-read.c (one file through inih) and config-check.c (the inventory as a whole). */

#include <stdarg.h>

#include "config-value.h"
#include "config.h"
#include "macro.h"

/* Files are read a chunk at a time: a large inventory never sits in memory whole. */
#define CONFIG_CHUNK_SIZE (64U * 1024)

/* "agent", "acme", "ca", "certificate", by SectionKind. */
extern const char *const config_section_kind_table[];

/* "FILE:LINE: message" (or "FILE: message" for line 0) into *reterr, if reterr; returns r. */
_printf_(5, 0) int config_verror(
    char **reterr, int r, const char *file, unsigned line, const char *fmt, va_list ap);
_printf_(5, 6) int config_error_at(
    char **reterr, int r, const char *file, unsigned line, const char *fmt, ...);

/* "[certificate \"web\"]" for messages. */
char *config_section_display(char *buf, size_t size, SectionKind kind, const char *name);

/* Rebuilds the section index of an inventory whose arrays were filled by hand. */
int config_index_sync(Inventory *inv);

/* The section (kind, name), created at FILE:LINE unless an earlier one is merged into; owned by inv. */
int config_section_get(
    Inventory *inv, SectionKind kind, const char *name, const char *file, unsigned line, void **ret);

/* Reads one inventory file from fd (borrowed), named path in messages. */
int config_parse_fd(Inventory *inv, int fd, const char *path, char **reterr);
