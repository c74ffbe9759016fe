/* SPDX-License-Identifier: GPL-3.0-or-later */
/* metrics.h: the exact textfile for a report built by hand, label escaping, and the atomic write. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "fd-util.h"
#include "metrics.h"
#include "test-fs.h"

/* 2027-02-20T13:00:00Z, 2026-11-23T13:00:00Z (+ 0.25 s), 2026-11-28T00:00:00Z (+ 0.999999 s) */
#define T_NOT_AFTER ((usec_t) 1803128400 * USEC_PER_SEC)
#define T_RENEWED ((usec_t) 1795438800 * USEC_PER_SEC + 250000)
#define T_NOW ((usec_t) 1795824000 * USEC_PER_SEC + 999999)
/* 2027-01-21T13:00:00Z (+ 0.5 s), 2036-11-20T00:00:00Z, 2026-11-27T23:00:00Z (+ 0.75 s) */
#define T_NEXT ((usec_t) 1800536400 * USEC_PER_SEC + 500000)
#define T_CA_NOT_AFTER ((usec_t) 2110752000 * USEC_PER_SEC)
#define T_PASS ((usec_t) 1795820400 * USEC_PER_SEC + 750000)

typedef struct Fixture {
        CertConfig cert[3];
        CertFacts facts[3];
        CheckResult results[3];
        CheckReport rep;
} Fixture;

/* db's problems out of table order and one twice: the label lists each code once, in table order. */
static Problem db_problems[] = {
        { .code = PROBLEM_RENEWAL_FAILING, .severity = SEVERITY_WARNING },
        { .code = PROBLEM_EXPIRY_WARNING, .severity = SEVERITY_WARNING },
        { .code = PROBLEM_RENEWAL_FAILING, .severity = SEVERITY_WARNING },
};
static Problem broken_problems[] = { { .code = PROBLEM_UNREADABLE, .severity = SEVERITY_CRITICAL } };

/* web: ok; db: warning, renewal failing, deploy failed; broken: unreadable (no notAfter), watch only. */
static void fixture_init(Fixture *x, const char *name0) {
        memset(x, 0, sizeof(*x));
        x->cert[0].name = (char *) name0;
        x->cert[1].name = (char *) "db";
        x->cert[2].name = (char *) "broken";
        x->cert[0].issuer = x->cert[1].issuer = ISSUER_CA;
        x->cert[2].issuer = ISSUER_NONE;
        x->facts[0] = (CertFacts) { .parsed = true, .not_after = T_NOT_AFTER, .state = SEVERITY_OK };
        x->facts[1] = (CertFacts) { .parsed = true, .not_after = T_NOW + 10 * USEC_PER_DAY, .state = SEVERITY_WARNING,
                                    .problems = db_problems, .n_problems = ELEMENTSOF(db_problems) };
        x->facts[2] = (CertFacts) { .parsed = false, .state = SEVERITY_CRITICAL, .problems = broken_problems,
                                    .n_problems = ELEMENTSOF(broken_problems) };
        for (size_t i = 0; i < 3; i++)
                x->results[i] = (CheckResult) { .cert = &x->cert[i], .facts = &x->facts[i] };
        x->rep = (CheckReport) { .results = x->results, .n_results = 3, .worst = SEVERITY_CRITICAL };
}

