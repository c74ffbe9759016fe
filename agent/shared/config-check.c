/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The inventory as a whole: the required keys of each section, the keys that need each other, what the
 * sections refer to, and the warnings a valid inventory still deserves. Runs after every file is read. */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "shared-internal.h"
#include "config-value.h"
#include "config.h"

/* "FILE:LINE: [certificate \"web\"] message": formatted only when there is an error, as validation
 * runs over every section of a large inventory. */
static _printf_(6, 7) int section_error(char **reterr, SectionKind kind, const char *name, const char *file,
                                        unsigned line, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        char where[256];

        if (VA_FORMAT(&msg, fmt) < 0)
                return -ENOMEM;
        config_section_display(where, sizeof(where), kind, name);
        return config_error_at(reterr, -EINVAL, file, line, "%s %s", where, msg);
}

/* section_error() about `s`, an AcmeConfig, CaConfig or CertConfig (each knows its name, file and line). */
#define SECTION_ERROR(kind, s, ...) section_error(reterr, kind, (s)->name, (s)->file, (s)->line, __VA_ARGS__)

static int check_thresholds(char **reterr, SectionKind kind, const char *name, const char *file,
                            unsigned line, Threshold warn, Threshold crit) {
        char a[CONFIG_USEC_MAX], b[CONFIG_USEC_MAX];

        /* A percentage depends on the certificate's lifetime, so only two absolute values compare. */
        if (!warn.set || !crit.set || warn.is_percent || crit.is_percent || crit.usec <= warn.usec)
                return 0;
        return section_error(reterr, kind, name, file, line, "critical-before (%s) exceeds warn-before (%s)",
                             config_format_usec(crit.usec, a, sizeof(a)),
                             config_format_usec(warn.usec, b, sizeof(b)));
}

static int validate_agent(Inventory *inv, char **reterr) {
        AgentConfig *a = &inv->agent;
        const char *file = a->file ?: inv->path ?: "<config>";

        if (!a->state_directory) {
                /* systemd passes StateDirectory= as a ':'-separated list; ours is the first. */
                const char *e = getenv("STATE_DIRECTORY");
                size_t n = e ? strcspn(e, ":") : 0;

                a->state_directory = n > 0 ? strndup(e, n) : strdup("/var/lib/certherd");
        }
        if (!a->pin_directory)
                a->pin_directory = strdup("/run/certherd/pins");
        if (!a->state_directory || !a->pin_directory)
                return config_error_at(reterr, -ENOMEM, file, 0, "out of memory");
        /* The defaults scale down for short lifetimes (the smaller of 14 days and a third of the lifetime,
         * of 7 days and a sixth), as renew-before's 33% does: else a fresh 6-day certificate would be
         * expiry-critical the moment it is issued. */
        if (!a->warn_before.set)
                a->warn_before = (Threshold){ .set = true,
                                              .usec = 14 * USEC_PER_DAY,
                                              .lifetime_divisor = 3 };
        if (!a->critical_before.set)
                a->critical_before = (Threshold){ .set = true,
                                                  .usec = 7 * USEC_PER_DAY,
                                                  .lifetime_divisor = 6 };
        if (!a->renew_before.set)
                a->renew_before = (Threshold){
                        .set = true, .implicit = true, .is_percent = true, .percent = 33
                };
        if (a->hook_timeout == 0)
                a->hook_timeout = CONFIG_HOOK_TIMEOUT_DEFAULT;
        return check_thresholds(reterr, SECTION_AGENT, NULL, file, a->file ? a->line : 0, a->warn_before,
                                a->critical_before);
}

/* A key in a PKCS#11 token must name its object: the label is the stable name services open, and
 * rotation keeps LABEL.next and LABEL.old beside it. */
static bool key_is_token(const char *key) {
        return key && strncasecmp(key, "pkcs11:", 7) == 0;
}

static bool token_key_has_label(const char *key) {
        const char *end = key + strcspn(key, "?");

        for (const char *p = key + 7; p < end; p += strcspn(p, ";?") + (p[strcspn(p, ";?")] == ';'))
                if (strncmp(p, "object=", 7) == 0 && p[7] && p[7] != ';' && p[7] != '?')
                        return true;
        return false;
}

