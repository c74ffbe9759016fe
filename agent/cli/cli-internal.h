/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "bus-api.h"
#include "config.h"
#include "import-inventory.h"
#include "macro.h"
#include "pin.h"

/* Inside the command line: the options main.c parses, and one entry point per command. Each command family
 * has its file (cli-check.c: check, status, pin; cli-renew.c: renew, recover, run; cli-ca.c: ca …;
 * cli-acme.c: revoke, acme …; cli-adopt.c: import, discover); the rules they apply live in the layers
 * below, these files only call them and print. */

/* Exit codes of docs/cli.md (contract). */
enum {
        EXIT_OK = 0,
        EXIT_WARNING = 1,
        EXIT_CRITICAL = 2,
        EXIT_USAGE = 3,
};

/* Every option of the command line (main.c's table fills it; nothing else is global). */
typedef struct CliOptions {
        const char *config; /* -c */
        bool json;
        const char *format;        /* per command: pin (base64|curl|hex), check (nagios) */
        const char *log_level;     /* --log-level; NULL: $CERTHERD_LOG_LEVEL */
        const char *password_file; /* pin */
        bool force;                /* renew */
        bool quiet;                /* renew */
        const char *reason;        /* revoke, ca revoke */
        const char *ca;            /* ca revoke --ca */
        const char *serial;        /* ca revoke --serial */
        bool csr;                  /* ca init */
        const char *out;           /* ca init --csr, ca sign */
        const char *usage;         /* ca sign */
        const char *validity;      /* ca sign */
        bool reissue;              /* ca rotate */
        bool finish;               /* ca rotate --finish */
        const char *subject;       /* ca sign --subject: the subject to write (default CN = the first SAN) */
        bool keep_subject;         /* ca sign --keep-subject: the request's, each attribute checked */
        bool replace;              /* revoke --replace, ca revoke --replace */
        bool no_daemon;            /* check, status, renew */
        ImportOptions import;      /* import, discover: --config-dir, --write, --state-directory, … */

        /* From --format, once the command is known. */
        PinFormat pin_format;
        bool nagios;
} CliOptions;

typedef int (*CliVerb)(const CliOptions *o, char **args);

/* "certherd: MESSAGE (see certherd --help)" on standard error; returns EXIT_USAGE. */
_printf_(1, 2) int cli_usage_error(const char *fmt, ...);
/* The inventory of -c (tokens initialised). Returns 0, or -EXIT_USAGE (the reason logged, and printed as
 * an UNKNOWN line for --format nagios). */
int cli_load_inventory(const CliOptions *o, Inventory **ret);
/* The inventory's [certificate "name"] or [ca "name"]; NULL (logged) when there is none. */
CertConfig *cli_find_cert(const Inventory *inv, const char *name);
CaConfig *cli_find_ca(const Inventory *inv, const char *name);
/* cli_load_inventory() and its [ca "name"]. Returns 0, or the exit code to end with (logged). */
int cli_load_ca(const CliOptions *o, const char *name, Inventory **ret_inv, const CaConfig **ret_ca);
/* cli_load_inventory(), then the NAME arguments as its certificate sets (none: *ret_certs NULL), for a
 * command that works without the daemon. Returns 0, or the exit code to end with (logged): EXIT_USAGE for
 * an inventory that does not load or an unknown name, `failure` for other errors. */
int cli_load_selected(const CliOptions *o, char **names, int failure, Inventory **ret_inv,
                      CertConfig ***ret_certs);

int cli_check(const CliOptions *o, char **args);
int cli_status(const CliOptions *o, char **args);
int cli_pin(const CliOptions *o, char **args);
int cli_renew(const CliOptions *o, char **args);
int cli_recover(const CliOptions *o, char **args);
int cli_run(const CliOptions *o, char **args);
int cli_ca(const CliOptions *o, char **args);
int cli_revoke(const CliOptions *o, char **args);
int cli_acme(const CliOptions *o, char **args);
int cli_import(const CliOptions *o, char **args);

/* revoke --replace, ca revoke --replace: set `name` renewed at once (a new key: it is revoked) and deployed,
 * by the daemon when it runs, as `renew --force NAME` does. */
int cli_revoke_replace(const CliOptions *o, const char *name);
int cli_discover(const CliOptions *o, char **args);

/* ---- bus-client.c ---- */

/* The CLI side of org.certherd1 (bus-api.h): `check`, `status` and `renew` handed to a running daemon.
 * A daemon counts only when it serves the same inventory (`config_path`: the -c path, or NULL for
 * $CERTHERD_CONFIG, else the default, as config_load() resolves it).
 *
 * Both return the exit code to exit with: the daemon's (its text written to `out`), or, when the daemon
 * refuses, 3 for an unknown NAME or a usage error and otherwise the command's failure code (2 for check,
 * 1 for renew), the reason logged. They return -EHOSTDOWN, having printed nothing, when no daemon answers
 * for this inventory (no system bus, name not owned, another inventory, a report the bus cannot carry):
 * the caller then works alone. bus_client_renew() then says why in *reterr_why (malloc'd; when not NULL),
 * for a caller that finds the daemon's lock taken; with `quiet` it prints nothing of an answer that says
 * nothing was due and nothing failed. */

/* Check is answered at once from the daemon's memory. */
#define BUS_CLIENT_CHECK_TIMEOUT_USEC (30ULL * 1000000ULL)
/* Renew waits for the daemon's batch (a running one first, then the one with these sets). */
#define BUS_CLIENT_RENEW_TIMEOUT_USEC (15ULL * 60ULL * 1000000ULL)

int bus_client_check(const char *config_path, char **names, BusApiFormat fmt, FILE *out);
int bus_client_renew(const char *config_path, char **names, bool force, bool quiet, FILE *out,
                     char **reterr_why);
