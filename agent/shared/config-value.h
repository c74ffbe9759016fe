/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "time-util.h"

/* Private to config*.c: what each key of the inventory (docs/inventory.md) accepts, i.e. the key tables,
 * their setters and the value grammar, plus the section index. No I/O and no file:line (config.c adds
 * that); kept apart from config.c only so that both files stay a readable size. */

typedef enum SectionKind {
        SECTION_NONE,
        SECTION_AGENT,
        SECTION_ACME,
        SECTION_CA,
        SECTION_CERT,
} SectionKind;

/* One key of a section: `set` parses the (expanded) value into the field at `offset` of AgentConfig,
 * AcmeConfig, CaConfig or CertConfig, and returns 0, -ENOMEM, or -EINVAL; for a bad list entry it also
 * hands over that entry in *ret_bad. `expected` describes a valid value, for messages. */
typedef struct ConfigKey ConfigKey;
struct ConfigKey {
        const char *key;
        int (*set)(const ConfigKey *k, const char *value, void *field, char **ret_bad);
        size_t offset;
        const char *expected;
        bool (*valid)(const char *); /* optional check of a string, or of each list entry */
        bool extra; /* a [certificate] key whose offset is into the set's CertExtra, not the CertConfig */
};

/* NULL when a section of that kind has no such key. */
const ConfigKey *config_key_find(SectionKind kind, const char *key);

/* Expands ${VAR} and ${VAR:-default} with getenv(); see config-value.c for the exact rules. Returns 0
 * and a malloc'd *ret, -ENOMEM, or -EINVAL with a malloc'd *reterr such as "environment variable
 * 'X' is not set". */
int config_expand_env(const char *value, char **ret, char **reterr);

bool config_section_name_is_valid(const char *s);
bool config_listen_is_valid(const char *s);
bool config_verify_is_valid(const char *s);
bool config_unit_name_is_valid(const char *s);
bool config_owner_is_valid(const char *s);
bool config_url_is_valid(const char *s);
bool config_profile_is_valid(const char *s);
bool config_persist_issuer_is_valid(const char *s);

int config_parse_mode(const char *s, mode_t *ret);
/* "HUP /run/x.pid": signal name (with or without SIG) or number, then the pid file. */
int config_parse_signal(const char *s, int *ret_signal, char **ret_pidfile);
/* Non-negative decimal seconds, "0.15", "30". */
int config_parse_seconds(const char *s, double *ret);

/* "7d", "12h", "90s": for messages. */
char *config_format_usec(usec_t u, char *buf, size_t size);
#define CONFIG_USEC_MAX 32
