package capture

import (
	"math"
	"math/big"
	"math/bits"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/dataset"
)

// flowEndName names the program's end reasons.
var flowEndName = map[uint32]string{
	bpf.FlowEndIdle:   dataset.FlowEndIdle,
	bpf.FlowEndActive: dataset.FlowEndActive,
	bpf.FlowEndReuse:  dataset.FlowEndReuse,
}

// flowRows turns the kernel's flow statistics into rows of flows/
// (docs/dataset.md, "flows/"); it runs on the run's goroutine.
type flowRows struct {
	runID string
	wall  func(uint64) int64
	addrs *addrText
	// rows not yet handed to the writer.
	pending []dataset.Flow
	// what was made, by end reason
	byReason map[string]int64
	made     int64
}

func newFlowRows(runID string, wall func(uint64) int64, addrs *addrText) *flowRows {
	return &flowRows{runID: runID, wall: wall, addrs: addrs, byReason: map[string]int64{}}
}

// add makes the row of one ended flow.
func (fr *flowRows) add(key *bpf.SessionKey, st *bpf.FlowStats, reason string) {
	fr.pending = append(fr.pending, flowRow(fr.runID, fr.wall, fr.addrs, key, st, reason))
	fr.byReason[reason]++
	fr.made++
}

// take returns the rows made since the last take.
func (fr *flowRows) take() []dataset.Flow {
	out := fr.pending
	fr.pending = nil
	return out
}

func flowRow(runID string, wall func(uint64) int64, addrs *addrText, key *bpf.SessionKey, st *bpf.FlowStats, reason string) dataset.Flow {
	srcA, srcP, dstA, dstP := key.AddrA, key.PortA, key.AddrB, key.PortB
	if st.FwdIsA == 0 {
		srcA, srcP, dstA, dstP = dstA, dstP, srcA, srcP
	}
	first, last := wall(st.FirstNs), wall(st.LastNs)
	durNs := st.LastNs - st.FirstNs
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
		f.FwdLenMin, f.FwdLenMax = ptr(int32(fwd.min)), ptr(int32(fwd.max))
		f.FwdLenMean, f.FwdLenStd = ptr(fwd.mean()), ptr(fwd.std())
	}
	if bwd := dirLen(&st.Bwd); bwd.n > 0 {
		f.BwdLenMin, f.BwdLenMax = ptr(int32(bwd.min)), ptr(int32(bwd.max))
		f.BwdLenMean, f.BwdLenStd = ptr(bwd.mean()), ptr(bwd.std())
	}
	f.IATMin, f.IATMax, f.IATMean, f.IATStd = gapStats(all.n, durNs, st.IatSqLo, st.IatSqHi, st.IatMin, st.IatMax)
	f.FwdIATMin, f.FwdIATMax, f.FwdIATMean, f.FwdIATStd = dirGaps(&st.Fwd)
	f.BwdIATMin, f.BwdIATMax, f.BwdIATMean, f.BwdIATStd = dirGaps(&st.Bwd)
	if st.Fwd.HasWindow != 0 {
		f.FwdInitWindow = ptr(int32(st.Fwd.InitWindow))
	}
	if st.Bwd.HasWindow != 0 {
		f.BwdInitWindow = ptr(int32(st.Bwd.InitWindow))
	}
	if durNs > 0 {
		s := float64(durNs) / 1e9
		f.PacketsPerS, f.BytesPerS = ptr(float64(all.n)/s), ptr(float64(all.sum)/s)
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

func ptr[T any](v T) *T { return &v }

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
func dirGaps(d *bpf.FlowDir) (min, max, mean, std *float64) {
	if d.Packets == 0 {
		return nil, nil, nil, nil
	}
	return gapStats(d.Packets, d.LastNs-d.FirstNs, d.IatSqLo, d.IatSqHi, d.IatMin, d.IatMax)
}

// gapStats are the statistics of the packets-1 gaps between packets
// (in microseconds), which sum to span nanoseconds: null for one packet.
func gapStats(packets, span, sqLo, sqHi, gmin, gmax uint64) (min, max, mean, std *float64) {
	if packets < 2 {
		return nil, nil, nil, nil
	}
	n := packets - 1
	return ptr(float64(gmin) / 1e3), ptr(float64(gmax) / 1e3), ptr(float64(span) / float64(n) / 1e3),
		ptr(sampleStd(n, span, sqLo, sqHi) / 1e3)
}

func add128(aLo, aHi, bLo, bHi uint64) (lo, hi uint64) {
	lo, c := bits.Add64(aLo, bLo, 0)
	hi, _ = bits.Add64(aHi, bHi, c)
	return lo, hi
}

// sampleStd is the sample standard deviation (n-1) of n values with sum s
// and sum of squares (sqHi, sqLo), computed exactly as
// sqrt((n*sq - s*s) / (n*(n-1))) before the one rounding to float64; 0 for
// one value.
func sampleStd(n, s, sqLo, sqHi uint64) float64 {
	if n < 2 {
		return 0
	}
	sq := new(big.Int).Lsh(new(big.Int).SetUint64(sqHi), 64)
	sq.Or(sq, new(big.Int).SetUint64(sqLo))
	bn := new(big.Int).SetUint64(n)
	num := new(big.Int).Mul(bn, sq)
	bs := new(big.Int).SetUint64(s)
	num.Sub(num, bs.Mul(bs, bs))
	if num.Sign() <= 0 {
		return 0 // all values equal
	}
	den := new(big.Int).Mul(bn, new(big.Int).SetUint64(n-1))
	v, _ := new(big.Rat).SetFrac(num, den).Float64()
	return math.Sqrt(v)
}
