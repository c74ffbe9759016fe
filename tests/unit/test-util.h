/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Helpers shared by the cmocka tests that cross-check with the openssl command line. Include after
 * <cmocka.h>. */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "macro.h"

static inline void write_file(const char *path, const void *data, size_t size) {
        FILE *f = fopen(path, "we");

        assert_non_null(f);
        assert_int_equal(fwrite(data, 1, size, f), size);
        assert_int_equal(fclose(f), 0);
}

/* Run a shell command; its stdout and stderr into a malloc'd string. Returns the exit status. */
static inline int run(char **ret_out, const char *fmt, ...) {
        _cleanup_free_ char *cmd = NULL, *out = NULL;
        size_t size = 0, n;
        char buf[4096];
        va_list ap;
        FILE *p;
        int r, status;

        va_start(ap, fmt);
        r = vasprintf(&cmd, fmt, ap);
        va_end(ap);
        assert_true(r >= 0);

        p = popen(cmd, "re");
        assert_non_null(p);
        while ((n = fread(buf, 1, sizeof(buf), p)) > 0) {
                char *o = realloc(out, size + n + 1);

                assert_non_null(o);
                out = o;
                memcpy(out + size, buf, n);
                size += n;
                out[size] = 0;
        }
        status = pclose(p);
        if (!out)
                out = strdup("");
        assert_non_null(out);
        *ret_out = TAKE_PTR(out);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
