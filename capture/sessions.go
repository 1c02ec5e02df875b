package capture

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"sort"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/dataset"
	"github.com/tacap/tacap/labels"
)

// sessionKey identifies one session instance: its canonical key (as the
// kernel's session table keys it) and the time it was first seen, so a
// session evicted and tracked again is a new instance.
type sessionKey struct {
	a, b     [16]byte
	pa, pb   uint16
	proto    uint8
	ipv      uint8
	firstMon uint64
}

// session is one session instance: a row of sessions/.
type session struct {
	id             uint64
	csvName        string
	src, dst       string
	srcPort        int32
	dstPort        int32
	proto          int32
	firstSeenMono  uint64
	lastSeenMono   uint64
	lastRecordedNs int64 // wall
	firstRecNs     int64 // wall
	pktsRecorded   int64
	bytesRecorded  int64
	pktsSeen       int64
	bytesSeen      int64
	quotaRefused   int64
	tuple          labels.Tuple // as its first recorded packet
}

// sessions aggregates records into session instances (docs/dataset.md,
// "sessions/").
type sessions struct {
	bidirectional bool
	byKey         map[sessionKey]*session
	last          *session
	lastKey       sessionKey
	nextID        uint64
}

func newSessions(bidirectional bool) *sessions {
	return &sessions{bidirectional: bidirectional, byKey: map[sessionKey]*session{}}
}

func canonical(a [16]byte, pa uint16, b [16]byte, pb uint16, bidir bool) ([16]byte, uint16, [16]byte, uint16) {
	if bidir {
		c := bytes.Compare(a[:], b[:])
		if c > 0 || (c == 0 && pa > pb) {
			return b, pb, a, pa
		}
	}
	return a, pa, b, pb
}

// add accounts one record (already converted to row) and returns its
// session instance; isNew reports the instance's first record in this run.
func (ss *sessions) add(r *bpf.Record, row *dataset.Packet) (f *session, isNew bool) {
	var k sessionKey
	k.a, k.pa, k.b, k.pb = canonical(r.SrcAddr, r.SrcPort, r.DstAddr, r.DstPort, ss.bidirectional)
	k.proto, k.ipv, k.firstMon = r.Protocol, r.IpVersion, r.SessFirstNs
	if ss.last != nil && k == ss.lastKey {
		f = ss.last
	} else if f = ss.byKey[k]; f == nil {
		ss.nextID++
		f = &session{
			id: ss.nextID, src: row.SrcIP, dst: row.DstIP, srcPort: row.SrcPort, dstPort: row.DstPort,
			proto: row.Protocol, firstSeenMono: r.SessFirstNs, firstRecNs: row.TsNs, tuple: recordTuple(r),
		}
		f.csvName = dataset.CSVName(row.SrcIP, row.SrcPort, row.DstIP, row.DstPort, row.TsNs)
		ss.byKey[k] = f
		isNew = true
	}
	ss.last, ss.lastKey = f, k
	f.pktsRecorded++
	f.bytesRecorded += int64(row.IPLen)
	f.lastRecordedNs = row.TsNs
	// The record carries its session's running figures: keep the latest.
	if int64(r.SessPacketsSeen) > f.pktsSeen {
		f.pktsSeen, f.bytesSeen = int64(r.SessPacketsSeen), int64(r.SessBytesSeen)
	}
	if int64(r.SessQuotaRefused) > f.quotaRefused {
		f.quotaRefused = int64(r.SessQuotaRefused)
	}
	if r.TsNs > f.lastSeenMono {
		f.lastSeenMono = r.TsNs
	}
	return f, isNew
}

// settle takes the final figures of sessions still in the kernel's table.
func (ss *sessions) settle(key bpf.SessionKey, s bpf.Session) {
	var k sessionKey
	k.a, k.pa, k.b, k.pb = canonical(key.AddrA, key.PortA, key.AddrB, key.PortB, ss.bidirectional)
	k.proto, k.ipv, k.firstMon = key.Protocol, key.IpVersion, s.FirstNs
	f := ss.byKey[k]
	if f == nil {
		return // no packet of it was recorded: not a session of the dataset
	}
	f.pktsSeen, f.bytesSeen = int64(s.PacketsSeen), int64(s.BytesSeen)
	f.quotaRefused = int64(s.QuotaRefused)
	if s.LastSeenNs > f.lastSeenMono {
		f.lastSeenMono = s.LastSeenNs
	}
}

// rows returns the sessions table of run runID, ordered by first packet,
// labelled by l; wall converts the kernel's monotonic times.
func (ss *sessions) rows(runID string, wall func(uint64) int64, l *labeller) []dataset.Session {
	out := make([]dataset.Session, 0, len(ss.byKey))
	all := make([]*session, 0, len(ss.byKey))
	for _, f := range ss.byKey {
		all = append(all, f)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].id < all[j].id })
	for _, f := range all {
		last := wall(f.lastSeenMono)
		if last < f.lastRecordedNs {
			last = f.lastRecordedNs
		}
		out = append(out, dataset.Session{
			RunID: runID,
			SrcIP: f.src, DstIP: f.dst, SrcPort: f.srcPort, DstPort: f.dstPort, Protocol: f.proto,
			FirstTs: wall(f.firstSeenMono) / 1000, LastTs: last / 1000,
			PacketsRecorded: f.pktsRecorded, BytesRecorded: f.bytesRecorded,
			PacketsSeen: max(f.pktsSeen, f.pktsRecorded), BytesSeen: max(f.bytesSeen, f.bytesRecorded),
			QuotaLimited: f.quotaRefused > 0,
		})
		l.m.LabelSession(&out[len(out)-1], &f.tuple, ss.bidirectional, l.sc)
	}
	return out
}

// addrText formats addresses, remembering recent ones: a capture sees the
// same few addresses over and over. A small direct-mapped cache sits in
// front of the map: a hit costs a multiply and a compare, not hashing the
// key for the map (28 ns a lookup in the flood's profile).
type addrText struct {
	m   map[[17]byte]string
	hot *[addrHot]addrEntry
}

type addrEntry struct {
	key  [17]byte
	used bool
	text string
}

// addrHot is the direct-mapped cache's size.
const (
	addrHotBits = 12
	addrHot     = 1 << addrHotBits
)

func newAddrText() *addrText {
	return &addrText{m: make(map[[17]byte]string, 1024), hot: new([addrHot]addrEntry)}
}

func (t *addrText) text(b [16]byte, version uint8) string {
	var k [17]byte
	copy(k[:16], b[:])
	k[16] = version
	lo, hi := binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])
	h := (lo*0x9e3779b97f4a7c15 ^ hi*0xc2b2ae3d27d4eb4f ^ uint64(version)) * 0xff51afd7ed558ccd
	e := &t.hot[h>>(64-addrHotBits)]
	if e.used && e.key == k {
		return e.text
	}
	s, ok := t.m[k]
	if !ok {
		if version == 4 {
			s = netip.AddrFrom4([4]byte(b[:4])).String()
		} else {
			s = netip.AddrFrom16(b).String()
		}
		if len(t.m) >= 1<<20 { // spoofed floods: keep memory bounded
			clear(t.m)
		}
		t.m[k] = s
	}
	*e = addrEntry{key: k, used: true, text: s}
	return s
}

// count is the number of session instances so far.
func (ss *sessions) count() int { return len(ss.byKey) }
