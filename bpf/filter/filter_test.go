package filter

import (
	"fmt"
	"strings"
	"testing"
)

// layout is a plausible layout; the tests here compare programs with one
// another and check errors, so the exact offsets do not matter.
var layout = Layout{
	IPVersion: Field{100, 1}, Protocol: Field{101, 1}, SrcAddr: Field{40, 4}, DstAddr: Field{56, 4},
	SrcPort: Field{90, 2}, DstPort: Field{92, 2}, FragOff: Field{94, 2}, TCPFlags: Field{103, 1},
	ICMPType: Field{104, 1}, ICMPCode: Field{105, 1}, TTL: Field{102, 1}, Direction: Field{106, 1},
	FrameLen: Field{0, 4}, BytesLen: Field{4, 4}, L3Off: Field{8, 2}, L4Off: Field{10, 2},
	TagIDs: Field{12, 2}, Tags: Field{20, 1}, InlineTags: Field{21, 1}, NextHeader0: Field{22, 1},
	NextHeader1: Field{23, 1}, Bytes: Field{24, BytesMax},
}

func compile(t *testing.T, expr string) *Program {
	t.Helper()
	p, err := Compile(expr, layout)
	if err != nil {
		t.Fatalf("compile %q: %v", expr, err)
	}
	return p
}

// TestSameProgram: expressions pcap-filter(7) defines as the same compile
// to the same instructions — precedence, qualifier inheritance, number
// forms, names and aliases.
func TestSameProgram(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"tcp or udp and port 53", "(tcp or udp) and port 53"}, // and, or: same precedence, from the left
		{"not tcp and udp", "(not tcp) and udp"},
		{"host 198.18.0.1 or 198.18.0.2", "host 198.18.0.1 or host 198.18.0.2"},
		{"tcp dst port 80 or 443", "tcp dst port 80 or tcp dst port 443"},
		{"port 22 and not 23", "port 22 and not port 23"},
		{"host (198.18.0.1 or 198.18.0.2)", "host 198.18.0.1 or host 198.18.0.2"},
		{"src or dst host 198.18.0.1", "host 198.18.0.1"},
		{"198.18.0.1", "host 198.18.0.1"},
		{"net 10", "net 10.0.0.0/8"},
		{"net 192.168", "net 192.168.0.0/16"},
		{"net 10/8", "net 10.0.0.0/8"},
		{"net 172.16.0.0 mask 255.240.0.0", "net 172.16.0.0/12"},
		{"198.18.0.0/15", "net 198.18.0.0/15"},
		{"tcp[tcpflags] & tcp-syn != 0", "tcp[13] & 2 != 0"},
		{"tcp[13:1] = 2", "tcp[13] == 2"},
		{"icmp[icmptype] = icmp-echo", "icmp[0] = 8"},
		{"!tcp || udp && !icmp", "not tcp or udp and not icmp"},
		{"port http", "tcp port 80"}, // a service's own protocols, as /etc/services has them
		{"src net 10.0.0.0/8 or 192.168.0.0/16", "src net 10.0.0.0/8 or src net 192.168.0.0/16"},
		{"portrange 1-10 or 20-30", "portrange 1-10 or portrange 20-30"},
		{"host 198.18.0.1 and (port 80) or 198.18.0.2", "host 198.18.0.1 and (port 80) or host 198.18.0.2"}, // ( keeps what came before
		{"ip[0] + ip[1] ^ ip[2] = 0", "ip[0] + (ip[1] ^ ip[2]) = 0"},                                        // ^ and %: the operand before, all after
		{"ip[0] % ip[1] - ip[2] = 0", "ip[0] % (ip[1] - ip[2]) = 0"},
		{"ip[0] * ip[1] % ip[2] = 1", "ip[0] * (ip[1] % ip[2]) = 1"},
		{"port 0x16", "port 22"},
		{"port 026", "port 22"}, // octal, as libpcap
		{"ip proto \\tcp", "ip proto 6"},
		{"proto \\udp", "proto 17"},
		{"ether proto \\ip", "ip"},
		{"ether proto 0x86dd", "ip6"},
		{"link src 02:00:00:00:00:01", "ether src 02:00:00:00:00:01"},
		{"len >= 100", "len >= 0x64"},
		{"ip[2:2] + 2 * 3 = 10", "ip[2:2] + 6 = 10"},   // * before +, constants folded
		{"ip[2:2] & 1 << 2 = 4", "ip[2:2] & 4 = 4"},    // << before &
		{"1 + 1 = 2 and tcp", "tcp"},                   // a constant relation folds away
		{"portrange 2000-1000", "portrange 1000-2000"}, // the ends in either order
		{"tcp port ssh", "tcp port 22"},
		{"ip6 host 2001:db8::1", "host 2001:db8::1"},
	} {
		pa, pb := compile(t, tc.a), compile(t, tc.b)
		if pa.Insns.String() != pb.Insns.String() {
			t.Errorf("%q and %q compile differently:\n%v\n%v", tc.a, tc.b, pa.Insns, pb.Insns)
		}
	}
}

