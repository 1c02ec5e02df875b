package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tacap/tacap/dataset"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func build(t *testing.T, dirs ...string) *Report {
	t.Helper()
	r, err := Build(Options{Dirs: dirs, Top: 10, Thresholds: DefaultThresholds()})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return r
}

// goldenDataset is three runs on three hosts: ordinary traffic
// (handshakes, DNS, ping, a TSO super-packet) plus a SYN flood, a file
// replay without a sessions file, and a capture killed before it published
// anything. It has no flows/ table, as written before tacap had one (nor
// label columns).
func goldenDataset(t *testing.T, dir string) { writeGolden(t, dir, false) }

// goldenFlowsDataset is goldenDataset as a tacap with flows/ writes it:
// the two runs that saw packets have flows/ parts, counting also the
// packets the sampling did not record (20 more spoofed SYNs, a SYN that
// reuses a closed connection's ports, DNS retries). It has no label
// columns, as written before tacap labelled traffic (golden-labels.* is of
// a labelled dataset: labels_test.go).
func goldenFlowsDataset(t *testing.T, dir string) { writeGolden(t, dir, true) }

func writeGolden(t *testing.T, dir string, flows bool) {
	var live []pkt
	for i := 0; i < 3; i++ {
		live = append(live, handshake(100*i, "198.18.0.2", int32(40000+i), "198.18.1.1", 443)...)
	}
	live = append(live,
		pkt{t: at(400), src: "198.18.0.2", dst: "198.18.1.53", proto: 17, sport: 53000, dport: 53, ipLen: 60, payload: 32},
		pkt{t: at(401), src: "198.18.1.53", dst: "198.18.0.2", proto: 17, sport: 53, dport: 53000, ipLen: 120, payload: 92},
		pkt{t: at(500), src: "2001:db8::2", dst: "2001:db8::1", proto: 58, icmpType: 128, ipLen: 104},
		pkt{t: at(501), src: "2001:db8::1", dst: "2001:db8::2", proto: 58, icmpType: 129, ipLen: 104, direction: "egress"},
		pkt{t: at(1600), src: "198.18.1.1", dst: "198.18.0.2", proto: 6, sport: 443, dport: 40000, flags: flagACK, ipLen: 64052, payload: 64000, gso: 45, direction: "egress"},
	)
	// 250 spoofed SYNs to one server in the third second.
	for i := 0; i < 250; i++ {
		live = append(live, pkt{t: at(2000 + i), src: fmt.Sprintf("198.19.%d.%d", i/200, i%200+1), dst: "198.18.1.1",
			proto: 6, sport: int32(1024 + i), dport: 80, flags: flagSYN, ipLen: 40})
	}
	pk := rows(live...)
	live0 := fixtureRun{id: "20260314T092653Z-aaaaaa", host: "sensor-a", iface: "eth0", start: t0, packets: pk,
		sessions:       sessionsOf(pk),
		counters:       &dataset.Counters{Seen: uint64(len(pk)) + 40, Recorded: uint64(len(pk)), NotIP: 12, SessionTableFull: 20, BufferFull: 8},
		noLabelColumns: true}
	if flows {
		// The 28 packets counted session_table_full and buffer_full.
		var refused []pkt
		for i := 0; i < 20; i++ {
			refused = append(refused, pkt{t: at(2250 + i), src: fmt.Sprintf("198.19.2.%d", i+1), dst: "198.18.1.1",
				proto: 6, sport: int32(2000 + i), dport: 80, flags: flagSYN, ipLen: 40})
		}
		refused = append(refused, pkt{t: at(150), src: "198.18.0.2", dst: "198.18.1.1", proto: 6, sport: 40001, dport: 443, flags: flagSYN, ipLen: 60})
		for i := 0; i < 7; i++ {
			src, dst, sport, dport := "198.18.0.2", "198.18.1.53", int32(53000), int32(53)
			if i%2 == 1 {
				src, dst, sport, dport = dst, src, dport, sport
			}
			refused = append(refused, pkt{t: at(402 + i), src: src, dst: dst, proto: 17, sport: sport, dport: dport, ipLen: 60, payload: 32})
		}
		// A short idle and active timeout, so that flows end in more ways
		// than at the end of the run.
		rules := flowRules{idle: 10 * time.Second, active: time.Second, end: t0.Add(10 * time.Second)}
		live0.flows, live0.flowRules = flowsOf(pk, rows(refused...), rules), &rules
		live0.counters.FlowsStarted = uint64(len(live0.flows))
	}
	writeRun(t, dir, live0)

	replay := rows(handshake(0, "198.18.0.9", 50000, "198.18.1.1", 22)...)
	for i := range replay {
		replay[i].Direction = "unknown"
		replay[i].Iface = "lab.pcap"
	}
	replay0 := fixtureRun{id: "20260314T100000Z-bbbbbb", host: "sensor-b", pcap: "lab.pcap", start: t0.Add(time.Hour),
		packets: replay, noSessions: true, noLabelColumns: true}
	if flows {
		replay0.flows = flowsOf(replay, nil, flowRules{2 * time.Minute, 30 * time.Minute, at(6)})
	}
	writeRun(t, dir, replay0)

	// A capture killed with -9 in its first minute: an empty hidden part.
	part := filepath.Join(dir, "packets", "date=2026-03-14", "host=sensor-c")
	if err := os.MkdirAll(part, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(part, ".part-00000-20260314T110000Z-cccccc.parquet.tmp"), nil, 0o640); err != nil {
		t.Fatal(err)
	}
}

