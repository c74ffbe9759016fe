/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "config.h"

/* The value types of the inventory that speak of time on a calendar or over a sliding period:
 * maintenance windows (`window = Mon..Fri 02:00-04:00`) and rate budgets (`max-orders = 300/3h`).
 * Pure: no I/O, no logging; local time comes from localtime_r()/mktime() and thus from TZ. Kept out of
 * config-value.c, which is near the size a file may have. */

static const char *const day_names[7] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat" };
static const char *const day_names_title[7] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };

static const char *skip_space(const char *p) {
        while (*p == ' ' || *p == '\t')
                p++;
        return p;
}

static int parse_day(const char **p) {
        for (int d = 0; d < 7; d++)
                if (strncasecmp(*p, day_names[d], 3) == 0) {
                        *p += 3;
                        return d;
                }
        return -EINVAL;
}

/* "HH:MM", 00:00 to 24:00, as minutes since midnight. */
static int parse_clock(const char **p) {
        const char *s = *p;
        int h, m;

        if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2] != ':' || s[3] < '0' ||
            s[3] > '5' || s[4] < '0' || s[4] > '9')
                return -EINVAL;
        h = (s[0] - '0') * 10 + (s[1] - '0');
        m = (s[3] - '0') * 10 + (s[4] - '0');
        if (h > 24 || (h == 24 && m > 0))
                return -EINVAL;
        *p = s + 5;
        return h * 60 + m;
}

/* DAY or DAY..DAY (wrapping: Fri..Mon is Fri, Sat, Sun, Mon), as a mask of weekdays (bit 0: Sunday). */
static int parse_days(const char **p) {
        int a, b, mask = 0;

        a = parse_day(p);
        if (a < 0)
                return a;
        b = a;
        if (strncmp(*p, "..", 2) == 0) {
                *p += 2;
                b = parse_day(p);
                if (b < 0)
                        return b;
        }
        for (int d = a;; d = (d + 1) % 7) {
                mask |= 1 << d;
                if (d == b)
                        break;
        }
        return mask;
}

/* One window: [DAYS[,DAYS...] ]HH:MM-HH:MM. No days: every day. */
static int parse_one(const char **p, Window *ret) {
        int days = 0, start, end;

        *p = skip_space(*p);
        while ((**p >= 'a' && **p <= 'z') || (**p >= 'A' && **p <= 'Z')) {
                int m = parse_days(p);

                if (m < 0)
                        return m;
                days |= m;
                if (**p == ',')
                        *p = skip_space(*p + 1);
                else if (**p == ' ' || **p == '\t')
                        *p = skip_space(*p);
                else
                        return -EINVAL;
        }
        start = parse_clock(p);
        if (start < 0 || start == 24 * 60 || **p != '-')
                return -EINVAL;
        (*p)++;
        end = parse_clock(p);
        if (end < 0 || end == start)
                return -EINVAL;
        *ret = (Window){ .days = days ?: 0x7f, .start = (unsigned) start, .end = (unsigned) end };
        return 0;
}

int window_parse(const char *s, WindowList *ret) {
        WindowList l = { .set = true };
        const char *p;

        if (!s)
                return -EINVAL;
        p = skip_space(s);
        if (strcasecmp(p, "always") == 0) {
                *ret = l;
                return 0;
        }
        for (;;) {
                Window w;
                int r;

                if (l.n >= WINDOWS_MAX)
                        return -E2BIG;
                r = parse_one(&p, &w);
                if (r < 0)
                        return r;
                l.w[l.n++] = w;
                p = skip_space(p);
                if (*p == 0)
                        break;
                if (*p != ',')
                        return -EINVAL;
                p++;
        }
        *ret = l;
        return 0;
}

/* The local time of minute `minute` (may be 1440: the next midnight) of the day `day_offset` days after
 * the day of `base`: mktime() normalises the fields and finds the offset from UTC of that moment, so a
 * window keeps its wall-clock time across a change to or from daylight saving time. */
static time_t local_at(const struct tm *base, int day_offset, unsigned minute) {
        struct tm t = { .tm_year = base->tm_year,
                        .tm_mon = base->tm_mon,
                        .tm_mday = base->tm_mday + day_offset,
                        .tm_hour = (int) minute / 60,
                        .tm_min = (int) minute % 60,
                        .tm_isdst = -1 };

        return mktime(&t);
}

