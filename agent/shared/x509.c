/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <arpa/inet.h>
#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>

#include "fd-util.h" /* file_strerror() only: no I/O here */
#include "gnutls-util.h"
#include "x509.h"

static const char *const severity_table[_SEVERITY_MAX] = {
        [SEVERITY_OK] = "ok",
        [SEVERITY_WARNING] = "warning",
        [SEVERITY_CRITICAL] = "critical",
};

static const struct {
        const char *name;
        Severity severity;
} problem_table[_PROBLEM_CODE_MAX] = {
        [PROBLEM_UNREADABLE] = { "unreadable", SEVERITY_CRITICAL },
        [PROBLEM_MALFORMED] = { "malformed", SEVERITY_CRITICAL },
        [PROBLEM_EXPIRED] = { "expired", SEVERITY_CRITICAL },
        [PROBLEM_NOT_YET_VALID] = { "not-yet-valid", SEVERITY_CRITICAL },
        [PROBLEM_EXPIRY_CRITICAL] = { "expiry-critical", SEVERITY_CRITICAL },
        [PROBLEM_EXPIRY_WARNING] = { "expiry-warning", SEVERITY_WARNING },
        [PROBLEM_KEY_MISMATCH] = { "key-mismatch", SEVERITY_CRITICAL },
        [PROBLEM_NAME_MISSING] = { "name-missing", SEVERITY_CRITICAL },
        [PROBLEM_UNTRUSTED_CHAIN] = { "untrusted-chain", SEVERITY_CRITICAL },
        [PROBLEM_WEAK_KEY] = { "weak-key", SEVERITY_CRITICAL },
        [PROBLEM_WEAK_SIGNATURE] = { "weak-signature", SEVERITY_CRITICAL },
        [PROBLEM_KEY_PERMISSIONS] = { "key-permissions", SEVERITY_WARNING },
        [PROBLEM_USAGE_MISSING] = { "usage-missing", SEVERITY_WARNING },
        [PROBLEM_CHAIN_ORDER] = { "chain-order", SEVERITY_CRITICAL },
        [PROBLEM_DEPLOY_FAILED] = { "deploy-failed", SEVERITY_CRITICAL },
        [PROBLEM_RENEWAL_FAILING] = { "renewal-failing", SEVERITY_WARNING },
        [PROBLEM_REVOKED] = { "revoked", SEVERITY_CRITICAL },
        [PROBLEM_CRL_EXPIRING] = { "crl-expiring", SEVERITY_WARNING },
        [PROBLEM_CRL_EXPIRED] = { "crl-expired", SEVERITY_CRITICAL },
        [PROBLEM_CAA_MISMATCH] = { "caa-mismatch", SEVERITY_WARNING },
        [PROBLEM_CRL_INVALID] = { "crl-invalid", SEVERITY_CRITICAL },
        [PROBLEM_RATE_LIMITED] = { "rate-limited", SEVERITY_WARNING },
};

DEFINE_STRING_TABLE_TO_STRING(severity, Severity, severity_table, _SEVERITY_MAX)

DEFINE_STRUCT_STRING_TABLE(problem_code, ProblemCode, problem_table, name, _PROBLEM_CODE_MAX)

Severity problem_code_severity(ProblemCode c) {
        return c >= 0 && c < _PROBLEM_CODE_MAX ? problem_table[c].severity : SEVERITY_CRITICAL;
}

CertFacts *cert_facts_free(CertFacts *f) {
        if (!f)
                return NULL;
        assert(!f->stored); /* the store's (facts-store.h) */
        free_many(f->subject, f->issuer, f->serial, f->key_type);
        strv_free(f->names);
        for (size_t i = 0; i < f->n_problems; i++)
                free(f->problems[i].message);
        free_many(f->problems, f);
        return NULL;
}

int cert_facts_add_problem(CertFacts *f, ProblemCode code, const char *fmt, ...) {
        Problem *p;
        char *m;

        if (VA_FORMAT(&m, fmt) < 0)
                return -ENOMEM;

        p = realloc(f->problems, (f->n_problems + 1) * sizeof(Problem));
        if (!p) {
                free(m);
                return -ENOMEM;
        }
        f->problems = p;
        f->problems[f->n_problems++] = (Problem){ .code = code,
                                                  .severity = problem_code_severity(code),
                                                  .message = m };
        if (problem_code_severity(code) > f->state)
                f->state = problem_code_severity(code);
        return 0;
}

static bool has_problem(const CertFacts *f, ProblemCode code) {
        for (size_t i = 0; i < f->n_problems; i++)
                if (f->problems[i].code == code)
                        return true;
        return false;
}

static bool looks_pem(const uint8_t *data, size_t size) {
        return size >= 11 && memmem(data, size, "-----BEGIN ", 11);
}

static bool single_pem_cert(const uint8_t *data, size_t size) {
        static const char marker[] = "-----BEGIN CERTIFICATE-----";
        const uint8_t *p = memmem(data, size, marker, sizeof(marker) - 1);

        if (!p)
                return false;
        p += sizeof(marker) - 1;
        return !memmem(p, size - (size_t) (p - data), marker, sizeof(marker) - 1);
}

