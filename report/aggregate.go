package report

// The aggregator sees every packet row once, in batches, and keeps only
// per-address, per-port and per-handshake state: addresses are dense IDs
// (see interner), so most counters are slice increments. Each batch is
// added by two goroutines at once that own disjoint state: addVolume
// (counts, bytes, ports, timelines, UDP/ICMP rates, amplification) and
// addRelations (who talks to whom, probes, TCP handshakes).

const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagACK = 0x10
)

// addr holds what the report needs per address. Most addresses of a
// flood send to one destination and probe at most one port: firstDst and
// firstProbe remember that one, so only addresses with several touch the
// pair and probe sets.
type addr struct {
	// Written by addVolume.
	srcRecords, srcBytes uint64
	dstRecords, dstBytes uint64
	udpOut               uint64
	vol                  int32 // index into aggregator.vols, -1 until needed
	// Written by addRelations.
	synOut, synAckOut    uint64
	rstOut               uint64
	handshakesOut        uint64
	rel                  int32  // index into aggregator.rels, -1 until needed
	firstDst             uint32 // the first destination + 1; 0: none yet
	firstProbe           uint32 // the first probed port | udp<<16, + 1; 0: none yet
	multiDst, multiProbe bool   // it has more than one: see aggregator.pairs / probes
}

// volDest is the traffic towards one destination (addVolume's).
type volDest struct {
	udpIn, udpBytesIn uint64
	icmpIn, icmpErrIn uint64
	icmpEchoIn        uint64
	udp, icmp         peak
	// From flows/: packets seen (recorded or not) of the UDP and ICMP
	// sessions towards this destination and their time span (µs).
	udpSeen, icmpSeen uint64
	udpSpan, icmpSpan span
}

// relDest is who talks to one destination and how its TCP handshakes
// went (addRelations').
type relDest struct {
	synIn, synAckIn       uint64
	handshakes, completed uint64
	sources               uint64 // distinct sources
}

// span is a time interval in µs; zero until something is added.
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
	first, last             int64 // µs (flows) or ns/1000 (packets)
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
	reflectors     uint64
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

type aggregator struct {
	names *interner
	addrs []addr
	vols  []volDest
	rels  []relDest

	total       traffic
	byProto     map[string]*traffic
	byDirection map[uint32]*traffic
	ports       [2][65536]traffic // TCP, UDP by destination port

	tcp struct{ records, syn, synAck, rst, fin uint64 }

	handshakes map[tcpKey]uint8
	hsCache    [1 << hsCacheBits]hsSlot
	secCounts  map[secKey]uint64
	pairs      map[uint64]struct{} // dst<<32 | src, of sources sending to several destinations
	pairCache  pairCache
	probes     map[uint64]struct{} // src<<17 | udp<<16 | port: sources probing several ports
	probeCache pairCache
	ampResp    map[ampKey]*ampStat
	ampReq     map[ampKey]uint64 // bytes requested from a service port
	reflectors map[uint64]struct{}
	reflCache  pairCache

	sessions map[sessKey]*sessAgg  // from packets, for runs without a flows file
	sessTop  *topN[sessRow]        // the largest session instances
	conns    map[connKey]*connStat // handshakes per client and service
}

// connKey is one client's connections to one service.
type connKey struct {
	src, dst uint32
	dport    uint16
}

type connStat struct{ started, completed uint64 }

// sessRow is one session instance (a flows/ row, or a session of a run
// without flows/ added up from its packets).
type sessRow struct {
	k sessKey
	s sessAgg
}

