#!/bin/bash
# A second, independent ACME server: smallstep's step-ca, built from Debian's Go sources (lib-stepca.sh),
# with a root and intermediate made here. certherd as a new user would run it: http-01 (built-in
# responder and webroot), tls-alpn-01 with no `listen` (port 443), dns-01 through Knot and the shipped
# nsupdate hook, `renew --force`, `revoke`, `acme rollover` (step-ca does not implement key-change), a
# profile step-ca does not offer, no ARI (the plain schedule, silently), a failed validation reported with
# step-ca's words at once, and the daemon renewing a 20-second certificate. step-ca validates http-01 on
# port 80 and tls-alpn-01 on port 443 only: the test runs in a network namespace of its own.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../lib-stepca.sh"
stepca_netns "$0" "$@"
# Knot as the authoritative server of acme.test (every name → 127.0.0.1), step-ca's resolver.
source "$(dirname "$0")/../20-acme/lib-pebble.sh"
need dig bind9-dnsutils
need nsupdate bind9-dnsutils
need python3
top=$(cd "$(dirname "$0")/../../.." && pwd)

stepca_build
stepca_pki "$T/ca"
knot_start
stepca_start "$T/ca" "127.0.0.1:$(free_port)" "127.0.0.1:$DNS_PORT"
export NSUPDATE_SERVER=127.0.0.1 NSUPDATE_PORT=$DNS_PORT NSUPDATE_TSIG="hmac-sha256:acme-update:$TSIG_SECRET"
export NSUPDATE_ZONE=$ZONE NSUPDATE_TTL=1 NSUPDATE_WAIT=5
# No system bus: `renew` works alone and the daemon owns no bus name another test could want.
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$T/no-bus

# step_acme NAME PROVISIONER [KEY = VALUE lines on stdin]: an [acme "NAME"] section for step-ca.
step_acme() {
        printf '[acme "%s"]\ndirectory = %s/%s/directory\nca-bundle = %s/ca/root.crt\n' "$1" "$STEPCA_URL" "$2" "$T"
        printf 'initial-backoff = 0.05\nmax-retry-duration = 5\n'
        cat
        echo
}
# step_cert NAME ISSUER NAMES…: a [certificate] issued by acme:ISSUER, checked against step-ca's root.
step_cert() {
        local name=$1 issuer=$2
        shift 2
        printf '[certificate "%s"]\ncertificate = %s/tls/%s.crt\nkey = %s/tls/%s.key\nca = %s/ca/root.crt\nnames = %s\nissuer = acme:%s\n\n' \
                "$name" "$T" "$name" "$T" "$name" "$T" "$*" "$issuer"
}
serial() { openssl x509 -in "$T/tls/$1.crt" -noout -serial | cut -d= -f2; }
# verify NAME: the installed chain (leaf and step-ca's intermediate) verifies against the test's root.
verify() {
        openssl verify -CAfile "$T/ca/root.crt" -untrusted "$T/tls/$1.crt" "$T/tls/$1.crt" >/dev/null ||
                die "$1: chain does not verify against step-ca's root"
        openssl x509 -in "$T/tls/$1.crt" -noout -issuer | grep -q "step-ca test intermediate" || die "$1: issuer"
}

mkdir -p "$T/www"
{
        # step-ca's 24-hour certificates sit inside the default 14d/7d alert windows.
        printf '[agent]\nstate-directory = %s/state\npin-directory = %s/pins\n' "$T" "$T"
        printf 'warn-before = 4h\ncritical-before = 2h\n\n'
        step_acme step acme </dev/null
        step_acme webroot acme <<<"webroot = $T/www"
        step_acme alpn acme <<<"challenge = tls-alpn-01"
        step_acme dns acme <<<"challenge = dns-01
dns-hook = $top/conf/dns-hook-nsupdate.example"
        step_cert web step "web.$ZONE" "www.$ZONE"
        step_cert files webroot "files.$ZONE"
        step_cert alpn alpn "alpn.$ZONE"
        step_cert wild dns "*.wild.$ZONE" "wild.$ZONE"
} >"$T/c.conf"
C() { "$CERTHERD" -c "$T/c.conf" "$@"; }

