/* SPDX-License-Identifier: GPL-3.0-or-later */
/* acme: the pure parsers (directory, order, authorization, problem documents, Link and Retry-After
 * headers, RFC 3339 times, ARI windows), revocation reasons, the ARI certificate id (RFC 9773's own
 * example) and the random point of a window. The protocol itself runs against pebble in
 * tests/integration/20-acme*. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "acme.h"
#include "curl-lib.h"
#include "dns-persist.h"
#include "gnutls-util.h"
#include "keygen.h"

/* libcurl is not linked: it is loaded, once, at the first client, with every function the client calls;
 * a process that makes no client never maps it. */
static bool curl_mapped(void) {
        _cleanup_fclose_ FILE *f = fopen("/proc/self/maps", "re");
        char line[4096];

        assert_non_null(f);
        while (fgets(line, sizeof(line), f))
                if (strstr(line, CURL_SONAME))
                        return true;
        return false;
}

static void test_curl_loaded_late(void **state) {
        bool before = curl_mapped();

        assert_int_equal(curl_lib_load(), 0);
        assert_true(curl_mapped());
        assert_int_equal(curl_lib_load(), 0);
#define CURL_LIB_CHECK(f) assert_non_null(sym_##f);
        CURL_LIB_SYMBOLS(CURL_LIB_CHECK)
#undef CURL_LIB_CHECK
        /* Only meaningful when it runs first (cmocka runs tests in order): nothing loaded it before. */
        assert_false(before);
}

static void test_directory(void **state) {
        const char *doc = "{\"newNonce\":\"https://a/nonce\",\"newAccount\":\"https://a/acct\",\"newOrder\":\"https://a/order\","
                          "\"revokeCert\":\"https://a/revoke\",\"keyChange\":\"https://a/key\",\"renewalInfo\":\"https://a/ari/\","
                          "\"meta\":{\"termsOfService\":\"https://a/tos\",\"externalAccountRequired\":true}}";
        AcmeDirectory d = {};

        assert_int_equal(acme_parse_directory(doc, strlen(doc), &d), 0);
        assert_string_equal(d.new_nonce, "https://a/nonce");
        assert_string_equal(d.new_order, "https://a/order");
        assert_string_equal(d.key_change, "https://a/key");
        assert_string_equal(d.renewal_info, "https://a/ari/");
        assert_string_equal(d.terms_of_service, "https://a/tos");
        assert_true(d.eab_required);
        acme_directory_done(&d);

        /* pebble 2.4's shape: no renewalInfo, no meta */
        doc = "{\"newNonce\":\"n\",\"newAccount\":\"a\",\"newOrder\":\"o\"}";
        assert_int_equal(acme_parse_directory(doc, strlen(doc), &d), 0);
        assert_null(d.renewal_info);
        assert_false(d.eab_required);
        acme_directory_done(&d);

        assert_int_equal(acme_parse_directory("{\"newNonce\":\"n\"}", 15, &d), -EBADMSG);
        assert_int_equal(acme_parse_directory("[]", 2, &d), -EBADMSG);
        assert_int_equal(acme_parse_directory("<html>", 6, &d), -EBADMSG);
        assert_int_equal(acme_parse_directory("{\"newNonce\":1,\"newAccount\":\"a\",\"newOrder\":\"o\"}", 45, &d), -EBADMSG);
}

/* draft-ietf-acme-profiles: meta.profiles, name → description; names that are no token are dropped. */
static void test_directory_profiles(void **state) {
        const char *doc = "{\"newNonce\":\"n\",\"newAccount\":\"a\",\"newOrder\":\"o\",\"meta\":{\"profiles\":{"
                          "\"classic\":\"https://x/classic\",\"shortlived\":\"160 hours\",\"bad name\":\"x\","
                          "\"tlsserver\":7}}}";
        AcmeDirectory d = {};

        assert_int_equal(acme_parse_directory(doc, strlen(doc), &d), 0);
        assert_string_equal(d.profiles[0], "classic");
        assert_string_equal(d.profile_descriptions[0], "https://x/classic");
        assert_string_equal(d.profiles[1], "shortlived");
        assert_string_equal(d.profile_descriptions[1], "160 hours");
        assert_string_equal(d.profiles[2], "tlsserver");
        assert_string_equal(d.profile_descriptions[2], "");
        assert_null(d.profiles[3]);
        assert_true(acme_directory_has_profile(&d, "shortlived"));
        assert_false(acme_directory_has_profile(&d, "bad name"));
        assert_false(acme_directory_has_profile(&d, "Classic"));
        acme_directory_done(&d);

        doc = "{\"newNonce\":\"n\",\"newAccount\":\"a\",\"newOrder\":\"o\"}";
        assert_int_equal(acme_parse_directory(doc, strlen(doc), &d), 0);
        assert_null(d.profiles);
        assert_false(acme_directory_has_profile(&d, "classic"));
        acme_directory_done(&d);
}

