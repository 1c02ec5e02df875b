package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"

	"github.com/tacap/tacap/dataset"
)

// The traffic model. Each host is a gateway in front of its own servers and
// of two shared virtual IPs (the attack victims), so ingress is towards the
// servers and egress is their answers. Traffic is a set of spawners, each
// starting short-lived sources (a TCP connection, a spoofed SYN, a DNS
// amplification response ...) at Poisson arrival times; an event heap
// merges the sources' packets into time order, as a capture sees them.

const (
	us     = int64(1e3)
	ms     = int64(1e6)
	second = int64(1e9)
)

// kind is the category a row is counted in for the summary.
type kind int

const (
	kOrdinary kind = iota
	kFlood
	kAmplification
	kICMP
	kScan
	nKinds
)

var kindNames = [nKinds]string{"ordinary TCP/UDP", "SYN flood", "UDP amplification", "ICMP/ICMPv6", "port scan"}

// Row shares per category and, for attacks, the window (fractions of the
// capture length) they run in.
const (
	shareOrdinary      = 0.65
	shareFlood         = 0.20
	shareAmplification = 0.07
	shareICMP          = 0.05
	shareScan          = 0.03
)

type window struct{ from, to float64 }

var (
	always      = window{0, 1}
	scanWindow  = window{0.10, 0.18}
	floodWindow = window{0.33, 0.38}
	ampWindow   = window{0.63, 0.77}
)

// TCP flags as in tcp_flags (docs/dataset.md, "packets/").
const (
	fin = 0x01
	syn = 0x02
	rst = 0x04
	psh = 0x08
	ack = 0x10
)

// IPv4 flags+fragment-offset field values.
const (
	dfBit = 0x4000
	mfBit = 0x2000
)

// ---------------------------------------------------------------------------
// Addresses

// world holds every address of the dataset, shared read-only by the hosts.
// Addresses are referred to by index so that session keys are small and the
// text is formatted once.
type world struct {
	text  []string
	v6    []bool
	index map[netip.Addr]uint32 // used while building

	clients4, clients6 []uint32
	routers4, routers6 []uint32
	servers            [][]server // per host
	scanner            uint32
	floodVictim        uint32
	ampVictim          uint32
	spoofed            []uint32
	reflectors         [nAmp][][]uint32 // per service, per host
}

type server struct {
	id   uint32
	v6   bool
	role *role
}

// reserved are the IPv4 ranges random "Internet" addresses avoid.
var reserved = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("198.18.0.0/15"), netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("224.0.0.0/3"),
}

// add registers a; it returns false if a is already known.
func (w *world) add(a netip.Addr) (uint32, bool) {
	if id, ok := w.index[a]; ok {
		return id, false
	}
	id := uint32(len(w.text))
	w.index[a] = id
	w.text = append(w.text, a.String())
	w.v6 = append(w.v6, a.Is6())
	return id, true
}

func (w *world) mustAdd(s string) uint32 {
	id, _ := w.add(netip.MustParseAddr(s))
	return id
}

// addRandom adds n new distinct addresses drawn by draw.
func (w *world) addRandom(n int, draw func() netip.Addr) []uint32 {
	ids := make([]uint32, 0, n)
	for len(ids) < n {
		if id, fresh := w.add(draw()); fresh {
			ids = append(ids, id)
		}
	}
	return ids
}

func internetV4(r *rand.Rand) func() netip.Addr {
	return func() netip.Addr {
		for {
			a := netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())})
			ok := true
			for _, p := range reserved {
				if p.Contains(a) {
					ok = false
					break
				}
			}
			if ok {
				return a
			}
		}
	}
}

// inPrefix draws addresses in p (not its first 256).
func inPrefix(r *rand.Rand, p netip.Prefix) func() netip.Addr {
	return func() netip.Addr {
		b := p.Addr().AsSlice()
		for {
			for i := range b {
				bit := i * 8
				switch {
				case bit >= p.Bits():
					b[i] = byte(r.Uint32())
				case bit+8 > p.Bits():
					keep := byte(0xff << (8 - (p.Bits() - bit)))
					b[i] = b[i]&keep | byte(r.Uint32())&^keep
				}
			}
			a, _ := netip.AddrFromSlice(b)
			if lo := netip.PrefixFrom(p.Addr(), a.BitLen()-8); !lo.Contains(a) {
				return a
			}
		}
	}
}

