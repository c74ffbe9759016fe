/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "facts-store.h"

/* Mappings of 1 MiB hold about 4 000 sets' facts each: few enough to find a block's mapping by a scan
 * (100 000 sets: 25), large enough that the first one is not mostly empty for a small inventory. */
#define CHUNK_SIZE (1024U * 1024U)
/* Strings kept once for every set that repeats them (issuers, key types): a handful in practice; a
 * string past the limit is copied into the block like the others. */
#define SHARED_MAX 64U
/* Below this much garbage, repacking is not worth the copy. */
#define SPARSE_MIN 1024U

typedef struct FactsChunk {
        struct FactsChunk *next;
        size_t size;    /* of the mapping, this header included */
        size_t used;    /* bytes handed out, this header included */
        size_t n_facts; /* blocks handed out */
        size_t n_live;  /* of those, not dropped */
} FactsChunk;

struct FactsStore {
        FactsChunk *chunks; /* the one new blocks go to first */
        size_t n_live, n_dead;
        char *shared[SHARED_MAX];
        size_t n_shared;
};

int facts_store_new(FactsStore **ret) {
        FactsStore *s = calloc(1, sizeof(FactsStore));

        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

FactsStore *facts_store_free(FactsStore *s) {
        if (!s)
                return NULL;
        while (s->chunks) {
                FactsChunk *c = s->chunks;

                s->chunks = c->next;
                (void) munmap(c, c->size);
        }
        for (size_t i = 0; i < s->n_shared; i++)
                free(s->shared[i]);
        free(s);
        return NULL;
}

/* The store's copy of a string many sets repeat (NULL: keep it in the block). */
static const char *shared_string(FactsStore *s, const char *str) {
        for (size_t i = 0; i < s->n_shared; i++)
                if (streq(s->shared[i], str))
                        return s->shared[i];
        if (s->n_shared == SHARED_MAX)
                return NULL;
        s->shared[s->n_shared] = strdup(str);
        return s->shared[s->n_shared] ? s->shared[s->n_shared++] : NULL;
}

static void *chunk_alloc(FactsStore *s, size_t size) {
        FactsChunk *c = s->chunks;
        size_t header = ALIGN_TO(sizeof(FactsChunk), 16);
        void *p;

        size = ALIGN_TO(size, 8);
        if (!c || c->size - c->used < size) {
                size_t map = size + header > CHUNK_SIZE ? ALIGN_TO(size + header, 4096) : CHUNK_SIZE;

                p = mmap(NULL, map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (p == MAP_FAILED)
                        return NULL;
                c = p;
                *c = (FactsChunk){ .next = s->chunks, .size = map, .used = header };
                s->chunks = c;
        }
        p = (uint8_t *) c + c->used;
        c->used += size;
        c->n_facts++;
        c->n_live++;
        return p;
}

static char *put_string(char **p, const char *str) {
        size_t n = strlen(str) + 1;
        char *d = memcpy(*p, str, n);

        *p += n;
        return d;
}

/* Its place in the block, or (shared) the store's copy. */
static char *put_or_share(char **p, const char *shared, const char *str) {
        return shared ? (char *) shared : put_string(p, str);
}

CertFacts *facts_store_add(FactsStore *s, const CertFacts *f, char *const *names) {
        const char *issuer = NULL, *key_type = NULL;
        bool share_names = f->names && names && strv_equal(f->names, names);
        size_t n_names = 0, size;
        CertFacts *d;
        char *p;

        if (f->parsed) {
                /* A self-signed certificate names itself as issuer: one copy. */
                issuer = streq(f->issuer, f->subject) ? NULL : shared_string(s, f->issuer);
                key_type = shared_string(s, f->key_type);
        }
        size = sizeof(CertFacts) + f->n_problems * sizeof(Problem);
        for (char **n = share_names ? NULL : f->names; n && *n; n++, n_names++)
                size += sizeof(char *) + strlen(*n) + 1;
        if (f->names && !share_names)
                size += sizeof(char *);
        for (size_t i = 0; i < f->n_problems; i++)
                size += strlen(f->problems[i].message) + 1;
        if (f->parsed)
                size += strlen(f->subject) + strlen(f->serial) + 2 + (issuer ? 0 : strlen(f->issuer) + 1) +
                        (key_type ? 0 : strlen(f->key_type) + 1);

        d = chunk_alloc(s, size);
        if (!d)
                return NULL;
        *d = *f;
        d->stored = true;
        d->problems = f->n_problems > 0 ? (Problem *) (d + 1) : NULL;
        d->names = f->names && !share_names ? (char **) ((Problem *) (d + 1) + f->n_problems) : NULL;
        p = d->names ? (char *) (d->names + n_names + 1) : (char *) ((Problem *) (d + 1) + f->n_problems);
        for (size_t i = 0; i < f->n_problems; i++) {
                d->problems[i] = f->problems[i];
                d->problems[i].message = put_string(&p, f->problems[i].message);
        }
        for (size_t i = 0; i < n_names; i++)
                d->names[i] = put_string(&p, f->names[i]);
        if (d->names)
                d->names[n_names] = NULL;
        else if (share_names)
                d->names = (char **) names;
        d->subject = d->issuer = d->serial = d->key_type = NULL;
        if (f->parsed) {
                d->subject = put_string(&p, f->subject);
                d->issuer = streq(f->issuer, f->subject) ? d->subject : put_or_share(&p, issuer, f->issuer);
                d->serial = put_string(&p, f->serial);
                d->key_type = put_or_share(&p, key_type, f->key_type);
        }
        assert((size_t) (p - (char *) d) <= size);
        s->n_live++;
        return d;
}

void facts_store_drop(FactsStore *s, CertFacts *f) {
        FactsChunk **c;

        if (!f)
                return;
        assert(f->stored);
        for (c = &s->chunks; *c; c = &(*c)->next)
                if ((uint8_t *) f > (uint8_t *) *c && (uint8_t *) f < (uint8_t *) *c + (*c)->size)
                        break;
        assert(*c);
        s->n_live--;
        if (--(*c)->n_live > 0) {
                s->n_dead++;
                return;
        }
        /* Every block of the mapping is garbage: the system has it back (the newest too: it will be
         * mapped afresh when needed). */
        FactsChunk *gone = *c;

        s->n_dead -= gone->n_facts - 1;
        *c = gone->next;
        (void) munmap(gone, gone->size);
}

bool facts_store_sparse(const FactsStore *s) {
        return s->n_dead >= SPARSE_MIN && s->n_dead > s->n_live;
}
