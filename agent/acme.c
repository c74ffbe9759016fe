/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ACME sessions (RFC 8555): the directory (§7.1.1), the account key and account (§7.3: lookup with
 * onlyReturnExisting, registration with contact and External Account Binding §7.3.4), key rollover
 * (§7.3.5), revocation (§7.6), ARI renewal information (RFC 9773) and the persisted state under
 * STATE/acme/NAME/. Orders are in acme-order.c, the transport in acme-http.c. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <strings.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "acme-internal.h"
#include "fd-util.h"
#include "gnutls-util.h"
#include "install.h"
#include "keygen.h"
#include "log.h"
#include "x509.h"

#define KEY_FILE_MAX (64U * 1024U)

static const struct {
        const char *name;
        int code;
} reasons[] = {
        /* RFC 5280 §5.3.1 CRLReason */
        { "unspecified", 0 },       { "keyCompromise", 1 },        { "cACompromise", 2 },
        { "affiliationChanged", 3 }, { "superseded", 4 },           { "cessationOfOperation", 5 },
        { "certificateHold", 6 },   { "removeFromCRL", 8 },        { "privilegeWithdrawn", 9 },
        { "aACompromise", 10 },
};

int acme_revocation_reason_from_string(const char *s) {
        char *end;
        long v;

        if (!s || !*s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(reasons); i++)
                if (strcasecmp(s, reasons[i].name) == 0)
                        return reasons[i].code;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || *end || v < 0 || v > 10 || v == 7)
                return -EINVAL;
        return (int) v;
}

static int path_in(const AcmeSession *s, const char *name, char **ret) {
        return asprintf(ret, "%s/%s", s->dir_path, name) < 0 ? -ENOMEM : 0;
}

static int write_private(const char *path, const void *data, size_t size, mode_t mode) {
        int r = mkdir_parents(path, 0700);

        if (r < 0)
                return r;
        return install_file(&(InstallFile) { .path = path, .data = data, .size = size, .mode = mode, .uid = (uid_t) -1,
                                             .gid = (gid_t) -1 });
}

static int load_key_file(const char *path, gnutls_x509_privkey_t *ret) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t size;
        int r;

        r = read_full_file(path, KEY_FILE_MAX, &data, &size);
        if (r < 0)
                return r;
        return x509_load_privkey(data, size, NULL, ret);
}

static int new_key_file(const AcmeSession *s, const char *path, gnutls_x509_privkey_t *ret) {
        _cleanup_x509_privkey_ gnutls_x509_privkey_t key = NULL;
        _cleanup_datum_ gnutls_datum_t pem = {};
        int r;

        r = keygen_generate(s->cfg->account_key_type, &key);
        if (r >= 0)
                r = keygen_export_pem(key, &pem);
        if (r < 0)
                return log_error_errno(r, "[acme \"%s\"] cannot make an account key: %m", s->cfg->name);
        r = write_private(path, pem.data, pem.size, 0600);
        if (r < 0)
                return log_error_errno(r, "[acme \"%s\"] cannot write the account key %s: %m", s->cfg->name, path);
        *ret = TAKE_PTR(key);
        return 0;
}

static int set_key(AcmeSession *s, gnutls_x509_privkey_t x) {
        JwsKey *k;
        int r;

        r = jws_key_new(x, &k);
        if (r < 0)
                return r;
        pthread_mutex_lock(&s->lock);
        jws_key_free(s->key);
        s->key = k;
        pthread_mutex_unlock(&s->lock);
        return 0;
}

static int contact_json(const AcmeSession *s, json_t **ret) {
        _cleanup_free_ char *copy = NULL;
        json_t *a = json_array();
        char *save = NULL;

        if (!a)
                return -ENOMEM;
        if (s->cfg->contact && !(copy = strdup(s->cfg->contact))) {
                json_decref(a);
                return -ENOMEM;
        }
        for (char *t = copy ? strtok_r(copy, " ,", &save) : NULL; t; t = strtok_r(NULL, " ,", &save))
                json_array_append_new(a, json_string(t));
        *ret = a;
        return 0;
}

static void set_kid(AcmeSession *s, char *kid) {
        pthread_mutex_lock(&s->lock);
        free(s->kid);
        s->kid = kid;
        s->account_generation++;
        pthread_mutex_unlock(&s->lock);
}

