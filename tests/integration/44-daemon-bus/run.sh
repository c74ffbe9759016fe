#!/bin/bash
# The daemon takes orders over D-Bus (certherd(8), D-BUS INTERFACE), on a private system bus: a
# dbus-daemon with a system-like policy plus units/org.certherd1.conf, reached through
# DBUS_SYSTEM_BUS_ADDRESS (no systemd needed). While `certherd run` runs: `renew --force NAME` makes the
# daemon renew (new serial as soon as the CLI returns, exit 0); `status --json` and `check` are answered
# by the daemon (they work with the inventory file moved away, which the CLI alone cannot); unknown
# NAMEs exit 3; `renew --quiet` keeps an answer with nothing done to itself; a failed deploy is
# redeployed at once by `renew NAME`, as the CLI alone does; reading is open to other users, ordering
# renewals is not; without a daemon the CLI works alone again.
source "$(dirname "$0")/../lib.sh"
need openssl; need dbus-daemon dbus; need python3; need setpriv util-linux

# --- the private system bus
chmod 0755 "$T" # other users (the access test) reach the bus socket
private_system_bus

# --- an internal CA and two sets: web (renewable, not due) and watched (issuer = none)
mkdir -p "$T/tls"
cat >"$T/certherd.conf" <<CONF
$(conf_agent)

$(conf_ca internal "$T/ca")

$(conf_leaf web internal "$T/ca")
names = localhost
key-policy = rotate
exec = /usr/bin/test ! -e $T/fail-deploy

[certificate "watched"]
certificate = $T/tls/web.crt
ca = $T/ca.crt
names = localhost
CONF
chmod 0644 "$T/certherd.conf"
conf=$T/certherd.conf
ch() { "$CERTHERD" -c "$conf" "$@"; }
ch ca init internal >/dev/null 2>&1 || die "ca init"
# Without a daemon on the bus the CLI works alone, as before.
expect 0 ch renew web
grep -q "1 renewed" "$T/out" || { cat "$T/out" "$T/err" >&2; die "first issuance alone"; }
ok "no daemon on the bus: renew works alone"

# --- the daemon
"$CERTHERD" -c "$conf" run 2>"$T/daemon.log" &
daemon=$!
pids+=($daemon)
for i in $(seq 200); do grep -q "watching 2 certificates" "$T/daemon.log" && break; sleep 0.05; done
grep -q "watching 2 certificates" "$T/daemon.log" || { cat "$T/daemon.log" >&2; die "the daemon did not start"; }
grep -qi "cannot serve org.certherd1" "$T/daemon.log" && { cat "$T/daemon.log" >&2; die "the daemon has no bus name"; }
ok "certherd run owns org.certherd1 on the private system bus"

# renew --force NAME: the daemon renews; the new serial is there when the CLI returns.
s1=$(serial "$T/tls/web.crt")
expect 0 ch renew --force web
[[ $(serial "$T/tls/web.crt") != "$s1" ]] || die "renew --force web returned but the serial did not change"
grep -q "^web: renewed (serial [0-9A-Fa-f]*), valid until 20" "$T/out" || { cat "$T/out" >&2; die "no outcome line from the daemon"; }
grep -q "^1 renewed, 0 not due, 0 failed$" "$T/out" || { cat "$T/out" >&2; die "no summary line"; }
grep -q "Renew --force of web ordered by" "$T/daemon.log" || die "the daemon did not receive the order"
grep -q "web: renewed" "$T/daemon.log" || die "the daemon's log does not show the renewal"
ok "renew --force web: the daemon renews (serial $s1 -> $(serial "$T/tls/web.crt")), exit 0 once its batch is done"

# renew without --force: nothing due, nothing done.
s2=$(serial "$T/tls/web.crt")
expect 0 ch renew web
grep -q "^web: not due (renews from 20" "$T/out" || { cat "$T/out" >&2; die "not-due line"; }
[[ $(serial "$T/tls/web.crt") == "$s2" ]] || die "renew without --force renewed"
ok "renew web (not due): the daemon says when it renews, nothing changes"

# renew --quiet: the daemon's answer of a pass where nothing was due and nothing failed is not printed.
expect 0 ch renew --quiet web
[[ ! -s $T/out ]] || die "renew --quiet printed the daemon's idle answer: $(cat "$T/out")"
expect 0 ch renew --quiet --force web
grep -q "^web: renewed (serial " "$T/out" || { cat "$T/out" >&2; die "renew --quiet hid the daemon's renewal"; }
ok "renew --quiet through the daemon: silent when nothing was due, the renewal printed when forced"

