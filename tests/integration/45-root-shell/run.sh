#!/bin/bash
# A root shell next to a service user: `certherd renew --force` run as root against a state directory that
# a service user owns acts as that user. Afterwards every file in the state, key, CA, pin and metrics
# directories still belongs to the service user, a key-policy = reuse set kept its key (and pin), and the
# service user's own renew and check succeed. A set with owner = still gets its owner.
source "$(dirname "$0")/../lib.sh"
need openssl; need runuser util-linux; need useradd passwd

[[ $(id -u) == 0 ]] || skip "needs root (creates a throw-away system user)"
U=certherd-it$$
useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$U" ||
        skip "cannot create a system user"
# lib.sh's trap removes $T; the user goes too.
trap 'cleanup; userdel "$U" 2>/dev/null || true' EXIT

chmod 0755 "$T"
mkdir -p "$T/state" "$T/pins" "$T/etc/ca" "$T/tls" "$T/metrics" "$T/owned"
chown "$U:" "$T/state" "$T/pins" "$T/etc/ca" "$T/tls" "$T/metrics" "$T/owned"
chmod 0700 "$T/state" "$T/etc/ca"
cat >"$T/certherd.conf" <<CONF
$(conf_agent "metrics-file = $T/metrics/certherd.prom")

$(conf_ca internal "$T/etc/ca/internal" "validity = 30d")

$(conf_leaf app internal "$T/etc/ca/internal" "names = app.internal" "key-policy = reuse")
CONF
chmod 0644 "$T/certherd.conf"
C() { "$CERTHERD" -c "$T/certherd.conf" --no-daemon "$@"; }
AS_USER() { runuser -u "$U" -- "$CERTHERD" -c "$T/certherd.conf" --no-daemon "$@"; }

# Files in the service user's directories that someone else owns (nothing, if all is well).
foreign() { find "$T/state" "$T/pins" "$T/etc/ca" "$T/tls" "$T/metrics" ! -user "$U"; }

# --- the service user sets things up, as the timer would
expect 0 AS_USER ca init internal
expect 0 AS_USER renew
pin=$(spki_pin "$T/tls/app.crt")
serial=$(openssl x509 -noout -serial -in "$T/tls/app.crt")
[[ -z $(foreign) ]] || die "the service user's own run left foreign files: $(foreign)"
ok "the service user issued app as itself"

# --- root forces a renewal, as README's certbot section shows
expect 0 C --log-level debug renew --force app
grep -q "acting as that user" "$T/err" || { cat "$T/err" >&2; die "no debug line about switching to $U"; }
grep -q "owned by another user" "$T/err" && die "root distrusted the service user's key: $(cat "$T/err")"
[[ $(openssl x509 -noout -serial -in "$T/tls/app.crt") != "$serial" ]] || die "root's renew --force did not renew"
[[ $(spki_pin "$T/tls/app.crt") == "$pin" ]] || die "root's renew --force re-keyed a key-policy = reuse set"
[[ $(cat "$T/pins/app.pin") == "$pin" ]] || die "the published pin changed"
[[ -z $(foreign) ]] || die "root's renew left files owned by someone else: $(foreign | xargs ls -ld)"
ok "root's renew --force acted as $U: new certificate, same pin, nothing changed owner"

# --- the next timer run and check, as the service user
expect 0 AS_USER renew
expect 0 AS_USER renew --force app
[[ $(spki_pin "$T/tls/app.crt") == "$pin" ]] || die "the service user's renew re-keyed app"
expect 0 AS_USER check
[[ -z $(foreign) ]] || die "files changed owner: $(foreign)"
ok "the service user's renew and check succeed after root's run"

# --- other acting commands as root: recover, ca list
expect 0 C recover
expect 0 C ca list internal
[[ -z $(foreign) ]] || die "root's recover/ca left foreign files: $(foreign)"
ok "root's recover and ca list leave the service user's files alone"

# --- owner = another user: the one step that needs more than the service user may do
cat >>"$T/certherd.conf" <<CONF

[certificate "owned"]
certificate = $T/owned/owned.crt
key = $T/owned/owned.key
names = owned.internal
issuer = ca:internal
ca = $T/etc/ca/internal.crt
owner = nobody:nogroup
mode = 0640
CONF
expect 0 C --log-level debug renew --force owned
grep -q "CAP_CHOWN" "$T/err" || { cat "$T/err" >&2; die "the switch kept no CAP_CHOWN for owner ="; }
[[ $(stat -c %U:%G "$T/owned/owned.key") == nobody:nogroup ]] ||
        die "owner = not applied: $(stat -c %U:%G "$T/owned/owned.key")"
[[ -z $(foreign) ]] || die "the owner = run left foreign files: $(foreign)"
ok "owner = nobody:nogroup applied while acting as $U; the state stays $U's"

# --- import --write as root: the inventory file is root's, the account and hook in the state directory are
# the service user's. An acme.sh home in its format (no server is contacted by an import).
A=$T/acmesh D=imp.example
mkdir -p "$A/${D}_ecc" "$A/ca/acme.invalid/dir" "$T/imp/conf.d" "$T/srv"
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkcs8 -topk8 -nocrypt \
        >"$A/ca/acme.invalid/dir/account.key"
printf "ACCOUNT_URL='https://acme.invalid/acct/1'\nCA_KEY_HASH='x'\n" >"$A/ca/acme.invalid/dir/ca.conf"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=$D" \
        -addext "subjectAltName=DNS:$D" -keyout "$T/srv/key.pem" -out "$T/srv/fullchain.pem" 2>/dev/null
cp "$T/srv/fullchain.pem" "$A/${D}_ecc/fullchain.cer"
cp "$T/srv/key.pem" "$A/${D}_ecc/$D.key"
cat >"$A/${D}_ecc/$D.conf" <<CONF
Le_Domain='$D'
Le_Alt='no'
Le_Webroot='no'
Le_API='https://acme.invalid/dir'
Le_Keylength='ec-256'
Le_RealKeyPath='$T/srv/key.pem'
Le_RealFullChainPath='$T/srv/fullchain.pem'
Le_ReloadCmd='__ACME_BASE64__START_$(printf 'true' | base64 -w0)__ACME_BASE64__END_'
CONF
printf '[agent]\nstate-directory = %s/state\npin-directory = %s/pins\n' "$T" "$T" >"$T/imp/certherd.conf"
expect 0 "$CERTHERD" -c "$T/imp/certherd.conf" --log-level debug import acme.sh "$A" --write "$T/imp/conf.d/acmesh.conf"
[[ -s $T/state/acme/acmesh-${D}_ecc/account.key ]] || { cat "$T/err" >&2; die "import stored no account"; }
ls "$T"/state/import/*reload >/dev/null 2>&1 || { cat "$T/err" >&2; die "import stored no reload hook"; }
[[ -z $(foreign) ]] || die "root's import left foreign files in the state directory: $(foreign | xargs ls -ld)"
[[ $(stat -c %U "$T/imp/conf.d/acmesh.conf") == root ]] || die "the imported inventory file is not root's"
ok "root's import --write: inventory file root's; account and hook in the state directory $U's"

# --- a state directory of root's: root stays root (as before)
chown root: "$T/state"
expect 0 C --log-level debug renew --force app
grep -q "acting as that user" "$T/err" && die "switched users although root owns the state directory"
ok "a root-owned state directory: no switch"
