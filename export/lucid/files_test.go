package lucid

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tacap/tacap/dataset"
)

// flows makes one one-packet UDP sample per flow in a single window:
// attack flows first-packet-labelled ddos with ip_len 1000+i, benign ones
// with ip_len 5000+i, interleaved in time.
func flows(attack, benign int) []dataset.Packet {
	var rows []dataset.Packet
	for i := range max(attack, benign) {
		if i < benign {
			rows = append(rows, udpPkt(int64(len(rows))*ms, "10.0.0.1", int32(10000+i), "10.0.0.2", 53, 5000+int32(i)-28, "benign"))
		}
		if i < attack {
			rows = append(rows, udpPkt(int64(len(rows))*ms, "172.16.0.5", int32(10000+i), "10.0.0.2", 80, 1000+int32(i)-28, "ddos"))
		}
	}
	return rows
}

// ipLensOf lists the ip_len of each sample's first packet, split by y.
func ipLensOf(f h5File) (attack, benign []int) {
	for i, s := range f.X {
		l := int(math.Round(s[0][FeatIPLen] * 65536))
		if f.Y[i] == 1 {
			attack = append(attack, l)
		} else {
			benign = append(benign, l)
		}
	}
	return attack, benign
}

// TestSplitLUCID: --split lucid balances the classes (all of the smaller,
// as many of the larger), then puts ceil(10 %) of them in -test, ceil(10 %)
// of the rest in -val, the others in -train; everything when a class is
// empty.
func TestSplitLUCID(t *testing.T) {
	cases := []struct {
		name             string
		attack, benign   int
		train, val, test int
		keptA, keptB     int
	}{
		{"more benign", 30, 100, 48, 6, 6, 30, 30},
		{"more attack", 47, 12, 18, 3, 3, 12, 12}, // 24 kept: test ceil(2.4) = 3, val ceil(0.1 × 21) = 3
		{"no attack", 0, 25, 19, 3, 3, 0, 25},
		{"no benign", 10, 0, 8, 1, 1, 10, 0},
		{"one sample", 1, 0, 0, 0, 1, 1, 0},
		{"nothing", 0, 0, 0, 0, 0, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			ds := filepath.Join(dir, "ds")
			rows := flows(c.attack, c.benign)
			if len(rows) == 0 {
				rows = []dataset.Packet{udpPkt(0, "2001:db8::1", 1, "2001:db8::2", 2, 10, "benign")} // IPv6 only: no sample
			}
			writeDataset(t, ds, oneRun(rows...))
			res := exported(t, Options{Split: SplitLUCID, Out: filepath.Join(dir, "out"), Name: "DOS2019"}, ds)
			names := []string{"train", "val", "test"}
			wantN := []int{c.train, c.val, c.test}
			if len(res.Files) != 3 {
				t.Fatalf("files %+v, want train, val, test", res.Files)
			}
			var allA, allB []int
			for i, name := range names {
				want := filepath.Join(dir, "out", "10t-10n-DOS2019-dataset-"+name+".hdf5")
				if res.Files[i].Path != want {
					t.Errorf("file %d: %s, want %s", i, res.Files[i].Path, want)
				}
				f := readH5(t, want)
				if f.XShape[0] != wantN[i] || f.XShape[1] != 10 || res.Files[i].Samples != int64(wantN[i]) {
					t.Errorf("%s: set_x %v, result %+v; want %d samples", name, f.XShape, res.Files[i], wantN[i])
				}
				a, b := ipLensOf(f)
				if res.Files[i].Attack != int64(len(a)) {
					t.Errorf("%s: result says %d attack samples, the file has %d", name, res.Files[i].Attack, len(a))
				}
				allA, allB = append(allA, a...), append(allB, b...)
			}
			if len(allA) != c.keptA || len(allB) != c.keptB {
				t.Fatalf("kept %d attack and %d benign samples, want %d and %d", len(allA), len(allB), c.keptA, c.keptB)
			}
			// Every sample of the smaller class; distinct ones of the larger.
			check := func(what string, got []int, base, total int) {
				sort.Ints(got)
				for i, l := range got {
					if l < base || l >= base+total || (i > 0 && got[i-1] == l) {
						t.Fatalf("%s samples %v: not distinct samples of the %d", what, got, total)
					}
				}
			}
			check("attack", allA, 1000, c.attack)
			check("benign", allB, 5000, c.benign)
			if res.Counts.Samples != int64(c.attack+c.benign) || res.Counts.Attack != int64(c.attack) {
				t.Errorf("counts %+v: want %d samples, %d attack (the counts are before balancing)", res.Counts, c.attack+c.benign, c.attack)
			}
		})
	}
}

