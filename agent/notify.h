/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stddef.h>

/* Telling dependents about a new certificate (DESIGN.md §2): exec hooks and signals here; systemd units
 * over D-Bus join them with the daemon. */

typedef struct HookEnv {
        const char *name;         /* CERTHERD_NAME */
        const char *certificate;  /* CERTHERD_CERTIFICATE */
        const char *key;          /* CERTHERD_KEY */
        const char *pin;          /* CERTHERD_PIN */
        const char *previous_pin; /* CERTHERD_PREVIOUS_PIN, may be NULL */
        const char *not_after;    /* CERTHERD_NOT_AFTER, may be NULL */
} HookEnv;

/* Run `command` (split on whitespace, no shell; the first word is the program, looked up in $PATH when
 * it has no '/') with the environment plus CERTHERD_* from env, wait for it. Returns 0 when it exited 0;
 * -ENOENT when it could not be started; -EPROTO when it failed (*ret_status: exit status, or 128+signal). */
int notify_exec(const char *command, const HookEnv *env, int *ret_status);

/* Send `sig` to the process whose PID is in `pidfile`. Returns 0 or -errno (-ESRCH: no such process). */
int notify_signal(int sig, const char *pidfile);
