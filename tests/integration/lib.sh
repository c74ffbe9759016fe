# Shared helpers of the integration tests (sourced). Each test exits 77 (meson's skip) with a printed
# reason when something it needs cannot run. Every helper is written once, here or in the library of
# the peer it drives, sourced after this one:
#   lib.sh              temp dir and cleanup, ok/die/skip/need/expect/until_ok, ports, serial, pins,
#                       message ids, the inventory sections most tests share (conf_agent, conf_ca,
#                       conf_leaf, conf_token_*), a Knot DNS configuration's common part, a stand-in
#                       notify socket, a private system bus, gnutls-serv on a PKCS#11 key
#   lib-nginx.sh        a host nginx serving TLS             lib-postgres.sh   a PostgreSQL server
#   20-acme/lib-pebble.sh  pebble, Knot DNS, the fault-injecting ACME proxy
#   lib-container.sh    a booted systemd container           lib-deb.sh        the Debian package
set -euo pipefail

CERTHERD=${CERTHERD:?set CERTHERD to the certherd binary}
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd) # the source tree
T=$(mktemp -d /tmp/certherd-it.XXXXXX)
pids=()
cleanup() {
        local p
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
        wait 2>/dev/null || true
        rm -rf "$T"
}
trap cleanup EXIT

n_ok=0
ok() { n_ok=$((n_ok + 1)); echo "ok $n_ok - $*"; }
die() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
need() { command -v "$1" >/dev/null || skip "$1 is not installed (apt-get install -y ${2:-$1})"; }

# expect CODE CMD…: run, assert the exit code
expect() {
        local want=$1 rc=0
        shift
        "$@" >"$T/out" 2>"$T/err" || rc=$?
        [[ $rc == "$want" ]] || { cat "$T/out" "$T/err" >&2; die "'$*' exited $rc, expected $want"; }
}

# until_ok SECONDS WHAT CMD…: retry CMD every 0.5 s; when it never succeeds, show the test's logs (its
# function `logs`, if it has one) and die naming WHAT.
until_ok() {
        local limit=$1 what=$2 i
        shift 2
        for ((i = 0; i < limit * 2; i++)); do
                "$@" && return 0
                sleep 0.5
        done
        ! declare -F logs >/dev/null || logs
        die "$what (after ${limit}s)"
}

# free_port: a loopback port nothing listens on now, and not one this test was handed before: the kernel
# may hand back the port it just gave (a test that asked twice would give two servers the same one).
# Remembered in $T, as each call runs in a subshell.
free_port() {
        python3 - "$T/ports" <<'PY'
import socket, sys
try:
    used = set(open(sys.argv[1]).read().split())
except FileNotFoundError:
    used = set()
for _ in range(100):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = str(s.getsockname()[1])
    s.close()
    if port not in used:
        break
else:
    sys.exit("no free port after 100 tries")
with open(sys.argv[1], "a") as f:
    f.write(port + "\n")
print(port)
PY
}

wait_port() { # port
        local i
        for i in $(seq 100); do
                (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
                sleep 0.05
        done
        die "nothing listens on port $1"
}

spki_pin() { # cert
        openssl x509 -pubkey -noout -in "$1" | openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary | base64
}

# serial [CERT]: CERT's serial (or that of the PEM certificate on stdin) as certherd prints it: lowercase
# hex without leading zero bytes.
serial() {
        openssl x509 -noout -serial ${1:+-in "$1"} | cut -d= -f2 | tr A-F a-f | sed 's/^\(00\)*//'
}

# pin_field NAME FIELD: a field of the published $T/pins/NAME.json ("" when it is absent or null).
pin_field() {
        python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]) or "")' \
                "$T/pins/$1.json" "$2"
}

# msgid NAME: the journal MESSAGE_ID certherd logs CERTHERD_MESSAGE_NAME with.
msgid() {
        sed -n "s/^#define CERTHERD_MESSAGE_$1 *\"\\(.*\\)\"/\\1/p" \
                "$(dirname "${BASH_SOURCE[0]}")/../../agent/basic/message-id.h"
}

