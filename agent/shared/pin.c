/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <jansson.h>

#include "gnutls-util.h"
#include "pin.h"
#include "time-util.h"

static const char *const pin_format_table[_PIN_FORMAT_MAX] = {
        [PIN_FORMAT_BASE64] = "base64",
        [PIN_FORMAT_CURL] = "curl",
        [PIN_FORMAT_HEX] = "hex",
};

DEFINE_STRING_TABLE(pin_format, PinFormat, pin_format_table, _PIN_FORMAT_MAX)

int pin_compute(const uint8_t *spki_der, size_t size, uint8_t ret[PIN_SIZE]) {
        if (!spki_der || size == 0)
                return -EINVAL;
        if (gnutls_hash_fast(GNUTLS_DIG_SHA256, spki_der, size, ret) < 0)
                return -EIO;
        return 0;
}

int pin_format(const uint8_t pin[PIN_SIZE], PinFormat f, char **ret) {
        gnutls_datum_t in = { (unsigned char *) pin, PIN_SIZE };
        _cleanup_datum_ gnutls_datum_t out = {};
        char *s;
        int r;

        switch (f) {
        case PIN_FORMAT_BASE64:
        case PIN_FORMAT_CURL:
                /* Bare base64: no PEM armour, no line breaks (32 bytes fit one line anyway). */
                r = gnutls_base64_encode2(&in, &out);
                break;
        case PIN_FORMAT_HEX:
                r = gnutls_hex_encode2(&in, &out);
                break;
        default:
                return -EINVAL;
        }
        if (r < 0)
                return errno_from_gnutls(r);

        if (asprintf(&s, "%s%.*s", f == PIN_FORMAT_CURL ? "sha256//" : "", (int) out.size,
                     (const char *) out.data) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static bool is_hex_string(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!strchr("0123456789abcdefABCDEF", s[i]) || s[i] == 0)
                        return false;
        return true;
}

int pin_parse(const char *s, uint8_t ret[PIN_SIZE], const char **reterr) {
        _cleanup_datum_ gnutls_datum_t out = {};
        gnutls_datum_t in;
        size_t n;
        int r;

        if (!s || !*s) {
                if (reterr)
                        *reterr = "empty pin";
                return -EINVAL;
        }
        if (strncmp(s, "sha256//", 8) == 0)
                s += 8;
        n = strlen(s);

        if (n == 2 * PIN_SIZE && is_hex_string(s, n)) {
                in = (gnutls_datum_t){ (unsigned char *) s, (unsigned) n };
                r = gnutls_hex_decode2(&in, &out);
        } else {
                /* A SHA-256 pin is 44 base64 characters ending in one '='. Check the alphabet ourselves:
                 * the decoder tolerates whitespace and line breaks that a pin must not carry. */
                if (n != 44 ||
                    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != n) {
                        if (reterr)
                                *reterr =
                                        "not a base64 SHA-256 pin (expected 44 base64 characters for 32 bytes)";
                        return -EINVAL;
                }
                in = (gnutls_datum_t){ (unsigned char *) s, (unsigned) n };
                r = gnutls_base64_decode2(&in, &out);
        }
        if (r < 0) {
                if (reterr)
                        *reterr = "not valid base64";
                return -EINVAL;
        }
        if (out.size != PIN_SIZE) {
                if (reterr)
                        *reterr = "pin does not decode to exactly 32 bytes (SHA-256)";
                return -EINVAL;
        }
        memcpy(ret, out.data, PIN_SIZE);
        return 0;
}

int pin_render_json(const char *name, const uint8_t pin[PIN_SIZE], const uint8_t *next_pin,
                    uint64_t not_after_usec, uint64_t updated_usec, char **ret) {
        _cleanup_free_ char *p = NULL, *np = NULL;
        char na[32], up[32], *s;
        json_t *o;
        int r;

        r = pin_format(pin, PIN_FORMAT_BASE64, &p);
        if (r < 0)
                return r;
        if (next_pin) {
                r = pin_format(next_pin, PIN_FORMAT_BASE64, &np);
                if (r < 0)
                        return r;
        }
        o = json_pack("{s:s, s:s, s:s*, s:s, s:s}", "name", name, "pin_sha256", p, "next_pin_sha256", np,
                      "not_after", format_timestamp_iso(na, sizeof(na), not_after_usec), "updated",
                      format_timestamp_iso(up, sizeof(up), updated_usec));
        if (!o)
                return -ENOMEM;
        s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(o);
        if (!s)
                return -ENOMEM;
        /* json_dumps leaves out the final newline a text file should end with. */
        if (asprintf(ret, "%s\n", s) < 0) {
                free(s);
                return -ENOMEM;
        }
        free(s);
        return 0;
}
