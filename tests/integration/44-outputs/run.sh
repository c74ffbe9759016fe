#!/bin/bash
# Outputs: chain, leaf, combined, pkcs12 installed with key and certificate as one
# generation.
#  - HAProxy, started and reloaded by the set's `exec` hook (haproxy -D -sf OLDPID: a seamless reload of a
#    daemon started by the test, not a systemd unit), serves the `combined` file on a loopback port; after
#    `certherd renew --force` the `verify = tls://…` step and openssl see the new serial.
#  - openssl reads leaf, chain, combined and PKCS#12 (`openssl pkcs12 -info -passin file:… -nodes`, OpenSSL 3
#    without the legacy provider: AES-256-CBC, PBKDF2 with HMAC-SHA256, SHA-256 MAC); Java's keytool lists
#    the PKCS#12 file as one PrivateKeyEntry named after the set.
#  - modes and owners: combined and pkcs12 get the key's; `check` names an output of another generation.
#  - SIGKILL at every crash point of the install, then `certherd recover`: every file (certificate, leaf,
#    combined, pkcs12, key) of one generation, the same serial and key everywhere.
source "$(dirname "$0")/../lib.sh"
need openssl

mkdir -p "$T/etc/ca" "$T/tls" "$T/haproxy"
printf 'correct horse battery staple\n' >"$T/p12pass"
chmod 600 "$T/p12pass"
PORT=$(free_port)
cat >"$T/certherd.conf" <<CONF
$(conf_agent)

$(conf_ca internal "$T/etc/ca/internal")

$(conf_leaf web internal "$T/etc/ca/internal")
names = localhost 127.0.0.1
mode = 0640
chain = $T/tls/chain.pem
leaf = $T/tls/cert.pem
combined = $T/tls/combined.pem
pkcs12 = $T/tls/web.p12
pkcs12-password-file = $T/p12pass
exec = $T/haproxy-reload.sh
verify = tls://127.0.0.1:$PORT

$(conf_leaf crashy internal "$T/etc/ca/internal")
names = crashy.internal
key-policy = rotate
chain = $T/svc/crashy-chain.pem
leaf = $T/svc/crashy-leaf.pem
combined = $T/svc/crashy-combined.pem
pkcs12 = $T/svc/crashy.p12
pkcs12-password-file = $T/p12pass
CONF
C() { "$CERTHERD" -c "$T/certherd.conf" "$@"; }

p12() { openssl pkcs12 -in "$1" -passin "file:$T/p12pass" "${@:2}" 2>/dev/null; }
p12_serial() { p12 "$1" -nokeys -clcerts | serial; }
key_spki() { openssl pkey -in "$1" -pubout 2>/dev/null | sha256sum; }
p12_key_spki() { p12 "$1" -nocerts -nodes | openssl pkey -pubout | sha256sum; }
cert_spki() { openssl x509 -in "$1" -noout -pubkey | sha256sum; }
mode_of() { stat -c %a "$1"; }

# --- bad input: clear errors naming the key, nothing written
bad() { # sed expression, expected message
        sed "$1" "$T/certherd.conf" >"$T/bad.conf"
        expect 3 "$CERTHERD" -c "$T/bad.conf" check
        grep -q -- "$2" "$T/err" || { cat "$T/err" >&2; die "expected '$2'"; }
}
bad '/^pkcs12-password-file = .*p12pass$/d' "'pkcs12' needs 'pkcs12-password-file'"
bad "s#^leaf = $T/tls/cert.pem#leaf = $T/tls/web.crt#" "'certificate' and 'leaf' name the same file"
bad "s#^chain = $T/tls/chain.pem#chain = relative/chain.pem#" "'chain' must be an absolute path"
[[ -z $(ls -A "$T/tls") ]] || die "bad input wrote files"
ok "bad output keys: one-line errors, nothing written"

# --- the exec hook starts HAProxy on the combined file, or reloads it (-sf: the old process hands over)
if command -v haproxy >/dev/null; then
        have_haproxy=1
        cat >"$T/haproxy/haproxy.cfg" <<CFG
global
    pidfile $T/haproxy/haproxy.pid
defaults
    mode http
    timeout connect 5s
    timeout client 5s
    timeout server 5s
frontend tls
    bind 127.0.0.1:$PORT ssl crt $T/tls/combined.pem
    http-request return status 200 content-type text/plain string ok
