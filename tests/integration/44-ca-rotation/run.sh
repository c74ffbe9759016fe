#!/bin/bash
# Rotating an internal CA without an outage, in stages. nginx requires client certificates
# (ssl_verify_client on) from the CA bundle certherd exports; a client that trusts the same bundle
# connects with its certherd-issued client certificate every 50 ms while `ca rotate` makes a new CA
# generation and exports both roots at once. During [ca] rotate-overlap nothing is re-issued: a client
# holding only the OLD root file still verifies the leaf nginx serves (curl and openssl s_client), status
# names the coming re-issue and its time, and `ca rotate --finish` is refused. After the overlap `renew`
# moves every leaf to the new CA; a second rotation is refused until `ca rotate --finish` drops the old
# generation from the bundle and from the CRL. 0 failed connections. Also: the daemon waits for the
# overlap, then re-issues once; [ca] subject; the CA's own expiry alerts.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
source "$here/../lib-nginx.sh"
need nginx nginx-light; need curl; need openssl

port=$(free_port)
BUNDLE=$T/export/ca-bundle.pem
cat >"$T/certherd.conf" <<CONF
$(conf_agent "warn-before = 2d" "critical-before = 1d")

[ca "internal"]
certificate = $T/ca/internal.crt
key = $T/ca/internal.key
validity = 10d
export = $BUNDLE
crl = $T/ca/internal.crl
rotate-overlap = 8s
subject = CN=Example Internal Root, O=Example Corp, C=DE

[certificate "web"]
certificate = $T/tls/web.crt
key = $T/tls/web.key
ca = $BUNDLE
names = localhost 127.0.0.1
issuer = ca:internal
exec = $T/reload-nginx

[certificate "client"]
certificate = $T/tls/client.crt
key = $T/tls/client.key
ca = $BUNDLE
names = uri:spiffe://internal.example/client email:client@internal.example
subject = CN=client, O=Example
issuer = ca:internal
usage = client
CONF
C() { "$CERTHERD" -c "$T/certherd.conf" "$@"; }
ski() { openssl x509 -in "$1" -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' '; }
aki() { openssl x509 -in "$1" -noout -ext authorityKeyIdentifier | tail -1 | tr -d ' ' | sed 's/^keyid://'; }

expect 0 C ca init internal
[[ $(openssl x509 -in "$T/ca/internal.crt" -noout -subject -nameopt RFC2253) == "subject=CN=Example Internal Root,O=Example Corp,C=DE" ]] ||
        die "[ca] subject not used: $(openssl x509 -in "$T/ca/internal.crt" -noout -subject)"
ok "[ca] subject sets the CA's subject"
ng_hook "$T/nginx" "$T/reload-nginx"
# The first issuance happens before nginx runs: without the hook.
grep -v '^exec = ' "$T/certherd.conf" >"$T/first.conf"
expect 0 "$CERTHERD" -c "$T/first.conf" renew
ng_setup "$T/nginx" "$port" "$T/tls/web.crt" "$T/tls/web.key"
sed -i "s|^\( *\)ssl_certificate_key .*|&\n\1ssl_client_certificate $BUNDLE;\n\1ssl_verify_client on;|" "$T/nginx/nginx.conf"
grep -q "ssl_verify_client on;" "$T/nginx/nginx.conf" || die "nginx.conf: $(cat "$T/nginx/nginx.conf")"
ng_start "$T/nginx" || die "nginx did not start"
pids+=("$NG_PID")
wait_port "$port"
URL=https://localhost:$port/
get() { curl -fsS -o /dev/null --max-time 5 --cacert "$BUNDLE" --cert "$T/tls/client.crt" --key "$T/tls/client.key" "$URL"; }
get || die "mTLS with the client certificate failed"
curl -fsS -o /dev/null --max-time 5 --cacert "$BUNDLE" "$URL" 2>/dev/null && die "nginx accepted a client without a certificate"
ok "nginx on 127.0.0.1:$port requires a client certificate from the exported CA; the certherd client gets in"

