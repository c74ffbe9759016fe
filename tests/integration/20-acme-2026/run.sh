#!/bin/bash
# ACME as public CAs run it in 2026, against Debian's pebble (2.4) behind the python3 proxy of
# 20-acme (acme-proxy.py), since pebble 2.4 predates profiles and dns-persist-01:
#  - profiles: the proxy adds meta.profiles to the directory, logs the profile of every newOrder and
#    refuses one profile with urn:ietf:params:acme:error:unauthorized. Checked: `acme profiles`, the
#    profile sent (certificate's over [acme]'s), an unknown one refused before any order, unauthorized
#    reported as such, the issuing profile in `check --json` and `status`.
#  - dns-persist-01: the proxy offers the challenge (at the URL of pebble's own dns-01 challenge) and
#    performs the validation itself: it queries _validation-persist.NAME in Knot and forwards the answer
#    to pebble only when the record names its issuer domain and the account. pebble runs with
#    PEBBLE_VA_ALWAYS_VALID=1, so the proxy's check is the only validation here (for http-01 too, which
#    the profile part uses: what it tests is the order, not the validation).
#  - 6-day certificates (pebble's certificateValidityPeriod = 6 days, like Let's Encrypt's shortlived):
#    with no renew-before given they renew with half the lifetime left; timer mode (`certherd renew`)
#    and daemon mode (`certherd run`) run under libfaketime at now + 2 days (not due) and now + 3.4 days
#    (due: 3 days left, plus at most lifetime/20 = 7.2 h of jitter).
#  - the clientAuth guard: pebble 2.4's certificates always carry serverAuth and clientAuth (checked below)
#    and it has no setting to leave clientAuth out. A signed certificate cannot be changed, so for this
#    part the proxy is the issuer: with the flag file present it answers the certificate download with a
#    certificate for the same CSR issued by a small CA of its own, serverAuth only, as a CA that dropped
#    clientAuth does. The set trusts both pebble's root and that CA. Checked: the warning at load, the
#    old certificate kept, usage-missing, the message pointing to issuer = ca:NAME.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../20-acme/lib-pebble.sh"
need dig bind9-dnsutils
need nsupdate bind9-dnsutils
need faketime
top=$(cd "$(dirname "$0")/../../.." && pwd)

# pebble's API certificate lives 2 days (lib-pebble.sh); the faked clocks below run up to 4 days ahead.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=pebble test CA" \
        -keyout "$T/pebble/ca.key" -out "$T/pebble/ca.pem" 2>/dev/null
openssl x509 -req -in "$T/pebble/req.csr" -CA "$T/pebble/ca.pem" -CAkey "$T/pebble/ca.key" -CAcreateserial \
        -days 30 -extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n') \
        -out "$T/pebble/cert.pem" 2>/dev/null

knot_start
pebble_config 0
python3 - "$T/pebble/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["pebble"]["certificateValidityPeriod"] = 6 * 86400
json.dump(c, open(sys.argv[1], "w"))
PY
pebble_start PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_AUTHZREUSE=0
PROXY_PORT=$(free_port)
: >"$T/proxy.log"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=proxy CA without clientAuth" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
        -keyout "$T/proxyca.key" -out "$T/proxyca.pem" 2>/dev/null
python3 "$top/tests/integration/20-acme/acme-proxy.py" --port "$PROXY_PORT" --upstream "$PEBBLE_PORT" \
        --cert "$T/pebble/cert.pem" --key "$T/pebble/key.pem" --cafile "$T/pebble/ca.pem" --log "$T/proxy.log" \
        --profiles "classic=https://ca.test/classic,shortlived=about 6 days,tlsserver=no clientAuth" \
        --unauthorized-profile tlsserver --persist "ca.test" "$DNS_PORT" --caa-identities "ca.test" \
        --strip-client-auth "$T/strip" "$T/proxyca.pem" "$T/proxyca.key" &
