/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "policy.h"

static const char *const renew_reason_table[_RENEW_REASON_MAX] = {
        [RENEW_REASON_NONE] = "not due",
        [RENEW_REASON_FORCED] = "forced",
        [RENEW_REASON_MISSING] = "no usable certificate",
        [RENEW_REASON_BROKEN] = "certificate set is broken",
        [RENEW_REASON_EXPIRED] = "expired",
        [RENEW_REASON_DUE] = "inside the renew-before window",
};

const char *renew_reason_to_string(RenewReason r) {
        return r >= 0 && r < _RENEW_REASON_MAX ? renew_reason_table[r] : NULL;
}

usec_t policy_renew_time(usec_t not_before, usec_t not_after, Threshold renew_before) {
        usec_t lifetime = not_after > not_before ? not_after - not_before : 0;
        usec_t before = threshold_resolve(renew_before, lifetime);

        return before >= not_after ? 0 : not_after - before;
}

RenewReason policy_renew_reason(const CertFacts *facts, Threshold renew_before, bool force, usec_t now) {
        RenewReason worst = RENEW_REASON_NONE;

        if (force)
                return RENEW_REASON_FORCED;
        if (!facts || !facts->parsed)
                return RENEW_REASON_MISSING;

        for (size_t i = 0; i < facts->n_problems; i++)
                switch (facts->problems[i].code) {
                case PROBLEM_UNREADABLE:
                case PROBLEM_MALFORMED:
                        /* An unreadable or malformed key is as good as no certificate set. */
                        return RENEW_REASON_MISSING;
                case PROBLEM_EXPIRED:
                        worst = RENEW_REASON_EXPIRED;
                        break;
                case PROBLEM_KEY_MISMATCH:
                case PROBLEM_NAME_MISSING:
                case PROBLEM_UNTRUSTED_CHAIN:
                case PROBLEM_WEAK_KEY:
                case PROBLEM_WEAK_SIGNATURE:
                case PROBLEM_USAGE_MISSING:
                        if (worst == RENEW_REASON_NONE)
                                worst = RENEW_REASON_BROKEN;
                        break;
                default:
                        /* not-yet-valid, expiry thresholds and key permissions: a new certificate changes
                         * nothing about them, the renew window decides. */
                        break;
                }
        if (worst != RENEW_REASON_NONE)
                return worst;

        return now >= policy_renew_time(facts->not_before, facts->not_after, renew_before) ? RENEW_REASON_DUE
                                                                                          : RENEW_REASON_NONE;
}

bool policy_issued_ok(const CertFacts *facts) {
        if (!facts || !facts->parsed)
                return false;
        for (size_t i = 0; i < facts->n_problems; i++)
                if (facts->problems[i].code != PROBLEM_EXPIRY_WARNING && facts->problems[i].code != PROBLEM_EXPIRY_CRITICAL)
                        return false;
        return true;
}
