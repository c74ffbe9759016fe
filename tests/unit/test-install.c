/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "install.h"
#include "macro.h"
#include "test-fs.h"

#define OLD_KEY "-----BEGIN PRIVATE KEY-----\nold key\n-----END PRIVATE KEY-----\n"
#define OLD_CERT "-----BEGIN CERTIFICATE-----\nold cert\n-----END CERTIFICATE-----\n"
#define NEW_KEY "-----BEGIN PRIVATE KEY-----\nnew key, somewhat longer\n-----END PRIVATE KEY-----\n"
#define NEW_CERT "-----BEGIN CERTIFICATE-----\nnew cert, somewhat longer\n-----END CERTIFICATE-----\n"
#define THIRD_KEY "third key\n"
#define THIRD_CERT "third cert\n"

typedef struct Fixture {
        char dir[PATH_MAX];
} Fixture;

static int setup(void **state) {
        const char *tmp = getenv("TMPDIR");
        Fixture *fx = calloc(1, sizeof(*fx));

        if (!fx)
                return -1;
        snprintf(fx->dir, sizeof(fx->dir), "%s/certherd-test-install-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(fx->dir)) {
                free(fx);
                return -1;
        }
        *state = fx;
        return 0;
}

static int teardown(void **state) {
        Fixture *fx = *state;

        rm_rf(fx->dir);
        free(fx);
        return 0;
}

static void make_dir(const char *path) {
        assert_int_equal(mkdir(path, 0755), 0);
}

static void write_plain(const char *path, const char *content, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, content, strlen(content)), (ssize_t) strlen(content));
        assert_int_equal(fchmod(fd, mode), 0);
        assert_int_equal(close(fd), 0);
}

/* The content, or NULL when there is no such file. */
static char *slurp(const char *path) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f, *out;
        int c;

        f = fopen(path, "re");
        if (!f)
                return NULL;
        out = open_memstream(&buf, &size);
        assert_non_null(out);
        while ((c = fgetc(f)) != EOF)
                fputc(c, out);
        fclose(f);
        assert_int_equal(fclose(out), 0);
        return buf;
}

static bool file_is(const char *path, const char *content) {
        char *s = slurp(path);
        bool same = s && strcmp(s, content) == 0;

        free(s);
        return same;
}

static mode_t mode_of(const char *path) {
        struct stat st;

        assert_int_equal(lstat(path, &st), 0);
        return st.st_mode;
}

/* Entries of a directory other than . and ..; hidden ones only when `hidden`. -1 when it is missing. */
static int count_entries(const char *path, bool hidden) {
        struct dirent *de;
        int n = 0;
        DIR *d;

        d = opendir(path);
        if (!d)
                return -1;
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
                    (!hidden || de->d_name[0] == '.'))
                        n++;
        closedir(d);
        return n;
}

static void test_install_file_basic(void **state) {
        Fixture *fx = *state;
        char *target = pathf("%s/tls.crt", fx->dir);
        InstallFile f = { .path = target, .data = "hello\n", .size = 6, .mode = 0640, .uid = (uid_t) -1,
                          .gid = (gid_t) -1 };
        mode_t old_umask = umask(0077);
        size_t big_size = 3 * 1024 * 1024 + 17;
        char *big = malloc(big_size + 1);

        /* The mode is applied with fchmod, so the umask cannot narrow it. */
        assert_int_equal(install_file(&f), 0);
        assert_true(file_is(target, "hello\n"));
        assert_true(S_ISREG(mode_of(target)));
        assert_int_equal(mode_of(target) & 07777, 0640);

        /* Replacing an existing file, with more data than one write may take. */
        assert_non_null(big);
        for (size_t i = 0; i < big_size; i++)
                big[i] = (char) ('a' + i % 26);
        big[big_size] = 0;
        f.data = big;
        f.size = big_size;
        f.mode = 0644;
        assert_int_equal(install_file(&f), 0);
        assert_true(file_is(target, big));
        assert_int_equal(mode_of(target) & 07777, 0644);

        /* Empty content is a valid file. */
        f.data = NULL;
        f.size = 0;
        assert_int_equal(install_file(&f), 0);
        assert_true(file_is(target, ""));

        assert_int_equal(count_entries(fx->dir, true), 0);
        umask(old_umask);
        free(big);
        free(target);
}

static void test_install_file_owner(void **state) {
        Fixture *fx = *state;
        char *target = pathf("%s/owned.key", fx->dir);
        struct passwd *pw = getpwnam("daemon");
        uid_t uid, daemon_uid;
        gid_t gid, daemon_gid;
        struct stat st;

        if (geteuid() != 0 || !pw) {
                free(target);
                skip();
        }
        daemon_uid = pw->pw_uid;
        daemon_gid = pw->pw_gid;
        assert_int_equal(install_parse_owner("daemon", &uid, &gid), 0);
        assert_int_equal(install_file(&(InstallFile) { .path = target, .data = "k", .size = 1, .mode = 0640,
                                                       .uid = uid, .gid = gid }),
                         0);
        assert_int_equal(stat(target, &st), 0);
        assert_int_equal(st.st_uid, daemon_uid);
        assert_int_equal(st.st_gid, daemon_gid);
        assert_int_equal(st.st_mode & 07777, 0640);

        /* Only the group. */
        assert_int_equal(install_parse_owner(":0", &uid, &gid), 0);
        assert_int_equal(install_file(&(InstallFile) { .path = target, .data = "k", .size = 1, .mode = 0600,
                                                       .uid = uid, .gid = gid }),
                         0);
        assert_int_equal(stat(target, &st), 0);
        assert_int_equal(st.st_uid, 0);
        assert_int_equal(st.st_gid, 0);
        free(target);
}