/* draft-ietf-acme-dns-persist: no token, issuer-domain-names instead (each a DNS name). */
/* An authorization the parser must refuse: -EBADMSG. */
static void assert_authz_refused(const char *text, const char *type) {
        json_t *j = json_loads(text, 0, NULL);
        AcmeAuthz a = {};

        assert_non_null(j);
        assert_int_equal(acme_parse_authz(j, type, &a), -EBADMSG);
        json_decref(j);
}

static void test_authz_persist(void **state) {
        json_t *j = json_loads("{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"www.example.org\"},"
                               "\"challenges\":[{\"type\":\"dns-persist-01\",\"url\":\"https://a/c/9\",\"status\":\"pending\","
                               "\"issuer-domain-names\":[\"letsencrypt.org\",\"le.example\"]}]}",
                               0, NULL);
        AcmeAuthz a = {};

        assert_int_equal(acme_parse_authz(j, "dns-persist-01", &a), 0);
        assert_string_equal(a.challenge_url, "https://a/c/9");
        assert_null(a.token);
        assert_string_equal(a.issuer_domain_names[0], "letsencrypt.org");
        assert_string_equal(a.issuer_domain_names[1], "le.example");
        acme_authz_done(&a);
        json_decref(j);

        /* no issuer domain, or one that is no DNS name: refused */
        assert_authz_refused("{\"status\":\"pending\",\"identifier\":{\"value\":\"x.example\"},\"challenges\":[{\"type\":"
                             "\"dns-persist-01\",\"url\":\"u\",\"status\":\"pending\"}]}",
                             "dns-persist-01");
        assert_authz_refused("{\"status\":\"pending\",\"identifier\":{\"value\":\"x.example\"},\"challenges\":[{\"type\":"
                             "\"dns-persist-01\",\"url\":\"u\",\"status\":\"pending\",\"issuer-domain-names\":[\"a b\\n\"]}]}",
                             "dns-persist-01");
}

/* The record of dns-persist-01 and how a found one is judged. */
static void test_persist_record(void **state) {
        char *issuers[] = { (char *) "letsencrypt.org", NULL };
        const char *acct = "https://acme.example/acct/123", *which;
        char *s;

        assert_int_equal(persist_record_name("*.www.example.org", &s), 0);
        assert_string_equal(s, "_validation-persist.www.example.org");
        free(s);
        assert_int_equal(persist_record_value("letsencrypt.org", acct, false, &s), 0);
        assert_string_equal(s, "letsencrypt.org; accounturi=https://acme.example/acct/123");
        free(s);
        assert_int_equal(persist_record_value("letsencrypt.org", acct, true, &s), 0);
        assert_string_equal(s, "letsencrypt.org; accounturi=https://acme.example/acct/123; policy=wildcard");
        free(s);

        assert_int_equal(persist_match(NULL, issuers, acct, &which), PERSIST_MISSING);
        assert_int_equal(persist_match((char *[]) { (char *) "v=spf1 -all", NULL }, issuers, acct, NULL), PERSIST_MISSING);
        assert_int_equal(persist_match((char *[]) { (char *) "other.ca; accounturi=https://acme.example/acct/123", NULL },
                                       issuers, acct, NULL),
                         PERSIST_MISSING);
        assert_int_equal(persist_match((char *[]) { (char *) "LetsEncrypt.org. ;accounturi=https://acme.example/acct/9",
                                                    NULL },
                                       issuers, acct, &which),
                         PERSIST_OTHER_ACCOUNT);
        assert_string_equal(which, "letsencrypt.org");
        assert_int_equal(persist_match((char *[]) { (char *) "letsencrypt.org; accounturi=https://acme.example/acct/9",
                                                    (char *) "letsencrypt.org;  policy=wildcard; accounturi=https://acme.example/acct/123 ",
                                                    NULL },
                                       issuers, acct, &which),
                         PERSIST_OK);
        assert_int_equal(persist_match((char *[]) { (char *) "letsencrypt.org", NULL }, issuers, acct, NULL),
                         PERSIST_OTHER_ACCOUNT);
}