/* account.json: {contact, directory, url} as the server last heard them, so that a run neither looks the
 * account up (one signed request) nor updates the contact when nothing changed. */
static int account_record(AcmeSession *s, char **ret) {
        json_t *contact, *j;
        int r;

        r = contact_json(s, &contact);
        if (r < 0)
                return r;
        pthread_mutex_lock(&s->lock);
        j = json_pack("{s:o, s:s, s:s}", "contact", contact, "directory", s->cfg->directory, "url", s->kid ?: "");
        pthread_mutex_unlock(&s->lock);
        *ret = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(j);
        return *ret ? 0 : -ENOMEM;
}

static void account_save(AcmeSession *s) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        int r;

        if ((r = path_in(s, "account.json", &path)) < 0 || (r = account_record(s, &text)) < 0 ||
            (r = write_private(path, text, strlen(text), 0600)) < 0)
                log_warning_errno(r, "[acme \"%s\"] cannot write %s: %m, ignoring", s->cfg->name, path ?: "account.json");
}

/* The account URL saved for this directory, and whether the saved contact is the configured one. */
static int account_cached(AcmeSession *s, char **ret_url, bool *ret_contact_ok) {
        _cleanup_free_ char *path = NULL, *url = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        json_t *j, *c;
        size_t size;
        int r;

        if ((r = path_in(s, "account.json", &path)) < 0 || (r = read_full_file(path, KEY_FILE_MAX, &data, &size)) < 0)
                return r;
        j = json_loadb((char *) data, size, 0, NULL);
        if (json_is_string(json_object_get(j, "url")) && json_is_string(json_object_get(j, "directory")) &&
            strcmp(json_string_value(json_object_get(j, "directory")), s->cfg->directory) == 0 &&
            *json_string_value(json_object_get(j, "url")))
                url = strdup(json_string_value(json_object_get(j, "url")));
        r = url ? 0 : -ENOENT;
        if (r >= 0 && contact_json(s, &c) >= 0) {
                *ret_contact_ok = json_equal(c, json_object_get(j, "contact"));
                json_decref(c);
        } else
                *ret_contact_ok = false;
        json_decref(j);
        if (r < 0)
                return r;
        *ret_url = TAKE_PTR(url);
        return 0;
}

/* RFC 8555 §7.3.1 with onlyReturnExisting. Returns 0 (found, kid set), -ENOENT, -errno (logged). */
static int account_lookup(AcmeSession *s) {
        AcmeResponse resp = {};
        int r;

        r = acme_post(s, s->dir.new_account, "{\"onlyReturnExisting\":true}", ACME_POST_JWK, &resp);
        if (r >= 0 && resp.location) {
                log_info("[acme \"%s\"] found account %s", s->cfg->name, resp.location);
                set_kid(s, TAKE_PTR(resp.location));
        } else if (resp.status == 400 && acme_problem_is(&resp.problem, "accountDoesNotExist"))
                r = -ENOENT;
        else
                r = acme_log_failure(s, r < 0 ? r : -EPROTO, &resp, s->dir.new_account, "account lookup failed");
        acme_response_done(&resp);
        return r;
}

static int account_register(AcmeSession *s) {
        _cleanup_free_ char *payload = NULL, *eab = NULL;
        AcmeResponse resp = {};
        json_t *p, *contact = NULL;
        int r;

        if (s->dir.eab_required && !s->cfg->eab_kid)
                return log_error_errno(-EPERM,
                                       "[acme \"%s\"] the server %s requires External Account Binding: set eab-kid "
                                       "and eab-hmac-file",
                                       s->cfg->name, s->cfg->directory);
        r = contact_json(s, &contact);
        if (r < 0)
                return r;
        p = json_pack("{s:b, s:o}", "termsOfServiceAgreed", 1, "contact", contact);
        if (p && s->cfg->eab_kid) {
                r = jws_eab(s->key, s->cfg->eab_kid, s->eab_key, s->eab_key_size, s->dir.new_account, &eab);
                if (r >= 0)
                        r = json_object_set_new(p, "externalAccountBinding", json_loads(eab, 0, NULL));
        }
        payload = p && r >= 0 ? json_dumps(p, JSON_COMPACT) : NULL;
        json_decref(p);
        if (!payload)
                return -ENOMEM;

        r = acme_post(s, s->dir.new_account, payload, ACME_POST_JWK, &resp);
        if (r >= 0 && !resp.location)
                r = -EPROTO;
        if (r < 0) {
                r = acme_log_failure(s, r, &resp, s->dir.new_account,
                                     s->cfg->eab_kid ? "account registration (with External Account Binding) failed"
                                                     : "account registration failed");
                acme_response_done(&resp);
                return r;
        }
        log_info("[acme \"%s\"] %s account %s", s->cfg->name, resp.status == 201 ? "registered" : "found", resp.location);
        set_kid(s, TAKE_PTR(resp.location));
        acme_response_done(&resp);
        account_save(s);
        return 0;
}

