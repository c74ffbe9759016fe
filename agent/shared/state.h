/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "time-util.h"

/* Per-certificate state that outlives the process (docs/architecture.md): renewal failures and their backoff,
 * the last renewal and its error, the alert last sent, and the outcome of the last deploy, in
 * STATE_DIR/certs/NAME.json. The ACME order in flight lives with the ACME client (STATE_DIR/acme/).
 * Also the state directory itself and the lock daemon and timer mode share (docs/operation.md). */

#define CERT_STATE_ISSUED_MAX 8

typedef struct CertState {
        unsigned failures;   /* consecutive failed renewals */
        usec_t last_attempt; /* of a renewal */
        usec_t next_retry;   /* 0: none scheduled */
        usec_t last_renewal; /* of a successful one */
        char *last_error;    /* why the last renewal failed (NULL after a success) */
        int alert_level;     /* AlertLevel of the last alert sent */
        usec_t alert_last;   /* when it was sent */

        /* Deploy (units, signal, exec hook, verify) of the installed certificate. */
        bool deploy_failed;       /* kept until a later deploy of this set succeeds */
        unsigned deploy_failures; /* consecutive failed deploys, for the backoff */
        usec_t deploy_time;       /* of the last deploy, ok or failed; 0: never */
        char *deploy_step; /* the failed step: "exec /bin/false", "reload nginx.service", "verify tls://…" */
        char *deploy_error;
        char *deploy_serial; /* serial (hex) of the certificate the last deploy was for */

        /* ACME: a certificate was issued but refused by our own validation (a wrong `ca`, say). It is kept
         * (STATE/certs/NAME.pending.pem and .key) and nothing is ordered again while the inputs have this
         * fingerprint (check_inputs_fingerprint). NULL: not held. */
        char *held_inputs;
        /* ACME: the profile (draft-ietf-acme-profiles) the installed certificate was ordered under; NULL:
         * none named, or not ACME. A token of at most 64 characters [A-Za-z0-9._-]. */
        char *profile;

        /* Issuance history, for the planner's guard against renewal loops (policy_plan). The times of the
         * last automatic (not --force) issuances, newest first; the serial issued last; the problems (a
         * mask of 1 << ProblemCode) that caused that renewal and how many renewals in a row left them in
         * place; the inputs' fingerprint right after it (check_inputs_fingerprint). */
        usec_t issued[CERT_STATE_ISSUED_MAX];
        unsigned n_issued;
        char *issued_serial;
        unsigned renew_cause;
        unsigned ineffective;
        char *issued_inputs;
        /* ACME: when to ask the server's renewal window (RFC 9773) again, from its Retry-After; 0: at
         * the next pass. Kept here so that the timer's runs honour it as the daemon does. */
        usec_t ari_next;
} CertState;

void cert_state_done(CertState *st);
/* Whether every field is zero (the state of a set that never renewed, deployed or alerted). Keep in step
 * with the struct. */
bool cert_state_is_empty(const CertState *st);

/* Load NAME's state; a missing file is the zero state. A file that is not JSON, or a field of the wrong
 * type or out of range, is -EBADMSG (and *ret untouched, nothing leaked): the caller starts from zero,
 * state is advisory, never a reason not to run. */
int state_load(const char *state_dir, const char *name, CertState *ret);

/* Parse a state file's text (state_load's parser; also for the fuzzer). */
int state_parse(const char *text, size_t size, CertState *ret);

/* Save NAME's state atomically. Returns 0 or -errno. */
int state_save(const char *state_dir, const char *name, const CertState *st);

/* The state directory, created (0700) when missing. Returns 0 or -errno (logged). */
int state_directory(const char *state_dir);

/* Take the lock shared by daemon and timer mode (STATE_DIR/lock) and note the holder's pid in it.
 * Returns an fd ≥ 0, -EWOULDBLOCK when another certherd holds it (wait = false), or -errno (logged). */
int state_lock(const char *state_dir, bool wait);
/* The daemon, holding the lock `fd`, notes itself as "PID daemon": from then on a command that finds the
 * lock taken and cannot reach the daemon over D-Bus knows nothing will be done for it. Returns 0 or -errno
 * (logged at debug level: the note is advisory). */
int state_lock_note_daemon(int fd);
/* The pid of the daemon that holds the lock, as state_lock_note_daemon() noted it. Returns 0; -ESRCH when
 * the holder noted is no daemon or no longer runs; -errno when the lock cannot be read. Logs nothing. */
int state_lock_daemon(const char *state_dir, pid_t *ret_pid);
