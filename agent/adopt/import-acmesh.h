/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stddef.h>

#include "import-inventory.h"

/* `certherd import acme.sh DIR`: acme.sh's DOMAIN/DOMAIN.conf (Le_* keys) as certificate sets, its accounts
 * (ca/SERVER/account.key, ca.conf ACCOUNT_URL) as certherd's. */

/* Parse a file of shell assignments as acme.sh writes them: KEY='value', KEY="value" (no \ $ ` inside),
 * KEY=word, comments and blank lines. Anything else (a command, a substitution, a repeated key) is an
 * error "LINE: message" in *reterr. *ret is a NULL-terminated list key, value, key, value, …
 * Returns 0, -EBADMSG or -ENOMEM. Pure: fuzzed (tests/fuzz/fuzz-import.c). */
int acmesh_conf_parse(const char *text, size_t size, char ***ret, char **reterr);
/* The value of KEY in such a list, or NULL. */
const char *acmesh_conf_get(char *const *kv, const char *key);
/* Le_ReloadCmd's '__ACME_BASE64__START_…__ACME_BASE64__END_' wrapping decoded (a value without it is
 * copied). Returns 0, -EBADMSG (bad base64, a NUL or newline-free control character inside) or -ENOMEM. */
int acmesh_decode_value(const char *v, char **ret);

int import_acmesh(const ImportOptions *o, const char *dir);
