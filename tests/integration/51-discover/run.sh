#!/bin/bash
# `certherd discover` in a network namespace of its own (loopback, and a veth pair with
# 10.x addresses that exist only inside it) where nginx serves two server blocks, PostgreSQL runs with
# ssl = on, HAProxy serves a combined PEM, and a plaintext HTTP server listens on a 10.x address: the
# inventory it writes passes `certherd check`, names nginx.service, postgresql.service and haproxy.service
# with the right verify endpoints, and the plaintext listener is reported.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../lib-nginx.sh"
need ip iproute2; need openssl; need python3; need runuser util-linux
[[ $EUID == 0 ]] || skip "network namespaces and PostgreSQL as the postgres user need root"
[[ -x /usr/sbin/nginx ]] || skip "nginx is not installed (apt-get install -y nginx-light)"
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x $pgbin/initdb && -x $pgbin/pg_ctl ]] || skip "no PostgreSQL server (apt-get install -y postgresql)"
id postgres >/dev/null 2>&1 || skip "no postgres user (apt-get install -y postgresql)"

NS=certherd-discover-$$
ip netns add "$NS" 2>"$T/ns.err" || skip "cannot create a network namespace: $(cat "$T/ns.err")"
X() { ip netns exec "$NS" "$@"; }
PG=$T/pg
pg() { X runuser -u postgres -- "$pgbin/$1" "${@:2}"; }
# Every process of the namespace was started here (nginx, PostgreSQL, the HTTP server): end them by pid.
netns_cleanup() {
        local p
        set +e # a process that ended between the listing and its kill is no failure of the test
        [[ -f $PG/postmaster.pid ]] && pg pg_ctl -D "$PG" -m immediate -w stop >/dev/null 2>&1
        for p in $(ip netns pids "$NS" 2>/dev/null); do kill "$p" 2>/dev/null; done
        sleep 0.2
        for p in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        wait 2>/dev/null
        ip netns delete "$NS" 2>/dev/null
        cleanup
}
trap netns_cleanup EXIT
X ip link set lo up
X ip link add dv0 type veth peer name dv1
X ip addr add 10.231.0.1/24 dev dv0
X ip addr add 10.231.0.2/24 dev dv1
X ip link set dv0 up
X ip link set dv1 up
chmod 0711 "$T"

selfsigned() { # name file-stem
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 60 -subj "/CN=$1" \
                -addext "subjectAltName=DNS:$1" -keyout "$2.key" -out "$2.crt" 2>/dev/null
        chmod 600 "$2.key"
}
mkdir -p "$T/tls" "$T/ng/logs" "$T/ng/temp"
selfsigned alpha.test "$T/tls/alpha"
selfsigned beta.test "$T/tls/beta"
cat >"$T/ng/nginx.conf" <<CONF
$(ng_head "$T/ng")
    server {
        listen 127.0.0.1:8443 ssl;
        server_name alpha.test;
        ssl_certificate $T/tls/alpha.crt;
        ssl_certificate_key $T/tls/alpha.key;
        return 200 "alpha\n";
    }
    server {
        listen 127.0.0.1:9443 ssl;
        server_name beta.test;
        ssl_certificate ../tls/beta.crt;   # relative: to the directory of nginx.conf
        ssl_certificate_key $T/tls/beta.key;
        return 200 "beta\n";
    }
}
CONF
X nginx -p "$T/ng/" -e "$T/ng/logs/error.log" -c "$T/ng/nginx.conf" &

mkdir -p "$T/pg-tls" "$PG"
selfsigned db.test "$T/pg-tls/server"
chown -R postgres: "$T/pg-tls" "$PG"
pg initdb -D "$PG" -A trust -U postgres --no-sync >"$T/initdb.log" 2>&1 || { cat "$T/initdb.log"; die "initdb"; }
cat >>"$PG/postgresql.conf" <<PGCONF
listen_addresses = '127.0.0.1'
port = 5544
unix_socket_directories = '$PG'
ssl = on
ssl_cert_file = '$T/pg-tls/server.crt'
ssl_key_file = '$T/pg-tls/server.key'
PGCONF
pg pg_ctl -D "$PG" -l "$PG/log" -w -t 30 start >/dev/null || { tail -5 "$PG/log"; die "PostgreSQL did not start"; }

