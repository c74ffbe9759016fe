/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "cli-internal.h"
#include "config.h"
#include "log.h"
#include "macro.h"
#include "outcome.h"

#define EXIT_USAGE 3

static char *absolute(const char *p) {
        char cwd[PATH_MAX], *s = NULL;

        if (p[0] == '/')
                return strdup(p);
        if (!getcwd(cwd, sizeof(cwd)) || asprintf(&s, "%s/%s", cwd, p) < 0)
                return NULL;
        return s;
}

/* -EHOSTDOWN, and why in *reterr_why when the caller wants it. */
_printf_(2, 3) static int why_not(char **reterr_why, const char *fmt, ...) {
        va_list ap;

        if (reterr_why) {
                free(*reterr_why);
                *reterr_why = NULL;
                va_start(ap, fmt);
                if (vasprintf(reterr_why, fmt, ap) < 0)
                        *reterr_why = NULL;
                va_end(ap);
        }
        return -EHOSTDOWN;
}

/* The same inventory: the same absolute path as the daemon loaded, or the same file behind both. */
static bool same_inventory(const char *mine, const char *theirs) {
        _cleanup_free_ char *a = absolute(mine), *ra = NULL, *rb = NULL;

        if (a && strcmp(a, theirs) == 0)
                return true;
        ra = realpath(mine, NULL);
        rb = realpath(theirs, NULL);
        return ra && rb && strcmp(ra, rb) == 0;
}

/* The system bus, when a daemon owns org.certherd1 there for this inventory; else -EHOSTDOWN, with why
 * in *reterr_why (when not NULL). */
static int connect_daemon(const char *config_path, sd_bus **ret, char **reterr_why) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *theirs = NULL;
        const char *mine = config_path;
        int r;

        if (!mine) {
                mine = getenv("CERTHERD_CONFIG");
                if (!mine || !*mine)
                        mine = CONFIG_DEFAULT_PATH;
        }
        r = sd_bus_open_system(&bus);
        if (r < 0) {
                log_debug_errno(r, "no system bus (%m): working alone");
                return why_not(reterr_why, "no system bus (%s)", strerror(-r));
        }
        r = sd_bus_get_property_string(bus, BUS_API_NAME, BUS_API_PATH, BUS_API_INTERFACE, "Inventory",
                                       &error, &theirs);
        if (r < 0) {
                log_debug("no certherd daemon on the system bus (%s): working alone",
                          error.message ?: strerror(-r));
                return why_not(reterr_why, "no %s on the system bus (%s)", BUS_API_NAME,
                               error.message ?: strerror(-r));
        }
        if (!same_inventory(mine, theirs)) {
                log_debug("the running daemon serves %s, not %s: working alone", theirs, mine);
                return why_not(reterr_why, "the daemon on the bus serves %s, not %s", theirs, mine);
        }
        *ret = TAKE_PTR(bus);
        return 0;
}

/* Map a refusal to an exit code (or -EHOSTDOWN: ask no more, work alone). */
static int refused(const char *what, const sd_bus_error *e, int r, int fail, bool may_work_alone) {
        /* Only reading falls back: a renew the daemon may have started is not done a second time. */
        if (may_work_alone &&
            sd_bus_error_has_names(e, BUS_API_ERROR_UNSUPPORTED_FORMAT, BUS_API_ERROR_TOO_LARGE,
                                   BUS_API_ERROR_NOT_READY, SD_BUS_ERROR_SERVICE_UNKNOWN,
                                   SD_BUS_ERROR_NAME_HAS_NO_OWNER)) {
                log_debug("the daemon cannot answer %s (%s): working alone", what, e->message ?: e->name);
                return -EHOSTDOWN;
        }
        if (sd_bus_error_has_names(e, BUS_API_ERROR_NO_SUCH_CERTIFICATE, SD_BUS_ERROR_INVALID_ARGS)) {
                log_error("%s", e->message ?: e->name);
                return EXIT_USAGE;
        }
        if (sd_bus_error_has_name(e, SD_BUS_ERROR_NO_REPLY) || r == -ETIMEDOUT)
                log_error("the daemon did not answer %s in time; it may still be at work "
                          "(journalctl -u certherd)",
                          what);
        else
                log_error("the daemon refused %s: %s", what, e->message ?: strerror(-r));
        return fail;
}

