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

/* When the renew-before window opens for a certificate valid [not_before, not_after]. */
usec_t policy_renew_time(usec_t not_before, usec_t not_after, Threshold renew_before);

/* Whether (and why) the certificate set described by `facts` (NULL: never inspected) should be renewed
 * at `now`. */
RenewReason policy_renew_reason(const CertFacts *facts, Threshold renew_before, bool force, usec_t now);

/* Whether a freshly issued certificate's findings allow installing it: any problem blocks, except the
 * expiry thresholds (a leaf that lives hours is legitimately inside a 14-day warn window). */
bool policy_issued_ok(const CertFacts *facts);
