/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The pure half of the ACME client: documents and headers in, structs out. Everything here takes
 * untrusted server input (tests/fuzz/fuzz-acme-json.c drives it). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>

#include "acme-json.h"
#include "config.h"
#include "macro.h"

static char *dup_string(const json_t *j) {
        const char *s = json_string_value(j);

        return s ? strdup(s) : NULL;
}

/* A copy of a JSON string member, or NULL. Sets *oom when a present string could not be copied. */
static char *member(const json_t *j, const char *key, bool *oom) {
        const char *s = json_string_value(json_object_get(j, key));
        char *d;

        if (!s)
                return NULL;
        d = strdup(s);
        if (!d)
                *oom = true;
        return d;
}

void acme_problem_done(AcmeProblem *p) {
        free_many(p->type, p->detail, p->subproblems);
        *p = (AcmeProblem){};
}

bool acme_problem_is(const AcmeProblem *p, const char *name) {
        static const char prefix[] = "urn:ietf:params:acme:error:";

        return p->type && strncmp(p->type, prefix, sizeof(prefix) - 1) == 0 &&
               strcmp(p->type + sizeof(prefix) - 1, name) == 0;
}

int acme_problem_from_json(const json_t *j, AcmeProblem *p) {
        const json_t *subs, *sub;
        bool oom = false;
        size_t i;

        acme_problem_done(p);
        if (!json_is_string(json_object_get(j, "type")))
                return -EINVAL;
        p->type = member(j, "type", &oom);
        p->detail = member(j, "detail", &oom);

        /* RFC 8555 §6.7.1: one problem per identifier, kept as one line. */
        subs = json_object_get(j, "subproblems");
        json_array_foreach (subs, i, sub) {
                const json_t *id = json_object_get(sub, "identifier");
                const char *v = json_string_value(json_object_get(id, "value"));
                const char *t = json_string_value(json_object_get(sub, "type"));
                const char *d = json_string_value(json_object_get(sub, "detail"));
                char *n;

                if (asprintf(&n, "%s%s%s: %s: %s", p->subproblems ?: "", p->subproblems ? "; " : "",
                             v ?: "?", t ?: "?", d ?: "") < 0) {
                        oom = true;
                        break;
                }
                free(p->subproblems);
                p->subproblems = n;
        }
        if (oom) {
                acme_problem_done(p);
                return -ENOMEM;
        }
        return 0;
}

void acme_directory_done(AcmeDirectory *d) {
        free_many(d->new_nonce, d->new_account, d->new_order, d->revoke_cert, d->key_change, d->renewal_info,
                  d->terms_of_service);
        strv_free(d->profiles);
        strv_free(d->profile_descriptions);
        strv_free(d->caa_identities);
        *d = (AcmeDirectory){};
}

