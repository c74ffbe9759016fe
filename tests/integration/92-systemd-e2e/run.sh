#!/bin/bash
# End to end, the way users meet certherd: the .deb installed in a booted Debian 12 (systemd as PID 1,
# nginx, polkitd), an inventory with a watched certificate that expires in 3 days and a certificate of
# the internal CA that is due for renewal and served by nginx, then `systemctl enable --now
# certherd.service`. Asserted: the expiry warning in `journalctl -u certherd -p warning` with its
# MESSAGE_ID and fields; the renewal; nginx reloaded over D-Bus by the unprivileged service (through
# the polkit rule) and serving the new certificate; `systemctl reload certherd` picking up a new
# certificate; timer mode accepted next to the daemon, sharing its lock; the sandbox as deployed.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
source "$here/../lib-container.sh"
source "$here/../lib-deb.sh"
need openssl; need certtool gnutls-bin; need python3
deb_need
lc_need
msgid() { sed -n "s/^#define CERTHERD_MESSAGE_$1 *\"\\(.*\\)\"/\\1/p" "$here/../../../agent/basic/message-id.h"; }

# wait_for SECONDS DESCRIPTION CMD...: poll CMD every 0.2 s.
wait_for() {
        local limit=$1 what=$2 i
        shift 2
        for ((i = 0; i < limit * 5; i++)); do
                "$@" >/dev/null 2>&1 && return 0
                sleep 0.2
        done
        lc_journal -u certherd -n 40 >&2 || true
        die "timed out after $limit s waiting for: $what"
}
# The journal entries of certherd.service with FIELD=VALUE matches, as JSON lines.
events() { lc_journal -u certherd.service -o json "$@"; }
has_event() { [[ -n $(events "$@") ]]; }
served_fingerprint() {
        lc_netns openssl s_client -connect 127.0.0.1:443 -servername localhost </dev/null 2>/dev/null |
                openssl x509 -noout -fingerprint -sha256
}
fingerprint() { openssl x509 -in "$1" -noout -fingerprint -sha256; }

# --- the package, and a container with what it needs beyond the default tree (which the other container
# tests share): polkitd for the rule, procps for /bin/kill (ExecReload=). The container has no network.
deb_build "$T/deb"
ok "built $(basename "$DEB_FILE") in $DEB_SECONDS s"
lc_create e2e polkitd procps
lc_mask postgresql.service
lc_copy "$DEB_FILE" /root/certherd.deb
# Installing starts an enabled service; the inventory is not there yet, and the test wants to start it
# itself with `systemctl enable --now`: policy-rc.d says no to deb-systemd-invoke meanwhile.
printf '#!/bin/sh\nexit 101\n' >"$LC_ROOT/usr/sbin/policy-rc.d"
chmod 0755 "$LC_ROOT/usr/sbin/policy-rc.d"
lc_boot

lc_exec dpkg -i /root/certherd.deb >"$T/dpkg.log" 2>&1 || { cat "$T/dpkg.log" >&2; die "dpkg -i in the container"; }
rm "$LC_ROOT/usr/sbin/policy-rc.d"
lc_exec getent passwd certherd >/dev/null || die "no user certherd in the container"
[[ $(lc_exec systemctl is-enabled certherd.service) == enabled ]] || die "certherd.service not enabled by the package"
ok "dpkg -i in a booted Debian 12: user certherd, certherd.service enabled"

# --- the internal CA, made as the documentation says (as the service user)
cat >"$LC_ROOT/etc/certherd/conf.d/50-e2e.conf" <<'CONF'
[ca "internal"]
certificate = /etc/certherd/ca/internal.crt
key         = /etc/certherd/ca/internal.key
export      = /etc/ssl/certherd/internal-ca.pem

; Watched only, expires in 3 days: an expiry warning (critical only from 1 day on).
[certificate "legacy"]
certificate = /etc/ssl/certherd/legacy.crt
ca          = /etc/ssl/certherd/legacy.crt
names       = legacy.internal
critical-before = 1d

