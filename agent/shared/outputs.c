/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/pkcs12.h>

#include "fd-util.h"
#include "gnutls-util.h"
#include "outputs.h"
#include "pin.h"

#define OUTPUT_MAX (16U * 1024U * 1024U)
#define KEY_ID_MAX 64

DEFINE_GNUTLS_FREEP(pkcs12, gnutls_pkcs12_t, gnutls_pkcs12_deinit)
DEFINE_GNUTLS_FREEP(pkcs12_bag, gnutls_pkcs12_bag_t, gnutls_pkcs12_bag_deinit)

void output_files_done(OutputFiles *o) {
        gnutls_datum_freep(&o->chain);
        gnutls_datum_freep(&o->leaf);
        gnutls_datum_freep(&o->combined);
        gnutls_datum_freep(&o->pkcs12);
}

/* Append `size` bytes to a gnutls_malloc'd datum (data non-NULL afterwards, even when nothing was added). */
static int datum_append(gnutls_datum_t *d, const void *data, size_t size) {
        uint8_t *p = gnutls_realloc(d->data, d->size + size + 1);

        if (!p)
                return -ENOMEM;
        if (size > 0)
                memcpy(p + d->size, data, size);
        d->data = p;
        d->size += (unsigned) size;
        d->data[d->size] = 0;
        return 0;
}

static int append_crts_pem(gnutls_datum_t *d, const X509Crts *c, unsigned from, unsigned to) {
        int r = datum_append(d, NULL, 0);

        for (unsigned i = from; i < to && r >= 0; i++) {
                _cleanup_datum_ gnutls_datum_t pem = {};

                r = gnutls_x509_crt_export2(c->v[i], GNUTLS_X509_FMT_PEM, &pem);
                r = r < 0 ? errno_from_gnutls(r) : datum_append(d, pem.data, pem.size);
        }
        return r;
}

static int build_combined(const uint8_t *key_file, size_t key_size, const X509Crts *c, gnutls_datum_t *ret) {
        int r;

        if (!key_file || key_size == 0)
                return -EINVAL;
        r = datum_append(ret, key_file, key_size);
        /* PEM blocks start on a line of their own. */
        if (r >= 0 && key_file[key_size - 1] != '\n')
                r = datum_append(ret, "\n", 1);
        return r < 0 ? r : append_crts_pem(ret, c, 0, c->n);
}

/* Key and certificates in two bags, each encrypted with PBES2 AES-256 (PBKDF2-HMAC-SHA256), the whole
 * under an HMAC-SHA256 MAC: what OpenSSL 3 reads without its legacy provider and Java's keytool reads. */
static int build_pkcs12(const char *name, gnutls_x509_privkey_t key, const X509Crts *c, const char *password,
                        gnutls_datum_t *ret) {
        _cleanup_(pkcs12_freep) gnutls_pkcs12_t p12 = NULL;
        _cleanup_(pkcs12_bag_freep) gnutls_pkcs12_bag_t certs = NULL, keys = NULL;
        _cleanup_datum_ gnutls_datum_t key_der = {};
        uint8_t id[KEY_ID_MAX];
        size_t id_size = sizeof(id);
        gnutls_datum_t key_id;
        int r, idx;

        if (!key || !password)
                return -EINVAL;
        r = gnutls_x509_crt_get_key_id(c->v[0], 0, id, &id_size);
        if (r < 0)
                return errno_from_gnutls(r);
        key_id = (gnutls_datum_t){ id, (unsigned) id_size };

        if ((r = gnutls_pkcs12_init(&p12)) < 0 || (r = gnutls_pkcs12_bag_init(&certs)) < 0 ||
            (r = gnutls_pkcs12_bag_init(&keys)) < 0)
                return errno_from_gnutls(r);
        for (unsigned i = 0; i < c->n; i++) {
                idx = gnutls_pkcs12_bag_set_crt(certs, c->v[i]);
                if (idx < 0)
                        return errno_from_gnutls(idx);
                /* The leaf and the key share a local key id: that pairs them into one entry. */
                if (i == 0 && ((r = gnutls_pkcs12_bag_set_key_id(certs, idx, &key_id)) < 0 ||
                               (r = gnutls_pkcs12_bag_set_friendly_name(certs, idx, name)) < 0))
                        return errno_from_gnutls(r);
        }
        r = gnutls_pkcs12_bag_encrypt(certs, password, GNUTLS_PKCS_PBES2_AES_256);
        if (r < 0)
                return errno_from_gnutls(r);

        r = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_DER, password, GNUTLS_PKCS_PBES2_AES_256,
                                              &key_der);
        if (r < 0)
                return errno_from_gnutls(r);
        idx = gnutls_pkcs12_bag_set_data(keys, GNUTLS_BAG_PKCS8_ENCRYPTED_KEY, &key_der);
        if (idx < 0)
                return errno_from_gnutls(idx);
        if ((r = gnutls_pkcs12_bag_set_key_id(keys, idx, &key_id)) < 0 ||
            (r = gnutls_pkcs12_bag_set_friendly_name(keys, idx, name)) < 0)
                return errno_from_gnutls(r);

        if ((r = gnutls_pkcs12_set_bag(p12, certs)) < 0 || (r = gnutls_pkcs12_set_bag(p12, keys)) < 0 ||
            (r = gnutls_pkcs12_generate_mac2(p12, GNUTLS_MAC_SHA256, password)) < 0 ||
            (r = gnutls_pkcs12_export2(p12, GNUTLS_X509_FMT_DER, ret)) < 0)
                return errno_from_gnutls(r);
        return 0;
}

