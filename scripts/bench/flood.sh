#!/usr/bin/env bash
# 64-byte UDP flood over a veth pair between two private namespaces, sent
# with XDP live frames (scripts/bench/flood). Receiver packets/s with
# nothing attached and with tacap recording everything (quotas off,
# ingress, TCX), rounds alternating; tacap's records are compared with the
# packets the receiver got. Root. With TACAP_CPU_PROFILE=DIR each tacap run
# also writes a Go CPU profile, DIR/flood-ROUND.pprof (go tool pprof).
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

printf "round\tmode\tsent_mpps\trecv_mpps\treceived\tseen\trecorded\trows\tbuffer_full\tcpu_s\n" >"$work/r.tsv"
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
				--packets-per-session 0 --buffer-packets "$buffer" --ready-file "$work/ready" "${profile[@]}" >/dev/null 2>&1 &
			cap=$!
			for _ in $(seq 200); do [ -f "$work/ready" ] && break; sleep 0.05; done
		fi
		r0=$(rx)
		out=$(ip netns exec "$a" "$work/flood" send --iface veth0 --dst-mac "$mac" --frames "$frames")
		secs=$(echo "$out" | sed -n 's/.* in \([0-9.]*\) s .*/\1/p')
		r1=$(rx)
		got=$((r1 - r0))
		seen=- recorded=- rows=- full=- cpu=-
		if [ -n "$cap" ]; then
			kill -INT "$cap"
			wait "$cap" || true
			read -r seen recorded rows full cpu < <(python3 - "$work/ds" <<'PY'
import json, glob, sys
m = json.load(open(glob.glob(sys.argv[1] + "/_runs/*.json")[0]))
c, p = m["counters"], m["process"]
print(c["seen"], c["recorded"], m["rows_written"], c["buffer_full"], "%.2f" % (p["cpu_user_seconds"] + p["cpu_system_seconds"]))
PY
)
		fi
		printf "%s\t%s\t%.3f\t%.3f\t%s\t%s\t%s\t%s\t%s\t%s\n" "$round" "$mode" "$(echo "$frames / $secs / 1000000" | bc -l)" \
			"$(echo "$got / $secs / 1000000" | bc -l)" "$got" "$seen" "$recorded" "$rows" "$full" "$cpu" | tee -a "$work/r.tsv"
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
print("tacap records / packets received, per round: " + ", ".join("%s/%s" % (r["rows"], r["received"]) for r in t))
PY
