package test

// Every counter of the manifest against an independent count: each frame
// of a capture file decoded by gopacket (test/oracle) says recorded or
// which reason, and the sampling algorithm of docs/dataset.md ("Sampling"),
// replayed here on the file's own time, decides among the recordable ones.
// The same model, fed with tshark's decoding, gives the sessions table and the
// rows each session must have (sessions_test.go).

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tacap/tacap/dataset"
	"github.com/tacap/tacap/test/frames"
	"github.com/tacap/tacap/test/oracle"
	"github.com/tacap/tacap/test/testenv"
)

// sampleKey is the contract's directional session key.
type sampleKey struct {
	src, dst     netip.Addr
	sport, dport uint16
	proto, ipv   uint8
}

func (k sampleKey) String() string {
	return fmt.Sprintf("%s → %s proto %d", netip.AddrPortFrom(k.src, k.sport), netip.AddrPortFrom(k.dst, k.dport), k.proto)
}

func keyOf(f oracle.Fields) sampleKey {
	return sampleKey{f.Src, f.Dst, f.SrcPort, f.DstPort, f.Protocol, f.IPVersion}
}

// modelSession is one session instance of the model: the kernel's table entry
// and the figures its sessions/ row must show.
type modelSession struct {
	key                      sampleKey
	first, lastSeen, lastRec int64 // ns
	used                     uint32
	seen, bytesSeen          int64
	recorded, bytesRecorded  int64
	refused                  int64
	epoch                    int   // evictions that had happened when it was inserted
	rows                     []int // indexes (into the frames given to the model) of its recorded packets
	unsure                   string
}

// sampler is docs/dataset.md's pseudo-code, for one CPU and a file (no
// buffer ever fills: replay drains the ring whenever it is half full).
//
// The kernel's table is an LRU hash: once a full table accepts a new
// session, some entry is evicted, and which one the model cannot know (the
// LRU is approximate, with per-CPU free lists). From the first eviction on,
// a packet of a session inserted before the latest eviction makes the model
// unsure; inputs are chosen so that this does not happen, or the check is
// left uncompared, with the reason logged.
type sampler struct {
	max                int
	perSession         uint32
	acceptNs, packetNs int64
	// margin: a restart decision closer than this to its boundary makes
	// the session unsure (live traffic timed by another clock); 0 for files.
	margin int64

	tracked    int
	lastAccept int64
	table      map[sampleKey]*modelSession
	sessions   []*modelSession // in order of creation = of first record
	evictions  int
	unsure     string // why the model cannot tell from some point on
	counters   dataset.Counters
}

func newSampler(sessions int, perSession uint32, accept, packet time.Duration) *sampler {
	return &sampler{max: sessions, perSession: perSession, acceptNs: int64(accept), packetNs: int64(packet), table: map[sampleKey]*modelSession{}}
}

// within is the kernel's signed comparison: less than window from then to now.
func within(now, then, window int64) bool { return window != 0 && now-then < window }

// near reports a decision too close to call with the model's margin.
func (s *sampler) near(now, then, window int64) bool {
	if s.margin == 0 || window == 0 {
		return false
	}
	d := now - then - window
	return d > -s.margin && d < s.margin
}

