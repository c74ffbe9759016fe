#!/bin/bash
# `ca sign` decides the subject. A request is the requester's word: `CN=bank.example, O=Bank` next to a
# permitted SAN must not become a certificate that PostgreSQL `cert` authentication, Kubernetes or an
# nginx DN rule would take for the bank. The subject is certherd's (CN = the first name, or --subject);
# the request's only with --keep-subject and every attribute checked against permitted-names; what was
# signed is printed on standard error before the certificate. Also: a client request with a CN and no
# SAN, IPv6 SANs, uri: and email: permitted-names, and a key revoked for compromise is never signed again.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
need openssl

cat >"$T/certherd.conf" <<CONF
$(conf_agent)

$(conf_ca corp "$T/corp/ca" "permitted-names = example.org 10.0.0.0/8 fd00::/8 uri:spiffe://example.org/ email:example.org")

$(conf_ca open "$T/open/ca")
CONF
ch() { "$CERTHERD" -c "$T/certherd.conf" "$@"; }
expect 0 ch ca init corp
expect 0 ch ca init open

csr() { # name subject [san]
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$1.key" -out "$T/$1.csr" \
                -subj "$2" ${3:+-addext "subjectAltName=$3"} 2>/dev/null || die "openssl req $1"
}
subject_of() { openssl x509 -in "$1" -noout -subject -nameopt RFC2253 | sed 's/^subject=//'; }
signed() { # name ca usage: `ca sign` the request name.csr, the certificate into name.crt
        expect 0 ch ca sign "$2" "$T/$1.csr" --usage "$3"
        cp "$T/out" "$T/$1.crt"
}
refused() { # name ca usage pattern what: `ca sign` refuses name.csr with a message matching pattern
        expect 1 ch ca sign "$2" "$T/$1.csr" --usage "$3"
        grep -q "$4" "$T/err" || die "$5: $(cat "$T/err")"
}
sans_of() { openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null | tail -n +2 | tr -d ' '; }

# The attack: a bank's name in the subject beside a permitted SAN.
csr bank "/CN=bank.example/O=Bank" "DNS:app.example.org"
signed bank corp server
[ "$(subject_of "$T/bank.crt")" = "CN=app.example.org" ] || die "signed subject: $(subject_of "$T/bank.crt")"
grep -q "bank\|Bank" <(openssl x509 -in "$T/bank.crt" -noout -text) && die "the request's subject was copied"
grep -q 'signed subject "CN=app.example.org", names: app.example.org' "$T/err" || die "stderr: $(cat "$T/err")"
ok "CN=bank.example, O=Bank beside a permitted SAN: signed as CN=app.example.org, printed on stderr"

# Printed before the certificate: with --out - both streams into one, the line comes first.
"$CERTHERD" -c "$T/certherd.conf" ca sign corp "$T/bank.csr" --usage server --out - >"$T/both" 2>&1 || die "ca sign"
[ "$(grep -n 'signed subject' "$T/both" | cut -d: -f1)" -lt "$(grep -n 'BEGIN CERTIFICATE' "$T/both" | head -1 | cut -d: -f1)" ] ||
        die "the subject is not printed before the certificate: $(cat "$T/both")"
ok "the signed subject and names come before the certificate"

# --keep-subject: every attribute checked.
expect 1 ch ca sign corp "$T/bank.csr" --usage server --keep-subject
grep -q "bank.example" "$T/err" || die "keep-subject refusal: $(cat "$T/err")"
csr kept "/CN=app.example.org/O=Example" "DNS:app.example.org"
expect 1 ch ca sign corp "$T/kept.csr" --usage server --keep-subject
grep -q "O=Example" "$T/err" || die "keep-subject O refusal: $(cat "$T/err")"
csr kept2 "/CN=app.example.org" "DNS:app.example.org"
expect 0 ch ca sign corp "$T/kept2.csr" --usage server --keep-subject
cp "$T/out" "$T/kept2.crt"
[ "$(subject_of "$T/kept2.crt")" = "CN=app.example.org" ] || die "kept subject: $(subject_of "$T/kept2.crt")"
# A CA that constrains nothing vouches for nothing either way: the request's subject is kept as asked.
expect 0 ch ca sign open "$T/kept.csr" --usage server --keep-subject
cp "$T/out" "$T/kept-open.crt"
[ "$(subject_of "$T/kept-open.crt")" = "$(openssl req -in "$T/kept.csr" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')" ] ||
        die "open keep: $(subject_of "$T/kept-open.crt")"
