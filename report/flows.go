package report

import (
	"math"
	"slices"
	"sort"
	"time"

	"github.com/tacap/tacap/dataset"
)

// The flows/ table has one row per biflow, with figures over every packet
// the kernel saw of it, recorded or not (docs/dataset.md, "flows/"): where
// packets/ is a sample, flows/ is the exact volume. Its rows are read after
// those of packets/ and sessions/ and only added up per run (flowTally)
// and offered to the top flows; nothing else of the report uses them.

// flowTally adds up one run's flows/ rows.
type flowTally struct {
	rows, packets, bytes, recorded uint64
	oneWay                         uint64
	reasons                        map[uint32]uint64 // by end_reason (interned)
	durations                      []int64           // ns, one per row: sorted by sortDurations, for the median
	durBins, sizeBins              [decades]uint64   // flows by decade of duration (from 1 µs) and of bytes (from 1 B)
	zeroDuration                   uint64            // flows whose first and last packets have one time
	unrecorded                     []unrecordedFlow  // flows with packets the sampling did not record
}

// unrecordedFlow is a flow's packets the sampling did not record, and
// the flow's life.
type unrecordedFlow struct {
	first, last int64 // ns
	packets     uint64
}

// decades is how many powers of ten the histograms span: durations from
// 1 µs to 10^5 s, sizes from 1 B to 10^11 B (the first and last bins also
// hold what is below and above).
const decades = 11

// decade is the bin of v ≥ 1 on a log scale: floor(log10 v), within the
// bins.
func decade(v float64) int {
	if v < 10 {
		return 0
	}
	return min(int(math.Log10(v)), decades-1)
}

// flowRow is one flows/ row, as the top flows keep it.
type flowRow struct {
	run                      int32
	id                       int64
	src, dst                 uint32
	sport, dport, proto      int32
	packets, bytes, recorded uint64
	first, last              int64 // ns
	reason                   uint32
}

// nonNeg is a count of a row, negative values (never written by tacap)
// taken as 0.
func nonNeg(n int64) uint64 { return uint64(max(n, 0)) }

// durationNs is last − first, 0 when last is before first; it saturates
// rather than wrap.
func durationNs(first, last int64) int64 {
	if last < first {
		return 0
	}
	if d := last - first; d >= 0 {
		return d
	}
	return math.MaxInt64
}

// addFlows adds one batch of flows/ rows of run to its tally and offers
// them to the top flows.
func (a *aggregator) addFlows(b *batch, run int32, t *flowTally) {
	// betterFlow reads the names the decoding goroutines append to.
	a.names.mu.Lock()
	defer a.names.mu.Unlock()
	if t.reasons == nil {
		t.reasons = map[uint32]uint64{}
	}
	ids := b.i64[flFlowID]
	src, dst := b.str[flSrcIP], b.str[flDstIP]
	sport, dport, proto := b.i32[flSrcPort], b.i32[flDstPort], b.i32[flProtocol]
	first, last := b.i64[flFirstTsNs], b.i64[flLastTsNs]
	reason := b.str[flEndReason]
	fwdP, bwdP := b.i64[flFwdPackets], b.i64[flBwdPackets]
	fwdB, bwdB := b.i64[flFwdBytes], b.i64[flBwdBytes]
	rec := b.i64[flPacketsRecorded]
	a.lab.addFlows(b, run)
	t.durations = slices.Grow(t.durations, b.rows)
	// Rows come in runs of one end_reason: the map is touched when it
	// changes.
	cur, n := uint32(0), uint64(0)
	for i := 0; i < b.rows; i++ {
		pk := nonNeg(fwdP[i]) + nonNeg(bwdP[i])
		by := nonNeg(fwdB[i]) + nonNeg(bwdB[i])
		r := nonNeg(rec[i])
		t.rows++
		t.packets += pk
		t.bytes += by
		t.recorded += r
		if bwdP[i] <= 0 {
			t.oneWay++
		}
		if reason[i] != cur && n > 0 {
			t.reasons[cur] += n
			n = 0
		}
		cur = reason[i]
		n++
		if pk > r {
			t.unrecorded = append(t.unrecorded, unrecordedFlow{first[i], last[i], pk - r})
		}
		d := durationNs(first[i], last[i])
		t.durations = append(t.durations, d)
		if d == 0 {
			t.zeroDuration++
		} else {
			t.durBins[decade(float64(d)/1e3)]++ // µs
		}
		t.sizeBins[decade(float64(max(by, 1)))]++
		a.flowTop.offer(flowRow{run, ids[i], src[i], dst[i], sport[i], dport[i], proto[i], pk, by, r, first[i], last[i], reason[i]})
	}
	if n > 0 {
		t.reasons[cur] += n
	}
}

