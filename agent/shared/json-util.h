/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Strict readers and writers of the JSON files certherd keeps in its state directory (the CA index, the
 * compromised-keys list, the revocations record, the CA rotation record). */

#include <stdbool.h>
#include <stdlib.h>

#include <jansson.h>

#include "time-util.h"

/* o[key] as a new string: -EBADMSG when it is missing, not a string, empty (unless empty_ok) or holds a NUL. */
int json_get_string(json_t *o, const char *key, bool empty_ok, char **ret);
/* o[key] as whole seconds (a non-negative integer) in usec: -EBADMSG otherwise. */
int json_get_seconds(json_t *o, const char *key, usec_t *ret);

/* text as a JSON object, duplicate keys refused: -EBADMSG for anything else. */
int json_parse_object(const char *text, size_t size, json_t **ret);
/* The state file `path` (at most `max` bytes) through json_parse_object(). A missing file is no document:
 * 0 with *ret NULL. Returns 0, -EBADMSG when it is not a JSON object, or read_full_file()'s -errno. */
int json_load_state_file(const char *path, size_t max, json_t **ret);
/* A document handed to parse(o, ret) (which keeps nothing of o): o is the object, NULL for a state file
 * that does not exist yet. Returns parse()'s result, or the -errno of reading the document. */
typedef int (*JsonParseFn)(json_t *o, void *ret);
/* text through json_parse_object(), then parse(). */
int json_parse_with(const char *text, size_t size, JsonParseFn parse, void *ret);
/* The state file `path` through json_load_state_file(), then parse(). */
int json_load_with(const char *path, size_t max, JsonParseFn parse, void *ret);
/* Writes `o` (taken, also on failure; NULL is -ENOMEM) to `path` as a private state file: mode 0600, owner
 * kept, atomically. `flags` are json_dumps()'s. Returns 0 or -errno. */
int json_save_state_file(const char *path, json_t *o, size_t flags);

/* A state document that is one list: {"key": [item, …]}, each item an object, parsed into an entry of `size`
 * bytes. */
typedef struct JsonList {
        const char *key;
        size_t size;
        int (*parse)(json_t *item, void *entry); /* 0, -EBADMSG, -ENOMEM */
        void (*done)(void *entry); /* frees what parse() left in an entry, also a partial one */
} JsonList;
#define JSON_LIST(key, type, parse, done)                                                                   \
        { (key), sizeof(type), (parse), (done) }

/* root[key] as a new array of entries (one zeroed entry more, so that it is never NULL): *ret_entries and
 * *ret_n set on success only. NULL root (no file yet) is an empty list. Returns 0, -EBADMSG, -ENOMEM. */
int json_list_parse(json_t *root, const JsonList *t, void **ret_entries, size_t *ret_n);
/* Frees `n` entries parsed per `t` with t->done, and the array. */
void json_list_free(const JsonList *t, void *entries, size_t n);
/* json_list_parse() of text through json_parse_object(). */
int json_list_parse_text(const char *text, size_t size, const JsonList *t, void **ret_entries,
                         size_t *ret_n);
/* json_list_parse() of the state file `path` (see json_load_state_file(): a missing one is an empty list).
 * Returns 0, -EBADMSG, or -errno. */
int json_list_load(const char *path, size_t max, const JsonList *t, void **ret_entries, size_t *ret_n);
