/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Every file certherd reads is opened O_RDONLY|O_NONBLOCK|O_NOCTTY|O_CLOEXEC and fstat()ed before a byte is
 * read: anything but a regular file is refused, so a FIFO (or device) planted at an input path can never
 * block a command or the daemon's event loop. The refusal is a distinct errno per file type, which
 * file_strerror() turns into "not a regular file (FIFO)" and the like:
 *
 *   -EISDIR directory   -ESPIPE FIFO   -ENODEV device   -ENXIO socket   -ELOOP symbolic link (READ_NOFOLLOW)
 *   -ENOLINK a symbolic link that the strict rule below does not trust
 *   -EXDEV  a symbolic link of one user that leads to a file of another (the chase rule below)
 *
 * The type is taken from an O_PATH descriptor before the file is opened for reading (and the very inode
 * is then opened through /proc/self/fd): a device node is refused before it is ever opened, so no driver's
 * open() runs (a tape rewinds, a watchdog arms) because someone named it as a certificate.
 *
 * Symbolic links are resolved under one of two rules:
 *
 *   - the chase rule (the default, for every read): a link owned by root or by the user certherd runs as
 *     is followed; a link owned by another user is followed only to a file that user owns as well. Run
 *     as root, a user's link to /etc/shadow or to another service's key is refused, while root's links —
 *     certbot's live/ into archive/ — and a user's link to their own file are followed. This is systemd's
 *     CHASE_SAFE "never from an unprivileged owner to a privileged one", applied to links and what they
 *     lead to (not to plain directories: a service user's directory may hold files root wrote there).
 *   - the strict rule (open_dir_nofollow(), READ_SAFE_DIR, READ_SAFE_LINK): see open_dir_nofollow().
 */

/* A read buffer that can be reused file after file (a scan of ten thousand pairs reads twenty thousand). */
typedef struct FileBuffer {
        uint8_t *data;
        size_t size; /* of the last file read, without the NUL after it */
        size_t allocated;
} FileBuffer;

typedef enum ReadFlags {
        READ_NOFOLLOW = 1 << 0,  /* refuse a symbolic link as the last component (-ELOOP) */
        READ_SAFE_DIR = 1 << 1,  /* links in the directory part only under the strict rule */
        READ_SAFE_LINK = 1 << 2, /* a link as the last component only under the strict rule */
        READ_STRICT = READ_NOFOLLOW | READ_SAFE_DIR, /* for files about to be reused or copied as root */
        /* root's own links only: inventory files, reused keys */
        READ_TRUSTED = READ_SAFE_DIR | READ_SAFE_LINK,
} ReadFlags;

/* The message for an error of the readers below: "not a regular file (FIFO)" etc. for the refusals listed
 * above, strerror() otherwise. Takes the error with either sign. Never NULL. */
const char *file_strerror(int error);

/* Split path into a directory (allocated; "." without a '/', "/" for "/NAME") and the last component (inside
 * path). Returns 0 or -ENOMEM. */
int path_split_dir(const char *path, char **ret_dir, const char **ret_base);

/* Open `path` (relative to dirfd, AT_FDCWD for the working directory) for reading without blocking, and
 * refuse anything but a regular file. Returns the fd (O_NONBLOCK cleared) or -errno; *ret_st (may be
 * NULL) gets its stat. */
int open_regular_at(int dirfd, const char *path, ReadFlags flags, struct stat *ret_st);
static inline int open_regular(const char *path, struct stat *ret_st) {
        return open_regular_at(AT_FDCWD, path, 0, ret_st);
}

/* Read the regular file `path` (at most max bytes: -EFBIG beyond) into b, NUL-terminated, reusing its
 * allocation; *ret_mode (may be NULL) gets its st_mode. Returns 0 or -errno. */
int read_file_into(const char *path, size_t max, FileBuffer *b, mode_t *ret_mode);
int read_file_at(int dirfd, const char *path, ReadFlags flags, size_t max, FileBuffer *b, mode_t *ret_mode);

/* Read a whole regular file (at most max bytes: -EFBIG beyond) into *ret, NUL-terminated; *ret_size
 * excludes the NUL. Returns 0 or -errno. */
int read_full_file(const char *path, size_t max, uint8_t **ret, size_t *ret_size);
/* The same with flags: READ_STRICT for a key or certificate about to be reused or backed up as root. */
int read_full_file_flags(const char *path, ReadFlags flags, size_t max, uint8_t **ret, size_t *ret_size);

/* A password or secret file: like read_full_file, without the trailing newline(s). */
int read_secret_file(const char *path, char **ret);

/* Open the directory `path` (O_RDONLY|O_DIRECTORY|O_CLOEXEC) without following a symbolic link that
 * someone else could have planted. The strict rule: a symbolic link anywhere in the path is followed only
 * when the link and the directory holding it both belong to root (or to the user certherd runs as) and that
 * directory is not writable by group or others unless it is sticky; any other link gives -ENOLINK. Such a
 * link can only have been made by root (an unprivileged user can neither create a root-owned link nor
 * replace one in a directory they cannot write), which covers the links distributions ship (/var/run,
 * /etc/letsencrypt/live), while a service user who owns a directory on the path cannot redirect root's
 * writes by swapping a component for a link. The link's target is resolved under the same rule.
 * openat2(RESOLVE_NO_SYMLINKS) resolves paths without any link in one call; a walk with O_NOFOLLOW per
 * component does the rest (and everything where openat2 is missing).
 * With create_mode other than (mode_t) -1, missing components are created with that mode (mkdir -p). */
int open_dir_nofollow(const char *path, mode_t create_mode, int *ret_fd);

/* unlink(path) with the directory resolved by open_dir_nofollow(). 0 also when there was nothing. */
int unlink_nofollow(const char *path);

/* Create the directory `path` and its missing parents with `mode`, under open_dir_nofollow()'s rule.
 * Returns 0 or -errno. */
int mkdir_p(const char *path, mode_t mode);

/* The same for the directory that holds the file `path`. */
int mkdir_parents(const char *path, mode_t mode);

/* Whether the file or directory st may be acted on as it says: owned by root or by the user certherd runs
 * as, and writable by neither group nor others. */
bool stat_is_owned(const struct stat *st);

/* The directory `path` (resolved under the strict rule) passes stat_is_owned(). Returns 0, -EPERM with
 * *reterr_st its stat (for the message), or -errno. */
int dir_check_owned(const char *path, struct stat *reterr_st);

/* Whether nobody but root and us could have put `path` where it is: what it names passes stat_is_owned()
 * and so does every directory above it (a sticky one aside: nobody may replace another's entry there).
 * Returns 0 (*ret_st: the stat of what it names), -EPERM with *reterr_path (allocated: the first that
 * fails) and *reterr_st, or -errno. */
int path_check_owned(const char *path, struct stat *ret_st, char **reterr_path, struct stat *reterr_st);

/* read_full_file_flags() of a file that passes path_check_owned() (-EPERM and the offender as there;
 * -ESTALE when the file changed between the check and the read). */
int read_owned_file(const char *path, ReadFlags flags, size_t max, uint8_t **ret, size_t *ret_size,
                    char **reterr_path, struct stat *reterr_st);
