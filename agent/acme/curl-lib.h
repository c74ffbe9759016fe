/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <curl/curl.h>

/* libcurl, loaded when the first ACME client is made rather than linked: an agent that renews only from
 * its internal CA (or not at all) never maps it, nor what it pulls in (Kerberos, LDAP, SSH, a second
 * crypto library): 3.8 MB of RSS at rest. The library is the one the build was configured against
 * (CURL_SONAME, the GnuTLS flavour on Debian). Calls go through the sym_ pointers below. */
#define CURL_LIB_SYMBOLS(X)                                                                                 \
        X(curl_easy_cleanup)                                                                                \
        X(curl_easy_getinfo)                                                                                \
        X(curl_easy_init)                                                                                   \
        X(curl_easy_reset)                                                                                  \
        X(curl_easy_setopt)                                                                                 \
        X(curl_easy_strerror)                                                                               \
        X(curl_multi_add_handle)                                                                            \
        X(curl_multi_cleanup)                                                                               \
        X(curl_multi_info_read)                                                                             \
        X(curl_multi_init)                                                                                  \
        X(curl_multi_perform)                                                                               \
        X(curl_multi_poll)                                                                                  \
        X(curl_multi_remove_handle)                                                                         \
        X(curl_share_cleanup)                                                                               \
        X(curl_share_init)                                                                                  \
        X(curl_share_setopt)                                                                                \
        X(curl_slist_append)                                                                                \
        X(curl_slist_free_all)

#define CURL_LIB_DECLARE(f) extern typeof(f) *sym_##f;
CURL_LIB_SYMBOLS(CURL_LIB_DECLARE)
#undef CURL_LIB_DECLARE

/* Load libcurl once (any thread). Returns 0, or -ELIBACC when it cannot be loaded or lacks a function
 * (said once, in the journal, with the loader's reason). */
int curl_lib_load(void);