CFG
        cat >"$T/haproxy-reload.sh" <<HOOK
#!/bin/sh
set -e
echo "\$CERTHERD_NAME \$CERTHERD_PIN" >>"$T/hook.log"
pid=\$(cat "$T/haproxy/haproxy.pid" 2>/dev/null || true)
if [ -n "\$pid" ] && kill -0 "\$pid" 2>/dev/null; then
        exec haproxy -q -D -f "$T/haproxy/haproxy.cfg" -sf "\$pid"
fi
exec haproxy -q -D -f "$T/haproxy/haproxy.cfg"
HOOK
else
        have_haproxy=0
        echo "note: haproxy is not installed (apt-get install -y haproxy): the HAProxy part is skipped"
        sed -i '/^exec = /d; /^verify = /d' "$T/certherd.conf"
fi
chmod +x "$T/haproxy-reload.sh" 2>/dev/null || true
haproxy_stop() {
        local pid
        pid=$(cat "$T/haproxy/haproxy.pid" 2>/dev/null) || return 0
        kill "$pid" 2>/dev/null || true
}
trap 'haproxy_stop; cleanup' EXIT

expect 0 C ca init internal
expect 0 C renew --force web
for f in web.crt web.key chain.pem cert.pem combined.pem web.p12; do [[ -f $T/tls/$f ]] || die "$f not written"; done
ok "renew writes certificate, key, chain, leaf, combined and pkcs12"

# --- contents, checked with openssl
s1=$(serial "$T/tls/web.crt")
[[ $(serial "$T/tls/cert.pem") == "$s1" ]] || die "leaf is not the certificate's leaf"
[[ $(grep -c 'BEGIN CERTIFICATE' "$T/tls/cert.pem") == 1 ]] || die "leaf holds more than the leaf"
openssl verify -CAfile "$T/etc/ca/internal.crt" "$T/tls/cert.pem" >/dev/null || die "leaf does not verify"
# The internal CA sends no intermediates: the chain file exists and is empty (certherd.conf(5)).
[[ -f $T/tls/chain.pem && ! -s $T/tls/chain.pem ]] || die "chain of an internal CA leaf is not empty: $(cat "$T/tls/chain.pem")"
ok "leaf: the certificate's leaf alone; chain: empty for an issuer without intermediates"

head -1 "$T/tls/combined.pem" | grep -q -- '-----BEGIN .*PRIVATE KEY-----' || die "combined does not start with the key"
[[ $(key_spki "$T/tls/combined.pem") == $(cert_spki "$T/tls/web.crt") ]] || die "combined's key is not the certificate's"
[[ $(key_spki "$T/tls/combined.pem") == $(key_spki "$T/tls/web.key") ]] || die "combined's key is not the key file's"
[[ $(serial "$T/tls/combined.pem") == "$s1" ]] || die "combined's certificate is not the leaf"
ok "combined: key first, then the leaf; the key of the key file"

p12 "$T/tls/web.p12" -info -nodes >"$T/p12.info" 2>&1 ||
        { openssl pkcs12 -in "$T/tls/web.p12" -passin "file:$T/p12pass" -info -nodes >&2 || true; die "openssl pkcs12 cannot read it"; }
openssl pkcs12 -in "$T/tls/web.p12" -passin "file:$T/p12pass" -info -nodes -noout >"$T/p12.info" 2>&1
grep -q 'MAC: sha256' "$T/p12.info" || die "PKCS#12 MAC is not SHA-256: $(cat "$T/p12.info")"
grep -q 'Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC.*hmacWithSHA256' "$T/p12.info" || die "key bag: $(cat "$T/p12.info")"
grep -q 'Encrypted data: PBES2, PBKDF2, AES-256-CBC.*hmacWithSHA256' "$T/p12.info" || die "cert bag: $(cat "$T/p12.info")"
[[ $(p12_serial "$T/tls/web.p12") == "$s1" ]] || die "PKCS#12 holds another certificate"
[[ $(p12_key_spki "$T/tls/web.p12") == $(cert_spki "$T/tls/web.crt") ]] || die "PKCS#12 holds another key"
echo wrong >"$T/wrongpass"
! openssl pkcs12 -in "$T/tls/web.p12" -passin "file:$T/wrongpass" -noout 2>/dev/null || die "a wrong password opens it"
ok "pkcs12: OpenSSL 3 reads it (AES-256-CBC, PBKDF2-HMAC-SHA256, SHA-256 MAC), the key and leaf match"

