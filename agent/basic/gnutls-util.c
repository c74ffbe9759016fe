/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <string.h>

#include "gnutls-util.h"

int errno_from_gnutls(int r) {
        switch (r) {
        case GNUTLS_E_SUCCESS:
                return 0;
        case GNUTLS_E_MEMORY_ERROR:
                return -ENOMEM;
        case GNUTLS_E_DECRYPTION_FAILED:
                return -EACCES;
        case GNUTLS_E_FILE_ERROR:
                return -EIO;
        case GNUTLS_E_TIMEDOUT:
                return -ETIMEDOUT;
        case GNUTLS_E_SHORT_MEMORY_BUFFER:
                return -ENOBUFS;
        case GNUTLS_E_INVALID_REQUEST:
                return -EINVAL;
        case GNUTLS_E_UNIMPLEMENTED_FEATURE:
        case GNUTLS_E_UNKNOWN_PK_ALGORITHM:
        case GNUTLS_E_ECC_UNSUPPORTED_CURVE:
                return -EOPNOTSUPP;
        default:
                return -EBADMSG;
        }
}

int pubkey_from_privkey(gnutls_privkey_t key, gnutls_pubkey_t *ret) {
        _cleanup_pubkey_ gnutls_pubkey_t pub = NULL;
        int r;

        if (gnutls_pubkey_init(&pub) < 0)
                return GNUTLS_E_MEMORY_ERROR;
        r = gnutls_pubkey_import_privkey(pub, key, 0, 0);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(pub);
        return 0;
}

int datum_dup(const uint8_t *data, size_t size, gnutls_datum_t *ret) {
        ret->data = gnutls_malloc(size + 1);
        if (!ret->data)
                return -ENOMEM;
        memcpy(ret->data, data, size);
        ret->data[size] = 0;
        ret->size = (unsigned) size;
        return 0;
}
