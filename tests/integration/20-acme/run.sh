#!/bin/bash
# ACME against Debian's pebble validating for real (pebble resolves the names through a Knot DNS server
# made here and fetches http-01 answers from certherd's built-in responder): issuance with chains that
# verify against pebble's root, key reuse, revocation, account key rollover, alternate chain choice and
# 50 concurrent issuances at pebble's default 5 % and at 30 % nonce rejection.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/lib-pebble.sh"
need dig bind9-dnsutils

knot_start
pebble_start # PEBBLE_WFE_NONCEREJECT unset: pebble's default 5 %
acme_conf "$T/c.conf" peb <<CONF
listen = 127.0.0.1:$HTTP_PORT
contact = mailto:admin@acme.test
CONF
acme_cert "$T/c.conf" www peb www.acme.test acme.test 127.0.0.1
acme_cert "$T/c.conf" api peb api.acme.test
C() { "$CERTHERD" -c "$T/c.conf" "$@"; }

# --- first issuance over http-01
expect 0 C renew
grep -q "2 renewed, 0 not due, 0 failed" "$T/out" || die "renew: $(cat "$T/out" "$T/err")"
grep -q "registered account https://localhost:$PEBBLE_PORT/" "$T/err" || die "no account registration: $(cat "$T/err")"
verify_chain www
verify_chain api
openssl x509 -in "$T/tls/www.crt" -noout -ext subjectAltName >"$T/san"
grep -q "DNS:www.acme.test" "$T/san" && grep -q "DNS:acme.test" "$T/san" && grep -q "IP Address:127.0.0.1" "$T/san" ||
        die "SANs: $(cat "$T/san")"
[[ $(stat -c %a "$T/state/acme/peb/account.key") == 600 ]] || die "account key mode"
[[ $(stat -c %a "$T/tls/www.key") == 600 ]] || die "key mode"
[[ -z $(ls -A "$T/state/acme/peb/orders") ]] || die "finished orders left behind: $(ls "$T/state/acme/peb/orders")"
expect 0 C check
[[ $(cat "$T/pins/www.pin") == "$(spki_pin "$T/tls/www.crt")" ]] || die "published pin"
ok "http-01 through the built-in responder: DNS names and an IP address, chains verify against pebble's root"

# --- nothing due; a forced renewal finds the account again and keeps the key
expect 0 C renew
grep -q "0 renewed, 2 not due" "$T/out" || die "second renew: $(cat "$T/out")"
serial=$(openssl x509 -in "$T/tls/www.crt" -noout -serial)
pin=$(cat "$T/pins/www.pin")
expect 0 C renew --force www
grep -q "registered account" "$T/err" && die "registered a second account: $(cat "$T/err")"
[[ $(openssl x509 -in "$T/tls/www.crt" -noout -serial) != "$serial" ]] || die "not reissued"
[[ $(cat "$T/pins/www.pin") == "$pin" ]] || die "key-policy reuse changed the pin"
verify_chain www
url1=$(python3 -c "import json; print(json.load(open('$T/state/acme/peb/account.json'))['url'])")
rm "$T/state/acme/peb/account.json" # the key alone: the account is looked up
expect 0 C renew --force www
grep -q "found account $url1" "$T/err" || die "no lookup with onlyReturnExisting: $(cat "$T/err")"
ok "a second run finds nothing due; a forced one reuses the account and the key; without account.json the key finds the account (onlyReturnExisting)"

# --- revocation
serial=$(openssl x509 -in "$T/tls/api.crt" -noout -serial | cut -d= -f2)
pebble_cert_status "$serial" | grep -q '"Status": "Valid"' || die "pebble does not know the certificate as valid"
expect 3 C revoke api --reason bogus
expect 3 C revoke nosuch
expect 0 C revoke api --reason keyCompromise
grep -q "api: revoked" "$T/out" || die "revoke output: $(cat "$T/out")"
pebble_cert_status "$serial" >"$T/status"
grep -q '"Status": "Revoked"' "$T/status" || die "not revoked at pebble: $(cat "$T/status")"
grep -q '"Reason": 1' "$T/status" || die "reason not keyCompromise: $(cat "$T/status")"
expect 1 C revoke api
grep -qi "already revoked" "$T/err" || die "second revocation: $(cat "$T/err")"
ok "revoke with --reason keyCompromise: pebble reports the certificate revoked; a second revoke says so"
# keyCompromise marks the key compromised; check reports it, and it is never certified again.
pin_api=$(spki_pin "$T/tls/api.crt")
grep -q "$pin_api" "$T/state/compromised-keys.json" || die "api's key is not in the compromised-keys list"
expect 2 C check api
grep -q "revoked: the key is compromised" "$T/out" || die "check does not report the compromised key: $(cat "$T/out")"
ok "keyCompromise at the ACME server marks the key compromised; check reports it (revoked)"