# Inventory sections that most tests write alike, for use inside a heredoc as $(conf_…); each further
# argument is one more "key = value" line of the section:
#   conf_agent [LINE…]              [agent] with the state and pin directories under $T
#   conf_agent_in DIR [LINE…]       the same under DIR (a second inventory, or one per host)
#   conf_ca NAME FILE [LINE…]       [ca "NAME"] with certificate FILE.crt and key FILE.key
#   conf_leaf NAME CA FILE [LINE…]  [certificate "NAME"] issued by ca:CA (whose certificate is FILE.crt;
#                                   FILE "": no `ca =`, the set trusts its CA's bundle),
#                                   its certificate and key $T/tls/NAME.crt and .key
conf_agent() {
        conf_agent_in "$T" "$@"
}
conf_agent_in() {
        printf '[agent]\nstate-directory = %s\npin-directory = %s' "$1/state" "$1/pins"
        conf_lines "${@:2}"
}
conf_ca() {
        printf '[ca "%s"]\ncertificate = %s.crt\nkey = %s.key' "$1" "$2" "$2"
        conf_lines "${@:3}"
}
conf_leaf() {
        printf '[certificate "%s"]\ncertificate = %s/tls/%s.crt\nkey = %s/tls/%s.key' "$1" "$T" "$1" "$T" "$1"
        [[ -z $3 ]] || printf '\nca = %s.crt' "$3"
        printf '\nissuer = ca:%s' "$2"
        conf_lines "${@:4}"
}
# The same with the keys in the PKCS#11 token $TOKEN (a pkcs11: URI), its PIN in $T/pin:
#   conf_token_ca NAME FILE [LINE…]         [ca "NAME"], its key the token's object "ca"
#   conf_token_leaf NAME CA FILE [LINE…]    [certificate "NAME"], its key the token's object NAME
conf_token_ca() {
        printf '[ca "%s"]\ncertificate = %s.crt\nkey = %s;object=ca\npkcs11-pin-file = %s/pin' "$1" "$2" "$TOKEN" "$T"
        conf_lines "${@:3}"
}
conf_token_leaf() {
        printf '[certificate "%s"]\ncertificate = %s/tls/%s.crt\nkey = %s;object=%s\npkcs11-pin-file = %s/pin' \
                "$1" "$T" "$1" "$TOKEN" "$1" "$T"
        printf '\nca = %s.crt\nissuer = ca:%s' "$3" "$2"
        conf_lines "${@:4}"
}
# token_serve NAME: gnutls-serv --http with $T/tls/NAME.crt and the key object NAME of $TOKEN through the
# PKCS#11 module $module (PIN as it is in $T/pin.raw), on a free port $serve_port; its pid in $serve_pid.
token_serve() {
        serve_port=$(free_port)
        gnutls-serv --provider "$module" --http -p "$serve_port" --x509certfile "$T/tls/$1.crt" \
                --x509keyfile "$TOKEN;object=$1;type=private?pin-source=$T/pin.raw" >"$T/serv.log" 2>&1 &
        serve_pid=$!
        pids+=("$serve_pid")
        wait_port "$serve_port"
}
conf_lines() {
        (($# == 0)) || printf '\n%s' "$@"
}

# knot_conf DIR LISTEN: the server, log and database sections of a Knot DNS configuration kept in DIR,
# listening on LISTEN (ADDRESS@PORT); the caller adds its keys and zones.
knot_conf() {
        cat <<CONF
server:
    rundir: "$1"
    listen: $2
    background-workers: 1
    udp-workers: 1
    tcp-workers: 1
log:
  - target: "$1/knot.log"
    any: info
database:
    storage: "$1"
CONF
}

# notify_listen: a stand-in for systemd's notify socket on $T/notify (pass NOTIFY_SOCKET=$T/notify to the
# daemon); what the daemon sends is logged to $T/notify.log.
notify_listen() {
        local i
        python3 "$TOP/tests/integration/notify-listen.py" "$T/notify" "$T/notify.log" &
        pids+=($!)
        for i in $(seq 100); do [[ -S $T/notify ]] && break; sleep 0.05; done
}

# private_system_bus: a dbus-daemon of the system bus's type on $T/system_bus_socket, with certherd's
# bus policy (units/org.certherd1.conf) and otherwise the stock system bus's defaults; exports
# DBUS_SYSTEM_BUS_ADDRESS so that the daemon and the CLI meet there.
private_system_bus() {
        local t i
        {
                cat <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$T/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
CONF
                for t in method_return error; do
                        echo "    <allow send_requested_reply=\"true\" send_type=\"$t\"/>"
                done
                for t in method_call method_return error signal; do
                        echo "    <allow receive_type=\"$t\"/>"
                done
                for t in "" .Introspectable .Properties; do
                        echo "    <allow send_destination=\"org.freedesktop.DBus\" send_interface=\"org.freedesktop.DBus$t\"/>"
                done
                echo "  </policy>"
                echo "  <include>$TOP/units/org.certherd1.conf</include>"
                echo "</busconfig>"
        } >"$T/bus.conf"
        dbus-daemon --config-file="$T/bus.conf" --nofork --nopidfile 2>"$T/dbus.log" &
        pids+=($!)
        for i in $(seq 100); do [[ -S $T/system_bus_socket ]] && break; sleep 0.05; done
        [[ -S $T/system_bus_socket ]] || { cat "$T/dbus.log" >&2; die "dbus-daemon did not start"; }
        export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$T/system_bus_socket
}
