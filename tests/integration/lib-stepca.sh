# step-ca, smallstep's ACME CA, as a second ACME server beside pebble (sourced after lib.sh).
#
# Debian 12 ships step-ca's Go sources (golang-github-smallstep-certificates-dev and its golang-*-dev
# dependencies) but not the command: stepca_build compiles step-ca/main.go against them offline, in GOPATH
# mode, once per machine into /var/tmp/certherd-step-ca-<hash of the sources>/step-ca (a lock serialises
# concurrent first runs; later runs take the cached binary). stepca_pki makes its root and intermediate
# with openssl, stepca_start writes its ca.json (one ACME provisioner, a bbolt database) and starts it.
#
# step-ca 0.19 validates http-01 on port 80 and tls-alpn-01 on port 443 only: stepca_netns runs the
# calling test again inside a network namespace of its own (loopback only), where those ports are free.
STEPCA_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/step-ca

# stepca_netns "$0" "$@": re-run the test inside a fresh network namespace (once); the namespace goes away
# with the test.
stepca_netns() {
        if [[ -n ${STEPCA_IN_NETNS-} ]]; then
                trap 'exit 143' TERM INT # lib.sh's cleanup runs on exit: the servers stop
                return 0
        fi
        [[ $EUID -eq 0 ]] || skip "a network namespace needs root"
        command -v ip >/dev/null || skip "ip is not installed (apt-get install -y iproute2)"
        local ns=certherd-stepca-$$ rc=0 child
        ip netns add "$ns" || skip "cannot make a network namespace"
        ip -n "$ns" link set lo up
        STEPCA_IN_NETNS=$ns ip netns exec "$ns" "$@" &
        child=$!
        # Killed, the test passes it on and still removes its namespace.
        trap "kill $child 2>/dev/null || true; wait $child 2>/dev/null || true; cleanup; ip netns del $ns 2>/dev/null || true" EXIT
        trap 'exit 143' TERM INT
        wait "$child" || rc=$?
        exit "$rc"
}

# stepca_build: set STEPCA_BIN to a step-ca built from Debian's sources (built on first use).
stepca_build() {
        local v hash dir tmp
        command -v go >/dev/null || skip "go is not installed (apt-get install -y golang-go)"
        [[ -d /usr/share/gocode/src/github.com/smallstep/certificates/commands ]] ||
                skip "step-ca's sources are not installed (apt-get install -y golang-github-smallstep-certificates-dev)"
        need flock util-linux
        # Rebuilt when the sources, Go or any of the Go packages it is built from change.
        v=$(dpkg-query -W -f='${Package} ${Version}\n' 'golang-*' 2>/dev/null || true)
        hash=$(cat "$STEPCA_SRC/main.go" <(echo "$v") <(go version) | sha256sum | cut -c1-12)
        dir=/var/tmp/certherd-step-ca-$hash
        STEPCA_BIN=$dir/step-ca
        [[ -x $STEPCA_BIN ]] && return 0
        mkdir -p "$dir"
        (
                flock 9
                [[ -x $STEPCA_BIN ]] && exit 0
                rm -rf "$dir"/build.* # of a build that was killed
                tmp=$(mktemp -d "$dir/build.XXXXXX")
                mkdir -p "$tmp/src/certherd-step-ca"
                cp "$STEPCA_SRC/main.go" "$tmp/src/certherd-step-ca/"
                echo "building step-ca from Debian's Go sources into $dir (once per machine)"
                if ! (cd "$tmp" && HOME=$tmp GO111MODULE=off GOPROXY=off GOPATH="$tmp:/usr/share/gocode" \
                        GOCACHE="$tmp/cache" GOFLAGS= CGO_CFLAGS="-O2 -w" go build -o "$tmp/step-ca" certherd-step-ca) >"$dir/build.log" 2>&1; then
                        cat "$dir/build.log" >&2
                        rm -rf "$tmp"
                        exit 1
                fi
                mv "$tmp/step-ca" "$STEPCA_BIN"
                rm -rf "$tmp"
        ) 9>"$dir/lock" || die "step-ca does not build (see $dir/build.log)"
}

