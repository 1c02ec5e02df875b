package report

// The aggregator sees every packet row once, in batches, and keeps only
// per-address, per-port and per-handshake state: addresses are dense IDs
// (see interner), so most counters are slice increments. Each batch is
// added by two goroutines at once, each with state of its own that the
// other never touches: volumeState (addVolume: counts, bytes, ports,
// timelines, UDP/ICMP rates, amplification) and relationState
// (addRelations: who talks to whom, probes, TCP handshakes). Each has its
// own per-address table, indexed by the same address ID. A third
// goroutine adds up the batch's label columns (labelState, labels.go).

const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagACK = 0x10
)

// volAddr is volumeState's per address.
type volAddr struct {
	srcRecords, srcBytes uint64
	dstRecords, dstBytes uint64
	udpOut               uint64
	dest                 int32 // index into volumeState.dests, -1 until needed
	// The times (ns) of its first and last rows as source and as
	// destination: where an indicator about it has its evidence.
	srcSpan, dstSpan span
}

// relAddr is relationState's per address. Most addresses of a flood send
// to one destination and probe at most one port: firstDst and firstProbe
// remember that one, so only addresses with several touch the pair and
// probe sets.
type relAddr struct {
	synOut, synAckOut    uint64
	rstOut               uint64
	udpProbes            uint64 // UDP rows it sent towards a lower port than its own
	handshakesOut        uint64
	dest                 int32  // index into relationState.dests, -1 until needed
	firstDst             uint32 // the first destination + 1; 0: none yet
	firstProbe           uint32 // the first probed port | udp<<16, + 1; 0: none yet
	firstKinds           uint8  // what it sent to the first destination (kindAny ...)
	multiDst, multiProbe bool   // it has more than one: see relationState.pairs / probes
}

// volDest is the traffic towards one destination (volumeState's).
type volDest struct {
	udpIn, udpBytesIn uint64
	icmpIn, icmpErrIn uint64
	icmpEchoIn        uint64
	udpRows, icmpRows uint64 // rows (udpIn and icmpIn are packets)
	udp, icmp         peak
	// From sessions/: packets seen (recorded or not) of the UDP and ICMP
	// sessions towards this destination and their time span (µs).
	udpSeen, icmpSeen uint64
	udpSpan, icmpSpan span
}

// relDest is who talks to one destination and how its TCP handshakes
// went (relationState's).
type relDest struct {
	synIn, synAckIn       uint64
	handshakes, completed uint64
	sources               uint64 // distinct sources, any protocol
	// Distinct sources of each kind of traffic an indicator is about, by
	// kind bit (kindSYN is [0] ...): the senders of TCP SYNs, SYN-ACKs, UDP
	// and ICMP/ICMPv6. An address ID is a uint32, so they fit.
	kindSources [kindBits - 1]uint32
}

// sourcesOf is d's distinct sources of one kind (kindSYN ...).
func (d *relDest) sourcesOf(kind uint8) uint64 {
	for k := 1; k < kindBits; k++ {
		if kind == 1<<k {
			return uint64(d.kindSources[k-1])
		}
	}
	return d.sources
}

// What a source sent to a destination, as bits: kindAny for every row,
// and one more for the traffic of an indicator. A source is counted once
// per destination and bit.
const (
	kindAny    = 1 << 0
	kindSYN    = 1 << 1 // TCP SYN without ACK
	kindSYNACK = 1 << 2 // TCP SYN with ACK
	kindUDP    = 1 << 3
	kindICMP   = 1 << 4 // ICMP or ICMPv6
	kindBits   = 5
)

// kindOf is the kind bits of a row.
func kindOf(proto, flags int32) uint8 {
	switch proto {
	case 6:
		switch flags & (flagSYN | flagACK) {
		case flagSYN:
			return kindAny | kindSYN
		case flagSYN | flagACK:
			return kindAny | kindSYNACK
		}
	case 17:
		return kindAny | kindUDP
	case 1, 58:
		return kindAny | kindICMP
	}
	return kindAny
}

// span is a time interval (µs, or ns where its field says so); zero
// until something is added.
type span struct{ first, last int64 }

