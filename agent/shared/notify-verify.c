/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "gnutls-util.h"
#include "log.h"
#include "macro.h"
#include "notify-verify.h"
#include "pin.h"
#include "x509.h"

/* Deploy verification: the leaf a server presents, compared byte for byte with the one we installed. */

/* Every 20 ms for the first half second (a reloaded nginx serves the new certificate ~120 ms after its
 * job is done: finer steps find it sooner), then doubling up to 250 ms. */
#define BACKOFF_FIRST (20 * USEC_PER_SEC / 1000)
#define BACKOFF_FLAT_FOR (500 * USEC_PER_SEC / 1000)
#define BACKOFF_MAX (250 * USEC_PER_SEC / 1000)
#define ATTEMPT_MIN USEC_PER_SEC
/* A server reloading gracefully serves both generations for a while: nginx's old workers accept new
 * connections ~100 ms after the new ones answer. The new leaf counts as deployed once it alone has been
 * served for this long; only then may the old pin be withdrawn (renew publishes pins after verify). */
#define SETTLE (500 * USEC_PER_SEC / 1000)

/* PostgreSQL's SSLRequest: Int32 length 8, Int32 code 80877103 (protocol-flow.html, "SSL Session
 * Encryption"); the server answers one byte, 'S' (go on with TLS) or 'N' (no SSL). */
static const uint8_t pg_ssl_request[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };

static void session_freep(gnutls_session_t *s) {
        if (*s)
                gnutls_deinit(*s);
}

static void cred_freep(gnutls_certificate_credentials_t *c) {
        if (*c)
                gnutls_certificate_free_credentials(*c);
}

static int parse_port(const char *s, size_t n, char ret[6]) {
        unsigned long v = 0;

        if (n == 0 || n > 5)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned long) (s[i] - '0');
        }
        if (v == 0 || v > 65535)
                return -EINVAL;
        snprintf(ret, 6, "%lu", v);
        return 0;
}

int notify_endpoint_parse(const char *s, NotifyEndpoint *ret) {
        NotifyEndpoint e = {};
        const char *host, *host_end, *port, *query;
        unsigned char buf[sizeof(struct in6_addr)];

        if (!s || strncmp(s, "tls://", 6) != 0)
                return -EINVAL;
        host = s + 6;
        if (*host == '[') {
                host_end = strchr(++host, ']');
                if (!host_end || host_end[1] != ':')
                        return -EINVAL;
                port = host_end + 2;
        } else {
                host_end = host + strcspn(host, ":/?[]@");
                if (*host_end != ':')
                        return -EINVAL;
                port = host_end + 1;
        }
        if (host_end == host || (size_t) (host_end - host) >= sizeof(e.host))
                return -EINVAL;
        memcpy(e.host, host, (size_t) (host_end - host));

        query = port + strcspn(port, "?");
        if (parse_port(port, (size_t) (query - port), e.port) < 0)
                return -EINVAL;
        if (*query && strcmp(query, "?starttls=postgres") != 0)
                return -EINVAL;
        e.starttls = *query ? NOTIFY_STARTTLS_POSTGRES : NOTIFY_STARTTLS_NONE;

        e.host_is_ip = inet_pton(AF_INET6, e.host, buf) == 1 || inet_pton(AF_INET, e.host, buf) == 1;
        if (host[-1] == '[' && inet_pton(AF_INET6, e.host, buf) != 1)
                return -EINVAL;
        if (!e.host_is_ip &&
            strspn(e.host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") !=
                    strlen(e.host))
                return -EINVAL;
        *ret = e;
        return 0;
}

/* Wait until fd is ready for `events` or the deadline passes. Returns 0, -ETIMEDOUT or -errno. */
static int fd_wait(int fd, short events, usec_t deadline) {
        for (;;) {
                struct pollfd p = { .fd = fd, .events = events };
                usec_t n = now_monotonic();
                int r;

                if (n >= deadline)
                        return -ETIMEDOUT;
                r = poll(&p, 1,
                         (int) ((deadline - n + 999) / 1000 > 60000 ? 60000 : (deadline - n + 999) / 1000));
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r > 0)
                        return 0;
        }
}

