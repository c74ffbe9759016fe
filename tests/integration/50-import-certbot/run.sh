#!/bin/bash
# Debian's certbot obtains two certificates from pebble (webroot served by nginx; one ECDSA, one
# RSA with --reuse-key; a deploy hook), `certherd import certbot` takes them over with certbot's account,
# and `certherd renew --force` renews both: same account, the four live/ files agree, nginx serves the new
# certificate, the deploy hooks ran with certbot's and certherd's environment, certbot still reads its
# directory.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../20-acme/lib-pebble.sh"
source "$(dirname "$0")/../lib-nginx.sh"
need dig bind9-dnsutils
need certbot
[[ -x /usr/sbin/nginx ]] || skip "nginx is not installed (apt-get install -y nginx-light)"
[[ $(id -u) == 0 ]] || skip "certbot and the imported hooks run as root here"

knot_start
pebble_start PEBBLE_AUTHZREUSE=0
LE=$T/le
NG=$T/nginx
TLS_SERVE=$(free_port)
mkdir -p "$T/www" "$NG/logs" "$NG/temp" "$LE"

# nginx: the webroot for pebble's http-01 fetches, and a TLS server for lineage one's fullchain.pem. It
# starts on a throwaway pair until certbot has made the real one.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=boot \
        -keyout "$NG/boot.key" -out "$NG/boot.crt" 2>/dev/null
ng_conf() { # cert key
        cat >"$NG/nginx.conf" <<CONF
user root;
$(ng_head "$NG" "$NG/logs/access.log")
    server { listen 127.0.0.1:$HTTP_PORT; root $T/www; }
    server { listen 127.0.0.1:$TLS_SERVE ssl; ssl_certificate $1; ssl_certificate_key $2; return 200 "ok\n"; }
}
CONF
}
ng_conf "$NG/boot.crt" "$NG/boot.key"
ng_start "$NG" || die "nginx does not start"
pids+=("$NG_PID")
wait_port "$HTTP_PORT"

# A deploy hook in certbot's directory (run for every lineage) records the environment it ran with; the
# --deploy-hook of lineage one reloads nginx.
mkdir -p "$LE/renewal-hooks/deploy"
cat >"$LE/renewal-hooks/deploy/10-record" <<HOOK
#!/bin/sh
echo "lineage=\$RENEWED_LINEAGE domains=\$RENEWED_DOMAINS certherd=\${CERTHERD_NAME:-} pin=\${CERTHERD_PIN:-}" >>$T/hook.log
HOOK
chmod 755 "$LE/renewal-hooks/deploy/10-record"
RELOAD="nginx -p $NG/ -e $NG/logs/error.log -c $NG/nginx.conf -s reload"

SERVER=https://localhost:$PEBBLE_PORT/dir
cb() {
        REQUESTS_CA_BUNDLE=$T/pebble/ca.pem certbot --config-dir "$LE" --work-dir "$T/cb-work" --logs-dir "$T/cb-logs" \
                --non-interactive "$@"
}
cb register --agree-tos --register-unsafely-without-email --server "$SERVER" >"$T/cb.out" 2>&1 ||
        die "certbot register: $(cat "$T/cb.out")"
cb certonly --server "$SERVER" --webroot -w "$T/www" -d "one.$ZONE" -d "www.one.$ZONE" --cert-name one \
        --key-type ecdsa --elliptic-curve secp256r1 --deploy-hook "$RELOAD" >"$T/cb.out" 2>&1 ||
        die "certbot certonly one: $(cat "$T/cb.out"; grep -A30 Traceback "$T/cb-logs/letsencrypt.log" | tail -30)"
cb certonly --server "$SERVER" --webroot -w "$T/www" -d "two.$ZONE" --cert-name two \
        --key-type rsa --rsa-key-size 2048 --reuse-key >"$T/cb.out" 2>&1 ||
        die "certbot certonly two: $(cat "$T/cb.out")"
[[ -L $LE/live/one/fullchain.pem && -L $LE/live/two/cert.pem ]] || die "certbot made no live/ links"
ng_conf "$LE/live/one/fullchain.pem" "$LE/live/one/privkey.pem"
$RELOAD
ok "certbot obtained two certificates from pebble (ECDSA, RSA with --reuse-key) with a deploy hook"

