/* SPDX-License-Identifier: GPL-3.0-or-later */
/* `certherd discover`: what this host serves, from the servers' own configuration (as they run now, and
 * nginx's as it would start) and from its sockets, written as a watch-only inventory. Nothing here changes
 * anything on the host but the --write file: the servers are read (`nginx -T`, configuration files) and
 * probed like any client would.
 *
 * discover runs as root and looks at every user's processes, so nothing a process says about itself is
 * taken on trust (discover-proc.c): a server is known by the binary it runs and by who runs it; a root
 * server's files are read only when root alone could have written them, any other user's with that
 * user's credentials; and the one program run is the system's nginx, on root's own configuration. Each
 * refusal is a warning and a comment in the inventory. */
#include <errno.h>
#include <glob.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/x509.h>

#include "adopt-internal.h"
#include "discover.h"
#include "fd-util.h"
#include "gnutls-util.h"
#include "import-inventory.h"
#include "log.h"
#include "time-util.h"
#include "x509.h"

#define CAPTURE_MAX (16U * 1024U * 1024U)
#define CONF_MAX (4U * 1024U * 1024U)
#define LEAF_MAX (1024U * 1024U)
#define NGINX_DEFAULT_CONF "/etc/nginx/nginx.conf"

typedef struct Pair {
        char *software, *cert, *key, *unit, *origin, *note;
        char **listens; /* from the configuration: "ADDR:PORT" or "PORT" */
        size_t n_listens;
        bool postgres;
        DiscoverCred cred; /* of whoever runs the server: its files are read as that user */
        uint8_t *leaf;
        size_t leaf_size;
} Pair;

typedef struct Discovery {
        Pair *pairs;
        size_t n_pairs;
        /* of the source being read */
        const char *software, *unit, *origin, *base, *note;
        DiscoverCred cred;
        char **notes; /* comments for what serves nothing now, and for what was refused */
        size_t n_notes;
        DiscoverProcess *procs;
        size_t n_procs;
        usec_t start, last_progress;
} Discovery;

static void discovery_done(Discovery *d) {
        for (size_t i = 0; i < d->n_pairs; i++) {
                Pair *p = &d->pairs[i];
                free_many(p->software, p->cert, p->key, p->unit, p->origin, p->note, p->leaf);
                for (size_t j = 0; j < p->n_listens; j++)
                        free(p->listens[j]);
                free(p->listens);
        }
        free(d->pairs);
        strv_free(d->notes);
        discover_processes_free(d->procs, d->n_procs);
}

/* Progress on stderr, once a run has taken more than a second (the probes wait up to 2 s per silent
 * listener): a quick run prints nothing. A step prints always, a tick (one of many) at most once a
 * second. */
static void progress(Discovery *d, bool tick, const char *what) {
        usec_t now = now_monotonic();

        if (now - d->start <= USEC_PER_SEC || (tick && now - d->last_progress < USEC_PER_SEC))
                return;
        d->last_progress = now;
        log_info("discover: %s…", what);
}

static int note(Discovery *d, const char *fmt, ...) _printf_(2, 3);
static int note(Discovery *d, const char *fmt, ...) {
        char *s;

        if (VA_FORMAT(&s, fmt) < 0)
                return -ENOMEM;
        return strv_consume(&d->notes, &d->n_notes, s);
}

/* Something discover would not read or run: a warning now, a comment in the inventory. Returns 0 or
 * -ENOMEM, so that the scan goes on with the next source. */
#define refuse(d, ...) (log_warning(__VA_ARGS__), note((d), __VA_ARGS__))

/* The unit to reload for a process: the system service systemd runs it in; the conventional name when
 * systemd knows of none (no systemd, or a process started by hand), with a note when it names something
 * that is not a system service (a session scope, a user's own service manager). */
static const char *unit_of(Discovery *d, const DiscoverProcess *p, const char *fallback) {
        if (p->unit)
                return p->unit;
        if (p->other)
                (void) note(d, "%s (pid %d) runs in %s, not in a system service: reload = %s is a guess",
                            discover_server_to_string(p->server), (int) p->pid, p->other, fallback);
        return fallback;
}

static char *absolute(const char *base, const char *path) {
        char *r;

        if (path[0] == '/' || !base)
                return strdup(path);
        return asprintf(&r, "%s/%s", base, path) < 0 ? NULL : r;
}

