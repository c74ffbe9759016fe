/* SPDX-License-Identifier: GPL-3.0-or-later */
/* notify: endpoint parsing, and notify_verify() against real TLS servers on loopback: gnutls-serv with the
 * fixture certificates (match, mismatch, a server swapped while we retry, connection refused), and
 * tests/unit/notify-fake-server.py for PostgreSQL's SSLRequest ('S' then TLS, 'N') and SNI. systemd units
 * over D-Bus are tested against a real systemd in tests/integration/30-dbus-notify. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "fd-util.h"
#include "gnutls-util.h"
#include "macro.h"
#include "notify-bus.h"
#include "notify-verify.h"
#include "test-fs.h"
#include "notify.h"
#include "x509.h"

#define MS (USEC_PER_SEC / 1000)

/* Test-wide: the fixture pairs A (ok, EC) and B (rsa-pkcs8), their leaves in DER, the fake server's path. */
static char dir[PATH_MAX];
static gnutls_datum_t der_a, der_b;
static char *fake_server;

extern char **environ;

static char *path_of(const char *name) {
        return path_in(dir, name);
}

static int free_port(void) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(a);
        _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        assert_int_equal(bind(fd, (struct sockaddr *) &a, sizeof(a)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *) &a, &len), 0);
        return ntohs(a.sin_port);
}

static bool listening(int port) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        return fd >= 0 && connect(fd, (struct sockaddr *) &a, sizeof(a)) == 0;
}

/* Start argv with its output discarded; wait until it accepts connections on `port`. */
static pid_t start_server(char *const argv[], int port) {
        posix_spawn_file_actions_t fa;
        pid_t pid;

        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
        assert_int_equal(posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ), 0);
        posix_spawn_file_actions_destroy(&fa);
        for (int i = 0; i < 200 && !listening(port); i++)
                usleep(25000);
        assert_true(listening(port));
        return pid;
}

static void stop_server(pid_t pid) {
        if (pid <= 0)
                return;
        kill(pid, SIGTERM);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
}

static pid_t gnutls_serv(int port, const char *crt, const char *key) {
        char p[16];

        snprintf(p, sizeof(p), "%d", port);
        return start_server((char *const[]) { (char *) "gnutls-serv", (char *) "-q", (char *) "-p", p,
                                              (char *) "--x509certfile", path_of(crt), (char *) "--x509keyfile",
                                              path_of(key), NULL },
                            port);
}

static pid_t fake(int port, const char *mode) {
        char p[16];

        snprintf(p, sizeof(p), "%d", port);
        return start_server((char *const[]) { (char *) "python3", fake_server, p, (char *) mode, path_of("a.crt"),
                                              path_of("a.key"), path_of("b.crt"), path_of("b.key"), NULL },
                            port);
}

/* notify_verify("tls://HOST:PORT" + query) */
static int verify_at(const char *host, int port, const char *query, const gnutls_datum_t *want, usec_t timeout) {
        char endpoint[128];

        snprintf(endpoint, sizeof(endpoint), "tls://%s:%d%s", host, port, query);
        return notify_verify(endpoint, want->data, want->size, "test", timeout, NULL);
}

static void test_endpoint_parse(void **state) {
        static const struct {
                const char *s, *host, *port;
                bool ip;
                NotifyStarttls starttls;
        } t[] = {
                { "tls://127.0.0.1:443", "127.0.0.1", "443", true, NOTIFY_STARTTLS_NONE },
                { "tls://localhost:5432?starttls=postgres", "localhost", "5432", false, NOTIFY_STARTTLS_POSTGRES },
                { "tls://[::1]:8443", "::1", "8443", true, NOTIFY_STARTTLS_NONE },
                { "tls://[2001:db8::1]:1?starttls=postgres", "2001:db8::1", "1", true, NOTIFY_STARTTLS_POSTGRES },
                { "tls://db-1.example.test:65535", "db-1.example.test", "65535", false, NOTIFY_STARTTLS_NONE },
                { "tls://h:0443", "h", "443", false, NOTIFY_STARTTLS_NONE },
        };
        static const char *const bad[] = {
                "https://127.0.0.1:443", "tls://127.0.0.1", "tls://127.0.0.1:", "tls://:443", "tls://127.0.0.1:0",
                "tls://127.0.0.1:65536", "tls://127.0.0.1:44x", "tls://::1:443", "tls://[::1]443",
                "tls://[nothost]:443", "tls://h:443?starttls=mysql", "tls://h:443/path", "tls://h_x:443",
                "tls://user@h:443", "tls://h:443?", "",
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                NotifyEndpoint e = {};
                int r = notify_endpoint_parse(t[i].s, &e);

                if (r != 0)
                        fail_msg("notify_endpoint_parse(\"%s\") = %d", t[i].s, r);
                assert_string_equal(e.host, t[i].host);
                assert_string_equal(e.port, t[i].port);
                assert_int_equal(e.host_is_ip, t[i].ip);
                assert_int_equal(e.starttls, t[i].starttls);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                NotifyEndpoint e = { .port = "x" };

                if (notify_endpoint_parse(bad[i], &e) != -EINVAL)
                        fail_msg("notify_endpoint_parse(\"%s\") accepted", bad[i]);
                assert_string_equal(e.port, "x"); /* untouched on failure */
        }
        assert_int_equal(notify_endpoint_parse(NULL, &(NotifyEndpoint) {}), -EINVAL);
}