func (s *span) add(first, last int64) {
	if s.first == 0 && s.last == 0 {
		s.first, s.last = first, last
		return
	}
	s.first = min(s.first, first)
	s.last = max(s.last, last)
}

// rate is n per second over the span, the span counted as at least one
// second (a burst shorter than a second is n in that second).
func (s span) rate(n uint64) float64 {
	sec := float64(s.last-s.first) / 1e6
	return float64(n) / max(sec, 1)
}

// peak finds the busiest second of a stream of timestamps exactly: runs of
// the same second are counted in place and added to a map when the second
// changes, so the map is touched once per (destination, second) run.
type peak struct {
	sec   int64
	cur   uint64
	max   uint64
	maxAt int64
}

type secKey struct {
	dest int32
	kind uint8
	sec  int64
}

type tcpKey struct {
	src, dst     uint32
	sport, dport uint16
}

type sessKey struct {
	src, dst     uint32
	sport, dport uint16
	proto        uint8
	run          int32
}

type sessAgg struct {
	first, last             int64 // µs (sessions) or ns/1000 (packets)
	recorded, bytesRecorded int64
	seen, bytesSeen         int64
	quota                   bool
	fromPackets             bool
}

type ampKey struct {
	id   uint32 // victim (responses) or requester (requests)
	port uint16
}

type ampStat struct {
	packets, bytes uint64
	rows           uint64
	reflectors     uint64 // distinct sources from the port to the victim
	idx            uint32 // dense number of this (victim, port), for reflector keys
}

type traffic struct{ records, packets, bytes uint64 }

func (t *traffic) add(packets, bytes uint64) {
	t.records++
	t.packets += packets
	t.bytes += bytes
}

// trafficOf returns m[k], made on first use.
func trafficOf[K comparable](m map[K]*traffic, k K) *traffic {
	t := m[k]
	if t == nil {
		t = &traffic{}
		m[k] = t
	}
	return t
}

// handshake state bits.
const (
	hsSYN  = 1
	hsDone = 2
)

// pairCache skips set insertions of pairs just seen: most rows repeat the
// pair of the row before them (a session's packets), so a small
// direct-mapped cache in front of the map saves most map operations.
type pairCache [1 << 14]uint64

func (c *pairCache) seen(k uint64) bool {
	h := (k * 0x9E3779B97F4A7C15) >> 50
	if c[h] == k+1 {
		return true
	}
	c[h] = k + 1
	return false
}

// kindCache is pairCache for the pairs of relationState.pairs, with the
// kind bits the map holds for each: a row whose kind is already there
// needs no map operation.
type kindCache [1 << 14]kindSlot

type kindSlot struct {
	k     uint64 // the pair + 1; 0: empty
	kinds uint8
}

func (c *kindCache) slot(k uint64) *kindSlot { return &c[(k*0x9E3779B97F4A7C15)>>50] }

// aggregator is the report's state. While a batch of packets is added,
// vol belongs to the goroutine running addVolume and rel to the one
// running addRelations, and nothing else is touched; between batches (add
// returns after both finish) everything belongs to the caller: addSessions,
// addFlows, finish and the reports.
type aggregator struct {
	names   *interner
	vol     volumeState
	rel     relationState
	sessTop *topN[sessRow] // the largest session instances
	flowTop *topN[flowRow] // the largest flows (flows.go)
	lab     *labelState    // the label columns (labels.go)
}

// volumeState is addVolume's: counts, bytes, ports, per-second peaks,
// UDP/ICMP per destination (also from sessions/), amplification, sessions
// from packets.
type volumeState struct {
	addrs []volAddr // by address ID
	dests []volDest

	total       traffic
	byProto     map[string]*traffic
	byDirection map[uint32]*traffic
	ports       [2][65536]traffic // TCP, UDP by destination port

	secCounts  map[secKey]uint64
	ampResp    map[ampKey]*ampStat
	ampReq     map[ampKey]uint64   // bytes requested from a service port
	reflectors map[uint64]struct{} // ampStat.idx<<32 | src
	reflCache  pairCache

	sessions map[sessKey]*sessAgg // from packets, for runs without a sessions file
}

