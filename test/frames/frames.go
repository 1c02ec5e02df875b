// Package frames builds Ethernet frames byte by byte for tests, including
// frames no well-behaved stack would send (bad lengths, cut headers).
// Checksums are left zero: tacap never reads them.
package frames

import (
	"encoding/binary"
	"net/netip"
)

// Layer is one header (or payload) of a frame.
type Layer interface {
	// encode prepends this layer to payload; next is the layer that follows.
	encode(payload []byte, next Layer) []byte
}

// Build encodes layers outermost first.
func Build(layers ...Layer) []byte {
	var out []byte
	for i := len(layers) - 1; i >= 0; i-- {
		var next Layer
		if i+1 < len(layers) {
			next = layers[i+1]
		}
		out = layers[i].encode(out, next)
	}
	return out
}

// EtherType values.
const (
	TypeIPv4 = 0x0800
	TypeIPv6 = 0x86DD
	TypeARP  = 0x0806
	TypeVLAN = 0x8100
	TypeQinQ = 0x88A8
)

func etherTypeOf(l Layer) uint16 {
	switch v := l.(type) {
	case IPv4:
		return TypeIPv4
	case IPv6:
		return TypeIPv6
	case VLAN:
		if v.TPID != 0 {
			return v.TPID
		}
		return TypeVLAN
	}
	return 0
}

func protoOf(l Layer) uint8 {
	switch v := l.(type) {
	case TCP:
		return 6
	case UDP:
		return 17
	case ICMP:
		if v.V6 {
			return 58
		}
		return 1
	case IPv6Ext:
		return v.Type
	case IPv6Frag:
		return 44
	case IPv4:
		return 4
	case IPv6:
		return 41
	case Opaque:
		return v.Proto
	}
	return 59 // IPv6 "no next header"
}

// Ether is an Ethernet II header. Type 0 means "from the next layer".
type Ether struct {
	Dst, Src [6]byte
	Type     uint16
}

func (e Ether) encode(p []byte, next Layer) []byte {
	t := e.Type
	if t == 0 {
		t = etherTypeOf(next)
	}
	h := make([]byte, 14, 14+len(p))
	copy(h[0:6], e.Dst[:])
	copy(h[6:12], e.Src[:])
	binary.BigEndian.PutUint16(h[12:], t)
	return append(h, p...)
}

// VLAN is an 802.1Q (TPID 0x8100, the default) or 802.1ad tag.
type VLAN struct {
	TPID uint16 // the TPID this tag is announced with (used by the outer layer)
	ID   uint16
	PCP  uint8
	Type uint16 // inner EtherType, 0 = from the next layer
}

func (v VLAN) encode(p []byte, next Layer) []byte {
	t := v.Type
	if t == 0 {
		t = etherTypeOf(next)
	}
	h := make([]byte, 4, 4+len(p))
	binary.BigEndian.PutUint16(h[0:], uint16(v.PCP)<<13|v.ID&0x0fff)
	binary.BigEndian.PutUint16(h[2:], t)
	return append(h, p...)
}

// IPv4 header. Zero values of the override fields mean "compute it".
type IPv4 struct {
	Src, Dst  netip.Addr
	TTL       uint8
	Protocol  uint8  // 0 = from the next layer
	FlagsFrag uint16 // the 16-bit flags + fragment offset field
	ID        uint16
	Options   []byte // padded to a multiple of 4 by the caller
	TotalLen  int    // -1 = write 0 (BIG TCP); 0 = computed
	IHL       int    // 0 = computed
	Version   int    // 0 = 4
}

func (ip IPv4) encode(p []byte, next Layer) []byte {
	hl := 20 + len(ip.Options)
	h := make([]byte, hl, hl+len(p))
	ver, ihl := ip.Version, ip.IHL
	if ver == 0 {
		ver = 4
	}
	if ihl == 0 {
		ihl = hl / 4
	}
	h[0] = byte(ver)<<4 | byte(ihl&0x0f)
	tot := hl + len(p)
	switch {
	case ip.TotalLen == -1:
		tot = 0
	case ip.TotalLen > 0:
		tot = ip.TotalLen
	}
	binary.BigEndian.PutUint16(h[2:], uint16(tot))
	binary.BigEndian.PutUint16(h[4:], ip.ID)
	binary.BigEndian.PutUint16(h[6:], ip.FlagsFrag)
	h[8] = ip.TTL
	h[9] = ip.Protocol
	if h[9] == 0 {
		h[9] = protoOf(next)
	}
	s, d := ip.Src.As4(), ip.Dst.As4()
	copy(h[12:16], s[:])
	copy(h[16:20], d[:])
	copy(h[20:], ip.Options)
	return append(h, p...)
}

// IPv6 header.
type IPv6 struct {
	Src, Dst   netip.Addr
	HopLimit   uint8
	NextHeader int // -1 = from the next layer (the default when 0 too)
	PayloadLen int // -1 = write 0; 0 = computed
	Version    int // 0 = 6
}

