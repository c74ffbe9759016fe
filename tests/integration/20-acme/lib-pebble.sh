# Helpers of the ACME integration tests (sourced after ../lib.sh): Debian's pebble with a configuration
# and TLS certificate made here, and Knot DNS authoritative for acme.test (every name → 127.0.0.1, RFC
# 2136 updates with a TSIG key for dns-01), which pebble uses as its resolver (-dnsserver).
need pebble; need openssl; need python3; need curl
[[ -x /usr/sbin/knotd ]] || skip "knotd is not installed (apt-get install -y knot)"

PEBBLE_BIN=$(dpkg -L pebble 2>/dev/null | grep -m1 '/bin/pebble$' || command -v pebble)
mkdir -p "$T/pebble" "$T/knot" "$T/tls"
PEBBLE_PORT=$(free_port) PEBBLE_MGMT=$(free_port) DNS_PORT=$(free_port)
HTTP_PORT=$(free_port) TLS_PORT=$(free_port)
ZONE=acme.test
TSIG_SECRET=$(head -c 32 /dev/urandom | base64)

# The TLS certificate of pebble's own API: a small CA and a leaf for localhost, made here.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=pebble test CA" \
        -keyout "$T/pebble/ca.key" -out "$T/pebble/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
        -keyout "$T/pebble/key.pem" -out "$T/pebble/req.csr" 2>/dev/null
openssl x509 -req -in "$T/pebble/req.csr" -CA "$T/pebble/ca.pem" -CAkey "$T/pebble/ca.key" -CAcreateserial \
        -days 2 -extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n') \
        -out "$T/pebble/cert.pem" 2>/dev/null

# pebble_config [EAB]: write $T/pebble/config.json (EAB=1: binding required, keys kid-1/kid-2).
pebble_config() {
        local eab=${1:-0} keys=""
        if ((eab)); then
                keys=', "externalAccountMACKeys": { "kid-1": "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W", "kid-2": "b10lLJs8l1GPIzsLP0s6pMt8O0XVGnfTaCeROxQM0BIt2XrJMDHJZBM5NuQmQJQH" }'
        fi
        cat >"$T/pebble/config.json" <<JSON
{ "pebble": { "listenAddress": "127.0.0.1:$PEBBLE_PORT", "managementListenAddress": "127.0.0.1:$PEBBLE_MGMT",
  "certificate": "$T/pebble/cert.pem", "privateKey": "$T/pebble/key.pem",
  "httpPort": $HTTP_PORT, "tlsPort": $TLS_PORT, "ocspResponderURL": "",
  "externalAccountBindingRequired": $( ((eab)) && echo true || echo false )$keys } }
JSON
}

PEBBLE_PID=
# pebble_start [ENV=VALUE…]: start pebble (validation for real, no random sleeps) and wait for it.
pebble_start() {
        [[ -f $T/pebble/config.json ]] || pebble_config 0
        env PEBBLE_VA_NOSLEEP=1 "$@" "$PEBBLE_BIN" -config "$T/pebble/config.json" -dnsserver "127.0.0.1:$DNS_PORT" \
                >>"$T/pebble/log" 2>&1 &
        PEBBLE_PID=$!
        pids+=("$PEBBLE_PID")
        local i
        for i in $(seq 200); do
                curl -fsS --cacert "$T/pebble/ca.pem" "https://localhost:$PEBBLE_PORT/dir" >/dev/null 2>&1 && break
                kill -0 "$PEBBLE_PID" 2>/dev/null || { cat "$T/pebble/log"; die "pebble did not start"; }
                sleep 0.02
        done
        curl -fsS --cacert "$T/pebble/ca.pem" "https://localhost:$PEBBLE_PORT/dir" >/dev/null || die "pebble does not answer"
        # The root this pebble instance issues under (pebble makes a new one at every start).
        curl -fsS -k "https://127.0.0.1:$PEBBLE_MGMT/roots/0" >"$T/pebble/root.pem" || die "no pebble root"
}

pebble_stop() {
        [[ -n $PEBBLE_PID ]] || return 0
        kill "$PEBBLE_PID" 2>/dev/null || true
        wait "$PEBBLE_PID" 2>/dev/null || true
        PEBBLE_PID=
}

# pebble_cert_status SERIAL_HEX: pebble's management view of a certificate ("Valid", "Revoked").
pebble_cert_status() {
        curl -fsS -k "https://127.0.0.1:$PEBBLE_MGMT/cert-status-by-serial/$1"
}

