package lucid

// acks turns raw TCP acknowledgment numbers into Wireshark's relative ones
// (what LUCID's parser reads as tcp.ack): the acknowledged sequence number
// minus the base of the peer's direction — its initial sequence number
// when its SYN was recorded, else the first sequence number recorded from
// it, else (the peer was never recorded) the acknowledgment number minus
// one, as Wireshark does for a one-sided capture. Packets without ACK have
// 0. It remembers a base per direction of each TCP connection, up to
// maxBases of them (then it starts afresh: a spoofed flood must not grow it
// without bound).
type acks struct {
	bases map[dirKey]uint32
}

const maxBases = 1 << 22

// dirKey is one direction of a TCP connection: sender, then receiver.
type dirKey struct {
	src, dst     uint32 // interned addresses
	sport, dport int32
}

func newAcks() *acks { return &acks{bases: map[dirKey]uint32{}} }

const (
	tcpSYN = 0x02
	tcpACK = 0x10
)

// relative is row r's relative acknowledgment number; it also learns r's
// own direction's base.
func (a *acks) relative(r *Row) uint32 {
	if r.Protocol != 6 {
		return 0
	}
	if len(a.bases) >= maxBases {
		clear(a.bases)
	}
	own := dirKey{r.src, r.dst, r.SrcPort, r.DstPort}
	if _, ok := a.bases[own]; !ok || r.TCPFlags&tcpSYN != 0 {
		a.bases[own] = uint32(r.TCPSeq)
	}
	if r.TCPFlags&tcpACK == 0 {
		return 0
	}
	peer := dirKey{r.dst, r.src, r.DstPort, r.SrcPort}
	base, ok := a.bases[peer]
	if !ok {
		base = uint32(r.TCPAck) - 1
		a.bases[peer] = base
	}
	return uint32(r.TCPAck) - base
}
