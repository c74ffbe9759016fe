/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <unistd.h>

#include <jansson.h>

#include "ca-index.h"
#include "fd-util.h"
#include "gnutls-util.h"
#include "json-util.h"
#include "log.h"
#include "x509.h"

#define INDEX_MAX (64U * 1024U * 1024U)
#define INDEX_VERSION 1

static const struct {
        const char *name; /* what certherd writes and prints */
        const char *asn1; /* RFC 5280's ASN.1 spelling, accepted too (`certherd revoke` took these first) */
} reason_table[_CRL_REASON_MAX] = {
        [CRL_REASON_UNSPECIFIED] = { "unspecified", "unspecified" },
        [CRL_REASON_KEY_COMPROMISE] = { "key-compromise", "keyCompromise" },
        [CRL_REASON_CA_COMPROMISE] = { "ca-compromise", "cACompromise" },
        [CRL_REASON_AFFILIATION_CHANGED] = { "affiliation-changed", "affiliationChanged" },
        [CRL_REASON_SUPERSEDED] = { "superseded", "superseded" },
        [CRL_REASON_CESSATION_OF_OPERATION] = { "cessation-of-operation", "cessationOfOperation" },
        [CRL_REASON_CERTIFICATE_HOLD] = { "certificate-hold", "certificateHold" },
        [CRL_REASON_PRIVILEGE_WITHDRAWN] = { "privilege-withdrawn", "privilegeWithdrawn" },
        [CRL_REASON_AA_COMPROMISE] = { "aa-compromise", "aACompromise" },
};

const char *crl_reason_to_string(CrlReason r) {
        return r >= 0 && r < _CRL_REASON_MAX ? reason_table[r].name : NULL;
}

CrlReason crl_reason_from_string(const char *s) {
        char *end;
        long v;

        if (!s || !*s)
                return _CRL_REASON_INVALID;
        for (int i = 0; i < _CRL_REASON_MAX; i++)
                if (reason_table[i].name &&
                    (strcasecmp(s, reason_table[i].name) == 0 || strcasecmp(s, reason_table[i].asn1) == 0))
                        return (CrlReason) i;
        v = strtol(s, &end, 10);
        if (*end || v < 0 || v >= _CRL_REASON_MAX || !reason_table[v].name)
                return _CRL_REASON_INVALID;
        return (CrlReason) v;
}

static void entry_done(void *entry) {
        CaIndexEntry *e = entry;

        free_many(e->serial, e->name, e->subject, e->pin);
        strv_free(e->names);
}

static bool is_hex_serial(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > 40) /* RFC 5280 §4.1.2.2: at most 20 octets */
                return false;
        for (; *s; s++)
                if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
                        return false;
        return true;
}

static int parse_entry(json_t *o, void *entry) {
        CaIndexEntry *e = entry;
        json_t *names, *v;
        const char *status;
        uint8_t pin[PIN_SIZE];
        size_t i;
        int r;

        if ((r = json_get_string(o, "serial", false, &e->serial)) < 0 ||
            (r = json_get_string(o, "name", true, &e->name)) < 0 ||
            (r = json_get_string(o, "subject", true, &e->subject)) < 0 ||
            (r = json_get_string(o, "pin_sha256", false, &e->pin)) < 0 ||
            (r = json_get_seconds(o, "not_after", &e->not_after)) < 0)
                return r;
        if (!is_hex_serial(e->serial) || pin_parse(e->pin, pin, NULL) < 0)
                return -EBADMSG;
        names = json_object_get(o, "names");
        if (!json_is_array(names))
                return -EBADMSG;
        e->names = calloc(json_array_size(names) + 1, sizeof(char *));
        if (!e->names)
                return -ENOMEM;
        json_array_foreach (names, i, v) {
                if (!json_is_string(v) || json_string_length(v) == 0)
                        return -EBADMSG;
                if (!(e->names[i] = strdup(json_string_value(v))))
                        return -ENOMEM;
        }
        v = json_object_get(o, "status");
        status = json_is_string(v) ? json_string_value(v) : "";
        if (strcmp(status, "revoked") == 0) {
                e->revoked = true;
                if ((r = json_get_seconds(o, "revoked_at", &e->revoked_at)) < 0)
                        return r;
                v = json_object_get(o, "reason");
                if (!json_is_string(v) || (e->reason = crl_reason_from_string(json_string_value(v))) < 0)
                        return -EBADMSG;
        } else if (strcmp(status, "valid") != 0)
                return -EBADMSG;
        return 0;
}

static const JsonList entry_list = JSON_LIST("certificates", CaIndexEntry, parse_entry, entry_done);

void ca_index_done(CaIndex *idx) {
        json_list_free(&entry_list, idx->entries, idx->n);
        *idx = (CaIndex){};
}

