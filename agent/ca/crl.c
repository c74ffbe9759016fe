/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "ca-pki.h"
#include "ca.h"
#include "compromised-keys.h"
#include "crl.h"
#include "fd-util.h"
#include "gnutls-util.h"
#include "install.h"
#include "log.h"
#include "notify-bus.h"
#include "notify.h"
#include "revocations.h"
#include "state.h"
#include "x509-file.h"

#define KEY_ID_MAX 64
#define UNIT_JOB_TIMEOUT (90 * USEC_PER_SEC)

static void cleanup_crl(gnutls_x509_crl_t *c) {
        if (*c)
                gnutls_x509_crl_deinit(*c);
}

static int unhex(const char *s, uint8_t *out, size_t max, size_t *ret_size) {
        size_t n = strlen(s);

        if (n == 0 || n % 2 || n / 2 > max)
                return -EINVAL;
        for (size_t i = 0; i < n / 2; i++) {
                unsigned v;
                if (sscanf(s + 2 * i, "%2x", &v) != 1)
                        return -EINVAL;
                out[i] = (uint8_t) v;
        }
        *ret_size = n / 2;
        return 0;
}

static time_t to_time(usec_t u) {
        return (time_t) (u / USEC_PER_SEC);
}

int crl_make(gnutls_x509_crt_t ca_crt, gnutls_privkey_t ca_key, const CaIndex *idx, uint64_t number,
             usec_t now, usec_t validity, gnutls_datum_t *ret_pem) {
        _cleanup_(cleanup_crl) gnutls_x509_crl_t crl = NULL;
        uint8_t id[KEY_ID_MAX], nr[8];
        size_t id_size = sizeof(id);
        int r;

        if (!ca_crt || !ca_key || !idx || !ret_pem || validity == 0)
                return -EINVAL;
        if (gnutls_x509_crl_init(&crl) < 0)
                return -ENOMEM;
        if ((r = gnutls_x509_crl_set_version(crl, 2)) < 0 ||
            (r = gnutls_x509_crl_set_this_update(crl, to_time(now))) < 0 ||
            (r = gnutls_x509_crl_set_next_update(crl, to_time(now + validity))) < 0)
                return errno_from_gnutls(r);

        for (size_t i = 0; i < idx->n; i++) {
                const CaIndexEntry *e = &idx->entries[i];
                uint8_t serial[20];
                size_t ssize;

                if (!e->revoked)
                        continue;
                /* GnuTLS writes no per-entry reasonCode extension; the reason stays in the index (ca list). */
                if (unhex(e->serial, serial, sizeof(serial), &ssize) < 0)
                        return -EINVAL;
                r = gnutls_x509_crl_set_crt_serial(crl, serial, ssize, to_time(e->revoked_at));
                if (r < 0)
                        return errno_from_gnutls(r);
        }

        /* AKI: as the CA's leaves carry it. */
        r = ca_authority_key_id(ca_crt, id, &id_size);
        if (r < 0)
                return r;
        r = gnutls_x509_crl_set_authority_key_id(crl, id, id_size);
        if (r < 0)
                return errno_from_gnutls(r);

        /* CRL number: a non-negative INTEGER, minimal big-endian octets (a leading zero only for the sign). */
        for (int i = 0; i < 8; i++)
                nr[i] = (uint8_t) (number >> (56 - 8 * i));
        {
                size_t k = 0;
                while (k < 7 && nr[k] == 0 && !(nr[k + 1] & 0x80))
                        k++;
                r = gnutls_x509_crl_set_number(crl, nr + k, sizeof(nr) - k);
        }
        if (r < 0)
                return errno_from_gnutls(r);

        /* Through the abstract key: a CA key may live in a PKCS#11 token. */
        r = gnutls_x509_crl_privkey_sign(crl, ca_crt, ca_key, ca_sign_digest(ca_key), 0);
        if (r < 0)
                return errno_from_gnutls(r);
        r = gnutls_x509_crl_export2(crl, GNUTLS_X509_FMT_PEM, ret_pem);
        return r < 0 ? errno_from_gnutls(r) : 0;
}

/* The CA's own CRL, believed only when the CA's current key signed it: a forged file in its place (or
 * one whose number was pushed up) is treated as missing and re-signed at once. -EPERM: none of the CRLs
 * in the file is the CA's. */
