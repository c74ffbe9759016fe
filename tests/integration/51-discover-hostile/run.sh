#!/bin/bash
# `certherd discover` runs as root and looks at every process of the host: nothing a user's process says
# about itself may make root run, load or read anything for that user. In a network namespace of its own,
# a throw-away unprivileged user starts
#   (a) processes titled "nginx: master process USERDIR/x" and "nginx: master process /usr/sbin/nginx -c
#       USERDIR/evil.conf", x a script that leaves a marker when run, evil.conf a configuration whose
#       error_log leaves a marker when root's nginx reads it;
#   (b) the real /usr/sbin/nginx on a configuration only that user may read, serving a certificate;
#   (c) a real PostgreSQL whose postgresql.conf the user then replaces with a link to a file only root may
#       read (ssl = on and a certificate path that must not leak);
# and root starts
#   (d) nginx on a configuration file owned by that user, and
#   (e) nginx on root's configuration file that includes a file owned by that user.
# discover, traced with strace, exits 0 and runs no program but the system's nginx (never on the user's
# files), leaves no marker, skips (b), (d) and (e) with a one-line warning and a comment each, reads (c)
# as the user (so the link gives "Permission denied" and the path does not appear), and lists the
# installed nginx's configuration (a TLS site added to /etc/nginx/conf.d for the test) as not running.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../lib-nginx.sh"
need ip iproute2; need openssl; need strace; need useradd passwd; need setpriv util-linux
[[ $EUID == 0 ]] || skip "a throw-away user, network namespaces and root's view of /proc need root"
[[ -x /usr/sbin/nginx && -f /etc/nginx/nginx.conf && -d /etc/nginx/conf.d ]] ||
        skip "nginx is not installed with /etc/nginx/conf.d (apt-get install -y nginx-light)"
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x $pgbin/initdb && -x $pgbin/postgres ]] || skip "no PostgreSQL server (apt-get install -y postgresql)"
# The installed nginx must be stopped for its configuration to count as "not running"; this test never
# starts or stops the system's nginx.
for p in /proc/[0-9]*; do
        [[ $(readlink "$p/exe" 2>/dev/null) == /usr/sbin/nginx && $(stat -c %u "$p") == 0 ]] || continue
        tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q -- ' -c ' || skip "the system's nginx runs (pid ${p#/proc/})"
done
cd / # the user's processes start here

NS=certherd-hostile-$$
U=chhostile$$
SITE=/etc/nginx/conf.d/certherd-test-$$.conf
useradd -M -N -d /nonexistent -s /usr/sbin/nologin "$U" 2>"$T/useradd.err" || skip "useradd: $(cat "$T/useradd.err")"
ip netns add "$NS" 2>"$T/ns.err" || { userdel "$U"; skip "cannot create a network namespace: $(cat "$T/ns.err")"; }
X() { ip netns exec "$NS" "$@"; }
uid=$(id -u "$U")
gid=$(id -g "$U")
AS_USER=(setpriv --reuid="$uid" --regid="$gid" --clear-groups --)
# Every process of the namespace was started here: end them by pid, then the user and the site file.
hostile_cleanup() {
        local p i
        set +e # a cleanup step that fails must not turn a pass into a failure
        rm -f "$SITE"
        for p in $(ip netns pids "$NS" 2>/dev/null); do kill "$p" 2>/dev/null; done
        for i in $(seq 50); do [[ -z $(ip netns pids "$NS" 2>/dev/null) ]] && break; sleep 0.1; done
        for p in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        wait 2>/dev/null
        ip netns delete "$NS" 2>/dev/null
        userdel "$U" 2>/dev/null || echo "userdel $U failed" >&2
        cleanup
}
trap hostile_cleanup EXIT
X ip link set lo up
chmod 0711 "$T"
UT=$T/user
mkdir -p "$UT" "$T/markers" "$T/tls"
chmod 1777 "$T/markers"
chown "$uid:$gid" "$UT"
chmod 0700 "$UT"
as_user() { X "${AS_USER[@]}" env -i PATH=/usr/bin:/bin LANG=C "$@"; }

selfsigned() { # name file-stem
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 60 -subj "/CN=$1" \
                -addext "subjectAltName=DNS:$1" -keyout "$2.key" -out "$2.crt" 2>/dev/null
        chmod 600 "$2.key"
}
wait_for() { # CMD…: until it succeeds, 10 s at most
        local i
        for i in $(seq 100); do "$@" 2>/dev/null && return 0; sleep 0.1; done
        return 1
}
port_open() { X bash -c "exec 3<>/dev/tcp/127.0.0.1/$1"; }

