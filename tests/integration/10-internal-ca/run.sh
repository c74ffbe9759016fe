#!/bin/bash
# Internal CA end to end: `ca init`, `renew` issuing server and client certificates, served by a real
# gnutls-serv and accepted by curl (CA, pins, client certificates), key policies, bad input, crash safety.
source "$(dirname "$0")/../lib.sh"
need openssl; need curl; need gnutls-serv gnutls-bin; need python3

mkdir -p "$T/etc/ca" "$T/tls"
cat >"$T/certherd.conf" <<CONF
$(conf_agent)

$(conf_ca internal "$T/etc/ca/internal" "validity = 30d" "export = $T/export/internal-ca.pem")

$(conf_leaf server internal "$T/etc/ca/internal")
names = localhost 127.0.0.1
usage = server
exec = $T/hook.sh

$(conf_leaf client internal "$T/etc/ca/internal")
names = gateway.internal
usage = client

$(conf_leaf rotating internal "$T/etc/ca/internal")
names = rot.internal
key-policy = rotate
key-type = ec-p384

[certificate "selfie"]
certificate = $T/tls/self.crt
key = $T/tls/self.key
ca = $T/tls/self.crt
names = self.internal 127.0.0.1
issuer = self
CONF
cat >"$T/hook.sh" <<'HOOK'
#!/bin/sh
echo "$CERTHERD_NAME $CERTHERD_CERTIFICATE $CERTHERD_KEY $CERTHERD_PIN" >>"$(dirname "$0")/hook.log"
HOOK
chmod +x "$T/hook.sh"
C() { "$CERTHERD" -c "$T/certherd.conf" "$@"; }

# --- ca init
expect 0 C ca init internal
[[ $(stat -c %a "$T/etc/ca/internal.key") == 600 ]] || die "CA key mode"
cmp -s "$T/etc/ca/internal.crt" "$T/export/internal-ca.pem" || die "export differs"
openssl x509 -in "$T/etc/ca/internal.crt" -noout -ext basicConstraints,keyUsage >"$T/ca.txt"
grep -q "critical" "$T/ca.txt" && grep -q "CA:TRUE" "$T/ca.txt" && grep -q "Certificate Sign, CRL Sign" "$T/ca.txt" ||
        die "CA extensions: $(cat "$T/ca.txt")"
sum_ca=$(sha256sum "$T/etc/ca/internal.key" "$T/etc/ca/internal.crt")
expect 1 C ca init internal
grep -q "refusing to overwrite" "$T/err" || die "no refusal message"
[[ $(sha256sum "$T/etc/ca/internal.key" "$T/etc/ca/internal.crt") == "$sum_ca" ]] || die "CA overwritten"
expect 3 C ca init nosuch
ok "ca init creates, exports, refuses to overwrite"

# --- first renew issues everything (nothing installed yet)
expect 0 C renew
grep -q "4 renewed, 0 not due, 0 failed" "$T/out" || die "renew summary: $(cat "$T/out")"
for n in server client rotating self; do
        [[ $(stat -c %a "$T/tls/$n.key") == 600 && $(stat -c %a "$T/tls/$n.crt") == 644 ]] || die "$n modes"
done
expect 0 C check
openssl verify -CAfile "$T/export/internal-ca.pem" "$T/tls/server.crt" "$T/tls/client.crt" "$T/tls/rotating.crt" >/dev/null ||
        die "openssl verify"
openssl verify -CAfile "$T/tls/self.crt" "$T/tls/self.crt" >/dev/null || die "self-signed verify"
openssl x509 -in "$T/tls/server.crt" -noout -text >"$T/server.txt"
grep -q "DNS:localhost, IP Address:127.0.0.1" "$T/server.txt" || die "server SANs"
grep -q "TLS Web Server Authentication" "$T/server.txt" || die "server EKU"
grep -q "Subject: CN *= *localhost" "$T/server.txt" || die "server CN"
grep -q "ASN1 OID: prime256v1" "$T/server.txt" || die "server key type"
openssl x509 -in "$T/tls/client.crt" -noout -text | grep -q "TLS Web Client Authentication" || die "client EKU"
openssl x509 -in "$T/tls/rotating.crt" -noout -text | grep -q "ASN1 OID: secp384r1" || die "p384"
nb=$(date -d "$(openssl x509 -in "$T/tls/server.crt" -noout -startdate | cut -d= -f2)" +%s)
na=$(date -d "$(openssl x509 -in "$T/tls/server.crt" -noout -enddate | cut -d= -f2)" +%s)
(( na - $(date +%s) > 29 * 86400 && na - $(date +%s) <= 30 * 86400 )) || die "validity is not 30d"
(( nb <= $(date +%s) )) || die "not_before in the future"
grep -q "^server $T/tls/server.crt $T/tls/server.key $(cat "$T/pins/server.pin")\$" "$T/hook.log" || die "hook env"
[[ $(cat "$T/pins/server.pin") == "$(spki_pin "$T/tls/server.crt")" ]] || die "published pin != openssl pin"
python3 -c "import json,sys; d=json.load(open('$T/pins/server.json')); assert d['name']=='server' and d['pin_sha256']==open('$T/pins/server.pin').read().strip() and d['not_after'].endswith('Z')" ||
        die "pin json"