/* Keep the contact the server has in step with the configuration (§7.3.2). */
static int account_update_contact(AcmeSession *s) {
        _cleanup_free_ char *payload = NULL;
        AcmeResponse resp = {};
        json_t *contact, *p;
        int r;

        if (s->cfg->contact) {
                r = contact_json(s, &contact);
                if (r < 0)
                        return r;
                p = json_pack("{s:o}", "contact", contact);
                payload = p ? json_dumps(p, JSON_COMPACT) : NULL;
                json_decref(p);
                r = payload ? acme_post(s, s->kid, payload, 0, &resp) : -ENOMEM;
                if (r < 0) {
                        /* The account works without it: say so and go on. */
                        acme_log_failure(s, r, &resp, s->kid, "cannot update the account contact, ignoring");
                        acme_response_done(&resp);
                        return 0;
                }
                acme_response_done(&resp);
        }
        account_save(s);
        return 0;
}

int acme_account_ensure(AcmeSession *s, unsigned seen_generation) {
        int r = 0;

        pthread_mutex_lock(&s->account_lock);
        pthread_mutex_lock(&s->lock);
        bool stale = s->account_generation == seen_generation;
        pthread_mutex_unlock(&s->lock);
        if (stale) {
                log_notice("[acme \"%s\"] the server does not know our account (any more): registering again",
                           s->cfg->name);
                r = account_register(s);
        }
        pthread_mutex_unlock(&s->account_lock);
        return r;
}

/* The account key: account.key, or account.key.next when a rollover was interrupted after the server
 * switched (the server knows only one of them). */
static int account_open(AcmeSession *s) {
        _cleanup_free_ char *path = NULL, *next = NULL;
        _cleanup_x509_privkey_ gnutls_x509_privkey_t key = NULL, key_next = NULL;
        bool fresh = false;
        int r;

        if ((r = path_in(s, "account.key", &path)) < 0 || (r = path_in(s, "account.key.next", &next)) < 0)
                return r;
        r = load_key_file(path, &key);
        if (r == -ENOENT) {
                r = new_key_file(s, path, &key);
                fresh = true;
        } else if (r < 0)
                return log_error_errno(r, "[acme \"%s\"] cannot load the account key %s: %m", s->cfg->name, path);
        if (r < 0)
                return r;

        if (!fresh && load_key_file(next, &key_next) >= 0) {
                r = set_key(s, key_next);
                if (r >= 0 && (r = account_lookup(s)) >= 0) {
                        _cleanup_datum_ gnutls_datum_t pem = {};

                        log_notice("[acme \"%s\"] completing an interrupted account key rollover", s->cfg->name);
                        r = keygen_export_pem(key_next, &pem);
                        if (r >= 0)
                                r = write_private(path, pem.data, pem.size, 0600);
                        if (r < 0)
                                return log_error_errno(r, "[acme \"%s\"] cannot write %s: %m", s->cfg->name, path);
                        (void) unlink(next);
                        return account_update_contact(s);
                }
                if (r != -ENOENT)
                        return r;
                (void) unlink(next);
        }

        r = set_key(s, key);
        if (r < 0)
                return log_error_errno(r, "[acme \"%s\"] the account key %s cannot sign ACME requests (%s): %m",
                                       s->cfg->name, path, "ec-p256 or rsa-2048 and larger");
        if (!fresh) {
                _cleanup_free_ char *url = NULL;
                bool contact_ok;

                /* A server that forgot the account says so on first use, and acme_post registers again. */
                if (account_cached(s, &url, &contact_ok) >= 0) {
                        set_kid(s, TAKE_PTR(url));
                        return contact_ok ? 0 : account_update_contact(s);
                }
                r = account_lookup(s);
                if (r >= 0)
                        return account_update_contact(s);
                if (r != -ENOENT)
                        return r;
        }
        return account_register(s);
}