# HAProxy with a combined PEM (certificate and key in one file), as its `crt` wants it.
need haproxy
selfsigned gamma.test "$T/tls/gamma"
cat "$T/tls/gamma.crt" "$T/tls/gamma.key" >"$T/tls/gamma.pem"
chmod 600 "$T/tls/gamma.pem"
cat >"$T/haproxy.cfg" <<CFG
global
    log stderr format raw local0 emerg
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend tls
    bind 127.0.0.1:7443 ssl crt $T/tls/gamma.pem
    http-request return status 200 content-type text/plain string gamma
CFG
X haproxy -db -f "$T/haproxy.cfg" >"$T/haproxy.log" 2>&1 &

X python3 -m http.server --bind 10.231.0.1 8080 >/dev/null 2>&1 &
for i in $(seq 100); do
        X bash -c 'exec 3<>/dev/tcp/10.231.0.1/8080 && exec 4<>/dev/tcp/127.0.0.1/8443 && exec 5<>/dev/tcp/127.0.0.1/9443 &&
                exec 6<>/dev/tcp/127.0.0.1/7443' \
                2>/dev/null && break
        sleep 0.1
done
ok "a namespace with nginx (two server blocks), PostgreSQL with ssl = on, HAProxy and a plaintext HTTP server on 10.231.0.1"

expect 0 X "$CERTHERD" discover --write "$T/disc.conf"
inv=$T/disc.conf
block() { sed -n "/^\[certificate \"$1\"\]/,/^\$/p" "$inv"; }
block nginx-alpha >"$T/alpha"
block nginx-beta >"$T/beta"
block postgresql-server >"$T/pgset"
for l in "certificate = $T/tls/alpha.crt" "key = $T/tls/alpha.key" "issuer = none" "reload = nginx.service" \
        "verify = tls://127.0.0.1:8443"; do grep -qxF "$l" "$T/alpha" || die "alpha: no '$l': $(cat "$inv")"; done
for l in "certificate = $T/ng/../tls/beta.crt" "reload = nginx.service" "verify = tls://127.0.0.1:9443"; do
        grep -qxF "$l" "$T/beta" || die "beta: no '$l': $(cat "$inv")"; done
for l in "certificate = $T/pg-tls/server.crt" "key = $T/pg-tls/server.key" "reload = postgresql.service" \
        "verify = tls://127.0.0.1:5544?starttls=postgres"; do
        grep -qxF "$l" "$T/pgset" || die "postgresql: no '$l': $(cat "$inv")"; done
block haproxy-gamma >"$T/gamma"
for l in "certificate = $T/tls/gamma.pem" "key = $T/tls/gamma.pem" "reload = haproxy.service" \
        "verify = tls://127.0.0.1:7443"; do grep -qxF "$l" "$T/gamma" || die "haproxy: no '$l': $(cat "$inv")"; done
ok "the inventory: one set per pair, nginx, postgresql and haproxy units, verify endpoints that served them"

grep -q "^plaintext listener: 10.231.0.1:8080 (python3, pid [0-9]*): no TLS on a non-loopback address$" "$T/err" ||
        die "plaintext listener not reported: $(cat "$T/err")"
grep -q "5544\|8443" <(grep plaintext "$T/err") && die "a TLS listener reported as plaintext: $(cat "$T/err")"
ok "the plaintext listener on 10.231.0.1:8080 is reported, one line; the TLS ones are not"

expect 0 X "$CERTHERD" -c "$inv" check
[[ $(grep -c "^ok " "$T/out") == 4 ]] || die "check: $(cat "$T/out")"
ok "certherd check passes on the discovered inventory"

expect 1 X "$CERTHERD" discover --write "$inv"
grep -q "exists" "$T/err" || die "$(cat "$T/err")"
ok "an existing --write file is not replaced"
echo "$n_ok passed"
