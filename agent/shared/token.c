/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/pkcs11.h>

#include "fd-util.h"
#include "gnutls-util.h"
#include "keygen.h"
#include "log.h"
#include "token.h"

/* GnuTLS's PKCS#11 state is per process: which modules are loaded, and the one PIN function that
 * object-less operations (generate, relabel) ask. Both are set under this lock. */
static pthread_mutex_t token_lock = PTHREAD_MUTEX_INITIALIZER;
static int token_init_result = 1; /* 1: not tried yet; then 0 or -EIO, kept: no fallback to other modules */

bool token_is_url(const char *s) {
        return s && strncasecmp(s, "pkcs11:", 7) == 0;
}

static int errno_from_p11(int r) {
        switch (r) {
        case GNUTLS_E_PKCS11_PIN_ERROR:
        case GNUTLS_E_PKCS11_PIN_LOCKED:
        case GNUTLS_E_PKCS11_PIN_EXPIRED:
        case GNUTLS_E_PKCS11_USER_ERROR:
                return -EACCES;
        case GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE:
        case GNUTLS_E_PKCS11_REQUESTED_OBJECT_NOT_AVAILBLE:
        case GNUTLS_E_PKCS11_SLOT_ERROR:
        case GNUTLS_E_PKCS11_TOKEN_ERROR:
                return -ENOENT;
        default:
                return errno_from_gnutls(r);
        }
}

int token_init(char *const *modules) {
        int r = 0;

        pthread_mutex_lock(&token_lock);
        if (token_init_result <= 0) {
                r = token_init_result;
                goto out;
        }
        if (!modules || !modules[0]) {
                r = gnutls_pkcs11_init(GNUTLS_PKCS11_FLAG_AUTO, NULL);
                if (r < 0)
                        log_error("cannot load the PKCS#11 modules p11-kit registers: %s",
                                  gnutls_strerror(r));
        } else {
                r = gnutls_pkcs11_init(GNUTLS_PKCS11_FLAG_MANUAL, NULL);
                for (char *const *m = modules; r >= 0 && *m; m++) {
                        r = gnutls_pkcs11_add_provider(*m, NULL);
                        if (r < 0)
                                log_error("cannot load the PKCS#11 module %s: %s", *m, gnutls_strerror(r));
                }
        }
        token_init_result = r < 0 ? -EIO : 0;
        r = token_init_result;
out:
        pthread_mutex_unlock(&token_lock);
        return r;
}

int token_init_inventory(const Inventory *inv) {
        bool uses = false;

        for (size_t i = 0; i < inv->n_certs && !uses; i++)
                uses = token_is_url(inv->certs[i]->key);
        for (size_t i = 0; i < inv->n_ca && !uses; i++)
                uses = token_is_url(inv->ca[i]->key);
        for (size_t i = 0; i < inv->n_acme && !uses; i++)
                uses = token_is_url(inv->acme[i]->account_key);
        return uses ? token_init(inv->agent.pkcs11_modules) : 0;
}

/* Asked by GnuTLS when an operation needs the user PIN and the URI carries no pin-source/pin-value:
 * the key's pkcs11-pin-file. Once only: a wrong PIN tried again counts towards locking the token. */
static int pin_from_file(void *userdata, int attempt, const char *token_url, const char *token_label,
                         unsigned flags, char *pin, size_t pin_max) {
        _cleanup_free_ char *s = NULL;
        const char *path = userdata;
        int r;

        if (!path || attempt > 0 || (flags & GNUTLS_PIN_SO))
                return GNUTLS_E_PKCS11_PIN_ERROR;
        r = read_secret_file(path, &s);
        if (r < 0) {
                log_error_errno(r, "cannot read the PIN file %s for token %s: %m", path,
                                token_label ?: token_url);
                return GNUTLS_E_PKCS11_PIN_ERROR;
        }
        if (strlen(s) >= pin_max)
                return GNUTLS_E_PKCS11_PIN_ERROR;
        strcpy(pin, s);
        explicit_bzero(s, strlen(s));
        return 0;
}