pids+=($!)
wait_port "$PROXY_PORT"
# The resolver override exists only in test builds (meson's test-hooks: on for buildtype debug).
grep -qa CERTHERD_TEST_RESOLVER "$CERTHERD" ||
        skip "this build of certherd has no test hooks (configure with -Dbuildtype=debug or -Dtest-hooks=enabled)"
export CERTHERD_TEST_RESOLVER=127.0.0.1:$DNS_PORT

acme_conf "$T/c.conf" peb <<CONF
listen = 127.0.0.1:$HTTP_PORT
profile = classic
CONF
sed -i "s#^directory = .*#directory = https://localhost:$PROXY_PORT/dir#" "$T/c.conf"
# 6-day certificates sit inside the default 14d/7d alert windows; renew-before stays unset (implicit).
sed -i 's#^pin-directory = .*#&\nwarn-before = 30%\ncritical-before = 10%#' "$T/c.conf"
acme_cert "$T/c.conf" web peb "web.$ZONE"
printf 'profile = shortlived\n\n' >>"$T/c.conf"
acme_cert "$T/c.conf" plain peb "plain.$ZONE"
C() { "$CERTHERD" -c "$T/c.conf" "$@"; }

# ---------------------------------------------------------------- profiles
expect 0 C acme profiles peb
grep -q "^classic  *https://ca.test/classic (configured)$" "$T/out" || die "$(cat "$T/out")"
grep -q "^shortlived  *about 6 days$" "$T/out" || die "$(cat "$T/out")"
grep -q "^tlsserver  *no clientAuth$" "$T/out" || die "$(cat "$T/out")"
[[ ! -e $T/state/acme/peb/account.key ]] || die "acme profiles made an account key"
ok "acme profiles lists what the server offers, without registering"

expect 0 C renew
grep -q "^2 renewed" "$T/out" || die "$(cat "$T/out" "$T/err")"
grep -qx "profile=shortlived" "$T/proxy.log" || die "no newOrder with profile shortlived: $(cat "$T/proxy.log")"
grep -qx "profile=classic" "$T/proxy.log" || die "no newOrder with the [acme] profile: $(cat "$T/proxy.log")"
grep -qx "profile=-" "$T/proxy.log" && die "a newOrder without profile"
verify_chain web
expect 0 C check --json
python3 - "$T/out" <<'PY' || die "check --json: $(cat "$T/out")"
import json, sys
certs = {c["name"]: c for c in json.load(open(sys.argv[1]))["certificates"]}
assert certs["web"]["profile"] == "shortlived", certs["web"]
assert certs["plain"]["profile"] == "classic", certs["plain"]
PY
expect 0 C status
grep -q "^web .*ok (profile shortlived)" "$T/out" || die "status: $(cat "$T/out")"
ok "newOrder carries the profile (the certificate's over [acme]'s); check --json and status show it"

# An unknown profile: refused before ordering, naming what is offered.
sed -i "s/^profile = shortlived/profile = nosuch/" "$T/c.conf"
n=$(grep -c "^profile=" "$T/proxy.log")
expect 1 C renew --force web
grep -q "the server https://localhost:$PROXY_PORT/dir offers no profile 'nosuch'; it offers: classic, shortlived, tlsserver" "$T/err" || die "$(cat "$T/err")"
[[ $(grep -c "^profile=" "$T/proxy.log") == "$n" ]] || die "ordered an unknown profile"
ok "an unknown profile is refused before any order, naming the profiles offered"

# A profile this account may not use: unauthorized, said so.
sed -i "s/^profile = nosuch/profile = tlsserver/" "$T/c.conf"
expect 1 C renew --force web
grep -q "profile 'tlsserver' is not authorized for this account (urn:ietf:params:acme:error:unauthorized)" "$T/err" ||
        die "$(cat "$T/err")"
expect 1 C check --json web
grep -q "not authorized for this account" "$T/out" || die "last error not recorded: $(cat "$T/out")"
sed -i "s/^profile = tlsserver/profile = shortlived/" "$T/c.conf"
ok "a profile refused with unauthorized is reported as such"