// TestDeterministic: the same dataset exported twice gives the same bytes.
func TestDeterministic(t *testing.T) {
	dir := t.TempDir()
	ds := filepath.Join(dir, "ds")
	writeDataset(t, ds, oneRun(flows(40, 70)...))
	for _, split := range []string{SplitLUCID, SplitNone} {
		a := exported(t, Options{Split: split, Out: filepath.Join(dir, split+"1")}, ds)
		b := exported(t, Options{Split: split, Out: filepath.Join(dir, split+"2")}, ds)
		for i := range a.Files {
			x, err := os.ReadFile(a.Files[i].Path)
			if err != nil {
				t.Fatal(err)
			}
			y, err := os.ReadFile(b.Files[i].Path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(x, y) || len(x) == 0 {
				t.Errorf("split %s: %s and %s differ", split, a.Files[i].Path, b.Files[i].Path)
			}
		}
	}
	// The split is a partition of the balanced samples, the same twice.
	f1 := readH5(t, filepath.Join(dir, "lucid1", "10t-10n-tacap-dataset-test.hdf5"))
	f2 := readH5(t, filepath.Join(dir, "lucid2", "10t-10n-tacap-dataset-test.hdf5"))
	a1, b1 := ipLensOf(f1)
	a2, b2 := ipLensOf(f2)
	if len(a1)+len(b1) != 8 || jsonOf(a1, b1) != jsonOf(a2, b2) {
		t.Errorf("test files: %v %v and %v %v", a1, b1, a2, b2)
	}
}

func jsonOf(v ...any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestSidecar: the JSON beside the files says how they were made.
func TestSidecar(t *testing.T) {
	dir := t.TempDir()
	ds := filepath.Join(dir, "ds")
	rows := append(flows(3, 4), udpPkt(0, "2001:db8::1", 1, "2001:db8::2", 2, 10, "benign"))
	writeDataset(t, ds, oneRun(rows...))
	res := exported(t, Options{Window: 5 * time.Second, MaxPackets: 4, Name: "x", Out: filepath.Join(dir, "out")}, ds)
	want := filepath.Join(dir, "out", "5t-4n-x-dataset.json")
	if res.Manifest != want {
		t.Fatalf("sidecar %s, want %s", res.Manifest, want)
	}
	var doc struct {
		Tool       string    `json:"tool"`
		Window     float64   `json:"time_window_s"`
		MaxPackets int       `json:"packets_per_sample"`
		Split      string    `json:"split"`
		Seed       int       `json:"seed"`
		Benign     string    `json:"benign_label"`
		Features   []string  `json:"features"`
		Maxima     []float64 `json:"feature_maxima"`
		Files      []File    `json:"files"`
		Counts     Counts    `json:"counts"`
		Runs       []string  `json:"runs"`
		Rules      []string  `json:"rules_sha256"`
	}
	b, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	wantMax := []float64{5, 1 << 16, 1 << 32, 1 << 16, 1 << 12, 1 << 16, 1 << 32, 1 << 16, 1 << 16, 1 << 16, 1 << 8}
	if doc.Window != 5 || doc.MaxPackets != 4 || doc.Split != "none" || doc.Seed != 1 || doc.Benign != "benign" ||
		jsonOf(doc.Maxima) != jsonOf(wantMax) || len(doc.Features) != 11 || doc.Features[0] != "timestamp" || doc.Features[10] != "ICMP_type" ||
		len(doc.Files) != 1 || doc.Files[0].Samples != 7 || doc.Files[0].Attack != 3 ||
		doc.Counts != res.Counts || doc.Counts.NotIPv4 != 1 || doc.Counts.Rows != 8 || len(doc.Runs) != 1 || len(doc.Rules) != 1 {
		t.Errorf("sidecar:\n%s", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "out", "5t-4n-x-dataset-full.hdf5")); err != nil {
		t.Error(err)
	}
	// Nothing else is left in the folder (no hidden temporary files).
	ents, _ := os.ReadDir(filepath.Join(dir, "out"))
	if len(ents) != 2 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("out holds %v, want the -full file and the JSON", names)
	}
}

// TestNoOverwrite: an existing file is never written over.
func TestNoOverwrite(t *testing.T) {
	dir := t.TempDir()
	ds := filepath.Join(dir, "ds")
	writeDataset(t, ds, oneRun(flows(5, 5)...))
	snapshot := func(out string) map[string]string {
		m := map[string]string{}
		ents, _ := os.ReadDir(out)
		for _, e := range ents {
			b, _ := os.ReadFile(filepath.Join(out, e.Name()))
			m[e.Name()] = string(b)
		}
		return m
	}
	t.Run("a second export", func(t *testing.T) {
		for _, split := range []string{SplitNone, SplitLUCID} {
			out := filepath.Join(dir, "again-"+split)
			exported(t, Options{Split: split, Out: out}, ds)
			before := snapshot(out)
			_, err := Export([]string{ds}, Options{Split: split, Out: out})
			if err == nil || !strings.Contains(err.Error(), "already exists") {
				t.Fatalf("split %s: exporting over the files: %v, want an error saying the file exists", split, err)
			}
			if after := snapshot(out); jsonOf(after) != jsonOf(before) {
				t.Errorf("split %s: the folder changed: %d files, %d before", split, len(after), len(before))
			}
		}
	})
	t.Run("one of the split's files", func(t *testing.T) {
		out := filepath.Join(dir, "val-only")
		if err := os.MkdirAll(out, 0o750); err != nil {
			t.Fatal(err)
		}
		val := filepath.Join(out, "10t-10n-tacap-dataset-val.hdf5")
		if err := os.WriteFile(val, []byte("mine"), 0o640); err != nil {
			t.Fatal(err)
		}
		if _, err := Export([]string{ds}, Options{Split: SplitLUCID, Out: out}); err == nil {
			t.Fatal("exported over an existing -val file")
		}
		if s := snapshot(out); len(s) != 1 || s["10t-10n-tacap-dataset-val.hdf5"] != "mine" {
			t.Errorf("after the refusal the folder holds %d files (%v), want only the untouched -val", len(s), keys(s))
		}
	})
	t.Run("the JSON only", func(t *testing.T) {
		// The sidecar exists, the HDF5 files do not: the export fails, the
		// JSON is untouched, and no HDF5 file is left without the JSON
		// that says how it was made (a retry would then refuse it).
		out := filepath.Join(dir, "json-only")
		if err := os.MkdirAll(out, 0o750); err != nil {
			t.Fatal(err)
		}
		js := filepath.Join(out, "10t-10n-tacap-dataset.json")
		if err := os.WriteFile(js, []byte("{}"), 0o640); err != nil {
			t.Fatal(err)
		}
		if _, err := Export([]string{ds}, Options{Out: out}); err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Fatalf("exporting beside an existing JSON: %v, want an error saying it exists", err)
		}
		if s := snapshot(out); len(s) != 1 || s["10t-10n-tacap-dataset.json"] != "{}" {
			t.Errorf("after the refused export the folder holds %v, want only the untouched JSON", keys(s))
		}
	})
}

