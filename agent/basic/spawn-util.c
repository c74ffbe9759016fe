/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "macro.h"
#include "spawn-util.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

extern char **environ;

char *spawn_format_timeout(usec_t t, char *buf, size_t size) {
        if (t == USEC_INFINITY)
                snprintf(buf, size, "infinity");
        else if (!format_usec_whole(t, USEC_PER_HOUR, buf, size))
                snprintf(buf, size, "%.3gs", (double) t / USEC_PER_SEC);
        return buf;
}

/* $PATH lookup done before fork(): the child only calls async-signal-safe functions. */
static int find_program(const char *name, char **ret) {
        const char *path = getenv("PATH"), *p;

        if (strchr(name, '/'))
                return (*ret = strdup(name)) ? 0 : -ENOMEM;
        if (!path || !*path)
                path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        for (p = path; *p;) {
                size_t n = strcspn(p, ":");
                _cleanup_free_ char *f = NULL;
                struct stat st;

                if (asprintf(&f, "%.*s%s%s", (int) n, n ? p : ".", "/", name) < 0)
                        return -ENOMEM;
                if (stat(f, &st) >= 0 && S_ISREG(st.st_mode) && access(f, X_OK) >= 0) {
                        *ret = TAKE_PTR(f);
                        return 0;
                }
                p += n;
                if (*p == ':')
                        p++;
        }
        return -ENOENT;
}

/* Every descriptor above 2 closes at exec, so that only errfd (O_CLOEXEC already) stays usable until then.
 * close_range(CLOSE_RANGE_CLOEXEC) needs Linux 5.11; before that, close all but errfd by hand. */
static void close_inherited_fds(int errfd) {
        struct rlimit rl;
        int max = 65536;

        if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) >= 0)
                return;
        if (syscall(SYS_close_range, 3U, (unsigned) errfd - 1, 0U) >= 0 &&
            syscall(SYS_close_range, (unsigned) errfd + 1, ~0U, 0U) >= 0)
                return;
        if (getrlimit(RLIMIT_NOFILE, &rl) >= 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (1U << 20))
                max = (int) rl.rlim_cur;
        for (int fd = 3; fd < max; fd++)
                if (fd != errfd)
                        (void) close(fd);
}

/* In the child, between fork() and exec: async-signal-safe calls only. */
__attribute__((noreturn)) static void child(const char *path, char *const argv[], char *const envp[],
                                            int errfd) {
        struct sigaction sa = { .sa_handler = SIG_DFL };
        sigset_t none;
        int e;

        (void) setpgid(0, 0);
        /* Ignored signals stay ignored across exec (a daemon's SIGPIPE), blocked ones stay blocked (sd-event
         * blocks SIGTERM): either would keep the hook from being stopped. */
        for (int s = 1; s < NSIG; s++)
                if (s != SIGKILL && s != SIGSTOP)
                        (void) sigaction(s, &sa, NULL);
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        close_inherited_fds(errfd);
        execve(path, argv, envp);
        e = errno;
        (void) !write(errfd, &e, sizeof(e));
        _exit(127);
}

/* Wait until `pid` has exited or `deadline` passed. Returns 1 (exited; *si filled), 0 (deadline) or -errno.
 * With reap = false the exited program stays a zombie: its process group ID cannot be reused, so the group
 * can still be killed safely. */
static int wait_until(pid_t pid, int pidfd, usec_t deadline, bool reap, siginfo_t *si) {
        for (;;) {
                usec_t n, left;

                *si = (siginfo_t){};
                if (waitid(P_PID, (id_t) pid, si, WEXITED | WNOHANG | (reap ? 0 : WNOWAIT)) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (si->si_pid == pid)
                        return 1;
                n = now_monotonic();
                if (n >= deadline)
                        return 0;
                left = deadline - n;
                if (pidfd >= 0) {
                        struct pollfd p = { .fd = pidfd, .events = POLLIN };
                        int ms = left / 1000 + 1 > 60000 ? 60000 : (int) (left / 1000 + 1);

                        if (poll(&p, 1, ms) < 0 && errno != EINTR)
                                return -errno;
                } else {
                        /* No pidfd (Linux < 5.3): look again every 10 ms. */
                        usec_t step = left < 10000 ? left : 10000;
                        struct timespec ts = { .tv_sec = 0, .tv_nsec = (long) step * 1000 };

                        (void) nanosleep(&ts, NULL);
                }
        }
}

static int describe_status(const siginfo_t *si, char **reterr) {
        if (si->si_code == CLD_EXITED) {
                if (si->si_status == 0)
                        return 0;
                return reterr_set(reterr, -EPROTO, "failed with exit status %d", si->si_status);
        }
        return reterr_set(reterr, -EPROTO, "killed by signal %s", sigabbrev_np(si->si_status) ?: "unknown");
}

int spawn_run(char *const argv[], char *const envp[], usec_t timeout, char **reterr) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int pidfd = -1;
        int pipefd[2], e = 0, r;
        sigset_t all, old;
        usec_t start = now_monotonic(), deadline;
        char t[32];
        siginfo_t si;
        ssize_t n;
        pid_t pid;

        if (!argv || !argv[0])
                return reterr_set(reterr, -EINVAL, "no program to run");
        r = find_program(argv[0], &path);
        if (r < 0)
                return reterr_set(reterr, r, "cannot execute: %s",
                                  r == -ENOENT ? "not found in $PATH" : strerror(-r));
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return reterr_set(reterr, -errno, "cannot execute: %m");

        /* No signal handler of ours may run in the child before it has reset them. */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pid = fork();
        if (pid == 0)
                child(path, argv, envp ?: environ, pipefd[1]);
        e = errno;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        (void) close(pipefd[1]);
        if (pid < 0) {
                (void) close(pipefd[0]);
                return reterr_set(reterr, -e, "cannot execute: fork: %s", strerror(e));
        }
        /* Here as in the child, so that the group exists whichever runs first. */
        (void) setpgid(pid, pid);

        /* EOF: the exec succeeded (the pipe closed with it); an int: its errno. */
        do
                n = read(pipefd[0], &e, sizeof(e));
        while (n < 0 && errno == EINTR);
        (void) close(pipefd[0]);
        if (n == sizeof(e)) {
                (void) wait_until(pid, -1, USEC_INFINITY, true, &si);
                return reterr_set(reterr, -e, "cannot execute: %s", strerror(e));
        }

        pidfd = (int) syscall(SYS_pidfd_open, pid, 0U);
        deadline = timeout > USEC_INFINITY - start ? USEC_INFINITY : start + timeout;
        r = wait_until(pid, pidfd, deadline, true, &si);
        if (r > 0)
                return describe_status(&si, reterr);
        /* waitid() failed (ECHILD: reaped behind our back): the group may be gone and its ID reused, so it
         * is not ours to kill. */
        if (r < 0)
                return reterr_set(reterr, r, "cannot wait for it: %s", strerror(-r));

        /* Out of time. The program is not reaped until after SIGKILL: while it is at least a zombie, its
         * process group ID cannot be given to anyone else. */
        (void) kill(-pid, SIGTERM);
        (void) wait_until(pid, pidfd, now_monotonic() + SPAWN_KILL_GRACE, false, &si);
        (void) kill(-pid, SIGKILL);
        (void) wait_until(pid, pidfd, USEC_INFINITY, true, &si);
        return reterr_set(reterr, -ETIMEDOUT, "timed out after %s; its process group was killed",
                          spawn_format_timeout(timeout, t, sizeof(t)));
}
