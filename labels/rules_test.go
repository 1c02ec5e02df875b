package labels_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tacap/tacap/labels"
)

// The expectations below are written by hand from the contract (rule keys,
// defaults, RFC 3339 instants worked out with time.Date, not time.Parse).

// at is the instant of a wall-clock time at a UTC offset of offMin minutes,
// in nanoseconds since the epoch.
func at(y, mo, d, h, mi, s, ns, offMin int) int64 {
	return time.Date(y, time.Month(mo), d, h, mi, s, ns, time.FixedZone("", offMin*60)).UnixNano()
}

func pfx(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, x := range s {
		out = append(out, netip.MustParsePrefix(x))
	}
	return out
}

// newRule is a rule with every optional key left out.
func newRule(id, label string, line int) labels.Rule {
	return labels.Rule{ID: id, Label: label, Proto: -1, Sport: labels.AnyPort, Dport: labels.AnyPort,
		Start: math.MinInt64, End: math.MaxInt64, BothDirections: true, Line: line}
}

func with(r labels.Rule, f func(*labels.Rule)) labels.Rule { f(&r); return r }

func ruleEqual(a, b labels.Rule) bool {
	return a.ID == b.ID && a.Label == b.Label && a.Attack == b.Attack &&
		slices.Equal(a.Src, b.Src) && slices.Equal(a.Dst, b.Dst) && a.Proto == b.Proto &&
		a.Sport == b.Sport && a.Dport == b.Dport && a.Start == b.Start && a.End == b.End &&
		a.BothDirections == b.BothDirections && a.Line == b.Line
}

func fmtRule(r labels.Rule) string {
	return fmt.Sprintf("{id=%q label=%q attack=%q src=%v dst=%v proto=%d sport=%v dport=%v start=%d end=%d both=%v line=%d}",
		r.ID, r.Label, r.Attack, r.Src, r.Dst, r.Proto, r.Sport, r.Dport, r.Start, r.End, r.BothDirections, r.Line)
}

func checkRules(t *testing.T, got *labels.Rules, wantDefault string, want []labels.Rule) {
	t.Helper()
	if got.Default != wantDefault {
		t.Errorf("Default = %q, want %q", got.Default, wantDefault)
	}
	if len(got.Rules) != len(want) {
		t.Fatalf("%d rules, want %d: %v", len(got.Rules), len(want), got.Rules)
	}
	for i := range want {
		if !ruleEqual(got.Rules[i], want[i]) {
			t.Errorf("rule %d:\n got  %s\n want %s", i, fmtRule(got.Rules[i]), fmtRule(want[i]))
		}
	}
}

