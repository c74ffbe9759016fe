/* SPDX-License-Identifier: GPL-3.0-or-later */
/* x509_inspect() and friends against the fixtures of tests/data/gen-fixtures.sh (see the case list at its
 * top). The expectations come from docs/json.md and docs/pins.md and x509.h, not from x509.c: every case asserts the
 * exact set of problem codes, and every pin is compared with what the openssl pipeline of §5 computed. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "gnutls-util.h"
#include "pin.h"
#include "x509.h"

/* Cases are positional rows; the trailing fields (self_anchor, mode) are zero unless a row needs them. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* The fixture directory, set once by main() before any test runs. */
static char *fixtures;

/* Findings about x509.c are collected here and reported by a wrapper once the test function has returned
 * and its cleanup ran: a mismatch then reads as a mismatch, not also as a LeakSanitizer report. cmocka's
 * assert_*() remain for failures of the test's own machinery. */
static char failures[16384];

_printf_(1, 2) static void soft_fail(const char *fmt, ...) {
        size_t l = strlen(failures);
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(failures + l, sizeof(failures) - l, fmt, ap);
        va_end(ap);
        l = strlen(failures);
        snprintf(failures + l, sizeof(failures) - l, "\n");
}

#define check(cond, ...)                           \
        do {                                       \
                if (!(cond))                       \
                        soft_fail(__VA_ARGS__);    \
        } while (0)

static void report_failures(void) {
        if (!failures[0])
                return;
        print_error("%s", failures);
        failures[0] = 0;
        fail();
}

/* Run a test, then report what it found. The state of the cmocka test points to the Soft. */
typedef struct Soft {
        void (*test)(void **state);
        void *state;
} Soft;

static void run_soft(void **state) {
        Soft *s = *state;

        s->test(&s->state);
        report_failures();
}

/* ---- helpers ------------------------------------------------------------------------------------- */

#define PASSWORD_FILE ((const char *) 1) /* Case.password: the content of password.txt */
#define NO_TRUST ""                      /* Case.trust: no anchors, the chain check is skipped */

static char *fixture_path(const char *name) {
        char *p;

        assert_true(asprintf(&p, "%s/%s", fixtures, name) >= 0);
        return p;
}

/* Read a whole file into a malloc'd, NUL-terminated buffer. Returns 0 or -errno. */
static int read_file(const char *path, uint8_t **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ uint8_t *buf = NULL;
        size_t size = 0, allocated = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        for (;;) {
                ssize_t n;

                if (allocated - size < 4096) {
                        size_t a = allocated ? allocated * 2 : 65536;
                        uint8_t *b = realloc(buf, a + 1);

                        if (!b)
                                return -ENOMEM;
                        buf = b;
                        allocated = a;
                }
                n = read(fd, buf + size, allocated - size);
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                size += (size_t) n;
        }
        buf[size] = 0;
        *ret = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

static uint8_t *read_fixture(const char *name, size_t *ret_size) {
        _cleanup_free_ char *p = fixture_path(name);
        uint8_t *data = NULL;
        int r;

        r = read_file(p, &data, ret_size);
        if (r < 0)
                fail_msg("reading %s: %s", p, strerror(-r));
        return data;
}

/* A one-line text fixture (pin, password) without its trailing newline; NULL when missing. */
static char *read_line_fixture(const char *name) {
        _cleanup_free_ char *p = fixture_path(name);
        uint8_t *data = NULL;
        size_t size;

        if (read_file(p, &data, &size) < 0)
                return NULL;
        while (size > 0 && (data[size - 1] == '\n' || data[size - 1] == '\r'))
                data[--size] = 0;
        return (char *) data;
}

static char **split_words(const char *s) {
        _cleanup_free_ char *copy = NULL;
        char **l, *save = NULL;
        size_t n = 0;

        if (!s)
                return NULL;
        copy = strdup(s);
        assert_non_null(copy);
        l = calloc(strlen(s) / 2 + 2, sizeof(char *));
        assert_non_null(l);
        for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
                l[n] = strdup(w);
                assert_non_null(l[n++]);
        }
        return l;
}

static Threshold days_threshold(unsigned d) {
        return (Threshold) { .set = true, .usec = d * USEC_PER_DAY };
}

static Threshold percent_threshold(unsigned p) {
        return (Threshold) { .set = true, .is_percent = true, .percent = p };
}

static gnutls_x509_trust_list_t trust_from_fixture(const char *name) {
        _cleanup_free_ uint8_t *data = NULL;
        gnutls_x509_trust_list_t t = NULL;
        size_t size;

        data = read_fixture(name, &size);
        assert_int_equal(x509_trust_new(data, size, &t), 0);
        assert_non_null(t);
        return t;
}

static void trust_freep(gnutls_x509_trust_list_t *t) {
        if (*t)
                gnutls_x509_trust_list_deinit(*t, 1);
}
#define _cleanup_trust_ _cleanup_(trust_freep)

/* Severities as docs/cli.md lists them, independent of x509.c's table. */
static Severity contract_severity(const char *code) {
        if (streq(code, "expiry-warning") || streq(code, "key-permissions") || streq(code, "usage-missing") ||
            streq(code, "renewal-failing") || streq(code, "crl-expiring") || streq(code, "caa-mismatch") ||
            streq(code, "rate-limited"))
                return SEVERITY_WARNING;
        return SEVERITY_CRITICAL;
}

static const char *const contract_codes[] = {
        "unreadable",     "malformed",       "expired",      "not-yet-valid",   "expiry-critical",
        "expiry-warning", "key-mismatch",    "name-missing", "untrusted-chain", "weak-key",
        "weak-signature", "key-permissions", "usage-missing",   "chain-order",
        "deploy-failed",   "renewal-failing",
        "revoked",         "crl-expiring",    "crl-expired",     "caa-mismatch",    "crl-invalid",
        "rate-limited",
};

static bool facts_has(const CertFacts *f, const char *code) {
        for (size_t i = 0; i < f->n_problems; i++)
                if (streq(problem_code_to_string(f->problems[i].code) ?: "?", code))
                        return true;
        return false;
}

/* Check that the set of problem codes in f is exactly `expect` (space-separated, "" for none), that each
 * has a message, and that the state is the worst of their contract severities. */
