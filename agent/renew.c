/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "acme.h"
#include "ca.h"
#include "fd-util.h"
#include "gnutls-util.h"
#include "install.h"
#include "keygen.h"
#include "log.h"
#include "notify.h"
#include "pool.h"
#include "publish.h"
#include "renew.h"

/* A self-signed certificate has no CA section to take a validity from. */
#define SELF_SIGNED_VALIDITY (90 * USEC_PER_DAY)
#define INPUT_MAX (1024U * 1024U)

/* What one renewal works with; freed in one place. */
typedef struct Issued {
        gnutls_x509_privkey_t key;
        gnutls_datum_t key_pem;   /* what is installed as the key (NULL data: keep the file as it is) */
        gnutls_datum_t cert_pem;  /* leaf (+ chain) */
        gnutls_datum_t trust_pem; /* anchor the new certificate must chain to */
        bool key_reused;
        bool used_next_key;
        CertFacts *facts;
} Issued;

static void issued_done(Issued *is) {
        if (is->key)
                gnutls_x509_privkey_deinit(is->key);
        gnutls_free(is->key_pem.data);
        gnutls_free(is->cert_pem.data);
        gnutls_free(is->trust_pem.data);
        cert_facts_free(is->facts);
}

static int fail(const CertConfig *c, int r, const char *why) {
        log_cert_event(CERT_EVENT_RENEWAL_FAILED, c->name, NULL, "renewal failed: %s", why);
        return r < 0 ? r : -EIO;
}

static int datum_dup(const uint8_t *data, size_t size, gnutls_datum_t *ret) {
        ret->data = gnutls_malloc(size + 1);
        if (!ret->data)
                return -ENOMEM;
        memcpy(ret->data, data, size);
        ret->data[size] = 0;
        ret->size = (unsigned) size;
        return 0;
}

/* key-policy = reuse keeps the installed key (and so the pin) while it still has the configured type. */
static int obtain_key(const Inventory *inv, const CertConfig *c, Issued *is) {
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_free_ char *password = NULL;
        size_t size;
        int r;

        if (c->key_policy == KEY_POLICY_REUSE && read_full_file(c->key, INPUT_MAX, &data, &size) >= 0) {
                if (c->key_password_file && read_secret_file(c->key_password_file, &password) < 0)
                        password = NULL;
                if (x509_load_privkey(data, size, password, &is->key) >= 0) {
                        if (keygen_key_is_type(is->key, c->key_type)) {
                                is->key_reused = true;
                                /* An encrypted key stays as the operator wrote it; a plain one is rewritten
                                 * unchanged so that owner and mode are applied. */
                                return password ? 0 : datum_dup(data, size, &is->key_pem);
                        }
                        gnutls_x509_privkey_deinit(is->key);
                        is->key = NULL;
                }
        }

        /* rotate: the key announced as next_pin_sha256, when there is one. */
        if (c->key_policy == KEY_POLICY_ROTATE && publish_next_key_load(inv, c, &is->key) >= 0)
                is->used_next_key = true;
        else {
                r = keygen_generate(c->key_type, &is->key);
                if (r < 0)
                        return r;
        }
        return keygen_export_pem(is->key, &is->key_pem);
}

