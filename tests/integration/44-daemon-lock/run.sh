#!/bin/bash
# No command does nothing and exits 0. A renewal whose deploy then failed counts as renewed, "N renewed
# (D deploy failed)", exit 1; `renew --quiet` prints nothing when nothing was renewed or deployed and
# nothing failed, everything otherwise. While `certherd run` holds the lock and no bus reaches it,
# `renew`, `renew --force` and `renew NAME` exit 1 naming the daemon's pid and why (with --no-daemon:
# that the daemon holds the lock), and renew nothing; the daemon's STATUS= names the failing set first.
# A lock held by anything else (after the daemon stopped, its note stale) is still a note and exit 0.
source "$(dirname "$0")/../lib.sh"
need openssl; need python3

mkdir -p "$T/tls"
cat >"$T/certherd.conf" <<CONF
$(conf_agent)

$(conf_ca internal "$T/ca")

$(conf_leaf web internal "$T/ca" "names = web.internal" "exec = $T/hook.sh")

$(conf_leaf api internal "$T/ca" "names = api.internal")
CONF
cat >"$T/hook.sh" <<'HOOK'
#!/bin/sh
[ -e "$(dirname "$0")/hook.fail" ] && exit 3
exit 0
HOOK
chmod +x "$T/hook.sh"
C() { "$CERTHERD" -c "$T/certherd.conf" "$@"; }
serial() { openssl x509 -noout -serial -in "$T/tls/$1.crt" | cut -d= -f2; }
# No system bus anywhere in this test: the daemon cannot serve one, the CLI cannot reach one.
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$T/no-bus
expect 0 C ca init internal

# --- a renewal whose deploy fails is a renewal, and a failure of the run
touch "$T/hook.fail"
expect 1 C renew
grep -q "^web: deploy failed at exec $T/hook.sh: " "$T/out" || die "no deploy-failed line: $(cat "$T/out" "$T/err")"
grep -q "^2 renewed (1 deploy failed), 0 not due, 0 failed$" "$T/out" || die "summary: $(cat "$T/out")"
ok "renew with a failing hook: '$(tail -1 "$T/out")', exit 1"

# --- renew --quiet: silent only when nothing was renewed or deployed and nothing failed
rm "$T/hook.fail"
expect 0 C renew --quiet
grep -q "^web: deployed again (serial " "$T/out" || die "renew --quiet hid a redeploy: $(cat "$T/out" "$T/err")"
expect 0 C renew --quiet
[[ ! -s $T/out && ! -s $T/err ]] || die "renew --quiet with nothing due printed: $(cat "$T/out" "$T/err")"
expect 0 C renew
grep -q "^0 renewed, 2 not due, 0 failed$" "$T/out" || die "renew without --quiet: $(cat "$T/out")"
touch "$T/hook.fail"
expect 1 C renew --quiet --force web
grep -q "^1 renewed (1 deploy failed), 0 not due, 0 failed$" "$T/out" || die "renew --quiet hid a failure: $(cat "$T/out")"
expect 3 C renew --quiet --no-such-option
expect 3 C check --quiet
grep -q "\-\-quiet applies to renew only" "$T/err" || die "--quiet elsewhere: $(cat "$T/err")"
ok "renew --quiet: nothing printed when nothing was due and nothing failed; a redeploy and a failure print"

# --- the daemon holds the lock, no bus reaches it
notify_listen
NOTIFY_SOCKET=$T/notify "$CERTHERD" -c "$T/certherd.conf" run 2>"$T/daemon.log" &
daemon=$!
pids+=($daemon)
for i in $(seq 200); do grep -q "watching 2 certificates" "$T/daemon.log" && break; sleep 0.05; done
grep -q "watching 2 certificates" "$T/daemon.log" || { cat "$T/daemon.log" >&2; die "the daemon did not start"; }
grep -q "^$daemon daemon$" "$T/state/lock" || die "the lock does not name the daemon: $(cat "$T/state/lock")"
for i in $(seq 200); do grep -q "STATUS=2 certificates: 1 deploy failed, 1 ok" "$T/notify.log" && break; sleep 0.05; done
grep -q "STATUS=2 certificates: 1 deploy failed, 1 ok" "$T/notify.log" ||
        { cat "$T/notify.log" "$T/daemon.log" >&2; die "STATUS= does not name the failing set first"; }
ok "the daemon notes itself in STATE/lock; $(grep -o 'STATUS=2 certificates: 1 deploy failed, 1 ok[^"]*' "$T/notify.log" | tail -1)"

s_web=$(serial web) s_api=$(serial api)
for args in "renew" "renew --force" "renew api"; do
        expect 1 C $args
        grep -q "the running daemon (pid $daemon) could not be reached over D-Bus: .*; stop it or fix the bus" "$T/err" ||
                die "'$args': $(cat "$T/out" "$T/err")"
        [[ ! -s $T/out ]] || die "'$args' printed an outcome: $(cat "$T/out")"
done
expect 1 C --no-daemon renew --force api
grep -q "the running daemon (pid $daemon) holds the lock in $T/state" "$T/err" || die "--no-daemon: $(cat "$T/err")"
[[ $(serial web) == "$s_web" && $(serial api) == "$s_api" ]] || die "a command renewed beside the daemon"
ok "daemon holding the lock, no bus: renew, renew --force, renew NAME exit 1: $(cat "$T/err")"

kill -TERM "$daemon"; wait "$daemon" || die "the daemon did not stop cleanly"

# --- anything else holding the lock (the daemon is gone; its note is stale): exit 0 with a note
python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "a")
fcntl.flock(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(60)' "$T/state/lock" "$T/locked" &
holder=$!
pids+=($holder)
for i in $(seq 100); do [[ -e $T/locked ]] && break; sleep 0.05; done
expect 0 C renew
grep -q "another certherd holds the lock in $T/state; it does the renewals" "$T/err" || die "note: $(cat "$T/err")"
kill "$holder"; wait "$holder" 2>/dev/null || true
ok "lock held by another process (a stopped daemon's note in the file): renew exits 0 with a note"
echo "$n_ok passed"
