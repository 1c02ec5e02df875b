package report

import (
	"encoding/json"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// oneRun writes a small valid run (four connections: 28 packets, 4 flows)
// into dir and returns the path of its packets file.
func oneRun(t *testing.T, dir, id string) string {
	t.Helper()
	var ps []pkt
	for i := 0; i < 4; i++ {
		ps = append(ps, handshake(10*i, "198.18.0.1", int32(2000+i), "198.18.0.2", 80)...)
	}
	p := rows(ps...)
	writeRun(t, dir, fixtureRun{id: id, host: "h", iface: "eth0", start: t0, packets: p, sessions: sessionsOf(p),
		flows: flowsOf(p, nil, defaultFlows)})
	files, _ := filepath.Glob(filepath.Join(dir, "packets", "*", "*", "part-*-"+id+".parquet"))
	if len(files) != 1 {
		t.Fatalf("packets files of %s: %v", id, files)
	}
	return files[0]
}

// TestBrokenDatasets: every kind of damage gives a one-line reason naming
// the file, the rest is still reported, and nothing panics.
func TestBrokenDatasets(t *testing.T) {
	for _, tc := range []struct {
		name string
		// damage breaks the dataset (which holds runs "good" and "bad");
		// it returns the folders to report on.
		damage  func(t *testing.T, dir, badFile string) []string
		fatal   string // Build fails with this
		problem string // else a problem containing this
		warning string // or only a warning containing this
	}{
		{"missing folder", func(t *testing.T, dir, _ string) []string {
			return []string{filepath.Join(dir, "nope")}
		}, "no such folder", "", ""},
		{"empty folder", func(t *testing.T, dir, _ string) []string {
			empty := filepath.Join(dir, "empty")
			os.Mkdir(empty, 0o755)
			return []string{empty}
		}, "no tacap runs found", "", ""},
		{"a file, not a folder", func(t *testing.T, dir, bad string) []string {
			return []string{bad}
		}, "not a folder", "", ""},
		{"truncated Parquet", func(t *testing.T, dir, bad string) []string {
			data, _ := os.ReadFile(bad)
			os.WriteFile(bad, data[:len(data)/2], 0o640)
			return []string{dir}
		}, "", "not a readable Parquet file", ""},
		{"empty Parquet file", func(t *testing.T, dir, bad string) []string {
			os.WriteFile(bad, nil, 0o640)
			return []string{dir}
		}, "", "not a readable Parquet file", ""},
		{"foreign Parquet", func(t *testing.T, dir, bad string) []string {
			type other struct {
				Name  string `parquet:"name"`
				Value int64  `parquet:"value"`
			}
			os.Remove(bad)
			if err := parquet.WriteFile(bad, []other{{"a", 1}}); err != nil {
				t.Fatal(err)
			}
			return []string{dir}
		}, "", "not a tacap packets file: no column ts_ns", ""},
		{"column of the wrong type", func(t *testing.T, dir, bad string) []string {
			type wrong struct {
				TsNs string `parquet:"ts_ns"`
			}
			os.Remove(bad)
			parquet.WriteFile(bad, []wrong{{"x"}})
			return []string{dir}
		}, "", "column ts_ns is BYTE_ARRAY, want required INT64", ""},
		{"manifest row count disagrees", func(t *testing.T, dir, _ string) []string {
			editManifest(t, dir, "bad", func(m map[string]any) {
				f := m["files"].(map[string]any)["packets"].([]any)[0].(map[string]any)
				f["rows"] = 99.0
				m["rows_written"] = 99.0
				m["counters"].(map[string]any)["recorded"] = 99.0
				m["counters"].(map[string]any)["seen"] = 99.0
			})
			return []string{dir}
		}, "", "has 28 rows but the manifest of run bad says 99", ""},
		{"counters disagree with rows", func(t *testing.T, dir, _ string) []string {
			editManifest(t, dir, "bad", func(m map[string]any) { m["counters"].(map[string]any)["recorded"] = 5.0 })
			return []string{dir}
		}, "", "counters say 5 recorded but 28 rows were written", ""},
		{"listed file missing", func(t *testing.T, dir, bad string) []string {
			os.Remove(bad)
			return []string{dir}
		}, "", "listed in the manifest of run bad but missing", ""},
		{"file not in the manifest", func(t *testing.T, dir, bad string) []string {
			extra := strings.Replace(bad, "part-00000-", "part-00001-", 1)
			data, _ := os.ReadFile(bad)
			os.WriteFile(extra, data, 0o640)
			return []string{dir}
		}, "", "not listed in the manifest of run bad", ""},
		{"manifest not JSON", func(t *testing.T, dir, _ string) []string {
			os.WriteFile(filepath.Join(dir, "_runs", "bad.json"), []byte("{\"run_id\": "), 0o640)
			return []string{dir}
		}, "", "not a tacap manifest", ""},
		{"manifest of another run", func(t *testing.T, dir, _ string) []string {
			editManifest(t, dir, "bad", func(m map[string]any) { m["run_id"] = "other" })
			return []string{dir}
		}, "", "manifest is for run other, not bad", ""},
		{"no manifest (a killed capture)", func(t *testing.T, dir, _ string) []string {
			os.Remove(filepath.Join(dir, "_runs", "bad.json"))
			return []string{dir}
		}, "", "", "run bad has files but no manifest"},
		{"killed in its first minute: only a hidden, empty part", func(t *testing.T, dir, bad string) []string {
			killEarly(t, dir, "bad", bad)
			return []string{dir}
		}, "", "", "run bad has no manifest and nothing readable"},
		{"killed later: published parts and a hidden one", func(t *testing.T, dir, bad string) []string {
			os.Remove(filepath.Join(dir, "_runs", "bad.json"))
			hidden := filepath.Join(filepath.Dir(bad), ".part-00001-bad.parquet.tmp")
			os.WriteFile(hidden, make([]byte, 1500), 0o640)
			return []string{dir}
		}, "", "", "run bad has files but no manifest (the capture was killed or is still running); its counters are unknown; " +
			"unfinished hidden parts: packets/date=2026-03-14/host=h/.part-00001-bad.parquet.tmp (1.5 KiB)"},
		{"file name not tacap's", func(t *testing.T, dir, bad string) []string {
			data, _ := os.ReadFile(bad)
			os.WriteFile(filepath.Join(filepath.Dir(bad), "mine.parquet"), data, 0o640)
			return []string{dir}
		}, "", "not named part-NNNNN-RUNID.parquet", ""},
		{"unknown run", func(t *testing.T, dir, _ string) []string {
			return []string{dir, "--run=zzz"}
		}, `no run "zzz"`, "", ""},
		{"truncated flows part", func(t *testing.T, dir, _ string) []string {
			part := flowsPart(t, dir, "bad")
			data, _ := os.ReadFile(part)
			os.WriteFile(part, data[:len(data)/2], 0o640)
			return []string{dir}
		}, "", "part-00000-bad.parquet: not a readable Parquet file", ""},
		{"flows part of the wrong type", func(t *testing.T, dir, _ string) []string {
			type wrong struct {
				FlowID string `parquet:"flow_id"`
			}
			part := flowsPart(t, dir, "bad")
			os.Remove(part)
			parquet.WriteFile(part, []wrong{{"x"}})
			return []string{dir}
		}, "", "not a tacap flows file: column flow_id is BYTE_ARRAY, want required INT64", ""},
		{"listed flows part missing", func(t *testing.T, dir, _ string) []string {
			os.Remove(flowsPart(t, dir, "bad"))
			return []string{dir}
		}, "", "part-00000-bad.parquet: listed in the manifest of run bad but missing", ""},
		{"flows.written disagrees", func(t *testing.T, dir, _ string) []string {
			editManifest(t, dir, "bad", func(m map[string]any) { m["flows"].(map[string]any)["written"] = 5.0 })
			return []string{dir}
		}, "", "bad.json: flows.written is 5 but its flows/ parts hold 4 rows", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			oneRun(t, dir, "good")
			bad := oneRun(t, dir, "bad")
			dirs := tc.damage(t, dir, bad)
			var runID string
			if n := len(dirs); strings.HasPrefix(dirs[n-1], "--run=") {
				runID = strings.TrimPrefix(dirs[n-1], "--run=")
				dirs = dirs[:n-1]
			}
			r, err := Build(Options{Dirs: dirs, RunID: runID, Thresholds: DefaultThresholds()})
			if tc.fatal != "" {
				if err == nil || !strings.Contains(err.Error(), tc.fatal) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("error %v, want one line containing %q", err, tc.fatal)
				}
				return
			}
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if tc.problem != "" {
				perr := ProblemsError(r)
				if perr == nil || !strings.Contains(perr.Error(), tc.problem) {
					t.Fatalf("problems %v, want one containing %q", r.Problems, tc.problem)
				}
				if strings.Contains(perr.Error(), "\n") {
					t.Fatalf("problem text spans lines: %q", perr)
				}
			} else if len(r.Problems) > 0 {
				t.Fatalf("unexpected problems %v", r.Problems)
			}
			if tc.warning != "" && !strings.Contains(strings.Join(r.Warnings, "\n"), tc.warning) {
				t.Fatalf("warnings %v, want one containing %q", r.Warnings, tc.warning)
			}
			// The good run is always reported in full.
			var good *Run
			for i := range r.Runs {
				if r.Runs[i].RunID == "good" {
					good = &r.Runs[i]
				}
			}
			if good == nil || good.RowsRead != 28 {
				t.Fatalf("run good: %+v", good)
			}
		})
	}
}

