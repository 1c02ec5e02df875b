#!/usr/bin/env bash
# Memory over a long capture: tacap records a steady iperf3 UDP stream
# (quotas off) between two private namespaces for N minutes; its resident
# memory is sampled every 10 s. With TACAP_OLD=REV, tacap built at that git
# revision records the same stream at the same time (both attach to the
# interface; at this rate neither is short of CPU), so old and new are in
# one run. Root; needs iperf3.
#   scripts/bench/soak.sh [minutes] [udp bitrate]
set -euo pipefail
cd "$(dirname "$0")/../.."
minutes=${1:-10}
rate=${2:-200M}
. scripts/lab.sh
lab_up soak
work=$LAB_WORK
go build -o "$work/tacap-new" ./cmd/tacap
builds=(new)
if [ -n "${TACAP_OLD:-}" ]; then
	lab_old "$TACAP_OLD"
	builds=(old new)
fi
lab_bg "$LAB_B" iperf3 -s -B 198.18.0.2 >/dev/null 2>&1
secs=$((minutes * 60))
declare -A pid
for build in "${builds[@]}"; do
	lab_bg "$LAB_B" "$work/tacap-$build" capture -i veth0 --for "${secs}s" -o "$work/ds-$build" -q --no-csv \
		--packets-per-session 0 --ready-file "$work/ready-$build" >"$work/summary-$build.txt" 2>&1
	pid[$build]=$LAB_LAST
	lab_wait_file "$work/ready-$build"
done
lab_bg "$LAB_A" iperf3 -c 198.18.0.2 -u -b "$rate" -l 1000 -t "$((secs - 5))" >/dev/null 2>&1
printf "elapsed_s"
for build in "${builds[@]}"; do printf " rss_mib_%s" "$build"; done
echo
for t in $(seq 10 10 "$((secs - 10))"); do
	sleep 10
	printf "%s" "$t"
	for build in "${builds[@]}"; do
		printf " %s" "$(awk '/^VmRSS/ {print int($2/1024)}' "/proc/${pid[$build]}/status" 2>/dev/null || echo -)"
	done
	echo
done
for build in "${builds[@]}"; do
	wait "${pid[$build]}" || true
	python3 - "$work/ds-$build" "$build" <<'PY'
import json, glob, sys
m = json.load(open(glob.glob(sys.argv[1] + "/_runs/*.json")[0]))
print("%s: records %d, rows %d, buffer_full %d, peak RSS %d MiB, cpu %.1f s" % (sys.argv[2], m["counters"]["recorded"],
      m["rows_written"], m["counters"]["buffer_full"], m["process"]["max_rss_bytes"] >> 20,
      m["process"]["cpu_user_seconds"] + m["process"]["cpu_system_seconds"]))
PY
done
