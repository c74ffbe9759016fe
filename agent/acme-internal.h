/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* Private to acme*.c (and their unit tests and fuzzer): the session, the transport and the pure parsers
 * of the ACME JSON documents and HTTP headers. */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>
#include <jansson.h>

#include "acme.h"
#include "challenge.h"
#include "jws.h"

#define ACME_BODY_MAX (1024U * 1024U)
#define ACME_NONCE_POOL 64
/* One transfer's time limits; the retry budget (max-retry-duration) bounds them further. */
#define ACME_CONNECT_TIMEOUT (10 * USEC_PER_SEC)
#define ACME_TRANSFER_TIMEOUT (30 * USEC_PER_SEC)
/* How long an order may take to validate or issue before we give up on this run (it stays persisted). */
#define ACME_POLL_MAX (300 * USEC_PER_SEC)
/* Honour Retry-After while polling, but no single wait longer than this. */
#define ACME_POLL_WAIT_MAX (10 * USEC_PER_SEC)
/* badNonce is retried at once with the nonce that came with the error (RFC 8555 §6.5): pebble rejects
 * 5 % (or, in our tests, 30 %) of good nonces, and 0.3^25 is negligible. */
#define ACME_BAD_NONCE_RETRIES 25

/* An RFC 7807 problem document, as the server sent it. */
typedef struct AcmeProblem {
        char *type;   /* "urn:ietf:params:acme:error:badNonce"; NULL: no problem document */
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
        char *renewal_info; /* RFC 9773, NULL when the server has none */
        char *terms_of_service;
        bool eab_required;
} AcmeDirectory;

/* RFC 8555 §7.1.1. Returns 0, -EBADMSG (not a directory: newNonce, newAccount or newOrder missing). */
int acme_parse_directory(const char *body, size_t size, AcmeDirectory *ret);
void acme_directory_done(AcmeDirectory *d);

typedef struct AcmeOrder {
        char *status;
        char **authorizations; /* NULL-terminated */
        char *finalize;
        char *certificate; /* NULL until valid */
        char **identifiers; /* values, NULL-terminated */
        AcmeProblem error;
} AcmeOrder;

/* RFC 8555 §7.1.3. Returns 0 or -EBADMSG. */
int acme_parse_order(const json_t *j, AcmeOrder *ret);
void acme_order_done(AcmeOrder *o);

typedef struct AcmeAuthz {
        char *status;
        char *identifier; /* value, without "*." */
        bool wildcard;
        /* The challenge of the type asked for, when offered: */
        char *challenge_url;
        char *challenge_status;
        char *token; /* checked to be base64url: it becomes a file name and a URL path */
        AcmeProblem challenge_error;
} AcmeAuthz;

/* RFC 8555 §7.1.4. Returns 0 or -EBADMSG; an authorization without the challenge type is parsed with
 * challenge_url NULL. */
int acme_parse_authz(const json_t *j, const char *challenge_type, AcmeAuthz *ret);
void acme_authz_done(AcmeAuthz *a);

/* Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, relative to now. Returns 0 or -EINVAL. */
int acme_parse_retry_after(const char *value, usec_t now, usec_t *ret);
/* The targets of links with rel="`rel`" in one Link header value (RFC 8288), appended to *list
 * (NULL-terminated, malloc'd). Returns the number found or -ENOMEM. */
int acme_parse_link(const char *value, const char *rel, char ***list);
/* RFC 3339 "2025-01-02T03:04:05Z" (fractions and offsets allowed). Returns 0 or -EINVAL. */
int acme_parse_time(const char *s, usec_t *ret);
/* ARI renewalInfo (RFC 9773 §4.2): the suggested window. Returns 0 or -EBADMSG (end before start too). */
int acme_parse_renewal_info(const char *body, size_t size, usec_t *ret_start, usec_t *ret_end);
/* Whether s is a non-empty base64url string (an ACME token). */
bool acme_token_is_valid(const char *s);

