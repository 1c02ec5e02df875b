// Package oracle decodes frames with gopacket, independently of tacap's
// kernel parser, and says what the dataset contract (docs/dataset.md,
// "packets/") expects for each: a record with these fields, or no record.
//
// gopacket extracts every header field; this package only walks the header
// chain the way the contract describes and works around gopacket's own
// limits (first fragments, cut options, TSO lengths), so that a disagreement
// with tacap points at one of the two.
package oracle

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Class is what the contract expects for a frame.
type Class int

const (
	// Record: a clean TCP/UDP/ICMP/ICMPv6 packet; exactly one record.
	Record Class = iota
	// Skip: not recordable (non-IP, other protocol, malformed, truncated).
	Skip
	// Unsure: the oracle cannot tell (gopacket rejects something tacap
	// need not read); no verdict is asserted.
	Unsure
)

func (c Class) String() string {
	return [...]string{"record", "skip", "unsure"}[c]
}

// Fields are the contract's per-packet columns, minus time and metadata.
type Fields struct {
	VlanID        uint16
	IPVersion     uint8
	Src, Dst      netip.Addr
	Protocol      uint8
	SrcPort       uint16
	DstPort       uint16
	IPLen         uint32
	IPFlagsFrag   uint16
	TTL           uint8
	TCPPayloadLen uint32
	TCPSeq        uint32
	TCPAck        uint32
	TCPFlags      uint8
	TCPWindow     uint16
	UDPPayloadLen uint16
	ICMPType      uint8
	ICMPCode      uint8
}

// Result is the oracle's verdict on one frame.
type Result struct {
	Class  Class
	Reason string // for Skip and Unsure: why
	Fields Fields // for Record
}

func skip(format string, a ...any) Result {
	return Result{Class: Skip, Reason: fmt.Sprintf(format, a...)}
}

func unsure(format string, a ...any) Result {
	return Result{Class: Unsure, Reason: fmt.Sprintf(format, a...)}
}

