/* SPDX-License-Identifier: GPL-3.0-or-later */
/* `certherd discover`: what this host serves, from the servers' own configuration (as they run now) and
 * from its sockets, written as a watch-only inventory. Nothing here changes anything on the host but the
 * --write file: the servers are read (`nginx -T`, configuration files) and probed like any client would. */
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/x509.h>

#include "discover-net.h"
#include "discover.h"
#include "fd-util.h"
#include "gnutls-util.h"
#include "import-inventory.h"
#include "log.h"
#include "x509.h"

extern char **environ;

static void closedirp_(DIR **d) {
        if (*d)
                closedir(*d);
}

#define CAPTURE_MAX (16U * 1024U * 1024U)
#define CONF_MAX (4U * 1024U * 1024U)

typedef struct Pair {
        char *software, *cert, *key, *unit, *origin;
        char **listens; /* from the configuration: "ADDR:PORT" or "PORT" */
        size_t n_listens;
        bool postgres;
        uint8_t *leaf;
        size_t leaf_size;
} Pair;

typedef struct Discovery {
        Pair *pairs;
        size_t n_pairs;
        const char *software, *unit, *origin, *base; /* of the source being read */
        char **notes; /* comments for what serves nothing now */
        size_t n_notes;
} Discovery;

static void discovery_done(Discovery *d) {
        for (size_t i = 0; i < d->n_pairs; i++) {
                Pair *p = &d->pairs[i];
                free(p->software);
                free(p->cert);
                free(p->key);
                free(p->unit);
                free(p->origin);
                for (size_t j = 0; j < p->n_listens; j++)
                        free(p->listens[j]);
                free(p->listens);
                free(p->leaf);
        }
        free(d->pairs);
        strv_free(d->notes);
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
                p = reallocarray(d->pairs, d->n_pairs + 1, sizeof(Pair));
                if (!p)
                        return -ENOMEM;
                d->pairs = p;
                p += d->n_pairs++;
                *p = (Pair) { .software = strdup(d->software), .cert = TAKE_PTR(c), .key = TAKE_PTR(k),
                              .unit = strdup(d->unit), .origin = strdup(d->origin), .postgres = postgres };
                if (!p->software || !p->unit || !p->origin)
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

/* Run argv, its standard output into *ret (at most CAPTURE_MAX), stderr discarded, at most 20 s. */
static int capture(char *const argv[], char **ret) {
        posix_spawn_file_actions_t fa;
        _cleanup_close_ int out = memfd_create("discover", MFD_CLOEXEC);
        _cleanup_free_ char *buf = NULL;
        pid_t pid;
        int status = 0, r;
        off_t size;

        if (out < 0)
                return -errno;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, out, STDOUT_FILENO);
        posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0)
                return -r;
        for (unsigned i = 0; i < 2000; i++) {
                r = waitpid(pid, &status, WNOHANG);
                if (r != 0)
                        break;
                nanosleep(&(struct timespec) { .tv_nsec = 10 * 1000 * 1000 }, NULL);
        }
        if (r == 0) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                return -ETIMEDOUT;
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return -EPROTO;
        size = lseek(out, 0, SEEK_END);
        if (size < 0 || (uintmax_t) size > CAPTURE_MAX)
                return -EFBIG;
        buf = malloc((size_t) size + 1);
        if (!buf)
                return -ENOMEM;
        if (pread(out, buf, (size_t) size, 0) != size)
                return -EIO;
        buf[size] = 0;
        *ret = TAKE_PTR(buf);
        return 0;
}

/* A /proc file: its st_size is 0, so read_full_file() (which trusts it) reads nothing. */
static int read_proc(const char *path, char **ret, size_t *ret_size) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        _cleanup_free_ char *buf = NULL;
        size_t n;

        if (!f)
                return -errno;
        buf = malloc(64U * 1024U + 1);
        if (!buf)
                return -ENOMEM;
        n = fread(buf, 1, 64U * 1024U, f);
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        *ret_size = n;
        return 0;
}

/* Whether pid runs in our network namespace: a server in another one (a container, another test) serves
 * another host. */
