package test

// tacap capture --labels RULES.yaml end to end: the label columns of
// packets/, of the per-flow CSV files, of flows/ and sessions/, and the
// manifest's labels block, against two oracles independent of tacap's
// labels package: tshark, running each rule translated into a display
// filter over the same capture file, and a brute-force matcher written
// here with net/netip (lbMatch), which tshark checks too.
//
// The contract (docs/dataset.md, "Labels"): rules apply in order and the
// last matching one wins; a packet matches a rule when its 5-tuple (or,
// with both_directions, the default, the reversed one) does and ts_ns is in
// [start, end); a flow or a session takes the last rule matching its tuple
// (either orientation, as the rule allows) whose window overlaps
// [first, last] (flows: first_ts_ns, last_ts_ns; sessions: first_ts,
// last_ts, whole microseconds); flows' label_packets counts the flow's
// packets that match that rule, null when the flow straddles an edge of the
// window, 0 without a rule.

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/tacap/tacap/test/frames"
	"github.com/tacap/tacap/test/pqcheck"
	"github.com/tacap/tacap/test/testenv"
)

// lbT0 is the crafted capture's origin: 2023-11-14T22:13:20Z.
const lbT0 = int64(1_700_000_000) * int64(time.Second)

// The windows of the crafted rules, as offsets from lbT0: tcp-window's
// edges fall inside a microsecond, allow-web's on whole seconds.
const (
	lbWinStart = 10*int64(time.Second) + 250
	lbWinEnd   = 20*int64(time.Second) + 750
	lbWebStart = 15 * int64(time.Second)
	lbWebEnd   = 25 * int64(time.Second)
)

// lbRule is one rule as the test writes it into a rules file; lbCompile
// reads it back for the test's own matcher and the tshark filters.
type lbRule struct {
	id, label, attack string
	src, dst          []string // CIDRs or bare addresses as written; nil: any
	asList            bool     // write src and dst as YAML lists even with one item
	proto             string   // as written (a name or a number); "": any
	sport, dport      string   // "N" or "LO-HI"; "": any
	start, end        string   // RFC 3339 as written; "": none
	oneWay            bool     // both_directions: false
}

// lbMatch is a rule compiled by the test (not by tacap's labels package).
type lbMatch struct {
	lbRule
	srcP, dstP []netip.Prefix
	protoN     int    // -1: any
	sp, dp     [2]int // inclusive
	startNs    int64  // math.MinInt64: none
	endNs      int64  // math.MaxInt64: none
	hasStart   bool
	hasEnd     bool
	bothDirs   bool
	srcAny     bool
	dstAny     bool
}

// lbTuple is a packet's (or a flow's, a session's) 5-tuple as tacap's rows
// give it: ports 0 for ICMP and non-first fragments.
type lbTuple struct {
	src, dst     netip.Addr
	proto        uint8
	sport, dport uint16
}

func (tp lbTuple) reversed() lbTuple {
	return lbTuple{src: tp.dst, dst: tp.src, proto: tp.proto, sport: tp.dport, dport: tp.sport}
}

func (tp lbTuple) String() string {
	return fmt.Sprintf("%s:%d > %s:%d proto %d", tp.src, tp.sport, tp.dst, tp.dport, tp.proto)
}

func lbKey(ns int64, tp lbTuple) string {
	return fmt.Sprintf("%d %s %s %d %d %d", ns, tp.src, tp.dst, tp.sport, tp.dport, tp.proto)
}