static int connect_one(const struct addrinfo *ai, usec_t deadline) {
        _cleanup_close_ int fd = -1;
        socklen_t len = sizeof(int);
        int r, err = 0;

        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0)
                return -errno;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
                if (errno != EINPROGRESS)
                        return -errno;
                r = fd_wait(fd, POLLOUT, deadline);
                if (r < 0)
                        return r;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                        return -errno;
                if (err != 0)
                        return -err;
        }
        return TAKE_FD(fd);
}

/* A connected non-blocking socket to the endpoint (every address it resolves to, in order). */
static int connect_endpoint(const NotifyEndpoint *e, usec_t deadline) {
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *ais = NULL;
        int r, fd = -EHOSTUNREACH;

        if (e->host_is_ip)
                hints.ai_flags |= AI_NUMERICHOST;
        r = getaddrinfo(e->host, e->port, &hints, &ais);
        if (r != 0)
                return r == EAI_SYSTEM   ? -errno
                       : r == EAI_MEMORY ? -ENOMEM
                       : r == EAI_AGAIN  ? -EAGAIN
                                         : -EHOSTUNREACH;
        for (struct addrinfo *ai = ais; ai; ai = ai->ai_next) {
                fd = connect_one(ai, deadline);
                if (fd >= 0 || fd == -ETIMEDOUT)
                        break;
        }
        freeaddrinfo(ais);
        return fd;
}

static int postgres_starttls(int fd, usec_t deadline) {
        size_t done = 0;
        char answer;
        ssize_t n;
        int r;

        while (done < sizeof(pg_ssl_request)) {
                r = fd_wait(fd, POLLOUT, deadline);
                if (r < 0)
                        return r;
                n = send(fd, pg_ssl_request + done, sizeof(pg_ssl_request) - done, MSG_NOSIGNAL);
                if (n < 0 && errno != EAGAIN && errno != EINTR)
                        return -errno;
                if (n > 0)
                        done += (size_t) n;
        }
        for (;;) {
                r = fd_wait(fd, POLLIN, deadline);
                if (r < 0)
                        return r;
                n = recv(fd, &answer, 1, 0);
                if (n == 1)
                        break;
                if (n == 0)
                        return -ECONNRESET;
                if (errno != EAGAIN && errno != EINTR)
                        return -errno;
        }
        /* Exactly one byte was read: nothing the server sent unencrypted can leak into the TLS stream. */
        return answer == 'S' ? 0 : answer == 'N' ? -EPROTONOSUPPORT : -EBADMSG;
}

static int tls_handshake(gnutls_session_t s, int fd, usec_t deadline) {
        for (;;) {
                int r = gnutls_handshake(s);

                if (r == GNUTLS_E_SUCCESS)
                        return 0;
                if (gnutls_error_is_fatal(r))
                        return r == GNUTLS_E_PREMATURE_TERMINATION || r == GNUTLS_E_PUSH_ERROR ||
                                               r == GNUTLS_E_PULL_ERROR
                                       ? -ECONNRESET
                                       : -EPROTO;
                r = fd_wait(fd, gnutls_record_get_direction(s) ? POLLOUT : POLLIN, deadline);
                if (r < 0)
                        return r;
        }
}

/* One attempt: connect, maybe STARTTLS, handshake; the served leaf's DER into *ret. */
static int fetch_leaf(const NotifyEndpoint *e, usec_t deadline, gnutls_datum_t *ret) {
        _cleanup_(cred_freep) gnutls_certificate_credentials_t cred = NULL;
        _cleanup_(session_freep) gnutls_session_t s = NULL;
        _cleanup_close_ int fd = -1;
        const gnutls_datum_t *peers;
        unsigned n = 0;
        int r;

        fd = connect_endpoint(e, deadline);
        if (fd < 0)
                return fd;
        if (e->starttls == NOTIFY_STARTTLS_POSTGRES) {
                r = postgres_starttls(fd, deadline);
                if (r < 0)
                        return r;
        }

        /* No trust check on purpose: what counts is that the served leaf is the one just installed. */
        if (gnutls_certificate_allocate_credentials(&cred) < 0 ||
            gnutls_init(&s, GNUTLS_CLIENT | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL) < 0)
                return -ENOMEM;
        if ((r = gnutls_set_default_priority(s)) < 0 ||
            (r = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred)) < 0)
                return errno_from_gnutls(r);
        if (!e->host_is_ip && (r = gnutls_server_name_set(s, GNUTLS_NAME_DNS, e->host, strlen(e->host))) < 0)
                return errno_from_gnutls(r);
        gnutls_transport_set_int(s, fd);

        r = tls_handshake(s, fd, deadline);
        if (r < 0)
                return r;
        peers = gnutls_certificate_get_peers(s, &n);
        if (!peers || n == 0)
                return -ENOKEY;
        ret->data = gnutls_malloc(peers[0].size);
        if (!ret->data)
                return -ENOMEM;
        memcpy(ret->data, peers[0].data, peers[0].size);
        ret->size = peers[0].size;
        (void) gnutls_bye(s, GNUTLS_SHUT_WR); /* a close_notify, so servers do not log an abrupt EOF */
        return 0;
}

