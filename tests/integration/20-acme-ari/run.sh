#!/bin/bash
# ARI (RFC 9773). Debian's pebble (2.4) has no renewalInfo, so a small python3 HTTPS proxy in front of it
# adds renewalInfo to the directory and answers it with a window the test chooses; everything else is
# pebble's. Checked: the certificate id (computed here independently with OpenSSL), the random point
# inside the window and kept across runs, a moved window picking anew, due / not due, Retry-After, and
# `replaces` sent in the next newOrder.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../20-acme/lib-pebble.sh"
need dig bind9-dnsutils
top=$(cd "$(dirname "$0")/../../.." && pwd)

knot_start
pebble_start PEBBLE_AUTHZREUSE=0
start_ari_proxy() { # START END RETRY_AFTER
        [[ -z ${PROXY_PID:-} ]] || stop_proxy
        start_proxy --ari "$1" "$2" "$3"
}
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
now=$(date +%s)

acme_conf "$T/c.conf" peb <<<"listen = 127.0.0.1:$HTTP_PORT"
sed -i "s#^directory = .*#directory = https://localhost:$PROXY_PORT/dir#" "$T/c.conf"
acme_cert "$T/c.conf" web peb "web.$ZONE"
C() { "$CERTHERD" -c "$T/c.conf" "$@"; }
ari_now() { # the next ARI poll of web: now (its Retry-After passed)
        python3 - "$T/state/certs/web.json" <<'PY'
import json, sys
st = json.load(open(sys.argv[1]))
st["ari_next_usec"] = 0
json.dump(st, open(sys.argv[1], "w"))
PY
}

start_ari_proxy "$(iso $((now - 7200)))" "$(iso $((now - 3600)))" 3600
expect 0 C renew
verify_chain web
grep -q "replaces=" "$T/proxy.log" && die "replaces sent for a first certificate"

# The id of RFC 9773 §4.1, independently: base64url(AKI keyIdentifier) "." base64url(DER serial).
id=$(python3 - "$T/tls/web.crt" <<'PY'
import base64, subprocess, sys
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
ext = subprocess.run(["openssl", "x509", "-in", sys.argv[1], "-noout", "-ext", "authorityKeyIdentifier"],
                     capture_output=True, text=True, check=True).stdout
aki = bytes.fromhex(ext.split("\n")[1].strip().removeprefix("keyid:").replace(":", ""))
serial = bytes.fromhex(subprocess.run(["openssl", "x509", "-in", sys.argv[1], "-noout", "-serial"], capture_output=True,
                                      text=True, check=True).stdout.strip().split("=")[1].rjust(2, "0"))
if serial[0] & 0x80:
    serial = b"\0" + serial
print(f"{b64(aki)}.{b64(serial)}")
PY
)
[[ -n $id ]] || die "no ARI id from OpenSSL"

# --- a window in the past: due now
expect 0 C acme ari web
grep -q "^renewalInfo $id\$" "$T/proxy.log" || die "renewalInfo not asked for $id: $(cat "$T/proxy.log")"
grep -q "web: suggested window $(iso $((now - 7200))) .. $(iso $((now - 3600))), renewing at .*: due (ask again in 3600 s)" \
        "$T/out" || die "$(cat "$T/out" "$T/err")"
ok "ARI id $id (as OpenSSL computes it); a window in the past is due; Retry-After read"

# --- a window in the future: a point inside it, the same on the next run, not due
start=$((now + 86400)) end=$((now + 2 * 86400))
start_ari_proxy "$(iso $start)" "$(iso $end)" 21600
expect 0 C acme ari web
when=$(sed -n 's/.* renewing at \([^:]*:[^:]*:[0-9]*Z\): .*/\1/p' "$T/out")
w=$(date -u -d "$when" +%s)
((w >= start && w < end)) || die "renewal point $when outside the window: $(cat "$T/out")"
grep -q ": not due (ask again in 21600 s)" "$T/out" || die "$(cat "$T/out")"
expect 0 C acme ari web
grep -q "renewing at $when: not due" "$T/out" || die "the point moved between runs: $(cat "$T/out")"
points=("$w")
for i in 1 2 3 4; do # a moved window gets a new random point
        start_ari_proxy "$(iso $((start + i)))" "$(iso $end)" 21600
        expect 0 C acme ari web
        points+=("$(date -u -d "$(sed -n 's/.* renewing at \([^:]*:[^:]*:[0-9]*Z\): .*/\1/p' "$T/out")" +%s)")
