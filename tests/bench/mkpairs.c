/* SPDX-License-Identifier: GPL-3.0-or-later */

/* mkpairs OUTDIR N: benchmark data for tests/bench/scan.
 *
 * Makes one EC P-256 CA (OUTDIR/ca.crt, OUTDIR/ca.key) and N EC P-256 leaf pairs OUTDIR/NNNNN.crt and
 * OUTDIR/NNNNN.key (PKCS#8 PEM, mode 0600), each with SAN DNS:hNNNNN.bench.test, EKU serverAuth, valid
 * from now-1d to now+365d and signed ECDSA-SHA256 by the CA, then writes OUTDIR/certherd.conf watching
 * every pair (no issuer = watch only). GnuTLS only; one worker thread per online CPU ($MKPAIRS_THREADS
 * overrides).
 *
 * The files go flat into OUTDIR, and existing files are overwritten in place. Measured here (ext4 with a
 * hashed directory index, 10 000 pairs, 2 cores): into an empty directory, flat and 100 subdirectories
 * both take 2.0-2.7 s (about 1 s of system time); right after an rm -rf of the previous set, creating
 * costs 6-16 s of system time flat and 4-7 s spread, while overwriting the previous set in place costs
 * 1.5-2.4 s either way. So scan regenerates over the old set instead of deleting it, and the layout stays
 * flat. Reading 20 000 cached files takes 6-8 us per file in either layout.
 *
 * Build: cc -O2 -o mkpairs mkpairs.c $(pkg-config --cflags --libs gnutls) -lpthread */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#define DAY 86400
#define MAX_PAIRS 100000 /* five digits in the file names */

typedef struct Job {
        const char *outdir;
        unsigned n;
        time_t now;
        gnutls_datum_t ca_crt_pem;
        gnutls_datum_t ca_key_pem;
        atomic_uint next;
        atomic_bool failed;
} Job;

static void fail(Job *job, const char *what, int r) {
        fprintf(stderr, "mkpairs: %s: %s\n", what, r < 0 ? gnutls_strerror(r) : strerror(r));
        if (job)
                atomic_store(&job->failed, true);
}

/* Write `data` to `path` with exactly `mode`, whatever the umask. No temp file and rename: scan marks a
 * data set complete only after mkpairs exited 0, and the extra rename costs as much as the create here. */
static int write_file(const char *path, const void *data, size_t size, mode_t mode) {
        int fd, r = 0;

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (fd < 0)
                return errno;
        if (fchmod(fd, mode) < 0)
                r = errno;
        for (const char *p = data; r == 0 && size > 0;) {
                ssize_t k = write(fd, p, size);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = errno;
                        break;
                }
                p += k;
                size -= (size_t) k;
        }
        if (close(fd) < 0 && r == 0)
                r = errno;
        return r;
}

static int new_ec_key(gnutls_x509_privkey_t *ret) {
        gnutls_x509_privkey_t key;
        int r;

        r = gnutls_x509_privkey_init(&key);
        if (r < 0)
                return r;
        r = gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
        if (r < 0) {
                gnutls_x509_privkey_deinit(key);
                return r;
        }
        *ret = key;
        return 0;
}

/* Fields every certificate here shares: v3, random positive serial, validity, subject CN, key, SKI. */
static int set_common(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, const char *cn, time_t now,
                      time_t lifetime) {
        unsigned char serial[16], kid[64];
        size_t kid_size = sizeof kid;
        int r;

        r = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof serial);
        if (r < 0)
                return r;
        serial[0] = (serial[0] & 0x7f) | 0x40; /* positive, no leading zero byte */

        if ((r = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
            (r = gnutls_x509_crt_set_serial(crt, serial, sizeof serial)) < 0 ||
            (r = gnutls_x509_crt_set_activation_time(crt, now - DAY)) < 0 ||
            (r = gnutls_x509_crt_set_expiration_time(crt, now + lifetime)) < 0 ||
            (r = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, strlen(cn))) < 0 ||
            (r = gnutls_x509_crt_set_key(crt, key)) < 0 ||
            (r = gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA1, kid, &kid_size)) < 0 ||
            (r = gnutls_x509_crt_set_subject_key_id(crt, kid, kid_size)) < 0)
                return r;
        return 0;
}

