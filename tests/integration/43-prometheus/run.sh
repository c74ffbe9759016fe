#!/bin/bash
# The fleet view with Debian's Prometheus, node_exporter and Alertmanager, all started
# here on loopback with temporary data directories and 1-second scrape and evaluation intervals:
#   1. the shipped rules: `promtool check rules` clean, the five contract alerts there (08-metrics runs
#      their `promtool test rules` tests); certherd's metrics file clean for `promtool check metrics`;
#   2. the pipeline: certherd's own metrics file, read by node_exporter's textfile collector, scraped by
#      Prometheus; a deploy_ok of 0 in that file (written the way certherd writes it: whole, atomically)
#      raises CertherdDeployFailed in Alertmanager (its /api/v2/alerts lists it, and its webhook
#      receiver is notified) and a 1 resolves it (the receiver is told so);
#   3. certherd itself: an internal-CA set whose `exec` hook fails makes `certherd renew` exit 1 and
#      write certherd_certificate_deploy_ok 0, which raises CertherdDeployFailed; with the hook fixed, a
#      plain `certherd renew` deploys again (same serial) and the alert resolves; the file also holds
#      the internal CA's notAfter and the set's next renewal time.
# Prometheus loads a copy of conf/prometheus/certherd-alerts.yml in which only the `for:` durations are
# 0s: the shipped ones (10 minutes for a failed deploy) are meant for real fleets, not a test. The copy is
# checked to differ from the shipped file in nothing else.
source "$(dirname "$0")/../lib.sh"
need promtool prometheus
need prometheus
need prometheus-node-exporter
need prometheus-alertmanager
need openssl

src=$(cd "$(dirname "$0")/../../.." && pwd)
rules=$src/conf/prometheus/certherd-alerts.yml
C() { "$CERTHERD" -c "$T/certherd.conf" "$@"; }

# --- 1. the rules on their own
promtool check rules "$rules" >"$T/out" 2>&1 || { cat "$T/out" >&2; die "promtool check rules $rules"; }
for a in CertherdCertificateExpiringSoon CertherdCertificateExpired CertherdRenewalFailing CertherdDeployFailed \
        CertherdAgentStale; do
        grep -q "^ *- alert: $a\$" "$rules" || die "$rules has no alert $a"
done
ok "promtool check rules: clean, the five contract alerts defined"

mkdir -p "$T/ca" "$T/tls" "$T/textfile" "$T/prom" "$T/am"
write_conf() { # EXEC [EXTRA-SECTION-TEXT]
        cat >"$T/certherd.conf" <<CONF
$(conf_agent "metrics-file = $T/textfile/certherd.prom")

$(conf_ca internal "$T/ca/ca" "validity = 30d")

$(conf_leaf web internal "$T/ca/ca")
names = localhost
exec = $1
${2:-}
CONF
}
prom_file=$T/textfile/certherd.prom
write_conf /bin/true
expect 0 C ca init internal
expect 0 C renew
[[ -f $prom_file ]] || die "certherd renew wrote no $prom_file"
promtool check metrics <"$prom_file" >"$T/out" 2>&1 || { cat "$T/out" >&2; die "promtool check metrics"; }
ok "certherd's metrics file: promtool check metrics is clean"

# --- the three servers
np=$(free_port) pp=$(free_port) ap=$(free_port) wp=$(free_port)
cat >"$T/am.yml" <<YML
route:
  receiver: hook
  group_by: [alertname, name]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:$wp/
        send_resolved: true
YML
sed -E 's/^( *for:).*/\1 0s/' "$rules" >"$T/rules.yml"
diff <(grep -Ev '^ *for:' "$rules") <(grep -Ev '^ *for:' "$T/rules.yml") >/dev/null ||
        die "the test's copy of the rules differs from the shipped file in more than for:"
cat >"$T/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [$T/rules.yml]
alerting:
  alertmanagers:
    - static_configs: [{targets: ['127.0.0.1:$ap']}]
scrape_configs:
  - job_name: node
    static_configs: [{targets: ['127.0.0.1:$np']}]
YML
# The webhook receiver: one line per notified alert, "STATUS ALERTNAME NAME".
python3 - "$wp" "$T/notified" >"$T/hook.log" 2>&1 <<'PY' &
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with open(sys.argv[2], "a") as f:
            for a in body["alerts"]:
                f.write("%s %s %s\n" % (a["status"], a["labels"].get("alertname"), a["labels"].get("name")))
        self.send_response(200)
        self.end_headers()
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
pids+=($!)
prometheus-node-exporter --web.listen-address="127.0.0.1:$np" --collector.disable-defaults \
        --collector.textfile --collector.textfile.directory="$T/textfile" >"$T/node.log" 2>&1 &
pids+=($!)
prometheus-alertmanager --config.file="$T/am.yml" --storage.path="$T/am" --web.listen-address="127.0.0.1:$ap" \
        --cluster.listen-address= >"$T/am.log" 2>&1 &
