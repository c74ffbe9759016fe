/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The listener half of `certherd discover`: which TCP ports this network namespace listens on, which process
 * owns each (by socket inode under /proc/PID/fd), and whether it speaks TLS — directly, or after
 * PostgreSQL's SSLRequest — and with which certificate. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "adopt-internal.h"
#include "fd-util.h"
#include "gnutls-util.h"
#include "macro.h"
#include "x509.h"

#define PROBE_TIMEOUT_MS 2000

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}
#define MAX_LISTENERS 256

static int parse_proc_net(const char *path, bool v6, Listener **l, size_t *n) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        char line[512];

        if (!f)
                return errno == ENOENT ? 0 : -errno;
        if (!fgets(line, sizeof(line), f)) /* the header */
                return 0;
        while (fgets(line, sizeof(line), f) && *n < MAX_LISTENERS) {
                char local[64], remote[64], *colon;
                unsigned state, port;
                unsigned long inode;
                uint8_t raw[16];
                char text[INET6_ADDRSTRLEN];
                Listener *nl, x = {};

                if (sscanf(line, " %*u: %63s %63s %x %*s %*s %*s %*u %*u %lu", local, remote, &state,
                           &inode) != 4 ||
                    state != 0x0A)
                        continue;
                colon = strchr(local, ':');
                if (!colon || sscanf(colon + 1, "%x", &port) != 1 ||
                    (size_t) (colon - local) != (v6 ? 32 : 8))
                        continue;
                /* The kernel prints the address as 32-bit words in host order. */
                for (size_t w = 0; w < (v6 ? 4u : 1u); w++) {
                        unsigned v;
                        char word[9];
                        memcpy(word, local + w * 8, 8);
                        word[8] = 0;
                        if (sscanf(word, "%x", &v) != 1)
                                break;
                        memcpy(raw + w * 4, &v, 4);
                }
                if (!inet_ntop(v6 ? AF_INET6 : AF_INET, raw, text, sizeof(text)))
                        continue;
                x.port = (uint16_t) port;
                x.inode = inode;
                if (v6) {
                        static const uint8_t any[16] = {}, lo[16] = { [15] = 1 };
                        x.wildcard = memcmp(raw, any, 16) == 0;
                        x.loopback = memcmp(raw, lo, 16) == 0;
                        snprintf(x.address, sizeof(x.address), "[%s]", text);
                        snprintf(x.connect, sizeof(x.connect), "%s", x.wildcard ? "[::1]" : x.address);
                } else {
                        x.wildcard = raw[0] == 0 && raw[1] == 0 && raw[2] == 0 && raw[3] == 0;
                        x.loopback = raw[0] == 127;
                        snprintf(x.address, sizeof(x.address), "%s", text);
                        snprintf(x.connect, sizeof(x.connect), "%s", x.wildcard ? "127.0.0.1" : text);
                }
                for (size_t i = 0; i < *n; i++)
                        if ((*l)[i].port == x.port && strcmp((*l)[i].address, x.address) == 0)
                                goto next;
                nl = reallocarray(*l, *n + 1, sizeof(Listener));
                if (!nl)
                        return -ENOMEM;
                *l = nl;
                nl[(*n)++] = x;
        next:;
        }
        return 0;
}

/* The process owning each socket: the first /proc/PID/fd entry that is "socket:[INODE]". */
static void find_owners(Listener *l, size_t n) {
        _cleanup_(closedirp) DIR *proc = opendir("/proc");

        for (struct dirent *de = proc ? readdir(proc) : NULL; de; de = readdir(proc)) {
                _cleanup_(closedirp) DIR *fds = NULL;
                char path[64];
                pid_t pid = (pid_t) strtol(de->d_name, NULL, 10);

                if (pid <= 0)
                        continue;
                snprintf(path, sizeof(path), "/proc/%d/fd", (int) pid);
                fds = opendir(path);
                for (struct dirent *fe = fds ? readdir(fds) : NULL; fe; fe = readdir(fds)) {
                        char link[300], target[64];
                        unsigned long inode;
                        ssize_t k;

                        snprintf(link, sizeof(link), "/proc/%d/fd/%s", (int) pid, fe->d_name);
                        k = readlink(link, target, sizeof(target) - 1);
                        if (k <= 0)
                                continue;
                        target[k] = 0;
                        if (sscanf(target, "socket:[%lu]", &inode) != 1)
                                continue;
                        for (size_t i = 0; i < n; i++)
                                if (l[i].inode == inode && l[i].pid == 0) {
                                        _cleanup_fclose_ FILE *f = NULL;
                                        l[i].pid = pid;
                                        snprintf(path, sizeof(path), "/proc/%d/comm", (int) pid);
                                        f = fopen(path, "re");
                                        if (f && fgets(l[i].comm, sizeof(l[i].comm), f))
                                                l[i].comm[strcspn(l[i].comm, "\n")] = 0;
                                        /* Any user names their process: no escape sequence of theirs
                                         * reaches root's terminal. */
                                        for (char *c = l[i].comm; *c; c++)
                                                if ((unsigned char) *c < ' ' || *c == 0x7f)
                                                        *c = '?';
                                }
                }
        }
}