// relationState is addRelations': who sends to whom, probed ports, TCP
// flags and handshakes.
type relationState struct {
	addrs []relAddr // by address ID
	dests []relDest

	tcp struct{ records, syn, synAck, rst, fin uint64 }

	handshakes map[tcpKey]uint8
	hsCache    [1 << hsCacheBits]hsSlot
	pairs      map[uint64]uint8 // dst<<32 | src → kind bits, of sources sending to several destinations
	pairCache  kindCache
	probes     map[uint64]struct{} // src<<17 | udp<<16 | port: sources probing several ports
	probeCache pairCache
	conns      map[connKey]*connStat // handshakes per client and service
}

// connKey is one client's connections to one service.
type connKey struct {
	src, dst uint32
	dport    uint16
}

type connStat struct{ started, completed uint64 }

// sessRow is one session instance (a sessions/ row, or a session of a run
// without sessions/ added up from its packets).
type sessRow struct {
	k sessKey
	s sessAgg
}

func newAggregator(names *interner, top int, runs []*run) *aggregator {
	// Field by field: a volumeState or relationState literal would be
	// built apart and copied in, megabytes of port table and cache.
	a := &aggregator{names: names, lab: newLabelState(names, runs)}
	v, r := &a.vol, &a.rel
	v.byProto = map[string]*traffic{}
	v.byDirection = map[uint32]*traffic{}
	v.secCounts = map[secKey]uint64{}
	v.ampResp = map[ampKey]*ampStat{}
	v.ampReq = map[ampKey]uint64{}
	v.reflectors = map[uint64]struct{}{}
	v.sessions = map[sessKey]*sessAgg{}
	r.handshakes = map[tcpKey]uint8{}
	r.pairs = map[uint64]uint8{}
	r.probes = map[uint64]struct{}{}
	r.conns = map[connKey]*connStat{}
	a.sessTop = newTopN(top, a.betterSession)
	a.flowTop = newTopN(top, a.betterFlow)
	return a
}

// betterSession ranks sessions by packets seen, bytes seen, then by
// addresses and ports (a total order: the same output for any input order).
func (a *aggregator) betterSession(x, y *sessRow) bool {
	if x.s.seen != y.s.seen {
		return x.s.seen > y.s.seen
	}
	if x.s.bytesSeen != y.s.bytesSeen {
		return x.s.bytesSeen > y.s.bytesSeen
	}
	n := a.names.names
	if x.k.src != y.k.src {
		return n[x.k.src] < n[y.k.src]
	}
	if x.k.dst != y.k.dst {
		return n[x.k.dst] < n[y.k.dst]
	}
	if x.k.sport != y.k.sport {
		return x.k.sport < y.k.sport
	}
	if x.k.dport != y.k.dport {
		return x.k.dport < y.k.dport
	}
	if x.k.proto != y.k.proto {
		return x.k.proto < y.k.proto
	}
	if x.k.run != y.k.run {
		return x.k.run < y.k.run
	}
	return x.s.first < y.s.first
}

// ampPorts are UDP services abused for reflection and amplification.
var ampPorts = map[int32]string{
	17: "QOTD", 19: "CharGen", 53: "DNS", 69: "TFTP", 111: "portmap", 123: "NTP", 137: "NetBIOS",
	161: "SNMP", 389: "CLDAP", 427: "SLP", 520: "RIP", 1434: "MS-SQL", 1900: "SSDP", 3283: "ARD",
	3702: "WS-Discovery", 5683: "CoAP", 10001: "Ubiquiti", 11211: "memcached", 37810: "DHDiscover",
}

var isAmpPort = func() (t [65536]bool) {
	for p := range ampPorts {
		t[p] = true
	}
	return t
}()

// dest returns id's per-destination state, made on first use.
func (v *volumeState) dest(id uint32) *volDest   { return lazyEntry(&v.addrs[id].dest, &v.dests) }
func (r *relationState) dest(id uint32) *relDest { return lazyEntry(&r.addrs[id].dest, &r.dests) }