# http-01 through the built-in responder on its default port, 80.
expect 0 C renew web
grep -q "1 renewed" "$T/out" || die "renew web: $(cat "$T/out" "$T/err")"
verify web
openssl x509 -in "$T/tls/web.crt" -noout -ext subjectAltName | grep -q "DNS:www.$ZONE" || die "names"
# step-ca's default lifetime (24 hours, backdated by a minute): no ARI, so certherd's own schedule, and
# no word about renewal information (the directory has no renewalInfo). Whole words only: an account
# URL is random and may hold the letters ARI.
grep -Ewq "ARI|renewalInfo|renewal information" "$T/err" && die "ARI mentioned against a server without it: $(cat "$T/err")"
expect 0 C check web
grep -q "^ok *web: expires" "$T/out" || die "check: $(cat "$T/out")"
expect 0 C --json check web
python3 - "$T/out" <<'PY' || die "check --json: $(cat "$T/out")"
import json, sys
from datetime import datetime, timedelta
doc = json.load(open(sys.argv[1]))
web = next(c for c in doc["certificates"] if c["name"] == "web")
nb = datetime.fromisoformat(web["not_before"].replace("Z", "+00:00"))
na = datetime.fromisoformat(web["not_after"].replace("Z", "+00:00"))
assert timedelta(hours=23) < na - nb < timedelta(hours=25), (nb, na)
# certherd's own schedule: half of a lifetime under 10 days left, plus a per-set jitter of at most a
# twentieth of the lifetime.
nr = datetime.fromisoformat(web["next_renewal"].replace("Z", "+00:00"))
assert nb + (na - nb) / 2 - timedelta(minutes=2) <= nr <= nb + (na - nb) * 0.55 + timedelta(minutes=2), (nb, na, nr)
PY
ok "http-01 (built-in responder, port 80): a 24-hour certificate from step-ca, chain to the test's root; no ARI: renewal at half the lifetime, no error about it"

# http-01 through a web server serving the webroot.
python3 -m http.server --bind 127.0.0.1 --directory "$T/www" 80 >"$T/www.log" 2>&1 &
www=$!
pids+=("$www")
wait_port 80
expect 0 C renew files
verify files
grep -q "GET /.well-known/acme-challenge/" "$T/www.log" || die "step-ca did not fetch from the web server"
[[ -z $(ls -A "$T/www/.well-known/acme-challenge" 2>/dev/null) ]] || die "token files left behind"
ok "http-01 through webroot: step-ca fetched the token from the web server, the file is gone after"

# A failed validation: step-ca keeps the challenge pending with an error (a refused connection); certherd
# says why at once, answers the challenge again a few times, then fails with step-ca's words, in seconds,
# not after the order's five-minute deadline.
kill "$www"
wait "$www" 2>/dev/null || true
sed -i "s/^names = files.$ZONE\$/names = files.$ZONE gone.$ZONE/" "$T/c.conf"
sum=$(sha256sum <"$T/tls/files.crt")
t0=$(date +%s)
expect 1 C renew --force files
el=$(($(date +%s) - t0))
grep -q "warning: .*http-01 validation of [a-z]*.$ZONE failed: urn:ietf:params:acme:error:connection: .*answering the challenge again in 1 s (1 of 3)" "$T/err" ||
        die "no early word: $(cat "$T/err")"
grep -q "error: .*http-01 validation of [a-z]*.$ZONE failed: urn:ietf:params:acme:error:connection" "$T/err" ||
        die "no final error: $(cat "$T/err")"
grep -q "still pending" "$T/err" && die "reported as still pending: $(cat "$T/err")"
((el < 30)) || die "failure took $el s"
[[ $(sha256sum <"$T/tls/files.crt") == "$sum" ]] || die "certificate changed"
ok "a validation step-ca failed but keeps pending: its error shown at once, the challenge answered again, failed in $el s"
sed -i "s/^names = files.$ZONE gone.$ZONE\$/names = files.$ZONE/" "$T/c.conf"

# tls-alpn-01 without `listen`: the responder answers on 443, where step-ca (and RFC 8737) looks.
expect 0 C renew alpn
verify alpn
ok "tls-alpn-01 without listen: the built-in responder on port 443, validated by step-ca"

