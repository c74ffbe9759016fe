#!/bin/bash
# Keys in a software TPM through PKCS#11: swtpm (a TPM 2.0 simulator on loopback TCP),
# tpm2-abrmd as its resource manager on a private D-Bus session bus (tpm2-pkcs11 keeps more objects
# loaded than a bare TPM holds), and tpm2-pkcs11 as the module certherd loads ([agent] pkcs11-module).
# The same flow as 45-pkcs11-softhsm: an internal CA whose key is in the TPM issues a leaf whose key is
# in the TPM; no private key file; gnutls-serv serves the leaf and curl --pinnedpubkey connects;
# key-policy = rotate makes the next key inside the TPM and the certificate follows the announced pin.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
need swtpm swtpm; need tpm2_ptool libtpm2-pkcs11-tools; need tpm2-abrmd tpm2-abrmd; need dbus-daemon dbus
need p11tool gnutls-bin; need gnutls-serv gnutls-bin; need curl; need openssl; need python3
module=
for m in /usr/lib/*-linux-gnu/pkcs11/libtpm2_pkcs11.so /usr/lib/pkcs11/libtpm2_pkcs11.so; do [[ -f $m ]] && { module=$m; break; }; done
[[ -n $module ]] || skip "no libtpm2_pkcs11.so (apt-get install -y libtpm2-pkcs11-1)"
ls /usr/lib/*-linux-gnu/libtss2-tcti-swtpm.so* >/dev/null 2>&1 || skip "no swtpm TCTI (apt-get install -y libtss2-tcti-swtpm0)"
ls /usr/lib/*-linux-gnu/libtss2-tcti-tabrmd.so* >/dev/null 2>&1 || skip "no tabrmd TCTI (apt-get install -y libtss2-tcti-tabrmd0)"

# tpm2-pkcs11 (OpenSSL inside) leaks a few bytes per process; not ours, so not the sanitizer's business.
printf 'leak:libtpm2_pkcs11\nleak:libcrypto\nleak:libtss2\n' >"$T/lsan.supp"
export LSAN_OPTIONS="suppressions=$T/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

mkdir -p "$T/tpm/state" "$T/tpm/store"
# swtpm takes two ports, PORT and PORT+1: both must be free, or it exits at once.
port=$(python3 -c '
import socket
for _ in range(100):
    a, b = socket.socket(), socket.socket()
    a.bind(("127.0.0.1", 0))
    p = a.getsockname()[1]
    try:
        b.bind(("127.0.0.1", p + 1))
    except OSError:
        continue
    print(p)
    break
')
[[ $port ]] || die "no two consecutive free ports for swtpm"
swtpm socket --tpm2 --tpmstate "dir=$T/tpm/state" --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
        --ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" --flags not-need-init,startup-clear \
        >"$T/tpm/swtpm.log" 2>&1 &
swtpm=$!
pids+=($swtpm)
for i in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        kill -0 "$swtpm" 2>/dev/null || die "swtpm exited: $(cat "$T/tpm/swtpm.log")"
        sleep 0.05
done
wait_port "$port"
dbus-daemon --session --nofork --print-address=3 3>"$T/tpm/bus" >"$T/tpm/dbus.log" 2>&1 &
pids+=($!)
for i in $(seq 100); do [[ -s $T/tpm/bus ]] && break; sleep 0.05; done
[[ -s $T/tpm/bus ]] || skip "dbus-daemon --session did not start: $(cat "$T/tpm/dbus.log")"
export DBUS_SESSION_BUS_ADDRESS=$(head -1 "$T/tpm/bus")
tpm2-abrmd --session --allow-root --tcti="swtpm:host=127.0.0.1,port=$port" >"$T/tpm/abrmd.log" 2>&1 &
pids+=($!)
export TPM2TOOLS_TCTI="tabrmd:bus_type=session" TPM2_PKCS11_TCTI="tabrmd:bus_type=session" TPM2_PKCS11_STORE=$T/tpm/store
for i in $(seq 100); do tpm2_getrandom 4 --hex >/dev/null 2>&1 && break; sleep 0.1; done
tpm2_getrandom 4 --hex >/dev/null 2>&1 || skip "tpm2-abrmd does not answer on the session bus: $(cat "$T/tpm/abrmd.log")"
tpm2_ptool init --path "$T/tpm/store" >"$T/tpm/ptool.log" 2>&1 &&
        tpm2_ptool addtoken --pid=1 --label=tpm-test --userpin=2468 --sopin=13579 --path "$T/tpm/store" >>"$T/tpm/ptool.log" 2>&1 ||
        skip "tpm2_ptool cannot make a token: $(tail -3 "$T/tpm/ptool.log")"
printf '2468\n' >"$T/pin"
printf '2468' >"$T/pin.raw"
TOKEN="pkcs11:token=tpm-test"
P11() { p11tool --provider "$module" "$@"; }
ok "swtpm on 127.0.0.1:$port, tpm2-abrmd on a private session bus, tpm2-pkcs11 token tpm-test"

cat >"$T/certherd.conf" <<CONF
$(conf_agent "pkcs11-module = $module")

$(conf_token_ca tpm "$T/ca/tpm")

$(conf_token_leaf web tpm "$T/ca/tpm" "names = localhost 127.0.0.1" "key-policy = rotate")
CONF
C() { "$CERTHERD" -c "$T/certherd.conf" "$@"; }
json() { pin_field web "$1"; }
objects() { GNUTLS_PIN=2468 P11 --login --list-all "$TOKEN" 2>/dev/null | awk '/Label:/ { print $2 }' | sort -u | tr '\n' ' '; }

expect 0 C ca init tpm
expect 0 C renew
openssl verify -CAfile "$T/ca/tpm.crt" "$T/tls/web.crt" >/dev/null || die "the leaf does not verify against the TPM CA"
[[ $(objects) == "ca web web.next " ]] || die "TPM token objects: $(objects)"
f=$(grep -rl -e 'PRIVATE KEY' "$T" --exclude-dir=tpm 2>/dev/null || true)
[[ -z $f ]] || die "a private key file exists: $f"
expect 0 C check web
ok "the CA key and the leaf key are in the TPM ($(objects)); the leaf verifies; no key files; check is ok"

pin=$(json pin_sha256) next=$(json next_pin_sha256)
[[ $pin == "$(spki_pin "$T/tls/web.crt")" && -n $next && $next != "$pin" ]] || die "pins: $(cat "$T/pins/web.json")"
token_serve web
curl -fsS -o /dev/null --max-time 10 --cacert "$T/ca/tpm.crt" --pinnedpubkey "sha256//$pin" "https://localhost:$serve_port/" ||
        die "curl --pinnedpubkey against gnutls-serv with the TPM key: $(cat "$T/serv.log")"
kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
ok "gnutls-serv signs with the TPM key; curl --pinnedpubkey with the published pin connects"

expect 0 C renew --force web
[[ $(spki_pin "$T/tls/web.crt") == "$next" ]] || die "the rotated certificate is not for the announced next key"
[[ $(objects) == "ca web web.next web.old " ]] || die "TPM token objects after rotation: $(objects)"
expect 0 C check web
ok "rotate: the next key was made in the TPM, the certificate is for the announced pin; web.old kept"
echo "$n_ok passed, 0 failed"
