/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Scratch files, time and main() for the cmocka tests: one copy of what several of them need. Include
 * after <cmocka.h>. */

#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "macro.h"

/* A malloc'd string from a format (a path, mostly); OOM fails the test. */
static inline _printf_(1, 2) char *pathf(const char *fmt, ...) {
        va_list ap;
        char *s;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        assert_true(r >= 0);
        return s;
}

/* DIR/NAME in one of eight static buffers, so that a call may take a few of them as arguments. */
static inline char *path_in(const char *dir, const char *name) {
        static char p[8][PATH_MAX + 32];
        static unsigned k;

        k = (k + 1) % ELEMENTSOF(p);
        snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
        return p[k];
}

/* A new directory /tmp/NAME.XXXXXX, malloc'd; NULL when it cannot be made. */
static inline char *scratch_dir(const char *name) {
        char *d = pathf("/tmp/%s.XXXXXX", name);

        if (!mkdtemp(d)) {
                free(d);
                return NULL;
        }
        return d;
}

static inline int
rm_rf_entry(const char *path, _unused_ const struct stat *st, _unused_ int flag, _unused_ struct FTW *ftw) {
        return remove(path);
}

/* Removes a scratch directory and everything below it, without following links. */
static inline void rm_rf(const char *dir) {
        (void)nftw(dir, rm_rf_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* CLOCK_MONOTONIC in seconds. */
static inline double now_s(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* main() of a test file: runs the tests given (cmocka_unit_test(…) entries) as one group, with group
 * setup and teardown functions or NULL. */
#define TEST_MAIN_GROUP(setup, teardown, ...)                                                               \
        int main(void) {                                                                                    \
                const struct CMUnitTest tests[] = {__VA_ARGS__};                                            \
                return cmocka_run_group_tests(tests, setup, teardown);                                      \
        }
#define TEST_MAIN(...) TEST_MAIN_GROUP(NULL, NULL, __VA_ARGS__)

/* FOREACH_STRING(s, "a", "b", …) STATEMENT: the statement once for each string given, as s. */
#define FOREACH_STRING(s, ...)                                                                              \
        for (const char *const *_strings = (const char *const[]){__VA_ARGS__, NULL}, *s; (s = *_strings);   \
             _strings++)
