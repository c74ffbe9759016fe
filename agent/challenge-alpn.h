/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* tls-alpn-01 backend of challenge.h: the built-in GnuTLS responder. */

#include "challenge.h"

extern const ChallengeOps challenge_alpn_ops;