// lazyEntry returns (*s)[*idx], appending a zero entry and setting *idx
// the first time (*idx < 0).
func lazyEntry[T any](idx *int32, s *[]T) *T {
	if *idx < 0 {
		*idx = int32(len(*s))
		var zero T
		*s = appendDoubling(*s, zero)
	}
	return &(*s)[*idx]
}

// appendDoubling appends, doubling the capacity when full: append's gentler
// growth of large slices copies far more in all.
func appendDoubling[T any](s []T, x T) []T {
	if len(s) == cap(s) {
		s = append(make([]T, 0, max(2*cap(s), 1024)), s...)
	}
	return append(s, x)
}

// grow makes room in both address tables for every interned address.
func (a *aggregator) grow() {
	n := a.names.len()
	a.vol.addrs = growTable(a.vol.addrs, n, volAddr{dest: -1})
	a.rel.addrs = growTable(a.rel.addrs, n, relAddr{dest: -1})
}

// growTable extends s to n entries, the new ones zero.
func growTable[T any](s []T, n int, zero T) []T {
	if n <= len(s) {
		return s
	}
	if n > cap(s) { // double: append's gentler growth copies far more in all
		s = append(make([]T, 0, max(n, 2*cap(s), 1024)), s...)
	}
	for len(s) < n {
		s = append(s, zero)
	}
	return s
}

func (v *volumeState) tick(p *peak, d int32, kind uint8, sec int64, n uint64) {
	if p.cur > 0 && p.sec != sec {
		v.flushPeak(p, d, kind)
	}
	p.sec = sec
	p.cur += n
}

func (v *volumeState) flushPeak(p *peak, d int32, kind uint8) {
	if p.cur == 0 {
		return
	}
	k := secKey{d, kind, p.sec}
	n := v.secCounts[k] + p.cur
	v.secCounts[k] = n
	if n > p.max || (n == p.max && p.sec < p.maxAt) {
		p.max, p.maxAt = n, p.sec
	}
	p.cur = 0
}

// wireBytes is the IP bytes on the wire that a row stands for. A GSO/GRO
// super-packet (gso_segs > 1) carries its payload once but goes out as
// gso_segs packets, each with its own IP and L4 headers.
func wireBytes(ipLen, gso, proto, tcpLen, udpLen int32) uint64 {
	if ipLen < 0 {
		return 0
	}
	b := uint64(ipLen)
	if gso > 1 {
		hdr := ipLen
		switch proto {
		case 6:
			hdr = ipLen - tcpLen
		case 17:
			hdr = ipLen - udpLen
		}
		if hdr < 0 {
			hdr = 0
		}
		if hdr > ipLen {
			hdr = ipLen
		}
		b += uint64(gso-1) * uint64(hdr)
	}
	return b
}

func protoKey(ver, proto int32) string {
	v := "IPv?"
	switch ver {
	case 4:
		v = "IPv4"
	case 6:
		v = "IPv6"
	}
	switch proto {
	case 6:
		return v + "/TCP"
	case 17:
		return v + "/UDP"
	case 1:
		return v + "/ICMP"
	case 58:
		return v + "/ICMPv6"
	}
	return v + "/other"
}

func isICMPError(proto, typ int32) bool {
	if proto == 1 {
		return typ == 3 || typ == 4 || typ == 5 || typ == 11 || typ == 12
	}
	return proto == 58 && typ >= 1 && typ <= 4
}

func isEchoRequest(proto, typ int32) bool {
	return (proto == 1 && typ == 8) || (proto == 58 && typ == 128)
}

// add aggregates one batch of packet rows: addRelations and the labels'
// addPackets on goroutines of their own while addVolume runs on this one,
// each given only its state. sessions asks for per-session aggregation
// from packets (runs without a sessions file).
func (a *aggregator) add(b *batch, run int32, rt *runTally, sessions bool) {
	a.grow()
	rel, lab := &a.rel, a.lab
	done := make(chan struct{}, 2)
	go func() {
		rel.addRelations(b)
		done <- struct{}{}
	}()
	go func() {
		lab.addPackets(b, run)
		done <- struct{}{}
	}()
	a.vol.addVolume(b, run, rt, sessions)
	<-done
	<-done
}

