# A PostgreSQL server for a test (sourced after lib.sh): Debian's newest installed server run as the
# postgres user, its data directory $PG under $T, on the loopback port $port, stopped when the test ends.
# Skips unless run as root with a server and the postgres user there.
#
#   pg PROGRAM ARGS…     a server program ($pgbin/PROGRAM) as the postgres user
#   pg_init CERT KEY     initdb, and a postgresql.conf with ssl = on serving CERT and KEY; more settings
#                        are appended from stdin
#   pg_start             start it, or fail the test with the tail of its log
#   pg_stop              stop it (fast)
#   pg_leaf CA FILE      for the inventory: the set "postgres", the server's certificate and key that
#                        pg_init names ($T/pg-tls/server.crt, .key), issued by ca:CA (certificate FILE.crt)
#                        for localhost and 127.0.0.1, owned by postgres with mode 0600 as it demands
need psql postgresql-client; need runuser util-linux
[[ $EUID == 0 ]] || skip "runs PostgreSQL as the postgres user: needs root"
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x $pgbin/initdb && -x $pgbin/pg_ctl ]] || skip "no PostgreSQL server (apt-get install -y postgresql)"
id postgres >/dev/null 2>&1 || skip "no postgres user (apt-get install -y postgresql)"

chmod 0711 "$T" # the postgres user reaches its files below
PG=$T/pgdata
port=$(free_port)
pg() { runuser -u postgres -- "$pgbin/$1" "${@:2}"; }
pg_stop() { [[ -f $PG/postmaster.pid ]] && pg pg_ctl -D "$PG" -m fast -w stop >/dev/null 2>&1; return 0; }
trap 'pg_stop; cleanup' EXIT

pg_init() {
        mkdir -p "$PG" && chown postgres: "$PG"
        pg initdb -D "$PG" -A trust -U postgres --no-sync >"$T/initdb.log" 2>&1 || { cat "$T/initdb.log"; die "initdb"; }
        {
                echo "port = $port"
                echo "listen_addresses = '127.0.0.1'"
                echo "unix_socket_directories = '$PG'"
                echo "ssl = on"
                echo "ssl_cert_file = '$1'"
                echo "ssl_key_file = '$2'"
                echo "fsync = off"
                cat
        } >>"$PG/postgresql.conf"
}

pg_leaf() {
        printf '[certificate "postgres"]\ncertificate = %s\nkey = %s\nca = %s.crt\nissuer = ca:%s\n' \
                "$T/pg-tls/server.crt" "$T/pg-tls/server.key" "$2" "$1"
        printf 'names = localhost 127.0.0.1\nowner = postgres:postgres\nmode = 0600'
}

pg_start() {
        pg pg_ctl -D "$PG" -l "$PG/log" -w -t 20 start >/dev/null || { tail -5 "$PG/log"; die "PostgreSQL did not start"; }
}
