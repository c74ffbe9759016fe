/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Loading an internal CA's files: its certificate, and its key from a file or a PKCS#11 token (ca.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <gnutls/crypto.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509-ext.h>
#include <gnutls/x509.h>
#include "ca-internal.h"
#include "ca.h"
#include "fd-util.h"
#include "gnutls-util.h"
#include "install.h"
#include "keygen.h"
#include "log.h"
#include "state.h"
#include "token.h"
#include "x509.h"

/* The CA certificate (first in its file) and the file's PEM. */
static int load_ca_crt(const CaConfig *ca, gnutls_x509_crt_t *ret_crt, gnutls_datum_t *ret_pem) {
        _cleanup_free_ uint8_t *cdata = NULL;
        size_t csize;
        int r;

        r = read_full_file(ca->certificate, CA_FILE_MAX, &cdata, &csize);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot read certificate %s: %m%s", ca->name,
                                       ca->certificate, r == -ENOENT ? " (run: certherd ca init NAME)" : "");
        r = x509_load_leaf(cdata, csize, ret_crt);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: %s holds no certificate", ca->name, ca->certificate);
        ret_pem->data = gnutls_malloc(csize + 1);
        if (ret_pem->data) {
                memcpy(ret_pem->data, cdata, csize + 1);
                ret_pem->size = (unsigned) csize;
        }
        return ret_pem->data ? 0 : -ENOMEM;
}

static int load_key_file(const CaConfig *ca, gnutls_x509_privkey_t *ret) {
        _cleanup_free_ uint8_t *kdata = NULL;
        size_t ksize;
        int r;

        r = read_full_file(ca->key, CA_FILE_MAX, &kdata, &ksize);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot read key %s: %m", ca->name, ca->key);
        r = x509_load_privkey(kdata, ksize, NULL, ret);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: %s is not a usable private key", ca->name, ca->key);
        return 0;
}

int ca_load_files(const CaConfig *ca, gnutls_x509_crt_t *ret_crt, gnutls_x509_privkey_t *ret_key,
                  gnutls_datum_t *ret_pem) {
        _cleanup_x509_crt_ gnutls_x509_crt_t crt = NULL;
        _cleanup_datum_ gnutls_datum_t pem = {};
        int r;

        r = load_ca_crt(ca, &crt, &pem);
        if (r >= 0)
                r = load_key_file(ca, ret_key);
        if (r < 0)
                return r;
        *ret_crt = TAKE_PTR(crt);
        *ret_pem = pem;
        pem = (gnutls_datum_t){};
        return 0;
}

int ca_load_token_key(const CaConfig *ca, gnutls_privkey_t *ret) {
        int r = token_load_privkey(ca->key, ca->pkcs11_pin_file, ret);

        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot use the token key %s: %s", ca->name, ca->key,
                                       r == -ENOENT ? "no such object"
                                       : r == -EACCES
                                               ? "no PIN (pkcs11-pin-file or pin-source=) or a wrong one"
                                               : strerror(-r));
        return 0;
}

int ca_load_key(const CaConfig *ca, gnutls_privkey_t *ret) {
        _cleanup_x509_privkey_ gnutls_x509_privkey_t x = NULL;
        _cleanup_privkey_ gnutls_privkey_t key = NULL;
        int r;

        if (token_is_url(ca->key))
                return ca_load_token_key(ca, ret);
        r = load_key_file(ca, &x);
        if (r < 0)
                return r;
        if (gnutls_privkey_init(&key) < 0)
                return log_error_errno(-ENOMEM, "Out of memory");
        r = gnutls_privkey_import_x509(key, x, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE);
        if (r < 0)
                return log_error_errno(errno_from_gnutls(r), "[ca \"%s\"]: %s is not a usable private key",
                                       ca->name, ca->key);
        x = NULL; /* owned by key now */
        *ret = TAKE_PTR(key);
        return 0;
}

int ca_load_signer(const CaConfig *ca, gnutls_x509_crt_t *ret_crt, gnutls_privkey_t *ret_key,
                   gnutls_datum_t *ret_pem) {
        _cleanup_x509_crt_ gnutls_x509_crt_t crt = NULL;
        _cleanup_privkey_ gnutls_privkey_t key = NULL;
        _cleanup_datum_ gnutls_datum_t pem = {};
        int r;

        r = load_ca_crt(ca, &crt, &pem);
        if (r >= 0)
                r = ca_load_key(ca, &key);
        if (r < 0)
                return r;
        *ret_crt = TAKE_PTR(crt);
        *ret_key = TAKE_PTR(key);
        *ret_pem = pem;
        pem = (gnutls_datum_t){};
        return 0;
}
