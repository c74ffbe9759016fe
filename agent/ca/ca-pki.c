/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "ca-index.h"
#include "ca-internal.h"
#include "ca-pki.h"
#include "ca-rotate.h"
#include "ca.h"
#include "fd-util.h"
#include "gnutls-util.h"
#include "install.h"
#include "keygen.h"
#include "log.h"
#include "state.h"
#include "token.h"
#include "x509-file.h"
#include "x509.h"

#define CA_FILE_MAX (1024U * 1024U)

/* A growing PEM text, gnutls-allocated so that it hands over as a gnutls_datum_t. */
int ca_datum_append(gnutls_datum_t *d, const void *data, size_t size) {
        uint8_t *p = gnutls_realloc(d->data, d->size + size + 1);

        if (!p)
                return -ENOMEM;
        memcpy(p + d->size, data, size);
        d->size += (unsigned) size;
        p[d->size] = 0;
        d->data = p;
        return 0;
}

static int datum_append_crt(gnutls_datum_t *d, gnutls_x509_crt_t crt) {
        _cleanup_datum_ gnutls_datum_t pem = {};
        int r;

        r = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &pem);
        if (r < 0)
                return errno_from_gnutls(r);
        return ca_datum_append(d, pem.data, pem.size);
}

static int read_crts(const char *path, X509Crts *ret) {
        return x509_read_crts(path, CA_FILE_MAX, &ret->v, &ret->n);
}

static bool self_signed(gnutls_x509_crt_t crt) {
        return gnutls_x509_crt_check_issuer(crt, crt) != 0;
}

static bool self_signed_file(const char *path) {
        _cleanup_(x509_crts_done) X509Crts l = {};

        return read_crts(path, &l) >= 0 && self_signed(l.v[0]);
}

static char *previous_path(const char *path) {
        char *p = NULL;

        return asprintf(&p, "%s%s", path, CA_PREVIOUS_SUFFIX) < 0 ? NULL : p;
}

/* ca_chain(); `quiet`: failures are not logged (check asks for every set, a CA not made yet is the CA
 * row's problem). */
static int chain_assemble(const Inventory *inv, const CaConfig *ca, bool quiet, gnutls_datum_t *ret_chain,
                          gnutls_datum_t *ret_anchor) {
        _cleanup_datum_ gnutls_datum_t chain = {}, anchor = {};
        gnutls_x509_crt_t top = NULL;
        bool rooted = false;
        int r = 0;

        for (const CaConfig *c = ca; c && !rooted && r >= 0;
             c = c->parent ? inventory_find_ca(inv, c->parent) : NULL) {
                _cleanup_(x509_crts_done) X509Crts l = {};

                r = read_crts(c->certificate, &l);
                if (r < 0 && quiet)
                        return r;
                if (r < 0)
                        return log_error_errno(r, "[ca \"%s\"]: cannot read the certificate %s: %m", c->name,
                                               c->certificate);
                for (unsigned i = 0; i < l.n && r >= 0; i++) {
                        if (self_signed(l.v[i])) {
                                _cleanup_free_ char *prev = previous_path(c->certificate);
                                _cleanup_(x509_crts_done) X509Crts old = {};

                                r = datum_append_crt(&anchor, l.v[i]);
                                /* A rotated root's previous generation still anchors the intermediates
                                 * it signed until they are rotated too. */
                                if (r >= 0 && i == 0 && prev && read_crts(prev, &old) >= 0 &&
                                    self_signed(old.v[0]))
                                        r = datum_append_crt(&anchor, old.v[0]);
                                rooted = true;
                                break;
                        }
                        r = datum_append_crt(&chain, l.v[i]);
                        /* The highest CA at hand, the anchor when no root is. */
                        if (top)
                                gnutls_x509_crt_deinit(top);
                        top = NULL;
                        if (r >= 0 && gnutls_x509_crt_init(&top) >= 0) {
                                _cleanup_datum_ gnutls_datum_t der = {};

                                if (gnutls_x509_crt_export2(l.v[i], GNUTLS_X509_FMT_DER, &der) < 0 ||
                                    gnutls_x509_crt_import(top, &der, GNUTLS_X509_FMT_DER) < 0) {
                                        gnutls_x509_crt_deinit(top);
                                        top = NULL;
                                }
                        }
                }
        }
        if (r >= 0 && !rooted && top)
                r = datum_append_crt(&anchor, top);
        if (top)
                gnutls_x509_crt_deinit(top);
        if (r >= 0 && !anchor.data)
                r = -EBADMSG;
        if (r < 0 && quiet)
                return r;
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot assemble its chain: %m", ca->name);
        if (!chain.data && (r = ca_datum_append(&chain, "", 0)) < 0)
                return r;
        *ret_chain = chain;
        *ret_anchor = anchor;
        chain = anchor = (gnutls_datum_t){};
        return 0;
}

