/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* http-01 backends of challenge.h: files under a webroot, or the built-in responder. */

#include "challenge.h"

extern const ChallengeOps challenge_http_webroot_ops;
extern const ChallengeOps challenge_http_responder_ops;

/* The largest request head the responder reads; anything longer is answered by closing. */
#define CHALLENGE_HTTP_REQUEST_MAX 4096
