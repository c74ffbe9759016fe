/* SPDX-License-Identifier: GPL-3.0-or-later */
/* CAA: parsing one record's RDATA, the verdict of a record set for this CA, account and method (RFC 8659
 * with RFC 8657's accounturi and validationmethods), and the zone file line `acme caa-record` prints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "caa.h"
#include "macro.h"
#include "test-fs.h"

#define ACCOUNT "https://ca.example/acct/1"

static char *ids[] = { (char *) "ca.example", (char *) "ca-alias.example", NULL };

/* A set of (tag, value) pairs, flags 0 unless the tag starts with '!' (critical). */
static CaaVerdict judge(bool wildcard, const char *method, ...) {
        CaaRecord recs[8];
        CaaSet set = { .records = recs };
        const char *tag;
        va_list ap;

        va_start(ap, method);
        while ((tag = va_arg(ap, const char *))) {
                bool critical = tag[0] == '!';
                recs[set.n++] = (CaaRecord) { .flags = critical ? 128 : 0, .tag = (char *) tag + critical,
                                              .value = va_arg(ap, char *) };
        }
        va_end(ap);
        return caa_judge(&set, wildcard, ids, ACCOUNT, method);
}

static void test_judge(void **state) {
        /* no issue property at all: nothing restricts */
        assert_int_equal(judge(false, "http-01", NULL), CAA_PERMITTED);
        assert_int_equal(judge(false, "http-01", "iodef", "mailto:x@example.org", NULL), CAA_PERMITTED);
        /* this CA, any account and method; an alias of it; with spaces */
        assert_int_equal(judge(false, "http-01", "issue", "ca.example", NULL), CAA_PERMITTED);
        assert_int_equal(judge(false, "http-01", "issue", "  CA-Alias.example ; foo=bar", NULL), CAA_PERMITTED);
        /* other CAs only, or none */
        assert_int_equal(judge(false, "http-01", "issue", "other.example", NULL), CAA_OTHER_CA);
        assert_int_equal(judge(false, "http-01", "issue", ";", NULL), CAA_OTHER_CA);
        /* one record of several is enough */
        assert_int_equal(judge(false, "http-01", "issue", "other.example", "issue", "ca.example", NULL), CAA_PERMITTED);
        /* accounturi and validationmethods */
        assert_int_equal(judge(false, "http-01", "issue", "ca.example; accounturi=" ACCOUNT, NULL), CAA_PERMITTED);
        assert_int_equal(judge(false, "http-01", "issue", "ca.example; accounturi=https://ca.example/acct/2", NULL),
                         CAA_ACCOUNT);
        assert_int_equal(judge(false, "http-01", "issue", "ca.example; validationmethods=dns-01, http-01", NULL),
                         CAA_PERMITTED);
        assert_int_equal(judge(false, "tls-alpn-01", "issue", "ca.example; validationmethods=dns-01,http-01", NULL),
                         CAA_METHOD);
        assert_int_equal(judge(false, "http-01", "issue",
                               "ca.example; accounturi=" ACCOUNT "; validationmethods=http-01", NULL),
                         CAA_PERMITTED);
        /* a method mismatch is the more specific finding than an account mismatch on another record */
        assert_int_equal(judge(false, "dns-01", "issue", "ca.example; accounturi=https://x/2", "issue",
                               "ca.example; validationmethods=http-01", NULL),
                         CAA_METHOD);
        /* issuewild rules wildcard names where present, issue otherwise; issue alone for plain names */
        assert_int_equal(judge(true, "dns-01", "issue", "ca.example", "issuewild", ";", NULL), CAA_OTHER_CA);
        assert_int_equal(judge(true, "dns-01", "issue", "ca.example", NULL), CAA_PERMITTED);
        assert_int_equal(judge(false, "dns-01", "issue", "ca.example", "issuewild", ";", NULL), CAA_PERMITTED);
        assert_int_equal(judge(false, "dns-01", "issuewild", "other.example", NULL), CAA_PERMITTED);
        /* an unknown critical property stops every CA; a known critical one does not */
        assert_int_equal(judge(false, "http-01", "issue", "ca.example", "!tbs", "x", NULL), CAA_CRITICAL_UNKNOWN);
        assert_int_equal(judge(false, "http-01", "!issue", "ca.example", NULL), CAA_PERMITTED);
}

static void test_parse_rdata(void **state) {
        static const uint8_t ok[] = { 0, 5, 'I', 's', 'S', 'u', 'e', 'c', 'a', '.', 'x', 0x01 };
        static const uint8_t bad_len[] = { 0, 9, 'i', 's', 's', 'u', 'e' };
        static const uint8_t empty_tag[] = { 0, 0, 'x' };
        static const uint8_t bad_tag[] = { 128, 2, 'a', '-', 'v' };
        CaaRecord r;

        assert_int_equal(caa_parse_rdata(ok, sizeof(ok), &r), 0);
        assert_int_equal(r.flags, 0);
        assert_string_equal(r.tag, "issue");
        assert_string_equal(r.value, "ca.x ");
        free(r.tag);
        free(r.value);
        assert_int_equal(caa_parse_rdata(bad_len, sizeof(bad_len), &r), -EBADMSG);
        assert_int_equal(caa_parse_rdata(empty_tag, sizeof(empty_tag), &r), -EBADMSG);
        assert_int_equal(caa_parse_rdata(bad_tag, sizeof(bad_tag), &r), -EBADMSG);
        assert_int_equal(caa_parse_rdata(ok, 1, &r), -EBADMSG);
}

static void test_record_line(void **state) {
        char *line = NULL;

        assert_int_equal(caa_record_line("www.example.org", "ca.example", ACCOUNT, "http-01", &line), 0);
        assert_string_equal(line, "www.example.org. IN CAA 0 issue \"ca.example; accounturi=" ACCOUNT
                                  "; validationmethods=http-01\"");
        free(line);
        assert_int_equal(caa_record_line("*.example.org", "ca.example", ACCOUNT, "dns-01", &line), 0);
        assert_string_equal(line, "example.org. IN CAA 0 issuewild \"ca.example; accounturi=" ACCOUNT
                                  "; validationmethods=dns-01\"");
        free(line);
}

TEST_MAIN(cmocka_unit_test(test_judge),
          cmocka_unit_test(test_parse_rdata),
          cmocka_unit_test(test_record_line))
