/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "config.h"

/* certherd.service runs with ProtectSystem=strict: it may write only its state and runtime directories
 * and the ReadWritePaths= of the unit and its drop-ins. A certificate it renews into another directory
 * would fail there, at 3 a.m.; `certherd check` says so beforehand.
 *
 * The paths the installed unit lets the agent write, NULL-terminated, or NULL (*ret) when no unit
 * file is installed (nothing to check). Returns 0 or -ENOMEM. */
int sandbox_writable_paths(char ***ret);

/* Whether `path` lies in one of `writable`. Pure. */
bool sandbox_path_writable(char *const *writable, const char *path);

/* One warning on stderr for each directory a renewing certificate (or the metrics file) installs into
 * that the installed unit's sandbox would not let it write, naming the drop-in to add. */
void sandbox_warn(const Inventory *inv);