/* The CA, written to OUTDIR and kept as PEM in the job so each worker can import its own copy. */
static int make_ca(Job *job) {
        gnutls_x509_privkey_t key = NULL;
        gnutls_x509_crt_t crt = NULL;
        gnutls_privkey_t signer = NULL;
        char path[PATH_MAX];
        int r;

        if ((r = new_ec_key(&key)) < 0 || (r = gnutls_x509_crt_init(&crt)) < 0 ||
            (r = gnutls_privkey_init(&signer)) < 0 ||
            (r = gnutls_privkey_import_x509(signer, key, 0)) < 0 ||
            (r = set_common(crt, key, "certherd bench CA", job->now, 3650L * DAY)) < 0 ||
            (r = gnutls_x509_crt_set_basic_constraints(crt, 1, 0)) < 0 ||
            (r = gnutls_x509_crt_set_key_usage(
                     crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN | GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
            (r = gnutls_x509_crt_privkey_sign(crt, crt, signer, GNUTLS_DIG_SHA256, 0)) < 0 ||
            (r = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &job->ca_crt_pem)) < 0 ||
            (r = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
                                                   &job->ca_key_pem)) < 0) {
                fail(NULL, "CA", r);
                r = -1;
                goto out;
        }

        snprintf(path, sizeof path, "%s/ca.key", job->outdir);
        r = write_file(path, job->ca_key_pem.data, job->ca_key_pem.size, 0600);
        if (r == 0) {
                snprintf(path, sizeof path, "%s/ca.crt", job->outdir);
                r = write_file(path, job->ca_crt_pem.data, job->ca_crt_pem.size, 0644);
        }
        if (r != 0) {
                fail(NULL, path, r);
                r = -1;
        }
out:
        gnutls_privkey_deinit(signer); /* does not own key */
        gnutls_x509_privkey_deinit(key);
        gnutls_x509_crt_deinit(crt);
        return r;
}

static int make_leaf(Job *job, unsigned i, gnutls_x509_crt_t ca, gnutls_privkey_t ca_key,
                     const unsigned char *ca_kid, size_t ca_kid_size) {
        gnutls_x509_privkey_t key = NULL;
        gnutls_x509_crt_t crt = NULL;
        gnutls_datum_t crt_pem = {}, key_pem = {};
        char name[64], path[PATH_MAX];
        const char *what = "leaf";
        int r;

        snprintf(name, sizeof name, "h%05u.bench.test", i);

        if ((r = new_ec_key(&key)) < 0 || (r = gnutls_x509_crt_init(&crt)) < 0 ||
            (r = set_common(crt, key, name, job->now, 365L * DAY)) < 0 ||
            (r = gnutls_x509_crt_set_basic_constraints(crt, 0, -1)) < 0 ||
            (r = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
            (r = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0 ||
            (r = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, name, strlen(name),
                                                      GNUTLS_FSAN_SET)) < 0 ||
            (r = gnutls_x509_crt_set_authority_key_id(crt, ca_kid, ca_kid_size)) < 0 ||
            (r = gnutls_x509_crt_privkey_sign(crt, ca, ca_key, GNUTLS_DIG_SHA256, 0)) < 0 ||
            (r = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &crt_pem)) < 0 ||
            (r = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN,
                                                   &key_pem)) < 0) {
                fail(job, name, r);
                goto out;
        }

        /* Key first: a .crt never exists without its key. */
        snprintf(path, sizeof path, "%s/%05u.key", job->outdir, i);
        r = write_file(path, key_pem.data, key_pem.size, 0600);
        if (r == 0) {
                snprintf(path, sizeof path, "%s/%05u.crt", job->outdir, i);
                r = write_file(path, crt_pem.data, crt_pem.size, 0644);
        }
        if (r != 0) {
                what = path;
                fail(job, what, r);
                r = -1;
        }
out:
        gnutls_free(crt_pem.data);
        gnutls_free(key_pem.data);
        gnutls_x509_privkey_deinit(key);
        gnutls_x509_crt_deinit(crt);
        return r;
}

