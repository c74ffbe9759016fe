/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <assert.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "acme-budget.h"
#include "ca-pki.h"
#include "ca-rotate.h"
#include "caa.h"
#include "check.h"
#include "config-value.h"
#include "crl.h"
#include "fd-util.h"
#include "keys.h"
#include "log.h"
#include "outputs.h"
#include "pool.h"
#include "revocations.h"
#include "token.h"

/* Certificates and keys are small; anything bigger than this is not one and is not worth reading. */
#define INPUT_MAX (64U * 1024U * 1024U)

/* One CA file's trust list, loaded once per worker (GnuTLS trust lists are not shared across threads). */
typedef struct TrustEntry {
        const char *path; /* NULL: the system store, or `ca`'s bundle */
        const CaConfig
                *ca; /* a set of ca:NAME without `ca =`: trusts its CA, as issuer = self trusts itself */
        gnutls_x509_trust_list_t trust;
        gnutls_x509_crt_t *cas; /* the anchors of an explicit CA file, for the direct verification */
        unsigned n_cas;
        int error; /* > 0 when the anchors could not be loaded */
} TrustEntry;

/* An internal CA's current key id (its certificate's subject key id), once per worker. */
typedef struct CaKeyId {
        const CaConfig *ca;
        uint8_t id[64];
        size_t size;       /* 0: unknown (no CA certificate yet) */
        usec_t reissue_at; /* when leaves of its previous generation move to it (ca-rotate.h); 0: at once */
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
        const Revocations *revoked; /* certherd's own revocation record, read once for all sets */
} Job;