func newAggregator(names *interner, top int) *aggregator {
	a := &aggregator{
		names:       names,
		byProto:     map[string]*traffic{},
		byDirection: map[uint32]*traffic{},
		handshakes:  map[tcpKey]uint8{},
		secCounts:   map[secKey]uint64{},
		pairs:       map[uint64]struct{}{},
		probes:      map[uint64]struct{}{},
		ampResp:     map[ampKey]*ampStat{},
		ampReq:      map[ampKey]uint64{},
		reflectors:  map[uint64]struct{}{},
		sessions:    map[sessKey]*sessAgg{},
		conns:       map[connKey]*connStat{},
	}
	a.sessTop = newTopN(top, a.betterSession)
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

// vol and rel return id's per-destination state, made on first use.
func (a *aggregator) vol(id uint32) *volDest { return lazyEntry(&a.addrs[id].vol, &a.vols) }
func (a *aggregator) rel(id uint32) *relDest { return lazyEntry(&a.addrs[id].rel, &a.rels) }

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

// grow makes room for every interned address.
func (a *aggregator) grow() {
	n := a.names.len()
	if n <= len(a.addrs) {
		return
	}
	if n > cap(a.addrs) { // double: append's gentler growth copies far more in all
		a.addrs = append(make([]addr, 0, max(n, 2*cap(a.addrs), 1024)), a.addrs...)
	}
	for len(a.addrs) < n {
		a.addrs = append(a.addrs, addr{vol: -1, rel: -1})
	}
}

func (a *aggregator) tick(p *peak, d int32, kind uint8, sec int64, n uint64) {
	if p.cur > 0 && p.sec != sec {
		a.flushPeak(p, d, kind)
	}
	p.sec = sec
	p.cur += n
}

func (a *aggregator) flushPeak(p *peak, d int32, kind uint8) {
	if p.cur == 0 {
		return
	}
	k := secKey{d, kind, p.sec}
	v := a.secCounts[k] + p.cur
	a.secCounts[k] = v
	if v > p.max || (v == p.max && p.sec < p.maxAt) {
		p.max, p.maxAt = v, p.sec
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

// add aggregates one batch of packet rows: addRelations on a goroutine of
// its own while addVolume runs on this one. sessions asks for per-session
// aggregation from packets (runs without a flows file).
func (a *aggregator) add(b *batch, run int32, rt *runTally, sessions bool) {
	a.grow()
	done := make(chan struct{})
	go func() {
		a.addRelations(b)
		close(done)
	}()
	a.addVolume(b, run, rt, sessions)
	<-done
}

// addVolume counts records, packets and bytes by protocol, direction,
// address and port, the timeline, UDP and ICMP per destination and second,
// amplification, and sessions from packets.
func (a *aggregator) addVolume(b *batch, run int32, rt *runTally, sessions bool) {
	ts := b.i64[pTsNs]
	dir := b.str[pDirection]
	ver := b.i32[pIPVersion]
	src, dst := b.str[pSrcIP], b.str[pDstIP]
	proto := b.i32[pProtocol]
	sport, dport := b.i32[pSrcPort], b.i32[pDstPort]
	ipLen, gso := b.i32[pIPLen], b.i32[pGSOSegs]
	tcpLen := b.i32[pTCPLen]
	udpLen, icmpType := b.i32[pUDPLen], b.i32[pICMPType]

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

		a.total.add(segs, by)
		rt.add(ts[i], sec)
		// Rows come in runs of one direction and protocol: the map is
		// looked up when they change.
		if dir[i] != lastDir {
			lastDir = dir[i]
			dirT = trafficOf(a.byDirection, lastDir)
		}
		dirT.add(segs, by)
		if ver[i] != lastVer || p != lastProto {
			lastVer, lastProto = ver[i], p
			protoT = trafficOf(a.byProto, protoKey(lastVer, lastProto))
		}
		protoT.add(segs, by)

		as, ad := &a.addrs[s], &a.addrs[d]
		as.srcRecords++
		as.srcBytes += by
		ad.dstRecords++
		ad.dstBytes += by

		sp, dp := sport[i], dport[i]
		switch p {
		case 6:
			a.port(0, dp, by)
		case 17:
			a.port(1, dp, by)
			dd := a.vol(d)
			dd.udpIn += segs
			dd.udpBytesIn += by
			a.tick(&dd.udp, ad.vol, 0, sec, segs)
			as.udpOut += segs
			if sp > 0 && sp < 65536 && isAmpPort[sp] {
				k := ampKey{d, uint16(sp)}
				st := a.ampResp[k]
				if st == nil {
					st = &ampStat{}
					a.ampResp[k] = st
				}
				st.packets += segs
				st.bytes += by
				if r := uint64(s)<<32 | uint64(d); !a.reflCache.seen(r) {
					if _, ok := a.reflectors[r]; !ok {
						a.reflectors[r] = struct{}{}
						st.reflectors++
					}
				}
			}
			if dp > 0 && dp < 65536 && isAmpPort[dp] {
				a.ampReq[ampKey{s, uint16(dp)}] += by
			}
		case 1, 58:
			dd := a.vol(d)
			dd.icmpIn += segs
			if isICMPError(p, icmpType[i]) {
				dd.icmpErrIn += segs
			} else if isEchoRequest(p, icmpType[i]) {
				dd.icmpEchoIn += segs
			}
			a.tick(&dd.icmp, ad.vol, 1, sec, segs)
		}

		if sessions {
			k := sessKey{s, d, uint16(sp), uint16(dp), uint8(p), run}
			sa := a.sessions[k]
			us := floorDiv(ts[i], 1000)
			if sa == nil {
				sa = &sessAgg{first: us, last: us, fromPackets: true}
				a.sessions[k] = sa
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
func (a *aggregator) port(proto int, dp int32, by uint64) {
	if dp >= 0 && dp < 65536 {
		t := &a.ports[proto][dp]
		t.records++
		t.bytes += by
	}
}

// addRelations follows who sends to whom, the ports each source probes
// and the TCP flags and handshakes.
func (a *aggregator) addRelations(b *batch) {
	src, dst := b.str[pSrcIP], b.str[pDstIP]
	proto := b.i32[pProtocol]
	sport, dport := b.i32[pSrcPort], b.i32[pDstPort]
	flags := b.i32[pTCPFlags]
	for i := 0; i < b.rows; i++ {
		s, d, p := src[i], dst[i], proto[i]
		a.pair(s, d)
		sp, dp := sport[i], dport[i]
		switch p {
		case 6:
			a.tcp.records++
			as := &a.addrs[s]
			f := flags[i]
			k := tcpKey{s, d, uint16(sp), uint16(dp)}
			switch {
			case f&(flagSYN|flagACK) == flagSYN:
				a.tcp.syn++
				a.rel(d).synIn++
				as.synOut++
				// A SYN after a completed handshake on the same 5-tuple is
				// a new connection: count the finished one now.
				if a.handshake(k) == hsSYN|hsDone {
					a.countHandshake(k, true)
					a.countReused(k)
				}
				a.setHandshake(k, hsSYN)
				a.probe(s, uint32(uint16(dp)))
			case f&(flagSYN|flagACK) == flagSYN|flagACK:
				a.tcp.synAck++
				as.synAckOut++
				a.rel(d).synAckIn++
			case f&(flagACK|flagRST|flagSYN) == flagACK:
				if a.handshake(k) == hsSYN {
					a.setHandshake(k, hsSYN|hsDone)
				}
			}
			if f&flagRST != 0 {
				a.tcp.rst++
				as.rstOut++
			}
			if f&flagFIN != 0 {
				a.tcp.fin++
			}
		case 17:
			// A probe: towards a lower port than it comes from (replies
			// from a service port to a client's ephemeral port are not).
			if dp < sp {
				a.probe(s, 1<<16|uint32(uint16(dp)))
			}
		}
	}
}

// pair notes that s sent to d, counting d's distinct sources.
func (a *aggregator) pair(s, d uint32) {
	as := &a.addrs[s]
	switch {
	case as.firstDst == d+1:
		return
	case as.firstDst == 0:
		as.firstDst = d + 1
		a.rel(d).sources++
		return
	case !as.multiDst:
		as.multiDst = true
		a.pairs[uint64(as.firstDst-1)<<32|uint64(s)] = struct{}{}
	}
	if pair := uint64(d)<<32 | uint64(s); !a.pairCache.seen(pair) {
		if _, ok := a.pairs[pair]; !ok {
			a.pairs[pair] = struct{}{}
			a.rel(d).sources++
		}
	}
}

// probe notes that s probed port (| udp<<16).
func (a *aggregator) probe(s, port uint32) {
	as := &a.addrs[s]
	switch {
	case as.firstProbe == port+1:
		return
	case as.firstProbe == 0:
		as.firstProbe = port + 1
		return
	case !as.multiProbe:
		as.multiProbe = true
		a.probes[uint64(s)<<17|uint64(as.firstProbe-1)] = struct{}{}
	}
	if k := uint64(s)<<17 | uint64(port); !a.probeCache.seen(k) {
		a.probes[k] = struct{}{}
	}
}

// handshake returns k's state; a direct-mapped cache in front of the map
// answers the many ACKs of a session without hashing into a large map.
func (a *aggregator) handshake(k tcpKey) uint8 {
	slot := &a.hsCache[hsHash(k)]
	if slot.ok && slot.k == k {
		return slot.st
	}
	st := a.handshakes[k]
	*slot = hsSlot{k, st, true}
	return st
}

func (a *aggregator) setHandshake(k tcpKey, st uint8) {
	a.handshakes[k] = st
	a.hsCache[hsHash(k)] = hsSlot{k, st, true}
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

// addFlows offers one batch of flows/ rows (session instances) to the top
// sessions and adds the packets seen towards each destination.
func (a *aggregator) addFlows(b *batch, run int32) {
	a.grow()
	src, dst := b.str[fSrcIP], b.str[fDstIP]
	sport, dport, proto := b.i32[fSrcPort], b.i32[fDstPort], b.i32[fProtocol]
	first, last := b.i64[fFirstTs], b.i64[fLastTs]
	rec, brec := b.i64[fPacketsRecorded], b.i64[fBytesRecorded]
	seen, bseen := b.i64[fPacketsSeen], b.i64[fBytesSeen]
	quota := b.bool[fQuotaLimited]
	for i := 0; i < b.rows; i++ {
		a.sessTop.offer(sessRow{
			sessKey{src[i], dst[i], uint16(sport[i]), uint16(dport[i]), uint8(proto[i]), run},
			sessAgg{first: first[i], last: last[i], recorded: rec[i], bytesRecorded: brec[i], seen: seen[i], bytesSeen: bseen[i], quota: quota[i]},
		})
		switch proto[i] {
		case 17:
			d := a.vol(dst[i])
			d.udpSeen += uint64(max(seen[i], 0))
			d.udpSpan.add(first[i], last[i])
		case 1, 58:
			d := a.vol(dst[i])
			d.icmpSeen += uint64(max(seen[i], 0))
			d.icmpSpan.add(first[i], last[i])
		}
	}
}

// finish flushes the per-second peaks and counts handshakes.
func (a *aggregator) finish() {
	for i := range a.vols {
		a.flushPeak(&a.vols[i].udp, int32(i), 0)
		a.flushPeak(&a.vols[i].icmp, int32(i), 1)
	}
	for k, st := range a.handshakes {
		if st&hsSYN != 0 {
			a.countHandshake(k, st&hsDone != 0)
		}
	}
}

// countHandshake counts one connection attempt of k. Those counted before
// the end (the 5-tuple was reused) are also kept by service for the
// connection-flood indicator; the rest are grouped there from the map.
func (a *aggregator) countHandshake(k tcpKey, completed bool) {
	d := a.rel(k.dst)
	d.handshakes++
	a.addrs[k.src].handshakesOut++
	if completed {
		d.completed++
	}
}

func (a *aggregator) countReused(k tcpKey) {
	ck := connKey{k.src, k.dst, k.dport}
	c := a.conns[ck]
	if c == nil {
		c = &connStat{}
		a.conns[ck] = c
	}
	c.started++
	c.completed++
}

// connections groups the connection attempts of sources that made at
// least min of them by destination and port.
func (a *aggregator) connections(min uint64) map[connKey]connStat {
	out := map[connKey]connStat{}
	for k, c := range a.conns {
		if a.addrs[k.src].handshakesOut >= min {
			out[k] = *c
		}
	}
	for k, st := range a.handshakes {
		if st&hsSYN == 0 || a.addrs[k.src].handshakesOut < min {
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
	base        int64 // second of counts[0]
	counts      []uint64
}

func (t *runTally) add(ns, sec int64) {
	if t.rows == 0 {
		t.first, t.last, t.base = ns, ns, sec
	}
	t.rows++
	t.first = min(t.first, ns)
	t.last = max(t.last, ns)
	idx := sec - t.base
	switch {
	case idx >= 0 && idx < int64(len(t.counts)):
	case idx < 0:
		// Earlier than anything so far: shift right.
		grow := -idx
		if int64(len(t.counts))+grow > maxTimelineSeconds {
			return // a wild timestamp; the run's span says so
		}
		t.counts = append(make([]uint64, grow), t.counts...)
		t.base = sec
		idx = 0
	default:
		if idx >= maxTimelineSeconds {
			return
		}
		if idx >= int64(cap(t.counts)) {
			n := make([]uint64, idx+1, max(2*cap(t.counts), int(idx+1)))
			copy(n, t.counts)
			t.counts = n
		}
		t.counts = t.counts[:idx+1]
	}
	t.counts[idx]++
}

// maxTimelineSeconds bounds a run's timeline (31 days of seconds).
const maxTimelineSeconds = 31 * 24 * 3600