static void test_problem(void **state) {
        const char *doc = "{\"type\":\"urn:ietf:params:acme:error:rejectedIdentifier\",\"detail\":\"Some names were rejected\","
                          "\"subproblems\":[{\"type\":\"urn:ietf:params:acme:error:malformed\",\"detail\":\"bad label\","
                          "\"identifier\":{\"type\":\"dns\",\"value\":\"_x.example.org\"}},"
                          "{\"type\":\"urn:ietf:params:acme:error:rejectedIdentifier\",\"detail\":\"policy\","
                          "\"identifier\":{\"type\":\"dns\",\"value\":\"example.net\"}}]}";
        json_t *j = json_loads(doc, 0, NULL);
        AcmeProblem p = {};

        assert_int_equal(acme_problem_from_json(j, &p), 0);
        assert_true(acme_problem_is(&p, "rejectedIdentifier"));
        assert_false(acme_problem_is(&p, "rejected"));
        assert_string_equal(p.detail, "Some names were rejected");
        assert_string_equal(p.subproblems, "_x.example.org: urn:ietf:params:acme:error:malformed: bad label; "
                                           "example.net: urn:ietf:params:acme:error:rejectedIdentifier: policy");
        acme_problem_done(&p);
        json_decref(j);

        j = json_loads("{\"detail\":\"no type\"}", 0, NULL);
        assert_int_equal(acme_problem_from_json(j, &p), -EINVAL);
        assert_null(p.type);
        json_decref(j);
        assert_false(acme_problem_is(&p, "badNonce"));
}

static void test_order(void **state) {
        const char *doc = "{\"status\":\"invalid\",\"expires\":\"2026-01-01T00:00:00Z\",\"identifiers\":[{\"type\":\"dns\","
                          "\"value\":\"a.test\"},{\"type\":\"ip\",\"value\":\"127.0.0.1\"}],\"authorizations\":[\"https://a/z/1\","
                          "\"https://a/z/2\"],\"finalize\":\"https://a/f/1\",\"error\":{\"type\":\"urn:ietf:params:acme:error:"
                          "unauthorized\",\"detail\":\"no\"}}";
        json_t *j = json_loads(doc, 0, NULL);
        AcmeOrder o = {};

        assert_int_equal(acme_parse_order(j, &o), 0);
        assert_string_equal(o.status, "invalid");
        assert_int_equal(strv_length(o.authorizations), 2);
        assert_string_equal(o.authorizations[1], "https://a/z/2");
        assert_string_equal(o.identifiers[1], "127.0.0.1");
        assert_string_equal(o.finalize, "https://a/f/1");
        assert_null(o.certificate);
        assert_true(acme_problem_is(&o.error, "unauthorized"));
        acme_order_done(&o);
        json_decref(j);

        j = json_loads("{\"status\":\"valid\",\"authorizations\":[1,\"x\"],\"finalize\":\"f\",\"certificate\":\"c\"}", 0, NULL);
        assert_int_equal(acme_parse_order(j, &o), 0);
        assert_int_equal(strv_length(o.authorizations), 1);
        assert_string_equal(o.certificate, "c");
        acme_order_done(&o);
        json_decref(j);

        j = json_loads("{\"status\":\"pending\",\"finalize\":\"f\"}", 0, NULL);
        assert_int_equal(acme_parse_order(j, &o), -EBADMSG);
        json_decref(j);
        assert_int_equal(acme_parse_order(NULL, &o), -EBADMSG);
}

