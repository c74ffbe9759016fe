/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdint.h>
#include <time.h>

typedef uint64_t usec_t;

#define USEC_INFINITY ((usec_t) UINT64_MAX)
#define USEC_PER_SEC ((usec_t) 1000000)
#define USEC_PER_MINUTE ((usec_t) 60 * USEC_PER_SEC)
#define USEC_PER_HOUR ((usec_t) 60 * USEC_PER_MINUTE)
#define USEC_PER_DAY ((usec_t) 24 * USEC_PER_HOUR)
#define USEC_PER_WEEK ((usec_t) 7 * USEC_PER_DAY)
#define USEC_PER_YEAR ((usec_t) 365 * USEC_PER_DAY)

usec_t now_realtime(void);
/* For deadlines and waits: never jumps with the wall clock. */
usec_t now_monotonic(void);

/* "2026-11-23T13:00:00Z" into buf (at least 21 bytes). */
char *format_timestamp_iso(char *buf, size_t size, usec_t t);

/* t in the largest unit, up to `largest` (USEC_PER_DAY, _HOUR, _MINUTE or _SEC), that divides it: "2d",
 * "36h", "90m", "45s", written into buf. NULL when t is no whole number of seconds (buf untouched). */
char *format_usec_whole(usec_t t, usec_t largest, char *buf, size_t size);

/* Parse "90d", "12h", "30m", "45s", "2w", "1y", "1d12h", a bare number (seconds). Returns 0 or -EINVAL. */
int parse_duration(const char *s, usec_t *ret);
