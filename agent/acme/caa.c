/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <arpa/nameser.h>
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acme.h"
#include "caa.h"
#include "acme-internal.h"
#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "state.h"

#ifndef ns_t_caa
#define ns_t_caa 257
#endif

void caa_set_done(CaaSet *s) {
        for (size_t i = 0; i < s->n; i++) {
                free(s->records[i].tag);
                free(s->records[i].value);
        }
        free(s->records);
        free(s->owner);
        *s = (CaaSet){};
}

int caa_parse_rdata(const uint8_t *p, size_t n, CaaRecord *ret) {
        _cleanup_free_ char *tag = NULL, *value = NULL;
        size_t tag_len;

        if (n < 2 || p[1] == 0 || (size_t) p[1] > n - 2)
                return -EBADMSG;
        tag_len = p[1];
        tag = strndup((const char *) p + 2, tag_len);
        value = malloc(n - 2 - tag_len + 1);
        if (!tag || !value)
                return -ENOMEM;
        for (char *t = tag; *t; t++) {
                if (!(*t >= 'a' && *t <= 'z') && !(*t >= 'A' && *t <= 'Z') && !(*t >= '0' && *t <= '9'))
                        return -EBADMSG;
                *t = (char) (*t >= 'A' && *t <= 'Z' ? *t - 'A' + 'a' : *t);
        }
        if (strlen(tag) != tag_len)
                return -EBADMSG;
        for (size_t i = 0; i < n - 2 - tag_len; i++) {
                uint8_t c = p[2 + tag_len + i];
                /* control characters (a NUL among them) would reach terminals and logs */
                value[i] = c < 0x20 || c == 0x7f ? ' ' : (char) c;
        }
        value[n - 2 - tag_len] = 0;
        *ret = (CaaRecord){ .flags = p[0], .tag = TAKE_PTR(tag), .value = TAKE_PTR(value) };
        return 0;
}

static bool tag_known(const char *tag) {
        static const char *const known[] = { "issue",        "issuewild", "iodef",   "contactemail",
                                             "contactphone", "issuemail", "issuevmc" };

        for (size_t i = 0; i < ELEMENTSOF(known); i++)
                if (strcmp(tag, known[i]) == 0)
                        return true;
        return false;
}

/* Trim spaces and tabs at both ends of [*s, *e). */
static void trim(const char **s, const char **e) {
        while (*s < *e && (**s == ' ' || **s == '\t'))
                (*s)++;
        while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
                (*e)--;
}

/* The parameter `key` of an issue value ("ca.example; accounturi=U; validationmethods=a,b") as a new
 * string in *ret (NULL when absent). Returns 0 or -ENOMEM. */
static int issue_parameter(const char *value, const char *key, char **ret) {
        const char *p = strchr(value, ';');

        *ret = NULL;
        while (p) {
                const char *s = p + 1, *end = strchr(s, ';'), *eq;

                p = end;
                if (!end)
                        end = s + strlen(s);
                trim(&s, &end);
                eq = memchr(s, '=', (size_t) (end - s));
                if (!eq || (size_t) (eq - s) != strlen(key) || strncasecmp(s, key, strlen(key)) != 0)
                        continue;
                s = eq + 1;
                trim(&s, &end);
                *ret = strndup(s, (size_t) (end - s));
                return *ret ? 0 : -ENOMEM;
        }
        return 0;
}

/* Whether the issuer domain of an issue value is one of `identities`. */
static bool issuer_matches(const char *value, char *const *identities) {
        const char *s = value, *end = value + strcspn(value, ";");

        trim(&s, &end);
        for (char *const *i = identities; i && *i; i++)
                if ((size_t) (end - s) == strlen(*i) && strncasecmp(s, *i, (size_t) (end - s)) == 0)
                        return true;
        return false;
}

static bool method_listed(const char *list, const char *method) {
        const char *p = list;

        while (*p) {
                const char *s = p, *end = p + strcspn(p, ",");

                p = *end ? end + 1 : end;
                trim(&s, &end);
                if ((size_t) (end - s) == strlen(method) && strncmp(s, method, (size_t) (end - s)) == 0)
                        return true;
        }
        return false;
}

