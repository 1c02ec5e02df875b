package sink_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/tacap/tacap/capture/sink"
	"github.com/tacap/tacap/dataset"
	"github.com/tacap/tacap/test/pqcheck"
)

// The contract's columns and the Arrow types readers must see (docs/dataset.md, "packets/").
var packetFields = []string{
	"ts timestamp[us, tz=UTC]", "ts_ns int64", "iface utf8", "direction utf8",
	"vlan_id int32", "ip_version int32", "src_ip utf8", "dst_ip utf8",
	"protocol int32", "src_port int32", "dst_port int32", "ip_len int32",
	"gso_segs int32", "ip_flags_frag int32", "ttl int32", "tcp_payload_len int32",
	"tcp_seq int64", "tcp_ack int64", "tcp_flags int32", "tcp_window int32",
	"udp_payload_len int32", "icmp_type int32", "icmp_code int32", "run_id utf8", "flow_id int64", "label utf8", "attack utf8", "label_rule utf8",
}

var sessionFields = []string{
	"run_id utf8", "src_ip utf8", "dst_ip utf8", "src_port int32", "dst_port int32", "protocol int32",
	"first_ts timestamp[us, tz=UTC]", "last_ts timestamp[us, tz=UTC]", "packets_recorded int64",
	"bytes_recorded int64", "packets_seen int64", "bytes_seen int64", "quota_limited bool", "label utf8", "attack utf8", "label_rule utf8",
}

func rows(n int) []dataset.Packet {
	out := make([]dataset.Packet, n)
	for i := range out {
		out[i] = dataset.Packet{Ts: 1_700_000_000_000_000 + int64(i), TsNs: 1_700_000_000_000_000_000 + int64(i)*1000,
			Iface: "eth0", Direction: "ingress", IPVersion: 4, SrcIP: "198.18.0.1", DstIP: "198.18.0.2",
			Protocol: 6, SrcPort: int32(i), DstPort: 443, IPLen: 40, GSOSegs: 1, TTL: 64, TCPSeq: 4_000_000_000}
	}
	return out
}