# A failed deploy, then `renew web` after the fix: the daemon redeploys at once, as `certherd renew web`
# does alone (the daemon on its own waits out a backoff between deploy attempts).
touch "$T/fail-deploy"
expect 1 ch renew --force web
grep -q "^web: deploy failed at exec /usr/bin/test" "$T/out" || { cat "$T/out" >&2; die "no deploy failure"; }
rm "$T/fail-deploy"
s_failed=$(serial "$T/tls/web.crt")
expect 0 ch renew web
grep -q "^web: deployed again (serial [0-9A-Fa-f]*)" "$T/out" || { cat "$T/out" "$T/daemon.log" >&2; die "not redeployed at once"; }
[[ $(serial "$T/tls/web.crt") == "$s_failed" ]] || die "the redeploy issued a new certificate"
ok "a failed deploy, fixed: renew web answered by the daemon redeploys at once, without a new issuance"

# Two orders at once: both answered, each after a batch that renewed web.
ch renew --force web >"$T/o1" 2>&1 & a=$!
ch renew --force web >"$T/o2" 2>&1 & b=$!
wait $a || die "first of two concurrent orders: $(cat "$T/o1")"
wait $b || die "second of two concurrent orders: $(cat "$T/o2")"
grep -q "^web: renewed" "$T/o1" && grep -q "^web: renewed" "$T/o2" || { cat "$T/o1" "$T/o2" >&2; die "concurrent orders"; }
ok "two concurrent renew --force orders: both answered with the renewal"

# Unknown NAME, and a set that is only watched: exit 3 with the daemon's message.
expect 3 ch renew --force nosuch
grep -q 'no \[certificate "nosuch"\]' "$T/err" || { cat "$T/err" >&2; die "unknown name message"; }
expect 3 ch renew --force watched
grep -q "issuer = none" "$T/err" || { cat "$T/err" >&2; die "issuer = none message"; }
expect 3 ch check nosuch
ok "renew/check of an unknown NAME (and renew of a watched-only set): exit 3"

# status --json and check come from the daemon: the CLI alone could not even read the inventory now.
mv "$conf" "$T/moved.conf"
expect 3 ch --no-daemon --json status
expect 0 ch --json status
python3 - "$T/out" "$(serial "$T/tls/web.crt")" "$T/pins/web.json" <<'PY' || die "status --json from the daemon"
import json, sys
doc = json.load(open(sys.argv[1]))
web = [c for c in doc["certificates"] if c["name"] == "web"][0]
# The next key (key-policy = rotate) as the pin file announces it.
assert web["next_pin_sha256"] and web["next_pin_sha256"] == json.load(open(sys.argv[3]))["next_pin_sha256"], web
assert web["serial"].lower().lstrip("0") == sys.argv[2].lower().lstrip("0"), (web["serial"], sys.argv[2])
assert web["state"] == "ok", web
# What the daemon knows: the next renewal it plans, the last renewal it did (the order above).
assert web["next_renewal"], web
assert web["last_renewal"] and web["last_renewal"]["result"] == "ok", web
assert [c for c in doc.get("cas", []) if c["name"] == "internal"], doc.get("cas")
PY
expect 0 ch check web
grep -q " web: " "$T/out" || { cat "$T/out" >&2; die "check web from the daemon"; }
expect 0 ch status
grep -q "web" "$T/out" || { cat "$T/out" >&2; die "status from the daemon"; }
t0=$(date +%s%N); ch --json check >/dev/null; t=$(( ($(date +%s%N) - t0) / 1000000 ))
ok "status --json (with the daemon's next_renewal, last_renewal, next_pin_sha256, cas), check and status answered by the daemon (inventory file moved away; check --json in $t ms)"

