package filter

import (
	"fmt"

	"github.com/cilium/ebpf/asm"
)

// The generated code stands in for the kernel program's call
// tacap_filter(const struct record *r, const struct filter_ctx *fc): it
// starts with r in R1 and fc in R2, leaves 1 in R0 when the packet
// matches, else 0, and falls through to the instruction after its end.
// It touches only the registers a call clobbers (R0-R5) and no stack, so
// it can replace the call in place: a call and its return cost more than
// a typical filter (retpolines, return thunks). Arithmetic is 32-bit and
// unsigned, as in classic BPF; a byte test beyond the bytes the frame has
// makes the whole filter reject the packet, as it does in classic BPF.

const (
	rRec = asm.R1 // the record
	rCtx = asm.R2 // the filter context
	rTmp = asm.R0
)

// pool holds arithmetic values, one register per nesting depth.
var pool = []asm.Register{asm.R3, asm.R4, asm.R5}

type label int

type item struct {
	ins   asm.Instruction
	to    label // jump target, or -1
	label label // this item only marks a label, or -1
}

type gen struct {
	l      Layout
	items  []item
	labels int
	reject label
	at     int // the position of the comparison being compiled, for errors
}

// posError is a compile error at a position of the expression.
type posError struct {
	pos int
	msg string
}

func (e *posError) Error() string { return e.msg }

func (g *gen) newLabel() label { g.labels++; return label(g.labels - 1) }
func (g *gen) mark(l label)    { g.items = append(g.items, item{to: -1, label: l}) }
func (g *gen) emit(ins ...asm.Instruction) {
	for _, in := range ins {
		g.items = append(g.items, item{ins: in, to: -1, label: -1})
	}
}

// jump emits a conditional jump (op, 32-bit) of dst against an immediate
// or a register, or with op asm.Ja an unconditional one.
func (g *gen) jump(op asm.JumpOp, dst asm.Register, imm uint32, src *asm.Register, to label) {
	var ins asm.Instruction
	switch {
	case op == asm.Ja:
		ins = asm.Instruction{OpCode: asm.OpCode(asm.JumpClass).SetJumpOp(asm.Ja)}
	case src != nil:
		ins = asm.Instruction{OpCode: asm.OpCode(asm.Jump32Class).SetJumpOp(op).SetSource(asm.RegSource), Dst: dst, Src: *src}
	default:
		ins = asm.Instruction{OpCode: asm.OpCode(asm.Jump32Class).SetJumpOp(op).SetSource(asm.ImmSource), Dst: dst, Constant: int64(int32(imm))}
	}
	g.items = append(g.items, item{ins: ins, to: to, label: -1})
}

// jump64 compares 64-bit dst with an immediate or a register: for bounds
// the verifier must see on the whole register.
func (g *gen) jump64(op asm.JumpOp, dst asm.Register, imm int32, src *asm.Register, to label) {
	ins := asm.Instruction{OpCode: asm.OpCode(asm.JumpClass).SetJumpOp(op).SetSource(asm.ImmSource), Dst: dst, Constant: int64(imm)}
	if src != nil {
		ins = asm.Instruction{OpCode: asm.OpCode(asm.JumpClass).SetJumpOp(op).SetSource(asm.RegSource), Dst: dst, Src: *src}
	}
	g.items = append(g.items, item{ins: ins, to: to, label: -1})
}

var jumpOps = map[string]asm.JumpOp{"==": asm.JEq, "!=": asm.JNE, ">": asm.JGT, ">=": asm.JGE, "<": asm.JLT, "<=": asm.JLE}

func generate(e expr, l Layout) (asm.Instructions, error) {
	g := &gen{l: l}
	g.reject = g.newLabel()
	match, end := g.newLabel(), g.newLabel()
	if err := g.cond(e, match, g.reject); err != nil {
		return nil, err
	}
	g.mark(match)
	g.emit(asm.Mov.Imm32(asm.R0, 1))
	g.jump(asm.Ja, 0, 0, nil, end)
	g.mark(g.reject)
	g.emit(asm.Mov.Imm32(asm.R0, 0))
	g.mark(end)
	insns, err := g.assemble()
	if err == nil && len(insns) > MaxInstructions {
		err = &posError{0, fmt.Sprintf("the filter compiles to %d eBPF instructions, more than the %d tacap allows: the kernel's "+
			"verifier checks it on every path of the program that reaches it (test a network that covers the hosts, or fewer alternatives)",
			len(insns), MaxInstructions)}
	}
	return insns, err
}