func readExample(t testing.TB) []byte {
	b, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type validCase struct {
	name    string
	src     string
	def     string
	want    []labels.Rule
	windows []bool // Windowed() of each rule, when checked
}

func validCases(t testing.TB) []validCase {
	return []validCase{
		{name: "empty file", src: "", def: "benign"},
		{name: "comments only", src: "# nothing yet\n\n# still nothing\n", def: "benign"},
		{name: "default only", src: "default: normal\n", def: "normal"},
		{name: "rules null", src: "default: BENIGN\nrules:\n", def: "BENIGN"},
		{name: "rules empty list", src: "rules: []\n", def: "benign"},
		{name: "minimal rule", src: "rules:\n  - id: a\n    label: x\n", def: "benign",
			want: []labels.Rule{newRule("a", "x", 2)}, windows: []bool{false}},
		{
			name: "every key, scalars",
			src: `default: normal
rules:
  - id: dos-hulk
    label: attack
    attack: DoS Hulk
    src: 172.16.0.1
    dst: 192.168.10.0/24
    proto: tcp
    sport: 1024-65535
    dport: 80
    start: 2019-01-12T13:29:00-05:00
    end: 2019-01-12T19:00:00Z
    both_directions: false
`,
			def: "normal",
			want: []labels.Rule{with(newRule("dos-hulk", "attack", 3), func(r *labels.Rule) {
				r.Attack = "DoS Hulk"
				r.Src, r.Dst = pfx("172.16.0.1/32"), pfx("192.168.10.0/24")
				r.Proto = 6
				r.Sport, r.Dport = labels.PortRange{Lo: 1024, Hi: 65535}, labels.PortRange{Lo: 80, Hi: 80}
				r.Start, r.End = at(2019, 1, 12, 13, 29, 0, 0, -300), at(2019, 1, 12, 19, 0, 0, 0, 0)
				r.BothDirections = false
			})},
			windows: []bool{true},
		},
		{
			name: "lists block and flow, v4 and v6",
			src: `rules:
  - id: l
    label: x
    src:
      - 10.0.0.0/8
      - 2001:db8::/32
      - 192.0.2.7
      - 2001:db8::1
    dst: [0.0.0.0/0, "::/0", '198.51.100.0/31']
`,
			def: "benign",
			want: []labels.Rule{with(newRule("l", "x", 2), func(r *labels.Rule) {
				r.Src = pfx("10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32", "2001:db8::1/128")
				r.Dst = pfx("0.0.0.0/0", "::/0", "198.51.100.0/31")
			})},
		},
		{
			name: "bare addresses are host prefixes",
			src:  "rules:\n  - id: h\n    label: x\n    src: 10.1.2.3\n    dst: '::1'\n  - {id: m, label: x, src: '::ffff:10.1.2.4'}\n",
			def:  "benign",
			want: []labels.Rule{
				with(newRule("h", "x", 2), func(r *labels.Rule) { r.Src, r.Dst = pfx("10.1.2.3/32"), pfx("::1/128") }),
				// An IPv4-mapped address is the IPv4 host, as in TupleOf.
				with(newRule("m", "x", 6), func(r *labels.Rule) { r.Src = pfx("10.1.2.4/32") }),
			},
		},
		{
			name: "edge prefixes /32 /128 /0",
			src:  "rules:\n  - id: e\n    label: x\n    src: [10.1.2.3/32, 2001:db8::5/128]\n    dst: [0.0.0.0/0]\n",
			def:  "benign",
			want: []labels.Rule{with(newRule("e", "x", 2), func(r *labels.Rule) {
				r.Src, r.Dst = pfx("10.1.2.3/32", "2001:db8::5/128"), pfx("0.0.0.0/0")
			})},
		},
		{
			name: "protos by name and number",
			src: `rules:
  - {id: p1, label: x, proto: tcp}
  - {id: p2, label: x, proto: udp}
  - {id: p3, label: x, proto: icmp}
  - {id: p4, label: x, proto: icmpv6}
  - {id: p5, label: x, proto: 0}
  - {id: p6, label: x, proto: 255}
  - {id: p7, label: x, proto: "47"}
  - {id: p8, label: x, proto: TCP}
`,
			def: "benign",
			want: func() []labels.Rule {
				var rs []labels.Rule
				for i, p := range []int{6, 17, 1, 58, 0, 255, 47, 6} {
					rs = append(rs, with(newRule(fmt.Sprintf("p%d", i+1), "x", i+2), func(r *labels.Rule) { r.Proto = p }))
				}
				return rs
			}(),
		},
		{
			name: "ports and ranges",
			src: `rules:
  - {id: a, label: x, sport: 0, dport: 65535}
  - {id: b, label: x, sport: 0-65535, dport: 80-80}
  - {id: c, label: x, sport: "1000-2000", dport: '443'}
  - id: d
    label: x
    sport: 65534-65535
    dport: 0-1
`,
			def: "benign",
			want: []labels.Rule{
				with(newRule("a", "x", 2), func(r *labels.Rule) {
					r.Sport, r.Dport = labels.PortRange{Lo: 0, Hi: 0}, labels.PortRange{Lo: 65535, Hi: 65535}
				}),
				with(newRule("b", "x", 3), func(r *labels.Rule) {
					r.Sport, r.Dport = labels.PortRange{Lo: 0, Hi: 65535}, labels.PortRange{Lo: 80, Hi: 80}
				}),
				with(newRule("c", "x", 4), func(r *labels.Rule) {
					r.Sport, r.Dport = labels.PortRange{Lo: 1000, Hi: 2000}, labels.PortRange{Lo: 443, Hi: 443}
				}),
				with(newRule("d", "x", 5), func(r *labels.Rule) {
					r.Sport, r.Dport = labels.PortRange{Lo: 65534, Hi: 65535}, labels.PortRange{Lo: 0, Hi: 1}
				}),
			},
		},
		{
			name: "times: Z, negative and positive offsets, fractional seconds, start or end alone",
			src: `rules:
  - {id: z, label: x, start: 2019-01-12T13:29:00Z, end: 2019-01-12T13:29:00.000000001Z}
  - {id: neg, label: x, start: "2019-01-12T13:29:00-04:00", end: "2019-01-12T13:29:00-05:00"}
  - {id: pos, label: x, start: 2019-01-12T13:29:00+05:30, end: 2019-01-12T13:29:00.5+05:30}
  - {id: frac, label: x, start: 2019-01-12T13:29:00.123456789Z, end: 2019-01-12T13:29:00.1234568Z}
  - {id: start-only, label: x, start: 2019-01-12T13:29:00Z}
  - {id: end-only, label: x, end: 2019-01-12T13:29:00+00:00}
`,
			def: "benign",
			want: []labels.Rule{
				with(newRule("z", "x", 2), func(r *labels.Rule) {
					r.Start, r.End = at(2019, 1, 12, 13, 29, 0, 0, 0), at(2019, 1, 12, 13, 29, 0, 1, 0)
				}),
				with(newRule("neg", "x", 3), func(r *labels.Rule) {
					r.Start, r.End = at(2019, 1, 12, 17, 29, 0, 0, 0), at(2019, 1, 12, 18, 29, 0, 0, 0)
				}),
				with(newRule("pos", "x", 4), func(r *labels.Rule) {
					r.Start, r.End = at(2019, 1, 12, 7, 59, 0, 0, 0), at(2019, 1, 12, 7, 59, 0, 500_000_000, 0)
				}),
				with(newRule("frac", "x", 5), func(r *labels.Rule) {
					r.Start, r.End = at(2019, 1, 12, 13, 29, 0, 123456789, 0), at(2019, 1, 12, 13, 29, 0, 123456800, 0)
				}),
				with(newRule("start-only", "x", 6), func(r *labels.Rule) { r.Start = at(2019, 1, 12, 13, 29, 0, 0, 0) }),
				with(newRule("end-only", "x", 7), func(r *labels.Rule) { r.End = at(2019, 1, 12, 13, 29, 0, 0, 0) }),
			},
			windows: []bool{true, true, true, true, true, true},
		},
		{
			name: "both_directions true, false and left out",
			src: `rules:
  - id: t
    label: x
    both_directions: true
  - id: f
    label: x
    both_directions: false
  - id: d
    label: x
`,
			def: "benign",
			want: []labels.Rule{
				newRule("t", "x", 2),
				with(newRule("f", "x", 5), func(r *labels.Rule) { r.BothDirections = false }),
				newRule("d", "x", 8),
			},
		},
		{
			name: "order kept, labels and attacks free text",
			src: `default: "normal traffic"
rules:
  - id: "10"
    label: "123"
    attack: ""
  - id: b
    label: Attack / DoS
    attack: 'Web Attack – Brute Force'
  - id: a
    label: x
    attack: Infiltration
`,
			def: "normal traffic",
			want: []labels.Rule{
				newRule("10", "123", 3),
				with(newRule("b", "Attack / DoS", 6), func(r *labels.Rule) { r.Attack = "Web Attack – Brute Force" }),
				with(newRule("a", "x", 9), func(r *labels.Rule) { r.Attack = "Infiltration" }),
			},
		},
		{
			name: "testdata/example.yaml",
			src:  string(readExample(t)),
			def:  "benign",
			want: []labels.Rule{
				with(newRule("dos-hulk", "attack", 4), func(r *labels.Rule) {
					r.Attack = "DoS Hulk"
					r.Src, r.Dst = pfx("172.16.0.1/32"), pfx("192.168.10.50/32", "2001:db8:10::50/128")
					r.Proto, r.Dport = 6, labels.PortRange{Lo: 80, Hi: 80}
					r.Start, r.End = at(2017, 7, 5, 12, 26, 0, 0, 0), at(2017, 7, 5, 13, 11, 0, 0, 0)
				}),
				with(newRule("portscan", "attack", 13), func(r *labels.Rule) {
					r.Attack = "PortScan"
					r.Src, r.Dst = pfx("172.16.0.0/24", "2001:db8:172::/48"), pfx("192.168.10.0/24")
					r.Proto = 6
					r.Sport, r.Dport = labels.PortRange{Lo: 1024, Hi: 65535}, labels.PortRange{Lo: 1, Hi: 1024}
					r.Start, r.End = at(2017, 7, 5, 13, 55, 0, 500_000_000, 0), at(2017, 7, 5, 14, 0, 0, 123456789, 0)
					r.BothDirections = false
				}),
				with(newRule("dns", "benign", 26), func(r *labels.Rule) { r.Proto, r.Dport = 17, labels.PortRange{Lo: 53, Hi: 53} }),
				with(newRule("ping6", "attack", 32), func(r *labels.Rule) {
					r.Attack, r.Dst, r.Proto = "ICMPv6 sweep", pfx("::/0"), 58
					r.Start = at(2017, 7, 5, 13, 30, 0, 0, 0)
				}),
			},
			windows: []bool{true, true, false, true},
		},
	}
}

func TestParseValid(t *testing.T) {
	for _, c := range validCases(t) {
		t.Run(c.name, func(t *testing.T) {
			rs, err := labels.Parse("rules.yaml", []byte(c.src))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checkRules(t, rs, c.def, c.want)
			if rs.Path != "rules.yaml" {
				t.Errorf("Path = %q", rs.Path)
			}
			if string(rs.Source) != c.src {
				t.Errorf("Source is not the file's content")
			}
			sum := sha256.Sum256([]byte(c.src))
			if rs.SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("SHA256 = %s", rs.SHA256)
			}
			for i, w := range c.windows {
				if got := rs.Rules[i].Windowed(); got != w {
					t.Errorf("rule %d: Windowed() = %v, want %v", i, got, w)
				}
			}
		})
	}
}