static usec_t time_to_usec(time_t t) {
        return t <= 0 ? 0 : (usec_t) t * USEC_PER_SEC;
}

int window_next(const WindowList *l, usec_t now, usec_t *ret_start, usec_t *ret_end) {
        usec_t best_start = USEC_INFINITY, best_end = USEC_INFINITY;
        time_t secs = (time_t) (now / USEC_PER_SEC);
        struct tm today;

        if (!l || l->n == 0) {
                *ret_start = 0;
                *ret_end = USEC_INFINITY;
                return 0;
        }
        if (!localtime_r(&secs, &today))
                return -EOVERFLOW;
        /* From yesterday (a window that crosses midnight may still be open) to a week ahead. */
        for (int d = -1; d <= 7; d++) {
                int wday = ((today.tm_wday + d) % 7 + 7) % 7;

                for (size_t k = 0; k < l->n; k++) {
                        const Window *w = &l->w[k];
                        usec_t start, end;

                        if (!(w->days & (1u << wday)))
                                continue;
                        start = time_to_usec(local_at(&today, d, w->start));
                        end = time_to_usec(local_at(&today, w->end > w->start ? d : d + 1, w->end));
                        if (end <= now || start >= best_start)
                                continue;
                        best_start = start;
                        best_end = end;
                }
        }
        if (best_start == USEC_INFINITY)
                return -ENOENT; /* no weekday set: window_parse() never makes such a list */
        *ret_start = best_start;
        *ret_end = best_end;
        return 0;
}

bool window_open(const WindowList *l, usec_t now) {
        usec_t start, end;

        return window_next(l, now, &start, &end) < 0 || start <= now;
}

/* "Mon..Fri 02:00-04:00, Sat 10:00-12:00" (runs of days as ranges), or "always". */
char *window_format(const WindowList *l, char *buf, size_t size) {
        size_t off = 0;

        if (!l || l->n == 0) {
                snprintf(buf, size, "always");
                return buf;
        }
        buf[0] = 0;
        for (size_t k = 0; k < l->n && off < size; k++) {
                const Window *w = &l->w[k];

                off += (size_t) snprintf(buf + off, size - off, "%s", k ? ", " : "");
                /* Runs of days from Monday on, so that Mon..Fri and Sat..Sun read as written. */
                for (int i = 0; w->days != 0x7f && i < 7 && off < size;) {
                        int n = 0;

                        while (i + n < 7 && (w->days & (1u << ((i + n + 1) % 7))))
                                n++;
                        if (n == 0) {
                                i++;
                                continue;
                        }
                        off += (size_t) snprintf(buf + off, size - off, "%s%s%s%s",
                                                 off > 0 && buf[off - 1] != ' ' ? "," : "",
                                                 day_names_title[(i + 1) % 7], n > 1 ? ".." : "",
                                                 n > 1 ? day_names_title[(i + n) % 7] : "");
                        i += n;
                }
                if (w->days != 0x7f && off < size)
                        off += (size_t) snprintf(buf + off, size - off, " ");
                if (off < size)
                        off += (size_t) snprintf(buf + off, size - off, "%02u:%02u-%02u:%02u", w->start / 60,
                                                 w->start % 60, w->end / 60, w->end % 60);
        }
        return buf;
}

int rate_parse(const char *s, RateLimit *ret) {
        unsigned long long n = 0;
        const char *p = s;
        usec_t period;

        if (!s || *p < '0' || *p > '9')
                return -EINVAL;
        for (; *p >= '0' && *p <= '9'; p++) {
                n = n * 10 + (unsigned) (*p - '0');
                if (n > 1000000)
                        return -ERANGE;
        }
        if (n == 0 && *p == 0) {
                *ret = (RateLimit){ .set = true };
                return 0;
        }
        if (*p != '/' || parse_duration(p + 1, &period) < 0 || period == 0 || period > 366 * USEC_PER_DAY)
                return -EINVAL;
        *ret = (RateLimit){ .set = true, .count = (unsigned) n, .period = period };
        return 0;
}
