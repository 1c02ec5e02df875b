package test

// The direction column against oracles that fix it independently of tacap:
// live, the lab's addresses (a packet from the far namespace arrived, one
// from the capturing namespace left); in capture files, the Linux packet
// type and pcapng packet flags the test wrote itself (and tshark reads back
// from the same file).

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tacap/tacap/test/frames"
	"github.com/tacap/tacap/test/netns"
	"github.com/tacap/tacap/test/testenv"
)

// nsAddrs lists every address of veth0 in ns, link-local ones included.
func nsAddrs(t *testing.T, ns *netns.NS) map[netip.Addr]bool {
	t.Helper()
	out, err := exec.Command("ip", "-n", ns.Name, "-o", "addr", "show", "dev", "veth0").CombinedOutput()
	if err != nil {
		t.Fatalf("ip addr show: %v: %s", err, out)
	}
	addrs := map[netip.Addr]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "inet" || f[i] == "inet6" {
				if p, err := netip.ParsePrefix(f[i+1]); err == nil {
					addrs[p.Addr()] = true
				}
			}
		}
	}
	return addrs
}

// TestDirectionLive captures on one end of the lab's veth (namespace b) in
// each attach mode while traffic flows both ways (the traffic mix, answered
// by b, plus pings b starts itself). The addresses fix each packet's way:
// from b's own addresses it left b (egress), from a's addresses (or the
// mix's spoofed 198.18.200.0/24 sources, sent by a) it arrived (ingress).
// Every row's direction must say the same, and both ways must have rows
// wherever the hook sees both.
func TestDirectionLive(t *testing.T) {
	spoofed := netip.MustParsePrefix("198.18.200.0/24")
	for _, tc := range []struct {
		name      string
		args      []string
		ingress   bool // rows of packets arriving at b expected
		egress    bool // rows of packets leaving b expected
		attachAs  string
		hookKnown string
	}{
		{"tcx both", nil, true, true, "tcx", "tc"},
		{"tc both", []string{"--attach", "tc"}, true, true, "tc", "tc"},
		{"tcx egress", []string{"--direction", "egress"}, false, true, "tcx", "tc"},
		{"tcx ingress", []string{"--direction", "ingress"}, true, false, "tcx", "tc"},
		{"xdp ingress", []string{"--attach", "xdp", "--direction", "ingress"}, true, false, "xdp", "xdp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t)
			dir := t.TempDir()
			ds := filepath.Join(dir, "ds")
			ready := filepath.Join(dir, "ready")
			start(t, l.b, l.gen, "serve", "--v4", l.v4b, "--v6", l.v6b)
			args := append([]string{"capture", "-i", "veth0", "--for", "3s", "-o", ds, "--packets-per-session", "0", "--no-csv", "-q",
				"--ready-file", ready}, tc.args...)
			cmd := start(t, l.b, l.tacap, args...)
			waitFile(t, ready)
			// b starts traffic of its own too: its datagrams and SYNs to
			// closed ports leave, a's port unreachables and resets arrive.
			sendFrom(t, l.b, []string{l.v4a, l.v6a}, 20)
			gen := exec.Command("ip", "netns", "exec", l.a.Name, l.gen, "client", "--v4", l.v4b, "--v6", l.v6b, "--for", "1s")
			if out, err := gen.CombinedOutput(); err != nil {
				t.Fatalf("trafficgen: %v: %s", err, out)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("tacap: %v", err)
			}
			addrA, addrB := nsAddrs(t, l.a), nsAddrs(t, l.b)
			m := readManifest(t, ds)
			if len(m.AttachModes) != 1 || m.AttachModes[0] != tc.attachAs || m.Hook != tc.hookKnown {
				t.Fatalf("attach modes %v, hook %q; want [%s], %q", m.AttachModes, m.Hook, tc.attachAs, tc.hookKnown)
			}
			count := map[string]int{}
			wrong, undecided := 0, 0
			for _, r := range readRows(t, ds, m) {
				want := ""
				switch {
				case addrB[r.f.Src]:
					want = "egress"
				case addrA[r.f.Src] || spoofed.Contains(r.f.Src):
					want = "ingress"
				default: // e.g. "::" of duplicate address detection: either side
					undecided++
					continue
				}
				count[want]++
				if r.dir != want {
					if wrong < 5 {
						t.Errorf("%s → %s proto %d ports %d→%d: direction %q, want %q (the source is %s's)",
							r.f.Src, r.f.Dst, r.f.Protocol, r.f.SrcPort, r.f.DstPort, r.dir, want, map[string]string{"egress": "b", "ingress": "a"}[want])
					}
					wrong++
				}
			}
			if wrong > 0 {
				t.Errorf("%d rows with the wrong direction", wrong)
			}
			for way, expect := range map[string]bool{"ingress": tc.ingress, "egress": tc.egress} {
				switch {
				case expect && count[way] < 20:
					t.Errorf("only %d rows of packets that went %s: the traffic did not run both ways", count[way], way)
				case !expect && count[way] > 0:
					t.Errorf("%d rows of packets that went %s, which this hook does not see", count[way], way)
				}
			}
			t.Logf("ingress %d, egress %d rows checked against the addresses; %d undecided (unspecified source)", count["ingress"], count["egress"], undecided)
		})
	}
}

