/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* dns-persist-01 (draft-ietf-acme-dns-persist): one standing TXT record at _validation-persist.NAME whose
 * value is an RFC 8659 issue-value, "ISSUER-DOMAIN; accounturi=ACCOUNT-URL" (optionally "; policy=wildcard",
 * "; persistUntil=…"), binds NAME to one CA and one ACME account; the CA checks it at every order, so the
 * host needs no DNS credentials. This module formats and matches that record (pure) and looks it up
 * through the system resolver (libresolv, res_nquery; getaddrinfo has no TXT). */

#include <stdbool.h>

#include "config.h"

/* "_validation-persist.NAME" for a DNS name (a leading "*." dropped: the record of a wildcard sits at the
 * base name). Returns 0 or -ENOMEM. */
int persist_record_name(const char *name, char **ret);
/* "ISSUER; accounturi=URL", and "; policy=wildcard" when `wildcard`. Returns 0 or -ENOMEM. */
int persist_record_value(const char *issuer, const char *account, bool wildcard, char **ret);

typedef enum PersistMatch {
        PERSIST_MISSING,       /* no TXT record at all (or no record for this issuer) */
        PERSIST_OTHER_ACCOUNT, /* a record for this issuer names another account */
        PERSIST_OK,            /* a record for this issuer names this account */
} PersistMatch;

/* Judge the TXT values found (NULL-terminated, may be NULL) for one of `issuers` (NULL-terminated) and
 * `account`. With ret_issuer the issuer of the matching (or mismatching) record (points into `issuers`). */
PersistMatch persist_match(char *const *values, char *const *issuers, const char *account,
                           const char **ret_issuer);

/* The TXT values at `owner` (each record's strings concatenated), through dns_lookup() (the system's
 * resolvers, or the test suite's). Returns 0 with *ret NULL-terminated
 * (possibly empty: NXDOMAIN or no TXT), or -errno: -EHOSTUNREACH (no answer, SERVFAIL), -ENOMEM. */
int persist_lookup(const char *owner, char ***ret);

/* For `check`: warn (through the system resolver) about each dns-persist-01 set of `certs` (NULL: all)
 * whose standing record is missing or names another account, or whose account or issuer domain is not
 * known yet: its next order would fail. Warnings only: the CA's view of DNS may differ. */
void persist_warn(const Inventory *inv, CertConfig *const *certs);
