package labels

import (
	"encoding/binary"
	"math"
	"math/bits"
	"net/netip"
	"sort"

	"github.com/tacap/tacap/dataset"
)

// Tuple is the 5-tuple a rule is matched against. IPv4 addresses are in
// the first 4 bytes of Src and Dst.
type Tuple struct {
	Src, Dst     [16]byte
	V6           bool
	Proto        uint8
	Sport, Dport uint16
}

// reversed is the tuple of the other direction.
func (t *Tuple) reversed() Tuple {
	return Tuple{Src: t.Dst, Dst: t.Src, V6: t.V6, Proto: t.Proto, Sport: t.Dport, Dport: t.Sport}
}

// TupleOf makes a tuple of parsed addresses (IPv4-mapped IPv6 counts as IPv4).
func TupleOf(src, dst netip.Addr, proto uint8, sport, dport uint16) Tuple {
	t := Tuple{Proto: proto, Sport: sport, Dport: dport}
	src, dst = src.Unmap(), dst.Unmap()
	if src.Is4() && dst.Is4() {
		a, b := src.As4(), dst.As4()
		copy(t.Src[:], a[:])
		copy(t.Dst[:], b[:])
		return t
	}
	// Mixed or invalid addresses (a damaged row) match no prefix of the
	// other family: an IPv4 address mapped into IPv6 is in no IPv6 rule.
	t.V6 = true
	if src.IsValid() {
		t.Src = src.As16()
	}
	if dst.IsValid() {
		t.Dst = dst.As16()
	}
	return t
}

// Matcher finds the last rule that matches a packet, a flow or a session.
// Each dimension (source and destination prefixes, ports, protocol, time)
// maps a value to the set of rules it allows, in a prefix trie or a table
// of intervals; a tuple's candidates are the intersection of its sets, and
// the winner is the highest rule index in it. The cost does not grow with
// the number of rules beyond the width of the sets (one word per 64
// rules). A Matcher is read-only once built: goroutines may share it.
type Matcher struct {
	rs    *Rules
	words int
	sets  []uint64 // set i is sets[i*words : (i+1)*words]
	// src and dst address tries, per IP version.
	src4, src6, dst4, dst6 trie
	sport, dport           []uint32 // port → set
	proto                  [256]uint32
	both                   uint32  // the rules that match either direction
	timeBounds             []int64 // sorted; interval i is [timeBounds[i-1], timeBounds[i])
	timeSets               []uint32
	all                    uint32 // every rule
}

// Result is the outcome for one tuple: the winning rule's index, or -1.
type Result int

// Label, Attack and RuleID of a result.
func (m *Matcher) Label(r Result) string {
	if r < 0 {
		return m.rs.Default
	}
	return m.rs.Rules[r].Label
}

func (m *Matcher) Attack(r Result) string {
	if r < 0 {
		return ""
	}
	return m.rs.Rules[r].Attack
}

func (m *Matcher) RuleID(r Result) string {
	if r < 0 {
		return ""
	}
	return m.rs.Rules[r].ID
}

// Rules is what the matcher was built from.
func (m *Matcher) Rules() *Rules { return m.rs }

// NewMatcher builds the matcher of rs.
func NewMatcher(rs *Rules) *Matcher {
	n := len(rs.Rules)
	m := &Matcher{rs: rs, words: max(1, (n+63)/64)}
	m.newSet() // set 0: empty
	m.all = m.setOf(func(int) bool { return true })
	m.both = m.setOf(func(i int) bool { return rs.Rules[i].BothDirections })
	m.src4 = m.buildTrie(false, func(r *Rule) []netip.Prefix { return r.Src })
	m.src6 = m.buildTrie(true, func(r *Rule) []netip.Prefix { return r.Src })
	m.dst4 = m.buildTrie(false, func(r *Rule) []netip.Prefix { return r.Dst })
	m.dst6 = m.buildTrie(true, func(r *Rule) []netip.Prefix { return r.Dst })
	m.sport = m.portTable(func(r *Rule) PortRange { return r.Sport })
	m.dport = m.portTable(func(r *Rule) PortRange { return r.Dport })
	protoSets := map[string]uint32{}
	for p := range 256 {
		m.proto[p] = m.interned(protoSets, func(i int) bool { r := &rs.Rules[i]; return r.Proto < 0 || r.Proto == p })
	}
	m.buildTime()
	return m
}

