#!/bin/bash
# [agent] metrics-file written by `certherd renew`: node_exporter's textfile format (checked with the
# prometheus_client parser when python3-prometheus-client is installed), mode 0644, the right notAfter
# and state per certificate, every certificate even when only one is named, the failure count after a
# failed renewal and the renewal time after a good one; deploy_ok, next renewal and the last pass time
# are there; `promtool check metrics` clean and the shipped alert rules passing `promtool check rules` and
# `promtool test rules` when Prometheus is installed; every metric and every shipped alert documented in
# certherd(8).
source "$(dirname "$0")/../lib.sh"
need openssl

mkdir -p "$T/ca" "$T/tls" "$T/metrics"
cat >"$T/certherd.conf" <<CONF
$(conf_agent "metrics-file = $T/metrics/certherd.prom")

$(conf_ca internal "$T/ca/ca" "validity = 30d")

$(conf_leaf web internal "$T/ca/ca")
names = localhost

$(conf_leaf api internal "$T/ca/ca")
names = api.internal

[certificate "watched"]
certificate = $T/tls/missing.crt
CONF
C() { "$CERTHERD" -c "$T/certherd.conf" "$@"; }
prom=$T/metrics/certherd.prom
value() { # METRIC NAME
        sed -n "s/^$1{name=\"$2\"} \([0-9]*\)\$/\1/p" "$prom"
}

expect 0 C ca init internal
before=$(date +%s)
expect 0 C renew
after=$(date +%s)
[[ -f $prom ]] || die "renew wrote no $prom"
[[ $(stat -c %a "$prom") == 644 ]] || die "metrics file mode $(stat -c %a "$prom")"
ls -A "$T/metrics" | grep -qvx certherd.prom && die "temporary files left in the textfile directory"
ok "renew writes $prom, mode 0644, nothing else in the directory"

for n in web api; do
        want=$(date -d "$(openssl x509 -enddate -noout -in "$T/tls/$n.crt" | cut -d= -f2)" +%s)
        [[ $(value certherd_certificate_not_after_seconds $n) == "$want" ]] || { cat "$prom" >&2; die "$n: not_after"; }
        [[ $(value certherd_certificate_state $n) == 0 ]] || die "$n: state"
        [[ $(value certherd_certificate_renewal_failures $n) == 0 ]] || die "$n: failures"
        t=$(value certherd_certificate_last_renewal_timestamp_seconds $n)
        [[ $t -ge $before && $t -le $after ]] || die "$n: last renewal $t not within [$before, $after]"
done
[[ $(value certherd_certificate_state watched) == 2 ]] || die "watched (missing file): state"
[[ -z $(value certherd_certificate_not_after_seconds watched) ]] || die "watched: a not_after for a missing file"
run=$(sed -n 's/^certherd_last_run_timestamp_seconds \([0-9]*\)$/\1/p' "$prom")
[[ $run -ge $before && $run -le $(date +%s) ]] || die "last run $run"
ok "not_after, state, failures and last renewal per certificate; unreadable: state 2, no not_after"

for n in web api watched; do
        [[ $(value certherd_certificate_deploy_ok $n) == 1 ]] || { cat "$prom" >&2; die "$n: deploy_ok"; }
done
[[ -z $(value certherd_certificate_next_renewal_timestamp_seconds watched) ]] ||
        die "watched (issuer none): a next renewal time"
for n in web api; do
        t=$(value certherd_certificate_next_renewal_timestamp_seconds $n)
        [[ -z $t || $t -gt $after ]] || die "$n: next renewal $t is not in the future"
done
pass=$(sed -n 's/^certherd_last_pass_timestamp_seconds \([0-9]*\)$/\1/p' "$prom")
[[ $pass -ge $before && $pass -le $(date +%s) ]] || { cat "$prom" >&2; die "last pass '$pass'"; }
grep -q '^# TYPE certherd_ca_not_after_seconds gauge$' "$prom" || die "certherd_ca_not_after_seconds not declared"
ok "deploy_ok 1 for every set, no next renewal for a watch-only set, last pass = this renew"