if command -v keytool >/dev/null; then
        keytool -list -v -storetype PKCS12 -keystore "$T/tls/web.p12" -storepass:file "$T/p12pass" >"$T/keytool" 2>&1 ||
                { cat "$T/keytool" >&2; die "keytool cannot read the PKCS#12 file"; }
        grep -q '^Alias name: web$' "$T/keytool" && grep -q '^Entry type: PrivateKeyEntry$' "$T/keytool" ||
                { cat "$T/keytool" >&2; die "keytool: no PrivateKeyEntry 'web'"; }
        grep -qi "^Serial number: $(sed 's/^0*//' <<<"$s1")$" "$T/keytool" ||
                { cat "$T/keytool" >&2; die "keytool shows another serial than $s1"; }
        ok "Java keytool lists one PrivateKeyEntry 'web' with the leaf"
else
        echo "note: keytool is not installed (apt-get install -y openjdk-17-jre-headless): not checked with Java"
fi

# Modes: what holds the key gets the key's mode (0640 here), the certificates 0644.
[[ $(mode_of "$T/tls/web.key") == 640 && $(mode_of "$T/tls/combined.pem") == 640 && $(mode_of "$T/tls/web.p12") == 640 ]] ||
        die "modes: key $(mode_of "$T/tls/web.key") combined $(mode_of "$T/tls/combined.pem") p12 $(mode_of "$T/tls/web.p12")"
[[ $(mode_of "$T/tls/cert.pem") == 644 && $(mode_of "$T/tls/chain.pem") == 644 ]] || die "leaf/chain modes"
ok "combined and pkcs12 have the key's mode, leaf and chain 0644"

expect 0 C check web
ok "check: every output of one generation"

# --- HAProxy serves combined; a renewal reloads it and verify sees the new serial
served_serial() {
        openssl s_client -connect "127.0.0.1:$PORT" -servername localhost </dev/null 2>/dev/null | serial
}
if ((have_haproxy)); then
        wait_port "$PORT"
        [[ $(served_serial) == "$s1" ]] || die "HAProxy serves $(served_serial), not $s1"
        ok "HAProxy (started by the exec hook) serves the combined file: serial $s1"
        expect 0 C renew --force web
        s2=$(serial "$T/tls/web.crt")
        [[ $s2 != "$s1" ]] || die "renew --force did not issue a new certificate"
        grep -q "deploy failed" "$T/err" && die "deploy failed: $(cat "$T/err")"
        [[ $(served_serial) == "$s2" ]] || die "after the reload HAProxy serves $(served_serial), not $s2"
        [[ $(wc -l <"$T/hook.log") == 2 ]] || die "the hook ran $(wc -l <"$T/hook.log") times"
        expect 0 C --json check web
        grep -q deploy-failed "$T/out" && die "deploy recorded as failed: $(cat "$T/out")"
        ok "renew --force: HAProxy reloaded by the exec hook (-sf), verify tls://127.0.0.1:$PORT sees serial $s2"
else
        expect 0 C renew --force web
fi

# --- check names an output of another generation, and the next pass rewrites every output
cp -p "$T/tls/cert.pem" "$T/leaf.old"
cp -p "$T/tls/web.p12" "$T/p12.old"
expect 0 C renew --force web
cp -p "$T/leaf.old" "$T/tls/cert.pem"
cp -p "$T/p12.old" "$T/tls/web.p12"
expect 2 C check web
grep -q "key-mismatch: leaf $T/tls/cert.pem" "$T/out" || die "check does not name the stale leaf: $(cat "$T/out")"
grep -q "key-mismatch: pkcs12 $T/tls/web.p12" "$T/out" || die "check does not name the stale PKCS#12: $(cat "$T/out")"
rm "$T/tls/chain.pem"
expect 2 C check web
grep -q "unreadable: chain $T/tls/chain.pem" "$T/out" || die "check does not name the missing chain: $(cat "$T/out")"
cp "$T/p12pass" "$T/p12pass.good"
echo "not the password" >"$T/p12pass"
expect 2 C check web
grep -q "malformed: pkcs12 $T/tls/web.p12: the password" "$T/out" || die "wrong PKCS#12 password not reported: $(cat "$T/out")"
cp "$T/p12pass.good" "$T/p12pass"
expect 0 C renew web
expect 0 C check web
[[ $(serial "$T/tls/cert.pem") == $(serial "$T/tls/web.crt") ]] || die "the next pass did not rewrite the leaf"
ok "check: a stale leaf or PKCS#12 is key-mismatch, a missing chain unreadable, a wrong password malformed; the next pass rewrites them"

