package bpf_test

import (
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/test/frames"
	"github.com/tacap/tacap/test/testenv"
)

// BenchmarkExtractor measures the kernel program's cost per packet with
// BPF_PROG_TEST_RUN, as the kernel times it (no syscall overhead), beside
// an empty TC program measured in the same run. Report: ns/pkt.
//
//	go test ./bpf -run '^$' -bench Extractor -count 5
func BenchmarkExtractor(b *testing.B) {
	testenv.Privileged(b)
	frame := frames.Build(eth(), ip4(), tcpSyn, frames.Zeros(1400))
	const repeat = 100_000

	empty, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.SchedCLS,
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, -1), asm.Return()},
		License:      "MIT",
	})
	if err != nil {
		b.Fatal(err)
	}
	defer empty.Close()

	live := func(f func(*bpf.Options)) bpf.Options {
		o := bpf.DefaultOptions()
		o.BufferPackets = 1 << 20 // room for a whole batch: the reader drains between batches
		f(&o)
		return o
	}
	cases := []struct {
		name string
		opts bpf.Options
		path func(c bpf.Counters) uint64 // packets that took the intended path
	}{
		{"tracked", live(func(o *bpf.Options) { o.PacketsPerSession = 0 }), func(c bpf.Counters) uint64 { return c.Recorded }},
		{"new-session", live(func(o *bpf.Options) { o.BenchUniqueKeys = true; o.SessionAcceptRestart = 0 }), func(c bpf.Counters) uint64 { return c.Recorded }},
		{"quota-limited", live(func(o *bpf.Options) { o.PacketsPerSession = 1; o.SessionPacketRestart = time.Hour }), func(c bpf.Counters) uint64 { return c.SessionQuota }},
		{"not-ip", live(func(o *bpf.Options) {}), func(c bpf.Counters) uint64 { return c.NotIP }},
	}

	b.Run("empty", func(b *testing.B) {
		pinCPU(b)
		var total time.Duration
		for i := 0; i < b.N; i++ {
			_, d, err := empty.Benchmark(frame, repeat, nil)
			if err != nil {
				b.Fatal(err)
			}
			total += d
		}
		b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/pkt")
	})
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			pinCPU(b)
			o, err := bpf.Load(tc.opts)
			if err != nil {
				b.Fatal(err)
			}
			defer o.Close()
			in := frame
			if tc.name == "not-ip" {
				in = frames.Build(frames.Ether{Type: frames.TypeARP}, frames.Zeros(28))
			}
			var total time.Duration
			for i := 0; i < b.N; i++ {
				_, d, err := o.TacapTcIngress.Benchmark(in, repeat, nil)
				if err != nil {
					b.Fatal(err)
				}
				total += d
				o.Ring.Drain(1<<30, func(*bpf.Record) {})
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/pkt")
			c, err := o.ReadCounters()
			if err != nil {
				b.Fatal(err)
			}
			if got, want := tc.path(c), uint64(b.N)*repeat; float64(got) < 0.99*float64(want) {
				b.Fatalf("only %d of %d packets took the %s path: %+v", got, want, tc.name, c)
			}
		})
	}
}

// BenchmarkRingDrain measures the reader alone: the program fills the ring
// with 1 M records (BPF_PROG_TEST_RUN), then Drain hands them over in
// batches, one consumer-position update per batch. Report: ns/record of
// user CPU.
//
//	go test ./bpf -run '^$' -bench RingDrain -count 5
func BenchmarkRingDrain(b *testing.B) {
	testenv.Privileged(b)
	opts := bpf.DefaultOptions()
	opts.PacketsPerSession = 0
	opts.BufferPackets = 1 << 20
	o, err := bpf.Load(opts)
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	frame := frames.Build(eth(), ip4(), tcpSyn, frames.Zeros(100))
	const n = 1 << 20
	var total time.Duration
	var sink uint64
	for i := 0; i < b.N; i++ {
		if _, _, err := o.TacapTcIngress.Benchmark(frame, n, nil); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		got := 0
		for got < n {
			k, _ := o.Ring.Drain(8192, func(r *bpf.Record) { sink += uint64(r.IpLen) })
			if k == 0 {
				b.Fatalf("ring empty after %d of %d records", got, n)
			}
			got += k
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N*n), "ns/record")
	_ = sink
}
