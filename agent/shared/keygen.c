/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509-ext.h>
#include <gnutls/x509.h>

#include "gnutls-util.h"
#include "keygen.h"

/* The subjectAltName OID; the extension is critical when the subject is empty (RFC 5280 §4.2.1.6). */
#define OID_SAN "2.5.29.17"

static const struct {
        gnutls_pk_algorithm_t pk;
        unsigned bits; /* modulus size, or GNUTLS_CURVE_TO_BITS(curve) */
        gnutls_ecc_curve_t curve;
} key_type_table[_KEY_TYPE_MAX] = {
        [KEY_TYPE_EC_P256] = { GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
                               GNUTLS_ECC_CURVE_SECP256R1 },
        [KEY_TYPE_EC_P384] = { GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1),
                               GNUTLS_ECC_CURVE_SECP384R1 },
        [KEY_TYPE_RSA_2048] = { GNUTLS_PK_RSA, 2048, GNUTLS_ECC_CURVE_INVALID },
        [KEY_TYPE_RSA_3072] = { GNUTLS_PK_RSA, 3072, GNUTLS_ECC_CURVE_INVALID },
        [KEY_TYPE_RSA_4096] = { GNUTLS_PK_RSA, 4096, GNUTLS_ECC_CURVE_INVALID },
        [KEY_TYPE_ED25519] = { GNUTLS_PK_EDDSA_ED25519, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_ED25519),
                               GNUTLS_ECC_CURVE_ED25519 },
};

static void subject_alt_names_freep(gnutls_subject_alt_names_t *s) {
        if (*s)
                gnutls_subject_alt_names_deinit(*s);
}

int keygen_generate(KeyType t, gnutls_x509_privkey_t *ret) {
        _cleanup_x509_privkey_ gnutls_x509_privkey_t key = NULL;
        int r;

        if (t < 0 || t >= _KEY_TYPE_MAX || !ret)
                return -EINVAL;
        if (gnutls_x509_privkey_init(&key) < 0)
                return -ENOMEM;

        /* No separate gnutls_x509_privkey_verify_params(): GnuTLS generates the key itself, and renewing a
         * hundred certificates must stay cheap. */
        r = gnutls_x509_privkey_generate2(key, key_type_table[t].pk, key_type_table[t].bits, 0, NULL, 0);
        if (r < 0)
                return errno_from_gnutls(r);

        *ret = TAKE_PTR(key);
        return 0;
}

int keygen_type_params(KeyType t, gnutls_pk_algorithm_t *ret_pk, unsigned *ret_bits) {
        if (t < 0 || t >= _KEY_TYPE_MAX)
                return -EINVAL;
        *ret_pk = key_type_table[t].pk;
        *ret_bits = key_type_table[t].bits;
        return 0;
}

bool keygen_key_is_type(gnutls_x509_privkey_t key, KeyType t) {
        gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
        unsigned bits = 0;
        int pk;

        if (!key || t < 0 || t >= _KEY_TYPE_MAX)
                return false;

        pk = gnutls_x509_privkey_get_pk_algorithm2(key, &bits);
        if (pk < 0 || (gnutls_pk_algorithm_t) pk != key_type_table[t].pk)
                return false;
        if (key_type_table[t].curve == GNUTLS_ECC_CURVE_INVALID)
                return bits == key_type_table[t].bits;

        /* Bits alone do not name a curve: ask for the curve itself (no coordinates are copied). */
        if (gnutls_x509_privkey_export_ecc_raw(key, &curve, NULL, NULL, NULL) < 0)
                return false;
        return curve == key_type_table[t].curve;
}

static int export_pkcs8(gnutls_x509_privkey_t key, const char *password, unsigned flags,
                        gnutls_datum_t *ret) {
        gnutls_datum_t out = {};
        int r;

        if (!key || !ret)
                return -EINVAL;
        r = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, password, flags, &out);
        if (r < 0)
                return errno_from_gnutls(r);
        *ret = out;
        return 0;
}