static int load_eab_key(AcmeSession *s) {
        _cleanup_free_ char *secret = NULL;
        int r;

        r = read_secret_file(s->cfg->eab_hmac_file, &secret);
        if (r < 0)
                return log_error_errno(r, "[acme \"%s\"] cannot read eab-hmac-file %s: %m", s->cfg->name,
                                       s->cfg->eab_hmac_file);
        r = jws_base64url_decode(secret, strlen(secret), &s->eab_key, &s->eab_key_size);
        if (r < 0 || s->eab_key_size == 0)
                return log_error_errno(-EINVAL, "[acme \"%s\"] eab-hmac-file %s does not hold a base64url key",
                                       s->cfg->name, s->cfg->eab_hmac_file);
        return 0;
}

int acme_session_new(const Inventory *inv, const AcmeConfig *a, AcmeSession **ret) {
        _cleanup_(acme_session_freep) AcmeSession *s = NULL;
        AcmeResponse resp = {};
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return log_error_errno(-ENOMEM, "Out of memory");
        s->inv = inv;
        s->cfg = a;
        pthread_mutex_init(&s->lock, NULL);
        pthread_mutex_init(&s->account_lock, NULL);
        if (asprintf(&s->dir_path, "%s/acme/%s", inv->agent.state_directory, a->name) < 0)
                return log_error_errno(-ENOMEM, "Out of memory");
        r = acme_transport_init(s);
        if (r < 0)
                return log_error_errno(r, "[acme \"%s\"] cannot set up libcurl: %m", a->name);
        r = mkdir_p(s->dir_path, 0700);
        if (r < 0)
                return log_error_errno(r, "[acme \"%s\"] cannot create %s: %m", a->name, s->dir_path);
        if (a->eab_kid && (r = load_eab_key(s)) < 0)
                return r;

        r = acme_get(s, a->directory, &resp);
        if (r >= 0) {
                r = acme_parse_directory(resp.body, resp.size, &s->dir);
                if (r < 0)
                        r = log_error_errno(r, "[acme \"%s\"] %s is not an ACME directory", a->name, a->directory);
        } else
                acme_log_failure(s, r, &resp, a->directory, "cannot fetch the directory");
        acme_response_done(&resp);
        if (r < 0)
                return r;

        r = account_open(s);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

AcmeSession *acme_session_free(AcmeSession *s) {
        if (!s)
                return NULL;
        if (s->n_requests > 0)
                log_info("[acme \"%s\"] %u requests, %u badNonce rejections retried, %u retries after errors",
                         s->cfg->name, (unsigned) s->n_requests, (unsigned) s->n_bad_nonces, (unsigned) s->n_retries);
        challenge_free(s->challenger);
        acme_transport_done(s);
        acme_directory_done(&s->dir);
        jws_key_free(s->key);
        free(s->kid);
        free(s->dir_path);
        free(s->eab_key);
        pthread_mutex_destroy(&s->lock);
        pthread_mutex_destroy(&s->account_lock);
        free(s);
        return NULL;
}

const char *acme_session_account(const AcmeSession *s) {
        return s->kid;
}

int acme_session_challenger(AcmeSession *s, Challenger **ret) {
        int r = 0;

        pthread_mutex_lock(&s->lock);
        if (!s->challenger)
                r = challenge_new(s->cfg, &s->challenger);
        *ret = s->challenger;
        pthread_mutex_unlock(&s->lock);
        return r;
}

static int first_cert_der(const gnutls_datum_t *pem, gnutls_datum_t *ret) {
        _cleanup_x509_crt_ gnutls_x509_crt_t crt = NULL;
        gnutls_x509_crt_t *crts = NULL;
        unsigned n = 0;
        int r;

        r = x509_load_crts(pem->data, pem->size, &crts, &n);
        if (r < 0)
                return r;
        crt = crts[0];
        for (unsigned i = 1; i < n; i++)
                gnutls_x509_crt_deinit(crts[i]);
        gnutls_free(crts);
        r = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, ret);
        return r < 0 ? errno_from_gnutls(r) : 0;
}

