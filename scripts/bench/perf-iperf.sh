#!/usr/bin/env bash
# Where iperf3's time goes with tacap attached: 4-stream iperf3 TCP over a
# veth pair between two private namespaces, twice with nothing attached and
# twice with tacap (default quotas, or everything recorded with "all"),
# alternating, each under perf record -a -g into DIR/MODE.data. Compare with
# perf report -i DIR/MODE.data --no-children --sort comm,sym -n. Root; needs
# iperf3 and perf.
#   scripts/bench/perf-iperf.sh DIR [default|all]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:?usage: perf-iperf.sh DIR [default|all]}
quota=${2:-default}
mkdir -p "$out"
. scripts/lab.sh
lab_up perfip
work=$LAB_WORK
go build -o "$work/tacap" ./cmd/tacap
lab_bg "$LAB_B" iperf3 -s -B 198.18.0.2 >/dev/null 2>&1
sleep 0.5
extra=()
[ "$quota" = all ] && extra=(--packets-per-session 0)
for mode in none "$quota" none2 "${quota}2"; do
	cap=
	if [ "${mode%2}" = "$quota" ]; then
		rm -rf "$work/ds" "$work/ready"
		ip netns exec "$LAB_B" "$work/tacap" capture -i veth0 -o "$work/ds" -q --no-csv --ready-file "$work/ready" \
			"${extra[@]}" >/dev/null 2>&1 &
		cap=$!
		lab_wait_file "$work/ready"
	fi
	perf record -a -g -q -o "$out/$mode.data" >/dev/null 2>&1 &
	p=$!
	sleep 0.3
	g=$(lab_iperf_gbps "$LAB_A" -c 198.18.0.2 -t 5 -P 4)
	kill -INT "$p"
	wait "$p" || true
	if [ -n "$cap" ]; then
		kill -INT "$cap"
		wait "$cap" || true
	fi
	echo "$mode $g Gbit/s"
done
