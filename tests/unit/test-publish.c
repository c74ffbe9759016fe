/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "fd-util.h"
#include "macro.h"
#include "publish.h"
#include "test-fs.h"

static char root[PATH_MAX];

static int setup(void **state) {
        const char *tmp = getenv("TMPDIR");

        snprintf(root, sizeof(root), "%s/certherd-test-publish-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state) {
        rm_rf(root);
        return 0;
}

static Inventory *inventory_for(const char *pins, size_t n) {
        Inventory *inv = inventory_new();
        char *text = NULL, *err = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        assert_non_null(inv);
        assert_non_null(f);
        fprintf(f, "[agent]\nstate-directory = %s/state\npin-directory = %s\n", root, pins);
        for (size_t i = 0; i < n; i++)
                fprintf(f, "[certificate \"s%zu\"]\ncertificate = %s/s%zu.crt\nnames = s%zu.test\n", i, root, i, i);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(config_parse_string(inv, text, "test.conf", &err), 0);
        assert_int_equal(config_validate(inv, &err), 0);
        free(text);
        return inv;
}

static char *slurp(const char *dir, const char *name) {
        _cleanup_free_ char *path = NULL;
        uint8_t *data = NULL;
        size_t size;

        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        if (read_full_file(path, 65536, &data, &size) < 0)
                return NULL;
        return (char *) data;
}

static int count_entries(const char *path) {
        struct dirent *de;
        int n = 0;
        DIR *d = opendir(path);

        if (!d)
                return -1;
        while ((de = readdir(d)))
                n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
        closedir(d);
        return n;
}

/* The batch publishes exactly what publish_pins() does, set by set, and only what is out of date. */
static void test_batch_matches_single(void **state) {
        enum { N = 50 };
        _cleanup_free_ char *one = NULL, *many = NULL;
        Inventory *a, *b;
        PublishBatch *batch = NULL;
        usec_t now = 1800000000ULL * 1000000ULL;
        uint8_t pin[PIN_SIZE];

        assert_true(asprintf(&one, "%s/one/pins", root) > 0 && asprintf(&many, "%s/many/pins", root) > 0);
        a = inventory_for(one, N);
        b = inventory_for(many, N);
        assert_int_equal(publish_batch_new(b, &batch), 0);
        for (size_t i = 0; i < N; i++) {
                memset(pin, (int) i, sizeof(pin));
                assert_int_equal(publish_pins(a, a->certs[i], pin, now + i, NULL, now), 1);
                assert_int_equal(publish_batch_add(batch, b->certs[i], pin, now + i, NULL, now), 1);
        }
        assert_int_equal(count_entries(many), 2 * N); /* temp files, not yet renamed */
        assert_int_equal(publish_batch_commit(batch), N);
        assert_int_equal(count_entries(many), 2 * N);
        for (size_t i = 0; i < N; i++)
                for (size_t k = 0; k < 2; k++) {
                        _cleanup_free_ char *name = NULL, *x = NULL, *y = NULL;

                        assert_true(asprintf(&name, "s%zu.%s", i, k ? "pin" : "json") > 0);
                        x = slurp(one, name);
                        y = slurp(many, name);
                        assert_non_null(x);
                        assert_non_null(y);
                        assert_string_equal(x, y);
                }
        batch = publish_batch_free(batch);

        /* Up to date: nothing queued, nothing written. One changed pin: only that set. */
        assert_int_equal(publish_batch_new(b, &batch), 0);
        for (size_t i = 0; i < N; i++) {
                memset(pin, i == 7 ? 0xee : (int) i, sizeof(pin));
                assert_int_equal(publish_batch_add(batch, b->certs[i], pin, now + i, NULL, now), i == 7);
        }
        assert_int_equal(publish_batch_commit(batch), 1);
        assert_int_equal(publish_batch_commit(batch), 0);
        batch = publish_batch_free(batch);
        {
                _cleanup_free_ char *p = slurp(many, "s7.pin");
                assert_string_equal(p, "7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u4=\n");
        }

        /* A batch freed without a commit leaves what was published and no temp file. */
        assert_int_equal(publish_batch_new(b, &batch), 0);
        memset(pin, 0x11, sizeof(pin));
        assert_int_equal(publish_batch_add(batch, b->certs[3], pin, now, NULL, now), 1);
        assert_int_equal(count_entries(many), 2 * N + 2);
        batch = publish_batch_free(batch);
        assert_int_equal(count_entries(many), 2 * N);
        {
                _cleanup_free_ char *x = slurp(one, "s3.pin"), *y = slurp(many, "s3.pin");
                assert_string_equal(x, y);
        }
        inventory_free(a);
        inventory_free(b);
}

TEST_MAIN(cmocka_unit_test_setup_teardown(test_batch_matches_single, setup, teardown))
