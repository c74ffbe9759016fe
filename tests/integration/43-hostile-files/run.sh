#!/bin/bash
# Hostile neighbours on the file system:
#  - a FIFO at every input path (certificate, key, ca, key password file, -c, a conf.d file, pin FILE,
#    --password-file, a pidfile) never hangs a command: each exits promptly with one line naming the path
#    ("not a regular file (FIFO)"), and the daemon with a FIFO in its inventory gets READY=1 and honours
#    SIGTERM;
#  - a service user who owns the parent of an install target swaps the target directory for a link to
#    another directory: the install is refused and nothing is written there;
#  - SIGKILL at every crash point of an install, then `certherd recover`: a matching pair on disk.
source "$(dirname "$0")/../lib.sh"
need openssl; need python3; need timeout coreutils

mkdir -p "$T/etc/ca" "$T/tls" "$T/fifo" "$T/conf.d"
for f in cert key ca password config pin pid; do mkfifo "$T/fifo/$f"; done
cat >"$T/certherd.conf" <<CONF
$(conf_agent)

$(conf_ca internal "$T/etc/ca/internal" "validity = 30d")

$(conf_leaf good internal "$T/etc/ca/internal")
names = good.test

[certificate "fifo-cert"]
certificate = $T/fifo/cert
ca = $T/etc/ca/internal.crt
names = good.test

[certificate "fifo-key"]
certificate = $T/tls/good.crt
key = $T/fifo/key
ca = $T/etc/ca/internal.crt
names = good.test

[certificate "fifo-ca"]
certificate = $T/tls/good.crt
ca = $T/fifo/ca
names = good.test

[certificate "fifo-password"]
certificate = $T/tls/good.crt
key = $T/tls/good.key
key-password-file = $T/fifo/password
ca = $T/etc/ca/internal.crt
names = good.test

$(conf_leaf fifo-pid internal "$T/etc/ca/internal" "names = pid.test")
signal = HUP $T/fifo/pid

$(conf_leaf crashy internal "$T/etc/ca/internal")
names = crashy.test
CONF
C() { "$CERTHERD" -c "$T/certherd.conf" "$@"; }
CC=("$CERTHERD" -c "$T/certherd.conf") # for `timeout`, which cannot run a function
expect 0 C ca init internal
expect 0 C renew good crashy

# run CODE|any CMD…: under `timeout 10`; a hang (124) is the bug this test is about.
run() {
        local want=$1 rc=0
        shift
        timeout 10 "$@" >"$T/out" 2>"$T/err" </dev/null || rc=$?
        [[ $rc != 124 ]] || die "'$*' hung (killed after 10 s)"
        [[ $want == any || $rc == "$want" ]] || { cat "$T/out" "$T/err" >&2; die "'$*' exited $rc, expected $want"; }
}
# one_line PATH: stderr is exactly one line, naming PATH as not a regular file (FIFO).
one_line() {
        [[ $(wc -l <"$T/err") == 1 ]] || { cat "$T/err" >&2; die "expected one line on stderr"; }
        grep -qF "$1: not a regular file (FIFO)" "$T/err" || { cat "$T/err" >&2; die "stderr does not name $1"; }
}
# problem NAME PATH: check --json reports NAME critical, unreadable: "PATH: not a regular file (FIFO)".
problem() {
        run 2 "${CC[@]}" --json check "$1"
        python3 - "$T/out" "$2" "$3" <<'PY' || { cat "$T/out" >&2; die "$1: no such problem"; }
import json, sys
c = json.load(open(sys.argv[1]))["certificates"][0]
want = f"{sys.argv[2]}: not a regular file (FIFO)"
assert c["state"] == "critical", c
assert any(p["code"] == sys.argv[3] and want in p["message"] for p in c["problems"]), c["problems"]
PY
}

# --- FIFOs at every input path
problem fifo-cert "$T/fifo/cert" unreadable
run 2 "${CC[@]}" status
grep -q "^fifo-cert  *critical .* unreadable" "$T/out" || { cat "$T/out" >&2; die "status: fifo-cert not unreadable"; }
run 2 "${CC[@]}" check fifo-cert
grep -qxF "critical fifo-cert: unreadable: $T/fifo/cert: not a regular file (FIFO)" "$T/out" ||
        { cat "$T/out" >&2; die "check does not show the unreadable certificate"; }
problem fifo-key "$T/fifo/key" unreadable
problem fifo-ca "$T/fifo/ca" untrusted-chain
problem fifo-password "" unreadable
ok "check and status: a FIFO as certificate, key, ca or key password file is reported at once"

run 3 "$CERTHERD" -c "$T/fifo/config" check
one_line "$T/fifo/config"
mkdir -p "$T/cd"
cp "$T/certherd.conf" "$T/cd/certherd.conf"
mkdir "$T/cd/conf.d"
mkfifo "$T/cd/conf.d/50-fifo.conf"
run 3 "$CERTHERD" -c "$T/cd/certherd.conf" check
one_line "$T/cd/conf.d/50-fifo.conf"
ok "-c FIFO and a FIFO in conf.d: exit 3 with one line naming the file"

