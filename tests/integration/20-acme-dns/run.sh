#!/bin/bash
# dns-01 through the shipped nsupdate hook (conf/dns-hook-nsupdate.example) against a real authoritative
# server (Knot DNS, RFC 2136 with TSIG) that pebble queries; a wildcard; and an order resumed after
# certherd is killed in the middle of it.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../20-acme/lib-pebble.sh"
need dig bind9-dnsutils
need nsupdate bind9-dnsutils
top=$(cd "$(dirname "$0")/../../.." && pwd)
hook=$top/conf/dns-hook-nsupdate.example
[[ -x $hook ]] || die "no executable $hook"

knot_start
pebble_start PEBBLE_AUTHZREUSE=0 # every order validates afresh
export NSUPDATE_SERVER=127.0.0.1 NSUPDATE_PORT=$DNS_PORT NSUPDATE_TSIG="hmac-sha256:acme-update:$TSIG_SECRET"
export NSUPDATE_ZONE=$ZONE NSUPDATE_TTL=1 NSUPDATE_WAIT=5

# A wrapper that logs each call, and kills certherd (its parent) on the first `add` when asked to.
cat >"$T/hook" <<HOOK
#!/bin/bash
echo "\$*" >>"$T/hook.log"
if [[ \$1 == add && -e "$T/kill-once" ]]; then
        rm -f "$T/kill-once"
        kill -9 \$PPID
        exit 1
fi
exec "$hook" "\$@"
HOOK
chmod +x "$T/hook"

acme_conf "$T/c.conf" peb "challenge = dns-01" "dns-hook = $T/hook"
acme_cert "$T/c.conf" wild peb "*.wild.$ZONE" "wild.$ZONE"
C() { "$CERTHERD" -c "$T/c.conf" "$@"; }

expect 0 C renew
grep -q "1 renewed, 0 not due, 0 failed" "$T/out" || die "renew: $(cat "$T/out" "$T/err")"
verify_chain wild
openssl x509 -in "$T/tls/wild.crt" -noout -ext subjectAltName | grep -q "DNS:\*.wild.$ZONE" || die "no wildcard SAN"
(($(grep -c "^add wild.$ZONE " "$T/hook.log") == 2)) || die "hook calls: $(cat "$T/hook.log")"
(($(grep -c "^remove wild.$ZONE " "$T/hook.log") == 2)) || die "records not removed: $(cat "$T/hook.log")"
[[ -z $(dig +short -p "$DNS_PORT" @127.0.0.1 "_acme-challenge.wild.$ZONE" TXT) ]] || die "TXT records left in the zone"
ok "dns-01 via the nsupdate hook and Knot: a wildcard and its base name; records added, then removed"

# --- killed in the middle of an order: the next run resumes the same order
: >"$T/hook.log"
touch "$T/kill-once"
rc=0
C renew --force wild >"$T/out" 2>"$T/err" || rc=$?
[[ $rc == 137 ]] || die "certherd was not killed by the hook (exit $rc): $(cat "$T/err")"
order=$(python3 -c "import json; print(json.load(open('$T/state/acme/peb/orders/wild.json'))['order'])") ||
        die "no order persisted"
expect 0 C renew wild # the installed certificate is fine: nothing due, the order waits
grep -q "1 not due" "$T/out" || die "$(cat "$T/out")"
expect 0 C renew --force wild
grep -q "resuming order $order (pending)" "$T/err" || die "order not resumed: $(cat "$T/err")"
grep -q "newOrder" "$T/err" && die "a new order was made: $(cat "$T/err")"
verify_chain wild
[[ ! -e $T/state/acme/peb/orders/wild.json ]] || die "order state left after success"
ok "certherd killed mid-order: the next run resumes order $order and finishes it"

# --- a hook that fails: clear error, nothing installed
sum=$(sha256sum "$T/tls/wild.crt" "$T/tls/wild.key")
sed -i "s#^dns-hook = .*#dns-hook = /bin/false#" "$T/c.conf"
expect 1 C renew --force wild
grep -q "dns-hook '/bin/false add wild.$ZONE' failed with exit status 1" "$T/err" || die "$(cat "$T/err")"
[[ $(sha256sum "$T/tls/wild.crt" "$T/tls/wild.key") == "$sum" ]] || die "files changed after a failed order"
ok "a failing hook: its exit status in the error, installed files untouched"
echo "$n_ok passed"
