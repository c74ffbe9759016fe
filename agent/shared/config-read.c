/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Reading one inventory file through inih.
 *
 * inih (ini_parse_stream) splits each line it is given into a [section] header, a comment, "key = value"
 * or "key: value" with blanks trimmed, or an indented line that continues the previous key; it calls our
 * handler once per key line and once per continuation line. What it cannot do with the options Debian
 * builds it with (and that a program cannot change) is done by the reader it pulls lines from:
 *   - its line buffer holds 200 bytes and it silently cuts longer lines, so the reader hands a long
 *     line over in pieces that inih takes for continuation lines, and the handler glues them back
 *     together exactly as they stood;
 *   - it knows no file:line, no size limits and no NUL bytes: the reader counts physical lines, reads the
 *     file a chunk at a time and refuses NULs, control characters, long lines and huge files;
 *   - it does not join continuation lines, and a blank line does not end a value for it: the reader
 *     tells the handler what each piece is, and ends a value itself;
 *   - it keeps 49 bytes of a section name: headers are parsed from the reader's copy of the line.
 * Every piece the reader hands over says whether inih must call the handler for it; the handler checks
 * that it does, so an inih built otherwise fails loudly instead of reading an inventory differently. */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "shared-internal.h"
#include "config-value.h"
#include "config.h"
#include "install.h"

/* Far beyond any inventory; stops reading an endless pipe. */
#define CONFIG_FILE_MAX (64U * 1024 * 1024)
/* A line, and a value joined from continuation lines. */
#define CONFIG_LINE_MAX (CONFIG_CHUNK_SIZE - 1)
#define CONFIG_VALUE_MAX (1024U * 1024U)

#define BLANKS " \t"

/* The reader and inih disagree about a line: an inih built with options other than Debian's. */
#define MISREAD "inih reads this line otherwise than certherd: is it built with other options?"

/* What inih must do with the piece the reader handed it last. */
typedef enum Piece {
        PIECE_NONE,         /* nothing: a comment, a blank line, a [section] header */
        PIECE_KEY,          /* call the handler with the key line */
        PIECE_CONTINUATION, /* call it with an indented line: joined after one space */
        PIECE_FRAGMENT,     /* call it with the next piece of a long line: joined with `glue` */
} Piece;

typedef struct ParseContext {
        Inventory *inv;
        const char *filename;
        const char *next; /* the text read but not yet parsed ... */
        const char *end;  /* ... ends here */
        int fd;           /* >= 0: more text comes from here, into chunk; borrowed */
        char *chunk;
        size_t total; /* bytes read from fd */
        unsigned line;
        SectionKind kind; /* of the current section */
        void *section;    /* &inv->agent, or an AcmeConfig/CaConfig/CertConfig */
        const char *name; /* the current section's name (NULL for [agent]) */
        char *error;      /* the first error, "FILE:LINE: message" */
        int r;

        char *buf; /* the current line, NUL-terminated, comment and trailing blanks cut */
        size_t buf_size;
        const char *rest; /* what of it is still to be handed to inih; NULL: nothing */
        const char *glue; /* the blanks between the last piece and rest */
        size_t glue_len;
        bool started;   /* whether inih has had its first line */
        Piece piece;    /* the piece handed last */
        bool called;    /* whether inih called the handler for it */
        size_t key_len; /* PIECE_KEY: the length of the key inih must find */
        const char *key_start;

        char *key; /* the key line whose value continuation lines extend; NULL: none */
        char *value;
        size_t value_len, value_size;
        unsigned key_line;

        /* The keys set so far in the current [section] block: one given twice is an error (a later block
         * of the same section, or a later file, may still override it). */
        struct SeenKey {
                const ConfigKey *def;
                unsigned line;
        } * seen;
        size_t n_seen;
} ParseContext;

