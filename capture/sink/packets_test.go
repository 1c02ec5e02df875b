package sink_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/tacap/tacap/capture/sink"
	"github.com/tacap/tacap/dataset"
	"github.com/tacap/tacap/test/pqcheck"
	"github.com/tacap/tacap/test/testenv"
)

// mixedRows are n rows over every column's range: strings from small and
// large pools, half of them made afresh for each row (equal text, other
// memory, as the dictionary must treat as one value), empty strings,
// flow_id null on a third of the rows and on every row of one stretch
// longer than a page, negative and extreme numbers.
func mixedRows(n int, seed uint64) []dataset.Packet {
	r := rand.New(rand.NewPCG(seed, 1))
	pick := func(pool []string) string {
		s := pool[r.IntN(len(pool))]
		if r.IntN(2) == 0 {
			return string([]byte(s)) // same text, its own bytes
		}
		return s
	}
	addrs := make([]string, 3000)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("198.%d.%d.%d", 18+i%2, i/256, i%256)
	}
	addrs[7] = "2001:db8::7"
	labels := []string{"benign", "syn-flood", "udp,flood \"quoted\"", ""}
	out := make([]dataset.Packet, n)
	for i := range out {
		p := &out[i]
		p.TsNs = 1_700_000_000_000_000_000 + int64(i)*997 + r.Int64N(1000)
		p.Ts = p.TsNs / 1000
		p.Iface = pick([]string{"veth0", "eth1", "a,b"})
		p.Direction = pick([]string{"ingress", "egress", "unknown"})
		p.VlanID = int32(r.IntN(3) * 100)
		p.IPVersion = int32(4 + 2*r.IntN(2))
		p.SrcIP = pick(addrs)
		p.DstIP = pick(addrs[:5])
		if r.IntN(50) == 0 {
			p.SrcIP = "198.18." + strconv.Itoa(r.IntN(256)) + "." + strconv.Itoa(r.IntN(256))
		}
		p.Protocol = []int32{1, 6, 17, 58}[r.IntN(4)]
		p.SrcPort, p.DstPort = int32(r.IntN(65536)), int32(r.IntN(1024))
		p.IPLen = int32(20 + r.IntN(65516))
		p.GSOSegs = int32(1 + r.IntN(2))
		p.IPFlagsFrag = int32(r.IntN(0x10000))
		p.TTL = int32(r.IntN(256))
		p.TCPPayloadLen = int32(r.IntN(1500))
		p.TCPSeq, p.TCPAck = int64(r.Uint32()), int64(r.Uint32())
		p.TCPFlags, p.TCPWindow = int32(r.IntN(256)), int32(r.IntN(65536))
		p.UDPPayloadLen = int32(r.IntN(1500))
		p.ICMPType, p.ICMPCode = int32(r.IntN(256)), int32(r.IntN(16))
		p.RunID = "RUN"
		switch i { // the encoder compares signed numbers, whatever the contract's ranges
		case 1:
			p.TCPSeq, p.TCPAck, p.SrcPort, p.VlanID = 0, 1<<32-1, 65535, 4095
		case 2:
			p.ICMPType, p.TCPWindow, p.TsNs, p.Ts = -7, -1<<31, 1<<63-1, (1<<63-1)/1000
		}
		if r.IntN(3) > 0 && (i < 130_000 || i > 210_000) {
			p.FlowID = 1 + r.Int64N(1<<40)
		}
		p.Label = pick(labels)
		p.Attack = pick([]string{"", "syn-flood"})
		p.LabelRule = pick([]string{"", "r1", "r-2"})
	}
	return out
}

