/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <systemd/sd-bus.h>

#include "bus-api.h"
#include "log.h"
#include "macro.h"

/* The daemon side of org.certherd1 (certherd(8), D-BUS INTERFACE). Check is answered at once from the
 * daemon's current report. Renew is an order: checked (root, the daemon's own user or the user certherd;
 * else polkit's org.certherd1.renew), queued, taken into the next batch of the daemon's pass, and
 * answered when that batch is done. Everything here runs on the event loop. */

#define POLKIT_DEST "org.freedesktop.PolicyKit1"
#define POLKIT_PATH "/org/freedesktop/PolicyKit1/Authority"
#define POLKIT_INTERFACE "org.freedesktop.PolicyKit1.Authority"
#define CERTHERD_USER "certherd"

typedef enum OrderState {
        ORDER_AUTHORIZING, /* waiting for polkit */
        ORDER_QUEUED,      /* for the next batch */
        ORDER_IN_BATCH,    /* its sets are in the running batch */
} OrderState;

typedef struct Order Order;
struct Order {
        Order *next;
        BusApi *api;
        sd_bus_message *msg;
        sd_bus_slot *polkit;
        char **names; /* the sets it covers, resolved by the daemon */
        bool all;     /* no NAME given: every renewable set */
        bool force;
        OrderState state;
};

struct BusApi {
        sd_bus *bus;
        sd_event_source *kick;
        const BusApiOps *ops;
        void *ud;
        Order *orders;
};

static const char *const format_table[_BUS_API_FORMAT_MAX] = {
        [BUS_API_FORMAT_TEXT] = "text",
        [BUS_API_FORMAT_TABLE] = "table",
        [BUS_API_FORMAT_TABLE_COLOR] = "table-color",
        [BUS_API_FORMAT_JSON] = "json",
        [BUS_API_FORMAT_NAGIOS] = "nagios",
};

DEFINE_STRING_TABLE(bus_api_format, BusApiFormat, format_table, _BUS_API_FORMAT_MAX)

static Order *order_free(Order *o) {
        if (!o)
                return NULL;
        if (o->api) {
                Order **p = &o->api->orders;
                while (*p && *p != o)
                        p = &(*p)->next;
                if (*p)
                        *p = o->next;
        }
        sd_bus_slot_unref(o->polkit);
        sd_bus_message_unref(o->msg);
        strv_free(o->names);
        free(o);
        return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(Order *, order_free)

static const char *sender_of(sd_bus_message *m) {
        return sd_bus_message_get_sender(m) ?: "?";
}

/* Answer an order with an error and drop it. */
static void order_fail(Order *o, const char *name, const char *message) {
        log_debug("Renew by %s refused: %s", sender_of(o->msg), message);
        (void) sd_bus_reply_method_error(o->msg, &SD_BUS_ERROR_MAKE_CONST(name, message));
        order_free(o);
}

/* Authorized: now it is an order, and the journal says who gave it (a refused one is logged at debug
 * only: a stranger calling Renew in a loop must not fill the journal). */
static void order_queue(Order *o) {
        if (o->all)
                log_info("Renew%s of all sets ordered by %s", o->force ? " --force" : "", sender_of(o->msg));
        else
                log_info("Renew%s of %s%s ordered by %s", o->force ? " --force" : "", o->names[0],
                         o->names[1] ? " and more" : "", sender_of(o->msg));
        o->state = ORDER_QUEUED;
        (void) sd_event_source_set_enabled(o->api->kick, SD_EVENT_ONESHOT);
}

static int on_kick(sd_event_source *s, void *userdata) {
        BusApi *b = userdata;

        b->ops->kick(b->ud);
        return 0;
}

static int polkit_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Order *o = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int authorized = 0, challenge = 0, r;

        o->polkit = sd_bus_slot_unref(o->polkit);
        if (e) {
                /* No polkit (or it failed): only the privileged users of order_authorize() may act. */
                log_debug("polkit did not answer for %s: %s", sender_of(o->msg), e->message ?: e->name);
                order_fail(o, SD_BUS_ERROR_ACCESS_DENIED,
                           "renewing needs root or user " CERTHERD_USER " (polkit is not available)");
                return 0;
        }
        r = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
        if (r >= 0)
                r = sd_bus_message_read(reply, "bb", &authorized, &challenge);
        if (r < 0 || !authorized) {
                order_fail(o, SD_BUS_ERROR_ACCESS_DENIED,
                           challenge ? "renewing needs authentication (polkit action " BUS_API_POLKIT_RENEW
                                       ")"
                                     : "not authorized (polkit action " BUS_API_POLKIT_RENEW ")");
                return 0;
        }
        order_queue(o);
        return 0;
}

