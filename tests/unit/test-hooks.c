/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Hooks and signals (spawn-util.c, notify.c): real processes, real pidfiles. The signal rule's owner cases
 * need root (to own files and run processes as another user); they are skipped otherwise. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "challenge.h"
#include "config.h"
#include "macro.h"
#include "notify.h"
#include "spawn-util.h"
#include "test-fs.h"

#define NOBODY 65534

static char dir[] = "/tmp/certherd-test-hooks-XXXXXX";

static char *path_of(const char *name) {
        return path_in(dir, name);
}

static void write_text(const char *path, mode_t mode, const char *fmt, ...) _printf_(3, 4);
static void write_text(const char *path, mode_t mode, const char *fmt, ...) {
        FILE *f;
        va_list ap;

        (void) unlink(path);
        f = fopen(path, "we");
        assert_non_null(f);
        va_start(ap, fmt);
        vfprintf(f, fmt, ap);
        va_end(ap);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(chmod(path, mode), 0);
}

static pid_t read_pid(const char *path) {
        FILE *f;
        int pid = 0;

        for (int i = 0; i < 200; i++) {
                f = fopen(path, "re");
                if (f) {
                        int n = fscanf(f, "%d", &pid);

                        fclose(f);
                        if (n == 1 && pid > 0)
                                return pid;
                }
                usleep(10000);
        }
        fail_msg("no pid in %s", path);
        return -1;
}

/* Gone, or a zombie nobody has reaped yet (init in a container may not): either way it does not run. */
static bool process_gone(pid_t pid) {
        char p[64], line[512];
        FILE *f;
        bool zombie = false;

        snprintf(p, sizeof(p), "/proc/%d/stat", (int) pid);
        f = fopen(p, "re");
        if (!f)
                return true;
        if (fgets(line, sizeof(line), f)) {
                char *e = strrchr(line, ')');

                zombie = e && (e[2] == 'Z' || e[2] == 'X');
        }
        fclose(f);
        return zombie;
}

static bool gone_within(pid_t pid, double seconds) {
        double end = now_s() + seconds;

        while (!process_gone(pid)) {
                if (now_s() > end)
                        return false;
                usleep(10000);
        }
        return true;
}

static const HookEnv env = { .name = "web", .certificate = "/c", .key = "/k", .pin = "PIN" };

/* ---- spawn / notify_exec -------------------------------------------------------------------------- */

static void test_exec_status(void **state) {
        _cleanup_free_ char *err = NULL;

        write_text(path_of("ok.sh"), 0755, "#!/bin/sh\n[ \"$CERTHERD_NAME\" = web ] && [ \"$CERTHERD_PIN\" = PIN ]\n");
        assert_int_equal(notify_exec(path_of("ok.sh"), &env, 10 * USEC_PER_SEC, &err), 0);
        assert_null(err);

        write_text(path_of("three.sh"), 0755, "#!/bin/sh\nexit 3\n");
        assert_int_equal(notify_exec(path_of("three.sh"), &env, 10 * USEC_PER_SEC, &err), -EPROTO);
        assert_non_null(strstr(err, "failed with exit status 3"));
        assert_non_null(strstr(err, "three.sh"));
        free(TAKE_PTR(err));

        assert_int_equal(notify_exec("/nonexistent/hook", &env, 10 * USEC_PER_SEC, &err), -ENOENT);
        assert_non_null(strstr(err, "cannot execute"));
        free(TAKE_PTR(err));
        assert_int_equal(notify_exec("certherd-no-such-hook-in-path", &env, 10 * USEC_PER_SEC, &err), -ENOENT);
        assert_non_null(strstr(err, "not found in $PATH"));
        free(TAKE_PTR(err));

        /* Arguments split on blanks, no shell; $PATH lookup for a bare name. */
        assert_int_equal(notify_exec("sh -c true", &env, 10 * USEC_PER_SEC, NULL), 0);
        write_text(path_of("killed.sh"), 0755, "#!/bin/sh\nkill -KILL $$\n");
        assert_int_equal(notify_exec(path_of("killed.sh"), &env, 10 * USEC_PER_SEC, &err), -EPROTO);
        assert_non_null(strstr(err, "killed by signal KILL"));

        write_text(path_of("noexec.sh"), 0644, "#!/bin/sh\n");
        assert_int_equal(spawn_run((char *[]) { path_of("noexec.sh"), NULL }, NULL, USEC_INFINITY, NULL), -EACCES);
}