static bool same_netns(pid_t pid) {
        struct stat a, b;
        char path[64];

        snprintf(path, sizeof(path), "/proc/%d/ns/net", (int) pid);
        if (stat("/proc/self/ns/net", &a) < 0 || stat(path, &b) < 0)
                return false;
        return a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/* ---- nginx ---- */

static int nginx_add(void *userdata, const char *cert, const char *key, const char *listen, const char *name) {
        return add_pair(userdata, cert, key, listen, false);
}

/* The running nginx masters ("nginx: master process /usr/sbin/nginx -c FILE -p DIR"): each `-T`. */
static int scan_nginx(Discovery *d) {
        _cleanup_(closedirp_) DIR *proc = opendir("/proc");
        int r = 0;

        for (struct dirent *de = proc ? readdir(proc) : NULL; r >= 0 && de; de = readdir(proc)) {
                _cleanup_free_ char *cmd = NULL, *dump = NULL, *unit = NULL, *origin = NULL, *base = NULL;
                char path[64], *argv[10] = {}, *save = NULL, *w;
                const char *conf = NULL, *prefix = NULL;
                pid_t pid = (pid_t) strtol(de->d_name, NULL, 10);
                size_t size, k = 0;

                if (pid <= 0)
                        continue;
                snprintf(path, sizeof(path), "/proc/%d/cmdline", (int) pid);
                if (read_proc(path, &cmd, &size) < 0 ||
                    strncmp(cmd, "nginx: master process ", 22) != 0 || !same_netns(pid))
                        continue;
                argv[k++] = strtok_r(cmd + 22, " ", &save);
                argv[k++] = (char *) "-T";
                while ((w = strtok_r(NULL, " ", &save)) && k < 8)
                        if ((strcmp(w, "-c") == 0 || strcmp(w, "-p") == 0 || strcmp(w, "-e") == 0) &&
                            (argv[k + 1] = strtok_r(NULL, " ", &save))) {
                                argv[k] = w;
                                if (w[1] == 'c')
                                        conf = argv[k + 1];
                                else if (w[1] == 'p')
                                        prefix = argv[k + 1];
                                k += 2;
                        }
                argv[k] = NULL;
                if (!argv[0] || capture(argv, &dump) < 0) {
                        log_warning("nginx (pid %d): `%s -T` failed, its certificates are not listed", (int) pid,
                                    argv[0] ?: "nginx");
                        continue;
                }
                unit = discover_unit_of(pid);
                /* Relative paths in nginx's configuration are relative to the directory of its main file. */
                if (conf && conf[0] != '/' && asprintf(&base, "%s/%s", prefix ?: "/etc/nginx", conf) < 0)
                        return -ENOMEM;
                if (conf && !base)
                        base = strdup(conf);
                if (base && strrchr(base, '/'))
                        *strrchr(base, '/') = 0;
                if (!conf)
                        base = strdup(prefix ?: "/etc/nginx");
                if (!base)
                        return -ENOMEM;
                if (asprintf(&origin, "nginx (pid %d, %s)", (int) pid, conf ?: "/etc/nginx/nginx.conf") < 0)
                        return -ENOMEM;
                d->software = "nginx";
                d->unit = unit ?: "nginx.service";
                d->origin = origin;
                d->base = base;
                r = discover_parse_nginx(dump, strlen(dump), nginx_add, d);
                d->base = NULL;
        }
        return r;
}

/* ---- PostgreSQL ---- */

typedef struct PgConf {
        char *ssl, *cert, *key, *port, *listen;
} PgConf;

static void pg_conf_done(PgConf *c) {
        free(c->ssl);
        free(c->cert);
        free(c->key);
        free(c->port);
        free(c->listen);
}

static void pg_set(PgConf *c, const char *key, const char *value) {
        char **slot = strcmp(key, "ssl") == 0              ? &c->ssl
                      : strcmp(key, "ssl_cert_file") == 0   ? &c->cert
                      : strcmp(key, "ssl_key_file") == 0    ? &c->key
                      : strcmp(key, "port") == 0            ? &c->port
                      : strcmp(key, "listen_addresses") == 0 ? &c->listen
                                                             : NULL;
        if (!slot)
                return;
        free(*slot);
        *slot = strdup(value);
}

/* postgresql.conf: "name = value" or "name value", '#' comments, values quoted with '…'. */
static void pg_read_conf(PgConf *c, const char *path) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        char *save = NULL;

        if (read_full_file(path, CONF_MAX, (uint8_t **) &data, &size) < 0)
                return;
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

static int pg_add(Discovery *d, PgConf *c, const char *datadir) {
        _cleanup_free_ char *listen = NULL;
        const char *host = "127.0.0.1";
        bool on = c->ssl && (strcmp(c->ssl, "on") == 0 || strcmp(c->ssl, "true") == 0 || strcmp(c->ssl, "1") == 0);

        if (!on)
                return 0;
        /* listen_addresses: localhost (default), '*', or a list; probe through loopback when it is there. */
        if (c->listen && *c->listen && !strstr(c->listen, "localhost") && !strchr(c->listen, '*') &&
            !strstr(c->listen, "0.0.0.0") && !strstr(c->listen, "127.0.0.1")) {
                listen = strndup(c->listen, strcspn(c->listen, ", "));
                host = listen;
        }
        d->base = datadir;
        {
                _cleanup_free_ char *ep = NULL;
                int r;
                if (asprintf(&ep, "%s%s%s:%s", strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
                             c->port ?: "5432") < 0)
                        return -ENOMEM;
                r = add_pair(d, c->cert ?: "server.crt", c->key ?: "server.key", ep, true);
                d->base = NULL;
                return r;
        }
}

/* The running postmasters (a "postgres" whose parent is not one): -D DIR, -c config_file=…, -p PORT. */
static int scan_postgres(Discovery *d) {
        _cleanup_(closedirp_) DIR *proc = opendir("/proc");
        int r = 0;

        for (struct dirent *de = proc ? readdir(proc) : NULL; r >= 0 && de; de = readdir(proc)) {
                _cleanup_free_ char *cmd = NULL, *stat = NULL, *unit = NULL, *origin = NULL, *datadir = NULL,
                                    *conf = NULL, *auto_conf = NULL, *parent = NULL;
                _cleanup_(pg_conf_done) PgConf c = {};
                const char *port = NULL;
                char path[64];
                pid_t pid = (pid_t) strtol(de->d_name, NULL, 10), ppid = 0;
                size_t size = 0;

                if (pid <= 0 || !same_netns(pid))
                        continue;
                snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
                if (read_proc(path, &stat, &size) < 0 || !strstr(stat, "(postgres)") ||
                    !strrchr(stat, ')') || sscanf(strrchr(stat, ')') + 1, " %*c %d", &ppid) != 1)
                        continue;
                snprintf(path, sizeof(path), "/proc/%d/comm", (int) ppid);
                if (read_proc(path, &parent, &size) >= 0 && strncmp(parent, "postgres", 8) == 0)
                        continue;
                snprintf(path, sizeof(path), "/proc/%d/cmdline", (int) pid);
                if (read_proc(path, &cmd, &size) < 0)
                        continue;
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
                        continue;
                if (!conf && asprintf(&conf, "%s/postgresql.conf", datadir) < 0)
                        return -ENOMEM;
                pg_read_conf(&c, conf);
                if (datadir && asprintf(&auto_conf, "%s/postgresql.auto.conf", datadir) >= 0)
                        pg_read_conf(&c, auto_conf);
                if (port)
                        pg_set(&c, "port", port);
                unit = discover_unit_of(pid);
                if (asprintf(&origin, "PostgreSQL (pid %d, %s)", (int) pid, conf) < 0)
                        return -ENOMEM;
                d->software = "postgresql";
                d->unit = unit ?: "postgresql.service";
                d->origin = origin;
                r = pg_add(d, &c, datadir);
        }
        return r;
}

/* Debian's clusters that do not run now (/etc/postgresql/VERSION/CLUSTER/postgresql.conf) serve nothing:
 * a note each, so that the operator knows of them. */
static int scan_postgres_clusters(Discovery *d) {
        glob_t g = {};
        int r = 0;

        if (glob("/etc/postgresql/*/*/postgresql.conf", 0, NULL, &g) != 0)
                return 0;
        for (size_t i = 0; r >= 0 && i < g.gl_pathc; i++) {
                _cleanup_(pg_conf_done) PgConf c = {};
                bool known = false;
                char *note, **nl;

                pg_read_conf(&c, g.gl_pathv[i]);
                for (size_t j = 0; j < d->n_pairs; j++)
                        known = known || (d->pairs[j].postgres && strstr(d->pairs[j].origin, g.gl_pathv[i]));
                if (known || !c.ssl || strcmp(c.ssl, "on") != 0)
                        continue;
                if (asprintf(&note, "PostgreSQL cluster %s (not running) has ssl = on: ssl_cert_file %s, "
                                    "ssl_key_file %s",
                             g.gl_pathv[i], c.cert ?: "server.crt", c.key ?: "server.key") < 0 ||
                    !(nl = reallocarray(d->notes, d->n_notes + 2, sizeof(char *)))) {
                        r = -ENOMEM;
                        break;
                }
                d->notes = nl;
                nl[d->n_notes++] = note;
                nl[d->n_notes] = NULL;
        }
        globfree(&g);
        return r;
}

/* ---- HAProxy and Apache: their configuration files ---- */

static int haproxy_crt(Discovery *d, const char *crt, const char *addr) {
        _cleanup_free_ char *key = NULL;

        /* The key is in the same file, or beside it as FILE.key. */
        if (asprintf(&key, "%s.key", crt) < 0)
                return -ENOMEM;
        return add_pair(d, crt, access(key, F_OK) >= 0 ? key : crt, addr[0] == ':' ? addr + 1 : addr, false);
}

static int scan_haproxy(Discovery *d, const char *path, const char *unit) {
        _cleanup_free_ char *data = NULL, *origin = NULL;
        char *save = NULL;
        size_t size = 0;
        bool front = false;
        int r = 0;

        if (read_full_file(path, CONF_MAX, (uint8_t **) &data, &size) < 0)
                return 0;
        if (asprintf(&origin, "HAProxy (%s)", path) < 0)
                return -ENOMEM;
        d->software = "haproxy";
        d->unit = unit ?: "haproxy.service";
        d->origin = origin;
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
                while ((w = strtok_r(NULL, " \t", &ws)))
                        if (strcmp(w, "crt") == 0 && (w = strtok_r(NULL, " \t", &ws))) {
                                struct stat st;
                                glob_t g = {};
                                _cleanup_free_ char *pattern = NULL;

                                /* crt DIR loads every file in it; crt FILE one. */
                                if (stat(w, &st) < 0 || !S_ISDIR(st.st_mode)) {
                                        r = haproxy_crt(d, w, addr);
                                        continue;
                                }
                                if (asprintf(&pattern, "%s/*", w) < 0)
                                        return -ENOMEM;
                                if (glob(pattern, 0, NULL, &g) == 0)
                                        for (size_t j = 0; r >= 0 && j < g.gl_pathc; j++) {
                                                size_t len = strlen(g.gl_pathv[j]);
                                                if (len < 5 || (strcmp(g.gl_pathv[j] + len - 4, ".key") != 0 &&
                                                                strcmp(g.gl_pathv[j] + len - 5, ".ocsp") != 0))
                                                        r = haproxy_crt(d, g.gl_pathv[j], addr);
                                        }
                                globfree(&g);
                        }
        }
        return r;
}