static void test_unit_action_strings(void **state) {
        assert_string_equal(unit_action_to_string(UNIT_ACTION_RELOAD), "reload");
        assert_string_equal(unit_action_to_string(UNIT_ACTION_RESTART), "restart");
        assert_null(unit_action_to_string(_UNIT_ACTION_MAX));
        assert_int_equal(unit_action_from_string("restart"), UNIT_ACTION_RESTART);
        assert_int_equal(unit_action_from_string("stop"), _UNIT_ACTION_INVALID);
        assert_int_equal(unit_action_from_string(NULL), _UNIT_ACTION_INVALID);
}

static void test_verify_match(void **state) {
        int port = free_port();
        pid_t pid = gnutls_serv(port, "a.crt", "a.key");

        assert_int_equal(verify_at("127.0.0.1", port, "", &der_a, 5 * USEC_PER_SEC), 0);
        assert_int_equal(verify_at("localhost", port, "", &der_a, 5 * USEC_PER_SEC), 0);
        stop_server(pid);
}

static void test_verify_mismatch(void **state) {
        int port = free_port();
        pid_t pid = gnutls_serv(port, "a.crt", "a.key");
        double t0 = now_s();

        assert_int_equal(verify_at("127.0.0.1", port, "", &der_b, 200 * MS), -EPROTO);
        assert_true(now_s() - t0 < 1.5);
        stop_server(pid);
}

static void test_verify_refused(void **state) {
        double t0 = now_s();

        assert_int_equal(verify_at("127.0.0.1", free_port(), "", &der_a, 100 * MS), -ECONNREFUSED);
        assert_true(now_s() - t0 < 1.0);
        assert_int_equal(verify_at("127.0.0.1", free_port(), "?starttls=postgres", &der_a, 0), -ECONNREFUSED);
}

/* The server serves A, then (as a reloaded nginx would) B: the retries find B. */
static void test_verify_retry_until_match(void **state) {
        int port = free_port();
        pid_t a = gnutls_serv(port, "a.crt", "a.key"), swapper;
        char p[16];
        double t0;

        snprintf(p, sizeof(p), "%d", port);
        swapper = fork();
        assert_true(swapper >= 0);
        if (swapper == 0) {
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

                usleep(300000);
                kill(a, SIGTERM);
                while (listening(port))
                        usleep(5000);
                dup2(null, STDOUT_FILENO);
                dup2(null, STDERR_FILENO);
                execlp("gnutls-serv", "gnutls-serv", "-q", "-p", p, "--x509certfile", path_of("b.crt"),
                       "--x509keyfile", path_of("b.key"), (char *) NULL);
                _exit(127);
        }
        t0 = now_s();
        assert_int_equal(verify_at("127.0.0.1", port, "", &der_b, 10 * USEC_PER_SEC), 0);
        assert_true(now_s() - t0 >= 0.3);
        stop_server(swapper);
        while (waitpid(a, NULL, 0) < 0 && errno == EINTR)
                ;
}

static void test_starttls_postgres(void **state) {
        int port = free_port();
        pid_t pid = fake(port, "postgres");

        /* An address: no SNI, the default certificate. */
        assert_int_equal(verify_at("127.0.0.1", port, "?starttls=postgres", &der_a, 5 * USEC_PER_SEC), 0);
        /* A name: sent as SNI, the server picks its certificate by it. */
        assert_int_equal(verify_at("localhost", port, "?starttls=postgres", &der_b, 5 * USEC_PER_SEC), 0);
        assert_int_equal(verify_at("localhost", port, "?starttls=postgres", &der_a, 100 * MS), -EPROTO);
        /* Without the SSLRequest the server hangs up: no TLS to speak of. */
        assert_true(verify_at("127.0.0.1", port, "", &der_a, 100 * MS) < 0);
        stop_server(pid);
}

static void test_starttls_refused(void **state) {
        int port = free_port();
        pid_t pid = fake(port, "refuse");

        assert_int_equal(verify_at("127.0.0.1", port, "?starttls=postgres", &der_a, 100 * MS), -EPROTONOSUPPORT);
        stop_server(pid);
}

static void test_plain_sni(void **state) {
        int port = free_port();
        pid_t pid = fake(port, "plain");

        assert_int_equal(verify_at("localhost", port, "", &der_b, 5 * USEC_PER_SEC), 0);
        assert_int_equal(verify_at("127.0.0.1", port, "", &der_a, 5 * USEC_PER_SEC), 0);
        stop_server(pid);
}