static void test_install_file_errors(void **state) {
        Fixture *fx = *state;
        char *missing = pathf("%s/nope/file", fx->dir);
        char *regular = pathf("%s/regular", fx->dir);
        char *under_regular = pathf("%s/regular/file", fx->dir);
        char *dir_target = pathf("%s/adir", fx->dir);
        char *inside = pathf("%s/adir/keep", fx->dir);
        InstallFile f = { .data = "x", .size = 1, .mode = 0644, .uid = (uid_t) -1, .gid = (gid_t) -1 };

        f.path = missing;
        assert_int_equal(install_file(&f), -ENOENT);

        write_plain(regular, "plain", 0644);
        f.path = under_regular;
        assert_int_equal(install_file(&f), -ENOTDIR);

        /* A directory at the target: the rename fails, the directory stays, no temp file stays. */
        make_dir(dir_target);
        write_plain(inside, "keep", 0644);
        f.path = dir_target;
        assert_true(install_file(&f) < 0);
        assert_true(file_is(inside, "keep"));

        f.path = "";
        assert_int_equal(install_file(&f), -EINVAL);
        f.path = "/tmp/"; /* no last component to name the file */
        assert_int_equal(install_file(&f), -EINVAL);
        f.path = NULL;
        assert_int_equal(install_file(&f), -EINVAL);
        f.path = regular;
        f.data = NULL;
        assert_int_equal(install_file(&f), -EINVAL);
        assert_true(file_is(regular, "plain"));

        assert_int_equal(count_entries(fx->dir, true), 0);
        free(missing);
        free(regular);
        free(under_regular);
        free(dir_target);
        free(inside);
}

static void test_install_file_symlink(void **state) {
        Fixture *fx = *state;
        char *victim = pathf("%s/victim", fx->dir);
        char *target = pathf("%s/tls.key", fx->dir);

        write_plain(victim, "precious\n", 0600);
        assert_int_equal(symlink(victim, target), 0);
        assert_int_equal(install_file(&(InstallFile) { .path = target, .data = "new\n", .size = 4, .mode = 0600,
                                                       .uid = (uid_t) -1, .gid = (gid_t) -1 }),
                         0);
        assert_true(file_is(victim, "precious\n"));
        assert_true(S_ISREG(mode_of(target)));
        assert_true(file_is(target, "new\n"));

        /* A dangling symlink is replaced just the same, and nothing appears where it pointed. */
        assert_int_equal(unlink(target), 0);
        free(victim);
        victim = pathf("%s/not-there", fx->dir);
        assert_int_equal(symlink(victim, target), 0);
        assert_int_equal(install_file(&(InstallFile) { .path = target, .data = "v2", .size = 2, .mode = 0600,
                                                       .uid = (uid_t) -1, .gid = (gid_t) -1 }),
                         0);
        assert_true(S_ISREG(mode_of(target)));
        assert_null(slurp(victim));
        assert_int_equal(count_entries(fx->dir, true), 0);
        free(victim);
        free(target);
}

/* The checks of test_unwritable_dir, in a process that cannot write to `ro`. 0, or the failing line. */
static int unwritable_checks(const char *ro, const char *rw) {
        char *key_ro = pathf("%s/tls.key", ro), *key_rw = pathf("%s/tls.key", rw);
        char *cert_rw = pathf("%s/tls.crt", rw);
        InstallFile k = { .path = key_ro, .data = "k", .size = 1, .mode = 0600, .uid = (uid_t) -1,
                          .gid = (gid_t) -1 };
        InstallFile c = { .path = cert_rw, .data = "c", .size = 1, .mode = 0644, .uid = (uid_t) -1,
                          .gid = (gid_t) -1 };
        InstallFile k_rw = k;
        int line = 0;

        k_rw.path = key_rw;
        if (install_file(&k) != -EACCES)
                line = __LINE__;
        else if (install_pair(rw, "web", &k, &c) != -EACCES) /* a target directory */
                line = __LINE__;
        else if (install_pair(ro, "web", &k_rw, &c) != -EACCES) /* the state directory */
                line = __LINE__;
        else if (count_entries(rw, false) != 0) /* validation failed before anything was written */
                line = __LINE__;
        if (line)
                fprintf(stderr, "unwritable_checks: line %d failed\n", line);
        free(key_ro);
        free(key_rw);
        free(cert_rw);
        return line;
}

static void test_unwritable_dir(void **state) {
        Fixture *fx = *state;
        char *ro = pathf("%s/ro", fx->dir), *rw = pathf("%s/rw", fx->dir);
        int status = 0;
        pid_t pid;

        make_dir(ro);
        make_dir(rw);
        /* root writes anywhere, so as root the checks run as nobody: the tree must let nobody in. */
        assert_int_equal(chmod(fx->dir, 0755), 0);
        assert_int_equal(chmod(ro, 0555), 0);
        assert_int_equal(chmod(rw, 0777), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0))
                        _exit(1);
                _exit(unwritable_checks(ro, rw) == 0 ? 0 : 2);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        assert_int_equal(count_entries(ro, true), 0);
        free(ro);
        free(rw);
}