# ---------------------------------------------------------------- the clientAuth guard
cat "$T/pebble/root.pem" "$T/proxyca.pem" >"$T/roots.pem"
acme_cert "$T/c.conf" mtls peb "mtls.$ZONE"
sed -i "/^\[certificate \"mtls\"\]/,\$ s#^ca = .*#ca = $T/roots.pem\nusage = server+client#" "$T/c.conf"
expect 0 C renew mtls
grep -q "\[certificate \"mtls\"\] usage = server+client with issuer = acme:peb: public ACME CAs no longer issue client certificates (clientAuth), and a renewed certificate without it is not installed; issue client certificates from an internal CA (issuer = ca:NAME)" "$T/err" ||
        die "no warning at load: $(cat "$T/err")"
openssl x509 -in "$T/tls/mtls.crt" -noout -ext extendedKeyUsage | grep -q "TLS Web Client Authentication" ||
        die "pebble's certificate has no clientAuth after all: $(openssl x509 -in "$T/tls/mtls.crt" -noout -ext extendedKeyUsage)"
ok "usage = server+client from ACME: warned at load; pebble's certificate (with clientAuth) installed"

s0=$(serial "$T/tls/mtls.crt")
touch "$T/strip"
expect 1 C renew --force mtls
rm -f "$T/strip"
grep -q "^certificate re-issued without clientAuth" "$T/proxy.log" || die "proxy did not strip: $(cat "$T/proxy.log")"
[[ $(serial "$T/tls/mtls.crt") == "$s0" ]] || die "the certificate without clientAuth was installed"
grep -q "new certificate failed validation, not installed: usage-missing: .*the CA \[acme \"peb\"\] no longer issues client certificates (clientAuth); the installed certificate stays; issue client certificates from an internal CA (issuer = ca:NAME)" "$T/err" ||
        die "$(cat "$T/err")"
expect 1 C check --json mtls
python3 - "$T/out" <<'PY' || die "check --json: $(cat "$T/out")"
import json, sys
c = json.load(open(sys.argv[1]))["certificates"][0]
assert c["last_renewal"]["result"] == "failed" and "usage-missing" in c["last_renewal"]["error"], c
assert "no longer issues client certificates" in c["last_renewal"]["error"], c
assert any(p["code"] == "renewal-failing" for p in c["problems"]), c
PY
ok "a renewal without clientAuth is refused: old certificate kept, usage-missing, issuer = ca:NAME named"

# ---------------------------------------------------------------- dns-persist-01
cat >>"$T/c.conf" <<CONF
[acme "persist"]
directory = https://localhost:$PROXY_PORT/dir
ca-bundle = $T/pebble/ca.pem
challenge = dns-persist-01
initial-backoff = 0.05
max-retry-duration = 5

CONF
acme_cert "$T/c.conf" pweb persist "pweb.$ZONE"
expect 3 C acme persist-record pweb
grep -q "issuer domain is not known yet: set persist-issuer" "$T/err" || die "$(cat "$T/err")"
# No record yet: certherd does not answer the challenge, and says what to publish.
expect 1 C renew pweb
grep -q "dns-persist-01: no TXT record for this CA at the validation name; publish _validation-persist.pweb.$ZONE. IN TXT \"ca.test; accounturi=https://localhost:$PROXY_PORT/" "$T/err" ||
        die "$(cat "$T/err")"
grep -q "^persist " "$T/proxy.log" && die "answered without the record"
account=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$T/state/acme/persist/account.json")
C check pweb >"$T/out" 2>"$T/err" || true # nothing installed yet: critical anyway
grep -q "pweb: dns-persist-01: no TXT record _validation-persist.pweb.$ZONE for issuer ca.test" "$T/err" ||
        die "check: $(cat "$T/err")"
