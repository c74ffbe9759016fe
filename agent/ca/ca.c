/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <gnutls/crypto.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509-ext.h>
#include <gnutls/x509.h>

#include "ca-internal.h"
#include "ca.h"
#include "fd-util.h"
#include "gnutls-util.h"
#include "install.h"
#include "keygen.h"
#include "log.h"
#include "state.h"
#include "token.h"
#include "x509.h"

#define OID_SAN "2.5.29.17"
#define OID_NAME_CONSTRAINTS "2.5.29.30"

/* not_before lies this far back, so that a peer whose clock is a little behind accepts the certificate. */
#define CLOCK_SKEW_USEC USEC_PER_HOUR

/* not_before a little in the past, for peers whose clocks lag: an hour, but never more than a tenth of
 * the validity, so that a certificate living minutes is not mostly spent before it was made (a
 * renew-before percentage of its lifetime would then fall due at once). */
static usec_t backdated(usec_t now, usec_t validity) {
        usec_t skew = validity / 10 < CLOCK_SKEW_USEC ? validity / 10 : CLOCK_SKEW_USEC;
        return now > skew ? now - skew : 0;
}

/* 9999-12-31T23:59:59Z, the last instant a GeneralizedTime can hold (RFC 5280 §4.1.2.5). */
#define TIME_MAX_SEC ((usec_t) 253402300799)

#define SERIAL_SIZE 16
#define KEY_ID_MAX 64

static usec_t usec_add(usec_t a, usec_t b) {
        return a > USEC_INFINITY - b ? USEC_INFINITY : a + b;
}

static time_t to_time(usec_t u) {
        usec_t s = u / USEC_PER_SEC;

        return (time_t) (s > TIME_MAX_SEC ? TIME_MAX_SEC : s);
}

/* The digest that goes with a signing key: SHA-384 for P-384 (as RFC 5480 pairs them), none for Ed25519
 * (it hashes internally), SHA-256 otherwise. */
static gnutls_digest_algorithm_t sign_digest(gnutls_privkey_t key) {
        unsigned bits = 0;

        switch (gnutls_privkey_get_pk_algorithm(key, &bits)) {
        case GNUTLS_PK_EDDSA_ED25519:
                return GNUTLS_DIG_UNKNOWN;
        case GNUTLS_PK_ECDSA:
                return bits >= 384 ? GNUTLS_DIG_SHA384 : GNUTLS_DIG_SHA256;
        default:
                return GNUTLS_DIG_SHA256;
        }
}

/* A random positive serial of 127 bits: the first byte is non-zero (so the DER INTEGER is minimal and all
 * 16 bytes count) and its top bit clear (so it is positive). RFC 5280 §4.1.2.2, CA/B BR §7.1 (≥ 64 bits). */
static int set_serial(gnutls_x509_crt_t crt) {
        uint8_t serial[SERIAL_SIZE];
        int r;

        do {
                r = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial));
                if (r < 0)
                        return errno_from_gnutls(r);
                serial[0] &= 0x7f;
        } while (serial[0] == 0);

        r = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial));
        return r < 0 ? errno_from_gnutls(r) : 0;
}

/* What every certificate made here shares: version 3, the subject key, a serial, the validity, the subject
 * key id. The key id is GnuTLS's default one (SHA-1 over the SubjectPublicKeyInfo). */
static int crt_new(gnutls_pubkey_t key, usec_t not_before, usec_t not_after, gnutls_x509_crt_t *ret) {
        _cleanup_x509_crt_ gnutls_x509_crt_t crt = NULL;
        uint8_t id[KEY_ID_MAX];
        size_t id_size = sizeof(id);
        int r;

        if (gnutls_x509_crt_init(&crt) < 0)
                return -ENOMEM;
        r = gnutls_x509_crt_set_version(crt, 3);
        if (r < 0)
                return errno_from_gnutls(r);
        r = gnutls_x509_crt_set_pubkey(crt, key);
        if (r < 0)
                return errno_from_gnutls(r);
        r = set_serial(crt);
        if (r < 0)
                return r;
        r = gnutls_x509_crt_set_activation_time(crt, to_time(not_before));
        if (r < 0)
                return errno_from_gnutls(r);
        r = gnutls_x509_crt_set_expiration_time(crt, to_time(not_after));
        if (r < 0)
                return errno_from_gnutls(r);

        r = gnutls_pubkey_get_key_id(key, GNUTLS_KEYID_USE_SHA1, id, &id_size);
        if (r < 0)
                return errno_from_gnutls(r);
        r = gnutls_x509_crt_set_subject_key_id(crt, id, id_size);
        if (r < 0)
                return errno_from_gnutls(r);

        *ret = TAKE_PTR(crt);
        return 0;
}

static int set_common_name(gnutls_x509_crt_t crt, const char *cn) {
        int r;

        r = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn, (unsigned) strlen(cn));
        return r < 0 ? errno_from_gnutls(r) : 0;
}