static void test_parse_owner(void **state) {
        struct passwd *pw;
        struct group *gr;
        uid_t uid = 4242;
        gid_t gid = 4242;

        assert_int_equal(install_parse_owner(NULL, &uid, &gid), 0);
        assert_true(uid == (uid_t) -1 && gid == (gid_t) -1);
        uid = 1;
        assert_int_equal(install_parse_owner("", &uid, &gid), 0);
        assert_true(uid == (uid_t) -1 && gid == (gid_t) -1);

        assert_int_equal(install_parse_owner("root", &uid, &gid), 0);
        assert_true(uid == 0 && gid == 0);
        assert_int_equal(install_parse_owner("root:root", &uid, &gid), 0);
        assert_true(uid == 0 && gid == 0);
        assert_int_equal(install_parse_owner("1000:2000", &uid, &gid), 0);
        assert_true(uid == 1000 && gid == 2000);
        assert_int_equal(install_parse_owner(":0", &uid, &gid), 0);
        assert_true(uid == (uid_t) -1 && gid == 0);
        assert_int_equal(install_parse_owner("0", &uid, &gid), 0);
        assert_true(uid == 0 && gid == 0); /* root's primary group */
        assert_int_equal(install_parse_owner("root:", &uid, &gid), 0);
        assert_true(uid == 0 && gid == 0);

        pw = getpwnam("daemon");
        if (pw) {
                uid_t daemon_uid = pw->pw_uid;
                gid_t daemon_gid = pw->pw_gid;

                /* "user" alone takes the primary group. */
                assert_int_equal(install_parse_owner("daemon", &uid, &gid), 0);
                assert_true(uid == daemon_uid && gid == daemon_gid);
                assert_int_equal(install_parse_owner("daemon:root", &uid, &gid), 0);
                assert_true(uid == daemon_uid && gid == 0);
        }
        gr = getgrnam("nogroup");
        if (gr) {
                gid_t nogroup = gr->gr_gid;

                assert_int_equal(install_parse_owner(":nogroup", &uid, &gid), 0);
                assert_true(uid == (uid_t) -1 && gid == nogroup);
        }

        uid = 7;
        gid = 7;
        assert_int_equal(install_parse_owner("certherd-no-such-user", &uid, &gid), -ESRCH);
        assert_int_equal(install_parse_owner("root:certherd-no-such-group", &uid, &gid), -ESRCH);
        assert_int_equal(install_parse_owner(":certherd-no-such-group", &uid, &gid), -ESRCH);
        assert_int_equal(install_parse_owner(":", &uid, &gid), -EINVAL);
        assert_int_equal(install_parse_owner("a:b:c", &uid, &gid), -EINVAL);
        assert_int_equal(install_parse_owner("4294967295", &uid, &gid), -EINVAL);
        assert_int_equal(install_parse_owner("99999999999999999999", &uid, &gid), -EINVAL);
        assert_true(uid == 7 && gid == 7); /* untouched on failure */
}

/* ---- pairs ---- */

typedef struct PairPaths {
        char *root, *state, *keydir, *certdir, *key, *cert, *backup, *install;
} PairPaths;

static void pair_paths_make(PairPaths *pp, const char *parent, unsigned k, bool two_dirs) {
        pp->root = pathf("%s/run-%u", parent, k);
        pp->state = pathf("%s/state", pp->root);
        pp->keydir = pathf("%s/%s", pp->root, two_dirs ? "private" : "ssl");
        pp->certdir = pathf("%s/%s", pp->root, two_dirs ? "certs" : "ssl");
        pp->key = pathf("%s/tls.key", pp->keydir);
        pp->cert = pathf("%s/tls.crt", pp->certdir);
        pp->backup = pathf("%s/backup/web", pp->state);
        pp->install = pathf("%s/install", pp->state);
        make_dir(pp->root);
        make_dir(pp->state);
        make_dir(pp->keydir);
        if (two_dirs)
                make_dir(pp->certdir);
}

static void pair_paths_free(PairPaths *pp) {
        free(pp->root);
        free(pp->state);
        free(pp->keydir);
        free(pp->certdir);
        free(pp->key);
        free(pp->cert);
        free(pp->backup);
        free(pp->install);
}

static int install_pair_of(const PairPaths *pp, const char *key, const char *cert) {
        InstallFile k = { .path = pp->key, .data = key, .size = strlen(key), .mode = 0600,
                          .uid = (uid_t) -1, .gid = (gid_t) -1 };
        InstallFile c = { .path = pp->cert, .data = cert, .size = strlen(cert), .mode = 0644,
                          .uid = (uid_t) -1, .gid = (gid_t) -1 };

        return install_pair(pp->state, "web", &k, &c);
}

static bool backup_is(const PairPaths *pp, const char *key, const char *cert) {
        char *k = pathf("%s/key", pp->backup), *c = pathf("%s/cert", pp->backup);
        bool same = file_is(k, key) && file_is(c, cert) && (mode_of(k) & 07777) == 0600 &&
                    (mode_of(c) & 07777) == 0644;

        free(k);
        free(c);
        return same;
}

/* No staging file next to the targets, no record, no half-built backup. */
static void assert_clean(const PairPaths *pp) {
        char *backup_dir = pathf("%s/backup", pp->state);

        assert_int_equal(count_entries(pp->keydir, true), 0);
        assert_int_equal(count_entries(pp->certdir, true), 0);
        assert_true(count_entries(pp->install, false) <= 0);
        assert_true(count_entries(backup_dir, true) <= 0);
        free(backup_dir);
}

static void test_install_pair_basic(void **state) {
        Fixture *fx = *state;
        PairPaths pp;

        pair_paths_make(&pp, fx->dir, 0, false);
        write_plain(pp.key, OLD_KEY, 0600);
        write_plain(pp.cert, OLD_CERT, 0644);

        assert_int_equal(install_pair_of(&pp, NEW_KEY, NEW_CERT), 0);
        assert_true(file_is(pp.key, NEW_KEY));
        assert_true(file_is(pp.cert, NEW_CERT));
        assert_int_equal(mode_of(pp.key) & 07777, 0600);
        assert_int_equal(mode_of(pp.cert) & 07777, 0644);
        assert_true(backup_is(&pp, OLD_KEY, OLD_CERT));
        assert_int_equal(count_entries(pp.install, false), 0);
        assert_clean(&pp);
        assert_int_equal(install_recover(pp.state, "web"), 0);

        /* The next generation: the backup moves on as a whole. */
        assert_int_equal(install_pair_of(&pp, THIRD_KEY, THIRD_CERT), 0);
        assert_true(file_is(pp.key, THIRD_KEY));
        assert_true(backup_is(&pp, NEW_KEY, NEW_CERT));
        assert_clean(&pp);
        pair_paths_free(&pp);
}

