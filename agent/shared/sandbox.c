/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "sandbox.h"
#include "token.h"

#define UNIT "certherd.service"

static const char *const unit_dirs[] = { "/etc/systemd/system", "/run/systemd/system",
                                         "/usr/lib/systemd/system", "/lib/systemd/system" };

static int strv_push(char ***l, size_t *n, char *s) {
        char **nl;

        if (!s)
                return -ENOMEM;
        nl = realloc(*l, (*n + 2) * sizeof(char *));
        if (!nl) {
                free(s);
                return -ENOMEM;
        }
        *l = nl;
        nl[(*n)++] = s;
        nl[*n] = NULL;
        return 0;
}

/* One unit file or drop-in: ReadWritePaths= adds (an empty one resets), StateDirectory= and
 * RuntimeDirectory= add their /var/lib and /run paths. */
static int parse_unit_file(const char *path, char ***l, size_t *n) {
        _cleanup_fclose_ FILE *f = NULL;
        char line[4096];
        int fd;

        fd = open_regular(path, NULL); /* never blocks on a FIFO */
        if (fd < 0)
                return 0;
        f = fdopen(fd, "re");
        if (!f) {
                close(fd);
                return 0;
        }
        while (fgets(line, sizeof(line), f)) {
                const char *prefix = NULL, *v;
                char *tok, *save = NULL;

                if (strncmp(line, "ReadWritePaths=", 15) == 0)
                        prefix = "", v = line + 15;
                else if (strncmp(line, "StateDirectory=", 15) == 0)
                        prefix = "/var/lib/", v = line + 15;
                else if (strncmp(line, "RuntimeDirectory=", 17) == 0)
                        prefix = "/run/", v = line + 17;
                else
                        continue;
                if (*prefix == 0 && strspn(v, " \t\n") == strlen(v)) {
                        strv_free(*l); /* "ReadWritePaths=" alone empties the list */
                        *l = NULL;
                        *n = 0;
                        continue;
                }
                for (tok = strtok_r((char *) v, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
                        char *p;

                        tok += strspn(tok, "-+"); /* "-/path": ignore if missing */
                        if (asprintf(&p, "%s%s", prefix, tok) < 0 || strv_push(l, n, p) < 0)
                                return -ENOMEM;
                }
        }
        return 0;
}

int sandbox_writable_paths(char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;
        bool found = false;
        int r;

        /* The first unit file found wins, as for systemd; drop-ins from every directory apply. */
        for (size_t i = 0; i < ELEMENTSOF(unit_dirs) && !found; i++) {
                _cleanup_free_ char *p = NULL;

                if (asprintf(&p, "%s/" UNIT, unit_dirs[i]) < 0)
                        return -ENOMEM;
                if (access(p, R_OK) < 0)
                        continue;
                found = true;
                r = parse_unit_file(p, &l, &n);
                if (r < 0)
                        return r;
        }
        if (!found) {
                *ret = NULL;
                return 0;
        }
        for (size_t i = ELEMENTSOF(unit_dirs); i-- > 0;) {
                _cleanup_free_ char *d = NULL;
                struct dirent **names = NULL;
                int k;

                if (asprintf(&d, "%s/" UNIT ".d", unit_dirs[i]) < 0)
                        return -ENOMEM;
                k = scandir(d, &names, NULL, alphasort);
                for (int j = 0; j < k; j++) {
                        _cleanup_free_ char *p = NULL;
                        size_t len = strlen(names[j]->d_name);

                        if (len > 5 && strcmp(names[j]->d_name + len - 5, ".conf") == 0 &&
                            asprintf(&p, "%s/%s", d, names[j]->d_name) >= 0)
                                (void) parse_unit_file(p, &l, &n);
                        free(names[j]);
                }
                free(names);
        }
        if (!l && !(l = calloc(1, sizeof(char *))))
                return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

bool sandbox_path_writable(char *const *writable, const char *path) {
        for (size_t i = 0; writable && writable[i]; i++) {
                size_t k = strlen(writable[i]);

                while (k > 1 && writable[i][k - 1] == '/')
                        k--;
                if (strncmp(path, writable[i], k) == 0 && (path[k] == '/' || path[k] == 0 || k == 1))
                        return true;
        }
        return false;
}

static void warn_path(char *const *writable, const char *what, const char *path) {
        _cleanup_free_ char *dir = NULL;
        const char *slash;

        if (!path || !(slash = strrchr(path, '/')))
                return;
        dir = strndup(path, slash == path ? 1 : (size_t) (slash - path));
        if (!dir || sandbox_path_writable(writable, dir))
                return;
        log_warning("%s: %s is not writable under " UNIT "'s sandbox (ProtectSystem=strict); add a drop-in "
                    "with ReadWritePaths=%s (systemctl edit " UNIT " certherd-renew.service)",
                    what, dir, dir);
}

static bool same_directory(const char *a, const char *b) {
        const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');
        return sa && sb && sa - a == sb - b && strncmp(a, b, (size_t) (sa - a)) == 0;
}

void sandbox_warn(const Inventory *inv) {
        _cleanup_strv_free_ char **writable = NULL;

        if (sandbox_writable_paths(&writable) < 0 || !writable)
                return;
        for (size_t i = 0; i < inv->n_certs; i++) {
                const CertConfig *c = inv->certs[i];
                /* The further outputs are written in the same install as the certificate. */
                const char *outputs[] = { c->x->chain, c->x->leaf, c->x->combined, c->x->pkcs12 };

                if (c->issuer == ISSUER_NONE)
                        continue;
                warn_path(writable, c->name, c->certificate);
                if (c->key && !token_is_url(c->key) &&
                    (!c->x->key_password_file || c->key_policy == KEY_POLICY_ROTATE) &&
                    !same_directory(c->key, c->certificate))
                        warn_path(writable, c->name, c->key);
                for (size_t k = 0; k < ELEMENTSOF(outputs); k++)
                        if (outputs[k] && !same_directory(outputs[k], c->certificate))
                                warn_path(writable, c->name, outputs[k]);
        }
        if (inv->agent.metrics_file)
                warn_path(writable, "metrics-file", inv->agent.metrics_file);
        /* An internal CA's CRL is re-signed by the agent: a read-only one lapses. */
        for (size_t i = 0; i < inv->n_ca; i++)
                if (inv->ca[i]->crl)
                        warn_path(writable, inv->ca[i]->name, inv->ca[i]->crl);
}