ok "renew issues server, client, rotating and self-signed certificates as configured"

# --- a real TLS server with the issued certificate; curl trusts the exported CA
port=$(free_port)
gnutls-serv --http --x509certfile "$T/tls/server.crt" --x509keyfile "$T/tls/server.key" -p "$port" >"$T/serv.log" 2>&1 &
pids+=($!)
wait_port "$port"
curl -fsS --cacert "$T/export/internal-ca.pem" "https://localhost:$port/" >/dev/null || die "curl localhost"
curl -fsS --cacert "$T/export/internal-ca.pem" "https://127.0.0.1:$port/" >/dev/null || die "curl 127.0.0.1"
pin=$(cat "$T/pins/server.pin")
curl -fsS --cacert "$T/export/internal-ca.pem" --pinnedpubkey "sha256//$pin" "https://localhost:$port/" >/dev/null ||
        die "curl with the published pin"
if curl -fsS --cacert "$T/export/internal-ca.pem" --pinnedpubkey "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" \
        "https://localhost:$port/" >/dev/null 2>&1; then die "curl accepted a wrong pin"; fi
ok "gnutls-serv serves it; curl accepts it for localhost and 127.0.0.1 and with the published pin"

# --- mTLS: a server that requires client certificates from the CA
port2=$(free_port)
gnutls-serv --http --require-client-cert --verify-client-cert --x509cafile "$T/export/internal-ca.pem" \
        --x509certfile "$T/tls/server.crt" --x509keyfile "$T/tls/server.key" -p "$port2" >"$T/serv2.log" 2>&1 &
pids+=($!)
wait_port "$port2"
curl -fsS --cacert "$T/export/internal-ca.pem" --cert "$T/tls/client.crt" --key "$T/tls/client.key" \
        "https://localhost:$port2/" >/dev/null || die "client certificate rejected"
if curl -fsS --cacert "$T/export/internal-ca.pem" "https://localhost:$port2/" >/dev/null 2>&1; then
        die "server accepted a client without certificate"
fi
ok "the client certificate is accepted by a server requiring one; no certificate is rejected"

# --- key policies: reuse keeps the pin, rotate changes it and the pin file follows
serial1=$(openssl x509 -in "$T/tls/server.crt" -noout -serial)
rot1=$(cat "$T/pins/rotating.pin")
expect 0 C renew
grep -q "0 renewed, 4 not due" "$T/out" || die "second renew renewed something: $(cat "$T/out")"
expect 0 C renew --force server rotating
[[ $(openssl x509 -in "$T/tls/server.crt" -noout -serial) != "$serial1" ]] || die "server not reissued"
[[ $(cat "$T/pins/server.pin") == "$pin" ]] || die "reuse changed the pin"
rot2=$(cat "$T/pins/rotating.pin")
[[ $rot2 != "$rot1" && $rot2 == "$(spki_pin "$T/tls/rotating.crt")" ]] || die "rotate did not change the pin"
curl -fsS --cacert "$T/export/internal-ca.pem" --pinnedpubkey "sha256//$pin" "https://localhost:$port2/" \
        --cert "$T/tls/client.crt" --key "$T/tls/client.key" >/dev/null || die "pin after reuse renewal"
[[ -f "$T/state/backup/server/cert" ]] && cmp -s "$T/state/backup/server/cert" <(openssl x509 -in "$T/tls/server.crt") &&
        die "backup is the new cert"
[[ -f "$T/state/backup/server/cert" ]] || die "no backup of the previous generation"
ok "reuse keeps the pin across a forced renewal; rotate changes it and the pin file follows"