// cond emits code that jumps to t when e holds and to f when it does not.
func (g *gen) cond(e expr, t, f label) error {
	switch e := e.(type) {
	case constExpr:
		if e {
			g.jump(asm.Ja, 0, 0, nil, t)
		} else {
			g.jump(asm.Ja, 0, 0, nil, f)
		}
	case andExpr:
		m := g.newLabel()
		if err := g.cond(e.a, m, f); err != nil {
			return err
		}
		g.mark(m)
		return g.cond(e.b, t, f)
	case orExpr:
		m := g.newLabel()
		if err := g.cond(e.a, t, m); err != nil {
			return err
		}
		g.mark(m)
		return g.cond(e.b, t, f)
	case notExpr:
		return g.cond(e.x, f, t)
	case testExpr:
		if err := g.loadField(rTmp, e.f); err != nil {
			return err
		}
		if e.mask != 0 {
			g.emit(asm.And.Imm32(rTmp, int32(e.mask)))
		}
		g.jump(jumpOps[e.op], rTmp, e.val, nil, t)
		g.jump(asm.Ja, 0, 0, nil, f)
	case relExpr:
		g.at = e.pos
		if err := g.arith(e.l, 0); err != nil {
			return err
		}
		if n, ok := e.r.(numArith); ok {
			g.jump(jumpOps[e.op], pool[0], uint32(n), nil, t)
		} else {
			if err := g.arith(e.r, 1); err != nil {
				return err
			}
			g.jump(jumpOps[e.op], pool[0], 0, &pool[1], t)
		}
		g.jump(asm.Ja, 0, 0, nil, f)
	default:
		return fmt.Errorf("internal: no code for %T", e)
	}
	return nil
}

// loadField loads a field, zero-extended, into dst.
func (g *gen) loadField(dst asm.Register, f field) error {
	base, fl, err := g.l.field(f.id)
	if err != nil {
		return err
	}
	off := fl.Off
	switch f.id {
	case fSrcAddr, fDstAddr:
		off += int16(4 * f.idx)
	case fTagID:
		off += int16(2 * f.idx)
	}
	g.emit(asm.LoadMem(dst, base, off, sizeOf(fl.Size)))
	return nil
}

func sizeOf(n int) asm.Size {
	switch n {
	case 1:
		return asm.Byte
	case 2:
		return asm.Half
	case 8:
		return asm.DWord
	}
	return asm.Word
}

// arith evaluates a into pool[depth].
func (g *gen) arith(a arith, depth int) error {
	if depth >= len(pool) {
		return &posError{g.at, fmt.Sprintf("the arithmetic nests too deeply: a comparison may hold at most %d values "+
			"while it computes another (write the constant side of an operation on the right, or split the test)", len(pool)-1)}
	}
	dst := pool[depth]
	switch a := a.(type) {
	case numArith:
		g.emit(asm.Mov.Imm32(dst, int32(a)))
	case fieldArith:
		if err := g.loadField(dst, a.f); err != nil {
			return err
		}
		if a.swap {
			g.emit(asm.HostTo(asm.BE, dst, asm.Word))
		}
	case loadArith:
		return g.load(a, depth)
	case negArith:
		if err := g.arith(a.x, depth); err != nil {
			return err
		}
		g.emit(asm.Neg.Imm32(dst, 0))
	case binArith:
		return g.binary(a, depth)
	default:
		return fmt.Errorf("internal: no code for %T", a)
	}
	return nil
}

var aluOps = map[string]asm.ALUOp{"+": asm.Add, "-": asm.Sub, "*": asm.Mul, "/": asm.Div, "%": asm.Mod,
	"&": asm.And, "|": asm.Or, "^": asm.Xor, "<<": asm.LSh, ">>": asm.RSh}

func (g *gen) binary(a binArith, depth int) error {
	dst := pool[depth]
	if err := g.arith(a.l, depth); err != nil {
		return err
	}
	op := aluOps[a.op]
	if n, ok := a.r.(numArith); ok { // the parser refused / 0, % 0 and shifts of 32 or more
		g.emit(op.Imm32(dst, int32(n)))
		return nil
	}
	if err := g.arith(a.r, depth+1); err != nil {
		return err
	}
	src := pool[depth+1]
	switch a.op {
	case "/", "%":
		g.jump(asm.JEq, src, 0, nil, g.reject) // classic BPF rejects the packet
	case "<<", ">>":
		// libpcap's interpreter: a shift of 32 or more gives 0.
		ok, done := g.newLabel(), g.newLabel()
		g.jump(asm.JLT, src, 32, nil, ok)
		g.emit(asm.Mov.Imm32(dst, 0))
		g.jump(asm.Ja, 0, 0, nil, done)
		g.mark(ok)
		g.emit(op.Reg32(dst, src))
		g.mark(done)
		return nil
	}
	g.emit(op.Reg32(dst, src))
	return nil
}

