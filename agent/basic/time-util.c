/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>

#include "time-util.h"

usec_t now_realtime(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

usec_t now_monotonic(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

char *format_usec_whole(usec_t t, usec_t largest, char *buf, size_t size) {
        static const struct {
                usec_t usec;
                char suffix;
        } units[] = { { USEC_PER_DAY, 'd' },
                      { USEC_PER_HOUR, 'h' },
                      { USEC_PER_MINUTE, 'm' },
                      { USEC_PER_SEC, 's' } };

        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
                if (units[i].usec <= largest && t % units[i].usec == 0) {
                        snprintf(buf, size, "%llu%c", (unsigned long long) (t / units[i].usec),
                                 units[i].suffix);
                        return buf;
                }
        return NULL;
}

char *format_timestamp_iso(char *buf, size_t size, usec_t t) {
        time_t s = (time_t) (t / USEC_PER_SEC);
        struct tm tm;

        if (!gmtime_r(&s, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
                if (size > 0)
                        buf[0] = 0;
        }
        return buf;
}

int parse_duration(const char *s, usec_t *ret) {
        usec_t total = 0;
        bool any = false;

        if (!s)
                return -EINVAL;
        while (isspace((unsigned char) *s))
                s++;
        while (*s) {
                unsigned long long v = 0;
                usec_t unit;

                if (!isdigit((unsigned char) *s))
                        return -EINVAL;
                while (isdigit((unsigned char) *s)) {
                        if (v > (UINT64_MAX - 9) / 10)
                                return -ERANGE;
                        v = v * 10 + (unsigned) (*s++ - '0');
                }
                switch (*s) {
                case 's':
                        unit = USEC_PER_SEC;
                        s++;
                        break;
                case 'm':
                        unit = USEC_PER_MINUTE;
                        s++;
                        break;
                case 'h':
                        unit = USEC_PER_HOUR;
                        s++;
                        break;
                case 'd':
                        unit = USEC_PER_DAY;
                        s++;
                        break;
                case 'w':
                        unit = USEC_PER_WEEK;
                        s++;
                        break;
                case 'y':
                        unit = USEC_PER_YEAR;
                        s++;
                        break;
                case 0:
                case ' ':
                case '\t':
                        unit = USEC_PER_SEC;
                        break;
                default:
                        return -EINVAL;
                }
                if (v > (UINT64_MAX - total) / unit)
                        return -ERANGE;
                total += v * unit;
                any = true;
                while (isspace((unsigned char) *s))
                        s++;
        }
        if (!any)
                return -EINVAL;
        *ret = total;
        return 0;
}