/* SANs from the (already validated) names; the subject as configured, else CN = the first DNS name or IP.
 * An empty subject (a client known only by its SPIFFE ID, or a first name longer than X.520 allows) makes
 * the SAN extension critical (RFC 5280 §4.2.1.6). */
static int set_names(gnutls_x509_crt_t crt, const char *subject, char *const *names,
                     const gnutls_datum_t *san) {
        int r, has_subject;

        has_subject = keygen_set_subject(crt, NULL, subject, names);
        if (has_subject < 0)
                return has_subject;
        /* A client known by its CN alone (`ca sign` of a request without SANs) has no SAN extension. */
        if (!san->data)
                return has_subject > 0 ? 0 : -EINVAL;
        r = gnutls_x509_crt_set_extension_by_oid(crt, OID_SAN, san->data, san->size, !has_subject);
        return r < 0 ? errno_from_gnutls(r) : 0;
}

static int set_usage(gnutls_x509_crt_t crt, Usage usage) {
        int r;

        if (usage == USAGE_SERVER || usage == USAGE_SERVER_CLIENT) {
                r = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0);
                if (r < 0)
                        return errno_from_gnutls(r);
        }
        if (usage == USAGE_CLIENT || usage == USAGE_SERVER_CLIENT) {
                r = gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_CLIENT, 0);
                if (r < 0)
                        return errno_from_gnutls(r);
        }
        return 0;
}

/* digitalSignature for every key; RSA keys also encrypt the premaster secret of TLS 1.2's RSA key
 * exchange, which wants keyEncipherment. keyUsage is critical (RFC 5280 §4.2.1.3 SHOULD). */
static int set_key_usage(gnutls_x509_crt_t crt, gnutls_pubkey_t key, unsigned extra) {
        unsigned ku = GNUTLS_KEY_DIGITAL_SIGNATURE | extra;
        int r;

        if (gnutls_pubkey_get_pk_algorithm(key, NULL) == GNUTLS_PK_RSA)
                ku |= GNUTLS_KEY_KEY_ENCIPHERMENT;
        r = gnutls_x509_crt_set_key_usage(crt, ku);
        return r < 0 ? errno_from_gnutls(r) : 0;
}

static bool request_is_valid(const IssueRequest *req) {
        return req && ((req->names && req->names[0]) || req->subject) && req->validity > 0 &&
               req->usage >= 0 && req->usage < _USAGE_MAX;
}

/* Sign, and hand out the certificate as it reads back from DER. GnuTLS fills some lookups only when it
 * imports a certificate (the SANs, the raw subject and issuer DNs that gnutls_x509_crt_check_issuer() and
 * chain building compare): on the object it has just signed they answer as if empty, and callers would
 * be fooled. The price is one DER parse, a few tens of microseconds. */
static int sign(gnutls_x509_crt_t crt, gnutls_x509_crt_t issuer, gnutls_privkey_t issuer_key,
                gnutls_x509_crt_t *ret) {
        _cleanup_x509_crt_ gnutls_x509_crt_t signed_crt = NULL;
        _cleanup_datum_ gnutls_datum_t der = {};
        int r;

        /* Through the abstract key: the same for a key in memory and one in a PKCS#11 token. */
        r = gnutls_x509_crt_privkey_sign(crt, issuer, issuer_key, sign_digest(issuer_key), 0);
        if (r < 0)
                return errno_from_gnutls(r);
        r = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der);
        if (r < 0)
                return errno_from_gnutls(r);
        if (gnutls_x509_crt_init(&signed_crt) < 0)
                return -ENOMEM;
        r = gnutls_x509_crt_import(signed_crt, &der, GNUTLS_X509_FMT_DER);
        if (r < 0)
                return errno_from_gnutls(r);

        *ret = TAKE_PTR(signed_crt);
        return 0;
}

/* An x509 key as the abstract pair the functions below take (the private key borrows it). */
static int abstract_of(gnutls_x509_privkey_t x, gnutls_privkey_t *ret_priv, gnutls_pubkey_t *ret_pub) {
        _cleanup_privkey_ gnutls_privkey_t priv = NULL;
        _cleanup_pubkey_ gnutls_pubkey_t pub = NULL;

        if (!x)
                return -EINVAL;
        if (gnutls_privkey_init(&priv) < 0 || gnutls_pubkey_init(&pub) < 0)
                return -ENOMEM;
        if (gnutls_privkey_import_x509(priv, x, 0) < 0 || gnutls_pubkey_import_privkey(pub, priv, 0, 0) < 0)
                return -EINVAL;
        *ret_priv = TAKE_PTR(priv);
        *ret_pub = TAKE_PTR(pub);
        return 0;
}

static int public_of(gnutls_privkey_t priv, gnutls_pubkey_t *ret) {
        _cleanup_pubkey_ gnutls_pubkey_t pub = NULL;
        int r;

        if (gnutls_pubkey_init(&pub) < 0)
                return -ENOMEM;
        r = gnutls_pubkey_import_privkey(pub, priv, 0, 0);
        if (r < 0)
                return errno_from_gnutls(r);
        *ret = TAKE_PTR(pub);
        return 0;
}

