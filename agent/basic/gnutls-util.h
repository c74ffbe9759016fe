/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdint.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "macro.h"

/* Cleanup helpers for GnuTLS objects, in the manner of Knot DNS's shared.h. */

static inline void gnutls_datum_freep(gnutls_datum_t *d) {
        gnutls_free(d->data);
        d->data = NULL;
        d->size = 0;
}
#define _cleanup_datum_ _cleanup_(gnutls_datum_freep)

static inline void x509_crt_freep(gnutls_x509_crt_t *c) {
        if (*c)
                gnutls_x509_crt_deinit(*c);
}
#define _cleanup_x509_crt_ _cleanup_(x509_crt_freep)

static inline void x509_privkey_freep(gnutls_x509_privkey_t *k) {
        if (*k)
                gnutls_x509_privkey_deinit(*k);
}
#define _cleanup_x509_privkey_ _cleanup_(x509_privkey_freep)

static inline void privkey_freep(gnutls_privkey_t *k) {
        if (*k)
                gnutls_privkey_deinit(*k);
}
#define _cleanup_privkey_ _cleanup_(privkey_freep)

static inline void pubkey_freep(gnutls_pubkey_t *k) {
        if (*k)
                gnutls_pubkey_deinit(*k);
}
#define _cleanup_pubkey_ _cleanup_(pubkey_freep)

static inline void x509_crq_freep(gnutls_x509_crq_t *c) {
        if (*c)
                gnutls_x509_crq_deinit(*c);
}
#define _cleanup_x509_crq_ _cleanup_(x509_crq_freep)

/* Map a GnuTLS error code to a negative errno, as STYLE.md rule 3 asks. */
int errno_from_gnutls(int r);

/* A gnutls-allocated, NUL-terminated copy of data (PEM text stays a C string). Returns 0 or -ENOMEM. */
int datum_dup(const uint8_t *data, size_t size, gnutls_datum_t *ret);
