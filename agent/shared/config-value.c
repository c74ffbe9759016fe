/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config-value.h"
#include "config.h"

#define DIGITS "0123456789"

static const bool alnum_table[256] = { ['0' ... '9'] = true, ['A' ... 'Z'] = true, ['a' ... 'z'] = true };

/* strspn() over letters, digits and `extra`. glibc's strspn() takes a slow path for long accept sets,
 * and isalnum() follows the locale; this runs on every name of a large inventory. */
static size_t span_alnum(const char *s, const char *extra) {
        size_t n = 0;

        for (;; n++) {
                unsigned char c = (unsigned char) s[n];

                if (alnum_table[c])
                        continue;
                for (const char *e = extra;; e++) {
                        if (!*e)
                                return n;
                        if (*e == c)
                                break;
                }
        }
}

static const char *const key_type_table[_KEY_TYPE_MAX] = {
        [KEY_TYPE_EC_P256] = "ec-p256",   [KEY_TYPE_EC_P384] = "ec-p384",   [KEY_TYPE_RSA_2048] = "rsa-2048",
        [KEY_TYPE_RSA_3072] = "rsa-3072", [KEY_TYPE_RSA_4096] = "rsa-4096", [KEY_TYPE_ED25519] = "ed25519",
};

static const char *const issuer_kind_table[_ISSUER_KIND_MAX] = {
        [ISSUER_NONE] = "none",
        [ISSUER_SELF] = "self",
        [ISSUER_CA] = "ca",
        [ISSUER_ACME] = "acme",
};

static const char *const usage_table[_USAGE_MAX] = {
        [USAGE_SERVER] = "server",
        [USAGE_CLIENT] = "client",
        [USAGE_SERVER_CLIENT] = "server+client",
};

static const char *const key_policy_table[_KEY_POLICY_MAX] = {
        [KEY_POLICY_REUSE] = "reuse",
        [KEY_POLICY_ROTATE] = "rotate",
};

static const char *const challenge_type_table[_CHALLENGE_TYPE_MAX] = {
        [CHALLENGE_HTTP_01] = "http-01",
        [CHALLENGE_DNS_01] = "dns-01",
        [CHALLENGE_TLS_ALPN_01] = "tls-alpn-01",
        [CHALLENGE_DNS_PERSIST_01] = "dns-persist-01",
};

DEFINE_STRING_TABLE(key_type, KeyType, key_type_table, _KEY_TYPE_MAX)
DEFINE_STRING_TABLE(usage, Usage, usage_table, _USAGE_MAX)
DEFINE_STRING_TABLE(key_policy, KeyPolicy, key_policy_table, _KEY_POLICY_MAX)
DEFINE_STRING_TABLE(challenge_type, ChallengeType, challenge_type_table, _CHALLENGE_TYPE_MAX)

/* Issuers carry ":NAME", so there is no issuer_kind_from_string(); config.c parses them. */
const char *issuer_kind_to_string(IssuerKind k) {
        return k >= 0 && k < _ISSUER_KIND_MAX ? issuer_kind_table[k] : NULL;
}

int parse_threshold(const char *s, Threshold *ret) {
        size_t n;
        usec_t u;
        int r;

        if (!s)
                return -EINVAL;
        n = strspn(s, DIGITS);
        if (n > 0 && s[n] == '%' && s[n + 1] == 0) {
                unsigned v = 0;

                for (size_t i = 0; i < n; i++) {
                        v = v * 10 + (unsigned) (s[i] - '0');
                        if (v > 100)
                                return -ERANGE;
                }
                *ret = (Threshold){ .set = true, .is_percent = true, .percent = v };
                return 0;
        }
        r = parse_duration(s, &u);
        if (r < 0)
                return r;
        *ret = (Threshold){ .set = true, .usec = u };
        return 0;
}

usec_t threshold_resolve(Threshold t, usec_t lifetime) {
        if (!t.set)
                return 0;
        if (!t.is_percent && t.lifetime_divisor > 0 && lifetime > 0)
                return t.usec < lifetime / t.lifetime_divisor ? t.usec : lifetime / t.lifetime_divisor;
        if (!t.is_percent)
                return t.usec;
        /* Split so that lifetime * percent cannot overflow even for USEC_INFINITY. */
        return lifetime / 100 * t.percent + lifetime % 100 * t.percent / 100;
}

/* Rules of expansion, deliberately small (no nesting, no other shell forms):
 *   ${VAR}          the value of VAR; an error when VAR is unset (empty is fine)
 *   ${VAR:-word}    VAR's value, or the literal word (up to the first '}') when VAR is unset or empty
 *   $$              a literal '$', to write "${" literally
 *   $ + anything else is kept as it is, so a '$' inside a path needs no escaping. */