static void check_problems(const char *what, const CertFacts *f, const char *expect) {
        _cleanup_strv_free_ char **want = split_words(expect);
        Severity worst = SEVERITY_OK;
        bool same = true;
        char got[1024] = "";

        for (size_t i = 0; i < f->n_problems; i++) {
                const char *s = problem_code_to_string(f->problems[i].code);
                size_t l = strlen(got);
                bool wanted = false;

                snprintf(got + l, sizeof(got) - l, "%s%s (%s)", i ? ", " : "", s ?: "?",
                         f->problems[i].message ?: "NULL message");
                if (!s || !f->problems[i].message || !f->problems[i].message[0])
                        same = false;
                if (!s)
                        continue;
                for (char **w = want; *w; w++)
                        wanted = wanted || streq(*w, s);
                same = same && wanted;
        }
        for (char **w = want; *w; w++) {
                same = same && facts_has(f, *w);
                if (contract_severity(*w) > worst)
                        worst = contract_severity(*w);
        }
        check(same, "%s: expected problems {%s}, got {%s}", what, expect, got);
        check(f->state == worst, "%s: expected state %s, got %s (problems {%s})", what,
              severity_to_string(worst), severity_to_string(f->state) ?: "?", got);
}

static void check_pin(const char *what, const uint8_t pin[PIN_SIZE], const char *pin_file) {
        _cleanup_free_ char *want = read_line_fixture(pin_file);
        _cleanup_free_ char *got = NULL;

        if (!want)
                fail_msg("%s: missing %s", what, pin_file);
        assert_int_equal(pin_format(pin, PIN_FORMAT_BASE64, &got), 0);
        check(streq(got, want), "%s: pin %s, openssl says %s", what, got, want);
}

/* ---- the case table ---------------------------------------------------------------------------- */

typedef struct Case {
        const char *name;
        const char *cert;     /* file in the fixture directory */
        const char *key;      /* NULL: no key configured */
        const char *names;    /* space-separated expected names, NULL: none */
        Usage usage;
        const char *trust;    /* anchors; NULL: ca.crt, NO_TRUST: no chain check */
        const char *password; /* NULL, a literal, or PASSWORD_FILE */
        const char *expect;   /* problem codes, space-separated */
        bool self_anchor;     /* issuer = self */
        mode_t mode;          /* the configured key mode; 0: none */
} Case;

#define OK_NAMES "ok.example.test localhost 127.0.0.1 ::1"

