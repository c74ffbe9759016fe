/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The ACME transport, and nothing of the protocol: libcurl easy handles kept in a pool (each keeps its
 * connection), one exchange at a time with time limits, the retry decision (exponential backoff,
 * Retry-After), waits that a cancel cuts short, and the rule that every URL stays on the origin of the
 * directory. Signing, nonces and accounts are acme.c's, on top of this. */

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "acme-json.h"
#include "config.h"
#include "curl-lib.h"
#include "time-util.h"

#define ACME_BODY_MAX (1024U * 1024U)
/* One transfer's time limits; the retry budget (max-retry-duration) bounds them further. */
#define ACME_CONNECT_TIMEOUT (10 * USEC_PER_SEC)
#define ACME_TRANSFER_TIMEOUT (30 * USEC_PER_SEC)

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

typedef struct AcmeHttp AcmeHttp;

/* A transport for the [acme] section `cfg` (name, ca-bundle, initial-backoff, max-retry-duration). Every
 * URL must have the origin (scheme, host, port) of cfg->directory: a server that names another one is
 * refused (RFC 8555 gives it no reason to, and signed POSTs must not reach other services). Returns 0,
 * -EINVAL (the directory is no http(s) URL), -ENOMEM. */
int acme_http_new(const AcmeConfig *cfg, AcmeHttp **ret);
AcmeHttp *acme_http_free(AcmeHttp *h);

/* Make every wait end and every transfer abort (within about 100 ms) with -ECANCELED, now and from now
 * on. Only sets an atomic flag: safe from any thread and from a signal handler. */
void acme_http_cancel(AcmeHttp *h);
bool acme_http_cancelled(const AcmeHttp *h);
/* acme_http_cancel() for every transport of the process, present and future (SIGTERM). */
void acme_http_cancel_all(void);
/* An absolute CLOCK_MONOTONIC deadline (0: none) after which waits and transfers end with -ETIMEDOUT. */
void acme_http_set_deadline(AcmeHttp *h, usec_t deadline);

/* Sleep `usec`, cut short by a cancel (-ECANCELED) or the deadline (-ETIMEDOUT, without sleeping past it).
 * Returns 0 after the full wait. The calling worker thread blocks: renewals run on worker threads. */
int acme_http_wait(AcmeHttp *h, usec_t usec);

/* The retry state of one logical request (several exchanges). */
typedef struct AcmeRetry {
        usec_t deadline;
        usec_t backoff;
} AcmeRetry;

AcmeRetry acme_retry_start(const AcmeHttp *h);

/* One exchange: method "GET", "HEAD" or "POST" (body: a JWS, sent as application/jose+json). Returns 0
 * when a response came (whatever its status), else -errno: -ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH,
 * -EIO, -EPERM (TLS trust, malformed URL: not worth retrying), -EFBIG (body over ACME_BODY_MAX),
 * -EXDEV (the URL leaves the directory's origin: nothing is sent), -ECANCELED. */
int acme_http_exchange(AcmeHttp *h, const char *method, const char *url, const char *body, bool accept_pem,
                       const AcmeRetry *t, AcmeResponse *ret);
/* Whether the failure (r, resp) is worth another exchange, after waiting for it (which this does):
 * transport errors, 500, 502, 503 and 504, and 429 with a Retry-After that fits the budget. */
bool acme_http_retry_again(AcmeHttp *h, AcmeRetry *t, int r, const AcmeResponse *resp, const char *url);

/* HTTP status to -errno: 0 for 2xx, -EACCES for 401/403, -ENOENT for 404, -EBUSY for 429, -EOPNOTSUPP
 * for 501, -EIO for other 5xx, -EPROTO otherwise. */
int acme_status_to_errno(long status);

/* Unsigned GET (directory, renewalInfo) with retries. Returns 0 for a 2xx, -errno as above. */
int acme_http_get(AcmeHttp *h, const char *url, AcmeResponse *ret);

/* Log "[acme "NAME"] what: URL: HTTP 403 urn:…:unauthorized: detail" (the problem verbatim) or the
 * transport error, and return r. */
int acme_http_log_failure(const AcmeHttp *h, int r, const AcmeResponse *resp, const char *url,
                          const char *what);

/* For the summary line of a session. */
unsigned acme_http_requests(const AcmeHttp *h);
unsigned acme_http_retries(const AcmeHttp *h);