# The issuer domain named in the challenge was remembered: persist-record prints the record.
expect 0 C acme persist-record pweb
[[ $(cat "$T/out") == "_validation-persist.pweb.$ZONE. IN TXT \"ca.test; accounturi=$account\"" ]] || die "$(cat "$T/out")"
ok "dns-persist-01: no record, no answer; the record to publish is printed; check warns"

publish() { # VALUE
        nsupdate -y "hmac-sha256:acme-update:$TSIG_SECRET" <<NSU
server 127.0.0.1 $DNS_PORT
zone $ZONE
update delete _validation-persist.pweb.$ZONE TXT
update add _validation-persist.pweb.$ZONE 1 TXT "$1"
send
NSU
}
publish "ca.test; accounturi=https://localhost:$PROXY_PORT/my-account/999"
C check pweb >"$T/out" 2>"$T/err" || true
grep -q "the TXT record _validation-persist.pweb.$ZONE names another ACME account than $account" "$T/err" ||
        die "check: $(cat "$T/err")"
ok "check warns about a record naming another account"

C acme persist-record pweb | sed -n 's/.* IN TXT "\(.*\)"$/\1/p' >"$T/value"
publish "$(cat "$T/value")"
C check pweb >"$T/out" 2>"$T/err" || true
grep -q "dns-persist-01" "$T/err" && die "check still warns: $(cat "$T/err")"
expect 0 C renew --force pweb # the failure above set a backoff
grep -q "^1 renewed" "$T/out" || die "$(cat "$T/out" "$T/err")"
grep -qx "persist pweb.$ZONE ok" "$T/proxy.log" || die "the proxy did not validate: $(cat "$T/proxy.log")"
verify_chain pweb
ok "dns-persist-01: with the record published, the challenge is answered and validated (by the proxy, in Knot)"

# ---------------------------------------------------------------- CAA (RFC 8659, RFC 8657)
caa() { # OWNER [VALUE]: replace the CAA records at OWNER (none without VALUE)
        { echo "server 127.0.0.1 $DNS_PORT"; echo "zone $ZONE"; echo "update delete $1 CAA"
          [[ -z ${2-} ]] || echo "update add $1 1 CAA 0 issue \"$2\""; echo send; } |
                nsupdate -y "hmac-sha256:acme-update:$TSIG_SECRET"
}
caa_check() { # the caa-mismatch messages of check pweb, one per line
        C --json check pweb | python3 -c '
import json, sys
for p in json.load(sys.stdin)["certificates"][0]["problems"]:
    if p["code"] == "caa-mismatch":
        assert p["severity"] == "warning", p
        print(p["message"])'
}
expect 0 C acme caa-record pweb
[[ $(cat "$T/out") == "pweb.$ZONE. IN CAA 0 issue \"ca.test; accounturi=$account; validationmethods=dns-persist-01\"" ]] ||
        die "caa-record: $(cat "$T/out")"
[[ -z $(caa_check) ]] || die "caa-mismatch without any CAA record: $(caa_check)"
caa "$ZONE." "other-ca.example"
[[ $(caa_check) == *"the CAA record at $ZONE allows other CAs only"* ]] || die "another CA at the parent: '$(caa_check)'"
caa "pweb.$ZONE." "ca.test; accounturi=https://localhost:$PROXY_PORT/my-account/999"
[[ $(caa_check) == *"at pweb.$ZONE names this CA for another ACME account"* ]] || die "another account: '$(caa_check)'"
caa "pweb.$ZONE." "ca.test; accounturi=$account; validationmethods=http-01"
[[ $(caa_check) == *"does not allow this challenge type"* ]] || die "another method: '$(caa_check)'"
caa "pweb.$ZONE." "$(sed -n 's/.* issue "\(.*\)"$/\1/p' "$T/out")"
[[ -z $(caa_check) ]] || die "the printed record still mismatches: $(caa_check)"
caa "pweb.$ZONE."
caa "$ZONE."
ok "acme caa-record prints the record; check warns caa-mismatch for another CA, account or method, not for the printed one"

