/* SPDX-License-Identifier: GPL-3.0-or-later */
/* keys: the next key of a key-policy = rotate set is made by keys_next_make() alone; reading its pin
 * (what publishing does) never makes or rewrites one. */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "fd-util.h"
#include "keys.h"
#include "test-fs.h"
#include "test-util.h"

static char root[] = "/tmp/test-keys-XXXXXX";

static int setup(void **state) {
        assert_non_null(mkdtemp(root));
        return 0;
}

static int teardown(void **state) {
        rm_rf(root);
        return 0;
}

static Inventory *inventory_rotate(const char *extra) {
        Inventory *inv = inventory_new();
        _cleanup_free_ char *text = NULL, *err = NULL;

        assert_non_null(inv);
        assert_true(
            asprintf(
                &text,
                "[agent]\nstate-directory = %s/state\n"
                "[certificate \"web\"]\ncertificate = %s/web.crt\nkey = %s/web.key\nnames = web.test\n"
                "issuer = self\nkey-policy = rotate\n%s",
                root, root, root, extra) > 0);
        if (config_parse_string(inv, text, "test.conf", &err) < 0 || config_validate(inv, &err) < 0)
                fail_msg("%s", err);
        return inv;
}

static bool exists(const char *path) {
        struct stat st;
        return stat(path, &st) == 0;
}

static void test_next_key_made_apart(void **state) {
        Inventory *inv = inventory_rotate("");
        const CertConfig *c = inv->certs[0];
        _cleanup_free_ char *path = NULL;
        uint8_t current[PIN_SIZE] = {1}, pin[PIN_SIZE], again[PIN_SIZE];
        struct stat a, b;

        assert_int_equal(keys_next_key_path(inv, c, &path), 0);
        /* Reading makes nothing. */
        assert_int_equal(keys_next_pin(inv, c, current, pin), -ENOENT);
        assert_false(exists(path));

        /* Making makes one, once. */
        assert_int_equal(keys_next_make(inv, c, current), 1);
        assert_int_equal(stat(path, &a), 0);
        assert_int_equal(a.st_mode & 0777, 0600);
        assert_int_equal(keys_next_make(inv, c, current), 0);
        assert_int_equal(keys_next_pin(inv, c, current, pin), 0);
        assert_int_equal(keys_next_pin(inv, c, current, again), 0);
        assert_memory_equal(pin, again, PIN_SIZE);
        assert_int_equal(stat(path, &b), 0);
        assert_true(a.st_ino == b.st_ino && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec);

        /* Once it is the installed key, it is no next key: reading says so, making makes another. */
        assert_int_equal(keys_next_pin(inv, c, pin, again), -ESTALE);
        assert_int_equal(stat(path, &b), 0);
        assert_true(a.st_ino == b.st_ino);
        assert_int_equal(keys_next_make(inv, c, pin), 1);
        assert_int_equal(keys_next_pin(inv, c, pin, again), 0);
        assert_memory_not_equal(pin, again, PIN_SIZE);
        inventory_free(inv);
}

/* A key-password-file that appeared after the next key was made: the plaintext key is not announced
 * until making encrypts it; reading alone leaves it as it is. */
static void test_next_key_encrypted_by_make(void **state) {
        _cleanup_free_ char *pw = NULL, *extra = NULL, *path = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        Inventory *plain = inventory_rotate(""), *enc;
        uint8_t current[PIN_SIZE] = {2}, pin[PIN_SIZE], after[PIN_SIZE];
        size_t size;

        assert_true(asprintf(&pw, "%s/pw", root) > 0);
        write_file(pw, "secret\n", 7);
        assert_int_equal(chmod(pw, 0600), 0);
        assert_true(asprintf(&extra, "key-password-file = %s\n", pw) > 0);
        enc = inventory_rotate(extra);
        assert_int_equal(keys_next_key_path(enc, enc->certs[0], &path), 0);
        (void)remove(path);

        assert_int_equal(keys_next_make(plain, plain->certs[0], current), 1);
        assert_int_equal(keys_next_pin(plain, plain->certs[0], current, pin), 0);
        assert_int_equal(keys_next_pin(enc, enc->certs[0], current, after), -ESTALE);
        assert_int_equal(read_full_file(path, 1 << 16, &data, &size), 0);
        assert_null(memmem(data, size, "ENCRYPTED", 9));
        free(data);
        data = NULL;

        assert_int_equal(keys_next_make(enc, enc->certs[0], current), 1);
        assert_int_equal(read_full_file(path, 1 << 16, &data, &size), 0);
        assert_non_null(memmem(data, size, "ENCRYPTED", 9));
        assert_int_equal(keys_next_pin(enc, enc->certs[0], current, after), 0);
        assert_memory_equal(pin, after, PIN_SIZE); /* the same key, now encrypted */
        inventory_free(plain);
        inventory_free(enc);
}

int main(void) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_next_key_made_apart),
            cmocka_unit_test(test_next_key_encrypted_by_make),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
