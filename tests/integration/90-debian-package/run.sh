#!/bin/bash
# The Debian package, as CI builds it: copy the tree, move packaging/debian to debian/, build with
# `dpkg-buildpackage -us -uc -b` (nocheck: the tests run elsewhere), run lintian (no errors; warnings are
# printed), install the .deb on this machine, check the version, the files' places, the conffile, the
# user and the directories, `systemd-analyze verify` on the installed units, then purge and check that
# only what policy lets stay (the system user) is left. The machine is left as it was: the package is
# purged on any exit, and a user the test created is removed again.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../lib-deb.sh"
deb_need
command -v lintian >/dev/null || skip "lintian is not installed (apt-get install -y lintian)"
[[ $(id -u) == 0 ]] || skip "installing and purging the package needs root"
if dpkg-query -W -f='${db:Status-Status}' certherd 2>/dev/null | grep -qv '^not-installed$'; then
        skip "a certherd package is installed on this machine; not touching it"
fi
for p in /etc/certherd /var/lib/certherd /usr/sbin/certherd; do
        [[ ! -e $p ]] || skip "$p exists outside any package; the test would purge over it"
done

user_existed=false
getent passwd certherd >/dev/null && user_existed=true
installed=false
deb_cleanup() {
        if $installed; then dpkg --purge certherd >/dev/null 2>&1 || true; fi
        if ! $user_existed && getent passwd certherd >/dev/null; then
                userdel certherd 2>/dev/null || true
                getent group certherd >/dev/null && groupdel certherd 2>/dev/null || true
        fi
        cleanup
}
trap deb_cleanup EXIT

# --- build
deb_build "$T"
version=$DEB_VERSION deb=$DEB_FILE
ok "dpkg-buildpackage -us -uc -b: $(basename "$deb") in $DEB_SECONDS s"

# --- lintian: errors fail, warnings are listed.
start=$SECONDS
rc=0
lintian --fail-on error --tag-display-limit 0 "$DEB_CHANGES" >"$T/lintian" 2>"$T/lintian.err" ||
        rc=$?
sed 's/^/  lintian: /' "$T/lintian"
[[ $rc -le 1 ]] || { cat "$T/lintian.err" >&2; die "lintian failed to run (exit $rc)"; }
[[ $rc == 0 ]] && ! grep -q '^E: ' "$T/lintian" || die "lintian reports errors"
ok "lintian: no errors, $(grep -c '^W: ' "$T/lintian") warnings ($((SECONDS - start)) s)"

# --- install
installed=true
dpkg -i "$deb" >"$T/install.log" 2>&1 || { cat "$T/install.log" >&2; die "dpkg -i failed"; }
dpkg -L certherd | sort >"$T/files"
# Places from the package itself (a machine may exclude paths such as /usr/share/man from installation).
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|; s|/$||' | sort >"$T/contents"
ok "dpkg -i: installed"

[[ $(certherd --version) == "certherd $version" ]] || die "certherd --version: '$(certherd --version)'"
ok "certherd --version: certherd $version"

have() { grep -Eqx "$1" "$T/contents" || { cat "$T/contents" >&2; die "not in the package: $1"; }; }
have /usr/sbin/certherd
have '(/usr)?/lib/systemd/system/certherd\.service'
have '(/usr)?/lib/systemd/system/certherd-renew\.service'
have '(/usr)?/lib/systemd/system/certherd-renew\.timer'
have /usr/lib/systemd/catalog/certherd\.catalog
have /usr/lib/sysusers\.d/certherd\.conf
have /usr/lib/tmpfiles\.d/certherd\.conf
have /usr/share/polkit-1/rules\.d/50-certherd\.rules
have /usr/share/polkit-1/actions/org\.certherd1\.policy
have /usr/share/dbus-1/system\.d/org\.certherd1\.conf
have /usr/share/man/man8/certherd\.8\.gz
have /usr/share/man/man5/certherd\.conf\.5\.gz
have /usr/share/bash-completion/completions/certherd
have /usr/share/doc/certherd/examples/conf\.d/30-nginx\.conf\.example
have /etc/certherd/certherd\.conf
have /etc/certherd/conf\.d
dpkg-query -W -f='${Conffiles}\n' certherd | grep -q '^ /etc/certherd/certherd\.conf [0-9a-f]\{32\}$' ||
        die "/etc/certherd/certherd.conf is not a conffile"
