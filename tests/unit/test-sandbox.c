/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "sandbox.h"
#include "test-fs.h"

static void test_path_writable(void **state) {
        char *w[] = { "/var/lib/certherd", "/run/certherd", "/etc/ssl/certherd/", NULL };

        assert_true(sandbox_path_writable(w, "/var/lib/certherd"));
        assert_true(sandbox_path_writable(w, "/var/lib/certherd/backup"));
        assert_true(sandbox_path_writable(w, "/etc/ssl/certherd"));
        assert_true(sandbox_path_writable(w, "/etc/ssl/certherd/web"));
        assert_false(sandbox_path_writable(w, "/var/lib/certherd2")); /* a prefix is not a parent */
        assert_false(sandbox_path_writable(w, "/etc/ssl"));
        assert_false(sandbox_path_writable(w, "/etc/nginx/ssl"));
        assert_false(sandbox_path_writable(NULL, "/tmp"));
        assert_true(sandbox_path_writable((char *[]) { "/", NULL }, "/anything"));
}

TEST_MAIN(cmocka_unit_test(test_path_writable))
