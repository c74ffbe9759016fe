#!/bin/bash
# A fleet behind one CA, on one machine (docs/fleet.md): three hosts as network namespaces on a bridge,
# each with its own certherd (host1 and host2 run the daemon, host3 the timer's `certherd renew`,
# accelerated), its own inventory and its own node_exporter (textfile collector); a "central" namespace
# with one step-ca (its ACME provisioner issuing 20-second certificates, validating http-01 on each host's
# port 80, names resolved by Knot), one Prometheus scraping the three node_exporters with the shipped
# rules, and one Alertmanager.
#   - a failed deploy on host2 fires CertherdDeployFailed with instance="host2" (and on no other host),
#     and resolves once the hook works again;
#   - all three renew their certificates on time: several renewals each, never an expired one.
# Prometheus loads a copy of conf/prometheus/certherd-alerts.yml with only the `for:` durations set to
# 0s (the shipped 10 minutes are for real fleets), checked to differ in nothing else.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../lib-stepca.sh"
need prometheus
need prometheus-node-exporter
need prometheus-alertmanager
need python3
need dig bind9-dnsutils
[[ -x /usr/sbin/knotd ]] || skip "knotd is not installed (apt-get install -y knot)"
[[ $EUID -eq 0 ]] || skip "network namespaces need root"
command -v ip >/dev/null || skip "ip is not installed (apt-get install -y iproute2)"
stepca_build

src=$(cd "$(dirname "$0")/../../.." && pwd)
rules=$src/conf/prometheus/certherd-alerts.yml
NET=10.77.0 # the fleet's subnet, private to its namespaces
ZONE=fleet.test
ns_ca=certherd-fleet-$$-central
hosts=(host1 host2 host3)

# --- the network: a bridge in the central namespace, a veth to each host.
nets=()
cleanup_netns() {
        local n
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
        wait 2>/dev/null || true
        for n in "${nets[@]}"; do ip netns del "$n" 2>/dev/null || true; done
        rm -rf "$T"
}
trap cleanup_netns EXIT
trap 'exit 143' TERM INT # so that a killed test still removes its namespaces
ns() { echo "certherd-fleet-$$-$1"; }
in_ns() { # NAMESPACE CMD…
        local n=$1
        shift
        ip netns exec "$n" "$@"
}
ip netns add "$ns_ca" || skip "cannot make a network namespace"
nets+=("$ns_ca")
ip -n "$ns_ca" link set lo up
ip -n "$ns_ca" link add br0 type bridge
ip -n "$ns_ca" addr add "$NET.1/24" dev br0
ip -n "$ns_ca" link set br0 up
for i in 1 2 3; do
        h=$(ns "host$i")
        ip netns add "$h"
        nets+=("$h")
        ip -n "$h" link set lo up
        ip -n "$ns_ca" link add "veth$i" type veth peer name eth0 netns "$h"
        ip -n "$ns_ca" link set "veth$i" master br0 up
        ip -n "$h" addr add "$NET.1$i/24" dev eth0
        ip -n "$h" link set eth0 up
done

# --- central: Knot (the fleet's names), step-ca, Prometheus, Alertmanager.
mkdir -p "$T/knot" "$T/prom" "$T/am"
{
        printf '$ORIGIN %s.\n$TTL 1\n@ SOA ns admin 1 60 60 600 1\n@ NS ns\nns A %s.1\nca A %s.1\n' "$ZONE" "$NET" "$NET"
        for i in 1 2 3; do printf 'host%s A %s.1%s\n' "$i" "$NET" "$i"; done
} >"$T/knot/$ZONE.zone"
{
        knot_conf "$T/knot" "$NET.1@53"
        cat <<CONF
zone:
  - domain: $ZONE
    file: "$T/knot/$ZONE.zone"
    journal-content: none
CONF
} >"$T/knot/knot.conf"
ip netns exec "$ns_ca" /usr/sbin/knotd -c "$T/knot/knot.conf" >"$T/knot/stderr" 2>&1 &
pids+=($!)
for i in $(seq 100); do
        [[ $(in_ns "$ns_ca" dig +short +time=1 +tries=1 @"$NET.1" "host2.$ZONE" A 2>/dev/null) == "$NET.12" ]] && break
        sleep 0.05