int acme_parse_directory(const char *body, size_t size, AcmeDirectory *ret) {
        _cleanup_(acme_directory_done) AcmeDirectory d = {};
        json_t *j, *meta;
        bool oom = false;

        j = json_loadb(body, size, 0, NULL);
        if (!json_is_object(j)) {
                json_decref(j);
                return -EBADMSG;
        }
        d.new_nonce = member(j, "newNonce", &oom);
        d.new_account = member(j, "newAccount", &oom);
        d.new_order = member(j, "newOrder", &oom);
        d.revoke_cert = member(j, "revokeCert", &oom);
        d.key_change = member(j, "keyChange", &oom);
        d.renewal_info = member(j, "renewalInfo", &oom);
        if (d.renewal_info && !*d.renewal_info) {
                /* "renewalInfo": "" names no endpoint: no ARI (and no URL built by appending to nothing). */
                free(d.renewal_info);
                d.renewal_info = NULL;
        }
        meta = json_object_get(j, "meta");
        d.terms_of_service = member(meta, "termsOfService", &oom);
        d.eab_required = json_is_true(json_object_get(meta, "externalAccountRequired"));
        if (json_is_object(json_object_get(meta, "profiles")) && !oom) {
                const json_t *profiles = json_object_get(meta, "profiles"), *v;
                size_t n = json_object_size(profiles), k = 0;
                const char *name;

                d.profiles = calloc(n + 1, sizeof(char *));
                d.profile_descriptions = calloc(n + 1, sizeof(char *));
                if (!d.profiles || !d.profile_descriptions)
                        oom = true;
                json_object_foreach ((json_t *) profiles, name, v) {
                        if (oom)
                                break;
                        /* The description is free text for people (often a URL); a profile name must be
                         * printable to reach logs and JSON as it is. */
                        if (!*name || strpbrk(name, " \t\r\n\"\\") || strlen(name) > 64)
                                continue;
                        d.profiles[k] = strdup(name);
                        d.profile_descriptions[k] = strdup(json_is_string(v) ? json_string_value(v) : "");
                        if (!d.profiles[k] || !d.profile_descriptions[k])
                                oom = true;
                        k++;
                }
        }
        if (json_is_array(json_object_get(meta, "caaIdentities")) && !oom) {
                const json_t *ids = json_object_get(meta, "caaIdentities"), *v;
                size_t i, k = 0;

                d.caa_identities = calloc(json_array_size(ids) + 1, sizeof(char *));
                oom = !d.caa_identities;
                json_array_foreach ((json_t *) ids, i, v) {
                        const char *id = json_string_value(v);

                        if (oom)
                                break;
                        /* A domain name: it goes into zone file lines and CAA comparisons. */
                        if (!id || !*id || strlen(id) > 253 ||
                            strspn(id, "abcdefghijklmnopqrstuvwxyz"
                                       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != strlen(id))
                                continue;
                        d.caa_identities[k] = strdup(id);
                        oom = !d.caa_identities[k++];
                }
        }
        json_decref(j);
        if (oom)
                return -ENOMEM;
        if (!d.new_nonce || !d.new_account || !d.new_order)
                return -EBADMSG;
        *ret = TAKE_STRUCT(d);
        return 0;
}

static char **string_array(const json_t *a, bool *oom) {
        const json_t *v;
        char **l;
        size_t i, n = 0;

        if (!json_is_array(a))
                return NULL;
        l = calloc(json_array_size(a) + 1, sizeof(char *));
        if (!l) {
                *oom = true;
                return NULL;
        }
        json_array_foreach (a, i, v) {
                /* identifiers are objects {type, value}; authorizations are strings */
                const json_t *s = json_is_object(v) ? json_object_get(v, "value") : v;

                if (!json_is_string(s))
                        continue;
                if (!(l[n++] = dup_string(s))) {
                        *oom = true;
                        break;
                }
        }
        return l;
}

void acme_order_done(AcmeOrder *o) {
        free_many(o->status, o->finalize, o->certificate);
        strv_free(o->authorizations);
        strv_free(o->identifiers);
        acme_problem_done(&o->error);
        *o = (AcmeOrder){};
}

int acme_parse_order(const json_t *j, AcmeOrder *ret) {
        _cleanup_(acme_order_done) AcmeOrder o = {};
        bool oom = false;
        int r;

        if (!json_is_object(j))
                return -EBADMSG;
        o.status = member(j, "status", &oom);
        o.finalize = member(j, "finalize", &oom);
        o.certificate = member(j, "certificate", &oom);
        o.authorizations = string_array(json_object_get(j, "authorizations"), &oom);
        o.identifiers = string_array(json_object_get(j, "identifiers"), &oom);
        if (json_is_object(json_object_get(j, "error"))) {
                r = acme_problem_from_json(json_object_get(j, "error"), &o.error);
                oom = oom || r == -ENOMEM;
        }
        if (oom)
                return -ENOMEM;
        if (!o.status || !o.finalize || !o.authorizations)
                return -EBADMSG;
        *ret = TAKE_STRUCT(o);
        return 0;
}

bool acme_token_is_valid(const char *s) {
        if (!s || !*s || strlen(s) > 256)
                return false;
        for (; *s; s++)
                if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
                      *s == '-' || *s == '_'))
                        return false;
        return true;
}

void acme_authz_done(AcmeAuthz *a) {
        free_many(a->status, a->identifier_type, a->identifier, a->challenge_url, a->challenge_status,
                  a->token);
        strv_free(a->issuer_domain_names);
        acme_problem_done(&a->challenge_error);
        *a = (AcmeAuthz){};
}