static int load_ca(const CaConfig *ca, gnutls_x509_crt_t *ret_crt, gnutls_x509_privkey_t *ret_key, gnutls_datum_t *ret_pem) {
        _cleanup_free_ uint8_t *cdata = NULL, *kdata = NULL;
        gnutls_x509_crt_t *crts = NULL;
        unsigned n = 0;
        size_t csize, ksize;
        int r;

        r = read_full_file(ca->certificate, INPUT_MAX, &cdata, &csize);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot read certificate %s: %m%s", ca->name, ca->certificate,
                                       r == -ENOENT ? " (run: certherd ca init NAME)" : "");
        r = read_full_file(ca->key, INPUT_MAX, &kdata, &ksize);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot read key %s: %m", ca->name, ca->key);
        r = x509_load_crts(cdata, csize, &crts, &n);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: %s holds no certificate", ca->name, ca->certificate);
        r = x509_load_privkey(kdata, ksize, NULL, ret_key);
        if (r < 0) {
                x509_crts_free(crts, n);
                return log_error_errno(r, "[ca \"%s\"]: %s is not a usable private key", ca->name, ca->key);
        }
        r = datum_dup(cdata, csize, ret_pem);
        /* The CA certificate is the first in its file; the rest would be its own chain. */
        *ret_crt = crts[0];
        for (unsigned i = 1; i < n; i++)
                gnutls_x509_crt_deinit(crts[i]);
        gnutls_free(crts);
        return r;
}

/* ACME: the server issues, the chain it sends (leaf + intermediates) is installed, and it must chain to
 * the certificate's `ca` (the system store without one). `acme` NULL: a session just for this one. */
static int issue_acme(const Inventory *inv, const CertConfig *c, AcmeSession *acme, Issued *is) {
        _cleanup_(acme_session_freep) AcmeSession *own = NULL;
        _cleanup_free_ uint8_t *data = NULL, *current = NULL;
        _cleanup_free_ char *replaces = NULL;
        size_t size;
        int r;

        if (!acme) {
                r = acme_session_new(inv, inventory_find_acme(inv, c->issuer_name), &own);
                if (r < 0)
                        return r;
                acme = own;
        }
        r = obtain_key(inv, c, is);
        if (r < 0)
                return log_error_errno(r, "%s: cannot make a %s key: %m", c->name, key_type_to_string(c->key_type));
        /* ARI (RFC 9773): name the certificate this one replaces. */
        if (acme_session_has_ari(acme) && read_full_file(c->certificate, INPUT_MAX, &current, &size) >= 0)
                (void) acme_ari_cert_id(current, size, &replaces);
        r = acme_issue(acme, c, is->key, replaces, &is->cert_pem);
        if (r < 0 || !c->ca)
                return r;
        /* Read after the order: what the server chains to may have changed while it ran. */
        r = read_full_file(c->ca, INPUT_MAX, &data, &size);
        if (r < 0)
                return log_error_errno(r, "%s: cannot read ca %s: %m", c->name, c->ca);
        return datum_dup(data, size, &is->trust_pem);
}

static int issue(const Inventory *inv, const CertConfig *c, usec_t now, AcmeSession *acme, Issued *is) {
        _cleanup_x509_crt_ gnutls_x509_crt_t ca_crt = NULL, crt = NULL;
        _cleanup_x509_privkey_ gnutls_x509_privkey_t ca_key = NULL;
        IssueRequest req = { .names = c->names, .usage = c->usage, .now = now, .validity = SELF_SIGNED_VALIDITY };
        const CaConfig *ca = NULL;
        int r;

        if (c->issuer == ISSUER_CA) {
                ca = inventory_find_ca(inv, c->issuer_name);
                if (!ca)
                        return -ENOENT; /* config_validate() makes this impossible */
                r = load_ca(ca, &ca_crt, &ca_key, &is->trust_pem);
                if (r < 0)
                        return r;
                req.validity = ca->validity;
        } else if (c->issuer == ISSUER_ACME)
                return issue_acme(inv, c, acme, is);
        else if (c->issuer != ISSUER_SELF)
                return log_error_errno(-EOPNOTSUPP, "%s: issuer %s cannot issue here yet", c->name,
                                       issuer_kind_to_string(c->issuer));

        r = obtain_key(inv, c, is);
        if (r < 0)
                return log_error_errno(r, "%s: cannot make a %s key: %m", c->name, key_type_to_string(c->key_type));

        r = ca ? ca_issue(ca_crt, ca_key, is->key, &req, &crt) : ca_self_sign(is->key, &req, &crt);
        if (r < 0)
                return log_error_errno(r, "%s: cannot issue the certificate: %m", c->name);
        r = ca_export_pem(crt, &is->cert_pem);
        if (r < 0)
                return r;
        if (!ca)
                return datum_dup(is->cert_pem.data, is->cert_pem.size, &is->trust_pem);
        return 0;
}

