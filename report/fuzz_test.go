package report

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fuzzDataset writes one small labelled run (four TCP handshakes, with
// their flows; a rule whose window starts in the second, so that its flow
// has a null label_packets) and returns the dataset folder, its packets
// part and its manifest.
func fuzzDataset(tb testing.TB) (dir, part, manifest string) {
	tb.Helper()
	dir = tb.TempDir()
	var ps []pkt
	for i := 0; i < 4; i++ {
		ps = append(ps, handshake(10*i, "198.18.0.1", int32(2000+i), "198.18.0.2", 80)...)
	}
	p := rows(ps...)
	writeRun(tb, dir, fixtureRun{id: "fuzz", host: "h", iface: "eth0", start: t0, packets: p, sessions: sessionsOf(p),
		flows: flowsOf(p, nil, defaultFlows), rules: fuzzRules})
	parts, _ := filepath.Glob(filepath.Join(dir, "packets", "*", "*", "part-*-fuzz.parquet"))
	if len(parts) != 1 {
		tb.Fatalf("packets parts: %v", parts)
	}
	return dir, parts[0], filepath.Join(dir, "_runs", "fuzz.json")
}

const fuzzRules = `rules:
  - {id: web, label: attack, attack: web, dst: 198.18.0.2, dport: 80, start: "2026-03-14T09:26:53.012Z"}
  - {id: never, label: attack, dst: 10.9.9.9}
`

// snapshot is a dataset folder's files, to lay out again cheaply (no
// fsync) for each fuzz input.
type snapshot map[string][]byte

func snapshotOf(tb testing.TB, dir string) snapshot {
	tb.Helper()
	s := snapshot{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		s[rel] = b
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// layOut writes the snapshot into a new folder, with file rel holding data.
func (s snapshot) layOut(t *testing.T, rel string, data []byte) string {
	dir := t.TempDir()
	for name, b := range s {
		if name == rel {
			b = data
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// buildMustNotPanic reports on dir; a panic fails, problems are fine.
func buildMustNotPanic(t *testing.T, dir string) {
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("report panicked: %v", p)
		}
	}()
	_, _ = Build(Options{Dirs: []string{dir}, Thresholds: DefaultThresholds()})
}

// FuzzParquetFile: whatever bytes stand in a packets part, the report
// never panics: it reads the file or says why it cannot. Seed: a part
// tacap wrote.
//
//	go test ./report -run '^$' -fuzz FuzzParquetFile -fuzztime 10m
func FuzzParquetFile(f *testing.F) {
	dir, part, _ := fuzzDataset(f)
	snap := snapshotOf(f, dir)
	rel, _ := filepath.Rel(dir, part)
	f.Add(snap[rel])
	f.Add([]byte("PAR1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		buildMustNotPanic(t, snap.layOut(t, rel, data))
	})
}

// FuzzFlowsFile: whatever bytes stand in a flows/ part, the report never
// panics. Seed: a part tacap's writer made, and a packets part in its place.
//
//	go test ./report -run '^$' -fuzz FuzzFlowsFile -fuzztime 10m
func FuzzFlowsFile(f *testing.F) {
	dir, part, _ := fuzzDataset(f)
	snap := snapshotOf(f, dir)
	flows, _ := filepath.Glob(filepath.Join(dir, "flows", "*", "*", "part-*-fuzz.parquet"))
	if len(flows) != 1 {
		f.Fatalf("flows parts: %v", flows)
	}
	rel, _ := filepath.Rel(dir, flows[0])
	packets, _ := filepath.Rel(dir, part)
	f.Add(snap[rel])
	f.Add(snap[packets])
	f.Add([]byte("PAR1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		buildMustNotPanic(t, snap.layOut(t, rel, data))
	})
}

// FuzzManifest: whatever a run manifest holds, the report never panics.
// Seed: a manifest as tacap writes it, and hostile ones.
//
//	go test ./report -run '^$' -fuzz FuzzManifest -fuzztime 10m
func FuzzManifest(f *testing.F) {
	dir, _, manifest := fuzzDataset(f)
	snap := snapshotOf(f, dir)
	rel, _ := filepath.Rel(dir, manifest)
	f.Add(snap[rel])
	f.Add([]byte(`{"run_id":"fuzz","counters":{"seen":1}}`))
	f.Add([]byte(`{"run_id":"fuzz","counters":{"seen":18446744073709551615,"recorded":18446744073709551615},"files":{"packets":[{"path":"../../etc/passwd","rows":-5}]}}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"run_id":"fuzz","counters":{"seen":1},"labels":{"default":"","sha256":"00","rules":-3,"content":"rules: [{id: a, label: b, src: 300.1.1.1}"}}`))
	f.Add([]byte(`{"run_id":"fuzz","counters":{"seen":28,"recorded":28},"labels":{"default":"attack","rules":9,"relabelled":"2026-03-14T10:00:00Z","previous":[{}]}}`))
	f.Add([]byte(`{"run_id":"fuzz","counters":{},"labels":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		buildMustNotPanic(t, snap.layOut(t, rel, data))
	})
}

// TestHostilePageSize: a part whose page header claims 1.9 GB (found by
// FuzzParquetFile; testdata/fuzz) is refused as corrupt, and the report
// does not allocate anything like the claim on the way.
func TestHostilePageSize(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzParquetFile", "950b442186203bbe"))
	if err != nil {
		t.Fatal(err)
	}
	// The corpus file holds the input as a Go literal after its header.
	var input []byte
	if _, err := fmt.Sscanf(strings.SplitN(string(data), "\n", 2)[1], "[]byte(%q)", &input); err != nil {
		t.Fatalf("corpus file: %v", err)
	}
	dir, part, _ := fuzzDataset(t)
	rel, _ := filepath.Rel(dir, part)
	dir = snapshotOf(t, dir).layOut(t, rel, input)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rep, err := Build(Options{Dirs: []string{dir}, Thresholds: DefaultThresholds()})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 256<<20 {
		t.Fatalf("the report allocated %d MiB for a 20 KB file", got>>20)
	}
	found := false
	for _, p := range rep.Problems {
		found = found || strings.Contains(p.Reason, "claims")
	}
	if !found {
		t.Fatalf("problems %v, want the page that claims too much named", rep.Problems)
	}
}

// TestFuzzSeeds: the fuzz dataset's files carry labels and a null
// label_packets, so the seeds reach the optional and nullable columns.
func TestFuzzSeeds(t *testing.T) {
	dir, _, _ := fuzzDataset(t)
	r, err := Build(Options{Dirs: []string{dir}, Thresholds: DefaultThresholds()})
	if err != nil {
		t.Fatal(err)
	}
	l := r.Labels
	if len(r.Problems) > 0 || l.RunsWithLabels != 1 || l.FlowsStraddling != 1 || l.RecordsLabelled == 0 || len(l.Warnings) != 1 {
		t.Fatalf("problems %v; labels %+v", r.Problems, l)
	}
}
