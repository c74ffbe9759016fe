/* SPDX-License-Identifier: GPL-3.0-or-later */
/* What `certherd import certbot` parses, kept apart from the import itself: certbot's renewal/NAME.conf
 * (configobj text; only the subset certbot writes is accepted, anything else is an error naming the line)
 * and its account keys (RFC 7517 JWK). Pure: fuzzed by tests/fuzz/fuzz-import.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gnutls-util.h"
#include "import-certbot.h"
#include "jws.h"
#include "macro.h"

#define RENEWAL_FILE_MAX (1024U * 1024U)
#define LINE_MAX_BYTES (64U * 1024U)

/* ---- the renewal file parser (pure) ---- */

CertbotConf *certbot_conf_free(CertbotConf *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_entries; i++) {
                free(c->entries[i].section);
                free(c->entries[i].key);
                strv_free(c->entries[i].values);
        }
        free(c->entries);
        free(c);
        return NULL;
}

const CertbotEntry *certbot_conf_get(const CertbotConf *c, const char *section, const char *key) {
        for (size_t i = 0; c && i < c->n_entries; i++)
                if (strcmp(c->entries[i].section, section) == 0 && strcmp(c->entries[i].key, key) == 0)
                        return &c->entries[i];
        return NULL;
}

const char *certbot_conf_value(const CertbotConf *c, const char *section, const char *key) {
        const CertbotEntry *e = certbot_conf_get(c, section, key);

        return e && !e->is_list ? e->values[0] : NULL;
}

static int fail(char **reterr, unsigned line, const char *msg) {
        if (reterr && asprintf(reterr, "%u: %s", line, msg) < 0)
                *reterr = NULL;
        return -EBADMSG;
}

static char *strip(char *s) {
        char *e;

        while (*s == ' ' || *s == '\t')
                s++;
        e = s + strlen(s);
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
                *--e = 0;
        return s;
}

/* One item of a value: 'quoted', "quoted" or bare (up to ',' or '#'). *p advances past it. */
static int parse_item(char **p, char **ret, const char **reterr) {
        char *s = *p, *start, *end;

        while (*s == ' ' || *s == '\t')
                s++;
        if (*s == '\'' || *s == '"') {
                char q = *s;
                if (s[1] == q && s[2] == q) {
                        *reterr = "multi-line (triple-quoted) values are not supported";
                        return -EBADMSG;
                }
                start = s + 1;
                end = strchr(start, q);
                if (!end) {
                        *reterr = "unterminated quote";
                        return -EBADMSG;
                }
                s = end + 1;
        } else {
                start = s;
                while (*s && *s != ',' && *s != '#') {
                        if (*s == '\'' || *s == '"') {
                                *reterr = "a quote inside an unquoted value";
                                return -EBADMSG;
                        }
                        s++;
                }
                end = s;
                while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
                        end--;
        }
        *ret = strndup(start, (size_t) (end - start));
        if (!*ret)
                return -ENOMEM;
        while (*s == ' ' || *s == '\t')
                s++;
        *p = s;
        return 0;
}

static int parse_value(char *v, char ***ret, bool *ret_list, const char **reterr) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;
        bool list = false;
        int r;

        for (;;) {
                _cleanup_free_ char *item = NULL;

                if (list && (*v == 0 || *v == '#'))
                        break; /* "a, b," — configobj's trailing comma */
                r = parse_item(&v, &item, reterr);
                if (r < 0)
                        return r;
                if (list && !*item) {
                        *reterr = "an empty list item";
                        return -EBADMSG;
                }
                r = strv_consume(&l, &n, TAKE_PTR(item));
                if (r < 0)
                        return r;
                if (*v == ',') {
                        list = true;
                        v++;
                        while (*v == ' ' || *v == '\t')
                                v++;
                        continue;
                }
                if (*v != 0 && *v != '#') {
                        *reterr = "text after a quoted value";
                        return -EBADMSG;
                }
                break;
        }
        *ret = TAKE_PTR(l);
        *ret_list = list;
        return 0;
}

