#!/bin/bash
# Outputs with a real intermediate: a certificate from Debian's pebble (leaf + pebble's
# intermediate) installed with chain, leaf, combined and pkcs12. certbot's layout: leaf = the leaf alone
# (cert.pem), chain = the intermediates alone (chain.pem), the certificate file = leaf + chain
# (fullchain.pem); combined and the PKCS#12 file hold key + leaf + intermediates, all checked with openssl
# and the chain verified against pebble's root.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../20-acme/lib-pebble.sh"
need dig bind9-dnsutils

knot_start
pebble_start
printf 'p12 password\n' >"$T/p12pass"
acme_conf "$T/c.conf" peb <<CONF
listen = 127.0.0.1:$HTTP_PORT
CONF
acme_cert "$T/c.conf" www peb www.acme.test
cat >>"$T/c.conf" <<CONF
chain = $T/tls/chain.pem
leaf = $T/tls/cert.pem
combined = $T/tls/combined.pem
pkcs12 = $T/tls/www.p12
pkcs12-password-file = $T/p12pass
CONF
# acme_cert ends the section with a blank line: the outputs still belong to [certificate "www"].
C() { "$CERTHERD" -c "$T/c.conf" "$@"; }

expect 0 C renew
grep -q "1 renewed" "$T/out" || die "renew: $(cat "$T/out" "$T/err")"
verify_chain www

# Split a PEM file into its certificates: $T/split/N.pem.
split() {
        rm -rf "$T/split" && mkdir "$T/split"
        awk -v d="$T/split" '/BEGIN CERT/ { n++ } n && /BEGIN CERT/, /END CERT/ { print > (d "/" n ".pem") }' "$1"
        ls "$T/split" | wc -l
}
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256; }

n_full=$(split "$T/tls/www.crt")
((n_full >= 2)) || die "pebble sent no intermediate"
mkdir -p "$T/full" && cp "$T"/split/*.pem "$T/full/"

[[ $(split "$T/tls/cert.pem") == 1 && $(fp "$T/split/1.pem") == $(fp "$T/full/1.pem") ]] || die "leaf is not the leaf alone"
[[ $(split "$T/tls/chain.pem") == $((n_full - 1)) ]] || die "chain holds $(ls "$T/split" | wc -l) certificates, not $((n_full - 1))"
for i in $(seq 2 "$n_full"); do
        [[ $(fp "$T/split/$((i - 1)).pem") == $(fp "$T/full/$i.pem") ]] || die "chain certificate $((i - 1)) differs"
done
openssl verify -CAfile "$T/pebble/root.pem" -untrusted "$T/tls/chain.pem" "$T/tls/cert.pem" >/dev/null ||
        die "leaf + chain do not verify against pebble's root"
ok "leaf: the leaf alone; chain: the $((n_full - 1)) intermediate(s) alone; leaf + chain = the installed fullchain"

[[ $(split "$T/tls/combined.pem") == "$n_full" ]] || die "combined does not hold leaf and chain"
for i in $(seq 1 "$n_full"); do
        [[ $(fp "$T/split/$i.pem") == $(fp "$T/full/$i.pem") ]] || die "combined certificate $i differs"
done
[[ $(openssl pkey -in "$T/tls/combined.pem" -pubout | sha256sum) == $(openssl x509 -in "$T/tls/www.crt" -noout -pubkey | sha256sum) ]] ||
        die "combined's key is not the certificate's"
openssl pkcs12 -in "$T/tls/www.p12" -passin "file:$T/p12pass" -nokeys >"$T/p12certs" 2>/dev/null || die "openssl pkcs12 cannot read it"
[[ $(split "$T/p12certs") == "$n_full" ]] || die "the PKCS#12 file holds $(ls "$T/split" | wc -l) certificates, not $n_full"
openssl pkcs12 -in "$T/tls/www.p12" -passin "file:$T/p12pass" -nokeys -clcerts 2>/dev/null | openssl x509 -noout -fingerprint -sha256 >"$T/p12leaf"
[[ $(cat "$T/p12leaf") == $(fp "$T/full/1.pem") ]] || die "the PKCS#12 leaf is not the leaf"
ok "combined and pkcs12: key, leaf and the intermediates"

expect 0 C check www
ok "check: every output matches"
echo "$n_ok passed"