int outputs_build(const CertConfig *c, const uint8_t *fullchain, size_t fullchain_size,
                  gnutls_x509_privkey_t key, const uint8_t *key_file, size_t key_file_size,
                  const char *pkcs12_password, OutputFiles *ret) {
        _cleanup_(x509_crts_done) X509Crts crts = {};
        OutputFiles o = {};
        int r;

        r = x509_load_crts(fullchain, fullchain_size, &crts.v, &crts.n);
        if (r < 0)
                return r;
        if (c->x->chain)
                r = append_crts_pem(&o.chain, &crts, 1, crts.n);
        if (r >= 0 && c->x->leaf)
                r = append_crts_pem(&o.leaf, &crts, 0, 1);
        if (r >= 0 && c->x->combined)
                r = build_combined(key_file, key_file_size, &crts, &o.combined);
        if (r >= 0 && c->x->pkcs12)
                r = build_pkcs12(c->name, key, &crts, pkcs12_password, &o.pkcs12);
        if (r < 0) {
                output_files_done(&o);
                return r;
        }
        *ret = o;
        return 0;
}

int outputs_pkcs12_parse(const uint8_t *der, size_t size, const char *password,
                         gnutls_x509_privkey_t *ret_key, gnutls_x509_crt_t **ret_crts, unsigned *ret_n) {
        _cleanup_(pkcs12_freep) gnutls_pkcs12_t p12 = NULL;
        gnutls_datum_t d;
        gnutls_x509_privkey_t key = NULL;
        gnutls_x509_crt_t *chain = NULL, *extra = NULL, *all;
        unsigned n_chain = 0, n_extra = 0;
        int r;

        if (datum_from_data(der, size, &d) < 0)
                return -EBADMSG;
        if (gnutls_pkcs12_init(&p12) < 0)
                return -ENOMEM;
        if (gnutls_pkcs12_import(p12, &d, GNUTLS_X509_FMT_DER, 0) < 0)
                return -EBADMSG;
        if (gnutls_pkcs12_verify_mac(p12, password) < 0)
                return -EACCES;
        r = gnutls_pkcs12_simple_parse(p12, password, &key, &chain, &n_chain, &extra, &n_extra, NULL,
                                       GNUTLS_PKCS12_SP_INCLUDE_SELF_SIGNED);
        if (r < 0)
                return r == GNUTLS_E_DECRYPTION_FAILED ? -EACCES
                       : r == GNUTLS_E_MEMORY_ERROR    ? -ENOMEM
                                                       : -EBADMSG;
        /* The chain the key's certificate starts, then whatever else the file holds. */
        all = gnutls_realloc(chain, (n_chain + n_extra) * sizeof(gnutls_x509_crt_t) + 1);
        if (!all) {
                gnutls_x509_privkey_deinit(key);
                x509_crts_free(chain, n_chain);
                x509_crts_free(extra, n_extra);
                return -ENOMEM;
        }
        if (n_extra > 0)
                memcpy(all + n_chain, extra, n_extra * sizeof(gnutls_x509_crt_t));
        gnutls_free(extra);
        if (!key || n_chain == 0) {
                if (key)
                        gnutls_x509_privkey_deinit(key);
                x509_crts_free(all, n_chain + n_extra);
                return -EBADMSG;
        }
        *ret_key = key;
        *ret_crts = all;
        *ret_n = n_chain + n_extra;
        return 0;
}

