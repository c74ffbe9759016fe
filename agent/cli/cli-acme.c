/* SPDX-License-Identifier: GPL-3.0-or-later */
/* revoke and acme rollover, ari, profiles, persist-record, caa-record: asking an ACME server. */
#include <stdio.h>
#include <string.h>

#include "acme-ari.h"
#include "acme.h"
#include "caa.h"
#include "cli-internal.h"
#include "crl.h"
#include "dns-persist.h"
#include "fd-util.h"
#include "log.h"
#include "revocations.h"
#include "state.h"

int cli_revoke(const CliOptions *o, char **args) {
        _cleanup_inventory_ Inventory *inv = NULL;
        const CertConfig *c;
        int r, reason = 0;

        if (!args[0] || args[1])
                return cli_usage_error("%s", "usage: certherd revoke NAME [--reason R] [--replace]");
        if (o->reason && (reason = crl_reason_from_string(o->reason)) < 0 &&
            (reason = acme_revocation_reason_from_string(o->reason)) < 0)
                return cli_usage_error(
                        "invalid --reason '%s': expected keyCompromise, superseded, cessationOfOperation, "
                        "affiliationChanged, ... or a CRLReason number",
                        o->reason);
        r = cli_load_inventory(o, &inv);
        if (r < 0)
                return -r;
        c = cli_find_cert(inv, args[0]);
        if (!c)
                return EXIT_USAGE;
        if (c->issuer != ISSUER_ACME) {
                log_error("%s: issuer = %s: only certificates from an ACME server can be revoked", c->name,
                          issuer_kind_to_string(c->issuer));
                return EXIT_USAGE;
        }
        if (acme_revoke_installed(inv, c, reason, now_realtime()) < 0)
                return EXIT_WARNING;
        /* certherd's own record: check calls it revoked and renew replaces it, CRL or not. */
        {
                _cleanup_free_ uint8_t *data = NULL;
                size_t size = 0;

                if (read_full_file(c->certificate, 1024U * 1024U, &data, &size) >= 0)
                        (void) revocations_add_certificate(inv->agent.state_directory, c->name, data, size,
                                                           crl_reason_to_string(reason) ?: "unspecified",
                                                           now_realtime());
        }
        printf("%s: revoked %s\n", c->name, c->certificate);
        return o->replace ? cli_revoke_replace(o, c->name) : EXIT_OK;
}

/* Set `name` when an ACME server issues it; NULL (logged) otherwise. */
static const CertConfig *find_acme_cert(const Inventory *inv, const char *name) {
        const CertConfig *c = inventory_find_cert(inv, name);

        if (!c || c->issuer != ISSUER_ACME) {
                log_error("no [certificate \"%s\"] issued by an ACME server in the inventory %s", name,
                          inv->path);
                return NULL;
        }
        return c;
}

/* `acme ari CERT`: the ARI window of an installed ACME certificate and the point picked in it. */
static int verb_acme_ari(Inventory *inv, const char *name) {
        _cleanup_(acme_session_freep) AcmeSession *s = NULL;
        AcmeAriDecision d = {};
        char start[32], end[32], when[32];
        const CertConfig *c;
        int r;

        c = find_acme_cert(inv, name);
        if (!c)
                return EXIT_USAGE;
        if (state_directory(inv->agent.state_directory) < 0 ||
            acme_session_new(inv, inventory_find_acme(inv, c->issuer_name), &s) < 0)
                return EXIT_WARNING;
        r = acme_ari_due(s, c, now_realtime(), &d);
        if (r == -EOPNOTSUPP)
                log_error("[acme \"%s\"] the server offers no renewal information (RFC 9773)",
                          c->issuer_name);
        else if (r < 0)
                log_error_errno(r, "%s: no renewal information for %s: %m", c->name, c->certificate);
        if (r < 0)
                return EXIT_WARNING;
        printf("%s: suggested window %s .. %s, renewing at %s: %s (ask again in %llu s)\n", c->name,
               format_timestamp_iso(start, sizeof(start), d.start),
               format_timestamp_iso(end, sizeof(end), d.end),
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
                log_error("[acme \"%s\"] the server offers no profiles (no meta.profiles in %s)", a->name,
                          a->directory);
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

        c = find_acme_cert(inv, name);
        if (!c)
                return EXIT_USAGE;
        a = inventory_find_acme(inv, c->issuer_name);
        if (acme_saved_state(inv, a, &account, &issuer) < 0)
                return EXIT_WARNING;
        if (!issuer) {
                log_error("[acme \"%s\"] the CA's issuer domain is not known yet: set persist-issuer = (the "
                          "domain "
                          "the CA names in its dns-persist-01 challenges, e.g. letsencrypt.org)",
                          a->name);
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
                        log_warning("%s: %s is an IP address: dns-persist-01 validates DNS names only",
                                    c->name, *n);
                        continue;
                }
                if (persist_record_name(*n, &owner) < 0 ||
                    persist_record_value(issuer, account, strncmp(*n, "*.", 2) == 0, &value) < 0)
                        return EXIT_WARNING;
                printf("%s. IN TXT \"%s\"\n", owner, value);
        }
        return EXIT_OK;
}

/* `acme caa-record CERT`: the CAA records that lock its names to this account and challenge type. */
static int verb_acme_caa_record(Inventory *inv, const char *name) {
        const CertConfig *c = find_acme_cert(inv, name);

        if (!c)
                return EXIT_USAGE;
        return caa_print_records(inv, c, stdout) < 0 ? EXIT_WARNING : EXIT_OK;
}

int cli_acme(const CliOptions *o, char **args) {
        _cleanup_inventory_ Inventory *inv = NULL;
        _cleanup_(acme_session_freep) AcmeSession *s = NULL;
        const AcmeConfig *a;
        int r;

        if (!args[0] ||
            (strcmp(args[0], "rollover") != 0 && strcmp(args[0], "ari") != 0 &&
             strcmp(args[0], "profiles") != 0 && strcmp(args[0], "persist-record") != 0 &&
             strcmp(args[0], "caa-record") != 0) ||
            !args[1] || args[2])
                return cli_usage_error(
                        "%s", "usage: certherd acme rollover NAME | certherd acme ari CERTIFICATE | "
                              "certherd acme profiles NAME | certherd acme persist-record CERTIFICATE | "
                              "certherd acme caa-record CERTIFICATE");
        r = cli_load_inventory(o, &inv);
        if (r < 0)
                return -r;
        if (strcmp(args[0], "ari") == 0)
                return verb_acme_ari(inv, args[1]);
        if (strcmp(args[0], "persist-record") == 0)
                return verb_acme_persist_record(inv, args[1]);
        if (strcmp(args[0], "caa-record") == 0)
                return verb_acme_caa_record(inv, args[1]);
        a = inventory_find_acme(inv, args[1]);
        if (!a) {
                log_error("no [acme \"%s\"] in the inventory %s", args[1], inv->path);
                return EXIT_USAGE;
        }
        if (strcmp(args[0], "profiles") == 0)
                return verb_acme_profiles(inv, a);
        if (state_directory(inv->agent.state_directory) < 0 || acme_session_new(inv, a, &s) < 0 ||
            acme_key_rollover(s) < 0)
                return EXIT_WARNING;
        printf("[acme \"%s\"] account %s now uses key %s\n", a->name, acme_session_account(s),
               acme_session_key_thumbprint(s));
        return EXIT_OK;
}
