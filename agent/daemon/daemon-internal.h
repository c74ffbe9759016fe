/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What the files of the daemon share: the Manager, its watches (daemon-watch.c), its worker
 * (daemon-worker.c) and its answers on the bus (daemon-bus.c). The loop itself is daemon.c. */

#include <pthread.h>
#include <stdbool.h>

#include <systemd/sd-event.h>

#include "bus-api.h"
#include "config.h"
#include "pass.h"

typedef struct Manager Manager;

/* The worker thread: handed one PassWork and the eventfd it signals when done; nothing else. */
typedef struct Worker {
        pthread_t thread;
        bool running;
        PassWork *work;
        int efd;
} Worker;

struct Manager {
        sd_event *event;
        sd_event_source *timer;  /* CLOCK_REALTIME, the pass's deadline */
        sd_event_source *rescan; /* CLOCK_MONOTONIC, debounced inotify */
        sd_event_source *worker_done;
        sd_event_source **watches;
        size_t n_watches;

        char *config_path;
        Inventory *inv;
        Pass *pass; /* its sets are indexed like inv->certs */
        int lock_fd;

        Worker worker;

        bool reload_pending;
        bool rescan_pending;
        bool rescan_all; /* inotify lost events: inspect everything */
        bool exiting;

        BusApi *bus; /* org.certherd1 on the system bus, when there is one (bus-api.h) */
};

/* daemon.c */
int manager_pass(Manager *m, bool all);
void manager_reload(Manager *m);

/* daemon-watch.c: inotify on the directories of every watched file; a change marks its sets dirty and
 * schedules a pass. */
int watches_setup(Manager *m);
void watches_free(Manager *m);
void schedule_rescan(Manager *m);

/* daemon-worker.c: act on `w` on the worker thread; when it is done the loop runs pass_finish and the
 * next pass. Returns 0 or -errno (logged; the work was then done inline). */
int worker_start(Manager *m, PassWork *w);
int worker_setup(Manager *m);
void worker_stop(Manager *m);

/* daemon-bus.c */
extern const BusApiOps daemon_bus_ops;