/* NULL root: no index yet, an empty one. */
static int parse_root(json_t *root, void *ret) {
        json_t *version = json_object_get(root, "version"),
               *crl_number = json_object_get(root, "crl_number");
        CaIndex idx = {};
        int r;

        if (root && (!json_is_integer(version) || json_integer_value(version) != INDEX_VERSION ||
                     !json_is_integer(crl_number) || json_integer_value(crl_number) < 0))
                return -EBADMSG;
        r = json_list_parse(root, &entry_list, (void **) &idx.entries, &idx.n);
        if (r < 0)
                return r;
        idx.crl_number = root ? (uint64_t) json_integer_value(crl_number) : 0;
        *(CaIndex *) ret = idx;
        return 0;
}

int ca_index_parse(const char *text, size_t size, CaIndex *ret) {
        return json_parse_with(text, size, parse_root, ret);
}

static int index_path(const char *state_dir, const char *ca_name, const char *file, char **ret) {
        return asprintf(ret, "%s/ca/%s/%s", state_dir, ca_name, file) < 0 ? -ENOMEM : 0;
}

int ca_index_load(const char *state_dir, const char *ca_name, CaIndex *ret) {
        _cleanup_free_ char *path = NULL;
        int r;

        if (index_path(state_dir, ca_name, "index.json", &path) < 0)
                return -ENOMEM;
        r = json_load_with(path, INDEX_MAX, parse_root, ret);
        if (r == -EBADMSG)
                return log_error_errno(
                        r, "[ca \"%s\"]: %s is damaged; fix or move it aside (nothing was changed)", ca_name,
                        path);
        if (r < 0 && r != -ENOMEM)
                return log_error_errno(r, "[ca \"%s\"]: cannot read its index %s: %m", ca_name, path);
        return r;
}

static json_t *entry_json(const CaIndexEntry *e) {
        json_t *o, *names = json_array();

        for (char **n = e->names; names && n && *n; n++)
                json_array_append_new(names, json_string(*n));
        o = json_pack("{s:s, s:s, s:s, s:o*, s:I, s:s, s:s}", "serial", e->serial, "name", e->name,
                      "subject", e->subject, "names", names, "not_after",
                      (json_int_t) (e->not_after / USEC_PER_SEC), "pin_sha256", e->pin, "status",
                      e->revoked ? "revoked" : "valid");
        if (o && e->revoked) {
                json_object_set_new(o, "revoked_at",
                                    json_integer((json_int_t) (e->revoked_at / USEC_PER_SEC)));
                json_object_set_new(o, "reason", json_string(crl_reason_to_string(e->reason)));
        }
        return o;
}

int ca_index_save(const char *state_dir, const char *ca_name, const CaIndex *idx) {
        _cleanup_(json_decrefp) json_t *list = json_array();
        _cleanup_free_ char *path = NULL;
        int r;

        for (size_t i = 0; list && i < idx->n; i++)
                if (json_array_append_new(list, entry_json(&idx->entries[i])) < 0)
                        return -ENOMEM;
        if (index_path(state_dir, ca_name, "index.json", &path) < 0)
                return -ENOMEM;
        r = mkdir_parents(path, 0700);
        if (r < 0)
                return r;
        return json_save_state_file(path,
                                    json_pack("{s:i, s:I, s:O*}", "version", INDEX_VERSION, "crl_number",
                                              (json_int_t) idx->crl_number, "certificates", list),
                                    JSON_INDENT(1) | JSON_PRESERVE_ORDER);
}

CaIndexEntry *ca_index_find(const CaIndex *idx, const char *serial) {
        for (size_t i = 0; i < idx->n; i++)
                if (strcmp(idx->entries[i].serial, serial) == 0)
                        return &idx->entries[i];
        return NULL;
}

char *ca_index_hex_serial(const uint8_t *d, size_t n) {
        size_t i = 0;
        char *s;

        while (i + 1 < n && d[i] == 0)
                i++;
        s = malloc(2 * (n - i) + 1);
        if (!s)
                return NULL;
        s[0] = 0;
        for (size_t j = 0; i < n; i++) {
                s[j++] = "0123456789abcdef"[d[i] >> 4];
                s[j++] = "0123456789abcdef"[d[i] & 15];
                s[j] = 0;
        }
        return s;
}

static int crt_serial_hex(gnutls_x509_crt_t crt, char **ret) {
        uint8_t serial[64];
        size_t size = sizeof(serial);

        if (gnutls_x509_crt_get_serial(crt, serial, &size) < 0 || size == 0)
                return -EINVAL;
        *ret = ca_index_hex_serial(serial, size);
        return *ret ? 0 : -ENOMEM;
}

