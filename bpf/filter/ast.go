package filter

// The parser turns an expression into a tree of boolean tests on the
// fields the kernel program has already parsed (the record and the filter
// context) and, where an expression reads bytes no field holds, on the
// frame's first bytes. The code generator turns that tree into eBPF.

// expr is a boolean expression.
type expr interface{ isExpr() }

type (
	andExpr   struct{ a, b expr }
	orExpr    struct{ a, b expr }
	notExpr   struct{ x expr }
	constExpr bool
	// testExpr compares a field, masked when mask is not 0, with val.
	testExpr struct {
		f    field
		mask uint32
		op   string // == != > >= < <=
		val  uint32
	}
	// relExpr compares two arithmetic expressions (32-bit, unsigned).
	relExpr struct {
		op   string
		l, r arith
		pos  int // where it starts in the expression, for errors
	}
)

func (andExpr) isExpr()   {}
func (orExpr) isExpr()    {}
func (notExpr) isExpr()   {}
func (constExpr) isExpr() {}
func (testExpr) isExpr()  {}
func (relExpr) isExpr()   {}

// arith is a 32-bit unsigned arithmetic expression, as in classic BPF.
type arith interface{ isArith() }

type (
	numArith uint32
	// fieldArith is a field's value; swap turns a word held in network
	// order (an address) into the number tcpdump's byte test reads.
	fieldArith struct {
		f    field
		swap bool
	}
	// loadArith reads size bytes, in network order, at base + idx of the
	// frame's first bytes.
	loadArith struct {
		base rawBase
		idx  arith
		size int
	}
	binArith struct {
		op   string
		l, r arith
	}
	negArith struct{ x arith }
)

func (numArith) isArith()   {}
func (fieldArith) isArith() {}
func (loadArith) isArith()  {}
func (binArith) isArith()   {}
func (negArith) isArith()   {}

// fieldID names a field the kernel program filled before the filter runs.
type fieldID uint8

const (
	// In the record (struct record).
	fIPVersion fieldID = iota
	fProtocol
	fSrcAddr // idx: the 32-bit word, 0-3
	fDstAddr
	fSrcPort
	fDstPort
	fFragOff // IPv4: flags and fragment offset, as in the header
	fTCPFlags
	fICMPType
	fICMPCode
	fTTL
	fDirection
	// In the filter context (struct filter_ctx).
	fFrameLen   // the frame's length on the wire
	fTags       // VLAN tags: the one the kernel took out of the frame, then the frame's
	fInlineTags // of them, those in the frame
	fTagID      // idx: the tag, outermost first
	fNextHeader0
	fNextHeader1
)

type field struct {
	id  fieldID
	idx int
}

// rawBase is where a byte test's offsets start.
type rawBase uint8

const (
	baseLink     rawBase = iota // the frame (ether[])
	baseL3                      // the network header (ip[], ip6[])
	baseL4                      // the IPv4 transport header (tcp[], udp[], icmp[])
	baseL3Plus40                // the byte after the fixed IPv6 header (icmp6[])
)

func and(a, b expr) expr {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	if c, ok := a.(constExpr); ok {
		if c {
			return b
		}
		return a
	}
	if c, ok := b.(constExpr); ok {
		if c {
			return a
		}
		return b
	}
	return andExpr{a, b}
}

func or(a, b expr) expr {
	if c, ok := a.(constExpr); ok {
		if c {
			return a
		}
		return b
	}
	if c, ok := b.(constExpr); ok {
		if c {
			return b
		}
		return a
	}
	return orExpr{a, b}
}

func not(x expr) expr {
	if c, ok := x.(constExpr); ok {
		return !c
	}
	if n, ok := x.(notExpr); ok {
		return n.x
	}
	return notExpr{x}
}

func test(id fieldID, op string, val uint32) expr {
	return testExpr{f: field{id: id}, op: op, val: val}
}
