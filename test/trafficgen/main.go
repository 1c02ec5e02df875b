// Command trafficgen drives a bounded, known traffic mix between two test
// namespaces, for the demo and the end-to-end tests. Run it inside each
// namespace with `ip netns exec`:
//
//	trafficgen serve  --v4 198.18.0.2 --v6 2001:db8::2              (until killed)
//	trafficgen client --v4 198.18.0.2 --v6 2001:db8::2 [--for 10s]
//
// The client sends: a TCP transfer and UDP datagrams over IPv4 and IPv6,
// ICMP and ICMPv6 echo requests, a burst of SYNs from spoofed sources in
// 198.18.200.0/24 (raw frames), and a connect scan of 100 ports. It refuses
// any target outside 198.18.0.0/15 and 2001:db8::/32, and stops by itself.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/tacap/tacap/test/frames"
)

var (
	testV4 = netip.MustParsePrefix("198.18.0.0/15")
	testV6 = netip.MustParsePrefix("2001:db8::/32")
)

const (
	tcpPort = 5001
	udpPort = 5002
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: trafficgen serve|client --v4 ADDR --v6 ADDR [--for D] [--iface IF]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	v4 := fs.String("v4", "", "IPv4 address (server: to listen on; client: of the server)")
	v6 := fs.String("v6", "", "IPv6 address")
	dur := fs.Duration("for", 5*time.Second, "client: spread the mix over this long")
	iface := fs.String("iface", "veth0", "client: interface for the raw SYN burst")
	_ = fs.Parse(os.Args[2:])
	a4, err4 := netip.ParseAddr(*v4)
	a6, err6 := netip.ParseAddr(*v6)
	if err4 != nil || err6 != nil || !testV4.Contains(a4) || !testV6.Contains(a6) {
		fmt.Fprintln(os.Stderr, "trafficgen: --v4 must be in 198.18.0.0/15 and --v6 in 2001:db8::/32")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(a4, a6)
	case "client":
		err = client(a4, a6, *dur, *iface)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "trafficgen:", err)
		os.Exit(1)
	}
}

func serve(a4, a6 netip.Addr) error {
	errc := make(chan error, 4)
	for _, a := range []netip.Addr{a4, a6} {
		l, err := net.Listen("tcp", netip.AddrPortFrom(a, tcpPort).String())
		if err != nil {
			return err
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					errc <- err
					return
				}
				go func() { io.Copy(io.Discard, c); c.Close() }()
			}
		}()
		pc, err := net.ListenPacket("udp", netip.AddrPortFrom(a, udpPort).String())
		if err != nil {
			return err
		}
		go func() {
			buf := make([]byte, 65536)
			for {
				if _, _, err := pc.ReadFrom(buf); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	fmt.Println("serving")
	return <-errc
}

func client(a4, a6 netip.Addr, dur time.Duration, iface string) error {
	step := dur / 5
	var errs []error
	run := func(name string, f func() error) {
		if err := f(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		time.Sleep(step)
	}
	run("tcp transfer", func() error { return transfer(a4, a6, 1<<20) })
	run("udp", func() error { return datagrams(a4, a6, 200) })
	run("icmp echo", func() error { return echo(a4, a6, 5) })
	run("syn burst", func() error { return synBurst(a4, iface, 500) })
	run("port scan", func() error { return scan(a4, 100) })
	fmt.Println("done")
	return errors.Join(errs...)
}

func transfer(a4, a6 netip.Addr, n int) error {
	for _, a := range []netip.Addr{a4, a6} {
		c, err := net.DialTimeout("tcp", netip.AddrPortFrom(a, tcpPort).String(), 2*time.Second)
		if err != nil {
			return err
		}
		buf := make([]byte, 32<<10)
		for sent := 0; sent < n; sent += len(buf) {
			if _, err := c.Write(buf); err != nil {
				c.Close()
				return err
			}
		}
		c.Close()
	}
	return nil
}

func datagrams(a4, a6 netip.Addr, n int) error {
	for _, a := range []netip.Addr{a4, a6} {
		c, err := net.Dial("udp", netip.AddrPortFrom(a, udpPort).String())
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			if _, err := c.Write(make([]byte, 20+i*7%1200)); err != nil {
				c.Close()
				return err
			}
			if i%50 == 49 {
				time.Sleep(5 * time.Millisecond)
			}
		}
		c.Close()
	}
	return nil
}

func echo(a4, a6 netip.Addr, n int) error {
	for _, tc := range []struct {
		network string
		addr    netip.Addr
		typ     icmp.Type
		proto   int
	}{
		{"ip4:icmp", a4, ipv4.ICMPTypeEcho, 1},
		{"ip6:ipv6-icmp", a6, ipv6.ICMPTypeEchoRequest, 58},
	} {
		c, err := icmp.ListenPacket(tc.network, "")
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			m := icmp.Message{Type: tc.typ, Body: &icmp.Echo{ID: 0x7ac, Seq: i, Data: []byte("tacap demo")}}
			b, err := m.Marshal(nil)
			if err != nil {
				c.Close()
				return err
			}
			if _, err := c.WriteTo(b, &net.IPAddr{IP: tc.addr.AsSlice()}); err != nil {
				c.Close()
				return err
			}
			time.Sleep(10 * time.Millisecond)
		}
		c.Close()
	}
	return nil
}

// synBurst sends SYNs to port 80 from spoofed sources in 198.18.200.0/24 as
// raw frames to the broadcast address: the target's stack drops them, but
// they cross the wire like a flood's.
func synBurst(dst netip.Addr, ifname string, n int) error {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return err
	}
	var src [6]byte
	copy(src[:], ifi.HardwareAddr)
	burst := make([][]byte, n)
	for i := range burst {
		spoofed := netip.AddrFrom4([4]byte{198, 18, 200, byte(i % 250)})
		burst[i] = frames.Build(frames.Ether{Dst: [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, Src: src},
			frames.IPv4{Src: spoofed, Dst: dst, TTL: 64, ID: uint16(i)},
			frames.TCP{SrcPort: uint16(1024 + rand.IntN(60000)), DstPort: 80, Seq: rand.Uint32(), Flags: frames.SYN, Window: 1024})
	}
	return frames.Send(ifname, burst...)
}

func scan(a netip.Addr, ports int) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 20)
	for p := 1; p <= ports; p++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(p int) {
			defer wg.Done()
			defer func() { <-sem }()
			if c, err := net.DialTimeout("tcp", netip.AddrPortFrom(a, uint16(p)).String(), 300*time.Millisecond); err == nil {
				c.Close()
			}
		}(p)
	}
	wg.Wait()
	return nil
}