; Issued by the internal CA 30 days ago, 5 days left: past its renew-before (33%), so due.
[certificate "web"]
certificate = /etc/ssl/certherd/web.crt
key         = /etc/ssl/certherd/web.key
ca          = /etc/certherd/ca/internal.crt
names       = localhost 127.0.0.1
issuer      = ca:internal
reload      = nginx.service
verify      = tls://127.0.0.1:443
CONF
chmod 0644 "$LC_ROOT/etc/certherd/conf.d/50-e2e.conf"
lc_exec runuser -u certherd -- certherd ca init internal >"$T/ca.log" 2>&1 || { cat "$T/ca.log" >&2; die "ca init"; }
[[ -s $LC_ROOT/etc/certherd/ca/internal.key ]] || die "ca init made no key"

# The two starting certificates, made on the host with certtool (dates in the past are easy there).
tmpl() { # FILE CN DAYS_AGO DAYS_LEFT SANS...
        local f=$1 cn=$2 ago=$3 left=$4 s
        shift 4
        {
                echo "cn = \"$cn\""
                for s; do [[ $s == *[a-z]* ]] && echo "dns_name = \"$s\"" || echo "ip_address = \"$s\""; done
                echo "activation_date = \"$(date -u -d "-$ago days" '+%Y-%m-%d %H:%M:%S')\""
                echo "expiration_date = \"$(date -u -d "+$left days" '+%Y-%m-%d %H:%M:%S')\""
                echo "tls_www_server"; echo "signing_key"
        } >"$f"
}
key() { TZ=UTC certtool --generate-privkey --key-type ecdsa --curve secp256r1 --outfile "$1" 2>/dev/null; }
key "$T/legacy.key"
tmpl "$T/legacy.tmpl" legacy.internal 10 3 legacy.internal
TZ=UTC certtool --generate-self-signed --load-privkey "$T/legacy.key" --template "$T/legacy.tmpl" \
        --outfile "$T/legacy.crt" 2>/dev/null || die "certtool (legacy)"
key "$T/web.key"
tmpl "$T/web.tmpl" localhost 30 5 localhost 127.0.0.1
TZ=UTC certtool --generate-certificate --load-privkey "$T/web.key" --template "$T/web.tmpl" \
        --load-ca-certificate "$LC_ROOT/etc/certherd/ca/internal.crt" \
        --load-ca-privkey "$LC_ROOT/etc/certherd/ca/internal.key" --outfile "$T/web.crt" 2>/dev/null ||
        die "certtool (web, signed by the internal CA)"
lc_copy "$T/legacy.crt" /etc/ssl/certherd/legacy.crt 0644
lc_copy "$T/web.crt" /etc/ssl/certherd/web.crt 0644
lc_copy "$T/web.key" /etc/ssl/certherd/web.key 0600
lc_exec chown certherd:certherd /etc/ssl/certherd/legacy.crt /etc/ssl/certherd/web.crt /etc/ssl/certherd/web.key

lc_nginx_site web
lc_exec systemctl restart nginx.service || die "nginx does not start with the first certificate"
[[ $(served_fingerprint) == "$(fingerprint "$T/web.crt")" ]] || die "nginx does not serve the first certificate"
nginx_pid=$(lc_exec systemctl show -P MainPID nginx.service)
ok "internal CA made by 'runuser -u certherd -- certherd ca init'; nginx serves a certificate with 5 days left"

# --- the daemon
lc_exec systemctl enable --now certherd.service >"$T/enable.log" 2>&1 ||
        { cat "$T/enable.log" >&2; lc_journal -u certherd -n 30 >&2; die "systemctl enable --now certherd.service"; }
[[ $(lc_exec systemctl show -P ActiveState certherd.service) == active ]] || die "certherd.service is not active"
[[ $(lc_exec stat -c %U "/proc/$(lc_exec systemctl show -P MainPID certherd.service)") == certherd ]] ||
        die "the daemon does not run as user certherd"