# --- bad input: nothing on disk changes
snapshot() { find "$T/tls" "$T/pins" -type f -exec sha256sum {} + | sort; }
before=$(snapshot)
sed 's#^key = .*/internal.key#key =#' "$T/certherd.conf" >"$T/nokey.conf"
expect 3 "$CERTHERD" -c "$T/nokey.conf" renew --force
grep -q "nokey.conf:[0-9]*:" "$T/err" || die "no file:line for a CA without key: $(cat "$T/err")"
sed 's#^names = localhost 127.0.0.1#names = localhost bad_name!#' "$T/certherd.conf" >"$T/badname.conf"
expect 3 "$CERTHERD" -c "$T/badname.conf" renew --force
grep -q "bad_name!" "$T/err" || die "bad name not named: $(cat "$T/err")"
sed 's#^usage = server#usage = server\nowner = nosuchuser:nosuchgroup#' "$T/certherd.conf" >"$T/owner.conf"
# an unknown owner is refused when the inventory is loaded, with its line (exit 3), not at the renewal
expect 3 "$CERTHERD" -c "$T/owner.conf" renew --force server
grep -q "owner.conf:[0-9]*: owner = nosuchuser:nosuchgroup: no such user or group" "$T/err" || die "owner not named: $(cat "$T/err")"
touch "$T/notadir"
sed "s#^certificate = $T/tls/client.crt#certificate = $T/notadir/client.crt#" "$T/certherd.conf" >"$T/unwritable.conf"
expect 1 "$CERTHERD" -c "$T/unwritable.conf" renew --force client
[[ $(snapshot) == "$before" ]] || die "bad input changed files"
expect 3 C renew --force nosuch
ok "bad input (CA without key, bad name, unknown owner, unwritable target, unknown name): clear error, nothing changed"

# --- crash safety: SIGKILL at every crash point of the install, then the next run repairs
old_crt=$(cat "$T/tls/server.crt") old_key=$(cat "$T/tls/server.key")
for k in $(seq 1 40); do
        rc=0
        CERTHERD_TEST_KILL_POINT=$k "$CERTHERD" -c "$T/certherd.conf" renew --force rotating >/dev/null 2>&1 || rc=$?
        [[ $rc == 137 || $rc == 0 ]] || die "kill point $k: exit $rc"
        expect 0 C renew rotating  # the next run repairs an interrupted install
        expect 0 C check rotating
        "$CERTHERD" -c "$T/certherd.conf" --json check rotating | grep -q key-mismatch && die "mismatch after kill point $k"
        [[ $(cat "$T/pins/rotating.pin") == "$(spki_pin "$T/tls/rotating.crt")" ]] || die "stale pin file after kill point $k"
        [[ $rc == 0 ]] && break
done
(( k > 3 )) || die "too few crash points exercised ($k)"
ok "SIGKILL at each of $((k - 1)) install crash points: the next run leaves a matching pair"

# A short-lived certificate with the default thresholds: fresh from the CA, a 24-hour certificate is ok
# (warn-before and critical-before scale down to a third and a sixth of its lifetime), not critical.
cat >"$T/day.conf" <<CONF
$(conf_agent_in "$T/day")

$(conf_ca day "$T/day/ca" "validity = 1d")

$(conf_leaf daily day "$T/day/ca" "names = daily.test")
CONF
mkdir -p "$T/day"
expect 0 "$CERTHERD" -c "$T/day.conf" ca init day
expect 0 "$CERTHERD" -c "$T/day.conf" renew
expect 0 "$CERTHERD" -c "$T/day.conf" check daily
ok "a fresh 24-hour certificate is ok with the default thresholds (check exits 0 right after renew)"

# A certificate path that is a symbolic link (to a shared copy, say): the install replaces the link by a
# regular file, says so with the old target, and keeps what the link led to in the backup.
mv "$T/tls/daily.crt" "$T/tls/daily-shared.crt"
ln -s "$T/tls/daily-shared.crt" "$T/tls/daily.crt"
expect 0 "$CERTHERD" -c "$T/day.conf" renew --force daily
grep -q "$T/tls/daily.crt: replacing the symbolic link to $T/tls/daily-shared.crt with a regular file" "$T/err" ||
        die "the replaced symlink was not logged: $(cat "$T/err")"
[[ -f $T/tls/daily.crt && ! -L $T/tls/daily.crt ]] || die "the certificate path is still a link"
cmp -s "$T/day/state/backup/daily/cert" "$T/tls/daily-shared.crt" || die "the backup does not hold what the link led to"
ok "a certificate path that was a symlink: replaced by a file, logged with its old target, the old certificate in the backup"

# the untouched server pair survived all of it
[[ $(cat "$T/tls/server.crt") == "$old_crt" && $(cat "$T/tls/server.key") == "$old_key" ]] || die "server pair changed"
echo "$n_ok passed"