static int expand_one(FILE *out, const char *p, const char **ret_end, char **reterr) {
        const char *name = p + 2, *end, *def = NULL;
        size_t n, def_len = 0;
        char var[256];
        const char *v;

        n = span_alnum(name, "_");
        end = name + n;
        if (end[0] == ':' && end[1] == '-') {
                def = end + 2;
                end = strchr(def, '}');
                if (!end)
                        return asprintf(reterr, "unterminated '${' (missing '}')") < 0 ? -ENOMEM : -EINVAL;
                def_len = (size_t) (end - def);
        }
        if (n == 0 || n >= sizeof(var) || strchr(DIGITS, name[0]) || *end != '}') {
                if (!strchr(name, '}'))
                        return asprintf(reterr, "unterminated '${' (missing '}')") < 0 ? -ENOMEM : -EINVAL;
                return asprintf(reterr, "invalid variable reference '${%.*s}'", (int) strcspn(name, "}"),
                                name) < 0
                               ? -ENOMEM
                               : -EINVAL;
        }
        memcpy(var, name, n);
        var[n] = 0;
        v = getenv(var);
        if (def && (!v || !*v))
                fwrite(def, 1, def_len, out);
        else if (!v)
                return asprintf(reterr, "environment variable '%s' is not set", var) < 0 ? -ENOMEM : -EINVAL;
        else
                fputs(v, out);
        *ret_end = end + 1;
        return 0;
}

int config_expand_env(const char *value, char **ret, char **reterr) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        FILE *out;
        int r = 0;

        if (!strchr(value, '$')) {
                char *s = strdup(value);

                if (!s)
                        return -ENOMEM;
                *ret = s;
                return 0;
        }
        out = open_memstream(&buf, &size);
        if (!out)
                return -ENOMEM;
        for (const char *p = value; *p && r >= 0;) {
                size_t n = strcspn(p, "$");

                fwrite(p, 1, n, out);
                p += n;
                if (!*p)
                        break;
                if (p[1] == '$' || p[1] != '{') {
                        fputc('$', out);
                        p += p[1] == '$' ? 2 : 1;
                        continue;
                }
                r = expand_one(out, p, &p, reterr);
        }
        if (fclose(out) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0)
                return r;
        *ret = TAKE_PTR(buf);
        return 0;
}

bool config_section_name_is_valid(const char *s) {
        /* Names become file names (pins, state): no leading '.' (hidden, "..") or '-' (options). */
        return s[0] && s[0] != '.' && s[0] != '-' && s[span_alnum(s, "._-")] == 0;
}

bool config_dns_name_is_valid(const char *s) {
        const char *last = s;

        if (strlen(s) > 253)
                return false;
        if (s[0] == '*' && s[1] == '.')
                s += 2;
        for (;;) {
                size_t n = span_alnum(s, "-");

                if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
                        return false;
                last = s;
                s += n;
                if (*s == 0)
                        break;
                if (*s != '.')
                        return false;
                s++;
        }
        /* An all-numeric top label is no host name, and catches typos such as 10.0.0.256. */
        return last[strspn(last, DIGITS)] != 0;
}

bool config_ip_is_valid(const char *s) {
        unsigned char buf[16];

        return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

bool config_san_is_valid(const char *s) {
        /* DNS names first: they are the common case, and the cheap test */
        return config_dns_name_is_valid(s) || config_ip_is_valid(s);
}

static bool port_is_valid(const char *s) {
        size_t n = strspn(s, DIGITS);

        return n > 0 && n <= 5 && s[n] == 0 && atoi(s) > 0 && atoi(s) <= 65535;
}

/* "HOST:PORT" or "[IPV6]:PORT"; an empty host only when allow_any (listen on every address). */
static bool host_port_is_valid(const char *s, size_t len, bool allow_any) {
        unsigned char addr[16];
        char host[256], port[8];
        const char *colon;
        size_t n;

        if (len >= sizeof(host))
                return false;
        if (s[0] == '[') {
                const char *close = memchr(s, ']', len);

                if (!close || close + 1 >= s + len || close[1] != ':')
                        return false;
                n = (size_t) (close - s - 1);
                memcpy(host, s + 1, n);
                host[n] = 0;
                if (inet_pton(AF_INET6, host, addr) != 1)
                        return false;
                colon = close + 1;
        } else {
                colon = memrchr(s, ':', len);
                if (!colon)
                        return false;
                n = (size_t) (colon - s);
                memcpy(host, s, n);
                host[n] = 0;
                if (n == 0 && !allow_any)
                        return false;
                if (n > 0 && inet_pton(AF_INET, host, addr) != 1 && !config_dns_name_is_valid(host))
                        return false;
        }
        n = len - (size_t) (colon + 1 - s);
        if (n >= sizeof(port))
                return false;
        memcpy(port, colon + 1, n);
        port[n] = 0;
        return port_is_valid(port);
}

bool config_listen_is_valid(const char *s) {
        return host_port_is_valid(s, strlen(s), true);
}

bool config_verify_is_valid(const char *s) {
        const char *q;

        if (strncmp(s, "tls://", 6) != 0)
                return false;
        s += 6;
        q = strchrnul(s, '?');
        if (*q && strcmp(q, "?starttls=postgres") != 0)
                return false;
        return host_port_is_valid(s, (size_t) (q - s), false);
}

bool config_unit_name_is_valid(const char *s) {
        static const char *const suffixes[] = {
                ".service", ".socket", ".target", ".mount", ".automount", ".swap",
                ".timer",   ".path",   ".slice",  ".scope", ".device",
        };
        size_t len = strlen(s);

        if (len > 255 || s[span_alnum(s, ":-_.\\@")] != 0 || s[0] == '.' || s[0] == '-')
                return false;
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                size_t n = strlen(suffixes[i]);

                if (len > n && strcmp(s + len - n, suffixes[i]) == 0)
                        return true;
        }
        return false;
}