/* Split "pkcs11:PATH?QUERY" and rebuild it without the attributes in `drop` plus `add` (";"-joined). */
static int url_rebuild(const char *url, const char *const *drop, const char *add, char **ret) {
        _cleanup_free_ char *path = NULL, *out = NULL;
        const char *query, *body = url + 7;
        size_t len = 0;
        char *save = NULL;

        if (!token_is_url(url))
                return -EINVAL;
        query = strchr(body, '?');
        path = strndup(body, query ? (size_t) (query - body) : strlen(body));
        out = malloc(strlen(url) + (add ? strlen(add) : 0) + 16);
        if (!path || !out)
                return -ENOMEM;
        len = (size_t) sprintf(out, "pkcs11:");
        for (char *a = strtok_r(path, ";", &save); a; a = strtok_r(NULL, ";", &save)) {
                bool dropped = false;

                for (const char *const *d = drop; d && *d && !dropped; d++)
                        dropped = strncmp(a, *d, strlen(*d)) == 0 && a[strlen(*d)] == '=';
                if (!dropped)
                        len += (size_t) sprintf(out + len, "%s%s", len > 7 ? ";" : "", a);
        }
        if (add)
                len += (size_t) sprintf(out + len, "%s%s", len > 7 ? ";" : "", add);
        if (query)
                sprintf(out + len, "%s", query);
        *ret = TAKE_PTR(out);
        return 0;
}

/* RFC 3986 percent-encoding of a label for a pk11-path value. */
static int pct_encode(const char *s, char **ret) {
        char *out = malloc(strlen(s) * 3 + 1), *o = out;

        if (!out)
                return -ENOMEM;
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                    strchr("-._~", *p))
                        *o++ = (char) *p;
                else
                        o += sprintf(o, "%%%02X", *p);
        *o = 0;
        *ret = out;
        return 0;
}

int token_url_with_label(const char *url, const char *label, char **ret) {
        _cleanup_free_ char *enc = NULL, *add = NULL;
        int r;

        r = pct_encode(label, &enc);
        if (r < 0)
                return r;
        if (asprintf(&add, "object=%s", enc) < 0)
                return -ENOMEM;
        return url_rebuild(url, (const char *const[]){ "object", "id", "type", NULL }, add, ret);
}

int token_url_label(const char *url, char **ret) {
        const char *body, *end, *p;
        char *out, *o;

        *ret = NULL;
        if (!token_is_url(url))
                return -EINVAL;
        body = url + 7;
        end = body + strcspn(body, "?");
        for (p = body; p < end; p += strcspn(p, ";") + (p[strcspn(p, ";")] == ';')) {
                if (strncmp(p, "object=", 7) != 0)
                        continue;
                p += 7;
                out = o = malloc(strcspn(p, ";?") + 1);
                if (!out)
                        return -ENOMEM;
                for (; *p && *p != ';' && *p != '?'; p++) {
                        unsigned v;

                        if (*p == '%' && sscanf(p + 1, "%2x", &v) == 1) {
                                *o++ = (char) v;
                                p += 2;
                        } else
                                *o++ = *p;
                }
                *o = 0;
                *ret = out;
                return 0;
        }
        return 0;
}

/* pin-source= (RFC 7512 §2.4) read by us like pkcs11-pin-file — a trailing newline dropped, as a systemd
 * credential or `echo` leaves it — and taken out of the URI GnuTLS sees. *ret_pin_file: the pin file to
 * use (the URI's wins over pin_file); *ret_url: the URI without it. */
