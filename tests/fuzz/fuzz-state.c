/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer: a saved state file (STATE_DIR/certs/NAME.json). Whatever is in it, state_parse either
 * fills a CertState whose strings are clean lines and whose numbers are in range, or refuses it whole
 * (-EBADMSG) — never a crash or a leak. Seeds: corpus/state/. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void clean(const char *s) {
        for (; s && *s; s++)
                assert((unsigned char) *s >= 0x20 && *s != 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        CertState st = {};

        if (state_parse((const char *) data, size, &st) < 0)
                return 0;
        assert(st.alert_level >= 0 && st.alert_level <= 3);
        clean(st.last_error);
        clean(st.deploy_step);
        clean(st.deploy_error);
        clean(st.deploy_serial);
        cert_state_done(&st);
        return 0;
}
