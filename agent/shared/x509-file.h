/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* x509.c's loaders over a file (x509.c itself does no I/O): read at most `max` bytes, then parse. */

#include <stddef.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

/* The certificates of `path` (x509_load_crts()). Returns 0 or -errno: read_full_file()'s, or -EBADMSG. */
int x509_read_crts(const char *path, size_t max, gnutls_x509_crt_t **ret, unsigned *ret_n);
/* The first certificate of `path`; the rest of the file is dropped. Returns 0 or -errno as above. */
int x509_read_first_crt(const char *path, size_t max, gnutls_x509_crt_t *ret);
/* The private key of `path` (x509_load_privkey()). Returns 0 or -errno: read_full_file()'s, or as
 * x509_load_privkey(). */
int x509_read_privkey(const char *path, size_t max, const char *password, gnutls_x509_privkey_t *ret);
