/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "config.h"

/* permitted-names: which names an internal CA may issue (DNS subtrees, networks, URI prefixes, mail
 * domains), the inventory's syntax and the test every issued name passes. */

bool config_permitted_name_is_valid(const char *s) {
        unsigned char a[16];
        unsigned len, prefix;

        /* uri:PREFIX (spiffe://example.org/) and email:DOMAIN constrain those SANs (certherd's rule). */
        if (strncmp(s, "uri:", 4) == 0)
                return s[4] && config_name_is_valid(s);
        if (strncmp(s, "email:", 6) == 0)
                return config_permitted_name_is_valid(s + 6) && !strchr(s + 6, '/') &&
                       strncmp(s + 6, "uri:", 4) != 0 && strncmp(s + 6, "email:", 6) != 0;
        if (strchr(s, '/'))
                return config_parse_network(s, a, &len, &prefix) >= 0;
        if (s[0] == '.')
                s++;
        return s[0] != '*' && config_dns_name_is_valid(s);
}

static bool dns_permitted(const char *base, const char *name) {
        size_t lb = strlen(base), ln = strlen(name);

        if (ln > 0 && name[ln - 1] == '.')
                ln--;
        if (base[0] == '.') /* only below base */
                return ln > lb && strncasecmp(name + ln - lb, base, lb) == 0;
        if (ln == lb)
                return strncasecmp(name, base, lb) == 0;
        return ln > lb && name[ln - lb - 1] == '.' && strncasecmp(name + ln - lb, base, lb) == 0;
}

static bool ip_permitted(const char *net, const char *ip) {
        unsigned char n[16], a[16];
        unsigned len, prefix;

        if (config_parse_network(net, n, &len, &prefix) < 0)
                return false;
        if (inet_pton(len == 4 ? AF_INET : AF_INET6, ip, a) != 1)
                return false;
        for (unsigned bit = 0; bit < prefix; bit++) {
                unsigned char m = (unsigned char) (0x80 >> (bit % 8));

                if ((n[bit / 8] & m) != (a[bit / 8] & m))
                        return false;
        }
        return true;
}

/* uri: and email: names against the entries of their kind: a URI by prefix, a mailbox by the domain
 * after its @ (the domain and below, as a DNS entry; ".example.org" only below). Unconstrained when
 * permitted-names lists none of that kind. */
static bool uri_email_permitted(char *const *permitted, NameType t, const char *value) {
        const char *kind = t == NAME_URI ? "uri:" : "email:", *at = strrchr(value, '@');
        size_t k = strlen(kind);
        bool constrained = false;

        for (size_t i = 0; permitted[i]; i++) {
                const char *p = permitted[i] + k;

                if (strncmp(permitted[i], kind, k) != 0)
                        continue;
                constrained = true;
                if (t == NAME_URI ? strncmp(value, p, strlen(p)) == 0 : at && dns_permitted(p, at + 1))
                        return true;
        }
        return !constrained;
}

bool config_name_permitted(char *const *permitted, const char *name) {
        NameType t = config_name_type(name);
        bool constrained = false;

        if (!permitted || !permitted[0])
                return true;
        if (t == NAME_URI || t == NAME_EMAIL)
                return uri_email_permitted(permitted, t, config_name_value(name));
        if (t != NAME_DNS && t != NAME_IP)
                return true;
        for (size_t i = 0; permitted[i]; i++) {
                bool is_net = strchr(permitted[i], '/') != NULL;

                if (strncmp(permitted[i], "uri:", 4) == 0 || strncmp(permitted[i], "email:", 6) == 0)
                        continue;

                if (is_net != (t == NAME_IP))
                        continue;
                if (is_net) {
                        unsigned char a[16];
                        unsigned len, prefix;

                        /* An IPv4 subtree does not constrain IPv6 addresses, nor the other way round. */
                        if (config_parse_network(permitted[i], a, &len, &prefix) < 0 ||
                            (len == 4) != (strchr(name, ':') == NULL))
                                continue;
                }
                constrained = true;
                if (is_net ? ip_permitted(permitted[i], name) : dns_permitted(permitted[i], name))
                        return true;
        }
        return !constrained;
}
