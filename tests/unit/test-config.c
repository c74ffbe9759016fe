/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config-value.h"
#include "config.h"

/* docs/inventory.md, verbatim: the contract must parse as written. */
static const char design_example[] =
        "[agent]\n"
        "state-directory = /var/lib/certherd      ; default: $STATE_DIRECTORY when systemd sets it, else this\n"
        "pin-directory   = /run/certherd/pins\n"
        "warn-before     = 14d\n"
        "critical-before = 7d\n"
        "renew-before    = 33%                    ; default for every certificate\n"
        "metrics-file    =                        ; optional Prometheus textfile (node_exporter), written atomically\n"
        "\n"
        "[acme \"letsencrypt\"]\n"
        "directory   = https://acme-v02.api.letsencrypt.org/directory\n"
        "contact     = mailto:admin@example.com\n"
        "ca-bundle   = /path/to/acme-server-ca.pem  ; optional trust for the ACME server itself\n"
        "eab-kid     = kid-from-your-ca             ; optional External Account Binding\n"
        "eab-hmac-file = ${CREDENTIALS_DIRECTORY}/eab-hmac\n"
        "challenge   = http-01                      ; http-01 | dns-01 | tls-alpn-01\n"
        "webroot     = /var/www/acme                ; http-01 via files; without it, a built-in responder\n"
        "listen      = [::]:80                      ; where the built-in responder listens\n"
        "dns-hook    = /usr/local/sbin/dns-hook     ; dns-01: called as `HOOK add|remove DOMAIN TXT-VALUE`\n"
        "preferred-chain = ISRG Root X1             ; pick the alternate chain whose root has this common name\n"
        "account-key-type = ec-p256                 ; ec-p256 (ES256) | rsa-2048 (RS256)\n"
        "initial-backoff = 0.15                     ; seconds before the first retry of a failed request\n"
        "max-retry-duration = 30                    ; seconds of retrying before a request fails\n"
        "\n"
        "[ca \"internal\"]\n"
        "certificate = /etc/certherd/ca/internal.crt\n"
        "key         = /etc/certherd/ca/internal.key\n"
        "key-type    = ec-p256\n"
        "validity    = 90d                          ; of the leaves it issues\n"
        "ca-validity = 10y\n"
        "export      = /etc/ssl/internal-ca.pem     ; optional copies of the CA certificate for clients\n"
        "\n"
        "[certificate \"ai-guard\"]\n"
        "certificate = ${CERTIFICATE_PATH:-/etc/ssl/litenode/tls.crt}   ; leaf, followed by its chain (fullchain)\n"
        "key         = ${TLS_KEY_PATH:-/etc/ssl/litenode/tls.key}\n"
        "ca          = /etc/certherd/ca/internal.crt    ; trust anchors for chain checks (default: system store)\n"
        "names       = ai-guard.local localhost 127.0.0.1\n"
        "issuer      = ca:internal                  ; acme:NAME | ca:NAME | self | none (watch only)\n"
        "usage       = server                       ; server (default) | client | server+client\n"
        "key-type    = ec-p256                      ; ec-p256 ec-p384 rsa-2048 rsa-3072 rsa-4096 ed25519\n"
        "key-policy  = reuse                        ; reuse keeps the pin; rotate makes a new key each renewal\n"
        "renew-before = 30d                         ; overrides [agent]; also N%; warn-before/critical-before likewise\n"
        "key-password-file =                        ; for an encrypted PKCS#8 key\n"
        "owner       = aiguard:aiguard\n"
        "mode        = 0600                         ; of the key; certificates are 0644\n"
        "reload      = nginx.service postgresql.service\n"
        "restart     = ai-guard.service\n"
        "signal      = HUP /run/some.pid\n"
        "exec        = /usr/local/sbin/deploy-hook  ; environment: CERTHERD_NAME, CERTHERD_CERTIFICATE, CERTHERD_KEY, CERTHERD_PIN\n"
        "verify      = tls://127.0.0.1:4443 tls://127.0.0.1:5432?starttls=postgres\n";

/* Parse `text` as the file "test.conf" and validate, as config_load() would. */
static int parse(const char *text, Inventory **ret, char **reterr) {
        Inventory *inv = inventory_new();
        int r;

        assert_non_null(inv);
        r = config_parse_string(inv, text, "test.conf", reterr);
        if (r >= 0)
                r = config_validate(inv, reterr);
        if (r < 0) {
                inventory_free(inv);
                return r;
        }
        *ret = inv;
        return 0;
}

static Inventory *parse_ok(const char *text) {
        Inventory *inv = NULL;
        char *err = NULL;

        if (parse(text, &inv, &err) < 0)
                fail_msg("unexpected error: %s\n--- input:\n%s", err, text);
        assert_null(err);
        return inv;
}

static void assert_error(const char *text, const char *expected) {
        Inventory *inv = NULL;
        char *err = NULL;
        int r;

        r = parse(text, &inv, &err);
        if (r >= 0 || !err || strcmp(err, expected) != 0)
                print_message("--- input:\n%s\n--- got (%d): %s\n--- expected: %s\n",
                              text, r, err, expected);
        assert_int_equal(r, -EINVAL);
        assert_null(inv);
        assert_non_null(err);
        assert_string_equal(err, expected);
        free(err);
}

#define CERT_HEAD "[certificate \"x\"]\ncertificate = /c\n"

static void assert_strv(char **l, const char *const *expected) {
        size_t n = 0;

        while (expected[n])
                n++;
        assert_int_equal(strv_length(l), n);
        for (size_t i = 0; i < n; i++)
                assert_string_equal(l[i], expected[i]);
}

/* The example with an owner this system has (owner = is checked at load): aiguard becomes root. */
static char *design_example_here(void) {
        const char *o = strstr(design_example, "aiguard:aiguard");
        char *text = NULL;

        assert_non_null(o);
        assert_true(asprintf(&text, "%.*sroot:root%s", (int) (o - design_example), design_example, o + 15) > 0);
        return text;
}

static void test_design_example(_unused_ void **state) {
        _cleanup_inventory_ Inventory *inv = NULL;
        AcmeConfig *a;
        CaConfig *ca;
        CertConfig *c;

        setenv("CREDENTIALS_DIRECTORY", "/run/credentials/certherd.service", 1);
        unsetenv("CERTIFICATE_PATH");
        setenv("TLS_KEY_PATH", "/etc/ssl/private/ai.key", 1);
        /* owner = must name a user and group this system has (checked at load): the example's aiguard
         * becomes root here, and the example as written names its line when aiguard does not exist. */
        {
                _cleanup_free_ char *text = design_example_here();
                Inventory *bad = NULL;
                char *err = NULL;

                if (!getpwnam("aiguard")) {
                        assert_int_equal(parse(design_example, &bad, &err), -EINVAL);
                        assert_non_null(strstr(err, ": owner = aiguard:aiguard: no such user or group on this system"));
                        free(err);
                }
                inv = parse_ok(text);
        }

        assert_string_equal(inv->agent.state_directory, "/var/lib/certherd");
        assert_string_equal(inv->agent.pin_directory, "/run/certherd/pins");
        assert_null(inv->agent.metrics_file);
        assert_true(inv->agent.warn_before.set && !inv->agent.warn_before.is_percent);
        assert_int_equal(inv->agent.warn_before.usec, 14 * USEC_PER_DAY);
        assert_int_equal(inv->agent.critical_before.usec, 7 * USEC_PER_DAY);
        assert_true(inv->agent.renew_before.is_percent);
        assert_int_equal(inv->agent.renew_before.percent, 33);
        assert_string_equal(inv->agent.file, "test.conf");
        assert_int_equal(inv->agent.line, 1);

        assert_int_equal(inv->n_acme, 1);
        a = inventory_find_acme(inv, "letsencrypt");
        assert_ptr_equal(a, inv->acme[0]);
        assert_string_equal(a->name, "letsencrypt");
        assert_string_equal(a->directory, "https://acme-v02.api.letsencrypt.org/directory");
        assert_string_equal(a->contact, "mailto:admin@example.com");
        assert_string_equal(a->ca_bundle, "/path/to/acme-server-ca.pem");
        assert_string_equal(a->eab_kid, "kid-from-your-ca");
        assert_string_equal(a->eab_hmac_file, "/run/credentials/certherd.service/eab-hmac");
        assert_int_equal(a->challenge, CHALLENGE_HTTP_01);
        assert_string_equal(a->webroot, "/var/www/acme");
        assert_string_equal(a->listen, "[::]:80");
        assert_string_equal(a->dns_hook, "/usr/local/sbin/dns-hook");
        assert_string_equal(a->preferred_chain, "ISRG Root X1");
        assert_int_equal(a->account_key_type, KEY_TYPE_EC_P256);
        assert_true(a->initial_backoff == 0.15);
        assert_true(a->max_retry_duration == 30);
        assert_string_equal(a->file, "test.conf");
        assert_int_equal(a->line, 9);

        assert_int_equal(inv->n_ca, 1);
        ca = inventory_find_ca(inv, "internal");
        assert_non_null(ca);
        assert_string_equal(ca->certificate, "/etc/certherd/ca/internal.crt");
        assert_string_equal(ca->key, "/etc/certherd/ca/internal.key");
        assert_int_equal(ca->key_type, KEY_TYPE_EC_P256);
        assert_int_equal(ca->validity, 90 * USEC_PER_DAY);
        assert_int_equal(ca->ca_validity, 10 * USEC_PER_YEAR);
        assert_strv(ca->export, (const char *const[]) { "/etc/ssl/internal-ca.pem", NULL });
        assert_int_equal(ca->line, 24);

        assert_int_equal(inv->n_certs, 1);
        c = inventory_find_cert(inv, "ai-guard");
        assert_non_null(c);
        assert_string_equal(c->certificate, "/etc/ssl/litenode/tls.crt");
        assert_string_equal(c->key, "/etc/ssl/private/ai.key");
        assert_string_equal(c->ca, "/etc/certherd/ca/internal.crt");
        assert_strv(c->names, (const char *const[]) { "ai-guard.local", "localhost", "127.0.0.1", NULL });
        assert_int_equal(c->issuer, ISSUER_CA);
        assert_string_equal(c->issuer_name, "internal");
        assert_int_equal(c->usage, USAGE_SERVER);
        assert_int_equal(c->key_type, KEY_TYPE_EC_P256);
        assert_int_equal(c->key_policy, KEY_POLICY_REUSE);
        assert_true(c->x->renew_before.set && !c->x->renew_before.is_percent);
        assert_int_equal(c->x->renew_before.usec, 30 * USEC_PER_DAY);
        assert_false(c->x->warn_before.set);
        assert_false(c->x->critical_before.set);
        assert_null(c->x->key_password_file);
        assert_string_equal(c->owner, "root:root");
        assert_int_equal(c->mode, 0600);
        assert_true(c->mode_set);
        assert_strv(c->reload, (const char *const[]) { "nginx.service", "postgresql.service", NULL });
        assert_strv(c->x->restart, (const char *const[]) { "ai-guard.service", NULL });
        assert_int_equal(c->x->signal, SIGHUP);
        assert_string_equal(c->x->signal_pidfile, "/run/some.pid");
        assert_string_equal(c->x->exec, "/usr/local/sbin/deploy-hook");
        assert_strv(c->x->verify, (const char *const[]) {
                "tls://127.0.0.1:4443", "tls://127.0.0.1:5432?starttls=postgres", NULL });
        assert_string_equal(c->file, "test.conf");
        assert_int_equal(c->line, 32);

        /* Effective thresholds: the certificate's own renew-before, [agent]'s others. */
        assert_int_equal(cert_renew_before(inv, c).usec, 30 * USEC_PER_DAY);
        assert_int_equal(cert_warn_before(inv, c).usec, 14 * USEC_PER_DAY);
        assert_int_equal(cert_critical_before(inv, c).usec, 7 * USEC_PER_DAY);

        unsetenv("CREDENTIALS_DIRECTORY");
        unsetenv("TLS_KEY_PATH");
}

static void test_other_values(_unused_ void **state) {
        _cleanup_inventory_ Inventory *inv = NULL;
        CertConfig *c;
        AcmeConfig *a;

        inv = parse_ok("[acme \"le\"]\n"
                       "directory = http://127.0.0.1:14000/dir\n"
                       "challenge = dns-01\n"
                       "dns-hook = /bin/hook\n"
                       "listen = :80\n"
                       "account-key-type = rsa-2048\n"
                       "initial-backoff = 2\n"
                       "max-retry-duration = .5\n"
                       "[certificate \"web\"]\n"
                       "certificate = /c\n"
                       "key = /k\n"
                       "issuer = acme:le\n"
                       "names = *.example.com example.com 2001:db8::1\n"
                       "usage = server+client\n"
                       "key-type = ed25519\n"
                       "key-policy = rotate\n"
                       "warn-before = 20%\n"
                       "critical-before = 10%\n"
                       "mode = 640\n"
                       "owner = www-data\n"
                       "signal = SIGUSR1 /run/x.pid\n"
                       "verify = tls://[::1]:443 tls://db.example:5432?starttls=postgres\n"
                       "[certificate \"self\"]\n"
                       "certificate = /s\n"
                       "key = /sk\n"
                       "issuer = self\n"
                       "names = localhost\n"
                       "usage = client\n"
                       "signal = 10 /run/y.pid\n");
        a = inventory_find_acme(inv, "le");
        assert_int_equal(a->challenge, CHALLENGE_DNS_01);
        assert_string_equal(a->listen, ":80");
        assert_int_equal(a->account_key_type, KEY_TYPE_RSA_2048);
        assert_true(a->initial_backoff == 2);
        assert_true(a->max_retry_duration == 0.5);
        c = inventory_find_cert(inv, "web");
        assert_int_equal(c->issuer, ISSUER_ACME);
        assert_string_equal(c->issuer_name, "le");
        assert_int_equal(c->usage, USAGE_SERVER_CLIENT);
        assert_int_equal(c->key_type, KEY_TYPE_ED25519);
        assert_int_equal(c->key_policy, KEY_POLICY_ROTATE);
        assert_true(c->x->warn_before.is_percent);
        assert_int_equal(c->x->warn_before.percent, 20);
        assert_int_equal(c->mode, 0640);
        assert_string_equal(c->owner, "www-data");
        assert_int_equal(c->x->signal, SIGUSR1);
        c = inventory_find_cert(inv, "self");
        assert_int_equal(c->issuer, ISSUER_SELF);
        assert_null(c->issuer_name);
        assert_int_equal(c->usage, USAGE_CLIENT);
        assert_int_equal(c->x->signal, 10);
        assert_null(inventory_find_cert(inv, "le"));
        assert_null(inventory_find_acme(inv, "web"));
        assert_null(inventory_find_cert(inv, NULL));
}