ok "systemctl enable --now certherd.service: active (Type=notify, READY), running as user certherd"

# Expiry warning, with its MESSAGE_ID and fields, in `journalctl -u certherd -p warning`.
wait_for 20 "the expiry warning of legacy" has_event "MESSAGE_ID=$(msgid EXPIRY_WARNING)" CERTHERD_CERT=legacy
lc_journal -u certherd -p warning -o json >"$T/warnings.json"
python3 - "$T/warnings.json" "$(msgid EXPIRY_WARNING)" "$(openssl x509 -in "$T/legacy.crt" -noout -enddate | cut -d= -f2)" <<'PY' ||
import json, sys, datetime
entries = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
hits = [e for e in entries if e.get("MESSAGE_ID") == sys.argv[2] and e.get("CERTHERD_CERT") == "legacy"]
assert hits, "no expiry-warning for legacy among %d warning entries" % len(entries)
e = hits[0]
assert e["PRIORITY"] == "4", e["PRIORITY"]
assert e["CERTHERD_DAYS_LEFT"] in ("2", "3"), e["CERTHERD_DAYS_LEFT"]
want = datetime.datetime.strptime(sys.argv[3], "%b %d %H:%M:%S %Y %Z").strftime("%Y-%m-%dT%H:%M:%SZ")
assert e["CERTHERD_NOT_AFTER"] == want, (e["CERTHERD_NOT_AFTER"], want)
print("ok: %s" % e["MESSAGE"])
PY
        die "the expiry warning lacks its fields"
ok "journalctl -u certherd -p warning: expiry-warning for legacy, MESSAGE_ID $(msgid EXPIRY_WARNING), days left and notAfter"

# The renewal of web, the reload of nginx over D-Bus, what nginx serves.
wait_for 60 "the renewal of web" has_event "MESSAGE_ID=$(msgid RENEWED)" CERTHERD_CERT=web
[[ $(fingerprint "$LC_ROOT/etc/ssl/certherd/web.crt") != "$(fingerprint "$T/web.crt")" ]] ||
        die "web.crt did not change"
openssl verify -CAfile "$LC_ROOT/etc/certherd/ca/internal.crt" "$LC_ROOT/etc/ssl/certherd/web.crt" >/dev/null ||
        die "the new web.crt does not verify against the internal CA"
[[ $(lc_exec stat -c '%U %a' /etc/ssl/certherd/web.key) == "certherd 600" ]] || die "web.key owner/mode"
ok "web renewed by the internal CA (renewed event), installed with the key 0600"

wait_for 30 "nginx reloaded" has_event "MESSAGE_ID=$(msgid RELOADED)" CERTHERD_CERT=web CERTHERD_UNIT=nginx.service
[[ $(lc_exec systemctl show -P MainPID nginx.service) == "$nginx_pid" ]] || die "nginx was restarted, not reloaded"
serves_new() { [[ $(served_fingerprint) == "$(fingerprint "$LC_ROOT/etc/ssl/certherd/web.crt")" ]]; }
wait_for 10 "nginx serving the new certificate" serves_new
wait_for 30 "the deploy verification" has_event "MESSAGE_ID=$(msgid DEPLOY_VERIFIED)" CERTHERD_CERT=web
if has_event CERTHERD_CERT=web "MESSAGE_ID=$(msgid RELOAD_FAILED)"; then die "a reload-failed event"; fi
ok "nginx.service reloaded over D-Bus by user certherd (polkit rule), same master, serves the new certificate; deploy-verified"

# The rule allows what the inventory names, and nothing else.
lc_exec runuser -u certherd -- systemctl --no-ask-password reload nginx.service ||
        die "user certherd may not reload nginx.service"
if lc_exec runuser -u certherd -- systemctl --no-ask-password reload dbus.service 2>"$T/denied"; then
        die "user certherd may reload dbus.service, which no inventory names"
