#!/bin/bash
# Pin rotation against a real nginx: key-policy = rotate, an `exec =` hook reloading nginx and a `verify`
# endpoint. A client keeps re-reading the published <name>.json and connecting with
# `curl --pinnedpubkey "sha256//PIN;sha256//NEXT"` every 50 ms while ten consecutive `renew --force`
# rotate the key: each new pin is the next_pin_sha256 announced before it, and the client never fails.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
source "$here/../lib-nginx.sh"
need nginx nginx-light; need curl; need openssl; need python3
rotations=${ROTATIONS:-10}

port=$(free_port)
cat >"$T/certherd.conf" <<CONF
$(conf_agent)

$(conf_ca internal "$T/ca/internal" "validity = 30d" "export = $T/export/internal-ca.pem")

$(conf_leaf web internal "$T/ca/internal")
names = localhost 127.0.0.1
key-policy = rotate
exec = $T/reload-nginx
verify = tls://127.0.0.1:$port
CONF
# The first issuance happens before nginx runs: without the hook and the endpoint.
grep -v '^\(exec\|verify\) = ' "$T/certherd.conf" >"$T/first.conf"
C() { "$CERTHERD" -c "$T/certherd.conf" "$@"; }
json() { pin_field web "$1"; }
CA=$T/export/internal-ca.pem
URL=https://localhost:$port/

expect 0 C ca init internal
expect 0 "$CERTHERD" -c "$T/first.conf" renew
pin=$(json pin_sha256) next=$(json next_pin_sha256)
echo "0 $(date +%s.%N) $(serial "$T/tls/web.crt") $pin" >"$T/generations"
[[ -n $pin && -n $next && $pin != "$next" ]] || die "web.json: $(cat "$T/pins/web.json")"
[[ $pin == "$(spki_pin "$T/tls/web.crt")" ]] || die "published pin is not the certificate's"

ng_setup "$T/nginx" "$port" "$T/tls/web.crt" "$T/tls/web.key"
ng_hook "$T/nginx" "$T/reload-nginx"
ng_start "$T/nginx" || die "nginx did not start"
pids+=("$NG_PID")
wait_port "$port"
pinned() { curl -fsS -o /dev/null --max-time 5 --cacert "$CA" --pinnedpubkey "$1" "$URL"; }
pinned "sha256//$pin" || die "curl with the published pin"
pinned "sha256//$next" 2>/dev/null && die "curl accepted the next pin before the switch"
ok "nginx on 127.0.0.1:$port serves the internal-CA certificate; curl accepts the published pin only"

python3 "$here/pin-client.py" "$T/pins/web.json" "$CA" "$URL" "$T/client.status" "$T/client.log" 0.05 &
client=$!
pids+=("$client")
status() { cat "$T/client.status" 2>/dev/null || echo "0 0 0 -"; }
for i in $(seq 100); do [[ -s $T/client.status ]] && break; sleep 0.05; done
[[ -s $T/client.status ]] || die "the client did not start"

