/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

/* CAA (RFC 8659) with the account and method bindings of RFC 8657: the records that lock a set's names
 * to this ACME account and challenge type (`acme caa-record`), and whether the published ones would make
 * the CA refuse this account or challenge type (`check`: caa-mismatch). */

typedef struct CaaRecord {
        uint8_t flags;
        char *tag;   /* lowercase */
        char *value; /* as published; control characters replaced by spaces */
} CaaRecord;

typedef struct CaaSet {
        char *owner; /* where the relevant record set was found (the name or one of its parents) */
        CaaRecord *records;
        size_t n;
} CaaSet;

void caa_set_done(CaaSet *s);

/* One CAA RDATA (flags, tag length, tag, value). Returns 0, -EBADMSG, -ENOMEM. */
int caa_parse_rdata(const uint8_t *p, size_t n, CaaRecord *ret);

typedef enum CaaVerdict {
        CAA_PERMITTED,        /* no issue restriction, or a record lets this CA, account and method issue */
        CAA_OTHER_CA,         /* issue records name other CAs only (or forbid all) */
        CAA_ACCOUNT,          /* a record names this CA, but for another accounturi */
        CAA_METHOD,           /* a record names this CA and account, but not this validation method */
        CAA_CRITICAL_UNKNOWN, /* a critical property the CA cannot know: it must refuse */
        _CAA_VERDICT_MAX,
        _CAA_VERDICT_INVALID = -EINVAL,
} CaaVerdict;

/* Pure: the verdict of a relevant record set for a name (issuewild rules a wildcard name where present),
 * for a CA known by `identities` (its caaIdentities, NULL-terminated), `account` (its URL; NULL: unknown,
 * then accounturi is not judged) and `method` (the challenge type, e.g. "http-01"). */
CaaVerdict caa_judge(const CaaSet *set, bool wildcard, char *const *identities, const char *account,
                     const char *method);

/* The relevant record set of `name` (a leading "*." is dropped): its own CAA records, else its parent's,
 * climbing to the top-level domain (RFC 8659 §3). An empty set (n == 0) when none publishes any.
 * Returns 0, -EHOSTUNREACH (a lookup failed: no verdict), -ENOMEM. */
int caa_lookup(const char *name, CaaSet *ret);

/* The zone file line that locks `name` to the CA `identity`, `account` and `method`:
 * `example.org. IN CAA 0 issue "ca.example; accounturi=URL; validationmethods=http-01"` (issuewild for a
 * wildcard name, at the name without "*."). */
int caa_record_line(const char *name, const char *identity, const char *account, const char *method,
                    char **ret);

/* `acme caa-record CERTIFICATE`: the CAA records of each DNS name of `c` on `out`, for this account (looked
 * up, or registered, at the server) and the section's challenge type, for every caaIdentity the
 * server's directory names. Returns 0, -ENOENT (the server names no caaIdentities: logged), -errno
 * (logged). */
int caa_print_records(const Inventory *inv, const CertConfig *c, FILE *out);

/* Without network: the CA identities saved from the directory of `a` (STATE/acme/NAME/caa-identities,
 * written by every session). *ret NULL when none are known. Returns 0 or -ENOMEM. */
int caa_saved_identities(const Inventory *inv, const AcmeConfig *a, char ***ret);

/* `check` for one ACME set: the first of its DNS names whose published CAA would make the CA refuse this
 * account or challenge type, as a message in *ret_message ("caa.example: CAA … names another account"),
 * or NULL. Names whose lookup fails are skipped (no verdict). Returns 0 or -ENOMEM. */
int caa_check_set(const Inventory *inv, const CertConfig *c, char **ret_message);