int x509_load_crts(const uint8_t *data, size_t size, gnutls_x509_crt_t **ret, unsigned *ret_n) {
        gnutls_datum_t d;
        gnutls_x509_crt_t *crts = NULL;
        unsigned n = 0;
        int r;

        if (datum_from_data(data, size, &d) < 0)
                return -EBADMSG;

        /* A lone PEM certificate (the common case) skips the list import's sorting and copying. */
        if (looks_pem(data, size) && !single_pem_cert(data, size)) {
                r = gnutls_x509_crt_list_import2(&crts, &n, &d, GNUTLS_X509_FMT_PEM, 0);
                if (r < 0)
                        return errno_from_gnutls(r);
        } else {
                crts = gnutls_malloc(sizeof(gnutls_x509_crt_t));
                if (!crts)
                        return -ENOMEM;
                r = gnutls_x509_crt_init(&crts[0]);
                if (r < 0) {
                        gnutls_free(crts);
                        return -ENOMEM;
                }
                r = gnutls_x509_crt_import(
                        crts[0], &d, looks_pem(data, size) ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER);
                if (r < 0) {
                        gnutls_x509_crt_deinit(crts[0]);
                        gnutls_free(crts);
                        return errno_from_gnutls(r);
                }
                n = 1;
        }
        if (n == 0) {
                gnutls_free(crts);
                return -EBADMSG;
        }
        *ret = crts;
        *ret_n = n;
        return 0;
}

void x509_crts_free(gnutls_x509_crt_t *crts, unsigned n) {
        for (unsigned i = 0; crts && i < n; i++)
                gnutls_x509_crt_deinit(crts[i]);
        gnutls_free(crts);
}

void x509_crts_done(X509Crts *c) {
        x509_crts_free(c->v, c->n);
        *c = (X509Crts){};
}

int x509_load_privkey(const uint8_t *data, size_t size, const char *password, gnutls_x509_privkey_t *ret) {
        gnutls_datum_t d;
        _cleanup_x509_privkey_ gnutls_x509_privkey_t key = NULL;
        int r;

        if (datum_from_data(data, size, &d) < 0)
                return -EBADMSG;
        if (gnutls_x509_privkey_init(&key) < 0)
                return -ENOMEM;

        /* import2 recognises PKCS#1, SEC1, PKCS#8 and encrypted PKCS#8 in either encoding. */
        r = gnutls_x509_privkey_import2(key, &d,
                                        looks_pem(data, size) ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER,
                                        password, password ? 0 : GNUTLS_PKCS_PLAIN);
        if (r == GNUTLS_E_DECRYPTION_FAILED || (r < 0 && !password && memmem(data, size, "ENCRYPTED", 9)))
                return -EACCES;
        if (r < 0)
                return errno_from_gnutls(r) == -ENOMEM ? -ENOMEM : -EBADMSG;

        *ret = TAKE_PTR(key);
        return 0;
}

static int spki_from_pubkey(gnutls_pubkey_t pub, gnutls_datum_t *ret) {
        int r = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, ret);
        return r < 0 ? errno_from_gnutls(r) : 0;
}

int x509_spki_from_data(const uint8_t *data, size_t size, const char *password, gnutls_datum_t *ret) {
        const gnutls_x509_crt_fmt_t fmt = looks_pem(data, size) ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER;
        gnutls_datum_t d;
        _cleanup_pubkey_ gnutls_pubkey_t pub = NULL;
        _cleanup_x509_crt_ gnutls_x509_crt_t crt = NULL;
        _cleanup_x509_crq_ gnutls_x509_crq_t crq = NULL;
        _cleanup_x509_privkey_ gnutls_x509_privkey_t xkey = NULL;
        _cleanup_privkey_ gnutls_privkey_t key = NULL;
        int r;

        if (datum_from_data(data, size, &d) < 0)
                return -EBADMSG;
        if (gnutls_pubkey_init(&pub) < 0)
                return -ENOMEM;

        /* A certificate? (x509_load_crts accepts a chain; the first one is the leaf.) */
        if (gnutls_x509_crt_init(&crt) < 0)
                return -ENOMEM;
        if (gnutls_x509_crt_import(crt, &d, fmt) >= 0) {
                r = gnutls_pubkey_import_x509(pub, crt, 0);
                return r < 0 ? errno_from_gnutls(r) : spki_from_pubkey(pub, ret);
        }

        /* A certificate request? */
        if (gnutls_x509_crq_init(&crq) < 0)
                return -ENOMEM;
        if (gnutls_x509_crq_import(crq, &d, fmt) >= 0) {
                r = gnutls_pubkey_import_x509_crq(pub, crq, 0);
                return r < 0 ? errno_from_gnutls(r) : spki_from_pubkey(pub, ret);
        }

        /* A public key? */
        if (gnutls_pubkey_import(pub, &d, fmt) >= 0)
                return spki_from_pubkey(pub, ret);

        /* A private key, then. */
        r = x509_load_privkey(data, size, password, &xkey);
        if (r < 0)
                return r;
        if (gnutls_privkey_init(&key) < 0)
                return -ENOMEM;
        r = gnutls_privkey_import_x509(key, xkey, 0);
        if (r >= 0)
                r = gnutls_pubkey_import_privkey(pub, key, 0, 0);
        return r < 0 ? errno_from_gnutls(r) : spki_from_pubkey(pub, ret);
}

