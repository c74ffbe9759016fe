/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "time-util.h"
#include "x509.h"

/* Decisions (DESIGN.md §1): pure functions of facts, configuration and a clock. No I/O, no logging. */

typedef enum RenewReason {
        RENEW_REASON_NONE,     /* not due */
        RENEW_REASON_FORCED,   /* --force */
        RENEW_REASON_MISSING,  /* no usable certificate: unreadable or malformed */
        RENEW_REASON_BROKEN,   /* a problem a new certificate fixes: key-mismatch, names, chain, weak, usage */
        RENEW_REASON_EXPIRED,
        RENEW_REASON_DUE,      /* inside the renew-before window */
        _RENEW_REASON_MAX,
        _RENEW_REASON_INVALID = -22,
} RenewReason;

const char *renew_reason_to_string(RenewReason r) _pure_;

/* When the renew-before window opens for a certificate valid [not_before, not_after]. The window never
 * opens before a third of the lifetime has passed: a renew-before as long as the validity would otherwise
 * renew forever. */
usec_t policy_renew_time(usec_t not_before, usec_t not_after, Threshold renew_before);

/* A stable pseudo-random delay in [0, lifetime/20] for certificate `name` (DESIGN.md §2), so that many
 * certificates issued together do not all renew in the same second, yet short-lived ones stay on time. */
usec_t policy_jitter(const char *name, usec_t not_before, usec_t not_after);

/* Delay before retry number `failures` (≥ 1) of a failed renewal: exponential from 30 s, capped at 6 h
 * and at a tenth of the certificate's lifetime (0: unknown). */
usec_t policy_backoff(unsigned failures, usec_t lifetime);

/* Alerts (issue 5): one event when a threshold is crossed, a reminder a day later while it lasts, the
 * level rising warning → critical → expired; an expired certificate every hour. */
typedef enum AlertLevel {
        ALERT_NONE,
        ALERT_WARNING,
        ALERT_CRITICAL,
        ALERT_EXPIRED,
        _ALERT_LEVEL_MAX,
        _ALERT_LEVEL_INVALID = -22,
} AlertLevel;

typedef struct AlertState {
        AlertLevel level; /* of the last alert sent */
        usec_t last;      /* when it was sent; 0: never */
} AlertState;

typedef struct AlertDecision {
        bool emit;        /* send an alert of `level` now */
        AlertLevel level; /* the certificate's level now */
        usec_t next;      /* when this certificate's alerts need looking at again (USEC_INFINITY: never) */
} AlertDecision;

AlertDecision policy_alert(const CertFacts *f, Threshold warn_before, Threshold critical_before, const AlertState *st,
                           usec_t now);

/* Whether (and why) the certificate set described by `facts` (NULL: never inspected) should be renewed
 * at `now`. */
RenewReason policy_renew_reason(const CertFacts *facts, Threshold renew_before, bool force, usec_t now);

/* Whether a freshly issued certificate's findings allow installing it: any problem blocks, except the
 * expiry thresholds (a leaf that lives hours is legitimately inside a 14-day warn window). */
bool policy_issued_ok(const CertFacts *facts);
