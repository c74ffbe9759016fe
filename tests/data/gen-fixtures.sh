#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# gen-fixtures.sh OUTDIR
#
# Makes the certificate fixtures of the unit tests at test time, with dates relative to now (so they
# never expire), signed with the committed test keys in keys/ (never use those keys for anything else).
# Idempotent: every run rewrites OUTDIR's files. Needs openssl (3.0) and certtool (gnutls-bin); without
# them it exits 77 (meson's skip) after saying so.
#
# Every case is OUTDIR/<case>.crt (PEM unless noted) and, where it has one, OUTDIR/<case>.key (mode
# 0600 unless noted). OUTDIR/ca.crt is the root the tests trust, OUTDIR/inter.crt the intermediate.
# For every certificate, key, CSR and public key file F that OpenSSL can read, F.pin.openssl holds the
# pin of docs/pins.md computed by the openssl pipeline (base64 and a newline).
# Expected problems assume: usage = server, warn-before 14d, critical-before 7d, trust = ca.crt, the
# names listed, and now = the time of the test (shortly after this script ran).
#
# BEGIN CASES
# case            what                                                     names            problems
# ok              EC P-256 leaf, SAN ok.example.test localhost 127.0.0.1   ok.example.test  (none)
#                 ::1, EKU serverAuth+clientAuth, root-signed (SHA-256),   localhost
#                 now-1d .. now+200d, PKCS#8 key, serial 1ce7c0ffee000001  127.0.0.1 ::1
#                 (ok.crt.serial.openssl, ok.crt.dates.epoch: notBefore and notAfter in epoch s)
# ok-chain        leaf signed by inter; .crt = leaf + inter (fullchain)    chain.example.test (none)
# ok-chain-root   ok-chain + the root (leaf, inter, root)                  chain.example.test (none)
# chain-incomplete leaf signed by inter, .crt = leaf only                  chain.example.test untrusted-chain
# chain-expired-inter that leaf + an expired intermediate (same name, key) chain.example.test untrusted-chain
# chain-weak-inter that leaf + an intermediate signed with SHA-1           chain.example.test weak-signature
# ok-der          the ok certificate and key in DER (.crt DER, .key DER PKCS#8)  as ok      (none)
# ok-text         ok.crt after its `openssl x509 -text` dump               as ok            (none)
# ok-crlf         ok.crt with CRLF line ends                               as ok            (none)
# rsa-pkcs1       RSA-2048 leaf, key "BEGIN RSA PRIVATE KEY"               rsa.example.test (none)
# rsa-pkcs1-der   RSA-2048 leaf, key PKCS#1 DER                            rsa.example.test (none)
# rsa-pkcs8       RSA-2048 leaf, key PKCS#8 PEM                            rsa.example.test (none)
# rsa-pkcs8-enc   RSA-2048 leaf, key encrypted PKCS#8 (aes-256-cbc), the   rsa.example.test (none)
#                 password in OUTDIR/password.txt (with a trailing newline); wrong/no password: malformed
# ec-sec1         EC P-256 leaf, key "BEGIN EC PRIVATE KEY"                ec.example.test  (none)
# ec-sec1-der     EC P-256 leaf, key SEC1 DER                              ec.example.test  (none)
# ec-pkcs8        EC P-256 leaf, key PKCS#8 PEM                            ec.example.test  (none)
# ec-pkcs8-enc    EC P-256 leaf, key encrypted PKCS#8                      ec.example.test  (none)
# ec-p384         EC P-384 leaf (key_type ec-p384)                         p384.example.test (none)
# ed25519         Ed25519 leaf, PKCS#8 key (key_type ed25519)              ed.example.test  (none)
# expired         not_after = now-2d                                       ok.example.test  expired
# not-yet-valid   not_before = now+5d                                      ok.example.test  not-yet-valid
# expiry-warning  not_after = now+10d                                      ok.example.test  expiry-warning
# expiry-critical not_after = now+3d                                       ok.example.test  expiry-critical
# key-mismatch    ok-like certificate, .key is another key                 ok.example.test  key-mismatch
# name-missing    SAN only other.example.test                              ok.example.test  name-missing
# wildcard        SAN *.wild.example.test                                  a.wild.example.test (none);
#                 a.b.wild.example.test or wild.example.test: name-missing
# no-san          CN=nosan.example.test, no SAN extension                  nosan.example.test name-missing
# ip-san          SAN IP:192.0.2.10 IP:2001:db8::1                         192.0.2.10 2001:db8::1 (none)
# untrusted       leaf signed by other-ca (not in ca.crt)                  ok.example.test  untrusted-chain
# weak-key        RSA-1024 leaf                                            ok.example.test  weak-key
# weak-ec         EC P-224 leaf                                            ok.example.test  weak-key
# weak-sig        leaf signed with SHA-1 by the root                       ok.example.test  weak-signature
# key-perms       ok-like pair, key mode 0644                              ok.example.test  key-permissions
# client-only     EKU clientAuth only                                      ok.example.test  usage-missing
#                 (usage = client: none)
# no-eku          no EKU extension (RFC 5280: any usage)                   ok.example.test  (none)
# self-signed     CA:true self-signed, SAN self.example.test               self.example.test (none) when
#                 trusting self-signed.crt itself; untrusted-chain with ca.crt
# self-leaf       what `issuer = self` makes: self-signed CA:FALSE leaf,    self.example.test (none) with
#                 keyUsage digitalSignature, SAN self.example.test         the self_anchor flag (issuer = self);
#                                                                          untrusted-chain without it
# self-leaf-sha1  self-leaf signed with SHA-1                              self.example.test (none) with the flag
# sha1-root       self-signed CA:TRUE root signed with SHA-1 (like some of Debian's ca-certificates),
#                 no key, watched with itself as the anchor: (none); with ca.crt: untrusted-chain
# chain-reversed  chain-incomplete's leaf after inter (intermediate first) chain.example.test chain-order
#                 (with the leaf's key or without a key)
# chain-shuffled  leaf, root, inter                                        chain.example.test chain-order
# esc-cn          root-signed leaf whose CN holds ESC: "esc\x1b[31m.example.test", SAN esc.example.test
# key-perms-640   ok-like pair, key mode 0640: key-permissions unless `mode = 0640` (or 0644) is configured
# certtool-made   EC leaf + SEC1 key made by GnuTLS certtool, root-signed, certtool.example.test (none)
#                 now-1d .. now+120d
# garbage         random bytes, no key                                     -                malformed
# empty           0 bytes                                                  -                malformed
# truncated       first half of ok.crt                                     -                malformed
# huge            20 MiB of PEM-looking junk                               -                malformed
# notacert        a PEM private key where the certificate goes             -                malformed
# Pin-only files: req.csr (PEM CSR, RSA key), req.der (DER CSR, P-384), req-certtool.csr (certtool CSR),
# pub.pem (P-384 public key), pub-rsa.pem, pub.der (Ed25519 public key, DER).
# END CASES

