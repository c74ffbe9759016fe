/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "acme.h"
#include "ca-pki.h"
#include "ca.h"
#include "ca-index.h"
#include "compromised-keys.h"
#include "fd-util.h"
#include "gnutls-util.h"
#include "install.h"
#include "keygen.h"
#include "keys.h"
#include "log.h"
#include "notify-bus.h"
#include "notify-verify.h"
#include "notify.h"
#include "outputs.h"
#include "policy.h"
#include "pool.h"
#include "publish.h"
#include "renew.h"
#include "token.h"

/* A self-signed certificate has no CA section to take a validity from. */
#define SELF_SIGNED_VALIDITY (90 * USEC_PER_DAY)
#define INPUT_MAX (1024U * 1024U)

/* What one renewal works with; freed in one place. */
typedef struct Issued {
        gnutls_x509_privkey_t key; /* a key for a file; NULL for a key in a token */
        gnutls_privkey_t tkey;     /* the key in a token (key = pkcs11:…) */
        gnutls_datum_t key_pem;    /* what is installed as the key (NULL data: keep the file as it is) */
        gnutls_datum_t cert_pem;   /* leaf (+ chain) */
        gnutls_datum_t trust_pem;  /* anchor the new certificate must chain to */
        KeyOrigin key_origin;
        CertFacts *facts;
} Issued;

static void issued_done(Issued *is) {
        if (is->key)
                gnutls_x509_privkey_deinit(is->key);
        if (is->tkey)
                gnutls_privkey_deinit(is->tkey);
        gnutls_free(is->key_pem.data);
        gnutls_free(is->cert_pem.data);
        gnutls_free(is->trust_pem.data);
        cert_facts_free(is->facts);
}

void renew_job_done(RenewJob *j) {
        if (!j)
                return;
        free_many(j->error, j->deploy_step, j->deploy_error);
        gnutls_free(j->outcome.leaf_der.data);
        *j = (RenewJob){
                .cert = j->cert, .current = j->current, .deploy_only = j->deploy_only, .forced = j->forced
        };
}

/* The renewal failed: one renewal-failed event, and the reason for the state — the most specific error
 * this thread logged on the way (log_last_error), else `why`. */
static int fail(RenewJob *j, int r, const char *why) {
        const char *detail = log_last_error();

        if (!j->error) {
                if (detail[0])
                        j->error = strdup(detail);
                else
                        (void) asprintf(&j->error, "%s: %s", why, strerror(r < 0 ? -r : EIO));
        }
        log_cert_event(CERT_EVENT_RENEWAL_FAILED, j->cert->name, NULL, "renewal failed: %s", why);
        return r < 0 ? r : -EIO;
}

/* Whether the installed certificate was revoked, by any source: a genuine CRL or the compromised-keys
 * list (check's `revoked`), or its internal CA's index (`ca revoke`, also where the CA publishes no
 * CRL). A revocation for key compromise, or a CRL entry that gives no reason, puts its key in the
 * compromised-keys list before anything is issued: it is never certified again. 1 revoked, 0 not,
 * -errno when the key cannot be recorded (the renewal fails rather than risk certifying it). */
static int current_revoked(const Inventory *inv, const CertConfig *c, const CertFacts *current) {
        bool revoked = false, compromised = current && current->key_compromised;
        int r;

        if (!current || !current->parsed)
                return 0;
        for (size_t i = 0; i < current->n_problems; i++)
                revoked = revoked || current->problems[i].code == PROBLEM_REVOKED;
        if (c->issuer == ISSUER_CA && current->serial) {
                _cleanup_(ca_index_done) CaIndex idx = {};
                const CaConfig *ca = inventory_find_ca(inv, c->issuer_name);
                const CaIndexEntry *e;

                if (ca && ca_index_load(inv->agent.state_directory, ca->name, &idx) >= 0 &&
                    (e = ca_index_find(&idx, current->serial)) && e->revoked) {
                        revoked = true;
                        compromised = compromised || e->reason == CRL_REASON_KEY_COMPROMISE;
                }
        }
        if (compromised && current->has_pin) {
                r = compromised_keys_add(inv->agent.state_directory, current->pin, c->name,
                                         current->serial ?: "", now_realtime());
                if (r < 0)
                        return log_error_errno(
                                r, "%s: cannot record the revoked certificate's key as compromised: %m",
                                c->name);
        }
        return revoked;
}

/* The last guard before anything is certified: a key revoked with key-compromise never is again (keys_obtain
 * already replaces a kept one; this catches every other way one could come back). */
static int issued_pubkey(const Issued *is, gnutls_pubkey_t *ret);