pids+=($!)
prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prom" --web.listen-address="127.0.0.1:$pp" \
        --rules.alert.resend-delay=1s >"$T/prom.log" 2>&1 &
pids+=($!)
logs() { tail -n 20 "$T/node.log" "$T/am.log" "$T/prom.log" "$T/hook.log" >&2; }
wait_port "$np"
wait_port "$ap"
wait_port "$pp"
wait_port "$wp"

# query EXPR: the instant vector's values, one per line, from Prometheus's HTTP API.
query() {
        curl -sf --get "http://127.0.0.1:$pp/api/v1/query" --data-urlencode "query=$1" |
                python3 -c 'import json,sys; [print(r["value"][1]) for r in json.load(sys.stdin)["data"]["result"]]'
}
query_is() { [[ $(query "$1" 2>/dev/null) == "$2" ]]; }
# am_state NAME [ALERT]: the state of ALERT (CertherdDeployFailed) for set NAME in Alertmanager ("active"…),
# or "none". CertherdCertificateCritical must carry the problem codes as its `problems` label.
am_state() {
        curl -sf "http://127.0.0.1:$ap/api/v2/alerts" | python3 -c '
import json, sys
name, alert = sys.argv[1], sys.argv[2]
for a in json.load(sys.stdin):
    l = a["labels"]
    if l.get("alertname") == alert and l.get("name") == name:
        assert l.get("severity") == "critical", l
        if alert == "CertherdDeployFailed":
            assert "Deploying %s" % name in a["annotations"]["summary"], a["annotations"]
        else:
            assert l.get("problems") == "unreadable", l
        print(a["status"]["state"])
        break
else:
    print("none")' "$1" "${2:-CertherdDeployFailed}"
}
am_is() { [[ $(am_state "$1" "${3:-CertherdDeployFailed}" 2>/dev/null) == "$2" ]]; }
# notified STATUS NAME [ALERT]: the webhook receiver was told that ALERT (CertherdDeployFailed) for NAME is STATUS.
notified() { grep -qx "$1 ${3:-CertherdDeployFailed} $2" "$T/notified" 2>/dev/null; }
# write_textfile FILE: replace the collector's file the way certherd does (whole, by rename).
write_textfile() {
        cp "$1" "$T/textfile/.certherd.prom.new"
        mv "$T/textfile/.certherd.prom.new" "$prom_file"
}

until_ok 30 "Prometheus does not scrape node_exporter" query_is 'up{job="node"}' 1
until_ok 10 "Prometheus does not see certherd's metrics through the textfile collector" \
        query_is 'certherd_certificate_state{name="web"}' 0
