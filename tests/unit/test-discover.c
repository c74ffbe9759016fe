/* SPDX-License-Identifier: GPL-3.0-or-later */
/* discover-proc: which process is which server (by its binary and owner, never by its title), which
 * files root may read for it, and reading as the process's owner. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "adopt-internal.h"
#include "macro.h"
#include "test-fs.h"

#define NOBODY 65534

static struct stat st_of(uid_t uid, mode_t mode) {
        return (struct stat){.st_uid = uid, .st_mode = mode};
}

static void test_stat_trusted(void **state) {
        struct stat s;

        s = st_of(0, S_IFREG | 0755);
        assert_true(discover_stat_trusted(&s, true));
        s = st_of(0, S_IFREG | 0775); /* a group may write it */
        assert_false(discover_stat_trusted(&s, true));
        s = st_of(0, S_IFREG | 0757);
        assert_false(discover_stat_trusted(&s, true));
        s = st_of(1000, S_IFREG | 0644);
        assert_false(discover_stat_trusted(&s, true));
        s = st_of(0, S_IFLNK | 0777);
        assert_false(discover_stat_trusted(&s, false));
        /* /tmp: others cannot replace root's entries in it, but anything in it is not root's alone. */
        s = st_of(0, S_IFDIR | S_ISVTX | 0777);
        assert_true(discover_stat_trusted(&s, false));
        assert_false(discover_stat_trusted(&s, true));
        s = st_of(0, S_IFDIR | 0777);
        assert_false(discover_stat_trusted(&s, false));
        s = st_of(1000, S_IFDIR | S_ISVTX | 0777);
        assert_false(discover_stat_trusted(&s, false));
}

static void test_server_of_exe(void **state) {
        struct stat bin = st_of(0, S_IFREG | 0755), users = st_of(1000, S_IFREG | 0755),
                    writable = st_of(0, S_IFREG | 0777), dir = st_of(0, S_IFDIR | 0755);

        assert_int_equal(discover_server_of_exe("/usr/sbin/nginx", &bin), DISCOVER_NGINX);
        assert_int_equal(discover_server_of_exe("/usr/sbin/nginx (deleted)", &bin), DISCOVER_NGINX);
        assert_int_equal(discover_server_of_exe("/usr/sbin/haproxy", &bin), DISCOVER_HAPROXY);
        assert_int_equal(
            discover_server_of_exe("/usr/lib/postgresql/15/bin/postgres", &bin), DISCOVER_POSTGRES);
        assert_int_equal(discover_server_of_exe("/usr/pgsql-16/bin/postgres", &bin), DISCOVER_POSTGRES);
        /* What a process is called is not what it runs: titles, other paths, look-alikes. */
        assert_int_equal(
            discover_server_of_exe("nginx: master process /home/u/x", &bin), _DISCOVER_SERVER_INVALID);
        assert_int_equal(discover_server_of_exe("/home/u/nginx", &bin), _DISCOVER_SERVER_INVALID);
        assert_int_equal(discover_server_of_exe("/usr/sbin/nginx-debug", &bin), _DISCOVER_SERVER_INVALID);
        assert_int_equal(discover_server_of_exe("/usr/bin/sleep", &bin), _DISCOVER_SERVER_INVALID);
        assert_int_equal(discover_server_of_exe("nginx", &bin), _DISCOVER_SERVER_INVALID);
        assert_int_equal(
            discover_server_of_exe("/usr/lib/postgresql/15/x/bin/postgres", &bin), _DISCOVER_SERVER_INVALID);
        assert_int_equal(
            discover_server_of_exe("/usr/lib/postgresql/../bin/postgres", &bin), _DISCOVER_SERVER_INVALID);
        /* The right path, but a binary someone else could have written. */
        assert_int_equal(discover_server_of_exe("/usr/sbin/nginx", &users), _DISCOVER_SERVER_INVALID);
        assert_int_equal(discover_server_of_exe("/usr/sbin/nginx", &writable), _DISCOVER_SERVER_INVALID);
        assert_int_equal(discover_server_of_exe("/usr/sbin/nginx", &dir), _DISCOVER_SERVER_INVALID);
        assert_string_equal(discover_server_to_string(DISCOVER_POSTGRES), "postgresql");
}