/* Our own inspection, against the key and the issuing anchor, before anything is installed. */
static int validate(const Inventory *inv, const CertConfig *c, usec_t now, Issued *is) {
        _cleanup_datum_ gnutls_datum_t key_pem = {};
        gnutls_x509_trust_list_t trust = NULL;
        X509Input in = {
                .cert_path = c->certificate,
                .cert_data = is->cert_pem.data,
                .cert_size = is->cert_pem.size,
                .key_path = c->key,
                .key_mode = (mode_t) -1,
                .names = c->names,
                .usage = c->usage,
                .warn_before = cert_warn_before(inv, c),
                .critical_before = cert_critical_before(inv, c),
        };
        int r;

        r = keygen_export_pem(is->key, &key_pem);
        if (r < 0)
                return r;
        in.key_data = key_pem.data;
        in.key_size = key_pem.size;

        r = x509_trust_new(is->trust_pem.data, is->trust_pem.size, &trust);
        if (r < 0)
                return r;
        in.trust = trust;
        r = x509_inspect(&in, now, &is->facts);
        gnutls_x509_trust_list_deinit(trust, 1);
        if (r < 0)
                return r;

        if (!policy_issued_ok(is->facts)) {
                const Problem *p = &is->facts->problems[0];
                char field[128];
                const char *fields[] = { field, NULL };

                for (size_t i = 0; i < is->facts->n_problems; i++)
                        if (is->facts->problems[i].code != PROBLEM_EXPIRY_WARNING &&
                            is->facts->problems[i].code != PROBLEM_EXPIRY_CRITICAL) {
                                p = &is->facts->problems[i];
                                break;
                        }
                snprintf(field, sizeof(field), "CERTHERD_PROBLEM=%s", problem_code_to_string(p->code));
                log_cert_event(CERT_EVENT_VALIDATION_FAILED, c->name, fields,
                               "new certificate failed validation, not installed: %s: %s",
                               problem_code_to_string(p->code), p->message);
                return -EBADMSG;
        }
        return 0;
}

static int install(const Inventory *inv, const CertConfig *c, const Issued *is) {
        InstallFile key = { .path = c->key, .data = is->key_pem.data, .size = is->key_pem.size,
                            .mode = c->mode_set ? c->mode : 0600 };
        InstallFile cert = { .path = c->certificate, .data = is->cert_pem.data, .size = is->cert_pem.size,
                             .mode = 0644 };
        int r;

        r = install_parse_owner(c->owner, &key.uid, &key.gid);
        if (r < 0)
                return log_error_errno(r, "%s: owner '%s': %s", c->name, c->owner,
                                       r == -ESRCH ? "no such user or group" : strerror(-r));
        cert.uid = key.uid;
        cert.gid = key.gid;

        if ((r = mkdir_parents(c->certificate, 0755)) < 0 || (r = mkdir_parents(c->key, 0755)) < 0)
                return log_error_errno(r, "%s: cannot create the directory of %s: %m", c->name, c->certificate);

        r = install_pair(inv->agent.state_directory, c->name, is->key_pem.data ? &key : NULL, &cert);
        if (r < 0)
                return log_error_errno(r, "%s: cannot install %s and %s: %m", c->name, c->certificate, c->key);
        return 0;
}

/* Dependents: a failure here is logged but does not undo the install — the new pair is valid. */
static void notify_dependents(const CertConfig *c, const HookEnv *env) {
        int r, status = 0;

        if (c->signal && c->signal_pidfile) {
                r = notify_signal(c->signal, c->signal_pidfile);
                if (r < 0)
                        log_error_errno(r, "%s: cannot signal the process in %s: %s", c->name, c->signal_pidfile, file_strerror(r));
        }
        if (c->exec) {
                r = notify_exec(c->exec, env, &status);
                if (r == -EPROTO)
                        log_error("%s: hook '%s' failed with status %d", c->name, c->exec, status);
                else if (r < 0)
                        log_error_errno(r, "%s: cannot run hook '%s': %m", c->name, c->exec);
        }
}

