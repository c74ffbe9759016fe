/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer: the CRL reader — any peer's `crl =` file, PEM (one or several CRLs) or DER. crl_parse,
 * the entry reason walker over raw DER, and crl_read_verified against a fixed CA and leaf either return
 * whole, checked facts or refuse — never a crash, a leak, or a CRL believed that the CA did not sign
 * (the CA's key never signs fuzz input, so nothing here may be CRL_FOR_ISSUER). Seeds: corpus/crl/. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ca.h"
#include "crl.h"
#include "keygen.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gnutls_x509_crt_t ca, leaf;

static void setup(void) {
        gnutls_x509_privkey_t ca_key = NULL, leaf_key = NULL;
        char *const names[] = {(char *)"fuzz.test", NULL};
        usec_t now = 1767225600ULL * USEC_PER_SEC;

        if (keygen_generate(KEY_TYPE_EC_P256, &ca_key) < 0 ||
            keygen_generate(KEY_TYPE_EC_P256, &leaf_key) < 0 ||
            ca_make_root(ca_key, "fuzz CA", 365 * USEC_PER_DAY, now, &ca) < 0 ||
            ca_issue(
                ca, ca_key, leaf_key,
                &(IssueRequest){.names = names, .usage = USAGE_SERVER, .validity = USEC_PER_DAY, .now = now},
                &leaf) < 0)
                abort();
        gnutls_x509_privkey_deinit(ca_key);
        gnutls_x509_privkey_deinit(leaf_key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        CrlInfo info = {};
        CrlVerdict v = {};
        int8_t reasons[64];

        if (!ca)
                setup();
        if (crl_parse(data, size, &info) >= 0) {
                for (size_t i = 0; i < info.n; i++) {
                        assert(info.serials[i] && strlen(info.serials[i]) % 2 == 0);
                        assert(info.reasons[i] >= -1 && info.reasons[i] <= 10);
                }
                crl_info_done(&info);
        }
        for (size_t n = 0; n < 3; n++)
                (void)crl_entry_reasons(data, size, n, reasons);
        if (crl_read_verified(data, size, leaf, &ca, 1, &v) >= 0) {
                assert(v.trust != CRL_FOR_ISSUER && v.trust != CRL_FOR_CHAIN);
                assert(v.error);
                crl_verdict_done(&v);
        }
        return 0;
}