t0=$(date +%s%N)
seen=("$pin")
for k in $(seq "$rotations"); do
        before=$(json pin_sha256) announced=$(json next_pin_sha256)
        r0=$(date +%s%N)
        expect 0 C renew --force web
        took=$(awk -v a="$r0" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
        grep -q "web: tls://127.0.0.1:$port serves the installed certificate (serial " "$T/err" ||
                die "rotation $k: no deploy-verified: $(cat "$T/err")"
        grep -q "web: pin changed from $before to $announced" "$T/err" || die "rotation $k: no pin-changed event: $(cat "$T/err")"
        after=$(json pin_sha256) upcoming=$(json next_pin_sha256)
        [[ $after != "$before" ]] || die "rotation $k did not change the pin"
        [[ $after == "$announced" ]] || die "rotation $k: pin $after is not the announced next pin $announced"
        [[ $after == "$(spki_pin "$T/tls/web.crt")" && $after == "$(cat "$T/pins/web.pin")" ]] ||
                die "rotation $k: the .pin/.json files do not match the installed certificate"
        [[ -n $upcoming && $upcoming != "$after" ]] || die "rotation $k: no new next_pin_sha256: $(cat "$T/pins/web.json")"
        for p in "${seen[@]}"; do [[ $p != "$after" ]] || die "rotation $k reused an earlier key"; done
        seen+=("$after")
        echo "$k $(date +%s.%N) $(serial "$T/tls/web.crt") $after" >>"$T/generations"
        pinned "sha256//$after" || die "rotation $k: nginx does not serve the new key"
        # The client must trust the new pair before the next rotation: wait until it has connected with it.
        read -r ok0 _ _ _ <<<"$(status)"
        start=$(date +%s%N)
        for i in $(seq 200); do
                read -r okn _ _ cpin <<<"$(status)"
                (($(date +%s%N) - start >= 500000000)) && [[ $cpin == "$after" ]] && ((okn >= ok0 + 2)) && break
                sleep 0.05
        done
        [[ $cpin == "$after" ]] || die "rotation $k: the client did not pick the new pin up within 10 s"
        read -r s f a _ <<<"$(status)"
        echo "# rotation $k: pin $before -> $after; renew --force $took s, verified $(grep -o 'after [0-9]* attempts\? in [0-9.]* s' "$T/err"); client so far: $s ok, $f failed"
done
kill -TERM "$client"
wait "$client" 2>/dev/null || true
secs=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
read -r s f a _ <<<"$(status)"
echo "# client: $a attempts in $secs s: $s succeeded, $f failed"
if [[ $f != 0 ]]; then
        echo "generations (rotation, installed at, serial, pin):" >&2
        cat "$T/generations" "$T/client.log" >&2
        # The failure seen here: a client that already trusts generation k's pins is served generation k-1.
        stale=$(awk 'NR == FNR { gen[$3] = $1; pin[$4] = $1; next }
                     / curl exit 90 trusting / { t = $6; sub(/;.*/, "", t); sub(/^sha256\/\//, "", t)
                                      s = $9; sub(/:$/, "", s)
                                      if ((s in gen) && (t in pin) && gen[s] == pin[t] - 1) n++ }
                     END { print n + 0 }' "$T/generations" "$T/client.log")
        ((stale == 0)) || echo "$stale of $f failures: the previous generation's key was served after the agent had" \
                "published the new pin (nginx keeps its old workers accepting for 100 ms after a reload; the" \
                "agent publishes as soon as one handshake shows the new leaf)" >&2
        die "the pinning client failed $f times"
fi
((s >= 5 * rotations)) || die "only $s successful connections over $rotations rotations"
ok "$rotations rotations: each pin was the announced next pin; the client connected $s times, 0 failures"

# Old keys are no longer served; the agent kept nginx's master (graceful reloads only).
pinned "sha256//${seen[0]}" 2>/dev/null && die "nginx still serves the first key"
[[ $(cat "$T/nginx/nginx.pid") == "$NG_PID" ]] && kill -0 "$NG_PID" || die "nginx's master changed"
ok "the first key is no longer served; nginx's master ($NG_PID) survived $rotations reloads"

# check --json shows the next key's pin (what the pin file announces), and only reads it: without a
# next key it says null and makes none.
cj() { python3 -c 'import json, sys; print(json.load(sys.stdin)["certificates"][0]["next_pin_sha256"])'; }
expect 0 C check --json web
[[ $(cj <"$T/out") == "$(json next_pin_sha256)" ]] || die "check --json next_pin_sha256: $(cat "$T/out")"
rm "$T/state/keys/web.next"
expect 0 C check --json web
[[ $(cj <"$T/out") == None ]] || die "check --json without a next key: $(cat "$T/out")"
[[ ! -e $T/state/keys/web.next ]] || die "check made a next key"
ok "check --json: next_pin_sha256 is the pin file's next pin; without a next key null, and none made"
echo "$n_ok passed"
