#!/usr/bin/env bash
# Old against new, measured in the same run: builds tacap at BASE (a git
# revision) and from the working tree, then alternates them, round by
# round, on (1) a capture file — the CIC-DDoS2019 SYN-flood sample
# concatenated 10 times, quotas off, --no-csv (the default 1 024-session
# table holds few of its spoofed sources: ~20 500 of 263 160 frames are
# recorded, the rest counted session_table_full) — and (2) a live
# 64-byte UDP flood over a veth pair (as flood.sh: TCX ingress, quotas off).
# Prints every run, then per-round new/old ratios (medians, min–max).
# Root; needs mergecap (tshark's package).
#   scripts/bench/versus.sh BASE [rounds] [shared dir] [flood frames]
set -euo pipefail
cd "$(dirname "$0")/../.."
base=${1:?usage: versus.sh BASE [rounds] [shared dir] [flood frames]}
rounds=${2:-5}
shared=${3:-${TACAP_SHARED:-../shared}}
frames=${4:-3000000}
. scripts/lab.sh
lab_up versus
work=$LAB_WORK
a=$LAB_A
b=$LAB_B
lab_versus "$base"
src="$shared/pcaps/attack/CIC-DDoS-2019-SynFlood.pcap"
files=()
for _ in $(seq 10); do files+=("$src"); done
mergecap -a -F pcap -w "$work/big.pcap" "${files[@]}"
lab_bg "$b" "$work/flood" pass --iface veth0 >/dev/null
sleep 0.5
mac=$(lab_mac "$b")
rx() { lab_rx "$b"; }
manifest() { # dataset -> "recorded cpu_s"
	python3 - "$1" <<'PY'
import json, glob, sys
m = json.load(open(glob.glob(sys.argv[1] + "/_runs/*.json")[0]))
p = m["process"]
print(m["rows_written"], "%.3f" % (p["cpu_user_seconds"] + p["cpu_system_seconds"]))
PY
}
echo "kernel $(uname -r), $(nproc) cores, base $(git rev-parse --short "$base"), $rounds rounds"
printf "round\tbench\tbuild\tvalue\trows\tcpu_s\n" >"$work/r.tsv"
for round in $(seq "$rounds"); do
	for build in $( ((round % 2)) && echo "old new" || echo "new old"); do
		bin=$work/tacap-$build
		# capture file: wall seconds of the whole command
		rm -rf "$work/ds"
		s=$(date +%s.%N)
		"$bin" capture --pcap "$work/big.pcap" -o "$work/ds" -q --no-csv --packets-per-session 0 >/dev/null 2>&1
		e=$(date +%s.%N)
		read -r rows cpu < <(manifest "$work/ds")
		printf "%s\tpcap\t%s\t%.3f\t%s\t%s\n" "$round" "$build" "$(echo "$e - $s" | bc -l)" "$rows" "$cpu" | tee -a "$work/r.tsv"
		# live flood: receiver Mpps with tacap recording everything
		rm -rf "$work/ds" "$work/ready"
		ip netns exec "$b" "$bin" capture -i veth0 --direction ingress -o "$work/ds" -q --no-csv \
			--packets-per-session 0 --buffer-packets 4000000 --ready-file "$work/ready" >/dev/null 2>&1 &
		cap=$!
		lab_wait_file "$work/ready"
		r0=$(rx)
		out=$(ip netns exec "$a" "$work/flood" send --iface veth0 --dst-mac "$mac" --frames "$frames")
		secs=$(echo "$out" | sed -n 's/.* in \([0-9.]*\) s .*/\1/p')
		r1=$(rx)
		kill -INT "$cap"
		wait "$cap" || true
		read -r rows cpu < <(manifest "$work/ds")
		printf "%s\tflood\t%s\t%.3f\t%s\t%s\n" "$round" "$build" "$(echo "($r1 - $r0) / $secs / 1000000" | bc -l)" "$rows" "$cpu" | tee -a "$work/r.tsv"
	done
done
python3 - "$work/r.tsv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
def get(bench, build, key):
    return {r["round"]: float(r[key]) for r in rows if r["bench"] == bench and r["build"] == build}
for bench, what in (("pcap", "seconds"), ("flood", "received Mpps")):
    for key, label in (("value", what), ("cpu_s", "tacap CPU s")):
        old, new = get(bench, "old", key), get(bench, "new", key)
        ratio = [new[k] / old[k] for k in old]
        print("%-5s %-14s old median %.3f, new median %.3f; new/old per round median %.3f (%.3f-%.3f)" % (
            bench, label, statistics.median(old.values()), statistics.median(new.values()),
            statistics.median(ratio), min(ratio), max(ratio)))
PY