int acme_revoke(AcmeSession *s, const gnutls_datum_t *cert_pem, int reason) {
        _cleanup_datum_ gnutls_datum_t der = {};
        _cleanup_free_ char *b64 = NULL, *payload = NULL;
        AcmeResponse resp = {};
        int r;

        if (!s->dir.revoke_cert)
                return log_error_errno(-EOPNOTSUPP, "[acme \"%s\"] the server offers no revokeCert", s->cfg->name);
        r = first_cert_der(cert_pem, &der);
        if (r < 0)
                return log_error_errno(r, "[acme \"%s\"] no certificate to revoke: %m", s->cfg->name);
        r = jws_base64url_encode(der.data, der.size, &b64);
        if (r < 0)
                return r;
        if (asprintf(&payload, reason > 0 ? "{\"certificate\":\"%s\",\"reason\":%d}" : "{\"certificate\":\"%s\"}", b64,
                     reason) < 0)
                return -ENOMEM;
        r = acme_post(s, s->dir.revoke_cert, payload, 0, &resp);
        if (r < 0 && acme_problem_is(&resp.problem, "alreadyRevoked"))
                r = log_error_errno(-EALREADY, "[acme \"%s\"] already revoked: %s", s->cfg->name,
                                    resp.problem.detail ?: "");
        else if (r < 0)
                acme_log_failure(s, r, &resp, s->dir.revoke_cert, "revocation failed");
        acme_response_done(&resp);
        return r;
}

int acme_key_rollover(AcmeSession *s) {
        _cleanup_free_ char *path = NULL, *next = NULL, *payload = NULL, *inner = NULL, *kid = NULL;
        _cleanup_x509_privkey_ gnutls_x509_privkey_t key = NULL;
        _cleanup_jws_key_ JwsKey *new_key = NULL;
        _cleanup_datum_ gnutls_datum_t pem = {};
        AcmeResponse resp = {};
        json_t *inner_j;
        int r;

        if (!s->dir.key_change)
                return log_error_errno(-EOPNOTSUPP, "[acme \"%s\"] the server offers no keyChange", s->cfg->name);
        if ((r = path_in(s, "account.key", &path)) < 0 || (r = path_in(s, "account.key.next", &next)) < 0)
                return r;
        pthread_mutex_lock(&s->account_lock);
        /* The new key is on disk before the server hears of it: whatever happens next, one of the two
         * files is the key the server has (account_open sorts it out). */
        r = new_key_file(s, next, &key);
        if (r < 0)
                goto out;
        r = jws_key_new(key, &new_key);
        if (r < 0)
                goto out;
        pthread_mutex_lock(&s->lock);
        kid = strdup(s->kid);
        inner_j = kid ? json_pack("{s:s, s:o}", "account", kid, "oldKey", json_loads(jws_key_jwk(s->key), 0, NULL)) : NULL;
        pthread_mutex_unlock(&s->lock);
        payload = inner_j ? json_dumps(inner_j, JSON_COMPACT) : NULL;
        json_decref(inner_j);
        if (!payload) {
                r = -ENOMEM;
                goto out;
        }
        /* §7.3.5: the inner JWS is signed by the new key, carries its JWK and no nonce. */
        r = jws_sign(new_key, NULL, NULL, s->dir.key_change, payload, &inner);
        if (r < 0)
                goto out;
        r = acme_post(s, s->dir.key_change, inner, ACME_POST_NO_REREGISTER, &resp);
        if (r < 0) {
                acme_log_failure(s, r, &resp, s->dir.key_change, "account key rollover failed");
                (void) unlink(next);
                goto out;
        }
        r = keygen_export_pem(key, &pem);
        if (r >= 0)
                r = write_private(path, pem.data, pem.size, 0600);
        if (r < 0) {
                log_error_errno(r, "[acme \"%s\"] the server took the new account key, but %s cannot be written "
                                   "(%m): it stays in %s",
                                s->cfg->name, path, next);
                goto out;
        }
        (void) unlink(next);
        pthread_mutex_lock(&s->lock);
        jws_key_free(s->key);
        s->key = TAKE_PTR(new_key);
        pthread_mutex_unlock(&s->lock);
        log_notice("[acme \"%s\"] account key rolled over (%s)", s->cfg->name, jws_key_thumbprint(s->key));
out:
        acme_response_done(&resp);
        pthread_mutex_unlock(&s->account_lock);
        return r;
}

const char *acme_session_key_thumbprint(AcmeSession *s) {
        return jws_key_thumbprint(s->key);
}

/* ---- ARI (RFC 9773) ---- */