static bool user_may_act(uid_t uid) {
        struct passwd pw, *p = NULL;
        char buf[1024];

        if (uid == 0 || uid == geteuid())
                return true;
        return getpwnam_r(CERTHERD_USER, &pw, buf, sizeof(buf), &p) == 0 && p && p->pw_uid == uid;
}

/* Whether the sender of msg is root, the daemon's user or user certherd (who may act without polkit, and
 * who see every detail of a Check). */
static bool sender_may_act(sd_bus_message *msg) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        uid_t uid;

        return sd_bus_query_sender_creds(msg, SD_BUS_CREDS_EUID, &creds) >= 0 &&
               sd_bus_creds_get_euid(creds, &uid) >= 0 && user_may_act(uid);
}

/* Acting needs root, the daemon's user or user certherd; anyone else is asked of polkit (asynchronously:
 * polkit may take its time, the loop must not). Consumes o. */
static void order_authorize(Order *o) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        uint32_t interactive;
        uid_t uid;
        int r;

        r = sd_bus_query_sender_creds(o->msg, SD_BUS_CREDS_EUID, &creds);
        if (r >= 0)
                r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0) {
                order_fail(o, SD_BUS_ERROR_ACCESS_DENIED, "cannot tell who is asking");
                return;
        }
        if (user_may_act(uid)) {
                order_queue(o);
                return;
        }
        interactive = sd_bus_message_get_allow_interactive_authorization(o->msg) > 0;
        r = sd_bus_call_method_async(o->api->bus, &o->polkit, POLKIT_DEST, POLKIT_PATH, POLKIT_INTERFACE,
                                     "CheckAuthorization", polkit_reply, o, "(sa{sv})sa{ss}us",
                                     "system-bus-name", 1, "name", "s", sender_of(o->msg),
                                     BUS_API_POLKIT_RENEW, 0, interactive, "");
        if (r < 0)
                order_fail(o, SD_BUS_ERROR_ACCESS_DENIED, "renewing needs root or user " CERTHERD_USER);
}

static int method_renew(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        BusApi *b = userdata;
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_(order_freep) Order *o = NULL;
        _cleanup_free_ char *err = NULL;
        int force = 0, r;

        r = sd_bus_message_read_strv(msg, &names);
        if (r < 0)
                return r;
        r = sd_bus_message_read(msg, "b", &force);
        if (r < 0)
                return r;

        o = calloc(1, sizeof(*o));
        if (!o)
                return -ENOMEM;
        o->all = !names || !names[0];
        o->force = force;
        r = b->ops->resolve(b->ud, o->all ? NULL : names, &o->names, &err);
        if (r == -ENXIO)
                return sd_bus_error_set(error, BUS_API_ERROR_NO_SUCH_CERTIFICATE,
                                        err ?: "no such certificate");
        if (r == -EINVAL)
                return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "%s", err ?: "invalid argument");
        if (r < 0)
                return r;
        o->msg = sd_bus_message_ref(msg);
        o->api = b;
        o->state = ORDER_AUTHORIZING;
        o->next = b->orders;
        b->orders = o;
        order_authorize(TAKE_PTR(o));
        return 1; /* answered when its batch is done */
}

