#!/usr/bin/env bash
# What labels cost, in the same run against no labels:
#  1. replay of the CIC-DDoS2019 SYN-flood sample concatenated COPIES times,
#     without --labels and with a rules file of RULES rules (generated:
#     random IPv4 and IPv6 prefixes, port ranges, protocols and windows,
#     the last ones matching the sample's attacker and victim so that
#     rows are labelled for real), default quotas and quotas off (every
#     packet a labelled row), rounds alternating: frames per second of the
#     replay (manifest end − start) and the ratio with/without per round;
#  2. tacap label with the same rules over the 10 M-row benchmark dataset
#     (scripts/bench/reportgen, as scripts/bench/report.sh makes it), wall
#     seconds per round, each round on a fresh copy.
# Root (the replay loads the program); needs mergecap and python3.
#   scripts/bench/labels.sh [rounds] [shared dir] [rules] [copies] [rows]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-5}
shared=${2:-${TACAP_SHARED:-../shared}}
nrules=${3:-1000}
copies=${4:-10}
rows=${5:-10000000}
command -v mergecap >/dev/null || { echo "labels.sh: needs mergecap (tshark)" >&2; exit 1; }
work=$(mktemp -d /var/tmp/tacap-bench-labels.XXXXXX)
trap 'rm -rf "$work"' EXIT
go build -o "$work/tacap" ./cmd/tacap
go build -o "$work/reportgen" ./scripts/bench/reportgen

# The rules: nrules-2 that match nothing in the sample (other prefixes),
# then two that do (the SYN flood, and its victim's answers in a window).
python3 - "$nrules" >"$work/rules.yaml" <<'PY'
import random, sys
n = int(sys.argv[1]); r = random.Random(1)
print("default: benign\nrules:")
for i in range(max(0, n - 2)):
    print("  - id: r%d\n    label: l%d" % (i, i % 7))
    if r.random() < 0.8:
        bits = r.choice((16, 20, 24)); third = r.randrange(256) & (0xff << (24 - bits)) & 0xff
        print("    src: 10.%d.%d.0/%d" % (r.randrange(256), third, bits))
    else:
        print("    src: 2001:db8:%x::/48" % r.randrange(65536))
    if r.random() < 0.5:
        print("    dst: 192.168.%d.%d/32" % (r.randrange(256), r.randrange(256)))
    if r.random() < 0.5:
        lo = r.randrange(1, 60000); print("    dport: %d-%d" % (lo, lo + r.randrange(1000)))
    if r.random() < 0.5:
        print("    proto: %s" % r.choice(("tcp", "udp", "icmp")))
    if r.random() < 0.3:
        h = r.randrange(24); print("    start: 2018-11-03T%02d:00:00Z\n    end: 2018-11-03T%02d:30:00Z" % (h, h))
print("  - id: syn\n    label: ddos\n    attack: syn\n    src: 172.16.0.5/32\n    dst: 192.168.50.4/32\n    proto: tcp")
print("  - id: window\n    label: ddos\n    attack: answers\n    src: 192.168.50.4\n    both_directions: false\n"
      "    start: 2018-11-03T10:30:31.5Z\n    end: 2018-11-03T10:30:32Z")
PY
echo "rules: $(grep -c '  - id:' "$work/rules.yaml")"

echo "== 1. replay, $copies copies of the SYN-flood sample"
src="$shared/pcaps/attack/CIC-DDoS-2019-SynFlood.pcap"
files=()
for _ in $(seq "$copies"); do files+=("$src"); done
mergecap -a -F pcap -w "$work/big.pcap" "${files[@]}"
printf "round\tquotas\tlabels\treplay_fps\n" >"$work/p.tsv"
for round in $(seq "$rounds"); do
	for quotas in default off; do
		q=()
		[ "$quotas" = off ] && q=(--packets-per-session 0 --sessions 1048576 --no-csv)
		for labels in $( ((round % 2)) && echo "none rules" || echo "rules none"); do
			l=()
			[ "$labels" = rules ] && l=(--labels "$work/rules.yaml")
			rm -rf "$work/ds"
			"$work/tacap" capture --pcap "$work/big.pcap" -o "$work/ds" -q "${q[@]}" "${l[@]}" >/dev/null 2>&1
			python3 - "$work/ds" "$round" "$quotas" "$labels" <<'PY' | tee -a "$work/p.tsv"
import json, glob, sys
from datetime import datetime
m = json.load(open(glob.glob(sys.argv[1] + "/_runs/*.json")[0]))
t = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
print("%s\t%s\t%s\t%.0f" % (sys.argv[2], sys.argv[3], sys.argv[4], m["pcap_file"]["frames"] / (t(m["end"]) - t(m["start"]))))
PY
		done
	done
done
python3 - "$work/p.tsv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
for q in ("default", "off"):
    by = {(r["round"], r["labels"]): float(r["replay_fps"]) for r in rows if r["quotas"] == q}
    ratios = [by[(rd, "rules")] / by[(rd, "none")] for rd in sorted({k[0] for k in by})]
    med = lambda l: statistics.median(by[k] for k in by if k[1] == l) / 1e6
    print("replay, quotas %s: none %.2f M frames/s, rules %.2f M frames/s (medians); rules/none per round median %.3f (%.3f-%.3f)" % (
        q, med("none"), med("rules"), statistics.median(ratios), min(ratios), max(ratios)))
PY

echo "== 2. tacap label over $rows rows"
"$work/reportgen" -rows "$rows" -out "$work/gen" >/dev/null
du -sh "$work/gen"
for round in $(seq "$rounds"); do
	rm -rf "$work/copy" && cp -r "$work/gen" "$work/copy" && sync
	s=$(date +%s.%N)
	"$work/tacap" label --rules "$work/rules.yaml" "$work/copy" >"$work/label.out"
	e=$(date +%s.%N)
	echo "round $round: $(echo "$e - $s" | bc) s"
done | tee "$work/l.txt"
cat "$work/label.out"
python3 -c 'import re,statistics,sys; v=[float(re.search(r": ([0-9.]+) s",l).group(1)) for l in open(sys.argv[1])]; print("tacap label: median %.2f s (%.2f-%.2f)" % (statistics.median(v), min(v), max(v)))' "$work/l.txt"