int keygen_export_pem(gnutls_x509_privkey_t key, gnutls_datum_t *ret) {
        return export_pkcs8(key, NULL, GNUTLS_PKCS_PLAIN, ret);
}

int keygen_export_key(gnutls_x509_privkey_t key, const char *password, gnutls_datum_t *ret) {
        return password ? export_pkcs8(key, password, GNUTLS_PKCS_PBES2_AES_256, ret)
                        : keygen_export_pem(key, ret);
}

int keygen_san_ext(char *const *names, gnutls_datum_t *ret_der) {
        _cleanup_(subject_alt_names_freep) gnutls_subject_alt_names_t sans = NULL;
        gnutls_datum_t der = {};
        int r;

        if (!names || !names[0] || !ret_der)
                return -EINVAL;
        if (gnutls_subject_alt_names_init(&sans) < 0)
                return -ENOMEM;

        for (size_t i = 0; names[i]; i++) {
                unsigned char ip[16];
                gnutls_datum_t d;
                unsigned type;

                if (!config_name_is_valid(names[i]))
                        return -EINVAL;
                if (inet_pton(AF_INET, names[i], ip) == 1) {
                        type = GNUTLS_SAN_IPADDRESS;
                        d = (gnutls_datum_t){ ip, 4 };
                } else if (inet_pton(AF_INET6, names[i], ip) == 1) {
                        type = GNUTLS_SAN_IPADDRESS;
                        d = (gnutls_datum_t){ ip, 16 };
                } else if (config_name_type(names[i]) == NAME_URI ||
                           config_name_type(names[i]) == NAME_EMAIL) {
                        const char *v = config_name_value(names[i]);

                        type = config_name_type(names[i]) == NAME_URI ? GNUTLS_SAN_URI
                                                                      : GNUTLS_SAN_RFC822NAME;
                        d = (gnutls_datum_t){ (unsigned char *) v, (unsigned) strlen(v) };
                } else if (config_dns_name_is_valid(names[i])) {
                        type = GNUTLS_SAN_DNSNAME;
                        d = (gnutls_datum_t){ (unsigned char *) names[i], (unsigned) strlen(names[i]) };
                } else
                        return -EINVAL;

                r = gnutls_subject_alt_names_set(sans, type, &d, NULL);
                if (r < 0)
                        return errno_from_gnutls(r);
        }

        r = gnutls_x509_ext_export_subject_alt_names(sans, &der);
        if (r < 0)
                return errno_from_gnutls(r);
        *ret_der = der;
        return 0;
}

/* RFC 4514 attribute types → OIDs, as config_subject_split() spells them. */
static const char *subject_oid(const char *type) {
        static const struct {
                const char *type, *oid;
        } table[] = {
                { "CN", GNUTLS_OID_X520_COMMON_NAME },
                { "O", GNUTLS_OID_X520_ORGANIZATION_NAME },
                { "OU", GNUTLS_OID_X520_ORGANIZATIONAL_UNIT_NAME },
                { "L", GNUTLS_OID_X520_LOCALITY_NAME },
                { "ST", GNUTLS_OID_X520_STATE_OR_PROVINCE_NAME },
                { "C", GNUTLS_OID_X520_COUNTRY_NAME },
                { "DC", GNUTLS_OID_LDAP_DC },
                { "UID", GNUTLS_OID_LDAP_UID },
                { "serialNumber", "2.5.4.5" },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (strcmp(table[i].type, type) == 0)
                        return table[i].oid;
        return NULL;
}

int keygen_set_subject(gnutls_x509_crt_t crt, gnutls_x509_crq_t crq, const char *subject,
                       char *const *names) {
        _cleanup_strv_free_ char **parts = NULL;
        const char *cn = NULL;
        size_t n;
        int r;

        if (!subject) {
                /* The first DNS name or IP, as before uri: and email: names existed; when it is too long
                 * for a CN, no CN at all (not a later name: the CN would then name another host). */
                for (size_t i = 0; names && names[i] && !cn; i++)
                        if (config_name_type(names[i]) == NAME_DNS || config_name_type(names[i]) == NAME_IP)
                                cn = names[i];
                if (!cn || strlen(cn) > KEYGEN_CN_MAX)
                        return 0;
                r = crt ? gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                                        (unsigned) strlen(cn))
                        : gnutls_x509_crq_set_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                                        (unsigned) strlen(cn));
                return r < 0 ? errno_from_gnutls(r) : 1;
        }
        r = config_subject_split(subject, &parts);
        if (r < 0)
                return r;
        n = strv_length(parts);
        /* RFC 4514 writes the most specific RDN first; the DER sequence starts at the top of the tree. */
        for (size_t i = n; i >= 2; i -= 2) {
                const char *oid = subject_oid(parts[i - 2]), *v = parts[i - 1];

                if (!oid)
                        return -EINVAL;
                r = crt ? gnutls_x509_crt_set_dn_by_oid(crt, oid, 0, v, (unsigned) strlen(v))
                        : gnutls_x509_crq_set_dn_by_oid(crq, oid, 0, v, (unsigned) strlen(v));
                if (r < 0)
                        return errno_from_gnutls(r);
        }
        return n > 0;
}