static void test_install_pair_first_and_cert_only(void **state) {
        Fixture *fx = *state;
        char *backup_cert, *backup_key;
        PairPaths pp;

        pair_paths_make(&pp, fx->dir, 0, true);
        backup_cert = pathf("%s/cert", pp.backup);
        backup_key = pathf("%s/key", pp.backup);

        /* Nothing installed yet: nothing to back up. */
        assert_int_equal(install_pair_of(&pp, NEW_KEY, NEW_CERT), 0);
        assert_true(file_is(pp.key, NEW_KEY));
        assert_true(file_is(pp.cert, NEW_CERT));
        assert_int_equal(count_entries(pp.backup, false), -1);
        assert_clean(&pp);

        /* Only the certificate changes. */
        assert_int_equal(install_pair(pp.state, "web", NULL,
                                      &(InstallFile) { .path = pp.cert, .data = THIRD_CERT,
                                                       .size = strlen(THIRD_CERT), .mode = 0644,
                                                       .uid = (uid_t) -1, .gid = (gid_t) -1 }),
                         0);
        assert_true(file_is(pp.key, NEW_KEY));
        assert_true(file_is(pp.cert, THIRD_CERT));
        assert_true(file_is(backup_cert, NEW_CERT));
        assert_null(slurp(backup_key));
        assert_clean(&pp);
        free(backup_cert);
        free(backup_key);
        pair_paths_free(&pp);
}

static void test_install_pair_validation(void **state) {
        Fixture *fx = *state;
        char *missing_state, *missing_dir, *relative = "relative/tls.key";
        InstallFile k, c;
        PairPaths pp;

        pair_paths_make(&pp, fx->dir, 0, true);
        missing_state = pathf("%s/no-state", pp.root);
        missing_dir = pathf("%s/no-dir/tls.key", pp.root);
        write_plain(pp.key, OLD_KEY, 0600);
        write_plain(pp.cert, OLD_CERT, 0644);
        k = (InstallFile) { .path = pp.key, .data = NEW_KEY, .size = strlen(NEW_KEY), .mode = 0600,
                            .uid = (uid_t) -1, .gid = (gid_t) -1 };
        c = (InstallFile) { .path = pp.cert, .data = NEW_CERT, .size = strlen(NEW_CERT), .mode = 0644,
                            .uid = (uid_t) -1, .gid = (gid_t) -1 };

        assert_int_equal(install_pair("state", "web", &k, &c), -EINVAL);
        assert_int_equal(install_pair(missing_state, "web", &k, &c), -ENOENT);
        assert_int_equal(install_pair(pp.state, "a/b", &k, &c), -EINVAL);
        assert_int_equal(install_pair(pp.state, ".web", &k, &c), -EINVAL);
        assert_int_equal(install_pair(pp.state, "", &k, &c), -EINVAL);
        assert_int_equal(install_pair(pp.state, "web", &k, NULL), -EINVAL);
        k.path = relative;
        assert_int_equal(install_pair(pp.state, "web", &k, &c), -EINVAL);
        k.path = missing_dir;
        assert_int_equal(install_pair(pp.state, "web", &k, &c), -ENOENT);
        k.path = pp.cert; /* key and cert the same file */
        assert_int_equal(install_pair(pp.state, "web", &k, &c), -EINVAL);
        k.path = pp.key;
        c.path = pp.certdir; /* a directory at the target */
        assert_int_equal(install_pair(pp.state, "web", &k, &c), -EISDIR);

        /* Nothing was touched. */
        assert_true(file_is(pp.key, OLD_KEY));
        assert_true(file_is(pp.cert, OLD_CERT));
        assert_int_equal(count_entries(pp.state, false), 0);
        assert_clean(&pp);
        free(missing_state);
        free(missing_dir);
        pair_paths_free(&pp);
}

static void test_install_pair_symlinks(void **state) {
        Fixture *fx = *state;
        char *victim, *victim2, *stage;
        PairPaths pp;

        pair_paths_make(&pp, fx->dir, 0, false);
        victim = pathf("%s/victim", pp.root);
        victim2 = pathf("%s/victim2", pp.root);
        stage = pathf("%s/.tls.crt.certherd-new", pp.certdir);
        write_plain(victim, "precious\n", 0600);
        write_plain(victim2, "precious too\n", 0600);
        write_plain(pp.cert, OLD_CERT, 0644);
        /* A symlink at the key and one at the cert's staging name: neither is followed. */
        assert_int_equal(symlink(victim, pp.key), 0);
        assert_int_equal(symlink(victim2, stage), 0);

        assert_int_equal(install_pair_of(&pp, NEW_KEY, NEW_CERT), 0);
        assert_true(file_is(victim, "precious\n"));
        assert_true(file_is(victim2, "precious too\n"));
        assert_true(S_ISREG(mode_of(pp.key)));
        assert_true(file_is(pp.key, NEW_KEY));
        assert_true(file_is(pp.cert, NEW_CERT));
        assert_clean(&pp);
        free(victim);
        free(victim2);
        free(stage);
        pair_paths_free(&pp);
}

/* The service user owns a directory on the target's path and, between two installs,
 * swaps the target directory for a link to another service's directory. Root must write nothing there. */
static void test_install_parent_swapped(void **state) {
        Fixture *fx = *state;
        char *home = pathf("%s/home", fx->dir), *tls = pathf("%s/home/tls", fx->dir),
             *moved = pathf("%s/home/tls.old", fx->dir), *victim = pathf("%s/victim", fx->dir),
             *vkey = pathf("%s/victim/tls.key", fx->dir), *state_dir = pathf("%s/state", fx->dir),
             *key = pathf("%s/home/tls/tls.key", fx->dir), *cert = pathf("%s/home/tls/tls.crt", fx->dir),
             *sub = pathf("%s/home/tls/sub/x", fx->dir);
        InstallFile k = { .path = key, .data = NEW_KEY, .size = strlen(NEW_KEY), .mode = 0600,
                          .uid = (uid_t) -1, .gid = (gid_t) -1 };
        InstallFile c = { .path = cert, .data = NEW_CERT, .size = strlen(NEW_CERT), .mode = 0644,
                          .uid = (uid_t) -1, .gid = (gid_t) -1 };
        InstallFile one = { .path = sub, .data = "x", .size = 1, .mode = 0644, .uid = (uid_t) -1, .gid = (gid_t) -1 };

        if (geteuid() != 0)
                skip(); /* a link owned by another user needs root to make */
        assert_int_equal(chmod(fx->dir, 0755), 0);
        make_dir(home);
        make_dir(tls);
        make_dir(victim);
        make_dir(state_dir);
        write_plain(vkey, "other service's key\n", 0600);
        assert_int_equal(chown(home, 65534, 65534), 0);
        assert_int_equal(install_pair(state_dir, "web", &k, &c), 0); /* the honest layout works */

        /* The swap: what the user can do in a directory they own. */
        assert_int_equal(rename(tls, moved), 0);
        assert_int_equal(symlink(victim, tls), 0);
        assert_int_equal(lchown(tls, 65534, 65534), 0);

        assert_int_equal(install_pair(state_dir, "web", &k, &c), -ENOLINK);
        assert_int_equal(install_file(&c), -ENOLINK);
        assert_int_equal(install_file(&one), -ENOLINK);
        assert_int_equal(install_recover(state_dir, "web"), 0);
        assert_int_equal(count_entries(victim, false), 1);
        assert_int_equal(count_entries(victim, true), 0);
        assert_true(file_is(vkey, "other service's key\n"));
        assert_int_equal(mode_of(vkey) & 07777, 0600);

        free(home);
        free(tls);
        free(moved);
        free(victim);
        free(vkey);
        free(state_dir);
        free(key);
        free(cert);
        free(sub);
}

