#!/bin/bash
# Revocation at the internal CA against PostgreSQL: a real server on a free loopback port with
# ssl_ca_file = the CA certherd exports, ssl_crl_file = the CRL certherd signs and
# `hostssl all all 127.0.0.1/32 cert clientcert=verify-full`. Two client certificates (CN = the role)
# connect; `certherd ca revoke` of one re-signs the CRL and runs the CA's `exec` hook — PostgreSQL runs
# outside systemd here, so the hook sends SIGHUP to the postmaster (what `reload = postgresql.service`
# does under systemd; PostgreSQL reads a new CRL only on reload) — after which the revoked client cannot
# connect and the other still can.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
need openssl; need python3
source "$here/../lib-postgres.sh"

cat >"$T/hup-postgres" <<HOOK
#!/bin/bash
# [ca] exec hook: PostgreSQL re-reads ssl_crl_file on SIGHUP (a reload).
kill -HUP "\$(head -1 $PG/postmaster.pid)"
HOOK
chmod +x "$T/hup-postgres"
cat >"$T/certherd.conf" <<CONF
$(conf_agent)

$(conf_ca db "$T/ca/db" "export = $T/export/db-ca.pem" "crl = $T/export/db.crl" "exec = $T/hup-postgres")

$(pg_leaf db "$T/ca/db")

$(conf_leaf alice db "$T/ca/db" "names = alice" "usage = client")

$(conf_leaf bob db "$T/ca/db" "names = bob" "usage = client")
CONF
C() { "$CERTHERD" -c "$T/certherd.conf" "$@"; }
expect 0 C ca init db
expect 0 C renew

pg_init "$T/pg-tls/server.crt" "$T/pg-tls/server.key" <<PGCONF
ssl_ca_file = '$T/export/db-ca.pem'
ssl_crl_file = '$T/export/db.crl'
PGCONF
cat >"$PG/pg_hba.conf" <<HBA
local all postgres trust
hostssl all all 127.0.0.1/32 cert clientcert=verify-full
HBA
pg_start
runuser -u postgres -- psql -h "$PG" -p "$port" -U postgres -XAtqc "create role alice login; create role bob login" ||
        die "cannot create the roles"

connect() { # role → "t" when it connects over TLS with its client certificate
        psql "sslmode=verify-full sslrootcert=$T/export/db-ca.pem sslcert=$T/tls/$1.crt sslkey=$T/tls/$1.key host=localhost port=$port user=$1 dbname=postgres" \
                -XAtc "select ssl from pg_stat_ssl where pid = pg_backend_pid()" 2>"$T/psql.err" || true
}
[[ $(connect alice) == t ]] || die "alice cannot connect: $(cat "$T/psql.err"); $(tail -3 "$PG/log")"
[[ $(connect bob) == t ]] || die "bob cannot connect: $(cat "$T/psql.err")"
ok "PostgreSQL (cert clientcert=verify-full, ssl_crl_file = certherd's CRL) admits alice and bob"

expect 0 C ca revoke alice --reason affiliation-changed
end=$((SECONDS + 30))
while ((SECONDS < end)); do [[ $(connect alice) != t ]] && break; sleep 0.2; done
[[ $(connect alice) != t ]] || die "alice still connects 30 s after ca revoke (PostgreSQL not reloaded?)"
grep -qi "revoked" "$T/psql.err" "$PG/log" || die "no revocation in the refusal: $(cat "$T/psql.err"); $(tail -3 "$PG/log")"
[[ $(connect bob) == t ]] || die "bob cannot connect after alice's revocation: $(cat "$T/psql.err")"
ok "ca revoke alice: CRL re-signed, PostgreSQL reloaded by the [ca] exec hook (SIGHUP), alice refused (certificate revoked), bob admitted"