ok "--keep-subject: refused for a CN or an O permitted-names does not vouch for; kept when it does"

# --subject: the operator's DN.
expect 0 ch ca sign corp "$T/bank.csr" --usage server --subject "CN=app.example.org,O=Example Ops"
cp "$T/out" "$T/subj.crt"
[ "$(subject_of "$T/subj.crt")" = "CN=app.example.org,O=Example Ops" ] || die "--subject: $(subject_of "$T/subj.crt")"
expect 3 ch ca sign corp "$T/bank.csr" --subject "CN=x" --keep-subject
ok "--subject DN writes the operator's subject; with --keep-subject it is a usage error"

# A client known by its CN alone.
csr device "/CN=device-01"
signed device open client
[ "$(subject_of "$T/device.crt")" = "CN=device-01" ] || die "device subject: $(subject_of "$T/device.crt")"
openssl x509 -in "$T/device.crt" -noout -ext extendedKeyUsage | grep -q "Client Authentication" || die "device EKU"
openssl verify -CAfile "$T/open/ca.crt" -purpose sslclient "$T/device.crt" >/dev/null || die "device does not verify"
# A plain identity is a name of no kind permitted-names constrains: a constrained CA signs it too.
expect 0 ch ca sign corp "$T/device.csr" --usage client
cp "$T/out" "$T/device-corp.crt"
[ "$(subject_of "$T/device-corp.crt")" = "CN=device-01" ] || die "corp device: $(subject_of "$T/device-corp.crt")"
[ -z "$(sans_of "$T/device-corp.crt")" ] || die "corp device has SANs: $(sans_of "$T/device-corp.crt")"
grep -q 'signed subject "CN=device-01", names: (none)' "$T/err" || die "device stderr: $(cat "$T/err")"
refused device open server "no subjectAltName" "device server refusal"
# A CN with a dot is a DNS name, checked as one.
csr bankclient "/CN=bank.example/O=Bank"
refused bankclient corp client "bank.example" "client bank.example"
ok "openssl req -subj /CN=device-01: signed for --usage client with that CN alone; refused for a server; CN=bank.example refused"

# IPv6.
csr v6 "/CN=ignored" "DNS:v6.example.org,IP:fd00::1,IP:10.1.2.3"
signed v6 corp server
sans_of "$T/v6.crt" | grep -qi "IPAddress:FD00:0:0:0:0:0:0:1" || die "IPv6 SAN: $(sans_of "$T/v6.crt")"
openssl verify -CAfile "$T/corp/ca.crt" "$T/v6.crt" >/dev/null || die "v6 does not verify"
csr v6bad "/CN=x" "DNS:v6.example.org,IP:2001:db8::1"
refused v6bad corp server "2001:db8::1" "v6 outside"
ok "IPv6 SANs are accepted (and constrained by fd00::/8)"

# uri: and email: permitted-names.
csr spiffe "/CN=x" "URI:spiffe://example.org/ns/web/sa/api,email:ops@example.org"
signed spiffe corp client
sans_of "$T/spiffe.crt" | grep -q "URI:spiffe://example.org/ns/web/sa/api" || die "uri SAN: $(sans_of "$T/spiffe.crt")"
for bad in "URI:spiffe://evil.org/ns/web" "URI:spiffe://example.org.evil.org/x" "email:ops@evil.org"; do
        csr bad "/CN=x" "$bad"
        refused bad corp client "outside the permitted-names" "$bad"
done
expect 0 ch ca sign open "$T/bad.csr" --usage client
ok "uri: prefixes and email: domains in permitted-names constrain those SANs"

# A key revoked for compromise is never signed again.
serial=$(openssl x509 -in "$T/bank.crt" -noout -serial | cut -d= -f2)
expect 0 ch ca revoke --ca corp --serial "$serial" --reason key-compromise
refused bank corp server "revoked with key-compromise" "compromised key signed"
expect 1 ch ca sign open "$T/bank.csr" --usage server
ok "ca sign refuses a key that ca revoke --reason key-compromise marked, at any CA"
