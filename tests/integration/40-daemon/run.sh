#!/bin/bash
# certherd run under a stand-in for systemd's notify socket: READY/STATUS/WATCHDOG, a short-lived
# internal-CA certificate renewed on its own, a file replaced by hand re-inspected within a second,
# SIGHUP with a good and a broken inventory, no wake-ups while nothing is due, clean SIGTERM.
source "$(dirname "$0")/../lib.sh"
need openssl; need python3; need strace

mkdir -p "$T/tls" "$T/watch"
cat >"$T/certherd.conf" <<CONF
$(conf_agent "metrics-file = $T/nometrics/certherd.prom")

$(conf_ca short "$T/ca" "validity = 12s")

$(conf_leaf quick short "$T/ca")
names = localhost
renew-before = 50%
warn-before = 1s
critical-before = 1s

[certificate "watched"]
certificate = $T/watch/w.crt
warn-before = 14d
critical-before = 7d
ca = $T/ca.crt
names = watched.test
CONF
"$CERTHERD" -c "$T/certherd.conf" ca init short 2>/dev/null
# A long-lived watched certificate, replaced by hand later.
mkcert() { # days out
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/w.key" -subj /CN=watched.test \
                -addext subjectAltName=DNS:watched.test -days "$1" -out "$2" 2>/dev/null
}
mkcert 300 "$T/watch/w.crt"
sed -i "s#^ca = $T/ca.crt\nnames = watched.test##" "$T/certherd.conf"
python3 - "$T/certherd.conf" "$T" <<'PY'
import sys
p, t = sys.argv[1], sys.argv[2]
s = open(p).read().replace(f"certificate = {t}/watch/w.crt\nca = {t}/ca.crt", f"certificate = {t}/watch/w.crt\nca = {t}/watch/w.crt")
open(p, "w").write(s)
PY

notify_listen
NOTIFY_SOCKET=$T/notify WATCHDOG_USEC=2000000 bash -c 'export WATCHDOG_PID=$$; exec "$0" -c "$1" run' \
        "$CERTHERD" "$T/certherd.conf" 2>"$T/daemon.log" &
daemon=$!
pids+=($daemon)

wait_for() { # pattern file seconds
        local i
        for i in $(seq $(($3 * 20))); do grep -q "$1" "$2" 2>/dev/null && return 0; sleep 0.05; done
        cat "$T/daemon.log" "$T/notify.log" >&2
        die "'$1' did not appear in $(basename "$2") within $3 s"
}
wait_for "READY=1" "$T/notify.log" 5
grep -q " $daemon READY=1" "$T/notify.log" || die "READY=1 not from the daemon's PID"
wait_for "STATUS=2 certificates: " "$T/notify.log" 5
wait_for "WATCHDOG=1" "$T/notify.log" 3
ok "READY=1, STATUS and WATCHDOG=1 arrive from the daemon's PID"

# The short-lived certificate: issued at start, then renewed on its own at about half its 12 s life.
wait_for "quick: renewed" "$T/daemon.log" 5
serial1=$(openssl x509 -in "$T/tls/quick.crt" -noout -serial)
for i in $(seq 200); do
        [[ $(openssl x509 -in "$T/tls/quick.crt" -noout -serial) != "$serial1" ]] && break
        sleep 0.05
done
[[ $(openssl x509 -in "$T/tls/quick.crt" -noout -serial) != "$serial1" ]] || die "not renewed on its own within 10 s"
[[ $(cat "$T/pins/quick.pin") == "$(spki_pin "$T/tls/quick.crt")" ]] || die "pin file does not follow"
ok "a 12-second internal-CA certificate is renewed by the running agent on its own"

# A file replaced by hand (atomically, as other tools do) is re-inspected within a second.
mkcert 3 "$T/new.crt"
mv "$T/new.crt" "$T/watch/w.crt"
start=$(date +%s.%N)
wait_for "watched: expires in 2 days" "$T/daemon.log" 1
ok "a certificate replaced by hand is re-inspected within a second ($(printf "%.2f" "$(echo "$(date +%s.%N) - $start" | bc)") s)"

