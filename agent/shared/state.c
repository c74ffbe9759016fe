/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <jansson.h>

#include "fd-util.h"
#include "install.h"
#include "json-util.h"
#include "log.h"
#include "macro.h"
#include "state.h"

/* Bounds of a sane state file: anything outside was not written by us. */
#define STATE_FILE_MAX (64U * 1024U)
#define STATE_STRING_MAX 4096U
#define STATE_FAILURES_MAX 1000000U
#define STATE_ALERT_LEVEL_MAX 3 /* ALERT_EXPIRED (policy.h); state stays below policy in the layers */

void cert_state_done(CertState *st) {
        if (!st)
                return;
        free_many(st->last_error, st->deploy_step, st->deploy_error, st->deploy_serial, st->held_inputs,
                  st->profile, st->issued_serial, st->issued_inputs);
        *st = (CertState){};
}

bool cert_state_is_empty(const CertState *st) {
        return st->failures == 0 && st->last_attempt == 0 && st->next_retry == 0 && st->last_renewal == 0 &&
               !st->last_error && st->alert_level == 0 && st->alert_last == 0 && !st->deploy_failed &&
               st->deploy_failures == 0 && st->deploy_time == 0 && !st->deploy_step && !st->deploy_error &&
               !st->deploy_serial && !st->held_inputs && !st->profile && st->n_issued == 0 &&
               !st->issued_serial && st->renew_cause == 0 && st->ineffective == 0 && !st->issued_inputs &&
               st->ari_next == 0;
}

static int state_path(const char *state_dir, const char *name, char **ret) {
        return asprintf(ret, "%s/certs/%s.json", state_dir, name) < 0 ? -ENOMEM : 0;
}

/* An optional non-negative integer ≤ max; absent or null is 0. */
static int get_uint(json_t *o, const char *key, uint64_t max, uint64_t *ret) {
        json_t *v = json_object_get(o, key);

        if (!v || json_is_null(v)) {
                *ret = 0;
                return 0;
        }
        if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t) json_integer_value(v) > max)
                return -EBADMSG;
        *ret = (uint64_t) json_integer_value(v);
        return 0;
}

static int get_bool(json_t *o, const char *key, bool *ret) {
        json_t *v = json_object_get(o, key);

        if (!v || json_is_null(v)) {
                *ret = false;
                return 0;
        }
        if (!json_is_boolean(v))
                return -EBADMSG;
        *ret = json_is_true(v);
        return 0;
}

/* An optional string without control characters (it reaches terminals and the journal). */
static int get_string(json_t *o, const char *key, char **ret) {
        json_t *v = json_object_get(o, key);
        const char *s;
        size_t n;

        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v))
                return -EBADMSG;
        s = json_string_value(v);
        n = json_string_length(v);
        if (n > STATE_STRING_MAX || strlen(s) != n)
                return -EBADMSG;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
                        return -EBADMSG;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

/* The same token rule as the inventory's `profile` (config_profile_is_valid; state sits below config). */
static int get_profile(json_t *o, char **ret) {
        int r = get_string(o, "profile", ret);

        if (r < 0 || !*ret)
                return r;
        if (strlen(*ret) == 0 || strlen(*ret) > 64 ||
            strspn(*ret, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                         "0123456789-_.") != strlen(*ret)) {
                free(*ret);
                *ret = NULL;
                return -EBADMSG;
        }
        return 0;
}

/* "issued_usec": the issuance times, newest first, at most CERT_STATE_ISSUED_MAX. */
static int get_issued(json_t *o, CertState *st) {
        json_t *a = json_object_get(o, "issued_usec"), *v;
        size_t i;

        if (!a || json_is_null(a))
                return 0;
        if (!json_is_array(a) || json_array_size(a) > CERT_STATE_ISSUED_MAX)
                return -EBADMSG;
        json_array_foreach (a, i, v) {
                if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
                    (i > 0 && (usec_t) json_integer_value(v) > st->issued[i - 1]))
                        return -EBADMSG;
                st->issued[st->n_issued++] = (usec_t) json_integer_value(v);
        }
        return 0;
}