int ca_chain(const Inventory *inv, const CaConfig *ca, gnutls_datum_t *ret_chain,
             gnutls_datum_t *ret_anchor) {
        return chain_assemble(inv, ca, false, ret_chain, ret_anchor);
}

int ca_trust_bundle(const Inventory *inv, const CaConfig *ca, gnutls_datum_t *ret) {
        _cleanup_datum_ gnutls_datum_t chain = {}, anchor = {};
        _cleanup_free_ char *prev = previous_path(ca->certificate);
        _cleanup_(x509_crts_done) X509Crts old = {};
        int r;

        if (!prev)
                return -ENOMEM;
        r = chain_assemble(inv, ca, true, &chain, &anchor);
        if (r < 0)
                return r;
        /* An intermediate's previous generation, while its leaves are still in use (a root's is in the
         * anchor already). */
        if (!self_signed_file(prev) && read_crts(prev, &old) >= 0 &&
            (r = datum_append_crt(&anchor, old.v[0])) < 0)
                return r;
        *ret = anchor;
        anchor = (gnutls_datum_t){};
        return 0;
}

int ca_names_check(const Inventory *inv, const CaConfig *ca, char *const *names, const char *who) {
        for (const CaConfig *c = ca; c; c = c->parent ? inventory_find_ca(inv, c->parent) : NULL)
                for (size_t i = 0; names && names[i]; i++)
                        if (!config_name_permitted(c->permitted_names, names[i]))
                                return log_error_errno(
                                        -EPERM,
                                        "%s: refusing to issue '%s': outside the permitted-names of "
                                        "[ca \"%s\"] (%s)",
                                        who, names[i], c->name, c->permitted_names[0]);
        return 0;
}

int ca_previous_until(const CaConfig *ca, usec_t *ret_until) {
        _cleanup_free_ char *prev = previous_path(ca->certificate);
        _cleanup_(x509_crts_done) X509Crts old = {}, cur = {};
        time_t old_end, cur_start;
        usec_t until;
        int r;

        if (!prev)
                return -ENOMEM;
        r = read_crts(prev, &old);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        old_end = gnutls_x509_crt_get_expiration_time(old.v[0]);
        until = old_end < 0 ? 0 : (usec_t) old_end * USEC_PER_SEC;
        /* Leaves of the old generation were issued before the new one's not_before (an hour backdated)
         * plus that hour, and live at most `validity`. */
        if (read_crts(ca->certificate, &cur) >= 0) {
                cur_start = gnutls_x509_crt_get_activation_time(cur.v[0]);
                if (cur_start >= 0) {
                        usec_t last = (usec_t) cur_start * USEC_PER_SEC + USEC_PER_HOUR + ca->validity;

                        if (last < until)
                                until = last;
                }
        }
        *ret_until = until;
        return 1;
}

int ca_load_previous(const CaConfig *ca, gnutls_x509_crt_t *ret_crt, gnutls_x509_privkey_t *ret_key) {
        _cleanup_free_ char *cp = previous_path(ca->certificate), *kp = previous_path(ca->key);
        _cleanup_(x509_crts_done) X509Crts l = {};
        int r;

        if (!cp || !kp)
                return -ENOMEM;
        r = read_crts(cp, &l);
        if (r < 0)
                return r;
        r = x509_read_privkey(kp, CA_FILE_MAX, NULL, ret_key);
        if (r < 0)
                return r;
        *ret_crt = l.v[0];
        l.v[0] = NULL;
        return 0;
}

