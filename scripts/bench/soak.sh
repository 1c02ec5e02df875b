#!/usr/bin/env bash
# Memory over a long capture: tacap records a steady iperf3 UDP stream
# (quotas off) between two private namespaces for N minutes; its resident
# memory is sampled every 10 s. Root; needs iperf3.
#   scripts/bench/soak.sh [minutes] [udp bitrate]
set -euo pipefail
cd "$(dirname "$0")/../.."
minutes=${1:-10}
rate=${2:-200M}
. scripts/lab.sh
lab_up soak
work=$LAB_WORK
go build -o "$work/tacap" ./cmd/tacap
lab_bg "$LAB_B" iperf3 -s -B 198.18.0.2 >/dev/null 2>&1
secs=$((minutes * 60))
lab_bg "$LAB_B" "$work/tacap" capture -i veth0 --for "${secs}s" -o "$work/ds" -q --no-csv --packets-per-session 0 \
	--ready-file "$work/ready" >"$work/summary.txt" 2>&1
cap=$LAB_LAST
lab_wait_file "$work/ready"
lab_bg "$LAB_A" iperf3 -c 198.18.0.2 -u -b "$rate" -l 1000 -t "$((secs - 5))" >/dev/null 2>&1
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