static void test_defaults(_unused_ void **state) {
        static const char text[] = "[acme \"le\"]\ndirectory = https://acme.example/dir\n"
                                   "[acme \"alpn\"]\ndirectory = https://acme.example/dir\nchallenge = tls-alpn-01\n"
                                   "[ca \"int\"]\ncertificate = /ca.crt\nkey = /ca.key\n"
                                   "[certificate \"watch\"]\ncertificate = /c\n";
        _cleanup_inventory_ Inventory *inv = NULL;
        Inventory *inv2 = NULL;
        CertConfig *c;
        AcmeConfig *a;
        CaConfig *ca;

        unsetenv("STATE_DIRECTORY");
        inv = parse_ok(text);
        assert_string_equal(inv->agent.state_directory, "/var/lib/certherd");
        assert_string_equal(inv->agent.pin_directory, "/run/certherd/pins");
        assert_null(inv->agent.metrics_file);
        assert_null(inv->agent.file);
        assert_int_equal(inv->agent.warn_before.usec, 14 * USEC_PER_DAY);
        assert_int_equal(inv->agent.critical_before.usec, 7 * USEC_PER_DAY);
        assert_true(inv->agent.renew_before.set && inv->agent.renew_before.is_percent);
        assert_int_equal(inv->agent.renew_before.percent, 33);

        a = inv->acme[0];
        assert_int_equal(a->challenge, CHALLENGE_HTTP_01);
        assert_string_equal(a->listen, "[::]:80");
        assert_int_equal(a->account_key_type, KEY_TYPE_EC_P256);
        assert_true(a->initial_backoff == 0.15);
        assert_true(a->max_retry_duration == 30);
        assert_null(a->contact);
        assert_null(a->webroot);
        /* tls-alpn-01 is validated on port 443 only (RFC 8737 §3): its responder listens there. */
        assert_int_equal(inv->acme[1]->challenge, CHALLENGE_TLS_ALPN_01);
        assert_string_equal(inv->acme[1]->listen, "[::]:443");

        ca = inv->ca[0];
        assert_int_equal(ca->key_type, KEY_TYPE_EC_P256);
        assert_int_equal(ca->validity, 90 * USEC_PER_DAY);
        assert_int_equal(ca->ca_validity, 10 * USEC_PER_YEAR);
        assert_null(ca->export);

        c = inv->certs[0];
        assert_int_equal(c->issuer, ISSUER_NONE);
        assert_null(c->issuer_name);
        assert_null(c->key);
        assert_null(c->ca);
        assert_null(c->names);
        assert_int_equal(c->usage, USAGE_SERVER);
        assert_int_equal(c->key_type, KEY_TYPE_EC_P256);
        assert_int_equal(c->key_policy, KEY_POLICY_REUSE);
        assert_int_equal(c->mode, 0600);
        assert_false(c->mode_set);
        assert_int_equal(c->x->signal, 0);
        assert_null(c->x->signal_pidfile);
        assert_null(c->reload);
        assert_true(cert_renew_before(inv, c).is_percent);
        assert_int_equal(cert_renew_before(inv, c).percent, 33);

        /* systemd's StateDirectory= may list several directories; ours is the first. */
        setenv("STATE_DIRECTORY", "/var/lib/certherd2:/var/lib/other", 1);
        inv2 = parse_ok(text);
        assert_string_equal(inv2->agent.state_directory, "/var/lib/certherd2");
        inventory_free(inv2);
        setenv("STATE_DIRECTORY", "/var/lib/single", 1);
        inv2 = parse_ok(text);
        assert_string_equal(inv2->agent.state_directory, "/var/lib/single");
        inventory_free(inv2);
        /* the file wins over the environment */
        inv2 = parse_ok("[agent]\nstate-directory = /srv/state\n");
        assert_string_equal(inv2->agent.state_directory, "/srv/state");
        inventory_free(inv2);
        unsetenv("STATE_DIRECTORY");
}

static void test_merge_in_one_file(_unused_ void **state) {
        _cleanup_inventory_ Inventory *inv = NULL;
        CertConfig *c;

        inv = parse_ok("[certificate \"a\"]\n"
                       "certificate = /first\n"
                       "names = one.example two.example\n"
                       "owner = root\n"
                       "[certificate \"b\"]\n"
                       "certificate = /b\n"
                       "[certificate \"a\"]\n"
                       "certificate = /second\n"
                       "names = three.example\n"
                       "owner =\n"
                       "mode = 0644\n"
                       "[agent]\nwarn-before = 20d\n[agent]\nwarn-before = 21d\n");
        assert_int_equal(inv->n_certs, 2);
        c = inventory_find_cert(inv, "a");
        assert_ptr_equal(c, inv->certs[0]);
        assert_string_equal(c->certificate, "/second");
        assert_strv(c->names, (const char *const[]) { "three.example", NULL }); /* replaced, not appended */
        assert_null(c->owner);                                                  /* empty clears */
        assert_int_equal(c->mode, 0644);
        assert_int_equal(c->line, 1); /* where it was first defined */
        assert_string_equal(inv->certs[1]->name, "b");
        assert_int_equal(inv->agent.warn_before.usec, 21 * USEC_PER_DAY);
        assert_int_equal(inv->agent.line, 12);

        /* Same name in different kinds is no clash. */
        inventory_free(TAKE_PTR(inv));
        inv = parse_ok("[ca \"x\"]\ncertificate = /a\nkey = /b\n[certificate \"x\"]\ncertificate = /c\n"
                       "[acme \"x\"]\ndirectory = https://a.example/\n");
        assert_non_null(inventory_find_ca(inv, "x"));
        assert_non_null(inventory_find_cert(inv, "x"));
        assert_non_null(inventory_find_acme(inv, "x"));
        assert_ptr_not_equal(inventory_find_ca(inv, "x"), inventory_find_cert(inv, "x"));
}

static void test_syntax(_unused_ void **state) {
        _cleanup_inventory_ Inventory *inv = NULL;
        CertConfig *c;

        /* A BOM, CRLF, '#' and ';' comments (indented too), "key: value", '#' and ';' without a blank before
         * are part of the value. */
        inv = parse_ok("\xef\xbb\xbf# comment\r\n"
                       "[certificate \"a\"]   ; trailing comment\r\n"
                       "certificate = /a#b;c\r\n"
                       "key = /k   ; comment\r\n"
                       "\t; indented comment\n"
                       "\n"
                       "exec: /bin/hook --flag=x\n"
                       "[ certificate   \"b\" ]\n"
                       "certificate=/b\n");
        c = inventory_find_cert(inv, "a");
        assert_string_equal(c->certificate, "/a#b;c");
        assert_string_equal(c->key, "/k");
        assert_string_equal(c->x->exec, "/bin/hook --flag=x");
        assert_int_equal(c->line, 2);
        assert_string_equal(inventory_find_cert(inv, "b")->certificate, "/b");
}

/* An indented line continues the previous key's value, joined with one space. */
static void test_continuation(_unused_ void **state) {
        _cleanup_inventory_ Inventory *inv = NULL;
        CertConfig *c;

        inv = parse_ok("[certificate \"a\"]\n"
                       "certificate = /a\n"
                       "names = one.example   ; the first\n"
                       "    two.example three.example\r\n"
                       "\t; a comment line between continuation lines\n"
                       "# and another\n"
                       "\tfour.example ; a comment after a continuation\n"
                       "  \t 127.0.0.1\n"
                       "exec = /bin/hook --flag\n"
                       "   --other=x:y\n"
                       "reload =\n"
                       "    a.service\n"
                       "    b.service\n");
        c = inventory_find_cert(inv, "a");
        assert_strv(c->names, (const char *const[]) { "one.example", "two.example", "three.example",
                                                      "four.example", "127.0.0.1", NULL });
        assert_string_equal(c->x->exec, "/bin/hook --flag --other=x:y");
        assert_strv(c->reload, (const char *const[]) { "a.service", "b.service", NULL });

        /* a repeated key in one block is an error naming both lines, continuation lines and all */
        inventory_free(TAKE_PTR(inv));
        assert_error("[certificate \"a\"]\ncertificate = /a\n"
                     "names = one.example\n  two.example\n"
                     "names = three.example\n  four.example\n",
                     "test.conf:5: names given twice in [certificate \"a\"] (first at line 3): one line per key; a "
                     "long value continues on indented lines");

        /* an empty line ends the value: what is indented after it continues nothing */
        assert_error("[certificate \"a\"]\ncertificate = /a\nnames = one.example\n\n  two.example\n",
                     "test.conf:5: indented line, but no key before it to continue: remove the indentation");
        assert_error("  [certificate \"a\"]\ncertificate = /a\n",
                     "test.conf:1: indented line, but no key before it to continue: remove the indentation");
        assert_error("[certificate \"a\"]\n    certificate = /a\n",
                     "test.conf:2: indented line, but no key before it to continue: remove the indentation");
        /* indented keys and headers were once allowed: never swallow one silently into a value */
        assert_error("[certificate \"a\"]\ncertificate = /a\n    key = /k\n",
                     "test.conf:3: indented line reads like a 'key = value' line, but indentation continues "
                     "the value of 'certificate' (line 2): remove the indentation");
        assert_error("[certificate \"a\"]\ncertificate = /a\n  key: /k\n",
                     "test.conf:3: indented line reads like a 'key = value' line, but indentation continues "
                     "the value of 'certificate' (line 2): remove the indentation");
        assert_error("[certificate \"a\"]\ncertificate = /a\n  [ certificate \"b\"]\n",
                     "test.conf:3: indented line reads like a [section] header, but indentation continues "
                     "the value of 'certificate' (line 2): remove the indentation");
        /* messages about the value name the key's line */
        assert_error("[certificate \"a\"]\ncertificate = /a\nnames = one.example\n  bad_name!\n",
                     "test.conf:3: invalid entry 'bad_name!' in names: expected DNS names, IP addresses, uri:URI or email:ADDRESS");
        assert_error("[certificate \"a\"]\ncertificate = /a\nbogus = 1\n  2\n",
                     "test.conf:3: unknown key 'bogus' in [certificate \"a\"]");
}

/* inih keeps only 49 bytes of a section name; ours are parsed from the raw line. */
static void test_long_section_name(_unused_ void **state) {
        _cleanup_inventory_ Inventory *inv = NULL;
        char text[400], name[181];

        memset(name, 'n', 180);
        name[180] = 0;
        memcpy(name, "web.", 4);
        snprintf(text, sizeof(text), "[certificate \"%s\"]\ncertificate = /c\n", name);
        inv = parse_ok(text);
        assert_string_equal(inv->certs[0]->name, name);
        assert_non_null(inventory_find_cert(inv, name));
        name[60] = 0; /* a prefix is another name */
        assert_null(inventory_find_cert(inv, name));
}

static void test_env(_unused_ void **state) {
        _cleanup_inventory_ Inventory *inv = NULL;
        CertConfig *c;

        setenv("CH_SET", "/set", 1);
        setenv("CH_EMPTY", "", 1);
        unsetenv("CH_UNSET");
        inv = parse_ok("[certificate \"a\"]\n"
                       "certificate = ${CH_SET}/cert.pem\n"
                       "key = ${CH_UNSET:-/default/key}\n"
                       "ca = ${CH_EMPTY:-/empty-default}\n"
                       "exec = /bin/echo $$ $${CH_SET} cost$5 ${CH_SET:-x}${CH_EMPTY}.\n"
                       "key-password-file = ${CH_UNSET:-}\n");
        c = inv->certs[0];
        assert_string_equal(c->certificate, "/set/cert.pem");
        assert_string_equal(c->key, "/default/key");
        assert_string_equal(c->ca, "/empty-default");
        assert_string_equal(c->x->exec, "/bin/echo $ ${CH_SET} cost$5 /set.");
        assert_null(c->x->key_password_file); /* expands to empty: unset */

        assert_error("[certificate \"a\"]\ncertificate = ${CH_UNSET}/x\n",
                     "test.conf:2: certificate: environment variable 'CH_UNSET' is not set");
        assert_error("[certificate \"a\"]\ncertificate = ${CH_SET\n",
                     "test.conf:2: certificate: unterminated '${' (missing '}')");
        assert_error("[certificate \"a\"]\ncertificate = ${CH_UNSET:-/x\n",
                     "test.conf:2: certificate: unterminated '${' (missing '}')");
        assert_error("[certificate \"a\"]\ncertificate = ${1X}\n",
                     "test.conf:2: certificate: invalid variable reference '${1X}'");
        assert_error("[certificate \"a\"]\ncertificate = ${}\n",
                     "test.conf:2: certificate: invalid variable reference '${}'");
        assert_error("[certificate \"a\"]\ncertificate = ${A-B}\n",
                     "test.conf:2: certificate: invalid variable reference '${A-B}'");
        /* Values from the environment are checked like values from the file. */
        setenv("CH_BADNAME", "bad_name.example", 1);
        assert_error(CERT_HEAD "names = ${CH_BADNAME}\n",
                     "test.conf:3: invalid entry 'bad_name.example' in names: expected DNS names, IP addresses, uri:URI or email:ADDRESS");
        setenv("CH_NEWLINE", "a\nb", 1);
        assert_error(CERT_HEAD "key = ${CH_NEWLINE}\n",
                     "test.conf:3: key: control character in the expanded value");
        unsetenv("CH_SET");
        unsetenv("CH_EMPTY");
        unsetenv("CH_BADNAME");
        unsetenv("CH_NEWLINE");
}

