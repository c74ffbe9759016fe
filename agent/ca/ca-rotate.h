/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>

#include "config.h"
#include "time-util.h"

/* A CA rotation in stages. `ca rotate` makes the new generation and exports both at once (ca-pki.c);
 * the leaves of the previous generation stay until [ca] rotate-overlap has passed, so that every client
 * can fetch the new bundle first; then they are re-issued; `ca rotate --finish` ends the overlap once no
 * installed leaf of the previous generation is left. When the rotation happened is recorded in
 * STATE/ca/NAME/rotation.json: {"rotated_usec": N, "reissue": "overlap"|"now"}. */

/* Record that `ca` rotated at `now`, before its new certificate is installed (whoever sees that, a
 * daemon's inotify, finds when the leaves move), and say when that is; reissue_now: they move at once
 * (`ca rotate --reissue`), not after the overlap. A failure is logged as a warning (the time is then read
 * from the new certificate). */
void ca_rotation_record(const Inventory *inv, const CaConfig *ca, usec_t now, bool reissue_now);

/* When the leaves of `ca`'s previous generation are re-issued: the rotation time plus rotate-overlap (the
 * rotation time itself after --reissue). Without a record, the new certificate's not_before (backdated by
 * an hour when it was made) stands for the rotation time. Returns 1 and *ret, 0 when there is no previous
 * generation (its leaves are then re-issued at once), -errno. Reads files; thread-safe. */
int ca_reissue_time(const Inventory *inv, const CaConfig *ca, usec_t *ret);

/* `ca rotate --finish NAME`: end the overlap. Refused (-EBUSY, logged with the names) while a set of the
 * CA has an unexpired leaf of the previous generation installed, or a CA below it is still signed by that
 * generation; else the previous generation's key and certificate are removed (its CRL is no longer
 * signed), the record with them, and the bundle exported again without it. The caller re-signs the CRL.
 * Returns 0, -ENOENT (no rotation in progress, logged), -EBUSY, -errno (logged). */
int ca_rotate_finish(const Inventory *inv, const CaConfig *ca, usec_t now);
