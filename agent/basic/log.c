/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <systemd/sd-journal.h>

#include "log.h"
#include "message-id.h"

/* The only mutable global but the SIGTERM latch: the log target and level (docs/architecture.md, conventions 7). */
static LogTarget log_target = LOG_TARGET_AUTO;
static int log_max_level = LOG_INFO;

static const struct {
        const char *name;
        const char *id;
        int priority;
} cert_events[_CERT_EVENT_MAX] = {
        [CERT_EVENT_EXPIRY_WARNING] = { "expiry-warning", CERTHERD_MESSAGE_EXPIRY_WARNING, LOG_WARNING },
        [CERT_EVENT_EXPIRY_CRITICAL] = { "expiry-critical", CERTHERD_MESSAGE_EXPIRY_CRITICAL, LOG_CRIT },
        [CERT_EVENT_EXPIRED] = { "expired", CERTHERD_MESSAGE_EXPIRED, LOG_CRIT },
        [CERT_EVENT_RENEWED] = { "renewed", CERTHERD_MESSAGE_RENEWED, LOG_NOTICE },
        [CERT_EVENT_RENEWAL_FAILED] = { "renewal-failed", CERTHERD_MESSAGE_RENEWAL_FAILED, LOG_ERR },
        [CERT_EVENT_INSTALLED] = { "installed", CERTHERD_MESSAGE_INSTALLED, LOG_INFO },
        [CERT_EVENT_PIN_CHANGED] = { "pin-changed", CERTHERD_MESSAGE_PIN_CHANGED, LOG_NOTICE },
        [CERT_EVENT_RELOADED] = { "reloaded", CERTHERD_MESSAGE_RELOADED, LOG_INFO },
        [CERT_EVENT_RELOAD_FAILED] = { "reload-failed", CERTHERD_MESSAGE_RELOAD_FAILED, LOG_ERR },
        [CERT_EVENT_DEPLOY_VERIFIED] = { "deploy-verified", CERTHERD_MESSAGE_DEPLOY_VERIFIED, LOG_INFO },
        [CERT_EVENT_DEPLOY_MISMATCH] = { "deploy-mismatch", CERTHERD_MESSAGE_DEPLOY_MISMATCH, LOG_ERR },
        [CERT_EVENT_VALIDATION_FAILED] = { "validation-failed", CERTHERD_MESSAGE_VALIDATION_FAILED,
                                           LOG_ERR },
        [CERT_EVENT_DEPLOY_FAILED] = { "deploy-failed", CERTHERD_MESSAGE_DEPLOY_FAILED, LOG_ERR },
};

/* Not shared state but a per-thread note: the last error this thread logged (log_last_error). */
static _Thread_local char last_error[512];

void log_error_clear(void) {
        last_error[0] = 0;
}

const char *log_last_error(void) {
        return last_error;
}

static void note_error(int level, const char *msg) {
        if (level <= LOG_ERR)
                snprintf(last_error, sizeof(last_error), "%.*s", (int) sizeof(last_error) - 1, msg);
}

int log_level_from_string(const char *s) {
        static const char *const names[] = { "emerg",   "alert",  "crit", "err",
                                             "warning", "notice", "info", "debug" };

        if (!s)
                return -EINVAL;
        for (int i = 0; i < (int) ELEMENTSOF(names); i++)
                if (strcmp(s, names[i]) == 0)
                        return i;
        if (strcmp(s, "error") == 0)
                return LOG_ERR;
        if (s[0] >= '0' && s[0] <= '7' && s[1] == 0)
                return s[0] - '0';
        return -EINVAL;
}

DEFINE_STRUCT_STRING_TABLE(cert_event, CertEvent, cert_events, name, _CERT_EVENT_MAX)

const char *cert_event_message_id(CertEvent e) {
        return e >= 0 && e < _CERT_EVENT_MAX ? cert_events[e].id : NULL;
}

int cert_event_priority(CertEvent e) {
        return e >= 0 && e < _CERT_EVENT_MAX ? cert_events[e].priority : LOG_INFO;
}

void log_set_target(LogTarget t) {
        log_target = t;
}

void log_set_max_level(int level) {
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

/* $JOURNAL_STREAM is "DEV:INO" of the stream systemd connected stderr to; only trust it if stderr is
 * still that stream (a child may inherit the variable with stderr redirected elsewhere). */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

LogTarget log_get_target(void) {
        if (log_target == LOG_TARGET_AUTO)
                log_target = stderr_is_journal() ? LOG_TARGET_JOURNAL : LOG_TARGET_STDERR;
        return log_target;
}

static void write_stderr(int level, const char *msg) {
        /* One line per message; a terminal reader gets no syslog prefixes, the journal gets the priority. */
        const char *prefix = level <= LOG_ERR ? "error: " : level == LOG_WARNING ? "warning: " : "";
        fprintf(stderr, "certherd: %s%s\n", prefix, msg);
}

static int log_send(int level, const char *msg, const char *message_id, const char *cert,
                    const char *const *fields) {
        _cleanup_free_ char *m = NULL, *p = NULL, *id = NULL, *c = NULL;
        struct iovec iov[32];
        size_t n = 0;

        if (asprintf(&m, "MESSAGE=%s", msg) < 0 || asprintf(&p, "PRIORITY=%d", level) < 0)
                return -ENOMEM;
        iov[n++] = (struct iovec){ m, strlen(m) };
        iov[n++] = (struct iovec){ p, strlen(p) };
        iov[n++] = (struct iovec){ (char *) "SYSLOG_IDENTIFIER=certherd",
                                   strlen("SYSLOG_IDENTIFIER=certherd") };
        if (message_id) {
                if (asprintf(&id, "MESSAGE_ID=%s", message_id) < 0)
                        return -ENOMEM;
                iov[n++] = (struct iovec){ id, strlen(id) };
        }
        if (cert) {
                if (asprintf(&c, "CERTHERD_CERT=%s", cert) < 0)
                        return -ENOMEM;
                iov[n++] = (struct iovec){ c, strlen(c) };
        }
        for (size_t i = 0; fields && fields[i] && n < ELEMENTSOF(iov); i++)
                iov[n++] = (struct iovec){ (char *) fields[i], strlen(fields[i]) };

        return sd_journal_sendv(iov, (int) n);
}

int log_internal(int level, int error, const char *fmt, ...) {
        char buf[2048];
        va_list ap;
        int saved = errno;

        if (error < 0)
                error = -error;
        if (level > log_max_level && level > LOG_ERR)
                goto out;

        errno = error;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        note_error(level, buf);
        if (level > log_max_level)
                goto out;

        if (log_get_target() == LOG_TARGET_JOURNAL && log_send(level, buf, NULL, NULL, NULL) >= 0)
                goto out;
        write_stderr(level, buf);
out:
        errno = saved;
        return -error;
}

int log_cert_event(CertEvent e, const char *cert, const char *const *fields, const char *fmt, ...) {
        char buf[2048];
        va_list ap;
        int level = cert_event_priority(e), r;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        note_error(level, buf);

        if (log_get_target() == LOG_TARGET_JOURNAL) {
                r = log_send(level, buf, cert_event_message_id(e), cert, fields);
                if (r >= 0)
                        return 0;
        }
        if (level <= log_max_level) {
                char line[2300];
                snprintf(line, sizeof(line), "%s: %s", cert, buf);
                write_stderr(level, line);
        }
        return 0;
}
