/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>

#include "time-util.h"

/* Per-certificate state that outlives the process (DESIGN.md §2): renewal failures and their backoff,
 * the last renewal, and the alert last sent, in STATE_DIR/certs/NAME.json. The ACME order in flight lives
 * with the ACME client (STATE_DIR/acme/). */

typedef struct CertState {
        unsigned failures;   /* consecutive failed renewals */
        usec_t last_attempt; /* of a renewal */
        usec_t next_retry;   /* 0: none scheduled */
        usec_t last_renewal; /* of a successful one */
        int alert_level;     /* AlertLevel of the last alert sent */
        usec_t alert_last;   /* when it was sent */
} CertState;

/* Load NAME's state; a missing file is the zero state. A damaged file is reported (-EBADMSG) and the
 * caller starts from zero: state is advisory, never a reason not to run. */
int state_load(const char *state_dir, const char *name, CertState *ret);

/* Save NAME's state atomically. Returns 0 or -errno. */
int state_save(const char *state_dir, const char *name, const CertState *st);