static bool user_is_valid(const char *s, size_t n) {
        return n > 0 && n <= 256 && s[0] != '-' && span_alnum(s, "_.-") >= n;
}

bool config_owner_is_valid(const char *s) {
        const char *colon = strchr(s, ':');

        if (!colon)
                return user_is_valid(s, strlen(s));
        return user_is_valid(s, (size_t) (colon - s)) && user_is_valid(colon + 1, strlen(colon + 1));
}

bool config_url_is_valid(const char *s) {
        /* http:// only so that test servers on loopback work; real ACME servers are https. */
        const char *host = NULL;

        if (strncmp(s, "https://", 8) == 0)
                host = s + 8;
        else if (strncmp(s, "http://", 7) == 0)
                host = s + 7;
        return host && *host && *host != '/' && !strpbrk(s, " \t");
}

int config_parse_mode(const char *s, mode_t *ret) {
        mode_t m = 0;

        if (!s[0] || s[strspn(s, "01234567")] != 0)
                return -EINVAL;
        for (; *s; s++) {
                m = m * 8 + (mode_t) (*s - '0');
                if (m > 0777)
                        return -ERANGE;
        }
        *ret = m;
        return 0;
}

static int signal_from_string(const char *s) {
        if (s[0] && s[strspn(s, DIGITS)] == 0) {
                int v = strlen(s) <= 2 ? atoi(s) : 0;

                return v > 0 && v < NSIG ? v : -EINVAL;
        }
        if (strncmp(s, "SIG", 3) == 0)
                s += 3;
        for (int i = 1; i < NSIG; i++) {
                const char *a = sigabbrev_np(i);

                if (a && strcmp(a, s) == 0)
                        return i;
        }
        return -EINVAL;
}

int config_parse_signal(const char *s, int *ret_signal, char **ret_pidfile) {
        size_t n = strcspn(s, " \t");
        const char *pidfile = s + n + strspn(s + n, " \t");
        char name[16];
        char *p;
        int sig;

        /* A pid file path with blanks in it is not supported: one token each. */
        if (n == 0 || n >= sizeof(name) || !*pidfile || pidfile[strcspn(pidfile, " \t")] != 0)
                return -EINVAL;
        memcpy(name, s, n);
        name[n] = 0;
        sig = signal_from_string(name);
        if (sig < 0)
                return sig;
        p = strdup(pidfile);
        if (!p)
                return -ENOMEM;
        *ret_signal = sig;
        *ret_pidfile = p;
        return 0;
}

int config_parse_seconds(const char *s, double *ret) {
        /* Parsed by hand: strtod() would also take signs, exponents, hex, "inf", "nan" and the
         * locale's decimal point. The fraction is one division, so "0.15" is the double nearest 0.15. */
        size_t i = strspn(s, DIGITS), f = 0;
        uint64_t ip = 0, fp = 0, scale = 1;

        if (s[i] == '.')
                f = strspn(s + i + 1, DIGITS);
        if (i + f == 0 || s[i + (s[i] == '.' ? 1 + f : 0)] != 0)
                return -EINVAL;
        if (i > 9 || f > 9)
                return -ERANGE;
        for (size_t k = 0; k < i; k++)
                ip = ip * 10 + (uint64_t) (s[k] - '0');
        for (size_t k = 0; k < f; k++) {
                fp = fp * 10 + (uint64_t) (s[i + 1 + k] - '0');
                scale *= 10;
        }
        *ret = (double) ip + (double) fp / (double) scale;
        return 0;
}

