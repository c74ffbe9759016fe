/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config-index.h"
#include "config-value.h"
#include "fd-util.h"
#include "config.h"
#include "log.h"

/* Far beyond any inventory; stops reading an endless pipe. */
#define CONFIG_FILE_MAX (64U * 1024 * 1024)
/* Files are read a chunk at a time: a large inventory never sits in memory whole. */
#define CHUNK_SIZE (64U * 1024)

/* How a file is read. It used to go through inih, but Debian's libinih (r55, built with its defaults)
 * cannot do what the inventory needs: its line buffer is a fixed INI_MAX_LINE of 200 bytes on the stack
 * (INI_ALLOW_REALLOC 0), so a `names` of 40 SANs does not fit on a line; and its INI_ALLOW_MULTILINE (on)
 * calls the handler once more per indented line, with the same key, without joining, without stripping
 * inline comments, and cannot tell a continuation from an indented "key = value" (which becomes part of
 * the previous value). So config.c splits lines itself, the way inih did ("key = value" or "key: value"
 * at the first '=' or ':', blanks trimmed, ';' after a blank starts a comment, ';' or '#' first on a line
 * makes a comment line):
 *   - files are read a chunk at a time; NUL bytes are refused (they would end a line silently);
 *   - lines are counted, so every message has FILE:LINE (a value's messages name its key's line);
 *   - a line may be CONFIG_LINE_MAX characters long;
 *   - a line that starts with a blank continues the value of the key line before it (comment lines may
 *     come between, an empty line ends it): its text, comment stripped, joins the value after one space;
 *   - [section] headers are parsed here, names of any length.
 * The first error ends the parse. */

/* A line, and a value joined from continuation lines. A file is at most CONFIG_FILE_MAX anyway. */
#define CONFIG_LINE_MAX (CHUNK_SIZE - 1)
#define CONFIG_VALUE_MAX (1024U * 1024U)

static const char *const section_kind_table[] = {
        [SECTION_AGENT] = "agent",
        [SECTION_ACME] = "acme",
        [SECTION_CA] = "ca",
        [SECTION_CERT] = "certificate",
};

typedef struct ParseContext {
        Inventory *inv;
        const char *filename;
        const char *next;  /* the text read but not yet parsed ... */
        const char *end;   /* ... ends here */
        int fd;            /* >= 0: more text comes from here, into chunk; borrowed */
        char *chunk;
        size_t total;      /* bytes read from fd */
        unsigned line;
        SectionKind kind;  /* of the current section */
        void *section;     /* &inv->agent, or an AcmeConfig/CaConfig/CertConfig */
        const char *name;  /* the current section's name (NULL for [agent]) */
        char *error;       /* the first error, "FILE:LINE: message" */
        int r;
        char *buf;         /* the current line, blanks stripped, NUL-terminated */
        size_t buf_size;
        char *key;         /* the key line whose value continuation lines extend; NULL: none */
        char *value;       /* its value so far */
        size_t value_len, value_size;
        unsigned key_line;
} ParseContext;

static _printf_(5, 0) int verror(
                char **reterr, int r, const char *file, unsigned line, const char *fmt, va_list ap) {
        _cleanup_free_ char *msg = NULL;
        char *s;
        int k;

        if (!reterr)
                return r;
        if (vasprintf(&msg, fmt, ap) < 0)
                return r;
        file = file ?: "<config>"; /* sections of an inventory built by hand */
        k = line > 0 ? asprintf(&s, "%s:%u: %s", file, line, msg) : asprintf(&s, "%s: %s", file, msg);
        if (k >= 0)
                *reterr = s;
        return r;
}

static _printf_(5, 6) int error_at(
                char **reterr, int r, const char *file, unsigned line, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        verror(reterr, r, file, line, fmt, ap);
        va_end(ap);
        return r;
}

static _printf_(3, 4) int ctx_error(ParseContext *ctx, int r, const char *fmt, ...) {
        va_list ap;

        if (ctx->r < 0) /* keep the first */
                return ctx->r;
        ctx->r = r;
        va_start(ap, fmt);
        verror(&ctx->error, r, ctx->filename, ctx->line, fmt, ap);
        va_end(ap);
        return r;
}

/* "[certificate \"web\"]" for messages. */
static char *section_display(char *buf, size_t size, SectionKind kind, const char *name) {
        if (name)
                snprintf(buf, size, "[%s \"%s\"]", section_kind_table[kind], name);
        else
                snprintf(buf, size, "[%s]", section_kind_table[kind]);
        return buf;
}

static bool index_is_complete(const Inventory *inv) {
        return inv->index && inv->index->n == inv->n_acme + inv->n_ca + inv->n_certs;
}

/* An inventory whose arrays were filled by hand gets its index rebuilt before we merge into it. */
static int index_sync(Inventory *inv) {
        int r = 0;

        if (index_is_complete(inv))
                return 0;
        inv->index = config_index_free(inv->index);
        inv->index = calloc(1, sizeof(ConfigIndex));
        if (!inv->index)
                return -ENOMEM;
        for (size_t i = 0; i < inv->n_acme && r >= 0; i++)
                r = config_index_put(inv->index, SECTION_ACME, inv->acme[i]);
        for (size_t i = 0; i < inv->n_ca && r >= 0; i++)
                r = config_index_put(inv->index, SECTION_CA, inv->ca[i]);
        for (size_t i = 0; i < inv->n_certs && r >= 0; i++)
                r = config_index_put(inv->index, SECTION_CERT, inv->certs[i]);
        return r;
}

/* The structs keep no capacity, so arrays grow whenever n is a power of two: amortized O(1). */
static void *grow_array(void *array, size_t n) {
        if (n & (n - 1))
                return array;
        return reallocarray(array, n ? n * 2 : 1, sizeof(void *));
}

static AcmeConfig *acme_free(AcmeConfig *a) {
        if (!a)
                return NULL;
        free(a->name);
        free(a->directory);
        free(a->contact);
        free(a->ca_bundle);
        free(a->eab_kid);
        free(a->eab_hmac_file);
        free(a->webroot);
        free(a->listen);
        free(a->dns_hook);
        free(a->preferred_chain);
        free(a->account_key);
        free(a->pkcs11_pin_file);
        free(a->profile);
        free(a->persist_issuer);
        free(a->file);
        free(a);
        return NULL;
}

static CaConfig *ca_free(CaConfig *c) {
        if (!c)
                return NULL;
        free(c->name);
        free(c->certificate);
        free(c->key);
        strv_free(c->export);
        free(c->crl);
        strv_free(c->reload);
        free(c->exec);
        free(c->pkcs11_pin_file);
        free(c->parent);
        strv_free(c->permitted_names);
        free(c->file);
        free(c);
        return NULL;
}

static CertConfig *cert_free(CertConfig *c) {
        if (!c)
                return NULL;
        if (c->packed) { /* its strings live in the same allocation, or in Inventory.shared */
                free(c);
                return NULL;
        }
        free(c->name);
        free(c->certificate);
        free(c->key);
        free(c->ca);
        strv_free(c->names);
        free(c->subject);
        free(c->issuer_name);
        free(c->key_password_file);
        free(c->pkcs11_pin_file);
        free(c->owner);
        strv_free(c->reload);
        strv_free(c->restart);
        free(c->signal_pidfile);
        free(c->exec);
        free(c->profile);
        strv_free(c->verify);
        strv_free(c->crl);
        free(c->chain);
        free(c->leaf);
        free(c->combined);
        free(c->pkcs12);
        free(c->pkcs12_password_file);
        free(c->file);
        free(c);
        return NULL;
}

