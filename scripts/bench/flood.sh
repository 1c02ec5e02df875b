#!/usr/bin/env bash
# 64-byte UDP flood over a veth pair between two private namespaces, sent
# with XDP live frames (scripts/bench/flood). Receiver packets/s with
# nothing attached and with tacap recording everything (quotas off,
# ingress, TCX), rounds alternating; tacap's records are compared with the
# packets the receiver got. Root. With TACAP_CPU_PROFILE=DIR each tacap run
# also writes a Go CPU profile, DIR/flood-ROUND.pprof (go tool pprof).
# TACAP_ARGS replaces the quota flags (default: --packets-per-session 0,
# everything recorded). With TACAP_PERF=DIR, perf records every CPU during
# each send, DIR/flood-ROUND-MODE.data (perf report -i FILE --sort comm,dso),
# and tacap's own threads from ready to exit, DIR/flood-ROUND-tacap-process.data.
#   scripts/bench/flood.sh [rounds] [frames per run] [buffer-packets]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-5}
frames=${2:-3000000}
buffer=${3:-4000000}
. scripts/lab.sh
lab_up flood
work=$LAB_WORK
a=$LAB_A
b=$LAB_B
go build -o "$work/tacap" ./cmd/tacap
go build -o "$work/flood" ./scripts/bench/flood
lab_bg "$b" "$work/flood" pass --iface veth0 >/dev/null
sleep 0.5
mac=$(lab_mac "$b")
rx() { lab_rx "$b"; }

printf "round\tmode\tsent_mpps\trecv_mpps\treceived\tseen\trecorded\trows\tbuffer_full\tcpu_s\tuser_s\tsys_s\n" >"$work/r.tsv"
echo "kernel $(uname -r), $(nproc) cores, $rounds rounds, $frames frames per run, tacap --buffer-packets $buffer"
for round in $(seq "$rounds"); do
	for mode in $( ((round % 2)) && echo "none tacap" || echo "tacap none"); do
		rm -rf "$work/ds" "$work/ready"
		cap=
		if [ "$mode" = tacap ]; then
			profile=()
			[ -n "${TACAP_CPU_PROFILE:-}" ] && mkdir -p "$TACAP_CPU_PROFILE" &&
				profile=(--cpu-profile "$TACAP_CPU_PROFILE/flood-$round.pprof")
			ip netns exec "$b" "$work/tacap" capture -i veth0 --direction ingress -o "$work/ds" -q --no-csv \
				${TACAP_ARGS:---packets-per-session 0} --buffer-packets "$buffer" --ready-file "$work/ready" "${profile[@]}" >/dev/null 2>&1 &
			cap=$!
			for _ in $(seq 200); do [ -f "$work/ready" ] && break; sleep 0.05; done
			if [ -n "${TACAP_PERF:-}" ]; then # tacap's own threads, until it exits
				mkdir -p "$TACAP_PERF"
				perf record -g -q -p "$cap" -o "$TACAP_PERF/flood-$round-tacap-process.data" >/dev/null 2>&1 &
			fi
		fi
		r0=$(rx)
		perf=
		if [ -n "${TACAP_PERF:-}" ]; then
			mkdir -p "$TACAP_PERF"
			perf record -a -g -q -o "$TACAP_PERF/flood-$round-$mode.data" >/dev/null 2>&1 &
			perf=$!
			sleep 0.3
		fi
		out=$(ip netns exec "$a" "$work/flood" send --iface veth0 --dst-mac "$mac" --frames "$frames")
		if [ -n "$perf" ]; then
			kill -INT "$perf"
			wait "$perf" || true
		fi
		secs=$(echo "$out" | sed -n 's/.* in \([0-9.]*\) s .*/\1/p')
		r1=$(rx)
		got=$((r1 - r0))
		seen=- recorded=- rows=- full=- cpu=- user=- sys=-
		if [ -n "$cap" ]; then
			kill -INT "$cap"
			wait "$cap" || true
			read -r seen recorded rows full cpu user sys < <(python3 - "$work/ds" <<'PY'
import json, glob, sys
m = json.load(open(glob.glob(sys.argv[1] + "/_runs/*.json")[0]))
c, p = m["counters"], m["process"]
u, s = p["cpu_user_seconds"], p["cpu_system_seconds"]
print(c["seen"], c["recorded"], m["rows_written"], c["buffer_full"], "%.2f" % (u + s), "%.2f" % u, "%.2f" % s)
PY
)
		fi
		printf "%s\t%s\t%.3f\t%.3f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$round" "$mode" "$(echo "$frames / $secs / 1000000" | bc -l)" \
			"$(echo "$got / $secs / 1000000" | bc -l)" "$got" "$seen" "$recorded" "$rows" "$full" "$cpu" "$user" "$sys" | tee -a "$work/r.tsv"
	done
done
python3 - "$work/r.tsv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
base = {r["round"]: float(r["recv_mpps"]) for r in rows if r["mode"] == "none"}
t = [r for r in rows if r["mode"] == "tacap"]
ratios = [float(r["recv_mpps"]) / base[r["round"]] for r in t]
print("\nreceived Mpps: none median %.3f, tacap median %.3f; ratio median %.3f (min %.3f, max %.3f)" % (
    statistics.median(base.values()), statistics.median(float(r["recv_mpps"]) for r in t),
    statistics.median(ratios), min(ratios), max(ratios)))
cpu = sorted(float(r["cpu_s"]) for r in t)
print("tacap CPU-s per run: median %.2f (user %.2f, system %.2f), %.3f CPU-us a record" % (statistics.median(cpu),
    statistics.median(float(r["user_s"]) for r in t), statistics.median(float(r["sys_s"]) for r in t),
    statistics.median(float(r["cpu_s"]) / max(int(r["rows"]), 1) * 1e6 for r in t)))
print("tacap records / packets received, per round: " + ", ".join("%s/%s" % (r["rows"], r["received"]) for r in t))
PY
