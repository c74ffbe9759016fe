# Building the Debian package from this tree (sourced, after lib.sh), as CI does: a copy laid out as
# Debian expects (packaging/debian moved to debian/), then dpkg-buildpackage -us -uc -b with nocheck.
#   deb_need            exit 77 with the reason unless the Debian build tools are installed
#   deb_build OUTDIR    build into OUTDIR; sets DEB_FILE (the .deb), DEB_CHANGES, DEB_VERSION, DEB_SECONDS

DEB_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

deb_need() {
        local tool
        for tool in dpkg-buildpackage dh fakeroot; do
                command -v "$tool" >/dev/null ||
                        skip "$tool is not installed (apt-get install -y build-essential devscripts debhelper dpkg-dev fakeroot)"
        done
        [[ -z ${DEB_HOST_ARCH-}${DEB_BUILD_ARCH-}${RPM_BUILD_ROOT-} ]] || skip "running inside a package build"
}

deb_build() {
        local out=$1 work meson_version arch start
        DEB_VERSION=$(sed -n '1s/^certherd (\([^)]*\)).*/\1/p' "$DEB_SRC/packaging/debian/changelog")
        meson_version=$(sed -n "s/^ *version : '\([^']*\)',/\1/p" "$DEB_SRC/meson.build")
        [[ $DEB_VERSION == "$meson_version" ]] || die "debian/changelog has $DEB_VERSION, meson.build $meson_version"
        work=$out/certherd-$DEB_VERSION
        mkdir -p "$work"
        # What git knows (tracked files and untracked ones not ignored): build directories stay out.
        if git -C "$DEB_SRC" rev-parse --git-dir >/dev/null 2>&1; then
                git -C "$DEB_SRC" ls-files -z -co --exclude-standard |
                        while IFS= read -r -d '' f; do [[ -e $DEB_SRC/$f ]] && printf '%s\0' "$f"; done |
                        tar -C "$DEB_SRC" --null -T - -cf - | tar -C "$work" -xf -
        else
                tar -C "$DEB_SRC" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$work" -xf -
        fi
        mv "$work/packaging/debian" "$work/debian"
        start=$SECONDS
        (cd "$work" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" dpkg-buildpackage -us -uc -b -Pnocheck) \
                >"$out/build.log" 2>&1 || { tail -60 "$out/build.log" >&2; die "dpkg-buildpackage failed"; }
        DEB_SECONDS=$((SECONDS - start))
        arch=$(dpkg --print-architecture)
        DEB_FILE=$out/certherd_${DEB_VERSION}_$arch.deb
        DEB_CHANGES=$out/certherd_${DEB_VERSION}_$arch.changes
        [[ -f $DEB_FILE ]] || die "dpkg-buildpackage made no $DEB_FILE"
}
