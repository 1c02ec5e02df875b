#!/usr/bin/env bash
# tacap export lucid over the 10 M-row benchmark dataset (scripts/bench/
# reportgen, labelled with tacap label: the generator's SYN flood and
# amplification victims ddos, its scanner scan), ROUNDS rounds, wall and CPU
# seconds, rows per second; then the same export with --split lucid.
# Unprivileged.
#   scripts/bench/lucid.sh [rounds] [rows]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
rows=${2:-10000000}
work=$(mktemp -d /var/tmp/tacap-bench-lucid.XXXXXX)
trap 'rm -rf "$work"' EXIT
go build -o "$work/tacap" ./cmd/tacap
go build -o "$work/reportgen" ./scripts/bench/reportgen
"$work/reportgen" -rows "$rows" -out "$work/ds" >/dev/null
# reportgen's SYN flood and amplification victims, and its scanner.
cat >"$work/rules.yaml" <<'Y'
rules:
  - id: syn-flood
    label: ddos
    attack: syn
    dst: 192.0.2.80
  - id: amplification
    label: ddos
    attack: amplification
    dst: 192.0.2.53
  - id: scan
    label: scan
    src: 198.51.100.77
Y
"$work/tacap" label --rules "$work/rules.yaml" "$work/ds" >/dev/null
for split in none lucid; do
	for round in $(seq "$rounds"); do
		rm -rf "$work/out"
		/usr/bin/time -f "%e %U %S %M" -o "$work/time" "$work/tacap" export lucid --split "$split" --allow-sampled --out "$work/out" "$work/ds" >"$work/summary"
		read -r wall user sys rss <"$work/time"
		echo "split $split round $round: $wall s wall, $user s user, $sys s sys, $((rss / 1024)) MiB peak RSS"
	done
	head -2 "$work/summary"
	du -sh "$work/out"
done