/* NULL o: no state file yet, an empty state. */
static int parse_state(json_t *o, void *ret) {
        _cleanup_(cert_state_done) CertState st = {};
        uint64_t failures, deploy_failures, level, last_attempt, next_retry, last_renewal, alert_last,
                deploy_time, cause, ineffective, ari_next;
        int r;

        if (!o) {
                *(CertState *) ret = (CertState){};
                return 0;
        }
        /* Times are stored as microseconds since the epoch, like usec_t. */
        if ((r = get_uint(o, "failures", STATE_FAILURES_MAX, &failures)) < 0 ||
            (r = get_uint(o, "last_attempt_usec", INT64_MAX, &last_attempt)) < 0 ||
            (r = get_uint(o, "next_retry_usec", INT64_MAX, &next_retry)) < 0 ||
            (r = get_uint(o, "last_renewal_usec", INT64_MAX, &last_renewal)) < 0 ||
            (r = get_string(o, "last_error", &st.last_error)) < 0 ||
            (r = get_uint(o, "alert_level", STATE_ALERT_LEVEL_MAX, &level)) < 0 ||
            (r = get_uint(o, "alert_last_usec", INT64_MAX, &alert_last)) < 0 ||
            (r = get_bool(o, "deploy_failed", &st.deploy_failed)) < 0 ||
            (r = get_uint(o, "deploy_failures", STATE_FAILURES_MAX, &deploy_failures)) < 0 ||
            (r = get_uint(o, "deploy_time_usec", INT64_MAX, &deploy_time)) < 0 ||
            (r = get_string(o, "deploy_step", &st.deploy_step)) < 0 ||
            (r = get_string(o, "deploy_error", &st.deploy_error)) < 0 ||
            (r = get_string(o, "deploy_serial", &st.deploy_serial)) < 0 ||
            (r = get_string(o, "held_inputs", &st.held_inputs)) < 0 ||
            (r = get_profile(o, &st.profile)) < 0 || (r = get_issued(o, &st)) < 0 ||
            (r = get_string(o, "issued_serial", &st.issued_serial)) < 0 ||
            (r = get_uint(o, "renew_cause", UINT32_MAX, &cause)) < 0 ||
            (r = get_uint(o, "ineffective", STATE_FAILURES_MAX, &ineffective)) < 0 ||
            (r = get_string(o, "issued_inputs", &st.issued_inputs)) < 0 ||
            (r = get_uint(o, "ari_next_usec", INT64_MAX, &ari_next)) < 0)
                return r;
        st.failures = (unsigned) failures;
        st.last_attempt = last_attempt;
        st.next_retry = next_retry;
        st.last_renewal = last_renewal;
        st.alert_level = (int) level;
        st.alert_last = alert_last;
        st.deploy_failures = (unsigned) deploy_failures;
        st.deploy_time = deploy_time;
        st.renew_cause = (unsigned) cause;
        st.ineffective = (unsigned) ineffective;
        st.ari_next = ari_next;
        *(CertState *) ret = st;
        st = (CertState){};
        return 0;
}

int state_parse(const char *text, size_t size, CertState *ret) {
        return json_parse_with(text, size, parse_state, ret);
}

int state_load(const char *state_dir, const char *name, CertState *ret) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = state_path(state_dir, name, &path);
        if (r < 0)
                return r;
        return json_load_with(path, STATE_FILE_MAX, parse_state, ret);
}

static int set_string(json_t *o, const char *key, const char *s) {
        return s ? json_object_set_new(o, key, json_string(s)) : 0;
}

static int set_issued(json_t *o, const CertState *st) {
        json_t *a;

        if (st->n_issued == 0)
                return 0;
        a = json_array();
        if (!a)
                return -ENOMEM;
        for (unsigned i = 0; i < st->n_issued && i < CERT_STATE_ISSUED_MAX; i++)
                if (json_array_append_new(a, json_integer((json_int_t) st->issued[i])) < 0) {
                        json_decref(a);
                        return -ENOMEM;
                }
        return json_object_set_new(o, "issued_usec", a);
}