done
[[ $(in_ns "$ns_ca" dig +short +time=1 +tries=1 @"$NET.1" "host2.$ZONE" A) == "$NET.12" ]] || die "Knot does not answer"

stepca_pki "$T/ca"
STEPCA_SHORT=20s STEPCA_NETNS=$ns_ca stepca_start "$T/ca" "$NET.1:8443" "$NET.1:53"
directory=https://$NET.1:8443/acme/short/directory
in_ns "$(ns host1)" curl -fsS --cacert "$T/ca/root.crt" "$directory" >/dev/null || die "host1 cannot reach step-ca"

cat >"$T/am.yml" <<YML
route:
  receiver: none
  group_by: [alertname, instance, name]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: none
YML
sed -E 's/^( *for:).*/\1 0s/' "$rules" >"$T/rules.yml"
diff <(grep -Ev '^ *for:' "$rules") <(grep -Ev '^ *for:' "$T/rules.yml") >/dev/null ||
        die "the test's copy of the rules differs from the shipped file in more than for:"
# One job, one target per host; `instance` is the host's name, as a fleet would label it.
{
        printf 'global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [%s]\n' "$T/rules.yml"
        printf "alerting:\n  alertmanagers:\n    - static_configs: [{targets: ['127.0.0.1:9093']}]\n"
        printf 'scrape_configs:\n  - job_name: node\n    static_configs:\n'
        for i in 1 2 3; do printf "      - {targets: ['%s.1%s:9100'], labels: {instance: host%s}}\n" "$NET" "$i" "$i"; done
} >"$T/prometheus.yml"
ip netns exec "$ns_ca" prometheus-alertmanager --config.file="$T/am.yml" --storage.path="$T/am" \
        --web.listen-address=127.0.0.1:9093 --cluster.listen-address= >"$T/am.log" 2>&1 &
pids+=($!)
ip netns exec "$ns_ca" prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/prom" \
        --web.listen-address=127.0.0.1:9090 --rules.alert.resend-delay=1s >"$T/prom.log" 2>&1 &
pids+=($!)

# --- the hosts: an inventory, node_exporter, certherd (daemon on host1 and host2, timer on host3).
for i in 1 2 3; do
        d=$T/host$i
        mkdir -p "$d/textfile" "$d/tls"
        cat >"$d/certherd.conf" <<CONF
[agent]
state-directory = $d/state
pin-directory = $d/pins
metrics-file = $d/textfile/certherd.prom

[acme "fleet"]
directory = $directory
ca-bundle = $T/ca/root.crt

[certificate "web"]
certificate = $d/tls/web.crt
key = $d/tls/web.key
ca = $T/ca/root.crt
names = host$i.$ZONE
issuer = acme:fleet
renew-before = 10s
warn-before = 2s
critical-before = 1s
exec = $d/deploy
CONF
        # The deploy hook: fails while the file "broken" exists (a service that does not take the new
        # certificate).
        printf '#!/bin/sh\n[ ! -e %s/broken ]\n' "$d" >"$d/deploy"
        chmod +x "$d/deploy"
        ip netns exec "$(ns "host$i")" prometheus-node-exporter --web.listen-address="$NET.1$i:9100" --collector.disable-defaults \
                --collector.textfile --collector.textfile.directory="$d/textfile" >"$d/node.log" 2>&1 &
        pids+=($!)
done
# No system bus for these certherds: each is alone on its "host".
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=$T/no-bus
for i in 1 2; do
        ip netns exec "$(ns "host$i")" "$CERTHERD" -c "$T/host$i/certherd.conf" run 2>"$T/host$i/certherd.log" &
        pids+=($!)
done
# host3's timer, accelerated: `certherd renew` every second.
ip netns exec "$(ns host3)" bash -c "while :; do '$CERTHERD' -c '$T/host3/certherd.conf' renew >>'$T/host3/certherd.log' 2>&1; sleep 1; done" &
pids+=($!)

