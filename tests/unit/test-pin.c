/* SPDX-License-Identifier: GPL-3.0-or-later */
/* pin.h against vectors computed outside certherd (Python's base64/hashlib), not against pin.c itself. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "pin.h"
#include "time-util.h"
#include "test-fs.h"

/* The bytes 0x00 … 0x1f. */
#define SEQ_BASE64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define SEQ_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
/* 0xfb 0xff 0xbf then 29 × 0xfe: uses '+' and '/', so a URL-safe alphabet would show. */
#define HIGH_BASE64 "+/+//v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v4="
#define HIGH_HEX "fbffbffefefefefefefefefefefefefefefefefefefefefefefefefefefefefe"
/* SHA-256("abc") (FIPS 180-2 example). */
#define ABC_BASE64 "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="
#define ABC_HEX "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/* 31 and 33 bytes: both 44 characters of base64, like a real pin. */
#define SHORT_BASE64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg=="
#define LONG_BASE64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g"

static void seq_pin(uint8_t pin[PIN_SIZE]) {
        for (unsigned i = 0; i < PIN_SIZE; i++)
                pin[i] = (uint8_t) i;
}

static void high_pin(uint8_t pin[PIN_SIZE]) {
        memset(pin, 0xfe, PIN_SIZE);
        pin[0] = 0xfb;
        pin[1] = 0xff;
        pin[2] = 0xbf;
}

static void assert_formats(const uint8_t pin[PIN_SIZE], const char *b64, const char *hex) {
        char *s = NULL;
        char curl[64];

        assert_int_equal(pin_format(pin, PIN_FORMAT_BASE64, &s), 0);
        assert_string_equal(s, b64);
        assert_int_equal(strlen(s), 44);
        free(s);

        snprintf(curl, sizeof(curl), "sha256//%s", b64);
        assert_int_equal(pin_format(pin, PIN_FORMAT_CURL, &s), 0);
        assert_string_equal(s, curl);
        free(s);

        assert_int_equal(pin_format(pin, PIN_FORMAT_HEX, &s), 0);
        assert_string_equal(s, hex);
        free(s);
}

static void test_format_vectors(_unused_ void **state) {
        uint8_t pin[PIN_SIZE];

        seq_pin(pin);
        assert_formats(pin, SEQ_BASE64, SEQ_HEX);
        high_pin(pin);
        assert_formats(pin, HIGH_BASE64, HIGH_HEX);
}

static void test_format_invalid(_unused_ void **state) {
        uint8_t pin[PIN_SIZE];
        char *s = NULL;

        seq_pin(pin);
        assert_int_equal(pin_format(pin, _PIN_FORMAT_MAX, &s), -EINVAL);
        assert_null(s);
        assert_int_equal(pin_format(pin, _PIN_FORMAT_INVALID, &s), -EINVAL);
        assert_null(s);
}

static void test_compute(_unused_ void **state) {
        uint8_t pin[PIN_SIZE];

        assert_int_equal(pin_compute((const uint8_t *) "abc", 3, pin), 0);
        assert_formats(pin, ABC_BASE64, ABC_HEX);
}

static void assert_parses(const char *s, const uint8_t want[PIN_SIZE]) {
        uint8_t got[PIN_SIZE];
        const char *err = "untouched";

        if (pin_parse(s, got, &err) != 0)
                fail_msg("pin_parse(\"%s\") failed: %s", s, err);
        assert_memory_equal(got, want, PIN_SIZE);
        /* reterr is only set on failure (docs/architecture.md, conventions 4) */
        assert_string_equal(err, "untouched");
}

static void test_parse_accepts(_unused_ void **state) {
        uint8_t seq[PIN_SIZE], high[PIN_SIZE], abc[PIN_SIZE];

        seq_pin(seq);
        high_pin(high);
        assert_int_equal(pin_compute((const uint8_t *) "abc", 3, abc), 0);

        assert_parses(SEQ_BASE64, seq);
        assert_parses("sha256//" SEQ_BASE64, seq);
        assert_parses(SEQ_HEX, seq);
        assert_parses(HIGH_BASE64, high);
        assert_parses("sha256//" HIGH_BASE64, high);
        assert_parses(HIGH_HEX, high);
        assert_parses(ABC_BASE64, abc);
        assert_parses(ABC_HEX, abc);
}

static void assert_rejects(const char *s) {
        uint8_t got[PIN_SIZE], before[PIN_SIZE];
        const char *err = NULL;
        int r;

        memset(got, 0xa5, sizeof(got));
        memcpy(before, got, sizeof(got));
        r = pin_parse(s, got, &err);
        if (r != -EINVAL)
                fail_msg("pin_parse(\"%s\") = %d, expected -EINVAL", s, r);
        if (!err || !err[0])
                fail_msg("pin_parse(\"%s\") failed without saying why", s);
        /* the output is only set on success (docs/architecture.md, conventions 4) */
        assert_memory_equal(got, before, PIN_SIZE);
}

