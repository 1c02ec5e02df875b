package labels_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tacap/tacap/dataset"
	"github.com/tacap/tacap/labels"
)

// ---------------------------------------------------------------------------
// The oracle: the contract's matching rules written again, as a linear scan
// over the rules from the last one back, with netip.Prefix.Contains for the
// addresses. It never calls the Matcher.

type refProbe struct {
	src, dst     netip.Addr
	proto        uint8
	sport, dport uint16
}

func (p refProbe) rev() refProbe {
	return refProbe{src: p.dst, dst: p.src, proto: p.proto, sport: p.dport, dport: p.sport}
}

func (p refProbe) tuple() labels.Tuple {
	return labels.TupleOf(p.src, p.dst, p.proto, p.sport, p.dport)
}

func (p refProbe) String() string {
	return fmt.Sprintf("%s:%d > %s:%d proto %d", p.src, p.sport, p.dst, p.dport, p.proto)
}

func refAddrIn(ps []netip.Prefix, a netip.Addr) bool {
	if len(ps) == 0 {
		return true
	}
	for _, p := range ps {
		if p.Contains(a) { // false across IP versions
			return true
		}
	}
	return false
}

// refGiven: the rule matches the packet as given (addresses, ports, protocol).
func refGiven(r *labels.Rule, p refProbe) bool {
	return refAddrIn(r.Src, p.src) && refAddrIn(r.Dst, p.dst) &&
		(r.Proto < 0 || r.Proto == int(p.proto)) &&
		r.Sport.Lo <= p.sport && p.sport <= r.Sport.Hi &&
		r.Dport.Lo <= p.dport && p.dport <= r.Dport.Hi
}

// refInWindow: start inclusive, end exclusive; a rule without a start or
// an end is unbounded on that side.
func refInWindow(r *labels.Rule, ns int64) bool {
	return (r.Start == math.MinInt64 || r.Start <= ns) && (r.End == math.MaxInt64 || ns < r.End)
}

func refPacket(rules []labels.Rule, p refProbe, ns int64) int {
	for i := len(rules) - 1; i >= 0; i-- {
		r := &rules[i]
		if refInWindow(r, ns) && (refGiven(r, p) || r.BothDirections && refGiven(r, p.rev())) {
			return i
		}
	}
	return -1
}

// refSpan: hasFwd and hasBwd say whether the span has packets from the
// tuple's source and to it; a rule must match packets the span has.
func refSpan(rules []labels.Rule, p refProbe, first, last int64, hasFwd, hasBwd bool) (rule int, fwd, bwd, inside bool) {
	for i := len(rules) - 1; i >= 0; i-- {
		r := &rules[i]
		f, rv := refGiven(r, p), refGiven(r, p.rev())
		fwdOK, bwdOK := f || r.BothDirections && rv, rv || r.BothDirections && f
		if !(hasFwd && fwdOK || hasBwd && bwdOK) {
			continue
		}
		if !(r.Start <= last && first < r.End) {
			continue
		}
		return i, f || r.BothDirections && rv, rv || r.BothDirections && f, r.Start <= first && last < r.End
	}
	return -1, false, false, false
}

// ---------------------------------------------------------------------------
// Hand-written tables.

// t0 is 2019-01-12T13:29:00-05:00, the instant the tables' windows use.
var t0 = at(2019, 1, 12, 13, 29, 0, 0, -300)

const sec = int64(time.Second)

type probe struct {
	src, dst     string
	proto        uint8
	sport, dport uint16
	ns           int64
	want         string // the winning rule's id; "" for none
}

// pk is a TCP packet 40000 > 80 at t0.
func pk(src, dst, want string) probe {
	return probe{src: src, dst: dst, proto: 6, sport: 40000, dport: 80, ns: t0, want: want}
}
func (p probe) ports(s, d uint16) probe { p.sport, p.dport = s, d; return p }
func (p probe) ip(proto uint8) probe    { p.proto = proto; return p }
func (p probe) at(ns int64) probe       { p.ns = ns; return p }

func (p probe) ref() refProbe {
	return refProbe{src: netip.MustParseAddr(p.src).Unmap(), dst: netip.MustParseAddr(p.dst).Unmap(), proto: p.proto, sport: p.sport, dport: p.dport}
}

type matchCase struct {
	name   string
	rules  string
	probes []probe
}