static void test_bad_input(void **state) {
        assert_int_equal(notify_verify("tls://127.0.0.1", der_a.data, der_a.size, "test", 0, NULL), -EINVAL);
        assert_int_equal(notify_verify("tcp://127.0.0.1:1", der_a.data, der_a.size, "test", 0, NULL), -EINVAL);
}

static void test_bus_unreachable(void **state) {
        NotifyBus *b = (NotifyBus *) 0x1;

        assert_int_equal(setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/certherd/bus", 1), 0);
        assert_true(notify_bus_open(&b) < 0);
        assert_ptr_equal(b, (NotifyBus *) 0x1); /* untouched on failure */
        assert_null(notify_bus_free(NULL));
}

/* ---- setup: copies of two fixture pairs (under the fixtures' lock), their leaves in DER ------------- */

static int copy_file(const char *from, const char *to) {
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size;
        int r = read_full_file(from, 1024 * 1024, &data, &size);

        if (r < 0)
                return r;
        f = fopen(to, "we");
        if (!f || fwrite(data, 1, size, f) != size || fflush(f) != 0)
                return -EIO;
        return chmod(to, 0600) < 0 ? -errno : 0;
}

static int load_der(const char *name, gnutls_datum_t *ret) {
        _cleanup_free_ uint8_t *data = NULL;
        gnutls_x509_crt_t *crts = NULL;
        unsigned n = 0;
        size_t size;
        int r = read_full_file(path_of(name), 1024 * 1024, &data, &size);

        if (r < 0)
                return r;
        r = x509_load_crts(data, size, &crts, &n);
        if (r < 0)
                return r;
        r = gnutls_x509_crt_export2(crts[0], GNUTLS_X509_FMT_DER, ret);
        x509_crts_free(crts, n);
        return r < 0 ? -EBADMSG : 0;
}

static int setup_env(const char **reason) {
        static const char *const files[][2] = {
                { "ok.crt", "a.crt" }, { "ok.key", "a.key" }, { "rsa-pkcs8.crt", "b.crt" }, { "rsa-pkcs8.key", "b.key" },
        };
        const char *fixtures = getenv("CERTHERD_FIXTURES"), *root = getenv("CERTHERD_SOURCE_ROOT");
        _cleanup_free_ char *lock_path = NULL;
        _cleanup_close_ int lock = -1;
        char from[PATH_MAX + 32];

        if (!fixtures || !root)
                return *reason = "CERTHERD_FIXTURES and CERTHERD_SOURCE_ROOT are not set (run through meson test)", -ENOENT;
        if (system("command -v gnutls-serv >/dev/null && command -v python3 >/dev/null") != 0)
                return *reason = "gnutls-serv or python3 is missing (apt-get install -y gnutls-bin python3)", -ENOENT;
        if (asprintf(&fake_server, "%s/tests/unit/notify-fake-server.py", root) < 0 ||
            asprintf(&lock_path, "%s/.lock", fixtures) < 0)
                return -ENOMEM;
        snprintf(dir, sizeof(dir), "/tmp/certherd-test-notify-XXXXXX");
        if (!mkdtemp(dir))
                return -errno;
        lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (lock >= 0)
                (void) flock(lock, LOCK_EX); /* tests running side by side may be remaking them */
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                snprintf(from, sizeof(from), "%s/%s", fixtures, files[i][0]);
                if (copy_file(from, path_of(files[i][1])) < 0)
                        return *reason = "no fixtures (the gen-fixtures test makes them)", -ENOENT;
        }
        if (load_der("a.crt", &der_a) < 0 || load_der("b.crt", &der_b) < 0)
                return -EBADMSG;
        return 0;
}

static void cleanup_env(void) {
        const char *names[] = { "a.crt", "a.key", "b.crt", "b.key" };

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                (void) unlink(path_of(names[i]));
        if (dir[0])
                (void) rmdir(dir);
        gnutls_free(der_a.data);
        gnutls_free(der_b.data);
        free(fake_server);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_endpoint_parse),
                cmocka_unit_test(test_unit_action_strings),
                cmocka_unit_test(test_verify_match),
                cmocka_unit_test(test_verify_mismatch),
                cmocka_unit_test(test_verify_refused),
                cmocka_unit_test(test_verify_retry_until_match),
                cmocka_unit_test(test_starttls_postgres),
                cmocka_unit_test(test_starttls_refused),
                cmocka_unit_test(test_plain_sni),
                cmocka_unit_test(test_bad_input),
                cmocka_unit_test(test_bus_unreachable),
        };
        const char *reason = "setup failed";
        int r;

        r = setup_env(&reason);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", r == -ENOENT ? "skipping" : "error", reason);
                cleanup_env();
                return r == -ENOENT ? 77 : EXIT_FAILURE;
        }
        r = cmocka_run_group_tests(tests, NULL, NULL);
        cleanup_env();
        return r;
}
