/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer: everything an ACME server (or whatever answers in its place) sends that certherd parses:
 * the directory, orders, authorizations with each challenge type (and the check of their identifiers),
 * problem documents, ARI windows and URLs, Retry-After, Link headers, RFC 3339 times, URL origins,
 * base64url and JWKs. The input goes to every parser; none may crash, leak or accept a token that is not
 * base64url or an identifier that is not a DNS name or IP address. Seeds: corpus/acme-json/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acme.h"
#include "config.h"
#include "jws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void documents(const char *text, size_t size) {
        static const char *const types[] = { "http-01", "dns-01", "tls-alpn-01" };
        AcmeDirectory d = {};
        AcmeOrder o = {};
        AcmeProblem p = {};
        usec_t a, b;
        json_t *j;

        if (acme_parse_directory(text, size, &d) == 0) {
                char *url = NULL;

                /* the renewalInfo URL as acme_renewal_info builds it */
                if (d.renewal_info && acme_ari_url(d.renewal_info, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE", &url) == 0)
                        free(url);
                acme_directory_done(&d);
        }
        (void) acme_parse_renewal_info(text, size, &a, &b);

        j = json_loadb(text, size, 0, NULL);
        if (!j)
                return;
        if (acme_parse_order(j, &o) == 0)
                acme_order_done(&o);
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
                AcmeAuthz z = {};

                if (acme_parse_authz(j, types[i], &z) == 0) {
                        char *ordered[] = { z.identifier, (char *) "www.example.org", NULL };

                        if (z.challenge_url && !acme_token_is_valid(z.token))
                                abort();
                        if (acme_authz_identifier_check(&z, ordered) == 0 && !config_san_is_valid(z.identifier))
                                abort();
                        acme_authz_done(&z);
                }
        }
        (void) acme_problem_from_json(j, &p);
        (void) acme_problem_is(&p, "badNonce");
        acme_problem_done(&p);
        json_decref(j);
}

static void strings(const char *s) {
        char **links = NULL, *t = NULL;
        uint8_t *raw = NULL;
        size_t raw_size;
        usec_t v;

        (void) acme_parse_retry_after(s, 1795438800ULL * USEC_PER_SEC, &v);
        (void) acme_parse_link(s, "alternate", &links);
        (void) acme_parse_link(s, "up", &links);
        strv_free(links);
        (void) acme_parse_time(s, &v);
        (void) acme_token_is_valid(s);
        if (acme_url_origin(s, &t) == 0) {
                if (!acme_url_has_origin(s, t))
                        abort();
                free(t);
        }
        if (jws_base64url_decode(s, strlen(s), &raw, &raw_size) == 0) {
                if (jws_base64url_encode(raw, raw_size, &t) == 0)
                        free(t);
                free(raw);
        }
        if (jws_jwk_thumbprint(s, &t) == 0)
                free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s;

        if (size > 64 * 1024)
                return 0;
        s = malloc(size + 1);
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = 0;
        documents(s, size);
        strings(s);
        free(s);
        return 0;
}