static void test_parse_rejects(_unused_ void **state) {
        static const char *const bad[] = {
                "",
                "sha256//",
                SHORT_BASE64,               /* 31 bytes */
                LONG_BASE64,                /* 33 bytes */
                "sha256//" SHORT_BASE64,
                "sha256//" LONG_BASE64,
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd", /* 30 bytes */
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh*=", /* not base64 */
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw!Hh8=",
                "AAECAwQF=gcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", /* padding inside */
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", /* unpadded: curl would never match it */
                " " SEQ_BASE64,
                "!!!!",
                "====",
                "sha256//!!!!",
                "sha1//" SEQ_BASE64,
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e",   /* 62 digits */
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1",  /* 63 */
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0", /* 65 */
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g", /* not hex */
                SEQ_BASE64 SEQ_BASE64,
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_rejects(bad[i]);
}

/* A deterministic generator: the same pins on every run. */
static uint32_t next_rand(uint32_t *s) {
        *s = *s * 1664525u + 1013904223u;
        return *s >> 8;
}

static void test_round_trip(_unused_ void **state) {
        uint32_t seed = 12345;

        for (unsigned n = 0; n < 500; n++) {
                uint8_t pin[PIN_SIZE];

                for (unsigned i = 0; i < PIN_SIZE; i++)
                        pin[i] = (uint8_t) next_rand(&seed);
                if (n == 0)
                        memset(pin, 0, PIN_SIZE);
                else if (n == 1)
                        memset(pin, 0xff, PIN_SIZE);
                for (PinFormat f = 0; f < _PIN_FORMAT_MAX; f++) {
                        uint8_t back[PIN_SIZE];
                        const char *err = NULL;
                        char *s = NULL;

                        assert_int_equal(pin_format(pin, f, &s), 0);
                        if (pin_parse(s, back, &err) != 0)
                                fail_msg("pin_parse(\"%s\") of pin_format's output failed: %s", s, err);
                        assert_memory_equal(back, pin, PIN_SIZE);
                        free(s);
                }
        }
}

static void test_format_names(_unused_ void **state) {
        static const char *const names[_PIN_FORMAT_MAX] = {
                [PIN_FORMAT_BASE64] = "base64",
                [PIN_FORMAT_CURL] = "curl",
                [PIN_FORMAT_HEX] = "hex",
        };

        for (PinFormat f = 0; f < _PIN_FORMAT_MAX; f++) {
                assert_string_equal(pin_format_to_string(f), names[f]);
                assert_int_equal(pin_format_from_string(names[f]), f);
        }
        assert_int_equal(pin_format_from_string("sha256"), _PIN_FORMAT_INVALID);
        assert_int_equal(pin_format_from_string(""), _PIN_FORMAT_INVALID);
}

static const char *json_str(json_t *j, const char *key) {
        return json_string_value(json_object_get(j, key)) ?: "(missing or not a string)";
}

/* <name>.json of docs/pins.md: exactly the listed fields, times as in `check --json` (§4). */
static void test_render_json(_unused_ void **state) {
        const usec_t not_after = 1803214800ULL * USEC_PER_SEC;  /* 2027-02-21T13:00:00Z */
        const usec_t updated = 1795438800ULL * USEC_PER_SEC;    /* 2026-11-23T13:00:00Z */
        uint8_t pin[PIN_SIZE], next[PIN_SIZE];

        seq_pin(pin);
        high_pin(next);
        for (int with_next = 0; with_next < 2; with_next++) {
                json_t *j;
                json_error_t e;
                char *s = NULL;
                size_t l;
                int r;

                r = pin_render_json("ai-guard", pin, with_next ? next : NULL, not_after, updated, &s);
                assert_int_equal(r, 0);
                assert_non_null(s);
                l = strlen(s);
                assert_true(l > 0 && s[l - 1] == '\n');
                j = json_loads(s, 0, &e);
                if (!j)
                        fail_msg("not JSON (%s): %s", e.text, s);
                assert_true(json_is_object(j));
                assert_int_equal(json_object_size(j), with_next ? 5 : 4);
                assert_string_equal(json_str(j, "name"), "ai-guard");
                assert_string_equal(json_str(j, "pin_sha256"), SEQ_BASE64);
                if (with_next)
                        assert_string_equal(json_str(j, "next_pin_sha256"), HIGH_BASE64);
                else
                        assert_null(json_object_get(j, "next_pin_sha256"));
                assert_string_equal(json_str(j, "not_after"), "2027-02-21T13:00:00Z");
                assert_string_equal(json_str(j, "updated"), "2026-11-23T13:00:00Z");
                json_decref(j);
                free(s);
        }
}

TEST_MAIN(cmocka_unit_test(test_format_vectors),
          cmocka_unit_test(test_format_invalid),
          cmocka_unit_test(test_compute),
          cmocka_unit_test(test_parse_accepts),
          cmocka_unit_test(test_parse_rejects),
          cmocka_unit_test(test_round_trip),
          cmocka_unit_test(test_format_names),
          cmocka_unit_test(test_render_json))