// newWorld builds the address plan: clients in 198.18.0.0/15 and
// 2001:db8::/32, 100 servers per host (80 IPv4 in 203.0.113.0/24 and
// 192.0.2.0/24, 20 IPv6 in 2001:db8:ffff::/48), two victim VIPs, one
// scanner, DNS/NTP/SNMP reflectors and the spoofed-source pool.
func newWorld(seed uint64, hosts int, spoofed int) (*world, error) {
	if hosts > 2 {
		// The server ranges hold 2 × 80 IPv4 servers.
		return nil, fmt.Errorf("at most 2 hosts")
	}
	r := rand.New(rand.NewPCG(seed, 0x776f726c64))
	w := &world{index: map[netip.Addr]uint32{}}
	w.floodVictim = w.mustAdd("192.0.2.80")
	w.ampVictim = w.mustAdd("192.0.2.53")
	w.scanner = w.mustAdd("198.51.100.77")
	for i := 1; i <= 8; i++ {
		w.routers4 = append(w.routers4, w.mustAdd(fmt.Sprintf("198.18.0.%d", i)))
	}
	for i := 1; i <= 4; i++ {
		w.routers6 = append(w.routers6, w.mustAdd(fmt.Sprintf("2001:db8::%d", i)))
	}
	w.servers = make([][]server, hosts)
	for h := range hosts {
		for i := range 100 {
			var a string
			switch {
			case i < 40:
				a = fmt.Sprintf("203.0.113.%d", 1+h*40+i)
			case i < 80:
				a = fmt.Sprintf("192.0.2.%d", 101+h*40+i-40)
			default:
				a = fmt.Sprintf("2001:db8:ffff::%x", 0x100*(h+1)+i-80)
			}
			id := w.mustAdd(a)
			w.servers[h] = append(w.servers[h], server{id: id, v6: w.v6[id], role: pickRole(r)})
		}
	}
	w.clients4 = w.addRandom(3800, inPrefix(r, netip.MustParsePrefix("198.18.0.0/15")))
	v6 := inPrefix(r, netip.MustParsePrefix("2001:db8::/32"))
	w.clients6 = w.addRandom(1200, func() netip.Addr {
		for {
			a := v6()
			if b := a.As16(); b[4] != 0xff && b[4] != 0 { // not the servers' or routers' /48
				return a
			}
		}
	})
	internet := internetV4(r)
	for s, n := range [nAmp]int{ampDNS: 3000, ampNTP: 1500, ampSNMP: 800} {
		w.reflectors[s] = make([][]uint32, hosts)
		for i, id := range w.addRandom(n, internet) {
			w.reflectors[s][i%hosts] = append(w.reflectors[s][i%hosts], id)
		}
	}
	w.spoofed = w.addRandom(spoofed, internet)
	w.index = nil
	return w, nil
}

// mix64 is splitmix64's finaliser: fixed per-address traits from the index.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// ttlOf is the TTL an end host's packets arrive with: 64 (Linux) or 128
// (Windows) minus 3–19 hops.
func ttlOf(id uint32) int32 {
	h := mix64(uint64(id))
	return initialTTL(id) - 3 - int32(h>>8%17)
}

func initialTTL(id uint32) int32 {
	if mix64(uint64(id))&3 == 0 {
		return 128
	}
	return 64
}

// rttOf is a client's round-trip time seen from the gateway: 2–120 ms.
func rttOf(id uint32) int64 { return 2*ms + int64(mix64(uint64(id))>>20%uint64(118*ms)) }

// ---------------------------------------------------------------------------
// Services

type profile int

const (
	bulk        profile = iota // downloads: web, mail
	interactive                // ssh, databases
	shortTCP                   // DNS over TCP
	quic                       // HTTP/3
	dnsQuery                   // one query, one response
	ntpQuery
)

type service struct {
	proto  uint8
	port   uint16
	prof   profile
	weight float64
}

type role struct {
	weight   float64
	services []service
	open     map[uint16]bool // TCP ports answering a scan with SYN-ACK
}

var roles = []*role{
	{0.60, []service{{6, 443, bulk, 0.70}, {6, 80, bulk, 0.18}, {17, 443, quic, 0.12}}, ports(22, 80, 443)},
	{0.08, []service{{17, 53, dnsQuery, 0.92}, {6, 53, shortTCP, 0.08}}, ports(22, 53)},
	{0.10, []service{{6, 22, interactive, 1}}, ports(22)},
	{0.08, []service{{6, 25, bulk, 0.4}, {6, 587, bulk, 0.2}, {6, 993, bulk, 0.4}}, ports(22, 25, 587, 993)},
	{0.10, []service{{6, 5432, interactive, 0.5}, {6, 3306, interactive, 0.5}}, ports(22, 3306, 5432)},
	{0.04, []service{{17, 123, ntpQuery, 1}}, ports(22)},
}

func ports(p ...uint16) map[uint16]bool {
	m := map[uint16]bool{}
	for _, x := range p {
		m[x] = true
	}
	return m
}

func pickRole(r *rand.Rand) *role {
	x := r.Float64()
	for _, ro := range roles {
		if x -= ro.weight; x < 0 {
			return ro
		}
	}
	return roles[0]
}

func (ro *role) pick(r *rand.Rand) service {
	x := r.Float64()
	for _, s := range ro.services {
		if x -= s.weight; x < 0 {
			return s
		}
	}
	return ro.services[0]
}

// ---------------------------------------------------------------------------
// Sessions and the event heap

type sessionKey struct {
	src, dst     uint32
	sport, dport uint16
	proto        uint8
}

// sessionAcc is one session of the sessions table. Sources of the same 5-tuple
// share it, as packets of one session in the kernel's table would.
type sessionAcc struct {
	key         sessionKey
	first, last int64 // ns
	pkts, bytes int64
}

// source produces the packets of one connection, response or probe.
type source interface {
	// next is called at t, the time it last asked for. It fills row and
	// returns true when it has a packet at t, and returns the time it
	// wants next (≥ t), or a negative time when it is done.
	next(g *hostGen, t int64, row *dataset.Packet) (bool, int64)
}

