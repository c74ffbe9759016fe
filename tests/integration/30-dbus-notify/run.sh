#!/bin/bash
# Dependents over D-Bus against a real systemd (PID 1 of a booted Debian container), driven from the host
# with DBUS_SYSTEM_BUS_ADDRESS: reload and restart units (job "done" → reloaded), a unit whose reload fails
# (reload-failed with the job result), a unit that does not exist (systemd's error, nothing else
# affected), the structured events in the container's journal, and nginx serving a host-made certificate
# that notify_verify sees change after the files are swapped and nginx reloaded over D-Bus.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
source "$here/../lib-container.sh"
DRIVER=${NOTIFY_DRIVER:?set NOTIFY_DRIVER to the notify-driver binary}
need openssl; need python3
lc_need
msgid() { sed -n "s/^#define CERTHERD_MESSAGE_$1 *\"\\(.*\\)\"/\\1/p" "$here/../../../agent/basic/message-id.h"; }

# Two leaves for the same names, made on the host.
for c in a b; do
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$c.key" -out "$T/$c.crt" \
                -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -days 2 2>/dev/null ||
                die "openssl req"
done
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr A-F a-f | sed 's/^\(00\)*//'; }

# --- the container: nginx with a TLS site on its loopback, a unit whose reload fails, units to restart
lc_create dbus
lc_mask postgresql.service # not needed here; boots in a fraction of the time
lc_copy "$T/a.crt" /etc/ssl/certherd/site.crt 0644
lc_copy "$T/a.key" /etc/ssl/certherd/site.key 0600
lc_nginx_site site
unit() { # NAME [SERVICE-LINES...]
        local n=$1
        shift
        printf '[Service]\nExecStart=/bin/sleep infinity\n%s\n' "$@" >"$LC_ROOT/etc/systemd/system/$n.service"
}
unit certherd-badreload "ExecReload=/bin/false"
unit certherd-restartme
unit certherd-stopped
lc_copy "$DRIVER" /usr/local/bin/notify-driver 0755
lc_boot
lc_exec systemctl start certherd-badreload.service certherd-restartme.service
lc_exec systemctl is-active -q nginx.service certherd-badreload.service certherd-restartme.service ||
        die "units not active: $(lc_exec systemctl --no-pager status nginx.service 2>&1 | tail -5)"
export DBUS_SYSTEM_BUS_ADDRESS=$(lc_bus)
D() { "$DRIVER" --cert site "$@"; }
mainpid() { lc_exec systemctl show -P MainPID "$1"; }

# --- reload: the job finishes "done", a `reloaded` event, nginx keeps its master process
pid=$(mainpid nginx.service)
expect 0 D unit reload nginx.service
grep -q "^unit nginx.service reload: 0 ok" "$T/out" || die "driver said: $(cat "$T/out")"
grep -q "site: reloaded nginx.service (job /org/freedesktop/systemd1/job/[0-9]*: done)" "$T/err" ||
        die "no reloaded event: $(cat "$T/err")"
[[ $(mainpid nginx.service) == "$pid" ]] || die "nginx was restarted, not reloaded"
ok "ReloadUnit nginx.service: job done, reloaded event, same master process"

# --- restart: TryRestartUnit restarts a running unit and leaves a stopped one stopped
pid=$(mainpid certherd-restartme.service)
expect 0 D unit restart certherd-restartme.service certherd-stopped.service
grep -q "site: restarted certherd-restartme.service (job .*: done)" "$T/err" || die "no restart event: $(cat "$T/err")"
[[ $(mainpid certherd-restartme.service) != "$pid" && $(mainpid certherd-restartme.service) != 0 ]] ||
        die "certherd-restartme.service was not restarted"
lc_exec systemctl is-active -q certherd-stopped.service && die "TryRestartUnit started a stopped unit"
ok "TryRestartUnit restarts a running unit (new MainPID) and does not start a stopped one"

# --- a failing ExecReload: reload-failed with the job's result; the service itself keeps running
expect 1 D unit reload certherd-badreload.service
grep -q "^unit certherd-badreload.service reload: -5 " "$T/out" || die "driver said: $(cat "$T/out")"
grep -q "error: site: cannot reload certherd-badreload.service: job .* finished with result 'failed'" "$T/err" ||
        die "no reload-failed event with the result: $(cat "$T/err")"
lc_exec systemctl is-active -q certherd-badreload.service || die "the unit died of its failed reload"
ok "a unit whose ExecReload fails: reload-failed with job result 'failed'"