// killEarly leaves of run id what a capture killed with -9 in its first
// minute leaves: no manifest, no published part, only the hidden part
// being written (empty: its rows were still buffered), beside bad.
func killEarly(t *testing.T, dir, id, bad string) string {
	t.Helper()
	os.Remove(filepath.Join(dir, "_runs", id+".json"))
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*", "*", "part-*-"+id+".parquet"))
	for _, f := range files {
		os.Remove(f)
	}
	hidden := filepath.Join(filepath.Dir(bad), ".part-00000-"+id+".parquet.tmp")
	if err := os.WriteFile(hidden, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	return hidden
}

// TestKilledEarly: a dataset whose only run was killed before it published
// anything is reported — the run, with no manifest and no rows, and a
// warning naming its hidden parts and their sizes — not "no tacap runs
// found".
func TestKilledEarly(t *testing.T) {
	dir := t.TempDir()
	bad := oneRun(t, dir, "20260314T092653Z-dead00")
	killEarly(t, dir, "20260314T092653Z-dead00", bad)
	r, err := Build(Options{Dirs: []string{dir}, Thresholds: DefaultThresholds()})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if len(r.Runs) != 1 || r.Runs[0].RunID != "20260314T092653Z-dead00" || r.Runs[0].HasManifest || r.Runs[0].RowsRead != 0 || len(r.Problems) != 0 {
		t.Fatalf("runs %+v problems %v", r.Runs, r.Problems)
	}
	want := dir + ": run 20260314T092653Z-dead00 has no manifest and nothing readable: the capture was killed (kill -9, a crash) " +
		"before it published a part, or is still running; unfinished hidden parts: packets/date=2026-03-14/host=h/.part-00000-20260314T092653Z-dead00.parquet.tmp (0 B)"
	if len(r.Warnings) != 1 || r.Warnings[0] != want {
		t.Fatalf("warnings %q, want [%q]", r.Warnings, want)
	}
	var b strings.Builder
	if err := WriteText(&b, r, false); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "killed") || !strings.Contains(out, ".part-00000-20260314T092653Z-dead00.parquet.tmp (0 B)") {
		t.Errorf("text report does not show the killed run:\n%s", out)
	}
}

