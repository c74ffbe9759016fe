#!/bin/bash
# Hooks and signals as `certherd renew` runs them: an exec hook that hangs is
# killed with everything it started once hook-timeout passes; a hook inherits no descriptor but 0-2; a
# pidfile is parsed strictly and only a process of the pidfile's owner is signalled.
# The whole test runs in a PID namespace of its own when it can: a regression that turned a pidfile into
# kill(-1) would then reach this test's processes, not the host's.
if [[ ${CERTHERD_IT_PIDNS:-} != 1 ]] && [[ $(id -u) == 0 ]] &&
        unshare --pid --fork --mount-proc --kill-child true 2>/dev/null; then
        exec unshare --pid --fork --mount-proc --kill-child env CERTHERD_IT_PIDNS=1 "$0" "$@"
fi
source "$(dirname "$0")/../lib.sh"
[[ $(id -u) == 0 ]] || skip "the signal rule's cases need root (files and processes of another user)"
need setpriv util-linux

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$1" "$(now)"; }
lt() { python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)" "$1" "$2"; }
# Not running: gone, or a zombie nobody reaped yet.
gone() { [[ ! -e /proc/$1/stat ]] || [[ $(sed 's/.*) //' "/proc/$1/stat" | cut -c1) == [ZX] ]]; }
running() { ! gone "$1"; }

cert() { # NAME EXTRA-LINES…
        local n=$1
        shift
        printf '[certificate "%s"]\ncertificate = %s\nkey = %s\nnames = %s.test\nissuer = self\n' \
                "$n" "$T/tls/$n.crt" "$T/tls/$n.key" "$n"
        printf '%s\n' "$@"
        echo
}
mkdir -p "$T/tls"
vport=$(free_port) # nothing listens: a verify there waits out its 15 s timeout
{
        printf '[agent]\nstate-directory = %s\npin-directory = %s\nhook-timeout = 1s\n\n' "$T/state" "$T/pins"
        cert hang "exec = $T/hang.sh $T"
        cert stubborn "exec = $T/stubborn.sh $T"
        cert patient "exec = $T/slow.sh $T" "hook-timeout = 10s"
        cert fds "exec = $T/fds.sh $T"
        cert overflow "signal = WINCH $T/overflow.pid"
        cert garbage "signal = HUP $T/garbage.pid"
        cert fifo "signal = HUP $T/fifo.pid"
        cert victim "signal = TERM $T/victim.pid"
        cert victim2 "signal = TERM $T/victim.pid" "owner = nobody"
        cert own "signal = TERM $T/own.pid" "owner = nobody"
        cert rootsvc "signal = TERM $T/root.pid"
        cert noreload "reload = nosuch.service" "verify = tls://127.0.0.1:$vport"
        cert nohook "exec = /bin/false" "verify = tls://127.0.0.1:$vport"
} >"$T/certherd.conf"
C() { "$CERTHERD" -c "$T/certherd.conf" "$@"; }

# renew NAME: `renew --force NAME` under a 60 s guard; the deploy step's failure may or may not set the exit
# status (1 with deploy-failed) but must never hang.
renew() {
        local rc=0
        timeout 60 "$CERTHERD" -c "$T/certherd.conf" renew --force "$1" >"$T/out" 2>"$T/err" || rc=$?
        [[ $rc != 124 ]] || die "renew --force $1 hung (killed after 60 s)"
        [[ $rc == 0 || $rc == 1 ]] || { cat "$T/out" "$T/err" >&2; die "renew --force $1 exited $rc"; }
        [[ -s $T/tls/$1.crt ]] || die "$1: nothing installed"
}

# --- exec: a hook that never returns, and its child, are gone after hook-timeout (1s)
cat >"$T/hang.sh" <<'SH'
#!/bin/sh
echo $$ >"$1/hang.pid"
sleep 1000 &
echo $! >"$1/hang-child.pid"
sleep 1000
SH
chmod +x "$T/hang.sh"
t0=$(now)
renew hang
took=$(elapsed "$t0")
lt "$took" 4 || die "renew with a hanging hook took ${took}s (hook-timeout = 1s)"
grep -q "timed out after 1s" "$T/err" || { cat "$T/err" >&2; die "no timeout message"; }
gone "$(cat "$T/hang.pid")" || die "the hook still runs"
for _ in $(seq 50); do gone "$(cat "$T/hang-child.pid")" && break; sleep 0.02; done
gone "$(cat "$T/hang-child.pid")" || die "the hook's child still runs"
ok "a hanging exec hook and its child are killed after hook-timeout; renew took ${took}s"

# A failed reload (no systemd on this bus) or hook before a verify: the service was not told about the
# new certificate, so the verify is skipped with a note instead of waiting out its 15 s.
for n in noreload nohook; do
        t0=$(now)
        DBUS_SYSTEM_BUS_ADDRESS=unix:path=$T/no-bus renew "$n"
        took=$(elapsed "$t0")
        lt "$took" 2 || die "$n: renew took ${took}s after the failed step (verify not skipped)"
        grep -qF "$n: verify tls://127.0.0.1:$vport skipped: the deploy already failed at " "$T/err" ||
                { cat "$T/err" >&2; die "$n: no note that verify was skipped"; }
        grep -q "deploy failed at \(reload nosuch.service\|exec /bin/false\)" "$T/err" ||
                { cat "$T/err" >&2; die "$n: the failed step is not the one reported"; }
        echo "# $n: renew --force returned in ${took}s"
