package dataset

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestCSVRowsSurviveHostileNames: whatever an interface or capture-file
// name holds, a CSV row reads back (with encoding/csv, an independent
// reader) as exactly the packet columns, the name intact.
func TestCSVRowsSurviveHostileNames(t *testing.T) {
	for _, name := range []string{
		"eth0", `a,b".pcap`, "quote\"inside", "new\nline", "cr\rhere", " leading space", "", "tab\there", "ünïcode,", `""`,
	} {
		t.Run(name, func(t *testing.T) {
			p := Packet{Ts: 1_700_000_000_000_000, TsNs: 1_700_000_000_000_000_123, Iface: name, Direction: "ingress",
				IPVersion: 6, SrcIP: "2001:db8::1", DstIP: "2001:db8::2", Protocol: 17, SrcPort: 53, DstPort: 4000, IPLen: 100}
			line := p.AppendCSV(nil)
			r := csv.NewReader(bytes.NewReader(append([]byte(strings.Join(PacketColumns, ",")+"\n"), line...)))
			recs, err := r.ReadAll()
			if err != nil {
				t.Fatalf("encoding/csv cannot read %q: %v", line, err)
			}
			if len(recs) != 2 || len(recs[1]) != len(PacketColumns) {
				t.Fatalf("read %d records, the row with %d fields; want 2 and %d: %q", len(recs), len(recs[len(recs)-1]), len(PacketColumns), line)
			}
			got := map[string]string{}
			for i, c := range recs[0] {
				got[c] = recs[1][i]
			}
			want := strings.ReplaceAll(name, "\r\n", "\n")
			if got["iface"] != want || got["src_ip"] != "2001:db8::1" || got["udp_payload_len"] != "0" || got["ts_ns"] != "1700000000000000123" {
				t.Fatalf("fields %q", got)
			}
		})
	}
}

// BenchmarkAppendCSV: the common case (nothing to quote) stays cheap.
func BenchmarkAppendCSV(b *testing.B) {
	p := Packet{Ts: 1_700_000_000_000_000, Iface: "eth0", Direction: "ingress", SrcIP: "198.18.0.1", DstIP: "198.18.0.2"}
	buf := make([]byte, 0, 512)
	for i := 0; i < b.N; i++ {
		buf = p.AppendCSV(buf[:0])
	}
}

// TestManifestBeforeFlows: a manifest written before flows/ held biflows
// ("flows": the session count) still reads; a current one reads whole.
func TestManifestBeforeFlows(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want FlowsInfo
	}{
		{`{"run_id": "r", "flows": 1024}`, FlowsInfo{}},
		{`{"run_id": "r", "flows": {"written": 7, "by_end_reason": {"idle": 7}}}`, FlowsInfo{Written: 7, ByEndReason: map[string]int64{"idle": 7}}},
	} {
		var m Manifest
		if err := json.Unmarshal([]byte(tc.in), &m); err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if m.Flows.Written != tc.want.Written || len(m.Flows.ByEndReason) != len(tc.want.ByEndReason) {
			t.Errorf("%s: flows %+v, want %+v", tc.in, m.Flows, tc.want)
		}
	}
	var m Manifest
	if err := json.Unmarshal([]byte(`{"flows": "x"}`), &m); err == nil {
		t.Error("a string for flows was accepted")
	}
}

// TestCountersAddEveryField: Add adds every counter, sum rule or not.
func TestCountersAddEveryField(t *testing.T) {
	var one Counters
	v := reflect.ValueOf(&one).Elem()
	for i := 0; i < v.NumField(); i++ {
		v.Field(i).SetUint(uint64(i + 1))
	}
	var sum Counters
	sum.Add(one)
	sum.Add(one)
	s := reflect.ValueOf(sum)
	for i := 0; i < s.NumField(); i++ {
		if got := s.Field(i).Uint(); got != 2*uint64(i+1) {
			t.Errorf("Add: %s = %d, want %d", s.Type().Field(i).Name, got, 2*(i+1))
		}
	}
}