names=$(curl -sf "http://127.0.0.1:$pp/api/v1/rules" | python3 -c '
import json, sys
print(" ".join(sorted({r["name"] for g in json.load(sys.stdin)["data"]["groups"] for r in g["rules"]})))')
[[ $names == "CertherdAgentStale CertherdCRLExpiringSoon CertherdCertificateCritical CertherdCertificateExpired CertherdCertificateExpiringSoon CertherdCertificateWarning CertherdDeployFailed CertherdRenewalFailing" ]] ||
        die "Prometheus loaded the rules as: $names"
ok "node_exporter (textfile only), Prometheus and Alertmanager up on loopback; the rules loaded"

# --- 2. the pipeline, driven by the file
if ! grep -q '^certherd_certificate_deploy_ok{name="web"} ' "$prom_file"; then
        die "certherd wrote no certherd_certificate_deploy_ok sample for web"
fi
sed 's/^certherd_certificate_deploy_ok{name="web"} .*/certherd_certificate_deploy_ok{name="web"} 0/' \
        "$prom_file" >"$T/failed.prom"
cp "$prom_file" "$T/good.prom"
grep -q '^certherd_certificate_deploy_ok{name="web"} 1$' "$T/good.prom" || die "web: deploy_ok is not 1 after a good renew"
am_is web none || die "CertherdDeployFailed in Alertmanager before any failure"
write_textfile "$T/failed.prom"
t0=$SECONDS
until_ok 20 "deploy_ok 0 in the textfile: CertherdDeployFailed did not reach Alertmanager" am_is web active
until_ok 10 "Alertmanager did not notify the webhook of CertherdDeployFailed" notified firing web
ok "textfile deploy_ok 0: CertherdDeployFailed active in Alertmanager, receiver notified, after $((SECONDS - t0))s"
write_textfile "$T/good.prom"
t0=$SECONDS
until_ok 20 "deploy_ok back to 1: CertherdDeployFailed did not resolve in Alertmanager" am_is web none
until_ok 10 "Alertmanager did not notify the webhook of the resolution" notified resolved web
ok "textfile deploy_ok 1: the alert resolved, receiver notified, after $((SECONDS - t0))s"
: >"$T/notified"

# --- 3. certherd itself. Needs the deploy-failure state: without it this part FAILS,
# it is not skipped.
part3() { die "certherd-driven part: $*"; }
write_conf /bin/false
rc=0
C renew --force web >"$T/out" 2>"$T/err" || rc=$?
failed_serial=$(serial "$T/tls/web.crt")
grep -q '^certherd_certificate_deploy_ok{name="web"} 0$' "$prom_file" || {
        cat "$T/out" "$T/err" >&2
        grep '^certherd_certificate_deploy_ok' "$prom_file" >&2 || echo "(no deploy_ok samples)" >&2
        part3 "renew with a failing exec hook did not write certherd_certificate_deploy_ok{name=\"web\"} 0" \
                "(deploy failures are not recorded in state)"
}
[[ $rc == 1 ]] || { cat "$T/out" "$T/err" >&2; part3 "renew with a failing exec hook exited $rc, expected 1"; }
t0=$SECONDS
until_ok 20 "certherd-driven part: CertherdDeployFailed did not reach Alertmanager" am_is web active
until_ok 10 "certherd-driven part: the webhook was not notified" notified firing web
ok "certherd: exec = /bin/false → renew exits 1, deploy_ok 0, CertherdDeployFailed active after $((SECONDS - t0))s"

write_conf /bin/true
expect 0 C renew
[[ $(serial "$T/tls/web.crt") == "$failed_serial" ]] || part3 "the redeploy re-issued: serial $(serial "$T/tls/web.crt"), was $failed_serial"
grep -q '^certherd_certificate_deploy_ok{name="web"} 1$' "$prom_file" ||
        part3 "after the hook is fixed, renew did not write deploy_ok 1"
t0=$SECONDS
until_ok 20 "certherd-driven part: CertherdDeployFailed did not resolve" am_is web none
until_ok 10 "certherd-driven part: the webhook was not told of the resolution" notified resolved web
ok "certherd: exec fixed → plain renew redeploys the same serial, the alert resolved after $((SECONDS - t0))s"

# The other metrics the pass fills in: the CA's expiry as openssl reads it, web's next renewal ahead.
value() { sed -n "s/^$1{$2=\"$3\"} \([0-9]*\)\$/\1/p" "$prom_file"; }
want=$(date -d "$(openssl x509 -enddate -noout -in "$T/ca/ca.crt" | cut -d= -f2)" +%s)
got=$(value certherd_ca_not_after_seconds ca internal)
[[ $got == "$want" ]] || part3 "certherd_ca_not_after_seconds{ca=\"internal\"} is '$got', expected $want"
got=$(value certherd_certificate_next_renewal_timestamp_seconds name web)
[[ -n $got && $got -gt $(date +%s) ]] ||
        part3 "certherd_certificate_next_renewal_timestamp_seconds{name=\"web\"} is '$got', expected a future time"
ok "certherd: the internal CA's notAfter and web's next renewal time in the file"

# --- 4. everything check knows: a watched set whose certificate disappears keeps its state series (2,
# problems "unreadable"), raising CertherdCertificateCritical; the file back resolves it.
cp "$T/tls/web.crt" "$T/tls/watched.crt"
cp "$T/tls/web.key" "$T/tls/watched.key"
watched="[certificate \"watched\"]
certificate = $T/tls/watched.crt
key = $T/tls/watched.key
ca = $T/ca/ca.crt
names = localhost
issuer = none"
write_conf /bin/true "$watched"
expect 0 C renew
grep -q '^certherd_certificate_problems_info{name="watched",problems=""} 1$' "$prom_file" ||
        die "a healthy watched set has no empty problems_info sample"
am_is watched none CertherdCertificateCritical || die "CertherdCertificateCritical before any problem"
mv "$T/tls/watched.crt" "$T/tls/watched.crt.away"
C renew >"$T/out" 2>&1 || true
grep -q '^certherd_certificate_state{name="watched"} 2$' "$prom_file" ||
        die "a missing certificate lost its state series or is not critical: $(grep watched "$prom_file")"
grep -q '^certherd_certificate_problems_info{name="watched",problems="unreadable"} 1$' "$prom_file" ||
        die "a missing certificate is not labelled unreadable: $(grep problems_info "$prom_file")"
t0=$SECONDS
until_ok 20 "a missing certificate: CertherdCertificateCritical did not reach Alertmanager" \
        am_is watched active CertherdCertificateCritical
until_ok 10 "the webhook was not notified of CertherdCertificateCritical" notified firing watched CertherdCertificateCritical
ok "missing certificate → state 2 kept, CertherdCertificateCritical{problems=\"unreadable\"} active after $((SECONDS - t0))s"
mv "$T/tls/watched.crt.away" "$T/tls/watched.crt"
expect 0 C renew
t0=$SECONDS
until_ok 20 "the certificate back: CertherdCertificateCritical did not resolve" \
        am_is watched none CertherdCertificateCritical
until_ok 10 "the webhook was not told CertherdCertificateCritical resolved" notified resolved watched CertherdCertificateCritical
ok "the certificate back → CertherdCertificateCritical resolved after $((SECONDS - t0))s"
