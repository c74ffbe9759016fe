/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "macro.h"
#include "privilege.h"

PrivilegeAct privilege_act_of(const char *verb, bool import_write) {
        if (!verb)
                return PRIVILEGE_NONE;
        if (strcmp(verb, "renew") == 0 || strcmp(verb, "recover") == 0 || strcmp(verb, "ca") == 0 ||
            strcmp(verb, "revoke") == 0 || strcmp(verb, "acme") == 0)
                return PRIVILEGE_BECOME;
        /* The inventory file import writes must stay root's (polkit trusts it because the service user
         * cannot change it), and certbot's own files are root's. */
        if (strcmp(verb, "import") == 0 && import_write)
                return PRIVILEGE_FS_SCOPED;
        return PRIVILEGE_NONE;
}

/* The capabilities the unit's drop-ins would grant for what this inventory asks for. */
static uint32_t wanted_caps(const Inventory *inv) {
        uint32_t caps = 0;

        for (size_t i = 0; i < inv->n_certs; i++) {
                if (inv->certs[i]->owner)
                        caps |= (1U << CAP_CHOWN) | (1U << CAP_FOWNER);
                if (inv->certs[i]->x->signal_pidfile)
                        caps |= 1U << CAP_KILL;
        }
        /* http-01 and tls-alpn-01 without a webroot listen on ports 80 and 443 by default. */
        if (inv->n_acme > 0)
                caps |= 1U << CAP_NET_BIND_SERVICE;
        return caps;
}

static int keep_caps(uint32_t caps) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
        struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {};

        d[0].effective = d[0].permitted = caps;
        if (syscall(SYS_capset, &h, d) < 0)
                return -errno;
        return 0;
}

/* runuser(1)'s order: supplementary groups, then the gid, then the uid (after which nothing else may be
 * changed). The capabilities survive setresuid() only with PR_SET_KEEPCAPS, and only in the permitted set;
 * capset() then narrows them to `caps` and makes those effective. */
static int become(uid_t uid, gid_t gid, const char *name, uint32_t caps) {
        int r;

        if (name ? initgroups(name, gid) < 0 : setgroups(0, NULL) < 0)
                return -errno;
        if (setresgid(gid, gid, gid) < 0)
                return -errno;
        if (caps != 0 && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
                return -errno;
        if (setresuid(uid, uid, uid) < 0)
                return -errno;
        if (caps != 0) {
                (void) prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
                r = keep_caps(caps);
                if (r < 0)
                        return r;
        }
        /* Never go on as root by mistake. */
        if (geteuid() != uid || getuid() != uid || getegid() != gid)
                return -EPERM;
        return 0;
}

static void log_caps(const char *dir, const char *name, uid_t uid, gid_t gid, uint32_t caps) {
        log_debug("%s belongs to %s (uid %u): acting as that user and group %u%s%s%s%s%s", dir, name ?: "?",
                  (unsigned) uid, (unsigned) gid, caps ? ", keeping" : "",
                  caps & (1U << CAP_CHOWN) ? " CAP_CHOWN CAP_FOWNER" : "",
                  caps & (1U << CAP_KILL) ? " CAP_KILL" : "",
                  caps & (1U << CAP_NET_BIND_SERVICE) ? " CAP_NET_BIND_SERVICE" : "",
                  caps ? " (as the unit's drop-ins would)" : "");
}

int privilege_become_state_owner(const char *config_path, const char *state_directory) {
        _cleanup_inventory_ Inventory *inv = NULL;
        const char *dir = state_directory;
        struct passwd *pw;
        struct stat st;
        gid_t gid;
        uint32_t caps;
        int level, r;

        if (geteuid() != 0)
                return 0;
        /* A broken inventory is the command's to report, with its file and line, and its warnings are
         * the command's to print: this look-up stays quiet. */
        level = log_get_max_level();
        log_set_max_level(LOG_ERR);
        r = config_load(config_path, &inv, NULL);
        log_set_max_level(level);
        if (r < 0)
                return 0;
        if (!dir)
                dir = inv->agent.state_directory;
        if (!dir || stat(dir, &st) < 0 || st.st_uid == 0)
                return 0;

        errno = 0;
        pw = getpwuid(st.st_uid);
        gid = pw ? pw->pw_gid : st.st_gid;
        caps = wanted_caps(inv);
        r = become(st.st_uid, gid, pw ? pw->pw_name : NULL, caps);
        if (r < 0)
                return log_error_errno(
                        r,
                        "%s belongs to uid %u; cannot switch to that user (%m): not acting as "
                        "root on its files",
                        dir, (unsigned) st.st_uid);
        log_caps(dir, pw ? pw->pw_name : NULL, st.st_uid, gid, caps);
        return 1;
}

/* The nearest of path and its parents that exists: what a write below it would inherit. */
static int stat_nearest(const char *path, char **ret_dir, struct stat *ret) {
        _cleanup_free_ char *p = strdup(path);
        char *slash;

        if (!p)
                return -ENOMEM;
        for (;;) {
                if (stat(p, ret) >= 0) {
                        *ret_dir = TAKE_PTR(p);
                        return 0;
                }
                if (errno != ENOENT && errno != ENOTDIR)
                        return -errno;
                slash = strrchr(p, '/');
                if (!slash || slash == p)
                        return -ENOENT;
                *slash = 0;
        }
}

int privilege_fs_enter(const char *path, PrivilegeFs *ret) {
        _cleanup_free_ char *dir = NULL;
        struct stat st;
        int r;

        ret->active = false;
        if (geteuid() != 0)
                return 0;
        r = stat_nearest(path, &dir, &st);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (st.st_uid == 0)
                return 0;
        /* setfsuid() answers with the previous value, never an error: ask again to see it took. */
        (void) setfsgid(st.st_gid);
        (void) setfsuid(st.st_uid);
        if ((uid_t) setfsuid(st.st_uid) != st.st_uid || (gid_t) setfsgid(st.st_gid) != st.st_gid) {
                privilege_fs_leave(&(PrivilegeFs){ .active = true });
                return -EPERM;
        }
        log_debug("%s belongs to uid %u: writing there as that user", dir, (unsigned) st.st_uid);
        ret->active = true;
        return 0;
}

void privilege_fs_leave(PrivilegeFs *p) {
        if (!p || !p->active)
                return;
        (void) setfsuid(0);
        (void) setfsgid(0);
        p->active = false;
}

int privilege_prepare(const char *verb, bool import_write, const char *config_path) {
        if (privilege_act_of(verb, import_write) != PRIVILEGE_BECOME)
                return 0;
        return privilege_become_state_owner(config_path, NULL);
}
