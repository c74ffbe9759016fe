/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "acme.h"
#include "acme-internal.h"
#include "dns-persist.h"
#include "log.h"
#include "macro.h"

int persist_record_name(const char *name, char **ret) {
        if (strncmp(name, "*.", 2) == 0)
                name += 2;
        return asprintf(ret, "_validation-persist.%s", name) < 0 ? -ENOMEM : 0;
}

int persist_record_value(const char *issuer, const char *account, bool wildcard, char **ret) {
        return asprintf(ret, "%s; accounturi=%s%s", issuer, account, wildcard ? "; policy=wildcard" : "") < 0
                       ? -ENOMEM
                       : 0;
}

static const char *skip_ws(const char *p) {
        while (*p == ' ' || *p == '\t')
                p++;
        return p;
}

/* Compare DNS names without case and without a trailing dot. */
static bool name_equal(const char *a, size_t na, const char *b) {
        size_t nb = strlen(b);

        if (na > 0 && a[na - 1] == '.')
                na--;
        if (nb > 0 && b[nb - 1] == '.')
                nb--;
        return na == nb && strncasecmp(a, b, na) == 0;
}

/* One issue-value (RFC 8659 §4.2): "issuer *WSP [; *WSP key=value *WSP]*". Fills the issuer (pointer and
 * length) and the accounturi (malloc'd, NULL when absent). */
static int parse_value(const char *v, const char **ret_issuer, size_t *ret_n, char **ret_account) {
        const char *p = skip_ws(v), *q;

        *ret_account = NULL;
        *ret_issuer = p;
        q = p + strcspn(p, "; \t");
        *ret_n = (size_t) (q - p);
        p = q;
        while (*p) {
                const char *key, *eq, *end;

                p = skip_ws(p);
                if (*p == ';')
                        p++;
                p = skip_ws(p);
                if (!*p)
                        break;
                key = p;
                end = p + strcspn(p, ";");
                eq = memchr(key, '=', (size_t) (end - key));
                if (eq && (size_t) (eq - key) == strlen("accounturi") &&
                    strncasecmp(key, "accounturi", 10) == 0) {
                        const char *val = eq + 1, *e = end;

                        while (e > val && (e[-1] == ' ' || e[-1] == '\t'))
                                e--;
                        free(*ret_account);
                        *ret_account = strndup(val, (size_t) (e - val));
                        if (!*ret_account)
                                return -ENOMEM;
                }
                p = end;
        }
        return 0;
}

PersistMatch persist_match(char *const *values, char *const *issuers, const char *account,
                           const char **ret_issuer) {
        PersistMatch best = PERSIST_MISSING;

        if (ret_issuer)
                *ret_issuer = NULL;
        for (char *const *v = values; v && *v; v++) {
                _cleanup_free_ char *acct = NULL;
                const char *issuer;
                size_t n;

                if (parse_value(*v, &issuer, &n, &acct) < 0)
                        continue;
                for (char *const *i = issuers; i && *i; i++) {
                        if (!name_equal(issuer, n, *i))
                                continue;
                        if (acct && account && strcmp(acct, account) == 0) {
                                if (ret_issuer)
                                        *ret_issuer = *i;
                                return PERSIST_OK;
                        }
                        if (best == PERSIST_MISSING && ret_issuer)
                                *ret_issuer = *i;
                        best = PERSIST_OTHER_ACCOUNT;
                }
        }
        return best;
}

int persist_lookup(const char *owner, char ***ret) {
        _cleanup_free_ unsigned char *answer = NULL;
        char **l = NULL;
        size_t k = 0, n = 0;
        ns_msg msg;
        int r;

        r = dns_lookup(owner, ns_t_txt, &answer, &n);
        if (r == -ENOENT) { /* NXDOMAIN and NODATA are answers: no record. */
                *ret = calloc(1, sizeof(char *));
                return *ret ? 0 : -ENOMEM;
        }
        if (r < 0)
                return r;
        if (ns_initparse(answer, n, &msg) < 0)
                return -EHOSTUNREACH;
        l = calloc((size_t) ns_msg_count(msg, ns_s_an) + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
                const unsigned char *p, *end;
                ns_rr rr;
                char *s;
                size_t len = 0;

                if (ns_parserr(&msg, ns_s_an, i, &rr) < 0 || ns_rr_type(rr) != ns_t_txt)
                        continue;
                p = ns_rr_rdata(rr);
                end = p + ns_rr_rdlen(rr);
                s = malloc((size_t) ns_rr_rdlen(rr) + 1);
                if (!s) {
                        strv_free(l);
                        return -ENOMEM;
                }
                /* <character-string>s: a length byte, then that many bytes; concatenated (RFC 7208 style). */
                while (p < end) {
                        size_t m = *p++;

                        if (m > (size_t) (end - p))
                                m = (size_t) (end - p);
                        for (size_t j = 0; j < m; j++)
                                /* control characters would reach terminals and logs */
                                s[len++] = p[j] < 0x20 || p[j] == 0x7f ? ' ' : (char) p[j];
                        p += m;
                }
                s[len] = 0;
                l[k++] = s;
        }
        *ret = l;
        return 0;
}

/* `check`: a dns-persist-01 set whose standing record is missing or names another account fails at its
 * next order; say so now (through the system resolver). Warnings only: the CA's view of DNS may differ. */
void persist_warn(const Inventory *inv, CertConfig *const *certs) {
        for (size_t i = 0; i < inv->n_certs; i++) {
                const CertConfig *c = inv->certs[i];
                _cleanup_free_ char *account = NULL, *issuer = NULL;
                const AcmeConfig *a;
                bool selected = !certs;

                for (CertConfig *const *x = certs; x && *x; x++)
                        selected = selected || *x == c;
                if (!selected || c->issuer != ISSUER_ACME)
                        continue;
                a = inventory_find_acme(inv, c->issuer_name);
                if (!a || a->challenge != CHALLENGE_DNS_PERSIST_01 ||
                    acme_saved_state(inv, a, &account, &issuer) < 0)
                        continue;
                if (!account || !issuer) {
                        log_warning(
                                "%s: dns-persist-01: %s not known yet; run certherd acme persist-record %s",
                                c->name,
                                !account ? "the ACME account" : "the CA's issuer domain (persist-issuer)",
                                c->name);
                        continue;
                }
                for (char **n = c->names; n && *n; n++) {
                        _cleanup_free_ char *owner = NULL;
                        _cleanup_strv_free_ char **values = NULL;
                        char *issuers[] = { issuer, NULL };
                        PersistMatch m;

                        if (config_ip_is_valid(*n) || persist_record_name(*n, &owner) < 0)
                                continue;
                        if (persist_lookup(owner, &values) < 0) {
                                log_warning("%s: dns-persist-01: cannot look up the TXT record %s", c->name,
                                            owner);
                                continue;
                        }
                        m = persist_match(values, issuers, account, NULL);
                        if (m == PERSIST_MISSING)
                                log_warning(
                                        "%s: dns-persist-01: no TXT record %s for issuer %s; publish the one "
                                        "certherd acme persist-record %s prints",
                                        c->name, owner, issuer, c->name);
                        else if (m == PERSIST_OTHER_ACCOUNT)
                                log_warning(
                                        "%s: dns-persist-01: the TXT record %s names another ACME account than "
                                        "%s; "
                                        "publish the one certherd acme persist-record %s prints",
                                        c->name, owner, account, c->name);
                }
        }
}
