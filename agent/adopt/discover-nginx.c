/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The dump `nginx -T` prints (every configuration file, includes expanded, each after a "# configuration
 * file PATH:" line), read for its server blocks. Pure: discover.c runs nginx and decides whose dump to
 * read. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "discover.h"
#include "macro.h"

typedef struct NgServer {
        char *certs[4], *keys[4], *listens[16], *name;
        unsigned n_certs, n_keys, n_listens;
        bool ssl_listen[16];
        bool ssl_on; /* `ssl on;` (before nginx 1.25): every listen speaks TLS */
} NgServer;

static void ng_server_clear(NgServer *s) {
        for (unsigned i = 0; i < s->n_certs; i++)
                free(s->certs[i]);
        for (unsigned i = 0; i < s->n_keys; i++)
                free(s->keys[i]);
        for (unsigned i = 0; i < s->n_listens; i++)
                free(s->listens[i]);
        free(s->name);
        *s = (NgServer){};
}

/* The next token: a word, a quoted string, or one of { } ;. NULL at the end. */
static char *ng_token(const char **p, const char *end, char *single) {
        const char *s = *p, *start;

        for (;;) {
                while (s < end && strchr(" \t\r\n", *s))
                        s++;
                if (s < end && *s == '#') {
                        while (s < end && *s != '\n')
                                s++;
                        continue;
                }
                break;
        }
        if (s >= end)
                return *p = s, NULL;
        if (strchr("{};", *s)) {
                single[0] = *s;
                single[1] = 0;
                *p = s + 1;
                return strdup(single);
        }
        if (*s == '"' || *s == '\'') {
                char q = *s++;
                start = s;
                while (s < end && *s != q)
                        s++;
                *p = s < end ? s + 1 : s;
                return strndup(start, (size_t) (s - start));
        }
        start = s;
        while (s < end && !strchr(" \t\r\n{};#", *s))
                s++;
        *p = s;
        return strndup(start, (size_t) (s - start));
}

static int ng_directive(NgServer *srv, char **w, size_t n) {
        if (n >= 2 && strcmp(w[0], "ssl_certificate") == 0 && srv->n_certs < 4)
                srv->certs[srv->n_certs++] = strdup(w[1]);
        else if (n >= 2 && strcmp(w[0], "ssl_certificate_key") == 0 && srv->n_keys < 4)
                srv->keys[srv->n_keys++] = strdup(w[1]);
        else if (n >= 2 && strcmp(w[0], "ssl") == 0)
                srv->ssl_on = strcmp(w[1], "on") == 0;
        else if (n >= 2 && strcmp(w[0], "server_name") == 0 && !srv->name)
                srv->name = strdup(w[1]);
        else if (n >= 2 && strcmp(w[0], "listen") == 0 && srv->n_listens < 16 &&
                 strncmp(w[1], "unix:", 5) != 0) {
                bool ssl = false;
                for (size_t i = 2; i < n; i++)
                        ssl = ssl || strcmp(w[i], "ssl") == 0;
                srv->ssl_listen[srv->n_listens] = ssl;
                srv->listens[srv->n_listens++] = strdup(w[1]);
        }
        return 0;
}

static int ng_emit(const NgServer *srv, const NgServer *http, DiscoverNginxAdd add, void *userdata) {
        const NgServer *src = srv->n_certs > 0 ? srv : http;
        bool ssl_on = srv->ssl_on || http->ssl_on, any_ssl = ssl_on;
        int r = 0;

        for (unsigned i = 0; i < srv->n_listens; i++)
                any_ssl = any_ssl || srv->ssl_listen[i];
        /* A server without `listen … ssl` (or the old `ssl on;`) speaks no TLS, whatever certificate it
         * inherits. Without any listen, nginx listens on *:80 (plain) too. */
        if (!any_ssl)
                return 0;
        for (unsigned c = 0; r >= 0 && c < src->n_certs && c < src->n_keys; c++) {
                if (!src->certs[c] || !src->keys[c] || strchr(src->certs[c], '$'))
                        continue; /* a variable ($ssl_server_name): no fixed file */
                if (srv->n_listens == 0)
                        r = add(userdata, src->certs[c], src->keys[c], NULL, srv->name);
                for (unsigned i = 0; r >= 0 && i < srv->n_listens; i++)
                        if (srv->ssl_listen[i] || ssl_on)
                                r = add(userdata, src->certs[c], src->keys[c], srv->listens[i], srv->name);
        }
        return r;
}

int discover_parse_nginx(const char *text, size_t size, DiscoverNginxAdd add, void *userdata) {
        const char *p = text, *end = text + size;
        char *words[64] = {}, single[2];
        size_t n = 0;
        int depth = 0, server_depth = -1, r = 0;
        NgServer srv = {}, http = {};
        char *t;

        while (r >= 0 && (t = ng_token(&p, end, single))) {
                if (strcmp(t, ";") == 0) {
                        if (n > 0)
                                r = ng_directive(server_depth >= 0 ? &srv : &http, words, n);
                } else if (strcmp(t, "{") == 0) {
                        depth++;
                        if (n > 0 && strcmp(words[0], "server") == 0 && server_depth < 0) {
                                server_depth = depth;
                                ng_server_clear(&srv);
                        }
                } else if (strcmp(t, "}") == 0) {
                        if (server_depth == depth) {
                                r = ng_emit(&srv, &http, add, userdata);
                                server_depth = -1;
                                ng_server_clear(&srv);
                        }
                        if (depth > 0)
                                depth--;
                } else if (n < ELEMENTSOF(words)) {
                        words[n++] = t;
                        continue;
                } else {
                        free(t);
                        continue;
                }
                free(t);
                for (size_t i = 0; i < n; i++)
                        free(words[i]);
                n = 0;
        }
        for (size_t i = 0; i < n; i++)
                free(words[i]);
        ng_server_clear(&srv);
        ng_server_clear(&http);
        return r;
}
