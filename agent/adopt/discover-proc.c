/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The process half of `certherd discover`: telling servers by the binary they run, not by what they call
 * themselves, and reading the files a process names with the credentials of whoever runs it. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-login.h>

#include "adopt-internal.h"
#include "fd-util.h"
#include "macro.h"

#define RUN_AS_TIMEOUT_MS 10000
#define RUN_SERVER_TIMEOUT_MS 20000
#define PROC_FILE_MAX (64U * 1024U)

static const char *const server_table[_DISCOVER_SERVER_MAX] = {
        [DISCOVER_NGINX] = "nginx",
        [DISCOVER_HAPROXY] = "haproxy",
        [DISCOVER_POSTGRES] = "postgresql",
};

DEFINE_STRING_TABLE_TO_STRING(discover_server, DiscoverServer, server_table, _DISCOVER_SERVER_MAX)

/* Where distributions install the servers (Debian, Fedora and RHEL, PGDG's packages). Patterns match one
 * path component per '*'. Nothing else is recognised, whatever a process calls itself. */
static const char *const binaries[_DISCOVER_SERVER_MAX][4] = {
        [DISCOVER_NGINX] = { "/usr/sbin/nginx", "/usr/bin/nginx" },
        [DISCOVER_HAPROXY] = { "/usr/sbin/haproxy", "/usr/bin/haproxy" },
        [DISCOVER_POSTGRES] = { "/usr/lib/postgresql/*/bin/postgres", "/usr/pgsql-*/bin/postgres",
                                "/usr/bin/postgres" },
};

bool discover_stat_trusted(const struct stat *st, bool last) {
        if (st->st_uid != 0)
                return false;
        if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
                return false;
        if (!(st->st_mode & (S_IWGRP | S_IWOTH)))
                return true;
        return !last && S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX);
}

DiscoverServer discover_server_of_exe(const char *exe, const struct stat *st) {
        static const char deleted[] = " (deleted)";
        char path[PATH_MAX];
        size_t len = strlen(exe);

        if (len >= sizeof(path) || exe[0] != '/' || !discover_stat_trusted(st, true) ||
            !S_ISREG(st->st_mode))
                return _DISCOVER_SERVER_INVALID;
        memcpy(path, exe, len + 1);
        if (len > strlen(deleted) && strcmp(path + len - strlen(deleted), deleted) == 0)
                path[len - strlen(deleted)] = 0;
        for (DiscoverServer s = 0; s < _DISCOVER_SERVER_MAX; s++)
                for (size_t i = 0; i < ELEMENTSOF(binaries[s]) && binaries[s][i]; i++)
                        if (fnmatch(binaries[s][i], path, FNM_PATHNAME | FNM_PERIOD) == 0)
                                return s;
        return _DISCOVER_SERVER_INVALID;
}

const char *discover_server_binary(DiscoverServer s) {
        assert(s >= 0 && s < _DISCOVER_SERVER_MAX);
        for (size_t i = 0; i < ELEMENTSOF(binaries[s]) && binaries[s][i]; i++)
                if (!strchr(binaries[s][i], '*') && access(binaries[s][i], X_OK) >= 0 &&
                    discover_path_trusted(binaries[s][i], NULL) >= 0)
                        return binaries[s][i];
        return NULL;
}

static int check_one(const char *path, bool last, char **ret_reason) {
        struct stat st;

        if (lstat(path, &st) < 0)
                return -errno;
        if (discover_stat_trusted(&st, last))
                return 0;
        if (st.st_uid != 0)
                return reterr_set(ret_reason, -EPERM, "%s is owned by uid %u, not root", path,
                                  (unsigned) st.st_uid);
        if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
                return reterr_set(ret_reason, -EPERM, "%s is neither a regular file nor a directory", path);
        return reterr_set(ret_reason, -EPERM, "%s is writable by %s", path,
                          st.st_mode & S_IWOTH ? "others" : "its group");
}

int discover_path_trusted(const char *path, char **ret_reason) {
        _cleanup_free_ char *resolved = realpath(path, NULL);
        int r;

        if (!resolved)
                return -errno;
        /* "/", then every directory on the way ("/etc", "/etc/nginx"), then the path itself. */
        if (resolved[1] != 0) {
                r = check_one("/", false, ret_reason);
                if (r < 0)
                        return r;
        }
        for (char *s = strchr(resolved + 1, '/');; s = strchr(s + 1, '/')) {
                if (!s)
                        return check_one(resolved, true, ret_reason);
                *s = 0;
                r = check_one(resolved, false, ret_reason);
                *s = '/';
                if (r < 0)
                        return r;
        }
}

