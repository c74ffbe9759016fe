#!/bin/bash
# Deployment is part of the outcome: a failing exec hook and a verify endpoint serving the old
# certificate give deploy-failed (exit 1, check --json, status, metrics, state); after the fix a plain
# `renew` deploys the SAME serial again without issuing and the problem clears; the pin does not move
# while verify fails. Failing renewals back off visibly (renewal-failing, exit 1). A key replaced by a
# symlink to the CA key is never handed out. `check --format nagios`, --log-level.
source "$(dirname "$0")/../lib.sh"
need openssl; need gnutls-serv gnutls-bin; need python3

mkdir -p "$T/ca" "$T/tls"
port=$(free_port)
# Certificates live 100 s: the deploy backoff is capped at a tenth of that, and the renew-before window
# (33 %) opens long after the test is done with them.
conf() { # FILE VERIFY-LINE
        cat >"$1" <<CONF
$(conf_agent "metrics-file = $T/metrics.prom" "warn-before = 5s" "critical-before = 2s")

$(conf_ca internal "$T/ca/internal" "validity = 100s")

$(conf_ca gone "$T/ca/gone")

$(conf_leaf web internal "$T/ca/internal")
names = web.internal
exec = $T/hook.sh

$(conf_leaf svc internal "$T/ca/internal")
names = localhost 127.0.0.1
key-policy = rotate
$2

$(conf_leaf victim internal "$T/ca/internal")
names = victim.internal
CONF
}
conf "$T/a.conf" ""
conf "$T/b.conf" "verify = tls://127.0.0.1:$port"
printf '[certificate "broken"]\ncertificate = %s/tls/broken.crt\nkey = %s/tls/broken.key\nnames = broken.internal\nissuer = ca:gone\n' \
        "$T" "$T" >"$T/broken.conf"
cat "$T/a.conf" "$T/broken.conf" >"$T/c.conf"
cat >"$T/hook.sh" <<'HOOK'
#!/bin/sh
[ -e "$(dirname "$0")/hook.fail" ] && exit 3
echo "$CERTHERD_NAME $CERTHERD_PIN" >>"$(dirname "$0")/hook.log"
HOOK
chmod +x "$T/hook.sh"
A() { "$CERTHERD" -c "$T/a.conf" "$@"; }
B() { "$CERTHERD" -c "$T/b.conf" "$@"; }
jq_py() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); $1" "$T/out"; }

expect 0 A ca init internal

# --- a failing exec hook
touch "$T/hook.fail"
expect 1 A renew
grep -q "^web: deploy failed at exec $T/hook.sh: hook '$T/hook.sh' failed with exit status 3" "$T/out" ||
        die "renew does not say the deploy failed: $(cat "$T/out" "$T/err")"
grep -q "^3 renewed (1 deploy failed), 0 not due, 0 failed$" "$T/out" || die "summary: $(cat "$T/out")"
s1=$(serial "$T/tls/web.crt")
ok "a failing exec hook: renew exits 1 and says which step failed"

expect 2 A check --json
jq_py '
c = {x["name"]: x for x in d["certificates"]}["web"]
p = [x for x in c["problems"] if x["code"] == "deploy-failed"]
assert p and p[0]["severity"] == "critical", c["problems"]
assert "exec" in p[0]["message"] and "status 3" in p[0]["message"], p
assert c["state"] == "critical"
assert c["deploy"]["result"] == "failed" and c["deploy"]["step"].startswith("exec "), c["deploy"]
assert c["deploy"]["error"] and c["deploy"]["time"].endswith("Z"), c["deploy"]
assert c["last_renewal"]["result"] == "ok" and c["last_renewal"]["error"] is None, c["last_renewal"]
assert c["next_renewal"].endswith("Z"), c
assert isinstance(d["cas"], list) and {x["name"] for x in d["cas"]} == {"internal", "gone"}, d["cas"]
ca = {x["name"]: x for x in d["cas"]}["internal"]
assert ca["state"] == "ok" and ca["not_after"].endswith("Z") and ca["days_left"] > 3000, ca
for k in ("name", "state", "certificate", "key", "subject", "issuer", "serial", "not_before", "not_after",
          "days_left", "names", "key_type", "pin_sha256", "problems"):
    assert k in c, k
' || die "check --json: $(cat "$T/out")"
expect 2 A status
grep -E "^web .*deploy-failed.*deploy-failed: exec " "$T/out" >/dev/null || die "status: $(cat "$T/out")"
grep -E "^ca:internal +ok " "$T/out" >/dev/null || die "status has no CA row: $(cat "$T/out")"
grep -q 'certherd_certificate_state{name="web"} 2' "$T/metrics.prom" || die "metrics: $(cat "$T/metrics.prom")"
python3 -c "import json,sys; s=json.load(open(sys.argv[1])); assert s['deploy_failed'] and s['deploy_step'].startswith('exec') and s['deploy_serial']" \
        "$T/state/certs/web.json" || die "state: $(cat "$T/state/certs/web.json")"
