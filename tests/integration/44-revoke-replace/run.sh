#!/bin/bash
# Revoke and replace, with an internal CA that publishes no CRL. `ca revoke NAME` alone: check calls the
# installed certificate revoked from certherd's own record (no CRL says so) and the next `renew` replaces
# it with a new key (key-policy = reuse notwithstanding). `ca revoke NAME --replace`: revoked, renewed at
# once with a new serial and a new key, and deployed (the exec hook sees the new certificate) — inline
# without a daemon, and through the daemon over a private system bus while `certherd run` runs.
source "$(dirname "$0")/../lib.sh"
need openssl; need dbus-daemon dbus

mkdir -p "$T/tls"
cat >"$T/hook" <<HOOK
#!/bin/sh
# what the deploy sees: the serial of the installed certificate and its pin
echo "\$(openssl x509 -in "\$CERTHERD_CERTIFICATE" -noout -serial | cut -d= -f2 | tr A-F a-f) \$CERTHERD_PIN" >>"$T/hook.log"
HOOK
chmod +x "$T/hook"
cat >"$T/certherd.conf" <<CONF
$(conf_agent)

$(conf_ca internal "$T/ca")

$(conf_leaf web internal "$T/ca")
names = web.internal
key-policy = reuse
exec = $T/hook
CONF
C() { "$CERTHERD" -c "$T/certherd.conf" "$@"; }
serial() { openssl x509 -in "$T/tls/web.crt" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f'; }
pin() { spki_pin "$T/tls/web.crt"; }

expect 0 C ca init internal
expect 0 C renew
s1=$(serial) p1=$(pin)
expect 0 C renew --force web
[[ $(pin) == "$p1" ]] || die "key-policy = reuse changed the key on a plain renewal"
s1=$(serial)

# --- revoke alone: revoked in check from certherd's record, no CRL anywhere; the next renew replaces it
expect 0 C ca revoke web --reason superseded
grep -q "has no crl" "$T/err" || die "no note that the CA publishes no CRL: $(cat "$T/err")"
[[ -s $T/state/revocations.json ]] || die "no revocation record"
expect 2 C --no-daemon check web
grep -q "^critical web: revoked: serial $s1 was revoked by certherd on .* (superseded)" "$T/out" ||
        die "check does not call it revoked: $(cat "$T/out")"
expect 2 C --no-daemon check --json
grep -q '"code": "revoked"' "$T/out" || die "check --json: $(cat "$T/out")"
expect 0 C renew
grep -q "web: renewing: certificate set is broken" "$T/err" || die "renew did not take the revoked set as due: $(cat "$T/err" "$T/out")"
grep -q "not reusing the key .*: its certificate was revoked" "$T/err" || die "no note about the new key: $(cat "$T/err")"
grep -q "1 renewed" "$T/out" || die "renew: $(cat "$T/out")"
s2=$(serial) p2=$(pin)
[[ $s2 != "$s1" && $p2 != "$p1" ]] || die "not replaced with a new key: $s1/$s2 $p1/$p2"
expect 0 C --no-daemon check web
expect 0 C renew
grep -q "0 renewed, 1 not due" "$T/out" || die "the replacement is still due: $(cat "$T/out")"
ok "ca revoke without a CRL: check says revoked (own record), the next renew replaces it with a new key, then ok"

# --- --replace, no daemon: revoked, renewed now with a new key, deployed
: >"$T/hook.log"
expect 0 C ca revoke web --replace
grep -q "revoked serial $s2" "$T/out" || die "ca revoke --replace: $(cat "$T/out" "$T/err")"
grep -q "1 renewed, 0 not due, 0 failed" "$T/out" || die "not renewed at once: $(cat "$T/out" "$T/err")"
s3=$(serial) p3=$(pin)
[[ $s3 != "$s2" && $p3 != "$p2" ]] || die "--replace: not a new serial and key"
[[ $(cat "$T/hook.log") == "$s3 $p3" ]] || die "the deploy hook did not see the new certificate: $(cat "$T/hook.log") (want $s3 $p3)"
expect 0 C ca list internal --json
python3 - "$T/out" "$s2" "$s3" <<'PY' || die "ca list: $(cat "$T/out")"
import json, sys
certs = {c["serial"]: c for c in json.load(open(sys.argv[1]))["certificates"]}
assert certs[sys.argv[2]]["status"] == "revoked", certs[sys.argv[2]]
assert certs[sys.argv[3]]["status"] == "valid", certs[sys.argv[3]]
PY
expect 0 C --no-daemon check web
expect 3 C ca revoke --ca internal --serial "$s3" --replace
expect 3 C renew --replace
expect 3 C ca rotate internal --replace
ok "ca revoke --replace (no daemon): new serial $s3 and a new key, deployed (the hook saw it), the old serial revoked in the index"

# --- --replace while the daemon runs: the daemon renews (over D-Bus), at once
private_system_bus
"$CERTHERD" -c "$T/certherd.conf" run 2>"$T/daemon.log" &
daemon=$!
pids+=("$daemon")
for i in $(seq 200); do grep -q "watching 1 certificates" "$T/daemon.log" && break; sleep 0.05; done
grep -q "watching 1 certificates" "$T/daemon.log" || die "the daemon did not start: $(cat "$T/daemon.log")"
for i in $(seq 100); do C status >/dev/null 2>&1 && break; sleep 0.05; done
: >"$T/hook.log"
expect 0 C ca revoke web --replace
s4=$(serial) p4=$(pin)
[[ $s4 != "$s3" && $p4 != "$p3" ]] || die "--replace through the daemon: not a new serial and key: $(cat "$T/out" "$T/err" "$T/daemon.log")"
grep -q "web: renewed" "$T/daemon.log" || die "the daemon did not do the renewal: $(cat "$T/daemon.log")"
grep -q "installed $T/tls/web.crt" "$T/err" && die "the CLI renewed inline beside the daemon: $(cat "$T/err")"
[[ $(cat "$T/hook.log") == "$s4 $p4" ]] || die "the deploy hook did not see the new certificate: $(cat "$T/hook.log")"
expect 0 C check web
ok "ca revoke --replace while certherd run runs: the daemon renewed at once (new serial and key), the hook saw it"

# --- revoke alone while the daemon runs: the daemon learns of it from the record and replaces it
expect 0 C ca revoke web --reason cessation-of-operation
for i in $(seq 200); do [[ $(serial) != "$s4" ]] && break; sleep 0.05; done
[[ $(serial) != "$s4" && $(pin) != "$p4" ]] || die "the daemon did not replace the revoked certificate: $(cat "$T/daemon.log")"
kill "$daemon"
wait "$daemon" 2>/dev/null || true
ok "ca revoke alone while certherd run runs: the daemon sees the record (inotify) and replaces the certificate with a new key"
echo "$n_ok passed, 0 failed"