int discover_listeners(Listener **ret, size_t *ret_n) {
        Listener *l = NULL;
        size_t n = 0;
        int r;

        r = parse_proc_net("/proc/net/tcp", false, &l, &n);
        if (r >= 0)
                r = parse_proc_net("/proc/net/tcp6", true, &l, &n);
        if (r < 0) {
                free(l);
                return r;
        }
        find_owners(l, n);
        *ret = l;
        *ret_n = n;
        return 0;
}

void discover_listeners_free(Listener *l, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(l[i].leaf);
        free(l);
}

static int connect_to(const Listener *x) {
        struct sockaddr_storage sa = {};
        socklen_t len;
        struct timeval tv = { .tv_sec = PROBE_TIMEOUT_MS / 1000 };
        struct pollfd p;
        char host[64];
        int fd, err = 0;
        socklen_t errlen = sizeof(err);

        snprintf(host, sizeof(host), "%s", x->connect[0] == '[' ? x->connect + 1 : x->connect);
        host[strcspn(host, "]")] = 0;
        if (inet_pton(AF_INET, host, &((struct sockaddr_in *) &sa)->sin_addr) == 1) {
                ((struct sockaddr_in *) &sa)->sin_family = AF_INET;
                ((struct sockaddr_in *) &sa)->sin_port = htons(x->port);
                len = sizeof(struct sockaddr_in);
        } else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *) &sa)->sin6_addr) == 1) {
                ((struct sockaddr_in6 *) &sa)->sin6_family = AF_INET6;
                ((struct sockaddr_in6 *) &sa)->sin6_port = htons(x->port);
                len = sizeof(struct sockaddr_in6);
        } else
                return -EINVAL;
        fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, len) < 0 && errno != EINPROGRESS) {
                close(fd);
                return -ECONNREFUSED;
        }
        p = (struct pollfd){ .fd = fd, .events = POLLOUT };
        if (poll(&p, 1, PROBE_TIMEOUT_MS) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0 ||
            err) {
                close(fd);
                return -ETIMEDOUT;
        }
        (void) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        return fd;
}

/* A TLS handshake on fd; the served leaf's DER. Nothing is verified: discover only wants to see it. */
static int handshake(int fd, uint8_t **ret, size_t *ret_size) {
        gnutls_certificate_credentials_t cred = NULL;
        gnutls_session_t s = NULL;
        const gnutls_datum_t *certs;
        unsigned n = 0;
        int r = -EPROTO;

        if (gnutls_certificate_allocate_credentials(&cred) < 0 ||
            gnutls_init(&s, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL) < 0 || gnutls_set_default_priority(s) < 0 ||
            gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred) < 0)
                goto out;
        gnutls_transport_set_int(s, fd);
        gnutls_handshake_set_timeout(s, PROBE_TIMEOUT_MS);
        do
                r = gnutls_handshake(s);
        while (r < 0 && gnutls_error_is_fatal(r) == 0);
        if (r < 0) {
                r = -EPROTO;
                goto out;
        }
        certs = gnutls_certificate_get_peers(s, &n);
        if (!certs || n == 0) {
                r = -ENODATA;
                goto out;
        }
        *ret = malloc(certs[0].size);
        if (!*ret) {
                r = -ENOMEM;
                goto out;
        }
        memcpy(*ret, certs[0].data, certs[0].size);
        *ret_size = certs[0].size;
        r = 0;
        (void) gnutls_bye(s, GNUTLS_SHUT_WR);
out:
        if (s)
                gnutls_deinit(s);
        if (cred)
                gnutls_certificate_free_credentials(cred);
        return r;
}

static void probe_one(Listener *x) {
        static const uint8_t ssl_request[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };
        uint8_t answer = 0;
        int fd;

        x->kind = LISTENER_PLAINTEXT;
        fd = connect_to(x);
        if (fd < 0) {
                x->kind = LISTENER_UNKNOWN;
                return;
        }
        if (handshake(fd, &x->leaf, &x->leaf_size) >= 0)
                x->kind = LISTENER_TLS;
        close(fd);
        if (x->kind == LISTENER_TLS)
                return;
        fd = connect_to(x);
        if (fd < 0)
                return;
        /* A listener that closes at once gets EPIPE, not a SIGPIPE that would end discover. */
        if (send(fd, ssl_request, sizeof(ssl_request), MSG_NOSIGNAL) == sizeof(ssl_request) &&
            read(fd, &answer, 1) == 1 && answer == 'S' && handshake(fd, &x->leaf, &x->leaf_size) >= 0)
                x->kind = LISTENER_POSTGRES;
        close(fd);
}

void discover_probe(Listener *l, size_t n) {
        for (size_t i = 0; i < n; i++)
                probe_one(&l[i]);
}

int discover_leaf_of(const uint8_t *data, size_t size, uint8_t **ret, size_t *ret_size) {
        gnutls_x509_crt_t *crts = NULL;
        unsigned n = 0;
        gnutls_datum_t der = {};
        int r;

        r = x509_load_crts(data, size, &crts, &n);
        if (r < 0)
                return r;
        if (n == 0 || gnutls_x509_crt_export2(crts[0], GNUTLS_X509_FMT_DER, &der) < 0)
                r = -EBADMSG;
        x509_crts_free(crts, n);
        if (r < 0)
                return r;
        *ret = malloc(der.size);
        if (*ret) {
                memcpy(*ret, der.data, der.size);
                *ret_size = der.size;
        }
        gnutls_free(der.data);
        return *ret ? 0 : -ENOMEM;
}
