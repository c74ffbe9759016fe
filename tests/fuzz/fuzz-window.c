/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer: the maintenance window grammar (`window = Mon..Fri 02:00-04:00, Sat 10:00-12:00`). Whatever
 * the text, window_parse() either refuses it or gives windows that render and parse back to the same
 * list, and whose next window (in UTC and in a zone with daylight saving time) opens before it closes.
 * Seeds: corpus/window/. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char text[512], buf[WINDOW_FORMAT_MAX];
        WindowList w, again;
        usec_t start, end, now = (usec_t)1800000000 * USEC_PER_SEC;

        if (size >= sizeof(text))
                return 0;
        memcpy(text, data, size);
        text[size] = 0;
        if (window_parse(text, &w) < 0)
                return 0;
        assert(w.set && w.n <= WINDOWS_MAX);
        window_format(&w, buf, sizeof(buf));
        assert(window_parse(buf, &again) == 0);
        assert(again.n == w.n);
        for (size_t i = 0; i < w.n; i++)
                assert(
                    again.w[i].days == w.w[i].days && again.w[i].start == w.w[i].start &&
                    again.w[i].end == w.w[i].end);
        for (int zone = 0; zone < 2; zone++) {
                setenv("TZ", zone ? "Europe/Berlin" : "UTC0", 1);
                tzset();
                for (usec_t t = now; t < now + 2 * USEC_PER_WEEK; t += 13 * USEC_PER_HOUR) {
                        assert(window_next(&w, t, &start, &end) == 0);
                        assert(start < end && end > t && (w.n == 0 || start < t + 8 * USEC_PER_DAY));
                }
        }
        return 0;
}
