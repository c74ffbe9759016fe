/* SPDX-License-Identifier: GPL-3.0-or-later */
/* `certherd import acme.sh DIR`: every DIR/NAME/NAME.conf (NAME_ecc too) becomes a certificate set: the
 * install targets of --install-cert (Le_Real*Path) when they exist, acme.sh's own copies otherwise; the
 * account of its server (ca/SERVER/account.key, ca.conf ACCOUNT_URL) becomes certherd's. The .conf files
 * are shell that acme.sh sources: only plain assignments are accepted, nothing is ever run. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fd-util.h"
#include "gnutls-util.h"
#include "import-acmesh.h"
#include "import-inventory.h"
#include "jws.h"
#include "log.h"
#include "x509.h"

#define B64_START "__ACME_BASE64__START_"
#define B64_END "__ACME_BASE64__END_"

const char *acmesh_conf_get(char *const *kv, const char *key) {
        return import_kv_get(kv, key);
}

static int parse_assignment(char *s, char **ret_key, char **ret_value, const char **reterr) {
        size_t klen = 0;
        char *v, *end;

        if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_')) {
                *reterr = "expected KEY=VALUE";
                return -EBADMSG;
        }
        klen = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_");
        if (s[klen] != '=') {
                *reterr = "expected KEY=VALUE";
                return -EBADMSG;
        }
        v = s + klen + 1;
        if (*v == '\'' || *v == '"') {
                end = strchr(v + 1, *v);
                if (!end) {
                        *reterr = "unterminated quote";
                        return -EBADMSG;
                }
                if (*v == '"' && strpbrk(v + 1, "\\$`") && strpbrk(v + 1, "\\$`") < end) {
                        *reterr = "a shell expansion inside \"...\"";
                        return -EBADMSG;
                }
                if (end[1] != 0) {
                        *reterr = "text after the quoted value";
                        return -EBADMSG;
                }
                *end = 0;
                v++;
        } else if (strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._,:/@+=%-") !=
                   strlen(v)) {
                *reterr = "an unquoted value with shell syntax";
                return -EBADMSG;
        }
        *ret_key = strndup(s, klen);
        *ret_value = strdup(v);
        if (!*ret_key || !*ret_value) {
                free(*ret_key);
                free(*ret_value);
                return -ENOMEM;
        }
        return 0;
}

static int conf_line(char *p, unsigned lineno, ImportKv *kv, char **reterr) {
        const char *why = NULL;
        char *key = NULL, *value = NULL, *e;
        int r;

        e = p + strlen(p);
        while (e > p && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
                *--e = 0;
        while (*p == ' ' || *p == '\t')
                p++;
        if (!*p || *p == '#')
                return 0;
        for (const char *c = p; *c; c++)
                if ((unsigned char) *c < 0x20 && *c != '\t')
                        return import_line_error(reterr, lineno, "a control character");
        r = parse_assignment(p, &key, &value, &why);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return import_line_error(reterr, lineno, why);
        return import_kv_add(kv, key, value, lineno, reterr);
}

int acmesh_conf_parse(const char *text, size_t size, char ***ret, char **reterr) {
        return import_kv_parse(text, size, conf_line, ret, reterr);
}

int acmesh_decode_value(const char *v, char **ret) {
        _cleanup_free_ char *b64 = NULL;
        uint8_t *data;
        size_t len = strlen(v), size;
        const char *start;

        if (strncmp(v, B64_START, strlen(B64_START)) != 0) {
                *ret = strdup(v);
                return *ret ? 0 : -ENOMEM;
        }
        start = v + strlen(B64_START);
        if (len < strlen(B64_START) + strlen(B64_END) || strcmp(v + len - strlen(B64_END), B64_END) != 0)
                return -EBADMSG;
        b64 = strndup(start, len - strlen(B64_START) - strlen(B64_END));
        if (!b64)
                return -ENOMEM;
        for (char *c = b64; *c; c++)
                if (*c == '+')
                        *c = '-';
                else if (*c == '/')
                        *c = '_';
        if (jws_base64url_decode(b64, strlen(b64), &data, &size) < 0)
                return -EBADMSG;
        for (size_t i = 0; i < size; i++)
                if ((data[i] < 0x20 && data[i] != '\n' && data[i] != '\t') || data[i] == 0x7f) {
                        free(data);
                        return -EBADMSG;
                }
        *ret = (char *) data;
        return 0;
}

/* ---- the import ---- */