// TestGolden checks every output format against files in testdata/ (run
// `go test ./report -run Golden -update` after a deliberate change, and
// read the diff).
//
// golden.* are of a dataset without flows/ (written before tacap had that
// table), golden-flows.* of the same traffic with it.
func TestGolden(t *testing.T) {
	tmp := t.TempDir()
	t.Chdir(tmp)
	goldenDataset(t, "ds")
	goldenFlowsDataset(t, filepath.Join("flows", "ds"))
	old, r := build(t, "ds"), build(t, filepath.Join("flows", "ds"))
	if len(r.Problems) > 0 {
		t.Fatalf("problems: %v", r.Problems)
	}
	type golden struct {
		file  string
		write func(*bytes.Buffer) error
	}
	var cases []golden
	for _, ds := range []struct {
		prefix string
		r      *Report
	}{{"golden", old}, {"golden-flows", r}} {
		r := ds.r
		cases = append(cases,
			golden{ds.prefix + ".txt", func(b *bytes.Buffer) error { return WriteText(b, r, false) }},
			golden{ds.prefix + ".md", func(b *bytes.Buffer) error { return WriteText(b, r, true) }},
			golden{ds.prefix + ".json", func(b *bytes.Buffer) error { return WriteJSON(b, r) }},
			golden{ds.prefix + ".html", func(b *bytes.Buffer) error { return WriteHTML(b, r) }})
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.write(&b); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(testdataDir(t), tc.file)
			if *update {
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Errorf("%s differs from the golden file; got:\n%s\n%s", tc.file, b.String(), firstDiff(b.String(), string(want)))
			}
		})
	}
}

var pkgDir, _ = os.Getwd()

func testdataDir(t *testing.T) string { return filepath.Join(pkgDir, "testdata") }

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return fmt.Sprintf("first difference at line %d:\n got: %q\nwant: %q", i+1, a, b)
		}
	}
	return ""
}

