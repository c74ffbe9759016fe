/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "ca-internal.h"
#include "ca-pki.h"
#include "ca.h"
#include "compromised-keys.h"
#include "fd-util.h"
#include "gnutls-util.h"
#include "log.h"
#include "pin.h"
#include "x509.h"

/* `ca sign`: a request made elsewhere becomes a leaf of the CA. The request is the requester's word and
 * says nothing certherd has checked but its names and its key: the subject is certherd's (CN = the first
 * name, or the operator's --subject), never copied — PostgreSQL's cert authentication, Kubernetes and
 * nginx rules trust a CN or an O as an identity. */

#define CSR_FILE_MAX (1024U * 1024U)
/* X.520 ub-common-name */
#define CN_MAX 64

/* The request's SANs as `names` entries. */
static int crq_names(gnutls_x509_crq_t crq, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;

        for (unsigned seq = 0;; seq++) {
                char buf[2048], ip[INET6_ADDRSTRLEN], *e = NULL, **nl;
                size_t size = sizeof(buf) - 1;
                unsigned type = 0;
                int r;

                r = gnutls_x509_crq_get_subject_alt_name(crq, seq, buf, &size, &type, NULL);
                if (r == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
                        break;
                if (r < 0)
                        return -EINVAL;
                buf[size] = 0;
                /* An embedded NUL hides another name; an address is binary (10.0.0.1, fd00::1 hold zeros).
                 */
                if (type != GNUTLS_SAN_IPADDRESS && memchr(buf, 0, size))
                        return -EINVAL;
                switch (type) {
                case GNUTLS_SAN_DNSNAME:
                        e = strdup(buf);
                        break;
                case GNUTLS_SAN_IPADDRESS:
                        if ((size != 4 && size != 16) ||
                            !inet_ntop(size == 4 ? AF_INET : AF_INET6, buf, ip, sizeof(ip)))
                                return -EINVAL;
                        e = strdup(ip);
                        break;
                case GNUTLS_SAN_URI:
                        (void) asprintf(&e, "uri:%s", buf);
                        break;
                case GNUTLS_SAN_RFC822NAME:
                        (void) asprintf(&e, "email:%s", buf);
                        break;
                default:
                        return -EOPNOTSUPP;
                }
                if (!e)
                        return -ENOMEM;
                nl = reallocarray(l, n + 2, sizeof(char *));
                if (!nl) {
                        free(e);
                        return -ENOMEM;
                }
                l = nl;
                l[n++] = e;
                l[n] = NULL;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

/* Whether some CA from `ca` up constrains the names it issues. */
static const CaConfig *constrained(const Inventory *inv, const CaConfig *ca) {
        for (const CaConfig *c = ca; c; c = c->parent ? inventory_find_ca(inv, c->parent) : NULL)
                if (c->permitted_names && c->permitted_names[0])
                        return c;
        return NULL;
}

/* What a plain identity may be made of: a device name, a user name. */
#define IDENTITY_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_ "

/* A CN as the request wrote it. For a server it is a host name: a DNS name or IP, checked like a SAN.
 * For a client certificate it may also be a plain identity (`device-01`, a user name), a kind of name
 * permitted-names does not constrain; a CN with a dot or a colon is still a DNS name or address and
 * checked as one, so CN=bank.example stays outside a CA limited to example.org. */
static int check_cn(const Inventory *inv, const CaConfig *ca, const char *cn, Usage usage, const char *who) {
        NameType t = config_name_type(cn);

        if (strlen(cn) == 0 || strlen(cn) > CN_MAX)
                return log_error_errno(-EINVAL, "%s: the request's CN is empty or longer than %d characters",
                                       who, CN_MAX);
        if (usage == USAGE_CLIENT && strspn(cn, IDENTITY_CHARS) == strlen(cn) && cn[0] != ' ' &&
            cn[strlen(cn) - 1] != ' ')
                return 0;
        if ((t == NAME_DNS || t == NAME_IP) && config_name_is_valid(cn))
                return ca_names_check(inv, ca, (char *const[]){ (char *) cn, NULL }, who);
        return log_error_errno(
                -EPERM, "%s: refusing the request's CN '%s': %s", who, cn,
                usage == USAGE_CLIENT
                        ? "neither a DNS name, an IP address nor a plain identity (letters, digits, "
                          "'-', '_' and inner spaces)"
                        : "not a DNS name or IP address, as a server certificate's CN must be");
}

/* --keep-subject: the request's subject, each attribute checked. A CN as above; any other attribute (O,
 * OU, …) is no name that permitted-names could check, and the one a peer's DN rule trusts: accepted only
 * from a CA that constrains nothing. */
static int keep_subject(const Inventory *inv, const CaConfig *ca, const char *dn, Usage usage,
                        const char *who) {
        _cleanup_strv_free_ char **parts = NULL;
        const CaConfig *c = constrained(inv, ca);
        int r;

        if (!dn[0])
                return log_error_errno(-EINVAL, "%s: --keep-subject, but the request has no subject", who);
        if (config_subject_split(dn, &parts) < 0)
                return log_error_errno(
                        -EINVAL,
                        "%s: --keep-subject: the request's subject '%s' has attributes "
                        "certherd cannot check (CN, O, OU, L, ST, C, DC, UID, serialNumber, one "
                        "value each)",
                        who, dn);
        /* The CN first: the name a peer trusts most is the one to name when refusing. */
        for (size_t i = 0; parts[i] && parts[i + 1]; i += 2)
                if (strcasecmp(parts[i], "CN") == 0 && (r = check_cn(inv, ca, parts[i + 1], usage, who)) < 0)
                        return r;
        for (size_t i = 0; c && parts[i] && parts[i + 1]; i += 2)
                if (strcasecmp(parts[i], "CN") != 0)
                        return log_error_errno(
                                -EPERM,
                                "%s: --keep-subject: refusing %s=%s: no permitted-names entry of "
                                "[ca \"%s\"] can vouch for it",
                                who, parts[i], parts[i + 1], c->name);
        return 0;
}

/* The subject to write (NULL: CN = the first DNS name or IP of `names`, as for a set). */
static int sign_subject(const Inventory *inv, const CaConfig *ca, gnutls_x509_crq_t crq,
                        const CaSignRequest *req, char *const *names, const char *who, char **ret) {
        _cleanup_datum_ gnutls_datum_t dn = {};
        char cn[256], *s = NULL;
        size_t size = sizeof(cn) - 1;
        int r;

        if (req->subject)
                return (*ret = strdup(req->subject)) ? 0 : log_error_errno(-ENOMEM, "Out of memory");
        if (req->keep_subject) {
                if (gnutls_x509_crq_get_dn3(crq, &dn, 0) < 0)
                        dn = (gnutls_datum_t){}; /* no subject: refused below */
                r = keep_subject(inv, ca, dn.data ? (const char *) dn.data : "", req->usage, who);
                if (r < 0)
                        return r;
                return (*ret = strdup((const char *) dn.data)) ? 0
                                                               : log_error_errno(-ENOMEM, "Out of memory");
        }
        if (names && names[0]) {
                *ret = NULL;
                return 0;
        }
        /* No SAN: a client known by its CN alone (`openssl req -subj /CN=device-01`) keeps that CN — only
         * it. */
        if (req->usage == USAGE_SERVER ||
            gnutls_x509_crq_get_dn_by_oid(crq, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &size) < 0)
                return log_error_errno(-EINVAL,
                                       "%s: the request names no subjectAltName (DNS, IP, URI or email)%s",
                                       who, req->usage == USAGE_SERVER ? "" : " and no CN");
        cn[size] = 0;
        if (memchr(cn, 0, size))
                return log_error_errno(-EINVAL, "%s: the request's CN holds a NUL byte", who);
        r = check_cn(inv, ca, cn, req->usage, who);
        if (r < 0)
                return r;
        /* Written as a DN: a CN with a comma, plus or backslash is escaped. */
        {
                size_t k = 0;

                s = malloc(2 * size + 4);
                if (!s)
                        return log_error_errno(-ENOMEM, "Out of memory");
                memcpy(s, "CN=", 3);
                k = 3;
                for (size_t i = 0; i < size; i++) {
                        if (strchr(",+\\\"<>;=#", cn[i]))
                                s[k++] = '\\';
                        s[k++] = cn[i];
                }
                s[k] = 0;
        }
        if (!config_subject_is_valid(s)) {
                free(s);
                return log_error_errno(-EINVAL, "%s: the request's CN '%s' cannot be written as a subject",
                                       who, cn);
        }
        *ret = s;
        return 0;
}

/* A key revoked with key-compromise is never certified again, whoever asks. */
static int refuse_compromised(const Inventory *inv, gnutls_pubkey_t pub, const char *who) {
        _cleanup_datum_ gnutls_datum_t spki = {};
        uint8_t pin[PIN_SIZE];
        usec_t since = 0;
        char when[32];
        int r;

        r = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki) < 0 ? -EINVAL : 0;
        if (r >= 0)
                r = pin_compute(spki.data, spki.size, pin);
        if (r >= 0)
                r = compromised_keys_check(inv->agent.state_directory, pin, &since);
        if (r < 0)
                return log_error_errno(r, "%s: cannot read the compromised-keys list: %m; refusing to sign",
                                       who);
        if (r > 0)
                return log_error_errno(-EKEYREVOKED,
                                       "%s: refusing to sign: the request's key was revoked with "
                                       "key-compromise on %s and is never certified again",
                                       who, format_timestamp_iso(when, sizeof(when), since));
        return 0;
}

/* What was signed, on standard error before the certificate: who holds it is decided here. */
static void print_signed(gnutls_x509_crt_t leaf, const char *who) {
        _cleanup_datum_ gnutls_datum_t dn = {};
        _cleanup_free_ char *subject = NULL;
        char names[2048] = "";
        size_t k = 0;

        if (gnutls_x509_crt_get_dn3(leaf, &dn, 0) >= 0)
                subject = x509_escape_text((const char *) dn.data, dn.size);
        for (unsigned seq = 0; k + 2 < sizeof(names); seq++) {
                char buf[1024], ip[INET6_ADDRSTRLEN];
                size_t size = sizeof(buf) - 1;
                unsigned type = 0;
                const char *v = buf, *prefix = "";
                _cleanup_free_ char *esc = NULL;

                if (gnutls_x509_crt_get_subject_alt_name2(leaf, seq, buf, &size, &type, NULL) < 0)
                        break;
                buf[size] = 0;
                if (type == GNUTLS_SAN_IPADDRESS)
                        v = inet_ntop(size == 4 ? AF_INET : AF_INET6, buf, ip, sizeof(ip)) ?: "?";
                else if (type == GNUTLS_SAN_URI)
                        prefix = "uri:";
                else if (type == GNUTLS_SAN_RFC822NAME)
                        prefix = "email:";
                esc = x509_escape_text(v, strlen(v));
                k += (size_t) snprintf(names + k, sizeof(names) - k, "%s%s%s", k ? " " : "", prefix,
                                       esc ?: "?");
        }
        if (k >= sizeof(names))
                k = sizeof(names) - 1;
        log_notice("%s: signed subject \"%s\", names: %s", who, subject ?: "?", k ? names : "(none)");
}

/* The request at `path`: its signature verified (proof that the requester holds the key), its public
 * key. */
static int read_request(const char *path, const char *who, gnutls_x509_crq_t *ret_crq,
                        gnutls_pubkey_t *ret_pub) {
        _cleanup_x509_crq_ gnutls_x509_crq_t crq = NULL;
        _cleanup_pubkey_ gnutls_pubkey_t pub = NULL;
        _cleanup_free_ uint8_t *data = NULL;
        size_t size;
        int r;

        r = read_full_file(path, CSR_FILE_MAX, &data, &size);
        if (r < 0)
                return log_error_errno(r, "cannot read %s: %m", path);
        if (gnutls_x509_crq_init(&crq) < 0)
                return log_error_errno(-ENOMEM, "Out of memory");
        r = gnutls_x509_crq_import(crq, &(gnutls_datum_t){ data, (unsigned) size }, GNUTLS_X509_FMT_PEM);
        if (r < 0)
                r = gnutls_x509_crq_import(crq, &(gnutls_datum_t){ data, (unsigned) size },
                                           GNUTLS_X509_FMT_DER);
        if (r < 0)
                return log_error_errno(-EBADMSG, "%s: not a certificate request (PKCS#10, PEM or DER)",
                                       path);
        if (gnutls_x509_crq_verify(crq, 0) < 0)
                return log_error_errno(-EBADMSG, "%s: the request's signature does not verify", path);
        if (gnutls_pubkey_init(&pub) < 0)
                return log_error_errno(-ENOMEM, "Out of memory");
        r = gnutls_pubkey_import_x509_crq(pub, crq, 0);
        if (r < 0)
                return log_error_errno(errno_from_gnutls(r), "%s: cannot read the request's public key",
                                       who);
        *ret_crq = TAKE_PTR(crq);
        *ret_pub = TAKE_PTR(pub);
        return 0;
}

int ca_sign(const Inventory *inv, const CaConfig *ca, const CaSignRequest *req, usec_t now) {
        _cleanup_privkey_ gnutls_privkey_t ca_key = NULL;
        _cleanup_x509_crt_ gnutls_x509_crt_t ca_crt = NULL, leaf = NULL;
        _cleanup_x509_crq_ gnutls_x509_crq_t crq = NULL;
        _cleanup_pubkey_ gnutls_pubkey_t pub = NULL;
        _cleanup_datum_ gnutls_datum_t ca_pem = {}, chain = {}, anchor = {}, pem = {};
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_free_ char *who = NULL, *subject = NULL;
        int r;

        if (asprintf(&who, "[ca \"%s\"] %s", ca->name, req->csr_path) < 0)
                return log_error_errno(-ENOMEM, "Out of memory");
        r = read_request(req->csr_path, who, &crq, &pub);
        if (r < 0)
                return r;
        r = refuse_compromised(inv, pub, who);
        if (r < 0)
                return r;

        r = crq_names(crq, &names);
        if (r < 0)
                return log_error_errno(
                        r, "%s: %s", who,
                        r == -EOPNOTSUPP ? "the request has a subjectAltName of a type not issued here "
                                           "(DNS names, IPs, URIs and email addresses are)"
                                         : "cannot read the request's subjectAltName");
        for (size_t i = 0; names && names[i]; i++)
                if (!config_name_is_valid(names[i]))
                        return log_error_errno(-EINVAL, "%s: invalid name '%s' in the request", who,
                                               names[i]);
        r = ca_names_check(inv, ca, names, who);
        if (r < 0)
                return r;
        r = sign_subject(inv, ca, crq, req, names, who, &subject);
        if (r < 0)
                return r;

        r = ca_load_signer(ca, &ca_crt, &ca_key, &ca_pem);
        if (r < 0)
                return r;
        r = ca_chain(inv, ca, &chain, &anchor);
        if (r < 0)
                return r;
        r = ca_issue_pubkey(ca_crt, ca_key, pub,
                            &(IssueRequest){ .names = names,
                                             .subject = subject,
                                             .usage = req->usage,
                                             .validity = req->validity ?: ca->validity,
                                             .now = now },
                            &leaf);
        if (r < 0)
                return log_error_errno(r, "%s: cannot sign the request: %s", who,
                                       r == -EPERM
                                               ? "a name is outside the CA certificate's name constraints"
                                               : strerror(-r));
        print_signed(leaf, who);
        r = ca_export_pem(leaf, &pem);
        if (r >= 0)
                r = ca_datum_append(&pem, chain.data, chain.size);
        if (r >= 0)
                r = ca_write_out(req->out, &pem, 0644);
        if (r < 0)
                return log_error_errno(r, "%s: cannot write the certificate to %s: %m", who,
                                       req->out ?: "stdout");
        ca_index_record_hook(inv, ca, leaf, NULL);
        if (req->out && strcmp(req->out, "-") != 0)
                log_notice("%s: signed, written to %s", who, req->out);
        return 0;
}
