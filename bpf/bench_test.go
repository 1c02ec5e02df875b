package bpf_test

import (
	"sort"
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
		in := frame
		if tc.name == "not-ip" {
			in = frames.Build(frames.Ether{Type: frames.TypeARP}, frames.Zeros(28))
		}
		b.Run(tc.name, func(b *testing.B) { benchProgram(b, tc.opts, in, tc.name, tc.path) })
	}
}

// benchProgram loads the extractor with opts and reports the kernel's ns
// per packet over frame, checking that the packets took the intended path.
func benchProgram(b *testing.B, opts bpf.Options, frame []byte, name string, path func(bpf.Counters) uint64) {
	const repeat = 100_000
	pinCPU(b)
	o, err := bpf.Load(opts)
	if err != nil {
		b.Fatal(err)
	}
	defer o.Close()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		_, d, err := o.TacapTcIngress.Benchmark(frame, repeat, nil)
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
	if got, want := path(c), uint64(b.N)*repeat; float64(got) < 0.99*float64(want) {
		b.Fatalf("only %d of %d packets took the %s path: %+v", got, want, name, c)
	}
}

// BenchmarkFilter measures what a --filter costs the kernel program per
// packet on the tracked path (quotas off): no filter, a typical filter
// that matches (parsed fields only), a TCP-flags test, one that reads the
// frame's bytes, and one that rejects the packet. All five are loaded at
// once and rounds alternate between them, so the machine's drift hits
// them alike; each reports its median ns/pkt over the rounds, and
// "<name>-over-none" the median of its per-round difference to no filter.
//
//	go test ./bpf -run '^$' -bench Filter -benchtime 15x
func BenchmarkFilter(b *testing.B) {
	testenv.Privileged(b)
	pinCPU(b)
	frame := frames.Build(eth(), ip4(), tcpSyn, frames.Zeros(1400))
	const repeat = 100_000
	cases := []struct {
		name, expr string
		filtered   bool
	}{
		{"none", "", false},
		{"ip", "ip", false},
		{"fields", "not port 22 and net 198.18.0.0/15", false},
		{"tcp-flags", "tcp[tcpflags] & (tcp-syn|tcp-ack) != 0", false},
		{"bytes", "ip[0] & 0xf = 5 and tcp[12] >> 4 = 5", false},
		{"rejects", "udp port 53", true},
	}
	objs := make([]*bpf.Objects, len(cases))
	for i, tc := range cases {
		opts := bpf.DefaultOptions()
		opts.PacketsPerSession = 0
		opts.BufferPackets = 1 << 17
		opts.Programs = bpf.ProgramsTC
		if tc.expr != "" {
			p, err := bpf.CompileFilter(tc.expr)
			if err != nil {
				b.Fatal(err)
			}
			opts.Filter = p
		}
		o, err := bpf.Load(opts)
		if err != nil {
			b.Fatal(err)
		}
		defer o.Close()
		objs[i] = o
	}
	per := make([][]float64, len(cases))
	over := make([][]float64, len(cases))
	b.ResetTimer()
	for round := 0; round < b.N; round++ {
		for k := range cases {
			i := (k + round) % len(cases) // rotate the order each round
			_, d, err := objs[i].TacapTcIngress.Benchmark(frame, repeat, nil)
			if err != nil {
				b.Fatal(err)
			}
			objs[i].Ring.Drain(1<<30, func(*bpf.Record) {})
			per[i] = append(per[i], float64(d.Nanoseconds()))
		}
		for i := range cases {
			over[i] = append(over[i], per[i][round]-per[0][round])
		}
	}
	b.StopTimer()
	for i, tc := range cases {
		c, err := objs[i].ReadCounters()
		if err != nil {
			b.Fatal(err)
		}
		want, got := uint64(b.N)*repeat, c.Recorded
		if tc.filtered {
			got = c.Filtered
		}
		if got != want {
			b.Fatalf("%s: %d of %d packets took the intended path: %+v", tc.name, got, want, c)
		}
		b.ReportMetric(median(per[i]), tc.name+"-ns/pkt")
		if i > 0 {
			b.ReportMetric(median(over[i]), tc.name+"-over-none-ns/pkt")
		}
	}
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
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