typedef struct Domain {
        char *name, *conf_path, *dir;
        char **kv;
        char *acme; /* [acme] section, NULL: watched only */
        char *why_watch;
        char *hook_path, *hook_text;
} Domain;

typedef struct Server {
        char *name, *api, *webroot, *listen;
        gnutls_x509_privkey_t key;
        char *url, *note;
} Server;

typedef struct AcmeshImport {
        const char *dir;
        uid_t owner;  /* of the source tree: root, or the user running the import */
        bool preview; /* no --write: nothing is written anywhere */
        char *state_dir;
        Domain *domains;
        size_t n_domains;
        Server *servers;
        size_t n_servers;
        bool has_leaf;
} AcmeshImport;

static void acmesh_import_done(AcmeshImport *im) {
        for (size_t i = 0; i < im->n_domains; i++) {
                Domain *d = &im->domains[i];
                free_many(d->name, d->conf_path, d->dir, d->why_watch, d->hook_path, d->hook_text);
                strv_free(d->kv);
        }
        for (size_t i = 0; i < im->n_servers; i++) {
                Server *s = &im->servers[i];
                free_many(s->name, s->api, s->webroot, s->listen, s->url, s->note);
                if (s->key)
                        gnutls_x509_privkey_deinit(s->key);
        }
        free_many(im->domains, im->servers, im->state_dir);
}

static const char *get(const Domain *d, const char *key) {
        const char *v = acmesh_conf_get(d->kv, key);
        /* acme.sh writes "no" (or nothing) for an unset option. */
        return v && *v && strcmp(v, "no") != 0 ? v : NULL;
}

static int load_server_account(AcmeshImport *im, Server *s) {
        _cleanup_free_ char *dir = NULL, *kpath = NULL, *cpath = NULL, *err = NULL;
        _cleanup_free_ uint8_t *kdata = NULL, *cdata = NULL;
        _cleanup_strv_free_ char **kv = NULL;
        const char *host = s->api + strlen("https://"), *url;
        size_t ksize, csize;
        int r;

        if (strstr(host, "..") || asprintf(&dir, "%s/ca/%s", im->dir, host) < 0)
                return -ENOMEM;
        while (dir[strlen(dir) - 1] == '/')
                dir[strlen(dir) - 1] = 0;
        if (asprintf(&kpath, "%s/account.key", dir) < 0 || asprintf(&cpath, "%s/ca.conf", dir) < 0)
                return -ENOMEM;
        r = import_source_read(im->dir, kpath, READ_STRICT, 64U * 1024U, &kdata, &ksize);
        if (r == -ENOENT)
                return asprintf(&s->note, "no acme.sh account in %s: certherd registers a new one", dir) < 0
                               ? -ENOMEM
                               : 0;
        if (r == -EPERM)
                return r;
        if (r < 0)
                return log_error_errno(r, "%s: %s", kpath, file_strerror(r));
        if (x509_load_privkey(kdata, ksize, NULL, &s->key) < 0)
                return log_error_errno(-EBADMSG, "%s: not a private key", kpath);
        r = import_source_read(im->dir, cpath, READ_STRICT, IMPORT_KV_FILE_MAX, &cdata, &csize);
        if (r == -EPERM)
                return r;
        if (r < 0)
                return log_error_errno(r, "%s: %s", cpath, file_strerror(r));
        r = import_parse_logged(acmesh_conf_parse((const char *) cdata, csize, &kv, &err), cpath, &err);
        if (r < 0)
                return r;
        url = acmesh_conf_get(kv, "ACCOUNT_URL");
        if (!url || strncmp(url, "https://", 8) != 0)
                return log_error_errno(-EBADMSG, "%s: no ACCOUNT_URL", cpath);
        s->url = strdup(url);
        return s->url ? 0 : -ENOMEM;
}