// addVolume counts records, packets and bytes by protocol, direction,
// address and port, the timeline, UDP and ICMP per destination and second,
// amplification, and sessions from packets.
func (v *volumeState) addVolume(b *batch, run int32, rt *runTally, sessions bool) {
	ts := b.i64[pTsNs]
	dir := b.str[pDirection]
	ver := b.i32[pIPVersion]
	src, dst := b.str[pSrcIP], b.str[pDstIP]
	proto := b.i32[pProtocol]
	sport, dport := b.i32[pSrcPort], b.i32[pDstPort]
	ipLen, gso := b.i32[pIPLen], b.i32[pGSOSegs]
	tcpLen := b.i32[pTCPLen]
	udpLen, icmpType := b.i32[pUDPLen], b.i32[pICMPType]

	var label []uint32
	if !b.absent[pLabel] {
		label = b.str[pLabel]
	}
	var lastDir uint32 = ^uint32(0)
	var dirT *traffic
	var lastVer, lastProto int32 = -1, -1
	var protoT *traffic

	for i := 0; i < b.rows; i++ {
		s, d, p := src[i], dst[i], proto[i]
		segs := uint64(1)
		if gso[i] > 1 {
			segs = uint64(gso[i])
		}
		by := wireBytes(ipLen[i], gso[i], p, tcpLen[i], udpLen[i])
		sec := floorDiv(ts[i], 1e9)

		v.total.add(segs, by)
		rt.add(ts[i], sec, timeClass(p), segs, by)
		if label != nil {
			rt.addLabel(label[i], sec)
		}
		// Rows come in runs of one direction and protocol: the map is
		// looked up when they change.
		if dir[i] != lastDir {
			lastDir = dir[i]
			dirT = trafficOf(v.byDirection, lastDir)
		}
		dirT.add(segs, by)
		if ver[i] != lastVer || p != lastProto {
			lastVer, lastProto = ver[i], p
			protoT = trafficOf(v.byProto, protoKey(lastVer, lastProto))
		}
		protoT.add(segs, by)

		as, ad := &v.addrs[s], &v.addrs[d]
		as.srcRecords++
		as.srcBytes += by
		as.srcSpan.add(ts[i], ts[i])
		ad.dstRecords++
		ad.dstBytes += by
		ad.dstSpan.add(ts[i], ts[i])

		sp, dp := sport[i], dport[i]
		switch p {
		case 6:
			v.port(0, dp, by)
		case 17:
			v.port(1, dp, by)
			dd := v.dest(d)
			dd.udpIn += segs
			dd.udpRows++
			dd.udpBytesIn += by
			v.tick(&dd.udp, ad.dest, 0, sec, segs)
			as.udpOut += segs
			if sp > 0 && sp < 65536 && isAmpPort[sp] {
				k := ampKey{d, uint16(sp)}
				st := v.ampResp[k]
				if st == nil {
					st = &ampStat{idx: uint32(len(v.ampResp))}
					v.ampResp[k] = st
				}
				st.packets += segs
				st.rows++
				st.bytes += by
				// A reflector of this victim and port: one that sent
				// from another port to the victim is another one here.
				if r := uint64(st.idx)<<32 | uint64(s); !v.reflCache.seen(r) {
					if _, ok := v.reflectors[r]; !ok {
						v.reflectors[r] = struct{}{}
						st.reflectors++
					}
				}
			}
			if dp > 0 && dp < 65536 && isAmpPort[dp] {
				v.ampReq[ampKey{s, uint16(dp)}] += by
			}
		case 1, 58:
			dd := v.dest(d)
			dd.icmpIn += segs
			dd.icmpRows++
			if isICMPError(p, icmpType[i]) {
				dd.icmpErrIn += segs
			} else if isEchoRequest(p, icmpType[i]) {
				dd.icmpEchoIn += segs
			}
			v.tick(&dd.icmp, ad.dest, 1, sec, segs)
		}

		if sessions {
			k := sessKey{s, d, uint16(sp), uint16(dp), uint8(p), run}
			sa := v.sessions[k]
			us := floorDiv(ts[i], 1000)
			if sa == nil {
				sa = &sessAgg{first: us, last: us, fromPackets: true}
				v.sessions[k] = sa
			}
			sa.recorded++
			sa.seen++
			sa.bytesRecorded += int64(ipLen[i])
			sa.bytesSeen += int64(ipLen[i])
			sa.first = min(sa.first, us)
			sa.last = max(sa.last, us)
		}
	}
}