static int read_own_crl(const CaConfig *ca, CrlInfo *ret) {
        _cleanup_(crl_verdict_done) CrlVerdict v = {};
        _cleanup_free_ uint8_t *data = NULL;
        gnutls_x509_crt_t *cas = NULL;
        size_t size;
        unsigned n = 0;
        int r;

        if (!ca->crl || !ca->certificate)
                return -ENOENT;
        r = read_full_file(ca->crl, CRL_FILE_MAX, &data, &size);
        if (r < 0)
                return r;
        r = x509_read_crts(ca->certificate, CRL_FILE_MAX, &cas, &n);
        if (r < 0)
                return r;
        /* The CA's certificate alone (not its chain): its CRL, not its parent's. */
        r = crl_read_verified(data, size, NULL, cas, 1, &v);
        x509_crts_free(cas, n);
        if (r < 0)
                return r;
        if (v.trust != CRL_FOR_CHAIN)
                return -EPERM;
        *ret = v.info;
        v.info = (CrlInfo){};
        return 0;
}

usec_t crl_ca_next_update(const CaConfig *ca) {
        _cleanup_(crl_info_done) CrlInfo info = {};

        return read_own_crl(ca, &info) >= 0 ? info.next_update : 0;
}

/* After a failed re-sign, try again soon: a tenth of the validity, between a second and ten minutes. */
static usec_t retry_after(const CaConfig *ca, usec_t now) {
        usec_t d = ca->crl_validity / 10;

        if (d < USEC_PER_SEC)
                d = USEC_PER_SEC;
        if (d > 10 * USEC_PER_MINUTE)
                d = 10 * USEC_PER_MINUTE;
        return now + d;
}

static void notify_crl(const Inventory *inv, const CaConfig *ca, uint64_t number) {
        char nr[32];
        int r;

        snprintf(nr, sizeof(nr), "%" PRIu64, number);
        if (ca->reload && ca->reload[0]) {
                _cleanup_(notify_bus_freep) NotifyBus *bus = NULL;

                r = notify_bus_open(&bus);
                if (r < 0)
                        log_error_errno(
                                r, "[ca \"%s\"]: cannot reach systemd to reload the units using its CRL: %m",
                                ca->name);
                for (char **u = ca->reload; r >= 0 && *u; u++) {
                        _cleanup_free_ char *err = NULL;

                        /* notify_unit logs reloaded / reload-failed itself. */
                        (void) notify_unit(bus, UNIT_ACTION_RELOAD, *u, ca->name, UNIT_JOB_TIMEOUT, &err);
                }
        }
        if (ca->exec) {
                _cleanup_free_ char *err = NULL;
                HookEnv env = { .name = ca->name, .certificate = ca->crl, .not_after = NULL };

                r = notify_exec(ca->exec, &env, inv->agent.hook_timeout ?: CONFIG_HOOK_TIMEOUT_DEFAULT,
                                &err);
                if (r < 0)
                        log_error("[ca \"%s\"]: exec after CRL %s: %s", ca->name, nr, err ?: strerror(-r));
        }
}

static int append_previous(const CaConfig *ca, const CaIndex *idx, uint64_t number, usec_t now,
                           gnutls_datum_t *pem) {
        _cleanup_x509_crt_ gnutls_x509_crt_t crt = NULL;
        _cleanup_x509_privkey_ gnutls_x509_privkey_t key = NULL;
        _cleanup_privkey_ gnutls_privkey_t signer = NULL;
        _cleanup_datum_ gnutls_datum_t prev = {};
        usec_t until = 0;
        uint8_t *both;
        int r;

        if (ca_previous_until(ca, &until) <= 0 || now >= until)
                return 0;
        r = ca_load_previous(ca, &crt, &key);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (gnutls_privkey_init(&signer) < 0)
                return -ENOMEM;
        r = gnutls_privkey_import_x509(signer, key, 0); /* borrowed: `key` outlives `signer` */
        if (r < 0)
                return errno_from_gnutls(r);
        r = crl_make(crt, signer, idx, number, now, ca->crl_validity, &prev);
        if (r < 0)
                return r;
        both = gnutls_malloc(pem->size + prev.size + 1);
        if (!both)
                return -ENOMEM;
        memcpy(both, pem->data, pem->size);
        memcpy(both + pem->size, prev.data, prev.size);
        both[pem->size + prev.size] = 0;
        gnutls_free(pem->data);
        pem->data = both;
        pem->size += prev.size;
        return 0;
}

/* When the CRL `old` (have_old: it could be read) of `ca` is due for re-signing: at half its validity, or
 * now when it is missing, unreadable or was signed with another validity. */