/* The CA's subject key id, which becomes the leaf's authority key id. A CA certificate made elsewhere may
 * lack the extension: then GnuTLS's default key id over its public key, which is how crt_new() makes one. */
static int ca_key_id(gnutls_x509_crt_t ca_crt, uint8_t id[static KEY_ID_MAX], size_t *ret_size) {
        size_t size = KEY_ID_MAX;
        unsigned critical;
        int r;

        r = gnutls_x509_crt_get_subject_key_id(ca_crt, id, &size, &critical);
        if (r == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) {
                size = KEY_ID_MAX;
                r = gnutls_x509_crt_get_key_id(ca_crt, GNUTLS_KEYID_USE_SHA1, id, &size);
        }
        if (r < 0)
                return errno_from_gnutls(r);
        *ret_size = size;
        return 0;
}

/* The CA certificate must be a CA and belong to ca_key, or the leaf would not verify. Comparing two SHA-1
 * key ids costs microseconds, no signature. */
static int ca_check(gnutls_x509_crt_t ca_crt, gnutls_pubkey_t ca_key) {
        uint8_t a[KEY_ID_MAX], b[KEY_ID_MAX];
        size_t a_size = sizeof(a), b_size = sizeof(b);
        unsigned critical = 0, ca = 0;
        int pathlen = -1;

        if (gnutls_x509_crt_get_basic_constraints(ca_crt, &critical, &ca, &pathlen) < 0 || !ca)
                return -EINVAL;
        if (gnutls_x509_crt_get_key_id(ca_crt, GNUTLS_KEYID_USE_SHA1, a, &a_size) < 0 ||
            gnutls_pubkey_get_key_id(ca_key, GNUTLS_KEYID_USE_SHA1, b, &b_size) < 0)
                return -EINVAL;
        if (a_size != b_size || memcmp(a, b, a_size) != 0)
                return -EINVAL;
        return 0;
}

int ca_cert_matches_key(gnutls_x509_crt_t crt, gnutls_privkey_t key) {
        _cleanup_pubkey_ gnutls_pubkey_t pub = NULL;
        int r;

        if (!crt || !key)
                return -EINVAL;
        r = public_of(key, &pub);
        return r < 0 ? r : ca_check(crt, pub);
}

static void name_constraints_freep(gnutls_x509_name_constraints_t *nc) {
        if (*nc)
                gnutls_x509_name_constraints_deinit(*nc);
}

/* permitted-names → a nameConstraints object: DNS names as they are written (a leading "." keeps its
 * meaning: only names below), networks as address + mask (RFC 5280 §4.2.1.10). `uri:` prefixes and
 * `email:` domains are certherd's own rules when it signs: X.509 can say neither a URI prefix nor a
 * domain with its subdomains for mailboxes in one entry, so they stay out of the certificate. *ret NULL:
 * nothing to write. */
static int name_constraints(char *const *permitted, gnutls_x509_name_constraints_t *ret) {
        _cleanup_(name_constraints_freep) gnutls_x509_name_constraints_t nc = NULL;
        size_t n = 0;
        int r;

        if (gnutls_x509_name_constraints_init(&nc) < 0)
                return -ENOMEM;
        for (size_t i = 0; permitted[i]; i++) {
                unsigned char buf[32] = {};
                unsigned len, prefix;
                gnutls_datum_t d;
                unsigned type;

                if (strncmp(permitted[i], "uri:", 4) == 0 || strncmp(permitted[i], "email:", 6) == 0)
                        continue;
                if (strchr(permitted[i], '/')) {
                        if (config_parse_network(permitted[i], buf, &len, &prefix) < 0)
                                return -EINVAL;
                        for (unsigned bit = 0; bit < prefix; bit++)
                                buf[len + bit / 8] |= (unsigned char) (0x80 >> (bit % 8));
                        type = GNUTLS_SAN_IPADDRESS;
                        d = (gnutls_datum_t){ buf, len * 2 };
                } else {
                        if (!config_permitted_name_is_valid(permitted[i]))
                                return -EINVAL;
                        type = GNUTLS_SAN_DNSNAME;
                        d = (gnutls_datum_t){ (unsigned char *) permitted[i],
                                              (unsigned) strlen(permitted[i]) };
                }
                r = gnutls_x509_name_constraints_add_permitted(nc, type, &d);
                if (r < 0)
                        return errno_from_gnutls(r);
                n++;
        }
        *ret = n > 0 ? TAKE_PTR(nc) : NULL;
        return 0;
}

static bool ca_params_are_valid(const CaParams *p) {
        return p && p->common_name && p->common_name[0] && strlen(p->common_name) <= KEYGEN_CN_MAX &&
               p->validity > 0 && p->path_length >= -1;
}