func lbCompile(t *testing.T, rs []lbRule) []lbMatch {
	t.Helper()
	protoNames := map[string]int{"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58}
	prefixes := func(vs []string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range vs {
			if strings.Contains(s, "/") {
				out = append(out, netip.MustParsePrefix(s))
				continue
			}
			a := netip.MustParseAddr(s)
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
		return out
	}
	ports := func(s string) [2]int {
		if s == "" {
			return [2]int{0, 65535}
		}
		lo, hi, isRange := strings.Cut(s, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			t.Fatalf("test rule port %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				t.Fatalf("test rule port %q", s)
			}
		}
		return [2]int{a, b}
	}
	stamp := func(s string) (int64, bool) {
		if s == "" {
			return 0, false
		}
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatalf("test rule time %q: %v", s, err)
		}
		return tm.UnixNano(), true
	}
	var out []lbMatch
	for _, r := range rs {
		m := lbMatch{lbRule: r, srcP: prefixes(r.src), dstP: prefixes(r.dst), protoN: -1, sp: ports(r.sport), dp: ports(r.dport),
			startNs: math.MinInt64, endNs: math.MaxInt64, bothDirs: !r.oneWay, srcAny: len(r.src) == 0, dstAny: len(r.dst) == 0}
		if r.proto != "" {
			if n, ok := protoNames[r.proto]; ok {
				m.protoN = n
			} else if n, err := strconv.Atoi(r.proto); err == nil {
				m.protoN = n
			} else {
				t.Fatalf("test rule proto %q", r.proto)
			}
		}
		if ns, ok := stamp(r.start); ok {
			m.startNs, m.hasStart = ns, true
		}
		if ns, ok := stamp(r.end); ok {
			m.endNs, m.hasEnd = ns, true
		}
		out = append(out, m)
	}
	return out
}

func lbContains(ps []netip.Prefix, any bool, a netip.Addr) bool {
	if any {
		return true
	}
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// literal: the tuple matches the rule as written (not reversed).
func (m *lbMatch) literal(tp lbTuple) bool {
	return lbContains(m.srcP, m.srcAny, tp.src) && lbContains(m.dstP, m.dstAny, tp.dst) &&
		(m.protoN < 0 || m.protoN == int(tp.proto)) &&
		m.sp[0] <= int(tp.sport) && int(tp.sport) <= m.sp[1] && m.dp[0] <= int(tp.dport) && int(tp.dport) <= m.dp[1]
}

// tuple: the tuple matches in either orientation, as the rule allows.
func (m *lbMatch) tuple(tp lbTuple) bool {
	return m.literal(tp) || m.bothDirs && m.literal(tp.reversed())
}

func (m *lbMatch) packet(tp lbTuple, ns int64) bool {
	return m.tuple(tp) && m.startNs <= ns && ns < m.endNs
}

func (m *lbMatch) overlaps(first, last int64) bool { return m.startNs <= last && first < m.endNs }

func (m *lbMatch) holds(first, last int64) bool { return m.startNs <= first && last < m.endNs }

// lbWinPacket is the index of the rule that labels a packet, or -1.
func lbWinPacket(rm []lbMatch, tp lbTuple, ns int64) int {
	for i := len(rm) - 1; i >= 0; i-- {
		if rm[i].packet(tp, ns) {
			return i
		}
	}
	return -1
}

// lbWinSpan is the index of the rule that labels a flow or a session of
// tuple tp (oriented src to dst) whose packets lie in [first, last], or -1.
func lbWinSpan(rm []lbMatch, tp lbTuple, first, last int64, hasFwd, hasBwd bool) int {
	for i := len(rm) - 1; i >= 0; i-- {
		// The rule must match packets the span has: those from tp's source
		// (hasFwd), or those to it (hasBwd).
		if (hasFwd && rm[i].tuple(tp) || hasBwd && rm[i].tuple(tp.reversed())) && rm[i].overlaps(first, last) {
			return i
		}
	}
	return -1
}

// lbYAML writes a rules file of rs.
func lbYAML(def string, rs []lbRule) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# written by test/labels_test.go\ndefault: %s\nrules:\n", def)
	for _, r := range rs {
		fmt.Fprintf(&b, "  - id: %s\n    label: %s\n", r.id, r.label)
		if r.attack != "" {
			fmt.Fprintf(&b, "    attack: %q\n", r.attack)
		}
		addrs := func(key string, vs []string) {
			switch {
			case len(vs) == 0:
			case len(vs) == 1 && !r.asList:
				fmt.Fprintf(&b, "    %s: %s\n", key, vs[0])
			default:
				fmt.Fprintf(&b, "    %s:\n", key)
				for _, v := range vs {
					fmt.Fprintf(&b, "      - %q\n", v)
				}
			}
		}
		addrs("src", r.src)
		addrs("dst", r.dst)
		for _, kv := range [][2]string{{"proto", r.proto}, {"sport", r.sport}, {"dport", r.dport}, {"start", r.start}, {"end", r.end}} {
			if kv[1] != "" {
				fmt.Fprintf(&b, "    %s: %s\n", kv[0], kv[1])
			}
		}
		if r.oneWay {
			b.WriteString("    both_directions: false\n")
		}
	}
	return b.String()
}

// lbAt is lbT0+off in RFC 3339 in the zone (offset) given.
func lbAt(off int64, zone *time.Location) string {
	return time.Unix(0, lbT0+off).In(zone).Format(time.RFC3339Nano)
}

// lbRules are the crafted capture's rules: v4 and v6 CIDRs and bare
// addresses, a port range, protocols by name and number, two windows (one
// with nanosecond edges, in two offsets), both_directions false, rules that
// overlap (the later wins) and one that can match nothing (a v4 source to a
// v6 destination).
func lbRules() []lbRule {
	plus2, minus5 := time.FixedZone("", 2*3600), time.FixedZone("", -5*3600)
	return []lbRule{
		{id: "v4-nets", label: "scan", attack: "portscan", src: []string{"198.18.1.0/24"}, dst: []string{"198.18.2.0/24"}, asList: true},
		{id: "v6-tcp", label: "ddos", attack: "synflood", src: []string{"2001:db8:1::/48"}, dst: []string{"2001:db8:2::/48", "2001:db8:ff::/48"}, proto: "tcp"},
		{id: "udp-ports", label: "ddos", attack: "udpflood", proto: "udp", dport: "8000-8099"},
		{id: "tcp-window", label: "ddos", attack: "window", src: []string{"198.18.0.0/15"}, proto: "tcp",
			start: lbAt(lbWinStart, plus2), end: lbAt(lbWinEnd, time.UTC)},
		{id: "one-way", label: "exfil", src: []string{"198.18.1.10"}, dst: []string{"198.19.5.40/32"}, oneWay: true},
		{id: "ping4", label: "recon", attack: "ping", proto: "icmp", dst: []string{"198.18.2.0/24"}, oneWay: true},
		{id: "ping6", label: "recon", attack: "ping6", proto: "icmpv6", dst: []string{"2001:db8:2::30"}},
		{id: "allow-web", label: "benign", src: []string{"198.18.1.20"}, proto: "6", dport: "80",
			start: lbAt(lbWebStart, minus5), end: lbAt(lbWebEnd, minus5)},
		{id: "ssh-brute", label: "bruteforce", attack: "ssh", src: []string{"198.18.3.0/24", "2001:db8:3::/48"}, proto: "17", sport: "1024-2047"},
		{id: "nothing", label: "never", attack: "none", src: []string{"198.18.200.0/24"}, dst: []string{"2001:db8::/32"}},
	}
}

// lbConv is one conversation of the crafted capture: packets between a:pa
// and b:pb, the first (in time) from a, then every third from b.
type lbConv struct {
	name   string
	a, b   string
	proto  uint8
	pa, pb uint16
	times  []int64 // offsets from lbT0
	allFwd bool    // every packet from a
	frag   bool    // IPv4 UDP: each packet in two fragments, the second 1 µs later
}

// lbGrid is every `every` from `from` to `to` (offsets from lbT0), shifted
// by i*7 µs so that conversations do not share times.
func lbGrid(i int, every, from, to time.Duration) []int64 {
	var out []int64
	for d := from; d <= to; d += every {
		out = append(out, int64(d)+int64(i)*7000)
	}
	return out
}

func lbJoin(sets ...[]int64) []int64 {
	var out []int64
	for _, s := range sets {
		out = append(out, s...)
	}
	return out
}

func lbSec(s float64) int64 { return int64(s * 1e9) }

func lbConvs() []lbConv {
	S, E := lbWinStart, lbWinEnd
	edges := []int64{S - 1, S, S + 1, E - 1, E, E + 1}
	webEdges := []int64{lbWebStart - 1, lbWebStart, lbWebEnd - 1, lbWebEnd}
	long := func(i int) []int64 { return lbGrid(i, time.Second, 500*time.Millisecond, 29500*time.Millisecond) }
	us := int64(time.Microsecond)
	return []lbConv{
		{name: "v4 tcp nets+window", a: "198.18.1.10", b: "198.18.2.30", proto: 6, pa: 40001, pb: 80, times: lbJoin(long(1), edges)},
		{name: "v4 tcp window+allow-web", a: "198.18.1.20", b: "198.19.5.40", proto: 6, pa: 40002, pb: 80, times: lbJoin(long(2), edges, webEdges)},
		{name: "v4 tcp inside allow-web", a: "198.18.1.20", b: "198.19.5.40", proto: 6, pa: 40003, pb: 80,
			times: []int64{lbSec(16), lbSec(17), lbSec(18), lbSec(21), lbSec(24)}},
		{name: "v4 udp one-way fwd", a: "198.18.1.10", b: "198.19.5.40", proto: 17, pa: 5353, pb: 8053, times: long(3)},
		{name: "v4 udp one-way rev", a: "198.19.5.40", b: "198.18.1.10", proto: 17, pa: 8054, pb: 5354, times: long(4)},
		{name: "v4 udp port hi edge", a: "198.19.5.40", b: "198.18.1.50", proto: 17, pa: 9000, pb: 8099, times: lbGrid(5, 2*time.Second, time.Second, 29*time.Second)},
		{name: "v4 udp port past range", a: "198.19.5.40", b: "198.18.1.50", proto: 17, pa: 9001, pb: 8100, times: lbGrid(6, 3*time.Second, time.Second, 29*time.Second)},
		{name: "v4 udp port range reversed", a: "198.19.5.40", b: "198.18.1.51", proto: 17, pa: 8000, pb: 7999, times: lbGrid(7, 3*time.Second, time.Second, 29*time.Second)},
		{name: "v4 udp no port", a: "198.19.5.40", b: "198.18.1.51", proto: 17, pa: 7000, pb: 7999, times: lbGrid(8, 3*time.Second, time.Second, 29*time.Second)},
		{name: "v4 icmp ping4", a: "198.18.1.10", b: "198.18.2.30", proto: 1, times: long(9)},
		{name: "v4 icmp ping4 both literal", a: "198.18.2.5", b: "198.18.2.30", proto: 1, times: lbGrid(10, 2*time.Second, time.Second, 29*time.Second)},
		{name: "v6 tcp", a: "2001:db8:1::10", b: "2001:db8:2::30", proto: 6, pa: 40010, pb: 443, times: long(11)},
		{name: "v6 tcp reversed", a: "2001:db8:ff::40", b: "2001:db8:1::20", proto: 6, pa: 443, pb: 50000, times: long(12)},
		{name: "v6 tcp other net", a: "2001:db8:1::10", b: "2001:db8:fe::1", proto: 6, pa: 40011, pb: 443, times: lbGrid(13, 3*time.Second, time.Second, 29*time.Second)},
		{name: "v6 udp port", a: "2001:db8:1::10", b: "2001:db8:2::30", proto: 17, pa: 5000, pb: 8080, times: lbGrid(14, 2*time.Second, time.Second, 29*time.Second)},
		{name: "v6 icmpv6 ping6", a: "2001:db8:1::10", b: "2001:db8:2::30", proto: 58, times: long(15)},
		{name: "v6 icmpv6 next host", a: "2001:db8:1::10", b: "2001:db8:2::31", proto: 58, times: lbGrid(16, 3*time.Second, time.Second, 29*time.Second)},
		{name: "v4 udp ssh-brute lo", a: "198.18.3.5", b: "198.18.9.9", proto: 17, pa: 1024, pb: 22, times: lbJoin(long(17), edges)},
		{name: "v6 udp ssh-brute hi", a: "2001:db8:3::5", b: "2001:db8:9::9", proto: 17, pa: 2047, pb: 22, times: lbGrid(18, 2*time.Second, time.Second, 29*time.Second)},
		{name: "v6 udp ssh-brute past", a: "2001:db8:3::5", b: "2001:db8:9::9", proto: 17, pa: 2048, pb: 22, times: lbGrid(19, 2*time.Second, time.Second, 29*time.Second)},
		{name: "v4 tcp ssh-brute port, tcp", a: "198.18.3.6", b: "198.18.9.9", proto: 6, pa: 1500, pb: 22, times: lbJoin(lbGrid(20, 2*time.Second, time.Second, 29*time.Second), edges)},
		{name: "v4 tcp window straddles", a: "198.18.7.7", b: "198.18.8.8", proto: 6, pa: 30000, pb: 80, times: lbJoin(long(21), edges)},
		{name: "v4 tcp window inside", a: "198.18.7.7", b: "198.18.8.8", proto: 6, pa: 30001, pb: 81,
			times: lbJoin(lbGrid(22, time.Second, 11*time.Second, 19*time.Second), []int64{S, E - 1})},
		{name: "v4 tcp window before", a: "198.18.7.7", b: "198.18.8.8", proto: 6, pa: 30002, pb: 82,
			times: lbJoin(lbGrid(23, time.Second, time.Second, 9*time.Second), []int64{S - 1})},
		{name: "v4 tcp window spanned", a: "198.18.7.7", b: "198.18.8.8", proto: 6, pa: 30003, pb: 83, times: []int64{lbSec(5), lbSec(25)}},
		{name: "v4 tcp window exact", a: "198.18.7.7", b: "198.18.8.8", proto: 6, pa: 30004, pb: 84, times: []int64{S, S + us, E - 1}},
		{name: "v4 tcp window after", a: "198.18.7.7", b: "198.18.8.8", proto: 6, pa: 30005, pb: 85, times: []int64{E, E + us, lbSec(28)}},
		{name: "v4 tcp window starts in a µs", a: "198.18.7.7", b: "198.18.8.8", proto: 6, pa: 30006, pb: 86, times: []int64{S - 2*us, S}},
		{name: "v4 tcp window ends in a µs", a: "198.18.7.7", b: "198.18.8.8", proto: 6, pa: 30007, pb: 87, times: []int64{E - 1, E + 2*us}},
		{name: "v4 tcp window ends at its end", a: "198.18.7.7", b: "198.18.8.8", proto: 6, pa: 30008, pb: 88, times: []int64{lbSec(15), lbSec(16), E}},
		{name: "v4 tcp window starts 1 ns early", a: "198.18.7.7", b: "198.18.8.8", proto: 6, pa: 30009, pb: 89, times: []int64{S - 1, lbSec(15), lbSec(16)}},
		{name: "v4 udp fragments", a: "198.18.1.10", b: "198.18.2.30", proto: 17, pa: 5000, pb: 8050,
			times: []int64{lbSec(3), lbSec(13), lbSec(23)}, allFwd: true, frag: true},
		{name: "v4 udp no rule", a: "198.18.200.1", b: "198.18.1.10", proto: 17, pa: 6000, pb: 6001, times: lbGrid(31, 3*time.Second, time.Second, 29*time.Second)},
	}
}

// lbFrame is one frame of the crafted capture, with the columns tacap
// must give it.
type lbFrame struct {
	conv string
	ns   int64
	tp   lbTuple
	data []byte
}

func (f lbFrame) String() string {
	return fmt.Sprintf("%q T0%+.9fs %s", f.conv, float64(f.ns-lbT0)/1e9, f.tp)
}

// lbBuild makes the frames of convs, in time order.
func lbBuild(t *testing.T, convs []lbConv) []lbFrame {
	t.Helper()
	var out []lbFrame
	seen := map[string]bool{}
	for _, c := range convs {
		a, b := netip.MustParseAddr(c.a), netip.MustParseAddr(c.b)
		ts := append([]int64(nil), c.times...)
		sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
		for k, off := range ts {
			rev := !c.allFwd && k%3 == 1
			tp := lbTuple{src: a, dst: b, proto: c.proto, sport: c.pa, dport: c.pb}
			if rev {
				tp = tp.reversed()
			}
			for _, f := range lbPacket(c, lbT0+off, tp, k, rev) {
				if seen[lbKey(f.ns, f.tp)] {
					t.Fatalf("test design: two frames %s", f)
				}
				seen[lbKey(f.ns, f.tp)] = true
				out = append(out, f)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ns < out[j].ns })
	return out
}

// lbPacket is the frame (or, with c.frag, the two fragments) of one packet.
func lbPacket(c lbConv, ns int64, tp lbTuple, k int, rev bool) []lbFrame {
	eth := frames.Ether{Dst: [6]byte{2, 0, 0, 0, 0, 2}, Src: [6]byte{2, 0, 0, 0, 0, 1}}
	if rev {
		eth.Dst, eth.Src = eth.Src, eth.Dst
	}
	v6 := tp.src.Is6()
	ip := func(proto uint8, flagsFrag uint16) frames.Layer {
		if v6 {
			return frames.IPv6{Src: tp.src, Dst: tp.dst, HopLimit: 64}
		}
		return frames.IPv4{Src: tp.src, Dst: tp.dst, TTL: 64, ID: uint16(0x4000 + k), Protocol: proto, FlagsFrag: flagsFrag}
	}
	payload := frames.Payload(fmt.Sprintf("labels %s %d", c.name, k))
	if c.frag {
		// The first fragment holds the UDP header and 16 bytes, the second
		// (offset 24 bytes, no header: ports 0 in tacap's rows) 8 more.
		first := frames.Build(eth, ip(0, 0x2000), frames.UDP{SrcPort: tp.sport, DstPort: tp.dport, Length: 8 + 16 + 8}, frames.Zeros(16))
		second := frames.Build(eth, ip(17, 3), frames.Zeros(8))
		noPorts := tp
		noPorts.sport, noPorts.dport = 0, 0
		return []lbFrame{{c.name, ns, tp, first}, {c.name + " (2nd fragment)", ns + 1000, noPorts, second}}
	}
	var l4 frames.Layer
	switch tp.proto {
	case 6:
		l4 = frames.TCP{SrcPort: tp.sport, DstPort: tp.dport, Seq: uint32(1000 + k), Ack: 1, Flags: frames.ACK | frames.PSH, Window: 512}
	case 17:
		l4 = frames.UDP{SrcPort: tp.sport, DstPort: tp.dport}
	case 1:
		typ := uint8(8)
		if rev {
			typ = 0
		}
		l4 = frames.ICMP{Type: typ, Rest: 0x1234<<16 | uint32(k)}
	case 58:
		typ := uint8(128)
		if rev {
			typ = 129
		}
		l4 = frames.ICMP{Type: typ, V6: true, Rest: 0x1234<<16 | uint32(k)}
	}
	return []lbFrame{{c.name, ns, tp, frames.Build(eth, ip(0, 0), l4, payload)}}
}

func lbWritePcap(t *testing.T, path string, fr []lbFrame) {
	t.Helper()
	cf := make([]capFrame, len(fr))
	for i, f := range fr {
		cf[i] = capFrame{ns: f.ns, data: f.data}
	}
	writePcap(t, path, linkEthernet, cf)
}

// lbCapture runs tacap capture with args, which must succeed.
func lbCapture(t *testing.T, args ...string) {
	t.Helper()
	tacap, _ := binaries(t)
	args = append([]string{"capture"}, args...)
	out, err := exec.Command(tacap, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("tacap %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// lbEpochNs parses tshark's frame.time_epoch ("1700000000.000000250")
// exactly.
func lbEpochNs(t *testing.T, s string) int64 {
	t.Helper()
	sec, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil || len(frac) > 9 {
		t.Fatalf("tshark frame.time_epoch %q", s)
	}
	var f int64
	if frac != "" {
		if f, err = strconv.ParseInt((frac + "000000000")[:9], 10, 64); err != nil {
			t.Fatalf("tshark frame.time_epoch %q", s)
		}
	}
	return n*1e9 + f
}

func lbEpoch(ns int64) string { return fmt.Sprintf("%d.%09d", ns/1e9, ns%1e9) }

// lbTshark runs tshark over path with the display filter (all frames when
// "") and returns the frames it selects: number -> time (ns).
func lbTshark(t *testing.T, path, filter string) map[int]int64 {
	t.Helper()
	args := []string{"-r", path, "-n", "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE"}
	if filter != "" {
		args = append(args, "-Y", filter)
	}
	args = append(args, "-T", "fields", "-e", "frame.number", "-e", "frame.time_epoch")
	cmd := exec.Command("tshark", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark -Y %q: %v\n%s", filter, err, stderr.String())
	}
	sel := map[int]int64{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		num, epoch, ok := strings.Cut(line, "\t")
		n, err := strconv.Atoi(num)
		if !ok || err != nil {
			t.Fatalf("tshark line %q", line)
		}
		sel[n] = lbEpochNs(t, epoch)
	}
	return sel
}

// lbFilter translates a rule into a tshark display filter over the
// outermost headers (#1: never an ICMP error's quoted packet).
func lbFilter(m *lbMatch) string {
	addrs := func(ps []netip.Prefix, which string) string {
		var or []string
		for _, p := range ps {
			f := "ip"
			if p.Addr().Is6() {
				f = "ipv6"
			}
			or = append(or, fmt.Sprintf("%s.%s#1 == %s", f, which, p))
		}
		return "(" + strings.Join(or, " || ") + ")"
	}
	ports := func(r [2]int, which string) string {
		set := fmt.Sprintf("{%d..%d}", r[0], r[1])
		if r[0] == r[1] {
			set = fmt.Sprintf("{%d}", r[0])
		}
		return fmt.Sprintf("(tcp.%[1]sport#1 in %[2]s || udp.%[1]sport#1 in %[2]s)", which, set)
	}
	dir := func(src, dst []netip.Prefix, srcAny, dstAny bool, sp, dp [2]int) string {
		var and []string
		if !srcAny {
			and = append(and, addrs(src, "src"))
		}
		if !dstAny {
			and = append(and, addrs(dst, "dst"))
		}
		if m.protoN >= 0 {
			and = append(and, fmt.Sprintf("(ip.proto#1 == %d || ipv6.nxt#1 == %d)", m.protoN, m.protoN))
		}
		if sp != [2]int{0, 65535} {
			and = append(and, ports(sp, "src"))
		}
		if dp != [2]int{0, 65535} {
			and = append(and, ports(dp, "dst"))
		}
		if len(and) == 0 {
			return "frame"
		}
		return strings.Join(and, " && ")
	}
	f := "(" + dir(m.srcP, m.dstP, m.srcAny, m.dstAny, m.sp, m.dp) + ")"
	if m.bothDirs {
		f = "(" + f + " || (" + dir(m.dstP, m.srcP, m.dstAny, m.srcAny, m.dp, m.sp) + "))"
	}
	if m.hasStart {
		f += " && frame.time_epoch >= " + lbEpoch(m.startNs)
	}
	if m.hasEnd {
		f += " && frame.time_epoch < " + lbEpoch(m.endNs)
	}
	return f
}

// lbRow is one packets/ row.
type lbRow struct {
	ns                  int64
	tp                  lbTuple
	flowID              int64 // 0: null
	runID               string
	label, attack, rule string
}

func (r lbRow) String() string {
	return fmt.Sprintf("row T0%+.9fs %s: label %q attack %q label_rule %q", float64(r.ns-lbT0)/1e9, r.tp, r.label, r.attack, r.rule)
}

// lbTable is some Parquet files of a table read with arrow-go
// (bfReadTable), with typed accessors that fail the test on a wrong type.
type lbTable struct {
	t    *testing.T
	name string
	bfTable
}

// lbRead reads the columns cols of files (relative to ds) with arrow-go,
// checking each file's row count against the manifest.
func lbRead(t *testing.T, ds, name string, files []bfFile, cols ...string) lbTable {
	t.Helper()
	if len(files) == 0 {
		t.Fatalf("the manifest lists no %s files", name)
	}
	tb := lbTable{t, name, bfTable{cols: map[string][]any{}, types: map[string]arrow.DataType{}}}
	for _, file := range files {
		pf, err := pqcheck.Read(filepath.Join(ds, file.Path))
		if err != nil {
			t.Fatal(err)
		}
		if pf.Rows != file.Rows {
			pf.Table.Release()
			t.Fatalf("%s: arrow-go reads %d rows, the manifest says %d", file.Path, pf.Rows, file.Rows)
		}
		for _, c := range cols {
			idx := pf.Schema.FieldIndices(c)
			if len(idx) != 1 {
				pf.Table.Release()
				t.Fatalf("%s: %s has no column %s (it has %v)", name, file.Path, c, pf.Fields())
			}
			tb.types[c] = pf.Schema.Field(idx[0]).Type
			for _, chunk := range pf.Table.Column(idx[0]).Data().Chunks() {
				vs, err := bfValues(chunk)
				if err != nil {
					pf.Table.Release()
					t.Fatalf("%s: %s: %v", file.Path, c, err)
				}
				tb.cols[c] = append(tb.cols[c], vs...)
			}
		}
		tb.rows += int(pf.Rows)
		pf.Table.Release()
	}
	return tb
}

func (tb lbTable) col(c string) []any {
	tb.t.Helper()
	vs, ok := tb.cols[c]
	if !ok {
		tb.t.Fatalf("%s: the test did not read column %s", tb.name, c)
	}
	return vs
}

func (tb lbTable) int(c string, i int) int64 {
	tb.t.Helper()
	v, ok := tb.col(c)[i].(int64)
	if !ok {
		tb.t.Fatalf("%s row %d: %s is %v, not an integer", tb.name, i, c, tb.col(c)[i])
	}
	return v
}

// nullInt is a nullable integer column's value (nil: null).
func (tb lbTable) nullInt(c string, i int) *int64 {
	tb.t.Helper()
	switch v := tb.col(c)[i].(type) {
	case nil:
		return nil
	case int64:
		return &v
	default:
		tb.t.Fatalf("%s row %d: %s is %v, not an integer", tb.name, i, c, v)
		return nil
	}
}

func (tb lbTable) str(c string, i int) string {
	tb.t.Helper()
	v, ok := tb.col(c)[i].(string)
	if !ok {
		tb.t.Fatalf("%s row %d: %s is %v, not a string", tb.name, i, c, tb.col(c)[i])
	}
	return v
}

func (tb lbTable) addr(c string, i int) netip.Addr {
	tb.t.Helper()
	a, err := netip.ParseAddr(tb.str(c, i))
	if err != nil {
		tb.t.Fatalf("%s row %d: %s: %v", tb.name, i, c, err)
	}
	return a
}

func (tb lbTable) tuple(i int) lbTuple {
	return lbTuple{src: tb.addr("src_ip", i), dst: tb.addr("dst_ip", i), proto: uint8(tb.int("protocol", i)),
		sport: uint16(tb.int("src_port", i)), dport: uint16(tb.int("dst_port", i))}
}

// checkLabelTypes: label, attack and label_rule are STRING columns (plain
// or dictionary-encoded), label_packets (flows/) INT64.
func (tb lbTable) checkLabelTypes() {
	tb.t.Helper()
	for _, c := range []string{"label", "attack", "label_rule"} {
		tb.col(c)
		typ := tb.types[c]
		if d, ok := typ.(*arrow.DictionaryType); ok {
			typ = d.ValueType
		}
		if typ.ID() != arrow.STRING {
			tb.t.Errorf("%s: column %s is %s, want a string", tb.name, c, tb.types[c])
		}
	}
	if tb.name == "flows/" {
		tb.col("label_packets")
		if tb.types["label_packets"].ID() != arrow.INT64 {
			tb.t.Errorf("flows/: label_packets is %s, want int64", tb.types["label_packets"])
		}
	}
}

// lbTupleCols are the columns of a row's tuple and labels, and more.
func lbTupleCols(more ...string) []string {
	return append([]string{"src_ip", "dst_ip", "src_port", "dst_port", "protocol", "label", "attack", "label_rule"}, more...)
}

// lbReadPackets reads the run's packets/ rows.
func lbReadPackets(t *testing.T, ds string) []lbRow {
	t.Helper()
	m := bfReadManifest(t, ds)
	tb := lbRead(t, ds, "packets/", m.Files.Packets, lbTupleCols("ts_ns", "run_id", "flow_id")...)
	tb.checkLabelTypes()
	out := make([]lbRow, tb.rows)
	for i := range out {
		r := lbRow{ns: tb.int("ts_ns", i), tp: tb.tuple(i), runID: tb.str("run_id", i),
			label: tb.str("label", i), attack: tb.str("attack", i), rule: tb.str("label_rule", i)}
		if id := tb.nullInt("flow_id", i); id != nil {
			r.flowID = *id
		}
		out[i] = r
	}
	return out
}

// lbErrors collects mismatches of one kind and reports their number with
// the first few.
type lbErrors struct {
	what string
	n    int
	ex   []string
}

func (e *lbErrors) add(format string, args ...any) {
	e.n++
	if len(e.ex) < 12 {
		e.ex = append(e.ex, fmt.Sprintf(format, args...))
	}
}

func (e *lbErrors) report(t *testing.T) {
	t.Helper()
	if e.n > 0 {
		t.Errorf("%s: %d mismatches, e.g.\n  %s", e.what, e.n, strings.Join(e.ex, "\n  "))
	}
}

func lbName(rm []lbMatch, i int) string {
	if i < 0 {
		return `"" (no rule)`
	}
	return rm[i].id
}

// lbExpect is what a row labelled by rule index i (-1: none) carries.
func lbExpect(rm []lbMatch, def string, i int) (label, attack, rule string) {
	if i < 0 {
		return def, "", ""
	}
	return rm[i].label, rm[i].attack, rm[i].id
}

// lbTsharkWinners runs tshark once per rule and returns, for each frame (by
// index), the last rule whose filter selects it (-1: none), and how many
// rules' filters select it. Each frame's time as tshark prints it must be
// the crafted one.
func lbTsharkWinners(t *testing.T, path string, fr []lbFrame, rm []lbMatch) (win, matches []int, perRule []int) {
	t.Helper()
	win, matches, perRule = make([]int, len(fr)), make([]int, len(fr)), make([]int, len(rm))
	for i := range win {
		win[i] = -1
	}
	for i := range rm {
		filter := lbFilter(&rm[i])
		sel := lbTshark(t, path, filter)
		t.Logf("rule %s: tshark -Y '%s': %d frames", rm[i].id, filter, len(sel))
		perRule[i] = len(sel)
		for n, ns := range sel {
			if n < 1 || n > len(fr) {
				t.Fatalf("tshark frame number %d of %d", n, len(fr))
			}
			if fr[n-1].ns != ns {
				t.Fatalf("tshark times frame %d at %d ns, the test wrote %d", n, ns, fr[n-1].ns)
			}
			win[n-1] = i // rules in order: the last one selecting the frame stays
			matches[n-1]++
		}
	}
	return win, matches, perRule
}

// lbCheckPackets: every frame has exactly one packets/ row (by time and
// 5-tuple), labelled by the rule tshark's filters say wins.
func lbCheckPackets(t *testing.T, fr []lbFrame, win []int, rm []lbMatch, def string, rows []lbRow) {
	t.Helper()
	byKey := map[string][]lbRow{}
	for _, r := range rows {
		k := lbKey(r.ns, r.tp)
		byKey[k] = append(byKey[k], r)
	}
	if len(rows) != len(fr) {
		t.Errorf("packets/ holds %d rows, the capture %d frames", len(rows), len(fr))
	}
	missing := lbErrors{what: "frames without exactly one packets/ row"}
	wrong := lbErrors{what: "packets/ labels that are not the winning tshark filter's (label_rule, label, attack)"}
	for i, f := range fr {
		rs := byKey[lbKey(f.ns, f.tp)]
		if len(rs) != 1 {
			missing.add("frame %d %s: %d rows", i+1, f, len(rs))
			continue
		}
		r := rs[0]
		label, attack, rule := lbExpect(rm, def, win[i])
		if r.label != label || r.attack != attack || r.rule != rule {
			wrong.add("frame %d %s: tacap %q/%q/%q, tshark's winner %s wants %q/%q/%q", i+1, f, r.rule, r.label, r.attack,
				lbName(rm, win[i]), rule, label, attack)
		}
	}
	missing.report(t)
	wrong.report(t)
}

// lbCheckCSV: the per-flow CSV files end with label, attack, label_rule,
// and agree with packets/ row by row.
func lbCheckCSV(t *testing.T, ds string, rows []lbRow) {
	t.Helper()
	m := readManifest(t, ds)
	if m.CSV == nil {
		t.Fatal("no csv block in the manifest: CSV files were not written")
	}
	byKey := map[string]lbRow{}
	for _, r := range rows {
		byKey[lbKey(r.ns, r.tp)] = r
	}
	paths, _ := filepath.Glob(filepath.Join(ds, m.CSV.Dir, "*.csv"))
	if len(paths) == 0 {
		t.Fatalf("no CSV file in %s", filepath.Join(ds, m.CSV.Dir))
	}
	bad := lbErrors{what: "CSV rows whose label columns differ from packets/"}
	n := 0
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if len(recs) < 2 {
			t.Fatalf("%s: %d lines, want a header and rows", p, len(recs))
		}
		h := recs[0]
		if len(h) < 3 || strings.Join(h[len(h)-3:], ",") != "label,attack,label_rule" {
			t.Fatalf("%s: header %v does not end with label,attack,label_rule", filepath.Base(p), h)
		}
		at := map[string]int{}
		for i, c := range h {
			at[c] = i
		}
		for _, c := range []string{"ts_ns", "src_ip", "dst_ip", "src_port", "dst_port", "protocol"} {
			if _, ok := at[c]; !ok {
				t.Fatalf("%s: no column %s in %v", filepath.Base(p), c, h)
			}
		}
		for _, rec := range recs[1:] {
			num := func(c string) int64 {
				v, err := strconv.ParseInt(rec[at[c]], 10, 64)
				if err != nil {
					t.Fatalf("%s: %s %q", filepath.Base(p), c, rec[at[c]])
				}
				return v
			}
			src, err1 := netip.ParseAddr(rec[at["src_ip"]])
			dst, err2 := netip.ParseAddr(rec[at["dst_ip"]])
			if err1 != nil || err2 != nil {
				t.Fatalf("%s: addresses %q %q", filepath.Base(p), rec[at["src_ip"]], rec[at["dst_ip"]])
			}
			tp := lbTuple{src: src, dst: dst, proto: uint8(num("protocol")), sport: uint16(num("src_port")), dport: uint16(num("dst_port"))}
			k := len(rec)
			got := [3]string{rec[k-3], rec[k-2], rec[k-1]}
			r, ok := byKey[lbKey(num("ts_ns"), tp)]
			n++
			if !ok {
				bad.add("%s: a row T0%+.9fs %s that packets/ does not hold", filepath.Base(p), float64(num("ts_ns")-lbT0)/1e9, tp)
				continue
			}
			if want := [3]string{r.label, r.attack, r.rule}; got != want {
				bad.add("%s: T0%+.9fs %s: CSV %q, packets/ %q", filepath.Base(p), float64(r.ns-lbT0)/1e9, tp, got, want)
			}
		}
	}
	if n != len(rows) {
		t.Errorf("%d CSV rows, %d packets/ rows", n, len(rows))
	}
	bad.report(t)
}

// lbManifestLabels returns the labels block of the one manifest in ds, read
// from its JSON (the contract's names, not dataset.Manifest's).
func lbManifestLabels(t *testing.T, ds string) map[string]any {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(ds, "_runs", "*.json"))
	if len(paths) != 1 {
		t.Fatalf("%d manifests in %s", len(paths), ds)
	}
	b, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	l, ok := m["labels"].(map[string]any)
	if !ok {
		t.Fatalf("manifest has no labels object: %v", m["labels"])
	}
	return l
}

// lbCheckManifest: the labels block names the rules file, its SHA-256 and
// content, the default and the number of rules.
func lbCheckManifest(t *testing.T, ds, rulesPath, def string, nRules int) {
	t.Helper()
	l := lbManifestLabels(t, ds)
	src, err := os.ReadFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(src)
	want := map[string]any{"file": rulesPath, "sha256": hex.EncodeToString(sum[:]), "default": def, "rules": float64(nRules), "content": string(src)}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("manifest labels.%s = %#v, want %#v", k, l[k], v)
		}
	}
}

// lbFlowStats says what the flows check covered.
type lbFlowStats struct {
	flows, labelled, null, partial, wonByLater, inside int
}

// lbCheckFlows: each flows/ row's label is the brute-force answer for its
// tuple and [first_ts_ns, last_ts_ns], and label_packets is the count of
// its packets/ rows (flow_id) that match its rule: null when the flow
// straddles an edge of the rule's window, 0 without a rule.
func lbCheckFlows(t *testing.T, ds string, rm []lbMatch, def string, rows []lbRow) lbFlowStats {
	t.Helper()
	m := bfReadManifest(t, ds)
	tb := lbRead(t, ds, "flows/", m.Files.Flows, lbTupleCols("flow_id", "first_ts_ns", "last_ts_ns", "fwd_packets", "bwd_packets", "label_packets")...)
	tb.checkLabelTypes()
	byFlow := map[int64][]lbRow{}
	for _, r := range rows {
		if r.flowID == 0 {
			t.Errorf("%s has no flow_id", r)
			continue
		}
		byFlow[r.flowID] = append(byFlow[r.flowID], r)
	}
	var st lbFlowStats
	sanity := lbErrors{what: "flows/ rows that disagree with their packets/ rows (not a label column)"}
	labels := lbErrors{what: "flows/ label, attack or label_rule not the brute-force answer (last rule matching packets the flow has, in either direction as the rule allows, whose window overlaps [first_ts_ns, last_ts_ns])"}
	counts := lbErrors{what: "flows/ label_packets not the count of the flow's packets matching its rule (null: the flow straddles an edge of the rule's window)"}
	seen := map[int64]bool{}
	for i := 0; i < tb.rows; i++ {
		st.flows++
		id := tb.int("flow_id", i)
		if seen[id] {
			t.Errorf("flow_id %d twice in flows/", id)
		}
		seen[id] = true
		tp := tb.tuple(i)
		first, last := tb.int("first_ts_ns", i), tb.int("last_ts_ns", i)
		fwd, bwd := tb.int("fwd_packets", i), tb.int("bwd_packets", i)
		pk := byFlow[id]
		desc := fmt.Sprintf("flow %d %s [T0%+.9fs, T0%+.9fs] fwd %d bwd %d", id, tp, float64(first-lbT0)/1e9, float64(last-lbT0)/1e9, fwd, bwd)
		lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
		var nf, nb int64
		for _, p := range pk {
			lo, hi = min(lo, p.ns), max(hi, p.ns)
			switch p.tp {
			case tp:
				nf++
			case tp.reversed():
				nb++
			default:
				sanity.add("%s: its packet %s is neither direction", desc, p)
			}
		}
		if nf != fwd || nb != bwd || lo != first || hi != last {
			sanity.add("%s: its packets/ rows: fwd %d bwd %d in [T0%+.9fs, T0%+.9fs]", desc, nf, nb, float64(lo-lbT0)/1e9, float64(hi-lbT0)/1e9)
		}
		w := lbWinSpan(rm, tp, first, last, fwd > 0, bwd > 0)
		label, attack, rule := lbExpect(rm, def, w)
		gl, ga, gr := tb.str("label", i), tb.str("attack", i), tb.str("label_rule", i)
		if gl != label || ga != attack || gr != rule {
			labels.add("%s: tacap %q/%q/%q, want %q/%q/%q", desc, gr, gl, ga, rule, label, attack)
		}
		var want *int64
		switch {
		case w < 0:
			want = new(int64)
		case rm[w].holds(first, last):
			st.inside++
			var n int64
			for _, p := range pk {
				if rm[w].packet(p.tp, p.ns) {
					n++
					if p.rule != rm[w].id {
						st.wonByLater++
					}
				}
			}
			want = &n
		}
		if w >= 0 {
			st.labelled++
		}
		got := tb.nullInt("label_packets", i)
		show := func(p *int64) string {
			if p == nil {
				return "null"
			}
			return strconv.FormatInt(*p, 10)
		}
		if (got == nil) != (want == nil) || got != nil && *got != *want {
			counts.add("%s, rule %s: label_packets %s, want %s", desc, lbName(rm, w), show(got), show(want))
		}
		if want == nil {
			st.null++
		} else if *want > 0 && *want < fwd+bwd {
			st.partial++
		}
	}
	for id := range byFlow {
		if !seen[id] {
			t.Errorf("packets/ rows with flow_id %d, which flows/ does not hold", id)
		}
	}
	sanity.report(t)
	labels.report(t)
	counts.report(t)
	return st
}

// lbCheckSessions: each sessions/ row's label is the brute-force answer
// for its src->dst tuple over [first_ts, last_ts], microseconds taken whole
// (from first_ts*1000 to last_ts*1000+999 ns: the row's columns, so that
// the label can be recomputed from the row). It returns how many sessions
// the exact ns span of their packets would label otherwise (a window edge
// inside the microsecond of their first or last packet).
func lbCheckSessions(t *testing.T, ds string, rm []lbMatch, def string, rows []lbRow) (nsDiffers int) {
	t.Helper()
	dm := readManifest(t, ds)
	files := make([]bfFile, len(dm.Files.Sessions))
	for i, f := range dm.Files.Sessions {
		files[i] = bfFile{Path: f.Path, Rows: f.Rows}
	}
	tb := lbRead(t, ds, "sessions/", files, lbTupleCols("first_ts", "last_ts", "packets_recorded")...)
	tb.checkLabelTypes()
	type span struct {
		first, last, n int64
	}
	groups := map[lbTuple]*span{}
	for _, r := range rows {
		g := groups[r.tp]
		if g == nil {
			g = &span{first: r.ns, last: r.ns}
			groups[r.tp] = g
		}
		g.first, g.last, g.n = min(g.first, r.ns), max(g.last, r.ns), g.n+1
	}
	if tb.rows != len(groups) {
		t.Errorf("sessions/ holds %d rows, packets/ %d directional 5-tuples", tb.rows, len(groups))
	}
	sanity := lbErrors{what: "sessions/ rows that disagree with their packets/ rows (not a label column)"}
	labels := lbErrors{what: "sessions/ label, attack or label_rule not the brute-force answer (last rule matching src->dst, either orientation as allowed, whose window overlaps [first_ts, last_ts], whole microseconds)"}
	for i := 0; i < tb.rows; i++ {
		tp := tb.tuple(i)
		g := groups[tp]
		fts, lts := tb.int("first_ts", i), tb.int("last_ts", i)
		desc := fmt.Sprintf("session %s [T0%+.6fs, T0%+.6fs]", tp, float64(fts*1000-lbT0)/1e9, float64(lts*1000-lbT0)/1e9)
		if g == nil {
			sanity.add("%s: no packets/ row has its tuple", desc)
			continue
		}
		if fts != g.first/1000 || lts != g.last/1000 || tb.int("packets_recorded", i) != g.n {
			sanity.add("%s packets_recorded %d: its packets/ rows span [%d, %d] ns, %d rows", desc, tb.int("packets_recorded", i), g.first, g.last, g.n)
		}
		w := lbWinSpan(rm, tp, fts*1000, lts*1000+999, true, false)
		if wns := lbWinSpan(rm, tp, g.first, g.last, true, false); wns != w {
			nsDiffers++
			t.Logf("%s: labelled over its microseconds by %s; its packets' exact span [T0%+.9fs, T0%+.9fs] would give %s",
				desc, lbName(rm, w), float64(g.first-lbT0)/1e9, float64(g.last-lbT0)/1e9, lbName(rm, wns))
		}
		label, attack, rule := lbExpect(rm, def, w)
		gl, ga, gr := tb.str("label", i), tb.str("attack", i), tb.str("label_rule", i)
		if gl != label || ga != attack || gr != rule {
			labels.add("%s (its packets: [T0%+.9fs, T0%+.9fs]): tacap %q/%q/%q, want %q/%q/%q", desc,
				float64(g.first-lbT0)/1e9, float64(g.last-lbT0)/1e9, gr, gl, ga, rule, label, attack)
		}
	}
	sanity.report(t)
	labels.report(t)
	return nsDiffers
}

// TestLabelsMatchTsharkFilters labels a crafted capture (IPv4 and IPv6,
// TCP, UDP, ICMP, ICMPv6, IPv4 fragments, frames on and next to window
// edges, to the nanosecond) with ten rules, and checks every table against
// tshark (packets/) and the test's matcher (flows/, sessions/).
func TestLabelsMatchTsharkFilters(t *testing.T) {
	testenv.Privileged(t)
	requireTshark(t)
	dir := t.TempDir()
	fr := lbBuild(t, lbConvs())
	pcap := filepath.Join(dir, "labels.pcap")
	lbWritePcap(t, pcap, fr)
	rules := lbRules()
	rm := lbCompile(t, rules)
	const def = "background"
	rulesPath := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(lbYAML(def, rules)), 0o600); err != nil {
		t.Fatal(err)
	}
	ds := filepath.Join(dir, "ds")
	lbCapture(t, "--pcap", pcap, "--labels", rulesPath, "-o", ds, "--packets-per-session", "0", "--sessions", "1048576", "-q")

	// The oracle: tshark's filters, and the test's matcher, which must agree.
	win, matches, perRule := lbTsharkWinners(t, pcap, fr, rm)
	oracle := lbErrors{what: "frames where the test's own matcher disagrees with tshark's filters (a fault of the test or of tshark, not of tacap)"}
	overlapped, edge := 0, 0
	wins := make([]int, len(rm))
	for i, f := range fr {
		if w := lbWinPacket(rm, f.tp, f.ns); w != win[i] {
			oracle.add("frame %d %s: test %s, tshark %s", i+1, f, lbName(rm, w), lbName(rm, win[i]))
		}
		if win[i] >= 0 {
			wins[win[i]]++
		}
		if matches[i] > 1 {
			overlapped++
		}
		switch off := f.ns - lbT0; off {
		case lbWinStart, lbWinEnd - 1, lbWinEnd, lbWebStart, lbWebEnd - 1, lbWebEnd:
			edge++
		}
	}
	oracle.report(t)
	// The capture must exercise what it claims to.
	for i := range rm {
		switch {
		case rm[i].id == "nothing" && perRule[i] != 0:
			t.Errorf("test design: tshark selects %d frames for rule nothing", perRule[i])
		case rm[i].id != "nothing" && wins[i] == 0:
			t.Errorf("test design: rule %s wins no frame", rm[i].id)
		}
	}
	if overlapped == 0 || edge < 10 {
		t.Errorf("test design: %d frames match several rules, %d lie on a window edge", overlapped, edge)
	}
	t.Logf("%d frames, %d matched by several rules, %d on window edges; winners per rule %v", len(fr), overlapped, edge, wins)

	rows := lbReadPackets(t, ds)
	runID := bfReadManifest(t, ds).RunID
	for _, r := range rows {
		if r.runID != runID {
			t.Fatalf("%s: run_id %q, the manifest's is %q", r, r.runID, runID)
		}
	}
	lbCheckPackets(t, fr, win, rm, def, rows)
	lbCheckCSV(t, ds, rows)
	lbCheckManifest(t, ds, rulesPath, def, len(rules))
	st := lbCheckFlows(t, ds, rm, def, rows)
	t.Logf("flows: %+v", st)
	if st.null == 0 || st.partial == 0 || st.inside == 0 || st.labelled == st.flows {
		t.Errorf("test design: flows %+v: want flows with null label_packets, with some directions counted, inside a window, and unlabelled", st)
	}
	// A rule that wins one of a flow's packets matches packets the flow has
	// inside its span, so it is eligible for the flow: no packet of a flow
	// is won by a rule after the flow's own.
	if st.wonByLater != 0 {
		t.Errorf("%d packets of flows won by a rule after their flow's", st.wonByLater)
	}
	if n := lbCheckSessions(t, ds, rm, def, rows); n == 0 {
		t.Errorf("test design: no session has a window edge inside the microsecond of its first or last packet")
	}
}

