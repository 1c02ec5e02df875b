package filter

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Error is an expression tacap cannot compile: where and why.
type Error struct {
	Expr   string
	Pos    int // byte offset of the token at fault (len(Expr): its end)
	Reason string
}

func (e *Error) Error() string {
	near := "at the end"
	if e.Pos < len(e.Expr) {
		tok := e.Expr[e.Pos:]
		if len(tok) > 20 {
			tok = tok[:20] + "…"
		}
		near = fmt.Sprintf("near %q", tok)
	}
	return fmt.Sprintf("%q, column %d (%s): %s", e.Expr, e.Pos+1, near, e.Reason)
}

// quals are a primitive's qualifiers: protocol, direction and type.
type quals struct {
	proto string // "", ether, link, ip, ip6, tcp, udp, sctp, icmp, icmp6, arp, rarp, ...
	dir   string // "", src, dst, "src or dst", "src and dst"
	typ   string // "", host, net, port, portrange
}

type parser struct {
	expr string
	toks []token
	i    int
	vlan int    // VLAN tags the expression has stepped over so far ("vlan" primitives parsed)
	last *quals // the last primitive's qualifiers, for a bare id after and/or/not
	err  *Error
}

// parse parses a whole expression. An empty one matches every packet.
func parse(s string) (expr, int, error) {
	p := &parser{expr: s, toks: lex(s)}
	for _, t := range p.toks {
		if t.kind == tokError {
			return nil, 0, &Error{s, t.pos, fmt.Sprintf("unexpected character %q", t.text)}
		}
	}
	if p.peek().kind == tokEOF {
		return constExpr(true), 0, nil
	}
	var e expr
	ok := func() (ok bool) {
		defer func() {
			if r := recover(); r != nil {
				if _, isFatal := r.(fatal); !isFatal {
					panic(r)
				}
				ok = false
			}
		}()
		return p.try(func() {
			e = p.exprList(p.parseTerm)
			if p.peek().kind != tokEOF {
				p.fail(p.peek().pos, "expected and, or or the end of the expression")
			}
		})
	}()
	if !ok {
		return nil, 0, p.err // the furthest any attempt got
	}
	return e, bytesNeeded(e), nil
}

// bytesNeeded is how many of the frame's first bytes e's byte tests can
// read (0: it tests parsed fields only): for a constant offset, its end
// behind the furthest its base can be (three VLAN tags, 60 bytes of IPv4
// header); for a computed one, all BytesMax.
func bytesNeeded(e expr) int {
	var inArith func(a arith) int
	inArith = func(a arith) int {
		switch a := a.(type) {
		case loadArith:
			n, ok := a.idx.(numArith)
			if !ok {
				return BytesMax
			}
			base := map[rawBase]int{baseLink: 0, baseL3: 26, baseL3Plus40: 66, baseL4: 86}[a.base]
			return max(min(base+int(n)+a.size, BytesMax), inArith(a.idx))
		case binArith:
			return max(inArith(a.l), inArith(a.r))
		case negArith:
			return inArith(a.x)
		}
		return 0
	}
	switch e := e.(type) {
	case andExpr:
		return max(bytesNeeded(e.a), bytesNeeded(e.b))
	case orExpr:
		return max(bytesNeeded(e.a), bytesNeeded(e.b))
	case notExpr:
		return bytesNeeded(e.x)
	case relExpr:
		return max(inArith(e.l), inArith(e.r))
	}
	return 0
}

type bail struct{}

// fatal is a failure no other reading of the expression can mend (a
// division by zero, a byte test too wide): try does not backtrack over it.
type fatal struct{}

// fail records the error, keeping the one furthest into the expression
// (the most telling after a backtrack), and unwinds the parse to the
// nearest try.
func (p *parser) fail(pos int, format string, args ...any) {
	err := &Error{p.expr, pos, fmt.Sprintf(format, args...)}
	if p.err == nil || err.Pos >= p.err.Pos {
		p.err = err
	}
	panic(bail{})
}

// failFatal records err as the error and unwinds the whole parse.
func (p *parser) failFatal(pos int, format string, args ...any) {
	p.err = &Error{p.expr, pos, fmt.Sprintf(format, args...)}
	panic(fatal{})
}

