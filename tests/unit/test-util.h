/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Helpers shared by the cmocka tests that cross-check with the openssl command line. Include after
 * <cmocka.h>. */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/wait.h>

#include <gnutls/x509.h>

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

/* One subjectAltName as GnuTLS returns it (type r, value buf[0..size)) against the name asked for: IP
 * literals as 4 or 16 raw bytes, anything else as a DNS name. buf must have room for a NUL at size. */
static inline void assert_san_equal(int r, char *buf, size_t size, const char *name) {
        unsigned char expect[16];

        if (inet_pton(AF_INET, name, expect) == 1) {
                assert_int_equal(r, GNUTLS_SAN_IPADDRESS);
                assert_int_equal(size, 4);
                assert_memory_equal(buf, expect, 4);
        } else if (inet_pton(AF_INET6, name, expect) == 1) {
                assert_int_equal(r, GNUTLS_SAN_IPADDRESS);
                assert_int_equal(size, 16);
                assert_memory_equal(buf, expect, 16);
        } else {
                assert_int_equal(r, GNUTLS_SAN_DNSNAME);
                buf[size] = 0;
                assert_string_equal(buf, name);
        }
}