int ca_export_bundle(const CaConfig *ca, usec_t now) {
        _cleanup_free_ uint8_t *cur = NULL, *old = NULL;
        _cleanup_free_ char *prev = previous_path(ca->certificate);
        _cleanup_datum_ gnutls_datum_t bundle = {};
        size_t cur_size, old_size = 0;
        usec_t until = 0;
        int r;

        if (!ca->export)
                return 0;
        if (!prev)
                return -ENOMEM;
        r = read_full_file(ca->certificate, CA_FILE_MAX, &cur, &cur_size);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot read %s: %m", ca->name, ca->certificate);
        r = ca_datum_append(&bundle, cur, cur_size);
        /* During the overlap clients must trust both generations: leaves of either are in use. */
        if (r >= 0 && ca_previous_until(ca, &until) > 0 && now < until &&
            read_full_file(prev, CA_FILE_MAX, &old, &old_size) >= 0) {
                if (bundle.size > 0 && bundle.data[bundle.size - 1] != '\n')
                        r = ca_datum_append(&bundle, "\n", 1);
                if (r >= 0)
                        r = ca_datum_append(&bundle, old, old_size);
        }
        if (r < 0)
                return log_error_errno(-ENOMEM, "Out of memory");
        for (char **e = ca->export; *e; e++) {
                r = install_data_mkdir(*e, bundle.data, bundle.size, 0644, 0755);
                if (r < 0)
                        return log_error_errno(r, "[ca \"%s\"]: cannot export the CA certificate to %s: %m",
                                               ca->name, *e);
                log_info("[ca \"%s\"]: exported the CA certificate%s to %s", ca->name,
                         old ? "s (current and previous)" : "", *e);
        }
        return 0;
}

int ca_write_out(const char *out, const gnutls_datum_t *d, mode_t mode) {
        if (!out || strcmp(out, "-") == 0) {
                if (fwrite(d->data, 1, d->size, stdout) != d->size || fflush(stdout) != 0)
                        return -EIO;
                return 0;
        }
        return install_data_mkdir(out, d->data, d->size, mode, 0755);
}

/* An x509 key as a signing key for ca.c (which signs through abstract keys, for keys in tokens); the
 * abstract key borrows x, which must outlive it. */
static int borrow_privkey(gnutls_x509_privkey_t x, gnutls_privkey_t *ret) {
        _cleanup_privkey_ gnutls_privkey_t key = NULL;
        int r;

        if (gnutls_privkey_init(&key) < 0)
                return -ENOMEM;
        r = gnutls_privkey_import_x509(key, x, 0);
        if (r < 0)
                return errno_from_gnutls(r);
        *ret = TAKE_PTR(key);
        return 0;
}

int ca_init_csr(const Inventory *inv, const CaConfig *ca, const char *out, usec_t now) {
        _cleanup_x509_privkey_ gnutls_x509_privkey_t key = NULL;
        _cleanup_privkey_ gnutls_privkey_t priv = NULL; /* borrows key */
        _cleanup_datum_ gnutls_datum_t key_pem = {}, csr = {};
        _cleanup_free_ uint8_t *kdata = NULL;
        _cleanup_free_ char *cn = NULL, *def = NULL;
        struct stat st;
        CaParams params;
        size_t ksize;
        bool made = false;
        int r;

        if (stat(ca->certificate, &st) >= 0)
                return log_error_errno(-EEXIST, "[ca \"%s\"]: %s exists already; refusing to replace a CA",
                                       ca->name, ca->certificate);
        if (token_is_url(ca->key))
                return log_error_errno(
                        -EOPNOTSUPP,
                        "[ca \"%s\"]: ca init --csr makes a key file; it does not work with "
                        "key = pkcs11:… (make the request with the token's own tools, then run: "
                        "certherd ca import %s CERTIFICATE)",
                        ca->name, ca->name);
        /* A key from an earlier --csr is kept: the request may have been lost, not the key. */
        r = read_full_file(ca->key, CA_FILE_MAX, &kdata, &ksize);
        if (r >= 0) {
                r = x509_load_privkey(kdata, ksize, NULL, &key);
                if (r < 0)
                        return log_error_errno(r, "[ca \"%s\"]: %s is not a usable private key", ca->name,
                                               ca->key);
        } else if (r == -ENOENT) {
                r = keygen_generate(ca->key_type, &key);
                if (r >= 0)
                        r = keygen_export_pem(key, &key_pem);
                if (r < 0)
                        return log_error_errno(r, "[ca \"%s\"]: cannot make a %s key: %m", ca->name,
                                               key_type_to_string(ca->key_type));
                made = true;
        } else
                return log_error_errno(r, "[ca \"%s\"]: cannot read %s: %m", ca->name, ca->key);

        r = ca_common_name(ca, &cn);
        if (r < 0)
                return r;
        params = ca_params(inv, ca, cn, now);
        r = borrow_privkey(key, &priv);
        if (r >= 0)
                r = ca_make_csr(priv, &params, &csr);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot make the request: %m", ca->name);

        if (made) {
                r = state_directory(inv->agent.state_directory);
                if (r < 0)
                        return r;
                r = install_data_mkdir(ca->key, key_pem.data, key_pem.size, 0600, 0700);
                if (r < 0)
                        return log_error_errno(r, "[ca \"%s\"]: cannot install the key %s: %m", ca->name,
                                               ca->key);
        }
        if (!out && asprintf(&def, "%s.csr", ca->certificate) < 0)
                return log_error_errno(-ENOMEM, "Out of memory");
        r = ca_write_out(out ?: def, &csr, 0644);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot write the request to %s: %m", ca->name,
                                       out ?: def);
        if (!out || strcmp(out, "-") != 0)
                printf("[ca \"%s\"]: %s key %s; request written to %s\n"
                       "sign it with the parent CA, then run: certherd ca import %s CERTIFICATE\n",
                       ca->name, made ? "created the" : "kept the existing", ca->key, out ?: def, ca->name);
        else
                log_notice("[ca \"%s\"]: %s key %s; request written to stdout", ca->name,
                           made ? "created the" : "kept the existing", ca->key);
        return 0;
}

