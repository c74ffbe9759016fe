/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "crl.h"
#include "gnutls-util.h"

/* Reading CRLs that anyone may have written (a peer's `crl =` file), and deciding whether one may be
 * believed. Pure: buffers and certificates in, facts out. A CRL names its issuer, and the name alone
 * proves nothing: anyone can sign a list under any name. It counts only when the key of the CA that
 * issued the set signed it. */

#define KEY_ID_MAX 64
/* More CRLs in one file than any CA publishes side by side (one per generation during a rotation). */
#define CRLS_PER_FILE_MAX 16U

static void cleanup_crl(gnutls_x509_crl_t *c) {
        if (*c)
                gnutls_x509_crl_deinit(*c);
}

void crl_info_done(CrlInfo *i) {
        free(i->issuer);
        strv_free(i->serials);
        free(i->revoked_at);
        free(i->reasons);
        *i = (CrlInfo){};
}

/* A DER element: the bytes of a TLV's value, and what follows it. */
typedef struct Der {
        const uint8_t *p;
        size_t n;
} Der;

/* The next element of `in` (tag and value), advancing `in` past it. Definite lengths of at most 4 octets
 * and low tag numbers only: what DER allows in a CRL. */
static int der_next(Der *in, uint8_t *ret_tag, Der *ret_value) {
        size_t i = 2, len;

        if (in->n < 2 || (in->p[0] & 0x1f) == 0x1f)
                return -EBADMSG;
        len = in->p[1];
        if (len & 0x80) {
                size_t k = len & 0x7f;

                if (k == 0 || k > 4 || in->n - 2 < k)
                        return -EBADMSG;
                len = 0;
                for (size_t j = 0; j < k; j++)
                        len = len << 8 | in->p[i++];
        }
        if (len > in->n - i)
                return -EBADMSG;
        *ret_tag = in->p[0];
        *ret_value = (Der){ in->p + i, len };
        in->p += i + len;
        in->n -= i + len;
        return 0;
}

static bool der_peek(const Der *in, uint8_t tag) {
        return in->n > 0 && in->p[0] == tag;
}

static int der_expect(Der *in, uint8_t tag, Der *ret_value) {
        uint8_t t;
        int r = der_next(in, &t, ret_value);

        return r < 0 ? r : t == tag ? 0 : -EBADMSG;
}

/* The reasonCode (id-ce-cRLReasons, 2.5.29.21) among an entry's extensions; -1: none given. */
static int entry_reason(Der exts) {
        static const uint8_t oid[] = { 0x55, 0x1d, 0x15 };
        Der ext, v, inner;
        uint8_t tag;

        while (exts.n > 0) {
                if (der_expect(&exts, 0x30, &ext) < 0 || der_expect(&ext, 0x06, &v) < 0)
                        return -EBADMSG;
                if (v.n != sizeof(oid) || memcmp(v.p, oid, sizeof(oid)) != 0)
                        continue;
                if (der_peek(&ext, 0x01) && der_next(&ext, &tag, &v) < 0)
                        return -EBADMSG;
                if (der_expect(&ext, 0x04, &v) < 0 || der_expect(&v, 0x0a, &inner) < 0 || inner.n != 1 ||
                    inner.p[0] > 10)
                        return -EBADMSG;
                return inner.p[0];
        }
        return -1;
}