static const Case cases[] = {
        { "ok", "ok.crt", "ok.key", OK_NAMES, USAGE_SERVER, NULL, NULL, "" },
        { "ok-server+client", "ok.crt", "ok.key", OK_NAMES, USAGE_SERVER_CLIENT, NULL, NULL, "" },
        { "ok-no-names", "ok.crt", "ok.key", NULL, USAGE_SERVER, NULL, NULL, "" },
        { "ok-no-key", "ok.crt", NULL, OK_NAMES, USAGE_SERVER, NULL, NULL, "" },
        { "ok-no-trust", "ok.crt", "ok.key", OK_NAMES, USAGE_SERVER, NO_TRUST, NULL, "" },
        { "ok-chain", "ok-chain.crt", "ok-chain.key", "chain.example.test", USAGE_SERVER, NULL, NULL, "" },
        { "ok-chain-root", "ok-chain-root.crt", "ok-chain-root.key", "chain.example.test", USAGE_SERVER,
          NULL, NULL, "" },
        { "chain-incomplete", "chain-incomplete.crt", "chain-incomplete.key", "chain.example.test",
          USAGE_SERVER, NULL, NULL, "untrusted-chain" },
        /* an intermediate that expired makes the chain fail now, though the leaf is fine */
        { "chain-expired-inter", "chain-expired-inter.crt", "chain-expired-inter.key", "chain.example.test",
          USAGE_SERVER, NULL, NULL, "untrusted-chain" },
        { "chain-weak-inter", "chain-weak-inter.crt", "chain-weak-inter.key", "chain.example.test",
          USAGE_SERVER, NULL, NULL, "weak-signature" },
        { "ok-der", "ok-der.crt", "ok-der.key", OK_NAMES, USAGE_SERVER, NULL, NULL, "" },
        { "ok-text", "ok-text.crt", "ok-text.key", OK_NAMES, USAGE_SERVER, NULL, NULL, "" },
        { "ok-crlf", "ok-crlf.crt", "ok-crlf.key", OK_NAMES, USAGE_SERVER, NULL, NULL, "" },
        { "rsa-pkcs1", "rsa-pkcs1.crt", "rsa-pkcs1.key", "rsa.example.test", USAGE_SERVER, NULL, NULL, "" },
        { "rsa-pkcs1-der", "rsa-pkcs1-der.crt", "rsa-pkcs1-der.key", "rsa.example.test", USAGE_SERVER, NULL,
          NULL, "" },
        { "rsa-pkcs8", "rsa-pkcs8.crt", "rsa-pkcs8.key", "rsa.example.test", USAGE_SERVER, NULL, NULL, "" },
        { "rsa-pkcs8-enc", "rsa-pkcs8-enc.crt", "rsa-pkcs8-enc.key", "rsa.example.test", USAGE_SERVER, NULL,
          PASSWORD_FILE, "" },
        { "rsa-pkcs8-enc-wrong-password", "rsa-pkcs8-enc.crt", "rsa-pkcs8-enc.key", "rsa.example.test",
          USAGE_SERVER, NULL, "wrong", "malformed" },
        { "rsa-pkcs8-enc-no-password", "rsa-pkcs8-enc.crt", "rsa-pkcs8-enc.key", "rsa.example.test",
          USAGE_SERVER, NULL, NULL, "malformed" },
        { "ec-sec1", "ec-sec1.crt", "ec-sec1.key", "ec.example.test", USAGE_SERVER, NULL, NULL, "" },
        { "ec-sec1-der", "ec-sec1-der.crt", "ec-sec1-der.key", "ec.example.test", USAGE_SERVER, NULL, NULL,
          "" },
        { "ec-pkcs8", "ec-pkcs8.crt", "ec-pkcs8.key", "ec.example.test", USAGE_SERVER, NULL, NULL, "" },
        { "ec-pkcs8-enc", "ec-pkcs8-enc.crt", "ec-pkcs8-enc.key", "ec.example.test", USAGE_SERVER, NULL,
          PASSWORD_FILE, "" },
        { "ec-pkcs8-enc-wrong-password", "ec-pkcs8-enc.crt", "ec-pkcs8-enc.key", "ec.example.test",
          USAGE_SERVER, NULL, "wrong", "malformed" },
        { "ec-pkcs8-enc-no-password", "ec-pkcs8-enc.crt", "ec-pkcs8-enc.key", "ec.example.test",
          USAGE_SERVER, NULL, NULL, "malformed" },
        { "ec-p384", "ec-p384.crt", "ec-p384.key", "p384.example.test", USAGE_SERVER, NULL, NULL, "" },
        { "ed25519", "ed25519.crt", "ed25519.key", "ed.example.test", USAGE_SERVER, NULL, NULL, "" },
        { "certtool-made", "certtool-made.crt", "certtool-made.key",
          "certtool.example.test localhost 127.0.0.1", USAGE_SERVER_CLIENT, NULL, NULL, "" },
        { "expired", "expired.crt", "expired.key", "ok.example.test", USAGE_SERVER, NULL, NULL, "expired" },
        { "expired+name-missing", "expired.crt", "expired.key", "nope.example.test", USAGE_SERVER, NULL,
          NULL, "expired name-missing" },
        { "not-yet-valid", "not-yet-valid.crt", "not-yet-valid.key", "ok.example.test", USAGE_SERVER, NULL,
          NULL, "not-yet-valid" },
        { "expiry-warning", "expiry-warning.crt", "expiry-warning.key", "ok.example.test", USAGE_SERVER,
          NULL, NULL, "expiry-warning" },
        { "expiry-critical", "expiry-critical.crt", "expiry-critical.key", "ok.example.test", USAGE_SERVER,
          NULL, NULL, "expiry-critical" },
        { "key-mismatch", "key-mismatch.crt", "key-mismatch.key", "ok.example.test", USAGE_SERVER, NULL,
          NULL, "key-mismatch" },
        { "key-mismatch-rsa", "ok.crt", "rsa-pkcs8.key", "ok.example.test", USAGE_SERVER, NULL, NULL,
          "key-mismatch" },
        { "name-missing", "name-missing.crt", "name-missing.key", "ok.example.test", USAGE_SERVER, NULL,
          NULL, "name-missing" },
        /* DNS names compare without regard to case (RFC 4343), addresses by value */
        { "name-case", "ok.crt", "ok.key", "OK.Example.TEST", USAGE_SERVER, NULL, NULL, "" },
        { "ip-long-form", "ip-san.crt", "ip-san.key", "2001:0db8:0:0:0:0:0:1", USAGE_SERVER, NULL, NULL,
          "" },
        { "name-missing-ip", "ok.crt", "ok.key", "127.0.0.2", USAGE_SERVER, NULL, NULL, "name-missing" },
        { "wildcard", "wildcard.crt", "wildcard.key", "a.wild.example.test", USAGE_SERVER, NULL, NULL, "" },
        { "wildcard-two-labels", "wildcard.crt", "wildcard.key", "a.b.wild.example.test", USAGE_SERVER, NULL,
          NULL, "name-missing" },
        { "wildcard-apex", "wildcard.crt", "wildcard.key", "wild.example.test", USAGE_SERVER, NULL, NULL,
          "name-missing" },
        { "no-san", "no-san.crt", "no-san.key", "nosan.example.test", USAGE_SERVER, NULL, NULL,
          "name-missing" },
        { "ip-san", "ip-san.crt", "ip-san.key", "192.0.2.10 2001:db8::1", USAGE_SERVER, NULL, NULL, "" },
        { "ip-san-other", "ip-san.crt", "ip-san.key", "192.0.2.11", USAGE_SERVER, NULL, NULL,
          "name-missing" },
        { "untrusted", "untrusted.crt", "untrusted.key", "ok.example.test", USAGE_SERVER, NULL, NULL,
          "untrusted-chain" },
        { "untrusted-no-trust", "untrusted.crt", "untrusted.key", "ok.example.test", USAGE_SERVER, NO_TRUST,
          NULL, "" },
        { "untrusted-other-anchor", "untrusted.crt", "untrusted.key", "ok.example.test", USAGE_SERVER,
          "other-ca.crt", NULL, "" },
        { "weak-key", "weak-key.crt", "weak-key.key", "ok.example.test", USAGE_SERVER, NULL, NULL,
          "weak-key" },
        { "weak-ec", "weak-ec.crt", "weak-ec.key", "ok.example.test", USAGE_SERVER, NULL, NULL, "weak-key" },
        { "weak-sig", "weak-sig.crt", "weak-sig.key", "ok.example.test", USAGE_SERVER, NULL, NULL,
          "weak-signature" },
        { "key-perms", "key-perms.crt", "key-perms.key", OK_NAMES, USAGE_SERVER, NULL, NULL,
          "key-permissions" },
        { "client-only", "client-only.crt", "client-only.key", "ok.example.test", USAGE_SERVER, NULL, NULL,
          "usage-missing" },
        { "client-only-as-client", "client-only.crt", "client-only.key", "ok.example.test", USAGE_CLIENT,
          NULL, NULL, "" },
        { "client-only-as-both", "client-only.crt", "client-only.key", "ok.example.test",
          USAGE_SERVER_CLIENT, NULL, NULL, "usage-missing" },
        { "no-eku", "no-eku.crt", "no-eku.key", "ok.example.test", USAGE_SERVER, NULL, NULL, "" },
        { "self-signed", "self-signed.crt", "self-signed.key", "self.example.test", USAGE_SERVER,
          "self-signed.crt", NULL, "" },
        { "self-signed-untrusted", "self-signed.crt", "self-signed.key", "self.example.test", USAGE_SERVER,
          NULL, NULL, "untrusted-chain" },
        /* What issuer = self makes now (CA:FALSE) is its own anchor for issuer = self, whatever the
         * trust store; without the flag it is as untrusted as before. */
        { "self-leaf", "self-leaf.crt", "self-leaf.key", "self.example.test", USAGE_SERVER, NULL, NULL, "", true },
        { "self-leaf-system-trust", "self-leaf.crt", "self-leaf.key", "self.example.test", USAGE_SERVER,
          NO_TRUST, NULL, "", true },
        { "self-leaf-not-self", "self-leaf.crt", "self-leaf.key", "self.example.test", USAGE_SERVER, NULL,
          NULL, "untrusted-chain" },
        { "self-leaf-as-anchor", "self-leaf.crt", "self-leaf.key", "self.example.test", USAGE_SERVER,
          "self-leaf.crt", NULL, "" },
        /* the flag trusts only a certificate that signed itself */
        { "self-anchor-ca-signed", "ok.crt", "ok.key", OK_NAMES, USAGE_SERVER, "other-ca.crt", NULL,
          "untrusted-chain", true },
        /* a self-signed certificate's own SHA-1 signature protects nothing: no weak-signature */
        { "self-leaf-sha1", "self-leaf-sha1.crt", "self-leaf-sha1.key", "self.example.test", USAGE_SERVER, NULL,
          NULL, "", true },
        { "sha1-root", "sha1-root.crt", NULL, NULL, USAGE_SERVER, "sha1-root.crt", NULL, "" },
        { "sha1-root-untrusted", "sha1-root.crt", NULL, NULL, USAGE_SERVER, NULL, NULL, "untrusted-chain" },
        /* wrong order: not key-mismatch, and not also untrusted-chain */
        { "chain-reversed", "chain-reversed.crt", "chain-reversed.key", "chain.example.test", USAGE_SERVER,
          NULL, NULL, "chain-order name-missing" },
        { "chain-reversed-no-key", "chain-reversed.crt", NULL, NULL, USAGE_SERVER, NULL, NULL, "chain-order" },
        { "chain-shuffled", "chain-shuffled.crt", "chain-shuffled.key", "chain.example.test", USAGE_SERVER,
          NULL, NULL, "chain-order" },
        /* the operator's mode: 0640 is a choice (Debian's ssl-cert group); anything beyond it is not */
        { "key-perms-640", "key-perms-640.crt", "key-perms-640.key", OK_NAMES, USAGE_SERVER, NULL, NULL,
          "key-permissions" },
        { "key-perms-640-configured", "key-perms-640.crt", "key-perms-640.key", OK_NAMES, USAGE_SERVER, NULL,
          NULL, "", false, 0640 },
        { "key-perms-644-configured-640", "key-perms.crt", "key-perms.key", OK_NAMES, USAGE_SERVER, NULL, NULL,
          "key-permissions", false, 0640 },
        { "key-perms-644-configured-644", "key-perms.crt", "key-perms.key", OK_NAMES, USAGE_SERVER, NULL, NULL,
          "", false, 0644 },
        { "key-perms-640-configured-600", "key-perms-640.crt", "key-perms-640.key", OK_NAMES, USAGE_SERVER,
          NULL, NULL, "key-permissions", false, 0600 },
        { "garbage", "garbage.crt", NULL, NULL, USAGE_SERVER, NULL, NULL, "malformed" },
        { "empty", "empty.crt", NULL, NULL, USAGE_SERVER, NULL, NULL, "malformed" },
        { "truncated", "truncated.crt", NULL, NULL, USAGE_SERVER, NULL, NULL, "malformed" },
        { "truncated-with-key", "truncated.crt", "ok.key", OK_NAMES, USAGE_SERVER, NULL, NULL, "malformed" },
        { "huge", "huge.crt", NULL, NULL, USAGE_SERVER, NULL, NULL, "malformed" },
        { "notacert", "notacert.crt", NULL, NULL, USAGE_SERVER, NULL, NULL, "malformed" },
        /* garbage.crt and ok.crt are 0644: key-permissions too */
        { "key-is-garbage", "ok.crt", "garbage.crt", OK_NAMES, USAGE_SERVER, NULL, NULL,
          "malformed key-permissions" },
        { "key-is-a-cert", "ok.crt", "ok.crt", OK_NAMES, USAGE_SERVER, NULL, NULL,
          "malformed key-permissions" },
};