# The methods themselves, as other programs call them (busctl), as user nobody: Check's text, CheckFd's
# memfd (what the CLI reads), an unknown name's error.
if command -v busctl >/dev/null; then
        nobody_busctl() { setpriv --reuid=65534 --regid=65534 --clear-groups busctl --system --no-pager "$@"; }
        nobody_busctl get-property org.certherd1 /org/certherd1 org.certherd1.Manager Inventory >"$T/inv" ||
                die "busctl get-property Inventory"
        [[ $(cat "$T/inv") == "s \"$conf\"" ]] || die "Inventory property: $(cat "$T/inv")"
        nobody_busctl call org.certherd1 /org/certherd1 org.certherd1.Manager Check ass 1 web text >"$T/call" ||
                die "busctl call Check"
        grep -q '^is 0 ".* web: ' "$T/call" || die "Check's answer: $(cat "$T/call")"
        nobody_busctl call org.certherd1 /org/certherd1 org.certherd1.Manager CheckFd ass 0 json >"$T/call" ||
                die "busctl call CheckFd"
        grep -q '^ih 0 [0-9]' "$T/call" || die "CheckFd's answer: $(cat "$T/call")"
        if nobody_busctl call org.certherd1 /org/certherd1 org.certherd1.Manager Check ass 1 nosuch text 2>"$T/call"; then
                die "Check of an unknown name succeeded"
        fi
        grep -q 'no \[certificate "nosuch"\]' "$T/call" || die "unknown name over busctl: $(cat "$T/call")"
        ok "busctl as nobody: Inventory, Check, CheckFd and the NoSuchCertificate error"
fi

# Another inventory is not the daemon's business: the CLI works alone with it.
sed '/^\[certificate "watched"\]/,$d' "$T/moved.conf" >"$T/other.conf"
expect 0 "$CERTHERD" -c "$T/other.conf" check web
expect 3 "$CERTHERD" -c "$T/other.conf" check watched
mv "$T/moved.conf" "$conf"
ok "another inventory (-c) is not the daemon's: the CLI works alone with it"

# Reading is open to every user; ordering is not (no polkit on this bus: denied).
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$CERTHERD" -c "$conf" "$@"; }
expect 0 nobody check web
grep -q " web: " "$T/out" || die "check as nobody"
s3=$(serial "$T/tls/web.crt")
ordered=$(grep -c "ordered by" "$T/daemon.log")
lines=$(wc -l <"$T/daemon.log")
expect 1 nobody renew --force web
grep -qi "renewing needs root" "$T/err" || { cat "$T/err" >&2; die "no access-denied message"; }
[[ $(serial "$T/tls/web.crt") == "$s3" ]] || die "an order from nobody was carried out"
(($(grep -c "ordered by" "$T/daemon.log") == ordered)) || die "a refused Renew was logged as ordered: $(tail -3 "$T/daemon.log")"
(($(wc -l <"$T/daemon.log") == lines)) || die "a stranger's refused Renew was logged at info: $(tail -3 "$T/daemon.log")"
ok "as user nobody: check answered by the daemon; renew --force refused (exit 1), nothing renewed, nothing logged"

# A deploy hook whose path holds a secret: root's check shows the failed step and its error, a user who
# may not renew sees neither the hook's command line nor the error's text.
printf '#!/bin/sh\nexit 1\n' >"$T/deploy-hunter2"
chmod 0755 "$T/deploy-hunter2"
sed -i "s|^exec = .*|exec = $T/deploy-hunter2|" "$conf"
kill -HUP "$daemon"
for i in $(seq 100); do grep -q "inventory reloaded" "$T/daemon.log" && break; sleep 0.05; done
grep -q "inventory reloaded" "$T/daemon.log" || die "the daemon did not reload: $(tail -3 "$T/daemon.log")"
expect 1 ch renew --force web
expect 2 ch --json check web
grep -q hunter2 "$T/out" || { cat "$T/out" >&2; die "root does not see the failing hook in check --json"; }
expect 2 nobody --json check web
grep -q hunter2 "$T/out" && { cat "$T/out" >&2; die "a user who may not renew sees the hook's command line"; }
grep -q '"deploy-failed"' "$T/out" || { cat "$T/out" >&2; die "the problem itself is hidden from other users"; }
expect 2 nobody check web
grep -q hunter2 "$T/out" && { cat "$T/out" >&2; die "check as nobody shows the hook's command line"; }
expect 2 nobody status
grep -q hunter2 "$T/out" && { cat "$T/out" >&2; die "status as nobody shows the hook's command line"; }
sed -i "/^exec = /d" "$conf"
kill -HUP "$daemon"
for i in $(seq 100); do (($(grep -c "inventory reloaded" "$T/daemon.log") >= 2)) && break; sleep 0.05; done
expect 0 ch renew --force web
ok "a failed deploy: root sees the hook in check, other users see deploy-failed without its command line or error"

# Without the daemon the CLI works alone again.
kill -TERM "$daemon"; wait "$daemon" || die "the daemon did not stop cleanly"
expect 0 ch check web
expect 0 ch renew --force web
grep -q "1 renewed" "$T/out" || { cat "$T/out" >&2; die "renew alone after the daemon stopped"; }
ok "daemon stopped: check and renew work alone again"
echo "$n_ok passed"
