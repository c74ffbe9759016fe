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

#include "keygen.h"
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

/* Whether openssl(1) runs here: the cross-checks are skipped without it. */
static inline bool have_openssl_cli(void) {
        _cleanup_free_ char *out = NULL;

        return run(&out, "openssl version 2>&1") == 0;
}

/* One key of each type in keys[type], for a group setup to make once: key generation (RSA-4096 most) is
 * the slow part under the sanitizers. */
static inline int keys_generate_each(gnutls_x509_privkey_t keys[static _KEY_TYPE_MAX]) {
        for (KeyType t = 0; t < _KEY_TYPE_MAX; t++)
                if (keygen_generate(t, &keys[t]) < 0)
                        return -1;
        return 0;
}

static inline void keys_free_each(gnutls_x509_privkey_t keys[static _KEY_TYPE_MAX]) {
        for (KeyType t = 0; t < _KEY_TYPE_MAX; t++)
                if (keys[t]) {
                        gnutls_x509_privkey_deinit(keys[t]);
                        keys[t] = NULL;
                }
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

/* The subjectAltNames of a certificate (crt) or a request (crq, crt NULL), in order, against names
 * (NULL-terminated). */
static inline void assert_sans_equal(gnutls_x509_crt_t crt, gnutls_x509_crq_t crq, char *const *names) {
        size_t i;

        for (i = 0;; i++) {
                char buf[512];
                size_t size = sizeof(buf) - 1;
                unsigned critical = 0;
                int r;

                r = crt ? gnutls_x509_crt_get_subject_alt_name(crt, (unsigned)i, buf, &size, &critical)
                        : gnutls_x509_crq_get_subject_alt_name(
                              crq, (unsigned)i, buf, &size, NULL, &critical);
                if (r == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
                        break;
                assert_non_null(names[i]);
                assert_san_equal(r, buf, size, names[i]);
        }
        assert_null(names[i]);
}
