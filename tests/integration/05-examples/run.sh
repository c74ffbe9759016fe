#!/bin/bash
# Every shipped inventory parses: conf/certherd.conf alone, and each conf/conf.d/*.conf.example beside it
# (with 10-internal-ca for the examples that issue from [ca "internal"]), as /etc/certherd would hold
# them. `certherd check` then exits 0, 1 or 2 (the certificates do not exist here); 3 would be a
# configuration error. The files are used as shipped, only copied, so the test also catches an example
# that drifts from the parser.
source "$(dirname "$0")/../lib.sh"

src=$(cd "$(dirname "$0")/../../.." && pwd)
examples=("$src"/conf/conf.d/*.conf.example)
[[ -e ${examples[0]} ]] || die "no examples under $src/conf/conf.d"

# parses MAIN [CONF.D FILE...]: copy MAIN and the files into a fresh tree, run check, want 0..2 (3 with
# "no certificate sets in FILES" when none of the files defines one).
parses() {
        local main=$1 dir rc=0
        shift
        dir=$(mktemp -d "$T/inv.XXXX")
        mkdir "$dir/conf.d"
        cp "$main" "$dir/certherd.conf"
        for f in "$@"; do cp "$f" "$dir/conf.d/$(basename "${f%.example}")"; done
        # The ai-guard example takes its paths from the environment; unset, its defaults apply.
        env -u CERTIFICATE_PATH -u TLS_KEY_PATH "$CERTHERD" -c "$dir/certherd.conf" check >"$T/out" 2>"$T/err" || rc=$?
        # An inventory without certificate sets or CAs (the main file alone) watches nothing: check
        # says so and exits 3, without a configuration message.
        if [[ $rc == 3 ]] && ! grep -q '^\[certificate ' "$main" "$@" &&
                grep -q "no certificate sets in $dir/certherd.conf" "$T/err"; then
                rc=0
        fi
        if [[ $rc -gt 2 ]]; then
                cat "$T/err" >&2
                die "$(basename "$main") ${*##*/}: check exited $rc (configuration error)"
        fi
        # What a configuration error would print: FILE:LINE: message.
        if grep -q '\.conf:[0-9]*:' "$T/err"; then
                cat "$T/err" >&2
                die "$(basename "$main") ${*##*/}: a configuration message"
        fi
}

parses "$src/conf/certherd.conf"
ok "conf/certherd.conf parses (exit $(
        "$CERTHERD" -c "$src/conf/certherd.conf" check >/dev/null 2>&1; echo $?))"

for ex in "${examples[@]}"; do
        name=$(basename "$ex")
        if [[ $name == 10-internal-ca.conf.example ]] || ! grep -q 'issuer *= *ca:internal' "$ex"; then
                parses "$src/conf/certherd.conf" "$ex"
        else
                parses "$src/conf/certherd.conf" "$src/conf/conf.d/10-internal-ca.conf.example" "$ex"
        fi
        ok "$name parses beside conf/certherd.conf"
done

# All of them at once, as an operator copying every example would have them.
parses "$src/conf/certherd.conf" "${examples[@]}"
ok "all ${#examples[@]} examples parse together"

# The environment-variable paths of the ai-guard example are honoured.
dir=$(mktemp -d "$T/env.XXXX")
mkdir "$dir/conf.d"
cp "$src/conf/certherd.conf" "$dir/certherd.conf"
cp "$src"/conf/conf.d/{10-internal-ca,20-ai-guard}.conf.example "$dir/conf.d/"
for f in "$dir"/conf.d/*.example; do mv "$f" "${f%.example}"; done
CERTIFICATE_PATH=$T/elsewhere.crt TLS_KEY_PATH=$T/elsewhere.key \
        "$CERTHERD" -c "$dir/certherd.conf" --json check ai-guard >"$T/out" 2>/dev/null || true
grep -q "\"certificate\": \"$T/elsewhere.crt\"" "$T/out" || { cat "$T/out" >&2; die "CERTIFICATE_PATH not used"; }
grep -q "\"key\": \"$T/elsewhere.key\"" "$T/out" || die "TLS_KEY_PATH not used"
ok "ai-guard takes CERTIFICATE_PATH and TLS_KEY_PATH from the environment"

# A broken copy is caught (the test would notice a parser that accepts anything).
printf '[certificate "x"]\nnmaes = a\n' >"$dir/conf.d/99-broken.conf"
expect 3 "$CERTHERD" -c "$dir/certherd.conf" check
grep -q '99-broken.conf:2: ' "$T/err" || die "no FILE:LINE message for a broken file"
ok "a broken conf.d file exits 3 with FILE:LINE"