Inventory *inventory_free(Inventory *inv) {
        if (!inv)
                return NULL;
        free(inv->path);
        strv_free(inv->files);
        free(inv->agent.state_directory);
        free(inv->agent.pin_directory);
        free(inv->agent.metrics_file);
        strv_free(inv->agent.pkcs11_modules);
        free(inv->agent.file);
        for (size_t i = 0; i < inv->n_acme; i++)
                acme_free(inv->acme[i]);
        free(inv->acme);
        for (size_t i = 0; i < inv->n_ca; i++)
                ca_free(inv->ca[i]);
        free(inv->ca);
        for (size_t i = 0; i < inv->n_certs; i++)
                cert_free(inv->certs[i]);
        free(inv->certs);
        config_index_free(inv->index);
        strv_free(inv->warnings);
        for (size_t i = 0; i < inv->n_shared; i++)
                free(inv->shared[i]);
        free(inv->shared);
        free(inv);
        return NULL;
}

Inventory *inventory_new(void) {
        Inventory *inv = calloc(1, sizeof(Inventory));

        if (!inv)
                return NULL;
        inv->index = calloc(1, sizeof(ConfigIndex));
        if (!inv->index)
                return inventory_free(inv);
        return inv;
}

/* Non-string defaults are set when a section is created, as they have no "unset" value to test for
 * later; string defaults and [agent]'s thresholds are applied by config_validate(). */
static void *section_new(SectionKind kind, const char *name, const char *file, unsigned line) {
        _cleanup_free_ char *n = strdup(name), *f = strdup(file);
        AcmeConfig *a;
        CaConfig *ca;
        CertConfig *c;

        if (!n || !f)
                return NULL;
        switch (kind) {
        case SECTION_ACME:
                if (!(a = malloc(sizeof(AcmeConfig))))
                        return NULL;
                *a = (AcmeConfig) {
                        .name = TAKE_PTR(n), .file = TAKE_PTR(f), .line = line,
                        .challenge = CHALLENGE_HTTP_01, .account_key_type = KEY_TYPE_EC_P256,
                        .initial_backoff = 0.15, .max_retry_duration = 30,
                };
                return a;
        case SECTION_CA:
                if (!(ca = malloc(sizeof(CaConfig))))
                        return NULL;
                *ca = (CaConfig) {
                        .name = TAKE_PTR(n), .file = TAKE_PTR(f), .line = line,
                        .key_type = KEY_TYPE_EC_P256, .validity = 90 * USEC_PER_DAY,
                        .ca_validity = 10 * USEC_PER_YEAR, .crl_validity = 7 * USEC_PER_DAY,
                        .path_length = -1,
                };
                return ca;
        default:
                if (!(c = malloc(sizeof(CertConfig))))
                        return NULL;
                *c = (CertConfig) {
                        .name = TAKE_PTR(n), .file = TAKE_PTR(f), .line = line,
                        .issuer = ISSUER_NONE, .usage = USAGE_SERVER, .key_type = KEY_TYPE_EC_P256,
                        .key_policy = KEY_POLICY_REUSE, .mode = 0600,
                };
                return c;
        }
}

static int section_append(Inventory *inv, SectionKind kind, void *s) {
        void *a;

        switch (kind) {
        case SECTION_ACME:
                if (!(a = grow_array(inv->acme, inv->n_acme)))
                        return -ENOMEM;
                inv->acme = a;
                inv->acme[inv->n_acme++] = s;
                return 0;
        case SECTION_CA:
                if (!(a = grow_array(inv->ca, inv->n_ca)))
                        return -ENOMEM;
                inv->ca = a;
                inv->ca[inv->n_ca++] = s;
                return 0;
        default:
                if (!(a = grow_array(inv->certs, inv->n_certs)))
                        return -ENOMEM;
                inv->certs = a;
                inv->certs[inv->n_certs++] = s;
                return 0;
        }
}

/* The section (kind, name), created at the current line unless an earlier one is merged into. */
static int section_get(ParseContext *ctx, SectionKind kind, const char *name, void **ret) {
        void *s = config_index_get(ctx->inv->index, kind, name);
        int r;

        if (!s) {
                s = section_new(kind, name, ctx->filename, ctx->line);
                if (!s)
                        return -ENOMEM;
                r = section_append(ctx->inv, kind, s);
                if (r < 0) {
                        if (kind == SECTION_ACME)
                                acme_free(s);
                        else if (kind == SECTION_CA)
                                ca_free(s);
                        else
                                cert_free(s);
                        return r;
                }
                /* From here on the inventory owns s; a failed put only leaves the index to rebuild. */
                r = config_index_put(ctx->inv->index, kind, s);
                if (r < 0)
                        return r;
        }
        *ret = s;
        return 0;
}

#define BLANKS " \t"

static bool is_blank(char c) {
        return c == ' ' || c == '\t';
}

/* Control characters (tab aside) have no business in a path or a name, and would corrupt a one-line
 * message or a hook's environment. This sees every byte of the inventory, so it looks at eight bytes at
 * a time: (x - 0x20…) & ~x & 0x80… is non-zero exactly when some byte of x is below 0x20 (the "hasless"
 * trick; bytes >= 0x80, i.e. UTF-8, never match), and the same with x ^ 0x7f… finds DEL. A word that
 * matches, which may just hold a tab, is decided byte by byte. */
static bool has_control(const char *s, size_t n) {
        const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
        size_t i = 0;

        for (; i + 8 <= n; i += 8) {
                uint64_t x, d;

                memcpy(&x, s + i, 8);
                d = x ^ (0x7f * ones);
                if (((x - 0x20 * ones) & ~x & highs) || ((d - ones) & ~d & highs))
                        break;
        }
        for (; i < n; i++)
                if (((unsigned char) s[i] < ' ' && s[i] != '\t') || s[i] == 0x7f)
                        return true;
        return false;
}

/* Makes (kind, name) the current section; name is NULL for [agent]. */
static int enter_section(ParseContext *ctx, SectionKind kind, const char *name) {
        AgentConfig *a = &ctx->inv->agent;
        int r;

        if (kind == SECTION_AGENT) {
                if (!a->file) {
                        if (!(a->file = strdup(ctx->filename)))
                                return ctx_error(ctx, -ENOMEM, "out of memory");
                        a->line = ctx->line;
                }
                ctx->section = a;
        } else {
                r = section_get(ctx, kind, name, &ctx->section);
                if (r < 0)
                        return ctx_error(ctx, r, "out of memory");
                name = *(char **) ctx->section; /* every section struct begins with its name */
        }
        ctx->kind = kind;
        ctx->name = name;
        return 0;
}

