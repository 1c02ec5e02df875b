package bpf_test

import (
	"fmt"
	"net/netip"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/test/frames"
)

// shape is one packet shape of docs/dataset.md ("packets/"): the frame, the one
// counter it must move and, when recorded, every field of the record.
type shape struct {
	name    string
	frame   []byte
	wireLen uint32 // replay: length on the wire when more than the frame
	gso     uint32
	reason  string      // counter that must move: "recorded" or a not-recorded reason
	want    *bpf.Record // expected record (session and time fields are filled in by the test)
	skbOnly bool        // needs skb metadata (wire length, GSO): not for the XDP entry
}

const testTime = 1_700_000_000_123_456_789

// rec builds an expected record; fill sets the per-shape fields.
func rec(src, dst netip.Addr, proto uint8, ipLen uint32, ttl uint8, fill func(r *bpf.Record)) *bpf.Record {
	r := &bpf.Record{
		SrcAddr:  addr16(src),
		DstAddr:  addr16(dst),
		Protocol: proto,
		IpLen:    ipLen,
		Ttl:      ttl,
		GsoSegs:  1,
	}
	r.IpVersion = 4
	if src.Is6() {
		r.IpVersion = 6
	}
	if fill != nil {
		fill(r)
	}
	return r
}

func eth() frames.Ether {
	return frames.Ether{Src: [6]byte{2, 0, 0, 0, 0, 1}, Dst: [6]byte{2, 0, 0, 0, 0, 2}}
}

func ip4(l ...func(*frames.IPv4)) frames.IPv4 {
	h := frames.IPv4{Src: v4a, Dst: v4b, TTL: 64, FlagsFrag: 0x4000, ID: 7}
	for _, f := range l {
		f(&h)
	}
	return h
}

func ip6(l ...func(*frames.IPv6)) frames.IPv6 {
	h := frames.IPv6{Src: v6a, Dst: v6b, HopLimit: 63}
	for _, f := range l {
		f(&h)
	}
	return h
}

var tcpSyn = frames.TCP{SrcPort: 40000, DstPort: 443, Seq: 0xdeadbeef, Ack: 0x01020304, Flags: frames.SYN | frames.ACK | frames.ECE | frames.CWR, Window: 64240}

func tcpFields(payload uint32) func(r *bpf.Record) {
	return func(r *bpf.Record) {
		r.SrcPort, r.DstPort = 40000, 443
		r.TcpSeq, r.TcpAck = 0xdeadbeef, 0x01020304
		r.TcpFlags = frames.SYN | frames.ACK | frames.ECE | frames.CWR
		r.TcpWindow = 64240
		r.TcpPayloadLen = payload
	}
}

func udpFields(payload uint16) func(r *bpf.Record) {
	return func(r *bpf.Record) { r.SrcPort, r.DstPort, r.UdpPayloadLen = 5353, 53, payload }
}

func with(fs ...func(r *bpf.Record)) func(r *bpf.Record) {
	return func(r *bpf.Record) {
		for _, f := range fs {
			f(r)
		}
	}
}