static int refuse_compromised(const Inventory *inv, const CertConfig *c, const Issued *is) {
        _cleanup_pubkey_ gnutls_pubkey_t pub = NULL;
        _cleanup_datum_ gnutls_datum_t spki = {};
        uint8_t pin[PIN_SIZE];
        int r;

        /* The key's pin from its public half: a file's key and a token's alike. */
        r = issued_pubkey(is, &pub);
        if (r >= 0)
                r = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki) < 0 ? -EINVAL : 0;
        if (r >= 0)
                r = pin_compute(spki.data, spki.size, pin);
        if (r >= 0)
                r = compromised_keys_check(inv->agent.state_directory, pin, NULL);
        if (r < 0)
                return log_error_errno(
                        r, "%s: cannot read the compromised-keys list: %m; refusing to certify", c->name);
        if (r > 0)
                return log_error_errno(-EKEYREVOKED,
                                       "%s: refusing to certify a key revoked with key-compromise", c->name);
        return 0;
}

/* The key to certify, checked against the compromised-keys list. Both steps log why they fail: an encrypted
 * key that cannot be opened is not "cannot make a key". */
static int obtain_key(const Inventory *inv, const CertConfig *c, const CertFacts *current, Issued *is) {
        int revoked = current_revoked(inv, c, current), r;

        if (revoked < 0)
                return revoked;
        if (token_is_url(c->key))
                r = keys_obtain_token(inv, c, current, revoked > 0, &is->tkey, &is->key_origin);
        else
                r = keys_obtain(inv, c, current, revoked > 0, &is->key, &is->key_pem, &is->key_origin);
        if (r < 0)
                return r;
        return refuse_compromised(inv, c, is);
}

/* ACME: the server issues, the chain it sends (leaf + intermediates) is installed, and it must chain to
 * the certificate's `ca` (the system store without one). `acme` NULL: a session just for this one. */
static int issue_acme(const Inventory *inv, const CertConfig *c, const CertFacts *current, AcmeSession *acme,
                      Issued *is) {
        _cleanup_(acme_session_freep) AcmeSession *own = NULL;
        _cleanup_free_ uint8_t *data = NULL, *installed = NULL;
        _cleanup_free_ char *replaces = NULL;
        size_t size;
        int r;

        if (!acme) {
                r = acme_session_new(inv, inventory_find_acme(inv, c->issuer_name), &own);
                if (r < 0)
                        return r;
                acme = own;
        }
        r = obtain_key(inv, c, current, is);
        if (r < 0)
                return r;
        /* ARI (RFC 9773): name the certificate this one replaces. */
        if (acme_session_has_ari(acme) && read_full_file(c->certificate, INPUT_MAX, &installed, &size) >= 0)
                (void) acme_ari_cert_id(installed, size, &replaces);
        if (is->tkey)
                r = acme_issue(acme, c, is->tkey, replaces, &is->cert_pem);
        else {
                _cleanup_privkey_ gnutls_privkey_t key = NULL;

                if (gnutls_privkey_init(&key) < 0)
                        return -ENOMEM;
                r = gnutls_privkey_import_x509(key, is->key, 0);
                r = r < 0 ? errno_from_gnutls(r) : acme_issue(acme, c, key, replaces, &is->cert_pem);
        }
        if (r < 0 || !c->ca)
                return r;
        /* Read after the order: what the server chains to may have changed while it ran. */
        r = read_full_file(c->ca, INPUT_MAX, &data, &size);
        if (r < 0)
                return log_error_errno(r, "%s: cannot read ca %s: %m", c->name, c->ca);
        return datum_dup(data, size, &is->trust_pem);
}

/* The public half of the renewal's key, whichever kind it is. */
static int issued_pubkey(const Issued *is, gnutls_pubkey_t *ret) {
        _cleanup_privkey_ gnutls_privkey_t wrap = NULL;
        _cleanup_pubkey_ gnutls_pubkey_t pub = NULL;
        gnutls_privkey_t key = is->tkey;
        int r;

        if (gnutls_pubkey_init(&pub) < 0)
                return -ENOMEM;
        if (!key) {
                if (gnutls_privkey_init(&wrap) < 0)
                        return -ENOMEM;
                r = gnutls_privkey_import_x509(wrap, is->key, 0);
                if (r < 0)
                        return errno_from_gnutls(r);
                key = wrap;
        }
        r = gnutls_pubkey_import_privkey(pub, key, 0, 0);
        if (r < 0)
                return errno_from_gnutls(r);
        *ret = TAKE_PTR(pub);
        return 0;
}