static int domain_server(AcmeshImport *im, Domain *d) {
        _cleanup_free_ char *webroot = NULL, *listen = NULL, *name = NULL;
        const char *api = get(d, "Le_API"), *wr = get(d, "Le_Webroot");
        Server *s;

        if (!api || strncmp(api, "https://", 8) != 0)
                return asprintf(&d->why_watch, "Le_API '%s' is no https:// ACME directory", api ?: "") < 0
                               ? -ENOMEM
                               : 0;
        if (!wr) {
                const char *port = get(d, "Le_HTTPPort") ?: "80";
                if (strspn(port, "0123456789") != strlen(port) || strlen(port) > 5)
                        return asprintf(&d->why_watch, "Le_HTTPPort '%s' is no port", port) < 0 ? -ENOMEM
                                                                                                : 0;
                if (asprintf(&listen, "[::]:%s", port) < 0)
                        return -ENOMEM;
        } else if (wr[0] == '/') {
                if (strchr(wr, ','))
                        return asprintf(&d->why_watch, "several webroots (%s): certherd has one per [acme]",
                                        wr) < 0
                                       ? -ENOMEM
                                       : 0;
                webroot = strdup(wr);
                if (!webroot)
                        return -ENOMEM;
        } else
                return asprintf(
                               &d->why_watch, "Le_Webroot %s: %s", wr,
                               strncmp(wr, "dns", 3) == 0
                                       ? "a DNS API: its credentials (account.conf) cannot be mapped; use [acme] "
                                         "challenge = dns-01 with a dns-hook"
                                       : "this mode cannot be mapped; use [acme] webroot or listen") < 0
                               ? -ENOMEM
                               : 0;

        for (size_t i = 0; i < im->n_servers; i++) {
                s = &im->servers[i];
                if (strcmp(s->api, api) == 0 && strcmp(s->webroot ?: "", webroot ?: "") == 0 &&
                    strcmp(s->listen ?: "", listen ?: "") == 0) {
                        d->acme = s->name;
                        return 0;
                }
        }
        if (import_section_name("acmesh", d->name, &name) < 0)
                return -ENOMEM;
        s = ARRAY_APPEND(im->servers, im->n_servers);
        if (!s)
                return -ENOMEM;
        *s = (Server){ .name = TAKE_PTR(name),
                       .api = strdup(api),
                       .webroot = TAKE_PTR(webroot),
                       .listen = TAKE_PTR(listen) };
        if (!s->api)
                return -ENOMEM;
        d->acme = s->name;
        return load_server_account(im, s);
}

/* A path of the set: the --install-cert target, or acme.sh's own copy in DIR/NAME/. */
static int domain_path(const Domain *d, const char *real, const char *own, char **ret) {
        const char *v = get(d, real);

        if (v) {
                if (v[0] != '/')
                        return log_error_errno(-EBADMSG, "%s: %s '%s' is not an absolute path", d->conf_path,
                                               real, v);
                *ret = strdup(v);
        } else if (asprintf(ret, "%s/%s", d->dir, own) < 0)
                *ret = NULL;
        return *ret ? 0 : -ENOMEM;
}

static int domain_hook(AcmeshImport *im, Domain *d, const char *cert, const char *key, const char *ca,
                       const char *fullchain) {
        _cleanup_free_ char *cmd = NULL;
        const char *v = get(d, "Le_ReloadCmd");
        ImportHook h;
        FILE *f;

        if (!v)
                return 0;
        if (acmesh_decode_value(v, &cmd) < 0)
                return log_error_errno(-EBADMSG, "%s: Le_ReloadCmd is not valid base64", d->conf_path);
        if (import_hook_begin(&h, "acme.sh", d->name, d->conf_path) < 0)
                return -ENOMEM;
        f = h.f;
        fputs(":\n# its Le_ReloadCmd, with the variables acme.sh gives it.\n", f);
        fputs("CERT_PATH=", f);
        import_shell_quote(f, cert);
        fputs("\nCERT_KEY_PATH=", f);
        import_shell_quote(f, key);
        fputs("\nCA_CERT_PATH=", f);
        import_shell_quote(f, ca);
        fputs("\nCERT_FULLCHAIN_PATH=", f);
        import_shell_quote(f, fullchain);
        fputs("\nLe_Domain=", f);
        import_shell_quote(f, get(d, "Le_Domain"));
        fputs("\nexport CERT_PATH CERT_KEY_PATH CA_CERT_PATH CERT_FULLCHAIN_PATH Le_Domain\nexec /bin/sh -c ",
              f);
        import_shell_quote(f, cmd);
        fputc('\n', f);
        return import_hook_end(&h, &d->hook_text, &d->hook_path, "%s/import/acmesh-%s-reload", im->state_dir,
                               d->name);
}