static const char expected[] =
        "# HELP certherd_certificate_not_after_seconds Expiry (notAfter) of the installed certificate, in seconds "
        "since the epoch.\n"
        "# TYPE certherd_certificate_not_after_seconds gauge\n"
        "certherd_certificate_not_after_seconds{name=\"web\"} 1803128400\n"
        "certherd_certificate_not_after_seconds{name=\"db\"} 1796688000\n"
        "# HELP certherd_certificate_state State of the certificate: 0 ok, 1 warning, 2 critical.\n"
        "# TYPE certherd_certificate_state gauge\n"
        "certherd_certificate_state{name=\"web\"} 0\n"
        "certherd_certificate_state{name=\"db\"} 1\n"
        "certherd_certificate_state{name=\"broken\"} 2\n"
        "# HELP certherd_certificate_renewal_failures Consecutive failed renewals since the last success.\n"
        "# TYPE certherd_certificate_renewal_failures gauge\n"
        "certherd_certificate_renewal_failures{name=\"web\"} 0\n"
        "certherd_certificate_renewal_failures{name=\"db\"} 3\n"
        "certherd_certificate_renewal_failures{name=\"broken\"} 0\n"
        "# HELP certherd_certificate_last_renewal_timestamp_seconds Time of the last successful renewal, in "
        "seconds since the epoch; 0 for never.\n"
        "# TYPE certherd_certificate_last_renewal_timestamp_seconds gauge\n"
        "certherd_certificate_last_renewal_timestamp_seconds{name=\"web\"} 1795438800\n"
        "certherd_certificate_last_renewal_timestamp_seconds{name=\"db\"} 0\n"
        "certherd_certificate_last_renewal_timestamp_seconds{name=\"broken\"} 0\n"
        "# HELP certherd_certificate_deploy_ok 0 while a failed deploy of the set is recorded, else 1.\n"
        "# TYPE certherd_certificate_deploy_ok gauge\n"
        "certherd_certificate_deploy_ok{name=\"web\"} 1\n"
        "certherd_certificate_deploy_ok{name=\"db\"} 0\n"
        "certherd_certificate_deploy_ok{name=\"broken\"} 1\n"
        "# HELP certherd_certificate_next_renewal_timestamp_seconds When the set is planned to renew, in seconds "
        "since the epoch.\n"
        "# TYPE certherd_certificate_next_renewal_timestamp_seconds gauge\n"
        "certherd_certificate_next_renewal_timestamp_seconds{name=\"web\"} 1800536400\n"
        "# HELP certherd_certificate_problems_info Always 1; the label problems lists the set's problem codes, "
        "comma-separated (empty when none).\n"
        "# TYPE certherd_certificate_problems_info gauge\n"
        "certherd_certificate_problems_info{name=\"web\",problems=\"\"} 1\n"
        "certherd_certificate_problems_info{name=\"db\",problems=\"expiry-warning,renewal-failing\"} 1\n"
        "certherd_certificate_problems_info{name=\"broken\",problems=\"unreadable\"} 1\n"
        "# HELP certherd_ca_not_after_seconds Expiry (notAfter) of the internal CA's certificate, in seconds since "
        "the epoch.\n"
        "# TYPE certherd_ca_not_after_seconds gauge\n"
        "certherd_ca_not_after_seconds{ca=\"internal\"} 2110752000\n"
        "# HELP certherd_ca_crl_next_update_seconds nextUpdate of the internal CA's CRL, in seconds since the "
        "epoch.\n"
        "# TYPE certherd_ca_crl_next_update_seconds gauge\n"
        "certherd_ca_crl_next_update_seconds{ca=\"internal\"} 1795910400\n"
        "# HELP certherd_last_run_timestamp_seconds When certherd last inspected its certificates.\n"
        "# TYPE certherd_last_run_timestamp_seconds gauge\n"
        "certherd_last_run_timestamp_seconds 1795824000\n"
        "# HELP certherd_last_pass_timestamp_seconds When certherd last completed a pass over its certificates, "
        "in seconds since the epoch.\n"
        "# TYPE certherd_last_pass_timestamp_seconds gauge\n"
        "certherd_last_pass_timestamp_seconds 1795820400\n";

/* internal: parsed; missing: its certificate cannot be read (no sample). */
static const MetricsCa cas[2] = {
        { .name = "internal", .not_after = T_CA_NOT_AFTER, .parsed = true,
          .crl_next_update = 1795910400 * USEC_PER_SEC },
        { .name = "missing", .not_after = 0, .parsed = false },
};

static void test_render_exact(void **state) {
        Fixture x;
        /* db's next renewal is unknown (0), broken's is ignored: a watch-only set never renews. */
        const MetricsState st[3] = {
                { .renewal_failures = 0, .last_renewal = T_RENEWED, .next_renewal = T_NEXT },
                { .renewal_failures = 3, .last_renewal = 0, .deploy_failed = true },
                { .next_renewal = T_NEXT },
        };
        char *text = NULL;

        fixture_init(&x, "web");
        assert_int_equal(metrics_render(&x.rep, st, cas, 2, T_PASS, T_NOW, &text), 0);
        assert_string_equal(text, expected);
        free(text);
}

/* Without renewal state every failure count and renewal time is 0, every deploy ok, no next renewal;
 * without CAs and a pass time those have no samples, only their HELP and TYPE. */
static void test_render_no_state(void **state) {
        Fixture x;
        char *text = NULL;

        fixture_init(&x, "web");
        assert_int_equal(metrics_render(&x.rep, NULL, NULL, 0, 0, T_NOW, &text), 0);
        assert_non_null(strstr(text, "certherd_certificate_renewal_failures{name=\"db\"} 0\n"));
        assert_non_null(strstr(text, "certherd_certificate_deploy_ok{name=\"db\"} 1\n"));
        assert_non_null(strstr(text, "# TYPE certherd_certificate_next_renewal_timestamp_seconds gauge\n"));
        assert_null(strstr(text, "certherd_certificate_next_renewal_timestamp_seconds{"));
        assert_non_null(strstr(text, "# TYPE certherd_ca_not_after_seconds gauge\n"));
        assert_null(strstr(text, "certherd_ca_not_after_seconds{"));
        assert_non_null(strstr(text, "# TYPE certherd_last_pass_timestamp_seconds gauge\n"));
        assert_null(strstr(text, "\ncertherd_last_pass_timestamp_seconds "));
        assert_non_null(strstr(text, "certherd_certificate_last_renewal_timestamp_seconds{name=\"web\"} 0\n"));
        assert_non_null(strstr(text, "certherd_certificate_not_after_seconds{name=\"web\"} 1803128400\n"));
        assert_null(strstr(text, "not_after_seconds{name=\"broken\"}"));
        free(text);
}

