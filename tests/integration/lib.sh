# Shared helpers of the integration tests (sourced). Each test exits 77 (meson's skip) with a printed
# reason when something it needs cannot run.
set -euo pipefail

CERTHERD=${CERTHERD:?set CERTHERD to the certherd binary}
T=$(mktemp -d /tmp/certherd-it.XXXXXX)
pids=()
cleanup() {
        local p
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
        wait 2>/dev/null || true
        rm -rf "$T"
}
trap cleanup EXIT

n_ok=0
ok() { n_ok=$((n_ok + 1)); echo "ok $n_ok - $*"; }
die() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
need() { command -v "$1" >/dev/null || skip "$1 is not installed (apt-get install -y ${2:-$1})"; }

# expect CODE CMD…: run, assert the exit code
expect() {
        local want=$1 rc=0
        shift
        "$@" >"$T/out" 2>"$T/err" || rc=$?
        [[ $rc == "$want" ]] || { cat "$T/out" "$T/err" >&2; die "'$*' exited $rc, expected $want"; }
}

free_port() {
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() { # port
        local i
        for i in $(seq 100); do
                (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
                sleep 0.05
        done
        die "nothing listens on port $1"
}

spki_pin() { # cert
        openssl x509 -pubkey -noout -in "$1" | openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary | base64
}
