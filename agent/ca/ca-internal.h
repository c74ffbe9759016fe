/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Helpers shared by the files of the ca folder only. */

#include <stddef.h>
#include <sys/types.h>

#include <gnutls/gnutls.h>

/* Append to a PEM text that is gnutls-allocated (it hands over as a gnutls_datum_t). 0 or -ENOMEM. */
int ca_datum_append(gnutls_datum_t *d, const void *data, size_t size);

/* Write `d` to `out` atomically with `mode` (NULL or "-": standard output). 0 or -errno. */
int ca_write_out(const char *out, const gnutls_datum_t *d, mode_t mode);