logs() { tail -n 15 "$T/prom.log" "$T/am.log" "$T/ca/log" "$T"/host*/certherd.log >&2; }
query() {
        in_ns "$ns_ca" curl -sf --get "http://127.0.0.1:9090/api/v1/query" --data-urlencode "query=$1" |
                python3 -c 'import json,sys; [print(r["metric"].get("instance"), r["value"][1]) for r in sorted(json.load(sys.stdin)["data"]["result"], key=lambda r: r["metric"].get("instance", ""))]'
}
query_is() { [[ $(query "$1" 2>/dev/null) == "$2" ]]; }
# deploy_alerts: the instances for which Alertmanager has CertherdDeployFailed active, blank-separated.
deploy_alerts() {
        in_ns "$ns_ca" curl -sf "http://127.0.0.1:9093/api/v2/alerts" | python3 -c '
import json, sys
print(" ".join(sorted(a["labels"]["instance"] for a in json.load(sys.stdin)
                      if a["labels"].get("alertname") == "CertherdDeployFailed" and a["status"]["state"] == "active")))'
}
alerts_are() { [[ $(deploy_alerts 2>/dev/null) == "$1" ]]; }

# Every host's certificate, sampled until the end: its serial and whether it had expired.
python3 - "$T" >"$T/samples.log" 2>&1 <<'PY' &
import subprocess, sys, time
t = sys.argv[1]
while True:
    for i in (1, 2, 3):
        try:
            out = subprocess.run(["openssl", "x509", "-in", f"{t}/host{i}/tls/web.crt", "-noout", "-serial",
                                  "-checkend", "0"], capture_output=True, text=True)
        except OSError:
            continue
        if "serial=" in out.stdout:
            print(f"host{i} {out.stdout.split('serial=')[1].split()[0]} {'valid' if out.returncode == 0 else 'EXPIRED'}",
                  flush=True)
    time.sleep(0.5)
PY
sampler=$!
pids+=("$sampler")

until_ok 40 "Prometheus does not see the three hosts' certherd" \
        query_is 'certherd_certificate_deploy_ok{name="web"}' "host1 1
host2 1
host3 1"
alerts_are "" || die "CertherdDeployFailed before any failure: $(deploy_alerts)"
ok "three hosts, one step-ca: each issued over http-01 on its own port 80; Prometheus sees the three"

# --- a failed deploy on host2
touch "$T/host2/broken"
t0=$SECONDS
until_ok 40 "a failed deploy on host2 did not fire CertherdDeployFailed" alerts_are host2
ok "host2's deploy hook fails: CertherdDeployFailed{instance=\"host2\"} active after $((SECONDS - t0)) s, no other host"
query_is 'certherd_certificate_deploy_ok{name="web"} == 0' "host2 0" || die "deploy_ok: $(query 'certherd_certificate_deploy_ok')"
rm "$T/host2/broken"
t0=$SECONDS
until_ok 40 "the fixed deploy on host2 did not resolve CertherdDeployFailed" alerts_are ""
grep -q "web: deployed (serial [0-9a-f]*); the earlier deploy failure is resolved" "$T/host2/certherd.log" ||
        die "host2: no redeploy: $(cat "$T/host2/certherd.log")"
ok "host2's hook works again: the daemon redeploys, the alert resolved after $((SECONDS - t0)) s"

# --- renewals on time: at least three certificates per host, none seen expired, all valid now.
enough() {
        local i
        for i in 1 2 3; do
                (($(awk -v h="host$i" '$1 == h { print $2 }' "$T/samples.log" | sort -u | wc -l) >= 3)) || return 1
        done
}
until_ok 40 "not every host renewed twice" enough
kill "$sampler"
grep EXPIRED "$T/samples.log" && { logs; die "a host's certificate expired"; }
for i in 1 2 3; do
        openssl verify -CAfile "$T/ca/root.crt" -untrusted "$T/host$i/tls/web.crt" "$T/host$i/tls/web.crt" >/dev/null ||
                die "host$i: certificate does not verify"
        n=$(awk -v h="host$i" '$1 == h { print $2 }' "$T/samples.log" | sort -u | wc -l)
        echo "host$i: $n certificates seen"
done
live=$(query 'certherd_certificate_not_after_seconds{name="web"} - time() > 0' | cut -d' ' -f1 | xargs)
[[ $live == "host1 host2 host3" ]] || die "Prometheus sees valid certificates on: $live"
ok "all three renewed their 20-second certificates on time (daemon and timer), none ever expired"
grep -h "error:" "$T"/host[13]/certherd.log && die "errors on host1 or host3"
echo "$n_ok passed"
