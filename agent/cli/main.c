/* SPDX-License-Identifier: GPL-3.0-or-later */
/* certherd: parse the options into one CliOptions and hand the command to its file (cli-internal.h). */
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-internal.h"
#include "log.h"
#include "privilege.h"

/* The commands, each a bit: an option names the commands it applies to. */
enum {
        VERB_CHECK = 1 << 0,
        VERB_STATUS = 1 << 1,
        VERB_PIN = 1 << 2,
        VERB_RENEW = 1 << 3,
        VERB_RUN = 1 << 4,
        VERB_RECOVER = 1 << 5,
        VERB_CA = 1 << 6,
        VERB_REVOKE = 1 << 7,
        VERB_ACME = 1 << 8,
        VERB_IMPORT = 1 << 9,
        VERB_DISCOVER = 1 << 10,
};

typedef struct Verb {
        const char *name;
        unsigned id;
        CliVerb run;
} Verb;

static const Verb verb_table[] = {
        { "check", VERB_CHECK, cli_check },
        { "status", VERB_STATUS, cli_status },
        { "pin", VERB_PIN, cli_pin },
        { "renew", VERB_RENEW, cli_renew },
        { "run", VERB_RUN, cli_run },
        { "recover", VERB_RECOVER, cli_recover },
        { "ca", VERB_CA, cli_ca },
        { "revoke", VERB_REVOKE, cli_revoke },
        { "acme", VERB_ACME, cli_acme },
        { "import", VERB_IMPORT, cli_import },
        { "discover", VERB_DISCOVER, cli_discover },
};

/* Where a group of options applies, and the rule said when one is given elsewhere ("RULE, not to 'VERB'").
 * Checked in this order. */
typedef struct OptionScope {
        unsigned verbs;
        const char *rule;
} OptionScope;

enum {
        SCOPE_NONE, /* every command */
        SCOPE_FORCE,
        SCOPE_QUIET,
        SCOPE_REASON,
        SCOPE_CA_REVOKE,
        SCOPE_CA,
        SCOPE_REPLACE,
        SCOPE_IMPORT,
        SCOPE_WRITE,
        SCOPE_PASSWORD_FILE,
        SCOPE_FORMAT,
        _SCOPE_MAX,
};

static const OptionScope scope_table[_SCOPE_MAX] = {
        [SCOPE_FORCE] = { VERB_RENEW, "--force applies to renew only" },
        [SCOPE_QUIET] = { VERB_RENEW, "--quiet applies to renew only" },
        [SCOPE_REASON] = { VERB_REVOKE | VERB_CA, "--reason applies to revoke and ca revoke only" },
        [SCOPE_CA_REVOKE] = { VERB_CA, "--ca and --serial apply to ca revoke only" },
        [SCOPE_CA] = { VERB_CA,
                       "--csr, --out, --usage, --validity, --subject, --keep-subject, --reissue and --finish "
                       "apply to ca only" },
        [SCOPE_REPLACE] = { VERB_REVOKE | VERB_CA, "--replace applies to revoke and ca revoke only" },
        [SCOPE_IMPORT] = { VERB_IMPORT,
                           "--config-dir, --state-directory and --disable-source apply to import only" },
        [SCOPE_WRITE] = { VERB_IMPORT | VERB_DISCOVER, "--write applies to import and discover only" },
        [SCOPE_PASSWORD_FILE] = { VERB_PIN, "--password-file applies to pin only" },
        [SCOPE_FORMAT] = { VERB_PIN | VERB_CHECK, "--format applies to pin and check only" },
};

typedef enum OptionAction {
        OPTION_SET, /* a bool (no argument) or a const char * (the argument) at `offset` in CliOptions */
        OPTION_HELP,
        OPTION_VERSION,
} OptionAction;

typedef struct CliOption {
        const char *name;
        int has_arg;
        char short_name; /* 0: long only */
        OptionAction action;
        size_t offset;
        int scope;
} CliOption;

#define FIELD(f) OPTION_SET, offsetof(CliOptions, f)