// packet runs one recordable packet (index i of the model's input).
func (s *sampler) packet(i int, now int64, k sampleKey, ipLen uint32) (recorded bool) {
	s.counters.Seen++
	f := s.table[k]
	if f == nil {
		if s.tracked >= s.max {
			if s.near(now, s.lastAccept, s.acceptNs) && s.unsure == "" {
				s.unsure = fmt.Sprintf("packet %d: the accept restart is too close to call", i)
			}
			if within(now, s.lastAccept, s.acceptNs) {
				s.counters.SessionTableFull++
				return false
			}
			s.tracked = 0
		}
		if len(s.table) >= s.max || s.evictions > 0 {
			// The LRU evicts: from here on, no session inserted before
			// is known to be in the table.
			s.evictions++
		}
		f = &modelSession{key: k, first: now, lastSeen: now, lastRec: now, used: 1, seen: 1, bytesSeen: int64(ipLen),
			recorded: 1, bytesRecorded: int64(ipLen), epoch: s.evictions, rows: []int{i}}
		s.table[k] = f
		s.sessions = append(s.sessions, f)
		s.tracked++
		s.lastAccept = now
		s.counters.Recorded++
		return true
	}
	if f.epoch < s.evictions && s.unsure == "" {
		s.unsure = fmt.Sprintf("packet %d: its session %v may have been evicted from the full table", i, k)
	}
	f.seen++
	f.bytesSeen += int64(ipLen)
	if s.perSession > 0 && f.used >= s.perSession {
		if s.near(now, f.lastRec, s.packetNs) && f.unsure == "" {
			f.unsure = fmt.Sprintf("packet %d: the quota restart is too close to call", i)
		}
		if within(now, f.lastRec, s.packetNs) {
			f.refused++
			if now-f.lastSeen > 0 {
				f.lastSeen = now
			}
			s.counters.SessionQuota++
			return false
		}
		f.used = 0
	}
	f.used++
	f.lastRec = now
	if now-f.lastSeen > 0 {
		f.lastSeen = now
	}
	f.recorded++
	f.bytesRecorded += int64(ipLen)
	f.rows = append(f.rows, i)
	s.counters.Recorded++
	return true
}

// sessionRow is what the model says the session's sessions/ row holds in
// run runID.
func (f *modelSession) sessionRow(runID string) dataset.Session {
	return dataset.Session{
		RunID: runID,
		SrcIP: f.key.src.String(), DstIP: f.key.dst.String(), SrcPort: int32(f.key.sport), DstPort: int32(f.key.dport),
		Protocol: int32(f.key.proto), FirstTs: f.first / 1000, LastTs: max(f.lastSeen, f.lastRec) / 1000,
		PacketsRecorded: f.recorded, BytesRecorded: f.bytesRecorded, PacketsSeen: f.seen, BytesSeen: f.bytesSeen,
		QuotaLimited: f.refused > 0,
	}
}

// reasonOf maps the oracle's verdict on a frame tacap does not record to
// the counter it belongs to.
func reasonOf(res oracle.Result) (string, error) {
	for _, r := range []string{"not ip", "other protocol", "malformed", "truncated"} {
		if strings.HasSuffix(res.Reason, "("+r+")") {
			return strings.ReplaceAll(r, " ", "_"), nil
		}
	}
	if strings.HasPrefix(res.Reason, "more than 3 VLAN tags") {
		return "not_ip", nil
	}
	return "", fmt.Errorf("oracle reason %q names no counter", res.Reason)
}

// samplingArgs are the sampling flags of one replay, parsed back for the model.
type samplingArgs struct {
	sessions   int
	perSession uint32
	accept     time.Duration
	packet     time.Duration
}

func (a samplingArgs) flags() []string {
	return []string{"--sessions", fmt.Sprint(a.sessions), "--packets-per-session", fmt.Sprint(a.perSession),
		"--session-accept-restart", a.accept.String(), "--session-packet-restart", a.packet.String()}
}

func (a samplingArgs) model() *sampler {
	return newSampler(a.sessions, a.perSession, a.accept, a.packet)
}

