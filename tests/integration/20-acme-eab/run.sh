#!/bin/bash
# External Account Binding (RFC 8555 §7.3.4) with pebble's externalAccountBindingRequired: the right
# eab-kid and HMAC key register and issue; a wrong key, an unknown kid and no binding at all each give a
# clear error and install nothing.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../20-acme/lib-pebble.sh"
need dig bind9-dnsutils

knot_start
pebble_config 1
pebble_start
echo "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W" >"$T/eab-right"
echo "AAAADM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W" >"$T/eab-wrong"
chmod 600 "$T"/eab-*

conf() { # file state-suffix kid hmac-file
        acme_conf "$1" peb <<CONF
listen = 127.0.0.1:$HTTP_PORT
${3:+eab-kid = $3}
${4:+eab-hmac-file = $4}
CONF
        sed -i "s#^state-directory = .*#state-directory = $T/state-$2#" "$1"
        acme_cert "$1" eab peb "eab.$ZONE"
}

conf "$T/none.conf" none
expect 1 "$CERTHERD" -c "$T/none.conf" renew
grep -q "requires External Account Binding: set eab-kid and eab-hmac-file" "$T/err" || die "$(cat "$T/err")"
[[ ! -e $T/tls/eab.crt ]] || die "installed without an account"
ok "no binding against a server that requires one: says which keys to set"

conf "$T/wrong.conf" wrong kid-1 "$T/eab-wrong"
expect 1 "$CERTHERD" -c "$T/wrong.conf" renew
grep -q "account registration (with External Account Binding) failed: .*HTTP 4[0-9][0-9] urn:ietf:params:acme:error:" "$T/err" ||
        die "$(cat "$T/err")"
[[ ! -e $T/tls/eab.crt ]] || die "installed with a wrong key"
ok "a wrong HMAC key: the server's problem document in the error ($(grep -o 'urn:ietf:params:acme:error:[A-Za-z]*: [^—]*' "$T/err" | head -1))"

conf "$T/unknown.conf" unknown kid-9 "$T/eab-right"
expect 1 "$CERTHERD" -c "$T/unknown.conf" renew
grep -q "account registration (with External Account Binding) failed" "$T/err" || die "$(cat "$T/err")"
ok "an unknown eab-kid: a clear error"

conf "$T/right.conf" right kid-1 "$T/eab-right"
expect 0 "$CERTHERD" -c "$T/right.conf" renew
grep -q "registered account" "$T/err" || die "$(cat "$T/err")"
verify_chain eab
expect 0 "$CERTHERD" -c "$T/right.conf" renew --force
grep -q "registered account" "$T/err" && die "registered again instead of finding the account"
ok "the right kid and key: registered, issued; the next run finds the account"
echo "$n_ok passed"