static int pin_source(const char *url, const char *pin_file, char **ret_url, char **ret_pin_file) {
        _cleanup_free_ char *out = NULL, *path = NULL;
        const char *q = strchr(url, '?');
        size_t len;

        out = malloc(strlen(url) + 1);
        if (!out)
                return -ENOMEM;
        len = q ? (size_t) (q - url) : strlen(url);
        memcpy(out, url, len);
        out[len] = 0;
        for (const char *a = q ? q + 1 : NULL; a && *a; a += strcspn(a, "&") + (a[strcspn(a, "&")] == '&')) {
                size_t n = strcspn(a, "&");

                if (strncmp(a, "pin-source=", 11) == 0) {
                        char *o;

                        free(path);
                        path = o = malloc(n + 1);
                        if (!path)
                                return -ENOMEM;
                        for (const char *p = a + 11; p < a + n; p++) {
                                unsigned v;

                                if (*p == '%' && p + 2 < a + n + 1 && sscanf(p + 1, "%2x", &v) == 1) {
                                        *o++ = (char) v;
                                        p += 2;
                                } else
                                        *o++ = *p;
                        }
                        *o = 0;
                        if (strncmp(path, "file:", 5) == 0)
                                memmove(path, path + 5, strlen(path + 5) + 1);
                        continue;
                }
                len += (size_t) sprintf(out + len, "%c%.*s", strchr(out, '?') ? '&' : '?', (int) n, a);
        }
        if (!path && pin_file && !(path = strdup(pin_file)))
                return -ENOMEM;
        *ret_url = TAKE_PTR(out);
        *ret_pin_file = TAKE_PTR(path);
        return 0;
}

/* Every operation on a token starts here: the modules loaded, the PIN source taken out of the URL. */
static int token_open(const char *url, const char *pin_file, char **ret_url, char **ret_pin_file) {
        int r;

        r = token_init(NULL);
        if (r < 0)
                return r;
        return pin_source(url, pin_file, ret_url, ret_pin_file);
}

/* GnuTLS's global PIN function answers from pin_file until pin_function_end(): token_lock is held in
 * between, so no other thread's login reads another pin file. */
static void pin_function_begin(const char *pin_file) {
        pthread_mutex_lock(&token_lock);
        gnutls_pkcs11_set_pin_function(pin_from_file, (void *) pin_file);
}

static void pin_function_end(void) {
        gnutls_pkcs11_set_pin_function(NULL, NULL);
        pthread_mutex_unlock(&token_lock);
}

/* The URL of the private key object: type=private added unless the URL says a type already. */
static int private_url(const char *url, char **ret) {
        if (strstr(url, ";type=") || strstr(url, ":type="))
                return (*ret = strdup(url)) ? 0 : -ENOMEM;
        return url_rebuild(url, NULL, "type=private", ret);
}

/* A key's PIN function may be asked at any later signature (GnuTLS logs in again when the session was
 * lost), so the path it reads must outlive the key: each distinct path is kept once for the process (a
 * handful: one per pin file of the inventory). */
static const char *pin_file_keep(const char *path) {
        static char **kept = NULL;
        static size_t n_kept = 0;
        const char *found = NULL;
        char **l;

        if (!path)
                return NULL;
        pthread_mutex_lock(&token_lock);
        for (size_t i = 0; i < n_kept && !found; i++)
                if (strcmp(kept[i], path) == 0)
                        found = kept[i];
        if (!found && (l = realloc(kept, (n_kept + 1) * sizeof(char *)))) {
                kept = l;
                if ((kept[n_kept] = strdup(path)))
                        found = kept[n_kept++];
        }
        pthread_mutex_unlock(&token_lock);
        return found;
}

int token_load_privkey(const char *url, const char *pin_file, gnutls_privkey_t *ret) {
        _cleanup_privkey_ gnutls_privkey_t key = NULL;
        _cleanup_free_ char *purl = NULL, *clean = NULL, *pf = NULL;
        int r;

        r = token_open(url, pin_file, &clean, &pf);
        if (r < 0)
                return r;
        r = private_url(clean, &purl);
        if (r < 0)
                return r;
        if (gnutls_privkey_init(&key) < 0)
                return -ENOMEM;
        /* The PIN function belongs to the key: GnuTLS asks it again whenever the session needs a login. */
        gnutls_privkey_set_pin_function(key, pin_from_file, (void *) pin_file_keep(pf));
        r = gnutls_privkey_import_pkcs11_url(key, purl);
        if (r < 0)
                return errno_from_p11(r);
        *ret = TAKE_PTR(key);
        return 0;
}

