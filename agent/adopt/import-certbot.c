/* SPDX-License-Identifier: GPL-3.0-or-later */
/* `certherd import certbot`: reads /etc/letsencrypt (renewal/NAME.conf, the live/ certificates, the accounts
 * under accounts/SERVER/ID/) and writes one [certificate] set per lineage plus the [acme] sections whose
 * accounts it copies into certherd's state directory. The renewal files and account keys are parsed by
 * import-certbot-conf.c. Every file is read under the source rule (import-inventory.h). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "config.h"
#include "fd-util.h"
#include "gnutls-util.h"
#include "import-certbot.h"
#include "import-inventory.h"
#include "install.h"
#include "log.h"
#include "x509.h"

#define RENEWAL_FILE_MAX (1024U * 1024U)
#define CERT_FILE_MAX (1024U * 1024U)
#define ACCOUNT_FILE_MAX (64U * 1024U)

/* ---- the import ---- */

typedef struct Account {
        char *name;  /* [acme "NAME"] */
        char *group; /* what lineages must share to share the section */
        char *server, *id, *webroot, *listen, *preferred_chain;
        char *url, *contact, *note;
        gnutls_x509_privkey_t key; /* NULL: not found; certherd registers */
} Account;

typedef struct Lineage {
        char *name, *conf_path;
        CertbotConf *conf;
        CertFacts *facts;
        bool untrusted; /* its chain does not verify against the system's CAs: `ca =` is needed */
        char *hook_path, *hook_text;
        Account *account; /* NULL: watched only */
        char *why_watch;  /* why it is watched only */
} Lineage;

typedef struct Import {
        const ImportOptions *o;
        const char *dir;
        uid_t owner;                    /* of the source tree: root, or the user running the import */
        bool preview;                   /* no --write: nothing is written anywhere */
        gnutls_x509_trust_list_t trust; /* the system's CAs; NULL: not loaded */
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
                free_many(l->name, l->conf_path, l->hook_path, l->hook_text, l->why_watch);
                certbot_conf_free(l->conf);
                cert_facts_free(l->facts);
        }
        for (size_t i = 0; i < im->n_accounts; i++) {
                Account *a = &im->accounts[i];
                free_many(a->name, a->group, a->server, a->id, a->webroot, a->listen, a->preferred_chain,
                          a->url, a->contact, a->note);
                if (a->key)
                        gnutls_x509_privkey_deinit(a->key);
        }
        free_many(im->lineages, im->accounts, im->state_dir);
        if (im->trust)
                gnutls_x509_trust_list_deinit(im->trust, 1);
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

