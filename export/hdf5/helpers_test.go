package hdf5

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// memFile is an in-memory io.WriteSeeker that, like a file, zero-fills when
// written past its end.
type memFile struct {
	b   []byte
	pos int64
}

func (m *memFile) Write(p []byte) (int, error) {
	if end := m.pos + int64(len(p)); end > int64(len(m.b)) {
		m.b = append(m.b, make([]byte, end-int64(len(m.b)))...)
	}
	copy(m.b[m.pos:], p)
	m.pos += int64(len(p))
	return len(p), nil
}

func (m *memFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += m.pos
	case io.SeekEnd:
		off += int64(len(m.b))
	}
	if off < 0 {
		return 0, errors.New("memFile: negative position")
	}
	m.pos = off
	return off, nil
}

// f64At and i64At are the value patterns of the round-trip tests: negatives,
// fractions, -0, subnormals and the extremes, NaN-free.
func f64At(i int) float64 {
	switch i % 17 {
	case 3:
		return math.Copysign(0, -1)
	case 5:
		return math.SmallestNonzeroFloat64
	case 7:
		return -math.MaxFloat64
	case 11:
		return math.MaxFloat64
	case 13:
		return -1e-300
	}
	return float64(int64(i*7919)%20001-10000)/1024 + 1.0/3
}

func i64At(i int) int64 {
	switch i % 11 {
	case 2:
		return math.MinInt64
	case 4:
		return math.MaxInt64
	case 6:
		return -1
	}
	v := int64(uint64(i) * 0x9E3779B97F4A7C15 >> 20)
	if i%2 == 1 {
		v = -v
	}
	return v
}

// values returns n elements of type t following the patterns above, as the
// slice Write takes, and their little-endian encoding.
func values(t Type, start, n int) (any, []byte) {
	var buf bytes.Buffer
	var s any
	switch t {
	case Float64:
		v := make([]float64, n)
		for i := range v {
			v[i] = f64At(start + i)
		}
		s = v
	case Float32:
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(f64At(start + i))
			if math.IsInf(float64(v[i]), 0) {
				v[i] = float32(math.Copysign(math.MaxFloat32, float64(v[i])))
			}
		}
		s = v
	case Int64:
		v := make([]int64, n)
		for i := range v {
			v[i] = i64At(start + i)
		}
		s = v
	case Int32:
		v := make([]int32, n)
		for i := range v {
			v[i] = int32(i64At(start+i) >> 32)
		}
		s = v
	case Int16:
		v := make([]int16, n)
		for i := range v {
			v[i] = int16(i64At(start+i) >> 48)
		}
		s = v
	case Int8:
		v := make([]int8, n)
		for i := range v {
			v[i] = int8(i64At(start+i) >> 56)
		}
		s = v
	case Uint64:
		v := make([]uint64, n)
		for i := range v {
			v[i] = uint64(i64At(start + i))
		}
		s = v
	case Uint32:
		v := make([]uint32, n)
		for i := range v {
			v[i] = uint32(uint64(i64At(start+i)) >> 32)
		}
		s = v
	case Uint16:
		v := make([]uint16, n)
		for i := range v {
			v[i] = uint16(uint64(i64At(start+i)) >> 48)
		}
		s = v
	case Uint8:
		v := make([]uint8, n)
		for i := range v {
			v[i] = uint8(uint64(i64At(start+i)) >> 56)
		}
		s = v
	default:
		panic("values: bad type")
	}
	if err := binary.Write(&buf, binary.LittleEndian, s); err != nil {
		panic(err)
	}
	return s, buf.Bytes()
}

// parsed is what readBack found for one dataset.
type parsed struct {
	shape []uint64
	typ   Type
	data  []byte
}

// readBack is a strict reader of exactly the subset this package writes,
// used by the fuzz and error tests where running h5py for every input is
// too slow. The round-trip tests use h5py, the independent reader.
func readBack(b []byte) (map[string]parsed, error) {
	if len(b) < superblockSize || !bytes.Equal(b[:8], signature[:]) {
		return nil, errors.New("no HDF5 signature at offset 0")
	}
	sb := b[:superblockSize]
	if sb[8] != 2 || sb[9] != 8 || sb[10] != 8 || sb[11] != 0 {
		return nil, fmt.Errorf("superblock version/sizes/flags % x", sb[8:12])
	}
	if got, want := binary.LittleEndian.Uint32(sb[44:]), lookup3(sb[:44], 0); got != want {
		return nil, fmt.Errorf("superblock checksum %#x, want %#x", got, want)
	}
	u64 := binary.LittleEndian.Uint64
	if u64(sb[12:]) != 0 || u64(sb[20:]) != undefAddr {
		return nil, errors.New("base address or superblock extension set")
	}
	if eof := u64(sb[28:]); eof != uint64(len(b)) {
		return nil, fmt.Errorf("end of file address %d, file has %d bytes", eof, len(b))
	}
	rootMsgs, err := readHeader(b, u64(sb[36:]))
	if err != nil {
		return nil, fmt.Errorf("root group: %v", err)
	}
	out := map[string]parsed{}
	sawLinfo, sawGinfo := false, false
	for _, m := range rootMsgs {
		switch m.typ {
		case msgLinkInfo:
			if len(m.data) != 18 || m.data[0] != 0 || m.data[1] != 0 || u64(m.data[2:]) != undefAddr || u64(m.data[10:]) != undefAddr {
				return nil, fmt.Errorf("link info % x", m.data)
			}
			sawLinfo = true
		case msgGroupInfo:
			if !bytes.Equal(m.data, []byte{0, 0}) {
				return nil, fmt.Errorf("group info % x", m.data)
			}
			sawGinfo = true
		case msgLink:
			name, addr, err := parseLink(m.data)
			if err != nil {
				return nil, err
			}
			if _, dup := out[name]; dup {
				return nil, fmt.Errorf("link %q twice", name)
			}
			p, err := readDataset(b, addr)
			if err != nil {
				return nil, fmt.Errorf("dataset %q: %v", name, err)
			}
			out[name] = p
		default:
			return nil, fmt.Errorf("root group: unexpected message type %#x", m.typ)
		}
	}
	if !sawLinfo || !sawGinfo {
		return nil, errors.New("root group lacks link info or group info")
	}
	return out, nil
}

