/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The facade of challenge.h: picks the backend for the [acme] section and starts it on first use. Every
 * identifier is checked to be a DNS name or IP address before a backend sees it: it becomes a hook
 * argument, a file name, a certificate SAN. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <gnutls/crypto.h>

#include "challenge-alpn.h"
#include "challenge-dns.h"
#include "challenge-http.h"
#include "challenge.h"
#include "gnutls-util.h"
#include "jws.h"
#include "log.h"

int challenge_new(const AcmeConfig *a, Challenger **ret) {
        Challenger *c;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->cfg = a;
        responder_init(&c->responder);
        switch (a->challenge) {
        case CHALLENGE_HTTP_01:
                c->ops = a->webroot ? &challenge_http_webroot_ops : &challenge_http_responder_ops;
                break;
        case CHALLENGE_DNS_01:
                c->ops = &challenge_dns_hook_ops;
                break;
        case CHALLENGE_TLS_ALPN_01:
                c->ops = &challenge_alpn_ops;
                break;
        default:
                free(c);
                return -EOPNOTSUPP;
        }
        pthread_mutex_init(&c->lock, NULL);
        *ret = c;
        return 0;
}

Challenger *challenge_free(Challenger *c) {
        if (!c)
                return NULL;
        if (c->started)
                c->ops->stop(c);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
}

ChallengeType challenge_type(const Challenger *c) {
        return c->cfg->challenge;
}

int challenge_add(Challenger *c, const char *identifier, const char *token, const char *key_authorization) {
        ChallengeItem it = { .identifier = identifier, .token = token, .key_authorization = key_authorization };
        int r;

        /* acme-order.c checked it against the names ordered; this is the last line before a hook. */
        if (!identifier || !config_san_is_valid(identifier) || strncmp(identifier, "*.", 2) == 0)
                return log_error_errno(-EINVAL, "[acme \"%s\"] refusing to publish a challenge for an identifier "
                                                "that is no DNS name or IP address",
                                       c->cfg->name);
        pthread_mutex_lock(&c->lock);
        if (!c->started && c->start_error == 0) {
                r = c->ops->start(c);
                if (r < 0)
                        c->start_error = r;
                else
                        c->started = true;
        }
        r = c->start_error;
        pthread_mutex_unlock(&c->lock);
        if (r < 0)
                return r; /* logged by start() the first time */
        return c->ops->add(c, &it);
}

void challenge_remove(Challenger *c, const char *identifier, const char *token, const char *key_authorization) {
        ChallengeItem it = { .identifier = identifier, .token = token, .key_authorization = key_authorization };
        bool started;

        pthread_mutex_lock(&c->lock);
        started = c->started;
        pthread_mutex_unlock(&c->lock);
        if (started)
                c->ops->remove(c, &it);
}

int challenge_parse_listen(const char *s, struct sockaddr_storage *ret, unsigned *ret_len) {
        _cleanup_free_ char *host = NULL;
        const char *port_s;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) ret;
        struct sockaddr_in *in4 = (struct sockaddr_in *) ret;
        char *end;
        unsigned long port;

        if (!s || !*s)
                return -EINVAL;
        if (s[0] == '[') {
                const char *e = strchr(s, ']');

                if (!e || e[1] != ':')
                        return -EINVAL;
                host = strndup(s + 1, (size_t) (e - s - 1));
                port_s = e + 2;
        } else if (strchr(s, ':')) {
                const char *e = strrchr(s, ':');

                host = strndup(s, (size_t) (e - s));
                port_s = e + 1;
        } else {
                host = strdup("");
                port_s = s;
        }
        if (!host)
                return -ENOMEM;
        errno = 0;
        port = strtoul(port_s, &end, 10);
        if (errno || *end || end == port_s || port == 0 || port > 65535)
                return -EINVAL;

        memset(ret, 0, sizeof(*ret));
        if (!*host || strcmp(host, "*") == 0 || strcmp(host, "::") == 0) {
                in6->sin6_family = AF_INET6;
                in6->sin6_addr = in6addr_any;
                in6->sin6_port = htons((uint16_t) port);
                *ret_len = sizeof(*in6);
        } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons((uint16_t) port);
                *ret_len = sizeof(*in6);
        } else if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
                in4->sin_family = AF_INET;
                in4->sin_port = htons((uint16_t) port);
                *ret_len = sizeof(*in4);
        } else
                return -EINVAL;
        return 0;
}

int challenge_dns_value(const char *key_authorization, char **ret) {
        uint8_t digest[32];
        int r;

        r = gnutls_hash_fast(GNUTLS_DIG_SHA256, key_authorization, strlen(key_authorization), digest);
        if (r < 0)
                return errno_from_gnutls(r);
        return jws_base64url_encode(digest, sizeof(digest), ret);
}