int x509_trust_new(const uint8_t *data, size_t size, gnutls_x509_trust_list_t *ret) {
        gnutls_x509_trust_list_t tl;
        int r;

        if (gnutls_x509_trust_list_init(&tl, 0) < 0)
                return -ENOMEM;

        if (!data) {
                r = gnutls_x509_trust_list_add_system_trust(tl, 0, 0);
                if (r <= 0) {
                        gnutls_x509_trust_list_deinit(tl, 1);
                        return r == 0 ? -ENOENT : errno_from_gnutls(r);
                }
        } else {
                const gnutls_datum_t d = { (unsigned char *) data, (unsigned) size };

                if (size == 0 || size > UINT32_MAX) {
                        gnutls_x509_trust_list_deinit(tl, 1);
                        return -EBADMSG;
                }
                r = gnutls_x509_trust_list_add_trust_mem(
                        tl, &d, NULL, looks_pem(data, size) ? GNUTLS_X509_FMT_PEM : GNUTLS_X509_FMT_DER, 0,
                        0);
                if (r <= 0) {
                        gnutls_x509_trust_list_deinit(tl, 1);
                        return r == 0 ? -EBADMSG : errno_from_gnutls(r);
                }
        }
        *ret = tl;
        return 0;
}

/* ---- inspection ---- */

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when there is none: no overlong forms,
 * no surrogates, nothing above U+10FFFF (RFC 3629). */
static size_t utf8_sequence(const unsigned char *s, size_t n) {
        unsigned char c = s[0];
        size_t len;
        uint32_t cp;

        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                len = 2, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
                len = 3, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
                len = 4, cp = c & 0x07;
        else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
                return 0;
        return len;
}

char *x509_escape_text(const char *s, size_t n) {
        const unsigned char *u = (const unsigned char *) s;
        char *out, *p;

        /* Each byte at most "\xHH". */
        out = malloc(n * 4 + 1);
        if (!out)
                return NULL;
        p = out;
        for (size_t i = 0; i < n;) {
                size_t len = utf8_sequence(u + i, n - i);
                /* C1 controls are U+0080..U+009F, encoded 0xc2 0x80..0x9f: some terminals act on them. */
                bool control = len == 0 || (len == 1 && (u[i] < 0x20 || u[i] == 0x7f)) ||
                               (len == 2 && u[i] == 0xc2 && u[i + 1] < 0xa0);

                if (!control) {
                        memcpy(p, u + i, len);
                        p += len;
                        i += len;
                        continue;
                }
                for (size_t k = 0; k < (len ?: 1); k++, i++)
                        p += sprintf(p, "\\x%02x", u[i]);
        }
        *p = 0;
        /* Kept for the life of the facts (the daemon holds one per set): give back the worst-case room. */
        p = realloc(out, (size_t) (p - out) + 1);
        return p ?: out;
}

/* A DN as text, escaped for terminals (a certificate's subject is whatever its maker wrote). */
static char *dn_text(const gnutls_datum_t *dn) {
        return x509_escape_text((const char *) dn->data, dn->size);
}

/* The escaped subject of a certificate, for messages; "?" when it has none. NULL on OOM. */
static char *crt_subject(gnutls_x509_crt_t crt) {
        gnutls_datum_t dn = {};
        char *s;

        if (gnutls_x509_crt_get_dn3(crt, &dn, 0) < 0 || dn.size == 0) {
                gnutls_free(dn.data);
                return strdup("?");
        }
        s = dn_text(&dn);
        gnutls_free(dn.data);
        return s;
}

