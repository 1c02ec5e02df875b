package report

import (
	"cmp"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/tacap/tacap/capture/sink"
	"github.com/tacap/tacap/dataset"
	"github.com/tacap/tacap/labels"
)

// The report's tests build their datasets with tacap's own writer (the
// capture/sink package), so the files have exactly the encodings of a real
// capture, and a manifest shaped like capture's.

type fixtureRun struct {
	id, host string
	iface    string
	pcap     string
	start    time.Time
	packets  []dataset.Packet
	sessions []dataset.Session
	// flows are its flows/ rows (run_id is set here). nil: a run of a
	// tacap before flows/ existed — no flows/ part, nothing of flows in
	// the manifest; empty: a run that saw no recordable packet.
	flows      []dataset.Flow
	flowRules  *flowRules        // the timeouts its manifest gives (nil: capture's defaults)
	counters   *dataset.Counters // nil: seen = recorded = rows
	noSessions bool              // write no sessions file
	noManif    bool              // write no manifest (a killed capture)
	complete   *bool
	// rowGroupRows and partRows cap the row groups and part files of every
	// table (0: the writer's defaults).
	rowGroupRows, partRows int64
	// rules is the YAML rules file that labels its rows (the label columns
	// are set as capture sets them) and that its manifest keeps, under the
	// name rulesFile ("rules.yaml" when empty). labelled without rules: a
	// run captured without a rules file (every row the default label).
	// Neither: the rows' label columns are as given (empty by default), and
	// the manifest has no labels.
	rules, rulesFile string
	labelled         bool
	// noLabelColumns: its files have no label columns, as a tacap before
	// labels wrote them.
	noLabelColumns bool
	// edit changes the manifest before it is written.
	edit func(m map[string]any)
}