/* quiet: an answer of renew that says nothing was due and nothing failed is not printed (renew --quiet). */
static int finish(sd_bus_message *reply, FILE *out, int fail, bool quiet) {
        const char *text;
        int code, r;

        r = sd_bus_message_read(reply, "is", &code, &text);
        if (r < 0) {
                log_error_errno(r, "unexpected answer from the daemon: %m");
                return fail;
        }
        if (quiet && code == 0 && outcome_text_is_idle(text))
                return code;
        if (fputs(text, out) < 0 || fflush(out) != 0) {
                log_error("cannot write the report: %m");
                return fail;
        }
        return code;
}

/* The answer of CheckFd: the exit code and a memfd holding the text. */
static int finish_fd(sd_bus_message *reply, FILE *out, int fail) {
        char buf[65536];
        int code, fd, ofd = fileno(out), r;
        ssize_t k = -1;

        r = sd_bus_message_read(reply, "ih", &code, &fd);
        if (r < 0) {
                log_error_errno(r, "unexpected answer from the daemon: %m");
                return fail;
        }
        if (fflush(out) != 0) {
                log_error("cannot write the report: %m");
                return fail;
        }
        /* In the kernel where it can (megabytes at 10 000 sets); read and write where it cannot (an
         * O_APPEND file, a stream without a descriptor). */
        if (ofd >= 0)
                while ((k = sendfile(ofd, fd, NULL, SSIZE_MAX)) > 0)
                        ;
        if (k < 0) {
                if (ofd >= 0 && errno != EINVAL && errno != ENOSYS) {
                        log_error("cannot copy the report: %m");
                        return fail;
                }
                while ((k = read(fd, buf, sizeof(buf))) > 0)
                        if (fwrite(buf, 1, (size_t) k, out) != (size_t) k)
                                break;
        }
        if (k != 0 || fflush(out) != 0) {
                log_error("cannot copy the report: %m");
                return fail;
        }
        return code;
}

static int call_check(sd_bus *bus, const char *method, char **names, BusApiFormat fmt, sd_bus_error *error,
                      sd_bus_message **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, BUS_API_NAME, BUS_API_PATH, BUS_API_INTERFACE, method);
        if (r >= 0)
                r = sd_bus_message_append_strv(m, names);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", bus_api_format_to_string(fmt));
        if (r < 0)
                return r;
        return sd_bus_call(bus, m, BUS_CLIENT_CHECK_TIMEOUT_USEC, error, ret);
}

int bus_client_check(const char *config_path, char **names, BusApiFormat fmt, FILE *out) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = connect_daemon(config_path, &bus, NULL);
        if (r < 0)
                return r;
        /* The report in a memfd (no copy through the bus daemon, no size limit); over the bus itself when
         * the daemon cannot pass one. */
        r = call_check(bus, "CheckFd", names, fmt, &error, &reply);
        if (r >= 0)
                return finish_fd(reply, out, 2);
        if (!sd_bus_error_has_names(&error, BUS_API_ERROR_NO_SUCH_CERTIFICATE,
                                    BUS_API_ERROR_UNSUPPORTED_FORMAT, BUS_API_ERROR_NOT_READY,
                                    SD_BUS_ERROR_INVALID_ARGS, SD_BUS_ERROR_ACCESS_DENIED,
                                    SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_SERVICE_UNKNOWN)) {
                log_debug("CheckFd: %s; asking Check", error.message ?: strerror(-r));
                sd_bus_error_free(&error);
                r = call_check(bus, "Check", names, fmt, &error, &reply);
                if (r >= 0)
                        return finish(reply, out, 2, false);
        }
        return refused("check", &error, r, 2, true);
}

int bus_client_renew(const char *config_path, char **names, bool force, bool quiet, FILE *out,
                     char **reterr_why) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = connect_daemon(config_path, &bus, reterr_why);
        if (r < 0)
                return r;
        r = sd_bus_message_new_method_call(bus, &m, BUS_API_NAME, BUS_API_PATH, BUS_API_INTERFACE, "Renew");
        if (r >= 0)
                r = sd_bus_message_append_strv(m, names);
        if (r >= 0)
                r = sd_bus_message_append(m, "b", (int) force);
        if (r < 0)
                return log_error_errno(r, "Out of memory"), 1;
        /* polkit may ask the user (an agent on the terminal) before the daemon acts. */
        (void) sd_bus_message_set_allow_interactive_authorization(m, true);
        r = sd_bus_call(bus, m, BUS_CLIENT_RENEW_TIMEOUT_USEC, &error, &reply);
        if (r < 0)
                return refused("renew", &error, r, 1, false);
        return finish(reply, out, 1, quiet);
}
