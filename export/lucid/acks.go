package lucid

// acks turns raw TCP acknowledgment numbers into Wireshark's relative ones
// (what LUCID's parser reads as tcp.ack): the acknowledged sequence number
// minus the base of the peer's direction — its initial sequence number
// when its SYN was recorded, else the first sequence number recorded from
// it minus one, else (the peer was never recorded) the acknowledgment
// number minus one, as Wireshark does. Packets without ACK keep the field
// as it is (tshark shows it so). It remembers a base per direction of each TCP connection, up to
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
	switch _, ok := a.bases[own]; {
	case r.TCPFlags&tcpSYN != 0:
		a.bases[own] = uint32(r.TCPSeq) // the initial sequence number
	case !ok:
		a.bases[own] = uint32(r.TCPSeq) - 1 // Wireshark, without the SYN: the first seq − 1
	}
	if r.TCPFlags&tcpACK == 0 {
		return uint32(r.TCPAck) // tshark shows the field as it is
	}
	peer := dirKey{r.dst, r.src, r.DstPort, r.SrcPort}
	base, ok := a.bases[peer]
	if !ok {
		base = uint32(r.TCPAck) - 1
		a.bases[peer] = base
	}
	return uint32(r.TCPAck) - base
}