func (m *Matcher) set(i uint32) []uint64 { return m.sets[int(i)*m.words : (int(i)+1)*m.words] }

func (m *Matcher) newSet() uint32 {
	m.sets = append(m.sets, make([]uint64, m.words)...)
	return uint32(len(m.sets)/m.words - 1)
}

func (m *Matcher) setOf(in func(int) bool) uint32 {
	i := m.newSet()
	s := m.set(i)
	for r := range m.rs.Rules {
		if in(r) {
			s[r/64] |= 1 << (r % 64)
		}
	}
	return i
}

// interned is setOf, sharing one set among all callers whose sets are
// equal (cache is keyed by a set's words).
func (m *Matcher) interned(cache map[string]uint32, in func(int) bool) uint32 {
	s := m.setOf(in)
	key := setKey(m.set(s))
	if j, ok := cache[key]; ok {
		m.sets = m.sets[:len(m.sets)-m.words]
		return j
	}
	cache[key] = s
	return s
}

func setKey(s []uint64) string {
	b := make([]byte, 0, 8*len(s))
	for _, w := range s {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	return string(b)
}

// trie is a binary trie of prefixes; every node carries the set of rules
// whose prefixes contain every address below it.
type trie struct {
	child [][2]int32
	set   []uint32
}

func (m *Matcher) buildTrie(v6 bool, prefixes func(*Rule) []netip.Prefix) trie {
	t := trie{child: [][2]int32{{-1, -1}}}
	own := []map[int]bool{{}} // rules whose prefix ends at the node
	for i := range m.rs.Rules {
		ps := prefixes(&m.rs.Rules[i])
		if len(ps) == 0 {
			own[0][i] = true
			continue
		}
		for _, p := range ps {
			if p.Addr().Is6() != v6 {
				continue
			}
			b := p.Addr().AsSlice()
			node := int32(0)
			for bit := range p.Bits() {
				c := b[bit/8] >> (7 - bit%8) & 1
				if t.child[node][c] < 0 {
					t.child = append(t.child, [2]int32{-1, -1})
					own = append(own, map[int]bool{})
					t.child[node][c] = int32(len(t.child) - 1)
				}
				node = t.child[node][c]
			}
			own[node][i] = true
		}
	}
	// Each node's set is its parent's plus its own rules; a node without
	// rules of its own shares its parent's set.
	t.set = make([]uint32, len(t.child))
	var walk func(node int32, parent uint32, hasParent bool)
	walk = func(node int32, parent uint32, hasParent bool) {
		s := parent
		if len(own[node]) > 0 || !hasParent {
			s = m.newSet()
			cur := m.set(s)
			if hasParent {
				copy(cur, m.set(parent))
			}
			for r := range own[node] {
				cur[r/64] |= 1 << (r % 64)
			}
		}
		t.set[node] = s
		for _, c := range t.child[node] {
			if c >= 0 {
				walk(c, s, true)
			}
		}
	}
	walk(0, 0, false)
	return t
}

// lookup is the set of rules whose prefixes contain the address.
func (t *trie) lookup(addr *[16]byte, nbits int) uint32 {
	node := int32(0)
	for bit := 0; bit < nbits; bit++ {
		c := t.child[node][addr[bit/8]>>(7-bit%8)&1]
		if c < 0 {
			break
		}
		node = c
	}
	return t.set[node]
}

// portTable maps every port to the set of rules whose range holds it.
func (m *Matcher) portTable(rng func(*Rule) PortRange) []uint32 {
	bounds := map[int]bool{0: true}
	for i := range m.rs.Rules {
		r := rng(&m.rs.Rules[i])
		bounds[int(r.Lo)] = true
		bounds[int(r.Hi)+1] = true
	}
	starts := make([]int, 0, len(bounds))
	for b := range bounds {
		if b <= 65535 {
			starts = append(starts, b)
		}
	}
	sort.Ints(starts)
	table := make([]uint32, 65536)
	cache := map[string]uint32{}
	for k, lo := range starts {
		hi := 65535
		if k+1 < len(starts) {
			hi = starts[k+1] - 1
		}
		port := uint16(lo)
		s := m.interned(cache, func(i int) bool { return rng(&m.rs.Rules[i]).has(port) })
		for p := lo; p <= hi; p++ {
			table[p] = s
		}
	}
	return table
}

func (m *Matcher) buildTime() {
	bounds := map[int64]bool{}
	for i := range m.rs.Rules {
		r := &m.rs.Rules[i]
		if r.Start != math.MinInt64 {
			bounds[r.Start] = true
		}
		if r.End != math.MaxInt64 {
			bounds[r.End] = true
		}
	}
	for b := range bounds {
		m.timeBounds = append(m.timeBounds, b)
	}
	sort.Slice(m.timeBounds, func(i, j int) bool { return m.timeBounds[i] < m.timeBounds[j] })
	// Interval k holds the times t with timeBounds[k-1] <= t < timeBounds[k].
	cache := map[string]uint32{}
	for k := 0; k <= len(m.timeBounds); k++ {
		t := int64(math.MinInt64)
		if k > 0 {
			t = m.timeBounds[k-1]
		}
		m.timeSets = append(m.timeSets, m.interned(cache, func(i int) bool {
			r := &m.rs.Rules[i]
			return r.Start <= t && t < r.End
		}))
	}
}

// cachedInterval is timeInterval, first trying the interval of the
// previous packet (packets come in time order: most fall in the same one).
func (m *Matcher) cachedInterval(t int64, sc *Scratch) int {
	k := sc.interval
	if (k == 0 || m.timeBounds[k-1] <= t) && (k == len(m.timeBounds) || t < m.timeBounds[k]) {
		return k
	}
	k = m.timeInterval(t)
	sc.interval = k
	return k
}

// timeInterval is the index of the interval that holds t.
func (m *Matcher) timeInterval(t int64) int {
	return sort.Search(len(m.timeBounds), func(i int) bool { return m.timeBounds[i] > t })
}

// candidates sets out to the rules whose addresses, ports and protocol
// match t as given (not reversed).
func (m *Matcher) candidates(t *Tuple, out []uint64, sc *Scratch) {
	s, d := m.addrSet(&sc.srcCache, &m.src4, &m.src6, &t.Src, t.V6), m.addrSet(&sc.dstCache, &m.dst4, &m.dst6, &t.Dst, t.V6)
	a, b, c, e, f := m.set(s), m.set(d), m.set(m.sport[t.Sport]), m.set(m.dport[t.Dport]), m.set(m.proto[t.Proto])
	for i := range out {
		out[i] = a[i] & b[i] & c[i] & e[i] & f[i]
	}
}

// addrCache remembers the set of recent addresses' trie lookups: floods
// repeat their victim (and often their source) in packets of ever new
// tuples, and a trie walk is a chain of dependent loads.
type addrCache [256]struct {
	addr  [16]byte
	v6    bool
	valid bool
	set   uint32
}

// addrSet is the set of rules whose prefixes (in t4 or t6) hold addr.
func (m *Matcher) addrSet(c *addrCache, t4, t6 *trie, addr *[16]byte, v6 bool) uint32 {
	le := binary.LittleEndian
	h := (le.Uint64(addr[0:]) ^ le.Uint64(addr[8:])*0x9E3779B97F4A7C15) * 0xBF58476D1CE4E5B9
	e := &c[h>>56]
	if e.valid && e.addr == *addr && e.v6 == v6 {
		return e.set
	}
	var s uint32
	if v6 {
		s = t6.lookup(addr, 128)
	} else {
		s = t4.lookup(addr, 32)
	}
	e.addr, e.v6, e.valid, e.set = *addr, v6, true, s
	return s
}

// highest is the highest rule index in s, or -1.
func highest(s []uint64) Result {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] != 0 {
			return Result(i*64 + 63 - bits.LeadingZeros64(s[i]))
		}
	}
	return -1
}

