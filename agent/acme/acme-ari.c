/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ACME Renewal Information (RFC 9773): the certificate id (§4.1), the renewalInfo document (§4.2), one
 * random point per suggested window kept under STATE/acme/NAME/ari/CERT.json so that every run agrees on
 * it, and AcmeAriSet for asking about many certificates at once. On top of acme.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <jansson.h>

#include "acme.h"
#include "fd-util.h"
#include "gnutls-util.h"
#include "jws.h"
#include "log.h"
#include "x509.h"

#define ARI_CERT_MAX (1024U * 1024U)

bool acme_session_has_ari(const AcmeSession *s) {
        return acme_session_directory(s)->renewal_info;
}

int acme_ari_cert_id(const uint8_t *data, size_t size, char **ret) {
        _cleanup_x509_crt_ gnutls_x509_crt_t crt = NULL;
        _cleanup_free_ char *a = NULL, *b = NULL;
        uint8_t aki[64], serial[64];
        size_t aki_size = sizeof(aki), serial_size = sizeof(serial);
        unsigned critical;
        int r;

        r = x509_load_leaf(data, size, &crt);
        if (r < 0)
                return r;
        r = gnutls_x509_crt_get_authority_key_id(crt, aki, &aki_size, &critical);
        if (r < 0)
                return -ENODATA; /* no AKI: no ARI */
        r = gnutls_x509_crt_get_serial(crt, serial, &serial_size);
        if (r < 0)
                return errno_from_gnutls(r);
        /* §4.1: the DER encoding of the serial's INTEGER value, i.e. with a leading zero when the top bit
         * is set. GnuTLS hands the bytes as they are in the certificate. */
        if ((r = jws_base64url_encode(aki, aki_size, &a)) < 0 ||
            (r = jws_base64url_encode(serial, serial_size, &b)) < 0)
                return r;
        return asprintf(ret, "%s.%s", a, b) < 0 ? -ENOMEM : 0;
}

int acme_ari_url(const char *base, const char *cert_id, char **ret) {
        size_t n;

        /* An empty base would have us look one byte before it for its trailing '/'. */
        if (!base || !cert_id || (n = strlen(base)) == 0)
                return -EINVAL;
        return asprintf(ret, "%s%s%s", base, base[n - 1] == '/' ? "" : "/", cert_id) < 0 ? -ENOMEM : 0;
}

int acme_parse_renewal_info(const char *body, size_t size, usec_t *ret_start, usec_t *ret_end) {
        json_t *j = json_loadb(body, size, 0, NULL);
        const json_t *w = json_object_get(j, "suggestedWindow");
        usec_t start, end;
        int r = -EBADMSG;

        if (acme_parse_time(json_string_value(json_object_get(w, "start")), &start) >= 0 &&
            acme_parse_time(json_string_value(json_object_get(w, "end")), &end) >= 0 && end > start) {
                *ret_start = start;
                *ret_end = end;
                r = 0;
        }
        json_decref(j);
        return r;
}

usec_t acme_ari_retry_after(bool has_retry_after, usec_t retry_after) {
        if (!has_retry_after)
                return ACME_ARI_RETRY_DEFAULT;
        return retry_after < ACME_ARI_RETRY_MAX ? retry_after : ACME_ARI_RETRY_MAX;
}

usec_t acme_ari_pick(usec_t start, usec_t end, uint64_t random) {
        return end > start ? start + random % (end - start) : start;
}

int acme_renewal_info(AcmeSession *s, const char *cert_id, usec_t *ret_start, usec_t *ret_end,
                      usec_t *ret_retry_after) {
        const AcmeDirectory *dir = acme_session_directory(s);
        _cleanup_free_ char *url = NULL;
        AcmeResponse resp = {};
        int r;

        if (!dir->renewal_info)
                return -EOPNOTSUPP;
        r = acme_ari_url(dir->renewal_info, cert_id, &url);
        if (r < 0)
                return r == -EINVAL ? -EOPNOTSUPP : r;
        r = acme_get(s, url, &resp);
        if (r >= 0) {
                r = acme_parse_renewal_info(resp.body, resp.size, ret_start, ret_end);
                if (r < 0)
                        log_error("[acme \"%s\"] %s: not a renewalInfo document",
                                  acme_session_config(s)->name, url);
                else
                        *ret_retry_after = acme_ari_retry_after(resp.has_retry_after, resp.retry_after);
        } else
                acme_log_failure(s, r, &resp, url, "cannot fetch renewal information");
        acme_response_done(&resp);
        return r;
}