static int issue(const Inventory *inv, const CertConfig *c, const CertFacts *current, usec_t now,
                 AcmeSession *acme, Issued *is) {
        _cleanup_x509_crt_ gnutls_x509_crt_t ca_crt = NULL, crt = NULL;
        _cleanup_privkey_ gnutls_privkey_t ca_key = NULL;
        _cleanup_pubkey_ gnutls_pubkey_t pub = NULL;
        _cleanup_datum_ gnutls_datum_t chain = {};
        IssueRequest req = { .names = c->names,
                             .subject = c->x->subject,
                             .usage = c->usage,
                             .now = now,
                             .validity = SELF_SIGNED_VALIDITY };
        const CaConfig *ca = NULL;
        int r;

        if (c->issuer == ISSUER_CA) {
                ca = inventory_find_ca(inv, c->issuer_name);
                if (!ca)
                        return -ENOENT; /* config_validate() makes this impossible */
                r = ca_load_signer(ca, &ca_crt, &ca_key, &is->trust_pem);
                if (r < 0)
                        return r;
                req.validity = ca->validity;
                /* Never a name outside permitted-names; an intermediate's leaves carry its chain
                 * and are checked against the root. */
                r = ca_names_check(inv, ca, c->names, c->name);
                if (r < 0)
                        return r;
                gnutls_free(is->trust_pem.data);
                is->trust_pem = (gnutls_datum_t){};
                r = ca_chain(inv, ca, &chain, &is->trust_pem);
                if (r < 0)
                        return r;
        } else if (c->issuer == ISSUER_ACME)
                return issue_acme(inv, c, current, acme, is);
        else if (c->issuer != ISSUER_SELF)
                return log_error_errno(-EOPNOTSUPP, "%s: issuer %s cannot issue here yet", c->name,
                                       issuer_kind_to_string(c->issuer));

        r = obtain_key(inv, c, current, is);
        if (r < 0)
                return r;

        r = issued_pubkey(is, &pub);
        if (r >= 0)
                r = ca         ? ca_issue_pubkey(ca_crt, ca_key, pub, &req, &crt)
                    : is->tkey ? ca_self_sign_privkey(is->tkey, &req, &crt)
                               : ca_self_sign(is->key, &req, &crt);
        if (r < 0)
                return log_error_errno(r, "%s: cannot issue the certificate: %m", c->name);
        /* Every leaf the CA issues goes into its index, installed or not: the index is what it signed. */
        if (ca) {
                r = ca_index_record(inv->agent.state_directory, ca->name, c->name, crt);
                if (r < 0)
                        return r;
        }
        r = ca_export_pem(crt, &is->cert_pem);
        if (r < 0)
                return r;
        if (chain.size > 0) {
                uint8_t *p = gnutls_realloc(is->cert_pem.data, is->cert_pem.size + chain.size + 1);

                if (!p)
                        return -ENOMEM;
                memcpy(p + is->cert_pem.size, chain.data, chain.size);
                is->cert_pem.size += chain.size;
                p[is->cert_pem.size] = 0;
                is->cert_pem.data = p;
        }
        if (!ca)
                return datum_dup(is->cert_pem.data, is->cert_pem.size, &is->trust_pem);
        return 0;
}

/* Our own inspection, against the key and the issuing anchor, before anything is installed. */
static int validate(const Inventory *inv, const CertConfig *c, usec_t now, Issued *is) {
        _cleanup_datum_ gnutls_datum_t key_pem = {}, spki = {};
        _cleanup_pubkey_ gnutls_pubkey_t pub = NULL;
        uint8_t key_pin[PIN_SIZE];
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

        if (is->tkey) {
                /* A token key is paired through its public key: the private key never leaves the token. */
                r = issued_pubkey(is, &pub);
                if (r >= 0)
                        r = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki) < 0 ? -EIO : 0;
                if (r >= 0)
                        r = pin_compute(spki.data, spki.size, key_pin);
                if (r < 0)
                        return r;
                in.key_pin = key_pin;
        } else {
                r = keygen_export_pem(is->key, &key_pem);
                if (r < 0)
                        return r;
                in.key_data = key_pem.data;
                in.key_size = key_pem.size;
        }

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
                if (p->code == PROBLEM_USAGE_MISSING && c->issuer == ISSUER_ACME && c->usage != USAGE_SERVER)
                        /* The public CA dropped clientAuth; the old certificate stays. */
                        log_cert_event(
                                CERT_EVENT_VALIDATION_FAILED, c->name, fields,
                                "new certificate failed validation, not installed: %s: %s: the CA [acme "
                                "\"%s\"] no longer issues client certificates (clientAuth); the installed "
                                "certificate stays; issue client certificates from an internal CA "
                                "(issuer = ca:NAME)",
                                problem_code_to_string(p->code), p->message, c->issuer_name);
                else
                        log_cert_event(CERT_EVENT_VALIDATION_FAILED, c->name, fields,
                                       "new certificate failed validation, not installed: %s: %s",
                                       problem_code_to_string(p->code), p->message);
                return -EBADMSG;
        }
        return 0;
}

/* chain, leaf, combined, pkcs12 of the new generation (outputs.h). The combined file holds the key as the
 * key file will: the new key's PEM, or the installed file's bytes when it is kept as it is. */
