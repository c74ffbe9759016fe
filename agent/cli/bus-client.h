/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "bus-api.h"

/* The CLI side of org.certherd1 (bus-api.h): `check`, `status` and `renew` handed to a running daemon.
 * A daemon counts only when it serves the same inventory (`config_path`: the -c path, or NULL for
 * $CERTHERD_CONFIG, else the default, as config_load() resolves it).
 *
 * Both return the exit code to exit with: the daemon's (its text written to `out`), or, when the daemon
 * refuses, 3 for an unknown NAME or a usage error and otherwise the command's failure code (2 for check,
 * 1 for renew), the reason logged. They return -EHOSTDOWN, having printed nothing, when no daemon answers
 * for this inventory (no system bus, name not owned, another inventory, a report the bus cannot carry):
 * the caller then works alone. bus_client_renew() then says why in *reterr_why (malloc'd; when not NULL),
 * for a caller that finds the daemon's lock taken; with `quiet` it prints nothing of an answer that says
 * nothing was due and nothing failed. */

/* Check is answered at once from the daemon's memory. */
#define BUS_CLIENT_CHECK_TIMEOUT_USEC (30ULL * 1000000ULL)
/* Renew waits for the daemon's batch (a running one first, then the one with these sets). */
#define BUS_CLIENT_RENEW_TIMEOUT_USEC (15ULL * 60ULL * 1000000ULL)

int bus_client_check(const char *config_path, char **names, BusApiFormat fmt, FILE *out);
int bus_client_renew(
    const char *config_path, char **names, bool force, bool quiet, FILE *out, char **reterr_why);
