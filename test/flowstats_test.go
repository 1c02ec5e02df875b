package test

// The flows/ table (one row per biflow, statistics over every packet,
// computed in the kernel) against an independent computation: tshark's
// decoding of the same capture file (or the frames a test built) run
// through the flow rules of the contract in test/oracle (biflow.go).
//
// The manifest is read here into a local struct, from its JSON field names
// (files.flows, files.packets, counters.*), so that this file depends on
// the contract, not on the Go names of dataset.Manifest.

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/tacap/tacap/test/frames"
	"github.com/tacap/tacap/test/oracle"
	"github.com/tacap/tacap/test/pqcheck"
	"github.com/tacap/tacap/test/testenv"
	"github.com/tacap/tacap/test/tshark"
)

// bfManifest is the part of a run manifest the flows tests read.
type bfManifest struct {
	RunID    string            `json:"run_id"`
	Complete bool              `json:"complete"`
	Counters map[string]uint64 `json:"counters"`
	Files    struct {
		Packets []bfFile `json:"packets"`
		Flows   []bfFile `json:"flows"`
	} `json:"files"`
}

type bfFile struct {
	Path string `json:"path"`
	Rows int64  `json:"rows"`
}

// bfReadManifest reads the one manifest of the dataset ds.
func bfReadManifest(t *testing.T, ds string) bfManifest {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(ds, "_runs", "*.json"))
	if len(paths) != 1 {
		t.Fatalf("%d manifests in %s", len(paths), ds)
	}
	b, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	var m bfManifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// counter returns counters.NAME, failing when the manifest has none.
func (m bfManifest) counter(t *testing.T, name string) uint64 {
	t.Helper()
	v, ok := m.Counters[name]
	if !ok {
		t.Fatalf("the manifest has no counters.%s (counters: %v)", name, m.Counters)
	}
	return v
}

// bfTable is the rows of some Parquet files, column by column, as arrow-go
// reads them: int64 (any integer or timestamp), float64, string, or nil for
// a null.
type bfTable struct {
	cols  map[string][]any
	types map[string]arrow.DataType
	rows  int
}

// bfValues reads one column: integers and timestamps as int64, floats as
// float64, strings (also dictionary-encoded) as string, nulls as nil.
func bfValues(chunk arrow.Array) ([]any, error) {
	out := make([]any, chunk.Len())
	for i := range out {
		if chunk.IsNull(i) {
			continue
		}
		switch a := chunk.(type) {
		case *array.Int8:
			out[i] = int64(a.Value(i))
		case *array.Int16:
			out[i] = int64(a.Value(i))
		case *array.Int32:
			out[i] = int64(a.Value(i))
		case *array.Int64:
			out[i] = a.Value(i)
		case *array.Uint8:
			out[i] = int64(a.Value(i))
		case *array.Uint16:
			out[i] = int64(a.Value(i))
		case *array.Uint32:
			out[i] = int64(a.Value(i))
		case *array.Uint64:
			out[i] = int64(a.Value(i))
		case *array.Timestamp:
			out[i] = int64(a.Value(i))
		case *array.Float32:
			out[i] = float64(a.Value(i))
		case *array.Float64:
			out[i] = a.Value(i)
		case *array.String:
			out[i] = a.Value(i)
		case *array.Binary:
			out[i] = string(a.Value(i))
		case *array.Dictionary:
			dict, err := bfValues(a.Dictionary())
			if err != nil {
				return nil, err
			}
			out[i] = dict[a.GetValueIndex(i)]
		default:
			return nil, fmt.Errorf("column type %s not read by the flows test", chunk.DataType())
		}
	}
	return out, nil
}

// bfReadTable reads every column of files (relative to ds), checking each
// file's row count against the manifest.
func bfReadTable(t *testing.T, ds string, files []bfFile) bfTable {
	t.Helper()
	tb := bfTable{cols: map[string][]any{}, types: map[string]arrow.DataType{}}
	for n, file := range files {
		pf, err := pqcheck.Read(filepath.Join(ds, file.Path))
		if err != nil {
			t.Fatal(err)
		}
		if pf.Rows != file.Rows {
			pf.Table.Release()
			t.Fatalf("%s: arrow-go reads %d rows, the manifest says %d", file.Path, pf.Rows, file.Rows)
		}
		for i, f := range pf.Schema.Fields() {
			if n == 0 {
				tb.types[f.Name] = f.Type
			} else if typ, ok := tb.types[f.Name]; !ok || !arrow.TypeEqual(typ, f.Type) {
				pf.Table.Release()
				t.Fatalf("%s: column %s %s, the first part has %v", file.Path, f.Name, f.Type, typ)
			}
			for _, chunk := range pf.Table.Column(i).Data().Chunks() {
				vs, err := bfValues(chunk)
				if err != nil {
					pf.Table.Release()
					t.Fatalf("%s: %s: %v", file.Path, f.Name, err)
				}
				tb.cols[f.Name] = append(tb.cols[f.Name], vs...)
			}
		}
		if n > 0 && len(pf.Schema.Fields()) != len(tb.types) {
			pf.Table.Release()
			t.Fatalf("%s: %d columns, the first part has %d", file.Path, len(pf.Schema.Fields()), len(tb.types))
		}
		tb.rows += int(pf.Rows)
		pf.Table.Release()
	}
	return tb
}

