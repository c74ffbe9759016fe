/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer: the input as a certificate, as a key, as trust anchors, as anything `certherd pin` takes
 * and as a pin. Whatever it is, x509 must return findings or an error, never crash or leak.
 * Seeds: corpus/pem/. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gnutls-util.h"
#include "pin.h"
#include "x509.h"

/* tests/data/gen-fixtures.sh's password, so that the encrypted seeds decrypt */
#define FIXTURE_PASSWORD "certherd-fixture-password"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool has_control(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || *s == 0x7f)
                        return true;
        return false;
}

static void inspect(const uint8_t *data, size_t size, const char *password, gnutls_x509_trust_list_t trust) {
        static char *const names[] = {
                (char *) "a.example.test", (char *) "127.0.0.1", (char *) "::1", NULL,
        };
        /* The first byte picks the flags, so that every path of x509_inspect() is reached. */
        const X509Input in = {
                .self_anchor = size > 0 && (data[0] & 1),
                .key_mode_set = size > 0 && (data[0] & 2),
                .key_mode_configured = 0640,
                .cert_path = "fuzz.crt",
                .cert_data = data,
                .cert_size = size,
                .key_path = "fuzz.key",
                .key_data = data,
                .key_size = size,
                .key_mode = 0640,
                .key_password = password,
                .names = names,
                .usage = USAGE_SERVER_CLIENT,
                .warn_before = { .set = true, .is_percent = true, .percent = 33 },
                .critical_before = { .set = true, .usec = 7 * USEC_PER_DAY },
                .trust = trust,
        };
        CertFacts *f = NULL;

        if (x509_inspect(&in, 1795438800ULL * USEC_PER_SEC, &f) == 0) {
                /* touch what callers print */
                for (size_t i = 0; i < f->n_problems; i++)
                        (void) problem_code_to_string(f->problems[i].code);
                (void) strv_length(f->names);
                /* Text from the certificate is escaped: no control character reaches a terminal. */
                if (f->parsed && (has_control(f->subject) || has_control(f->issuer)))
                        abort();
                for (size_t i = 0; f->parsed && f->names[i]; i++)
                        if (has_control(f->names[i]))
                                abort();
                cert_facts_free(f);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        gnutls_x509_trust_list_t trust = NULL;
        gnutls_datum_t spki = {};
        gnutls_x509_privkey_t key = NULL;
        gnutls_x509_crt_t *crts = NULL;
        unsigned n = 0;

        if (size > 256 * 1024)
                return 0;

        inspect(data, size, NULL, NULL);
        inspect(data, size, FIXTURE_PASSWORD, NULL);
        /* the input as its own anchors: the chain path with certificates that parse */
        if (x509_trust_new(data, size, &trust) == 0) {
                inspect(data, size, NULL, trust);
                gnutls_x509_trust_list_deinit(trust, 1);
        }

        if (x509_spki_from_data(data, size, NULL, &spki) == 0) {
                uint8_t pin[PIN_SIZE];
                char *s = NULL;

                if (pin_compute(spki.data, spki.size, pin) == 0 && pin_format(pin, PIN_FORMAT_CURL, &s) == 0)
                        free(s);
                gnutls_free(spki.data);
        }
        if (x509_load_privkey(data, size, FIXTURE_PASSWORD, &key) == 0)
                gnutls_x509_privkey_deinit(key);
        if (x509_load_crts(data, size, &crts, &n) == 0)
                x509_crts_free(crts, n);

        /* and as a pin, as `certherd` reads one from the command line */
        char *s = strndup((const char *) data, size);
        if (s) {
                uint8_t pin[PIN_SIZE];
                const char *err = NULL;

                (void) pin_parse(s, pin, &err);
                free(s);
        }
        return 0;
}
