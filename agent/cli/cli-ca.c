/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ca init, import, sign, rotate, list and revoke: the internal CAs. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "ca-index.h"
#include "ca-pki.h"
#include "ca-rotate.h"
#include "ca.h"
#include "cli-internal.h"
#include "crl.h"
#include "fd-util.h"
#include "gnutls-util.h"
#include "log.h"
#include "outcome.h"
#include "pass.h"
#include "policy.h"
#include "x509.h"

static void print_iso(json_t *obj, const char *key, usec_t t) {
        char when[32];

        json_object_set_new(obj, key, json_string(format_timestamp_iso(when, sizeof(when), t)));
}

/* `ca list CA`: the issued-certificate index. */
static int ca_list(const CliOptions *o, char **args) {
        _cleanup_inventory_ Inventory *inv = NULL;
        _cleanup_(ca_index_done) CaIndex idx = {};
        const CaConfig *ca;
        char when[32], at[32];
        int r;

        if (!args[0] || args[1])
                return cli_usage_error("%s", "usage: certherd ca list CA [--json]");
        r = cli_load_ca(o, args[0], &inv, &ca);
        if (r != 0)
                return r;
        if (ca_index_load(inv->agent.state_directory, ca->name, &idx) < 0)
                return EXIT_WARNING;
        if (o->json) {
                json_t *list = json_array(), *root;

                for (size_t i = 0; list && i < idx.n; i++) {
                        const CaIndexEntry *e = &idx.entries[i];
                        json_t *names = json_array(), *obj;

                        for (char **n = e->names; names && n && *n; n++)
                                json_array_append_new(names, json_string(*n));
                        obj = json_pack("{s:s, s:s, s:s, s:o*}", "serial", e->serial, "name", e->name,
                                        "subject", e->subject, "names", names);
                        if (!obj)
                                continue;
                        print_iso(obj, "not_after", e->not_after);
                        json_object_set_new(obj, "pin_sha256", json_string(e->pin));
                        json_object_set_new(obj, "status", json_string(e->revoked ? "revoked" : "valid"));
                        if (e->revoked) {
                                print_iso(obj, "revoked_at", e->revoked_at);
                                json_object_set_new(obj, "reason",
                                                    json_string(crl_reason_to_string(e->reason)));
                        }
                        json_array_append_new(list, obj);
                }
                root = json_pack("{s:s, s:I, s:o*}", "ca", ca->name, "crl_number",
                                 (json_int_t) idx.crl_number, "certificates", list);
                json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                putchar('\n');
                json_decref(root);
        } else {
                printf("%-40s %-8s %-20s %-16s %s\n", "SERIAL", "STATUS", "NOT_AFTER", "SET",
                       "SUBJECT / NAMES");
                for (size_t i = 0; i < idx.n; i++) {
                        const CaIndexEntry *e = &idx.entries[i];

                        printf("%-40s %-8s %-20s %-16s %s", e->serial, e->revoked ? "revoked" : "valid",
                               format_timestamp_iso(when, sizeof(when), e->not_after),
                               e->name[0] ? e->name : "-", e->subject);
                        for (char **n = e->names; n && *n; n++)
                                printf("%s%s", n == e->names ? " / " : " ", *n);
                        if (e->revoked)
                                printf(" (revoked %s, %s)",
                                       format_timestamp_iso(at, sizeof(at), e->revoked_at),
                                       crl_reason_to_string(e->reason));
                        putchar('\n');
                }
        }
        return fflush(stdout) == 0 ? EXIT_OK : EXIT_WARNING;
}

