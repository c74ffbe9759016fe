/* SPDX-License-Identifier: GPL-3.0-or-later */
/* import and discover: an inventory from what is already on the host. */
#include <string.h>

#include "cli-internal.h"
#include "discover.h"
#include "import-acmesh.h"
#include "import-certbot.h"
#include "import-certmonger.h"

int cli_import(const CliOptions *o, char **args) {
        ImportOptions io = o->import;

        io.config = o->config;
        if (!args[0])
                return cli_usage_error("%s", "usage: certherd import certbot|certmonger|acme.sh [DIR]");
        if (io.config_dir && strcmp(args[0], "certbot") != 0)
                return cli_usage_error("--config-dir applies to import certbot only, not to '%s'", args[0]);
        if (io.disable_source && strcmp(args[0], "certbot") != 0)
                return cli_usage_error("--disable-source applies to import certbot only, not to '%s'",
                                       args[0]);
        if (strcmp(args[0], "certbot") == 0) {
                if (args[1])
                        return cli_usage_error("import certbot takes no arguments (--config-dir DIR): '%s'",
                                               args[1]);
                return import_certbot(&io);
        }
        if (strcmp(args[0], "certmonger") == 0) {
                if (args[1] && args[2])
                        return cli_usage_error("%s", "usage: certherd import certmonger [DIR]");
                return import_certmonger(&io, args[1]);
        }
        if (strcmp(args[0], "acme.sh") == 0) {
                if (!args[1] || args[2])
                        return cli_usage_error(
                                "%s",
                                "usage: certherd import acme.sh DIR (acme.sh's home, e.g. ~/.acme.sh)");
                return import_acmesh(&io, args[1]);
        }
        return cli_usage_error("unknown import source '%s': expected certbot, certmonger or acme.sh",
                               args[0]);
}

int cli_discover(const CliOptions *o, char **args) {
        if (args[0])
                return cli_usage_error("discover takes no arguments: '%s'", args[0]);
        return discover_run(&o->import);
}
