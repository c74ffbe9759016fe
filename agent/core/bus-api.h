/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include <systemd/sd-event.h>

#include "macro.h"
#include "outcome.h"
#include "time-util.h"

/* The daemon's D-Bus API on the system bus (certherd(8), section D-BUS INTERFACE; docs/ "bus API"): while
 * `certherd run` runs, `check`, `status` and `renew` are answered by it instead of racing it for the lock.
 * The bus is served on the event loop only; the daemon plugs in through BusApiOps and a few calls in its
 * pass. The names below are a contract (the bus policy and polkit files under units/ repeat them). */

/* Object BUS_API_PATH, interface BUS_API_INTERFACE:
 *   property Inventory s                         the absolute path of the inventory's main file
 *   Check(as names, s format) -> (i exit, s text)  the current report, as `check`/`status` print it
 *   CheckFd(as names, s format) -> (i exit, h fd)  the same text in a sealed memfd (what the CLI uses)
 *   Renew(as names, b force) -> (i exit, s text)   renew in the next batch; answered when it is done
 * Check and CheckFd are open to everyone; Renew needs root, the daemon's user or user certherd, else
 * polkit's BUS_API_POLKIT_RENEW. */
#define BUS_API_NAME "org.certherd1"
#define BUS_API_PATH "/org/certherd1"
#define BUS_API_INTERFACE "org.certherd1.Manager"
#define BUS_API_POLKIT_RENEW "org.certherd1.renew"

/* Errors of the methods (beyond org.freedesktop.DBus.Error.AccessDenied / InvalidArgs). */
#define BUS_API_ERROR_NO_SUCH_CERTIFICATE "org.certherd1.Error.NoSuchCertificate"
#define BUS_API_ERROR_UNSUPPORTED_FORMAT "org.certherd1.Error.UnsupportedFormat"
#define BUS_API_ERROR_TOO_LARGE "org.certherd1.Error.TooLarge"
#define BUS_API_ERROR_NOT_READY "org.certherd1.Error.NotReady"
#define BUS_API_ERROR_STOPPING "org.certherd1.Error.Stopping"

/* A Check reply larger than this is refused (TooLarge: the CLI then inspects alone); the system bus
 * refuses messages over 32 MiB anyway. */
#define BUS_API_MAX_TEXT (24U * 1024U * 1024U)

/* The `format` argument of Check: what `check`, `status` and `--json` print. */
typedef enum BusApiFormat {
        BUS_API_FORMAT_TEXT,        /* check */
        BUS_API_FORMAT_TABLE,       /* status */
        BUS_API_FORMAT_TABLE_COLOR, /* status on a terminal */
        BUS_API_FORMAT_JSON,        /* --json */
        BUS_API_FORMAT_NAGIOS,      /* check --format nagios */
        _BUS_API_FORMAT_MAX,
        _BUS_API_FORMAT_INVALID = -EINVAL,
} BusApiFormat;

const char *bus_api_format_to_string(BusApiFormat f);
BusApiFormat bus_api_format_from_string(const char *s);

typedef struct BusApiOps {
        /* The inventory's main file as the daemon loaded it: a CLI given another one works alone. */
        const char *(*inventory_path)(void *ud);
        /* The current report of the named sets (names NULL: all) as `check`/`status` would print it,
         * written to `out` (a memory stream, or the memfd that carries it: megabytes at 100 000 sets, so
         * written once), and its exit code; `redact` for a caller who may not renew (CheckReport.redact).
         * Returns 0; -ENXIO for an unknown name, -EAGAIN before the first inspection (*ret_error may name
         * why); -errno. */
        int (*check)(void *ud, char **names, BusApiFormat fmt, bool redact, FILE *out, int *ret_exit,
                     char **ret_error);
        /* The sets a Renew order of `names` covers (names NULL: every renewable set; ret: NULL-terminated,
         * malloc'd). Returns 0; -ENXIO for an unknown name, -EINVAL for a set that cannot be renewed
         * (issuer = none), with *ret_error saying which. */
        int (*resolve)(void *ud, char **names, char ***ret, char **ret_error);
        /* Orders are waiting: run a pass (which calls bus_api_orders_start) as soon as no batch runs. */
        void (*kick)(void *ud);
        /* What became of set `name` in the batch just done (or why it was not in it): outcome_of(), or
         * OUTCOME_GONE. The answer is rendered by outcome_render(), as `certherd renew` working alone. */
        void (*outcome)(void *ud, const char *name, Outcome *ret);
} BusApiOps;

typedef struct BusApi BusApi;

/* Connect to the system bus ($DBUS_SYSTEM_BUS_ADDRESS, else the well-known socket), export the object
 * and request the name, all attached to `e`. Returns 0 or -errno (the caller logs it: the daemon works
 * on without the bus). */
int bus_api_new(sd_event *e, const BusApiOps *ops, void *ud, BusApi **ret);
/* Answers every order still waiting with org.certherd1.Error.Stopping, flushes and disconnects. */
BusApi *bus_api_free(BusApi *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(BusApi *, bus_api_free)

/* In the daemon's pass (all accept b == NULL and then do nothing):
 *   bus_api_ordered(b, name) whether a waiting order names set `name` (it is then planned as the one-shot
 *                            `certherd renew NAME` plans it: a failed deploy is retried at once);
 *   bus_api_forced(b, name)  whether a waiting order forces a renewal of set `name` now;
 *   bus_api_orders_start(b)  the waiting orders are in the batch this pass starts (call after choosing the
 *                            jobs: orders arriving later wait for the next batch);
 *   bus_api_orders_finish(b) that batch is done (or none was needed): answer its orders, asking
 *                            ops->outcome for each set. */
bool bus_api_ordered(BusApi *b, const char *name);
bool bus_api_forced(BusApi *b, const char *name);
void bus_api_orders_start(BusApi *b);
void bus_api_orders_finish(BusApi *b);
