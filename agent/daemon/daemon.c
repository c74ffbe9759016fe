/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "acme.h"
#include "acme-ari.h"
#include "bus-api.h"
#include "check.h"
#include "daemon.h"
#include "fd-util.h"
#include "log.h"
#include "outcome.h"
#include "pass.h"
#include "policy.h"
#include "renew.h"
#include "report.h"
#include "state.h"
#include "token.h"

/* Files change in bursts (a key, then its certificate); one inspection after the burst is enough. */
#define RESCAN_DELAY_USEC (100 * 1000)

typedef struct CertRuntime {
        usec_t due;      /* when a renewal is due (USEC_INFINITY: never, e.g. issuer = none) */
        usec_t deadline; /* the earliest moment anything about this certificate needs looking at */
        usec_t ari_next; /* ACME: when to ask the server's renewal window (RFC 9773) again */
        bool dirty;      /* one of its files changed: inspect it again */
} CertRuntime;

/* How often the ACME server's suggested renewal window is asked for, per certificate. */
#define ARI_POLL_USEC (6 * USEC_PER_HOUR)

/* The longest the daemon sleeps between passes (certherd(8) METRICS: at least every 12 h). */
#define PASS_INTERVAL_MAX_USEC (12 * USEC_PER_HOUR)

typedef struct Manager {
        sd_event *event;
        sd_event_source *timer;  /* CLOCK_REALTIME, the earliest deadline */
        sd_event_source *rescan; /* CLOCK_MONOTONIC, debounced inotify */
        sd_event_source *batch_done;
        sd_event_source **watches;
        size_t n_watches;

        char *config_path;
        Inventory *inv;
        CertRuntime *rt;    /* indexed like inv->certs */
        CertState *states;  /* likewise; the report borrows them */
        CheckReport *report;
        int lock_fd;

        /* The renewal batch on its worker thread. */
        pthread_t batch_thread;
        bool batch_running;
        bool crl_due;     /* the batch re-signs the CRLs that are due (pass_crls) */
        usec_t crl_hold;  /* no CRL work before this: the retry time after a failed re-sign */
        int batch_efd;
        RenewJob *jobs;
        size_t n_jobs;
        size_t *ari; /* certificates whose ARI window the batch asks for first */
        size_t n_ari;
        usec_t batch_now;

        bool reload_pending;
        bool rescan_pending;
        bool rescan_all; /* inotify lost events: inspect everything */
        bool exiting;
        uint64_t passes;
        int metrics_error; /* the last pass's metrics-file failure, said once (pass_metrics) */

        BusApi *bus; /* org.certherd1 on the system bus, when there is one (bus-api.h) */
} Manager;

static int manager_pass(Manager *m, bool all);

static void watches_free(Manager *m) {
        for (size_t i = 0; i < m->n_watches; i++)
                sd_event_source_disable_unref(m->watches[i]);
        free(m->watches);
        m->watches = NULL;
        m->n_watches = 0;
}

static Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        bus_api_free(m->bus); /* answers orders still waiting */
        watches_free(m);
        sd_event_source_disable_unref(m->timer);
        sd_event_source_disable_unref(m->rescan);
        sd_event_source_disable_unref(m->batch_done);
        sd_event_unref(m->event);
        check_report_free(m->report);
        cert_states_free(m->states, m->inv ? m->inv->n_certs : 0);
        inventory_free(m->inv);
        free(m->rt);
        for (size_t i = 0; i < m->n_jobs; i++)
                renew_job_done(&m->jobs[i]);
        free(m->jobs);
        free(m->ari);
        free(m->config_path);
        if (m->batch_efd >= 0)
                close(m->batch_efd);
        if (m->lock_fd >= 0)
                close(m->lock_fd);
        free(m);
        return NULL;
}

static void manager_freep(Manager **m) {
        manager_free(*m);
}

static int on_rescan(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        m->rescan_pending = false;
        if (m->batch_running) /* the batch's end runs a full pass anyway */
                return 0;
        log_debug("watched files changed, inspecting them again");
        return manager_pass(m, m->rescan_all);
}

static void schedule_rescan(Manager *m) {
        if (m->rescan_pending)
                return;
        m->rescan_pending = true;
        (void) sd_event_source_set_time_relative(m->rescan, RESCAN_DELAY_USEC);
        (void) sd_event_source_set_enabled(m->rescan, SD_EVENT_ONESHOT);
}

/* issue 11: the certificate of the internal CA that issues `c` (NULL for other issuers): a rotation
 * replaces it, and the set is then due (check: ca_rotated). */
