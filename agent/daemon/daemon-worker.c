/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The daemon's worker thread: a pass's act phase (CRLs, ARI, next keys, renewals) away from the event
 * loop, which keeps answering the watchdog and the bus while an ACME order or fsyncs take their time. The
 * thread is handed one PassWork and an eventfd; it touches nothing else (pass.h), and the loop does not
 * touch the work until the eventfd says it is done. */
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "daemon-internal.h"
#include "log.h"

static void *worker_main(void *userdata) {
        Worker *wk = userdata;
        uint64_t one = 1;

        pass_act(wk->work);
        if (write(wk->efd, &one, sizeof(one)) < 0)
                log_error_errno(-errno, "cannot wake the event loop: %m");
        return NULL;
}

static int on_worker_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        uint64_t v;

        (void) read(fd, &v, sizeof(v));
        pthread_join(m->worker.thread, NULL);
        m->worker.running = false;
        pass_finish(m->pass, m->worker.work, now_realtime());
        m->worker.work = NULL;
        bus_api_orders_finish(m->bus); /* the Renew orders of this work, answered from its jobs */
        if (m->exiting)
                return sd_event_exit(m->event, 0);
        if (m->reload_pending) {
                m->reload_pending = false;
                manager_reload(m);
                return 0;
        }
        /* Changes seen while the work ran are marked dirty; the rest of the inventory is as it was. */
        return manager_pass(m, false);
}

int worker_setup(Manager *m) {
        m->worker.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (m->worker.efd < 0)
                return -errno;
        return sd_event_add_io(m->event, &m->worker_done, m->worker.efd, EPOLLIN, on_worker_done, m);
}

int worker_start(Manager *m, PassWork *w) {
        int r;

        m->worker.work = w;
        m->worker.running = true;
        r = pthread_create(&m->worker.thread, NULL, worker_main, &m->worker);
        if (r == 0)
                return 0;
        m->worker.running = false;
        m->worker.work = NULL;
        log_error_errno(-r, "cannot start the renewal thread: %m; renewing on the event loop");
        pass_act(w);
        pass_finish(m->pass, w, now_realtime());
        return -r;
}

void worker_stop(Manager *m) {
        if (m->worker.running)
                pthread_join(m->worker.thread, NULL);
        m->worker.running = false;
        sd_event_source_disable_unref(m->worker_done);
        m->worker_done = NULL;
        if (m->worker.efd >= 0)
                close(m->worker.efd);
        m->worker.efd = -1;
}
