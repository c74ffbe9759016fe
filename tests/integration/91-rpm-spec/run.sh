#!/bin/bash
# packaging/rpm/certherd.spec: parsed by `rpmspec -P` (Debian's rpm package); its version agrees with
# meson.build; it carries the systemd scriptlets, sysusers and a %check that runs meson test. Then it is
# built with rpmbuild, %check included, when Debian's rpm tooling can: --nodeps (the BuildRequires are
# Fedora names, absent from Debian's empty rpm database) and macros.debian standing in for the
# systemd/meson macro packages Fedora has. The built package's file list is checked.
source "$(dirname "$0")/../lib.sh"
need rpmspec rpm

src=$(cd "$(dirname "$0")/../../.." && pwd)
spec=$src/packaging/rpm/certherd.spec
[[ -z ${DEB_HOST_ARCH-}${DEB_BUILD_ARCH-}${RPM_BUILD_ROOT-} ]] || skip "running inside a package build"

rpmspec -P "$spec" >"$T/parsed" 2>"$T/parse.err" || { cat "$T/parse.err" >&2; die "rpmspec -P failed"; }
version=$(rpmspec -q --qf '%{VERSION}\n' "$spec" 2>/dev/null | head -1)
meson_version=$(sed -n "s/^ *version : '\([^']*\)',/\1/p" "$src/meson.build")
[[ $version == "$meson_version" ]] || die "spec version $version, meson.build $meson_version"
for want in '^%systemd_post certherd\.service' '^%systemd_preun certherd\.service' '^%systemd_postun' \
        '^%sysusers_create_compat ' '^%tmpfiles_create ' '^%check$' '^%meson_test ' \
        '^%config\(noreplace\) /etc/certherd/certherd\.conf$'; do
        grep -Eq "$want" "$T/parsed" || die "the parsed spec lacks $want"
done
ok "rpmspec -P: parses; version $version; systemd scriptlets, sysusers, tmpfiles, %check with meson test"

# --- rpmbuild, if this machine's rpm can
if ! command -v rpmbuild >/dev/null; then
        echo "skip: rpmbuild is not installed (apt-get install -y rpm); only the parse was checked"
        exit 0
fi
for tool in meson ninja cc pkg-config; do
        command -v $tool >/dev/null || { echo "skip: rpmbuild needs $tool; only the parse was checked"; exit 0; }
done
top=$T/rpmbuild
mkdir -p "$top/SOURCES" "$T/src/certherd-$version"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
        git -C "$src" ls-files -z -co --exclude-standard |
                while IFS= read -r -d '' f; do [[ -e $src/$f ]] && printf '%s\0' "$f"; done |
                tar -C "$src" --null -T - -cf - | tar -C "$T/src/certherd-$version" -xf -
else
        tar -C "$src" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$T/src/certherd-$version" -xf -
fi
tar -C "$T/src" -czf "$top/SOURCES/certherd-$version.tar.gz" "certherd-$version"
cp "$src/units/certherd.sysusers" "$top/SOURCES/"
start=$SECONDS
if ! rpmbuild --load="$(dirname "$0")/macros.debian" --define "_topdir $top" --nodeps -bb "$spec" \
        >"$T/rpmbuild.log" 2>&1; then
        tail -40 "$T/rpmbuild.log" >&2
        die "rpmbuild failed (the spec parsed; see above)"
fi
rpmfile=$(ls "$top"/RPMS/*/certherd-"$version"-*.rpm)
grep -q '^Ok: *[1-9]' "$T/rpmbuild.log" && ! grep -q '^Fail: *[1-9]' "$T/rpmbuild.log" ||
        { grep -A20 '%check' "$T/rpmbuild.log" >&2; die "%check did not run its tests"; }
ok "rpmbuild -bb (Debian's rpm, --nodeps): $(basename "$rpmfile") in $((SECONDS - start)) s, %check: $(grep -o '^Ok: *[0-9]*' "$T/rpmbuild.log" | tr -s ' ') tests"

rpm -qlp "$rpmfile" >"$T/files" 2>/dev/null
for f in /usr/sbin/certherd /usr/lib/systemd/system/certherd.service /usr/lib/systemd/system/certherd-renew.timer \
        /usr/lib/sysusers.d/certherd.conf /usr/lib/tmpfiles.d/certherd.conf /usr/lib/systemd/catalog/certherd.catalog \
        /usr/share/polkit-1/rules.d/50-certherd.rules /usr/share/man/man8/certherd.8 \
        /usr/share/polkit-1/actions/org.certherd1.policy /usr/share/dbus-1/system.d/org.certherd1.conf \
        /usr/share/bash-completion/completions/certherd /etc/certherd/certherd.conf; do
        grep -qx "$f" "$T/files" || { cat "$T/files" >&2; die "the rpm lacks $f"; }
done
rpm -qcp "$rpmfile" 2>/dev/null | grep -qx /etc/certherd/certherd.conf || die "certherd.conf is not %config"
ok "the rpm holds the binary, units, sysusers, tmpfiles, catalog, polkit rule, man pages, completion, %config"
