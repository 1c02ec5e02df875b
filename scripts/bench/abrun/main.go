// Command abrun times variants of the extractor's BPF object against each
// other in one run: rounds alternate between the objects, each round loads
// the object afresh and runs one packet path through BPF_PROG_TEST_RUN, and
// the medians per object are printed. Driven by scripts/bench/ab.sh.
//
//	abrun -path tracked a.o b.o ...
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/test/frames"
)

func main() {
	path := flag.String("path", "tracked", "packet path: tracked, new-session or quota-limited")
	rounds := flag.Int("rounds", 15, "rounds per object")
	repeat := flag.Int("repeat", 300000, "packets per round")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: abrun [-path P] [-rounds N] object.o...")
		os.Exit(2)
	}
	if err := run(*path, *rounds, *repeat, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "abrun:", err)
		os.Exit(1)
	}
}

func run(path string, rounds, repeat int, objects []string) error {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(0)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return err
	}
	opts := bpf.DefaultOptions()
	opts.BufferPackets = 1 << 19
	switch path {
	case "tracked":
		opts.PacketsPerSession = 0
	case "new-session":
		opts.BenchUniqueKeys, opts.SessionAcceptRestart = true, 0
	case "quota-limited":
		opts.PacketsPerSession, opts.SessionPacketRestart = 1, time.Hour
	default:
		return fmt.Errorf("unknown path %q", path)
	}
	frame := frames.Build(frames.Ether{}, frames.IPv4{Src: mustAddr("198.18.0.1"), Dst: mustAddr("198.19.0.2"), TTL: 64},
		frames.TCP{SrcPort: 40000, DstPort: 443, Flags: frames.ACK}, frames.Zeros(1400))
	ns := make([][]float64, len(objects))
	for r := 0; r < rounds; r++ {
		for i, obj := range objects {
			o, err := bpf.LoadObjectFile(obj, opts)
			if err != nil {
				return err
			}
			_, d, err := o.TacapTcIngress.Benchmark(frame, repeat, nil)
			o.Close()
			if err != nil {
				return err
			}
			ns[i] = append(ns[i], float64(d.Nanoseconds()))
		}
	}
	for i, obj := range objects {
		sort.Float64s(ns[i])
		fmt.Printf("%-28s %-14s median %6.1f ns/pkt  min %6.1f  max %6.1f  (%d rounds)\n", obj, path, ns[i][len(ns[i])/2], ns[i][0], ns[i][len(ns[i])-1], rounds)
	}
	return nil
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
