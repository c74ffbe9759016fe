#!/bin/bash
# A two-tier internal PKI (root → issuing intermediate → leaves with the chain),
# name constraints that certherd enforces and openssl agrees with, a root kept offline (ca init --csr,
# signed by openssl, ca import), client subjects with SPIFFE and email SANs, and `ca sign` of a request
# made by openssl.
source "$(dirname "$0")/../lib.sh"
need openssl

mkdir -p "$T/pki" "$T/tls"
cat >"$T/certherd.conf" <<CONF
$(conf_agent "warn-before = 2d" "critical-before = 1d")

$(conf_ca root "$T/pki/root" "export = $T/pki/root-bundle.pem")

[ca "issuing"]
parent = root
certificate = $T/pki/issuing.crt
key = $T/pki/issuing.key
validity = 10d
permitted-names = .internal.example 10.0.0.0/8
export = $T/pki/issuing-export.pem

$(conf_leaf api issuing "$T/pki/root")
names = api.internal.example 10.1.2.3

$(conf_leaf client issuing "$T/pki/root")
names = uri:spiffe://internal.example/ns/prod/sa/gateway email:ops@internal.example
subject = CN=gateway, O=Example Corp, OU=Platform
usage = client

$(conf_leaf outside issuing "$T/pki/root")
names = www.example.com
CONF
C() { "$CERTHERD" -c "$T/certherd.conf" "$@"; }

# --- the inventory says at once that a name lies outside permitted-names
expect 2 C check api
grep -q "www.example.com' is outside the permitted-names of \[ca \"issuing\"\]" "$T/err" ||
        die "no warning about the name outside permitted-names: $(cat "$T/err")"
ok "a name outside permitted-names is warned about when the inventory is read"

# --- an intermediate needs its parent
expect 1 C ca init issuing
grep -q 'parent \[ca "root"\] cannot sign' "$T/err" || die "intermediate before its root: $(cat "$T/err")"
[[ ! -e $T/pki/issuing.key && ! -e $T/pki/issuing.crt ]] || die "files left behind"
expect 0 C ca init root
expect 0 C ca init issuing
openssl x509 -in "$T/pki/root.crt" -noout -ext basicConstraints | grep -q "CA:TRUE, pathlen:1" ||
        die "root pathlen: $(openssl x509 -in "$T/pki/root.crt" -noout -ext basicConstraints)"
openssl x509 -in "$T/pki/issuing.crt" -noout -text >"$T/issuing.txt"
grep -q "CA:TRUE, pathlen:0" "$T/issuing.txt" || die "issuing pathlen"
grep -A1 "Key Usage: critical" "$T/issuing.txt" | grep -q "Certificate Sign, CRL Sign" || die "issuing key usage"
grep -q "X509v3 Name Constraints: critical" "$T/issuing.txt" || die "no critical name constraints"
grep -A3 "Name Constraints" "$T/issuing.txt" | grep -q "DNS:.internal.example" || die "DNS subtree: $(cat "$T/issuing.txt")"
grep -A4 "Name Constraints" "$T/issuing.txt" | grep -q "IP:10.0.0.0/255.0.0.0" || die "IP subtree"
ski_root=$(openssl x509 -in "$T/pki/root.crt" -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' ')
aki_iss=$(openssl x509 -in "$T/pki/issuing.crt" -noout -ext authorityKeyIdentifier | tail -1 | tr -d ' ' | sed 's/^keyid://')
[[ $ski_root == "$aki_iss" ]] || die "issuing AKI $aki_iss is not the root's SKI $ski_root"
openssl verify -CAfile "$T/pki/root.crt" "$T/pki/issuing.crt" >/dev/null || die "intermediate does not verify"
ok "ca init: root (pathlen 1), intermediate signed by it (pathlen 0, keyCertSign+cRLSign, critical nameConstraints, AKI)"

# --- leaves: chain up to, not including, the root
expect 1 C renew
grep -q "2 renewed, 0 not due, 1 failed" "$T/out" || die "renew summary: $(cat "$T/out")"
grep -q "outside: refusing to issue 'www.example.com': outside the permitted-names of \[ca \"issuing\"\]" "$T/err" ||
        die "no clear refusal: $(cat "$T/err")"