/* The point picked for this window before, or 0. */
static usec_t ari_saved_point(AcmeSession *s, const char *rel, const char *id, usec_t start, usec_t end) {
        _cleanup_free_ char *data = NULL;
        const char *sid;
        usec_t when = 0;
        size_t size;
        json_t *j;

        if (acme_session_read_state(s, rel, 64 * 1024, &data, &size) < 0 ||
            !(j = json_loadb(data, size, 0, NULL)))
                return 0;
        sid = json_string_value(json_object_get(j, "id"));
        if (sid && strcmp(sid, id) == 0 &&
            (usec_t) json_integer_value(json_object_get(j, "start")) == start &&
            (usec_t) json_integer_value(json_object_get(j, "end")) == end)
                when = (usec_t) json_integer_value(json_object_get(j, "point"));
        json_decref(j);
        return when >= start && when < end ? when : 0;
}

int acme_ari_due(AcmeSession *s, const CertConfig *c, usec_t now, AcmeAriDecision *ret) {
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_free_ char *id = NULL, *rel = NULL, *text = NULL;
        AcmeAriDecision d = {};
        uint64_t rnd;
        size_t size;
        json_t *j;
        int r;

        if (!acme_session_has_ari(s))
                return -EOPNOTSUPP;
        r = read_full_file(c->certificate, ARI_CERT_MAX, &data, &size);
        if (r < 0)
                return r;
        r = acme_ari_cert_id(data, size, &id);
        if (r < 0)
                return r;
        r = acme_renewal_info(s, id, &d.start, &d.end, &d.retry_after);
        if (r < 0)
                return r;

        /* One random point per window (§4.2), kept so that every run agrees on it; a moved window (the
         * CA wants it sooner, say after an incident) gets a new one. */
        if (asprintf(&rel, "ari/%s.json", c->name) < 0)
                return -ENOMEM;
        d.when = ari_saved_point(s, rel, id, d.start, d.end);
        if (d.when == 0) {
                r = gnutls_rnd(GNUTLS_RND_NONCE, &rnd, sizeof(rnd));
                if (r < 0)
                        return errno_from_gnutls(r);
                d.when = acme_ari_pick(d.start, d.end, rnd);
                j = json_pack("{s:s, s:I, s:I, s:I}", "id", id, "start", (json_int_t) d.start, "end",
                              (json_int_t) d.end, "point", (json_int_t) d.when);
                text = j ? json_dumps(j, JSON_COMPACT) : NULL;
                json_decref(j);
                if (!text)
                        return -ENOMEM;
                r = acme_session_write_state(s, rel, text);
                if (r < 0)
                        log_warning_errno(r, "[acme \"%s\"] cannot write %s: %m, ignoring",
                                          acme_session_config(s)->name, rel);
        }
        d.due = now >= d.when;
        d.id = TAKE_PTR(id);
        *ret = d;
        return 0;
}

/* ---- many certificates ---- */

struct AcmeAriSet {
        const Inventory *inv;
        AcmeSession **sessions; /* indexed like inv->acme */
        int *errors;
};

AcmeAriSet *acme_ari_set_new(const Inventory *inv) {
        AcmeAriSet *a = calloc(1, sizeof(*a));

        if (!a)
                return NULL;
        a->inv = inv;
        a->sessions = new0(AcmeSession *, inv->n_acme);
        a->errors = new0(int, inv->n_acme);
        if (!a->sessions || !a->errors)
                return acme_ari_set_free(a);
        return a;
}

AcmeAriSet *acme_ari_set_free(AcmeAriSet *a) {
        if (!a)
                return NULL;
        for (size_t i = 0; a->sessions && i < a->inv->n_acme; i++)
                acme_session_free(a->sessions[i]);
        free(a->sessions);
        free(a->errors);
        free(a);
        return NULL;
}

bool acme_ari_set_ask(AcmeAriSet *a, const CertConfig *c, usec_t now, usec_t *ret_next) {
        AcmeAriDecision d = {};
        size_t i;
        int r;

        /* Unless the server says when: ask again after the default interval. */
        *ret_next = now + ACME_ARI_RETRY_DEFAULT;
        if (!a || c->issuer != ISSUER_ACME || !c->issuer_name)
                return false;
        for (i = 0; i < a->inv->n_acme; i++)
                if (strcmp(a->inv->acme[i]->name, c->issuer_name) == 0)
                        break;
        if (i == a->inv->n_acme || a->errors[i] < 0)
                return false;
        if (!a->sessions[i]) {
                a->errors[i] = acme_session_new(a->inv, a->inv->acme[i], &a->sessions[i]);
                if (a->errors[i] < 0)
                        return false;
        }
        /* A server without renewalInfo: its plain schedule, and nothing to say about it. */
        if (!acme_session_has_ari(a->sessions[i]))
                return false;
        r = acme_ari_due(a->sessions[i], c, now, &d);
        if (r < 0) {
                if (r != -ENODATA && r != -EOPNOTSUPP)
                        log_warning_errno(r, "%s: cannot fetch its ARI renewal window: %m, ignoring",
                                          c->name);
                return false;
        }
        free(d.id);
        /* The server's Retry-After (capped) says when it has something new to say (RFC 9773 §4.3). */
        *ret_next = now + d.retry_after;
        if (d.due)
                log_info("%s: inside the renewal window the ACME server suggests (ARI)", c->name);
        return d.due;
}