static void test_authz(void **state) {
        const char *doc = "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"example.org\"},\"wildcard\":true,"
                          "\"challenges\":[{\"type\":\"http-01\",\"url\":\"https://a/c/1\",\"status\":\"pending\",\"token\":\"abc\"},"
                          "{\"type\":\"dns-01\",\"url\":\"https://a/c/2\",\"status\":\"invalid\",\"token\":\"DGyRejmCefe7v4NfDGDKfA\","
                          "\"error\":{\"type\":\"urn:ietf:params:acme:error:dns\",\"detail\":\"NXDOMAIN\"}}]}";
        json_t *j = json_loads(doc, 0, NULL);
        AcmeAuthz a = {};

        assert_int_equal(acme_parse_authz(j, "dns-01", &a), 0);
        assert_string_equal(a.identifier, "example.org");
        assert_true(a.wildcard);
        assert_string_equal(a.challenge_url, "https://a/c/2");
        assert_string_equal(a.challenge_status, "invalid");
        assert_string_equal(a.token, "DGyRejmCefe7v4NfDGDKfA");
        assert_true(acme_problem_is(&a.challenge_error, "dns"));
        assert_string_equal(a.challenge_error.detail, "NXDOMAIN");
        acme_authz_done(&a);

        assert_int_equal(acme_parse_authz(j, "tls-alpn-01", &a), 0);
        assert_null(a.challenge_url);
        acme_authz_done(&a);
        json_decref(j);

        /* A token that could walk out of the webroot or into a URL is refused. */
        assert_authz_refused("{\"status\":\"pending\",\"identifier\":{\"value\":\"x\"},\"challenges\":[{\"type\":\"http-01\","
                             "\"url\":\"u\",\"status\":\"pending\",\"token\":\"../../etc/passwd\"}]}",
                             "http-01");
        assert_true(acme_token_is_valid("LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"));
        assert_false(acme_token_is_valid(""));
        assert_false(acme_token_is_valid("a/b"));
        assert_false(acme_token_is_valid("a.b"));
        assert_false(acme_token_is_valid(NULL));
}

static void test_retry_after(void **state) {
        usec_t v, now = 784111777ULL * USEC_PER_SEC; /* Sun, 06 Nov 1994 08:49:37 GMT */

        assert_int_equal(acme_parse_retry_after("120", now, &v), 0);
        assert_int_equal(v, 120 * USEC_PER_SEC);
        assert_int_equal(acme_parse_retry_after(" 0 ", now, &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(acme_parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now, &v), 0);
        assert_int_equal(v, 30 * USEC_PER_SEC);
        assert_int_equal(acme_parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now, &v), 0);
        assert_int_equal(v, 0); /* in the past: now */
        assert_int_equal(acme_parse_retry_after("soon", now, &v), -EINVAL);
        assert_int_equal(acme_parse_retry_after("12s", now, &v), -EINVAL);
        assert_int_equal(acme_parse_retry_after("99999999999999", now, &v), -EINVAL);
}

static void test_link(void **state) {
        char **l = NULL;

        assert_int_equal(acme_parse_link("<https://a/cert/1/1>;rel=\"alternate\", <https://a/dir>;rel=\"index\","
                                          " <https://a/cert/1/2> ; rel=alternate",
                                          "alternate", &l),
                         2);
        assert_string_equal(l[0], "https://a/cert/1/1");
        assert_string_equal(l[1], "https://a/cert/1/2");
        assert_null(l[2]);
        assert_int_equal(acme_parse_link("<https://a/up>;rel=\"up index\"", "up", &l), 1);
        assert_string_equal(l[2], "https://a/up");
        assert_int_equal(acme_parse_link("<https://a/x>;title=\"rel=alternate\"", "alternate", &l), 0);
        assert_int_equal(acme_parse_link("garbage", "alternate", &l), 0);
        assert_int_equal(acme_parse_link("<unterminated;rel=alternate", "alternate", &l), 0);
        assert_int_equal(strv_length(l), 3);
        strv_free(l);
}