/* The report a Check or CheckFd asks for, or an error set on `error` (returns < 0). */
/* The report a Check or CheckFd asks for, written to `out`. Returns 0, or a bus error (set in *error). */
static int check_report(BusApi *b, sd_bus_message *msg, sd_bus_error *error, FILE *out, int *ret_exit) {
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_free_ char *err = NULL;
        const char *format;
        BusApiFormat fmt;
        int r, code = 0;

        r = sd_bus_message_read_strv(msg, &names);
        if (r < 0)
                return r;
        r = sd_bus_message_read(msg, "s", &format);
        if (r < 0)
                return r;
        fmt = bus_api_format_from_string(format);
        if (fmt < 0)
                return sd_bus_error_setf(error, BUS_API_ERROR_UNSUPPORTED_FORMAT, "unsupported format '%s'",
                                         format);

        r = b->ops->check(b->ud, names && names[0] ? names : NULL, fmt, !sender_may_act(msg), out, &code,
                          &err);
        if (r == -ENXIO)
                return sd_bus_error_set(error, BUS_API_ERROR_NO_SUCH_CERTIFICATE,
                                        err ?: "no such certificate");
        if (r == -EAGAIN)
                return sd_bus_error_setf(error, BUS_API_ERROR_NOT_READY, "%s", err ?: "not inspected yet");
        if (r < 0)
                return sd_bus_error_set_errnof(error, r, "cannot report: %m");
        log_debug("%s (%s) answered for %s", sd_bus_message_get_member(msg), format, sender_of(msg));
        *ret_exit = code;
        return 0;
}

static int method_check(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f;
        int r, code;

        f = open_memstream(&text, &size);
        if (!f)
                return sd_bus_error_set_errnof(error, ENOMEM, "cannot report: %m");
        r = check_report(userdata, msg, error, f, &code);
        if (fclose(f) != 0 && r >= 0)
                return sd_bus_error_set_errnof(error, ENOMEM, "cannot report: %m");
        if (r < 0)
                return r;
        /* A report the bus cannot carry (too large; not UTF-8) is made by the CLI itself instead. */
        r = size > BUS_API_MAX_TEXT ? -E2BIG : sd_bus_message_new_method_return(msg, &reply);
        if (r >= 0)
                r = sd_bus_message_append(reply, "is", code, text);
        if (r < 0)
                return sd_bus_error_setf(error, BUS_API_ERROR_TOO_LARGE,
                                         "the report cannot travel over the bus: %s", strerror(-r));
        return sd_bus_send(NULL, reply, NULL);
}

/* CheckFd: the report written straight into a memfd, sealed and passed from its start: megabytes of JSON
 * pass without a copy in a memory stream or in the bus daemon, whatever its message size limit. */