set -euo pipefail

if [ $# -ne 1 ]; then
        echo "usage: $0 OUTDIR" >&2
        exit 2
fi

for tool in openssl certtool; do
        if ! command -v "$tool" >/dev/null; then
                echo "gen-fixtures: no $tool (Debian: apt-get install openssl gnutls-bin), skipping" >&2
                exit 77
        fi
done

umask 022
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
keys=$here/keys
mkdir -p "$1"
out=$(cd "$1" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

now=$(date -u +%s)
day=86400
password=certherd-fixture-password

# openssl ca wants a database and a serial file; everything else comes from the command line.
mkdir -p "$work/new"
: >"$work/index.txt"
cat >"$work/openssl.cnf" <<EOF
[ca]
default_ca = ca_default
[ca_default]
database = $work/index.txt
new_certs_dir = $work/new
serial = $work/serial
unique_subject = no
default_md = sha256
policy = policy_any
preserve = yes
email_in_dn = no
copy_extensions = none
[policy_any]
organizationName = optional
commonName = optional
[req]
distinguished_name = req_dn
prompt = no
[req_dn]
CN = unused
EOF
export OPENSSL_CONF=$work/openssl.cnf

serial_counter=0

stamp() {
        date -u -d "@$1" +%Y%m%d%H%M%SZ
}

install_key() { # install_key SRC DEST [MODE]
        cp "$1" "$out/$2"
        chmod "${3:-0600}" "$out/$2"
}

# issue NAME KEY SUBJECT START END ISSUER EXTENSIONS [DIGEST [SERIAL]]
# START/END are offsets in seconds from now; ISSUER is "self" or the base name of a CA in $work
# (ca, inter, other-ca). EXTENSIONS are the lines of the v3 section. Writes $work/NAME.crt.
issue() {
        local name=$1 key=$2 subj=$3 start=$4 end=$5 issuer=$6 ext=$7 md=${8:-sha256} serial=${9:-}
        local -a signer

        serial_counter=$((serial_counter + 1))
        if [ -z "$serial" ]; then
                serial=$(printf '1CE7%012X' "$serial_counter")
        fi
        echo "$serial" >"$work/serial"
        printf '[v3]\n%s\n' "$ext" >"$work/$name.ext"
        openssl req -new -key "$key" -subj "$subj" -out "$work/$name.csr"
        if [ "$issuer" = self ]; then
                signer=(-selfsign -keyfile "$key")
        else
                signer=(-cert "$work/$issuer.crt" -keyfile "$keys/$issuer.key")
        fi
        openssl ca -batch -notext -config "$work/openssl.cnf" "${signer[@]}" \
                -in "$work/$name.csr" -out "$work/$name.crt" \
                -startdate "$(stamp $((now + start)))" -enddate "$(stamp $((now + end)))" \
                -md "$md" -extfile "$work/$name.ext" -extensions v3 2>"$work/ca.log" || {
                cat "$work/ca.log" >&2
                return 1
        }
}

ca_ext="basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash"
inter_ext="basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid"

# leaf_ext SAN [EKU [KEYUSAGE]]: EKU "-" leaves the extension out.
leaf_ext() {
        local eku=${2:-serverAuth,clientAuth}
        echo "basicConstraints = critical,CA:FALSE"
        echo "keyUsage = critical,${3:-digitalSignature}"
        [ "$eku" = - ] || echo "extendedKeyUsage = $eku"
        [ "$1" = - ] || echo "subjectAltName = $1"
        echo "subjectKeyIdentifier = hash"
        echo "authorityKeyIdentifier = keyid"
}

# A leaf, CN = its first SAN, copied to OUTDIR/CASE.crt (PEM); the caller installs the key file.
# leaf CASE KEY SAN START END [ISSUER [EKU [DIGEST [KEYUSAGE]]]]
leaf() {
        local name=$1 key=$2 san=$3 start=$4 end=$5 issuer=${6:-ca} eku=${7:-} md=${8:-sha256}
        local cn

        cn=${san%%,*}
        cn=${cn#DNS:}
        cn=${cn#IP:}
        issue "$name" "$key" "/CN=$cn" "$start" "$end" "$issuer" "$(leaf_ext "$san" "$eku" "${9:-}")" "$md"
        cp "$work/$name.crt" "$out/$name.crt"
}

# --- trust anchors -------------------------------------------------------------------------------
issue ca "$keys/ca.key" "/O=certherd tests/CN=certherd test root" $((-30 * day)) $((3650 * day)) \
        self "$ca_ext"
issue inter "$keys/inter.key" "/O=certherd tests/CN=certherd test intermediate" $((-30 * day)) \
        $((3000 * day)) ca "$inter_ext"
issue other-ca "$keys/other-ca.key" "/O=somebody else/CN=untrusted test root" $((-30 * day)) \
        $((3650 * day)) self "$ca_ext"
cp "$work/ca.crt" "$work/inter.crt" "$work/other-ca.crt" "$out/"

# --- the good ones ----------------------------------------------------------------------------------
ok_san="DNS:ok.example.test,DNS:localhost,IP:127.0.0.1,IP:::1"
issue ok "$keys/leaf-ec.key" "/CN=ok.example.test" $((-day)) $((200 * day)) ca "$(leaf_ext "$ok_san")" \
        sha256 1CE7C0FFEE000001
cp "$work/ok.crt" "$out/ok.crt"
install_key "$keys/leaf-ec.key" ok.key
openssl x509 -in "$out/ok.crt" -noout -serial >"$out/ok.crt.serial.openssl"
{
        date -u -d "$(openssl x509 -in "$out/ok.crt" -noout -startdate | cut -d= -f2)" +%s
        date -u -d "$(openssl x509 -in "$out/ok.crt" -noout -enddate | cut -d= -f2)" +%s
} >"$out/ok.crt.dates.epoch"

leaf ok-chain "$keys/leaf-ec.key" "DNS:chain.example.test" $((-day)) $((200 * day)) inter
cat "$work/inter.crt" >>"$out/ok-chain.crt"
install_key "$keys/leaf-ec.key" ok-chain.key
cat "$out/ok-chain.crt" "$work/ca.crt" >"$out/ok-chain-root.crt"
install_key "$keys/leaf-ec.key" ok-chain-root.key
leaf chain-incomplete "$keys/leaf-ec.key" "DNS:chain.example.test" $((-day)) $((200 * day)) inter
install_key "$keys/leaf-ec.key" chain-incomplete.key
# The same leaf served with a stand-in for inter (same name and key) that expired, or that the root signed
# with SHA-1.
issue inter-expired "$keys/inter.key" "/O=certherd tests/CN=certherd test intermediate" $((-400 * day)) \
        $((-10 * day)) ca "$inter_ext"
issue inter-sha1 "$keys/inter.key" "/O=certherd tests/CN=certherd test intermediate" $((-30 * day)) \
        $((3000 * day)) ca "$inter_ext" sha1
cat "$out/chain-incomplete.crt" "$work/inter-expired.crt" >"$out/chain-expired-inter.crt"
cat "$out/chain-incomplete.crt" "$work/inter-sha1.crt" >"$out/chain-weak-inter.crt"
install_key "$keys/leaf-ec.key" chain-expired-inter.key
install_key "$keys/leaf-ec.key" chain-weak-inter.key
# ok.crt as people keep it: after `openssl x509 -text` output, and with CRLF line ends.
openssl x509 -in "$work/ok.crt" -text >"$out/ok-text.crt"
sed 's/$/\r/' "$work/ok.crt" >"$out/ok-crlf.crt"
install_key "$keys/leaf-ec.key" ok-text.key
install_key "$keys/leaf-ec.key" ok-crlf.key

openssl x509 -in "$out/ok.crt" -outform DER -out "$out/ok-der.crt"
openssl pkcs8 -topk8 -nocrypt -in "$keys/leaf-ec.key" -outform DER -out "$work/ok-der.key"
install_key "$work/ok-der.key" ok-der.key

# --- key formats ----------------------------------------------------------------------------------
printf '%s\n' "$password" >"$out/password.txt"
chmod 0600 "$out/password.txt"

for c in rsa-pkcs1 rsa-pkcs1-der rsa-pkcs8 rsa-pkcs8-enc; do
        leaf "$c" "$keys/leaf-rsa.key" "DNS:rsa.example.test" $((-day)) $((200 * day)) ca "" sha256 \
                digitalSignature,keyEncipherment
done
openssl rsa -in "$keys/leaf-rsa.key" -traditional -out "$work/rsa-pkcs1.key" 2>/dev/null
openssl rsa -in "$keys/leaf-rsa.key" -traditional -outform DER -out "$work/rsa-pkcs1-der.key" 2>/dev/null
openssl pkcs8 -topk8 -v2 aes-256-cbc -in "$keys/leaf-rsa.key" -passout "file:$out/password.txt" \
        -out "$work/rsa-pkcs8-enc.key"
for k in rsa-pkcs1 rsa-pkcs1-der rsa-pkcs8-enc; do install_key "$work/$k.key" "$k.key"; done
install_key "$keys/leaf-rsa.key" rsa-pkcs8.key

for c in ec-sec1 ec-sec1-der ec-pkcs8 ec-pkcs8-enc; do
        leaf "$c" "$keys/leaf-ec.key" "DNS:ec.example.test" $((-day)) $((200 * day))
done
openssl ec -in "$keys/leaf-ec.key" -out "$work/ec-sec1.key" 2>/dev/null
openssl ec -in "$keys/leaf-ec.key" -outform DER -out "$work/ec-sec1-der.key" 2>/dev/null
openssl pkcs8 -topk8 -v2 aes-256-cbc -in "$keys/leaf-ec.key" -passout "file:$out/password.txt" \
        -out "$work/ec-pkcs8-enc.key"
for k in ec-sec1 ec-sec1-der ec-pkcs8-enc; do install_key "$work/$k.key" "$k.key"; done
install_key "$keys/leaf-ec.key" ec-pkcs8.key

leaf ec-p384 "$keys/p384.key" "DNS:p384.example.test" $((-day)) $((200 * day))
install_key "$keys/p384.key" ec-p384.key
leaf ed25519 "$keys/ed25519.key" "DNS:ed.example.test" $((-day)) $((200 * day))
install_key "$keys/ed25519.key" ed25519.key

# --- dates ----------------------------------------------------------------------------------------
leaf expired "$keys/leaf-ec.key" "DNS:ok.example.test" $((-90 * day)) $((-2 * day))
leaf not-yet-valid "$keys/leaf-ec.key" "DNS:ok.example.test" $((5 * day)) $((200 * day))
leaf expiry-warning "$keys/leaf-ec.key" "DNS:ok.example.test" $((-80 * day)) $((10 * day))
leaf expiry-critical "$keys/leaf-ec.key" "DNS:ok.example.test" $((-80 * day)) $((3 * day))
for c in expired not-yet-valid expiry-warning expiry-critical; do
        install_key "$keys/leaf-ec.key" "$c.key"
done

# --- pairing, names, trust, strength, permissions, usage ------------------------------------------
leaf key-mismatch "$keys/leaf-ec.key" "DNS:ok.example.test" $((-day)) $((200 * day))
install_key "$keys/other.key" key-mismatch.key

leaf name-missing "$keys/leaf-ec.key" "DNS:other.example.test" $((-day)) $((200 * day))
leaf wildcard "$keys/leaf-ec.key" "DNS:*.wild.example.test" $((-day)) $((200 * day))
issue no-san "$keys/leaf-ec.key" "/CN=nosan.example.test" $((-day)) $((200 * day)) ca "$(leaf_ext -)"
cp "$work/no-san.crt" "$out/no-san.crt"
leaf ip-san "$keys/leaf-ec.key" "IP:192.0.2.10,IP:2001:db8::1" $((-day)) $((200 * day))
for c in name-missing wildcard no-san ip-san; do
        install_key "$keys/leaf-ec.key" "$c.key"
done

leaf untrusted "$keys/leaf-ec.key" "DNS:ok.example.test" $((-day)) $((200 * day)) other-ca
install_key "$keys/leaf-ec.key" untrusted.key

leaf weak-key "$keys/rsa1024.key" "DNS:ok.example.test" $((-day)) $((200 * day)) ca "" sha256 \
        digitalSignature,keyEncipherment
install_key "$keys/rsa1024.key" weak-key.key
leaf weak-ec "$keys/p224.key" "DNS:ok.example.test" $((-day)) $((200 * day))
install_key "$keys/p224.key" weak-ec.key
leaf weak-sig "$keys/leaf-ec.key" "DNS:ok.example.test" $((-day)) $((200 * day)) ca "" sha1
install_key "$keys/leaf-ec.key" weak-sig.key

leaf key-perms "$keys/leaf-ec.key" "$ok_san" $((-day)) $((200 * day))
install_key "$keys/leaf-ec.key" key-perms.key 0644

leaf client-only "$keys/leaf-ec.key" "DNS:ok.example.test" $((-day)) $((200 * day)) ca clientAuth
leaf no-eku "$keys/leaf-ec.key" "DNS:ok.example.test" $((-day)) $((200 * day)) ca -
install_key "$keys/leaf-ec.key" client-only.key
install_key "$keys/leaf-ec.key" no-eku.key

issue self-signed "$keys/other.key" "/CN=self.example.test" $((-day)) $((200 * day)) self \
        "basicConstraints = critical,CA:TRUE
keyUsage = critical,digitalSignature,keyCertSign
extendedKeyUsage = serverAuth
subjectAltName = DNS:self.example.test
subjectKeyIdentifier = hash"
cp "$work/self-signed.crt" "$out/self-signed.crt"
install_key "$keys/other.key" self-signed.key

# What `issuer = self` makes: an end entity that is its own anchor, never a CA.
self_leaf_ext="basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:self.example.test
subjectKeyIdentifier = hash"
issue self-leaf "$keys/other.key" "/CN=self.example.test" $((-day)) $((200 * day)) self "$self_leaf_ext"
issue self-leaf-sha1 "$keys/other.key" "/CN=self.example.test" $((-day)) $((200 * day)) self \
        "$self_leaf_ext" sha1
issue sha1-root "$keys/other-ca.key" "/O=old roots/CN=SHA-1 test root" $((-30 * day)) $((3650 * day)) \
        self "$ca_ext" sha1
for c in self-leaf self-leaf-sha1 sha1-root; do
        cp "$work/$c.crt" "$out/$c.crt"
done
install_key "$keys/other.key" self-leaf.key
install_key "$keys/other.key" self-leaf-sha1.key

# Chains in the wrong order: the intermediate first, and the root between leaf and intermediate.
cat "$work/inter.crt" "$out/chain-incomplete.crt" >"$out/chain-reversed.crt"
cat "$out/chain-incomplete.crt" "$work/ca.crt" "$work/inter.crt" >"$out/chain-shuffled.crt"
install_key "$keys/leaf-ec.key" chain-reversed.key
install_key "$keys/leaf-ec.key" chain-shuffled.key

# A subject that would drive a terminal: CN with ESC (UTF8String; openssl writes it as it is).
issue esc-cn "$keys/leaf-ec.key" "/CN=esc$(printf '\033')[31m.example.test" $((-day)) $((200 * day)) ca \
        "$(leaf_ext DNS:esc.example.test)"
cp "$work/esc-cn.crt" "$out/esc-cn.crt"
install_key "$keys/leaf-ec.key" esc-cn.key

leaf key-perms-640 "$keys/leaf-ec.key" "$ok_san" $((-day)) $((200 * day))
install_key "$keys/leaf-ec.key" key-perms-640.key 0640

# --- GnuTLS certtool ------------------------------------------------------------------------------
cat >"$work/certtool.tmpl" <<EOF
cn = "certtool.example.test"
organization = "certherd tests"
serial = 0x1ce7000000c7
dns_name = "certtool.example.test"
dns_name = "localhost"
ip_address = "127.0.0.1"
tls_www_server
tls_www_client
signing_key
activation_date = "$(date -u -d "@$((now - day))" "+%Y-%m-%d %H:%M:%S UTC")"
expiration_date = "$(date -u -d "@$((now + 120 * day))" "+%Y-%m-%d %H:%M:%S UTC")"
EOF
certtool --generate-certificate --load-privkey "$keys/certtool.key" \
        --load-ca-certificate "$work/ca.crt" --load-ca-privkey "$keys/ca.key" \
        --template "$work/certtool.tmpl" --outfile "$out/certtool-made.crt" --no-text \
        >/dev/null 2>"$work/ct.log" || {
        cat "$work/ct.log" >&2
        exit 1
}
install_key "$keys/certtool.key" certtool-made.key
certtool --generate-request --load-privkey "$keys/p384.key" --template "$work/certtool.tmpl" \
        --outfile "$out/req-certtool.csr" --no-text >/dev/null 2>"$work/ct.log" || {
        cat "$work/ct.log" >&2
        exit 1
}

# --- broken input ---------------------------------------------------------------------------------
head -c 4096 /dev/urandom >"$out/garbage.crt"
: >"$out/empty.crt"
head -c $(($(stat -c %s "$out/ok.crt") / 2)) "$out/ok.crt" >"$out/truncated.crt"
{
        echo "-----BEGIN CERTIFICATE-----"
        head -c $((15 * 1024 * 1024)) /dev/urandom | base64 -w 64
        echo "-----END CERTIFICATE-----"
} >"$out/huge.crt"
cp "$keys/leaf-ec.key" "$out/notacert.crt"

# --- CSRs and public keys -------------------------------------------------------------------------
openssl req -new -key "$keys/leaf-rsa.key" -subj "/CN=req.example.test" -out "$out/req.csr"
openssl req -new -key "$keys/p384.key" -subj "/CN=req.example.test" -outform DER -out "$out/req.der"
openssl pkey -in "$keys/p384.key" -pubout -out "$out/pub.pem"
openssl pkey -in "$keys/leaf-rsa.key" -pubout -out "$out/pub-rsa.pem"
openssl pkey -in "$keys/ed25519.key" -pubout -outform DER -out "$out/pub.der"

# --- pins, by the openssl pipeline of docs/pins.md ------------------------------------------------
pin_of_spki() {
        openssl pkey -pubin -inform "$1" -outform DER | openssl dgst -sha256 -binary | base64
}

# Each pipeline runs in a background subshell (set -e and pipefail are inherited); wait_all fails when
# any of them failed. This halves the run time.
pids=()
wait_all() {
        local pid

        for pid in "${pids[@]}"; do
                wait "$pid"
        done
        pids=()
}

for f in "$out"/*.crt; do
        case ${f##*/} in
        garbage.crt | empty.crt | truncated.crt | huge.crt | notacert.crt) continue ;;
        ok-der.crt) form=DER ;;
        *) form=PEM ;;
        esac
        (
                openssl x509 -inform "$form" -pubkey -noout -in "$f" | pin_of_spki PEM >"$f.pin.openssl"
        ) &
        pids+=($!)