# --- a unit that does not exist, between others on the same connection: its own error, nothing else affected
pid=$(mainpid nginx.service)
expect 1 D unit reload nosuch.service certherd-badreload.service nginx.service
grep -q "^unit nosuch.service reload: -2 " "$T/out" || die "driver said: $(cat "$T/out")"
grep -q "^unit certherd-badreload.service reload: -5 " "$T/out" || die "driver said: $(cat "$T/out")"
grep -q "^unit nginx.service reload: 0 ok" "$T/out" || die "nginx not reloaded after the failures: $(cat "$T/out")"
grep -q "error: site: cannot reload nosuch.service: Unit nosuch.service not found.$" "$T/err" ||
        die "systemd's error not passed on verbatim: $(cat "$T/err")"
expect 1 D unit restart nosuch.service certherd-restartme.service
grep -q "^unit certherd-restartme.service restart: 0 ok" "$T/out" || die "restart after a missing unit: $(cat "$T/out")"
[[ $(mainpid nginx.service) == "$pid" ]] || die "nginx changed"
lc_exec systemctl is-active -q nginx.service certherd-badreload.service certherd-restartme.service ||
        die "a unit stopped"
ok "a missing unit: \"Unit nosuch.service not found.\", the next units on the same connection still work"

# --- the structured events, from the driver run inside the container, read back with journalctl -o json
lc_exec env ASAN_OPTIONS=detect_leaks=0 /usr/local/bin/notify-driver --journal --cert site \
        unit reload nginx.service certherd-badreload.service nosuch.service >"$T/in.out" 2>&1 && die "expected a failure"
grep -q "^unit nginx.service reload: 0 ok" "$T/in.out" || die "driver inside: $(cat "$T/in.out")"
lc_journal -o json SYSLOG_IDENTIFIER=certherd CERTHERD_CERT=site >"$T/journal.json"
python3 - "$T/journal.json" "$(msgid RELOADED)" "$(msgid RELOAD_FAILED)" <<'PY' || die "journal events: $(cat "$T/journal.json")"
import json, sys
entries = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by_unit = {e.get("CERTHERD_UNIT"): e for e in entries}
ok, bad, missing = by_unit["nginx.service"], by_unit["certherd-badreload.service"], by_unit["nosuch.service"]
assert ok["MESSAGE_ID"] == sys.argv[2] and ok["PRIORITY"] == "6" and ok["CERTHERD_JOB_RESULT"] == "done", ok
assert ok["CERTHERD_ACTION"] == "reload" and ok["CERTHERD_CERT"] == "site", ok
assert bad["MESSAGE_ID"] == sys.argv[3] and bad["PRIORITY"] == "3" and bad["CERTHERD_JOB_RESULT"] == "failed", bad
assert missing["MESSAGE_ID"] == sys.argv[3] and missing["CERTHERD_BUS_ERROR"] == "org.freedesktop.systemd1.NoSuchUnit", missing
assert missing["MESSAGE"].endswith("Unit nosuch.service not found."), missing
PY
ok "journalctl -o json in the container: reloaded / reload-failed with MESSAGE_ID, CERTHERD_UNIT, _JOB_RESULT, _BUS_ERROR"

# --- deploy verification against nginx in the container's network namespace
expect 0 lc_netns "$DRIVER" --cert site --timeout 5 verify tls://127.0.0.1:443 "$T/a.crt"
grep -q "site: tls://127.0.0.1:443 serves the installed certificate (serial $(serial "$T/a.crt")) after 1 attempt" "$T/err" ||
        die "no deploy-verified: $(cat "$T/err")"
expect 0 lc_netns "$DRIVER" --cert site --timeout 5 verify tls://localhost:443 "$T/a.crt"
expect 1 lc_netns "$DRIVER" --cert site --timeout 0.4 verify tls://127.0.0.1:443 "$T/b.crt"
grep -q "^verify tls://127.0.0.1:443: -71 " "$T/out" || die "mismatch: $(cat "$T/out")"
grep -q "error: site: tls://127.0.0.1:443 serves serial $(serial "$T/a.crt") (pin $(spki_pin "$T/a.crt")), not the installed serial $(serial "$T/b.crt")" "$T/err" ||
        die "deploy-mismatch without the served serial and pin: $(cat "$T/err")"
ok "nginx in the container: the served leaf matches a.crt (by IP and by name), b.crt is a mismatch naming a's serial and pin"