fi
if lc_exec runuser -u certherd -- systemctl --no-ask-password stop nginx.service 2>>"$T/denied"; then
        die "user certherd may stop nginx.service"
fi
grep -qi 'access denied\|interactive authentication required' "$T/denied" || { cat "$T/denied" >&2; die "not a polkit denial"; }
ok "polkit: user certherd may reload nginx.service, not reload dbus.service nor stop nginx.service"

# Nothing in the sandbox got in the way.
lc_journal -u certherd -p err >"$T/errors"
if grep -Ei 'permission denied|read-only file system|operation not permitted|access denied' "$T/errors"; then
        die "the sandbox refused the agent something"
fi
ok "no permission errors from the sandbox"

# --- systemctl reload: a certificate added to the inventory is issued without a restart
pid=$(lc_exec systemctl show -P MainPID certherd.service)
cat >>"$LC_ROOT/etc/certherd/conf.d/50-e2e.conf" <<'CONF'

[certificate "api"]
certificate = /etc/ssl/certherd/api.crt
key         = /etc/ssl/certherd/api.key
ca          = /etc/certherd/ca/internal.crt
names       = api.internal
issuer      = ca:internal
CONF
lc_exec systemctl reload certherd.service ||
        { lc_journal -u certherd -n 30 >&2; die "systemctl reload certherd failed"; }
[[ $(lc_exec systemctl show -P MainPID certherd.service) == "$pid" ]] || die "reload restarted the daemon"
wait_for 30 "api issued after the reload" has_event "MESSAGE_ID=$(msgid RENEWED)" CERTHERD_CERT=api
[[ -s $LC_ROOT/etc/ssl/certherd/api.crt ]] || die "no api.crt"
[[ $(lc_exec systemctl show -P ActiveState certherd.service) == active ]] || die "certherd.service not active after reload"
ok "systemctl reload certherd: same process, the new certificate api issued"

# --- the daemon takes orders over D-Bus (org.certherd1; policy and polkit action from the package)
[[ -f $LC_ROOT/usr/share/dbus-1/system.d/org.certherd1.conf && -f $LC_ROOT/usr/share/polkit-1/actions/org.certherd1.policy ]] ||
        die "the package does not install the D-Bus policy and the polkit action"
owner_uid() { lc_exec busctl --system --no-pager status org.certherd1 2>/dev/null | sed -n 's/^UID=//p'; }
owned() { [[ -n $(owner_uid) ]]; }
wait_for 10 "certherd.service owning org.certherd1" owned
[[ $(owner_uid) == "$(lc_exec id -u certherd)" ]] || die "org.certherd1 is owned by uid $(owner_uid), not user certherd"
lc_exec pkaction --action-id org.certherd1.renew >/dev/null || die "polkit does not know org.certherd1.renew"
web_serial() { openssl x509 -in "$LC_ROOT/etc/ssl/certherd/web.crt" -noout -serial | cut -d= -f2; }
s1=$(web_serial)
lc_exec certherd renew --force web >"$T/order.out" 2>&1 || { cat "$T/order.out" >&2; die "certherd renew --force web (root) failed"; }
grep -q '^web: renewed (serial ' "$T/order.out" || { cat "$T/order.out" >&2; die "no outcome line from the daemon"; }
[[ $(web_serial) != "$s1" ]] || die "the daemon did not renew web (serial unchanged)"
lc_journal -u certherd.service | grep -q 'Renew --force of web ordered by' || die "the order did not reach the daemon"
ok "certherd renew --force web as root: the daemon (user certherd, org.certherd1) renews it, $s1 -> $(web_serial), exit 0"

