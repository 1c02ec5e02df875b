package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tacap/tacap/dataset"
)

// flowsPart is the path of run id's only flows/ part under dir.
func flowsPart(t *testing.T, dir, id string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, dataset.FlowsTable, "*", "*", "part-*-"+id+".parquet"))
	if len(files) != 1 {
		t.Fatalf("flows parts of %s: %v", id, files)
	}
	return files[0]
}

// secs is a duration of the report, -1 for none.
func secs(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}

// reasonsOf is "reason=flows ..." of a by_end_reason list.
func reasonsOf(rs []EndReason) string {
	var s []string
	for _, r := range rs {
		s = append(s, fmt.Sprintf("%s=%d", r.Reason, r.Flows))
	}
	return strings.Join(s, " ")
}

// runByID is the report's run id.
func runByID(t *testing.T, r *Report, id string) *Run {
	t.Helper()
	for i := range r.Runs {
		if r.Runs[i].RunID == id {
			return &r.Runs[i]
		}
	}
	t.Fatalf("no run %s in %v", id, r.Runs)
	return nil
}

// TestFlowFigures checks the flows summary on small datasets whose
// flows/ rows are given: totals, end reasons, one-way share, durations,
// the top flows and --top, runs without flows/, and damaged parts.
func TestFlowFigures(t *testing.T) {
	ms := func(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }
	for _, tc := range []struct {
		name     string
		top      int // --top (0: 10)
		runs     []fixtureRun
		damage   func(t *testing.T, dir string)
		problems []string // the report's problems, one substring each (none when empty)
		check    func(t *testing.T, r *Report)
	}{
		{name: "totals, end reasons, one-way share, durations", runs: []fixtureRun{{id: "r", flows: flowRows(
			flw{src: "10.0.0.1", dst: "10.0.0.2", sport: 1000, dport: 80, proto: 6, fwdP: 5, bwdP: 4, fwdB: 500, bwdB: 4000,
				first: ms(0), last: ms(1500), reason: dataset.FlowEndIdle, recorded: 3},
			flw{src: "10.0.0.3", dst: "10.0.0.4", sport: 53000, dport: 53, proto: 17, fwdP: 1, bwdP: 1, fwdB: 60, bwdB: 120,
				first: ms(10), last: ms(11), recorded: 2},
			flw{src: "10.0.0.5", dst: "10.0.0.2", sport: 1, dport: 80, proto: 6, fwdP: 1, fwdB: 40, first: ms(20)},
			flw{src: "10.0.0.6", dst: "10.0.0.2", proto: 1, fwdP: 3, fwdB: 252, first: ms(30), last: ms(2030),
				reason: dataset.FlowEndActive, recorded: 1},
			flw{src: "10.0.0.1", dst: "10.0.0.2", sport: 1000, dport: 80, proto: 6, fwdP: 2, bwdP: 2, fwdB: 200, bwdB: 200,
				first: ms(3000), last: ms(3000.5), reason: dataset.FlowEndReuse, recorded: 4},
		)}}, check: func(t *testing.T, r *Report) {
			f := r.Flows
			eq(t, "runs with flows", f.Runs, 1)
			eq(t, "flows", f.Flows, 5)
			eq(t, "packets", f.Packets, 9+2+1+3+4)
			eq(t, "bytes", f.Bytes, 4500+180+40+252+400)
			eq(t, "packets recorded", f.PacketsRecorded, 10)
			eq(t, "by end reason", reasonsOf(f.ByEndReason), "idle=1 active=1 reuse=1 end=2")
			eq(t, "end share", f.ByEndReason[3].Share, 0.4)
			eq(t, "one-way", f.OneWay, 2)
			eq(t, "one-way share", f.OneWayShare, 0.4)
			// Durations 0, 0.0005, 0.001, 1.5 and 2 s.
			eq(t, "median", secs(f.MedianDurationSec), 0.001)
			eq(t, "max", secs(f.MaxDurationSec), 2.0)
			run := runByID(t, r, "r")
			eq(t, "flow files", run.FlowFiles, 1)
			if run.Flows == nil {
				t.Fatal("run r has no flows figures")
			}
			eq(t, "the run's figures are the total", jsonOf(t, run.Flows), jsonOf(t, f.FlowStats))
			eq(t, "top flow", fmt.Sprintf("%d %s:%d %s %d %d %s", r.Top.Flows[0].FlowID, r.Top.Flows[0].SrcIP, r.Top.Flows[0].SrcPort,
				r.Top.Flows[0].Protocol, r.Top.Flows[0].Packets, r.Top.Flows[0].Bytes, r.Top.Flows[0].EndReason), "1 10.0.0.1:1000 tcp 9 4500 idle")
			eq(t, "its duration", r.Top.Flows[0].DurationSec, 1.5)
			eq(t, "a 500 µs flow's duration", r.Top.Flows[1].DurationSec, 0.0005)
		}},
		{name: "median of an even count, across runs and per run", runs: []fixtureRun{
			{id: "r1", flows: flowRows(
				flw{src: "10.0.0.1", dst: "10.0.0.2", proto: 17, fwdP: 2, fwdB: 56, first: ms(0), last: ms(1000)},
				flw{src: "10.0.0.1", dst: "10.0.0.3", proto: 17, fwdP: 2, bwdP: 1, fwdB: 56, bwdB: 28, first: ms(0), last: ms(3000)})},
			{id: "r2", flows: flowRows(
				flw{src: "10.0.0.1", dst: "10.0.0.2", proto: 17, fwdP: 2, bwdP: 2, fwdB: 56, bwdB: 56, first: ms(0), last: ms(2000)},
				flw{src: "10.0.0.1", dst: "10.0.0.4", proto: 17, fwdP: 2, fwdB: 56, first: ms(0), last: ms(10000), reason: dataset.FlowEndIdle})},
		}, check: func(t *testing.T, r *Report) {
			eq(t, "runs with flows", r.Flows.Runs, 2)
			eq(t, "flows", r.Flows.Flows, 4)
			eq(t, "median of 1, 2, 3, 10 s", secs(r.Flows.MedianDurationSec), 2.5)
			eq(t, "max", secs(r.Flows.MaxDurationSec), 10.0)
			eq(t, "one-way share", r.Flows.OneWayShare, 0.5)
			eq(t, "by end reason", reasonsOf(r.Flows.ByEndReason), "idle=1 active=0 reuse=0 end=3")
			r1, r2 := runByID(t, r, "r1").Flows, runByID(t, r, "r2").Flows
			eq(t, "r1 median", secs(r1.MedianDurationSec), 2.0)
			eq(t, "r1 max", secs(r1.MaxDurationSec), 3.0)
			eq(t, "r2 median", secs(r2.MedianDurationSec), 6.0)
			eq(t, "r2 packets", r2.Packets, 6)
			eq(t, "r2 one-way", r2.OneWay, 1)
		}},
		{name: "top flows: by bytes, then packets, then addresses; --top limits them", top: 3, runs: []fixtureRun{
			{id: "r1", flows: flowRows(
				flw{src: "10.0.0.7", dst: "10.0.0.1", proto: 17, fwdP: 1, fwdB: 1000, first: ms(0)},          // 1: fewer packets than 3 and 4
				flw{src: "10.0.0.8", dst: "10.0.0.1", proto: 17, fwdP: 1, bwdP: 1, fwdB: 10, first: ms(0)},   // 2: smallest
				flw{src: "10.0.0.9", dst: "10.0.0.1", proto: 17, fwdP: 2, bwdP: 1, fwdB: 1000, first: ms(0)}, // 3
			)},
			{id: "r2", flows: flowRows(
				flw{src: "10.0.0.0", dst: "10.0.0.1", proto: 17, fwdP: 3, fwdB: 600, bwdB: 400, first: ms(0)},         // 1: ties 3, lower address
				flw{src: "10.0.0.5", dst: "10.0.0.1", proto: 6, fwdP: 1, bwdP: 1, fwdB: 40, bwdB: 4960, first: ms(0)}, // 2: largest
			)},
		}, check: func(t *testing.T, r *Report) {
			eq(t, "n", r.Top.N, 3)
			var got []string
			for _, f := range r.Top.Flows {
				got = append(got, fmt.Sprintf("%s/%d %s %d", f.RunID, f.FlowID, f.SrcIP, f.Bytes))
			}
			eq(t, "top flows", strings.Join(got, ", "), "r2/2 10.0.0.5 5000, r2/1 10.0.0.0 1000, r1/3 10.0.0.9 1000")
			eq(t, "flows counted beyond --top", r.Flows.Flows, 5)
		}},
		{name: "a run without flows/ beside one with", runs: []fixtureRun{
			{id: "new", flows: flowRows(flw{src: "10.0.0.1", dst: "10.0.0.2", proto: 17, fwdP: 1, fwdB: 28, first: ms(0)})},
			{id: "old"},
		}, check: func(t *testing.T, r *Report) {
			eq(t, "runs with flows", r.Flows.Runs, 1)
			eq(t, "flows", r.Flows.Flows, 1)
			old := runByID(t, r, "old")
			eq(t, "old run's flows", old.Flows == nil, true)
			eq(t, "old run's flow files", old.FlowFiles, 0)
			text := textOf(t, r)
			for _, want := range []string{"No flows/ part for old ", "TOP 10 FLOWS", "10.0.0.1:0 → 10.0.0.2:0"} {
				if !strings.Contains(text, want) {
					t.Errorf("text lacks %q:\n%s", want, text)
				}
			}
		}},
		{name: "no run has flows/", runs: []fixtureRun{{id: "a"}, {id: "b"}}, check: func(t *testing.T, r *Report) {
			eq(t, "runs with flows", r.Flows.Runs, 0)
			eq(t, "flows", r.Flows.Flows, 0)
			eq(t, "median", secs(r.Flows.MedianDurationSec), -1.0)
			eq(t, "by end reason", reasonsOf(r.Flows.ByEndReason), "idle=0 active=0 reuse=0 end=0")
			eq(t, "top flows", r.Top.Flows != nil && len(r.Top.Flows) == 0, true)
			text := textOf(t, r)
			if !strings.Contains(text, "FLOWS\nNo flows table: no run has a flows/ part") || strings.Contains(text, "TOP 10 FLOWS") {
				t.Errorf("text does not say there is no flows table, or lists top flows:\n%s", text)
			}
			for _, line := range summaryLines(r) {
				if strings.Contains(line, "flow") {
					t.Errorf("summary mentions flows: %q", line)
				}
			}
		}},
		{name: "a run that saw nothing recordable: no part, flows.written 0", runs: []fixtureRun{{id: "r", flows: []dataset.Flow{}}},
			check: func(t *testing.T, r *Report) {
				eq(t, "runs with flows", r.Flows.Runs, 0)
				eq(t, "run's flows", runByID(t, r, "r").Flows == nil, true)
			}},
		{name: "an unknown end_reason and impossible values", runs: []fixtureRun{{id: "r", flows: flowRows(
			flw{src: "10.0.0.1", dst: "10.0.0.2", proto: 17, fwdP: 4, bwdP: -5, fwdB: 100, bwdB: -7, first: ms(1000), last: ms(0), reason: "zzz", recorded: -1},
			flw{src: "10.0.0.1", dst: "10.0.0.3", proto: 17, fwdP: 1, fwdB: 28, first: ms(0), last: ms(4000)},
		)}}, check: func(t *testing.T, r *Report) {
			f := r.Flows
			eq(t, "by end reason", reasonsOf(f.ByEndReason), "idle=0 active=0 reuse=0 end=1 zzz=1")
			eq(t, "packets", f.Packets, 5)
			eq(t, "bytes", f.Bytes, 128)
			eq(t, "recorded", f.PacketsRecorded, 0)
			eq(t, "one-way", f.OneWay, 2)
			eq(t, "median of 0 and 4 s", secs(f.MedianDurationSec), 2.0)
			eq(t, "zzz's duration", r.Top.Flows[0].DurationSec, 0.0)
		}},
		{name: "a corrupt flows/ part", runs: []fixtureRun{
			{id: "bad", flows: flowRows(flw{src: "10.0.0.1", dst: "10.0.0.2", proto: 17, fwdP: 1, fwdB: 28, first: ms(0)})},
			{id: "good", flows: flowRows(flw{src: "10.0.0.1", dst: "10.0.0.3", proto: 17, fwdP: 2, fwdB: 56, first: ms(0)})},
		}, damage: func(t *testing.T, dir string) {
			part := flowsPart(t, dir, "bad")
			data, _ := os.ReadFile(part)
			os.WriteFile(part, data[:len(data)/2], 0o640)
		}, problems: []string{"flows/date=2026-03-14/host=h/part-00000-bad.parquet: not a readable Parquet file"},
			check: func(t *testing.T, r *Report) {
				eq(t, "runs with flows", r.Flows.Runs, 2)
				eq(t, "flows", r.Flows.Flows, 1)
				eq(t, "bad run's flows", runByID(t, r, "bad").Flows.Flows, 0)
				eq(t, "bad run's median", secs(runByID(t, r, "bad").Flows.MedianDurationSec), -1.0)
				eq(t, "good run's packets", runByID(t, r, "good").Flows.Packets, 2)
			}},
		{name: "flows.written disagrees with the parts", runs: []fixtureRun{{id: "r",
			flows: flowRows(flw{src: "10.0.0.1", dst: "10.0.0.2", proto: 17, fwdP: 1, fwdB: 28, first: ms(0)}, flw{src: "10.0.0.1", dst: "10.0.0.3", proto: 17, fwdP: 1, fwdB: 28, first: ms(0)}),
			edit:  func(m map[string]any) { m["flows"].(map[string]any)["written"] = 99 }}},
			problems: []string{"_runs/r.json: flows.written is 99 but its flows/ parts hold 2 rows"},
			check:    func(t *testing.T, r *Report) { eq(t, "flows", r.Flows.Flows, 2) }},
		{name: "a part's rows disagree with files.flows (said once)", runs: []fixtureRun{{id: "r",
			flows: flowRows(flw{src: "10.0.0.1", dst: "10.0.0.2", proto: 17, fwdP: 1, fwdB: 28, first: ms(0)}),
			edit: func(m map[string]any) {
				m["files"].(map[string]any)["flows"].([]dataset.File)[0].Rows = 7
				m["flows"].(map[string]any)["written"] = 7
			}}},
			problems: []string{"part-00000-r.parquet: has 1 rows but the manifest of run r says 7"},
			check:    func(t *testing.T, r *Report) { eq(t, "flows", r.Flows.Flows, 1) }},
		{name: "a flows/ part not in the manifest (said once)", runs: []fixtureRun{{id: "r",
			flows: flowRows(flw{src: "10.0.0.1", dst: "10.0.0.2", proto: 17, fwdP: 1, fwdB: 28, first: ms(0)})}},
			damage: func(t *testing.T, dir string) {
				part := flowsPart(t, dir, "r")
				data, _ := os.ReadFile(part)
				os.WriteFile(strings.Replace(part, "part-00000-", "part-00001-", 1), data, 0o640)
			},
			problems: []string{"part-00001-r.parquet: not listed in the manifest of run r"},
			check:    func(t *testing.T, r *Report) { eq(t, "flows (both parts read)", r.Flows.Flows, 2) }},
		{name: "session rows in flows/ (a dataset from before sessions/)", runs: []fixtureRun{{id: "r",
			flows: flowRows(flw{src: "10.0.0.1", dst: "10.0.0.2", proto: 17, fwdP: 1, fwdB: 28, first: ms(0)})}},
			damage: func(t *testing.T, dir string) {
				sess, _ := filepath.Glob(filepath.Join(dir, dataset.SessionsTable, "*", "*", "part-*-r.parquet"))
				data, _ := os.ReadFile(sess[0])
				os.WriteFile(flowsPart(t, dir, "r"), data, 0o640)
			},
			problems: []string{"not a tacap flows file: it holds session rows (in a dataset written before sessions/ existed"},
			check:    func(t *testing.T, r *Report) { eq(t, "flows", r.Flows.Flows, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for i, fr := range tc.runs {
				if fr.id == "" {
					fr.id = fmt.Sprintf("run%d", i)
				}
				fr.host, fr.iface, fr.start = "h", "eth0", t0
				fr.packets = rows(pkt{t: at(0), src: "10.0.0.1", dst: "10.0.0.2", proto: 17, sport: 5, dport: 6, ipLen: 28})
				fr.sessions = sessionsOf(fr.packets)
				writeRun(t, dir, fr)
			}
			if tc.damage != nil {
				tc.damage(t, dir)
			}
			top := tc.top
			if top == 0 {
				top = 10
			}
			var r *Report
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("panic: %v", p)
					}
				}()
				var err error
				if r, err = Build(Options{Dirs: []string{dir}, Top: top, Thresholds: DefaultThresholds()}); err != nil {
					t.Fatal(err)
				}
			}()
			if len(r.Problems) != len(tc.problems) {
				t.Fatalf("problems %v, want %d: %q", r.Problems, len(tc.problems), tc.problems)
			}
			for i, want := range tc.problems {
				if got := r.Problems[i].String(); !strings.Contains(got, want) || strings.Contains(got, "\n") {
					t.Errorf("problem %q, want one line containing %q", got, want)
				}
			}
			validate(t, compileSchema(t), r)
			tc.check(t, r)
		})
	}
}

