// Package pcapfile reads pcap (µs and ns) and pcapng capture files, gzipped
// or not, and turns every frame into an Ethernet frame for the extractor:
// raw IP, Linux cooked (SLL, SLL2) and BSD loopback frames get a
// synthesised Ethernet header, so the kernel program stays one. It keeps
// each frame's own time (ns), its length on the wire, the pcapng interface
// name and the direction from pcapng flags or the SLL packet type.
package pcapfile

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Direction of a frame, as the extractor numbers them.
const (
	DirUnknown = 0
	DirIn      = 1
	DirOut     = 2
)

// Link types tacap reads (LINKTYPE_*).
const (
	LinkNull     = 0
	LinkEthernet = 1
	LinkRaw      = 101
	LinkRawOld   = 12
	LinkLoop     = 108
	LinkSLL      = 113
	LinkIPv4     = 228
	LinkIPv6     = 229
	LinkSLL2     = 276
)

// Frame is one frame of the file, as an Ethernet frame.
type Frame struct {
	Data      []byte // Ethernet frame (valid until the next call to Next)
	WireLen   uint32 // its length on the wire, Ethernet header included
	LenDelta  int16  // the file's link header length less the 14 of the Ethernet header Data has
	TimeNs    int64
	Direction uint8
	Iface     string // pcapng interface name, "" when the file has none
	LinkType  uint16 // the file's link type for this frame
	Supported bool   // false: a link type tacap does not read (Data is nil)
	Short     bool   // true: too short for its own link-layer header
}

// ErrTruncated means the file ends inside a record or block.
var ErrTruncated = errors.New("file ends in the middle of a record")

// Reader yields the frames of one file.
type Reader struct {
	r        *bufio.Reader
	counter  *countingReader
	consumed int64
	next     func() (*Frame, error)
	order    binary.ByteOrder
	buf      []byte
	frame    Frame
	eth      []byte
	// pcap
	nsec     bool
	linkType uint16
	// pcapng
	ifaces []ngIface
}

type ngIface struct {
	linkType uint16
	name     string
	tsresol  byte // if_tsresol: 10^-n s, or 2^-n s with the top bit set
}

// nanos converts a timestamp in the interface's resolution.
func (i ngIface) nanos(ts uint64) int64 {
	n := uint64(i.tsresol & 0x7f)
	if i.tsresol&0x80 != 0 { // 2^-n s
		if n > 63 {
			return 0
		}
		return int64((ts>>n)*1e9 + ((ts&(1<<n-1))*1e9)>>n)
	}
	if n <= 9 {
		m := uint64(1)
		for ; n < 9; n++ {
			m *= 10
		}
		return int64(ts * m)
	}
	d := uint64(1)
	for ; n > 9 && d < 1e18; n-- {
		d *= 10
	}
	return int64(ts / d)
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Offset is how many bytes of the underlying file have been read (read
// ahead included): progress.
func (r *Reader) Offset() int64 { return r.counter.n }

// Consumed is the position in the (decompressed) capture after the last
// complete record: where a truncated or corrupt file stopped the run.
func (r *Reader) Consumed() int64 { return r.consumed }

// NewReader detects the format (gzip, pcap, pcapng) and reads the header.
func NewReader(in io.Reader) (*Reader, error) {
	cr := &countingReader{r: in}
	br := bufio.NewReaderSize(cr, 1<<20)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("not a capture file: %w", err)
	}
	if magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		br = bufio.NewReaderSize(gz, 1<<20)
		if magic, err = br.Peek(4); err != nil {
			return nil, fmt.Errorf("not a capture file inside gzip: %w", err)
		}
	}
	r := &Reader{r: br, counter: cr}
	switch {
	case binary.BigEndian.Uint32(magic) == 0x0A0D0D0A:
		r.next = r.nextNg
		return r, nil
	default:
		return r, r.readPcapHeader()
	}
}

// Next returns the next frame, io.EOF at the end, ErrTruncated (wrapped)
// for a cut-off last record, or another error for a corrupt file.
func (r *Reader) Next() (*Frame, error) { return r.next() }

func (r *Reader) readFull(n int) ([]byte, error) {
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	b := r.buf[:n]
	if _, err := io.ReadFull(r.r, b); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, ErrTruncated
		}
		return nil, err
	}
	r.consumed += int64(n)
	return b, nil
}