static const char *issuing_ca_certificate(const Inventory *inv, const CertConfig *c) {
        const CaConfig *ca = c->issuer == ISSUER_CA ? inventory_find_ca(inv, c->issuer_name) : NULL;

        return ca ? ca->certificate : NULL;
}

/* issue 11: whether `name` (a file name in a watched directory) is a CRL `c` is checked against: its `crl`
 * files, else its internal CA's. */
static bool crl_named(const Inventory *inv, const CertConfig *c, const char *name) {
        const CaConfig *ca = c->issuer == ISSUER_CA ? inventory_find_ca(inv, c->issuer_name) : NULL;
        const char *base;

        for (char **p = c->crl; p && *p; p++)
                if ((base = strrchr(*p, '/')) && strcmp(base + 1, name) == 0)
                        return true;
        return !c->crl && ca && ca->crl && (base = strrchr(ca->crl, '/')) && strcmp(base + 1, name) == 0;
}

static int on_inotify(sd_event_source *s, const struct inotify_event *ev, void *userdata) {
        Manager *m = userdata;

        /* Only the names the inventory watches matter; a directory may hold much else. */
        if (ev->mask & IN_Q_OVERFLOW) {
                m->rescan_all = true;
                schedule_rescan(m);
                return 0;
        }
        if (ev->len == 0)
                return 0;
        /* A key marked compromised (ca revoke, revoke): any set may hold it. A certificate revoked by
         * certherd (revocations.json) is revoked at once too, with or without a CRL. */
        if (strcmp(ev->name, "compromised-keys.json") == 0 || strcmp(ev->name, "revocations.json") == 0) {
                m->rescan_all = true;
                schedule_rescan(m);
                return 0;
        }
        /* Several certificates may share a file (a CA): mark every one that names it. */
        for (size_t i = 0; i < m->inv->n_certs; i++) {
                const CertConfig *c = m->inv->certs[i];
                /* A key in a token is no file to watch (its URI may hold a pin-source path). The further
                 * outputs too: check compares them, a deleted one makes the set due. */
                const char *paths[] = { c->certificate, token_is_url(c->key) ? NULL : c->key, c->ca,
                                        issuing_ca_certificate(m->inv, c), c->chain, c->leaf, c->combined, c->pkcs12 };

                for (size_t j = 0; j < ELEMENTSOF(paths); j++) {
                        const char *base = paths[j] ? strrchr(paths[j], '/') : NULL;

                        if (base && strcmp(base + 1, ev->name) == 0) {
                                m->rt[i].dirty = true;
                                schedule_rescan(m);
                                break;
                        }
                }
                /* A new CRL (`ca revoke` by hand, another publisher): revoked is seen at once. */
                if (crl_named(m->inv, c, ev->name)) {
                        m->rt[i].dirty = true;
                        schedule_rescan(m);
                }
        }
        return 0;
}

/* inotify on the directory of every watched file: atomic replacements (rename over the file) are seen,
 * which a watch on the file itself would lose with the old inode. */