/* `ca revoke NAME` or `ca revoke --ca CA --serial HEX`. */
static int ca_revoke(const CliOptions *o, char **args) {
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

        if ((args[0] && (args[1] || o->ca || o->serial)) || (!args[0] && (!o->ca || !o->serial)))
                return cli_usage_error("%s", "usage: certherd ca revoke NAME [--reason R] [--replace] | "
                                             "certherd ca revoke --ca CA --serial HEX [--reason R]");
        if (o->replace && !args[0])
                return cli_usage_error("%s", "--replace needs the set: certherd ca revoke NAME --replace");
        if (o->reason && (reason = crl_reason_from_string(o->reason)) < 0)
                return cli_usage_error(
                        "invalid --reason '%s': expected unspecified, key-compromise, ca-compromise, "
                        "affiliation-changed, superseded, cessation-of-operation, certificate-hold, "
                        "privilege-withdrawn or aa-compromise",
                        o->reason);
        if (o->serial && ca_index_normalize_serial(o->serial, &serial) < 0)
                return cli_usage_error("invalid --serial '%s': expected hexadecimal", o->serial);
        r = cli_load_inventory(o, &inv);
        if (r < 0)
                return -r;
        if (args[0]) {
                c = cli_find_cert(inv, args[0]);
                if (!c)
                        return EXIT_USAGE;
                if (c->issuer != ISSUER_CA) {
                        log_error(
                                "%s: issuer = %s: ca revoke is for certificates of an internal CA (certherd "
                                "revoke "
                                "asks an ACME server)",
                                c->name, issuer_kind_to_string(c->issuer));
                        return EXIT_USAGE;
                }
                ca = inventory_find_ca(inv, c->issuer_name);
        } else
                ca = inventory_find_ca(inv, o->ca);
        if (!ca) {
                log_error("no [ca \"%s\"] in the inventory %s", o->ca, inv->path);
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
                    x509_inspect_data(data, size, now_realtime(), &f) < 0 || !f->parsed || !f->serial ||
                    !(serial = strdup(f->serial))) {
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
        return o->replace && c ? cli_revoke_replace(o, c->name) : EXIT_OK;
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
                log_notice(
                        "another certherd holds the lock in %s; it re-issues the certificates of [ca \"%s\"] "
                        "(they are due: issued by the previous generation)",
                        inv->agent.state_directory, ca->name);
                return EXIT_OK;
        }
        if (lock < 0)
                return EXIT_WARNING;
        pass_recover(inv);
        r = pass_run(inv, certs, (PlanFlags){ .force = true }, &p);
        if (r < 0) {
                log_error_errno(r, "Failed to inspect certificates: %m");
                return EXIT_WARNING;
        }
        return outcome_render_pass(p, 0, stdout);
}

/* The options of `ca SUB`: each where it applies, and the values they parse to. Returns 0 or the exit code. */
static int ca_options(const CliOptions *o, const char *sub, Usage *usage, usec_t *validity) {
        if (o->replace)
                return cli_usage_error("--replace applies to ca revoke only, not to 'ca %s'", sub);
        if (o->csr && strcmp(sub, "init") != 0)
                return cli_usage_error("--csr applies to ca init only, not to 'ca %s'", sub);
        if (o->out && strcmp(sub, "sign") != 0 && !(strcmp(sub, "init") == 0 && o->csr))
                return cli_usage_error("--out applies to ca sign and ca init --csr only, not to 'ca %s'",
                                       sub);
        if ((o->usage || o->validity) && strcmp(sub, "sign") != 0)
                return cli_usage_error("--usage and --validity apply to ca sign only, not to 'ca %s'", sub);
        if ((o->reissue || o->finish) && strcmp(sub, "rotate") != 0)
                return cli_usage_error("--reissue and --finish apply to ca rotate only, not to 'ca %s'",
                                       sub);
        if (o->reissue && o->finish)
                return cli_usage_error("%s", "--reissue and --finish exclude each other");
        if ((o->subject || o->keep_subject) && strcmp(sub, "sign") != 0)
                return cli_usage_error("--subject and --keep-subject apply to ca sign only, not to 'ca %s'",
                                       sub);
        if (o->subject && (o->keep_subject || !config_subject_is_valid(o->subject)))
                return cli_usage_error(
                        "invalid --subject '%s': expected a DN such as 'CN=device-01,O=Example' (not with --keep-subject)",
                        o->subject);
        if (o->usage && (*usage = usage_from_string(o->usage)) < 0)
                return cli_usage_error("invalid --usage '%s': expected server, client or server+client",
                                       o->usage);
        if (o->validity && (parse_duration(o->validity, validity) < 0 || *validity == 0))
                return cli_usage_error("invalid --validity '%s': expected a positive duration such as 30d",
                                       o->validity);
        return 0;
}

