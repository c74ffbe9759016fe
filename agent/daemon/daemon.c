/* SPDX-License-Identifier: GPL-3.0-or-later */
/* `certherd run`: the sd-event loop around the pass (pass.h). Begin and finish run here, act on the
 * worker thread (daemon-worker.c); the timer is armed for the pass's deadline, inotify marks sets dirty
 * (daemon-watch.c), the bus brings orders (daemon-bus.c). */
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "acme.h"
#include "daemon-internal.h"
#include "daemon.h"
#include "log.h"
#include "outcome.h"
#include "token.h"

static Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        bus_api_free(m->bus); /* answers orders still waiting */
        worker_stop(m);
        watches_free(m);
        sd_event_source_disable_unref(m->timer);
        sd_event_source_disable_unref(m->rescan);
        sd_event_unref(m->event);
        pass_free(m->pass);
        inventory_free(m->inv);
        free(m->config_path);
        if (m->lock_fd >= 0)
                close(m->lock_fd);
        free(m);
        return NULL;
}

static void manager_freep(Manager **m) {
        manager_free(*m);
}

static void format_in(char *buf, size_t size, usec_t delta) {
        if (delta >= 2 * USEC_PER_DAY)
                snprintf(buf, size, "%" PRIu64 " days", delta / USEC_PER_DAY);
        else if (delta >= 2 * USEC_PER_HOUR)
                snprintf(buf, size, "%" PRIu64 " h", delta / USEC_PER_HOUR);
        else if (delta >= 2 * USEC_PER_MINUTE)
                snprintf(buf, size, "%" PRIu64 " min", delta / USEC_PER_MINUTE);
        else
                snprintf(buf, size, "%" PRIu64 " s", delta / USEC_PER_SEC);
}

/* When the set renews next, as STATUS= tells it (USEC_INFINITY: never). */
static usec_t set_due(const PassSet *s, usec_t now) {
        switch (s->plan.action) {
        case PLAN_RENEW:
        case PLAN_DEPLOY:
                return now;
        case PLAN_BACKOFF:
                return s->plan.retry;
        case PLAN_HELD:
                return USEC_INFINITY;
        default:
                return s->plan.due;
        }
}

/* What the loop may know of running work: what begin planned, never what the worker adds. */
static void status_work(const Manager *m, char *buf, size_t size) {
        const PassWork *w = m->worker.work;

        if (w->n_due > 0)
                snprintf(buf, size, "; renewing %zu", w->n_due);
        else if (w->crls)
                snprintf(buf, size, "; signing CRLs");
        else if (w->n_ari > 0)
                snprintf(buf, size, "; asking ACME renewal windows");
        else
                snprintf(buf, size, "; publishing %zu pin%s", w->n_pins, w->n_pins == 1 ? "" : "s");
}

/* "12 certificates: 1 deploy failed, 10 ok, 1 expiring in 6 days; next renewal nginx in 3 h": the failing
 * sets first (outcome_status, from the pass's view). */
static void notify_status(Manager *m, usec_t now) {
        const Pass *p = m->pass;
        _cleanup_(pass_view_done) CheckReport v = {};
        size_t next = SIZE_MAX;
        usec_t next_due = USEC_INFINITY;
        char status[512], in[32];
        int k;

        for (size_t i = 0; i < p->n_sets; i++) {
                usec_t due = set_due(&p->sets[i], now);

                if (due != USEC_INFINITY && (next == SIZE_MAX || due < next_due)) {
                        next = i;
                        next_due = due;
                }
        }
        if (pass_view(p, NULL, 0, &v) < 0)
                k = snprintf(status, sizeof(status), "%zu certificate%s", p->n_sets,
                             p->n_sets == 1 ? "" : "s");
        else {
                check_report_recount(&v);
                k = outcome_status(&v, status, sizeof(status));
        }
        if (k < 0 || (size_t) k >= sizeof(status))
                k = (int) strlen(status);
        if (m->worker.running)
                status_work(m, status + k, sizeof(status) - (size_t) k);
        else if (next != SIZE_MAX) {
                format_in(in, sizeof(in), next_due > now ? next_due - now : 0);
                snprintf(status + k, sizeof(status) - (size_t) k, "; next renewal %s in %s",
                         p->sets[next].cert->name, in);
        }
        (void) sd_notifyf(false, "STATUS=%s", status);
}