static void test_time_and_ari(void **state) {
        const char *doc = "{\"suggestedWindow\":{\"start\":\"2025-01-02T04:00:00Z\",\"end\":\"2025-01-03T04:00:00Z\"},"
                          "\"explanationURL\":\"https://a/docs\"}";
        usec_t t, s, e;

        assert_int_equal(acme_parse_time("1970-01-01T00:00:10Z", &t), 0);
        assert_int_equal(t, 10 * USEC_PER_SEC);
        assert_int_equal(acme_parse_time("1970-01-01T01:00:10.5+01:00", &t), 0);
        assert_int_equal(t, 10 * USEC_PER_SEC + USEC_PER_SEC / 2);
        assert_int_equal(acme_parse_time("1970-01-01T00:00:10", &t), -EINVAL);
        assert_int_equal(acme_parse_time("yesterday", &t), -EINVAL);

        assert_int_equal(acme_parse_renewal_info(doc, strlen(doc), &s, &e), 0);
        assert_int_equal(e - s, USEC_PER_DAY);
        assert_int_equal(acme_parse_renewal_info("{\"suggestedWindow\":{\"start\":\"2025-01-03T04:00:00Z\","
                                                 "\"end\":\"2025-01-02T04:00:00Z\"}}",
                                                 86, &s, &e),
                         -EBADMSG);
        assert_int_equal(acme_parse_renewal_info("{}", 2, &s, &e), -EBADMSG);

        /* the point is inside the window and covers it */
        assert_int_equal(acme_ari_pick(100, 200, 0), 100);
        assert_int_equal(acme_ari_pick(100, 200, 99), 199);
        assert_int_equal(acme_ari_pick(100, 200, 100), 100);
        assert_int_equal(acme_ari_pick(100, 100, 12345), 100);
}

/* RFC 9773 §4.1's example: AKI 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4 and serial
 * 00:87:65:43:21 give "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE". */
static void test_ari_cert_id(void **state) {
        static const uint8_t aki[] = { 0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3,
                                       0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4 };
        static const uint8_t serial[] = { 0x00, 0x87, 0x65, 0x43, 0x21 };
        _cleanup_x509_privkey_ gnutls_x509_privkey_t key = NULL;
        _cleanup_x509_crt_ gnutls_x509_crt_t crt = NULL;
        _cleanup_datum_ gnutls_datum_t pem = {};
        _cleanup_free_ char *id = NULL;
        time_t now = time(NULL);

        assert_int_equal(keygen_generate(KEY_TYPE_EC_P256, &key), 0);
        assert_int_equal(gnutls_x509_crt_init(&crt), 0);
        assert_int_equal(gnutls_x509_crt_set_version(crt, 3), 0);
        assert_int_equal(gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)), 0);
        assert_int_equal(gnutls_x509_crt_set_activation_time(crt, now), 0);
        assert_int_equal(gnutls_x509_crt_set_expiration_time(crt, now + 86400), 0);
        assert_int_equal(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, "ari", 3), 0);
        assert_int_equal(gnutls_x509_crt_set_authority_key_id(crt, aki, sizeof(aki)), 0);
        assert_int_equal(gnutls_x509_crt_set_key(crt, key), 0);
        assert_int_equal(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0), 0);
        assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem), 0);

        assert_int_equal(acme_ari_cert_id(pem.data, pem.size, &id), 0);
        assert_string_equal(id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
        assert_int_equal(acme_ari_cert_id((const uint8_t *) "junk", 4, &id), -EBADMSG);
}

/* "renewalInfo": "" is no endpoint (it used to make acme_renewal_info read one byte
 * before the heap buffer to look for a trailing '/'). */
static void test_renewal_info_empty(void **state) {
        const char *doc = "{\"newNonce\":\"n\",\"newAccount\":\"a\",\"newOrder\":\"o\",\"renewalInfo\":\"\"}";
        AcmeDirectory d = {};
        char *url = NULL;

        assert_int_equal(acme_parse_directory(doc, strlen(doc), &d), 0);
        assert_null(d.renewal_info);
        acme_directory_done(&d);

        assert_int_equal(acme_ari_url("", "id", &url), -EINVAL);
        assert_null(url);
        assert_int_equal(acme_ari_url("https://a/ari", "x.y", &url), 0);
        assert_string_equal(url, "https://a/ari/x.y");
        free(url);
        assert_int_equal(acme_ari_url("https://a/ari/", "x.y", &url), 0);
        assert_string_equal(url, "https://a/ari/x.y");
        free(url);

        /* ARI is asked again at least every 12 hours, whatever Retry-After says */
        assert_int_equal(acme_ari_retry_after(false, 0), 6 * USEC_PER_HOUR);
        assert_int_equal(acme_ari_retry_after(true, 3 * USEC_PER_HOUR), 3 * USEC_PER_HOUR);
        assert_int_equal(acme_ari_retry_after(true, 7 * USEC_PER_DAY), 12 * USEC_PER_HOUR);
}