/* The credentials of a /proc/PID/status text that parses (its PPid: into ppid unless NULL). */
static DiscoverCred status_ok(const char *text, pid_t *ppid) {
        DiscoverCred c;

        assert_int_equal(discover_parse_status(text, &c, ppid), 0);
        return c;
}

static void test_parse_status(void **state) {
        DiscoverCred c;
        pid_t ppid = 0;

        c = status_ok("Name:\tnginx\nPPid:\t1\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\n", &ppid);
        assert_int_equal(c.uid, 0);
        assert_int_equal(c.n_groups, 0);
        assert_int_equal(ppid, 1);

        c = status_ok("Name:\tpostgres\nPPid:\t812\nUid:\t104\t104\t104\t104\n"
                      "Gid:\t111\t111\t111\t111\nGroups:\t111 108 \n",
                      &ppid);
        assert_int_equal(c.uid, 104);
        assert_int_equal(c.gid, 111);
        assert_int_equal(c.n_groups, 2);
        assert_int_equal(c.groups[1], 108);
        assert_int_equal(ppid, 812);

        /* Root in one of the four but a user in another is that user. */
        c = status_ok("PPid:\t1\nUid:\t0\t1000\t0\t0\nGid:\t0\t0\t1000\t0\n", NULL);
        assert_int_equal(c.uid, 1000);
        assert_int_equal(c.gid, 1000);

        /* Name: is the process's choice (comm): a field in it is no field. */
        c = status_ok("Name:\tUid:\t0\t0\t0\t0\nPPid:\t1\nUid:\t7\t7\t7\t7\nGid:\t7\t7\t7\t7\n", NULL);
        assert_int_equal(c.uid, 7);
        assert_int_equal(discover_parse_status("Name:\tx\nUid:\t0\t0\t0\t0\n", &c, NULL), -EBADMSG);
        assert_int_equal(discover_parse_status("PPid:\t1\nGid:\t0\t0\t0\t0\n", &c, NULL), -EBADMSG);
        assert_int_equal(
            discover_parse_status("PPid:\t1\nUid:\t0\t0\nGid:\t0\t0\t0\t0\n", &c, NULL), -EBADMSG);
        assert_int_equal(discover_parse_status("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n", &c, &ppid), -EBADMSG);
}

static char dir[PATH_MAX];