knot_start() {
        cat >"$T/knot/$ZONE.zone" <<ZONEFILE
\$ORIGIN $ZONE.
\$TTL 1
@ SOA ns.$ZONE. admin.$ZONE. 1 60 60 600 1
@ NS ns
ns A 127.0.0.1
@ A 127.0.0.1
* A 127.0.0.1
ZONEFILE
        {
                knot_conf "$T/knot" "127.0.0.1@$DNS_PORT"
                cat <<CONF
key:
  - id: acme-update
    algorithm: hmac-sha256
    secret: $TSIG_SECRET
acl:
  - id: update
    key: acme-update
    action: update
zone:
  - domain: $ZONE
    file: "$T/knot/$ZONE.zone"
    acl: update
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
CONF
        } >"$T/knot/knot.conf"
        /usr/sbin/knotd -c "$T/knot/knot.conf" >>"$T/knot/stderr" 2>&1 &
        pids+=($!)
        local i
        for i in $(seq 200); do
                [[ $(dig +short +time=1 +tries=1 -p "$DNS_PORT" @127.0.0.1 "ns.$ZONE" A 2>/dev/null) == 127.0.0.1 ]] && return 0
                sleep 0.02
        done
        cat "$T/knot/stderr" "$T/knot/knot.log" 2>/dev/null
        die "knotd does not answer on port $DNS_PORT"
}

# acme_conf FILE NAME [LINE…]: an [agent] and an [acme "NAME"] section for pebble; its further
# "key = value" lines are the arguments or, without any, stdin.
acme_conf() {
        local file=$1 name=$2
        shift 2
        {
                printf '[agent]\nstate-directory = %s/state\npin-directory = %s/pins\n\n' "$T" "$T"
                printf '[acme "%s"]\ndirectory = https://localhost:%s/dir\nca-bundle = %s/pebble/ca.pem\n' \
                        "$name" "$PEBBLE_PORT" "$T"
                printf 'initial-backoff = 0.05\nmax-retry-duration = 5\n'
                if (($#)); then printf '%s\n' "$@"; else cat; fi
                echo
        } >"$file"
}

# acme_cert FILE NAME ISSUER NAMES…: append a [certificate] issued by acme:ISSUER, checked against
# pebble's root.
acme_cert() {
        local file=$1 name=$2 issuer=$3
        shift 3
        printf '[certificate "%s"]\ncertificate = %s/tls/%s.crt\nkey = %s/tls/%s.key\nca = %s/pebble/root.pem\nnames = %s\nissuer = acme:%s\n\n' \
                "$name" "$T" "$name" "$T" "$name" "$T" "$*" "$issuer" >>"$file"
}

# verify_chain NAME: the installed chain verifies against pebble's root for its names.
verify_chain() {
        local crt=$T/tls/$1.crt
        awk -v d="$T/tls/split" 'BEGIN { n = 0 } /BEGIN CERT/ { n++ } { print > (d "." n) }' "$crt"
        [[ -f $T/tls/split.2 ]] || die "$1: no intermediate in the installed chain"
        openssl verify -CAfile "$T/pebble/root.pem" -untrusted <(cat "$T"/tls/split.[2-9] 2>/dev/null) "$T/tls/split.1" \
                >/dev/null || die "$1: chain does not verify against pebble's root"
        rm -f "$T"/tls/split.*
}

# The python3 proxy in front of pebble (acme-proxy.py), listening on PROXY_PORT: it injects faults and
# hostile answers as its arguments say and logs every request to $T/proxy.log. $ACME_PROXY is the script.
#   start_proxy ARGS…   start it (PROXY_PID), wait until it listens
#   stop_proxy          stop it
#   start_hang PORT LOG a server on PORT that accepts and never answers, logging to LOG
#   elapsed START       seconds since START (an $EPOCHREALTIME), one decimal
ACME_PROXY=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/acme-proxy.py
PROXY_PORT=$(free_port)
start_proxy() {
        : >"$T/proxy.log"
        python3 "$ACME_PROXY" --port "$PROXY_PORT" --upstream "$PEBBLE_PORT" \
                --cert "$T/pebble/cert.pem" --key "$T/pebble/key.pem" --cafile "$T/pebble/ca.pem" \
                --log "$T/proxy.log" "$@" &
        PROXY_PID=$!
        pids+=("$PROXY_PID")
        wait_port "$PROXY_PORT"
}
stop_proxy() {
        kill "$PROXY_PID" 2>/dev/null
        wait "$PROXY_PID" 2>/dev/null || true
}
start_hang() {
        python3 "$ACME_PROXY" --hang --port "$1" --log "$2" &
        pids+=($!)
        wait_port "$1"
}
elapsed() {
        awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'
}