// Source must be the parser's own copy.
func TestParseSourceCopied(t *testing.T) {
	src := []byte("rules:\n  - {id: a, label: x}\n")
	rs, err := labels.Parse("f", src)
	if err != nil {
		t.Fatal(err)
	}
	src[0] = 'X'
	if rs.Source[0] != 'r' {
		t.Error("Source shares the caller's buffer")
	}
}

func TestNone(t *testing.T) {
	rs := labels.None()
	if rs.Default != labels.DefaultLabel || labels.DefaultLabel != "benign" || len(rs.Rules) != 0 {
		t.Fatalf("None() = %+v", rs)
	}
}

type errorCase struct {
	name   string
	src    string
	line   int
	reason string // a substring of Reason
}

var errorCases = []errorCase{
	// The file's shape.
	{"unknown top-level key", "default: x\nlabels: []\n", 2, `unknown key "labels"`},
	{"top-level key twice", "default: x\nrules: []\ndefault: y\n", 3, `key "default" given twice`},
	{"file a list", "- id: a\n  label: x\n", 1, "must be a mapping"},
	{"file a scalar", "hello\n", 1, "must be a mapping"},
	{"default empty", "default: ''\n", 1, "default must not be empty"},
	{"default a list", "rules: []\ndefault: [a, b]\n", 2, "default must be a single value"},
	{"default null", "default:\nrules: []\n", 1, "default must be a single value"},
	{"rules a scalar", "default: x\nrules: 3\n", 2, "rules must be a list"},
	{"rules a mapping", "rules:\n  id: a\n  label: x\n", 2, "rules must be a list"},
	{"rule a scalar", "rules:\n  - {id: a, label: x}\n  - b\n", 3, "a rule must be a mapping"},
	{"rule a list", "rules:\n  - [a, b]\n", 2, "a rule must be a mapping"},
	{"rule key a mapping", "rules:\n  - {id: a, label: x, {k: v}: 1}\n", 2, "a key must be a plain name"},

	// Keys of a rule.
	{"unknown rule key", "rules:\n  - id: a\n    label: x\n    port: 80\n", 4, `unknown key "port"`},
	{"unknown rule key names the rule", "rules:\n  - id: a\n    label: x\n    Src: 10.0.0.0/8\n", 4, `rule "a": unknown key "Src"`},
	{"rule key twice", "rules:\n  - id: a\n    label: x\n    dport: 80\n    dport: 81\n", 5, `key "dport" given twice`},
	{"missing id", "rules:\n  - {id: a, label: x}\n  - label: x\n    src: 10.0.0.1\n", 3, "needs an id"},
	{"missing label", "rules:\n  - id: a\n    attack: x\n", 2, `rule "a" needs a label`},
	{"empty id", "rules:\n  - label: x\n    id: ''\n", 3, "id must not be empty"},
	{"null id", "rules:\n  - id: ~\n    label: x\n", 2, "id must be a single value"},
	{"empty label", "rules:\n  - id: a\n    label: \"\"\n", 3, "label must not be empty"},
	{"label a list", "rules:\n  - id: a\n    label: [x]\n", 3, "label must be a single value"},
	{"duplicate id", "rules:\n  - id: a\n    label: x\n  - id: b\n    label: x\n  - id: a\n    label: y\n", 6, `rule "a": duplicate id`},
	{"duplicate id, not the first key", "rules:\n  - id: a\n    label: x\n  - label: y\n    id: a\n", 5, `rule "a": duplicate id`},

	// Addresses.
	{"invalid CIDR", "rules:\n  - id: a\n    label: x\n    src: 10.0.0.0/33\n", 4, `"10.0.0.0/33" is not a CIDR prefix`},
	{"invalid address", "rules:\n  - id: a\n    label: x\n    dst: 10.0.0.300\n", 4, `"10.0.0.300" is not an address`},
	{"invalid CIDR in a block list", "rules:\n  - id: a\n    label: x\n    dst:\n      - 10.0.0.0/8\n      - bogus/8\n", 6, `dst: "bogus/8" is not a CIDR prefix`},
	{"invalid CIDR in a flow list", "rules:\n  - id: a\n    label: x\n    src: [10.0.0.0/8, 2001:db8::/129]\n", 4, `"2001:db8::/129"`},
	{"host bits set", "rules:\n  - id: a\n    label: x\n    src: 10.0.0.1/24\n", 4, "bits set past /24 (did you mean 10.0.0.0/24?)"},
	{"host bits set v6", "rules:\n  - id: a\n    label: x\n    dst: [2001:db8::/32, 2001:db8::1/32]\n", 4, "bits set past /32"},
	{"empty address list", "rules:\n  - id: a\n    label: x\n    src: []\n", 4, "src: an empty list matches nothing"},
	{"address null", "rules:\n  - id: a\n    label: x\n    dst:\n", 4, "dst must be a single value"},
	{"address list of lists", "rules:\n  - id: a\n    label: x\n    src:\n      - [10.0.0.0/8]\n", 5, "src must be a single value"},
	{"zoned address", "rules:\n  - id: a\n    label: x\n    src: fe80::1%eth0\n", 4, "is not an address"},
	{"IPv4-mapped prefix", "rules:\n  - id: a\n    label: x\n    src: ::ffff:10.0.0.0/104\n", 4, "write IPv4 prefixes as IPv4"},

	// Ports.
	{"port 70000", "rules:\n  - id: a\n    label: x\n    dport: 70000\n", 4, `dport: "70000" is not a port`},
	{"port 65536", "rules:\n  - id: a\n    label: x\n    sport: 65536\n", 4, `sport: "65536" is not a port`},
	{"port range to 70000", "rules:\n  - id: a\n    label: x\n    sport: 1-70000\n", 4, `sport: "1-70000" is not a port`},
	{"port range 90-80", "rules:\n  - id: a\n    label: x\n    dport: 90-80\n", 4, `dport: range "90-80" ends before it starts`},
	{"port negative", "rules:\n  - id: a\n    label: x\n    dport: -1\n", 4, "is not a port"},
	{"port a name", "rules:\n  - id: a\n    label: x\n    dport: http\n", 4, "is not a port"},
	{"port range open", "rules:\n  - id: a\n    label: x\n    dport: 80-\n", 4, "is not a port"},
	{"port range of three", "rules:\n  - id: a\n    label: x\n    dport: 1-2-3\n", 4, "is not a port"},
	{"port a list", "rules:\n  - id: a\n    label: x\n    dport: [80, 443]\n", 4, "dport must be a single value"},

	// Protocols.
	{"proto gre", "rules:\n  - id: a\n    label: x\n    proto: gre\n", 4, `proto: "gre" is not tcp, udp, icmp, icmpv6 or a protocol number 0-255`},
	{"proto 256", "rules:\n  - id: a\n    label: x\n    proto: 256\n", 4, `"256" is not tcp`},
	{"proto -1", "rules:\n  - id: a\n    label: x\n    proto: -1\n", 4, `"-1" is not tcp`},

	// Times.
	{"time without offset, quoted", "rules:\n  - id: a\n    label: x\n    start: \"2019-01-12T13:29:00\"\n", 4, `start: "2019-01-12T13:29:00" is not an RFC 3339 time with an offset`},
	{"time without offset, YAML timestamp", "rules:\n  - id: a\n    label: x\n    end: 2019-01-12 13:29:00\n", 4, `end: "2019-01-12 13:29:00" is not an RFC 3339 time`},
	{"time a date", "rules:\n  - id: a\n    label: x\n    start: 2019-01-12\n", 4, "is not an RFC 3339 time"},
	{"time a number", "rules:\n  - id: a\n    label: x\n    start: 1547299740\n", 4, "is not an RFC 3339 time"},
	{"time offset without colon", "rules:\n  - id: a\n    label: x\n    start: 2019-01-12T13:29:00-0500\n", 4, "is not an RFC 3339 time"},
	{"end before start", "rules:\n  - id: a\n    label: x\n    start: 2019-01-12T13:29:00Z\n    end: 2019-01-12T13:28:59.999999999Z\n", 5, `rule "a": end 2019-01-12T13:28:59.999999999Z is not after start 2019-01-12T13:29:00Z`},
	{"end equal to start", "rules:\n  - id: a\n    label: x\n    end: 2019-01-12T08:29:00-05:00\n    start: 2019-01-12T13:29:00Z\n", 4, "is not after start"},

	// Other values.
	{"both_directions yes", "rules:\n  - id: a\n    label: x\n    both_directions: yes\n", 4, `both_directions: "yes" is not true or false`},
	{"both_directions 1", "rules:\n  - id: a\n    label: x\n    both_directions: 1\n", 4, "is not true or false"},
	{"attack a list", "rules:\n  - id: a\n    label: x\n    attack: [a]\n", 4, "attack must be a single value"},

	// Not YAML.
	{"tab indentation", "default: x\nrules:\n\t- id: a\n\t  label: x\n", 3, "not valid YAML"},
	// For these two the YAML library names the line where the construct it
	// was reading began (go-yaml issues 205 and 542), one before the
	// mistake; tacap passes its line on (docs/dataset.md, "Labels").
	{"tab breaking indentation", "default: x\nrules:\n  - id: a\n\t  label: b\n", 3, "not valid YAML"},
	{"unclosed bracket", "rules:\n  - id: a\n    label: x\n    src: [10.0.0.0/8\n", 3, "not valid YAML"},
	{"two documents", "rules: []\n---\nrules: 3\n", 2, "a second YAML document"},
	{"unclosed quote", "rules:\n  - id: \"a\n", 2, "not valid YAML"},
	{"mapping in a plain scalar", "a: b: c\n", 1, "not valid YAML"},
}