/* Whether `crt` is signed by `issuer` (signature, not just names). */
static bool signed_by(gnutls_x509_crt_t crt, gnutls_x509_crt_t issuer) {
        unsigned status = 0;

        return gnutls_x509_crt_verify(crt, &issuer, 1, GNUTLS_VERIFY_DISABLE_TIME_CHECKS, &status) >= 0 &&
               status == 0;
}

int ca_import(const Inventory *inv, const CaConfig *ca, const char *path, usec_t now) {
        _cleanup_privkey_ gnutls_privkey_t key = NULL;
        _cleanup_free_ uint8_t *data = NULL, *installed = NULL;
        _cleanup_(x509_crts_done) X509Crts l = {};
        size_t size, isize;
        time_t nb, na;
        int r;

        r = read_full_file(path, CA_FILE_MAX, &data, &size);
        if (r < 0)
                return log_error_errno(r, "cannot read %s: %m", path);
        r = x509_load_crts(data, size, &l.v, &l.n);
        if (r < 0)
                return log_error_errno(r, "%s holds no certificate", path);
        /* A file's key or a token's. */
        r = ca_load_key(ca, &key);
        if (r < 0)
                return log_error_errno(
                        r, "[ca \"%s\"]: cannot load its key %s (run: certherd ca init %s --csr): %m",
                        ca->name, ca->key, ca->name);
        if (ca_cert_matches_key(l.v[0], key) < 0)
                return log_error_errno(-EINVAL,
                                       "[ca \"%s\"]: %s is not a CA certificate (CA:TRUE) of the key %s",
                                       ca->name, path, ca->key);
        nb = gnutls_x509_crt_get_activation_time(l.v[0]);
        na = gnutls_x509_crt_get_expiration_time(l.v[0]);
        if (na < 0 || (usec_t) na * USEC_PER_SEC <= now || nb < 0 ||
            (usec_t) nb * USEC_PER_SEC > now + USEC_PER_DAY)
                return log_error_errno(-EINVAL, "[ca \"%s\"]: %s is not valid now", ca->name, path);
        if (ca->parent) {
                const CaConfig *parent = inventory_find_ca(inv, ca->parent);
                _cleanup_(x509_crts_done) X509Crts p = {};

                r = parent ? read_crts(parent->certificate, &p) : -ENOENT;
                if (r < 0)
                        return log_error_errno(r, "[ca \"%s\"]: cannot read the parent's certificate: %m",
                                               ca->name);
                if (!signed_by(l.v[0], p.v[0]))
                        return log_error_errno(
                                -EINVAL, "[ca \"%s\"]: %s is not signed by the parent [ca \"%s\"] (%s)",
                                ca->name, path, parent->name, parent->certificate);
        }
        /* The request's certificate fills an empty place; it never replaces another CA certificate. */
        r = read_full_file(ca->certificate, CA_FILE_MAX, &installed, &isize);
        if (r >= 0 && (isize != size || memcmp(installed, data, size) != 0))
                return log_error_errno(-EEXIST, "[ca \"%s\"]: %s exists already; refusing to replace a CA",
                                       ca->name, ca->certificate);
        r = ca_install_certificate(ca, data, size);
        if (r < 0)
                return r;
        log_notice("[ca \"%s\"]: imported %s as %s", ca->name, path, ca->certificate);
        return ca_export_bundle(ca, now);
}