func TestPartsRotateAndPublish(t *testing.T) {
	dir := t.TempDir()
	p := sink.NewParts[dataset.Packet](sink.PartConfig{Dir: dir, Table: "packets", Host: "h1", RunID: "RUN", MaxRows: 10,
		Metadata: func() map[string]string { return map[string]string{"tacap.run_id": "RUN"} }})
	if err := p.Write("2026-11-26", rows(25)); err != nil {
		t.Fatal(err)
	}
	if err := p.Write("2026-11-27", rows(3)); err != nil { // a new day starts a new part in a new folder
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	want := []dataset.File{
		{Path: "packets/date=2026-11-26/host=h1/part-00000-RUN.parquet", Rows: 10},
		{Path: "packets/date=2026-11-26/host=h1/part-00001-RUN.parquet", Rows: 10},
		{Path: "packets/date=2026-11-26/host=h1/part-00002-RUN.parquet", Rows: 5},
		{Path: "packets/date=2026-11-27/host=h1/part-00003-RUN.parquet", Rows: 3},
	}
	if !reflect.DeepEqual(p.Files(), want) {
		t.Fatalf("files %+v\nwant %+v", p.Files(), want)
	}
	for _, f := range want {
		pf, err := pqcheck.Read(filepath.Join(dir, f.Path))
		if err != nil {
			t.Fatal(err)
		}
		defer pf.Table.Release()
		if pf.Rows != f.Rows {
			t.Errorf("%s: arrow reads %d rows, want %d", f.Path, pf.Rows, f.Rows)
		}
		if got := pf.Fields(); !reflect.DeepEqual(got, packetFields) {
			t.Errorf("%s: schema\n got %v\nwant %v", f.Path, got, packetFields)
		}
		if pf.Metadata["tacap.run_id"] != "RUN" || pf.Metadata["tacap.part.rows"] == "" {
			t.Errorf("%s: key-value metadata %v", f.Path, pf.Metadata)
		}
		if st, _ := os.Stat(filepath.Join(dir, f.Path)); st.Mode().Perm() != sink.FileMode {
			t.Errorf("%s: mode %v, want %v", f.Path, st.Mode().Perm(), os.FileMode(sink.FileMode))
		}
	}
	assertNoHidden(t, dir)
}

func TestSessionsSchema(t *testing.T) {
	dir := t.TempDir()
	p := sink.NewParts[dataset.Session](sink.PartConfig{Dir: dir, Table: dataset.SessionsTable, Host: "h", RunID: "R"})
	if err := p.Write("2026-11-26", []dataset.Session{{RunID: "R", SrcIP: "2001:db8::1", DstIP: "2001:db8::2", Protocol: 17, PacketsRecorded: 3, QuotaLimited: true}}); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	pf, err := pqcheck.Read(filepath.Join(dir, p.Files()[0].Path))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Table.Release()
	if got := pf.Fields(); !reflect.DeepEqual(got, sessionFields) {
		t.Errorf("schema\n got %v\nwant %v", got, sessionFields)
	}
}

func TestPartsNeverOverwrite(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "packets/date=2026-11-26/host=h/part-00000-R.parquet")
	if err := os.MkdirAll(filepath.Dir(existing), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(existing, []byte("precious"), 0o640); err != nil {
		t.Fatal(err)
	}
	p := sink.NewParts[dataset.Packet](sink.PartConfig{Dir: dir, Table: "packets", Host: "h", RunID: "R"})
	err := p.Write("2026-11-26", rows(1))
	if err == nil {
		err = p.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "never overwrites") {
		t.Fatalf("writing over an existing part: %v", err)
	}
	if b, _ := os.ReadFile(existing); string(b) != "precious" {
		t.Fatal("existing file changed")
	}
	if err := sink.WriteFileNew(mustRoot(t, filepath.Dir(existing)), filepath.Base(existing), []byte("x")); err == nil {
		t.Fatal("WriteFileNew replaced an existing file")
	}
}

func TestCSVs(t *testing.T) {
	dir := t.TempDir()
	c := sink.NewCSVs(mustRoot(t, dir), "RUN", 2)
	r := rows(3)
	names := []string{
		dataset.CSVName("198.18.0.1", 1234, "198.18.0.2", 80, 1700000000000000000),
		dataset.CSVName("2001:db8::1", 5353, "2001:db8::2", 53, 1700000000000000001),
		dataset.CSVName("198.18.0.3", 1, "198.18.0.4", 2, 3),
	}
	if names[0] != "198.18.0.1-1234___198.18.0.2-80__1700000000000000000.csv" ||
		names[1] != "2001_db8__1-5353___2001_db8__2-53__1700000000000000001.csv" {
		t.Fatalf("names %q", names)
	}
	for i := 0; i < 3; i++ {
		for j := 0; j <= i; j++ {
			if err := c.Add(uint64(i), names[i], &r[j]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if c.SkippedFlows != 1 || c.SkippedRows != 3 {
		t.Errorf("cap of 2 files: skipped %d sessions, %d rows; want 1, 3", c.SkippedFlows, c.SkippedRows)
	}
	files, err := c.Close()
	if err != nil || files != 2 {
		t.Fatalf("close: %d files, %v", files, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "csv", "RUN", names[1]))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 3 || lines[0] != strings.Join(dataset.PacketColumns, ",") {
		t.Fatalf("csv %q", lines)
	}
	if want := "2023-11-14T22:13:20.000001Z,1700000000000001000,eth0,ingress,0,4,198.18.0.1,198.18.0.2,6,1,443,40,1,0,64,0,4000000000,0,0,0,0,0,0,,,,,"; lines[2] != want {
		t.Errorf("row\n got %s\nwant %s", lines[2], want)
	}
	assertNoHidden(t, dir)
}

func assertNoHidden(t *testing.T, dir string) {
	t.Helper()
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(info.Name(), ".") {
			t.Errorf("hidden file left behind: %s", p)
		}
		return nil
	})
}

func mustRoot(t *testing.T, dir string) *sink.Root {
	t.Helper()
	r, err := sink.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// TestNoBoundsColumnsCarryNoPageStatistics: the columns a part config lists
// in NoBounds get no min/max in their data page headers (computing them is
// a string compare per value), the others keep theirs. Read from the file's
// own page headers.
func TestNoBoundsColumnsCarryNoPageStatistics(t *testing.T) {
	dir := t.TempDir()
	p := sink.NewParts[dataset.Packet](sink.PartConfig{Dir: dir, Table: "packets", Host: "h1", RunID: "RUN",
		NoBounds: sink.PacketNoBounds, Metadata: func() map[string]string { return nil }})
	if err := p.Write("2026-11-26", rows(1000)); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	raw, pf := openPart(t, filepath.Join(dir, p.Files()[0].Path))
	skip := map[string]bool{}
	for _, c := range sink.PacketNoBounds {
		skip[c] = true
	}
	checked := 0
	for _, cc := range pf.Metadata().RowGroups[0].Columns {
		name := strings.Join(cc.MetaData.PathInSchema, ".")
		r := (&thrift.CompactProtocol{}).NewReaderFromBytes(raw[cc.MetaData.DataPageOffset:])
		var h format.PageHeader
		if err := thrift.NewDecoder(r).Decode(&h); err != nil {
			t.Fatalf("%s: page header: %v", name, err)
		}
		st := h.DataPageHeader.V.Statistics
		if h.DataPageHeaderV2.Valid {
			st = h.DataPageHeaderV2.V.Statistics
		}
		has := st.MinValue != nil || st.MaxValue != nil
		switch {
		case skip[name] && has:
			t.Errorf("%s: page statistics %q … %q, want none", name, st.MinValue, st.MaxValue)
		case !skip[name] && (name == "ip_len" || name == "src_port") && !has:
			t.Errorf("%s: no page statistics, want min and max", name)
		}
		checked++
	}
	if checked != len(packetFields) {
		t.Fatalf("read %d column chunks, want %d", checked, len(packetFields))
	}
}
