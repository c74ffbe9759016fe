/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer: certherd's own record of what it revoked (STATE/revocations.json), which check reads for
 * every set. The parser either returns whole, checked entries or refuses the file — never a crash or a
 * leak. Seeds: corpus/revocations/. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "revocations.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Revocations l = {};

        if (revocations_parse((const char *)data, size, &l) < 0)
                return 0;
        for (size_t i = 0; i < l.n; i++) {
                assert(l.entries[i].name && l.entries[i].name[0]);
                assert(
                    l.entries[i].serial &&
                    strspn(l.entries[i].serial, "0123456789abcdef") == strlen(l.entries[i].serial));
                assert(l.entries[i].reason);
        }
        revocations_done(&l);
        return 0;
}