/* "\nUid:\t1000\t1000\t1000\t1000": the first non-zero of the four, 0 when all are, -1 when unreadable.
 * Fields are looked for at the start of a line only: the first line, Name:, is the process's own choice
 * (the kernel escapes a newline in it, so it cannot start a line of its own). */
static long first_unprivileged(const char *text, const char *field) {
        const char *line = strstr(text, field);
        unsigned long v[4];

        if (!line || sscanf(line + strlen(field), "%lu %lu %lu %lu", &v[0], &v[1], &v[2], &v[3]) != 4)
                return -1;
        for (size_t i = 0; i < 4; i++)
                if (v[i] != 0)
                        return v[i] > INT_MAX ? -1 : (long) v[i];
        return 0;
}

int discover_parse_status(const char *text, DiscoverCred *ret, pid_t *ret_ppid) {
        DiscoverCred c = {};
        const char *groups = strstr(text, "\nGroups:"), *ppid = strstr(text, "\nPPid:");
        long uid = first_unprivileged(text, "\nUid:"), gid = first_unprivileged(text, "\nGid:");

        if (uid < 0 || gid < 0 || (ret_ppid && !ppid))
                return -EBADMSG;
        c.uid = (uid_t) uid;
        c.gid = (gid_t) gid;
        for (const char *p = groups ? groups + 8 : NULL; p && c.n_groups < DISCOVER_GROUPS_MAX;) {
                char *end;
                unsigned long g;

                p += strspn(p, " \t");
                if (*p < '0' || *p > '9')
                        break;
                g = strtoul(p, &end, 10);
                c.groups[c.n_groups++] = (gid_t) g;
                p = end;
        }
        if (ret_ppid)
                *ret_ppid = (pid_t) strtol(ppid + 6, NULL, 10);
        *ret = c;
        return 0;
}

void discover_cred_of_uid(uid_t uid, DiscoverCred *ret) {
        struct passwd *pw = getpwuid(uid);
        DiscoverCred c = { .uid = uid, .gid = (gid_t) uid };
        int n = DISCOVER_GROUPS_MAX;

        if (pw) {
                c.gid = pw->pw_gid;
                if (getgrouplist(pw->pw_name, pw->pw_gid, c.groups, &n) < 0)
                        n = DISCOVER_GROUPS_MAX; /* more than fit: the first ones */
                c.n_groups = (size_t) n;
        }
        *ret = c;
}

void discover_cred_of_path(const char *path, DiscoverCred *ret) {
        _cleanup_free_ char *dir = strdup(path);
        struct stat st;
        uid_t uid = 0;

        if (lstat(path, &st) >= 0)
                uid = st.st_uid;
        if (uid == 0 && dir && strrchr(dir, '/')) {
                *strrchr(dir, '/') = 0;
                if (stat(dir[0] ? dir : "/", &st) >= 0)
                        uid = st.st_uid;
        }
        discover_cred_of_uid(uid, ret);
}

void discover_user_name(uid_t uid, char *buf, size_t size) {
        struct passwd *pw = getpwuid(uid);

        if (pw)
                snprintf(buf, size, "uid %u (%s)", (unsigned) uid, pw->pw_name);
        else
                snprintf(buf, size, "uid %u", (unsigned) uid);
}

/* ---- running something as another user ---- */

static _Noreturn void child_run(const DiscoverCred *c, DiscoverAsFn fn, void *userdata, int fd) {
        int r = 0;

        /* Nothing root opened stays within reach of /proc/self/fd but the output. */
        if (fd > 3)
                (void) close_range(3, (unsigned) fd - 1, 0);
        (void) close_range((unsigned) fd + 1, ~0U, 0);
        if (setgroups(c->n_groups, c->groups) < 0 || setresgid(c->gid, c->gid, c->gid) < 0 ||
            setresuid(c->uid, c->uid, c->uid) < 0 || setuid(0) >= 0)
                r = -EPERM;
        /* The kernel makes a process that changed its uid non-dumpable already, unless fs.suid_dumpable
         * says otherwise: then the user could ptrace it and read what it inherited from root. */
        if (r >= 0 && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
                r = -errno;
        if (r >= 0)
                r = fn(fd, userdata);
        _exit(r >= 0 ? 0 : -r > 255 ? EIO : -r);
}

/* Wait for pid, at most timeout_ms, then kill it. Returns its exit status (≥ 0), -ETIMEDOUT, or -EPROTO
 * when a signal ended it. */
static int wait_child(pid_t pid, unsigned timeout_ms) {
        int status = 0;
        pid_t w = 0;

        for (unsigned i = 0; i < timeout_ms / 10 && (w = waitpid(pid, &status, WNOHANG)) == 0; i++)
                nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
        if (w == 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, &status, 0);
                return -ETIMEDOUT;
        }
        if (w < 0)
                return -errno;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -EPROTO;
}