/* The installed leaf in DER, what deploy verification compares the served certificate with. */
static int leaf_der(const gnutls_datum_t *chain_pem, gnutls_datum_t *ret) {
        gnutls_x509_crt_t *crts = NULL;
        unsigned n = 0;
        int r;

        r = x509_load_crts(chain_pem->data, chain_pem->size, &crts, &n);
        if (r < 0)
                return r;
        r = gnutls_x509_crt_export2(crts[0], GNUTLS_X509_FMT_DER, ret);
        x509_crts_free(crts, n);
        return r < 0 ? errno_from_gnutls(r) : 0;
}

static int renew_one_with(const Inventory *inv, const CertConfig *c, const CertFacts *current, usec_t now,
                          AcmeSession *acme, RenewOutcome *ret) {
        _cleanup_(issued_done) Issued is = {};
        _cleanup_free_ char *pin = NULL, *pin_path = NULL, *prev_s = NULL, *next_path = NULL;
        RenewOutcome out = {};
        uint8_t prev[PIN_SIZE];
        char na[32], previous[64], f_na[64], f_pin[80], f_days[48];
        int r;

        r = issue(inv, c, now, acme, &is);
        if (r < 0)
                return fail(c, r, "could not issue a certificate (see above)");
        /* An ACME server issues seconds after the batch began, and may not backdate notBefore. */
        r = validate(inv, c, c->issuer == ISSUER_ACME ? now_realtime() : now, &is);
        if (r < 0)
                return fail(c, r, "the new certificate did not pass inspection");
        r = install(inv, c, &is);
        if (r < 0)
                return fail(c, r, "could not install the new files (previous files untouched)");

        if (is.used_next_key && publish_next_key_path(inv, c, &next_path) >= 0)
                (void) unlink(next_path); /* it is the current key now; publishing makes the next one */
        out.not_after = is.facts->not_after;
        memcpy(out.pin, is.facts->pin, PIN_SIZE);
        out.key_reused = is.key_reused;
        r = pin_format(out.pin, PIN_FORMAT_BASE64, &pin);
        if (r < 0)
                return r;
        format_timestamp_iso(na, sizeof(na), out.not_after);
        snprintf(f_na, sizeof(f_na), "CERTHERD_NOT_AFTER=%s", na);
        snprintf(f_pin, sizeof(f_pin), "CERTHERD_PIN=%s", pin);
        snprintf(f_days, sizeof(f_days), "CERTHERD_DAYS_LEFT=%" PRIi64, is.facts->days_left);
        log_cert_event(CERT_EVENT_INSTALLED, c->name, (const char *[]) { f_na, f_pin, NULL },
                       "installed %s and %s", c->certificate, c->key);

        /* What the pin file said before is the previous pin the hook hears about. */
        previous[0] = 0;
        if (asprintf(&pin_path, "%s/%s.pin", inv->agent.pin_directory, c->name) >= 0 &&
            publish_read_pin(pin_path, prev) >= 0 && pin_format(prev, PIN_FORMAT_BASE64, &prev_s) >= 0)
                snprintf(previous, sizeof(previous), "%s", prev_s);
        else if (current && current->has_pin && pin_format(current->pin, PIN_FORMAT_BASE64, &prev_s) >= 0)
                snprintf(previous, sizeof(previous), "%s", prev_s);
        out.pin_changed = previous[0] && strcmp(previous, pin) != 0;
        r = leaf_der(&is.cert_pem, &out.leaf_der);
        if (r < 0)
                return r;
        log_cert_event(CERT_EVENT_RENEWED, c->name, (const char *[]) { f_na, f_pin, f_days, NULL },
                       "renewed: valid until %s, pin %s%s", na, pin, out.key_reused ? " (key kept)" : " (new key)");

        notify_dependents(c, &(HookEnv) { .name = c->name, .certificate = c->certificate, .key = c->key, .pin = pin,
                                          .previous_pin = previous[0] ? previous : NULL, .not_after = na });
        if (ret)
                *ret = out;
        return 0;
}

