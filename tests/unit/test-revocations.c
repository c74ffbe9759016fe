/* SPDX-License-Identifier: GPL-3.0-or-later */
/* certherd's own record of what it revoked: strict parsing, add/find by set and serial, the same entry
 * recorded twice kept once, expired entries dropped as new ones come. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "revocations.h"
#include "test-fs.h"

#define T0 ((usec_t)1800000000 * USEC_PER_SEC)

static void test_parse(void **state) {
        static const char good[] =
            "{\"revocations\": [{\"name\": \"web\", \"serial\": \"0a1b\", \"reason\": "
            "\"superseded\", \"revoked_at\": 1800000000, \"not_after\": 1900000000}]}";
        static const char *const bad[] = {
            "[]",
            "{\"revocations\": {}}",
            "{\"revocations\": [{\"name\": \"web\", \"serial\": \"0A1B\", \"reason\": \"x\", "
            "\"revoked_at\": 1, "
            "\"not_after\": 2}]}",
            "{\"revocations\": [{\"name\": \"\", \"serial\": \"0a\", \"reason\": \"x\", \"revoked_at\": 1, "
            "\"not_after\": 2}]}",
            "{\"revocations\": [{\"name\": \"web\", \"serial\": \"0a\", \"reason\": \"x\", \"revoked_at\": "
            "-1, "
            "\"not_after\": 2}]}",
            "{\"revocations\": [{\"name\": \"web\", \"serial\": \"0a\", \"reason\": \"x\"}]}",
            "{\"revocations\": [1]}",
        };
        Revocations l = {};

        assert_int_equal(revocations_parse(good, strlen(good), &l), 0);
        assert_int_equal(l.n, 1);
        assert_string_equal(l.entries[0].name, "web");
        assert_string_equal(l.entries[0].serial, "0a1b");
        assert_string_equal(l.entries[0].reason, "superseded");
        assert_true(l.entries[0].revoked_at == T0);
        revocations_done(&l);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(revocations_parse(bad[i], strlen(bad[i]), &l), -EBADMSG);
}

static void test_add_find(void **state) {
        char dir[] = "/tmp/test-revocations-XXXXXX", path[128];
        Revocation r = {};

        assert_non_null(mkdtemp(dir));
        assert_int_equal(revocations_find(dir, "web", "0a", &r), 0); /* no file: nothing revoked */
        assert_int_equal(revocations_add(dir, "web", "0a", "superseded", T0 + 10 * USEC_PER_DAY, T0), 0);
        assert_int_equal(
            revocations_add(dir, "web", "0a", "key-compromise", T0 + 10 * USEC_PER_DAY, T0 + 1), 0);
        assert_int_equal(revocations_add(dir, "old", "0b", "superseded", T0 + USEC_PER_DAY, T0), 0);
        assert_int_equal(revocations_find(dir, "web", "0a", &r), 1);
        assert_string_equal(r.reason, "key-compromise"); /* recorded again: replaced, not doubled */
        revocation_done(&r);
        assert_int_equal(revocations_find(dir, "web", "0b", &r), 0); /* another serial of the set */
        assert_int_equal(revocations_find(dir, "api", "0a", &r), 0); /* another set's */
        assert_int_equal(revocations_find(dir, "old", "0b", &r), 1);
        revocation_done(&r);
        /* once it has expired, the next addition drops it */
        assert_int_equal(
            revocations_add(dir, "api", "0c", "superseded", T0 + 10 * USEC_PER_DAY, T0 + 2 * USEC_PER_DAY),
            0);
        assert_int_equal(revocations_find(dir, "old", "0b", &r), 0);
        assert_int_equal(revocations_find(dir, "web", "0a", &r), 1);
        revocation_done(&r);

        snprintf(path, sizeof(path), "%s/revocations.json", dir);
        assert_int_equal(unlink(path), 0);
        snprintf(path, sizeof(path), "%s/revocations.json.lock", dir);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);
}

TEST_MAIN(cmocka_unit_test(test_parse),
          cmocka_unit_test(test_add_find))