static int add_pair(Discovery *d, const char *cert, const char *key, const char *listen, bool postgres) {
        _cleanup_free_ char *c = absolute(d->base, cert), *k = key ? absolute(d->base, key) : NULL;
        Pair *p = NULL;
        char **nl;

        if (!c || (key && !k))
                return -ENOMEM;
        for (size_t i = 0; i < d->n_pairs; i++)
                if (strcmp(d->pairs[i].cert, c) == 0 && strcmp(d->pairs[i].key ?: "", k ?: "") == 0)
                        p = &d->pairs[i];
        if (!p) {
                p = ARRAY_APPEND(d->pairs, d->n_pairs);
                if (!p)
                        return -ENOMEM;
                *p = (Pair){ .software = strdup(d->software),
                             .cert = TAKE_PTR(c),
                             .key = TAKE_PTR(k),
                             .unit = strdup(d->unit),
                             .origin = strdup(d->origin),
                             .postgres = postgres,
                             .cred = d->cred,
                             .note = d->note ? strdup(d->note) : NULL };
                if (!p->software || !p->unit || !p->origin || (d->note && !p->note))
                        return -ENOMEM;
        }
        if (!listen)
                return 0;
        for (size_t i = 0; i < p->n_listens; i++)
                if (strcmp(p->listens[i], listen) == 0)
                        return 0;
        nl = reallocarray(p->listens, p->n_listens + 1, sizeof(char *));
        if (!nl)
                return -ENOMEM;
        p->listens = nl;
        nl[p->n_listens] = strdup(listen);
        return nl[p->n_listens++] ? 0 : -ENOMEM;
}

/* Whether a configuration file that a server running with c names may be read: a root server's only when
 * root alone could have written it (and the directories above it); anyone else's is read with that user's
 * credentials. Returns 0 (read it), 1 (not: missing, or refused with a note under `what`) or -ENOMEM. */
static int config_allowed(Discovery *d, const DiscoverCred *c, const char *what, const char *path) {
        _cleanup_free_ char *reason = NULL;
        int r;

        if (c->uid != 0)
                return 0;
        r = discover_path_trusted(path, &reason);
        if (r == -ENOENT)
                return 1;
        if (r == -EPERM)
                r = refuse(d, "%s: not read: %s, so it may not be root's configuration", what, reason);
        else if (r < 0)
                r = refuse(d, "%s: not read: %s: %s", what, path, strerror(-r));
        else
                return 0;
        return r < 0 ? r : 1;
}

/* A configuration file that could not be read as c: noted, unless it is missing. Returns 0 or -ENOMEM. */
static int config_failed(Discovery *d, const DiscoverCred *c, const char *what, const char *path,
                         int error) {
        char user[64];

        if (error == -ENOENT || error == -ENOMEM)
                return error == -ENOMEM ? error : 0;
        discover_user_name(c->uid, user, sizeof(user));
        return refuse(d, "%s: cannot read %s as %s: %s", what, path, user, file_strerror(error));
}

/* A configuration file, read under the rules above: 1 and *ret, 0 when not read, or -ENOMEM. */
static int read_config(Discovery *d, const DiscoverCred *c, const char *what, const char *path, char **ret) {
        int r;

        r = config_allowed(d, c, what, path);
        if (r != 0)
                return r < 0 ? r : 0;
        r = discover_read_as(c, path, CONF_MAX, ret, NULL);
        if (r < 0)
                return config_failed(d, c, what, path, r);
        return 1;
}

/* ---- nginx ---- */

static int nginx_add(void *userdata, const char *cert, const char *key, const char *listen,
                     const char *name) {
        return add_pair(userdata, cert, key, listen, false);
}

/* The files a dump was read from (its "# configuration file PATH:" lines, the main file first): each must
 * be root's alone, else *ret_reason says which is not. *ret_base: the main file's directory, which the
 * relative paths in it are relative to. Returns 0, -EPERM or -ENOMEM. */
static int nginx_dump_files(const char *dump, char **ret_base, char **ret_reason) {
        _cleanup_free_ char *base = NULL;

        for (const char *line = dump; line && *line;
             line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
                static const char head[] = "# configuration file ";
                size_t len = strcspn(line, "\n");
                _cleanup_free_ char *path = NULL;

                if (len <= strlen(head) + 1 || strncmp(line, head, strlen(head)) != 0 ||
                    line[len - 1] != ':')
                        continue;
                path = strndup(line + strlen(head), len - strlen(head) - 1);
                if (!path)
                        return -ENOMEM;
                if (discover_path_trusted(path, ret_reason) < 0)
                        return -EPERM;
                if (!base) {
                        base = strdup(path);
                        if (!base)
                                return -ENOMEM;
                        *strrchr(base, '/') = 0;
                }
        }
        *ret_base = TAKE_PTR(base);
        return 0;
}

/* How a root nginx master was started: its -p, -c, and whether it had -e (NULL, false: nginx's defaults). */
typedef struct NginxArgs {
        const char *prefix, *conf;
        bool error_log;
} NginxArgs;

/* Whether root alone could have written path, which nginx -T would read: 0, 1 (refused, noted), -ENOMEM. */
static int nginx_trusted(Discovery *d, const char *what, const char *path) {
        _cleanup_free_ char *reason = NULL;
        int r;

        r = discover_path_trusted(path, &reason);
        if (r == -EPERM)
                r = refuse(
                        d,
                        "%s: not read: %s, so nginx -T as root would read files that are not root's alone",
                        what, reason);
        else if (r < 0)
                r = refuse(d, "%s: not read: %s: %s", what, path, strerror(-r));
        else
                return 0;
        return r < 0 ? r : 1;
}

