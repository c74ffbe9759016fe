/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once
/* (Not spawn.h: that name is libc's <spawn.h>, which agent/ on the include path would shadow.) */

#include "time-util.h"

/* Running the operator's programs (exec hooks, dns-hook) so that none can hang certherd or outlive its
 * welcome: its own process group, nothing inherited but stdin/stdout/stderr, and a deadline. */

/* Between SIGTERM and SIGKILL to the process group of a program that ran out of time. */
#define SPAWN_KILL_GRACE (1 * USEC_PER_SEC)

/* Run argv[0] (a path, or a name looked up in $PATH) with argv and envp (NULL: the current environment)
 * and wait for it, at most `timeout` (USEC_INFINITY: no limit). The child runs in a new process group with
 * default signal dispositions and an empty signal mask, and inherits file descriptors 0-2 only (every other
 * one is closed at exec, whatever its O_CLOEXEC flag: libcurl's socket pair, a lock file, a pipe).
 * When the deadline passes the whole group gets SIGTERM, then SIGKILL once the program itself has exited or
 * SPAWN_KILL_GRACE has passed, and the program is reaped: nothing it started in its group survives.
 * (A program that moves its children into a group of their own escapes this; systemd's cgroup does not.)
 * Returns 0 when the program exited with status 0. Otherwise a negative errno and, when reterr is non-NULL,
 * a malloc'd reason without the program's name ("failed with exit status 3", "killed by signal KILL",
 * "timed out after 1s; its process group was killed", "cannot execute: No such file or directory"):
 *   -EPROTO      it exited with another status or was killed by a signal;
 *   -ETIMEDOUT   it ran out of time;
 *   -ENOENT, -EACCES, -ENOEXEC, …  it could not be started (the error of execve(), or of the $PATH lookup);
 *   -ENOMEM, -EAGAIN, …  fork() or a pipe failed. */
int spawn_run(char *const argv[], char *const envp[], usec_t timeout, char **reterr);

/* "1s", "1.5s", "2m", "1h" for messages. */
char *spawn_format_timeout(usec_t t, char *buf, size_t size);