// betterFlow ranks flows by bytes, packets, then by addresses, ports and
// the rest of the row (a total order: the same output for any input order).
func (a *aggregator) betterFlow(x, y *flowRow) bool {
	if x.bytes != y.bytes {
		return x.bytes > y.bytes
	}
	if x.packets != y.packets {
		return x.packets > y.packets
	}
	n := a.names.names
	switch {
	case x.src != y.src:
		return n[x.src] < n[y.src]
	case x.dst != y.dst:
		return n[x.dst] < n[y.dst]
	case x.sport != y.sport:
		return x.sport < y.sport
	case x.dport != y.dport:
		return x.dport < y.dport
	case x.proto != y.proto:
		return x.proto < y.proto
	case x.run != y.run:
		return x.run < y.run
	case x.id != y.id:
		return x.id < y.id
	case x.first != y.first:
		return x.first < y.first
	case x.last != y.last:
		return x.last < y.last
	case x.recorded != y.recorded:
		return x.recorded > y.recorded
	}
	return n[x.reason] < n[y.reason]
}

// sortDurations sorts the tally's durations, for medians.
func (t *flowTally) sortDurations() { slices.Sort(t.durations) }

// flowsReport adds up the runs' flows: the total and, for each run with a
// flows/ part, its own figures (nil for the others). The tallies'
// durations must be sorted.
func (a *aggregator) flowsReport(tallies []flowTally, runs []*run) (Flows, []*FlowStats) {
	perRun := make([]*FlowStats, len(runs))
	var all []*flowTally
	out := Flows{}
	for i, r := range runs {
		if len(r.flows) == 0 {
			continue
		}
		out.Runs++
		all = append(all, &tallies[i])
		s := flowStatsOf([]*flowTally{&tallies[i]}, a.names.names)
		perRun[i] = &s
	}
	out.FlowStats = flowStatsOf(all, a.names.names)
	return out, perRun
}

// flowStatsOf adds up tallies (their durations sorted).
func flowStatsOf(ts []*flowTally, names []string) FlowStats {
	var s FlowStats
	byReason := map[string]uint64{}
	var durs [][]int64
	n := 0
	for _, t := range ts {
		s.Flows += t.rows
		s.Packets += t.packets
		s.Bytes += t.bytes
		s.PacketsRecorded += t.recorded
		s.OneWay += t.oneWay
		for id, c := range t.reasons {
			byReason[names[id]] += c
		}
		if len(t.durations) > 0 {
			durs = append(durs, t.durations)
			n += len(t.durations)
		}
	}
	var durBins, sizeBins [decades]uint64
	for _, t := range ts {
		for i := range durBins {
			durBins[i] += t.durBins[i]
			sizeBins[i] += t.sizeBins[i]
		}
		s.ZeroDuration += t.zeroDuration
	}
	s.DurationHistogram = histogramOf(durBins, -6)
	s.SizeHistogram = histogramOf(sizeBins, 0)
	s.OneWayShare = share(s.OneWay, s.Flows)
	s.ByEndReason = endReasonsOf(byReason, s.Flows)
	if n > 0 {
		var longest int64
		for _, d := range durs {
			longest = max(longest, d[len(d)-1])
		}
		med := kth(durs, (n-1)/2)
		if n%2 == 0 {
			med = med/2 + kth(durs, n/2)/2 // halves first: no overflow
		}
		m, l := nsSeconds(med), nsSeconds(float64(longest))
		s.MedianDurationSec, s.MaxDurationSec = &m, &l
	}
	return s
}

