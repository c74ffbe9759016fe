/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "time-util.h"

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

/* systemd units over D-Bus (org.freedesktop.systemd1 on the system bus; $DBUS_SYSTEM_BUS_ADDRESS is
 * honoured, which is how tests reach a container's systemd). */
typedef struct NotifyBus NotifyBus;

/* Connects and subscribes to the manager's signals. A NotifyBus is for one thread at a time; a lost
 * connection (systemd re-executed) is re-opened by the next notify_unit(). Returns 0 or -errno. */
int notify_bus_open(NotifyBus **ret);
NotifyBus *notify_bus_free(NotifyBus *b);
static inline void notify_bus_freep(NotifyBus **b) {
        notify_bus_free(*b);
}

typedef enum UnitAction {
        UNIT_ACTION_RELOAD,  /* ReloadUnit, "replace" */
        UNIT_ACTION_RESTART, /* TryRestartUnit, "replace" */
        _UNIT_ACTION_MAX,
        _UNIT_ACTION_INVALID = -22,
} UnitAction;

const char *unit_action_to_string(UnitAction a) _pure_; /* "reload", "restart" */
UnitAction unit_action_from_string(const char *s) _pure_;

/* Ask systemd to reload/restart `unit` and wait (at most `timeout`) for the job's JobRemoved signal.
 * Logs a `reloaded` event (CERTHERD_UNIT) for result "done", a `reload-failed` event with the result
 * otherwise (also for a unit that does not exist: systemd's error message verbatim), with
 * CERTHERD_CERT=cert_name; reload-failed also carries CERTHERD_JOB_RESULT (the job's result, or
 * "timeout" when no JobRemoved came in time) or CERTHERD_BUS_ERROR (the D-Bus error name when systemd
 * refused the call). Each call stands alone: a failure leaves the bus usable for the next unit.
 * Returns 0 when the job finished "done"; -EIO for another result, -ETIMEDOUT, or the -errno of the
 * D-Bus error (-ENOENT for a unit that does not exist). */
int notify_unit(NotifyBus *b, UnitAction action, const char *unit, const char *cert_name, usec_t timeout);

/* Deploy verification: connect to `endpoint` ("tls://HOST:PORT" or "tls://HOST:PORT?starttls=postgres",
 * the PostgreSQL SSLRequest preamble done here), do a GnuTLS handshake (no trust check: we compare) and
 * compare the served leaf with `expected_der`, retrying until it matches or `timeout` passes.
 * A HOST that is a name is also sent as SNI. Attempts come every 20 ms for half a second (nginx serves a
 * new certificate ~120 ms after its reload job is done), then back off to 250 ms; the first attempt always
 * gets at least 1 s.
 * Logs deploy-verified, or deploy-mismatch with the served serial and pin (CERTHERD_PIN: the served pin),
 * both with CERTHERD_ENDPOINT; an endpoint still unreachable at the deadline is a deploy-mismatch too, saying
 * why. Returns 0 when it matched, -EPROTO on mismatch, -EINVAL for a malformed endpoint, -errno when the
 * endpoint could not be reached (-ECONNREFUSED, -ETIMEDOUT, -EPROTONOSUPPORT: PostgreSQL said no to SSL). */
int notify_verify(const char *endpoint, const uint8_t *expected_der, size_t expected_size, const char *cert_name,
                  usec_t timeout);

typedef enum NotifyStarttls {
        NOTIFY_STARTTLS_NONE,
        NOTIFY_STARTTLS_POSTGRES,
        _NOTIFY_STARTTLS_MAX,
        _NOTIFY_STARTTLS_INVALID = -22,
} NotifyStarttls;

typedef struct NotifyEndpoint {
        char host[256]; /* without the brackets of an IPv6 literal */
        char port[6];
        bool host_is_ip;
        NotifyStarttls starttls;
} NotifyEndpoint;

/* Parse "tls://HOST:PORT[?starttls=postgres]" (HOST: a name, an IPv4 or a bracketed IPv6 address).
 * Pure, for config validation too. Returns 0 or -EINVAL. */
int notify_endpoint_parse(const char *s, NotifyEndpoint *ret);
