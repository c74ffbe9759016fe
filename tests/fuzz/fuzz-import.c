/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer: the foreign files `certherd import` reads as root — certbot's renewal/NAME.conf (configobj),
 * acme.sh's DOMAIN.conf and ca.conf (shell assignments, with base64-wrapped values) and certmonger's
 * request files. Whatever is in them, each parser either returns entries whose keys are clean and whose
 * values hold no NUL, or refuses the file with a "LINE: message" — never a crash or a leak. The first byte
 * picks the parser. Seeds: corpus/import/. */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "import-acmesh.h"
#include "import-certbot.h"
#include "import-certmonger.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void clean_key(const char *s) {
        assert(s && *s);
        for (; *s; s++)
                assert((unsigned char) *s >= 0x20 && *s != 0x7f);
}

static void check_kv(char **kv) {
        size_t n = 0;
        for (; kv[n]; n++)
                if (n % 2 == 0)
                        clean_key(kv[n]);
        assert(n % 2 == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *text = (const char *) data + 1;
        char *err = NULL, **kv = NULL;
        int r = 0;

        if (size < 1)
                return 0;
        size--;
        switch (data[0] % 4) {
        case 0: {
                CertbotConf *c = NULL;
                r = certbot_conf_parse(text, size, &c, &err);
                assert(r == 0 || r == -EBADMSG || r == -ENOMEM);
                if (r == 0) {
                        for (size_t i = 0; i < c->n_entries; i++) {
                                clean_key(c->entries[i].key);
                                assert(c->entries[i].values && c->entries[i].values[0]);
                                assert(certbot_conf_get(c, c->entries[i].section, c->entries[i].key));
                        }
                        certbot_conf_free(c);
                }
                break;
        }
        case 1:
                r = acmesh_conf_parse(text, size, &kv, &err);
                if (r == 0) {
                        check_kv(kv);
                        for (size_t i = 1; kv[i - 1] && kv[i]; i += 2) {
                                char *v = NULL;
                                if (acmesh_decode_value(kv[i], &v) == 0)
                                        free(v);
                        }
                }
                break;
        case 2:
                r = certmonger_request_parse(text, size, &kv, &err);
                if (r == 0)
                        check_kv(kv);
                break;
        case 3: {
                /* A value as acme.sh wraps it, given directly. */
                char *s = strndup(text, size), *v = NULL;
                /* What was base64 decodes to text (an unwrapped value is copied as it is). */
                if (s && acmesh_decode_value(s, &v) == 0) {
                        for (const char *p = v; strncmp(s, "__ACME_BASE64__START_", 21) == 0 && *p; p++)
                                assert((unsigned char) *p >= 0x20 || *p == '\n' || *p == '\t');
                        free(v);
                }
                free(s);
                break;
        }
        }
        /* A refused input always says why. */
        if (r == -EBADMSG)
                assert(err);
        strv_free(kv);
        free(err);
        return 0;
}
