/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli-internal.h"
#include "log.h"
#include "token.h"

int cli_usage_error(const char *fmt, ...) {
        va_list ap;

        fputs("certherd: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs(" (see certherd --help)\n", stderr);
        return EXIT_USAGE;
}

int cli_load_inventory(const CliOptions *o, Inventory **ret) {
        _cleanup_free_ char *err = NULL;
        int r;

        r = config_load(o->config, ret, &err);
        if (r < 0) {
                if (err)
                        log_error("%s", err);
                else
                        log_error_errno(r, "Failed to load the inventory: %m");
                if (o->nagios)
                        printf("CERTHERD UNKNOWN - %s\n", log_last_error());
                return -EXIT_USAGE;
        }
        (void) token_init_inventory(*ret); /* logged; each token operation then says what failed */
        return 0;
}

CertConfig *cli_find_cert(const Inventory *inv, const char *name) {
        CertConfig *c = inventory_find_cert(inv, name);

        if (!c)
                log_error("no [certificate \"%s\"] in the inventory %s", name, inv->path);
        return c;
}

CaConfig *cli_find_ca(const Inventory *inv, const char *name) {
        CaConfig *ca = inventory_find_ca(inv, name);

        if (!ca)
                log_error("no [ca \"%s\"] in the inventory %s", name, inv->path);
        return ca;
}

int cli_load_ca(const CliOptions *o, const char *name, Inventory **ret_inv, const CaConfig **ret_ca) {
        _cleanup_inventory_ Inventory *inv = NULL;
        const CaConfig *ca;
        int r;

        r = cli_load_inventory(o, &inv);
        if (r < 0)
                return -r;
        ca = cli_find_ca(inv, name);
        if (!ca)
                return EXIT_USAGE;
        *ret_ca = ca;
        *ret_inv = TAKE_PTR(inv);
        return 0;
}

static int select_certs(const Inventory *inv, char **names, CertConfig ***ret) {
        _cleanup_free_ CertConfig **l = NULL;
        size_t n = strv_length(names);

        if (n == 0) {
                *ret = NULL;
                return 0;
        }
        l = calloc(n + 1, sizeof(CertConfig *));
        if (!l)
                return log_error_errno(-ENOMEM, "Out of memory");
        for (size_t i = 0; i < n; i++) {
                l[i] = cli_find_cert(inv, names[i]);
                if (!l[i])
                        return -EXIT_USAGE;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

int cli_load_selected(const CliOptions *o, char **names, int failure, Inventory **ret_inv,
                      CertConfig ***ret_certs) {
        _cleanup_inventory_ Inventory *inv = NULL;
        int r;

        r = cli_load_inventory(o, &inv);
        if (r < 0)
                return -r;
        r = select_certs(inv, names, ret_certs);
        if (r < 0)
                return r == -EXIT_USAGE ? EXIT_USAGE : failure;
        *ret_inv = TAKE_PTR(inv);
        return 0;
}

int cli_revoke_replace(const CliOptions *o, const char *name) {
        CliOptions renew = *o;

        renew.force = true;
        return cli_renew(&renew, (char *[]){ (char *) name, NULL });
}
