package report

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"testing"

	"github.com/tacap/tacap/dataset"
)

// mixedRows is a deterministic attack mix of about n packet rows: complete
// handshakes from many clients (new addresses all along, so the interner
// grows while batches are aggregated), a SYN flood, a port scan, DNS
// amplification and ICMP, in time order.
func mixedRows(n int) []dataset.Packet {
	rng := rand.New(rand.NewSource(7))
	var ps []pkt
	for ms := 0; len(ps) < n; ms += 3 {
		switch k := rng.Intn(10); {
		case k < 4:
			c := len(ps)
			client := fmt.Sprintf("10.%d.%d.%d", c>>16&255, c>>8&255, c&255)
			ps = append(ps, handshake(ms, client, int32(1024+rng.Intn(60000)), fmt.Sprintf("192.0.2.%d", rng.Intn(4)), 443)...)
		case k < 6:
			ps = append(ps, pkt{t: at(ms), src: fmt.Sprintf("203.0.113.%d", rng.Intn(250)), dst: "192.0.2.9", proto: 6,
				sport: int32(1024 + rng.Intn(60000)), dport: 80, flags: flagSYN, ipLen: 60})
		case k < 7:
			ps = append(ps, pkt{t: at(ms), src: "198.51.100.66", dst: "192.0.2.10", proto: 6, sport: 40000,
				dport: int32(1 + rng.Intn(400)), flags: flagSYN, ipLen: 44})
		case k < 9:
			ps = append(ps,
				pkt{t: at(ms), src: "192.0.2.20", dst: fmt.Sprintf("198.18.%d.%d", rng.Intn(4), rng.Intn(250)), proto: 17, sport: 33000, dport: 53, ipLen: 70, payload: 42},
				pkt{t: at(ms + 1), src: fmt.Sprintf("198.18.%d.%d", rng.Intn(4), rng.Intn(250)), dst: "192.0.2.20", proto: 17, sport: 53, dport: 33000, ipLen: 3000, payload: 2972})
		default:
			ps = append(ps, pkt{t: at(ms), src: fmt.Sprintf("2001:db8::%x", rng.Intn(4000)), dst: "2001:db8::1", proto: 58, icmpType: 128, ipLen: 104})
		}
	}
	return rows(ps...)
}

// mixedRules label mixedRows' attacks (a scan's probes only, the web
// traffic to one server from its third second on) but its ICMPv6.
const mixedRules = `rules:
  - {id: syn-flood, label: ddos, attack: syn_flood, dst: 192.0.2.9, proto: tcp, dport: 80}
  - {id: scan, label: recon, attack: port_scan, src: 198.51.100.66, both_directions: false}
  - {id: dns-amp, label: ddos, attack: dns_amplification, dst: 192.0.2.20, proto: udp, sport: 53}
  - {id: web-late, label: attack, attack: web, dst: 192.0.2.1, dport: 443, start: 2026-03-14T09:26:56Z}
`

// writeBatchedDataset writes a dataset of three runs of the mix: two with
// a sessions file and a flows table, labelled by mixedRules, and one
// without either nor label columns (its sessions come from its packets),
// in row groups of rowGroupRows rows and parts of partRows rows (0: the
// writer's defaults).
func writeBatchedDataset(t testing.TB, dir string, rowGroupRows, partRows int64) {
	t.Helper()
	for i, n := range []int{6000, 4000, 2500} {
		p := mixedRows(n)
		var flows []dataset.Flow
		rules := ""
		if i < 2 {
			flows, rules = flowsOf(p, nil, defaultFlows), mixedRules
		}
		writeRun(t, dir, fixtureRun{id: fmt.Sprintf("20260314T092653Z-run%03d", i), host: fmt.Sprintf("h%d", i), iface: "eth0",
			start: t0, packets: p, sessions: sessionsOf(p), noSessions: i == 2, flows: flows, rowGroupRows: rowGroupRows, partRows: partRows,
			rules: rules, noLabelColumns: i == 2})
	}
}

// TestBatchingInvariant: the figures do not depend on how the rows are cut
// into row groups and files — the per-batch aggregation (two goroutines
// each adding its own part of every batch, under -race in CI) carries all
// its state from one batch to the next.
func TestBatchingInvariant(t *testing.T) {
	figures := func(rowGroupRows, partRows int64) (string, int) {
		dir := t.TempDir()
		writeBatchedDataset(t, dir, rowGroupRows, partRows)
		r, err := Build(Options{Dirs: []string{dir}, Top: 15, Thresholds: Thresholds{
			SYNFloodSYNs: 50, SYNFloodHalfOpen: 0.5, UDPFloodPPS: 100, ICMPFloodPPS: 50, ScanPorts: 50,
			ManySources: 50, AmpBytes: 10_000, AmpFactor: 5, ConnFlood: 2, ReflectSYNACKs: 20}})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Problems) > 0 {
			t.Fatalf("problems: %v", r.Problems)
		}
		files := 0
		var runFlows []*FlowStats
		for _, run := range r.Runs {
			files += run.PacketFiles + run.SessionFiles + run.FlowFiles
			runFlows = append(runFlows, run.Flows)
		}
		if r.Flows.Runs != 2 || len(r.Top.Flows) != 15 {
			t.Fatalf("flows of %d runs, %d top flows", r.Flows.Runs, len(r.Top.Flows))
		}
		if l := r.Labels; l.RunsWithLabels != 2 || len(l.ByLabel) != 6 || l.RecordsLabelled == 0 || len(l.Indicators) == 0 {
			t.Fatalf("labels: %+v", l)
		}
		data, err := json.MarshalIndent(struct {
			A Accounting
			T Traffic
			F Flows
			R []*FlowStats
			Top
			TCP
			I []Indicator
			L Labels
		}{r.Accounting, r.Traffic, r.Flows, runFlows, r.Top, r.TCP, r.Indicators, r.Labels}, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		return string(data), files
	}
	want, _ := figures(0, 0)
	for _, tc := range []struct{ rowGroupRows, partRows int64 }{{997, 0}, {150, 1200}} {
		got, files := figures(tc.rowGroupRows, tc.partRows)
		if tc.partRows > 0 && files <= 5 {
			t.Errorf("row groups of %d, parts of %d: only %d files", tc.rowGroupRows, tc.partRows, files)
		}
		if got != want {
			t.Errorf("row groups of %d, parts of %d: figures differ from one row group per file: %s", tc.rowGroupRows, tc.partRows, firstDiff(got, want))
		}
	}
}
