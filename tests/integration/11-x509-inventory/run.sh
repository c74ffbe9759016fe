#!/bin/bash
# The inventory's checks as an operator meets them on the command line: issuer = self makes an end entity that `check`
# accepts as its own anchor; 100 names on long and continued lines issued by the internal CA; chain-order;
# the configured key mode; SHA-1 self-signatures of anchors; DN text with ESC; renew-before warnings; and,
# as root, inventory files owned by someone else.
source "$(dirname "$0")/../lib.sh"
need openssl; need python3

mkdir -p "$T/etc/ca" "$T/tls" "$T/w"

# 100 names: 60 on the `names` line (about 3000 characters), 40 on four continuation lines.
first=$(for i in $(seq -f %03g 0 59); do printf ' host-%s.a-rather-long-subdomain.service.example.com' "$i"; done)
cont=$(for l in 6 7 8 9; do
        printf '    '
        for i in $(seq -f %02g 0 9); do printf ' host-%s%s.a-rather-long-subdomain.service.example.com' "$l" "$i"; done
        printf '\n'
done)
cat >"$T/certherd.conf" <<CONF
$(conf_agent)

$(conf_ca internal "$T/etc/ca/internal" "validity = 30d")

$(conf_leaf many internal "$T/etc/ca/internal")
names =$first
$cont
  ; a comment between continuation lines does not end the value
    127.0.0.1 ::1
mode = 0640

[certificate "selfie"]
certificate = $T/tls/self.crt
key = $T/tls/self.key
names = self.internal 127.0.0.1
issuer = self
key-type = rsa-2048
CONF
C() { "$CERTHERD" -c "$T/certherd.conf" "$@"; }
json() { python3 -c "import json,sys; d=json.load(open('$T/out')); c={x['name']: x for x in d['certificates']}; $1"; }

expect 0 C ca init internal
expect 0 C renew
grep -q "2 renewed, 0 not due, 0 failed" "$T/out" || die "renew summary: $(cat "$T/out")"

# --- issuer = self: an end entity, its own anchor (no `ca =`)
openssl x509 -in "$T/tls/self.crt" -noout -text >"$T/self.txt"
grep -A1 "X509v3 Basic Constraints: critical" "$T/self.txt" | grep -q "CA:FALSE" || die "self: not CA:FALSE: $(cat "$T/self.txt")"
grep -q "Certificate Sign" "$T/self.txt" && die "self: keyCertSign"
grep -A1 "X509v3 Key Usage: critical" "$T/self.txt" | grep -q "Digital Signature, Key Encipherment$" || die "self: key usage"
grep -q "TLS Web Server Authentication" "$T/self.txt" || die "self: EKU"
grep -q "DNS:self.internal, IP Address:127.0.0.1" "$T/self.txt" || die "self: SANs"
expect 0 C --json check selfie
json "assert c['selfie']['state'] == 'ok', c['selfie']" || die "check selfie: $(cat "$T/out")"
ok "issuer = self: CA:FALSE, no keyCertSign, and check accepts it as its own anchor"

# --- 100 names from long and continued lines, issued by the internal CA
openssl x509 -in "$T/tls/many.crt" -noout -ext subjectAltName >"$T/san.txt"
n=$(grep -o "DNS:host-[0-9]*\.a-rather-long-subdomain\.service\.example\.com" "$T/san.txt" | sort -u | wc -l)
[[ $n == 100 ]] || die "many: $n DNS names in the certificate: $(cat "$T/san.txt")"
for h in 000 059 600 909; do grep -q "DNS:host-$h\.a-rather" "$T/san.txt" || die "many: host-$h missing"; done
grep -q "IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1" "$T/san.txt" || die "many: addresses"
expect 0 C --json check many
json "assert c['many']['state'] == 'ok' and len(c['many']['names']) == 102, c['many']" || die "check many"
ok "names of 100 DNS names over a long line and continuation lines: all in the issued certificate"

# --- mode = 0640 (the ssl-cert convention) is honoured by check; beyond it is not
[[ $(stat -c %a "$T/tls/many.key") == 640 ]] || die "many: key mode $(stat -c %a "$T/tls/many.key")"
chmod 0644 "$T/tls/many.key"
expect 1 C --json check many
json "p=[x['code'] for x in c['many']['problems']]; assert p == ['key-permissions'], p" || die "0644 under mode 0640"
chmod 0640 "$T/tls/many.key"
ok "mode = 0640: a 0640 key is fine, a 0644 key is key-permissions"