[[ ! -e $T/tls/outside.crt ]] || die "a certificate outside permitted-names was installed"
[[ $(grep -c "BEGIN CERTIFICATE" "$T/tls/api.crt") == 2 ]] || die "api.crt is not leaf + intermediate"
openssl x509 -in "$T/tls/api.crt" -noout -issuer | grep -q "certherd issuing CA" || die "leaf not issued by issuing"
sed -n '/BEGIN/,/END/p' "$T/tls/api.crt" | awk '/BEGIN/{n++} n==2' >"$T/chain-part.pem"
cmp -s "$T/chain-part.pem" "$T/pki/issuing.crt" || die "the chain in api.crt is not the intermediate"
openssl verify -CAfile "$T/pki/root.crt" -untrusted "$T/pki/issuing.crt" "$T/tls/api.crt" >/dev/null ||
        die "openssl verify of the leaf failed"
openssl verify -CAfile "$T/pki/root.crt" -untrusted "$T/tls/api.crt" "$T/tls/api.crt" >/dev/null ||
        die "the installed chain alone does not verify"
expect 0 C check api client
ok "two tiers: leaf + intermediate installed; openssl verify -CAfile root -untrusted issuing leaf: OK; check ok"

# --- openssl agrees with the name constraints: a leaf for www.example.com made by hand is rejected
openssl ecparam -name prime256v1 -genkey -noout -out "$T/rogue.key" 2>/dev/null
openssl req -new -key "$T/rogue.key" -subj /CN=www.example.com -out "$T/rogue.csr"
printf 'subjectAltName=DNS:www.example.com\nbasicConstraints=CA:FALSE\n' >"$T/rogue.ext"
openssl x509 -req -in "$T/rogue.csr" -CA "$T/pki/issuing.crt" -CAkey "$T/pki/issuing.key" -CAcreateserial \
        -days 1 -extfile "$T/rogue.ext" -out "$T/rogue.crt" 2>/dev/null
if openssl verify -CAfile "$T/pki/root.crt" -untrusted "$T/pki/issuing.crt" "$T/rogue.crt" >"$T/v.out" 2>&1; then
        die "openssl accepted a leaf outside the name constraints"
fi
grep -q "permitted subtree violation" "$T/v.out" || die "unexpected openssl verdict: $(cat "$T/v.out")"
# ... and so does certherd's inspection of such a certificate
cp "$T/rogue.key" "$T/tls/outside.key"; cat "$T/rogue.crt" "$T/pki/issuing.crt" >"$T/tls/outside.crt"
expect 2 C check outside
grep -q "untrusted-chain" "$T/out" || die "check did not refuse the rogue chain: $(cat "$T/out")"
rm -f "$T/tls/outside.crt" "$T/tls/outside.key"
ok "a leaf outside permitted-names: refused by certherd, rejected by openssl verify (permitted subtree violation)"

# --- client subject and SAN types
openssl x509 -in "$T/tls/client.crt" -noout -text >"$T/client.txt"
grep -q "URI:spiffe://internal.example/ns/prod/sa/gateway" "$T/client.txt" || die "no URI SAN: $(cat "$T/client.txt")"
grep -q "email:ops@internal.example" "$T/client.txt" || die "no email SAN"
openssl x509 -in "$T/tls/client.crt" -noout -subject -nameopt RFC2253 | grep -q "CN=gateway,O=Example Corp,OU=Platform" ||
        die "subject: $(openssl x509 -in "$T/tls/client.crt" -noout -subject -nameopt RFC2253)"
grep -q "TLS Web Client Authentication" "$T/client.txt" || die "client EKU"
C --json check client >"$T/client.json" || die "check client"
grep -q '"uri:spiffe://internal.example/ns/prod/sa/gateway"' "$T/client.json" || die "inspection lacks the URI SAN: $(cat "$T/client.json")"
grep -q '"email:ops@internal.example"' "$T/client.json" || die "inspection lacks the email SAN"
# a URI the certificate lacks is name-missing
sed -i 's|sa/gateway email:|sa/gateway uri:spiffe://internal.example/ns/prod/sa/other email:|' "$T/certherd.conf"
expect 2 C check client
grep -q "name-missing: uri:spiffe://internal.example/ns/prod/sa/other is not covered" "$T/out" || die "name-missing for a URI: $(cat "$T/out")"
expect 0 C renew client
expect 0 C check client
ok "client: subject CN/O/OU, URI: and email: SANs; inspection lists them and reports a missing URI"

