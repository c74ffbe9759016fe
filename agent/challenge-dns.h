/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* dns-01 backend of challenge.h: the operator's dns-hook. */

#include "challenge.h"

extern const ChallengeOps challenge_dns_hook_ops;
