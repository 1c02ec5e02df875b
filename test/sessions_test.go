package test

// The sessions/ table and the per-flow CSV files against an
// independent computation: tshark's decoding of the same capture file, or of
// tcpdump's copy of live traffic, run through the sampling algorithm of
// docs/dataset.md (the model in counters_test.go).

import (
	"encoding/csv"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/tacap/tacap/dataset"
	"github.com/tacap/tacap/test/oracle"
	"github.com/tacap/tacap/test/pqcheck"
	"github.com/tacap/tacap/test/tshark"
)

// readSessions reads the run's sessions/ rows with arrow-go.
func readSessions(t *testing.T, ds string, m dataset.Manifest) []dataset.Session {
	t.Helper()
	var out []dataset.Session
	for _, file := range m.Files.Sessions {
		pf, err := pqcheck.Read(filepath.Join(ds, file.Path))
		if err != nil {
			t.Fatal(err)
		}
		defer pf.Table.Release()
		ints := map[string][]int64{}
		for _, c := range []string{"src_port", "dst_port", "protocol", "first_ts", "last_ts", "packets_recorded", "bytes_recorded", "packets_seen", "bytes_seen"} {
			if ints[c], err = pf.Int64(c); err != nil {
				t.Fatal(err)
			}
		}
		strs := map[string][]string{}
		for _, c := range []string{"run_id", "src_ip", "dst_ip"} {
			if strs[c], err = pf.Strings(c); err != nil {
				t.Fatal(err)
			}
		}
		idx := pf.Schema.FieldIndices("quota_limited")
		if len(idx) != 1 {
			t.Fatal("sessions/ has no quota_limited column")
		}
		var quota []bool
		for _, chunk := range pf.Table.Column(idx[0]).Data().Chunks() {
			b, ok := chunk.(*array.Boolean)
			if !ok {
				t.Fatalf("quota_limited is %s, not boolean", chunk.DataType())
			}
			for i := 0; i < b.Len(); i++ {
				quota = append(quota, b.Value(i))
			}
		}
		if int64(len(quota)) != file.Rows || pf.Rows != file.Rows {
			t.Fatalf("%s: %d rows, manifest says %d", file.Path, pf.Rows, file.Rows)
		}
		for i := 0; i < int(pf.Rows); i++ {
			if id := strs["run_id"][i]; id != m.RunID {
				t.Fatalf("%s row %d: run_id %q, the manifest's is %q", file.Path, i, id, m.RunID)
			}
			out = append(out, dataset.Session{
				RunID: strs["run_id"][i], SrcIP: strs["src_ip"][i], DstIP: strs["dst_ip"][i],
				SrcPort: int32(ints["src_port"][i]), DstPort: int32(ints["dst_port"][i]), Protocol: int32(ints["protocol"][i]),
				FirstTs: ints["first_ts"][i], LastTs: ints["last_ts"][i],
				PacketsRecorded: ints["packets_recorded"][i], BytesRecorded: ints["bytes_recorded"][i],
				PacketsSeen: ints["packets_seen"][i], BytesSeen: ints["bytes_seen"][i], QuotaLimited: quota[i],
			})
		}
	}
	if int64(len(out)) != int64(m.Sessions) {
		t.Fatalf("%d sessions in the files, manifest says %d", len(out), m.Sessions)
	}
	return out
}

// csvFile is one per-flow CSV file read back.
type csvFile struct {
	name string
	rows []row
	ts   []string // the ts column as written
}