// lbCIC is one rule of docs/labels/cic-ddos2019*.yaml, with the tshark
// filter that selects the packets it labels.
type lbCIC struct {
	rule   lbRule
	filter string
}

// TestLabelsCICRules: the CIC-DDoS2019 rules files shipped in docs/labels
// on the LUCID samples in ../shared: the rows each rule labels are the
// frames its tshark filter selects (by timestamp, with multiplicity), the
// rest are benign; flows/ and sessions/ agree with the test's matcher.
func TestLabelsCICRules(t *testing.T) {
	testenv.Privileged(t)
	requireTshark(t)
	shared := testenv.SharedDir(t)
	between := func(a, b, extra string) string {
		return fmt.Sprintf("(ip.src#1 == %[1]s && ip.dst#1 == %[2]s%[3]s) || (ip.src#1 == %[2]s && ip.dst#1 == %[1]s%[3]s)", a, b, extra)
	}
	syn := lbCIC{lbRule{id: "cic-ddos2019-syn", label: "ddos", attack: "syn", src: []string{"172.16.0.5/32"}, dst: []string{"192.168.50.4/32"}, proto: "tcp"},
		between("172.16.0.5", "192.168.50.4", " && ip.proto#1 == 6")}
	web := lbCIC{lbRule{id: "cic-ddos2019-webddos", label: "ddos", attack: "webddos", src: []string{"172.16.0.5/32"}, dst: []string{"192.168.50.1/32"}, proto: "tcp", dport: "80"},
		"(ip.src#1 == 172.16.0.5 && ip.dst#1 == 192.168.50.1 && tcp.dstport#1 == 80) || (ip.src#1 == 192.168.50.1 && ip.dst#1 == 172.16.0.5 && tcp.srcport#1 == 80)"}
	day1 := lbCIC{lbRule{id: "cic-ddos2019-victim-day1", label: "ddos", src: []string{"172.16.0.5/32"}, dst: []string{"192.168.50.1/32"}},
		between("172.16.0.5", "192.168.50.1", "")}
	day2 := lbCIC{lbRule{id: "cic-ddos2019-victim-day2", label: "ddos", src: []string{"172.16.0.5/32"}, dst: []string{"192.168.50.4/32"}},
		between("172.16.0.5", "192.168.50.4", "")}
	synPcap := filepath.Join(shared, "pcaps", "attack", "CIC-DDoS-2019-SynFlood.pcap")
	webPcap := filepath.Join(shared, "pcaps", "attack", "CIC-DDoS-2019-WebDDoS.pcap")
	cases := []struct {
		rules string
		pcap  string
		want  []lbCIC
		// labelled: the least number of frames labelled ddos (the file is
		// about this capture) or 0 (it is not).
		labelled int
	}{
		{"cic-ddos2019-syn.yaml", synPcap, []lbCIC{syn}, 1000},
		{"cic-ddos2019-webddos.yaml", webPcap, []lbCIC{web}, 1000},
		{"cic-ddos2019.yaml", synPcap, []lbCIC{day1, day2}, 1000},
		{"cic-ddos2019.yaml", webPcap, []lbCIC{day1, day2}, 1000},
		{"cic-ddos2019-syn.yaml", webPcap, []lbCIC{syn}, 0},
		{"cic-ddos2019-webddos.yaml", synPcap, []lbCIC{web}, 0},
	}
	for _, c := range cases {
		t.Run(strings.TrimSuffix(c.rules, ".yaml")+"/"+filepath.Base(c.pcap), func(t *testing.T) {
			if _, err := os.Stat(c.pcap); err != nil {
				t.Fatalf("shared capture: %v", err)
			}
			rulesPath, err := filepath.Abs(filepath.Join("..", "docs", "labels", c.rules))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(rulesPath); err != nil {
				t.Fatal(err)
			}
			var rs []lbRule
			for _, w := range c.want {
				rs = append(rs, w.rule)
			}
			rm := lbCompile(t, rs)
			ds := filepath.Join(t.TempDir(), "ds")
			lbCapture(t, "--pcap", c.pcap, "--labels", rulesPath, "-o", ds, "--packets-per-session", "0", "--sessions", "1048576", "--no-csv", "-q")
			lbCheckManifest(t, ds, rulesPath, "benign", len(rs))

			all := lbTshark(t, c.pcap, "")
			win := map[int]int{}
			for i, w := range c.want {
				sel := lbTshark(t, c.pcap, w.filter)
				t.Logf("rule %s: tshark -Y '%s': %d of %d frames", w.rule.id, w.filter, len(sel), len(all))
				for n := range sel {
					win[n] = i
				}
			}
			// Multisets of frame times, per label_rule ("": no rule).
			want, got := map[string]map[int64]int{}, map[string]map[int64]int{}
			add := func(m map[string]map[int64]int, rule string, ns int64) {
				if m[rule] == nil {
					m[rule] = map[int64]int{}
				}
				m[rule][ns]++
			}
			ddos := 0
			for n, ns := range all {
				rule := ""
				if i, ok := win[n]; ok {
					rule = c.want[i].rule.id
					ddos++
				}
				add(want, rule, ns)
			}
			if c.labelled > 0 && ddos < c.labelled || c.labelled == 0 && ddos != 0 {
				t.Errorf("test design: tshark's filters select %d of %d frames", ddos, len(all))
			}
			rows := lbReadPackets(t, ds)
			if len(rows) != len(all) {
				t.Errorf("packets/ holds %d rows, tshark reads %d frames", len(rows), len(all))
			}
			bad := lbErrors{what: "rows whose label or attack is not their label_rule's"}
			for _, r := range rows {
				add(got, r.rule, r.ns)
				label, attack := "benign", ""
				for _, w := range c.want {
					if w.rule.id == r.rule {
						label, attack = w.rule.label, w.rule.attack
					}
				}
				if r.rule != "" && label == "benign" {
					bad.add("%s: label_rule is no rule of the file", r)
				} else if r.label != label || r.attack != attack {
					bad.add("%s: want %q/%q", r, label, attack)
				}
			}
			bad.report(t)
			ids := map[string]bool{}
			for k := range want {
				ids[k] = true
			}
			for k := range got {
				ids[k] = true
			}
			for _, id := range bfSortedKeys(ids) {
				diff := lbErrors{what: fmt.Sprintf("label_rule %q: frame times where tacap's rows and tshark's frames differ", id)}
				times := map[int64]bool{}
				for ns := range want[id] {
					times[ns] = true
				}
				for ns := range got[id] {
					times[ns] = true
				}
				sorted := make([]int64, 0, len(times))
				for ns := range times {
					sorted = append(sorted, ns)
				}
				sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
				for _, ns := range sorted {
					if g, w := got[id][ns], want[id][ns]; g != w {
						diff.add("%s: tacap %d rows, tshark %d frames", time.Unix(0, ns).UTC().Format(time.RFC3339Nano), g, w)
					}
				}
				diff.report(t)
				t.Logf("label_rule %q: %d rows", id, lbCount(got[id]))
			}
			st := lbCheckFlows(t, ds, rm, "benign", rows)
			t.Logf("flows: %+v", st)
			if c.labelled > 0 && st.labelled == 0 {
				t.Errorf("test design: no flow labelled")
			}
			lbCheckSessions(t, ds, rm, "benign", rows)
		})
	}
}