# Reading is open: user nobody cannot read web.key, the daemon can; ordering is not (polkit says no).
rc=0; lc_exec runuser -u nobody -- certherd --no-daemon check web >/dev/null 2>&1 || rc=$?
[[ $rc == 2 ]] || die "nobody's own check of web should fail on the unreadable key (exit $rc)"
lc_exec runuser -u nobody -- certherd check web >"$T/nobody.out" 2>&1 || { cat "$T/nobody.out" >&2; die "check web as nobody through the daemon"; }
lc_exec runuser -u nobody -- certherd --json status >"$T/status.json" 2>&1 || true
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert {c["name"] for c in d["certificates"]} >= {"web", "legacy", "api"}' \
        "$T/status.json" || { cat "$T/status.json" >&2; die "status --json as nobody through the daemon"; }
# CheckFd (what the CLI uses) passes a memfd, which the sandbox must allow.
lc_exec runuser -u nobody -- busctl --system call org.certherd1 /org/certherd1 org.certherd1.Manager CheckFd ass 0 json \
        >"$T/checkfd" 2>&1 && grep -q '^ih [0-2] [0-9]' "$T/checkfd" || { cat "$T/checkfd" >&2; die "CheckFd in the sandbox"; }
s2=$(web_serial)
rc=0; lc_exec runuser -u nobody -- certherd renew --force web >"$T/denied.out" 2>&1 || rc=$?
# polkit answered (the action's owner annotation lets user certherd ask on nobody's behalf): not
# "polkit is not available".
[[ $rc == 1 ]] && grep -q '(polkit action org.certherd1.renew)' "$T/denied.out" || { cat "$T/denied.out" >&2; die "nobody's order was not refused (exit $rc)"; }
[[ $(web_serial) == "$s2" ]] || die "an order from nobody was carried out"
ok "as nobody: check/status --json answered by the daemon (the key it cannot read); renew --force refused: $(tail -1 "$T/denied.out")"

# --- timer mode next to the daemon
lc_exec systemctl enable --now certherd-renew.timer >"$T/timer.log" 2>&1 || { cat "$T/timer.log" >&2; die "enable timer"; }
lc_exec systemctl list-timers --all --no-pager >"$T/timers"
grep -q 'certherd-renew.timer' "$T/timers" || { cat "$T/timers" >&2; die "the timer is not listed"; }
lc_exec systemctl start certherd-renew.service || die "certherd-renew.service failed next to the daemon"
[[ $(lc_exec systemctl show -P Result certherd-renew.service) == success ]] || die "certherd-renew.service result"
lc_journal -u certherd-renew.service >"$T/renew.log"
# It hands the pass to the daemon over D-Bus; with --quiet and nothing due it prints nothing, and a
# daemon it could not reach would have failed the unit (exit 1).
grep -q 'could not be reached over D-Bus' "$T/renew.log" && { cat "$T/renew.log" >&2; die "timer mode did not reach the daemon"; }
lc_journal -u certherd.service | grep -q 'Renew of all sets ordered by' || die "timer mode did not ask the daemon"
ok "systemctl enable --now certherd-renew.timer: listed; a run next to the daemon hands it the pass over D-Bus and succeeds"

# --- boot recovery: enabled by the package, runs in its sandbox as deployed
[[ $(lc_exec systemctl is-enabled certherd-recover.service) == enabled ]] || die "certherd-recover.service not enabled"
lc_exec systemctl start certherd-recover.service ||
        { lc_journal -u certherd-recover.service -n 20 >&2; die "certherd-recover.service failed"; }
[[ $(lc_exec systemctl show -P Result certherd-recover.service) == success ]] || die "certherd-recover.service result"
ok "certherd-recover.service: enabled by the package, runs in its sandbox next to the daemon"

# --- the sandbox, as deployed
lc_exec systemd-analyze security certherd.service >"$T/sec" 2>&1 || true
score=$(sed -n 's/.*Overall exposure level for certherd.service: \([0-9.]*\).*/\1/p' "$T/sec")
[[ -n $score ]] && awk -v s="$score" 'BEGIN { exit !(s <= 1.5) }' || { cat "$T/sec" >&2; die "exposure '$score'"; }
ok "systemd-analyze security certherd.service (running): $score"