/* "[agent]", "[certificate \"web\"]"; blanks around the words are allowed, a comment after the ']'. */
static int parse_section_header(ParseContext *ctx, char *line) {
        char *close = strchr(line, ']'), *p, *rest, *end;
        SectionKind kind = SECTION_NONE;
        size_t n;

        if (!close)
                return ctx_error(ctx, -EINVAL, "missing ']' in section header");
        rest = close + 1 + strspn(close + 1, BLANKS);
        if (*rest && *rest != ';' && *rest != '#')
                return ctx_error(ctx, -EINVAL, "unexpected text after section header: '%s'", rest);
        *close = 0;
        p = line + 1 + strspn(line + 1, BLANKS);
        for (end = close; end > p && is_blank(end[-1]); end--)
                end[-1] = 0;
        n = strcspn(p, BLANKS);
        rest = p + n + strspn(p + n, BLANKS);
        for (SectionKind k = SECTION_AGENT; k <= SECTION_CERT; k++)
                if (strlen(section_kind_table[k]) == n && strncmp(p, section_kind_table[k], n) == 0)
                        kind = k;
        if (kind == SECTION_NONE)
                return ctx_error(ctx, -EINVAL, "unknown section [%s]", p);
        if (kind == SECTION_AGENT)
                return *rest ? ctx_error(ctx, -EINVAL, "section [agent] takes no name")
                             : enter_section(ctx, kind, NULL);
        if (!*rest)
                return ctx_error(ctx, -EINVAL, "section [%s] needs a name: [%s \"NAME\"]",
                                 section_kind_table[kind], section_kind_table[kind]);
        n = strlen(rest);
        if (n < 2 || rest[0] != '"' || rest[n - 1] != '"')
                return ctx_error(ctx, -EINVAL, "invalid section [%s]: the name must be in double quotes", p);
        rest[n - 1] = 0;
        if (!config_section_name_is_valid(rest + 1))
                return ctx_error(ctx, -EINVAL,
                                 "invalid section name \"%s\": expected letters, digits, '.', '_' and '-'",
                                 rest + 1);
        return enter_section(ctx, kind, rest + 1);
}

/* An error of the whole file: "FILE: message". */
static int file_error(ParseContext *ctx, int r, const char *msg) {
        if (ctx->r >= 0) {
                ctx->r = r;
                error_at(&ctx->error, r, ctx->filename, 0, "%s", msg);
        }
        return r;
}

/* Moves the unparsed rest to the front of the chunk and reads more behind it. */
static int refill(ParseContext *ctx) {
        size_t rest = (size_t) (ctx->end - ctx->next);
        ssize_t k;

        memmove(ctx->chunk, ctx->next, rest);
        ctx->next = ctx->chunk;
        ctx->end = ctx->chunk + rest;
        do
                k = read(ctx->fd, ctx->chunk + rest, CHUNK_SIZE - rest);
        while (k < 0 && errno == EINTR);
        if (k < 0) {
                int r = -errno;

                return file_error(ctx, r, strerror(-r));
        }
        if (k == 0)
                ctx->fd = -1; /* the end */
        else if (memchr(ctx->end, 0, (size_t) k)) /* it would end the line early, silently */
                return file_error(ctx, -EINVAL, "contains a NUL byte");
        ctx->end += k;
        ctx->total += (size_t) k;
        if (ctx->total > CONFIG_FILE_MAX)
                return file_error(ctx, -EFBIG, strerror(EFBIG));
        return 0;
}

/* The next line of the text: 1 and the line (without "\n", "\r\n" or the BOM), 0 at the end, or an error.
 * The line is valid until the next call. */
static int next_line(ParseContext *ctx, const char **ret, size_t *ret_len) {
        const char *start, *eol;
        size_t len;

        if (ctx->r < 0)
                return ctx->r;
        /* A line without '\n' in a full chunk is longer than CONFIG_LINE_MAX: it is reported below. */
        while (!(eol = memchr(ctx->next, '\n', (size_t) (ctx->end - ctx->next))) && ctx->fd >= 0 &&
               ctx->end - ctx->next < (ptrdiff_t) CHUNK_SIZE)
                if (refill(ctx) < 0)
                        return ctx->r;
        if (ctx->next == ctx->end)
                return 0;
        start = ctx->next;
        eol = eol ?: ctx->end;
        ctx->next = eol < ctx->end ? eol + 1 : eol;
        ctx->line++;
        len = (size_t) (eol - start);
        if (len > 0 && start[len - 1] == '\r')
                len--;
        if (ctx->line == 1 && len >= 3 && memcmp(start, "\xef\xbb\xbf", 3) == 0) {
                start += 3;
                len -= 3;
        }
        if (len > CONFIG_LINE_MAX || (!memchr(start, '\n', (size_t) (ctx->end - start)) && ctx->fd >= 0))
                return ctx_error(ctx, -EINVAL, "line too long (max %u characters)", (unsigned) CONFIG_LINE_MAX);
        if (has_control(start, len))
                return ctx_error(ctx, -EINVAL, "control character in line");
        *ret = start;
        *ret_len = len;
        return 1;
}

/* Where an inline comment starts (a ';' after a blank), or the end of s. */
static char *find_comment(char *s) {
        bool was_space = false;

        for (; *s; s++) {
                if (was_space && *s == ';')
                        break;
                was_space = is_blank(*s);
        }
        return s;
}

static char *strip_trailing(char *s) {
        size_t n = strlen(s);

        while (n > 0 && is_blank(s[n - 1]))
                s[--n] = 0;
        return s;
}

static int value_append(ParseContext *ctx, const char *text, size_t n) {
        size_t need = ctx->value_len + (ctx->value_len > 0) + n + 1;

        if (need > CONFIG_VALUE_MAX)
                return ctx_error(ctx, -EINVAL, "value of '%s' too long (max %u characters)", ctx->key,
                                 CONFIG_VALUE_MAX);
        if (need > ctx->value_size) {
                size_t size = need > ctx->value_size * 2 ? need : ctx->value_size * 2;
                char *v = realloc(ctx->value, size);

                if (!v)
                        return ctx_error(ctx, -ENOMEM, "out of memory");
                ctx->value = v;
                ctx->value_size = size;
        }
        if (ctx->value_len > 0 && n > 0)
                ctx->value[ctx->value_len++] = ' ';
        memcpy(ctx->value + ctx->value_len, text, n);
        ctx->value_len += n;
        ctx->value[ctx->value_len] = 0;
        return 0;
}

static int config_handler(ParseContext *ctx, const char *key, const char *value);

/* The key line and its continuation lines are complete: set the value, with messages at the key's line. */
static int flush_key(ParseContext *ctx) {
        unsigned line = ctx->line;
        int r;

        if (!ctx->key)
                return 0;
        ctx->line = ctx->key_line;
        r = config_handler(ctx, ctx->key, ctx->value_len > 0 ? ctx->value : "");
        ctx->line = line;
        free(ctx->key);
        ctx->key = NULL;
        ctx->value_len = 0;
        return r;
}

/* Whether an indented line reads like the start of something else, which indentation would silently
 * turn into part of a value: "key = …" for a key of this section, or a [section] header. */
static const char *looks_misplaced(ParseContext *ctx, const char *s) {
        size_t n = strcspn(s, "=: \t");
        _cleanup_free_ char *word = NULL;
        const char *after = s + n + strspn(s + n, BLANKS);

        if (s[0] == '[') {
                const char *w = s + 1 + strspn(s + 1, BLANKS);

                for (SectionKind k = SECTION_AGENT; k <= SECTION_CERT; k++) {
                        size_t l = strlen(section_kind_table[k]);

                        if (strncmp(w, section_kind_table[k], l) == 0 && strchr(" \t]\"", w[l]))
                                return "a [section] header";
                }
                return NULL;
        }
        if (n == 0 || (*after != '=' && *after != ':') || ctx->kind == SECTION_NONE)
                return NULL;
        word = strndup(s, n);
        if (!word)
                return NULL;
        return config_key_find(ctx->kind, word) ? "a 'key = value' line" : NULL;
}

static int continuation_line(ParseContext *ctx, char *s) {
        const char *what;

        if (!ctx->key)
                return ctx_error(ctx, -EINVAL,
                                 "indented line, but no key before it to continue: remove the indentation");
        what = looks_misplaced(ctx, s);
        if (what)
                return ctx_error(ctx, -EINVAL,
                                 "indented line reads like %s, but indentation continues the value of '%s' "
                                 "(line %u): remove the indentation",
                                 what, ctx->key, ctx->key_line);
        *find_comment(s) = 0;
        strip_trailing(s);
        return value_append(ctx, s, strlen(s));
}