static int watches_setup(Manager *m) {
        _cleanup_strv_free_ char **dirs = NULL;
        size_t n = 0, n_crl = 0;

        watches_free(m);
        /* issue 11: the sets' CRL files, the CAs' CRLs and the state directory (compromised-keys.json). */
        for (size_t i = 0; i < m->inv->n_certs; i++)
                n_crl += strv_length(m->inv->certs[i]->crl);
        dirs = calloc(8 * m->inv->n_certs + n_crl + m->inv->n_ca + 2, sizeof(char *));
        if (!dirs)
                return -ENOMEM;
        for (size_t i = 0; i < m->inv->n_certs + m->inv->n_ca + 1; i++) {
                char *const *crls = i < m->inv->n_certs ? m->inv->certs[i]->crl : NULL;
                const char *one = i >= m->inv->n_certs && i < m->inv->n_certs + m->inv->n_ca
                                          ? m->inv->ca[i - m->inv->n_certs]->crl
                                  : i == m->inv->n_certs + m->inv->n_ca ? m->inv->agent.state_directory
                                                                         : NULL;
                char *d;

                for (size_t k = 0; crls && crls[k]; k++) {
                        const char *slash = strrchr(crls[k], '/');

                        if (!slash)
                                continue;
                        d = slash == crls[k] ? strdup("/") : strndup(crls[k], (size_t) (slash - crls[k]));
                        if (!d)
                                return -ENOMEM;
                        if (strv_contains(dirs, d))
                                free(d);
                        else
                                dirs[n++] = d;
                }
                if (!one)
                        continue;
                if (one == m->inv->agent.state_directory)
                        d = strdup(one);
                else {
                        const char *slash = strrchr(one, '/');

                        if (!slash)
                                continue;
                        d = slash == one ? strdup("/") : strndup(one, (size_t) (slash - one));
                }
                if (!d)
                        return -ENOMEM;
                if (strv_contains(dirs, d))
                        free(d);
                else
                        dirs[n++] = d;
        }
        for (size_t i = 0; i < m->inv->n_certs; i++) {
                const CertConfig *c = m->inv->certs[i];
                /* A key in a token is no file to watch (its URI may hold a pin-source path). The further
                 * outputs too: check compares them, a deleted one makes the set due. */
                const char *paths[] = { c->certificate, token_is_url(c->key) ? NULL : c->key, c->ca,
                                        issuing_ca_certificate(m->inv, c), c->chain, c->leaf, c->combined, c->pkcs12 };

                for (size_t j = 0; j < ELEMENTSOF(paths); j++) {
                        const char *slash = paths[j] ? strrchr(paths[j], '/') : NULL;
                        char *d;

                        if (!slash)
                                continue;
                        d = slash == paths[j] ? strdup("/") : strndup(paths[j], (size_t) (slash - paths[j]));
                        if (!d)
                                return -ENOMEM;
                        if (strv_contains(dirs, d))
                                free(d);
                        else
                                dirs[n++] = d;
                }
        }

        m->watches = calloc(n ? n : 1, sizeof(sd_event_source *));
        if (!m->watches)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                int r = sd_event_add_inotify(m->event, &m->watches[m->n_watches], dirs[i],
                                             IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                                                     IN_ATTRIB | IN_ONLYDIR,
                                             on_inotify, m);
                if (r < 0) {
                        /* A directory that does not exist yet (first issuance) is seen by the pass. */
                        log_debug_errno(r, "cannot watch %s: %m, ignoring", dirs[i]);
                        continue;
                }
                m->n_watches++;
        }
        return 0;
}

/* `old_n`: how many states the previous inventory had (they are freed here). */
static int runtime_setup(Manager *m, size_t old_n) {
        free(m->rt);
        cert_states_free(m->states, old_n);
        m->states = NULL;
        m->rt = calloc(m->inv->n_certs ? m->inv->n_certs : 1, sizeof(CertRuntime));
        m->states = calloc(m->inv->n_certs ? m->inv->n_certs : 1, sizeof(CertState));
        if (!m->rt || !m->states)
                return -ENOMEM;
        for (size_t i = 0; i < m->inv->n_certs; i++) {
                CertState st;
                int r = state_load(m->inv->agent.state_directory, m->inv->certs[i]->name, &st);
                if (r < 0)
                        log_warning_errno(r, "%s: cannot read its saved state: %m, starting afresh",
                                          m->inv->certs[i]->name);
                /* calloc() left the array zero; pages no set writes to stay untouched, and a large array
                 * is fresh mmap()ed memory: most sets have no saved state, so most of it costs no RSS
                 * (issue 9). */
                else if (!cert_state_is_empty(&st))
                        m->states[i] = st;
        }
        return 0;
}

/* On the batch thread: ask the ACME servers' renewal windows (network: never on the event loop), and
 * add what they say is due to the batch. */
static void batch_ari(Manager *m) {
        AcmeAriSet *a;

        if (m->n_ari == 0)
                return;
        a = acme_ari_set_new(m->inv);
        for (size_t k = 0; k < m->n_ari; k++) {
                size_t i = m->ari[k];

                m->rt[i].ari_next = m->batch_now + ARI_POLL_USEC;
                if (a && acme_ari_set_due(a, m->inv->certs[i], m->batch_now))
                        m->jobs[m->n_jobs++] = (RenewJob) { .cert = m->inv->certs[i],
                                                            .current = m->report->results[i].facts };
        }
        acme_ari_set_free(a);
}

static void *batch_main(void *userdata) {
        Manager *m = userdata;
        uint64_t one = 1;

        /* CRLs first, on this thread: a reload or hook after a new CRL may take as long as a renewal's. */
        if (m->crl_due)
                m->crl_hold = pass_crls(m->inv, now_realtime());
        batch_ari(m);
        renew_many(m->inv, m->jobs, m->n_jobs, RENEW_CONCURRENCY, m->batch_now);
        if (write(m->batch_efd, &one, sizeof(one)) < 0)
                log_error_errno(-errno, "cannot wake the event loop: %m");
        return NULL;
}

static size_t cert_index(Manager *m, const CertConfig *c) {
        for (size_t i = 0; i < m->inv->n_certs; i++)
                if (m->inv->certs[i] == c)
                        return i;
        return SIZE_MAX;
}