static void *worker(void *userdata) {
        Job *job = userdata;
        gnutls_x509_crt_t ca = NULL;
        gnutls_privkey_t ca_key = NULL;
        unsigned char kid[64];
        size_t kid_size = sizeof kid;
        int r;

        /* Each worker parses its own CA objects: nothing mutable is shared between threads. */
        if ((r = gnutls_x509_crt_init(&ca)) < 0 ||
            (r = gnutls_x509_crt_import(ca, &job->ca_crt_pem, GNUTLS_X509_FMT_PEM)) < 0 ||
            (r = gnutls_x509_crt_get_subject_key_id(ca, kid, &kid_size, NULL)) < 0 ||
            (r = gnutls_privkey_init(&ca_key)) < 0 ||
            (r = gnutls_privkey_import_x509_raw(ca_key, &job->ca_key_pem, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
                fail(job, "CA import", r);
                goto out;
        }

        for (;;) {
                unsigned i = atomic_fetch_add(&job->next, 1);
                if (i >= job->n || atomic_load(&job->failed))
                        break;
                if (make_leaf(job, i, ca, ca_key, kid, kid_size) < 0)
                        break;
        }
out:
        gnutls_privkey_deinit(ca_key);
        gnutls_x509_crt_deinit(ca);
        return NULL;
}

static int write_conf(const Job *job) {
        char path[PATH_MAX];
        FILE *f;
        int r = 0;

        snprintf(path, sizeof path, "%s/certherd.conf", job->outdir);
        f = fopen(path, "we");
        if (!f) {
                fail(NULL, path, errno);
                return -1;
        }
        /* State and pins stay inside OUTDIR: a benchmark never touches the host's certherd. */
        fprintf(f,
                "; certherd benchmark inventory, made by tests/bench/mkpairs (%u pairs)\n"
                "[agent]\n"
                "state-directory = %s/state\n"
                "pin-directory = %s/pins\n",
                job->n, job->outdir, job->outdir);
        for (unsigned i = 0; i < job->n; i++)
                fprintf(f,
                        "\n[certificate \"h%05u\"]\n"
                        "certificate = %s/%05u.crt\n"
                        "key = %s/%05u.key\n"
                        "ca = %s/ca.crt\n"
                        "names = h%05u.bench.test\n",
                        i, job->outdir, i, job->outdir, i, job->outdir, i);
        if (ferror(f))
                r = EIO;
        if (fclose(f) != 0 && r == 0)
                r = errno;
        if (r != 0) {
                fail(NULL, path, r);
                return -1;
        }
        return 0;
}

int main(int argc, char *argv[]) {
        Job job = {};
        char outdir[PATH_MAX], *end;
        unsigned long n, nthreads;
        pthread_t *threads;
        const char *e;
        int r;

        if (argc != 3) {
                fprintf(stderr, "usage: %s OUTDIR N\n", argv[0]);
                return 2;
        }
        errno = 0;
        n = strtoul(argv[2], &end, 10);
        if (errno != 0 || *end || end == argv[2] || n > MAX_PAIRS) {
                fprintf(stderr, "mkpairs: N must be 0..%d\n", MAX_PAIRS);
                return 2;
        }
        if (mkdir(argv[1], 0755) < 0 && errno != EEXIST) {
                fail(NULL, argv[1], errno);
                return 1;
        }
        /* Absolute paths in certherd.conf, whatever directory certherd later runs in. */
        if (!realpath(argv[1], outdir)) {
                fail(NULL, argv[1], errno);
                return 1;
        }

        nthreads = (unsigned long) sysconf(_SC_NPROCESSORS_ONLN);
        e = getenv("MKPAIRS_THREADS");
        if (e && *e)
                nthreads = strtoul(e, NULL, 10);
        if (nthreads < 1)
                nthreads = 1;
        if (nthreads > 256)
                nthreads = 256;

        r = gnutls_global_init();
        if (r < 0) {
                fail(NULL, "gnutls_global_init", r);
                return 1;
        }

        job.outdir = outdir;
        job.n = (unsigned) n;
        job.now = time(NULL);
        atomic_init(&job.next, 0);
        atomic_init(&job.failed, false);

        if (make_ca(&job) < 0)
                return 1;

        threads = calloc(nthreads, sizeof *threads);
        if (!threads) {
                fail(NULL, "calloc", ENOMEM);
                return 1;
        }
        for (unsigned long t = 0; t < nthreads; t++) {
                r = pthread_create(&threads[t], NULL, worker, &job);
                if (r != 0) {
                        fail(&job, "pthread_create", r);
                        nthreads = t;
                        break;
                }
        }
        for (unsigned long t = 0; t < nthreads; t++)
                pthread_join(threads[t], NULL);
        free(threads);

        if (atomic_load(&job.failed))
                return 1;
        if (write_conf(&job) < 0)
                return 1;

        gnutls_free(job.ca_crt_pem.data);
        gnutls_free(job.ca_key_pem.data);
        gnutls_global_deinit();
        return 0;
}
