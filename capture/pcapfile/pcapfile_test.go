package pcapfile

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

func pcapFile(order binary.ByteOrder, nsec bool, link uint32, recs ...[]byte) []byte {
	var b bytes.Buffer
	magic := uint32(0xa1b2c3d4)
	if nsec {
		magic = 0xa1b23c4d
	}
	h := make([]byte, 24)
	order.PutUint32(h, magic)
	order.PutUint16(h[4:], 2)
	order.PutUint16(h[6:], 4)
	order.PutUint32(h[16:], 65535)
	order.PutUint32(h[20:], link)
	b.Write(h)
	for i, d := range recs {
		rh := make([]byte, 16)
		order.PutUint32(rh, 1700000000+uint32(i))
		order.PutUint32(rh[4:], 123456)
		order.PutUint32(rh[8:], uint32(len(d)))
		order.PutUint32(rh[12:], uint32(len(d))+100)
		b.Write(rh)
		b.Write(d)
	}
	return b.Bytes()
}

func ipv4Packet() []byte {
	p := make([]byte, 28)
	p[0] = 0x45
	p[9] = 17
	return p
}

func TestPcapVariants(t *testing.T) {
	eth := append(make([]byte, 12), 0x08, 0x00)
	eth = append(eth, ipv4Packet()...)
	for _, tc := range []struct {
		name   string
		file   []byte
		wantNs int64
		wire   uint32
	}{
		{"little-endian µs ethernet", pcapFile(binary.LittleEndian, false, LinkEthernet, eth), 1700000000*1e9 + 123456000, 142},
		{"big-endian ns ethernet", pcapFile(binary.BigEndian, true, LinkEthernet, eth), 1700000000*1e9 + 123456, 142},
		{"raw ip", pcapFile(binary.LittleEndian, false, LinkRaw, ipv4Packet()), 1700000000*1e9 + 123456000, 142},
		{"ipv4 link type", pcapFile(binary.LittleEndian, false, LinkIPv4, ipv4Packet()), 1700000000*1e9 + 123456000, 142},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			f, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			if !f.Supported || f.TimeNs != tc.wantNs || f.WireLen != tc.wire || len(f.Data) != 42 ||
				binary.BigEndian.Uint16(f.Data[12:]) != 0x0800 || f.Data[14] != 0x45 {
				t.Fatalf("frame %+v", f)
			}
			if _, err := r.Next(); err != io.EOF {
				t.Fatalf("after the last frame: %v, want EOF", err)
			}
		})
	}
}

func TestGzipAndTruncation(t *testing.T) {
	file := pcapFile(binary.LittleEndian, false, LinkRaw, ipv4Packet(), ipv4Packet())
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(file[:len(file)-5]) // the second record is cut
	w.Close()
	r, err := NewReader(&gz)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); !errors.Is(err, ErrTruncated) {
		t.Fatalf("cut record: %v, want ErrTruncated", err)
	}
}

func TestNotACapture(t *testing.T) {
	if _, err := NewReader(bytes.NewReader([]byte("hello, world, not a pcap"))); err == nil {
		t.Fatal("text accepted as a capture")
	}
}

func TestSLLDirection(t *testing.T) {
	sll := make([]byte, 16)
	binary.BigEndian.PutUint16(sll[0:], 4) // outgoing
	binary.BigEndian.PutUint16(sll[14:], 0x86DD)
	pkt := append(sll, make([]byte, 40)...)
	pkt[16] = 0x60
	r, err := NewReader(bytes.NewReader(pcapFile(binary.LittleEndian, false, LinkSLL, pkt)))
	if err != nil {
		t.Fatal(err)
	}
	f, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if f.Direction != DirOut || binary.BigEndian.Uint16(f.Data[12:]) != 0x86DD || len(f.Data) != 54 {
		t.Fatalf("frame %+v", f)
	}
}

func TestTsresol(t *testing.T) {
	for _, tc := range []struct {
		res  byte
		ts   uint64
		want int64
	}{
		{6, 5, 5000}, {9, 5, 5}, {3, 5, 5_000_000}, {12, 5000, 5}, {0x80 | 10, 1024, 1_000_000_000}, {0x80 | 1, 3, 1_500_000_000},
	} {
		if got := (ngIface{tsresol: tc.res}).nanos(tc.ts); got != tc.want {
			t.Errorf("tsresol %#x, %d ticks: %d ns, want %d", tc.res, tc.ts, got, tc.want)
		}
	}
}