static int start_batch(Manager *m, usec_t now) {
        int r;

        m->batch_now = now;
        m->batch_running = true;
        r = pthread_create(&m->batch_thread, NULL, batch_main, m);
        if (r != 0) {
                m->batch_running = false;
                return log_error_errno(-r, "cannot start the renewal thread: %m");
        }
        return 0;
}

static void reload_inventory(Manager *m);

static int on_batch_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        uint64_t v;
        usec_t now = now_realtime();

        (void) read(fd, &v, sizeof(v));
        pthread_join(m->batch_thread, NULL);
        m->batch_running = false;

        for (size_t j = 0; j < m->n_jobs; j++) {
                size_t i = cert_index(m, m->jobs[j].cert);
                int r;

                if (i != SIZE_MAX) {
                        pass_record(m->inv, &m->states[i], &m->jobs[j], m->batch_now, now);
                        r = state_save(m->inv->agent.state_directory, m->inv->certs[i]->name, &m->states[i]);
                        if (r < 0)
                                log_warning_errno(r, "%s: cannot save its state: %m, ignoring", m->inv->certs[i]->name);
                        m->rt[i].dirty = true; /* its files changed (or a failure left them): inspect it again */
                }
        }
        /* New CRLs: every set checked against one is inspected again (revoked, crl-expiring). */
        if (m->crl_due)
                m->rescan_all = true;
        m->crl_due = false;
        bus_api_orders_finish(m->bus); /* the Renew orders of this batch, answered from its jobs */
        for (size_t j = 0; j < m->n_jobs; j++)
                renew_job_done(&m->jobs[j]);
        m->n_jobs = 0;
        if (m->exiting)
                return sd_event_exit(m->event, 0);
        if (m->reload_pending) {
                m->reload_pending = false;
                reload_inventory(m);
                return 0;
        }
        /* Changes seen while the batch ran are marked dirty too; the rest of the inventory is as it was. */
        return manager_pass(m, m->rescan_all);
}

static void format_in(char *buf, size_t size, usec_t delta) {
        if (delta >= 2 * USEC_PER_DAY)
                snprintf(buf, size, "%" PRIu64 " days", delta / USEC_PER_DAY);
        else if (delta >= 2 * USEC_PER_HOUR)
                snprintf(buf, size, "%" PRIu64 " h", delta / USEC_PER_HOUR);
        else if (delta >= 2 * USEC_PER_MINUTE)
                snprintf(buf, size, "%" PRIu64 " min", delta / USEC_PER_MINUTE);
        else
                snprintf(buf, size, "%" PRIu64 " s", delta / USEC_PER_SEC);
}

/* "12 certificates: 1 deploy failed, 10 ok, 1 expiring in 6 days; next renewal nginx in 3 h" */
static void notify_status(Manager *m, usec_t now) {
        const CheckReport *rep = m->report;
        size_t next = SIZE_MAX;
        char status[512], in[32];
        int k;

        for (size_t i = 0; i < rep->n_results; i++)
                if (m->rt[i].due != USEC_INFINITY && (next == SIZE_MAX || m->rt[i].due < m->rt[next].due))
                        next = i;
        k = outcome_status(rep, status, sizeof(status));
        if (k < 0 || (size_t) k >= sizeof(status))
                k = (int) strlen(status);
        if (m->batch_running && m->n_jobs == 0 && m->crl_due)
                snprintf(status + k, sizeof(status) - (size_t) k, "; signing CRLs");
        else if (m->batch_running && m->n_jobs == 0)
                snprintf(status + k, sizeof(status) - (size_t) k, "; asking ACME renewal windows");
        else if (m->batch_running)
                snprintf(status + k, sizeof(status) - (size_t) k, "; renewing %zu", m->n_jobs);
        else if (next != SIZE_MAX) {
                format_in(in, sizeof(in), m->rt[next].due > now ? m->rt[next].due - now : 0);
                snprintf(status + k, sizeof(status) - (size_t) k, "; next renewal %s in %s", m->inv->certs[next]->name, in);
        }
        (void) sd_notifyf(false, "STATUS=%s", status);
}

static int arm_timer(Manager *m, usec_t deadline) {
        int r;

        if (deadline == USEC_INFINITY)
                return sd_event_source_set_enabled(m->timer, SD_EVENT_OFF);
        r = sd_event_source_set_time(m->timer, deadline);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(m->timer, SD_EVENT_ONESHOT);
}

/* Inspect everything, alert, publish pins, start the renewals that are due, and arm the one timer for
 * the earliest deadline: nothing wakes the agent in between. */
