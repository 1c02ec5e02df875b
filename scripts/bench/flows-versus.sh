#!/usr/bin/env bash
# What the flow statistics (flows/) cost, old against new in the same run:
# builds tacap and compiles the BPF object at BASE (a git revision) and
# from the working tree, then
#  1. kernel ns/packet of both objects through BPF_PROG_TEST_RUN (abrun:
#     tracked, quota-limited and new-session paths, objects alternating);
#  2. live, with default quotas, over a veth pair: a 64-byte UDP flood
#     (receiver Mpps) and one iperf3 TCP stream (Gbit/s), with nothing
#     attached, the old and the new tacap, order rotating each round; each
#     figure is a ratio to "nothing" of the same round;
#  3. replay of the CIC-DDoS2019 SYN-flood sample concatenated 40 times
#     (1.05 M frames) with default quotas: frames per second of the
#     replay (manifest end − start) and of the whole command.
# Root; needs clang, llvm-strip, iperf3 and mergecap.
#   scripts/bench/flows-versus.sh BASE [rounds] [shared dir] [flood frames]
set -euo pipefail
cd "$(dirname "$0")/../.."
base=${1:?usage: flows-versus.sh BASE [rounds] [shared dir] [flood frames]}
rounds=${2:-5}
shared=${3:-${TACAP_SHARED:-../shared}}
frames=${4:-3000000}
for tool in clang llvm-strip iperf3 mergecap; do
	command -v "$tool" >/dev/null || { echo "flows-versus.sh: needs $tool" >&2; exit 1; }
done
. scripts/lab.sh
lab_up flowsvs
work=$LAB_WORK
a=$LAB_A
b=$LAB_B
lab_versus "$base"
go build -o "$work/abrun" ./scripts/bench/abrun
compile() { # SOURCE OBJECT, headers from the working tree
	sed 's#"headers/#"'"$PWD"'/bpf/headers/#' "$1" >"$work/x.c"
	clang -O2 -g -Wall -Werror -mcpu=v3 -target bpfel -c "$work/x.c" -o "$2"
	llvm-strip -g "$2"
}
compile "$work/base/bpf/extractor.c" "$work/old.o"
compile bpf/extractor.c "$work/new.o"
echo "kernel $(uname -r), $(nproc) cores, base $(git rev-parse --short "$base"), $rounds rounds"

echo "== 1. kernel ns/packet, BPF_PROG_TEST_RUN, objects alternating, $((rounds * 3)) rounds of 300 000 packets"
for path in tracked quota-limited new-session; do
	(cd "$work" && ./abrun -path "$path" -rounds $((rounds * 3)) old.o new.o)
done

echo "== 2. live, default quotas: ratio to nothing attached, same round"
lab_bg "$b" "$work/flood" pass --iface veth0 >/dev/null
lab_bg "$b" iperf3 -s -B 198.18.0.2 >/dev/null 2>&1
sleep 0.5
mac=$(lab_mac "$b")
rx() { lab_rx "$b"; }
attach() { # BUILD: start tacap with default quotas on b's veth0
	rm -rf "$work/ds" "$work/ready"
	ip netns exec "$b" "$work/tacap-$1" capture -i veth0 -o "$work/ds" -q --ready-file "$work/ready" >/dev/null 2>&1 &
	cap=$!
	lab_wait_file "$work/ready"
}
detach() {
	kill -INT "$cap"
	wait "$cap" || true
	cap=
}
printf "round\tbench\tbuild\tvalue\n" >"$work/r.tsv"
builds=(none old new)
for round in $(seq "$rounds"); do
	for i in 0 1 2; do
		build=${builds[$(((i + round) % 3))]}
		cap=
		[ "$build" != none ] && attach "$build"
		r0=$(rx)
		out=$(ip netns exec "$a" "$work/flood" send --iface veth0 --dst-mac "$mac" --frames "$frames")
		secs=$(echo "$out" | sed -n 's/.* in \([0-9.]*\) s .*/\1/p')
		r1=$(rx)
		[ -n "$cap" ] && detach
		printf "%s\tflood\t%s\t%.4f\n" "$round" "$build" "$(echo "($r1 - $r0) / $secs / 1000000" | bc -l)" | tee -a "$work/r.tsv"
		[ "$build" != none ] && attach "$build"
		gbps=$(ip netns exec "$a" iperf3 -c 198.18.0.2 -t 5 -J |
			python3 -c 'import json,sys; print("%.3f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))')
		[ -n "$cap" ] && detach
		printf "%s\tiperf3\t%s\t%s\n" "$round" "$build" "$gbps" | tee -a "$work/r.tsv"
	done
done
python3 - "$work/r.tsv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
for bench, unit in (("flood", "Mpps received"), ("iperf3", "Gbit/s")):
    v = {(r["round"], r["build"]): float(r["value"]) for r in rows if r["bench"] == bench}
    rounds = sorted({k[0] for k in v})
    ratio = {b: [v[(r, b)] / v[(r, "none")] for r in rounds] for b in ("old", "new")}
    diff = [n - o for n, o in zip(ratio["new"], ratio["old"])]
    print("%-6s none median %.3f %s; ratio to none: old median %.3f (%.3f-%.3f), new median %.3f (%.3f-%.3f); new − old per round median %+.3f (%+.3f…%+.3f)" % (
        bench, statistics.median(v[(r, "none")] for r in rounds), unit,
        statistics.median(ratio["old"]), min(ratio["old"]), max(ratio["old"]),
        statistics.median(ratio["new"]), min(ratio["new"]), max(ratio["new"]),
        statistics.median(diff), min(diff), max(diff)))
PY

echo "== 3. replay, default quotas"
src="$shared/pcaps/attack/CIC-DDoS-2019-SynFlood.pcap"
files=()
for _ in $(seq 40); do files+=("$src"); done
mergecap -a -F pcap -w "$work/big.pcap" "${files[@]}"
printf "round\tbuild\treplay_fps\twall_fps\n" >"$work/p.tsv"
for round in $(seq "$rounds"); do
	for build in $( ((round % 2)) && echo "old new" || echo "new old"); do
		rm -rf "$work/ds"
		s=$(date +%s.%N)
		"$work/tacap-$build" capture --pcap "$work/big.pcap" -o "$work/ds" -q >/dev/null 2>&1
		e=$(date +%s.%N)
		python3 - "$work/ds" "$s" "$e" "$round" "$build" <<'PY' | tee -a "$work/p.tsv"
import json, glob, sys
from datetime import datetime
m = json.load(open(glob.glob(sys.argv[1] + "/_runs/*.json")[0]))
frames = m["pcap_file"]["frames"]
t = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
print("%s\t%s\t%.0f\t%.0f" % (sys.argv[4], sys.argv[5], frames / (t(m["end"]) - t(m["start"])), frames / (float(sys.argv[3]) - float(sys.argv[2]))))
PY
	done
done
python3 - "$work/p.tsv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
for build in ("old", "new"):
    rs = [r for r in rows if r["build"] == build]
    print("replay %s: %.2f M frames/s replaying (median; %.2f-%.2f), %.2f M frames/s for the whole command" % (build,
        statistics.median(float(r["replay_fps"]) for r in rs) / 1e6, min(float(r["replay_fps"]) for r in rs) / 1e6,
        max(float(r["replay_fps"]) for r in rs) / 1e6, statistics.median(float(r["wall_fps"]) for r in rs) / 1e6))
PY
