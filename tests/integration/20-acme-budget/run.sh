#!/bin/bash
# Rate-limit budgets against pebble: with max-orders = 2/1h the third order is deferred (exit 0, the
# warning rate-limited with the budget and when it frees up, in check, status, JSON and the metric
# certherd_acme_budget_remaining), both when the sets renew one at a time and when they renew in one run;
# a rateLimited problem from the server (a proxy in front of pebble) defers the set until its Retry-After.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../20-acme/lib-pebble.sh"
need dig bind9-dnsutils
top=$(cd "$(dirname "$0")/../../.." && pwd)

knot_start
pebble_start
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
# js PYTHON-EXPR: true when EXPR holds for d, the JSON in $T/out
js() { python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$T/out" "$1"; }

acme_conf "$T/c.conf" peb <<<"listen = 127.0.0.1:$HTTP_PORT
max-orders = 2/1h"
sed -i "s#^\[agent\]\$#[agent]\nmetrics-file = $T/metrics.prom#" "$T/c.conf"
for s in a b c; do acme_cert "$T/c.conf" $s peb "$s.$ZONE"; done
C() { "$CERTHERD" -c "$T/c.conf" "$@"; }

# --- one at a time
t0=$(date +%s)
expect 0 C renew a
expect 0 C renew b
expect 0 C renew c
grep -q "^c: not now: rate-limited: 2 of 2 new orders in 1h used (max-orders); frees up at " "$T/out" ||
        die "third order not deferred: $(cat "$T/out" "$T/err")"
[[ ! -e $T/tls/c.crt ]] || die "c was issued"
until=$(sed -n 's/.*frees up at \([0-9TZ:-]*\).*/\1/p' "$T/out")
u=$(date -d "$until" +%s)
((u >= t0 + 3600 && u <= $(date +%s) + 3600)) || die "frees up at $until, expected an hour after the first order"
grep -q "certherd_acme_budget_remaining{acme=\"peb\",limit=\"orders\"} 0" "$T/metrics.prom" || die "metric: $(grep budget "$T/metrics.prom")"
grep -q "certherd_acme_budget_remaining{acme=\"peb\",limit=\"duplicates\"} 4" "$T/metrics.prom" || die "metric: $(grep budget "$T/metrics.prom")"
grep -q "certherd_acme_budget_remaining{acme=\"peb\",limit=\"failed-validations\"} 5" "$T/metrics.prom" || die "metric: $(grep budget "$T/metrics.prom")"
expect 2 C check # c has no certificate at all: critical, and rate-limited besides
grep -q "^warning  c: rate-limited: peb: 2 of 2 new orders in 1h used (max-orders); frees up at $until\$" "$T/out" ||
        die "check: $(cat "$T/out")"
C status --json >"$T/out" 2>"$T/err" || true
js "[p['code'] for p in d['certificates'][2]['problems']] == ['unreadable', 'rate-limited'] and d['certificates'][2]['next_renewal'] == '$until'" ||
        die "status --json: $(cat "$T/out")"
C status >"$T/out" 2>"$T/err" || true
grep -q "^c .*unreadable, rate-limited" "$T/out" || die "status: $(cat "$T/out")"
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert len(d["orders"]) == 2 and len(d["certificates"]) == 2' \
        "$T/state/acme/peb/budget.json" || die "budget.json: $(cat "$T/state/acme/peb/budget.json")"
ok "max-orders = 2/1h: the third order deferred until $until (rate-limited in check, status, JSON; metric 0)"

# --- in one run: two orders go out, the third is deferred before it is sent
rm -rf "$T/state/acme/peb/budget.json" "$T"/tls/*
expect 0 C renew
grep -q "^2 renewed, 1 not due, 0 failed" "$T/out" || die "$(cat "$T/out" "$T/err")"
grep -q ": not now: \[acme \"peb\"\] .: rate-limited: 2 of 2 new orders in 1h used (max-orders); frees up at " "$T/out" ||
        die "$(cat "$T/out" "$T/err")"
(($(ls "$T"/tls/*.crt | wc -l) == 2)) || die "$(ls "$T/tls")"
expect 0 C renew # the next run defers it in the plan, without a failed attempt
grep -q "not now: rate-limited: " "$T/out" || die "$(cat "$T/out")"
grep -q "renewal-failing" <(C check 2>&1) && die "a deferral counted as a failure"
ok "three due in one run with max-orders = 2/1h: two renewed, one deferred before ordering (not a failure)"

# --- the server says rateLimited: deferred until its Retry-After
PROXY_PORT=$(free_port)
python3 "$top/tests/integration/20-acme/acme-proxy.py" --port "$PROXY_PORT" --upstream "$PEBBLE_PORT" \
        --cert "$T/pebble/cert.pem" --key "$T/pebble/key.pem" --cafile "$T/pebble/ca.pem" --log "$T/proxy.log" \
        --rule /order-plz 1 429 3600 urn:ietf:params:acme:error:rateLimited "too many new orders recently" &
pids+=($!)
wait_port "$PROXY_PORT"
acme_conf "$T/d.conf" prox <<<"listen = 127.0.0.1:$HTTP_PORT"
sed -i "s#^directory = .*#directory = https://localhost:$PROXY_PORT/dir#; s#^state-directory = .*#state-directory = $T/state-d#" "$T/d.conf"
acme_cert "$T/d.conf" d prox "d.$ZONE"
D() { "$CERTHERD" -c "$T/d.conf" "$@"; }
t1=$(date +%s)
expect 0 D renew # a deferral, not a failure
grep -q "^d: not now: \[acme \"prox\"\] d: rate-limited: the server refused the order (rateLimited: too many new orders recently); next order from " "$T/out" ||
        die "$(cat "$T/out" "$T/err")"
grep -c "order-plz" "$T/proxy.log" | grep -qx 1 || die "newOrder retried: $(cat "$T/proxy.log")"
expect 0 D renew
until=$(sed -n 's/.*next order from \([0-9TZ:-]*\).*/\1/p' "$T/out")
u=$(date -d "$until" +%s)
((u >= t1 + 3600 && u <= $(date +%s) + 3600)) || die "deferred until $until: $(cat "$T/out")"
grep -c "order-plz" "$T/proxy.log" | grep -qx 1 || die "ordered again before Retry-After: $(cat "$T/proxy.log")"
D check >"$T/out" 2>&1 || true
grep -q "rate-limited: prox: the server refused an order (rateLimited: too many new orders recently); next order from $until" "$T/out" ||
        die "check: $(cat "$T/out")"
ok "rateLimited from the server (Retry-After 3600): no order until $until, rate-limited in check"
echo "$n_ok passed"
