#!/usr/bin/env bash
# The end-to-end demo (`sudo make demo`): builds tacap, makes two private
# network namespaces joined by a veth pair (198.18.0.0/15, 2001:db8::/32),
# drives about 10 s of mixed traffic between them — a TCP transfer, UDP,
# ICMP and ICMPv6 echo, a burst of spoofed SYNs, a 100-port scan — captures
# it with tacap on one end, labelled by scripts/demo-labels.yaml, prints the
# summary and the report, and cleans up.
#   OUT=./dump scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lab.sh
out=${OUT:-./dump}
lab_up demo
bin=$LAB_WORK

echo "== building"
# Stamped like `make build`, so the dataset's manifest names this commit.
version=$(git describe --tags --always --dirty 2>/dev/null || echo devel)
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
go build -trimpath -ldflags "-X main.version=$version -X main.commit=$commit" -o "$bin/tacap" ./cmd/tacap
go build -o "$bin/trafficgen" ./test/trafficgen

echo "== lab: $LAB_A (198.18.0.1, 2001:db8::1) <-veth-> $LAB_B (198.18.0.2, 2001:db8::2)"
lab_bg "$LAB_B" "$bin/trafficgen" serve --v4 198.18.0.2 --v6 2001:db8::2 >/dev/null

echo "== capturing on $LAB_B/veth0 into $out for 14 s"
lab_bg "$LAB_B" "$bin/tacap" capture --iface veth0 --for 14s --out "$out" --labels scripts/demo-labels.yaml --ready-file "$bin/ready"
cap=$LAB_LAST
lab_wait_file "$bin/ready" || { echo "demo: tacap did not start" >&2; exit 1; }

echo "== traffic from $LAB_A for 10 s"
ip netns exec "$LAB_A" "$bin/trafficgen" client --v4 198.18.0.2 --v6 2001:db8::2 --for 10s

wait "$cap"
echo "== report"
"$bin/tacap" report "$out"
echo "== done: load $out/packets with pandas.read_parquet(\"$out/packets\") or spark.read.parquet(\"$out/packets\")"
