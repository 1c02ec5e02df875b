// End-to-end tests of the kernel program on real interfaces, in throwaway
// network namespaces.
package test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/capture"
	"github.com/tacap/tacap/test/frames"
	"github.com/tacap/tacap/test/netns"
	"github.com/tacap/tacap/test/testenv"
)

// TestLiveTCX attaches the extractor with TCX to the ingress of a veth in a
// throwaway namespace. UDP over IPv4 and IPv6 must arrive at a listener
// while the program is attached (it never drops) and be recorded exactly.
// Raw 802.1Q frames check the VLAN tag the kernel moves into skb metadata
// before TC ingress, the one path a Program.Run test cannot reach.
func TestLiveTCX(t *testing.T) {
	testenv.Privileged(t)
	a, b := netns.New(t, "tcxa"), netns.New(t, "tcxb")
	netns.Veth(t, a, "veth0", b, "veth0")
	for i, ns := range []*netns.NS{a, b} {
		ns.MustIP(t, "addr add 198.18.7.%d/24 dev veth0", i+1)
		ns.MustIP(t, "addr add 2001:db8:7::%d/64 dev veth0 nodad", i+1)
	}

	opts := bpf.DefaultOptions()
	opts.PacketsPerSession = 0
	objs, err := bpf.Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer objs.Close()
	err = b.Do(func() error {
		iface, err := net.InterfaceByName("veth0")
		if err != nil {
			return err
		}
		l, err := link.AttachTCX(link.TCXOptions{Interface: iface.Index, Program: objs.TacapTcIngress, Attach: ebpf.AttachTCXIngress})
		if err != nil {
			return err
		}
		t.Cleanup(func() { l.Close() })
		return nil
	})
	if err != nil {
		testenv.Unavailable(t, "attach tcx: "+err.Error())
	}

	records := func(want int, keep func(*bpf.Record) bool) []bpf.Record {
		t.Helper()
		var recs []bpf.Record
		deadline := time.Now().Add(3 * time.Second)
		for len(recs) < want && time.Now().Before(deadline) {
			objs.Ring.Drain(1<<20, func(r *bpf.Record) {
				if keep(r) {
					recs = append(recs, *r)
				}
			})
			time.Sleep(5 * time.Millisecond)
		}
		return recs
	}

	const n = 5
	anchor := capture.NewAnchor()
	for _, tc := range []struct{ addr, src string }{
		{"198.18.7.2:9000", "198.18.7.1"},
		{"[2001:db8:7::2]:9001", "2001:db8:7::1"},
	} {
		got := make(chan int, 1)
		if err := b.Do(func() error {
			pc, err := net.ListenPacket("udp", tc.addr)
			if err != nil {
				return err
			}
			go func() {
				defer pc.Close()
				buf := make([]byte, 2048)
				count := 0
				_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
				for count < n {
					if _, _, err := pc.ReadFrom(buf); err != nil {
						break
					}
					count++
				}
				got <- count
			}()
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		sent := time.Now()
		if err := a.Do(func() error {
			c, err := net.Dial("udp", tc.addr)
			if err != nil {
				return err
			}
			defer c.Close()
			for i := 0; i < n; i++ {
				if _, err := c.Write(make([]byte, 100+i)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if c := <-got; c != n {
			t.Fatalf("%s: %d of %d datagrams arrived with the program attached", tc.addr, c, n)
		}
		received := time.Now()
		recs := records(n, func(r *bpf.Record) bool { return r.Protocol == 17 })
		if len(recs) != n {
			t.Fatalf("%s: %d UDP records, want %d", tc.addr, len(recs), n)
		}
		src := netip.MustParseAddr(tc.src)
		for i, r := range recs {
			if s := addrOf(&r); s != src || r.Direction != bpf.DirectionIngress || r.UdpPayloadLen != uint16(100+i) || r.VlanId != 0 {
				t.Errorf("record %d: src %s direction %d udp payload %d vlan %d; want %s, ingress, %d, 0",
					i, s, r.Direction, r.UdpPayloadLen, r.VlanId, src, 100+i)
			}
			if at := anchor.Time(r.TsNs); at.Before(sent.Add(-time.Millisecond)) || at.After(received.Add(time.Millisecond)) {
				t.Errorf("record %d: wall time %v outside [%v, %v]", i, at, sent, received)
			}
		}
	}

	// Tagged frames: the outer tag reaches the program in skb metadata, an
	// inner one stays in the frame and is the innermost.
	for _, tc := range []struct {
		name   string
		layers []frames.Layer
		vlan   uint16
	}{
		{"802.1Q", []frames.Layer{frames.VLAN{ID: 42}}, 42},
		{"802.1ad+802.1Q", []frames.Layer{frames.VLAN{TPID: frames.TypeQinQ, ID: 100}, frames.VLAN{ID: 200}}, 200},
	} {
		ls := []frames.Layer{frames.Ether{Dst: [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, Src: [6]byte{2, 0, 0, 0, 0, 9}}}
		ls = append(ls, tc.layers...)
		ls = append(ls, frames.IPv4{Src: netip.MustParseAddr("198.18.9.1"), Dst: netip.MustParseAddr("198.18.9.2"), TTL: 9},
			frames.UDP{SrcPort: 7, DstPort: 7}, frames.Zeros(18))
		frame := frames.Build(ls...)
		if err := a.Do(func() error { return frames.Send("veth0", frame) }); err != nil {
			t.Fatal(err)
		}
		recs := records(1, func(r *bpf.Record) bool { return r.Ttl == 9 })
		if len(recs) != 1 || recs[0].VlanId != tc.vlan || recs[0].UdpPayloadLen != 18 {
			t.Fatalf("%s: records %+v, want one with vlan %d", tc.name, recs, tc.vlan)
		}
	}

	c, err := objs.ReadCounters()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(); err != nil {
		t.Fatal(err)
	}
}

func addrOf(r *bpf.Record) netip.Addr {
	if r.IpVersion == 4 {
		return netip.AddrFrom4([4]byte(r.SrcAddr[:4]))
	}
	return netip.AddrFrom16(r.SrcAddr)
}
