package capture

import (
	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/dataset"
	"github.com/tacap/tacap/labels"
)

// converter turns records into rows and sessions; it runs on the run's
// goroutine and owns its tables.
type converter struct {
	wall       func(uint64) int64
	names      func(uint32) string
	ifName     map[uint32]string // cache of names
	lastIf     uint32            // the last record's interface, and its name
	lastIfName string
	haveIf     bool
	addrs      *addrText
	runID      string
	sessions   *sessions
	labels     *labeller
	badRecords int
	// into is the batch fill appends to, and add the callback the ring
	// calls, made once so a drain allocates nothing.
	into *batch
	add  func(*bpf.Record)
}

func newConverter(src source, bidirectional bool, runID string, m *labels.Matcher) *converter {
	c := &converter{wall: src.wall, names: src.ifName, ifName: map[uint32]string{}, addrs: newAddrText(),
		sessions: newSessions(bidirectional), runID: runID, labels: newLabeller(m)}
	c.add = c.addRecord
	return c
}

var directionName = [...]string{bpf.DirectionUnknown: "unknown", bpf.DirectionIngress: "ingress", bpf.DirectionEgress: "egress"}

func (c *converter) row(r *bpf.Record, p *dataset.Packet) {
	ns := c.wall(r.TsNs)
	p.Ts = ns / 1000
	p.TsNs = ns
	if !c.haveIf || r.Ifindex != c.lastIf {
		name, ok := c.ifName[r.Ifindex]
		if !ok {
			name = c.names(r.Ifindex)
			c.ifName[r.Ifindex] = name
		}
		c.lastIf, c.lastIfName, c.haveIf = r.Ifindex, name, true
	}
	p.Iface = c.lastIfName
	p.Direction = "unknown"
	if int(r.Direction) < len(directionName) {
		p.Direction = directionName[r.Direction]
	}
	p.VlanID = int32(r.VlanId)
	p.IPVersion = int32(r.IpVersion)
	p.SrcIP = c.addrs.text(r.SrcAddr, r.IpVersion)
	p.DstIP = c.addrs.text(r.DstAddr, r.IpVersion)
	p.Protocol = int32(r.Protocol)
	p.SrcPort = int32(r.SrcPort)
	p.DstPort = int32(r.DstPort)
	p.IPLen = int32(r.IpLen)
	p.GSOSegs = int32(r.GsoSegs)
	p.IPFlagsFrag = int32(r.IpFlagsFrag)
	p.TTL = int32(r.Ttl)
	p.TCPPayloadLen = int32(r.TcpPayloadLen)
	p.TCPSeq = int64(r.TcpSeq)
	p.TCPAck = int64(r.TcpAck)
	p.TCPFlags = int32(r.TcpFlags)
	p.TCPWindow = int32(r.TcpWindow)
	p.UDPPayloadLen = int32(r.UdpPayloadLen)
	p.ICMPType = int32(r.IcmpType)
	p.ICMPCode = int32(r.IcmpCode)
	p.RunID = c.runID
	p.FlowID = int64(r.FlowId)
	t := recordTuple(r)
	c.labels.m.LabelPacket(p, &t, c.labels.sc)
	c.labels.count(p.Label)
}

// labeller is a matcher with its working space, for one goroutine, and
// the rows it labelled, by label.
type labeller struct {
	m       *labels.Matcher
	sc      *labels.Scratch
	byLabel map[string]int64
	last    string
	lastN   int64 // rows of last not yet in byLabel
}

func newLabeller(m *labels.Matcher) *labeller {
	return &labeller{m: m, sc: m.NewScratch(), byLabel: map[string]int64{}}
}

// count adds one row of label l (consecutive rows mostly share it).
func (l *labeller) count(label string) {
	if label != l.last {
		l.flushCount()
		l.last = label
	}
	l.lastN++
}

func (l *labeller) flushCount() {
	if l.lastN > 0 {
		l.byLabel[l.last] += l.lastN
		l.lastN = 0
	}
}

// rows are the rows counted, by label.
func (l *labeller) rows() map[string]int64 {
	l.flushCount()
	return l.byLabel
}

func recordTuple(r *bpf.Record) labels.Tuple {
	return labels.Tuple{Src: r.SrcAddr, Dst: r.DstAddr, V6: r.IpVersion == 6, Proto: r.Protocol,
		Sport: r.SrcPort, Dport: r.DstPort}
}

// batchRows is the most rows a batch holds.
const batchRows = 8192

// fill drains up to max records from the ring into b.
func (c *converter) fill(k kernel, b *batch, max int) int {
	c.into = b
	n, bad := k.Drain(max, c.add)
	c.into = nil
	c.badRecords += bad
	return n
}

func (c *converter) addRecord(r *bpf.Record) {
	b := c.into
	b.rows = append(b.rows, dataset.Packet{})
	p := &b.rows[len(b.rows)-1]
	c.row(r, p)
	f, isNew := c.sessions.add(r, p)
	b.sessionIDs = append(b.sessionIDs, f.id)
	if isNew {
		b.newSessions = append(b.newSessions, newSession{f.id, f.csvName})
	}
}
