// Command abrun times variants of the extractor's BPF object against each
// other in one run: rounds alternate between the objects, each round loads
// the object afresh and runs one packet path through BPF_PROG_TEST_RUN, and
// the medians per object are printed. Driven by scripts/bench/ab.sh.
//
//	abrun -path tracked a.o b.o ...
//	abrun -pcap FILE a.o b.o ...   (replay: kernel ns per frame)
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"runtime"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/capture/pcapfile"
	"github.com/tacap/tacap/test/frames"
)

func main() {
	path := flag.String("path", "tracked", "packet path: tracked, new-session or quota-limited")
	pcap := flag.String("pcap", "", "instead: replay this capture file (default quotas) and time the kernel per frame")
	rounds := flag.Int("rounds", 15, "rounds per object")
	repeat := flag.Int("repeat", 300000, "packets per round")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: abrun [-path P] [-rounds N] object.o...")
		os.Exit(2)
	}
	run := run
	if *pcap != "" {
		run = func(_ string, rounds, _ int, objects []string) error { return replayRun(*pcap, rounds, objects) }
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

// replayRun replays a capture file through each object in turn (batched,
// as tacap capture --pcap does; default quotas), rounds alternating, and
// prints the kernel's time per frame: the replay calls only, the rings
// emptied every 8192 frames outside the timing.
func replayRun(path string, rounds int, objects []string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rd, err := pcapfile.NewReader(f)
	if err != nil {
		return err
	}
	var frames []bpf.ReplayFrame
	for {
		fr, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if fr.Supported && !fr.Short && len(fr.Data) >= bpf.MinFrameLen {
			frames = append(frames, bpf.ReplayFrame{Data: append([]byte(nil), fr.Data...), TimeNs: uint64(fr.TimeNs),
				Direction: fr.Direction, WireLen: fr.WireLen})
		}
	}
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(0)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return err
	}
	ns := make([][]float64, len(objects))
	for r := 0; r < rounds; r++ {
		for i, obj := range objects {
			opts := bpf.DefaultOptions()
			opts.Replay, opts.Programs = true, bpf.ProgramsReplayBatch
			o, err := bpf.LoadObjectFile(obj, opts)
			if err != nil {
				return err
			}
			var took time.Duration
			for at := 0; at < len(frames); at += 8192 {
				s := time.Now()
				for _, fr := range frames[at:min(at+8192, len(frames))] {
					if err := o.QueueReplay(fr); err != nil {
						o.Close()
						return err
					}
				}
				if err := o.FlushReplay(); err != nil {
					o.Close()
					return err
				}
				took += time.Since(s)
				o.Ring.Drain(1<<30, func(*bpf.Record) {})
				if o.FlowRing != nil {
					o.FlowRing.DrainFlowEnds(1<<30, func(*bpf.FlowEnd) {})
				}
			}
			o.Close()
			ns[i] = append(ns[i], float64(took.Nanoseconds())/float64(len(frames)))
		}
	}
	for i, obj := range objects {
		sort.Float64s(ns[i])
		fmt.Printf("%-28s replay         median %6.1f ns/frame  min %6.1f  max %6.1f  (%d rounds of %d frames)\n", obj, ns[i][len(ns[i])/2], ns[i][0], ns[i][len(ns[i])-1], rounds, len(frames))
	}
	return nil
}
