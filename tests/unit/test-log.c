/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "message-id.h"
#include "test-fs.h"

static char *read_catalog(void) {
        const char *root = getenv("CERTHERD_SOURCE_ROOT");
        char path[4096];
        FILE *f;
        char *buf;
        long n;

        snprintf(path, sizeof(path), "%s/units/certherd.catalog", root ? root : ".");
        f = fopen(path, "re");
        assert_non_null(f);
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        rewind(f);
        buf = calloc(1, (size_t) n + 1);
        assert_non_null(buf);
        assert_int_equal(fread(buf, 1, (size_t) n, f), (size_t) n);
        fclose(f);
        return buf;
}

/* Every event of docs/journal.md has a distinct 128-bit id, documented in the catalog, and the right priority. */
static void test_events_match_catalog(void **state) {
        char *catalog = read_catalog();
        size_t entries = 0;

        for (const char *p = catalog; (p = strstr(p, "\n-- ")); p++)
                entries++;
        assert_int_equal(entries, _CERT_EVENT_MAX);

        for (int i = 0; i < _CERT_EVENT_MAX; i++) {
                const char *id = cert_event_message_id(i);
                char needle[64];

                assert_non_null(id);
                assert_int_equal(strlen(id), 32);
                assert_int_equal(strspn(id, "0123456789abcdef"), 32);
                snprintf(needle, sizeof(needle), "\n-- %s\n", id);
                assert_non_null(strstr(catalog, needle));
                for (int j = 0; j < i; j++)
                        assert_string_not_equal(id, cert_event_message_id(j));
                assert_int_equal(cert_event_from_string(cert_event_to_string(i)), i);
        }
        free(catalog);

        assert_int_equal(cert_event_priority(CERT_EVENT_EXPIRY_WARNING), LOG_WARNING);
        assert_int_equal(cert_event_priority(CERT_EVENT_EXPIRY_CRITICAL), LOG_CRIT);
        assert_int_equal(cert_event_priority(CERT_EVENT_EXPIRED), LOG_CRIT);
        assert_int_equal(cert_event_priority(CERT_EVENT_RENEWED), LOG_NOTICE);
        assert_int_equal(cert_event_priority(CERT_EVENT_RENEWAL_FAILED), LOG_ERR);
        assert_int_equal(cert_event_priority(CERT_EVENT_PIN_CHANGED), LOG_NOTICE);
        assert_int_equal(cert_event_priority(CERT_EVENT_RELOAD_FAILED), LOG_ERR);
        assert_int_equal(cert_event_priority(CERT_EVENT_DEPLOY_MISMATCH), LOG_ERR);
        assert_int_equal(cert_event_priority(CERT_EVENT_VALIDATION_FAILED), LOG_ERR);
        assert_string_equal(cert_event_message_id(CERT_EVENT_EXPIRY_WARNING), CERTHERD_MESSAGE_EXPIRY_WARNING);
        assert_null(cert_event_to_string(_CERT_EVENT_MAX));
        assert_int_equal(cert_event_from_string("nope"), _CERT_EVENT_INVALID);
}

/* Outside journald, one line per message on stderr; errno is preserved and %m formats the given error. */
static void test_stderr_path(void **state) {
        char buf[512] = "";
        FILE *tmp = tmpfile();
        int saved_fd, r;

        assert_non_null(tmp);
        unsetenv("JOURNAL_STREAM");
        log_set_target(LOG_TARGET_AUTO);
        assert_int_equal(log_get_target(), LOG_TARGET_STDERR);

        fflush(stderr);
        saved_fd = dup(2);
        dup2(fileno(tmp), 2);
        errno = 42;
        r = log_error_errno(-ENOENT, "opening %s: %m", "x.pem");
        assert_int_equal(errno, 42);
        assert_int_equal(r, -ENOENT);
        log_debug("not shown at the default level");
        log_cert_event(CERT_EVENT_EXPIRY_WARNING, "web", NULL, "expires in %d days", 12);
        fflush(stderr);
        dup2(saved_fd, 2);
        close(saved_fd);

        rewind(tmp);
        assert_true(fread(buf, 1, sizeof(buf) - 1, tmp) > 0);
        fclose(tmp);
        assert_string_equal(buf, "certherd: error: opening x.pem: No such file or directory\n"
                                 "certherd: warning: web: expires in 12 days\n");
}

TEST_MAIN(cmocka_unit_test(test_events_match_catalog),
          cmocka_unit_test(test_stderr_path))