typedef struct Inspected {
        uint8_t *cert, *key;
        char **names;
        char *password;
        gnutls_x509_trust_list_t trust;
        X509Input in;
} Inspected;

static void inspected_done(Inspected *i) {
        free(i->cert);
        free(i->key);
        strv_free(i->names);
        free(i->password);
        trust_freep(&i->trust);
}
#define _cleanup_inspected_ _cleanup_(inspected_done)

/* Build the X509Input of a case: the files read as check.c would, thresholds 14d/7d. */
static void case_input(const Case *c, Inspected *i) {
        struct stat st;

        *i = (Inspected) {};
        i->cert = read_fixture(c->cert, &i->in.cert_size);
        i->in.cert_path = c->cert;
        i->in.cert_data = i->cert;
        i->in.key_mode = (mode_t) -1;
        if (c->key) {
                _cleanup_free_ char *p = fixture_path(c->key);

                i->key = read_fixture(c->key, &i->in.key_size);
                i->in.key_path = c->key;
                i->in.key_data = i->key;
                assert_int_equal(stat(p, &st), 0);
                i->in.key_mode = st.st_mode;
        }
        if (c->password == PASSWORD_FILE)
                i->password = read_line_fixture("password.txt");
        else if (c->password)
                i->password = strdup(c->password);
        i->in.key_password = i->password;
        i->names = split_words(c->names);
        i->in.names = i->names;
        i->in.usage = c->usage;
        i->in.self_anchor = c->self_anchor;
        i->in.key_mode_set = c->mode != 0;
        i->in.key_mode_configured = c->mode;
        i->in.warn_before = days_threshold(14);
        i->in.critical_before = days_threshold(7);
        if (!c->trust)
                i->trust = trust_from_fixture("ca.crt");
        else if (c->trust[0])
                i->trust = trust_from_fixture(c->trust);
        i->in.trust = i->trust;
}

static void test_case(void **state) {
        const Case *c = *state;
        _cleanup_inspected_ Inspected i = {};
        _cleanup_cert_facts_ CertFacts *f = NULL;
        _cleanup_free_ char *pin_file = NULL, *p = NULL;

        case_input(c, &i);
        assert_int_equal(x509_inspect(&i.in, now_realtime(), &f), 0);
        assert_non_null(f);
        check_problems(c->name, f, c->expect);

        /* The leaf's pin is the openssl pin of the certificate file, whenever openssl could read it. */
        assert_true(asprintf(&pin_file, "%s.pin.openssl", c->cert) >= 0);
        p = fixture_path(pin_file);
        if (access(p, F_OK) == 0) {
                check(f->parsed && f->has_pin, "%s: parsed=%d has_pin=%d", c->name, f->parsed, f->has_pin);
                if (f->has_pin)
                        check_pin(c->name, f->pin, pin_file);
        } else
                check(!f->parsed, "%s: openssl cannot read %s, x509_inspect parsed it", c->name, c->cert);
}

/* ---- fields, clocks, thresholds ----------------------------------------------------------------- */

static const Case ok_case = { "ok", "ok.crt", "ok.key", OK_NAMES, USAGE_SERVER, NULL, NULL, "" };

static void ok_dates(usec_t *ret_not_before, usec_t *ret_not_after) {
        _cleanup_free_ char *s = read_line_fixture("ok.crt.dates.epoch");
        unsigned long long nb, na;

        assert_non_null(s);
        assert_int_equal(sscanf(s, "%llu %llu", &nb, &na), 2);
        *ret_not_before = nb * USEC_PER_SEC;
        *ret_not_after = na * USEC_PER_SEC;
}

static void check_names(const char *what, char *const *got, const char *want) {
        _cleanup_strv_free_ char **w = split_words(want);
        char list[512] = "";
        bool same = strv_length(got) == strv_length(w);

        for (size_t k = 0; got && got[k]; k++) {
                size_t l = strlen(list);

                snprintf(list + l, sizeof(list) - l, "%s%s", k ? " " : "", got[k]);
                same = same && streq(got[k], w[k]);
        }
        check(same, "%s: names {%s}, expected {%s}", what, list, want);
}

