/* SPDX-License-Identifier: GPL-3.0-or-later */
/* `certherd import certbot`: reads /etc/letsencrypt (renewal/NAME.conf, the live/ certificates, the accounts
 * under accounts/SERVER/ID/) and writes one [certificate] set per lineage plus the [acme] sections whose
 * accounts it copies into certherd's state directory. The renewal files are configobj text; only the
 * subset certbot writes is accepted, and anything else is an error naming the file and line. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "fd-util.h"
#include "gnutls-util.h"
#include "import-certbot.h"
#include "import-inventory.h"
#include "install.h"
#include "jws.h"
#include "log.h"
#include "x509.h"

#define RENEWAL_FILE_MAX (1024U * 1024U)
#define LINE_MAX_BYTES (64U * 1024U)
#define CERT_FILE_MAX (1024U * 1024U)
#define ACCOUNT_FILE_MAX (64U * 1024U)

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
                char **nl;

                if (list && (*v == 0 || *v == '#'))
                        break; /* "a, b," — configobj's trailing comma */
                r = parse_item(&v, &item, reterr);
                if (r < 0)
                        return r;
                if (list && !*item) {
                        *reterr = "an empty list item";
                        return -EBADMSG;
                }
                nl = reallocarray(l, n + 2, sizeof(char *));
                if (!nl)
                        return -ENOMEM;
                l = nl;
                l[n++] = TAKE_PTR(item);
                l[n] = NULL;
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
        ne = reallocarray(c->entries, c->n_entries + 1, sizeof(CertbotEntry));
        if (!ne)
                return -ENOMEM;
        c->entries = ne;
        ne += c->n_entries;
        *ne = (CertbotEntry) { .section = strdup(st->section ?: ""), .key = TAKE_PTR(key),
                               .values = TAKE_PTR(values), .is_list = list, .line = lineno };
        c->n_entries++;
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
        *ret = (gnutls_datum_t) { .data = data, .size = (unsigned) size };
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
                r = gnutls_x509_privkey_import_rsa_raw2(key, &d[0], &d[1], &d[2], &d[3], &d[4], &d[5], &d[6], &d[7]) <
                                    0
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

/* ---- the import ---- */

typedef struct Account {
        char *name; /* [acme "NAME"] */
        char *group; /* what lineages must share to share the section */
        char *server, *id, *webroot, *listen, *preferred_chain;
        char *url, *contact, *note;
        gnutls_x509_privkey_t key; /* NULL: not found; certherd registers */
} Account;

typedef struct Lineage {
        char *name, *conf_path;
        CertbotConf *conf;
        CertFacts *facts;
        char *hook_path, *hook_text;
        Account *account; /* NULL: watched only */
        char *why_watch;  /* why it is watched only */
} Lineage;

typedef struct Import {
        const ImportOptions *o;
        const char *dir;
        char *state_dir;
        Lineage *lineages;
        size_t n_lineages;
        Account *accounts;
        size_t n_accounts;
        bool has_leaf;
} Import;

static void import_done(Import *im) {
        for (size_t i = 0; i < im->n_lineages; i++) {
                Lineage *l = &im->lineages[i];
                free(l->name);
                free(l->conf_path);
                certbot_conf_free(l->conf);
                cert_facts_free(l->facts);
                free(l->hook_path);
                free(l->hook_text);
                free(l->why_watch);
        }
        for (size_t i = 0; i < im->n_accounts; i++) {
                Account *a = &im->accounts[i];
                free(a->name);
                free(a->group);
                free(a->server);
                free(a->id);
                free(a->webroot);
                free(a->listen);
                free(a->preferred_chain);
                free(a->url);
                free(a->contact);
                free(a->note);
                if (a->key)
                        gnutls_x509_privkey_deinit(a->key);
        }
        free(im->lineages);
        free(im->accounts);
        free(im->state_dir);
}

static const char *param(const Lineage *l, const char *key) {
        return certbot_conf_value(l->conf, "renewalparams", key);
}

