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

// spliceFilter puts the compiled filter in place of tacap_filter's body in
// every program that calls it, and turns the filter on.
func spliceFilter(spec *ebpf.CollectionSpec, prog *filter.Program) error {
	on, bytes := spec.Variables[extractorVarFILTER], spec.Variables[extractorVarFILTER_BYTES]
	if on == nil || bytes == nil {
		return fmt.Errorf("this BPF object has no --filter support")
	}
	spliced := 0
	for name, ps := range spec.Programs {
		insns, ok, err := replaceFunc(ps.Instructions, filterFunc, prog.Insns)
		if err != nil {
			return fmt.Errorf("program %s: %w", name, err)
		}
		if ok {
			ps.Instructions = insns
			spliced++
		}
	}
	if spliced == 0 {
		return fmt.Errorf("no program of the BPF object calls %s", filterFunc)
	}
	if err := on.Set(uint8(1)); err != nil {
		return err
	}
	return bytes.Set(boolByte(prog.ReadsBytes))
}

// replaceFunc replaces the body of function name in insns (from its symbol
// to the next symbol) with body, keeping the function's metadata (symbol,
// BTF function and line information) on its first instruction.
func replaceFunc(insns asm.Instructions, name string, body asm.Instructions) (asm.Instructions, bool, error) {
	start := -1
	for i, ins := range insns {
		if ins.Symbol() == name {
			start = i
			break
		}
	}
	if start < 0 {
		return insns, false, nil
	}
	end := len(insns)
	for i := start + 1; i < len(insns); i++ {
		if insns[i].Symbol() != "" {
			end = i
			break
		}
	}
	if len(body) == 0 {
		return nil, false, fmt.Errorf("empty body for %s", name)
	}
	out := make(asm.Instructions, 0, len(insns)-(end-start)+len(body))
	out = append(out, insns[:start]...)
	first := body[0].WithMetadata(insns[start].Metadata)
	out = append(out, first)
	out = append(out, body[1:]...)
	out = append(out, insns[end:]...)
	return out, true, nil
}