static void test_ok_fields(_unused_ void **state) {
        _cleanup_inspected_ Inspected i = {};
        _cleanup_cert_facts_ CertFacts *f = NULL;
        _cleanup_free_ char *serial = read_line_fixture("ok.crt.serial.openssl");
        usec_t now = now_realtime(), nb, na;
        int64_t days;

        ok_dates(&nb, &na);
        case_input(&ok_case, &i);
        assert_int_equal(x509_inspect(&i.in, now, &f), 0);
        assert_true(f->parsed);
        check(f->subject && strstr(f->subject, "CN=ok.example.test"), "subject '%s'", f->subject ?: "NULL");
        check(f->issuer && strstr(f->issuer, "CN=certherd test root"), "issuer '%s'", f->issuer ?: "NULL");
        /* the fixed serial, and the same as openssl's "serial=1CE7…" lower-cased */
        assert_non_null(serial);
        for (char *c = serial; *c; c++)
                *c = (char) tolower((unsigned char) *c);
        check(f->serial && streq(f->serial, "1ce7c0ffee000001") &&
                      streq(f->serial, serial + strlen("serial=")),
              "serial %s, openssl says %s", f->serial ?: "NULL", serial);
        check(f->not_before == nb, "not_before %" PRIu64 ", openssl says %" PRIu64, f->not_before, nb);
        check(f->not_after == na, "not_after %" PRIu64 ", openssl says %" PRIu64, f->not_after, na);
        days = (int64_t) ((na - now) / USEC_PER_DAY);
        check(f->days_left == days && days >= 199 && days <= 200, "days_left %" PRId32 ", expected %" PRId64,
              f->days_left, days);
        check_names("ok", f->names, OK_NAMES);
        check(f->key_type && streq(f->key_type, "ec-p256"), "key_type %s", f->key_type ?: "NULL");
        check(f->has_pin, "ok: no pin");
        check_pin("ok", f->pin, "ok.crt.pin.openssl");
        check_pin("ok (key)", f->pin, "ok.key.pin.openssl");
        check_problems("ok", f, "");
        /* A problem added later (check.c adds revocations and outputs) is kept and freed with the rest */
        assert_int_equal(cert_facts_add_problem(f, PROBLEM_DEPLOY_FAILED, "deploy failed: %s", "exec"), 0);
        check_problems("ok + deploy", f, "deploy-failed");
}

static void inspect_one(const char *cert, const char *key, const char *names, CertFacts **ret) {
        Case c = { cert, cert, key, names, USAGE_SERVER, NULL, NULL, "" };
        _cleanup_inspected_ Inspected i = {};

        case_input(&c, &i);
        assert_int_equal(x509_inspect(&i.in, now_realtime(), ret), 0);
}

static void test_other_fields(_unused_ void **state) {
        static const struct {
                const char *cert, *key_type, *names;
        } t[] = {
                { "rsa-pkcs8.crt", "rsa-2048", "rsa.example.test" },
                { "ec-p384.crt", "ec-p384", "p384.example.test" },
                { "ed25519.crt", "ed25519", "ed.example.test" },
                { "weak-key.crt", "rsa-1024", "ok.example.test" },
                { "ip-san.crt", "ec-p256", "192.0.2.10 2001:db8::1" },
                { "wildcard.crt", "ec-p256", "*.wild.example.test" },
                { "no-san.crt", "ec-p256", "" },
                { "certtool-made.crt", "ec-p256", "certtool.example.test localhost 127.0.0.1" },
        };

        for (size_t k = 0; k < ELEMENTSOF(t); k++) {
                _cleanup_cert_facts_ CertFacts *f = NULL;

                inspect_one(t[k].cert, NULL, NULL, &f);
                assert_true(f->parsed);
                check(f->key_type && streq(f->key_type, t[k].key_type), "%s: key_type %s, expected %s",
                      t[k].cert, f->key_type ?: "NULL", t[k].key_type);
                check_names(t[k].cert, f->names, t[k].names);
        }
}

static void test_no_san_names(_unused_ void **state) {
        _cleanup_cert_facts_ CertFacts *f = NULL;

        /* The CN is not a name (RFC 6125 §6.4.4 for certificates that have names at all; we go further). */
        inspect_one("no-san.crt", "no-san.key", "nosan.example.test", &f);
        check_names("no-san", f->names, "");
        check_problems("no-san", f, "name-missing");
}

/* x509_inspect is pure: the clock is the `now` argument. */
static void test_fake_clock(_unused_ void **state) {
        static const struct {
                int64_t offset; /* from not_after (or from not_before when from_start) */
                bool from_start;
                const char *expect;
                int64_t days_left;
        } t[] = {
                { (int64_t) USEC_PER_SEC, false, "expired", -1 },
                { (int64_t) (36 * USEC_PER_HOUR), false, "expired", -2 },
                { -(int64_t) (3 * USEC_PER_DAY + USEC_PER_HOUR), false, "expiry-critical", 3 },
                { -(int64_t) (10 * USEC_PER_DAY), false, "expiry-warning", 10 },
                { -(int64_t) (20 * USEC_PER_DAY), false, "", 20 },
                { -(int64_t) USEC_PER_HOUR, true, "not-yet-valid", -1 },
        };
        usec_t nb, na;

        ok_dates(&nb, &na);
        for (size_t k = 0; k < ELEMENTSOF(t); k++) {
                _cleanup_inspected_ Inspected i = {};
                _cleanup_cert_facts_ CertFacts *f = NULL;
                usec_t now = (usec_t) ((int64_t) (t[k].from_start ? nb : na) + t[k].offset);
                char what[64];

                snprintf(what, sizeof(what), "ok at clock #%zu", k);
                case_input(&ok_case, &i);
                assert_int_equal(x509_inspect(&i.in, now, &f), 0);
                check_problems(what, f, t[k].expect);
                if (!t[k].from_start)
                        check(f->days_left == t[k].days_left, "%s: days_left %" PRId32 ", expected %" PRId64,
                              what, f->days_left, t[k].days_left);
        }
}

/* expiry-warning.crt lives 90 days (now-80d .. now+10d): thresholds as a percentage of that. */
static void test_percent_thresholds(_unused_ void **state) {
        static const struct {
                unsigned warn, crit;
                const char *expect;
        } t[] = {
                { 20, 5, "expiry-warning" },   /* 18d, 4.5d */
                { 10, 5, "" },                 /* 9d */
                { 50, 12, "expiry-critical" }, /* 45d, 10.8d */
        };
        Case c = { "expiry-warning", "expiry-warning.crt", "expiry-warning.key", "ok.example.test",
                   USAGE_SERVER, NULL, NULL, "" };

        for (size_t k = 0; k < ELEMENTSOF(t); k++) {
                _cleanup_inspected_ Inspected i = {};
                _cleanup_cert_facts_ CertFacts *f = NULL;
                char what[64];

                snprintf(what, sizeof(what), "expiry-warning warn %u%% crit %u%%", t[k].warn, t[k].crit);
                case_input(&c, &i);
                i.in.warn_before = percent_threshold(t[k].warn);
                i.in.critical_before = percent_threshold(t[k].crit);
                assert_int_equal(x509_inspect(&i.in, now_realtime(), &f), 0);
                check_problems(what, f, t[k].expect);
        }
}

