/* SPDX-License-Identifier: GPL-3.0-or-later */
/* certherd: argument parsing and dispatch to commands; nothing else (DESIGN.md §2). */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "acme.h"
#include "bus-client.h"
#include "ca-pki.h"
#include "ca.h"
#include "ca-index.h"
#include "compromised-keys.h"
#include "crl.h"
#include "dns-persist.h"
#include "check.h"
#include "daemon.h"
#include "discover.h"
#include "config.h"
#include "fd-util.h"
#include "install.h"
#include "gnutls-util.h"
#include "import-acmesh.h"
#include "import-certbot.h"
#include "import-certmonger.h"
#include "import-inventory.h"
#include "log.h"
#include "pass.h"
#include "pin.h"
#include "renew.h"
#include "report.h"
#include "sandbox.h"
#include "state.h"
#include "token.h"
#include "x509.h"

/* Exit codes of DESIGN.md §4 (contract). */
enum {
        EXIT_OK = 0,
        EXIT_WARNING = 1,
        EXIT_CRITICAL = 2,
        EXIT_USAGE = 3,
};

static const char *arg_config = NULL;
static bool arg_json = false;
static const char *arg_format = NULL; /* per command: pin (base64|curl|hex), check (nagios) */
static PinFormat arg_pin_format = PIN_FORMAT_BASE64;
static bool arg_nagios = false;
static const char *arg_password_file = NULL;
static bool arg_force = false;
static const char *arg_reason = NULL;
static const char *arg_ca = NULL;     /* ca revoke --ca */
static const char *arg_serial = NULL; /* ca revoke --serial */
/* issue 11 (ca init --csr, ca sign, ca rotate) */
static bool arg_csr = false;
static const char *arg_out = NULL;
static const char *arg_usage = NULL;
static const char *arg_validity = NULL;
static bool arg_reissue = false;
static ImportOptions arg_import = {};
static bool arg_no_daemon = false;

static void help(void) {
        printf("Usage: certherd [-c FILE] [--json] COMMAND [ARGS]\n"
               "\n"
               "Watch, renew, install and pin TLS certificates.\n"
               "\n"
               "Commands:\n"
               "  check [NAME...]        inspect every (or the named) certificate; exit 0 ok, 1 warning, 2 critical\n"
               "  status                 the same facts as a table\n"
               "  pin FILE...            SPKI SHA-256 pin of a certificate, key, CSR or public key\n"
               "  renew [NAME...]        renew what is due (or, with --force, everything named), install, publish\n"
               "  ca init NAME           create the internal CA NAME's key and certificate (--csr: a request instead)\n"
               "  ca import NAME CERT    install the certificate signed for the request of ca init --csr\n"
               "  ca sign CA CSR         sign a request made elsewhere (--usage, --validity, --out)\n"
               "  ca rotate NAME         new CA key and certificate, the old kept for the overlap (--reissue)\n"
               "  ca list CA             the certificates the internal CA CA issued (--json)\n"
               "  ca revoke NAME         revoke set NAME's certificate at its internal CA (--reason R); or\n"
               "  ca revoke --ca CA --serial HEX   by serial; re-signs the CRL\n"
               "  revoke NAME            revoke the installed certificate at its ACME server (--reason R)\n"
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
               "      --config-dir DIR   import certbot: certbot's directory (default /etc/letsencrypt)\n"
               "      --write FILE       import, discover: write the inventory to FILE (a new file), not stdout\n"
               "      --state-directory D  import: where ACME accounts go (default: the inventory's)\n"
               "      --disable-source   import certbot: rename renewal/NAME.conf so certbot stops renewing it\n"
               "      --reason R         revocation reason: key-compromise, superseded, cessation-of-operation, ...\n"
               "                         (RFC 5280; keyCompromise-style spellings and numbers too)\n"
               "      --ca CA            ca revoke: the internal CA of --serial\n"
               "      --serial HEX       ca revoke: the serial to revoke\n"
               "      --csr              ca init: write a request for an offline parent instead of a certificate\n"
               "      --out FILE         ca init --csr, ca sign: where to write (- for stdout)\n"
               "      --usage U          ca sign: server, client (default) or server+client\n"
               "      --validity D       ca sign: lifetime of the certificate (default: the CA's validity)\n"
               "      --reissue          ca rotate: re-issue the CA's certificates now\n"
               "      --no-daemon        check, status, renew: work alone even while certherd run is running\n"
               "  -h, --help             show this help\n"
               "      --version          show the version\n"
               "\n"
               "Exit status 3: configuration or usage error. See certherd(8).\n",
               CONFIG_DEFAULT_PATH);
}