static TrustEntry *worker_trust(Worker *w, const Inventory *inv, const CertConfig *c) {
        const CaConfig *ca = !c->ca && c->issuer == ISSUER_CA ? inventory_find_ca(inv, c->issuer_name)
                                                              : NULL;
        const char *path = c->ca;
        TrustEntry *t;
        FileBuffer b = {};
        int r;

        for (size_t i = 0; i < w->n_trust; i++)
                if (w->trust[i].ca == ca &&
                    (w->trust[i].path == path ||
                     (path && w->trust[i].path && strcmp(w->trust[i].path, path) == 0)))
                        return &w->trust[i];

        t = realloc(w->trust, (w->n_trust + 1) * sizeof(TrustEntry));
        if (!t)
                return NULL;
        w->trust = t;
        t = &w->trust[w->n_trust++];
        *t = (TrustEntry){ .path = path, .ca = ca };

        if (ca) {
                gnutls_datum_t pem = {};

                r = ca_trust_bundle(inv, ca, &pem);
                if (r >= 0) {
                        b.data = pem.data;
                        b.size = pem.size;
                }
        } else if (path)
                r = read_file_into(path, INPUT_MAX, &b, NULL);
        else
                r = x509_trust_new(NULL, 0, &t->trust);
        if (r >= 0 && b.data) {
                r = x509_trust_new(b.data, b.size, &t->trust);
                if (r >= 0 && x509_load_crts(b.data, b.size, &t->cas, &t->n_cas) < 0)
                        t->n_cas = 0; /* the trust list alone will do */
        }
        if (ca)
                gnutls_free(b.data);
        else
                free(b.data);
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

static const CaKeyId *worker_ca_id(Worker *w, const Inventory *inv, const CaConfig *ca) {
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
        *k = (CaKeyId){ .ca = ca };
        if (read_file_into(ca->certificate, INPUT_MAX, &b, NULL) >= 0 &&
            x509_load_crts(b.data, b.size, &crts, &n) >= 0) {
                k->size = sizeof(k->id);
                if (gnutls_x509_crt_get_subject_key_id(crts[0], k->id, &k->size, &critical) < 0 &&
                    (k->size = sizeof(k->id),
                     gnutls_x509_crt_get_key_id(crts[0], GNUTLS_KEYID_USE_SHA1, k->id, &k->size) < 0))
                        k->size = 0;
                x509_crts_free(crts, n);
        }
        free(b.data);
        if (ca_reissue_time(inv, ca, &k->reissue_at) <= 0)
                k->reissue_at = 0;
        return k;
}

/* A leaf of ca:NAME whose authority key id is not the CA's current key was issued by an
 * earlier generation (ca rotate): due for re-issue, from *ret_reissue_at (after the rotation's overlap).
 * A leaf without the extension is left alone. */
static bool leaf_ca_rotated(Worker *w, const Inventory *inv, const CertConfig *c, const uint8_t *data,
                            size_t size, usec_t *ret_reissue_at) {
        const CaConfig *ca = c->issuer == ISSUER_CA ? inventory_find_ca(inv, c->issuer_name) : NULL;
        const CaKeyId *k = ca ? worker_ca_id(w, inv, ca) : NULL;
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
        *ret_reissue_at = k->reissue_at;
        return rotated;
}

/* A certificate certherd revoked itself (revoke, ca revoke) is revoked whether or not its CA publishes a
 * CRL that says so, and whether or not the peer fetched it yet. */
static int check_own_revocation(const Revocations *revoked, const CertConfig *c, CertFacts *f) {
        const Revocation *rev;
        char when[32];

        if (!f->parsed || !f->serial)
                return 0;
        for (size_t i = 0; i < f->n_problems; i++)
                if (f->problems[i].code == PROBLEM_REVOKED)
                        return 0;
        rev = revocations_lookup(revoked, c->name, f->serial);
        if (!rev)
                return 0;
        return cert_facts_add_problem(
                f, PROBLEM_REVOKED,
                "serial %s was revoked by certherd on %s (%s); renew replaces it with a new key", f->serial,
                format_timestamp_iso(when, sizeof(when), rev->revoked_at), rev->reason);
}

/* Revocation: the set's CRLs, believed only when signed by its issuer, whose certificate is in the
 * chain after the leaf or among the trust anchors (the system store is asked for the chain's last
 * issuer); and the compromised-keys list. */
static int check_crls(const Inventory *inv, const CertConfig *c, const X509Input *in,
                      const TrustEntry *trust, CertFacts *f, usec_t now) {
        gnutls_x509_crt_t *chain = NULL, *cas = NULL, found = NULL;
        unsigned n = 0, n_cas = 0;
        int r;

        if (!crl_cert_has_crls(inv, c) || !f->parsed || !in->cert_data ||
            x509_load_crts(in->cert_data, in->cert_size, &chain, &n) < 0 || n == 0)
                return crl_check_cert(inv, c, NULL, NULL, 0, f, now);
        cas = calloc(n + trust->n_cas + 1, sizeof(gnutls_x509_crt_t));
        if (!cas) {
                x509_crts_free(chain, n);
                return -ENOMEM;
        }
        for (unsigned i = 1; i < n; i++)
                cas[n_cas++] = chain[i];
        for (unsigned i = 0; i < trust->n_cas; i++)
                cas[n_cas++] = trust->cas[i];
        if (trust->n_cas == 0 && trust->trust &&
            gnutls_x509_trust_list_get_issuer(trust->trust, chain[n - 1], &found, GNUTLS_TL_GET_COPY) < 0)
                found = NULL;
        if (found)
                cas[n_cas++] = found;
        r = crl_check_cert(inv, c, chain[0], cas, n_cas, f, now);
        if (found)
                gnutls_x509_crt_deinit(found);
        free(cas);
        x509_crts_free(chain, n);
        return r;
}

/* The key's side of the inputs: a token key's public pin, or the key file (with its mode) and the password
 * that opens it. Only -ENOMEM fails; what cannot be read is recorded in `in` and becomes a problem. */
static int read_key_inputs(Worker *w, const CertConfig *c, uint8_t key_pin[static PIN_SIZE], char **password,
                           X509Input *in) {
        int r;

        if (token_is_url(c->key)) {
                /* A key in a token: its public key, for the pairing check (no file, no mode). */
                r = token_key_pin(c->key, c->x->pkcs11_pin_file, key_pin, NULL);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        in->key_errno = -r;
                else
                        in->key_pin = key_pin;
                return 0;
        }
        if (!c->key)
                return 0;
        r = read_file_into(c->key, INPUT_MAX, &w->key, &in->key_mode);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                in->key_errno = -r;
        else {
                in->key_data = w->key.data;
                in->key_size = w->key.size;
        }
        if (c->x->key_password_file) {
                r = read_secret_file(c->x->key_password_file, password);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        in->key_password_errno = -r;
                in->key_password = *password;
        }
        return 0;
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

        trust = worker_trust(w, inv, c);
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

        r = read_key_inputs(w, c, key_pin, &password, &in);
        if (r < 0)
                return r;

        r = x509_inspect(&in, job->now, &res->facts);
        if (r < 0)
                return r;
        /* Revocation: its CRLs and the compromised-keys list. */
        r = check_crls(inv, c, &in, trust, res->facts, job->now);
        if (r < 0)
                return r;
        r = check_own_revocation(job->revoked, c, res->facts);
        if (r < 0)
                return r;
        if (c->issuer == ISSUER_CA && res->facts->parsed)
                res->ca_rotated = leaf_ca_rotated(w, inv, c, in.cert_data, in.cert_size,
                                                  &res->ca_reissue_at);
        /* chain, leaf, combined, pkcs12: the same generation as the certificate, with its key. */
        r = outputs_inspect(c, in.cert_data, in.cert_size, password, res->facts);
        if (r < 0)
                return r;
        if (trust->error > 0 && res->facts->parsed)
                return add_trust_problem(res->facts,
                                         c->ca
                                                 ?: trust->ca ? trust->ca->certificate
                                                              : NULL,
                                         trust->error);
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
        for (size_t i = 0; r->plans && i < r->n_results; i++)
                plan_done(&r->plans[i]);
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

int check_run(const Inventory *inv, CertConfig *const *certs, unsigned threads, usec_t now,
              CheckReport **ret) {
        _cleanup_check_report_ CheckReport *rep = NULL;
        _cleanup_(revocations_done) Revocations revoked = {};
        _cleanup_free_ Worker *workers = NULL;
        size_t n = certs ? strv_length((char *const *) certs) : inv->n_certs;
        int r;

        rep = calloc(1, sizeof(*rep));
        if (!rep)
                return -ENOMEM;
        rep->results = new0(CheckResult, n);
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
        /* Read once, not per set; a damaged record is reported, and check goes on without it. */
        r = revocations_load(inv->agent.state_directory, &revoked);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                log_warning_errno(r, "cannot read %s/revocations.json: %m, ignoring",
                                  inv->agent.state_directory);
        r = pool_run(n, threads, inspect_one,
                     &(Job){ .inv = inv,
                             .results = rep->results,
                             .workers = workers,
                             .now = now,
                             .revoked = &revoked });
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
        CertState *states = new0(CertState, rep->n_results);

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
        *n = (CheckNotes){};
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
        n->problems[n->n++] = (Problem){ .code = code, .severity = severity, .message = m };
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

        *buf = (CheckShown){};
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
        *buf = (CheckShown){};
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

int check_inputs_fingerprint(const Inventory *inv, const CertConfig *c, char ret[65]) {
        const CaConfig *ca = c->issuer == ISSUER_CA ? inventory_find_ca(inv, c->issuer_name) : NULL;
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
        /* An internal CA's set trusts its CA without `ca =`: a new CA certificate is a change too. */
        if (ca)
                hash_file(h, ca->certificate);
        gnutls_hash_deinit(h, d);
        for (size_t i = 0; i < sizeof(d); i++)
                snprintf(ret + 2 * i, 3, "%02x", d[i]);
        return 0;
}

/* Whether the inputs are what they were when an issued certificate was refused: 1 the same, 0 not held,
 * -1 held but changed since. */
static int inputs_held(const Inventory *inv, const CertConfig *c, const CertState *st) {
        char fp[65];

        if (c->issuer != ISSUER_ACME || !st || !st->held_inputs)
                return 0;
        return check_inputs_fingerprint(inv, c, fp) >= 0 && strcmp(fp, st->held_inputs) == 0 ? 1 : -1;
}

/* Whether the inputs changed since the last issuance; hashed only when the loop guard would trip (it
 * reads the set's files: not for every set at every pass). */
static bool inputs_changed_since_issued(const Inventory *inv, const CertConfig *c, const CertState *st,
                                        const CertFacts *f, usec_t now) {
        char fp[65];

        /* Hashed only when a loop guard could hold the set back: an inventory or its files changed since
         * the last issuance make a renewal worth trying again. */
        if (!st || !st->issued_inputs ||
            (policy_recent_issues(st, f, now) <= POLICY_LOOP_ISSUES && !policy_renewal_ineffective(st, f)))
                return false;
        return check_inputs_fingerprint(inv, c, fp) < 0 || strcmp(fp, st->issued_inputs) != 0;
}

/* The renewal-failing problem of the loop guards (policy_plan). */
static int add_loop_note(const CertState *st, const Plan *p, const CertFacts *f, CheckNotes *n) {
        char when[32], life[CONFIG_USEC_MAX];
        usec_t lifetime = f && f->parsed && f->not_after > f->not_before ? f->not_after - f->not_before : 0;
        unsigned cause = f ? policy_broken_mask(f) : 0;
        char codes[256] = "";
        size_t k = 0;

        for (int i = 0; i < _PROBLEM_CODE_MAX && k + 2 < sizeof(codes); i++)
                if (cause & (1u << i))
                        k += (size_t) snprintf(codes + k, sizeof(codes) - k, "%s%s", k ? ", " : "",
                                               problem_code_to_string((ProblemCode) i));
        if (p->looping)
                return note_add(
                        n, PROBLEM_RENEWAL_FAILING, p->failing_severity,
                        "issued %u times within %s (a quarter of its lifetime), more than %u: renewals stopped "
                        "until the inventory or its files change%s%s",
                        p->recent_issues,
                        config_format_usec(lifetime ? lifetime / 4 : USEC_PER_HOUR, life, sizeof(life)),
                        POLICY_LOOP_ISSUES, k ? "; still " : "", codes);
        return note_add(n, PROBLEM_RENEWAL_FAILING, p->failing_severity,
                        "the renewal at %s left %s in place (%u time%s in a row): a new certificate does "
                        "not fix it; next attempt %s",
                        format_timestamp_iso(when, sizeof(when), st->last_renewal),
                        k ? codes : "its problem", st->ineffective + 1, st->ineffective ? "s" : "",
                        p->action == PLAN_BACKOFF ? format_timestamp_iso(life, sizeof(life), p->retry)
                                                  : "now");
}

/* Whether an order for c now would exceed a rate-limit budget of its ACME server: 1 with when it frees up
 * and which budget, 0, or -ENOMEM. */
static int rate_limit(const Inventory *inv, const CertConfig *c, usec_t now, usec_t *ret_until, char *why,
                      size_t size) {
        _cleanup_(acme_budget_freep) AcmeBudget *b = NULL;
        const AcmeConfig *a = inventory_find_acme(inv, c->issuer_name);
        AcmeBudgetVerdict v;
        int r;

        if (!a)
                return 0;
        r = acme_budget_load(inv, a, &b);
        if (r < 0)
                return r;
        if (acme_budget_check(b, a, c->names, false, now, &v))
                return 0;
        acme_budget_verdict_format(&v, why, size);
        *ret_until = v.until;
        return 1;
}

int check_plan_set(const Inventory *inv, const CertConfig *c, const CertFacts *f, bool ca_rotated,
                   usec_t ca_reissue_at, const CertState *st, PlanFlags flags, usec_t now, Plan *ret,
                   CheckNotes *ret_notes) {
        char when[32], limit[ACME_BUDGET_VERDICT_MAX];
        int r, held = inputs_held(inv, c, st);
        PlanInput in;
        Plan *p = ret;

        in = (PlanInput){ .name = c->name,
                          .can_renew = c->issuer != ISSUER_NONE,
                          .facts = f,
                          .state = st,
                          .held = held > 0,
                          .held_changed = held < 0,
                          .ca_rotated = ca_rotated,
                          .ca_reissue_at = ca_reissue_at,
                          .issued_inputs_changed = inputs_changed_since_issued(inv, c, st, f, now),
                          .renew_before = cert_renew_before(inv, c),
                          .warn_before = cert_warn_before(inv, c),
                          .critical_before = cert_critical_before(inv, c),
                          .window = cert_window(inv, c) };
        plan_done(p);
        *p = policy_plan(&in, flags, now);
        /* An ACME renewal wanted now: would its order exceed a rate-limit budget? Then plan it again with
         * the time that budget frees up. */
        if (p->action == PLAN_RENEW && c->issuer == ISSUER_ACME &&
            rate_limit(inv, c, now, &in.rate_limited_until, limit, sizeof(limit)) > 0) {
                in.rate_limit_why = limit;
                plan_done(p);
                *p = policy_plan(&in, flags, now);
        }
        check_notes_done(ret_notes);
        if (p->rate_limited) {
                r = note_add(ret_notes, PROBLEM_RATE_LIMITED, problem_code_severity(PROBLEM_RATE_LIMITED),
                             "%s: %s", c->issuer_name, limit);
                if (r < 0)
                        return r;
        }
        if (!st)
                return 0;
        if (st->deploy_failed) {
                r = note_add(ret_notes, PROBLEM_DEPLOY_FAILED, problem_code_severity(PROBLEM_DEPLOY_FAILED),
                             "deploy of serial %s failed at %s: %s", st->deploy_serial ?: "?",
                             st->deploy_step ?: "?", st->deploy_error ?: "?");
                if (r < 0)
                        return r;
        }
        if (p->looping || (p->ineffective && st->failures == 0))
                return add_loop_note(st, p, f, ret_notes);
        if (p->failing && p->action == PLAN_HELD)
                return note_add(
                        ret_notes, PROBLEM_RENEWAL_FAILING, p->failing_severity,
                        "%u failed renewal attempt%s, last error: %s; the certificate issued was kept in "
                        "%s/certs/%s.pending.pem, no new order until the inventory or its files change",
                        st->failures, st->failures == 1 ? "" : "s", st->last_error ?: "unknown",
                        inv->agent.state_directory, c->name);
        if (p->failing) {
                usec_t next = p->action == PLAN_BACKOFF ? p->retry
                              : st->next_retry > now    ? st->next_retry
                                                        : now;

                return note_add(ret_notes, PROBLEM_RENEWAL_FAILING, p->failing_severity,
                                "%u failed renewal attempt%s, last error: %s; next attempt %s", st->failures,
                                st->failures == 1 ? "" : "s", st->last_error ?: "unknown",
                                format_timestamp_iso(when, sizeof(when), next));
        }
        return 0;
}

int check_plan_one(const Inventory *inv, CheckReport *rep, size_t i, PlanFlags flags, usec_t now) {
        CheckResult *res = &rep->results[i];

        if (!rep->plans && !(rep->plans = new0(Plan, rep->n_results)))
                return -ENOMEM;
        if (!rep->notes && !(rep->notes = new0(CheckNotes, rep->n_results)))
                return -ENOMEM;
        return check_plan_set(inv, res->cert, res->facts, res->ca_rotated, res->ca_reissue_at,
                              rep->states ? &rep->states[i] : NULL, flags, now, &rep->plans[i],
                              &rep->notes[i]);
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

int check_caa(const Inventory *inv, CheckReport *rep) {
        for (size_t i = 0; i < rep->n_results; i++) {
                CheckResult *res = &rep->results[i];
                _cleanup_free_ char *message = NULL;
                int r;

                if (!res->facts || res->cert->issuer != ISSUER_ACME)
                        continue;
                r = caa_check_set(inv, res->cert, &message);
                if (r < 0)
                        return r;
                if (message && cert_facts_add_problem(res->facts, PROBLEM_CAA_MISMATCH, "%s", message) < 0)
                        return -ENOMEM;
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

        rep->cas = new0(CheckCa, inv->n_ca);
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

void check_next_pins(const Inventory *inv, CheckReport *rep) {
        for (size_t i = 0; i < rep->n_results; i++) {
                CheckResult *res = &rep->results[i];
                const CertFacts *f = res->facts;
                int r;

                res->has_next_pin = false;
                if (res->cert->key_policy != KEY_POLICY_ROTATE || res->cert->issuer == ISSUER_NONE ||
                    !res->cert->key)
                        continue;
                r = keys_next_pin_lookup(inv, res->cert, f && f->has_pin ? f->pin : NULL, res->next_pin);
                if (r < 0 && r != -ENOENT)
                        log_debug_errno(r, "%s: cannot read the next key: %m, no next_pin_sha256",
                                        res->cert->name);
                res->has_next_pin = r >= 0;
        }
}
