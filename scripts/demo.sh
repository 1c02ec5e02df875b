#!/usr/bin/env bash
# The end-to-end demo (`sudo make demo`): builds tacap, makes two private
# network namespaces joined by a veth pair (198.18.0.0/15, 2001:db8::/32),
# drives about 10 s of mixed traffic between them — a TCP transfer, UDP,
# ICMP and ICMPv6 echo, a burst of spoofed SYNs, a 100-port scan — captures
# it with tacap on one end, prints the summary, and cleans up.
#   OUT=./dump scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: needs root (network namespaces, eBPF): sudo make demo" >&2; exit 1; }
out=${OUT:-./dump}
bin=$(mktemp -d)
a=tacap-demo-a-$$
b=tacap-demo-b-$$
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	ip netns del "$a" 2>/dev/null || true
	ip netns del "$b" 2>/dev/null || true
	rm -rf "$bin"
}
trap cleanup EXIT INT TERM

echo "== building"
go build -trimpath -o "$bin/tacap" ./cmd/tacap
go build -o "$bin/trafficgen" ./test/trafficgen

echo "== lab: $a (198.18.0.1, 2001:db8::1) <-veth-> $b (198.18.0.2, 2001:db8::2)"
ip netns add "$a"
ip netns add "$b"
ip link add veth0 netns "$a" type veth peer name veth0 netns "$b"
for ns in "$a" "$b"; do ip -n "$ns" link set lo up; ip -n "$ns" link set veth0 up; done
ip -n "$a" addr add 198.18.0.1/24 dev veth0
ip -n "$b" addr add 198.18.0.2/24 dev veth0
ip -n "$a" addr add 2001:db8::1/64 dev veth0 nodad
ip -n "$b" addr add 2001:db8::2/64 dev veth0 nodad

ip netns exec "$b" "$bin/trafficgen" serve --v4 198.18.0.2 --v6 2001:db8::2 >/dev/null &
pids+=($!)

echo "== capturing on $b/veth0 into $out for 14 s"
ip netns exec "$b" "$bin/tacap" capture --iface veth0 --for 14s --out "$out" --ready-file "$bin/ready" &
cap=$!
pids+=($cap)
for _ in $(seq 100); do [ -f "$bin/ready" ] && break; sleep 0.1; done
[ -f "$bin/ready" ] || { echo "demo: tacap did not start" >&2; exit 1; }

echo "== traffic from $a for 10 s"
ip netns exec "$a" "$bin/trafficgen" client --v4 198.18.0.2 --v6 2001:db8::2 --for 10s

wait "$cap"
if "$bin/tacap" report --help >/dev/null 2>&1; then
	echo "== report"
	"$bin/tacap" report "$out"
fi
echo "== done: load $out/packets with pandas.read_parquet(\"$out/packets\") or spark.read.parquet(\"$out/packets\")"
