/* SPDX-License-Identifier: GPL-3.0-or-later */
/* tls-alpn-01 (RFC 8737): a GnuTLS server that completes a handshake only for ALPN "acme-tls/1" and a
 * server name we were asked to answer for, presenting a self-signed certificate for that name with the
 * critical acmeIdentifier extension (SHA-256 of the key authorization). An IP address (RFC 8738 §6) is
 * asked for by its reverse-DNS name in SNI ("1.0.0.127.in-addr.arpa") and answered with the address as
 * an iPAddress SAN. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <fcntl.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "acme-internal.h"
#include "gnutls-util.h"
#include "keygen.h"
#include "log.h"
#include "time-util.h"

#define OID_ACME_IDENTIFIER "1.3.6.1.5.5.7.1.31"

typedef struct AlpnEntry {
        char *identifier;
        char *server_name; /* what SNI names: the identifier, or the reverse name of an IP address */
        gnutls_datum_t cert_der;
        unsigned refs;
        struct AlpnEntry *next;
} AlpnEntry;

typedef struct Alpn {
        gnutls_x509_privkey_t key; /* one key for every answer certificate */
        gnutls_certificate_credentials_t cred;
        AlpnEntry *entries;
} Alpn;

/* Per connection: the session, and what the retrieve callback hands GnuTLS, freed after the session. */
typedef struct AlpnConn {
        Challenger *c;
        gnutls_session_t session;
        bool have_pcert;
        gnutls_pcert_st pcert;
        gnutls_privkey_t pkey;
} AlpnConn;

static Alpn *alpn(Challenger *c) {
        return c->backend;
}

static void entry_free(AlpnEntry *e) {
        free(e->identifier);
        free(e->server_name);
        gnutls_free(e->cert_der.data);
        free(e);
}

static int retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                    const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length, gnutls_pcert_st **pcert,
                    unsigned *pcert_length, gnutls_privkey_t *pkey) {
        AlpnConn *conn = gnutls_session_get_ptr(session);
        Alpn *a = alpn(conn->c);
        char name[256];
        size_t len = sizeof(name) - 1;
        unsigned type;
        gnutls_datum_t der = {};
        gnutls_x509_privkey_t copy = NULL;
        int r;

        if (gnutls_server_name_get(session, name, &len, &type, 0) < 0 || type != GNUTLS_NAME_DNS)
                return -1;
        name[len] = 0;

        pthread_mutex_lock(&conn->c->lock);
        for (AlpnEntry *e = a->entries; e; e = e->next)
                if (strcasecmp(e->server_name, name) == 0) {
                        der.data = gnutls_malloc(e->cert_der.size);
                        if (der.data) {
                                memcpy(der.data, e->cert_der.data, e->cert_der.size);
                                der.size = e->cert_der.size;
                        }
                        break;
                }
        pthread_mutex_unlock(&conn->c->lock);
        if (!der.data)
                return -1;

        r = gnutls_pcert_import_x509_raw(&conn->pcert, &der, GNUTLS_X509_FMT_DER, 0);
        gnutls_free(der.data);
        if (r < 0)
                return -1;
        conn->have_pcert = true;
        /* A copy of the key per connection: the privkey takes ownership of what it imports, and each
         * connection frees its own with its session. */
        if (gnutls_x509_privkey_init(&copy) < 0)
                return -1;
        if (gnutls_x509_privkey_cpy(copy, a->key) < 0 || gnutls_privkey_init(&conn->pkey) < 0 ||
            gnutls_privkey_import_x509(conn->pkey, copy, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE) < 0) {
                gnutls_x509_privkey_deinit(copy);
                return -1;
        }
        *pcert = &conn->pcert;
        *pcert_length = 1;
        *pkey = conn->pkey;
        return 0;
}

