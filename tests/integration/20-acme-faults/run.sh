#!/bin/bash
# Faults between certherd and its ACME server: 500/503 with and without Retry-After and a verbatim
# rateLimited problem (through a small python3 proxy in front of pebble), a server that accepts and never
# answers, a port where nothing listens, and pebble killed in the middle of an order and restarted.
# Every failure: bounded in time, a clear error, the installed files untouched; the next run succeeds.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../20-acme/lib-pebble.sh"
need dig bind9-dnsutils; need nsupdate bind9-dnsutils

knot_start
pebble_start PEBBLE_AUTHZREUSE=0

acme_conf "$T/c.conf" peb <<CONF
listen = 127.0.0.1:$HTTP_PORT
CONF
sed -i "s#^directory = .*#directory = https://localhost:$PROXY_PORT/dir#" "$T/c.conf"
acme_cert "$T/c.conf" web peb "web.$ZONE"
C() { "$CERTHERD" -c "$T/c.conf" "$@"; }

# --- 503 with Retry-After, 500 without: retried, and honoured
start_proxy --rule /dir 1 503 1 --rule /order-plz 2 500 - --rule /finalize-order 1 503 0
t0=$EPOCHREALTIME
expect 0 C renew
grep -q "1 renewed" "$T/out" || die "$(cat "$T/out" "$T/err")"
verify_chain web
took=$(elapsed "$t0")
awk -v t="$took" 'BEGIN { exit !(t >= 1.0) }' || die "Retry-After: 1 not honoured (took $took s)"
grep -q "GET /dir -> 503" "$T/proxy.log" && (($(grep -c "POST /order-plz -> 500" "$T/proxy.log") == 2)) &&
        grep -q "POST /finalize-order/.* -> 503" "$T/proxy.log" || die "faults not injected: $(cat "$T/proxy.log")"
grep -q "4 retries after errors" "$T/err" || die "retries not counted: $(cat "$T/err")"
stop_proxy
ok "503 + Retry-After (waited $took s), 500 twice on newOrder, 503 on finalize: retried, issued"

snapshot() { sha256sum "$T/tls/web.crt" "$T/tls/web.key"; }
before=$(snapshot)

# --- rateLimited: the problem document verbatim, no hour-long wait
detail="too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s"
start_proxy --rule /order-plz 1 429 3600 urn:ietf:params:acme:error:rateLimited "$detail"
t0=$EPOCHREALTIME
expect 0 C renew --force web # deferred until the Retry-After, not failed
grep -qF "HTTP 429 urn:ietf:params:acme:error:rateLimited: $detail" "$T/err" || die "not verbatim: $(cat "$T/err")"
grep -qF "web: not now: [acme \"peb\"] web: rate-limited: the server refused the order (rateLimited: $detail); next order from " "$T/out" ||
        die "$(cat "$T/out")"
awk -v t="$(elapsed "$t0")" 'BEGIN { exit !(t < 3) }' || die "waited for a Retry-After beyond max-retry-duration"
[[ $(snapshot) == "$before" ]] || die "files changed"
stop_proxy
# The set now waits an hour for the server (20-acme-budget tests that); the faults below need it ordering.
rm "$T/state/acme/peb/budget.json"
ok "429 rateLimited with Retry-After: 3600: the problem verbatim in the log, deferred, no waiting, files untouched"

# --- a server that never answers, and one that is not there: bounded, clear
HANG_PORT=$(free_port)
start_hang "$HANG_PORT" "$T/hang.log"
sed -i "s#^directory = .*#directory = https://localhost:$HANG_PORT/dir#; s#^max-retry-duration = .*#max-retry-duration = 2#" \
        "$T/c.conf"
t0=$EPOCHREALTIME
expect 1 C renew --force web
took=$(elapsed "$t0")
grep -q "cannot fetch the directory: https://localhost:$HANG_PORT/dir: .*timed out" "$T/err" || die "$(cat "$T/err")"
awk -v t="$took" 'BEGIN { exit !(t >= 1.5 && t < 6) }' || die "gave up after $took s, not ~2 s"
[[ $(snapshot) == "$before" ]] || die "files changed"
ok "a server that accepts and never answers: timed out after $took s (max-retry-duration = 2), files untouched"

DEAD_PORT=$(free_port)
sed -i "s#^directory = .*#directory = https://localhost:$DEAD_PORT/dir#" "$T/c.conf"
t0=$EPOCHREALTIME
expect 1 C renew --force web
took=$(elapsed "$t0")
grep -q "cannot fetch the directory: https://localhost:$DEAD_PORT/dir: .*gave up after 2 s of retries" "$T/err" ||
        die "$(cat "$T/err")"
awk -v t="$took" 'BEGIN { exit !(t >= 0.7 && t < 4) }' || die "gave up after $took s"
[[ $(snapshot) == "$before" ]] || die "files changed"
ok "nothing listening: retried with backoff for $took s, then a clear error, files untouched"

# --- and afterwards, with the server back, the renewal goes through
sed -i "s#^directory = .*#directory = https://localhost:$PEBBLE_PORT/dir#; s#^max-retry-duration = .*#max-retry-duration = 5#" \
        "$T/c.conf"
expect 0 C renew --force web
verify_chain web
ok "with the server reachable again the next run renews"

# --- pebble killed in the middle of an order and restarted (it forgets accounts and orders)
export NSUPDATE_SERVER=127.0.0.1 NSUPDATE_PORT=$DNS_PORT NSUPDATE_TSIG="hmac-sha256:acme-update:$TSIG_SECRET"
export NSUPDATE_ZONE=$ZONE NSUPDATE_TTL=1 NSUPDATE_WAIT=5
cat >"$T/hook" <<HOOK
#!/bin/bash
if [[ \$1 == add && ! -e "$T/killed" ]]; then
        touch "$T/killed"
        for i in \$(seq 200); do [[ -e "$T/pebble-down" ]] && break; sleep 0.05; done
fi
exec "$TOP/conf/dns-hook-nsupdate.example" "\$@"
HOOK
chmod +x "$T/hook"
sed -i "s#^listen = .*#challenge = dns-01\ndns-hook = $T/hook#" "$T/c.conf"
C renew --force web >"$T/out" 2>"$T/err" &
cpid=$!
for i in $(seq 200); do [[ -e $T/killed ]] && break; sleep 0.05; done
[[ -e $T/killed ]] || die "the hook was not called: $(cat "$T/err")"
pebble_stop
touch "$T/pebble-down"
sleep 0.5
pebble_start PEBBLE_AUTHZREUSE=0
rc=0
wait "$cpid" || rc=$?
[[ $rc == 0 ]] || die "renew after the pebble restart exited $rc: $(cat "$T/err")"
grep -q "does not know our account (any more): registering again" "$T/err" || die "no re-registration: $(cat "$T/err")"
grep -q "starting a new order" "$T/err" || die "no new order: $(cat "$T/err")"
verify_chain web # against the restarted pebble's new root
ok "pebble killed mid-order and restarted: retried until back, account registered again, order made anew"
echo "$n_ok passed"