static int facts_fill_basics(CertFacts *f, gnutls_x509_crt_t crt) {
        gnutls_datum_t dn = {};
        uint8_t serial[64];
        size_t ssize = sizeof(serial), i = 0;
        unsigned bits = 0;
        int pk, r;

        if (gnutls_x509_crt_get_dn3(crt, &dn, 0) >= 0) {
                f->subject = dn_text(&dn);
                gnutls_free(dn.data);
        }
        dn = (gnutls_datum_t){};
        if (gnutls_x509_crt_get_issuer_dn3(crt, &dn, 0) >= 0) {
                f->issuer = dn_text(&dn);
                gnutls_free(dn.data);
        }
        if (!f->subject)
                f->subject = strdup("");
        if (!f->issuer)
                f->issuer = strdup("");

        if (gnutls_x509_crt_get_serial(crt, serial, &ssize) >= 0) {
                /* DER integers carry a leading zero byte to stay positive; it is not part of the serial. */
                while (i + 1 < ssize && serial[i] == 0)
                        i++;
                f->serial = malloc(2 * (ssize - i) + 1);
                if (f->serial) {
                        size_t j = 0;

                        for (; i < ssize; i++) {
                                f->serial[j++] = "0123456789abcdef"[serial[i] >> 4];
                                f->serial[j++] = "0123456789abcdef"[serial[i] & 15];
                        }
                        f->serial[j] = 0;
                }
        } else
                f->serial = strdup("");

        f->not_before = (usec_t) gnutls_x509_crt_get_activation_time(crt) * USEC_PER_SEC;
        f->not_after = (usec_t) gnutls_x509_crt_get_expiration_time(crt) * USEC_PER_SEC;

        pk = gnutls_x509_crt_get_pk_algorithm(crt, &bits);
        switch (pk) {
        case GNUTLS_PK_RSA:
                r = asprintf(&f->key_type, "rsa-%u", bits);
                break;
        case GNUTLS_PK_RSA_PSS:
                r = asprintf(&f->key_type, "rsa-pss-%u", bits);
                break;
        case GNUTLS_PK_ECDSA:
                r = asprintf(&f->key_type, "ec-p%u", bits);
                break;
        case GNUTLS_PK_EDDSA_ED25519:
                r = asprintf(&f->key_type, "ed25519");
                break;
        case GNUTLS_PK_EDDSA_ED448:
                r = asprintf(&f->key_type, "ed448");
                break;
        case GNUTLS_PK_DSA:
                r = asprintf(&f->key_type, "dsa-%u", bits);
                break;
        default:
                r = asprintf(&f->key_type, "%s", gnutls_pk_get_name(pk) ?: "unknown");
        }
        if (r < 0)
                f->key_type = NULL;

        if (!f->subject || !f->issuer || !f->serial || !f->key_type)
                return -ENOMEM;

        ssize = PIN_SIZE;
        /* The SHA-256 key id is the hash of the DER SubjectPublicKeyInfo: the pin itself. */
        if (gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, f->pin, &ssize) >= 0 &&
            ssize == PIN_SIZE)
                f->has_pin = true;
        return 0;
}

static int facts_fill_names(CertFacts *f, gnutls_x509_crt_t crt) {
        size_t n = 0;

        for (unsigned seq = 0;; seq++) {
                char buf[2048], ip[INET6_ADDRSTRLEN], prefixed[2048 + 8];
                size_t size = sizeof(buf) - 1;
                const char *name;
                size_t name_size;
                int r;

                r = gnutls_x509_crt_get_subject_alt_name(crt, seq, buf, &size, NULL);
                if (r == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
                        break;
                if (r == GNUTLS_E_SHORT_MEMORY_BUFFER)
                        continue; /* a name longer than any DNS name: not one we can match */
                if (r < 0)
                        break;
                if (r == GNUTLS_SAN_DNSNAME) {
                        buf[size] = 0;
                        name = buf;
                        name_size = size; /* an embedded NUL shows, escaped */
                } else if (r == GNUTLS_SAN_IPADDRESS && (size == 4 || size == 16)) {
                        if (!inet_ntop(size == 4 ? AF_INET : AF_INET6, buf, ip, sizeof(ip)))
                                continue;
                        name = ip;
                        name_size = strlen(ip);
                } else if (r == GNUTLS_SAN_URI || r == GNUTLS_SAN_RFC822NAME) {
                        /* As the inventory writes them, uri:… and email:… */
                        const char *pfx = r == GNUTLS_SAN_URI ? "uri:" : "email:";

                        memcpy(prefixed, pfx, strlen(pfx));
                        memcpy(prefixed + strlen(pfx), buf, size);
                        name = prefixed;
                        name_size = strlen(pfx) + size;
                } else
                        continue;

                r = strv_consume(&f->names, &n, x509_escape_text(name, name_size));
                if (r < 0)
                        return r;
        }
        if (!f->names) {
                f->names = calloc(1, sizeof(char *));
                if (!f->names)
                        return -ENOMEM;
        }
        return 0;
}

static bool dns_equal(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b);

        /* A trailing dot names the same host. */
        if (la > 0 && a[la - 1] == '.')
                la--;
        if (lb > 0 && b[lb - 1] == '.')
                lb--;
        return la == lb && strncasecmp(a, b, la) == 0;
}

/* Does the SAN `san` cover `name`? IP literals match IP SANs by value; a "*." wildcard covers exactly
 * one whole leftmost label (RFC 6125 §6.4.3 without partial-label wildcards). */
