/* SPDX-License-Identifier: GPL-3.0-or-later */
/* dns-01 (RFC 8555 §8.4) through the operator's hook: `HOOK add|remove DOMAIN VALUE`. The hook returns
 * once the record is served by the zone's authoritative servers (conf/dns-hook-nsupdate.example). */
#include <string.h>

#include "acme-internal.h"
#include "jws.h"
#include "log.h"
#include "spawn-util.h"

/* Under [agent]'s hook-timeout (spawn-util.h: own process group, fds 0-2 only, killed at the deadline). */
static int run_hook(Challenger *c, const char *action, const char *domain, const char *value) {
        char *argv[] = { c->cfg->dns_hook, (char *) action, (char *) domain, (char *) value, NULL };
        usec_t timeout = c->cfg->hook_timeout > 0 ? c->cfg->hook_timeout : CONFIG_HOOK_TIMEOUT_DEFAULT;
        _cleanup_free_ char *why = NULL;
        int r;

        r = spawn_run(argv, NULL, timeout, &why);
        if (r < 0)
                return log_error_errno(r, "[acme \"%s\"] dns-hook '%s %s %s' %s", c->cfg->name,
                                       c->cfg->dns_hook, action, domain, why ?: strerror(-r));
        return 0;
}

static int dns_start(Challenger *c) {
        return 0;
}

static int dns_add(Challenger *c, const ChallengeItem *it) {
        _cleanup_free_ char *value = NULL;
        int r;

        r = challenge_dns_value(it->key_authorization, &value);
        if (r < 0)
                return r;
        return run_hook(c, "add", it->identifier, value);
}

static void dns_remove(Challenger *c, const ChallengeItem *it) {
        _cleanup_free_ char *value = NULL;

        if (challenge_dns_value(it->key_authorization, &value) >= 0)
                (void) run_hook(c, "remove", it->identifier, value);
}

const ChallengeOps challenge_dns_hook_ops = {
        .start = dns_start,
        .add = dns_add,
        .remove = dns_remove,
};

int challenge_dns_value(const char *key_authorization, char **ret) {
        return jws_sha256_base64url(key_authorization, ret);
}