static usec_t due_at(const CaConfig *ca, bool have_old, const CrlInfo *old, usec_t now) {
        if (!have_old || old->next_update <= old->this_update ||
            old->next_update - old->this_update != ca->crl_validity / USEC_PER_SEC * USEC_PER_SEC)
                return now;
        return old->this_update + (old->next_update - old->this_update) / 2;
}

usec_t crl_next_due(const Inventory *inv, usec_t now) {
        usec_t next = USEC_INFINITY;

        for (size_t i = 0; i < inv->n_ca; i++) {
                const CaConfig *ca = inv->ca[i];
                _cleanup_(crl_info_done) CrlInfo old = {};
                struct stat st;
                usec_t t;

                if (!ca->crl || stat(ca->certificate, &st) < 0)
                        continue;
                t = due_at(ca, read_own_crl(ca, &old) >= 0, &old, now);
                if (t < next)
                        next = t;
        }
        return next;
}

/* CRL number `number` over the index, signed by the CA's current key (and, after a rotation, by its
 * previous one), installed at ca->crl. Logs why it fails. */
static int sign_and_install(const CaConfig *ca, const CaIndex *idx, uint64_t number, usec_t now) {
        _cleanup_x509_crt_ gnutls_x509_crt_t ca_crt = NULL;
        _cleanup_privkey_ gnutls_privkey_t ca_key = NULL;
        _cleanup_datum_ gnutls_datum_t ca_pem = {}, pem = {};
        int r;

        r = ca_load_signer(ca, &ca_crt, &ca_key, &ca_pem);
        if (r < 0)
                return r;
        r = crl_make(ca_crt, ca_key, idx, number, now, ca->crl_validity, &pem);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot sign the CRL: %m", ca->name);
        /* After `ca rotate`, while leaves of the previous generation may be valid, its key signs a CRL too,
         * in the same file: a peer checks an old leaf against a CRL of the CA that issued it (OpenSSL picks
         * the one whose issuer and authority key id match), or refuses it. Same entries: serials are
         * random, one list serves both. */
        r = append_previous(ca, idx, number, now, &pem);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot sign the CRL of its previous generation: %m",
                                       ca->name);
        r = install_data_mkdir(ca->crl, pem.data, pem.size, 0644, 0755);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot install the CRL %s: %m", ca->name, ca->crl);
        return 0;
}

int crl_refresh(const Inventory *inv, const CaConfig *ca, usec_t now, bool force, bool locked,
                usec_t *ret_next) {
        _cleanup_(crl_info_done) CrlInfo old = {};
        _cleanup_(ca_index_done) CaIndex idx = {};
        _cleanup_close_ int lock = -1;
        char when[32];
        size_t n_revoked = 0;
        bool have_old;
        uint64_t number;
        int r;

        if (ret_next)
                *ret_next = USEC_INFINITY;
        if (!ca->crl)
                return 0;

        have_old = read_own_crl(ca, &old) >= 0;
        if (!force && due_at(ca, have_old, &old, now) > now) {
                if (ret_next)
                        *ret_next = due_at(ca, have_old, &old, now);
                return 0;
        }

        if (!locked) {
                lock = ca_index_lock(inv->agent.state_directory, ca->name);
                if (lock < 0) {
                        r = log_error_errno(lock, "[ca \"%s\"]: cannot lock its index: %m", ca->name);
                        goto fail;
                }
        }
        r = ca_index_load(inv->agent.state_directory, ca->name, &idx);
        if (r < 0)
                goto fail;
        number = (idx.crl_number > old.number ? idx.crl_number : old.number) + 1;
        r = sign_and_install(ca, &idx, number, now);
        if (r < 0)
                goto fail;
        idx.crl_number = number;
        r = ca_index_save(inv->agent.state_directory, ca->name, &idx);
        if (r < 0)
                /* The CRL is out; its number is read back from it next time, so none is reused. */
                log_warning_errno(r, "[ca \"%s\"]: cannot save the CRL number in its index: %m", ca->name);
        if (lock >= 0) {
                close(lock);
                lock = -1;
        }
        for (size_t i = 0; i < idx.n; i++)
                n_revoked += idx.entries[i].revoked;
        log_notice("[ca \"%s\"]: signed CRL %" PRIu64 " (%zu revoked) into %s, next update %s", ca->name,
                   number, n_revoked, ca->crl,
                   format_timestamp_iso(when, sizeof(when), now + ca->crl_validity));
        notify_crl(inv, ca, number);
        if (ret_next)
                *ret_next = now + ca->crl_validity / 2;
        return 1;

fail:
        /* The alert: the CRL lapses unless a later attempt succeeds (check shows it on the CA row). */
        if (have_old && old.next_update)
                log_error(
                        "[ca \"%s\"]: could not re-sign the CRL %s; the current one lapses at %s (peers then refuse "
                        "every client)",
                        ca->name, ca->crl, format_timestamp_iso(when, sizeof(when), old.next_update));
        else
                log_error("[ca \"%s\"]: could not make the CRL %s", ca->name, ca->crl);
        if (ret_next)
                *ret_next = retry_after(ca, now);
        return r < 0 ? r : -EIO;
}