char *config_format_usec(usec_t u, char *buf, size_t size) {
        if (u % USEC_PER_DAY == 0)
                snprintf(buf, size, "%llud", (unsigned long long) (u / USEC_PER_DAY));
        else if (u % USEC_PER_HOUR == 0)
                snprintf(buf, size, "%lluh", (unsigned long long) (u / USEC_PER_HOUR));
        else if (u % USEC_PER_MINUTE == 0)
                snprintf(buf, size, "%llum", (unsigned long long) (u / USEC_PER_MINUTE));
        else if (u % USEC_PER_SEC == 0)
                snprintf(buf, size, "%llus", (unsigned long long) (u / USEC_PER_SEC));
        else
                snprintf(buf, size, "%lluus", (unsigned long long) u);
        return buf;
}

/* The keys of each section, and their setters: each gets the expanded value and the field, copies what
 * it keeps, and returns -EINVAL for a bad value (a list also names its bad entry). */

#define BLANKS " \t"

/* Strings: an empty value means unset, so a drop-in can clear what the main file set. */
static int set_string(const ConfigKey *def, const char *value, void *field, _unused_ char **ret_bad) {
        char **s = field, *copy = NULL;

        if (*value) {
                if (def->valid && !def->valid(value))
                        return -EINVAL;
                if (!(copy = strdup(value)))
                        return -ENOMEM;
        }
        free(*s);
        *s = copy;
        return 0;
}

/* Lists replace what an earlier line or file gave; an empty value clears them. */
static int set_list(const ConfigKey *def, const char *value, void *field, char **ret_bad) {
        _cleanup_strv_free_ char **l = NULL;
        char ***list = field;
        size_t n = 0, i = 0;
        const char *p;

        for (p = value + strspn(value, BLANKS); *p; p += strspn(p, BLANKS)) {
                p += strcspn(p, BLANKS);
                n++;
        }
        if (n > 0 && !(l = calloc(n + 1, sizeof(char *))))
                return -ENOMEM;
        for (p = value + strspn(value, BLANKS); *p; p += strspn(p, BLANKS)) {
                size_t k = strcspn(p, BLANKS);

                if (!(l[i] = strndup(p, k)))
                        return -ENOMEM;
                if (def->valid && !def->valid(l[i])) {
                        *ret_bad = TAKE_PTR(l[i]);
                        return -EINVAL;
                }
                i++;
                p += k;
        }
        strv_free(*list);
        *list = TAKE_PTR(l);
        return 0;
}

/* A setter that is parse(value, field), any failure an invalid value. */
#define DEFINE_PARSE_SETTER(func, parse)                                                                    \
        static int func(_unused_ const ConfigKey *def, const char *value, void *field,                      \
                        _unused_ char **ret_bad) {                                                          \
                return parse(value, field) < 0 ? -EINVAL : 0;                                               \
        }

static int parse_positive_duration(const char *s, usec_t *ret) {
        usec_t u;

        if (parse_duration(s, &u) < 0 || u == 0)
                return -EINVAL;
        *ret = u;
        return 0;
}

DEFINE_PARSE_SETTER(set_threshold, parse_threshold)
DEFINE_PARSE_SETTER(set_duration, parse_positive_duration)
DEFINE_PARSE_SETTER(set_duration_or_zero, parse_duration) /* rotate-overlap = 0: no overlap */
DEFINE_PARSE_SETTER(set_window, window_parse)
DEFINE_PARSE_SETTER(set_rate, rate_parse)
DEFINE_PARSE_SETTER(set_seconds, config_parse_seconds)

#define DEFINE_ENUM_SETTER(func, type, from_string)                                                         \
        static int func(_unused_ const ConfigKey *def, const char *value, void *field,                      \
                        _unused_ char **ret_bad) {                                                          \
                type v = from_string(value);                                                                \
                                                                                                            \
                if (v < 0)                                                                                  \
                        return -EINVAL;                                                                     \
                *(type *) field = v;                                                                        \
                return 0;                                                                                   \
        }

DEFINE_ENUM_SETTER(set_key_type, KeyType, key_type_from_string)

/* A CertConfig's enums are bit-fields (no address): the setter is handed the struct (offset 0). */
#define DEFINE_CERT_ENUM_SETTER(func, type, from_string, member)                                            \
        static int func(_unused_ const ConfigKey *def, const char *value, void *field,                      \
                        _unused_ char **ret_bad) {                                                          \
                type v = from_string(value);                                                                \
                                                                                                            \
                if (v < 0)                                                                                  \
                        return -EINVAL;                                                                     \
                ((CertConfig *) field)->member = v;                                                         \
                return 0;                                                                                   \
        }