func (tb bfTable) row(i int) map[string]any {
	r := make(map[string]any, len(tb.cols))
	for c, vs := range tb.cols {
		r[c] = vs[i]
	}
	return r
}

// bfColumnKind is the Parquet type the contract gives each flows/ column:
// "int64", "int32", "double", "timestamp_us", "string", "int" (any integer
// type) or "any" (flow_id: an integer or a string, joined as text).
func bfColumnKind(c string) string {
	switch {
	case c == "flow_id":
		return "any"
	case c == "src_ip" || c == "dst_ip" || c == "end_reason" || c == "run_id":
		return "string"
	case c == "src_port" || c == "dst_port" || c == "protocol" || c == "ip_version":
		return "int"
	case c == "first_ts" || c == "last_ts":
		return "timestamp_us"
	case c == "fwd_init_window" || c == "bwd_init_window" || strings.HasSuffix(c, "len_min") || strings.HasSuffix(c, "len_max"):
		return "int32"
	case c == "duration_us" || c == "packets_per_s" || c == "bytes_per_s" || strings.HasSuffix(c, "_mean") || strings.HasSuffix(c, "_std") ||
		strings.HasPrefix(c, "iat_") || strings.Contains(c, "_iat_"):
		return "double"
	}
	return "int64" // first_ts_ns, last_ts_ns, packet and byte sums, flag counts, packets_recorded
}

// bfNullable says which flows/ columns may hold nulls: the statistics of a
// direction without packets, gaps of fewer than two packets, initial
// windows without a TCP header, rates of a flow of duration 0.
func bfNullable(c string) bool {
	for _, p := range []string{"fwd_len_", "bwd_len_", "iat_", "fwd_iat_", "bwd_iat_"} {
		if strings.HasPrefix(c, p) {
			return true
		}
	}
	return c == "fwd_init_window" || c == "bwd_init_window" || c == "packets_per_s" || c == "bytes_per_s"
}

func bfTypeOK(kind string, typ arrow.DataType) bool {
	if d, ok := typ.(*arrow.DictionaryType); ok {
		typ = d.ValueType
	}
	switch kind {
	case "any":
		return true
	case "string":
		return typ.ID() == arrow.STRING
	case "int":
		return arrow.IsInteger(typ.ID())
	case "int32":
		return typ.ID() == arrow.INT32
	case "int64":
		return typ.ID() == arrow.INT64
	case "double":
		return typ.ID() == arrow.FLOAT64
	case "timestamp_us":
		ts, ok := typ.(*arrow.TimestampType)
		return ok && ts.Unit == arrow.Microsecond
	}
	return false
}

// bfFlowColumns are every column flows/ must have.
func bfFlowColumns() []string {
	return append([]string{"run_id", "flow_id"}, append(append([]string(nil), oracle.BiflowColumns...), "packets_recorded")...)
}

// bfKey is how a tacap flow and an oracle flow are matched: the oriented
// endpoints, protocol, version and first packet time.
func bfKey(r map[string]any) string {
	return fmt.Sprintf("%v %v %v %v proto %v v%v first %v", r["src_ip"], r["src_port"], r["dst_ip"], r["dst_port"], r["protocol"], r["ip_version"], r["first_ts_ns"])
}

// bfSame compares a tacap value with the oracle's: integers and strings
// exactly, floats within a relative 1e-9, nulls exactly.
func bfSame(got, want any) bool {
	switch w := want.(type) {
	case nil:
		return got == nil
	case float64:
		g, ok := got.(float64)
		if !ok {
			return false
		}
		return g == w || math.Abs(g-w) <= 1e-9*math.Max(math.Abs(g), math.Abs(w))
	case int64:
		g, ok := got.(int64)
		return ok && g == w
	case string:
		g, ok := got.(string)
		return ok && g == w
	}
	return false
}

// bfPacketKey names a packet by time and addresses, ports zeroed by the
// flow key's rules: a packets/ row and an oracle input are the same packet
// when their keys are equal.
func bfPacketKey(ns int64, src, dst string, sport, dport, proto, ipv int64) string {
	if proto == 1 || proto == 58 {
		sport, dport = 0, 0
	}
	return fmt.Sprintf("%d %s %d %s %d %d %d", ns, src, sport, dst, dport, proto, ipv)
}

// packetKey is bfPacketKey of packets/ row i (a null or a missing column
// reads as zero).
func (tb bfTable) packetKey(i int) string {
	get := func(c string) any {
		if i < len(tb.cols[c]) {
			return tb.cols[c][i]
		}
		return nil
	}
	n := func(c string) int64 {
		v, _ := get(c).(int64)
		return v
	}
	s := func(c string) string {
		v, _ := get(c).(string)
		return v
	}
	return bfPacketKey(n("ts_ns"), s("src_ip"), s("dst_ip"), n("src_port"), n("dst_port"), n("protocol"), n("ip_version"))
}

func bfInputKey(p oracle.BiflowPacket) string {
	sp, dp := int64(p.SrcPort), int64(p.DstPort)
	if p.NonFirstFragment {
		sp, dp = 0, 0
	}
	return bfPacketKey(p.TimeNs, p.Src, p.Dst, sp, dp, int64(p.Protocol), int64(p.IPVersion))
}