// writePackets writes rows to one part (row groups of groupRows) with the
// column encoder, or parquet-go's writer when generic, and returns its
// path.
func writePackets(t *testing.T, rows []dataset.Packet, groupRows int64, generic bool) string {
	t.Helper()
	dir := t.TempDir()
	p := sink.NewParts[dataset.Packet](sink.PartConfig{Dir: dir, Table: "packets", Host: "h1", RunID: "RUN",
		RowGroupRows: groupRows, NoBounds: sink.PacketNoBounds, GenericPackets: generic,
		Metadata: func() map[string]string { return map[string]string{"tacap.run_id": "RUN"} }})
	for i := 0; i < len(rows); i += 8192 {
		if err := p.Write("2026-12-02", rows[i:min(i+8192, len(rows))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if len(p.Files()) != 1 {
		t.Fatalf("%d parts, want 1", len(p.Files()))
	}
	return filepath.Join(dir, p.Files()[0].Path)
}

// openPart reads the Parquet file at path with parquet-go.
func openPart(t *testing.T, path string) ([]byte, *parquet.File) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return raw, pf
}

func openMeta(t *testing.T, path string) *format.FileMetaData {
	_, pf := openPart(t, path)
	return pf.Metadata()
}

// TestPacketEncoder holds the column encoder to its input, read back by
// arrow-go and by parquet-go, to the schema parquet-go writes for the same
// rows, and to row-group statistics the test computes from the input.
func TestPacketEncoder(t *testing.T) {
	for _, tc := range []struct {
		name      string
		rows      int
		groupRows int64
		constant  bool // most numbers the same on every row, as in a flood
	}{
		{"one-row", 1, 1 << 20, false},
		{"partial-page", 1000, 1 << 20, false},
		{"pages-and-groups", 300_000, 100_000, false},
		{"group-not-page-aligned", 150_001, 70_000, false},
		{"constant-columns", 200_000, 150_000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := mixedRows(tc.rows, uint64(tc.rows))
			if tc.constant {
				for i := range in {
					p := &in[i]
					p.VlanID, p.Protocol, p.DstPort, p.TTL, p.Label, p.FlowID = 0, 17, 9, 64, "benign", 7
					p.IPLen = 70_000 + int32(i/100_000) // outside the small-value table, changing between pages
					if i >= 65536 && i < 2*65536 {
						p.ICMPType = -3 // one page of a constant negative
					}
					if i%65536 == 65535 {
						p.TTL = 63 // the last row of each page differs
					}
				}
			}
			path := writePackets(t, in, tc.groupRows, false)
			ref := writePackets(t, in, tc.groupRows, true)

			checkWithArrow(t, path, in)
			got, err := parquet.ReadFile[dataset.Packet](path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, in) {
				t.Fatalf("parquet-go reads back other rows than were written")
			}
			md, refMd := openMeta(t, path), openMeta(t, ref)
			if !reflect.DeepEqual(md.Schema, refMd.Schema) || !reflect.DeepEqual(md.ColumnOrders, refMd.ColumnOrders) {
				t.Fatalf("schema differs from parquet-go's:\n%+v\n%+v", md.Schema, refMd.Schema)
			}
			if md.NumRows != int64(len(in)) || len(md.RowGroups) != len(refMd.RowGroups) {
				t.Fatalf("%d rows in %d row groups, want %d in %d", md.NumRows, len(md.RowGroups), len(in), len(refMd.RowGroups))
			}
			checkStatistics(t, md, in)
			kv := map[string]string{}
			for _, e := range md.KeyValueMetadata {
				kv[e.Key] = e.Value
			}
			if kv["tacap.run_id"] != "RUN" || kv["tacap.part.rows"] != strconv.Itoa(len(in)) {
				t.Errorf("key-value metadata %v", kv)
			}
			size, refSize := fileSize(t, path), fileSize(t, ref)
			t.Logf("%d rows: %d bytes (%.2f a row), parquet-go's writer %d (%.2f)", len(in), size,
				float64(size)/float64(len(in)), refSize, float64(refSize)/float64(len(in)))
			if len(in) > 1000 && float64(size) > 1.02*float64(refSize) {
				t.Errorf("file is %d bytes, parquet-go's %d: more than 2 %% larger", size, refSize)
			}
		})
	}
}

func fileSize(t *testing.T, path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// checkWithArrow reads path with arrow-go and compares every column.
func checkWithArrow(t *testing.T, path string, in []dataset.Packet) {
	t.Helper()
	pf, err := pqcheck.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Table.Release()
	if !slices.Equal(pf.Fields(), packetFields) {
		t.Fatalf("arrow-go sees %v", pf.Fields())
	}
	for _, name := range dataset.PacketColumns {
		field, f, ok := packetField(name)
		switch {
		case !ok:
			t.Fatalf("no dataset.Packet field for column %s", name)
		case name == "flow_id": // nullable: below
		case f.Type.Kind() == reflect.String:
			col, err := pf.Strings(name)
			if err != nil {
				t.Fatal(err)
			}
			for i := range in {
				if want := reflect.ValueOf(&in[i]).Elem().Field(field).String(); col[i] != want {
					t.Fatalf("arrow-go: row %d %s = %q, want %q", i, name, col[i], want)
				}
			}
		default:
			col, err := pf.Int64(name)
			if err != nil {
				t.Fatal(err)
			}
			for i := range in {
				if want := reflect.ValueOf(&in[i]).Elem().Field(field).Int(); col[i] != want {
					t.Fatalf("arrow-go: row %d %s = %d, want %d", i, name, col[i], want)
				}
			}
		}
	}
	flow, null, err := pf.NullableInt64("flow_id")
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if null[i] != (in[i].FlowID == 0) || (!null[i] && flow[i] != in[i].FlowID) {
			t.Fatalf("arrow-go: row %d flow_id %d (null %v), want %d", i, flow[i], null[i], in[i].FlowID)
		}
	}
}

// checkStatistics compares each column chunk's min, max and null count
// with the test's own, from the rows of its row group.
func checkStatistics(t *testing.T, md *format.FileMetaData, in []dataset.Packet) {
	t.Helper()
	first := 0
	for g, rg := range md.RowGroups {
		group := in[first : first+int(rg.NumRows)]
		first += int(rg.NumRows)
		for _, cc := range rg.Columns {
			name := cc.MetaData.PathInSchema[0]
			lo, hi, nulls := columnBounds(t, name, group)
			st := cc.MetaData.Statistics
			if !bytes.Equal(st.MinValue, lo) || !bytes.Equal(st.MaxValue, hi) || st.NullCount != nulls {
				t.Errorf("row group %d %s: min %x max %x nulls %d, want %x %x %d", g, name, st.MinValue, st.MaxValue,
					st.NullCount, lo, hi, nulls)
			}
			if cc.OffsetIndexLength == 0 {
				t.Errorf("row group %d %s: no offset index", g, name)
			}
			if got, want := fmt.Sprint(cc.MetaData.Encoding), fmt.Sprint(contractEncodings(cc.MetaData.Type, name)); got != want {
				t.Errorf("row group %d %s: encodings %s, docs/dataset.md says %s", g, name, got, want)
			}
		}
	}
}

// contractEncodings are the encodings docs/dataset.md gives a packets/
// column chunk: strings and INT32 numbers dictionary-encoded, ts and ts_ns
// DELTA_BINARY_PACKED, the rest PLAIN (flow_id's levels RLE).
func contractEncodings(t format.Type, name string) []format.Encoding {
	switch {
	case t == format.ByteArray || t == format.Int32:
		return []format.Encoding{format.Plain, format.RLEDictionary}
	case name == "ts" || name == "ts_ns":
		return []format.Encoding{format.DeltaBinaryPacked}
	case name == "flow_id":
		return []format.Encoding{format.Plain, format.RLE}
	}
	return []format.Encoding{format.Plain}
}

// columnBounds are the PLAIN min and max of a column over rows.
func columnBounds(t *testing.T, name string, rows []dataset.Packet) (lo, hi []byte, nulls int64) {
	v := reflect.ValueOf(rows)
	field, sf, ok := packetField(name)
	if !ok {
		t.Fatalf("no field for column %s", name)
	}
	var strs []string
	var nums []int64
	for i := range rows {
		f := v.Index(i).Field(field)
		switch f.Kind() {
		case reflect.String:
			strs = append(strs, f.String())
		default:
			if name == "flow_id" && f.Int() == 0 {
				nulls++
				continue
			}
			nums = append(nums, f.Int())
		}
	}
	if strs != nil {
		return []byte(slices.Min(strs)), []byte(slices.Max(strs)), 0
	}
	if len(nums) == 0 {
		return nil, nil, nulls
	}
	enc := func(x int64) []byte {
		if sf.Type.Kind() == reflect.Int32 {
			return binary.LittleEndian.AppendUint32(nil, uint32(x))
		}
		return binary.LittleEndian.AppendUint64(nil, uint64(x))
	}
	return enc(slices.Min(nums)), enc(slices.Max(nums)), nulls
}

// TestPacketEncoderFails: a part whose file fails to write fails, with the
// error, wherever it happens.
func TestPacketEncoderFails(t *testing.T) {
	in := mixedRows(200_000, 3)
	for _, after := range []int{0, 10, 1 << 20, 4 << 20} {
		t.Run(strconv.Itoa(after), func(t *testing.T) {
			dir := t.TempDir()
			p := sink.NewParts[dataset.Packet](sink.PartConfig{Dir: dir, Table: "packets", Host: "h1", RunID: "RUN",
				RowGroupRows: 70_000, Create: func(path string) (sink.Output, error) {
					f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
					return &failAfter{File: f, left: after}, err
				}})
			err := p.Write("2026-12-02", in)
			if err == nil {
				err = p.Close()
			}
			if err == nil || !errors.Is(err, errDiskFull) {
				t.Fatalf("err = %v, want the disk's error", err)
			}
			p.Abort()
			left, _ := filepath.Glob(filepath.Join(dir, "packets", "*", "*", "*"))
			if len(left) != 0 {
				t.Fatalf("left behind: %v", left)
			}
		})
	}
}

var errDiskFull = fmt.Errorf("no space left on device (test)")

type failAfter struct {
	*os.File
	left int
}

func (f *failAfter) Write(b []byte) (int, error) {
	if len(b) > f.left {
		n, _ := f.File.Write(b[:f.left])
		f.left = 0
		return n, errDiskFull
	}
	f.left -= len(b)
	return f.File.Write(b)
}

var _ io.Writer = (*failAfter)(nil)

// duckDB returns the node command and the query script of DuckDB for node
// (scripts/bench/duckdb, installed by make test), or skips (fails in CI).
func duckDB(t *testing.T) (string, string) {
	t.Helper()
	dir, err := filepath.Abs("../../scripts/bench/duckdb")
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Unavailable(t, "node is not installed (make test installs nodejs and DuckDB for node)")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@duckdb", "node-api")); err != nil {
		testenv.Unavailable(t, "DuckDB for node is not installed in "+dir+" (make test runs npm ci there)")
	}
	return node, filepath.Join(dir, "query.mjs")
}

