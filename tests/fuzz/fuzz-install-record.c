/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "install.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The write-ahead record of an install (STATE/install/NAME.rec), which `certherd recover` reads at boot
 * and acts on as root: no crash, no leak, and whatever is accepted names absolute targets, is exactly
 * the canonical text (so parsing is a fixed point) and has no control character but newlines. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *targets = NULL;
        unsigned line = 0;
        int r;

        r = install_record_parse(data, size, &targets);
        if (r == -ENOMEM)
                return 0;
        if (r < 0) {
                if (r != -EBADMSG || targets)
                        abort();
                return 0;
        }
        if (r > 1 || !targets || memchr(data, 0, size) || data[size - 1] != '\n')
                abort();
        for (size_t i = 0; i < size; i++)
                if ((data[i] < 0x20 && data[i] != '\n') || data[i] == 0x7f)
                        abort();
        /* "KEY\nCERT\n": each empty or absolute, at least one present; then "LABEL /PATH\n" for each further
         * output (chain, leaf, combined, pkcs12). */
        if (strcmp(targets, "\n\n") == 0)
                abort();
        for (char *p = targets; *p; p = strchr(p, '\n') + 1, line++) {
                char *space = strchr(p, ' '), *eol = strchr(p, '\n');

                if (line < 2 ? *p != '\n' && *p != '/' : !space || space > eol || space[1] != '/')
                        abort();
        }
        if (install_record_parse(data, size, NULL) != r)
                abort();
        return 0;
}
