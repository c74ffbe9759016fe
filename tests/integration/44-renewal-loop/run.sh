#!/bin/bash
# No renewal loop, whatever the inventory says. A daemon with `issuer = ca:NAME` and no `ca =` issued 121
# certificates in 15 s: check judged the set against the system store (untrusted-chain), a problem no new
# certificate fixes, and each renewal (with its hook) made it due again at once. Watched for 60 s, such a
# set is now issued once (it trusts its CA's bundle) and check is ok. A set that really cannot be fixed
# by renewing — `ca =` naming another CA — is renewed, found still broken, and backs off with
# renewal-failing instead of looping.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
need openssl; need python3
WATCH=${CERTHERD_LOOP_WATCH:-60}

cat >"$T/hook" <<HOOK
#!/bin/bash
echo "\$CERTHERD_NAME" >>"$T/hook.log"
HOOK
chmod +x "$T/hook"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/other.key" -out "$T/other.crt" \
        -subj "/CN=some other CA" -days 30 2>/dev/null || die "other CA"

cat >"$T/certherd.conf" <<CONF
$(conf_agent)

$(conf_ca corp "$T/ca/ca")

$(conf_leaf app corp "" "names = app.test" "exec = $T/hook")
CONF
ch() { "$CERTHERD" -c "$T/certherd.conf" "$@"; }
issued() { # set: how many certificates the CA issued for it
        "$CERTHERD" -c "$T/certherd.conf" --json ca list corp |
                python3 -c 'import json,sys; print(sum(1 for c in json.load(sys.stdin)["certificates"] if c["name"] == sys.argv[1]))' "$1"
}
expect 0 ch ca init corp

"$CERTHERD" -c "$T/certherd.conf" run 2>"$T/daemon.log" &
daemon=$!
pids+=($daemon)
for i in $(seq 200); do [[ -s $T/tls/app.crt ]] && break; sleep 0.1; done
[[ -s $T/tls/app.crt ]] || die "the daemon issued nothing: $(cat "$T/daemon.log")"
sleep "$WATCH"
kill -0 "$daemon" || die "the daemon died: $(cat "$T/daemon.log")"
n=$(issued app)
hooks=$(wc -l <"$T/hook.log")
[[ $n == 1 && $hooks == 1 ]] || die "issued $n times, hook ran $hooks times in ${WATCH}s: $(tail -20 "$T/daemon.log")"
expect 0 ch check --no-daemon app
grep -q "untrusted-chain" "$T/out" && die "check: $(cat "$T/out")"
kill "$daemon"; wait "$daemon" 2>/dev/null || true
ok "issuer = ca:corp without ca =: the daemon issued once in ${WATCH}s (one hook run), check is ok"

# A set that trusts another CA: each renewal is validated against its own CA and installed, then check
# calls it untrusted-chain. Renewed (the first issuance, then once for untrusted-chain), then backoff.
cat >>"$T/certherd.conf" <<CONF

$(conf_leaf wrong corp "$T/other" "names = wrong.test" "exec = $T/hook")
CONF
: >"$T/hook.log"
"$CERTHERD" -c "$T/certherd.conf" run 2>"$T/daemon2.log" &
daemon=$!
pids+=($daemon)
sleep 20
kill -0 "$daemon" || die "the daemon died: $(cat "$T/daemon2.log")"
n=$(issued wrong)
((n >= 1 && n <= 3)) || die "a set renewals cannot fix was issued $n times in 20 s: $(tail -20 "$T/daemon2.log")"
kill "$daemon"; wait "$daemon" 2>/dev/null || true
expect 2 ch check --no-daemon wrong
grep -q "renewal-failing: the renewal at .* left untrusted-chain in place" "$T/out" || die "check wrong: $(cat "$T/out")"
grep -q "untrusted-chain" "$T/out" || die "check wrong: $(cat "$T/out")"
[[ $(issued app) == 1 ]] || die "app was issued again"
ok "ca = another CA: issued $n times in 20 s, then backoff with renewal-failing (no loop)"

# The guard whatever the cause: six automatic issuances within a quarter of the lifetime hold the set
# (critical) until its inputs change; a one-shot renew respects it too.
python3 - "$T/state/certs/wrong.json" <<'PY'
import json, sys, time
p = sys.argv[1]
s = json.load(open(p))
now = int(time.time() * 1e6)
s["issued_usec"] = [now - i * 1000000 for i in range(6)]
s["ineffective"] = 0
s.pop("renew_cause", None)
json.dump(s, open(p, "w"))
PY
expect 1 ch renew wrong
[[ $(issued wrong) == "$n" ]] || die "renewed despite the guard: $(cat "$T/out" "$T/err")"
grep -q "wrong: renewal held: issued 6 times within a quarter of its lifetime" "$T/out" || die "renew: $(cat "$T/out")"
expect 2 ch check --no-daemon wrong
grep -q "critical wrong: renewal-failing: issued 6 times within .* renewals stopped until the inventory or its files change" "$T/out" ||
        die "guard: $(cat "$T/out")"
# A change of the inventory (still a wrong CA) lets one renewal through, then the guard holds again.
cp "$T/other.crt" "$T/other2.crt"
sed -i "s|^ca = $T/other.crt|ca = $T/other2.crt|" "$T/certherd.conf"
expect 0 ch renew wrong
[[ $(issued wrong) == $((n + 1)) ]] || die "the inventory changed, but no renewal: $(cat "$T/out" "$T/err")"
expect 1 ch renew wrong
grep -q "wrong: renewal held: issued 7 times" "$T/out" || die "renew after the change: $(cat "$T/out")"
[[ $(issued wrong) == $((n + 1)) ]] || die "renewed twice after one change"
sed -i "s|^ca = $T/other2.crt|ca = $T/ca/ca.crt|" "$T/certherd.conf"
expect 0 ch renew
expect 0 ch check --no-daemon wrong
ok "issued more than 5 times within a quarter of its lifetime: held (critical); each change of the inventory lets one renewal through"