int keygen_csr(gnutls_x509_privkey_t key, char *const *names, gnutls_datum_t *ret_der) {
        _cleanup_privkey_ gnutls_privkey_t priv = NULL;
        int r;

        if (!key || !ret_der)
                return -EINVAL;
        if (gnutls_privkey_init(&priv) < 0)
                return -ENOMEM;
        r = gnutls_privkey_import_x509(priv, key, 0);
        if (r < 0)
                return errno_from_gnutls(r);
        return keygen_csr_privkey(priv, names, ret_der);
}

int keygen_csr_privkey(gnutls_privkey_t key, char *const *names, gnutls_datum_t *ret_der) {
        _cleanup_x509_crq_ gnutls_x509_crq_t crq = NULL;
        _cleanup_pubkey_ gnutls_pubkey_t pub = NULL;
        _cleanup_datum_ gnutls_datum_t san = {};
        gnutls_datum_t der = {};
        bool has_cn;
        int pk, r;

        if (!key || !ret_der)
                return -EINVAL;
        r = keygen_san_ext(names, &san);
        if (r < 0)
                return r;
        pk = gnutls_privkey_get_pk_algorithm(key, NULL);
        if (pk < 0)
                return errno_from_gnutls(pk);
        if (gnutls_pubkey_init(&pub) < 0)
                return -ENOMEM;
        r = gnutls_pubkey_import_privkey(pub, key, 0, 0);
        if (r < 0)
                return errno_from_gnutls(r);

        if (gnutls_x509_crq_init(&crq) < 0)
                return -ENOMEM;
        r = gnutls_x509_crq_set_pubkey(crq, pub);
        if (r < 0)
                return errno_from_gnutls(r);

        /* CN = the first DNS name or IP, when X.520 lets it be one; the SANs are what ACME and clients look
         * at. */
        r = keygen_set_subject(NULL, crq, NULL, names);
        if (r < 0)
                return r;
        has_cn = r > 0;
        r = gnutls_x509_crq_set_extension_by_oid(crq, OID_SAN, san.data, san.size, !has_cn);
        if (r < 0)
                return errno_from_gnutls(r);

        /* Ed25519 signs the message itself: no separate digest (GNUTLS_DIG_UNKNOWN). Through the abstract
         * key, so that a key in a PKCS#11 token signs its own request. */
        r = gnutls_x509_crq_privkey_sign(
                crq, key, pk == GNUTLS_PK_EDDSA_ED25519 ? GNUTLS_DIG_UNKNOWN : GNUTLS_DIG_SHA256, 0);
        if (r < 0)
                return errno_from_gnutls(r);

        r = gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_DER, &der);
        if (r < 0)
                return errno_from_gnutls(r);
        *ret_der = der;
        return 0;
}