/* Inspect the certificates marked dirty (or all) into m->report; `inspected[i]` says which. A change to
 * one file costs one inspection, not one of the whole inventory. */
static int inspect(Manager *m, bool all, usec_t now, bool *inspected) {
        _cleanup_check_report_ CheckReport *part = NULL;
        _cleanup_free_ CertConfig **subset = NULL;
        _cleanup_free_ size_t *index = NULL;
        size_t n = 0;
        int r;

        if (all || !m->report) {
                CheckReport *rep = NULL;

                r = check_run(m->inv, NULL, 0, now, &rep);
                if (r < 0)
                        return r;
                check_report_free(m->report);
                m->report = rep;
                rep->states = m->states;
                for (size_t i = 0; i < m->inv->n_certs; i++)
                        inspected[i] = true;
                return 0;
        }

        subset = calloc(m->inv->n_certs + 1, sizeof(CertConfig *));
        index = calloc(m->inv->n_certs + 1, sizeof(size_t));
        if (!subset || !index)
                return -ENOMEM;
        for (size_t i = 0; i < m->inv->n_certs; i++)
                if (m->rt[i].dirty) {
                        subset[n] = m->inv->certs[i];
                        index[n++] = i;
                }
        if (n == 0)
                return 0;
        r = check_run(m->inv, subset, 0, now, &part);
        if (r < 0)
                return r;

        for (size_t k = 0; k < n; k++) {
                CheckResult *res = &m->report->results[index[k]];

                cert_facts_free(res->facts);
                res->facts = TAKE_PTR(part->results[k].facts);
                res->ca_rotated = part->results[k].ca_rotated; /* issue 11: found with the facts */
                res->ca_reissue_at = part->results[k].ca_reissue_at;
                inspected[index[k]] = true;
        }
        return 0;
}

static int manager_pass(Manager *m, bool all) {
        _cleanup_(publish_batch_freep) PublishBatch *pins = NULL;
        _cleanup_free_ size_t *due = NULL;
        size_t n_due = 0;
        usec_t now = now_realtime(), deadline = USEC_INFINITY;
        _cleanup_free_ bool *inspected = NULL;
        CheckReport *rep;
        int r;

        m->passes++;
        /* A CRL due is a deadline like any other; the batch re-signs it (crl_hold: not before a retry). */
        deadline = pass_crls_due(m->inv, now);
        if (deadline < m->crl_hold)
                deadline = m->crl_hold;
        m->crl_due = deadline <= now;
        if (m->crl_due)
                deadline = USEC_INFINITY; /* the batch's end runs the next pass */
        inspected = calloc(m->inv->n_certs ? m->inv->n_certs : 1, sizeof(bool));
        if (!inspected)
                return log_error_errno(-ENOMEM, "Out of memory");
        r = inspect(m, all, now, inspected);
        if (r < 0)
                return log_error_errno(r, "cannot inspect certificates: %m");
        for (size_t i = 0; i < m->inv->n_certs; i++)
                m->rt[i].dirty = false;
        m->rescan_all = false;
        rep = m->report;

        /* The jobs of this pass: few, usually none. Room for one per set (a RenewJob is ~250 bytes) is what
         * the agent at rest would otherwise carry; only indices are kept per set until the count is known. */
        free(m->jobs);
        free(m->ari);
        m->jobs = NULL;
        m->ari = calloc(rep->n_results ? rep->n_results : 1, sizeof(size_t));
        due = calloc(rep->n_results ? rep->n_results : 1, sizeof(size_t));
        m->n_jobs = m->n_ari = 0;
        if (!due || !m->ari)
                return log_error_errno(-ENOMEM, "Out of memory");

        /* The same decisions as timer mode (pass_decide); the daemon only schedules them. */
        for (size_t i = 0; i < rep->n_results; i++) {
                const CertConfig *c = rep->results[i].cert;
                const Plan *p;

                r = pass_decide(m->inv, rep, i,
                                (PlanFlags) { .daemon = true,
                                              /* a Renew --force order over D-Bus (bus-api.h) */
                                              .force = c->issuer != ISSUER_NONE &&
                                                       bus_api_forced(m->bus, c->name) },
                                now);
                if (r < 0)
                        return log_error_errno(r, "Out of memory");
                if (r > 0 && (r = state_save(m->inv->agent.state_directory, c->name, &m->states[i])) < 0)
                        log_warning_errno(r, "%s: cannot save its state: %m, ignoring", c->name);
                p = &rep->plans[i];
                if (p->action == PLAN_RENEW || p->action == PLAN_DEPLOY) {
                        /* The batch's end runs the next pass: no timer for these. */
                        m->rt[i].due = now;
                        due[n_due++] = i;
                        continue;
                }
                if (p->next < deadline)
                        deadline = p->next;
                m->rt[i].due = p->action == PLAN_BACKOFF ? p->retry : p->action == PLAN_HELD ? USEC_INFINITY : p->due;
                if (p->action == PLAN_NONE && c->issuer == ISSUER_ACME && m->rt[i].ari_next <= now &&
                    p->window_open) /* ARI too waits for a maintenance window */
                        m->ari[m->n_ari++] = i;
                else if (c->issuer == ISSUER_ACME && m->rt[i].ari_next < deadline)
                        deadline = m->rt[i].ari_next;
                if (inspected[i])
                        pass_pins(m->inv, rep, i, &pins, now);
        }
        pass_pins_commit(&pins);
        /* Room for the due sets, and for those the ACME servers' windows (ARI) may add on the batch thread. */
        if (n_due + m->n_ari > 0 && !(m->jobs = calloc(n_due + m->n_ari, sizeof(RenewJob))))
                return log_error_errno(-ENOMEM, "Out of memory");
        for (size_t k = 0; k < n_due; k++)
                m->jobs[m->n_jobs++] = (RenewJob) { .cert = rep->results[due[k]].cert,
                                                    .current = rep->results[due[k]].facts,
                                                    .deploy_only = rep->plans[due[k]].action == PLAN_DEPLOY };
        check_report_recount(rep);
        {
                usec_t ca_next = pass_ca_alerts(m->inv, now); /* issue 11: the CAs' own expiry */

                if (ca_next < deadline)
                        deadline = ca_next;
        }
        pass_metrics(m->inv, rep, now, &m->metrics_error);
        /* A pass at least every PASS_INTERVAL_MAX_USEC, whatever the deadlines: the metrics' last-pass time
         * is how monitoring tells a live agent from a stuck one (CertherdAgentStale). */
        if (deadline > now + PASS_INTERVAL_MAX_USEC)
                deadline = now + PASS_INTERVAL_MAX_USEC;
        r = arm_timer(m, deadline);
        if (r < 0)
                return log_error_errno(r, "cannot arm the timer: %m");
        if ((m->n_jobs > 0 || m->n_ari > 0 || m->crl_due) && start_batch(m, now) < 0)
                m->n_jobs = m->n_ari = 0;
        bus_api_orders_start(m->bus);
        if (!m->batch_running)
                bus_api_orders_finish(m->bus);
        notify_status(m, now);
        /* The inspection ran on every core, and glibc keeps what each thread's arena freed: hand it back, so
         * that the agent at rest holds what it needs and no more (issue 9: idle RSS at 10 000 sets). */
        if (!m->batch_running)
                (void) malloc_trim(0);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        if (m->batch_running)
                return 0;
        return manager_pass(m, true);
}