static int key_line(ParseContext *ctx, char *s) {
        char *sep = s, *value;
        bool was_space = false;

        for (; *sep && *sep != '=' && *sep != ':'; sep++) {
                if (was_space && *sep == ';')
                        break;
                was_space = is_blank(*sep);
        }
        if (*sep != '=' && *sep != ':')
                return ctx_error(ctx, -EINVAL, "expected 'key = value' or a [section] header");
        *sep = 0;
        value = sep + 1;
        *find_comment(value) = 0;
        value += strspn(value, BLANKS);
        strip_trailing(value);
        strip_trailing(s);

        ctx->key = strdup(s);
        if (!ctx->key)
                return ctx_error(ctx, -ENOMEM, "out of memory");
        ctx->key_line = ctx->line;
        ctx->value_len = 0;
        return value_append(ctx, value, strlen(value));
}

static int parse_line(ParseContext *ctx, const char *line, size_t len) {
        bool indented = len > 0 && is_blank(line[0]);
        char *s;
        int r;

        if (len + 1 > ctx->buf_size) {
                char *b = realloc(ctx->buf, len + 1);

                if (!b)
                        return ctx_error(ctx, -ENOMEM, "out of memory");
                ctx->buf = b;
                ctx->buf_size = len + 1;
        }
        memcpy(ctx->buf, line, len);
        ctx->buf[len] = 0;
        s = ctx->buf + strspn(ctx->buf, BLANKS);

        if (!*s) /* an empty line ends a value */
                return flush_key(ctx);
        if (*s == ';' || *s == '#')
                return 0;
        if (indented)
                return continuation_line(ctx, s);
        r = flush_key(ctx);
        if (r < 0)
                return r;
        if (*s == '[')
                return parse_section_header(ctx, s);
        return key_line(ctx, s);
}

/* One "key = value" (continuation lines joined) of the current section. */
static int config_handler(ParseContext *ctx, const char *key, const char *value) {
        _cleanup_free_ char *expanded = NULL, *msg = NULL, *bad = NULL;
        const ConfigKey *def;
        char where[256];
        int r;

        if (ctx->r < 0)
                return ctx->r;
        if (ctx->kind == SECTION_NONE) {
                return ctx_error(ctx, -EINVAL, "key '%s' outside of any section", key);
        }
        def = config_key_find(ctx->kind, key);
        if (!def)
                return ctx_error(ctx, -EINVAL, "unknown key '%s' in %s", key,
                                 section_display(where, sizeof(where), ctx->kind, ctx->name));
        value = value ?: "";
        if (strchr(value, '$')) {
                r = config_expand_env(value, &expanded, &msg);
                if (r < 0) {
                        return ctx_error(ctx, r, "%s: %s", key, msg ?: "out of memory");
                }
                /* The reader refused control characters in the file; these came from the environment. */
                if (has_control(expanded, strlen(expanded))) {
                        return ctx_error(ctx, -EINVAL, "%s: control character in the expanded value", key);
                }
                value = expanded;
        }
        r = def->set(def, value, (char *) ctx->section + def->offset, &bad);
        if (r == -ENOMEM)
                ctx_error(ctx, r, "out of memory");
        else if (r < 0 && bad)
                ctx_error(ctx, r, "invalid entry '%s' in %s: expected %s", bad, key, def->expected);
        else if (r < 0)
                ctx_error(ctx, r, "invalid value '%s' for %s: expected %s", value, key, def->expected);
        return r < 0 ? ctx->r : 0;
}

static int parse(Inventory *inv, ParseContext *ctx, char **reterr) {
        int r;

        assert(inv);
        ctx->inv = inv;
        r = index_sync(inv);
        if (r < 0)
                return error_at(reterr, r, ctx->filename, 0, "out of memory");
        for (;;) {
                const char *line = NULL;
                size_t len = 0;

                r = next_line(ctx, &line, &len);
                if (r <= 0)
                        break;
                if (parse_line(ctx, line, len) < 0)
                        break;
        }
        if (ctx->r >= 0)
                (void) flush_key(ctx); /* the last key line, at the end of the text */
        free(ctx->buf);
        free(ctx->key);
        free(ctx->value);
        if (ctx->r < 0) {
                if (reterr && ctx->error)
                        *reterr = TAKE_PTR(ctx->error);
                free(ctx->error);
                return ctx->r;
        }
        return 0;
}

int config_parse_string(Inventory *inv, const char *text, const char *filename, char **reterr) {
        text = text ?: "";
        return parse(inv,
                     &(ParseContext) {
                             .filename = filename ?: "<string>",
                             .next = text,
                             .end = text + strlen(text),
                             .fd = -1,
                     },
                     reterr);
}

/* "FILE:LINE: [certificate \"web\"] message": formatted only when there is an error, as validation
 * runs over every section of a large inventory. */
static _printf_(6, 7) int section_error(char **reterr, SectionKind kind, const char *name, const char *file,
                                        unsigned line, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        char where[256];
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        section_display(where, sizeof(where), kind, name);
        return error_at(reterr, -EINVAL, file, line, "%s %s", where, msg);
}

static int check_thresholds(char **reterr, SectionKind kind, const char *name, const char *file,
                            unsigned line, Threshold warn, Threshold crit) {
        char a[CONFIG_USEC_MAX], b[CONFIG_USEC_MAX];

        /* A percentage depends on the certificate's lifetime, so only two absolute values compare. */
        if (!warn.set || !crit.set || warn.is_percent || crit.is_percent || crit.usec <= warn.usec)
                return 0;
        return section_error(reterr, kind, name, file, line, "critical-before (%s) exceeds warn-before (%s)",
                             config_format_usec(crit.usec, a, sizeof(a)),
                             config_format_usec(warn.usec, b, sizeof(b)));
}

static int validate_agent(Inventory *inv, char **reterr) {
        AgentConfig *a = &inv->agent;
        const char *file = a->file ?: inv->path ?: "<config>";

        if (!a->state_directory) {
                /* systemd passes StateDirectory= as a ':'-separated list; ours is the first. */
                const char *e = getenv("STATE_DIRECTORY");
                size_t n = e ? strcspn(e, ":") : 0;

                a->state_directory = n > 0 ? strndup(e, n) : strdup("/var/lib/certherd");
        }
        if (!a->pin_directory)
                a->pin_directory = strdup("/run/certherd/pins");
        if (!a->state_directory || !a->pin_directory)
                return error_at(reterr, -ENOMEM, file, 0, "out of memory");
        /* The defaults scale down for short lifetimes (the smaller of 14 days and a third of the lifetime,
         * of 7 days and a sixth), as renew-before's 33% does: else a fresh 6-day certificate would be
         * expiry-critical the moment it is issued. */
        if (!a->warn_before.set)
                a->warn_before = (Threshold) { .set = true, .usec = 14 * USEC_PER_DAY, .lifetime_divisor = 3 };
        if (!a->critical_before.set)
                a->critical_before = (Threshold) { .set = true, .usec = 7 * USEC_PER_DAY, .lifetime_divisor = 6 };
        if (!a->renew_before.set)
                a->renew_before = (Threshold) { .set = true, .implicit = true, .is_percent = true, .percent = 33 };
        if (a->hook_timeout == 0)
                a->hook_timeout = CONFIG_HOOK_TIMEOUT_DEFAULT;
        return check_thresholds(reterr, SECTION_AGENT, NULL, file, a->file ? a->line : 0, a->warn_before,
                                a->critical_before);
}