# stepca_pki DIR: a root and an intermediate (P-256) for step-ca, made with openssl: DIR/root.crt,
# DIR/int.crt, DIR/int.key.
stepca_pki() {
        local d=$1
        mkdir -p "$d"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=step-ca test root" \
                -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
                -keyout "$d/root.key" -out "$d/root.crt" 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=step-ca test intermediate" \
                -keyout "$d/int.key" -out "$d/int.csr" 2>/dev/null
        openssl x509 -req -in "$d/int.csr" -CA "$d/root.crt" -CAkey "$d/root.key" -CAcreateserial -days 2 \
                -extfile <(printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n') \
                -out "$d/int.crt" 2>/dev/null
        [[ -s $d/int.crt ]] || die "cannot make step-ca's intermediate"
}

# stepca_start DIR ADDRESS [RESOLVER]: write DIR/ca.json and start step-ca on ADDRESS (host:port),
# resolving the names it validates through RESOLVER (host:port) when given. Two ACME provisioners:
# "acme" issues step-ca's default 24-hour certificates, "short" ones ending $STEPCA_SHORT (default 20s)
# after issuance (step-ca backdates every ACME order by a minute). Sets STEPCA_URL (the directory of provisioner P is
# $STEPCA_URL/P/directory) and STEPCA_PID. The PKI must be in DIR (stepca_pki). With $STEPCA_NETNS set,
# step-ca runs in that network namespace (ip netns).
stepca_start() {
        local d=$1 addr=$2 resolver=${3-} i names='"localhost", "127.0.0.1"' in=()
        [[ -z ${STEPCA_NETNS-} ]] || in=(ip netns exec "$STEPCA_NETNS")
        [[ -n ${STEPCA_BIN-} ]] || stepca_build
        [[ ${addr%:*} == 127.0.0.1 ]] || names+=", \"${addr%:*}\""
        cat >"$d/ca.json" <<JSON
{
  "root": "$d/root.crt",
  "crt": "$d/int.crt",
  "key": "$d/int.key",
  "address": "$addr",
  "dnsNames": [$names],
  "logger": { "format": "text" },
  "db": { "type": "bbolt", "dataSource": "$d/db" },
  "authority": {
    "provisioners": [
      { "type": "ACME", "name": "acme" },
      { "type": "ACME", "name": "short",
        "claims": { "minTLSCertDuration": "5s", "defaultTLSCertDuration": "${STEPCA_SHORT:-20s}" } }
    ]
  },
  "tls": { "minVersion": 1.2, "maxVersion": 1.3, "renegotiation": false,
           "cipherSuites": ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"] }
}
JSON
        HOME=$d STEPPATH=$d STEPDEBUG=${STEPDEBUG-} "${in[@]}" "$STEPCA_BIN" ${resolver:+--resolver "$resolver"} "$d/ca.json" >>"$d/log" 2>&1 &
        STEPCA_PID=$!
        pids+=("$STEPCA_PID")
        STEPCA_URL=https://$addr/acme
        for i in $(seq 200); do
                "${in[@]}" curl -fsS --cacert "$d/root.crt" "$STEPCA_URL/acme/directory" >/dev/null 2>&1 && return 0
                kill -0 "$STEPCA_PID" 2>/dev/null || { cat "$d/log" >&2; die "step-ca did not start"; }
                sleep 0.05
        done
        cat "$d/log" >&2
        die "step-ca does not answer at $STEPCA_URL/acme/directory"
}

stepca_stop() {
        [[ -n ${STEPCA_PID-} ]] || return 0
        kill "$STEPCA_PID" 2>/dev/null || true
        wait "$STEPCA_PID" 2>/dev/null || true
        STEPCA_PID=
}
