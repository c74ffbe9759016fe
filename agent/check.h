/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stddef.h>

#include "config.h"
#include "time-util.h"
#include "x509.h"

/* Inspect an inventory: read every certificate set's files and run x509_inspect() on them, in parallel
 * over all cores. The read-only half of the pipeline, shared by `check`, `status`, `renew` and the daemon. */

typedef struct CheckResult {
        const CertConfig *cert; /* borrowed from the inventory */
        CertFacts *facts;
} CheckResult;

typedef struct CheckReport {
        CheckResult *results; /* in inventory order */
        size_t n_results;
        Severity worst;
        size_t count[_SEVERITY_MAX];
} CheckReport;

/* certs: the certificate sets to inspect (NULL-terminated array of borrowed pointers; NULL for all).
 * threads: 0 for one per online CPU. Returns 0 or -ENOMEM. */
int check_run(const Inventory *inv, CertConfig *const *certs, unsigned threads, usec_t now, CheckReport **ret);
CheckReport *check_report_free(CheckReport *r);
static inline void check_report_freep(CheckReport **r) {
        check_report_free(*r);
}
#define _cleanup_check_report_ _cleanup_(check_report_freep)