/* What was written to the memfd fd (at most max bytes), NUL-terminated. */
static int read_memfd(int fd, size_t max, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        off_t size = lseek(fd, 0, SEEK_END);

        if (size < 0)
                return -errno;
        if ((uintmax_t) size > max)
                return -EFBIG;
        buf = malloc((size_t) size + 1);
        if (!buf)
                return -ENOMEM;
        if (pread(fd, buf, (size_t) size, 0) != size)
                return -EIO;
        buf[size] = 0;
        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = (size_t) size;
        return 0;
}

int discover_run_as(const DiscoverCred *c, DiscoverAsFn fn, void *userdata, size_t max, char **ret,
                    size_t *ret_size) {
        _cleanup_close_ int fd = memfd_create("discover", MFD_CLOEXEC);
        pid_t pid;
        int r;

        if (fd < 0)
                return -errno;
        if (c->uid == 0)
                r = fn(fd, userdata);
        else {
                fflush(NULL); /* nothing buffered is written twice */
                pid = fork();
                if (pid < 0)
                        return -errno;
                if (pid == 0)
                        child_run(c, fn, userdata, fd);
                r = wait_child(pid, RUN_AS_TIMEOUT_MS);
                r = r > 0 ? -r : r; /* the child's -errno */
        }
        if (r < 0)
                return r;
        return read_memfd(fd, max, ret, ret_size);
}

int discover_run_server(DiscoverServer s, char *const args[], size_t max, char **ret) {
        static char *const env[] = { (char *) "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
        const char *binary = discover_server_binary(s);
        posix_spawn_file_actions_t fa;
        _cleanup_close_ int out = memfd_create("discover", MFD_CLOEXEC);
        char *argv[16] = { (char *) binary };
        size_t k = 1;
        pid_t pid;
        int r;

        if (!binary)
                return -ENOENT;
        if (out < 0)
                return -errno;
        for (; args[k - 1]; k++) {
                assert(k + 1 < ELEMENTSOF(argv));
                argv[k] = args[k - 1];
        }
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, out, STDOUT_FILENO);
        posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        r = posix_spawn(&pid, binary, &fa, NULL, argv, env);
        posix_spawn_file_actions_destroy(&fa);
        if (r != 0)
                return -r;
        r = wait_child(pid, RUN_SERVER_TIMEOUT_MS);
        if (r < 0)
                return r;
        if (r > 0)
                return -EPROTO;
        return read_memfd(out, max, ret, NULL);
}

typedef struct ReadArgs {
        const char *path;
        size_t max;
} ReadArgs;

static int copy_file(int out, void *userdata) {
        const ReadArgs *a = userdata;
        _cleanup_close_ int fd = open_regular(a->path, NULL);
        char buf[16384];
        size_t total = 0;

        if (fd < 0)
                return fd;
        for (;;) {
                ssize_t k = read(fd, buf, sizeof(buf));
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return 0;
                total += (size_t) k;
                if (total > a->max)
                        return -EFBIG;
                if (write(out, buf, (size_t) k) != k)
                        return -EIO;
        }
}

int discover_read_as(const DiscoverCred *c, const char *path, size_t max, char **ret, size_t *ret_size) {
        return discover_run_as(c, copy_file, &(ReadArgs){ .path = path, .max = max }, max, ret, ret_size);
}

/* ---- the server processes ---- */

int discover_service_of(pid_t pid, char **ret, char **ret_other) {
        _cleanup_free_ char *unit = NULL;
        size_t len;

        if (sd_pid_get_unit(pid, &unit) < 0 || !unit)
                return -ENODATA;
        len = strlen(unit);
        /* user@UID.service is a user's service manager: its processes are that user's, not the system's. */
        if (len > 8 && strcmp(unit + len - 8, ".service") == 0 && strncmp(unit, "user@", 5) != 0) {
                *ret = TAKE_PTR(unit);
                return 0;
        }
        if (ret_other)
                *ret_other = TAKE_PTR(unit);
        return -ENXIO;
}

