#!/usr/bin/env bash
# `tacap report` beside DuckDB running the reference workload
# (shared/bench/report-duckdb.sql, via scripts/bench/duckdb) on the same
# generated dataset: 10 M packet rows from two hosts with an attack mix
# (scripts/bench/reportgen), rounds alternating which tool goes first.
# Prints wall time and peak RSS per run, the medians and duckdb/tacap.
# Unprivileged. Needs Go, node and npm (the DuckDB client goes into
# scripts/bench/duckdb/node_modules on first use) and /usr/bin/time. The
# dataset is generated once into REPORT_BENCH_CACHE (default
# /var/tmp/tacap-bench-report-ROWS-USER: the files are private to their
# owner) and reused while its generator is unchanged.
#   [ROWS=10000000] scripts/bench/report.sh [rounds] [shared dir]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-5}
shared=${2:-${TACAP_SHARED:-../shared}}
rows=${ROWS:-10000000}
cache=${REPORT_BENCH_CACHE:-/var/tmp/tacap-bench-report-$rows-$(id -un)}
sql=$shared/bench/report-duckdb.sql
die() {
	echo "report.sh: $*" >&2
	exit 1
}
[ -f "$sql" ] || die "$sql not found (give the shared folder as the second argument)"
[ -x /usr/bin/time ] || die "needs /usr/bin/time (Debian package time)"
command -v node >/dev/null && command -v npm >/dev/null || die "needs node and npm"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/tacap" ./cmd/tacap
go build -o "$work/reportgen" ./scripts/bench/reportgen
if [ ! -d scripts/bench/duckdb/node_modules/@duckdb/node-api ]; then
	(cd scripts/bench/duckdb && npm ci --no-audit --no-fund)
fi

# The stamp names the generator and the writer code it shares with tacap:
# when either changes, the dataset is generated again.
stamp="rows=$rows $(cat go.sum scripts/bench/reportgen/*.go capture/schema/*.go capture/sink/*.go | sha256sum | cut -c1-16)"
ds=$cache/dataset
if [ "$(cat "$cache/complete" 2>/dev/null)" != "$stamp" ]; then
	rm -rf "$ds" "$cache/complete"
	mkdir -p "$cache"
	/usr/bin/time -f "generated in %e s (peak RSS %M KiB)" "$work/reportgen" -rows "$rows" -out "$ds"
	echo "$stamp" >"$cache/complete"
fi
echo "dataset: $ds ($(du -sh "$ds" | cut -f1), $rows packet rows), $rounds rounds"

# timed OUT CMD...: runs CMD with its stdout in OUT; sets wall (s) and rss
# (KiB, the peak of the process). A failing CMD stops the benchmark.
timed() {
	local out=$1
	shift
	if ! /usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$out" 2>"$work/stderr"; then
		echo "report.sh: FAILED: $*" >&2
		cat "$work/stderr" "$work/time" >&2
		exit 1
	fi
	read -r wall rss < <(tail -n 1 "$work/time")
}

printf "round\ttool\twall_s\tpeak_rss_MiB\n"
for round in $(seq "$rounds"); do
	for tool in $( ((round % 2)) && echo "tacap duckdb" || echo "duckdb tacap"); do
		if [ "$tool" = tacap ]; then
			timed /dev/null "$work/tacap" report --format json "$ds"
		else
			# The row is kept (and shown at the end): DuckDB has to produce all of it.
			timed "$work/duckdb.json" node scripts/bench/duckdb/report.mjs "$ds" "$sql"
		fi
		awk -v r="$round" -v t="$tool" -v w="$wall" -v m="$rss" 'BEGIN { printf "%s\t%s\t%.2f\t%.0f\n", r, t, w, m / 1024 }'
		# go test -bench lines, for median.awk.
		awk -v t="$tool" -v w="$wall" -v m="$rss" 'BEGIN { printf "BenchmarkReport/%s 1 %.0f wall_ms/op %.0f peak_rss_MiB/op\n", t, w * 1000, m / 1024 }' >>"$work/bench.txt"
	done
done
echo
awk -f scripts/bench/median.awk "$work/bench.txt" | tee "$work/medians.txt"
awk '$2 == "wall_ms/op" { m[$1] = $4 }
	END { t = m["BenchmarkReport/tacap"]; printf "duckdb_wall / tacap_wall (medians): %s\n", (t > 0 ? sprintf("%.2f", m["BenchmarkReport/duckdb"] / t) : "n/a") }' "$work/medians.txt"
echo "DuckDB's result row (first 400 characters): $(head -c 400 "$work/duckdb.json")"
