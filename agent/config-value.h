/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "time-util.h"

/* The value grammar of the inventory (DESIGN.md §3), private to config.c. Pure string → value
 * functions: no I/O, no file:line (config.c adds that). Kept apart from config.c only so that both
 * files stay a readable size. */

/* Expands ${VAR} and ${VAR:-default} with getenv(); see config-value.c for the exact rules. Returns 0
 * and a malloc'd *ret, -ENOMEM, or -EINVAL with a malloc'd *reterr such as "environment variable
 * 'X' is not set". */
int config_expand_env(const char *value, char **ret, char **reterr);

bool config_section_name_is_valid(const char *s);
bool config_dns_name_is_valid(const char *s);
bool config_ip_is_valid(const char *s);
bool config_san_is_valid(const char *s); /* a DNS name or an IP address */
bool config_listen_is_valid(const char *s);
bool config_verify_is_valid(const char *s);
bool config_unit_name_is_valid(const char *s);
bool config_owner_is_valid(const char *s);
bool config_url_is_valid(const char *s);

int config_parse_mode(const char *s, mode_t *ret);
/* "HUP /run/x.pid": signal name (with or without SIG) or number, then the pid file. */
int config_parse_signal(const char *s, int *ret_signal, char **ret_pidfile);
/* Non-negative decimal seconds, "0.15", "30". */
int config_parse_seconds(const char *s, double *ret);

/* "7d", "12h", "90s": for messages. */
char *config_format_usec(usec_t u, char *buf, size_t size);
#define CONFIG_USEC_MAX 32

/* The section index behind Inventory.index: (kind, name) → section, open addressing with linear
 * probing in a power-of-two table kept at most half full, so merging 10 000 sections stays linear. */
typedef struct ConfigIndexEntry {
        const char *name; /* owned by the section */
        void *section;    /* NULL: free slot */
        int kind;
        unsigned hash;
} ConfigIndexEntry;

struct ConfigIndex {
        ConfigIndexEntry *entries;
        size_t n, size;
};

void *config_index_get(const struct ConfigIndex *ix, int kind, const char *name);
/* Adds or replaces; `name` must live as long as the entry. */
int config_index_put(struct ConfigIndex *ix, int kind, const char *name, void *section);
struct ConfigIndex *config_index_free(struct ConfigIndex *ix);
