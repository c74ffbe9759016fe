/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "config.h"
#include "x509.h"

/* The further outputs of a certificate set (`chain`, `leaf`, `combined`, `pkcs12` in [certificate]):
 * what they hold, built from one generation (renew installs them with key and certificate through
 * install_set), and their inspection against the installed certificate (check).
 *
 *   chain    the certificates after the leaf in the issued chain, PEM; empty (0 bytes) when the issuer sent
 *            none (issuer = self, an internal CA): certbot's chain.pem
 *   leaf     the leaf alone, PEM: certbot's cert.pem
 *   combined the key exactly as the key file holds it (encrypted too, when it is), then leaf and chain, PEM
 *   pkcs12   key, leaf and chain, DER PKCS#12: key and certificates each encrypted with PBES2 (PBKDF2 with
 *            HMAC-SHA256, AES-256-CBC), integrity by an HMAC-SHA256 MAC; friendly name and local key id
 *            on key and leaf so that `keytool` shows one PrivateKeyEntry named after the set */

typedef struct OutputFiles {
        /* gnutls_malloc'd; data NULL: not configured. A configured chain may have size 0. */
        gnutls_datum_t chain, leaf, combined, pkcs12;
} OutputFiles;

void output_files_done(OutputFiles *o);

/* Build the outputs `c` configures. fullchain: the issued chain (leaf first, PEM or DER); key: its private
 * key (for pkcs12); key_file: the bytes of the key file as installed (for combined); pkcs12_password:
 * NULL unless c->pkcs12. Returns 0 or -errno (-EBADMSG: no certificate in fullchain). */
int outputs_build(const CertConfig *c, const uint8_t *fullchain, size_t fullchain_size,
                  gnutls_x509_privkey_t key, const uint8_t *key_file, size_t key_file_size,
                  const char *pkcs12_password, OutputFiles *ret);

/* Read every output `c` configures and compare it with the installed certificate (cert_data, its full
 * chain) and its key (the leaf's pin, f->pin): a problem on f for each that does not match — unreadable
 * (missing, or its password file is), malformed (not parseable, or the PKCS#12 password does not open it),
 * key-mismatch (another generation's certificates, or another key) — each message naming the output's
 * path. key_password: the key file's password (a combined file's key is encrypted like it). Returns 0 or
 * -ENOMEM. */
int outputs_inspect(const CertConfig *c, const uint8_t *cert_data, size_t cert_size,
                    const char *key_password, CertFacts *f);

/* Parse a PKCS#12 file with its password: the MAC is verified, the key and the certificates (leaf first,
 * as the local key id pairs them) extracted. For tests and outputs_inspect. Returns 0, -EACCES (wrong
 * password or MAC), -EBADMSG (not PKCS#12, or no key or certificate in it), -ENOMEM. */
int outputs_pkcs12_parse(const uint8_t *der, size_t size, const char *password,
                         gnutls_x509_privkey_t *ret_key, gnutls_x509_crt_t **ret_crts, unsigned *ret_n);
