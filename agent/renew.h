/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>

#include <gnutls/gnutls.h>

#include "config.h"
#include "policy.h"
#include "state.h"
#include "time-util.h"
#include "x509.h"

/* The act pipeline for one certificate set (DESIGN.md §1): issue → validate → install → publish pins →
 * notify, each step with its journal event. The one place `certherd renew` and the daemon call. */

typedef struct RenewOutcome {
        usec_t not_after;
        uint8_t pin[PIN_SIZE];
        bool pin_changed;
        bool key_reused;
        gnutls_datum_t leaf_der; /* the installed leaf (gnutls-allocated), for deploy verification */
} RenewOutcome;

/* Renew `c` now (the caller decided it is due: policy_renew_reason). `current`: the inspection of what
 * is installed (may be NULL). Returns 0 on success, or -errno after logging a renewal-failed (or
 * validation-failed) event; in that case nothing on disk changed. */
int renew_one(const Inventory *inv, const CertConfig *c, const CertFacts *current, usec_t now, RenewOutcome *ret);

typedef struct RenewJob {
        const CertConfig *cert;
        const CertFacts *current;
        int result; /* of renew_one */
        RenewOutcome outcome;
} RenewJob;

/* renew_one() for every job, `concurrency` at a time (an install waits mostly on fsync, and overlapping
 * those waits is what makes a hundred renewals fast), then the deploy phase for the renewed ones: each
 * systemd unit they name reloaded (or restarted) once, their verify endpoints checked, and only then
 * their pins published — so a client refreshing its pins never sees the new pin before the server
 * serves it (with rotate, the new pin was announced as next_pin_sha256 long before). */
#define RENEW_CONCURRENCY 8
void renew_many(const Inventory *inv, RenewJob *jobs, size_t n, unsigned concurrency, usec_t now);

/* Record a job's outcome in its certificate's state: failures and the backoff before the next attempt
 * (logged), or the last renewal. `started`: when the batch began. */
void renew_record(CertState *st, const RenewJob *j, usec_t started, usec_t now);

/* The same for the one-shot `certherd renew`: load, record and save each job's state (timer mode keeps
 * the same failure count and backoff as the daemon). */
void renew_record_jobs(const Inventory *inv, const RenewJob *jobs, size_t n, usec_t started);

/* ARI (RFC 9773): whether the ACME server's suggested renewal window says `c` is due now, for ACME
 * certificates that policy does not find due. One session per [acme] section, opened on first use;
 * servers without renewalInfo (and failures: logged, policy alone decides) answer false. */
typedef struct RenewAri RenewAri;
RenewAri *renew_ari_new(const Inventory *inv);
RenewAri *renew_ari_free(RenewAri *a);
bool renew_ari_due(RenewAri *a, const CertConfig *c, usec_t now);
static inline void renew_ari_freep(RenewAri **a) {
        renew_ari_free(*a);
}

/* `certherd ca init NAME`: create the CA's key and self-signed certificate unless either exists, then
 * copy the certificate to every `export` path. Returns 0, -EEXIST, or -errno (logged). */
int renew_ca_init(const Inventory *inv, const CaConfig *ca, usec_t now);

/* The state directory, created (0700) when missing. Returns 0 or -errno (logged). */
int renew_state_directory(const Inventory *inv);

/* Take the lock shared by daemon and timer mode (DESIGN.md §8). Returns an fd ≥ 0, -EWOULDBLOCK when
 * another certherd holds it, or -errno. */
int renew_lock(const Inventory *inv);
/* The same, waiting for the other holder to finish. */
int renew_lock_wait(const Inventory *inv);

/* Journal events for certificates inside their warn/critical windows or expired (timer mode). */
void renew_log_expiry(const Inventory *inv, const CertConfig *c, const CertFacts *f);
