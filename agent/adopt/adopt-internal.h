/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What only the files of adopt/ share: the listeners discover probes and how it tells which process is
 * which server (and reads its files as their owner). */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "macro.h"

/* ---- discover-net.c ---- */

/* The host's own TCP listeners (/proc/net/tcp and tcp6 of the current network namespace) and what each
 * speaks: a TLS handshake (without SNI, nothing verified: only the served certificate is wanted), else
 * PostgreSQL's SSLRequest. */

typedef enum ListenerKind {
        LISTENER_UNKNOWN,   /* not probed */
        LISTENER_TLS,       /* a TLS handshake: leaf holds the served certificate */
        LISTENER_POSTGRES,  /* SSLRequest answered 'S', then a handshake: leaf likewise */
        LISTENER_PLAINTEXT, /* no TLS handshake and no PostgreSQL TLS */
} ListenerKind;

typedef struct Listener {
        char address[64]; /* as a URL host: 127.0.0.1, [::1], 0.0.0.0, [::] */
        char connect[64]; /* what to connect to: the wildcard replaced by loopback */
        uint16_t port;
        bool loopback; /* bound to 127.0.0.0/8 or ::1 only */
        bool wildcard;
        unsigned long inode;
        pid_t pid; /* the owning process, 0 when not found */
        char comm[32];
        ListenerKind kind;
        uint8_t *leaf; /* DER */
        size_t leaf_size;
} Listener;

/* The LISTEN sockets, deduplicated by address and port. Returns 0 or -errno. */
int discover_listeners(Listener **ret, size_t *ret_n);
void discover_listeners_free(Listener *l, size_t n);

/* Probe each listener (2 s per attempt). */
void discover_probe(Listener *l, size_t n);

/* The DER of the first certificate in PEM or DER data, or -errno. */
int discover_leaf_of(const uint8_t *data, size_t size, uint8_t **ret, size_t *ret_size);

/* ---- discover-proc.c ---- */

/* Which processes of this host are which servers, and how `discover` (running as root) reads what they name
 * without lending them its privileges.
 *
 * Any user can start a process whose command line or `comm` reads "nginx: master process /home/u/x", so
 * neither says what a process is. A process is a server when /proc/PID/exe is one of the system's own
 * binaries: a path on a fixed list, a regular file owned by root that nobody else may write. Who runs it
 * says whose its files are: those of a root process are read as root only when root alone could have
 * written them (discover_path_trusted()); those of any other user are read with that user's credentials, in
 * a child process that has dropped root (discover_run_as()). The only program ever run is nginx, from the
 * fixed list, for root's own configuration. */

typedef enum DiscoverServer {
        DISCOVER_NGINX,
        DISCOVER_HAPROXY,
        DISCOVER_POSTGRES,
        _DISCOVER_SERVER_MAX,
        _DISCOVER_SERVER_INVALID = -EINVAL,
} DiscoverServer;

const char *discover_server_to_string(DiscoverServer s) _pure_;

#define DISCOVER_GROUPS_MAX 64

/* The credentials files are read with. uid 0: root, read in this process. Fewer supplementary groups than
 * the process had (more than DISCOVER_GROUPS_MAX) can only mean less access, never more. */
typedef struct DiscoverCred {
        uid_t uid;
        gid_t gid;
        gid_t groups[DISCOVER_GROUPS_MAX];
        size_t n_groups;
} DiscoverCred;

/* The server whose binary a process runs: `exe` is the target of /proc/PID/exe (with " (deleted)" when the
 * binary was replaced since, by a package upgrade), `st` the stat of the running binary itself (through
 * /proc/PID/exe). The path must be on the server's fixed list and the binary pass
 * discover_stat_trusted(). _DISCOVER_SERVER_INVALID otherwise. Pure. */
DiscoverServer discover_server_of_exe(const char *exe, const struct stat *st);

/* The binary to run for a server: the first path of its fixed list that exists and that only root could
 * have written (discover_path_trusted()), or NULL. */
const char *discover_server_binary(DiscoverServer s);

/* Whether only root could have changed what st describes: owned by root and writable by neither group nor
 * others. A sticky directory (/tmp) writable by all passes as a directory on the way (`last` false: others
 * cannot replace root's entries in it), not as the file or directory asked about itself. Pure. */
