/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "time-util.h"

/* Telling dependents about a new certificate (docs/architecture.md): exec hooks and signals here; systemd units
 * over D-Bus in notify-bus.h, deploy verification in notify-verify.h. Neither function here logs: each
 * returns a negative errno and, when reterr is non-NULL, a malloc'd one-line reason for the caller to log
 * and record. */

typedef struct HookEnv {
        const char *name;         /* CERTHERD_NAME */
        const char *certificate;  /* CERTHERD_CERTIFICATE */
        const char *key;          /* CERTHERD_KEY */
        const char *pin;          /* CERTHERD_PIN */
        const char *previous_pin; /* CERTHERD_PREVIOUS_PIN, may be NULL */
        const char *not_after;    /* CERTHERD_NOT_AFTER, may be NULL */
} HookEnv;

/* Run `command` (split on whitespace, no shell; the first word is the program, looked up in $PATH when
 * it has no '/') with the environment plus CERTHERD_* from env, through spawn_run(): its own process group,
 * only fds 0-2 inherited, at most `timeout` (then the group is killed). Returns 0 when it exited 0;
 * -ENOENT/-EACCES/… when it could not be started; -EPROTO when it failed (non-zero status or a signal);
 * -ETIMEDOUT when it ran out of time. *reterr: "hook '/x' failed with exit status 3",
 * "hook '/x' timed out after 1m; its process group was killed". */
int notify_exec(const char *command, const HookEnv *env, usec_t timeout, char **reterr);

/* Send `sig` to the process whose PID is in `pidfile`, only when all of these hold (the signal rule):
 *   - the pidfile is a regular file (not a symlink, FIFO or device; one hard link), at most
 *     NOTIFY_PIDFILE_MAX bytes, holding one decimal PID > 1 that fits pid_t (notify_parse_pid());
 *   - when `owner` names a user ("user" or "user:group", the set's owner =), the pidfile is owned by root
 *     or by that user;
 *   - the process's real or saved user ID (those kill(2) checks) is the pidfile's owner: whoever can
 *     write the pidfile can have certherd signal only processes they could signal themselves.
 * The process is held through a pidfd (pidfd_open, pidfd_send_signal), so a PID reused between the check
 * and the signal is never hit. Returns 0, or -EBADMSG (bad pidfile content), -EFBIG, -ELOOP/-EINVAL
 * (not a regular file), -EPERM (the rule refused), -ESRCH (no such process), -ENOENT, …; *reterr names the
 * pidfile: "pidfile /run/x.pid: PID 1234 runs as uid 0, not as the pidfile's owner uid 33; not signalled". */
#define NOTIFY_PIDFILE_MAX 64
int notify_signal(int sig, const char *pidfile, const char *owner, char **reterr);

/* Pure: the PID in a pidfile's text. Optional blanks around it (one trailing newline among them), decimal
 * digits only, > 1, fits pid_t. Returns 0 or -EBADMSG. */
int notify_parse_pid(const char *text, size_t size, pid_t *ret);