// bfFromTshark turns one recordable tshark frame into an oracle input.
func bfFromTshark(f tshark.Frame) oracle.BiflowPacket {
	fl := f.Fields
	nonFirst := fl.IPFlagsFrag&0x1fff != 0 // IPv4: the fragment offset
	if fl.IPVersion == 6 {
		nonFirst = fl.IPFlagsFrag>>3 != 0 // IPv6: offset << 3 | M
	}
	p := oracle.BiflowPacket{
		TimeNs: f.TimeNs, IPVersion: fl.IPVersion, Protocol: fl.Protocol, Src: fl.Src.String(), Dst: fl.Dst.String(),
		SrcPort: fl.SrcPort, DstPort: fl.DstPort, NonFirstFragment: nonFirst, IPLen: fl.IPLen,
		TCPFlags: fl.TCPFlags, TCPWindow: fl.TCPWindow, HasTCPHeader: fl.Protocol == 6 && !nonFirst,
	}
	if !nonFirst {
		switch fl.Protocol {
		case 6:
			p.Payload = fl.TCPPayloadLen
		case 17:
			p.Payload = uint32(fl.UDPPayloadLen)
		}
	}
	return p
}

// bfTsharkInputs decodes a capture file with tshark: the packets flows/
// counts (tshark's verdict, as in TestPcapMatchesTshark), a description of
// each (its frame number), and the time of the file's last frame given to
// the kernel program (any frame of a link type tacap reads).
//
// tshark's times are checked against the file's own record times (read by
// the test's reader): frame.time_epoch must carry every nanosecond.
func bfTsharkInputs(t *testing.T, path string) (in []oracle.BiflowPacket, desc []string, endNs int64) {
	t.Helper()
	all, raw := decodeWithReader(t, path)
	for i, f := range all {
		fr := raw[i]
		if f.TimeNs != fr.ns {
			t.Fatalf("frame %d: tshark's frame.time_epoch gives %d ns, the file says %d", f.Number, f.TimeNs, fr.ns)
		}
		if !fr.supported || fr.short || len(fr.eth) < 14 {
			continue // never given to the program
		}
		endNs = fr.ns
		if f.Recordable {
			in = append(in, bfFromTshark(f))
			desc = append(desc, fmt.Sprintf("frame %d", f.Number))
		}
	}
	return in, desc, endNs
}