int acme_parse_authz(const json_t *j, const char *challenge_type, AcmeAuthz *ret) {
        _cleanup_(acme_authz_done) AcmeAuthz a = {};
        const json_t *ch;
        bool oom = false, persist, bad = false;
        size_t i;

        if (!json_is_object(j))
                return -EBADMSG;
        a.status = member(j, "status", &oom);
        a.identifier_type = member(json_object_get(j, "identifier"), "type", &oom);
        a.identifier = member(json_object_get(j, "identifier"), "value", &oom);
        a.wildcard = json_is_true(json_object_get(j, "wildcard"));
        json_array_foreach (json_object_get(j, "challenges"), i, ch) {
                const char *t = json_string_value(json_object_get(ch, "type"));

                if (!t || strcmp(t, challenge_type) != 0)
                        continue;
                a.challenge_url = member(ch, "url", &oom);
                a.challenge_status = member(ch, "status", &oom);
                a.token = member(ch, "token", &oom);
                if (strcmp(t, "dns-persist-01") == 0)
                        a.issuer_domain_names = string_array(json_object_get(ch, "issuer-domain-names"),
                                                             &oom);
                if (json_is_object(json_object_get(ch, "error")) &&
                    acme_problem_from_json(json_object_get(ch, "error"), &a.challenge_error) == -ENOMEM)
                        oom = true;
                break;
        }
        if (oom)
                return -ENOMEM;
        persist = strcmp(challenge_type, "dns-persist-01") == 0;
        for (char **n = a.issuer_domain_names; n && *n; n++)
                if (!config_dns_name_is_valid(*n) || (*n)[0] == '*')
                        bad = true;
        if (!a.status || !a.identifier || bad ||
            (a.challenge_url && (!a.challenge_status || (!persist && !acme_token_is_valid(a.token)) ||
                                 (persist && strv_length(a.issuer_domain_names) == 0))))
                return -EBADMSG;
        *ret = TAKE_STRUCT(a);
        return 0;
}

bool acme_directory_has_profile(const AcmeDirectory *d, const char *profile) {
        for (char **p = d ? d->profiles : NULL; p && *p; p++)
                if (strcmp(*p, profile) == 0)
                        return true;
        return false;
}

int acme_parse_retry_after(const char *value, usec_t now, usec_t *ret) {
        const char *p = value;
        unsigned long long secs = 0;
        struct tm tm = {};
        time_t t;

        while (*p == ' ' || *p == '\t')
                p++;
        if (*p >= '0' && *p <= '9') {
                for (; *p >= '0' && *p <= '9'; p++) {
                        secs = secs * 10 + (unsigned) (*p - '0');
                        if (secs > 365ULL * 86400)
                                return -EINVAL;
                }
                while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
                        p++;
                if (*p)
                        return -EINVAL;
                *ret = secs * USEC_PER_SEC;
                return 0;
        }
        /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
        p = strptime(p, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        if (!p)
                return -EINVAL;
        t = timegm(&tm);
        if (t < 0)
                return -EINVAL;
        *ret = (usec_t) t * USEC_PER_SEC > now ? (usec_t) t * USEC_PER_SEC - now : 0;
        return 0;
}

static const char *skip_ws(const char *p) {
        while (*p == ' ' || *p == '\t')
                p++;
        return p;
}

/* Link: <https://x/cert/1/1>;rel="alternate", <https://x/dir>;rel="index" */
int acme_parse_link(const char *value, const char *rel, char ***list) {
        const char *p = value;
        int found = 0;

        for (;;) {
                const char *url, *url_end;
                bool match = false;

                p = skip_ws(p);
                if (*p != '<')
                        return found;
                url = ++p;
                url_end = strchr(url, '>');
                if (!url_end)
                        return found;
                p = url_end + 1;
                /* parameters up to the next ',' outside quotes */
                for (;;) {
                        const char *name, *v;
                        size_t name_len, v_len;
                        bool quoted;

                        p = skip_ws(p);
                        if (*p != ';')
                                break;
                        p = skip_ws(p + 1);
                        name = p;
                        while (*p && *p != '=' && *p != ';' && *p != ',' && *p != ' ')
                                p++;
                        name_len = (size_t) (p - name);
                        p = skip_ws(p);
                        if (*p != '=')
                                continue;
                        p = skip_ws(p + 1);
                        quoted = *p == '"';
                        if (quoted)
                                p++;
                        v = p;
                        while (*p && (quoted ? *p != '"' : (*p != ';' && *p != ',' && *p != ' ')))
                                p++;
                        v_len = (size_t) (p - v);
                        if (quoted && *p == '"')
                                p++;
                        /* rel may list several relation types separated by spaces */
                        if (name_len == 3 && strncasecmp(name, "rel", 3) == 0) {
                                const char *t = v, *end = v + v_len;

                                while (t < end) {
                                        const char *e = memchr(t, ' ', (size_t) (end - t)) ?: end;

                                        if ((size_t) (e - t) == strlen(rel) &&
                                            strncasecmp(t, rel, (size_t) (e - t)) == 0)
                                                match = true;
                                        t = e + 1;
                                }
                        }
                }
                if (match) {
                        if (strv_consume(list, NULL, strndup(url, (size_t) (url_end - url))) < 0)
                                return -ENOMEM;
                        found++;
                }
                while (*p && *p != ',')
                        p++;
                if (*p != ',')
                        return found;
                p++;
        }
}

int acme_parse_time(const char *s, usec_t *ret) {
        struct tm tm = {};
        const char *p;
        long offset = 0;
        usec_t frac = 0, scale = USEC_PER_SEC;
        time_t t;

        if (!s)
                return -EINVAL;
        p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!p)
                return -EINVAL;
        if (*p == '.') {
                for (p++; *p >= '0' && *p <= '9'; p++)
                        if (scale > 1) {
                                scale /= 10;
                                frac += (usec_t) (*p - '0') * scale;
                        }
        }
        if (*p == 'Z' || *p == 'z')
                p++;
        else if ((*p == '+' || *p == '-') && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9' &&
                 p[3] == ':' && p[4] >= '0' && p[4] <= '9' && p[5] >= '0' && p[5] <= '9') {
                offset = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600L +
                         ((p[4] - '0') * 10 + (p[5] - '0')) * 60L;
                if (*p == '-')
                        offset = -offset;
                p += 6;
        } else
                return -EINVAL;
        if (*p)
                return -EINVAL;
        t = timegm(&tm);
        if (t == (time_t) -1 || t - offset < 0)
                return -EINVAL;
        *ret = (usec_t) (t - offset) * USEC_PER_SEC + frac;
        return 0;
}