usec_t crl_refresh_all(const Inventory *inv, usec_t now) {
        usec_t next = USEC_INFINITY;

        for (size_t i = 0; i < inv->n_ca; i++) {
                const CaConfig *ca = inv->ca[i];
                struct stat st;
                usec_t n;

                /* A CA not made yet (`ca init`) has nothing to sign with; check reports it. */
                if (!ca->crl || stat(ca->certificate, &st) < 0)
                        continue;
                (void) crl_refresh(inv, ca, now, false, false, &n);
                if (n < next)
                        next = n;
        }
        return next;
}

/* The threshold for crl-expiring: warn-before, but at most a third of the CRL's validity — a CRL that
 * lives a week would otherwise always be "expiring" under a 14-day warn-before; certherd re-signs its own
 * at half, so one with less than a third left was not re-signed in time. */
static int add_crl_expiry(CertFacts *f, const char *path, const CrlInfo *info, Threshold warn, usec_t now) {
        usec_t life = info->next_update > info->this_update ? info->next_update - info->this_update : 0;
        usec_t w = threshold_resolve(warn, life);
        char when[32];

        if (w > life / 3)
                w = life / 3;
        format_timestamp_iso(when, sizeof(when), info->next_update);
        if (info->next_update == 0)
                return 0;
        if (now >= info->next_update)
                return cert_facts_add_problem(f, PROBLEM_CRL_EXPIRED, "CRL %s expired at %s (nextUpdate)",
                                              path, when);
        if (info->next_update - now <= w)
                return cert_facts_add_problem(f, PROBLEM_CRL_EXPIRING,
                                              "CRL %s expires at %s (nextUpdate), in %" PRIu64 " s", path,
                                              when, (uint64_t) ((info->next_update - now) / USEC_PER_SEC));
        return 0;
}

/* Why a revocation without a reason, or for key compromise, is taken as one: a CA that does not say
 * cannot be assumed to mean something milder. Our own CA's CRL names no reasons (GnuTLS writes none per
 * entry): its index keeps them. */
static const char *entry_reason(const Inventory *inv, const CaConfig *ca, const char *path,
                                const char *serial, int reason, bool *ret_compromised) {
        _cleanup_(ca_index_done) CaIndex idx = {};
        const CaIndexEntry *e;

        /* A watched set may name our CA's CRL without being its set: the CA whose crl it is knows. */
        for (size_t i = 0; !ca && i < inv->n_ca; i++)
                if (inv->ca[i]->crl && strcmp(inv->ca[i]->crl, path) == 0)
                        ca = inv->ca[i];
        if (reason < 0 && ca && ca_index_load(inv->agent.state_directory, ca->name, &idx) >= 0 &&
            (e = ca_index_find(&idx, serial)) && e->revoked)
                reason = (int) e->reason;
        *ret_compromised = reason < 0 || reason == CRL_REASON_KEY_COMPROMISE;
        if (reason < 0)
                return "none given (taken as key compromise)";
        return crl_reason_to_string((CrlReason) reason) ?: "unknown";
}