/* `nginx -T` of root's nginx with the system's binary, each file it reads checked first (-p, -c) or after
 * (the includes): root's alone, or nothing of it is listed. The only program discover runs. Returns 0 or
 * -ENOMEM. */
static int nginx_read(Discovery *d, const NginxArgs *a, const char *what) {
        _cleanup_free_ char *reason = NULL, *dump = NULL, *base = NULL, *full = NULL;
        char *args[10] = { (char *) "-T" };
        size_t k = 1;
        int r;

        if (a->conf && a->conf[0] != '/' && !a->prefix)
                return refuse(d, "%s: not read: -c %s is relative to nginx's built-in prefix", what,
                              a->conf);
        full = a->conf && a->conf[0] != '/' ? absolute(a->prefix, a->conf)
                                            : strdup(a->conf ?: NGINX_DEFAULT_CONF);
        if (!full)
                return -ENOMEM;
        r = a->prefix ? nginx_trusted(d, what, a->prefix) : 0;
        if (r == 0)
                r = nginx_trusted(d, what, full);
        if (r != 0)
                return r < 0 ? r : 0;
        /* nginx opens its error log even to test a configuration: not at the master's -e (whoever may write
         * there could point it anywhere), at stderr. An nginx started without -e predates it or did not need
         * it: its built-in log is the one its master writes. */
        if (a->error_log) {
                args[k++] = (char *) "-e";
                args[k++] = (char *) "stderr";
        }
        if (a->prefix) {
                args[k++] = (char *) "-p";
                args[k++] = (char *) a->prefix;
        }
        if (a->conf) {
                args[k++] = (char *) "-c";
                args[k++] = (char *) a->conf;
        }
        r = discover_run_server(DISCOVER_NGINX, args, CAPTURE_MAX, &dump);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return refuse(d, "%s: `nginx -T` failed (%s): its certificates are not listed", what,
                              r == -EPROTO ? "it finds the configuration invalid" : strerror(-r));
        r = nginx_dump_files(dump, &base, &reason);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return refuse(
                        d,
                        "%s: %s, so its certificates are not listed: nginx's configuration is not root's "
                        "alone",
                        what, reason ?: "a file it includes cannot be checked");
        d->base = base;
        d->cred = (DiscoverCred){};
        r = discover_parse_nginx(dump, strlen(dump), nginx_add, d);
        d->base = NULL;
        return r;
}

/* The title an nginx master shows, "nginx: master process /usr/sbin/nginx -p DIR -c FILE" (or its plain
 * arguments before it set one), split in place. Only a root master's is used, so only root wrote it. */
static void nginx_args(char *cmd, size_t size, NginxArgs *ret) {
        char *save = NULL, *w;

        for (size_t i = 0; i + 1 < size; i++)
                if (cmd[i] == 0)
                        cmd[i] = ' ';
        if (strncmp(cmd, "nginx: master process ", 22) == 0)
                cmd += 22;
        *ret = (NginxArgs){};
        (void) strtok_r(cmd, " ", &save); /* the program */
        while ((w = strtok_r(NULL, " ", &save)))
                if (strcmp(w, "-c") == 0)
                        ret->conf = strtok_r(NULL, " ", &save);
                else if (strcmp(w, "-p") == 0)
                        ret->prefix = strtok_r(NULL, " ", &save);
                else if (strcmp(w, "-e") == 0)
                        ret->error_log = true;
}

static int nginx_master(Discovery *d, const DiscoverProcess *p, const NginxArgs *a) {
        _cleanup_free_ char *origin = NULL;
        char user[64];

        if (p->cred.uid != 0) {
                discover_user_name(p->cred.uid, user, sizeof(user));
                return refuse(
                        d,
                        "nginx (pid %d) runs as %s, not as root: not read (reading nginx's configuration "
                        "means running nginx on it, and its files are that user's)",
                        (int) p->pid, user);
        }
        if (asprintf(&origin, "nginx (pid %d, %s)", (int) p->pid, a->conf ?: NGINX_DEFAULT_CONF) < 0)
                return -ENOMEM;
        d->software = "nginx";
        d->unit = unit_of(d, p, "nginx.service");
        d->origin = origin;
        return nginx_read(d, a, origin);
}

/* The root nginx masters of this network namespace, each read with its -p and -c; then nginx's own
 * configuration when no root master runs it: a stopped nginx serves it at its next start. */