/* A descriptor certherd holds without O_CLOEXEC (libcurl's socket pair; here a pipe at
 * fd 50) must not reach the hook. Before: posix_spawn() handed it over. */
static void test_exec_closes_fds(void **state) {
        _cleanup_free_ char *err = NULL;
        int p[2];

        assert_int_equal(pipe(p), 0);
        assert_int_equal(dup2(p[1], 50), 50);
        assert_int_equal(dup2(p[0], 51), 51);
        close(p[0]);
        close(p[1]);
        assert_true(fcntl(50, F_GETFD) == 0); /* inheritable */

        /* What stays: stdin, stdout, stderr. */
        write_text(path_of("fds.sh"), 0755,
                   "#!/bin/sh\nfor fd in 50 51; do [ -e /proc/$$/fd/$fd ] && { echo \"fd $fd inherited\" >&2; exit 1; }; done\n"
                   "[ -e /proc/$$/fd/0 ] && [ -e /proc/$$/fd/1 ] && [ -e /proc/$$/fd/2 ]\n");
        assert_int_equal(notify_exec(path_of("fds.sh"), &env, 10 * USEC_PER_SEC, &err), 0);
        close(50);
        close(51);
}

/* The signal state a daemon runs with (sd-event blocks SIGTERM; SIGPIPE ignored) must not reach the hook,
 * or the timeout's SIGTERM could not stop it. */
static void test_exec_signal_state_reset(void **state) {
        sigset_t block, old;

        sigemptyset(&block);
        sigaddset(&block, SIGTERM);
        assert_int_equal(sigprocmask(SIG_BLOCK, &block, &old), 0);
        signal(SIGPIPE, SIG_IGN);
        /* Builtins only: the shell blocks SIGCHLD while it waits for a child such as grep. */
        write_text(path_of("sig.sh"), 0755,
                   "#!/bin/sh\nwhile read -r k v; do\n"
                   "  case \"$k\" in SigBlk:|SigIgn:) case \"$v\" in *[!0]*) echo \"$k $v\" >&2; exit 1;; esac;; esac\n"
                   "done </proc/$$/status\n");
        assert_int_equal(notify_exec(path_of("sig.sh"), &env, 10 * USEC_PER_SEC, NULL), 0);
        signal(SIGPIPE, SIG_DFL);
        assert_int_equal(sigprocmask(SIG_SETMASK, &old, NULL), 0);
}

/* A hook that never returns, and the process it started, are gone shortly after the
 * timeout. Before: notify_exec() waited forever. */
static void test_exec_timeout_kills_group(void **state) {
        _cleanup_free_ char *err = NULL, *cmd = NULL;
        double t0;
        pid_t hook, child;

        write_text(path_of("hang.sh"), 0755,
                   "#!/bin/sh\necho $$ >\"$1/hang.pid\"\nsleep 1000 &\necho $! >\"$1/child.pid\"\nsleep 1000\n");
        assert_true(asprintf(&cmd, "%s %s", path_of("hang.sh"), dir) > 0);
        t0 = now_s();
        assert_int_equal(notify_exec(cmd, &env, 1 * USEC_PER_SEC, &err), -ETIMEDOUT);
        assert_true(now_s() - t0 < 3.0);
        assert_non_null(strstr(err, "timed out after 1s"));
        hook = read_pid(path_of("hang.pid"));
        child = read_pid(path_of("child.pid"));
        assert_true(process_gone(hook));
        assert_true(gone_within(child, 1.0));
}

/* One that ignores SIGTERM gets SIGKILL after the grace. */
static void test_exec_timeout_ignores_term(void **state) {
        _cleanup_free_ char *cmd = NULL;
        double t0, took;
        pid_t child;

        write_text(path_of("stubborn.sh"), 0755,
                   "#!/bin/sh\ntrap '' TERM\nsleep 1000 &\necho $! >\"$1/stubborn-child.pid\"\n"
                   "while :; do wait; done\n");
        assert_true(asprintf(&cmd, "%s %s", path_of("stubborn.sh"), dir) > 0);
        t0 = now_s();
        assert_int_equal(notify_exec(cmd, &env, USEC_PER_SEC / 2, NULL), -ETIMEDOUT);
        took = now_s() - t0;
        assert_true(took >= 0.5 + (double) SPAWN_KILL_GRACE / USEC_PER_SEC - 0.1);
        assert_true(took < 4.0);
        child = read_pid(path_of("stubborn-child.pid"));
        assert_true(gone_within(child, 1.0));
}

