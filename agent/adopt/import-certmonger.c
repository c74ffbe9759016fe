/* SPDX-License-Identifier: GPL-3.0-or-later */
/* `certherd import certmonger [DIR]`: one set per request file whose key and certificate are files. A
 * self-signed request (ca_name=SelfSign) is renewed by certherd (issuer = self) with the names certmonger
 * asked for; any other CA — IPA, a SCEP server, certmonger's own local signer, a helper — issues with
 * credentials certherd does not have, so such sets are watched only and say so. The post-save command
 * becomes the set's exec hook through a small sh wrapper (certmonger runs it with a shell). */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fd-util.h"
#include "import-acmesh.h"
#include "import-certmonger.h"
#include "import-inventory.h"
#include "log.h"

static int request_line(char *p, unsigned lineno, ImportKv *kv, char **reterr) {
        char *eq, *joined;
        size_t klen;

        if (p[0] == ' ' || p[0] == '\t') {
                if (kv->n == 0)
                        return import_line_error(reterr, lineno,
                                                 "a continuation line without a key before it");
                if (asprintf(&joined, "%s\n%s", kv->l[kv->n - 1], p + 1) < 0)
                        return -ENOMEM;
                free(kv->l[kv->n - 1]);
                kv->l[kv->n - 1] = joined;
                return 0;
        }
        if (!*p)
                return 0;
        eq = strchr(p, '=');
        klen = eq ? (size_t) (eq - p) : 0;
        if (!eq || klen == 0 || strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_") != klen)
                return import_line_error(reterr, lineno, "expected key=value");
        return import_kv_add(kv, strndup(p, klen), strdup(eq + 1), lineno, reterr);
}

int certmonger_request_parse(const char *text, size_t size, char ***ret, char **reterr) {
        return import_kv_parse(text, size, request_line, ret, reterr);
}

typedef struct Request {
        char *path, *name;
        char **kv;
        char *hook_path, *hook_text;
} Request;

static const char *get(const Request *q, const char *key) {
        const char *v = import_kv_get(q->kv, key);
        return v && *v ? v : NULL;
}

static const char *key_type_of(const Request *q) {
        const char *t = get(q, "key_gen_type") ?: get(q, "key_type"),
                   *s = get(q, "key_gen_size") ?: get(q, "key_size");

        if (!t || !s)
                return NULL;
        if (strcmp(t, "RSA") == 0)
                return strcmp(s, "2048") == 0   ? "rsa-2048"
                       : strcmp(s, "3072") == 0 ? "rsa-3072"
                       : strcmp(s, "4096") == 0 ? "rsa-4096"
                                                : NULL;
        if (strcmp(t, "EC") == 0)
                return strcmp(s, "256") == 0 ? "ec-p256" : strcmp(s, "384") == 0 ? "ec-p384" : NULL;
        return NULL;
}

/* The names certmonger asks for (template_*), else those of the certificate it has (cert_*). */
static int request_names(const Request *q, char **ret) {
        const char *lists[] = { get(q, "template_hostname") ?: get(q, "cert_hostname"),
                                get(q, "template_ipaddress") ?: get(q, "cert_ipaddress") };
        _cleanup_free_ char *names = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&names, &size);

        if (!f)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(lists); i++) {
                _cleanup_free_ char *copy = lists[i] ? strdup(lists[i]) : NULL;
                char *save = NULL;
                for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save))
                        if (config_san_is_valid(t))
                                fprintf(f, "%s%s", ftell(f) > 0 ? " " : "", t);
        }
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = size > 0 ? TAKE_PTR(names) : NULL;
        return 0;
}

static int request_hook(const Request *q, const char *state_dir, char **ret_path, char **ret_text) {
        const char *cmd = get(q, "post_certsave_command");
        ImportHook h;

        if (!cmd)
                return 0;
        if (import_hook_begin(&h, "certmonger", q->name, q->path) < 0)
                return -ENOMEM;
        fputs(":\n# its post_certsave_command.\nexec /bin/sh -c ", h.f);
        import_shell_quote(h.f, cmd);
        fputc('\n', h.f);
        return import_hook_end(&h, ret_text, ret_path, "%s/import/certmonger-%s-postsave", state_dir,
                               q->name);
}

