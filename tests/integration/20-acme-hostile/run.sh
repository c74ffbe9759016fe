#!/bin/bash
# A hostile or broken ACME server and hostile neighbours, through the
# python3 proxy in front of pebble: an authorization for an identifier with a newline (nsupdate
# injection) or for a name never ordered, authorization URLs on another origin, an order kept "pending"
# forever (bounded request rate, the order's deadline), 1 000 idle connections, arrivals and 80 slow clients flooding the http-01 responder
# while pebble validates, and the dns-hook inheriting no descriptor of libcurl's.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../20-acme/lib-pebble.sh"
need dig bind9-dnsutils; need nsupdate bind9-dnsutils

knot_start
pebble_start PEBBLE_AUTHZREUSE=0

# dns-01 through the shipped nsupdate example, behind a wrapper that records its calls and what it inherited.
export NSUPDATE_SERVER=127.0.0.1 NSUPDATE_PORT=$DNS_PORT NSUPDATE_TSIG="hmac-sha256:acme-update:$TSIG_SECRET"
export NSUPDATE_ZONE=$ZONE NSUPDATE_TTL=1 NSUPDATE_WAIT=5
cat >"$T/hook" <<HOOK
#!/bin/bash
echo "\$1 \$2" >>"$T/hook.log"
# what this shell got from certherd (ls runs as a child: the listing is the shell's own descriptors; no pipeline, whose pipe the shell holds)
ls -l /proc/\$\$/fd >"$T/hook-fds.raw"
awk '\$9 ~ /^[0-9]+\$/ && \$9 > 2 && \$9 != 255 { print "fd " \$9 ": " \$11 }' "$T/hook-fds.raw" >>"$T/hook-fds.log"
exec "$TOP/conf/dns-hook-nsupdate.example" "\$@"
HOOK
chmod +x "$T/hook"
acme_conf "$T/c.conf" peb "challenge = dns-01" "dns-hook = $T/hook"
sed -i "s#^directory = .*#directory = https://localhost:$PROXY_PORT/dir#" "$T/c.conf"
acme_cert "$T/c.conf" web peb "web.$ZONE"
C() { "$CERTHERD" -c "$T/c.conf" "$@"; }