DEFINE_CERT_ENUM_SETTER(set_cert_key_type, KeyType, key_type_from_string, key_type)
DEFINE_CERT_ENUM_SETTER(set_usage, Usage, usage_from_string, usage)
DEFINE_CERT_ENUM_SETTER(set_key_policy, KeyPolicy, key_policy_from_string, key_policy)
DEFINE_ENUM_SETTER(set_challenge, ChallengeType, challenge_type_from_string)

/* How many CAs may follow a CA in a path: 0..16 (a deeper PKI is a mistake, not a design). */
static int set_path_length(_unused_ const ConfigKey *def, const char *value, void *field,
                           _unused_ char **ret_bad) {
        size_t n = strspn(value, DIGITS);

        if (n == 0 || n > 2 || value[n] != 0 || atoi(value) > 16)
                return -EINVAL;
        *(int *) field = atoi(value);
        return 0;
}

/* The JWS algorithms we sign ACME requests with: ES256 and RS256. */
static int set_account_key_type(_unused_ const ConfigKey *def, const char *value, void *field,
                                _unused_ char **ret_bad) {
        KeyType t = key_type_from_string(value);

        if (t != KEY_TYPE_EC_P256 && t != KEY_TYPE_RSA_2048)
                return -EINVAL;
        *(KeyType *) field = t;
        return 0;
}

/* The remaining setters set more than one field and get the whole CertConfig (or CertExtra). */
static int set_issuer(_unused_ const ConfigKey *def, const char *value, void *field,
                      _unused_ char **ret_bad) {
        CertConfig *c = field;
        const char *name = NULL;
        IssuerKind k;
        char *n = NULL;

        if (strcmp(value, "none") == 0)
                k = ISSUER_NONE;
        else if (strcmp(value, "self") == 0)
                k = ISSUER_SELF;
        else if (strncmp(value, "ca:", 3) == 0) {
                k = ISSUER_CA;
                name = value + 3;
        } else if (strncmp(value, "acme:", 5) == 0) {
                k = ISSUER_ACME;
                name = value + 5;
        } else
                return -EINVAL;
        if (name) {
                if (!config_section_name_is_valid(name))
                        return -EINVAL;
                if (!(n = strdup(name)))
                        return -ENOMEM;
        }
        c->issuer = k;
        free(c->issuer_name);
        c->issuer_name = n;
        return 0;
}

static int set_mode(_unused_ const ConfigKey *def, const char *value, void *field, _unused_ char **ret_bad) {
        CertConfig *c = field;

        if (config_parse_mode(value, &c->mode) < 0)
                return -EINVAL;
        c->mode_set = true;
        return 0;
}

static int set_signal(_unused_ const ConfigKey *def, const char *value, void *field,
                      _unused_ char **ret_bad) {
        CertExtra *x = field;
        char *pidfile;
        int r, sig;

        r = config_parse_signal(value, &sig, &pidfile);
        if (r < 0)
                return r == -ENOMEM ? r : -EINVAL;
        x->signal = sig;
        free(x->signal_pidfile);
        x->signal_pidfile = pidfile;
        return 0;
}

#define EXPECT_THRESHOLD "a duration such as 14d or 12h, or a percentage of the lifetime such as 33%"
#define EXPECT_DURATION "a positive duration such as 90d or 10y"
#define EXPECT_KEY_TYPE "ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096, ed25519"
#define EXPECT_PROFILE "an ACME profile name such as classic, tlsserver or shortlived"

/* draft-ietf-acme-profiles leaves names to the CA; they reach JSON and logs, so keep them to a token. */
bool config_profile_is_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 64)
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '-' || *p == '_' || *p == '.'))
                        return false;
        return true;
}

bool config_persist_issuer_is_valid(const char *s) {
        return config_dns_name_is_valid(s) && s[0] != '*';
}

#define EXPECT_WINDOW "weekly windows such as 'Mon..Fri 02:00-04:00, Sat 10:00-12:00' (up to 8), or always"
#define EXPECT_RATE "COUNT/PERIOD such as 300/3h, or 0 for no limit"
#define EXPECT_SECONDS "non-negative decimal seconds such as 0.15 or 30"

/* key, setter, field offset, what a valid value looks like (for messages), optional check */
#define KEY(k, setter, off, exp, check)                                                                     \
        { .key = k, .set = setter, .offset = off, .expected = exp, .valid = check }

#define AGENT(f) offsetof(AgentConfig, f)
static const ConfigKey agent_keys[] = {
        KEY("state-directory", set_string, AGENT(state_directory), NULL, NULL),
        KEY("pin-directory", set_string, AGENT(pin_directory), NULL, NULL),
        KEY("warn-before", set_threshold, AGENT(warn_before), EXPECT_THRESHOLD, NULL),
        KEY("critical-before", set_threshold, AGENT(critical_before), EXPECT_THRESHOLD, NULL),
        KEY("renew-before", set_threshold, AGENT(renew_before), EXPECT_THRESHOLD, NULL),
        KEY("metrics-file", set_string, AGENT(metrics_file), NULL, NULL),
        KEY("hook-timeout", set_duration, AGENT(hook_timeout), EXPECT_DURATION, NULL),
        KEY("pkcs11-module", set_list, AGENT(pkcs11_modules), NULL, NULL),
        KEY("window", set_window, AGENT(window), EXPECT_WINDOW, NULL),
};

