/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fd-util.h"
#include "install.h"
#include "json-util.h"
#include "macro.h"

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

int json_parse_object(const char *text, size_t size, json_t **ret) {
        json_t *j = json_loadb(text, size, JSON_REJECT_DUPLICATES, NULL);

        if (!json_is_object(j)) {
                json_decref(j);
                return -EBADMSG;
        }
        *ret = j;
        return 0;
}

int json_load_state_file(const char *path, size_t max, json_t **ret) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t size;
        int r;

        r = read_full_file(path, max, &data, &size);
        if (r >= 0)
                return json_parse_object((const char *) data, size, ret);
        if (r != -ENOENT)
                return r;
        *ret = NULL; /* no file yet */
        return 0;
}

int json_parse_with(const char *text, size_t size, JsonParseFn parse, void *ret) {
        _cleanup_(json_decrefp) json_t *o = NULL;
        int r = json_parse_object(text, size, &o);

        return r < 0 ? r : parse(o, ret);
}

int json_load_with(const char *path, size_t max, JsonParseFn parse, void *ret) {
        _cleanup_(json_decrefp) json_t *o = NULL;
        int r = json_load_state_file(path, max, &o);

        return r < 0 ? r : parse(o, ret);
}

int json_save_state_file(const char *path, json_t *o, size_t flags) {
        _cleanup_free_ char *text = o ? json_dumps(o, flags) : NULL;

        json_decref(o);
        if (!text)
                return -ENOMEM;
        return install_data(path, text, strlen(text), 0600);
}

void json_list_free(const JsonList *t, void *entries, size_t n) {
        for (size_t i = 0; i < n; i++)
                t->done((uint8_t *) entries + i * t->size);
        free(entries);
}

int json_list_parse(json_t *root, const JsonList *t, void **ret_entries, size_t *ret_n) {
        json_t *list = json_object_get(root, t->key), *v;
        uint8_t *entries;
        size_t i, n = 0;
        int r = 0;

        if (!root) {
                *ret_entries = NULL;
                *ret_n = 0;
                return 0;
        }
        if (!json_is_array(list))
                return -EBADMSG;
        entries = calloc(json_array_size(list) + 1, t->size);
        if (!entries)
                return -ENOMEM;
        json_array_foreach (list, i, v) {
                if (!json_is_object(v)) {
                        r = -EBADMSG;
                        break;
                }
                r = t->parse(v, entries + n++ * t->size);
                if (r < 0)
                        break;
        }
        if (r < 0) {
                json_list_free(t, entries, n);
                return r;
        }
        *ret_entries = entries;
        *ret_n = n;
        return 0;
}

int json_list_parse_text(const char *text, size_t size, const JsonList *t, void **ret_entries,
                         size_t *ret_n) {
        _cleanup_(json_decrefp) json_t *root = NULL;
        int r = json_parse_object(text, size, &root);

        return r < 0 ? r : json_list_parse(root, t, ret_entries, ret_n);
}

int json_list_load(const char *path, size_t max, const JsonList *t, void **ret_entries, size_t *ret_n) {
        _cleanup_(json_decrefp) json_t *root = NULL;
        int r = json_load_state_file(path, max, &root);

        return r < 0 ? r : json_list_parse(root, t, ret_entries, ret_n);
}
