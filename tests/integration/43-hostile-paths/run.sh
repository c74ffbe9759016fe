#!/bin/bash
# Paths root reads, against a throw-away unprivileged user (made here, removed on exit):
#  - the inventory's directories must be root's and writable by nobody else, and a link in conf.d is
#    followed only when root made it;
#  - a link the user plants in a directory root reads (sticky and world-writable, as /tmp) that points to
#    /etc/shadow or to the CA's key is refused — nothing of the file is read; the user's link to their own
#    file, and root's links (certbot's live/ into archive/), are followed;
#  - a device node or FIFO at a certificate path is refused before it is opened.
source "$(dirname "$0")/../lib.sh"
[[ $(id -u) == 0 ]] || skip "needs root (a throw-away user's links, read by root)"
need useradd passwd
need runuser util-linux
need openssl

U=chimp$$
useradd --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$U" || skip "useradd failed"
trap 'userdel "$U" 2>/dev/null || true; cleanup' EXIT
UID_U=$(id -u "$U")
chmod 755 "$T"
shadow_line=$(head -1 /etc/shadow | cut -d: -f1-2)

mkdir -p "$T/etc/conf.d" "$T/etc/ca" "$T/tls" "$T/pub"
chmod 1777 "$T/pub" # like /tmp: everyone may add a name
cat >"$T/etc/certherd.conf" <<CONF
$(conf_agent)

$(conf_ca internal "$T/etc/ca/internal")

$(conf_leaf good internal "$T/etc/ca/internal" "names = good.test")
CONF
C() { "$CERTHERD" -c "$T/etc/certherd.conf" "$@"; }
expect 0 C ca init internal
expect 0 C renew good
expect 0 C check good

# --- the inventory's directories
chmod 775 "$T/etc"
expect 3 C check good
grep -q "$T/etc: refusing an inventory directory writable by its group (mode 0775)" "$T/err" || die "$(cat "$T/err")"
chmod 755 "$T/etc"
chown "$U" "$T/etc/conf.d"
expect 3 C check good
grep -q "$T/etc/conf.d: refusing an inventory directory owned by uid $UID_U" "$T/err" || die "$(cat "$T/err")"
chown root "$T/etc/conf.d"
printf '[certificate "good"]\nexec = %s/own-the-box\n' "$T" >"$T/pub/evil.conf"
chown "$U" "$T/pub/evil.conf"
ln -s "$T/pub/evil.conf" "$T/etc/conf.d/50-evil.conf"
chown -h "$U" "$T/etc/conf.d/50-evil.conf"
expect 3 C check good
grep -q "symbolic link in the path not owned by root" "$T/err" || die "a user's link in conf.d: $(cat "$T/err")"
rm "$T/etc/conf.d/50-evil.conf"
printf '[certificate "good"]\nwarn-before = 20d\n' >"$T/etc/root.conf"
ln -s "$T/etc/root.conf" "$T/etc/conf.d/50-root.conf"
expect 0 C check good
ok "inventory directories: group-writable or a user's refused (exit 3); a user's link in conf.d refused, root's followed"

# --- a user's links where root reads
runuser -u "$U" -- ln -s /etc/shadow "$T/pub/cert.pem"
runuser -u "$U" -- ln -s "$T/etc/ca/internal.key" "$T/pub/key.pem"
runuser -u "$U" -- ln -s ../etc/ca/internal.key "$T/pub/rel.pem"
cat >>"$T/etc/certherd.conf" <<CONF

[certificate "shadow"]
certificate = $T/pub/cert.pem
names = good.test

[certificate "cakey"]
certificate = $T/tls/good.crt
key = $T/pub/key.pem
ca = $T/etc/ca/internal.crt
names = good.test
CONF
expect 2 C check shadow
grep -q "symbolic link of one user to a file of another" "$T/out" || die "shadow: $(cat "$T/out" "$T/err")"
! grep -q "$shadow_line" "$T/out" "$T/err" || die "the content of /etc/shadow was shown"
expect 2 C check cakey
grep -q "$T/pub/key.pem: symbolic link of one user to a file of another" "$T/out" || die "cakey: $(cat "$T/out" "$T/err")"
expect 3 C pin "$T/pub/key.pem"
grep -q "symbolic link of one user to a file of another" "$T/err" || die "pin: $(cat "$T/err")"
expect 3 C pin "$T/pub/rel.pem"
ok "a user's link to /etc/shadow or to the CA key (absolute or relative) in a world-writable directory: refused, not read"

# The user's link to the user's own file is theirs to show; root's links in root's tree are followed.
cp "$T/tls/good.crt" "$T/pub/own.crt"
chown "$U" "$T/pub/own.crt"
runuser -u "$U" -- ln -s "$T/pub/own.crt" "$T/pub/own-link.pem"
expect 0 C pin "$T/pub/own-link.pem"
mkdir -p "$T/le/archive/good" "$T/le/live/good"
cp "$T/tls/good.crt" "$T/le/archive/good/fullchain1.pem"
cp "$T/tls/good.key" "$T/le/archive/good/privkey1.pem"
ln -s ../../archive/good/fullchain1.pem "$T/le/live/good/fullchain.pem"
ln -s ../../archive/good/privkey1.pem "$T/le/live/good/privkey.pem"
cat >>"$T/etc/certherd.conf" <<CONF

[certificate "live"]
certificate = $T/le/live/good/fullchain.pem
key = $T/le/live/good/privkey.pem
ca = $T/etc/ca/internal.crt
names = good.test
CONF
expect 0 C check live
ok "the user's link to their own file, and root's live/ links into archive/, are followed"

# --- device nodes and FIFOs, refused before they are opened
mkfifo "$T/pub/fifo"
cat >>"$T/etc/certherd.conf" <<CONF

[certificate "zero"]
certificate = /dev/zero
names = good.test

[certificate "fifo"]
certificate = $T/pub/fifo
names = good.test
CONF
expect 2 C check zero
grep -q "/dev/zero: not a regular file (device)" "$T/out" || die "zero: $(cat "$T/out" "$T/err")"
# A writer blocked in open(2) wakes up as soon as anyone opens the FIFO to read, even non-blocking.
(exec 3>"$T/pub/fifo"; touch "$T/opened") &
writer=$!
pids+=("$writer")
sleep 0.2
expect 2 C check fifo
grep -q "not a regular file (FIFO)" "$T/out" || die "fifo: $(cat "$T/out" "$T/err")"
sleep 0.3
[[ ! -e $T/opened ]] || die "the FIFO was opened"
kill "$writer" 2>/dev/null || true
ok "/dev/zero and a FIFO as a certificate: refused by type, never opened"
echo "$n_ok passed"
