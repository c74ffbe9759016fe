/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fd-util.h"
#include "macro.h"
#include "test-fs.h"

#define NOBODY 65534

static char root[PATH_MAX];

static void write_plain(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        assert_non_null(f);
        assert_int_equal(fputs(text, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
}

/* A file of another user (nobody), as a service user would leave it. */
static void user_file(const char *path, const char *text) {
        write_plain(path, text);
        assert_int_equal(chown(path, NOBODY, NOBODY), 0);
}

/* A symbolic link of another user (nobody) at path to target. */
static void user_symlink(const char *target, const char *path) {
        assert_int_equal(symlink(target, path), 0);
        assert_int_equal(lchown(path, NOBODY, NOBODY), 0);
}

static int setup(void **state) {
        const char *tmp = getenv("TMPDIR");

        snprintf(root, sizeof(root), "%s/certherd-test-fd-util-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(root))
                return -1;
        /* The walk's rule looks at owners and modes: make the scratch directory an ordinary 0755 one. */
        (void) chmod(root, 0755);
        /* A FIFO that blocks a reader fails the test by SIGALRM rather than hanging it. */
        alarm(20);
        *state = root;
        return 0;
}

static int teardown(void **state) {
        alarm(0);
        rm_rf(root);
        return 0;
}

static void assert_refused(const char *path, int error) {
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_free_ char *secret = NULL;
        FileBuffer b = {};
        size_t size;

        assert_int_equal(read_full_file(path, 4096, &data, &size), error);
        assert_int_equal(read_secret_file(path, &secret), error);
        assert_int_equal(read_file_into(path, 4096, &b, NULL), error);
        assert_int_equal(open_regular(path, NULL), error);
        free(b.data);
}

/* The attack of a FIFO at an input path hung every reader in open(2). */
static void test_fifo(void **state) {
        _cleanup_free_ char *fifo = pathf("%s/fifo", root);

        assert_int_equal(mkfifo(fifo, 0644), 0);
        assert_refused(fifo, -ESPIPE);
        assert_string_equal(file_strerror(-ESPIPE), "not a regular file (FIFO)");
        assert_string_equal(file_strerror(ESPIPE), "not a regular file (FIFO)");
}

static void test_other_types(void **state) {
        _cleanup_free_ char *sock = pathf("%s/sock", root), *dir = pathf("%s/dir", root),
                            *link = pathf("%s/link", root), *file = pathf("%s/file", root);
        _cleanup_free_ uint8_t *data = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -1;
        size_t size;

        assert_refused("/dev/null", -ENODEV);
        assert_string_equal(file_strerror(-ENODEV), "not a regular file (device)");

        assert_int_equal(mkdir(dir, 0755), 0);
        assert_refused(dir, -EISDIR);
        assert_string_equal(file_strerror(-EISDIR), "not a regular file (directory)");

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_true(strlen(sock) < sizeof(sa.sun_path));
        strcpy(sa.sun_path, sock);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        assert_refused(sock, -ENXIO);
        assert_string_equal(file_strerror(-ENXIO), "not a regular file (socket)");

        /* A link is followed by default, refused with READ_NOFOLLOW. */
        write_plain(file, "data\n");
        assert_int_equal(symlink(file, link), 0);
        assert_int_equal(read_full_file(link, 4096, &data, &size), 0);
        assert_int_equal(size, 5);
        assert_memory_equal(data, "data\n", 5);
        assert_int_equal(read_full_file_flags(link, READ_NOFOLLOW, 4096, &data, &size), -ELOOP);
        /* The fd handed out reads like any other: O_NONBLOCK was only for the open. */
        closep(&fd);
        fd = open_regular(file, NULL);
        assert_true(fd >= 0);
        assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
        assert_string_equal(file_strerror(-ELOOP), "not a regular file (symbolic link)");
        assert_string_equal(file_strerror(-ENOENT), strerror(ENOENT));
}

static void test_open_dir_plain(void **state) {
        _cleanup_free_ char *a = pathf("%s/a/b/c", root), *rel = NULL;
        _cleanup_close_ int fd = -1, fd2 = -1;
        struct stat st, st2;

        assert_int_equal(open_dir_nofollow(a, (mode_t) -1, &fd), -ENOENT);
        assert_int_equal(mkdir_p(a, 0750), 0);
        assert_int_equal(stat(a, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0750);
        assert_int_equal(mkdir_p(a, 0750), 0); /* exists: fine */
        assert_int_equal(open_dir_nofollow(a, (mode_t) -1, &fd), 0);
        assert_int_equal(fstat(fd, &st2), 0);
        assert_true(st.st_ino == st2.st_ino);
        assert_int_equal(fsync(fd), 0); /* a real descriptor, not O_PATH */

        /* mkdir_parents makes the directory of a file, not the file. */
        rel = pathf("%s/p/q/file", root);
        assert_int_equal(mkdir_parents(rel, 0755), 0);
        free(rel);
        rel = pathf("%s/p/q", root);
        assert_int_equal(stat(rel, &st), 0);
        assert_true(S_ISDIR(st.st_mode));

        /* A file on the way is not a directory. */
        free(rel);
        rel = pathf("%s/file", root);
        write_plain(rel, "x");
        free(rel);
        rel = pathf("%s/file/sub", root);
        assert_int_equal(mkdir_p(rel, 0755), -ENOTDIR);
        assert_int_equal(open_dir_nofollow(rel, (mode_t) -1, &fd2), -ENOTDIR);
}

/* The attack of the user who owns a directory on a target's path swaps a component for a
 * link to another service's directory; root's writes must not land there. */
static void test_open_dir_untrusted_link(void **state) {
        _cleanup_free_ char *home = pathf("%s/home", root), *tls = pathf("%s/home/tls", root),
                            *victim = pathf("%s/victim", root), *sub = pathf("%s/home/tls/sub", root),
                            *made = pathf("%s/victim/sub", root), *file = pathf("%s/home/tls/key", root),
                            *vkey = pathf("%s/victim/key", root);
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_close_ int fd = -1;
        size_t size;

        if (geteuid() != 0)
                skip(); /* making a link owned by someone else needs root */
        assert_int_equal(mkdir(home, 0755), 0);
        assert_int_equal(mkdir(victim, 0700), 0);
        write_plain(vkey, "other service's key\n");
        assert_int_equal(chown(home, NOBODY, NOBODY), 0);
        user_symlink(victim, tls);

        assert_int_equal(open_dir_nofollow(tls, (mode_t) -1, &fd), -ENOLINK);
        assert_int_equal(mkdir_p(sub, 0755), -ENOLINK);
        assert_int_equal(access(made, F_OK), -1);
        assert_int_equal(mkdir_parents(file, 0755), -ENOLINK);
        assert_int_equal(unlink_nofollow(file), -ENOLINK);
        assert_int_equal(access(vkey, F_OK), 0);
        /* Reading: the user's link leads to root's file, refused by the chase rule; by the strict rule too.
         */
        assert_int_equal(read_full_file(file, 4096, &data, &size), -EXDEV);
        assert_int_equal(read_full_file_flags(file, READ_STRICT, 4096, &data, &size), -ENOLINK);
        assert_string_equal(file_strerror(-ENOLINK), "symbolic link in the path not owned by root");

        /* A root-owned link in the user's directory is no better: the user can replace it at will. */
        assert_int_equal(lchown(tls, 0, 0), 0);
        assert_int_equal(open_dir_nofollow(tls, (mode_t) -1, &fd), -ENOLINK);
}

static void test_open_dir_trusted_link(void **state) {
        _cleanup_free_ char *real = pathf("%s/real/dir", root), *etc = pathf("%s/etc", root),
                            *link = pathf("%s/etc/link", root), *rel = pathf("%s/etc/rel", root),
                            *through = pathf("%s/etc/link/new", root), *made = pathf("%s/real/dir/new", root),
                            *shared = pathf("%s/shared", root), *slink = pathf("%s/shared/l", root);
        _cleanup_close_ int fd = -1;
        struct stat a, b;

        if (geteuid() != 0)
                skip();
        assert_int_equal(mkdir_p(real, 0755), 0);
        assert_int_equal(mkdir(etc, 0755), 0);
        assert_int_equal(symlink(real, link), 0);
        assert_int_equal(symlink("../real/dir", rel), 0);

        /* Root's link in root's directory (like /var/run → /run) is followed, its target under the rule. */
        assert_int_equal(open_dir_nofollow(link, (mode_t) -1, &fd), 0);
        assert_int_equal(fstat(fd, &a), 0);
        assert_int_equal(stat(real, &b), 0);
        assert_true(a.st_ino == b.st_ino);
        closep(&fd);
        assert_int_equal(open_dir_nofollow(rel, (mode_t) -1, &fd), 0);
        assert_int_equal(fstat(fd, &a), 0);
        assert_true(a.st_ino == b.st_ino);
        closep(&fd);
        assert_int_equal(mkdir_p(through, 0755), 0);
        assert_int_equal(stat(made, &a), 0);

        /* Root's link in a directory everyone may write (not sticky): someone could have put it there. */
        assert_int_equal(mkdir(shared, 0777), 0);
        assert_int_equal(chmod(shared, 0777), 0);
        assert_int_equal(symlink(real, slink), 0);
        assert_int_equal(open_dir_nofollow(slink, (mode_t) -1, &fd), -ENOLINK);
        assert_int_equal(chmod(shared, 01777), 0);
        assert_int_equal(open_dir_nofollow(slink, (mode_t) -1, &fd), 0);

        /* A trusted link whose target runs through an untrusted one is refused. */
        closep(&fd);
        assert_int_equal(lchown(rel, NOBODY, NOBODY), 0);
        assert_int_equal(unlink(link), 0);
        assert_int_equal(symlink(rel, link), 0);
        assert_int_equal(open_dir_nofollow(link, (mode_t) -1, &fd), -ENOLINK);
}

/* A user's link in a directory root reads (here one everyone may write, like /tmp) that points at
 * /etc/shadow or at another service's key: root must not read through it. Links of root, and a user's
 * links to their own files, are followed. */
static void test_chase_rule(void **state) {
        _cleanup_free_ char *home = pathf("%s/home", root), *secret = pathf("%s/secret.key", root),
                            *evil = pathf("%s/home/evil", root), *rel = pathf("%s/home/rel", root),
                            *own = pathf("%s/home/own.pem", root), *mine = pathf("%s/home/mine", root),
                            *shared = pathf("%s/shared", root), *planted = pathf("%s/shared/cert.pem", root),
                            *rootlink = pathf("%s/rootlink", root), *chain = pathf("%s/home/chain", root),
                            *live = pathf("%s/le/live/one", root),
                            *archive = pathf("%s/le/archive/one", root),
                            *key = pathf("%s/le/archive/one/privkey1.pem", root),
                            *privkey = pathf("%s/le/live/one/privkey.pem", root),
                            *todir = pathf("%s/home/todir", root), *rootdir = pathf("%s/rootdir", root),
                            *theirs = pathf("%s/rootdir/theirs.pem", root),
                            *via = pathf("%s/home/todir/theirs.pem", root);
        _cleanup_free_ uint8_t *data = NULL;
        size_t size;

        if (geteuid() != 0)
                skip(); /* links of another user need root */
        assert_int_equal(mkdir(home, 0755), 0);
        assert_int_equal(chown(home, NOBODY, NOBODY), 0);
        write_plain(secret, "root's secret\n");
        assert_int_equal(chmod(secret, 0600), 0);

        /* The user's link, absolute and relative, to root's file. */
        user_symlink(secret, evil);
        assert_int_equal(read_full_file(evil, 4096, &data, &size), -EXDEV);
        assert_int_equal(open_regular(evil, NULL), -EXDEV);
        assert_string_equal(file_strerror(-EXDEV), "symbolic link of one user to a file of another");
        assert_int_equal(symlink("../secret.key", rel), 0);
        assert_int_equal(lchown(rel, NOBODY, NOBODY), 0);
        assert_int_equal(read_full_file(rel, 4096, &data, &size), -EXDEV);
        /* ... and to /etc/shadow itself, from a world-writable sticky directory as /tmp is. */
        assert_int_equal(mkdir(shared, 01777), 0);
        assert_int_equal(chmod(shared, 01777), 0);
        assert_int_equal(symlink("/etc/shadow", planted), 0);
        assert_int_equal(lchown(planted, NOBODY, NOBODY), 0);
        assert_int_equal(read_full_file(planted, 4096, &data, &size), -EXDEV);
        /* Through a link of root on the way: the user's link is what decides. */
        assert_int_equal(symlink(secret, rootlink), 0);
        user_symlink(rootlink, chain);
        assert_int_equal(read_full_file(chain, 4096, &data, &size), -EXDEV);

        /* The user's link to the user's own file, even in root's directory: theirs to read anyway. */
        user_file(own, "user's cert\n");
        user_symlink(own, mine);
        assert_int_equal(read_full_file(mine, 4096, &data, &size), 0);
        free(TAKE_PTR(data));
        assert_int_equal(mkdir(rootdir, 0755), 0);
        user_file(theirs, "user's file in root's directory\n");
        user_symlink(rootdir, todir);
        assert_int_equal(read_full_file(via, 4096, &data, &size), 0);
        free(TAKE_PTR(data));
        /* but not strictly: only root's links then. */
        assert_int_equal(read_full_file_flags(mine, READ_TRUSTED, 4096, &data, &size), -ENOLINK);

        /* Root's links in root's tree (certbot's live/ into archive/) are followed, strictly too. */
        assert_int_equal(mkdir_p(live, 0755), 0);
        assert_int_equal(mkdir_p(archive, 0700), 0);
        write_plain(key, "the lineage's key\n");
        assert_int_equal(symlink("../../archive/one/privkey1.pem", privkey), 0);
        assert_int_equal(read_full_file(privkey, 4096, &data, &size), 0);
        free(TAKE_PTR(data));
        assert_int_equal(read_full_file_flags(privkey, READ_TRUSTED, 4096, &data, &size), 0);
        assert_memory_equal(data, "the lineage's key\n", size);
        free(TAKE_PTR(data));
        assert_int_equal(read_full_file_flags(privkey, READ_STRICT, 4096, &data, &size), -ELOOP);
}

/* A device is refused before it is opened. Shown with a FIFO, whose opening is visible: a writer blocked
 * in open(2) wakes up when a reader opens it, even non-blocking. */
static void test_not_opened(void **state) {
        _cleanup_free_ char *fifo = pathf("%s/fifo", root), *link = pathf("%s/zero", root);
        _cleanup_free_ uint8_t *data = NULL;
        int status = 0;
        size_t size;
        pid_t pid;

        assert_int_equal(mkfifo(fifo, 0600), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int fd = open(fifo, O_WRONLY | O_CLOEXEC); /* blocks until someone opens it to read */
                _exit(fd >= 0 ? 0 : 1);
        }
        usleep(100 * 1000);
        assert_int_equal(read_full_file(fifo, 4096, &data, &size), -ESPIPE);
        usleep(200 * 1000);
        assert_int_equal(waitpid(pid, &status, WNOHANG), 0); /* still waiting: never opened */
        assert_int_equal(kill(pid, SIGKILL), 0);
        assert_int_equal(waitpid(pid, &status, 0), pid);

        /* /dev/zero as a certificate, directly or through a link. */
        assert_int_equal(read_full_file("/dev/zero", 4096, &data, &size), -ENODEV);
        assert_int_equal(symlink("/dev/zero", link), 0);
        assert_int_equal(read_full_file(link, 4096, &data, &size), -ENODEV);
}

static void test_owned(void **state) {
        _cleanup_free_ char *tree = pathf("%s/tree", root), *file = pathf("%s/tree/sub/file", root),
                            *sub = pathf("%s/tree/sub", root), *bad = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        struct stat st;
        size_t size;

        assert_int_equal(mkdir_p(sub, 0755), 0);
        write_plain(file, "data\n");
        assert_int_equal(chmod(file, 0644), 0);
        assert_int_equal(path_check_owned(tree, &st, &bad, NULL), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(dir_check_owned(tree, NULL), 0);
        assert_int_equal(read_owned_file(file, 0, 4096, &data, &size, &bad, NULL), 0);
        assert_int_equal(size, 5);
        free(TAKE_PTR(data));

        /* Writable by its group: refused, naming it. */
        assert_int_equal(chmod(sub, 0775), 0);
        assert_int_equal(dir_check_owned(sub, &st), -EPERM);
        assert_int_equal(st.st_mode & 0777, 0775);
        assert_int_equal(read_owned_file(file, 0, 4096, &data, &size, &bad, &st), -EPERM);
        assert_string_equal(bad, sub);
        free(TAKE_PTR(bad));
        assert_int_equal(chmod(sub, 0755), 0);
        /* The file itself writable by others. */
        assert_int_equal(chmod(file, 0646), 0);
        assert_int_equal(read_owned_file(file, 0, 4096, &data, &size, &bad, &st), -EPERM);
        assert_string_equal(bad, file);
        free(TAKE_PTR(bad));
        assert_int_equal(chmod(file, 0644), 0);

        if (geteuid() != 0)
                return;
        /* Another user's directory above it. */
        assert_int_equal(chown(tree, NOBODY, NOBODY), 0);
        assert_int_equal(path_check_owned(file, NULL, &bad, &st), -EPERM);
        assert_string_equal(bad, tree);
        assert_int_equal((int)st.st_uid, NOBODY);
        free(TAKE_PTR(bad));
        assert_int_equal(dir_check_owned(tree, &st), -EPERM);
        assert_int_equal(chown(tree, 0, 0), 0);
        /* A sticky directory above is fine (as /tmp is), not as what is checked. */
        assert_int_equal(chmod(tree, 01777), 0);
        assert_int_equal(path_check_owned(file, NULL, &bad, NULL), 0);
        assert_int_equal(path_check_owned(tree, NULL, &bad, NULL), -EPERM);
        free(TAKE_PTR(bad));
}

TEST_MAIN(cmocka_unit_test_setup_teardown(test_fifo, setup, teardown),
          cmocka_unit_test_setup_teardown(test_other_types, setup, teardown),
          cmocka_unit_test_setup_teardown(test_open_dir_plain, setup, teardown),
          cmocka_unit_test_setup_teardown(test_open_dir_untrusted_link, setup, teardown),
          cmocka_unit_test_setup_teardown(test_open_dir_trusted_link, setup, teardown),
          cmocka_unit_test_setup_teardown(test_chase_rule, setup, teardown),
          cmocka_unit_test_setup_teardown(test_not_opened, setup, teardown),
          cmocka_unit_test_setup_teardown(test_owned, setup, teardown))