static int check_one_crl(const Inventory *inv, const CertConfig *c, const CaConfig *ca, const char *path,
                         bool own, gnutls_x509_crt_t leaf, const gnutls_x509_crt_t *cas, unsigned n_cas,
                         CertFacts *f, usec_t now) {
        _cleanup_(crl_verdict_done) CrlVerdict v = {};
        _cleanup_free_ uint8_t *data = NULL;
        char when[32];
        size_t size;
        int r;

        r = read_full_file(path, CRL_FILE_MAX, &data, &size);
        if (r >= 0)
                r = crl_read_verified(data, size, leaf, cas, n_cas, &v);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                /* The internal CA's CRL not made yet is the CA row's problem, not the set's. */
                if (!own && r == -ENOENT)
                        return 0;
                return cert_facts_add_problem(f, PROBLEM_CRL_EXPIRED, "CRL %s unusable: %s", path,
                                              r == -EBADMSG ? "not a CRL" : strerror(-r));
        }
        /* Not the word of the set's issuer: it neither revokes nor counts as fresh. Another CA's CRL,
         * named in no chain, is noise only when certherd picked the file (its internal CA's). */
        if (v.trust == CRL_INVALID || (v.trust == CRL_OTHER_ISSUER && own))
                return cert_facts_add_problem(f, PROBLEM_CRL_INVALID, "CRL %s: %s", path,
                                              v.error ?: "not genuine");
        if (v.trust == CRL_OTHER_ISSUER)
                return 0;
        r = add_crl_expiry(f, path, &v.info, cert_warn_before(inv, c), now);
        if (r < 0 || v.trust != CRL_FOR_ISSUER || !f->parsed || !f->serial)
                return r;
        for (size_t i = 0; i < v.info.n; i++) {
                const char *reason;
                bool compromised;

                if (strcmp(v.info.serials[i], f->serial) != 0)
                        continue;
                reason = entry_reason(inv, ca, path, f->serial, v.info.reasons[i], &compromised);
                f->key_compromised = f->key_compromised || compromised;
                return cert_facts_add_problem(
                        f, PROBLEM_REVOKED, "serial %s revoked on %s, reason %s (CRL %s)", f->serial,
                        format_timestamp_iso(when, sizeof(when), v.info.revoked_at[i]), reason, path);
        }
        return 0;
}

bool crl_cert_has_crls(const Inventory *inv, const CertConfig *c) {
        const CaConfig *ca = c->issuer == ISSUER_CA ? inventory_find_ca(inv, c->issuer_name) : NULL;

        return c->x->crl || (ca && ca->crl);
}

int crl_check_cert(const Inventory *inv, const CertConfig *c, gnutls_x509_crt_t leaf,
                   const gnutls_x509_crt_t *cas, unsigned n_cas, CertFacts *f, usec_t now) {
        const CaConfig *ca = c->issuer == ISSUER_CA ? inventory_find_ca(inv, c->issuer_name) : NULL;
        int r;

        /* Without a certificate there is no issuer to check a CRL with, and nothing to revoke. */
        if (c->x->crl && leaf)
                for (char **p = c->x->crl; *p; p++) {
                        r = check_one_crl(inv, c, ca, *p, true, leaf, cas, n_cas, f, now);
                        if (r < 0)
                                return r;
                }
        else if (ca && ca->crl && leaf) {
                r = check_one_crl(inv, c, ca, ca->crl, false, leaf, cas, n_cas, f, now);
                if (r < 0)
                        return r;
        }

        /* A key revoked with key-compromise, whatever certificate carries it now (put back by hand). */
        if (f->parsed && f->has_pin) {
                usec_t since = 0;
                char when[32];

                r = compromised_keys_check(inv->agent.state_directory, f->pin, &since);
                if (r == -ENOMEM)
                        return r;
                if (r > 0) {
                        f->key_compromised = true;
                        return cert_facts_add_problem(
                                f, PROBLEM_REVOKED,
                                "the key is compromised (revoked with key-compromise on %s); "
                                "certherd will not certify it again: renew makes a new key",
                                format_timestamp_iso(when, sizeof(when), since));
                }
        }
        return 0;
}

int crl_check_ca(const Inventory *inv, const CaConfig *ca, CertFacts *f, usec_t now) {
        _cleanup_(crl_info_done) CrlInfo info = {};
        int r;

        if (!ca->crl || !f->parsed)
                return 0;
        r = read_own_crl(ca, &info);
        if (r == -ENOMEM)
                return r;
        if (r == -ENOENT)
                return cert_facts_add_problem(f, PROBLEM_CRL_EXPIRING,
                                              "CRL %s not made yet (certherd renew or the daemon makes it)",
                                              ca->crl);
        if (r == -EPERM)
                return cert_facts_add_problem(
                        f, PROBLEM_CRL_INVALID,
                        "CRL %s is not signed by this CA's key (certherd renew or the daemon "
                        "re-signs it)",
                        ca->crl);
        if (r < 0)
                return cert_facts_add_problem(f, PROBLEM_CRL_EXPIRED, "CRL %s unusable: %s", ca->crl,
                                              r == -EBADMSG ? "not a CRL" : strerror(-r));
        return add_crl_expiry(f, ca->crl, &info, inv->agent.warn_before, now);
}