done
ok "verify after a failed reload or hook is skipped with a note (no 15 s wait)"

# One that ignores SIGTERM gets SIGKILL a second later.
cat >"$T/stubborn.sh" <<'SH'
#!/bin/sh
trap '' TERM
sleep 1000 &
echo $! >"$1/stubborn-child.pid"
while :; do wait; done
SH
chmod +x "$T/stubborn.sh"
t0=$(now)
renew stubborn
took=$(elapsed "$t0")
lt "$took" 5 || die "renew with a hook ignoring SIGTERM took ${took}s"
for _ in $(seq 50); do gone "$(cat "$T/stubborn-child.pid")" && break; sleep 0.02; done
gone "$(cat "$T/stubborn-child.pid")" || die "the stubborn hook's child still runs"
ok "a hook ignoring SIGTERM is killed too (${took}s)"

# A set's own hook-timeout overrides [agent]'s.
printf '#!/bin/sh\nsleep 1.5\ntouch "$1/patient.done"\n' >"$T/slow.sh"
chmod +x "$T/slow.sh"
renew patient
[[ -e $T/patient.done ]] || { cat "$T/err" >&2; die "the 1.5 s hook did not finish under hook-timeout = 10s"; }
ok "hook-timeout of a [certificate] overrides [agent]'s"

# --- exec: only fds 0-2 reach the hook, whatever certherd inherited or opened
cat >"$T/fds.sh" <<'SH'
#!/bin/sh
for fd in 7 8; do [ -e /proc/$$/fd/$fd ] && { echo "fd $fd" >"$1/fds.leaked"; exit 1; }; done
touch "$1/fds.ran"
SH
chmod +x "$T/fds.sh"
rc=0
timeout 60 "$CERTHERD" -c "$T/certherd.conf" renew --force fds 7>"$T/leak7" 8<"$T/certherd.conf" >"$T/out" 2>"$T/err" ||
        rc=$?
[[ -e $T/fds.ran ]] || { cat "$T/err" >&2; die "the fd hook did not run to the end ($(cat "$T/fds.leaked" 2>/dev/null))"; }
ok "the hook inherits no descriptor beyond 0-2"

# --- signal: strict pidfiles
bash -c 'trap "touch '"$T"'/winch" WINCH; while :; do sleep 0.05; done' &
canary=$!
pids+=("$canary")
sleep 0.2
printf '4294967295\n' >"$T/overflow.pid"
renew overflow
grep -q "pidfile $T/overflow.pid: '4294967295?' is not a PID" "$T/err" || { cat "$T/err" >&2; die "overflow pid: message"; }
sleep 0.3
[[ ! -e $T/winch ]] || die "4294967295 signalled every process (kill(-1))"
running "$canary" || die "the canary died"
for bad in "-1" "12abc" "" "0x10" "99999999999999999999"; do
        printf '%s\n' "$bad" >"$T/garbage.pid"
        renew garbage
        grep -q "pidfile $T/garbage.pid: .* is not a PID" "$T/err" || { cat "$T/err" >&2; die "pidfile '$bad': message"; }
done
mkfifo "$T/fifo.pid"
t0=$(now)
renew fifo
lt "$(elapsed "$t0")" 10 || die "a FIFO pidfile held renew up"
grep -q "pidfile $T/fifo.pid: not a regular file (FIFO)" "$T/err" || { cat "$T/err" >&2; die "FIFO pidfile: message"; }
ok "pidfiles: 4294967295, -1, 12abc, empty, hex, huge, FIFO refused with a message naming the pidfile"

# --- signal: only a process of the pidfile's owner
sleep 300 &
root_proc=$!
pids+=("$root_proc")
setpriv --reuid=nobody --regid=nogroup --clear-groups sleep 300 &
user_proc=$!
pids+=("$user_proc")
sleep 0.2
echo "$root_proc" >"$T/victim.pid"
chown nobody:nogroup "$T/victim.pid"
renew victim
grep -q "PID $root_proc runs as uid 0, not as the pidfile's owner uid 65534; not signalled" "$T/err" ||
        { cat "$T/err" >&2; die "service-owned pidfile naming a root process: message"; }
renew victim2
sleep 0.2
running "$root_proc" || die "a root process named in a service-owned pidfile was signalled"
ok "a service-user-owned pidfile naming a root process is refused; the process survives"

echo "$user_proc" >"$T/root.pid"
renew rootsvc
grep -q "runs as uid 65534, not as the pidfile's owner uid 0" "$T/err" || { cat "$T/err" >&2; die "root pidfile, user process"; }
running "$user_proc" || die "signalled a process that is not root's through root's pidfile"
echo "$user_proc" >"$T/own.pid"
chown nobody:nogroup "$T/own.pid"
renew own
for _ in $(seq 100); do gone "$user_proc" && break; sleep 0.02; done
gone "$user_proc" || { cat "$T/err" >&2; die "the service's own process was not signalled"; }
echo "$root_proc" >"$T/root.pid"
renew rootsvc
for _ in $(seq 100); do gone "$root_proc" && break; sleep 0.02; done
gone "$root_proc" || { cat "$T/err" >&2; die "root's pidfile naming a root process was not signalled"; }
ok "the pidfile owner's own process is signalled (service and root)"