static int validate_acme(AcmeConfig *a, char **reterr) {
        /* The ports CAs validate on: 80 for http-01 (RFC 8555 §8.3), 443 for tls-alpn-01 (RFC 8737 §3). */
        if (!a->listen &&
            !(a->listen = strdup(a->challenge == CHALLENGE_TLS_ALPN_01 ? "[::]:443" : "[::]:80")))
                return config_error_at(reterr, -ENOMEM, a->file, 0, "out of memory");
        if (!a->directory)
                return SECTION_ERROR(SECTION_ACME, a, "missing required key 'directory'");
        if (!a->eab_kid != !a->eab_hmac_file)
                return SECTION_ERROR(SECTION_ACME, a, "eab-kid and eab-hmac-file must be given together");
        if (a->challenge == CHALLENGE_DNS_01 && !a->dns_hook)
                return SECTION_ERROR(SECTION_ACME, a, "challenge dns-01 needs dns-hook");
        if (a->account_key && (!key_is_token(a->account_key) || !token_key_has_label(a->account_key)))
                return SECTION_ERROR(
                        SECTION_ACME, a,
                        "account-key '%s' is not a pkcs11: URI naming an object (;object=LABEL)",
                        a->account_key);
        if (a->pkcs11_pin_file && !a->account_key)
                return SECTION_ERROR(SECTION_ACME, a, "pkcs11-pin-file is for account-key = pkcs11:…");
        return 0;
}

static int validate_ca(const Inventory *inv, CaConfig *c, char **reterr) {
        const CaConfig *p = c;

        if (!c->certificate || !c->key)
                return SECTION_ERROR(SECTION_CA, c, "missing required key '%s'",
                                     c->certificate ? "key" : "certificate");
        if (key_is_token(c->key) && !token_key_has_label(c->key))
                return SECTION_ERROR(SECTION_CA, c, "key '%s' names no token object: add ;object=LABEL",
                                     c->key);
        if (c->pkcs11_pin_file && !key_is_token(c->key))
                return SECTION_ERROR(SECTION_CA, c, "pkcs11-pin-file is for key = pkcs11:…, not a key file");
        /* An intermediate names its signer; the chain of parents must end in a root. */
        for (size_t depth = 0; p && p->parent; depth++) {
                const CaConfig *next = inventory_find_ca(inv, p->parent);

                if (!next)
                        return SECTION_ERROR(SECTION_CA, c, "parent '%s': no [ca \"%s\"] section", p->parent,
                                             p->parent);
                if (next == c || depth > inv->n_ca)
                        return SECTION_ERROR(SECTION_CA, c, "parent '%s': the parents form a loop",
                                             c->parent);
                p = next;
        }
        return 0;
}

/* "ca:internal", "self" */
static char *issuer_display(char *buf, size_t size, const CertConfig *c) {
        snprintf(buf, size, "%s%s%s", issuer_kind_to_string(c->issuer), c->issuer_name ? ":" : "",
                 c->issuer_name ?: "");
        return buf;
}

/* chain, leaf, combined, pkcs12: installed in one generation with key and certificate, so each must be
 * its own absolute path; what holds the key needs a key that is a file. */
static int validate_outputs(const CertConfig *c, char **reterr) {
        const char *paths[] = {
                c->certificate, c->key, c->x->chain, c->x->leaf, c->x->combined, c->x->pkcs12
        };
        const char *names[] = { "certificate", "key", "chain", "leaf", "combined", "pkcs12" };
        bool key_in_token = c->key && strncmp(c->key, "pkcs11:", 7) == 0;

        for (size_t i = 2; i < ELEMENTSOF(paths); i++) {
                if (!paths[i])
                        continue;
                if (paths[i][0] != '/')
                        return SECTION_ERROR(SECTION_CERT, c, "'%s' must be an absolute path, not '%s'",
                                             names[i], paths[i]);
                for (size_t k = 0; k < i; k++)
                        if (paths[k] && strcmp(paths[k], paths[i]) == 0)
                                return SECTION_ERROR(SECTION_CERT, c, "'%s' and '%s' name the same file %s",
                                                     names[k], names[i], paths[i]);
        }
        if ((c->x->combined || c->x->pkcs12) && (!c->key || key_in_token))
                return SECTION_ERROR(SECTION_CERT, c, "'%s' holds the private key: it needs a key file%s",
                                     c->x->combined ? "combined" : "pkcs12",
                                     key_in_token ? ", not a pkcs11: URI" : "");
        if (c->x->pkcs12 && !c->x->pkcs12_password_file)
                return SECTION_ERROR(SECTION_CERT, c, "'pkcs12' needs 'pkcs12-password-file'");
        if (c->x->pkcs12_password_file && !c->x->pkcs12)
                return SECTION_ERROR(SECTION_CERT, c, "'pkcs12-password-file' without 'pkcs12'");
        return 0;
}

