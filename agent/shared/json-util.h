/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Strict readers of the JSON files certherd keeps (the CA index, the compromised-keys list). */

#include <stdbool.h>

#include <jansson.h>

#include "time-util.h"

/* o[key] as a new string: -EBADMSG when it is missing, not a string, empty (unless empty_ok) or holds a NUL. */
int json_get_string(json_t *o, const char *key, bool empty_ok, char **ret);
/* o[key] as whole seconds (a non-negative integer) in usec: -EBADMSG otherwise. */
int json_get_seconds(json_t *o, const char *key, usec_t *ret);
