#!/bin/bash
# Keys in a PKCS#11 token with ACME: the ACME account key lives in a SoftHSM2 token
# ([acme] account-key = pkcs11:…), JWS requests are signed there; a certificate set's key is in the token
# too, its CSR signed there; pebble (validating for real over http-01) issues; key-policy = rotate makes
# the next key in the token and the renewed certificate is for the announced next pin; no private key
# file exists anywhere.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
need softhsm2-util softhsm2; need p11tool gnutls-bin
module=
for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/*-linux-gnu/softhsm/libsofthsm2.so; do [[ -f $m ]] && { module=$m; break; }; done
[[ -n $module ]] || skip "no libsofthsm2.so (apt-get install -y softhsm2)"
source "$here/../20-acme/lib-pebble.sh"

mkdir -p "$T/hsm/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$T/hsm/tokens" >"$T/hsm/softhsm2.conf"
export SOFTHSM2_CONF=$T/hsm/softhsm2.conf
softhsm2-util --init-token --free --label acme-test --pin 4321 --so-pin 87654321 >/dev/null ||
        skip "softhsm2-util cannot initialise a token here"
printf '4321\n' >"$T/pin"
TOKEN="pkcs11:token=acme-test"
objects() { GNUTLS_PIN=4321 p11tool --provider "$module" --login --list-all "$TOKEN" 2>/dev/null | awk '/Label:/ { print $2 }' | sort | tr '\n' ' '; }

knot_start
pebble_start
acme_conf "$T/c.conf" peb <<CONF
listen = 127.0.0.1:$HTTP_PORT
contact = mailto:admin@acme.test
account-key = $TOKEN;object=acme-account
pkcs11-pin-file = $T/pin
CONF
cat >>"$T/c.conf" <<CONF
[certificate "www"]
certificate = $T/tls/www.crt
key = $TOKEN;object=www
pkcs11-pin-file = $T/pin
ca = $T/pebble/root.pem
names = www.acme.test
issuer = acme:peb
key-policy = rotate
CONF
C() { "$CERTHERD" -c "$T/c.conf" "$@"; }
json() { pin_field www "$1"; }

expect 0 C renew
grep -q "generated the account key in the token: $TOKEN;object=acme-account" "$T/err" || die "account key: $(cat "$T/err")"
grep -q "registered account https://localhost:$PEBBLE_PORT/" "$T/err" || die "no account registration: $(cat "$T/err")"
verify_chain www
[[ $(objects) == "acme-account acme-account www www www.next www.next " ]] || die "token objects: $(objects)"
[[ ! -e $T/state/acme/peb/account.key ]] || die "an account key file was written"
f=$(grep -rl -e 'PRIVATE KEY' "$T" --exclude-dir=hsm --exclude-dir=pebble 2>/dev/null || true)
[[ -z $f ]] || die "a private key file exists: $f"
pin=$(json pin_sha256) next=$(json next_pin_sha256)
[[ $pin == "$(spki_pin "$T/tls/www.crt")" ]] || die "published pin"
expect 0 C check www
ok "pebble issued for a key in the token, the account key in the token signed the requests; no key files"

expect 0 C renew --force www
verify_chain www
[[ $(spki_pin "$T/tls/www.crt") == "$next" ]] || die "the renewed certificate is not for the announced next key"
grep -q "registered account" "$T/err" && die "the account was registered again: $(cat "$T/err")"
[[ $(objects) == "acme-account acme-account www www www.next www.next www.old www.old " ]] || die "token objects: $(objects)"
ok "renew --force (rotate): the token's next key, the same account (found again with the token key)"

# Rolling an account key over is refused for a token key (the token is where it is managed).
expect 1 C acme rollover peb
grep -q "the account key is in a token" "$T/err" || die "rollover: $(cat "$T/err")"
ok "acme rollover refuses a token account key with the reason"
echo "$n_ok passed, 0 failed"
