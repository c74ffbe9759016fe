#!/bin/bash
# tls-alpn-01 (RFC 8737) through the built-in GnuTLS responder: pebble connects with ALPN acme-tls/1 and
# SNI, and checks the acmeIdentifier extension of the self-signed certificate it gets.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../20-acme/lib-pebble.sh"
need dig bind9-dnsutils

knot_start
pebble_start PEBBLE_AUTHZREUSE=0
acme_conf "$T/c.conf" peb <<CONF
challenge = tls-alpn-01
listen = 127.0.0.1:$TLS_PORT
CONF
acme_cert "$T/c.conf" one peb "alpn.$ZONE" "www.alpn.$ZONE"
acme_cert "$T/c.conf" two peb "two.$ZONE"
sed -i 's/^\(names = two.*\)$/\1\nkey-type = rsa-2048/' "$T/c.conf"
C() { "$CERTHERD" -c "$T/c.conf" "$@"; }

expect 0 C renew
grep -q "2 renewed, 0 not due, 0 failed" "$T/out" || die "renew: $(cat "$T/out" "$T/err")"
verify_chain one
verify_chain two
openssl x509 -in "$T/tls/two.crt" -noout -text | grep -q "Public-Key: (2048 bit)" || die "rsa-2048 key"
ok "tls-alpn-01: two certificates (EC and RSA keys), three names validated through the built-in responder"

# RFC 8738 §6: an IP address over tls-alpn-01, pebble validating for real (the reverse name in SNI, the
# address as an iPAddress SAN of the answer certificate).
acme_cert "$T/c.conf" ip peb 127.0.0.1
expect 0 C renew ip
verify_chain ip
openssl x509 -in "$T/tls/ip.crt" -noout -ext subjectAltName | grep -q "IP Address:127.0.0.1" || die "no IP SAN"
ok "tls-alpn-01 for an IP address (RFC 8738): validated by pebble, IP SAN in the certificate"

# Negative control: a responder where pebble does not look fails validation, with pebble's words. A
# name never validated before, so that no earlier authorization can stand in for this one.
sum=$(sha256sum "$T/tls/two.crt")
sed -i "s#^listen = .*#listen = 127.0.0.1:$(free_port)#; s#^names = two.$ZONE\$#names = two.$ZONE neg.$ZONE#" "$T/c.conf"
grep -q "^names = two.$ZONE neg.$ZONE\$" "$T/c.conf" || die "negative control not set up"
expect 1 C renew --force two
grep -q "tls-alpn-01 validation of [a-z]*.$ZONE failed: urn:ietf:params:acme:error:" "$T/err" || die "$(cat "$T/err")"
[[ $(sha256sum "$T/tls/two.crt") == "$sum" ]] || die "certificate changed"
ok "a responder where pebble does not connect: the validation error verbatim, nothing installed"

# The responder is gone with the run: nothing listens any more.
if (exec 3<>"/dev/tcp/127.0.0.1/$TLS_PORT") 2>/dev/null; then die "responder still listening"; fi
ok "the responder stops when the run ends"
echo "$n_ok passed"
