#!/bin/bash
# `certherd import acme.sh DIR` on a directory laid out as acme.sh writes it (DOMAIN_ecc/
# DOMAIN.conf with Le_* keys, the --install-cert targets, a base64-wrapped Le_ReloadCmd, the account under
# ca/SERVER/ with ca.conf's ACCOUNT_URL). acme.sh is not packaged by Debian: the files are written here in
# its format, and the account is a real one at pebble, so the renewal proves it is reused.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../20-acme/lib-pebble.sh"
need dig bind9-dnsutils

knot_start
pebble_start PEBBLE_AUTHZREUSE=0
D=seed.$ZONE

# A real account and certificate at pebble, made by another certherd (its own state directory).
acme_conf "$T/seed.conf" seed <<CONF
listen = 127.0.0.1:$HTTP_PORT
CONF
sed -i "s#^state-directory = .*#state-directory = $T/seed-state#" "$T/seed.conf"
acme_cert "$T/seed.conf" seed seed "$D" "www.$D"
expect 0 "$CERTHERD" -c "$T/seed.conf" renew
accounts_before=$(grep -c "There are now .* accounts in memory" "$T/pebble/log" || true)
url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$T/seed-state/acme/seed/account.json")

# acme.sh's home.
A=$T/acmesh
mkdir -p "$A/${D}_ecc" "$A/ca/localhost:$PEBBLE_PORT/dir" "$T/srv"
cp "$T/seed-state/acme/seed/account.key" "$A/ca/localhost:$PEBBLE_PORT/dir/account.key"
printf "ACCOUNT_URL='%s'\nCA_KEY_HASH='x'\n" "$url" >"$A/ca/localhost:$PEBBLE_PORT/dir/ca.conf"
awk -v d="$T/split" 'BEGIN { n = 0 } /BEGIN CERT/ { n++ } { print > (d "." n) }' "$T/tls/seed.crt"
cp "$T/split.1" "$A/${D}_ecc/$D.cer"
cat "$T"/split.[2-9] >"$A/${D}_ecc/ca.cer"
cp "$T/tls/seed.crt" "$A/${D}_ecc/fullchain.cer"
cp "$T/tls/seed.key" "$A/${D}_ecc/$D.key"
cp "$T/split.1" "$T/srv/cert.pem"; cat "$T"/split.[2-9] >"$T/srv/ca.pem"; cp "$T/tls/seed.crt" "$T/srv/fullchain.pem"
install -m 600 "$T/tls/seed.key" "$T/srv/key.pem"
rm -f "$T"/split.*
reload=$(printf 'echo "reload CERT_PATH=$CERT_PATH Le_Domain=$Le_Domain certherd=$CERTHERD_NAME" >>%s/reload.log' "$T" | base64 -w0)
cat >"$A/${D}_ecc/$D.conf" <<CONF
Le_Domain='$D'
Le_Alt='www.$D'
Le_Webroot='no'
Le_PreHook=''
Le_PostHook=''
Le_RenewHook=''
Le_API='https://localhost:$PEBBLE_PORT/dir'
Le_Keylength='ec-256'
Le_HTTPPort='$HTTP_PORT'
Le_CertCreateTime='1764547200'
Le_CertCreateTimeStr='2025-12-01T00:00:00Z'
Le_NextRenewTimeStr='2026-01-30T00:00:00Z'
Le_NextRenewTime='1769731200'
Le_RealCertPath='$T/srv/cert.pem'
Le_RealCACertPath='$T/srv/ca.pem'
Le_RealKeyPath='$T/srv/key.pem'
Le_ReloadCmd='__ACME_BASE64__START_${reload}__ACME_BASE64__END_'
Le_RealFullChainPath='$T/srv/fullchain.pem'
CONF

mkdir -p "$T/etc/conf.d"
printf '[agent]\nstate-directory = %s/state\npin-directory = %s/pins\n' "$T" "$T" >"$T/etc/certherd.conf"
C() { "$CERTHERD" -c "$T/etc/certherd.conf" "$@"; }
expect 0 C import acme.sh "$A" --write "$T/etc/conf.d/acmesh.conf"
inv=$T/etc/conf.d/acmesh.conf
for line in "certificate = $T/srv/fullchain.pem" "key = $T/srv/key.pem" "leaf = $T/srv/cert.pem" \
        "chain = $T/srv/ca.pem" "names = $D www.$D" "issuer = acme:acmesh-${D}_ecc" "key-type = ec-p256" \
        "directory = https://localhost:$PEBBLE_PORT/dir" "listen = \[::\]:$HTTP_PORT"; do
        grep -q "^$line$" "$inv" || die "no '$line' in: $(cat "$inv" "$T/err")"
done
cmp -s "$T/seed-state/acme/seed/account.key" "$T/state/acme/acmesh-${D}_ecc/account.key" ||
        die "the account key was not copied"
ok "import acme.sh: install targets, names, key type, server, standalone port, account"

printf '[acme "acmesh-%s_ecc"]\nca-bundle = %s/pebble/ca.pem\nlisten = 127.0.0.1:%s\n[certificate "%s_ecc"]\nca = %s/pebble/root.pem\n' \
        "$D" "$T" "$HTTP_PORT" "$D" "$T" >"$T/etc/conf.d/zz-test.conf"
expect 0 C check
old=$(openssl x509 -noout -serial -in "$T/srv/cert.pem")
expect 0 C renew --force
grep -q "1 renewed, 0 not due, 0 failed" "$T/out" || die "renew: $(cat "$T/out" "$T/err")"
[[ $(grep -c "There are now .* accounts in memory" "$T/pebble/log" || true) == "$accounts_before" ]] ||
        die "a new account was registered"
[[ $(openssl x509 -noout -serial -in "$T/srv/cert.pem") != "$old" ]] || die "cert.pem not renewed"
cmp -s <(openssl x509 -in "$T/srv/fullchain.pem") <(openssl x509 -in "$T/srv/cert.pem") || die "leaf != fullchain's leaf"
grep -q "reload CERT_PATH=$T/srv/cert.pem Le_Domain=$D certherd=${D}_ecc" "$T/reload.log" ||
        die "Le_ReloadCmd: $(cat "$T/reload.log" 2>&1)"
ok "renew --force with acme.sh's account (no registration); leaf written; Le_ReloadCmd ran with acme.sh's variables"

# Shell in a .conf is never run: refused with FILE:LINE, nothing written.
mkdir -p "$T/bad/x"
printf "Le_Domain='x'\nLe_Alt=\$(touch %s/pwned)\n" "$T" >"$T/bad/x/x.conf"
expect 1 C import acme.sh "$T/bad" --write "$T/bad.conf"
grep -q "$T/bad/x/x.conf:2: " "$T/err" || die "$(cat "$T/err")"
[[ ! -e $T/bad.conf && ! -e $T/pwned ]] || die "bad input wrote something"
ok "a command substitution in a .conf: FILE:LINE, exit 1, nothing run or written"
echo "$n_ok passed"