/* A CA's subject: [ca] subject when the operator gave one (an organisation's naming, a name a relying
 * party's policy expects), else CN = common_name. A CA must have a subject: it is every leaf's issuer. */
static int set_ca_subject(gnutls_x509_crt_t crt, gnutls_x509_crq_t crq, const CaParams *p) {
        int r;

        if (p->subject) {
                r = keygen_set_subject(crt, crq, p->subject, NULL);
                return r < 0 ? r : r == 0 ? -EINVAL : 0;
        }
        if (crt)
                return set_common_name(crt, p->common_name);
        r = gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, p->common_name,
                                          (unsigned) strlen(p->common_name));
        return r < 0 ? errno_from_gnutls(r) : 0;
}

/* What a CA certificate and a CA's request share: basicConstraints CA:TRUE with the path length (critical),
 * keyUsage keyCertSign + cRLSign (critical), nameConstraints (critical) when permitted names are given. */
static int set_ca_extensions(gnutls_x509_crt_t crt, const CaParams *p) {
        int r;

        r = gnutls_x509_crt_set_basic_constraints(crt, 1, p->path_length);
        if (r < 0)
                return errno_from_gnutls(r);
        r = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN);
        if (r < 0)
                return errno_from_gnutls(r);
        if (p->permitted && p->permitted[0]) {
                _cleanup_(name_constraints_freep) gnutls_x509_name_constraints_t nc = NULL;

                r = name_constraints(p->permitted, &nc);
                if (r < 0 || !nc)
                        return r;
                /* Critical, as RFC 5280 §4.2.1.10 requires: a verifier that cannot read it must refuse. */
                r = gnutls_x509_crt_set_name_constraints(crt, nc, 1);
                if (r < 0)
                        return errno_from_gnutls(r);
        }
        return 0;
}

int ca_make_ca(gnutls_privkey_t key, const CaParams *p, gnutls_x509_crt_t parent,
               gnutls_privkey_t parent_key, gnutls_x509_crt_t *ret) {
        _cleanup_x509_crt_ gnutls_x509_crt_t crt = NULL;
        _cleanup_pubkey_ gnutls_pubkey_t pub = NULL;
        usec_t not_before = p && p->now > CLOCK_SKEW_USEC ? p->now - CLOCK_SKEW_USEC : 0;
        usec_t not_after;
        int r;

        if (!key || !ret || !ca_params_are_valid(p) || (!parent) != (!parent_key))
                return -EINVAL;
        r = public_of(key, &pub);
        if (r < 0)
                return r;
        not_after = usec_add(p->now, p->validity);
        if (parent) {
                _cleanup_pubkey_ gnutls_pubkey_t parent_pub = NULL;
                time_t pa = gnutls_x509_crt_get_expiration_time(parent);
                uint8_t aki[KEY_ID_MAX];
                size_t aki_size = 0;

                r = public_of(parent_key, &parent_pub);
                if (r < 0)
                        return r;
                r = ca_check(parent, parent_pub);
                if (r < 0)
                        return r;
                /* An intermediate never outlives the CA that signs it. */
                if (pa == (time_t) -1 || pa < 0 || (usec_t) pa * USEC_PER_SEC <= p->now)
                        return -EINVAL;
                if (not_after > (usec_t) pa * USEC_PER_SEC)
                        not_after = (usec_t) pa * USEC_PER_SEC;
                r = crt_new(pub, not_before, not_after, &crt);
                if (r < 0)
                        return r;
                r = ca_key_id(parent, aki, &aki_size);
                if (r >= 0)
                        r = gnutls_x509_crt_set_authority_key_id(crt, aki, aki_size);
                if (r < 0)
                        return r < -1 ? r : errno_from_gnutls(r);
        } else {
                r = crt_new(pub, not_before, not_after, &crt);
                if (r < 0)
                        return r;
        }
        r = set_ca_subject(crt, NULL, p);
        if (r < 0)
                return r;
        r = set_ca_extensions(crt, p);
        if (r < 0)
                return r;
        return parent ? sign(crt, parent, parent_key, ret) : sign(crt, crt, key, ret);
}

int ca_make_root_privkey(gnutls_privkey_t key, const char *common_name, usec_t validity, usec_t now,
                         gnutls_x509_crt_t *ret) {
        /* pathLenConstraint 0: this CA signs leaves only, never another CA. */
        return ca_make_ca(key, &(CaParams){ .common_name = common_name, .validity = validity, .now = now },
                          NULL, NULL, ret);
}

int ca_make_root(gnutls_x509_privkey_t key, const char *common_name, usec_t validity, usec_t now,
                 gnutls_x509_crt_t *ret) {
        _cleanup_privkey_ gnutls_privkey_t priv = NULL;
        _cleanup_pubkey_ gnutls_pubkey_t pub = NULL;

        if (!key || abstract_of(key, &priv, &pub) < 0)
                return -EINVAL;
        return ca_make_root_privkey(priv, common_name, validity, now, ret);
}