int acme_ari_cert_id(const uint8_t *data, size_t size, char **ret) {
        _cleanup_x509_crt_ gnutls_x509_crt_t crt = NULL;
        gnutls_x509_crt_t *crts = NULL;
        _cleanup_free_ char *a = NULL, *b = NULL;
        uint8_t aki[64], serial[64];
        size_t aki_size = sizeof(aki), serial_size = sizeof(serial);
        unsigned n = 0, critical;
        int r;

        r = x509_load_crts(data, size, &crts, &n);
        if (r < 0)
                return r;
        crt = crts[0];
        for (unsigned i = 1; i < n; i++)
                gnutls_x509_crt_deinit(crts[i]);
        gnutls_free(crts);
        r = gnutls_x509_crt_get_authority_key_id(crt, aki, &aki_size, &critical);
        if (r < 0)
                return -ENODATA; /* no AKI: no ARI */
        r = gnutls_x509_crt_get_serial(crt, serial, &serial_size);
        if (r < 0)
                return errno_from_gnutls(r);
        /* §4.1: the DER encoding of the serial's INTEGER value, i.e. with a leading zero when the top bit
         * is set. GnuTLS hands the bytes as they are in the certificate. */
        if ((r = jws_base64url_encode(aki, aki_size, &a)) < 0 || (r = jws_base64url_encode(serial, serial_size, &b)) < 0)
                return r;
        return asprintf(ret, "%s.%s", a, b) < 0 ? -ENOMEM : 0;
}

usec_t acme_ari_pick(usec_t start, usec_t end, uint64_t random) {
        return end > start ? start + random % (end - start) : start;
}

bool acme_session_has_ari(const AcmeSession *s) {
        return s->dir.renewal_info;
}

int acme_renewal_info(AcmeSession *s, const char *cert_id, usec_t *ret_start, usec_t *ret_end,
                      usec_t *ret_retry_after) {
        _cleanup_free_ char *url = NULL;
        AcmeResponse resp = {};
        int r;

        if (!s->dir.renewal_info)
                return -EOPNOTSUPP;
        if (asprintf(&url, "%s%s%s", s->dir.renewal_info,
                     s->dir.renewal_info[strlen(s->dir.renewal_info) - 1] == '/' ? "" : "/", cert_id) < 0)
                return -ENOMEM;
        r = acme_get(s, url, &resp);
        if (r >= 0) {
                r = acme_parse_renewal_info(resp.body, resp.size, ret_start, ret_end);
                if (r < 0)
                        log_error("[acme \"%s\"] %s: not a renewalInfo document", s->cfg->name, url);
                else
                        *ret_retry_after = resp.has_retry_after ? resp.retry_after : 6 * USEC_PER_HOUR;
        } else
                acme_log_failure(s, r, &resp, url, "cannot fetch renewal information");
        acme_response_done(&resp);
        return r;
}

/* The point picked for this window before, or 0. */
static usec_t ari_saved_point(const char *path, const char *id, usec_t start, usec_t end) {
        _cleanup_free_ uint8_t *data = NULL;
        const char *sid;
        usec_t when = 0;
        size_t size;
        json_t *j;

        if (read_full_file(path, 64 * 1024, &data, &size) < 0 || !(j = json_loadb((char *) data, size, 0, NULL)))
                return 0;
        sid = json_string_value(json_object_get(j, "id"));
        if (sid && strcmp(sid, id) == 0 && (usec_t) json_integer_value(json_object_get(j, "start")) == start &&
            (usec_t) json_integer_value(json_object_get(j, "end")) == end)
                when = (usec_t) json_integer_value(json_object_get(j, "point"));
        json_decref(j);
        return when >= start && when < end ? when : 0;
}