// Decode classifies an Ethernet frame; wireLen is its length on the wire
// (at least len(frame)), which matters only for IPv4 Total Length 0.
func Decode(frame []byte, wireLen int) Result {
	if wireLen < len(frame) {
		wireLen = len(frame)
	}
	var eth layers.Ethernet
	if err := eth.DecodeFromBytes(frame, gopacket.NilDecodeFeedback); err != nil {
		return skip("ethernet: %v", err)
	}
	var f Fields
	et := eth.EthernetType
	payload := eth.Payload
	l3off := 14
	for tags := 0; et == layers.EthernetTypeDot1Q || et == layers.EthernetTypeQinQ || et == 0x9100; tags++ {
		if tags == 3 {
			return skip("more than 3 VLAN tags")
		}
		var tag layers.Dot1Q
		if err := tag.DecodeFromBytes(payload, gopacket.NilDecodeFeedback); err != nil {
			return skip("vlan: %v (truncated)", err)
		}
		f.VlanID = tag.VLANIdentifier
		et, payload = tag.Type, tag.Payload
		l3off += 4
	}

	var (
		l4        []byte // bytes from the L4 header to the end of the IP packet (or frame)
		hdrs      int    // bytes of IP header(s) before l4
		proto     uint8
		nonFirst  bool
		ipCapLen  int // captured bytes of the IP packet
		frameLeft = wireLen - l3off
	)
	switch et {
	case layers.EthernetTypeIPv4:
		if len(payload) < 20 {
			return skip("ipv4 header cut (truncated)")
		}
		if payload[0]>>4 != 4 {
			return skip("ipv4 ethertype, version %d (malformed)", payload[0]>>4)
		}
		hdr := append([]byte(nil), payload...)
		rawLen := int(binary.BigEndian.Uint16(hdr[2:]))
		ipLen := rawLen
		if rawLen == 0 { // TSO / BIG TCP: the frame gives the length
			ipLen = frameLeft
			binary.BigEndian.PutUint16(hdr[2:], uint16(min(len(hdr), 0xffff)))
		}
		var ip layers.IPv4
		err := ip.DecodeFromBytes(hdr, gopacket.NilDecodeFeedback)
		if err != nil && ip.IHL > 5 && int(ip.IHL)*4 <= len(hdr) {
			// tacap skips options without reading them; so does the oracle.
			for i := 20; i < int(ip.IHL)*4; i++ {
				hdr[i] = 1 // NOP
			}
			err = ip.DecodeFromBytes(hdr, gopacket.NilDecodeFeedback)
		}
		switch {
		case ip.IHL < 5:
			return skip("ipv4 IHL %d (malformed)", ip.IHL)
		case ipLen < int(ip.IHL)*4:
			return skip("ipv4 total length %d below header (malformed)", ipLen)
		case int(ip.IHL)*4 > len(hdr):
			return skip("ipv4 options cut (truncated)")
		case err != nil:
			return unsure("gopacket ipv4: %v", err)
		}
		f.IPVersion = 4
		f.Src, _ = netip.AddrFromSlice(ip.SrcIP.To4())
		f.Dst, _ = netip.AddrFromSlice(ip.DstIP.To4())
		f.TTL = ip.TTL
		f.IPLen = uint32(ipLen)
		f.IPFlagsFrag = uint16(ip.Flags)<<13 | ip.FragOffset
		proto = uint8(ip.Protocol)
		nonFirst = ip.FragOffset != 0
		hdrs = int(ip.IHL) * 4
		ipCapLen = min(len(payload), ipLen)
		l4 = payload[hdrs:ipCapLen]
	case layers.EthernetTypeIPv6:
		if len(payload) < 40 {
			return skip("ipv6 header cut (truncated)")
		}
		if payload[0]>>4 != 6 {
			return skip("ipv6 ethertype, version %d (malformed)", payload[0]>>4)
		}
		hdr := append([]byte(nil), payload[:40]...)
		var ip layers.IPv6
		// Decode the fixed header alone: tacap walks the extension
		// headers itself, and so does the oracle below.
		hdr[6] = 59
		binary.BigEndian.PutUint16(hdr[4:], 0)
		ip.DecodeFromBytes(hdr, gopacket.NilDecodeFeedback) // fields are set even when gopacket complains of length 0
		plen := int(binary.BigEndian.Uint16(payload[4:]))
		ipLen := plen + 40
		if plen == 0 && frameLeft > 40 {
			ipLen = frameLeft
		}
		f.IPVersion = 6
		f.Src, _ = netip.AddrFromSlice(ip.SrcIP.To16())
		f.Dst, _ = netip.AddrFromSlice(ip.DstIP.To16())
		f.TTL = ip.HopLimit
		f.IPLen = uint32(ipLen)
		ipCapLen = min(len(payload), ipLen)
		proto = payload[6]
		off := 40
		for i := 0; ; i++ {
			if proto != 0 && proto != 43 && proto != 44 && proto != 60 && proto != 51 {
				break
			}
			if i == 8 {
				return skip("ipv6 extension chain longer than 8 (other protocol)")
			}
			if proto == 44 {
				if off+8 > len(payload) {
					return skip("ipv6 fragment header cut (truncated)")
				}
				pkt := gopacket.NewPacket(payload[off:], layers.LayerTypeIPv6Fragment, gopacket.NoCopy)
				fh, ok := pkt.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment)
				if !ok {
					return unsure("gopacket ipv6 fragment: %v", pkt.ErrorLayer())
				}
				f.IPFlagsFrag = fh.FragmentOffset << 3
				if fh.MoreFragments {
					f.IPFlagsFrag |= 1
				}
				proto = uint8(fh.NextHeader)
				off += 8
				if fh.FragmentOffset != 0 {
					nonFirst = true
					break
				}
				continue
			}
			if off+2 > len(payload) {
				return skip("ipv6 extension header cut (truncated)")
			}
			n := (int(payload[off+1]) + 1) * 8
			if proto == 51 {
				n = (int(payload[off+1]) + 2) * 4
			}
			proto = payload[off]
			off += n
		}
		hdrs = off
		if !nonFirst && off > ipLen && isL4(proto) {
			return skip("ipv6 extension headers beyond the packet (malformed)")
		}
		if off <= ipCapLen {
			l4 = payload[off:ipCapLen]
		}
	default:
		return skip("ethertype %#04x (not ip)", uint16(et))
	}

	if !isL4(proto) {
		return skip("ip protocol %d (other protocol)", proto)
	}
	f.Protocol = proto
	if nonFirst {
		return Result{Class: Record, Fields: f}
	}
	ipLeft := int(f.IPLen) - hdrs // bytes the IP header says follow
	if ipLeft < 0 {
		return skip("ip headers longer than the packet (malformed)")
	}
	// Pad a snaplen-cut L4 header with zeros so gopacket can read its fixed
	// part; the contract needs only that part from the frame.
	l4full := func(fixed int) ([]byte, bool) {
		if ipLeft < fixed || len(l4) < fixed {
			return nil, false
		}
		b := make([]byte, max(ipLeft, fixed))
		copy(b, l4)
		return b, true
	}
	switch proto {
	case 6:
		b, ok := l4full(20)
		if !ok {
			return skip("tcp header cut (truncated)")
		}
		doff := int(b[12] >> 4)
		if doff < 5 {
			return skip("tcp data offset %d (malformed)", doff)
		}
		if doff*4 > ipLeft {
			return skip("tcp header longer than the ip payload (malformed)")
		}
		var tcp layers.TCP
		if err := tcp.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
			// Bad options: gopacket gives up, the fixed fields are still set.
			if tcp.DataOffset != uint8(doff) {
				return unsure("gopacket tcp: %v", err)
			}
		}
		f.SrcPort, f.DstPort = uint16(tcp.SrcPort), uint16(tcp.DstPort)
		f.TCPSeq, f.TCPAck = tcp.Seq, tcp.Ack
		f.TCPWindow = tcp.Window
		f.TCPFlags = tcpFlags(&tcp)
		f.TCPPayloadLen = uint32(ipLeft - int(tcp.DataOffset)*4)
	case 17:
		b, ok := l4full(8)
		if !ok {
			return skip("udp header cut (truncated)")
		}
		// Checked before gopacket, which refuses such a header outright.
		if n := binary.BigEndian.Uint16(b[4:]); n < 8 {
			return skip("udp length %d (malformed)", n)
		}
		var udp layers.UDP
		if err := udp.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
			return unsure("gopacket udp: %v", err)
		}
		f.SrcPort, f.DstPort = uint16(udp.SrcPort), uint16(udp.DstPort)
		f.UDPPayloadLen = udp.Length - 8
	case 1:
		b, ok := l4full(4)
		if !ok {
			return skip("icmp header cut (truncated)")
		}
		var icmp layers.ICMPv4
		if err := icmp.DecodeFromBytes(padTo(b, 8), gopacket.NilDecodeFeedback); err != nil {
			return unsure("gopacket icmp: %v", err)
		}
		f.ICMPType, f.ICMPCode = icmp.TypeCode.Type(), icmp.TypeCode.Code()
	case 58:
		b, ok := l4full(4)
		if !ok {
			return skip("icmpv6 header cut (truncated)")
		}
		var icmp layers.ICMPv6
		if err := icmp.DecodeFromBytes(padTo(b, 8), gopacket.NilDecodeFeedback); err != nil {
			return unsure("gopacket icmpv6: %v", err)
		}
		f.ICMPType, f.ICMPCode = icmp.TypeCode.Type(), icmp.TypeCode.Code()
	}
	return Result{Class: Record, Fields: f}
}

func isL4(p uint8) bool { return p == 6 || p == 17 || p == 1 || p == 58 }

func padTo(b []byte, n int) []byte {
	if len(b) >= n {
		return b
	}
	return append(append([]byte(nil), b...), make([]byte, n-len(b))...)
}

func tcpFlags(t *layers.TCP) uint8 {
	var f uint8
	for i, set := range []bool{t.FIN, t.SYN, t.RST, t.PSH, t.ACK, t.URG, t.ECE, t.CWR} {
		if set {
			f |= 1 << i
		}
	}
	return f
}