static int validate_cert(const Inventory *inv, CertConfig *c, char **reterr) {
        char issuer[256];
        int r;

        if (!c->certificate)
                return SECTION_ERROR(SECTION_CERT, c, "missing required key 'certificate'");
        if (!c->key && c->issuer != ISSUER_NONE)
                return SECTION_ERROR(SECTION_CERT, c, "missing required key 'key' (needed with issuer '%s')",
                                     issuer_display(issuer, sizeof(issuer), c));
        if (key_is_token(c->key) && !token_key_has_label(c->key))
                return SECTION_ERROR(SECTION_CERT, c, "key '%s' names no token object: add ;object=LABEL",
                                     c->key);
        if (key_is_token(c->key) && c->x->key_password_file)
                return SECTION_ERROR(
                        SECTION_CERT, c,
                        "key-password-file is for key files; a token key takes pkcs11-pin-file");
        if (c->x->pkcs11_pin_file && !key_is_token(c->key))
                return SECTION_ERROR(SECTION_CERT, c,
                                     "pkcs11-pin-file is for key = pkcs11:…, not a key file");
        if ((c->issuer == ISSUER_CA && !inventory_find_ca(inv, c->issuer_name)) ||
            (c->issuer == ISSUER_ACME && !inventory_find_acme(inv, c->issuer_name)))
                return SECTION_ERROR(SECTION_CERT, c, "issuer '%s': no [%s \"%s\"] section",
                                     issuer_display(issuer, sizeof(issuer), c),
                                     issuer_kind_to_string(c->issuer), c->issuer_name ?: "");
        if (c->x->profile && c->issuer != ISSUER_ACME)
                return SECTION_ERROR(SECTION_CERT, c,
                                     "profile is an ACME profile: it needs issuer = acme:NAME, not '%s'",
                                     issuer_display(issuer, sizeof(issuer), c));
        if (c->issuer != ISSUER_NONE && strv_length(c->names) == 0)
                return SECTION_ERROR(SECTION_CERT, c, "issuer '%s' needs names",
                                     issuer_display(issuer, sizeof(issuer), c));
        /* An ACME server validates DNS names and IPs only. */
        for (size_t i = 0; c->issuer == ISSUER_ACME && c->names && c->names[i]; i++)
                if (config_name_type(c->names[i]) == NAME_URI || config_name_type(c->names[i]) == NAME_EMAIL)
                        return SECTION_ERROR(
                                SECTION_CERT, c,
                                "names: '%s': an ACME server issues DNS names and IP addresses only",
                                c->names[i]);
        if (c->x->subject && c->issuer == ISSUER_ACME)
                return SECTION_ERROR(SECTION_CERT, c,
                                     "subject: an ACME server sets the subject itself; remove the key");
        r = validate_outputs(c, reterr);
        if (r < 0)
                return r;
        return check_thresholds(reterr, SECTION_CERT, c->name, c->file, c->line, cert_warn_before(inv, c),
                                cert_critical_before(inv, c));
}

/* The warning "FILE:LINE: [section] message" about section (kind, name). */
static _printf_(6, 7) int add_warning(Inventory *inv, SectionKind kind, const char *name, const char *file,
                                      unsigned line, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        char where[256], *w;

        if (VA_FORMAT(&msg, fmt) < 0)
                return -ENOMEM;
        config_section_display(where, sizeof(where), kind, name);
        if (asprintf(&w, "%s:%u: %s %s", file ?: "<config>", line, where, msg) < 0)
                return -ENOMEM;
        return strv_consume(&inv->warnings, NULL, w);
}

#define CERT_WARNING(c, ...) add_warning(inv, SECTION_CERT, (c)->name, (c)->file, (c)->line, __VA_ARGS__)

/* policy_renew_time() never renews earlier than two thirds into the lifetime (a 90-day certificate at
 * 30 days): a renew-before beyond that is capped, which the operator should hear about when the
 * inventory is read, not discover. Percentages are known here; an absolute value only where the
 * lifetime is: the validity of an internal CA's leaves, or of a self-signed certificate. */
static int warn_percent(Inventory *inv, Threshold t, const char *file, unsigned line, SectionKind kind,
                        const char *name) {
        if (!t.set || !t.is_percent || t.percent <= 66)
                return 0;
        return add_warning(
                inv, kind, name, file, line,
                "renew-before = %u%% is more than two thirds of a certificate's lifetime: renewal is capped at two "
                "thirds (66%%)",
                t.percent);
}

