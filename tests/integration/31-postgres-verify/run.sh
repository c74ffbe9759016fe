#!/bin/bash
# A real PostgreSQL with ssl = on, its own data directory on a free loopback port, its certificate issued by
# `certherd renew` from the internal CA: owner/mode make a key PostgreSQL refused acceptable, the
# `?starttls=postgres` verification (SSLRequest preamble, then TLS) sees the served certificate, a mismatch
# before the reload and the new one after it; psql connects with sslmode=verify-full against the exported
# CA; a server with ssl = off answers 'N'.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
DRIVER=${NOTIFY_DRIVER:?set NOTIFY_DRIVER to the notify-driver binary}
need openssl; need python3
source "$here/../lib-postgres.sh" # also installs a key owned by the postgres user

cat >"$T/certherd.conf" <<CONF
$(conf_agent)

$(conf_ca internal "$T/ca/internal" "validity = 30d" "export = $T/export/internal-ca.pem")

$(pg_leaf internal "$T/ca/internal")
CONF
C() { "$CERTHERD" -c "$T/certherd.conf" "$@"; }
V() { "$DRIVER" --cert postgres "$@"; }
endpoint="tls://127.0.0.1:$port?starttls=postgres"

# --- PostgreSQL with its own data directory, ssl = on with the certificate certherd issues
expect 0 C ca init internal
expect 0 C renew
[[ $(stat -c '%U %a' "$T/pg-tls/server.key") == "postgres 600" ]] || die "key: $(stat -c '%U %a' "$T/pg-tls/server.key")"
pg_init "$T/pg-tls/server.crt" "$T/pg-tls/server.key" </dev/null

# A key in the wrong hands: PostgreSQL refuses it; certherd's owner/mode put it right.
chown root:root "$T/pg-tls/server.key" && chmod 0644 "$T/pg-tls/server.key"
pg pg_ctl -D "$PG" -l "$PG/log" -w -t 20 start >/dev/null 2>&1 && die "PostgreSQL accepted a world-readable key"
grep -q "private key file .* has group or world access" "$PG/log" || die "PostgreSQL's complaint: $(tail -3 "$PG/log")"
expect 0 C renew --force postgres
[[ $(stat -c '%U %a' "$T/pg-tls/server.key") == "postgres 600" ]] || die "owner/mode not applied"
pg_start
ok "a key PostgreSQL refused (root, 0644) is reinstalled as postgres 0600 by certherd renew; PostgreSQL starts"

# --- STARTTLS verification and psql verify-full
expect 0 V --timeout 5 verify "$endpoint" "$T/pg-tls/server.crt"
grep -q "postgres: $endpoint serves the installed certificate (serial $(serial "$T/pg-tls/server.crt")) after 1 attempt" \
        "$T/err" || die "no deploy-verified: $(cat "$T/err")"
expect 0 V --timeout 5 verify "tls://localhost:$port?starttls=postgres" "$T/pg-tls/server.crt"
psql_ssl() {
        psql "sslmode=verify-full sslrootcert=$T/export/internal-ca.pem host=${1:-localhost} port=$port user=postgres dbname=postgres" \
                -XAtc "select ssl from pg_stat_ssl where pid = pg_backend_pid()"
}
[[ $(psql_ssl) == t && $(psql_ssl 127.0.0.1) == t ]] || die "psql verify-full"
ok "?starttls=postgres sees the served certificate (by IP and by name); psql sslmode=verify-full connects"

# --- without the SSLRequest preamble there is no TLS to speak of
expect 1 V --timeout 0.3 verify "tls://127.0.0.1:$port" "$T/pg-tls/server.crt"
grep -q "^verify tls://127.0.0.1:$port: -" "$T/out" || die "plain TLS to PostgreSQL: $(cat "$T/out")"
ok "plain TLS to PostgreSQL's port fails: $(cut -d: -f3- "$T/out")"

# --- renewal: a mismatch until PostgreSQL reloads, then the new certificate, also for psql and OpenSSL
old=$T/old.crt
cp "$T/pg-tls/server.crt" "$old"
expect 0 C renew --force postgres
[[ $(serial "$old") != $(serial "$T/pg-tls/server.crt") ]] || die "renew did not reissue"
expect 1 V --timeout 0.3 verify "$endpoint" "$T/pg-tls/server.crt"
grep -q "^verify $endpoint: -71 " "$T/out" || die "no mismatch before the reload: $(cat "$T/out")"
grep -q "error: postgres: $endpoint serves serial $(serial "$old") (pin $(spki_pin "$old")), not the installed serial $(serial "$T/pg-tls/server.crt")" \
        "$T/err" || die "deploy-mismatch without the served serial and pin: $(cat "$T/err")"
pg pg_ctl -D "$PG" reload >/dev/null
expect 0 V --timeout 10 verify "$endpoint" "$T/pg-tls/server.crt"
echo "# reload → served: $(sed -n 's/^verify .*: 0 ok (\(.*\))$/\1/p' "$T/out"), $(grep -o 'after [0-9]* attempts\?' "$T/err")"
[[ $(psql_ssl) == t ]] || die "psql verify-full after the renewal"
served=$(openssl s_client -starttls postgres -connect "127.0.0.1:$port" </dev/null 2>/dev/null | openssl x509 -noout -serial |
        cut -d= -f2 | tr A-F a-f | sed 's/^\(00\)*//')
[[ $served == $(serial "$T/pg-tls/server.crt") ]] || die "openssl s_client -starttls postgres sees serial '$served'"
ok "after renew --force: mismatch naming the old serial and pin until pg_ctl reload, then verified; psql and openssl agree"

# --- ssl = off: the server answers the SSLRequest with 'N'
echo "ssl = off" >>"$PG/postgresql.conf"
pg pg_ctl -D "$PG" reload >/dev/null
for i in $(seq 50); do
        [[ $(psql "host=127.0.0.1 port=$port user=postgres dbname=postgres sslmode=disable" -XAtc "show ssl") == off ]] && break
        sleep 0.1
done
expect 1 V --timeout 0.3 verify "$endpoint" "$T/pg-tls/server.crt"
grep -q "^verify $endpoint: -93 Protocol not supported" "$T/out" || die "ssl = off: $(cat "$T/out")"
grep -q "the server refuses SSL (SSLRequest answered 'N')" "$T/err" || die "no reason given: $(cat "$T/err")"
ok "ssl = off: the SSLRequest is answered 'N', reported as such (-EPROTONOSUPPORT)"

echo "$n_ok passed"
