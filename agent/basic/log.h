/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <syslog.h>

#include "macro.h"

/* The one logging path (docs/architecture.md, conventions 6). Under journald (stderr is $JOURNAL_STREAM) entries go to the
 * journal with structured fields; otherwise one line per message to stderr. */

typedef enum LogTarget {
        LOG_TARGET_AUTO,
        LOG_TARGET_STDERR,
        LOG_TARGET_JOURNAL,
        _LOG_TARGET_MAX,
} LogTarget;

void log_set_target(LogTarget t);
LogTarget log_get_target(void);
void log_set_max_level(int level);
int log_get_max_level(void);

/* --log-level / $CERTHERD_LOG_LEVEL: "debug", "info", "notice", "warning", "err" (also "error"), or a
 * syslog number 0..7. Returns the level or -EINVAL. */
int log_level_from_string(const char *s);

/* The last error (LOG_ERR or more urgent, events included) the calling thread logged since
 * log_error_clear(), whether or not the level filter let it out: a failed step records it as its reason
 * (state, `status`). "" when none. Per thread, as renewals run on worker threads. */
void log_error_clear(void);
const char *log_last_error(void);

/* Returns -abs(error) (or 0 when error is 0); errno is set to abs(error) while formatting, so %m works. */
int log_internal(int level, int error, const char *fmt, ...) _printf_(3, 4);

#define log_debug(...) log_internal(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_internal(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_internal(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_internal(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_internal(LOG_ERR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...) log_internal(LOG_DEBUG, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_internal(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_internal(LOG_ERR, (e), __VA_ARGS__)

typedef enum CertEvent {
        CERT_EVENT_EXPIRY_WARNING,
        CERT_EVENT_EXPIRY_CRITICAL,
        CERT_EVENT_EXPIRED,
        CERT_EVENT_RENEWED,
        CERT_EVENT_RENEWAL_FAILED,
        CERT_EVENT_INSTALLED,
        CERT_EVENT_PIN_CHANGED,
        CERT_EVENT_RELOADED,
        CERT_EVENT_RELOAD_FAILED,
        CERT_EVENT_DEPLOY_VERIFIED,
        CERT_EVENT_DEPLOY_MISMATCH,
        CERT_EVENT_VALIDATION_FAILED,
        CERT_EVENT_DEPLOY_FAILED,
        _CERT_EVENT_MAX,
        _CERT_EVENT_INVALID = -22,
} CertEvent;

const char *cert_event_to_string(CertEvent e) _pure_;
CertEvent cert_event_from_string(const char *s) _pure_;
const char *cert_event_message_id(CertEvent e) _pure_;
int cert_event_priority(CertEvent e) _pure_;

/* A journal event of docs/journal.md: MESSAGE_ID, PRIORITY, CERTHERD_CERT=cert, plus `fields`, a
 * NULL-terminated list of "CERTHERD_X=value" strings (may be NULL). Returns 0 or -errno. */
int log_cert_event(CertEvent e, const char *cert, const char *const *fields, const char *fmt, ...)
        _printf_(4, 5);