ok "deploy-failed in check --json (critical, step, error), status, metrics and the state file"

expect 2 A check --format nagios
grep -qE "^CERTHERD CRITICAL - 1 critical, 0 warning of 3 certificates: web: deploy-failed \| 'web'=0d;[0-9]+;[0-9]+ 'svc'=0d;[0-9]+;[0-9]+ 'victim'=0d;[0-9]+;[0-9]+$" \
        "$T/out" || die "nagios: $(cat "$T/out")"
[[ $(wc -l <"$T/out") == 1 ]] || die "nagios: more than one line"
expect 3 "$CERTHERD" -c "$T/missing.conf" check --format nagios
grep -q "^CERTHERD UNKNOWN - " "$T/out" || die "nagios on a config error: $(cat "$T/out")"
expect 3 A check --format hex
expect 0 "$CERTHERD" pin --format hex "$T/tls/web.crt"
ok "check --format nagios: one monitoring-plugins line with perfdata; UNKNOWN (3) on a config error"

# --- the fix, then a plain renew deploys the same serial again (timer mode: at once; the daemon backs off)
rm "$T/hook.fail"
expect 0 A renew web
grep -q "^web: deployed again (serial " "$T/out" || die "no redeploy: $(cat "$T/out" "$T/err")"
[[ $(serial "$T/tls/web.crt") == "$s1" ]] || die "re-issued instead of re-deployed"
grep -q "^web " "$T/hook.log" || die "the hook did not run"
expect 0 A check web
A check --json web >"$T/out" || true
jq_py 'c = d["certificates"][0]; assert c["deploy"]["result"] == "ok" and c["deploy"]["step"] is None, c["deploy"]; assert not c["problems"], c["problems"]' ||
        die "deploy-failed not cleared: $(cat "$T/out")"
ok "after the fix a plain renew deploys the same serial again and the problem clears"

# --- verify: the endpoint serves the old certificate
cp "$T/tls/svc.crt" "$T/old.crt"; cp "$T/tls/svc.key" "$T/old.key"
gnutls-serv --x509certfile "$T/old.crt" --x509keyfile "$T/old.key" -p "$port" >"$T/serv.log" 2>&1 &
serv=$!
pids+=($serv)
wait_port "$port"
pin0=$(cat "$T/pins/svc.pin")
expect 1 B renew --force svc
grep -q "^svc: deploy failed at verify tls://127.0.0.1:$port" "$T/out" || die "verify: $(cat "$T/out" "$T/err")"
s2=$(serial "$T/tls/svc.crt")
[[ $(cat "$T/pins/svc.pin") == "$pin0" ]] || die "the pin moved on although verify failed"
expect 2 B check --json svc
jq_py 'c = d["certificates"][0]; assert [p for p in c["problems"] if p["code"] == "deploy-failed" and "verify" in p["message"]], c' ||
        die "check --json after verify mismatch: $(cat "$T/out")"
ok "verify against an endpoint serving the old certificate: deploy-failed, exit 1, the pin stays"

kill "$serv"; wait "$serv" 2>/dev/null || true
gnutls-serv --x509certfile "$T/tls/svc.crt" --x509keyfile "$T/tls/svc.key" -p "$port" >"$T/serv.log" 2>&1 &
pids+=($!)
wait_port "$port"
expect 0 B renew svc
grep -q "^svc: deployed again (serial " "$T/out" || die "no redeploy: $(cat "$T/out" "$T/err")"
[[ $(serial "$T/tls/svc.crt") == "$s2" ]] || die "re-issued instead of re-deployed"
[[ $(cat "$T/pins/svc.pin") != "$pin0" && $(cat "$T/pins/svc.pin") == $(spki_pin "$T/tls/svc.crt") ]] ||
        die "the pin did not follow the deployed certificate"
expect 0 B check svc
ok "serving the new certificate: a plain renew verifies the same serial, the pin moves, the problem clears"

# --- renewals failing: visible backoff in timer mode
C() { "$CERTHERD" -c "$T/c.conf" "$@"; }
expect 1 C renew broken
grep -q "^broken: renewal failed: " "$T/out" || die "$(cat "$T/out" "$T/err")"
expect 1 C renew broken
grep -q "^broken: renewal failing: 1 failed attempt, last error: .*gone.crt.*; next attempt from " "$T/out" ||
        die "backoff is silent: $(cat "$T/out" "$T/err")"
grep -q "0 renewed, 0 not due, 1 failed" "$T/out" || die "summary: $(cat "$T/out")"
expect 2 C check --json broken
jq_py '
c = d["certificates"][0]
p = [x for x in c["problems"] if x["code"] == "renewal-failing"][0]
assert p["severity"] == "critical" and "1 failed renewal attempt" in p["message"] and "next attempt" in p["message"], p
assert c["last_renewal"]["result"] == "failed" and "gone.crt" in c["last_renewal"]["error"], c["last_renewal"]
' || die "renewal-failing: $(cat "$T/out")"
expect 2 C status
grep -E "^broken .*renewal-failing.*failed: " "$T/out" >/dev/null || die "status: $(cat "$T/out")"
ok "failing renewals: renew exits 1 while backing off, renewal-failing with the last error and next attempt"