CaaVerdict caa_judge(const CaaSet *set, bool wildcard, char *const *identities, const char *account,
                     const char *method) {
        const char *tag = "issue";
        CaaVerdict v = CAA_OTHER_CA;
        bool any = false;

        for (size_t i = 0; i < set->n; i++) {
                if ((set->records[i].flags & 0x80) && !tag_known(set->records[i].tag))
                        return CAA_CRITICAL_UNKNOWN;
                if (wildcard && strcmp(set->records[i].tag, "issuewild") == 0)
                        tag = "issuewild";
        }
        for (size_t i = 0; i < set->n; i++) {
                _cleanup_free_ char *uri = NULL, *methods = NULL;
                const CaaRecord *rec = &set->records[i];

                if (strcmp(rec->tag, tag) != 0)
                        continue;
                any = true;
                if (!issuer_matches(rec->value, identities))
                        continue;
                if (issue_parameter(rec->value, "accounturi", &uri) < 0 ||
                    issue_parameter(rec->value, "validationmethods", &methods) < 0)
                        return _CAA_VERDICT_INVALID;
                if (uri && account && strcmp(uri, account) != 0) {
                        v = v == CAA_OTHER_CA ? CAA_ACCOUNT : v;
                        continue;
                }
                if (methods && method && !method_listed(methods, method)) {
                        v = CAA_METHOD;
                        continue;
                }
                return CAA_PERMITTED;
        }
        return any ? v : CAA_PERMITTED;
}

/* The CAA records at exactly `owner`: n == 0 when there are none. */
static int lookup_at(const char *owner, CaaSet *ret) {
        _cleanup_free_ unsigned char *answer = NULL;
        _cleanup_(caa_set_done) CaaSet set = {};
        size_t size = 0;
        ns_msg msg;
        int r;

        r = dns_lookup(owner, ns_t_caa, &answer, &size);
        if (r == -ENOENT) {
                *ret = (CaaSet){};
                return 0;
        }
        if (r < 0)
                return r == -ENOMEM ? r : -EHOSTUNREACH;
        if (ns_initparse(answer, (int) size, &msg) < 0)
                return -EHOSTUNREACH;
        set.records = calloc((size_t) ns_msg_count(msg, ns_s_an) + 1, sizeof(CaaRecord));
        if (!set.records)
                return -ENOMEM;
        for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
                ns_rr rr;

                if (ns_parserr(&msg, ns_s_an, i, &rr) < 0 || ns_rr_type(rr) != ns_t_caa)
                        continue;
                r = caa_parse_rdata(ns_rr_rdata(rr), ns_rr_rdlen(rr), &set.records[set.n]);
                if (r == -ENOMEM)
                        return r;
                if (r >= 0)
                        set.n++;
        }
        *ret = TAKE_STRUCT(set);
        return 0;
}

int caa_lookup(const char *name, CaaSet *ret) {
        const char *n = strncmp(name, "*.", 2) == 0 ? name + 2 : name;

        /* Climb to the top-level domain, not the root: a CA stops there too. */
        for (const char *p = n; p && strchr(p, '.'); p = strchr(p, '.') + 1) {
                CaaSet set = {};
                int r = lookup_at(p, &set);

                if (r < 0)
                        return r;
                if (set.n > 0) {
                        set.owner = strdup(p);
                        if (!set.owner) {
                                caa_set_done(&set);
                                return -ENOMEM;
                        }
                        *ret = set;
                        return 0;
                }
                caa_set_done(&set);
        }
        *ret = (CaaSet){};
        return 0;
}

int caa_record_line(const char *name, const char *identity, const char *account, const char *method,
                    char **ret) {
        bool wildcard = strncmp(name, "*.", 2) == 0;

        return asprintf(ret, "%s. IN CAA 0 %s \"%s; accounturi=%s; validationmethods=%s\"",
                        name + (wildcard ? 2 : 0), wildcard ? "issuewild" : "issue", identity, account,
                        method) < 0
                       ? -ENOMEM
                       : 0;
}