static int scan_nginx(Discovery *d) {
        bool default_runs = false;
        int r = 0;

        for (size_t i = 0; r >= 0 && i < d->n_procs; i++) {
                DiscoverProcess *p = &d->procs[i];
                _cleanup_free_ char *copy = NULL;
                NginxArgs a;

                if (p->server != DISCOVER_NGINX)
                        continue;
                copy = malloc(p->cmdline_size + 1);
                if (!copy)
                        return -ENOMEM;
                memcpy(copy, p->cmdline, p->cmdline_size);
                copy[p->cmdline_size] = 0;
                nginx_args(copy, p->cmdline_size, &a);
                if (p->cred.uid == 0 && (!a.conf || strcmp(a.conf, NGINX_DEFAULT_CONF) == 0))
                        default_runs = true; /* in another namespace too: that nginx is not stopped */
                if (p->same_netns)
                        r = nginx_master(d, p, &a);
        }
        if (r < 0 || default_runs || access(NGINX_DEFAULT_CONF, F_OK) < 0 ||
            !discover_server_binary(DISCOVER_NGINX))
                return r;
        d->software = "nginx";
        d->unit = "nginx.service";
        d->origin = "nginx (not running, " NGINX_DEFAULT_CONF ")";
        d->note = "nginx is not running: served at its next start";
        r = nginx_read(d, &(NginxArgs){}, "nginx (not running)");
        d->note = NULL;
        return r;
}

/* ---- PostgreSQL ---- */

typedef struct PgConf {
        char *ssl, *cert, *key, *port, *listen;
} PgConf;

static void pg_conf_done(PgConf *c) {
        free_many(c->ssl, c->cert, c->key, c->port, c->listen);
}

static void pg_set(PgConf *c, const char *key, const char *value) {
        char **slot = strcmp(key, "ssl") == 0                ? &c->ssl
                      : strcmp(key, "ssl_cert_file") == 0    ? &c->cert
                      : strcmp(key, "ssl_key_file") == 0     ? &c->key
                      : strcmp(key, "port") == 0             ? &c->port
                      : strcmp(key, "listen_addresses") == 0 ? &c->listen
                                                             : NULL;
        if (!slot)
                return;
        free(*slot);
        *slot = strdup(value);
}

/* postgresql.conf: "name = value" or "name value", '#' comments, values quoted with '…'. */
static void pg_parse_conf(PgConf *c, char *data) {
        char *save = NULL;

        for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char key[64], *v, *e;
                size_t k;

                line += strspn(line, " \t");
                k = strspn(line, "abcdefghijklmnopqrstuvwxyz_0123456789");
                if (k == 0 || k >= sizeof(key))
                        continue;
                memcpy(key, line, k);
                key[k] = 0;
                v = line + k;
                v += strspn(v, " \t");
                if (*v == '=')
                        v++;
                v += strspn(v, " \t");
                if (*v == '\'') {
                        e = strchr(++v, '\'');
                        if (!e)
                                continue;
                        *e = 0;
                } else {
                        v[strcspn(v, " \t#")] = 0;
                }
                pg_set(c, key, v);
        }
}

static int pg_read_conf(Discovery *d, PgConf *c, const char *what, const char *path) {
        _cleanup_free_ char *data = NULL;
        int r;

        r = read_config(d, &d->cred, what, path, &data);
        if (r > 0)
                pg_parse_conf(c, data);
        return r < 0 ? r : 0;
}

static int pg_add(Discovery *d, PgConf *c, const char *datadir) {
        _cleanup_free_ char *listen = NULL, *ep = NULL;
        const char *host = "127.0.0.1";
        bool on = c->ssl &&
                  (strcmp(c->ssl, "on") == 0 || strcmp(c->ssl, "true") == 0 || strcmp(c->ssl, "1") == 0);
        int r;

        if (!on)
                return 0;
        /* listen_addresses: localhost (default), '*', or a list; probe through loopback when it is there. */
        if (c->listen && *c->listen && !strstr(c->listen, "localhost") && !strchr(c->listen, '*') &&
            !strstr(c->listen, "0.0.0.0") && !strstr(c->listen, "127.0.0.1")) {
                listen = strndup(c->listen, strcspn(c->listen, ", "));
                host = listen;
        }
        if (!host || asprintf(&ep, "%s%s%s:%s", strchr(host, ':') ? "[" : "", host,
                              strchr(host, ':') ? "]" : "", c->port ?: "5432") < 0)
                return -ENOMEM;
        d->base = datadir;
        r = add_pair(d, c->cert ?: "server.crt", c->key ?: "server.key", ep, true);
        d->base = NULL;
        return r;
}

/* A postmaster (-D DIR, -c config_file=…, -p PORT): its configuration files are read as the user running
 * it (postgres, as PostgreSQL refuses to run as root). */
