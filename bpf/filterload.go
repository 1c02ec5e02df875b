package bpf

import (
	"fmt"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/tacap/tacap/bpf/filter"
)

// filterFunc is the kernel program's placeholder for a --filter.
const filterFunc = "tacap_filter"

// CompileFilter compiles a tcpdump-style expression for this kernel
// program (package filter). A bad expression is a *filter.Error.
func CompileFilter(expr string) (*filter.Program, error) {
	return filter.Compile(expr, filterLayout())
}

func filterLayout() filter.Layout {
	var r extractorRecord
	var c extractorFilterCtx
	at := func(off uintptr, size uintptr) filter.Field { return filter.Field{Off: int16(off), Size: int(size)} }
	return filter.Layout{
		IPVersion: at(unsafe.Offsetof(r.IpVersion), unsafe.Sizeof(r.IpVersion)),
		Protocol:  at(unsafe.Offsetof(r.Protocol), unsafe.Sizeof(r.Protocol)),
		SrcAddr:   at(unsafe.Offsetof(r.SrcAddr), 4),
		DstAddr:   at(unsafe.Offsetof(r.DstAddr), 4),
		SrcPort:   at(unsafe.Offsetof(r.SrcPort), unsafe.Sizeof(r.SrcPort)),
		DstPort:   at(unsafe.Offsetof(r.DstPort), unsafe.Sizeof(r.DstPort)),
		FragOff:   at(unsafe.Offsetof(r.IpFlagsFrag), unsafe.Sizeof(r.IpFlagsFrag)),
		TCPFlags:  at(unsafe.Offsetof(r.TcpFlags), unsafe.Sizeof(r.TcpFlags)),
		ICMPType:  at(unsafe.Offsetof(r.IcmpType), unsafe.Sizeof(r.IcmpType)),
		ICMPCode:  at(unsafe.Offsetof(r.IcmpCode), unsafe.Sizeof(r.IcmpCode)),
		TTL:       at(unsafe.Offsetof(r.Ttl), unsafe.Sizeof(r.Ttl)),
		Direction: at(unsafe.Offsetof(r.Direction), unsafe.Sizeof(r.Direction)),

		FrameLen:    at(unsafe.Offsetof(c.FrameLen), unsafe.Sizeof(c.FrameLen)),
		BytesLen:    at(unsafe.Offsetof(c.BytesLen), unsafe.Sizeof(c.BytesLen)),
		L3Off:       at(unsafe.Offsetof(c.L3Off), unsafe.Sizeof(c.L3Off)),
		L4Off:       at(unsafe.Offsetof(c.L4Off), unsafe.Sizeof(c.L4Off)),
		Tags:        at(unsafe.Offsetof(c.Tags), unsafe.Sizeof(c.Tags)),
		InlineTags:  at(unsafe.Offsetof(c.InlineTags), unsafe.Sizeof(c.InlineTags)),
		TagIDs:      at(unsafe.Offsetof(c.TagId), unsafe.Sizeof(c.TagId[0])),
		NextHeader0: at(unsafe.Offsetof(c.Nh0), unsafe.Sizeof(c.Nh0)),
		NextHeader1: at(unsafe.Offsetof(c.Nh1), unsafe.Sizeof(c.Nh1)),
		Bytes:       at(unsafe.Offsetof(c.Bytes), unsafe.Sizeof(c.Bytes)),
	}
}

// The C program and package filter agree on the bytes a byte test can
// read and on the VLAN tags the context holds.
var (
	_ = [1]struct{}{}[len(extractorFilterCtx{}.Bytes)-filter.BytesMax]
	_ = [1]struct{}{}[len(extractorFilterCtx{}.TagId)-4]
)

