/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "time-util.h"
#include "test-fs.h"

static void test_parse_duration(void **state) {
        usec_t u;

        assert_int_equal(parse_duration("90d", &u), 0);
        assert_true(u == 90 * USEC_PER_DAY);
        assert_int_equal(parse_duration("12h", &u), 0);
        assert_true(u == 12 * USEC_PER_HOUR);
        assert_int_equal(parse_duration("1d12h", &u), 0);
        assert_true(u == USEC_PER_DAY + 12 * USEC_PER_HOUR);
        assert_int_equal(parse_duration("2w", &u), 0);
        assert_true(u == 14 * USEC_PER_DAY);
        assert_int_equal(parse_duration("10y", &u), 0);
        assert_true(u == 3650 * USEC_PER_DAY);
        assert_int_equal(parse_duration("45", &u), 0);
        assert_true(u == 45 * USEC_PER_SEC);
        assert_int_equal(parse_duration("30m", &u), 0);
        assert_true(u == 30 * USEC_PER_MINUTE);
        assert_int_equal(parse_duration(" 5s ", &u), 0);
        assert_true(u == 5 * USEC_PER_SEC);

        u = 7;
        FOREACH_STRING(bad, "", "d", "5x", "-5d", "33%")
                assert_int_equal(parse_duration(bad, &u), -EINVAL);
        assert_int_equal(parse_duration("99999999999999999999d", &u), -ERANGE);
        assert_int_equal(parse_duration("999999999999y", &u), -ERANGE);
        assert_true(u == 7); /* untouched on failure */
}

static void test_format_timestamp(void **state) {
        char buf[32];

        assert_string_equal(format_timestamp_iso(buf, sizeof(buf), 0), "1970-01-01T00:00:00Z");
        assert_string_equal(format_timestamp_iso(buf, sizeof(buf), 1795438800ULL * USEC_PER_SEC),
                            "2026-11-23T13:00:00Z");
}

TEST_MAIN(cmocka_unit_test(test_parse_duration),
          cmocka_unit_test(test_format_timestamp))