bool discover_stat_trusted(const struct stat *st, bool last);

/* Whether `path` (with symbolic links resolved) and every directory above it pass discover_stat_trusted().
 * Returns 0, or -EPERM with *ret_reason (may be NULL) a one-line reason ("/home/u/ng.conf is owned by uid
 * 1000") or another -errno (the path cannot be resolved). */
int discover_path_trusted(const char *path, char **ret_reason);

/* The credentials in the text of /proc/PID/status (Uid:, Gid:, Groups:): root when all four uids are 0;
 * otherwise the first non-zero one of effective, real, saved and filesystem uid, and the gid likewise,
 * since a process holding any unprivileged identity must be treated as that user. *ret_ppid (may be NULL)
 * gets PPid:. Returns 0 or -EBADMSG. Pure. */
int discover_parse_status(const char *text, DiscoverCred *ret, pid_t *ret_ppid);

/* The credentials of a user (its primary group and its groups in the user database). A uid that is not
 * there gets its own number as gid and no supplementary group. */
void discover_cred_of_uid(uid_t uid, DiscoverCred *ret);

/* Whom a file in a directory someone else may own is read as: its owner, or the directory's when root owns
 * the file (whoever owns the directory can put anything there). */
void discover_cred_of_path(const char *path, DiscoverCred *ret);

/* "uid 1000 (alice)", or "uid 1000" when the user database does not know it: for messages. */
void discover_user_name(uid_t uid, char *buf, size_t size);

typedef struct DiscoverProcess {
        pid_t pid;
        DiscoverServer server;
        DiscoverCred cred;
        bool same_netns; /* it serves the network namespace discover runs in */
        char *cmdline;   /* NUL-separated arguments, as the process shows them */
        size_t cmdline_size;
        char *unit;  /* the system service systemd runs it in, or NULL */
        char *other; /* the unit systemd names when that is no system service (a scope, user@UID.service) */
} DiscoverProcess;

/* The master processes of the servers on this host (a server process whose parent runs the same server
 * is a worker or backend: left out), in /proc order. Each is read through one /proc/PID directory handle
 * and checked to be alive after its unit was asked for, so a PID reused meanwhile cannot mix two processes.
 * Returns 0 or -ENOMEM. */
int discover_processes(DiscoverProcess **ret, size_t *ret_n);
void discover_processes_free(DiscoverProcess *p, size_t n);

/* Run fn(fd, userdata), which writes its result to fd, with the credentials c: root's in this process,
 * anyone else's in a child that drops to them (setgroups, setgid, setuid; no longer dumpable, so the user
 * cannot take it over) and is killed after 10 s (a file on a hung mount, a child stopped by its user). fn
 * must be safe to run after fork() (discover is single-threaded) and return 0 or -errno; the child's -errno
 * comes back as its exit status. *ret is what fn wrote (at most max bytes: -EFBIG beyond), NUL-terminated.
 * Returns 0 or -errno. */
typedef int (*DiscoverAsFn)(int fd, void *userdata);
int discover_run_as(const DiscoverCred *c, DiscoverAsFn fn, void *userdata, size_t max, char **ret,
                    size_t *ret_size);

/* Run the system's binary of server s (discover_server_binary(); -ENOENT when there is none) with the
 * NULL-terminated arguments args (after argv[0]), an environment of PATH only, stdin and stderr /dev/null,
 * at most 20 s; its standard output into *ret (at most max bytes), NUL-terminated. Nothing else in discover
 * runs a program, so nothing but a binary of the fixed list can be run. Returns 0, -EPROTO when it failed,
 * -ETIMEDOUT, or another -errno. */
int discover_run_server(DiscoverServer s, char *const args[], size_t max, char **ret);

/* The regular file `path` (at most max bytes) as c would read it. Returns 0 or -errno. */
int discover_read_as(const DiscoverCred *c, const char *path, size_t max, char **ret, size_t *ret_size);

/* The system service systemd runs pid in (sd_pid_get_unit()). -ENXIO when systemd names no service of its
 * own, with *ret_other (may be NULL) the unit it names, if any (a session scope, a user's manager
 * user@UID.service: nothing root should reload). -ENODATA when systemd knows nothing of pid. */
int discover_service_of(pid_t pid, char **ret, char **ret_other);