#define ACME(f) offsetof(AcmeConfig, f)
static const ConfigKey acme_keys[] = {
        KEY("directory", set_string, ACME(directory), "an https:// URL", config_url_is_valid),
        KEY("contact", set_string, ACME(contact), NULL, NULL),
        KEY("ca-bundle", set_string, ACME(ca_bundle), NULL, NULL),
        KEY("eab-kid", set_string, ACME(eab_kid), NULL, NULL),
        KEY("eab-hmac-file", set_string, ACME(eab_hmac_file), NULL, NULL),
        KEY("challenge", set_challenge, ACME(challenge), "http-01, dns-01, tls-alpn-01, dns-persist-01",
            NULL),
        KEY("webroot", set_string, ACME(webroot), NULL, NULL),
        KEY("listen", set_string, ACME(listen), "ADDRESS:PORT such as [::]:80 or 0.0.0.0:80",
            config_listen_is_valid),
        KEY("dns-hook", set_string, ACME(dns_hook), NULL, NULL),
        KEY("preferred-chain", set_string, ACME(preferred_chain), NULL, NULL),
        KEY("profile", set_string, ACME(profile), EXPECT_PROFILE, config_profile_is_valid),
        KEY("persist-issuer", set_string, ACME(persist_issuer),
            "the CA's issuer domain name such as letsencrypt.org", config_persist_issuer_is_valid),
        KEY("account-key-type", set_account_key_type, ACME(account_key_type), "ec-p256, rsa-2048", NULL),
        KEY("account-key", set_string, ACME(account_key), "a pkcs11: URI with ;object=LABEL", NULL),
        KEY("pkcs11-pin-file", set_string, ACME(pkcs11_pin_file), NULL, NULL),
        KEY("initial-backoff", set_seconds, ACME(initial_backoff), EXPECT_SECONDS, NULL),
        KEY("max-retry-duration", set_seconds, ACME(max_retry_duration), EXPECT_SECONDS, NULL),
        KEY("max-orders", set_rate, ACME(max_orders), EXPECT_RATE, NULL),
        KEY("max-duplicates", set_rate, ACME(max_duplicates), EXPECT_RATE, NULL),
        KEY("max-failed-validations", set_rate, ACME(max_failed_validations), EXPECT_RATE, NULL),
};

#define CA(f) offsetof(CaConfig, f)
static const ConfigKey ca_keys[] = {
        KEY("certificate", set_string, CA(certificate), NULL, NULL),
        KEY("key", set_string, CA(key), NULL, NULL),
        KEY("pkcs11-pin-file", set_string, CA(pkcs11_pin_file), NULL, NULL),
        KEY("key-type", set_key_type, CA(key_type), EXPECT_KEY_TYPE, NULL),
        KEY("validity", set_duration, CA(validity), EXPECT_DURATION, NULL),
        KEY("ca-validity", set_duration, CA(ca_validity), EXPECT_DURATION, NULL),
        KEY("export", set_list, CA(export), NULL, NULL),
        KEY("crl", set_string, CA(crl), NULL, NULL),
        KEY("crl-validity", set_duration, CA(crl_validity), EXPECT_DURATION, NULL),
        KEY("reload", set_list, CA(reload), "unit names such as nginx.service", config_unit_name_is_valid),
        KEY("exec", set_string, CA(exec), NULL, NULL),
        KEY("parent", set_string, CA(parent), "the name of another [ca] section",
            config_section_name_is_valid),
        KEY("permitted-names", set_list, CA(permitted_names),
            "DNS names (.example.com: only below it) or IP networks such as 10.0.0.0/8",
            config_permitted_name_is_valid),
        KEY("path-length", set_path_length, CA(path_length), "a number of CAs from 0 to 16", NULL),
        KEY("subject", set_string, CA(subject), "TYPE=VALUE, ... such as 'CN=Example Root CA, O=Example'",
            config_subject_is_valid),
        KEY("rotate-overlap", set_duration_or_zero, CA(rotate_overlap), "a duration such as 24h or 7d, or 0",
            NULL),
};

#define CERT(f) offsetof(CertConfig, f)
/* A key of CertExtra: key, setter, field, as KEY. */
#define XKEY(k, setter, f, exp, check)                                                                      \
        {                                                                                                   \
                .key = k, .set = setter, .offset = offsetof(CertExtra, f), .expected = exp, .valid = check, \
                .extra = true                                                                               \
        }