# --- the client loop: bounded (at most 120 s), counts successes and failures
cat >"$T/client.sh" <<CLIENT
#!/bin/bash
ok=0 fail=0 end=\$((SECONDS + 120))
while [[ ! -e $T/stop ]] && ((SECONDS < end)); do
        if curl -fsS -o /dev/null --max-time 5 --cacert "$BUNDLE" --cert "$T/tls/client.crt" --key "$T/tls/client.key" "$URL" 2>>"$T/client.err"; then
                ok=\$((ok + 1))
        else
                fail=\$((fail + 1)); echo "failure at \$(date +%T.%N)" >>"$T/client.err"
        fi
        echo "\$ok \$fail" >"$T/client.status.tmp" && mv "$T/client.status.tmp" "$T/client.status"
        sleep 0.05
done
CLIENT
chmod +x "$T/client.sh"
"$T/client.sh" &
client=$!
pids+=("$client")
wait_ok() { # at least N more successes than now
        local want i s f
        { read -r s f <"$T/client.status"; } 2>/dev/null || s=0
        want=$((s + $1))
        for i in $(seq 200); do
                { read -r s f <"$T/client.status"; } 2>/dev/null || s=0
                ((s >= want)) && return 0
                sleep 0.05
        done
        die "the client did not connect $1 more times: $(cat "$T/client.status" "$T/client.err" 2>/dev/null)"
}
wait_ok 5

# --- rotate: a new generation; the bundle holds both at once; nothing issued yet
old_ski=$(ski "$T/ca/internal.crt")
cp "$T/ca/internal.crt" "$T/old-root.pem" # what a client fetched before the rotation, and kept
[[ $(grep -c "BEGIN X509 CRL" "$T/ca/internal.crl") == 1 ]] || die "the CRL before the rotation"
expect 0 C ca rotate internal
new_ski=$(ski "$T/ca/internal.crt")
[[ $old_ski != "$new_ski" ]] || die "the CA key did not change"
[[ $(ski "$T/ca/internal.crt.prev") == "$old_ski" && -s $T/ca/internal.key.prev ]] || die "the previous generation was not kept"
[[ $(stat -c %a "$T/ca/internal.key.prev") == 600 ]] || die "KEY.prev mode"
[[ $(grep -c "BEGIN CERTIFICATE" "$BUNDLE") == 2 ]] || die "the bundle does not hold both generations"
openssl x509 -in "$BUNDLE" -noout -ext subjectKeyIdentifier | tail -1 | tr -d ' ' | grep -qx "$new_ski" ||
        die "the new root is not first in the bundle"
[[ $(grep -c "BEGIN X509 CRL" "$T/ca/internal.crl") == 2 ]] || die "the CRL file does not hold both generations' CRLs"
grep -q "its leaves move to the new generation at" "$T/err" || die "ca rotate does not say when leaves move: $(cat "$T/err")"
openssl verify -CAfile "$BUNDLE" "$T/tls/web.crt" "$T/tls/client.crt" >/dev/null || die "old leaves do not verify against the bundle"
expect 0 C check
[[ $(aki "$T/tls/web.crt") == "$old_ski" ]] || die "web changed before the re-issue"
ok "ca rotate: new key and certificate, the bundle holds both roots at once (and the CRL both CRLs); old leaves check ok"

# --- the overlap: nothing is re-issued; a client with only the OLD root still verifies the served leaf
expect 0 C renew
grep -q "0 renewed, 2 not due" "$T/out" || die "leaves re-issued inside the overlap: $(cat "$T/out")"
[[ $(aki "$T/tls/web.crt") == "$old_ski" && $(aki "$T/tls/client.crt") == "$old_ski" ]] || die "leaves moved inside the overlap"
curl -fsS -o /dev/null --max-time 5 --cacert "$T/old-root.pem" --cert "$T/tls/client.crt" --key "$T/tls/client.key" "$URL" ||
        die "a client trusting only the old root cannot reach nginx inside the overlap"
echo | openssl s_client -connect "127.0.0.1:$port" -servername localhost -CAfile "$T/old-root.pem" -verify_return_error \
        -cert "$T/tls/client.crt" -key "$T/tls/client.key" >"$T/s_client.out" 2>&1 ||
        die "openssl s_client with only the old root: $(tail -5 "$T/s_client.out")"
