package capture

import (
	"math"
	"math/bits"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/dataset"
	"github.com/tacap/tacap/labels"
)

// flowEndName names the program's end reasons.
var flowEndName = map[uint32]string{
	bpf.FlowEndIdle:   dataset.FlowEndIdle,
	bpf.FlowEndActive: dataset.FlowEndActive,
	bpf.FlowEndReuse:  dataset.FlowEndReuse,
}

// endedFlow is a flow that ended, as the kernel kept it, on its way to
// the writer, which turns it into a row.
type endedFlow struct {
	key    bpf.SessionKey
	st     bpf.FlowStats
	reason string
}

// flowRows counts the flows that ended, by reason, as they go into the
// batches on their way to the writer; it runs on the run's goroutine.
type flowRows struct {
	byReason map[string]int64
}

func newFlowRows() *flowRows { return &flowRows{byReason: map[string]int64{}} }

// add puts one ended flow into b.
func (fr *flowRows) add(b *batch, key *bpf.SessionKey, st *bpf.FlowStats, reason string) {
	b.flows = append(b.flows, endedFlow{*key, *st, reason})
	fr.byReason[reason]++
}

// made is the number of flows that ended.
func (fr *flowRows) made() int64 {
	var n int64
	for _, c := range fr.byReason {
		n += c
	}
	return n
}

// flowConv makes rows of flows/ (docs/dataset.md, "flows/") on the
// writer's goroutine, which owns it.
type flowConv struct {
	runID  string
	wall   func(uint64) int64
	addrs  *addrText
	labels *labeller
	rows   []dataset.Flow
}

func (c *flowConv) convert(ended []endedFlow) []dataset.Flow {
	c.rows = c.rows[:0]
	for i := range ended {
		e := &ended[i]
		c.rows = append(c.rows, flowRow(c.runID, c.wall, c.addrs, &e.key, &e.st, e.reason))
		c.label(&c.rows[len(c.rows)-1], &e.key, &e.st)
	}
	return c.rows
}

// label sets a flow row's label columns (docs/dataset.md, "Labels").
func (c *flowConv) label(f *dataset.Flow, key *bpf.SessionKey, st *bpf.FlowStats) {
	t := labels.Tuple{Src: key.AddrA, Dst: key.AddrB, V6: key.IpVersion == 6, Proto: key.Protocol,
		Sport: key.PortA, Dport: key.PortB}
	if st.FwdIsA == 0 {
		t.Src, t.Dst, t.Sport, t.Dport = t.Dst, t.Src, t.Dport, t.Sport
	}
	c.labels.m.LabelFlow(f, &t, c.labels.sc)
}

// optionals holds a row's nullable values, so that a row costs one
// allocation for all of them.
type optionals struct {
	f      [18]float64
	i      [6]int32
	nf, ni int
}

func (o *optionals) float(v float64) *float64 {
	p := &o.f[o.nf]
	*p = v
	o.nf++
	return p
}

func (o *optionals) int32(v int32) *int32 {
	p := &o.i[o.ni]
	*p = v
	o.ni++
	return p
}

func flowRow(runID string, wall func(uint64) int64, addrs *addrText, key *bpf.SessionKey, st *bpf.FlowStats, reason string) dataset.Flow {
	srcA, srcP, dstA, dstP := key.AddrA, key.PortA, key.AddrB, key.PortB
	if st.FwdIsA == 0 {
		srcA, srcP, dstA, dstP = dstA, dstP, srcA, srcP
	}
	first, last := wall(st.FirstNs), wall(st.LastNs)
	durNs := st.LastNs - st.FirstNs
	o := new(optionals)
	f := dataset.Flow{
		RunID: runID, FlowID: int64(st.Id),
		SrcIP: addrs.text(srcA, key.IpVersion), DstIP: addrs.text(dstA, key.IpVersion),
		SrcPort: int32(srcP), DstPort: int32(dstP), Protocol: int32(key.Protocol), IPVersion: int32(key.IpVersion),
		FirstTs: first / 1000, LastTs: last / 1000, FirstTsNs: first, LastTsNs: last,
		DurationUs: float64(durNs) / 1e3, EndReason: reason,
		FwdPackets: int64(st.Fwd.Packets), BwdPackets: int64(st.Bwd.Packets),
		FwdBytes: int64(st.Fwd.Bytes), BwdBytes: int64(st.Bwd.Bytes),
		FwdPayloadBytes: int64(st.Fwd.Payload), BwdPayloadBytes: int64(st.Bwd.Payload),
		FinCount: int64(st.Flags[0]), SynCount: int64(st.Flags[1]), RstCount: int64(st.Flags[2]),
		PshCount: int64(st.Flags[3]), AckCount: int64(st.Flags[4]), UrgCount: int64(st.Flags[5]),
		EceCount: int64(st.Flags[6]), CwrCount: int64(st.Flags[7]),
		PacketsRecorded: int64(st.Recorded),
	}
	// Either direction may have no packet: the source of a flow first seen
	// as a SYN-ACK may never send one.
	all := lenStats{n: st.Fwd.Packets + st.Bwd.Packets, sum: st.Fwd.Bytes + st.Bwd.Bytes,
		min: minLen(&st.Fwd, &st.Bwd), max: max(st.Fwd.LenMax, st.Bwd.LenMax)}
	all.sqLo, all.sqHi = add128(st.Fwd.LenSqLo, st.Fwd.LenSqHi, st.Bwd.LenSqLo, st.Bwd.LenSqHi)
	f.LenMin, f.LenMax = int32(all.min), int32(all.max)
	f.LenMean, f.LenStd = all.mean(), all.std()
	if fwd := dirLen(&st.Fwd); fwd.n > 0 {
		f.FwdLenMin, f.FwdLenMax = o.int32(int32(fwd.min)), o.int32(int32(fwd.max))
		f.FwdLenMean, f.FwdLenStd = o.float(fwd.mean()), o.float(fwd.std())
	}
	if bwd := dirLen(&st.Bwd); bwd.n > 0 {
		f.BwdLenMin, f.BwdLenMax = o.int32(int32(bwd.min)), o.int32(int32(bwd.max))
		f.BwdLenMean, f.BwdLenStd = o.float(bwd.mean()), o.float(bwd.std())
	}
	f.IATMin, f.IATMax, f.IATMean, f.IATStd = gapStats(o, all.n, durNs, st.IatSqLo, st.IatSqHi, st.IatMin, st.IatMax)
	f.FwdIATMin, f.FwdIATMax, f.FwdIATMean, f.FwdIATStd = dirGaps(o, &st.Fwd)
	f.BwdIATMin, f.BwdIATMax, f.BwdIATMean, f.BwdIATStd = dirGaps(o, &st.Bwd)
	if st.Fwd.HasWindow != 0 {
		f.FwdInitWindow = o.int32(int32(st.Fwd.InitWindow))
	}
	if st.Bwd.HasWindow != 0 {
		f.BwdInitWindow = o.int32(int32(st.Bwd.InitWindow))
	}
	if durNs > 0 {
		s := float64(durNs) / 1e9
		f.PacketsPerS, f.BytesPerS = o.float(float64(all.n)/s), o.float(float64(all.sum)/s)
	}
	return f
}