int ca_make_csr(gnutls_privkey_t key, const CaParams *p, gnutls_datum_t *ret_pem) {
        _cleanup_x509_crq_ gnutls_x509_crq_t crq = NULL;
        _cleanup_pubkey_ gnutls_pubkey_t pub = NULL;
        gnutls_datum_t out = {};
        int r;

        if (!key || !ret_pem || !ca_params_are_valid(p))
                return -EINVAL;
        r = public_of(key, &pub);
        if (r < 0)
                return r;
        if (gnutls_x509_crq_init(&crq) < 0)
                return -ENOMEM;
        r = gnutls_x509_crq_set_pubkey(crq, pub);
        if (r >= 0)
                r = set_ca_subject(NULL, crq, p);
        /* What this CA asks to be: the signer may copy the extensions (openssl x509 -req -copy_extensions)
         * or set its own. */
        if (r >= 0)
                r = gnutls_x509_crq_set_basic_constraints(crq, 1, p->path_length);
        if (r >= 0)
                r = gnutls_x509_crq_set_key_usage(crq, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN);
        if (r < 0)
                return errno_from_gnutls(r);
        if (p->permitted && p->permitted[0]) {
                _cleanup_(name_constraints_freep) gnutls_x509_name_constraints_t nc = NULL;
                _cleanup_datum_ gnutls_datum_t der = {};

                r = name_constraints(p->permitted, &nc);
                if (r < 0)
                        return r;
                r = nc ? gnutls_x509_ext_export_name_constraints(nc, &der) : 0;
                if (r >= 0 && nc)
                        r = gnutls_x509_crq_set_extension_by_oid(crq, OID_NAME_CONSTRAINTS, der.data,
                                                                 der.size, 1);
                if (r < 0)
                        return errno_from_gnutls(r);
        }
        /* Through the abstract key, as sign() does: a key in a token signs its request too. */
        r = gnutls_x509_crq_privkey_sign(crq, key, sign_digest(key), 0);
        if (r >= 0)
                r = gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_PEM, &out);
        if (r < 0)
                return errno_from_gnutls(r);
        *ret_pem = out;
        return 0;
}

/* The CA certificate's own nameConstraints, checked with GnuTLS as a verifier will: -EPERM for a name it
 * would refuse. A safety net under the caller's check against permitted-names (which names the CA). */
