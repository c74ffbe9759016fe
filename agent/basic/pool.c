/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "macro.h"
#include "pool.h"

typedef struct Pool {
        size_t n;
        atomic_size_t next;
        atomic_int error;
        pool_fn fn;
        void *userdata;
} Pool;

typedef struct Worker {
        Pool *pool;
        unsigned index;
} Worker;

static void *worker_main(void *userdata) {
        Worker *w = userdata;
        Pool *p = w->pool;

        while (atomic_load_explicit(&p->error, memory_order_relaxed) == 0) {
                size_t i = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
                int r;

                if (i >= p->n)
                        break;
                r = p->fn(w->index, i, p->userdata);
                if (r < 0) {
                        int expected = 0;
                        atomic_compare_exchange_strong(&p->error, &expected, r);
                }
        }
        return NULL;
}

int pool_run(size_t n, unsigned threads, pool_fn fn, void *userdata) {
        _cleanup_free_ pthread_t *tids = NULL;
        _cleanup_free_ Worker *workers = NULL;
        Pool pool = { .n = n, .fn = fn, .userdata = userdata };
        unsigned started = 1;

        if (threads == 0)
                threads = 1;
        tids = calloc(threads, sizeof(pthread_t));
        workers = calloc(threads, sizeof(Worker));
        if (!tids || !workers)
                return -ENOMEM;

        for (unsigned i = 0; i < threads; i++)
                workers[i] = (Worker){ .pool = &pool, .index = i };
        /* If a thread cannot be made, the ones there are (at least the caller) do all the work. */
        for (; started < threads; started++)
                if (pthread_create(&tids[started], NULL, worker_main, &workers[started]) != 0)
                        break;
        worker_main(&workers[0]);
        for (unsigned i = 1; i < started; i++)
                pthread_join(tids[i], NULL);
        return atomic_load(&pool.error);
}

unsigned pool_threads_for(size_t n, size_t per_thread) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        size_t t = cpus > 0 ? (size_t) cpus : 1;

        if (per_thread > 0 && t > (n + per_thread - 1) / per_thread)
                t = (n + per_thread - 1) / per_thread;
        return t > 0 ? (unsigned) t : 1;
}
