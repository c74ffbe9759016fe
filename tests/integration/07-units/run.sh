#!/bin/bash
# The system integration files as meson installs them (into a DESTDIR): their places, the units'
# `systemd-analyze verify` and sandbox exposure (at most 1.5), the sysusers.d and tmpfiles.d entries
# applied to a scratch root, and the polkit rule's decisions, run in duktape (polkitd's JavaScript
# engine in Debian 12) with a stand-in for polkit's API.
source "$(dirname "$0")/../lib.sh"
need systemd-analyze systemd
need python3

build=$(cd "$(dirname "$CERTHERD")/.." && pwd)
[[ -d $build/meson-info ]] || skip "$build is not a meson build directory"
dest=$T/dest
meson install -C "$build" --destdir "$dest" --no-rebuild --quiet >"$T/install.log" 2>&1 ||
        { cat "$T/install.log" >&2; die "meson install --destdir failed"; }
intro() { # OPTION: its value in the build
        python3 -c 'import json, sys; print({o["name"]: o["value"] for o in json.load(open(sys.argv[1]))}[sys.argv[2]])' \
                "$build/meson-info/intro-buildoptions.json" "$1"
}
prefix=$(intro prefix)
sbindir=$prefix/$(intro sbindir)

# --- places
find "$dest" -type f -o -type l >"$T/files"
place() { # WHAT REGEX
        grep -Eq "^$dest$2\$" "$T/files" || { sed "s|^$dest||" "$T/files" >&2; die "$1 not installed ($2)"; }
}
place binary "$sbindir/certherd"
place "daemon unit" '(/usr)?/lib/systemd/system/certherd\.service'
place "timer-mode unit" '(/usr)?/lib/systemd/system/certherd-renew\.service'
place timer '(/usr)?/lib/systemd/system/certherd-renew\.timer'
place "boot recovery unit" '(/usr)?/lib/systemd/system/certherd-recover\.service'
place sysusers '/usr/lib/sysusers\.d/certherd\.conf'
place tmpfiles '/usr/lib/tmpfiles\.d/certherd\.conf'
place catalog '/usr/lib/systemd/catalog/certherd\.catalog'
# polkitd and dbus-daemon read only their own data directories (and /etc), whatever certherd's prefix.
place "polkit rule" "/usr/share/polkit-1/rules\\.d/50-certherd\\.rules"
place "D-Bus policy" "/usr/share/dbus-1/system\\.d/org\\.certherd1\\.conf"
place "polkit actions" "/usr/share/polkit-1/actions/org\\.certherd1\\.policy"
place "certherd(8)" "$prefix/share/man/man8/certherd\\.8"
place "certherd.conf(5)" "$prefix/share/man/man5/certherd\\.conf\\.5"
place "bash completion" '(/usr|/usr/local)/share/bash-completion/completions/certherd'
# The inventory is in /etc whatever the prefix (unless -Dsysconfdir says otherwise).
if [[ $(intro sysconfdir) == etc || $(intro sysconfdir) == /etc ]]; then
        place "main configuration" "/etc/certherd/certherd\\.conf"
        grep -aq '^/etc/certherd/certherd\.conf$' <(strings "$dest$sbindir/certherd") ||
                die "the binary does not read /etc/certherd/certherd.conf"
else
        place "main configuration" "(/etc|$prefix/etc)/certherd/certherd\\.conf"
fi
place examples "$prefix/share/doc/certherd/examples/conf\\.d/30-nginx\\.conf\\.example"
ok "meson installs $(wc -l <"$T/files") files where systemd, polkit, man and bash-completion look"

unitdir=$(dirname "$(grep -E '/certherd\.service$' "$T/files")")
units=("$unitdir/certherd.service" "$unitdir/certherd-renew.service" "$unitdir/certherd-renew.timer"
       "$unitdir/certherd-recover.service")
grep -q "^ExecStart=$sbindir/certherd run\$" "$unitdir/certherd.service" || die "ExecStart is not $sbindir/certherd run"
grep -q "^ExecStart=$sbindir/certherd renew --quiet\$" "$unitdir/certherd-renew.service" || die "renew's ExecStart"
grep -q "^ExecStart=$sbindir/certherd recover\$" "$unitdir/certherd-recover.service" || die "recover's ExecStart"
ok "ExecStart= names $sbindir/certherd"