// try runs f, turning a failure into ok=false with the parser's position
// restored.
func (p *parser) try(f func()) (ok bool) {
	save, vlan, last := p.i, p.vlan, p.last
	defer func() {
		if r := recover(); r != nil {
			if _, isBail := r.(bail); !isBail {
				panic(r)
			}
			p.i, p.vlan, p.last = save, vlan, last
			ok = false
		}
	}()
	f()
	return true
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) peekAt(k int) token {
	if p.i+k < len(p.toks) {
		return p.toks[p.i+k]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *parser) is(texts ...string) bool {
	t := p.peek()
	if t.kind == tokEOF {
		return false
	}
	for _, s := range texts {
		if t.text == s {
			return true
		}
	}
	return false
}

func (p *parser) expect(text string) token {
	if !p.is(text) {
		p.fail(p.peek().pos, "expected %q", text)
	}
	return p.next()
}

// exprList: term { (and | or) term }. And and or have the same
// precedence and group from the left, as in pcap-filter(7).
func (p *parser) exprList(term func() expr) expr {
	e := term()
	for p.is("and", "&&", "or", "||") {
		op := p.next().text
		var right expr
		if p.bareID() {
			right = p.inherited()
		} else {
			right = term()
		}
		if op == "and" || op == "&&" {
			e = and(e, right)
		} else {
			e = or(e, right)
		}
	}
	return e
}

// bareID says whether the next token is an id without qualifiers that
// takes the last primitive's (host a or b; port 80 or 443).
func (p *parser) bareID() bool {
	t := p.peek()
	if p.last == nil || t.kind != tokWord || keywords[t.text] {
		return false
	}
	if _, isConst := constants[t.text]; isConst {
		return false
	}
	nt := p.peekAt(1)
	switch {
	case nt.kind != tokOp:
		return true
	case nt.text == "/": // a network's prefix length
		return true
	case nt.text == "-" && p.last.typ == "portrange":
		return true
	}
	return !arithOrRelOp[nt.text]
}

func (p *parser) inherited() expr {
	return p.id(*p.last, p.next())
}

func (p *parser) parseTerm() expr {
	if p.is("not", "!") {
		p.next()
		if p.bareID() {
			return not(p.inherited())
		}
		return not(p.parseTerm())
	}
	if p.startsArith() {
		var rel expr
		if p.try(func() { rel = p.relation() }) {
			return rel
		}
	}
	if p.is("(") {
		p.next()
		before := p.last
		e := p.exprList(p.parseTerm)
		p.expect(")")
		p.last = before // as libpcap: a parenthesis keeps the qualifiers from before it
		return e
	}
	e := p.primitive()
	return e
}

// startsArith says whether the next tokens may begin a byte test or
// another comparison of arithmetic expressions.
func (p *parser) startsArith() bool {
	t := p.peek()
	switch {
	case t.kind == tokOp:
		return t.text == "(" || t.text == "-"
	case t.text == "len":
		return true
	case isNumber(t.text):
		nt := p.peekAt(1) // a number alone is a (bad) value, not a comparison
		return nt.kind == tokOp && arithOrRelOp[nt.text]
	}
	if _, isConst := constants[t.text]; isConst {
		return true
	}
	_, load := loadBases[t.text]
	return load && p.peekAt(1).text == "["
}

var arithOrRelOp = map[string]bool{"+": true, "-": true, "*": true, "/": true, "%": true, "&": true,
	"|": true, "^": true, "<<": true, ">>": true, "=": true, "==": true, "!=": true, "<": true,
	"<=": true, ">": true, ">=": true, "[": true}

var keywords = map[string]bool{}

func init() {
	for _, k := range strings.Fields(`and or not host net port portrange src dst ether link ip ip6 arp
		rarp tcp udp sctp icmp icmp6 igmp ah esp proto vlan mask less greater len broadcast multicast
		inbound outbound gateway mpls pppoed pppoes geneve decnet iso isis llc atalk aarp ipx netbeui
		stp lat moprc mopdl sca ifname on rnr srnr reason rset action wlan type subtype dir addr1 addr2
		addr3 addr4 ra ta protochain`) {
		keywords[k] = true
	}
}

// relation: arith relop arith.
func (p *parser) relation() expr {
	at := p.peek().pos
	l := p.arith(0)
	t := p.peek()
	switch t.text {
	case "=", "==", "!=", "<", "<=", ">", ">=":
	default:
		p.fail(t.pos, "expected a comparison (=, !=, <, <=, >, >=)")
	}
	p.next()
	r := p.arith(0)
	op := t.text
	if op == "=" {
		op = "=="
	}
	p.last = nil // a bare value cannot follow a comparison
	return guardLoads(relExpr{op: op, l: l, r: r, pos: at}, p)
}

// Arithmetic operators by precedence, lowest first (libpcap's grammar).
// '^' and '%' have none in libpcap's grammar, so its parser always
// shifts: each takes the operand right before it and all that follows
// (a + b ^ c - d is a + (b ^ (c - d))); unary does that.
var arithLevels = [][]string{{"|"}, {"&"}, {"<<", ">>"}, {"+", "-"}, {"*", "/"}}

func (p *parser) arith(level int) arith {
	if level == len(arithLevels) {
		return p.unary()
	}
	l := p.arith(level + 1)
	for p.peek().kind == tokOp && contains(arithLevels[level], p.peek().text) {
		t := p.next()
		r := p.arith(level + 1)
		l = p.fold(t, binArith{t.text, l, r})
	}
	return l
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// fold computes an operation on two constants as the compiler would at
// run time, refusing what classic BPF refuses (division by zero, shifts
// of 32 bits or more).
func (p *parser) fold(t token, b binArith) arith {
	r, rc := b.r.(numArith)
	switch b.op {
	case "/", "%":
		if rc && r == 0 {
			p.failFatal(t.pos, "division by zero")
		}
	case "<<", ">>":
		if rc && r > 31 {
			p.failFatal(t.pos, "shift by more than 31 bits")
		}
	}
	l, lc := b.l.(numArith)
	if !lc || !rc {
		return b
	}
	return numArith(evalOp(b.op, uint32(l), uint32(r)))
}

func evalOp(op string, l, r uint32) uint32 {
	switch op {
	case "+":
		return l + r
	case "-":
		return l - r
	case "*":
		return l * r
	case "/":
		return l / r
	case "%":
		return l % r
	case "&":
		return l & r
	case "|":
		return l | r
	case "^":
		return l ^ r
	case "<<":
		return l << r
	default:
		return l >> r
	}
}

func (p *parser) unary() arith {
	x := p.operand()
	if t := p.peek(); t.kind == tokOp && (t.text == "^" || t.text == "%") {
		p.next()
		return p.fold(t, binArith{t.text, x, p.arith(0)})
	}
	return x
}

// operand is a number, len, a byte test, a negation or a parenthesis.
func (p *parser) operand() arith {
	t := p.peek()
	switch {
	case t.text == "-" && t.kind == tokOp:
		p.next()
		x := p.unary()
		if n, ok := x.(numArith); ok {
			return -n
		}
		return negArith{x}
	case t.text == "(" && t.kind == tokOp:
		p.next()
		x := p.arith(0)
		p.expect(")")
		return x
	case t.text == "len":
		p.next()
		return fieldArith{f: field{id: fFrameLen}}
	}
	if v, ok := constants[t.text]; ok {
		p.next()
		return numArith(v)
	}
	if base, ok := loadBases[t.text]; ok && p.peekAt(1).text == "[" {
		return p.load(base)
	}
	if t.kind == tokWord && isNumber(t.text) {
		p.next()
		return numArith(p.number(t))
	}
	p.fail(t.pos, "expected a number, len, a byte test such as tcp[13] or a parenthesis")
	return nil
}

// loadBases are the protocols a byte test may index.
var loadBases = map[string]string{"ether": "ether", "link": "ether", "ip": "ip", "ip6": "ip6",
	"tcp": "tcp", "udp": "udp", "icmp": "icmp", "icmp6": "icmp6", "sctp": "sctp", "igmp": "igmp"}

// load: proto [ arith ] or proto [ arith : size ].
func (p *parser) load(proto string) arith {
	at := p.next().pos
	p.expect("[")
	idx := p.arith(0)
	size := 1
	if p.is(":") {
		p.next()
		t := p.next()
		n, err := strconv.Atoi(t.text)
		if err != nil || n != 1 && n != 2 && n != 4 {
			p.failFatal(t.pos, "a byte test reads 1, 2 or 4 bytes")
		}
		size = n
	}
	p.expect("]")
	raw := loadArith{base: rawBaseOf(proto), idx: idx, size: size}
	if n, ok := idx.(numArith); ok {
		if least := minBase[raw.base]; least+int64(n)+int64(size) > BytesMax {
			p.failFatal(at, "a byte test reads the frame's first %d bytes, and %s[%d:%d] starts %d bytes or more into the frame, beyond them",
				BytesMax, proto, n, size, least+int64(n))
		}
		if f, ok := parsedLoad(proto, uint32(n), size); ok {
			return withGuard{fieldArith: f, raw: raw, guard: p.loadGuard(proto)}
		}
	}
	return guardedLoad{raw, p.loadGuard(proto)}
}

// withGuard and guardedLoad are loads that carry the protocol test that
// must hold for them to mean anything; guardLoads moves those tests in
// front of the comparison, as libpcap does. withGuard reads a field the
// program parsed, which equals the bytes raw reads only where the guard
// holds.
type (
	withGuard struct {
		fieldArith
		raw   loadArith
		guard expr
	}
	guardedLoad struct {
		loadArith
		guard expr
	}
)

// minBase is the least offset into the frame of each base: an untagged
// frame, an IPv4 header without options.
var minBase = map[rawBase]int64{baseLink: 0, baseL3: 14, baseL4: 34, baseL3Plus40: 54}

func rawBaseOf(proto string) rawBase {
	switch proto {
	case "ether":
		return baseLink
	case "ip", "ip6":
		return baseL3
	case "icmp6":
		return baseL3Plus40
	}
	return baseL4
}

// loadGuard is what libpcap tests before a byte test of proto: the
// protocol at the current VLAN depth, and for a transport protocol IPv4
// without a fragment offset (libpcap's tcp[] and udp[] are IPv4 only; the
// header of icmp6[] is taken to follow the fixed IPv6 header).
func (p *parser) loadGuard(proto string) expr {
	switch proto {
	case "ether":
		return nil
	case "ip":
		return p.ipv4()
	case "ip6":
		return p.ipv6()
	case "icmp6":
		return and(p.ipv6(), test(fNextHeader0, "==", 58))
	}
	return and(p.ip4Proto(transportProtos[proto]), firstFragment())
}

var transportProtos = map[string]uint8{"tcp": 6, "udp": 17, "icmp": 1, "sctp": 132, "igmp": 2}

// parsedLoad maps a byte test at a constant offset to the field the
// kernel program already parsed from those bytes, when there is one.
func parsedLoad(proto string, off uint32, size int) (fieldArith, bool) {
	if f, ok := parsedLoads[loadAt{proto, off, size}]; ok {
		return f, true
	}
	if proto == "ip6" && size == 4 && off >= 8 && off < 40 && off%4 == 0 {
		id := fSrcAddr
		if off >= 24 {
			id = fDstAddr
		}
		return fieldArith{f: field{id: id, idx: int((off - 8) % 16 / 4)}, swap: true}, true
	}
	return fieldArith{}, false
}

// loadAt is a byte test at a constant offset.
type loadAt struct {
	proto string
	off   uint32
	size  int
}

// parsedLoads are the byte tests a parsed field answers.
var parsedLoads = map[loadAt]fieldArith{
	{"tcp", 13, 1}: {f: field{id: fTCPFlags}}, {"tcp", 0, 2}: {f: field{id: fSrcPort}},
	{"tcp", 2, 2}: {f: field{id: fDstPort}}, {"udp", 0, 2}: {f: field{id: fSrcPort}},
	{"udp", 2, 2}: {f: field{id: fDstPort}}, {"icmp", 0, 1}: {f: field{id: fICMPType}},
	{"icmp", 1, 1}: {f: field{id: fICMPCode}}, {"icmp6", 0, 1}: {f: field{id: fICMPType}},
	{"icmp6", 1, 1}: {f: field{id: fICMPCode}}, {"ip", 8, 1}: {f: field{id: fTTL}},
	{"ip", 9, 1}: {f: field{id: fProtocol}}, {"ip", 6, 2}: {f: field{id: fFragOff}},
	{"ip6", 6, 1}: {f: field{id: fNextHeader0}}, {"ip6", 7, 1}: {f: field{id: fTTL}},
	{"ip", 12, 4}: {f: field{id: fSrcAddr}, swap: true}, {"ip", 16, 4}: {f: field{id: fDstAddr}, swap: true},
}

// guardLoads moves the guards of a relation's loads in front of it and
// strips them from the arithmetic. As in libpcap (gen_arth), an arithmetic
// operation keeps the guards of its left operand only: in
// "ip[2:2] - tcp[12] != 0" the tcp[12] is read, at the IPv4 header's
// length, from whatever follows the header; and a load whose guard is
// dropped reads the frame's bytes, not a parsed field.
func guardLoads(r relExpr, p *parser) expr {
	var guards expr
	var strip func(a arith, keep bool) arith
	strip = func(a arith, keep bool) arith {
		switch a := a.(type) {
		case withGuard:
			if !keep {
				return a.raw
			}
			guards = and(guards, a.guard)
			return a.fieldArith
		case guardedLoad:
			a.idx = strip(a.idx, keep)
			if keep {
				guards = and(guards, a.guard)
			}
			return a.loadArith
		case binArith:
			a.l, a.r = strip(a.l, keep), strip(a.r, false)
			return a
		case negArith:
			return negArith{strip(a.x, keep)}
		}
		return a
	}
	r.l, r.r = strip(r.l, true), strip(r.r, true)
	if l, ok := r.l.(numArith); ok {
		if rr, ok := r.r.(numArith); ok {
			return and(guards, constExpr(compare(r.op, uint32(l), uint32(rr))))
		}
	}
	return and(guards, r)
}

func (withGuard) isArith()   {}
func (guardedLoad) isArith() {}

func compare(op string, l, r uint32) bool {
	switch op {
	case "==":
		return l == r
	case "!=":
		return l != r
	case "<":
		return l < r
	case "<=":
		return l <= r
	case ">":
		return l > r
	default:
		return l >= r
	}
}

func isNumber(s string) bool {
	_, err := strconv.ParseUint(s, 0, 32)
	return err == nil
}

// number parses a number as libpcap does: decimal, 0x hexadecimal, or
// octal with a leading 0.
func (p *parser) number(t token) uint32 {
	s := t.text
	base := 10
	switch {
	case strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X"):
		s, base = s[2:], 16
	case len(s) > 1 && s[0] == '0':
		s, base = s[1:], 8
	}
	n, err := strconv.ParseUint(s, base, 32)
	if err != nil {
		p.fail(t.pos, "%q is not a number of 32 bits", t.text)
	}
	return uint32(n)
}

// ---- protocol tests at the current VLAN depth ----

// level is the test that the frame has exactly the VLAN tags the
// expression stepped over (libpcap reads the EtherType after them): with
// none stepped over, no tag in the frame itself (a tag the kernel took out
// of the frame is not in the way, as for tcpdump live); else that many in
// all.
func (p *parser) level() expr {
	if p.vlan == 0 {
		return test(fInlineTags, "==", 0)
	}
	return test(fTags, "==", uint32(p.vlan))
}

func (p *parser) ipv4() expr { return and(p.level(), test(fIPVersion, "==", 4)) }
func (p *parser) ipv6() expr { return and(p.level(), test(fIPVersion, "==", 6)) }

func (p *parser) ip4Proto(n uint8) expr {
	return and(p.ipv4(), test(fProtocol, "==", uint32(n)))
}

// ip6Proto is libpcap's "ip6 proto": the fixed header's next header, or
// that of a fragment header right after it.
func (p *parser) ip6Proto(n uint8) expr {
	return and(p.ipv6(), or(test(fNextHeader0, "==", uint32(n)),
		and(test(fNextHeader0, "==", 44), test(fNextHeader1, "==", uint32(n)))))
}

func firstFragment() expr {
	return testExpr{f: field{id: fFragOff}, mask: 0x1fff, op: "==", val: 0}
}

// protoAbbrev is a protocol name used alone (tcp, ip6, icmp ...).
func (p *parser) protoAbbrev(t token) expr {
	switch t.text {
	case "ip":
		return p.ipv4()
	case "ip6":
		return p.ipv6()
	case "icmp", "igmp":
		return p.ip4Proto(protoNames[t.text])
	case "icmp6":
		return p.ip6Proto(58)
	case "tcp", "udp", "sctp", "ah", "esp":
		n := protoNames[t.text]
		return or(p.ip4Proto(n), p.ip6Proto(n))
	case "arp", "rarp":
		return constExpr(false) // tacap records IP packets only
	}
	p.fail(t.pos, "%q needs a qualifier or a byte test after it", t.text)
	return nil
}

// ---- primitives ----

var protoQuals = map[string]bool{"ether": true, "link": true, "ip": true, "ip6": true, "arp": true,
	"rarp": true, "tcp": true, "udp": true, "sctp": true, "icmp": true, "icmp6": true, "igmp": true,
	"ah": true, "esp": true}

func (p *parser) primitive() expr {
	t := p.peek()
	// A primitive without a value leaves no qualifiers for a bare value
	// after it (libpcap resets them); one with a value sets them in id.
	p.last = nil
	switch t.text {
	case "vlan":
		return p.vlanPrim()
	case "less", "greater":
		p.next()
		n := p.number(p.wordToken("a length"))
		if t.text == "less" {
			return test(fFrameLen, "<=", n)
		}
		return test(fFrameLen, ">=", n)
	case "inbound":
		p.next()
		return test(fDirection, "==", 1)
	case "outbound":
		p.next()
		return test(fDirection, "==", 2)
	case "broadcast", "multicast":
		p.next()
		return p.etherCast(t.text)
	case "proto":
		p.next()
		n := p.protoNumber()
		return or(p.ip4Proto(n), p.ip6Proto(n))
	case "gateway", "mpls", "pppoed", "pppoes", "geneve", "protochain", "wlan", "decnet", "iso",
		"isis", "llc", "atalk", "aarp", "ipx", "netbeui", "stp", "ifname", "on", "type", "subtype":
		p.fail(t.pos, "tacap does not support %q (see docs/filters.md for what it does)", t.text)
	}
	var q quals
	if protoQuals[t.text] {
		q.proto = p.next().text
		if q.proto == "link" {
			q.proto = "ether"
		}
		switch {
		case p.is("proto"):
			p.next()
			return p.protoQualified(q.proto, t)
		case p.is("broadcast", "multicast"):
			return p.cast(q.proto, p.next())
		case !p.is("src", "dst", "host", "net", "port", "portrange"):
			return p.protoAbbrev(t)
		}
	}
	q.dir = p.dirQual()
	if p.is("host", "net", "port", "portrange") {
		q.typ = p.next().text
	}
	if p.is("(") {
		p.next()
		e := p.exprList(func() expr { return p.idTerm(q) })
		p.expect(")")
		p.last = &q
		return e
	}
	tok := p.peek()
	if tok.kind != tokWord || keywords[tok.text] {
		if q == (quals{}) {
			p.fail(tok.pos, "expected a primitive such as host, net, port, tcp or a byte test")
		}
		p.fail(tok.pos, "expected an address, a number or a name")
	}
	return p.id(q, p.next())
}

func (p *parser) idTerm(q quals) expr {
	if p.is("not", "!") {
		p.next()
		return not(p.idTerm(q))
	}
	if p.is("(") {
		p.next()
		e := p.exprList(func() expr { return p.idTerm(q) })
		p.expect(")")
		return e
	}
	return p.id(q, p.next())
}

func (p *parser) wordToken(what string) token {
	t := p.next()
	if t.kind != tokWord {
		p.fail(t.pos, "expected %s", what)
	}
	return t
}

func (p *parser) dirQual() string {
	if !p.is("src", "dst") {
		return ""
	}
	d := p.next().text
	if p.is("or", "and") && (p.peekAt(1).text == "src" || p.peekAt(1).text == "dst") && p.peekAt(1).text != d {
		op := p.next().text
		p.next()
		return "src " + op + " dst"
	}
	return d
}

func (p *parser) protoNumber() uint8 {
	t := p.wordToken("a protocol number or name")
	name := strings.TrimPrefix(t.text, "\\")
	if n, ok := protoNames[name]; ok {
		return n
	}
	n := p.number(t)
	if n > 255 {
		p.fail(t.pos, "a protocol number is at most 255")
	}
	return uint8(n)
}

// protoQualified is "ip proto N", "ip6 proto N" or "ether proto N".
func (p *parser) protoQualified(proto string, at token) expr {
	switch proto {
	case "ip":
		return p.ip4Proto(p.protoNumber())
	case "ip6":
		return p.ip6Proto(p.protoNumber())
	case "ether":
		t := p.wordToken("an EtherType")
		switch strings.TrimPrefix(t.text, "\\") {
		case "ip":
			return p.ipv4()
		case "ip6":
			return p.ipv6()
		case "arp", "rarp":
			return constExpr(false)
		}
		switch n := p.number(t); n {
		case 0x0800:
			return p.ipv4()
		case 0x86dd:
			return p.ipv6()
		default: // e.g. 0x8100: the EtherType field itself, behind the tags stepped over
			if n > 0xffff {
				p.fail(t.pos, "an EtherType is at most 0xffff")
			}
			return relExpr{op: "==", l: loadArith{base: baseLink, idx: numArith(12 + 4*p.vlan), size: 2}, r: numArith(n), pos: t.pos}
		}
	}
	p.fail(at.pos, "\"%s proto\" is not something tacap can test", proto)
	return nil
}

// cast is [ether|ip|ip6] (broadcast|multicast).
func (p *parser) cast(proto string, t token) expr {
	switch {
	case proto == "ether":
		return p.etherCast(t.text)
	case proto == "ip" && t.text == "multicast":
		return and(p.ipv4(), testExpr{f: field{id: fDstAddr}, mask: 0xff, op: ">=", val: 224})
	case proto == "ip6" && t.text == "multicast":
		return and(p.ipv6(), testExpr{f: field{id: fDstAddr}, mask: 0xff, op: "==", val: 0xff})
	case proto == "ip" && t.text == "broadcast":
		p.fail(t.pos, "\"ip broadcast\" needs the network's mask; use dst host 255.255.255.255 or a dst net")
	}
	p.fail(t.pos, "%q has no %s", proto, t.text)
	return nil
}

func (p *parser) etherCast(kind string) expr {
	if kind == "multicast" {
		return relExpr{op: "!=", l: binArith{"&", loadArith{base: baseLink, idx: numArith(0), size: 1}, numArith(1)}, r: numArith(0)}
	}
	return and(relExpr{op: "==", l: loadArith{base: baseLink, idx: numArith(0), size: 4}, r: numArith(0xffffffff)},
		relExpr{op: "==", l: loadArith{base: baseLink, idx: numArith(4), size: 2}, r: numArith(0xffff)})
}

func (p *parser) vlanPrim() expr {
	p.next()
	e := test(fTags, ">", uint32(p.vlan))
	if t := p.peek(); t.kind == tokWord && isNumber(t.text) {
		p.next()
		id := p.number(t)
		if id > 4095 {
			p.fail(t.pos, "a VLAN id is at most 4095")
		}
		if p.vlan < maxTags {
			e = and(e, testExpr{f: field{id: fTagID, idx: p.vlan}, op: "==", val: id})
		}
	}
	if p.vlan >= maxTags {
		e = constExpr(false) // the kernel program reads at most maxTags tags
	}
	p.vlan++
	return e
}

// maxTags is how many VLAN tags the filter context holds (one taken out
// of the frame by the kernel and three in it).
const maxTags = 4

// id is a primitive's value with its qualifiers.
func (p *parser) id(q quals, t token) expr {
	p.last = &q
	if t.kind != tokWord {
		p.fail(t.pos, "expected an address, a number or a name")
	}
	typ := q.typ
	if typ == "" {
		typ = "host"
		if p.is("/") || p.is("mask") {
			typ = "net"
		}
	}
	switch typ {
	case "port", "portrange":
		return p.port(q, t, typ == "portrange")
	case "net":
		return p.net(q, t)
	}
	return p.host(q, t)
}

func (p *parser) host(q quals, t token) expr {
	if hw, err := net.ParseMAC(t.text); err == nil && len(hw) == 6 && strings.Contains(t.text, ":") {
		if q.proto != "" && q.proto != "ether" {
			p.fail(t.pos, "a MAC address needs ether (or no protocol) before host")
		}
		return p.etherHost(q.dir, hw)
	}
	a, err := netip.ParseAddr(t.text)
	if err != nil || a.Zone() != "" {
		if isNumber(t.text) || strings.Count(t.text, ".") > 0 && strings.Trim(t.text, "0123456789.") == "" {
			p.fail(t.pos, "%q is not a whole IP address (for a network, use net)", t.text)
		}
		p.fail(t.pos, "%q is not an address: tacap does not resolve host names, give an IP address", t.text)
	}
	bits := a.BitLen()
	return p.addrTest(q, t, netip.PrefixFrom(a, bits))
}

func (p *parser) net(q quals, t token) expr {
	a, bitsKnown, err := parseNetAddr(t.text)
	if err != nil {
		p.fail(t.pos, "%s", err)
	}
	bits := bitsKnown
	switch {
	case p.is("/"):
		p.next()
		nt := p.wordToken("a prefix length")
		n, err := strconv.Atoi(nt.text)
		if err != nil || n < 0 || n > a.BitLen() {
			p.fail(nt.pos, "a prefix length is 0 to %d", a.BitLen())
		}
		bits = n
	case p.is("mask"):
		mt := p.next()
		m := p.wordToken("a mask")
		ma, err := netip.ParseAddr(m.text)
		if err != nil || !ma.Is4() || !a.Is4() {
			p.fail(mt.pos, "mask takes an IPv4 mask, after an IPv4 network")
		}
		mb := ma.As4()
		ones := 0
		v := uint32(mb[0])<<24 | uint32(mb[1])<<16 | uint32(mb[2])<<8 | uint32(mb[3])
		for v&0x80000000 != 0 {
			ones++
			v <<= 1
		}
		if v != 0 {
			p.fail(m.pos, "%q is not a contiguous mask", m.text)
		}
		bits = ones
	}
	pfx := netip.PrefixFrom(a, bits)
	if pfx.Masked().Addr() != a {
		p.fail(t.pos, "non-network bits set in %s/%d", a, bits)
	}
	return p.addrTest(q, t, pfx)
}

// parseNetAddr reads a network as libpcap does: an IPv6 address, or an
// IPv4 address of one to four parts (10 is 10.0.0.0/8, 192.168 is
// 192.168.0.0/16).
func parseNetAddr(s string) (netip.Addr, int, error) {
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a, a.BitLen(), nil
	}
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, 0, fmt.Errorf("%q is not a network", s)
	}
	var b [4]byte
	for i, part := range parts {
		n, err := strconv.ParseUint(part, 10, 8)
		if err != nil {
			return netip.Addr{}, 0, fmt.Errorf("%q is not a network: tacap does not resolve names", s)
		}
		b[i] = byte(n)
	}
	return netip.AddrFrom4(b), 8 * len(parts), nil
}