// expectedCounters decodes path with gopacket and the model: the manifest
// counters and frame accounting tacap must report.
func expectedCounters(t *testing.T, path string, a samplingArgs) (dataset.Counters, dataset.PcapInfo, *sampler) {
	t.Helper()
	s := a.model()
	var c dataset.Counters
	info := dataset.PcapInfo{Unsupported: map[string]int64{}}
	n := 0
	for i, fr := range readCaptureFile(t, path) {
		info.Frames++
		switch {
		case !fr.supported:
			info.Unsupported[fmt.Sprintf("linktype %d", fr.linkType)]++
			continue
		case fr.short || len(fr.eth) < 14:
			info.ShortFrames++
			continue
		}
		c.Seen++
		res := oracle.Decode(fr.eth, fr.wireLen)
		switch res.Class {
		case oracle.Unsure:
			t.Fatalf("frame %d: the oracle cannot judge it (%s): no independent count", i+1, res.Reason)
		case oracle.Skip:
			reason, err := reasonOf(res)
			if err != nil {
				t.Fatalf("frame %d: %v", i+1, err)
			}
			switch reason {
			case "not_ip":
				c.NotIP++
			case "other_protocol":
				c.OtherProtocol++
			case "malformed":
				c.Malformed++
			case "truncated":
				c.Truncated++
			}
			continue
		}
		s.packet(n, fr.ns, keyOf(res.Fields), res.Fields.IPLen)
		n++
	}
	c.Recorded, c.SessionQuota, c.SessionTableFull = s.counters.Recorded, s.counters.SessionQuota, s.counters.SessionTableFull
	return c, info, s
}