int acme_authz_identifier_check(const AcmeAuthz *a, char *const *ordered) {
        _cleanup_free_ char *name = NULL;
        bool ip;

        /* Whatever the server claims reaches file names, hooks, certificates and logs: first make sure it
         * is a name at all (no "\n", no spaces, no "../"), then that it is one we asked for. */
        if (!a->identifier || !config_san_is_valid(a->identifier) || strncmp(a->identifier, "*.", 2) == 0)
                return -EBADMSG;
        ip = config_ip_is_valid(a->identifier);
        if (a->identifier_type && strcmp(a->identifier_type, ip ? "ip" : "dns") != 0)
                return -EBADMSG;
        if (a->wildcard && ip)
                return -EBADMSG;
        if (asprintf(&name, "%s%s", a->wildcard ? "*." : "", a->identifier) < 0)
                return -ENOMEM;
        for (char *const *n = ordered; n && *n; n++)
                if (strcasecmp(*n, name) == 0)
                        return 0;
        return -EPERM;
}

int acme_url_origin(const char *url, char **ret) {
        const char *p, *host, *host_end, *port = NULL;
        size_t scheme_len, port_len = 0;
        unsigned long port_v;
        char *o, *end;

        if (!url)
                return -EINVAL;
        for (p = url; *p; p++)
                if ((unsigned char) *p <= ' ' || *p == 0x7f)
                        return -EINVAL;
        if (strncasecmp(url, "https://", 8) == 0)
                scheme_len = 5;
        else if (strncasecmp(url, "http://", 7) == 0)
                scheme_len = 4;
        else
                return -EINVAL;
        host = url + scheme_len + 3;
        p = host + strcspn(host, "/?#");
        if (memchr(host, '@', (size_t) (p - host)))
                return -EINVAL; /* userinfo: a classic way to make a URL read as another host */
        if (*host == '[') {
                host_end = memchr(host, ']', (size_t) (p - host));
                if (!host_end)
                        return -EINVAL;
                host_end++;
        } else
                host_end = host + strcspn(host, ":/?#");
        if (host_end == host || (host_end < p && *host_end != ':'))
                return -EINVAL;
        if (host_end < p) {
                port = host_end + 1;
                port_len = (size_t) (p - port);
        }
        if (port_len > 0) {
                if (port_len > 5 || strspn(port, "0123456789") != port_len)
                        return -EINVAL;
                port_v = strtoul(port, &end, 10);
                if (port_v == 0 || port_v > 65535)
                        return -EINVAL;
        } else
                port_v = scheme_len == 5 ? 443 : 80;
        if (asprintf(&o, "%s://%.*s:%lu", scheme_len == 5 ? "https" : "http", (int) (host_end - host), host,
                     port_v) < 0)
                return -ENOMEM;
        for (char *c = o; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                        *c = (char) (*c - 'A' + 'a');
        *ret = o;
        return 0;
}

bool acme_url_has_origin(const char *url, const char *origin) {
        _cleanup_free_ char *o = NULL;

        return origin && acme_url_origin(url, &o) >= 0 && strcmp(o, origin) == 0;
}