// addrTest tests a source or destination address against a prefix.
func (p *parser) addrTest(q quals, t token, pfx netip.Prefix) expr {
	v4 := pfx.Addr().Is4()
	switch {
	case q.proto == "" || v4 && q.proto == "ip" || !v4 && q.proto == "ip6":
	case q.proto == "arp" || q.proto == "rarp":
		if v4 {
			return constExpr(false)
		}
		fallthrough
	default:
		p.fail(t.pos, "%s before %s does not go with the address %s", q.proto, orDefault(q.typ, "host"), pfx.Addr())
	}
	guard := p.ipv4()
	if !v4 {
		guard = p.ipv6()
	}
	src, dst := prefixTest(fSrcAddr, pfx), prefixTest(fDstAddr, pfx)
	return and(guard, p.dirCombine(q.dir, src, dst))
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func (p *parser) dirCombine(dir string, src, dst expr) expr {
	switch dir {
	case "src":
		return src
	case "dst":
		return dst
	case "src and dst":
		return and(src, dst)
	}
	return or(src, dst)
}

// prefixTest compares an address field, 32 bits at a time, with a prefix.
// The record holds addresses in network order, so a word is compared as
// the bytes it holds read by a little-endian load.
func prefixTest(id fieldID, pfx netip.Prefix) expr {
	b := pfx.Addr().AsSlice()
	var e expr = constExpr(true)
	for w := 0; w*32 < pfx.Bits(); w++ {
		var mask [4]byte
		for i := 0; i < 32; i++ {
			if w*32+i < pfx.Bits() {
				mask[i/8] |= 0x80 >> (i % 8)
			}
		}
		m := le32(mask[:])
		val := le32(b[4*w:4*w+4]) & m
		if m == 0xffffffff {
			m = 0
		}
		e = and(e, testExpr{f: field{id: id, idx: w}, mask: m, op: "==", val: val})
	}
	return e
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func (p *parser) etherHost(dir string, hw net.HardwareAddr) expr {
	at := func(off uint32) expr {
		hi := uint32(hw[0])<<24 | uint32(hw[1])<<16 | uint32(hw[2])<<8 | uint32(hw[3])
		lo := uint32(hw[4])<<8 | uint32(hw[5])
		return and(relExpr{op: "==", l: loadArith{base: baseLink, idx: numArith(off), size: 4}, r: numArith(hi)},
			relExpr{op: "==", l: loadArith{base: baseLink, idx: numArith(off + 4), size: 2}, r: numArith(lo)})
	}
	return p.dirCombine(dir, at(6), at(0))
}

func (p *parser) port(q quals, t token, isRange bool) expr {
	lo := p.portNumber(t)
	hi := lo
	if isRange {
		p.expect("-")
		hi = p.portNumber(p.wordToken("the end of the port range"))
		if hi < lo {
			lo, hi = hi, lo
		}
	}
	var protos []uint8
	switch q.proto {
	case "":
		protos = []uint8{6, 17, 132}
	case "tcp", "udp", "sctp":
		protos = []uint8{protoNames[q.proto]}
	default:
		p.fail(t.pos, "%s before port does not go with a port (use tcp, udp or none)", q.proto)
	}
	if s, named := portNames[t.text]; named && !isRange {
		protos = p.serviceProtos(t, q, s, protos)
	}
	one := func(id fieldID) expr {
		if lo == hi {
			return test(id, "==", uint32(lo))
		}
		return and(test(id, ">=", uint32(lo)), test(id, "<=", uint32(hi)))
	}
	ports := p.dirCombine(q.dir, one(fSrcPort), one(fDstPort))
	var v4, v6 expr = constExpr(false), constExpr(false)
	for _, n := range protos {
		v4 = or(v4, test(fProtocol, "==", uint32(n)))
		v6 = or(v6, test(fNextHeader0, "==", uint32(n)))
	}
	return or(and(p.ipv4(), and(v4, and(firstFragment(), ports))), and(p.ipv6(), and(v6, ports)))
}

func (p *parser) portNumber(t token) uint16 {
	if s, ok := portNames[t.text]; ok {
		return s.port
	}
	if !isNumber(t.text) {
		p.fail(t.pos, "%q is not a port number or a service name tacap knows (docs/filters.md lists them)", t.text)
	}
	n := p.number(t)
	if n > 65535 {
		p.fail(t.pos, "a port is at most 65535")
	}
	return uint16(n)
}

// serviceProtos narrows a port test by name to the service's protocols,
// as tcpdump does ("port http" is TCP only; "udp port ssh" an error).
func (p *parser) serviceProtos(t token, q quals, s service, protos []uint8) []uint8 {
	var out []uint8
	for _, n := range protos {
		if n == 6 && s.tcp || n == 17 && s.udp {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		p.failFatal(t.pos, "port %q is not a %s service (give the number)", t.text, q.proto)
	}
	return out
}