func keys(m map[string]string) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

// TestSampledRuns: a run recorded with a per-session quota in (0, n) is
// refused (ErrSampled) unless AllowSampled; 0 and ≥ n are fine.
func TestSampledRuns(t *testing.T) {
	cases := []struct {
		pps   []uint32 // one run each
		n     int
		allow bool
		ok    bool
	}{
		{[]uint32{5}, 10, false, false},
		{[]uint32{9}, 10, false, false},
		{[]uint32{1}, 2, false, false},
		{[]uint32{5}, 10, true, true},
		{[]uint32{10}, 10, false, true},
		{[]uint32{0}, 10, false, true},
		{[]uint32{11}, 10, false, true},
		{[]uint32{5}, 5, false, true},
		{[]uint32{0, 3}, 10, false, false}, // one sampled run refuses the export
	}
	for _, c := range cases {
		dir := t.TempDir()
		var runs []runSpec
		for i, q := range c.pps {
			r := oneRun(udpPkt(int64(i)*sec, "10.0.0.1", 1, "10.0.0.2", 2, 10, "benign"))
			r.id = r.id[:len(r.id)-1] + string(rune('a'+i))
			r.start = r.start.Add(time.Duration(i) * time.Second)
			r.pps = q
			runs = append(runs, r)
		}
		writeDataset(t, filepath.Join(dir, "ds"), runs...)
		out := filepath.Join(dir, "out")
		res, err := Export([]string{filepath.Join(dir, "ds")}, Options{MaxPackets: c.n, AllowSampled: c.allow, Out: out})
		if c.ok {
			if err != nil || res.Counts.Samples != int64(len(c.pps)) {
				t.Errorf("quotas %v, n %d, allow %v: %v, want an export", c.pps, c.n, c.allow, err)
			}
			continue
		}
		if !errors.Is(err, ErrSampled) || errors.Is(err, ErrUsage) {
			t.Errorf("quotas %v, n %d: %v, want ErrSampled", c.pps, c.n, err)
		} else if !strings.Contains(err.Error(), "--packets-per-session") {
			t.Errorf("quotas %v, n %d: %q does not say what to do", c.pps, c.n, err)
		}
		if _, serr := os.Stat(out); serr == nil {
			ents, _ := os.ReadDir(out)
			if len(ents) > 0 {
				t.Errorf("quotas %v, n %d: a refused export left %d files in the output folder", c.pps, c.n, len(ents))
			}
		}
	}
}