static const char *key_type_of(const char *len) {
        if (!len || strcmp(len, "ec-256") == 0)
                return "ec-p256"; /* acme.sh's default since 3.0 */
        if (strcmp(len, "ec-384") == 0)
                return "ec-p384";
        if (strcmp(len, "2048") == 0 || strcmp(len, "3072") == 0 || strcmp(len, "4096") == 0)
                return strcmp(len, "2048") == 0   ? "rsa-2048"
                       : strcmp(len, "3072") == 0 ? "rsa-3072"
                                                  : "rsa-4096";
        return NULL;
}

static int emit_domain(AcmeshImport *im, ImportWriter *w, Domain *d) {
        _cleanup_free_ char *cert = NULL, *key = NULL, *ca = NULL, *fullchain = NULL, *names = NULL;
        const char *domain = get(d, "Le_Domain"), *alt = get(d, "Le_Alt"), *kt;
        int r;

        if (!domain || !config_san_is_valid(domain))
                return log_error_errno(-EBADMSG, "%s: Le_Domain '%s' is no DNS name or IP address",
                                       d->conf_path, domain ?: "");
        if (asprintf(&names, "%s%s%s", domain, alt ? " " : "", alt ?: "") < 0)
                return -ENOMEM;
        for (char *c = names; *c; c++)
                if (*c == ',')
                        *c = ' ';
        if ((r = domain_path(d, "Le_RealFullChainPath", "fullchain.cer", &fullchain)) < 0 ||
            (r = domain_path(d, "Le_RealKeyPath", "", &key)) < 0 ||
            (r = domain_path(d, "Le_RealCertPath", "", &cert)) < 0 ||
            (r = domain_path(d, "Le_RealCACertPath", "ca.cer", &ca)) < 0)
                return r;
        /* acme.sh's own key and leaf are named after the domain. */
        if (!get(d, "Le_RealKeyPath")) {
                free(key);
                if (asprintf(&key, "%s/%s.key", d->dir, domain) < 0)
                        return -ENOMEM;
        }
        if (!get(d, "Le_RealCertPath")) {
                free(cert);
                if (asprintf(&cert, "%s/%s.cer", d->dir, domain) < 0)
                        return -ENOMEM;
        }
        r = import_targets_check(im->dir, im->owner, fullchain, key, cert, ca);
        if (r < 0)
                return r;
        r = domain_hook(im, d, cert, key, ca, fullchain);
        if (r < 0)
                return r;
        if (import_section(w, "certificate", d->name) < 0)
                return -EINVAL;
        import_comment(w, "acme.sh %s", d->conf_path);
        if (import_key(w, "certificate", fullchain) < 0 || import_key(w, "key", key) < 0 ||
            (im->has_leaf && (import_key(w, "leaf", cert) < 0 || import_key(w, "chain", ca) < 0)))
                return log_error_errno(-EBADMSG, "%s: a path certherd's inventory cannot hold",
                                       d->conf_path);
        if (import_key(w, "names", names) < 0)
                return log_error_errno(-EBADMSG, "%s: Le_Alt cannot be a names list", d->conf_path);
        if (d->acme && im->has_leaf) {
                _cleanup_free_ char *issuer = NULL;
                if (asprintf(&issuer, "acme:%s", d->acme) < 0)
                        return -ENOMEM;
                (void) import_key(w, "issuer", issuer);
        } else {
                import_comment(w, "watched only: %s",
                               d->why_watch ?: "this certherd has no leaf/chain keys");
                (void) import_key(w, "issuer", "none");
        }
        kt = key_type_of(get(d, "Le_Keylength"));
        if (kt)
                (void) import_key(w, "key-type", kt);
        else
                import_comment(w, "not imported: Le_Keylength '%s'", get(d, "Le_Keylength"));
        if (d->hook_path)
                (void) import_key(w, "exec", d->hook_path);
        if (get(d, "Le_PreHook") || get(d, "Le_PostHook") || get(d, "Le_RenewHook"))
                import_comment(w,
                               "not imported: Le_PreHook/Le_PostHook/Le_RenewHook (run around every renewal "
                               "attempt; certherd runs a hook after an install)");
        return 0;
}

