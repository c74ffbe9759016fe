/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "fd-util.h"
#include "macro.h"
#include "x509-file.h"
#include "x509.h"

int x509_read_crts(const char *path, size_t max, gnutls_x509_crt_t **ret, unsigned *ret_n) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t size;
        int r = read_full_file(path, max, &data, &size);

        return r < 0 ? r : x509_load_crts(data, size, ret, ret_n);
}

int x509_read_first_crt(const char *path, size_t max, gnutls_x509_crt_t *ret) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t size;
        int r = read_full_file(path, max, &data, &size);

        return r < 0 ? r : x509_load_leaf(data, size, ret);
}

int x509_read_privkey(const char *path, size_t max, const char *password, gnutls_x509_privkey_t *ret) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t size;
        int r = read_full_file(path, max, &data, &size);

        return r < 0 ? r : x509_load_privkey(data, size, password, ret);
}
