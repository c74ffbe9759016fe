/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"
#include "time-util.h"

/* The inventory of docs/inventory.md (contract). config_load() parses the main file and then every
 * conf.d/<name>.conf files beside it in lexical order: a later key wins, a later section of the same name merges.
 * Unknown sections and keys are errors; every error is one line "FILE:LINE: message". */

#define CONFIG_DEFAULT_PATH SYSCONFDIR "/certherd/certherd.conf"

typedef enum KeyType {
        KEY_TYPE_EC_P256,
        KEY_TYPE_EC_P384,
        KEY_TYPE_RSA_2048,
        KEY_TYPE_RSA_3072,
        KEY_TYPE_RSA_4096,
        KEY_TYPE_ED25519,
        _KEY_TYPE_MAX,
        _KEY_TYPE_INVALID = -22,
} KeyType;

typedef enum IssuerKind {
        ISSUER_NONE, /* watch only */
        ISSUER_SELF,
        ISSUER_CA,
        ISSUER_ACME,
        _ISSUER_KIND_MAX,
        _ISSUER_KIND_INVALID = -22,
} IssuerKind;

typedef enum Usage {
        USAGE_SERVER,
        USAGE_CLIENT,
        USAGE_SERVER_CLIENT,
        _USAGE_MAX,
        _USAGE_INVALID = -22,
} Usage;

typedef enum KeyPolicy {
        KEY_POLICY_REUSE,
        KEY_POLICY_ROTATE,
        _KEY_POLICY_MAX,
        _KEY_POLICY_INVALID = -22,
} KeyPolicy;

typedef enum ChallengeType {
        CHALLENGE_HTTP_01,
        CHALLENGE_DNS_01,
        CHALLENGE_TLS_ALPN_01,
        CHALLENGE_DNS_PERSIST_01, /* draft-ietf-acme-dns-persist: a standing TXT record, nothing per order */
        _CHALLENGE_TYPE_MAX,
        _CHALLENGE_TYPE_INVALID = -22,
} ChallengeType;

/* A "before expiry" threshold: an absolute duration or a percentage of the certificate's lifetime. */
typedef struct Threshold {
        bool set;      /* given in the file (or a default applied) */
        bool implicit; /* the default applied, not given: renew-before then follows the lifetime */
        bool is_percent;
        unsigned percent; /* 0..100 when is_percent */
        usec_t usec;      /* when !is_percent */
        /* Non-zero for the built-in warn-before/critical-before: at most lifetime / lifetime_divisor, so
         * that a fresh 24-hour or 6-day certificate is not inside its own thresholds. 0 when given. */
        unsigned lifetime_divisor;
} Threshold;

/* Maintenance windows: weekly, in local time. `window = Mon..Fri 02:00-04:00, Sat 10:00-12:00`. */
#define WINDOWS_MAX 8
typedef struct Window {
        uint32_t days : 7;   /* bit 0: Sunday … bit 6: Saturday */
        uint32_t start : 11; /* minutes after local midnight, 0..1439 */
        uint32_t end : 11;   /* 1..1440; at or before start: on the next day */
} Window;

typedef struct WindowList {
        bool set;  /* given (else [agent]'s applies) */
        uint8_t n; /* 0: always open ("always", or never given) */
        Window w[WINDOWS_MAX];
} WindowList;

/* A budget over a sliding period: `max-orders = 300/3h`; "0" (count 0): no limit. */
typedef struct RateLimit {
        bool set;
        unsigned count;
        usec_t period;
} RateLimit;

typedef struct AgentConfig {
        char *state_directory;     /* default: $STATE_DIRECTORY, else /var/lib/certherd */
        char *pin_directory;       /* default /run/certherd/pins */
        char *metrics_file;        /* NULL when unset or empty */
        char **pkcs11_modules;     /* PKCS#11 modules to load; NULL: the ones p11-kit registers */
        Threshold warn_before;     /* default 14d */
        Threshold critical_before; /* default 7d */
        Threshold
                renew_before; /* default: implicit, see policy_renew_time() (a third, half under 10 days) */
        usec_t hook_timeout;  /* exec hooks and dns-hook; default CONFIG_HOOK_TIMEOUT_DEFAULT */
        WindowList window;    /* the sets' maintenance windows by default; none: always */
        char *file;           /* where [agent] was first given; NULL when never */
        unsigned line;
} AgentConfig;