int crl_entry_reasons(const uint8_t *der, size_t size, size_t n, int8_t *ret_reasons) {
        Der in = { der, size }, crl, tbs, v, list, entry;
        uint8_t tag;
        size_t i = 0;
        int r;

        for (size_t k = 0; k < n; k++)
                ret_reasons[k] = -1;
        if (der_expect(&in, 0x30, &crl) < 0 || der_expect(&crl, 0x30, &tbs) < 0)
                return -EBADMSG;
        if (der_peek(&tbs, 0x02) && der_next(&tbs, &tag, &v) < 0) /* version */
                return -EBADMSG;
        if (der_expect(&tbs, 0x30, &v) < 0 || der_expect(&tbs, 0x30, &v) < 0) /* signature, issuer */
                return -EBADMSG;
        if (der_next(&tbs, &tag, &v) < 0 || (tag != 0x17 && tag != 0x18)) /* thisUpdate */
                return -EBADMSG;
        if ((der_peek(&tbs, 0x17) || der_peek(&tbs, 0x18)) && der_next(&tbs, &tag, &v) < 0) /* nextUpdate */
                return -EBADMSG;
        if (!der_peek(&tbs, 0x30))
                return n == 0 ? 0 : -EBADMSG;
        if (der_next(&tbs, &tag, &list) < 0)
                return -EBADMSG;
        while (list.n > 0) {
                if (der_expect(&list, 0x30, &entry) < 0 || der_expect(&entry, 0x02, &v) < 0 ||
                    der_next(&entry, &tag, &v) < 0)
                        return -EBADMSG;
                if (i >= n)
                        return -EBADMSG; /* more entries than GnuTLS counted */
                if (entry.n > 0) {
                        if (der_expect(&entry, 0x30, &v) < 0)
                                return -EBADMSG;
                        r = entry_reason(v);
                        if (r < -1)
                                return r;
                        ret_reasons[i] = (int8_t) r;
                }
                i++;
        }
        return i == n ? 0 : -EBADMSG;
}

static int info_from(gnutls_x509_crl_t crl, CrlInfo *ret) {
        _cleanup_(crl_info_done) CrlInfo info = {};
        _cleanup_datum_ gnutls_datum_t der = {};
        gnutls_datum_t dn = {};
        uint8_t number[32];
        size_t nsize = sizeof(number);
        unsigned critical;
        time_t t;
        int n;

        t = gnutls_x509_crl_get_this_update(crl);
        if (t == (time_t) -1 || t < 0)
                return -EBADMSG;
        info.this_update = (usec_t) t * USEC_PER_SEC;
        t = gnutls_x509_crl_get_next_update(crl);
        info.next_update = t == (time_t) -1 || t < 0 ? 0 : (usec_t) t * USEC_PER_SEC;
        if (gnutls_x509_crl_get_number(crl, number, &nsize, &critical) >= 0)
                for (size_t i = 0; i < nsize && i < 8; i++)
                        info.number = info.number << 8 | number[nsize > 8 ? nsize - 8 + i : i];
        if (gnutls_x509_crl_get_issuer_dn3(crl, &dn, 0) >= 0) {
                info.issuer = x509_escape_text((const char *) dn.data, dn.size);
                gnutls_free(dn.data);
        } else
                info.issuer = strdup("");
        if (!info.issuer)
                return -ENOMEM;

        n = gnutls_x509_crl_get_crt_count(crl);
        if (n < 0)
                return -EBADMSG;
        info.serials = calloc((size_t) n + 1, sizeof(char *));
        info.revoked_at = calloc((size_t) n + 1, sizeof(usec_t));
        info.reasons = calloc((size_t) n + 1, sizeof(int8_t));
        if (!info.serials || !info.revoked_at || !info.reasons)
                return -ENOMEM;
        for (int i = 0; i < n; i++) {
                uint8_t serial[64];
                size_t ssize = sizeof(serial);
                time_t when = 0;

                if (gnutls_x509_crl_get_crt_serial(crl, (unsigned) i, serial, &ssize, &when) < 0 ||
                    ssize == 0)
                        return -EBADMSG;
                if (!(info.serials[info.n] = ca_index_hex_serial(serial, ssize)))
                        return -ENOMEM;
                info.revoked_at[info.n++] = when > 0 ? (usec_t) when * USEC_PER_SEC : 0;
        }
        /* GnuTLS reads no entry extensions: the reasons come from the DER itself. */
        if (gnutls_x509_crl_export2(crl, GNUTLS_X509_FMT_DER, &der) < 0 ||
            crl_entry_reasons(der.data, der.size, info.n, info.reasons) < 0)
                return -EBADMSG;
        *ret = TAKE_STRUCT(info);
        return 0;
}

