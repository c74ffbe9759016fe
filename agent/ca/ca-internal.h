/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Helpers shared by the files of the ca folder only. */

#include <stddef.h>
#include <sys/types.h>

#include <gnutls/gnutls.h>

#include "ca.h"

/* Append to a PEM text that is gnutls-allocated (it hands over as a gnutls_datum_t). 0 or -ENOMEM. */
int ca_datum_append(gnutls_datum_t *d, const void *data, size_t size);

/* Write `d` to `out` atomically with `mode` (NULL or "-": standard output). 0 or -errno. */
int ca_write_out(const char *out, const gnutls_datum_t *d, mode_t mode);

/* The parameters of `ca`'s own certificate at `now`; they point at `cn` (ca_common_name()). */
CaParams ca_params(const Inventory *inv, const CaConfig *ca, const char *cn, usec_t now);

/* A new key of ca->key_type and `ca`'s certificate for it per `p` (signed by parent_key, self-signed
 * without a parent), both as PEM. Failures are logged as failing to make `what`. 0 or -errno. */
int ca_make_generation(const CaConfig *ca, const CaParams *p, gnutls_x509_crt_t parent_crt,
                       gnutls_privkey_t parent_key, const char *what, gnutls_datum_t *ret_key_pem,
                       gnutls_datum_t *ret_crt_pem);

/* Installs `ca`'s key (0600) and certificate (0644) as one pair (install_pair()). 0 or -errno. */
int ca_install_generation(const Inventory *inv, const CaConfig *ca, const gnutls_datum_t *key_pem,
                          const gnutls_datum_t *crt_pem);

/* Installs `ca`'s certificate alone (0644; its directories are made, 0755). 0 or -errno (logged). */
int ca_install_certificate(const CaConfig *ca, const void *data, size_t size);

/* ---- ca-load.c ---- */

/* The largest CA certificate or key file read. */
#define CA_FILE_MAX (1024U * 1024U)

/* The CA's key in its PKCS#11 token (ca->key is a pkcs11: URL). Returns 0 or -errno (logged). */
int ca_load_token_key(const CaConfig *ca, gnutls_privkey_t *ret);