int renew_one(const Inventory *inv, const CertConfig *c, const CertFacts *current, usec_t now, RenewOutcome *ret) {
        return renew_one_with(inv, c, current, now, NULL, ret);
}

/* One ACME session per [acme] section a batch uses, opened by the first job that needs it (the others
 * for that section wait for it), shared by all: directory, account, nonces, connections, responders. */
typedef struct AcmeSlot {
        pthread_mutex_t lock;
        bool opened;
        int error;
        AcmeSession *session;
} AcmeSlot;

typedef struct RenewBatch {
        const Inventory *inv;
        RenewJob *jobs;
        usec_t now;
        AcmeSlot *acme; /* one per inv->acme[] */
} RenewBatch;

static int batch_acme(RenewBatch *b, const CertConfig *c, AcmeSession **ret) {
        AcmeSlot *slot = NULL;
        int r;

        for (size_t i = 0; i < b->inv->n_acme; i++)
                if (strcmp(b->inv->acme[i]->name, c->issuer_name) == 0)
                        slot = &b->acme[i];
        if (!slot)
                return -ENOENT; /* config_validate() makes this impossible */
        pthread_mutex_lock(&slot->lock);
        if (!slot->opened) {
                slot->opened = true;
                slot->error = acme_session_new(b->inv, b->inv->acme[slot - b->acme], &slot->session);
        }
        r = slot->error;
        *ret = slot->session;
        pthread_mutex_unlock(&slot->lock);
        return r;
}

static int renew_job(unsigned worker, size_t item, void *userdata) {
        RenewBatch *b = userdata;
        RenewJob *j = &b->jobs[item];
        AcmeSession *acme = NULL;
        int r;

        /* A failed renewal is the job's result, not the batch's: the others go on. */
        if (j->cert->issuer == ISSUER_ACME && (r = batch_acme(b, j->cert, &acme)) < 0) {
                j->result = fail(j->cert, r, "no ACME session (see above)");
                return 0;
        }
        j->result = renew_one_with(b->inv, j->cert, j->current, b->now, acme, &j->outcome);
        return 0;
}

/* How long a unit's reload job and a verify endpoint may take before they count as failed. */
#define UNIT_JOB_TIMEOUT (90 * USEC_PER_SEC)
#define VERIFY_TIMEOUT (15 * USEC_PER_SEC)

typedef struct UnitRequest {
        const char *unit;
        UnitAction action;
        char *certs; /* the certificates asking, space separated, for the journal */
} UnitRequest;

static int unit_request_add(UnitRequest **l, size_t *n, const char *unit, UnitAction action, const char *cert) {
        UnitRequest *u;
        char *joined;

        for (size_t i = 0; i < *n; i++)
                if (strcmp((*l)[i].unit, unit) == 0) {
                        /* Named by several certificates renewed together: once, and restart wins. */
                        if (action == UNIT_ACTION_RESTART)
                                (*l)[i].action = action;
                        if (asprintf(&joined, "%s %s", (*l)[i].certs, cert) < 0)
                                return -ENOMEM;
                        free((*l)[i].certs);
                        (*l)[i].certs = joined;
                        return 0;
                }
        u = realloc(*l, (*n + 1) * sizeof(UnitRequest));
        if (!u)
                return -ENOMEM;
        *l = u;
        u[*n] = (UnitRequest) { .unit = unit, .action = action, .certs = strdup(cert) };
        if (!u[*n].certs)
                return -ENOMEM;
        (*n)++;
        return 0;
}