static void test_format_timeout(void **state) {
        char b[32];

        assert_string_equal(spawn_format_timeout(USEC_PER_SEC, b, sizeof(b)), "1s");
        assert_string_equal(spawn_format_timeout(90 * USEC_PER_SEC, b, sizeof(b)), "90s");
        assert_string_equal(spawn_format_timeout(2 * USEC_PER_MINUTE, b, sizeof(b)), "2m");
        assert_string_equal(spawn_format_timeout(USEC_PER_SEC / 2, b, sizeof(b)), "0.5s");
}

/* dns-hook under [agent]'s hook-timeout: a hang is a failed challenge after the timeout, not forever. */
static void test_dns_hook_timeout(void **state) {
        _cleanup_free_ char *hook = NULL;
        AcmeConfig a = { .name = (char *) "t", .challenge = CHALLENGE_DNS_01, .hook_timeout = USEC_PER_SEC };
        Challenger *c = NULL;
        double t0;
        pid_t child;

        write_text(path_of("dns-hook.sh"), 0755,
                   "#!/bin/sh\n[ \"$1\" = add ] || exit 0\nsleep 1000 &\necho $! >\"%s\"\nsleep 1000\n",
                   path_of("dns-child.pid"));
        a.dns_hook = hook = strdup(path_of("dns-hook.sh"));
        assert_int_equal(challenge_new(&a, &c), 0);
        t0 = now_s();
        assert_int_equal(challenge_add(c, "example.test", "tok", "tok.thumb"), -ETIMEDOUT);
        assert_true(now_s() - t0 < 3.0);
        child = read_pid(path_of("dns-child.pid"));
        assert_true(gone_within(child, 1.0));
        challenge_remove(c, "example.test", "tok", "tok.thumb");
        challenge_free(c);
}

/* hook-timeout: [agent] (default 60 s) and per certificate; the dns-hook gets [agent]'s. */
static void test_hook_timeout_config(void **state) {
        _cleanup_inventory_ Inventory *inv = inventory_new();
        _cleanup_free_ char *err = NULL;
        static const char text[] =
                "[acme \"a\"]\ndirectory = https://acme.test/dir\nchallenge = dns-01\ndns-hook = /bin/true\n"
                "[certificate \"x\"]\ncertificate = /x.crt\nexec = /bin/true\nhook-timeout = 5m\n"
                "[certificate \"y\"]\ncertificate = /y.crt\n";

        assert_non_null(inv);
        assert_int_equal(config_parse_string(inv, text, "t.conf", &err), 0);
        assert_int_equal(config_validate(inv, &err), 0);
        assert_int_equal(inv->agent.hook_timeout, 60 * USEC_PER_SEC);
        assert_int_equal(cert_hook_timeout(inv, inventory_find_cert(inv, "x")), 5 * USEC_PER_MINUTE);
        assert_int_equal(cert_hook_timeout(inv, inventory_find_cert(inv, "y")), 60 * USEC_PER_SEC);
        assert_int_equal(inventory_find_acme(inv, "a")->hook_timeout, 60 * USEC_PER_SEC);
        inv = inventory_free(inv);

        inv = inventory_new();
        assert_int_equal(config_parse_string(inv, "[certificate \"y\"]\ncertificate = /y.crt\n", "a.conf", &err), 0);
        assert_int_equal(config_parse_string(inv, "[agent]\nhook-timeout = 2s\n", "b.conf", &err), 0);
        assert_int_equal(config_validate(inv, &err), 0);
        assert_int_equal(cert_hook_timeout(inv, inventory_find_cert(inv, "y")), 2 * USEC_PER_SEC);
        inv = inventory_free(inv);

        inv = inventory_new();
        assert_true(config_parse_string(inv, "[agent]\nhook-timeout = 0\n", "c.conf", &err) < 0);
        assert_non_null(strstr(err, "c.conf:2"));
        free(TAKE_PTR(err));
        assert_true(config_parse_string(inv, "[certificate \"z\"]\nhook-timeout = soon\n", "d.conf", &err) < 0);
        assert_non_null(strstr(err, "d.conf:2"));
}

