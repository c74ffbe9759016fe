/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "pin.h"
#include "time-util.h"

/* What an internal CA has issued: one index per CA, STATE/ca/NAME/index.json, written
 * atomically under an flock of STATE/ca/NAME/index.lock (the daemon, a timer run and `certherd ca revoke`
 * may all touch it; each holder opens its own descriptor, so threads of one process exclude each other
 * too). Also the compromised-keys list, STATE/compromised-keys.json: the SPKI pins of keys revoked with
 * key-compromise, which certherd never certifies again.
 *
 * index.json: {"version": 1, "crl_number": N, "certificates": [{"serial": "hex", "name": "set",
 *   "subject": "CN=…", "names": ["…"], "not_after": SECONDS, "pin_sha256": "base64",
 *   "status": "valid"|"revoked", "revoked_at": SECONDS, "reason": "key-compromise"}]}
 * Parsing is strict: an unknown type, a missing field or a bad value is -EBADMSG, and nothing is written
 * over a damaged index (the operator looks at it first). */

/* RFC 5280 §5.3.1 CRLReason codes. */
typedef enum CrlReason {
        CRL_REASON_UNSPECIFIED = 0,
        CRL_REASON_KEY_COMPROMISE = 1,
        CRL_REASON_CA_COMPROMISE = 2,
        CRL_REASON_AFFILIATION_CHANGED = 3,
        CRL_REASON_SUPERSEDED = 4,
        CRL_REASON_CESSATION_OF_OPERATION = 5,
        CRL_REASON_CERTIFICATE_HOLD = 6,
        CRL_REASON_PRIVILEGE_WITHDRAWN = 9,
        CRL_REASON_AA_COMPROMISE = 10,
        _CRL_REASON_MAX,
        _CRL_REASON_INVALID = -22,
} CrlReason;

/* "key-compromise", …; the RFC 5280 ASN.1 spelling ("keyCompromise") and the number are accepted too. */
CrlReason crl_reason_from_string(const char *s) _pure_;
const char *crl_reason_to_string(CrlReason r) _pure_;

typedef struct CaIndexEntry {
        char *serial;  /* lowercase hex, no separators */
        char *name;    /* the certificate set (or "" for a certificate signed from a CSR) */
        char *subject; /* RFC 4514 */
        char **names;  /* SANs, NULL-terminated (may be empty) */
        usec_t not_after;
        char *pin; /* base64 SPKI SHA-256 */
        bool revoked;
        usec_t revoked_at;
        CrlReason reason;
} CaIndexEntry;

typedef struct CaIndex {
        CaIndexEntry *entries;
        size_t n;
        uint64_t crl_number; /* of the last CRL signed; the next is one more */
} CaIndex;

void ca_index_done(CaIndex *idx);
int ca_index_parse(const char *text, size_t size, CaIndex *ret);
/* A missing index is an empty one. Returns 0, -EBADMSG (damaged, logged), -errno. */
int ca_index_load(const char *state_dir, const char *ca_name, CaIndex *ret);
int ca_index_save(const char *state_dir, const char *ca_name, const CaIndex *idx);
CaIndexEntry *ca_index_find(const CaIndex *idx, const char *serial);
/* Append `crt` (issued for set `name`) unless its serial is there. Returns 0 or -errno. */
int ca_index_add(CaIndex *idx, const char *name, gnutls_x509_crt_t crt);

/* The exclusive lock of CA `ca_name`'s index (waits for it); close the fd to release. Returns fd or -errno. */
int ca_index_lock(const char *state_dir, const char *ca_name);

/* Record a leaf the CA just issued: lock, load, add, save. Returns 0 or -errno (logged). */
int ca_index_record(const char *state_dir, const char *ca_name, const char *name, gnutls_x509_crt_t crt);

/* Lowercase hex of a serial's DER octets as x509 facts print it (sign-padding zero octets dropped);
 * malloc'd, NULL on OOM. */
char *ca_index_hex_serial(const uint8_t *d, size_t n);

/* Lowercase hex of a serial given by an operator ("0A:1b…" → "0a1b…", leading zero octets dropped as
 * x509 facts print them). Returns 0 or -EINVAL. */
int ca_index_normalize_serial(const char *s, char **ret);
