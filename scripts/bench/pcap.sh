#!/usr/bin/env bash
# Capture-file throughput: tacap capture --pcap (default flags, a finished
# dataset with per-flow CSV) beside tshark -T fields extracting the same
# fields to CSV (shared/bench/README.md), on the CIC-DDoS2019 SYN-flood
# sample concatenated 10 times (263 160 packets), rounds alternating.
# Root (tacap loads its program); needs tshark and mergecap.
#   [TACAP_FLAGS=--no-csv] scripts/bench/pcap.sh [rounds] [shared dir]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-5}
shared=${2:-${TACAP_SHARED:-../shared}}
src="$shared/pcaps/attack/CIC-DDoS-2019-SynFlood.pcap"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/tacap" ./cmd/tacap
files=()
for _ in $(seq 10); do files+=("$src"); done
mergecap -a -F pcap -w "$work/big.pcap" "${files[@]}"
packets=$(capinfos -c -M "$work/big.pcap" | awk '/Number of packets/ {print $NF}')
echo "input: $packets packets, $(du -h "$work/big.pcap" | cut -f1), $rounds rounds"
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
printf "round\ttool\tseconds\tpackets_per_s\n" >"$work/r.tsv"
for round in $(seq "$rounds"); do
	for tool in $( ((round % 2)) && echo "tacap tshark" || echo "tshark tacap"); do
		rm -f "$work/out.csv" # datasets stay until the end: deleting thousands of files between runs slows the next run on a discard-mounted disk
		if [ "$tool" = tacap ]; then
			secs=$(t "$work/tacap" capture --pcap "$work/big.pcap" -o "$work/ds.$round" -q ${TACAP_FLAGS:-})
		else
			secs=$(t sh -c "tshark -r '$work/big.pcap' -n -o ip.defragment:FALSE -T fields -E separator=, -e frame.time_epoch \
				-e ip.src -e ip.dst -e ip.len -e ip.flags -e tcp.srcport -e tcp.dstport -e tcp.len -e tcp.ack_raw -e tcp.flags \
				-e tcp.window_size_value -e udp.length -e icmp.type > '$work/out.csv'")
		fi
		printf "%s\t%s\t%.3f\t%.0f\n" "$round" "$tool" "$secs" "$(echo "$packets / $secs" | bc -l)" | tee -a "$work/r.tsv"
	done
done
python3 - "$work/r.tsv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
by = {t: {r["round"]: float(r["packets_per_s"]) for r in rows if r["tool"] == t} for t in ("tacap", "tshark")}
ratios = [by["tacap"][k] / by["tshark"][k] for k in by["tacap"]]
print("packets/s: tacap median %.0f, tshark median %.0f; tacap/tshark per round: median %.1fx (min %.1fx, max %.1fx)" % (
    statistics.median(by["tacap"].values()), statistics.median(by["tshark"].values()),
    statistics.median(ratios), min(ratios), max(ratios)))
PY
