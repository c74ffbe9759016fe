/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer: the files of the internal CA certherd reads back — a CA's index (STATE/ca/NAME/index.json), the
 * compromised-keys list (STATE/compromised-keys.json) and a CRL (PEM or DER, from any peer's `crl =`).
 * Each parser either returns whole, checked data or refuses it — never a crash or a leak. The first byte
 * picks the parser. Seeds: corpus/ca-index/. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ca-index.h"
#include "compromised-keys.h"
#include "crl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1)
                return 0;
        switch (data[0] % 3) {
        case 0: {
                CaIndex idx = {};

                if (ca_index_parse((const char *) data + 1, size - 1, &idx) < 0)
                        return 0;
                for (size_t i = 0; i < idx.n; i++) {
                        assert(idx.entries[i].serial && idx.entries[i].serial[0]);
                        assert(idx.entries[i].pin && idx.entries[i].names);
                        assert(!idx.entries[i].revoked || crl_reason_to_string(idx.entries[i].reason));
                }
                ca_index_done(&idx);
                break;
        }
        case 1: {
                CompromisedKeys l = {};

                if (compromised_keys_parse((const char *) data + 1, size - 1, &l) < 0)
                        return 0;
                for (size_t i = 0; i < l.n; i++)
                        assert(l.keys[i].pin && l.keys[i].name && l.keys[i].serial);
                compromised_keys_done(&l);
                break;
        }
        default: {
                CrlInfo info = {};

                if (crl_parse(data + 1, size - 1, &info) < 0)
                        return 0;
                for (size_t i = 0; i < info.n; i++)
                        assert(info.serials[i] && strlen(info.serials[i]) % 2 == 0);
                crl_info_done(&info);
                break;
        }
        }
        return 0;
}