// readCSVs reads every per-flow CSV file of the run with encoding/csv.
func readCSVs(t *testing.T, ds string, m dataset.Manifest) map[string]csvFile {
	t.Helper()
	if m.CSV == nil {
		t.Fatal("no csv in the manifest")
	}
	paths, _ := filepath.Glob(filepath.Join(ds, m.CSV.Dir, "*"))
	out := map[string]csvFile{}
	for _, p := range paths {
		name := filepath.Base(p)
		if strings.HasPrefix(name, ".") {
			t.Errorf("hidden file %s left in the CSV folder", name)
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(recs) == 0 || strings.Join(recs[0], ",") != strings.Join(dataset.PacketColumns, ",") {
			t.Fatalf("%s: header %v, want %v", name, recs[:min(1, len(recs))], dataset.PacketColumns)
		}
		cf := csvFile{name: name}
		for _, rec := range recs[1:] {
			num := func(i int) int64 {
				n, err := strconv.ParseInt(rec[i], 10, 64)
				if err != nil {
					t.Fatalf("%s: column %s: %v", name, dataset.PacketColumns[i], err)
				}
				return n
			}
			src, err1 := netip.ParseAddr(rec[6])
			dst, err2 := netip.ParseAddr(rec[7])
			if err1 != nil || err2 != nil {
				t.Fatalf("%s: addresses %q %q", name, rec[6], rec[7])
			}
			cf.ts = append(cf.ts, rec[0])
			cf.rows = append(cf.rows, row{timeNs: num(1), iface: rec[2], dir: rec[3], gso: num(12), f: oracle.Fields{
				VlanID: uint16(num(4)), IPVersion: uint8(num(5)), Src: src, Dst: dst, Protocol: uint8(num(8)),
				SrcPort: uint16(num(9)), DstPort: uint16(num(10)), IPLen: uint32(num(11)), IPFlagsFrag: uint16(num(13)),
				TTL: uint8(num(14)), TCPPayloadLen: uint32(num(15)), TCPSeq: uint32(num(16)), TCPAck: uint32(num(17)),
				TCPFlags: uint8(num(18)), TCPWindow: uint16(num(19)), UDPPayloadLen: uint16(num(20)), ICMPType: uint8(num(21)),
				ICMPCode: uint8(num(22)),
			}})
		}
		out[name] = cf
	}
	if len(out) != m.CSV.Files {
		t.Errorf("%d CSV files, manifest says %d", len(out), m.CSV.Files)
	}
	return out
}

// modelInput is the frames of a capture tacap must record, in order, with
// tshark's decoding of each: gopacket's oracle says which frames are
// recordable (tshark dissects malformed headers as far as it can, without a
// verdict), and the two must agree on every frame the oracle records.
func modelInput(t *testing.T, path string) []tshark.Frame {
	t.Helper()
	all, raw := decodeWithReader(t, path)
	var rec []tshark.Frame
	for i, f := range all {
		fr := raw[i]
		if !fr.supported || fr.short || len(fr.eth) < 14 {
			continue
		}
		res := oracle.Decode(fr.eth, fr.wireLen)
		switch {
		case res.Class == oracle.Unsure:
			t.Fatalf("frame %d: the oracle cannot judge it (%s)", f.Number, res.Reason)
		case res.Class == oracle.Skip:
			continue
		case !f.Recordable:
			t.Fatalf("frame %d: gopacket records it (%+v), tshark does not (%s)", f.Number, res.Fields, f.Why)
		}
		rec = append(rec, f)
	}
	return rec
}

// runModel feeds the frames to the sampling model.
func runModel(s *sampler, in []tshark.Frame) *sampler {
	for i, f := range in {
		s.packet(i, f.TimeNs, keyOf(f.Fields), f.Fields.IPLen)
	}
	return s
}

// recordedOrder lists the model's recorded packets in the order recorded.
func recordedOrder(s *sampler) []int {
	var idx []int
	for _, f := range s.sessions {
		idx = append(idx, f.rows...)
	}
	sort.Ints(idx)
	return idx
}

// checkSessionsAgainstTshark: a capture-file run's sessions/ rows, packets/ rows
// and CSV files against tshark's decoding of the file and the model.
func checkSessionsAgainstTshark(t *testing.T, ds string, m dataset.Manifest, path string, a samplingArgs) {
	t.Helper()
	in := modelInput(t, path)
	s := runModel(a.model(), in)
	if s.unsure != "" {
		t.Logf("not compared: the model cannot tell without knowing the LRU's choice (%s)", s.unsure)
		return
	}
	// sessions/: every column of every row, in order.
	got := readSessions(t, ds, m)
	if len(got) != len(s.sessions) {
		t.Errorf("%d sessions, the model over tshark's decoding has %d", len(got), len(s.sessions))
	}
	bad := 0
	for i := range min(len(got), len(s.sessions)) {
		if want := s.sessions[i].sessionRow(m.RunID); got[i] != want {
			if bad < 5 {
				t.Errorf("session %d:\n  tacap %+v\n  model %+v", i, got[i], want)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d sessions differ", bad, len(got))
	}
	// packets/: exactly the recorded packets, in order.
	rows := readRows(t, ds, m)
	order := recordedOrder(s)
	if len(rows) != len(order) {
		t.Fatalf("%d rows, the model records %d of %d packets", len(rows), len(order), len(in))
	}
	bad = 0
	for i, j := range order {
		if rows[i].timeNs != in[j].TimeNs || rows[i].f != in[j].Fields {
			if bad < 5 {
				t.Errorf("row %d: tacap %d %+v\n  model records tshark frame %d: %d %+v", i, rows[i].timeNs, rows[i].f, in[j].Number, in[j].TimeNs, in[j].Fields)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d rows are not the packets the model records", bad, len(rows))
	}
	// csv/: one file per session, named after its first packet, its rows.
	files := readCSVs(t, ds, m)
	if len(files) != len(s.sessions) {
		t.Errorf("%d CSV files for %d sessions", len(files), len(s.sessions))
	}
	rowOf := map[int]row{}
	for i, j := range order {
		rowOf[j] = rows[i]
	}
	bad = 0
	for _, f := range s.sessions {
		first := in[f.rows[0]]
		name := dataset.CSVName(f.key.src.String(), int32(f.key.sport), f.key.dst.String(), int32(f.key.dport), first.TimeNs)
		cf, ok := files[name]
		if !ok {
			t.Errorf("no CSV file %s for session %v", name, f.key)
			bad++
			continue
		}
		if len(cf.rows) != len(f.rows) {
			t.Errorf("%s: %d rows, the session has %d", name, len(cf.rows), len(f.rows))
			bad++
			continue
		}
		for k, j := range f.rows {
			want := rowOf[j]
			wantTs := time.UnixMicro(in[j].TimeNs / 1000).UTC().Format("2006-01-02T15:04:05.000000Z")
			if cf.rows[k] != want || cf.rows[k].f != in[j].Fields || cf.ts[k] != wantTs {
				if bad < 5 {
					t.Errorf("%s row %d: %s %+v\n  packets/ %+v\n  tshark frame %d: %s %+v", name, k, cf.ts[k], cf.rows[k], want, in[j].Number, wantTs, in[j].Fields)
				}
				bad++
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d CSV files or rows differ", bad)
	}
	t.Logf("%d sessions, %d rows and %d CSV files equal the model over %d recordable frames of tshark", len(got), len(rows), len(files), len(in))
}

func sessionKeyText(src, dst string, sport, dport, proto int32) string {
	return fmt.Sprintf("%s → %s proto %d", netip.AddrPortFrom(netip.MustParseAddr(src), uint16(sport)), netip.AddrPortFrom(netip.MustParseAddr(dst), uint16(dport)), proto)
}

// allPackets lists the model's input packets of session f (recorded or not).
func allPackets(in []tshark.Frame, f *modelSession) []int {
	var out []int
	for i, fr := range in {
		if keyOf(fr.Fields) == f.key {
			out = append(out, i)
		}
	}
	return out
}

// TestSessionsMatchTcpdump captures live traffic with a quota of 10 packets
// per session while tcpdump records the same interface, and checks the
// sessions table and the per-flow CSV files against tshark's decoding of
// tcpdump's copy run through the sampling algorithm: sessions of 30
// datagrams in a burst are quota-limited with 10 recorded and 30 seen,
// sessions of 5 are not; a TCP connection, the port unreachables and the
// neighbour discovery of both sides are sessions too. Every column of
// every session (times within 5 ms, a refused last packet within 15 ms: the
// kernel's coarse clock) and every row of every CSV file (equal to packets/
// and to tshark, time within 5 ms).
func TestSessionsMatchTcpdump(t *testing.T) {
	l := newLab(t)
	dir := t.TempDir()
	pcap := filepath.Join(dir, "oracle.pcap")
	ds := filepath.Join(dir, "ds")
	ready := filepath.Join(dir, "ready")
	dump, dumpDropped := tcpdump(t, l.b, pcap)
	cmd := start(t, l.b, l.tacap, "capture", "-i", "veth0", "--for", "3s", "-o", ds, "--packets-per-session", "10", "-q", "--ready-file", ready)
	waitFile(t, ready)
	err := l.a.Do(func() error {
		for i, dst := range []string{l.v4b, l.v6b} {
			for port := 0; port < 6; port++ {
				c, err := net.ListenPacket("udp", net.JoinHostPort(map[int]string{0: l.v4a, 1: l.v6a}[i], strconv.Itoa(43000+port)))
				if err != nil {
					return err
				}
				n := 30
				if port >= 3 {
					n = 5
				}
				to := &net.UDPAddr{IP: net.ParseIP(dst), Port: 9}
				for k := 0; k < n; k++ {
					if _, err := c.WriteTo([]byte(fmt.Sprintf("datagram %d", k)), to); err != nil {
						return err
					}
				}
				c.Close()
			}
			// A TCP connection b refuses (SYN, RST): nothing listens there.
			if c, err := net.DialTimeout("tcp", net.JoinHostPort(dst, "7"), time.Second); err == nil {
				c.Close()
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("tacap: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	_ = dump.Process.Signal(syscall.SIGINT)
	_ = dump.Wait()
	if lost := dumpDropped(); lost > 0 {
		t.Fatalf("tcpdump lost %d packets: its copy is no oracle", lost)
	}
	m := readManifest(t, ds)
	if !m.Complete || m.Counters.Check() != nil || m.Counters.BufferFull != 0 || m.Counters.SessionTableFull != 0 {
		t.Fatalf("manifest: complete %v, counters %+v", m.Complete, m.Counters)
	}

	in := modelInput(t, pcap)
	s := newSampler(1024, 10, 5*time.Second, time.Second)
	s.margin = int64(20 * time.Millisecond)
	runModel(s, in)
	if s.unsure != "" {
		t.Fatalf("model: %s", s.unsure)
	}
	// tcpdump listens before tacap attaches and after it detaches: a
	// session with a packet outside [attached, attached + 2.5 s] (the
	// namespaces' own neighbour discovery and MLD) may be partly seen by
	// one side only; it is not compared. The traffic runs in between.
	st, err := os.Stat(ready)
	if err != nil {
		t.Fatal(err)
	}
	from, to := st.ModTime().UnixNano(), st.ModTime().UnixNano()+int64(2500*time.Millisecond)
	for _, mf := range s.sessions {
		for _, i := range allPackets(in, mf) {
			if in[i].TimeNs < from || in[i].TimeNs > to {
				mf.unsure = fmt.Sprintf("tcpdump frame %d at %s is outside the time tacap was surely attached", in[i].Number, time.Unix(0, in[i].TimeNs).UTC().Format(time.StampMicro))
				break
			}
		}
	}
	var wantRec, wantQuota, gotRec, gotQuota uint64
	for _, mf := range s.sessions {
		if mf.unsure == "" {
			wantRec += uint64(mf.recorded)
			wantQuota += uint64(mf.refused)
		}
	}
	// Sessions are matched by key: the order of the first packets of two
	// sessions a few µs apart may differ between the two clocks.
	got := readSessions(t, ds, m)
	byKey := map[string]dataset.Session{}
	for _, f := range got {
		k := sessionKeyText(f.SrcIP, f.DstIP, f.SrcPort, f.DstPort, f.Protocol)
		if _, dup := byKey[k]; dup {
			t.Fatalf("two sessions of %s in a run without eviction", k)
		}
		byKey[k] = f
	}
	modelKeys := map[string]bool{}
	for _, mf := range s.sessions {
		w := mf.sessionRow(m.RunID)
		modelKeys[sessionKeyText(w.SrcIP, w.DstIP, w.SrcPort, w.DstPort, w.Protocol)] = true
	}
	for k := range byKey {
		if !modelKeys[k] {
			t.Errorf("session %s: tcpdump saw no packet of it", k)
		}
	}
	limited, unlimited := 0, 0
	near := func(a, b, tol int64) bool { return a-b <= tol && b-a <= tol }
	for _, mf := range s.sessions {
		want := mf.sessionRow(m.RunID)
		k := sessionKeyText(want.SrcIP, want.DstIP, want.SrcPort, want.DstPort, want.Protocol)
		g, ok := byKey[k]
		if mf.unsure != "" {
			t.Logf("session %s: %s; not compared", k, mf.unsure)
			continue
		}
		if !ok {
			t.Errorf("no session for %s (tcpdump saw %d packets of it)", k, mf.seen)
			continue
		}
		gotRec += uint64(g.PacketsRecorded)
		gotQuota += uint64(g.PacketsSeen - g.PacketsRecorded)
		lastTol := int64(5000)
		if mf.lastSeen > mf.lastRec {
			lastTol = 15000 // the last packet was refused: coarse clock
		}
		if g.PacketsRecorded != want.PacketsRecorded || g.BytesRecorded != want.BytesRecorded || g.PacketsSeen != want.PacketsSeen ||
			g.BytesSeen != want.BytesSeen || g.QuotaLimited != want.QuotaLimited || !near(g.FirstTs, want.FirstTs, 5000) || !near(g.LastTs, want.LastTs, lastTol) {
			t.Errorf("session %s:\n  tacap %+v\n  model %+v (over tcpdump's copy)", k, g, want)
		}
		if want.QuotaLimited {
			limited++
		} else {
			unlimited++
		}
	}
	if gotRec != wantRec || gotQuota != wantQuota {
		t.Errorf("sessions compared: %d recorded, %d refused by the quota; the model over tcpdump's copy: %d, %d", gotRec, gotQuota, wantRec, wantQuota)
	}
	if limited < 6 || unlimited < 6 {
		t.Errorf("%d quota-limited and %d other sessions compared: the traffic did not run", limited, unlimited)
	}

	// Per-flow CSV files: named after the session's first recorded packet
	// (tacap's own time), rows equal to packets/ and to tcpdump's copy.
	rows := readRows(t, ds, m)
	files := readCSVs(t, ds, m)
	if len(files) != len(got) {
		t.Errorf("%d CSV files for %d sessions", len(files), len(got))
	}
	perSession := map[string][]row{}
	for _, r := range rows {
		k := sessionKeyText(r.f.Src.String(), r.f.Dst.String(), int32(r.f.SrcPort), int32(r.f.DstPort), int32(r.f.Protocol))
		perSession[k] = append(perSession[k], r)
	}
	checked := 0
	for _, mf := range s.sessions {
		want := mf.sessionRow(m.RunID)
		k := sessionKeyText(want.SrcIP, want.DstIP, want.SrcPort, want.DstPort, want.Protocol)
		pr := perSession[k]
		if len(pr) == 0 {
			continue // reported above
		}
		name := dataset.CSVName(want.SrcIP, want.SrcPort, want.DstIP, want.DstPort, pr[0].timeNs)
		cf, ok := files[name]
		if !ok {
			t.Errorf("no CSV file %s", name)
			continue
		}
		if fmt.Sprint(cf.rows) != fmt.Sprint(pr) {
			t.Errorf("%s: its rows differ from the session's rows in packets/", name)
			continue
		}
		for i, r := range cf.rows {
			if wts := time.UnixMicro(r.timeNs / 1000).UTC().Format("2006-01-02T15:04:05.000000Z"); cf.ts[i] != wts {
				t.Errorf("%s row %d: ts %q, ts_ns says %q", name, i, cf.ts[i], wts)
			}
		}
		if mf.unsure != "" {
			continue
		}
		if len(cf.rows) != len(mf.rows) {
			t.Errorf("%s: %d rows, the model over tcpdump's copy records %d", name, len(cf.rows), len(mf.rows))
			continue
		}
		for i, j := range mf.rows {
			if d := cf.rows[i].timeNs - in[j].TimeNs; cf.rows[i].f != in[j].Fields || d > 5e6 || d < -5e6 {
				t.Errorf("%s row %d: %d %+v\n  tcpdump frame %d: %d %+v", name, i, cf.rows[i].timeNs, cf.rows[i].f, in[j].Number, in[j].TimeNs, in[j].Fields)
			}
		}
		checked++
	}
	t.Logf("%d sessions (%d quota-limited) and %d CSV files checked against %d packets of tcpdump's copy; counters %+v",
		len(got), limited, checked, len(in), m.Counters)
}
