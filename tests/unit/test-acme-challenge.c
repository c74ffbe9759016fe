/* SPDX-License-Identifier: GPL-3.0-or-later */
/* challenge: listen addresses, the dns-01 value, and each backend on loopback: the built-in http-01
 * responder serves exactly the tokens added, webroot files appear and go, the dns hook is called with
 * the right arguments, and the tls-alpn-01 responder completes a handshake only with ALPN acme-tls/1 and
 * a known server name, presenting the RFC 8737 certificate. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "acme-internal.h"
#include "challenge.h"
#include "fd-util.h"
#include "gnutls-util.h"
#include "test-fs.h"

#define TOKEN "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
#define KA TOKEN ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
#define KA_DNS "lCM7cZyQXcVHK2nnW3jjAhNT3Fvm18UN-kWZZknKoYM" /* python3 hashlib */

static unsigned free_port(void) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *) &sa, &len), 0);
        close(fd);
        return ntohs(sa.sin_port);
}

static int connect_to(unsigned port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        return fd;
}

/* The CA's validation request for TOKEN (into req), on a connection with a receive timeout of 3 s, so
 * that a blocked responder fails the test. */
static int connect_validation(unsigned port, char *req, size_t size) {
        struct timeval tv = { .tv_sec = 3 };
        int fd = connect_to(port);

        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
        snprintf(req, size, "GET /.well-known/acme-challenge/%s HTTP/1.1\r\nHost: x.test\r\n\r\n", TOKEN);
        return fd;
}

static void test_parse_listen(void **state) {
        struct sockaddr_storage sa;
        unsigned len;

        assert_int_equal(challenge_parse_listen("[::]:80", &sa, &len), 0);
        assert_int_equal(sa.ss_family, AF_INET6);
        assert_int_equal(ntohs(((struct sockaddr_in6 *) &sa)->sin6_port), 80);
        assert_int_equal(challenge_parse_listen("127.0.0.1:5002", &sa, &len), 0);
        assert_int_equal(sa.ss_family, AF_INET);
        assert_int_equal(ntohs(((struct sockaddr_in *) &sa)->sin_port), 5002);
        assert_int_equal(challenge_parse_listen("[::1]:443", &sa, &len), 0);
        assert_int_equal(challenge_parse_listen(":80", &sa, &len), 0);
        assert_int_equal(sa.ss_family, AF_INET6);
        assert_int_equal(challenge_parse_listen("*:80", &sa, &len), 0);
        assert_int_equal(challenge_parse_listen("80", &sa, &len), 0);
        FOREACH_STRING(bad, "80x", "host.example:80", "127.0.0.1:0", "127.0.0.1:65536", "[::1:80", "")
                assert_int_equal(challenge_parse_listen(bad, &sa, &len), -EINVAL);
}

static void test_dns_value(void **state) {
        _cleanup_free_ char *v = NULL;

        assert_int_equal(challenge_dns_value(KA, &v), 0);
        assert_string_equal(v, KA_DNS);
}

/* Sends req on fd and reads the whole response into buf (NUL-terminated); closes fd. */
static void exchange(int fd, const char *req, char *buf, size_t size) {
        size_t n = 0;
        ssize_t k;

        assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t) strlen(req));
        while ((k = recv(fd, buf + n, size - 1 - n, 0)) > 0)
                n += (size_t) k;
        buf[n] = 0;
        close(fd);
}

