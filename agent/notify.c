/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <ctype.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "fd-util.h"
#include "macro.h"
#include "notify.h"

extern char **environ;

static char **split_words(const char *s) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;

        l = calloc(1, sizeof(char *));
        if (!l)
                return NULL;
        while (*s) {
                size_t k;
                char **nl;

                while (isspace((unsigned char) *s))
                        s++;
                k = strcspn(s, " \t\n");
                if (k == 0)
                        break;
                nl = realloc(l, (n + 2) * sizeof(char *));
                if (!nl)
                        return NULL;
                l = nl;
                l[n] = strndup(s, k);
                if (!l[n])
                        return NULL;
                l[++n] = NULL;
                s += k;
        }
        return TAKE_PTR(l);
}

/* The parent's environment without any CERTHERD_* it may carry, then ours. */
static char **hook_environment(const HookEnv *env) {
        const struct {
                const char *key, *value;
        } vars[] = {
                { "CERTHERD_NAME", env->name },
                { "CERTHERD_CERTIFICATE", env->certificate },
                { "CERTHERD_KEY", env->key },
                { "CERTHERD_PIN", env->pin },
                { "CERTHERD_PREVIOUS_PIN", env->previous_pin },
                { "CERTHERD_NOT_AFTER", env->not_after },
        };
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0, max = strv_length(environ) + ELEMENTSOF(vars) + 1;

        l = calloc(max, sizeof(char *));
        if (!l)
                return NULL;
        for (char **e = environ; e && *e; e++) {
                if (strncmp(*e, "CERTHERD_", 9) == 0)
                        continue;
                l[n] = strdup(*e);
                if (!l[n++])
                        return NULL;
        }
        for (size_t i = 0; i < ELEMENTSOF(vars); i++) {
                if (!vars[i].value)
                        continue;
                if (asprintf(&l[n], "%s=%s", vars[i].key, vars[i].value) < 0) {
                        l[n] = NULL;
                        return NULL;
                }
                n++;
        }
        return TAKE_PTR(l);
}

int notify_exec(const char *command, const HookEnv *env, int *ret_status) {
        _cleanup_strv_free_ char **argv = NULL, **envp = NULL;
        pid_t pid;
        int r, status;

        argv = split_words(command);
        envp = hook_environment(env);
        if (!argv || !envp)
                return -ENOMEM;
        if (!argv[0])
                return -EINVAL;

        r = strchr(argv[0], '/') ? posix_spawn(&pid, argv[0], NULL, NULL, argv, envp)
                                 : posix_spawnp(&pid, argv[0], NULL, NULL, argv, envp);
        if (r != 0)
                return -r;

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;

        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        if (ret_status)
                *ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        /* posix_spawn reports a missing program as exit 127 from the child. */
        return WIFEXITED(status) && WEXITSTATUS(status) == 127 ? -ENOENT : -EPROTO;
}

int notify_signal(int sig, const char *pidfile) {
        _cleanup_fclose_ FILE *f = NULL;
        long pid;
        int fd;

        fd = open_regular(pidfile, NULL); /* a FIFO there must not block us */
        if (fd < 0)
                return fd;
        f = fdopen(fd, "re");
        if (!f) {
                close(fd);
                return -ENOMEM;
        }
        if (fscanf(f, "%ld", &pid) != 1 || pid <= 1)
                return -EBADMSG;
        if (kill((pid_t) pid, sig) < 0)
                return -errno;
        return 0;
}
