/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "install.h"
#include "fd-util.h"
#include "macro.h"
#include "notify.h"
#include "spawn-util.h"

extern char **environ;

static char **split_words(const char *s) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;

        l = calloc(1, sizeof(char *));
        if (!l)
                return NULL;
        while (*s) {
                size_t k;

                while (isspace((unsigned char) *s))
                        s++;
                k = strcspn(s, " \t\n");
                if (k == 0)
                        break;
                if (strv_consume(&l, &n, strndup(s, k)) < 0)
                        return NULL;
                s += k;
        }
        return TAKE_PTR(l);
}

/* The parent's environment without any CERTHERD_* it may carry, then ours. */
static char **hook_environment(const HookEnv *env) {
        const struct {
                const char *key, *value;
        } vars[] = {
                { "CERTHERD_NAME", env->name },
                { "CERTHERD_CERTIFICATE", env->certificate },
                { "CERTHERD_KEY", env->key },
                { "CERTHERD_PIN", env->pin },
                { "CERTHERD_PREVIOUS_PIN", env->previous_pin },
                { "CERTHERD_NOT_AFTER", env->not_after },
        };
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0, max = strv_length(environ) + ELEMENTSOF(vars) + 1;

        l = calloc(max, sizeof(char *));
        if (!l)
                return NULL;
        for (char **e = environ; e && *e; e++) {
                if (strncmp(*e, "CERTHERD_", 9) == 0)
                        continue;
                l[n] = strdup(*e);
                if (!l[n++])
                        return NULL;
        }
        for (size_t i = 0; i < ELEMENTSOF(vars); i++) {
                if (!vars[i].value)
                        continue;
                if (asprintf(&l[n], "%s=%s", vars[i].key, vars[i].value) < 0) {
                        l[n] = NULL;
                        return NULL;
                }
                n++;
        }
        return TAKE_PTR(l);
}

int notify_exec(const char *command, const HookEnv *env, usec_t timeout, char **reterr) {
        _cleanup_strv_free_ char **argv = NULL, **envp = NULL;
        _cleanup_free_ char *why = NULL;
        int r;

        argv = split_words(command);
        envp = hook_environment(env);
        if (!argv || !envp)
                return reterr_set(reterr, -ENOMEM, "hook '%s': out of memory", command);
        if (!argv[0])
                return reterr_set(reterr, -EINVAL, "empty hook command");

        r = spawn_run(argv, envp, timeout, reterr ? &why : NULL);
        if (r < 0)
                return reterr_set(reterr, r, "hook '%s' %s", command, why ?: strerror(-r));
        return 0;
}

int notify_parse_pid(const char *text, size_t size, pid_t *ret) {
        const char *p = text, *end = text + size;
        unsigned long long v = 0;
        const char *digits;

        while (p < end && (*p == ' ' || *p == '\t'))
                p++;
        digits = p;
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
                v = v * 10 + (unsigned) (*p - '0');
                if (v > INT_MAX) /* pid_t is int: 4294967295 must not become -1 */
                        return -EBADMSG;
        }
        if (p == digits)
                return -EBADMSG;
        while (p < end && (*p == ' ' || *p == '\t'))
                p++;
        if (p < end && *p == '\n')
                p++;
        while (p < end && (*p == ' ' || *p == '\t'))
                p++;
        if (p != end || v <= 1)
                return -EBADMSG;
        *ret = (pid_t) v;
        return 0;
}

/* The text of a pidfile, opened so that it can neither redirect us (no symlink) nor hang us (a FIFO). */
static int read_pidfile(const char *pidfile, struct stat *ret_st, char *buf, size_t *ret_size,
                        char **reterr) {
        _cleanup_close_ int fd = -1;
        struct stat st;
        ssize_t n;

        /* The type is checked before the open (a device is never opened), a link at the name refused. */
        fd = open_regular_at(AT_FDCWD, pidfile, READ_NOFOLLOW, &st);
        if (fd == -ELOOP)
                return reterr_set(reterr, fd, "pidfile %s: is a symbolic link; not followed", pidfile);
        if (fd == -EISDIR || fd == -ESPIPE || fd == -ENODEV || fd == -ENXIO || fd == -EBADF)
                return reterr_set(reterr, -EINVAL, "pidfile %s: %s", pidfile, file_strerror(fd));
        if (fd < 0)
                return reterr_set(reterr, fd, "pidfile %s: %s", pidfile, file_strerror(fd));
        /* A hard link to another service's root-owned pidfile would lend us its owner. */
        if (st.st_nlink != 1)
                return reterr_set(reterr, -EPERM, "pidfile %s: has %ju hard links; not trusted", pidfile,
                                  (uintmax_t) st.st_nlink);
        do
                n = read(fd, buf, NOTIFY_PIDFILE_MAX + 1);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return reterr_set(reterr, -errno, "pidfile %s: %m", pidfile);
        if (n > NOTIFY_PIDFILE_MAX)
                return reterr_set(reterr, -EFBIG, "pidfile %s: larger than %d bytes; not a pidfile", pidfile,
                                  NOTIFY_PIDFILE_MAX);
        *ret_st = st;
        *ret_size = (size_t) n;
        return 0;
}

