package test

// Capture files written and read byte by byte here, independently of
// tacap's own reader (capture/pcapfile): the direction and counter tests
// craft their inputs with these writers, and the counter oracle reads the
// shared captures with these readers (and gopacket's pcapng reader).

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"

	"github.com/tacap/tacap/test/tshark"

	"io"
	"os"
	"testing"

	"github.com/google/gopacket/pcapgo"
)

// Link types (LINKTYPE_*) the crafted files and the oracle reader use.
const (
	linkNull     = 0
	linkEthernet = 1
	linkRawOld   = 12
	linkRaw      = 101
	linkLoop     = 108
	linkSLL      = 113
	linkIPv4     = 228
	linkIPv6     = 229
	linkSLL2     = 276
)

// Linux packet types (sll_pkttype).
const (
	pktHost      = 0 // PACKET_HOST: to us
	pktBroadcast = 1
	pktMulticast = 2
	pktOtherHost = 3
	pktOutgoing  = 4 // PACKET_OUTGOING: sent by us
	pktLoopback  = 5
)

// capFrame is one frame of a crafted capture file.
type capFrame struct {
	ns       int64  // time, ns since the epoch
	data     []byte // the link-layer frame as captured
	orig     int    // length on the wire; 0 = len(data)
	iface    uint32 // pcapng: interface index
	flags    uint32 // pcapng: epb_flags value
	hasFlags bool   // pcapng: write the epb_flags option
}

func (f capFrame) origLen() int { return max(f.orig, len(f.data)) }