static void test_unreadable(_unused_ void **state) {
        _cleanup_cert_facts_ CertFacts *f = NULL, *g = NULL, *h = NULL;
        _cleanup_inspected_ Inspected i = {};
        X509Input in = {
                .cert_path = "/nonexistent/tls.crt",
                .cert_errno = EACCES,
                .key_mode = (mode_t) -1,
                .usage = USAGE_SERVER,
                .warn_before = days_threshold(14),
                .critical_before = days_threshold(7),
        };

        assert_int_equal(x509_inspect(&in, now_realtime(), &f), 0);
        check(!f->parsed, "cert EACCES: parsed");
        check_problems("cert EACCES", f, "unreadable");

        /* a good certificate whose key cannot be read */
        case_input(&ok_case, &i);
        i.in.key_data = NULL;
        i.in.key_size = 0;
        i.in.key_errno = EACCES;
        assert_int_equal(x509_inspect(&i.in, now_realtime(), &g), 0);
        check(g->parsed, "key EACCES: the certificate was not parsed");
        check_problems("key EACCES", g, "unreadable");

        /* an unreadable password file: some critical problem, never a crash and never "ok" */
        Case c = {
                "enc", "ec-pkcs8-enc.crt", "ec-pkcs8-enc.key", "ec.example.test", USAGE_SERVER, NULL, NULL,
                "",
        };
        _cleanup_inspected_ Inspected j = {};

        case_input(&c, &j);
        j.in.key_password_errno = ENOENT;
        assert_int_equal(x509_inspect(&j.in, now_realtime(), &h), 0);
        if (h->n_problems != 1 || !(facts_has(h, "unreadable") || facts_has(h, "malformed")))
                check_problems("password file ENOENT", h, "unreadable");
}

/* ---- problem codes (contract strings) ----------------------------------------------------------- */

/* DN text reaches terminals (status), logs and JSON; a CN holding ESC must not. */
/* A key in a token (key_pin): paired by the pin the caller read, no file, no permission check. */
static void test_key_pin(_unused_ void **state) {
        _cleanup_inspected_ Inspected i = {};
        _cleanup_cert_facts_ CertFacts *ok = NULL, *bad = NULL;
        uint8_t pin[PIN_SIZE];

        case_input(&ok_case, &i);
        i.in.key_data = NULL;
        i.in.key_size = 0;
        i.in.key_mode = 0644; /* would be key-permissions for a file */
        i.in.key_path = "pkcs11:token=t;object=ok";
        assert_int_equal(x509_inspect(&i.in, now_realtime(), &ok), 0);
        assert_true(ok->has_pin);
        memcpy(pin, ok->pin, PIN_SIZE);

        i.in.key_pin = pin;
        cert_facts_free(ok);
        assert_int_equal(x509_inspect(&i.in, now_realtime(), &ok), 0);
        check_problems("key-pin", ok, "");

        pin[0] ^= 1;
        assert_int_equal(x509_inspect(&i.in, now_realtime(), &bad), 0);
        check_problems("key-pin-mismatch", bad, "key-mismatch");
}