/* Every CRL of a file: one or more in PEM, or one in DER. */
static int import_all(const uint8_t *data, size_t size, gnutls_x509_crl_t **ret, unsigned *ret_n) {
        gnutls_datum_t in = { .data = (uint8_t *) data, .size = (unsigned) size };
        gnutls_x509_crl_t *l = NULL;
        unsigned n = 0;
        int r;

        if (!data || size == 0 || size > CRL_FILE_MAX)
                return -EBADMSG;
        r = gnutls_x509_crl_list_import2(&l, &n, &in, GNUTLS_X509_FMT_PEM, 0);
        if (r < 0 || n == 0) {
                if (r >= 0)
                        gnutls_free(l);
                l = gnutls_malloc(sizeof(gnutls_x509_crl_t));
                if (!l)
                        return -ENOMEM;
                if (gnutls_x509_crl_init(&l[0]) < 0) {
                        gnutls_free(l);
                        return -ENOMEM;
                }
                if (gnutls_x509_crl_import(l[0], &in, GNUTLS_X509_FMT_DER) < 0) {
                        gnutls_x509_crl_deinit(l[0]);
                        gnutls_free(l);
                        return -EBADMSG;
                }
                n = 1;
        }
        *ret = l;
        *ret_n = n;
        return 0;
}

static void free_all(gnutls_x509_crl_t *l, unsigned n) {
        for (unsigned i = 0; i < n; i++)
                gnutls_x509_crl_deinit(l[i]);
        gnutls_free(l);
}

int crl_parse(const uint8_t *data, size_t size, CrlInfo *ret) {
        _cleanup_(cleanup_crl) gnutls_x509_crl_t crl = NULL;
        gnutls_datum_t in = { .data = (uint8_t *) data, .size = (unsigned) size };
        int r;

        if (!data || size == 0 || size > CRL_FILE_MAX)
                return -EBADMSG;
        if (gnutls_x509_crl_init(&crl) < 0)
                return -ENOMEM;
        r = gnutls_x509_crl_import(crl, &in, GNUTLS_X509_FMT_PEM);
        if (r < 0)
                r = gnutls_x509_crl_import(crl, &in, GNUTLS_X509_FMT_DER);
        if (r < 0)
                return -EBADMSG;
        return info_from(crl, ret);
}

static int key_id(gnutls_x509_crt_t crt, uint8_t id[KEY_ID_MAX], size_t *ret_size) {
        unsigned critical;

        *ret_size = KEY_ID_MAX;
        return gnutls_x509_crt_get_subject_key_id(crt, id, ret_size, &critical) < 0 ? -ENOENT : 0;
}