static int build_outputs(const CertConfig *c, const Issued *is, OutputFiles *ret) {
        _cleanup_free_ uint8_t *kept = NULL;
        _cleanup_free_ char *password = NULL;
        const uint8_t *key_file = is->key_pem.data;
        size_t key_size = is->key_pem.size;
        int r;

        if (!c->x->chain && !c->x->leaf && !c->x->combined && !c->x->pkcs12)
                return 0;
        if (c->x->combined && !key_file) {
                r = read_full_file(c->key, INPUT_MAX, &kept, &key_size);
                if (r < 0)
                        return log_error_errno(r, "%s: cannot read %s for combined: %m", c->name, c->key);
                key_file = kept;
        }
        if (c->x->pkcs12) {
                r = read_secret_file(c->x->pkcs12_password_file, &password);
                if (r < 0)
                        return log_error_errno(r, "%s: cannot read pkcs12-password-file %s: %m", c->name,
                                               c->x->pkcs12_password_file);
        }
        r = outputs_build(c, is->cert_pem.data, is->cert_pem.size, is->key, key_file, key_size, password,
                          ret);
        if (r < 0)
                return log_error_errno(r, "%s: cannot build the outputs (chain, leaf, combined, pkcs12): %m",
                                       c->name);
        return 0;
}

static int install(const Inventory *inv, const CertConfig *c, const Issued *is) {
        _cleanup_(output_files_done) OutputFiles out = {};
        InstallFile key = { .path = c->key,
                            .data = is->key_pem.data,
                            .size = is->key_pem.size,
                            .mode = c->mode_set ? c->mode : 0600 };
        InstallFile cert = {
                .path = c->certificate, .data = is->cert_pem.data, .size = is->cert_pem.size, .mode = 0644
        };
        InstallFile extra[_INSTALL_PART_MAX] = {};
        const InstallFile *files[_INSTALL_PART_MAX] = {};
        const char *paths[_INSTALL_PART_MAX] = {
                [INSTALL_PART_CHAIN] = c->x->chain,
                [INSTALL_PART_LEAF] = c->x->leaf,
                [INSTALL_PART_COMBINED] = c->x->combined,
                [INSTALL_PART_PKCS12] = c->x->pkcs12,
        };
        const gnutls_datum_t *data[_INSTALL_PART_MAX] = {
                [INSTALL_PART_CHAIN] = &out.chain,
                [INSTALL_PART_LEAF] = &out.leaf,
                [INSTALL_PART_COMBINED] = &out.combined,
                [INSTALL_PART_PKCS12] = &out.pkcs12,
        };
        int r;

        r = install_parse_owner(c->owner, &key.uid, &key.gid);
        if (r < 0)
                return log_error_errno(r, "%s: owner '%s': %s", c->name, c->owner,
                                       r == -ESRCH ? "no such user or group" : strerror(-r));
        cert.uid = key.uid;
        cert.gid = key.gid;

        if ((r = mkdir_parents(c->certificate, 0755)) < 0 ||
            (!token_is_url(c->key) && (r = mkdir_parents(c->key, 0755)) < 0))
                return log_error_errno(r, "%s: cannot create the directory of %s: %m", c->name,
                                       c->certificate);

        r = build_outputs(c, is, &out);
        if (r < 0)
                return r;
        files[INSTALL_PART_KEY] = is->key_pem.data ? &key : NULL;
        files[INSTALL_PART_CERT] = &cert;
        for (size_t i = INSTALL_PART_CHAIN; i < _INSTALL_PART_MAX; i++) {
                bool secret = i == INSTALL_PART_COMBINED || i == INSTALL_PART_PKCS12;

                if (!paths[i])
                        continue;
                /* What holds the key gets the key's mode and owner; the certificates, the certificate's. */
                extra[i] = (InstallFile){ .path = paths[i],
                                          .data = data[i]->data,
                                          .size = data[i]->size,
                                          .mode = secret ? key.mode : cert.mode,
                                          .uid = key.uid,
                                          .gid = key.gid };
                r = mkdir_parents(paths[i], 0755);
                if (r < 0)
                        return log_error_errno(r, "%s: cannot create the directory of %s: %m", c->name,
                                               paths[i]);
                files[i] = &extra[i];
        }
        r = install_set(inv->agent.state_directory, c->name, files);
        if (r < 0)
                return log_error_errno(r, "%s: cannot install %s and %s: %m", c->name, c->certificate,
                                       c->key);
        return 0;
}

/* The pin published before (the pin file), else the installed certificate's: CERTHERD_PREVIOUS_PIN. */
static void previous_pin(const Inventory *inv, const CertConfig *c, const CertFacts *current, char ret[64]) {
        _cleanup_free_ char *pin_path = NULL, *s = NULL;
        uint8_t prev[PIN_SIZE];

        ret[0] = 0;
        if (asprintf(&pin_path, "%s/%s.pin", inv->agent.pin_directory, c->name) >= 0 &&
            publish_read_pin(pin_path, prev) >= 0 && pin_format(prev, PIN_FORMAT_BASE64, &s) >= 0)
                snprintf(ret, 64, "%s", s);
        else if (current && current->has_pin && pin_format(current->pin, PIN_FORMAT_BASE64, &s) >= 0)
                snprintf(ret, 64, "%s", s);
}

