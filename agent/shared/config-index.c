/* SPDX-License-Identifier: GPL-3.0-or-later */
/* (section kind, name) → section: an open-addressing table, so that merging conf.d sections and lookups
 * by name stay O(1) at 100 000 sets. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shared-internal.h"

static uint32_t index_hash(int kind, const char *name) {
        uint32_t h = 2166136261u ^ (uint32_t) kind; /* FNV-1a */

        for (; *name; name++)
                h = (h ^ (unsigned char) *name) * 16777619u;
        return h;
}

#define KIND_SHIFT 28
#define AT_MAX ((1U << KIND_SHIFT) - 2)

static void *section_at(const Inventory *inv, uint32_t at) {
        size_t i = (at & ((1U << KIND_SHIFT) - 1)) - 1;

        switch (at >> KIND_SHIFT) {
        case SECTION_ACME:
                return inv->acme[i];
        case SECTION_CA:
                return inv->ca[i];
        default:
                return inv->certs[i];
        }
}

static const char *section_name(const void *section) {
        return *(char *const *) section;
}

static ConfigIndexEntry *index_slot(const Inventory *inv, int kind, const char *name, uint32_t h) {
        const ConfigIndex *ix = inv->index;

        for (size_t i = h & (ix->size - 1);; i = (i + 1) & (ix->size - 1)) {
                ConfigIndexEntry *e = &ix->entries[i];

                if (e->at == 0)
                        return e;
                if (e->hash == h && (int) (e->at >> KIND_SHIFT) == kind &&
                    strcmp(section_name(section_at(inv, e->at)), name) == 0)
                        return e;
        }
}

void *config_index_get(const Inventory *inv, int kind, const char *name) {
        const ConfigIndexEntry *e;

        if (!inv->index || inv->index->n == 0)
                return NULL;
        e = index_slot(inv, kind, name, index_hash(kind, name));
        return e->at ? section_at(inv, e->at) : NULL;
}

static int index_grow(ConfigIndex *ix) {
        ConfigIndex bigger = { .size = ix->size ? ix->size * 2 : 64 };

        bigger.entries = calloc(bigger.size, sizeof(ConfigIndexEntry));
        if (!bigger.entries)
                return -ENOMEM;
        /* Names are unique in the old table: the first free slot is the place, no compare. */
        for (size_t i = 0; i < ix->size; i++) {
                const ConfigIndexEntry *e = &ix->entries[i];
                size_t j;

                if (e->at == 0)
                        continue;
                j = e->hash & (bigger.size - 1);
                while (bigger.entries[j].at != 0)
                        j = (j + 1) & (bigger.size - 1);
                bigger.entries[j] = *e;
        }
        free(ix->entries);
        ix->entries = bigger.entries;
        ix->size = bigger.size;
        return 0;
}

int config_index_put(Inventory *inv, int kind, size_t at) {
        ConfigIndex *ix = inv->index;
        uint32_t a = (uint32_t) kind << KIND_SHIFT | (uint32_t) (at + 1), h;
        ConfigIndexEntry *e;
        int r;

        if (at > AT_MAX)
                return -E2BIG;
        if ((ix->n + 1) * 8 > ix->size * 7 && (r = index_grow(ix)) < 0)
                return r;
        h = index_hash(kind, section_name(section_at(inv, a)));
        e = index_slot(inv, kind, section_name(section_at(inv, a)), h);
        if (e->at == 0)
                ix->n++;
        *e = (ConfigIndexEntry){ .hash = h, .at = a };
        return 0;
}

struct ConfigIndex *config_index_free(struct ConfigIndex *ix) {
        if (ix)
                free(ix->entries);
        free(ix);
        return NULL;
}