static void test_thresholds(_unused_ void **state) {
        Threshold t = {};

        assert_int_equal(parse_threshold("33%", &t), 0);
        assert_true(t.set && t.is_percent && t.percent == 33);
        assert_int_equal(parse_threshold("0%", &t), 0);
        assert_int_equal(t.percent, 0);
        assert_int_equal(parse_threshold("100%", &t), 0);
        assert_int_equal(t.percent, 100);
        assert_int_equal(parse_threshold("90d", &t), 0);
        assert_true(t.set && !t.is_percent && t.usec == 90 * USEC_PER_DAY);
        assert_int_equal(parse_threshold("1d12h", &t), 0);
        assert_int_equal(t.usec, 36 * USEC_PER_HOUR);
        assert_int_equal(parse_threshold("45", &t), 0);
        assert_int_equal(t.usec, 45 * USEC_PER_SEC);
        assert_int_equal(parse_threshold("2w", &t), 0);
        assert_int_equal(t.usec, 14 * USEC_PER_DAY);

        t = (Threshold) {};
        assert_int_equal(parse_threshold("101%", &t), -ERANGE);
        assert_int_equal(parse_threshold("1000000000000%", &t), -ERANGE);
        assert_true(parse_threshold("%", &t) < 0);
        assert_true(parse_threshold("33 %", &t) < 0);
        assert_true(parse_threshold("-5%", &t) < 0);
        assert_true(parse_threshold("1.5d", &t) < 0);
        assert_true(parse_threshold("3x", &t) < 0);
        assert_true(parse_threshold("", &t) < 0);
        assert_true(parse_threshold("d", &t) < 0);
        assert_true(parse_threshold(NULL, &t) < 0);
        assert_false(t.set); /* untouched on failure */

        assert_int_equal(threshold_resolve((Threshold) { .set = true, .is_percent = true, .percent = 33 },
                                           90 * USEC_PER_DAY),
                         90 * USEC_PER_DAY * 33 / 100);
        assert_int_equal(threshold_resolve((Threshold) { .set = true, .is_percent = true, .percent = 50 }, 3),
                         1);
        assert_int_equal(threshold_resolve((Threshold) { .set = true, .usec = 7 }, 1000), 7);
        assert_int_equal(threshold_resolve((Threshold) {}, 1000), 0);
        assert_int_equal(threshold_resolve((Threshold) { .set = true, .is_percent = true, .percent = 100 },
                                           USEC_INFINITY),
                         USEC_INFINITY);

        assert_error("[agent]\nwarn-before = soon\n",
                     "test.conf:2: invalid value 'soon' for warn-before: expected a duration such as 14d or "
                     "12h, or a percentage of the lifetime such as 33%");
        assert_error(CERT_HEAD "renew-before = 150%\n",
                     "test.conf:3: invalid value '150%' for renew-before: expected a duration such as 14d or "
                     "12h, or a percentage of the lifetime such as 33%");
        assert_error("[agent]\ncritical-before =\n",
                     "test.conf:2: invalid value '' for critical-before: expected a duration such as 14d or "
                     "12h, or a percentage of the lifetime such as 33%");
        assert_error("[ca \"c\"]\nvalidity = 0\n",
                     "test.conf:2: invalid value '0' for validity: expected a positive duration such as 90d or 10y");
        assert_error("[ca \"c\"]\nca-validity = 10 years\n",
                     "test.conf:2: invalid value '10 years' for ca-validity: expected a positive duration such "
                     "as 90d or 10y");
        assert_error("[acme \"a\"]\ninitial-backoff = -1\n",
                     "test.conf:2: invalid value '-1' for initial-backoff: expected non-negative decimal "
                     "seconds such as 0.15 or 30");
        assert_error("[acme \"a\"]\nmax-retry-duration = 1e3\n",
                     "test.conf:2: invalid value '1e3' for max-retry-duration: expected non-negative decimal "
                     "seconds such as 0.15 or 30");
        assert_error("[acme \"a\"]\nmax-retry-duration = inf\n",
                     "test.conf:2: invalid value 'inf' for max-retry-duration: expected non-negative decimal "
                     "seconds such as 0.15 or 30");
        assert_error("[acme \"a\"]\nmax-retry-duration = .\n",
                     "test.conf:2: invalid value '.' for max-retry-duration: expected non-negative decimal "
                     "seconds such as 0.15 or 30");
}

static void test_threshold_order(_unused_ void **state) {
        _cleanup_inventory_ Inventory *inv = NULL;

        assert_error("[agent]\nwarn-before = 3d\ncritical-before = 5d\n",
                     "test.conf:1: [agent] critical-before (5d) exceeds warn-before (3d)");
        /* a certificate's own value is compared with [agent]'s where it has none */
        assert_error("[certificate \"web\"]\ncertificate = /c\nwarn-before = 2d\n",
                     "test.conf:1: [certificate \"web\"] critical-before (7d) exceeds warn-before (2d)");
        assert_error("[certificate \"web\"]\ncertificate = /c\ncritical-before = 36h\nwarn-before = 1d\n",
                     "test.conf:1: [certificate \"web\"] critical-before (36h) exceeds warn-before (1d)");
        /* percentages are not compared; equal is fine */
        inv = parse_ok("[agent]\nwarn-before = 10%\ncritical-before = 30d\n"
                       "[certificate \"w\"]\ncertificate = /c\nwarn-before = 2d\ncritical-before = 2d\n");
        assert_int_equal(cert_critical_before(inv, inv->certs[0]).usec, 2 * USEC_PER_DAY);
}

static void test_errors(_unused_ void **state) {
        assert_error(CERT_HEAD "foo = 1\n", "test.conf:3: unknown key 'foo' in [certificate \"x\"]");
        assert_error("[agent]\ndirectory = x\n", "test.conf:2: unknown key 'directory' in [agent]");
        assert_error("[acme \"le\"]\nkey = x\n", "test.conf:2: unknown key 'key' in [acme \"le\"]");
        assert_error("[ca \"c\"]\nnames = x\n", "test.conf:2: unknown key 'names' in [ca \"c\"]");
        assert_error("\n[foo]\n", "test.conf:2: unknown section [foo]");
        assert_error("[foo \"x\"]\n", "test.conf:1: unknown section [foo \"x\"]");
        assert_error("[Agent]\n", "test.conf:1: unknown section [Agent]");
        assert_error("key = /x\n", "test.conf:1: key 'key' outside of any section");
        assert_error("[agent \"x\"]\n", "test.conf:1: section [agent] takes no name");
        assert_error("[certificate]\n", "test.conf:1: section [certificate] needs a name: [certificate \"NAME\"]");
        assert_error("[certificate web]\n",
                     "test.conf:1: invalid section [certificate web]: the name must be in double quotes");
        assert_error("[certificate \"web\n",
                     "test.conf:1: missing ']' in section header");
        assert_error("[certificate \"web\"] x\n", "test.conf:1: unexpected text after section header: 'x'");
        assert_error("[certificate \"\"]\n",
                     "test.conf:1: invalid section name \"\": expected letters, digits, '.', '_' and '-'");
        assert_error("[certificate \"a b\"]\n",
                     "test.conf:1: invalid section name \"a b\": expected letters, digits, '.', '_' and '-'");
        assert_error("[ca \"../x\"]\n",
                     "test.conf:1: invalid section name \"../x\": expected letters, digits, '.', '_' and '-'");
        assert_error("[certificate \"..\"]\n",
                     "test.conf:1: invalid section name \"..\": expected letters, digits, '.', '_' and '-'");
        assert_error(CERT_HEAD "just words\n", "test.conf:3: expected 'key = value' or a [section] header");
        assert_error(CERT_HEAD "key ; = x\n", "test.conf:3: expected 'key = value' or a [section] header");
        assert_error(CERT_HEAD "key = a\x01z\n", "test.conf:3: control character in line");
        assert_error(CERT_HEAD "key-type = ec-p521\n",
                     "test.conf:3: invalid value 'ec-p521' for key-type: expected ec-p256, ec-p384, rsa-2048, "
                     "rsa-3072, rsa-4096, ed25519");
        assert_error(CERT_HEAD "key-type =\n",
                     "test.conf:3: invalid value '' for key-type: expected ec-p256, ec-p384, rsa-2048, "
                     "rsa-3072, rsa-4096, ed25519");
        assert_error("[ca \"c\"]\nkey-type = RSA-2048\n",
                     "test.conf:2: invalid value 'RSA-2048' for key-type: expected ec-p256, ec-p384, rsa-2048, "
                     "rsa-3072, rsa-4096, ed25519");
        assert_error("[acme \"a\"]\naccount-key-type = ec-p384\n",
                     "test.conf:2: invalid value 'ec-p384' for account-key-type: expected ec-p256, rsa-2048");
        assert_error("[acme \"a\"]\nchallenge = http-02\n",
                     "test.conf:2: invalid value 'http-02' for challenge: expected http-01, dns-01, tls-alpn-01, dns-persist-01");
        assert_error("[acme \"a\"]\ndirectory = ftp://x/\n",
                     "test.conf:2: invalid value 'ftp://x/' for directory: expected an https:// URL");
        assert_error("[acme \"a\"]\nlisten = 80\n",
                     "test.conf:2: invalid value '80' for listen: expected ADDRESS:PORT such as [::]:80 or "
                     "0.0.0.0:80");
        assert_error("[acme \"a\"]\nlisten = [::]:99999\n",
                     "test.conf:2: invalid value '[::]:99999' for listen: expected ADDRESS:PORT such as [::]:80 "
                     "or 0.0.0.0:80");
        assert_error(CERT_HEAD "usage = both\n",
                     "test.conf:3: invalid value 'both' for usage: expected server, client, server+client");
        assert_error(CERT_HEAD "key-policy = keep\n",
                     "test.conf:3: invalid value 'keep' for key-policy: expected reuse, rotate");
        assert_error(CERT_HEAD "issuer = ca\n",
                     "test.conf:3: invalid value 'ca' for issuer: expected none, self, ca:NAME, acme:NAME");
        assert_error(CERT_HEAD "issuer = acme:\n",
                     "test.conf:3: invalid value 'acme:' for issuer: expected none, self, ca:NAME, acme:NAME");
        assert_error(CERT_HEAD "issuer = letsencrypt\n",
                     "test.conf:3: invalid value 'letsencrypt' for issuer: expected none, self, ca:NAME, "
                     "acme:NAME");
        assert_error(CERT_HEAD "mode = 0800\n",
                     "test.conf:3: invalid value '0800' for mode: expected an octal mode up to 0777 such as 0600");
        assert_error(CERT_HEAD "mode = 1777\n",
                     "test.conf:3: invalid value '1777' for mode: expected an octal mode up to 0777 such as 0600");
        assert_error(CERT_HEAD "mode = rw\n",
                     "test.conf:3: invalid value 'rw' for mode: expected an octal mode up to 0777 such as 0600");
        assert_error(CERT_HEAD "signal = HUP\n",
                     "test.conf:3: invalid value 'HUP' for signal: expected SIGNAL PIDFILE such as 'HUP "
                     "/run/nginx.pid'");
        assert_error(CERT_HEAD "signal = HANGUP /run/x.pid\n",
                     "test.conf:3: invalid value 'HANGUP /run/x.pid' for signal: expected SIGNAL PIDFILE such "
                     "as 'HUP /run/nginx.pid'");
        assert_error(CERT_HEAD "signal = 0 /run/x.pid\n",
                     "test.conf:3: invalid value '0 /run/x.pid' for signal: expected SIGNAL PIDFILE such as "
                     "'HUP /run/nginx.pid'");
        assert_error(CERT_HEAD "signal = HUP /run/x.pid extra\n",
                     "test.conf:3: invalid value 'HUP /run/x.pid extra' for signal: expected SIGNAL PIDFILE "
                     "such as 'HUP /run/nginx.pid'");
        assert_error(CERT_HEAD "owner = a:b:c\n",
                     "test.conf:3: invalid value 'a:b:c' for owner: expected USER or USER:GROUP");
        assert_error(CERT_HEAD "owner = :grp\n",
                     "test.conf:3: invalid value ':grp' for owner: expected USER or USER:GROUP");
        assert_error(CERT_HEAD "reload = nginx.service nginx\n",
                     "test.conf:3: invalid entry 'nginx' in reload: expected unit names such as nginx.service");
        assert_error(CERT_HEAD "restart = a/b.service\n",
                     "test.conf:3: invalid entry 'a/b.service' in restart: expected unit names such as "
                     "nginx.service");
        assert_error(CERT_HEAD "verify = https://127.0.0.1:443\n",
                     "test.conf:3: invalid entry 'https://127.0.0.1:443' in verify: expected tls://HOST:PORT or "
                     "tls://HOST:PORT?starttls=postgres");
        assert_error(CERT_HEAD "verify = tls://::1:443\n",
                     "test.conf:3: invalid entry 'tls://::1:443' in verify: expected tls://HOST:PORT or "
                     "tls://HOST:PORT?starttls=postgres");
        assert_error(CERT_HEAD "verify = tls://h:5432?starttls=mysql\n",
                     "test.conf:3: invalid entry 'tls://h:5432?starttls=mysql' in verify: expected "
                     "tls://HOST:PORT or tls://HOST:PORT?starttls=postgres");
        assert_error(CERT_HEAD "verify = tls://h\n",
                     "test.conf:3: invalid entry 'tls://h' in verify: expected tls://HOST:PORT or "
                     "tls://HOST:PORT?starttls=postgres");
        /* the first error wins, even when a later line is bad too */
        assert_error(CERT_HEAD "usage = x\nfoo = y\n",
                     "test.conf:3: invalid value 'x' for usage: expected server, client, server+client");
}