var matchCases = []matchCase{
	{
		name:  "v4 prefix edges",
		rules: "rules:\n  - {id: net16, label: x, src: 10.1.0.0/16, both_directions: false}\n",
		probes: []probe{
			pk("10.1.0.0", "192.0.2.1", "net16"),
			pk("10.1.255.255", "192.0.2.1", "net16"),
			pk("10.1.2.3", "192.0.2.1", "net16"),
			pk("10.0.255.255", "192.0.2.1", ""),
			pk("10.2.0.0", "192.0.2.1", ""),
			pk("192.0.2.1", "10.1.2.3", ""), // reversed, not allowed
		},
	},
	{
		name:  "v4 odd prefix lengths",
		rules: "rules:\n  - {id: a, label: x, src: 10.0.2.0/23, dst: 10.0.0.0/7, both_directions: false}\n",
		probes: []probe{
			pk("10.0.2.0", "10.0.0.0", "a"),
			pk("10.0.3.255", "11.255.255.255", "a"),
			pk("10.0.1.255", "11.0.0.0", ""),
			pk("10.0.4.0", "11.0.0.0", ""),
			pk("10.0.3.0", "9.255.255.255", ""),
			pk("10.0.3.0", "12.0.0.0", ""),
		},
	},
	{
		name:  "v4 /32 and /0",
		rules: "rules:\n  - {id: all4, label: x, dst: 0.0.0.0/0}\n  - {id: host, label: y, src: 10.0.0.5/32}\n",
		probes: []probe{
			pk("10.0.0.5", "1.2.3.4", "host"),
			pk("10.0.0.4", "1.2.3.4", "all4"),
			pk("10.0.0.6", "1.2.3.4", "all4"),
			pk("0.0.0.0", "255.255.255.255", "all4"),
			pk("1.2.3.4", "10.0.0.5", "host"), // reversed, allowed by default
			pk("::1", "::2", ""),              // 0.0.0.0/0 is IPv4 only
		},
	},
	{
		name:  "v6 /48 edges",
		rules: "rules:\n  - {id: n48, label: x, src: \"2001:db8:1::/48\", both_directions: false}\n",
		probes: []probe{
			pk("2001:db8:1::", "2001:db8:ffff::1", "n48"),
			pk("2001:db8:1:ffff:ffff:ffff:ffff:ffff", "2001:db8:ffff::1", "n48"),
			pk("2001:db8:1:2::3", "2001:db8:ffff::1", "n48"),
			pk("2001:db8:0:ffff:ffff:ffff:ffff:ffff", "2001:db8:ffff::1", ""),
			pk("2001:db8:2::", "2001:db8:ffff::1", ""),
			pk("2001:db8:ffff::1", "2001:db8:1::1", ""),
		},
	},
	{
		name:  "v6 /65 edges",
		rules: "rules:\n  - {id: n65, label: x, dst: \"2001:db8:0:0:8000::/65\", both_directions: false}\n",
		probes: []probe{
			pk("::1", "2001:db8::8000:0:0:0", "n65"),
			pk("::1", "2001:db8::ffff:ffff:ffff:ffff", "n65"),
			pk("::1", "2001:db8::7fff:ffff:ffff:ffff", ""),
			pk("::1", "2001:db8:0:1::", ""),
		},
	},
	{
		name:  "v6 /128 and /0",
		rules: "rules:\n  - {id: all6, label: x, dst: \"::/0\"}\n  - {id: host6, label: y, src: \"2001:db8::5/128\"}\n",
		probes: []probe{
			pk("2001:db8::5", "2001:db8::9", "host6"),
			pk("2001:db8::4", "2001:db8::9", "all6"),
			pk("2001:db8::6", "2001:db8::9", "all6"),
			pk("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "all6"),
			pk("2001:db8::9", "2001:db8::5", "host6"),
			pk("10.0.0.1", "10.0.0.2", ""), // ::/0 is IPv6 only
		},
	},
	{
		name: "IPv4 and IPv6 never cross",
		rules: `rules:
  - {id: v4, label: x, src: 10.0.0.0/8, dst: 10.0.0.0/8}
  - {id: v6, label: y, src: "a00::/8", dst: "a00::/8"}
`,
		probes: []probe{
			pk("10.0.0.1", "10.9.9.9", "v4"),
			pk("a00::1", "a00::2", "v6"),            // its first bytes are 10.0.0.0/8's
			pk("a00:1::", "aff:ffff::", "v6"),       // and so are these
			pk("::ffff:10.0.0.1", "10.0.0.2", "v4"), // IPv4-mapped counts as IPv4
			pk("b00::1", "a00::2", ""),
			pk("11.0.0.1", "10.0.0.2", ""),
		},
	},
	{
		name: "no addresses match both versions; mixed lists",
		rules: `rules:
  - {id: udp, label: x, proto: udp}
  - {id: mixed, label: y, src: [10.0.0.0/8, "2001:db8::/32"], proto: tcp}
`,
		probes: []probe{
			pk("192.0.2.1", "198.51.100.1", "udp").ip(17),
			pk("2001:db8::1", "fe80::1", "udp").ip(17),
			pk("192.0.2.1", "198.51.100.1", ""),
			pk("10.1.1.1", "198.51.100.1", "mixed"),
			pk("2001:db8:ff::1", "fe80::1", "mixed"),
			pk("2001:db9::1", "fe80::1", ""),
		},
	},
	{
		name: "ports at their edges",
		rules: `rules:
  - {id: d, label: x, dport: 1000-2000, both_directions: false}
  - {id: s, label: x, sport: 65535, both_directions: false}
  - {id: z, label: x, dport: 0, both_directions: false}
`,
		probes: []probe{
			pk("10.0.0.1", "10.0.0.2", "").ports(1, 999),
			pk("10.0.0.1", "10.0.0.2", "d").ports(1, 1000),
			pk("10.0.0.1", "10.0.0.2", "d").ports(1, 1500),
			pk("10.0.0.1", "10.0.0.2", "d").ports(1, 2000),
			pk("10.0.0.1", "10.0.0.2", "").ports(1, 2001),
			pk("10.0.0.1", "10.0.0.2", "s").ports(65535, 1),
			pk("10.0.0.1", "10.0.0.2", "").ports(65534, 1),
			pk("10.0.0.1", "10.0.0.2", "z").ports(65535, 0),
			pk("10.0.0.1", "10.0.0.2", "").ports(0, 1),
			pk("10.0.0.1", "10.0.0.2", "").ports(1000, 1), // sport is not dport
		},
	},
	{
		name: "protocols",
		rules: `rules:
  - {id: tcp, label: x, proto: tcp}
  - {id: p0, label: x, proto: 0}
  - {id: p255, label: x, proto: 255}
  - {id: icmp, label: x, proto: icmp}
  - {id: icmp6, label: x, proto: icmpv6}
`,
		probes: []probe{
			pk("10.0.0.1", "10.0.0.2", "tcp"),
			pk("10.0.0.1", "10.0.0.2", "").ip(17),
			pk("10.0.0.1", "10.0.0.2", "p0").ip(0),
			pk("10.0.0.1", "10.0.0.2", "p255").ip(255),
			pk("10.0.0.1", "10.0.0.2", "icmp").ip(1),
			pk("fe80::1", "ff02::1", "icmp6").ip(58),
			pk("fe80::1", "ff02::1", "").ip(57),
		},
	},
	{
		name: "windows at their edges",
		rules: `rules:
  - {id: w, label: x, dport: 80, start: 2019-01-12T13:29:00-05:00, end: "2019-01-12T18:30:00Z"}
  - {id: s, label: x, dport: 81, start: 2019-01-12T13:29:00-05:00}
  - {id: e, label: x, dport: 82, end: 2019-01-12T23:59:00+05:30}
  - {id: f, label: x, dport: 83, start: 2019-01-12T18:29:00.000000001Z, end: 2019-01-12T18:29:00.000000003Z}
  - {id: n, label: x, dport: 84}
`,
		probes: []probe{
			pk("10.0.0.1", "10.0.0.2", "").at(t0 - 1),
			pk("10.0.0.1", "10.0.0.2", "w").at(t0),
			pk("10.0.0.1", "10.0.0.2", "w").at(t0 + 60*sec - 1),
			pk("10.0.0.1", "10.0.0.2", "").at(t0 + 60*sec),
			pk("10.0.0.1", "10.0.0.2", "").ports(1, 81).at(t0 - 1),
			pk("10.0.0.1", "10.0.0.2", "s").ports(1, 81).at(t0),
			pk("10.0.0.1", "10.0.0.2", "s").ports(1, 81).at(t0 + 100*365*24*3600*sec),
			// 23:59+05:30 is 18:29Z, t0.
			pk("10.0.0.1", "10.0.0.2", "e").ports(1, 82).at(t0 - 1),
			pk("10.0.0.1", "10.0.0.2", "e").ports(1, 82).at(t0 - 100*365*24*3600*sec),
			pk("10.0.0.1", "10.0.0.2", "").ports(1, 82).at(t0),
			pk("10.0.0.1", "10.0.0.2", "").ports(1, 83).at(t0),
			pk("10.0.0.1", "10.0.0.2", "f").ports(1, 83).at(t0 + 1),
			pk("10.0.0.1", "10.0.0.2", "f").ports(1, 83).at(t0 + 2),
			pk("10.0.0.1", "10.0.0.2", "").ports(1, 83).at(t0 + 3),
			pk("10.0.0.1", "10.0.0.2", "n").ports(1, 84).at(math.MinInt64),
			pk("10.0.0.1", "10.0.0.2", "n").ports(1, 84).at(math.MaxInt64),
		},
	},
	{
		name: "both_directions",
		rules: `rules:
  - {id: bd, label: x, src: 10.0.0.1, dst: 10.0.0.2, sport: 1234, dport: 80}
  - {id: one, label: x, src: 10.0.0.3, dst: 10.0.0.4, sport: 1234, dport: 80, both_directions: false}
`,
		probes: []probe{
			pk("10.0.0.1", "10.0.0.2", "bd").ports(1234, 80),
			pk("10.0.0.2", "10.0.0.1", "bd").ports(80, 1234),
			pk("10.0.0.2", "10.0.0.1", "").ports(1234, 80), // addresses reversed only
			pk("10.0.0.1", "10.0.0.2", "").ports(80, 1234), // ports reversed only
			pk("10.0.0.3", "10.0.0.4", "one").ports(1234, 80),
			pk("10.0.0.4", "10.0.0.3", "").ports(80, 1234),
		},
	},
	{
		name: "the last matching rule wins",
		rules: `rules:
  - {id: host, label: h, src: 10.1.2.3}
  - {id: wide, label: a, src: 10.0.0.0/8}
  - {id: mid, label: b, src: 10.1.0.0/16}
  - {id: narrow, label: c, src: 10.1.2.0/24, dport: 80}
  - {id: fwdonly, label: d, src: 192.168.0.0/16, both_directions: false}
  - {id: rev, label: e, dst: 192.168.0.0/16}
`,
		probes: []probe{
			pk("10.1.2.3", "8.8.8.8", "narrow"),
			pk("10.1.2.3", "8.8.8.8", "mid").ports(40000, 81),
			pk("10.2.0.1", "8.8.8.8", "wide"),
			pk("10.1.9.9", "8.8.8.8", "mid"),
			pk("11.0.0.1", "8.8.8.8", ""),
			pk("192.168.1.1", "8.8.8.8", "rev"), // rev matches reversed, and comes later
			pk("8.8.8.8", "192.168.1.1", "rev"),
		},
	},
}

func ruleByID(rs *labels.Rules, id string) *labels.Rule {
	for i := range rs.Rules {
		if rs.Rules[i].ID == id {
			return &rs.Rules[i]
		}
	}
	return nil
}

func TestPacketTable(t *testing.T) {
	for _, c := range matchCases {
		t.Run(c.name, func(t *testing.T) {
			rs, err := labels.Parse("t.yaml", []byte(c.rules))
			if err != nil {
				t.Fatal(err)
			}
			m := labels.NewMatcher(rs)
			sc := m.NewScratch()
			for _, p := range c.probes {
				tu := labels.TupleOf(netip.MustParseAddr(p.src), netip.MustParseAddr(p.dst), p.proto, p.sport, p.dport)
				r := m.Packet(&tu, p.ns, sc)
				if got := m.RuleID(r); got != p.want {
					t.Errorf("%s at %d: rule %q, want %q", p.ref(), p.ns, got, p.want)
					continue
				}
				if ref := refPacket(rs.Rules, p.ref(), p.ns); int(r) != ref {
					t.Errorf("%s at %d: the oracle says rule %d, the matcher %d", p.ref(), p.ns, ref, r)
				}
				wantLabel, wantAttack := rs.Default, ""
				if p.want != "" {
					wantLabel, wantAttack = ruleByID(rs, p.want).Label, ruleByID(rs, p.want).Attack
				}
				if m.Label(r) != wantLabel || m.Attack(r) != wantAttack {
					t.Errorf("%s: Label, Attack = %q, %q, want %q, %q", p.ref(), m.Label(r), m.Attack(r), wantLabel, wantAttack)
				}
			}
		})
	}
}

func TestDefaultLabel(t *testing.T) {
	rs, err := labels.Parse("t.yaml", []byte("default: normal\nrules:\n  - {id: dos, label: attack, attack: DoS, dport: 80}\n  - {id: dns, label: benign, dport: 53}\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := labels.NewMatcher(rs)
	if m.Rules() != rs {
		t.Error("Rules() is not what the matcher was built from")
	}
	sc := m.NewScratch()
	tu := labels.TupleOf(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 6, 1234, 8080)
	r := m.Packet(&tu, t0, sc)
	if r != -1 || m.Label(r) != "normal" || m.Attack(r) != "" || m.RuleID(r) != "" {
		t.Errorf("unmatched: %d %q %q %q, want -1 normal \"\" \"\"", r, m.Label(r), m.Attack(r), m.RuleID(r))
	}
	if r, _, _, _ := m.Span(&tu, t0, t0+sec, true, false, sc); r != -1 {
		t.Errorf("unmatched span: %d", r)
	}
	tu.Dport = 80
	r = m.Packet(&tu, t0, sc)
	if r != 0 || m.Label(r) != "attack" || m.Attack(r) != "DoS" || m.RuleID(r) != "dos" {
		t.Errorf("matched: %d %q %q %q", r, m.Label(r), m.Attack(r), m.RuleID(r))
	}
	tu.Dport = 53
	if r = m.Packet(&tu, t0, sc); r != 1 || m.Label(r) != "benign" || m.Attack(r) != "" || m.RuleID(r) != "dns" {
		t.Errorf("matched: %d %q %q %q", r, m.Label(r), m.Attack(r), m.RuleID(r))
	}

	// No rules file: everything is benign.
	m = labels.NewMatcher(labels.None())
	sc = m.NewScratch()
	for _, tu := range []labels.Tuple{tu, labels.TupleOf(netip.MustParseAddr("::1"), netip.MustParseAddr("::2"), 17, 1, 2)} {
		if r := m.Packet(&tu, t0, sc); r != -1 || m.Label(r) != "benign" {
			t.Errorf("None(): %d %q", r, m.Label(r))
		}
		if r, f, b, in := m.Span(&tu, t0, t0, true, false, sc); r != -1 || f || b || in {
			t.Errorf("None() span: %d %v %v %v", r, f, b, in)
		}
	}
}

type spanProbe struct {
	src, dst         string
	first, last      int64
	want             string
	fwd, bwd, inside bool
	sport, dport     uint16
}

func TestSpanTable(t *testing.T) {
	rs, err := labels.Parse("t.yaml", []byte(`rules:
  - {id: one, label: x, src: 10.0.0.1, dst: 10.0.0.2, both_directions: false, start: 2019-01-12T13:29:00-05:00, end: 2019-01-12T13:30:00-05:00}
  - {id: both, label: y, src: 10.0.0.3, dst: 10.0.0.4}
  - {id: srconly, label: z, src: 10.0.0.5, both_directions: false}
  - {id: srcboth, label: z, src: 10.0.0.6}
  - {id: sym, label: z, src: 10.0.1.0/24, dst: 10.0.1.0/24, both_directions: false}
  - {id: w1, label: a, src: 10.0.2.1, start: 2019-01-12T18:29:00Z, end: 2019-01-12T18:30:40Z}
  - {id: w2, label: b, src: 10.0.2.1, start: 2019-01-12T18:32:20Z, end: 2019-01-12T18:34:00Z}
  - {id: port, label: c, src: 10.0.3.1, sport: 5000, dport: 80, both_directions: false}
`))
	if err != nil {
		t.Fatal(err)
	}
	end := t0 + 60*sec
	cases := []spanProbe{
		{src: "10.0.0.1", dst: "10.0.0.2", first: t0, last: t0 + 59*sec, want: "one", fwd: true, inside: true},
		{src: "10.0.0.1", dst: "10.0.0.2", first: t0, last: end - 1, want: "one", fwd: true, inside: true},
		{src: "10.0.0.1", dst: "10.0.0.2", first: t0 + 10*sec, last: t0 + 10*sec, want: "one", fwd: true, inside: true},
		{src: "10.0.0.1", dst: "10.0.0.2", first: t0, last: end, want: "one", fwd: true},
		{src: "10.0.0.1", dst: "10.0.0.2", first: t0 - 1, last: t0 + 30*sec, want: "one", fwd: true},
		{src: "10.0.0.1", dst: "10.0.0.2", first: t0 - 10*sec, last: t0, want: "one", fwd: true},
		{src: "10.0.0.1", dst: "10.0.0.2", first: t0, last: t0, want: "one", fwd: true, inside: true},
		{src: "10.0.0.1", dst: "10.0.0.2", first: end - 1, last: end + 10*sec, want: "one", fwd: true},
		{src: "10.0.0.1", dst: "10.0.0.2", first: t0 - 2*sec, last: end + 2*sec, want: "one", fwd: true},
		{src: "10.0.0.1", dst: "10.0.0.2", first: t0 - 10*sec, last: t0 - 1},
		{src: "10.0.0.1", dst: "10.0.0.2", first: end, last: end + 10*sec},
		{src: "10.0.0.2", dst: "10.0.0.1", first: t0, last: t0 + sec}, // reversed, not allowed
		{src: "10.0.0.3", dst: "10.0.0.4", first: t0, last: t0 + sec, want: "both", fwd: true, bwd: true, inside: true},
		{src: "10.0.0.4", dst: "10.0.0.3", first: t0, last: t0 + sec, want: "both", fwd: true, bwd: true, inside: true},
		{src: "10.0.0.5", dst: "10.9.9.9", first: t0, last: t0 + sec, want: "srconly", fwd: true, inside: true},
		{src: "10.9.9.9", dst: "10.0.0.5", first: t0, last: t0 + sec},
		{src: "10.0.0.6", dst: "10.9.9.9", first: t0, last: t0 + sec, want: "srcboth", fwd: true, bwd: true, inside: true},
		{src: "10.9.9.9", dst: "10.0.0.6", first: t0, last: t0 + sec, want: "srcboth", fwd: true, bwd: true, inside: true},
		{src: "10.0.1.7", dst: "10.0.1.8", first: t0, last: t0 + sec, want: "sym", fwd: true, bwd: true, inside: true},
		{src: "10.0.1.7", dst: "10.0.2.8", first: t0, last: t0 + sec},
		// w1 is [t0, t0+100s), w2 [t0+200s, t0+300s).
		{src: "10.0.2.1", dst: "10.9.9.9", first: t0 + 50*sec, last: t0 + 250*sec, want: "w2", fwd: true, bwd: true},
		{src: "10.0.2.1", dst: "10.9.9.9", first: t0 + 50*sec, last: t0 + 150*sec, want: "w1", fwd: true, bwd: true},
		{src: "10.0.2.1", dst: "10.9.9.9", first: t0 + 150*sec, last: t0 + 199*sec},
		{src: "10.0.2.1", dst: "10.9.9.9", first: t0 + 100*sec - 1, last: t0 + 200*sec, want: "w2", fwd: true, bwd: true},
		{src: "10.0.2.1", dst: "10.9.9.9", first: t0 + 100*sec, last: t0 + 200*sec - 1},
		{src: "10.9.9.9", dst: "10.0.2.1", first: t0 + 200*sec, last: t0 + 300*sec - 1, want: "w2", fwd: true, bwd: true, inside: true},
		{src: "10.0.2.1", dst: "10.9.9.9", first: t0 - sec, last: t0 + 400*sec, want: "w2", fwd: true, bwd: true},
		// Ports take part in the direction too.
		{src: "10.0.3.1", dst: "10.9.9.9", first: t0, last: t0, sport: 5000, dport: 80, want: "port", fwd: true, inside: true},
		{src: "10.0.3.1", dst: "10.9.9.9", first: t0, last: t0, sport: 80, dport: 5000},
	}
	m := labels.NewMatcher(rs)
	sc := m.NewScratch()
	for _, c := range cases {
		if c.sport == 0 && c.dport == 0 {
			c.sport, c.dport = 40000, 443
		}
		p := refProbe{src: netip.MustParseAddr(c.src), dst: netip.MustParseAddr(c.dst), proto: 6, sport: c.sport, dport: c.dport}
		tu := p.tuple()
		r, f, b, in := m.Span(&tu, c.first, c.last, true, false, sc)
		if m.RuleID(r) != c.want || f != c.fwd || b != c.bwd || in != c.inside {
			t.Errorf("%s [t0%+d, t0%+d]: (%q, %v, %v, %v), want (%q, %v, %v, %v)",
				p, c.first-t0, c.last-t0, m.RuleID(r), f, b, in, c.want, c.fwd, c.bwd, c.inside)
		}
		wr, wf, wb, win := refSpan(rs.Rules, p, c.first, c.last, true, false)
		if int(r) != wr || f != wf || b != wb || in != win {
			t.Errorf("%s: the oracle says (%d, %v, %v, %v), the matcher (%d, %v, %v, %v)", p, wr, wf, wb, win, r, f, b, in)
		}
	}
}

func TestTupleOf(t *testing.T) {
	tu := labels.TupleOf(netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("192.0.2.255"), 17, 53, 40000)
	want := labels.Tuple{Proto: 17, Sport: 53, Dport: 40000}
	copy(want.Src[:], []byte{10, 1, 2, 3})
	copy(want.Dst[:], []byte{192, 0, 2, 255})
	if tu != want {
		t.Errorf("v4: %+v, want %+v", tu, want)
	}
	if mapped := labels.TupleOf(netip.MustParseAddr("::ffff:10.1.2.3"), netip.MustParseAddr("::ffff:192.0.2.255"), 17, 53, 40000); mapped != want {
		t.Errorf("IPv4-mapped: %+v, want %+v", mapped, want)
	}
	tu = labels.TupleOf(netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("fe80::2"), 58, 0, 0)
	want = labels.Tuple{V6: true, Proto: 58,
		Src: [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 1}, Dst: [16]byte{0xfe, 0x80, 15: 2}}
	if tu != want {
		t.Errorf("v6: %+v, want %+v", tu, want)
	}
}

// The row helpers: label, attack, label_rule and label_packets as
// docs/dataset.md "Labels" defines them.
func TestLabelRows(t *testing.T) {
	src := `default: normal
rules:
  - {id: one, label: attack, attack: DoS, src: 10.0.0.1, dst: 10.0.0.2, both_directions: false, start: 2019-01-12T13:29:00-05:00, end: 2019-01-12T13:30:00-05:00}
  - {id: both, label: scan, src: 10.0.0.3}
  - {id: sym, label: x, src: 10.0.1.0/24, dst: 10.0.1.0/24, both_directions: false}
`
	rs, err := labels.Parse("rows.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	info := rs.Info()
	if info.File != "rows.yaml" || info.SHA256 != rs.SHA256 || len(info.SHA256) != 64 || info.Default != "normal" || info.Rules != 3 || info.Content != src {
		t.Errorf("Info() = %+v", info)
	}
	if info := labels.None().Info(); info.File != "" || info.SHA256 != "" || info.Default != "benign" || info.Rules != 0 || info.Content != "" {
		t.Errorf("None().Info() = %+v", info)
	}
	m := labels.NewMatcher(rs)
	sc := m.NewScratch()
	end := t0 + 60*sec
	tuple := func(s, d string) labels.Tuple {
		return labels.TupleOf(netip.MustParseAddr(s), netip.MustParseAddr(d), 6, 40000, 80)
	}
	n := func(v int64) *int64 { return &v }

	for _, c := range []struct {
		src, dst              string
		ns                    int64
		label, attack, ruleID string
	}{
		{"10.0.0.1", "10.0.0.2", t0, "attack", "DoS", "one"},
		{"10.0.0.1", "10.0.0.2", end, "normal", "", ""},
		{"10.0.0.2", "10.0.0.1", t0, "normal", "", ""},
		{"10.9.9.9", "10.0.0.3", end, "scan", "", "both"},
	} {
		p := dataset.Packet{TsNs: c.ns}
		tu := tuple(c.src, c.dst)
		m.LabelPacket(&p, &tu, sc)
		if p.Label != c.label || p.Attack != c.attack || p.LabelRule != c.ruleID {
			t.Errorf("packet %s > %s at t0%+d: %q %q %q, want %q %q %q", c.src, c.dst, c.ns-t0, p.Label, p.Attack, p.LabelRule, c.label, c.attack, c.ruleID)
		}
	}

	for _, c := range []struct {
		src, dst      string
		first, last   int64
		label, ruleID string
		packets       *int64
	}{
		{"10.0.0.1", "10.0.0.2", t0, t0 + 10*sec, "attack", "one", n(5)}, // one way: fwd only
		{"10.0.0.1", "10.0.0.2", t0, end - 1, "attack", "one", n(5)},
		{"10.0.0.1", "10.0.0.2", t0 - 1, t0 + 10*sec, "attack", "one", nil}, // straddles the start
		{"10.0.0.1", "10.0.0.2", t0 + 10*sec, end, "attack", "one", nil},    // and the end
		{"10.0.0.1", "10.0.0.2", end, end + sec, "normal", "", n(0)},
		{"10.0.0.3", "10.9.9.9", t0, t0, "scan", "both", n(12)},
		{"10.9.9.9", "10.0.0.3", t0, t0, "scan", "both", n(12)},
		{"10.0.1.1", "10.0.1.2", t0, t0, "x", "sym", n(12)}, // one way, but both ways match
		{"10.9.9.9", "10.9.9.8", t0, t0, "normal", "", n(0)},
	} {
		f := dataset.Flow{FirstTsNs: c.first, LastTsNs: c.last, FwdPackets: 5, BwdPackets: 7}
		tu := tuple(c.src, c.dst)
		m.LabelFlow(&f, &tu, sc)
		if f.Label != c.label || f.LabelRule != c.ruleID || (f.LabelPackets == nil) != (c.packets == nil) ||
			f.LabelPackets != nil && *f.LabelPackets != *c.packets {
			got, want := "null", "null"
			if f.LabelPackets != nil {
				got = fmt.Sprint(*f.LabelPackets)
			}
			if c.packets != nil {
				want = fmt.Sprint(*c.packets)
			}
			t.Errorf("flow %s > %s [t0%+d, t0%+d]: %q %q label_packets %s, want %q %q %s",
				c.src, c.dst, c.first-t0, c.last-t0, f.Label, f.LabelRule, got, c.label, c.ruleID, want)
		}
	}

	// Sessions: whole microseconds, [first_ts, last_ts + 999 ns].
	if f, l := labels.SessionSpan(5, 7); f != 5000 || l != 7999 {
		t.Errorf("SessionSpan(5, 7) = %d, %d", f, l)
	}
	us := func(ns int64) int64 { return ns / 1000 }
	for _, c := range []struct {
		firstUs, lastUs int64
		ruleID          string
	}{
		{us(t0) - 10, us(t0) - 1, ""}, // ends 1 ns before the start
		{us(t0) - 10, us(t0), "one"},  // its last microsecond holds the start
		{us(end) - 1, us(end) + 5, "one"},
		{us(end), us(end) + 5, ""},
	} {
		s := dataset.Session{FirstTs: c.firstUs, LastTs: c.lastUs}
		tu := tuple("10.0.0.1", "10.0.0.2")
		m.LabelSession(&s, &tu, false, sc)
		if s.LabelRule != c.ruleID {
			t.Errorf("session [%d, %d] µs: rule %q, want %q", c.firstUs-us(t0), c.lastUs-us(t0), s.LabelRule, c.ruleID)
		}
	}
}

// ---------------------------------------------------------------------------
// Random rules and packets, against the oracle.

var (
	pool4 = addrs("10.0.0.0", "10.0.1.0", "10.1.0.0", "192.168.1.0", "172.16.0.0", "0.0.0.0", "255.255.255.255")
	pool6 = addrs("2001:db8::", "2001:db8:0:1::", "fe80::", "::", "::1", "a00::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
	// a00:: holds 10.0.0.0's bytes: the IPv6 trie must not see IPv4 rules.
	portPool  = []uint16{0, 1, 2, 21, 22, 23, 53, 79, 80, 81, 443, 1023, 1024, 1025, 8080, 32767, 32768, 49151, 65534, 65535}
	protoPool = []int{0, 1, 6, 17, 47, 58, 255}
	labelPool = []string{"benign", "DoS", "PortScan", "Bot", "Infiltration"}
	zones     = []*time.Location{time.UTC, time.FixedZone("", -5*3600), time.FixedZone("", 5*3600+1800), time.FixedZone("", 14*3600), time.FixedZone("", -12*3600)}
)

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, x := range s {
		out = append(out, netip.MustParseAddr(x))
	}
	return out
}

// step is the time grid's spacing: not a whole second, so that the rules'
// times carry fractions.
const step = int64(time.Second) + 7

type gen struct {
	r      *rand.Rand
	v4only bool
}

func newGen(seed uint64) *gen { return &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))} }

func (g *gen) coin() bool { return g.r.IntN(2) == 0 }

func (g *gen) v6() bool { return !g.v4only && g.r.IntN(10) < 4 }

// addr is a pool address with a few bits flipped, mostly low ones.
func (g *gen) addr(v6 bool) netip.Addr {
	pool := pool4
	if v6 {
		pool = pool6
	}
	b := pool[g.r.IntN(len(pool))].AsSlice()
	n := len(b) * 8
	for range g.r.IntN(4) {
		pos := n - 1 - g.r.IntN(1+g.r.IntN(n))
		b[pos/8] ^= 0x80 >> (pos % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func (g *gen) prefix(v6 bool) netip.Prefix {
	a := g.addr(v6)
	n := a.BitLen()
	bits := g.r.IntN(n + 1)
	if g.coin() { // mostly long
		bits = n - g.r.IntN(1+g.r.IntN(n+1))
	}
	p, _ := a.Prefix(bits)
	return p
}

func (g *gen) prefixes() []netip.Prefix {
	if g.r.IntN(10) < 4 {
		return nil
	}
	var ps []netip.Prefix
	for range 1 + g.r.IntN(3) {
		ps = append(ps, g.prefix(g.v6()))
	}
	return ps
}

func (g *gen) port() uint16 {
	if g.r.IntN(4) == 0 {
		return uint16(g.r.IntN(65536))
	}
	p := int(portPool[g.r.IntN(len(portPool))]) + g.r.IntN(3) - 1
	return uint16(min(max(p, 0), 65535))
}

func (g *gen) portRange() labels.PortRange {
	if g.r.IntN(3) == 0 {
		return labels.AnyPort
	}
	a, b := g.port(), g.port()
	if g.r.IntN(3) == 0 {
		b = a
	}
	return labels.PortRange{Lo: min(a, b), Hi: max(a, b)}
}

func grid(k int) int64 { return t0 + int64(k)*step }

func (g *gen) window() (int64, int64) {
	start, end := int64(math.MinInt64), int64(math.MaxInt64)
	switch g.r.IntN(4) {
	case 1:
		start = grid(g.r.IntN(41))
	case 2:
		end = grid(g.r.IntN(41))
	case 3:
		a, b := g.r.IntN(41), g.r.IntN(41)
		if a == b {
			b++
		}
		start, end = grid(min(a, b)), grid(max(a, b))
	}
	return start, end
}

func (g *gen) rule(i int) labels.Rule {
	r := labels.Rule{ID: fmt.Sprintf("r%d", i), Label: labelPool[g.r.IntN(len(labelPool))],
		Src: g.prefixes(), Dst: g.prefixes(), Proto: -1, Sport: g.portRange(), Dport: g.portRange(),
		BothDirections: g.r.IntN(3) != 0}
	if g.coin() {
		r.Attack = fmt.Sprintf("attack %d", g.r.IntN(5))
	}
	if g.r.IntN(10) < 6 {
		r.Proto = protoPool[g.r.IntN(len(protoPool))]
	}
	r.Start, r.End = g.window()
	if r.Src == nil && r.Dst == nil && r.Dport == labels.AnyPort {
		// Few rules match everything, so that the last rules do not
		// decide every packet of a long list.
		r.Dport.Hi = r.Dport.Lo + uint16(g.r.IntN(100))
	}
	return r
}

func (g *gen) rules(n int) []labels.Rule {
	rs := make([]labels.Rule, n)
	for i := range rs {
		rs[i] = g.rule(i)
	}
	return rs
}

func (g *gen) time() int64 {
	if g.r.IntN(5) == 0 {
		return grid(-5) + g.r.Int64N(50*step)
	}
	return grid(g.r.IntN(45)-2) + int64(g.r.IntN(3)-1)
}

// span is a [first, last] starting at first.
func (g *gen) span(first int64) int64 {
	switch g.r.IntN(5) {
	case 0:
		return first
	case 1:
		return first + int64(g.r.IntN(3))
	case 2:
		return max(first, first+int64(g.r.IntN(10))*step+int64(g.r.IntN(3)-1))
	}
	return first + g.r.Int64N(20*step)
}

// inside is a random address of the prefix.
func (g *gen) inside(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for bit := p.Bits(); bit < len(b)*8; bit++ {
		if g.coin() {
			b[bit/8] ^= 0x80 >> (bit % 8)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func (g *gen) addrFor(ps []netip.Prefix, v6 bool) netip.Addr {
	var fit []netip.Prefix
	for _, p := range ps {
		if p.Addr().Is6() == v6 {
			fit = append(fit, p)
		}
	}
	if len(fit) == 0 || g.r.IntN(8) == 0 {
		return g.addr(v6)
	}
	return g.inside(fit[g.r.IntN(len(fit))])
}

func (g *gen) inRange(r labels.PortRange) uint16 {
	switch g.r.IntN(6) {
	case 0:
		return r.Lo
	case 1:
		return r.Hi
	case 2:
		return g.port()
	}
	return r.Lo + uint16(g.r.IntN(int(r.Hi-r.Lo)+1))
}

// probe is a random packet: half aimed at a rule (close to matching it,
// maybe reversed), half anywhere.
func (g *gen) probe(rules []labels.Rule) (refProbe, int64) {
	if len(rules) == 0 || g.coin() {
		v6 := g.v6()
		p := refProbe{src: g.addr(v6), dst: g.addr(v6), sport: g.port(), dport: g.port()}
		p.proto = uint8(protoPool[g.r.IntN(len(protoPool))])
		if g.r.IntN(5) == 0 {
			p.proto = uint8(g.r.IntN(256))
		}
		return p, g.time()
	}
	r := &rules[g.r.IntN(len(rules))]
	v6 := g.v6()
	switch {
	case len(r.Src) > 0:
		v6 = r.Src[g.r.IntN(len(r.Src))].Addr().Is6()
	case len(r.Dst) > 0:
		v6 = r.Dst[g.r.IntN(len(r.Dst))].Addr().Is6()
	}
	p := refProbe{src: g.addrFor(r.Src, v6), dst: g.addrFor(r.Dst, v6), sport: g.inRange(r.Sport), dport: g.inRange(r.Dport)}
	p.proto = uint8(r.Proto)
	if r.Proto < 0 || g.r.IntN(10) == 0 {
		p.proto = uint8(protoPool[g.r.IntN(len(protoPool))])
	}
	ns := g.time()
	if r.Windowed() && g.r.IntN(4) != 0 {
		lo, hi := r.Start, r.End
		if lo == math.MinInt64 {
			lo = grid(-3)
		}
		if hi == math.MaxInt64 {
			hi = grid(45)
		}
		if hi-lo <= 0 { // far from the grid (and hi-lo may overflow)
			lo, hi = r.Start, r.Start+1
		}
		switch g.r.IntN(5) {
		case 0:
			ns = lo
		case 1:
			ns = hi - 1
		case 2:
			ns = hi
		default:
			ns = lo + g.r.Int64N(hi-lo)
		}
	}
	if g.coin() {
		p = p.rev()
	}
	return p, ns
}

var protoNames = map[int]string{6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6"}

// render writes rules as a rules file, varying the forms the contract allows.
func render(def string, rules []labels.Rule, r *rand.Rand) string {
	var b strings.Builder
	coin := func() bool { return r.IntN(2) == 0 }
	fmt.Fprintf(&b, "default: %s\nrules:\n", def)
	addrs := func(key string, ps []netip.Prefix) {
		if len(ps) == 0 {
			return
		}
		one := func(p netip.Prefix) string {
			if p.IsSingleIP() && coin() {
				return `"` + p.Addr().String() + `"`
			}
			return `"` + p.String() + `"`
		}
		switch {
		case len(ps) == 1 && coin():
			fmt.Fprintf(&b, "    %s: %s\n", key, one(ps[0]))
		case coin():
			var s []string
			for _, p := range ps {
				s = append(s, one(p))
			}
			fmt.Fprintf(&b, "    %s: [%s]\n", key, strings.Join(s, ", "))
		default:
			fmt.Fprintf(&b, "    %s:\n", key)
			for _, p := range ps {
				fmt.Fprintf(&b, "      - %s\n", one(p))
			}
		}
	}
	ports := func(key string, pr labels.PortRange) {
		switch {
		case pr == labels.AnyPort && coin():
		case pr.Lo == pr.Hi && coin():
			fmt.Fprintf(&b, "    %s: %d\n", key, pr.Lo)
		default:
			fmt.Fprintf(&b, "    %s: %d-%d\n", key, pr.Lo, pr.Hi)
		}
	}
	when := func(key string, ns int64) {
		s := time.Unix(0, ns).In(zones[r.IntN(len(zones))]).Format(time.RFC3339Nano)
		if coin() {
			s = `"` + s + `"`
		}
		fmt.Fprintf(&b, "    %s: %s\n", key, s)
	}
	for _, x := range rules {
		fmt.Fprintf(&b, "  - id: %s\n    label: %s\n", x.ID, x.Label)
		if x.Attack != "" {
			fmt.Fprintf(&b, "    attack: %s\n", x.Attack)
		}
		addrs("src", x.Src)
		addrs("dst", x.Dst)
		if x.Proto >= 0 {
			if name, ok := protoNames[x.Proto]; ok && coin() {
				fmt.Fprintf(&b, "    proto: %s\n", name)
			} else {
				fmt.Fprintf(&b, "    proto: %d\n", x.Proto)
			}
		}
		ports("sport", x.Sport)
		ports("dport", x.Dport)
		if x.Start != math.MinInt64 {
			when("start", x.Start)
		}
		if x.End != math.MaxInt64 {
			when("end", x.End)
		}
		if !x.BothDirections || coin() {
			fmt.Fprintf(&b, "    both_directions: %v\n", x.BothDirections)
		}
	}
	return b.String()
}

type oracleStats struct {
	packets, matched, spans, spanMatched, oneWay, inside, outside, viaReverse int
	words                                                                     map[int]bool // the bitset words (rule/64) of the packets' winners
}

// compareWithOracle builds a matcher from the rendered and parsed rules and
// checks n random packets and spans against the oracle run on the rules as
// generated.
func compareWithOracle(t *testing.T, g *gen, rules []labels.Rule, n int) oracleStats {
	t.Helper()
	src := render("background", rules, g.r)
	rs, err := labels.Parse("random.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse of the rendered rules: %v\n%s", err, src)
	}
	if len(rs.Rules) != len(rules) {
		t.Fatalf("%d rules parsed, %d written", len(rs.Rules), len(rules))
	}
	for i := range rules {
		got := rs.Rules[i]
		got.Line = 0
		if !ruleEqual(got, rules[i]) {
			t.Fatalf("rule %d parsed as\n %s\nwritten as\n %s", i, fmtRule(got), fmtRule(rules[i]))
		}
	}
	m := labels.NewMatcher(rs)
	sc := m.NewScratch()
	st := oracleStats{words: map[int]bool{}}
	bad := 0
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf(format, args...)
		if bad++; bad >= 10 {
			t.Fatal("too many differences")
		}
	}
	for range n {
		p, ns := g.probe(rules)
		tu := p.tuple()
		want := refPacket(rules, p, ns)
		got := m.Packet(&tu, ns, sc)
		st.packets++
		if want >= 0 {
			st.matched++
			st.words[want/64] = true
		}
		if int(got) != want {
			fail("Packet(%s, t0%+d) = %d, the oracle says %d", p, ns-t0, got, want)
		} else if want >= 0 && (m.Label(got) != rules[want].Label || m.Attack(got) != rules[want].Attack || m.RuleID(got) != rules[want].ID) {
			fail("rule %d: Label/Attack/RuleID = %q/%q/%q", want, m.Label(got), m.Attack(got), m.RuleID(got))
		} else if want < 0 && (m.Label(got) != "background" || m.Attack(got) != "" || m.RuleID(got) != "") {
			fail("unmatched: Label/Attack/RuleID = %q/%q/%q", m.Label(got), m.Attack(got), m.RuleID(got))
		}

		first := ns
		last := g.span(first)
		hasFwd, hasBwd := g.r.IntN(3) != 0, g.r.IntN(2) == 0 // a flow first seen as a SYN-ACK may have no fwd packets
		wr, wf, wb, win := refSpan(rules, p, first, last, hasFwd, hasBwd)
		r, f, b, in := m.Span(&tu, first, last, hasFwd, hasBwd, sc)
		st.spans++
		if wr >= 0 {
			st.spanMatched++
			if wf != wb {
				st.oneWay++
			}
			if win {
				st.inside++
			} else {
				st.outside++
			}
			if !refGiven(&rules[wr], p) {
				st.viaReverse++
			}
		}
		if int(r) != wr || f != wf || b != wb || in != win {
			fail("Span(%s, [t0%+d, t0%+d], fwd %v bwd %v) = (%d, %v, %v, %v), the oracle says (%d, %v, %v, %v)",
				p, first-t0, last-t0, hasFwd, hasBwd, r, f, b, in, wr, wf, wb, win)
		}
	}
	return st
}

func TestMatcherAgainstOracle(t *testing.T) {
	probes := 20000
	if testing.Short() {
		probes = 3000
	}
	for _, n := range []int{0, 1, 2, 63, 64, 65, 127, 128, 129, 200, 1000} {
		for _, seed := range []uint64{1, 2} {
			t.Run(fmt.Sprintf("rules=%d/seed=%d", n, seed), func(t *testing.T) {
				g := newGen(seed<<32 | uint64(n))
				st := compareWithOracle(t, g, g.rules(n), probes)
				t.Logf("%+v", st)
				if words := (n + 63) / 64; len(st.words) < (words+1)/2 {
					t.Errorf("the winners fall in %d of the %d words", len(st.words), words)
				}
				// The probes must exercise what they check.
				if n >= 63 {
					if st.matched < st.packets/10 || st.matched == st.packets {
						t.Errorf("%d of %d packets matched a rule", st.matched, st.packets)
					}
					if st.oneWay == 0 || st.inside == 0 || st.outside == 0 || st.viaReverse == 0 || st.spanMatched == st.spans {
						t.Errorf("spans do not cover every case: %+v", st)
					}
				}
			})
		}
	}
}

// Rules that all share one shape, at the bitsets' word boundaries: the
// winner is then decided by the index alone.
func TestMatcherWordBoundaries(t *testing.T) {
	for _, n := range []int{1, 63, 64, 65, 128, 129, 1000} {
		rules := make([]labels.Rule, n)
		for i := range rules {
			rules[i] = newRule(fmt.Sprintf("r%d", i), "x", i+1)
			rules[i].Dport = labels.PortRange{Lo: uint16(i), Hi: uint16(i)} // rule i alone
		}
		rules[0].Dport = labels.AnyPort
		m := labels.NewMatcher(&labels.Rules{Default: "d", Rules: rules})
		sc := m.NewScratch()
		for i := range n + 1 {
			tu := labels.TupleOf(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), 6, 65535, uint16(i))
			want := labels.Result(i)
			if i == n {
				want = 0
			}
			if got := m.Packet(&tu, 0, sc); got != want {
				t.Errorf("n=%d dport %d: Packet = %d, want %d", n, i, got, want)
			}
			if got, f, b, in := m.Span(&tu, 0, 1, true, false, sc); got != want || !f || !b || !in {
				t.Errorf("n=%d dport %d: Span = %d %v %v %v, want %d true true true", n, i, got, f, b, in, want)
			}
		}
	}
}

// A Matcher is shared by goroutines, each with its own Scratch.
func TestMatcherShared(t *testing.T) {
	g := newGen(99)
	rules := g.rules(200)
	m := labels.NewMatcher(&labels.Rules{Default: "d", Rules: rules})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := newGen(uint64(1000 + w))
			sc := m.NewScratch()
			for range 2000 {
				p, ns := g.probe(rules)
				tu := p.tuple()
				if got, want := m.Packet(&tu, ns, sc), refPacket(rules, p, ns); int(got) != want {
					t.Errorf("goroutine %d: Packet(%s) = %d, want %d", w, p, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestMatchAllocatesNothing(t *testing.T) {
	g := newGen(7)
	rules := g.rules(300)
	m := labels.NewMatcher(&labels.Rules{Default: "d", Rules: rules})
	sc := m.NewScratch()
	p, ns := g.probe(rules)
	tu := p.tuple()
	if a := testing.AllocsPerRun(200, func() {
		m.Packet(&tu, ns, sc)
		m.Span(&tu, ns, ns+10*step, true, false, sc)
	}); a != 0 {
		t.Errorf("%v allocations per Packet+Span", a)
	}
}

// ---------------------------------------------------------------------------
// Benchmarks: the matcher beside the oracle's linear scan on the same rules
// and packets.
//
//	go test ./labels -run '^$' -bench Packet

// benchSetup: n IPv4 rules, each with a source prefix (/8 to /32), most
// with a destination, ports and a window, and packets half aimed at a rule
// (near it, maybe reversed) and half anywhere; about half match a rule.
func benchSetup(n int) ([]labels.Rule, []refProbe, []int64) {
	g := newGen(uint64(n))
	g.v4only = true
	rules := g.rules(n)
	for i := range rules {
		r := &rules[i]
		p := g.prefix(false)
		p, _ = p.Addr().Prefix(8 + g.r.IntN(25))
		r.Src = []netip.Prefix{p}
	}
	probes := make([]refProbe, 4096)
	times := make([]int64, len(probes))
	for i := range probes {
		probes[i], times[i] = g.probe(rules)
	}
	return rules, probes, times
}

func reportHits(b *testing.B, rules []labels.Rule, probes []refProbe, times []int64) {
	hits := 0
	for i, p := range probes {
		if refPacket(rules, p, times[i]) >= 0 {
			hits++
		}
	}
	b.ReportMetric(100*float64(hits)/float64(len(probes)), "%matched")
}

func BenchmarkPacket(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			rules, probes, times := benchSetup(n)
			defer reportHits(b, rules, probes, times) // after b.Loop, which resets the metrics
			m := labels.NewMatcher(&labels.Rules{Default: "benign", Rules: rules})
			sc := m.NewScratch()
			tuples := make([]labels.Tuple, len(probes))
			for i, p := range probes {
				tuples[i] = p.tuple()
			}
			i := 0
			for b.Loop() {
				k := i & (len(tuples) - 1)
				m.Packet(&tuples[k], times[k], sc)
				i++
			}
		})
	}
}

func BenchmarkPacketOracle(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			rules, probes, times := benchSetup(n)
			defer reportHits(b, rules, probes, times) // after b.Loop, which resets the metrics
			i := 0
			for b.Loop() {
				k := i & (len(probes) - 1)
				refPacket(rules, probes[k], times[k])
				i++
			}
		})
	}
}

// TestTupleOfMixedFamilies: a damaged row (an IPv4 source and an IPv6
// destination, or an unparsable address) neither panics nor matches a
// rule of either family.
func TestTupleOfMixedFamilies(t *testing.T) {
	rs, err := labels.Parse("r", []byte("rules:\n  - id: v4\n    label: x\n    src: 10.0.0.0/8\n  - id: v6\n    label: y\n    dst: ::/0\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := labels.NewMatcher(rs)
	sc := m.NewScratch()
	for _, c := range [][2]netip.Addr{
		{netip.MustParseAddr("10.1.1.1"), netip.MustParseAddr("2001:db8::1")},
		{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("10.1.1.1")},
		{{}, netip.MustParseAddr("10.1.1.1")},
		{{}, {}},
	} {
		tu := labels.TupleOf(c[0], c[1], 6, 1, 2)
		if r := m.Packet(&tu, 0, sc); r >= 0 && m.RuleID(r) == "v4" {
			t.Errorf("%v → %v matched the IPv4 rule", c[0], c[1])
		}
	}
}

// TestSpanReplyOnly: a flow whose source is the destination of a rule of
// one direction is labelled by it when it has packets of that direction
// (its replies), with label_packets counting only those; without such
// packets the rule does not label it.
func TestSpanReplyOnly(t *testing.T) {
	rs, err := labels.Parse("r", []byte("rules:\n  - id: a2b\n    label: x\n    src: 10.0.0.1\n    dst: 10.0.0.2\n    both_directions: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := labels.NewMatcher(rs)
	sc := m.NewScratch()
	tu := labels.TupleOf(netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.1"), 6, 80, 4000) // oriented B → A
	if r, n := m.Flow(&tu, 0, 10, 3, 5, sc); m.RuleID(r) != "a2b" || n != 5 {
		t.Errorf("flow B→A with 5 replies A→B: rule %q, label_packets %d; want a2b, 5", m.RuleID(r), n)
	}
	if r, n := m.Flow(&tu, 0, 10, 3, 0, sc); r != -1 || n != 0 {
		t.Errorf("flow B→A without replies: rule %q, label_packets %d; want none, 0", m.RuleID(r), n)
	}
	if r := m.Session(&tu, 0, 0, false, sc); r != -1 {
		t.Errorf("one-way session B→A labelled %q by a rule of A→B", m.RuleID(r))
	}
	if r := m.Session(&tu, 0, 0, true, sc); m.RuleID(r) != "a2b" {
		t.Errorf("bidirectional session B→A: %q, want a2b", m.RuleID(r))
	}
}