# The metrics directory was missing all along, over every pass so far (start, renewals, the
# re-inspection): one warning. Once it is made, the next pass writes the file and says so.
missing="metrics-file $T/nometrics/certherd.prom: its directory does not exist; no metrics are written until it is made"
[[ $(grep -cF "$missing" "$T/daemon.log") == 1 ]] || { cat "$T/daemon.log" >&2; die "not one warning for the missing metrics directory"; }
grep -q "cannot write the metrics file" "$T/daemon.log" && die "another metrics warning: $(cat "$T/daemon.log")"
mkdir "$T/nometrics"
mkcert 3 "$T/new.crt"
mv "$T/new.crt" "$T/watch/w.crt"
wait_for "metrics-file $T/nometrics/certherd.prom: written again" "$T/daemon.log" 2
[[ -s $T/nometrics/certherd.prom ]] || die "no metrics file once its directory exists"
ok "a missing metrics directory: one warning over several passes; written once it exists"

# SIGHUP: RELOADING=1 then READY=1; a broken inventory is rejected and the old one keeps running.
n_ready=$(grep -c "READY=1" "$T/notify.log")
kill -HUP "$daemon"
wait_for "RELOADING=1" "$T/notify.log" 3
for i in $(seq 60); do (($(grep -c "READY=1" "$T/notify.log") > n_ready)) && break; sleep 0.05; done
(($(grep -c "READY=1" "$T/notify.log") > n_ready)) || die "no READY=1 after RELOADING=1"
cp "$T/certherd.conf" "$T/good.conf"
echo "bogus-key = 1" >>"$T/certherd.conf"
n_ready=$(grep -c "READY=1" "$T/notify.log")
kill -HUP "$daemon"
wait_for "inventory not reloaded" "$T/daemon.log" 3
grep -q "certherd.conf:[0-9]*: unknown key 'bogus-key'" "$T/daemon.log" || die "reload error does not name file:line"
for i in $(seq 60); do (($(grep -c "READY=1" "$T/notify.log") > n_ready)) && break; sleep 0.05; done
kill -0 "$daemon" || die "daemon died on a broken inventory"
cp "$T/good.conf" "$T/certherd.conf"
ok "SIGHUP: RELOADING=1 then READY=1; a broken inventory is logged with file:line and the old one kept"

kill -TERM "$daemon"
rc=0; wait "$daemon" || rc=$?
[[ $rc == 0 ]] || die "exit status $rc after SIGTERM"
grep -q "STOPPING=1" "$T/notify.log" || die "no STOPPING=1"
ok "SIGTERM: STOPPING=1 and exit 0"

# No wake-ups while nothing is due: a 300-day watched certificate, no watchdog; count epoll waits.
cat >"$T/idle.conf" <<CONF
$(conf_agent_in "$T/idle")
[certificate "watched"]
certificate = $T/watch/w.crt
ca = $T/watch/w.crt
names = watched.test
CONF
mkcert 300 "$T/watch/w.crt"
strace -f -e trace=epoll_wait,epoll_pwait -o "$T/strace" "$CERTHERD" -c "$T/idle.conf" run 2>/dev/null &
idle=$!
pids+=($idle)
sleep 1
before=$(grep -c "epoll_wait\|epoll_pwait" "$T/strace" || true)
sleep 3
after=$(grep -c "epoll_wait\|epoll_pwait" "$T/strace" || true)
kill -TERM "$(pgrep -P "$idle")"; wait "$idle" 2>/dev/null || true
# A call still blocked at the first count shows up once it returns; more than that is a wake-up.
((after - before <= 1)) || die "$((after - before)) wake-ups in 3 s with nothing due"
ok "no wake-ups in 3 s while nothing is due ($((after - before)) epoll calls)"
echo "$n_ok passed"