static void test_escaped_text(_unused_ void **state) {
        static const struct {
                const char *in;
                size_t n;
                const char *out;
        } t[] = {
                { "plain CN=a\\,b", 13, "plain CN=a\\,b" },
                { "esc\033[31m", 8, "esc\\x1b[31m" },
                { "del\177", 4, "del\\x7f" },
                { "tab\tnl\n", 7, "tab\\x09nl\\x0a" },
                { "nul\0x", 5, "nul\\x00x" },
                { "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92", 14, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92" },
                { "c1 \xc2\x9b", 5, "c1 \\xc2\\x9b" },           /* U+009B CSI */
                { "latin1 \xe9t\xe9", 10, "latin1 \\xe9t\\xe9" },
                { "overlong \xc0\xaf", 11, "overlong \\xc0\\xaf" },
                { "surrogate \xed\xa0\x80", 13, "surrogate \\xed\\xa0\\x80" },
                { "cut \xe2\x82", 6, "cut \\xe2\\x82" },
                { "too big \xf4\x90\x80\x80", 12, "too big \\xf4\\x90\\x80\\x80" },
                { "", 0, "" },
        };
        _cleanup_cert_facts_ CertFacts *f = NULL;

        for (size_t k = 0; k < ELEMENTSOF(t); k++) {
                _cleanup_free_ char *got = x509_escape_text(t[k].in, t[k].n);

                assert_non_null(got);
                check(streq(got, t[k].out), "escape #%zu: \"%s\", expected \"%s\"", k, got, t[k].out);
        }

        inspect_one("esc-cn.crt", NULL, NULL, &f);
        assert_true(f->parsed);
        check(streq(f->subject, "CN=esc\\x1b[31m.example.test"), "esc-cn subject: %s", f->subject);
        check(!strchr(f->subject, '\033'), "esc-cn: ESC in the subject");
        check(streq(f->issuer, "CN=certherd test root,O=certherd tests"), "esc-cn issuer: %s", f->issuer);
}

static void test_problem_codes(_unused_ void **state) {
        check(_PROBLEM_CODE_MAX == ELEMENTSOF(contract_codes), "%d problem codes, the contract has %zu",
              (int) _PROBLEM_CODE_MAX, ELEMENTSOF(contract_codes));
        for (size_t k = 0; k < ELEMENTSOF(contract_codes); k++) {
                ProblemCode c = problem_code_from_string(contract_codes[k]);

                check(c != _PROBLEM_CODE_INVALID, "\"%s\" is not a problem code", contract_codes[k]);
                if (c == _PROBLEM_CODE_INVALID)
                        continue;
                check(streq(problem_code_to_string(c) ?: "NULL", contract_codes[k]),
                      "%s does not round-trip", contract_codes[k]);
                check(problem_code_severity(c) == contract_severity(contract_codes[k]), "severity of %s: %s",
                      contract_codes[k], severity_to_string(problem_code_severity(c)) ?: "?");
        }
        check(problem_code_from_string("bogus") == _PROBLEM_CODE_INVALID, "\"bogus\" is a problem code");
        check(problem_code_from_string("") == _PROBLEM_CODE_INVALID, "\"\" is a problem code");
        check(streq(severity_to_string(SEVERITY_OK) ?: "NULL", "ok"), "SEVERITY_OK's name");
        check(streq(severity_to_string(SEVERITY_WARNING) ?: "NULL", "warning"), "SEVERITY_WARNING's name");
        check(streq(severity_to_string(SEVERITY_CRITICAL) ?: "NULL", "critical"), "CRITICAL's name");
}

/* ---- loaders and SPKI ----------------------------------------------------------------------------- */

static const struct {
        const char *file;
        bool password;
} spki_files[] = {
        { "ok.crt", false },            { "ok-der.crt", false },      { "ok-chain.crt", false },
        { "ca.crt", false },            { "ed25519.crt", false },     { "ec-p384.crt", false },
        { "certtool-made.crt", false }, { "weak-key.crt", false },    { "weak-ec.crt", false },
        { "ok-text.crt", false },       { "ok-crlf.crt", false },     { "ok.key", false },
        { "ok-der.key", false },        { "rsa-pkcs1.key", false },   { "rsa-pkcs1-der.key", false },
        { "rsa-pkcs8.key", false },     { "rsa-pkcs8-enc.key", true }, { "ec-sec1.key", false },
        { "ec-sec1-der.key", false },   { "ec-pkcs8.key", false },    { "ec-pkcs8-enc.key", true },
        { "ec-p384.key", false },       { "ed25519.key", false },     { "certtool-made.key", false },
        { "weak-key.key", false },      { "weak-ec.key", false },     { "key-mismatch.key", false },
        { "req.csr", false },           { "req.der", false },         { "req-certtool.csr", false },
        { "pub.pem", false },           { "pub-rsa.pem", false },     { "pub.der", false },
};

static void test_spki_pins(_unused_ void **state) {
        _cleanup_free_ char *password = read_line_fixture("password.txt");

        for (size_t k = 0; k < ELEMENTSOF(spki_files); k++) {
                _cleanup_free_ uint8_t *data = NULL;
                _cleanup_free_ char *pin_file = NULL;
                _cleanup_datum_ gnutls_datum_t spki = {};
                uint8_t pin[PIN_SIZE];
                size_t size;
                int r;

                data = read_fixture(spki_files[k].file, &size);
                r = x509_spki_from_data(data, size, spki_files[k].password ? password : NULL, &spki);
                check(r >= 0, "x509_spki_from_data(%s): %s", spki_files[k].file, strerror(-r));
                if (r < 0)
                        continue;
                r = pin_compute(spki.data, spki.size, pin);
                check(r >= 0, "pin_compute(%s): %s", spki_files[k].file, strerror(-r));
                if (r < 0)
                        continue;
                assert_true(asprintf(&pin_file, "%s.pin.openssl", spki_files[k].file) >= 0);
                check_pin(spki_files[k].file, pin, pin_file);
        }
}

static void test_spki_errors(_unused_ void **state) {
        static const char *const bad[] = { "garbage.crt", "empty.crt", "truncated.crt", "huge.crt" };
        _cleanup_free_ uint8_t *enc = NULL, *notacert = NULL;
        _cleanup_datum_ gnutls_datum_t spki = {};
        uint8_t pin[PIN_SIZE];
        size_t size;
        int r;

        for (size_t k = 0; k < ELEMENTSOF(bad); k++) {
                _cleanup_free_ uint8_t *data = read_fixture(bad[k], &size);
                _cleanup_datum_ gnutls_datum_t d = {};

                r = x509_spki_from_data(data, size, NULL, &d);
                check(r < 0, "x509_spki_from_data(%s) succeeded", bad[k]);
                check(r >= 0 || !d.data, "x509_spki_from_data(%s) failed and set its output", bad[k]);
        }

        enc = read_fixture("ec-pkcs8-enc.key", &size);
        r = x509_spki_from_data(enc, size, NULL, &spki);
        check(r == -EACCES, "x509_spki_from_data(encrypted, no password) = %d, expected -EACCES", r);
        gnutls_datum_freep(&spki);
        r = x509_spki_from_data(enc, size, "wrong", &spki);
        check(r == -EACCES, "x509_spki_from_data(encrypted, wrong password) = %d, expected -EACCES", r);
        gnutls_datum_freep(&spki);

        /* a private key in a .crt is still a key for `certherd pin` */
        notacert = read_fixture("notacert.crt", &size);
        r = x509_spki_from_data(notacert, size, NULL, &spki);
        check(r == 0, "x509_spki_from_data(notacert.crt): %s", strerror(-r));
        if (r == 0) {
                assert_int_equal(pin_compute(spki.data, spki.size, pin), 0);
                check_pin("notacert.crt", pin, "ok.key.pin.openssl");
        }
}

static int load_key(const char *name, const char *password, gnutls_x509_privkey_t *ret) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t size;

        data = read_fixture(name, &size);
        return x509_load_privkey(data, size, password, ret);
}

static void test_load_privkey(_unused_ void **state) {
        static const char *const keys[] = {
                "ok.key",          "ok-der.key",   "rsa-pkcs1.key", "rsa-pkcs1-der.key", "rsa-pkcs8.key",
                "ec-sec1.key",     "ec-sec1-der.key", "ec-pkcs8.key", "ed25519.key",     "ec-p384.key",
                "certtool-made.key",
        };
        static const char *const encrypted[] = { "rsa-pkcs8-enc.key", "ec-pkcs8-enc.key" };
        static const char *const bad[] = { "garbage.crt", "empty.crt", "ok.crt" };
        _cleanup_free_ char *password = read_line_fixture("password.txt");

        for (size_t k = 0; k < ELEMENTSOF(keys); k++) {
                _cleanup_x509_privkey_ gnutls_x509_privkey_t key = NULL;
                int r = load_key(keys[k], NULL, &key);

                check(r >= 0 && key, "x509_load_privkey(%s): %s", keys[k], strerror(-r));
        }
        for (size_t k = 0; k < ELEMENTSOF(encrypted); k++) {
                static const char *const tries[] = { NULL, "wrong" };

                for (size_t t = 0; t < ELEMENTSOF(tries); t++) {
                        _cleanup_x509_privkey_ gnutls_x509_privkey_t key = NULL;
                        int r = load_key(encrypted[k], tries[t], &key);

                        check(r == -EACCES && !key, "x509_load_privkey(%s, %s) = %d, expected -EACCES",
                              encrypted[k], tries[t] ?: "no password", r);
                }
                _cleanup_x509_privkey_ gnutls_x509_privkey_t key = NULL;
                int r = load_key(encrypted[k], password, &key);

                check(r >= 0 && key, "x509_load_privkey(%s, password): %s", encrypted[k], strerror(-r));
        }
        for (size_t k = 0; k < ELEMENTSOF(bad); k++) {
                _cleanup_x509_privkey_ gnutls_x509_privkey_t key = NULL;
                int r = load_key(bad[k], NULL, &key);

                check(r == -EBADMSG && !key, "x509_load_privkey(%s) = %d, expected -EBADMSG", bad[k], r);
        }
}