/* Serial (hex) and base64 pin of a DER certificate, for messages; "?" where it cannot be read. */
static void describe_leaf(const uint8_t *der, size_t size, char serial[128], char pin[64]) {
        _cleanup_x509_crt_ gnutls_x509_crt_t crt = NULL;
        _cleanup_datum_ gnutls_datum_t spki = {};
        _cleanup_free_ char *p = NULL;
        gnutls_datum_t d = { (unsigned char *) der, (unsigned) size };
        uint8_t raw[64], digest[PIN_SIZE];
        size_t raw_size = sizeof(raw), skip = 0;

        snprintf(serial, 128, "?");
        snprintf(pin, 64, "?");
        if (gnutls_x509_crt_init(&crt) >= 0 && gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_DER) >= 0 &&
            gnutls_x509_crt_get_serial(crt, raw, &raw_size) >= 0) {
                /* As `certherd check` prints it: without the DER integer's leading zero bytes. */
                while (skip + 1 < raw_size && raw[skip] == 0)
                        skip++;
                for (size_t i = skip; i < raw_size && 2 * (i - skip) + 2 < 128; i++)
                        snprintf(serial + 2 * (i - skip), 3, "%02x", raw[i]);
        }
        if (x509_spki_from_data(der, size, NULL, &spki) >= 0 &&
            pin_compute(spki.data, spki.size, digest) >= 0 && pin_format(digest, PIN_FORMAT_BASE64, &p) >= 0)
                snprintf(pin, 64, "%s", p);
}

/* Logs the event; a mismatch's message also goes to *reterr (when non-NULL) for the caller to record. */
static void verify_event(char **reterr, CertEvent ev, const char *cert, const char *endpoint,
                         const char *pin, const char *fmt, ...) _printf_(6, 7);
static void verify_event(char **reterr, CertEvent ev, const char *cert, const char *endpoint,
                         const char *pin, const char *fmt, ...) {
        char f_end[320], f_pin[80], msg[1024];
        const char *fields[] = { f_end, pin ? f_pin : NULL, NULL };
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        snprintf(f_end, sizeof(f_end), "CERTHERD_ENDPOINT=%s", endpoint);
        snprintf(f_pin, sizeof(f_pin), "CERTHERD_PIN=%s", pin ? pin : "");
        if (reterr && ev != CERT_EVENT_DEPLOY_VERIFIED)
                *reterr = strdup(msg);
        log_cert_event(ev, cert, fields, "%s", msg);
}

static void sleep_until(usec_t t) {
        struct timespec ts = { .tv_sec = (time_t) (t / USEC_PER_SEC),
                               .tv_nsec = (long) (t % USEC_PER_SEC) * 1000 };

        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
                ;
}

static bool same_der(const gnutls_datum_t *d, const uint8_t *der, size_t size) {
        return d->data && d->size == size && memcmp(d->data, der, size) == 0;
}

/* Attempts until the served leaf is `expected` — and only it, for SETTLE — or the deadline passes.
 * Returns 1 when it matched, 0 when
 * the last telling attempt found another leaf (in *served), -errno when none got that far. An attempt cut
 * short by the deadline does not hide what an earlier one found. */