static int pg_postmaster(Discovery *d, const DiscoverProcess *p) {
        _cleanup_free_ char *origin = NULL, *datadir = NULL, *conf = NULL, *auto_conf = NULL;
        _cleanup_(pg_conf_done) PgConf c = {};
        const char *cmd = p->cmdline, *port = NULL;
        size_t size = p->cmdline_size;
        int r;

        for (size_t i = 0; i < size; i += strlen(cmd + i) + 1) {
                const char *a = cmd + i, *next = i + strlen(a) + 1 < size ? cmd + i + strlen(a) + 1 : NULL;
                if (strcmp(a, "-D") == 0 && next)
                        datadir = strdup(next);
                else if (strcmp(a, "-p") == 0 && next)
                        port = next;
                else if (strcmp(a, "-c") == 0 && next && strncmp(next, "config_file=", 12) == 0)
                        conf = strdup(next + 12);
        }
        if (!datadir && !conf)
                return 0;
        if (!conf && asprintf(&conf, "%s/postgresql.conf", datadir) < 0)
                return -ENOMEM;
        if (asprintf(&origin, "PostgreSQL (pid %d, %s)", (int) p->pid, conf) < 0)
                return -ENOMEM;
        d->cred = p->cred;
        r = pg_read_conf(d, &c, origin, conf);
        if (r >= 0 && datadir && asprintf(&auto_conf, "%s/postgresql.auto.conf", datadir) >= 0)
                r = pg_read_conf(d, &c, origin, auto_conf);
        if (r < 0)
                return r;
        if (port)
                pg_set(&c, "port", port);
        d->software = "postgresql";
        d->unit = unit_of(d, p, "postgresql.service");
        d->origin = origin;
        return pg_add(d, &c, datadir);
}

static int scan_postgres(Discovery *d) {
        int r = 0;

        for (size_t i = 0; r >= 0 && i < d->n_procs; i++)
                if (d->procs[i].server == DISCOVER_POSTGRES && d->procs[i].same_netns)
                        r = pg_postmaster(d, &d->procs[i]);
        return r;
}

/* Debian's clusters that do not run now (/etc/postgresql/VERSION/CLUSTER/postgresql.conf) serve nothing:
 * a note each, so that the operator knows of them. The files are postgres's: read as postgres. */
static int scan_postgres_clusters(Discovery *d) {
        glob_t g = {};
        int r = 0;

        if (glob("/etc/postgresql/*/*/postgresql.conf", 0, NULL, &g) != 0)
                return 0;
        for (size_t i = 0; r >= 0 && i < g.gl_pathc; i++) {
                _cleanup_(pg_conf_done) PgConf c = {};
                bool known = false;

                for (size_t j = 0; j < d->n_pairs; j++)
                        known = known || (d->pairs[j].postgres && strstr(d->pairs[j].origin, g.gl_pathv[i]));
                if (known)
                        continue;
                discover_cred_of_path(g.gl_pathv[i], &d->cred);
                r = pg_read_conf(d, &c, g.gl_pathv[i], g.gl_pathv[i]);
                if (r < 0 || !c.ssl || strcmp(c.ssl, "on") != 0)
                        continue;
                r = note(
                        d,
                        "PostgreSQL cluster %s (not running) has ssl = on: ssl_cert_file %s, ssl_key_file %s",
                        g.gl_pathv[i], c.cert ?: "server.crt", c.key ?: "server.key");
        }
        globfree(&g);
        return r;
}

/* ---- HAProxy and Apache: their configuration files ---- */

/* One certificate of a `bind … crt` as a record "CERT\0KEY\0ADDRESS\0": the key is in the same file, or
 * beside it as FILE.key. */
static int haproxy_record(int fd, const char *crt, const char *addr) {
        _cleanup_free_ char *key = NULL;

        if (asprintf(&key, "%s.key", crt) < 0)
                return -ENOMEM;
        return dprintf(fd, "%s%c%s%c%s%c", crt, 0, access(key, F_OK) >= 0 ? key : crt, 0,
                       addr[0] == ':' ? addr + 1 : addr, 0) < 0
                       ? -EIO
                       : 0;
}

/* `crt DIR` loads every file in it (but keys and OCSP responses); `crt FILE` one. */
static int haproxy_crt(int fd, const char *crt, const char *addr) {
        _cleanup_free_ char *pattern = NULL;
        struct stat st;
        glob_t g = {};
        int r = 0;

        if (stat(crt, &st) < 0 || !S_ISDIR(st.st_mode))
                return haproxy_record(fd, crt, addr);
        if (asprintf(&pattern, "%s/*", crt) < 0)
                return -ENOMEM;
        if (glob(pattern, 0, NULL, &g) == 0)
                for (size_t j = 0; r >= 0 && j < g.gl_pathc; j++) {
                        size_t len = strlen(g.gl_pathv[j]);
                        if (len < 5 || (strcmp(g.gl_pathv[j] + len - 4, ".key") != 0 &&
                                        strcmp(g.gl_pathv[j] + len - 5, ".ocsp") != 0))
                                r = haproxy_record(fd, g.gl_pathv[j], addr);
                }
        globfree(&g);
        return r;
}

/* The certificates of an HAProxy configuration file, as records on fd. Runs with the credentials of whoever
 * runs that HAProxy (discover_run_as()): the files, directories and keys it names are looked at as that
 * user could. */
