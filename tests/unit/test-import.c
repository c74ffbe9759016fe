/* SPDX-License-Identifier: GPL-3.0-or-later */
/* import: the parsers of certbot's, acme.sh's and certmonger's files, the JWK account key import and the
 * inventory writer. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "config.h"
#include "discover.h"
#include "gnutls-util.h"
#include "import-acmesh.h"
#include "import-certbot.h"
#include "import-certmonger.h"
#include "import-inventory.h"
#include "jws.h"
#include "keygen.h"
#include "test-fs.h"

static int cb(const char *text, CertbotConf **c, char **err) {
        return certbot_conf_parse(text, strlen(text), c, err);
}

static void test_certbot_conf(void **state) {
        CertbotConf *c = NULL;
        const CertbotEntry *e;
        char *err = NULL;

        assert_int_equal(cb("# comment\nversion = 2.1.0\ncert = /l/cert.pem\n\n[renewalparams]\n"
                            "webroot_path = /var/www/html,\nrenew_hook = 'echo \"a, b\"'   # inline\n"
                            "pre_hook = \"x\"\nempty =\n[[webroot_map]]\nexample.com = /srv/a\n"
                            "\"*.example.com\" = /srv/b\n",
                            &c, &err),
                         0);
        assert_string_equal(certbot_conf_value(c, "", "cert"), "/l/cert.pem");
        e = certbot_conf_get(c, "renewalparams", "webroot_path");
        assert_non_null(e);
        assert_true(e->is_list);
        assert_string_equal(e->values[0], "/var/www/html");
        assert_null(e->values[1]);
        assert_string_equal(certbot_conf_value(c, "renewalparams", "renew_hook"), "echo \"a, b\"");
        assert_string_equal(certbot_conf_value(c, "renewalparams", "pre_hook"), "x");
        assert_string_equal(certbot_conf_value(c, "renewalparams", "empty"), "");
        assert_string_equal(certbot_conf_value(c, "renewalparams/webroot_map", "example.com"), "/srv/a");
        assert_string_equal(certbot_conf_value(c, "renewalparams/webroot_map", "*.example.com"), "/srv/b");
        assert_null(certbot_conf_value(c, "", "renew_hook"));
        certbot_conf_free(c);

        static const struct {
                const char *text, *err;
        } bad[] = {
                { "a = 1\na = 2\n", "2: a key given twice" },
                { "[[sub]]\nx = 1\n", "1: a subsection outside of a section" },
                { "x = '''multi\nline'''\n", "1: multi-line (triple-quoted) values are not supported" },
                { "x = 'open\n", "1: unterminated quote" },
                { "x = 'a' b\n", "1: text after a quoted value" },
                { "just words\n", "1: expected 'key = value'" },
                { "[a\n", "1: invalid section header" },
                { "x = a,,b\n", "1: an empty list item" },
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                c = NULL;
                err = NULL;
                assert_int_equal(cb(bad[i].text, &c, &err), -EBADMSG);
                assert_null(c);
                assert_string_equal(err, bad[i].err);
                free(err);
        }
        assert_int_equal(certbot_conf_parse("a = 1\0b", 7, &c, &err), -EBADMSG);
        free(err);
}

static void test_acmesh(void **state) {
        char **kv = NULL, *err = NULL, *v = NULL;
        const char *text = "Le_Domain='example.com'\nLe_Alt=no\n# c\nLe_X=\"plain\"\nLe_ReloadCmd='__ACME_BASE64__"
                           "START_c2VydmljZSBuZ2lueCByZWxvYWQ=__ACME_BASE64__END_'\n";

        assert_int_equal(acmesh_conf_parse(text, strlen(text), &kv, &err), 0);
        assert_string_equal(acmesh_conf_get(kv, "Le_Domain"), "example.com");
        assert_string_equal(acmesh_conf_get(kv, "Le_Alt"), "no");
        assert_string_equal(acmesh_conf_get(kv, "Le_X"), "plain");
        assert_int_equal(acmesh_decode_value(acmesh_conf_get(kv, "Le_ReloadCmd"), &v), 0);
        assert_string_equal(v, "service nginx reload");
        free(v);
        strv_free(kv);

        static const char *const bad[] = { "Le_Alt=$(id)\n", "Le_Alt=\"$HOME\"\n", "rm -rf /\n", "A='x'; id\n",
                                           "A='x'\nA='y'\n", "A='open\n", "A=`id`\n" };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                kv = NULL;
                assert_int_equal(acmesh_conf_parse(bad[i], strlen(bad[i]), &kv, &err), -EBADMSG);
                assert_null(kv);
                free(err);
        }
        assert_int_equal(acmesh_decode_value("__ACME_BASE64__START_!!!__ACME_BASE64__END_", &v), -EBADMSG);
        assert_int_equal(acmesh_decode_value("__ACME_BASE64__START_AA==__ACME_BASE64__END_", &v), -EBADMSG); /* NUL */
}

