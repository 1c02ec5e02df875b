#!/usr/bin/env bash
# Where the kernel program's time goes: compiles variants of bpf/extractor.c
# that each remove one cost, and times them against the unchanged program in
# the same run, rounds alternating (scripts/bench/abrun). Root; needs clang.
#   scripts/bench/ab.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-15}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

compile() { # name < source
	cat >"$work/$1.c"
	clang -O2 -g -Wall -Werror -mcpu=v3 -target bpfel -I"$PWD/bpf/headers" -I"$PWD/bpf" \
		-c "$work/$1.c" -o "$work/$1.o"
	llvm-strip -g "$work/$1.o"
}
src=bpf/extractor.c
sed 's#"headers/#"'"$PWD"'/bpf/headers/#' $src | compile baseline
# no-clock: both clock helpers replaced by a constant.
sed 's#"headers/#"'"$PWD"'/bpf/headers/#; s/bpf_ktime_get_ns()/1/; s/bpf_ktime_get_coarse_ns()/1/' $src | compile no-clock
# coarse-clock: the precise clock replaced by the coarse one (what the quota-limited
# path paid before every packet needed its precise time for its flow's gaps).
sed 's#"headers/#"'"$PWD"'/bpf/headers/#; s/bpf_ktime_get_ns()/bpf_ktime_get_coarse_ns()/' $src | compile coarse-clock
# no-lookup: the session lookup replaced by a one-slot array (inlined by the verifier).
sed 's#"headers/#"'"$PWD"'/bpf/headers/#' $src | perl -0pe '
	s/(struct \{\n\t__uint\(type, BPF_MAP_TYPE_RINGBUF\);)/struct {\n\t__uint(type, BPF_MAP_TYPE_ARRAY);\n\t__uint(max_entries, 1);\n\t__type(key, __u32);\n\t__type(value, struct session);\n} one_session SEC(".maps");\n\n$1/;
	s/\ts = bpf_map_lookup_elem\(&sessions, &key\);\n\tif \(!s\) \{/\t__u32 zero_key = 0;\n\ts = bpf_map_lookup_elem(&one_session, &zero_key);\n\tif (!s) {/' | compile no-lookup
# stage: records copied to a per-CPU array instead of the ring (the floor of a
# design that batches records before handing them to the ring).
sed 's#"headers/#"'"$PWD"'/bpf/headers/#' $src | perl -0pe '
	s/(struct \{\n\t__uint\(type, BPF_MAP_TYPE_RINGBUF\);)/struct stage { __u32 n; __u32 pad; struct record rec[16]; };\nstruct {\n\t__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);\n\t__uint(max_entries, 1);\n\t__type(key, __u32);\n\t__type(value, struct stage);\n} stage_map SEC(".maps");\n\n$1/;
	s/\tslot = bpf_ringbuf_reserve\(&records, sizeof\(\*slot\), 0\);\n\tif \(!slot\) \{\n.*?\n\t\}\n\tnow = precise_now\(clk\);\n\tr->sess_quota_refused = s->quota_refused;\n\tstage\(slot, r, now, out\);/\t__u32 zk = 0;\n\tstruct stage *st = bpf_map_lookup_elem(&stage_map, &zk);\n\tif (!st)\n\t\treturn COUNTER_BUFFER_FULL;\n\tnow = precise_now(clk);\n\tr->sess_quota_refused = s->quota_refused;\n\tr->ts_ns = now;\n\tst->rec[st->n & 15] = *r;\n\tst->n++;/s' | compile stage
# no-flow: flow_track returns at once (the program before flows/, but with
# its record layout and precise clock).
sed 's#"headers/#"'"$PWD"'/bpf/headers/#' $src | perl -0pe '
	s/(static __always_inline __u64 flow_track\([^{]*\{)/$1\n\treturn 1;/' | compile no-flow
# no-flow-stats: add_packet counts nothing.
sed 's#"headers/#"'"$PWD"'/bpf/headers/#' $src | perl -0pe '
	s/(static __always_inline void add_packet\([^{]*\{\n)/$1\treturn;\n/' | compile no-flow-stats
for v in coarse-clock no-lookup stage no-flow no-flow-stats; do
	cmp -s "$work/baseline.o" "$work/$v.o" && { echo "ab.sh: variant $v did not change the program (extractor.c moved on?)" >&2; exit 1; }
done
go build -o "$work/abrun" ./scripts/bench/abrun
cd "$work"
for path in tracked quota-limited new-session; do
	./abrun -path $path -rounds "$rounds" baseline.o no-clock.o coarse-clock.o no-lookup.o stage.o no-flow.o no-flow-stats.o
done