static int check_constraints(gnutls_x509_crt_t ca_crt, char *const *names) {
        _cleanup_(name_constraints_freep) gnutls_x509_name_constraints_t nc = NULL;
        unsigned critical;
        int r;

        if (gnutls_x509_name_constraints_init(&nc) < 0)
                return -ENOMEM;
        r = gnutls_x509_crt_get_name_constraints(ca_crt, nc, 0, &critical);
        if (r == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
                return 0;
        if (r < 0)
                return errno_from_gnutls(r);
        for (size_t i = 0; names[i]; i++) {
                unsigned char ip[16];
                gnutls_datum_t d;
                unsigned type;
                const char *v = config_name_value(names[i]);

                switch (config_name_type(names[i])) {
                case NAME_IP:
                        type = GNUTLS_SAN_IPADDRESS;
                        d = (gnutls_datum_t){ ip, inet_pton(AF_INET, v, ip) == 1 ? 4 : 16 };
                        if (d.size == 16 && inet_pton(AF_INET6, v, ip) != 1)
                                return -EINVAL;
                        break;
                case NAME_URI:
                        type = GNUTLS_SAN_URI;
                        d = (gnutls_datum_t){ (unsigned char *) v, (unsigned) strlen(v) };
                        break;
                case NAME_EMAIL:
                        type = GNUTLS_SAN_RFC822NAME;
                        d = (gnutls_datum_t){ (unsigned char *) v, (unsigned) strlen(v) };
                        break;
                default:
                        type = GNUTLS_SAN_DNSNAME;
                        d = (gnutls_datum_t){ (unsigned char *) v, (unsigned) strlen(v) };
                        break;
                }
                if (type == GNUTLS_SAN_URI)
                        continue; /* GnuTLS checks no URI constraints; none are made here */
                if (!gnutls_x509_name_constraints_check(nc, type, &d))
                        return -EPERM;
        }
        return 0;
}

/* An unsigned end-entity certificate for `key`: names, usage, and never a CA. With CA:TRUE and keyCertSign,
 * whoever holds the service's key could mint certificates for any name, and every client trusting this one
 * (as an issued leaf or as a self-signed anchor) would accept them. */
static int leaf_new(gnutls_pubkey_t key, usec_t not_before, usec_t not_after, const IssueRequest *req,
                    const gnutls_datum_t *san, gnutls_x509_crt_t *ret) {
        _cleanup_x509_crt_ gnutls_x509_crt_t crt = NULL;
        int r;

        r = crt_new(key, not_before, not_after, &crt);
        if (r < 0)
                return r;
        r = set_names(crt, req->subject, req->names, san);
        if (r < 0)
                return r;
        r = gnutls_x509_crt_set_basic_constraints(crt, 0, -1);
        if (r < 0)
                return errno_from_gnutls(r);
        r = set_key_usage(crt, key, 0);
        if (r < 0)
                return r;
        r = set_usage(crt, req->usage);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(crt);
        return 0;
}

int ca_issue(gnutls_x509_crt_t ca_crt, gnutls_x509_privkey_t ca_key, gnutls_x509_privkey_t leaf_key,
             const IssueRequest *req, gnutls_x509_crt_t *ret) {
        _cleanup_privkey_ gnutls_privkey_t ca_priv = NULL, leaf_priv = NULL;
        _cleanup_pubkey_ gnutls_pubkey_t ca_pub = NULL, leaf_pub = NULL;

        if (!ca_key || !leaf_key || abstract_of(ca_key, &ca_priv, &ca_pub) < 0 ||
            abstract_of(leaf_key, &leaf_priv, &leaf_pub) < 0)
                return -EINVAL;
        return ca_issue_pubkey(ca_crt, ca_priv, leaf_pub, req, ret);
}

int ca_issue_pubkey(gnutls_x509_crt_t ca_crt, gnutls_privkey_t ca_key, gnutls_pubkey_t leaf_key,
                    const IssueRequest *req, gnutls_x509_crt_t *ret) {
        _cleanup_x509_crt_ gnutls_x509_crt_t crt = NULL;
        _cleanup_pubkey_ gnutls_pubkey_t ca_pub = NULL;
        _cleanup_datum_ gnutls_datum_t san = {};
        uint8_t aki[KEY_ID_MAX];
        size_t aki_size = 0;
        time_t ca_not_before, ca_not_after;
        usec_t not_before, not_after;
        int r;

        if (!ca_crt || !ca_key || !leaf_key || !ret || !request_is_valid(req))
                return -EINVAL;
        r = req->names && req->names[0] ? keygen_san_ext(req->names, &san) : 0;
        if (r < 0)
                return r;
        r = public_of(ca_key, &ca_pub);
        if (r < 0)
                return r;
        r = ca_check(ca_crt, ca_pub);
        if (r < 0)
                return r;
        r = check_constraints(ca_crt, req->names ?: (char *const[]){ NULL });
        if (r < 0)
                return r;

        /* A leaf never outlives its CA nor starts before it; a CA that is not valid now issues nothing. */
        ca_not_before = gnutls_x509_crt_get_activation_time(ca_crt);
        ca_not_after = gnutls_x509_crt_get_expiration_time(ca_crt);
        if (ca_not_before == (time_t) -1 || ca_not_after == (time_t) -1 || ca_not_before < 0 ||
            ca_not_after <= ca_not_before)
                return -EINVAL;
        if (req->now < (usec_t) ca_not_before * USEC_PER_SEC ||
            req->now >= (usec_t) ca_not_after * USEC_PER_SEC)
                return -EINVAL;

        not_before = backdated(req->now, req->validity);
        if (not_before < (usec_t) ca_not_before * USEC_PER_SEC)
                not_before = (usec_t) ca_not_before * USEC_PER_SEC;
        not_after = usec_add(req->now, req->validity);
        if (not_after > (usec_t) ca_not_after * USEC_PER_SEC)
                not_after = (usec_t) ca_not_after * USEC_PER_SEC;

        r = ca_key_id(ca_crt, aki, &aki_size);
        if (r < 0)
                return r;

        r = leaf_new(leaf_key, not_before, not_after, req, &san, &crt);
        if (r < 0)
                return r;
        r = gnutls_x509_crt_set_authority_key_id(crt, aki, aki_size);
        if (r < 0)
                return errno_from_gnutls(r);
        return sign(crt, ca_crt, ca_key, ret);
}

int ca_self_sign(gnutls_x509_privkey_t key, const IssueRequest *req, gnutls_x509_crt_t *ret) {
        _cleanup_privkey_ gnutls_privkey_t priv = NULL;
        _cleanup_pubkey_ gnutls_pubkey_t pub = NULL;

        if (!key || abstract_of(key, &priv, &pub) < 0)
                return -EINVAL;
        return ca_self_sign_privkey(priv, req, ret);
}

int ca_self_sign_privkey(gnutls_privkey_t key, const IssueRequest *req, gnutls_x509_crt_t *ret) {
        _cleanup_x509_crt_ gnutls_x509_crt_t crt = NULL;
        _cleanup_pubkey_ gnutls_pubkey_t pub = NULL;
        _cleanup_datum_ gnutls_datum_t san = {};
        int r;

        if (!key || !ret || !request_is_valid(req))
                return -EINVAL;
        r = public_of(key, &pub);
        if (r < 0)
                return r;
        r = keygen_san_ext(req->names, &san);
        if (r < 0)
                return r;
        /* An end-entity certificate that is its own anchor (clients pin or trust it directly). */
        r = leaf_new(pub, backdated(req->now, req->validity), usec_add(req->now, req->validity), req, &san,
                     &crt);
        if (r < 0)
                return r;
        return sign(crt, crt, key, ret);
}

int ca_export_pem(gnutls_x509_crt_t crt, gnutls_datum_t *ret) {
        gnutls_datum_t out = {};
        int r;

        if (!crt || !ret)
                return -EINVAL;
        r = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &out);
        if (r < 0)
                return errno_from_gnutls(r);
        *ret = out;
        return 0;
}