// port counts a record to destination port dp of TCP (0) or UDP (1).
func (v *volumeState) port(proto int, dp int32, by uint64) {
	if dp >= 0 && dp < 65536 {
		t := &v.ports[proto][dp]
		t.records++
		t.bytes += by
	}
}

// addRelations follows who sends to whom, the ports each source probes
// and the TCP flags and handshakes.
func (r *relationState) addRelations(b *batch) {
	src, dst := b.str[pSrcIP], b.str[pDstIP]
	proto := b.i32[pProtocol]
	sport, dport := b.i32[pSrcPort], b.i32[pDstPort]
	flags := b.i32[pTCPFlags]
	for i := 0; i < b.rows; i++ {
		s, d, p := src[i], dst[i], proto[i]
		f := flags[i]
		r.pair(s, d, kindOf(p, f))
		sp, dp := sport[i], dport[i]
		switch p {
		case 6:
			r.tcp.records++
			as := &r.addrs[s]
			k := tcpKey{s, d, uint16(sp), uint16(dp)}
			switch {
			case f&(flagSYN|flagACK) == flagSYN:
				r.tcp.syn++
				r.dest(d).synIn++
				as.synOut++
				// A SYN after a completed handshake on the same 5-tuple is
				// a new connection: count the finished one now.
				if r.handshake(k) == hsSYN|hsDone {
					r.countHandshake(k, true)
					r.countReused(k)
				}
				r.setHandshake(k, hsSYN)
				r.probe(s, uint32(uint16(dp)))
			case f&(flagSYN|flagACK) == flagSYN|flagACK:
				r.tcp.synAck++
				as.synAckOut++
				r.dest(d).synAckIn++
			case f&(flagACK|flagRST|flagSYN) == flagACK:
				if r.handshake(k) == hsSYN {
					r.setHandshake(k, hsSYN|hsDone)
				}
			}
			if f&flagRST != 0 {
				r.tcp.rst++
				as.rstOut++
			}
			if f&flagFIN != 0 {
				r.tcp.fin++
			}
		case 17:
			// A probe: towards a lower port than it comes from (replies
			// from a service port to a client's ephemeral port are not).
			if dp < sp {
				r.addrs[s].udpProbes++
				r.probe(s, 1<<16|uint32(uint16(dp)))
			}
		}
	}
}

// pair notes that s sent d a row of kind (kindAny | ...), counting d's
// distinct sources of each kind. The kinds of s's first destination are
// kept in s itself (also once s has others: the map's entry for it is
// then only there to be counted as a peer).
func (r *relationState) pair(s, d uint32, kind uint8) {
	as := &r.addrs[s]
	switch {
	case as.firstDst == d+1:
		if as.firstKinds&kind != kind {
			r.countSources(d, kind&^as.firstKinds)
			as.firstKinds |= kind
		}
		return
	case as.firstDst == 0:
		as.firstDst, as.firstKinds = d+1, kind
		r.countSources(d, kind)
		return
	case !as.multiDst:
		as.multiDst = true
		r.pairs[uint64(as.firstDst-1)<<32|uint64(s)] = as.firstKinds
	}
	pair := uint64(d)<<32 | uint64(s)
	c := r.pairCache.slot(pair)
	if c.k == pair+1 && c.kinds&kind == kind {
		return
	}
	old := r.pairs[pair]
	if old&kind != kind {
		r.pairs[pair] = old | kind
		r.countSources(d, kind&^old)
	}
	*c = kindSlot{pair + 1, old | kind}
}

