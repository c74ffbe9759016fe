/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>

#include "curl-lib.h"
#include "log.h"

#define CURL_LIB_DEFINE(f) typeof(f) *sym_##f;
CURL_LIB_SYMBOLS(CURL_LIB_DEFINE)
#undef CURL_LIB_DEFINE

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_error;

static void load(void) {
        /* Never unloaded: libcurl keeps global state (and its TLS library's) for the process's life. */
        void *dl = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);

        if (!dl) {
                log_error("cannot load libcurl (%s): %s; ACME is unavailable", CURL_SONAME, dlerror());
                load_error = -ELIBACC;
                return;
        }
#define CURL_LIB_RESOLVE(f)                                                                                 \
        if (!(sym_##f = (typeof(sym_##f)) dlsym(dl, #f))) {                                                 \
                log_error("cannot load libcurl (%s): it has no %s(); ACME is unavailable", CURL_SONAME,     \
                          #f);                                                                              \
                load_error = -ELIBACC;                                                                      \
                return;                                                                                     \
        }
        CURL_LIB_SYMBOLS(CURL_LIB_RESOLVE)
#undef CURL_LIB_RESOLVE
}

int curl_lib_load(void) {
        (void) pthread_once(&load_once, load);
        return load_error;
}