/* A key in a PKCS#11 token must name its object: the label is the stable name services open, and
 * rotation keeps LABEL.next and LABEL.old beside it. */
static bool key_is_token(const char *key) {
        return key && strncasecmp(key, "pkcs11:", 7) == 0;
}

static bool token_key_has_label(const char *key) {
        const char *end = key + strcspn(key, "?");

        for (const char *p = key + 7; p < end; p += strcspn(p, ";?") + (p[strcspn(p, ";?")] == ';'))
                if (strncmp(p, "object=", 7) == 0 && p[7] && p[7] != ';' && p[7] != '?')
                        return true;
        return false;
}

static int validate_acme(AcmeConfig *a, char **reterr) {
        if (!a->listen && !(a->listen = strdup("[::]:80")))
                return error_at(reterr, -ENOMEM, a->file, 0, "out of memory");
        if (!a->directory)
                return section_error(reterr, SECTION_ACME, a->name, a->file, a->line,
                                     "missing required key 'directory'");
        if (!a->eab_kid != !a->eab_hmac_file)
                return section_error(reterr, SECTION_ACME, a->name, a->file, a->line,
                                     "eab-kid and eab-hmac-file must be given together");
        if (a->challenge == CHALLENGE_DNS_01 && !a->dns_hook)
                return section_error(reterr, SECTION_ACME, a->name, a->file, a->line,
                                     "challenge dns-01 needs dns-hook");
        if (a->account_key && (!key_is_token(a->account_key) || !token_key_has_label(a->account_key)))
                return section_error(reterr, SECTION_ACME, a->name, a->file, a->line,
                                     "account-key '%s' is not a pkcs11: URI naming an object (;object=LABEL)",
                                     a->account_key);
        if (a->pkcs11_pin_file && !a->account_key)
                return section_error(reterr, SECTION_ACME, a->name, a->file, a->line,
                                     "pkcs11-pin-file is for account-key = pkcs11:…");
        return 0;
}

static int validate_ca(const Inventory *inv, CaConfig *c, char **reterr) {
        const CaConfig *p = c;

        if (!c->certificate || !c->key)
                return section_error(reterr, SECTION_CA, c->name, c->file, c->line,
                                     "missing required key '%s'", c->certificate ? "key" : "certificate");
        if (key_is_token(c->key) && !token_key_has_label(c->key))
                return section_error(reterr, SECTION_CA, c->name, c->file, c->line,
                                     "key '%s' names no token object: add ;object=LABEL", c->key);
        if (c->pkcs11_pin_file && !key_is_token(c->key))
                return section_error(reterr, SECTION_CA, c->name, c->file, c->line,
                                     "pkcs11-pin-file is for key = pkcs11:…, not a key file");
        /* issue 11: an intermediate names its signer; the chain of parents must end in a root. */
        for (size_t depth = 0; p && p->parent; depth++) {
                const CaConfig *next = inventory_find_ca(inv, p->parent);

                if (!next)
                        return section_error(reterr, SECTION_CA, c->name, c->file, c->line,
                                             "parent '%s': no [ca \"%s\"] section", p->parent, p->parent);
                if (next == c || depth > inv->n_ca)
                        return section_error(reterr, SECTION_CA, c->name, c->file, c->line,
                                             "parent '%s': the parents form a loop", c->parent);
                p = next;
        }
        return 0;
}

/* "ca:internal", "self" */
static char *issuer_display(char *buf, size_t size, const CertConfig *c) {
        snprintf(buf, size, "%s%s%s", issuer_kind_to_string(c->issuer), c->issuer_name ? ":" : "",
                 c->issuer_name ?: "");
        return buf;
}

/* chain, leaf, combined, pkcs12: installed in one generation with key and certificate, so each must be
 * its own absolute path; what holds the key needs a key that is a file. */
static int validate_outputs(const CertConfig *c, char **reterr) {
        const char *paths[] = { c->certificate, c->key, c->chain, c->leaf, c->combined, c->pkcs12 };
        const char *names[] = { "certificate", "key", "chain", "leaf", "combined", "pkcs12" };
        bool key_in_token = c->key && strncmp(c->key, "pkcs11:", 7) == 0;

        for (size_t i = 2; i < ELEMENTSOF(paths); i++) {
                if (!paths[i])
                        continue;
                if (paths[i][0] != '/')
                        return section_error(reterr, SECTION_CERT, c->name, c->file, c->line,
                                             "'%s' must be an absolute path, not '%s'", names[i], paths[i]);
                for (size_t k = 0; k < i; k++)
                        if (paths[k] && strcmp(paths[k], paths[i]) == 0)
                                return section_error(reterr, SECTION_CERT, c->name, c->file, c->line,
                                                     "'%s' and '%s' name the same file %s", names[k], names[i],
                                                     paths[i]);
        }
        if ((c->combined || c->pkcs12) && (!c->key || key_in_token))
                return section_error(reterr, SECTION_CERT, c->name, c->file, c->line,
                                     "'%s' holds the private key: it needs a key file%s",
                                     c->combined ? "combined" : "pkcs12", key_in_token ? ", not a pkcs11: URI" : "");
        if (c->pkcs12 && !c->pkcs12_password_file)
                return section_error(reterr, SECTION_CERT, c->name, c->file, c->line,
                                     "'pkcs12' needs 'pkcs12-password-file'");
        if (c->pkcs12_password_file && !c->pkcs12)
                return section_error(reterr, SECTION_CERT, c->name, c->file, c->line,
                                     "'pkcs12-password-file' without 'pkcs12'");
        return 0;
}

static int validate_cert(const Inventory *inv, CertConfig *c, char **reterr) {
        char issuer[256];
        int r;

        if (!c->certificate)
                return section_error(reterr, SECTION_CERT, c->name, c->file, c->line,
                                     "missing required key 'certificate'");
        if (!c->key && c->issuer != ISSUER_NONE)
                return section_error(reterr, SECTION_CERT, c->name, c->file, c->line,
                                     "missing required key 'key' (needed with issuer '%s')",
                                     issuer_display(issuer, sizeof(issuer), c));
        if (key_is_token(c->key) && !token_key_has_label(c->key))
                return section_error(reterr, SECTION_CERT, c->name, c->file, c->line,
                                     "key '%s' names no token object: add ;object=LABEL", c->key);
        if (key_is_token(c->key) && c->key_password_file)
                return section_error(reterr, SECTION_CERT, c->name, c->file, c->line,
                                     "key-password-file is for key files; a token key takes pkcs11-pin-file");
        if (c->pkcs11_pin_file && !key_is_token(c->key))
                return section_error(reterr, SECTION_CERT, c->name, c->file, c->line,
                                     "pkcs11-pin-file is for key = pkcs11:…, not a key file");
        if ((c->issuer == ISSUER_CA && !inventory_find_ca(inv, c->issuer_name)) ||
            (c->issuer == ISSUER_ACME && !inventory_find_acme(inv, c->issuer_name)))
                return section_error(reterr, SECTION_CERT, c->name, c->file, c->line,
                                     "issuer '%s': no [%s \"%s\"] section",
                                     issuer_display(issuer, sizeof(issuer), c),
                                     issuer_kind_to_string(c->issuer), c->issuer_name ?: "");
        if (c->profile && c->issuer != ISSUER_ACME)
                return section_error(reterr, SECTION_CERT, c->name, c->file, c->line,
                                     "profile is an ACME profile: it needs issuer = acme:NAME, not '%s'",
                                     issuer_display(issuer, sizeof(issuer), c));
        if (c->issuer != ISSUER_NONE && strv_length(c->names) == 0)
                return section_error(reterr, SECTION_CERT, c->name, c->file, c->line,
                                     "issuer '%s' needs names", issuer_display(issuer, sizeof(issuer), c));
        /* issue 11: an ACME server validates DNS names and IPs only. */
        for (size_t i = 0; c->issuer == ISSUER_ACME && c->names && c->names[i]; i++)
                if (config_name_type(c->names[i]) == NAME_URI || config_name_type(c->names[i]) == NAME_EMAIL)
                        return section_error(reterr, SECTION_CERT, c->name, c->file, c->line,
                                             "names: '%s': an ACME server issues DNS names and IP addresses only",
                                             c->names[i]);
        if (c->subject && c->issuer == ISSUER_ACME)
                return section_error(reterr, SECTION_CERT, c->name, c->file, c->line,
                                     "subject: an ACME server sets the subject itself; remove the key");
        r = validate_outputs(c, reterr);
        if (r < 0)
                return r;
        return check_thresholds(reterr, SECTION_CERT, c->name, c->file, c->line, cert_warn_before(inv, c),
                                cert_critical_before(inv, c));
}

