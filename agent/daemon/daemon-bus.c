/* SPDX-License-Identifier: GPL-3.0-or-later */
/* org.certherd1 (bus-api.h): the daemon's answers to check, status and renew orders, from its Pass. */
#include <stdio.h>
#include <string.h>

#include "daemon-internal.h"
#include "log.h"
#include "outcome.h"
#include "report.h"

static const char *bus_inventory_path(void *ud) {
        Manager *m = ud;
        return m->inv->path;
}

static int no_such(Manager *m, const char *name, char **ret_error) {
        return asprintf(ret_error, "no [certificate \"%s\"] in the inventory %s", name, m->inv->path) < 0
                       ? -ENOMEM
                       : -ENXIO;
}

static int render(const Inventory *inv, CheckReport *rep, BusApiFormat fmt, FILE *f) {
        if (fmt == BUS_API_FORMAT_JSON)
                return report_json(rep, f);
        if (fmt == BUS_API_FORMAT_NAGIOS)
                return report_nagios(inv, rep, f);
        if (fmt == BUS_API_FORMAT_TEXT)
                return report_lines(rep, f);
        return report_table(rep, f, fmt == BUS_API_FORMAT_TABLE_COLOR);
}

/* The daemon's report of the named sets (in the order named, as `check NAME…` prints them), or of all with
 * the internal CAs' rows, rendered as the CLI would. */
static int bus_check(void *ud, char **names, BusApiFormat fmt, bool redact, FILE *out, int *ret_exit,
                     char **ret_error) {
        Manager *m = ud;
        _cleanup_(pass_view_done) CheckReport v = {};
        _cleanup_free_ size_t *idx = NULL;
        size_t n = strv_length(names);
        int r;

        if (!m->pass || m->pass->passes == 0)
                return -EAGAIN;
        if (names) {
                idx = new0(size_t, n);
                if (!idx)
                        return -ENOMEM;
                for (size_t k = 0; k < n; k++) {
                        idx[k] = pass_find(m->pass, inventory_find_cert(m->inv, names[k]));
                        if (idx[k] == SIZE_MAX)
                                return no_such(m, names[k], ret_error);
                }
        }
        r = pass_view(m->pass, idx, n, &v);
        if (r >= 0 && !names)
                r = check_cas(m->inv, &v, now_realtime()); /* a few files: read afresh */
        if (r < 0)
                return r;
        v.redact = redact;
        if (fmt == BUS_API_FORMAT_JSON)
                check_next_pins(m->inv, &v);
        check_report_recount(&v);
        r = render(m->inv, &v, fmt, out);
        if (r < 0)
                return r;
        *ret_exit = v.worst == SEVERITY_OK ? 0 : v.worst == SEVERITY_WARNING ? 1 : 2;
        return 0;
}

static int bus_resolve(void *ud, char **names, char ***ret, char **ret_error) {
        Manager *m = ud;
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;

        l = calloc((names ? strv_length(names) : m->inv->n_certs) + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; names ? names[i] != NULL : i < m->inv->n_certs; i++) {
                const CertConfig *c = names ? inventory_find_cert(m->inv, names[i]) : m->inv->certs[i];

                if (!c)
                        return no_such(m, names[i], ret_error);
                if (c->issuer == ISSUER_NONE && !names)
                        continue;
                if (c->issuer == ISSUER_NONE)
                        return asprintf(ret_error,
                                        "%s: issuer = none: certherd only watches this certificate",
                                        c->name) < 0
                                       ? -ENOMEM
                                       : -EINVAL;
                if (!(l[n++] = strdup(c->name)))
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static void bus_kick(void *ud) {
        Manager *m = ud;

        /* Running work ends with a pass, which takes the orders. */
        if (!m->worker.running && !m->exiting)
                (void) manager_pass(m, false);
}

/* What became of set `name` in the work just done, or why it was not in it (the renderer of `renew`'s
 * outcome is the CLI's: outcome.h). */
static void bus_outcome(void *ud, const char *name, Outcome *ret) {
        Manager *m = ud;
        size_t i = pass_find(m->pass, inventory_find_cert(m->inv, name));
        const PassSet *s;

        if (i == SIZE_MAX) {
                *ret = (Outcome){ .name = name, .kind = OUTCOME_GONE, .when = USEC_INFINITY };
                return;
        }
        s = &m->pass->sets[i];
        *ret = outcome_of(name, &s->plan, pass_set_state(s), pass_set_job(m->pass, s));
}

const BusApiOps daemon_bus_ops = {
        .inventory_path = bus_inventory_path,
        .check = bus_check,
        .resolve = bus_resolve,
        .kick = bus_kick,
        .outcome = bus_outcome,
};