static void reload_units(RenewJob *jobs, size_t n) {
        _cleanup_(notify_bus_freep) NotifyBus *bus = NULL;
        UnitRequest *units = NULL;
        size_t n_units = 0;
        int r = 0;

        for (size_t i = 0; i < n && r >= 0; i++) {
                if (jobs[i].result < 0)
                        continue;
                for (char **u = jobs[i].cert->reload; u && *u && r >= 0; u++)
                        r = unit_request_add(&units, &n_units, *u, UNIT_ACTION_RELOAD, jobs[i].cert->name);
                for (char **u = jobs[i].cert->restart; u && *u && r >= 0; u++)
                        r = unit_request_add(&units, &n_units, *u, UNIT_ACTION_RESTART, jobs[i].cert->name);
        }
        if (r < 0)
                log_error_errno(r, "Out of memory");
        else if (n_units > 0 && (r = notify_bus_open(&bus)) < 0)
                log_error_errno(r, "cannot reach systemd over D-Bus: %m; %zu unit(s) not reloaded", n_units);
        else
                for (size_t i = 0; i < n_units; i++)
                        (void) notify_unit(bus, units[i].action, units[i].unit, units[i].certs, UNIT_JOB_TIMEOUT);

        for (size_t i = 0; i < n_units; i++)
                free(units[i].certs);
        free(units);
}

static void deploy(const Inventory *inv, RenewJob *jobs, size_t n, usec_t now) {
        reload_units(jobs, n);
        for (size_t i = 0; i < n; i++) {
                RenewJob *j = &jobs[i];

                if (j->result < 0)
                        continue;
                for (char **e = j->cert->verify; e && *e; e++)
                        (void) notify_verify(*e, j->outcome.leaf_der.data, j->outcome.leaf_der.size, j->cert->name,
                                             VERIFY_TIMEOUT);
                (void) publish_pins(inv, j->cert, j->outcome.pin, j->outcome.not_after,
                                    j->current && j->current->has_pin ? j->current->pin : NULL, now);
                gnutls_free(j->outcome.leaf_der.data);
                j->outcome.leaf_der = (gnutls_datum_t) {};
        }
}

void renew_many(const Inventory *inv, RenewJob *jobs, size_t n, unsigned concurrency, usec_t now) {
        _cleanup_free_ AcmeSlot *acme = NULL;

        if (concurrency > n)
                concurrency = (unsigned) n;
        acme = calloc(inv->n_acme ? inv->n_acme : 1, sizeof(AcmeSlot));
        if (!acme) {
                for (size_t i = 0; i < n; i++)
                        jobs[i].result = fail(jobs[i].cert, -ENOMEM, "out of memory");
                return;
        }
        for (size_t i = 0; i < inv->n_acme; i++)
                pthread_mutex_init(&acme[i].lock, NULL);
        (void) pool_run(n, concurrency, renew_job, &(RenewBatch) { .inv = inv, .jobs = jobs, .now = now, .acme = acme });
        for (size_t i = 0; i < inv->n_acme; i++) {
                acme_session_free(acme[i].session);
                pthread_mutex_destroy(&acme[i].lock);
        }
        deploy(inv, jobs, n, now);
}

void renew_record(CertState *st, const RenewJob *j, usec_t started, usec_t now) {
        const CertFacts *f = j->current;
        usec_t lifetime = f && f->parsed && f->not_after > f->not_before ? f->not_after - f->not_before : 0;

        st->last_attempt = started;
        if (j->result >= 0) {
                st->failures = 0;
                st->next_retry = 0;
                st->last_renewal = now;
                return;
        }
        st->failures++;
        st->next_retry = now + policy_backoff(st->failures, lifetime);
        log_notice("%s: renewal attempt %u failed; next attempt in %" PRIu64 " s", j->cert->name, st->failures,
                   (st->next_retry - now) / USEC_PER_SEC);
}