static _printf_(3, 4) int ctx_error(ParseContext *ctx, int r, const char *fmt, ...) {
        va_list ap;

        if (ctx->r < 0) /* keep the first */
                return ctx->r;
        ctx->r = r;
        va_start(ap, fmt);
        config_verror(&ctx->error, r, ctx->filename, ctx->line, fmt, ap);
        va_end(ap);
        return r;
}

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
                r = config_section_get(ctx->inv, kind, name, ctx->filename, ctx->line, &ctx->section);
                if (r < 0)
                        return ctx_error(ctx, r, "out of memory");
                name = *(char **) ctx->section; /* every section struct begins with its name */
        }
        ctx->kind = kind;
        ctx->name = name;
        ctx->n_seen = 0; /* a key given twice counts within one [section] block; a later block merges */
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
                if (strlen(config_section_kind_table[k]) == n &&
                    strncmp(p, config_section_kind_table[k], n) == 0)
                        kind = k;
        if (kind == SECTION_NONE)
                return ctx_error(ctx, -EINVAL, "unknown section [%s]", p);
        if (kind == SECTION_AGENT)
                return *rest ? ctx_error(ctx, -EINVAL, "section [agent] takes no name")
                             : enter_section(ctx, kind, NULL);
        if (!*rest)
                return ctx_error(ctx, -EINVAL, "section [%s] needs a name: [%s \"NAME\"]",
                                 config_section_kind_table[kind], config_section_kind_table[kind]);
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
                config_error_at(&ctx->error, r, ctx->filename, 0, "%s", msg);
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
                k = read(ctx->fd, ctx->chunk + rest, CONFIG_CHUNK_SIZE - rest);
        while (k < 0 && errno == EINTR);
        if (k < 0) {
                int r = -errno;

                return file_error(ctx, r, strerror(-r));
        }
        if (k == 0)
                ctx->fd = -1;                     /* the end */
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
               ctx->end - ctx->next < (ptrdiff_t) CONFIG_CHUNK_SIZE)
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
                return ctx_error(ctx, -EINVAL, "line too long (max %u characters)",
                                 (unsigned) CONFIG_LINE_MAX);
        if (has_control(start, len))
                return ctx_error(ctx, -EINVAL, "control character in line");
        *ret = start;
        *ret_len = len;
        return 1;
}

/* Cuts s at its inline comment (a ';' after a blank) and before its trailing blanks. inih cuts the same
 * comment, but it must go before a long line is broken up: in a later piece it would not be one. */
static void cut_comment(char *s) {
        bool was_space = false;
        char *p = s;

        for (; *p; p++) {
                if (was_space && *p == ';')
                        break;
                was_space = is_blank(*p);
        }
        while (p > s && is_blank(p[-1]))
                p--;
        *p = 0;
}

