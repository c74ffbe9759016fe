/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-bus.h>

#include "log.h"
#include "macro.h"
#include "notify-bus.h"

/* systemd units over sd-bus: ReloadUnit / TryRestartUnit on org.freedesktop.systemd1.Manager, then the
 * job's JobRemoved signal (see org.freedesktop.systemd1(5)). */

#define SYSTEMD_DEST "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER "org.freedesktop.systemd1.Manager"

struct NotifyBus {
        sd_bus *bus;
};

static const struct {
        const char *name, *method, *verb, *past;
} unit_actions[_UNIT_ACTION_MAX] = {
        [UNIT_ACTION_RELOAD] = { "reload", "ReloadUnit", "reload", "reloaded" },
        [UNIT_ACTION_RESTART] = { "restart", "TryRestartUnit", "restart", "restarted" },
};

DEFINE_STRUCT_STRING_TABLE(unit_action, UnitAction, unit_actions, name, _UNIT_ACTION_MAX)

/* A fresh connection, subscribed: systemd then sends JobRemoved for every job, not only ours (ours come
 * either way, as their requester; Subscribe makes that independent of how systemd tracks requesters). */
static int bus_connect(sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0)
                return log_debug_errno(r, "cannot connect to the system bus: %m");
        r = sd_bus_call_method(bus, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, "Subscribe", &error, NULL,
                               NULL);
        if (r < 0)
                return log_debug_errno(r, "systemd refused Subscribe: %s",
                                       error.message ? error.message : strerror(-r));
        *ret = TAKE_PTR(bus);
        return 0;
}

int notify_bus_open(NotifyBus **ret) {
        _cleanup_(notify_bus_freep) NotifyBus *b = NULL;
        int r;

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        r = bus_connect(&b->bus);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(b);
        return 0;
}

NotifyBus *notify_bus_free(NotifyBus *b) {
        if (!b)
                return NULL;
        sd_bus_flush_close_unref(b->bus);
        free(b);
        return NULL;
}

typedef struct JobWait {
        const char *path; /* the job we wait for, once the method reply named it */
        char result[64];  /* its result from JobRemoved: "done", "failed", "canceled", … */
} JobWait;

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        JobWait *w = userdata;
        const char *path, *unit, *result;
        uint32_t id;

        if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0)
                return 0; /* not ours to judge; a malformed signal just does not match */
        if (w->path && !w->result[0] && strcmp(path, w->path) == 0)
                snprintf(w->result, sizeof(w->result), "%s", result);
        return 0;
}

/* Dispatch what came in until our job's JobRemoved was seen. Signals that arrived while sd_bus_call()
 * waited for the reply were queued, not dispatched, so the job path is known before they are looked at. */
static int wait_job(sd_bus *bus, JobWait *w, usec_t deadline) {
        for (;;) {
                usec_t n;
                int r = sd_bus_process(bus, NULL);

                if (r < 0)
                        return r;
                if (w->result[0])
                        return 0;
                if (r > 0)
                        continue;
                n = now_monotonic();
                if (n >= deadline)
                        return -ETIMEDOUT;
                r = sd_bus_wait(bus, deadline - n);
                if (r < 0 && r != -EINTR)
                        return r;
        }
}

/* Logs the event; a failure's message also goes to *reterr (when non-NULL) for the caller to record. */
static int unit_event(char **reterr, bool ok, UnitAction action, const char *unit, const char *cert,
                      const char *extra_field, const char *fmt, ...) _printf_(7, 8);
static int unit_event(char **reterr, bool ok, UnitAction action, const char *unit, const char *cert,
                      const char *extra_field, const char *fmt, ...) {
        char f_unit[300], f_action[48], msg[1024];
        const char *fields[] = { f_unit, f_action, extra_field, NULL };
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        snprintf(f_unit, sizeof(f_unit), "CERTHERD_UNIT=%s", unit);
        snprintf(f_action, sizeof(f_action), "CERTHERD_ACTION=%s", unit_action_to_string(action));
        if (!ok && reterr)
                *reterr = strdup(msg);
        return log_cert_event(ok ? CERT_EVENT_RELOADED : CERT_EVENT_RELOAD_FAILED, cert, fields, "%s", msg);
}

static int call_unit_method(sd_bus *bus, UnitAction action, const char *unit, usec_t timeout,
                            sd_bus_error *error, sd_bus_message **ret_reply) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER,
                                           unit_actions[action].method);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "ss", unit, "replace");
        if (r < 0)
                return r;
        /* 0 would be sd-bus's default of 25 s, not "no time at all". */
        return sd_bus_call(bus, m, timeout > 0 ? timeout : 1, error, ret_reply);
}

int notify_unit(NotifyBus *b, UnitAction action, const char *unit, const char *cert_name, usec_t timeout,
                char **reterr) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        usec_t deadline = timeout == USEC_INFINITY ? USEC_INFINITY : now_monotonic() + timeout;
        const char *verb;
        char field[128];
        JobWait w = {};
        int r;

        assert(b && unit && action >= 0 && action < _UNIT_ACTION_MAX);
        verb = unit_actions[action].verb;

        /* A connection lost to an earlier failure (or a systemd re-exec) is not this unit's problem. */
        if (!b->bus || sd_bus_is_open(b->bus) <= 0) {
                b->bus = sd_bus_flush_close_unref(b->bus);
                r = bus_connect(&b->bus);
                if (r < 0) {
                        unit_event(reterr, false, action, unit, cert_name, NULL,
                                   "cannot %s %s: no system bus: %s", verb, unit, strerror(-r));
                        return r;
                }
        }

        /* The match goes in before the call: a job can finish before its reply has been read. */
        r = sd_bus_match_signal(b->bus, &slot, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, "JobRemoved",
                                on_job_removed, &w);
        if (r >= 0)
                r = call_unit_method(b->bus, action, unit, timeout, &error, &reply);
        if (r < 0) {
                snprintf(field, sizeof(field), "CERTHERD_BUS_ERROR=%s", error.name ? error.name : "(none)");
                /* systemd's own words: "Unit nosuch.service not found." */
                unit_event(reterr, false, action, unit, cert_name, field, "cannot %s %s: %s", verb, unit,
                           error.message ? error.message : strerror(-r));
                return r;
        }
        r = sd_bus_message_read(reply, "o", &w.path);
        if (r < 0) {
                unit_event(reterr, false, action, unit, cert_name, NULL,
                           "cannot %s %s: unexpected reply from systemd: %s", verb, unit, strerror(-r));
                return r;
        }

        r = wait_job(b->bus, &w, deadline);
        if (r < 0) {
                snprintf(field, sizeof(field), "CERTHERD_JOB_RESULT=%s",
                         r == -ETIMEDOUT ? "timeout" : "unknown");
                unit_event(reterr, false, action, unit, cert_name, field,
                           "cannot %s %s: no result for job %s: %s", verb, unit, w.path,
                           r == -ETIMEDOUT ? "timed out waiting for JobRemoved" : strerror(-r));
                return r;
        }
        snprintf(field, sizeof(field), "CERTHERD_JOB_RESULT=%s", w.result);
        if (strcmp(w.result, "done") != 0) {
                unit_event(reterr, false, action, unit, cert_name, field,
                           "cannot %s %s: job %s finished with result '%s'", verb, unit, w.path, w.result);
                return -EIO;
        }
        unit_event(NULL, true, action, unit, cert_name, field, "%s %s (job %s: %s)",
                   unit_actions[action].past, unit, w.path, w.result);
        return 0;
}
