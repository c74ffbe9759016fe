#!/bin/bash
# Keys in a PKCS#11 token with SoftHSM2: an internal CA whose key is in the token issues
# a leaf whose key is in the token as well; p11tool lists the objects; no private key file exists anywhere;
# gnutls-serv (which takes a PKCS#11 URL for its key) serves the leaf and curl --pinnedpubkey with the
# published pin connects; key-policy = rotate makes the new key inside the token (the announced
# next_pin_sha256), renames it to the label the server opens, and keeps the old one as LABEL.old;
# `pin` and `check` work on token keys, including key-mismatch; tiers (a token root and intermediate,
# ca sign) work with token keys, and ca rotate / ca init --csr refuse them.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
need softhsm2-util softhsm2; need p11tool gnutls-bin; need gnutls-serv gnutls-bin; need curl; need openssl; need python3
module=
for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/*-linux-gnu/softhsm/libsofthsm2.so; do [[ -f $m ]] && { module=$m; break; }; done
[[ -n $module ]] || skip "no libsofthsm2.so (apt-get install -y softhsm2)"

# A token of our own: SoftHSM2 keeps its tokens where SOFTHSM2_CONF says.
mkdir -p "$T/hsm/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$T/hsm/tokens" >"$T/hsm/softhsm2.conf"
export SOFTHSM2_CONF=$T/hsm/softhsm2.conf
softhsm2-util --init-token --free --label certherd-test --pin 1234 --so-pin 87654321 >/dev/null ||
        skip "softhsm2-util cannot initialise a token here"
printf '1234\n' >"$T/pin"     # certherd drops the newline, as from a systemd credential
printf '1234' >"$T/pin.raw"   # gnutls-serv reads pin-source= as it is
P11() { p11tool --provider "$module" "$@"; }
TOKEN="pkcs11:token=certherd-test"

cat >"$T/certherd.conf" <<CONF
$(conf_agent "pkcs11-module = $module")

$(conf_token_ca hsm "$T/ca/hsm" "export = $T/export/hsm-ca.pem")

$(conf_token_leaf web hsm "$T/ca/hsm" "names = localhost 127.0.0.1" "key-policy = rotate")
CONF
C() { "$CERTHERD" -c "$T/certherd.conf" "$@"; }
json() { pin_field web "$1"; }
objects() { GNUTLS_PIN=1234 P11 --login --list-all "$TOKEN" 2>/dev/null | awk '/Label:/ { print $2 }' | sort | tr '\n' ' '; }
no_key_files() {
        local f
        f=$(grep -rl -e 'PRIVATE KEY' "$T" --exclude-dir=hsm 2>/dev/null || true)
        [[ -z $f ]] || die "a private key file exists: $f"
}

expect 0 C ca init hsm
grep -q "generated a ec-p256 key in the token" "$T/err" || die "ca init: $(cat "$T/err")"
openssl x509 -in "$T/ca/hsm.crt" -noout -text | grep -q 'CA:TRUE' || die "the CA certificate is no CA"
ok "ca init: the CA key is generated in the token, only the certificate is written"

expect 0 C renew
openssl verify -CAfile "$T/ca/hsm.crt" "$T/tls/web.crt" >/dev/null || die "the leaf does not verify against the token CA"
[[ $(objects) == "ca ca web web web.next web.next " ]] || die "token objects: $(objects)"
GNUTLS_PIN=1234 P11 --login --list-all "$TOKEN" >"$T/list" 2>&1
grep -q 'Type: Private key' "$T/list" || die "p11tool lists no private key: $(cat "$T/list")"
ok "renew: the leaf is issued by the token CA for a key made in the token; p11tool --list-all: $(objects)"
no_key_files
ok "no private key file exists (state, pins, tls, ca)"

pin=$(json pin_sha256) next=$(json next_pin_sha256)
[[ $pin == "$(spki_pin "$T/tls/web.crt")" ]] || die "published pin $pin is not the certificate's"
[[ -n $next && $next != "$pin" ]] || die "no next pin announced: $(cat "$T/pins/web.json")"
expect 0 C pin "$TOKEN;object=web?pin-source=$T/pin"
[[ $(cat "$T/out") == "$pin" ]] || die "certherd pin of the token key: $(cat "$T/out" "$T/err")"
expect 0 C pin --password-file "$T/pin" "$TOKEN;object=web.next"
[[ $(cat "$T/out") == "$next" ]] || die "certherd pin of the next token key: $(cat "$T/out" "$T/err")"
expect 0 C check web
ok "pin reads the token keys (pin-source= and --password-file); check web is ok"

token_serve web
curl -fsS -o /dev/null --max-time 5 --cacert "$T/ca/hsm.crt" --pinnedpubkey "sha256//$pin" "https://localhost:$serve_port/" ||
        die "curl --pinnedpubkey against gnutls-serv with the token key: $(cat "$T/serv.log")"
curl -fsS -o /dev/null --max-time 5 --cacert "$T/ca/hsm.crt" --pinnedpubkey "sha256//$next" "https://localhost:$serve_port/" 2>/dev/null &&
        die "curl accepted the next pin before the switch"
kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
ok "gnutls-serv with --x509keyfile $TOKEN;object=web serves the leaf; curl --pinnedpubkey accepts the published pin only"

# Rotation: the announced next key becomes the key, inside the token.
expect 0 C renew --force web
[[ $(spki_pin "$T/tls/web.crt") == "$next" ]] || die "the rotated certificate is not for the announced next key"
[[ $(json pin_sha256) == "$next" ]] || die "published pin after rotation: $(cat "$T/pins/web.json")"
new_next=$(json next_pin_sha256)
[[ -n $new_next && $new_next != "$next" && $new_next != "$pin" ]] || die "no fresh next pin after rotation"
[[ $(objects) == "ca ca web web web.next web.next web.old web.old " ]] || die "token objects after rotation: $(objects)"
expect 0 C pin --password-file "$T/pin" "$TOKEN;object=web.old"
[[ $(cat "$T/out") == "$pin" ]] || die "web.old is not the previous key"
expect 0 C check --json web
[[ $(python3 -c 'import json, sys; print(json.load(sys.stdin)["certificates"][0]["next_pin_sha256"])' <"$T/out") == "$new_next" ]] ||
        die "check --json next_pin_sha256 is not the token's web.next: $(cat "$T/out")"
[[ $(objects) == "ca ca web web web.next web.next web.old web.old " ]] || die "check changed the token: $(objects)"
no_key_files
ok "renew --force (rotate): a new object in the token, the certificate is for the announced next pin; web.old kept; check --json shows it"
token_serve web
curl -fsS -o /dev/null --max-time 5 --cacert "$T/ca/hsm.crt" --pinnedpubkey "sha256//$next" "https://localhost:$serve_port/" ||
        die "curl with the new pin after rotation: $(cat "$T/serv.log")"
kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
ok "the same URI (object=web) now names the new key: gnutls-serv serves it, curl accepts the new pin"
expect 0 C check web
ok "check web after rotation is ok"

# issuer = self with the key in the token: the token signs its own certificate.
cat >>"$T/certherd.conf" <<CONF

[certificate "selfie"]
certificate = $T/tls/selfie.crt
key = $TOKEN;object=selfie
pkcs11-pin-file = $T/pin
names = selfie.test
issuer = self
CONF
expect 0 C renew selfie
openssl verify -CAfile "$T/tls/selfie.crt" "$T/tls/selfie.crt" >/dev/null || die "the self-signed certificate does not verify"
expect 0 C pin --password-file "$T/pin" "$TOKEN;object=selfie"
[[ $(cat "$T/out") == "$(spki_pin "$T/tls/selfie.crt")" ]] || die "selfie: the certificate is not for the token key"
expect 0 C check selfie
ok "issuer = self with a token key: the token signs its own certificate; check is ok"

# Tiers with token keys: a root in the token signs an intermediate in the token and one whose
# key is a file; the token intermediate issues a leaf (subject, chain appended, permitted-names) and signs
# a request (ca sign). ca rotate and ca init --csr keep key files, so a token CA is refused with the reason.
cat >>"$T/certherd.conf" <<CONF

[ca "t-root"]
certificate = $T/ca/t-root.crt
key = $TOKEN;object=t-root
pkcs11-pin-file = $T/pin

[ca "t-issuing"]
parent = t-root
certificate = $T/ca/t-issuing.crt
key = $TOKEN;object=t-issuing
pkcs11-pin-file = $T/pin
permitted-names = .internal.test

[ca "f-issuing"]
parent = t-root
certificate = $T/ca/f-issuing.crt
key = $T/ca/f-issuing.key

[ca "t-offline"]
certificate = $T/ca/t-offline.crt
key = $TOKEN;object=t-offline
pkcs11-pin-file = $T/pin

[certificate "api"]
certificate = $T/tls/api.crt
key = $TOKEN;object=api
pkcs11-pin-file = $T/pin
ca = $T/ca/t-root.crt
names = api.internal.test
subject = CN=api, O=Tiers
issuer = ca:t-issuing
CONF
expect 0 C ca init t-root
expect 0 C ca init t-issuing
expect 0 C ca init f-issuing
openssl x509 -in "$T/ca/t-root.crt" -noout -text | grep -q 'CA:TRUE, pathlen:1' || die "t-root: $(openssl x509 -in "$T/ca/t-root.crt" -noout -text)"
for i in t-issuing f-issuing; do
        openssl verify -CAfile "$T/ca/t-root.crt" "$T/ca/$i.crt" >/dev/null || die "$i does not verify against t-root"
done
openssl x509 -in "$T/ca/t-issuing.crt" -noout -text | grep -A2 'Name Constraints' | grep -q 'DNS:.internal.test' ||
        die "t-issuing has no name constraints"
[[ -f $T/ca/f-issuing.key ]] || die "f-issuing has no key file"
ok "ca init: a token root signs a token intermediate (name constraints) and a file-key intermediate"

expect 0 C renew api
[[ $(grep -c 'BEGIN CERTIFICATE' "$T/tls/api.crt") == 2 ]] || die "api: no chain appended: $(cat "$T/tls/api.crt")"
openssl verify -CAfile "$T/ca/t-root.crt" -untrusted "$T/tls/api.crt" "$T/tls/api.crt" >/dev/null ||
        die "api does not verify through t-issuing to t-root"
openssl x509 -in "$T/tls/api.crt" -noout -subject -nameopt RFC2253 | grep -q 'CN=api,O=Tiers' || die "api subject"
expect 0 C check api
ok "renew: a token intermediate issues a token-key leaf with its subject and chain; check api is ok"

# A revoked certificate is replaced with a new key in the token too (key-policy = reuse notwithstanding):
# made as api.next, it becomes object=api once its certificate is installed; the old one is kept as api.old.
api_pin=$(spki_pin "$T/tls/api.crt")
expect 0 C ca revoke api --replace
grep -q "1 renewed" "$T/out" || die "ca revoke --replace api: $(cat "$T/out" "$T/err")"
[[ $(spki_pin "$T/tls/api.crt") != "$api_pin" ]] || die "the revoked token set kept its key"
expect 0 C pin --password-file "$T/pin" "$TOKEN;object=api"
[[ $(cat "$T/out") == "$(spki_pin "$T/tls/api.crt")" ]] || die "object=api does not name the new key"
expect 0 C pin --password-file "$T/pin" "$TOKEN;object=api.old"
[[ $(cat "$T/out") == "$api_pin" ]] || die "the revoked key is not kept as api.old"
expect 0 C check api
ok "ca revoke api --replace with a token key: a new key in the token (object=api), the revoked one kept as api.old"

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/req.key" -subj /CN=dev \
        -addext subjectAltName=DNS:dev.internal.test -out "$T/dev.csr" 2>/dev/null
expect 0 C ca sign t-issuing "$T/dev.csr" --out "$T/dev.crt"
openssl verify -CAfile "$T/ca/t-root.crt" -untrusted "$T/dev.crt" "$T/dev.crt" >/dev/null || die "ca sign: does not verify"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/req.key" -subj /CN=evil \
        -addext subjectAltName=DNS:evil.example.net -out "$T/evil.csr" 2>/dev/null
expect 1 C ca sign t-issuing "$T/evil.csr" --out "$T/evil.crt"
grep -q "outside the permitted-names" "$T/err" || die "ca sign refusal: $(cat "$T/err")"
rm -f "$T/req.key"
ok "ca sign with a token CA key; a name outside permitted-names is refused"

cp "$T/ca/t-issuing.crt" "$T/t-issuing.crt.before"
expect 1 C ca rotate t-issuing
grep -q "ca rotate works on a key file" "$T/err" || die "ca rotate of a token CA: $(cat "$T/err")"
cmp -s "$T/ca/t-issuing.crt" "$T/t-issuing.crt.before" || die "the refused rotation changed the certificate"
expect 1 C ca init t-offline --csr
grep -q "ca init --csr makes a key file" "$T/err" || die "ca init --csr of a token CA: $(cat "$T/err")"
[[ ! -e $T/ca/t-offline.crt.csr ]] || die "a refused --csr wrote a request"
ok "ca rotate and ca init --csr refuse a token CA with the reason, changing nothing"

# key-mismatch through the public key: a certificate for another key.
cp "$T/tls/web.crt" "$T/web.crt.good"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj /CN=localhost \
        -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -days 30 -out "$T/tls/web.crt" 2>/dev/null
expect 2 C check web
grep -q 'key-mismatch' "$T/out" || die "check: no key-mismatch: $(cat "$T/out")"
cp "$T/web.crt.good" "$T/tls/web.crt"
ok "check reports key-mismatch for a certificate that is not the token key's"

# Without a PIN the token key cannot be used: a clear error, nothing changes.
sed -i "/^pkcs11-pin-file/d" "$T/certherd.conf"
expect 1 C renew --force web
grep -q "no PIN (pkcs11-pin-file or pin-source=) or a wrong one" "$T/err" || die "renew without PIN: $(cat "$T/err")"
cmp -s "$T/tls/web.crt" "$T/web.crt.good" || die "renew without a PIN changed the certificate"
ok "without a PIN: renew fails with the reason and changes nothing"

# Bad input: a token URI without an object label is refused when the inventory is read.
sed -i "s|^key = $TOKEN;object=web|key = $TOKEN|" "$T/certherd.conf"
expect 3 C check
grep -q "names no token object: add ;object=LABEL" "$T/err" || die "config: $(cat "$T/err")"
ok "key = pkcs11: without object= is a configuration error naming the file and line"
echo "$n_ok passed, 0 failed"