static _printf_(2, 3) int add_warning(Inventory *inv, const char *fmt, ...) {
        size_t n = strv_length(inv->warnings);
        char *w, **l;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&w, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        l = reallocarray(inv->warnings, n + 2, sizeof(char *));
        if (!l) {
                free(w);
                return -ENOMEM;
        }
        l[n] = w;
        l[n + 1] = NULL;
        inv->warnings = l;
        return 0;
}

/* policy_renew_time() never renews earlier than two thirds into the lifetime (a 90-day certificate at
 * 30 days): a renew-before beyond that is capped, which the operator should hear about when the
 * inventory is read, not discover. Percentages are known here; an absolute value only where the
 * lifetime is: the validity of an internal CA's leaves, or of a self-signed certificate. */
static int warn_percent(Inventory *inv, Threshold t, const char *file, unsigned line, SectionKind kind,
                        const char *name) {
        char where[256];

        if (!t.set || !t.is_percent || t.percent <= 66)
                return 0;
        return add_warning(inv,
                           "%s:%u: %s renew-before = %u%% is more than two thirds of a certificate's lifetime: "
                           "renewal is capped at two thirds (66%%)",
                           file ?: "<config>", line, section_display(where, sizeof(where), kind, name), t.percent);
}

static int warn_renew_before(Inventory *inv, const CertConfig *c) {
        Threshold t = cert_renew_before(inv, c);
        char where[256], a[CONFIG_USEC_MAX], b[CONFIG_USEC_MAX], cap[CONFIG_USEC_MAX], from[300] = "";
        const CaConfig *ca = NULL;
        usec_t lifetime;

        if (!t.set || t.is_percent)
                return 0;
        if (c->issuer == ISSUER_CA) {
                ca = inventory_find_ca(inv, c->issuer_name);
                if (!ca)
                        return 0;
                lifetime = ca->validity;
                snprintf(from, sizeof(from), "the validity of [ca \"%s\"]", ca->name);
        } else if (c->issuer == ISSUER_SELF) {
                lifetime = CONFIG_SELF_SIGNED_VALIDITY;
                snprintf(from, sizeof(from), "what issuer = self issues");
        } else
                return 0;
        if (t.usec <= lifetime - lifetime / 3)
                return 0;
        return add_warning(inv,
                           "%s:%u: %s renew-before = %s%s is more than two thirds of the certificate's lifetime "
                           "(%s, %s): renewal is capped at %s before expiry",
                           c->file ?: "<config>", c->line, section_display(where, sizeof(where), SECTION_CERT, c->name),
                           config_format_usec(t.usec, a, sizeof(a)), c->renew_before.set ? "" : " (from [agent])",
                           config_format_usec(lifetime, b, sizeof(b)), from,
                           config_format_usec(lifetime - lifetime / 3, cap, sizeof(cap)));
}

/* issue 11: a name outside its CA's permitted-names would be refused at each renewal: say so now. */
static int warn_permitted(Inventory *inv, const CertConfig *c) {
        const CaConfig *ca = c->issuer == ISSUER_CA ? inventory_find_ca(inv, c->issuer_name) : NULL;
        char where[256];

        for (const CaConfig *p = ca; p; p = p->parent ? inventory_find_ca(inv, p->parent) : NULL)
                for (size_t i = 0; c->names && c->names[i]; i++)
                        if (!config_name_permitted(p->permitted_names, c->names[i]))
                                return add_warning(inv, "%s:%u: %s name '%s' is outside the permitted-names of "
                                                   "[ca \"%s\"]: it will not be issued",
                                                   c->file ?: "<config>", c->line,
                                                   section_display(where, sizeof(where), SECTION_CERT, c->name),
                                                   c->names[i], p->name);
        return 0;
}

/* Public ACME CAs stopped putting clientAuth in their certificates (Let's Encrypt since 2026-02-11): a
 * set that needs it from an ACME issuer works until its next renewal, whose certificate renew.c then
 * refuses (usage-missing). Say so when the inventory is read, long before that day (issue 13 item 3). */
static int warn_client_usage(Inventory *inv, const CertConfig *c) {
        char where[256];

        if (c->issuer != ISSUER_ACME || (c->usage != USAGE_CLIENT && c->usage != USAGE_SERVER_CLIENT))
                return 0;
        return add_warning(inv,
                           "%s:%u: %s usage = %s with issuer = acme:%s: public ACME CAs no longer issue client "
                           "certificates (clientAuth), and a renewed certificate without it is not installed; "
                           "issue client certificates from an internal CA (issuer = ca:NAME)",
                           c->file ?: "<config>", c->line, section_display(where, sizeof(where), SECTION_CERT, c->name),
                           usage_to_string(c->usage), c->issuer_name ?: "");
}

static int collect_warnings(Inventory *inv) {
        int r;

        strv_free(inv->warnings); /* validated once more: found afresh */
        inv->warnings = NULL;
        r = warn_percent(inv, inv->agent.renew_before, inv->agent.file ?: inv->path, inv->agent.line, SECTION_AGENT,
                         NULL);
        for (size_t i = 0; i < inv->n_certs && r >= 0; i++) {
                r = warn_percent(inv, inv->certs[i]->renew_before, inv->certs[i]->file, inv->certs[i]->line,
                                 SECTION_CERT, inv->certs[i]->name);
                if (r >= 0)
                        r = warn_renew_before(inv, inv->certs[i]);
                if (r >= 0)
                        r = warn_permitted(inv, inv->certs[i]);
                if (r >= 0)
                        r = warn_client_usage(inv, inv->certs[i]);
        }
        return r;
}

int config_validate(Inventory *inv, char **reterr) {
        int r;

        assert(inv);
        r = validate_agent(inv, reterr);
        for (size_t i = 0; i < inv->n_acme && r >= 0; i++) {
                inv->acme[i]->hook_timeout = inv->agent.hook_timeout;
                r = validate_acme(inv->acme[i], reterr);
        }
        for (size_t i = 0; i < inv->n_ca && r >= 0; i++)
                r = validate_ca(inv, inv->ca[i], reterr);
        for (size_t i = 0; i < inv->n_certs && r >= 0; i++)
                r = validate_cert(inv, inv->certs[i], reterr);
        if (r >= 0 && collect_warnings(inv) < 0)
                r = error_at(reterr, -ENOMEM, inv->path ?: "<config>", 0, "out of memory");
        return r < 0 ? r : 0;
}

/* Run by root, certherd executes what the inventory says (exec =, dns-hook =) as root: a file that
 * someone else owns or may write would hand them root. Owned by root (or by whoever runs certherd),
 * and writable by nobody else. Other users run certherd with their own rights: nothing to protect. */