// bfRun runs tacap over path with every packet recorded (no quota, a
// session table and a buffer larger than any test file) and the extra
// flags, into a new dataset folder.
func bfRun(t *testing.T, path string, extra ...string) string {
	t.Helper()
	tacap, _ := binaries(t)
	ds := filepath.Join(t.TempDir(), "ds")
	args := append([]string{"capture", "--pcap", path, "-o", ds, "--packets-per-session", "0", "--sessions", "1048576",
		"--buffer-packets", "4000000", "--no-csv", "-q"}, extra...)
	out, err := exec.Command(tacap, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("tacap %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return ds
}

var bfPartPath = regexp.MustCompile(`^flows/date=\d{4}-\d{2}-\d{2}/host=[^/]+/part-[^/]+\.parquet$`)

// bfResult is what one comparison covered.
type bfResult struct {
	flows, v6Flows, packets int
	reasons                 map[string]int
}

// bfCompare checks the run in ds against the oracle over in (the packets
// flows/ counts, in file order; desc names each): every flow and every
// column, the counters, and the join from packets/.
func bfCompare(t *testing.T, ds string, in []oracle.BiflowPacket, desc []string, opt oracle.BiflowOptions) bfResult {
	t.Helper()
	m := bfReadManifest(t, ds)
	if !m.Complete {
		t.Fatalf("run not complete")
	}
	recorded := m.counter(t, "recorded")
	quota := m.counter(t, "session_quota")
	tableFull := m.counter(t, "session_table_full")
	bufFull := m.counter(t, "buffer_full")
	flowTableFull := m.counter(t, "flow_table_full")
	// Counters of the flow table that may come with it: read when present.
	lockTimeout, hasLock := m.Counters["flow_lock_timeout"]
	flowsLost, hasLost := m.Counters["flows_lost"]
	flowsStarted, hasStarted := m.Counters["flows_started"]
	counted := recorded + tableFull + quota + bufFull // packets that parsed: every one reaches the flow table
	if quota != 0 || tableFull != 0 || bufFull != 0 {
		t.Errorf("a run with every packet recorded refused some: session_quota %d, session_table_full %d, buffer_full %d", quota, tableFull, bufFull)
	}

	// packets/: the rows and their flow ids.
	pk := bfReadTable(t, ds, m.Files.Packets)
	for _, c := range []string{"run_id", "flow_id", "ts_ns", "src_ip", "dst_ip", "src_port", "dst_port", "protocol", "ip_version"} {
		if _, ok := pk.cols[c]; !ok && pk.rows > 0 {
			t.Fatalf("packets/ has no column %s", c)
		}
	}
	if uint64(pk.rows) != recorded {
		t.Errorf("%d packets/ rows, counters.recorded %d", pk.rows, recorded)
	}

	// The packets tshark counts are the ones tacap parsed: per file, exactly.
	if uint64(len(in)) != counted {
		t.Errorf("tshark counts %d TCP/UDP/ICMP/ICMPv6 packets that parse, tacap %d (recorded %d + session_table_full %d + session_quota %d + buffer_full %d)",
			len(in), counted, recorded, tableFull, quota, bufFull)
		bfDiffPackets(t, pk, in, desc)
	}

	// flows/: the files, the columns and their types.
	for _, f := range m.Files.Flows {
		if !bfPartPath.MatchString(filepath.ToSlash(f.Path)) {
			t.Errorf("flows part %q is not flows/date=DAY/host=HOST/part-*.parquet", f.Path)
		}
	}
	fl := bfReadTable(t, ds, m.Files.Flows)
	if fl.rows > 0 {
		var colErrs []string
		for _, c := range bfFlowColumns() {
			typ, ok := fl.types[c]
			if !ok {
				colErrs = append(colErrs, fmt.Sprintf("flows/ has no column %s", c))
				continue
			}
			if kind := bfColumnKind(c); !bfTypeOK(kind, typ) {
				colErrs = append(colErrs, fmt.Sprintf("flows/ column %s is %s, the contract says %s", c, typ, kind))
			}
			if !bfNullable(c) {
				for i, v := range fl.cols[c] {
					if v == nil {
						colErrs = append(colErrs, fmt.Sprintf("flows/ row %d: %s is null", i, c))
						break
					}
				}
			}
		}
		if len(colErrs) > 0 {
			t.Fatalf("flows/ columns:\n%s", strings.Join(colErrs, "\n"))
		}
		var extra []string
		want := map[string]bool{}
		for _, c := range bfFlowColumns() {
			want[c] = true
		}
		for c := range fl.types {
			if !want[c] {
				extra = append(extra, c)
			}
		}
		if len(extra) > 0 {
			sort.Strings(extra)
			t.Logf("flows/ columns the oracle does not check: %v", extra)
		}
	}

	// Every counted packet is in exactly one flow, but those a full flow
	// table refused.
	var sum uint64
	flowOf := map[string]int{} // flow_id → row
	for i := 0; i < fl.rows; i++ {
		r := fl.row(i)
		if r["run_id"] != m.RunID {
			t.Fatalf("flows/ row %d: run_id %v, the manifest's %q", i, r["run_id"], m.RunID)
		}
		id := fmt.Sprint(r["flow_id"])
		if j, dup := flowOf[id]; dup {
			t.Errorf("flow_id %s in flows/ rows %d and %d", id, j, i)
		}
		flowOf[id] = i
		fp, _ := r["fwd_packets"].(int64)
		bp, _ := r["bwd_packets"].(int64)
		sum += uint64(fp + bp)
	}
	if inFlows := counted - flowTableFull - lockTimeout; sum != inFlows && flowsLost == 0 {
		t.Errorf("flows hold %d packets; counters: %d parsed (recorded %d + session_table_full %d + session_quota %d + buffer_full %d) − flow_table_full %d − flow_lock_timeout %d = %d",
			sum, counted, recorded, tableFull, quota, bufFull, flowTableFull, lockTimeout, inFlows)
	}
	if hasStarted && flowsStarted != uint64(fl.rows)+flowsLost {
		t.Errorf("counters.flows_started %d, flows/ has %d rows and flows_lost is %d", flowsStarted, fl.rows, flowsLost)
	}
	if flowTableFull != 0 || lockTimeout != 0 || flowsLost != 0 {
		t.Fatalf("flow_table_full %d, flow_lock_timeout %d (present %v), flows_lost %d (present %v): packets or flows are missing, the oracle (no limit) cannot be compared flow by flow",
			flowTableFull, lockTimeout, hasLock, flowsLost, hasLost)
	}

	// packets/ → flows/: every row's (run_id, flow_id) is a flow, and each
	// flow has packets_recorded rows.
	rowsOf := map[string]int64{}
	for i := 0; i < pk.rows; i++ {
		id := fmt.Sprint(pk.cols["flow_id"][i])
		if pk.cols["run_id"][i] != m.RunID {
			t.Fatalf("packets/ row %d: run_id %v, the manifest's %q", i, pk.cols["run_id"][i], m.RunID)
		}
		if _, ok := flowOf[id]; !ok {
			t.Fatalf("packets/ row %d: flow_id %s is in no flows/ row", i, id)
		}
		rowsOf[id]++
	}
	for id, i := range flowOf {
		if pr := fl.cols["packets_recorded"][i]; pr != rowsOf[id] {
			t.Errorf("flow %s (%s): packets_recorded %v, packets/ has %d rows of it", id, bfKey(fl.row(i)), pr, rowsOf[id])
		}
	}

	// The oracle's flows against tacap's, every column.
	want := oracle.Biflows(in, opt)
	res := bfResult{reasons: map[string]int{}, packets: len(in)}
	wantBy := map[string][]*oracle.Biflow{}
	for _, f := range want {
		r := f.Row()
		wantBy[bfKey(r)] = append(wantBy[bfKey(r)], f)
		res.reasons[f.EndReason]++
		if f.IPVersion == 6 {
			res.v6Flows++
		}
	}
	gotBy := map[string][]int{}
	for i := 0; i < fl.rows; i++ {
		k := bfKey(fl.row(i))
		gotBy[k] = append(gotBy[k], i)
	}
	var problems []string
	report := func(format string, a ...any) {
		problems = append(problems, fmt.Sprintf(format, a...))
	}
	if len(want) != fl.rows {
		report("tacap has %d flows, the oracle %d", fl.rows, len(want))
	}
	flowIDOf := map[*oracle.Biflow]string{}
	badFlows := 0
	for _, f := range want {
		r := f.Row()
		k := bfKey(r)
		if len(wantBy[k]) > 1 {
			report("the oracle has %d flows %s: not matched", len(wantBy[k]), k)
			continue
		}
		g := gotBy[k]
		if len(g) != 1 {
			report("oracle flow %s (%d packets, %s … %s, end %s): tacap has %d such flows", k, len(f.Packets),
				desc[f.Packets[0]], desc[f.Packets[len(f.Packets)-1]], f.EndReason, len(g))
			badFlows++
			continue
		}
		got := fl.row(g[0])
		flowIDOf[f] = fmt.Sprint(got["flow_id"])
		r["packets_recorded"] = f.FwdPackets + f.BwdPackets
		var diffs []string
		for _, c := range append(append([]string(nil), oracle.BiflowColumns...), "packets_recorded") {
			if !bfSame(got[c], r[c]) {
				diffs = append(diffs, fmt.Sprintf("%s tacap %v oracle %v", c, bfShow(got[c]), bfShow(r[c])))
			}
		}
		if len(diffs) > 0 {
			badFlows++
			report("flow %s (%d packets, %s … %s): %s", k, len(f.Packets), desc[f.Packets[0]], desc[f.Packets[len(f.Packets)-1]], strings.Join(diffs, "; "))
		}
		res.flows++
	}
	for k, g := range gotBy {
		if len(wantBy[k]) == 0 {
			for _, i := range g {
				r := fl.row(i)
				report("tacap flow %s (flow_id %v, %v+%v packets, end %v): not in the oracle", k, r["flow_id"], r["fwd_packets"], r["bwd_packets"], r["end_reason"])
			}
		}
	}

	// Each packets/ row is in the flow the oracle puts that packet in.
	flowsOfPacket := map[string]map[string]bool{} // packet key → flow ids
	for _, f := range want {
		id, ok := flowIDOf[f]
		if !ok {
			continue
		}
		for _, j := range f.Packets {
			k := bfInputKey(in[j])
			if flowsOfPacket[k] == nil {
				flowsOfPacket[k] = map[string]bool{}
			}
			flowsOfPacket[k][id] = true
		}
	}
	misplaced := 0
	for i := 0; i < pk.rows; i++ {
		k := pk.packetKey(i)
		ids, known := flowsOfPacket[k]
		if !known {
			continue // its flow differs, reported above, or the packet is not tshark's (reported above)
		}
		if id := fmt.Sprint(pk.cols["flow_id"][i]); !ids[id] {
			if misplaced < 5 {
				report("packets/ row %d (%s) has flow_id %s, the oracle puts it in flow %v", i, k, id, bfSortedKeys(ids))
			}
			misplaced++
		}
	}
	if misplaced > 0 {
		report("%d packets/ rows in another flow than the oracle's", misplaced)
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		const show = 25
		t.Errorf("%d problems (%d of %d oracle flows differ); first %d:\n%s", len(problems), badFlows, len(want), min(show, len(problems)),
			strings.Join(problems[:min(show, len(problems))], "\n"))
	}
	return res
}

func bfShow(v any) string {
	if v == nil {
		return "null"
	}
	if f, ok := v.(float64); ok {
		return fmt.Sprintf("%.17g", f)
	}
	return fmt.Sprint(v)
}

func bfSortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// bfDiffPackets names the packets tshark and tacap disagree on (every
// packet is recorded in these runs, so packets/ is tacap's list).
func bfDiffPackets(t *testing.T, pk bfTable, in []oracle.BiflowPacket, desc []string) {
	t.Helper()
	got := map[string]int{}
	for i := 0; i < pk.rows; i++ {
		got[pk.packetKey(i)]++
	}
	var lines []string
	for i, p := range in {
		k := bfInputKey(p)
		if got[k] > 0 {
			got[k]--
			continue
		}
		lines = append(lines, fmt.Sprintf("tshark only: %s %s", desc[i], k))
	}
	for k, n := range got {
		if n > 0 {
			lines = append(lines, fmt.Sprintf("tacap only (%d): %s", n, k))
		}
	}
	sort.Strings(lines)
	t.Errorf("packets tshark and tacap disagree on:\n%s", strings.Join(lines[:min(len(lines), 20)], "\n"))
}

// TestFlowsAgainstTshark runs every shared capture tacap reads through
// `tacap capture --pcap` with every packet recorded and compares flows/
// with the flow rules (test/oracle) over tshark's decoding of the file:
// every flow, matched by its oriented endpoints, protocol, version and
// first packet time, on every column (integers exactly, means, deviations
// and rates within a relative 1e-9, nulls exactly); the packets in flows
// equal the manifest's counters; every packets/ row joins its flow.
func TestFlowsAgainstTshark(t *testing.T) {
	testenv.Privileged(t)
	requireTshark(t)
	shared := testenv.SharedDir(t)
	files, _ := filepath.Glob(filepath.Join(shared, "pcaps", "*", "*.pcap*"))
	sort.Strings(files)
	total := bfResult{reasons: map[string]int{}}
	checked := 0
	for _, path := range files {
		readable := false
		for _, fr := range readCaptureFile(t, path) {
			readable = readable || fr.supported
		}
		if !readable {
			continue // a link type tacap does not read
		}
		checked++
		t.Run(filepath.Base(filepath.Dir(path))+"/"+filepath.Base(path), func(t *testing.T) {
			in, desc, endNs := bfTsharkInputs(t, path)
			ds := bfRun(t, path)
			r := bfCompare(t, ds, in, desc, oracle.BiflowOptions{EndNs: endNs})
			t.Logf("%d packets, %d flows (%d IPv6) compared; end reasons %v", r.packets, r.flows, r.v6Flows, r.reasons)
			total.flows += r.flows
			total.v6Flows += r.v6Flows
			for k, n := range r.reasons {
				total.reasons[k] += n
			}
		})
	}
	if checked == 0 {
		t.Fatalf("no capture tacap reads under %s: nothing was compared", filepath.Join(shared, "pcaps"))
	}
	if !t.Failed() && (total.v6Flows == 0 || total.reasons[oracle.EndIdle] == 0 || total.reasons[oracle.EndReuse] == 0) {
		t.Errorf("the shared captures compared no IPv6 flow, or no flow ending idle or by reuse: %+v", total)
	}
	t.Logf("%d captures, %d flows (%d IPv6); end reasons %v", checked, total.flows, total.v6Flows, total.reasons)
}

// bfSpec is one frame of the synthetic capture.
type bfSpec struct {
	at         time.Duration // after bfT0
	src, dst   string
	proto      uint8 // 6, 17, 1/58 (ICMP echo of the address family), or 0: an ARP frame
	sport      uint16
	dport      uint16
	flags      uint8
	win        uint16
	payload    int
	vlan       uint16 // 0: untagged
	hopByHop   bool   // IPv6: a hop-by-hop options header first
	firstFrag  int    // >0: a first fragment (MF set); the L4 length claims this many more payload bytes
	nonFirstAt uint16 // >0: a non-first fragment at this offset (8-byte units)
}

// bfT0 is an odd time: every nanosecond digit matters.
const bfT0 = int64(1_700_000_000_123_456_789)

// bfBuild makes the frame and what the oracle must be given for it.
func bfBuild(s bfSpec) ([]byte, *oracle.BiflowPacket) {
	ls := []frames.Layer{frames.Ether{Src: [6]byte{2, 0, 0, 0, 0, 1}, Dst: [6]byte{2, 0, 0, 0, 0, 2}}}
	if s.proto == 0 {
		return frames.Build(frames.Ether{Type: frames.TypeARP}, frames.Zeros(28)), nil
	}
	hdr := 14
	if s.vlan != 0 {
		ls = append(ls, frames.VLAN{ID: s.vlan})
		hdr += 4
	}
	src, dst := netip.MustParseAddr(s.src), netip.MustParseAddr(s.dst)
	v6 := src.Is6()
	p := &oracle.BiflowPacket{TimeNs: bfT0 + int64(s.at), Src: src.String(), Dst: dst.String(), Protocol: s.proto,
		SrcPort: s.sport, DstPort: s.dport, IPVersion: 4}
	if v6 {
		p.IPVersion = 6
		ls = append(ls, frames.IPv6{Src: src, Dst: dst, HopLimit: 64})
		if s.hopByHop {
			ls = append(ls, frames.IPv6Ext{Type: 0, Len: 8})
		}
		switch {
		case s.nonFirstAt > 0:
			ls = append(ls, frames.IPv6Frag{Offset: s.nonFirstAt, ID: 7, NextHeader: s.proto})
		case s.firstFrag > 0:
			ls = append(ls, frames.IPv6Frag{More: true, ID: 7})
		}
	} else {
		ip := frames.IPv4{Src: src, Dst: dst, TTL: 64, ID: 7}
		switch {
		case s.nonFirstAt > 0:
			ip.FlagsFrag, ip.Protocol = s.nonFirstAt, s.proto
		case s.firstFrag > 0:
			ip.FlagsFrag = 0x2000
		}
		ls = append(ls, ip)
	}
	switch {
	case s.nonFirstAt > 0:
		p.NonFirstFragment, p.SrcPort, p.DstPort = true, 0, 0
		ls = append(ls, frames.Zeros(s.payload))
	case s.proto == 6:
		ls = append(ls, frames.TCP{SrcPort: s.sport, DstPort: s.dport, Seq: 1000, Ack: 2000, Flags: s.flags, Window: s.win}, frames.Zeros(s.payload))
		p.TCPFlags, p.TCPWindow, p.HasTCPHeader, p.Payload = s.flags, s.win, true, uint32(s.payload)
	case s.proto == 17:
		u := frames.UDP{SrcPort: s.sport, DstPort: s.dport}
		if s.firstFrag > 0 {
			u.Length = 8 + s.payload + s.firstFrag
		}
		ls = append(ls, u, frames.Zeros(s.payload))
		p.Payload = uint32(s.payload + s.firstFrag)
	case s.proto == 1 || s.proto == 58:
		ls = append(ls, frames.ICMP{Type: map[bool]uint8{false: 8, true: 128}[v6], V6: v6, Rest: 0x12340001}, frames.Zeros(s.payload))
		p.SrcPort, p.DstPort = 0, 0
	}
	b := frames.Build(ls...)
	p.IPLen = uint32(len(b) - hdr)
	return b, p
}

// bfSynthetic is a capture exercising every flow rule, with
// --flow-idle-timeout 2s --flow-active-timeout 10s in mind.
func bfSynthetic() []bfSpec {
	const (
		c, s   = "192.0.2.10", "198.51.100.20"
		c6, s6 = "2001:db8::10", "2001:db8:1::20"
	)
	ms := time.Millisecond
	const (
		fin, syn, rst, psh, ack, urg, ece, cwr = frames.FIN, frames.SYN, frames.RST, frames.PSH, frames.ACK, frames.URG, frames.ECE, frames.CWR
	)
	sp := []bfSpec{
		// TCP: ECN handshake, data both ways (URG, a VLAN-tagged segment,
		// one out of order), FIN teardown; then a SYN (reuse), a RST, and
		// a SYN again (reuse).
		{at: 0, src: c, dst: s, proto: 6, sport: 40000, dport: 80, flags: syn | ece | cwr, win: 64240},
		{at: 1 * ms, src: s, dst: c, proto: 6, sport: 80, dport: 40000, flags: syn | ack | ece, win: 65160},
		{at: 2 * ms, src: c, dst: s, proto: 6, sport: 40000, dport: 80, flags: ack, win: 502},
		{at: 3 * ms, src: c, dst: s, proto: 6, sport: 40000, dport: 80, flags: psh | ack, win: 502, payload: 100},
		{at: 5 * ms, src: s, dst: c, proto: 6, sport: 80, dport: 40000, flags: psh | ack | urg, win: 509, payload: 1400, vlan: 7},
		{at: 4500 * time.Microsecond, src: s, dst: c, proto: 6, sport: 80, dport: 40000, flags: ack, win: 509, payload: 1400}, // out of order
		{at: 6 * ms, src: c, dst: s, proto: 6, sport: 40000, dport: 80, flags: fin | ack, win: 502},
		{at: 7 * ms, src: s, dst: c, proto: 6, sport: 80, dport: 40000, flags: fin | ack, win: 509},
		{at: 8 * ms, src: c, dst: s, proto: 6, sport: 40000, dport: 80, flags: ack, win: 502},
		{at: 500 * ms, src: c, dst: s, proto: 6, sport: 40000, dport: 80, flags: syn, win: 1000},
		{at: 501 * ms, src: s, dst: c, proto: 6, sport: 80, dport: 40000, flags: rst | ack},
		{at: 502 * ms, src: c, dst: s, proto: 6, sport: 40000, dport: 80, flags: syn | cwr, win: 2000},

		// A SYN-ACK first: its receiver is src.
		{at: 10 * ms, src: s, dst: c, proto: 6, sport: 443, dport: 50000, flags: syn | ack, win: 29200},
		{at: 11 * ms, src: c, dst: s, proto: 6, sport: 50000, dport: 443, flags: ack, win: 229},
		{at: 12 * ms, src: s, dst: c, proto: 6, sport: 443, dport: 50000, flags: psh | ack, win: 235, payload: 200},

		// ICMP echo both ways: ports 0.
		{at: 20 * ms, src: c, dst: s, proto: 1, payload: 56},
		{at: 21 * ms, src: s, dst: c, proto: 1, payload: 56},
		{at: 1020 * ms, src: c, dst: s, proto: 1, payload: 56},

		// IPv4 fragments: the first one carries the ports, the next is a
		// flow of its own with ports 0.
		{at: 30 * ms, src: s, dst: c, proto: 17, sport: 53, dport: 33333, payload: 1472, firstFrag: 508},
		{at: 31 * ms, src: s, dst: c, proto: 17, nonFirstAt: 185, payload: 508},

		// IPv6: a TCP handshake and data behind a hop-by-hop header, UDP,
		// ICMPv6 echo, and fragments.
		{at: 40 * ms, src: c6, dst: s6, proto: 6, sport: 40001, dport: 443, flags: syn, win: 64800, hopByHop: true},
		{at: 41 * ms, src: s6, dst: c6, proto: 6, sport: 443, dport: 40001, flags: syn | ack, win: 64260},
		{at: 42 * ms, src: c6, dst: s6, proto: 6, sport: 40001, dport: 443, flags: ack, win: 507},
		{at: 43 * ms, src: c6, dst: s6, proto: 6, sport: 40001, dport: 443, flags: psh | ack, win: 507, payload: 300, hopByHop: true},
		{at: 44 * ms, src: s6, dst: c6, proto: 6, sport: 443, dport: 40001, flags: fin | psh | ack, win: 501, payload: 1200},
		{at: 45 * ms, src: c6, dst: s6, proto: 17, sport: 5000, dport: 53, payload: 40},
		{at: 46 * ms, src: s6, dst: c6, proto: 17, sport: 53, dport: 5000, payload: 200},
		{at: 47 * ms, src: c6, dst: s6, proto: 58, payload: 56},
		{at: 48 * ms, src: s6, dst: c6, proto: 58, payload: 56},
		{at: 49 * ms, src: s6, dst: c6, proto: 17, sport: 53, dport: 5001, payload: 1448, firstFrag: 600},
		{at: 50 * ms, src: s6, dst: c6, proto: 17, nonFirstAt: 182, payload: 600},
	}
	// UDP every second from 0 to 12 s and a reply: with a 10 s active
	// timeout the packet at 11 s starts a new flow; after 2.5 s of silence
	// (idle 2 s) the packet at 14.5 s starts another.
	for i := 0; i <= 12; i++ {
		sp = append(sp, bfSpec{at: time.Duration(i)*time.Second + 100*ms, src: c, dst: s, proto: 17, sport: 5353, dport: 53, payload: 30 + 10*i})
	}
	sp = append(sp,
		bfSpec{at: 600 * ms, src: s, dst: c, proto: 17, sport: 53, dport: 5353, payload: 120},
		bfSpec{at: 14600 * ms, src: c, dst: s, proto: 17, sport: 5353, dport: 53, payload: 30},
		// The last frame, not IP: flows whose last packet is more than 2 s
		// before it end "idle", the last one "end".
		bfSpec{at: 16 * time.Second},
	)
	sort.SliceStable(sp, func(i, j int) bool { return bfFileOrder(sp[i]) < bfFileOrder(sp[j]) })
	return sp
}

// bfFileOrder puts the frames in time order, except the one crafted to be
// out of order, which goes after the 5 ms segment.
func bfFileOrder(s bfSpec) time.Duration {
	if s.at == 4500*time.Microsecond {
		return 5*time.Millisecond + 1
	}
	return s.at
}

// TestFlowsSynthetic writes a capture with every flow rule at work (idle,
// active and reuse endings, a SYN-ACK first, out-of-order time, VLAN,
// ICMP, IPv4 and IPv6 fragments, IPv6 extension headers, all eight TCP
// flags, a non-IP last frame) and compares tacap's flows/ with the oracle
// over the frames as built, with small timeouts and with the defaults.
// With tshark installed, tshark's decoding of the file must give the
// oracle the same input.
func TestFlowsSynthetic(t *testing.T) {
	testenv.Privileged(t)
	specs := bfSynthetic()
	var cf []capFrame
	var in []oracle.BiflowPacket
	var desc []string
	for i, s := range specs {
		b, p := bfBuild(s)
		cf = append(cf, capFrame{ns: bfT0 + int64(s.at), data: b})
		if p != nil {
			in = append(in, *p)
			desc = append(desc, fmt.Sprintf("frame %d", i+1))
		}
	}
	endNs := cf[len(cf)-1].ns
	path := filepath.Join(t.TempDir(), "flows.pcap")
	writePcap(t, path, linkEthernet, cf)

	if tshark.Available() {
		got, _, gotEnd := bfTsharkInputs(t, path)
		if gotEnd != endNs || len(got) != len(in) {
			t.Fatalf("tshark: %d packets, end %d; built: %d, end %d", len(got), gotEnd, len(in), endNs)
		}
		for i := range in {
			if got[i] != in[i] {
				t.Fatalf("%s: tshark gives the oracle\n  %+v\nthe frame was built as\n  %+v", desc[i], got[i], in[i])
			}
		}
	} else {
		t.Log("tshark is not installed: its decoding of the file is not checked")
	}

	for _, tc := range []struct {
		name  string
		flags []string
		opt   oracle.BiflowOptions
		want  map[string]int // end reasons
	}{
		{"small timeouts", []string{"--flow-idle-timeout", "2s", "--flow-active-timeout", "10s"},
			oracle.BiflowOptions{IdleTimeout: 2 * time.Second, ActiveTimeout: 10 * time.Second, EndNs: endNs},
			map[string]int{oracle.EndReuse: 2, oracle.EndActive: 1, oracle.EndIdle: 11, oracle.EndEOF: 1}},
		{"default timeouts", nil, oracle.BiflowOptions{EndNs: endNs},
			map[string]int{oracle.EndReuse: 2, oracle.EndEOF: 11}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The oracle's own verdict, so that the capture keeps testing what it says.
			reasons := map[string]int{}
			for _, f := range oracle.Biflows(in, tc.opt) {
				reasons[f.EndReason]++
			}
			if fmt.Sprint(reasons) != fmt.Sprint(tc.want) {
				t.Fatalf("the oracle ends the synthetic flows %v, the test expects %v", reasons, tc.want)
			}
			ds := bfRun(t, path, tc.flags...)
			r := bfCompare(t, ds, in, desc, tc.opt)
			t.Logf("%d packets, %d flows (%d IPv6) compared; end reasons %v", r.packets, r.flows, r.v6Flows, r.reasons)
		})
	}
}

// TestFlowsSyntheticOracle checks the synthetic capture's oracle verdicts
// without tacap (no privileges needed): the rules the capture is meant to
// exercise are exercised.
func TestFlowsSyntheticOracle(t *testing.T) {
	var in []oracle.BiflowPacket
	for _, s := range bfSynthetic() {
		if _, p := bfBuild(s); p != nil {
			in = append(in, *p)
		}
	}
	fl := oracle.Biflows(in, oracle.BiflowOptions{IdleTimeout: 2 * time.Second, ActiveTimeout: 10 * time.Second, EndNs: bfT0 + int64(16*time.Second)})
	var synAckFirst, v6, frag, ooo, oneWay bool
	var flags [8]int64
	for _, f := range fl {
		r := f.Row()
		synAckFirst = synAckFirst || (f.SrcPort == 50000 && f.FwdPackets == 1 && f.BwdPackets == 2)
		v6 = v6 || f.IPVersion == 6
		frag = frag || (f.Protocol == 17 && f.SrcPort == 0)
		ooo = ooo || (r["iat_min"] == 0.0 && f.Protocol == 6)
		oneWay = oneWay || (f.BwdPackets == 0 && r["bwd_len_mean"] == nil)
		for i := range flags {
			flags[i] += f.Flags[i]
		}
	}
	for i, n := range flags {
		if n == 0 {
			t.Errorf("no %s flag in the synthetic capture", oracle.FlagNames[i])
		}
	}
	if !synAckFirst || !v6 || !frag || !ooo || !oneWay {
		t.Errorf("synthetic capture: SYN-ACK first %v, IPv6 %v, fragment flow %v, out of order %v, one-way %v", synAckFirst, v6, frag, ooo, oneWay)
	}
}