static int haproxy_collect(int fd, void *userdata) {
        _cleanup_free_ char *data = NULL;
        char *save = NULL;
        size_t size = 0;
        bool front = false;
        int r;

        r = read_full_file(userdata, CONF_MAX, (uint8_t **) &data, &size);
        if (r < 0)
                return r;
        for (char *line = strtok_r(data, "\n", &save); r >= 0 && line; line = strtok_r(NULL, "\n", &save)) {
                char *w, *ws = NULL, *addr;

                line[strcspn(line, "#")] = 0;
                w = strtok_r(line, " \t", &ws);
                if (!w)
                        continue;
                if (line[0] != ' ' && line[0] != '\t') /* a section header */
                        front = strcmp(w, "frontend") == 0 || strcmp(w, "listen") == 0;
                if (!front || strcmp(w, "bind") != 0 || !(addr = strtok_r(NULL, " \t", &ws)))
                        continue;
                while (r >= 0 && (w = strtok_r(NULL, " \t", &ws)))
                        if (strcmp(w, "crt") == 0 && (w = strtok_r(NULL, " \t", &ws)))
                                r = haproxy_crt(fd, w, addr);
        }
        return r;
}

static int scan_haproxy(Discovery *d, const char *path, const DiscoverCred *c, const char *unit) {
        _cleanup_free_ char *origin = NULL, *records = NULL;
        size_t size = 0;
        int r;

        if (asprintf(&origin, "HAProxy (%s)", path) < 0)
                return -ENOMEM;
        r = config_allowed(d, c, origin, path);
        if (r != 0)
                return r < 0 ? r : 0;
        r = discover_run_as(c, haproxy_collect, (void *) path, CONF_MAX, &records, &size);
        if (r < 0)
                return config_failed(d, c, origin, path, r);
        d->software = "haproxy";
        d->unit = unit ?: "haproxy.service";
        d->origin = origin;
        d->cred = *c;
        for (const char *s = records, *end = records + size; r >= 0 && s < end;) {
                const char *crt = s, *key = crt + strlen(crt) + 1,
                           *addr = key < end ? key + strlen(key) + 1 : end;

                if (addr >= end)
                        break;
                s = addr + strlen(addr) + 1;
                r = add_pair(d, crt, key, addr, false);
        }
        return r;
}

/* The running HAProxy processes of this namespace: their -f files, read as whoever runs them (the Debian
 * default is read anyway, as root's). */
static int scan_haproxy_processes(Discovery *d) {
        int r = 0;

        for (size_t i = 0; r >= 0 && i < d->n_procs; i++) {
                const DiscoverProcess *p = &d->procs[i];
                const char *cmd = p->cmdline;

                if (p->server != DISCOVER_HAPROXY || !p->same_netns)
                        continue;
                for (size_t j = 0; r >= 0 && j < p->cmdline_size; j += strlen(cmd + j) + 1)
                        if (strcmp(cmd + j, "-f") == 0 && j + 3 < p->cmdline_size &&
                            strcmp(cmd + j + 3, "/etc/haproxy/haproxy.cfg") != 0)
                                r = scan_haproxy(d, cmd + j + 3, &p->cred, unit_of(d, p, "haproxy.service"));
        }
        return r;
}

static int scan_apache_file(Discovery *d, const char *path) {
        _cleanup_free_ char *data = NULL, *cert = NULL, *key = NULL, *vhost = NULL;
        char *save = NULL;
        size_t size = 0;
        int r = 0;

        if (read_full_file(path, CONF_MAX, (uint8_t **) &data, &size) < 0)
                return 0;
        for (char *line = strtok_r(data, "\n", &save); r >= 0 && line; line = strtok_r(NULL, "\n", &save)) {
                char *w, *ws = NULL, *v;

                w = strtok_r(line, " \t\r", &ws);
                if (!w || w[0] == '#')
                        continue;
                v = strtok_r(NULL, " \t\r", &ws);
                if (strcasecmp(w, "<VirtualHost") == 0 && v) {
                        free(vhost);
                        vhost = strndup(v, strcspn(v, ">"));
                } else if (strcasecmp(w, "SSLCertificateFile") == 0 && v) {
                        free(cert);
                        cert = strdup(v);
                } else if (strcasecmp(w, "SSLCertificateKeyFile") == 0 && v) {
                        free(key);
                        key = strdup(v);
                } else if (strcasecmp(w, "</VirtualHost>") == 0) {
                        if (cert)
                                r = add_pair(d, cert, key ?: cert,
                                             vhost && vhost[0] == '*' ? vhost + 2 : vhost, false);
                        free(cert);
                        free(key);
                        cert = key = NULL;
                }
        }
        return r;
}

static int scan_apache(Discovery *d) {
        static const char *const patterns[] = { "/etc/apache2/sites-enabled/*", "/etc/httpd/conf.d/*.conf" };
        int r = 0;

        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(patterns); i++) {
                glob_t g = {};
                if (glob(patterns[i], 0, NULL, &g) != 0)
                        continue;
                d->software = "apache";
                d->cred = (DiscoverCred){}; /* root's own configuration directories */
                d->unit = i == 0 ? "apache2.service" : "httpd.service";
                d->origin = patterns[i];
                for (size_t j = 0; r >= 0 && j < g.gl_pathc; j++)
                        r = scan_apache_file(d, g.gl_pathv[j]);
                globfree(&g);
        }
        return r;
}

