/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>

#include "acme-internal.h"
#include "macro.h"

/* The test suite's resolver ($CERTHERD_TEST_RESOLVER=ADDRESS:PORT, IPv4), in test builds only: a
 * distribution's binary asks the system's resolvers and nothing else. */
static int use_test_resolver(struct __res_state *st) {
#if CERTHERD_TEST_HOOKS
        const char *test = getenv("CERTHERD_TEST_RESOLVER");
        struct sockaddr_in sa = { .sin_family = AF_INET };
        const char *colon;
        char host[64];

        if (!test || !*test)
                return 0;
        colon = strrchr(test, ':');
        if (!colon || (size_t) (colon - test) >= sizeof(host))
                return -EINVAL;
        memcpy(host, test, (size_t) (colon - test));
        host[colon - test] = 0;
        if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
                return -EINVAL;
        sa.sin_port = htons((uint16_t) atoi(colon + 1));
        st->nsaddr_list[0] = sa;
        st->nscount = 1;
#endif
        return 0;
}

/* The answer for owner into a buffer of its own size. res_nquery() returns the answer's full
 * length even when it did not fit (a large answer over TCP), so a longer answer is asked again into a
 * buffer that holds it: a DNS message is at most 64 KiB. */
static int query(struct __res_state *st, const char *owner, int type, unsigned char **ret, int *ret_size) {
        size_t size = 8192;

        for (;;) {
                _cleanup_free_ unsigned char *buf = malloc(size);
                int n;

                if (!buf)
                        return -ENOMEM;
                n = res_nquery(st, owner, ns_c_in, type, buf, (int) size);
                if (n < 0)
                        return n;
                if ((size_t) n <= size) {
                        *ret = TAKE_PTR(buf);
                        *ret_size = n;
                        return 0;
                }
                if (size >= 65536)
                        return -EMSGSIZE;
                size = 65536;
        }
}

int dns_lookup(const char *owner, int type, unsigned char **ret, size_t *ret_size) {
        struct __res_state st = {};
        unsigned char *answer = NULL;
        int n = 0, r, h;

        if (res_ninit(&st) < 0)
                return -EHOSTUNREACH;
        r = use_test_resolver(&st);
        if (r >= 0)
                r = query(&st, owner, type, &answer, &n);
        h = st.res_h_errno;
        res_nclose(&st);
        if (r == -ENOMEM || r == -EMSGSIZE || r == -EINVAL)
                return r;
        if (r < 0)
                return h == HOST_NOT_FOUND || h == NO_DATA ? -ENOENT : -EHOSTUNREACH;
        *ret = answer;
        *ret_size = (size_t) n;
        return 0;
}
