/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <gnutls/x509.h>

#include "import-inventory.h"
#include "macro.h"

/* `certherd import certbot`: certbot's renewal/NAME.conf lineages as certificate sets, its ACME accounts as
 * certherd's. */

/* One `key = value` of a renewal file (configobj's syntax, the subset certbot writes). section is "" for
 * the top, "renewalparams", or "renewalparams/webroot_map"; a list has is_list set (a value with a comma). */
typedef struct CertbotEntry {
        char *section;
        char *key;
        char **values; /* NULL-terminated, at least one (possibly "") */
        bool is_list;
        unsigned line;
} CertbotEntry;

typedef struct CertbotConf {
        CertbotEntry *entries;
        size_t n_entries;
} CertbotConf;

/* Parse a renewal file strictly: a NUL, a multi-line ('''/""") value, an unterminated quote, a repeated key,
 * a subsection without its section, a line longer than 64 KiB or a file over 1 MiB are errors. On error
 * *reterr is "LINE: message". Returns 0, -EBADMSG or -ENOMEM. Pure: fuzzed (tests/fuzz/fuzz-import.c). */
int certbot_conf_parse(const char *text, size_t size, CertbotConf **ret, char **reterr);
CertbotConf *certbot_conf_free(CertbotConf *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(CertbotConf *, certbot_conf_free)
/* The entry KEY in SECTION, or NULL. */
const CertbotEntry *certbot_conf_get(const CertbotConf *c, const char *section, const char *key);
/* Its single value (NULL when absent or a list). */
const char *certbot_conf_value(const CertbotConf *c, const char *section, const char *key);

/* An ACME account key in JWK form (RSA or EC P-256/P-384) as a GnuTLS key. Returns 0, -EBADMSG, -ENOMEM. */
int import_jwk_privkey(const char *json, size_t size, gnutls_x509_privkey_t *ret);

/* The verb: returns an exit code (0 ok, 1 failed, 3 usage). */
int import_certbot(const ImportOptions *o);