/* ---- notify_signal ------------------------------------------------------------------------------ */

/* "4294967295" was read as long, passed "<= 1" and became kill(-1). */
static void test_parse_pid(void **state) {
        static const struct {
                const char *s;
                int pid; /* 0: refused */
        } t[] = {
                { "1234", 1234 }, { "1234\n", 1234 }, { "  1234 \n", 1234 }, { "\t77\t", 77 }, { "2", 2 },
                { "2147483647", INT_MAX }, { "0001234\n", 1234 },
                { "4294967295", 0 }, { "4294967295\n", 0 }, { "2147483648", 0 }, { "-1", 0 }, { "-1234", 0 },
                { "+1234", 0 }, { "1", 0 }, { "0", 0 }, { "", 0 }, { "\n", 0 }, { "   ", 0 }, { "12abc", 0 },
                { "12 34", 0 }, { "1234\n\n", 0 }, { "0x10", 0 }, { "99999999999999999999999999", 0 },
                { "1234\nfoo", 0 }, { "1e3", 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                pid_t pid = -7;
                int r = notify_parse_pid(t[i].s, strlen(t[i].s), &pid);

                if (t[i].pid > 0 && (r != 0 || pid != t[i].pid))
                        fail_msg("notify_parse_pid(\"%s\") = %d, pid %d", t[i].s, r, (int) pid);
                if (t[i].pid == 0 && (r != -EBADMSG || pid != -7))
                        fail_msg("notify_parse_pid(\"%s\") accepted (%d)", t[i].s, (int) pid);
        }
        assert_int_equal(notify_parse_pid("12\0" "3", 4, &(pid_t) { 0 }), -EBADMSG);
}

static pid_t start_sleeper(uid_t uid) {
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                if (uid != 0 && (setgid(NOBODY) < 0 || setuid(uid) < 0))
                        _exit(99);
                execlp("sleep", "sleep", "300", NULL);
                _exit(98);
        }
        usleep(50000);
        return pid;
}

/* Still running (not signalled): reap it ourselves. */
static bool alive(pid_t pid) {
        return waitpid(pid, NULL, WNOHANG) == 0;
}

static void test_signal_bad_pidfiles(void **state) {
        static const char *const bad[] = { "4294967295\n", "-1\n", "12abc\n", "", "1\n", "0\n" };
        _cleanup_free_ char *err = NULL;
        pid_t victim = start_sleeper(0);
        char big[200];
        double t0;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                write_text(path_of("bad.pid"), 0644, "%s", bad[i]);
                assert_int_equal(notify_signal(SIGTERM, path_of("bad.pid"), NULL, &err), -EBADMSG);
                assert_non_null(strstr(err, path_of("bad.pid")));
                assert_non_null(strstr(err, "not a PID"));
                free(TAKE_PTR(err));
        }
        memset(big, '1', sizeof(big));
        write_text(path_of("bad.pid"), 0644, "%.*s", (int) sizeof(big), big);
        assert_int_equal(notify_signal(SIGTERM, path_of("bad.pid"), NULL, &err), -EFBIG);
        free(TAKE_PTR(err));

        /* A FIFO answers at once instead of hanging; a symlink is not followed; a second hard link is
         * refused (it could lend another service's pidfile's owner). */
        (void) unlink(path_of("fifo.pid"));
        assert_int_equal(mkfifo(path_of("fifo.pid"), 0644), 0);
        t0 = now_s();
        assert_int_equal(notify_signal(SIGTERM, path_of("fifo.pid"), NULL, &err), -EINVAL);
        assert_true(now_s() - t0 < 1.0);
        assert_non_null(strstr(err, "not a regular file (FIFO)"));
        free(TAKE_PTR(err));

        write_text(path_of("real.pid"), 0644, "%d\n", (int) victim);
        (void) unlink(path_of("link.pid"));
        assert_int_equal(symlink(path_of("real.pid"), path_of("link.pid")), 0);
        assert_int_equal(notify_signal(SIGTERM, path_of("link.pid"), NULL, &err), -ELOOP);
        assert_non_null(strstr(err, "symbolic link"));
        free(TAKE_PTR(err));
        (void) unlink(path_of("hard.pid"));
        assert_int_equal(link(path_of("real.pid"), path_of("hard.pid")), 0);
        assert_int_equal(notify_signal(SIGTERM, path_of("hard.pid"), NULL, &err), -EPERM);
        free(TAKE_PTR(err));
        assert_int_equal(unlink(path_of("hard.pid")), 0);
        assert_int_equal(notify_signal(SIGTERM, path_of("missing.pid"), NULL, &err), -ENOENT);
        free(TAKE_PTR(err));

        assert_true(alive(victim));
        /* The process of our own pidfile (same owner): signalled. */
        assert_int_equal(notify_signal(SIGTERM, path_of("real.pid"), NULL, &err), 0);
        assert_int_equal(waitpid(victim, NULL, 0), victim);
        /* Now it is gone. */
        assert_int_equal(notify_signal(SIGTERM, path_of("real.pid"), NULL, &err), -ESRCH);
        assert_non_null(strstr(err, "no such process"));
}