# --- an encrypted key kept as it is: combined holds it as the key file does, check opens it with the password
printf 'key password\n' >"$T/keypass"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -aes256 -pass "file:$T/keypass" \
        -out "$T/tls/enc.key" 2>/dev/null
chmod 600 "$T/tls/enc.key"
cat >>"$T/certherd.conf" <<CONF

[certificate "enc"]
certificate = $T/tls/enc.crt
key = $T/tls/enc.key
key-password-file = $T/keypass
ca = $T/etc/ca/internal.crt
names = enc.internal
issuer = ca:internal
combined = $T/tls/enc-combined.pem
pkcs12 = $T/tls/enc.p12
pkcs12-password-file = $T/p12pass
CONF
expect 0 C renew --force enc
head -1 "$T/tls/enc-combined.pem" | grep -q -- '-----BEGIN ENCRYPTED PRIVATE KEY-----' ||
        die "combined does not hold the key as the (encrypted) key file does"
[[ $(openssl pkey -in "$T/tls/enc-combined.pem" -passin "file:$T/keypass" -pubout | sha256sum) == $(cert_spki "$T/tls/enc.crt") ]] ||
        die "combined's encrypted key is not the certificate's"
[[ $(p12_key_spki "$T/tls/enc.p12") == $(cert_spki "$T/tls/enc.crt") ]] || die "PKCS#12 of an encrypted key"
expect 0 C check enc
ok "an encrypted key: combined holds it encrypted (openssl opens it with the password), pkcs12 holds the key, check passes"

# --- SIGKILL at every crash point of the install, then `certherd recover`: one generation everywhere
one_generation() { # k
        local s k=$1 want spki
        s=$(serial "$T/tls/crashy.crt")
        spki=$(cert_spki "$T/tls/crashy.crt")
        [[ $(serial "$T/svc/crashy-leaf.pem") == "$s" ]] || die "k=$k: leaf of another generation"
        [[ $(serial "$T/svc/crashy-combined.pem") == "$s" ]] || die "k=$k: combined of another generation"
        [[ $(p12_serial "$T/svc/crashy.p12") == "$s" ]] || die "k=$k: pkcs12 of another generation"
        [[ $(key_spki "$T/tls/crashy.key") == "$spki" ]] || die "k=$k: key of another generation"
        [[ $(key_spki "$T/svc/crashy-combined.pem") == "$spki" ]] || die "k=$k: combined's key of another generation"
        [[ $(p12_key_spki "$T/svc/crashy.p12") == "$spki" ]] || die "k=$k: pkcs12's key of another generation"
        [[ -f $T/svc/crashy-chain.pem && ! -s $T/svc/crashy-chain.pem ]] || die "k=$k: chain"
        echo "$s"
}
expect 0 C renew --force crashy
prev=$(one_generation 0)
points=0 changed=0
for k in $(seq 1 100); do
        rc=0
        (CERTHERD_TEST_KILL_POINT=$k "$CERTHERD" -c "$T/certherd.conf" renew --force crashy >/dev/null 2>&1) 2>/dev/null ||
                rc=$?
        [[ $rc == 0 ]] && break
        [[ $rc == 137 ]] || die "k=$k: renew was not killed at the crash point (exit $rc)"
        points=$k
        expect 0 C recover
        [[ -z $(ls -A "$T/state/install") ]] || die "k=$k: a record is left in $T/state/install"
        [[ -z $(ls -A "$T/svc" "$T/tls" | grep '^\.') ]] || die "k=$k: staging files left behind"
        now=$(one_generation "$k")
        [[ $now != "$prev" ]] && changed=$((changed + 1))
        prev=$now
        expect 0 C check crashy
done
((points >= 24)) || die "only $points crash points exercised"
((changed > 0)) || die "no crash point left the new generation"
ok "SIGKILL at each of the $points crash points, then recover: certificate, key, leaf, chain, combined, pkcs12 of one generation ($changed times the new one)"

echo "$n_ok passed"
