#!/usr/bin/env bash
# What --filter costs, and multi-file replay against one file.
#  1. Kernel ns/packet: go test -bench Filter (five loads — no filter, a
#     filter on parsed fields, a TCP-flags test, a byte test, a filter that
#     rejects — rounds alternating in one run).
#  2. Replay frames/s (the manifest's end − start) of the CIC-DDoS2019
#     SYN-flood sample ×10: one merged file, no filter; the same with a
#     filter; the ten copies as ten files in one run (--allow-duplicate).
#     Rounds rotate the order.
# Root; needs mergecap.
#   scripts/bench/filter.sh [rounds] [shared dir]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-5}
shared=${2:-${TACAP_SHARED:-../shared}}
src="$shared/pcaps/attack/CIC-DDoS-2019-SynFlood.pcap"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== kernel, ns per packet (100 rounds of 100 000 packets per load)"
go test ./bpf -run '^$' -bench '^BenchmarkFilter$' -benchtime 100x | tr '\t' '\n' | grep 'ns/pkt' | sed 's/^ *//'

go build -o "$work/tacap" ./cmd/tacap
files=()
for i in $(seq 10); do
	cp "$src" "$work/part$i.pcap"
	files+=("$work/part$i.pcap")
done
mergecap -a -F pcap -w "$work/big.pcap" "${files[@]}"
frames=$(capinfos -c -M "$work/big.pcap" | awk '/Number of packets/ {print $NF}')
echo "== replay: $frames frames, $rounds rounds"
filter='tcp[tcpflags] & tcp-syn != 0 and not port 22'
run() { # name args...
	local name=$1 ds="$work/ds.$1.$round"
	shift
	"$work/tacap" capture -q --no-csv -o "$ds" "$@" >/dev/null
	python3 - "$ds" "$name" "$frames" <<'EOF'
import json, glob, sys, datetime
m = json.load(open(glob.glob(sys.argv[1] + "/_runs/*.json")[0]))
p = lambda s: datetime.datetime.fromisoformat(s[:26].rstrip("Z") if "." in s else s.rstrip("Z"))
secs = (p(m["end"]) - p(m["start"])).total_seconds()
print(f'{sys.argv[2]}\t{secs:.3f}\t{int(sys.argv[3]) / secs:.0f}\t{m["counters"]["filtered"]}')
EOF
}
printf "case\tseconds\tframes_per_s\tfiltered\n" >"$work/r.tsv"
cases=(one filtered many)
for round in $(seq "$rounds"); do
	for k in 0 1 2; do
		c=${cases[$(((k + round) % 3))]}
		case $c in
		one) run one --pcap "$work/big.pcap" ;;
		filtered) run filtered --pcap "$work/big.pcap" --filter "$filter" ;;
		many) run many --allow-duplicate $(printf -- '--pcap %s ' "${files[@]}") ;;
		esac
	done >>"$work/r.tsv"
done
cat "$work/r.tsv"
for c in "${cases[@]}"; do
	awk -v c="$c" '$1 == c {print $3}' "$work/r.tsv" | sort -n | awk -v c="$c" '{v[NR]=$1} END {m = NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; printf "%s: median %.0f frames/s (min %.0f, max %.0f)\n", c, m, v[1], v[NR]}'
done