# ---------------------------------------------------------------- 6-day certificates, both modes
# 6 days, no renew-before: due with 3 days left (+ jitter ≤ 7.2 h).
end=$(date -u -d "$(openssl x509 -in "$T/tls/plain.crt" -noout -enddate | cut -d= -f2)" +%s)
start=$(date -u -d "$(openssl x509 -in "$T/tls/plain.crt" -noout -startdate | cut -d= -f2)" +%s)
(((end - start) / 3600 >= 143 && (end - start) / 3600 <= 145)) || die "pebble's certificates do not live 6 days"
expect 0 C check --json plain
next=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["certificates"][0]["next_renewal"])' "$T/out")
n=$(date -u -d "$next" +%s)
((n >= end - 3 * 86400 && n <= end - 3 * 86400 + 6 * 86400 / 20 + 1)) || die "next_renewal $next not 3 days before $end"
ok "a 6-day certificate is due with 3 days left (next_renewal $next)"

export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
F() { faketime -f "$1" "$CERTHERD" -c "$T/c.conf" "${@:2}"; }
s0=$(serial "$T/tls/plain.crt")
expect 0 F +2d renew plain
grep -q "^0 renewed, 1 not due" "$T/out" || die "renewed at +2d: $(cat "$T/out" "$T/err")"
[[ $(serial "$T/tls/plain.crt") == "$s0" ]] || die "certificate changed at +2d"
expect 0 F +3.4d renew plain
grep -q "^1 renewed" "$T/out" || die "not renewed at +3.4d: $(cat "$T/out" "$T/err")"
[[ $(serial "$T/tls/plain.crt") != "$s0" ]] || die "certificate not replaced at +3.4d"
ok "timer mode (certherd renew, clock +2d / +3.4d): not due, then renewed"

# The daemon: restore the state of a fresh certificate, then run it at +2d (nothing) and +3.4d (renews).
s0=$(serial "$T/tls/plain.crt")
rm -f "$T/state/certs/plain.json"
acme_conf "$T/d.conf" peb <<<"listen = 127.0.0.1:$HTTP_PORT"
sed -i "s#^directory = .*#directory = https://localhost:$PROXY_PORT/dir#" "$T/d.conf"
sed -i 's#^pin-directory = .*#&\nwarn-before = 30%\ncritical-before = 10%#' "$T/d.conf"
acme_cert "$T/d.conf" plain peb "plain.$ZONE"
# faketime(1) forks: preload the library itself, so that $! is certherd and SIGTERM reaches it.
libft=$(dpkg -L libfaketime 2>/dev/null | grep -m1 '/libfaketimeMT.so.1$') || die "no libfaketimeMT.so.1"
D() { LD_PRELOAD=$libft FAKETIME=$1 "$CERTHERD" -c "$T/d.conf" run 2>"$T/daemon.log" & }
D +2d
daemon=$!
pids+=("$daemon")
sleep 3
kill -TERM "$daemon"; wait "$daemon" 2>/dev/null || true
grep -q "watching 1 certificates" "$T/daemon.log" || die "the daemon did not run at +2d: $(cat "$T/daemon.log")"
[[ $(serial "$T/tls/plain.crt") == "$s0" ]] || die "the daemon renewed at +2d: $(cat "$T/daemon.log")"
D +3.4d
daemon=$!
pids+=("$daemon")
for i in $(seq 300); do
        [[ $(serial "$T/tls/plain.crt") != "$s0" ]] && break
        sleep 0.1
done
kill -TERM "$daemon"; wait "$daemon" 2>/dev/null || true
[[ $(serial "$T/tls/plain.crt") != "$s0" ]] || die "the daemon did not renew at +3.4d: $(cat "$T/daemon.log")"
verify_chain plain
ok "daemon mode (certherd run, clock +2d / +3.4d): waits, then renews"
echo "$n_ok passed"
