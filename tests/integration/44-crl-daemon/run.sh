#!/bin/bash
# CRLs that never expire: an internal CA with crl-validity = 30s under the running daemon
# (`certherd run`). The CRL is re-signed before its nextUpdate, period after period (read with
# `openssl crl -noout -nextupdate -crlnumber`: the number grows, nextUpdate is never in the past), each
# new CRL followed by the CA's exec hook — a script sending SIGHUP to this test's nginx, which runs
# outside systemd — and nginx (ssl_verify_client on, ssl_crl = that CRL) never refuses the good client,
# which connects in a loop throughout. Then the CA cannot sign (its key moved away): the daemon alerts
# (journal/stderr: when the CRL lapses) and `check` shows crl-expiring, then crl-expired, on the CA row;
# with the key back the daemon re-signs on its own.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
source "$here/../lib-nginx.sh"
need openssl; need curl; need python3; need nginx nginx-light

port=$(free_port)
mkdir -p "$T/ng"
cat >"$T/hup-nginx" <<HOOK
#!/bin/bash
# [ca] exec hook: the test's nginx re-reads its CRL on SIGHUP (a graceful reload).
echo "\$(date +%s) \$CERTHERD_NAME \$CERTHERD_CERTIFICATE" >>$T/hook.log
kill -HUP "\$(cat $T/ng/nginx.pid)"
HOOK
chmod +x "$T/hup-nginx"
cat >"$T/certherd.conf" <<CONF
$(conf_agent "metrics-file = $T/metrics.prom")

$(conf_ca fast "$T/ca/ca" "export = $T/export/ca.pem" "crl = $T/export/ca.crl" "crl-validity = 30s" \
        "exec = $T/hup-nginx")

$(conf_leaf server fast "$T/ca/ca")
names = localhost 127.0.0.1

$(conf_leaf good fast "$T/ca/ca")
names = good.client.test
usage = client
CONF
ch() { "$CERTHERD" -c "$T/certherd.conf" "$@"; }
crl_facts() { openssl crl -in "$T/export/ca.crl" -noout -nextupdate -crlnumber 2>/dev/null; }
next_update() { date -d "$(crl_facts | sed -n 's/^nextUpdate=//p')" +%s; }
crl_number() { crl_facts | sed -n 's/^crlNumber=//p'; }

expect 0 ch ca init fast
expect 0 ch renew
ng_setup "$T/ng" "$port" "$T/tls/server.crt" "$T/tls/server.key"
sed -i "s#^\( *\)ssl_certificate_key .*#&\n\1ssl_client_certificate $T/export/ca.pem;\n\1ssl_crl $T/export/ca.crl;\n\1ssl_verify_client on;#" \
        "$T/ng/nginx.conf"
ng_start "$T/ng" || die "nginx does not start"
pids+=($NG_PID)
trap 'ng_stop "$T/ng"; cleanup' EXIT
wait_port "$port"
code() {
        curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$T/export/ca.pem" \
                --cert "$T/tls/good.crt" --key "$T/tls/good.key" "https://localhost:$port/" || true
}
# Within 30 s, three answers in a row accept the good client (one could come from an old nginx worker).
accepted_again() {
        local end=$((SECONDS + 30)) streak=0
        while ((SECONDS < end)); do
                if [[ $(code) == 200 ]]; then
                        ((++streak >= 3)) && return 0
                else
                        streak=0
                fi
                sleep 0.2
        done
        return 1
}
[[ $(code) == 200 ]] || die "the good client is refused at the start"
ok "nginx with ssl_crl = certherd's 30-second CRL accepts the good client"

"$CERTHERD" -c "$T/certherd.conf" run 2>"$T/daemon.log" &
daemon=$!
pids+=($daemon)

# The client loop: one connection every 0.2 s, each result logged.
(
        while :; do echo "$(date +%s) $(code)"; sleep 0.2; done
) >"$T/clients.log" &
loop=$!
pids+=($loop)

# Three CRL validity periods: watch the CRL every second.
end=$((SECONDS + 80))
numbers=() last=
while ((SECONDS < end)); do
        now=$(date +%s) nu=$(next_update) n=$(crl_number)
        ((nu > now)) || die "the CRL lapsed: nextUpdate $(crl_facts) at $(date -u) ($(tail -5 "$T/daemon.log"))"
        [[ $last == "$n" ]] || { numbers+=("$n"); last=$n; }
        kill -0 "$daemon" 2>/dev/null || die "the daemon died: $(tail -5 "$T/daemon.log")"
        sleep 1