func editManifest(t *testing.T, dir, id string, edit func(map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, "_runs", id+".json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	data, _ = json.Marshal(m)
	if err := os.WriteFile(path, data, 0o640); err != nil {
		t.Fatal(err)
	}
}

// TestCorruptBytes flips bytes all over a valid Parquet file, a packets
// part and a flows part: the report must turn every one into a problem or
// a plausible figure, never a panic.
func TestCorruptBytes(t *testing.T) {
	for _, table := range []string{"packets", "flows"} {
		t.Run(table, func(t *testing.T) {
			src := t.TempDir()
			bad := oneRun(t, src, "bad")
			if table == "flows" {
				bad = flowsPart(t, src, "bad")
			}
			orig, _ := os.ReadFile(bad)
			rng := rand.New(rand.NewSource(1))
			for i := 0; i < 300; i++ {
				data := append([]byte(nil), orig...)
				for k := 0; k < 1+i%4; k++ {
					data[rng.Intn(len(data))] ^= byte(1 + rng.Intn(255))
				}
				if err := os.WriteFile(bad, data, 0o640); err != nil {
					t.Fatal(err)
				}
				func() {
					defer func() {
						if p := recover(); p != nil {
							t.Fatalf("mutation %d: panic %v", i, p)
						}
					}()
					if _, err := Build(Options{Dirs: []string{src}, Thresholds: DefaultThresholds()}); err != nil {
						t.Fatalf("mutation %d: %v", i, err)
					}
				}()
			}
		})
	}
}

// TestRunSelection: --run takes an exact ID or a unique prefix, and the
// problems of other runs do not fail the report of the chosen one.
func TestRunSelection(t *testing.T) {
	dir := t.TempDir()
	oneRun(t, dir, "20260101T000000Z-aaaaaa")
	oneRun(t, dir, "20260101T000000Z-abbbbb")
	broken := oneRun(t, dir, "20260202T000000Z-cccccc")
	os.WriteFile(broken, []byte("junk"), 0o640)
	for _, tc := range []struct {
		run, want, err string
	}{
		{"20260101T000000Z-aaaaaa", "20260101T000000Z-aaaaaa", ""},
		{"20260101T000000Z-ab", "20260101T000000Z-abbbbb", ""},
		{"20260101T000000Z-a", "", "matches 2 runs"},
		{"2026", "", "matches 3 runs"},
	} {
		r, err := Build(Options{Dirs: []string{dir}, RunID: tc.run, Thresholds: DefaultThresholds()})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("--run %s: error %v, want %q", tc.run, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("--run %s: %v", tc.run, err)
		}
		if len(r.Runs) != 1 || r.Runs[0].RunID != tc.want || len(r.Problems) != 0 {
			t.Errorf("--run %s: runs %v problems %v", tc.run, r.Runs, r.Problems)
		}
	}
}

// TestRunSelectionOtherFolders: with --run, the problems inside the chosen
// run's dataset folder that are not its own are left out, and those of
// any other folder are kept — also of a folder whose name merely starts
// with the dataset's (dump2 beside dump).
func TestRunSelectionOtherFolders(t *testing.T) {
	const sel, other = "20260101T000000Z-se1ec7", "20260101T000000Z-07he42"
	// stray puts a Parquet file not named by tacap into a dataset of root
	// (made if absent) and returns its path.
	stray := func(t *testing.T, root, ds string) string {
		if _, err := os.Stat(filepath.Join(root, ds)); err != nil {
			oneRun(t, filepath.Join(root, ds), "20260101T000000Z-fa2a3a")
		}
		p := filepath.Join(root, ds, "packets", "mine.parquet")
		if err := os.WriteFile(p, []byte("junk"), 0o640); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		// setup damages root (which holds the dataset dump with runs sel
		// and other) and returns the input folders and the path of the
		// problem it makes.
		setup func(t *testing.T, root string) (inputs []string, problem string)
		kept  bool
	}{
		{"stray file in dump2 beside dump", func(t *testing.T, root string) ([]string, string) {
			return []string{root}, stray(t, root, "dump2")
		}, true},
		{"stray file in a dataset of another name", func(t *testing.T, root string) ([]string, string) {
			return []string{root}, stray(t, root, "zzz")
		}, true},
		{"stray file in dump", func(t *testing.T, root string) ([]string, string) {
			return []string{root}, stray(t, root, "dump")
		}, false},
		{"missing input dump2 beside dump", func(t *testing.T, root string) ([]string, string) {
			return []string{filepath.Join(root, "dump"), filepath.Join(root, "dump2")}, filepath.Join(root, "dump2")
		}, true},
		{"unreadable file of the chosen run", func(t *testing.T, root string) ([]string, string) {
			files, _ := filepath.Glob(filepath.Join(root, "dump", "packets", "*", "*", "part-*-"+sel+".parquet"))
			os.WriteFile(files[0], []byte("junk"), 0o640)
			return []string{root}, files[0]
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			oneRun(t, filepath.Join(root, "dump"), sel)
			oneRun(t, filepath.Join(root, "dump"), other)
			inputs, problem := tc.setup(t, root)
			r, err := Build(Options{Dirs: inputs, RunID: sel, Thresholds: DefaultThresholds()})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Runs) != 1 || r.Runs[0].RunID != sel {
				t.Fatalf("runs %+v, want %s only", r.Runs, sel)
			}
			kept := false
			for _, p := range r.Problems {
				if p.Path == problem {
					kept = true
				} else {
					t.Errorf("unexpected problem %v", p)
				}
			}
			if kept != tc.kept {
				t.Errorf("problem of %s kept: %v, want %v (problems %v)", problem, kept, tc.kept, r.Problems)
			}
		})
	}
}