/* The running HAProxy processes of this namespace: their -f files (the Debian default is read anyway). */
static int scan_haproxy_processes(Discovery *d) {
        _cleanup_(closedirp_) DIR *proc = opendir("/proc");
        int r = 0;

        for (struct dirent *de = proc ? readdir(proc) : NULL; r >= 0 && de; de = readdir(proc)) {
                _cleanup_free_ char *cmd = NULL, *comm = NULL, *unit = NULL;
                char path[64];
                pid_t pid = (pid_t) strtol(de->d_name, NULL, 10);
                size_t size = 0, csize = 0;

                if (pid <= 0 || !same_netns(pid))
                        continue;
                snprintf(path, sizeof(path), "/proc/%d/comm", (int) pid);
                if (read_proc(path, &comm, &csize) < 0 || strcmp(comm, "haproxy\n") != 0)
                        continue;
                snprintf(path, sizeof(path), "/proc/%d/cmdline", (int) pid);
                if (read_proc(path, &cmd, &size) < 0)
                        continue;
                unit = discover_unit_of(pid);
                for (size_t i = 0; r >= 0 && i < size; i += strlen(cmd + i) + 1)
                        if (strcmp(cmd + i, "-f") == 0 && i + 3 < size &&
                            strcmp(cmd + i + 3, "/etc/haproxy/haproxy.cfg") != 0)
                                r = scan_haproxy(d, cmd + i + 3, unit);
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

static bool self_signed(const char *path) {
        _cleanup_free_ uint8_t *der = NULL;
        gnutls_x509_crt_t crt = NULL;
        size_t size = 0;
        unsigned status = 1;
        bool r = false;

        if (discover_read_leaf(path, &der, &size) < 0 || gnutls_x509_crt_init(&crt) < 0)
                return false;
        if (gnutls_x509_crt_import(crt, &(gnutls_datum_t) { .data = der, .size = (unsigned) size },
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
        size_t n = strv_length(*l);
        char **nl = reallocarray(*l, n + 2, sizeof(char *));

        if (!nl)
                return -ENOMEM;
        *l = nl;
        nl[n] = strdup(s);
        nl[n + 1] = NULL;
        return nl[n] ? 0 : -ENOMEM;
}

static int emit_pair(ImportWriter *w, Pair *p, Listener *l, size_t n, char ***names) {
        _cleanup_free_ char *name = NULL, *stem = NULL, *verify = NULL;
        const char *base = strrchr(p->cert, '/') ? strrchr(p->cert, '/') + 1 : p->cert;
        size_t vsize = 0;
        struct stat st;
        FILE *f;
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
        if (import_key(w, "certificate", p->cert) < 0 || (p->key && import_key(w, "key", p->key) < 0)) {
                import_comment(w, "not listed: %s: a path the inventory cannot hold", p->cert);
                return 0;
        }
        if (self_signed(p->cert)) {
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

        f = open_memstream(&verify, &vsize);
        if (!f)
                return -ENOMEM;
        (void) discover_read_leaf(p->cert, &p->leaf, &p->leaf_size);
        for (size_t i = 0; i < p->n_listens; i++)
                for (size_t j = 0; j < n; j++) {
                        Listener *x = &l[j];
                        if (!listen_matches(p->listens[i], x) || (x->kind != LISTENER_TLS && x->kind != LISTENER_POSTGRES))
                                continue;
                        if (!p->leaf || x->leaf_size != p->leaf_size || memcmp(x->leaf, p->leaf, p->leaf_size) != 0) {
                                import_comment(w, "%s:%u serves another certificate without SNI (a name-based "
                                                  "virtual host): verify = tls://NAME:%u works where NAME "
                                                  "resolves to this host",
                                               x->address, x->port, x->port);
                                continue;
                        }
                        x->inode = 0; /* mapped to a file */
                        fprintf(f, "%stls://%s:%u%s", ftell(f) > 0 ? " " : "", x->connect, x->port,
                                x->kind == LISTENER_POSTGRES ? "?starttls=postgres" : "");
                }
        if (fclose(f) != 0)
                return -ENOMEM;
        if (verify && *verify)
                (void) import_key(w, "verify", verify);
        else if (p->n_listens > 0)
                import_comment(w, "no listener of %s served this certificate", p->listens[0]);
        return 0;
}

int discover_run(const ImportOptions *o) {
        _cleanup_(discovery_done) Discovery d = {};
        _cleanup_(import_writer_done) ImportWriter w = {};
        _cleanup_strv_free_ char **names = NULL;
        Listener *l = NULL;
        size_t n = 0, plaintext = 0;
        int r;

        if (o->write && access(o->write, F_OK) >= 0) {
                log_error("%s exists: not replacing it (remove it or write elsewhere)", o->write);
                return 1;
        }
        r = scan_nginx(&d);
        if (r >= 0)
                r = scan_postgres(&d);
        if (r >= 0)
                r = scan_postgres_clusters(&d);
        if (r >= 0)
                r = scan_haproxy(&d, "/etc/haproxy/haproxy.cfg", NULL);
        if (r >= 0)
                r = scan_haproxy_processes(&d);
        if (r >= 0)
                r = scan_apache(&d);
        if (r >= 0)
                r = discover_listeners(&l, &n);
        if (r >= 0)
                r = import_writer_init(&w);
        if (r < 0) {
                log_error_errno(r, "discover failed: %m");
                discover_listeners_free(l, n);
                return 1;
        }
        discover_probe(l, n);

        import_comment(&w, "Written by `certherd discover`: the certificates this host serves, watched only.");
        import_comment(&w, "Set issuer (and names) on a set for certherd to renew it.");
        for (size_t i = 0; r >= 0 && i < d.n_pairs; i++)
                r = emit_pair(&w, &d.pairs[i], l, n, &names);
        import_blank(&w);
        for (size_t i = 0; i < d.n_notes; i++)
                import_comment(&w, "%s", d.notes[i]);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                const Listener *x = &l[i];
                if ((x->kind == LISTENER_TLS || x->kind == LISTENER_POSTGRES) && x->inode != 0)
                        import_comment(&w, "tls://%s:%u%s (%s, pid %d) serves a certificate no configuration file "
                                           "names",
                                       x->connect, x->port, x->kind == LISTENER_POSTGRES ? "?starttls=postgres" : "",
                                       x->comm[0] ? x->comm : "?", (int) x->pid);
                else if (x->kind == LISTENER_PLAINTEXT && !x->loopback) {
                        char who[64] = "owner unknown";
                        if (x->pid > 0)
                                snprintf(who, sizeof(who), "%s, pid %d", x->comm[0] ? x->comm : "?", (int) x->pid);
                        import_comment(&w, "plaintext: %s:%u (%s) speaks no TLS on a non-loopback address", x->address,
                                       x->port, who);
                        fprintf(stderr, "plaintext listener: %s:%u (%s): no TLS on a non-loopback address\n",
                                x->address, x->port, who);
                        plaintext++;
                }
        }
        discover_listeners_free(l, n);
        if (r < 0 || import_writer_output(&w, o) < 0)
                return 1;
        log_info("%zu certificate set%s, %zu plaintext listener%s", d.n_pairs, d.n_pairs == 1 ? "" : "s", plaintext,
                 plaintext == 1 ? "" : "s");
        return 0;
}
