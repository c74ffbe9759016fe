/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "ca-index.h"
#include "config.h"
#include "time-util.h"
#include "x509.h"

/* Certificate revocation lists: signing an internal CA's CRL and keeping it from lapsing, and
 * reading CRLs to tell whether a certificate is revoked.
 *
 * An internal CA with `crl = PATH` has its CRL re-signed when half of its validity (crl-validity) has
 * passed, right after every revocation, and whenever it is missing, unreadable, or signed with another
 * validity; each new CRL carries the next CRL number (kept in the CA's index, never reused) and is
 * followed by the CA's `reload` units and `exec` hook. */

/* CRL files are read whole up to this size. */
#define CRL_FILE_MAX (64U * 1024U * 1024U)

/* A CRL's facts. */
typedef struct CrlInfo {
        usec_t this_update;
        usec_t next_update; /* 0: none given */
        uint64_t number;    /* 0 when it carries none */
        char *issuer;       /* RFC 4514, escaped like CertFacts.issuer */
        char **serials;     /* revoked serials, lowercase hex, NULL-terminated */
        usec_t *revoked_at; /* indexed like serials */
        int8_t *reasons; /* indexed like serials: the entry's reasonCode (CrlReason), -1 when none given */
        size_t n;
} CrlInfo;

void crl_info_done(CrlInfo *i);
/* PEM or DER, the first CRL of the data; its signature is not checked (crl_read_verified does). Returns
 * 0, -EBADMSG (not a CRL), -ENOMEM. Pure (crl-read.c). */
int crl_parse(const uint8_t *data, size_t size, CrlInfo *ret);

/* The reasonCode of each of the `n` revoked entries of a DER CRL (GnuTLS reads none), -1 where an entry
 * gives none. Returns 0, or -EBADMSG when the DER is not a CRL of `n` entries. Pure. */
int crl_entry_reasons(const uint8_t *der, size_t size, size_t n, int8_t *ret_reasons);

/* Whom a CRL speaks for, once its signature was checked. */
typedef enum CrlTrust {
        CRL_FOR_ISSUER, /* signed by the key of the CA that issued the leaf: revokes it, counts as fresh */
        CRL_FOR_CHAIN, /* signed by another CA of the leaf's chain or ca: counts as fresh, revokes nothing */
        CRL_OTHER_ISSUER, /* issued under a name no CA at hand bears */
        CRL_INVALID, /* under a name of the chain, but not signed by that CA's key: a forgery, or no key to
                           * check it with */
        _CRL_TRUST_MAX,
        _CRL_TRUST_INVALID = -22,
} CrlTrust;

typedef struct CrlVerdict {
        CrlTrust trust;
        CrlInfo info; /* CRL_FOR_ISSUER, CRL_FOR_CHAIN: the facts of that CRL; else empty */
        char *error;  /* CRL_OTHER_ISSUER, CRL_INVALID: why, for a message */
} CrlVerdict;

void crl_verdict_done(CrlVerdict *v);
/* The CRLs of a file (PEM, one or more — a rotated CA publishes one per generation — or one DER) judged
 * against the set's certificate `leaf`: its issuer is the one of `cas` (the rest of its chain and its
 * trust anchors) whose name and key id it names. A CRL counts only when its signature verifies with that
 * CA's key and its authority key id, where it has one, is that key's. The best CRL of the file wins:
 * the issuer's, else one of the chain's. Returns 0, -EBADMSG (no CRL), -ENOMEM. Pure. */
int crl_read_verified(const uint8_t *data, size_t size, gnutls_x509_crt_t leaf, const gnutls_x509_crt_t *cas,
                      unsigned n_cas, CrlVerdict *ret);

/* Sign a version 2 CRL over the revoked entries of `idx` with CRL number `number`, AKI, thisUpdate = now,
 * nextUpdate = now + validity. PEM, gnutls-allocated. Pure. */
int crl_make(gnutls_x509_crt_t ca_crt, gnutls_privkey_t ca_key, const CaIndex *idx, uint64_t number,
             usec_t now, usec_t validity, gnutls_datum_t *ret_pem);

/* Re-sign `ca`'s CRL when due (or always with force), install it atomically, then notify the CA's reload
 * units and exec hook. The caller must not hold the CA's index lock (this takes it) — unless `locked`.
 * *ret_next (may be NULL): when it falls due next (a retry soon after a failure). Returns 1 when a new CRL
 * was installed, 0 when none was due or the CA has no crl, -errno (logged, with when the CRL lapses). */
int crl_refresh(const Inventory *inv, const CaConfig *ca, usec_t now, bool force, bool locked,
                usec_t *ret_next);

/* nextUpdate of `ca`'s own CRL (metrics); 0 when it cannot be read, has none, or is not signed by the
 * CA's key. */
usec_t crl_ca_next_update(const CaConfig *ca);

/* Every CA's crl_refresh(); returns the earliest next deadline (USEC_INFINITY: none). */
usec_t crl_refresh_all(const Inventory *inv, usec_t now);

/* When the earliest CA's CRL falls due (≤ now: one is due now; USEC_INFINITY: none), from the CRL files
 * alone: reads, never signs (the daemon decides on its loop and signs on its worker thread). */
usec_t crl_next_due(const Inventory *inv, usec_t now);

/* Whether the set is checked against CRL files (its `crl`, else its internal CA's): check then gathers
 * the CA certificates crl_check_cert needs. */
bool crl_cert_has_crls(const Inventory *inv, const CertConfig *c);

/* The revocation problems of an inspected certificate set (check): `revoked` when a genuine CRL of the
 * set's (its `crl` files, else its internal CA's crl) lists the serial, or when its installed key is in
 * the compromised-keys list; `crl-invalid` for a CRL file with no CRL signed by the set's issuer (`leaf`,
 * the installed certificate, and `cas`, its chain and trust anchors, as crl_read_verified); then
 * `crl-expiring` / `crl-expired` for the genuine ones. A revocation for key compromise (or without a
 * reason) sets f->key_compromised. Reads files; thread-safe. Returns 0 or -ENOMEM. */
int crl_check_cert(const Inventory *inv, const CertConfig *c, gnutls_x509_crt_t leaf,
                   const gnutls_x509_crt_t *cas, unsigned n_cas, CertFacts *f, usec_t now);

/* The CA row's problems about its own CRL (`crl-expiring`, `crl-expired`: missing, unusable, lapsing
 * because it was not re-signed in time). Returns 0 or -ENOMEM. */
int crl_check_ca(const Inventory *inv, const CaConfig *ca, CertFacts *f, usec_t now);

/* `certherd ca revoke`: mark `serial` of `ca` revoked with `reason` in its index (a serial not in the index
 * is refused, unless `crt` gives the certificate to record first: the set's installed one), add its key
 * to the compromised-keys list for key-compromise, then re-sign the CRL. Returns 0, -EALREADY (revoked
 * before), -ENOENT (no such serial), -errno (logged). */
int crl_revoke(const Inventory *inv, const CaConfig *ca, const char *serial, gnutls_x509_crt_t crt,
               const char *set_name, CrlReason reason, usec_t now);