static const ConfigKey cert_keys[] = {
        KEY("certificate", set_string, CERT(certificate), NULL, NULL),
        KEY("key", set_string, CERT(key), NULL, NULL),
        KEY("ca", set_string, CERT(ca), NULL, NULL),
        KEY("names", set_list, CERT(names), "DNS names, IP addresses, uri:URI or email:ADDRESS",
            config_name_is_valid),
        XKEY("subject", set_string, subject, "TYPE=VALUE, ... such as 'CN=api, O=Example, OU=Platform'",
             config_subject_is_valid),
        KEY("issuer", set_issuer, 0, "none, self, ca:NAME, acme:NAME", NULL),
        KEY("usage", set_usage, 0, "server, client, server+client", NULL),
        KEY("key-type", set_cert_key_type, 0, EXPECT_KEY_TYPE, NULL),
        KEY("key-policy", set_key_policy, 0, "reuse, rotate", NULL),
        XKEY("renew-before", set_threshold, renew_before, EXPECT_THRESHOLD, NULL),
        XKEY("warn-before", set_threshold, warn_before, EXPECT_THRESHOLD, NULL),
        XKEY("critical-before", set_threshold, critical_before, EXPECT_THRESHOLD, NULL),
        XKEY("key-password-file", set_string, key_password_file, NULL, NULL),
        XKEY("pkcs11-pin-file", set_string, pkcs11_pin_file, NULL, NULL),
        KEY("owner", set_string, CERT(owner), "USER or USER:GROUP", config_owner_is_valid),
        KEY("mode", set_mode, 0, "an octal mode up to 0777 such as 0600", NULL),
        KEY("reload", set_list, CERT(reload), "unit names such as nginx.service", config_unit_name_is_valid),
        XKEY("restart", set_list, restart, "unit names such as nginx.service", config_unit_name_is_valid),
        { .key = "signal",
          .set = set_signal,
          .expected = "SIGNAL PIDFILE such as 'HUP /run/nginx.pid'",
          .extra = true },
        XKEY("exec", set_string, exec, NULL, NULL),
        XKEY("hook-timeout", set_duration, hook_timeout, EXPECT_DURATION, NULL),
        XKEY("verify", set_list, verify, "tls://HOST:PORT or tls://HOST:PORT?starttls=postgres",
             config_verify_is_valid),
        XKEY("crl", set_list, crl, NULL, NULL),
        XKEY("profile", set_string, profile, EXPECT_PROFILE, config_profile_is_valid),
        XKEY("window", set_window, window, EXPECT_WINDOW, NULL),
        XKEY("chain", set_string, chain, NULL, NULL),
        XKEY("leaf", set_string, leaf, NULL, NULL),
        XKEY("combined", set_string, combined, NULL, NULL),
        XKEY("pkcs12", set_string, pkcs12, NULL, NULL),
        XKEY("pkcs12-password-file", set_string, pkcs12_password_file, NULL, NULL),
};

const ConfigKey *config_key_find(SectionKind kind, const char *key) {
        const ConfigKey *t;
        size_t n;

        switch (kind) {
        case SECTION_AGENT:
                t = agent_keys, n = ELEMENTSOF(agent_keys);
                break;
        case SECTION_ACME:
                t = acme_keys, n = ELEMENTSOF(acme_keys);
                break;
        case SECTION_CA:
                t = ca_keys, n = ELEMENTSOF(ca_keys);
                break;
        case SECTION_CERT:
                t = cert_keys, n = ELEMENTSOF(cert_keys);
                break;
        default:
                return NULL;
        }
        for (size_t i = 0; i < n; i++)
                if (t[i].key[0] == key[0] && strcmp(t[i].key, key) == 0)
                        return &t[i];
        return NULL;
}

/* The kinds of names a client certificate carries, name constraints, and subjects. */

NameType config_name_type(const char *s) {
        if (!s)
                return _NAME_TYPE_INVALID;
        if (strncmp(s, "uri:", 4) == 0)
                return NAME_URI;
        if (strncmp(s, "email:", 6) == 0)
                return NAME_EMAIL;
        if (config_ip_is_valid(s))
                return NAME_IP;
        return NAME_DNS;
}

const char *config_name_value(const char *s) {
        switch (config_name_type(s)) {
        case NAME_URI:
                return s + 4;
        case NAME_EMAIL:
                return s + 6;
        default:
                return s;
        }
}

/* A SAN is an IA5String: printable ASCII, no blanks (a list entry has none anyway). */
static bool ia5_printable(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s <= 0x20 || (unsigned char) *s >= 0x7f)
                        return false;
        return true;
}