done
kill "$loop"; wait "$loop" 2>/dev/null || true
((${#numbers[@]} >= 5)) || die "the CRL was re-signed only ${#numbers[@]} times in 80 s: ${numbers[*]} ($(grep -c CRL "$T/daemon.log") log lines)"
for ((i = 1; i < ${#numbers[@]}; i++)); do
        ((numbers[i] > numbers[i - 1])) || die "CRL numbers do not increase: ${numbers[*]}"
done
ok "the daemon re-signed the 30 s CRL ${#numbers[@]} times in 80 s (numbers ${numbers[*]}), never past nextUpdate"
hooks=$(wc -l <"$T/hook.log")
((hooks >= ${#numbers[@]} - 1)) || die "the exec hook ran $hooks times for ${#numbers[@]} CRLs"
grep -q " fast $T/export/ca.crl\$" "$T/hook.log" || die "hook environment: $(head -2 "$T/hook.log")"
total=$(wc -l <"$T/clients.log") bad=$(grep -vc ' 200$' "$T/clients.log" || true)
((total >= 100)) || die "only $total client connections"
((bad == 0)) || die "nginx refused the good client $bad times out of $total: $(grep -v ' 200$' "$T/clients.log" | head -3)"
ok "the exec hook reloaded nginx after each CRL ($hooks runs); the good client was accepted $total times out of $total"

metric() { sed -n 's/^certherd_ca_crl_next_update_seconds{ca="fast"} //p' "$T/metrics.prom" 2>/dev/null; }
for i in $(seq 100); do [[ $(metric) == "$(next_update)" ]] && break; sleep 0.1; done
[[ $(metric) == "$(next_update)" ]] || die "metrics: certherd_ca_crl_next_update_seconds '$(metric)', CRL $(next_update)"
ok "metrics: certherd_ca_crl_next_update_seconds follows the CRL's nextUpdate"

expect 0 ch --json check
python3 - "$T/out" <<'PY' || die "check --json: $(cat "$T/out")"
import json, sys
d = json.load(open(sys.argv[1]))
codes = [p["code"] for c in d["certificates"] for p in c["problems"]]
assert not any(c.startswith("crl-") for c in codes), codes
PY
ok "check: no CRL problem while the daemon keeps it fresh"

# The CA cannot sign any more: alert before the CRL lapses, crl-expiring then crl-expired on the CA row.
mv "$T/ca/ca.key" "$T/ca.key.away"
lapse=$(next_update)
for i in $(seq 400); do grep -q "could not re-sign the CRL .*lapses at" "$T/daemon.log" && break; sleep 0.1; done
grep -q "could not re-sign the CRL .*lapses at" "$T/daemon.log" || die "no alert: $(tail -5 "$T/daemon.log")"
(($(date +%s) < lapse)) || die "the alert came only after the CRL lapsed"
ok "key gone: the daemon alerts before the CRL lapses ($(grep -m1 'could not re-sign' "$T/daemon.log" | sed 's/.*: could/could/'))"
for i in $(seq 400); do
        rc=0; ch status >"$T/status" 2>&1 || rc=$?
        grep -q "^ca:fast .*crl-expiring" "$T/status" && break
        sleep 0.1
done
grep -q "^ca:fast .*crl-expiring" "$T/status" || die "no crl-expiring on the CA row: $(cat "$T/status")"
while (($(date +%s) <= lapse)); do sleep 0.5; done
sleep 1
expect 2 ch status
grep -q "^ca:fast .*crl-expired" "$T/out" || die "no crl-expired on the CA row: $(cat "$T/out")"
ok "check shows crl-expiring, then crl-expired, on the CA row"

mv "$T/ca.key.away" "$T/ca/ca.key"
for i in $(seq 200); do (($(next_update) > $(date +%s))) && break; sleep 0.1; done
(($(next_update) > $(date +%s))) || die "the daemon did not re-sign once the key was back: $(tail -3 "$T/daemon.log")"
# nginx reloads asynchronously after the hook's SIGHUP; a loaded machine may take seconds, and while
# the old workers wind down a connection may still reach one holding the lapsed CRL.
if ! accepted_again; then
        tail -n 3 "$T/hook.log" "$T/daemon.log" >&2; crl_facts >&2; date >&2
        curl -sv --max-time 5 --cacert "$T/export/ca.pem" --cert "$T/tls/good.crt" --key "$T/tls/good.key" \
                "https://localhost:$port/" 2>&1 | tail -5 >&2
        die "the good client is still refused with a fresh CRL"
fi
ok "key back: the daemon re-signed on its own (retry), the good client is accepted again"

# A revocation by hand while the daemon runs: it sees the new CRL (inotify), finds the set revoked and
# replaces the certificate at once, long before the CRL's next deadline.
old=$(serial "$T/tls/good.crt")
expect 0 ch ca revoke good --reason superseded
for i in $(seq 100); do [[ $(serial "$T/tls/good.crt") != "$old" ]] && break; sleep 0.1; done
[[ $(serial "$T/tls/good.crt") != "$old" ]] || die "the daemon did not replace the revoked certificate within 10 s: $(tail -5 "$T/daemon.log")"
grep -q "good: renewed: valid until" "$T/daemon.log" || die "no renewal of the revoked set: $(tail -5 "$T/daemon.log")"
accepted_again || die "the replaced good client is refused"
ok "ca revoke by hand under the daemon: it saw the new CRL and replaced the revoked certificate at once"

kill -TERM "$daemon"
wait "$daemon" || die "the daemon exited $? on SIGTERM"