/* ACME: a certificate issued but refused by validation (a wrong `ca`) is kept, so that fixing the cause
 * installs it instead of ordering another: STATE/certs/NAME.pending.pem and .key. */
static int pending_path(const Inventory *inv, const CertConfig *c, const char *suffix, char **ret) {
        return asprintf(ret, "%s/certs/%s.pending.%s", inv->agent.state_directory, c->name, suffix) < 0
                       ? -ENOMEM
                       : 0;
}

static void pending_discard(const Inventory *inv, const CertConfig *c) {
        _cleanup_free_ char *crt = NULL, *key = NULL;

        if (pending_path(inv, c, "pem", &crt) >= 0)
                (void) unlink(crt);
        if (pending_path(inv, c, "key", &key) >= 0)
                (void) unlink(key);
}

static int pending_save(const Inventory *inv, const CertConfig *c, const Issued *is) {
        _cleanup_datum_ gnutls_datum_t key_pem = {};
        _cleanup_free_ char *crt = NULL, *key = NULL, *dir = NULL, *password = NULL;
        int r;

        /* A key in a token stays there: nothing to keep beside the certificate, so nothing is held. */
        if (is->tkey)
                return -EOPNOTSUPP;
        if ((r = pending_path(inv, c, "pem", &crt)) < 0 || (r = pending_path(inv, c, "key", &key)) < 0)
                return r;
        if (asprintf(&dir, "%s/certs", inv->agent.state_directory) < 0)
                return -ENOMEM;
        r = mkdir_p(dir, 0700);
        if (r >= 0)
                r = keys_password(c, &password);
        /* Kept like the installed key: encrypted when the set has a key-password-file. */
        if (r >= 0)
                r = keygen_export_key(is->key, password, &key_pem);
        if (r >= 0)
                r = install_data(key, key_pem.data, key_pem.size, 0600);
        if (r >= 0)
                r = install_data(crt, is->cert_pem.data, is->cert_pem.size, 0600);
        if (r < 0)
                return log_warning_errno(r, "%s: cannot keep the refused certificate in %s: %m", c->name,
                                         crt);
        log_notice(
                "%s: kept the refused certificate in %s; no new order until the inventory or its files change",
                c->name, crt);
        return 0;
}

/* 1 when a kept certificate was loaded into `is` (with the trust it must chain to now), 0 when none. */
static int pending_load(const Inventory *inv, const CertConfig *c, Issued *is) {
        _cleanup_free_ char *crt = NULL, *key = NULL, *password = NULL;
        _cleanup_free_ uint8_t *cdata = NULL, *kdata = NULL, *tdata = NULL;
        size_t csize, ksize, tsize;
        int r;

        if ((r = pending_path(inv, c, "pem", &crt)) < 0 || (r = pending_path(inv, c, "key", &key)) < 0)
                return r;
        if (read_full_file(crt, INPUT_MAX, &cdata, &csize) < 0 ||
            read_full_file(key, INPUT_MAX, &kdata, &ksize) < 0)
                return 0;
        if (keys_password(c, &password) < 0 || x509_load_privkey(kdata, ksize, password, &is->key) < 0 ||
            datum_dup(cdata, csize, &is->cert_pem) < 0 ||
            keygen_export_key(is->key, password, &is->key_pem) < 0)
                return 0;
        if (c->ca) {
                r = read_full_file(c->ca, INPUT_MAX, &tdata, &tsize);
                if (r < 0 || datum_dup(tdata, tsize, &is->trust_pem) < 0)
                        return 0;
        }
        is->key_origin = KEY_ORIGIN_NEW;
        log_info("%s: trying the certificate kept in %s before ordering a new one", c->name, crt);
        return 1;
}

