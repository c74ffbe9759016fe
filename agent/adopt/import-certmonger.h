/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stddef.h>

#include "import-inventory.h"

/* `certherd import certmonger [DIR]`: certmonger's request files (/var/lib/certmonger/requests/) as
 * certificate sets: self-signed file pairs renewed by certherd (issue = self), everything another CA
 * serves (IPA, SCEP, certmonger's local signer) watched only. */

/* Parse one request file: "key=value" lines, a line starting with a blank continuing the value before it
 * (PEM blocks). *ret is a NULL-terminated key, value, … list. A NUL, a line without '=', a repeated key,
 * a continuation without a key or a file over 1 MiB is "LINE: message" in *reterr. Returns 0, -EBADMSG or
 * -ENOMEM. Pure. */
int certmonger_request_parse(const char *text, size_t size, char ***ret, char **reterr);

int import_certmonger(const ImportOptions *o, const char *dir);