/* 1 when the two lists hold the same certificates in the same order. */
static int crts_equal(const gnutls_x509_crt_t *a, unsigned na, const gnutls_x509_crt_t *b, unsigned nb) {
        if (na != nb)
                return 0;
        for (unsigned i = 0; i < na; i++)
                if (!gnutls_x509_crt_equals(a[i], b[i]))
                        return 0;
        return 1;
}

static int key_pin(gnutls_x509_privkey_t key, uint8_t ret[PIN_SIZE]) {
        _cleanup_pubkey_ gnutls_pubkey_t pub = NULL;
        _cleanup_datum_ gnutls_datum_t spki = {};
        _cleanup_privkey_ gnutls_privkey_t priv = NULL;
        int r;

        if (gnutls_privkey_init(&priv) < 0 || gnutls_pubkey_init(&pub) < 0)
                return -ENOMEM;
        r = gnutls_privkey_import_x509(priv, key, 0);
        if (r >= 0)
                r = gnutls_pubkey_import_privkey(pub, priv, 0, 0);
        if (r >= 0)
                r = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki);
        if (r < 0)
                return errno_from_gnutls(r);
        return pin_compute(spki.data, spki.size, ret);
}

/* The first PEM private key block of a combined file ("-----BEGIN … PRIVATE KEY-----" to its END). */
static bool find_key_block(const uint8_t *data, size_t size, const uint8_t **ret, size_t *ret_size) {
        const char *s = (const char *) data, *end = s + size;

        for (const char *p = s; p < end;) {
                const char *b = memmem(p, (size_t) (end - p), "-----BEGIN ", 11), *eol, *e, *e_eol;

                if (!b)
                        return false;
                eol = memchr(b, '\n', (size_t) (end - b));
                if (!eol)
                        return false;
                if (eol - b >= 16 && memmem(b, (size_t) (eol - b), "PRIVATE KEY-----", 16)) {
                        e = memmem(eol, (size_t) (end - eol), "-----END ", 9);
                        if (!e)
                                return false;
                        e_eol = memchr(e, '\n', (size_t) (end - e));
                        *ret = (const uint8_t *) b;
                        *ret_size = (size_t) ((e_eol ? e_eol + 1 : end) - b);
                        return true;
                }
                p = eol + 1;
        }
        return false;
}

typedef struct Expect {
        const CertConfig *c;
        const X509Crts *installed; /* the certificate file's chain, leaf first */
        const char *cert_path;
        CertFacts *f;
} Expect;

/* 1 and the data when the output could be read; 0 after reporting it unreadable; -ENOMEM. An output
 * holding the private key (combined, pkcs12) is held to the key's rule: key-permissions when its group or
 * others may read it beyond the configured `mode` (any group/other read without one). */
static int read_output(const Expect *e, const char *what, const char *path, uint8_t **ret,
                       size_t *ret_size) {
        FileBuffer b = {};
        mode_t mode = (mode_t) -1, excess;
        bool secret = path == e->c->x->combined || path == e->c->x->pkcs12;
        int r = read_file_into(path, OUTPUT_MAX, &b, &mode);

        if (r < 0)
                free(b.data);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return cert_facts_add_problem(e->f, PROBLEM_UNREADABLE, "%s %s: %s", what, path,
                                              file_strerror(-r));
        *ret = b.data;
        *ret_size = b.size;
        excess = e->c->mode_set ? mode & 077 & ~e->c->mode : mode & (S_IRGRP | S_IROTH);
        if (secret && mode != (mode_t) -1 && excess != 0) {
                r = cert_facts_add_problem(
                        e->f, PROBLEM_KEY_PERMISSIONS,
                        "%s %s holds the private key and is more open (mode %04o) than %s", what, path,
                        (unsigned) (mode & 07777),
                        e->c->mode_set ? "the configured mode" : "0600 (no group or other read)");
                if (r < 0)
                        return r;
        }
        return 1;
}

static int mismatch(const Expect *e, const char *what, const char *path, const char *detail) {
        return cert_facts_add_problem(
                e->f, PROBLEM_KEY_MISMATCH,
                "%s %s: %s %s (outputs of different generations; renew to rewrite them)", what, path, detail,
                e->cert_path);
}

/* A PEM file of certificates that must equal installed[from..to). An empty file: no certificate. */
static int inspect_certs(const Expect *e, const char *what, const char *path, unsigned from, unsigned to) {
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_(x509_crts_done) X509Crts got = {};
        size_t size = 0;
        int r;

        r = read_output(e, what, path, &data, &size);
        if (r <= 0)
                return r;
        if (size > 0 && x509_load_crts(data, size, &got.v, &got.n) < 0)
                return cert_facts_add_problem(e->f, PROBLEM_MALFORMED, "%s %s: no certificate in it", what,
                                              path);
        if (!crts_equal(got.v, got.n, e->installed->v + from, to - from))
                return mismatch(e, what, path,
                                from == 0 ? "is not the leaf of"
                                          : "is not the chain (the certificates after the leaf) of");
        return 0;
}