/* 0 when `crt` verifies against the CA's certificate, -EPERM when not, -errno (logged). */
static int issued_by(const CaConfig *ca, gnutls_x509_crt_t crt) {
        gnutls_x509_crt_t *cas = NULL;
        unsigned n = 0, status = 0;
        int r;

        r = x509_read_crts(ca->certificate, CRL_FILE_MAX, &cas, &n);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot read its certificate %s: %m", ca->name,
                                       ca->certificate);
        r = gnutls_x509_crt_verify(crt, cas, 1, GNUTLS_VERIFY_DISABLE_TIME_CHECKS, &status);
        x509_crts_free(cas, n);
        if (r < 0 || status != 0)
                return log_error_errno(-EPERM,
                                       "[ca \"%s\"]: the installed certificate was not issued by this CA; "
                                       "nothing revoked",
                                       ca->name);
        return 0;
}

int crl_revoke(const Inventory *inv, const CaConfig *ca, const char *serial, gnutls_x509_crt_t crt,
               const char *set_name, CrlReason reason, usec_t now) {
        _cleanup_(ca_index_done) CaIndex idx = {};
        _cleanup_close_ int lock = -1;
        CaIndexEntry *e;
        char when[32];
        int r;

        r = state_directory(inv->agent.state_directory);
        if (r < 0)
                return r;
        lock = ca_index_lock(inv->agent.state_directory, ca->name);
        if (lock < 0)
                return log_error_errno(lock, "[ca \"%s\"]: cannot lock its index: %m", ca->name);
        r = ca_index_load(inv->agent.state_directory, ca->name, &idx);
        if (r < 0)
                return r;
        e = ca_index_find(&idx, serial);
        if (!e && crt) {
                /* Issued before the index existed: record it from the installed certificate — only when this
                 * CA signed it (a set whose issuer changed may hold another CA's certificate). */
                r = issued_by(ca, crt);
                if (r < 0)
                        return r;
                r = ca_index_add(&idx, set_name, crt);
                if (r < 0)
                        return log_error_errno(r, "[ca \"%s\"]: cannot record serial %s: %m", ca->name,
                                               serial);
                e = ca_index_find(&idx, serial);
        }
        if (!e)
                return log_error_errno(
                        -ENOENT,
                        "[ca \"%s\"]: no certificate with serial %s in its index (certherd ca list %s)",
                        ca->name, serial, ca->name);
        if (e->revoked)
                return log_error_errno(-EALREADY, "[ca \"%s\"]: serial %s was revoked on %s (%s)", ca->name,
                                       serial, format_timestamp_iso(when, sizeof(when), e->revoked_at),
                                       crl_reason_to_string(e->reason));
        e->revoked = true;
        e->revoked_at = now / USEC_PER_SEC * USEC_PER_SEC;
        e->reason = reason;
        if (reason == CRL_REASON_KEY_COMPROMISE) {
                uint8_t pin[PIN_SIZE];

                if (pin_parse(e->pin, pin, NULL) < 0)
                        return log_error_errno(-EBADMSG,
                                               "[ca \"%s\"]: serial %s has no usable pin in the index",
                                               ca->name, serial);
                r = compromised_keys_add(inv->agent.state_directory, pin, e->name, e->serial, now);
                if (r < 0)
                        return r;
        }
        r = ca_index_save(inv->agent.state_directory, ca->name, &idx);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot save its index: %m", ca->name);
        /* certherd's own record of the set's revocation: check calls it revoked, and the next renewal
         * replaces it, with or without a CRL (logged). */
        if (e->name[0])
                (void) revocations_add(inv->agent.state_directory, e->name, e->serial,
                                       crl_reason_to_string(reason), e->not_after, now);
        log_notice("[ca \"%s\"]: revoked serial %s%s%s, reason %s", ca->name, serial,
                   e->name[0] ? " of " : "", e->name, crl_reason_to_string(reason));
        if (!ca->crl) {
                log_warning("[ca \"%s\"]: has no crl = PATH: peers learn of this revocation only from a CRL",
                            ca->name);
                return 0;
        }
        r = crl_refresh(inv, ca, now, true, true, NULL);
        return r < 0 ? r : 0;
}
