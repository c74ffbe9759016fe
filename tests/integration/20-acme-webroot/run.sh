#!/bin/bash
# http-01 through webroot files served by a real nginx: the answer files are written atomically under
# WEBROOT/.well-known/acme-challenge/, fetched by pebble through nginx, and removed afterwards.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../20-acme/lib-pebble.sh"
source "$(dirname "$0")/../lib-nginx.sh"
need dig bind9-dnsutils
[[ -x /usr/sbin/nginx ]] || skip "nginx is not installed (apt-get install -y nginx-light)"

knot_start
pebble_start PEBBLE_AUTHZREUSE=0
mkdir -p "$T/www" "$T/nginx/logs" "$T/nginx/temp"
cat >"$T/nginx/nginx.conf" <<CONF
user root;
$(ng_head "$T/nginx" "$T/nginx/logs/access.log")
    server { listen 127.0.0.1:$HTTP_PORT; root $T/www; }
}
CONF
/usr/sbin/nginx -c "$T/nginx/nginx.conf" -e "$T/nginx/logs/error.log" &
pids+=($!)
wait_port "$HTTP_PORT"

acme_conf "$T/c.conf" peb "webroot = $T/www"
acme_cert "$T/c.conf" site peb "site.$ZONE" "static.$ZONE"
C() { "$CERTHERD" -c "$T/c.conf" "$@"; }

expect 0 C renew
grep -q "1 renewed, 0 not due, 0 failed" "$T/out" || die "renew: $(cat "$T/out" "$T/err")"
verify_chain site
(($(grep -c 'GET /.well-known/acme-challenge/[A-Za-z0-9_-]* HTTP/1.1" 200' "$T/nginx/logs/access.log") >= 2)) ||
        die "nginx did not serve the answers: $(cat "$T/nginx/logs/access.log")"
[[ -d $T/www/.well-known/acme-challenge && -z $(ls -A "$T/www/.well-known/acme-challenge") ]] ||
        die "answer files left behind: $(ls -la "$T/www/.well-known/acme-challenge")"
ok "http-01 via webroot served by nginx: answers fetched by pebble, then removed"

# An unwritable webroot: a clear error, nothing installed.
sum=$(sha256sum "$T/tls/site.crt")
sed -i "s#^webroot = .*#webroot = $T/notadir/www#" "$T/c.conf"
touch "$T/notadir"
expect 1 C renew --force site
grep -q "$T/notadir/www/.well-known/acme-challenge" "$T/err" || die "$(cat "$T/err")"
[[ $(sha256sum "$T/tls/site.crt") == "$sum" ]] || die "certificate changed"
ok "an unusable webroot: the path in the error, the installed certificate untouched"
echo "$n_ok passed"