/* Every URL the server names stays on the directory's origin. */
static void test_url_origin(void **state) {
        char *o = NULL;

        assert_int_equal(acme_url_origin("https://acme.example:14000/dir", &o), 0);
        assert_string_equal(o, "https://acme.example:14000");
        assert_true(acme_url_has_origin("https://ACME.example:14000/order/1", o));
        assert_true(acme_url_has_origin("HTTPS://acme.example:14000", o));
        assert_false(acme_url_has_origin("https://acme.example:14001/order/1", o));
        assert_false(acme_url_has_origin("http://acme.example:14000/order/1", o));
        assert_false(acme_url_has_origin("https://acme.example/order/1", o));
        assert_false(acme_url_has_origin("https://127.0.0.1:14000/order/1", o));
        assert_false(acme_url_has_origin("https://acme.example:14000@evil.test/", o));
        assert_false(acme_url_has_origin("https://evil.test/?https://acme.example:14000/", o));
        assert_false(acme_url_has_origin("https://acme.example:14000.evil.test/", o));
        assert_false(acme_url_has_origin("/relative/path", o));
        assert_false(acme_url_has_origin("file:///etc/passwd", o));
        assert_false(acme_url_has_origin("https://acme.example:14000/a b", o));
        assert_false(acme_url_has_origin(NULL, o));
        free(o);

        assert_int_equal(acme_url_origin("https://acme-v02.api.letsencrypt.org/directory", &o), 0);
        assert_string_equal(o, "https://acme-v02.api.letsencrypt.org:443");
        assert_true(acme_url_has_origin("https://acme-v02.api.letsencrypt.org:443/acme/new-order", o));
        free(o);
        assert_int_equal(acme_url_origin("http://[::1]:8080/dir", &o), 0);
        assert_string_equal(o, "http://[::1]:8080");
        free(o);
        assert_int_equal(acme_url_origin("http://[::1]/dir", &o), 0);
        assert_string_equal(o, "http://[::1]:80");
        free(o);
        assert_int_equal(acme_url_origin("ftp://a/dir", &o), -EINVAL);
        assert_int_equal(acme_url_origin("https://:443/dir", &o), -EINVAL);
        assert_int_equal(acme_url_origin("https://a:0/dir", &o), -EINVAL);
        assert_int_equal(acme_url_origin("https://a:99999/dir", &o), -EINVAL);
        assert_int_equal(acme_url_origin("https://a:8x/dir", &o), -EINVAL);
        assert_int_equal(acme_url_origin("https://u@a/dir", &o), -EINVAL);
}

/* The transport refuses a URL off the directory's origin before sending anything (nothing listens on
 * these ports: a request would fail differently), and cancel and deadline cut its waits short. */
static void *cancel_later(void *userdata) {
        usleep(200 * 1000);
        acme_http_cancel(userdata);
        return NULL;
}