// TestFigures checks the report's figures on small scripted datasets whose
// right answers are worked out by hand.
func TestFigures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		runs  func(dir string) []fixtureRun
		check func(t *testing.T, r *Report)
	}{
		{"TSO super-packet bytes", func(string) []fixtureRun {
			// 64 000 payload bytes in 45 segments of 52 header bytes each.
			return []fixtureRun{{packets: rows(pkt{t: at(0), src: "198.18.0.1", dst: "198.18.0.2", proto: 6, sport: 1, dport: 2,
				flags: flagACK, ipLen: 64052, payload: 64000, gso: 45})}}
		}, func(t *testing.T, r *Report) {
			eq(t, "records", r.Traffic.Records, 1)
			eq(t, "packets", r.Traffic.Packets, 45)
			eq(t, "bytes", r.Traffic.Bytes, 64052+44*52)
		}},
		{"handshakes: completed, half-open, retransmitted SYN, reused port", func(string) []fixtureRun {
			var ps []pkt
			ps = append(ps, handshake(0, "198.18.0.1", 1000, "198.18.9.9", 80)...)
			ps = append(ps, handshake(10, "198.18.0.1", 1001, "198.18.9.9", 80)...)
			ps = append(ps, handshake(20, "198.18.0.1", 1000, "198.18.9.9", 80)...) // same 5-tuple again
			ps = append(ps,
				pkt{t: at(30), src: "198.18.0.2", dst: "198.18.9.9", proto: 6, sport: 7, dport: 80, flags: flagSYN, ipLen: 40},
				pkt{t: at(1030), src: "198.18.0.2", dst: "198.18.9.9", proto: 6, sport: 7, dport: 80, flags: flagSYN, ipLen: 40}, // retransmission
				pkt{t: at(31), src: "198.18.0.3", dst: "198.18.9.9", proto: 6, sport: 8, dport: 80, flags: flagSYN, ipLen: 40},
			)
			return []fixtureRun{{packets: rows(ps...)}}
		}, func(t *testing.T, r *Report) {
			eq(t, "syn packets", r.TCP.SYN, 6)
			eq(t, "syn-ack", r.TCP.SYNACK, 3)
			eq(t, "fin", r.TCP.FIN, 6)
			eq(t, "handshakes", r.TCP.Handshakes, 5)
			eq(t, "completed", r.TCP.Completed, 3)
			eq(t, "half-open", r.TCP.HalfOpenRatio, 0.4)
			eq(t, "destinations", len(r.TCP.PerDestination), 1)
			eq(t, "dest syn-ack", r.TCP.PerDestination[0].SYNACK, 3)
		}},
		{"timeline and run span", func(string) []fixtureRun {
			return []fixtureRun{{packets: rows(
				pkt{t: at(2200), src: "198.18.0.1", dst: "198.18.0.2", proto: 17, sport: 5, dport: 6, ipLen: 28},
				pkt{t: at(0), src: "198.18.0.1", dst: "198.18.0.2", proto: 17, sport: 5, dport: 6, ipLen: 28},
				pkt{t: at(500), src: "198.18.0.1", dst: "198.18.0.2", proto: 17, sport: 5, dport: 6, ipLen: 28},
			)}}
		}, func(t *testing.T, r *Report) {
			tl := r.Runs[0].Timeline
			eq(t, "timeline", fmt.Sprint(tl.Records), "[2 0 1]")
			eq(t, "start", tl.Start.Equal(t0), true)
			eq(t, "first", r.Runs[0].FirstPacket.Equal(t0), true)
			eq(t, "last", r.Runs[0].LastPacket.Equal(at(2200)), true)
		}},
		{"top talkers, ports and peers", func(string) []fixtureRun {
			var ps []pkt
			for i := 0; i < 5; i++ {
				ps = append(ps, pkt{t: at(i), src: "198.18.0.5", dst: fmt.Sprintf("198.18.1.%d", i%2), proto: 17, sport: 999, dport: 53, ipLen: 100})
			}
			for i := 0; i < 3; i++ {
				ps = append(ps, pkt{t: at(i), src: "198.18.0.6", dst: "198.18.1.0", proto: 6, sport: 999, dport: 443, flags: flagACK, ipLen: 1000})
			}
			return []fixtureRun{{packets: rows(ps...)}}
		}, func(t *testing.T, r *Report) {
			eq(t, "top source", r.Top.Sources[0].IP, "198.18.0.5")
			eq(t, "its peers", r.Top.Sources[0].Peers, 2)
			eq(t, "its share", r.Top.Sources[0].Share, 0.625)
			eq(t, "top destination", r.Top.Destinations[0].IP, "198.18.1.0")
			eq(t, "its records", r.Top.Destinations[0].Records, 6)
			eq(t, "its sources", r.Top.Destinations[0].Peers, 2)
			eq(t, "top port", fmt.Sprintf("%s/%d %d", r.Top.DstPorts[0].Protocol, r.Top.DstPorts[0].Port, r.Top.DstPorts[0].Records), "udp/53 5")
			eq(t, "top session", r.Top.Sessions[0].DstPort, 443)
			eq(t, "sessions", len(r.Top.Sessions), 3)
		}},
		{"sessions from sessions/: quota and seen", func(string) []fixtureRun {
			ps := rows(pkt{t: at(0), src: "198.18.0.1", dst: "198.18.0.2", proto: 17, sport: 5, dport: 6, ipLen: 128})
			ss := sessionsOf(ps)
			ss[0].PacketsSeen, ss[0].BytesSeen, ss[0].QuotaLimited, ss[0].LastTs = 5000, 640000, true, at(2000).UnixMicro()
			return []fixtureRun{{packets: ps, sessions: ss}}
		}, func(t *testing.T, r *Report) {
			s := r.Top.Sessions[0]
			eq(t, "seen", s.PacketsSeen, 5000)
			eq(t, "recorded", s.PacketsRecorded, 1)
			eq(t, "quota", s.QuotaLimited, true)
			eq(t, "duration", s.DurationSec, 2.0)
			if s.RatePPS == nil || *s.RatePPS != 2500 {
				t.Errorf("rate = %v, want 2500", s.RatePPS)
			}
			eq(t, "source", s.Source, "sessions")
		}},
		{"peak second adds up two runs", func(string) []fixtureRun {
			// 600 UDP packets in the same second in each of two runs.
			mk := func(off int) []dataset.Packet {
				var ps []pkt
				for i := 0; i < 600; i++ {
					ps = append(ps, pkt{t: at(off + i), src: "198.18.0.1", dst: "198.18.0.2", proto: 17, sport: 5, dport: 6, ipLen: 28})
				}
				return rows(ps...)
			}
			return []fixtureRun{{id: "r1", packets: mk(0)}, {id: "r2", packets: mk(300)}}
		}, func(t *testing.T, r *Report) {
			ind := find1(t, r, "udp_flood")
			eq(t, "peak", fact(ind, "peak_recorded_per_second"), 1200.0) // all in second 0
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for i, fr := range tc.runs(dir) {
				if fr.id == "" {
					fr.id = fmt.Sprintf("run%d", i)
				}
				if fr.host == "" {
					fr.host = "h"
				}
				if fr.iface == "" {
					fr.iface = "eth0"
				}
				if fr.start.IsZero() {
					fr.start = t0
				}
				if fr.sessions == nil && !fr.noSessions {
					fr.sessions = sessionsOf(fr.packets)
				}
				writeRun(t, dir, fr)
			}
			r := build(t, dir)
			if len(r.Problems) > 0 {
				t.Fatalf("problems: %v", r.Problems)
			}
			tc.check(t, r)
		})
	}
}