static bool san_covers(const char *san, const char *name) {
        unsigned char a[16], b[16];
        const char *dot;

        /* A URI is compared as written; an email address ignoring case (its domain is a host name). */
        if (strncmp(name, "uri:", 4) == 0)
                return strcmp(san, name) == 0;
        if (strncmp(name, "email:", 6) == 0)
                return strcasecmp(san, name) == 0;
        if (strncmp(san, "uri:", 4) == 0 || strncmp(san, "email:", 6) == 0)
                return false;
        if (inet_pton(AF_INET, name, a) == 1)
                return inet_pton(AF_INET, san, b) == 1 && memcmp(a, b, 4) == 0;
        if (inet_pton(AF_INET6, name, a) == 1)
                return inet_pton(AF_INET6, san, b) == 1 && memcmp(a, b, 16) == 0;

        if (dns_equal(san, name))
                return true;
        if (san[0] != '*' || san[1] != '.')
                return false;
        dot = strchr(name, '.');
        if (!dot || dot == name || name[0] == '*')
                return false;
        return dns_equal(san + 2, dot + 1);
}

static int check_names(CertFacts *f, char *const *names) {
        for (size_t i = 0; names && names[i]; i++) {
                bool covered = false;

                for (size_t j = 0; f->names[j] && !covered; j++)
                        covered = san_covers(f->names[j], names[i]);
                if (!covered &&
                    cert_facts_add_problem(f, PROBLEM_NAME_MISSING,
                                           "%s is not covered by the certificate's names", names[i]) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int check_times(CertFacts *f, const X509Input *in, usec_t now) {
        usec_t lifetime = f->not_after > f->not_before ? f->not_after - f->not_before : 0;
        usec_t warn = threshold_resolve(in->warn_before, lifetime);
        usec_t crit = threshold_resolve(in->critical_before, lifetime);
        usec_t left;
        char when[32];

        /* RFC 5280 §4.1.2.5: the validity period includes notAfter itself. */
        if (now > f->not_after) {
                f->days_left = (int32_t) - (int64_t) ((now - f->not_after) / USEC_PER_DAY) -
                               ((now - f->not_after) % USEC_PER_DAY ? 1 : 0);
                return cert_facts_add_problem(f, PROBLEM_EXPIRED, "expired on %s (%" PRIu64 " days ago)",
                                              format_timestamp_iso(when, sizeof(when), f->not_after),
                                              (now - f->not_after) / USEC_PER_DAY);
        }
        left = f->not_after - now;
        f->days_left = (int32_t) (left / USEC_PER_DAY); /* X.509 ends in 9999: 3 million days at most */

        if (now < f->not_before)
                return cert_facts_add_problem(f, PROBLEM_NOT_YET_VALID, "not valid before %s",
                                              format_timestamp_iso(when, sizeof(when), f->not_before));

        if (left <= crit || left <= warn) {
                ProblemCode code = left <= crit ? PROBLEM_EXPIRY_CRITICAL : PROBLEM_EXPIRY_WARNING;

                if (left >= USEC_PER_DAY)
                        return cert_facts_add_problem(f, code, "expires in %" PRIi32 " day%s", f->days_left,
                                                      f->days_left == 1 ? "" : "s");
                if (left >= USEC_PER_HOUR)
                        return cert_facts_add_problem(f, code, "expires in %" PRIu64 " hours",
                                                      left / USEC_PER_HOUR);
                if (left >= USEC_PER_MINUTE)
                        return cert_facts_add_problem(f, code, "expires in %" PRIu64 " minutes",
                                                      left / USEC_PER_MINUTE);
                return cert_facts_add_problem(f, code, "expires in %" PRIu64 " seconds",
                                              left / USEC_PER_SEC);
        }
        return 0;
}

static bool hash_is_weak(gnutls_sign_algorithm_t s) {
        gnutls_digest_algorithm_t h = gnutls_sign_get_hash_algorithm(s);
        return h == GNUTLS_DIG_MD5 || h == GNUTLS_DIG_SHA1 || h == GNUTLS_DIG_MD2;
}

/* Whether crt is signed by its own key: same subject and issuer, and the signature verifies with the
 * certificate's own public key (a CA:FALSE certificate included; times and algorithms not judged). */
static bool is_self_signed(gnutls_x509_crt_t crt) {
        const unsigned flags = GNUTLS_VERIFY_DO_NOT_ALLOW_SAME | GNUTLS_VERIFY_DISABLE_CA_SIGN |
                               GNUTLS_VERIFY_DISABLE_TIME_CHECKS |
                               GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS |
                               GNUTLS_VERIFY_ALLOW_SIGN_WITH_SHA1 | GNUTLS_VERIFY_ALLOW_SIGN_RSA_MD5 |
                               GNUTLS_VERIFY_ALLOW_BROKEN |
                               GNUTLS_PROFILE_TO_VFLAGS(GNUTLS_PROFILE_VERY_WEAK);
        unsigned status = 0;

        if (!gnutls_x509_crt_check_issuer(crt, crt))
                return false;
        return gnutls_x509_crt_verify(crt, &crt, 1, flags, &status) >= 0 && status == 0;
}

static int check_strength(CertFacts *f, gnutls_x509_crt_t *crts, unsigned n) {
        unsigned bits = 0;
        int pk = gnutls_x509_crt_get_pk_algorithm(crts[0], &bits);

        if (((pk == GNUTLS_PK_RSA || pk == GNUTLS_PK_RSA_PSS || pk == GNUTLS_PK_DSA) && bits < 2048) ||
            (pk == GNUTLS_PK_ECDSA && bits < 256))
                if (cert_facts_add_problem(f, PROBLEM_WEAK_KEY, "%s key is too weak (%u bits)", f->key_type,
                                           bits) < 0)
                        return -ENOMEM;

        /* Only signatures that a verifier checks in a chain: the leaf's and the intermediates'. A self-signed
         * certificate's own signature protects nothing (an anchor is trusted for what it is, not for its
         * signature), so a watched SHA-1 root — two dozen of Debian's ca-certificates — is no problem,
         * and neither is a self-signed leaf's. */
        for (unsigned i = 0; i < n; i++) {
                int s = gnutls_x509_crt_get_signature_algorithm(crts[i]);

                if (s >= 0 && hash_is_weak(s) && !is_self_signed(crts[i]))
                        return cert_facts_add_problem(f, PROBLEM_WEAK_SIGNATURE, "%s is signed with %s",
                                                      i == 0 ? "certificate" : "intermediate certificate",
                                                      gnutls_sign_get_name(s) ?: "a broken hash");
        }
        return 0;
}

static int check_usage(CertFacts *f, gnutls_x509_crt_t crt, Usage usage) {
        bool server = false, client = false;
        unsigned i;

        for (i = 0;; i++) {
                char oid[128];
                size_t size = sizeof(oid);

                if (gnutls_x509_crt_get_key_purpose_oid(crt, i, oid, &size, NULL) < 0)
                        break;
                if (strcmp(oid, GNUTLS_KP_ANY) == 0)
                        server = client = true;
                else if (strcmp(oid, GNUTLS_KP_TLS_WWW_SERVER) == 0)
                        server = true;
                else if (strcmp(oid, GNUTLS_KP_TLS_WWW_CLIENT) == 0)
                        client = true;
        }
        if (i == 0) /* no extendedKeyUsage: any purpose (RFC 5280 §4.2.1.12) */
                return 0;
        if ((usage == USAGE_SERVER || usage == USAGE_SERVER_CLIENT) && !server)
                if (cert_facts_add_problem(f, PROBLEM_USAGE_MISSING,
                                           "extended key usage lacks TLS server authentication") < 0)
                        return -ENOMEM;
        if ((usage == USAGE_CLIENT || usage == USAGE_SERVER_CLIENT) && !client)
                if (cert_facts_add_problem(f, PROBLEM_USAGE_MISSING,
                                           "extended key usage lacks TLS client authentication") < 0)
                        return -ENOMEM;
        return 0;
}

/* Group/other permission bits of the key file that it should not have: beyond the operator's `mode`
 * (0640 for Debian's ssl-cert group is a choice, not a problem), else any read bit for group or others. */
static mode_t key_mode_excess(const X509Input *in) {
        if (in->key_mode == (mode_t) -1)
                return 0;
        if (in->key_mode_set)
                return in->key_mode & 077 & ~in->key_mode_configured;
        return in->key_mode & (S_IRGRP | S_IROTH);
}

/* Which certificate of the file the key belongs to: its index, or -1 when none. */
static int find_key_crt(gnutls_x509_crt_t *crts, unsigned n, const uint8_t id[static PIN_SIZE]) {
        for (unsigned i = 1; i < n; i++) {
                uint8_t other[PIN_SIZE];
                size_t size = sizeof(other);

                if (gnutls_x509_crt_get_key_id(crts[i], GNUTLS_KEYID_USE_SHA256, other, &size) >= 0 &&
                    size == PIN_SIZE && memcmp(other, id, PIN_SIZE) == 0)
                        return (int) i;
        }
        return -1;
}

/* The SHA-256 key id of the key file (its permissions checked on the way): 1 when read, 0 when a problem
 * was added instead, -ENOMEM. */
static int key_file_id(CertFacts *f, const X509Input *in, uint8_t id[static PIN_SIZE]) {
        _cleanup_x509_privkey_ gnutls_x509_privkey_t key = NULL;
        size_t size = PIN_SIZE;
        mode_t excess;
        int r;

        excess = key_mode_excess(in);
        if (excess != 0 && !in->key_mode_set)
                r = cert_facts_add_problem(f, PROBLEM_KEY_PERMISSIONS,
                                           "key %s is readable by %s (mode %04o)", in->key_path,
                                           (in->key_mode & S_IROTH) ? "others" : "its group",
                                           (unsigned) (in->key_mode & 07777));
        else if (excess != 0)
                r = cert_facts_add_problem(f, PROBLEM_KEY_PERMISSIONS,
                                           "key %s is more open (mode %04o) than the configured mode %04o",
                                           in->key_path, (unsigned) (in->key_mode & 07777),
                                           (unsigned) in->key_mode_configured);
        else
                r = 0;
        if (r < 0)
                return r;

        r = x509_load_privkey(in->key_data, in->key_size, in->key_password, &key);
        if (r == -ENOMEM)
                return r;
        if (r == -EACCES)
                return cert_facts_add_problem(f, PROBLEM_MALFORMED, "key %s is encrypted and %s",
                                              in->key_path,
                                              in->key_password ? "the password does not decrypt it"
                                                               : "no key-password-file is set");
        if (r < 0)
                return cert_facts_add_problem(f, PROBLEM_MALFORMED,
                                              "%s is not a private key (PKCS#1, PKCS#8 or SEC1)",
                                              in->key_path);

        r = gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA256, id, &size);
        if (r < 0 || size != PIN_SIZE)
                return cert_facts_add_problem(f, PROBLEM_MALFORMED, "cannot read the public part of key %s",
                                              in->key_path);
        return 1;
}

static int check_key(CertFacts *f, const X509Input *in, gnutls_x509_crt_t *crts, unsigned n) {
        uint8_t id[PIN_SIZE];
        int r, at;

        if (!in->key_path)
                return 0;
        if (in->key_errno > 0)
                return cert_facts_add_problem(f, PROBLEM_UNREADABLE, "%s: %s", in->key_path,
                                              file_strerror(in->key_errno));
        if (in->key_password_errno > 0)
                return cert_facts_add_problem(f, PROBLEM_UNREADABLE,
                                              "cannot read the password for key %s: %s", in->key_path,
                                              file_strerror(in->key_password_errno));
        /* A key in a token: the caller read its public key. */
        if (in->key_pin)
                memcpy(id, in->key_pin, PIN_SIZE);
        else {
                r = key_file_id(f, in, id);
                if (r <= 0)
                        return r;
        }
        if (!f->has_pin || memcmp(id, f->pin, PIN_SIZE) == 0)
                return 0;
        /* The key's certificate is in the file, just not first: clients take the first one for the leaf. */
        at = find_key_crt(crts, n, id);
        if (at > 0)
                return cert_facts_add_problem(
                        f, PROBLEM_CHAIN_ORDER,
                        "%s does not start with the certificate of key %s: it is certificate %d of %u",
                        in->cert_path, in->key_path, at + 1, n);
        return cert_facts_add_problem(f, PROBLEM_KEY_MISMATCH, "key %s does not match the certificate",
                                      in->key_path);
}

/* A file holds the leaf, then each certificate's issuer in turn (RFC 8446 §4.4.2 asks no less of what a
 * server sends; many clients do not sort). */
static int check_order(CertFacts *f, gnutls_x509_crt_t *crts, unsigned n) {
        if (has_problem(f, PROBLEM_CHAIN_ORDER))
                return 0;
        for (unsigned i = 0; i + 1 < n; i++) {
                _cleanup_free_ char *a = NULL, *b = NULL;

                if (gnutls_x509_crt_check_issuer(crts[i], crts[i + 1]))
                        continue;
                a = crt_subject(crts[i]);
                b = crt_subject(crts[i + 1]);
                if (!a || !b)
                        return -ENOMEM;
                return cert_facts_add_problem(
                        f, PROBLEM_CHAIN_ORDER,
                        "certificate %u (%s) is not issued by the next one, certificate %u (%s): "
                        "the file must hold the leaf, then each issuer in turn",
                        i + 1, a, i + 2, b);
        }
        return 0;
}

/* The chain's own time checks are off (see check_chain); the intermediates served with the leaf still
 * have to be valid now, or clients reject the chain. */
static int check_intermediate_times(CertFacts *f, gnutls_x509_crt_t *crts, unsigned n, usec_t now) {
        for (unsigned i = 1; i < n; i++) {
                usec_t nb = (usec_t) gnutls_x509_crt_get_activation_time(crts[i]) * USEC_PER_SEC;
                usec_t na = (usec_t) gnutls_x509_crt_get_expiration_time(crts[i]) * USEC_PER_SEC;
                _cleanup_free_ char *name = NULL;
                char when[32];

                if (now <= na && now >= nb)
                        continue;
                name = crt_subject(crts[i]);
                if (!name)
                        return -ENOMEM;
                return cert_facts_add_problem(f, PROBLEM_UNTRUSTED_CHAIN,
                                              "intermediate certificate %s %s %s", name,
                                              now > na ? "expired on" : "is not valid before",
                                              format_timestamp_iso(when, sizeof(when), now > na ? na : nb));
        }
        return 0;
}

static int check_chain(CertFacts *f, const X509Input *in, gnutls_x509_crt_t *crts, unsigned n) {
        /* Time is judged by check_times() and algorithm strength by check_strength(): here only trust, so that
         * an expired or SHA-1 certificate is reported as what it is and not also as untrusted. */
        const unsigned flags = GNUTLS_VERIFY_DISABLE_TIME_CHECKS |
                               GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS |
                               GNUTLS_VERIFY_ALLOW_SIGN_WITH_SHA1 | GNUTLS_VERIFY_ALLOW_SIGN_RSA_MD5 |
                               GNUTLS_VERIFY_ALLOW_BROKEN |
                               GNUTLS_PROFILE_TO_VFLAGS(GNUTLS_PROFILE_VERY_WEAK);
        _cleanup_datum_ gnutls_datum_t out = {};
        unsigned status = 0;
        int r;

        /* Out of order, verification fails for that reason alone: chain-order says it better. */
        if (has_problem(f, PROBLEM_CHAIN_ORDER))
                return 0;
        /* issuer = self: the certificate is its own anchor, whatever the trust store says. */
        if (in->self_anchor && is_self_signed(crts[0]))
                return 0;
        if (in->n_cas > 0)
                r = gnutls_x509_crt_list_verify(crts, n, in->cas, in->n_cas, NULL, 0, flags, &status);
        else if (in->trust)
                r = gnutls_x509_trust_list_verify_crt2(in->trust, crts, n, NULL, 0, flags, &status, NULL);
        else
                return 0;
        if (r < 0)
                return cert_facts_add_problem(f, PROBLEM_UNTRUSTED_CHAIN, "chain verification failed: %s",
                                              gnutls_strerror(r));
        if (status & GNUTLS_CERT_INSECURE_ALGORITHM &&
            (has_problem(f, PROBLEM_WEAK_KEY) || has_problem(f, PROBLEM_WEAK_SIGNATURE)))
                status &= ~(GNUTLS_CERT_INSECURE_ALGORITHM | GNUTLS_CERT_INVALID);
        if (status == 0)
                return 0;

        if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) < 0)
                return cert_facts_add_problem(f, PROBLEM_UNTRUSTED_CHAIN,
                                              "the chain does not lead to a trusted CA");
        while (out.size > 0 && (out.data[out.size - 1] == ' ' || out.data[out.size - 1] == '\n'))
                out.size--;
        return cert_facts_add_problem(f, PROBLEM_UNTRUSTED_CHAIN, "%.*s", (int) out.size,
                                      (const char *) out.data);
}