static int check_file_owner(const char *path, const struct stat *st, uid_t euid, char **reterr) {
        if (euid != 0)
                return 0;
        if (st->st_uid != 0 && st->st_uid != euid)
                return error_at(reterr, -EPERM, path, 0,
                                "refusing an inventory file owned by uid %u: running as root, it must belong to root",
                                (unsigned) st->st_uid);
        if (st->st_mode & (S_IWGRP | S_IWOTH))
                return error_at(reterr, -EPERM, path, 0,
                                "refusing an inventory file writable by %s (mode %04o): running as root, only its "
                                "owner may write it",
                                (st->st_mode & S_IWOTH) ? "others" : "its group", (unsigned) (st->st_mode & 07777));
        return 0;
}

/* The directories holding inventory files, as root: whoever may write them may add a file (with an
 * exec =) or swap one, so they are held to check_file_owner()'s rule. A missing one is no error. The main
 * file may sit in a sticky directory (-c /tmp/x.conf): nobody else may replace it there, and a conf.d
 * someone else made beside it is refused by this same rule. */
static int check_inventory_dir(const char *dir, bool sticky_ok, char **reterr) {
        struct stat st;
        int r;

        if (geteuid() != 0)
                return 0;
        r = dir_check_owned(dir, &st);
        if (r == -ENOENT || r == -ENOTDIR)
                return 0;
        if (r == -EPERM && sticky_ok && st.st_uid == 0 && (st.st_mode & S_ISVTX))
                return 0;
        if (r == -EPERM && st.st_uid != 0)
                return error_at(
                    reterr, r, dir, 0,
                    "refusing an inventory directory owned by uid %u: running as root, it must belong "
                    "to root",
                    (unsigned)st.st_uid);
        if (r == -EPERM)
                return error_at(
                    reterr, r, dir, 0,
                    "refusing an inventory directory writable by %s (mode %04o): running as root, only "
                    "its owner may write it",
                    (st.st_mode & S_IWOTH) ? "others" : "its group", (unsigned)(st.st_mode & 07777));
        if (r < 0)
                return error_at(reterr, r, dir, 0, "%s", file_strerror(r));
        return 0;
}

char *inventory_files_string(const Inventory *inv) {
        size_t size = 1;
        char *s, *p;

        for (char **f = inv->files; f && *f; f++)
                size += strlen(*f) + 2;
        if (!inv->files)
                return strdup(inv->path ?: "");
        s = p = malloc(size);
        if (!s)
                return NULL;
        for (char **f = inv->files; *f; f++)
                p = stpcpy(stpcpy(p, f == inv->files ? "" : ", "), *f);
        return s;
}

/* For messages about the inventory as a whole ("no certificate sets in FILES"). */
static int remember_file(Inventory *inv, const char *path) {
        size_t n = strv_length(inv->files);
        char **l = realloc(inv->files, (n + 2) * sizeof(char *));

        if (!l)
                return -ENOMEM;
        inv->files = l;
        l[n] = strdup(path);
        l[n + 1] = NULL;
        return l[n] ? 0 : -ENOMEM;
}

static int parse_file(Inventory *inv, const char *path, char **reterr) {
        _cleanup_free_ char *chunk = NULL;
        _cleanup_close_ int fd = -1;
        struct stat st;
        int r;

        /* Never blocks on a FIFO, never opens a device; as root, a link is followed only when root made
         * it in a directory nobody else may write (fd-util.h). */
        fd = open_regular_at(AT_FDCWD, path, geteuid() == 0 ? READ_TRUSTED : 0, &st);
        if (fd < 0)
                return error_at(
                    reterr, fd == -ENODEV || fd == -ESPIPE || fd == -ENXIO ? -EINVAL : fd, path, 0, "%s",
                    file_strerror(fd));
        r = check_file_owner(path, &st, geteuid(), reterr);
        if (r < 0)
                return r;
        r = remember_file(inv, path);
        if (r < 0)
                return error_at(reterr, r, path, 0, "out of memory");
        chunk = malloc(CHUNK_SIZE);
        if (!chunk)
                return error_at(reterr, -ENOMEM, path, 0, "out of memory");
        return parse(inv,
                     &(ParseContext) {
                             .filename = path,
                             .next = chunk,
                             .end = chunk,
                             .fd = fd,
                             .chunk = chunk,
                     },
                     reterr);
}

static int conf_filter(const struct dirent *de) {
        size_t n = strlen(de->d_name);

        return de->d_name[0] != '.' && n > 5 && strcmp(de->d_name + n - 5, ".conf") == 0 &&
               de->d_type != DT_DIR;
}

/* Byte order, not alphasort()'s strcoll(): the order must not depend on the locale. */
static int conf_compare(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

static int parse_conf_d(Inventory *inv, const char *main_path, char **reterr) {
        const char *slash = strrchr(main_path, '/');
        _cleanup_free_ char *dir = NULL;
        struct dirent **list = NULL;
        int n, r = 0;

        if (asprintf(&dir, "%.*sconf.d", slash ? (int) (slash - main_path + 1) : 0, main_path) < 0)
                return error_at(reterr, -ENOMEM, main_path, 0, "out of memory");
        r = check_inventory_dir(dir, false, reterr);
        if (r < 0)
                return r;
        n = scandir(dir, &list, conf_filter, conf_compare);
        if (n < 0) {
                r = -errno;
                if (r == -ENOENT || r == -ENOTDIR)
                        return 0;
                return error_at(reterr, r, dir, 0, "%s", strerror(-r));
        }
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *path = NULL;

                if (r >= 0 && asprintf(&path, "%s/%s", dir, list[i]->d_name) < 0)
                        r = error_at(reterr, -ENOMEM, dir, 0, "out of memory");
                else if (r >= 0)
                        r = parse_file(inv, path, reterr);
                free(list[i]);
        }
        free(list);
        return r;
}

/* The string and list fields of CertConfig, for cert_pack(). */
static const size_t cert_string_fields[] = {
        offsetof(CertConfig, name),           offsetof(CertConfig, certificate),
        offsetof(CertConfig, key),            offsetof(CertConfig, ca),
        offsetof(CertConfig, subject),        offsetof(CertConfig, issuer_name),
        offsetof(CertConfig, key_password_file), offsetof(CertConfig, pkcs11_pin_file),
        offsetof(CertConfig, owner),          offsetof(CertConfig, signal_pidfile),
        offsetof(CertConfig, exec),           offsetof(CertConfig, profile),
        offsetof(CertConfig, chain),          offsetof(CertConfig, leaf),
        offsetof(CertConfig, combined),       offsetof(CertConfig, pkcs12),
        offsetof(CertConfig, pkcs12_password_file), offsetof(CertConfig, file),
};
static const size_t cert_strv_fields[] = {
        offsetof(CertConfig, names),  offsetof(CertConfig, reload), offsetof(CertConfig, restart),
        offsetof(CertConfig, verify), offsetof(CertConfig, crl),
};

#define FIELD(c, off) (*(char **) ((char *) (c) + (off)))
#define STRV_FIELD(c, off) (*(char ***) ((char *) (c) + (off)))

static bool streq_ptr(const char *a, const char *b) {
        return a && b && strcmp(a, b) == 0;
}

/* One copy of `s` in inv->shared for the sets that repeat it; *last: the copy the previous set used for
 * this field (the sets of one file come in a row, so a run shares one copy). NULL on OOM. */