/* ---- the inventory ---- */

/* A listener of the configuration's "ADDR:PORT" / "PORT": the same port, and the same address or a
 * wildcard on either side. */
static bool listen_matches(const char *listen, const Listener *x) {
        const char *colon = strrchr(listen, ':');
        unsigned long port = strtoul(colon ? colon + 1 : listen, NULL, 10);
        size_t alen = colon ? (size_t) (colon - listen) : 0;

        if (port != x->port)
                return false;
        if (!colon || x->wildcard || (alen == 1 && listen[0] == '*'))
                return true;
        return strlen(x->address) == alen && strncmp(x->address, listen, alen) == 0;
}

static bool self_signed(const uint8_t *der, size_t size) {
        gnutls_x509_crt_t crt = NULL;
        unsigned status = 1;
        bool r = false;

        if (!der || gnutls_x509_crt_init(&crt) < 0)
                return false;
        if (gnutls_x509_crt_import(crt,
                                   &(gnutls_datum_t){ .data = (uint8_t *) der, .size = (unsigned) size },
                                   GNUTLS_X509_FMT_DER) >= 0 &&
            gnutls_x509_crt_check_issuer(crt, crt) && gnutls_x509_crt_verify(crt, &crt, 1, 0, &status) >= 0)
                r = status == 0;
        gnutls_x509_crt_deinit(crt);
        return r;
}

static bool names_contain(char **l, const char *s) {
        for (; l && *l; l++)
                if (strcmp(*l, s) == 0)
                        return true;
        return false;
}

static int names_push(char ***l, const char *s) {
        return strv_consume(l, NULL, strdup(s));
}

/* verify = every listener found serving this very certificate; a listener on one of its addresses that
 * serves another (a name-based virtual host) gets a comment instead. */
static int emit_verify(ImportWriter *w, Pair *p, Listener *l, size_t n) {
        ImportList verify;
        int r;

        if (import_list_open(&verify) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < p->n_listens; i++)
                for (size_t j = 0; j < n; j++) {
                        Listener *x = &l[j];
                        if (!listen_matches(p->listens[i], x) ||
                            (x->kind != LISTENER_TLS && x->kind != LISTENER_POSTGRES))
                                continue;
                        if (!p->leaf || x->leaf_size != p->leaf_size ||
                            memcmp(x->leaf, p->leaf, p->leaf_size) != 0) {
                                import_comment(w,
                                               "%s:%u serves another certificate without SNI (a name-based "
                                               "virtual host): verify = tls://NAME:%u works where NAME "
                                               "resolves to this host",
                                               x->address, x->port, x->port);
                                continue;
                        }
                        x->inode = 0; /* mapped to a file */
                        import_list_add(&verify, "tls://%s:%u%s", x->connect, x->port,
                                        x->kind == LISTENER_POSTGRES ? "?starttls=postgres" : "");
                }
        r = import_list_close(w, &verify, "verify");
        if (r == -EINVAL)
                return 0;
        if (r < 0)
                return r;
        if (r == 0 && p->n_listens > 0)
                import_comment(w, "no listener of %s served this certificate", p->listens[0]);
        return 0;
}

static int emit_pair(ImportWriter *w, Pair *p, Listener *l, size_t n, char ***names) {
        _cleanup_free_ char *name = NULL, *stem = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        const char *base = strrchr(p->cert, '/') ? strrchr(p->cert, '/') + 1 : p->cert;
        size_t size = 0;
        struct stat st;
        int r;

        stem = strdup(base);
        if (!stem)
                return -ENOMEM;
        if (strrchr(stem, '.') && strrchr(stem, '.') != stem)
                *strrchr(stem, '.') = 0;
        r = import_section_name(p->software, stem, &name);
        for (unsigned k = 2; r >= 0 && names_contain(*names, name); k++) {
                _cleanup_free_ char *numbered = NULL;
                free(name);
                name = NULL;
                if (asprintf(&numbered, "%s-%u", stem, k) < 0)
                        return -ENOMEM;
                r = import_section_name(p->software, numbered, &name);
        }
        if (r < 0 || names_push(names, name) < 0)
                return -ENOMEM;
        if (import_section(w, "certificate", name) < 0)
                return -EINVAL;
        import_comment(w, "%s", p->origin);
        if (p->note)
                import_comment(w, "%s", p->note);
        if (import_key(w, "certificate", p->cert) < 0 || (p->key && import_key(w, "key", p->key) < 0)) {
                import_comment(w, "not listed: %s: a path the inventory cannot hold", p->cert);
                return 0;
        }
        /* The certificate as its server's user reads it: a path that user named is opened with no more. */
        if (discover_read_as(&p->cred, p->cert, LEAF_MAX, (char **) &data, &size) >= 0)
                (void) discover_leaf_of(data, size, &p->leaf, &p->leaf_size);
        if (self_signed(p->leaf, p->leaf_size)) {
                import_comment(w, "self-signed: its own trust anchor");
                (void) import_key(w, "ca", p->cert);
        }
        (void) import_key(w, "issuer", "none");
        /* A key a group may read (Debian's ssl-cert, postgres) is the operator's choice: say so, so that
         * check does not report it; a key others may read stays a problem. */
        if (p->key && stat(p->key, &st) >= 0 && (st.st_mode & 0077) && !(st.st_mode & 0007)) {
                char mode[8];
                snprintf(mode, sizeof(mode), "0%o", (unsigned) (st.st_mode & 0777));
                (void) import_key(w, "mode", mode);
        }
        (void) import_key(w, "reload", p->unit);

        return emit_verify(w, p, l, n);
}