if command -v man >/dev/null && [[ -e /usr/share/man/man8/certherd.8.gz ]]; then
        [[ $(man -w certherd) == /usr/share/man/man8/certherd.8.gz && $(man -w 5 certherd.conf) == *certherd.conf.5.gz ]] ||
                die "man does not find the pages"
fi
[[ -x /usr/sbin/certherd && -f $(grep -E '/certherd\.service$' "$T/contents") ]] || die "binary or unit not on disk"
ok "files in place: binary, units, catalog, sysusers, tmpfiles, polkit, man pages, completion; conffile"

getent passwd certherd | grep -q ':/var/lib/certherd:' || die "no user certherd with home /var/lib/certherd"
uid=$(id -u certherd)
for d in /var/lib/certherd:700 /run/certherd/pins:755 /etc/certherd/ca:700 /etc/ssl/certherd:755; do
        [[ $(stat -c '%a %u' "${d%:*}" 2>/dev/null) == "${d#*:} $uid" ]] || die "${d%:*} not made by tmpfiles.d"
done
ok "user certherd (uid $uid) and its directories exist"

unitdir=$(dirname "$(grep -E '/certherd\.service$' "$T/contents")")
# verify also resolves Documentation=man:… through man(1), when man and the pages are here.
man_check=yes
command -v man >/dev/null && [[ -e /usr/share/man/man8/certherd.8.gz ]] || man_check=no
systemd-analyze verify --man=$man_check "$unitdir"/certherd.service "$unitdir"/certherd-renew.service "$unitdir"/certherd-renew.timer \
        >"$T/verify" 2>&1 || { cat "$T/verify" >&2; die "systemd-analyze verify failed"; }
[[ ! -s $T/verify ]] || { cat "$T/verify" >&2; die "systemd-analyze verify is not clean"; }
ok "systemd-analyze verify --man=$man_check: clean for the installed units"
systemd-analyze security --offline=yes --threshold=15 "$unitdir/certherd.service" >"$T/sec" 2>&1 ||
        die "installed certherd.service: exposure above 1.5"
ok "installed certherd.service: $(grep -o 'exposure level.*' "$T/sec")"
[[ -L /etc/systemd/system/multi-user.target.wants/certherd.service ]] || die "certherd.service not enabled"
[[ ! -e /etc/systemd/system/timers.target.wants/certherd-renew.timer ]] || die "the timer is enabled too"
ok "certherd.service enabled, certherd-renew.timer left to the administrator"

# The shipped inventory parses as installed; it defines no certificate set, which check reports (exit 3)
# rather than calling an inventory that watches nothing healthy.
expect 3 runuser -u certherd -- certherd check
grep -q '^certherd: error: no certificate sets in /etc/certherd/certherd\.conf' "$T/err" ||
        { cat "$T/err" >&2; die "check on the shipped inventory: not the 'no certificate sets' message"; }
ok "runuser -u certherd -- certherd check: the shipped configuration parses; no certificate sets there (exit 3)"

# --- purge
dpkg --purge certherd >"$T/purge.log" 2>&1 || { cat "$T/purge.log" >&2; die "dpkg --purge failed"; }
installed=false
[[ $(dpkg-query -W -f='${db:Status-Status}' certherd 2>/dev/null || echo not-installed) == not-installed ]] ||
        die "certherd is still known to dpkg after purge"
left=()
while read -r f; do
        [[ -e $f && ! -d $f ]] && left+=("$f")
done <"$T/files"
for p in /etc/certherd /var/lib/certherd /run/certherd /etc/ssl/certherd /usr/share/doc/certherd; do
        [[ -e $p ]] && left+=("$p")
done
for p in /etc/systemd/system/*/certherd* /etc/systemd/system/certherd* \
        /var/lib/systemd/deb-systemd-helper-enabled/*certherd* \
        /var/lib/systemd/deb-systemd-helper-enabled/*/certherd* /var/lib/systemd/deb-systemd-helper-masked/*certherd*; do
        [[ -e $p || -L $p ]] && left+=("$p")
done
[[ ${#left[@]} == 0 ]] || { printf 'left after purge: %s\n' "${left[@]}" >&2; die "purge left files behind"; }
getent passwd certherd >/dev/null || die "the system user disappeared (policy: system users stay)"
ok "purge: no file left; the system user certherd stays, as Debian policy recommends"