static void test_http_transport(void **state) {
        AcmeConfig cfg = { .name = (char *) "t", .directory = (char *) "https://127.0.0.1:9/dir",
                           .initial_backoff = 0.05, .max_retry_duration = 5 };
        AcmeHttp *h = NULL;
        AcmeResponse resp = {};
        AcmeRetry t;
        pthread_t th;
        usec_t t0;

        assert_int_equal(acme_http_new(&cfg, &h), 0);
        t = acme_retry_start(h);
        assert_int_equal(acme_http_exchange(h, "POST", "https://127.0.0.1:10/acct/1", "{}", false, &t, &resp), -EXDEV);
        assert_non_null(strstr(resp.curl_error, "outside the directory's origin https://127.0.0.1:9"));
        assert_false(acme_http_retry_again(h, &t, -EXDEV, &resp, "https://127.0.0.1:10/acct/1"));
        assert_int_equal(acme_http_get(h, "http://127.0.0.1:9/dir", &resp), -EXDEV);
        assert_int_equal(acme_http_get(h, "https://localhost:9/dir", &resp), -EXDEV);
        assert_int_equal(acme_http_requests(h), 0);
        acme_response_done(&resp);

        /* Only the 5xx that can pass are asked again: 501 (not implemented) and 505 answer the same next
         * time, and fail at once, without a wait. */
        t = acme_retry_start(h);
        resp.status = 501;
        t0 = now_monotonic();
        assert_false(acme_http_retry_again(h, &t, 0, &resp, "https://127.0.0.1:9/key-change"));
        resp.status = 505;
        assert_false(acme_http_retry_again(h, &t, 0, &resp, "https://127.0.0.1:9/key-change"));
        assert_true(now_monotonic() - t0 < 40 * 1000);
        assert_int_equal(acme_http_retries(h), 0);
        for (long s = 500; s <= 504; s++) {
                resp.status = s;
                assert_true(acme_http_retry_again(h, &t, 0, &resp, "https://127.0.0.1:9/x") == (s != 501));
        }
        assert_int_equal(acme_http_retries(h), 4);
        assert_int_equal(acme_status_to_errno(501), -EOPNOTSUPP);
        assert_int_equal(acme_status_to_errno(503), -EIO);
        resp.status = 0;

        /* a deadline: waits stop there */
        t0 = now_monotonic();
        acme_http_set_deadline(h, t0 + 200 * 1000);
        assert_int_equal(acme_http_wait(h, 10 * USEC_PER_SEC), -ETIMEDOUT);
        assert_true(now_monotonic() - t0 < 2 * USEC_PER_SEC);
        acme_http_set_deadline(h, 0);
        assert_int_equal(acme_http_wait(h, 1000), 0);

        /* a cancel from another thread ends a long wait at once, and every later one */
        t0 = now_monotonic();
        assert_int_equal(pthread_create(&th, NULL, cancel_later, h), 0);
        assert_int_equal(acme_http_wait(h, 60 * USEC_PER_SEC), -ECANCELED);
        assert_true(now_monotonic() - t0 < 2 * USEC_PER_SEC);
        pthread_join(th, NULL);
        assert_true(acme_http_cancelled(h));
        t = acme_retry_start(h);
        assert_int_equal(acme_http_exchange(h, "GET", "https://127.0.0.1:9/dir", NULL, false, &t, &resp), -ECANCELED);
        acme_response_done(&resp);
        acme_http_free(h);

        cfg.directory = (char *) "ftp://x/dir";
        assert_int_equal(acme_http_new(&cfg, &h), -EINVAL);
}

static int authz_check(const char *doc, char *const *ordered) {
        json_t *j = json_loads(doc, 0, NULL);
        AcmeAuthz a = {};
        int r;

        assert_non_null(j);
        assert_int_equal(acme_parse_authz(j, "dns-01", &a), 0);
        json_decref(j);
        r = acme_authz_identifier_check(&a, ordered);
        acme_authz_done(&a);
        return r;
}

#define AUTHZ(type, value, wildcard)                                                                          \
        "{\"status\":\"pending\",\"identifier\":{\"type\":\"" type "\",\"value\":\"" value "\"},\"wildcard\":" wildcard \
        ",\"challenges\":[{\"type\":\"dns-01\",\"url\":\"https://a/c/1\",\"status\":\"pending\",\"token\":\"abc\"}]}"

/* Identifiers from the server are checked against the names ordered, and as names. */
static void test_authz_identifiers(void **state) {
        char *ordered[] = { (char *) "www.example.org", (char *) "*.example.net", (char *) "192.0.2.1",
                            (char *) "2001:db8::1", NULL };

        assert_int_equal(authz_check(AUTHZ("dns", "www.example.org", "false"), ordered), 0);
        assert_int_equal(authz_check(AUTHZ("dns", "WWW.Example.ORG", "false"), ordered), 0);
        assert_int_equal(authz_check(AUTHZ("dns", "example.net", "true"), ordered), 0);
        assert_int_equal(authz_check(AUTHZ("ip", "192.0.2.1", "false"), ordered), 0);
        assert_int_equal(authz_check(AUTHZ("ip", "2001:db8::1", "false"), ordered), 0);

        /* hostile: newline injection (nsupdate commands), spaces, paths, escapes, NUL, empty */
        assert_int_equal(authz_check(AUTHZ("dns", "www.example.org\\nupdate add evil.test. 60 A 192.0.2.66", "false"),
                                     ordered),
                         -EBADMSG);
        assert_int_equal(authz_check(AUTHZ("dns", "www.example.org send", "false"), ordered), -EBADMSG);
        assert_int_equal(authz_check(AUTHZ("dns", "../../etc/passwd", "false"), ordered), -EBADMSG);
        assert_int_equal(authz_check(AUTHZ("dns", "\\u001b[31mwww.example.org", "false"), ordered), -EBADMSG);
        assert_int_equal(authz_check(AUTHZ("dns", "www.example.org\\t.evil.test", "false"), ordered), -EBADMSG);
        assert_int_equal(authz_check(AUTHZ("dns", "", "false"), ordered), -EBADMSG);
        assert_int_equal(authz_check(AUTHZ("dns", "*.example.net", "false"), ordered), -EBADMSG);
        /* the type must match the value */
        assert_int_equal(authz_check(AUTHZ("ip", "www.example.org", "false"), ordered), -EBADMSG);
        assert_int_equal(authz_check(AUTHZ("dns", "192.0.2.1", "false"), ordered), -EBADMSG);
        assert_int_equal(authz_check(AUTHZ("ip", "192.0.2.1", "true"), ordered), -EBADMSG);
        /* valid names, but not ordered */
        assert_int_equal(authz_check(AUTHZ("dns", "evil.example.org", "false"), ordered), -EPERM);
        assert_int_equal(authz_check(AUTHZ("dns", "example.org", "true"), ordered), -EPERM);
        assert_int_equal(authz_check(AUTHZ("dns", "example.net", "false"), ordered), -EPERM);
        assert_int_equal(authz_check(AUTHZ("ip", "192.0.2.2", "false"), ordered), -EPERM);
        assert_int_equal(authz_check(AUTHZ("dns", "www.example.org", "false"), NULL), -EPERM);
}