static int manager_load(Manager *m, Inventory *inv) {
        size_t old_n = m->inv ? m->inv->n_certs : 0;

        /* The states of the old inventory go with it. */
        check_report_free(m->report);
        m->report = NULL;
        if (m->inv != inv) {
                cert_states_free(m->states, old_n);
                m->states = NULL;
                old_n = 0;
                inventory_free(m->inv);
        }
        m->inv = inv;
        m->metrics_error = 0; /* a reload says again what is still wrong */
        /* An install a crash interrupted is finished (or undone) before anything is inspected. */
        pass_recover(inv);
        if (runtime_setup(m, old_n) < 0 || watches_setup(m) < 0)
                return log_error_errno(-ENOMEM, "Out of memory");
        return 0;
}

static void reload_inventory(Manager *m) {
        _cleanup_free_ char *err = NULL;
        Inventory *inv = NULL;
        int r;

        (void) sd_notify(false, "RELOADING=1\nSTATUS=Reloading the inventory");
        r = config_load(m->config_path, &inv, &err);
        if (r < 0) {
                log_error("inventory not reloaded, keeping the running one: %s", err ?: strerror(-r));
                (void) sd_notify(false, "READY=1");
                notify_status(m, now_realtime());
                return;
        }
        if (strcmp(inv->agent.state_directory, m->inv->agent.state_directory) != 0)
                log_warning("state-directory changed to %s; the lock stays on %s until restart, ignoring",
                            inv->agent.state_directory, m->inv->agent.state_directory);
        if (manager_load(m, inv) < 0 || manager_pass(m, true) < 0) {
                (void) sd_event_exit(m->event, -ENOMEM);
                return;
        }
        log_info("inventory reloaded: %zu certificates", m->inv->n_certs);
        (void) sd_notify(false, "READY=1");
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        if (m->batch_running)
                m->reload_pending = true; /* the inventory the batch reads stays until it is done */
        else
                reload_inventory(m);
        return 0;
}