static bool is_true(const char *v) {
        return v && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

static int lineage_path(const Lineage *l, const char *key, const char **ret) {
        const char *v = certbot_conf_value(l->conf, "", key);

        if (!v || v[0] != '/') {
                log_error("%s: '%s' is missing or not an absolute path", l->conf_path, key);
                return -EBADMSG;
        }
        *ret = v;
        return 0;
}

static int lineage_inspect(Lineage *l) {
        _cleanup_free_ uint8_t *data = NULL;
        const char *fullchain;
        size_t size;
        int r;

        r = lineage_path(l, "fullchain", &fullchain);
        if (r < 0)
                return r;
        r = read_full_file(fullchain, CERT_FILE_MAX, &data, &size);
        if (r < 0)
                return log_error_errno(r, "%s: cannot read its certificate %s: %s", l->conf_path, fullchain,
                                       file_strerror(r));
        r = x509_inspect(&(X509Input) { .cert_path = fullchain, .cert_data = data, .cert_size = size }, now_realtime(),
                         &l->facts);
        if (r < 0)
                return log_error_errno(r, "Out of memory");
        if (!l->facts->parsed || !l->facts->names || !l->facts->names[0])
                return log_error_errno(-EBADMSG, "%s: %s holds no certificate with subjectAltNames", l->conf_path,
                                       fullchain);
        return 0;
}

/* webroot_map (per name) or webroot_path: one directory for every name, or none. */
static int lineage_webroot(const Lineage *l, char **ret, char **ret_why) {
        const CertbotEntry *path = certbot_conf_get(l->conf, "renewalparams", "webroot_path");
        const char *root = NULL;

        for (char **n = l->facts->names; *n; n++) {
                const char *m = certbot_conf_value(l->conf, "renewalparams/webroot_map", *n);
                if (!m && path && !path->values[1])
                        m = path->values[0];
                if (!m || m[0] != '/')
                        return asprintf(ret_why, "no webroot for %s in webroot_map", *n) < 0 ? -ENOMEM : 0;
                if (root && strcmp(root, m) != 0)
                        return asprintf(ret_why, "names with different webroots (%s, %s): certherd has one per [acme]",
                                        root, m) < 0
                                       ? -ENOMEM
                                       : 0;
                root = m;
        }
        *ret = strdup(root);
        return *ret ? 0 : -ENOMEM;
}

static int load_account(Import *im, Account *a) {
        _cleanup_free_ char *dir = NULL, *kpath = NULL, *rpath = NULL;
        _cleanup_free_ uint8_t *kdata = NULL, *rdata = NULL;
        const char *host = a->server + strlen("https://"), *uri;
        size_t ksize, rsize;
        json_t *regr, *contact;
        int r;

        /* accounts/NETLOC+PATH/ID/ as certbot's configuration.accounts_dir_for_server_path() makes it. */
        if (strstr(host, "/../") || strstr(host, "/./") || strspn(a->id, "0123456789abcdefABCDEF") != strlen(a->id) ||
            !*a->id)
                return log_error_errno(-EBADMSG, "certbot account '%s' of %s: not an account id", a->id, a->server);
        if (asprintf(&dir, "%s/accounts/%s/%s", im->dir, host, a->id) < 0 ||
            asprintf(&kpath, "%s/private_key.json", dir) < 0 || asprintf(&rpath, "%s/regr.json", dir) < 0)
                return -ENOMEM;
        r = read_full_file_flags(kpath, READ_STRICT, ACCOUNT_FILE_MAX, &kdata, &ksize);
        if (r == -ENOENT)
                return asprintf(&a->note, "certbot's account %s is not in %s: certherd registers a new one", a->id,
                                dir) < 0
                               ? -ENOMEM
                               : 0;
        if (r < 0)
                return log_error_errno(r, "%s: %s", kpath, file_strerror(r));
        r = read_full_file_flags(rpath, READ_STRICT, ACCOUNT_FILE_MAX, &rdata, &rsize);
        if (r < 0)
                return log_error_errno(r, "%s: %s", rpath, file_strerror(r));
        r = import_jwk_privkey((const char *) kdata, ksize, &a->key);
        if (r < 0)
                return log_error_errno(r, "%s: not an RSA or EC private key in JWK form", kpath);
        regr = json_loadb((const char *) rdata, rsize, JSON_REJECT_DUPLICATES, NULL);
        uri = json_string_value(json_object_get(regr, "uri"));
        if (!uri || strncmp(uri, "https://", 8) != 0 || strpbrk(uri, " \t\r\n")) {
                json_decref(regr);
                return log_error_errno(-EBADMSG, "%s: no account URL (\"uri\")", rpath);
        }
        a->url = strdup(uri);
        contact = json_object_get(json_object_get(regr, "body"), "contact");
        for (size_t i = 0; json_is_array(contact) && i < json_array_size(contact); i++) {
                const char *c = json_string_value(json_array_get(contact, i));
                char *n;
                if (!c || !*c || strpbrk(c, " ,\t\r\n;$"))
                        continue;
                if (asprintf(&n, "%s%s%s", a->contact ?: "", a->contact ? " " : "", c) < 0)
                        n = NULL;
                free(a->contact);
                a->contact = n;
        }
        json_decref(regr);
        return a->url ? 0 : -ENOMEM;
}

/* The [acme] section a lineage renews through, shared with lineages that agree on everything it holds. */
static int lineage_account(Import *im, Lineage *l) {
        _cleanup_free_ char *webroot = NULL, *listen = NULL, *group = NULL, *why = NULL;
        const char *server = param(l, "server"), *id = param(l, "account"), *auth = param(l, "authenticator");
        const char *chain = param(l, "preferred_chain");
        Account *a;
        int r;

        if (!server || strncmp(server, "https://", 8) != 0)
                return asprintf(&l->why_watch, "server '%s' is no https:// ACME directory", server ?: "") < 0 ? -ENOMEM : 0;
        if (!id)
                return asprintf(&l->why_watch, "no account in renewalparams") < 0 ? -ENOMEM : 0;
        if (!auth)
                auth = "standalone"; /* certbot's default authenticator */
        if (strcmp(auth, "webroot") == 0) {
                r = lineage_webroot(l, &webroot, &why);
                if (r < 0)
                        return r;
                if (why) {
                        l->why_watch = TAKE_PTR(why);
                        return 0;
                }
        } else if (strcmp(auth, "standalone") == 0) {
                const char *port = param(l, "http01_port") ?: "80", *addr = param(l, "http01_address") ?: "";
                if (strspn(port, "0123456789") != strlen(port) || !*port || strlen(port) > 5)
                        return asprintf(&l->why_watch, "http01_port '%s' is no port", port) < 0 ? -ENOMEM : 0;
                if (asprintf(&listen, strchr(addr, ':') ? "[%s]:%s" : "%s:%s", *addr ? addr : "[::]", port) < 0)
                        return -ENOMEM;
        } else if (strncmp(auth, "dns-", 4) == 0)
                return asprintf(&l->why_watch,
                                "authenticator %s: certbot's DNS plugin credentials cannot be mapped; give [acme] "
                                "challenge = dns-01 with a dns-hook, then issuer = acme:…",
                                auth) < 0
                               ? -ENOMEM
                               : 0;
        else
                return asprintf(&l->why_watch,
                                "authenticator %s (%s) cannot be mapped: serve a webroot for "
                                "/.well-known/acme-challenge/ and use [acme] webroot, or listen",
                                auth,
                                strcmp(auth, "manual") == 0 ? "manual hooks answer challenges their own way"
                                                            : "it edits the web server's configuration") < 0
                               ? -ENOMEM
                               : 0;

        if (asprintf(&group, "%s|%s|%s|%s|%s", server, id, webroot ?: "", listen ?: "", chain ?: "") < 0)
                return -ENOMEM;
        for (size_t i = 0; i < im->n_accounts; i++)
                if (strcmp(im->accounts[i].group, group) == 0) {
                        l->account = &im->accounts[i];
                        return 0;
                }
        a = reallocarray(im->accounts, im->n_accounts + 1, sizeof(Account));
        if (!a)
                return -ENOMEM;
        im->accounts = a;
        a += im->n_accounts++;
        *a = (Account) { .group = TAKE_PTR(group), .server = strdup(server), .id = strdup(id),
                         .webroot = TAKE_PTR(webroot), .listen = TAKE_PTR(listen),
                         .preferred_chain = chain ? strdup(chain) : NULL };
        r = import_section_name("certbot", l->name, &a->name);
        if (r < 0 || !a->server || !a->id)
                return -ENOMEM;
        l->account = a;
        return load_account(im, a);
}

/* renew_hook and renewal-hooks/deploy/ become one exec hook: a wrapper that gives them certbot's
 * environment (RENEWED_LINEAGE, RENEWED_DOMAINS) and runs the deploy directory as certbot does. */
static int lineage_hook(Import *im, Lineage *l) {
        _cleanup_free_ char *deploy = NULL, *lineage = NULL, *text = NULL, *domains = NULL;
        const char *renew_hook = param(l, "renew_hook"), *cert;
        size_t size = 0, dsize = 0;
        bool any = false;
        FILE *f, *d;
        DIR *dir;
        int r;

        r = lineage_path(l, "cert", &cert);
        if (r < 0)
                return r;
        lineage = strndup(cert, (size_t) (strrchr(cert, '/') - cert));
        if (!lineage || asprintf(&deploy, "%s/renewal-hooks/deploy", im->dir) < 0)
                return -ENOMEM;
        dir = opendir(deploy);
        for (struct dirent *de = dir ? readdir(dir) : NULL; de; de = readdir(dir)) {
                size_t n = strlen(de->d_name);
                if (de->d_name[0] != '.' && de->d_name[n - 1] != '~')
                        any = true;
        }
        if (dir)
                closedir(dir);
        if (!any && !renew_hook)
                return 0;

        d = open_memstream(&domains, &dsize);
        if (!d)
                return -ENOMEM;
        for (char **n = l->facts->names; *n; n++)
                fprintf(d, "%s%s", n == l->facts->names ? "" : " ", *n);
        fclose(d);
        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        fprintf(f, "#!/bin/sh\n# certherd exec hook of [certificate \"%s\"], written by `certherd import certbot` "
                   "from %s.\n# It runs what certbot ran after renewing this lineage, with certbot's deploy hook "
                   "environment.\nRENEWED_LINEAGE=",
                l->name, l->conf_path);
        import_shell_quote(f, lineage);
        fputs("\nRENEWED_DOMAINS=", f);
        import_shell_quote(f, domains);
        fputs("\nexport RENEWED_LINEAGE RENEWED_DOMAINS\nrc=0\n", f);
        if (renew_hook) {
                fputs("# renew_hook (--deploy-hook) of the renewal file\n/bin/sh -c ", f);
                import_shell_quote(f, renew_hook);
                fputs(" || rc=1\n", f);
        }
        fputs("# every executable in certbot's deploy hook directory, in order, as certbot runs them\nfor hook in ", f);
        import_shell_quote(f, deploy);
        fputs("/*; do\n        case $hook in *~) continue ;; esac\n        [ -f \"$hook\" ] && [ -x \"$hook\" ] || "
              "continue\n        \"$hook\" || rc=1\ndone\nexit $rc\n",
              f);
        if (fclose(f) != 0)
                return -ENOMEM;
        l->hook_text = TAKE_PTR(text);
        return asprintf(&l->hook_path, "%s/import/certbot-%s-deploy", im->state_dir, l->name) < 0 ? -ENOMEM : 0;
}

static const char *key_type_of(const Lineage *l, const char **ret_note) {
        const char *type = param(l, "key_type"), *size = param(l, "rsa_key_size"), *curve = param(l, "elliptic_curve");

        *ret_note = NULL;
        if (type && strcmp(type, "rsa") == 0) {
                if (!size || strcmp(size, "2048") == 0)
                        return "rsa-2048";
                if (strcmp(size, "3072") == 0)
                        return "rsa-3072";
                if (strcmp(size, "4096") == 0)
                        return "rsa-4096";
                *ret_note = "rsa_key_size";
        } else if (type && strcmp(type, "ecdsa") == 0) {
                if (!curve || strcmp(curve, "secp256r1") == 0)
                        return "ec-p256";
                if (strcmp(curve, "secp384r1") == 0)
                        return "ec-p384";
                *ret_note = "elliptic_curve";
        } else if (type)
                *ret_note = "key_type";
        /* Not in the file (certbot before 2.0 did not write it): the key certbot made last time. */
        if (l->facts->key_type && key_type_from_string(l->facts->key_type) >= 0)
                return l->facts->key_type;
        return NULL;
}

static int emit_lineage(Import *im, ImportWriter *w, const Lineage *l) {
        const char *cert, *key, *chain, *fullchain, *kt, *note, *profile = param(l, "preferred_profile");
        _cleanup_free_ char *names = NULL;
        size_t n = 0;
        FILE *f;
        int r;

        if ((r = lineage_path(l, "cert", &cert)) < 0 || (r = lineage_path(l, "privkey", &key)) < 0 ||
            (r = lineage_path(l, "chain", &chain)) < 0 || (r = lineage_path(l, "fullchain", &fullchain)) < 0)
                return r;
        if (import_section(w, "certificate", l->name) < 0)
                return -EINVAL;
        import_comment(w, "certbot lineage %s", l->conf_path);
        if (import_key(w, "certificate", fullchain) < 0 || import_key(w, "key", key) < 0)
                return log_error_errno(-EBADMSG, "%s: a path certherd's inventory cannot hold", l->conf_path);
        if (im->has_leaf) {
                if (import_key(w, "leaf", cert) < 0 || import_key(w, "chain", chain) < 0)
                        return log_error_errno(-EBADMSG, "%s: a path certherd's inventory cannot hold", l->conf_path);
        } else
                import_comment(w, "cert.pem and chain.pem cannot be kept by this certherd (no leaf/chain keys)");

        f = open_memstream(&names, &n);
        if (!f)
                return -ENOMEM;
        for (char **s = l->facts->names; *s; s++)
                if (config_san_is_valid(*s))
                        fprintf(f, "%s%s", ftell(f) > 0 ? " " : "", *s);
                else
                        import_comment(w, "not imported: the name '%s' of the certificate", *s);
        fclose(f);
        if (names && *names)
                (void) import_key(w, "names", names);

        if (!l->account || !im->has_leaf) {
                import_comment(w, "watched only: %s",
                               l->why_watch ?: "renewal would leave cert.pem and chain.pem behind (no leaf/chain keys)");
                (void) import_key(w, "issuer", "none");
        } else {
                _cleanup_free_ char *issuer = NULL;
                if (asprintf(&issuer, "acme:%s", l->account->name) < 0)
                        return -ENOMEM;
                (void) import_key(w, "issuer", issuer);
        }
        kt = key_type_of(l, &note);
        if (kt)
                (void) import_key(w, "key-type", kt);
        if (note)
                import_comment(w, "not imported: %s '%s': certherd makes ec-p256, ec-p384 and rsa-2048/3072/4096 keys",
                               note, param(l, note));
        (void) import_key(w, "key-policy", is_true(param(l, "reuse_key")) ? "reuse" : "rotate");
        if (profile) {
                /* An ACME profile means something only to an ACME issuer: a watched set keeps it as a note. */
                if (import_inventory_knows("certificate", "profile") && l->account && im->has_leaf)
                        (void) import_key_or_comment(w, "profile", profile);
                else
                        import_comment(w, "not imported: preferred_profile = %s (%s)", profile,
                                       l->account && im->has_leaf ? "this certherd has no profile key"
                                                                  : "the set is watched only");
        }
        if (l->hook_path)
                (void) import_key(w, "exec", l->hook_path);
        if (param(l, "pre_hook") || param(l, "post_hook"))
                import_comment(w, "not imported: pre_hook/post_hook (certbot runs them around every renewal attempt; "
                                  "certherd runs a hook only after an install): %s%s%s",
                               param(l, "pre_hook") ?: "", param(l, "pre_hook") ? " " : "", param(l, "post_hook") ?: "");
        if (param(l, "installer") && strcmp(param(l, "installer"), "none") != 0)
                import_comment(w, "installer %s: certherd writes the live/ files in place; reload the server with "
                                  "reload = UNIT if the deploy hooks do not",
                               param(l, "installer"));
        return 0;
}

static int emit(Import *im, ImportWriter *w) {
        const char *ca_bundle = getenv("REQUESTS_CA_BUNDLE");

        import_comment(w, "Imported by `certherd import certbot` from %s.", im->dir);
        import_comment(w, "certbot's live/ files are links into archive/; certherd replaces each with a regular file");
        import_comment(w, "at its first install, and keeps certificate, key, leaf and chain consistent as one set.");
        for (size_t i = 0; i < im->n_accounts; i++) {
                const Account *a = &im->accounts[i];
                if (import_section(w, "acme", a->name) < 0)
                        return -EINVAL;
                if (import_key(w, "directory", a->server) < 0)
                        return log_error_errno(-EBADMSG, "server '%s': not a URL the inventory can hold", a->server);
                if (a->contact)
                        (void) import_key_or_comment(w, "contact", a->contact);
                if (a->webroot)
                        (void) import_key_or_comment(w, "webroot", a->webroot);
                if (a->listen)
                        (void) import_key_or_comment(w, "listen", a->listen);
                if (a->preferred_chain)
                        (void) import_key_or_comment(w, "preferred-chain", a->preferred_chain);
                /* certbot trusts a private ACME server through requests' REQUESTS_CA_BUNDLE. */
                if (ca_bundle && ca_bundle[0] == '/')
                        (void) import_key_or_comment(w, "ca-bundle", ca_bundle);
                if (a->note)
                        import_comment(w, "%s", a->note);
                else
                        import_comment(w, "account %s (certbot id %s), stored in %s/acme/%s/", a->url, a->id,
                                       im->state_dir, a->name);
        }
        for (size_t i = 0; i < im->n_lineages; i++) {
                int r = emit_lineage(im, w, &im->lineages[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int read_lineages(Import *im) {
        _cleanup_free_ char *renewal = NULL;
        struct dirent **des = NULL;
        int n, r = 0;

        if (asprintf(&renewal, "%s/renewal", im->dir) < 0)
                return -ENOMEM;
        n = scandir(renewal, &des, NULL, alphasort);
        if (n < 0)
                return log_error_errno(-errno, "cannot read %s: %m", renewal);
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *path = NULL, *err = NULL, *base = NULL;
                _cleanup_free_ uint8_t *data = NULL;
                const char *name = des[i]->d_name;
                size_t len = strlen(name), size;
                Lineage *l;

                if (r < 0 || name[0] == '.' || len <= 5 || strcmp(name + len - 5, ".conf") != 0)
                        continue;
                if (asprintf(&path, "%s/%s", renewal, name) < 0 || !(base = strndup(name, len - 5))) {
                        r = -ENOMEM;
                        continue;
                }
                r = read_full_file(path, RENEWAL_FILE_MAX, &data, &size);
                if (r < 0) {
                        log_error_errno(r, "%s: %s", path, file_strerror(r));
                        continue;
                }
                l = reallocarray(im->lineages, im->n_lineages + 1, sizeof(Lineage));
                if (!l) {
                        r = -ENOMEM;
                        continue;
                }
                im->lineages = l;
                l += im->n_lineages++;
                *l = (Lineage) { .conf_path = TAKE_PTR(path) };
                r = import_section_name(NULL, base, &l->name);
                if (r >= 0)
                        r = certbot_conf_parse((const char *) data, size, &l->conf, &err);
                if (r == -EBADMSG)
                        log_error("%s:%s", l->conf_path, err ?: " invalid");
                if (r >= 0)
                        r = lineage_inspect(l);
        }
        for (int i = 0; i < n; i++)
                free(des[i]);
        free(des);
        if (r >= 0 && im->n_lineages == 0)
                return log_error_errno(-ENOENT, "%s holds no renewal/*.conf: nothing to import", im->dir);
        return r;
}

/* A live/ link becomes a regular file with its target's content, owner and mode: certherd reuses only a key
 * that is a regular file of its own (keys.c), and installs replace the last component anyway. */
static int unlink_live(const char *path) {
        _cleanup_free_ uint8_t *data = NULL;
        struct stat lst, st;
        size_t size;
        int r;

        if (lstat(path, &lst) < 0)
                return log_error_errno(-errno, "cannot stat %s: %m", path);
        if (!S_ISLNK(lst.st_mode))
                return 0;
        if (stat(path, &st) < 0)
                return log_error_errno(-errno, "%s: a link to nothing: %m", path);
        r = read_full_file(path, CERT_FILE_MAX, &data, &size);
        if (r >= 0)
                r = install_file(&(InstallFile) { .path = path, .data = data, .size = size, .mode = st.st_mode & 07777,
                                                  .uid = st.st_uid, .gid = st.st_gid });
        if (r < 0)
                return log_error_errno(r, "cannot replace the link %s with a file: %s", path, file_strerror(r));
        return 0;
}

static int disable_source(const Lineage *l) {
        static const char *const keys[] = { "privkey", "fullchain", "cert", "chain" };
        _cleanup_free_ char *to = NULL;

        if (asprintf(&to, "%s.certherd-imported", l->conf_path) < 0)
                return -ENOMEM;
        if (rename(l->conf_path, to) < 0)
                return log_error_errno(-errno, "cannot rename %s: %m", l->conf_path);
        log_notice("%s: renamed to %s: certbot no longer renews it", l->conf_path, to);
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                const char *p = certbot_conf_value(l->conf, "", keys[i]);
                if (unlink_live(p) < 0)
                        return -EIO;
        }
        return 0;
}

int import_certbot(const ImportOptions *o) {
        _cleanup_(import_done) Import im = { .o = o, .dir = o->config_dir ?: "/etc/letsencrypt" };
        _cleanup_(import_writer_done) ImportWriter w = {};
        int r;

        r = import_state_directory(o, &im.state_dir);
        if (r < 0)
                return r == -ENOMEM ? 1 : 3;
        if (o->write && access(o->write, F_OK) >= 0) {
                log_error("%s exists: not replacing it (remove it or write elsewhere)", o->write);
                return 1;
        }
        im.has_leaf = import_inventory_knows("certificate", "leaf") && import_inventory_knows("certificate", "chain");
        if (!im.has_leaf)
                log_warning("this certherd has no [certificate] leaf/chain keys: lineages are imported watch-only");
        r = read_lineages(&im);
        for (size_t i = 0; r >= 0 && i < im.n_lineages; i++) {
                r = lineage_account(&im, &im.lineages[i]);
                if (r >= 0)
                        r = lineage_hook(&im, &im.lineages[i]);
        }
        if (r >= 0)
                r = import_writer_init(&w);
        if (r >= 0)
                r = emit(&im, &w);
        if (r >= 0)
                r = import_writer_validate(&w);
        if (r < 0)
                return 1;

        /* Everything was read and the text is complete: now the effects, accounts and hooks first so that the
         * inventory never names an account or hook that is not there. */
        for (size_t i = 0; i < im.n_accounts; i++)
                if (im.accounts[i].key &&
                    import_account(im.state_dir, im.accounts[i].name, im.accounts[i].key, im.accounts[i].server,
                                   im.accounts[i].url, im.accounts[i].contact) < 0)
                        return 1;
        for (size_t i = 0; i < im.n_lineages; i++) {
                const Lineage *l = &im.lineages[i];
                if (!l->hook_path)
                        continue;
                if (import_install_hook(l->hook_path, l->hook_text) < 0)
                        return 1;
        }
        if (import_writer_output(&w, o) < 0)
                return 1;
        for (size_t i = 0; o->disable_source && i < im.n_lineages; i++)
                if (im.lineages[i].account && im.has_leaf && disable_source(&im.lineages[i]) < 0)
                        return 1;
        return 0;
}