// Scratch is a caller's working space, so that matching allocates nothing;
// one per goroutine. It remembers the candidates of recent tuples: packets
// of one flow repeat their tuple, and then only the time is looked up.
type Scratch struct {
	interval           int // the time interval of the last packet
	fwd, rev, tm       []uint64
	srcCache, dstCache addrCache
	cache              []cacheEntry
	cacheSets          []uint64 // entry i's candidates: cacheSets[i*words : (i+1)*words]
}

// cacheEntry is a tuple whose packet candidates (matching it, or its
// reverse for rules that allow it, at any time) are cached; none says the
// candidates are empty.
type cacheEntry struct {
	t           Tuple
	valid, none bool
}

const cacheEntries = 4096 // a power of two

// NewScratch makes working space for m.
func (m *Matcher) NewScratch() *Scratch {
	return &Scratch{fwd: make([]uint64, m.words), rev: make([]uint64, m.words), tm: make([]uint64, m.words),
		cache: make([]cacheEntry, cacheEntries), cacheSets: make([]uint64, cacheEntries*m.words)}
}

// hash mixes a tuple into a cache slot.
func (t *Tuple) hash() uint64 {
	le := binary.LittleEndian
	h := le.Uint64(t.Src[0:]) ^ le.Uint64(t.Src[8:])*0x9E3779B97F4A7C15
	h = (h ^ le.Uint64(t.Dst[0:])) * 0xBF58476D1CE4E5B9
	h = (h ^ le.Uint64(t.Dst[8:])) * 0x94D049BB133111EB
	h ^= uint64(t.Sport)<<32 | uint64(t.Dport)<<16 | uint64(t.Proto)
	h *= 0x9E3779B97F4A7C15
	return h ^ h>>29
}