/* A pidfile the service user can write, naming a root process, is refused and the process
 * survives; the service's own process is signalled. */
static void test_signal_owner_rule(void **state) {
        _cleanup_free_ char *err = NULL;
        pid_t root_proc, user_proc;

        if (geteuid() != 0)
                skip();
        root_proc = start_sleeper(0);
        user_proc = start_sleeper(NOBODY);

        write_text(path_of("svc.pid"), 0644, "%d\n", (int) root_proc);
        assert_int_equal(chown(path_of("svc.pid"), NOBODY, NOBODY), 0);
        assert_int_equal(notify_signal(SIGTERM, path_of("svc.pid"), NULL, &err), -EPERM);
        assert_non_null(strstr(err, "runs as uid 0, not as the pidfile's owner uid 65534"));
        free(TAKE_PTR(err));
        assert_int_equal(notify_signal(SIGTERM, path_of("svc.pid"), "nobody", &err), -EPERM);
        free(TAKE_PTR(err));
        usleep(100000);
        assert_true(alive(root_proc));

        /* Root's pidfile naming a service's process: refused too (the owners differ). */
        write_text(path_of("root.pid"), 0644, "%d\n", (int) user_proc);
        assert_int_equal(notify_signal(SIGTERM, path_of("root.pid"), NULL, &err), -EPERM);
        free(TAKE_PTR(err));
        assert_true(alive(user_proc));

        /* owner = names another user: a pidfile of a third user is refused before anything else. */
        write_text(path_of("svc.pid"), 0644, "%d\n", (int) user_proc);
        assert_int_equal(chown(path_of("svc.pid"), NOBODY, NOBODY), 0);
        assert_int_equal(notify_signal(SIGTERM, path_of("svc.pid"), "root", &err), -EPERM);
        assert_non_null(strstr(err, "neither root nor the owner 'root'"));
        free(TAKE_PTR(err));
        assert_true(alive(user_proc));

        /* The service's pidfile naming the service's process: signalled, with or without owner =. */
        assert_int_equal(notify_signal(SIGTERM, path_of("svc.pid"), "nobody:nogroup", &err), 0);
        assert_int_equal(waitpid(user_proc, NULL, 0), user_proc);
        /* Root's pidfile naming a root process, owner = a service user: signalled (only root wrote it). */
        write_text(path_of("root.pid"), 0644, "%d\n", (int) root_proc);
        assert_int_equal(notify_signal(SIGTERM, path_of("root.pid"), "nobody", &err), 0);
        assert_int_equal(waitpid(root_proc, NULL, 0), root_proc);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exec_status),
                cmocka_unit_test(test_exec_closes_fds),
                cmocka_unit_test(test_exec_signal_state_reset),
                cmocka_unit_test(test_exec_timeout_kills_group),
                cmocka_unit_test(test_exec_timeout_ignores_term),
                cmocka_unit_test(test_format_timeout),
                cmocka_unit_test(test_dns_hook_timeout),
                cmocka_unit_test(test_hook_timeout_config),
                cmocka_unit_test(test_parse_pid),
                cmocka_unit_test(test_signal_bad_pidfiles),
                cmocka_unit_test(test_signal_owner_rule),
        };
        int r;

        if (!mkdtemp(dir))
                return EXIT_FAILURE;
        r = cmocka_run_group_tests(tests, NULL, NULL);
        {
                char cmd[sizeof(dir) + 16];

                snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
                (void) !system(cmd);
        }
        return r;
}