static void test_validation(_unused_ void **state) {
        assert_error("[ca \"internal\"]\ncertificate = /a\nkey = /b\n"
                     "\n[certificate \"web\"]\ncertificate = /c\nkey = /k\nnames = web.example\n"
                     "issuer = ca:nope\n",
                     "test.conf:5: [certificate \"web\"] issuer 'ca:nope': no [ca \"nope\"] section");
        assert_error("[certificate \"web\"]\ncertificate = /c\nkey = /k\nnames = web.example\n"
                     "issuer = acme:le\n",
                     "test.conf:1: [certificate \"web\"] issuer 'acme:le': no [acme \"le\"] section");
        /* a [ca] of that name is not an [acme] */
        assert_error("[ca \"le\"]\ncertificate = /a\nkey = /b\n"
                     "[certificate \"web\"]\ncertificate = /c\nkey = /k\nnames = w.example\nissuer = acme:le\n",
                     "test.conf:4: [certificate \"web\"] issuer 'acme:le': no [acme \"le\"] section");
        assert_error("[certificate \"web\"]\nkey = /k\n",
                     "test.conf:1: [certificate \"web\"] missing required key 'certificate'");
        assert_error("[certificate \"web\"]\ncertificate = /c\nissuer = self\nnames = a.example\n",
                     "test.conf:1: [certificate \"web\"] missing required key 'key' (needed with issuer 'self')");
        assert_error("[certificate \"web\"]\ncertificate = /c\nkey = /k\nissuer = self\n",
                     "test.conf:1: [certificate \"web\"] issuer 'self' needs names");
        assert_error("[certificate \"web\"]\ncertificate = /c\nkey = /k\nissuer = self\nnames =\n",
                     "test.conf:1: [certificate \"web\"] issuer 'self' needs names");
        assert_error("[ca \"c\"]\ncertificate = /a\n", "test.conf:1: [ca \"c\"] missing required key 'key'");
        assert_error("[ca \"c\"]\nkey = /a\n", "test.conf:1: [ca \"c\"] missing required key 'certificate'");
        assert_error("[acme \"le\"]\ncontact = mailto:a@b\n",
                     "test.conf:1: [acme \"le\"] missing required key 'directory'");
        assert_error("[acme \"le\"]\ndirectory = https://a/\neab-kid = k\n",
                     "test.conf:1: [acme \"le\"] eab-kid and eab-hmac-file must be given together");
        assert_error("[acme \"le\"]\ndirectory = https://a/\nchallenge = dns-01\n",
                     "test.conf:1: [acme \"le\"] challenge dns-01 needs dns-hook");
        /* Keys in a PKCS#11 token name their object; PINs and passwords go with the right kind of key. */
        assert_error("[certificate \"web\"]\ncertificate = /c\nkey = pkcs11:token=t\nissuer = self\nnames = a.example\n",
                     "test.conf:1: [certificate \"web\"] key 'pkcs11:token=t' names no token object: add ;object=LABEL");
        assert_error("[certificate \"web\"]\ncertificate = /c\nkey = pkcs11:token=t;object=\n",
                     "test.conf:1: [certificate \"web\"] key 'pkcs11:token=t;object=' names no token object: add ;object=LABEL");
        assert_error("[certificate \"web\"]\ncertificate = /c\nkey = pkcs11:token=t;object=w\nkey-password-file = /p\n",
                     "test.conf:1: [certificate \"web\"] key-password-file is for key files; a token key takes pkcs11-pin-file");
        assert_error("[certificate \"web\"]\ncertificate = /c\nkey = /k\npkcs11-pin-file = /p\n",
                     "test.conf:1: [certificate \"web\"] pkcs11-pin-file is for key = pkcs11:…, not a key file");
        assert_error("[ca \"c\"]\ncertificate = /a\nkey = pkcs11:token=t?pin-source=/p\n",
                     "test.conf:1: [ca \"c\"] key 'pkcs11:token=t?pin-source=/p' names no token object: add ;object=LABEL");
        assert_error("[ca \"c\"]\ncertificate = /a\nkey = /k\npkcs11-pin-file = /p\n",
                     "test.conf:1: [ca \"c\"] pkcs11-pin-file is for key = pkcs11:…, not a key file");
}

/* The further outputs and their rules. */
static void test_outputs(_unused_ void **state) {
#define OUT_HEAD "[certificate \"web\"]\ncertificate = /c\nkey = /k\n"
        _cleanup_inventory_ Inventory *inv = NULL;
        CertConfig *c;

        inv = parse_ok(OUT_HEAD "chain = /o/chain.pem\nleaf = /o/cert.pem\ncombined = /o/combined.pem\n"
                               "pkcs12 = /o/web.p12\npkcs12-password-file = /run/credentials/p12\n");
        c = inventory_find_cert(inv, "web");
        assert_non_null(c);
        assert_string_equal(c->x->chain, "/o/chain.pem");
        assert_string_equal(c->x->leaf, "/o/cert.pem");
        assert_string_equal(c->x->combined, "/o/combined.pem");
        assert_string_equal(c->x->pkcs12, "/o/web.p12");
        assert_string_equal(c->x->pkcs12_password_file, "/run/credentials/p12");

        assert_error(OUT_HEAD "pkcs12 = /o/web.p12\n",
                     "test.conf:1: [certificate \"web\"] 'pkcs12' needs 'pkcs12-password-file'");
        assert_error(OUT_HEAD "pkcs12-password-file = /p\n",
                     "test.conf:1: [certificate \"web\"] 'pkcs12-password-file' without 'pkcs12'");
        assert_error(OUT_HEAD "chain = chain.pem\n",
                     "test.conf:1: [certificate \"web\"] 'chain' must be an absolute path, not 'chain.pem'");
        assert_error(OUT_HEAD "leaf = /c\n",
                     "test.conf:1: [certificate \"web\"] 'certificate' and 'leaf' name the same file /c");
        assert_error(OUT_HEAD "combined = /o/x\npkcs12 = /o/x\npkcs12-password-file = /p\n",
                     "test.conf:1: [certificate \"web\"] 'combined' and 'pkcs12' name the same file /o/x");
        assert_error("[certificate \"web\"]\ncertificate = /c\ncombined = /o/x\n",
                     "test.conf:1: [certificate \"web\"] 'combined' holds the private key: it needs a key file");
        assert_error("[certificate \"web\"]\ncertificate = /c\nkey = pkcs11:token=t;object=k\n"
                     "pkcs12 = /o/x\npkcs12-password-file = /p\n",
                     "test.conf:1: [certificate \"web\"] 'pkcs12' holds the private key: it needs a key file, "
                     "not a pkcs11: URI");
#undef OUT_HEAD
}

static void test_names(_unused_ void **state) {
        static const char *const good[] = {
                "example.com", "a.b.c.example.com", "*.example.com", "localhost", "xn--bcher-kva.example",
                "a-b.example", "1.example", "127.0.0.1", "::1", "2001:db8::1", "::ffff:192.0.2.1", "123abc",
        };
        static const char *const bad[] = {
                "foo_bar.example", "-a.example", "a-.example", "*.*.example", "a.*.example", "*", "*.",
                "a..b", ".a", "a.", "10.0.0.256", "1.2.3.4.5", "fe80::1%eth0", "[::1]", "ex ample", "é.example",
                "", "12",
        };
        char label64[80], long_name[300];

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                if (!config_san_is_valid(good[i]))
                        fail_msg("rejected %s", good[i]);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                if (config_san_is_valid(bad[i]))
                        fail_msg("accepted %s", bad[i]);
        }
        memset(label64, 'a', 64);
        strcpy(label64 + 64, ".example");
        assert_false(config_dns_name_is_valid(label64));
        assert_true(config_dns_name_is_valid(label64 + 1)); /* 63 */
        /* 4 × (63 + '.') - 1 = 255 > 253 */
        for (size_t i = 0; i < 4; i++) {
                memset(long_name + i * 64, 'a', 63);
                long_name[i * 64 + 63] = '.';
        }
        long_name[255] = 0;
        assert_false(config_dns_name_is_valid(long_name));
        long_name[253] = 0; /* 253 characters, the last label 61 long */
        assert_true(config_dns_name_is_valid(long_name));

        assert_error(CERT_HEAD "names = ok.example foo_bar.example\n",
                     "test.conf:3: invalid entry 'foo_bar.example' in names: expected DNS names, IP addresses, uri:URI or email:ADDRESS");
        assert_error(CERT_HEAD "names = 192.168.1.300\n",
                     "test.conf:3: invalid entry '192.168.1.300' in names: expected DNS names, IP addresses, uri:URI or email:ADDRESS");
        assert_error(CERT_HEAD "names = 2001:db8::g\n",
                     "test.conf:3: invalid entry '2001:db8::g' in names: expected DNS names, IP addresses, uri:URI or email:ADDRESS");
}

static void test_value_helpers(_unused_ void **state) {
        mode_t m;
        double d;
        int sig;
        char *pidfile = NULL, buf[CONFIG_USEC_MAX];

        assert_int_equal(config_parse_mode("0600", &m), 0);
        assert_int_equal(m, 0600);
        assert_int_equal(config_parse_mode("0", &m), 0);
        assert_int_equal(m, 0);
        assert_int_equal(config_parse_mode("0777", &m), 0);
        assert_int_equal(m, 0777);
        assert_true(config_parse_mode("01000", &m) < 0);
        assert_true(config_parse_mode("", &m) < 0);
        assert_true(config_parse_mode("0o600", &m) < 0);

        assert_int_equal(config_parse_signal("SIGTERM\t/run/a.pid", &sig, &pidfile), 0);
        assert_int_equal(sig, SIGTERM);
        assert_string_equal(pidfile, "/run/a.pid");
        free(pidfile);
        assert_int_equal(config_parse_signal("64 /p", &sig, &pidfile), 0);
        assert_int_equal(sig, 64);
        free(pidfile);
        assert_true(config_parse_signal("65 /p", &sig, &pidfile) < 0);
        assert_true(config_parse_signal("hup /p", &sig, &pidfile) < 0);
        assert_true(config_parse_signal("SIG /p", &sig, &pidfile) < 0);

        assert_int_equal(config_parse_seconds("0", &d), 0);
        assert_true(d == 0);
        assert_int_equal(config_parse_seconds("1.", &d), 0);
        assert_true(d == 1);
        assert_int_equal(config_parse_seconds("0.25", &d), 0);
        assert_true(d == 0.25);
        assert_true(config_parse_seconds("+1", &d) < 0);
        assert_true(config_parse_seconds("1,5", &d) < 0);
        assert_true(config_parse_seconds("0x10", &d) < 0);
        assert_true(config_parse_seconds("nan", &d) < 0);
        assert_true(config_parse_seconds("1234567890", &d) < 0);

        assert_true(config_listen_is_valid("[::]:80"));
        assert_true(config_listen_is_valid("0.0.0.0:8080"));
        assert_true(config_listen_is_valid("localhost:80"));
        assert_false(config_listen_is_valid("[::]:0"));
        assert_false(config_listen_is_valid("[::]80"));
        assert_false(config_listen_is_valid("[nope]:80"));
        assert_true(config_verify_is_valid("tls://[2001:db8::1]:443"));
        assert_true(config_verify_is_valid("tls://db.internal:5432?starttls=postgres"));
        assert_false(config_verify_is_valid("tls://:443"));
        assert_false(config_verify_is_valid("tls://h:443?"));
        assert_true(config_unit_name_is_valid("getty@tty1.service"));
        assert_true(config_unit_name_is_valid("nginx.socket"));
        assert_false(config_unit_name_is_valid(".service"));
        assert_false(config_unit_name_is_valid("nginx.conf"));
        assert_true(config_owner_is_valid("root"));
        assert_true(config_owner_is_valid("1000:1000"));
        assert_false(config_owner_is_valid("-root"));
        assert_false(config_owner_is_valid("root:"));

        assert_string_equal(config_format_usec(7 * USEC_PER_DAY, buf, sizeof(buf)), "7d");
        assert_string_equal(config_format_usec(36 * USEC_PER_HOUR, buf, sizeof(buf)), "36h");
        assert_string_equal(config_format_usec(90 * USEC_PER_SEC, buf, sizeof(buf)), "90s");
        assert_string_equal(config_format_usec(1500, buf, sizeof(buf)), "1500us");
}

static void test_strings(_unused_ void **state) {
        for (KeyType t = 0; t < _KEY_TYPE_MAX; t++)
                assert_int_equal(key_type_from_string(key_type_to_string(t)), t);
        for (Usage u = 0; u < _USAGE_MAX; u++)
                assert_int_equal(usage_from_string(usage_to_string(u)), u);
        for (KeyPolicy p = 0; p < _KEY_POLICY_MAX; p++)
                assert_int_equal(key_policy_from_string(key_policy_to_string(p)), p);
        for (ChallengeType c = 0; c < _CHALLENGE_TYPE_MAX; c++)
                assert_int_equal(challenge_type_from_string(challenge_type_to_string(c)), c);
        assert_string_equal(key_type_to_string(KEY_TYPE_RSA_3072), "rsa-3072");
        assert_string_equal(usage_to_string(USAGE_SERVER_CLIENT), "server+client");
        assert_string_equal(challenge_type_to_string(CHALLENGE_TLS_ALPN_01), "tls-alpn-01");
        assert_string_equal(issuer_kind_to_string(ISSUER_ACME), "acme");
        assert_string_equal(issuer_kind_to_string(ISSUER_NONE), "none");
        assert_null(key_type_to_string(_KEY_TYPE_MAX));
        assert_null(key_type_to_string(_KEY_TYPE_INVALID));
        assert_null(issuer_kind_to_string(_ISSUER_KIND_MAX));
        assert_null(usage_to_string(-1));
        assert_int_equal(key_type_from_string("ec-p521"), _KEY_TYPE_INVALID);
        assert_int_equal(key_type_from_string(NULL), _KEY_TYPE_INVALID);
        assert_int_equal(usage_from_string("Server"), _USAGE_INVALID);
        assert_int_equal(key_policy_from_string(""), _KEY_POLICY_INVALID);
        assert_int_equal(challenge_type_from_string("dns"), _CHALLENGE_TYPE_INVALID);
}

