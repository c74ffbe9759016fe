#!/bin/bash
# Revocation at the internal CA against a real mTLS peer: nginx on loopback with
# ssl_verify_client on, ssl_client_certificate = the CA certherd exports and ssl_crl = the CRL certherd
# signs. Two client certificates are accepted; `certherd ca revoke` of one re-signs the CRL and runs the
# CA's `exec` hook — nginx runs outside systemd here, so the hook is a script sending SIGHUP to this
# test's nginx (what `reload = nginx.service` does under systemd) — after which that client is refused
# and the other still accepted; `openssl verify -crl_check` agrees. Then key compromise: after
# `ca revoke NAME --reason key-compromise` the next plain `renew` makes a new key although
# key-policy = reuse, and the old key put back by hand is reported by `check` and never certified again.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
source "$here/../lib-nginx.sh"
need openssl; need curl; need python3; need nginx nginx-light

ng_hook "$T/ng" "$T/hup-nginx" # [ca] exec hook: nginx re-reads its CRL on a graceful reload
port=$(free_port)

cat >"$T/certherd.conf" <<CONF
$(conf_agent)

$(conf_ca mtls "$T/ca/ca" "export = $T/export/ca.pem" "crl = $T/export/ca.crl" "exec = $T/hup-nginx")

$(conf_leaf server mtls "$T/ca/ca")
names = localhost 127.0.0.1

$(conf_leaf alice mtls "$T/ca/ca")
names = alice.client.test
usage = client

$(conf_leaf bob mtls "$T/ca/ca")
names = bob.client.test
usage = client
key-policy = reuse
CONF
ch() { "$CERTHERD" -c "$T/certherd.conf" "$@"; }

expect 0 ch ca init mtls
[[ -s $T/export/ca.crl ]] || die "ca init made no CRL"
openssl crl -in "$T/export/ca.crl" -noout -CAfile "$T/export/ca.pem" 2>&1 | grep -q "verify OK" ||
        die "the first CRL does not verify against the CA"
expect 0 ch renew
ok "ca init made the CA and its first CRL; renew issued server, alice, bob"

expect 0 ch ca list mtls --json
python3 - "$T/out" <<'PY' || die "ca list --json: $(cat "$T/out")"
import json, sys
d = json.load(open(sys.argv[1]))
names = sorted(c["name"] for c in d["certificates"])
assert names == ["alice", "bob", "server"], names
assert all(c["status"] == "valid" and c["serial"] and c["pin_sha256"] and c["not_after"] for c in d["certificates"])
PY
ok "ca list --json: the three certificates issued, valid"

ng_setup "$T/ng" "$port" "$T/tls/server.crt" "$T/tls/server.key"
sed -i "s#^\( *\)ssl_certificate_key .*#&\n\1ssl_client_certificate $T/export/ca.pem;\n\1ssl_crl $T/export/ca.crl;\n\1ssl_verify_client on;#" \
        "$T/ng/nginx.conf"
grep -q ssl_crl "$T/ng/nginx.conf" || die "could not configure nginx"
ng_start "$T/ng" || die "nginx does not start"
pids+=($NG_PID)
trap 'ng_stop "$T/ng"; cleanup' EXIT
wait_port "$port"