func shapes() []shape {
	udp := frames.UDP{SrcPort: 5353, DstPort: 53}
	df := func(r *bpf.Record) { r.IpFlagsFrag = 0x4000 }
	rows := []shape{
		{name: "ipv4/tcp", frame: frames.Build(eth(), ip4(), tcpSyn, frames.Zeros(100)), reason: "recorded",
			want: rec(v4a, v4b, 6, 140, 64, with(df, tcpFields(100)))},
		{name: "ipv4/tcp options", frame: frames.Build(eth(), ip4(), withOpts(tcpSyn, 12), frames.Zeros(10)), reason: "recorded",
			want: rec(v4a, v4b, 6, 62, 64, with(df, tcpFields(10)))},
		{name: "ipv4/tcp no payload, ethernet padding", frame: pad(frames.Build(eth(), ip4(), tcpSyn), 60), reason: "recorded",
			want: rec(v4a, v4b, 6, 40, 64, with(df, tcpFields(0)))},
		{name: "ipv4/udp", frame: frames.Build(eth(), ip4(), udp, frames.Zeros(50)), reason: "recorded",
			want: rec(v4a, v4b, 17, 78, 64, with(df, udpFields(50)))},
		{name: "ipv4/udp payload over 255", frame: frames.Build(eth(), ip4(), udp, frames.Zeros(1400)), reason: "recorded",
			want: rec(v4a, v4b, 17, 1428, 64, with(df, udpFields(1400)))},
		{name: "ipv4/icmp echo", frame: frames.Build(eth(), ip4(), frames.ICMP{Type: 8, Rest: 0x00010001}, frames.Zeros(56)), reason: "recorded",
			want: rec(v4a, v4b, 1, 84, 64, with(df, func(r *bpf.Record) { r.IcmpType = 8 }))},
		{name: "ipv4/icmp error quoting udp", frame: frames.Build(eth(), ip4(), frames.ICMP{Type: 3, Code: 3},
			frames.IPv4{Src: v4b, Dst: v4a, TTL: 1}, frames.UDP{SrcPort: 33434, DstPort: 33435}), reason: "recorded",
			want: rec(v4a, v4b, 1, 56, 64, with(df, func(r *bpf.Record) { r.IcmpType, r.IcmpCode = 3, 3 }))},
		{name: "ipv4 options/tcp", frame: frames.Build(eth(), ip4(func(h *frames.IPv4) { h.Options = []byte{0x94, 4, 0, 0} }), tcpSyn), reason: "recorded",
			want: rec(v4a, v4b, 6, 44, 64, with(df, tcpFields(0)))},
		{name: "ipv4 max options (IHL 15)/udp", frame: frames.Build(eth(), ip4(func(h *frames.IPv4) { h.Options = make([]byte, 40) }), udp, frames.Zeros(3)), reason: "recorded",
			want: rec(v4a, v4b, 17, 71, 64, with(df, udpFields(3)))},
		{name: "ipv6/tcp", frame: frames.Build(eth(), ip6(), tcpSyn, frames.Zeros(1000)), reason: "recorded",
			want: rec(v6a, v6b, 6, 1060, 63, tcpFields(1000))},
		{name: "ipv6/udp", frame: frames.Build(eth(), ip6(), udp, frames.Zeros(20)), reason: "recorded",
			want: rec(v6a, v6b, 17, 68, 63, udpFields(20))},
		{name: "ipv6/icmpv6 echo", frame: frames.Build(eth(), ip6(), frames.ICMP{Type: 128, V6: true}, frames.Zeros(8)), reason: "recorded",
			want: rec(v6a, v6b, 58, 56, 63, func(r *bpf.Record) { r.IcmpType = 128 })},
		{name: "ipv6/icmpv6 error quoting udp", frame: frames.Build(eth(), ip6(), frames.ICMP{Type: 1, Code: 4, V6: true},
			frames.IPv6{Src: v6b, Dst: v6a, HopLimit: 1}, frames.UDP{SrcPort: 1, DstPort: 2}), reason: "recorded",
			want: rec(v6a, v6b, 58, 96, 63, func(r *bpf.Record) { r.IcmpType, r.IcmpCode = 1, 4 })},
		{name: "vlan/ipv4/udp", frame: frames.Build(eth(), frames.VLAN{ID: 100}, ip4(), udp), reason: "recorded",
			want: rec(v4a, v4b, 17, 28, 64, with(df, udpFields(0), func(r *bpf.Record) { r.VlanId = 100 }))},
		{name: "qinq/ipv6/tcp innermost id", frame: frames.Build(eth(), frames.VLAN{TPID: frames.TypeQinQ, ID: 200}, frames.VLAN{ID: 300, PCP: 5}, ip6(), tcpSyn), reason: "recorded",
			want: rec(v6a, v6b, 6, 60, 63, with(tcpFields(0), func(r *bpf.Record) { r.VlanId = 300 }))},
		{name: "three tags/ipv4/icmp", frame: frames.Build(eth(), frames.VLAN{ID: 30}, frames.VLAN{ID: 20}, frames.VLAN{ID: 10}, ip4(), frames.ICMP{Type: 0}), reason: "recorded",
			want: rec(v4a, v4b, 1, 28, 64, with(df, func(r *bpf.Record) { r.VlanId = 10 }))},
		{name: "ipv4 first fragment/udp", frame: frames.Build(eth(), ip4(func(h *frames.IPv4) { h.FlagsFrag = 0x2000 }), frames.UDP{SrcPort: 5353, DstPort: 53, Length: 3008}, frames.Zeros(1472)), reason: "recorded",
			want: rec(v4a, v4b, 17, 1500, 64, with(udpFields(3000), func(r *bpf.Record) { r.IpFlagsFrag = 0x2000 }))},
		{name: "ipv4 non-first fragment/udp", frame: frames.Build(eth(), ip4(func(h *frames.IPv4) { h.FlagsFrag = 185; h.Protocol = 17 }), frames.Zeros(1000)), reason: "recorded",
			want: rec(v4a, v4b, 17, 1020, 64, func(r *bpf.Record) { r.IpFlagsFrag = 185 })},
		{name: "ipv4 non-first fragment, bytes look like tcp", frame: frames.Build(eth(), ip4(func(h *frames.IPv4) { h.FlagsFrag = 0x2000 | 3; h.Protocol = 6 }), tcpSyn), reason: "recorded",
			want: rec(v4a, v4b, 6, 40, 64, func(r *bpf.Record) { r.IpFlagsFrag = 0x2003 })},
		{name: "ipv6 first fragment/udp", frame: frames.Build(eth(), ip6(), frames.IPv6Frag{More: true, ID: 9}, udp, frames.Zeros(100)), reason: "recorded",
			want: rec(v6a, v6b, 17, 156, 63, with(udpFields(100), func(r *bpf.Record) { r.IpFlagsFrag = 1 }))},
		{name: "ipv6 non-first fragment/udp", frame: frames.Build(eth(), ip6(), frames.IPv6Frag{Offset: 100, ID: 9, NextHeader: 17}, frames.Zeros(64)), reason: "recorded",
			want: rec(v6a, v6b, 17, 112, 63, func(r *bpf.Record) { r.IpFlagsFrag = 800 })},
		{name: "ipv6 chain hbh+routing+frag+dstopts/tcp", frame: frames.Build(eth(), ip6(), frames.IPv6Ext{Type: 0, Len: 8}, frames.IPv6Ext{Type: 43, Len: 24},
			frames.IPv6Frag{}, frames.IPv6Ext{Type: 60, Len: 16}, tcpSyn, frames.Zeros(5)), reason: "recorded",
			want: rec(v6a, v6b, 6, 40+8+24+8+16+20+5, 63, tcpFields(5))},
		{name: "ipv6 chain of 6 incl. AH/udp", frame: frames.Build(eth(), ip6(), frames.IPv6Ext{Type: 0, Len: 8}, frames.IPv6Ext{Type: 60, Len: 8}, frames.IPv6Ext{Type: 43, Len: 8},
			frames.IPv6Ext{Type: 51, Len: 12}, frames.IPv6Ext{Type: 60, Len: 8}, frames.IPv6Frag{More: true}, udp), reason: "recorded",
			want: rec(v6a, v6b, 17, 40+8+8+8+12+8+8+8, 63, with(udpFields(0), func(r *bpf.Record) { r.IpFlagsFrag = 1 }))},
		{name: "big tcp ipv4 (total length 0)", frame: frames.Build(eth(), ip4(func(h *frames.IPv4) { h.TotalLen = -1 }), tcpSyn, frames.Zeros(1000)),
			wireLen: 80066, gso: 55, skbOnly: true, reason: "recorded",
			want: rec(v4a, v4b, 6, 80052, 64, with(df, tcpFields(80012), func(r *bpf.Record) { r.GsoSegs = 55 }))},
		{name: "big tcp ipv6 (payload length 0)", frame: frames.Build(eth(), ip6(func(h *frames.IPv6) { h.PayloadLen = -1 }), tcpSyn, frames.Zeros(1000)),
			wireLen: 150014, gso: 100, skbOnly: true, reason: "recorded",
			want: rec(v6a, v6b, 6, 150000, 63, with(tcpFields(150000-40-20), func(r *bpf.Record) { r.GsoSegs = 100 }))},
		{name: "gso super-packet", frame: frames.Build(eth(), ip4(), tcpSyn, frames.Zeros(2896)), gso: 2, skbOnly: true, reason: "recorded",
			want: rec(v4a, v4b, 6, 2936, 64, with(df, tcpFields(2896), func(r *bpf.Record) { r.GsoSegs = 2 }))},
		{name: "ipv4 total length 0, no extra bytes", frame: frames.Build(eth(), ip4(func(h *frames.IPv4) { h.TotalLen = -1 }), udp), reason: "recorded",
			want: rec(v4a, v4b, 17, 28, 64, with(df, udpFields(0)))},

		// Not recorded: each reason.
		{name: "arp", frame: frames.Build(frames.Ether{Type: frames.TypeARP}, frames.Zeros(28)), reason: "not_ip"},
		{name: "vlan/arp", frame: frames.Build(eth(), frames.VLAN{ID: 5, Type: frames.TypeARP}, frames.Zeros(28)), reason: "not_ip"},
		{name: "four tags", frame: frames.Build(eth(), frames.VLAN{ID: 1}, frames.VLAN{ID: 2}, frames.VLAN{ID: 3}, frames.VLAN{ID: 4}, ip4(), udp), reason: "not_ip"},
		{name: "ipv4/gre", frame: frames.Build(eth(), ip4(func(h *frames.IPv4) { h.Protocol = 47 }), frames.Zeros(24)), reason: "other_protocol"},
		{name: "ipv4/igmp", frame: frames.Build(eth(), ip4(func(h *frames.IPv4) { h.Protocol = 2 }), frames.Zeros(8)), reason: "other_protocol"},
		{name: "ipv6/no next header", frame: frames.Build(eth(), ip6(func(h *frames.IPv6) { h.NextHeader = 59 }), frames.Zeros(8)), reason: "other_protocol"},
		{name: "ipv6/hbh/esp", frame: frames.Build(eth(), ip6(), frames.IPv6Ext{Type: 0, Len: 8}, frames.Opaque{Proto: 50, Bytes: make([]byte, 16)}), reason: "other_protocol"},
		{name: "ipv6 non-first fragment of esp", frame: frames.Build(eth(), ip6(), frames.IPv6Frag{Offset: 10, NextHeader: 50}, frames.Zeros(16)), reason: "other_protocol"},
		{name: "ipv6 chain longer than 8", frame: frames.Build(append(append([]frames.Layer{eth(), ip6()}, dstopts(9)...), udp)...), reason: "other_protocol"},
		{name: "ipv4 IHL 4", frame: frames.Build(eth(), ip4(func(h *frames.IPv4) { h.IHL = 4 }), udp), reason: "malformed"},
		{name: "ipv4 ethertype, version 6", frame: frames.Build(eth(), ip4(func(h *frames.IPv4) { h.Version = 6 }), udp), reason: "malformed"},
		{name: "ipv6 ethertype, version 4", frame: frames.Build(eth(), ip6(func(h *frames.IPv6) { h.Version = 4 }), udp), reason: "malformed"},
		{name: "ipv4 total length below IHL", frame: frames.Build(eth(), ip4(func(h *frames.IPv4) { h.TotalLen = 16 }), udp), reason: "malformed"},
		{name: "tcp data offset 4", frame: frames.Build(eth(), ip4(), func() frames.TCP { t := tcpSyn; t.DataOffset = 4; return t }()), reason: "malformed"},
		{name: "tcp data offset past ip end", frame: frames.Build(eth(), ip4(), func() frames.TCP { t := tcpSyn; t.DataOffset = 15; return t }(), frames.Zeros(4)), reason: "malformed"},
		{name: "udp length 7", frame: frames.Build(eth(), ip4(), frames.UDP{SrcPort: 1, DstPort: 2, Length: 7}), reason: "malformed"},
		{name: "ipv6 ext headers past ip end", frame: frames.Build(eth(), ip6(func(h *frames.IPv6) { h.PayloadLen = 8 }), frames.IPv6Ext{Type: 0, Len: 16}, udp), reason: "malformed"},
		{name: "ipv4 non-first fragment, options cut", frame: frames.Build(eth(), ip4(func(h *frames.IPv4) { h.FlagsFrag = 100; h.Protocol = 17; h.Options = make([]byte, 8) }))[:14+24], reason: "truncated"},
		{name: "ip payload shorter than tcp header", frame: frames.Build(eth(), ip4(func(h *frames.IPv4) { h.TotalLen = 30 }), tcpSyn), reason: "truncated"},
		{name: "ip payload shorter than udp header", frame: frames.Build(eth(), ip6(func(h *frames.IPv6) { h.PayloadLen = 4 }), udp), reason: "truncated"},
	}
	return append(rows, cuts()...)
}