static int setup(void **state) {
        snprintf(dir, sizeof(dir), "%s/test-discover.XXXXXX", getenv("TMPDIR") ?: "/tmp");
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
        char cmd[PATH_MAX + 16];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

static char *write_in_dir(const char *name, const char *text, mode_t mode) {
        char *path = NULL;
        FILE *f;

        assert_true(asprintf(&path, "%s/%s", dir, name) >= 0);
        f = fopen(path, "we");
        assert_non_null(f);
        assert_true(fputs(text, f) >= 0);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(chmod(path, mode), 0);
        return path;
}

static void test_path_trusted(void **state) {
        _cleanup_free_ char *reason = NULL, *open_file = NULL, *own = NULL;
        struct stat tmp;

        assert_int_equal(discover_path_trusted("/", NULL), 0);
        assert_int_equal(discover_path_trusted("/nonexistent-certherd-test", NULL), -ENOENT);
        open_file = write_in_dir("open", "x", 0666);
        assert_int_equal(discover_path_trusted(open_file, &reason), -EPERM);
        assert_non_null(reason);
        /* Owned by us: when we are not root, that is the reason; when we are, others' write access is. */
        assert_non_null(strstr(reason, geteuid() == 0 ? "writable by others" : "not root"));
        free(reason);
        reason = NULL;
        own = write_in_dir("own", "x", 0644);
        if (geteuid() != 0 || stat(dir, &tmp) < 0)
                return;
        /* As root: the mkdtemp directory is 0700 and root's; $TMPDIR or /tmp above it root's or sticky. */
        if (discover_path_trusted(dir, NULL) < 0)
                return; /* a TMPDIR in someone's home: nothing to learn here */
        assert_int_equal(discover_path_trusted(own, NULL), 0);
        assert_int_equal(chown(own, NOBODY, NOBODY), 0);
        assert_int_equal(discover_path_trusted(own, &reason), -EPERM);
        assert_non_null(strstr(reason, "is owned by uid 65534, not root"));
        /* A sticky /tmp passes on the way, never as what is asked about. */
        if (stat("/tmp", &tmp) >= 0 && tmp.st_uid == 0 && (tmp.st_mode & 01777) == 01777)
                assert_int_equal(discover_path_trusted("/tmp", NULL), -EPERM);
}

static void test_cred_of_path(void **state) {
        _cleanup_free_ char *mine = NULL, *theirs = NULL;
        DiscoverCred c;
        char name[64];

        discover_user_name(0, name, sizeof(name));
        assert_string_equal(name, "uid 0 (root)");
        discover_user_name(4000000000U, name, sizeof(name));
        assert_string_equal(name, "uid 4000000000");
        if (geteuid() != 0)
                return;
        mine = write_in_dir("mine", "x", 0644);
        theirs = write_in_dir("theirs", "x", 0644);
        assert_int_equal(chown(theirs, NOBODY, NOBODY), 0);
        discover_cred_of_path(theirs, &c);
        assert_int_equal(c.uid, NOBODY);
        discover_cred_of_path(mine, &c);
        assert_int_equal(c.uid, 0);
        /* Root's file in a directory another user owns is that user's to replace: read as them. */
        assert_int_equal(chown(dir, NOBODY, NOBODY), 0);
        discover_cred_of_path(mine, &c);
        assert_int_equal(c.uid, NOBODY);
}

static int write_uid(int fd, void *userdata) {
        return dprintf(fd, "%u %u", (unsigned)getuid(), (unsigned)geteuid()) > 0 ? 0 : -EIO;
}

static void test_run_as(void **state) {
        _cleanup_free_ char *secret = NULL, *shared = NULL, *out = NULL;
        DiscoverCred root = {}, nobody = {.uid = NOBODY, .gid = NOBODY};
        size_t size = 0;

        secret = write_in_dir("secret", "ssl = on\n", 0600);
        shared = write_in_dir("shared", "ssl = off\n", 0644);
        assert_int_equal(discover_read_as(&root, secret, 1024, &out, &size), 0);
        assert_string_equal(out, "ssl = on\n");
        assert_int_equal(size, 9);
        free(out);
        out = NULL;
        assert_int_equal(discover_read_as(&root, secret, 4, &out, &size), -EFBIG);
        assert_int_equal(discover_read_as(&root, dir, 1024, &out, &size), -EISDIR);
        if (geteuid() != 0)
                return;
        /* Another user's credentials: a child that is that user, reading only what that user may. */
        assert_int_equal(chmod(dir, 0755), 0);
        assert_int_equal(discover_run_as(&nobody, write_uid, NULL, 64, &out, NULL), 0);
        assert_string_equal(out, "65534 65534");
        free(out);
        out = NULL;
        assert_int_equal(discover_read_as(&nobody, secret, 1024, &out, &size), -EACCES);
        assert_null(out);
        if (access(dir, X_OK) == 0 && discover_read_as(&nobody, shared, 1024, &out, &size) == 0)
                assert_string_equal(out, "ssl = off\n");
}

TEST_MAIN(cmocka_unit_test(test_stat_trusted),
          cmocka_unit_test(test_server_of_exe),
          cmocka_unit_test(test_parse_status),
          cmocka_unit_test_setup_teardown(test_path_trusted, setup, teardown),
          cmocka_unit_test_setup_teardown(test_cred_of_path, setup, teardown),
          cmocka_unit_test_setup_teardown(test_run_as, setup, teardown))