# --- sandbox exposure. --threshold counts in tenths (1.5 → 15).
for u in certherd.service certherd-renew.service certherd-recover.service; do
        systemd-analyze security --offline=yes --threshold=15 "$unitdir/$u" >"$T/sec" 2>&1 ||
                { cat "$T/sec" >&2; die "$u: exposure above 1.5"; }
        ok "$u: $(grep -o 'Overall exposure level.*' "$T/sec")"
done

# --- verify. It checks that ExecStart='s binary exists at its path and that the Documentation= man
# pages resolve; the binary is laid over $sbindir in a private mount namespace (the host is untouched),
# the pages come from the DESTDIR through MANPATH.
mkdir -p "$T/upper" "$T/work"
cp "$dest$sbindir/certherd" "$T/upper/"
if [[ -d $sbindir ]] && unshare --mount --propagation private true 2>/dev/null; then
        rc=0
        MANPATH=$dest$prefix/share/man unshare --mount --propagation private sh -c '
                mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" "$1" || exit 77
                shift 3
                exec systemd-analyze verify "$@"' _ "$sbindir" "$T/upper" "$T/work" "${units[@]}" \
                >"$T/verify" 2>&1 || rc=$?
        if [[ $rc == 77 ]]; then
                echo "skip: systemd-analyze verify: cannot mount an overlay over $sbindir here ($(head -1 "$T/verify"))"
        elif [[ $rc != 0 || -s $T/verify ]]; then
                cat "$T/verify" >&2
                die "systemd-analyze verify is not clean"
        else
                ok "systemd-analyze verify: clean for ${units[*]##*/}"
        fi
else
        echo "skip: systemd-analyze verify: no private mount namespace here (needs root); 90-debian-package verifies the installed units"
fi

# --- sysusers.d and tmpfiles.d, applied to a scratch root.
root=$T/root
mkdir -p "$root/etc" "$root/etc/ssl" "$root/var/lib" "$root/run"
systemd-sysusers --root="$root" "$dest/usr/lib/sysusers.d/certherd.conf" >"$T/sysusers" 2>&1 ||
        { cat "$T/sysusers" >&2; die "systemd-sysusers failed"; }
grep -Eq '^certherd:x:[0-9]+:[0-9]+:certherd certificate agent:/var/lib/certherd:/(usr/)?s?bin/nologin$' \
        "$root/etc/passwd" || { cat "$root/etc/passwd" >&2; die "no certherd system user"; }
uid=$(grep '^certherd:' "$root/etc/passwd" | cut -d: -f3)
[[ $uid -lt 1000 ]] || die "certherd's uid $uid is not a system uid"
grep -q '^certherd:x:' "$root/etc/group" || die "no certherd group"
ok "sysusers.d: system user certherd (uid $uid), home /var/lib/certherd"

systemd-tmpfiles --root="$root" --create "$dest/usr/lib/tmpfiles.d/certherd.conf" >"$T/tmpfiles" 2>&1 ||
        { cat "$T/tmpfiles" >&2; die "systemd-tmpfiles failed"; }
for d in /var/lib/certherd:700 /run/certherd:755 /run/certherd/pins:755 /etc/certherd/ca:700 /etc/ssl/certherd:755; do
        st=$(stat -c '%a %u' "$root${d%:*}") || die "tmpfiles did not create ${d%:*}"
        [[ $st == "${d#*:} $uid" ]] || die "${d%:*}: mode/owner '$st', want '${d#*:} $uid'"
done
# The units' directory modes agree with tmpfiles.d (else each boot and each start would fight).
grep -q '^StateDirectoryMode=0700$' "$unitdir/certherd.service" || die "StateDirectoryMode differs from tmpfiles.d"
grep -q '^RuntimeDirectoryMode=0755$' "$unitdir/certherd.service" || die "RuntimeDirectoryMode differs"
ok "tmpfiles.d: state, runtime, pins, CA and install directories, owned by certherd"

# --- the polkit rule
if ! command -v duk >/dev/null; then
        echo "skip: polkit rule: duk is not installed (apt-get install -y duktape)"
        exit 0
fi
rule=$(grep -E '/50-certherd\.rules$' "$T/files")
mkdir -p "$T/etc/certherd/conf.d"
cat >"$T/etc/certherd/certherd.conf" <<'CONF'
[agent]
;reload = commented.service
[certificate "web"]
certificate = /x
reload      = nginx.service   ; inline comment
[certificate "db"]
certificate = /y
reload = postgresql.service apache2.service
CONF
printf '[certificate "guard"]\n  restart = ai-guard.service\nexec = /bin/true\n' >"$T/etc/certherd/conf.d/20-guard.conf"
printf '[certificate "off"]\nreload = example.service\n' >"$T/etc/certherd/conf.d/30-off.conf.example"
printf '[certificate "envy"]\nreload = ${UNIT}\n' >"$T/etc/certherd/conf.d/40-env.conf"

