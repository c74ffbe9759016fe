/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/* Who acts on the service user's files when root runs a command.
 *
 * certherd.service and certherd-renew.service run as the user that owns the state directory. A root
 * shell that wrote the same files as root would leave them owned by root (the next timer run then fails
 * with EACCES) and would distrust the service user's keys. So, when root runs a command that writes and
 * the state directory belongs to another user, the process becomes that user for good, as runuser(1)
 * does (supplementary groups, gid, uid), before it writes anything.
 *
 * It keeps a few capabilities in its effective set, the ones certherd.service's documented drop-ins
 * grant, and only when the inventory asks for what they allow: CAP_CHOWN and CAP_FOWNER for `owner =`,
 * CAP_KILL for `signal =`, and CAP_NET_BIND_SERVICE for the built-in challenge responders. Files are
 * created with the user's uid and gid whatever the capabilities, so nothing it writes changes owner. The
 * capabilities are not inherited by hooks (they are neither inheritable nor ambient).
 *
 * Commands that must also write as root (import --write puts the inventory file in root's /etc) do not
 * switch; they write into the state directory under the directory owner's filesystem identity instead
 * (privilege_fs_enter()). */

typedef enum PrivilegeAct {
        PRIVILEGE_NONE,     /* reads only, or runs as the daemon: stays who it is */
        PRIVILEGE_BECOME,   /* writes only where the service user writes: become that user */
        PRIVILEGE_FS_SCOPED /* writes root's files too: switch the filesystem identity per step */
} PrivilegeAct;

/* What a command (its verb, as on the command line) needs. */
PrivilegeAct privilege_act_of(const char *verb, bool import_write);

/* The command line's one call before a command acts: privilege_become_state_owner() for the commands that
 * need it. Returns -errno when the command must not run. */
int privilege_prepare(const char *verb, bool import_write, const char *config_path);

/* For PRIVILEGE_BECOME: when the process runs as root and the inventory's state directory (the inventory at
 * config_path, NULL: the default; state_directory overrides it) belongs to another user, become that
 * user. Returns 1 when it switched, 0 when there was nothing to do (not root, a state directory of root's,
 * none yet, or an inventory that does not load: the command reports that itself), -errno when switching
 * failed (logged; the command must not go on as root). */
int privilege_become_state_owner(const char *config_path, const char *state_directory);

/* One step's filesystem identity: while root, files are created and permissions checked as the owner of
 * path, or of its nearest parent that exists (setfsuid/setfsgid); privilege_fs_leave() restores root.
 * Does nothing when not root or when root owns that directory. The identity is per thread. */
typedef struct PrivilegeFs {
        bool active;
} PrivilegeFs;

int privilege_fs_enter(const char *path, PrivilegeFs *ret);
void privilege_fs_leave(PrivilegeFs *p);