// TestUsage: options that make no export wrap ErrUsage and write nothing.
func TestUsage(t *testing.T) {
	dir := t.TempDir()
	ds := filepath.Join(dir, "ds")
	writeDataset(t, ds, oneRun(flows(1, 1)...))
	out := filepath.Join(dir, "out")
	cases := []struct {
		name string
		opt  Options
	}{
		{"window of 1.5 s", Options{Window: 1500 * time.Millisecond}},
		{"window under a second", Options{Window: 500 * time.Millisecond}},
		{"negative window", Options{Window: -time.Second}},
		{"window of 10 s + 1 ns", Options{Window: 10*time.Second + 1}},
		{"n = -1", Options{MaxPackets: -1}},
		{"n = 10001", Options{MaxPackets: 10001}},
		{"split random", Options{Split: "random"}},
		{"split LUCID upper-case", Options{Split: "LUCID"}},
		{"no output folder", Options{}},
		{"name with a path", Options{Name: "a/b"}},
		{"name ..", Options{Name: ".."}},
	}
	for _, c := range cases {
		opt := c.opt
		if c.name != "no output folder" {
			opt.Out = out
		}
		_, err := Export([]string{ds}, opt)
		if !errors.Is(err, ErrUsage) {
			t.Errorf("%s: %v, want ErrUsage", c.name, err)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%s: the output folder was made", c.name)
		}
	}
	// The edges that are fine.
	for _, opt := range []Options{{Window: time.Second, MaxPackets: 1}, {Window: 3600 * time.Second, MaxPackets: 10000}} {
		opt.Out = filepath.Join(dir, "ok", opt.Window.String())
		if _, err := Export([]string{ds}, opt); err != nil {
			t.Errorf("%+v: %v", opt, err)
		}
	}
	// Not a dataset.
	if _, err := Export([]string{dir}, Options{Out: filepath.Join(dir, "o2")}); err == nil || errors.Is(err, ErrUsage) {
		t.Errorf("a folder without runs: %v, want an error (not of usage)", err)
	}
}
