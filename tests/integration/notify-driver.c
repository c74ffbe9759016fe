/* SPDX-License-Identifier: GPL-3.0-or-later */
/* A small driver of the notify module for the integration tests, so that they exercise the real code:
 *
 *   notify-driver [OPTIONS] unit reload|restart UNIT...     each UNIT in turn, on one bus connection
 *   notify-driver [OPTIONS] verify ENDPOINT CERTFILE         notify_verify against the leaf of CERTFILE
 *   notify-driver [OPTIONS] deploy reload|restart UNIT ENDPOINT CERTFILE   the unit, then verify
 *
 * Options: --timeout SECONDS (default 10, fractions allowed), --cert NAME (CERTHERD_CERT, default
 * "driver"), --journal (events to the journal instead of stderr).
 * Prints one line per step on stdout: "unit UNIT ACTION: R ERRNO-TEXT (S s)" and
 * "verify ENDPOINT: R ERRNO-TEXT (S s)", R being the return value. Exit: 0 when every step returned 0,
 * 1 otherwise, 2 for a usage error. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "fd-util.h"
#include "gnutls-util.h"
#include "log.h"
#include "macro.h"
#include "notify-bus.h"
#include "notify-verify.h"
#include "notify.h"
#include "x509.h"

typedef struct Args {
        usec_t timeout;
        const char *cert;
} Args;

static double now_s(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int leaf_der(const char *path, gnutls_datum_t *ret) {
        _cleanup_free_ uint8_t *data = NULL;
        gnutls_x509_crt_t *crts = NULL;
        unsigned n = 0;
        size_t size;
        int r;

        r = read_full_file(path, 1024 * 1024, &data, &size);
        if (r < 0)
                return log_error_errno(r, "%s: %m", path);
        r = x509_load_crts(data, size, &crts, &n);
        if (r < 0)
                return log_error_errno(r, "%s: no certificate in it", path);
        r = gnutls_x509_crt_export2(crts[0], GNUTLS_X509_FMT_DER, ret);
        x509_crts_free(crts, n);
        return r < 0 ? errno_from_gnutls(r) : 0;
}

static int run_units(const Args *a, const char *action_s, char **units) {
        _cleanup_(notify_bus_freep) NotifyBus *b = NULL;
        UnitAction action = unit_action_from_string(action_s);
        int r, failed = 0;

        if (action < 0 || !*units)
                return 2;
        r = notify_bus_open(&b);
        if (r < 0) {
                printf("bus: %d %s\n", r, strerror(-r));
                log_error_errno(r, "cannot connect to systemd on the system bus: %m");
                return 1;
        }
        for (; *units; units++) {
                double t0 = now_s();

                r = notify_unit(b, action, *units, a->cert, a->timeout, NULL);
                printf("unit %s %s: %d %s (%.3f s)\n", *units, action_s, r, r < 0 ? strerror(-r) : "ok", now_s() - t0);
                fflush(stdout);
                failed |= r < 0;
        }
        return failed;
}

static int run_verify(const Args *a, const char *endpoint, const char *certfile) {
        _cleanup_datum_ gnutls_datum_t der = {};
        double t0;
        int r;

        r = leaf_der(certfile, &der);
        if (r < 0)
                return 1;
        t0 = now_s();
        r = notify_verify(endpoint, der.data, der.size, a->cert, a->timeout, NULL);
        printf("verify %s: %d %s (%.3f s)\n", endpoint, r, r < 0 ? strerror(-r) : "ok", now_s() - t0);
        return r < 0;
}

int main(int argc, char **argv) {
        Args a = { .timeout = 10 * USEC_PER_SEC, .cert = "driver" };
        int i = 1;

        for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
                if (strcmp(argv[i], "--journal") == 0)
                        log_set_target(LOG_TARGET_JOURNAL);
                else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
                        a.timeout = (usec_t) (strtod(argv[++i], NULL) * (double) USEC_PER_SEC);
                else if (strcmp(argv[i], "--cert") == 0 && i + 1 < argc)
                        a.cert = argv[++i];
                else
                        goto usage;
        }
        if (argc - i >= 3 && strcmp(argv[i], "unit") == 0) {
                int r = run_units(&a, argv[i + 1], argv + i + 2);
                if (r != 2)
                        return r;
        } else if (argc - i == 3 && strcmp(argv[i], "verify") == 0)
                return run_verify(&a, argv[i + 1], argv[i + 2]);
        else if (argc - i == 5 && strcmp(argv[i], "deploy") == 0) {
                char *units[] = { argv[i + 2], NULL };
                if (run_units(&a, argv[i + 1], units) != 0)
                        return 1;
                return run_verify(&a, argv[i + 3], argv[i + 4]);
        }
usage:
        fprintf(stderr, "usage: notify-driver [--timeout S] [--cert NAME] [--journal] unit reload|restart UNIT...\n"
                        "       notify-driver [...] verify ENDPOINT CERTFILE\n"
                        "       notify-driver [...] deploy reload|restart UNIT ENDPOINT CERTFILE\n");
        return 2;
}