# (a) Processes that only call themselves nginx masters.
cat >"$T/x" <<SH
#!/bin/sh
touch $T/markers/x-ran
SH
install -o "$uid" -g "$gid" -m 0755 "$T/x" "$UT/x"
cat >"$T/evil.conf" <<CONF
error_log $T/markers/evil-conf-read-by-root.log;
events {}
CONF
install -o "$uid" -g "$gid" -m 0644 "$T/evil.conf" "$UT/evil.conf"
X "${AS_USER[@]}" bash -c "exec -a 'nginx: master process $UT/x' sleep 300" &
X "${AS_USER[@]}" bash -c "exec -a 'nginx: master process /usr/sbin/nginx -c $UT/evil.conf' sleep 300" &

# (b) The real nginx, run by the user, on a configuration only the user may read.
as_user mkdir -p "$UT/ng/logs" "$UT/ng/temp" "$UT/tls"
selfsigned evil.test "$T/evil"
install -o "$uid" -g "$gid" -m 0600 "$T/evil.crt" "$UT/tls/evil.crt"
install -o "$uid" -g "$gid" -m 0600 "$T/evil.key" "$UT/tls/evil.key"
cat >"$T/user-nginx.conf" <<CONF
$(ng_head "$UT/ng")
    server {
        listen 127.0.0.1:8445 ssl;
        ssl_certificate $UT/tls/evil.crt;
        ssl_certificate_key $UT/tls/evil.key;
        return 200 "user\n";
    }
}
CONF
install -o "$uid" -g "$gid" -m 0600 "$T/user-nginx.conf" "$UT/ng/nginx.conf"
as_user /usr/sbin/nginx -p "$UT/ng/" -e "$UT/ng/logs/error.log" -c "$UT/ng/nginx.conf" >"$T/user-nginx.log" 2>&1 &

# (c) PostgreSQL run by the user; once it runs, postgresql.conf becomes a link to a file only root reads.
as_user "$pgbin/initdb" -D "$UT/pg" -A trust --no-sync >"$T/initdb.log" 2>&1 || { cat "$T/initdb.log"; die "initdb"; }
as_user mkdir "$UT/sock"
as_user "$pgbin/postgres" -D "$UT/pg" -c listen_addresses= -k "$UT/sock" >"$T/pg.log" 2>&1 &
printf "ssl = on\nssl_cert_file = '/root-only/leaked.crt'\n" >"$T/secret.conf"
chmod 0600 "$T/secret.conf"

# (d), (e): root's nginx on a file the user owns, and on root's file including one the user owns.
mkdir -p "$T/d/logs" "$T/d/temp" "$T/e/logs" "$T/e/temp"
selfsigned d.test "$T/tls/d"
selfsigned e.test "$T/tls/e"
root_nginx_conf() { # dir port name [extra]
        cat <<CONF
daemon off;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/logs/error.log;
events { worker_connections 16; }
http {
    access_log off;
    client_body_temp_path $1/temp; proxy_temp_path $1/temp; fastcgi_temp_path $1/temp;
    uwsgi_temp_path $1/temp; scgi_temp_path $1/temp;
    server {
        listen 127.0.0.1:$2 ssl;
        ssl_certificate $T/tls/$3.crt;
        ssl_certificate_key $T/tls/$3.key;
        return 200 "$3\n";
    }
    ${4:-}
}
CONF
}
root_nginx_conf "$T/d" 8441 d >"$T/d/nginx.conf"
chown "$uid:$gid" "$T/d/nginx.conf"
root_nginx_conf "$T/e" 8442 e "include $T/e/site.conf;" >"$T/e/nginx.conf"
echo "# the user's part" >"$T/e/site.conf"
chown "$uid:$gid" "$T/e/site.conf"
X /usr/sbin/nginx -p "$T/d/" -e "$T/d/logs/error.log" -c "$T/d/nginx.conf" >"$T/d.log" 2>&1 &
X /usr/sbin/nginx -p "$T/e/" -e "$T/e/logs/error.log" -c "$T/e/nginx.conf" >"$T/e.log" 2>&1 &

wait_for port_open 8445 || die "the user's nginx did not start: $(cat "$T/user-nginx.log" "$UT/ng/logs/error.log")"
wait_for port_open 8441 || die "nginx (d) did not start: $(cat "$T/d.log" "$T/d/logs/error.log")"
wait_for port_open 8442 || die "nginx (e) did not start: $(cat "$T/e.log" "$T/e/logs/error.log")"
wait_for test -S "$UT/sock/.s.PGSQL.5432" || die "the user's PostgreSQL did not start: $(cat "$T/pg.log")"
as_user ln -sfn "$T/secret.conf" "$UT/pg/postgresql.conf"
ok "the user's fake nginx titles, nginx and PostgreSQL run; root's nginx on the user's files runs"