code() { # client → HTTP status (000: no TLS session)
        curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$T/export/ca.pem" \
                --cert "$T/tls/$1.crt" --key "$T/tls/$1.key" "https://localhost:$port/" || true
}
# After a revocation: nginx reloads asynchronously (new workers read the CRL); a loaded machine may take
# seconds.
refused_within() { # client seconds
        local end=$((SECONDS + $2))
        while ((SECONDS < end)); do [[ $(code "$1") != 200 ]] && return 0; sleep 0.1; done
        return 1
}
[[ $(code alice) == 200 ]] || die "alice refused before any revocation: $(code alice); $(tail -3 "$T/ng/logs/error.log")"
[[ $(code bob) == 200 ]] || die "bob refused before any revocation"
[[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$T/export/ca.pem" "https://localhost:$port/" || true) != 200 ]] ||
        die "nginx accepts a client without a certificate: not an mTLS test"
ok "nginx (ssl_verify_client on, ssl_crl = certherd's CRL) accepts alice and bob"

cp "$T/tls/alice.crt" "$T/alice-revoked.crt"
alice_serial=$(serial "$T/tls/alice.crt")
expect 0 ch ca revoke alice --reason superseded
grep -q "revoked serial $alice_serial" "$T/out" || die "ca revoke: $(cat "$T/out" "$T/err")"
openssl crl -in "$T/export/ca.crl" -noout -text | grep -qi "Serial Number: *$alice_serial" ||
        die "alice's serial is not in the new CRL: $(openssl crl -in "$T/export/ca.crl" -noout -text)"
refused_within alice 30 || die "alice still accepted 30 s after ca revoke (nginx not reloaded by the exec hook?)"
[[ $(code bob) == 200 ]] || die "bob refused after alice's revocation"
ok "ca revoke alice: CRL re-signed, nginx reloaded by the [ca] exec hook (SIGHUP), alice refused, bob accepted"

if openssl verify -crl_check -CAfile "$T/export/ca.pem" -CRLfile "$T/export/ca.crl" "$T/alice-revoked.crt" >"$T/v" 2>&1; then
        die "openssl verify -crl_check accepts alice: $(cat "$T/v")"
fi
grep -q "certificate revoked" "$T/v" || die "openssl verify: $(cat "$T/v")"
openssl verify -crl_check -CAfile "$T/export/ca.pem" -CRLfile "$T/export/ca.crl" "$T/tls/bob.crt" >/dev/null ||
        die "openssl verify -crl_check refuses bob"
ok "openssl verify -crl_check agrees: alice revoked, bob OK"

# check names the revoked certificate (serial, reason, date) — revoked [critical]
expect 2 ch check alice
grep -q "revoked: serial $alice_serial revoked on .*, reason superseded" "$T/out" || die "check alice: $(cat "$T/out")"
expect 0 ch --json check bob
expect 0 ch ca list mtls
grep -q "^$alice_serial *revoked .*superseded" "$T/out" || die "ca list: $(cat "$T/out")"
ok "check reports alice revoked (serial, reason, date); ca list shows it revoked"

# [certificate] crl = PATH on a watched set (issuer = none): the same CRL, named explicitly. Its entries
# carry no reason (GnuTLS writes none) and this inventory has no CA whose index knows it: taken as key
# compromise, the safe reading.
cat >"$T/watch.conf" <<CONF
[agent]
state-directory = $T/state-watch
pin-directory = $T/pins-watch

[certificate "old-alice"]
certificate = $T/alice-revoked.crt
ca = $T/export/ca.pem
crl = $T/export/ca.crl

[certificate "bob-no-crl"]
certificate = $T/tls/bob.crt
ca = $T/export/ca.pem
crl = $T/export/missing.crl
CONF
expect 2 "$CERTHERD" -c "$T/watch.conf" check
grep -q "^critical old-alice: revoked: serial $alice_serial revoked on .*, reason none given (taken as key compromise) (CRL $T/export/ca.crl)" "$T/out" ||
        die "explicit crl: $(cat "$T/out")"
grep -q "^critical bob-no-crl: crl-expired: CRL $T/export/missing.crl unusable" "$T/out" || die "missing crl: $(cat "$T/out")"
grep -q "bob-no-crl: revoked" "$T/out" && die "bob reported revoked: $(cat "$T/out")"
ok "[certificate] crl = PATH: a watched copy of alice is revoked; a CRL that cannot be read is crl-expired"

# Revoking again, and by an unknown serial, fail cleanly; a bad reason is a usage error.
expect 1 ch ca revoke --ca mtls --serial "$alice_serial"
expect 1 ch ca revoke --ca mtls --serial 0badc0ffee
expect 3 ch ca revoke bob --reason nonsense
expect 3 ch ca revoke --ca mtls
ok "revoking twice or an unknown serial fails (1); bad reason or arguments are usage errors (3)"

# --- key compromise: bob's key (key-policy = reuse)
pin_old=$(spki_pin "$T/tls/bob.crt")
cp "$T/tls/bob.key" "$T/bob-old.key"; cp "$T/tls/bob.crt" "$T/bob-old.crt"
bob_serial=$(serial "$T/tls/bob.crt")
expect 0 ch ca revoke --ca mtls --serial "${bob_serial^^}" --reason keyCompromise
grep -q "$pin_old" "$T/state/compromised-keys.json" || die "bob's key is not in the compromised-keys list"
refused_within bob 30 || die "bob still accepted 30 s after revocation by serial"
expect 0 ch renew
pin_new=$(spki_pin "$T/tls/bob.crt")
[[ $pin_new != "$pin_old" ]] || die "renew after key-compromise kept the key although it is compromised"
grep -q "bob: the key .* was revoked with key-compromise; making a new key" "$T/err" || die "renew: $(cat "$T/err")"
[[ $(code bob) == 200 ]] || die "bob's new certificate is refused"
ok "key-compromise: the next renew made bob a new key (pin changed) although key-policy = reuse; nginx accepts it"

# The compromised key put back by hand: reported, and never certified again (renew, renew --force).
cp "$T/bob-old.key" "$T/tls/bob.key"; cp "$T/bob-old.crt" "$T/tls/bob.crt"
expect 2 ch check bob
grep -q "revoked: the key is compromised" "$T/out" || die "check does not report the compromised key: $(cat "$T/out")"
expect 0 ch renew bob
[[ $(spki_pin "$T/tls/bob.crt") != "$pin_old" ]] || die "renew certified the compromised key again"
cp "$T/bob-old.key" "$T/tls/bob.key"
expect 0 ch renew --force bob
[[ $(spki_pin "$T/tls/bob.crt") != "$pin_old" ]] || die "renew --force certified the compromised key again"
expect 0 ch ca list mtls --json
python3 - "$T/out" "$pin_old" <<'PY' || die "the compromised key was certified again: $(cat "$T/out")"
import json, sys
d = json.load(open(sys.argv[1]))
assert sum(1 for c in d["certificates"] if c["pin_sha256"] == sys.argv[2]) == 1
PY
ok "the old key put back by hand: check reports it, renew and renew --force never certify it again"

# --- CA rotation with a CRL: while the previous generation may have valid leaves its key signs a CRL
# too, in the same file; nginx (reloaded by the exec hook after the new CRL) accepts leaves of both
# generations and refuses a revoked one of either.
expect 0 ch ca rotate mtls
[[ $(grep -c "BEGIN X509 CRL" "$T/export/ca.crl") == 2 ]] || die "after ca rotate the CRL file holds $(grep -c "BEGIN X509 CRL" "$T/export/ca.crl") CRLs"
cp "$T/tls/alice.crt" "$T/alice-old-gen.crt"
sleep 1
[[ $(code alice) == 200 ]] || die "alice (previous generation) refused after ca rotate"
expect 0 ch renew --force bob
bob_new=$(serial "$T/tls/bob.crt")
end=$((SECONDS + 30))
while ((SECONDS < end)); do [[ $(code bob) == 200 ]] && break; sleep 0.2; done
[[ $(code bob) == 200 ]] || die "bob (new generation) refused"
openssl verify -crl_check -CAfile "$T/export/ca.pem" -CRLfile "$T/export/ca.crl" "$T/tls/bob.crt" >/dev/null ||
        die "openssl verify -crl_check refuses bob's new-generation certificate"
expect 0 ch ca revoke alice --reason cessation-of-operation
refused_within alice 30 || die "alice (previous generation) still accepted after ca revoke"
[[ $(code bob) == 200 ]] || die "bob refused after alice's revocation"
openssl verify -crl_check -CAfile "$T/export/ca.pem" -CRLfile "$T/export/ca.crl" "$T/alice-old-gen.crt" >"$T/v" 2>&1 &&
        die "openssl verify accepts the revoked previous-generation leaf"
grep -q "certificate revoked" "$T/v" || die "openssl verify: $(cat "$T/v")"
expect 0 ch ca revoke --ca mtls --serial "$bob_new"
refused_within bob 30 || die "bob (new generation) still accepted after ca revoke"
ok "ca rotate: CRLs of both generations in one file; leaves of either accepted, and refused once revoked"