src=$(cd "$(dirname "$0")/../../.." && pwd)
if command -v promtool >/dev/null; then
        promtool check metrics <"$prom" >"$T/lint" 2>&1 || { cat "$T/lint" >&2; die "promtool check metrics"; }
        ok "promtool check metrics: clean"
        # The shipped alert rules (43-prometheus runs them in Prometheus and Alertmanager).
        promtool check rules "$src/conf/prometheus/certherd-alerts.yml" >"$T/lint" 2>&1 ||
                { cat "$T/lint" >&2; die "promtool check rules"; }
        (cd "$src/conf/prometheus" && promtool test rules certherd-alerts.test.yml) >"$T/lint" 2>&1 ||
                { cat "$T/lint" >&2; die "promtool test rules"; }
        ok "conf/prometheus/certherd-alerts.yml: promtool check rules and test rules pass"
else
        echo "skip: promtool checks: prometheus is not installed"
fi

# Every metric the renderer knows and every shipped alert is documented in certherd(8), METRICS.
names=$(grep -ohE '"certherd_[a-z_]+' "$src/agent/core/metrics.c" | tr -d '"' | sort -u)
[[ $(wc -w <<<"$names") -ge 9 ]] || die "metric names not found in metrics.c"
alerts=$(sed -n 's/^ *- alert: \(Certherd[A-Za-z]*\)$/\1/p' "$src/conf/prometheus/certherd-alerts.yml" | sort -u)
[[ $(wc -w <<<"$alerts") -ge 5 ]] || die "alerts not found in certherd-alerts.yml"
for m in $names $alerts; do
        grep -q "^\.It Li $m\( \|$\)" "$src/units/man/certherd.8" || die "certherd(8) does not document $m"
done
ok "certherd(8) documents $(wc -w <<<"$names") metrics and $(wc -w <<<"$alerts") alerts"

if /usr/bin/python3 -c 'import prometheus_client.parser' 2>/dev/null; then
        /usr/bin/python3 - "$prom" <<'PY' || die "prometheus_client cannot parse the file"
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
want = {"certherd_certificate_not_after_seconds": 2, "certherd_certificate_state": 3,
        "certherd_certificate_renewal_failures": 3, "certherd_certificate_last_renewal_timestamp_seconds": 3,
        "certherd_last_run_timestamp_seconds": 1, "certherd_certificate_deploy_ok": 3,
        "certherd_last_pass_timestamp_seconds": 1}
for name, n in want.items():
    f = fams[name]
    assert f.type == "gauge" and f.documentation, name
    assert len(f.samples) == n, (name, len(f.samples))
PY
        ok "prometheus_client parses it: the gauges with HELP and TYPE"
else
        echo "skip: format check: python3-prometheus-client is not installed"
fi

# A failed renewal counts; naming one certificate keeps the others in the file.
chmod 000 "$T/ca/ca.key"
mv "$T/ca/ca.key" "$T/ca/ca.key.away"
expect 1 C renew --force web
[[ $(value certherd_certificate_renewal_failures web) -ge 1 ]] || { cat "$prom" >&2; die "web: failure not counted"; }
[[ -n $(value certherd_certificate_state api) && -n $(value certherd_certificate_state watched) ]] ||
        die "renew web dropped the other certificates from the file"
ok "renew --force web failing: web's failures counted, api and watched still in the file"
mv "$T/ca/ca.key.away" "$T/ca/ca.key"
chmod 600 "$T/ca/ca.key"

# A metrics-file in a directory that does not exist: one warning per renew run (not one per set or
# step), the same line from check (whose exit status stays that of the certificates), nothing made.
sed -i "s#^metrics-file = .*#metrics-file = $T/nodir/certherd.prom#" "$T/certherd.conf"
missing="metrics-file $T/nodir/certherd.prom: its directory does not exist; no metrics are written until it is made"
expect 0 C renew --force
[[ $(grep -cF "$missing" "$T/err") == 1 ]] || die "renew: not one warning: $(cat "$T/err")"
grep -q "cannot write the metrics file" "$T/err" && die "renew: a second warning: $(cat "$T/err")"
expect 2 C check # "watched" is unreadable on purpose: critical, as without the warning
[[ $(grep -cF "$missing" "$T/err") == 1 ]] || die "check: not one warning: $(cat "$T/err")"
expect 2 C check --json
grep -qF "$missing" "$T/err" || die "check --json: no warning: $(cat "$T/err")"
[[ ! -e $T/nodir ]] || die "the metrics directory was made"
ok "metrics-file in a missing directory: one warning from renew, the same line from check"

# Without metrics-file nothing is written.
sed -i '/^metrics-file/d' "$T/certherd.conf"
rm -f "$prom"
expect 0 C renew
[[ ! -e $prom ]] || die "a metrics file without metrics-file"
ok "no metrics-file, no file"