int ca_rotate(const Inventory *inv, const CaConfig *ca, usec_t now, bool reissue_now) {
        _cleanup_x509_privkey_ gnutls_x509_privkey_t old_key = NULL;
        _cleanup_privkey_ gnutls_privkey_t parent_key = NULL;
        _cleanup_x509_crt_ gnutls_x509_crt_t old_crt = NULL, parent_crt = NULL;
        _cleanup_datum_ gnutls_datum_t old_pem = {}, parent_pem = {}, key_pem = {}, crt_pem = {};
        _cleanup_free_ uint8_t *old_key_data = NULL;
        _cleanup_free_ char *cn = NULL, *prev_crt = previous_path(ca->certificate),
                            *prev_key = previous_path(ca->key);
        size_t old_key_size;
        CaParams params;
        usec_t until;
        char when[32];
        int r;

        if (!prev_crt || !prev_key)
                return log_error_errno(-ENOMEM, "Out of memory");
        /* The previous generation is kept as files (.prev); a token's object cannot be copied aside so. */
        if (token_is_url(ca->key))
                return log_error_errno(-EOPNOTSUPP,
                                       "[ca \"%s\"]: ca rotate works on a key file; with key = pkcs11:… "
                                       "make a new object in the token and a new [ca] section instead",
                                       ca->name);
        r = ca_load_files(ca, &old_crt, &old_key, &old_pem);
        if (r < 0)
                return r;
        r = ca_previous_until(ca, &until);
        if (r > 0 && now < until)
                return log_error_errno(
                        -EBUSY,
                        "[ca \"%s\"]: the previous generation %s may have valid leaves until %s; rotating "
                        "again now would break them (once they are re-issued: ca rotate --finish %s)",
                        ca->name, prev_crt, format_timestamp_iso(when, sizeof(when), until), ca->name);
        if (ca->parent) {
                const CaConfig *parent = inventory_find_ca(inv, ca->parent);

                r = parent ? ca_load_signer(parent, &parent_crt, &parent_key, &parent_pem) : -ENOENT;
                if (r < 0)
                        return log_error_errno(
                                r, "[ca \"%s\"]: the parent [ca \"%s\"] cannot sign the new certificate",
                                ca->name, ca->parent);
        }
        r = read_full_file(ca->key, CA_FILE_MAX, &old_key_data, &old_key_size);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot read %s: %m", ca->name, ca->key);

        r = ca_common_name(ca, &cn);
        if (r < 0)
                return r;
        params = ca_params(inv, ca, cn, now);
        r = ca_make_generation(ca, &params, parent_crt, parent_key, "the new CA certificate", &key_pem,
                               &crt_pem);
        if (r < 0)
                return r;

        /* The old generation first: a crash after this leaves the CA as it was, plus its copy. */
        r = install_data(prev_key, old_key_data, old_key_size, 0600);
        if (r >= 0)
                r = install_data(prev_crt, old_pem.data, old_pem.size, 0644);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot keep the previous generation as %s: %m",
                                       ca->name, prev_crt);
        r = state_directory(inv->agent.state_directory);
        if (r < 0)
                return r;
        ca_rotation_record(inv, ca, now,
                           reissue_now); /* first: a daemon seeing the new certificate reads it */
        r = ca_install_generation(inv, ca, &key_pem, &crt_pem);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot install the new %s and %s: %m", ca->name,
                                       ca->key, ca->certificate);
        (void) ca_previous_until(ca, &until);
        log_notice(
                "[ca \"%s\"]: rotated: new key and certificate %s; the previous generation is kept as %s until %s",
                ca->name, ca->certificate, prev_crt, format_timestamp_iso(when, sizeof(when), until));
        return ca_export_bundle(ca, now);
}

void ca_index_record_hook(const Inventory *inv, const CaConfig *ca, gnutls_x509_crt_t leaf,
                          const char *set_name) {
        /* The issued-certificate index (ca-index.c): `ca list` shows it, `ca revoke --serial` revokes it.
         * A failure is logged there. */
        if (state_directory(inv->agent.state_directory) >= 0)
                (void) ca_index_record(inv->agent.state_directory, ca->name, set_name ?: "", leaf);
}