// udpPacket is an IPv4 or IPv6 UDP packet from a to b with source port
// sport (the frames of a crafted file are told apart by it).
func udpPacket(v6, reverse bool, sport uint16) (uint16, []byte) {
	a4, b4 := netip.MustParseAddr("198.18.9.1"), netip.MustParseAddr("198.18.9.2")
	a6, b6 := netip.MustParseAddr("2001:db8:9::1"), netip.MustParseAddr("2001:db8:9::2")
	if reverse {
		a4, b4, a6, b6 = b4, a4, b6, a6
	}
	if v6 {
		return frames.TypeIPv6, frames.Build(frames.IPv6{Src: a6, Dst: b6, HopLimit: 64}, frames.UDP{SrcPort: sport, DstPort: 53}, frames.Zeros(12))
	}
	return frames.TypeIPv4, frames.Build(frames.IPv4{Src: a4, Dst: b4, TTL: 64}, frames.UDP{SrcPort: sport, DstPort: 53}, frames.Zeros(12))
}

// sendFrom sends, from ns, n UDP datagrams and one TCP SYN to closed ports
// of each destination: the datagrams and SYNs leave ns, the port
// unreachables and resets come back.
func sendFrom(t *testing.T, ns *netns.NS, dsts []string, n int) {
	t.Helper()
	err := ns.Do(func() error {
		for _, dst := range dsts {
			c, err := net.Dial("udp", net.JoinHostPort(dst, "9"))
			if err != nil {
				return err
			}
			for i := 0; i < n; i++ {
				_, _ = c.Write([]byte("from b")) // refused after the first unreachable: that is fine
				time.Sleep(time.Millisecond)
			}
			c.Close()
			if c, err := net.DialTimeout("tcp", net.JoinHostPort(dst, "7"), time.Second); err == nil {
				c.Close()
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// tsharkColumn returns one tshark field per frame of path.
func tsharkColumn(t *testing.T, path, field string) []string {
	t.Helper()
	out, err := exec.Command("tshark", "-r", path, "-n", "-T", "fields", "-e", field).Output()
	if err != nil {
		t.Fatalf("tshark -e %s: %v", field, err)
	}
	return strings.Split(strings.TrimRight(string(out), "\n"), "\n")
}

// checkDirections replays path and checks each row's direction (and
// interface name) against the frame with its source port.
func checkDirections(t *testing.T, path string, wantDir map[uint16]string, wantIface map[uint16]string) {
	t.Helper()
	rows, m := runPcap(t, path, 0)
	if len(rows) != len(wantDir) || int(m.Counters.Recorded) != len(wantDir) {
		t.Fatalf("%d rows (recorded %d) for %d crafted frames", len(rows), m.Counters.Recorded, len(wantDir))
	}
	seen := map[uint16]bool{}
	for _, r := range rows {
		p := r.f.SrcPort
		want, ok := wantDir[p]
		if !ok || seen[p] {
			t.Fatalf("row with source port %d: not one crafted frame", p)
		}
		seen[p] = true
		if r.dir != want {
			t.Errorf("frame with source port %d (%s → %s): direction %q, want %q", p, r.f.Src, r.f.Dst, r.dir, want)
		}
		if w := wantIface[p]; w != "" && r.iface != w {
			t.Errorf("frame with source port %d: iface %q, want %q", p, r.iface, w)
		}
	}
}

// TestDirectionSLL: Linux cooked captures (SLL and SLL2) with every packet
// type, both ways between two hosts and over IPv4 and IPv6: "incoming" (0)
// and the other arrivals (broadcast, multicast, to another host) are
// ingress, "outgoing" (4) is egress, anything else unknown. tshark reads
// the same packet types back from the files (the crafted bytes mean what
// the test thinks).
func TestDirectionSLL(t *testing.T) {
	testenv.Privileged(t)
	requireTshark(t)
	want := map[uint16]string{pktHost: "ingress", pktBroadcast: "ingress", pktMulticast: "ingress", pktOtherHost: "ingress",
		pktOutgoing: "egress", pktLoopback: "unknown"}
	// Incoming and outgoing both ways, then the rest once.
	types := []uint16{pktHost, pktOutgoing, pktOutgoing, pktHost, pktHost, pktOutgoing, pktBroadcast, pktMulticast, pktOtherHost, pktLoopback}
	for _, link := range []uint32{linkSLL, linkSLL2} {
		t.Run(map[uint32]string{linkSLL: "SLL", linkSLL2: "SLL2"}[link], func(t *testing.T) {
			var fr []capFrame
			wantDir := map[uint16]string{}
			var wantTypes []string
			sport := uint16(20000)
			for _, v6 := range []bool{false, true} {
				for i, pt := range types {
					sport++
					et, pkt := udpPacket(v6, i%2 == 1, sport)
					data := sllHeader(pt, et, pkt)
					if link == linkSLL2 {
						data = sll2Header(uint8(pt), et, pkt)
					}
					fr = append(fr, capFrame{ns: 1_700_000_000_000_000_000 + int64(len(fr))*1_000_000, data: data})
					wantDir[sport] = want[pt]
					wantTypes = append(wantTypes, strconv.Itoa(int(pt)))
				}
			}
			path := filepath.Join(t.TempDir(), "cooked.pcap")
			writePcap(t, path, link, fr)
			if got := tsharkColumn(t, path, "sll.pkttype"); strings.Join(got, ",") != strings.Join(wantTypes, ",") {
				t.Fatalf("tshark reads packet types %v from the crafted file, want %v", got, wantTypes)
			}
			checkDirections(t, path, wantDir, nil)
		})
	}
}

// TestDirectionPcapng: Enhanced Packet Blocks with epb_flags inbound (1)
// and outbound (2), both ways and in both byte orders, are ingress and
// egress; flags saying nothing (0, 3) or absent give unknown on Ethernet;
// on a Linux cooked interface the flags win over the packet type, and
// without them the packet type decides. The interface's name is the iface
// column. tshark reads the same directions back.
func TestDirectionPcapng(t *testing.T) {
	testenv.Privileged(t)
	requireTshark(t)
	type ngCase struct {
		sll      bool
		pktType  uint16
		flags    uint32
		hasFlags bool
		want     string
	}
	cases := []ngCase{
		{flags: 1, hasFlags: true, want: "ingress"},
		{flags: 2, hasFlags: true, want: "egress"},
		{flags: 2, hasFlags: true, want: "egress"},
		{flags: 1, hasFlags: true, want: "ingress"},
		{flags: 1 | 1<<2 | 0x00f0_0000, hasFlags: true, want: "ingress"}, // unicast reception, FCS length and error bits beside it
		{flags: 2 | 4<<2, hasFlags: true, want: "egress"},                // promiscuous reception type beside it
		{flags: 0, hasFlags: true, want: "unknown"},
		{flags: 3, hasFlags: true, want: "unknown"}, // invalid: neither
		{hasFlags: false, want: "unknown"},
		{sll: true, pktType: pktOutgoing, flags: 1, hasFlags: true, want: "ingress"},
		{sll: true, pktType: pktHost, flags: 2, hasFlags: true, want: "egress"},
		{sll: true, pktType: pktOutgoing, hasFlags: false, want: "egress"},
		{sll: true, pktType: pktHost, flags: 0, hasFlags: true, want: "ingress"},
	}
	ifaces := []ngInterface{{linkEthernet, "eth-test0"}, {linkSLL, "cooked-test1"}}
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		t.Run(order.String(), func(t *testing.T) {
			var fr []capFrame
			wantDir, wantIface := map[uint16]string{}, map[uint16]string{}
			var wantTshark []string
			sport := uint16(30000)
			for _, v6 := range []bool{false, true} {
				for i, c := range cases {
					sport++
					et, pkt := udpPacket(v6, i%2 == 1, sport)
					f := capFrame{ns: 1_700_000_000_000_000_000 + int64(len(fr))*1_000_000, flags: c.flags, hasFlags: c.hasFlags}
					if c.sll {
						f.iface, f.data = 1, sllHeader(c.pktType, et, pkt)
					} else {
						f.data = frames.Build(frames.Ether{Dst: [6]byte{2, 0, 0, 0, 0, 2}, Src: [6]byte{2, 0, 0, 0, 0, 1}, Type: et}, frames.Payload(pkt))
					}
					fr = append(fr, f)
					wantDir[sport] = c.want
					wantIface[sport] = ifaces[f.iface].name
					dir := ""
					if c.hasFlags && c.flags&3 != 0 {
						dir = strconv.Itoa(int(c.flags & 3))
					}
					wantTshark = append(wantTshark, dir)
				}
			}
			path := filepath.Join(t.TempDir(), "flags.pcapng")
			writePcapng(t, path, order, ifaces, fr)
			got := tsharkColumn(t, path, "frame.packet_flags_direction")
			for i := range got {
				if n, err := strconv.ParseUint(got[i], 0, 32); err == nil && n != 0 {
					got[i] = strconv.Itoa(int(n))
				} else {
					got[i] = ""
				}
			}
			if strings.Join(got, ",") != strings.Join(wantTshark, ",") {
				t.Fatalf("tshark reads directions %v from the crafted file, want %v", got, wantTshark)
			}
			checkDirections(t, path, wantDir, wantIface)
		})
	}
}