static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        (void) sd_notify(false, "STOPPING=1\nSTATUS=Stopping");
        m->exiting = true;
        /* A renewal in flight finishes its install first: never leave half a pair to recover. */
        if (!m->batch_running)
                return sd_event_exit(m->event, 0);
        /* ACME waits and transfers end at once (orders stay persisted); installs still finish. */
        acme_cancel_all();
        log_info("waiting for %zu renewal(s) in flight", m->n_jobs);
        return 0;
}

static int manager_new(const char *config_path, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        sigset_t mask;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->batch_efd = m->lock_fd = -1;
        if (config_path && !(m->config_path = strdup(config_path)))
                return -ENOMEM;

        r = sd_event_default(&m->event);
        if (r < 0)
                return r;
        sigemptyset(&mask);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        /* Blocked before any thread starts, so the renewal threads inherit the mask and signals reach the
         * signalfd of the loop. */
        if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0)
                return -EINVAL;
        if ((r = sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup, m)) < 0 ||
            (r = sd_event_add_signal(m->event, NULL, SIGTERM, on_sigterm, m)) < 0 ||
            (r = sd_event_add_signal(m->event, NULL, SIGINT, on_sigterm, m)) < 0)
                return r;

        r = sd_event_add_time(m->event, &m->timer, CLOCK_REALTIME, USEC_INFINITY, USEC_PER_SEC, on_timer, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(m->timer, SD_EVENT_OFF);
        r = sd_event_add_time_relative(m->event, &m->rescan, CLOCK_MONOTONIC, RESCAN_DELAY_USEC, 0, on_rescan, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(m->rescan, SD_EVENT_OFF);

        m->batch_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (m->batch_efd < 0)
                return -errno;
        r = sd_event_add_io(m->event, &m->batch_done, m->batch_efd, EPOLLIN, on_batch_done, m);
        if (r < 0)
                return r;
        /* WATCHDOG=1 at half of WatchdogSec=, when systemd asks for it. */
        r = sd_event_set_watchdog(m->event, true);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

/* --- org.certherd1 (bus-api.h): the daemon's answers to check, status and renew orders --- */

static const char *bus_inventory_path(void *ud) {
        Manager *m = ud;
        return m->inv->path;
}

/* The daemon's report of the named sets (or all, with the internal CAs' rows) rendered as the CLI would. */
static int bus_check(void *ud, char **names, BusApiFormat fmt, bool redact, char **ret_text, int *ret_exit,
                     char **ret_error) {
        Manager *m = ud;
        _cleanup_free_ CheckResult *results = NULL;
        _cleanup_free_ CertState *states = NULL;
        _cleanup_free_ Plan *plans = NULL;
        _cleanup_free_ char *text = NULL;
        CheckReport rep;
        size_t size = 0;
        FILE *f = NULL;
        int r = 0;

        if (!m->report)
                return -EAGAIN;
        rep = *m->report;
        rep.cas = NULL;
        rep.n_cas = 0;
        rep.redact = redact;
        if (names) { /* the named sets, in the order named, as `check NAME…` prints them */
                rep.n_results = strv_length(names);
                rep.results = results = calloc(rep.n_results, sizeof(CheckResult));
                rep.states = states = m->report->states ? calloc(rep.n_results, sizeof(CertState)) : NULL;
                rep.plans = plans = m->report->plans ? calloc(rep.n_results, sizeof(Plan)) : NULL;
                if (!results || (m->report->states && !states) || (m->report->plans && !plans))
                        return -ENOMEM;
                for (size_t k = 0; k < rep.n_results; k++) {
                        size_t i = cert_index(m, inventory_find_cert(m->inv, names[k]));

                        if (i == SIZE_MAX)
                                return asprintf(ret_error, "no [certificate \"%s\"] in the inventory %s",
                                                names[k], m->inv->path) < 0
                                               ? -ENOMEM
                                               : -ENXIO;
                        results[k] = m->report->results[i];
                        if (states)
                                states[k] = m->report->states[i]; /* borrowed */
                        if (plans)
                                plans[k] = m->report->plans[i];
                }
        } else
                r = check_cas(m->inv, &rep, now_realtime()); /* a few files: read afresh */
        check_report_recount(&rep);
        if (r >= 0 && !(f = open_memstream(&text, &size)))
                r = -ENOMEM;
        if (r >= 0) {
                if (fmt == BUS_API_FORMAT_JSON) {
                        check_next_pins(m->inv, &rep);
                        r = report_json(&rep, f);
                } else if (fmt == BUS_API_FORMAT_NAGIOS)
                        r = report_nagios(m->inv, &rep, f);
                else if (fmt == BUS_API_FORMAT_TEXT)
                        r = report_lines(&rep, f);
                else
                        r = report_table(&rep, f, fmt == BUS_API_FORMAT_TABLE_COLOR);
                if (fclose(f) != 0 && r >= 0)
                        r = -ENOMEM;
        }
        for (size_t i = 0; i < rep.n_cas; i++)
                cert_facts_free(rep.cas[i].facts);
        free(rep.cas);
        if (r < 0)
                return r;
        *ret_exit = rep.worst == SEVERITY_OK ? 0 : rep.worst == SEVERITY_WARNING ? 1 : 2;
        *ret_text = TAKE_PTR(text);
        return 0;
}

static int bus_resolve(void *ud, char **names, char ***ret, char **ret_error) {
        Manager *m = ud;
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;

        l = calloc((names ? strv_length(names) : m->inv->n_certs) + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; names ? names[i] != NULL : i < m->inv->n_certs; i++) {
                const CertConfig *c = names ? inventory_find_cert(m->inv, names[i]) : m->inv->certs[i];

                if (!c)
                        return asprintf(ret_error, "no [certificate \"%s\"] in the inventory %s", names[i],
                                        m->inv->path) < 0 ? -ENOMEM : -ENXIO;
                if (c->issuer == ISSUER_NONE && !names)
                        continue;
                if (c->issuer == ISSUER_NONE)
                        return asprintf(ret_error, "%s: issuer = none: certherd only watches this certificate",
                                        c->name) < 0
                                       ? -ENOMEM
                                       : -EINVAL;
                if (!(l[n++] = strdup(c->name)))
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static void bus_kick(void *ud) {
        Manager *m = ud;

        /* A running batch ends with a pass, which takes the orders. */
        if (!m->batch_running && !m->exiting)
                (void) manager_pass(m, false);
}

static void bus_outcome(void *ud, const char *name, Outcome *ret) {
        Manager *m = ud;
        const CertConfig *c = inventory_find_cert(m->inv, name);
        size_t i = cert_index(m, c);
        const RenewJob *job = NULL;
        Plan none;

        if (i == SIZE_MAX)
                return; /* OUTCOME_GONE */
        for (size_t j = 0; j < m->n_jobs && !job; j++) /* in the batch just done */
                if (m->jobs[j].cert == c)
                        job = &m->jobs[j];
        none = (Plan) { .action = PLAN_NONE, .due = m->rt[i].due };
        *ret = outcome_of(name, m->report && m->report->plans ? &m->report->plans[i] : &none, &m->states[i], job);
}

static const BusApiOps bus_ops = {
        .inventory_path = bus_inventory_path,
        .check = bus_check,
        .resolve = bus_resolve,
        .kick = bus_kick,
        .outcome = bus_outcome,
};

int daemon_run(const char *config_path) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_free_ char *err = NULL;
        Inventory *inv = NULL;
        int r;

        r = manager_new(config_path, &m);
        if (r < 0)
                return log_error_errno(r, "cannot set up the event loop: %m");
        r = config_load(config_path, &inv, &err);
        if (r < 0) {
                log_error("%s", err ?: strerror(-r));
                return r;
        }
        (void) token_init_inventory(inv); /* the PKCS#11 modules stay those of the first load */
        /* certherd-renew.service may be at work: wait for it (DESIGN.md §8); then recover and load. */
        m->lock_fd = pass_prepare(inv, true);
        if (m->lock_fd < 0) {
                inventory_free(inv);
                return m->lock_fd;
        }
        r = manager_load(m, inv);
        if (r < 0)
                return r;

        r = manager_pass(m, true);
        if (r < 0)
                return r;
        r = bus_api_new(m->event, &bus_ops, m, &m->bus);
        if (r < 0)
                log_warning_errno(r, "cannot serve %s on the system bus: %m; check, status and renew work "
                                  "alone", BUS_API_NAME);
        /* Only now: a command that finds the lock taken while the first pass runs is right that it does the
         * renewals; from here on one that cannot reach the bus is told the daemon holds the lock. */
        (void) state_lock_note_daemon(m->lock_fd);
        log_info("watching %zu certificates", m->inv->n_certs);
        (void) sd_notify(false, "READY=1");

        r = sd_event_loop(m->event);
        if (m->batch_running)
                pthread_join(m->batch_thread, NULL);
        if (r < 0)
                return log_error_errno(r, "event loop failed: %m");
        return 0;
}