# dns-01 through Knot and the shipped nsupdate hook, with a wildcard.
expect 0 C renew wild
verify wild
openssl x509 -in "$T/tls/wild.crt" -noout -ext subjectAltName | grep -q "DNS:\*.wild.$ZONE" || die "no wildcard"
[[ -z $(dig +short -p "$DNS_PORT" @127.0.0.1 "_acme-challenge.wild.$ZONE" TXT) ]] || die "TXT record left behind"
ok "dns-01 through Knot (nsupdate hook): a wildcard certificate, the TXT records withdrawn after"

# renew --force: a new certificate (new serial) although the current one is not due.
old=$(serial web)
expect 0 C renew web
grep -q "0 renewed, 1 not due" "$T/out" || die "renew: $(cat "$T/out")"
expect 0 C renew --force web
[[ $(serial web) != "$old" ]] || die "renew --force kept the serial"
verify web
ok "renew --force: a new certificate from step-ca"

# revoke: step-ca records it (asking again is refused as already revoked).
expect 0 C revoke web --reason superseded
expect 1 C revoke web
grep -qi "already.*revoked\|alreadyRevoked" "$T/err" || die "second revoke: $(cat "$T/err")"
ok "revoke: step-ca revoked the certificate, and refuses to revoke it twice"

# acme rollover: step-ca 0.19 answers key-change with 501 (not implemented): failed at once, not retried
# like a passing error, and the account keeps working with the key step-ca knows.
key=$(sha256sum <"$T/state/acme/step/account.key")
t0=$(date +%s.%N)
expect 1 C acme rollover step
el=$(echo "$(date +%s.%N) - $t0" | bc)
grep -q "HTTP 501 (not implemented by this server)" "$T/err" || die "rollover: $(cat "$T/err")"
grep -q "0 retries after errors" "$T/err" || die "a 501 was retried: $(cat "$T/err")"
(($(echo "$el < 2" | bc))) || die "rollover took $el s"
[[ $(sha256sum <"$T/state/acme/step/account.key") == "$key" ]] || die "the account key changed"
expect 0 C renew --force web
verify web
ok "acme rollover: step-ca's 501 reported at once (${el%??????} s, no retries); the account still orders"

# A profile step-ca does not offer: refused before ordering, naming the server.
sed -i "s#^\(names = web.$ZONE www.$ZONE\)\$#\1\nprofile = shortlived#" "$T/c.conf"
expect 1 C renew --force web
grep -q "profile 'shortlived' asked for, but the server $STEPCA_URL/acme/directory offers no profiles" "$T/err" ||
        die "profile: $(cat "$T/err")"
sed -i '/^profile = shortlived$/d' "$T/c.conf"
ok "a profile against step-ca: a clear error naming the server"

# The daemon renews a certificate of step-ca's "short" provisioner (20 s left at issuance) on its own.
{
        printf '[agent]\nstate-directory = %s/state-short\npin-directory = %s/pins-short\n\n' "$T" "$T"
        step_acme short short <<<"listen = 127.0.0.1:80"
        step_cert quick short "quick.$ZONE"
        printf 'renew-before = 10s\nwarn-before = 2s\ncritical-before = 1s\n'
} >"$T/d.conf"
"$CERTHERD" -c "$T/d.conf" --no-daemon renew >"$T/d.out" 2>&1 || die "first issuance: $(cat "$T/d.out")"
first=$(serial quick)
"$CERTHERD" -c "$T/d.conf" run 2>"$T/daemon.log" &
daemon=$!
pids+=("$daemon")
for i in $(seq 300); do
        s=$(serial quick)
        [[ $s != "$first" ]] && break
        sleep 0.1
done
[[ $s != "$first" ]] || { cat "$T/daemon.log" >&2; die "the daemon did not renew within 30 s"; }
verify quick
left=$(($(date -d "$(openssl x509 -in "$T/tls/quick.crt" -noout -enddate | cut -d= -f2)" +%s) - $(date +%s)))
((left > 10)) || die "renewed certificate has only $left s left"
kill "$daemon"
wait "$daemon" 2>/dev/null || true
grep -Ewq "error:|ARI|renewalInfo|renewal information" "$T/daemon.log" && die "daemon: $(cat "$T/daemon.log")"
ok "the daemon renewed a 20-second step-ca certificate on its own, before it expired"
echo "$n_ok passed"