static void hex(const uint8_t *d, size_t n, char *out, size_t out_size) {
        out[0] = 0;
        for (size_t i = 0; i < n && 2 * i + 3 <= out_size; i++)
                snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Whether the leaf was issued by `ca`: its issuer's name, and its authority key id where both have one. */
static bool issued(gnutls_x509_crt_t leaf, gnutls_x509_crt_t ca) {
        uint8_t aki[KEY_ID_MAX], ski[KEY_ID_MAX];
        size_t aki_size = sizeof(aki), ski_size;
        unsigned critical;

        if (!gnutls_x509_crt_check_issuer(leaf, ca))
                return false;
        if (gnutls_x509_crt_get_authority_key_id(leaf, aki, &aki_size, &critical) < 0 ||
            key_id(ca, ski, &ski_size) < 0)
                return true;
        return aki_size == ski_size && memcmp(aki, ski, aki_size) == 0;
}

/* NULL when `ca` signed `crl` (the same name, the authority key id where the CRL has one, the
 * signature), else why not, in `buf`. */
static const char *signed_by(gnutls_x509_crl_t crl, gnutls_x509_crt_t ca, char *buf, size_t size) {
        uint8_t aki[KEY_ID_MAX], ski[KEY_ID_MAX];
        size_t aki_size = sizeof(aki), ski_size;
        char a[2 * KEY_ID_MAX + 1], s[2 * KEY_ID_MAX + 1];
        const unsigned dates = GNUTLS_CERT_REVOCATION_DATA_SUPERSEDED |
                               GNUTLS_CERT_REVOCATION_DATA_ISSUED_IN_FUTURE;
        unsigned critical, status = 0;
        int r;

        if (gnutls_x509_crl_get_authority_key_id(crl, aki, &aki_size, &critical) >= 0 &&
            key_id(ca, ski, &ski_size) >= 0 && (aki_size != ski_size || memcmp(aki, ski, aki_size) != 0)) {
                hex(aki, aki_size, a, sizeof(a));
                hex(ski, ski_size, s, sizeof(s));
                snprintf(buf, size, "its authority key id %s is not the issuer's key id %s", a, s);
                return buf;
        }
        /* An algorithm GnuTLS does not know is answered with a bare INVALID and no other bit: refused
         * here, by name, before that answer could pass for the dates' below. */
        if (gnutls_x509_crl_get_signature_algorithm(crl) <= GNUTLS_SIGN_UNKNOWN) {
                snprintf(buf, size, "its signature algorithm is unknown");
                return buf;
        }
        /* The CRL's dates are crl-expired's business, not the signature's. GnuTLS checks them whatever the
         * flags and adds INVALID to their bit: INVALID beside a date bit and nothing else stood for the
         * dates; INVALID alone did not. */
        r = gnutls_x509_crl_verify(
                crl, &ca, 1, GNUTLS_VERIFY_DISABLE_TIME_CHECKS | GNUTLS_VERIFY_DISABLE_TRUSTED_TIME_CHECKS,
                &status);
        if ((status & dates) != 0 && (status & ~(dates | GNUTLS_CERT_INVALID)) == 0)
                status = 0;
        if (r < 0 || status != 0) {
                snprintf(buf, size, "its signature does not verify with the issuer's key%s",
                         status & GNUTLS_CERT_INSECURE_ALGORITHM ? " (insecure algorithm)"
                         : status & GNUTLS_CERT_SIGNER_CONSTRAINTS_FAILURE ||
                                         status & GNUTLS_CERT_SIGNER_NOT_CA
                                 ? " (the issuer may not sign CRLs)"
                                 : "");
                return buf;
        }
        return NULL;
}

static char *dn_of(gnutls_x509_crl_t crl) {
        gnutls_datum_t dn = {};
        char *s;

        if (gnutls_x509_crl_get_issuer_dn3(crl, &dn, 0) < 0)
                return strdup("(no issuer)");
        s = x509_escape_text((const char *) dn.data, dn.size);
        gnutls_free(dn.data);
        return s;
}

/* One CRL against the leaf's issuer (may be NULL) and the other CA certificates: CRL_FOR_ISSUER or
 * CRL_FOR_CHAIN when it verifies, CRL_OTHER_ISSUER when no CA at hand bears its name, else CRL_INVALID
 * with why in `buf` (the issuer's reason first: two generations of a CA share a name). */
static CrlTrust judge(gnutls_x509_crl_t crl, gnutls_x509_crt_t issuer, const gnutls_x509_crt_t *cas,
                      unsigned n_cas, char *buf, size_t size) {
        const char *why = NULL;
        char other[512];

        if (issuer && gnutls_x509_crl_check_issuer(crl, issuer)) {
                why = signed_by(crl, issuer, buf, size);
                if (!why)
                        return CRL_FOR_ISSUER;
        }
        for (unsigned i = 0; i < n_cas; i++) {
                if (cas[i] == issuer || !gnutls_x509_crl_check_issuer(crl, cas[i]))
                        continue;
                if (!signed_by(crl, cas[i], other, sizeof(other)))
                        return CRL_FOR_CHAIN;
                if (!why) {
                        snprintf(buf, size, "%s", other);
                        why = buf;
                }
        }
        return why ? CRL_INVALID : CRL_OTHER_ISSUER;
}

void crl_verdict_done(CrlVerdict *v) {
        crl_info_done(&v->info);
        free(v->error);
        *v = (CrlVerdict){};
}

static gnutls_x509_crt_t leaf_issuer(gnutls_x509_crt_t leaf, const gnutls_x509_crt_t *cas, unsigned n_cas) {
        gnutls_x509_crt_t first = NULL;

        for (unsigned i = 0; leaf && i < n_cas; i++) {
                unsigned status = 1;

                if (!issued(leaf, cas[i]))
                        continue;
                /* Two generations of one CA share a name: the one whose key signed the leaf. */
                if (gnutls_x509_crt_verify(leaf, &cas[i], 1, GNUTLS_VERIFY_DISABLE_TIME_CHECKS, &status) >=
                            0 &&
                    status == 0)
                        return cas[i];
                if (!first)
                        first = cas[i];
        }
        return first;
}

static int verdict_error(CrlVerdict *v, CrlTrust t, char *e) {
        if (!e)
                return -ENOMEM;
        free(v->error);
        v->error = e;
        v->trust = t;
        return 0;
}

static char *format(const char *a, const char *b, const char *c, const char *d) {
        char *s = NULL;

        return asprintf(&s, "%s%s%s%s", a, b, c, d) < 0 ? NULL : s;
}

int crl_read_verified(const uint8_t *data, size_t size, gnutls_x509_crt_t leaf, const gnutls_x509_crt_t *cas,
                      unsigned n_cas, CrlVerdict *ret) {
        gnutls_x509_crt_t issuer = leaf_issuer(leaf, cas, n_cas);
        CrlVerdict v = { .trust = CRL_OTHER_ISSUER };
        gnutls_x509_crl_t *l = NULL;
        int best = -1, r = 0;
        unsigned n = 0;
        char buf[512];

        r = import_all(data, size, &l, &n);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < n && i < CRLS_PER_FILE_MAX && r >= 0; i++) {
                CrlTrust t = judge(l[i], issuer, cas, n_cas, buf, sizeof(buf));
                _cleanup_free_ char *dn = NULL;

                /* The issuer's own CRL decides; a CRL of the chain counts for freshness; a forgery or a
                 * stranger's CRL is reported only when nothing in the file is genuine. */
                if (t == CRL_FOR_ISSUER || (t == CRL_FOR_CHAIN && v.trust != CRL_FOR_CHAIN)) {
                        v.trust = t;
                        best = (int) i;
                        if (t == CRL_FOR_ISSUER)
                                break;
                        continue;
                }
                if (v.trust == CRL_FOR_CHAIN || (t == CRL_OTHER_ISSUER && v.trust == CRL_INVALID) ||
                    t == CRL_FOR_CHAIN)
                        continue;
                dn = dn_of(l[i]);
                if (!dn)
                        r = -ENOMEM;
                else if (t == CRL_INVALID)
                        r = verdict_error(&v, t, format("the CRL of ", dn, " is not genuine: ", buf));
                else if (!issuer && leaf)
                        /* Nothing to check it with: no belief without the issuer's key. */
                        r = verdict_error(
                                &v, CRL_INVALID,
                                format("the CRL of ", dn,
                                       " cannot be verified: the certificate of the set's issuer is in "
                                       "neither its chain nor its ca",
                                       ""));
                else
                        r = verdict_error(&v, t,
                                          format("the CRL is issued by ", dn,
                                                 ", which issued neither the certificate nor its chain",
                                                 ""));
        }
        if (r >= 0 && best >= 0) {
                free(v.error);
                v.error = NULL;
                r = info_from(l[best], &v.info);
        }
        if (r >= 0) {
                *ret = TAKE_STRUCT(v);
        }
        crl_verdict_done(&v);
        free_all(l, n);
        return r < 0 ? r : 0;
}
