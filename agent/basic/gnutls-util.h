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

/* NAME_freep(): deinit a GnuTLS object unless it is NULL, for _cleanup_(). */
#define DEFINE_GNUTLS_FREEP(name, type, deinit)                                                             \
        static inline void name##_freep(type *p) {                                                          \
                if (*p)                                                                                     \
                        deinit(*p);                                                                         \
        }

DEFINE_GNUTLS_FREEP(x509_crt, gnutls_x509_crt_t, gnutls_x509_crt_deinit)
DEFINE_GNUTLS_FREEP(x509_privkey, gnutls_x509_privkey_t, gnutls_x509_privkey_deinit)
DEFINE_GNUTLS_FREEP(privkey, gnutls_privkey_t, gnutls_privkey_deinit)
DEFINE_GNUTLS_FREEP(pubkey, gnutls_pubkey_t, gnutls_pubkey_deinit)
DEFINE_GNUTLS_FREEP(x509_crq, gnutls_x509_crq_t, gnutls_x509_crq_deinit)
#define _cleanup_x509_crt_ _cleanup_(x509_crt_freep)
#define _cleanup_x509_privkey_ _cleanup_(x509_privkey_freep)
#define _cleanup_privkey_ _cleanup_(privkey_freep)
#define _cleanup_pubkey_ _cleanup_(pubkey_freep)
#define _cleanup_x509_crq_ _cleanup_(x509_crq_freep)

/* Map a GnuTLS error code to a negative errno, as docs/architecture.md, conventions 3 asks. */
int errno_from_gnutls(int r);

/* data as a datum (not copied): -EBADMSG when there is none, or more than a GnuTLS size (32 bits) can
 * hold. */
static inline int datum_from_data(const uint8_t *data, size_t size, gnutls_datum_t *ret) {
        if (!data || size == 0 || size > UINT32_MAX)
                return -EBADMSG;
        *ret = (gnutls_datum_t){ (unsigned char *) data, (unsigned) size };
        return 0;
}

/* A new public key, the public half of `key` (in a token too). Returns 0 or, as the GnuTLS calls it
 * wraps, a GnuTLS error code: a token's caller maps it differently (token.c, errno_from_p11). */
int pubkey_from_privkey(gnutls_privkey_t key, gnutls_pubkey_t *ret);

/* A gnutls-allocated, NUL-terminated copy of data (PEM text stays a C string). Returns 0 or -ENOMEM. */
int datum_dup(const uint8_t *data, size_t size, gnutls_datum_t *ret);