# --- account key rollover
key1=$(sha256sum <"$T/state/acme/peb/account.key")
expect 0 C acme rollover peb
grep -q "account $url1 now uses key" "$T/out" || die "rollover output: $(cat "$T/out" "$T/err")"
[[ $(sha256sum <"$T/state/acme/peb/account.key") != "$key1" ]] || die "account key unchanged"
[[ $(stat -c %a "$T/state/acme/peb/account.key") == 600 && ! -e $T/state/acme/peb/account.key.next ]] ||
        die "account key files after rollover"
rm "$T/state/acme/peb/account.json"
expect 0 C renew --force api
grep -q "found account $url1" "$T/err" || die "the new key did not find the account: $(cat "$T/err")"
verify_chain api
[[ $(spki_pin "$T/tls/api.crt") != "$pin_api" ]] || die "the compromised key was certified again (key-policy = reuse)"
ok "account key rollover: the same account, found and used with the new key"

# --- alternate chains: preferred-chain picks the one up to the named root
pebble_stop
pebble_start PEBBLE_ALTERNATE_ROOTS=2
curl -fsS -k "https://127.0.0.1:$PEBBLE_MGMT/roots/2" >"$T/pebble/alt2.pem"
alt_cn=$(openssl x509 -in "$T/pebble/alt2.pem" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= *//p')
[[ -n $alt_cn ]] || die "no CN for the alternate root"
cat "$T/pebble/root.pem" "$T/pebble/alt2.pem" >"$T/pebble/roots.pem"
sed -i "s#^ca = $T/pebble/root.pem#ca = $T/pebble/roots.pem#" "$T/c.conf"
expect 0 C renew --force www
verify_chain www # against roots/0: the default chain
printf 'preferred-chain = %s\n' "$alt_cn" >"$T/pref"
sed -i "/^\[acme \"peb\"\]/r $T/pref" "$T/c.conf"
expect 0 C renew --force www
grep -q "using the alternate chain up to \"$alt_cn\"" "$T/err" || die "alternate not chosen: $(cat "$T/err")"
cp "$T/pebble/alt2.pem" "$T/pebble/root.pem"
verify_chain www # now against roots/2
issuer=$(awk '/BEGIN CERT/ { n++ } n == 2' "$T/tls/www.crt" | openssl x509 -noout -issuer -nameopt multiline |
        sed -n 's/^ *commonName *= *//p')
[[ $issuer == "$alt_cn" ]] || die "top of the chain issued by '$issuer', wanted '$alt_cn'"
sed -i '/^preferred-chain/d' "$T/c.conf"
ok "preferred-chain = \"$alt_cn\" installs the alternate chain (Link rel=alternate); without it, the default"

# --- many at once, with nonce rejection at pebble's default and at 30 %
many() { # label
        local i
        acme_conf "$T/many.conf" peb <<<"listen = 127.0.0.1:$HTTP_PORT"
        for i in $(seq -w 1 50); do acme_cert "$T/many.conf" "m$i" peb "m$i.acme.test"; done
        rm -rf "$T/tls"/m*
        local t0=$EPOCHREALTIME
        expect 0 "$CERTHERD" -c "$T/many.conf" renew
        grep -q "50 renewed, 0 not due, 0 failed" "$T/out" || die "$1: $(tail -5 "$T/out" "$T/err")"
        for i in 01 25 50; do verify_chain "m$i"; done
        rejected=$(sed -n 's/.* \([0-9]*\) badNonce rejections retried.*/\1/p' "$T/err")
        echo "   $1: 50 certificates in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s, $rejected badNonce rejections retried"
}
pebble_stop
pebble_start
many "default rejection (5 %)"
((rejected > 0)) || die "pebble rejected no nonce at its default rate: is nonce rejection on?"
pebble_stop
pebble_start PEBBLE_WFE_NONCEREJECT=30
many "PEBBLE_WFE_NONCEREJECT=30"
((rejected > 20)) || die "only $rejected rejections at 30 %"
ok "50 concurrent issuances succeed at 5 % and at 30 % nonce rejection (badNonce retried with the fresh nonce)"
echo "$n_ok passed"