type event struct {
	t   int64
	seq uint64 // ties in time: first scheduled first, so runs are deterministic
	src source
}

type eventHeap struct {
	ev  []event
	seq uint64
}

func (h *eventHeap) less(i, j int) bool {
	a, b := &h.ev[i], &h.ev[j]
	return a.t < b.t || a.t == b.t && a.seq < b.seq
}

func (h *eventHeap) push(t int64, s source) {
	h.seq++
	h.ev = append(h.ev, event{t, h.seq, s})
	for i := len(h.ev) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h.ev[i], h.ev[p] = h.ev[p], h.ev[i]
		i = p
	}
}

// retime gives the first event a new time, or removes it when t < 0.
func (h *eventHeap) retime(t int64) {
	if t < 0 {
		n := len(h.ev) - 1
		h.ev[0] = h.ev[n]
		h.ev[n] = event{}
		h.ev = h.ev[:n]
	} else {
		h.seq++
		h.ev[0].t, h.ev[0].seq = t, h.seq
	}
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < len(h.ev) && h.less(l, m) {
			m = l
		}
		if l+1 < len(h.ev) && h.less(l+1, m) {
			m = l + 1
		}
		if m == i {
			return
		}
		h.ev[i], h.ev[m] = h.ev[m], h.ev[i]
		i = m
	}
}

// ---------------------------------------------------------------------------
// One host's generator

type hostGen struct {
	w        *world
	h        int
	r        *rand.Rand
	heap     eventHeap
	pending  []event // sources started by a spawner, scheduled after it
	sessions map[sessionKey]*sessionAcc
	order    []*sessionAcc // by first packet
	counts   [nKinds]int64
	eph      []uint16 // next ephemeral port per address (0: none used yet)
	ampPort  [nAmp][]uint16

	servers4, servers6 []server
	popular            []int // server indices, most popular first
	serverPick         *rand.Zipf
	client4, client6   *rand.Zipf

	// The port scan walks its targets' ports in one random order.
	scanPerm  []int
	scanNext  int
	scanSport uint16
}

func newHostGen(w *world, seed uint64, h int) *hostGen {
	r := rand.New(rand.NewPCG(seed, uint64(h)+1))
	g := &hostGen{w: w, h: h, r: r, sessions: map[sessionKey]*sessionAcc{}, eph: make([]uint16, len(w.text))}
	for _, s := range w.servers[h] {
		if s.v6 {
			g.servers6 = append(g.servers6, s)
		} else {
			g.servers4 = append(g.servers4, s)
		}
	}
	for s := range nAmp {
		g.ampPort[s] = make([]uint16, len(w.reflectors[s][h]))
	}
	// A few servers and clients carry most of the traffic.
	g.popular = r.Perm(len(w.servers[h]))
	g.serverPick = rand.NewZipf(r, 1.2, 2, uint64(len(w.servers[h])-1))
	g.client4 = rand.NewZipf(r, 1.1, 20, uint64(len(w.clients4)-1))
	g.client6 = rand.NewZipf(r, 1.1, 20, uint64(len(w.clients6)-1))
	return g
}

// session returns the session of a 5-tuple, creating it.
func (g *hostGen) session(src, dst uint32, sport, dport uint16, proto uint8) *sessionAcc {
	k := sessionKey{src, dst, sport, dport, proto}
	f := g.sessions[k]
	if f == nil {
		f = &sessionAcc{key: k}
		g.sessions[k] = f
	}
	return f
}

// pkt fills the fields every row has and accounts the packet to its
// session; callers set the L4 fields afterwards.
func (g *hostGen) pkt(row *dataset.Packet, t int64, f *sessionAcc, ingress bool, ipLen, ttl, frag int32, k kind) {
	dir, ver := "egress", int32(4)
	if ingress {
		dir = "ingress"
	}
	if g.w.v6[f.key.src] {
		ver = 6
	}
	*row = dataset.Packet{
		Ts: t / 1000, TsNs: t, Iface: "eth0", Direction: dir, IPVersion: ver,
		SrcIP: g.w.text[f.key.src], DstIP: g.w.text[f.key.dst], Protocol: int32(f.key.proto),
		SrcPort: int32(f.key.sport), DstPort: int32(f.key.dport),
		IPLen: ipLen, GSOSegs: 1, IPFlagsFrag: frag, TTL: ttl,
	}
	if f.pkts == 0 {
		f.first = t
		g.order = append(g.order, f)
	}
	f.last = t
	f.pkts++
	f.bytes += int64(ipLen)
	g.counts[k]++
}

func (g *hostGen) ephemeral(id uint32) uint16 {
	p := g.eph[id]
	if p == 0 { // Linux's ip_local_port_range: 32768–60999
		p = uint16(32768 + g.r.IntN(28232))
	}
	next := p + 1 + uint16(g.r.IntN(3))
	if next > 60999 {
		next = 32768
	}
	g.eph[id] = next
	return p
}

func (g *hostGen) pickServer() server { return g.w.servers[g.h][g.popular[g.serverPick.Uint64()]] }

