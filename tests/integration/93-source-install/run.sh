#!/bin/bash
# A source install, as README and operation.md describe it, in a booted Debian 12: `meson setup build &&
# ninja -C build && meson install` with the default prefix (/usr/local), built on the host (the container
# has no compiler) and installed with --destdir into the container's root. Asserted: the binary reads
# /etc/certherd/certherd.conf (an inventory without certificate sets: exit 3 naming that file); the units,
# sysusers.d, tmpfiles.d, the polkit rule and action and the D-Bus policy are where systemd, polkitd and
# dbus-daemon read them; certherd-renew.service (user certherd) issues a certificate and reloads
# nginx.service over D-Bus through the polkit rule, without "Interactive authentication required"; root's
# `certherd renew --force` then acts as user certherd, and the next timer run still succeeds.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
source "$here/../lib-container.sh"
need meson; need ninja ninja-build; need openssl; need python3
lc_need
src=$(cd "$here/../../.." && pwd)
msgid() { sed -n "s/^#define CERTHERD_MESSAGE_$1 *\"\\(.*\\)\"/\\1/p" "$src/agent/basic/message-id.h"; }
served_fingerprint() {
        lc_netns openssl s_client -connect 127.0.0.1:443 -servername localhost </dev/null 2>/dev/null |
                openssl x509 -noout -fingerprint -sha256
}
fingerprint() { openssl x509 -in "$1" -noout -fingerprint -sha256; }

# --- the build, as documented, with the default prefix (tests off: the container only needs the agent)
t0=$(date +%s)
(cd "$src" && meson setup "$T/build" -Dtests=disabled && nice ninja -C "$T/build") >"$T/build.log" 2>&1 ||
        { tail -30 "$T/build.log" >&2; die "meson setup && ninja failed"; }
ok "meson setup && ninja with the default prefix in $(($(date +%s) - t0)) s"

lc_create source-install
lc_boot
meson install -C "$T/build" --destdir "$LC_ROOT" --no-rebuild >"$T/install.log" 2>&1 ||
        { cat "$T/install.log" >&2; die "meson install --destdir into the container"; }
for f in /usr/local/sbin/certherd /etc/certherd/certherd.conf \
        /lib/systemd/system/certherd-renew.service /lib/systemd/system/certherd-renew.timer \
        /usr/lib/sysusers.d/certherd.conf /usr/lib/tmpfiles.d/certherd.conf \
        /usr/share/polkit-1/rules.d/50-certherd.rules /usr/share/polkit-1/actions/org.certherd1.policy \
        /usr/share/dbus-1/system.d/org.certherd1.conf; do
        [[ -e $LC_ROOT$f ]] || { sed -n 's/^Installing .* to //p' "$T/install.log" >&2; die "not installed: $f"; }
done
# What operation.md says to run after a source install.
lc_exec systemd-sysusers >/dev/null 2>&1 || die "systemd-sysusers"
lc_exec systemd-tmpfiles --create certherd.conf >/dev/null 2>&1 || die "systemd-tmpfiles --create"
lc_exec systemctl daemon-reload || die "systemctl daemon-reload"
lc_exec getent passwd certherd >/dev/null || die "no user certherd after systemd-sysusers"
lc_exec pkaction --action-id org.certherd1.renew >/dev/null || die "polkitd does not read the installed action"
ok "meson install: binary in /usr/local/sbin, units, sysusers, tmpfiles, polkit and D-Bus files where their readers look"

# --- the binary reads /etc/certherd/certherd.conf: the shipped one defines no certificate set
rc=0
lc_exec certherd --no-daemon check >"$T/out" 2>"$T/err" || rc=$?
[[ $rc == 3 ]] && grep -q 'no certificate sets in /etc/certherd/certherd.conf' "$T/err" ||
        { cat "$T/out" "$T/err" >&2; die "check on the shipped inventory: exit $rc, want 3 naming /etc/certherd/certherd.conf"; }
ok "certherd check reads /etc/certherd/certherd.conf: no certificate sets there, exit 3"

cat >"$LC_ROOT/etc/certherd/conf.d/50-src.conf" <<'CONF'
[ca "internal"]
certificate = /etc/certherd/ca/internal.crt
key         = /etc/certherd/ca/internal.key

[certificate "web"]
certificate = /etc/ssl/certherd/web.crt
key         = /etc/ssl/certherd/web.key
ca          = /etc/certherd/ca/internal.crt
names       = localhost 127.0.0.1
issuer      = ca:internal
key-policy  = reuse
reload      = nginx.service
CONF
chmod 0644 "$LC_ROOT/etc/certherd/conf.d/50-src.conf"
lc_exec runuser -u certherd -- certherd ca init internal >"$T/ca.log" 2>&1 || { cat "$T/ca.log" >&2; die "ca init"; }
lc_exec systemctl start nginx.service || die "nginx does not start with its default site"

# --- the timer's service: issues web (missing, so due) and reloads nginx as user certherd
lc_exec systemctl start certherd-renew.service >"$T/start.log" 2>&1 ||
        { cat "$T/start.log" >&2; lc_journal -u certherd-renew.service -n 30 >&2; die "certherd-renew.service failed"; }
lc_journal -u certherd-renew.service >"$T/journal"
if grep -qi 'interactive authentication required\|access denied' "$T/journal"; then
        cat "$T/journal" >&2
        die "the reload was refused (polkit rule not read?)"
fi
[[ -n $(lc_journal -u certherd-renew.service -o json "MESSAGE_ID=$(msgid RELOADED)" CERTHERD_CERT=web \
        CERTHERD_UNIT=nginx.service) ]] || { cat "$T/journal" >&2; die "no reloaded event for nginx.service"; }
[[ $(lc_exec stat -c %U /etc/ssl/certherd/web.key) == certherd ]] || die "web.key is not certherd's"
ok "certherd-renew.service (user certherd) issued web and reloaded nginx.service through the polkit rule"

# --- nginx serves it; root's renew --force acts as certherd, nginx serves the renewal, same key
lc_nginx_site web
lc_exec systemctl reload nginx.service || die "nginx does not take the site"
pin=$(spki_pin "$LC_ROOT/etc/ssl/certherd/web.crt")
lc_exec certherd --no-daemon renew --force web >"$T/root.log" 2>&1 || { cat "$T/root.log" >&2; die "root's renew --force web"; }
grep -qi 'owned by another user\|permission denied' "$T/root.log" && { cat "$T/root.log" >&2; die "root's renew: $(cat "$T/root.log")"; }
[[ $(spki_pin "$LC_ROOT/etc/ssl/certherd/web.crt") == "$pin" ]] || die "root's renew --force re-keyed a reuse set"
foreign=$(lc_exec find /var/lib/certherd /etc/ssl/certherd /etc/certherd/ca /run/certherd ! -user certherd)
[[ -z $foreign ]] || die "root's renew left files of another owner: $foreign"
serves_new() { [[ $(served_fingerprint) == "$(fingerprint "$LC_ROOT/etc/ssl/certherd/web.crt")" ]]; }
for i in $(seq 50); do serves_new && break; sleep 0.2; done
serves_new || die "nginx does not serve the certificate root's renew installed"
lc_exec systemctl start certherd-renew.service >"$T/start.log" 2>&1 ||
        { cat "$T/start.log" >&2; lc_journal -u certherd-renew.service -n 30 >&2; die "the timer's run after root's failed"; }
ok "root's renew --force: acted as certherd (same pin, nothing changed owner), nginx serves it; the next timer run succeeds"