void renew_record_jobs(const Inventory *inv, const RenewJob *jobs, size_t n, usec_t started) {
        usec_t now = now_realtime();

        for (size_t i = 0; i < n; i++) {
                CertState st = {};
                int r;

                if (state_load(inv->agent.state_directory, jobs[i].cert->name, &st) < 0)
                        st = (CertState) {};
                renew_record(&st, &jobs[i], started, now);
                r = state_save(inv->agent.state_directory, jobs[i].cert->name, &st);
                if (r < 0)
                        log_warning_errno(r, "%s: cannot save its state: %m, ignoring", jobs[i].cert->name);
        }
}

struct RenewAri {
        const Inventory *inv;
        AcmeSession **sessions; /* indexed like inv->acme */
        int *errors;
};

RenewAri *renew_ari_new(const Inventory *inv) {
        RenewAri *a = calloc(1, sizeof(*a));

        if (!a)
                return NULL;
        a->inv = inv;
        a->sessions = calloc(inv->n_acme ? inv->n_acme : 1, sizeof(AcmeSession *));
        a->errors = calloc(inv->n_acme ? inv->n_acme : 1, sizeof(int));
        if (!a->sessions || !a->errors)
                return renew_ari_free(a);
        return a;
}

RenewAri *renew_ari_free(RenewAri *a) {
        if (!a)
                return NULL;
        for (size_t i = 0; a->sessions && i < a->inv->n_acme; i++)
                acme_session_free(a->sessions[i]);
        free(a->sessions);
        free(a->errors);
        free(a);
        return NULL;
}

bool renew_ari_due(RenewAri *a, const CertConfig *c, usec_t now) {
        AcmeAriDecision d = {};
        size_t i;
        int r;

        if (!a || c->issuer != ISSUER_ACME)
                return false;
        for (i = 0; i < a->inv->n_acme; i++)
                if (strcmp(a->inv->acme[i]->name, c->issuer_name) == 0)
                        break;
        if (i == a->inv->n_acme || a->errors[i] < 0)
                return false;
        if (!a->sessions[i]) {
                a->errors[i] = acme_session_new(a->inv, a->inv->acme[i], &a->sessions[i]);
                if (a->errors[i] < 0)
                        return false;
        }
        if (!acme_session_has_ari(a->sessions[i]))
                return false;
        r = acme_ari_due(a->sessions[i], c, now, &d);
        if (r < 0) {
                if (r != -ENODATA)
                        log_warning_errno(r, "%s: cannot fetch its ARI renewal window: %m, ignoring", c->name);
                return false;
        }
        free(d.id);
        if (d.due)
                log_info("%s: inside the renewal window the ACME server suggests (ARI)", c->name);
        return d.due;
}

