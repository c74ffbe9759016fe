/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* dns-01 backend of challenge.h: the operator's dns-hook. */

#include "challenge.h"

extern const ChallengeOps challenge_dns_hook_ops;

/* The dns-01 TXT value for a key authorization: base64url(SHA-256(ka)). */
int challenge_dns_value(const char *key_authorization, char **ret);
