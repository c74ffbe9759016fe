/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stddef.h>

/* The section index behind Inventory.index: (kind, name) → section, open addressing with linear
 * probing in a power-of-two table kept at most half full, so merging 10 000 sections stays linear.
 * Every section struct begins with its name (char *), which is where the index reads it from; entries
 * stay at 16 bytes so that a large table costs few cache misses. */
typedef struct ConfigIndexEntry {
        void *section; /* NULL: free slot */
        unsigned hash;
        int kind;
} ConfigIndexEntry;

struct ConfigIndex {
        ConfigIndexEntry *entries;
        size_t n, size;
};

void *config_index_get(const struct ConfigIndex *ix, int kind, const char *name);
/* Adds or replaces the entry for (kind, the section's name). */
int config_index_put(struct ConfigIndex *ix, int kind, void *section);
/* Points the entry for (kind, the section's name) at `section`, a copy of the section there; no allocation.
 * Returns 0, or -ENOENT when there is no such entry. */
int config_index_replace(struct ConfigIndex *ix, int kind, void *section);
struct ConfigIndex *config_index_free(struct ConfigIndex *ix);