accounts_before=$(grep -c "There are now .* accounts in memory" "$T/pebble/log" || true)
: >"$T/hook.log"
ACME=certbot-localhost-$PEBBLE_PORT # the shared [acme] is named after the server
# A copy as certbot left it (live/ links into archive/), for the import without --disable-source below.
cp -a "$LE" "$T/le-keep"

# The import: an inventory whose [agent] names the state directory the accounts go to.
mkdir -p "$T/etc/conf.d"
printf '[agent]\nstate-directory = %s/state\npin-directory = %s/pins\n' "$T" "$T" >"$T/etc/certherd.conf"
C() { "$CERTHERD" -c "$T/etc/certherd.conf" "$@"; }
export REQUESTS_CA_BUNDLE=$T/pebble/ca.pem

# The preview has no side effects at all: no state directory, no hook, nothing of certbot's touched.
snapshot() { (cd "$T" && { find le etc state -printf '%p %y %m %U %l\n' 2>/dev/null || true; } | sort && find le etc -type f -exec sha256sum {} + | sort); }
before=$(snapshot)
expect 0 C import certbot --config-dir "$LE"
grep -q "^\[certificate \"one\"\]" "$T/out" || die "preview: $(cat "$T/out" "$T/err")"
grep -q "stored by --write in $T/state/acme/$ACME/" "$T/out" || die "preview wording: $(cat "$T/out")"
[[ $(snapshot) == "$before" && ! -e $T/state ]] || die "the preview changed something: $(diff <(echo "$before") <(snapshot))"
ok "import certbot (preview): the inventory on standard output, nothing written anywhere"
expect 0 C import certbot --config-dir "$LE" --write "$T/etc/conf.d/certbot.conf" --disable-source
unset REQUESTS_CA_BUNDLE
inv=$T/etc/conf.d/certbot.conf
grep -q "^leaf = $LE/live/one/cert.pem$" "$inv" ||
        die "no leaf = key: branch 'outputs' (leaf/chain) is not merged, or import ignored it: $(cat "$inv" "$T/err")"
grep -q "^chain = $LE/live/two/chain.pem$" "$inv" || die "no chain = for two: $(cat "$inv")"
grep -q "^names = one.$ZONE www.one.$ZONE$" "$inv" || die "names of one: $(cat "$inv")"
grep -q "^key-type = ec-p256$" "$inv" && grep -q "^key-type = rsa-2048$" "$inv" || die "key types: $(cat "$inv")"
grep -q "^key-policy = reuse$" "$inv" || die "two's --reuse-key: $(cat "$inv")"
grep -q "^webroot = $T/www$" "$inv" || die "webroot: $(cat "$inv")"
grep -q "^directory = $SERVER$" "$inv" || die "[acme] directory: $(cat "$inv")"
grep -q "^ca-bundle = $T/pebble/ca.pem$" "$inv" || die "REQUESTS_CA_BUNDLE is not the ca-bundle: $(cat "$inv")"
[[ $(grep -c '^\[acme ' "$inv") == 1 ]] || die "the two lineages share one account and webroot: one [acme]: $(cat "$inv")"
grep -q "^issuer = acme:$ACME$" "$inv" || die "issuer: $(cat "$inv")"
grep -q "^\[acme \"$ACME\"\]$" "$inv" || die "[acme] not named after the server: $(cat "$inv")"
# pebble's root is in no system store: each set says what to put in its ca =.
[[ $(grep -c "^# ca = /etc/certherd/$ACME-root.pem$" "$inv") == 2 ]] || die "no ca = advice: $(cat "$inv")"
grep -q "^# the chain of $LE/live/one/fullchain.pem does not lead to a CA this system trusts (server $SERVER is no public CA):" "$inv" ||
        die "ca = advice wording: $(cat "$inv")"
[[ -f $LE/renewal/one.conf.certherd-imported && ! -e $LE/renewal/one.conf ]] || die "--disable-source did not rename"
grep -q "certbot no longer renews it" "$T/err" || die "--disable-source is silent: $(cat "$T/err")"
regr_uri=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["uri"])' "$LE"/accounts/*/*/*/regr.json)
grep -q "\"url\": *\"$regr_uri\"" "$T/state/acme/$ACME/account.json" ||
        die "certbot's account URL is not certherd's: $(cat "$T/state/acme/$ACME/account.json")"