// writePcap writes a little-endian nanosecond pcap file.
func writePcap(t *testing.T, path string, linkType uint32, frames []capFrame) {
	t.Helper()
	var b bytes.Buffer
	le := binary.LittleEndian
	h := make([]byte, 24)
	le.PutUint32(h[0:], 0xa1b23c4d) // nanosecond magic
	le.PutUint16(h[4:], 2)
	le.PutUint16(h[6:], 4)
	le.PutUint32(h[16:], 262144)
	le.PutUint32(h[20:], linkType)
	b.Write(h)
	for _, f := range frames {
		r := make([]byte, 16)
		le.PutUint32(r[0:], uint32(f.ns/1e9))
		le.PutUint32(r[4:], uint32(f.ns%1e9))
		le.PutUint32(r[8:], uint32(len(f.data)))
		le.PutUint32(r[12:], uint32(f.origLen()))
		b.Write(r)
		b.Write(f.data)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// ngInterface is a pcapng Interface Description Block.
type ngInterface struct {
	linkType uint16
	name     string
}

// writePcapng writes one pcapng section in the given byte order: a section
// header, the interfaces (nanosecond resolution, named), then one Enhanced
// Packet Block per frame, with an epb_flags option where hasFlags is set.
func writePcapng(t *testing.T, path string, order binary.ByteOrder, ifaces []ngInterface, frames []capFrame) {
	t.Helper()
	var b bytes.Buffer
	block := func(typ uint32, body []byte) {
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
		n := uint32(12 + len(body))
		var w [4]byte
		order.PutUint32(w[:], typ)
		b.Write(w[:])
		order.PutUint32(w[:], n)
		b.Write(w[:])
		b.Write(body)
		b.Write(w[:])
	}
	option := func(body []byte, code uint16, v []byte) []byte {
		var h [4]byte
		order.PutUint16(h[0:], code)
		order.PutUint16(h[2:], uint16(len(v)))
		body = append(body, h[:]...)
		body = append(body, v...)
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
		return body
	}
	end := func(body []byte) []byte { return append(body, 0, 0, 0, 0) }

	shb := make([]byte, 16)
	order.PutUint32(shb[0:], 0x1A2B3C4D)
	order.PutUint16(shb[4:], 1)
	order.PutUint64(shb[8:], ^uint64(0)) // section length unknown
	block(0x0A0D0D0A, shb)
	for _, ifc := range ifaces {
		body := make([]byte, 8)
		order.PutUint16(body[0:], ifc.linkType)
		order.PutUint32(body[4:], 262144)
		body = option(body, 2, []byte(ifc.name)) // if_name
		body = option(body, 9, []byte{9})        // if_tsresol: ns
		block(1, end(body))
	}
	for _, f := range frames {
		body := make([]byte, 20)
		order.PutUint32(body[0:], f.iface)
		order.PutUint32(body[4:], uint32(uint64(f.ns)>>32))
		order.PutUint32(body[8:], uint32(uint64(f.ns)))
		order.PutUint32(body[12:], uint32(len(f.data)))
		order.PutUint32(body[16:], uint32(f.origLen()))
		body = append(body, f.data...)
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
		if f.hasFlags {
			v := make([]byte, 4)
			order.PutUint32(v, f.flags)
			body = end(option(body, 2, v)) // epb_flags
		}
		block(6, body)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// sllHeader is a Linux cooked (SLL) header before an IP packet.
func sllHeader(pktType uint16, etherType uint16, payload []byte) []byte {
	h := make([]byte, 16, 16+len(payload))
	binary.BigEndian.PutUint16(h[0:], pktType)
	binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
	binary.BigEndian.PutUint16(h[4:], 6)
	copy(h[6:], []byte{0x02, 0, 0, 0, 0, 0x01})
	binary.BigEndian.PutUint16(h[14:], etherType)
	return append(h, payload...)
}

// sll2Header is a Linux cooked v2 (SLL2) header before an IP packet.
func sll2Header(pktType uint8, etherType uint16, payload []byte) []byte {
	h := make([]byte, 20, 20+len(payload))
	binary.BigEndian.PutUint16(h[0:], etherType)
	binary.BigEndian.PutUint32(h[4:], 7) // interface index
	binary.BigEndian.PutUint16(h[8:], 1) // ARPHRD_ETHER
	h[10] = pktType
	h[11] = 6
	copy(h[12:], []byte{0x02, 0, 0, 0, 0, 0x01})
	return append(h, payload...)
}

// fileFrame is one frame of a capture file as the oracle reader sees it:
// turned into an Ethernet frame (with a synthesised header for other link
// types), or marked as a link type tacap does not read or too short.
type fileFrame struct {
	ns        int64
	eth       []byte // Ethernet frame
	wireLen   int    // its length on the wire, Ethernet header included
	linkType  uint32
	supported bool
	short     bool
}

// readCaptureFile reads every frame of a pcap (own reader: gopacket's
// link type is 8 bits, too small for SLL2) or pcapng (gopacket's reader)
// file.
// decodeWithReader decodes path with tshark and reads it with the test's
// own reader, which must see as many frames.
func decodeWithReader(t *testing.T, path string) ([]tshark.Frame, []fileFrame) {
	t.Helper()
	all, err := tshark.Decode(path)
	if err != nil {
		t.Fatal(err)
	}
	raw := readCaptureFile(t, path)
	if len(raw) != len(all) {
		t.Fatalf("tshark reads %d frames, the test's reader %d", len(all), len(raw))
	}
	return all, raw
}

func readCaptureFile(t *testing.T, path string) []fileFrame {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	magic, err := r.Peek(4)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []fileFrame
	if bytes.Equal(magic, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		ng, err := pcapgo.NewNgReader(r, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			t.Fatalf("%s: gopacket: %v", path, err)
		}
		for {
			data, ci, err := ng.ReadPacketData()
			if errors.Is(err, io.EOF) {
				return out
			}
			if err != nil {
				t.Fatalf("%s: gopacket: %v", path, err)
			}
			ifc, err := ng.Interface(ci.InterfaceIndex)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			out = append(out, toEthernet(data, ci.Length, ci.Timestamp.UnixNano(), uint32(ifc.LinkType), binary.LittleEndian))
		}
	}
	h := make([]byte, 24)
	if _, err := io.ReadFull(r, h); err != nil {
		t.Fatalf("%s: pcap header: %v", path, err)
	}
	var order binary.ByteOrder = binary.LittleEndian
	nsec := false
	switch binary.LittleEndian.Uint32(h) {
	case 0xa1b2c3d4:
	case 0xa1b23c4d:
		nsec = true
	case 0xd4c3b2a1:
		order = binary.BigEndian
	case 0x4d3cb2a1:
		order, nsec = binary.BigEndian, true
	default:
		t.Fatalf("%s: not a pcap file", path)
	}
	link := order.Uint32(h[20:]) & 0xffff
	for {
		rh := make([]byte, 16)
		if _, err := io.ReadFull(r, rh); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("%s: record header: %v", path, err)
		}
		frac := int64(order.Uint32(rh[4:]))
		if !nsec {
			frac *= 1000
		}
		ns := int64(order.Uint32(rh[0:]))*1e9 + frac
		data := make([]byte, order.Uint32(rh[8:]))
		if _, err := io.ReadFull(r, data); err != nil {
			t.Fatalf("%s: record: %v", path, err)
		}
		out = append(out, toEthernet(data, int(order.Uint32(rh[12:])), ns, link, order))
	}
}

// toEthernet gives a frame of any link type tacap reads an Ethernet header
// (the README lists them: Ethernet, raw IP, SLL, SLL2, BSD loopback).
func toEthernet(data []byte, orig int, ns int64, link uint32, order binary.ByteOrder) fileFrame {
	ff := fileFrame{ns: ns, linkType: link, supported: true}
	hdr, et := 0, uint16(0)
	switch link {
	case linkEthernet:
		ff.eth, ff.wireLen = data, max(orig, len(data))
		ff.short = len(data) < 14
		return ff
	case linkRaw, linkRawOld, linkIPv4, linkIPv6:
		if len(data) == 0 {
			ff.short = true
			return ff
		}
		switch data[0] >> 4 {
		case 4:
			et = 0x0800
		case 6:
			et = 0x86DD
		}
	case linkNull, linkLoop:
		if len(data) < 4 {
			ff.short = true
			return ff
		}
		hdr = 4
		// The address family is in the writer's byte order, which need
		// not be the file's: take whichever reading is a known family.
		for _, o := range []binary.ByteOrder{order, binary.LittleEndian, binary.BigEndian} {
			switch o.Uint32(data) {
			case 2:
				et = 0x0800
			case 10, 24, 28, 30:
				et = 0x86DD
			}
			if et != 0 {
				break
			}
		}
	case linkSLL:
		if len(data) < 16 {
			ff.short = true
			return ff
		}
		hdr, et = 16, binary.BigEndian.Uint16(data[14:])
	case linkSLL2:
		if len(data) < 20 {
			ff.short = true
			return ff
		}
		hdr, et = 20, binary.BigEndian.Uint16(data[0:])
	default:
		ff.supported = false
		return ff
	}
	eth := make([]byte, 14, 14+len(data)-hdr)
	binary.BigEndian.PutUint16(eth[12:], et)
	ff.eth = append(eth, data[hdr:]...)
	ff.wireLen = max(orig-hdr+14, len(ff.eth))
	return ff
}