int caa_saved_identities(const Inventory *inv, const AcmeConfig *a, char ***ret) {
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_strv_free_ char **l = NULL;
        size_t size = 0, n = 0;
        char *save = NULL;

        *ret = NULL;
        if (asprintf(&path, "%s/acme/%s/caa-identities", inv->agent.state_directory, a->name) < 0)
                return -ENOMEM;
        if (read_full_file(path, 64 * 1024, &data, &size) < 0)
                return 0;
        l = calloc(size / 2 + 2, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (char *line = strtok_r((char *) data, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                if (*line && !(l[n++] = strdup(line)))
                        return -ENOMEM;
        if (n > 0)
                *ret = TAKE_PTR(l);
        return 0;
}

static const char *verdict_text(CaaVerdict v) {
        switch (v) {
        case CAA_OTHER_CA:
                return "allows other CAs only";
        case CAA_ACCOUNT:
                return "names this CA for another ACME account (accounturi)";
        case CAA_METHOD:
                return "does not allow this challenge type (validationmethods)";
        case CAA_CRITICAL_UNKNOWN:
                return "has a critical property the CA does not know";
        default:
                return "cannot be read";
        }
}

int caa_check_set(const Inventory *inv, const CertConfig *c, char **ret_message) {
        _cleanup_strv_free_ char **ids = NULL;
        _cleanup_free_ char *account = NULL, *issuer = NULL;
        const AcmeConfig *a;
        const char *method;
        int r;

        *ret_message = NULL;
        a = c->issuer == ISSUER_ACME ? inventory_find_acme(inv, c->issuer_name) : NULL;
        if (!a)
                return 0;
        method = challenge_type_to_string(a->challenge);
        r = caa_saved_identities(inv, a, &ids);
        if (r < 0)
                return r;
        /* Without the CA's identities (a server that names none, or no session yet) there is nothing to
         * compare with. */
        if (!ids || acme_saved_state(inv, a, &account, &issuer) < 0)
                return ids ? -ENOMEM : 0;
        for (char **n = c->names; n && *n; n++) {
                _cleanup_(caa_set_done) CaaSet set = {};
                CaaVerdict v;

                if (config_ip_is_valid(*n) || caa_lookup(*n, &set) < 0)
                        continue;
                v = caa_judge(&set, strncmp(*n, "*.", 2) == 0, ids, account, method);
                if (v == CAA_PERMITTED)
                        continue;
                if (asprintf(
                            ret_message,
                            "%s: the CAA record at %s %s; `certherd acme caa-record %s` prints one that fits",
                            *n, set.owner, verdict_text(v), c->name) < 0)
                        return -ENOMEM;
                return 0;
        }
        return 0;
}

int caa_print_records(const Inventory *inv, const CertConfig *c, FILE *out) {
        _cleanup_(acme_session_freep) AcmeSession *s = NULL;
        _cleanup_free_ char *account = NULL;
        const AcmeConfig *a = inventory_find_acme(inv, c->issuer_name);
        const AcmeDirectory *d;
        int r;

        assert(a);
        r = state_directory(inv->agent.state_directory);
        if (r < 0)
                return r;
        r = acme_session_new(inv, a, &s);
        if (r < 0)
                return r;
        d = acme_session_directory(s);
        if (!d->caa_identities || !d->caa_identities[0])
                return log_error_errno(
                        -ENOENT,
                        "[acme \"%s\"] the server %s names no caaIdentities in its directory: "
                        "the issuer domain for CAA records is in the CA's documentation",
                        a->name, a->directory);
        account = acme_session_account_dup(s);
        if (!account)
                return log_error_errno(-ENOMEM, "Out of memory");
        for (char **n = c->names; n && *n; n++) {
                if (config_ip_is_valid(*n)) {
                        log_warning("%s: %s is an IP address: CAA applies to DNS names only", c->name, *n);
                        continue;
                }
                for (char **i = d->caa_identities; *i; i++) {
                        _cleanup_free_ char *line = NULL;

                        r = caa_record_line(*n, *i, account, challenge_type_to_string(a->challenge), &line);
                        if (r < 0)
                                return log_error_errno(-ENOMEM, "Out of memory");
                        fprintf(out, "%s\n", line);
                }
        }
        return 0;
}