int state_save(const char *state_dir, const char *name, const CertState *st) {
        _cleanup_free_ char *path = NULL, *dir = NULL;
        json_t *o;
        int r;

        r = state_path(state_dir, name, &path);
        if (r < 0)
                return r;
        if (asprintf(&dir, "%s/certs", state_dir) < 0)
                return -ENOMEM;
        r = mkdir_p(dir, 0700);
        if (r < 0)
                return r;

        o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:I, s:I, s:I}", "failures",
                      (json_int_t) st->failures, "last_attempt_usec", (json_int_t) st->last_attempt,
                      "next_retry_usec", (json_int_t) st->next_retry, "last_renewal_usec",
                      (json_int_t) st->last_renewal, "alert_level", (json_int_t) st->alert_level,
                      "alert_last_usec", (json_int_t) st->alert_last, "deploy_failed", st->deploy_failed,
                      "deploy_failures", (json_int_t) st->deploy_failures, "deploy_time_usec",
                      (json_int_t) st->deploy_time, "ari_next_usec", (json_int_t) st->ari_next);
        if (!o)
                return -ENOMEM;
        if (set_string(o, "last_error", st->last_error) < 0 ||
            set_string(o, "deploy_step", st->deploy_step) < 0 ||
            set_string(o, "deploy_error", st->deploy_error) < 0 ||
            set_string(o, "deploy_serial", st->deploy_serial) < 0 ||
            set_string(o, "held_inputs", st->held_inputs) < 0 || set_string(o, "profile", st->profile) < 0 ||
            set_issued(o, st) < 0 || set_string(o, "issued_serial", st->issued_serial) < 0 ||
            (st->renew_cause &&
             json_object_set_new(o, "renew_cause", json_integer((json_int_t) st->renew_cause)) < 0) ||
            (st->ineffective &&
             json_object_set_new(o, "ineffective", json_integer((json_int_t) st->ineffective)) < 0) ||
            set_string(o, "issued_inputs", st->issued_inputs) < 0) {
                json_decref(o);
                return -ENOMEM;
        }
        return json_save_state_file(path, o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
}

int state_directory(const char *state_dir) {
        int r = mkdir_p(state_dir, 0700);

        if (r < 0)
                return log_error_errno(r, "cannot create state directory %s: %m", state_dir);
        return 0;
}

/* "PID" or "PID daemon" into the lock file, replacing what a previous holder (maybe one that crashed) left.
 */
static int note_holder(int fd, bool daemon) {
        char holder[64];
        int n = snprintf(holder, sizeof(holder), "%d%s\n", (int) getpid(), daemon ? " daemon" : "");

        if (ftruncate(fd, 0) < 0 || pwrite(fd, holder, (size_t) n, 0) != n)
                return -errno;
        return 0;
}

int state_lock(const char *state_dir, bool wait) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        int r;

        if (asprintf(&path, "%s/lock", state_dir) < 0)
                return -ENOMEM;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return log_error_errno(-errno, "cannot open lock %s: %m", path);
        while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
                if (errno == EINTR)
                        continue;
                return errno == EWOULDBLOCK ? -EWOULDBLOCK
                                            : log_error_errno(-errno, "cannot lock %s: %m", path);
        }
        /* Who holds it, for whoever finds it taken (state_lock_daemon): a command that cannot reach the
         * daemon must tell "the daemon does it" from "nobody will". */
        r = note_holder(fd, false);
        if (r < 0)
                log_debug_errno(r, "cannot note the holder in %s: %m, ignoring", path);
        return TAKE_FD(fd);
}

int state_lock_note_daemon(int fd) {
        int r = note_holder(fd, true);

        if (r < 0)
                log_debug_errno(r, "cannot note the daemon as the holder of the lock: %m, ignoring");
        return r;
}

int state_lock_daemon(const char *state_dir, pid_t *ret_pid) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -1;
        char holder[64], tail[8] = "";
        ssize_t n;
        int pid;

        if (asprintf(&path, "%s/lock", state_dir) < 0)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        n = pread(fd, holder, sizeof(holder) - 1, 0);
        if (n < 0)
                return -errno;
        holder[n] = 0;
        if (sscanf(holder, "%d %7s", &pid, tail) != 2 || pid <= 0 || strcmp(tail, "daemon") != 0)
                return -ESRCH;
        if (kill(pid, 0) < 0 && errno == ESRCH)
                return -ESRCH;
        *ret_pid = pid;
        return 0;
}