/* Real and saved user IDs of a process, from /proc/PID/status ("Uid:\treal\teffective\tsaved\tfs"). */
static int process_uids(pid_t pid, uid_t *ret_real, uid_t *ret_saved) {
        _cleanup_fclose_ FILE *f = NULL;
        char path[64], line[256];
        unsigned long r, e, s;

        snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return errno == ENOENT ? -ESRCH : -errno;
        while (fgets(line, sizeof(line), f))
                if (sscanf(line, "Uid: %lu %lu %lu", &r, &e, &s) == 3) {
                        *ret_real = (uid_t) r;
                        *ret_saved = (uid_t) s;
                        return 0;
                }
        return -EIO;
}

static int pidfd_alive(int pidfd) {
        struct pollfd p = { .fd = pidfd, .events = POLLIN };

        /* A pidfd becomes readable when its process exits. */
        return poll(&p, 1, 0) == 0;
}

int notify_signal(int sig, const char *pidfile, const char *owner, char **reterr) {
        _cleanup_close_ int pidfd = -1;
        char buf[NOTIFY_PIDFILE_MAX + 1];
        uid_t want = (uid_t) -1, real = (uid_t) -1, saved = (uid_t) -1;
        gid_t unused;
        struct stat st = {};
        size_t size = 0;
        pid_t pid;
        int r;

        r = read_pidfile(pidfile, &st, buf, &size, reterr);
        if (r < 0)
                return r;
        if (notify_parse_pid(buf, size, &pid) < 0) {
                /* Show what is there, but never raw control characters. */
                for (size_t i = 0; i < size; i++)
                        if ((unsigned char) buf[i] < 0x20 || (unsigned char) buf[i] >= 0x7f)
                                buf[i] = '?';
                return reterr_set(reterr, -EBADMSG,
                                  "pidfile %s: '%.*s' is not a PID (decimal, 2-%d); not signalled", pidfile,
                                  (int) size, buf, INT_MAX);
        }

        if (owner && owner[0] != ':') {
                r = install_parse_owner(owner, &want, &unused);
                if (r < 0)
                        return reterr_set(reterr, r, "pidfile %s: cannot resolve owner '%s': %s", pidfile,
                                          owner, strerror(-r));
                if (st.st_uid != 0 && st.st_uid != want)
                        return reterr_set(reterr, -EPERM,
                                          "pidfile %s: owned by uid %u, neither root nor the owner '%s' "
                                          "(uid %u); not signalled",
                                          pidfile, (unsigned) st.st_uid, owner, (unsigned) want);
        }

        /* Hold the process first: whatever /proc then says is about it, as long as it still runs after. */
        pidfd = (int) syscall(SYS_pidfd_open, pid, 0U);
        if (pidfd < 0 && errno != ENOSYS)
                return reterr_set(reterr, -errno, "pidfile %s: PID %d: %s", pidfile, (int) pid,
                                  errno == ESRCH ? "no such process" : strerror(errno));
        r = process_uids(pid, &real, &saved);
        if (r < 0)
                return reterr_set(reterr, r, "pidfile %s: PID %d: %s", pidfile, (int) pid,
                                  r == -ESRCH ? "no such process" : strerror(-r));
        if (pidfd >= 0 && !pidfd_alive(pidfd))
                return reterr_set(reterr, -ESRCH, "pidfile %s: PID %d: no such process", pidfile, (int) pid);
        if (real != st.st_uid && saved != st.st_uid)
                return reterr_set(reterr, -EPERM,
                                  "pidfile %s: PID %d runs as uid %u, not as the pidfile's owner uid %u; "
                                  "not signalled",
                                  pidfile, (int) pid, (unsigned) real, (unsigned) st.st_uid);

        if (pidfd >= 0)
                r = syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0U) < 0 ? -errno : 0;
        else
                r = kill(pid, sig) < 0 ? -errno : 0;
        if (r < 0)
                return reterr_set(reterr, r, "pidfile %s: cannot signal PID %d: %s", pidfile, (int) pid,
                                  strerror(-r));
        return 0;
}