// TestDifferentProgram guards TestSameProgram against comparing programs
// that are always equal.
func TestDifferentProgram(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"tcp or (udp and port 53)", "(tcp or udp) and port 53"},
		{"src host 198.18.0.1", "dst host 198.18.0.1"},
		{"src and dst host 198.18.0.1", "src or dst host 198.18.0.1"},
		{"tcp port 80", "udp port 80"},
		{"vlan and ip", "ip"},
		{"net 10.0.0.0/8", "net 10.0.0.0/9"},
	} {
		if compile(t, tc.a).Insns.String() == compile(t, tc.b).Insns.String() {
			t.Errorf("%q and %q compile to the same program", tc.a, tc.b)
		}
	}
}

// TestErrors: every expression tacap cannot compile is refused with the
// column at fault and the reason.
func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		expr   string
		column int
		reason string
	}{
		{"tcp and", 8, "expected a primitive"},
		{"tcp port 80 or", 15, "expected a primitive"},
		{"(tcp", 5, `expected ")"`},
		{"tcp)", 4, "expected and, or"},
		{"port foo", 6, "not a port number or a service name"},
		{"port 70000", 6, "at most 65535"},
		{"host example.com", 6, "does not resolve host names"},
		{"host 10.1", 6, "not a whole IP address"},
		{"net 10.1.0.0/8", 5, "non-network bits set"},
		{"net 10.0.0.0/33", 14, "prefix length is 0 to 32"},
		{"net 10.0.0.0 mask 255.0.255.0", 19, "not a contiguous mask"},
		{"tcp[13:3] = 1", 8, "1, 2 or 4 bytes"},
		{"ip[1000] = 1", 1, "first 256 bytes"},
		{"ip[250] = 1", 1, "first 256 bytes"}, // the IP header is 14 bytes in at least
		{"udp port ssh", 10, "not a udp service"},
		{"port 53 and ip proto 6 or 17", 27, "not a whole IP address"}, // no port 17: the qualifiers end at ip proto
		{"tcp and ip[0] = ip[1] + (ip[2] + ip[3])", 9, "nests too deeply"},
		{"1 / 0 = 1", 3, "division by zero"},
		{"ip[0] << 32 = 1", 7, "more than 31 bits"},
		{"vlan 5000", 6, "at most 4095"},
		{"gateway 198.18.0.1", 1, "does not support"},
		{"ip broadcast", 4, "network's mask"},
		{"tcp host 198.18.0.1", 10, "does not go with the address"},
		{"ip6 host 198.18.0.1", 10, "does not go with the address"},
		{"icmp port 80", 11, "does not go with a port"},
		{"tcp $", 5, "unexpected character"},
		{"ip proto 300", 10, "at most 255"},
		{"ip[0] = ", 9, "expected"},
		{"tcp", 0, ""}, // valid: no error
	} {
		err := Check(tc.expr)
		if tc.reason == "" {
			if err != nil {
				t.Errorf("%q: %v", tc.expr, err)
			}
			continue
		}
		e, ok := err.(*Error)
		if !ok {
			t.Errorf("%q: got %v, want a *filter.Error", tc.expr, err)
			continue
		}
		if e.Pos+1 != tc.column || !strings.Contains(e.Reason, tc.reason) {
			t.Errorf("%q: column %d %q, want column %d with %q", tc.expr, e.Pos+1, e.Reason, tc.column, tc.reason)
		}
		if !strings.Contains(e.Error(), tc.expr) {
			t.Errorf("%q: the message %q does not quote the expression", tc.expr, e.Error())
		}
	}
}