func minLen(a, b *bpf.FlowDir) uint32 {
	switch {
	case a.Packets == 0:
		return b.LenMin
	case b.Packets == 0:
		return a.LenMin
	}
	return min(a.LenMin, b.LenMin)
}

// lenStats are n values given by their count, sum, 128-bit sum of squares
// and extremes.
type lenStats struct {
	n, sum     uint64
	sqLo, sqHi uint64
	min, max   uint32
}

func dirLen(d *bpf.FlowDir) lenStats {
	return lenStats{n: d.Packets, sum: d.Bytes, sqLo: d.LenSqLo, sqHi: d.LenSqHi, min: d.LenMin, max: d.LenMax}
}

func (s lenStats) mean() float64 { return float64(s.sum) / float64(s.n) }
func (s lenStats) std() float64  { return sampleStd(s.n, s.sum, s.sqLo, s.sqHi) }

// dirGaps are the gap statistics of one direction, in microseconds.
func dirGaps(o *optionals, d *bpf.FlowDir) (min, max, mean, std *float64) {
	if d.Packets == 0 {
		return nil, nil, nil, nil
	}
	return gapStats(o, d.Packets, d.LastNs-d.FirstNs, d.IatSqLo, d.IatSqHi, d.IatMin, d.IatMax)
}

// gapStats are the statistics of the packets-1 gaps between packets
// (in microseconds), which sum to span nanoseconds: null for one packet.
func gapStats(o *optionals, packets, span, sqLo, sqHi, gmin, gmax uint64) (min, max, mean, std *float64) {
	if packets < 2 {
		return nil, nil, nil, nil
	}
	n := packets - 1
	return o.float(float64(gmin) / 1e3), o.float(float64(gmax) / 1e3), o.float(float64(span) / float64(n) / 1e3),
		o.float(sampleStd(n, span, sqLo, sqHi) / 1e3)
}

func add128(aLo, aHi, bLo, bHi uint64) (lo, hi uint64) {
	lo, c := bits.Add64(aLo, bLo, 0)
	hi, _ = bits.Add64(aHi, bHi, c)
	return lo, hi
}

// sampleStd is the sample standard deviation (n-1) of n values with sum s
// and sum of squares (sqHi, sqLo): sqrt((n*sq - s*s) / (n*(n-1))), whose
// numerator is computed exactly in 192-bit integers (0 exactly when all
// values are equal) before it is rounded to float64; 0 for one value.
func sampleStd(n, s, sqLo, sqHi uint64) float64 {
	if n < 2 {
		return 0
	}
	// n*sq: 64 x 128 bits.
	h0, w0 := bits.Mul64(n, sqLo)
	h1, l1 := bits.Mul64(n, sqHi)
	w1, c := bits.Add64(h0, l1, 0)
	w2 := h1 + c
	// minus s*s.
	sh, sl := bits.Mul64(s, s)
	var b uint64
	w0, b = bits.Sub64(w0, sl, 0)
	w1, b = bits.Sub64(w1, sh, b)
	w2, b = bits.Sub64(w2, 0, b)
	if b != 0 || w0|w1|w2 == 0 {
		return 0 // all values equal (never negative for real sums)
	}
	num := float64(w2)*0x1p128 + float64(w1)*0x1p64 + float64(w0)
	return math.Sqrt(num / (float64(n) * float64(n-1)))
}