int cli_ca(const CliOptions *o, char **args) {
        _cleanup_inventory_ Inventory *inv = NULL;
        const char *sub = args[0];
        const CaConfig *ca;
        size_t n = strv_length(args);
        usec_t validity = 0;
        Usage usage = USAGE_CLIENT;
        int r;

        /* The index and revocation take their own arguments. */
        if (sub && strcmp(sub, "list") == 0)
                return ca_list(o, args + 1);
        if (sub && strcmp(sub, "revoke") == 0)
                return ca_revoke(o, args + 1);
        if (!sub || (strcmp(sub, "init") == 0 && n != 2) || (strcmp(sub, "rotate") == 0 && n != 2) ||
            (strcmp(sub, "import") == 0 && n != 3) || (strcmp(sub, "sign") == 0 && n != 3) ||
            (strcmp(sub, "init") != 0 && strcmp(sub, "rotate") != 0 && strcmp(sub, "import") != 0 &&
             strcmp(sub, "sign") != 0))
                return cli_usage_error(
                        "%s",
                        "usage: certherd ca init NAME [--csr [--out FILE]] | ca import NAME CERT | "
                        "ca sign CA CSR [--usage U] [--validity D] [--subject DN | --keep-subject] [--out FILE] | "
                        "ca rotate NAME [--reissue|--finish] | "
                        "ca list CA | ca revoke NAME | ca revoke --ca CA --serial HEX");
        r = ca_options(o, sub, &usage, &validity);
        if (r != 0)
                return r;

        r = cli_load_ca(o, args[1], &inv, &ca);
        if (r != 0)
                return r;
        if (strcmp(sub, "init") == 0) {
                r = o->csr ? ca_init_csr(inv, ca, o->out, now_realtime()) : ca_init(inv, ca, now_realtime());
                /* The first CRL at once: peers configured with it must find one before the first revocation.
                 */
                if (r >= 0 && !o->csr)
                        r = crl_refresh(inv, ca, now_realtime(), true, false, NULL);
        } else if (strcmp(sub, "import") == 0) {
                r = ca_import(inv, ca, args[2], now_realtime());
                if (r >= 0)
                        r = crl_refresh(inv, ca, now_realtime(), true, false, NULL);
        } else if (strcmp(sub, "sign") == 0)
                r = ca_sign(inv, ca,
                            &(CaSignRequest){ .csr_path = args[2],
                                              .usage = usage,
                                              .validity = validity,
                                              .out = o->out,
                                              .subject = o->subject,
                                              .keep_subject = o->keep_subject },
                            now_realtime());
        else if (o->finish) {
                /* The CRL file then holds the current generation's CRL alone. */
                r = ca_rotate_finish(inv, ca, now_realtime());
                if (r >= 0)
                        r = crl_refresh(inv, ca, now_realtime(), true, false, NULL);
        } else {
                r = ca_rotate(inv, ca, now_realtime(), o->reissue);
                /* Peers must find a CRL of the new generation before its first leaf (and the old one's, for
                 * the old leaves): both are signed into the file now. */
                if (r >= 0)
                        r = crl_refresh(inv, ca, now_realtime(), true, false, NULL);
                if (r >= 0 && o->reissue)
                        return ca_reissue(inv, ca);
        }
        return r < 0 ? EXIT_WARNING : EXIT_OK;
}
