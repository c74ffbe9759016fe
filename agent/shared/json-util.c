/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"

int json_get_string(json_t *o, const char *key, bool empty_ok, char **ret) {
        json_t *v = json_object_get(o, key);

        if (!json_is_string(v) || (!empty_ok && json_string_length(v) == 0) ||
            strlen(json_string_value(v)) != json_string_length(v))
                return -EBADMSG;
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : -ENOMEM;
}

int json_get_seconds(json_t *o, const char *key, usec_t *ret) {
        json_t *v = json_object_get(o, key);

        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            (uint64_t) json_integer_value(v) > USEC_INFINITY / USEC_PER_SEC - 1)
                return -EBADMSG;
        *ret = (usec_t) json_integer_value(v) * USEC_PER_SEC;
        return 0;
}