// replay runs tacap over path with the sampling flags (CSV files on) into
// ds, which may already hold other runs.
func replay(t *testing.T, path, ds string, a samplingArgs) dataset.Manifest {
	t.Helper()
	tacap, _ := binaries(t)
	args := append([]string{"capture", "--pcap", path, "-o", ds, "-q"}, a.flags()...)
	out, err := exec.Command(tacap, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("tacap %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return manifestOf(t, ds, path)
}

// manifestOf returns the manifest of the run over path in ds.
func manifestOf(t *testing.T, ds, path string) dataset.Manifest {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(ds, "_runs", "*.json"))
	for _, p := range paths {
		var m dataset.Manifest
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if m.Pcap == path {
			return m
		}
	}
	t.Fatalf("no manifest of a run over %s in %s", path, ds)
	return dataset.Manifest{}
}

// checkCounters compares the manifest of a run over path with the
// independent count.
// packetCounters are c's packet counters, without the flow accounting
// (the sampling model counts packets; flows have their own oracle in
// flowstats_test.go).
func packetCounters(c dataset.Counters) dataset.Counters {
	c.FlowTableFull, c.FlowsStarted, c.FlowsLost, c.FlowLockTimeout = 0, 0, 0, 0
	return c
}

func checkCounters(t *testing.T, m dataset.Manifest, want dataset.Counters, info dataset.PcapInfo) {
	t.Helper()
	if packetCounters(m.Counters) != want {
		t.Errorf("manifest counters\n  %+v\nindependent count (gopacket + the sampling algorithm)\n  %+v", m.Counters, want)
	}
	if m.PcapInfo == nil {
		t.Fatal("no pcap_file in the manifest")
	}
	got := *m.PcapInfo
	if got.Frames != info.Frames || got.ShortFrames != info.ShortFrames || fmt.Sprint(got.Unsupported) != fmt.Sprint(info.Unsupported) {
		t.Errorf("pcap_file frames %d, short %d, unsupported %v; the file has %d, %d, %v",
			got.Frames, got.ShortFrames, got.Unsupported, info.Frames, info.ShortFrames, info.Unsupported)
	}
	if !m.Complete || m.RowsWritten != int64(m.Counters.Recorded) || m.Counters.Check() != nil {
		t.Errorf("manifest: complete %v, rows %d, recorded %d, %v", m.Complete, m.RowsWritten, m.Counters.Recorded, m.Counters.Check())
	}
}

// quotaArgs put every limit to work on the shared captures: a session
// records 10 packets per second, the table holds 64 sessions and, once
// full, stays full (a new session would evict an unknowable one).
var quotaArgs = samplingArgs{sessions: 64, perSession: 10, accept: 87600 * time.Hour, packet: time.Second}

// defaultAcceptArgs keep the default accept restart (5 s): files whose
// model never needs to know which session an eviction removed are
// compared exactly, the others are left uncompared (the reason logged).
var defaultAcceptArgs = samplingArgs{sessions: 64, perSession: 10, accept: 5 * time.Second, packet: time.Second}

// sharedCaptures lists the shared captures tacap reads.
func sharedCaptures(t *testing.T) []string {
	t.Helper()
	shared := testenv.SharedDir(t)
	files, _ := filepath.Glob(filepath.Join(shared, "pcaps", "*", "*.pcap*"))
	sort.Strings(files)
	var out []string
	for _, f := range files {
		if !unsupportedLinkTypes[filepath.Base(f)] {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no capture tacap reads under %s/pcaps", shared)
	}
	return out
}

// TestReplaySampling replays every shared capture with every limit at
// work, and the crafted captures below, and checks against independent
// computations:
//   - counters: every manifest counter (seen, recorded, not_ip,
//     other_protocol, malformed, truncated, session_table_full,
//     session_quota, buffer_full) and the frame accounting equal gopacket's
//     classification of each frame plus the sampling algorithm replayed on
//     file time;
//   - sessions: every column of every sessions/ row, in order, equals the same
//     algorithm fed with tshark's decoding, and the rows of packets/ are
//     exactly the packets the algorithm records, every column equal to
//     tshark's;
//   - csv: each per-flow CSV file is named after its session's first packet
//     and holds exactly its rows, equal to tshark's decoding and to
//     packets/.
func TestReplaySampling(t *testing.T) {
	testenv.Privileged(t)
	requireTshark(t)
	type input struct {
		name string
		path string
		args samplingArgs
	}
	var inputs []input
	for _, p := range sharedCaptures(t) {
		name := filepath.Base(filepath.Dir(p)) + "/" + filepath.Base(p)
		inputs = append(inputs, input{name + "/quota", p, quotaArgs}, input{name + "/accept-5s", p, defaultAcceptArgs})
	}
	dir := t.TempDir()
	every := filepath.Join(dir, "every-reason.pcap")
	writePcap(t, every, linkEthernet, everyReasonFrames())
	inputs = append(inputs, input{"crafted/every-reason", every, crafted.args})
	for _, link := range []uint32{linkSLL2, linkRaw} {
		p := filepath.Join(dir, fmt.Sprintf("every-reason-linktype-%d.pcap", link))
		writePcap(t, p, link, relink(t, everyReasonFrames(), link))
		inputs = append(inputs, input{fmt.Sprintf("crafted/every-reason-linktype-%d", link), p, crafted.args})
	}
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			want, info, s := expectedCounters(t, in.path, in.args)
			if s.unsure != "" {
				// By design, not for want of anything: the quota run of
				// the same file is compared.
				t.Logf("not compared: the model cannot tell without knowing the LRU's choice (%s)", s.unsure)
				return
			}
			ds := filepath.Join(t.TempDir(), "ds")
			m := replay(t, in.path, ds, in.args)
			t.Run("counters", func(t *testing.T) {
				checkCounters(t, m, want, info)
				t.Logf("%+v", m.Counters)
			})
			t.Run("sessions", func(t *testing.T) { checkSessionsAgainstTshark(t, ds, m, in.path, in.args) })
		})
	}
}

// crafted is the hand-worked expectation of everyReasonFrames, which also
// proves the model right.
var crafted = struct {
	args     samplingArgs
	counters dataset.Counters
	sessions int
	short    int64
}{
	args: samplingArgs{sessions: 4, perSession: 10, accept: 5 * time.Second, packet: time.Second},
	counters: dataset.Counters{Seen: 21 + 5 + 4 + 3 + 4 + 7 + 6, Recorded: 21, NotIP: 3, OtherProtocol: 4, Malformed: 7, Truncated: 6,
		SessionTableFull: 4, SessionQuota: 5},
	sessions: 9,
	short:    1,
}

