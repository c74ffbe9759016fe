/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "config.h"
#include "pin.h"
#include "time-util.h"

/* Loading and inspecting certificates and keys (docs/architecture.md). Pure: callers read the files and
 * pass buffers; nothing here touches the disk (the system trust store loader aside, x509_trust_new). */

typedef enum Severity {
        SEVERITY_OK,
        SEVERITY_WARNING,
        SEVERITY_CRITICAL,
        _SEVERITY_MAX,
        _SEVERITY_INVALID = -22,
} Severity;

/* Problem codes of docs/problems.md (contract). */
typedef enum ProblemCode {
        PROBLEM_UNREADABLE,
        PROBLEM_MALFORMED,
        PROBLEM_EXPIRED,
        PROBLEM_NOT_YET_VALID,
        PROBLEM_EXPIRY_CRITICAL,
        PROBLEM_EXPIRY_WARNING,
        PROBLEM_KEY_MISMATCH,
        PROBLEM_NAME_MISSING,
        PROBLEM_UNTRUSTED_CHAIN,
        PROBLEM_WEAK_KEY,
        PROBLEM_WEAK_SIGNATURE,
        PROBLEM_KEY_PERMISSIONS,
        PROBLEM_USAGE_MISSING,
        PROBLEM_CHAIN_ORDER,
        PROBLEM_DEPLOY_FAILED,   /* from saved state (check/pass), never from x509_inspect */
        PROBLEM_RENEWAL_FAILING, /* likewise; raised to critical inside critical-before */
        PROBLEM_REVOKED,         /* from a CRL or the compromised-keys list (check), never x509_inspect */
        PROBLEM_CRL_EXPIRING,    /* a CRL whose nextUpdate is near (check) */
        PROBLEM_CRL_EXPIRED,     /* a CRL past its nextUpdate, or unusable (check) */
        PROBLEM_CAA_MISMATCH, /* published CAA would make the ACME CA refuse this account or method (check) */
        PROBLEM_CRL_INVALID,  /* a CRL file with no CRL signed by the set's issuer (check) */
        PROBLEM_RATE_LIMITED, /* a due ACME renewal waits for a rate-limit budget or the server's Retry-After */
        _PROBLEM_CODE_MAX,
        _PROBLEM_CODE_INVALID = -22,
} ProblemCode;

const char *severity_to_string(Severity s) _pure_;
const char *problem_code_to_string(ProblemCode c) _pure_;
ProblemCode problem_code_from_string(const char *s) _pure_;
Severity problem_code_severity(ProblemCode c) _pure_;

typedef struct Problem {
        ProblemCode code;
        Severity severity; /* the code's; renewal-failing may be raised to critical */
        char *message;     /* "expires in 12 days" */
} Problem;

/* What the caller read. A read error (errno) stands for a file that could not be read. */
typedef struct X509Input {
        const char *cert_path; /* for messages only */
        const uint8_t *cert_data;
        size_t cert_size;
        int cert_errno; /* > 0: the certificate could not be read */

        const char *key_path; /* NULL: no key configured, no pairing check */
        const uint8_t *key_data;
        size_t key_size;
        int key_errno;
        mode_t key_mode; /* st_mode of the key file; (mode_t) -1 when unknown */
        /* The operator's `mode` for the key: key-permissions only for group/other bits beyond it. Unset:
         * key-permissions when group or others may read the key. */
        bool key_mode_set;
        mode_t key_mode_configured;
        const char *key_password; /* NULL unless key-password-file is set */
        /* A key that is no file (key = pkcs11:…): the caller read its public key; key_data is unused, no
         * permission check, the pairing check compares this pin. NULL for a file. */
        const uint8_t *key_pin;
        int key_password_errno; /* > 0: the password file could not be read */

        char *const *names; /* expected names, NULL-terminated, may be NULL */
        Usage usage;
        Threshold warn_before;
        Threshold critical_before;
        /* Anchors for the chain check; NULL skips it (the caller could not load them: it reports why). */
        gnutls_x509_trust_list_t trust;
        /* The same anchors as a plain array (an explicit `ca` file): verified with the direct path, which
         * skips the trust list's lookups (a third of the cost of a scan). Optional: n_cas = 0. */
        const gnutls_x509_crt_t *cas;
        unsigned n_cas;
        /* issuer = self: a self-signed leaf is its own trust anchor (accepted without `trust`). */
        bool self_anchor;
} X509Input;

