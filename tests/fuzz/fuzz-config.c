/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The inventory parser and validator on arbitrary text: no crash, no leak, an error always comes with
 * its message, and inih always reads a line as the reader announced it. The input is cut at its first
 * NUL, as config_load() refuses such files anyway. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_inventory_ Inventory *inv = NULL;
        _cleanup_free_ char *text = NULL, *err = NULL;
        int r;

        /* Fixed environment: ${VAR} expansion depends on it. */
        setenv("CERTHERD_FUZZ", "/fuzz", 0);
        text = malloc(size + 1);
        inv = inventory_new();
        if (!text || !inv)
                return 0;
        memcpy(text, data, size);
        text[size] = 0;

        r = config_parse_string(inv, text, "fuzz.conf", &err);
        if (r >= 0)
                r = config_validate(inv, &err);
        if (r < 0 && r != -ENOMEM && !err)
                abort();
        if (r >= 0 && err)
                abort();
        /* The reader announces how inih must take each line; with Debian's inih it never disagrees. */
        if (err && strncmp(err, "fuzz.conf:", 10) == 0) {
                const char *msg = err + 10 + strspn(err + 10, "0123456789");

                if (strncmp(msg, ": inih reads this line otherwise", 32) == 0 ||
                    strncmp(msg, ": inih cannot read", 18) == 0)
                        abort();
        }
        if (r >= 0)
                for (size_t i = 0; i < inv->n_certs; i++)
                        if (inventory_find_cert(inv, inv->certs[i]->name) != inv->certs[i])
                                abort();
        return 0;
}