int token_key_pin(const char *url, const char *pin_file, uint8_t ret[PIN_SIZE], gnutls_datum_t *ret_spki) {
        _cleanup_pubkey_ gnutls_pubkey_t pub = NULL;
        _cleanup_privkey_ gnutls_privkey_t key = NULL;
        _cleanup_datum_ gnutls_datum_t spki = {};
        _cleanup_free_ char *pub_url = NULL, *clean = NULL, *pf = NULL;
        int r;

        r = token_open(url, pin_file, &clean, &pf);
        if (r < 0)
                return r;
        if (gnutls_pubkey_init(&pub) < 0)
                return -ENOMEM;
        /* The public object needs no login; a token that keeps none answers through the private key. */
        r = url_rebuild(clean, (const char *const[]){ "type", NULL }, "type=public", &pub_url);
        if (r < 0)
                return r;
        r = gnutls_pubkey_import_url(pub, pub_url, 0);
        if (r < 0) {
                gnutls_pubkey_deinit(TAKE_PTR(pub));
                r = token_load_privkey(clean, pf, &key);
                if (r < 0)
                        return r;
                r = pubkey_from_privkey(key, &pub);
                if (r < 0)
                        return errno_from_p11(r);
        }
        r = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki);
        if (r < 0)
                return errno_from_gnutls(r);
        r = pin_compute(spki.data, spki.size, ret);
        if (r < 0)
                return r;
        if (ret_spki)
                *ret_spki = spki, spki = (gnutls_datum_t){};
        return 0;
}

int token_generate(const char *url, const char *pin_file, KeyType t, const char *label) {
        _cleanup_free_ char *turl = NULL, *clean = NULL, *pf = NULL;
        gnutls_pk_algorithm_t pk;
        unsigned bits;
        int r;

        r = keygen_type_params(t, &pk, &bits);
        if (r < 0)
                return r;
        r = token_open(url, pin_file, &clean, &pf);
        if (r < 0)
                return r;
        /* The token itself: no object attributes. */
        r = url_rebuild(clean, (const char *const[]){ "object", "id", "type", NULL }, NULL, &turl);
        if (r < 0)
                return r;
        pin_function_begin(pf);
        /* Sensitive and private: the token never hands the private key out, and lists it only after login. */
        r = gnutls_pkcs11_privkey_generate3(turl, pk, bits, label, NULL, GNUTLS_X509_FMT_DER, NULL, 0,
                                            GNUTLS_PKCS11_OBJ_FLAG_LOGIN |
                                                    GNUTLS_PKCS11_OBJ_FLAG_MARK_SENSITIVE |
                                                    GNUTLS_PKCS11_OBJ_FLAG_MARK_PRIVATE);
        pin_function_end();
        return r < 0 ? errno_from_p11(r) : 0;
}

int token_relabel(const char *url, const char *pin_file, const char *from, const char *to) {
        _cleanup_free_ char *furl = NULL, *clean = NULL, *pf = NULL;
        gnutls_pkcs11_obj_t *objs = NULL;
        unsigned n = 0;
        int r, changed = 0;

        r = token_open(url, pin_file, &clean, &pf);
        if (r < 0)
                return r;
        r = token_url_with_label(clean, from, &furl);
        if (r < 0)
                return r;
        pin_function_begin(pf);
        if (!to) {
                r = gnutls_pkcs11_delete_url(furl, GNUTLS_PKCS11_OBJ_FLAG_LOGIN);
                changed = r;
        } else {
                r = gnutls_pkcs11_obj_list_import_url4(&objs, &n, furl, GNUTLS_PKCS11_OBJ_FLAG_LOGIN);
                for (unsigned i = 0; r >= 0 && i < n; i++) {
                        r = gnutls_pkcs11_obj_set_info(objs[i], GNUTLS_PKCS11_OBJ_LABEL, to, strlen(to),
                                                       GNUTLS_PKCS11_OBJ_FLAG_LOGIN);
                        changed += r >= 0;
                }
                for (unsigned i = 0; i < n; i++)
                        gnutls_pkcs11_obj_deinit(objs[i]);
                gnutls_free(objs);
        }
        pin_function_end();
        if (r == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE || r == GNUTLS_E_PKCS11_REQUESTED_OBJECT_NOT_AVAILBLE)
                return 0;
        return r < 0 ? errno_from_p11(r) : changed;
}
