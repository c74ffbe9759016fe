/* SPDX-License-Identifier: GPL-3.0-or-later */
/* renew_many: issue → install → deploy → next key → pins, for a self-signed set in a scratch directory
 * (no network, no systemd): what each step leaves behind, and that a failed deploy keeps the pin. */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "keys.h"
#include "publish.h"
#include "renew.h"
#include "state.h"
#include "test-fs.h"
#include "test-util.h"

static char root[] = "/tmp/test-renew-XXXXXX";

static int setup(void **state) {
        assert_non_null(mkdtemp(root));
        return 0;
}

static int teardown(void **state) {
        rm_rf(root);
        return 0;
}

/* One self-signed set NAME with key-policy = rotate and an exec hook. */
static Inventory *inventory_for(const char *name, const char *exec) {
        Inventory *inv = inventory_new();
        _cleanup_free_ char *text = NULL, *err = NULL;

        assert_non_null(inv);
        assert_true(
            asprintf(
                &text,
                "[agent]\nstate-directory = %s/state\npin-directory = %s/pins\n"
                "[certificate \"%s\"]\ncertificate = %s/%s.crt\nkey = %s/%s.key\nnames = %s.test\n"
                "issuer = self\nkey-policy = rotate\nexec = %s\n",
                root, root, name, root, name, root, name, name, exec) > 0);
        if (config_parse_string(inv, text, "test.conf", &err) < 0 || config_validate(inv, &err) < 0)
                fail_msg("%s", err);
        assert_int_equal(state_directory(inv->agent.state_directory), 0); /* as pass_prepare() makes it */
        return inv;
}

static bool exists(const char *dir, const char *name) {
        _cleanup_free_ char *path = NULL;
        struct stat st;

        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        return stat(path, &st) == 0;
}

static void test_renew_deploys_and_publishes(void **state) {
        Inventory *inv = inventory_for("web", "/bin/true");
        const CertConfig *c = inv->certs[0];
        RenewJob j = {.cert = c};
        uint8_t published[PIN_SIZE], next[PIN_SIZE];
        _cleanup_free_ char *pin_path = NULL;

        renew_many(inv, &j, 1, RENEW_CONCURRENCY, now_realtime());
        assert_int_equal(j.result, 0);
        assert_false(j.held);
        assert_true(j.deployed);
        assert_int_equal(j.deploy_result, 0);
        assert_true(j.outcome.serial[0] != 0);
        assert_true(j.outcome.not_after > now_realtime());
        assert_true(exists(root, "web.crt") && exists(root, "web.key"));

        /* Deployed: the pin is published, and with rotate the next key was made first and announced. */
        assert_true(asprintf(&pin_path, "%s/pins/web.pin", root) > 0);
        assert_int_equal(publish_read_pin(pin_path, published), 0);
        assert_memory_equal(published, j.outcome.pin, PIN_SIZE);
        assert_int_equal(keys_next_pin(inv, c, j.outcome.pin, next), 0);
        assert_memory_not_equal(next, j.outcome.pin, PIN_SIZE);
        renew_job_done(&j);
        inventory_free(inv);
}

static void test_failed_deploy_keeps_the_pin(void **state) {
        Inventory *inv = inventory_for("api", "/bin/false");
        RenewJob j = {.cert = inv->certs[0]};

        renew_many(inv, &j, 1, RENEW_CONCURRENCY, now_realtime());
        assert_int_equal(j.result, 0); /* issued and installed */
        assert_true(j.deployed);
        assert_true(j.deploy_result < 0);
        assert_non_null(j.deploy_step);
        assert_non_null(strstr(j.deploy_step, "exec /bin/false"));
        assert_true(exists(root, "api.crt"));
        /* The pin moves only with a deployed certificate. */
        assert_false(exists(root, "pins/api.pin"));
        renew_job_done(&j);
        inventory_free(inv);
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_renew_deploys_and_publishes),
            cmocka_unit_test(test_failed_deploy_keeps_the_pin),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
