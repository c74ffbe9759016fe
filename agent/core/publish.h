/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gnutls/x509.h>

#include "config.h"
#include "macro.h"
#include "pin.h"
#include "time-util.h"

/* Publish <pin-directory>/<name>.pin and .json for (pin, not_after) unless they say so already (for
 * rotate, with next_pin_sha256 of the next key when there is one: publishing never makes a key, see
 * keys_next_make()); a pin-changed event when the published pin (or fallback_previous, before any)
 * differs. Returns 1 when written, 0 when up to date,
 * -errno (logged). */
int publish_pins(const Inventory *inv, const CertConfig *c, const uint8_t pin[PIN_SIZE], usec_t not_after,
                 const uint8_t *fallback_previous, usec_t now);

/* Whether publish_pins() would write anything, without writing: 1 yes, 0 up to date, -errno. */
int publish_pins_stale(const Inventory *inv, const CertConfig *c, const uint8_t pin[PIN_SIZE],
                       usec_t not_after, usec_t now);

/* The pin in a published .pin file. */
int publish_read_pin(const char *path, uint8_t ret[PIN_SIZE]);

/* Publishing many sets at once (the daemon's first pass, `renew` over the whole inventory): publish_pins()
 * makes two fsyncs per file, 40 000 for 10 000 sets, which made the first READY=1 take 20 s. A batch
 * decides per set exactly as publish_pins() does (nothing is queued for pins that are up to date) and writes the set's .json and .pin to temp files in the pin directory at
 * once, keeping only their names; publish_batch_commit() then makes them all durable with ONE syncfs(),
 * renames them (each .json before its .pin), fsyncs the directory once and emits the pin-changed events
 * (install_batch_*() in install.h). Use:
 *
 *     _cleanup_(publish_batch_freep) PublishBatch *b = NULL;
 *     if (publish_batch_new(inv, &b) >= 0) {
 *             for each inspected set with a pin:
 *                     (void) publish_batch_add(b, c, f->pin, f->not_after, NULL, now);
 *             (void) publish_batch_commit(b);
 *     }
 *
 * publish_batch_add returns 1 when queued, 0 when up to date, -errno (logged; that set is left as it was).
 * publish_batch_commit returns the number of sets published, or -errno (logged). Freeing a batch that was
 * not committed removes its temp files: nothing published changes. */
typedef struct PublishBatch PublishBatch;
int publish_batch_new(const Inventory *inv, PublishBatch **ret);
int publish_batch_add(PublishBatch *b, const CertConfig *c, const uint8_t pin[PIN_SIZE], usec_t not_after,
                      const uint8_t *fallback_previous, usec_t now);
int publish_batch_commit(PublishBatch *b);
PublishBatch *publish_batch_free(PublishBatch *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(PublishBatch *, publish_batch_free)
