/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stddef.h>

#include "x509.h"

/* Where a pass keeps the facts of its sets for as long as it runs (a daemon: as long as it lives).
 *
 * x509_inspect() builds facts with malloc on whichever thread inspected them, among the temporaries of
 * the inspection (parsed certificates, file contents). Kept there, a few hundred bytes of facts pin down
 * every page of that thread's arena that the temporaries used, and the daemon's idle RSS grows with them.
 * The store copies each set's facts, strings and problems included, into large mappings of its own, one
 * block after the other; strings that many sets repeat (the issuer, the key type) are kept once, and
 * names that are the set's configured names are not copied at all.
 *
 * Stored facts are read-only: never pass them to cert_facts_free() or cert_facts_add_problem(). A stored
 * copy stays valid until it is dropped; dropping one makes its place garbage, and a mapping whose every
 * block is garbage is returned to the system at once. When a store is mostly garbage, its owner repacks
 * it (facts_store_sparse(), then a new store). */
typedef struct FactsStore FactsStore;

int facts_store_new(FactsStore **ret);
FactsStore *facts_store_free(FactsStore *s);
static inline void facts_store_freep(FactsStore **s) {
        facts_store_free(*s);
}

/* A read-only copy of f (loose, or another store's) in the store; f is left to its caller. names: the
 * set's configured names (or NULL); when f names the same, in the same order (the common case), the copy
 * points at them instead of holding its own, so they must outlive it (a pass's inventory outlives the
 * pass). NULL on OOM. */
CertFacts *facts_store_add(FactsStore *s, const CertFacts *f, char *const *names);
/* f (from facts_store_add(s, …), or NULL) is no longer used. */
void facts_store_drop(FactsStore *s, CertFacts *f);
/* Whether most of what the store holds is garbage: copy the facts still used into a new store. */
bool facts_store_sparse(const FactsStore *s);