func eq[T comparable](t *testing.T, what string, got T, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func find1(t *testing.T, r *Report, kind string) Indicator {
	t.Helper()
	for _, in := range r.Indicators {
		if in.Kind == kind {
			return in
		}
	}
	t.Fatalf("no %s indicator; fired: %v", kind, kinds(r))
	return Indicator{}
}

func fact(in Indicator, name string) float64 {
	for _, f := range in.Evidence {
		if f.Name == name {
			return f.Value
		}
	}
	return -1
}

func kinds(r *Report) []string {
	var k []string
	for _, in := range r.Indicators {
		k = append(k, in.Kind+" "+in.Target)
	}
	return k
}

// TestSessionRate: a session shorter than a second has no rate — null in
// JSON, "-" in the text and Markdown tables, "–" in HTML — rather than 0;
// one of a second or more has seen ÷ duration in every format.
func TestSessionRate(t *testing.T) {
	dir := t.TempDir()
	ps := rows(
		pkt{t: at(0), src: "198.18.0.1", dst: "198.18.0.2", proto: 17, sport: 5, dport: 6, ipLen: 128},
		pkt{t: at(0), src: "198.18.0.3", dst: "198.18.0.2", proto: 17, sport: 7, dport: 8, ipLen: 128})
	ss := sessionsOf(ps)
	ss[0].PacketsSeen, ss[0].LastTs = 693, at(498).UnixMicro()  // 0.498 s
	ss[1].PacketsSeen, ss[1].LastTs = 500, at(2000).UnixMicro() // 2 s: 250/s
	writeRun(t, dir, fixtureRun{id: "r", host: "h", iface: "eth0", start: t0, packets: ps, sessions: ss})
	r := build(t, dir)

	var js bytes.Buffer
	if err := WriteJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Top struct {
			Sessions []map[string]any `json:"sessions"`
		} `json:"top"`
	}
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	rates := map[string]any{}
	for _, s := range got.Top.Sessions {
		v, ok := s["packets_per_second"]
		if !ok {
			t.Fatalf("session without packets_per_second: %v", s)
		}
		rates[s["src_ip"].(string)] = v
	}
	if v := rates["198.18.0.1"]; v != nil {
		t.Errorf("JSON packets_per_second of a 0.498 s session = %v, want null", v)
	}
	if v := rates["198.18.0.3"]; v != 250.0 {
		t.Errorf("JSON packets_per_second of a 2 s session = %v, want 250", v)
	}

	for _, f := range []struct {
		name        string
		write       func(*bytes.Buffer) error
		short, long *regexp.Regexp // a table row of each session
	}{
		{"text", func(b *bytes.Buffer) error { return WriteText(b, r, false) },
			regexp.MustCompile(`198\.18\.0\.1:5 .*│ +- │ no`), regexp.MustCompile(`198\.18\.0\.3:7 .*│ +250\.0/s │ no`)},
		{"markdown", func(b *bytes.Buffer) error { return WriteText(b, r, true) },
			regexp.MustCompile(`198\.18\.0\.1:5 .*\| +- \| no`), regexp.MustCompile(`198\.18\.0\.3:7 .*\| +250\.0/s \| no`)},
		{"html", func(b *bytes.Buffer) error { return WriteHTML(b, r) },
			regexp.MustCompile(`198\.18\.0\.1:5<.*<td class="n">–</td><td>no`), regexp.MustCompile(`198\.18\.0\.3:7<.*<td class="n">250\.0/s</td><td>no`)},
	} {
		var b bytes.Buffer
		if err := f.write(&b); err != nil {
			t.Fatal(err)
		}
		if !f.short.Match(b.Bytes()) || !f.long.Match(b.Bytes()) {
			t.Errorf("%s: session rates not shown as -/– and 250.0/s:\n%s", f.name, b.String())
		}
	}
}