grep -q "Verify return code: 0 (ok)" "$T/s_client.out" || die "s_client did not verify: $(cat "$T/s_client.out")"
expect 0 C --no-daemon status
grep -Eq "^web: CA rotated: re-issue at [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z" "$T/out" || die "status does not name the coming re-issue: $(cat "$T/out")"
grep -Eq "^client: CA rotated: re-issue at " "$T/out" || die "status, client: $(cat "$T/out")"
at=$(grep -Eo "^web: CA rotated: re-issue at [^ ]+" "$T/out" | awk '{print $NF}')
expect 1 C ca rotate --finish internal
grep -q "web: the installed .* is a leaf of the previous generation" "$T/err" || die "--finish refusal: $(cat "$T/err")"
grep -q "not finishing the rotation: 2 certificates" "$T/err" || die "--finish refusal: $(cat "$T/err")"
[[ -s $T/ca/internal.crt.prev && $(grep -c "BEGIN CERTIFICATE" "$BUNDLE") == 2 ]] || die "a refused --finish changed the CA"
ok "inside rotate-overlap: not re-issued; curl and s_client holding only the old root verify nginx's leaf; status names the re-issue time; --finish refused"

# The servers that trust the bundle read it again (what [ca] reload or the operator does after a rotation).
"$T/reload-nginx"
wait_ok 5

# --- after the overlap the leaves are due (issued by the previous generation) and move to the new CA
while (($(date +%s) <= $(date -d "$at" +%s))); do sleep 0.2; done
expect 0 C renew
grep -q "web: renewing: issued by the previous generation of its CA" "$T/err" || die "web not due after the overlap: $(cat "$T/err")"
grep -q "client: renewing: issued by the previous generation of its CA" "$T/err" || die "client not due: $(cat "$T/err")"
grep -q "2 renewed" "$T/out" || die "renew: $(cat "$T/out")"
[[ $(aki "$T/tls/web.crt") == "$new_ski" && $(aki "$T/tls/client.crt") == "$new_ski" ]] || die "leaves not from the new CA"
openssl verify -CAfile "$T/ca/internal.crt" "$T/tls/web.crt" "$T/tls/client.crt" >/dev/null || die "new leaves do not verify against the new CA"
wait_ok 10
expect 0 C renew
grep -q "0 renewed, 2 not due" "$T/out" || die "re-issued leaves still due: $(cat "$T/out")"
expect 0 C --no-daemon status
grep -q "CA rotated" "$T/out" && die "status still names a re-issue: $(cat "$T/out")"
ok "after rotate-overlap: both leaves due (issued by the previous generation), re-issued from the new CA, then not due"

# --- a second rotation inside the overlap is refused; --finish ends it
expect 1 C ca rotate internal --reissue
grep -q "may have valid leaves until" "$T/err" || die "no refusal of a second rotation: $(cat "$T/err")"
grep -q "ca rotate --finish internal" "$T/err" || die "the refusal does not point at --finish: $(cat "$T/err")"
[[ $(ski "$T/ca/internal.crt") == "$new_ski" ]] || die "the refused rotation changed the CA"
expect 3 C ca rotate internal --reissue extra
expect 3 C renew --reissue
expect 3 C ca rotate internal --reissue --finish
expect 3 C renew --finish
expect 0 C ca rotate --finish internal
[[ ! -e $T/ca/internal.crt.prev && ! -e $T/ca/internal.key.prev ]] || die "--finish left the previous generation"
[[ $(grep -c "BEGIN CERTIFICATE" "$BUNDLE") == 1 ]] || die "--finish left the old root in the bundle"
[[ $(ski "$BUNDLE") == "$new_ski" ]] || die "the bundle does not hold the new root"
[[ $(grep -c "BEGIN X509 CRL" "$T/ca/internal.crl") == 1 ]] || die "--finish left the old generation's CRL"
openssl crl -in "$T/ca/internal.crl" -noout -text | grep -A1 "Authority Key Identifier" | tail -1 | tr -d ' ' | sed 's/^keyid://' | grep -qx "$new_ski" ||
        die "the CRL left is not the new generation's"