// match fills sc.fwd and sc.rev with the rules matching t forward and
// reversed (the latter whatever the rules' both_directions).
func (m *Matcher) match(t *Tuple, sc *Scratch) {
	m.candidates(t, sc.fwd, sc)
	r := t.reversed()
	m.candidates(&r, sc.rev, sc)
}

// packetCandidates are the rules that match a packet of tuple t at some
// time: from the cache, or computed and cached. nil: none.
func (m *Matcher) packetCandidates(t *Tuple, sc *Scratch) []uint64 {
	i := int(t.hash() & (cacheEntries - 1))
	e := &sc.cache[i]
	u := sc.cacheSets[i*m.words : (i+1)*m.words]
	if !e.valid || e.t != *t {
		m.match(t, sc)
		both := m.set(m.both)
		var any uint64
		for k := range u {
			u[k] = sc.fwd[k] | sc.rev[k]&both[k]
			any |= u[k]
		}
		*e = cacheEntry{t: *t, valid: true, none: any == 0}
	}
	if e.none {
		return nil
	}
	return u
}

// Packet is the rule that labels a packet of tuple t at time ns: the last
// rule that matches t (or its reverse, if the rule allows) whose window
// holds ns.
func (m *Matcher) Packet(t *Tuple, ns int64, sc *Scratch) Result {
	if len(m.rs.Rules) == 0 {
		return -1
	}
	u := m.packetCandidates(t, sc)
	if u == nil {
		return -1
	}
	tm := m.set(m.timeSets[m.cachedInterval(ns, sc)])
	for i := len(u) - 1; i >= 0; i-- {
		if w := u[i] & tm[i]; w != 0 {
			return Result(i*64 + 63 - bits.LeadingZeros64(w))
		}
	}
	return -1
}

// Span is the rule that labels a flow or a session of tuple t (oriented
// src to dst) whose packets lie in [first, last]: the last rule whose
// window overlaps [first, last] and that matches the packets it has —
// those sent from t's source when hasFwd, those sent to it when hasBwd (a
// rule of one direction matches the packets of that direction only, a
// rule of both directions all of them). fwd and bwd say whether the rule
// matches the packets sent from t's source and those sent to it; inside
// says whether its window holds all of [first, last].
func (m *Matcher) Span(t *Tuple, first, last int64, hasFwd, hasBwd bool, sc *Scratch) (r Result, fwd, bwd, inside bool) {
	if len(m.rs.Rules) == 0 {
		return -1, false, false, false
	}
	m.match(t, sc)
	both := m.set(m.both)
	for i := range sc.tm {
		sc.tm[i] = 0
	}
	for k, end := m.timeInterval(first), m.timeInterval(last); k <= end; k++ {
		s := m.set(m.timeSets[k])
		for i := range sc.tm {
			sc.tm[i] |= s[i]
		}
	}
	var fm, bm uint64 // all ones when the span has packets in that direction
	if hasFwd {
		fm = ^uint64(0)
	}
	if hasBwd {
		bm = ^uint64(0)
	}
	best := Result(-1)
	for i := len(sc.fwd) - 1; i >= 0 && best < 0; i-- {
		f, rv := sc.fwd[i], sc.rev[i]
		fwdRules := f | rv&both[i] // rules matching the packets from src
		bwdRules := rv | f&both[i] // rules matching the packets to it
		if w := (fwdRules&fm | bwdRules&bm) & sc.tm[i]; w != 0 {
			best = Result(i*64 + 63 - bits.LeadingZeros64(w))
		}
	}
	if best < 0 {
		return -1, false, false, false
	}
	w, bit := int(best)/64, uint64(1)<<(int(best)%64)
	f, rv, bd := sc.fwd[w]&bit != 0, sc.rev[w]&bit != 0, both[w]&bit != 0
	rule := &m.rs.Rules[best]
	return best, f || (bd && rv), rv || (bd && f), rule.Start <= first && last < rule.End
}