/* AcmeAriSet: no session is opened for what cannot have ARI (not an ACME set, an unknown section). */
static void test_ari_set(void **state) {
        Inventory inv = {};
        CertConfig self = { .name = (char *) "s", .issuer = ISSUER_SELF, .x = &cert_extra_none };
        CertConfig acme = { .name = (char *) "a",
                            .issuer = ISSUER_ACME,
                            .issuer_name = (char *) "nosuch",
                            .x = &cert_extra_none };
        AcmeAriSet *a = acme_ari_set_new(&inv);
        usec_t next = 0;

        assert_non_null(a);
        assert_false(acme_ari_set_ask(a, &self, 0, &next));
        /* without an answer, ask again after the default interval */
        assert_true(next == ACME_ARI_RETRY_DEFAULT);
        assert_false(acme_ari_set_ask(a, &acme, 10, &next));
        assert_true(next == 10 + ACME_ARI_RETRY_DEFAULT);
        assert_false(acme_ari_set_ask(NULL, &acme, 0, &next));
        assert_null(acme_ari_set_free(a));
}

static void test_revocation_reasons(void **state) {
        assert_int_equal(acme_revocation_reason_from_string("keyCompromise"), 1);
        assert_int_equal(acme_revocation_reason_from_string("KEYCOMPROMISE"), 1);
        assert_int_equal(acme_revocation_reason_from_string("superseded"), 4);
        assert_int_equal(acme_revocation_reason_from_string("cessationOfOperation"), 5);
        assert_int_equal(acme_revocation_reason_from_string("unspecified"), 0);
        assert_int_equal(acme_revocation_reason_from_string("4"), 4);
        assert_int_equal(acme_revocation_reason_from_string("10"), 10);
        assert_int_equal(acme_revocation_reason_from_string("7"), -EINVAL); /* unused in RFC 5280 */
        assert_int_equal(acme_revocation_reason_from_string("11"), -EINVAL);
        assert_int_equal(acme_revocation_reason_from_string("-1"), -EINVAL);
        assert_int_equal(acme_revocation_reason_from_string("bogus"), -EINVAL);
        assert_int_equal(acme_revocation_reason_from_string(""), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_curl_loaded_late),
                cmocka_unit_test(test_directory),     cmocka_unit_test(test_problem),
                cmocka_unit_test(test_directory_profiles), cmocka_unit_test(test_authz_persist),
                cmocka_unit_test(test_persist_record),
                cmocka_unit_test(test_order),         cmocka_unit_test(test_authz),
                cmocka_unit_test(test_retry_after),   cmocka_unit_test(test_link),
                cmocka_unit_test(test_time_and_ari),  cmocka_unit_test(test_ari_cert_id),
                cmocka_unit_test(test_revocation_reasons), cmocka_unit_test(test_renewal_info_empty),
                cmocka_unit_test(test_url_origin),       cmocka_unit_test(test_authz_identifiers),
                cmocka_unit_test(test_ari_set),          cmocka_unit_test(test_http_transport),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