/* `ca init` for a key in a token: the object the URI names, generated there when it does not exist; only
 * the certificate is written. Root or intermediate alike: ca_make_ca signs through the abstract keys. */
static int ca_init_token(const CaConfig *ca, const CaParams *params, gnutls_x509_crt_t parent_crt,
                         gnutls_privkey_t parent_key, gnutls_datum_t *ret_pem) {
        _cleanup_privkey_ gnutls_privkey_t key = NULL;
        _cleanup_x509_crt_ gnutls_x509_crt_t crt = NULL;
        _cleanup_free_ char *label = NULL;
        int r;

        r = token_url_label(ca->key, &label);
        if (r < 0)
                return log_error_errno(r, "Out of memory");
        r = token_load_privkey(ca->key, ca->pkcs11_pin_file, &key);
        if (r == -ENOENT) {
                r = token_generate(ca->key, ca->pkcs11_pin_file, ca->key_type, label);
                if (r < 0)
                        return log_error_errno(r,
                                               "[ca \"%s\"]: cannot generate a %s key in the token %s: %m",
                                               ca->name, key_type_to_string(ca->key_type), ca->key);
                log_notice("[ca \"%s\"]: generated a %s key in the token: %s", ca->name,
                           key_type_to_string(ca->key_type), ca->key);
                r = ca_load_token_key(ca, &key);
        } else if (r >= 0)
                log_notice("[ca \"%s\"]: using the key already in the token: %s", ca->name, ca->key);
        else
                r = ca_load_token_key(ca, &key);
        if (r < 0)
                return r;
        r = ca_make_ca(key, params, parent_crt, parent_key, &crt);
        if (r >= 0)
                r = ca_export_pem(crt, ret_pem);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot make the CA certificate: %m", ca->name);
        return 0;
}

/* Copies of the CA certificate for clients (`export`). */
static int export_copies(const CaConfig *ca, const gnutls_datum_t *crt_pem) {
        int r;

        for (char **e = ca->export; e && *e; e++) {
                r = install_data_mkdir(*e, crt_pem->data, crt_pem->size, 0644, 0755);
                if (r < 0)
                        return log_error_errno(r, "[ca \"%s\"]: cannot export the CA certificate to %s: %m",
                                               ca->name, *e);
                log_info("[ca \"%s\"]: exported the CA certificate to %s", ca->name, *e);
        }
        return 0;
}

int ca_path_length(const Inventory *inv, const CaConfig *ca) {
        int n = 0;

        if (ca->path_length >= 0)
                return ca->path_length;
        /* Unset: room for the CAs the inventory places below this one (0 for a CA that signs leaves only). */
        for (size_t i = 0; i < inv->n_ca; i++)
                if (inv->ca[i] != ca && inv->ca[i]->parent && strcmp(inv->ca[i]->parent, ca->name) == 0) {
                        int k = ca_path_length(inv, inv->ca[i]) + 1;

                        if (k > n)
                                n = k;
                }
        return n;
}

int ca_common_name(const CaConfig *ca, char **ret) {
        /* A CN holds at most 64 characters (RFC 5280 ub-common-name). */
        if (asprintf(ret, strlen(ca->name) <= 50 ? "certherd %s CA" : "certherd CA%.0s", ca->name) < 0)
                return log_error_errno(-ENOMEM, "Out of memory");
        return 0;
}

CaParams ca_params(const Inventory *inv, const CaConfig *ca, const char *cn, usec_t now) {
        return (CaParams){ .common_name = cn,
                           .subject = ca->subject,
                           .validity = ca->ca_validity,
                           .now = now,
                           .path_length = ca_path_length(inv, ca),
                           .permitted = ca->permitted_names };
}

