#!/usr/bin/env bash
# Memory over a long capture: tacap records a steady iperf3 UDP stream
# (quotas off) between two private namespaces for N minutes; its resident
# memory is sampled every 10 s. Root; needs iperf3.
#   scripts/bench/soak.sh [minutes] [udp bitrate]
set -euo pipefail
cd "$(dirname "$0")/../.."
minutes=${1:-10}
rate=${2:-200M}
work=$(mktemp -d)
a=tacap-soak-a-$$
b=tacap-soak-b-$$
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	ip netns del "$a" 2>/dev/null || true
	ip netns del "$b" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM
go build -o "$work/tacap" ./cmd/tacap
ip netns add "$a"
ip netns add "$b"
ip link add veth0 netns "$a" type veth peer name veth0 netns "$b"
ip -n "$a" addr add 198.18.0.1/24 dev veth0
ip -n "$b" addr add 198.18.0.2/24 dev veth0
ip -n "$a" link set veth0 up
ip -n "$b" link set veth0 up
ip netns exec "$b" iperf3 -s -B 198.18.0.2 >/dev/null 2>&1 &
pids+=($!)
secs=$((minutes * 60))
ip netns exec "$b" "$work/tacap" capture -i veth0 --for "${secs}s" -o "$work/ds" -q --no-csv --packets-per-session 0 \
	--ready-file "$work/ready" >"$work/summary.txt" 2>&1 &
cap=$!
pids+=($cap)
for _ in $(seq 100); do [ -f "$work/ready" ] && break; sleep 0.1; done
ip netns exec "$a" iperf3 -c 198.18.0.2 -u -b "$rate" -l 1000 -t "$((secs - 5))" >/dev/null 2>&1 &
pids+=($!)
echo "elapsed_s rss_mib"
for t in $(seq 10 10 "$((secs - 10))"); do
	sleep 10
	rss=$(awk '/^VmRSS/ {print int($2/1024)}' "/proc/$cap/status" 2>/dev/null || echo -)
	echo "$t $rss"
done
wait "$cap" || true
cat "$work/summary.txt"
python3 - "$work/ds" <<'PY'
import json, glob, sys
m = json.load(open(glob.glob(sys.argv[1] + "/_runs/*.json")[0]))
print("records %d, rows %d, buffer_full %d, peak RSS %d MiB, cpu %.1f s" % (m["counters"]["recorded"], m["rows_written"],
      m["counters"]["buffer_full"], m["process"]["max_rss_bytes"] >> 20,
      m["process"]["cpu_user_seconds"] + m["process"]["cpu_system_seconds"]))
PY