typedef struct AcmeConfig {
        char *name;
        char *directory; /* required when a certificate uses it */
        char *contact;
        char *ca_bundle;
        char *eab_kid;
        char *eab_hmac_file;
        ChallengeType challenge; /* default http-01 */
        char *webroot;
        char *listen; /* default "[::]:80" */
        char *dns_hook;
        char *preferred_chain;
        char *profile;        /* draft-ietf-acme-profiles: sent in newOrder; NULL: the server's default */
        char *persist_issuer; /* dns-persist-01: the CA's issuer domain name, e.g. letsencrypt.org */
        KeyType account_key_type; /* ec-p256 or rsa-2048 only */
        char *account_key; /* pkcs11:…;object=LABEL: the account key in a token; NULL: STATE/acme/NAME/account.key */
        char *pkcs11_pin_file;     /* its PIN (unless the URI has pin-source=) */
        double initial_backoff;    /* seconds, default 0.15 */
        double max_retry_duration; /* seconds, default 30 */
        usec_t hook_timeout;       /* of dns-hook: [agent]'s, copied by config_validate() */
        /* What certherd counts against the server's rate limits (acme-budget.c); !set: Let's Encrypt's
         * published limits, see acme_budget_limits(). */
        RateLimit max_orders;
        RateLimit max_duplicates;
        RateLimit max_failed_validations;
        char *file; /* where the section was (first) defined */
        unsigned line;
} AcmeConfig;

typedef struct CaConfig {
        char *name;
        char *certificate;      /* required */
        char *key;              /* required; a file or a pkcs11: URI */
        char *pkcs11_pin_file;  /* the token PIN for key = pkcs11: (unless the URI has pin-source=) */
        KeyType key_type;       /* default ec-p256 */
        usec_t validity;        /* default 90d */
        usec_t ca_validity;     /* default 10y */
        char **export;          /* NULL-terminated, may be NULL */
        char *crl;              /* PEM CRL certherd keeps signed; NULL: none */
        usec_t crl_validity;    /* thisUpdate..nextUpdate of that CRL; default 7d; re-signed at half */
        char **reload;          /* units reloaded after every new CRL */
        char *exec;             /* hook run after every new CRL */
        char *parent;           /* The [ca] that signs this one (an intermediate); NULL: a root */
        char **permitted_names; /* nameConstraints permitted subtrees: DNS names (".x" = below x only) and
                                 * IP networks ADDR/PREFIX; NULL: unconstrained */
        int path_length;        /* basicConstraints pathLenConstraint; -1: unset (see ca_path_length()) */
        char *subject; /* the CA certificate's subject in the inventory's DN syntax; NULL: CN=certherd NAME CA */
        usec_t rotate_overlap; /* after `ca rotate`, how long leaves of the previous generation stay before
                                * they are re-issued; default 24h, 0: at the next pass */
        char *file;
        unsigned line;
} CaConfig;

/* The keys of a certificate set that few sets give: its own subject, thresholds, key password or PIN,
 * deploy steps beyond reload, CRLs, ACME profile, maintenance windows and further outputs. Kept apart
 * from CertConfig so that every set that gives none of them points at one zeroed copy,
 * cert_extra_none: a daemon holds every set as long as it runs (idle RSS). */
typedef struct CertExtra {
        char *subject;          /* RFC 4514-ish "CN=a, O=b"; NULL: CN = the first DNS name or IP */
        Threshold renew_before; /* !set: [agent]'s */
        Threshold warn_before;
        Threshold critical_before;
        char *key_password_file;
        char *pkcs11_pin_file; /* the token PIN for key = pkcs11: (unless the URI has pin-source=) */
        char **restart;        /* unit names */
        int signal;            /* 0 when unset */
        char *signal_pidfile;
        char *exec;          /* command line of the hook */
        usec_t hook_timeout; /* 0: [agent]'s; see cert_hook_timeout() */
        char **verify;       /* tls://HOST:PORT[?starttls=postgres] */
        char **crl;        /* CRL files to check the certificate against (default: its internal CA's crl) */
        char *profile;     /* ACME profile; NULL: the [acme] section's (see cert_profile()) */
        WindowList window; /* renewals and deploys only inside; !set: [agent]'s (see cert_window()) */
        /* Further outputs, each optional (NULL), installed with key and certificate as one generation
         * (install_set): the intermediates alone, the leaf alone, key + leaf + chain in one PEM, and
         * PKCS#12 (which needs pkcs12_password_file). */
        char *chain;
        char *leaf;
        char *combined;
        char *pkcs12;
        char *pkcs12_password_file;
} CertExtra;

/* What a set that gives none of CertExtra's keys points at. */
extern const CertExtra cert_extra_none;

