#!/bin/bash
# The importers trust only what the source's owner could already do. A throw-away unprivileged user (made
# here, removed on exit) owns an acme.sh home whose Le_ReloadCmd would run as root and whose
# Le_RealKeyPath is /etc/shadow, a certbot --config-dir with a renew_hook, and a certmonger request
# directory. Imported by root, each is refused with the path and its owner, exit 3, and nothing is written
# or run; so are root's trees with one file of the user's, a group-writable directory, or a user's
# directory above them. The user importing their own tree gets exit 3 for a target they could not write,
# and a preview without side effects for one they could.
source "$(dirname "$0")/../lib.sh"
[[ $(id -u) == 0 ]] || skip "needs root (a throw-away user, root importing their files)"
need useradd passwd
need runuser util-linux

U=chimp$$
useradd --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$U" || skip "useradd failed"
trap 'userdel "$U" 2>/dev/null || true; cleanup' EXIT
UID_U=$(id -u "$U")
chmod 755 "$T" # the user works under $T too
PWNED=$T/pwned
shadow_sum=$(sha256sum /etc/shadow)

# A certificate for the sources to hold (never used for anything but being parsed).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=x.example \
        -addext subjectAltName=DNS:x.example -keyout "$T/x.key" -out "$T/x.crt" 2>/dev/null

mkdir -p "$T/etc/conf.d"
printf '[agent]\nstate-directory = %s/state\npin-directory = %s/pins\n' "$T" "$T" >"$T/etc/certherd.conf"
C() { "$CERTHERD" -c "$T/etc/certherd.conf" "$@"; }

# nothing_written: no inventory, no state directory (accounts, hooks), nothing run, /etc/shadow as it was.
nothing_written() {
        [[ ! -e $T/etc/conf.d/imported.conf ]] || die "an inventory was written: $(cat "$T/etc/conf.d/imported.conf")"
        [[ ! -e $T/state ]] || die "the state directory was written: $(find "$T/state")"
        [[ ! -e $PWNED ]] || die "the user's command ran"
        [[ $(sha256sum /etc/shadow) == "$shadow_sum" ]] || die "/etc/shadow changed"
}
# refused WHAT PATH: exit 3 (with and without --write), naming PATH and its owner.
refused() {
        local what=$1 path=$2
        shift 2
        expect 3 C import "$@"
        expect 3 C import "$@" --write "$T/etc/conf.d/imported.conf"
        grep -q "refusing to import from .*: $path .*$what" "$T/err" || die "message: $(cat "$T/err")"
        nothing_written
}

# --- acme.sh: a user's home
A=$T/home/acme.sh
make_acmesh() { # dir key-path [directory of the certificates]
        local certs=${3:-$(dirname "$2")}
        mkdir -p "$1/x.example_ecc"
        cat >"$1/x.example_ecc/x.example.conf" <<CONF
Le_Domain='x.example'
Le_Alt='no'
Le_Webroot='no'
Le_API='https://acme.example/directory'
Le_Keylength='ec-256'
Le_RealCertPath='$certs/cert.pem'
Le_RealKeyPath='$2'
Le_RealFullChainPath='$certs/fullchain.pem'
Le_ReloadCmd='__ACME_BASE64__START_$(printf 'touch %s' "$PWNED" | base64 -w0)__ACME_BASE64__END_'
CONF
        cp "$T/x.crt" "$1/x.example_ecc/fullchain.cer"
}
make_acmesh "$A" /etc/shadow
chown -R "$U:" "$T/home"
refused "owned by uid $UID_U ($U)" "$T/home" acme.sh "$A"
grep -q "not by root or the user running the import" "$T/err" || die "$(cat "$T/err")"
ok "root imports a user's acme.sh home (Le_ReloadCmd, Le_RealKeyPath=/etc/shadow): refused, exit 3, nothing written or run"