// spliceFilter puts the compiled filter in place of every call to
// tacap_filter in the programs, and turns the filter on. The compiled code
// replaces the call instruction itself (package filter writes it for
// that), so a filter costs no call and return.
func spliceFilter(spec *ebpf.CollectionSpec, prog *filter.Program) error {
	on, bytes := spec.Variables[extractorVarFILTER], spec.Variables[extractorVarFILTER_BYTES]
	if on == nil || bytes == nil {
		return fmt.Errorf("this BPF object has no --filter support")
	}
	spliced := 0
	for name, ps := range spec.Programs {
		insns, n, err := inlineCalls(ps.Instructions, filterFunc, prog.Insns)
		if err != nil {
			return fmt.Errorf("program %s: %w", name, err)
		}
		ps.Instructions = insns
		spliced += n
	}
	if spliced == 0 {
		return fmt.Errorf("no program of the BPF object calls %s", filterFunc)
	}
	if err := on.Set(uint8(1)); err != nil {
		return err
	}
	return bytes.Set(uint16(prog.BytesNeeded))
}

// inlineCalls replaces each call to function name in insns with body,
// moving the jumps that cross a call site by the instructions it adds.
// body must end by falling through, use only R0-R5 (what a call clobbers)
// and no stack.
func inlineCalls(insns asm.Instructions, name string, body asm.Instructions) (asm.Instructions, int, error) {
	if len(body) == 0 {
		return nil, 0, fmt.Errorf("empty code for %s", name)
	}
	var bodySlots int64
	for _, ins := range body {
		bodySlots += int64(ins.Size() / asm.InstructionSize)
	}
	n := 0
	for c := len(insns) - 1; c >= 0; c-- {
		call := insns[c]
		if !call.IsFunctionCall() || call.Reference() != name {
			continue
		}
		if err := shiftJumps(insns, c, bodySlots-1); err != nil {
			return nil, 0, err
		}
		code := append(asm.Instructions(nil), body...)
		code[0] = code[0].WithSource(call.Source())
		if sym := call.Symbol(); sym != "" {
			code[0] = code[0].WithSymbol(sym)
		}
		out := make(asm.Instructions, 0, len(insns)+len(code)-1)
		out = append(out, insns[:c]...)
		out = append(out, code...)
		insns = append(out, insns[c+1:]...)
		n++
	}
	if n > 0 {
		insns = dropFunc(insns, name)
	}
	return insns, n, nil
}

// dropFunc removes function name (from its symbol to the next) from insns
// once nothing calls it: the kernel counts a program's functions by their
// calls and refuses function information for one more.
func dropFunc(insns asm.Instructions, name string) asm.Instructions {
	for _, ins := range insns {
		if ins.Reference() == name {
			return insns
		}
	}
	start := -1
	for i, ins := range insns {
		if ins.Symbol() == name {
			start = i
			break
		}
	}
	if start <= 0 {
		return insns
	}
	end := len(insns)
	for i := start + 1; i < len(insns); i++ {
		if insns[i].Symbol() != "" {
			end = i
			break
		}
	}
	return append(insns[:start:start], insns[end:]...)
}

// shiftJumps adjusts the jumps of insns that cross instruction at (one
// slot, about to become 1+delta slots).
func shiftJumps(insns asm.Instructions, at int, delta int64) error {
	pos := make([]int64, len(insns))
	var p int64
	for i, ins := range insns {
		pos[i] = p
		p += int64(ins.Size() / asm.InstructionSize)
	}
	site := pos[at]
	for i := range insns {
		ins := &insns[i]
		op := ins.OpCode
		if !op.Class().IsJump() || op.JumpOp() == asm.Call || op.JumpOp() == asm.Exit {
			continue
		}
		if ins.Reference() != "" && ins.Offset == -1 {
			continue // resolved from its symbol when marshalled
		}
		long := op.Class() == asm.Jump32Class && op.JumpOp() == asm.Ja // gotol: the offset is the constant
		off := int64(ins.Offset)
		if long {
			off = ins.Constant
		}
		from := pos[i]
		to := from + 1 + off
		switch {
		case from < site && to > site:
			off += delta
		case from > site && to <= site:
			off -= delta
		default:
			continue
		}
		if long {
			ins.Constant = off
			continue
		}
		if off < -32768 || off > 32767 {
			return fmt.Errorf("a jump across the %s call no longer fits in 16 bits", filterFunc)
		}
		ins.Offset = int16(off)
	}
	return nil
}