static void test_load_crts(_unused_ void **state) {
        static const struct {
                const char *file;
                int n; /* < 0: must fail */
        } t[] = {
                { "ok.crt", 1 },      { "ok-der.crt", 1 },   { "ok-chain.crt", 2 },  { "ok-text.crt", 1 },
                { "ok-crlf.crt", 1 }, { "garbage.crt", -1 }, { "empty.crt", -1 },    { "truncated.crt", -1 },
                { "notacert.crt", -1 }, { "huge.crt", -1 },
        };

        for (size_t k = 0; k < ELEMENTSOF(t); k++) {
                _cleanup_free_ uint8_t *data = NULL;
                gnutls_x509_crt_t *crts = NULL;
                unsigned n = 0;
                size_t size;
                int r;

                data = read_fixture(t[k].file, &size);
                r = x509_load_crts(data, size, &crts, &n);
                if (t[k].n < 0)
                        check(r < 0, "x509_load_crts(%s) succeeded with %u", t[k].file, n);
                else
                        check(r >= 0 && n == (unsigned) t[k].n,
                              "x509_load_crts(%s) = %d, n = %u, expected %d", t[k].file, r, n, t[k].n);
                if (r >= 0)
                        x509_crts_free(crts, n);
        }
}

static void test_trust_new(_unused_ void **state) {
        static const struct {
                const char *file;
                int r;
        } t[] = {
                { "garbage.crt", -EBADMSG },
                { "empty.crt", -EBADMSG },
                { "ca.crt", 0 },
                { "ok-chain.crt", 0 }, /* two anchors */
                { "ok-der.crt", 0 },
        };

        for (size_t k = 0; k < ELEMENTSOF(t); k++) {
                _cleanup_free_ uint8_t *data = NULL;
                _cleanup_trust_ gnutls_x509_trust_list_t trust = NULL;
                size_t size;
                int r;

                data = read_fixture(t[k].file, &size);
                r = x509_trust_new(data, size, &trust);
                check(r == t[k].r, "x509_trust_new(%s) = %d, expected %d", t[k].file, r, t[k].r);
                check((r < 0) == !trust, "x509_trust_new(%s) = %d, and the list is %s", t[k].file, r,
                      trust ? "set" : "NULL");
        }
}

/* ---- fixtures -------------------------------------------------------------------------------------- */

static int remove_one(
                const char *path,
                _unused_ const struct stat *st,
                _unused_ int flag,
                _unused_ struct FTW *ftw) {
        return remove(path) < 0 ? -errno : 0;
}

static int run_generator(const char *dir) {
        const char *root = getenv("CERTHERD_SOURCE_ROOT");
        _cleanup_free_ char *script = NULL;
        int status;
        pid_t pid;

        if (asprintf(&script, "%s/tests/data/gen-fixtures.sh", root ?: ".") < 0)
                return -ENOMEM;
        if (access(script, X_OK) < 0) {
                int e = errno;

                fprintf(stderr, "cannot run %s (set CERTHERD_SOURCE_ROOT): %s\n", script, strerror(e));
                return -e;
        }
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                execl(script, script, dir, (char *) NULL);
                _exit(127);
        }
        if (waitpid(pid, &status, 0) < 0)
                return -errno;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
                return -EOPNOTSUPP; /* it said why */
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "%s %s failed (status %d)\n", script, dir, status);
                return -EIO;
        }
        return 0;
}

/* Fixtures older than an hour (a test run alone, long after the last full `meson test`) are remade: their
 * dates are relative to the time they were made. */
static bool fixtures_fresh(const char *dir) {
        _cleanup_free_ char *p = NULL;
        struct stat st;

        if (asprintf(&p, "%s/README", dir) < 0)
                return false;
        return stat(p, &st) == 0 && st.st_mtime + 3600 > time(NULL);
}

static int setup_fixtures(bool *ret_tmp) {
        const char *env = getenv("CERTHERD_FIXTURES");
        _cleanup_close_ int lock = -1;
        _cleanup_free_ char *lock_path = NULL;

        if (!env || !env[0]) {
                char tmpl[] = "/tmp/certherd-fixtures-XXXXXX";

                if (!mkdtemp(tmpl))
                        return -errno;
                fixtures = strdup(tmpl);
                if (!fixtures) {
                        (void) rmdir(tmpl);
                        return -ENOMEM;
                }
                *ret_tmp = true;
                return run_generator(fixtures);
        }
        fixtures = strdup(env);
        *ret_tmp = false;
        if (!fixtures)
                return -ENOMEM;
        if (mkdir(fixtures, 0755) < 0 && errno != EEXIST)
                return -errno;
        /* Tests running side by side must not remake the files under each other. */
        if (asprintf(&lock_path, "%s/.lock", fixtures) < 0)
                return -ENOMEM;
        lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (lock < 0 || flock(lock, LOCK_EX) < 0)
                return -errno;
        return fixtures_fresh(fixtures) ? 0 : run_generator(fixtures);
}

int main(void) {
        struct CMUnitTest tests[ELEMENTSOF(cases) + 16];
        Soft soft[ELEMENTSOF(tests)];
        size_t n = 0;
        bool tmp = false;
        int r;

        r = setup_fixtures(&tmp);
        if (r < 0) {
                /* No generator or no openssl/certtool: a skip (77). A generator that fails: a failure. */
                bool skip = r == -ENOENT || r == -EOPNOTSUPP;

                fprintf(stderr, "%s: no fixtures in %s: %s\n", skip ? "skipping" : "error",
                        fixtures ?: "(none)", strerror(-r));
                if (tmp)
                        (void) nftw(fixtures, remove_one, 16, FTW_DEPTH | FTW_PHYS);
                free(fixtures);
                return skip ? 77 : EXIT_FAILURE;
        }

#define ADD(name, f, st)                                                                   \
        do {                                                                               \
                soft[n] = (Soft) { f, st };                                                \
                tests[n] = (struct CMUnitTest) { name, run_soft, NULL, NULL, &soft[n] };   \
                n++;                                                                       \
        } while (0)
        for (size_t k = 0; k < ELEMENTSOF(cases); k++)
                ADD(cases[k].name, test_case, (void *) &cases[k]);
        ADD("test_ok_fields", test_ok_fields, NULL);
        ADD("test_other_fields", test_other_fields, NULL);
        ADD("test_no_san_names", test_no_san_names, NULL);
        ADD("test_fake_clock", test_fake_clock, NULL);
        ADD("test_percent_thresholds", test_percent_thresholds, NULL);
        ADD("test_unreadable", test_unreadable, NULL);
        ADD("test_key_pin", test_key_pin, NULL);
        ADD("test_escaped_text", test_escaped_text, NULL);
        ADD("test_problem_codes", test_problem_codes, NULL);
        ADD("test_spki_pins", test_spki_pins, NULL);
        ADD("test_spki_errors", test_spki_errors, NULL);
        ADD("test_load_privkey", test_load_privkey, NULL);
        ADD("test_load_crts", test_load_crts, NULL);
        ADD("test_trust_new", test_trust_new, NULL);
#undef ADD

        r = _cmocka_run_group_tests("x509", tests, n, NULL, NULL);

        if (tmp)
                (void) nftw(fixtures, remove_one, 16, FTW_DEPTH | FTW_PHYS);
        free(fixtures);
        return r;
}