/* A renew-before beyond two thirds of the lifetime is capped; say so at load time. */
static void test_renew_before_warnings(_unused_ void **state) {
        _cleanup_inventory_ Inventory *inv = NULL;

        inv = parse_ok("[agent]\nrenew-before = 80%\n"
                       "[ca \"int\"]\ncertificate = /ca\nkey = /ca.key\nvalidity = 30d\n"
                       "[certificate \"ok\"]\ncertificate = /a\nkey = /k\nnames = a.example\nissuer = ca:int\n"
                       "renew-before = 20d\n"
                       "[certificate \"long\"]\ncertificate = /b\nkey = /k\nnames = b.example\nissuer = ca:int\n"
                       "renew-before = 21d\n"
                       "[certificate \"pct\"]\ncertificate = /c\nrenew-before = 67%\n"
                       "[certificate \"pct-ok\"]\ncertificate = /c\nrenew-before = 66%\n"
                       "[certificate \"self\"]\ncertificate = /d\nkey = /k\nnames = d.example\nissuer = self\n"
                       "renew-before = 61d\n"
                       "[certificate \"watched\"]\ncertificate = /e\nrenew-before = 400d\n");
        assert_strv(inv->warnings,
                    (const char *const[]) {
                            "test.conf:1: [agent] renew-before = 80% is more than two thirds of a certificate's "
                            "lifetime: renewal is capped at two thirds (66%)",
                            "test.conf:13: [certificate \"long\"] renew-before = 21d is more than two thirds of the "
                            "certificate's lifetime (30d, the validity of [ca \"int\"]): renewal is capped at 20d "
                            "before expiry",
                            "test.conf:19: [certificate \"pct\"] renew-before = 67% is more than two thirds of a "
                            "certificate's lifetime: renewal is capped at two thirds (66%)",
                            "test.conf:25: [certificate \"self\"] renew-before = 61d is more than two thirds of the "
                            "certificate's lifetime (90d, what issuer = self issues): renewal is capped at 60d before "
                            "expiry",
                            NULL });

        /* an absolute renew-before of [agent] counts for each certificate of an internal CA */
        inventory_free(TAKE_PTR(inv));
        inv = parse_ok("[agent]\nrenew-before = 25d\n"
                       "[ca \"int\"]\ncertificate = /ca\nkey = /ca.key\nvalidity = 30d\n"
                       "[certificate \"a\"]\ncertificate = /a\nkey = /k\nnames = a.example\nissuer = ca:int\n");
        assert_strv(inv->warnings,
                    (const char *const[]) {
                            "test.conf:7: [certificate \"a\"] renew-before = 25d (from [agent]) is more than two "
                            "thirds of the certificate's lifetime (30d, the validity of [ca \"int\"]): renewal is "
                            "capped at 20d before expiry",
                            NULL });

        /* the contract's example (30d of an internal CA's 90d) warns about nothing */
        inventory_free(TAKE_PTR(inv));
        setenv("CREDENTIALS_DIRECTORY", "/run/credentials/certherd.service", 1);
        {
                _cleanup_free_ char *text = design_example_here();

                inv = parse_ok(text);
        }
        unsetenv("CREDENTIALS_DIRECTORY");
        assert_null(inv->warnings);
}

/* A set that needs clientAuth from an ACME CA is warned about at load time; one from an
 * internal CA, or a server certificate from ACME, is not. */
static void test_client_usage_warning(_unused_ void **state) {
        _cleanup_inventory_ Inventory *inv = NULL;

        inv = parse_ok("[acme \"le\"]\ndirectory = https://acme.example/dir\n"
                       "[ca \"int\"]\ncertificate = /ca\nkey = /ca.key\n"
                       "[certificate \"mtls\"]\ncertificate = /a\nkey = /k\nnames = a.example\nissuer = acme:le\n"
                       "usage = server+client\n"
                       "[certificate \"client\"]\ncertificate = /b\nkey = /k\nnames = b.example\nissuer = acme:le\n"
                       "usage = client\n"
                       "[certificate \"web\"]\ncertificate = /c\nkey = /k\nnames = c.example\nissuer = acme:le\n"
                       "[certificate \"internal\"]\ncertificate = /d\nkey = /k\nnames = d.example\nissuer = ca:int\n"
                       "usage = client\n");
        assert_strv(inv->warnings,
                    (const char *const[]) {
                            "test.conf:6: [certificate \"mtls\"] usage = server+client with issuer = acme:le: public "
                            "ACME CAs no longer issue client certificates (clientAuth), and a renewed certificate "
                            "without it is not installed; issue client certificates from an internal CA "
                            "(issuer = ca:NAME)",
                            "test.conf:12: [certificate \"client\"] usage = client with issuer = acme:le: public "
                            "ACME CAs no longer issue client certificates (clientAuth), and a renewed certificate "
                            "without it is not installed; issue client certificates from an internal CA "
                            "(issuer = ca:NAME)",
                            NULL });
}

/* Profile in [acme] and per certificate (the certificate's wins); a token; only for ACME. */
static void test_profile(_unused_ void **state) {
        _cleanup_inventory_ Inventory *inv = NULL;

        inv = parse_ok("[acme \"le\"]\ndirectory = https://acme.example/dir\nprofile = tlsserver\n"
                       "challenge = dns-persist-01\npersist-issuer = letsencrypt.org\n"
                       "[certificate \"a\"]\ncertificate = /a\nkey = /k\nnames = a.example\nissuer = acme:le\n"
                       "[certificate \"b\"]\ncertificate = /b\nkey = /k\nnames = b.example\nissuer = acme:le\n"
                       "profile = shortlived\n"
                       "[certificate \"c\"]\ncertificate = /c\n");
        assert_string_equal(cert_profile(inv, inventory_find_cert(inv, "a")), "tlsserver");
        assert_string_equal(cert_profile(inv, inventory_find_cert(inv, "b")), "shortlived");
        assert_null(cert_profile(inv, inventory_find_cert(inv, "c")));
        assert_int_equal(inventory_find_acme(inv, "le")->challenge, CHALLENGE_DNS_PERSIST_01);
        assert_string_equal(inventory_find_acme(inv, "le")->persist_issuer, "letsencrypt.org");

        assert_error("[acme \"le\"]\ndirectory = https://acme.example/dir\nprofile = short lived\n",
                    "test.conf:3: invalid value 'short lived' for profile: expected an ACME profile name such as "
                    "classic, tlsserver or shortlived");
        assert_error("[acme \"le\"]\ndirectory = https://acme.example/dir\npersist-issuer = https://le.org\n",
                    "test.conf:3: invalid value 'https://le.org' for persist-issuer: expected the CA's issuer domain "
                    "name such as letsencrypt.org");
        assert_error("[ca \"int\"]\ncertificate = /ca\nkey = /ca.key\n"
                    "[certificate \"x\"]\ncertificate = /x\nkey = /k\nnames = x.example\nissuer = ca:int\n"
                    "profile = classic\n",
                    "test.conf:4: [certificate \"x\"] profile is an ACME profile: it needs issuer = acme:NAME, not "
                    "'ca:int'");
}

/* `names` of 100 DNS names, half on one long line, half on continuation lines. */
static void test_hundred_names(_unused_ void **state) {
        _cleanup_inventory_ Inventory *inv = NULL;
        _cleanup_free_ char *text = malloc(20000);
        char *p, name[128];
        CertConfig *c;

        assert_non_null(text);
        p = text + sprintf(text, "[certificate \"many\"]\ncertificate = /c\nnames =");
        for (unsigned i = 0; i < 100; i++) {
                if (i >= 50 && i % 10 == 0)
                        p += sprintf(p, "\n       ");
                p += sprintf(p, " host-%03u.a-rather-long-subdomain.service.example.com", i);
        }
        strcpy(p, "\nkey = /k\n");
        assert_true(strchr(text + strlen("[certificate \"many\"]\ncertificate = /c\n"), '\n') -
                            text > 2000); /* the first line of names is far beyond 199 */
        inv = parse_ok(text);
        c = inventory_find_cert(inv, "many");
        assert_int_equal(strv_length(c->names), 100);
        for (unsigned i = 0; i < 100; i++) {
                snprintf(name, sizeof(name), "host-%03u.a-rather-long-subdomain.service.example.com", i);
                assert_string_equal(c->names[i], name);
        }
        assert_string_equal(c->key, "/k");
}

/* inih capped lines at 199 characters; a line may now be 65535 long. */
static void test_line_too_long(_unused_ void **state) {
        size_t size = 70000;
        _cleanup_free_ char *text = malloc(size);
        _cleanup_inventory_ Inventory *inv = NULL;
        char *p;

        assert_non_null(text);
        /* 200 and 5000 characters, with or without "\r\n" */
        for (size_t len = 199; len <= 5000; len = len < 201 ? len + 1 : 5000) {
                p = text + sprintf(text, CERT_HEAD "exec = ");
                memset(p, 'x', len - strlen("exec = "));
                strcpy(p + len - strlen("exec = "), len % 2 ? "\r\n" : "\n");
                inv = parse_ok(text);
                assert_int_equal(strlen(inv->certs[0]->x->exec), len - strlen("exec = "));
                inv = inventory_free(inv);
                if (len == 5000)
                        break;
        }
        /* 65535 fit, 65536 do not */
        p = text + sprintf(text, CERT_HEAD "exec = ");
        memset(p, 'x', 65535 - strlen("exec = "));
        strcpy(p + 65535 - strlen("exec = "), "\n");
        inv = parse_ok(text);
        inv = inventory_free(inv);
        strcpy(p + 65535 - strlen("exec = "), "y\n");
        assert_error(text, "test.conf:3: line too long (max 65535 characters)");
        /* long comments are lines too */
        memset(text, ';', 66000);
        text[66000] = 0;
        assert_error(text, "test.conf:1: line too long (max 65535 characters)");
}

/* inih's line buffer holds 199 characters: longer lines reach it in pieces, joined back exactly as they
 * stood, whatever the blanks, comments, '#' and ';' around the places where they break. */
static void test_long_line_pieces(_unused_ void **state) {
        _cleanup_free_ char *text = malloc(20000), *value = malloc(20000);
        _cleanup_inventory_ Inventory *inv = NULL;
        const char *words[] = { "a", "bb  c", "#x", "y;z", "\t", "--opt=1:2", "[z]", "  ", "q#" };
        size_t n = 0;
        char *p;

        assert_non_null(text);
        assert_non_null(value);
        /* a value of words and blanks of all kinds, long enough for many pieces */
        for (unsigned i = 0; n < 3000; i++) {
                const char *w = words[i % ELEMENTSOF(words)];

                memcpy(value + n, w, strlen(w));
                n += strlen(w);
                value[n++] = i % 7 ? 'w' : ' ';
        }
        while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
                n--;
        value[n] = 0;
        snprintf(text, 20000, CERT_HEAD "exec = %s   ; a comment ; with ; more\n"
                              "key = /k\n", value);
        inv = parse_ok(text);
        assert_string_equal(inv->certs[0]->x->exec, value);
        assert_string_equal(inv->certs[0]->key, "/k");
        inv = inventory_free(inv);

        /* a long continuation line joins its key's value after one space, its pieces after nothing */
        p = text + sprintf(text, CERT_HEAD "exec = /bin/hook\n  ");
        memset(p, 'x', 500);
        strcpy(p + 500, "  ;comment\n");
        inv = parse_ok(text);
        assert_int_equal(strlen(inv->certs[0]->x->exec), strlen("/bin/hook ") + 500);
        assert_true(strncmp(inv->certs[0]->x->exec, "/bin/hook xxx", 13) == 0);
        inv = inventory_free(inv);

        /* a value that starts far out: the first piece ends after the '=' */
        p = text + sprintf(text, CERT_HEAD "exec =");
        memset(p, ' ', 400);
        strcpy(p + 400, "/bin/far\n");
        inv = parse_ok(text);
        assert_string_equal(inv->certs[0]->x->exec, "/bin/far");
        inv = inventory_free(inv);

        /* a long line with nowhere to break is refused, naming its line, never cut */
        p = text + sprintf(text, CERT_HEAD "exec = ");
        for (unsigned i = 0; i < 300; i++)
                p += sprintf(p, "# ");
        strcpy(p, "\n");
        assert_error(text, "test.conf:3: line too long to read in pieces of 197 characters with no place to "
                           "break it: continue the value on indented lines");
        /* a key longer than a piece, and a header longer than inih's buffer */
        p = text + sprintf(text, CERT_HEAD);
        memset(p, 'k', 250);
        strcpy(p + 250, " = v\n");
        assert_error(text, "test.conf:3: line too long to read in pieces of 197 characters with no place to "
                           "break it: continue the value on indented lines");
        p = text + sprintf(text, "[certificate \"");
        memset(p, 'n', 190);
        strcpy(p + 190, "\"]\n");
        assert_error(text, "test.conf:1: section header too long (max 198 characters)");
}