func lbCount(m map[int64]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

// TestLabelsRefused: an invalid rules file stops tacap before it captures
// anything, with exit code 2 and FILE:LINE: reason on stderr.
func TestLabelsRefused(t *testing.T) {
	testenv.Privileged(t)
	tacap, _ := binaries(t)
	dir := t.TempDir()
	pcap := filepath.Join(dir, "tiny.pcap")
	writePcap(t, pcap, linkEthernet, []capFrame{{ns: lbT0, data: frames.Build(
		frames.Ether{Dst: [6]byte{2, 0, 0, 0, 0, 2}, Src: [6]byte{2, 0, 0, 0, 0, 1}},
		frames.IPv4{Src: netip.MustParseAddr("198.18.1.10"), Dst: netip.MustParseAddr("198.18.2.30"), TTL: 64},
		frames.UDP{SrcPort: 5000, DstPort: 8000}, frames.Payload("tiny"))}})
	head := "default: benign\nrules:\n  - id: r1\n    label: ddos\n" // lines 1-4
	cases := []struct {
		name    string
		content string
		line    int    // 0: the file is valid (the control case)
		mention string // what the reason must name
	}{
		{"valid", head + "    src: 198.18.0.0/15\n    dport: 8000-8099\n    start: 2023-11-14T22:13:20Z\n    end: 2023-11-15T00:13:20+01:00\n", 0, ""},
		{"unknown rule key", head + "    src: 198.18.0.0/15\n    sorce: 198.18.0.0/15\n", 6, "sorce"},
		{"unknown top-level key", "default: benign\nrulez:\n  - id: r1\n    label: ddos\n", 2, "rulez"},
		{"bad CIDR", head + "    src: 198.18.0.0/33\n", 5, "198.18.0.0/33"},
		{"bad address", head + "    dst: 198.18.300.1\n", 5, "198.18.300.1"},
		{"bad v6 CIDR in a list", head + "    dst:\n      - 2001:db8::/32\n      - 2001:db8::/129\n", 7, "2001:db8::/129"},
		{"port 70000", head + "    proto: tcp\n    dport: 70000\n", 6, "70000"},
		{"port range to 70000", head + "    sport: 1024-70000\n", 5, "70000"},
		{"time without offset", head + "    start: 2023-11-14T22:13:20\n", 5, "2023-11-14T22:13:20"},
		{"date only", head + "    src: 198.18.0.0/15\n    end: 2023-11-14\n", 6, "2023-11-14"},
		{"end before start", head + "    start: 2023-11-14T22:13:20Z\n    end: 2023-11-14T22:13:19Z\n", 6, "2023-11-14T22:13:19Z"},
		{"duplicate id", head + "    src: 198.18.0.0/15\n  - id: r2\n    label: ddos\n  - id: r1\n    label: scan\n", 8, "r1"},
		{"no label", head + "  - id: r2\n    attack: syn\n", 5, "label"},
		{"bad proto", head + "    proto: sctpx\n", 5, "sctpx"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sub := t.TempDir()
			bad := filepath.Join(sub, "rules.yaml")
			if err := os.WriteFile(bad, []byte(c.content), 0o600); err != nil {
				t.Fatal(err)
			}
			ds := filepath.Join(sub, "ds")
			cmd := exec.Command(tacap, "capture", "--pcap", pcap, "--labels", bad, "-o", ds, "-q")
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := cmd.ProcessState.ExitCode()
			runs, _ := filepath.Glob(filepath.Join(ds, "_runs", "*.json"))
			if c.line == 0 {
				if code != 0 || len(runs) != 1 {
					t.Fatalf("a valid rules file: exit %d (%v), %d runs\n%s%s", code, err, len(runs), stdout.String(), stderr.String())
				}
				return
			}
			if code != 2 {
				t.Errorf("exit %d (%v), want 2\nstderr: %s", code, err, stderr.String())
			}
			where := fmt.Sprintf("%s:%d:", bad, c.line)
			msg := stderr.String()
			_, reason, found := strings.Cut(msg, where)
			if !found {
				t.Errorf("stderr does not hold %q:\n%s\nthe file:\n%s", where, msg, lbNumbered(c.content))
			} else if strings.TrimSpace(reason) == "" || !strings.Contains(reason, c.mention) {
				t.Errorf("the reason after %q does not name %q:\n%s", where, c.mention, msg)
			}
			if len(runs) != 0 {
				t.Errorf("the refused run wrote manifests %v", runs)
			}
			filepath.Walk(ds, func(p string, info os.FileInfo, err error) error {
				if err == nil && !info.IsDir() {
					t.Errorf("the refused run wrote %s", p)
				}
				return nil
			})
		})
	}
}

