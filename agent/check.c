/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fd-util.h"
#include "pool.h"

/* Certificates and keys are small; anything bigger than this is not one and is not worth reading. */
#define INPUT_MAX (64U * 1024U * 1024U)

/* One CA file's trust list, loaded once per worker (GnuTLS trust lists are not shared across threads). */
typedef struct TrustEntry {
        const char *path; /* NULL: the system store */
        gnutls_x509_trust_list_t trust;
        gnutls_x509_crt_t *cas; /* the anchors of an explicit CA file, for the direct verification */
        unsigned n_cas;
        int error; /* > 0 when the anchors could not be loaded */
} TrustEntry;

/* Per-thread state: reusable buffers and trust lists. */
typedef struct Worker {
        FileBuffer cert, key;
        TrustEntry *trust;
        size_t n_trust;
} Worker;

typedef struct Job {
        const Inventory *inv;
        CheckResult *results;
        Worker *workers;
        usec_t now;
} Job;

static TrustEntry *worker_trust(Worker *w, const char *path) {
        TrustEntry *t;
        FileBuffer b = {};
        int r;

        for (size_t i = 0; i < w->n_trust; i++)
                if (w->trust[i].path == path || (path && w->trust[i].path && strcmp(w->trust[i].path, path) == 0))
                        return &w->trust[i];

        t = realloc(w->trust, (w->n_trust + 1) * sizeof(TrustEntry));
        if (!t)
                return NULL;
        w->trust = t;
        t = &w->trust[w->n_trust++];
        *t = (TrustEntry) { .path = path };

        if (path) {
                r = read_file_into(path, INPUT_MAX, &b, NULL);
                if (r >= 0)
                        r = x509_trust_new(b.data, b.size, &t->trust);
                if (r >= 0 && x509_load_crts(b.data, b.size, &t->cas, &t->n_cas) < 0)
                        t->n_cas = 0; /* the trust list alone will do */
                free(b.data);
        } else
                r = x509_trust_new(NULL, 0, &t->trust);
        if (r < 0)
                t->error = -r;
        return t;
}

/* The CA named by `ca` is unusable: a problem of the inventory, reported on each certificate using it. */
static int add_trust_problem(CertFacts *f, const char *path, int error) {
        return cert_facts_add_problem(f, PROBLEM_UNTRUSTED_CHAIN, "cannot load trust anchors from %s: %s",
                                      path ?: "the system store",
                                      error == EBADMSG ? "no certificate in it" : file_strerror(error));
}

static int inspect_one(unsigned worker, size_t item, void *userdata) {
        Job *job = userdata;
        Worker *w = &job->workers[worker];
        CheckResult *res = &job->results[item];
        const CertConfig *c = res->cert;
        const Inventory *inv = job->inv;
        _cleanup_free_ char *password = NULL;
        TrustEntry *trust;
        X509Input in = {
                .cert_path = c->certificate,
                .key_path = c->key,
                .key_mode = (mode_t) -1,
                .names = c->names,
                .usage = c->usage,
                .warn_before = cert_warn_before(inv, c),
                .critical_before = cert_critical_before(inv, c),
        };
        int r;

        trust = worker_trust(w, c->ca);
        if (!trust)
                return -ENOMEM;
        in.trust = trust->trust;
        in.cas = trust->cas;
        in.n_cas = trust->n_cas;

        r = read_file_into(c->certificate, INPUT_MAX, &w->cert, NULL);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                in.cert_errno = -r;
        else {
                in.cert_data = w->cert.data;
                in.cert_size = w->cert.size;
        }

        if (c->key) {
                r = read_file_into(c->key, INPUT_MAX, &w->key, &in.key_mode);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        in.key_errno = -r;
                else {
                        in.key_data = w->key.data;
                        in.key_size = w->key.size;
                }
                if (c->key_password_file) {
                        r = read_secret_file(c->key_password_file, &password);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0)
                                in.key_password_errno = -r;
                        in.key_password = password;
                }
        }

        r = x509_inspect(&in, job->now, &res->facts);
        if (r < 0)
                return r;
        if (trust->error > 0 && res->facts->parsed)
                return add_trust_problem(res->facts, c->ca, trust->error);
        return 0;
}

static void worker_done(Worker *w) {
        free(w->cert.data);
        free(w->key.data);
        for (size_t i = 0; i < w->n_trust; i++) {
                if (w->trust[i].trust)
                        gnutls_x509_trust_list_deinit(w->trust[i].trust, 1);
                x509_crts_free(w->trust[i].cas, w->trust[i].n_cas);
        }
        free(w->trust);
}

CheckReport *check_report_free(CheckReport *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n_results; i++)
                cert_facts_free(r->results[i].facts);
        free(r->results);
        free(r);
        return NULL;
}

int check_run(const Inventory *inv, CertConfig *const *certs, unsigned threads, usec_t now, CheckReport **ret) {
        _cleanup_check_report_ CheckReport *rep = NULL;
        _cleanup_free_ Worker *workers = NULL;
        size_t n = certs ? strv_length((char *const *) certs) : inv->n_certs;
        int r;

        rep = calloc(1, sizeof(*rep));
        if (!rep)
                return -ENOMEM;
        rep->results = calloc(n ? n : 1, sizeof(CheckResult));
        if (!rep->results)
                return -ENOMEM;
        rep->n_results = n;
        for (size_t i = 0; i < n; i++)
                rep->results[i].cert = certs ? certs[i] : inv->certs[i];

        /* A thread per 16 certificates at most: for a handful, spawning costs more than it saves. */
        if (threads == 0)
                threads = pool_threads_for(n, 16);
        workers = calloc(threads, sizeof(Worker));
        if (!workers)
                return -ENOMEM;
        r = pool_run(n, threads, inspect_one,
                     &(Job) { .inv = inv, .results = rep->results, .workers = workers, .now = now });
        for (unsigned i = 0; i < threads; i++)
                worker_done(&workers[i]);
        if (r < 0)
                return r;

        for (size_t i = 0; i < n; i++) {
                Severity s = rep->results[i].facts->state;
                rep->count[s]++;
                if (s > rep->worst)
                        rep->worst = s;
        }
        *ret = TAKE_PTR(rep);
        return 0;
}
