/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The pure half of the ACME client: the documents and headers an ACME server sends, parsed into structs,
 * and the checks of what they name (identifiers, URLs). No I/O; everything here takes untrusted input
 * (tests/fuzz/fuzz-acme-json.c drives it). */

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "time-util.h"

/* An RFC 7807 problem document, as the server sent it. */
typedef struct AcmeProblem {
        char *type; /* "urn:ietf:params:acme:error:badNonce"; NULL: no problem document */
        char *detail;
        char *subproblems; /* "identifier: type: detail; …" or NULL */
} AcmeProblem;

void acme_problem_done(AcmeProblem *p);
/* Fill p from a problem object (an error response, order.error, challenge.error). Returns 0 or -EINVAL
 * (no "type" string). */
int acme_problem_from_json(const json_t *j, AcmeProblem *p);
/* Whether p->type is urn:ietf:params:acme:error:`name`. */
bool acme_problem_is(const AcmeProblem *p, const char *name);

typedef struct AcmeDirectory {
        char *new_nonce;
        char *new_account;
        char *new_order;
        char *revoke_cert;
        char *key_change;
        char *renewal_info; /* RFC 9773, NULL when the server has none (or names none: "") */
        char *terms_of_service;
        bool eab_required;
        /* draft-ietf-acme-profiles: meta.profiles, name → description, in the server's order; both
         * NULL-terminated and of the same length; NULL when the server offers no profiles. */
        char **profiles;
        char **profile_descriptions;
        /* RFC 8555 §9.7.6 meta.caaIdentities: the issuer domains the CA recognises in CAA records
         * (NULL-terminated; NULL when the server names none). */
        char **caa_identities;
} AcmeDirectory;

/* RFC 8555 §7.1.1. Returns 0, -EBADMSG (not a directory: newNonce, newAccount or newOrder missing). */
int acme_parse_directory(const char *body, size_t size, AcmeDirectory *ret);
void acme_directory_done(AcmeDirectory *d);

typedef struct AcmeOrder {
        char *status;
        char **authorizations; /* NULL-terminated */
        char *finalize;
        char *certificate;  /* NULL until valid */
        char **identifiers; /* values, NULL-terminated */
        AcmeProblem error;
} AcmeOrder;

/* RFC 8555 §7.1.3. Returns 0 or -EBADMSG. */
int acme_parse_order(const json_t *j, AcmeOrder *ret);
void acme_order_done(AcmeOrder *o);

typedef struct AcmeAuthz {
        char *status;
        char *identifier_type; /* "dns", "ip" */
        char *identifier;      /* value, without "*." */
        bool wildcard;
        /* The challenge of the type asked for, when offered: */
        char *challenge_url;
        char *challenge_status;
        char *token; /* checked to be base64url: it becomes a file name and a URL path; dns-persist-01 has none */
        char **issuer_domain_names; /* dns-persist-01 (draft-ietf-acme-dns-persist): NULL-terminated or NULL */
        AcmeProblem challenge_error;
} AcmeAuthz;

/* RFC 8555 §7.1.4. Returns 0 or -EBADMSG; an authorization without the challenge type is parsed with
 * challenge_url NULL. A dns-persist-01 challenge carries no token but issuer-domain-names (each checked to be
 * a DNS name). The identifier is not judged here: see acme_authz_identifier_check(). */
int acme_parse_authz(const json_t *j, const char *challenge_type, AcmeAuthz *ret);
void acme_authz_done(AcmeAuthz *a);

/* Whether the identifier of an authorization the server sent is one we ordered: a DNS name or IP address
 * (config_san_is_valid) of the type it claims, and ("*." + value when wildcard) among `ordered` (the
 * certificate's names, compared without case). Returns 0, -EBADMSG (not a valid DNS name or IP address:
 * control characters, spaces, …), -EPERM (valid, but not among the names ordered). */
int acme_authz_identifier_check(const AcmeAuthz *a, char *const *ordered);

/* Whether `profile` is among the profiles the directory offers. */
bool acme_directory_has_profile(const AcmeDirectory *d, const char *profile);

/* Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, relative to now. Returns 0 or -EINVAL. */
int acme_parse_retry_after(const char *value, usec_t now, usec_t *ret);
/* The targets of links with rel="`rel`" in one Link header value (RFC 8288), appended to *list
 * (NULL-terminated, malloc'd). Returns the number found or -ENOMEM. */
int acme_parse_link(const char *value, const char *rel, char ***list);
/* RFC 3339 "2025-01-02T03:04:05Z" (fractions and offsets allowed). Returns 0 or -EINVAL. */
int acme_parse_time(const char *s, usec_t *ret);
/* Whether s is a non-empty base64url string (an ACME token). */
bool acme_token_is_valid(const char *s);

/* The origin (RFC 6454: scheme, host, port, the default port made explicit, case folded) of an absolute
 * http(s) URL, as "https://host:443". Returns 0, -EINVAL (not an absolute http or https URL, userinfo,
 * control characters), -ENOMEM. */
int acme_url_origin(const char *url, char **ret);
/* Whether `url` has the origin `origin` (as made by acme_url_origin). */
bool acme_url_has_origin(const char *url, const char *origin);
