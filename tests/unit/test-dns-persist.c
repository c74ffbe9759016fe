/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The dns-persist-01 TXT lookup against a resolver of the test's own (a child process on loopback): a
 * small answer, and one far larger than the first buffer (21 kB over TCP after a truncated UDP answer),
 * which must be read whole and not past the buffer (the sanitizer build would see it). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "dns-persist.h"
#include "macro.h"

#define RECORD_SIZE 200

typedef struct Server {
        pid_t pid;
        char address[32];
} Server;

/* An answer to `query` (n bytes) with `records` TXT records of RECORD_SIZE bytes each; record i is
 * filled with the letter 'a' + i % 26. Returns its length, or 0 when it does not fit. */
static size_t build_answer(const uint8_t *query, size_t n, unsigned records, bool truncated, uint8_t *out,
                           size_t size) {
        size_t k = n;

        if (n < 12 || n > size)
                return 0;
        memcpy(out, query, n);
        out[2] = 0x84 | (truncated ? 0x02 : 0); /* QR, AA (, TC) */
        out[3] = 0;
        out[6] = (uint8_t) ((truncated ? 0 : records) >> 8);
        out[7] = (uint8_t) (truncated ? 0 : records);
        out[8] = out[9] = out[10] = out[11] = 0;
        for (unsigned i = 0; !truncated && i < records; i++) {
                const uint8_t rr[] = { 0xc0, 0x0c, 0, 16, 0, 1, 0, 0, 0, 60, 0, RECORD_SIZE + 1, RECORD_SIZE };

                if (k + sizeof(rr) + RECORD_SIZE > size)
                        return 0;
                memcpy(out + k, rr, sizeof(rr));
                memset(out + k + sizeof(rr), 'a' + (int) (i % 26), RECORD_SIZE);
                k += sizeof(rr) + RECORD_SIZE;
        }
        return k;
}

/* Answers over UDP (truncated when the answer is larger than 512 bytes) and TCP until killed. */
static void serve(int udp, int tcp, unsigned records) {
        static uint8_t q[512], a[65536];

        for (;;) {
                fd_set set;
                ssize_t n;
                size_t m;

                FD_ZERO(&set);
                FD_SET(udp, &set);
                FD_SET(tcp, &set);
                if (select((udp > tcp ? udp : tcp) + 1, &set, NULL, NULL, NULL) < 0)
                        _exit(1);
                if (FD_ISSET(udp, &set)) {
                        struct sockaddr_in from;
                        socklen_t len = sizeof(from);

                        n = recvfrom(udp, q, sizeof(q), 0, (struct sockaddr *) &from, &len);
                        if (n <= 0)
                                continue;
                        m = build_answer(q, (size_t) n, records, false, a, sizeof(a));
                        if (m > 512)
                                m = build_answer(q, (size_t) n, records, true, a, sizeof(a));
                        (void) sendto(udp, a, m, 0, (struct sockaddr *) &from, len);
                }
                if (FD_ISSET(tcp, &set)) {
                        int c = accept(tcp, NULL, NULL);
                        uint8_t head[2];

                        if (c < 0)
                                continue;
                        if (recv(c, head, 2, MSG_WAITALL) == 2 && (n = recv(c, q, (size_t) (head[0] << 8 | head[1]),
                                                                            MSG_WAITALL)) > 0) {
                                m = build_answer(q, (size_t) n, records, false, a + 2, sizeof(a) - 2);
                                a[0] = (uint8_t) (m >> 8);
                                a[1] = (uint8_t) m;
                                (void) send(c, a, m + 2, MSG_NOSIGNAL);
                        }
                        close(c);
                }
        }
}

/* A UDP and a TCP socket on one loopback port, as a resolver falls back from one to the other after a
 * truncated answer. The port the kernel picks for UDP may be taken for TCP: then another one. */
static void bind_pair(int *ret_udp, int *ret_tcp, unsigned *ret_port) {
        for (unsigned attempt = 0; attempt < 100; attempt++) {
                struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
                socklen_t len = sizeof(sa);
                int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

                assert_true(udp >= 0 && tcp >= 0);
                assert_int_equal(bind(udp, (struct sockaddr *) &sa, sizeof(sa)), 0);
                assert_int_equal(getsockname(udp, (struct sockaddr *) &sa, &len), 0);
                if (bind(tcp, (struct sockaddr *) &sa, sizeof(sa)) == 0 && listen(tcp, 4) == 0) {
                        *ret_udp = udp;
                        *ret_tcp = tcp;
                        *ret_port = ntohs(sa.sin_port);
                        return;
                }
                close(udp);
                close(tcp);
        }
        fail_msg("no loopback port free for both UDP and TCP");
}

static void server_start(Server *s, unsigned records) {
        unsigned port;
        int udp, tcp;

        bind_pair(&udp, &tcp, &port);
        snprintf(s->address, sizeof(s->address), "127.0.0.1:%u", port);
        s->pid = fork();
        assert_true(s->pid >= 0);
        if (s->pid == 0) {
                /* gone with the test, whatever ends it, and holding none of its output open */
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                (void) dup2(open("/dev/null", O_WRONLY | O_CLOEXEC), STDOUT_FILENO);
                (void) dup2(STDOUT_FILENO, STDERR_FILENO);
                serve(udp, tcp, records);
        }
        close(udp);
        close(tcp);
        assert_int_equal(setenv("CERTHERD_TEST_RESOLVER", s->address, 1), 0);
}

static void server_stop(Server *s) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        unsetenv("CERTHERD_TEST_RESOLVER");
}

static void check_records(unsigned records) {
        Server s;
        char **values = NULL;

        server_start(&s, records);
        assert_int_equal(persist_lookup("_validation-persist.big.test", &values), 0);
        server_stop(&s);
        assert_non_null(values);
        for (unsigned i = 0; i < records; i++) {
                assert_non_null(values[i]);
                assert_int_equal(strlen(values[i]), RECORD_SIZE);
                assert_true(values[i][0] == 'a' + (int) (i % 26) && values[i][RECORD_SIZE - 1] == values[i][0]);
        }
        assert_null(values[records]);
        strv_free(values);
}

static void test_small_answer(void **state) {
        check_records(2);
}

/* 100 records of 200 bytes: 21 kB, well past the first 8 kB buffer. */
static void test_oversized_answer(void **state) {
        check_records(100);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_small_answer),
                cmocka_unit_test(test_oversized_answer),
        };

#if !CERTHERD_TEST_HOOKS
        printf("SKIP: this build has no test hooks (CERTHERD_TEST_RESOLVER): configure with -Dtest-hooks=enabled\n");
        return 77;
#endif
        return cmocka_run_group_tests(tests, NULL, NULL);
}
