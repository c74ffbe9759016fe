/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stddef.h>

/* One DNS query through the system's resolvers (libresolv), for the records certherd reads itself: the
 * TXT records of dns-persist-01 and CAA. In test builds, $CERTHERD_TEST_RESOLVER=ADDRESS:PORT (IPv4)
 * names the server to ask instead.
 *
 * The whole answer message (of any size a DNS message may have) in *ret (free()), its length in
 * *ret_size. Returns 0, -ENOENT for NXDOMAIN or no record of that type (an answer: nothing there),
 * -EHOSTUNREACH when no server answered (or SERVFAIL), -EINVAL for a bad test resolver, -ENOMEM. */
int dns_lookup(const char *owner, int type, unsigned char **ret, size_t *ret_size);
