#!/bin/bash
# An ACME set whose `ca =` is wrong: the issued certificate fails certherd's own chain
# check and is not installed; it is kept (STATE/certs/NAME.pending.pem), `renew` says why and exits 1, and
# no new order is placed while the inventory and the files stay as they are (pebble's log counts the
# issuances). Once `ca` is fixed, the kept certificate is installed without ordering again.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../20-acme/lib-pebble.sh"
need dig bind9-dnsutils

knot_start
pebble_start
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=not pebble" \
        -keyout "$T/wrong.key" -out "$T/wrong.pem" 2>/dev/null
acme_conf "$T/c.conf" peb <<CONF
listen = 127.0.0.1:$HTTP_PORT
CONF
acme_cert "$T/c.conf" www peb www.acme.test
sed -i "s|^ca = $T/pebble/root.pem|ca = $T/wrong.pem|" "$T/c.conf"
C() { "$CERTHERD" -c "$T/c.conf" "$@"; }
issued() { grep -c "Issued certificate serial" "$T/pebble/log" || true; }

expect 1 C renew
grep -q "^www: renewal failed: .*untrusted-chain" "$T/out" || die "$(cat "$T/out" "$T/err")"
[[ -s $T/state/certs/www.pending.pem && -s $T/state/certs/www.pending.key ]] || die "the issued certificate was not kept"
[[ ! -e $T/tls/www.crt ]] || die "installed although refused"
n=$(issued)
[[ $n -ge 1 ]] || die "pebble issued nothing? $(tail -5 "$T/pebble/log")"
ok "a wrong ca: the issued certificate is refused, kept, and renew exits 1 saying why"

expect 1 C renew --log-level debug
grep -q "^www: renewal held: .*untrusted-chain.*no new order until the inventory or its files change" "$T/out" ||
        die "$(cat "$T/out" "$T/err")"
expect 2 C check --json
python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))["certificates"][0]
p = [x for x in c["problems"] if x["code"] == "renewal-failing"][0]
assert "pending.pem" in p["message"] and "untrusted-chain" in p["message"], p
' "$T/out" || die "check --json: $(cat "$T/out")"
[[ $(issued) == "$n" ]] || die "ordered again with unchanged inputs"
ok "held: no new order while the inventory and files are unchanged; check shows why"

sed -i "s|^ca = $T/wrong.pem|ca = $T/pebble/root.pem|" "$T/c.conf"
expect 0 C renew
grep -q "1 renewed, 0 not due, 0 failed" "$T/out" || die "$(cat "$T/out" "$T/err")"
[[ $(issued) == "$n" ]] || die "ordered again instead of installing the kept certificate"
[[ ! -e $T/state/certs/www.pending.pem ]] || die "the kept certificate is still pending"
verify_chain www
expect 0 C check
ok "after fixing ca the kept certificate is installed without a new order"