func textOf(t *testing.T, r *Report) string {
	t.Helper()
	var b strings.Builder
	if err := WriteText(&b, r, false); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFlowHistogramBins: decades on a log scale, the ends holding what is
// beyond them, and only the span of bins that hold flows listed.
func TestFlowHistogramBins(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want int
	}{{0.5, 0}, {1, 0}, {9.99, 0}, {10, 1}, {999, 2}, {1000, 3}, {1e10, 10}, {1e15, 10}} {
		if got := decade(tc.v); got != tc.want {
			t.Errorf("decade(%g) = %d, want %d", tc.v, got, tc.want)
		}
	}
	var bins [decades]uint64
	bins[3], bins[5] = 7, 2
	got := histogramOf(bins, -6)
	want := []HistogramBin{{1e-3, 1e-2, 7}, {1e-2, 1e-1, 0}, {1e-1, 1, 2}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("histogramOf = %v, want %v", got, want)
	}
	if got := histogramOf([decades]uint64{}, 0); len(got) != 0 || got == nil {
		t.Errorf("no flows: %#v, want an empty list", got)
	}
}

// TestUnrecordedSeries: a flow's unrecorded packets land in the buckets of
// its life in proportion to the time it spent in each, and none is lost.
func TestUnrecordedSeries(t *testing.T) {
	const base = 1000 // second 1000
	at := func(sec float64) int64 { return int64((base + sec) * 1e9) }
	for _, tc := range []struct {
		name  string
		flows []unrecordedFlow
		w     int64
		want  []uint64
	}{
		{"one instant", []unrecordedFlow{{at(1.5), at(1.5), 7}}, 1, []uint64{0, 7, 0, 0}},
		{"half and half", []unrecordedFlow{{at(0.5), at(1.5), 10}}, 1, []uint64{5, 5, 0, 0}},
		{"over whole buckets", []unrecordedFlow{{at(0), at(4), 40}}, 1, []uint64{10, 10, 10, 10}},
		{"two-second buckets", []unrecordedFlow{{at(0), at(4), 40}, {at(7), at(7), 3}}, 2, []uint64{20, 20, 0, 3}},
		{"two flows add up", []unrecordedFlow{{at(0), at(1), 4}, {at(0.25), at(0.75), 2}}, 1, []uint64{6, 0, 0, 0}},
	} {
		got := unrecordedSeries(tc.flows, base, tc.w, 4)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := unrecordedSeries(nil, base, 1, 4); got != nil {
		t.Errorf("no flows: %v", got)
	}
}

// TestReasonSeries: the manifest's counters timeline lands on the run's
// buckets, what lies outside the run's rows in the nearest bucket, and
// reasons without packets are left out.
func TestReasonSeries(t *testing.T) {
	ct := &dataset.CountersTimeline{Start: time.Unix(98, 0), BucketSeconds: 2, Reasons: map[string][]uint64{
		"session_quota": {1, 2, 3, 4}, "filtered": {0, 0, 0, 0}, "buffer_full": {0, 5, 0, 0}}}
	// The run's timeline: buckets of 2 s from second 100, three of them.
	got := reasonSeriesOf(ct, 100, 2, 3)
	want := []ReasonSeries{{"session_quota", []uint64{3, 3, 4}}, {"buffer_full", []uint64{5, 0, 0}}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
