/* SPDX-License-Identifier: GPL-3.0-or-later */
/* check, status and pin: reading commands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli-internal.h"
#include "check.h"
#include "dns-persist.h"
#include "fd-util.h"
#include "gnutls-util.h"
#include "log.h"
#include "metrics.h"
#include "report.h"
#include "sandbox.h"
#include "token.h"
#include "x509.h"

/* status on a terminal that takes colours (NO_COLOR, TERM=dumb: none). */
static bool use_color(void) {
        const char *term = getenv("TERM");

        return isatty(STDOUT_FILENO) && !getenv("NO_COLOR") && !(term && strcmp(term, "dumb") == 0);
}

static int check_or_status(const CliOptions *o, char **args, bool table) {
        _cleanup_inventory_ Inventory *inv = NULL;
        _cleanup_check_report_ CheckReport *rep = NULL;
        _cleanup_free_ CertConfig **certs = NULL;
        CertState *states = NULL;
        usec_t now = now_realtime();
        int r, ret;

        if (table && args[0])
                return cli_usage_error("status takes no arguments: '%s'", args[0]);
        /* While the daemon runs, it answers from what it knows (bus-client.c). */
        if (!o->no_daemon) {
                BusApiFormat fmt = o->nagios     ? BUS_API_FORMAT_NAGIOS
                                   : o->json     ? BUS_API_FORMAT_JSON
                                   : !table      ? BUS_API_FORMAT_TEXT
                                   : use_color() ? BUS_API_FORMAT_TABLE_COLOR
                                                 : BUS_API_FORMAT_TABLE;
                r = bus_client_check(o->config, args, fmt, stdout);
                if (r != -EHOSTDOWN)
                        return r;
        }
        r = cli_load_selected(o, args, EXIT_CRITICAL, &inv, &certs);
        if (r != 0)
                return r;
        /* An inventory that watches nothing is a mistake (a wrong -c, an empty conf.d/), not a green check.
         * One with internal CAs alone watches their expiry. */
        if (inv->n_certs == 0 && inv->n_ca == 0) {
                _cleanup_free_ char *files = inventory_files_string(inv);

                log_error("no certificate sets in %s", files ?: inv->path);
                if (o->nagios)
                        printf("CERTHERD UNKNOWN - %s\n", log_last_error());
                return EXIT_USAGE;
        }

        /* What the files say, with what the saved state knows (deploy-failed, renewal-failing), and the
         * internal CAs' own certificates. */
        r = check_run(inv, certs, 0, now, &rep);
        if (r >= 0)
                r = check_load_states(inv, rep, &states);
        if (r >= 0) {
                rep->states = states;
                r = check_plan(inv, rep, (PlanFlags){}, now);
        }
        if (r >= 0 && !certs)
                r = check_cas(inv, rep, now);
        if (r >= 0)
                r = check_caa(inv, rep);
        if (r < 0) {
                log_error_errno(r, "Failed to inspect certificates: %m");
                if (rep)
                        cert_states_free(states, rep->n_results);
                return o->nagios ? EXIT_USAGE : EXIT_CRITICAL;
        }
        sandbox_warn(inv);
        persist_warn(inv, certs);
        if (o->json)
                check_next_pins(inv, rep);
        if (inv->agent.metrics_file && (r = metrics_directory_check(inv->agent.metrics_file)) < 0)
                metrics_warn_directory(inv->agent.metrics_file, r);

        if (o->nagios)
                r = report_nagios(inv, rep, stdout);
        else if (o->json)
                r = report_json(rep, stdout);
        else if (table)
                r = report_table(rep, stdout, use_color());
        else
                r = report_lines(rep, stdout);
        ret = rep->worst == SEVERITY_OK        ? EXIT_OK
              : rep->worst == SEVERITY_WARNING ? EXIT_WARNING
                                               : EXIT_CRITICAL;
        rep->states = NULL;
        cert_states_free(states, rep->n_results);
        if (r < 0 || fflush(stdout) != 0) {
                log_error("Failed to write the report: %s", strerror(r < 0 ? -r : errno));
                return EXIT_CRITICAL;
        }
        return ret;
}

int cli_check(const CliOptions *o, char **args) {
        return check_or_status(o, args, false);
}

int cli_status(const CliOptions *o, char **args) {
        return check_or_status(o, args, true);
}

static int pin_of_path(const CliOptions *o, const char *path, const char *password,
                       uint8_t pin[static PIN_SIZE]) {
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_datum_ gnutls_datum_t spki = {};
        size_t size;
        int r;

        if (token_is_url(path)) {
                /* A key in a PKCS#11 token: its public key (PIN, when one is needed, from pin-source= in the
                 * URI or --password-file). */
                r = token_key_pin(path, o->password_file, pin, NULL);
                if (r < 0)
                        return log_error_errno(
                                r, "%s: %s", path,
                                r == -EACCES   ? "no PIN (pin-source= or --password-file) or a wrong one"
                                : r == -ENOENT ? "no such token or object"
                                               : strerror(-r));
                return 0;
        }
        r = read_full_file(path, 64U * 1024U * 1024U, &data, &size);
        if (r < 0)
                return log_error_errno(r, "%s: %s", path, file_strerror(r));
        r = x509_spki_from_data(data, size, password, &spki);
        if (r == -EACCES)
                return log_error_errno(r, "%s: encrypted private key: %s", path,
                                       password ? "the password does not decrypt it"
                                                : "give --password-file");
        if (r < 0)
                return log_error_errno(
                        r, "%s: %s", path,
                        size == 0 ? "empty file"
                                  : "not a certificate, certificate request, public key or private key");
        r = pin_compute(spki.data, spki.size, pin);
        if (r < 0)
                return log_error_errno(r, "%s: cannot hash the public key: %m", path);
        return 0;
}

static int pin_of_file(const CliOptions *o, const char *path, const char *password, char **ret) {
        uint8_t pin[PIN_SIZE];
        int r;

        r = pin_of_path(o, path, password, pin);
        if (r < 0)
                return r;
        r = pin_format(pin, o->pin_format, ret);
        if (r < 0)
                return log_error_errno(r, "Out of memory");
        return 0;
}

int cli_pin(const CliOptions *o, char **args) {
        _cleanup_free_ char *password = NULL;
        json_t *list = NULL;
        size_t n = strv_length(args);
        int r, ret = EXIT_OK;

        if (n == 0)
                return cli_usage_error("%s", "pin needs at least one FILE");
        if (o->password_file) {
                r = read_secret_file(o->password_file, &password);
                if (r < 0) {
                        log_error_errno(r, "%s: %s", o->password_file, file_strerror(r));
                        return EXIT_USAGE;
                }
        }
        if (o->json && !(list = json_array()))
                return EXIT_USAGE;

        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *pin = NULL;

                if (pin_of_file(o, args[i], password, &pin) < 0) {
                        ret = EXIT_USAGE;
                        continue;
                }
                if (list)
                        json_array_append_new(list,
                                              json_pack("{s:s, s:s}", "file", args[i], "pin_sha256", pin));
                else if (n == 1)
                        printf("%s\n", pin);
                else
                        printf("%s  %s\n", pin, args[i]);
        }
        if (list) {
                json_t *root = json_pack("{s:o}", "pins", list);
                json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                putchar('\n');
                json_decref(root);
        }
        if (fflush(stdout) != 0)
                return EXIT_USAGE;
        return ret;
}
