// Command flood sends 64-byte frames out of a veth as fast as one core can,
// with the kernel's XDP live-frames mode (BPF_PROG_TEST_RUN of an XDP_TX
// program with BPF_F_TEST_XDP_LIVE_FRAMES), for scripts/bench/flood.sh. It
// also holds an XDP_PASS program on the receiving veth, which veth needs for
// frames sent this way to arrive.
//
//	flood pass --iface veth0                       (in the receiver's namespace; until killed)
//	flood send --iface veth0 --dst-mac MAC --dst 198.18.0.2 --frames N
package main

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/tacap/tacap/test/frames"
)

const liveFrames = 1 << 1 // BPF_F_TEST_XDP_LIVE_FRAMES

func xdpProg(action int32) (*ebpf.Program, error) {
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.XDP,
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, action), asm.Return()},
		License:      "MIT",
	})
}

type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: flood pass|send [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	ifname := fs.String("iface", "veth0", "interface")
	dstMAC := fs.String("dst-mac", "", "send: the receiver's MAC")
	dst := fs.String("dst", "198.18.0.2", "send: destination IPv4 (198.18.0.0/15)")
	n := fs.Uint("frames", 5_000_000, "send: frames to send")
	_ = fs.Parse(os.Args[2:])
	if err := run(os.Args[1], *ifname, *dstMAC, *dst, uint32(*n)); err != nil {
		fmt.Fprintln(os.Stderr, "flood:", err)
		os.Exit(1)
	}
}

func run(mode, ifname, dstMAC, dst string, n uint32) error {
	iface, err := net.InterfaceByName(ifname)
	if err != nil {
		return err
	}
	switch mode {
	case "pass":
		prog, err := xdpProg(2) // XDP_PASS
		if err != nil {
			return err
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: iface.Index})
		if err != nil {
			return err
		}
		defer l.Close()
		fmt.Println("attached")
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt)
		<-sig
		return nil
	case "send":
		to, err := netip.ParseAddr(dst)
		if err != nil || !netip.MustParsePrefix("198.18.0.0/15").Contains(to) {
			return fmt.Errorf("--dst must be in 198.18.0.0/15")
		}
		mac, err := net.ParseMAC(dstMAC)
		if err != nil {
			return err
		}
		var d, s [6]byte
		copy(d[:], mac)
		copy(s[:], iface.HardwareAddr)
		frame := frames.Build(frames.Ether{Dst: d, Src: s},
			frames.IPv4{Src: netip.MustParseAddr("198.18.0.1"), Dst: to, TTL: 64},
			frames.UDP{SrcPort: 4000, DstPort: 9}, frames.Zeros(18)) // 60 bytes + FCS = 64 on the wire
		prog, err := xdpProg(3) // XDP_TX
		if err != nil {
			return err
		}
		start := time.Now()
		_, err = prog.Run(&ebpf.RunOptions{Data: frame, Repeat: n, Flags: liveFrames, BatchSize: 64,
			Context: xdpMD{DataEnd: uint32(len(frame)), IngressIfindex: uint32(iface.Index)}})
		if err != nil {
			return fmt.Errorf("live frames: %w", err)
		}
		el := time.Since(start)
		fmt.Printf("sent %d frames in %.3f s (%.2f Mpps)\n", n, el.Seconds(), float64(n)/el.Seconds()/1e6)
		return nil
	}
	return fmt.Errorf("unknown mode %q", mode)
}
