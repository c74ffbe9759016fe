/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ACME sessions (RFC 8555): the directory (§7.1.1), nonces (§7.2), signed requests (§6.2, badNonce
 * §6.5), the account key and account (§7.3: lookup with onlyReturnExisting, registration with contact
 * and External Account Binding §7.3.4), key rollover (§7.3.5), revocation (§7.6) and the files under
 * STATE/acme/NAME/. The transport below is acme-http.c; orders (acme-order.c) and ARI (acme-ari.c) sit
 * on top and call in here, never the other way round. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <strings.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "acme.h"
#include "compromised-keys.h"
#include "config-value.h"
#include "fd-util.h"
#include "gnutls-util.h"
#include "install.h"
#include "jws.h"
#include "keygen.h"
#include "log.h"
#include "state.h"
#include "token.h"
#include "x509-file.h"
#include "x509.h"

#define KEY_FILE_MAX (64U * 1024U)
#define ACME_NONCE_POOL 64
/* badNonce is retried at once with the nonce that came with the error (RFC 8555 §6.5): pebble rejects
 * 5 % (or, in our tests, 30 %) of good nonces, and 0.3^25 is negligible. */
#define ACME_BAD_NONCE_RETRIES 25

struct AcmeSession {
        const Inventory *inv;
        const AcmeConfig *cfg;
        char *dir_path; /* STATE/acme/NAME */
        AcmeDirectory dir;
        AcmeHttp *http;

        pthread_mutex_t account_lock; /* serialises (re-)registration and key rollover */
        pthread_mutex_t lock;         /* everything below */
        JwsKey *key;
        char *kid;                   /* account URL */
        unsigned account_generation; /* bumped on every (re-)registration */
        char *nonces[ACME_NONCE_POOL];
        size_t n_nonces;
        Challenger *challenger;

        uint8_t *eab_key;
        size_t eab_key_size;

        /* For the summary line at the end of a session. */
        atomic_uint n_bad_nonces;
};

static int account_register(AcmeSession *s);
static int account_ensure(AcmeSession *s, unsigned seen_generation);

static const struct {
        const char *name;
        int code;
} reasons[] = {
        /* RFC 5280 §5.3.1 CRLReason */
        { "unspecified", 0 },        { "keyCompromise", 1 }, { "cACompromise", 2 },
        { "affiliationChanged", 3 }, { "superseded", 4 },    { "cessationOfOperation", 5 },
        { "certificateHold", 6 },    { "removeFromCRL", 8 }, { "privilegeWithdrawn", 9 },
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
        return install_data_mkdir(path, data, size, mode, 0700);
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
                return log_error_errno(r, "[acme \"%s\"] cannot write the account key %s: %m", s->cfg->name,
                                       path);
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
        j = json_pack("{s:o, s:s, s:s}", "contact", contact, "directory", s->cfg->directory, "url",
                      s->kid ?: "");
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
                log_warning_errno(r, "[acme \"%s\"] cannot write %s: %m, ignoring", s->cfg->name,
                                  path ?: "account.json");
}