_printf_(1, 2) static int usage_error(const char *fmt, ...) {
        va_list ap;

        fputs("certherd: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs(" (see certherd --help)\n", stderr);
        return EXIT_USAGE;
}

static int load_inventory(Inventory **ret) {
        _cleanup_free_ char *err = NULL;
        int r;

        r = config_load(arg_config, ret, &err);
        if (r < 0) {
                if (err)
                        log_error("%s", err);
                else
                        log_error_errno(r, "Failed to load the inventory: %m");
                if (arg_nagios)
                        printf("CERTHERD UNKNOWN - %s\n", log_last_error());
                return -EXIT_USAGE;
        }
        (void) token_init_inventory(*ret); /* logged; each token operation then says what failed */
        return 0;
}

/* Resolve NAME arguments to certificate sets; an unknown name is a usage error. */
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
                l[i] = inventory_find_cert(inv, names[i]);
                if (!l[i]) {
                        log_error("no [certificate \"%s\"] in the inventory %s", names[i], inv->path);
                        return -EXIT_USAGE;
                }
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static void persist_warn(const Inventory *inv, CertConfig **certs);

static int verb_check(char **args, bool table) {
        _cleanup_inventory_ Inventory *inv = NULL;
        _cleanup_check_report_ CheckReport *rep = NULL;
        _cleanup_free_ CertConfig **certs = NULL;
        CertState *states = NULL;
        usec_t now = now_realtime();
        int r, ret;

        if (table && args[0])
                return usage_error("status takes no arguments: '%s'", args[0]);
        /* While the daemon runs, it answers from what it knows (bus-client.h). */
        if (!arg_no_daemon) {
                BusApiFormat fmt = arg_nagios ? BUS_API_FORMAT_NAGIOS
                                   : arg_json ? BUS_API_FORMAT_JSON
                                   : !table ? BUS_API_FORMAT_TEXT
                                   : isatty(STDOUT_FILENO) && !getenv("NO_COLOR") &&
                                                     !(getenv("TERM") && strcmp(getenv("TERM"), "dumb") == 0)
                                            ? BUS_API_FORMAT_TABLE_COLOR
                                            : BUS_API_FORMAT_TABLE;
                r = bus_client_check(arg_config, args, fmt, stdout);
                if (r != -EHOSTDOWN)
                        return r;
        }
        r = load_inventory(&inv);
        if (r < 0)
                return -r;
        r = select_certs(inv, args, &certs);
        if (r < 0)
                return r == -EXIT_USAGE ? EXIT_USAGE : EXIT_CRITICAL;

        /* What the files say, with what the saved state knows (deploy-failed, renewal-failing), and the
         * internal CAs' own certificates. */
        r = check_run(inv, certs, 0, now, &rep);
        if (r >= 0)
                r = check_load_states(inv, rep, &states);
        if (r >= 0) {
                rep->states = states;
                r = check_plan(inv, rep, (PlanFlags) {}, now);
        }
        if (r >= 0 && !certs)
                r = check_cas(inv, rep, now);
        if (r < 0) {
                log_error_errno(r, "Failed to inspect certificates: %m");
                if (rep)
                        cert_states_free(states, rep->n_results);
                return arg_nagios ? EXIT_USAGE : EXIT_CRITICAL;
        }
        sandbox_warn(inv);
        persist_warn(inv, certs);

        if (arg_nagios)
                r = report_nagios(inv, rep, stdout);
        else if (arg_json)
                r = report_json(rep, stdout);
        else if (table)
                r = report_table(rep, stdout, isatty(STDOUT_FILENO) && !getenv("NO_COLOR") &&
                                                      !(getenv("TERM") && strcmp(getenv("TERM"), "dumb") == 0));
        else
                r = report_lines(rep, stdout);
        ret = rep->worst == SEVERITY_OK ? EXIT_OK : rep->worst == SEVERITY_WARNING ? EXIT_WARNING : EXIT_CRITICAL;
        rep->states = NULL;
        cert_states_free(states, rep->n_results);
        if (r < 0 || fflush(stdout) != 0) {
                log_error("Failed to write the report: %s", strerror(r < 0 ? -r : errno));
                return EXIT_CRITICAL;
        }
        return ret;
}

static int pin_of_path(const char *path, const char *password, uint8_t pin[static PIN_SIZE]) {
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_datum_ gnutls_datum_t spki = {};
        size_t size;
        int r;

        if (token_is_url(path)) {
                /* A key in a PKCS#11 token: its public key (PIN, when one is needed, from pin-source= in the
                 * URI or --password-file). */
                r = token_key_pin(path, arg_password_file, pin, NULL);
                if (r < 0)
                        return log_error_errno(r, "%s: %s", path,
                                               r == -EACCES ? "no PIN (pin-source= or --password-file) or a wrong one" :
                                               r == -ENOENT ? "no such token or object" : strerror(-r));
                return 0;
        }
        r = read_full_file(path, 64U * 1024U * 1024U, &data, &size);
        if (r < 0)
                return log_error_errno(r, "%s: %s", path, file_strerror(r));
        r = x509_spki_from_data(data, size, password, &spki);
        if (r == -EACCES)
                return log_error_errno(r, "%s: encrypted private key: %s", path,
                                       password ? "the password does not decrypt it" : "give --password-file");
        if (r < 0)
                return log_error_errno(r, "%s: %s", path,
                                       size == 0 ? "empty file"
                                                 : "not a certificate, certificate request, public key or private key");
        r = pin_compute(spki.data, spki.size, pin);
        if (r < 0)
                return log_error_errno(r, "%s: cannot hash the public key: %m", path);
        return 0;
}

static int pin_of_file(const char *path, const char *password, char **ret) {
        uint8_t pin[PIN_SIZE];
        int r;

        r = pin_of_path(path, password, pin);
        if (r < 0)
                return r;
        r = pin_format(pin, arg_pin_format, ret);
        if (r < 0)
                return log_error_errno(r, "Out of memory");
        return 0;
}

static int verb_pin(char **args) {
        _cleanup_free_ char *password = NULL;
        json_t *list = NULL;
        size_t n = strv_length(args);
        int r, ret = EXIT_OK;

        if (n == 0)
                return usage_error("%s", "pin needs at least one FILE");
        if (arg_password_file) {
                r = read_secret_file(arg_password_file, &password);
                if (r < 0) {
                        log_error_errno(r, "%s: %s", arg_password_file, file_strerror(r));
                        return EXIT_USAGE;
                }
        }
        if (arg_json && !(list = json_array()))
                return EXIT_USAGE;

        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *pin = NULL;

                if (pin_of_file(args[i], password, &pin) < 0) {
                        ret = EXIT_USAGE;
                        continue;
                }
                if (list)
                        json_array_append_new(list, json_pack("{s:s, s:s}", "file", args[i], "pin_sha256", pin));
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

static void print_time(const char *prefix, usec_t t, const char *suffix) {
        char when[32];

        printf("%s%s%s", prefix, format_timestamp_iso(when, sizeof(when), t), suffix);
}

/* One line per set that is failing or was acted on, then the summary (its format is relied upon). A set
 * whose renewals or deploy are failing counts as failed while it backs off (exit 1). */
static int renew_report(const Pass *p) {
        size_t renewed = 0, redeployed = 0, failed = 0, skipped = 0;

        for (size_t i = 0; i < p->n_sets; i++) {
                const PassSet *it = &p->sets[i];
                const CertState *st = pass_set_state(it);
                const RenewJob *j = it->job;
                const char *name = it->cert->name;

                if (it->cert->issuer == ISSUER_NONE || !it->selected)
                        continue;
                if (it->plan.action == PLAN_NONE) {
                        printf("%s: not due (renews from ", name);
                        print_time("", it->plan.due, ")\n");
                        skipped++;
                } else if (it->plan.action == PLAN_BACKOFF) {
                        if (it->plan.why == RENEW_REASON_NONE && st->deploy_failed)
                                printf("%s: deploy failed at %s: %s; next attempt from ", name, st->deploy_step ?: "?",
                                       st->deploy_error ?: "?");
                        else
                                printf("%s: renewal failing: %u failed attempt%s, last error: %s; next attempt from ",
                                       name, st->failures, st->failures == 1 ? "" : "s", st->last_error ?: "unknown");
                        print_time("", it->plan.retry, "\n");
                        failed++;
                } else if (it->plan.action == PLAN_HELD) {
                        printf("%s: renewal held: %s; the certificate issued was kept, no new order until the "
                               "inventory or its files change\n",
                               name, st->last_error ?: "refused");
                        failed++;
                } else if (j->result < 0) {
                        printf("%s: renewal failed: %s\n", name, st->last_error ?: "unknown error");
                        failed++;
                } else if (j->deploy_result < 0) {
                        printf("%s: deploy failed at %s: %s (serial %s)\n", name, j->deploy_step ?: "?",
                               j->deploy_error ?: "?", j->outcome.serial);
                        failed++;
                } else if (j->deploy_only) {
                        printf("%s: deployed again (serial %s)\n", name, j->outcome.serial);
                        redeployed++;
                } else
                        renewed++;
        }
        printf("%zu renewed, %zu not due, %zu failed", renewed, skipped, failed);
        if (redeployed)
                printf(", %zu redeployed", redeployed);
        putchar('\n');
        return failed ? EXIT_WARNING : EXIT_OK;
}

static int verb_renew(char **args) {
        _cleanup_inventory_ Inventory *inv = NULL;
        _cleanup_free_ CertConfig **certs = NULL;
        _cleanup_(pass_freep) Pass *p = NULL;
        _cleanup_close_ int lock = -1;
        int r;

        /* While the daemon runs, it does the work (bus-client.h) instead of this process waiting for its lock. */
        if (!arg_no_daemon) {
                r = bus_client_renew(arg_config, args, arg_force, stdout);
                if (r != -EHOSTDOWN)
                        return r;
        }
        r = load_inventory(&inv);
        if (r < 0)
                return -r;
        r = select_certs(inv, args, &certs);
        if (r < 0)
                return r == -EXIT_USAGE ? EXIT_USAGE : EXIT_WARNING;
        for (size_t i = 0; certs && certs[i]; i++)
                if (certs[i]->issuer == ISSUER_NONE) {
                        log_error("%s: issuer = none: certherd only watches this certificate", certs[i]->name);
                        return EXIT_USAGE;
                }

        lock = pass_prepare(inv, false);
        if (lock == -EWOULDBLOCK) {
                log_notice("another certherd holds the lock in %s; it does the renewals, exiting",
                           inv->agent.state_directory);
                return EXIT_OK;
        }
        if (lock < 0)
                return EXIT_WARNING;
        pass_recover(inv);

        r = pass_run(inv, certs, (PlanFlags) { .force = arg_force }, &p);
        if (r < 0) {
                log_error_errno(r, "Failed to inspect certificates: %m");
                return EXIT_WARNING;
        }
        return renew_report(p);
}

static void print_iso(json_t *o, const char *key, usec_t t) {
        char when[32];

        json_object_set_new(o, key, json_string(format_timestamp_iso(when, sizeof(when), t)));
}

/* `ca list CA`: the issued-certificate index. */
static int verb_ca_list(char **args) {
        _cleanup_inventory_ Inventory *inv = NULL;
        _cleanup_(ca_index_done) CaIndex idx = {};
        const CaConfig *ca;
        char when[32], at[32];
        int r;

        if (!args[0] || args[1])
                return usage_error("%s", "usage: certherd ca list CA [--json]");
        r = load_inventory(&inv);
        if (r < 0)
                return -r;
        ca = inventory_find_ca(inv, args[0]);
        if (!ca) {
                log_error("no [ca \"%s\"] in the inventory %s", args[0], inv->path);
                return EXIT_USAGE;
        }
        if (ca_index_load(inv->agent.state_directory, ca->name, &idx) < 0)
                return EXIT_WARNING;
        if (arg_json) {
                json_t *list = json_array(), *root;

                for (size_t i = 0; list && i < idx.n; i++) {
                        const CaIndexEntry *e = &idx.entries[i];
                        json_t *names = json_array(), *o;

                        for (char **n = e->names; names && n && *n; n++)
                                json_array_append_new(names, json_string(*n));
                        o = json_pack("{s:s, s:s, s:s, s:o*}", "serial", e->serial, "name", e->name, "subject",
                                      e->subject, "names", names);
                        if (!o)
                                continue;
                        print_iso(o, "not_after", e->not_after);
                        json_object_set_new(o, "pin_sha256", json_string(e->pin));
                        json_object_set_new(o, "status", json_string(e->revoked ? "revoked" : "valid"));
                        if (e->revoked) {
                                print_iso(o, "revoked_at", e->revoked_at);
                                json_object_set_new(o, "reason", json_string(crl_reason_to_string(e->reason)));
                        }
                        json_array_append_new(list, o);
                }
                root = json_pack("{s:s, s:I, s:o*}", "ca", ca->name, "crl_number", (json_int_t) idx.crl_number,
                                 "certificates", list);
                json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                putchar('\n');
                json_decref(root);
        } else {
                printf("%-40s %-8s %-20s %-16s %s\n", "SERIAL", "STATUS", "NOT_AFTER", "SET", "SUBJECT / NAMES");
                for (size_t i = 0; i < idx.n; i++) {
                        const CaIndexEntry *e = &idx.entries[i];

                        printf("%-40s %-8s %-20s %-16s %s", e->serial, e->revoked ? "revoked" : "valid",
                               format_timestamp_iso(when, sizeof(when), e->not_after), e->name[0] ? e->name : "-",
                               e->subject);
                        for (char **n = e->names; n && *n; n++)
                                printf("%s%s", n == e->names ? " / " : " ", *n);
                        if (e->revoked)
                                printf(" (revoked %s, %s)", format_timestamp_iso(at, sizeof(at), e->revoked_at),
                                       crl_reason_to_string(e->reason));
                        putchar('\n');
                }
        }
        return fflush(stdout) == 0 ? EXIT_OK : EXIT_WARNING;
}

/* `ca revoke NAME` or `ca revoke --ca CA --serial HEX`. */
static int verb_ca_revoke(char **args) {
        _cleanup_inventory_ Inventory *inv = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_free_ char *serial = NULL;
        gnutls_x509_crt_t *crts = NULL;
        unsigned n = 0;
        const CertConfig *c = NULL;
        const CaConfig *ca;
        CrlReason reason = CRL_REASON_UNSPECIFIED;
        size_t size;
        int r;

        if ((args[0] && (args[1] || arg_ca || arg_serial)) || (!args[0] && (!arg_ca || !arg_serial)))
                return usage_error("%s", "usage: certherd ca revoke NAME [--reason R] | "
                                         "certherd ca revoke --ca CA --serial HEX [--reason R]");
        if (arg_reason && (reason = crl_reason_from_string(arg_reason)) < 0)
                return usage_error("invalid --reason '%s': expected unspecified, key-compromise, ca-compromise, "
                                   "affiliation-changed, superseded, cessation-of-operation, certificate-hold, "
                                   "privilege-withdrawn or aa-compromise", arg_reason);
        if (arg_serial && ca_index_normalize_serial(arg_serial, &serial) < 0)
                return usage_error("invalid --serial '%s': expected hexadecimal", arg_serial);
        r = load_inventory(&inv);
        if (r < 0)
                return -r;
        if (args[0]) {
                c = inventory_find_cert(inv, args[0]);
                if (!c) {
                        log_error("no [certificate \"%s\"] in the inventory %s", args[0], inv->path);
                        return EXIT_USAGE;
                }
                if (c->issuer != ISSUER_CA) {
                        log_error("%s: issuer = %s: ca revoke is for certificates of an internal CA (certherd revoke "
                                  "asks an ACME server)", c->name, issuer_kind_to_string(c->issuer));
                        return EXIT_USAGE;
                }
                ca = inventory_find_ca(inv, c->issuer_name);
        } else
                ca = inventory_find_ca(inv, arg_ca);
        if (!ca) {
                log_error("no [ca \"%s\"] in the inventory %s", arg_ca, inv->path);
                return EXIT_USAGE;
        }
        if (c) {
                _cleanup_cert_facts_ CertFacts *f = NULL;

                r = read_full_file(c->certificate, 1024U * 1024U, &data, &size);
                if (r < 0) {
                        log_error_errno(r, "%s: cannot read %s: %m", c->name, c->certificate);
                        return EXIT_WARNING;
                }
                if (x509_load_crts(data, size, &crts, &n) < 0 ||
                    x509_inspect(&(X509Input) { .cert_data = data, .cert_size = size, .key_mode = (mode_t) -1 },
                                 now_realtime(), &f) < 0 || !f->parsed || !f->serial || !(serial = strdup(f->serial))) {
                        x509_crts_free(crts, n);
                        log_error("%s: %s holds no certificate", c->name, c->certificate);
                        return EXIT_WARNING;
                }
        }
        r = crl_revoke(inv, ca, serial, n > 0 ? crts[0] : NULL, c ? c->name : NULL, reason, now_realtime());
        x509_crts_free(crts, n);
        if (r < 0)
                return EXIT_WARNING;
        printf("[ca \"%s\"]: revoked serial %s (%s)%s\n", ca->name, serial, crl_reason_to_string(reason),
               ca->crl ? "; CRL re-signed" : "");
        return EXIT_OK;
}

static void recover_report(const char *name, int r, void *userdata) {
        if (r < 0)
                log_error_errno(r, "%s: cannot recover the interrupted install: %m", name);
        else
                log_notice("%s: recovered an interrupted install (completed or rolled back)", name);
}

/* Boot (certherd-recover.service): finish or undo interrupted installs before services read the pairs. */
static int verb_recover(char **args) {
        _cleanup_inventory_ Inventory *inv = NULL;
        _cleanup_close_ int lock = -1;
        bool broken;
        int r;

        if (args[0])
                return usage_error("recover takes no arguments: '%s'", args[0]);
        broken = load_inventory(&inv) < 0;
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

/* `ca rotate NAME --reissue`: every set the CA issues, renewed now (as renew --force NAME...). */
static int ca_reissue(Inventory *inv, const CaConfig *ca) {
        _cleanup_free_ CertConfig **certs = calloc(inv->n_certs + 1, sizeof(CertConfig *));
        _cleanup_(pass_freep) Pass *p = NULL;
        _cleanup_close_ int lock = -1;
        size_t n = 0;
        int r;

        if (!certs)
                return log_error_errno(-ENOMEM, "Out of memory");
        for (size_t i = 0; i < inv->n_certs; i++)
                if (inv->certs[i]->issuer == ISSUER_CA && strcmp(inv->certs[i]->issuer_name, ca->name) == 0)
                        certs[n++] = inv->certs[i];
        if (n == 0)
                return EXIT_OK;
        lock = pass_prepare(inv, false);
        if (lock == -EWOULDBLOCK) {
                log_notice("another certherd holds the lock in %s; it re-issues the certificates of [ca \"%s\"] "
                           "(they are due: issued by the previous generation)", inv->agent.state_directory, ca->name);
                return EXIT_OK;
        }
        if (lock < 0)
                return EXIT_WARNING;
        pass_recover(inv);
        r = pass_run(inv, certs, (PlanFlags) { .force = true }, &p);
        if (r < 0) {
                log_error_errno(r, "Failed to inspect certificates: %m");
                return EXIT_WARNING;
        }
        return renew_report(p);
}

static int verb_ca(char **args) {
        _cleanup_inventory_ Inventory *inv = NULL;
        const char *sub = args[0];
        const CaConfig *ca;
        size_t n = strv_length(args);
        usec_t validity = 0;
        Usage usage = USAGE_CLIENT;
        int r;

        /* issue 11 items 1-2 (ca-index, crl): the index and revocation. */
        if (sub && strcmp(sub, "list") == 0)
                return verb_ca_list(args + 1);
        if (sub && strcmp(sub, "revoke") == 0)
                return verb_ca_revoke(args + 1);
        if (!sub || (strcmp(sub, "init") == 0 && n != 2) || (strcmp(sub, "rotate") == 0 && n != 2) ||
            (strcmp(sub, "import") == 0 && n != 3) || (strcmp(sub, "sign") == 0 && n != 3) ||
            (strcmp(sub, "init") != 0 && strcmp(sub, "rotate") != 0 && strcmp(sub, "import") != 0 &&
             strcmp(sub, "sign") != 0))
                return usage_error("%s", "usage: certherd ca init NAME [--csr [--out FILE]] | ca import NAME CERT | "
                                         "ca sign CA CSR [--usage U] [--validity D] [--out FILE] | ca rotate NAME [--reissue] | "
                                         "ca list CA | ca revoke NAME | ca revoke --ca CA --serial HEX");
        if (arg_csr && strcmp(sub, "init") != 0)
                return usage_error("--csr applies to ca init only, not to 'ca %s'", sub);
        if (arg_out && strcmp(sub, "sign") != 0 && !(strcmp(sub, "init") == 0 && arg_csr))
                return usage_error("--out applies to ca sign and ca init --csr only, not to 'ca %s'", sub);
        if ((arg_usage || arg_validity) && strcmp(sub, "sign") != 0)
                return usage_error("--usage and --validity apply to ca sign only, not to 'ca %s'", sub);
        if (arg_reissue && strcmp(sub, "rotate") != 0)
                return usage_error("--reissue applies to ca rotate only, not to 'ca %s'", sub);
        if (arg_usage && (usage = usage_from_string(arg_usage)) < 0)
                return usage_error("invalid --usage '%s': expected server, client or server+client", arg_usage);
        if (arg_validity && (parse_duration(arg_validity, &validity) < 0 || validity == 0))
                return usage_error("invalid --validity '%s': expected a positive duration such as 30d", arg_validity);

        r = load_inventory(&inv);
        if (r < 0)
                return -r;
        ca = inventory_find_ca(inv, args[1]);
        if (!ca) {
                log_error("no [ca \"%s\"] in the inventory %s", args[1], inv->path);
                return EXIT_USAGE;
        }
        if (strcmp(sub, "init") == 0) {
                r = arg_csr ? ca_init_csr(inv, ca, arg_out, now_realtime()) : ca_init(inv, ca, now_realtime());
                /* The first CRL at once: peers configured with it must find one before the first revocation. */
                if (r >= 0 && !arg_csr)
                        r = crl_refresh(inv, ca, now_realtime(), true, false, NULL);
        } else if (strcmp(sub, "import") == 0) {
                r = ca_import(inv, ca, args[2], now_realtime());
                if (r >= 0)
                        r = crl_refresh(inv, ca, now_realtime(), true, false, NULL);
        } else if (strcmp(sub, "sign") == 0)
                r = ca_sign(inv, ca, args[2], usage, validity, arg_out, now_realtime());
        else {
                r = ca_rotate(inv, ca, now_realtime());
                /* Peers must find a CRL of the new generation before its first leaf (and the old one's, for
                 * the old leaves): both are signed into the file now. */
                if (r >= 0)
                        r = crl_refresh(inv, ca, now_realtime(), true, false, NULL);
                if (r >= 0 && arg_reissue)
                        return ca_reissue(inv, ca);
        }
        return r < 0 ? EXIT_WARNING : EXIT_OK;
}

static int verb_revoke(char **args) {
        _cleanup_inventory_ Inventory *inv = NULL;
        _cleanup_(acme_session_freep) AcmeSession *s = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        const CertConfig *c;
        size_t size;
        int r, reason = 0;

        if (!args[0] || args[1])
                return usage_error("%s", "usage: certherd revoke NAME [--reason R]");
        if (arg_reason && (reason = crl_reason_from_string(arg_reason)) < 0 &&
            (reason = acme_revocation_reason_from_string(arg_reason)) < 0)
                return usage_error("invalid --reason '%s': expected keyCompromise, superseded, cessationOfOperation, "
                                   "affiliationChanged, ... or a CRLReason number",
                                   arg_reason);
        r = load_inventory(&inv);
        if (r < 0)
                return -r;
        c = inventory_find_cert(inv, args[0]);
        if (!c) {
                log_error("no [certificate \"%s\"] in the inventory %s", args[0], inv->path);
                return EXIT_USAGE;
        }
        if (c->issuer != ISSUER_ACME) {
                log_error("%s: issuer = %s: only certificates from an ACME server can be revoked", c->name,
                          issuer_kind_to_string(c->issuer));
                return EXIT_USAGE;
        }
        r = read_full_file(c->certificate, 1024U * 1024U, &data, &size);
        if (r < 0) {
                log_error_errno(r, "%s: cannot read %s: %m", c->name, c->certificate);
                return EXIT_WARNING;
        }
        if (state_directory(inv->agent.state_directory) < 0 || acme_session_new(inv, inventory_find_acme(inv, c->issuer_name), &s) < 0 ||
            acme_revoke(s, &(gnutls_datum_t) { .data = data, .size = (unsigned) size }, reason) < 0)
                return EXIT_WARNING;
        /* key-compromise: that key is never certified again (issue 11). */
        if (reason == CRL_REASON_KEY_COMPROMISE) {
                _cleanup_cert_facts_ CertFacts *f = NULL;

                if (x509_inspect(&(X509Input) { .cert_data = data, .cert_size = size, .key_mode = (mode_t) -1 },
                                 now_realtime(), &f) < 0 || !f->parsed || !f->has_pin ||
                    compromised_keys_add(inv->agent.state_directory, f->pin, c->name, f->serial, now_realtime()) < 0) {
                        log_error("%s: revoked, but its key could not be marked compromised", c->name);
                        return EXIT_WARNING;
                }
        }
        printf("%s: revoked %s\n", c->name, c->certificate);
        return EXIT_OK;
}

/* `acme ari CERT`: the ARI window of an installed ACME certificate and the point picked in it. */
static int verb_acme_ari(Inventory *inv, const char *name) {
        _cleanup_(acme_session_freep) AcmeSession *s = NULL;
        AcmeAriDecision d = {};
        char start[32], end[32], when[32];
        const CertConfig *c;
        int r;

        c = inventory_find_cert(inv, name);
        if (!c || c->issuer != ISSUER_ACME) {
                log_error("no [certificate \"%s\"] issued by an ACME server in the inventory %s", name, inv->path);
                return EXIT_USAGE;
        }
        if (state_directory(inv->agent.state_directory) < 0 || acme_session_new(inv, inventory_find_acme(inv, c->issuer_name), &s) < 0)
                return EXIT_WARNING;
        r = acme_ari_due(s, c, now_realtime(), &d);
        if (r == -EOPNOTSUPP)
                log_error("[acme \"%s\"] the server offers no renewal information (RFC 9773)", c->issuer_name);
        else if (r < 0)
                log_error_errno(r, "%s: no renewal information for %s: %m", c->name, c->certificate);
        if (r < 0)
                return EXIT_WARNING;
        printf("%s: suggested window %s .. %s, renewing at %s: %s (ask again in %llu s)\n", c->name,
               format_timestamp_iso(start, sizeof(start), d.start), format_timestamp_iso(end, sizeof(end), d.end),
               format_timestamp_iso(when, sizeof(when), d.when), d.due ? "due" : "not due",
               (unsigned long long) (d.retry_after / USEC_PER_SEC));
        free(d.id);
        return EXIT_OK;
}

/* `acme profiles NAME`: meta.profiles of the directory (draft-ietf-acme-profiles), one "NAME  DESCRIPTION"
 * a line; nothing is registered. */
static int verb_acme_profiles(Inventory *inv, const AcmeConfig *a) {
        _cleanup_(acme_session_freep) AcmeSession *s = NULL;
        const AcmeDirectory *d;

        if (acme_session_new_directory(inv, a, &s) < 0)
                return EXIT_WARNING;
        d = acme_session_directory(s);
        if (!d->profiles || !d->profiles[0]) {
                log_error("[acme \"%s\"] the server offers no profiles (no meta.profiles in %s)", a->name, a->directory);
                return EXIT_WARNING;
        }
        for (size_t i = 0; d->profiles[i]; i++)
                printf("%-16s %s%s\n", d->profiles[i], d->profile_descriptions[i],
                       a->profile && strcmp(a->profile, d->profiles[i]) == 0 ? " (configured)" : "");
        return EXIT_OK;
}

/* `acme persist-record CERT`: the dns-persist-01 record of each of its names, as zone file lines. */
static int verb_acme_persist_record(Inventory *inv, const char *name) {
        _cleanup_(acme_session_freep) AcmeSession *s = NULL;
        _cleanup_free_ char *account = NULL, *issuer = NULL;
        const CertConfig *c;
        const AcmeConfig *a;

        c = inventory_find_cert(inv, name);
        if (!c || c->issuer != ISSUER_ACME) {
                log_error("no [certificate \"%s\"] issued by an ACME server in the inventory %s", name, inv->path);
                return EXIT_USAGE;
        }
        a = inventory_find_acme(inv, c->issuer_name);
        if (acme_saved_state(inv, a, &account, &issuer) < 0)
                return EXIT_WARNING;
        if (!issuer) {
                log_error("[acme \"%s\"] the CA's issuer domain is not known yet: set persist-issuer = (the domain "
                          "the CA names in its dns-persist-01 challenges, e.g. letsencrypt.org)", a->name);
                return EXIT_USAGE;
        }
        /* The record names the account: look it up (or register it) at the server. */
        if (state_directory(inv->agent.state_directory) < 0 || acme_session_new(inv, a, &s) < 0)
                return EXIT_WARNING;
        free(account);
        account = acme_session_account_dup(s);
        if (!account)
                return EXIT_WARNING;
        for (char **n = c->names; n && *n; n++) {
                _cleanup_free_ char *owner = NULL, *value = NULL;

                if (config_ip_is_valid(*n)) {
                        log_warning("%s: %s is an IP address: dns-persist-01 validates DNS names only", c->name, *n);
                        continue;
                }
                if (persist_record_name(*n, &owner) < 0 ||
                    persist_record_value(issuer, account, strncmp(*n, "*.", 2) == 0, &value) < 0)
                        return EXIT_WARNING;
                printf("%s. IN TXT \"%s\"\n", owner, value);
        }
        return EXIT_OK;
}

/* `check`: a dns-persist-01 set whose standing record is missing or names another account fails at its
 * next order; say so now (through the system resolver). Warnings only: the CA's view of DNS may differ. */
static void persist_warn(const Inventory *inv, CertConfig **certs) {
        for (size_t i = 0; i < inv->n_certs; i++) {
                const CertConfig *c = inv->certs[i];
                _cleanup_free_ char *account = NULL, *issuer = NULL;
                const AcmeConfig *a;
                bool selected = !certs;

                for (CertConfig **x = certs; x && *x; x++)
                        selected = selected || *x == c;
                if (!selected || c->issuer != ISSUER_ACME)
                        continue;
                a = inventory_find_acme(inv, c->issuer_name);
                if (!a || a->challenge != CHALLENGE_DNS_PERSIST_01 || acme_saved_state(inv, a, &account, &issuer) < 0)
                        continue;
                if (!account || !issuer) {
                        log_warning("%s: dns-persist-01: %s not known yet; run certherd acme persist-record %s", c->name,
                                    !account ? "the ACME account" : "the CA's issuer domain (persist-issuer)", c->name);
                        continue;
                }
                for (char **n = c->names; n && *n; n++) {
                        _cleanup_free_ char *owner = NULL;
                        _cleanup_strv_free_ char **values = NULL;
                        char *issuers[] = { issuer, NULL };
                        PersistMatch m;

                        if (config_ip_is_valid(*n) || persist_record_name(*n, &owner) < 0)
                                continue;
                        if (persist_lookup(owner, &values) < 0) {
                                log_warning("%s: dns-persist-01: cannot look up the TXT record %s", c->name, owner);
                                continue;
                        }
                        m = persist_match(values, issuers, account, NULL);
                        if (m == PERSIST_MISSING)
                                log_warning("%s: dns-persist-01: no TXT record %s for issuer %s; publish the one "
                                            "certherd acme persist-record %s prints",
                                            c->name, owner, issuer, c->name);
                        else if (m == PERSIST_OTHER_ACCOUNT)
                                log_warning("%s: dns-persist-01: the TXT record %s names another ACME account than %s; "
                                            "publish the one certherd acme persist-record %s prints",
                                            c->name, owner, account, c->name);
                }
        }
}

static int verb_acme(char **args) {
        _cleanup_inventory_ Inventory *inv = NULL;
        _cleanup_(acme_session_freep) AcmeSession *s = NULL;
        const AcmeConfig *a;
        int r;

        if (!args[0] || (strcmp(args[0], "rollover") != 0 && strcmp(args[0], "ari") != 0 && strcmp(args[0], "profiles") != 0 &&
                          strcmp(args[0], "persist-record") != 0) || !args[1] || args[2])
                return usage_error("%s", "usage: certherd acme rollover NAME | certherd acme ari CERTIFICATE | "
                                         "certherd acme profiles NAME | certherd acme persist-record CERTIFICATE");
        r = load_inventory(&inv);
        if (r < 0)
                return -r;
        if (strcmp(args[0], "ari") == 0)
                return verb_acme_ari(inv, args[1]);
        if (strcmp(args[0], "persist-record") == 0)
                return verb_acme_persist_record(inv, args[1]);
        a = inventory_find_acme(inv, args[1]);
        if (!a) {
                log_error("no [acme \"%s\"] in the inventory %s", args[1], inv->path);
                return EXIT_USAGE;
        }
        if (strcmp(args[0], "profiles") == 0)
                return verb_acme_profiles(inv, a);
        if (state_directory(inv->agent.state_directory) < 0 || acme_session_new(inv, a, &s) < 0 || acme_key_rollover(s) < 0)
                return EXIT_WARNING;
        printf("[acme \"%s\"] account %s now uses key %s\n", a->name, acme_session_account(s),
               acme_session_key_thumbprint(s));
        return EXIT_OK;
}

static int verb_import(char **args) {
        arg_import.config = arg_config;
        if (!args[0])
                return usage_error("%s", "usage: certherd import certbot|certmonger|acme.sh [DIR]");
        if (arg_import.config_dir && strcmp(args[0], "certbot") != 0)
                return usage_error("--config-dir applies to import certbot only, not to '%s'", args[0]);
        if (arg_import.disable_source && strcmp(args[0], "certbot") != 0)
                return usage_error("--disable-source applies to import certbot only, not to '%s'", args[0]);
        if (strcmp(args[0], "certbot") == 0) {
                if (args[1])
                        return usage_error("import certbot takes no arguments (--config-dir DIR): '%s'", args[1]);
                return import_certbot(&arg_import);
        }
        if (strcmp(args[0], "certmonger") == 0) {
                if (args[1] && args[2])
                        return usage_error("%s", "usage: certherd import certmonger [DIR]");
                return import_certmonger(&arg_import, args[1]);
        }
        if (strcmp(args[0], "acme.sh") == 0) {
                if (!args[1] || args[2])
                        return usage_error("%s", "usage: certherd import acme.sh DIR (acme.sh's home, e.g. ~/.acme.sh)");
                return import_acmesh(&arg_import, args[1]);
        }
        return usage_error("unknown import source '%s': expected certbot, certmonger or acme.sh", args[0]);
}

int main(int argc, char *argv[]) {
        enum { ARG_JSON = 0x100, ARG_VERSION, ARG_FORMAT, ARG_PASSWORD_FILE, ARG_FORCE, ARG_REASON, ARG_LOG_LEVEL,
               ARG_NO_DAEMON, ARG_CSR, ARG_OUT, ARG_USAGE, ARG_VALIDITY, ARG_REISSUE, ARG_CONFIG_DIR,
               ARG_WRITE, ARG_STATE_DIRECTORY, ARG_DISABLE_SOURCE, ARG_CA, ARG_SERIAL };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "json", no_argument, NULL, ARG_JSON },
                { "format", required_argument, NULL, ARG_FORMAT },
                { "password-file", required_argument, NULL, ARG_PASSWORD_FILE },
                { "force", no_argument, NULL, ARG_FORCE },
                { "reason", required_argument, NULL, ARG_REASON },
                { "ca", required_argument, NULL, ARG_CA },
                { "serial", required_argument, NULL, ARG_SERIAL },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                { "csr", no_argument, NULL, ARG_CSR },
                { "out", required_argument, NULL, ARG_OUT },
                { "usage", required_argument, NULL, ARG_USAGE },
                { "validity", required_argument, NULL, ARG_VALIDITY },
                { "reissue", no_argument, NULL, ARG_REISSUE },
                { "config-dir", required_argument, NULL, ARG_CONFIG_DIR },
                { "write", required_argument, NULL, ARG_WRITE },
                { "state-directory", required_argument, NULL, ARG_STATE_DIRECTORY },
                { "disable-source", no_argument, NULL, ARG_DISABLE_SOURCE },
                { "no-daemon", no_argument, NULL, ARG_NO_DAEMON },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        const char *verb, *log_level = getenv("CERTHERD_LOG_LEVEL");
        bool log_level_option = false;
        char **args;
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, ":c:h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        arg_config = optarg;
                        break;
                case ARG_JSON:
                        arg_json = true;
                        break;
                case ARG_FORMAT:
                        arg_format = optarg;
                        break;
                case ARG_LOG_LEVEL:
                        log_level = optarg;
                        log_level_option = true;
                        break;
                case ARG_PASSWORD_FILE:
                        arg_password_file = optarg;
                        break;
                case ARG_FORCE:
                        arg_force = true;
                        break;
                case ARG_REASON:
                        arg_reason = optarg;
                        break;
                case ARG_CA:
                        arg_ca = optarg;
                        break;
                case ARG_SERIAL:
                        arg_serial = optarg;
                        break;
                case ARG_CSR:
                        arg_csr = true;
                        break;
                case ARG_OUT:
                        arg_out = optarg;
                        break;
                case ARG_USAGE:
                        arg_usage = optarg;
                        break;
                case ARG_VALIDITY:
                        arg_validity = optarg;
                        break;
                case ARG_REISSUE:
                        arg_reissue = true;
                        break;
                case ARG_NO_DAEMON:
                        arg_no_daemon = true;
                        break;
                case ARG_CONFIG_DIR:
                        arg_import.config_dir = optarg;
                        break;
                case ARG_WRITE:
                        arg_import.write = optarg;
                        break;
                case ARG_STATE_DIRECTORY:
                        arg_import.state_directory = optarg;
                        break;
                case ARG_DISABLE_SOURCE:
                        arg_import.disable_source = true;
                        break;
                case 'h':
                        help();
                        return EXIT_OK;
                case ARG_VERSION:
                        printf("certherd %s\n", CERTHERD_VERSION);
                        return EXIT_OK;
                case ':':
                        return usage_error("option '%s' needs an argument", argv[optind - 1]);
                default:
                        return usage_error("unknown option '%s'", argv[optind - 1]);
                }

        if (log_level && log_level[0]) {
                int l = log_level_from_string(log_level);
                if (l < 0)
                        return usage_error("invalid %s '%s': expected debug, info, notice, warning or err",
                                           log_level_option ? "--log-level" : "$CERTHERD_LOG_LEVEL", log_level);
                log_set_max_level(l);
        }
        if (optind >= argc)
                return usage_error("%s", "missing command");
        verb = argv[optind];
        args = argv + optind + 1;

        if (arg_force && strcmp(verb, "renew") != 0)
                return usage_error("--force applies to renew only, not to '%s'", verb);
        if (arg_reason && strcmp(verb, "revoke") != 0 && strcmp(verb, "ca") != 0)
                return usage_error("--reason applies to revoke and ca revoke only, not to '%s'", verb);
        if ((arg_ca || arg_serial) && strcmp(verb, "ca") != 0)
                return usage_error("--ca and --serial apply to ca revoke only, not to '%s'", verb);
        if ((arg_csr || arg_out || arg_usage || arg_validity || arg_reissue) && strcmp(verb, "ca") != 0)
                return usage_error("--csr, --out, --usage, --validity and --reissue apply to ca only, not to '%s'", verb);
        if ((arg_import.config_dir || arg_import.state_directory || arg_import.disable_source) &&
            strcmp(verb, "import") != 0)
                return usage_error("--config-dir, --state-directory and --disable-source apply to import only, not "
                                   "to '%s'",
                                   verb);
        if (arg_import.write && strcmp(verb, "import") != 0 && strcmp(verb, "discover") != 0)
                return usage_error("--write applies to import and discover only, not to '%s'", verb);
        if (arg_password_file && strcmp(verb, "pin") != 0)
                return usage_error("--password-file applies to pin only, not to '%s'", verb);
        /* --format is per command: a pin's encoding, or check's monitoring-plugins line. */
        if (arg_format && strcmp(verb, "pin") == 0) {
                arg_pin_format = pin_format_from_string(arg_format);
                if (arg_pin_format < 0)
                        return usage_error("invalid --format '%s' for pin: expected base64, curl or hex", arg_format);
        } else if (arg_format && strcmp(verb, "check") == 0) {
                if (strcmp(arg_format, "nagios") != 0)
                        return usage_error("invalid --format '%s' for check: expected nagios", arg_format);
                if (arg_json)
                        return usage_error("%s", "--format nagios and --json exclude each other");
                arg_nagios = true;
        } else if (arg_format)
                return usage_error("--format applies to pin and check only, not to '%s'", verb);

        if (strcmp(verb, "check") == 0)
                return verb_check(args, false);
        if (strcmp(verb, "status") == 0)
                return verb_check(args, true);
        if (strcmp(verb, "pin") == 0)
                return verb_pin(args);
        if (strcmp(verb, "renew") == 0)
                return verb_renew(args);
        if (strcmp(verb, "run") == 0) {
                if (args[0])
                        return usage_error("run takes no arguments: '%s'", args[0]);
                return daemon_run(arg_config) < 0 ? 1 : 0;
        }
        if (strcmp(verb, "recover") == 0)
                return verb_recover(args);
        if (strcmp(verb, "ca") == 0)
                return verb_ca(args);
        if (strcmp(verb, "revoke") == 0)
                return verb_revoke(args);
        if (strcmp(verb, "acme") == 0)
                return verb_acme(args);
        if (strcmp(verb, "import") == 0)
                return verb_import(args);
        if (strcmp(verb, "discover") == 0) {
                if (args[0])
                        return usage_error("discover takes no arguments: '%s'", args[0]);
                return discover_run(&arg_import);
        }
        return usage_error("unknown command '%s'", verb);
}