static int inspect_keyed(const Expect *e, const char *what, const char *path, gnutls_x509_privkey_t key,
                         const X509Crts *got) {
        uint8_t pin[PIN_SIZE];
        int r;

        r = key_pin(key, pin);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || !e->f->has_pin || memcmp(pin, e->f->pin, PIN_SIZE) != 0)
                return cert_facts_add_problem(e->f, PROBLEM_KEY_MISMATCH,
                                              "%s %s: its key is not the key of %s", what, path,
                                              e->cert_path);
        if (!crts_equal(got->v, got->n, e->installed->v, e->installed->n))
                return mismatch(e, what, path, "does not hold the leaf and chain of");
        return 0;
}

static int inspect_combined(const Expect *e, const char *key_password) {
        const char *path = e->c->x->combined;
        _cleanup_x509_privkey_ gnutls_x509_privkey_t key = NULL;
        _cleanup_(x509_crts_done) X509Crts got = {};
        _cleanup_free_ uint8_t *data = NULL;
        const uint8_t *block;
        size_t size, block_size;
        int r;

        r = read_output(e, "combined", path, &data, &size);
        if (r <= 0)
                return r;
        if (!find_key_block(data, size, &block, &block_size))
                return cert_facts_add_problem(e->f, PROBLEM_MALFORMED,
                                              "combined %s: no PEM private key in it", path);
        r = x509_load_privkey(block, block_size, key_password, &key);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return cert_facts_add_problem(
                        e->f, PROBLEM_MALFORMED, "combined %s: its key cannot be read%s", path,
                        r == -EACCES ? " (encrypted: key-password-file does not open it)" : "");
        if (x509_load_crts(data, size, &got.v, &got.n) < 0)
                return cert_facts_add_problem(e->f, PROBLEM_MALFORMED, "combined %s: no certificate in it",
                                              path);
        return inspect_keyed(e, "combined", path, key, &got);
}

static int inspect_pkcs12(const Expect *e) {
        const char *path = e->c->x->pkcs12;
        _cleanup_x509_privkey_ gnutls_x509_privkey_t key = NULL;
        _cleanup_(x509_crts_done) X509Crts got = {};
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_free_ char *password = NULL;
        size_t size;
        int r;

        r = read_output(e, "pkcs12", path, &data, &size);
        if (r <= 0)
                return r;
        r = read_secret_file(e->c->x->pkcs12_password_file, &password);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return cert_facts_add_problem(e->f, PROBLEM_UNREADABLE,
                                              "pkcs12 %s: its password file %s: %s", path,
                                              e->c->x->pkcs12_password_file, file_strerror(-r));
        r = outputs_pkcs12_parse(data, size, password, &key, &got.v, &got.n);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return cert_facts_add_problem(
                        e->f, PROBLEM_MALFORMED, "pkcs12 %s: %s", path,
                        r == -EACCES ? "the password in pkcs12-password-file does not open it"
                                     : "not a PKCS#12 file with a key and its certificate");
        return inspect_keyed(e, "pkcs12", path, key, &got);
}

int outputs_inspect(const CertConfig *c, const uint8_t *cert_data, size_t cert_size,
                    const char *key_password, CertFacts *f) {
        _cleanup_(x509_crts_done) X509Crts installed = {};
        Expect e = { .c = c, .installed = &installed, .cert_path = c->certificate, .f = f };
        int r = 0;

        if (!c->x->chain && !c->x->leaf && !c->x->combined && !c->x->pkcs12)
                return 0;
        /* Without a readable certificate there is nothing to compare with: that is its own problem. */
        if (!f->parsed || x509_load_crts(cert_data, cert_size, &installed.v, &installed.n) < 0)
                return 0;
        if (c->x->leaf)
                r = inspect_certs(&e, "leaf", c->x->leaf, 0, 1);
        if (r >= 0 && c->x->chain)
                r = inspect_certs(&e, "chain", c->x->chain, 1, installed.n);
        if (r >= 0 && c->x->combined)
                r = inspect_combined(&e, key_password);
        if (r >= 0 && c->x->pkcs12)
                r = inspect_pkcs12(&e);
        return r < 0 ? r : 0;
}