ok "import: four live/ paths per set, names from the SANs, key types, reuse_key, webroot, one [acme], account copied"

# pebble's root is not in the system store: trust it for the chain check (merges into the imported sets).
printf '[certificate "one"]\nca = %s/pebble/root.pem\n[certificate "two"]\nca = %s/pebble/root.pem\n' \
        "$T" "$T" >"$T/etc/conf.d/zz-test.conf"
expect 0 C check
grep -q "^ok  *one:" "$T/out" && grep -q "^ok  *two:" "$T/out" || die "check: $(cat "$T/out")"
ok "certherd check: both imported sets ok"

old_one=$(openssl x509 -noout -serial -in "$LE/live/one/cert.pem")
old_two_pin=$(spki_pin "$LE/live/two/cert.pem")
expect 0 C renew --force
grep -q "2 renewed, 0 not due, 0 failed" "$T/out" || die "renew: $(cat "$T/out" "$T/err")"
accounts_after=$(grep -c "There are now .* accounts in memory" "$T/pebble/log" || true)
[[ $accounts_after == "$accounts_before" ]] || die "a new ACME account was registered: $(grep accounts "$T/pebble/log")"
grep -q "registered" "$T/err" && die "certherd says it registered: $(cat "$T/err")"
ok "renew --force: both renewed through pebble with certbot's account (no registration)"

for l in one two; do
        d=$LE/live/$l
        awk -v d="$T/split" 'BEGIN { n = 0 } /BEGIN CERT/ { n++ } { print > (d "." n) }' "$d/fullchain.pem"
        cmp -s <(openssl x509 -in "$T/split.1") <(openssl x509 -in "$d/cert.pem") || die "$l: cert.pem is not fullchain's leaf"
        cmp -s <(cat "$T"/split.[2-9]) "$d/chain.pem" || die "$l: chain.pem is not the rest of fullchain.pem"
        [[ $(spki_pin "$d/cert.pem") == $(openssl pkey -in "$d/privkey.pem" -pubout | openssl pkey -pubin -outform DER |
                openssl dgst -sha256 -binary | base64) ]] || die "$l: privkey.pem does not match cert.pem"
        rm -f "$T"/split.*
done
[[ $(openssl x509 -noout -serial -in "$LE/live/one/cert.pem") != "$old_one" ]] || die "one was not renewed"
[[ $(spki_pin "$LE/live/two/cert.pem") == "$old_two_pin" ]] || die "two: --reuse-key, but the key changed"
[[ ! -L $LE/live/one/cert.pem && -f $LE/live/one/cert.pem ]] || die "live/one/cert.pem is still a link into archive/"
ok "the four live/ files of each lineage agree (leaf, chain, key); two kept its key"

new_one=$(openssl x509 -noout -serial -in "$LE/live/one/cert.pem")
served=$(openssl s_client -connect "127.0.0.1:$TLS_SERVE" </dev/null 2>/dev/null | openssl x509 -noout -serial)
[[ $served == "$new_one" ]] || die "nginx serves $served, not the new $new_one"
grep -q "lineage=$LE/live/one domains=one.$ZONE www.one.$ZONE certherd=one pin=" "$T/hook.log" ||
        die "deploy hook of one: $(cat "$T/hook.log")"
grep -q "lineage=$LE/live/two domains=two.$ZONE certherd=two" "$T/hook.log" || die "deploy hook of two: $(cat "$T/hook.log")"
ok "nginx reloaded by the --deploy-hook serves the new serial; deploy hooks ran with RENEWED_* and CERTHERD_*"

cb certificates >"$T/cb.out" 2>&1 || die "certbot certificates: $(cat "$T/cb.out")"
grep -qi "error" "$T/cb.out" && die "certbot certificates: $(cat "$T/cb.out")"
ok "certbot certificates reads the directory without error"