static int emit_request(ImportWriter *w, Request *q, const char *state_dir, const char *dir, uid_t owner) {
        const char *ca = get(q, "ca_name"), *kt = key_type_of(q), *perms = get(q, "key_perms");
        _cleanup_free_ char *names = NULL;
        bool self = ca && strcmp(ca, "SelfSign") == 0;
        int r;

        if (!get(q, "cert_storage_type") || strcmp(get(q, "cert_storage_type"), "FILE") != 0 ||
            (get(q, "key_storage_type") && strcmp(get(q, "key_storage_type"), "FILE") != 0)) {
                import_blank(w);
                import_comment(
                        w, "not imported: %s: key or certificate in an NSS database (certherd reads files)",
                        q->path);
                return 0;
        }
        r = request_names(q, &names);
        if (r < 0)
                return r;
        r = import_targets_check(dir, owner, get(q, "cert_storage_location") ?: "",
                                 get(q, "key_storage_location"), NULL, NULL);
        if (r < 0)
                return r;
        r = request_hook(q, state_dir, &q->hook_path, &q->hook_text);
        if (r < 0)
                return r;
        if (import_section(w, "certificate", q->name) < 0)
                return -EINVAL;
        import_comment(w, "certmonger request %s (id %s); then `getcert stop-tracking -i %s`", q->path,
                       get(q, "id") ?: "?", get(q, "id") ?: "ID");
        if (import_key(w, "certificate", get(q, "cert_storage_location")) < 0)
                return log_error_errno(-EBADMSG, "%s: cert_storage_location cannot be held by the inventory",
                                       q->path);
        if (get(q, "key_storage_location") && import_key(w, "key", get(q, "key_storage_location")) < 0)
                return log_error_errno(-EBADMSG, "%s: key_storage_location cannot be held by the inventory",
                                       q->path);
        if (names)
                (void) import_key(w, "names", names);
        if (self && names && get(q, "key_storage_location")) {
                (void) import_key(w, "issuer", "self");
                /* certmonger's self-signed certificates are their own anchor: check accepts them so. */
        } else {
                import_comment(w, "watched only: %s",
                               !ca                        ? "the request names no CA"
                               : self                     ? "no names or no key file to renew with"
                               : strcmp(ca, "local") == 0 ? "issued by certmonger's local signer, whose key "
                                                            "certherd does not take over"
                               : strcmp(ca, "IPA") == 0 ? "issued by FreeIPA (an enterprise CA): certmonger "
                                                          "keeps renewing it"
                                                        : "issued by an enterprise or helper CA (SCEP, …): "
                                                          "certmonger keeps renewing it");
                (void) import_key(w, "issuer", "none");
        }
        if (kt)
                (void) import_key(w, "key-type", kt);
        if (perms && strcmp(perms, "0") != 0) {
                char mode[8];
                unsigned long m = strtoul(perms, NULL, 10);
                /* certmonger stores the mode in decimal. */
                if (m > 0 && m <= 0777) {
                        snprintf(mode, sizeof(mode), "0%lo", m);
                        (void) import_key(w, "mode", mode);
                }
        }
        if (q->hook_path)
                (void) import_key(w, "exec", q->hook_path);
        if (get(q, "pre_certsave_command"))
                import_comment(
                        w,
                        "not imported: pre_certsave_command (certherd runs a hook after an install only)");
        return 0;
}

static void requests_free(Request *l, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(l[i].path);
                free(l[i].name);
                strv_free(l[i].kv);
                free(l[i].hook_path);
                free(l[i].hook_text);
        }
        free(l);
}

static int request_name(Request *l, size_t n, Request *q) {
        const char *cert = get(q, "cert_storage_location") ?: get(q, "id") ?: "request";
        const char *base = strrchr(cert, '/') ? strrchr(cert, '/') + 1 : cert;
        _cleanup_free_ char *stem = strdup(base);
        char *dot;

        if (!stem)
                return -ENOMEM;
        dot = strrchr(stem, '.');
        if (dot && dot != stem)
                *dot = 0;
        if (import_section_name("certmonger", stem, &q->name) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (&l[i] != q && l[i].name && strcmp(l[i].name, q->name) == 0) {
                        free(q->name);
                        if (import_section_name("certmonger", get(q, "id") ?: "x", &q->name) < 0)
                                return -ENOMEM;
                        break;
                }
        return 0;
}

int import_certmonger(const ImportOptions *o, const char *dir) {
        _cleanup_(import_writer_done) ImportWriter w = {};
        _cleanup_free_ char *state_dir = NULL;
        struct dirent **des = NULL;
        Request *l = NULL;
        uid_t owner = 0;
        size_t n = 0;
        int m, r;

        dir = dir ?: "/var/lib/certmonger/requests";
        r = import_prepare(o, dir, &state_dir, &owner);
        if (r != 0)
                return r;
        m = scandir(dir, &des, NULL, alphasort);
        if (m < 0) {
                log_error_errno(-errno, "cannot read %s: %m", dir);
                return 1;
        }
        r = import_writer_init(&w);
        if (r >= 0)
                import_comment(&w, "Imported by `certherd import certmonger` from %s.", dir);
        for (int i = 0; r >= 0 && i < m; i++) {
                _cleanup_free_ uint8_t *data = NULL;
                _cleanup_free_ char *err = NULL;
                Request *nl;
                size_t size;

                if (des[i]->d_name[0] == '.')
                        continue;
                nl = reallocarray(l, n + 1, sizeof(Request));
                if (!nl) {
                        r = -ENOMEM;
                        break;
                }
                l = nl;
                l[n] = (Request){};
                if (asprintf(&l[n].path, "%s/%s", dir, des[i]->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                n++;
                r = import_source_load(dir, l[n - 1].path, IMPORT_KV_FILE_MAX, EISDIR, &data, &size);
                if (r == -EISDIR) {
                        r = 0;
                        continue;
                }
                if (r < 0)
                        break;
                r = import_parse_logged(
                        certmonger_request_parse((const char *) data, size, &l[n - 1].kv, &err),
                        l[n - 1].path, &err);
                if (r >= 0 && !get(&l[n - 1], "cert_storage_location") && !get(&l[n - 1], "id"))
                        r = log_error_errno(-EBADMSG, "%s: not a certmonger request (no id)", l[n - 1].path);
                if (r >= 0)
                        r = request_name(l, n, &l[n - 1]);
                if (r >= 0)
                        r = emit_request(&w, &l[n - 1], state_dir, dir, owner);
        }
        for (int i = 0; i < m; i++)
                free(des[i]);
        free(des);
        if (r >= 0 && n == 0)
                r = log_error_errno(-ENOENT, "%s holds no request files: nothing to import", dir);
        if (r >= 0)
                r = import_writer_validate(&w);
        /* The preview (no --write) shows what --write would do and writes nothing. */
        for (size_t i = 0; r >= 0 && o->write && i < n; i++)
                if (l[i].hook_path)
                        r = import_install_hook(l[i].hook_path, l[i].hook_text);
        if (r >= 0)
                r = import_writer_output(&w, o);
        if (r >= 0)
                log_notice(
                        "certmonger still tracks these requests: `getcert stop-tracking -i ID` for each set "
                        "certherd renews now");
        requests_free(l, n);
        return import_exit_code(r);
}
