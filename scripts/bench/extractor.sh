#!/usr/bin/env bash
# Kernel program cost per packet, through BPF_PROG_TEST_RUN, beside an empty
# TC program measured in the same run; rounds alternate, medians reported.
# Usage: scripts/bench/extractor.sh [rounds]   (root)
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-10}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test ./bpf -run '^$' -bench Extractor -benchtime 10x -count "$rounds" | tee "$out" | grep -E '^(goos|goarch|cpu|FAIL)' || true
echo "kernel: $(uname -r)   cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)   rounds: $rounds"
awk -f scripts/bench/median.awk "$out"
awk '/^BenchmarkExtractor\/empty/ {for (i=3;i<NF;i++) if ($(i+1)=="ns/pkt") e[++ne]=$i}
     /^BenchmarkExtractor\/tracked/ {for (i=3;i<NF;i++) if ($(i+1)=="ns/pkt") k[++nk]=$i}
     END { n = ne < nk ? ne : nk; for (j=1;j<=n;j++) r[j]=k[j]/e[j];
           for (a=1;a<=n;a++) for (b=a+1;b<=n;b++) if (r[b]<r[a]) {t=r[a];r[a]=r[b];r[b]=t}
           if (n) printf "tracked / empty, per round: median %.2fx (min %.2fx, max %.2fx)\n", (n%2?r[(n+1)/2]:(r[n/2]+r[n/2+1])/2), r[1], r[n] }' "$out"