// SessionSpan is the time span a sessions/ row is labelled over: its
// microsecond first_ts and last_ts, each microsecond whole, in
// nanoseconds. Capture and tacap label both use it, so a row gets the same
// label from either.
func SessionSpan(firstUs, lastUs int64) (first, last int64) {
	return firstUs * 1000, lastUs*1000 + 999
}

// LabelPacket sets a packets/ row's label columns; t is its tuple.
func (m *Matcher) LabelPacket(p *dataset.Packet, t *Tuple, sc *Scratch) {
	r := m.Packet(t, p.TsNs, sc)
	p.Label, p.Attack, p.LabelRule = m.Label(r), m.Attack(r), m.RuleID(r)
}

// LabelSession sets a sessions/ row's label columns; t is its tuple, and
// bidirectional says whether its sessions hold both directions
// (--bidirectional).
func (m *Matcher) LabelSession(s *dataset.Session, t *Tuple, bidirectional bool, sc *Scratch) {
	r := m.Session(t, s.FirstTs, s.LastTs, bidirectional, sc)
	s.Label, s.Attack, s.LabelRule = m.Label(r), m.Attack(r), m.RuleID(r)
}

// Session is the rule that labels a session instance of tuple t seen
// from firstUs to lastUs (microseconds, as in its row): its packets go
// from t's source to its destination, and back too when bidirectional.
func (m *Matcher) Session(t *Tuple, firstUs, lastUs int64, bidirectional bool, sc *Scratch) Result {
	first, last := SessionSpan(firstUs, lastUs)
	r, _, _, _ := m.Span(t, first, last, true, bidirectional, sc)
	return r
}

// LabelFlow sets a flows/ row's label columns, label_packets included; t
// is its tuple, oriented as the row (src to dst).
func (m *Matcher) LabelFlow(f *dataset.Flow, t *Tuple, sc *Scratch) {
	r, n := m.Flow(t, f.FirstTsNs, f.LastTsNs, f.FwdPackets, f.BwdPackets, sc)
	f.Label, f.Attack, f.LabelRule = m.Label(r), m.Attack(r), m.RuleID(r)
	f.LabelPackets = nil
	if n >= 0 {
		f.LabelPackets = &n
	}
}

// Flow is the rule that labels a flow of tuple t (oriented src to dst)
// from first to last (ns) with fwdPackets and bwdPackets packets, and its
// label_packets, or -1 when unknown (null).
func (m *Matcher) Flow(t *Tuple, first, last, fwdPackets, bwdPackets int64, sc *Scratch) (Result, int64) {
	r, fwd, bwd, inside := m.Span(t, first, last, fwdPackets > 0, bwdPackets > 0, sc)
	return r, labelPackets(r, fwd, bwd, inside, fwdPackets, bwdPackets)
}

// labelPackets is how many of a flow's packets match its rule r: all
// those of the directions it matches when its window holds the flow, 0
// when no rule labels it, and unknown (-1) when the flow straddles an
// edge of the window.
func labelPackets(r Result, fwd, bwd, inside bool, fwdPackets, bwdPackets int64) int64 {
	var n int64
	switch {
	case r < 0:
	case !inside:
		return -1
	default:
		if fwd {
			n += fwdPackets
		}
		if bwd {
			n += bwdPackets
		}
	}
	return n
}