done
(($(printf '%s\n' "${points[@]}" | sort -u | wc -l) >= 3)) || die "points not random: ${points[*]}"
ok "a future window: renewal point $when inside it, kept across runs, picked anew when the window moves"

# --- certherd renew follows the window: a future one keeps the certificate, a past one renews it
serial=$(openssl x509 -in "$T/tls/web.crt" -noout -serial)
expect 0 C renew
grep -q "^0 renewed, 1 not due" "$T/out" || die "renewed inside a future window: $(cat "$T/out")"
[[ $(openssl x509 -in "$T/tls/web.crt" -noout -serial) == "$serial" ]] || die "certificate changed"
grep -q "^renewalInfo $id\$" "$T/proxy.log" || die "renew did not ask the window: $(cat "$T/proxy.log")"
# The server said when to ask again (Retry-After: 21600 s): the next run does not ask before then.
start_ari_proxy "$(iso $((now - 7200)))" "$(iso $((now - 3600)))" 3600
expect 0 C renew
grep -q "^0 renewed, 1 not due" "$T/out" || die "Retry-After not honoured: $(cat "$T/out")"
grep -q "^renewalInfo" "$T/proxy.log" && die "renewalInfo asked before its Retry-After: $(cat "$T/proxy.log")"
next=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["ari_next_usec"])' "$T/state/certs/web.json")
((next / 1000000 >= now + 21600 - 60 && next / 1000000 <= now + 21600 + 600)) ||
        die "next ARI poll $next is not the Retry-After: $(cat "$T/state/certs/web.json")"
# ... as if those 6 hours had passed: asked, inside the past window, renewed.
ari_now
expect 0 C renew
grep -q "^1 renewed, 0 not due" "$T/out" || die "not renewed inside a past window: $(cat "$T/out" "$T/err")"
[[ $(openssl x509 -in "$T/tls/web.crt" -noout -serial) != "$serial" ]] || die "certificate not replaced"
verify_chain web
ok "certherd renew renews when the ARI window has come, not before, and asks again after the Retry-After"

# --- the agent asks too (on its renewal thread) and renews when the window has come; it honours the
# Retry-After the last run was given (kept in the state), so rewind it as if the hour had passed.
serial=$(openssl x509 -in "$T/tls/web.crt" -noout -serial)
ari_now
"$CERTHERD" -c "$T/c.conf" run 2>"$T/daemon.log" &
daemon=$!
pids+=("$daemon")
for i in $(seq 200); do
        [[ $(openssl x509 -in "$T/tls/web.crt" -noout -serial) != "$serial" ]] && break
        sleep 0.05
done
kill -TERM "$daemon"; wait "$daemon" 2>/dev/null || true
[[ $(openssl x509 -in "$T/tls/web.crt" -noout -serial) != "$serial" ]] || die "the agent did not renew: $(cat "$T/daemon.log")"
grep -q "inside the renewal window the ACME server suggests (ARI)" "$T/daemon.log" || die "$(cat "$T/daemon.log")"
verify_chain web
ok "certherd run asks the ARI window on its renewal thread and renews inside it"

# --- the next order names the certificate it replaces
expect 0 C renew --force web
grep -q "^replaces=$id\$" "$T/proxy.log" || die "newOrder without replaces=$id: $(cat "$T/proxy.log")"
verify_chain web
ok "renewal sends replaces=$id in newOrder"

# --- a server without ARI: said plainly
sed -i "s#^directory = .*#directory = https://localhost:$PEBBLE_PORT/dir#" "$T/c.conf"
expect 1 C acme ari web
grep -q "offers no renewal information" "$T/err" || die "$(cat "$T/err")"
ok "pebble itself (no renewalInfo): a plain error"
echo "$n_ok passed"
