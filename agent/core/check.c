/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <assert.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "check.h"
#include "crl.h"
#include "fd-util.h"
#include "log.h"
#include "outputs.h"
#include "pool.h"
#include "token.h"

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

/* issue 11: an internal CA's current key id (its certificate's subject key id), once per worker. */
typedef struct CaKeyId {
        const CaConfig *ca;
        uint8_t id[64];
        size_t size; /* 0: unknown (no CA certificate yet) */
} CaKeyId;

/* Per-thread state: reusable buffers and trust lists. */
typedef struct Worker {
        FileBuffer cert, key;
        TrustEntry *trust;
        size_t n_trust;
        CaKeyId *ca_ids;
        size_t n_ca_ids;
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

static const CaKeyId *worker_ca_id(Worker *w, const CaConfig *ca) {
        FileBuffer b = {};
        gnutls_x509_crt_t *crts = NULL;
        unsigned n = 0, critical;
        CaKeyId *k;

        for (size_t i = 0; i < w->n_ca_ids; i++)
                if (w->ca_ids[i].ca == ca)
                        return &w->ca_ids[i];
        k = realloc(w->ca_ids, (w->n_ca_ids + 1) * sizeof(CaKeyId));
        if (!k)
                return NULL;
        w->ca_ids = k;
        k = &w->ca_ids[w->n_ca_ids++];
        *k = (CaKeyId) { .ca = ca };
        if (read_file_into(ca->certificate, INPUT_MAX, &b, NULL) >= 0 && x509_load_crts(b.data, b.size, &crts, &n) >= 0) {
                k->size = sizeof(k->id);
                if (gnutls_x509_crt_get_subject_key_id(crts[0], k->id, &k->size, &critical) < 0 &&
                    (k->size = sizeof(k->id), gnutls_x509_crt_get_key_id(crts[0], GNUTLS_KEYID_USE_SHA1, k->id, &k->size) < 0))
                        k->size = 0;
                x509_crts_free(crts, n);
        }
        free(b.data);
        return k;
}

/* issue 11: a leaf of ca:NAME whose authority key id is not the CA's current key was issued by an
 * earlier generation (ca rotate): due for re-issue. A leaf without the extension is left alone. */
static bool leaf_ca_rotated(Worker *w, const Inventory *inv, const CertConfig *c, const uint8_t *data, size_t size) {
        const CaConfig *ca = c->issuer == ISSUER_CA ? inventory_find_ca(inv, c->issuer_name) : NULL;
        const CaKeyId *k = ca ? worker_ca_id(w, ca) : NULL;
        gnutls_x509_crt_t *crts = NULL;
        uint8_t aki[64];
        size_t aki_size = sizeof(aki);
        unsigned n = 0, critical;
        bool rotated = false;

        if (!k || k->size == 0 || !data || x509_load_crts(data, size, &crts, &n) < 0)
                return false;
        if (gnutls_x509_crt_get_authority_key_id(crts[0], aki, &aki_size, &critical) >= 0)
                rotated = aki_size != k->size || memcmp(aki, k->id, aki_size) != 0;
        x509_crts_free(crts, n);
        return rotated;
}

static int inspect_one(unsigned worker, size_t item, void *userdata) {
        Job *job = userdata;
        Worker *w = &job->workers[worker];
        CheckResult *res = &job->results[item];
        const CertConfig *c = res->cert;
        const Inventory *inv = job->inv;
        _cleanup_free_ char *password = NULL;
        uint8_t key_pin[PIN_SIZE];
        TrustEntry *trust;
        X509Input in = {
                .cert_path = c->certificate,
                .key_path = c->key,
                .key_mode = (mode_t) -1,
                .key_mode_set = c->mode_set,
                .key_mode_configured = c->mode,
                .self_anchor = c->issuer == ISSUER_SELF,
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

        if (token_is_url(c->key)) {
                /* A key in a token: its public key, for the pairing check (no file, no mode). */
                r = token_key_pin(c->key, c->pkcs11_pin_file, key_pin, NULL);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        in.key_errno = -r;
                else
                        in.key_pin = key_pin;
        } else if (c->key) {
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
        /* Revocation (issue 11): its CRLs and the compromised-keys list. */
        r = crl_check_cert(inv, c, res->facts, job->now);
        if (r < 0)
                return r;
        if (c->issuer == ISSUER_CA && res->facts->parsed)
                res->ca_rotated = leaf_ca_rotated(w, inv, c, in.cert_data, in.cert_size);
        /* chain, leaf, combined, pkcs12: the same generation as the certificate, with its key. */
        r = outputs_inspect(c, in.cert_data, in.cert_size, password, res->facts);
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
        free(w->ca_ids);
}

CheckReport *check_report_free(CheckReport *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n_results; i++)
                cert_facts_free(r->results[i].facts);
        free(r->results);
        free(r->plans);
        for (size_t i = 0; r->notes && i < r->n_results; i++)
                check_notes_done(&r->notes[i]);
        free(r->notes);
        for (size_t i = 0; i < r->n_cas; i++)
                cert_facts_free(r->cas[i].facts);
        free(r->cas);
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
                Severity s = check_notes_state(rep->results[i].facts, rep->notes ? &rep->notes[i] : NULL);
                rep->count[s]++;
                if (s > rep->worst)
                        rep->worst = s;
        }
        *ret = TAKE_PTR(rep);
        return 0;
}

void cert_states_free(CertState *states, size_t n) {
        for (size_t i = 0; states && i < n; i++)
                cert_state_done(&states[i]);
        free(states);
}

int check_load_states(const Inventory *inv, const CheckReport *rep, CertState **ret) {
        CertState *states = calloc(rep->n_results ? rep->n_results : 1, sizeof(CertState));

        if (!states)
                return -ENOMEM;
        for (size_t i = 0; i < rep->n_results; i++) {
                int r = state_load(inv->agent.state_directory, rep->results[i].cert->name, &states[i]);
                if (r == -ENOMEM) {
                        cert_states_free(states, rep->n_results);
                        return r;
                }
                if (r < 0)
                        log_warning_errno(r, "%s: cannot read its saved state: %m, ignoring",
                                          rep->results[i].cert->name);
        }
        *ret = states;
        return 0;
}

void check_notes_done(CheckNotes *n) {
        for (size_t i = 0; i < n->n; i++)
                free(n->problems[i].message);
        *n = (CheckNotes) {};
}

static int note_add(CheckNotes *n, ProblemCode code, Severity severity, const char *fmt, ...) _printf_(4, 5);

static int note_add(CheckNotes *n, ProblemCode code, Severity severity, const char *fmt, ...) {
        va_list ap;
        char *m;
        int r;

        assert(n->n < ELEMENTSOF(n->problems));
        va_start(ap, fmt);
        r = vasprintf(&m, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        n->problems[n->n++] = (Problem) { .code = code, .severity = severity, .message = m };
        return 0;
}

Severity check_notes_state(const CertFacts *f, const CheckNotes *n) {
        Severity s = f ? f->state : SEVERITY_CRITICAL;

        for (size_t i = 0; n && i < n->n; i++)
                if (n->problems[i].severity > s)
                        s = n->problems[i].severity;
        return s;
}

const CertFacts *check_result_shown(const CheckReport *rep, size_t i, CheckShown *buf) {
        const CertFacts *f = rep->results[i].facts;
        const CheckNotes *n = rep->notes ? &rep->notes[i] : NULL;

        *buf = (CheckShown) {};
        if (!n || n->n == 0)
                return f;
        buf->problems = calloc(f->n_problems + n->n, sizeof(Problem));
        if (!buf->problems)
                return f; /* out of memory: what was inspected, at least */
        if (f->n_problems > 0)
                memcpy(buf->problems, f->problems, f->n_problems * sizeof(Problem));
        memcpy(buf->problems + f->n_problems, n->problems, n->n * sizeof(Problem));
        buf->facts = *f;
        buf->facts.problems = buf->problems;
        buf->facts.n_problems = f->n_problems + n->n;
        buf->facts.state = check_notes_state(f, n);
        return &buf->facts;
}

void check_shown_done(CheckShown *buf) {
        free(buf->problems);
        *buf = (CheckShown) {};
}

static void hash_str(gnutls_hash_hd_t h, const char *s) {
        /* With its NUL: "ab" + "c" and "a" + "bc" differ. */
        (void) gnutls_hash(h, s ?: "", strlen(s ?: "") + 1);
}

static void hash_file(gnutls_hash_hd_t h, const char *path) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t size = 0;

        if (path && read_full_file(path, INPUT_MAX, &data, &size) >= 0)
                (void) gnutls_hash(h, data, size);
        else
                hash_str(h, "(none)");
        hash_str(h, "");
}

int check_inputs_fingerprint(const CertConfig *c, char ret[65]) {
        gnutls_hash_hd_t h;
        uint8_t d[32];

        if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
                return -ENOMEM;
        hash_str(h, issuer_kind_to_string(c->issuer));
        hash_str(h, c->issuer_name);
        for (char **n = c->names; n && *n; n++)
                hash_str(h, *n);
        hash_str(h, key_type_to_string(c->key_type));
        hash_str(h, usage_to_string(c->usage));
        hash_str(h, c->certificate);
        hash_str(h, c->key);
        hash_str(h, c->ca);
        hash_file(h, c->ca);
        hash_file(h, c->certificate);
        gnutls_hash_deinit(h, d);
        for (size_t i = 0; i < sizeof(d); i++)
                snprintf(ret + 2 * i, 3, "%02x", d[i]);
        return 0;
}

/* Whether the inputs are what they were when an issued certificate was refused: 1 the same, 0 not held,
 * -1 held but changed since. */
static int inputs_held(const CertConfig *c, const CertState *st) {
        char fp[65];

        if (c->issuer != ISSUER_ACME || !st || !st->held_inputs)
                return 0;
        return check_inputs_fingerprint(c, fp) >= 0 && strcmp(fp, st->held_inputs) == 0 ? 1 : -1;
}

int check_plan_set(const Inventory *inv, const CertConfig *c, const CertFacts *f, bool ca_rotated,
                   const CertState *st, PlanFlags flags, usec_t now, Plan *ret, CheckNotes *ret_notes) {
        char when[32];
        int r, held = inputs_held(c, st);
        Plan *p = ret;

        *p = policy_plan(&(PlanInput) { .name = c->name, .can_renew = c->issuer != ISSUER_NONE, .facts = f,
                                        .state = st, .held = held > 0, .held_changed = held < 0,
                                        .ca_rotated = ca_rotated,
                                        .renew_before = cert_renew_before(inv, c),
                                        .warn_before = cert_warn_before(inv, c),
                                        .critical_before = cert_critical_before(inv, c) },
                         flags, now);
        check_notes_done(ret_notes);
        if (!st)
                return 0;
        if (st->deploy_failed) {
                r = note_add(ret_notes, PROBLEM_DEPLOY_FAILED, problem_code_severity(PROBLEM_DEPLOY_FAILED),
                             "deploy of serial %s failed at %s: %s", st->deploy_serial ?: "?",
                             st->deploy_step ?: "?", st->deploy_error ?: "?");
                if (r < 0)
                        return r;
        }
        if (p->failing && p->action == PLAN_HELD)
                return note_add(ret_notes, PROBLEM_RENEWAL_FAILING, p->failing_severity,
                                "%u failed renewal attempt%s, last error: %s; the certificate issued was kept in "
                                "%s/certs/%s.pending.pem, no new order until the inventory or its files change",
                                st->failures, st->failures == 1 ? "" : "s", st->last_error ?: "unknown",
                                inv->agent.state_directory, c->name);
        if (p->failing) {
                usec_t next = p->action == PLAN_BACKOFF ? p->retry : st->next_retry > now ? st->next_retry : now;

                return note_add(ret_notes, PROBLEM_RENEWAL_FAILING, p->failing_severity,
                                "%u failed renewal attempt%s, last error: %s; next attempt %s", st->failures,
                                st->failures == 1 ? "" : "s", st->last_error ?: "unknown",
                                format_timestamp_iso(when, sizeof(when), next));
        }
        return 0;
}

int check_plan_one(const Inventory *inv, CheckReport *rep, size_t i, PlanFlags flags, usec_t now) {
        CheckResult *res = &rep->results[i];

        if (!rep->plans && !(rep->plans = calloc(rep->n_results ? rep->n_results : 1, sizeof(Plan))))
                return -ENOMEM;
        if (!rep->notes && !(rep->notes = calloc(rep->n_results ? rep->n_results : 1, sizeof(CheckNotes))))
                return -ENOMEM;
        return check_plan_set(inv, res->cert, res->facts, res->ca_rotated, rep->states ? &rep->states[i] : NULL,
                              flags, now, &rep->plans[i], &rep->notes[i]);
}

void check_report_recount(CheckReport *rep) {
        memset(rep->count, 0, sizeof(rep->count));
        rep->worst = SEVERITY_OK;
        for (size_t i = 0; i < rep->n_results; i++) {
                Severity s = check_notes_state(rep->results[i].facts, rep->notes ? &rep->notes[i] : NULL);
                rep->count[s]++;
                if (s > rep->worst)
                        rep->worst = s;
        }
        for (size_t i = 0; i < rep->n_cas; i++)
                if (rep->cas[i].facts->parsed && rep->cas[i].facts->state > rep->worst)
                        rep->worst = rep->cas[i].facts->state;
}

int check_plan(const Inventory *inv, CheckReport *rep, PlanFlags flags, usec_t now) {
        for (size_t i = 0; i < rep->n_results; i++) {
                int r = check_plan_one(inv, rep, i, flags, now);
                if (r < 0)
                        return r;
        }
        check_report_recount(rep);
        return 0;
}

/* A CA certificate is not a server's: only what says when it stops working is its problem. */
static void keep_ca_problems(CertFacts *f) {
        size_t k = 0;

        f->state = SEVERITY_OK;
        for (size_t i = 0; i < f->n_problems; i++) {
                Problem p = f->problems[i];

                if (p.code == PROBLEM_USAGE_MISSING || p.code == PROBLEM_NAME_MISSING ||
                    p.code == PROBLEM_KEY_MISMATCH || p.code == PROBLEM_UNTRUSTED_CHAIN ||
                    p.code == PROBLEM_KEY_PERMISSIONS) {
                        free(p.message);
                        continue;
                }
                if (p.severity > f->state)
                        f->state = p.severity;
                f->problems[k++] = p;
        }
        f->n_problems = k;
}

int check_cas(const Inventory *inv, CheckReport *rep, usec_t now) {
        FileBuffer b = {};
        int r = 0;

        rep->cas = calloc(inv->n_ca ? inv->n_ca : 1, sizeof(CheckCa));
        if (!rep->cas)
                return -ENOMEM;
        for (size_t i = 0; i < inv->n_ca; i++) {
                const CaConfig *ca = inv->ca[i];
                X509Input in = {
                        .cert_path = ca->certificate,
                        .key_mode = (mode_t) -1,
                        .warn_before = inv->agent.warn_before,
                        .critical_before = inv->agent.critical_before,
                };

                r = read_file_into(ca->certificate, INPUT_MAX, &b, NULL);
                if (r == -ENOMEM)
                        break;
                if (r < 0)
                        in.cert_errno = -r;
                else {
                        in.cert_data = b.data;
                        in.cert_size = b.size;
                }
                rep->cas[rep->n_cas].ca = ca;
                r = x509_inspect(&in, now, &rep->cas[rep->n_cas].facts);
                if (r < 0)
                        break;
                keep_ca_problems(rep->cas[rep->n_cas].facts);
                /* Its own CRL: missing, or lapsing because it was not re-signed in time. */
                r = crl_check_ca(inv, ca, rep->cas[rep->n_cas++].facts, now);
                if (r < 0)
                        break;
        }
        free(b.data);
        if (r < 0)
                return r;
        check_report_recount(rep);
        return 0;
}
