/* SPDX-License-Identifier: GPL-3.0-or-later */
/* renew, recover and run: the commands of a pass and of the daemon. */
#include <stdio.h>
#include <unistd.h>

#include "cli-internal.h"
#include "daemon.h"
#include "fd-util.h"
#include "install.h"
#include "log.h"
#include "outcome.h"
#include "pass.h"
#include "state.h"

/* The lock is taken: by the daemon, which this command could not hand the pass to (nothing would be
 * done, and saying so with exit 0 would hide it), or by another run of a command, which does the work. */
static int lock_taken(const CliOptions *o, const Inventory *inv, const char *unreachable) {
        pid_t pid;

        if (state_lock_daemon(inv->agent.state_directory, &pid) < 0) {
                log_notice("another certherd holds the lock in %s; it does the renewals, exiting",
                           inv->agent.state_directory);
                return EXIT_OK;
        }
        if (o->no_daemon)
                log_error(
                        "the running daemon (pid %d) holds the lock in %s; without --no-daemon, renew hands it "
                        "the pass over D-Bus",
                        (int) pid, inv->agent.state_directory);
        else
                log_error(
                        "the running daemon (pid %d) could not be reached over D-Bus: %s; stop it or fix the "
                        "bus",
                        (int) pid, unreachable ?: "no answer");
        return EXIT_WARNING;
}

int cli_renew(const CliOptions *o, char **args) {
        _cleanup_inventory_ Inventory *inv = NULL;
        _cleanup_free_ CertConfig **certs = NULL;
        _cleanup_(pass_freep) Pass *p = NULL;
        _cleanup_free_ char *unreachable = NULL;
        _cleanup_close_ int lock = -1;
        int r;

        /* While the daemon runs, it does the work (bus-client.c) instead of this process waiting for its
         * lock. */
        if (!o->no_daemon) {
                r = bus_client_renew(o->config, args, o->force, o->quiet, stdout, &unreachable);
                if (r != -EHOSTDOWN)
                        return r;
        }
        r = cli_load_selected(o, args, EXIT_WARNING, &inv, &certs);
        if (r != 0)
                return r;
        for (size_t i = 0; certs && certs[i]; i++)
                if (certs[i]->issuer == ISSUER_NONE) {
                        log_error("%s: issuer = none: certherd only watches this certificate",
                                  certs[i]->name);
                        return EXIT_USAGE;
                }

        lock = pass_prepare(inv, false);
        if (lock == -EWOULDBLOCK)
                return lock_taken(o, inv, unreachable);
        if (lock < 0)
                return EXIT_WARNING;
        pass_recover(inv);

        r = pass_run(inv, certs, (PlanFlags){ .force = o->force }, &p);
        if (r < 0) {
                log_error_errno(r, "Failed to inspect certificates: %m");
                return EXIT_WARNING;
        }
        r = outcome_render_pass(p, o->quiet ? OUTCOME_QUIET : 0, stdout);
        if (fflush(stdout) != 0) {
                log_error("Failed to write the outcome: %m");
                return EXIT_WARNING;
        }
        return r;
}

static void recover_report(const char *name, int r, void *userdata) {
        if (r < 0)
                log_error_errno(r, "%s: cannot recover the interrupted install: %m", name);
        else
                log_notice("%s: recovered an interrupted install (completed or rolled back)", name);
}

/* Boot (certherd-recover.service): finish or undo interrupted installs before services read the pairs. */
int cli_recover(const CliOptions *o, char **args) {
        _cleanup_inventory_ Inventory *inv = NULL;
        _cleanup_close_ int lock = -1;
        bool broken;
        int r;

        if (args[0])
                return cli_usage_error("recover takes no arguments: '%s'", args[0]);
        broken = cli_load_inventory(o, &inv) < 0;
        /* Recovery needs only the state directory: at boot, an inventory that cannot load (a credential
         * only certherd.service has) must not leave a pair broken. The default's, as for an empty one. */
        if (broken && (!(inv = inventory_new()) || config_validate(inv, NULL) < 0))
                return EXIT_USAGE;
        lock = pass_prepare(inv, false);
        if (lock == -EWOULDBLOCK) {
                log_notice("another certherd holds the lock in %s; it recovers interrupted installs itself",
                           inv->agent.state_directory);
                return EXIT_OK;
        }
        if (lock < 0)
                return EXIT_WARNING;
        r = install_recover_all(inv->agent.state_directory, recover_report, NULL);
        return r < 0 ? EXIT_WARNING : broken ? EXIT_USAGE : EXIT_OK;
}

int cli_run(const CliOptions *o, char **args) {
        if (args[0])
                return cli_usage_error("run takes no arguments: '%s'", args[0]);
        return daemon_run(o->config) < 0 ? 1 : 0;
}