static int parse_name(char *s, char **ret, const char **reterr) {
        size_t n = strlen(s);

        if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0]) {
                s[n - 1] = 0;
                s++;
        }
        if (!*s || strpbrk(s, "\"'[]=# \t")) {
                *reterr = "invalid name";
                return -EBADMSG;
        }
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

typedef struct ParseState {
        char *top;     /* the current [section] */
        char *section; /* "top" or "top/sub" */
} ParseState;

static int parse_header(ParseState *st, char *s, unsigned lineno, char **reterr) {
        _cleanup_free_ char *name = NULL;
        size_t open = strspn(s, "["), len = strlen(s), close = 0;
        const char *why = NULL;
        char *joined;
        int r;

        while (close < len && s[len - 1 - close] == ']')
                close++;
        if (open != close || open > 2 || len <= open * 2)
                return fail(reterr, lineno, "invalid section header");
        s[len - close] = 0;
        r = parse_name(strip(s + open), &name, &why);
        if (r < 0)
                return r == -ENOMEM ? r : fail(reterr, lineno, why);
        if (open == 1) {
                free(st->top);
                st->top = strdup(name);
                joined = TAKE_PTR(name);
        } else {
                /* certbot writes one level of subsection: [[webroot_map]] under [renewalparams]. */
                if (!st->top)
                        return fail(reterr, lineno, "a subsection outside of a section");
                if (asprintf(&joined, "%s/%s", st->top, name) < 0)
                        return -ENOMEM;
        }
        free(st->section);
        st->section = joined;
        return st->top && joined ? 0 : -ENOMEM;
}

static int parse_line(CertbotConf *c, ParseState *st, char *line, unsigned lineno, char **reterr) {
        _cleanup_free_ char *key = NULL;
        _cleanup_strv_free_ char **values = NULL;
        const char *why = NULL;
        char *s = strip(line), *eq;
        CertbotEntry *ne;
        bool list;
        int r;

        if (!*s || *s == '#')
                return 0;
        /* certbot never writes one; a key or hook with an escape sequence or a lone CR is refused. */
        for (const char *ch = s; *ch; ch++)
                if (((unsigned char) *ch < 0x20 && *ch != '\t') || *ch == 0x7f)
                        return fail(reterr, lineno, "a control character");
        if (*s == '[')
                return parse_header(st, s, lineno, reterr);
        eq = strchr(s, '=');
        if (!eq)
                return fail(reterr, lineno, "expected 'key = value'");
        *eq = 0;
        r = parse_name(strip(s), &key, &why);
        if (r >= 0)
                r = parse_value(strip(eq + 1), &values, &list, &why);
        if (r < 0)
                return r == -ENOMEM ? r : fail(reterr, lineno, why);
        if (certbot_conf_get(c, st->section ?: "", key))
                return fail(reterr, lineno, "a key given twice");
        ne = ARRAY_APPEND(c->entries, c->n_entries);
        if (!ne)
                return -ENOMEM;
        *ne = (CertbotEntry){ .section = strdup(st->section ?: ""),
                              .key = TAKE_PTR(key),
                              .values = TAKE_PTR(values),
                              .is_list = list,
                              .line = lineno };
        return ne->section ? 0 : -ENOMEM;
}