expect 1 C ca rotate --finish internal
grep -q "no rotation to finish" "$T/err" || die "a second --finish: $(cat "$T/err")"
"$T/reload-nginx"
wait_ok 5
touch "$T/stop"
wait "$client" 2>/dev/null || true
read -r s f <"$T/client.status"
echo "# client: $s connections succeeded, $f failed"
[[ $f == 0 ]] || { cat "$T/client.err" >&2; die "the mTLS client failed $f times across the rotation"; }
((s >= 20)) || die "only $s connections"
ok "ca rotate --finish: the old root leaves the bundle and its CRL the CRL file; mTLS client across it all: $s connections, 0 failures"

# --- the overlap ended: the CA rotates again, with --reissue re-issuing at once (no live client here: a
# server must have read the new bundle before clients present leaves of the new CA)
expect 0 C ca rotate internal --reissue
grep -q "2 renewed, 0 not due, 0 failed" "$T/out" || die "--reissue: $(cat "$T/out")"
[[ $(aki "$T/tls/web.crt") == "$(ski "$T/ca/internal.crt")" ]] || die "--reissue did not move web to the newest CA"
ok "ca rotate --reissue: rotated and re-issued every leaf of the CA at once, without waiting for the overlap"

# --- the daemon notices a rotation by itself, waits for the overlap, and re-issues once (not in a loop).
# The leaf trusts the bundle, so it stays valid: only "issued by the previous generation" makes it due.
mkdir -p "$T/d"
cat >"$T/daemon.conf" <<CONF
[agent]
state-directory = $T/d/state
warn-before = 2d
critical-before = 1d

[ca "d"]
certificate = $T/d/ca.crt
key = $T/d/ca.key
validity = 10d
export = $T/d/bundle.pem
rotate-overlap = 3s

[certificate "svc"]
certificate = $T/d/svc.crt
key = $T/d/svc.key
ca = $T/d/bundle.pem
names = svc.internal
issuer = ca:d
CONF
D() { "$CERTHERD" -c "$T/daemon.conf" "$@"; }
expect 0 D ca init d
expect 0 D renew
"$CERTHERD" -c "$T/daemon.conf" run 2>"$T/d/daemon.log" &
daemon=$!
pids+=("$daemon")
for i in $(seq 100); do grep -q "watching 1 certificates" "$T/d/daemon.log" && break; sleep 0.05; done
expect 0 D ca rotate d
sleep 1.5
[[ $(aki "$T/d/svc.crt") == "$(ski "$T/d/ca.crt.prev")" ]] || die "the daemon re-issued inside the overlap: $(cat "$T/d/daemon.log")"
for i in $(seq 200); do [[ $(aki "$T/d/svc.crt") == "$(ski "$T/d/ca.crt")" ]] && break; sleep 0.05; done
[[ $(aki "$T/d/svc.crt") == "$(ski "$T/d/ca.crt")" ]] || die "the daemon did not re-issue after the rotation: $(cat "$T/d/daemon.log")"
sleep 2
kill "$daemon"
wait "$daemon" 2>/dev/null || true
[[ $(grep -c "svc: renewed" "$T/d/daemon.log") == 1 ]] || die "the daemon re-issued $(grep -c "svc: renewed" "$T/d/daemon.log") times"
ok "certherd run: a rotation of the issuing CA is noticed (inotify); the leaf is re-issued after the overlap, exactly once"

# --- the CA's own expiry is watched like a certificate's
cat >"$T/short.conf" <<CONF
[agent]
state-directory = $T/state-short
warn-before = 20d
critical-before = 5d

$(conf_ca short "$T/short/ca" "ca-validity = 10d" "validity = 1d")
CONF
expect 0 "$CERTHERD" -c "$T/short.conf" ca init short
expect 1 "$CERTHERD" -c "$T/short.conf" check
grep -q "ca:short: expiry-warning" "$T/out" || die "check does not warn about the CA: $(cat "$T/out")"
expect 0 "$CERTHERD" -c "$T/short.conf" renew
grep -q "ca:short: .*expires in" "$T/err" || die "no journal alert for the CA's expiry: $(cat "$T/err")"
expect 0 "$CERTHERD" -c "$T/short.conf" renew
grep -q "ca:short: .*expires in" "$T/err" && die "the CA alert was repeated at once"
ok "a CA inside warn-before: check warns (exit 1), the pass alerts once (expiry-warning event), not again at once"
echo "$n_ok passed, 0 failed"