var (
	hostA  = netip.MustParseAddr("198.18.20.1")
	hostB  = netip.MustParseAddr("198.18.20.2")
	hostA6 = netip.MustParseAddr("2001:db8:20::1")
	hostB6 = netip.MustParseAddr("2001:db8:20::2")
	macA   = [6]byte{2, 0, 0, 0, 0x20, 1}
	macB   = [6]byte{2, 0, 0, 0, 0x20, 2}
)

// everyReasonFrames is an Ethernet capture with every reason not to record
// a packet, interleaved with sessions that run into the quota, its restart,
// the full table and its accept restart (sessions 4, quota 10, restarts 1 s
// and 5 s):
//
//	X: 15 packets 10 ms apart        10 recorded, 5 session_quota
//	Y, Z, W: one packet each          3 recorded: the table is full
//	V: 2 packets at 1 s               2 session_table_full (within 5 s of W)
//	X: 3 packets at 1.5 s             3 recorded (1 s after its last record)
//	U at 7 s                          accepted: 5 s after the last accept
//	T, S, R at 7.1 s … 7.3 s          recorded: the table counts anew
//	Q: 2 packets at 7.4 s             2 session_table_full
//	P at 12.4 s                       accepted again
//
// Every session's last packet is recorded and none is seen again after an
// eviction, so which one the LRU evicts changes nothing.
func everyReasonFrames() []capFrame {
	base := int64(1_700_000_000_000_000_000)
	var out []capFrame
	at := func(ms int64, data []byte) {
		out = append(out, capFrame{ns: base + ms*1_000_000 + int64(len(out)), data: data})
	}
	eth := func(l ...frames.Layer) []byte {
		return frames.Build(append([]frames.Layer{frames.Ether{Dst: macB, Src: macA}}, l...)...)
	}
	ip4 := frames.IPv4{Src: hostA, Dst: hostB, TTL: 64}
	ip6 := frames.IPv6{Src: hostA6, Dst: hostB6, HopLimit: 64}
	udp := func(sport uint16) []byte { return eth(ip4, frames.UDP{SrcPort: sport, DstPort: 53}, frames.Zeros(20)) }
	cut := func(b []byte, n int) []byte { return b[:n] }

	// Not recorded, one of each (3 not_ip, 4 other_protocol, 7 malformed, 6 truncated).
	rest := [][]byte{
		frames.Build(frames.Ether{Dst: macB, Src: macA, Type: frames.TypeARP}, frames.Zeros(28)),
		frames.Build(frames.Ether{Dst: macB, Src: macA, Type: 0x88cc}, frames.Zeros(40)), // LLDP
		eth(frames.VLAN{ID: 1}, frames.VLAN{ID: 2}, frames.VLAN{ID: 3}, frames.VLAN{ID: 4}, ip4, frames.UDP{SrcPort: 1, DstPort: 2}),
		eth(ip4, frames.Opaque{Proto: 47, Bytes: make([]byte, 24)}),  // GRE
		eth(ip4, frames.Opaque{Proto: 50, Bytes: make([]byte, 24)}),  // ESP
		eth(ip6, frames.Opaque{Proto: 132, Bytes: make([]byte, 24)}), // SCTP
		eth(ip6, frames.IPv6Ext{Type: 60}, frames.IPv6Ext{Type: 60}, frames.IPv6Ext{Type: 60}, frames.IPv6Ext{Type: 60},
			frames.IPv6Ext{Type: 60}, frames.IPv6Ext{Type: 60}, frames.IPv6Ext{Type: 60}, frames.IPv6Ext{Type: 60},
			frames.IPv6Ext{Type: 60}, frames.UDP{SrcPort: 1, DstPort: 2}), // nine extension headers
		eth(frames.IPv4{Src: hostA, Dst: hostB, TTL: 64, IHL: 4}, frames.UDP{SrcPort: 1, DstPort: 2}),
		eth(frames.IPv4{Src: hostA, Dst: hostB, TTL: 64, TotalLen: 12}, frames.UDP{SrcPort: 1, DstPort: 2}),
		eth(frames.IPv4{Src: hostA, Dst: hostB, TTL: 64, Version: 6}, frames.UDP{SrcPort: 1, DstPort: 2}),
		eth(ip4, frames.TCP{SrcPort: 1, DstPort: 2, DataOffset: 3}),
		eth(ip4, frames.TCP{SrcPort: 1, DstPort: 2, DataOffset: 15}), // beyond the IP payload
		eth(ip4, frames.UDP{SrcPort: 1, DstPort: 2, Length: 4}),
		eth(frames.IPv6{Src: hostA6, Dst: hostB6, HopLimit: 64, PayloadLen: 8}, frames.IPv6Ext{Type: 60, Len: 16}, frames.UDP{SrcPort: 1, DstPort: 2}),
		cut(eth(ip4, frames.UDP{SrcPort: 1, DstPort: 2}), 14+10),                    // inside the IPv4 header
		cut(eth(ip4, frames.TCP{SrcPort: 1, DstPort: 2}), 14+20+10),                 // inside the TCP header
		cut(eth(ip4, frames.UDP{SrcPort: 1, DstPort: 2}), 14+20+4),                  // inside the UDP header
		cut(eth(ip4, frames.ICMP{Type: 8}), 14+20+2),                                // inside the ICMP header
		cut(eth(frames.VLAN{ID: 5}, ip4, frames.UDP{SrcPort: 1, DstPort: 2}), 14+2), // inside the VLAN tag
		cut(eth(ip6, frames.UDP{SrcPort: 1, DstPort: 2}), 14+30),                    // inside the IPv6 header
	}
	for i, b := range rest {
		at(int64(i)*3, b)
	}
	at(5, []byte{1, 2, 3, 4, 5, 6, 7, 8}) // shorter than an Ethernet header: never given to the program

	for i := int64(0); i < 15; i++ {
		at(i*10, udp(1000)) // X
	}
	at(200, udp(1001)) // Y
	at(210, udp(1002)) // Z
	at(220, udp(1003)) // W
	at(1000, udp(1004))
	at(1001, udp(1004)) // V
	for i := int64(0); i < 3; i++ {
		at(1500+i*10, udp(1000)) // X again
	}
	at(7000, udp(1005)) // U
	at(7100, eth(ip6, frames.UDP{SrcPort: 1006, DstPort: 53}, frames.Zeros(20)))
	at(7200, eth(ip4, frames.TCP{SrcPort: 1007, DstPort: 80, Flags: frames.SYN, Window: 1000}))
	at(7300, eth(ip4, frames.ICMP{Type: 8}))
	at(7400, udp(1008))
	at(7401, udp(1008)) // Q
	at(12400, udp(1009))
	sort.SliceStable(out, func(i, j int) bool { return out[i].ns < out[j].ns })
	return out
}