# The installed nginx, stopped: a TLS site of its own configuration, served at its next start.
selfsigned stopped.test "$T/tls/stopped"
(umask 022 && cat >"$SITE" <<CONF
server {
    listen 127.0.0.1:8449 ssl;
    server_name stopped.test;
    ssl_certificate $T/tls/stopped.crt;
    ssl_certificate_key $T/tls/stopped.key;
}
CONF
)
/usr/sbin/nginx -t -q 2>"$T/nginx-t.err" || die "the test's site breaks /etc/nginx: $(cat "$T/nginx-t.err")"

user_files() { # what the user wrote, but what their running servers write
        find "$UT" \( -path "$UT/pg" -o -path "$UT/sock" -o -path "$UT/ng/logs" \) -prune -o \
                -exec stat -c '%n %s %Y %U %a' {} + | sort
}
user_files >"$T/user-before"
# LeakSanitizer (in a sanitized build) cannot run under ptrace: the run without strace checks for leaks.
expect 0 X env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
        strace -f -qq -s 4096 -e trace=execve -o "$T/strace" "$CERTHERD" discover --write "$T/inv.conf"
inv=$T/inv.conf
cp "$T/err" "$T/discover.err"
expect 0 X "$CERTHERD" discover --write "$T/inv2.conf"
diff <(grep -v pid "$inv") <(grep -v pid "$T/inv2.conf") >&2 || die "two runs differ"
ok "discover exits 0, under strace and without"

# Nothing run but certherd itself and the system's nginx, and nothing on the user's paths.
grep -o 'execve("[^"]*"' "$T/strace" | cut -d'"' -f2 | sort -u >"$T/programs"
while read -r prog; do
        [[ $prog == "$CERTHERD" || $prog == /usr/sbin/nginx ]] || die "discover ran $prog: $(cat "$T/strace")"
done <"$T/programs"
grep -q 'execve("/usr/sbin/nginx"' "$T/strace" || die "the installed nginx was not read: $(cat "$T/strace")"
grep 'execve(' "$T/strace" | grep -qF -e "$UT" -e "$T/d/" && die "a program ran on the user's files: $(grep execve "$T/strace")"
ls -A "$T/markers" | grep -q . && die "root ran or read what the user named: $(ls -l "$T/markers")"
user_files >"$T/user-after"
diff "$T/user-before" "$T/user-after" >&2 || die "the user's files changed"
ok "only $CERTHERD and /usr/sbin/nginx ran (never on the user's files), no marker, the user's files unchanged"

# (a) is no nginx at all; (b) is skipped, (c) read as the user, (d) and (e) refused: a warning and a comment.
grep -qF "$UT/x" "$inv" "$T/discover.err" && die "the fake title was taken for nginx: $(cat "$inv" "$T/discover.err")"
grep -qF "evil.conf" "$inv" "$T/discover.err" && die "the fake title's -c was read: $(cat "$inv" "$T/discover.err")"
refused() { # what-regex
        grep -qE "$1" "$T/discover.err" || die "no warning matching '$1': $(cat "$T/discover.err")"
        grep -qE "^# .*$1" "$inv" || die "no comment matching '$1': $(cat "$inv")"
}
refused "nginx \(pid [0-9]+\) runs as uid $uid \($U\), not as root: not read"
grep -qF "$UT/tls/evil" "$inv" && die "the user's nginx configuration was read: $(cat "$inv")"
refused "cannot read $UT/pg/postgresql.conf as uid $uid \($U\): Permission denied"
grep -q "leaked" "$inv" "$T/discover.err" && die "a file only root may read leaked: $(cat "$inv")"
refused "not read: $T/d/nginx.conf is owned by uid $uid, not root"
grep -qF "$T/tls/d.crt" "$inv" && die "nginx (d) was listed: $(cat "$inv")"
refused "$T/e/site.conf is owned by uid $uid, not root, so its certificates are not listed"
grep -qF "$T/tls/e.crt" "$inv" && die "nginx (e) was listed: $(cat "$inv")"
[[ $(grep -c "not read\|cannot read\|not listed" "$T/discover.err") == 4 ]] ||
        die "one line per refusal expected: $(cat "$T/discover.err")"
ok "the fake titles are not nginx; the user's nginx, PostgreSQL's swapped file and root's nginx on the user's files are refused, one line each"

sed -n '/^\[certificate "nginx-stopped"\]/,/^$/p' "$inv" >"$T/stopped"
for l in "certificate = $T/tls/stopped.crt" "key = $T/tls/stopped.key" "reload = nginx.service" \
        "# nginx is not running: served at its next start"; do
        grep -qxF "$l" "$T/stopped" || die "stopped nginx: no '$l': $(cat "$inv")"
done
ok "the installed nginx's TLS site is listed while nginx is stopped, marked as not running"

expect 0 "$CERTHERD" -c "$inv" check
ok "certherd check accepts the inventory"
echo "$n_ok passed"