# --- swap the files, reload over D-Bus, verify: the new certificate is seen; measure reload → served
lat=()
for round in 1 2 3 4 5 6; do
        c=$([[ $((round % 2)) == 1 ]] && echo b || echo a)
        cp "$T/$c.key" "$LC_ROOT/etc/ssl/certherd/.site.key.new" && mv "$LC_ROOT/etc/ssl/certherd/.site.key.new" "$LC_ROOT/etc/ssl/certherd/site.key"
        cp "$T/$c.crt" "$LC_ROOT/etc/ssl/certherd/.site.crt.new" && mv "$LC_ROOT/etc/ssl/certherd/.site.crt.new" "$LC_ROOT/etc/ssl/certherd/site.crt"
        expect 0 lc_netns env DBUS_SYSTEM_BUS_ADDRESS="$(lc_bus)" "$DRIVER" --cert site --timeout 10 \
                deploy reload nginx.service tls://127.0.0.1:443 "$T/$c.crt"
        grep -q "site: tls://127.0.0.1:443 serves the installed certificate (serial $(serial "$T/$c.crt"))" "$T/err" ||
                die "round $round: $(cat "$T/out" "$T/err")"
        lat+=("$(sed -n 's/^verify .*: 0 ok (\(.*\) s)$/\1/p' "$T/out")")
        echo "# round $round: $(tr '\n' ' ' <"$T/out")| $(grep -o 'after [0-9]* attempts\? in [0-9.]* s' "$T/err")"
done
echo "# reload job done → new certificate served: ${lat[*]} s"
ok "six swaps of the files + ReloadUnit over D-Bus: notify_verify sees each new certificate"

# --- certherd renew from the host: a unit whose reload fails is the set's deploy-failed
mkdir -p "$T/dep"
cat >"$T/dep/c.conf" <<CONF
[agent]
state-directory = $T/dep/state
pin-directory = $T/dep/pins
metrics-file = $T/dep/metrics.prom
[certificate "badsite"]
certificate = $T/dep/site.crt
key = $T/dep/site.key
ca = $T/dep/site.crt
names = localhost
issuer = self
reload = certherd-badreload.service
CONF
expect 1 "$CERTHERD" -c "$T/dep/c.conf" renew
grep -q "^badsite: deploy failed at reload certherd-badreload.service: " "$T/out" || die "$(cat "$T/out" "$T/err")"
expect 2 "$CERTHERD" -c "$T/dep/c.conf" check --json
python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))["certificates"][0]
assert c["deploy"]["result"] == "failed" and c["deploy"]["step"] == "reload certherd-badreload.service", c["deploy"]
assert [p for p in c["problems"] if p["code"] == "deploy-failed"], c["problems"]
' "$T/out" || die "check --json: $(cat "$T/out")"
expect 2 "$CERTHERD" -c "$T/dep/c.conf" status
grep -q "deploy-failed: reload certherd-badreload.service" "$T/out" || die "status: $(cat "$T/out")"
grep -q '^certherd_certificate_deploy_ok{name="badsite"} 0$' "$T/dep/metrics.prom" ||
        die "metrics: $(cat "$T/dep/metrics.prom")"
ok "certherd renew with a unit whose reload fails: exit 1, deploy-failed in check --json, status and the metrics"

# --- the cause fixed (the unit reloads now): a plain renew deploys the same serial again, the problem clears
s1=$(serial "$T/dep/site.crt")
mkdir -p "$LC_ROOT/etc/systemd/system/certherd-badreload.service.d"
printf '[Service]\nExecReload=\nExecReload=/bin/true\n' >"$LC_ROOT/etc/systemd/system/certherd-badreload.service.d/fix.conf"
lc_exec systemctl daemon-reload
expect 0 "$CERTHERD" -c "$T/dep/c.conf" renew
grep -q "^badsite: deployed again (serial " "$T/out" || die "no redeploy: $(cat "$T/out" "$T/err")"
[[ $(serial "$T/dep/site.crt") == "$s1" ]] || die "re-issued instead of re-deployed"
expect 0 "$CERTHERD" -c "$T/dep/c.conf" check --json
python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))["certificates"][0]
assert c["deploy"]["result"] == "ok" and not c["problems"], c
' "$T/out" || die "check --json after the fix: $(cat "$T/out")"
grep -q '^certherd_certificate_deploy_ok{name="badsite"} 1$' "$T/dep/metrics.prom" ||
        die "metrics after the fix: $(cat "$T/dep/metrics.prom")"
ok "after the unit is fixed a plain renew deploys the same serial again; deploy-failed and deploy_ok 0 clear"

echo "$n_ok passed"