func lbNumbered(s string) string {
	var b strings.Builder
	for i, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		fmt.Fprintf(&b, "%3d  %s\n", i+1, l)
	}
	return b.String()
}

// TestLabelsDefault: without --labels every row of every table is benign,
// with no attack and no rule; flows' label_packets is 0; the manifest says
// default benign, 0 rules.
func TestLabelsDefault(t *testing.T) {
	testenv.Privileged(t)
	dir := t.TempDir()
	fr := lbBuild(t, lbConvs())
	pcap := filepath.Join(dir, "labels.pcap")
	lbWritePcap(t, pcap, fr)
	ds := filepath.Join(dir, "ds")
	lbCapture(t, "--pcap", pcap, "-o", ds, "--packets-per-session", "0", "--sessions", "1048576", "-q")
	rows := lbReadPackets(t, ds)
	win := make([]int, len(fr))
	for i := range win {
		win[i] = -1
	}
	lbCheckPackets(t, fr, win, nil, "benign", rows)
	lbCheckCSV(t, ds, rows)
	st := lbCheckFlows(t, ds, nil, "benign", rows)
	if st.flows == 0 || st.labelled != 0 {
		t.Errorf("flows: %+v", st)
	}
	lbCheckSessions(t, ds, nil, "benign", rows)
	l := lbManifestLabels(t, ds)
	if l["default"] != "benign" || l["rules"] != float64(0) {
		t.Errorf("manifest labels %v, want default benign and rules 0", l)
	}
	for _, k := range []string{"file", "sha256", "content"} {
		if v, ok := l[k]; ok && v != "" {
			t.Errorf("manifest labels.%s = %#v without a rules file", k, v)
		}
	}
}