# The same tree made root's, but the user owns one file in it; then a directory above it.
chown -R root: "$T/home"
chown "$U" "$A/x.example_ecc/x.example.conf"
refused "owned by uid $UID_U ($U)" "$A/x.example_ecc/x.example.conf" acme.sh "$A"
chown root "$A/x.example_ecc/x.example.conf"
chmod 775 "$A/x.example_ecc"
refused "writable by its group (mode 0775)" "$A/x.example_ecc" acme.sh "$A"
chmod 755 "$A/x.example_ecc"
chown "$U" "$T/home"
refused "owned by uid $UID_U ($U)" "$T/home" acme.sh "$A"
chown root "$T/home"
ok "a root tree with a user's file, a group-writable directory, or under a user's directory: refused, exit 3"

# The user imports their own home: /etc/shadow as a target is refused; targets they may write are fine.
UH=$T/uhome
mkdir -p "$UH"
make_acmesh "$UH/.acme.sh" /etc/shadow "$UH/tls"
chown -R "$U:" "$UH"
UC() { runuser -u "$U" -- "$CERTHERD" "$@"; }
expect 3 UC import acme.sh "$UH/.acme.sh" --state-directory "$UH/state"
grep -q "its key /etc/shadow lies in /etc, which its owner uid $UID_U ($U) may not write" "$T/err" ||
        die "target rule: $(cat "$T/err")"
[[ ! -e $UH/state && ! -e $PWNED ]] || die "something was written"
rm -rf "$UH/.acme.sh"
make_acmesh "$UH/.acme.sh" "$UH/tls/key.pem"
chown -R "$U:" "$UH"
expect 0 UC import acme.sh "$UH/.acme.sh" --state-directory "$UH/state"
grep -q "^key = $UH/tls/key.pem$" "$T/out" && grep -q "^exec = $UH/state/import/" "$T/out" || die "preview: $(cat "$T/out" "$T/err")"
[[ ! -e $UH/state && ! -e $UH/tls && ! -e $PWNED ]] || die "the preview wrote something: $(find "$UH")"
ok "the user's own import: /etc/shadow as a target refused (exit 3), their own targets previewed with no side effects"

# --- certbot: a user's --config-dir
L=$T/le
mkdir -p "$L/renewal" "$L/live/x" "$L/renewal-hooks/deploy"
cp "$T/x.crt" "$L/live/x/fullchain.pem"
cat >"$L/renewal/x.conf" <<CONF
archive_dir = $L/archive/x
cert = $L/live/x/cert.pem
privkey = /etc/shadow
chain = $L/live/x/chain.pem
fullchain = $L/live/x/fullchain.pem

[renewalparams]
authenticator = standalone
server = https://acme.example/directory
account = 0123abcd
renew_hook = touch $PWNED
CONF
chown -R "$U:" "$L"
refused "owned by uid $UID_U ($U)" "$L" certbot --config-dir "$L"
ok "root imports a user's certbot --config-dir (renew_hook, privkey = /etc/shadow): refused, exit 3, nothing written"
# root's tree, the user's deploy hook directory: the wrapper would run what they put there.
chown -R root: "$L"
chown "$U" "$L/renewal-hooks/deploy"
refused "owned by uid $UID_U ($U)" "$L/renewal-hooks/deploy" certbot --config-dir "$L"
chown root "$L/renewal-hooks/deploy"
expect 0 C import certbot --config-dir "$L"
grep -q "^exec = $T/state/import/certbot-x-deploy$" "$T/out" || die "root's own tree: $(cat "$T/out" "$T/err")"
nothing_written
ok "root's certbot tree with the user's deploy hook directory: refused; all root's: imported (preview, nothing written)"

# --- certmonger: a user's request directory
M=$T/cm
mkdir -p "$M"
cat >"$M/20261201000000" <<REQ
id=20261201000000
key_storage_type=FILE
key_storage_location=/etc/shadow
cert_storage_type=FILE
cert_storage_location=$T/x.crt
template_hostname=x.example
ca_name=SelfSign
post_certsave_command=touch $PWNED
REQ
chown -R "$U:" "$M"
refused "owned by uid $UID_U ($U)" "$M" certmonger "$M"
ok "root imports a user's certmonger directory (post_certsave_command, key /etc/shadow): refused, exit 3"
echo "$n_ok passed"