# --- key-policy = reuse never hands out a key that was not made for the set
ln -sf "$T/ca/internal.key" "$T/tls/victim.key"
expect 0 A renew --force victim
grep -q "not reusing the key $T/tls/victim.key: it is not the key of the installed certificate" "$T/err" || die "$(cat "$T/err")"
[[ ! -L $T/tls/victim.key ]] || die "the symlink is still there"
[[ $(openssl pkey -in "$T/tls/victim.key" -pubout | sha256sum) != $(openssl pkey -in "$T/ca/internal.key" -pubout | sha256sum) ]] ||
        die "the set's key is now the CA key"
ok "a key replaced by a symlink to the CA key: a new key, never the CA's"

# A key file alone proves nothing: reuse needs a certificate that parses and certifies that very key.
pubsum() { openssl pkey -in "$1" -pubout | sha256sum; }
expect 0 A renew --force victim
kept=$(pubsum "$T/tls/victim.key")
expect 0 A renew --force victim
[[ $(pubsum "$T/tls/victim.key") == "$kept" ]] || die "reuse with its own certificate changed the key"
grep -q "not reusing the key" "$T/err" && die "the set's own key was not reused: $(cat "$T/err")"
cp "$T/ca/internal.key" "$T/tls/victim.key"
echo garbage >"$T/tls/victim.crt"
expect 0 A renew --force victim
grep -qF "victim: not reusing the key $T/tls/victim.key: no installed certificate shows that it is this set's key ($T/tls/victim.crt holds no X.509 certificate (PEM or DER)); making a new key" "$T/err" ||
        die "garbage certificate: $(cat "$T/err")"
[[ $(pubsum "$T/tls/victim.key") != $(pubsum "$T/ca/internal.key") ]] || die "a garbage certificate let the CA key through"
kept=$(pubsum "$T/tls/victim.key")
cp "$T/tls/web.crt" "$T/tls/victim.crt"
expect 0 A renew --force victim
grep -qF "victim: not reusing the key $T/tls/victim.key: it is not the key of the installed certificate $T/tls/victim.crt; making a new key" "$T/err" ||
        die "another key's certificate: $(cat "$T/err")"
[[ $(pubsum "$T/tls/victim.key") != "$kept" ]] || die "a certificate for another key let the key be reused"
rm "$T/tls/victim.crt"
expect 0 A renew victim
grep -qF "victim: not reusing the key $T/tls/victim.key: no installed certificate shows that it is this set's key ($T/tls/victim.crt: " "$T/err" ||
        die "no certificate: $(cat "$T/err")"
ok "reuse: kept with its own certificate; a new key (reason logged) when the certificate is garbage, another key's or gone"

# --- the daemon: the same deploy-failed, retried by its own timer without re-issuing
wait_for() { # what seconds command...
        local what=$1 n=$(($2 * 10)) i
        shift 2
        for ((i = 0; i < n; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
        die "daemon: $what not within $(($n / 10)) s: $(tail -20 "$T/daemon.log")"
}
state_is() { python3 -c "import json,sys; s=json.load(open(sys.argv[1])); sys.exit(0 if $2 else 1)" "$T/state/certs/$1.json"; }
touch "$T/hook.fail"
"$CERTHERD" -c "$T/a.conf" renew --force web >/dev/null 2>&1 || true
s3=$(serial "$T/tls/web.crt")
state_is web "s['deploy_failed']" || die "no deploy failure to start from"
"$CERTHERD" -c "$T/a.conf" run >"$T/daemon.log" 2>&1 &
daemon=$!
pids+=($daemon)
sleep 1
rm "$T/hook.fail"
# The backoff is at most a tenth of the 100 s lifetime, and the timer has 1 s of slack; a loaded CI
# machine gets room on top.
wait_for "a redeploy of web" 40 state_is web "not s['deploy_failed'] and s['deploy_serial'] == '$s3'"
[[ $(serial "$T/tls/web.crt") == "$s3" ]] || die "the daemon re-issued instead of re-deploying"
grep -q "web: deploying the installed certificate (serial $s3) again" "$T/daemon.log" || die "$(cat "$T/daemon.log")"
kill "$daemon"; wait "$daemon" 2>/dev/null || true
ok "the daemon retries a failed deploy after the backoff with the same serial, and the problem clears"

# --- --log-level and $CERTHERD_LOG_LEVEL
expect 0 A --log-level debug renew victim
expect 3 A --log-level chatty check
CERTHERD_LOG_LEVEL=err A renew victim >"$T/out" 2>"$T/err" || true
[[ ! -s $T/err ]] || die "CERTHERD_LOG_LEVEL=err still logs: $(cat "$T/err")"
ok "--log-level and \$CERTHERD_LOG_LEVEL"