static int tls_open(void *userdata, void *conn_, int fd) {
        static const gnutls_datum_t proto = { .data = (unsigned char *) "acme-tls/1", .size = 10 };
        AlpnConn *conn = conn_;
        Challenger *c = userdata;

        conn->c = c;
        /* A validation server that hangs up mid-handshake must not kill us with SIGPIPE when the
         * handshake writes to it: GnuTLS then sends with MSG_NOSIGNAL and gets EPIPE instead. */
        if (gnutls_init(&conn->session, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL) < 0) {
                conn->session = NULL;
                return -ENOMEM;
        }
        gnutls_session_set_ptr(conn->session, conn);
        if (gnutls_set_default_priority(conn->session) < 0 ||
            gnutls_credentials_set(conn->session, GNUTLS_CRD_CERTIFICATE, alpn(c)->cred) < 0 ||
            gnutls_alpn_set_protocols(conn->session, &proto, 1, GNUTLS_ALPN_MANDATORY) < 0) {
                gnutls_deinit(conn->session);
                conn->session = NULL;
                return -EIO;
        }
        gnutls_transport_set_int(conn->session, fd);
        return 0;
}

/* The handshake, one step at a time as bytes arrive; the responder holds the connection's deadline. The
 * validation ends with the handshake: the CA reads the certificate presented and closes. */
static int tls_step(void *userdata, void *conn_, int fd) {
        AlpnConn *conn = conn_;
        int r;

        for (;;) {
                r = gnutls_handshake(conn->session);
                if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
                        return gnutls_record_get_direction(conn->session) ? RESPONDER_WANT_WRITE
                                                                          : RESPONDER_WANT_READ;
                if (r >= 0 || gnutls_error_is_fatal(r))
                        break;
        }
        if (r >= 0)
                (void) gnutls_bye(conn->session, GNUTLS_SHUT_WR);
        else
                log_debug("[acme \"%s\"] tls-alpn-01 handshake: %s", conn->c->cfg->name, gnutls_strerror(r));
        return RESPONDER_DONE;
}

static void tls_close(void *userdata, void *conn_) {
        AlpnConn *conn = conn_;

        if (conn->session)
                gnutls_deinit(conn->session);
        if (conn->have_pcert)
                gnutls_pcert_deinit(&conn->pcert);
        if (conn->pkey)
                gnutls_privkey_deinit(conn->pkey);
}

static const ResponderProto tls_proto = {
        .conn_size = sizeof(AlpnConn),
        .open = tls_open,
        .step = tls_step,
        .close = tls_close,
};

static int alpn_start(Challenger *c) {
        Alpn *a;
        int r;

        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        c->backend = a;
        r = keygen_generate(KEY_TYPE_EC_P256, &a->key);
        if (r >= 0 && gnutls_certificate_allocate_credentials(&a->cred) < 0)
                r = -ENOMEM;
        if (r < 0) {
                log_error_errno(r, "[acme \"%s\"] cannot set up the tls-alpn-01 responder: %m",
                                c->cfg->name);
                goto fail;
        }
        gnutls_certificate_set_retrieve_function2(a->cred, retrieve);
        r = responder_start(&c->responder, c->cfg, &tls_proto, c);
        if (r < 0)
                goto fail;
        return 0;
fail:
        if (a->cred)
                gnutls_certificate_free_credentials(a->cred);
        if (a->key)
                gnutls_x509_privkey_deinit(a->key);
        free(a);
        c->backend = NULL;
        return r;
}

/* RFC 8738 §6 (after RFC 1035 §3.5 and RFC 3596 §2.5): the reverse-DNS name of an address, or NULL
 * (and 0) when s is no IP address. Returns 0 or -ENOMEM. */
int challenge_alpn_reverse_name(const char *s, char **ret) {
        uint8_t a[16];
        char buf[73], *p = buf;

        if (inet_pton(AF_INET, s, a) == 1)
                return asprintf(ret, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]) < 0 ? -ENOMEM : 0;
        if (inet_pton(AF_INET6, s, a) != 1) {
                *ret = NULL;
                return 0;
        }
        for (int i = 15; i >= 0; i--)
                p += sprintf(p, "%x.%x.", a[i] & 0xf, a[i] >> 4);
        return asprintf(ret, "%sip6.arpa", buf) < 0 ? -ENOMEM : 0;
}