static int renew_one(const Inventory *inv, RenewJob *j, usec_t now, AcmeSession *acme) {
        const CertConfig *c = j->cert;
        _cleanup_(issued_done) Issued is = {};
        _cleanup_free_ char *pin = NULL;
        RenewOutcome *out = &j->outcome;
        char na[32], f_na[64], f_pin[80], f_days[48];
        bool kept = false;
        int r;

        log_error_clear();
        /* A certificate issued earlier and refused: the inputs changed since (or the order would have been
         * held), so it may pass now. */
        if (c->issuer == ISSUER_ACME && pending_load(inv, c, &is) > 0) {
                kept = validate(inv, c, now_realtime(), &is) >= 0;
                if (!kept) {
                        issued_done(&is);
                        is = (Issued){};
                        log_error_clear();
                }
        }
        if (!kept) {
                r = issue(inv, c, j->current, now, acme, &is);
                if (r == -EDQUOT) { /* not ordered: a rate-limit budget is spent (said above) */
                        j->error = strdup(log_last_error());
                        return r;
                }
                if (r < 0)
                        return fail(j, r, "could not issue a certificate (see above)");
                /* An ACME server issues seconds after the batch began, and may not backdate notBefore. */
                r = validate(inv, c, c->issuer == ISSUER_ACME ? now_realtime() : now, &is);
                if (r == -EBADMSG && c->issuer == ISSUER_ACME && pending_save(inv, c, &is) >= 0)
                        j->held = true;
                if (r < 0)
                        return fail(j, r, "the new certificate did not pass inspection");
        }
        r = install(inv, c, &is);
        if (r < 0)
                return fail(j, r, "could not install the new files (previous files untouched)");
        if (c->issuer == ISSUER_ACME)
                pending_discard(inv, c);

        if (is.key_origin == KEY_ORIGIN_NEXT)
                keys_next_used(inv, c);
        out->not_after = is.facts->not_after;
        memcpy(out->pin, is.facts->pin, PIN_SIZE);
        snprintf(out->serial, sizeof(out->serial), "%s", is.facts->serial ?: "");
        out->key_reused = is.key_origin == KEY_ORIGIN_REUSED;
        r = pin_format(out->pin, PIN_FORMAT_BASE64, &pin);
        if (r < 0)
                return fail(j, r, "out of memory");
        format_timestamp_iso(na, sizeof(na), out->not_after);
        snprintf(f_na, sizeof(f_na), "CERTHERD_NOT_AFTER=%s", na);
        snprintf(f_pin, sizeof(f_pin), "CERTHERD_PIN=%s", pin);
        snprintf(f_days, sizeof(f_days), "CERTHERD_DAYS_LEFT=%" PRIi32, is.facts->days_left);
        log_cert_event(CERT_EVENT_INSTALLED, c->name, (const char *[]){ f_na, f_pin, NULL },
                       is.tkey ? "installed %s (its key stays in the token %s)" : "installed %s and %s",
                       c->certificate, c->key);

        previous_pin(inv, c, j->current, out->previous);
        out->pin_changed = out->previous[0] && strcmp(out->previous, pin) != 0;
        r = x509_leaf_der(is.cert_pem.data, is.cert_pem.size, &out->leaf_der);
        if (r < 0)
                return fail(j, r, "cannot read back the new certificate");
        log_cert_event(CERT_EVENT_RENEWED, c->name, (const char *[]){ f_na, f_pin, f_days, NULL },
                       "renewed: valid until %s, pin %s%s", na, pin,
                       out->key_reused ? " (key kept)" : " (new key)");
        return 0;
}

/* A deploy_only job: what renew_one() would have made, from the installed certificate. */
static int redeploy_prepare(const Inventory *inv, RenewJob *j) {
        _cleanup_free_ uint8_t *data = NULL;
        const CertFacts *f = j->current;
        size_t size;
        int r;

        if (!f || !f->parsed || !f->has_pin)
                return -ENODATA;
        r = read_full_file(j->cert->certificate, INPUT_MAX, &data, &size);
        if (r >= 0)
                r = x509_leaf_der(data, size, &j->outcome.leaf_der);
        if (r < 0)
                return log_error_errno(r, "%s: cannot read %s to deploy it again: %m", j->cert->name,
                                       j->cert->certificate);
        j->outcome.not_after = f->not_after;
        memcpy(j->outcome.pin, f->pin, PIN_SIZE);
        snprintf(j->outcome.serial, sizeof(j->outcome.serial), "%s", f->serial ?: "");
        previous_pin(inv, j->cert, f, j->outcome.previous);
        log_info("%s: deploying the installed certificate (serial %s) again", j->cert->name,
                 j->outcome.serial);
        return 0;
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

        if (j->deploy_only) {
                log_error_clear();
                r = redeploy_prepare(b->inv, j);
                if (r < 0) {
                        j->deployed = true;
                        j->deploy_result = r;
                        j->deploy_step = strdup("read the installed certificate");
                        j->deploy_error = strdup(log_last_error()[0] ? log_last_error() : strerror(-r));
                        j->result = 0;
                }
                return 0;
        }
        /* A failed renewal is the job's result, not the batch's: the others go on. */
        log_error_clear();
        if (j->cert->issuer == ISSUER_ACME && (r = batch_acme(b, j->cert, &acme)) < 0) {
                j->result = fail(j, r, "no ACME session (see above)");
                return 0;
        }
        j->result = renew_one(b->inv, j, b->now, acme);
        return 0;
}

/* How long a unit's reload job and a verify endpoint may take before they count as failed. */
#define UNIT_JOB_TIMEOUT (90 * USEC_PER_SEC)
#define VERIFY_TIMEOUT (15 * USEC_PER_SEC)

/* The first failed deploy step is the one recorded; the others still run (a hook may fix more than the
 * unit that failed needs). */
static void deploy_failed(RenewJob *j, int r, const char *step, const char *error) {
        if (j->deploy_result < 0)
                return;
        j->deploy_result = r < 0 ? r : -EIO;
        j->deploy_step = strdup(step);
        j->deploy_error = strdup(error && error[0] ? error : strerror(-j->deploy_result));
}