int certbot_conf_parse(const char *text, size_t size, CertbotConf **ret, char **reterr) {
        _cleanup_(certbot_conf_freep) CertbotConf *c = NULL;
        _cleanup_free_ char *buf = NULL;
        ParseState st = {};
        unsigned lineno = 0;
        char *p, *nl;
        int r = 0;

        if (size > RENEWAL_FILE_MAX)
                return fail(reterr, 0, "file larger than 1 MiB");
        if (memchr(text, 0, size))
                return fail(reterr, (unsigned) 0, "a NUL byte");
        c = calloc(1, sizeof(CertbotConf));
        buf = strndup(text, size);
        if (!c || !buf)
                return -ENOMEM;
        for (p = buf; r >= 0 && p && *p; p = nl) {
                nl = strchr(p, '\n');
                if (nl)
                        *nl++ = 0;
                lineno++;
                if (strlen(p) > LINE_MAX_BYTES)
                        r = fail(reterr, lineno, "line longer than 64 KiB");
                else
                        r = parse_line(c, &st, p, lineno, reterr);
        }
        free(st.top);
        free(st.section);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

/* ---- account keys (RFC 7517 JWK) ---- */

static int jwk_datum(json_t *j, const char *name, gnutls_datum_t *ret) {
        json_t *v = json_object_get(j, name);
        uint8_t *data;
        size_t size;
        int r;

        if (!json_is_string(v))
                return -EBADMSG;
        r = jws_base64url_decode(json_string_value(v), json_string_length(v), &data, &size);
        if (r < 0 || size == 0 || size > 1024) {
                if (r >= 0)
                        free(data);
                return r == -ENOMEM ? r : -EBADMSG;
        }
        *ret = (gnutls_datum_t){ .data = data, .size = (unsigned) size };
        return 0;
}

int import_jwk_privkey(const char *text, size_t size, gnutls_x509_privkey_t *ret) {
        _cleanup_x509_privkey_ gnutls_x509_privkey_t key = NULL;
        gnutls_datum_t d[8] = {};
        const char *kty;
        json_t *j;
        int r = -EBADMSG;

        j = json_loadb(text, size, JSON_REJECT_DUPLICATES, NULL);
        kty = json_string_value(json_object_get(j, "kty"));
        if (!json_is_object(j) || !kty)
                goto out;
        if (gnutls_x509_privkey_init(&key) < 0) {
                r = -ENOMEM;
                goto out;
        }
        if (strcmp(kty, "RSA") == 0) {
                static const char *const f[] = { "n", "e", "d", "p", "q", "qi", "dp", "dq" };
                for (size_t i = 0; i < ELEMENTSOF(f); i++)
                        if ((r = jwk_datum(j, f[i], &d[i])) < 0)
                                goto out;
                /* GnuTLS recomputes the coefficient and exponents on import; verify_params checks the rest. */
                r = gnutls_x509_privkey_import_rsa_raw2(key, &d[0], &d[1], &d[2], &d[3], &d[4], &d[5], &d[6],
                                                        &d[7]) < 0
                            ? -EBADMSG
                            : 0;
        } else if (strcmp(kty, "EC") == 0) {
                const char *crv = json_string_value(json_object_get(j, "crv"));
                gnutls_ecc_curve_t curve = !crv                        ? GNUTLS_ECC_CURVE_INVALID
                                           : strcmp(crv, "P-256") == 0 ? GNUTLS_ECC_CURVE_SECP256R1
                                           : strcmp(crv, "P-384") == 0 ? GNUTLS_ECC_CURVE_SECP384R1
                                                                       : GNUTLS_ECC_CURVE_INVALID;
                if (curve == GNUTLS_ECC_CURVE_INVALID)
                        goto out;
                if ((r = jwk_datum(j, "x", &d[0])) < 0 || (r = jwk_datum(j, "y", &d[1])) < 0 ||
                    (r = jwk_datum(j, "d", &d[2])) < 0)
                        goto out;
                r = gnutls_x509_privkey_import_ecc_raw(key, curve, &d[0], &d[1], &d[2]) < 0 ? -EBADMSG : 0;
        }
        if (r >= 0 && gnutls_x509_privkey_verify_params(key) < 0)
                r = -EBADMSG;
        if (r >= 0)
                *ret = TAKE_PTR(key);
out:
        for (size_t i = 0; i < ELEMENTSOF(d); i++)
                free(d[i].data);
        json_decref(j);
        return r;
}