static char *share_string(Inventory *inv, char **last, const char *s) {
        char **a;

        if (streq_ptr(*last, s))
                return *last;
        a = grow_array(inv->shared, inv->n_shared);
        if (!a)
                return NULL;
        inv->shared = a;
        if (!(a[inv->n_shared] = strdup(s)))
                return NULL;
        return *last = a[inv->n_shared++];
}

static char *pack_string(char **p, const char *s) {
        size_t n = strlen(s) + 1;
        char *d = memcpy(*p, s, n);

        *p += n;
        return d;
}

/* inv->certs[i] and its strings in one allocation; a string that the previous or next set has in the same
 * field is shared with them instead: a daemon holds every set as long as it runs, and two dozen small
 * chunks per set cost more in malloc headers and rounding than their text (issue 9). The index is pointed
 * at the new struct. Returns 0 or -errno (then inv->certs[i] is unchanged). */
static int cert_pack(Inventory *inv, size_t i, char *last[static ELEMENTSOF(cert_string_fields)]) {
        const CertConfig *c = inv->certs[i], *next = i + 1 < inv->n_certs ? inv->certs[i + 1] : NULL;
        bool shared[ELEMENTSOF(cert_string_fields)] = {};
        size_t size = sizeof(CertConfig);
        CertConfig *p;
        char *s, **v;
        int r;

        for (size_t k = 0; k < ELEMENTSOF(cert_string_fields); k++) {
                const char *f = FIELD(c, cert_string_fields[k]);

                if (!f)
                        continue;
                /* last[k]: the copy the previous set shares, if it shares one. */
                if (streq_ptr(last[k], f) || (next && streq_ptr(FIELD(next, cert_string_fields[k]), f))) {
                        if (!share_string(inv, &last[k], f))
                                return -ENOMEM;
                        shared[k] = true;
                } else
                        size += strlen(f) + 1;
        }
        for (size_t k = 0; k < ELEMENTSOF(cert_strv_fields); k++)
                for (char **l = STRV_FIELD(c, cert_strv_fields[k]), **e = l; l; e++) {
                        size += sizeof(char *);
                        if (!*e)
                                break;
                        size += strlen(*e) + 1;
                }

        p = malloc(size);
        if (!p)
                return -ENOMEM;
        *p = *c;
        p->packed = true;
        v = (char **) (p + 1);
        for (size_t k = 0; k < ELEMENTSOF(cert_strv_fields); k++) {
                char **l = STRV_FIELD(c, cert_strv_fields[k]);
                size_t n = 0;

                if (!l)
                        continue;
                STRV_FIELD(p, cert_strv_fields[k]) = v;
                while (l[n])
                        n++;
                v += n + 1;
        }
        s = (char *) v;
        for (size_t k = 0; k < ELEMENTSOF(cert_strv_fields); k++) {
                char **l = STRV_FIELD(c, cert_strv_fields[k]), **d = STRV_FIELD(p, cert_strv_fields[k]);

                for (; l && *l; l++, d++)
                        *d = pack_string(&s, *l);
                if (l)
                        *d = NULL;
        }
        for (size_t k = 0; k < ELEMENTSOF(cert_string_fields); k++) {
                const char *f = FIELD(c, cert_string_fields[k]);

                if (f)
                        FIELD(p, cert_string_fields[k]) = shared[k] ? last[k] : pack_string(&s, f);
        }
        assert(s == (char *) p + size);

        /* In place: a put could grow the table for a name it already holds. */
        if (index_is_complete(inv) && (r = config_index_replace(inv->index, SECTION_CERT, p)) < 0) {
                free(p);
                return r;
        }
        cert_free(inv->certs[i]);
        inv->certs[i] = p;
        return 0;
}

int config_load(const char *path, Inventory **ret, char **reterr) {
        _cleanup_inventory_ Inventory *inv = NULL;
        int r;

        assert(ret);
        if (!path) {
                path = getenv("CERTHERD_CONFIG");
                if (!path || !*path)
                        path = CONFIG_DEFAULT_PATH;
        }
        inv = inventory_new();
        if (!inv || !(inv->path = strdup(path)))
                return error_at(reterr, -ENOMEM, path, 0, "out of memory");
        {
                const char *slash = strrchr(path, '/');
                _cleanup_free_ char *dir =
                    slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");

                r = dir ? check_inventory_dir(dir, true, reterr)
                        : error_at(reterr, -ENOMEM, path, 0, "out of memory");
        }
        if (r >= 0)
                r = parse_file(inv, path, reterr);
        if (r < 0)
                return r;
        r = parse_conf_d(inv, path, reterr);
        if (r < 0)
                return r;
        r = config_validate(inv, reterr);
        if (r < 0)
                return r;
        {
                char *last[ELEMENTSOF(cert_string_fields)] = {};

                for (size_t i = 0; i < inv->n_certs; i++)
                        if ((r = cert_pack(inv, i, last)) < 0)
                                return error_at(reterr, r, path, 0, "cannot keep the inventory: %s",
                                                strerror(-r));
        }
        for (char **w = inv->warnings; w && *w; w++)
                log_warning("%s", *w);
        *ret = TAKE_PTR(inv);
        return 0;
}

static void *find_section(const Inventory *inv, SectionKind kind, const char *name) {
        if (!inv || !name)
                return NULL;
        if (index_is_complete(inv))
                return config_index_get(inv->index, kind, name);
        /* Built by hand, or the index lost an allocation race with OOM: scan. */
        if (kind == SECTION_ACME) {
                for (size_t i = 0; i < inv->n_acme; i++)
                        if (strcmp(inv->acme[i]->name, name) == 0)
                                return inv->acme[i];
        } else if (kind == SECTION_CA) {
                for (size_t i = 0; i < inv->n_ca; i++)
                        if (strcmp(inv->ca[i]->name, name) == 0)
                                return inv->ca[i];
        } else {
                for (size_t i = 0; i < inv->n_certs; i++)
                        if (strcmp(inv->certs[i]->name, name) == 0)
                                return inv->certs[i];
        }
        return NULL;
}

CertConfig *inventory_find_cert(const Inventory *inv, const char *name) {
        return find_section(inv, SECTION_CERT, name);
}

CaConfig *inventory_find_ca(const Inventory *inv, const char *name) {
        return find_section(inv, SECTION_CA, name);
}

AcmeConfig *inventory_find_acme(const Inventory *inv, const char *name) {
        return find_section(inv, SECTION_ACME, name);
}

Threshold cert_warn_before(const Inventory *inv, const CertConfig *c) {
        return c && c->warn_before.set ? c->warn_before : inv->agent.warn_before;
}

Threshold cert_critical_before(const Inventory *inv, const CertConfig *c) {
        return c && c->critical_before.set ? c->critical_before : inv->agent.critical_before;
}

usec_t cert_hook_timeout(const Inventory *inv, const CertConfig *c) {
        if (c && c->hook_timeout > 0)
                return c->hook_timeout;
        return inv && inv->agent.hook_timeout > 0 ? inv->agent.hook_timeout : CONFIG_HOOK_TIMEOUT_DEFAULT;
}

const char *cert_profile(const Inventory *inv, const CertConfig *c) {
        const AcmeConfig *a;

        if (!c || c->issuer != ISSUER_ACME)
                return NULL;
        if (c->profile)
                return c->profile;
        a = inventory_find_acme(inv, c->issuer_name);
        return a ? a->profile : NULL;
}

Threshold cert_renew_before(const Inventory *inv, const CertConfig *c) {
        return c && c->renew_before.set ? c->renew_before : inv->agent.renew_before;
}

const WindowList *cert_window(const Inventory *inv, const CertConfig *c) {
        return c && c->window.set ? &c->window : &inv->agent.window;
}