// relink rewrites Ethernet frames for another link type (SLL2 or raw IP):
// the frame accounting differs (a raw-IP file has no non-IP frames to
// speak of: their EtherType is lost), the rest must not.
func relink(t *testing.T, in []capFrame, link uint32) []capFrame {
	t.Helper()
	var out []capFrame
	for _, f := range in {
		g := f
		switch {
		case len(f.data) < 14:
			g.data = f.data[:min(len(f.data), 3)] // still too short for the link header
			if link == linkRaw {
				g.data = nil
			}
		case link == linkSLL2:
			et := uint16(f.data[12])<<8 | uint16(f.data[13])
			g.data = sll2Header(pktHost, et, f.data[14:])
		case link == linkRaw:
			et := uint16(f.data[12])<<8 | uint16(f.data[13])
			if et != frames.TypeIPv4 && et != frames.TypeIPv6 {
				continue // no way to say "not IP" in a raw IP file but a bad version
			}
			g.data = f.data[14:]
		}
		out = append(out, g)
	}
	return out
}

// TestSamplingModelOnCraftedFile checks the test's own model against the
// hand-worked figures of everyReasonFrames, so that the independent count
// is not merely a second copy of a mistake.
func TestSamplingModelOnCraftedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "every-reason.pcap")
	writePcap(t, path, linkEthernet, everyReasonFrames())
	got, info, s := expectedCounters(t, path, crafted.args)
	if got != crafted.counters || info.ShortFrames != crafted.short || len(s.sessions) != crafted.sessions || s.unsure != "" {
		t.Fatalf("model: %+v, %d short, %d sessions (%s); by hand: %+v, %d short, %d sessions",
			got, info.ShortFrames, len(s.sessions), s.unsure, crafted.counters, crafted.short, crafted.sessions)
	}
	x := s.sessions[0].sessionRow("")
	if x.PacketsRecorded != 13 || x.PacketsSeen != 18 || !x.QuotaLimited || x.LastTs-x.FirstTs != 1_520_000 {
		t.Fatalf("session X: %+v", x)
	}
	for _, f := range s.sessions[1:] {
		if r := f.sessionRow(""); r.PacketsRecorded != 1 || r.PacketsSeen != 1 || r.QuotaLimited {
			t.Fatalf("session %+v: want one packet, recorded", r)
		}
	}
}

