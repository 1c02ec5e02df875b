package report

import (
	"fmt"
	"html/template"
	"time"
)

// chart is a figure of the HTML page: an SVG drawn by Go (svg.go), so the
// page needs no script to show it. The text formats leave charts out:
// their tables carry the same figures.
type chart struct {
	id      string // chart-NAME, the figure's id
	caption string
	svg     template.HTML
}

func (chart) isBlock() {}

// figure is the chart block, or nothing when the chart has no data.
func figure(id, caption string, svg template.HTML) []block {
	if svg == "" {
		return nil
	}
	return []block{chart{"chart-" + id, caption, svg}}
}

// trafficCharts draw each run's packets and bytes per second, stacked by
// protocol.
func trafficCharts(r *Report) []block {
	var out []block
	var marks []TimeMark // the same on every run's charts (each clips them to its time)
	for _, in := range r.Indicators {
		if in.EvidenceFirst != nil && in.EvidenceLast != nil {
			marks = append(marks, TimeMark{At: *in.EvidenceFirst, Until: *in.EvidenceLast, Label: in.Kind + " " + in.Target})
		}
	}
	for _, run := range r.Runs {
		tl := run.Timeline
		if tl.Start == nil || len(tl.ByProtocol) == 0 {
			continue
		}
		merge, secs, bucket := chartGrid(tl)
		rate := func(counts []uint64) []float64 { return perSecond(mergeBuckets(counts, merge), float64(secs)) }
		var pk, by []Series
		for _, ts := range tl.ByProtocol {
			pk = append(pk, Series{Name: ts.Protocol, Values: rate(ts.Packets)})
			by = append(by, Series{Name: ts.Protocol, Values: rate(ts.Bytes)})
		}
		var overlay []Series
		for _, rs := range tl.NotRecordedByReason {
			overlay = append(overlay, Series{Name: "not recorded: " + rs.Reason, Values: rate(rs.Packets)})
		}
		if len(overlay) == 0 && len(tl.NotRecordedInFlows) > 0 { // runs from before the counters timeline
			overlay = []Series{{Name: "not recorded (from flows/, spread over each flow's life)", Values: rate(tl.NotRecordedInFlows)}}
		}
		suffix := runSuffix(r, run)
		out = append(out, figure("traffic-packets"+suffix, fmt.Sprintf("%s: packets per second on the wire, by protocol (what the recorded rows stand for); lines: the packets not recorded, by reason; bands: when the rows about each attack indicator's target were", run.RunID),
			timeChartSVG(TimeChart{Title: "packets per second, " + run.RunID, Start: *tl.Start, Bucket: bucket, Unit: "packets/s", Stacked: pk, Overlay: overlay, Marks: marks}))...)
		out = append(out, figure("traffic-bytes"+suffix, fmt.Sprintf("%s: bytes per second on the wire, by protocol", run.RunID),
			timeChartSVG(TimeChart{Title: "bytes per second, " + run.RunID, Start: *tl.Start, Bucket: bucket, Unit: "bytes/s", Stacked: by, Marks: marks}))...)
	}
	return out
}

// chartBuckets bounds the bars of a time chart.
const chartBuckets = 240

// chartGrid is how a run's timeline is drawn: merge of its buckets to a
// bar (at most chartBuckets bars: the page stays small for long runs),
// and a bar's seconds and duration.
func chartGrid(tl Timeline) (merge, secs int64, bucket time.Duration) {
	merge = max((int64(len(tl.Records))+chartBuckets-1)/chartBuckets, 1)
	secs = max(tl.BucketSeconds, 1) * merge
	return merge, secs, time.Duration(secs) * time.Second
}

// runSuffix tells a run's charts apart when the report has several runs.
func runSuffix(r *Report, run Run) string {
	if len(r.Runs) > 1 {
		return "-" + run.RunID
	}
	return ""
}

// mergeBuckets adds up every w consecutive counts.
func mergeBuckets(counts []uint64, w int64) []uint64 {
	if w <= 1 {
		return counts
	}
	out := make([]uint64, (int64(len(counts))+w-1)/w)
	for i, c := range counts {
		out[int64(i)/w] += c
	}
	return out
}

func perSecond(counts []uint64, seconds float64) []float64 {
	out := make([]float64, len(counts))
	for i, c := range counts {
		out[i] = float64(c) / seconds
	}
	return out
}