// countSources counts one more source of d for each of the kind bits.
func (r *relationState) countSources(d uint32, bits uint8) {
	dd := r.dest(d)
	if bits&kindAny != 0 {
		dd.sources++
	}
	for k := 1; k < kindBits; k++ {
		if bits&(1<<k) != 0 {
			dd.kindSources[k-1]++
		}
	}
}

// probe notes that s probed port (| udp<<16).
func (r *relationState) probe(s, port uint32) {
	as := &r.addrs[s]
	switch {
	case as.firstProbe == port+1:
		return
	case as.firstProbe == 0:
		as.firstProbe = port + 1
		return
	case !as.multiProbe:
		as.multiProbe = true
		r.probes[uint64(s)<<17|uint64(as.firstProbe-1)] = struct{}{}
	}
	if k := uint64(s)<<17 | uint64(port); !r.probeCache.seen(k) {
		r.probes[k] = struct{}{}
	}
}

// handshake returns k's state; a direct-mapped cache in front of the map
// answers the many ACKs of a session without hashing into a large map.
func (r *relationState) handshake(k tcpKey) uint8 {
	slot := &r.hsCache[hsHash(k)]
	if slot.ok && slot.k == k {
		return slot.st
	}
	st := r.handshakes[k]
	*slot = hsSlot{k, st, true}
	return st
}

func (r *relationState) setHandshake(k tcpKey, st uint8) {
	r.handshakes[k] = st
	r.hsCache[hsHash(k)] = hsSlot{k, st, true}
}

type hsSlot struct {
	k  tcpKey
	st uint8
	ok bool
}

func hsHash(k tcpKey) uint32 {
	h := (uint64(k.src)<<32 | uint64(k.dst)) ^ (uint64(k.sport)<<16|uint64(k.dport))*0x9E3779B97F4A7C15
	return uint32((h * 0xC2B2AE3D27D4EB4F) >> (64 - hsCacheBits))
}

const hsCacheBits = 17

// addSessions offers one batch of sessions/ rows (session instances) to
// the top sessions and adds the packets seen towards each destination (to
// volumeState: no other goroutine runs meanwhile).
func (a *aggregator) addSessions(b *batch, run int32) {
	a.grow()
	// betterSession reads the names the decoding goroutines append to.
	a.names.mu.Lock()
	defer a.names.mu.Unlock()
	src, dst := b.str[fSrcIP], b.str[fDstIP]
	sport, dport, proto := b.i32[fSrcPort], b.i32[fDstPort], b.i32[fProtocol]
	first, last := b.i64[fFirstTs], b.i64[fLastTs]
	rec, brec := b.i64[fPacketsRecorded], b.i64[fBytesRecorded]
	seen, bseen := b.i64[fPacketsSeen], b.i64[fBytesSeen]
	quota := b.bool[fQuotaLimited]
	a.lab.addSessions(b, run)
	for i := 0; i < b.rows; i++ {
		a.sessTop.offer(sessRow{
			sessKey{src[i], dst[i], uint16(sport[i]), uint16(dport[i]), uint8(proto[i]), run},
			sessAgg{first: first[i], last: last[i], recorded: rec[i], bytesRecorded: brec[i], seen: seen[i], bytesSeen: bseen[i], quota: quota[i]},
		})
		switch proto[i] {
		case 17:
			d := a.vol.dest(dst[i])
			d.udpSeen += uint64(max(seen[i], 0))
			d.udpSpan.add(first[i], last[i])
		case 1, 58:
			d := a.vol.dest(dst[i])
			d.icmpSeen += uint64(max(seen[i], 0))
			d.icmpSpan.add(first[i], last[i])
		}
	}
}

// finish flushes the per-second peaks and counts handshakes.
func (a *aggregator) finish() {
	v, r := &a.vol, &a.rel
	for i := range v.dests {
		v.flushPeak(&v.dests[i].udp, int32(i), 0)
		v.flushPeak(&v.dests[i].icmp, int32(i), 1)
	}
	for k, st := range r.handshakes {
		if st&hsSYN != 0 {
			r.countHandshake(k, st&hsDone != 0)
		}
	}
}