func (g *hostGen) pickClient(v6 bool) uint32 {
	if v6 {
		return g.w.clients6[g.client6.Uint64()]
	}
	return g.w.clients4[g.client4.Uint64()]
}

func (g *hostGen) between(lo, hi int64) int64 { return lo + g.r.Int64N(hi-lo+1) }

func (g *hostGen) exp(mean float64) int64 { return int64(g.r.ExpFloat64() * mean) }

// lognormal draws around median with spread sigma, clipped to [lo, hi].
func (g *hostGen) lognormal(median, sigma, lo, hi float64) float64 {
	return min(max(median*math.Exp(sigma*g.r.NormFloat64()), lo), hi)
}

func ipHeader(v6 bool) int32 {
	if v6 {
		return 40
	}
	return 20
}

// ---------------------------------------------------------------------------
// Spawners

// spawner starts sources: Poisson arrivals at rate per ns, or one every
// 1/rate ns when fixed, until end (ns; 0: never).
type spawner struct {
	start func(g *hostGen, t int64) source
	rate  float64
	fixed bool
	end   int64
}

func (s *spawner) next(g *hostGen, t int64, _ *dataset.Packet) (bool, int64) {
	g.pending = append(g.pending, event{t: t, src: s.start(g, t)})
	gap := 1 / s.rate
	if !s.fixed {
		gap *= g.r.ExpFloat64()
	}
	nt := t + max(int64(gap), 1)
	if s.end > 0 && nt >= s.end {
		return false, -1
	}
	return false, nt
}

// meanPackets runs n sources of a kind to their end on a scratch generator
// and returns their mean packet count, which sets the spawn rate that
// gives a category its share of rows.
func meanPackets(w *world, seed uint64, start func(*hostGen, int64) source, n int) float64 {
	g := newHostGen(w, seed^0xca11b, 0)
	var row dataset.Packet
	var total int
	for range n {
		src := start(g, 0)
		for t := int64(0); t >= 0; {
			var got bool
			got, t = src.next(g, t, &row)
			if got {
				total++
			}
		}
	}
	return float64(total) / float64(n)
}

// ---------------------------------------------------------------------------
// Ordinary TCP/UDP: a connection or exchange between a client and a server,
// both directions (two sessions).

type conv struct {
	prof      profile
	v6        bool
	f         [2]*sessionAcc // client→server (ingress), server→client (egress)
	n, i      int
	gap       float64 // mean gap between data packets, ns
	rtt       int64
	seq       [2]uint32
	win       [2]int32
	ttl       [2]int32
	mss       int32
	reset     bool // ends with the server's RST instead of a FIN exchange
	windows   bool // the client runs Windows (TTL 128)
	respDelay int64
}

func startOrdinary(g *hostGen, t int64) source {
	srv := g.pickServer()
	cli := g.pickClient(srv.v6)
	svc := srv.role.pick(g.r)
	cport := g.ephemeral(cli)
	if svc.prof == ntpQuery && g.r.IntN(3) == 0 {
		cport = 123 // ntpd uses 123 on both sides
	}
	c := &conv{prof: svc.prof, v6: srv.v6, rtt: rttOf(cli), windows: initialTTL(cli) == 128}
	c.f[0] = g.session(cli, srv.id, cport, svc.port, svc.proto)
	c.f[1] = g.session(srv.id, cli, svc.port, cport, svc.proto)
	c.ttl = [2]int32{ttlOf(cli), 64}
	c.seq = [2]uint32{g.r.Uint32(), g.r.Uint32()}
	c.win = [2]int32{int32(500 + g.r.IntN(1550)), int32(501 + g.r.IntN(16))}
	c.mss = 1448 // 1460 minus the timestamps option
	if c.v6 {
		c.mss = 1428
	}
	var dur float64
	switch svc.prof {
	case bulk:
		c.n = int(g.lognormal(120, 1.1, 7, 20000))
		dur = g.lognormal(5e9, 1.3, 50e6, 900e9)
	case interactive:
		c.n = int(g.lognormal(150, 0.9, 7, 20000))
		dur = g.lognormal(60e9, 1.0, 1e9, 1800e9)
	case shortTCP:
		c.n = 8 + g.r.IntN(7)
		dur = float64(g.between(20*ms, 200*ms))
	case quic:
		c.n = int(g.lognormal(100, 1.1, 4, 20000))
		dur = g.lognormal(5e9, 1.3, 50e6, 900e9)
	case dnsQuery:
		c.n = 2
		if g.r.IntN(50) == 0 {
			c.n = 1 // no answer
		}
		c.respDelay = g.between(200*us, 40*ms)
	case ntpQuery:
		c.n = 2
		c.respDelay = g.between(50*us, 2*ms)
	}
	c.reset = c.prof != quic && g.r.IntN(10) == 0
	c.gap = max(dur, float64(c.n)*40e3) / float64(c.n)
	return c
}