func (r *Reader) readPcapHeader() error {
	h, err := r.readFull(24)
	if err != nil {
		return fmt.Errorf("pcap header: %w", err)
	}
	switch binary.LittleEndian.Uint32(h) {
	case 0xa1b2c3d4:
		r.order = binary.LittleEndian
	case 0xa1b23c4d:
		r.order, r.nsec = binary.LittleEndian, true
	case 0xd4c3b2a1:
		r.order = binary.BigEndian
	case 0x4d3cb2a1:
		r.order, r.nsec = binary.BigEndian, true
	default:
		return fmt.Errorf("not a pcap or pcapng file (magic %#08x)", binary.BigEndian.Uint32(h))
	}
	r.linkType = uint16(r.order.Uint32(h[20:]) & 0xffff)
	r.next = r.nextPcap
	return nil
}

const maxFrame = 1 << 20 // larger records mean a corrupt file (BIG TCP frames stay far below)

func (r *Reader) nextPcap() (*Frame, error) {
	h, err := r.readFull(16)
	if err != nil {
		return nil, err
	}
	sec, frac := int64(r.order.Uint32(h)), int64(r.order.Uint32(h[4:]))
	incl, orig := r.order.Uint32(h[8:]), r.order.Uint32(h[12:])
	if incl > maxFrame || (!r.nsec && frac >= 1e6) || (r.nsec && frac >= 1e9) {
		return nil, fmt.Errorf("corrupt record header (captured length %d)", incl)
	}
	if !r.nsec {
		frac *= 1000
	}
	data, err := r.readFull(int(incl))
	if err != nil {
		return nil, err
	}
	return r.toEthernet(data, orig, sec*1e9+frac, r.linkType, "", DirUnknown), nil
}

func (r *Reader) nextNg() (*Frame, error) {
	for {
		h, err := r.readFull(8)
		if err != nil {
			return nil, err
		}
		typ := binary.BigEndian.Uint32(h)
		if typ == 0x0A0D0D0A { // section header: its byte order applies from here
			bom, err := r.r.Peek(4)
			if err != nil {
				return nil, ErrTruncated
			}
			switch binary.LittleEndian.Uint32(bom) {
			case 0x1A2B3C4D:
				r.order = binary.LittleEndian
			case 0x4D3C2B1A:
				r.order = binary.BigEndian
			default:
				return nil, fmt.Errorf("corrupt pcapng section header")
			}
			r.ifaces = r.ifaces[:0]
		} else if r.order == nil {
			return nil, fmt.Errorf("pcapng file does not start with a section header")
		} else {
			typ = r.order.Uint32(h)
		}
		total := r.order.Uint32(h[4:])
		if total < 12 || total%4 != 0 || total > maxFrame+256 {
			return nil, fmt.Errorf("corrupt pcapng block (length %d)", total)
		}
		body, err := r.readFull(int(total) - 8)
		if err != nil {
			return nil, err
		}
		body = body[:len(body)-4] // trailing length
		switch typ {
		case 0x0A0D0D0A:
		case 1: // interface description
			if len(body) < 8 {
				return nil, fmt.Errorf("corrupt pcapng interface block")
			}
			ifc := ngIface{linkType: r.order.Uint16(body), tsresol: 6}
			r.options(body[8:], func(code uint16, v []byte) {
				switch code {
				case 2:
					ifc.name = string(trimNUL(v))
				case 9:
					if len(v) > 0 {
						ifc.tsresol = v[0]
					}
				}
			})
			r.ifaces = append(r.ifaces, ifc)
		case 6, 2: // enhanced packet, obsolete packet
			if len(body) < 20 {
				return nil, fmt.Errorf("corrupt pcapng packet block")
			}
			var id uint32
			if typ == 6 {
				id = r.order.Uint32(body)
			} else {
				id = uint32(r.order.Uint16(body))
			}
			if int(id) >= len(r.ifaces) {
				return nil, fmt.Errorf("pcapng packet of undeclared interface %d", id)
			}
			ifc := r.ifaces[id]
			ts := uint64(r.order.Uint32(body[4:]))<<32 | uint64(r.order.Uint32(body[8:]))
			capLen, orig := r.order.Uint32(body[12:]), r.order.Uint32(body[16:])
			if int(capLen) > len(body)-20 {
				return nil, fmt.Errorf("corrupt pcapng packet block (captured length %d)", capLen)
			}
			data := body[20 : 20+capLen]
			dir := uint8(DirUnknown)
			optAt := 20 + (int(capLen)+3)&^3
			if optAt <= len(body) {
				r.options(body[optAt:], func(code uint16, v []byte) {
					if code == 2 && len(v) >= 4 {
						switch r.order.Uint32(v) & 3 {
						case 1:
							dir = DirIn
						case 2:
							dir = DirOut
						}
					}
				})
			}
			return r.toEthernet(data, orig, ifc.nanos(ts), ifc.linkType, ifc.name, dir), nil
		case 3: // simple packet: interface 0, no time
			if len(r.ifaces) == 0 || len(body) < 4 {
				return nil, fmt.Errorf("corrupt pcapng simple packet block")
			}
			orig := r.order.Uint32(body)
			data := body[4:]
			if int(orig) < len(data) {
				data = data[:orig]
			}
			return r.toEthernet(data, orig, 0, r.ifaces[0].linkType, r.ifaces[0].name, DirUnknown), nil
		}
		// other blocks (statistics, name resolution, custom): skipped
	}
}