// duckQuery runs sql in DuckDB and returns its rows, every value as text
// (null: absent).
func duckQuery(t *testing.T, node, script, sql string) []map[string]*string {
	t.Helper()
	out, err := exec.Command(node, script, sql).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("duckdb: %v: %s", err, ee.Stderr)
		}
		t.Fatalf("duckdb: %v", err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatalf("duckdb output %q: %v", out, err)
	}
	res := make([]map[string]*string, len(rows))
	for i, r := range rows {
		res[i] = map[string]*string{}
		for k, v := range r {
			if v != nil {
				s := fmt.Sprint(v)
				res[i][k] = &s
			}
		}
	}
	return res
}

// packetValues are p's columns as text, by column name, ts in
// microseconds, flow_id absent when null.
func packetValues(p *dataset.Packet) map[string]*string {
	out := map[string]*string{}
	v := reflect.ValueOf(p).Elem()
	for i := range v.NumField() {
		name := columnName(v.Type().Field(i))
		f := v.Field(i)
		var s string
		if f.Kind() == reflect.String {
			s = f.String()
		} else {
			if name == "flow_id" && f.Int() == 0 {
				continue
			}
			s = strconv.FormatInt(f.Int(), 10)
		}
		out[name] = &s
	}
	return out
}

// TestPacketEncoderDuckDB: DuckDB, a reader independent of both Go
// libraries, reads the column encoder's file: whole rows at the edges of
// pages and row groups, and over every row each number column's sum, each
// string column's distinct count, byte total, min and max, and flow_id's
// nulls, all equal to the input.
func TestPacketEncoderDuckDB(t *testing.T) {
	node, script := duckDB(t)
	in := mixedRows(150_001, 9)
	path := writePackets(t, in, 70_000, false)
	lit := "'" + strings.ReplaceAll(path, "'", "''") + "'"

	var cols []string
	for _, c := range dataset.PacketColumns {
		switch c {
		case "ts":
			cols = append(cols, "CAST(epoch_us(ts) AS VARCHAR) AS ts")
		default:
			cols = append(cols, fmt.Sprintf("CAST(%s AS VARCHAR) AS %s", c, c))
		}
	}
	edges := []int{0, 1, 2, 65535, 65536, 69999, 70000, 70001, 131071, 131072, 139999, 140000, 150000}
	var want []string
	for _, e := range edges {
		want = append(want, strconv.Itoa(e))
	}
	rows := duckQuery(t, node, script, fmt.Sprintf(
		"SELECT %s FROM read_parquet(%s, file_row_number = true) WHERE file_row_number IN (%s) ORDER BY file_row_number",
		strings.Join(cols, ", "), lit, strings.Join(want, ", ")))
	if len(rows) != len(edges) {
		t.Fatalf("duckdb returned %d edge rows, want %d", len(rows), len(edges))
	}
	for i, e := range edges {
		if got, w := rows[i], packetValues(&in[e]); !reflect.DeepEqual(got, w) {
			for c := range w {
				if (got[c] == nil) != (w[c] == nil) || (got[c] != nil && *got[c] != *w[c]) {
					t.Errorf("row %d %s: duckdb %v, want %v", e, c, deref(got[c]), deref(w[c]))
				}
			}
		}
	}

	var aggs []string
	sums := map[string]*big.Int{}
	strs := map[string]map[string]bool{}
	bytesOf := map[string]int64{}
	for _, c := range dataset.PacketColumns {
		switch {
		case c == "ts":
			aggs = append(aggs, "CAST(sum(epoch_us(ts)) AS VARCHAR) AS ts")
		case c == "flow_id":
			aggs = append(aggs, "CAST(sum(flow_id) AS VARCHAR) AS flow_id", "CAST(count(*) - count(flow_id) AS VARCHAR) AS flow_nulls")
		case !isStringColumn(c):
			aggs = append(aggs, fmt.Sprintf("CAST(sum(%s) AS VARCHAR) AS %s", c, c))
		default:
			aggs = append(aggs, fmt.Sprintf("CAST(count(DISTINCT %s) AS VARCHAR) AS %s, CAST(sum(strlen(%s)) AS VARCHAR) AS %s_bytes, min(%s) AS %s_min, max(%s) AS %s_max",
				c, c, c, c, c, c, c, c))
			strs[c] = map[string]bool{}
		}
	}
	var nulls int64
	for i := range in {
		for c, v := range packetValues(&in[i]) {
			if set, ok := strs[c]; ok {
				set[*v] = true
				bytesOf[c] += int64(len(*v))
				continue
			}
			if sums[c] == nil {
				sums[c] = new(big.Int)
			}
			x, _ := new(big.Int).SetString(*v, 10)
			sums[c].Add(sums[c], x)
		}
		if in[i].FlowID == 0 {
			nulls++
		}
	}
	got := duckQuery(t, node, script, fmt.Sprintf("SELECT %s FROM read_parquet(%s)", strings.Join(aggs, ", "), lit))[0]
	check := func(key, want string) {
		if g := deref(got[key]); g != want {
			t.Errorf("duckdb %s = %s, want %s", key, g, want)
		}
	}
	for c, s := range sums {
		check(c, s.String())
	}
	check("flow_nulls", strconv.FormatInt(nulls, 10))
	for c, set := range strs {
		check(c, strconv.Itoa(len(set)))
		check(c+"_bytes", strconv.FormatInt(bytesOf[c], 10))
		keys := slices.Sorted(maps.Keys(set))
		check(c+"_min", keys[0])
		check(c+"_max", keys[len(keys)-1])
	}
}

// isStringColumn reports whether dataset.Packet's column c is a string.
func isStringColumn(c string) bool {
	_, f, ok := packetField(c)
	return ok && f.Type.Kind() == reflect.String
}

// packetField is the dataset.Packet field that holds column name, and its
// index.
func packetField(name string) (int, reflect.StructField, bool) {
	typ := reflect.TypeFor[dataset.Packet]()
	for i := range typ.NumField() {
		if columnName(typ.Field(i)) == name {
			return i, typ.Field(i), true
		}
	}
	return -1, reflect.StructField{}, false
}

// columnName is the Parquet column a dataset.Packet field is written to.
func columnName(f reflect.StructField) string {
	return strings.Split(f.Tag.Get("parquet"), ",")[0]
}

func deref(s *string) string {
	if s == nil {
		return "null"
	}
	return *s
}