static int read_domains(AcmeshImport *im) {
        struct dirent **des = NULL;
        int n, r = 0;

        n = scandir(im->dir, &des, NULL, alphasort);
        if (n < 0)
                return log_error_errno(-errno, "cannot read %s: %m", im->dir);
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *sub = NULL, *path = NULL, *err = NULL, *base = NULL;
                _cleanup_free_ uint8_t *data = NULL;
                const char *e = des[i]->d_name;
                size_t size, len = strlen(e);
                Domain *d;

                if (r < 0 || e[0] == '.' || strcmp(e, "ca") == 0 || strcmp(e, "deploy") == 0 ||
                    strcmp(e, "dnsapi") == 0 || strcmp(e, "notify") == 0)
                        continue;
                /* ECDSA certificates live in NAME_ecc/NAME.conf. */
                base = len > 4 && strcmp(e + len - 4, "_ecc") == 0 ? strndup(e, len - 4) : strdup(e);
                if (!base || asprintf(&sub, "%s/%s", im->dir, e) < 0 ||
                    asprintf(&path, "%s/%s.conf", sub, base) < 0) {
                        r = -ENOMEM;
                        continue;
                }
                r = import_source_load(im->dir, path, IMPORT_KV_FILE_MAX, ENOENT, &data, &size);
                if (r == -ENOENT || r == -ENOTDIR) {
                        r = 0;
                        continue;
                }
                if (r < 0)
                        continue;
                d = ARRAY_APPEND(im->domains, im->n_domains);
                if (!d) {
                        r = -ENOMEM;
                        continue;
                }
                *d = (Domain){ .conf_path = TAKE_PTR(path), .dir = TAKE_PTR(sub) };
                r = import_section_name(NULL, e, &d->name);
                if (r >= 0)
                        r = import_parse_logged(acmesh_conf_parse((const char *) data, size, &d->kv, &err),
                                                d->conf_path, &err);
        }
        for (int i = 0; i < n; i++)
                free(des[i]);
        free(des);
        if (r >= 0 && im->n_domains == 0)
                return log_error_errno(-ENOENT, "%s holds no DOMAIN/DOMAIN.conf: nothing to import",
                                       im->dir);
        return r;
}

int import_acmesh(const ImportOptions *o, const char *dir) {
        _cleanup_(acmesh_import_done) AcmeshImport im = { .dir = dir, .preview = !o->write };
        _cleanup_(import_writer_done) ImportWriter w = {};
        int r;

        r = import_prepare(o, dir, &im.state_dir, &im.owner);
        if (r != 0)
                return r;
        im.has_leaf = import_inventory_knows("certificate", "leaf") &&
                      import_inventory_knows("certificate", "chain");
        r = read_domains(&im);
        for (size_t i = 0; r >= 0 && i < im.n_domains; i++)
                r = domain_server(&im, &im.domains[i]);
        if (r >= 0)
                r = import_writer_init(&w);
        if (r < 0)
                return import_exit_code(r);
        import_comment(&w, "Imported by `certherd import acme.sh` from %s.", dir);
        for (size_t i = 0; i < im.n_servers; i++) {
                const Server *s = &im.servers[i];
                if (import_section(&w, "acme", s->name) < 0 || import_key(&w, "directory", s->api) < 0)
                        return log_error_errno(-EBADMSG, "Le_API '%s' cannot be written", s->api), 1;
                if (s->webroot)
                        (void) import_key_or_comment(&w, "webroot", s->webroot);
                if (s->listen)
                        (void) import_key_or_comment(&w, "listen", s->listen);
                if (s->note)
                        import_comment(&w, "%s", s->note);
                else
                        import_comment(&w, "account %s, %s %s/acme/%s/", s->url,
                                       im.preview ? "stored by --write in" : "stored in", im.state_dir,
                                       s->name);
        }
        for (size_t i = 0; r >= 0 && i < im.n_domains; i++)
                r = emit_domain(&im, &w, &im.domains[i]);
        if (r >= 0)
                r = import_writer_validate(&w);
        if (r < 0)
                return import_exit_code(r);
        /* The preview shows what --write would do and does nothing else. */
        if (im.preview)
                return import_writer_output(&w, o) < 0 ? 1 : 0;
        for (size_t i = 0; i < im.n_servers; i++) {
                const Server *s = &im.servers[i];

                if (s->key && import_account(im.state_dir, &(ImportAccount){ .name = s->name,
                                                                             .key = s->key,
                                                                             .directory = s->api,
                                                                             .url = s->url }) < 0)
                        return 1;
        }
        for (size_t i = 0; i < im.n_domains; i++)
                if (im.domains[i].hook_path &&
                    import_install_hook(im.domains[i].hook_path, im.domains[i].hook_text) < 0)
                        return 1;
        return import_writer_output(&w, o) < 0 ? 1 : 0;
}
