/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stddef.h>

/* Run fn(worker, item, userdata) for every item in [0, n) on `threads` threads (the caller's thread is
 * worker 0), handing items out in order through one atomic counter. `worker` < threads lets callers keep
 * per-thread state in an array. fn returns 0 or -errno; the first failure stops the handing out and is
 * returned. */
typedef int (*pool_fn)(unsigned worker, size_t item, void *userdata);
int pool_run(size_t n, unsigned threads, pool_fn fn, void *userdata);

/* One thread per online CPU, at most one per `per_thread` items, at least one. */
unsigned pool_threads_for(size_t n, size_t per_thread);
