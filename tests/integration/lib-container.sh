# Booted systemd containers for integration tests (sourced, after lib.sh): a real systemd as PID 1 of
# a Debian 12 tree made by debootstrap and booted by systemd-nspawn, driven from the host.
#
# SAFETY: a systemd started from the host's root cgroup takes that cgroup over and moves unrelated
# processes of the machine into its own scopes. lc_boot starts systemd-nspawn only from a dedicated
# cgroup (a child of the test's own cgroup in every hierarchy but cpuset) and lc_poweroff removes it.
# Never start systemd, systemd --user or systemd-nspawn any other way.
#
# Functions (one container at a time per test; state in the LC_* variables):
#   lc_need                  exit 77 with the reason unless root, debootstrap, systemd-nspawn, nsenter,
#                            overlayfs and writable cgroups are all there
#   lc_tree [PKG...]         print the path of the cached tree (LC_PACKAGES plus PKG...), building it with
#                            debootstrap on first use (80-125 s here, 572 MB); later tests and runs reuse it. Cache:
#                            /var/tmp/certherd-container-<hash of suite and package list>; a lock
#                            serialises builders; `rm -rf` it to rebuild. $CERTHERD_DEBIAN_MIRROR
#                            overrides the mirror taken from apt's sources.
#   lc_create NAME [PKG...]  a fresh writable root for container NAME: an overlay over the cached tree (the
#                            tree itself is never written; skips with 77 when the tree cannot be built).
#                            Sets LC_ROOT, its path on the host, where a test may put files before boot (and
#                            after: the container sees them).
#   lc_mask UNIT...          mask units before boot (postgresql.service: boots in ~0.8 s instead of ~3.2 s)
#   lc_boot                  boot it (systemd-nspawn --boot --register=no --keep-unit --private-network
#                            --console=passive); sets LC_NSPAWN and LC_PID1 (the container's systemd as seen
#                            from the host); returns once `systemctl is-system-running` says running or
#                            degraded. Prints the boot time. Log: $LC_RUN/boot.log.
#   lc_exec CMD...           run CMD inside the container (all its namespaces; without the host's
#                            DBUS_SYSTEM_BUS_ADDRESS): lc_exec systemctl reload x
#   lc_netns CMD...          run a host command in the container's network namespace only (it sees the
#                            container's loopback: nginx inside on 127.0.0.1:443), with the host's files
#   lc_bus                   print the container's system bus address for the host:
#                            DBUS_SYSTEM_BUS_ADDRESS=$(lc_bus) sd-bus-program…, busctl --address=$(lc_bus)
#   lc_copy SRC DEST [MODE]  copy a host file to DEST inside the container (parents made). Not /tmp: the
#                            container's /tmp is a fresh tmpfs.
#   lc_journal ARGS...       journalctl --no-pager ARGS inside the container
#   lc_poweroff              power off, wait, remove the cgroups and the overlay (also run at exit)
#
# The default tree (LC_PACKAGES) holds systemd, dbus, nginx-light, PostgreSQL 15 with ssl-cert, and the
# runtime libraries of certherd (so a built .deb installs without network: the container has none), polkitd
# and procps (what the packaged units need: the polkit rule, /bin/kill), and the runtime libraries
# of a sanitizer build (libasan8, libubsan1), so host-built binaries run inside as they are. One tree
# for every container test: a fresh CI machine runs debootstrap once.

LC_SUITE=bookworm
LC_PACKAGES=(systemd systemd-sysv dbus libpam-systemd nginx-light postgresql ssl-cert
             libgnutls30 libcurl3-gnutls libinih1 libjansson4 libasan8 libubsan1 polkitd procps)
LC_ROOT= LC_RUN= LC_NAME= LC_NSPAWN= LC_PID1= LC_CGROUP=

lc_need() {
        [[ $EUID == 0 ]] || skip "booting a systemd container needs root"
        local c
        for c in debootstrap systemd-nspawn nsenter flock; do
                command -v "$c" >/dev/null ||
                        skip "$c is not installed (apt-get install -y debootstrap systemd-container util-linux)"
        done
        grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null ||
                skip "the kernel has no overlayfs (needed to boot a copy of the cached tree)"
        local probe=certherd-lc-probe-$$
        lc_cg_enter_check "$probe" || skip "cannot create cgroups here (/sys/fs/cgroup not writable)"
}