int acme_ari_due(AcmeSession *s, const CertConfig *c, usec_t now, AcmeAriDecision *ret) {
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_free_ char *id = NULL, *path = NULL, *text = NULL;
        AcmeAriDecision d = {};
        uint64_t rnd;
        size_t size;
        json_t *j;
        int r;

        if (!s->dir.renewal_info)
                return -EOPNOTSUPP;
        r = read_full_file(c->certificate, 1024U * 1024U, &data, &size);
        if (r < 0)
                return r;
        r = acme_ari_cert_id(data, size, &id);
        if (r < 0)
                return r;
        r = acme_renewal_info(s, id, &d.start, &d.end, &d.retry_after);
        if (r < 0)
                return r;

        /* One random point per window (§4.2), kept so that every run agrees on it; a moved window (the
         * CA wants it sooner, say after an incident) gets a new one. */
        if (asprintf(&path, "%s/ari/%s.json", s->dir_path, c->name) < 0)
                return -ENOMEM;
        d.when = ari_saved_point(path, id, d.start, d.end);
        if (d.when == 0) {
                r = gnutls_rnd(GNUTLS_RND_NONCE, &rnd, sizeof(rnd));
                if (r < 0)
                        return errno_from_gnutls(r);
                d.when = acme_ari_pick(d.start, d.end, rnd);
                j = json_pack("{s:s, s:I, s:I, s:I}", "id", id, "start", (json_int_t) d.start, "end", (json_int_t) d.end,
                              "point", (json_int_t) d.when);
                text = j ? json_dumps(j, JSON_COMPACT) : NULL;
                json_decref(j);
                if (!text)
                        return -ENOMEM;
                r = write_private(path, text, strlen(text), 0600);
                if (r < 0)
                        log_warning_errno(r, "[acme \"%s\"] cannot write %s: %m, ignoring", s->cfg->name, path);
        }
        d.due = now >= d.when;
        d.id = TAKE_PTR(id);
        *ret = d;
        return 0;
}

/* ---- the order in flight ---- */

static int order_path(AcmeSession *s, const char *cert, char **ret) {
        return asprintf(ret, "%s/orders/%s.json", s->dir_path, cert) < 0 ? -ENOMEM : 0;
}

int acme_order_state_load(AcmeSession *s, const char *cert, char **ret_url, char ***ret_names) {
        _cleanup_free_ char *path = NULL, *url = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        char **names = NULL;
        const char *account, *u;
        json_t *j, *v;
        size_t size, i;
        int r;

        if ((r = order_path(s, cert, &path)) < 0)
                return r;
        r = read_full_file(path, 1024U * 1024U, &data, &size);
        if (r < 0)
                return r;
        j = json_loadb((char *) data, size, 0, NULL);
        account = json_string_value(json_object_get(j, "account"));
        u = json_string_value(json_object_get(j, "order"));
        /* An order belongs to the account (and so the server) that made it. */
        pthread_mutex_lock(&s->lock);
        r = account && u && s->kid && strcmp(account, s->kid) == 0 ? 0 : -ESTALE;
        pthread_mutex_unlock(&s->lock);
        if (r >= 0 && !(url = strdup(u)))
                r = -ENOMEM;
        if (r >= 0 && !(names = calloc(json_array_size(json_object_get(j, "names")) + 1, sizeof(char *))))
                r = -ENOMEM;
        json_array_foreach(json_object_get(j, "names"), i, v)
                if (r >= 0 && json_is_string(v) && !(names[i] = strdup(json_string_value(v))))
                        r = -ENOMEM;
        json_decref(j);
        if (r < 0) {
                strv_free(names);
                return r;
        }
        *ret_url = TAKE_PTR(url);
        *ret_names = names;
        return 0;
}

int acme_order_state_save(AcmeSession *s, const char *cert, const char *url, char *const *names) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        json_t *j, *a;
        int r;

        if ((r = order_path(s, cert, &path)) < 0)
                return r;
        a = json_array();
        for (size_t i = 0; a && names && names[i]; i++)
                json_array_append_new(a, json_string(names[i]));
        pthread_mutex_lock(&s->lock);
        j = a ? json_pack("{s:s, s:s, s:o}", "order", url, "account", s->kid ?: "", "names", a) : NULL;
        pthread_mutex_unlock(&s->lock);
        text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (!text)
                return -ENOMEM;
        r = write_private(path, text, strlen(text), 0600);
        if (r < 0)
                log_warning_errno(r, "[acme \"%s\"] cannot persist the order of %s in %s (a restart starts over): %m",
                                  s->cfg->name, cert, path);
        return 0;
}

void acme_order_state_remove(AcmeSession *s, const char *cert) {
        _cleanup_free_ char *path = NULL;

        if (order_path(s, cert, &path) >= 0 && unlink(path) < 0 && errno != ENOENT)
                log_warning_errno(-errno, "[acme \"%s\"] cannot remove %s: %m, ignoring", s->cfg->name, path);
}