func (ip IPv6) encode(p []byte, next Layer) []byte {
	h := make([]byte, 40, 40+len(p))
	ver := ip.Version
	if ver == 0 {
		ver = 6
	}
	binary.BigEndian.PutUint32(h[0:], uint32(ver)<<28)
	pl := len(p)
	switch {
	case ip.PayloadLen == -1:
		pl = 0
	case ip.PayloadLen > 0:
		pl = ip.PayloadLen
	}
	binary.BigEndian.PutUint16(h[4:], uint16(pl))
	h[6] = protoOf(next)
	if ip.NextHeader > 0 {
		h[6] = uint8(ip.NextHeader)
	}
	h[7] = ip.HopLimit
	s, d := ip.Src.As16(), ip.Dst.As16()
	copy(h[8:24], s[:])
	copy(h[24:40], d[:])
	return append(h, p...)
}

// IPv6Ext is a hop-by-hop (0), routing (43), destination options (60) or
// authentication (51) header of Len bytes (a multiple of 8; of 4 for AH).
type IPv6Ext struct {
	Type uint8
	Len  int
}

func (e IPv6Ext) encode(p []byte, next Layer) []byte {
	n := e.Len
	if n < 8 {
		n = 8
	}
	h := make([]byte, n, n+len(p))
	h[0] = protoOf(next)
	if e.Type == 51 {
		h[1] = byte(n/4 - 2)
	} else {
		h[1] = byte(n/8 - 1)
		if e.Type == 0 || e.Type == 60 {
			h[2] = 1 // PadN covering the rest
			h[3] = byte(n - 4)
		}
	}
	return append(h, p...)
}

// IPv6Frag is a fragment header; Offset is in 8-byte units.
type IPv6Frag struct {
	Offset     uint16
	More       bool
	ID         uint32
	NextHeader uint8 // 0 = from the next layer
}

func (f IPv6Frag) encode(p []byte, next Layer) []byte {
	h := make([]byte, 8, 8+len(p))
	h[0] = f.NextHeader
	if h[0] == 0 {
		h[0] = protoOf(next)
	}
	fo := f.Offset << 3
	if f.More {
		fo |= 1
	}
	binary.BigEndian.PutUint16(h[2:], fo)
	binary.BigEndian.PutUint32(h[4:], f.ID)
	return append(h, p...)
}

// TCP header. DataOffset 0 = computed from Options (padded by the caller).
type TCP struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            uint8
	Window           uint16
	Options          []byte
	DataOffset       int
}

// TCP flag bits.
const (
	FIN = 1 << iota
	SYN
	RST
	PSH
	ACK
	URG
	ECE
	CWR
)

func (t TCP) encode(p []byte, _ Layer) []byte {
	hl := 20 + len(t.Options)
	h := make([]byte, hl, hl+len(p))
	binary.BigEndian.PutUint16(h[0:], t.SrcPort)
	binary.BigEndian.PutUint16(h[2:], t.DstPort)
	binary.BigEndian.PutUint32(h[4:], t.Seq)
	binary.BigEndian.PutUint32(h[8:], t.Ack)
	doff := t.DataOffset
	if doff == 0 {
		doff = hl / 4
	}
	h[12] = byte(doff) << 4
	h[13] = t.Flags
	binary.BigEndian.PutUint16(h[14:], t.Window)
	copy(h[20:], t.Options)
	return append(h, p...)
}

// UDP header. Length 0 = computed.
type UDP struct {
	SrcPort, DstPort uint16
	Length           int
}

func (u UDP) encode(p []byte, _ Layer) []byte {
	h := make([]byte, 8, 8+len(p))
	binary.BigEndian.PutUint16(h[0:], u.SrcPort)
	binary.BigEndian.PutUint16(h[2:], u.DstPort)
	l := 8 + len(p)
	if u.Length != 0 {
		l = u.Length
	}
	binary.BigEndian.PutUint16(h[4:], uint16(l))
	return append(h, p...)
}

// ICMP (or ICMPv6 with V6) header: type, code, checksum and 4 more bytes.
type ICMP struct {
	Type, Code uint8
	V6         bool
	Rest       uint32
}

func (c ICMP) encode(p []byte, _ Layer) []byte {
	h := make([]byte, 8, 8+len(p))
	h[0], h[1] = c.Type, c.Code
	binary.BigEndian.PutUint32(h[4:], c.Rest)
	return append(h, p...)
}

// Payload is opaque bytes.
type Payload []byte

func (b Payload) encode(p []byte, _ Layer) []byte { return append(append([]byte{}, b...), p...) }

// Zeros is n zero bytes of payload.
func Zeros(n int) Payload { return make(Payload, n) }

// Opaque is a payload announced as IP protocol Proto by the layer before it.
type Opaque struct {
	Proto uint8
	Bytes []byte
}

func (o Opaque) encode(p []byte, _ Layer) []byte { return append(append([]byte{}, o.Bytes...), p...) }