/* What inih would take otherwise: a key without a name, a key given twice, a long key. (A NUL, which
 * would end a line early inside inih, is refused by the reader: test_load_errors, test_chunks.) */
static void test_inih_edges(_unused_ void **state) {
        _cleanup_inventory_ Inventory *inv = NULL;
        char *err = NULL;

        assert_error(CERT_HEAD "= v\n", "test.conf:3: no key before '='");
        /* one byte order mark is skipped, by the reader, not by inih too: a second one is text */
        assert_error("\xef\xbb\xbf\xef\xbb\xbf[agent]\n", "test.conf:1: expected 'key = value' or a [section] header");
        inv = inventory_new();
        assert_non_null(inv);
        /* a key given twice in one block names both lines; in a later block of the section the later wins,
         * continuation lines of the first do not leak into it */
        assert_error(CERT_HEAD "names = a.example\n  b.example\n; between\nnames = c.example\n",
                     "test.conf:6: names given twice in [certificate \"x\"] (first at line 3): one line per key; a "
                     "long value continues on indented lines");
        assert_int_equal(config_parse_string(inv,
                                             CERT_HEAD "names = a.example\n  b.example\n"
                                                       "; between\n"
                                                       "[certificate \"x\"]\nnames = c.example\n"
                                                       "key = /k1\n[certificate \"x\"]\nkey: /k2 ; the last\n",
                                             "test.conf", &err),
                         0);
        assert_null(err);
        assert_strv(inv->certs[0]->names, (const char *const[]) { "c.example", NULL });
        assert_string_equal(inv->certs[0]->key, "/k2");
        /* a section given twice merges, in one file as in conf.d */
        assert_int_equal(config_parse_string(inv, "[certificate \"x\"]\nexec = /bin/true\n", "more.conf", &err),
                         0);
        assert_string_equal(inv->certs[0]->key, "/k2");
        assert_string_equal(inv->certs[0]->x->exec, "/bin/true");
        assert_int_equal(inv->n_certs, 1);
        /* inih's 49-byte key buffer: a long unknown key is named whole */
        assert_error(CERT_HEAD "a-key-that-is-much-longer-than-the-fifty-bytes-inih-keeps = 1\n  2\n",
                     "test.conf:3: unknown key 'a-key-that-is-much-longer-than-the-fifty-bytes-inih-keeps' in "
                     "[certificate \"x\"]");
}

/* A scratch directory with a main file and conf.d/. */
typedef struct Scratch {
        char dir[64];
        char main[128];
} Scratch;

static void write_file(const char *dir, const char *name, const char *text) {
        char path[1024];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "we");
        assert_non_null(f);
        fputs(text, f);
        assert_int_equal(fclose(f), 0);
}

static void scratch_init(Scratch *s) {
        strcpy(s->dir, "/tmp/test-config-XXXXXX");
        assert_non_null(mkdtemp(s->dir));
        snprintf(s->main, sizeof(s->main), "%s/certherd.conf", s->dir);
}

static void scratch_done(Scratch *s) {
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
        assert_int_equal(system(cmd), 0);
}

/* config_load() packs each set with its strings and shares what neighbouring sets repeat; every
 * field reads as before, lookups find the packed set, and ASan sees no leak or double free. */
static void test_load_packed(_unused_ void **state) {
        _cleanup_inventory_ Inventory *inv = NULL;
        char *err = NULL;
        CertConfig *a, *b, *c;
        Scratch s;

        scratch_init(&s);
        write_file(s.dir, "certherd.conf",
                   "[certificate \"a\"]\ncertificate = /a.crt\nkey = /a.key\nca = /ca.crt\n"
                   "names = a.test 192.0.2.1 uri:spiffe://x/a\nreload = nginx.service\n"
                   "[certificate \"b\"]\ncertificate = /b.crt\nca = /ca.crt\nnames = b.test\nexec = /bin/true\n"
                   "verify = tls://localhost:443\n"
                   "[certificate \"c\"]\ncertificate = /c.crt\nca = /other-ca.crt\n");
        if (config_load(s.main, &inv, &err) < 0)
                fail_msg("%s", err);
        assert_int_equal(inv->n_certs, 3);
        a = inventory_find_cert(inv, "a");
        b = inventory_find_cert(inv, "b");
        c = inventory_find_cert(inv, "c");
        assert_ptr_equal(a, inv->certs[0]);
        assert_ptr_equal(b, inv->certs[1]);
        assert_ptr_equal(c, inv->certs[2]);
        assert_true(a->packed && b->packed && c->packed);
        assert_string_equal(a->name, "a");
        assert_string_equal(a->certificate, "/a.crt");
        assert_string_equal(a->key, "/a.key");
        assert_string_equal(a->ca, "/ca.crt");
        assert_ptr_equal(a->ca, b->ca); /* one copy */
        assert_string_equal(c->ca, "/other-ca.crt");
        assert_string_equal(a->file, s.main);
        assert_ptr_equal(a->file, c->file);
        assert_int_equal(strv_length(a->names), 3);
        assert_string_equal(a->names[0], "a.test");
        assert_string_equal(a->names[1], "192.0.2.1");
        assert_string_equal(a->names[2], "uri:spiffe://x/a");
        assert_null(a->names[3]);
        assert_string_equal(a->reload[0], "nginx.service");
        assert_null(a->reload[1]);
        assert_null(a->x->restart);
        assert_string_equal(b->names[0], "b.test");
        assert_string_equal(b->x->exec, "/bin/true");
        assert_string_equal(b->x->verify[0], "tls://localhost:443");
        assert_null(b->key);
        assert_null(c->names);
        assert_int_equal(c->line, 13);
        scratch_done(&s);
}

static void test_conf_d(_unused_ void **state) {
        _cleanup_inventory_ Inventory *inv = NULL;
        char confd[128], path[256], *err = NULL;
        CertConfig *c;
        Scratch s;

        scratch_init(&s);
        write_file(s.dir, "certherd.conf",
                   "[agent]\nwarn-before = 20d\n"
                   "[certificate \"web\"]\ncertificate = /main.crt\nowner = root\n");
        snprintf(confd, sizeof(confd), "%s/conf.d", s.dir);
        assert_int_equal(mkdir(confd, 0755), 0);
        /* written out of order: the loader must sort */
        write_file(confd, "20-b.conf", "[certificate \"web\"]\ncertificate = /20.crt\n"
                                       "[certificate \"db\"]\ncertificate = /db.crt\n");
        write_file(confd, "10-a.conf", "[certificate \"web\"]\ncertificate = /10.crt\nmode = 0640\n"
                                       "[agent]\nwarn-before = 21d\n");
        write_file(confd, "README", "not = parsed\n[garbage\n");
        write_file(confd, ".30-hidden.conf", "[garbage\n");
        /* byte order: digits < 'Z' < 'a' */
        write_file(confd, "Z-upper.conf", "[certificate \"web\"]\nkey = /Z.key\n");
        snprintf(path, sizeof(path), "%s/dir.conf", confd);
        assert_int_equal(mkdir(path, 0755), 0);

        assert_int_equal(config_load(s.main, &inv, &err), 0);
        assert_null(err);
        assert_string_equal(inv->path, s.main);
        c = inventory_find_cert(inv, "web");
        assert_string_equal(c->certificate, "/20.crt"); /* 20-b after 10-a */
        assert_string_equal(c->owner, "root");          /* merged from the main file */
        assert_int_equal(c->mode, 0640);
        assert_string_equal(c->key, "/Z.key");
        assert_string_equal(c->file, s.main); /* first definition */
        assert_int_equal(c->line, 3);
        assert_int_equal(inv->agent.warn_before.usec, 21 * USEC_PER_DAY);
        assert_int_equal(inv->n_certs, 2);
        assert_string_equal(inv->certs[1]->name, "db");
        snprintf(path, sizeof(path), "%s/20-b.conf", confd);
        assert_string_equal(inv->certs[1]->file, path);
        assert_int_equal(inv->certs[1]->line, 3);
        inventory_free(TAKE_PTR(inv));

        /* an error in a drop-in names the drop-in */
        write_file(confd, "50-bad.conf", "\n[certificate \"web\"]\nbogus = 1\n");
        assert_int_equal(config_load(s.main, &inv, &err), -EINVAL);
        assert_null(inv);
        snprintf(path, sizeof(path), "%s/50-bad.conf:3: unknown key 'bogus' in [certificate \"web\"]", confd);
        assert_string_equal(err, path);
        free(TAKE_PTR(err));

        /* validation sees the merged result: the main file's issuer, a drop-in's [ca] */
        snprintf(path, sizeof(path), "%s/50-bad.conf", confd);
        unlink(path);
        write_file(s.dir, "certherd.conf", "[certificate \"web\"]\ncertificate = /c\nkey = /k\n"
                                           "names = web.example\nissuer = ca:int\n");
        write_file(confd, "90-ca.conf", "[ca \"int\"]\ncertificate = /ca\nkey = /cak\n");
        /* through $CERTHERD_CONFIG */
        setenv("CERTHERD_CONFIG", s.main, 1);
        assert_int_equal(config_load(NULL, &inv, &err), 0);
        assert_int_equal(inventory_find_cert(inv, "web")->issuer, ISSUER_CA);
        assert_string_equal(inventory_find_cert(inv, "web")->certificate, "/20.crt");
        unsetenv("CERTHERD_CONFIG");
        scratch_done(&s);
}

static void test_load_errors(_unused_ void **state) {
        Inventory *inv = NULL;
        char *err = NULL, path[256], expected[300];
        Scratch s;

        assert_int_equal(config_load("/nonexistent/certherd.conf", &inv, &err), -ENOENT);
        assert_null(inv);
        assert_string_equal(err, "/nonexistent/certherd.conf: No such file or directory");
        free(TAKE_PTR(err));
        assert_int_equal(config_load("/nonexistent/certherd.conf", &inv, NULL), -ENOENT);

        scratch_init(&s);
        assert_int_equal(config_load(s.dir, &inv, &err), -EISDIR);
        snprintf(expected, sizeof(expected), "%s: not a regular file (directory)", s.dir);
        assert_string_equal(err, expected);
        free(TAKE_PTR(err));

        /* no conf.d at all is fine; an empty file is a valid (empty) inventory */
        write_file(s.dir, "certherd.conf", "");
        assert_int_equal(config_load(s.main, &inv, &err), 0);
        assert_int_equal(inv->n_certs, 0);
        assert_string_equal(inv->agent.pin_directory, "/run/certherd/pins");
        inv = inventory_free(inv);

        /* a NUL byte would silently end the text */
        snprintf(path, sizeof(path), "%s/certherd.conf", s.dir);
        {
                FILE *f = fopen(path, "we");

                assert_non_null(f);
                fwrite("[agent]\n\0x", 1, 10, f);
                fclose(f);
        }
        assert_int_equal(config_load(s.main, &inv, &err), -EINVAL);
        snprintf(expected, sizeof(expected), "%s: contains a NUL byte", s.main);
        assert_string_equal(err, expected);
        free(TAKE_PTR(err));

        /* a relative main file: conf.d beside it */
        write_file(s.dir, "certherd.conf", "[certificate \"a\"]\ncertificate = /a\n");
        snprintf(path, sizeof(path), "%s/conf.d", s.dir);
        assert_int_equal(mkdir(path, 0755), 0);
        write_file(path, "x.conf", "[certificate \"a\"]\ncertificate = /b\n");
        assert_int_equal(chdir(s.dir), 0);
        assert_int_equal(config_load("certherd.conf", &inv, &err), 0);
        assert_string_equal(inv->certs[0]->certificate, "/b");
        inv = inventory_free(inv);
        assert_int_equal(chdir("/"), 0);

        /* devices and FIFOs are refused at once: reading them would never end or block */
        assert_int_equal(config_load("/dev/zero", &inv, &err), -EINVAL);
        assert_string_equal(err, "/dev/zero: not a regular file (device)");
        free(TAKE_PTR(err));
        snprintf(path, sizeof(path), "%s/conf.d/y.conf", s.dir);
        assert_int_equal(mkfifo(path, 0644), 0);
        assert_int_equal(config_load(s.main, &inv, &err), -EINVAL);
        snprintf(expected, sizeof(expected), "%s: not a regular file (FIFO)", path);
        assert_string_equal(err, expected);
        free(TAKE_PTR(err));
        assert_int_equal(unlink(path), 0);

        assert_null(inventory_free(NULL));
        scratch_done(&s);
}

/* As root, an inventory file that another user owns or may write is refused (its
 * exec = would run as root). */
