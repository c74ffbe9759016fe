/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

void strv_free(char **l) {
        if (!l)
                return;
        for (char **i = l; *i; i++)
                free(*i);
        free(l);
}

size_t strv_length(char *const *l) {
        size_t n = 0;

        while (l && l[n])
                n++;
        return n;
}

int strv_consume(char ***l, size_t *n, char *s) {
        size_t k = n ? *n : strv_length(*l);
        char **nl;

        if (!s)
                return -ENOMEM;
        nl = reallocarray(*l, k + 2, sizeof(char *));
        if (!nl) {
                free(s);
                return -ENOMEM;
        }
        nl[k] = s;
        nl[k + 1] = NULL;
        *l = nl;
        if (n)
                (*n)++;
        return 0;
}

bool strv_contains(char *const *l, const char *s) {
        for (; l && *l; l++)
                if (strcmp(*l, s) == 0)
                        return true;
        return false;
}

bool strv_equal(char *const *a, char *const *b) {
        for (; a && *a && b && *b; a++, b++)
                if (strcmp(*a, *b) != 0)
                        return false;
        return (!a || !*a) && (!b || !*b);
}

int string_table_lookup_stride(const void *first, size_t stride, size_t n, const char *s) {
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                const char *name = *(const char *const *) ((const char *) first + i * stride);

                if (name && strcmp(name, s) == 0)
                        return (int) i;
        }
        return -EINVAL;
}

int string_table_lookup(const char *const *table, size_t n, const char *s) {
        return string_table_lookup_stride(table, sizeof(*table), n, s);
}

int reterr_set(char **reterr, int r, const char *fmt, ...) {
        if (reterr)
                (void) VA_FORMAT(reterr, fmt);
        return r;
}