static int attempt_until(const NotifyEndpoint *e, const uint8_t *expected, size_t size, usec_t start,
                         usec_t deadline, gnutls_datum_t *served, unsigned *attempts, usec_t *ret_matched) {
        usec_t backoff = BACKOFF_FIRST, n, matched_since = 0;
        int result = -ETIMEDOUT;

        for (;;) {
                _cleanup_datum_ gnutls_datum_t leaf = {};
                int r;

                if (matched_since ==
                    0) /* count the attempts it took to see the new leaf, not the settling */
                        (*attempts)++;
                r = fetch_leaf(
                        e, *attempts == 1 && deadline - start < ATTEMPT_MIN ? start + ATTEMPT_MIN : deadline,
                        &leaf);
                if (r >= 0 && same_der(&leaf, expected, size)) {
                        n = now_monotonic();
                        if (matched_since == 0)
                                *ret_matched = matched_since = n;
                        if (n - matched_since >= SETTLE || n >= deadline)
                                return 1;
                        sleep_until(n + BACKOFF_FIRST);
                        continue;
                }
                matched_since = 0; /* the previous generation answered again: settle anew */
                if (r != -ETIMEDOUT || *attempts == 1) {
                        gnutls_free(served->data);
                        *served = leaf;
                        leaf = (gnutls_datum_t){};
                        result = r < 0 ? r : 0;
                }
                n = now_monotonic();
                if (n >= deadline || deadline - n <= backoff)
                        return result;
                sleep_until(n + backoff);
                if (n - start >= BACKOFF_FLAT_FOR)
                        backoff = backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2;
        }
}

int notify_verify(const char *endpoint, const uint8_t *expected_der, size_t expected_size,
                  const char *cert_name, usec_t timeout, char **reterr) {
        _cleanup_datum_ gnutls_datum_t served = {};
        usec_t start = now_monotonic(), deadline, matched = 0;
        char serial[128], pin[64], want_serial[128], want_pin[64];
        unsigned attempts = 0;
        NotifyEndpoint e;
        double took;
        int r;

        r = notify_endpoint_parse(endpoint, &e);
        if (r < 0) {
                if (reterr &&
                    asprintf(reterr,
                             "invalid verify endpoint '%s' (want tls://HOST:PORT[?starttls=postgres])",
                             endpoint) < 0)
                        *reterr = NULL;
                return log_error_errno(
                        r, "%s: invalid verify endpoint '%s' (want tls://HOST:PORT[?starttls=postgres])",
                        cert_name, endpoint);
        }
        deadline = timeout > USEC_INFINITY - start ? USEC_INFINITY : start + timeout;

        r = attempt_until(&e, expected_der, expected_size, start, deadline, &served, &attempts, &matched);
        took = (double) ((r > 0 ? matched : now_monotonic()) - start) / USEC_PER_SEC;
        describe_leaf(expected_der, expected_size, want_serial, want_pin);
        if (r > 0) {
                verify_event(NULL, CERT_EVENT_DEPLOY_VERIFIED, cert_name, endpoint, want_pin,
                             "%s serves the installed certificate (serial %s) after %u attempt%s in %.3f s",
                             endpoint, want_serial, attempts, attempts == 1 ? "" : "s", took);
                return 0;
        }
        if (r == 0) {
                describe_leaf(served.data, served.size, serial, pin);
                verify_event(
                        reterr, CERT_EVENT_DEPLOY_MISMATCH, cert_name, endpoint, pin,
                        "%s serves serial %s (pin %s), not the installed serial %s (pin %s); %u attempt%s in %.3f s",
                        endpoint, serial, pin, want_serial, want_pin, attempts, attempts == 1 ? "" : "s",
                        took);
                return -EPROTO;
        }
        verify_event(reterr, CERT_EVENT_DEPLOY_MISMATCH, cert_name, endpoint, NULL,
                     "%s: cannot verify the installed certificate (serial %s): %s; %u attempt%s in %.3f s",
                     endpoint, want_serial,
                     r == -EPROTONOSUPPORT ? "the server refuses SSL (SSLRequest answered 'N')"
                                           : strerror(-r),
                     attempts, attempts == 1 ? "" : "s", took);
        return r;
}