# certbot 4's preferred_profile becomes profile; without --disable-source nothing of certbot's changes.
cp -a "$LE" "$T/le2"
mv "$T/le2/renewal/one.conf.certherd-imported" "$T/le2/renewal/one.conf"
rm "$T/le2/renewal/two.conf.certherd-imported"
sed -i 's/^\[renewalparams\]$/[renewalparams]\npreferred_profile = shortlived/' "$T/le2/renewal/one.conf"
# A lineage renewed through a DNS plugin: its credentials do not translate, so it is watched only.
sed -e 's/^authenticator = webroot$/authenticator = dns-cloudflare\ndns_cloudflare_credentials = \/root\/cf.ini/' \
        -e '/^webroot_path/d' "$T/le2/renewal/one.conf" >"$T/le2/renewal/dns.conf"
sum=$(cat "$T"/le2/renewal/* | sha256sum)
expect 0 C import certbot --config-dir "$T/le2" --state-directory "$T/state2"
grep -qx "profile = shortlived" "$T/out" || die "preferred_profile: $(cat "$T/out" "$T/err")"
sed -n '/^\[certificate "dns"\]/,/^$/p' "$T/out" >"$T/dns.inv"
grep -qx "issuer = none" "$T/dns.inv" && grep -q "DNS plugin credentials cannot be mapped" "$T/dns.inv" ||
        die "a DNS plugin lineage: $(cat "$T/out")"
[[ $(cat "$T"/le2/renewal/* | sha256sum) == "$sum" && -f $T/le2/renewal/one.conf ]] || die "the source changed"
[[ ! -e $T/state2 ]] || die "the preview wrote to the state directory: $(find "$T/state2")"
ok "preferred_profile → profile; a DNS plugin lineage watched with the reason; without --disable-source nothing changes"

# Without --disable-source: certbot's live/ links into archive/ stay, and the --reuse-key lineage keeps
# its key through root's link (live/two/privkey.pem) at certherd's renewal.
K=$T/le-keep
mkdir -p "$T/keep/conf.d"
printf '[agent]\nstate-directory = %s/keep-state\npin-directory = %s/keep-pins\n' "$T" "$T" >"$T/keep/certherd.conf"
K_() { "$CERTHERD" -c "$T/keep/certherd.conf" "$@"; }
sed -i "s#$LE/#$K/#g" "$K"/renewal/*.conf
[[ -L $K/live/two/privkey.pem ]] || die "le-keep: no live/ link"
REQUESTS_CA_BUNDLE=$T/pebble/ca.pem expect 0 K_ import certbot --config-dir "$K" --write "$T/keep/conf.d/certbot.conf"
printf '[certificate "two"]\nca = %s/pebble/root.pem\n' "$T" >"$T/keep/conf.d/zz-test.conf"
[[ -f $K/renewal/two.conf && -L $K/live/two/privkey.pem ]] || die "the import changed certbot's files"
keep_pin=$(spki_pin "$K/live/two/cert.pem")
expect 0 K_ renew --force two
grep -q "1 renewed" "$T/out" || die "renew two: $(cat "$T/out" "$T/err")"
grep -q "not reusing the key" "$T/err" && die "the key was not reused: $(cat "$T/err")"
[[ $(spki_pin "$K/live/two/cert.pem") == "$keep_pin" ]] || die "two: reuse_key through live/, but the key changed"
[[ $(openssl pkey -in "$K/live/two/privkey.pem" -pubout | openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary |
        base64) == "$keep_pin" ]] || die "two: privkey.pem does not match"
ok "without --disable-source: a reuse_key lineage keeps its key through root's live/ link into archive/"

# Bad input: a renewal file certbot never writes is refused with its file and line, nothing written.
mkdir -p "$T/bad/renewal"
printf 'cert = /x\n[renewalparams]\nrenew_hook = """a\n' >"$T/bad/renewal/x.conf"
expect 1 C import certbot --config-dir "$T/bad" --write "$T/bad.conf"
grep -q "$T/bad/renewal/x.conf:3: multi-line" "$T/err" || die "bad renewal file: $(cat "$T/err")"
[[ ! -e $T/bad.conf ]] || die "an inventory was written for bad input"
ok "a malformed renewal file: FILE:LINE, exit 1, nothing written"
echo "$n_ok passed"
