#!/bin/bash
# Forged CRLs. Anyone can sign a CRL under any name: a CRL made with another key but the internal CA's
# name, listing a set's serial (openssl ca -gencrl, once with an authority key id of the forger's key,
# once with none), must neither revoke the set nor trigger a renewal (each renewal an ACME order: a
# rate-limit attack) nor count as a fresh CRL: the set gets crl-invalid naming the file and why. The
# genuine CRL still revokes, and a revocation for key compromise is renewed with a new key.
# The set has no `ca =`: a set of issuer = ca:NAME trusts its CA's bundle, so `check` is ok after `renew`.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
need openssl

cat >"$T/certherd.conf" <<CONF
$(conf_agent)

$(conf_ca corp "$T/ca/ca" "export = $T/export/ca.pem" "crl = $T/export/ca.crl")

$(conf_leaf app corp "" "names = app.test" "key-policy = reuse")
CONF
ch() { "$CERTHERD" -c "$T/certherd.conf" "$@"; }

expect 0 ch ca init corp
expect 0 ch renew
expect 0 ch check app
grep -q "^ok  *app" "$T/out" || grep -q "0 warning, 0 critical" "$T/out" || die "check after renew: $(cat "$T/out")"
ok "issuer = ca:corp without ca =: renewed, and check trusts the CA (no untrusted-chain)"

serial=$(openssl x509 -in "$T/tls/app.crt" -noout -serial | cut -d= -f2)
pin0=$(spki_pin "$T/tls/app.crt")
subject=$(openssl x509 -in "$T/ca/ca.crt" -noout -subject -nameopt compat | sed 's/^subject=//')

# The forger: its own key, a CA certificate with the internal CA's very name, an openssl ca database
# listing app's serial as revoked for key compromise.
mkdir -p "$T/forger"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/forger/ca.key" \
        -out "$T/forger/ca.crt" -subj "$subject" -days 30 2>/dev/null || die "forger CA"
printf 'R\t%s\t%s,keyCompromise\t%s\tunknown\t/CN=app.test\n' "301231000000Z" "$(date -u +%y%m%d%H%M%SZ)" \
        "$serial" >"$T/forger/index.txt"
echo 01 >"$T/forger/crlnumber"
# gencrl DIR KEY CERT OUT AKI(yes|no): `openssl ca -gencrl` from DIR's index.txt and crlnumber, signed
# with KEY as CERT, with an authority key id or none.
gencrl() {
        cat >"$1/openssl.cnf" <<CNF
[ca]
default_ca = gen
[gen]
database = $1/index.txt
crlnumber = $1/crlnumber
default_md = sha256
default_crl_days = 7
$([ "$5" = yes ] && echo "crl_extensions = crl_ext")
[crl_ext]
authorityKeyIdentifier = keyid:always
CNF
        openssl ca -config "$1/openssl.cnf" -gencrl -keyfile "$2" -cert "$3" -out "$4" 2>"$1/err" ||
                die "openssl ca -gencrl ($1): $(cat "$1/err")"
}
forge() { gencrl "$T/forger" "$T/forger/ca.key" "$T/forger/ca.crt" "$@"; } # out aki(yes|no)
forge "$T/forged-aki.crl" yes
forge "$T/forged-bare.crl" no
openssl crl -in "$T/forged-aki.crl" -noout -text | grep -qi "$serial" || die "the forged CRL does not list $serial"
# The forgery is a well-formed CRL under the CA's name: only its signature tells it apart.
[ "$(openssl crl -in "$T/forged-aki.crl" -noout -issuer -nameopt compat)" = \
  "$(openssl crl -in "$T/export/ca.crl" -noout -issuer -nameopt compat)" ] || die "forger's name differs"

# The set names the forged CRL as its crl (a publisher the attacker can write to).
attack() { # crl file
        cat >"$T/attack.conf" <<CONF
$(cat "$T/certherd.conf")
crl = $1
CONF
}
for f in forged-aki forged-bare; do
        attack "$T/$f.crl"
        expect 2 "$CERTHERD" -c "$T/attack.conf" check app
        grep -q "crl-invalid: CRL $T/$f.crl: the CRL of .* is not genuine" "$T/out" || die "$f: no crl-invalid: $(cat "$T/out")"
        grep -q "revoked" "$T/out" && die "$f: revoked by a forged CRL: $(cat "$T/out")"
        grep -q "crl-expir" "$T/out" && die "$f: a forged CRL judged for freshness: $(cat "$T/out")"
        expect 0 "$CERTHERD" -c "$T/attack.conf" renew
        [ "$(openssl x509 -in "$T/tls/app.crt" -noout -serial | cut -d= -f2)" = "$serial" ] ||
                die "$f: the forged CRL triggered a renewal: $(cat "$T/out")"
        expect 2 "$CERTHERD" -c "$T/attack.conf" --json check app
        python3 - "$T/out" "$T/$f.crl" <<'PY' || die "$f: JSON: $(cat "$T/out")"