static int read_at(int dirfd, const char *name, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ char *buf = NULL;
        size_t n = 0;

        if (fd < 0)
                return -errno;
        buf = malloc(PROC_FILE_MAX + 1);
        if (!buf)
                return -ENOMEM;
        /* /proc files report st_size 0: read until the end. */
        for (ssize_t k; n < PROC_FILE_MAX; n += (size_t) k) {
                k = read(fd, buf + n, PROC_FILE_MAX - n);
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
        }
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = n;
        return 0;
}

static DiscoverServer server_at(int dirfd) {
        char exe[PATH_MAX];
        struct stat st;
        ssize_t k = readlinkat(dirfd, "exe", exe, sizeof(exe) - 1);

        if (k <= 0 || fstatat(dirfd, "exe", &st, 0) < 0)
                return _DISCOVER_SERVER_INVALID;
        exe[k] = 0;
        return discover_server_of_exe(exe, &st);
}

static bool same_netns_at(int dirfd) {
        struct stat a, b;

        return stat("/proc/self/ns/net", &a) >= 0 && fstatat(dirfd, "ns/net", &b, 0) >= 0 &&
               a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/* 0 and *ret filled for a server master, -ENOENT for anything else (or a process gone meanwhile). */
static int process_read(int dirfd, pid_t pid, DiscoverProcess *ret) {
        _cleanup_free_ char *status = NULL, *cmdline = NULL, *unit = NULL, *other = NULL, *gone = NULL;
        _cleanup_close_ int parent = -1;
        DiscoverProcess p = { .pid = pid };
        char path[64];
        pid_t ppid = 0;
        int r;

        p.server = server_at(dirfd);
        if (p.server < 0)
                return -ENOENT;
        r = read_at(dirfd, "status", &status, NULL);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || discover_parse_status(status, &p.cred, &ppid) < 0)
                return -ENOENT;
        snprintf(path, sizeof(path), "/proc/%d", (int) ppid);
        parent = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (ppid > 0 && parent >= 0 && server_at(parent) == p.server)
                return -ENOENT; /* a worker, a backend */
        r = read_at(dirfd, "cmdline", &cmdline, &p.cmdline_size);
        if (r < 0)
                return r == -ENOMEM ? r : -ENOENT;
        r = discover_service_of(pid, &unit, &other);
        /* The handle fails once the process is gone: what systemd said was about this process, not about
         * another one that got its PID. */
        if (read_at(dirfd, "stat", &gone, NULL) < 0)
                return -ENOENT;
        p.same_netns = same_netns_at(dirfd);
        p.cmdline = TAKE_PTR(cmdline);
        p.unit = TAKE_PTR(unit);
        p.other = TAKE_PTR(other);
        *ret = p;
        return 0;
}

int discover_processes(DiscoverProcess **ret, size_t *ret_n) {
        DIR *proc = opendir("/proc");
        DiscoverProcess *l = NULL;
        size_t n = 0;
        int r = 0;

        for (struct dirent *de = proc ? readdir(proc) : NULL; r >= 0 && de; de = readdir(proc)) {
                _cleanup_close_ int pfd = -1;
                pid_t pid = (pid_t) strtol(de->d_name, NULL, 10);
                DiscoverProcess p, *nl;

                if (pid <= 0)
                        continue;
                pfd = openat(dirfd(proc), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (pfd < 0)
                        continue;
                r = process_read(pfd, pid, &p);
                if (r == -ENOENT) {
                        r = 0;
                        continue;
                }
                if (r < 0)
                        break;
                nl = reallocarray(l, n + 1, sizeof(DiscoverProcess));
                if (!nl) {
                        discover_processes_free(&p, 1);
                        r = -ENOMEM;
                        break;
                }
                l = nl;
                l[n++] = p;
        }
        if (proc)
                closedir(proc);
        if (r < 0) {
                discover_processes_free(l, n);
                return r;
        }
        *ret = l;
        *ret_n = n;
        return 0;
}

void discover_processes_free(DiscoverProcess *p, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(p[i].cmdline);
                free(p[i].unit);
                free(p[i].other);
        }
        free(p);
}
