package report

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
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

// goldenDataset is two runs on two hosts: ordinary traffic (handshakes,
// DNS, ping, a TSO super-packet) plus a SYN flood, and a file replay
// without a flows file.
func goldenDataset(t *testing.T, dir string) {
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
	writeRun(t, dir, fixtureRun{id: "20260314T092653Z-aaaaaa", host: "sensor-a", iface: "eth0", start: t0, packets: pk,
		flows:    flowsOf(pk),
		counters: &dataset.Counters{Seen: uint64(len(pk)) + 40, Recorded: uint64(len(pk)), NotIP: 12, SessionTableFull: 20, BufferFull: 8}})

	replay := rows(handshake(0, "198.18.0.9", 50000, "198.18.1.1", 22)...)
	for i := range replay {
		replay[i].Direction = "unknown"
		replay[i].Iface = "lab.pcap"
	}
	writeRun(t, dir, fixtureRun{id: "20260314T100000Z-bbbbbb", host: "sensor-b", pcap: "lab.pcap", start: t0.Add(time.Hour),
		packets: replay, noFlows: true})
}

// TestGolden checks every output format against files in testdata/ (run
// `go test ./report -run Golden -update` after a deliberate change, and
// read the diff).
func TestGolden(t *testing.T) {
	tmp := t.TempDir()
	t.Chdir(tmp)
	goldenDataset(t, "ds")
	r := build(t, "ds")
	for _, tc := range []struct {
		file  string
		write func(*bytes.Buffer) error
	}{
		{"golden.txt", func(b *bytes.Buffer) error { return WriteText(b, r, false) }},
		{"golden.md", func(b *bytes.Buffer) error { return WriteText(b, r, true) }},
		{"golden.json", func(b *bytes.Buffer) error { return WriteJSON(b, r) }},
		{"golden.html", func(b *bytes.Buffer) error { return WriteHTML(b, r) }},
	} {
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
		{"sessions from flows: quota and seen", func(string) []fixtureRun {
			ps := rows(pkt{t: at(0), src: "198.18.0.1", dst: "198.18.0.2", proto: 17, sport: 5, dport: 6, ipLen: 128})
			fl := flowsOf(ps)
			fl[0].PacketsSeen, fl[0].BytesSeen, fl[0].QuotaLimited, fl[0].LastTs = 5000, 640000, true, at(2000).UnixMicro()
			return []fixtureRun{{packets: ps, flows: fl}}
		}, func(t *testing.T, r *Report) {
			s := r.Top.Sessions[0]
			eq(t, "seen", s.PacketsSeen, 5000)
			eq(t, "recorded", s.PacketsRecorded, 1)
			eq(t, "quota", s.QuotaLimited, true)
			eq(t, "duration", s.DurationSec, 2.0)
			eq(t, "rate", s.RatePPS, 2500.0)
			eq(t, "source", s.Source, "flows")
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
				if fr.flows == nil && !fr.noFlows {
					fr.flows = flowsOf(fr.packets)
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