# The mount point of each cgroup hierarchy this process is in, with its path there ("MOUNT PATH" lines);
# cpuset is left out (a new v1 cpuset group has no CPUs until configured, nspawn would not start).
lc_cg_hierarchies() {
        local line ctrl path mp
        while IFS= read -r line; do
                ctrl=${line#*:} ctrl=${ctrl%%:*} path=${line#*:*:}
                if [[ -z $ctrl ]]; then
                        mp=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
                else
                        [[ ,$ctrl, == *,cpuset,* ]] && continue
                        mp=$(awk -v want="$ctrl" '$3 == "cgroup" {
                                n = split(want, w, ","); m = split($4, o, ","); hit = 0
                                for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) if (w[i] == o[j]) hit++
                                if (hit == n) { print $2; exit } }' /proc/self/mounts)
                fi
                [[ -n $mp && -f $mp$path/cgroup.procs ]] && echo "$mp ${path%/}"
        done </proc/self/cgroup
}

lc_cg_enter_check() { # NAME: can we make (and remove) a child group everywhere?
        local mp path rc=0
        while read -r mp path; do
                mkdir -p "$mp$path/$1" 2>/dev/null || rc=1
                rmdir "$mp$path/$1" 2>/dev/null
        done < <(lc_cg_hierarchies)
        return $rc
}

# lc_cg_enter NAME: move the calling (sub)shell into child group NAME of its group in every hierarchy.
lc_cg_enter() {
        local mp path
        while read -r mp path; do
                mkdir -p "$mp$path/$1" && echo "$BASHPID" >"$mp$path/$1/cgroup.procs" ||
                        { echo "lc_cg_enter: failed for $mp$path/$1" >&2; return 1; }
        done < <(lc_cg_hierarchies)
}

# lc_cg_remove: remove the groups of LC_CGROUP (records "MOUNT/PATH" lines). Processes still in them are
# the container's, which this test started: they are killed by PID before the groups go.
lc_cg_remove() {
        local g pid i
        [[ -n $LC_CGROUP ]] || return 0
        while read -r g; do
                [[ -d $g ]] || continue
                for i in 1 2 3 4 5 6 7 8 9 10; do
                        find "$g" -depth -type d -exec rmdir {} \; 2>/dev/null
                        [[ -d $g ]] || break
                        for pid in $(cat $(find "$g" -name cgroup.procs) 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
                        sleep 0.1
                done
                [[ -d $g ]] && echo "lc_cg_remove: $g still busy" >&2
        done <<<"$LC_CGROUP"
        LC_CGROUP=
}

lc_since() { # T0 (date +%s%N): seconds since, two decimals
        awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }'
}

lc_mirror() {
        local m=${CERTHERD_DEBIAN_MIRROR:-}
        [[ -n $m ]] || m=$(awk '/^deb /{ print $2; exit }' /etc/apt/sources.list 2>/dev/null)
        [[ -n $m ]] || m=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
        echo "${m:-http://deb.debian.org/debian}"
}

lc_tree() {
        local pkgs hash dir t0
        pkgs=$(printf '%s\n' "${LC_PACKAGES[@]}" "$@" | sort -u | paste -sd, -)
        hash=$(echo "$LC_SUITE minbase $pkgs" | sha256sum | cut -c1-12)
        dir=/var/tmp/certherd-container-$hash
        [[ -f $dir/.ready ]] && { echo "$dir"; return 0; }
        (
                flock 9
                [[ -f $dir/.ready ]] && exit 0
                rm -rf "$dir.tmp"
                t0=$(date +%s%N)
                if ! debootstrap --variant=minbase --include="$pkgs" "$LC_SUITE" "$dir.tmp" "$(lc_mirror)" \
                        >"$dir.debootstrap.log" 2>&1; then
                        rm -rf "$dir.tmp"
                        echo "lc_tree: debootstrap failed, see $dir.debootstrap.log:" >&2
                        tail -5 "$dir.debootstrap.log" >&2
                        exit 1
                fi
                rm -rf "$dir.tmp/var/cache/apt/archives/"*.deb
                echo "$pkgs" >"$dir.tmp/.packages"
                touch "$dir.tmp/.ready"
                mv "$dir.tmp" "$dir"
                echo "# lc_tree: debootstrap of $dir took $(lc_since "$t0") s" >&2
        ) 9>"$dir.lock" || return 1
        echo "$dir"
}

lc_create() {
        local name=$1 tree
        shift
        # No tree means no mirror reachable (or no space): the test cannot run here, it is not wrong.
        tree=$(lc_tree "$@") || skip "cannot build the container tree with debootstrap (see above)"
        LC_NAME=$name
        LC_RUN=$(mktemp -d /var/tmp/certherd-lc-run.XXXXXX)
        mkdir -p "$LC_RUN/upper" "$LC_RUN/work" "$LC_RUN/root"
        mount -t overlay overlay -o "lowerdir=$tree,upperdir=$LC_RUN/upper,workdir=$LC_RUN/work" "$LC_RUN/root" ||
                { echo "lc_create: cannot mount an overlay over $tree" >&2; return 1; }
        LC_ROOT=$LC_RUN/root
}