static void test_load_ownership(_unused_ void **state) {
        Inventory *inv = NULL;
        char *err = NULL, confd[256], path[300], expected[600];
        Scratch s;

        if (geteuid() != 0) {
                print_message("not root: skipping the ownership rules, which apply to root only\n");
                skip();
        }
        scratch_init(&s);
        write_file(s.dir, "certherd.conf", "[certificate \"a\"]\ncertificate = /a\n");
        snprintf(confd, sizeof(confd), "%s/conf.d", s.dir);
        assert_int_equal(mkdir(confd, 0755), 0);
        write_file(confd, "50-evil.conf", "[certificate \"a\"]\nexec = /tmp/own-the-box\n");
        snprintf(path, sizeof(path), "%s/50-evil.conf", confd);

        /* owned by nobody */
        assert_int_equal(chown(path, 65534, 65534), 0);
        assert_int_equal(config_load(s.main, &inv, &err), -EPERM);
        assert_null(inv);
        snprintf(expected, sizeof(expected),
                 "%s: refusing an inventory file owned by uid 65534: running as root, it must belong to root", path);
        assert_string_equal(err, expected);
        free(TAKE_PTR(err));

        /* root's, but group-writable; then others-writable */
        assert_int_equal(chown(path, 0, 0), 0);
        assert_int_equal(chmod(path, 0664), 0);
        assert_int_equal(config_load(s.main, &inv, &err), -EPERM);
        snprintf(expected, sizeof(expected),
                 "%s: refusing an inventory file writable by its group (mode 0664): running as root, only its "
                 "owner may write it", path);
        assert_string_equal(err, expected);
        free(TAKE_PTR(err));
        assert_int_equal(chmod(path, 0646), 0);
        assert_int_equal(config_load(s.main, &inv, &err), -EPERM);
        assert_non_null(strstr(err, "writable by others (mode 0646)"));
        free(TAKE_PTR(err));

        /* the main file too */
        assert_int_equal(chmod(path, 0644), 0);
        assert_int_equal(chown(s.main, 65534, 0), 0);
        assert_int_equal(config_load(s.main, &inv, &err), -EPERM);
        snprintf(expected, sizeof(expected),
                 "%s: refusing an inventory file owned by uid 65534: running as root, it must belong to root", s.main);
        assert_string_equal(err, expected);
        free(TAKE_PTR(err));

        /* root's and 0644 (0600, 0640 alike): fine */
        assert_int_equal(chown(s.main, 0, 0), 0);
        assert_int_equal(chmod(path, 0640), 0);
        assert_int_equal(config_load(s.main, &inv, &err), 0);
        assert_string_equal(inv->certs[0]->x->exec, "/tmp/own-the-box");
        inv = inventory_free(inv);

        /* The directories: conf.d writable by its group, then another user's; the main directory too. */
        assert_int_equal(chmod(confd, 0775), 0);
        assert_int_equal(config_load(s.main, &inv, &err), -EPERM);
        snprintf(
            expected, sizeof(expected),
            "%s: refusing an inventory directory writable by its group (mode 0775): running as root, only "
            "its owner may write it",
            confd);
        assert_string_equal(err, expected);
        free(TAKE_PTR(err));
        assert_int_equal(chmod(confd, 0755), 0);
        assert_int_equal(chown(confd, 65534, 65534), 0);
        assert_int_equal(config_load(s.main, &inv, &err), -EPERM);
        assert_non_null(strstr(err, "refusing an inventory directory owned by uid 65534"));
        free(TAKE_PTR(err));
        assert_int_equal(chown(confd, 0, 0), 0);
        assert_int_equal(chmod(s.dir, 0777), 0);
        assert_int_equal(config_load(s.main, &inv, &err), -EPERM);
        assert_non_null(strstr(err, "writable by others (mode 0777)"));
        free(TAKE_PTR(err));
        assert_int_equal(chmod(s.dir, 0700), 0);

        /* A link in conf.d: root's is followed, another user's is not. */
        snprintf(path, sizeof(path), "%s/60-link.conf", confd);
        snprintf(expected, sizeof(expected), "%s/elsewhere.conf", s.dir);
        write_file(s.dir, "elsewhere.conf", "[certificate \"linked\"]\ncertificate = /l\n");
        assert_int_equal(symlink(expected, path), 0);
        assert_int_equal(config_load(s.main, &inv, &err), 0);
        assert_non_null(inventory_find_cert(inv, "linked"));
        inv = inventory_free(inv);
        assert_int_equal(lchown(path, 65534, 65534), 0);
        assert_int_equal(config_load(s.main, &inv, &err), -ENOLINK);
        assert_non_null(strstr(err, "symbolic link in the path not owned by root"));
        free(TAKE_PTR(err));
        scratch_done(&s);
}

/* Files are read in 64 KiB chunks: lines that straddle chunks, a line longer than a chunk, a NUL
 * byte far into the file, a last line without '\n'. */
static void test_chunks(_unused_ void **state) {
        _cleanup_free_ char *big = malloc(400000);
        Inventory *inv = NULL;
        char *err = NULL, expected[300];
        size_t n = 0;
        unsigned lines = 0;
        Scratch s;

        assert_non_null(big);
        scratch_init(&s);
        /* 7-byte comment lines shift the key lines across every chunk boundary */
        n += (size_t) sprintf(big + n, "[certificate \"a\"]\n");
        lines++;
        while (n < 200000) {
                /* one block per key: a key given twice in one block is an error */
                n += (size_t) sprintf(big + n, "; %04u\n[certificate \"a\"]\nexec = /bin/hook-%u\n", lines % 10000,
                                      lines);
                lines += 3;
        }
        n += (size_t) sprintf(big + n, "certificate = /last");
        write_file(s.dir, "certherd.conf", big);
        assert_int_equal(config_load(s.main, &inv, &err), 0);
        assert_string_equal(inv->certs[0]->certificate, "/last");
        snprintf(expected, sizeof(expected), "/bin/hook-%u", lines - 3);
        assert_string_equal(inv->certs[0]->x->exec, expected);
        inv = inventory_free(inv);

        /* an error far into the file has the right line number */
        strcpy(big + n, "\nbogus = 1\n");
        write_file(s.dir, "certherd.conf", big);
        assert_int_equal(config_load(s.main, &inv, &err), -EINVAL);
        snprintf(expected, sizeof(expected), "%s:%u: unknown key 'bogus' in [certificate \"a\"]", s.main,
                 lines + 2);
        assert_string_equal(err, expected);
        free(TAKE_PTR(err));

        /* a line of 100 000 characters */
        memset(big + n, 'x', 100000);
        big[n + 100000] = 0;
        write_file(s.dir, "certherd.conf", big);
        assert_int_equal(config_load(s.main, &inv, &err), -EINVAL);
        snprintf(expected, sizeof(expected), "%s:%u: line too long (max 65535 characters)", s.main, lines + 1);
        assert_string_equal(err, expected);
        free(TAKE_PTR(err));

        /* a NUL byte in the fourth chunk */
        {
                char path[256];
                FILE *f;

                snprintf(path, sizeof(path), "%s/certherd.conf", s.dir);
                f = fopen(path, "we");
                assert_non_null(f);
                fwrite(big, 1, n, f);
                fwrite("\n\0", 1, 2, f);
                assert_int_equal(fclose(f), 0);
        }
        assert_int_equal(config_load(s.main, &inv, &err), -EINVAL);
        snprintf(expected, sizeof(expected), "%s: contains a NUL byte", s.main);
        assert_string_equal(err, expected);
        free(TAKE_PTR(err));
        scratch_done(&s);
}

static char *many_sections(size_t n) {
        size_t size = n * 200 + 100;
        char *text = malloc(size), *p = text;

        assert_non_null(text);
        p += sprintf(p, "[ca \"int\"]\ncertificate = /ca.crt\nkey = /ca.key\n");
        for (size_t i = 0; i < n; i++)
                p += sprintf(p,
                             "[certificate \"svc-%zu\"]\n"
                             "certificate = /etc/ssl/svc-%zu.crt\n"
                             "key = /etc/ssl/svc-%zu.key\n"
                             "names = svc-%zu.example.com\n"
                             "issuer = ca:int\n"
                             "\n",
                             i, i, i, i);
        return text;
}

static void test_many_sections(_unused_ void **state) {
        _cleanup_inventory_ Inventory *inv = NULL;
        _cleanup_free_ char *text = many_sections(10000);
        char name[128], *err = NULL;
        Scratch s;

        inv = parse_ok(text);
        assert_int_equal(inv->n_certs, 10000);
        for (size_t i = 0; i < 10000; i++) {
                CertConfig *c;

                snprintf(name, sizeof(name), "svc-%zu", i);
                c = inventory_find_cert(inv, name);
                assert_ptr_equal(c, inv->certs[i]);
                assert_string_equal(c->name, name);
                assert_int_equal(c->line, 4 + i * 6);
                assert_int_equal(c->issuer, ISSUER_CA);
        }
        assert_string_equal(inv->certs[9999]->names[0], "svc-9999.example.com");
        assert_null(inventory_find_cert(inv, "svc-10000"));
        inventory_free(TAKE_PTR(inv));

        /* and through config_load(), with a drop-in merging into one of them */
        scratch_init(&s);
        write_file(s.dir, "certherd.conf", text);
        snprintf(name, sizeof(name), "%s/conf.d", s.dir);
        assert_int_equal(mkdir(name, 0755), 0);
        write_file(name, "override.conf", "[certificate \"svc-5000\"]\nkey-type = rsa-4096\n");
        assert_int_equal(config_load(s.main, &inv, &err), 0);
        assert_int_equal(inv->n_certs, 10000);
        assert_int_equal(inventory_find_cert(inv, "svc-5000")->key_type, KEY_TYPE_RSA_4096);
        scratch_done(&s);
}

/* Other modules' tests build inventories by hand: lookups and merges must still work. */
static void test_hand_built(_unused_ void **state) {
        CertConfig c1 = { .name = (char *) "one", .x = &cert_extra_none },
                   c2 = { .name = (char *) "two", .x = &cert_extra_none };
        CertConfig *certs[] = { &c1, &c2 };
        CaConfig ca = { .name = (char *) "int" };
        CaConfig *cas[] = { &ca };
        Inventory inv = { .certs = certs, .n_certs = 2, .ca = cas, .n_ca = 1 };
        Inventory *parsed;
        char *err = NULL;

        assert_ptr_equal(inventory_find_cert(&inv, "two"), &c2);
        assert_ptr_equal(inventory_find_ca(&inv, "int"), &ca);
        assert_null(inventory_find_acme(&inv, "int"));
        assert_null(inventory_find_cert(&inv, "three"));
        assert_int_equal(cert_warn_before(&inv, &c1).set, false);

        /* an inventory that got sections appended after parsing rebuilds its index before merging */
        parsed = inventory_new();
        assert_int_equal(config_parse_string(parsed, "[certificate \"a\"]\ncertificate = /a\n", "x", &err),
                         0);
        parsed->certs = reallocarray(parsed->certs, 2, sizeof(CertConfig *));
        parsed->certs[1] = calloc(1, sizeof(CertConfig));
        parsed->certs[1]->name = strdup("b");
        parsed->n_certs = 2;
        assert_non_null(inventory_find_cert(parsed, "b"));
        assert_int_equal(config_parse_string(parsed, "[certificate \"b\"]\ncertificate = /b\n", "y", &err),
                         0);
        assert_int_equal(parsed->n_certs, 2);
        assert_string_equal(parsed->certs[1]->certificate, "/b");
        inventory_free(parsed);
}

/* uri:/email: names, permitted-names (RFC 5280 / OpenSSL leading-dot reading), subjects. */
static void test_pki_names(void **state) {
        char *permitted[] = { ".internal.example", "corp.example", "10.0.0.0/8", "fd00::/8", NULL };
        char *dns_only[] = { "corp.example", NULL };
        _cleanup_strv_free_ char **parts = NULL;

        assert_int_equal(config_name_type("uri:spiffe://example.org/a"), NAME_URI);
        assert_int_equal(config_name_type("email:a@example.org"), NAME_EMAIL);
        assert_int_equal(config_name_type("10.1.2.3"), NAME_IP);
        assert_int_equal(config_name_type("www.example.org"), NAME_DNS);
        assert_string_equal(config_name_value("uri:spiffe://example.org/a"), "spiffe://example.org/a");
        assert_true(config_name_is_valid("uri:spiffe://example.org/ns/prod/sa/api"));
        assert_true(config_name_is_valid("uri:https://example.org/x?y=1"));
        assert_true(config_name_is_valid("email:ops@example.org"));
        assert_false(config_name_is_valid("uri:spiffe:///path"));   /* no trust domain */
        assert_false(config_name_is_valid("uri:no-scheme"));
        assert_false(config_name_is_valid("uri:1x://a"));
        assert_false(config_name_is_valid("uri:"));
        assert_false(config_name_is_valid("email:nobody"));
        assert_false(config_name_is_valid("email:@example.org"));
        assert_false(config_name_is_valid("email:a@b@example.org"));
        assert_false(config_name_is_valid("email:a@*.example.org"));
        assert_false(config_san_is_valid("uri:spiffe://example.org/a")); /* ACME identifiers stay DNS/IP */

        assert_true(config_permitted_name_is_valid(".internal.example"));
        assert_true(config_permitted_name_is_valid("10.0.0.0/8"));
        assert_true(config_permitted_name_is_valid("fd00::/8"));
        assert_false(config_permitted_name_is_valid("10.0.0.0/33"));
        assert_false(config_permitted_name_is_valid("10.0.0.0/"));
        assert_false(config_permitted_name_is_valid("*.example"));
        assert_false(config_permitted_name_is_valid("10.0.0.0"));

        assert_true(config_name_permitted(permitted, "api.internal.example"));
        assert_true(config_name_permitted(permitted, "a.b.internal.example"));
        assert_true(config_name_permitted(permitted, "*.internal.example"));
        assert_false(config_name_permitted(permitted, "internal.example")); /* leading dot: below only */
        assert_false(config_name_permitted(permitted, "xinternal.example"));
        assert_true(config_name_permitted(permitted, "corp.example"));
        assert_true(config_name_permitted(permitted, "www.corp.example"));
        assert_false(config_name_permitted(permitted, "evilcorp.example"));
        assert_true(config_name_permitted(permitted, "API.Internal.Example"));
        assert_true(config_name_permitted(permitted, "10.255.0.1"));
        assert_false(config_name_permitted(permitted, "11.0.0.1"));
        assert_true(config_name_permitted(permitted, "fd12::1"));
        assert_false(config_name_permitted(permitted, "fe80::1"));
        assert_true(config_name_permitted(permitted, "uri:spiffe://anything/x")); /* not constrained */
        assert_true(config_name_permitted(dns_only, "192.0.2.1"));               /* no IP subtree */
        assert_false(config_name_permitted(dns_only, "example.net"));
        assert_true(config_name_permitted(NULL, "example.net"));
        /* uri: prefixes and email: domains, enforced by certherd; each constrains only its own kind. */
        {
                char *const spiffe[] = { (char *) "corp.example", (char *) "uri:spiffe://example.org/",
                                         (char *) "email:example.org", NULL };

                assert_true(config_permitted_name_is_valid("uri:spiffe://example.org/"));
                assert_true(config_permitted_name_is_valid("email:example.org"));
                assert_true(config_permitted_name_is_valid("email:.example.org"));
                assert_false(config_permitted_name_is_valid("uri:"));
                assert_false(config_permitted_name_is_valid("email:"));
                assert_false(config_permitted_name_is_valid("email:10.0.0.0/8"));
                assert_false(config_permitted_name_is_valid("email:a@example.org"));
                assert_true(config_name_permitted(spiffe, "uri:spiffe://example.org/ns/web"));
                assert_false(config_name_permitted(spiffe, "uri:spiffe://example.org.evil/ns/web"));
                assert_false(config_name_permitted(spiffe, "uri:https://example.org/"));
                assert_true(config_name_permitted(spiffe, "email:ops@example.org"));
                assert_true(config_name_permitted(spiffe, "email:ops@mail.example.org"));
                assert_false(config_name_permitted(spiffe, "email:ops@evilexample.org"));
                assert_false(config_name_permitted(spiffe, "email:ops@example.org.evil"));
                assert_true(config_name_permitted(spiffe, "www.corp.example"));
                assert_false(config_name_permitted(spiffe, "example.org")); /* uri:/email: are no DNS subtree */
                assert_true(config_name_permitted(permitted, "email:ops@anywhere.test")); /* no email: entry */
        }

        assert_int_equal(config_subject_split("CN=gateway, o=Example\\, Inc., OU = Platform", &parts), 0);
        assert_int_equal(strv_length(parts), 6);
        assert_string_equal(parts[0], "CN");
        assert_string_equal(parts[1], "gateway");
        assert_string_equal(parts[2], "O");
        assert_string_equal(parts[3], "Example, Inc.");
        assert_string_equal(parts[4], "OU");
        assert_string_equal(parts[5], "Platform");
        assert_true(config_subject_is_valid("C=DE, serialNumber=42, DC=example, UID=u1, L=x, ST=y"));
        assert_false(config_subject_is_valid("C=Germany"));
        assert_false(config_subject_is_valid("XX=1"));
        assert_false(config_subject_is_valid("CN="));
        assert_false(config_subject_is_valid("CN=a+OU=b"));
        assert_false(config_subject_is_valid("CN=a,"));
        assert_false(config_subject_is_valid("just text"));
}