static bool job_deploys(const RenewJob *j) {
        return j->result >= 0 && !j->deployed;
}

typedef struct UnitRequest {
        const char *unit;
        UnitAction action;
        char *certs;  /* the certificates asking, space separated, for the journal */
        size_t *jobs; /* and their jobs, to charge a failure to */
        size_t n_jobs;
} UnitRequest;

static int unit_request_add(UnitRequest **l, size_t *n, const char *unit, UnitAction action, size_t job,
                            const char *cert) {
        UnitRequest *u = NULL;
        size_t *jobs;
        char *joined;

        for (size_t i = 0; i < *n && !u; i++)
                if (strcmp((*l)[i].unit, unit) == 0)
                        u = &(*l)[i];
        if (!u) {
                u = realloc(*l, (*n + 1) * sizeof(UnitRequest));
                if (!u)
                        return -ENOMEM;
                *l = u;
                u = &u[(*n)++];
                *u = (UnitRequest){ .unit = unit, .action = action, .certs = strdup(cert) };
                if (!u->certs)
                        return -ENOMEM;
        } else {
                /* Named by several certificates renewed together: once, and restart wins. */
                if (action == UNIT_ACTION_RESTART)
                        u->action = action;
                if (asprintf(&joined, "%s %s", u->certs, cert) < 0)
                        return -ENOMEM;
                free(u->certs);
                u->certs = joined;
        }
        jobs = realloc(u->jobs, (u->n_jobs + 1) * sizeof(size_t));
        if (!jobs)
                return -ENOMEM;
        u->jobs = jobs;
        u->jobs[u->n_jobs++] = job;
        return 0;
}

static void reload_units(RenewJob *jobs, size_t n) {
        _cleanup_(notify_bus_freep) NotifyBus *bus = NULL;
        UnitRequest *units = NULL;
        size_t n_units = 0;
        char step[512];
        int r = 0;

        for (size_t i = 0; i < n && r >= 0; i++) {
                if (!job_deploys(&jobs[i]))
                        continue;
                for (char **u = jobs[i].cert->reload; u && *u && r >= 0; u++)
                        r = unit_request_add(&units, &n_units, *u, UNIT_ACTION_RELOAD, i,
                                             jobs[i].cert->name);
                for (char **u = jobs[i].cert->x->restart; u && *u && r >= 0; u++)
                        r = unit_request_add(&units, &n_units, *u, UNIT_ACTION_RESTART, i,
                                             jobs[i].cert->name);
        }
        log_error_clear();
        if (r < 0)
                log_error_errno(r, "Out of memory");
        else if (n_units > 0 && (r = notify_bus_open(&bus)) < 0)
                log_error_errno(r, "cannot reach systemd over D-Bus: %m; %zu unit(s) not reloaded", n_units);
        for (size_t i = 0; i < n_units; i++) {
                int q = r;

                _cleanup_free_ char *err = NULL;

                if (q >= 0) {
                        log_error_clear();
                        q = notify_unit(bus, units[i].action, units[i].unit, units[i].certs,
                                        UNIT_JOB_TIMEOUT, &err);
                }
                snprintf(step, sizeof(step), "%s %s", unit_action_to_string(units[i].action), units[i].unit);
                for (size_t k = 0; q < 0 && k < units[i].n_jobs; k++)
                        deploy_failed(&jobs[units[i].jobs[k]], q, step, err ?: log_last_error());
        }
        for (size_t i = 0; i < n_units; i++) {
                free(units[i].certs);
                free(units[i].jobs);
        }
        free(units);
}

typedef struct DeployBatch {
        const Inventory *inv;
        RenewJob *jobs;
} DeployBatch;