// TestCaptureFileTimes: a capture-file run is placed in the file's own
// time (its first to last packet), said to be file time, beside the wall
// time the replay took; a live run has no file times.
func TestCaptureFileTimes(t *testing.T) {
	dir := t.TempDir()
	live := rows(pkt{t: at(0), src: "198.18.0.1", dst: "198.18.0.2", proto: 17, sport: 5, dport: 6, ipLen: 128})
	writeRun(t, dir, fixtureRun{id: "20260314T092653Z-live00", host: "h", iface: "eth0", start: t0, packets: live, sessions: sessionsOf(live)})
	// Packets of 2019, replayed in 20 ms an hour after t0.
	old := time.Date(2019, 5, 1, 12, 0, 0, 250_000_000, time.UTC)
	file := rows(
		pkt{t: old, src: "198.18.0.1", dst: "198.18.0.2", proto: 17, sport: 5, dport: 6, ipLen: 128},
		pkt{t: old.Add(2500 * time.Millisecond), src: "198.18.0.1", dst: "198.18.0.2", proto: 17, sport: 5, dport: 6, ipLen: 128})
	replayed := t0.Add(time.Hour)
	writeRun(t, dir, fixtureRun{id: "20260314T102653Z-file00", host: "h", pcap: "old.pcap", start: replayed, packets: file, sessions: sessionsOf(file),
		edit: func(m map[string]any) { m["end"] = replayed.Add(20 * time.Millisecond) }})
	r := build(t, dir)

	var js bytes.Buffer
	if err := WriteJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Runs []map[string]any `json:"runs"`
	}
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	byID := map[string]map[string]any{}
	for _, run := range got.Runs {
		byID[run["run_id"].(string)] = run
	}
	fr, lr := byID["20260314T102653Z-file00"], byID["20260314T092653Z-live00"]
	for k, want := range map[string]any{"file_start": "2019-05-01T12:00:00.25Z", "file_end": "2019-05-01T12:00:02.75Z", "file_duration_seconds": 2.5,
		"duration_seconds": 0.02} {
		if fr[k] != want {
			t.Errorf("capture-file run: %s = %v, want %v", k, fr[k], want)
		}
	}
	for _, k := range []string{"file_start", "file_end", "file_duration_seconds"} {
		if v, ok := lr[k]; !ok || v != nil {
			t.Errorf("live run: %s = %v (present %v), want null", k, v, ok)
		}
	}

	for _, f := range []struct {
		name  string
		write func(*bytes.Buffer) error
		row   *regexp.Regexp
	}{
		{"text", func(b *bytes.Buffer) error { return WriteText(b, r, false) },
			regexp.MustCompile(`20260314T102653Z-file00 .*2019-05-01 12:00:00 \(file\) +│ +2\.5 s \(file\) │`)},
		{"markdown", func(b *bytes.Buffer) error { return WriteText(b, r, true) },
			regexp.MustCompile(`20260314T102653Z-file00 .*2019-05-01 12:00:00 \(file\) +\| +2\.5 s \(file\) \|`)},
		{"html", func(b *bytes.Buffer) error { return WriteHTML(b, r) },
			regexp.MustCompile(`20260314T102653Z-file00<.*\n?.*2019-05-01 12:00:00 \(file\)</td><td class="n">2\.5 s \(file\)</td>`)},
	} {
		var b bytes.Buffer
		if err := f.write(&b); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if !f.row.MatchString(out) {
			t.Errorf("%s: the capture-file run's row does not show the file's time span:\n%s", f.name, out)
		}
		if !strings.Contains(out, "replayed 2026-03-14 10:26:53 UTC in 0.020 s") {
			t.Errorf("%s: the replay's wall time is not given", f.name)
		}
	}
}
