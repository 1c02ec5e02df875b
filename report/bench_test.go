package report

import (
	"os"
	"testing"
)

// BenchmarkBuild reports on the dataset in $REPORT_BENCH_DATASET (for
// example one written by scripts/bench/reportgen: the workload of
// scripts/bench/report.sh without DuckDB beside it), or else on a small
// generated one with many row groups.
//
//	go run ./scripts/bench/reportgen -rows 10000000 -out /tmp/rb
//	REPORT_BENCH_DATASET=/tmp/rb go test -bench Build -run '^$' -count 5 ./report
func BenchmarkBuild(b *testing.B) {
	dir := os.Getenv("REPORT_BENCH_DATASET")
	if dir == "" {
		dir = b.TempDir()
		writeBatchedDataset(b, dir, 2000, 200_000)
	}
	b.ReportAllocs()
	for b.Loop() {
		r, err := Build(Options{Dirs: []string{dir}, Thresholds: DefaultThresholds()})
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Problems) > 0 {
			b.Fatal(r.Problems)
		}
	}
}