func readHeader(b []byte, addr uint64) ([]message, error) {
	if addr > uint64(len(b)) || uint64(len(b))-addr < 6+4 {
		return nil, fmt.Errorf("object header at %d outside the file", addr)
	}
	h := b[addr:]
	if string(h[:4]) != "OHDR" || h[4] != 2 {
		return nil, fmt.Errorf("no version 2 object header at %d", addr)
	}
	flags := h[5]
	if flags&^3 != 0 {
		return nil, fmt.Errorf("object header flags %#x", flags)
	}
	w := 1 << (flags & 3)
	if len(h) < 6+w {
		return nil, errors.New("truncated object header")
	}
	var size uint64
	for i := w - 1; i >= 0; i-- {
		size = size<<8 | uint64(h[6+i])
	}
	end := 6 + uint64(w) + size
	if end+4 > uint64(len(h)) {
		return nil, errors.New("object header chunk past the end of file")
	}
	if got, want := binary.LittleEndian.Uint32(h[end:]), lookup3(h[:end], 0); got != want {
		return nil, fmt.Errorf("object header checksum %#x, want %#x", got, want)
	}
	var msgs []message
	for p := h[6+w : end]; len(p) > 0; {
		if len(p) < 4 {
			return nil, errors.New("gap in object header")
		}
		n := int(binary.LittleEndian.Uint16(p[1:]))
		if len(p) < 4+n {
			return nil, errors.New("message past its chunk")
		}
		msgs = append(msgs, message{typ: p[0], flags: p[3], data: p[4 : 4+n]})
		p = p[4+n:]
	}
	return msgs, nil
}

func parseLink(d []byte) (string, uint64, error) {
	if len(d) < 2 || d[0] != 1 || d[1]&^0x11 != 0 {
		return "", 0, fmt.Errorf("link message % x", d)
	}
	flags, p := d[1], d[2:]
	if flags&0x10 != 0 {
		if len(p) < 1 || p[0] != 1 {
			return "", 0, errors.New("link charset")
		}
		p = p[1:]
	}
	var n int
	if flags&1 != 0 {
		if len(p) < 2 {
			return "", 0, errors.New("short link")
		}
		n, p = int(binary.LittleEndian.Uint16(p)), p[2:]
	} else {
		if len(p) < 1 {
			return "", 0, errors.New("short link")
		}
		n, p = int(p[0]), p[1:]
	}
	if len(p) != n+8 {
		return "", 0, errors.New("link length")
	}
	return string(p[:n]), binary.LittleEndian.Uint64(p[n:]), nil
}

func readDataset(b []byte, addr uint64) (parsed, error) {
	msgs, err := readHeader(b, addr)
	if err != nil {
		return parsed{}, err
	}
	if len(msgs) != 4 || msgs[0].typ != msgDataspace || msgs[1].typ != msgDatatype ||
		msgs[2].typ != msgFillValue || msgs[3].typ != msgLayout {
		return parsed{}, fmt.Errorf("unexpected messages %v", msgs)
	}
	var p parsed
	sp := msgs[0].data
	if len(sp) < 4 || sp[0] != 2 || sp[2] != 0 || len(sp) != 4+8*int(sp[1]) || (sp[3] == 0) != (sp[1] == 0) || sp[3] > 1 {
		return p, fmt.Errorf("dataspace % x", sp)
	}
	n := uint64(1)
	p.shape = []uint64{}
	for i := 0; i < int(sp[1]); i++ {
		d := binary.LittleEndian.Uint64(sp[4+8*i:])
		p.shape = append(p.shape, d)
		n *= d
	}
	for t := Float64; t <= Uint8; t++ {
		if bytes.Equal(datatypeMessage(t).data, msgs[1].data) {
			p.typ = t
		}
	}
	if p.typ == 0 {
		return p, fmt.Errorf("datatype % x", msgs[1].data)
	}
	if !bytes.Equal(msgs[2].data, fillValueMessage().data) {
		return p, fmt.Errorf("fill value % x", msgs[2].data)
	}
	ly := msgs[3].data
	if len(ly) != 18 || ly[0] != 3 || ly[1] != 1 {
		return p, fmt.Errorf("layout % x", ly)
	}
	at, size := binary.LittleEndian.Uint64(ly[2:]), binary.LittleEndian.Uint64(ly[10:])
	if size != n*uint64(p.typ.Size()) {
		return p, fmt.Errorf("layout size %d for %d elements of %s", size, n, p.typ)
	}
	if size == 0 {
		if at != undefAddr {
			return p, errors.New("empty dataset with storage")
		}
		p.data = []byte{}
		return p, nil
	}
	if at < superblockSize || at > uint64(len(b)) || uint64(len(b))-at < size {
		return p, fmt.Errorf("data [%d, +%d) outside the file", at, size)
	}
	p.data = b[at : at+size]
	return p, nil
}