/* The built-in warn-before and critical-before scale with short lifetimes (a third and a sixth of it, at
 * most 14 and 7 days), so that a fresh 24-hour or 6-day certificate is ok; written values are kept. */
static void test_thresholds_scale(void **state) {
        Inventory *inv = parse_ok("[certificate \"short\"]\ncertificate = /a\n"
                                  "[certificate \"fixed\"]\ncertificate = /b\nwarn-before = 14d\ncritical-before = 7d\n");
        const CertConfig *s = inventory_find_cert(inv, "short"), *f = inventory_find_cert(inv, "fixed");

        assert_non_null(s);
        assert_non_null(f);
        assert_int_equal(threshold_resolve(cert_warn_before(inv, s), USEC_PER_DAY), 8 * USEC_PER_HOUR);
        assert_int_equal(threshold_resolve(cert_critical_before(inv, s), USEC_PER_DAY), 4 * USEC_PER_HOUR);
        assert_int_equal(threshold_resolve(cert_warn_before(inv, s), 6 * USEC_PER_DAY), 2 * USEC_PER_DAY);
        assert_int_equal(threshold_resolve(cert_critical_before(inv, s), 6 * USEC_PER_DAY), USEC_PER_DAY);
        /* 90 days: the plain defaults */
        assert_int_equal(threshold_resolve(cert_warn_before(inv, s), 90 * USEC_PER_DAY), 14 * USEC_PER_DAY);
        assert_int_equal(threshold_resolve(cert_critical_before(inv, s), 90 * USEC_PER_DAY), 7 * USEC_PER_DAY);
        /* written values win, even where they make a short certificate critical at once */
        assert_int_equal(threshold_resolve(cert_warn_before(inv, f), USEC_PER_DAY), 14 * USEC_PER_DAY);
        assert_int_equal(threshold_resolve(cert_critical_before(inv, f), USEC_PER_DAY), 7 * USEC_PER_DAY);
        inventory_free(inv);
}

/* Maintenance windows: the grammar, its rendering, and the next window in local time. */
static void test_windows(void **state) {
        static const struct {
                const char *in, *out;
        } good[] = {
                { "Mon..Fri 02:00-04:00", "Mon..Fri 02:00-04:00" },
                { "mon..fri 02:00-04:00, Sat,Sun 10:00-12:00", "Mon..Fri 02:00-04:00, Sat..Sun 10:00-12:00" },
                { "Fri..Mon 22:00-02:00", "Mon,Fri..Sun 22:00-02:00" },
                { "Mon,Wed 00:00-24:00", "Mon,Wed 00:00-24:00" },
                { "03:00-05:00", "03:00-05:00" },
                { "always", "always" },
        };
        static const char *const bad[] = { "", "Mon", "Mon 2:00-04:00", "Mon 02:00-02:00", "Mon 24:00-01:00",
                                           "Mon 02:00-24:01", "Mon 02:60-03:00", "Mox 02:00-03:00",
                                           "Mon..Fri 02:00-04:00,", "Mon 02:00-04:00 Tue", "Mon.Fri 02:00-04:00",
                                           "Mon 02:00-03:00, Mon 02:00-03:00, Mon 02:00-03:00, Mon 02:00-03:00, "
                                           "Mon 02:00-03:00, Mon 02:00-03:00, Mon 02:00-03:00, Mon 02:00-03:00, "
                                           "Mon 02:00-03:00" };
        char buf[WINDOW_FORMAT_MAX];
        WindowList w;
        usec_t start, end, t;
        Inventory *inv;

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                assert_int_equal(window_parse(good[i].in, &w), 0);
                assert_string_equal(window_format(&w, buf, sizeof(buf)), good[i].out);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_true(window_parse(bad[i], &w) < 0);

        /* Friday 2027-01-15 08:00 UTC. */
        t = (usec_t) 1800000000 * USEC_PER_SEC;
        setenv("TZ", "UTC0", 1);
        tzset();
        assert_int_equal(window_parse("Mon..Fri 02:00-04:00", &w), 0);
        assert_int_equal(window_next(&w, t, &start, &end), 0);
        assert_true(start == t + 2 * USEC_PER_DAY + 18 * USEC_PER_HOUR); /* Monday 02:00 */
        assert_true(end == start + 2 * USEC_PER_HOUR);
        assert_false(window_open(&w, t));
        assert_true(window_open(&w, start) && !window_open(&w, end));
        /* Crossing midnight: Friday 22:00 to Saturday 02:00, still open on Saturday at 01:00. */
        assert_int_equal(window_parse("Fri 22:00-02:00", &w), 0);
        assert_int_equal(window_next(&w, t + 17 * USEC_PER_HOUR, &start, &end), 0);
        assert_true(start == t + 14 * USEC_PER_HOUR && end == t + 18 * USEC_PER_HOUR);
        /* In local time: 02:00 in Berlin is 01:00 UTC in winter, 00:00 UTC in summer (DST from 2027-03-28). */
        setenv("TZ", "Europe/Berlin", 1);
        tzset();
        assert_int_equal(window_parse("Mon 02:00-04:00", &w), 0);
        assert_int_equal(window_next(&w, t, &start, &end), 0);
        assert_true(start == t + 2 * USEC_PER_DAY + 17 * USEC_PER_HOUR);
        assert_int_equal(window_next(&w, t + 10 * USEC_PER_WEEK, &start, &end), 0); /* after 2027-03-28 */
        assert_true(start == t + 10 * USEC_PER_WEEK + 2 * USEC_PER_DAY + 16 * USEC_PER_HOUR);
        /* No windows: always open. */
        assert_int_equal(window_parse("always", &w), 0);
        assert_int_equal(window_next(&w, t, &start, &end), 0);
        assert_true(start == 0 && end == USEC_INFINITY);
        setenv("TZ", "UTC0", 1);
        tzset();

        /* [agent] gives the default, a set its own or "always". */
        inv = parse_ok("[agent]\nwindow = Sat 02:00-04:00\n[certificate \"a\"]\ncertificate = /a\n"
                       "[certificate \"b\"]\ncertificate = /b\nwindow = always\n"
                       "[certificate \"c\"]\ncertificate = /c\nwindow = Sun 01:00-02:00\n");
        assert_string_equal(window_format(cert_window(inv, inventory_find_cert(inv, "a")), buf, sizeof(buf)),
                            "Sat 02:00-04:00");
        assert_int_equal(cert_window(inv, inventory_find_cert(inv, "b"))->n, 0);
        assert_string_equal(window_format(cert_window(inv, inventory_find_cert(inv, "c")), buf, sizeof(buf)),
                            "Sun 01:00-02:00");
        inventory_free(inv);
        assert_error("[certificate \"a\"]\ncertificate = /a\nwindow = Mon 25:00-26:00\n",
                     "test.conf:3: invalid value 'Mon 25:00-26:00' for window: expected weekly windows such as "
                     "'Mon..Fri 02:00-04:00, Sat 10:00-12:00' (up to 8), or always");
}

static void test_rate_limits(void **state) {
        RateLimit r;
        Inventory *inv;
        const AcmeConfig *a;

        assert_int_equal(rate_parse("300/3h", &r), 0);
        assert_true(r.set && r.count == 300 && r.period == 3 * USEC_PER_HOUR);
        assert_int_equal(rate_parse("0", &r), 0);
        assert_true(r.set && r.count == 0);
        assert_true(rate_parse("5", &r) < 0);
        assert_true(rate_parse("5/", &r) < 0);
        assert_true(rate_parse("5/0s", &r) < 0);
        assert_true(rate_parse("/3h", &r) < 0);
        assert_true(rate_parse("99999999/1h", &r) < 0);
        inv = parse_ok("[acme \"le\"]\ndirectory = https://x/dir\nmax-orders = 2/1h\nmax-duplicates = 0\n"
                       "max-failed-validations = 5/1h\n");
        a = inventory_find_acme(inv, "le");
        assert_non_null(a);
        assert_true(a->max_orders.count == 2 && a->max_orders.period == USEC_PER_HOUR);
        assert_true(a->max_duplicates.set && a->max_duplicates.count == 0);
        assert_true(a->max_failed_validations.count == 5);
        inventory_free(inv);
        assert_error("[acme \"le\"]\ndirectory = https://x/dir\nmax-orders = lots\n",
                     "test.conf:3: invalid value 'lots' for max-orders: expected COUNT/PERIOD such as 300/3h, or 0 "
                     "for no limit");
}

/* A key given twice in one [section] block is an error naming both lines; a later block of the same
 * section, another section, or another file (conf.d) may set it again. */
static void test_duplicate_keys(void **state) {
        Inventory *inv;

        assert_error(CERT_HEAD "names = a.test\nnames = b.test\n",
                     "test.conf:4: names given twice in [certificate \"x\"] (first at line 3): one line per key; a "
                     "long value continues on indented lines");
        /* a later block of the same section merges, as a later file does */
        inv = parse_ok(CERT_HEAD "names = a.test\n[agent]\nwarn-before = 9d\n[certificate \"x\"]\nnames = b.test\n");
        assert_strv(inventory_find_cert(inv, "x")->names, (const char *const[]) { "b.test", NULL });
        inventory_free(inv);
        inv = parse_ok(CERT_HEAD "names = a.test\n[certificate \"y\"]\ncertificate = /d\nnames = a.test\n");
        inventory_free(inv);
}

/* owner = names a user and group this system has, when the inventory is loaded. */
static void test_owner_known(void **state) {
        Inventory *inv;

        assert_error(CERT_HEAD "owner = certherd-no-such-user-here\n",
                     "test.conf:3: owner = certherd-no-such-user-here: no such user or group on this system");
        assert_error(CERT_HEAD "owner = root:certherd-no-such-group\n",
                     "test.conf:3: owner = root:certherd-no-such-group: no such user or group on this system");
        inv = parse_ok(CERT_HEAD "owner = root:root\n");
        inventory_free(inv);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_design_example),
                cmocka_unit_test(test_other_values),
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_merge_in_one_file),
                cmocka_unit_test(test_syntax),
                cmocka_unit_test(test_continuation),
                cmocka_unit_test(test_hundred_names),
                cmocka_unit_test(test_renew_before_warnings),
                cmocka_unit_test(test_client_usage_warning),
                cmocka_unit_test(test_profile),
                cmocka_unit_test(test_long_section_name),
                cmocka_unit_test(test_env),
                cmocka_unit_test(test_thresholds),
                cmocka_unit_test(test_threshold_order),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_validation),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_value_helpers),
                cmocka_unit_test(test_strings),
                cmocka_unit_test(test_line_too_long),
                cmocka_unit_test(test_long_line_pieces),
                cmocka_unit_test(test_inih_edges),
                cmocka_unit_test(test_conf_d),
                cmocka_unit_test(test_duplicate_keys),
                cmocka_unit_test(test_owner_known),
                cmocka_unit_test(test_load_errors),
                cmocka_unit_test(test_load_packed),
                cmocka_unit_test(test_load_ownership),
                cmocka_unit_test(test_chunks),
                cmocka_unit_test(test_many_sections),
                cmocka_unit_test(test_hand_built),
                cmocka_unit_test(test_pki_names),
                cmocka_unit_test(test_outputs),
                cmocka_unit_test(test_thresholds_scale),
                cmocka_unit_test(test_windows),
                cmocka_unit_test(test_rate_limits),
        };

        /* Files written here must not be group-writable: run as root, config_load() refuses those. */
        umask(022);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