// writeRun writes one run into the dataset folder dir.
func writeRun(t testing.TB, dir string, r fixtureRun) {
	t.Helper()
	day := r.start.UTC().Format("2006-01-02")
	var rules *labels.Rules
	if r.rules != "" || r.labelled {
		rules = labels.None()
		if r.rules != "" {
			var err error
			if rules, err = labels.Parse(cmp.Or(r.rulesFile, "rules.yaml"), []byte(r.rules)); err != nil {
				t.Fatal(err)
			}
		}
		r.packets, r.sessions, r.flows = labelRows(rules, r.packets, r.sessions, r.flows)
	}
	pk := sink.NewParts[dataset.Packet](sink.PartConfig{Dir: dir, Table: dataset.PacketsTable, Host: r.host, RunID: r.id,
		RowGroupRows: r.rowGroupRows, MaxRows: r.partRows, NoBounds: []string{"iface", "direction", "src_ip", "dst_ip"}})
	if len(r.packets) > 0 {
		if err := pk.Write(day, r.packets); err != nil {
			t.Fatal(err)
		}
	}
	if err := pk.Close(); err != nil {
		t.Fatal(err)
	}
	ss := sink.NewParts[dataset.Session](sink.PartConfig{Dir: dir, Table: dataset.SessionsTable, Host: r.host, RunID: r.id,
		RowGroupRows: r.rowGroupRows, MaxRows: r.partRows})
	if !r.noSessions && len(r.sessions) > 0 {
		sess := slices.Clone(r.sessions)
		for i := range sess {
			sess[i].RunID = r.id
		}
		if err := ss.Write(day, sess); err != nil {
			t.Fatal(err)
		}
	}
	if err := ss.Close(); err != nil {
		t.Fatal(err)
	}
	// As capture writes them: a part holds the flows of one UTC day of
	// last_ts.
	fl := sink.NewParts[dataset.Flow](sink.PartConfig{Dir: dir, Table: dataset.FlowsTable, Host: r.host, RunID: r.id,
		RowGroupRows: r.rowGroupRows, MaxRows: r.partRows, NoBounds: []string{"run_id", "src_ip", "dst_ip", "end_reason"}})
	byReason := map[string]int64{}
	for i := 0; i < len(r.flows); {
		day := time.Unix(0, r.flows[i].LastTsNs).UTC().Format("2006-01-02")
		j := i
		for j < len(r.flows) && time.Unix(0, r.flows[j].LastTsNs).UTC().Format("2006-01-02") == day {
			j++
		}
		rows := slices.Clone(r.flows[i:j])
		for k := range rows {
			rows[k].RunID = r.id
			byReason[rows[k].EndReason]++
		}
		if err := fl.Write(day, rows); err != nil {
			t.Fatal(err)
		}
		i = j
	}
	if err := fl.Close(); err != nil {
		t.Fatal(err)
	}
	if r.noLabelColumns {
		stripLabels(t, dir, r.id)
	}
	if r.noManif {
		return
	}
	c := &dataset.Counters{Seen: uint64(len(r.packets)), Recorded: uint64(len(r.packets))}
	if r.counters != nil {
		cc := *r.counters
		c = &cc
	}
	complete := true
	if r.complete != nil {
		complete = *r.complete
	}
	m := map[string]any{
		"tacap":          map[string]any{"version": "v0.test", "commit": "0000000", "bpf_object_sha256": "00"},
		"run_id":         r.id,
		"host":           r.host,
		"hook":           "tc",
		"kernel_release": "6.1.0-test",
		"start":          r.start.UTC(),
		"end":            r.start.Add(10 * time.Second).UTC(),
		"stop_reason":    "deadline",
		"parameters": map[string]any{"sessions": 1024, "packets_per_session": 100, "buffer_packets": 102400,
			"session_accept_restart": "5s", "session_packet_restart": "1s", "buffer_restart": "1s", "bidirectional": false},
		"counters":             c,
		"rows_written":         pk.Rows(),
		"recorded_not_written": int64(c.Recorded) - pk.Rows(),
		"sessions":             len(r.sessions),
		"files":                map[string]any{"packets": nonNil(pk.Files()), "sessions": nonNil(ss.Files())},
		"complete":             complete,
	}
	if r.flows != nil {
		m["flows"] = map[string]any{"written": fl.Rows(), "by_end_reason": byReason}
		m["files"].(map[string]any)["flows"] = nonNil(fl.Files())
		rules := defaultFlows
		if r.flowRules != nil {
			rules = *r.flowRules
		}
		params := m["parameters"].(map[string]any)
		params["flows"], params["flow_idle_timeout"], params["flow_active_timeout"] = 65536, rules.idle.String(), rules.active.String()
		c.FlowsStarted = uint64(len(r.flows))
	}
	if rules != nil {
		m["labels"] = map[string]any{"file": rules.Path, "sha256": rules.SHA256, "default": rules.Default, "rules": len(rules.Rules),
			"content": string(rules.Source)}
	}
	if r.pcap != "" {
		// A replay takes milliseconds; its packets keep the file's time.
		m["pcap"] = r.pcap
		m["pcap_file"] = map[string]any{"path": r.pcap, "bytes": 1000 + 100*len(r.packets), "frames": c.Seen}
		m["replay_cpu"] = 0
		m["hook"] = "replay (BPF_PROG_TEST_RUN of tacap_replay_batch, XDP)"
		m["stop_reason"] = "end of file"
		m["end"] = r.start.Add(20 * time.Millisecond).UTC()
	} else {
		m["interfaces"] = []string{r.iface}
		m["attach_modes"] = []string{"tcx"}
	}
	if r.edit != nil {
		r.edit(m)
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "_runs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "_runs", r.id+".json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// labelRows labels copies of a run's rows with rs, as capture does.
func labelRows(rs *labels.Rules, ps []dataset.Packet, ss []dataset.Session, fs []dataset.Flow) ([]dataset.Packet, []dataset.Session, []dataset.Flow) {
	m := labels.NewMatcher(rs)
	sc := m.NewScratch()
	tuple := func(src, dst string, proto, sport, dport int32) labels.Tuple {
		return labels.TupleOf(netip.MustParseAddr(src), netip.MustParseAddr(dst), uint8(proto), uint16(sport), uint16(dport))
	}
	ps, ss = slices.Clone(ps), slices.Clone(ss)
	if fs != nil {
		fs = slices.Clone(fs)
	}
	for i := range ps {
		p := &ps[i]
		tu := tuple(p.SrcIP, p.DstIP, p.Protocol, p.SrcPort, p.DstPort)
		m.LabelPacket(p, &tu, sc)
	}
	for i := range ss {
		s := &ss[i]
		tu := tuple(s.SrcIP, s.DstIP, s.Protocol, s.SrcPort, s.DstPort)
		m.LabelSession(s, &tu, false, sc) // the fixture's sessions hold one direction
	}
	for i := range fs {
		f := &fs[i]
		tu := tuple(f.SrcIP, f.DstIP, f.Protocol, f.SrcPort, f.DstPort)
		m.LabelFlow(f, &tu, sc)
	}
	return ps, ss, fs
}

// stripLabels rewrites every part of run id under dir without the label
// columns, as a tacap before labels wrote it (the rows are the same).
func stripLabels(t testing.TB, dir, id string) {
	t.Helper()
	for _, table := range []struct {
		name string
		rows func(path string) ([]any, reflect.Type, error)
	}{
		{dataset.PacketsTable, partRows[dataset.Packet]},
		{dataset.SessionsTable, partRows[dataset.Session]},
		{dataset.FlowsTable, partRows[dataset.Flow]},
	} {
		parts, _ := filepath.Glob(filepath.Join(dir, table.name, "*", "*", "part-*-"+id+".parquet"))
		for _, path := range parts {
			rows, typ, err := table.rows(path)
			if err != nil {
				t.Fatal(err)
			}
			var fields []reflect.StructField
			for i := 0; i < typ.NumField(); i++ {
				if f := typ.Field(i); !addedColumns[strings.Split(f.Tag.Get("parquet"), ",")[0]] {
					fields = append(fields, f)
				}
			}
			old := reflect.StructOf(fields)
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			w := parquet.NewWriter(f, parquet.SchemaOf(reflect.New(old).Interface()))
			for _, row := range rows {
				v, src := reflect.New(old).Elem(), reflect.ValueOf(row)
				for i, fd := range fields {
					v.Field(i).Set(src.FieldByName(fd.Name))
				}
				if err := w.Write(v.Interface()); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// partRows reads a part's rows as T.
func partRows[T any](path string) ([]any, reflect.Type, error) {
	rows, err := parquet.ReadFile[T](path)
	out := make([]any, len(rows))
	for i := range rows {
		out[i] = rows[i]
	}
	return out, reflect.TypeFor[T](), err
}

func nonNil(f []dataset.File) []dataset.File {
	if f == nil {
		return []dataset.File{}
	}
	return f
}

// pkt makes a packet row; the rest of the columns are plain defaults.
type pkt struct {
	t            time.Time
	src, dst     string
	proto        int32
	sport, dport int32
	flags        int32
	ipLen, gso   int32
	payload      int32 // TCP or UDP payload length
	icmpType     int32
	direction    string
}

func (p pkt) row() dataset.Packet {
	ver := int32(4)
	for _, c := range p.src {
		if c == ':' {
			ver = 6
		}
	}
	gso := p.gso
	if gso == 0 {
		gso = 1
	}
	dir := p.direction
	if dir == "" {
		dir = "ingress"
	}
	r := dataset.Packet{
		Ts: p.t.UnixMicro(), TsNs: p.t.UnixNano(), Iface: "eth0", Direction: dir, IPVersion: ver,
		SrcIP: p.src, DstIP: p.dst, Protocol: p.proto, SrcPort: p.sport, DstPort: p.dport,
		IPLen: p.ipLen, GSOSegs: gso, TTL: 64,
	}
	switch p.proto {
	case 6:
		r.TCPFlags = p.flags
		r.TCPPayloadLen = p.payload
		r.TCPWindow = 65535
	case 17:
		r.UDPPayloadLen = p.payload
	case 1, 58:
		r.ICMPType = p.icmpType
	}
	return r
}

func rows(ps ...pkt) []dataset.Packet {
	out := make([]dataset.Packet, len(ps))
	for i, p := range ps {
		out[i] = p.row()
	}
	return out
}

// sessionsOf derives the sessions table of some packets (every packet recorded).
func sessionsOf(ps []dataset.Packet) []dataset.Session {
	type key struct {
		s, d   string
		sp, dp int32
		p      int32
	}
	idx := map[key]int{}
	var out []dataset.Session
	for _, p := range ps {
		k := key{p.SrcIP, p.DstIP, p.SrcPort, p.DstPort, p.Protocol}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, dataset.Session{SrcIP: p.SrcIP, DstIP: p.DstIP, SrcPort: p.SrcPort, DstPort: p.DstPort, Protocol: p.Protocol,
				FirstTs: p.Ts, LastTs: p.Ts})
		}
		f := &out[i]
		f.FirstTs = min(f.FirstTs, p.Ts)
		f.LastTs = max(f.LastTs, p.Ts)
		f.PacketsRecorded++
		f.PacketsSeen++
		f.BytesRecorded += int64(p.IPLen)
		f.BytesSeen += int64(p.IPLen)
	}
	return out
}

var t0 = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

// at is t0 plus ms milliseconds.
func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// handshake is a client's complete TCP connection: SYN, SYN-ACK, ACK,
// a request and a reply, FIN both ways.
func handshake(ms int, client string, cport int32, server string, sport int32) []pkt {
	return []pkt{
		{t: at(ms), src: client, dst: server, proto: 6, sport: cport, dport: sport, flags: flagSYN, ipLen: 60},
		{t: at(ms + 1), src: server, dst: client, proto: 6, sport: sport, dport: cport, flags: flagSYN | flagACK, ipLen: 60, direction: "egress"},
		{t: at(ms + 2), src: client, dst: server, proto: 6, sport: cport, dport: sport, flags: flagACK, ipLen: 52},
		{t: at(ms + 3), src: client, dst: server, proto: 6, sport: cport, dport: sport, flags: flagACK | 0x08, ipLen: 152, payload: 100},
		{t: at(ms + 4), src: server, dst: client, proto: 6, sport: sport, dport: cport, flags: flagACK | 0x08, ipLen: 1452, payload: 1400, direction: "egress"},
		{t: at(ms + 5), src: client, dst: server, proto: 6, sport: cport, dport: sport, flags: flagACK | flagFIN, ipLen: 52},
		{t: at(ms + 6), src: server, dst: client, proto: 6, sport: sport, dport: cport, flags: flagACK | flagFIN, ipLen: 52, direction: "egress"},
	}
}

// flowRules are the flow table's timeouts and the run's end, for flowsOf.
type flowRules struct {
	idle, active time.Duration
	end          time.Time
}

// defaultFlows: capture's default timeouts, a run ending 10 s after t0.
var defaultFlows = flowRules{2 * time.Minute, 30 * time.Minute, t0.Add(10 * time.Second)}

// flowsOf makes the flows/ rows of some packets as docs/dataset.md
// ("flows/") defines them: recorded ones (rows of packets/) and others the
// sampling refused (unrecorded), in time order. It fills the columns the
// report reads and the simplest others; the nullable statistics stay null.
func flowsOf(recorded, unrecorded []dataset.Packet, fr flowRules) []dataset.Flow {
	type seen struct {
		p   dataset.Packet
		rec bool
	}
	var all []seen
	for _, p := range recorded {
		all = append(all, seen{p, true})
	}
	for _, p := range unrecorded {
		all = append(all, seen{p, false})
	}
	slices.SortStableFunc(all, func(a, b seen) int { return cmp.Compare(a.p.TsNs, b.p.TsNs) })
	type endpoint struct {
		ip   string
		port int32
	}
	type key struct {
		ver, proto int32
		a, b       endpoint // a ≤ b
	}
	var out []dataset.Flow
	open := map[key]int{}
	closed := map[int]bool{} // a FIN or RST was seen
	tcpHeader := func(p dataset.Packet) bool { return p.Protocol == 6 }
	for _, s := range all {
		p := s.p
		x, y := endpoint{p.SrcIP, p.SrcPort}, endpoint{p.DstIP, p.DstPort}
		if y.ip < x.ip || (y.ip == x.ip && y.port < x.port) {
			x, y = y, x
		}
		k := key{p.IPVersion, p.Protocol, x, y}
		i, ok := open[k]
		if ok {
			f := &out[i]
			reason := ""
			switch {
			case p.TsNs-f.LastTsNs > fr.idle.Nanoseconds():
				reason = dataset.FlowEndIdle
			case p.TsNs-f.FirstTsNs > fr.active.Nanoseconds():
				reason = dataset.FlowEndActive
			case tcpHeader(p) && p.TCPFlags&(flagSYN|flagACK) == flagSYN && closed[i]:
				reason = dataset.FlowEndReuse
			}
			if reason != "" {
				f.EndReason = reason
				ok = false
			}
		}
		if !ok {
			f := dataset.Flow{FlowID: int64(len(out) + 1), SrcIP: p.SrcIP, DstIP: p.DstIP, SrcPort: p.SrcPort, DstPort: p.DstPort,
				Protocol: p.Protocol, IPVersion: p.IPVersion, FirstTsNs: p.TsNs, LastTsNs: p.TsNs, LenMin: p.IPLen, LenMax: p.IPLen}
			if tcpHeader(p) && p.TCPFlags&(flagSYN|flagACK) == flagSYN|flagACK { // a SYN-ACK answers its receiver
				f.SrcIP, f.DstIP, f.SrcPort, f.DstPort = p.DstIP, p.SrcIP, p.DstPort, p.SrcPort
			}
			i = len(out)
			out = append(out, f)
			open[k] = i
		}
		f := &out[i]
		payload := int64(p.TCPPayloadLen + p.UDPPayloadLen)
		if p.SrcIP == f.SrcIP && p.SrcPort == f.SrcPort {
			f.FwdPackets++
			f.FwdBytes += int64(p.IPLen)
			f.FwdPayloadBytes += payload
		} else {
			f.BwdPackets++
			f.BwdBytes += int64(p.IPLen)
			f.BwdPayloadBytes += payload
		}
		f.LastTsNs = max(f.LastTsNs, p.TsNs)
		f.LenMin, f.LenMax = min(f.LenMin, p.IPLen), max(f.LenMax, p.IPLen)
		if s.rec {
			f.PacketsRecorded++
		}
		if tcpHeader(p) {
			fl := p.TCPFlags
			for _, c := range []struct {
				bit int32
				n   *int64
			}{{0x01, &f.FinCount}, {0x02, &f.SynCount}, {0x04, &f.RstCount}, {0x08, &f.PshCount}, {0x10, &f.AckCount}} {
				if fl&c.bit != 0 {
					*c.n++
				}
			}
			if fl&(flagFIN|flagRST) != 0 {
				closed[i] = true
			}
		}
	}
	for k, i := range open {
		if fr.end.UnixNano()-out[i].LastTsNs > fr.idle.Nanoseconds() {
			out[i].EndReason = dataset.FlowEndIdle
		} else {
			out[i].EndReason = dataset.FlowEndEnd
		}
		delete(open, k)
	}
	for i := range out {
		f := &out[i]
		f.FirstTs, f.LastTs = f.FirstTsNs/1000, f.LastTsNs/1000
		f.DurationUs = float64(f.LastTsNs-f.FirstTsNs) / 1000
		f.LenMean = float64(f.FwdBytes+f.BwdBytes) / float64(f.FwdPackets+f.BwdPackets)
	}
	return out
}

// flw is a flows/ row given by the figures the report reads.
type flw struct {
	src, dst         string
	sport, dport     int32
	proto            int32
	fwdP, bwdP       int64
	fwdB, bwdB       int64
	first, last      time.Time
	reason           string
	recorded, flowID int64
}

func (f flw) row() dataset.Flow {
	ver := int32(4)
	if strings.Contains(f.src, ":") {
		ver = 6
	}
	if f.last.IsZero() {
		f.last = f.first
	}
	if f.reason == "" {
		f.reason = dataset.FlowEndEnd
	}
	return dataset.Flow{FlowID: f.flowID, SrcIP: f.src, DstIP: f.dst, SrcPort: f.sport, DstPort: f.dport, Protocol: f.proto, IPVersion: ver,
		FirstTs: f.first.UnixMicro(), LastTs: f.last.UnixMicro(), FirstTsNs: f.first.UnixNano(), LastTsNs: f.last.UnixNano(),
		DurationUs: float64(f.last.Sub(f.first).Nanoseconds()) / 1000, EndReason: f.reason,
		FwdPackets: f.fwdP, BwdPackets: f.bwdP, FwdBytes: f.fwdB, BwdBytes: f.bwdB, PacketsRecorded: f.recorded}
}

// flowRows numbers the flows 1, 2, … (unless they have a flow_id).
func flowRows(fs ...flw) []dataset.Flow {
	out := make([]dataset.Flow, len(fs))
	for i, f := range fs {
		if f.flowID == 0 {
			f.flowID = int64(i + 1)
		}
		out[i] = f.row()
	}
	return out
}