static void test_certmonger(void **state) {
        const char *text = "id=1\ncert=-----BEGIN CERTIFICATE-----\n MIIB\n -----END CERTIFICATE-----\nca_name=SelfSign\n";
        char **kv = NULL, *err = NULL;

        assert_int_equal(certmonger_request_parse(text, strlen(text), &kv, &err), 0);
        assert_string_equal(acmesh_conf_get(kv, "cert"),
                            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----");
        assert_string_equal(acmesh_conf_get(kv, "ca_name"), "SelfSign");
        strv_free(kv);
        kv = NULL;
        assert_int_equal(certmonger_request_parse(" x\n", 3, &kv, &err), -EBADMSG);
        assert_string_equal(err, "1: a continuation line without a key before it");
        free(err);
        assert_int_equal(certmonger_request_parse("Key=1\n", 6, &kv, &err), -EBADMSG);
        free(err);
}

static char *b64(const gnutls_datum_t *d) {
        char *s = NULL;
        size_t skip = 0;

        /* GnuTLS prefixes a 0 byte to positive integers with the high bit set; JWK has none. */
        while (skip + 1 < d->size && d->data[skip] == 0)
                skip++;
        assert_int_equal(jws_base64url_encode(d->data + skip, d->size - skip, &s), 0);
        return s;
}

static void pin_of(gnutls_x509_privkey_t k, uint8_t out[64], size_t *n) {
        *n = 64;
        assert_int_equal(gnutls_x509_privkey_get_key_id(k, GNUTLS_KEYID_USE_SHA256, out, n), 0);
}

static void test_jwk(void **state) {
        gnutls_x509_privkey_t rsa = NULL, ec = NULL, got = NULL;
        gnutls_datum_t m, e, d, p, q, u, e1, e2, x, y, k;
        gnutls_ecc_curve_t curve;
        uint8_t a[64], b[64];
        size_t an, bn;
        char *json;

        assert_int_equal(keygen_generate(KEY_TYPE_RSA_2048, &rsa), 0);
        assert_int_equal(gnutls_x509_privkey_export_rsa_raw2(rsa, &m, &e, &d, &p, &q, &u, &e1, &e2), 0);
        char *fm = b64(&m), *fe = b64(&e), *fd = b64(&d), *fp = b64(&p), *fq = b64(&q), *fu = b64(&u),
             *fe1 = b64(&e1), *fe2 = b64(&e2);
        assert_true(asprintf(&json, "{\"n\":\"%s\",\"e\":\"%s\",\"d\":\"%s\",\"p\":\"%s\",\"q\":\"%s\",\"qi\":\"%s\","
                                    "\"dp\":\"%s\",\"dq\":\"%s\",\"kty\":\"RSA\"}",
                             fm, fe, fd, fp, fq, fu, fe1, fe2) > 0);
        assert_int_equal(import_jwk_privkey(json, strlen(json), &got), 0);
        pin_of(rsa, a, &an);
        pin_of(got, b, &bn);
        assert_memory_equal(a, b, an);
        gnutls_x509_privkey_deinit(got);
        /* A JWK with a damaged prime is refused. */
        json[strstr(json, "\"p\":\"") - json + 6] ^= 1;
        assert_int_equal(import_jwk_privkey(json, strlen(json), &got), -EBADMSG);
        free(json);
        free(fm), free(fe), free(fd), free(fp), free(fq), free(fu), free(fe1), free(fe2);
        gnutls_free(m.data), gnutls_free(e.data), gnutls_free(d.data), gnutls_free(p.data), gnutls_free(q.data);
        gnutls_free(u.data), gnutls_free(e1.data), gnutls_free(e2.data);

        assert_int_equal(keygen_generate(KEY_TYPE_EC_P256, &ec), 0);
        assert_int_equal(gnutls_x509_privkey_export_ecc_raw(ec, &curve, &x, &y, &k), 0);
        char *fx = b64(&x), *fy = b64(&y), *fk = b64(&k);
        assert_true(asprintf(&json, "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\",\"d\":\"%s\"}", fx, fy,
                             fk) > 0);
        assert_int_equal(import_jwk_privkey(json, strlen(json), &got), 0);
        pin_of(ec, a, &an);
        pin_of(got, b, &bn);
        assert_memory_equal(a, b, an);
        gnutls_x509_privkey_deinit(got);
        free(json);
        free(fx), free(fy), free(fk);
        gnutls_free(x.data), gnutls_free(y.data), gnutls_free(k.data);
        assert_int_equal(import_jwk_privkey("{\"kty\":\"oct\",\"k\":\"AA\"}", 22, &got), -EBADMSG);
        assert_int_equal(import_jwk_privkey("not json", 8, &got), -EBADMSG);
        gnutls_x509_privkey_deinit(rsa);
        gnutls_x509_privkey_deinit(ec);
}

static void test_writer(void **state) {
        ImportWriter w;
        char *name = NULL;

        assert_int_equal(import_writer_init(&w), 0);
        assert_int_equal(import_section(&w, "certificate", "web"), 0);
        assert_int_equal(import_section(&w, "certificate", "-bad"), -EINVAL);
        assert_int_equal(import_key(&w, "certificate", "/etc/a$b/c.pem"), 0);
        assert_int_equal(import_key(&w, "key", "/x ;y"), -EINVAL);
        assert_int_equal(import_key(&w, "key", " /x"), -EINVAL);
        assert_int_equal(import_key(&w, "key", "/x\ny"), -EINVAL);
        assert_int_equal(import_key_or_comment(&w, "key", "/x ;y"), 0);
        import_comment(&w, "a\nb");
        fflush(w.f);
        assert_non_null(strstr(w.text, "certificate = /etc/a$$b/c.pem\n"));
        assert_non_null(strstr(w.text, "# not imported: key: the value has ';' after a blank"));
        assert_non_null(strstr(w.text, "# a?b\n"));
        import_writer_done(&w);

        assert_int_equal(import_section_name("certbot", "*.example.com", &name), 0);
        assert_string_equal(name, "certbot--.example.com");
        free(name);
        assert_int_equal(import_section_name(NULL, ".hidden", &name), 0);
        assert_string_equal(name, "x.hidden");
        free(name);
        assert_true(import_inventory_knows("certificate", "names"));
        assert_false(import_inventory_knows("certificate", "nmaes"));
}

static int ng_add(void *userdata, const char *cert, const char *key, const char *listen, const char *name) {
        FILE *f = userdata;
        fprintf(f, "%s|%s|%s|%s\n", cert, key, listen ?: "-", name ?: "-");
        return 0;
}

static void test_nginx(void **state) {
        const char *dump = "# configuration file /etc/nginx/nginx.conf:\n"
                           "http {\n ssl_certificate /etc/ssl/default.crt; ssl_certificate_key /etc/ssl/default.key;\n"
                           "  server { listen 443 ssl http2; listen [::]:443 ssl; server_name a.example b.example;\n"
                           "    ssl_certificate \"/etc/ssl/a.crt\"; ssl_certificate_key '/etc/ssl/a.key'; # comment\n"
                           "    ssl_certificate /etc/ssl/a-rsa.crt; ssl_certificate_key /etc/ssl/a-rsa.key;\n"
                           "    location / { return 200 \"{ssl_certificate x;}\"; } }\n"
                           "  server { listen 80; listen 127.0.0.1:8443 ssl; server_name inherit; }\n"
                           "  server { listen 8444 ssl; ssl_certificate $ssl_server_name.crt; ssl_certificate_key k; }\n"
                           "  server { listen 80; server_name plain; }\n"
                           "  server { listen 8080; ssl on; server_name old; ssl_certificate /o.crt; ssl_certificate_key /o.key; }\n"
                           "}\n";
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);

        assert_int_equal(discover_parse_nginx(dump, strlen(dump), ng_add, f), 0);
        fclose(f);
        assert_string_equal(out, "/etc/ssl/a.crt|/etc/ssl/a.key|443|a.example\n"
                                 "/etc/ssl/a.crt|/etc/ssl/a.key|[::]:443|a.example\n"
                                 "/etc/ssl/a-rsa.crt|/etc/ssl/a-rsa.key|443|a.example\n"
                                 "/etc/ssl/a-rsa.crt|/etc/ssl/a-rsa.key|[::]:443|a.example\n"
                                 "/etc/ssl/default.crt|/etc/ssl/default.key|127.0.0.1:8443|inherit\n"
                                 "/o.crt|/o.key|8080|old\n");
        free(out);
}

TEST_MAIN(cmocka_unit_test(test_certbot_conf), cmocka_unit_test(test_acmesh), cmocka_unit_test(test_certmonger),
          cmocka_unit_test(test_jwk),          cmocka_unit_test(test_writer),
          cmocka_unit_test(test_nginx))