func TestInFolder(t *testing.T) {
	for _, tc := range []struct {
		path, folder string
		want         bool
	}{
		{"/d/dump2", "/d/dump", false},
		{"/d/dump2/packets/part-00000-x.parquet", "/d/dump", false},
		{"/d/dum", "/d/dump", false},
		{"/d", "/d/dump", false},
		{"/d/dump/x", "/d/dump", true},
		{"/d/dump/packets/date=2026-01-01/x.parquet", "/d/dump", true},
		{"/d/dump", "/d/dump", true},
		{"/d/dump/", "/d/dump", true},
		{"/d/dump/x", "/d/dump/", true},
		{"/d/dump/../dump2/x", "/d/dump", false},
		{"/d/dump/..x", "/d/dump", true}, // a file named ..x
		{"/d/x", "/", true},
		{"/", "/", true},
		{"dump/x", "dump", true},
		{"dump", "dump", true},
		{"dump2/x", "dump", false},
		{"dump/x", "./dump", true},
		{"dump/x", ".", true},
		{"../x", ".", false},
		{"../x", "..", true},
		{"../dump2/x", "../dump", false},
		{"/abs/dump/x", "dump", false},
		{"dump/x", "/abs/dump", false},
	} {
		if got := inFolder(tc.path, tc.folder); got != tc.want {
			t.Errorf("inFolder(%q, %q) = %v, want %v", tc.path, tc.folder, got, tc.want)
		}
	}
}