/* The account URL saved for this directory, and whether the saved contact is the configured one. */
static int account_cached(AcmeSession *s, char **ret_url, bool *ret_contact_ok) {
        _cleanup_free_ char *path = NULL, *url = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        json_t *j, *c;
        size_t size;
        int r;

        if ((r = path_in(s, "account.json", &path)) < 0 ||
            (r = read_full_file(path, KEY_FILE_MAX, &data, &size)) < 0)
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

/* ---- nonces and signed requests (RFC 8555 §6.2, §7.2) ---- */

static void nonce_put(AcmeSession *s, char *nonce) {
        if (!nonce)
                return;
        pthread_mutex_lock(&s->lock);
        if (s->n_nonces < ACME_NONCE_POOL) {
                s->nonces[s->n_nonces++] = nonce;
                nonce = NULL;
        }
        pthread_mutex_unlock(&s->lock);
        free(nonce);
}

/* A nonce from the pool, else a fresh one from newNonce (RFC 8555 §7.2). */
static int nonce_get(AcmeSession *s, AcmeRetry *t, char **ret) {
        AcmeResponse resp = {};
        char *n = NULL;
        int r;

        pthread_mutex_lock(&s->lock);
        if (s->n_nonces > 0)
                n = s->nonces[--s->n_nonces];
        pthread_mutex_unlock(&s->lock);
        if (n) {
                *ret = n;
                return 0;
        }
        for (;;) {
                r = acme_http_exchange(s->http, "HEAD", s->dir.new_nonce, NULL, false, t, &resp);
                if (!acme_http_retry_again(s->http, t, r, &resp, s->dir.new_nonce))
                        break;
        }
        if (r >= 0)
                r = acme_status_to_errno(resp.status);
        if (r >= 0 && !resp.nonce)
                r = -EPROTO;
        if (r < 0) {
                acme_log_failure(s, r, &resp, s->dir.new_nonce, "cannot get a nonce");
                acme_response_done(&resp);
                return r;
        }
        *ret = TAKE_PTR(resp.nonce);
        acme_response_done(&resp);
        return 0;
}

static int sign_request(AcmeSession *s, const char *url, const char *payload, AcmePostFlags flags,
                        const char *nonce, char **ret, unsigned *ret_generation) {
        _cleanup_free_ char *kid = NULL;
        JwsKey *key;

        pthread_mutex_lock(&s->lock);
        key = s->key;
        *ret_generation = s->account_generation;
        if (!(flags & ACME_POST_JWK) && s->kid)
                kid = strdup(s->kid);
        pthread_mutex_unlock(&s->lock);
        if (!(flags & ACME_POST_JWK) && !kid)
                return -ENOMEM;
        /* The key object is only replaced by a rollover, which holds no request in flight. */
        return jws_sign(key, kid, nonce, url, payload, ret);
}

int acme_post(AcmeSession *s, const char *url, const char *payload, AcmePostFlags flags, AcmeResponse *ret) {
        AcmeRetry t = acme_retry_start(s->http);
        _cleanup_free_ char *nonce = NULL;
        unsigned bad_nonces = 0, generation = 0;
        bool reregistered = false;
        int r;

        for (;;) {
                _cleanup_free_ char *jws = NULL;

                if (!nonce) {
                        r = nonce_get(s, &t, &nonce);
                        if (r < 0) {
                                acme_response_done(ret);
                                return r;
                        }
                }
                r = sign_request(s, url, payload, flags, nonce, &jws, &generation);
                if (r < 0)
                        return r;
                free(nonce);
                nonce = NULL;

                r = acme_http_exchange(s->http, "POST", url, jws, flags & ACME_POST_PEM, &t, ret);
                if (r == 0 && ret->status == 400 && acme_problem_is(&ret->problem, "badNonce") &&
                    ret->nonce && bad_nonces++ < ACME_BAD_NONCE_RETRIES) {
                        log_debug("[acme \"%s\"] %s: badNonce, retrying with the nonce it came with",
                                  s->cfg->name, url);
                        atomic_fetch_add(&s->n_bad_nonces, 1);
                        nonce = TAKE_PTR(ret->nonce);
                        continue;
                }
                if (r == 0)
                        nonce_put(s, TAKE_PTR(ret->nonce));
                /* The server forgot the account (a restarted test server, a deactivated account): register
                 * again once, then repeat the request under the new account URL. */
                if (r == 0 && !(flags & (ACME_POST_JWK | ACME_POST_NO_REREGISTER)) && !reregistered &&
                    acme_problem_is(&ret->problem, "accountDoesNotExist")) {
                        reregistered = true;
                        r = account_ensure(s, generation);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (!acme_http_retry_again(s->http, &t, r, ret, url))
                        break;
        }
        return r < 0 ? r : acme_status_to_errno(ret->status);
}

int acme_get(AcmeSession *s, const char *url, AcmeResponse *ret) {
        return acme_http_get(s->http, url, ret);
}

int acme_log_failure(AcmeSession *s, int r, const AcmeResponse *resp, const char *url, const char *what) {
        return acme_http_log_failure(s->http, r, resp, url, what);
}

/* ---- the account ---- */

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
                r = acme_log_failure(s, r < 0 ? r : -EPROTO, &resp, s->dir.new_account,
                                     "account lookup failed");
        acme_response_done(&resp);
        return r;
}

static int account_register(AcmeSession *s) {
        _cleanup_free_ char *payload = NULL, *eab = NULL;
        AcmeResponse resp = {};
        json_t *p, *contact = NULL;
        int r;

        if (s->dir.eab_required && !s->cfg->eab_kid)
                return log_error_errno(
                        -EPERM,
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
                                     s->cfg->eab_kid
                                             ? "account registration (with External Account Binding) failed"
                                             : "account registration failed");
                acme_response_done(&resp);
                return r;
        }
        log_info("[acme \"%s\"] %s account %s", s->cfg->name, resp.status == 201 ? "registered" : "found",
                 resp.location);
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

static int account_ensure(AcmeSession *s, unsigned seen_generation) {
        int r = 0;

        pthread_mutex_lock(&s->account_lock);
        pthread_mutex_lock(&s->lock);
        bool stale = s->account_generation == seen_generation;
        pthread_mutex_unlock(&s->lock);
        if (stale) {
                log_notice(
                        "[acme \"%s\"] the server does not know our account (any more): registering again",
                        s->cfg->name);
                r = account_register(s);
        }
        pthread_mutex_unlock(&s->account_lock);
        return r;
}

/* With the account key set: find the account (cached URL, lookup) unless the key is fresh, else register. */
static int account_attach(AcmeSession *s, bool fresh) {
        int r;

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

/* account-key = pkcs11:…;object=LABEL: the account key lives in a token (generated there, of
 * account-key-type, when the object does not exist); JWS signatures are made by the token through
 * gnutls_privkey_sign_data2, the JWK comes from its public key. */
static int account_open_token(AcmeSession *s) {
        const AcmeConfig *a = s->cfg;
        _cleanup_free_ char *label = NULL;
        gnutls_privkey_t key = NULL;
        bool fresh = false;
        JwsKey *k;
        int r;

        r = token_load_privkey(a->account_key, a->pkcs11_pin_file, &key);
        if (r == -ENOENT) {
                r = token_url_label(a->account_key, &label);
                if (r >= 0)
                        r = token_generate(a->account_key, a->pkcs11_pin_file, a->account_key_type, label);
                if (r < 0)
                        return log_error_errno(
                                r, "[acme \"%s\"] cannot generate the account key in the token %s: %m",
                                a->name, a->account_key);
                log_notice("[acme \"%s\"] generated the account key in the token: %s", a->name,
                           a->account_key);
                fresh = true;
                r = token_load_privkey(a->account_key, a->pkcs11_pin_file, &key);
        }
        if (r < 0)
                return log_error_errno(
                        r, "[acme \"%s\"] cannot use the account key %s: %s", a->name, a->account_key,
                        r == -EACCES ? "no PIN (pkcs11-pin-file or pin-source=) or a wrong one"
                                     : strerror(-r));
        r = jws_key_new_privkey(key, &k);
        if (r < 0)
                return log_error_errno(r,
                                       "[acme \"%s\"] the account key %s cannot sign ACME requests (%s): %m",
                                       a->name, a->account_key, "ec-p256 or rsa-2048 and larger");
        pthread_mutex_lock(&s->lock);
        jws_key_free(s->key);
        s->key = k;
        pthread_mutex_unlock(&s->lock);
        return account_attach(s, fresh);
}

/* The account key: account.key, or account.key.next when a rollover was interrupted after the server
 * switched (the server knows only one of them). */
static int account_open(AcmeSession *s) {
        _cleanup_free_ char *path = NULL, *next = NULL;
        _cleanup_x509_privkey_ gnutls_x509_privkey_t key = NULL, key_next = NULL;
        bool fresh = false;
        int r;

        if (token_is_url(s->cfg->account_key))
                return account_open_token(s);
        if ((r = path_in(s, "account.key", &path)) < 0 || (r = path_in(s, "account.key.next", &next)) < 0)
                return r;
        r = x509_read_privkey(path, KEY_FILE_MAX, NULL, &key);
        if (r == -ENOENT) {
                r = new_key_file(s, path, &key);
                fresh = true;
        } else if (r < 0)
                return log_error_errno(r, "[acme \"%s\"] cannot load the account key %s: %m", s->cfg->name,
                                       path);
        if (r < 0)
                return r;

        if (!fresh && x509_read_privkey(next, KEY_FILE_MAX, NULL, &key_next) >= 0) {
                r = set_key(s, key_next);
                if (r >= 0 && (r = account_lookup(s)) >= 0) {
                        _cleanup_datum_ gnutls_datum_t pem = {};

                        log_notice("[acme \"%s\"] completing an interrupted account key rollover",
                                   s->cfg->name);
                        r = keygen_export_pem(key_next, &pem);
                        if (r >= 0)
                                r = write_private(path, pem.data, pem.size, 0600);
                        if (r < 0)
                                return log_error_errno(r, "[acme \"%s\"] cannot write %s: %m", s->cfg->name,
                                                       path);
                        (void) unlink(next);
                        return account_update_contact(s);
                }
                if (r != -ENOENT)
                        return r;
                (void) unlink(next);
        }

        r = set_key(s, key);
        if (r < 0)
                return log_error_errno(r,
                                       "[acme \"%s\"] the account key %s cannot sign ACME requests (%s): %m",
                                       s->cfg->name, path, "ec-p256 or rsa-2048 and larger");
        return account_attach(s, fresh);
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
                return log_error_errno(-EINVAL,
                                       "[acme \"%s\"] eab-hmac-file %s does not hold a base64url key",
                                       s->cfg->name, s->cfg->eab_hmac_file);
        return 0;
}

static int session_open(const Inventory *inv, const AcmeConfig *a, bool account, AcmeSession **ret);

/* The CA's CAA identities, for `check` (caa-mismatch) to compare with published CAA records without
 * asking the server: one per line in STATE/acme/NAME/caa-identities, kept only when they changed. */
static void save_caa_identities(AcmeSession *s) {
        _cleanup_free_ char *text = NULL, *old = NULL;
        size_t size = 0, old_size = 0;
        FILE *f;

        if (!s->dir.caa_identities)
                return;
        f = open_memstream(&text, &size);
        if (!f)
                return;
        for (char **i = s->dir.caa_identities; *i; i++)
                fprintf(f, "%s\n", *i);
        if (fclose(f) != 0 || !text)
                return;
        if (acme_session_read_state(s, "caa-identities", 64 * 1024, &old, &old_size) >= 0 &&
            old_size == size && memcmp(old, text, size) == 0)
                return;
        (void) acme_session_write_state(s, "caa-identities", text);
}

int acme_session_new(const Inventory *inv, const AcmeConfig *a, AcmeSession **ret) {
        return session_open(inv, a, true, ret);
}

int acme_session_new_directory(const Inventory *inv, const AcmeConfig *a, AcmeSession **ret) {
        return session_open(inv, a, false, ret);
}

static int session_open(const Inventory *inv, const AcmeConfig *a, bool account, AcmeSession **ret) {
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
        r = acme_http_new(a, &s->http);
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
                        r = log_error_errno(r, "[acme \"%s\"] %s is not an ACME directory", a->name,
                                            a->directory);
        } else
                acme_log_failure(s, r, &resp, a->directory, "cannot fetch the directory");
        acme_response_done(&resp);
        if (r < 0)
                return r;

        save_caa_identities(s);
        r = account ? account_open(s) : 0;
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

AcmeSession *acme_session_free(AcmeSession *s) {
        if (!s)
                return NULL;
        if (s->http && acme_http_requests(s->http) > 0)
                log_info(
                        "[acme \"%s\"] %u requests, %u badNonce rejections retried, %u retries after errors",
                        s->cfg->name, acme_http_requests(s->http), (unsigned) s->n_bad_nonces,
                        acme_http_retries(s->http));
        challenge_free(s->challenger);
        for (size_t i = 0; i < s->n_nonces; i++)
                free(s->nonces[i]);
        acme_http_free(s->http);
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

int acme_revoke(AcmeSession *s, const gnutls_datum_t *cert_pem, int reason) {
        _cleanup_datum_ gnutls_datum_t der = {};
        _cleanup_free_ char *b64 = NULL, *payload = NULL;
        AcmeResponse resp = {};
        int r;

        if (!s->dir.revoke_cert)
                return log_error_errno(-EOPNOTSUPP, "[acme \"%s\"] the server offers no revokeCert",
                                       s->cfg->name);
        r = x509_leaf_der(cert_pem->data, cert_pem->size, &der);
        if (r < 0)
                return log_error_errno(r, "[acme \"%s\"] no certificate to revoke: %m", s->cfg->name);
        r = jws_base64url_encode(der.data, der.size, &b64);
        if (r < 0)
                return r;
        if (asprintf(&payload,
                     reason > 0 ? "{\"certificate\":\"%s\",\"reason\":%d}" : "{\"certificate\":\"%s\"}", b64,
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

int acme_revoke_installed(const Inventory *inv, const CertConfig *c, int reason, usec_t now) {
        _cleanup_(acme_session_freep) AcmeSession *s = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        size_t size;
        int r;

        r = read_full_file(c->certificate, 1024U * 1024U, &data, &size);
        if (r < 0)
                return log_error_errno(r, "%s: cannot read %s: %m", c->name, c->certificate);
        r = state_directory(inv->agent.state_directory);
        if (r >= 0)
                r = acme_session_new(inv, inventory_find_acme(inv, c->issuer_name), &s);
        if (r >= 0)
                r = acme_revoke(s, &(gnutls_datum_t){ .data = data, .size = (unsigned) size }, reason);
        if (r < 0)
                return r;
        /* keyCompromise: that key is never certified again, by any set or `ca sign`. */
        if (reason == ACME_REASON_KEY_COMPROMISE) {
                r = compromised_keys_add_certificate(inv->agent.state_directory, data, size, c->name, now);
                if (r < 0)
                        return log_error_errno(r, "%s: revoked, but its key could not be marked compromised",
                                               c->name);
        }
        return 0;
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
                return log_error_errno(-EOPNOTSUPP, "[acme \"%s\"] the server offers no keyChange",
                                       s->cfg->name);
        if (token_is_url(s->cfg->account_key))
                return log_error_errno(-EOPNOTSUPP,
                                       "[acme \"%s\"] the account key is in a token (%s): roll it over "
                                       "there, not here",
                                       s->cfg->name, s->cfg->account_key);
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
        inner_j = kid ? json_pack("{s:s, s:o}", "account", kid, "oldKey",
                                  json_loads(jws_key_jwk(s->key), 0, NULL))
                      : NULL;
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
                log_error_errno(
                        r,
                        "[acme \"%s\"] the server took the new account key, but %s cannot be written "
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

void acme_session_cancel(AcmeSession *s) {
        acme_http_cancel(s->http);
}

void acme_cancel_all(void) {
        acme_http_cancel_all();
}

void acme_session_set_deadline(AcmeSession *s, usec_t deadline) {
        acme_http_set_deadline(s->http, deadline);
}

const AcmeConfig *acme_session_config(const AcmeSession *s) {
        return s->cfg;
}

const AcmeDirectory *acme_session_directory(const AcmeSession *s) {
        return &s->dir;
}

const Inventory *acme_session_inventory(const AcmeSession *s) {
        return s->inv;
}

AcmeHttp *acme_session_http(const AcmeSession *s) {
        return s->http;
}

char *acme_session_account_dup(AcmeSession *s) {
        char *kid;

        pthread_mutex_lock(&s->lock);
        kid = s->kid ? strdup(s->kid) : NULL;
        pthread_mutex_unlock(&s->lock);
        return kid;
}

int acme_session_key_authorization(AcmeSession *s, const char *token, char **ret) {
        int r;

        pthread_mutex_lock(&s->lock);
        r = asprintf(ret, "%s.%s", token, jws_key_thumbprint(s->key)) < 0 ? -ENOMEM : 0;
        pthread_mutex_unlock(&s->lock);
        return r;
}

int acme_session_state_path(const AcmeSession *s, const char *rel, char **ret) {
        return path_in(s, rel, ret);
}

int acme_session_write_state(AcmeSession *s, const char *rel, const char *text) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = path_in(s, rel, &path);
        if (r < 0)
                return r;
        return write_private(path, text, strlen(text), 0600);
}

int acme_session_write_json(AcmeSession *s, const char *rel, json_t *j) {
        _cleanup_free_ char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

        json_decref(j);
        return text ? acme_session_write_state(s, rel, text) : -ENOMEM;
}

int acme_session_read_state(AcmeSession *s, const char *rel, size_t max, char **ret, size_t *ret_size) {
        _cleanup_free_ char *path = NULL;
        uint8_t *data = NULL;
        int r;

        r = path_in(s, rel, &path);
        if (r < 0)
                return r;
        r = read_full_file(path, max, &data, ret_size);
        if (r < 0)
                return r;
        *ret = (char *) data;
        return 0;
}

int acme_saved_state(const Inventory *inv, const AcmeConfig *a, char **ret_account,
                     char **ret_persist_issuer) {
        _cleanup_free_ char *path = NULL, *ipath = NULL;
        _cleanup_free_ uint8_t *data = NULL, *idata = NULL;
        size_t size, isize;
        json_t *j;

        *ret_account = *ret_persist_issuer = NULL;
        if (asprintf(&path, "%s/acme/%s/account.json", inv->agent.state_directory, a->name) < 0 ||
            asprintf(&ipath, "%s/acme/%s/persist-issuer", inv->agent.state_directory, a->name) < 0)
                return -ENOMEM;
        if (read_full_file(path, KEY_FILE_MAX, &data, &size) >= 0) {
                j = json_loadb((char *) data, size, 0, NULL);
                if (json_is_string(json_object_get(j, "url")) &&
                    json_is_string(json_object_get(j, "directory")) &&
                    strcmp(json_string_value(json_object_get(j, "directory")), a->directory) == 0 &&
                    *json_string_value(json_object_get(j, "url")))
                        *ret_account = strdup(json_string_value(json_object_get(j, "url")));
                json_decref(j);
        }
        if (a->persist_issuer)
                *ret_persist_issuer = strdup(a->persist_issuer);
        else if (read_full_file(ipath, 256, &idata, &isize) >= 0 && isize > 0 &&
                 config_persist_issuer_is_valid((char *) idata))
                *ret_persist_issuer = strdup((char *) idata);
        return 0;
}
