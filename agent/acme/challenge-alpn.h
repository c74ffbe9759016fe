/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* tls-alpn-01 backend of challenge.h: the built-in GnuTLS responder. */

#include "challenge.h"

extern const ChallengeOps challenge_alpn_ops;

/* The reverse-DNS name of an IP address, which a CA sends in SNI to validate it over tls-alpn-01
 * (RFC 8738 §6): "127.0.0.1" → "1.0.0.127.in-addr.arpa", "2001:db8::1" → "1.0.…8.b.d.0.1.0.0.2.ip6.arpa".
 * *ret NULL when s is no IP address. Returns 0 or -ENOMEM. */
int challenge_alpn_reverse_name(const char *s, char **ret);
