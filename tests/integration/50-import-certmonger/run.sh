#!/bin/bash
# A real certmonger (Debian's, on a private session bus, its request and CA directories
# under $T) tracks a self-signed file pair with a post-save command and a pair from its local signer;
# `certherd import certmonger DIR` makes the self-signed one a set certherd renews (issuer = self, exec =
# the post-save command), the local one watch-only; an IPA request file (certmonger's format) is
# watch-only with a comment. Then certherd renews the self-signed pair and runs the hook.
source "$(dirname "$0")/../lib.sh"
need certmonger
need dbus-run-session dbus
need dbus-send dbus-bin
need selfsign-getcert certmonger

export CERTMONGER_REQUESTS_DIR=$T/cm/requests CERTMONGER_CAS_DIR=$T/cm/cas CERTMONGER_LOCAL_CA_DIR=$T/cm/local
export CERTMONGER_CONFIG_DIR=$T/cm/config HOME=$T
mkdir -p "$CERTMONGER_REQUESTS_DIR" "$CERTMONGER_CAS_DIR" "$CERTMONGER_LOCAL_CA_DIR" "$CERTMONGER_CONFIG_DIR" "$T/tls"
cat >"$T/cm.sh" <<SH
certmonger -s -n >"$T/cm/log" 2>&1 &
pid=\$!
# Wait for our certmonger to own its name. Asking it with getcert would make the bus start a second
# one (certmonger-session, from its service file) that races this one for the name and the CA files.
for i in \$(seq 100); do
        dbus-send --session --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.NameHasOwner \
                string:org.fedorahosted.certmonger 2>/dev/null | grep -q "boolean true" && break
        sleep 0.1
done
selfsign-getcert request -s -w -f "$T/tls/web.crt" -k "$T/tls/web.key" -D web.example -D www.web.example \
        -C "echo saved \\\$CERTMONGER_OPERATION >>$T/saved" || exit 1
local-getcert request -s -w -f "$T/tls/internal.crt" -k "$T/tls/internal.key" -D internal.example || exit 1
getcert list -s
kill \$pid
wait \$pid
SH
timeout 60 dbus-run-session -- bash "$T/cm.sh" >"$T/cm.out" 2>&1 || die "certmonger: $(cat "$T/cm.out" "$T/cm/log")"
[[ $(grep -c "status: MONITORING" "$T/cm.out") == 2 ]] || die "certmonger does not track both: $(cat "$T/cm.out")"
ok "certmonger tracks a self-signed and a locally signed file pair"

# An IPA request, as certmonger writes them (the fields that matter).
cp "$T/tls/internal.crt" "$T/tls/ipa.crt"
cat >"$CERTMONGER_REQUESTS_DIR/20261201000000" <<REQ
id=20261201000000
key_type=RSA
key_gen_type=RSA
key_size=2048
key_gen_size=2048
key_storage_type=FILE
key_storage_location=$T/tls/internal.key
cert_storage_type=FILE
cert_storage_location=$T/tls/ipa.crt
template_hostname=ipa.example
ca_name=IPA
state=MONITORING
post_certsave_command=systemctl reload httpd
REQ

mkdir -p "$T/etc/conf.d"
printf '[agent]\nstate-directory = %s/state\npin-directory = %s/pins\n' "$T" "$T" >"$T/etc/certherd.conf"
C() { "$CERTHERD" -c "$T/etc/certherd.conf" "$@"; }
expect 0 C import certmonger "$CERTMONGER_REQUESTS_DIR" --write "$T/etc/conf.d/certmonger.conf"
inv=$T/etc/conf.d/certmonger.conf
sed -n '/^\[certificate "certmonger-web"\]/,/^$/p' "$inv" >"$T/web.inv"
for line in "certificate = $T/tls/web.crt" "key = $T/tls/web.key" "names = web.example www.web.example" \
        "issuer = self" "key-type = rsa-2048" "exec = $T/state/import/certmonger-certmonger-web-postsave"; do
        grep -qx "$line" "$T/web.inv" || die "no '$line' for web: $(cat "$inv")"
done
sed -n '/^\[certificate "certmonger-internal"\]/,/^$/p' "$inv" | grep -qx "issuer = none" || die "local: $(cat "$inv")"
grep -q "watched only: issued by certmonger's local signer" "$inv" || die "local comment: $(cat "$inv")"
sed -n '/^\[certificate "certmonger-ipa"\]/,/^$/p' "$inv" >"$T/ipa.inv"
grep -qx "issuer = none" "$T/ipa.inv" && grep -q "FreeIPA" "$T/ipa.inv" || die "IPA: $(cat "$inv")"
grep -q "getcert stop-tracking" "$T/err" || die "no stop-tracking advice: $(cat "$T/err")"
ok "import: the self-signed pair renewed by certherd with its post-save hook, local and IPA watch-only"

expect 0 C check certmonger-web
old=$(openssl x509 -noout -serial -in "$T/tls/web.crt")
: >"$T/saved"
expect 0 C renew --force certmonger-web
grep -q "1 renewed" "$T/out" || die "renew: $(cat "$T/out" "$T/err")"
[[ $(openssl x509 -noout -serial -in "$T/tls/web.crt") != "$old" ]] || die "not renewed"
grep -q "^saved" "$T/saved" || die "the post-save command did not run"
expect 0 C check certmonger-web
ok "renew --force: a new self-signed certificate, the post-save command ran, check ok"

# A request file that is not certmonger's: FILE:LINE, nothing written.
mkdir -p "$T/bad"
printf 'id=1\n\x20continued\nno equals sign\n' >"$T/bad/1"
expect 1 C import certmonger "$T/bad" --write "$T/bad.conf"
grep -q "$T/bad/1:3: expected key=value" "$T/err" || die "$(cat "$T/err")"
[[ ! -e $T/bad.conf ]] || die "written for bad input"
ok "a malformed request file: FILE:LINE, exit 1, nothing written"
echo "$n_ok passed"