// load reads a.size bytes in network order at a's base plus its index from
// the frame's first bytes, rejecting the packet when they are not all
// there.
func (g *gen) load(a loadArith, depth int) error {
	dst := pool[depth]
	if err := g.arith(a.idx, depth); err != nil {
		return err
	}
	switch a.base {
	case baseL3, baseL3Plus40:
		g.emit(asm.LoadMem(rTmp, rCtx, g.l.L3Off.Off, sizeOf(g.l.L3Off.Size)))
		g.emit(asm.Add.Reg(dst, rTmp))
		if a.base == baseL3Plus40 {
			g.emit(asm.Add.Imm(dst, 40))
		}
	case baseL4:
		// As libpcap: the IPv4 header's length from its first byte,
		// whatever the packet (a load whose guard an arithmetic
		// operation dropped reads there too). The program copied at
		// least the network header, or nothing, and then the bounds
		// check below rejects.
		g.emit(asm.LoadMem(rTmp, rCtx, g.l.L3Off.Off, sizeOf(g.l.L3Off.Size)))
		g.jump64(asm.JGT, rTmp, int32(BytesMax-1), nil, g.reject)
		g.emit(asm.Add.Reg(rTmp, rCtx))
		g.emit(asm.LoadMem(rTmp, rTmp, g.l.Bytes.Off, asm.Byte), asm.And.Imm32(rTmp, 0xf), asm.LSh.Imm32(rTmp, 2))
		g.emit(asm.Add.Reg(dst, rTmp))
		g.emit(asm.LoadMem(rTmp, rCtx, g.l.L3Off.Off, sizeOf(g.l.L3Off.Size)))
		g.emit(asm.Add.Reg(dst, rTmp))
	}
	// For the verifier: the offset stays inside the buffer.
	g.jump64(asm.JGT, dst, int32(BytesMax-a.size), nil, g.reject)
	// At run time: inside the bytes the frame has (signed: fewer bytes
	// than the load's size make the bound negative).
	g.emit(asm.LoadMem(rTmp, rCtx, g.l.BytesLen.Off, sizeOf(g.l.BytesLen.Size)), asm.Add.Imm(rTmp, int32(-a.size)))
	g.jump64(asm.JSGT, dst, 0, &[]asm.Register{rTmp}[0], g.reject)
	g.emit(asm.Add.Reg(dst, rCtx))
	g.emit(asm.LoadMem(dst, dst, g.l.Bytes.Off, sizeOf(a.size)))
	if a.size > 1 {
		g.emit(asm.HostTo(asm.BE, dst, sizeOf(a.size)))
	}
	return nil
}

var inverse = map[asm.JumpOp]asm.JumpOp{asm.JEq: asm.JNE, asm.JNE: asm.JEq, asm.JGT: asm.JLE,
	asm.JLE: asm.JGT, asm.JGE: asm.JLT, asm.JLT: asm.JGE}

func isJa(it item) bool {
	return it.label < 0 && it.ins.OpCode.Class() == asm.JumpClass && it.ins.OpCode.JumpOp() == asm.Ja
}

// assemble drops jumps to the very next instruction, turns "if c goto t;
// goto f; t:" into "if !c goto f; t:", and resolves labels into offsets.
func (g *gen) assemble() (asm.Instructions, error) {
	items := g.items
	for changed := true; changed; {
		changed = false
		if live := reachable(items); len(live) < len(items) {
			items, changed = live, true
		}
		for i := 0; i < len(items); i++ {
			it := items[i]
			if isJa(it) && labelFollows(items[i+1:], it.to) {
				items = append(items[:i], items[i+1:]...)
				changed = true
				i--
				continue
			}
			if it.label < 0 && it.to >= 0 && !isJa(it) && i+1 < len(items) && isJa(items[i+1]) &&
				labelFollows(items[i+2:], it.to) {
				if inv, ok := inverse[it.ins.OpCode.JumpOp()]; ok {
					it.ins.OpCode = it.ins.OpCode.SetJumpOp(inv)
					it.to = items[i+1].to
					items[i] = it
					items = append(items[:i+1], items[i+2:]...)
					changed = true
				}
			}
		}
	}
	at := make(map[label]int)
	n := 0
	for _, it := range items {
		if it.label >= 0 {
			at[it.label] = n
			continue
		}
		n++
	}
	var out asm.Instructions
	for _, it := range items {
		if it.label >= 0 {
			continue
		}
		ins := it.ins
		if it.to >= 0 {
			off := at[it.to] - (len(out) + 1)
			if off < -32768 || off > 32767 {
				return nil, fmt.Errorf("the filter is too long for one eBPF jump")
			}
			ins.Offset = int16(off)
		}
		out = append(out, ins)
	}
	return out, nil
}

// labelFollows says whether l marks the position right after the
// instructions before items (only labels in between).
func labelFollows(items []item, l label) bool {
	for _, it := range items {
		if it.label < 0 {
			return false
		}
		if it.label == l {
			return true
		}
	}
	return false
}

// reachable drops the instructions no path from the entry reaches (the
// verifier refuses them): the match of a filter that never matches, code
// after a jump that folding made unconditional.
func reachable(items []item) []item {
	at := make(map[label]int)
	for i, it := range items {
		if it.label >= 0 {
			at[it.label] = i
		}
	}
	seen := make([]bool, len(items))
	work := []int{0}
	for len(work) > 0 {
		i := work[len(work)-1]
		work = work[:len(work)-1]
		for ; i < len(items) && !seen[i]; i++ {
			seen[i] = true
			it := items[i]
			if it.label >= 0 {
				continue
			}
			if it.to >= 0 {
				work = append(work, at[it.to])
			}
			if isJa(it) || it.ins.OpCode.JumpOp() == asm.Exit {
				break
			}
		}
	}
	out := items[:0:0]
	for i, it := range items {
		if seen[i] || it.label >= 0 {
			out = append(out, it)
		}
	}
	return out
}