func TestParseErrors(t *testing.T) {
	for _, c := range errorCases {
		t.Run(c.name, func(t *testing.T) {
			rs, err := labels.Parse("conf/rules.yaml", []byte(c.src))
			if err == nil {
				t.Fatalf("Parse accepted it: %d rules %v", len(rs.Rules), rs.Rules)
			}
			if rs != nil {
				t.Errorf("Parse returned rules with its error")
			}
			if !errors.Is(err, labels.ErrRules) {
				t.Errorf("errors.Is(%v, ErrRules) is false", err)
			}
			var e *labels.Error
			if !errors.As(err, &e) {
				t.Fatalf("%T %v is not a *labels.Error", err, err)
			}
			if e.Path != "conf/rules.yaml" {
				t.Errorf("Path = %q", e.Path)
			}
			if e.Line != c.line {
				t.Errorf("Line = %d, want %d (%v)", e.Line, c.line, err)
			}
			if !strings.Contains(e.Reason, c.reason) {
				t.Errorf("Reason = %q, want it to contain %q", e.Reason, c.reason)
			}
			if want := fmt.Sprintf("conf/rules.yaml:%d: ", c.line); c.line > 0 && !strings.HasPrefix(err.Error(), want) {
				t.Errorf("Error() = %q, want it to start %q", err.Error(), want)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	e := &labels.Error{Path: "r.yaml", Line: 7, Reason: "why"}
	if e.Error() != "r.yaml:7: why" {
		t.Errorf("Error() = %q", e.Error())
	}
	e.Line = 0
	if e.Error() != "r.yaml: why" {
		t.Errorf("Error() = %q", e.Error())
	}
	if !errors.Is(fmt.Errorf("wrapped: %w", e), labels.ErrRules) {
		t.Error("a wrapped *Error is not ErrRules")
	}
}

// An RFC 3339 time with an offset, but outside what int64 nanoseconds hold
// (before 1677-09-21 or after 2262-04-11): Parse must refuse it or keep its
// meaning, not wrap it around to some other instant.
func TestParseTimeOutOfRange(t *testing.T) {
	in2019 := at(2019, 1, 12, 13, 29, 0, 0, 0)
	for _, c := range []struct {
		name, keys string
		matches    bool // does a 2019 packet fall in the window the keys mean?
	}{
		{"start after 2262", "start: 2300-01-01T00:00:00Z", false},
		{"start before 1677", "start: 1600-01-01T00:00:00Z", true},
		{"end before 1677", "end: 1600-01-01T00:00:00Z", false},
		{"end in year 0", "end: 0000-01-01T00:00:00Z", false},
		{"start in year 9999", "start: 9999-12-31T23:59:59.999999999-23:59", false},
		{"end after 2262", "start: 2019-01-01T00:00:00Z\n    end: 2300-01-01T00:00:00Z", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs, err := labels.Parse("f", []byte("rules:\n  - id: a\n    label: x\n    "+c.keys+"\n"))
			if err != nil {
				if !errors.Is(err, labels.ErrRules) {
					t.Fatalf("%v is not ErrRules", err)
				}
				if strings.Contains(err.Error(), "is not after start") {
					t.Errorf("refused for the wrong reason: %v", err)
				}
				return // refusing it is fine
			}
			r := rs.Rules[0]
			got := r.Start <= in2019 && in2019 < r.End
			if got != c.matches {
				t.Errorf("accepted as Start=%d (%v) End=%d (%v): a 2019 packet in the window = %v, want %v",
					r.Start, time.Unix(0, r.Start).UTC(), r.End, time.Unix(0, r.End).UTC(), got, c.matches)
			}
		})
	}
}

// FuzzParse: Parse never panics; what it accepts keeps the contract's
// invariants, and the matcher built from it agrees with the oracle.
//
//	go test ./labels -run '^$' -fuzz FuzzParse -fuzztime 30s
func FuzzParse(f *testing.F) {
	for _, c := range validCases(f) {
		f.Add([]byte(c.src))
	}
	for _, c := range errorCases {
		f.Add([]byte(c.src))
	}
	f.Add([]byte("rules:\n  - &a {id: a, label: x}\n  - *a\n"))
	f.Add([]byte("rules:\n  - {id: a, label: x, <<: {src: 10.0.0.0/8}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// The fuzzer has no timeout of its own: a hang would only stall it.
		watchdog := time.AfterFunc(10*time.Second, func() { panic(fmt.Sprintf("FuzzParse hangs on %q", data)) })
		defer watchdog.Stop()
		rs, err := labels.Parse("fuzz.yaml", data)
		if err != nil {
			var e *labels.Error
			if !errors.As(err, &e) || !errors.Is(err, labels.ErrRules) {
				t.Fatalf("%T %v is not a *labels.Error", err, err)
			}
			if e.Path != "fuzz.yaml" || e.Line < 0 || e.Reason == "" {
				t.Fatalf("error %+v", e)
			}
			if rs != nil {
				t.Fatal("rules with an error")
			}
			return
		}
		if rs.Default == "" || string(rs.Source) != string(data) {
			t.Fatalf("Default %q, Source %q", rs.Default, rs.Source)
		}
		ids := map[string]bool{}
		for i := range rs.Rules {
			r := &rs.Rules[i]
			if r.ID == "" || r.Label == "" {
				t.Fatalf("rule %d: id %q label %q", i, r.ID, r.Label)
			}
			if ids[r.ID] {
				t.Fatalf("id %q twice", r.ID)
			}
			ids[r.ID] = true
			if r.Line < 1 || r.Proto < -1 || r.Proto > 255 || r.Sport.Lo > r.Sport.Hi || r.Dport.Lo > r.Dport.Hi {
				t.Fatalf("rule %s", fmtRule(*r))
			}
			if r.Start >= r.End {
				t.Fatalf("rule %s: empty window", fmtRule(*r))
			}
			for _, p := range append(slices.Clone(r.Src), r.Dst...) {
				if !p.IsValid() || p.Masked() != p || p.Addr().Is4In6() || p.Addr().Zone() != "" {
					t.Fatalf("rule %s: prefix %v", fmtRule(*r), p)
				}
			}
		}
		m := labels.NewMatcher(rs)
		sc := m.NewScratch()
		g := newGen(uint64(len(data)))
		for range 16 {
			p, ns := g.probe(rs.Rules)
			tu := p.tuple()
			if got, want := m.Packet(&tu, ns, sc), refPacket(rs.Rules, p, ns); int(got) != want {
				t.Fatalf("Packet(%s, %d) = %d, the oracle says %d", p, ns, got, want)
			}
			last := g.span(ns)
			r, fw, bw, in := m.Span(&tu, ns, last, true, true, sc)
			wr, wf, wb, win := refSpan(rs.Rules, p, ns, last, true, true)
			if int(r) != wr || fw != wf || bw != wb || in != win {
				t.Fatalf("Span(%s) = %d %v %v %v, the oracle says %d %v %v %v", p, r, fw, bw, in, wr, wf, wb, win)
			}
		}
	})
}