# --- the sanity run through the proxy: and the hook inherited nothing but stdin/out/err
start_proxy
expect 0 C renew
verify_chain web
[[ ! -s $T/hook-fds.log ]] || die "the dns-hook inherited descriptors: $(cat "$T/hook-fds.log")"
stop_proxy
ok "dns-01 through the proxy; the dns-hook inherited no descriptor (libcurl's sockets are close-on-exec)"
snapshot() { sha256sum "$T/tls/web.crt" "$T/tls/web.key"; }
before=$(snapshot)
# pebble may reuse a valid authorization (whatever PEBBLE_AUTHZREUSE says), and then the order is ready
# at once and no authorization is fetched: each case below orders a name never validated before.
fresh_name() { sed -i "s/^names = .*/names = $1.$ZONE/" "$T/c.conf"; rm -f "$T"/state/acme/peb/orders/*; }

# --- an identifier with a newline: refused before the hook runs, nothing injected into the zone
: >"$T/hook.log"
fresh_name inject
start_proxy --authz-identifier $'web.acme.test\nupdate add evil.acme.test. 60 IN TXT "injected"'
expect 1 C renew --force web
grep -qF 'for identifier "web.acme.test\nupdate add evil.acme.test. 60 IN TXT \"injected\"" (type dns), which is no DNS name or IP address: refused' "$T/err" ||
        die "no clear error: $(cat "$T/err")"
[[ ! -s $T/hook.log ]] || die "the hook ran: $(cat "$T/hook.log")"
[[ -z $(dig +short -p "$DNS_PORT" @127.0.0.1 evil.acme.test TXT) ]] || die "injected into the zone"
[[ $(snapshot) == "$before" ]] || die "files changed"
stop_proxy
ok "an authorization for 'web.acme.test<newline>update add …': refused with the identifier escaped, no hook run"

# the shipped example hook refuses such arguments itself, whoever calls it
rc=0
"$TOP/conf/dns-hook-nsupdate.example" add $'web.acme.test\nupdate add evil.acme.test. 60 IN TXT "x"' abc 2>"$T/hook.err" || rc=$?
[[ $rc == 2 ]] && grep -q "refusing domain" "$T/hook.err" || die "example hook: exit $rc: $(cat "$T/hook.err")"
rc=0
"$TOP/conf/dns-hook-nsupdate.example" add "web.$ZONE" 'abc" ; update add evil' 2>"$T/hook.err" || rc=$?
[[ $rc == 2 ]] && grep -q "refusing value" "$T/hook.err" || die "example hook: exit $rc: $(cat "$T/hook.err")"
[[ -z $(dig +short -p "$DNS_PORT" @127.0.0.1 evil.acme.test TXT) ]] || die "injected into the zone"
ok "the example nsupdate hook refuses a domain with a newline and a value with a quote"

fresh_name unordered
start_proxy --authz-identifier "other.$ZONE"
expect 1 C renew --force web
grep -qF "for \"other.$ZONE\", which was not ordered: refused" "$T/err" || die "no clear error: $(cat "$T/err")"
[[ ! -s $T/hook.log ]] || die "the hook ran: $(cat "$T/hook.log")"
stop_proxy
ok "an authorization for a name that was not ordered: refused"

# --- authorization URLs on another origin: not a single request goes there
FOREIGN_PORT=$(free_port)
start_hang "$FOREIGN_PORT" "$T/foreign.log"
sleep 0.3 # wait_port's own connection is logged
seen=$(wc -l <"$T/foreign.log")
fresh_name foreign
start_proxy --foreign-authz "$FOREIGN_PORT"
expect 1 C renew --force web
grep -qF "https://localhost:$FOREIGN_PORT/authZ/" "$T/err" &&
        grep -qF "the server sent a URL outside the directory's origin https://localhost:$PROXY_PORT: refused" "$T/err" ||
        die "no clear error: $(cat "$T/err")"
(($(wc -l <"$T/foreign.log") == seen)) || die "something was sent to the other origin: $(cat "$T/foreign.log")"
[[ $(snapshot) == "$before" ]] || die "files changed"
stop_proxy
ok "authorization URLs on another port: refused, nothing sent there"

# --- an order kept pending forever: polled with backoff, given up at the order's deadline (http-01 from
# here on: the built-in responder)
sed -i "s#^challenge = dns-01#listen = 127.0.0.1:$HTTP_PORT#; /^dns-hook/d" "$T/c.conf"
fresh_name pending
start_proxy --order-status pending
t0=$EPOCHREALTIME
rc=0
CERTHERD_TEST_ORDER_DEADLINE=6 timeout 60 "$CERTHERD" -c "$T/c.conf" renew --force web >"$T/out" 2>"$T/err" || rc=$?
took=$(elapsed "$t0")
[[ $rc == 1 ]] || die "exit $rc after $took s: $(tail -5 "$T/err")"
polls=$(grep -c "POST /my-order/" "$T/proxy.log" || true)
grep -q "is still pending after 6 s, giving up for now" "$T/err" || die "no clear error: $(cat "$T/err")"
# it stops once the next poll would fall past the deadline
awk -v t="$took" 'BEGIN { exit !(t >= 2 && t < 15) }' || die "gave up after $took s, not at the 6 s deadline"
((polls <= 25)) || die "$polls order fetches in $took s: a busy loop"
[[ $(snapshot) == "$before" ]] || die "files changed"
stop_proxy
ok "an order pending forever: $polls fetches in $took s (Retry-After/backoff), given up at its deadline"
rm -f "$T"/state/acme/peb/orders/*

# --- the daemon honours SIGTERM within seconds while an order is pending (default 300 s deadline)
cp "$T/c.conf" "$T/d.conf"
acme_cert "$T/d.conf" fresh peb "fresh.$ZONE"
start_proxy --order-status pending
"$CERTHERD" -c "$T/d.conf" run 2>"$T/daemon.log" &
DAEMON=$!
pids+=("$DAEMON")
for i in $(seq 200); do (($(grep -c "POST /my-order/" "$T/proxy.log" || true) >= 3)) && break; sleep 0.1; done
(($(grep -c "POST /my-order/" "$T/proxy.log" || true) >= 3)) || die "the daemon does not poll the order: $(cat "$T/daemon.log")"
t0=$EPOCHREALTIME
kill -TERM "$DAEMON"
for i in $(seq 100); do kill -0 "$DAEMON" 2>/dev/null || break; sleep 0.1; done
took=$(elapsed "$t0")
kill -0 "$DAEMON" 2>/dev/null && die "still running $took s after SIGTERM: $(tail -5 "$T/daemon.log")"
wait "$DAEMON" || true
grep -q ": cancelled\|cancelled while order" "$T/daemon.log" || die "no word of the cancel: $(cat "$T/daemon.log")"
[[ -s $T/state/acme/peb/orders/fresh.json ]] || die "the order in flight was not kept for the next run"
stop_proxy
ok "certherd run with an order pending: SIGTERM honoured in $took s, the order kept for the next run"
rm -f "$T"/state/acme/peb/orders/*

# --- SIGTERM while a request waits for the server's answer: the daemon is gone within 0.5 s (libcurl's
# progress callback alone comes only once a second while nothing moves)
start_proxy --delay /my-order/ 30
"$CERTHERD" -c "$T/d.conf" run 2>"$T/daemon.log" &
DAEMON=$!
pids+=("$DAEMON")
for i in $(seq 300); do grep -q "^holding POST /my-order/" "$T/proxy.log" && break; sleep 0.1; done
grep -q "^holding POST /my-order/" "$T/proxy.log" || die "the daemon sent no order request: $(cat "$T/daemon.log")"
sleep 0.3 # well inside the held request
t0=$EPOCHREALTIME
kill -TERM "$DAEMON"
for i in $(seq 200); do kill -0 "$DAEMON" 2>/dev/null || break; sleep 0.02; done
took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
kill -0 "$DAEMON" 2>/dev/null && die "still running $took s after SIGTERM: $(tail -5 "$T/daemon.log")"
wait "$DAEMON" || true
awk -v t="$took" 'BEGIN { exit !(t < 0.5) }' || die "the daemon took $took s to stop during a request (over 0.5 s)"
stop_proxy
ok "certherd run waiting for the server's answer: stopped $took s after SIGTERM"
rm -f "$T"/state/acme/peb/orders/*

# --- a flood on the http-01 responder while pebble validates: 1 000 connections that send nothing held
# open, new ones arriving all the time, and 80 slow clients dribbling a request head that never ends
cat >"$T/flood.py" <<PY
import socket, sys, time
port, n, idle_n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
socks, idle, arrivals = [], [], []
end = time.time() + 60
def connect():
    try:
        return socket.create_connection(("127.0.0.1", port), timeout=1)
    except OSError:
        return None
while len(idle) < idle_n and time.time() < end:
    s = connect()
    if s:
        idle.append(s)
while time.time() < end:
    while len(socks) < n:
        s = connect()
        if not s:
            break
        try:
            s.sendall(b"GET /.well-known/")
            socks.append(s)
        except OSError:
            s.close()
            break
    for _ in range(20):  # arrivals: each stays open for a while, silent
        s = connect()
        if s:
            arrivals.append(s)
    while len(arrivals) > 400:
        arrivals.pop(0).close()
    alive = []
    for s in socks:
        try:
            s.sendall(b"X")
            alive.append(s)
        except OSError:
            s.close()
    socks = alive
    time.sleep(0.2)
PY
# The challenge POST is held 2 s by the proxy: the flood is in place before pebble connects.
fresh_name flood
start_proxy --delay /chalZ/ 2
python3 "$T/flood.py" "$HTTP_PORT" 80 1000 &
FLOOD=$!
pids+=("$FLOOD")
t0=$EPOCHREALTIME
expect 0 C renew --force web
took=$(elapsed "$t0")
kill "$FLOOD" 2>/dev/null || true
verify_chain web
grep -q "POST /chalZ/" "$T/proxy.log" || die "no challenge was answered: pebble validated nothing"
stop_proxy
ok "1 000 idle connections, arrivals and 80 slow clients on the http-01 responder: pebble's validation still went through ($took s)"
echo "$n_ok passed"