// accountingChart is the waterfall from the packets seen, down by each
// reason a packet was not recorded, to the packets recorded.
func accountingChart(a Accounting) []block {
	if a.Runs == 0 || a.Seen == 0 {
		return nil
	}
	var steps []Step
	for _, rs := range a.Reasons {
		if rs.Packets > 0 {
			steps = append(steps, Step{Label: rs.Reason, Value: float64(rs.Packets)})
		}
	}
	return figure("accounting", "From the packets seen to the packets recorded: each reason a packet was not recorded",
		waterfallSVG("accounting: seen to recorded", "packets", Step{"seen", float64(a.Seen)}, steps, Step{"recorded", float64(a.Recorded)}))
}

func talkersChart(id, title string, list []Talker) []block {
	bars := make([]Bar, 0, len(list))
	for _, x := range list {
		bars = append(bars, Bar{Label: x.IP, Value: float64(x.Bytes)})
	}
	return figure(id, title+", by bytes", barChartSVG(title, "bytes", bars))
}

func portsChart(top Top) []block {
	bars := make([]Bar, 0, len(top.DstPorts))
	for _, pt := range top.DstPorts {
		bars = append(bars, Bar{Label: fmt.Sprintf("%s/%d", pt.Protocol, pt.Port), Value: float64(pt.Records)})
	}
	return figure("top-ports", "Top destination ports, by records", barChartSVG("top destination ports", "records", bars))
}

// tcpCharts: the flag mix of the TCP records, and SYNs in against
// SYN-ACKs out per destination.
func tcpCharts(tc TCP) []block {
	var out []block
	if tc.Records > 0 {
		out = append(out, figure("tcp-flags", "TCP records by flag (SYN: SYN without ACK)",
			barChartSVG("TCP flag mix", "records", []Bar{{"SYN", float64(tc.SYN)}, {"SYN-ACK", float64(tc.SYNACK)},
				{"RST", float64(tc.RST)}, {"FIN", float64(tc.FIN)}}))...)
	}
	if len(tc.PerDestination) > 0 {
		labels := make([]string, len(tc.PerDestination))
		values := [][]float64{make([]float64, len(labels)), make([]float64, len(labels))}
		for i, d := range tc.PerDestination {
			labels[i] = d.IP
			values[0][i], values[1][i] = float64(d.SYN), float64(d.SYNACK)
		}
		out = append(out, figure("syn-synack", "SYNs in and SYN-ACKs out per destination: a wall of SYNs without answers is a SYN flood",
			groupedBarSVG("SYN vs SYN-ACK per destination", "packets", labels, []string{"SYN in", "SYN-ACK out"}, values))...)
	}
	return out
}

// flowCharts: the distributions of the flows' durations and sizes.
func flowCharts(f Flows) []block {
	var out []block
	bins := func(hs []HistogramBin) []Bucket {
		b := make([]Bucket, len(hs))
		for i, h := range hs {
			b[i] = Bucket{Lo: h.Lo, Hi: h.Hi, Count: h.Flows}
		}
		return b
	}
	out = append(out, figure("flow-durations", fmt.Sprintf("Flows by duration (log scale); %d flows of a single instant are not on it", f.ZeroDuration),
		histogramSVG("flow durations", "s", bins(f.DurationHistogram)))...)
	out = append(out, figure("flow-sizes", "Flows by size in bytes (log scale)",
		histogramSVG("flow sizes", "bytes", bins(f.SizeHistogram)))...)
	return out
}

// labelCharts draw, for each run whose rows carry labels, the share of its
// records per label over time.
func labelCharts(r *Report) []block {
	var out []block
	for _, run := range r.Runs {
		tl := run.Timeline
		if tl.Start == nil || len(tl.ByLabel) == 0 {
			continue
		}
		merge, _, bucket := chartGrid(tl)
		total := mergeBuckets(tl.Records, merge)
		var series []Series
		for _, ls := range tl.ByLabel {
			counts := mergeBuckets(ls.Records, merge)
			v := make([]float64, len(counts))
			for i, c := range counts {
				if total[i] > 0 {
					v[i] = 100 * float64(c) / float64(total[i])
				}
			}
			series = append(series, Series{Name: ls.Label, Values: v})
		}
		out = append(out, figure("labels"+runSuffix(r, run), fmt.Sprintf("%s: share of the records per label over time", run.RunID),
			timeChartSVG(TimeChart{Title: "records by label, " + run.RunID, Start: *tl.Start, Bucket: bucket, Unit: "% of records", Stacked: series}))...)
	}
	return out
}