run 3 "$CERTHERD" pin "$T/fifo/pin"
one_line "$T/fifo/pin"
run 3 "$CERTHERD" pin --password-file "$T/fifo/password" "$T/tls/good.key"
one_line "$T/fifo/password"
ok "pin FILE and --password-file FIFO: exit 3 with one line naming the file"

# renew of a set whose signal pidfile is a FIFO: the install happens, the signal fails, nothing hangs.
run any "${CC[@]}" renew --force fifo-pid
grep -qF "$T/fifo/pid: not a regular file (FIFO)" "$T/err" ||
        { cat "$T/err" >&2; die "the failed signal does not name the pidfile"; }
[[ -s $T/tls/fifo-pid.crt ]] || die "fifo-pid was not installed"
# renew (reuse policy) of a set whose key is a FIFO: not read, not hung.
rc=0; timeout 10 "$CERTHERD" -c "$T/certherd.conf" renew --force fifo-key >/dev/null 2>&1 || rc=$?
[[ $rc != 124 ]] || die "renew with a FIFO key hung"
ok "renew with a FIFO as pidfile (and as key of a watched set) finishes"

# The daemon: a FIFO in the inventory, READY=1 and SIGTERM honoured.
notify_listen
NOTIFY_SOCKET=$T/notify "$CERTHERD" -c "$T/certherd.conf" run 2>"$T/daemon.log" &
daemon=$!
pids+=($daemon)
for i in $(seq 200); do grep -q "READY=1" "$T/notify.log" 2>/dev/null && break; sleep 0.05; done
grep -q "READY=1" "$T/notify.log" || { cat "$T/daemon.log" >&2; die "no READY=1 within 10 s with FIFOs in the inventory"; }
kill -TERM "$daemon"
for i in $(seq 100); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.05; done
! kill -0 "$daemon" 2>/dev/null || die "the daemon ignored SIGTERM for 5 s"
rc=0; wait "$daemon" || rc=$?
[[ $rc == 0 ]] || { cat "$T/daemon.log" >&2; die "the daemon exited $rc on SIGTERM"; }
ok "the daemon with FIFOs in its inventory: READY=1, then SIGTERM honoured"

# --- install target directory swapped for a link by the user who owns its parent
if [[ $(id -u) == 0 ]]; then
        mkdir -p "$T/home/svc/tls" "$T/victim"
        chmod 755 "$T" "$T/home"
        echo "another service's key" >"$T/victim/svc.key"
        chmod 600 "$T/victim/svc.key"
        chown -R 65534:65534 "$T/home/svc"
        cat >>"$T/certherd.conf" <<CONF

[certificate "svc"]
certificate = $T/home/svc/tls/svc.crt
key = $T/home/svc/tls/svc.key
names = svc.test
issuer = ca:internal
CONF
        expect 0 C renew svc
        mv "$T/home/svc/tls" "$T/home/svc/tls.old"
        ln -s "$T/victim" "$T/home/svc/tls"
        chown -h 65534:65534 "$T/home/svc/tls"
        before=$(ls -la "$T/victim" | md5sum)
        expect 1 C renew --force svc
        grep -q "svc" "$T/err" || { cat "$T/err" >&2; die "the refusal does not name the set"; }
        [[ $(ls -la "$T/victim" | md5sum) == "$before" ]] || { ls -la "$T/victim" >&2; die "files written through the link"; }
        [[ $(cat "$T/victim/svc.key") == "another service's key" ]] || die "the victim's key changed"
        ok "install refused when the user swaps the target directory for a link; nothing written there"
else
        echo "skip: the link-swap attack needs root to make a link owned by another user"
fi

# --- SIGKILL at every crash point of an install, then `certherd recover`
for k in $(seq 1 24); do
        rc=0
        (CERTHERD_TEST_KILL_POINT=$k "$CERTHERD" -c "$T/certherd.conf" renew --force crashy >/dev/null 2>&1) 2>/dev/null ||
                rc=$?
        [[ $rc == 137 ]] || die "k=$k: renew was not killed at the crash point (exit $rc)"
        expect 0 C recover
        [[ $k == 24 ]] || grep -q "crashy: recovered an interrupted install" "$T/err" ||
                { cat "$T/err" >&2; die "k=$k: recover did not report the set"; }
        cert_pin=$("$CERTHERD" pin "$T/tls/crashy.crt")
        key_pin=$("$CERTHERD" pin "$T/tls/crashy.key")
        [[ $cert_pin == "$key_pin" ]] || die "k=$k: key and certificate on disk are not one pair after recover"
        [[ -z $(ls -A "$T/state/install") ]] || die "k=$k: a record is left in $T/state/install"
        [[ -z $(ls -A "$T/tls" | grep '^\.') ]] || die "k=$k: staging files left in $T/tls"
done
expect 0 C recover
[[ ! -s $T/err ]] || { cat "$T/err" >&2; die "recover with nothing to do is not silent"; }
ok "SIGKILL at each of the 24 crash points, then recover: a matching pair every time"
echo "all $n_ok ok"