# --- bad values are refused with FILE:LINE
cp "$T/certherd.conf" "$T/good.conf"
refused_with_line() { # LINE-PATTERN BAD…: each BAD in place of the good inventory's LINE-PATTERN is refused
        local line=$1 bad
        shift
        for bad in "$@"; do
                sed "s|^$line|$bad|" "$T/good.conf" >"$T/certherd.conf"
                expect 3 C check
                grep -q "certherd.conf:[0-9]*: " "$T/err" || die "no FILE:LINE for '$bad': $(cat "$T/err")"
        done
        cp "$T/good.conf" "$T/certherd.conf"
}
refused_with_line "names = uri:spiffe.*" "names = uri:not a uri" "names = email:nobody" "subject = XX=1" "subject = C=Germany"
refused_with_line "permitted-names = .internal.example 10.0.0.0/8" \
        "permitted-names = 10.0.0.0/33" "permitted-names = *.example" "parent = nosuch" "path-length = 99"
sed "s|^parent = root|parent = issuing|" "$T/good.conf" >"$T/certherd.conf"
expect 3 C check
grep -q "loop" "$T/err" || die "a parent loop: $(cat "$T/err")"
cp "$T/good.conf" "$T/certherd.conf"
ok "bad uri:, email:, subject, permitted-names, parent, path-length: one line naming FILE:LINE, exit 3"

# --- ca sign: a request made by openssl, names from its SANs, checked against permitted-names
openssl ecparam -name prime256v1 -genkey -noout -out "$T/ext.key" 2>/dev/null
openssl req -new -key "$T/ext.key" -subj "/O=Fleet/CN=device-7" \
        -addext "subjectAltName=DNS:device-7.internal.example,URI:spiffe://internal.example/device/7" -out "$T/ext.csr"
expect 0 C ca sign issuing "$T/ext.csr" --usage client --validity 2d
openssl x509 -noout -text <"$T/out" >"$T/ext.txt"
grep -q "URI:spiffe://internal.example/device/7" "$T/ext.txt" && grep -q "DNS:device-7.internal.example" "$T/ext.txt" ||
        die "ca sign SANs: $(cat "$T/ext.txt")"
grep -q "TLS Web Client Authentication" "$T/ext.txt" || die "ca sign usage"
# The subject is certherd's (CN = the first name), not the request's O=Fleet/CN=device-7.
openssl x509 -noout -subject -nameopt RFC2253 <"$T/out" | grep -qx "subject=CN=device-7.internal.example" ||
        die "ca sign subject: $(openssl x509 -noout -subject <"$T/out")"
end=$(date -d "$(openssl x509 -noout -enddate <"$T/out" | cut -d= -f2)" +%s)
(( end - $(date +%s) <= 2 * 86400 + 60 )) || die "--validity 2d not applied"
cp "$T/out" "$T/ext.crt"
openssl verify -CAfile "$T/pki/root.crt" -untrusted "$T/ext.crt" "$T/ext.crt" >/dev/null || die "signed CSR does not verify"
expect 0 C ca sign issuing "$T/ext.csr" --out "$T/ext2.crt" --subject "CN=device-7,O=Fleet"
openssl x509 -noout -subject -nameopt RFC2253 <"$T/ext2.crt" | grep -q "CN=device-7,O=Fleet" || die "ca sign --subject"
openssl verify -CAfile "$T/pki/root.crt" -untrusted "$T/ext2.crt" "$T/ext2.crt" >/dev/null || die "--out certificate does not verify"
openssl req -new -key "$T/ext.key" -subj "/CN=evil" -addext "subjectAltName=DNS:evil.example.net" -out "$T/evil.csr"
expect 1 C ca sign issuing "$T/evil.csr" --out "$T/evil.crt"
grep -q "refusing to issue 'evil.example.net': outside the permitted-names" "$T/err" || die "ca sign refusal: $(cat "$T/err")"
[[ ! -e $T/evil.crt ]] || die "a refused request left a certificate"
echo garbage >"$T/garbage.csr"
expect 1 C ca sign issuing "$T/garbage.csr"
expect 3 C ca sign nosuch "$T/ext.csr"
expect 3 C ca sign issuing "$T/ext.csr" --usage admin
ok "ca sign: an openssl request signed (SANs, certherd's subject or --subject, usage, validity) and verified; outside names refused"

