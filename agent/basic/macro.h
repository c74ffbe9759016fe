/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stdbool.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _pure_ __attribute__((pure))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define streq(a, b) (strcmp((a), (b)) == 0)
/* n rounded up to a multiple of a, a power of two. */
#define ALIGN_TO(n, a) (((n) + (a) -1) & ~((size_t) (a) -1))

/* func##p(), for _cleanup_(func##p): calls func(*p); func (a destructor, convention 5) accepts NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                             \
        static inline void func##p(type *p) {                                                               \
                func(*p);                                                                                   \
        }

/* An array of n zeroed `type`: one element when n is 0, so that NULL means out of memory only. */
static inline void *calloc_n(size_t n, size_t size) {
        return calloc(n > 0 ? n : 1, size);
}
#define new0(type, n) ((type *) calloc_n((n), sizeof(type)))

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

/* free() each pointer of an array; free_many(a, b, …): a struct's strings in one statement. */
static inline void free_array(void *const *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(p[i]);
}
#define free_many(...)                                                                                      \
        free_array((void *const[]){ __VA_ARGS__ }, ELEMENTSOF(((void *const[]){ __VA_ARGS__ })))

static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Hand ownership out of a cleanup variable. */
#define TAKE_PTR(p)                                                                                         \
        ({                                                                                                  \
                __typeof__(p) _tp_ = (p);                                                                   \
                (p) = NULL;                                                                                 \
                _tp_;                                                                                       \
        })
/* The struct s, which is reset to zeroes: an owner handing over what its fields own. */
#define TAKE_STRUCT(s)                                                                                      \
        ({                                                                                                  \
                __typeof__(s) _ts_ = (s);                                                                   \
                (s) = (__typeof__(s)){};                                                                    \
                _ts_;                                                                                       \
        })
#define TAKE_FD(fd)                                                                                         \
        ({                                                                                                  \
                int _tf_ = (fd);                                                                            \
                (fd) = -1;                                                                                  \
                _tf_;                                                                                       \
        })

/* Grow the array `a` of `n` elements by one zeroed element and count it: a pointer to that element, or
 * NULL when out of memory (`a` and `n` unchanged). */
#define ARRAY_APPEND(a, n)                                                                                  \
        ({                                                                                                  \
                __typeof__(a) _aa_ = reallocarray((a), (n) + 1, sizeof(*(a)));                              \
                if (_aa_) {                                                                                 \
                        (a) = _aa_;                                                                         \
                        _aa_ += (n)++;                                                                      \
                        memset(_aa_, 0, sizeof(*_aa_));                                                     \
                }                                                                                           \
                _aa_;                                                                                       \
        })

/* Inside a function that takes `fmt, ...`: *ret = the formatted text (NULL when out of memory). Returns 0
 * or -ENOMEM. */
#define VA_FORMAT(ret, fmt)                                                                                 \
        ({                                                                                                  \
                va_list _vf_ap_;                                                                            \
                int _vf_r_;                                                                                 \
                va_start(_vf_ap_, fmt);                                                                     \
                _vf_r_ = vasprintf((ret), (fmt), _vf_ap_);                                                  \
                va_end(_vf_ap_);                                                                            \
                if (_vf_r_ < 0)                                                                             \
                        *(ret) = NULL;                                                                      \
                _vf_r_ < 0 ? -ENOMEM : 0;                                                                   \
        })

/* NULL-terminated string vectors (names, units, endpoints). */
void strv_free(char **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free)
#define _cleanup_strv_free_ _cleanup_(strv_freep)
size_t strv_length(char *const *l);
/* Append s (taken over: freed on failure; a NULL s is -ENOMEM, so that an allocation can be passed as
 * is) to the NULL-terminated list *l of *n strings (n NULL: counted). Returns 0 or -ENOMEM; *l stays a
 * valid list either way. */
int strv_consume(char ***l, size_t *n, char *s);
/* Whether the NULL-terminated list l (may be NULL) holds s. */
bool strv_contains(char *const *l, const char *s);
/* Whether a and b hold the same strings in the same order (NULL is the empty list). */
bool strv_equal(char *const *a, char *const *b);

/* *reterr (when reterr is not NULL) = the formatted one-line message (NULL if out of memory); returns r.
 * The `reterr` convention: set only on failure, freed by the caller. */
int reterr_set(char **reterr, int r, const char *fmt, ...) _printf_(3, 4);

/* The index of s in table[0..n) (NULL entries never match), or -EINVAL: the one lookup behind every
 * x_from_string() (docs/architecture.md, conventions 12). */
int string_table_lookup(const char *const *table, size_t n, const char *s);
/* The same over a table of structs, a name among other facts: `first` points at the name field of entry
 * 0, `stride` is the size of an entry. */
int string_table_lookup_stride(const void *first, size_t stride, size_t n, const char *s);

#define DEFINE_STRING_TABLE_TO_STRING(prefix, type, table, max)                                             \
        const char *prefix##_to_string(type v) {                                                            \
                return v >= 0 && v < (max) ? (table)[v] : NULL;                                             \
        }
#define DEFINE_STRING_TABLE(prefix, type, table, max)                                                       \
        DEFINE_STRING_TABLE_TO_STRING(prefix, type, table, max)                                             \
        type prefix##_from_string(const char *s) {                                                          \
                return (type) string_table_lookup((table), (max), s);                                       \
        }
/* x_to_string() and x_from_string() for a table of structs whose `field` is the name. */
#define DEFINE_STRUCT_STRING_TABLE(prefix, type, table, field, max)                                         \
        const char *prefix##_to_string(type v) {                                                            \
                return v >= 0 && v < (max) ? (table)[v].field : NULL;                                       \
        }                                                                                                   \
        type prefix##_from_string(const char *s) {                                                          \
                return (type) string_table_lookup_stride(&(table)[0].field, sizeof((table)[0]), (max), s);  \
        }