func (c *conv) next(g *hostGen, t int64, row *dataset.Packet) (bool, int64) {
	switch c.prof {
	case dnsQuery, ntpQuery:
		c.request(g, t, row)
	case quic:
		c.quic(g, t, row)
	default:
		c.tcp(g, t, row)
	}
	c.i++
	if c.i >= c.n {
		return true, -1
	}
	var gap int64
	switch {
	case c.prof == dnsQuery || c.prof == ntpQuery:
		gap = c.respDelay
	case c.i == 1: // the server answers at once (the gateway is next to it) ...
		gap = g.between(20*us, 600*us)
	case c.i == 2: // ... and the client one round trip later
		gap = c.rtt
	case c.i == 3 && c.prof != quic:
		gap = g.between(5*us, 50*us)
	default:
		gap = 1*us + g.exp(c.gap)
	}
	return true, t + gap
}

// tcp: handshake, request, data (downloads are mostly server segments,
// some of them TSO super-packets), then FIN exchange or the server's RST.
func (c *conv) tcp(g *hostGen, t int64, row *dataset.Packet) {
	d, flags, payload, optLen, segs := 0, ack, int32(0), int32(12), int32(1)
	i, n := c.i, c.n
	switch {
	case i == 0:
		flags, optLen = syn, 20
	case i == 1:
		d, flags, optLen = 1, syn|ack, 20
	case i == 2:
	case i == 3:
		flags, payload = psh|ack, int32(200+g.r.IntN(600))
	case c.reset && i == n-1:
		d, flags, optLen = 1, rst|ack, 0
	case !c.reset && i == n-3:
		flags = fin | ack
	case !c.reset && i == n-2:
		d, flags = 1, fin|ack
	case !c.reset && i == n-1:
	case c.prof == bulk:
		if g.r.IntN(100) < 62 {
			d, payload = 1, c.mss
			if g.r.IntN(100) < 15 {
				payload = int32(1 + g.r.IntN(int(c.mss)))
			}
			if g.r.IntN(100) < 15 { // TSO: one record, several wire segments
				segs = int32(2 + g.r.IntN(7))
				payload = segs * c.mss
			}
			if g.r.IntN(4) == 0 {
				flags = psh | ack
			}
		} else if g.r.IntN(10) == 0 {
			flags, payload = psh|ack, int32(30+g.r.IntN(270))
		}
	default: // interactive, DNS over TCP
		d = g.r.IntN(2)
		if g.r.IntN(10) >= 4 {
			flags, payload = psh|ack, int32(20+g.r.IntN(580))
		}
	}
	ipLen := ipHeader(c.v6) + 20 + optLen + payload
	frag := int32(dfBit)
	if c.v6 {
		frag = 0
	}
	g.pkt(row, t, c.f[d], d == 0, ipLen, c.ttl[d], frag, kOrdinary)
	row.GSOSegs = segs
	row.TCPPayloadLen = payload
	row.TCPFlags = int32(flags)
	row.TCPSeq = int64(c.seq[d])
	if flags&ack != 0 {
		row.TCPAck = int64(c.seq[1-d])
	}
	switch {
	case flags&rst != 0:
		row.TCPWindow = 0
	case flags&syn != 0 && d == 0:
		row.TCPWindow = 64240
		if c.windows {
			row.TCPWindow = 65535
		}
	case flags&syn != 0:
		row.TCPWindow = 65160
	default:
		row.TCPWindow = c.win[d]
	}
	c.seq[d] += uint32(payload)
	if flags&(syn|fin) != 0 {
		c.seq[d]++
	}
}

// quic: client Initial, server flight, then mostly server data and short
// client acknowledgements, all UDP.
func (c *conv) quic(g *hostGen, t int64, row *dataset.Packet) {
	d, payload := 0, int32(1200)
	switch {
	case c.i == 0:
	case c.i == 1:
		d = 1
	case g.r.IntN(100) < 65:
		d, payload = 1, int32(1200+g.r.IntN(151))
	default:
		payload = int32(25 + g.r.IntN(36))
	}
	frag := int32(dfBit)
	if c.v6 {
		frag = 0
	}
	g.pkt(row, t, c.f[d], d == 0, ipHeader(c.v6)+8+payload, c.ttl[d], frag, kOrdinary)
	row.UDPPayloadLen = payload
}

// request: a DNS or NTP query and its answer.
func (c *conv) request(g *hostGen, t int64, row *dataset.Packet) {
	d := c.i
	payload := int32(48) // NTP
	if c.prof == dnsQuery {
		payload = int32(28 + g.r.IntN(33))
		if d == 1 {
			payload = int32(45 + g.r.IntN(456))
		}
	}
	g.pkt(row, t, c.f[d], d == 0, ipHeader(c.v6)+8+payload, c.ttl[d], 0, kOrdinary)
	row.UDPPayloadLen = payload
}

// ---------------------------------------------------------------------------
// SYN flood: one SYN from a spoofed source to the victim's port 80, some
// retransmitted once; the victim answers a quarter of them.

type floodSYN struct {
	f, back  *sessionAcc
	seq      uint32
	ttl, win int32
	ipLen    int32
	frag     int32
	steps    [3]uint8 // 0: SYN, 1: SYN-ACK
	at       [3]int64
	n, i     int
}

