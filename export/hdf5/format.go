package hdf5

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// On-disk constants (HDF5 File Format Specification 3.0). Offsets and
// lengths are 8 bytes; every integer is little-endian.
const (
	superblockSize = 48 // version 2: 8+4+4*8+4

	undefAddr = ^uint64(0) // "undefined address": all bits set

	maxRank    = 32   // H5S_MAX_RANK
	maxNameLen = 4096 // our own limit; keeps every message far below 64 KiB

	// Object header message types.
	msgDataspace = 0x01
	msgLinkInfo  = 0x02
	msgDatatype  = 0x03
	msgFillValue = 0x05
	msgLink      = 0x06
	msgLayout    = 0x08
	msgGroupInfo = 0x0A

	msgFlagConstant = 0x01
)

var signature = [8]byte{0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'}

type message struct {
	typ   byte
	flags byte
	data  []byte
}

func le16(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }
func le32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func le64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

// superblock encodes a version 2 superblock: no base offset, no superblock
// extension, the given end-of-file address and root group object header.
func superblock(eof, root uint64) []byte {
	b := make([]byte, 0, superblockSize)
	b = append(b, signature[:]...)
	b = append(b, 2, 8, 8, 0) // version, size of offsets, size of lengths, consistency flags
	b = le64(b, 0)            // base address
	b = le64(b, undefAddr)    // superblock extension address
	b = le64(b, eof)          // end of file address
	b = le64(b, root)         // root group object header address
	return le32(b, lookup3(b, 0))
}

// objectHeader encodes a version 2 object header ("OHDR") holding msgs in a
// single chunk: no times, no attribute phase-change values, no creation
// order, no gap, then the lookup3 checksum of everything before it.
func objectHeader(msgs []message) ([]byte, error) {
	size := 0
	for _, m := range msgs {
		if len(m.data) > 0xffff {
			return nil, fmt.Errorf("hdf5: internal error: message type %#x of %d bytes", m.typ, len(m.data))
		}
		size += 4 + len(m.data)
	}
	b := make([]byte, 0, 6+8+size+4)
	b = append(b, 'O', 'H', 'D', 'R', 2)
	// Flags bits 0-1: width of the "size of chunk 0" field.
	switch {
	case size <= 0xff:
		b = append(b, 0, byte(size))
	case size <= 0xffff:
		b = append(b, 1)
		b = le16(b, uint16(size))
	case uint64(size) <= 0xffffffff:
		b = append(b, 2)
		b = le32(b, uint32(size))
	default:
		b = append(b, 3)
		b = le64(b, uint64(size))
	}
	for _, m := range msgs {
		b = append(b, m.typ)
		b = le16(b, uint16(len(m.data)))
		b = append(b, m.flags)
		b = append(b, m.data...)
	}
	return le32(b, lookup3(b, 0)), nil
}

// dataspaceMessage: version 2; rank 0 is a scalar, otherwise a simple
// dataspace whose maximum dimensions equal the current ones (not stored).
func dataspaceMessage(shape []uint64) message {
	b := make([]byte, 0, 4+8*len(shape))
	typ := byte(1) // simple
	if len(shape) == 0 {
		typ = 0 // scalar
	}
	b = append(b, 2, byte(len(shape)), 0, typ)
	for _, d := range shape {
		b = le64(b, d)
	}
	return message{typ: msgDataspace, data: b}
}

// datatypeMessage: version 1 fixed-point (class 0) or floating-point
// (class 1), little-endian, no padding, IEEE 754 layouts for floats.
func datatypeMessage(t Type) message {
	size := t.Size()
	var b []byte
	if t == Float32 || t == Float64 {
		sign, expLoc, expSize, mantSize, bias := 63, 52, 11, 52, uint32(1023)
		if t == Float32 {
			sign, expLoc, expSize, mantSize, bias = 31, 23, 8, 23, 127
		}
		// Bit field: byte order LE (bit 0 = 0), padding 0, mantissa
		// normalisation "implied MSB" (bits 4-5 = 2), sign bit position.
		b = append(b, 0x11, 0x20, byte(sign), 0)
		b = le32(b, uint32(size))
		b = le16(b, 0)                // bit offset
		b = le16(b, uint16(8*size))   // bit precision
		b = append(b, byte(expLoc))   // exponent location
		b = append(b, byte(expSize))  // exponent size
		b = append(b, 0)              // mantissa location
		b = append(b, byte(mantSize)) // mantissa size
		b = le32(b, bias)             // exponent bias
	} else {
		var bf byte // byte order LE, padding 0
		if t.signed() {
			bf |= 0x08
		}
		b = append(b, 0x10, bf, 0, 0)
		b = le32(b, uint32(size))
		b = le16(b, 0)              // bit offset
		b = le16(b, uint16(8*size)) // bit precision
	}
	return message{typ: msgDatatype, flags: msgFlagConstant, data: b}
}

// fillValueMessage: version 3, space allocation "late", fill value written
// "if set", no fill value defined (the library default, zeros). Readers
// only consult it for unallocated storage, which only empty datasets have.
func fillValueMessage() message {
	return message{typ: msgFillValue, flags: msgFlagConstant, data: []byte{3, 0x02 | 0x02<<2}}
}

// layoutMessage: version 3, contiguous (class 1) storage at addr of size
// bytes; addr is undefAddr for an empty dataset.
func layoutMessage(addr, size uint64) message {
	b := make([]byte, 0, 18)
	b = append(b, 3, 1)
	b = le64(b, addr)
	b = le64(b, size)
	return message{typ: msgLayout, data: b}
}

// linkInfoMessage marks a "new style" group whose links are all stored in
// its object header (compact storage): version 0, no creation order, no
// fractal heap, no name index.
func linkInfoMessage() message {
	b := make([]byte, 0, 18)
	b = append(b, 0, 0)
	b = le64(b, undefAddr)
	b = le64(b, undefAddr)
	return message{typ: msgLinkInfo, data: b}
}

// groupInfoMessage: version 0, default link phase-change values.
func groupInfoMessage() message {
	return message{typ: msgGroupInfo, flags: msgFlagConstant, data: []byte{0, 0}}
}

// linkMessage: version 1 hard link named name to the object header at addr.
func linkMessage(name string, addr uint64) message {
	var flags byte
	if len(name) > 0xff {
		flags |= 0x01 // 2-byte name length
	}
	utf := !isASCII(name)
	if utf {
		flags |= 0x10 // character set field present
	}
	b := make([]byte, 0, 2+1+2+len(name)+8)
	b = append(b, 1, flags)
	if utf {
		b = append(b, 1) // H5T_CSET_UTF8
	}
	if len(name) > 0xff {
		b = le16(b, uint16(len(name)))
	} else {
		b = append(b, byte(len(name)))
	}
	b = append(b, name...)
	b = le64(b, addr)
	return message{typ: msgLink, data: b}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