static int inspect_parsed(CertFacts *f, const X509Input *in, gnutls_x509_crt_t *crts, unsigned n,
                          usec_t now) {
        int r;

        if ((r = facts_fill_basics(f, crts[0])) < 0 || (r = facts_fill_names(f, crts[0])) < 0)
                return r;
        f->parsed = true;

        /* Each check adds what it finds as problems; only an error (-errno) stops the inspection. */
        if ((r = check_times(f, in, now)) < 0 || (r = check_key(f, in, crts, n)) < 0 ||
            (r = check_order(f, crts, n)) < 0 || (r = check_names(f, in->names)) < 0 ||
            (r = check_strength(f, crts, n)) < 0 || (r = check_chain(f, in, crts, n)) < 0)
                return r;
        if (!has_problem(f, PROBLEM_UNTRUSTED_CHAIN) && (r = check_intermediate_times(f, crts, n, now)) < 0)
                return r;
        return check_usage(f, crts[0], in->usage);
}

int x509_inspect(const X509Input *in, usec_t now, CertFacts **ret) {
        _cleanup_cert_facts_ CertFacts *f = NULL;
        gnutls_x509_crt_t *crts = NULL;
        unsigned n = 0;
        int r;

        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;

        if (in->cert_errno > 0)
                r = cert_facts_add_problem(f, PROBLEM_UNREADABLE, "%s: %s", in->cert_path,
                                           file_strerror(in->cert_errno));
        else if (!in->cert_data || in->cert_size == 0)
                r = cert_facts_add_problem(f, PROBLEM_MALFORMED, "%s is empty", in->cert_path);
        else if ((r = x509_load_crts(in->cert_data, in->cert_size, &crts, &n)) < 0)
                r = r == -ENOMEM ? r
                                 : cert_facts_add_problem(f, PROBLEM_MALFORMED,
                                                          "%s holds no X.509 certificate (PEM or DER)",
                                                          in->cert_path);
        else {
                r = inspect_parsed(f, in, crts, n, now);
                x509_crts_free(crts, n);
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(f);
        return 0;
}

int x509_inspect_data(const uint8_t *data, size_t size, usec_t now, CertFacts **ret) {
        return x509_inspect(&(X509Input){ .cert_data = data, .cert_size = size, .key_mode = (mode_t) -1 },
                            now, ret);
}

int x509_load_leaf(const uint8_t *data, size_t size, gnutls_x509_crt_t *ret) {
        gnutls_x509_crt_t *crts = NULL;
        unsigned n = 0;
        int r;

        r = x509_load_crts(data, size, &crts, &n);
        if (r < 0)
                return r;
        *ret = crts[0];
        for (unsigned i = 1; i < n; i++)
                gnutls_x509_crt_deinit(crts[i]);
        gnutls_free(crts);
        return 0;
}

int x509_leaf_der(const uint8_t *data, size_t size, gnutls_datum_t *ret) {
        _cleanup_x509_crt_ gnutls_x509_crt_t crt = NULL;
        int r;

        r = x509_load_leaf(data, size, &crt);
        if (r < 0)
                return r;
        r = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, ret);
        return r < 0 ? errno_from_gnutls(r) : 0;
}
