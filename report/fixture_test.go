package report

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tacap/tacap/capture/sink"
	"github.com/tacap/tacap/dataset"
)

// The report's tests build their datasets with tacap's own writer (the
// capture/sink package), so the files have exactly the encodings of a real
// capture, and a manifest shaped like capture's.

type fixtureRun struct {
	id, host   string
	iface      string
	pcap       string
	start      time.Time
	packets    []dataset.Packet
	sessions   []dataset.Session
	counters   *dataset.Counters // nil: seen = recorded = rows
	noSessions bool              // write no sessions file
	noManif    bool              // write no manifest (a killed capture)
	complete   *bool
	// rowGroupRows and partRows cap the row groups and part files of both
	// tables (0: the writer's defaults).
	rowGroupRows, partRows int64
	// edit changes the manifest before it is written.
	edit func(m map[string]any)
}

// writeRun writes one run into the dataset folder dir.
func writeRun(t testing.TB, dir string, r fixtureRun) {
	t.Helper()
	day := r.start.UTC().Format("2006-01-02")
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
	if r.noManif {
		return
	}
	c := r.counters
	if c == nil {
		n := uint64(len(r.packets))
		c = &dataset.Counters{Seen: n, Recorded: n}
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