static void test_recover_records(void **state) {
        Fixture *fx = *state;
        char *record, *half, *evil;
        PairPaths pp;

        pair_paths_make(&pp, fx->dir, 0, false);
        record = pathf("%s/web.rec", pp.install);
        half = pathf("%s/.web.rec.certherd-new", pp.install);
        evil = pathf("%s/evil", pp.keydir);
        write_plain(pp.key, OLD_KEY, 0600);
        write_plain(pp.cert, OLD_CERT, 0644);

        assert_int_equal(install_recover(pp.state, "web"), 0); /* no install directory yet */
        assert_int_equal(install_recover("state", "web"), -EINVAL);
        make_dir(pp.install);
        assert_int_equal(install_recover(pp.state, "web"), 0);

        /* A record half written at a crash is dropped. */
        write_plain(half, "certherd-install-record 1\nstate committed\n", 0600);
        assert_int_equal(install_recover(pp.state, "web"), 1);
        assert_null(slurp(half));

        /* A record naming another file than the staging file is refused, and nothing moves. */
        write_plain(evil, "evil\n", 0600);
        {
                char *text = pathf("certherd-install-record 1\nstate committed\nkey %s\nkey-temp %s\n", pp.key,
                                   evil);
                write_plain(record, text, 0600);
                free(text);
        }
        assert_int_equal(install_recover(pp.state, "web"), -EBADMSG);
        assert_true(file_is(pp.key, OLD_KEY));
        assert_true(file_is(evil, "evil\n"));
        write_plain(record, "garbage\n", 0600);
        assert_int_equal(install_recover(pp.state, "web"), -EBADMSG);
        assert_int_equal(unlink(record), 0);
        assert_int_equal(unlink(evil), 0);
        assert_clean(&pp);
        free(record);
        free(half);
        free(evil);
        pair_paths_free(&pp);
}

enum { ON_DISK_OLD, ON_DISK_NEW, ON_DISK_MIXED };

static int pair_on_disk(const PairPaths *pp) {
        if (file_is(pp->key, OLD_KEY) && file_is(pp->cert, OLD_CERT))
                return ON_DISK_OLD;
        if (file_is(pp->key, NEW_KEY) && file_is(pp->cert, NEW_CERT))
                return ON_DISK_NEW;
        return ON_DISK_MIXED;
}