int renew_ca_init(const Inventory *inv, const CaConfig *ca, usec_t now) {
        _cleanup_x509_privkey_ gnutls_x509_privkey_t key = NULL;
        _cleanup_x509_crt_ gnutls_x509_crt_t crt = NULL;
        _cleanup_datum_ gnutls_datum_t key_pem = {}, crt_pem = {};
        _cleanup_free_ char *cn = NULL;
        struct stat st;
        int r;

        if (stat(ca->certificate, &st) >= 0 || stat(ca->key, &st) >= 0)
                return log_error_errno(-EEXIST, "[ca \"%s\"]: %s exists already; refusing to overwrite a CA",
                                       ca->name, stat(ca->key, &st) >= 0 ? ca->key : ca->certificate);

        r = keygen_generate(ca->key_type, &key);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot make a %s key: %m", ca->name, key_type_to_string(ca->key_type));
        /* A CN holds at most 64 characters (RFC 5280 ub-common-name). */
        if (asprintf(&cn, strlen(ca->name) <= 50 ? "certherd %s CA" : "certherd CA%.0s", ca->name) < 0)
                return log_error_errno(-ENOMEM, "Out of memory");
        r = ca_make_root(key, cn, ca->ca_validity, now, &crt);
        if (r >= 0)
                r = keygen_export_pem(key, &key_pem);
        if (r >= 0)
                r = ca_export_pem(crt, &crt_pem);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot make the CA certificate: %m", ca->name);

        r = renew_state_directory(inv);
        if (r < 0)
                return r;
        if ((r = mkdir_parents(ca->key, 0700)) < 0 || (r = mkdir_parents(ca->certificate, 0755)) < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot create the directory of %s: %m", ca->name, ca->key);

        r = install_pair(inv->agent.state_directory, ca->name,
                         &(InstallFile) { .path = ca->key, .data = key_pem.data, .size = key_pem.size, .mode = 0600,
                                          .uid = (uid_t) -1, .gid = (gid_t) -1 },
                         &(InstallFile) { .path = ca->certificate, .data = crt_pem.data, .size = crt_pem.size,
                                          .mode = 0644, .uid = (uid_t) -1, .gid = (gid_t) -1 });
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot install %s and %s: %m", ca->name, ca->key, ca->certificate);
        log_notice("[ca \"%s\"]: created %s (%s)", ca->name, ca->certificate, cn);

        for (char **e = ca->export; e && *e; e++) {
                r = mkdir_parents(*e, 0755);
                if (r >= 0)
                        r = install_file(&(InstallFile) { .path = *e, .data = crt_pem.data, .size = crt_pem.size,
                                                          .mode = 0644, .uid = (uid_t) -1, .gid = (gid_t) -1 });
                if (r < 0)
                        return log_error_errno(r, "[ca \"%s\"]: cannot export the CA certificate to %s: %m", ca->name, *e);
                log_info("[ca \"%s\"]: exported the CA certificate to %s", ca->name, *e);
        }
        return 0;
}

int renew_state_directory(const Inventory *inv) {
        int r = mkdir_p(inv->agent.state_directory, 0700);

        if (r < 0)
                return log_error_errno(r, "cannot create state directory %s: %m", inv->agent.state_directory);
        return 0;
}

static int lock_state(const Inventory *inv, bool wait) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;

        if (asprintf(&path, "%s/lock", inv->agent.state_directory) < 0)
                return -ENOMEM;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return log_error_errno(-errno, "cannot open lock %s: %m", path);
        while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
                if (errno == EINTR)
                        continue;
                return errno == EWOULDBLOCK ? -EWOULDBLOCK : log_error_errno(-errno, "cannot lock %s: %m", path);
        }
        return TAKE_FD(fd);
}

int renew_lock(const Inventory *inv) {
        return lock_state(inv, false);
}

int renew_lock_wait(const Inventory *inv) {
        return lock_state(inv, true);
}

void renew_log_expiry(const Inventory *inv, const CertConfig *c, const CertFacts *f) {
        char na[32], f_na[64], f_days[48];

        if (!f || !f->parsed)
                return;
        format_timestamp_iso(na, sizeof(na), f->not_after);
        snprintf(f_na, sizeof(f_na), "CERTHERD_NOT_AFTER=%s", na);
        snprintf(f_days, sizeof(f_days), "CERTHERD_DAYS_LEFT=%" PRIi64, f->days_left);
        for (size_t i = 0; i < f->n_problems; i++) {
                CertEvent e = f->problems[i].code == PROBLEM_EXPIRED           ? CERT_EVENT_EXPIRED
                              : f->problems[i].code == PROBLEM_EXPIRY_CRITICAL ? CERT_EVENT_EXPIRY_CRITICAL
                              : f->problems[i].code == PROBLEM_EXPIRY_WARNING  ? CERT_EVENT_EXPIRY_WARNING
                                                                               : _CERT_EVENT_INVALID;
                if (e >= 0)
                        log_cert_event(e, c->name, (const char *[]) { f_na, f_days, NULL }, "%s", f->problems[i].message);
        }
}
