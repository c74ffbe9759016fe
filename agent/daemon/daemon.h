/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* `certherd run` (docs/architecture.md, conventions 8): the sd-event loop around the same pipeline the one-shot
 * commands run. One realtime timer armed for the earliest deadline over all certificates (alert,
 * renewal, retry), inotify on the directories of every watched file, SIGHUP to re-read the inventory,
 * SIGTERM to stop, sd_notify READY/STATUS/RELOADING/STOPPING and the watchdog. Renewals run on a worker
 * thread so the loop keeps answering the watchdog while an ACME order or fsyncs take their time.
 * Returns 0 on a clean stop, -errno on a fatal error (logged). */
int daemon_run(const char *config_path);