/* One HTTP exchange, as received. */
typedef struct AcmeResponse {
        long status; /* 0: no response (transport error) */
        char *body;
        size_t size;
        char *location;
        char *nonce;
        char *content_type;
        char **links; /* raw Link header values, NULL-terminated */
        bool has_retry_after;
        usec_t retry_after; /* relative */
        json_t *json;       /* a JSON body, parsed */
        AcmeProblem problem;
        int curl_code;
        char curl_error[CURL_ERROR_SIZE];
} AcmeResponse;

void acme_response_done(AcmeResponse *r);

struct AcmeSession {
        const Inventory *inv;
        const AcmeConfig *cfg;
        char *dir_path; /* STATE/acme/NAME */
        AcmeDirectory dir;

        pthread_mutex_t account_lock; /* serialises (re-)registration and key rollover */
        pthread_mutex_t lock;         /* everything below */
        JwsKey *key;
        char *kid; /* account URL */
        unsigned account_generation; /* bumped on every (re-)registration */
        char *nonces[ACME_NONCE_POOL];
        size_t n_nonces;
        CURL **easy; /* idle handles, each keeping its connection */
        size_t n_easy;
        Challenger *challenger;

        CURLSH *share; /* DNS cache and TLS sessions across handles */
        pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
        uint8_t *eab_key;
        size_t eab_key_size;

        /* For the summary line at the end of a session. */
        atomic_uint n_requests;
        atomic_uint n_bad_nonces;
        atomic_uint n_retries;
};

int acme_transport_init(AcmeSession *s);
void acme_transport_done(AcmeSession *s);

/* Wait (the calling worker thread blocks: renewals run on worker threads, see renew_many). */
void acme_wait(usec_t usec);

typedef enum AcmePostFlags {
        ACME_POST_JWK = 1 << 0,         /* sign with the JWK instead of the account URL (newAccount) */
        ACME_POST_PEM = 1 << 1,         /* Accept: application/pem-certificate-chain */
        ACME_POST_NO_REREGISTER = 1 << 2, /* accountDoesNotExist is an answer, not a reason to re-register */
} AcmePostFlags;

/* Unsigned GET (directory, renewalInfo) and signed POST (RFC 8555 §6.2, POST-as-GET when payload is
 * NULL), each retried with exponential backoff (initial-backoff, doubling) on transport errors, 5xx and
 * 429 with a Retry-After that fits, until max-retry-duration. badNonce is retried with the nonce of the
 * error. Returns 0 for a 2xx response, else -errno: -ETIMEDOUT/-ECONNREFUSED/-EHOSTUNREACH/-EIO for
 * transport failures, -ENOENT for 404, -EACCES for 401/403, -EBUSY for 429, -EPROTO for other answers;
 * *ret holds what came back either way (for acme_log_failure). Nothing is logged. */
int acme_get(AcmeSession *s, const char *url, AcmeResponse *ret);
int acme_post(AcmeSession *s, const char *url, const char *payload, AcmePostFlags flags, AcmeResponse *ret);

/* Log "[acme "NAME"] what: URL: HTTP 403 urn:…:unauthorized: detail" (the problem verbatim) or the
 * transport error, and return r. */
int acme_log_failure(AcmeSession *s, int r, const AcmeResponse *resp, const char *url, const char *what);

/* Look up (or register) the account again, unless another thread did since it saw `seen_generation`.
 * Returns 0 or -errno (logged). */
int acme_account_ensure(AcmeSession *s, unsigned seen_generation);
/* The challenger of this session, made on first use. */
int acme_session_challenger(AcmeSession *s, Challenger **ret);

/* The persisted order of certificate `name` (STATE/acme/NAME/orders/CERT.json). */
int acme_order_state_load(AcmeSession *s, const char *cert, char **ret_url, char ***ret_names);
int acme_order_state_save(AcmeSession *s, const char *cert, const char *url, char *const *names);
void acme_order_state_remove(AcmeSession *s, const char *cert);