/* The subjectAltName of the answer: a dNSName, or an iPAddress for an address. */
static int set_san(gnutls_x509_crt_t crt, const char *identifier) {
        uint8_t a[16];

        if (inet_pton(AF_INET, identifier, a) == 1)
                return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, a, 4,
                                                            GNUTLS_FSAN_SET);
        if (inet_pton(AF_INET6, identifier, a) == 1)
                return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, a, 16,
                                                            GNUTLS_FSAN_SET);
        return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, identifier,
                                                    (unsigned) strlen(identifier), GNUTLS_FSAN_SET);
}

/* The answer certificate of RFC 8737 §3. */
static int make_cert(Alpn *a, const char *identifier, const char *key_authorization, gnutls_datum_t *ret) {
        _cleanup_x509_crt_ gnutls_x509_crt_t crt = NULL;
        uint8_t ext[2 + 32] = { 0x04, 0x20 }, serial[16];
        time_t now = time(NULL);
        int r;

        r = gnutls_hash_fast(GNUTLS_DIG_SHA256, key_authorization, strlen(key_authorization), ext + 2);
        if (r < 0)
                return errno_from_gnutls(r);
        r = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial));
        if (r < 0)
                return errno_from_gnutls(r);
        serial[0] &= 0x7f;
        if (gnutls_x509_crt_init(&crt) < 0)
                return -ENOMEM;
        if ((r = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
            (r = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial))) < 0 ||
            (r = gnutls_x509_crt_set_activation_time(crt, now - 3600)) < 0 ||
            (r = gnutls_x509_crt_set_expiration_time(crt, now + 7 * 86400)) < 0 ||
            (r = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, "certherd tls-alpn-01",
                                               20)) < 0 ||
            (r = set_san(crt, identifier)) < 0 ||
            (r = gnutls_x509_crt_set_extension_by_oid(crt, OID_ACME_IDENTIFIER, ext, sizeof(ext), 1)) < 0 ||
            (r = gnutls_x509_crt_set_key(crt, a->key)) < 0 ||
            (r = gnutls_x509_crt_sign2(crt, crt, a->key, GNUTLS_DIG_SHA256, 0)) < 0 ||
            (r = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, ret)) < 0)
                return errno_from_gnutls(r);
        return 0;
}

static int alpn_add(Challenger *c, const ChallengeItem *it) {
        Alpn *a = alpn(c);
        AlpnEntry *e;
        int r;

        e = calloc(1, sizeof(*e));
        if (!e || !(e->identifier = strdup(it->identifier)) ||
            challenge_alpn_reverse_name(it->identifier, &e->server_name) < 0 ||
            (!e->server_name && !(e->server_name = strdup(it->identifier)))) {
                if (e)
                        entry_free(e);
                return -ENOMEM;
        }
        r = make_cert(a, it->identifier, it->key_authorization, &e->cert_der);
        if (r < 0) {
                entry_free(e);
                return log_error_errno(r, "[acme \"%s\"] cannot make the tls-alpn-01 certificate for %s: %m",
                                       c->cfg->name, it->identifier);
        }
        e->refs = 1;
        /* The newest answer for a name wins (a second order for the same name brings a new token). */
        pthread_mutex_lock(&c->lock);
        e->next = a->entries;
        a->entries = e;
        pthread_mutex_unlock(&c->lock);
        return 0;
}

static void alpn_remove(Challenger *c, const ChallengeItem *it) {
        Alpn *a = alpn(c);

        pthread_mutex_lock(&c->lock);
        for (AlpnEntry **p = &a->entries; *p; p = &(*p)->next)
                if (strcmp((*p)->identifier, it->identifier) == 0) {
                        AlpnEntry *e = *p;

                        *p = e->next;
                        entry_free(e);
                        break;
                }
        pthread_mutex_unlock(&c->lock);
}

static void alpn_stop(Challenger *c) {
        Alpn *a = alpn(c);

        responder_stop(&c->responder);
        if (!a)
                return;
        for (AlpnEntry *e = a->entries, *next; e; e = next) {
                next = e->next;
                entry_free(e);
        }
        gnutls_certificate_free_credentials(a->cred);
        gnutls_x509_privkey_deinit(a->key);
        free(a);
        c->backend = NULL;
}

const ChallengeOps challenge_alpn_ops = {
        .start = alpn_start,
        .add = alpn_add,
        .remove = alpn_remove,
        .stop = alpn_stop,
};
