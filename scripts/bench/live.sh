#!/usr/bin/env bash
# Live-capture cost on iperf3 TCP over a veth pair between two private
# namespaces: nothing attached, tacap recording everything (quotas off),
# tacap with default quotas, and tcpdump -w (full snaplen). Modes alternate
# within each round; the script prints every run, then medians and the
# ratio to "nothing" of the same round. Root; needs iperf3 and tcpdump.
# With TACAP_CPU_PROFILE=DIR each tacap run also writes a Go CPU profile,
# DIR/live-ROUND-STREAMS-MODE.pprof (go tool pprof). With TACAP_OLD=REV,
# tacap built at that git revision runs too (old-all, old-default), so old
# and new are measured in the same run. TACAP_TASKSET="taskset -c 1" runs
# tacap under that command prefix (pinned).
#   scripts/bench/live.sh [rounds] [seconds per run]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-5}
secs=${2:-5}
command -v iperf3 >/dev/null || { echo "live.sh: needs iperf3 (apt-get install iperf3)" >&2; exit 1; }
. scripts/lab.sh
lab_up bench
work=$LAB_WORK
a=$LAB_A
b=$LAB_B
go build -o "$work/tacap" ./cmd/tacap
modes=(none tacap-all tacap-default tcpdump)
if [ -n "${TACAP_OLD:-}" ]; then
	lab_old "$TACAP_OLD"
	modes+=(old-all old-default)
fi
lab_bg "$b" iperf3 -s -B 198.18.0.2 >/dev/null 2>&1
sleep 0.5

results="$work/results.tsv"
printf "round\tstreams\tmode\tgbps\tseen\trecorded\trows\tlost\tcpu_s\trss_mib\n" >"$results"

run() { # round streams mode
	local round=$1 streams=$2 mode=$3 cap= extra= bin=
	rm -rf "$work/ds" "$work/ready" "$work/pcap" "$work/tcpdump.err"
	case $mode in
	tacap-all | tacap-default | old-all | old-default)
		bin=$work/tacap
		[ "${mode%-*}" = old ] && bin=$work/tacap-old
		[ "${mode#*-}" = all ] && extra="--packets-per-session 0"
		[ -n "${TACAP_CPU_PROFILE:-}" ] && mkdir -p "$TACAP_CPU_PROFILE" &&
			extra="$extra --cpu-profile $TACAP_CPU_PROFILE/live-$round-$streams-$mode.pprof"
		ip netns exec "$b" ${TACAP_TASKSET:-} "$bin" capture -i veth0 -o "$work/ds" -q --no-csv --ready-file "$work/ready" $extra >/dev/null 2>&1 &
		cap=$!
		for _ in $(seq 100); do [ -f "$work/ready" ] && break; sleep 0.05; done
		;;
	tcpdump)
		ip netns exec "$b" tcpdump -i veth0 -s 0 -w "$work/pcap" -n 2>"$work/tcpdump.err" &
		cap=$!
		sleep 1
		;;
	esac
	local gbps
	gbps=$(lab_iperf_gbps "$a" -c 198.18.0.2 -t "$secs" -P "$streams")
	local seen=- recorded=- rows=- lost=- cpu=- rss=-
	if [ -n "$cap" ]; then
		kill -INT "$cap"
		wait "$cap" || true
	fi
	case $mode in
	tacap-* | old-*)
		read -r seen recorded rows lost cpu rss < <(python3 - "$work/ds" <<'PY'
import json, glob, sys
m = json.load(open(glob.glob(sys.argv[1] + "/_runs/*.json")[0]))
c, p = m["counters"], m["process"]
print(c["seen"], c["recorded"], m["rows_written"], c["buffer_full"] + m["recorded_not_written"],
      "%.2f" % (p["cpu_user_seconds"] + p["cpu_system_seconds"]), p["max_rss_bytes"] >> 20)
PY
)
		;;
	tcpdump)
		seen=$(sed -n 's/^\([0-9]*\) packets received by filter.*/\1/p' "$work/tcpdump.err")
		recorded=$(sed -n 's/^\([0-9]*\) packets captured.*/\1/p' "$work/tcpdump.err")
		lost=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$work/tcpdump.err")
		;;
	esac
	printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$round" "$streams" "$mode" "$gbps" "$seen" "$recorded" "$rows" "$lost" "$cpu" "$rss" | tee -a "$results"
}

echo "kernel $(uname -r), $(nproc) cores, $rounds rounds of $secs s per run"
for round in $(seq "$rounds"); do
	for streams in 1 4; do
		# Rotate the order each round so no mode always runs first.
		for i in "${!modes[@]}"; do
			run "$round" "$streams" "${modes[$(((i + round) % ${#modes[@]}))]}"
		done
	done
done

python3 - "$results" "${modes[@]}" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
print("\nmedians over rounds (ratio = throughput / 'none' of the same round)")
print("%-8s %-14s %10s %10s %10s %12s %8s" % ("streams", "mode", "Gbit/s", "ratio", "min ratio", "lost", "cpu s"))
for streams in ("1", "4"):
    base = {r["round"]: float(r["gbps"]) for r in rows if r["streams"] == streams and r["mode"] == "none"}
    for mode in sys.argv[2:]:
        rs = [r for r in rows if r["streams"] == streams and r["mode"] == mode]
        ratios = [float(r["gbps"]) / base[r["round"]] for r in rs]
        lost = [r["lost"] for r in rs]
        cpu = [float(r["cpu_s"]) for r in rs if r["cpu_s"] != "-"]
        print("%-8s %-14s %10.2f %10.3f %10.3f %12s %8s" % (streams, mode, statistics.median(float(r["gbps"]) for r in rs),
              statistics.median(ratios), min(ratios), "/".join(lost), "%.2f" % statistics.median(cpu) if cpu else "-"))
PY