func startFlood(g *hostGen, t int64) source {
	src := g.w.spoofed[g.r.IntN(len(g.w.spoofed))] // spoofing tools draw sources uniformly
	sport := uint16(1024 + g.r.IntN(64512))
	s := &floodSYN{
		f:   g.session(src, g.w.floodVictim, sport, 80, 6),
		seq: g.r.Uint32(), ttl: int32(32 + g.r.IntN(224)),
		win: [...]int32{512, 1024, 8192, 64240, 65535}[g.r.IntN(5)], ipLen: 40,
	}
	if g.r.IntN(10) < 3 { // tools that send TCP options
		s.ipLen = 60
	}
	if g.r.IntN(10) < 3 {
		s.frag = dfBit
	}
	s.at[0], s.n = t, 1
	if g.r.IntN(4) == 0 {
		s.back = g.session(g.w.floodVictim, src, 80, sport, 6)
		s.steps[s.n], s.at[s.n] = 1, t+g.between(10*us, 300*us)
		s.n++
	}
	if g.r.IntN(10) < 3 {
		s.steps[s.n], s.at[s.n] = 0, t+g.between(900*ms, 3100*ms)
		s.n++
	}
	return s
}

func (s *floodSYN) next(g *hostGen, t int64, row *dataset.Packet) (bool, int64) {
	if s.steps[s.i] == 0 {
		g.pkt(row, t, s.f, true, s.ipLen, s.ttl, s.frag, kFlood)
		row.TCPFlags, row.TCPSeq, row.TCPWindow = syn, int64(s.seq), s.win
	} else {
		g.pkt(row, t, s.back, false, 44, 64, dfBit, kFlood) // SYN cookie: MSS option only
		row.TCPFlags, row.TCPSeq, row.TCPAck, row.TCPWindow = syn|ack, int64(g.r.Uint32()), int64(s.seq+1), 64240
	}
	s.i++
	if s.i == s.n {
		return true, -1
	}
	return true, s.at[s.i]
}

// ---------------------------------------------------------------------------
// UDP amplification: responses from reflectors (DNS, NTP, SNMP source
// ports) to the victim. Large DNS answers arrive as IPv4 fragments; the
// victim sometimes answers with ICMP port unreachable.

type ampService int

const (
	ampDNS ampService = iota
	ampNTP
	ampSNMP
	nAmp
)

// ampShare splits the amplification rows between the services.
var ampShare = [nAmp]float64{ampDNS: 0.45, ampNTP: 0.35, ampSNMP: 0.20}

type ampResponse struct {
	svc      ampService
	f, frags *sessionAcc
	icmp     *sessionAcc // victim → reflector, when it answers
	ttl      int32
	udpLen   int32 // UDP length field − 8
	n, i     int   // packets, the ICMP answer included
	first    int32 // ip_len of the first packet
}

func startAmp(svc ampService) func(*hostGen, int64) source {
	sport := [nAmp]uint16{53, 123, 161}[svc]
	return func(g *hostGen, t int64) source {
		refl := g.w.reflectors[svc][g.h]
		k := g.r.IntN(len(refl))
		// The attacker spoofs requests from a port it changes now and then.
		if g.ampPort[svc][k] == 0 || g.r.IntN(5) == 0 {
			g.ampPort[svc][k] = uint16(1024 + g.r.IntN(64512))
		}
		src, victim := refl[k], g.w.ampVictim
		a := &ampResponse{svc: svc, f: g.session(src, victim, sport, g.ampPort[svc][k], 17),
			ttl: []int32{64, 128, 255}[mix64(uint64(src))%3] - int32(8+mix64(uint64(src))>>8%18)}
		switch svc {
		case ampDNS: // ANY answers: 1.2–4 kB
			a.udpLen = int32(1200 + g.r.IntN(2897))
			a.n = int(8+a.udpLen+1479) / 1480
			if a.n > 1 {
				a.frags = g.session(src, victim, 0, 0, 17)
			}
		case ampNTP: // monlist: up to 100 packets of 6 entries
			a.udpLen, a.n = 440, 10+g.r.IntN(91)
		case ampSNMP: // GetBulk answers
			a.udpLen, a.n = int32(1000+g.r.IntN(451)), 1
		}
		a.first = min(1500, 28+a.udpLen)
		if g.r.IntN(100) < 3 { // ICMP errors are rate-limited
			a.icmp = g.session(victim, src, 0, 0, 1)
			a.n++
		}
		return a
	}
}

func (a *ampResponse) next(g *hostGen, t int64, row *dataset.Packet) (bool, int64) {
	switch {
	case a.icmp != nil && a.i == a.n-1:
		// Port unreachable quotes as much of the packet as fits in 576 bytes.
		g.pkt(row, t, a.icmp, false, min(576, 28+a.first), 64, 0, kICMP)
		row.ICMPType, row.ICMPCode = 3, 3
	case a.svc == ampDNS && a.i > 0: // a non-first fragment: no L4 fields
		off := int32(a.i) * 1480
		rest := 8 + a.udpLen - off
		frag := off / 8
		if rest > 1480 {
			frag |= mfBit
		}
		g.pkt(row, t, a.frags, true, 20+min(rest, 1480), a.ttl, frag, kAmplification)
	default:
		frag := int32(0)
		if a.svc == ampDNS && 8+a.udpLen > 1480 {
			frag = mfBit
		}
		g.pkt(row, t, a.f, true, a.first, a.ttl, frag, kAmplification)
		row.UDPPayloadLen = a.udpLen
	}
	a.i++
	if a.i == a.n {
		return true, -1
	}
	return true, t + g.between(5*us, 200*us)
}

