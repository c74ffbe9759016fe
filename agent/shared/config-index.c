/* SPDX-License-Identifier: GPL-3.0-or-later */
/* (section kind, name) → section: an open-addressing table, so that merging conf.d sections and lookups
 * by name stay O(1) at 100 000 sets. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shared-internal.h"

static unsigned index_hash(int kind, const char *name) {
        uint32_t h = 2166136261u ^ (uint32_t) kind; /* FNV-1a */

        for (; *name; name++)
                h = (h ^ (unsigned char) *name) * 16777619u;
        return h;
}

static const char *section_name(const void *section) {
        return *(char *const *) section;
}

static ConfigIndexEntry *index_slot(const struct ConfigIndex *ix, int kind, const char *name, unsigned h) {
        for (size_t i = h & (ix->size - 1);; i = (i + 1) & (ix->size - 1)) {
                ConfigIndexEntry *e = &ix->entries[i];

                if (!e->section)
                        return e;
                if (e->hash == h && e->kind == kind && strcmp(section_name(e->section), name) == 0)
                        return e;
        }
}

void *config_index_get(const struct ConfigIndex *ix, int kind, const char *name) {
        if (!ix || ix->n == 0)
                return NULL;
        return index_slot(ix, kind, name, index_hash(kind, name))->section;
}

int config_index_put(struct ConfigIndex *ix, int kind, void *section) {
        const char *name = section_name(section);
        unsigned h = index_hash(kind, name);
        ConfigIndexEntry *e;

        if ((ix->n + 1) * 8 > ix->size * 7) {
                struct ConfigIndex bigger = { .size = ix->size ? ix->size * 2 : 64 };

                bigger.entries = calloc(bigger.size, sizeof(ConfigIndexEntry));
                if (!bigger.entries)
                        return -ENOMEM;
                /* Names are unique in the old table: the first free slot is the place, no compare. */
                for (size_t i = 0; i < ix->size; i++) {
                        size_t j;

                        e = &ix->entries[i];
                        if (!e->section)
                                continue;
                        j = e->hash & (bigger.size - 1);
                        while (bigger.entries[j].section)
                                j = (j + 1) & (bigger.size - 1);
                        bigger.entries[j] = *e;
                }
                free(ix->entries);
                ix->entries = bigger.entries;
                ix->size = bigger.size;
        }
        e = index_slot(ix, kind, name, h);
        if (!e->section)
                ix->n++;
        *e = (ConfigIndexEntry){ .section = section, .hash = h, .kind = kind };
        return 0;
}

int config_index_replace(struct ConfigIndex *ix, int kind, void *section) {
        const char *name = section_name(section);
        ConfigIndexEntry *e;

        if (!ix || ix->n == 0)
                return -ENOENT;
        e = index_slot(ix, kind, name, index_hash(kind, name));
        if (!e->section)
                return -ENOENT;
        e->section = section;
        return 0;
}

struct ConfigIndex *config_index_free(struct ConfigIndex *ix) {
        if (ix)
                free(ix->entries);
        free(ix);
        return NULL;
}