static int crt_names(gnutls_x509_crt_t crt, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;

        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (unsigned i = 0;; i++) {
                char buf[1024], text[INET6_ADDRSTRLEN + 8], *s;
                size_t size = sizeof(buf) - 1;
                int type = gnutls_x509_crt_get_subject_alt_name(crt, i, buf, &size, NULL);

                if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
                        break;
                if (type < 0)
                        continue;
                buf[size] = 0;
                if (type == GNUTLS_SAN_IPADDRESS) {
                        if (!inet_ntop(size == 4 ? AF_INET : AF_INET6, buf, text, sizeof(text)))
                                continue;
                        s = strdup(text);
                } else if (type == GNUTLS_SAN_URI)
                        s = asprintf(&s, "uri:%s", buf) < 0 ? NULL : s;
                else if (type == GNUTLS_SAN_RFC822NAME)
                        s = asprintf(&s, "email:%s", buf) < 0 ? NULL : s;
                else if (type == GNUTLS_SAN_DNSNAME)
                        s = x509_escape_text(buf, size);
                else
                        continue;
                if (strv_consume(&l, &n, s) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static int crt_pin(gnutls_x509_crt_t crt, char **ret) {
        _cleanup_datum_ gnutls_datum_t der = {}, spki = {};
        uint8_t pin[PIN_SIZE];
        int r;

        r = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der);
        if (r < 0)
                return errno_from_gnutls(r);
        r = x509_spki_from_data(der.data, der.size, NULL, &spki);
        if (r >= 0)
                r = pin_compute(spki.data, spki.size, pin);
        if (r >= 0)
                r = pin_format(pin, PIN_FORMAT_BASE64, ret);
        return r;
}

int ca_index_add(CaIndex *idx, const char *name, gnutls_x509_crt_t crt) {
        CaIndexEntry e = {}, *l;
        gnutls_datum_t dn = {};
        time_t na;
        int r;

        r = crt_serial_hex(crt, &e.serial);
        if (r < 0)
                return r;
        if (ca_index_find(idx, e.serial)) {
                free(e.serial);
                return 0;
        }
        na = gnutls_x509_crt_get_expiration_time(crt);
        e.not_after = na > 0 ? (usec_t) na * USEC_PER_SEC : 0;
        if (gnutls_x509_crt_get_dn3(crt, &dn, 0) >= 0) {
                e.subject = x509_escape_text((const char *) dn.data, dn.size);
                gnutls_free(dn.data);
        } else
                e.subject = strdup("");
        e.name = strdup(name ?: "");
        r = e.subject && e.name ? 0 : -ENOMEM;
        if (r >= 0)
                r = crt_names(crt, &e.names);
        if (r >= 0)
                r = crt_pin(crt, &e.pin);
        if (r >= 0 && !(l = realloc(idx->entries, (idx->n + 1) * sizeof(CaIndexEntry))))
                r = -ENOMEM;
        if (r < 0) {
                entry_done(&e);
                return r;
        }
        idx->entries = l;
        idx->entries[idx->n++] = e;
        return 0;
}

int ca_index_lock(const char *state_dir, const char *ca_name) {
        _cleanup_free_ char *path = NULL;
        int fd, r;

        if (index_path(state_dir, ca_name, "index.lock", &path) < 0)
                return -ENOMEM;
        r = mkdir_parents(path, 0700);
        if (r < 0)
                return r;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        while (flock(fd, LOCK_EX) < 0)
                if (errno != EINTR) {
                        r = -errno;
                        close(fd);
                        return r;
                }
        return fd;
}

int ca_index_record(const char *state_dir, const char *ca_name, const char *name, gnutls_x509_crt_t crt) {
        _cleanup_(ca_index_done) CaIndex idx = {};
        _cleanup_close_ int lock = -1;
        int r;

        lock = ca_index_lock(state_dir, ca_name);
        if (lock < 0)
                return log_error_errno(lock, "[ca \"%s\"]: cannot lock its index: %m", ca_name);
        r = ca_index_load(state_dir, ca_name, &idx);
        if (r < 0)
                return r;
        r = ca_index_add(&idx, name, crt);
        if (r >= 0)
                r = ca_index_save(state_dir, ca_name, &idx);
        if (r < 0)
                return log_error_errno(
                        r, "[ca \"%s\"]: cannot record the certificate issued for %s in its index: %m",
                        ca_name, name);
        return 0;
}

int ca_index_normalize_serial(const char *s, char **ret) {
        _cleanup_free_ char *out = NULL;
        size_t k = 0;

        if (!s)
                return -EINVAL;
        out = malloc(strlen(s) + 2); /* + a leading '0' for an odd number of digits */
        if (!out)
                return -ENOMEM;
        if (strncasecmp(s, "0x", 2) == 0)
                s += 2;
        for (; *s; s++) {
                if (*s == ':' || *s == ' ')
                        continue;
                if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || (*s >= 'A' && *s <= 'F')))
                        return -EINVAL;
                out[k++] = (char) (*s >= 'A' && *s <= 'F' ? *s - 'A' + 'a' : *s);
        }
        out[k] = 0;
        if (k % 2) { /* one leading nibble: make whole octets as the facts print them */
                memmove(out + 1, out, k + 1);
                out[0] = '0';
                k++;
        }
        /* leading zero octets go, as in a DER integer's positive padding */
        while (k > 2 && out[0] == '0' && out[1] == '0') {
                memmove(out, out + 2, k - 1);
                k -= 2;
        }
        if (!is_hex_serial(out))
                return -EINVAL;
        *ret = TAKE_PTR(out);
        return 0;
}
