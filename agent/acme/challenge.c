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

#include "acme-internal.h"
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
        if (c->started && c->ops->stop)
                c->ops->stop(c);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
}

ChallengeType challenge_type(const Challenger *c) {
        return c->cfg->challenge;
}

int challenge_add(Challenger *c, const char *identifier, const char *token, const char *key_authorization) {
        ChallengeItem it = { .identifier = identifier,
                             .token = token,
                             .key_authorization = key_authorization };
        int r;

        /* acme-order.c checked it against the names ordered; this is the last line before a hook. */
        if (!identifier || !config_san_is_valid(identifier) || strncmp(identifier, "*.", 2) == 0)
                return log_error_errno(-EINVAL,
                                       "[acme \"%s\"] refusing to publish a challenge for an identifier "
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

void challenge_remove(Challenger *c, const char *identifier, const char *token,
                      const char *key_authorization) {
        ChallengeItem it = { .identifier = identifier,
                             .token = token,
                             .key_authorization = key_authorization };
        bool started;

        pthread_mutex_lock(&c->lock);
        started = c->started;
        pthread_mutex_unlock(&c->lock);
        if (started)
                c->ops->remove(c, &it);
}
