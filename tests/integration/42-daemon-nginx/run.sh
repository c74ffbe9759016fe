#!/bin/bash
# The agent end to end against systemd: `certherd run` on the host (under a stand-in notify socket) keeps a
# 20-second internal-CA certificate of nginx.service in a booted systemd container renewed on its own:
# it installs into the container's tree, reloads nginx.service over the container's D-Bus (a `reloaded`
# event with CERTHERD_UNIT=nginx.service; systemd's own reload job in the container's journal), the
# `verify` handshake sees the new serial (deploy-verified), and `curl --pinnedpubkey` with the published
# pin succeeds before and after the renewal (key-policy = rotate: the old pin no longer does).
#
# The container has a private network, so the agent runs in its network namespace (nsenter -n: it sees
# nginx on 127.0.0.1:443 there, and the host's files everywhere). Its log goes to the container's journald,
# as it would under systemd: in a private mount namespace, /run/systemd/journal is a symlink to the
# container's (a bind mount of another namespace's mount comes out empty; sd_journal_send() then drops
# messages silently), and JOURNAL_STREAM names the agent's stderr (a file here, for anything that
# does not reach the journal), which is how certherd tells it runs under journald.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
source "$here/../lib-container.sh"
need openssl; need curl; need python3; need unshare util-linux
lc_need
msgid() { sed -n "s/^#define CERTHERD_MESSAGE_$1 *\"\\(.*\\)\"/\\1/p" "$here/../../../agent/basic/message-id.h"; }
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr A-F a-f | sed 's/^\(00\)*//'; }

lc_create nginx-agent
lc_mask postgresql.service # not needed here; boots in a fraction of the time
SSL=$LC_ROOT/etc/ssl/certherd # /etc/ssl/certherd inside
cat >"$T/certherd.conf" <<CONF
[agent]
state-directory = $T/state
pin-directory = $T/pins

[ca "short"]
certificate = $T/ca/ca.crt
key = $T/ca/ca.key
validity = 20s
export = $T/export/ca.pem

[certificate "nginx"]
certificate = $SSL/site.crt
key = $SSL/site.key
ca = $T/ca/ca.crt
names = localhost 127.0.0.1
issuer = ca:short
key-policy = rotate
renew-before = 50%
warn-before = 1s
critical-before = 1s
reload = nginx.service
verify = tls://127.0.0.1:443
CONF
# The first certificate is issued before the container boots: nothing to reload or verify yet.
grep -v '^\(reload\|verify\) = ' "$T/certherd.conf" >"$T/first.conf"
expect 0 "$CERTHERD" -c "$T/certherd.conf" ca init short
expect 0 "$CERTHERD" -c "$T/first.conf" renew
lc_nginx_site site
lc_boot
lc_exec systemctl is-active -q nginx.service || die "nginx.service: $(lc_exec systemctl --no-pager status nginx.service 2>&1 | tail -5)"
nginx_pid=$(lc_exec systemctl show -P MainPID nginx.service)

json() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]) or "")' "$T/pins/nginx.json" "$1"; }
pinned() { lc_netns curl -fsS -o /dev/null --max-time 5 --cacert "$T/export/ca.pem" --pinnedpubkey "sha256//$1" https://localhost/; }
served_serial() {
        lc_netns openssl s_client -connect 127.0.0.1:443 -servername localhost </dev/null 2>/dev/null |
                openssl x509 -noout -serial | cut -d= -f2 | tr A-F a-f | sed 's/^\(00\)*//'
}
pin0=$(json pin_sha256) next0=$(json next_pin_sha256) serial0=$(serial "$SSL/site.crt")
[[ -n $pin0 && -n $next0 ]] || die "no pins published: $(cat "$T/pins/nginx.json")"
pinned "$pin0" || die "curl --pinnedpubkey with the published pin before the renewal"
[[ $(served_serial) == "$serial0" ]] || die "nginx.service does not serve the installed certificate"
ok "nginx.service in the container serves the internal-CA certificate; curl accepts the published pin"

# --- the agent
python3 "$here/../notify-listen.py" "$T/notify" "$T/notify.log" &
pids+=($!)
for i in $(seq 100); do [[ -S $T/notify ]] && break; sleep 0.05; done
touch "$T/daemon.log"
journal_dir=/run/systemd
[[ -d $journal_dir ]] || journal_dir=/run
PID1=$LC_PID1 JOURNAL_DIR=$journal_dir DBUS_SYSTEM_BUS_ADDRESS=$(lc_bus) NOTIFY_SOCKET=$T/notify \
        JOURNAL_STREAM=$(stat -c %d:%i "$T/daemon.log") \
        nsenter -t "$LC_PID1" -n unshare --mount --propagation private bash -c '
                mount -t tmpfs -o mode=0755 certherd-test "$JOURNAL_DIR" && mkdir -p /run/systemd &&
                ln -s "/proc/$PID1/root/run/systemd/journal" /run/systemd/journal || exit 1
                exec "$0" -c "$1" run' "$CERTHERD" "$T/certherd.conf" 2>>"$T/daemon.log" &
daemon=$! # nsenter, unshare and bash exec: the agent's own PID
pids+=($daemon)
t0=$(date +%s%N)
events() { lc_journal -o json SYSLOG_IDENTIFIER=certherd CERTHERD_CERT=nginx >"$T/events.json" 2>/dev/null; }
show() { cat "$T/daemon.log" "$T/notify.log" >&2; events; cat "$T/events.json" >&2; }
for i in $(seq 100); do grep -q " $daemon READY=1" "$T/notify.log" 2>/dev/null && break; sleep 0.05; done
grep -q " $daemon READY=1" "$T/notify.log" || { show; die "no READY=1 from the agent ($daemon)"; }
ok "certherd run is up in the container's network namespace (READY=1 after $(lc_since "$t0") s)"

# --- its renewal, about 10 s after the first issuance (renew-before = 50% of 20 s)
verified=
for i in $(seq 60); do
        kill -0 "$daemon" 2>/dev/null || { show; die "the agent died"; }
        events
        verified=$(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("MESSAGE_ID") == sys.argv[2]:
        print(e["MESSAGE"]); break' "$T/events.json" "$(msgid DEPLOY_VERIFIED)")
        [[ -n $verified ]] && break
        sleep 0.5
done
[[ -n $verified ]] || { show; die "no deploy-verified event within 30 s"; }
serial1=$(serial "$SSL/site.crt")
[[ $serial1 != "$serial0" ]] || die "the certificate was not renewed"
[[ $verified == "tls://127.0.0.1:443 serves the installed certificate (serial $serial1) after "* ]] ||
        { show; die "deploy-verified does not name the new serial $serial1: $verified"; }
ok "renewed on its own after $(lc_since "$t0") s; deploy-verified: $verified"

# The events of that renewal, in order, with their fields; systemd reloaded nginx.service (not restarted).
for i in $(seq 20); do
        events
        grep -q "$(msgid PIN_CHANGED)" "$T/events.json" && break
        sleep 0.25
done
python3 - "$T/events.json" "$pin0" "$next0" "$(msgid RENEWED)" "$(msgid RELOADED)" "$(msgid DEPLOY_VERIFIED)" \
        "$(msgid PIN_CHANGED)" <<'PY' || { show; die "the journal events of the renewal"; }
import json, sys
path, pin0, next0, renewed, reloaded, verified, changed = sys.argv[1:]
entries = [json.loads(l) for l in open(path) if l.strip()]
ids = [e.get("MESSAGE_ID") for e in entries]
order = [ids.index(m) for m in (renewed, reloaded, verified, changed)]
assert order == sorted(order), f"events out of order: {order}"
r = entries[order[1]]
assert r["CERTHERD_UNIT"] == "nginx.service" and r["CERTHERD_ACTION"] == "reload", r
assert r["CERTHERD_JOB_RESULT"] == "done" and r["PRIORITY"] == "6", r
p = entries[order[3]]
assert p["CERTHERD_PREVIOUS_PIN"] == pin0 and p["CERTHERD_PIN"] == next0, p
print(f"# journal: {entries[order[0]]['MESSAGE']} | {r['MESSAGE']} | {p['MESSAGE']}")
open(path + ".job", "w").write(r["MESSAGE"].split("/org/freedesktop/systemd1/job/")[1].split(":")[0])
PY
lc_journal -o json -u nginx.service >"$T/nginx-journal.json"
python3 - "$T/nginx-journal.json" "$(cat "$T/events.json.job")" <<'PY' ||
import json, sys
jobs = [e for e in map(json.loads, open(sys.argv[1])) if e.get("JOB_ID") == sys.argv[2]]
assert jobs and jobs[-1].get("JOB_TYPE") == "reload" and jobs[-1].get("JOB_RESULT") == "done", jobs
print(f"# container journal: {jobs[-1]['MESSAGE']} (job {sys.argv[2]}: reload, done)")
PY
        { cat "$T/nginx-journal.json" >&2; die "systemd's journal does not show the agent's job as a reload done"; }
[[ $(lc_exec systemctl show -P MainPID nginx.service) == "$nginx_pid" ]] || die "nginx.service was restarted, not reloaded"
ok "events renewed → reloaded (CERTHERD_UNIT=nginx.service, job done) → deploy-verified → pin-changed; systemd's journal shows that job reloading nginx.service"

# --- the published pin after the renewal: the announced next pin, served by nginx; the old one is not
pin1=$(json pin_sha256)
[[ $pin1 == "$next0" && $pin1 == "$(spki_pin "$SSL/site.crt")" ]] || die "published pin $pin1 (announced $next0)"
pinned "$pin1" || die "curl --pinnedpubkey with the published pin after the renewal"
pinned "$pin0" 2>/dev/null && die "nginx still serves the old key"
[[ $(served_serial) == "$(serial "$SSL/site.crt")" ]] || die "nginx does not serve the installed certificate"
ok "after the renewal curl accepts the newly published pin ($pin1, announced before as next) and refuses the old one"

kill -TERM "$daemon"
rc=0; wait "$daemon" || rc=$?
[[ $rc == 0 ]] || { show; die "exit status $rc after SIGTERM"; }
grep -v "^$" "$T/daemon.log" >&2 || true
ok "SIGTERM: exit 0"
echo "$n_ok passed"