typedef struct CertFacts {
        /* When `parsed`: */
        char *subject;  /* RFC 4514; control characters, DEL, C1 and invalid UTF-8 escaped as \xHH */
        char *issuer;   /* likewise */
        char *serial;   /* lowercase hex */
        char **names;   /* SANs: DNS names and IP addresses, NULL-terminated; escaped like subject */
        char *key_type; /* "ec-p256", "rsa-2048", "ed25519", … */
        usec_t not_before;
        usec_t not_after;
        int32_t days_left; /* floor((not_after - now) / 1d), negative when expired */
        uint32_t n_problems;
        uint8_t pin[PIN_SIZE];

        Problem *problems;
        Severity state; /* worst severity among problems */
        bool parsed;    /* the leaf could be parsed: the fields above are set */
        bool has_pin;   /* pin is set */
        /* A genuine CRL revokes the certificate for key compromise, or names no reason (check): the
         * renewal records its key as compromised. */
        bool key_compromised;
        /* A read-only copy in a FactsStore (facts-store.h), which owns it: a daemon holds one CertFacts
         * per set (idle RSS; the fields are ordered to leave no padding for the same reason). Not for
         * callers to set. */
        bool stored;
} CertFacts;

/* Inspect a certificate (PEM or DER; a PEM file may hold the full chain, leaf first) and its key
 * against the expectations, at time `now`. Findings are problems in *ret, never errors: the return
 * is 0, or -ENOMEM. */
int x509_inspect(const X509Input *in, usec_t now, CertFacts **ret);
/* A certificate alone (PEM or DER), with no key and no expectations: what it says of itself (subject,
 * serial, pin…) for the records that name one (revocations, compromised keys). As x509_inspect(). */
int x509_inspect_data(const uint8_t *data, size_t size, usec_t now, CertFacts **ret);
CertFacts *cert_facts_free(CertFacts *f);
static inline void cert_facts_freep(CertFacts **f) {
        cert_facts_free(*f);
}
#define _cleanup_cert_facts_ _cleanup_(cert_facts_freep)

/* Append a problem and raise f->state to its severity. Returns 0 or -ENOMEM. */
int cert_facts_add_problem(CertFacts *f, ProblemCode code, const char *fmt, ...) _printf_(3, 4);

/* Text taken from a certificate (DN, SAN), made safe for a terminal, a log line and JSON: C0 control
 * characters, DEL, C1 controls (U+0080..U+009F) and every byte that is not part of valid UTF-8 become
 * "\xHH" (one per byte); everything else is copied. Returns a malloc'd string, NULL on OOM. */
char *x509_escape_text(const char *s, size_t n);

/* Trust anchors from PEM or DER data (one or more certificates); data == NULL: the system store.
 * Returns 0 or -errno (-EBADMSG when no certificate could be parsed). */
int x509_trust_new(const uint8_t *data, size_t size, gnutls_x509_trust_list_t *ret);

/* Certificates (PEM or DER, several in a PEM file) into a malloc'd array of n. Returns 0 or -errno. */
int x509_load_crts(const uint8_t *data, size_t size, gnutls_x509_crt_t **ret, unsigned *ret_n);
/* The first certificate of a chain file (the leaf of a fullchain): as a certificate, or in DER. Returns 0
 * or -errno (-EBADMSG: no certificate). */
int x509_load_leaf(const uint8_t *data, size_t size, gnutls_x509_crt_t *ret);
int x509_leaf_der(const uint8_t *data, size_t size, gnutls_datum_t *ret);
void x509_crts_free(gnutls_x509_crt_t *crts, unsigned n);
/* Certificates as x509_load_crts() returns them, held together; x509_crts_done() frees them. */
typedef struct X509Crts {
        gnutls_x509_crt_t *v;
        unsigned n;
} X509Crts;
void x509_crts_done(X509Crts *c);

/* A private key: PKCS#1, PKCS#8 (encrypted too, with `password`), SEC1, Ed25519; PEM or DER.
 * Returns 0, -EBADMSG (not a key), -EACCES (encrypted and no or a wrong password), -ENOMEM. */
int x509_load_privkey(const uint8_t *data, size_t size, const char *password, gnutls_x509_privkey_t *ret);

/* The DER SubjectPublicKeyInfo of whatever the data holds: a certificate, a CSR, a public key or a
 * private key (then `password` may be needed). Returns 0 or -errno as x509_load_privkey. */
int x509_spki_from_data(const uint8_t *data, size_t size, const char *password, gnutls_datum_t *ret);