// TestReportAddsUpRuns replays several captures into one folder (the
// crafted one, a quota run and a run with quotas off) and checks that
// `tacap report` adds up the counters of the runs: seen, recorded and every
// reason equal the sum of the independent counts, and each run's own
// counters are its manifest's.
func TestReportAddsUpRuns(t *testing.T) {
	testenv.Privileged(t)
	files := sharedCaptures(t)
	tacap, _ := binaries(t)
	dir := t.TempDir()
	ds := filepath.Join(dir, "ds")
	every := filepath.Join(dir, "every-reason.pcap")
	writePcap(t, every, linkEthernet, everyReasonFrames())
	pick := func(name string) string {
		for _, f := range files {
			if strings.HasSuffix(f, name) {
				return f
			}
		}
		t.Fatalf("shared capture %s missing", name)
		return ""
	}
	runs := []struct {
		path string
		args samplingArgs
	}{
		{every, crafted.args},
		{pick("attack/CIC-DDoS-2019-SynFlood.pcap"), quotaArgs},
		{pick("normal/sv_base64-decode-5885_browsing_tls.pcap"), quotaArgs},
		{pick("tricky/gre-sample.pcap"), samplingArgs{sessions: 1024, perSession: 0, accept: 5 * time.Second, packet: time.Second}},
	}
	var sum dataset.Counters
	perRun := map[string]dataset.Counters{}
	for _, r := range runs {
		want, _, s := expectedCounters(t, r.path, r.args)
		if s.unsure != "" {
			t.Fatalf("%s: %s", r.path, s.unsure)
		}
		m := replay(t, r.path, ds, r.args)
		if packetCounters(m.Counters) != want {
			t.Fatalf("%s: manifest counters %+v, independent count %+v", r.path, m.Counters, want)
		}
		perRun[m.RunID] = want
		sum.Seen += want.Seen
		sum.Recorded += want.Recorded
		sum.NotIP += want.NotIP
		sum.OtherProtocol += want.OtherProtocol
		sum.Malformed += want.Malformed
		sum.Truncated += want.Truncated
		sum.SessionTableFull += want.SessionTableFull
		sum.SessionQuota += want.SessionQuota
		sum.BufferFull += want.BufferFull
	}
	if sum.SessionQuota == 0 || sum.SessionTableFull == 0 || sum.NotIP == 0 || sum.OtherProtocol == 0 || sum.Malformed == 0 || sum.Truncated == 0 {
		t.Fatalf("the runs leave a reason at 0: %+v", sum)
	}
	r := reportJSON(t, tacap, ds)
	a := r.Accounting
	if a.Runs != len(runs) || a.Seen != sum.Seen || a.Recorded != sum.Recorded || a.NotRecorded != sum.Seen-sum.Recorded {
		t.Errorf("report accounting: %d runs, seen %d, recorded %d, not recorded %d; the runs add up to %d, %d, %d, %d",
			a.Runs, a.Seen, a.Recorded, a.NotRecorded, len(runs), sum.Seen, sum.Recorded, sum.Seen-sum.Recorded)
	}
	wantReasons := sum.Reasons()
	if len(a.Reasons) != len(wantReasons) {
		t.Fatalf("report lists %d reasons, the contract %d", len(a.Reasons), len(wantReasons))
	}
	for i, w := range wantReasons {
		if g := a.Reasons[i]; g.Reason != w.Name || g.Packets != w.Count {
			t.Errorf("report reason %d: %s %d; the runs add up to %s %d", i, g.Reason, g.Packets, w.Name, w.Count)
		}
	}
	for _, run := range r.Runs {
		if want, ok := perRun[run.RunID]; !ok || run.Counters == nil || packetCounters(*run.Counters) != want {
			t.Errorf("run %s in the report: counters %+v, independent count %+v", run.RunID, run.Counters, want)
		}
	}
	t.Logf("%d runs add up to %+v", len(runs), sum)
}