/* Every option (a new one is a line here, a field in CliOptions and, when it applies to some commands
 * only, a scope). */
static const CliOption option_table[] = {
        { "config", required_argument, 'c', FIELD(config), SCOPE_NONE },
        { "json", no_argument, 0, FIELD(json), SCOPE_NONE },
        { "format", required_argument, 0, FIELD(format), SCOPE_FORMAT },
        { "password-file", required_argument, 0, FIELD(password_file), SCOPE_PASSWORD_FILE },
        { "force", no_argument, 0, FIELD(force), SCOPE_FORCE },
        { "quiet", no_argument, 0, FIELD(quiet), SCOPE_QUIET },
        { "reason", required_argument, 0, FIELD(reason), SCOPE_REASON },
        { "ca", required_argument, 0, FIELD(ca), SCOPE_CA_REVOKE },
        { "serial", required_argument, 0, FIELD(serial), SCOPE_CA_REVOKE },
        { "log-level", required_argument, 0, FIELD(log_level), SCOPE_NONE },
        { "csr", no_argument, 0, FIELD(csr), SCOPE_CA },
        { "out", required_argument, 0, FIELD(out), SCOPE_CA },
        { "usage", required_argument, 0, FIELD(usage), SCOPE_CA },
        { "validity", required_argument, 0, FIELD(validity), SCOPE_CA },
        { "reissue", no_argument, 0, FIELD(reissue), SCOPE_CA },
        { "finish", no_argument, 0, FIELD(finish), SCOPE_CA },
        { "subject", required_argument, 0, FIELD(subject), SCOPE_CA },
        { "keep-subject", no_argument, 0, FIELD(keep_subject), SCOPE_CA },
        { "replace", no_argument, 0, FIELD(replace), SCOPE_REPLACE },
        { "config-dir", required_argument, 0, FIELD(import.config_dir), SCOPE_IMPORT },
        { "write", required_argument, 0, FIELD(import.write), SCOPE_WRITE },
        { "state-directory", required_argument, 0, FIELD(import.state_directory), SCOPE_IMPORT },
        { "disable-source", no_argument, 0, FIELD(import.disable_source), SCOPE_IMPORT },
        { "no-daemon", no_argument, 0, FIELD(no_daemon), SCOPE_NONE },
        { "help", no_argument, 'h', OPTION_HELP, 0, SCOPE_NONE },
        { "version", no_argument, 0, OPTION_VERSION, 0, SCOPE_NONE },
};

/* getopt's value for option i: its short name, else past every character. */
#define OPTION_KEY(i) (option_table[i].short_name ?: 0x100 + (int) (i))

