/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The MESSAGE_IDs of docs/journal.md (contract). Made once with `systemd-id128 new`; never change one.
 * units/certherd.catalog documents each; tests/unit/test-log.c checks the two agree. */
#define CERTHERD_MESSAGE_EXPIRY_WARNING     "ec5c4415c34d45ca91a2906f05b5f0a5"
#define CERTHERD_MESSAGE_EXPIRY_CRITICAL    "7f90082d532f47f093d06e382bd61530"
#define CERTHERD_MESSAGE_EXPIRED            "07c540cabf9e4408b1889d365d5ff587"
#define CERTHERD_MESSAGE_RENEWED            "4f74d3783ba440ccb933eb9fc2d2ec6b"
#define CERTHERD_MESSAGE_RENEWAL_FAILED     "823b4a4c55dc4e3c8dc5471b0dbb548f"
#define CERTHERD_MESSAGE_INSTALLED          "e4f417cf82d2428f80432f58f1e0a978"
#define CERTHERD_MESSAGE_PIN_CHANGED        "29354163be9e4058b16fd55c762d5b6e"
#define CERTHERD_MESSAGE_RELOADED           "e0e7ed1d1a284d90823f43e43ed17c15"
#define CERTHERD_MESSAGE_RELOAD_FAILED      "5378ab25de7a4fc2be25b6ee717a5964"
#define CERTHERD_MESSAGE_DEPLOY_VERIFIED    "5fdb77319909439886ad7a86337823cb"
#define CERTHERD_MESSAGE_DEPLOY_MISMATCH    "a9a3795e02c843ac95306de2d9b997ab"
#define CERTHERD_MESSAGE_VALIDATION_FAILED  "2aaafad2cdf84fd9b8eaea39f1cdb941"
#define CERTHERD_MESSAGE_DEPLOY_FAILED      "8002e5c5c9bb46dc9d584d2b4c4198a5"