static int method_check_fd(sd_bus_message *msg, void *userdata, sd_bus_error *error) {
        _cleanup_close_ int fd = -1;
        FILE *f;
        int r, w, code;

        fd = memfd_create("certherd-report", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        w = fd < 0 ? -errno : fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (w < 0 || !(f = fdopen(w, "w"))) {
                r = w < 0 ? w : -errno;
                if (w >= 0)
                        close(w);
                return sd_bus_error_set_errnof(error, -r, "cannot pass the report: %m");
        }
        (void) setvbuf(f, NULL, _IOFBF, 256 * 1024);
        r = check_report(userdata, msg, error, f, &code);
        w = fclose(f) != 0 ? -errno : 0;
        if (r < 0)
                return r;
        if (w >= 0 && (lseek(fd, 0, SEEK_SET) < 0 ||
                       fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0))
                w = -errno;
        if (w < 0)
                return sd_bus_error_set_errnof(error, -w, "cannot pass the report: %m");
        return sd_bus_reply_method_return(msg, "ih", code, fd);
}

static int property_inventory(sd_bus *bus, const char *path, const char *interface, const char *property,
                              sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        BusApi *b = userdata;
        const char *p = b->ops->inventory_path(b->ud);
        _cleanup_free_ char *abs = NULL;
        char cwd[4096];

        /* Absolute, so that a CLI started elsewhere compares like with like. */
        if (p && p[0] != '/' && getcwd(cwd, sizeof(cwd)) && asprintf(&abs, "%s/%s", cwd, p) < 0)
                return -ENOMEM;
        return sd_bus_message_append(reply, "s", abs ?: p ?: "");
}

static const sd_bus_vtable manager_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Inventory", "s", property_inventory, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_METHOD_WITH_NAMES("Check", "ass", SD_BUS_PARAM(names) SD_BUS_PARAM(format), "is",
                                 SD_BUS_PARAM(exit) SD_BUS_PARAM(text), method_check,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("CheckFd", "ass", SD_BUS_PARAM(names) SD_BUS_PARAM(format), "ih",
                                 SD_BUS_PARAM(exit) SD_BUS_PARAM(text), method_check_fd,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_NAMES("Renew", "asb", SD_BUS_PARAM(names) SD_BUS_PARAM(force), "is",
                                 SD_BUS_PARAM(exit) SD_BUS_PARAM(text), method_renew,
                                 SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

int bus_api_new(sd_event *e, const BusApiOps *ops, void *ud, BusApi **ret) {
        _cleanup_(bus_api_freep) BusApi *b = NULL;
        int r;

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->ops = ops;
        b->ud = ud;
        r = sd_event_add_defer(e, &b->kick, on_kick, b);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(b->kick, SD_EVENT_OFF);
        r = sd_bus_open_system(&b->bus);
        if (r < 0)
                return r;
        r = sd_bus_add_object_vtable(b->bus, NULL, BUS_API_PATH, BUS_API_INTERFACE, manager_vtable, b);
        if (r < 0)
                return r;
        /* Synchronously: a name another daemon holds, or the policy refuses, is a clear warning at start. */
        r = sd_bus_request_name(b->bus, BUS_API_NAME, 0);
        if (r < 0)
                return r;
        r = sd_bus_attach_event(b->bus, e, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(b);
        return 0;
}

BusApi *bus_api_free(BusApi *b) {
        if (!b)
                return NULL;
        while (b->orders)
                order_fail(b->orders, BUS_API_ERROR_STOPPING, "the daemon is stopping");
        sd_event_source_disable_unref(b->kick);
        if (b->bus) {
                (void) sd_bus_detach_event(b->bus);
                sd_bus_flush_close_unref(b->bus);
        }
        free(b);
        return NULL;
}

bool bus_api_forced(BusApi *b, const char *name) {
        for (Order *o = b ? b->orders : NULL; o; o = o->next)
                if (o->state == ORDER_QUEUED && o->force && (o->all || strv_contains(o->names, name)))
                        return true;
        return false;
}

bool bus_api_ordered(BusApi *b, const char *name) {
        for (Order *o = b ? b->orders : NULL; o; o = o->next)
                if (o->state == ORDER_QUEUED && (o->all || strv_contains(o->names, name)))
                        return true;
        return false;
}

void bus_api_orders_start(BusApi *b) {
        for (Order *o = b ? b->orders : NULL; o; o = o->next)
                if (o->state == ORDER_QUEUED)
                        o->state = ORDER_IN_BATCH;
}

/* What became of each set of the order, as `certherd renew` prints it (with a line per renewal: the
 * daemon's log is not the caller's terminal); returns the exit code. */
static int order_render(BusApi *b, Order *o, FILE *f) {
        _cleanup_free_ Outcome *l = calloc(strv_length(o->names) + 1, sizeof(Outcome));
        size_t n = 0;

        if (!l)
                return -ENOMEM;
        for (char **name = o->names; name && *name; name++) {
                l[n] = (Outcome){ .name = *name, .kind = OUTCOME_GONE, .when = USEC_INFINITY };
                b->ops->outcome(b->ud, *name, &l[n]);
                l[n++].name = *name;
        }
        return outcome_render(l, n, OUTCOME_RENEWED_LINES, f);
}

void bus_api_orders_finish(BusApi *b) {
        Order *o, *next;

        for (o = b ? b->orders : NULL; o; o = next) {
                _cleanup_free_ char *text = NULL;
                size_t size = 0;
                FILE *f;
                int code = 1;

                next = o->next;
                if (o->state != ORDER_IN_BATCH)
                        continue;
                f = open_memstream(&text, &size);
                if (f) {
                        code = order_render(b, o, f);
                        if (fclose(f) != 0 || code < 0) {
                                free(text);
                                text = NULL;
                        }
                }
                if (!text || sd_bus_reply_method_return(o->msg, "is", code, text) < 0)
                        (void) sd_bus_reply_method_errorf(o->msg, SD_BUS_ERROR_NO_MEMORY, "cannot answer");
                order_free(o);
        }
}