/* What the servers' configurations name, each source in turn. Returns 0 or -errno. */
static int scan(Discovery *d) {
        int r;

        progress(d, false, "reading the processes");
        r = discover_processes(&d->procs, &d->n_procs);
        if (r >= 0) {
                progress(d, false, "reading nginx");
                r = scan_nginx(d);
        }
        if (r >= 0) {
                progress(d, false, "reading PostgreSQL");
                r = scan_postgres(d);
        }
        if (r >= 0)
                r = scan_postgres_clusters(d);
        if (r >= 0) {
                progress(d, false, "reading HAProxy");
                r = scan_haproxy(d, "/etc/haproxy/haproxy.cfg", &(DiscoverCred){}, NULL);
        }
        if (r >= 0)
                r = scan_haproxy_processes(d);
        if (r >= 0) {
                progress(d, false, "reading Apache");
                r = scan_apache(d);
        }
        return r;
}

int discover_run(const ImportOptions *o) {
        _cleanup_(discovery_done) Discovery d = { .start = now_monotonic() };
        _cleanup_(import_writer_done) ImportWriter w = {};
        _cleanup_strv_free_ char **names = NULL;
        Listener *l = NULL;
        size_t n = 0, plaintext = 0;
        int r;

        if (o->write && access(o->write, F_OK) >= 0) {
                log_error("%s exists: not replacing it (remove it or write elsewhere)", o->write);
                return 1;
        }
        r = scan(&d);
        if (r >= 0)
                r = discover_listeners(&l, &n);
        if (r >= 0)
                r = import_writer_init(&w);
        if (r < 0) {
                log_error_errno(r, "discover failed: %m");
                discover_listeners_free(l, n);
                return 1;
        }
        for (size_t i = 0; i < n; i++) {
                char what[160];

                snprintf(what, sizeof(what), "probing listener %zu of %zu, %s:%u", i + 1, n, l[i].address,
                         l[i].port);
                progress(&d, i > 0, what);
                discover_probe(&l[i], 1);
        }

        import_comment(&w,
                       "Written by `certherd discover`: the certificates this host serves, watched only.");
        import_comment(&w, "Set issuer (and names) on a set for certherd to renew it.");
        for (size_t i = 0; r >= 0 && i < d.n_pairs; i++)
                r = emit_pair(&w, &d.pairs[i], l, n, &names);
        import_blank(&w);
        for (size_t i = 0; i < d.n_notes; i++)
                import_comment(&w, "%s", d.notes[i]);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                const Listener *x = &l[i];
                if ((x->kind == LISTENER_TLS || x->kind == LISTENER_POSTGRES) && x->inode != 0)
                        import_comment(
                                &w,
                                "tls://%s:%u%s (%s, pid %d) serves a certificate no configuration file "
                                "names",
                                x->connect, x->port,
                                x->kind == LISTENER_POSTGRES ? "?starttls=postgres" : "",
                                x->comm[0] ? x->comm : "?", (int) x->pid);
                else if (x->kind == LISTENER_PLAINTEXT && !x->loopback) {
                        char owner[64] = "owner unknown";
                        if (x->pid > 0)
                                snprintf(owner, sizeof(owner), "%s, pid %d", x->comm[0] ? x->comm : "?",
                                         (int) x->pid);
                        import_comment(&w, "plaintext: %s:%u (%s) speaks no TLS on a non-loopback address",
                                       x->address, x->port, owner);
                        fprintf(stderr, "plaintext listener: %s:%u (%s): no TLS on a non-loopback address\n",
                                x->address, x->port, owner);
                        plaintext++;
                }
        }
        discover_listeners_free(l, n);
        if (r < 0 || import_writer_output(&w, o) < 0)
                return 1;
        log_info("%zu certificate set%s, %zu plaintext listener%s", d.n_pairs, d.n_pairs == 1 ? "" : "s",
                 plaintext, plaintext == 1 ? "" : "s");
        return 0;
}