static int lineage_inspect(const Import *im, Lineage *l) {
        _cleanup_free_ uint8_t *data = NULL;
        const char *fullchain;
        size_t size;
        int r;

        r = lineage_path(l, "fullchain", &fullchain);
        if (r < 0)
                return r;
        /* live/ links into archive/: followed inside a tree of root's (or the importing user's). */
        r = import_source_read(im->dir, fullchain, 0, CERT_FILE_MAX, &data, &size);
        if (r == -EPERM)
                return r;
        if (r < 0)
                return log_error_errno(r, "%s: cannot read its certificate %s: %s", l->conf_path, fullchain,
                                       file_strerror(r));
        r = x509_inspect(
                &(X509Input){
                        .cert_path = fullchain, .cert_data = data, .cert_size = size, .trust = im->trust },
                now_realtime(), &l->facts);
        if (r < 0)
                return log_error_errno(r, "Out of memory");
        for (size_t i = 0; im->trust && i < l->facts->n_problems; i++)
                if (l->facts->problems[i].code == PROBLEM_UNTRUSTED_CHAIN)
                        l->untrusted = true;
        if (!l->facts->parsed || !l->facts->names || !l->facts->names[0])
                return log_error_errno(-EBADMSG, "%s: %s holds no certificate with subjectAltNames",
                                       l->conf_path, fullchain);
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
                        return asprintf(
                                       ret_why,
                                       "names with different webroots (%s, %s): certherd has one per [acme]",
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
        if (strstr(host, "/../") || strstr(host, "/./") ||
            strspn(a->id, "0123456789abcdefABCDEF") != strlen(a->id) || !*a->id)
                return log_error_errno(-EBADMSG, "certbot account '%s' of %s: not an account id", a->id,
                                       a->server);
        if (asprintf(&dir, "%s/accounts/%s/%s", im->dir, host, a->id) < 0 ||
            asprintf(&kpath, "%s/private_key.json", dir) < 0 || asprintf(&rpath, "%s/regr.json", dir) < 0)
                return -ENOMEM;
        r = import_source_read(im->dir, kpath, READ_STRICT, ACCOUNT_FILE_MAX, &kdata, &ksize);
        if (r == -ENOENT)
                return asprintf(&a->note, "certbot's account %s is not in %s: certherd registers a new one",
                                a->id, dir) < 0
                               ? -ENOMEM
                               : 0;
        if (r == -EPERM)
                return r;
        if (r < 0)
                return log_error_errno(r, "%s: %s", kpath, file_strerror(r));
        r = import_source_read(im->dir, rpath, READ_STRICT, ACCOUNT_FILE_MAX, &rdata, &rsize);
        if (r == -EPERM)
                return r;
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

/* The name of a server's [acme] section: the lineages that share it may be many, so it is named after the
 * server (certbot-letsencrypt, certbot-HOST), with -2, -3 for another account or webroot there. */
static int account_name(const Import *im, const char *server, char **ret) {
        static const struct {
                const char *host, *name;
        } known[] = {
                { "acme-v02.api.letsencrypt.org", "letsencrypt" },
                { "acme-staging-v02.api.letsencrypt.org", "letsencrypt-staging" },
                { "acme.zerossl.com", "zerossl" },
                { "api.buypass.com", "buypass" },
                { "dv.acme-v02.api.pki.goog", "google" },
        };
        const char *host = server + strlen("https://");
        _cleanup_free_ char *h = strndup(host, strcspn(host, "/")), *base = NULL;
        int r;

        if (!h)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(known); i++)
                if (strcmp(h, known[i].host) == 0) {
                        free(h);
                        h = strdup(known[i].name);
                        if (!h)
                                return -ENOMEM;
                        break;
                }
        r = import_section_name("certbot", h, &base);
        if (r < 0)
                return r;
        for (unsigned n = 1;; n++) {
                _cleanup_free_ char *name = NULL;
                bool taken = false;

                if (n == 1)
                        name = strdup(base);
                else if (asprintf(&name, "%s-%u", base, n) < 0)
                        name = NULL;
                if (!name)
                        return -ENOMEM;
                for (size_t i = 0; i < im->n_accounts; i++)
                        if (im->accounts[i].name && strcmp(im->accounts[i].name, name) == 0)
                                taken = true;
                if (!taken) {
                        *ret = TAKE_PTR(name);
                        return 0;
                }
        }
}

/* The [acme] section a lineage renews through, shared with lineages that agree on everything it holds. */
static int lineage_account(Import *im, Lineage *l) {
        _cleanup_free_ char *webroot = NULL, *listen = NULL, *group = NULL, *why = NULL;
        const char *server = param(l, "server"), *id = param(l, "account"),
                   *auth = param(l, "authenticator");
        const char *chain = param(l, "preferred_chain");
        Account *a;
        int r;

        if (!server || strncmp(server, "https://", 8) != 0)
                return asprintf(&l->why_watch, "server '%s' is no https:// ACME directory", server ?: "") < 0
                               ? -ENOMEM
                               : 0;
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
                        return asprintf(&l->why_watch, "http01_port '%s' is no port", port) < 0 ? -ENOMEM
                                                                                                : 0;
                if (asprintf(&listen, strchr(addr, ':') ? "[%s]:%s" : "%s:%s", *addr ? addr : "[::]", port) <
                    0)
                        return -ENOMEM;
        } else if (strncmp(auth, "dns-", 4) == 0)
                return asprintf(
                               &l->why_watch,
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
        a = ARRAY_APPEND(im->accounts, im->n_accounts);
        if (!a)
                return -ENOMEM;
        *a = (Account){ .group = TAKE_PTR(group),
                        .server = strdup(server),
                        .id = strdup(id),
                        .webroot = TAKE_PTR(webroot),
                        .listen = TAKE_PTR(listen),
                        .preferred_chain = chain ? strdup(chain) : NULL };
        r = account_name(im, server, &a->name);
        if (r < 0 || !a->server || !a->id)
                return -ENOMEM;
        l->account = a;
        return load_account(im, a);
}

/* renew_hook and renewal-hooks/deploy/ become one exec hook: a wrapper that gives them certbot's
 * environment (RENEWED_LINEAGE, RENEWED_DOMAINS) and runs the deploy directory as certbot does. */
static int lineage_hook(Import *im, Lineage *l) {
        _cleanup_free_ char *deploy = NULL, *lineage = NULL, *domains = NULL;
        const char *renew_hook = param(l, "renew_hook"), *cert;
        size_t dsize = 0;
        bool any = false;
        ImportHook h;
        FILE *f, *d;
        DIR *dir;
        int r;

        r = lineage_path(l, "cert", &cert);
        if (r < 0)
                return r;
        lineage = strndup(cert, (size_t) (strrchr(cert, '/') - cert));
        if (!lineage || asprintf(&deploy, "%s/renewal-hooks/deploy", im->dir) < 0)
                return -ENOMEM;
        /* The wrapper runs what the deploy directory holds at each renewal: it, and each hook in it now,
         * must be as trustworthy as the tree (the source rule). */
        r = import_source_check(im->dir, deploy, NULL);
        if (r == -EPERM)
                return r;
        dir = r >= 0 ? opendir(deploy) : NULL;
        for (struct dirent *de = dir ? readdir(dir) : NULL; de; de = readdir(dir)) {
                _cleanup_free_ char *hook = NULL;
                size_t n = strlen(de->d_name);

                if (de->d_name[0] == '.' || de->d_name[n - 1] == '~')
                        continue;
                any = true;
                if (asprintf(&hook, "%s/%s", deploy, de->d_name) < 0)
                        r = -ENOMEM;
                else
                        r = import_source_check(im->dir, hook, NULL);
                if (r == -EPERM || r == -ENOMEM)
                        break;
                r = 0;
        }
        if (dir)
                closedir(dir);
        if (r == -EPERM || r == -ENOMEM)
                return r;
        if (!any && !renew_hook)
                return 0;

        d = open_memstream(&domains, &dsize);
        if (!d)
                return -ENOMEM;
        for (char **n = l->facts->names; *n; n++)
                fprintf(d, "%s%s", n == l->facts->names ? "" : " ", *n);
        fclose(d);
        if (import_hook_begin(&h, "certbot", l->name, l->conf_path) < 0)
                return -ENOMEM;
        f = h.f;
        fputs(".\n# It runs what certbot ran after renewing this lineage, with certbot's deploy hook "
              "environment.\nRENEWED_LINEAGE=",
              f);
        import_shell_quote(f, lineage);
        fputs("\nRENEWED_DOMAINS=", f);
        import_shell_quote(f, domains);
        fputs("\nexport RENEWED_LINEAGE RENEWED_DOMAINS\nrc=0\n", f);
        if (renew_hook) {
                fputs("# renew_hook (--deploy-hook) of the renewal file\n/bin/sh -c ", f);
                import_shell_quote(f, renew_hook);
                fputs(" || rc=1\n", f);
        }
        fputs("# every executable in certbot's deploy hook directory, in order, as certbot runs them\nfor hook in ",
              f);
        import_shell_quote(f, deploy);
        fputs("/*; do\n        case $hook in *~) continue ;; esac\n        [ -f \"$hook\" ] && [ -x \"$hook\" ] || "
              "continue\n        \"$hook\" || rc=1\ndone\nexit $rc\n",
              f);
        return import_hook_end(&h, &l->hook_text, &l->hook_path, "%s/import/certbot-%s-deploy",
                               im->state_dir, l->name);
}

static const char *key_type_of(const Lineage *l, const char **ret_note) {
        const char *type = param(l, "key_type"), *size = param(l, "rsa_key_size"),
                   *curve = param(l, "elliptic_curve");

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

/* A private or test ACME server: check would call the chain untrusted (and a renewal's validation fail)
 * until `ca` names its root, which only the operator can fetch. */
static void emit_ca_advice(ImportWriter *w, const Lineage *l, const char *fullchain) {
        import_comment(
                w, "the chain of %s does not lead to a CA this system trusts (server %s is no public CA):",
                fullchain, param(l, "server") ?: "?");
        import_comment(
                w, "put that server's root certificate (PEM) in a file and name it here, or check reports "
                   "untrusted-chain:");
        import_comment(w, "ca = /etc/certherd/%s-root.pem", l->account ? l->account->name : l->name);
}

/* The certificate's names that an inventory can hold; the others become comments. */
static int emit_names(ImportWriter *w, const Lineage *l) {
        ImportList names;

        if (import_list_open(&names) < 0)
                return -ENOMEM;
        for (char **s = l->facts->names; *s; s++)
                if (config_san_is_valid(*s))
                        import_list_add(&names, "%s", *s);
                else
                        import_comment(w, "not imported: the name '%s' of the certificate", *s);
        return import_list_close(w, &names, "names") == -ENOMEM ? -ENOMEM : 0;
}

/* Who issues the set (its ACME account, or nobody when it is watched only) and the key it gets. */
static int emit_issuance(Import *im, ImportWriter *w, const Lineage *l) {
        const char *kt, *note;

        if (!l->account || !im->has_leaf) {
                import_comment(
                        w, "watched only: %s",
                        l->why_watch
                                ?: "renewal would leave cert.pem and chain.pem behind (no leaf/chain keys)");
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
                import_comment(
                        w,
                        "not imported: %s '%s': certherd makes ec-p256, ec-p384 and rsa-2048/3072/4096 keys",
                        note, param(l, note));
        (void) import_key(w, "key-policy", is_true(param(l, "reuse_key")) ? "reuse" : "rotate");
        return 0;
}

static int emit_lineage(Import *im, ImportWriter *w, const Lineage *l) {
        const char *cert, *key, *chain, *fullchain, *profile = param(l, "preferred_profile");
        int r;

        if ((r = lineage_path(l, "cert", &cert)) < 0 || (r = lineage_path(l, "privkey", &key)) < 0 ||
            (r = lineage_path(l, "chain", &chain)) < 0 || (r = lineage_path(l, "fullchain", &fullchain)) < 0)
                return r;
        r = import_targets_check(im->dir, im->owner, fullchain, key, cert, chain);
        if (r < 0)
                return r;
        if (import_section(w, "certificate", l->name) < 0)
                return -EINVAL;
        import_comment(w, "certbot lineage %s", l->conf_path);
        if (import_key(w, "certificate", fullchain) < 0 || import_key(w, "key", key) < 0)
                return log_error_errno(-EBADMSG, "%s: a path certherd's inventory cannot hold",
                                       l->conf_path);
        if (im->has_leaf) {
                if (import_key(w, "leaf", cert) < 0 || import_key(w, "chain", chain) < 0)
                        return log_error_errno(-EBADMSG, "%s: a path certherd's inventory cannot hold",
                                               l->conf_path);
        } else
                import_comment(
                        w, "cert.pem and chain.pem cannot be kept by this certherd (no leaf/chain keys)");

        r = emit_names(w, l);
        if (r >= 0)
                r = emit_issuance(im, w, l);
        if (r < 0)
                return r;
        if (l->untrusted)
                emit_ca_advice(w, l, fullchain);
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
                import_comment(
                        w,
                        "not imported: pre_hook/post_hook (certbot runs them around every renewal attempt; "
                        "certherd runs a hook only after an install): %s%s%s",
                        param(l, "pre_hook") ?: "", param(l, "pre_hook") ? " " : "",
                        param(l, "post_hook") ?: "");
        if (param(l, "installer") && strcmp(param(l, "installer"), "none") != 0)
                import_comment(
                        w,
                        "installer %s: certherd writes the live/ files in place; reload the server with "
                        "reload = UNIT if the deploy hooks do not",
                        param(l, "installer"));
        return 0;
}

static int emit(Import *im, ImportWriter *w) {
        const char *ca_bundle = getenv("REQUESTS_CA_BUNDLE");

        import_comment(w, "Imported by `certherd import certbot` from %s.", im->dir);
        import_comment(
                w,
                "certbot's live/ files are links into archive/; certherd replaces each with a regular file");
        import_comment(
                w,
                "at its first install, and keeps certificate, key, leaf and chain consistent as one set.");
        for (size_t i = 0; i < im->n_accounts; i++) {
                const Account *a = &im->accounts[i];
                if (import_section(w, "acme", a->name) < 0)
                        return -EINVAL;
                if (import_key(w, "directory", a->server) < 0)
                        return log_error_errno(-EBADMSG, "server '%s': not a URL the inventory can hold",
                                               a->server);
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
                        import_comment(w, "account %s (certbot id %s), %s %s/acme/%s/", a->url, a->id,
                                       im->preview ? "stored by --write in" : "stored in", im->state_dir,
                                       a->name);
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
                r = import_source_load(im->dir, path, RENEWAL_FILE_MAX, 0, &data, &size);
                if (r < 0)
                        continue;
                l = ARRAY_APPEND(im->lineages, im->n_lineages);
                if (!l) {
                        r = -ENOMEM;
                        continue;
                }
                *l = (Lineage){ .conf_path = TAKE_PTR(path) };
                r = import_section_name(NULL, base, &l->name);
                if (r >= 0)
                        r = import_parse_logged(
                                certbot_conf_parse((const char *) data, size, &l->conf, &err), l->conf_path,
                                &err);
                if (r >= 0)
                        r = lineage_inspect(im, l);
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
                r = install_file(&(InstallFile){ .path = path,
                                                 .data = data,
                                                 .size = size,
                                                 .mode = st.st_mode & 07777,
                                                 .uid = st.st_uid,
                                                 .gid = st.st_gid });
        if (r < 0)
                return log_error_errno(r, "cannot replace the link %s with a file: %s", path,
                                       file_strerror(r));
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
        _cleanup_(import_done)
                Import im = { .o = o, .dir = o->config_dir ?: "/etc/letsencrypt", .preview = !o->write };
        _cleanup_(import_writer_done) ImportWriter w = {};
        int r;

        r = import_prepare(o, im.dir, &im.state_dir, &im.owner);
        if (r != 0)
                return r;
        /* Without the system's CAs no lineage gets the `ca =` advice; the import itself goes on. */
        if (x509_trust_new(NULL, 0, &im.trust) < 0)
                im.trust = NULL;
        im.has_leaf = import_inventory_knows("certificate", "leaf") &&
                      import_inventory_knows("certificate", "chain");
        if (!im.has_leaf)
                log_warning(
                        "this certherd has no [certificate] leaf/chain keys: lineages are imported watch-only");
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
                return import_exit_code(r);
        /* The preview shows what --write would do and does nothing else. */
        if (im.preview) {
                if (o->disable_source)
                        log_notice(
                                "preview: nothing was written or renamed; --disable-source acts with --write");
                return import_writer_output(&w, o) < 0 ? 1 : 0;
        }

        /* Everything was read and the text is complete: now the effects, accounts and hooks first so that the
         * inventory never names an account or hook that is not there. */
        for (size_t i = 0; i < im.n_accounts; i++) {
                const Account *a = &im.accounts[i];

                if (a->key && import_account(im.state_dir, &(ImportAccount){ .name = a->name,
                                                                             .key = a->key,
                                                                             .directory = a->server,
                                                                             .url = a->url,
                                                                             .contact = a->contact }) < 0)
                        return 1;
        }
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