func withOpts(t frames.TCP, n int) frames.TCP {
	t.Options = make([]byte, n)
	for i := range t.Options {
		t.Options[i] = 1 // NOP
	}
	return t
}

func pad(f []byte, n int) []byte {
	for len(f) < n {
		f = append(f, 0)
	}
	return f
}

// dstopts is n destination-options headers in a row.
func dstopts(n int) []frames.Layer {
	l := make([]frames.Layer, n)
	for i := range l {
		l[i] = frames.IPv6Ext{Type: 60, Len: 8}
	}
	return l
}

// cuts are frames cut at (and inside) every header boundary: all are
// truncated except when the cut leaves the fixed L4 header whole.
func cuts() []shape {
	full := []struct {
		name  string
		frame []byte
		l4end int // where the fixed part of the L4 header ends
	}{
		{"ipv4/tcp", frames.Build(eth(), ip4(), tcpSyn, frames.Zeros(20)), 14 + 20 + 20},
		{"ipv4/udp", frames.Build(eth(), ip4(), frames.UDP{SrcPort: 1, DstPort: 2}, frames.Zeros(20)), 14 + 20 + 8},
		{"ipv4/icmp", frames.Build(eth(), ip4(), frames.ICMP{Type: 8}, frames.Zeros(20)), 14 + 20 + 4},
		{"vlan/vlan/ipv6/tcp", frames.Build(eth(), frames.VLAN{ID: 1}, frames.VLAN{ID: 2}, ip6(), tcpSyn, frames.Zeros(20)), 14 + 8 + 40 + 20},
		{"ipv6/hbh/frag/udp", frames.Build(eth(), ip6(), frames.IPv6Ext{Type: 0, Len: 16}, frames.IPv6Frag{More: true}, frames.UDP{SrcPort: 1, DstPort: 2}, frames.Zeros(20)), 14 + 40 + 16 + 8 + 8},
		{"ipv6/icmpv6", frames.Build(eth(), ip6(), frames.ICMP{Type: 128, V6: true}, frames.Zeros(20)), 14 + 40 + 4},
	}
	var rows []shape
	for _, f := range full {
		for n := bpf.MinFrameLen; n <= f.l4end; n++ {
			reason := "truncated"
			if n == f.l4end {
				reason = "recorded"
			}
			rows = append(rows, shape{name: fmt.Sprintf("cut %s at %d", f.name, n), frame: f.frame[:n], reason: reason})
		}
	}
	return rows
}
