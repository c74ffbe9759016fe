/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "privilege.h"
#include "test-fs.h"

/* A uid and gid no one uses here: files created as them show who wrote them. */
#define OTHER_UID 65533
#define OTHER_GID 65533

static void test_act_of(void **state) {
        static const struct {
                const char *verb;
                bool writes;
                int act;
        } cases[] = {
                { "renew", false, PRIVILEGE_BECOME },    { "recover", false, PRIVILEGE_BECOME },
                { "ca", false, PRIVILEGE_BECOME },       { "revoke", false, PRIVILEGE_BECOME },
                { "acme", false, PRIVILEGE_BECOME },     { "import", true, PRIVILEGE_FS_SCOPED },
                /* The preview writes nothing; check, status, pin, discover and the daemon stay who they are. */
                { "import", false, PRIVILEGE_NONE },     { "check", false, PRIVILEGE_NONE },
                { "status", false, PRIVILEGE_NONE },     { "pin", false, PRIVILEGE_NONE },
                { "discover", true, PRIVILEGE_NONE },    { "run", false, PRIVILEGE_NONE },
                { NULL, false, PRIVILEGE_NONE },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                assert_int_equal(privilege_act_of(cases[i].verb, cases[i].writes), cases[i].act);
}

/* As root: writes below a directory another user owns are that user's, and root is back afterwards. */
static void test_fs_scoped(void **state) {
        char dir[] = "/tmp/test-privilege.XXXXXX", path[64], deep[96];
        PrivilegeFs fs = {};
        struct stat st;
        int fd;

        if (geteuid() != 0)
                skip();
        assert_non_null(mkdtemp(dir));
        assert_int_equal(chown(dir, OTHER_UID, OTHER_GID), 0);

        /* The nearest existing parent decides: sub/ does not exist yet. */
        snprintf(deep, sizeof(deep), "%s/sub/file", dir);
        assert_int_equal(privilege_fs_enter(deep, &fs), 0);
        assert_true(fs.active);
        snprintf(path, sizeof(path), "%s/file", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        close(fd);
        privilege_fs_leave(&fs);
        assert_false(fs.active);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_uid, OTHER_UID);
        assert_int_equal(st.st_gid, OTHER_GID);

        /* Root again: a file made now is root's. */
        assert_int_equal(unlink(path), 0);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_uid, 0);
        assert_int_equal(unlink(path), 0);

        /* A directory of root's: nothing to switch. */
        assert_int_equal(chown(dir, 0, 0), 0);
        assert_int_equal(privilege_fs_enter(dir, &fs), 0);
        assert_false(fs.active);
        privilege_fs_leave(&fs);
        assert_int_equal(rmdir(dir), 0);
}

/* Not root, or the state directory of root's: privilege_become_state_owner() leaves the process alone. */
static void test_become_noop(void **state) {
        char dir[] = "/tmp/test-privilege.XXXXXX", conf[96];
        FILE *f;

        assert_non_null(mkdtemp(dir));
        snprintf(conf, sizeof(conf), "%s/certherd.conf", dir);
        f = fopen(conf, "we");
        assert_non_null(f);
        fprintf(f, "[agent]\nstate-directory = %s\n", dir);
        fclose(f);
        assert_int_equal(privilege_become_state_owner(conf, NULL), 0);
        assert_int_equal(privilege_prepare("renew", false, conf), 0);
        /* An inventory that does not load is the command's to report. */
        assert_int_equal(privilege_become_state_owner("/nonexistent/certherd.conf", NULL), 0);
        assert_int_equal(unlink(conf), 0);
        assert_int_equal(rmdir(dir), 0);
}

TEST_MAIN(cmocka_unit_test(test_act_of),
          cmocka_unit_test(test_fs_scoped),
          cmocka_unit_test(test_become_noop))