int ca_make_generation(const CaConfig *ca, const CaParams *p, gnutls_x509_crt_t parent_crt,
                       gnutls_privkey_t parent_key, const char *what, gnutls_datum_t *ret_key_pem,
                       gnutls_datum_t *ret_crt_pem) {
        _cleanup_x509_privkey_ gnutls_x509_privkey_t key = NULL;
        _cleanup_privkey_ gnutls_privkey_t priv = NULL; /* borrows key */
        _cleanup_pubkey_ gnutls_pubkey_t pub = NULL;
        _cleanup_x509_crt_ gnutls_x509_crt_t crt = NULL;
        _cleanup_datum_ gnutls_datum_t key_pem = {}, crt_pem = {};
        int r;

        r = keygen_generate(ca->key_type, &key);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot make a %s key: %m", ca->name,
                                       key_type_to_string(ca->key_type));
        r = abstract_of(key, &priv, &pub);
        if (r >= 0)
                r = ca_make_ca(priv, p, parent_crt, parent_key, &crt);
        if (r >= 0)
                r = keygen_export_pem(key, &key_pem);
        if (r >= 0)
                r = ca_export_pem(crt, &crt_pem);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot make %s: %m", ca->name, what);
        *ret_key_pem = key_pem;
        *ret_crt_pem = crt_pem;
        key_pem = crt_pem = (gnutls_datum_t){};
        return 0;
}

int ca_install_generation(const Inventory *inv, const CaConfig *ca, const gnutls_datum_t *key_pem,
                          const gnutls_datum_t *crt_pem) {
        return install_pair(inv->agent.state_directory, ca->name,
                            &INSTALL_DATA(ca->key, key_pem->data, key_pem->size, 0600),
                            &INSTALL_DATA(ca->certificate, crt_pem->data, crt_pem->size, 0644));
}

int ca_install_certificate(const CaConfig *ca, const void *data, size_t size) {
        int r;

        r = install_data_mkdir(ca->certificate, data, size, 0644, 0755);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot install %s: %m", ca->name, ca->certificate);
        return 0;
}

int ca_init(const Inventory *inv, const CaConfig *ca, usec_t now) {
        _cleanup_privkey_ gnutls_privkey_t parent_key = NULL;
        _cleanup_x509_crt_ gnutls_x509_crt_t parent_crt = NULL;
        _cleanup_datum_ gnutls_datum_t key_pem = {}, crt_pem = {}, parent_pem = {};
        _cleanup_free_ char *cn = NULL;
        CaParams params;
        struct stat st;
        int r;

        if (stat(ca->certificate, &st) >= 0 || stat(ca->key, &st) >= 0)
                return log_error_errno(-EEXIST, "[ca \"%s\"]: %s exists already; refusing to overwrite a CA",
                                       ca->name, stat(ca->key, &st) >= 0 ? ca->key : ca->certificate);
        /* An intermediate is signed by its parent, which must exist with its key at hand (an
         * offline parent signs a request instead: ca init --csr, then ca import). The parent's key may be
         * in a token. */
        if (ca->parent) {
                const CaConfig *parent = inventory_find_ca(inv, ca->parent);

                if (!parent)
                        return log_error_errno(-ENOENT, "[ca \"%s\"]: no parent [ca \"%s\"]", ca->name,
                                               ca->parent);
                r = ca_load_signer(parent, &parent_crt, &parent_key, &parent_pem);
                if (r < 0)
                        return log_error_errno(
                                r,
                                "[ca \"%s\"]: the parent [ca \"%s\"] cannot sign (create it first, or "
                                "keep its key offline and use: certherd ca init %s --csr)",
                                ca->name, parent->name, ca->name);
        }
        r = ca_common_name(ca, &cn);
        if (r < 0)
                return r;
        params = ca_params(inv, ca, cn, now);

        if (token_is_url(ca->key)) {
                r = ca_init_token(ca, &params, parent_crt, parent_key, &crt_pem);
                if (r < 0)
                        return r;
                /* The key stays in its token: the certificate alone. */
                r = ca_install_certificate(ca, crt_pem.data, crt_pem.size);
                if (r < 0)
                        return r;
                log_notice("[ca \"%s\"]: created %s (%s)", ca->name, ca->certificate, ca->subject ?: cn);
                return export_copies(ca, &crt_pem);
        }

        r = ca_make_generation(ca, &params, parent_crt, parent_key, "the CA certificate", &key_pem,
                               &crt_pem);
        if (r < 0)
                return r;

        r = state_directory(inv->agent.state_directory);
        if (r < 0)
                return r;
        if ((r = mkdir_parents(ca->key, 0700)) < 0 || (r = mkdir_parents(ca->certificate, 0755)) < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot create the directory of %s: %m", ca->name,
                                       ca->key);

        r = ca_install_generation(inv, ca, &key_pem, &crt_pem);
        if (r < 0)
                return log_error_errno(r, "[ca \"%s\"]: cannot install %s and %s: %m", ca->name, ca->key,
                                       ca->certificate);
        log_notice("[ca \"%s\"]: created %s (%s)", ca->name, ca->certificate, ca->subject ?: cn);

        return export_copies(ca, &crt_pem);
}

gnutls_digest_algorithm_t ca_sign_digest(gnutls_privkey_t key) {
        return sign_digest(key);
}

int ca_authority_key_id(gnutls_x509_crt_t ca_crt, uint8_t *id, size_t *size) {
        if (*size < KEY_ID_MAX)
                return -ENOBUFS;
        return ca_key_id(ca_crt, id, size);
}