/* install_pair in a child that SIGKILLs itself at crash point k. */
static void install_pair_killed_at(const PairPaths *pp, unsigned k) {
        int status = 0;
        pid_t pid;

        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                char buf[16];

                snprintf(buf, sizeof(buf), "%u", k);
                setenv("CERTHERD_TEST_KILL_POINT", buf, 1);
                _exit(install_pair_of(pp, NEW_KEY, NEW_CERT) == 0 ? 0 : 1);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (k <= INSTALL_CRASH_POINTS) {
                if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
                        fail_msg("k=%u: child was not killed (status %#x)", k, (unsigned) status);
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                fail_msg("k=%u: child failed (status %#x)", k, (unsigned) status);
}

static void crash_matrix(const char *parent, bool two_dirs) {
        bool seen_new = false;

        for (unsigned k = 1; k <= INSTALL_CRASH_POINTS + 1; k++) {
                PairPaths pp;
                int on_disk, r;

                pair_paths_make(&pp, parent, k, two_dirs);
                write_plain(pp.key, OLD_KEY, 0600);
                write_plain(pp.cert, OLD_CERT, 0644);

                install_pair_killed_at(&pp, k);
                r = install_recover(pp.state, "web");
                if (r < 0)
                        fail_msg("k=%u: install_recover: %s", k, strerror(-r));
                assert_int_equal(install_recover(pp.state, "web"), 0); /* nothing left to do */

                on_disk = pair_on_disk(&pp);
                if (on_disk == ON_DISK_MIXED)
                        fail_msg("k=%u: the key and certificate on disk are not one pair", k);
                if (seen_new && on_disk != ON_DISK_NEW)
                        fail_msg("k=%u: old pair after a later crash point gave the new one", k);
                seen_new = on_disk == ON_DISK_NEW;
                if (k == 1 && on_disk != ON_DISK_OLD)
                        fail_msg("k=1: the new pair before anything was staged");
                if (k >= INSTALL_CRASH_POINTS && on_disk != ON_DISK_NEW)
                        fail_msg("k=%u: the old pair after the record was removed", k);
                assert_int_equal(mode_of(pp.key) & 07777, 0600);
                assert_int_equal(mode_of(pp.cert) & 07777, 0644);
                assert_clean(&pp);

                /* The backup, once taken, is exactly the old pair; the new pair implies it was taken. */
                if (count_entries(pp.backup, false) >= 0 && !backup_is(&pp, OLD_KEY, OLD_CERT))
                        fail_msg("k=%u: the backup is not the old pair", k);
                if (on_disk == ON_DISK_NEW && count_entries(pp.backup, false) < 0)
                        fail_msg("k=%u: new pair without a backup", k);

                /* A later install needs no explicit recovery, and backs up what is on disk. */
                pair_paths_free(&pp);
                pair_paths_make(&pp, parent, k + 1000, two_dirs);
                write_plain(pp.key, OLD_KEY, 0600);
                write_plain(pp.cert, OLD_CERT, 0644);
                install_pair_killed_at(&pp, k);
                assert_int_equal(install_pair_of(&pp, THIRD_KEY, THIRD_CERT), 0);
                assert_true(file_is(pp.key, THIRD_KEY));
                assert_true(file_is(pp.cert, THIRD_CERT));
                assert_true(backup_is(&pp, OLD_KEY, OLD_CERT) || backup_is(&pp, NEW_KEY, NEW_CERT));
                assert_clean(&pp);
                pair_paths_free(&pp);
        }
        assert_true(seen_new);
}

static void test_install_pair_crash(void **state) {
        Fixture *fx = *state;

        crash_matrix(fx->dir, false);
}

static void test_install_pair_crash_two_dirs(void **state) {
        Fixture *fx = *state;

        crash_matrix(fx->dir, true);
}

/* A whole generation (key, cert, chain, leaf, combined, pkcs12) over two directories. */
typedef struct SetPaths {
        char *state, *install, *backup, *path[_INSTALL_PART_MAX];
} SetPaths;

static const char *const set_label[_INSTALL_PART_MAX] = { "key", "cert", "chain", "leaf", "combined", "pkcs12" };

static void set_paths_make(SetPaths *sp, const char *parent, unsigned k) {
        char *base = pathf("%s/set-%u", parent, k), *a = pathf("%s/a", base), *b = pathf("%s/b", base);

        make_dir(base);
        make_dir(a);
        make_dir(b);
        sp->state = pathf("%s/state", base);
        make_dir(sp->state);
        sp->install = pathf("%s/install", sp->state);
        sp->backup = pathf("%s/backup/web", sp->state);
        for (size_t i = 0; i < _INSTALL_PART_MAX; i++)
                sp->path[i] = pathf("%s/%s.pem", i < INSTALL_PART_CHAIN ? a : b, set_label[i]);
        free(base);
        free(a);
        free(b);
}

static void set_paths_free(SetPaths *sp) {
        free(sp->state);
        free(sp->install);
        free(sp->backup);
        for (size_t i = 0; i < _INSTALL_PART_MAX; i++)
                free(sp->path[i]);
}

static char *generation_content(const char *gen, size_t i) {
        return pathf("%s %s\n", gen, set_label[i]);
}

static void set_write(const SetPaths *sp, const char *gen) {
        for (size_t i = 0; i < _INSTALL_PART_MAX; i++) {
                char *c = generation_content(gen, i);
                write_plain(sp->path[i], c, i == INSTALL_PART_KEY ? 0600 : 0644);
                free(c);
        }
}

static int set_install(const SetPaths *sp, const char *gen) {
        InstallFile f[_INSTALL_PART_MAX];
        const InstallFile *files[_INSTALL_PART_MAX];
        char *content[_INSTALL_PART_MAX];
        int r;

        for (size_t i = 0; i < _INSTALL_PART_MAX; i++) {
                content[i] = generation_content(gen, i);
                f[i] = (InstallFile) { .path = sp->path[i], .data = content[i], .size = strlen(content[i]),
                                       .mode = i == INSTALL_PART_KEY || i == INSTALL_PART_COMBINED ||
                                                               i == INSTALL_PART_PKCS12 ? 0600 : 0644,
                                       .uid = (uid_t) -1, .gid = (gid_t) -1 };
                files[i] = &f[i];
        }
        r = install_set(sp->state, "web", files);
        for (size_t i = 0; i < _INSTALL_PART_MAX; i++)
                free(content[i]);
        return r;
}

/* "old", "new" or NULL for a mix. */
static const char *set_generation(const SetPaths *sp) {
        static const char *const gens[] = { "old", "new" };

        for (size_t g = 0; g < ELEMENTSOF(gens); g++) {
                bool all = true;

                for (size_t i = 0; i < _INSTALL_PART_MAX && all; i++) {
                        char *c = generation_content(gens[g], i);
                        all = file_is(sp->path[i], c);
                        free(c);
                }
                if (all)
                        return gens[g];
        }
        return NULL;
}

static void test_install_set_basic(void **state) {
        Fixture *fx = *state;
        const InstallFile *files[_INSTALL_PART_MAX] = {};
        InstallFile dup;
        SetPaths sp;

        set_paths_make(&sp, fx->dir, 0);
        set_write(&sp, "old");
        assert_int_equal(set_install(&sp, "new"), 0);
        assert_string_equal(set_generation(&sp), "new");
        assert_int_equal(mode_of(sp.path[INSTALL_PART_COMBINED]) & 07777, 0600);
        assert_int_equal(mode_of(sp.path[INSTALL_PART_CHAIN]) & 07777, 0644);
        /* The backup is the whole old generation, by label; what holds a key is 0600 there. */
        for (size_t i = 0; i < _INSTALL_PART_MAX; i++) {
                char *b = pathf("%s/%s", sp.backup, set_label[i]), *c = generation_content("old", i);

                assert_true(file_is(b, c));
                assert_int_equal(mode_of(b) & 07777, i == INSTALL_PART_KEY || i == INSTALL_PART_COMBINED ||
                                                                     i == INSTALL_PART_PKCS12 ? 0600 : 0644);
                free(b);
                free(c);
        }
        assert_int_equal(count_entries(sp.install, false), 0);

        /* Two parts naming one file: refused before anything is touched. */
        dup = (InstallFile) { .path = sp.path[INSTALL_PART_CERT], .data = "x", .size = 1, .mode = 0644,
                              .uid = (uid_t) -1, .gid = (gid_t) -1 };
        files[INSTALL_PART_CERT] = &dup;
        files[INSTALL_PART_LEAF] = &dup;
        assert_int_equal(install_set(sp.state, "web", files), -EINVAL);
        assert_string_equal(set_generation(&sp), "new");
        /* No cert: refused. */
        files[INSTALL_PART_CERT] = NULL;
        assert_int_equal(install_set(sp.state, "web", files), -EINVAL);
        set_paths_free(&sp);
}

/* SIGKILL at every crash point: after recovery all six files are of one generation. */
static void test_install_set_crash(void **state) {
        Fixture *fx = *state;
        bool seen_new = false;

        for (unsigned k = 1; k <= INSTALL_CRASH_POINTS + 1; k++) {
                const char *gen;
                SetPaths sp;
                int status = 0, r;
                pid_t pid;

                set_paths_make(&sp, fx->dir, 100 + k);
                set_write(&sp, "old");
                pid = fork();
                assert_true(pid >= 0);
                if (pid == 0) {
                        char buf[16];

                        snprintf(buf, sizeof(buf), "%u", k);
                        setenv("CERTHERD_TEST_KILL_POINT", buf, 1);
                        _exit(set_install(&sp, "new") == 0 ? 0 : 1);
                }
                assert_int_equal(waitpid(pid, &status, 0), pid);
                if (k <= INSTALL_CRASH_POINTS && (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL))
                        fail_msg("k=%u: child was not killed (status %#x)", k, (unsigned) status);
                r = install_recover(sp.state, "web");
                if (r < 0)
                        fail_msg("k=%u: install_recover: %s", k, strerror(-r));
                gen = set_generation(&sp);
                if (!gen)
                        fail_msg("k=%u: the files on disk are of different generations", k);
                if (seen_new && strcmp(gen, "new") != 0)
                        fail_msg("k=%u: old generation after a later crash point gave the new one", k);
                seen_new = strcmp(gen, "new") == 0;
                if (k == 1 && seen_new)
                        fail_msg("k=1: the new generation before anything was staged");
                if (k >= INSTALL_CRASH_POINTS && !seen_new)
                        fail_msg("k=%u: the old generation after the record was removed", k);
                assert_int_equal(count_entries(sp.install, false), 0);
                for (size_t i = 0; i < _INSTALL_PART_MAX; i++) {
                        char *dir = strdup(sp.path[i]);

                        *strrchr(dir, '/') = 0;
                        if (count_entries(dir, true) != 0)
                                fail_msg("k=%u: staging files left in %s", k, dir);
                        free(dir);
                }
                set_paths_free(&sp);
        }
        assert_true(seen_new);
}

/* The pins of every set at start: many files, one syncfs, renames in order, nothing left behind. */
static void test_install_files_batch(void **state) {
        Fixture *fx = *state;
        char *dir = pathf("%s/pins", fx->dir), *a = pathf("%s/a.pin", dir), *b = pathf("%s/b.json", dir),
             *link = pathf("%s/pins-link", fx->dir);
        InstallFile files[] = {
                { .path = "b.json", .data = "{}\n", .size = 3, .mode = 0644, .uid = (uid_t) -1, .gid = (gid_t) -1 },
                { .path = "a.pin", .data = "pin\n", .size = 4, .mode = 0640, .uid = (uid_t) -1, .gid = (gid_t) -1 },
        };
        InstallFile bad = { .path = "../x", .data = "x", .size = 1, .mode = 0644, .uid = (uid_t) -1,
                            .gid = (gid_t) -1 };

        make_dir(dir);
        write_plain(a, "old\n", 0600);
        assert_int_equal(install_files_batch(dir, files, 0), 0);
        assert_int_equal(install_files_batch(dir, files, 2), 2);
        assert_true(file_is(a, "pin\n"));
        assert_true(file_is(b, "{}\n"));
        assert_int_equal(mode_of(a) & 07777, 0640);
        assert_int_equal(mode_of(b) & 07777, 0644);
        assert_int_equal(count_entries(dir, true), 0);
        assert_int_equal(install_files_batch(dir, &bad, 1), -EINVAL);
        assert_int_equal(install_files_batch("/nonexistent-dir", files, 2), -ENOENT);
        if (geteuid() == 0) { /* an untrusted link to the directory: refused, as for install_file */
                assert_int_equal(symlink(dir, link), 0);
                assert_int_equal(lchown(link, 65534, 65534), 0);
                assert_int_equal(chmod(fx->dir, 0755), 0);
                assert_int_equal(install_files_batch(link, files, 2), -ENOLINK);
        }
        free(dir);
        free(a);
        free(b);
        free(link);
}

/* The record is parsed strictly; only what install_pair() writes is acted on. */
static void test_record_parse_strict(void **state) {
#define MAGIC "certherd-install-record 1\n"
#define KEYS "key /etc/ssl/a.key\nkey-temp /etc/ssl/.a.key.certherd-new\n"
#define CERTS "cert /etc/ssl/a.crt\ncert-temp /etc/ssl/.a.crt.certherd-new\n"
        static const char *const bad[] = {
                "",
                MAGIC,
                MAGIC "state prepared\n",                               /* no target */
                MAGIC "state prepared\n" KEYS CERTS "\n",              /* a blank line */
                MAGIC "\nstate prepared\n" KEYS CERTS,
                MAGIC "state prepared\n" KEYS "cert /etc/ssl/a.crt\ncert-temp /etc/ssl/.a.crt.certherd-new",
                MAGIC "state prepared\r\n" KEYS CERTS,                 /* CR */
                MAGIC "state committed\n" CERTS KEYS,                   /* reordered */
                MAGIC KEYS "state committed\n" CERTS,
                MAGIC "state committed\nstate committed\n" CERTS,      /* repeated */
                MAGIC "state committed\n" CERTS CERTS,
                MAGIC "state committed\n" KEYS CERTS "extra line\n",
                MAGIC "state committed\n" KEYS CERTS "key /x\n",
                MAGIC "state done\n" CERTS,
                MAGIC "state  committed\n" CERTS,
                MAGIC "state committed\ncert a.crt\ncert-temp .a.crt.certherd-new\n",      /* relative */
                MAGIC "state committed\ncert /etc/ssl/a.crt\ncert-temp /etc/passwd\n",   /* not its stage */
                MAGIC "state committed\ncert /etc/ssl/a\x01.crt\ncert-temp /etc/ssl/.a\x01.crt.certherd-new\n",
                "certherd-install-record 2\nstate committed\n" CERTS,
                "certherd-install-record 1 \nstate committed\n" CERTS,
                MAGIC "state committed\ncert-temp /etc/ssl/.a.crt.certherd-new\n",
                MAGIC "state committed\ncert /etc/ssl/a.crt\n",
        };
        char *targets = NULL;
        char with_nul[] = MAGIC "state committed\n" CERTS;

        assert_int_equal(install_record_parse(MAGIC "state prepared\n" KEYS CERTS,
                                              strlen(MAGIC "state prepared\n" KEYS CERTS), &targets), 0);
        assert_string_equal(targets, "/etc/ssl/a.key\n/etc/ssl/a.crt\n");
        free(targets);
        assert_int_equal(install_record_parse(MAGIC "state committed\n" CERTS,
                                              strlen(MAGIC "state committed\n" CERTS), NULL), 1);
        /* Further outputs follow in part order, and are named in the targets. */
#define OUTS "chain /o/c.pem\nchain-temp /o/.c.pem.certherd-new\npkcs12 /o/a.p12\npkcs12-temp /o/.a.p12.certherd-new\n"
        assert_int_equal(install_record_parse(MAGIC "state committed\n" KEYS CERTS OUTS,
                                              strlen(MAGIC "state committed\n" KEYS CERTS OUTS), &targets), 1);
        assert_string_equal(targets, "/etc/ssl/a.key\n/etc/ssl/a.crt\nchain /o/c.pem\npkcs12 /o/a.p12\n");
        free(targets);
        targets = NULL;
        assert_int_equal(install_record_parse(MAGIC "state committed\n" OUTS KEYS CERTS,
                                              strlen(MAGIC "state committed\n" OUTS KEYS CERTS), NULL), -EBADMSG);
#undef OUTS
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (install_record_parse(bad[i], strlen(bad[i]), NULL) != -EBADMSG)
                        fail_msg("accepted bad record %zu: %s", i, bad[i]);
        with_nul[strlen(MAGIC) + 3] = 0;
        assert_int_equal(install_record_parse(with_nul, sizeof(with_nul) - 1, NULL), -EBADMSG);
#undef MAGIC
#undef KEYS
#undef CERTS
}

static void count_report(const char *name, int r, void *userdata) {
        unsigned *n = userdata;

        assert_string_equal(name, "web");
        assert_int_equal(r, 1);
        (*n)++;
}

/* `certherd recover` at boot: every recorded set, found from STATE_DIR/install alone. */
static void test_recover_all(void **state) {
        Fixture *fx = *state;

        for (unsigned k = 1; k <= INSTALL_CRASH_POINTS; k++) {
                char *junk;
                unsigned reported = 0;
                PairPaths pp;
                int r;

                pair_paths_make(&pp, fx->dir, 2000 + k, k % 2);
                assert_int_equal(install_recover_all(pp.state, count_report, &reported), 0); /* no install dir */
                write_plain(pp.key, OLD_KEY, 0600);
                write_plain(pp.cert, OLD_CERT, 0644);
                install_pair_killed_at(&pp, k);
                /* Names that are no record are left alone. */
                junk = pathf("%s/notes.txt", pp.install);
                write_plain(junk, "x", 0600);

                r = install_recover_all(pp.state, count_report, &reported);
                if (r < 0)
                        fail_msg("k=%u: install_recover_all: %s", k, strerror(-r));
                /* Up to the last crash point the record is still there and something is repaired. */
                assert_int_equal(r, k < INSTALL_CRASH_POINTS ? 1 : 0);
                assert_int_equal(reported, (unsigned) r);
                assert_int_equal(install_recover_all(pp.state, count_report, &reported), 0);
                assert_true(pair_on_disk(&pp) != ON_DISK_MIXED);
                assert_true(file_is(junk, "x"));
                assert_int_equal(unlink(junk), 0);
                assert_clean(&pp);
                free(junk);
                pair_paths_free(&pp);
        }
        assert_int_equal(install_recover_all("relative", NULL, NULL), -EINVAL);
}

static void test_crash_point_parse(void **state) {
        /* Values that are not exactly a number never kill. */
        setenv("CERTHERD_TEST_KILL_POINT", "3x", 1);
        install_crash_point(3);
        setenv("CERTHERD_TEST_KILL_POINT", "4", 1);
        install_crash_point(3);
        unsetenv("CERTHERD_TEST_KILL_POINT");
        install_crash_point(3);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_install_file_basic, setup, teardown),
                cmocka_unit_test_setup_teardown(test_install_file_owner, setup, teardown),
                cmocka_unit_test_setup_teardown(test_install_file_errors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_install_file_symlink, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unwritable_dir, setup, teardown),
                cmocka_unit_test(test_parse_owner),
                cmocka_unit_test_setup_teardown(test_install_pair_basic, setup, teardown),
                cmocka_unit_test_setup_teardown(test_install_pair_first_and_cert_only, setup, teardown),
                cmocka_unit_test_setup_teardown(test_install_pair_validation, setup, teardown),
                cmocka_unit_test_setup_teardown(test_install_pair_symlinks, setup, teardown),
                cmocka_unit_test_setup_teardown(test_install_parent_swapped, setup, teardown),
                cmocka_unit_test_setup_teardown(test_recover_records, setup, teardown),
                cmocka_unit_test_setup_teardown(test_install_pair_crash, setup, teardown),
                cmocka_unit_test_setup_teardown(test_install_pair_crash_two_dirs, setup, teardown),
                cmocka_unit_test_setup_teardown(test_recover_all, setup, teardown),
                cmocka_unit_test_setup_teardown(test_install_set_basic, setup, teardown),
                cmocka_unit_test_setup_teardown(test_install_set_crash, setup, teardown),
                cmocka_unit_test(test_record_parse_strict),
                cmocka_unit_test_setup_teardown(test_install_files_batch, setup, teardown),
                cmocka_unit_test(test_crash_point_parse),
        };

        unsetenv("CERTHERD_TEST_KILL_POINT");
        return cmocka_run_group_tests(tests, NULL, NULL);
}