// countHandshake counts one connection attempt of k. Those counted before
// the end (the 5-tuple was reused) are also kept by service for the
// connection-flood indicator; the rest are grouped there from the map.
func (r *relationState) countHandshake(k tcpKey, completed bool) {
	d := r.dest(k.dst)
	d.handshakes++
	r.addrs[k.src].handshakesOut++
	if completed {
		d.completed++
	}
}

func (r *relationState) countReused(k tcpKey) {
	ck := connKey{k.src, k.dst, k.dport}
	c := r.conns[ck]
	if c == nil {
		c = &connStat{}
		r.conns[ck] = c
	}
	c.started++
	c.completed++
}

// connections groups the connection attempts of sources that made at
// least min of them by destination and port.
func (r *relationState) connections(min uint64) map[connKey]connStat {
	out := map[connKey]connStat{}
	for k, c := range r.conns {
		if r.addrs[k.src].handshakesOut >= min {
			out[k] = *c
		}
	}
	for k, st := range r.handshakes {
		if st&hsSYN == 0 || r.addrs[k.src].handshakesOut < min {
			continue
		}
		ck := connKey{k.src, k.dst, k.dport}
		c := out[ck]
		c.started++
		if st&hsDone != 0 {
			c.completed++
		}
		out[ck] = c
	}
	return out
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && (a < 0) {
		q--
	}
	return q
}

// runTally follows one run's rows: count, first/last timestamp and the
// per-second timeline.
type runTally struct {
	rows        int64
	first, last int64 // ns
	base        int64 // second of secs[0]
	secs        []secStat
	// labels counts rows per label (interned) and second, for runs whose
	// rows carry labels.
	labels map[labelSec]uint64
}

type labelSec struct {
	label uint32
	sec   int64
}

// secStat is one second of a run: rows, and packets and bytes on the wire
// by protocol (timeClasses).
type secStat struct {
	rows    uint64
	packets [len(timeClasses)]uint64
	bytes   [len(timeClasses)]uint64
}

// timeClasses are the protocols a run's traffic over time is split by.
var timeClasses = [...]string{"TCP", "UDP", "ICMP", "ICMPv6"}

func timeClass(proto int32) int {
	switch proto {
	case 6:
		return 0
	case 17:
		return 1
	case 1:
		return 2
	}
	return 3
}

func (t *runTally) add(ns, sec int64, class int, packets, bytes uint64) {
	if t.rows == 0 {
		t.first, t.last, t.base = ns, ns, sec
	}
	t.rows++
	t.first = min(t.first, ns)
	t.last = max(t.last, ns)
	idx, ok := t.slot(sec)
	if !ok {
		return // a wild timestamp; the run's span says so
	}
	st := &t.secs[idx]
	st.rows++
	st.packets[class] += packets
	st.bytes[class] += bytes
}

func (t *runTally) addLabel(label uint32, sec int64) {
	if t.labels == nil {
		t.labels = map[labelSec]uint64{}
	}
	t.labels[labelSec{label, sec}]++
}

// slot returns the index of second sec, growing the timeline to hold it.
func (t *runTally) slot(sec int64) (int64, bool) {
	idx := sec - t.base
	switch {
	case idx >= 0 && idx < int64(len(t.secs)):
	case idx < 0:
		// Earlier than anything so far: shift right.
		grow := -idx
		if int64(len(t.secs))+grow > maxTimelineSeconds {
			return 0, false
		}
		t.secs = append(make([]secStat, grow), t.secs...)
		t.base = sec
		idx = 0
	default:
		if idx >= maxTimelineSeconds {
			return 0, false
		}
		if idx >= int64(cap(t.secs)) {
			n := make([]secStat, idx+1, max(2*cap(t.secs), int(idx+1)))
			copy(n, t.secs)
			t.secs = n
		}
		t.secs = t.secs[:idx+1]
	}
	return idx, true
}

// maxTimelineSeconds bounds a run's timeline (31 days of seconds).
const maxTimelineSeconds = 31 * 24 * 3600
