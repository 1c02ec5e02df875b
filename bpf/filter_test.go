package bpf_test

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/tacap/tacap/bpf"
	f "github.com/tacap/tacap/test/frames"
)

// filterFrame is one frame of the filter tests, built in code.
type filterFrame struct {
	name string
	data []byte
	dir  uint8
}

var (
	fa4, fb4, fc4 = v4a, v4b, netip.MustParseAddr("198.18.0.5")
)

func filterFrames() []filterFrame {
	get := append(f.Payload("GET /index.html HTTP/1.1\r\n"), f.Zeros(10)...)
	return []filterFrame{
		{"tcp4syn", f.Build(f.Ether{}, f.IPv4{Src: fa4, Dst: fb4, TTL: 64}, f.TCP{SrcPort: 40000, DstPort: 80, Flags: f.SYN}), bpf.DirectionIngress},
		{"tcp4get", f.Build(f.Ether{}, f.IPv4{Src: fb4, Dst: fa4, TTL: 63}, f.TCP{SrcPort: 80, DstPort: 40000, Flags: f.ACK | f.PSH}, get), 0},
		{"tcp4opts", f.Build(f.Ether{}, f.IPv4{Src: fa4, Dst: fb4, TTL: 63, Options: []byte{1, 1, 1, 0}}, f.TCP{SrcPort: 2222, DstPort: 22, Flags: f.SYN | f.ACK}), 0},
		{"udp4dns", f.Build(f.Ether{}, f.IPv4{Src: fa4, Dst: fb4, TTL: 63}, f.UDP{SrcPort: 5353, DstPort: 53}, f.Zeros(30)), bpf.DirectionEgress},
		{"udp4frag2", f.Build(f.Ether{}, f.IPv4{Src: fa4, Dst: fb4, TTL: 63, Protocol: 17, FlagsFrag: 100}, f.Zeros(40)), 0},
		{"icmp4echo", f.Build(f.Ether{Dst: [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, f.IPv4{Src: fc4, Dst: fb4, TTL: 63}, f.ICMP{Type: 8}), 0},
		{"vlan100tcp", f.Build(f.Ether{}, f.VLAN{ID: 100}, f.IPv4{Src: fc4, Dst: fb4, TTL: 63}, f.TCP{SrcPort: 1234, DstPort: 443, Flags: f.ACK}), 0},
		{"qinq200udp", f.Build(f.Ether{}, f.VLAN{TPID: f.TypeQinQ, ID: 200}, f.VLAN{ID: 300}, f.IPv4{Src: fc4, Dst: fb4, TTL: 63}, f.UDP{SrcPort: 1, DstPort: 53}), 0},
		{"tcp6", f.Build(f.Ether{}, f.IPv6{Src: v6a, Dst: v6b, HopLimit: 64}, f.TCP{SrcPort: 40000, DstPort: 443, Flags: f.SYN}), 0},
		{"udp6frag1", f.Build(f.Ether{}, f.IPv6{Src: v6a, Dst: v6b, HopLimit: 64}, f.IPv6Frag{More: true, ID: 7}, f.UDP{SrcPort: 53, DstPort: 5353}, f.Zeros(16)), 0},
		{"tcp6hbh", f.Build(f.Ether{}, f.IPv6{Src: v6b, Dst: v6a, HopLimit: 64}, f.IPv6Ext{Type: 0}, f.TCP{SrcPort: 80, DstPort: 40000, Flags: f.ACK}), 0},
		{"icmp6echo", f.Build(f.Ether{Src: [6]byte{2, 0, 0, 0, 0, 1}}, f.IPv6{Src: v6a, Dst: netip.MustParseAddr("ff02::1"), HopLimit: 255}, f.ICMP{Type: 128, V6: true}), 0},
		{"arp", f.Build(f.Ether{Type: f.TypeARP}, f.Zeros(28)), 0},
	}
}

// recordable are the frames tacap records without a filter.
var recordable = []string{"tcp4syn", "tcp4get", "tcp4opts", "udp4dns", "udp4frag2", "icmp4echo", "vlan100tcp",
	"qinq200udp", "tcp6", "udp6frag1", "tcp6hbh", "icmp6echo"}

func except(names ...string) []string {
	var out []string
	for _, n := range recordable {
		if !slices.Contains(names, n) {
			out = append(out, n)
		}
	}
	return out
}

// filterCases say which frames each expression matches, worked out by
// hand from pcap-filter(7) and libpcap's code (TestFilterFramesTcpdump
// checks the same table against tcpdump).
var filterCases = []struct {
	expr  string
	match []string
}{
	{"tcp", []string{"tcp4syn", "tcp4get", "tcp4opts", "tcp6"}}, // not behind a VLAN tag, not after a hop-by-hop header
	{"udp", []string{"udp4dns", "udp4frag2", "udp6frag1"}},      // ip6 proto looks behind one fragment header
	{"ip6", []string{"tcp6", "udp6frag1", "tcp6hbh", "icmp6echo"}},
	{"ip6 proto 0", []string{"tcp6hbh"}},
	{"port 53", []string{"udp4dns"}}, // not a fragment, not behind a fragment header
	{"tcp port 80 or 443", []string{"tcp4syn", "tcp4get", "tcp6"}},
	{"src port 80", []string{"tcp4get"}},
	{"portrange 20-30", []string{"tcp4opts"}},
	{"host 198.18.0.1", []string{"tcp4syn", "tcp4get", "tcp4opts", "udp4dns", "udp4frag2"}},
	{"src 198.18.0.1 and dst 198.19.0.2", []string{"tcp4syn", "tcp4opts", "udp4dns", "udp4frag2"}},
	{"src and dst net 198.18.0.0/15", []string{"tcp4syn", "tcp4get", "tcp4opts", "udp4dns", "udp4frag2", "icmp4echo"}},
	{"host 2001:db8::1", []string{"tcp6", "udp6frag1", "tcp6hbh", "icmp6echo"}},
	{"dst net 2001:db8::/32", []string{"tcp6", "udp6frag1", "tcp6hbh"}},
	{"ip6 multicast", []string{"icmp6echo"}},
	{"ether broadcast", []string{"icmp4echo"}},
	{"ether src 02:00:00:00:00:01", []string{"icmp6echo"}},
	{"vlan", []string{"vlan100tcp", "qinq200udp"}},
	{"vlan 100 and tcp", []string{"vlan100tcp"}},
	{"vlan 200 and vlan 300 and udp port 53", []string{"qinq200udp"}},
	{"vlan 300", nil},
	{"not vlan and ip", nil}, // vlan moves what follows one tag in, even under not (as tcpdump)
	{"ip and not vlan", except("vlan100tcp", "qinq200udp", "tcp6", "udp6frag1", "tcp6hbh", "icmp6echo")},
	{"icmp[icmptype] == icmp-echo", []string{"icmp4echo"}},
	{"icmp6[icmp6type] == icmp6-echo", []string{"icmp6echo"}},
	{"ip[0] & 0xf > 5", []string{"tcp4opts"}},
	{"ip[6:2] & 0x1fff != 0", []string{"udp4frag2"}},
	{"tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", []string{"tcp4syn"}}, // tcp[] is IPv4 only
	{"tcp[tcpflags] & tcp-syn != 0", []string{"tcp4syn", "tcp4opts"}},
	{"tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420", []string{"tcp4get"}},
	{"(ip[2:2] - ((ip[0]&0xf)<<2)) - ((tcp[12]&0xf0)>>2) != 0", []string{"tcp4get", "udp4dns", "udp4frag2"}}, // icmp4echo: tcp[12] is beyond its end
	{"udp[100] = 0", nil},                                 // beyond the frame: the whole filter rejects
	{"not udp[100] = 0", except("udp4dns")},               // ... even under not
	{"not ip[2:2] / (ip[8] - 64) > 0", except("tcp4syn")}, // division by zero rejects
	{"ip[0] << (ip[8] - 30) = 0", except("vlan100tcp", "qinq200udp", "tcp6", "udp6frag1", "tcp6hbh", "icmp6echo")}, // a shift of 32 or more gives 0
	{"ip[8] = 64 or ip6[7] = 64", []string{"tcp4syn", "tcp6", "udp6frag1", "tcp6hbh"}},
	{"len > 80", []string{"tcp4get", "tcp6hbh", "udp6frag1"}},
	{"less 58", []string{"tcp4syn", "icmp4echo", "qinq200udp", "tcp4opts", "vlan100tcp"}},
	{"less 57", []string{"tcp4syn", "icmp4echo", "qinq200udp"}},
	{"inbound", []string{"tcp4syn"}},
	{"outbound", []string{"udp4dns"}},
	{"arp or rarp", nil},
	{"", recordable},
}

// TestFilterFrames runs the frames through the program loaded with each
// filter (both replay paths) and checks what is recorded and counted.
func TestFilterFrames(t *testing.T) {
	frames := filterFrames()
	for _, tc := range filterCases {
		t.Run(tc.expr, func(t *testing.T) {
			opts := bpf.DefaultOptions()
			opts.PacketsPerSession = 0
			opts.Programs = bpf.AllPrograms
			if tc.expr != "" {
				p, err := bpf.CompileFilter(tc.expr)
				if err != nil {
					t.Fatal(err)
				}
				opts.Filter = p
			}
			o := load(t, opts)
			for _, batched := range []bool{false, true} {
				if err := o.Reset(); err != nil {
					t.Fatal(err)
				}
				for i, fr := range frames {
					rf := bpf.ReplayFrame{Data: fr.data, TimeNs: uint64(i+1) * 1000, Direction: fr.dir}
					var err error
					if batched {
						err = o.QueueReplay(rf)
					} else {
						err = o.Replay(rf)
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				if err := o.FlushReplay(); err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, r := range drain(o) {
					got = append(got, frames[r.TsNs/1000-1].name)
				}
				want := slices.Clone(tc.match)
				sort.Strings(got)
				sort.Strings(want)
				if !slices.Equal(got, want) {
					t.Errorf("batched %v: recorded %v, want %v", batched, got, want)
				}
				c := counters(t, o)
				if c.Filtered != uint64(len(recordable)-len(want)) || c.NotIP != 1 {
					t.Errorf("batched %v: filtered %d, not_ip %d; want %d and 1", batched, c.Filtered, c.NotIP, len(recordable)-len(want))
				}
				if got := flowPackets(t, o); got != uint64(len(want)) {
					t.Errorf("batched %v: flows hold %d packets, want the %d the filter let through", batched, got, len(want))
				}
			}
			// Live XDP, a frame at a time (it times packets itself, and
			// every packet is inbound).
			want := tc.match
			switch tc.expr {
			case "inbound":
				want = recordable
			case "outbound":
				want = nil
			}
			for _, fr := range frames {
				ret, err := o.TacapXdp.Run(&ebpf.RunOptions{Data: fr.data})
				if err != nil || ret != 2 {
					t.Fatalf("xdp %s: verdict %d, %v", fr.name, ret, err)
				}
				n := len(drain(o))
				if match := slices.Contains(want, fr.name); n != map[bool]int{false: 0, true: 1}[match] {
					t.Errorf("xdp: %s gave %d records, want the filter to match it: %v", fr.name, n, match)
				}
			}
		})
	}
}

// flowPackets sums the packets of the flows in the kernel's table.
func flowPackets(t *testing.T, o *bpf.Objects) uint64 {
	t.Helper()
	var n uint64
	if err := o.WalkFlows(func(_ *bpf.SessionKey, st *bpf.FlowStats) { n += st.Fwd.Packets + st.Bwd.Packets }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFilterFramesTcpdump checks the hand-made table of TestFilterFrames
// against tcpdump reading the same frames from a file.
func TestFilterFramesTcpdump(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("skipped: tcpdump is not installed (the table is still checked against the kernel by TestFilterFrames)")
	}
	frames := filterFrames()
	path := filepath.Join(t.TempDir(), "frames.pcap")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriterNanos(out)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, int64(i+1)*1000), CaptureLength: len(fr.data), Length: len(fr.data)}
		if err := w.WritePacket(ci, fr.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range filterCases {
		if strings.Contains(tc.expr, "bound") || tc.expr == "" {
			continue // tcpdump cannot test a direction on Ethernet; "" is no filter
		}
		ts, err := tcpdumpTimes(tcpdump, path, tc.expr)
		if err != nil {
			t.Errorf("%q: %v", tc.expr, err)
			continue
		}
		var got []string
		for _, x := range ts {
			if n := frames[x/1000-1].name; n != "arp" {
				got = append(got, n)
			}
		}
		want := slices.Clone(tc.match)
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("%q: tcpdump selects %v, the table says %v", tc.expr, got, want)
		}
	}
}