// TestSessionTableHoldsItsSize replays N sessions twice over with
// --sessions N: the table must hold all N, so that every packet is
// recorded, none is refused as session_table_full, and there are N sessions.
//
// Known bug (so skipped unless TACAP_KNOWN_BUGS=1): the kernel's LRU hash
// hands out free entries to each CPU in batches of
// clamp(N / possible CPUs / 2, 1, 128) and, when the last batch comes up
// short, evicts tracked sessions to fill it, before the table holds N
// entries. With 2 possible CPUs, --sessions 70 loses 15 sessions, 1000
// loses 24, 1030 loses 122; 64, 100, 200 and the default 1024 lose none.
// tacap's own count (`tracked`) then says the table is full while it is
// not, and the evicted sessions' next packets are refused as
// session_table_full (or start a new session once the accept restart passed).
func TestSessionTableHoldsItsSize(t *testing.T) {
	testenv.Privileged(t)
	check := func(t *testing.T, n int) {
		var fr []capFrame
		base := int64(1_700_000_000_000_000_000)
		for round := 0; round < 2; round++ {
			for i := 0; i < n; i++ {
				d := frames.Build(frames.Ether{Dst: macB, Src: macA}, frames.IPv4{Src: hostA, Dst: hostB, TTL: 64},
					frames.UDP{SrcPort: uint16(10000 + i), DstPort: 53}, frames.Zeros(10))
				fr = append(fr, capFrame{ns: base + int64(len(fr))*1000, data: d})
			}
		}
		p := filepath.Join(t.TempDir(), "sessions.pcap")
		writePcap(t, p, linkEthernet, fr)
		m := replay(t, p, filepath.Join(t.TempDir(), "ds"), samplingArgs{sessions: n, perSession: 0, accept: time.Hour, packet: time.Second})
		if m.Counters.Recorded != uint64(2*n) || m.Counters.SessionTableFull != 0 || m.Sessions != int64(n) {
			t.Errorf("a table of %d sessions, %d sessions twice: recorded %d, session_table_full %d, %d sessions; want %d, 0, %d",
				n, n, m.Counters.Recorded, m.Counters.SessionTableFull, m.Sessions, 2*n, n)
		}
	}
	for _, n := range []int{64, 100, 1024} {
		t.Run(fmt.Sprint(n), func(t *testing.T) { check(t, n) })
	}
	t.Run("known bug", func(t *testing.T) {
		if os.Getenv("TACAP_KNOWN_BUGS") != "1" {
			t.Skip("skipped: sizes 70, 1000 and 1030 fail (known bug: the LRU table evicts before it holds --sessions entries); TACAP_KNOWN_BUGS=1 runs them")
		}
		for _, n := range []int{70, 1000, 1030} {
			t.Run(fmt.Sprint(n), func(t *testing.T) { check(t, n) })
		}
	})
}