# --- watched files: chain order, SHA-1 self-signatures, a CN with ESC
cat "$T/etc/ca/internal.crt" "$T/tls/many.crt" >"$T/w/reversed.crt"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/w/root.key" -sha1 \
        -subj "/CN=old SHA-1 root" -days 3650 -out "$T/w/root.crt" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/w/leaf.key" \
        -subj "/CN=sha1.example" -addext "subjectAltName=DNS:sha1.example" -out "$T/w/leaf.csr" 2>/dev/null
openssl x509 -req -in "$T/w/leaf.csr" -CA "$T/w/root.crt" -CAkey "$T/w/root.key" -CAcreateserial -sha1 \
        -days 30 -copy_extensions copy -out "$T/w/leaf.crt" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/w/esc.key" \
        -subj "/CN=evil$(printf '\033')[2J$(printf '\033')]0;owned$(printf '\007')" -days 30 -out "$T/w/esc.crt" 2>/dev/null
cat >"$T/watch.conf" <<CONF
$(conf_agent)
[certificate "reversed"]
certificate = $T/w/reversed.crt
key = $T/tls/many.key
mode = 0640
ca = $T/etc/ca/internal.crt
[certificate "sha1-root"]
certificate = $T/w/root.crt
ca = $T/w/root.crt
[certificate "sha1-leaf"]
certificate = $T/w/leaf.crt
ca = $T/w/root.crt
[certificate "esc"]
certificate = $T/w/esc.crt
ca = $T/w/esc.crt
CONF
W() { "$CERTHERD" -c "$T/watch.conf" "$@"; }
expect 2 W --json check
json "
p = lambda n: [x['code'] for x in c[n]['problems']]
assert p('reversed') == ['chain-order'], p('reversed')
assert [x['severity'] for x in c['reversed']['problems']] == ['critical']
assert p('sha1-root') == [], p('sha1-root')
assert p('sha1-leaf') == ['weak-signature'], p('sha1-leaf')
assert c['esc']['subject'] == 'CN=evil\\\\x1b[2J\\\\x1b]0\\\\;owned\\\\x07', c['esc']['subject']
" || die "watched: $(cat "$T/out")"
ok "chain-order for an intermediate-first file; a SHA-1 root's self-signature is no problem, a SHA-1 leaf's is"
expect 2 W status
grep -q $'\033' "$T/out" "$T/err" && die "status prints ESC"
grep -qF 'evil\x1b[2J\x1b]0\;owned' "$T/out" || die "status: escaped subject missing: $(cat "$T/out")"
ok "a subject with ESC and BEL reaches status and JSON escaped"

# --- renew-before beyond two thirds of the lifetime: a warning naming file:line, and it still loads
cat >"$T/warn.conf" <<CONF
$(conf_ca internal "$T/etc/ca/internal" "validity = 30d")
[certificate "eager"]
certificate = $T/tls/many.crt
key = $T/tls/many.key
names = host-000.a-rather-long-subdomain.service.example.com
issuer = ca:internal
ca = $T/etc/ca/internal.crt
renew-before = 25d
mode = 0640
CONF
expect 0 "$CERTHERD" -c "$T/warn.conf" check eager
grep -qF "$T/warn.conf:5: [certificate \"eager\"] renew-before = 25d is more than two thirds of the certificate's lifetime (30d, the validity of [ca \"internal\"]): renewal is capped at 20d before expiry" "$T/err" ||
        die "no renew-before warning: $(cat "$T/err")"
ok "renew-before = 25d of a 30d CA: a warning with file:line"

# --- as root, inventory files must be root's and writable by nobody else
if [[ $(id -u) == 0 ]]; then
        mkdir -p "$T/conf.d"
        echo "[certificate \"many\"]" >"$T/conf.d/50-evil.conf"
        echo "exec = /bin/touch $T/pwned" >>"$T/conf.d/50-evil.conf"
        chown nobody "$T/conf.d/50-evil.conf"
        expect 3 C renew --force many
        grep -qF "$T/conf.d/50-evil.conf: refusing an inventory file owned by uid $(id -u nobody): running as root, it must belong to root" "$T/err" ||
                die "no ownership error: $(cat "$T/err")"
        [[ $(wc -l <"$T/err") == 1 ]] || die "more than one line: $(cat "$T/err")"
        [[ -e $T/pwned ]] && die "the hook ran"
        chown root "$T/conf.d/50-evil.conf"
        chmod 0666 "$T/conf.d/50-evil.conf"
        expect 3 C check
        grep -qF "writable by others (mode 0666)" "$T/err" || die "no mode error: $(cat "$T/err")"
        rm "$T/conf.d/50-evil.conf"
        ok "as root: a conf.d file owned by nobody, or writable by others, is refused (exit 3)"
else
        echo "# not root: the ownership rule applies to root only"
fi