# --- rotating the root, then the intermediate: clients trust the root's exported bundle
sed -i "s|^ca = $T/pki/root.crt|ca = $T/pki/root-bundle.pem|" "$T/certherd.conf"
sed -i '/^\[certificate "outside"\]/,$d' "$T/certherd.conf"
expect 0 C ca rotate root
[[ $(grep -c "BEGIN CERTIFICATE" "$T/pki/root-bundle.pem") == 2 ]] || die "root bundle after rotation"
expect 0 C check
expect 0 C renew --force api
grep -q "1 renewed" "$T/out" || die "renewal under the old intermediate after the root rotated: $(cat "$T/err")"
openssl verify -CAfile "$T/pki/root-bundle.pem" -untrusted "$T/tls/api.crt" "$T/tls/api.crt" >/dev/null || die "api after root rotation"
old_iss=$(openssl x509 -in "$T/pki/issuing.crt" -noout -fingerprint)
expect 0 C ca rotate issuing --reissue
grep -q "2 renewed, 0 not due, 0 failed" "$T/out" || die "--reissue after rotating the intermediate: $(cat "$T/out" "$T/err")"
[[ $(openssl x509 -in "$T/pki/issuing.crt" -noout -fingerprint) != "$old_iss" ]] || die "the intermediate did not change"
openssl verify -CAfile "$T/pki/root.crt" "$T/pki/issuing.crt" >/dev/null || die "the new intermediate is not signed by the new root"
openssl x509 -in "$T/pki/issuing.crt" -noout -text | grep -q "X509v3 Name Constraints: critical" || die "constraints lost in rotation"
openssl verify -CAfile "$T/pki/root.crt" -untrusted "$T/tls/api.crt" "$T/tls/api.crt" >/dev/null || die "api not under the new chain"
expect 0 C check
ok "ca rotate root (the old root still anchors the old intermediate), then ca rotate issuing --reissue: new chain, constraints kept"

# --- an offline root: ca init --csr, signed by openssl, ca import
cat >"$T/offline.conf" <<CONF
[agent]
state-directory = $T/state2

$(conf_ca offline-root "$T/off/root")

[ca "edge"]
parent = offline-root
certificate = $T/off/edge.crt
key = $T/off/edge.key
permitted-names = edge.internal.example
export = $T/off/edge-export.pem

[certificate "edge-web"]
certificate = $T/off/web.crt
key = $T/off/web.key
ca = $T/off/root.crt
names = www.edge.internal.example
issuer = ca:edge
CONF
O() { "$CERTHERD" -c "$T/offline.conf" "$@"; }
mkdir -p "$T/off"
# the root's certificate is at hand, its key is not (made by openssl, kept elsewhere)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$T/offline-root.key" \
        -subj "/CN=Offline Root" -days 30 -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$T/off/root.crt" 2>/dev/null
expect 1 O ca init edge
grep -q -- "--csr" "$T/err" || die "no hint at --csr: $(cat "$T/err")"
expect 0 O ca init edge --csr
grep -q "request written to $T/off/edge.crt.csr" "$T/out" || die "where the CSR went: $(cat "$T/out")"
[[ -s $T/off/edge.key && ! -e $T/off/edge.crt ]] || die "--csr: the key is kept, no certificate yet"
key_sum=$(sha256sum <"$T/off/edge.key")
openssl req -in "$T/off/edge.crt.csr" -noout -verify 2>&1 | grep -q "verify OK" || die "CSR does not verify"
openssl req -in "$T/off/edge.crt.csr" -noout -text | grep -q "Name Constraints: critical" || die "CSR lacks requested constraints"
expect 0 O ca init edge --csr --out -
grep -q "CERTIFICATE REQUEST-----" "$T/out" || die "--out - does not print the CSR"
[[ $(sha256sum <"$T/off/edge.key") == "$key_sum" ]] || die "a second --csr replaced the key"
openssl x509 -req -in "$T/off/edge.crt.csr" -CA "$T/off/root.crt" -CAkey "$T/offline-root.key" -CAcreateserial \
        -days 20 -copy_extensions copyall -out "$T/edge-signed.crt" 2>/dev/null
# a certificate of another key, and a non-CA certificate, are refused
expect 1 O ca import edge "$T/rogue.crt"
grep -q "not a CA certificate" "$T/err" || die "import of a foreign cert: $(cat "$T/err")"
expect 0 O ca import edge "$T/edge-signed.crt"
cmp -s "$T/off/edge.crt" "$T/edge-signed.crt" || die "import did not install"
cmp -s "$T/off/edge-export.pem" "$T/edge-signed.crt" || die "import did not export"
expect 0 O renew
openssl verify -CAfile "$T/off/root.crt" -untrusted "$T/off/web.crt" "$T/off/web.crt" >/dev/null || die "leaf of the imported CA"
expect 0 O check
ok "offline root: ca init --csr (CSR to CERT.csr or stdout, key kept), signed by openssl, ca import, leaves verify"

echo "$n_ok passed, 0 failed"
