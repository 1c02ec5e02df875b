// Package filter compiles capture filters in tcpdump's pcap-filter syntax
// into eBPF for tacap's kernel program, without libpcap or a C toolchain.
//
// The program parses each packet before it filters, so the generated code
// tests the fields it parsed (addresses, ports, protocol, flags, VLAN
// tags) and reads raw bytes only for the byte tests no field answers
// (ip[0] & 0xf, tcp[20:4]); those read a copy of the frame's first
// BytesMax bytes. The meaning of each primitive follows libpcap's code
// for it (offsets, fragments, VLAN depth); docs/filters.md says what is
// supported and where tacap differs.
package filter

import (
	"fmt"

	"github.com/cilium/ebpf/asm"
)

// BytesMax is how many of a frame's first bytes a byte test can read.
const BytesMax = 256

// MaxInstructions bounds a compiled filter: the kernel's verifier walks it
// on every path of the program that reaches it (100 IPv6 hosts, about
// 2 000 instructions, take a replay 1.2 s to load).
const MaxInstructions = 2048

// Program is a compiled filter.
type Program struct {
	Expr string
	// Insns is the body of tacap_filter(record, filter context).
	Insns asm.Instructions
	// BytesNeeded is how many of the frame's first bytes the program may
	// read (at most BytesMax); the kernel program copies that many for
	// each packet, and none when it is 0 (parsed fields only).
	BytesNeeded int
}

// Field is where a value sits in the record or the filter context.
type Field struct {
	Off  int16
	Size int // 1, 2 or 4
}

// Layout says where the kernel program keeps what the filter tests: the
// record's fields (first argument) and the filter context's (second).
type Layout struct {
	IPVersion, Protocol, SrcAddr, DstAddr, SrcPort, DstPort, FragOff, TCPFlags,
	ICMPType, ICMPCode, TTL, Direction Field

	FrameLen, BytesLen, L3Off, L4Off, Tags, InlineTags, TagIDs, NextHeader0, NextHeader1 Field
	Bytes                                                                                Field // Size: BytesMax
}

// field returns the base register and place of a field.
func (l Layout) field(id fieldID) (asm.Register, Field, error) {
	switch id {
	case fIPVersion:
		return rRec, l.IPVersion, nil
	case fProtocol:
		return rRec, l.Protocol, nil
	case fSrcAddr:
		return rRec, l.SrcAddr, nil
	case fDstAddr:
		return rRec, l.DstAddr, nil
	case fSrcPort:
		return rRec, l.SrcPort, nil
	case fDstPort:
		return rRec, l.DstPort, nil
	case fFragOff:
		return rRec, l.FragOff, nil
	case fTCPFlags:
		return rRec, l.TCPFlags, nil
	case fICMPType:
		return rRec, l.ICMPType, nil
	case fICMPCode:
		return rRec, l.ICMPCode, nil
	case fTTL:
		return rRec, l.TTL, nil
	case fDirection:
		return rRec, l.Direction, nil
	case fFrameLen:
		return rCtx, l.FrameLen, nil
	case fTags:
		return rCtx, l.Tags, nil
	case fInlineTags:
		return rCtx, l.InlineTags, nil
	case fTagID:
		return rCtx, l.TagIDs, nil
	case fNextHeader0:
		return rCtx, l.NextHeader0, nil
	case fNextHeader1:
		return rCtx, l.NextHeader1, nil
	}
	return 0, Field{}, fmt.Errorf("internal: field %d has no place", id)
}

// Check says what is wrong with expr, as Compile would (it compiles it
// for a layout of its own).
func Check(expr string) error {
	_, err := Compile(expr, checkLayout)
	return err
}

// checkLayout is a layout for Check: the code compiled for it is thrown
// away, so only the sizes matter.
var checkLayout = Layout{
	IPVersion: Field{0, 1}, Protocol: Field{0, 1}, SrcAddr: Field{0, 4}, DstAddr: Field{0, 4}, SrcPort: Field{0, 2},
	DstPort: Field{0, 2}, FragOff: Field{0, 2}, TCPFlags: Field{0, 1}, ICMPType: Field{0, 1}, ICMPCode: Field{0, 1},
	TTL: Field{0, 1}, Direction: Field{0, 1}, FrameLen: Field{0, 4}, BytesLen: Field{0, 4}, L3Off: Field{0, 2},
	L4Off: Field{0, 2}, Tags: Field{0, 1}, InlineTags: Field{0, 1}, TagIDs: Field{0, 2}, NextHeader0: Field{0, 1},
	NextHeader1: Field{0, 1}, Bytes: Field{0, BytesMax},
}

// Compile compiles expr for a kernel program whose structures have layout
// l. A syntax or meaning error is an *Error with the position at fault.
func Compile(expr string, l Layout) (*Program, error) {
	e, bytes, err := parse(expr)
	if err != nil {
		return nil, err
	}
	insns, err := generate(e, l)
	if err != nil {
		pos := 0
		if pe, ok := err.(*posError); ok {
			pos = pe.pos
		}
		return nil, &Error{Expr: expr, Pos: pos, Reason: err.Error()}
	}
	return &Program{Expr: expr, Insns: insns, BytesNeeded: bytes}, nil
}