// TestBytesNeeded: the kernel program copies the frame's bytes only for
// filters whose byte tests no parsed field answers, and no more of them
// than the tests can reach.
func TestBytesNeeded(t *testing.T) {
	for _, tc := range []struct {
		expr  string
		bytes int
	}{
		{"tcp and not port 22", 0},
		{"tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", 0},
		{"ip[8] < 64 and icmp[icmptype] = icmp-echo", 0},
		{"ip[0] & 0xf > 5", 26 + 1},
		{"ether src 02:00:00:00:00:01", 12},
		{"ip[2:2] - tcp[13] = 0", 86 + 14}, // the guard of tcp[13] is dropped: it reads bytes
		{"tcp[20:4] = 0", 86 + 24},
		{"icmp6[4:4] = 0", 66 + 8},
		{"tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420", BytesMax}, // a computed offset
	} {
		if got := compile(t, tc.expr).BytesNeeded; got != tc.bytes {
			t.Errorf("%q: BytesNeeded %d, want %d", tc.expr, got, tc.bytes)
		}
	}
}

// TestLexer: words, numbers, addresses and the ':' of a byte test.
func TestLexer(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"tcp[13:1]", []string{"tcp", "[", "13", ":", "1", "]"}},
		{"host 2001:db8::1", []string{"host", "2001:db8::1"}},
		{"net ::/0", []string{"net", "::", "/", "0"}},
		{"ether host aa:bb:cc:dd:ee:ff", []string{"ether", "host", "aa:bb:cc:dd:ee:ff"}},
		{"tcp-syn|tcp-ack", []string{"tcp-syn", "|", "tcp-ack"}},
		{"portrange 1-1023", []string{"portrange", "1", "-", "1023"}},
		{"a&&b||!c", []string{"a", "&&", "b", "||", "!", "c"}},
		{"ip[2:2]>=0x10", []string{"ip", "[", "2", ":", "2", "]", ">=", "0x10"}},
	} {
		var got []string
		for _, tok := range lex(tc.in) {
			if tok.kind != tokEOF {
				got = append(got, tok.text)
			}
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("lex %q = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzCompile: any string either compiles or is refused with a *Error
// whose position lies in the expression; nothing panics.
//
//	go test ./bpf/filter -run '^$' -fuzz FuzzCompile -fuzztime 1m
func FuzzCompile(f *testing.F) {
	for _, s := range []string{"tcp", "not port 22 and net 10.0.0.0/8", "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
		"vlan 100 and (host 2001:db8::1 or 198.18.0.1)", "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420",
		"ip[2:2] / (ip[8] - 64) > 0", "ether src aa:bb:cc:dd:ee:ff", "portrange 1-1023 || !icmp", "(((", "1 << 40 = 0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Compile(s, layout)
		if err != nil {
			e, ok := err.(*Error)
			if !ok || e.Pos < 0 || e.Pos > len(s) {
				t.Fatalf("%q: %v (%T)", s, err, err)
			}
			return
		}
		if len(p.Insns) == 0 || p.BytesNeeded < 0 || p.BytesNeeded > BytesMax {
			t.Fatalf("%q: %d instructions, %d bytes", s, len(p.Insns), p.BytesNeeded)
		}
	})
}

// TestTooLong: a filter the verifier would take too long over is refused
// when it is compiled, with the count.
func TestTooLong(t *testing.T) {
	var ports []string
	for i := 1; i <= 200; i++ {
		ports = append(ports, fmt.Sprintf("port %d", i))
	}
	err := Check(strings.Join(ports, " or "))
	if err == nil || !strings.Contains(err.Error(), "eBPF instructions, more than the 2048") {
		t.Fatalf("200 ports: %v", err)
	}
	if err := Check(strings.Join(ports[:20], " or ")); err != nil {
		t.Fatalf("20 ports: %v", err)
	}
}