lc_mask() {
        local u
        for u; do ln -sf /dev/null "$LC_ROOT/etc/systemd/system/$u"; done
}

lc_pid1_up() {
        LC_PID1=$(awk '{ print $1 }' "/proc/$LC_NSPAWN/task/$LC_NSPAWN/children" 2>/dev/null)
        [[ -n $LC_PID1 && $(cat "/proc/$LC_PID1/comm" 2>/dev/null) == systemd &&
           -S /proc/$LC_PID1/root/run/dbus/system_bus_socket ]]
}

lc_boot() {
        local t0 i state cg=certherd-lc-$LC_NAME-$$ mp path
        t0=$(date +%s%N)
        LC_CGROUP=$(lc_cg_hierarchies | while read -r mp path; do echo "$mp$path/$cg"; done)
        (
                lc_cg_enter "$cg" || exit 1
                exec systemd-nspawn -D "$LC_ROOT" -M "$LC_NAME" --boot --register=no --keep-unit --private-network \
                        --console=passive >"$LC_RUN/boot.log" 2>&1
        ) &
        LC_NSPAWN=$!
        for i in $(seq 600); do # up to 30 s for PID 1 and its system bus
                lc_pid1_up && break
                kill -0 "$LC_NSPAWN" 2>/dev/null || break
                sleep 0.05
        done
        lc_pid1_up || { echo "lc_boot: the container did not come up:" >&2; tail -20 "$LC_RUN/boot.log" >&2; return 1; }
        state=$(timeout 60 nsenter -t "$LC_PID1" -a systemctl is-system-running --wait 2>/dev/null)
        [[ $state == running || $state == degraded ]] ||
                { echo "lc_boot: system state '$state'" >&2; lc_exec systemctl --failed --no-pager >&2; return 1; }
        LC_BOOT_SECONDS=$(lc_since "$t0")
        echo "# lc_boot: $LC_NAME $state after $LC_BOOT_SECONDS s"
}

# The host's DBUS_SYSTEM_BUS_ADDRESS (lc_bus) means nothing inside: commands there use their own bus.
lc_exec() { nsenter -t "$LC_PID1" -a env -u DBUS_SYSTEM_BUS_ADDRESS "$@"; }
lc_netns() { nsenter -t "$LC_PID1" -n "$@"; }
lc_bus() { echo "unix:path=/proc/$LC_PID1/root/run/dbus/system_bus_socket"; }
lc_journal() { lc_exec journalctl --no-pager "$@"; }

# lc_nginx_site NAME: the container's nginx serves /etc/ssl/certherd/NAME.{crt,key} on 127.0.0.1:443.
lc_nginx_site() {
        cat >"$LC_ROOT/etc/nginx/sites-enabled/certherd" <<NGINX
server {
        listen 127.0.0.1:443 ssl;
        server_name localhost;
        ssl_certificate /etc/ssl/certherd/$1.crt;
        ssl_certificate_key /etc/ssl/certherd/$1.key;
        location / { return 200 "certherd\\n"; }
}
NGINX
}

lc_copy() {
        local src=$1 dest=$2 mode=${3:-}
        mkdir -p "$LC_ROOT$(dirname "$dest")"
        cp "$src" "$LC_ROOT$dest"
        [[ -z $mode ]] || chmod "$mode" "$LC_ROOT$dest"
}

lc_poweroff() {
        local i
        if [[ -n $LC_NSPAWN ]]; then
                [[ -n $LC_PID1 ]] && nsenter -t "$LC_PID1" -a systemctl poweroff >/dev/null 2>&1
                for i in $(seq 100); do kill -0 "$LC_NSPAWN" 2>/dev/null || break; sleep 0.1; done
                kill -0 "$LC_NSPAWN" 2>/dev/null && kill "$LC_NSPAWN"
                wait "$LC_NSPAWN" 2>/dev/null
        fi
        lc_cg_remove
        if [[ -n $LC_RUN ]]; then
                for i in 1 2 3 4 5; do
                        mountpoint -q "$LC_RUN/root" || break
                        umount "$LC_RUN/root" 2>/dev/null || sleep 0.2
                done
                mountpoint -q "$LC_RUN/root" && echo "lc_poweroff: $LC_RUN/root still mounted" >&2 || rm -rf "$LC_RUN"
        fi
        LC_NSPAWN= LC_PID1= LC_RUN= LC_ROOT=
}

# lib.sh's EXIT trap, with the container stopped first; a signal ends the test through it.
trap 'lc_poweroff; cleanup' EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