static int value_append(ParseContext *ctx, const char *sep, size_t sep_len, const char *text, size_t n) {
        size_t need;

        if (ctx->value_len == 0 || n == 0)
                sep_len = 0;
        need = ctx->value_len + sep_len + n + 1;
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
        memcpy(ctx->value + ctx->value_len, sep, sep_len);
        memcpy(ctx->value + ctx->value_len + sep_len, text, n);
        ctx->value_len += sep_len + n;
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

/* inih's handler: a key line, a continuation line or a piece of a long line, as the reader announced. */
static int on_value(void *user, _unused_ const char *section, const char *name, const char *value) {
        ParseContext *ctx = user;

        if (ctx->r < 0)
                return 0;
        if (ctx->called || ctx->piece == PIECE_NONE || !name || !value ||
            (ctx->piece == PIECE_KEY &&
             (strlen(name) != ctx->key_len || memcmp(name, ctx->key_start, ctx->key_len) != 0))) {
                ctx_error(ctx, -EINVAL, MISREAD);
                return 0;
        }
        ctx->called = true;
        switch (ctx->piece) {
        case PIECE_KEY:
                ctx->key = strdup(name);
                if (!ctx->key) {
                        ctx_error(ctx, -ENOMEM, "out of memory");
                        return 0;
                }
                ctx->key_line = ctx->line;
                ctx->value_len = 0;
                return value_append(ctx, "", 0, value, strlen(value)) >= 0;
        case PIECE_CONTINUATION:
                return value_append(ctx, " ", 1, value, strlen(value)) >= 0;
        default:
                return value_append(ctx, ctx->glue, ctx->glue_len, value, strlen(value)) >= 0;
        }
}

/* Where to end the first piece of text (len > cap): at most cap characters, at least min. The rest must
 * not start with a blank (inih would strip it), ';' or '#' (inih would read a comment line): best
 * between two other characters, where nothing goes between the pieces, else before a run of blanks,
 * which then lies between the returned end and *ret_next, where the rest starts. 0: nowhere. */
static size_t break_at(const char *text, size_t len, size_t min, size_t cap, size_t *ret_next) {
        size_t k;

        assert(len > cap);
        for (k = cap; k >= min && k > 0; k--)
                if (!is_blank(text[k - 1]) && !is_blank(text[k]) && !strchr(";#", text[k])) {
                        *ret_next = k;
                        return k;
                }
        for (k = cap; k >= min && k > 0; k--)
                if (is_blank(text[k]) && !is_blank(text[k - 1])) {
                        size_t next = k + strspn(text + k, BLANKS);

                        if (next < len && !strchr(";#", text[next])) {
                                *ret_next = next;
                                return k;
                        }
                }
        return 0;
}

/* Hands text to inih as one piece of at most num - 3 characters (room for an indent, "\n" and the NUL)
 * and keeps the rest for the next calls. min: how much the first piece must hold (a key line's key). */
static char *hand(ParseContext *ctx, char *str, int num, const char *text, size_t min, Piece piece) {
        size_t len = strlen(text), cap = num > 3 ? (size_t) num - 3 : 0, k = len, next = len;
        bool indent = piece != PIECE_KEY;

        if (len > cap) {
                k = break_at(text, len, min, cap, &next);
                if (k == 0) {
                        ctx_error(
                                ctx, -EINVAL,
                                "line too long to read in pieces of %zu characters with no place to break it: "
                                "continue the value on indented lines",
                                cap);
                        return NULL;
                }
                ctx->glue = text + k;
                ctx->glue_len = next - k;
        }
        ctx->rest = next < len ? text + next : NULL;
        ctx->piece = piece;
        snprintf(str, (size_t) num, "%s%.*s\n", indent ? " " : "", (int) k, text);
        return str;
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
                        size_t l = strlen(config_section_kind_table[k]);

                        if (strncmp(w, config_section_kind_table[k], l) == 0 && strchr(" \t]\"", w[l]))
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

static char *continuation_line(ParseContext *ctx, char *s, char *str, int num) {
        const char *what;

        if (!ctx->key) {
                ctx_error(ctx, -EINVAL,
                          "indented line, but no key before it to continue: remove the indentation");
                return NULL;
        }
        what = looks_misplaced(ctx, s);
        if (what) {
                ctx_error(
                        ctx, -EINVAL,
                        "indented line reads like %s, but indentation continues the value of '%s' (line %u): "
                        "remove the indentation",
                        what, ctx->key, ctx->key_line);
                return NULL;
        }
        cut_comment(s);
        return hand(ctx, str, num, s, 0, PIECE_CONTINUATION);
}

/* "key = value" or "key: value", split where inih splits it: at the first '=' or ':' before a comment. */
static char *key_line(ParseContext *ctx, char *s, char *str, int num) {
        bool was_space = false;
        char *sep = s, *end;

        for (; *sep && *sep != '=' && *sep != ':'; sep++) {
                if (was_space && *sep == ';')
                        break;
                was_space = is_blank(*sep);
        }
        if (*sep != '=' && *sep != ':') {
                ctx_error(ctx, -EINVAL, "expected 'key = value' or a [section] header");
                return NULL;
        }
        for (end = sep; end > s && is_blank(end[-1]); end--)
                ;
        if (end == s) { /* inih would not take an empty key for one that continuation lines extend */
                ctx_error(ctx, -EINVAL, "no key before '%c'", *sep);
                return NULL;
        }
        ctx->key_start = s;
        ctx->key_len = (size_t) (end - s);
        cut_comment(sep + 1);
        return hand(ctx, str, num, s, (size_t) (sep - s) + 1, PIECE_KEY);
}

/* inih gets the header up to its ']', to end the previous key's continuation lines. The section is the
 * one parsed here, from the whole line: inih would keep only 49 bytes of its name. */
static char *header_line(ParseContext *ctx, char *s, char *str, int num) {
        const char *close = strchr(s, ']');
        size_t n = close ? (size_t) (close - s) + 1 : 0;

        if (n + 2 <= (size_t) num)
                snprintf(str, (size_t) num, "%.*s\n", (int) n, s);
        if (parse_section_header(ctx, s) < 0)
                return NULL;
        if (n + 2 > (size_t) num) { /* inih would cut it; a header has no continuation lines */
                ctx_error(ctx, -EINVAL, "section header too long (max %d characters)", num - 2);
                return NULL;
        }
        return str;
}

/* The next line for inih, or what is left of a long one; NULL at the end or at the first error. */
static char *read_line(char *str, int num, void *stream) {
        ParseContext *ctx = stream;
        const char *line = NULL;
        size_t len = 0;
        char *s;

        if (ctx->piece != PIECE_NONE && !ctx->called && ctx->r >= 0)
                ctx_error(ctx, -EINVAL, MISREAD);
        ctx->piece = PIECE_NONE;
        ctx->called = false;
        if (ctx->r < 0)
                return NULL;
        if (!ctx->started) {
                /* inih strips a byte order mark from its first line; the reader has stripped one already,
                 * and a second one is text. So inih's first line is an empty one of its own. */
                ctx->started = true;
                snprintf(str, (size_t) num, "\n");
                return str;
        }
        if (ctx->rest)
                return hand(ctx, str, num, ctx->rest, 0, PIECE_FRAGMENT);
        if (next_line(ctx, &line, &len) <= 0) {
                (void) flush_key(ctx); /* the last key line, at the end of the text */
                return NULL;
        }
        if (len + 1 > ctx->buf_size) {
                char *b = realloc(ctx->buf, len + 1);

                if (!b) {
                        ctx_error(ctx, -ENOMEM, "out of memory");
                        return NULL;
                }
                ctx->buf = b;
                ctx->buf_size = len + 1;
        }
        memcpy(ctx->buf, line, len);
        ctx->buf[len] = 0;
        s = ctx->buf + strspn(ctx->buf, BLANKS);

        if (*s == ';' || *s == '#') { /* comment lines may sit between continuation lines */
                snprintf(str, (size_t) num, "%c\n", *s);
                return str;
        }
        if (*s && s > ctx->buf)
                return continuation_line(ctx, s, str, num);
        if (flush_key(ctx) < 0) /* an empty line, a header or a key line ends the value before */
                return NULL;
        if (!*s) {
                snprintf(str, (size_t) num, "\n");
                return str;
        }
        if (*s != '[')
                return key_line(ctx, s, str, num);
        return header_line(ctx, s, str, num);
}

/* A key given twice in one [section] block is a mistake (which one was meant?), not an override: the
 * error names both lines. */
static int remember_key(ParseContext *ctx, const ConfigKey *def, const char *key) {
        char where[256];

        for (size_t i = 0; i < ctx->n_seen; i++)
                if (ctx->seen[i].def == def)
                        return ctx_error(
                                ctx, -EINVAL,
                                "%s given twice in %s (first at line %u): one line per key; a long value "
                                "continues on indented lines",
                                key, config_section_display(where, sizeof(where), ctx->kind, ctx->name),
                                ctx->seen[i].line);
        if (!ARRAY_APPEND(ctx->seen, ctx->n_seen))
                return ctx_error(ctx, -ENOMEM, "out of memory");
        ctx->seen[ctx->n_seen - 1] = (struct SeenKey){ .def = def, .line = ctx->line };
        return 0;
}

/* One "key = value" (continuation lines joined) of the current section. */
static int config_handler(ParseContext *ctx, const char *key, const char *value) {
        _cleanup_free_ char *expanded = NULL, *msg = NULL, *bad = NULL;
        const ConfigKey *def;
        char where[256];
        int r;

        if (ctx->r < 0)
                return ctx->r;
        if (ctx->kind == SECTION_NONE)
                return ctx_error(ctx, -EINVAL, "key '%s' outside of any section", key);
        def = config_key_find(ctx->kind, key);
        if (!def)
                return ctx_error(ctx, -EINVAL, "unknown key '%s' in %s", key,
                                 config_section_display(where, sizeof(where), ctx->kind, ctx->name));
        r = remember_key(ctx, def, key);
        if (r < 0)
                return r;
        if (strchr(value, '$')) {
                r = config_expand_env(value, &expanded, &msg);
                if (r < 0)
                        return ctx_error(ctx, r, "%s: %s", key, msg ?: "out of memory");
                /* The reader refused control characters in the file; these came from the environment. */
                if (has_control(expanded, strlen(expanded)))
                        return ctx_error(ctx, -EINVAL, "%s: control character in the expanded value", key);
                value = expanded;
        }
        if (def->extra) {
                CertExtra *x = cert_extra_mut(ctx->section);

                r = x ? def->set(def, value, (char *) x + def->offset, &bad) : -ENOMEM;
        } else
                r = def->set(def, value, (char *) ctx->section + def->offset, &bad);
        /* owner = names a user (and group) of this system, known at load, not at the first renewal. */
        if (r >= 0 && ctx->kind == SECTION_CERT && strcmp(key, "owner") == 0) {
                uid_t uid;
                gid_t gid;

                r = install_parse_owner(value, &uid, &gid);
                if (r == -ESRCH)
                        return ctx_error(ctx, -EINVAL, "owner = %s: no such user or group on this system",
                                         value);
                if (r < 0)
                        return ctx_error(ctx, r, "owner = %s: cannot look it up: %s", value, strerror(-r));
        }
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
        r = config_index_sync(inv);
        if (r < 0)
                return config_error_at(reterr, r, ctx->filename, 0, "out of memory");
        r = ini_parse_stream(read_line, ctx, on_value, ctx);
        /* Every error inih finds is one the reader or the handler has named already; this is for an inih
         * that would refuse a line the reader took for good. */
        if (r != 0 && ctx->r >= 0)
                ctx_error(ctx, -EINVAL, "inih cannot read this line");
        free(ctx->buf);
        free(ctx->key);
        free(ctx->value);
        free(ctx->seen);
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
                     &(ParseContext){
                             .filename = filename ?: "<string>",
                             .next = text,
                             .end = text + strlen(text),
                             .fd = -1,
                     },
                     reterr);
}

int config_parse_fd(Inventory *inv, int fd, const char *path, char **reterr) {
        _cleanup_free_ char *chunk = malloc(CONFIG_CHUNK_SIZE);

        if (!chunk)
                return config_error_at(reterr, -ENOMEM, path, 0, "out of memory");
        return parse(inv,
                     &(ParseContext){
                             .filename = path,
                             .next = chunk,
                             .end = chunk,
                             .fd = fd,
                             .chunk = chunk,
                     },
                     reterr);
}
