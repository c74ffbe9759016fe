#!/bin/bash
# Revoke and replace at an ACME server (Debian's pebble, validating for real; its certificates name no
# CRL the set checks). `revoke NAME` alone: pebble reports the certificate revoked, check calls it revoked
# from certherd's own record, and the next `renew` replaces it with a new key (key-policy = reuse
# notwithstanding). `revoke NAME --replace`: revoked at pebble, then ordered again at once with a new
# key and deployed (the exec hook sees the new certificate).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../20-acme/lib-pebble.sh"
need dig bind9-dnsutils

knot_start
pebble_start
acme_conf "$T/c.conf" peb <<CONF
listen = 127.0.0.1:$HTTP_PORT
CONF
acme_cert "$T/c.conf" www peb www.acme.test
cat >"$T/hook" <<HOOK
#!/bin/sh
echo "\$(openssl x509 -in "\$CERTHERD_CERTIFICATE" -noout -serial | cut -d= -f2) \$CERTHERD_PIN" >>"$T/hook.log"
HOOK
chmod +x "$T/hook"
printf 'key-policy = reuse\nexec = %s/hook\n' "$T" >>"$T/c.conf"
C() { "$CERTHERD" -c "$T/c.conf" "$@"; }
serial() { openssl x509 -in "$T/tls/www.crt" -noout -serial | cut -d= -f2; }
pin() { spki_pin "$T/tls/www.crt"; }

expect 0 C renew
grep -q "1 renewed" "$T/out" || die "first issuance: $(cat "$T/out" "$T/err")"
s1=$(serial) p1=$(pin)

# --- revoke alone: pebble says revoked; check says so from certherd's record; the next renew replaces it
expect 0 C revoke www --reason superseded
pebble_cert_status "$s1" | grep -q '"Status": "Revoked"' || die "pebble does not report it revoked"
expect 2 C --no-daemon check www
grep -q "^critical www: revoked: serial $(tr A-F a-f <<<"$s1") was revoked by certherd on .* (superseded)" "$T/out" ||
        die "check does not call it revoked: $(cat "$T/out")"
expect 0 C renew
grep -q "www: renewing: certificate set is broken" "$T/err" || die "renew: $(cat "$T/err" "$T/out")"
grep -q "1 renewed" "$T/out" || die "renew: $(cat "$T/out")"
s2=$(serial) p2=$(pin)
[[ $s2 != "$s1" && $p2 != "$p1" ]] || die "not replaced with a new key"
verify_chain www
expect 0 C --no-daemon check www
ok "revoke (superseded) at pebble: check says revoked without a CRL, the next renew orders a replacement with a new key"

# --- --replace: revoked and re-ordered at once with a new key, deployed
: >"$T/hook.log"
expect 0 C revoke www --replace
grep -q "www: revoked" "$T/out" || die "revoke --replace: $(cat "$T/out" "$T/err")"
grep -q "1 renewed, 0 not due, 0 failed" "$T/out" || die "not renewed at once: $(cat "$T/out" "$T/err")"
pebble_cert_status "$s2" | grep -q '"Status": "Revoked"' || die "pebble does not report $s2 revoked"
s3=$(serial) p3=$(pin)
[[ $s3 != "$s2" && $p3 != "$p2" ]] || die "--replace: not a new serial and key"
pebble_cert_status "$s3" | grep -q '"Status": "Valid"' || die "the replacement is not valid at pebble"
[[ $(cat "$T/hook.log") == "$s3 $p3" ]] || die "the deploy hook did not see the new certificate: $(cat "$T/hook.log")"
verify_chain www
expect 0 C --no-daemon check www
ok "revoke --replace at pebble: revoked, ordered again at once with a new key, deployed (the hook saw serial $s3)"
echo "$n_ok passed, 0 failed"