done
for f in "$out"/*.key; do
        (
                openssl pkey -in "$f" -passin "file:$out/password.txt" -pubout -outform DER |
                        openssl dgst -sha256 -binary | base64 >"$f.pin.openssl"
        ) &
        pids+=($!)
done
for f in "$out/req.csr" "$out/req-certtool.csr"; do
        (openssl req -in "$f" -pubkey -noout | pin_of_spki PEM >"$f.pin.openssl") &
        pids+=($!)
done
(openssl req -inform DER -in "$out/req.der" -pubkey -noout | pin_of_spki PEM >"$out/req.der.pin.openssl") &
pids+=($!)
for f in pub.pem pub-rsa.pem pub.der; do
        (pin_of_spki "$([ "$f" = pub.der ] && echo DER || echo PEM)" <"$out/$f" >"$out/$f.pin.openssl") &
        pids+=($!)
done
wait_all

# --- the case list --------------------------------------------------------------------------------
sed -n '/^# BEGIN CASES$/,/^# END CASES$/{/CASES$/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >"$out/README"

chmod 0644 "$out"/*.crt "$out"/*.pin.openssl "$out"/*.csr "$out"/*.der "$out"/*.pem "$out/README" \
        "$out/ok.crt.serial.openssl" "$out/ok.crt.dates.epoch"
chmod 0600 "$out/password.txt"