static void help(void) {
        printf("Usage: certherd [-c FILE] [--json] COMMAND [ARGS]\n"
               "\n"
               "Watch, renew, install and pin TLS certificates.\n"
               "\n"
               "Commands:\n"
               "  check [NAME...]        inspect every (or the named) certificate; exit 0 ok, 1 warning, 2 "
               "critical\n"
               "  status                 the same facts as a table\n"
               "  pin FILE...            SPKI SHA-256 pin of a certificate, key, CSR or public key\n"
               "  renew [NAME...]        renew what is due (or, with --force, everything named), install, "
               "publish\n"
               "  ca init NAME           create the internal CA NAME's key and certificate (--csr: a request "
               "instead)\n"
               "  ca import NAME CERT    install the certificate signed for the request of ca init --csr\n"
               "  ca sign CA CSR         sign a request made elsewhere (--usage, --validity, --out)\n"
               "  ca rotate NAME         new CA key and certificate, the old kept for the overlap (--reissue)\n"
               "  ca rotate --finish NAME\n"
               "                         end the overlap: drop the previous generation from bundle and CRL\n"
               "  ca list CA             the certificates the internal CA CA issued (--json)\n"
               "  ca revoke NAME         revoke set NAME's certificate at its internal CA (--reason R, --replace);\n"
               "                         or\n"
               "  ca revoke --ca CA --serial HEX   by serial; re-signs the CRL\n"
               "  revoke NAME            revoke the installed certificate at its ACME server (--reason R, --replace)\n"
               "  acme rollover NAME     replace the account key of [acme \"NAME\"] (RFC 8555 key change)\n"
               "  acme ari CERTIFICATE   the ACME server's renewal window for it (RFC 9773) and when to renew\n"
               "  acme profiles NAME     the certificate profiles [acme \"NAME\"]'s server offers\n"
               "  acme persist-record CERTIFICATE\n"
               "                         the dns-persist-01 TXT records to publish for its names\n"
               "  recover                finish or roll back interrupted installs (at boot)\n"
               "  import certbot|certmonger|acme.sh [DIR]\n"
               "                         an inventory (and ACME accounts) from another tool's files\n"
               "  discover               a watch-only inventory of the certificates this host serves\n"
               "  run                    the agent: watch, alert, renew, install, notify (certherd.service)\n"
               "\n"
               "Options:\n"
               "  -c, --config FILE      inventory (default $CERTHERD_CONFIG, else %s)\n"
               "      --json             machine-readable output\n"
               "      --format FMT       pin: base64 (default), curl (sha256//...), hex; check: nagios\n"
               "      --log-level L      debug, info (default), notice, warning, err ($CERTHERD_LOG_LEVEL)\n"
               "      --password-file F  password of an encrypted private key (pin)\n"
               "      --force            renew even what is not due (renew)\n"
               "      --quiet            renew: print nothing when nothing was due and nothing failed\n"
               "      --config-dir DIR   import certbot: certbot's directory (default /etc/letsencrypt)\n"
               "      --write FILE       import, discover: write the inventory to FILE (a new file), not "
               "stdout\n"
               "      --state-directory D  import: where ACME accounts go (default: the inventory's)\n"
               "      --disable-source   import certbot: rename renewal/NAME.conf so certbot stops renewing "
               "it\n"
               "      --reason R         revocation reason: key-compromise, superseded, "
               "cessation-of-operation, ...\n"
               "                         (RFC 5280; keyCompromise-style spellings and numbers too)\n"
               "      --ca CA            ca revoke: the internal CA of --serial\n"
               "      --serial HEX       ca revoke: the serial to revoke\n"
               "      --csr              ca init: write a request for an offline parent instead of a "
               "certificate\n"
               "      --out FILE         ca init --csr, ca sign: where to write (- for stdout)\n"
               "      --usage U          ca sign: server, client (default) or server+client\n"
               "      --validity D       ca sign: lifetime of the certificate (default: the CA's validity)\n"
               "      --subject DN       ca sign: the subject to write (default: CN = the first name)\n"
               "      --keep-subject     ca sign: keep the request's subject, each attribute checked\n"
               "      --reissue          ca rotate: re-issue the CA's certificates now, not after rotate-overlap\n"
               "      --finish           ca rotate: end the overlap once no leaf of the old generation is installed\n"
               "      --replace          revoke, ca revoke: renew the set at once with a new key and deploy it\n"
               "      --no-daemon        check, status, renew: work alone even while certherd run is running\n"
               "  -h, --help             show this help\n"
               "      --version          show the version\n"
               "\n"
               "Exit status 3: configuration or usage error. See certherd(8).\n",
               CONFIG_DEFAULT_PATH);
}

static bool option_given(const CliOptions *o, const CliOption *opt) {
        const char *p = (const char *) o + opt->offset;

        if (opt->has_arg == no_argument)
                return *(const bool *) p;
        return *(const char *const *) p != NULL;
}

static void option_set(CliOptions *o, const CliOption *opt, const char *arg) {
        char *p = (char *) o + opt->offset;

        if (opt->has_arg == no_argument)
                *(bool *) p = true;
        else
                *(const char **) p = arg;
}