# harness MODE: the rule in duktape with a stand-in polkit object. Mode "argv" prints what the rule asks
# polkit.spawn() to run (with the inventory paths moved into $T); mode "decide" feeds the captured
# inventory text to the rule and prints one decision per request.
harness() {
        {
                echo "var MODE = '$1', INVENTORY = $2;"
                cat <<'JS'
var polkit = {
    Result: { NO: "no", YES: "yes", AUTH_ADMIN: "auth_admin" },
    rules: [],
    addRule: function (f) { this.rules.push(f); },
    log: function (m) { print("log: " + m); },
    spawn: function (argv) {
        if (MODE == "argv") { print(JSON.stringify(argv)); return ""; }
        return INVENTORY;
    },
};
JS
                cat "$rule"
                cat <<JS
if (MODE == "argv") {
    certherd.files = "$T/etc/certherd/certherd.conf $T/etc/certherd/conf.d/*.conf";
    certherd.read();
} else {
    var reqs = [
        ["certherd", "nginx.service", "reload"], ["certherd", "nginx.service", "restart"],
        ["certherd", "postgresql.service", "reload"], ["certherd", "apache2.service", "reload"],
        ["certherd", "ai-guard.service", "try-restart"], ["certherd", "ai-guard.service", "restart"],
        ["certherd", "ai-guard.service", "reload"], ["certherd", "sshd.service", "reload"],
        ["certherd", "commented.service", "reload"], ["certherd", "example.service", "reload"],
        ["certherd", "nginx.service", "start"], ["certherd", "nginx.service", "stop"],
        ["www-data", "nginx.service", "reload"], ["certherd", "constructor", "reload"],
        ["certherd", "\${UNIT}", "reload"],
    ];
    for (var i = 0; i < reqs.length; i++) {
        var r = reqs[i], res;
        var action = { id: "org.freedesktop.systemd1.manage-units",
                       lookup: function (k) { return k == "unit" ? r[1] : k == "verb" ? r[2] : undefined; } };
        for (var n = 0; n < polkit.rules.length && !res; n++)
            res = polkit.rules[n](action, { user: r[0] });
        print(r.join(" ") + " -> " + (res || "next"));
        res = undefined;
    }
    var other = { id: "org.freedesktop.login1.reboot", lookup: function () { return undefined; } };
    print("certherd reboot -> " + (polkit.rules[0](other, { user: "certherd" }) || "next"));
}
JS
        } >"$T/harness.js"
        duk "$T/harness.js"
}
argv=$(harness argv '""') || die "the rule does not load in duktape"
[[ $argv == '["/bin/sh","-c",'* ]] || die "unexpected spawn: $argv"
inventory=$(python3 -c 'import json,subprocess,sys
print(json.dumps(subprocess.run(json.loads(sys.argv[1]), capture_output=True, text=True, check=True).stdout))' "$argv") ||
        die "running the rule's spawn command failed"
harness decide "$inventory" >"$T/decisions" || die "the rule fails in duktape"
cat >"$T/expected" <<'EOF2'
certherd nginx.service reload -> yes
certherd nginx.service restart -> next
certherd postgresql.service reload -> yes
certherd apache2.service reload -> yes
certherd ai-guard.service try-restart -> yes
certherd ai-guard.service restart -> next
certherd ai-guard.service reload -> next
certherd sshd.service reload -> next
certherd commented.service reload -> next
certherd example.service reload -> next
certherd nginx.service start -> next
certherd nginx.service stop -> next
www-data nginx.service reload -> next
certherd constructor reload -> next
certherd ${UNIT} reload -> next
certherd reboot -> next
EOF2
diff -u "$T/expected" "$T/decisions" >&2 || die "polkit rule decisions differ"
ok "polkit rule: certherd may reload/try-restart exactly the units of its inventory, never start ($(grep -c -- '-> yes' "$T/decisions") of $(wc -l <"$T/decisions") requests)"

# Unreadable inventory: nothing is allowed, and the rule does not throw.
harness decide '""' | grep -q -- '-> yes' && die "allowed something with an empty inventory"
ok "polkit rule: empty or unreadable inventory allows nothing"