typedef struct CertConfig {
        char *name;
        char *certificate; /* required */
        char *key;         /* optional for issuer=none */
        char *ca;          /* NULL: system trust store */
        char **names;      /* NULL-terminated; may be NULL; DNS names, IPs, uri:URI, email:ADDRESS */
        char *issuer_name; /* ACME or CA section name for acme:/ca: */
        char *owner;       /* "user" or "user:group"; NULL when unset */
        char **reload;     /* unit names */
        char *file;
        /* The rarer keys: never NULL in a set config_load() made (&cert_extra_none when it gives none of
         * them); a CertConfig made by hand sets it too. Read-only: config.c alone writes it. */
        const CertExtra *x;
        mode_t mode; /* key mode; default 0600 */
        unsigned line;
        /* A daemon holds every set as long as it runs (idle RSS): the small fields are bit-fields, and
         * the struct has no padding (96 bytes). */
        IssuerKind issuer : 8;    /* default none */
        Usage usage : 8;          /* default server */
        KeyType key_type : 8;     /* default ec-p256 */
        KeyPolicy key_policy : 8; /* default reuse */
        bool mode_set;
        /* config_load() keeps every set with its strings in one allocation (Inventory.pack), sharing a
         * string with the next sets (Inventory.shared) where they repeat it. The fields must not be freed
         * or replaced then, nor the struct freed. Private to config.c. */
        bool packed;
} CertConfig;

/* Private to config.c: (section kind, name) → section, so merging and lookups stay O(1). */
typedef struct ConfigIndex ConfigIndex;

typedef struct Inventory {
        char *path;   /* the main file */
        char **files; /* every file read, the main file first, then conf.d/ in order; NULL-terminated */
        AgentConfig agent;
        AcmeConfig **acme;
        size_t n_acme;
        CaConfig **ca;
        size_t n_ca;
        CertConfig **certs;
        size_t n_certs;
        ConfigIndex *index; /* NULL for an inventory built by hand: lookups then scan the arrays */
        /* What config_validate() found questionable but not wrong, one "FILE:LINE: message" each, e.g. a
         * renew-before beyond two thirds of the lifetime (renewal is capped there). NULL-terminated or NULL.
         * config_load() logs them. */
        char **warnings;
        /* Private to config.c: strings several packed certificate sets point at (a `ca` or `file` that
         * repeats), owned here. */
        char **shared;
        size_t n_shared;
        /* Private to config.c: the one allocation every packed set lives in (config_load()). */
        void *pack;
} Inventory;

/* The files an inventory was read from, "A, B, C" (the main file alone for one built by hand); NULL on
 * OOM. */
char *inventory_files_string(const Inventory *inv);

/* The lifetime of what `issuer = self` issues (renew.c issues with this; it has no CA section). */
#define CONFIG_SELF_SIGNED_VALIDITY (90 * USEC_PER_DAY)

/* Load `path` (NULL: $CERTHERD_CONFIG, else CONFIG_DEFAULT_PATH) and its conf.d/. Environment variables
 * are looked up with getenv(). On failure returns -errno and, when reterr is non-NULL, a malloc'd
 * one-line message "FILE:LINE: message" (or "FILE: message" for a file-level problem). Warnings (see
 * Inventory.warnings) are logged with log_warning(). Run as root, every file must belong to root and be
 * writable by nobody else (-EPERM); files that are not regular are refused (-EINVAL). */
int config_load(const char *path, Inventory **ret, char **reterr);

/* Parse one file's text into `inv` (created by inventory_new()), as if it were the file `filename`.
 * Used by config_load() and the fuzzer. Does not validate cross references (see config_validate). */
Inventory *inventory_new(void);
int config_parse_string(Inventory *inv, const char *text, const char *filename, char **reterr);
/* After all files: defaults, required keys, issuer references (ca:NAME / acme:NAME must exist); fills
 * inv->warnings. No I/O, no logging. */
int config_validate(Inventory *inv, char **reterr);

Inventory *inventory_free(Inventory *inv);
static inline void inventory_freep(Inventory **inv) {
        inventory_free(*inv);
}
#define _cleanup_inventory_ _cleanup_(inventory_freep)

CertConfig *inventory_find_cert(const Inventory *inv, const char *name);
CaConfig *inventory_find_ca(const Inventory *inv, const char *name);
AcmeConfig *inventory_find_acme(const Inventory *inv, const char *name);

