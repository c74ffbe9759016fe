/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "macro.h"
#include "time-util.h"

/* systemd units over D-Bus (org.freedesktop.systemd1 on the system bus; $DBUS_SYSTEM_BUS_ADDRESS is
 * honoured, which is how tests reach a container's systemd). */
typedef struct NotifyBus NotifyBus;

/* Connects and subscribes to the manager's signals. A NotifyBus is for one thread at a time; a lost
 * connection (systemd re-executed) is re-opened by the next notify_unit(). Returns 0 or -errno. */
int notify_bus_open(NotifyBus **ret);
NotifyBus *notify_bus_free(NotifyBus *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(NotifyBus *, notify_bus_free)

typedef enum UnitAction {
        UNIT_ACTION_RELOAD,  /* ReloadUnit, "replace"; polkit verb "reload" */
        UNIT_ACTION_RESTART, /* TryRestartUnit, "replace"; polkit verb "try-restart" (never starts a unit) */
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
 * D-Bus error (-ENOENT for a unit that does not exist). On failure, when reterr is non-NULL, *reterr is a
 * malloc'd one-line reason, the reload-failed event's message ("cannot reload nginx.service: job
 * /org/freedesktop/systemd1/job/42 finished with result 'failed'"). */
int notify_unit(NotifyBus *b, UnitAction action, const char *unit, const char *cert_name, usec_t timeout,
                char **reterr);