// ---------------------------------------------------------------------------
// ICMP: clients pinging servers, and error streams (unreachable, fragmentation
// needed / packet too big, time exceeded) from routers and clients.

type ping struct {
	req, rep *sessionAcc
	v6       bool
	ipLen    int32
	ttl      int32
	frag     int32
	n, i     int // requests and replies
}

func startPing(g *hostGen, t int64) source {
	srv := g.pickServer()
	cli := g.pickClient(srv.v6)
	proto := uint8(1)
	if srv.v6 {
		proto = 58
	}
	p := &ping{req: g.session(cli, srv.id, 0, 0, proto), rep: g.session(srv.id, cli, 0, 0, proto),
		v6: srv.v6, ttl: ttlOf(cli), n: 2 * (3 + g.r.IntN(28))}
	// Linux pings carry 56 data bytes with DF, Windows 32 without.
	windows := initialTTL(cli) == 128
	switch {
	case srv.v6 && windows:
		p.ipLen = 80
	case srv.v6:
		p.ipLen = 104
	case windows:
		p.ipLen = 60
	default:
		p.ipLen, p.frag = 84, dfBit
	}
	return p
}

func (p *ping) next(g *hostGen, t int64, row *dataset.Packet) (bool, int64) {
	reply := p.i%2 == 1
	if !reply {
		g.pkt(row, t, p.req, true, p.ipLen, p.ttl, p.frag, kICMP)
		row.ICMPType = 8
		if p.v6 {
			row.ICMPType = 128
		}
	} else {
		g.pkt(row, t, p.rep, false, p.ipLen, 64, 0, kICMP)
		if p.v6 {
			row.ICMPType = 129
		}
	}
	p.i++
	if p.i == p.n {
		return true, -1
	}
	if reply {
		return true, t + second + g.between(-2*ms, 2*ms)
	}
	return true, t + g.between(20*us, 200*us)
}

type icmpError struct {
	f          *sessionAcc
	typ, code  int32
	ipLen, ttl int32
	n, i       int
	meanGap    float64
}

// icmpErrors: type, code, whether a router (else an end host) sends it, and
// weight; IPv4 then IPv6.
var icmpErrors = [2][]struct {
	typ, code int32
	router    bool
	weight    float64
}{
	{{3, 1, true, 0.20}, {3, 3, false, 0.30}, {3, 4, true, 0.15}, {11, 0, true, 0.25}, {3, 13, true, 0.10}},
	{{1, 4, false, 0.35}, {1, 3, true, 0.20}, {2, 0, true, 0.20}, {3, 0, true, 0.25}},
}

func startICMPError(g *hostGen, t int64) source {
	srv := g.pickServer()
	v := 0
	if srv.v6 {
		v = 1
	}
	kinds := icmpErrors[v]
	x, c := g.r.Float64(), kinds[0]
	for _, k := range kinds {
		if x -= k.weight; x < 0 {
			c = k
			break
		}
	}
	var src uint32
	var ttl int32
	switch {
	case c.router && srv.v6:
		src, ttl = g.w.routers6[g.r.IntN(len(g.w.routers6))], 255-int32(g.r.IntN(4))
	case c.router:
		src, ttl = g.w.routers4[g.r.IntN(len(g.w.routers4))], 255-int32(g.r.IntN(4))
	default:
		src = g.pickClient(srv.v6)
		ttl = ttlOf(src)
	}
	e := &icmpError{typ: c.typ, code: c.code, ttl: ttl, n: 1 + g.r.IntN(12), meanGap: 5e9}
	proto := uint8(1)
	switch {
	case srv.v6 && c.typ == 2: // packet too big: as much as fits in 1280
		proto, e.ipLen = 58, 1280
	case srv.v6:
		proto, e.ipLen = 58, 48+int32(48+g.r.IntN(200))
	case c.router && g.r.IntN(2) == 0: // RFC 792 style: IP header + 8 bytes
		e.ipLen = 56
	default: // RFC 1812 style: up to 576 bytes
		e.ipLen = 28 + int32(40+g.r.IntN(509))
	}
	e.f = g.session(src, srv.id, 0, 0, proto)
	return e
}

func (e *icmpError) next(g *hostGen, t int64, row *dataset.Packet) (bool, int64) {
	g.pkt(row, t, e.f, true, e.ipLen, e.ttl, 0, kICMP)
	row.ICMPType, row.ICMPCode = e.typ, e.code
	e.i++
	if e.i == e.n {
		return true, -1
	}
	return true, t + 1*ms + g.exp(e.meanGap)
}

// ---------------------------------------------------------------------------
// Port scan: one source SYN-probes every port 1–65535 of the host's IPv4
// servers in turn, in a random order; closed ports answer RST-ACK, open
// ones SYN-ACK (then the scanner resets), a few stay silent.

type probe struct {
	f, back *sessionAcc
	seq     uint32
	open    bool
	rtt     int64
	n, i    int
}

