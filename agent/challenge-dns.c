/* SPDX-License-Identifier: GPL-3.0-or-later */
/* dns-01 (RFC 8555 §8.4) through the operator's hook: `HOOK add|remove DOMAIN VALUE`. The hook returns
 * once the record is served by the zone's authoritative servers (conf/dns-hook-nsupdate.example). */
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>

#include "challenge-dns.h"
#include "log.h"

extern char **environ;

static int run_hook(Challenger *c, const char *action, const char *domain, const char *value) {
        char *argv[] = { c->cfg->dns_hook, (char *) action, (char *) domain, (char *) value, NULL };
        pid_t pid;
        int r, status;

        r = posix_spawn(&pid, c->cfg->dns_hook, NULL, NULL, argv, environ);
        if (r != 0)
                return log_error_errno(-r, "[acme \"%s\"] cannot run dns-hook %s: %m", c->cfg->name, c->cfg->dns_hook);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return log_error_errno(-errno, "[acme \"%s\"] waiting for dns-hook: %m", c->cfg->name);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        if (WIFEXITED(status))
                return log_error_errno(-EPROTO, "[acme \"%s\"] dns-hook '%s %s %s' failed with exit status %d",
                                       c->cfg->name, c->cfg->dns_hook, action, domain, WEXITSTATUS(status));
        return log_error_errno(-EPROTO, "[acme \"%s\"] dns-hook '%s %s %s' was killed by signal %d", c->cfg->name,
                               c->cfg->dns_hook, action, domain, WTERMSIG(status));
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

static void dns_stop(Challenger *c) {
}

const ChallengeOps challenge_dns_hook_ops = {
        .start = dns_start,
        .add = dns_add,
        .remove = dns_remove,
        .stop = dns_stop,
};