/* An empty report still declares every metric, and nothing else but the run time. */
static void test_render_empty(void **state) {
        CheckReport rep = {};
        char *text = NULL;
        size_t samples = 0;

        assert_int_equal(metrics_render(&rep, NULL, NULL, 0, 0, T_NOW, &text), 0);
        for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                if (*p != '#')
                        samples++;
        assert_int_equal(samples, 1);
        assert_non_null(strstr(text, "# TYPE certherd_certificate_state gauge\n"));
        assert_non_null(strstr(text, "# TYPE certherd_certificate_deploy_ok gauge\n"));
        free(text);
}

/* Label values escape backslash, double quote and line feed (exposition format 0.0.4), set names and CA
 * names alike, in every metric. */
static void test_render_escaping(void **state) {
        Fixture x;
        const MetricsState st[3] = { { .next_renewal = T_NEXT, .deploy_failed = true } };
        const MetricsCa ca = { .name = "c\\a\"\n", .not_after = T_CA_NOT_AFTER, .parsed = true };
        char *text = NULL;

        fixture_init(&x, "a\\b\"c\nd");
        assert_int_equal(metrics_render(&x.rep, st, &ca, 1, T_PASS, T_NOW, &text), 0);
        assert_non_null(strstr(text, "certherd_certificate_state{name=\"a\\\\b\\\"c\\nd\"} 0\n"));
        assert_non_null(strstr(text, "certherd_certificate_deploy_ok{name=\"a\\\\b\\\"c\\nd\"} 0\n"));
        assert_non_null(strstr(text,
                               "certherd_certificate_next_renewal_timestamp_seconds{name=\"a\\\\b\\\"c\\nd\"} "
                               "1800536400\n"));
        assert_non_null(strstr(text, "certherd_ca_not_after_seconds{ca=\"c\\\\a\\\"\\n\"} 2110752000\n"));
        /* Every sample is one line: no raw newline inside a label. */
        for (const char *p = text; *p; p = strchr(p, '\n') + 1)
                assert_true(*p == '#' || strncmp(p, "certherd_", 9) == 0);
        free(text);
}

static void test_write(void **state) {
        char dir[] = "/tmp/test-metrics.XXXXXX", path[64];
        _cleanup_free_ uint8_t *data = NULL;
        size_t size;
        struct stat st;
        mode_t old = umask(0077);

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/certherd.prom", dir);
        assert_int_equal(metrics_write(path, "first\n"), 0);
        assert_int_equal(metrics_write(path, expected), 0);
        assert_int_equal(read_full_file(path, 1 << 20, &data, &size), 0);
        assert_int_equal(size, strlen(expected));
        assert_memory_equal(data, expected, size);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);
        /* No temporary file stays behind. */
        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);
        /* A missing directory is an error, not a crash. */
        assert_true(metrics_write("/nonexistent-certherd/x.prom", "x\n") < 0);
        umask(old);
}

static void test_directory_check(void **state) {
        assert_int_equal(metrics_directory_check("/tmp/x.prom"), 0);
        assert_int_equal(metrics_directory_check("/x.prom"), 0);
        assert_int_equal(metrics_directory_check("x.prom"), 0);
        assert_int_equal(metrics_directory_check("/nonexistent-certherd/dir/x.prom"), -ENOENT);
        assert_int_equal(metrics_directory_check("/dev/null/x.prom"), -ENOTDIR);
}

/* Rate-limit budgets: appended to a rendered text, one sample per budget that is on, labels escaped. */
static void test_render_budgets(void **state) {
        const MetricsBudget b[] = { { .acme = "le", .remaining = { 298, 4, -1 } }, { .acme = "a\"b", .remaining = { 0, -1, 5 } } };
        char *text = strdup("certherd_x 1\n");

        assert_non_null(text);
        assert_int_equal(metrics_render_budgets(b, 2, &text), 0);
        assert_string_equal(text,
                            "certherd_x 1\n"
                            "# HELP certherd_acme_budget_remaining What is left of a rate-limit budget of the ACME server "
                            "(limit: orders, duplicates, failed-validations); absent when the budget is off.\n"
                            "# TYPE certherd_acme_budget_remaining gauge\n"
                            "certherd_acme_budget_remaining{acme=\"le\",limit=\"orders\"} 298\n"
                            "certherd_acme_budget_remaining{acme=\"le\",limit=\"duplicates\"} 4\n"
                            "certherd_acme_budget_remaining{acme=\"a\\\"b\",limit=\"orders\"} 0\n"
                            "certherd_acme_budget_remaining{acme=\"a\\\"b\",limit=\"failed-validations\"} 5\n");
        free(text);
}

TEST_MAIN(cmocka_unit_test(test_render_exact),
          cmocka_unit_test(test_render_no_state),
          cmocka_unit_test(test_render_empty),
          cmocka_unit_test(test_render_escaping),
          cmocka_unit_test(test_write),
          cmocka_unit_test(test_directory_check),
          cmocka_unit_test(test_render_budgets))