func (r *Reader) options(b []byte, f func(code uint16, v []byte)) {
	for len(b) >= 4 {
		code, n := r.order.Uint16(b), int(r.order.Uint16(b[2:]))
		if code == 0 || 4+n > len(b) {
			return
		}
		f(code, b[4:4+n])
		b = b[4+(n+3)&^3:]
	}
}

func trimNUL(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

// toEthernet builds the frame the extractor sees.
func (r *Reader) toEthernet(data []byte, orig uint32, ns int64, link uint16, iface string, dir uint8) *Frame {
	f := &r.frame
	*f = Frame{TimeNs: ns, Direction: dir, Iface: iface, LinkType: link, Supported: true}
	hdrLen, etherType := 0, uint16(0)
	switch link {
	case LinkEthernet:
		f.Data, f.WireLen = data, max(orig, uint32(len(data)))
		return f
	case LinkRaw, LinkRawOld, LinkIPv4, LinkIPv6:
		if len(data) == 0 {
			f.Short = true
			return f
		}
		etherType = ipEtherType(data[0] >> 4)
	case LinkNull, LinkLoop:
		if len(data) < 4 {
			f.Short = true
			return f
		}
		hdrLen = 4
		af := r.order.Uint32(data)
		if af > 0xffff { // written in the other byte order than the file's
			af = af>>24 | (af>>8)&0xff00
		}
		switch af {
		case 2:
			etherType = 0x0800
		case 10, 24, 28, 30:
			etherType = 0x86DD
		}
	case LinkSLL:
		if len(data) < 16 {
			f.Short = true
			return f
		}
		hdrLen, etherType = 16, binary.BigEndian.Uint16(data[14:])
		f.Direction = sllDirection(binary.BigEndian.Uint16(data[0:]))
	case LinkSLL2:
		if len(data) < 20 {
			f.Short = true
			return f
		}
		hdrLen, etherType = 20, binary.BigEndian.Uint16(data[0:])
		f.Direction = sllDirection(uint16(data[10]))
	default:
		f.Supported = false
		return f
	}
	if dir != DirUnknown {
		f.Direction = dir // pcapng flags win
	}
	payload := data[hdrLen:]
	if cap(r.eth) < 14+len(payload) {
		r.eth = make([]byte, 14+len(payload), 14+maxFrame)
	}
	eth := r.eth[:14+len(payload)]
	clear(eth[:12])
	binary.BigEndian.PutUint16(eth[12:], etherType)
	copy(eth[14:], payload)
	f.Data = eth
	f.LenDelta = int16(hdrLen - 14)
	wire := int64(orig) - int64(hdrLen) + 14
	f.WireLen = uint32(max(wire, int64(len(eth))))
	return f
}

func ipEtherType(version byte) uint16 {
	switch version {
	case 4:
		return 0x0800
	case 6:
		return 0x86DD
	}
	return 0 // not IP: the extractor counts it not_ip
}

func sllDirection(pktType uint16) uint8 {
	switch pktType {
	case 0, 1, 2, 3: // to us, broadcast, multicast, to someone else: all arrived
		return DirIn
	case 4: // sent by us
		return DirOut
	}
	return DirUnknown
}