static int warn_renew_before(Inventory *inv, const CertConfig *c) {
        Threshold t = cert_renew_before(inv, c);
        char a[CONFIG_USEC_MAX], b[CONFIG_USEC_MAX], cap[CONFIG_USEC_MAX], from[300] = "";
        const CaConfig *ca = NULL;
        usec_t lifetime;

        if (!t.set || t.is_percent)
                return 0;
        if (c->issuer == ISSUER_CA) {
                ca = inventory_find_ca(inv, c->issuer_name);
                if (!ca)
                        return 0;
                lifetime = ca->validity;
                snprintf(from, sizeof(from), "the validity of [ca \"%s\"]", ca->name);
        } else if (c->issuer == ISSUER_SELF) {
                lifetime = CONFIG_SELF_SIGNED_VALIDITY;
                snprintf(from, sizeof(from), "what issuer = self issues");
        } else
                return 0;
        if (t.usec <= lifetime - lifetime / 3)
                return 0;
        return CERT_WARNING(
                c,
                "renew-before = %s%s is more than two thirds of the certificate's lifetime (%s, %s): renewal is "
                "capped at %s before expiry",
                config_format_usec(t.usec, a, sizeof(a)), c->x->renew_before.set ? "" : " (from [agent])",
                config_format_usec(lifetime, b, sizeof(b)), from,
                config_format_usec(lifetime - lifetime / 3, cap, sizeof(cap)));
}

/* A name outside its CA's permitted-names would be refused at each renewal: say so now. */
static int warn_permitted(Inventory *inv, const CertConfig *c) {
        const CaConfig *ca = c->issuer == ISSUER_CA ? inventory_find_ca(inv, c->issuer_name) : NULL;

        for (const CaConfig *p = ca; p; p = p->parent ? inventory_find_ca(inv, p->parent) : NULL)
                for (size_t i = 0; c->names && c->names[i]; i++)
                        if (!config_name_permitted(p->permitted_names, c->names[i]))
                                return CERT_WARNING(
                                        c,
                                        "name '%s' is outside the permitted-names of [ca \"%s\"]: it will not be issued",
                                        c->names[i], p->name);
        return 0;
}

/* Public ACME CAs stopped putting clientAuth in their certificates (Let's Encrypt since 2026-02-11): a
 * set that needs it from an ACME issuer works until its next renewal, whose certificate renew.c then
 * refuses (usage-missing). Say so when the inventory is read, long before that day. */
static int warn_client_usage(Inventory *inv, const CertConfig *c) {
        if (c->issuer != ISSUER_ACME || (c->usage != USAGE_CLIENT && c->usage != USAGE_SERVER_CLIENT))
                return 0;
        return CERT_WARNING(
                c,
                "usage = %s with issuer = acme:%s: public ACME CAs no longer issue client certificates "
                "(clientAuth), and a renewed certificate without it is not installed; issue client certificates "
                "from an internal CA (issuer = ca:NAME)",
                usage_to_string(c->usage), c->issuer_name ?: "");
}

static int collect_warnings(Inventory *inv) {
        int r;

        strv_free(inv->warnings); /* validated once more: found afresh */
        inv->warnings = NULL;
        r = warn_percent(inv, inv->agent.renew_before, inv->agent.file ?: inv->path, inv->agent.line,
                         SECTION_AGENT, NULL);
        for (size_t i = 0; i < inv->n_certs && r >= 0; i++) {
                r = warn_percent(inv, inv->certs[i]->x->renew_before, inv->certs[i]->file,
                                 inv->certs[i]->line, SECTION_CERT, inv->certs[i]->name);
                if (r >= 0)
                        r = warn_renew_before(inv, inv->certs[i]);
                if (r >= 0)
                        r = warn_permitted(inv, inv->certs[i]);
                if (r >= 0)
                        r = warn_client_usage(inv, inv->certs[i]);
        }
        return r;
}

int config_validate(Inventory *inv, char **reterr) {
        int r;

        assert(inv);
        r = validate_agent(inv, reterr);
        for (size_t i = 0; i < inv->n_acme && r >= 0; i++) {
                inv->acme[i]->hook_timeout = inv->agent.hook_timeout;
                r = validate_acme(inv->acme[i], reterr);
        }
        for (size_t i = 0; i < inv->n_ca && r >= 0; i++)
                r = validate_ca(inv, inv->ca[i], reterr);
        for (size_t i = 0; i < inv->n_certs && r >= 0; i++)
                r = validate_cert(inv, inv->certs[i], reterr);
        if (r >= 0 && collect_warnings(inv) < 0)
                r = config_error_at(reterr, -ENOMEM, inv->path ?: "<config>", 0, "out of memory");
        return r < 0 ? r : 0;
}