/* Effective thresholds for a certificate (its own, else [agent]'s). */
Threshold cert_warn_before(const Inventory *inv, const CertConfig *c);
Threshold cert_critical_before(const Inventory *inv, const CertConfig *c);
Threshold cert_renew_before(const Inventory *inv, const CertConfig *c);
/* How long the exec hook of `c` may run: its own hook-timeout, else [agent]'s (default 60 s). */
#define CONFIG_HOOK_TIMEOUT_DEFAULT (60 * USEC_PER_SEC)
usec_t cert_hook_timeout(const Inventory *inv, const CertConfig *c);
/* The ACME profile to order `c` under: its own `profile`, else its [acme] section's; NULL: none. */
const char *cert_profile(const Inventory *inv, const CertConfig *c);
/* The maintenance windows of `c`: its own `window`, else [agent]'s. */
const WindowList *cert_window(const Inventory *inv, const CertConfig *c);
/* "always", or windows "[DAY[..DAY][,…] ]HH:MM-HH:MM" separated by commas (config-schedule.c). -EINVAL,
 * -E2BIG beyond WINDOWS_MAX. */
int window_parse(const char *s, WindowList *ret);
/* The window open at `now` (*ret_start ≤ now < *ret_end) or else the next one to open. No windows:
 * 0 and USEC_INFINITY (always open). Local time, by TZ. */
int window_next(const WindowList *l, usec_t now, usec_t *ret_start, usec_t *ret_end);
bool window_open(const WindowList *l, usec_t now);
char *window_format(const WindowList *l, char *buf, size_t size);
#define WINDOW_FORMAT_MAX 256
/* "300/3h" or "0" (off). */
int rate_parse(const char *s, RateLimit *ret);

/* Resolve a threshold against a lifetime [not_before, not_after]. */
usec_t threshold_resolve(Threshold t, usec_t lifetime);

/* The name rules of the inventory, shared with the issuers so that both accept exactly the same names:
 * RFC 1123 host names (optionally "*." wildcard; no trailing dot; an all-digit last label is refused as
 * a mistyped address), IPv4/IPv6 literals, and either. */
bool config_dns_name_is_valid(const char *s);
bool config_ip_is_valid(const char *s);
bool config_san_is_valid(const char *s);

/* The entries of `names` may also be "uri:URI" (e.g. uri:spiffe://example.org/api) and
 * "email:ADDRESS" SANs, for client certificates. */
typedef enum NameType {
        NAME_DNS,
        NAME_IP,
        NAME_URI,
        NAME_EMAIL,
        _NAME_TYPE_MAX,
        _NAME_TYPE_INVALID = -22,
} NameType;
/* The type of a `names` entry, or _NAME_TYPE_INVALID. */
NameType config_name_type(const char *s) _pure_;
/* The entry without its "uri:" / "email:" prefix. */
const char *config_name_value(const char *s) _pure_;
bool config_name_is_valid(const char *s);
/* A permitted-names entry: a DNS name, optionally with a leading "." (only names below it), or an IP
 * network "ADDR/PREFIX". */
bool config_permitted_name_is_valid(const char *s);
/* "10.0.0.0/8" → the address (4 or 16 bytes), its length and the prefix length. -EINVAL when bad. */
int config_parse_network(const char *s, unsigned char addr[static 16], unsigned *ret_len,
                         unsigned *ret_prefix);
/* Whether `name` (a `names` entry) lies inside the permitted subtrees (NULL: everything). Names of a type
 * the list does not constrain (uri:, email:, or IPs when only DNS subtrees are given) are permitted, as
 * RFC 5280 §4.2.1.10 says. DNS: "x.example" permits x.example and every name below it, ".x.example" only
 * the names below it (OpenSSL's and GnuTLS's reading). Pure. */
bool config_name_permitted(char *const *permitted, const char *name);
/* subject = "CN=api, O=Example, OU=Platform": comma-separated TYPE=VALUE with TYPE one of CN, O, OU, L,
 * ST, C, DC, UID, serialNumber (case-insensitive), "\," and "\\" escape. *ret: a NULL-terminated list of
 * alternating TYPE (upper-cased canonical spelling) and VALUE, in the order written. -EINVAL when bad. */
int config_subject_split(const char *s, char ***ret);
bool config_subject_is_valid(const char *s);

/* "90d" / "12h" / "33%" */
int parse_threshold(const char *s, Threshold *ret);

const char *key_type_to_string(KeyType t) _pure_;
KeyType key_type_from_string(const char *s) _pure_;
const char *issuer_kind_to_string(IssuerKind k) _pure_;
const char *usage_to_string(Usage u) _pure_;
Usage usage_from_string(const char *s) _pure_;
const char *key_policy_to_string(KeyPolicy p) _pure_;
KeyPolicy key_policy_from_string(const char *s) _pure_;
const char *challenge_type_to_string(ChallengeType t) _pure_;
ChallengeType challenge_type_from_string(const char *s) _pure_;