import json, sys
c = json.load(open(sys.argv[1]))["certificates"][0]
codes = [p["code"] for p in c["problems"]]
assert "crl-invalid" in codes and "revoked" not in codes, codes
p = [p for p in c["problems"] if p["code"] == "crl-invalid"][0]
assert p["severity"] == "critical" and sys.argv[2] in p["message"], p
PY
done
attack "$T/forged-aki.crl"
expect 2 "$CERTHERD" -c "$T/attack.conf" check app
grep -q "authority key id .* is not the issuer's key id" "$T/out" || die "the reason is not named: $(cat "$T/out")"
attack "$T/forged-bare.crl"
expect 2 "$CERTHERD" -c "$T/attack.conf" check app
grep -q "signature does not verify" "$T/out" || die "the reason is not named: $(cat "$T/out")"
ok "forged CRLs (the CA's name, another key; with and without AKI): crl-invalid naming file and reason, not revoked, not renewed"

# The same forgery in place of the CA's own CRL file: not believed either.
cp "$T/export/ca.crl" "$T/genuine.crl"
cp "$T/forged-aki.crl" "$T/export/ca.crl"
expect 2 ch check
grep -q "crl-invalid: CRL $T/export/ca.crl" "$T/out" || die "own CRL forged: $(cat "$T/out")"
grep -q "revoked" "$T/out" && die "own CRL forged: revoked: $(cat "$T/out")"
grep -q "ca:corp.*crl-invalid" "$T/out" || die "CA row: $(cat "$T/out")"
# The forgery does not count as the CA's CRL: the next renew signs a genuine one at once.
expect 0 ch renew
openssl crl -in "$T/export/ca.crl" -noout -CAfile "$T/ca/ca.crt" 2>&1 | grep -q "verify OK" || die "not re-signed"
expect 0 ch check app
ok "a forged CRL in place of the CA's own CRL file is crl-invalid (set and CA row), not revoked, and re-signed"

# The genuine revocation still counts: revoked, and renewed with a new key despite key-policy = reuse.
expect 0 ch ca revoke app --reason key-compromise
expect 2 ch check app
grep -q "revoked: serial" "$T/out" || die "genuine CRL: $(cat "$T/out")"
grep -q "crl-invalid" "$T/out" && die "genuine CRL called invalid: $(cat "$T/out")"
attack "$T/export/ca.crl"
expect 2 "$CERTHERD" -c "$T/attack.conf" check app
grep -q "revoked: serial" "$T/out" || die "genuine CRL named as crl: $(cat "$T/out")"
expect 0 ch renew
[ "$(openssl x509 -in "$T/tls/app.crt" -noout -serial | cut -d= -f2)" != "$serial" ] || die "not renewed: $(cat "$T/out")"
[ "$(spki_pin "$T/tls/app.crt")" != "$pin0" ] || die "renewed with the revoked key"
expect 0 ch check app
ok "the genuine CRL revokes; the set is renewed with a new key (key-policy = reuse notwithstanding)"

# Any revocation, whatever its reason, renews with a new key: `ca revoke --reason superseded`.
serial=$(openssl x509 -in "$T/tls/app.crt" -noout -serial | cut -d= -f2)
pin1=$(spki_pin "$T/tls/app.crt")
expect 0 ch ca revoke app --reason superseded
expect 2 ch check app
grep -q "revoked: serial .* reason superseded" "$T/out" || die "superseded: $(cat "$T/out")"
expect 0 ch renew
[ "$(spki_pin "$T/tls/app.crt")" != "$pin1" ] || die "renewed with the key of a superseded certificate"
grep -q "$pin1" "$T/state/compromised-keys.json" 2>/dev/null && die "a superseded key was marked compromised"
expect 0 ch check app
ok "revoked as superseded: renewed with a new key, the old key not marked compromised"

# A genuine CRL of the issuer (signed with its key by openssl, as a CA run elsewhere would) whose entry
# gives no reason: taken as key compromise — the key is recorded and never certified again, by a
# renewal or by ca sign.
serial=$(openssl x509 -in "$T/tls/app.crt" -noout -serial | cut -d= -f2)
pin2=$(spki_pin "$T/tls/app.crt")
cp "$T/tls/app.key" "$T/old.key"
mkdir -p "$T/real"
printf 'R\t%s\t%s\t%s\tunknown\t/CN=app.test\n' "301231000000Z" "$(date -u +%y%m%d%H%M%SZ)" "$serial" >"$T/real/index.txt"
echo 10 >"$T/real/crlnumber"
gencrl "$T/real" "$T/ca/ca.key" "$T/ca/ca.crt" "$T/real.crl" yes
attack "$T/real.crl"
expect 2 "$CERTHERD" -c "$T/attack.conf" check app
grep -q "revoked: serial .* reason none given (taken as key compromise) (CRL $T/real.crl)" "$T/out" ||
        die "genuine CRL without reason: $(cat "$T/out")"
expect 0 "$CERTHERD" -c "$T/attack.conf" renew
[ "$(spki_pin "$T/tls/app.crt")" != "$pin2" ] || die "renewed with the revoked key"
grep -q "$pin2" "$T/state/compromised-keys.json" || die "the key was not recorded compromised"
openssl req -new -key "$T/old.key" -subj "/CN=app.test" -addext "subjectAltName=DNS:app.test" -out "$T/old.csr" 2>/dev/null
expect 1 ch ca sign corp "$T/old.csr" --usage server
grep -q "revoked with key-compromise" "$T/err" || die "ca sign of the compromised key: $(cat "$T/err")"
ok "a genuine CRL entry without a reason: renewed with a new key, the old key recorded compromised, ca sign refuses it"
