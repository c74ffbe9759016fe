#!/bin/bash
# Maintenance windows against pebble, in a local time that is not UTC (Asia/Kolkata, +05:30): a set that
# is due outside its window is left alone by `renew` (exit 0, saying until when) and shown with its next
# window; inside the window it is renewed; when the next window opens only after the certificate reaches
# critical-before it is renewed at once and the log says why; the daemon waits for the window's start and
# renews then.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../20-acme/lib-pebble.sh"
need dig bind9-dnsutils
export TZ=Asia/Kolkata

knot_start
pebble_start
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
hm() { date -d "@$1" +%H:%M; } # local time
# js PYTHON-EXPR: true when EXPR holds for c, the first set of the JSON in $T/out
js() { python3 -c 'import json, sys; c = json.load(open(sys.argv[1]))["certificates"][0]; sys.exit(0 if eval(sys.argv[2]) else 1)' "$T/out" "$1"; }
serial() { openssl x509 -in "$T/tls/web.crt" -noout -serial; }

acme_conf "$T/c.conf" peb <<<"listen = 127.0.0.1:$HTTP_PORT"
acme_cert "$T/c.conf" web peb "web.$ZONE"
C() { "$CERTHERD" -c "$T/c.conf" "$@"; }
expect 0 C renew
verify_chain web

# A window that opens in two hours (whole minutes, local time), given in [agent] as the default.
now=$(date +%s)
start=$(((now + 7200 + 59) / 60 * 60)) end=$((start + 3600))
sed -i "s/^\[agent\]\$/[agent]\nwindow = $(hm $start)-$(hm $end)/" "$T/c.conf"
# A new name makes the set due at once (name-missing), far from critical-before.
sed -i "s/^names = web.$ZONE\$/names = web.$ZONE www.$ZONE/" "$T/c.conf"
s0=$(serial)
expect 0 C renew
grep -q "^web: not now: renewal (certificate set is broken) waits for the maintenance window at $(iso $start)\$" "$T/out" ||
        die "$(cat "$T/out" "$T/err")"
[[ $(serial) == "$s0" ]] || die "renewed outside the window"
C status --json >"$T/out" 2>"$T/err" || true
js "c['next_renewal'] == '$(iso $start)' and c['next_window'] == {'start': '$(iso $start)', 'end': '$(iso $end)', 'open': False}" ||
        die "status --json: $(cat "$T/out")"
C status >"$T/out" 2>"$T/err" || true
grep -q "^window web: next $(iso $start) to $(iso $end)\$" "$T/out" || die "status: $(cat "$T/out")"
ok "due outside its window ($(hm $start)-$(hm $end) local): renew leaves it (exit 0) until $(iso $start); status shows the window"

# The guard: critical-before is reached in an hour, an hour before the window opens.
na=$(date -d "$(openssl x509 -in "$T/tls/web.crt" -noout -enddate | cut -d= -f2)" +%s)
crit=$((na - $(date +%s) - 3600))
sed -i "s/^issuer = acme:peb\$/issuer = acme:peb\ncritical-before = $crit\nwarn-before = $crit/" "$T/c.conf"
expect 0 C renew
grep -q "^1 renewed" "$T/out" || die "not renewed under the guard: $(cat "$T/out" "$T/err")"
grep -q "web: renewing outside the maintenance window (certificate set is broken): the next one opens at $(iso $start), after the certificate reaches critical-before at " "$T/err" ||
        die "no reason logged: $(cat "$T/err")"
[[ $(serial) != "$s0" ]] || die "certificate not replaced"
verify_chain web
sed -i "/^critical-before = $crit\$/d; /^warn-before = $crit\$/d" "$T/c.conf"
ok "the expiry guard renews at once outside the window, and says why"

# Inside a window (the set's own, over the [agent] default): renewed.
sed -i "s/^names = web.$ZONE www.$ZONE\$/names = web.$ZONE www.$ZONE api.$ZONE\nwindow = $(hm $((now - 3600)))-$(hm $((now + 3600)))/" "$T/c.conf"
s1=$(serial)
expect 0 C renew
grep -q "^1 renewed" "$T/out" || die "not renewed inside the window: $(cat "$T/out" "$T/err")"
[[ $(serial) != "$s1" ]] || die "certificate not replaced"
C status --json >"$T/out" 2>"$T/err" || true
js "c['next_window']['open']" || die "$(cat "$T/out")"
ok "inside the set's own window: renewed; next_window.open"

# The daemon: due now, the window opens at the next whole minute at least 20 s away.
now=$(date +%s)
start=$(((now + 20 + 59) / 60 * 60))
sed -i "s/^window = .*-.*\$/window = $(hm $start)-$(hm $((start + 3600)))/" "$T/c.conf" # both
sed -i "s/^names = web.$ZONE www.$ZONE api.$ZONE\$/names = web.$ZONE www.$ZONE api.$ZONE mail.$ZONE/" "$T/c.conf"
s2=$(serial)
"$CERTHERD" -c "$T/c.conf" run 2>"$T/daemon.log" &
daemon=$!
pids+=("$daemon")
sleep 1
C status --json >"$T/out" 2>"$T/err" || true
js "c['next_renewal'] == '$(iso $start)'" || die "$(cat "$T/out")"
while (($(date +%s) < start - 1)); do
        [[ $(serial) == "$s2" ]] || die "the daemon renewed before the window opened ($(date -u +%T) < $(iso $start))"
        kill -0 "$daemon" || die "the daemon exited: $(cat "$T/daemon.log")"
        sleep 1
done
for i in $(seq 150); do
        [[ $(serial) != "$s2" ]] && break
        sleep 0.1
done
took=$(($(date +%s) - start))
kill -TERM "$daemon"; wait "$daemon" 2>/dev/null || true
[[ $(serial) != "$s2" ]] || die "the daemon did not renew when the window opened: $(cat "$T/daemon.log")"
((took <= 10)) || die "renewed $took s after the window opened"
verify_chain web
ok "the daemon sleeps until the window opens ($(iso $start)) and renews then (+$took s)"
echo "$n_ok passed"