static int arm_timer(Manager *m, usec_t deadline) {
        int r;

        if (deadline == USEC_INFINITY)
                return sd_event_source_set_enabled(m->timer, SD_EVENT_OFF);
        r = sd_event_source_set_time(m->timer, deadline);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(m->timer, SD_EVENT_ONESHOT);
}

static bool orders_name(void *ud, const char *name) {
        return bus_api_ordered(ud, name);
}

static bool orders_force(void *ud, const char *name) {
        return bus_api_forced(ud, name);
}

/* One pass: begin here; act on the worker when there is work, and finish when it is done (at once when
 * there is none); arm the one timer for the pass's deadline: nothing wakes the agent in between. */
int manager_pass(Manager *m, bool all) {
        PassOrders orders = { .ordered = orders_name, .forced = orders_force, .ud = m->bus };
        usec_t now = now_realtime();
        PassWork *w = NULL;
        int r;

        r = pass_begin(m->pass, all || m->rescan_all, (PlanFlags){}, &orders, now, &w);
        m->rescan_all = false;
        if (r < 0)
                return r;
        r = arm_timer(m, m->pass->deadline);
        if (r < 0)
                return log_error_errno(r, "cannot arm the timer: %m");
        /* The waiting orders are in this work; orders arriving later wait for the next. */
        bus_api_orders_start(m->bus);
        if (w)
                (void) worker_start(m, w);
        else
                pass_finish(m->pass, NULL, now);
        if (!m->worker.running)
                bus_api_orders_finish(m->bus);
        notify_status(m, now);
        /* The inspection ran on every core, and glibc keeps what each thread's arena freed: hand it back, so
         * that the agent at rest holds what it needs and no more (idle RSS at 10 000 sets). */
        if (!m->worker.running)
                (void) malloc_trim(0);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        if (m->worker.running)
                return 0;
        return manager_pass(m, true);
}

static int manager_load(Manager *m, Inventory *inv) {
        Pass *p = NULL;
        int r;

        /* An install a crash interrupted is finished (or undone) before anything is inspected. */
        pass_recover(inv);
        r = pass_new(inv, NULL, true, NULL, &p);
        if (r < 0)
                return log_error_errno(r, "Out of memory");
        /* The states of the old inventory go with it. */
        pass_free(m->pass);
        m->pass = p;
        if (m->inv != inv)
                inventory_free(m->inv);
        m->inv = inv;
        if (watches_setup(m) < 0)
                return log_error_errno(-ENOMEM, "Out of memory");
        return 0;
}

void manager_reload(Manager *m) {
        _cleanup_free_ char *err = NULL;
        Inventory *inv = NULL;
        int r;

        (void) sd_notify(false, "RELOADING=1\nSTATUS=Reloading the inventory");
        r = config_load(m->config_path, &inv, &err);
        if (r < 0) {
                log_error("inventory not reloaded, keeping the running one: %s", err ?: strerror(-r));
                (void) sd_notify(false, "READY=1");
                notify_status(m, now_realtime());
                return;
        }
        if (strcmp(inv->agent.state_directory, m->inv->agent.state_directory) != 0)
                log_warning("state-directory changed to %s; the lock stays on %s until restart, ignoring",
                            inv->agent.state_directory, m->inv->agent.state_directory);
        if (manager_load(m, inv) < 0 || manager_pass(m, true) < 0) {
                (void) sd_event_exit(m->event, -ENOMEM);
                return;
        }
        log_info("inventory reloaded: %zu certificates", m->inv->n_certs);
        (void) sd_notify(false, "READY=1");
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        if (m->worker.running)
                m->reload_pending = true; /* the inventory the worker reads stays until it is done */
        else
                manager_reload(m);
        return 0;
}