/* Fill `o` from argv; returns -1 to go on, else the exit code (after --help, --version or a usage error). */
static int parse_argv(int argc, char *argv[], CliOptions *o) {
        struct option longopts[ELEMENTSOF(option_table) + 1] = {};
        char shortopts[2 * ELEMENTSOF(option_table) + 2] = ":";
        size_t n = 1;
        int c;

        for (size_t i = 0; i < ELEMENTSOF(option_table); i++) {
                longopts[i] = (struct option){ option_table[i].name, option_table[i].has_arg, NULL,
                                               OPTION_KEY(i) };
                if (option_table[i].short_name) {
                        shortopts[n++] = option_table[i].short_name;
                        if (option_table[i].has_arg == required_argument)
                                shortopts[n++] = ':';
                }
        }
        opterr = 0;
        while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) >= 0) {
                const CliOption *opt = NULL;

                for (size_t i = 0; i < ELEMENTSOF(option_table) && !opt; i++)
                        if (c == OPTION_KEY(i))
                                opt = &option_table[i];
                if (c == ':')
                        return cli_usage_error("option '%s' needs an argument", argv[optind - 1]);
                if (!opt)
                        return cli_usage_error("unknown option '%s'", argv[optind - 1]);
                switch (opt->action) {
                case OPTION_HELP:
                        help();
                        return EXIT_OK;
                case OPTION_VERSION:
                        printf("certherd %s\n", CERTHERD_VERSION);
                        return EXIT_OK;
                default:
                        option_set(o, opt, optarg);
                }
        }
        return -1;
}

static int set_log_level(const CliOptions *o) {
        const char *level = o->log_level ?: getenv("CERTHERD_LOG_LEVEL");
        int l;

        if (!level || !level[0])
                return 0;
        l = log_level_from_string(level);
        if (l < 0)
                return cli_usage_error("invalid %s '%s': expected debug, info, notice, warning or err",
                                       o->log_level ? "--log-level" : "$CERTHERD_LOG_LEVEL", level);
        log_set_max_level(l);
        return 0;
}

/* Every option given applies to `verb` (NULL: unknown); --format read for its command. */
static int check_scopes(CliOptions *o, const Verb *verb, const char *name) {
        unsigned id = verb ? verb->id : 0;

        for (int s = SCOPE_NONE + 1; s < _SCOPE_MAX; s++)
                for (size_t i = 0; i < ELEMENTSOF(option_table); i++)
                        if (option_table[i].scope == s && option_given(o, &option_table[i]) &&
                            !(scope_table[s].verbs & id))
                                return cli_usage_error("%s, not to '%s'", scope_table[s].rule, name);
        /* --format is per command: a pin's encoding, or check's monitoring-plugins line. */
        if (o->format && id == VERB_PIN) {
                o->pin_format = pin_format_from_string(o->format);
                if (o->pin_format < 0)
                        return cli_usage_error("invalid --format '%s' for pin: expected base64, curl or hex",
                                               o->format);
        } else if (o->format && id == VERB_CHECK) {
                if (strcmp(o->format, "nagios") != 0)
                        return cli_usage_error("invalid --format '%s' for check: expected nagios",
                                               o->format);
                if (o->json)
                        return cli_usage_error("%s", "--format nagios and --json exclude each other");
                o->nagios = true;
        }
        return 0;
}

int main(int argc, char *argv[]) {
        CliOptions o = { .pin_format = PIN_FORMAT_BASE64 };
        const Verb *verb = NULL;
        int r;

        r = parse_argv(argc, argv, &o);
        if (r >= 0)
                return r;
        if (set_log_level(&o) != 0)
                return EXIT_USAGE;
        if (optind >= argc)
                return cli_usage_error("%s", "missing command");
        for (size_t i = 0; i < ELEMENTSOF(verb_table) && !verb; i++)
                if (strcmp(verb_table[i].name, argv[optind]) == 0)
                        verb = &verb_table[i];
        if (check_scopes(&o, verb, argv[optind]) != 0)
                return EXIT_USAGE;
        if (!verb)
                return cli_usage_error("unknown command '%s'", argv[optind]);
        /* Root acting on the files of the user that owns the state directory acts as that user
         * (privilege.h), so that the service finds its files as it left them. */
        if (privilege_prepare(verb->name, o.import.write != NULL, o.config) < 0)
                return EXIT_WARNING;
        return verb->run(&o, argv + optind + 1);
}