/* Signal, exec hook and verify for one job (on a pool thread: hooks and handshakes overlap). */
static int deploy_job(unsigned worker, size_t item, void *userdata) {
        DeployBatch *b = userdata;
        RenewJob *j = &b->jobs[item];
        const CertConfig *c = j->cert;
        _cleanup_free_ char *pin = NULL;
        char na[32], step[512], error[512];
        int r;

        if (!job_deploys(j))
                return 0;
        if (c->x->signal && c->x->signal_pidfile) {
                snprintf(step, sizeof(step), "signal SIG%s %s", sigabbrev_np(c->x->signal) ?: "?",
                         c->x->signal_pidfile);
                _cleanup_free_ char *err = NULL;

                r = notify_signal(c->x->signal, c->x->signal_pidfile, c->owner, &err);
                if (r < 0) {
                        if (err)
                                snprintf(error, sizeof(error), "%s", err);
                        else
                                snprintf(error, sizeof(error), "cannot signal the process in %s: %s",
                                         c->x->signal_pidfile, strerror(-r));
                        log_error("%s: %s", c->name, error);
                        deploy_failed(j, r, step, error);
                }
        }
        if (c->x->exec && pin_format(j->outcome.pin, PIN_FORMAT_BASE64, &pin) >= 0) {
                HookEnv env = { .name = c->name,
                                .certificate = c->certificate,
                                .key = c->key,
                                .pin = pin,
                                .previous_pin = j->outcome.previous[0] ? j->outcome.previous : NULL,
                                .not_after = format_timestamp_iso(na, sizeof(na), j->outcome.not_after) };

                _cleanup_free_ char *err = NULL;

                snprintf(step, sizeof(step), "exec %s", c->x->exec);
                r = notify_exec(c->x->exec, &env, cert_hook_timeout(b->inv, c), &err);
                if (r < 0)
                        snprintf(error, sizeof(error), "%s", err ?: strerror(-r));
                if (r < 0) {
                        log_error("%s: %s", c->name, error);
                        deploy_failed(j, r, step, error);
                }
        }
        for (char **e = c->x->verify; e && *e; e++) {
                _cleanup_free_ char *err = NULL;

                /* The service was not told to load the new certificate (its reload, signal or hook
                 * failed, and that failure is the one recorded): a handshake could only wait out the
                 * timeout for a certificate that will not come. */
                if (j->deploy_result < 0) {
                        log_notice("%s: verify %s skipped: the deploy already failed at %s", c->name, *e,
                                   j->deploy_step ?: "an earlier step");
                        continue;
                }
                log_error_clear();
                r = notify_verify(*e, j->outcome.leaf_der.data, j->outcome.leaf_der.size, c->name,
                                  VERIFY_TIMEOUT, &err);
                snprintf(step, sizeof(step), "verify %s", *e);
                if (r < 0)
                        deploy_failed(j, r, step, err ?: log_last_error());
        }
        return 0;
}

static void deploy(const Inventory *inv, RenewJob *jobs, size_t n, unsigned concurrency, usec_t now) {
        reload_units(jobs, n);
        (void) pool_run(n, concurrency ? concurrency : 1, deploy_job,
                        &(DeployBatch){ .inv = inv, .jobs = jobs });

        for (size_t i = 0; i < n; i++) {
                RenewJob *j = &jobs[i];
                char f_step[600], f_error[600], f_serial[100];

                if (!job_deploys(j))
                        continue;
                j->deployed = true;
                if (j->deploy_result < 0) {
                        snprintf(f_step, sizeof(f_step), "CERTHERD_DEPLOY_STEP=%s", j->deploy_step ?: "");
                        snprintf(f_error, sizeof(f_error), "CERTHERD_DEPLOY_ERROR=%s",
                                 j->deploy_error ?: "");
                        snprintf(f_serial, sizeof(f_serial), "CERTHERD_SERIAL=%s", j->outcome.serial);
                        log_cert_event(CERT_EVENT_DEPLOY_FAILED, j->cert->name,
                                       (const char *[]){ f_step, f_error, f_serial, NULL },
                                       "deploy failed at %s: %s; the pin stays, the deploy is retried",
                                       j->deploy_step ?: "?", j->deploy_error ?: "?");
                } else {
                        /* With rotate, the key after this one, announced with the pin (a step of its own:
                         * publishing only publishes). */
                        if (j->cert->key_policy == KEY_POLICY_ROTATE) {
                                int r = keys_next_make(inv, j->cert, j->outcome.pin);
                                if (r < 0)
                                        log_warning_errno(r,
                                                          "%s: cannot make the next key: %m, publishing "
                                                          "without next_pin_sha256",
                                                          j->cert->name);
                        }
                        /* Only a deployed certificate's pin is published. */
                        (void) publish_pins(inv, j->cert, j->outcome.pin, j->outcome.not_after,
                                            j->current && j->current->has_pin ? j->current->pin : NULL, now);
                }
                gnutls_free(j->outcome.leaf_der.data);
                j->outcome.leaf_der = (gnutls_datum_t){};
        }
}

void renew_many(const Inventory *inv, RenewJob *jobs, size_t n, unsigned concurrency, usec_t now) {
        _cleanup_free_ AcmeSlot *acme = NULL;

        if (concurrency > n)
                concurrency = (unsigned) n;
        acme = new0(AcmeSlot, inv->n_acme);
        if (!acme) {
                for (size_t i = 0; i < n; i++)
                        if (!jobs[i].deploy_only)
                                jobs[i].result = fail(&jobs[i], -ENOMEM, "out of memory");
                return;
        }
        for (size_t i = 0; i < inv->n_acme; i++)
                pthread_mutex_init(&acme[i].lock, NULL);
        (void) pool_run(n, concurrency, renew_job,
                        &(RenewBatch){ .inv = inv, .jobs = jobs, .now = now, .acme = acme });
        for (size_t i = 0; i < inv->n_acme; i++) {
                acme_session_free(acme[i].session);
                pthread_mutex_destroy(&acme[i].lock);
        }
        deploy(inv, jobs, n, concurrency, now);
}