/* RFC 3986 scheme ":" something; spiffe://trust-domain/path is the case that matters. */
static bool uri_is_valid(const char *s) {
        size_t n;

        if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
                return false;
        n = span_alnum(s, "+.-");
        if (s[n] != ':' || s[n + 1] == 0 || strlen(s) > 2048)
                return false;
        if (strncasecmp(s, "spiffe:", 7) == 0 && (strncmp(s + 7, "//", 2) != 0 || s[9] == 0 || s[9] == '/'))
                return false; /* a SPIFFE ID always names its trust domain */
        return ia5_printable(s);
}

/* local@domain, domain a DNS name (RFC 5280 rfc822Name, no display name). */
static bool email_is_valid(const char *s) {
        const char *at = strchr(s, '@');

        if (!at || at == s || strchr(at + 1, '@') || strlen(s) > 320 || !ia5_printable(s))
                return false;
        return config_dns_name_is_valid(at + 1) && at[1] != '*';
}

bool config_name_is_valid(const char *s) {
        switch (config_name_type(s)) {
        case NAME_URI:
                return uri_is_valid(s + 4);
        case NAME_EMAIL:
                return email_is_valid(s + 6);
        default:
                return config_san_is_valid(s);
        }
}

/* "10.0.0.0/8" → address and prefix length; -EINVAL when it is not a network. */
int config_parse_network(const char *s, unsigned char addr[static 16], unsigned *ret_len,
                         unsigned *ret_prefix) {
        const char *slash = strchr(s, '/');
        char buf[INET6_ADDRSTRLEN];
        size_t n;
        unsigned len, prefix;

        if (!slash || (size_t) (slash - s) >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, s, (size_t) (slash - s));
        buf[slash - s] = 0;
        if (inet_pton(AF_INET, buf, addr) == 1)
                len = 4;
        else if (inet_pton(AF_INET6, buf, addr) == 1)
                len = 16;
        else
                return -EINVAL;
        n = strspn(slash + 1, DIGITS);
        if (n == 0 || n > 3 || slash[1 + n] != 0)
                return -EINVAL;
        prefix = (unsigned) atoi(slash + 1);
        if (prefix > len * 8)
                return -EINVAL;
        *ret_len = len;
        *ret_prefix = prefix;
        return 0;
}

static const char *const subject_types[] = { "CN", "O", "OU", "L", "ST", "C", "DC", "UID", "serialNumber" };

int config_subject_split(const char *s, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;

        if (!s)
                return -EINVAL;
        for (const char *p = s;;) {
                const char *type_end;
                size_t k, tn, vi = 0;
                const char *canon = NULL;
                char *value, **nl;

                p += strspn(p, BLANKS);
                type_end = strchr(p, '=');
                if (!type_end)
                        return -EINVAL;
                tn = (size_t) (type_end - p);
                while (tn > 0 && strchr(BLANKS, p[tn - 1]))
                        tn--;
                for (size_t i = 0; i < ELEMENTSOF(subject_types); i++)
                        if (strlen(subject_types[i]) == tn && strncasecmp(subject_types[i], p, tn) == 0)
                                canon = subject_types[i];
                if (!canon)
                        return -EINVAL;
                p = type_end + 1;
                p += strspn(p, BLANKS);
                value = malloc(strlen(p) + 1);
                if (!value)
                        return -ENOMEM;
                for (; *p && *p != ','; p++) {
                        if (*p == '\\' &&
                            (p[1] == ',' || p[1] == '\\' || p[1] == '+' || p[1] == '=' || p[1] == '"')) {
                                p++;
                        } else if ((unsigned char) *p < 0x20 || *p == 0x7f || *p == '+' || *p == '=') {
                                free(value);
                                return -EINVAL; /* multi-valued RDNs are not supported */
                        }
                        value[vi++] = *p;
                }
                while (vi > 0 && strchr(BLANKS, value[vi - 1]))
                        vi--;
                value[vi] = 0;
                if (vi == 0 || (strcmp(canon, "C") == 0 && vi != 2) || vi > 64) {
                        free(value);
                        return -EINVAL;
                }
                k = n;
                nl = reallocarray(l, n + 3, sizeof(char *));
                if (!nl) {
                        free(value);
                        return -ENOMEM;
                }
                l = nl;
                l[k] = strdup(canon);
                l[k + 1] = value;
                l[k + 2] = NULL;
                n += 2;
                if (!l[k])
                        return -ENOMEM;
                if (*p == 0)
                        break;
                p++; /* the comma */
        }
        *ret = TAKE_PTR(l);
        return 0;
}

bool config_subject_is_valid(const char *s) {
        _cleanup_strv_free_ char **l = NULL;

        return config_subject_split(s, &l) >= 0;
}