static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        (void) sd_notify(false, "STOPPING=1\nSTATUS=Stopping");
        m->exiting = true;
        /* A renewal in flight finishes its install first: never leave half a pair to recover. */
        if (!m->worker.running)
                return sd_event_exit(m->event, 0);
        /* ACME waits and transfers end at once (orders stay persisted); installs still finish. */
        acme_cancel_all();
        log_info("waiting for %zu renewal(s) in flight", m->worker.work->n_due);
        return 0;
}

static int manager_signals(Manager *m) {
        sigset_t mask;
        int r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        /* Blocked before any thread starts, so the renewal threads inherit the mask and signals reach the
         * signalfd of the loop. */
        if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0)
                return -EINVAL;
        if ((r = sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup, m)) < 0 ||
            (r = sd_event_add_signal(m->event, NULL, SIGTERM, on_sigterm, m)) < 0 ||
            (r = sd_event_add_signal(m->event, NULL, SIGINT, on_sigterm, m)) < 0)
                return r;
        return 0;
}

static int manager_new(const char *config_path, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->worker.efd = m->lock_fd = -1;
        if (config_path && !(m->config_path = strdup(config_path)))
                return -ENOMEM;
        r = sd_event_default(&m->event);
        if (r < 0)
                return r;
        r = manager_signals(m);
        if (r < 0)
                return r;
        r = sd_event_add_time(m->event, &m->timer, CLOCK_REALTIME, USEC_INFINITY, USEC_PER_SEC, on_timer, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(m->timer, SD_EVENT_OFF);
        r = worker_setup(m);
        if (r < 0)
                return r;
        /* WATCHDOG=1 at half of WatchdogSec=, when systemd asks for it. */
        r = sd_event_set_watchdog(m->event, true);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

int daemon_run(const char *config_path) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_free_ char *err = NULL;
        Inventory *inv = NULL;
        int r;

        /* Where log lines go is decided on first use: decide it before the worker thread logs too. */
        (void) log_get_target();
        /* At rest, the agent holds its inventory, its sets' plans and their facts (a FactsStore), all in
         * large blocks, and what the inspection threads and the worker freed should go back to the system.
         * glibc keeps it: small chunks sit in fast bins that only malloc_trim() merges, and it merges them
         * into the top of each thread's arena, which it then trims only for the main thread's arena, and
         * only past a threshold that grows with every large block freed (up to 64 MiB). Without fast bins
         * every free merges at once, and a fixed threshold makes the free that merges a thread arena's top
         * give back all but 128 KiB of it (100 000 sets at rest: 88 MiB → 70 MiB). */
        (void) mallopt(M_MXFAST, 0);
        (void) mallopt(M_TRIM_THRESHOLD, 128 * 1024);
        r = manager_new(config_path, &m);
        if (r < 0)
                return log_error_errno(r, "cannot set up the event loop: %m");
        r = config_load(config_path, &inv, &err);
        if (r < 0) {
                log_error("%s", err ?: strerror(-r));
                return r;
        }
        (void) token_init_inventory(inv); /* the PKCS#11 modules stay those of the first load */
        /* certherd-renew.service may be at work: wait for it (docs/operation.md); then recover and load. */
        m->lock_fd = pass_prepare(inv, true);
        if (m->lock_fd < 0) {
                inventory_free(inv);
                return m->lock_fd;
        }
        r = manager_load(m, inv);
        if (r < 0)
                return r;
        r = manager_pass(m, true);
        if (r < 0)
                return r;
        r = bus_api_new(m->event, &daemon_bus_ops, m, &m->bus);
        if (r < 0)
                log_warning_errno(
                        r, "cannot serve %s on the system bus: %m; check, status and renew work alone",
                        BUS_API_NAME);
        /* Only now: a command that finds the lock taken while the first pass runs is right that it does the
         * renewals; from here on one that cannot reach the bus is told the daemon holds the lock. */
        (void) state_lock_note_daemon(m->lock_fd);
        log_info("watching %zu certificates", m->inv->n_certs);
        (void) sd_notify(false, "READY=1");

        r = sd_event_loop(m->event);
        worker_stop(m);
        if (r < 0)
                return log_error_errno(r, "event loop failed: %m");
        return 0;
}