// endReasonsOf lists the contract's end reasons in its order, each even if
// no flow ended so, then any other value found, by name.
func endReasonsOf(byReason map[string]uint64, flows uint64) []EndReason {
	known := dataset.FlowEndReasons()
	var other []string
	for k := range byReason {
		if !slices.Contains(known, k) {
			other = append(other, k)
		}
	}
	sort.Strings(other)
	out := make([]EndReason, 0, len(known)+len(other))
	for _, k := range append(known, other...) {
		out = append(out, EndReason{k, byReason[k], share(byReason[k], flows)})
	}
	return out
}

// kth is the k-th smallest (from 0) of all the values of lists, each
// sorted, as a float64 (for the median's mean of two). It searches the
// value: the smallest v that more than k values do not exceed.
func kth(lists [][]int64, k int) float64 {
	if len(lists) == 1 {
		return float64(lists[0][k])
	}
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, l := range lists {
		lo, hi = min(lo, l[0]), max(hi, l[len(l)-1])
	}
	for lo < hi {
		mid := lo + (hi-lo)/2 // durations are ≥ 0: hi − lo does not overflow
		n := 0
		for _, l := range lists {
			n += sort.Search(len(l), func(i int) bool { return l[i] > mid })
		}
		if n > k {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return float64(lo)
}

// nsSeconds is ns in seconds, to the microsecond.
func nsSeconds(ns float64) float64 { return math.Round(ns/1e3) / 1e6 }

// topFlows is the largest flows, best first.
func (a *aggregator) topFlows(runs []*run) []TopFlow {
	names := a.names.names
	out := []TopFlow{}
	for _, f := range a.flowTop.sorted() {
		out = append(out, TopFlow{runs[f.run].id, f.id, names[f.src], f.sport, names[f.dst], f.dport, protoName(f.proto),
			f.packets, f.bytes, f.recorded, time.Unix(0, f.first).UTC(), time.Unix(0, f.last).UTC(),
			nsSeconds(float64(durationNs(f.first, f.last))), names[f.reason]})
	}
	return out
}

// histogramOf lists the bins from the first to the last that holds a
// flow, bin i spanning [10^(i+exp), 10^(i+exp+1)).
func histogramOf(bins [decades]uint64, exp int) []HistogramBin {
	out := []HistogramBin{}
	lo, hi := -1, -1
	for i, n := range bins {
		if n > 0 {
			if lo < 0 {
				lo = i
			}
			hi = i
		}
	}
	for i := lo; lo >= 0 && i <= hi; i++ {
		out = append(out, HistogramBin{Lo: math.Pow(10, float64(i+exp)), Hi: math.Pow(10, float64(i+exp+1)), Flows: bins[i]})
	}
	return out
}

// unrecordedSeries spreads each flow's unrecorded packets evenly over its
// life on a timeline of buckets of w seconds from second base: an estimate
// of when the packets the sampling refused were (flows/ holds a flow's
// totals, not its packets' times). Each flow costs O(1): a difference
// array takes the whole buckets.
func unrecordedSeries(flows []unrecordedFlow, base, w int64, buckets int) []uint64 {
	if len(flows) == 0 || buckets == 0 {
		return nil
	}
	acc := make([]float64, buckets+1)  // direct amounts
	diff := make([]float64, buckets+1) // per-bucket rates over whole buckets
	pos := func(ns int64) float64 { return (float64(ns)/1e9 - float64(base)) / float64(w) }
	clamp := func(x float64) float64 { return math.Min(math.Max(x, 0), float64(buckets)-1e-9) }
	for _, f := range flows {
		a, b := clamp(pos(f.first)), clamp(pos(max(f.last, f.first)))
		n := float64(f.packets)
		ia, ib := int(a), int(b)
		if ia == ib || b-a < 1e-12 {
			acc[ia] += n
			continue
		}
		rate := n / (b - a)
		acc[ia] += rate * (float64(ia+1) - a)
		acc[ib] += rate * (b - float64(ib))
		if ia+1 < ib {
			diff[ia+1] += rate
			diff[ib] -= rate
		}
	}
	out := make([]uint64, buckets)
	run := 0.0
	for i := range out {
		run += diff[i]
		out[i] = uint64(math.Round(acc[i] + run))
	}
	return out
}