/* GET path on port; the whole response in *ret. */
static void http_get(unsigned port, const char *path, char **ret) {
        char req[512], buf[4096];

        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x.test\r\nAccept: */*\r\n\r\n", path);
        exchange(connect_to(port), req, buf, sizeof(buf));
        *ret = strdup(buf);
}

static void test_http_responder(void **state) {
        char listen[32];
        unsigned port = free_port();
        AcmeConfig cfg = { .name = (char *) "t", .challenge = CHALLENGE_HTTP_01, .listen = listen };
        _cleanup_challenger_ Challenger *c = NULL;
        char *resp;

        snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
        assert_int_equal(challenge_new(&cfg, &c), 0);
        assert_int_equal(challenge_type(c), CHALLENGE_HTTP_01);
        assert_int_equal(challenge_add(c, "x.test", TOKEN, KA), 0);
        assert_int_equal(challenge_add(c, "y.test", "other", "other.thumb"), 0);

        http_get(port, "/.well-known/acme-challenge/" TOKEN, &resp);
        assert_non_null(strstr(resp, "HTTP/1.1 200 OK\r\n"));
        assert_non_null(strstr(resp, "\r\n\r\n" KA));
        assert_non_null(strstr(resp, "Content-Length: 87\r\n"));
        free(resp);
        http_get(port, "/.well-known/acme-challenge/nope", &resp);
        assert_non_null(strstr(resp, "HTTP/1.1 404 Not Found\r\n"));
        free(resp);
        http_get(port, "/.well-known/acme-challenge/" TOKEN "x", &resp);
        assert_non_null(strstr(resp, "404"));
        free(resp);
        http_get(port, "/index.html", &resp);
        assert_non_null(strstr(resp, "404"));
        free(resp);

        challenge_remove(c, "x.test", TOKEN, KA);
        http_get(port, "/.well-known/acme-challenge/" TOKEN, &resp);
        assert_non_null(strstr(resp, "404"));
        free(resp);
        http_get(port, "/.well-known/acme-challenge/other", &resp);
        assert_non_null(strstr(resp, "200 OK"));
        free(resp);

        /* clients that say nothing do not hold up the next one */
        {
                int idle[3] = { connect_to(port), connect_to(port), connect_to(port) };
                struct timespec a, b;

                clock_gettime(CLOCK_MONOTONIC, &a);
                http_get(port, "/.well-known/acme-challenge/other", &resp);
                clock_gettime(CLOCK_MONOTONIC, &b);
                assert_non_null(strstr(resp, "200 OK"));
                assert_true((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < 1000);
                free(resp);
                for (size_t i = 0; i < 3; i++)
                        close(idle[i]);
        }
}

static long ms_since(const struct timespec *a) {
        struct timespec b;

        clock_gettime(CLOCK_MONOTONIC, &b);
        return (b.tv_sec - a->tv_sec) * 1000 + (b.tv_nsec - a->tv_nsec) / 1000000;
}

#define SLOW_CLIENTS 80

typedef struct Dribble {
        int fds[SLOW_CLIENTS];
        atomic_bool stop;
} Dribble;

/* Slow loris: each client sends one byte of a request head that never ends, every 200 ms. */
static void *dribble_main(void *userdata) {
        Dribble *d = userdata;

        while (!atomic_load(&d->stop)) {
                for (size_t i = 0; i < SLOW_CLIENTS; i++)
                        if (d->fds[i] >= 0 && send(d->fds[i], "X", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
                            errno != EAGAIN) {
                                close(d->fds[i]);
                                d->fds[i] = -1;
                        }
                usleep(200 * 1000);
        }
        return NULL;
}

/* 80 slow clients dribbling a request head that never ends must not keep the CA's request out. */
static void test_http_slow_flood(void **state) {
        char listen[32], req[256], buf[4096];
        unsigned port = free_port();
        AcmeConfig cfg = { .name = (char *) "t", .challenge = CHALLENGE_HTTP_01, .listen = listen };
        _cleanup_challenger_ Challenger *c = NULL;
        Dribble d = {};
        struct timespec t0;
        pthread_t th;
        int fd;

        snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
        assert_int_equal(challenge_new(&cfg, &c), 0);
        assert_int_equal(challenge_add(c, "x.test", TOKEN, KA), 0);
        for (size_t i = 0; i < SLOW_CLIENTS; i++) {
                d.fds[i] = connect_to(port);
                assert_int_equal(send(d.fds[i], "GET /.well-known/", 17, MSG_NOSIGNAL), 17);
        }
        assert_int_equal(pthread_create(&th, NULL, dribble_main, &d), 0);
        usleep(500 * 1000);

        clock_gettime(CLOCK_MONOTONIC, &t0);
        fd = connect_validation(port, req, sizeof(req));
        exchange(fd, req, buf, sizeof(buf));
        assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
        assert_true(ms_since(&t0) < 2000);

        atomic_store(&d.stop, true);
        pthread_join(th, NULL);
        for (size_t i = 0; i < SLOW_CLIENTS; i++)
                if (d.fds[i] >= 0)
                        close(d.fds[i]);
}

/* A client that keeps dribbling is cut off at the connection's total deadline, however often it sends. */
static void test_http_deadline(void **state) {
        char listen[32], b;
        unsigned port = free_port();
        AcmeConfig cfg = { .name = (char *) "t", .challenge = CHALLENGE_HTTP_01, .listen = listen };
        _cleanup_challenger_ Challenger *c = NULL;
        struct timespec t0;
        bool closed = false;
        int fd;

        snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
        assert_int_equal(challenge_new(&cfg, &c), 0);
        assert_int_equal(challenge_add(c, "x.test", TOKEN, KA), 0);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        fd = connect_to(port);
        while (ms_since(&t0) < (long) (RESPONDER_DEADLINE / 1000) + 3000) {
                if (send(fd, "X", 1, MSG_NOSIGNAL) < 0 || recv(fd, &b, 1, MSG_DONTWAIT) == 0) {
                        closed = true;
                        break;
                }
                usleep(200 * 1000);
        }
        close(fd);
        assert_true(closed);
        assert_true(ms_since(&t0) >= (long) (RESPONDER_DEADLINE / 1000) - 500);

        /* and a request head longer than the limit is not read on and on */
        fd = connect_to(port);
        {
                static char big[CHALLENGE_HTTP_REQUEST_MAX + 512];

                memset(big, 'a', sizeof(big));
                (void) send(fd, big, sizeof(big), MSG_NOSIGNAL);
                clock_gettime(CLOCK_MONOTONIC, &t0);
                while (recv(fd, big, sizeof(big), 0) > 0)
                        ;
                assert_true(ms_since(&t0) < 2000);
        }
        close(fd);
}

static void test_http_busy_port(void **state) {
        char addr[32];
        unsigned port = free_port();
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        AcmeConfig cfg = { .name = (char *) "t", .challenge = CHALLENGE_HTTP_01, .listen = addr };
        _cleanup_challenger_ Challenger *c = NULL;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_int_equal(listen(fd, 1), 0);
        snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
        assert_int_equal(challenge_new(&cfg, &c), 0);
        assert_int_equal(challenge_add(c, "x.test", TOKEN, KA), -EADDRINUSE);
        assert_int_equal(challenge_add(c, "x.test", TOKEN, KA), -EADDRINUSE); /* remembered, not retried */
        close(fd);
}

static void test_webroot(void **state) {
        char dir[] = "/tmp/certherd-webroot.XXXXXX", path[256];
        AcmeConfig cfg = { .name = (char *) "t", .challenge = CHALLENGE_HTTP_01, .webroot = dir };
        _cleanup_challenger_ Challenger *c = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        struct stat st;
        size_t size;

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/.well-known/acme-challenge/%s", dir, TOKEN);
        assert_int_equal(challenge_new(&cfg, &c), 0);
        assert_int_equal(challenge_add(c, "x.test", TOKEN, KA), 0);
        assert_int_equal(read_full_file(path, 4096, &data, &size), 0);
        assert_int_equal(size, strlen(KA));
        assert_memory_equal(data, KA, size);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
        challenge_remove(c, "x.test", TOKEN, KA);
        assert_int_equal(stat(path, &st), -1);
        snprintf(path, sizeof(path), "%s/.well-known/acme-challenge", dir);
        assert_int_equal(rmdir(path), 0);
        snprintf(path, sizeof(path), "%s/.well-known", dir);
        assert_int_equal(rmdir(path), 0);
        assert_int_equal(rmdir(dir), 0);
}

static void test_dns_hook(void **state) {
        char dir[] = "/tmp/certherd-hook.XXXXXX", hook[256], log[256], script[1024];
        AcmeConfig cfg = { .name = (char *) "t", .challenge = CHALLENGE_DNS_01, .dns_hook = hook };
        _cleanup_challenger_ Challenger *c = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        FILE *f;
        size_t size;

        assert_non_null(mkdtemp(dir));
        snprintf(hook, sizeof(hook), "%s/hook", dir);
        snprintf(log, sizeof(log), "%s/log", dir);
        snprintf(script, sizeof(script), "#!/bin/sh\necho \"$@\" >>%s\n[ \"$2\" != fail.test ]\n", log);
        f = fopen(hook, "we");
        assert_non_null(f);
        fputs(script, f);
        fclose(f);
        assert_int_equal(chmod(hook, 0755), 0);

        assert_int_equal(challenge_new(&cfg, &c), 0);
        assert_int_equal(challenge_add(c, "example.org", TOKEN, KA), 0);
        challenge_remove(c, "example.org", TOKEN, KA);
        assert_int_equal(challenge_add(c, "fail.test", TOKEN, KA), -EPROTO);
        assert_int_equal(read_full_file(log, 4096, &data, &size), 0);
        assert_string_equal((char *) data, "add example.org " KA_DNS "\nremove example.org " KA_DNS "\nadd fail.test " KA_DNS "\n");
        unlink(hook);
        unlink(log);
        rmdir(dir);

        cfg.dns_hook = (char *) "/nonexistent/hook";
        c = challenge_free(c);
        assert_int_equal(challenge_new(&cfg, &c), 0);
        assert_int_equal(challenge_add(c, "example.org", TOKEN, KA), -ENOENT);
}

/* A TLS handshake as a validation server makes it: SNI, ALPN. Returns the handshake result; on success
 * the peer certificate in *ret. */
static int alpn_handshake(unsigned port, const char *sni, const char *alpn, gnutls_x509_crt_t *ret) {
        gnutls_certificate_credentials_t cred;
        gnutls_session_t s;
        gnutls_datum_t proto = { .data = (unsigned char *) alpn, .size = (unsigned) strlen(alpn) };
        int fd = connect_to(port), r;

        assert_int_equal(gnutls_certificate_allocate_credentials(&cred), 0);
        /* The responder may hang up first: a write then fails with EPIPE instead of killing the test. */
        assert_int_equal(gnutls_init(&s, GNUTLS_CLIENT | GNUTLS_NO_SIGNAL), 0);
        assert_int_equal(gnutls_set_default_priority(s), 0);
        assert_int_equal(gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred), 0);
        assert_int_equal(gnutls_server_name_set(s, GNUTLS_NAME_DNS, sni, strlen(sni)), 0);
        assert_int_equal(gnutls_alpn_set_protocols(s, &proto, 1, 0), 0);
        gnutls_transport_set_int(s, fd);
        gnutls_handshake_set_timeout(s, 5000);
        do
                r = gnutls_handshake(s);
        while (r < 0 && !gnutls_error_is_fatal(r));
        if (r >= 0) {
                unsigned n = 0;
                const gnutls_datum_t *chain = gnutls_certificate_get_peers(s, &n);
                gnutls_datum_t sel = {};

                assert_int_equal(n, 1);
                assert_int_equal(gnutls_alpn_get_selected_protocol(s, &sel), 0);
                assert_int_equal(sel.size, 10);
                assert_memory_equal(sel.data, "acme-tls/1", 10);
                assert_int_equal(gnutls_x509_crt_init(ret), 0);
                assert_int_equal(gnutls_x509_crt_import(*ret, &chain[0], GNUTLS_X509_FMT_DER), 0);
                gnutls_bye(s, GNUTLS_SHUT_WR);
        }
        gnutls_deinit(s);
        gnutls_certificate_free_credentials(cred);
        close(fd);
        return r;
}

static void test_alpn_responder(void **state) {
        char listen[32], san[256];
        unsigned port = free_port(), critical = 0, type;
        AcmeConfig cfg = { .name = (char *) "t", .challenge = CHALLENGE_TLS_ALPN_01, .listen = listen };
        _cleanup_challenger_ Challenger *c = NULL;
        _cleanup_x509_crt_ gnutls_x509_crt_t crt = NULL;
        uint8_t ext[64], want[34] = { 0x04, 0x20 };
        size_t ext_size = sizeof(ext), san_size = sizeof(san);

        snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
        assert_int_equal(challenge_new(&cfg, &c), 0);
        assert_int_equal(challenge_add(c, "alpn.test", TOKEN, KA), 0);

        assert_int_equal(alpn_handshake(port, "alpn.test", "acme-tls/1", &crt), 0);
        assert_int_equal(gnutls_x509_crt_get_subject_alt_name(crt, 0, san, &san_size, &critical), GNUTLS_SAN_DNSNAME);
        assert_string_equal(san, "alpn.test");
        type = 0;
        assert_int_equal(gnutls_x509_crt_get_extension_by_oid(crt, "1.3.6.1.5.5.7.1.31", 0, ext, &ext_size, &type), 0);
        assert_int_equal(type, 1); /* critical */
        assert_int_equal(gnutls_hash_fast(GNUTLS_DIG_SHA256, KA, strlen(KA), want + 2), 0);
        assert_int_equal(ext_size, sizeof(want));
        assert_memory_equal(ext, want, sizeof(want));

        /* another protocol, another name, or the name withdrawn: no handshake */
        assert_true(alpn_handshake(port, "alpn.test", "h2", NULL) < 0);
        assert_true(alpn_handshake(port, "other.test", "acme-tls/1", NULL) < 0);
        challenge_remove(c, "alpn.test", TOKEN, KA);
        assert_true(alpn_handshake(port, "alpn.test", "acme-tls/1", NULL) < 0);
}

#define IDLE_CLIENTS 1000

typedef struct Arrivals {
        unsigned port;
        atomic_bool stop;
        atomic_uint made;
} Arrivals;

/* More keep arriving: a new connection every millisecond or so, each left open for a while. */
static void *arrivals_main(void *userdata) {
        Arrivals *a = userdata;
        int fds[200];
        size_t n = 0;

        while (!atomic_load(&a->stop)) {
                int fd = connect_to(a->port);

                if (fd >= 0) {
                        if (n == ELEMENTSOF(fds)) {
                                close(fds[0]);
                                memmove(fds, fds + 1, sizeof(fds) - sizeof(fds[0]));
                                n--;
                        }
                        fds[n++] = fd;
                        atomic_fetch_add(&a->made, 1);
                }
                usleep(1000);
        }
        while (n > 0)
                close(fds[--n]);
        return NULL;
}

/* A validation request whose bytes arrive in three pieces, answered while IDLE_CLIENTS connections that
 * send nothing are held open and more keep arriving; then a tls-alpn-01 handshake under the same load.
 * No fixed number of connections may keep the CA out. */
static void test_idle_flood(void **state) {
        struct rlimit rl;
        char listen[32], req[256], buf[4096];
        unsigned port = free_port(), alpn_port = free_port();
        AcmeConfig cfg = { .name = (char *) "t", .challenge = CHALLENGE_HTTP_01, .listen = listen };
        char alpn_listen[32];
        AcmeConfig acfg = { .name = (char *) "a", .challenge = CHALLENGE_TLS_ALPN_01, .listen = alpn_listen };
        _cleanup_challenger_ Challenger *c = NULL, *ac = NULL;
        _cleanup_x509_crt_ gnutls_x509_crt_t crt = NULL;
        static int idle[2 * IDLE_CLIENTS];
        Arrivals arr = {}, aarr = {};
        pthread_t th, ath;
        struct timespec t0;
        size_t n = 0, len;
        ssize_t k;
        int fd;

        assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
        if (rl.rlim_cur < 3 * IDLE_CLIENTS) {
                rl.rlim_cur = rl.rlim_max < 3 * IDLE_CLIENTS ? rl.rlim_max : 3 * IDLE_CLIENTS;
                assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
        }
        snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
        snprintf(alpn_listen, sizeof(alpn_listen), "127.0.0.1:%u", alpn_port);
        assert_int_equal(challenge_new(&cfg, &c), 0);
        assert_int_equal(challenge_add(c, "x.test", TOKEN, KA), 0);
        assert_int_equal(challenge_new(&acfg, &ac), 0);
        assert_int_equal(challenge_add(ac, "alpn.test", TOKEN, KA), 0);
        for (size_t i = 0; i < IDLE_CLIENTS; i++) {
                idle[i] = connect_to(port);
                idle[IDLE_CLIENTS + i] = connect_to(alpn_port);
                assert_true(idle[i] >= 0 && idle[IDLE_CLIENTS + i] >= 0);
        }
        arr.port = port;
        aarr.port = alpn_port;
        assert_int_equal(pthread_create(&th, NULL, arrivals_main, &arr), 0);
        assert_int_equal(pthread_create(&ath, NULL, arrivals_main, &aarr), 0);
        usleep(300 * 1000);

        clock_gettime(CLOCK_MONOTONIC, &t0);
        fd = connect_validation(port, req, sizeof(req));
        len = strlen(req);
        assert_int_equal(send(fd, req, 10, MSG_NOSIGNAL), 10);
        usleep(100 * 1000);
        assert_int_equal(send(fd, req + 10, 30, MSG_NOSIGNAL), 30);
        usleep(100 * 1000);
        assert_int_equal(send(fd, req + 40, len - 40, MSG_NOSIGNAL), (ssize_t) (len - 40));
        while ((k = recv(fd, buf + n, sizeof(buf) - 1 - n, 0)) > 0)
                n += (size_t) k;
        buf[n] = 0;
        close(fd);
        assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
        assert_non_null(strstr(buf, KA));
        assert_true(ms_since(&t0) < 2000);

        assert_int_equal(alpn_handshake(alpn_port, "alpn.test", "acme-tls/1", &crt), 0);

        atomic_store(&arr.stop, true);
        atomic_store(&aarr.stop, true);
        pthread_join(th, NULL);
        pthread_join(ath, NULL);
        assert_true(atomic_load(&arr.made) > 50 && atomic_load(&aarr.made) > 50);
        for (size_t i = 0; i < 2 * IDLE_CLIENTS; i++)
                close(idle[i]);
}

/* RFC 8738 §6: the SNI a CA sends to validate an IP address over tls-alpn-01. */
static void test_alpn_reverse_name(void **state) {
        static const char *const ips[][2] = {
                { "127.0.0.1", "1.0.0.127.in-addr.arpa" },
                { "192.0.2.10", "10.2.0.192.in-addr.arpa" },
                /* RFC 8738 §6's own example */
                { "2001:db8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa" },
        };
        char *n = NULL;

        for (size_t i = 0; i < ELEMENTSOF(ips); i++) {
                assert_int_equal(challenge_alpn_reverse_name(ips[i][0], &n), 0);
                assert_string_equal(n, ips[i][1]);
                free(n);
        }
        assert_int_equal(challenge_alpn_reverse_name("www.example.org", &n), 0);
        assert_null(n);
}

/* Whatever reaches a backend is a DNS name or IP address (no newline for nsupdate). */
static void test_identifier_refused(void **state) {
        char hook[] = "/tmp/certherd-test-hook-XXXXXX", log[64];
        AcmeConfig cfg = { .name = (char *) "t", .challenge = CHALLENGE_DNS_01, .dns_hook = hook };
        _cleanup_challenger_ Challenger *c = NULL;
        struct stat st;
        int fd = mkstemp(hook);
        FILE *f;

        assert_true(fd >= 0);
        snprintf(log, sizeof(log), "%s.log", hook);
        f = fdopen(fd, "w");
        fprintf(f, "#!/bin/sh\necho \"$@\" >>%s\n", log);
        fclose(f);
        assert_int_equal(chmod(hook, 0700), 0);
        assert_int_equal(challenge_new(&cfg, &c), 0);
        assert_int_equal(challenge_add(c, "x.test\nupdate add evil.test 60 A 1.2.3.4", TOKEN, KA), -EINVAL);
        assert_int_equal(challenge_add(c, "x.test evil", TOKEN, KA), -EINVAL);
        assert_int_equal(challenge_add(c, "../x", TOKEN, KA), -EINVAL);
        assert_int_equal(challenge_add(c, "*.x.test", TOKEN, KA), -EINVAL);
        assert_int_equal(challenge_add(c, "", TOKEN, KA), -EINVAL);
        assert_int_equal(stat(log, &st), -1); /* the hook never ran */
        assert_int_equal(challenge_add(c, "x.test", TOKEN, KA), 0);
        assert_int_equal(stat(log, &st), 0);
        unlink(log);
        unlink(hook);
}

TEST_MAIN(cmocka_unit_test(test_parse_listen),  cmocka_unit_test(test_dns_value),
          cmocka_unit_test(test_http_responder), cmocka_unit_test(test_http_busy_port),
          cmocka_unit_test(test_webroot),       cmocka_unit_test(test_dns_hook),
          cmocka_unit_test(test_alpn_responder), cmocka_unit_test(test_http_slow_flood),
          cmocka_unit_test(test_http_deadline),  cmocka_unit_test(test_identifier_refused),
          cmocka_unit_test(test_idle_flood),
          cmocka_unit_test(test_alpn_reverse_name))