func startProbe(g *hostGen, t int64) source {
	if g.scanPerm == nil {
		g.scanPerm = g.r.Perm(65535)
	}
	k := g.scanNext
	g.scanNext++
	port := uint16(g.scanPerm[k%65535] + 1)
	if k%65535 == 0 { // nmap keeps one source port per scan
		g.scanSport = uint16(30000 + g.r.IntN(30000))
	}
	srv := g.servers4[k/65535%len(g.servers4)]
	p := &probe{
		f: g.session(g.w.scanner, srv.id, g.scanSport, port, 6), seq: g.r.Uint32(),
		open: srv.role.open[port], rtt: g.between(30*us, 400*us), n: 2,
	}
	switch {
	case p.open:
		p.n = 3
	case g.r.IntN(100) < 3: // filtered
		p.n = 1
	}
	if p.n > 1 {
		p.back = g.session(srv.id, g.w.scanner, port, g.scanSport, 6)
	}
	return p
}

func (p *probe) next(g *hostGen, t int64, row *dataset.Packet) (bool, int64) {
	switch p.i {
	case 0: // nmap's SYN: MSS option only, window 1024, no DF
		g.pkt(row, t, p.f, true, 44, int32(37+g.r.IntN(23)), 0, kScan)
		row.TCPFlags, row.TCPSeq, row.TCPWindow = syn, int64(p.seq), 1024
	case 1:
		if p.open {
			g.pkt(row, t, p.back, false, 44, 64, dfBit, kScan)
			row.TCPFlags, row.TCPSeq, row.TCPAck, row.TCPWindow = syn|ack, int64(g.r.Uint32()), int64(p.seq+1), 64240
		} else {
			g.pkt(row, t, p.back, false, 40, 64, dfBit, kScan)
			row.TCPFlags, row.TCPAck = rst|ack, int64(p.seq+1)
		}
	case 2:
		g.pkt(row, t, p.f, true, 40, int32(37+g.r.IntN(23)), 0, kScan)
		row.TCPFlags, row.TCPSeq = rst, int64(p.seq+1)
	}
	p.i++
	if p.i == p.n {
		return true, -1
	}
	return true, t + p.rtt
}

// ---------------------------------------------------------------------------
// Running a host

// plan schedules the spawners of one host for quota rows over dur ns from
// t0, each category's rate set from its mean packets per source.
func (g *hostGen) plan(seed uint64, t0, dur int64, quota int64) {
	type cat struct {
		start func(*hostGen, int64) source
		share float64
		win   window
		fixed bool
		end   bool // stops at the window's end (ordinary traffic goes on until the quota is met)
	}
	cats := []cat{
		{startOrdinary, shareOrdinary, always, false, false},
		{startPing, shareICMP * 0.7, always, false, false},
		{startICMPError, shareICMP * 0.3, always, false, false},
		{startFlood, shareFlood, floodWindow, false, true},
		{startProbe, shareScan, scanWindow, true, true},
	}
	for s := range nAmp {
		cats = append(cats, cat{startAmp(s), shareAmplification * ampShare[s], ampWindow, false, true})
	}
	for _, c := range cats {
		samples := 4000
		if c.fixed {
			samples = 65535 // the probe sequence: open ports come round once per target
		}
		mean := meanPackets(g.w, seed, c.start, samples)
		from := t0 + int64(c.win.from*float64(dur))
		length := (c.win.to - c.win.from) * float64(dur)
		sp := &spawner{start: c.start, fixed: c.fixed, rate: c.share * float64(quota) / mean / length}
		if c.end {
			sp.end = t0 + int64(c.win.to*float64(dur))
		}
		g.heap.push(from, sp)
	}
}

// run emits quota rows in time order, in batches taken from free and handed
// to full.
func (g *hostGen) run(quota int64, full chan<- []dataset.Packet, free <-chan []dataset.Packet) error {
	batch := <-free
	for n := int64(0); n < quota; {
		if len(g.heap.ev) == 0 {
			return fmt.Errorf("traffic ran out after %d rows", n)
		}
		e := &g.heap.ev[0]
		batch = batch[:len(batch)+1]
		got, t := e.src.next(g, e.t, &batch[len(batch)-1])
		if t >= 0 && t < e.t {
			t = e.t
		}
		g.heap.retime(t)
		for _, p := range g.pending {
			g.heap.push(p.t, p.src)
		}
		g.pending = g.pending[:0]
		if !got {
			batch = batch[:len(batch)-1]
			continue
		}
		n++
		if len(batch) == cap(batch) {
			full <- batch
			batch = <-free
		}
	}
	if len(batch) > 0 {
		full <- batch
	}
	return nil
}

// sessionRows is the sessions table of run runID: one row per session, by
// first packet, as tacap writes it (no quota, so seen = recorded).
func (g *hostGen) sessionRows(runID string) []dataset.Session {
	out := make([]dataset.Session, len(g.order))
	for i, f := range g.order {
		k := f.key
		out[i] = dataset.Session{
			RunID: runID, SrcIP: g.w.text[k.src], DstIP: g.w.text[k.dst], SrcPort: int32(k.sport), DstPort: int32(k.dport),
			Protocol: int32(k.proto), FirstTs: f.first / 1000, LastTs: f.last / 1000,
			PacketsRecorded: f.pkts, BytesRecorded: f.bytes, PacketsSeen: f.pkts, BytesSeen: f.bytes,
		}
	}
	return out
}
