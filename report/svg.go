package report

import (
	"fmt"
	"html/template"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The page's charts are inline SVG that Go writes whole: no script draws
// them, so they show in any browser and in a saved page. Every chart is
// one <svg class="chart-svg"> element, 720 px wide, whose <title> (and
// aria-label) is the chart's title. Each data mark (a bar, a bar segment,
// a point, a band) has class "mark" and a <title> child, the browser's
// tooltip, that names it and gives its exact value; grid lines, axes and
// labels never have that class. The same input gives the same bytes:
// coordinates have two decimals, values are formatted with fixed rules
// and nothing is drawn in map order. A chart with nothing to draw (no
// data, or only zeros) is "", so that the caller can say so in words.
//
// Values that are NaN, infinite or (in stacks and bars) below zero count
// as 0.

// Series is one named series, one value per bucket of a time chart.
type Series struct {
	Name   string
	Values []float64
}

// TimeMark is a band (or a line when Until == At) on a time chart, e.g.
// where an attack indicator's evidence lies.
type TimeMark struct {
	At, Until time.Time
	Label     string
}

// TimeChart is a chart over time: Stacked series drawn as stacked bars
// (one bar per bucket, segments per series, bottom = first series),
// Overlay series drawn as lines on the same axes (e.g. packets not
// recorded), Marks as translucent bands behind, with their label on top.
// Bucket i starts at Start + i*Bucket. Unit is the y unit ("packets/s",
// "bytes/s").
type TimeChart struct {
	Title   string
	Start   time.Time
	Bucket  time.Duration
	Unit    string
	Stacked []Series
	Overlay []Series
	Marks   []TimeMark
}

// Bar is one bar of a bar chart.
type Bar struct {
	Label string
	Value float64
}

// Step is one step of a waterfall.
type Step struct {
	Label string
	Value float64
}

// Bucket is one bin of a histogram.
type Bucket struct {
	Lo, Hi float64 // the bin's range, Lo < Hi, Lo > 0 for log axes
	Count  uint64
}

const (
	chartW     = 720.0 // every chart's width
	legendTop  = 6.0   // the legend's first row, from the chart's top
	charW      = 6.2   // about the width of a character of 11 px text
	labelRunes = 32    // bar labels longer than this are cut
	nameRunes  = 40    // legend names longer than this are cut
	unitRunes  = 16    // units longer than this are cut
	gridColor  = "#e3e3e3"
	axisColor  = "#888"
	textColor  = "#333"
	// halo keeps a label readable over bars: a white outline behind it.
	halo = ` stroke="#fff" stroke-width="3" paint-order="stroke"`
)

// chartPalette is the Okabe–Ito palette of colours told apart with any
// colour vision, ordered so that the first ones contrast most with white.
var chartPalette = [8]string{"#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000"}

// chartColor is the colour of series i.
func chartColor(i int) string { return chartPalette[i%len(chartPalette)] }

// timeChartSVG draws c (see TimeChart), or "" when no bucket has a value
// above zero or Bucket is not positive. Marks wholly outside the chart's
// time are left out; the others are clipped to it.
func timeChartSVG(c TimeChart) template.HTML {
	n := c.buckets()
	peak := c.peak(n)
	if n == 0 || c.Bucket <= 0 || peak <= 0 {
		return ""
	}
	names := c.names()
	box, height := vLayout(names, 180, 26)
	ticks := linTicks(0, peak, isBytesUnit(c.Unit), 0)
	y := linScale{ticks[0], ticks[len(ticks)-1], box.bottom, box.top}
	a := newTimeAxis(c.Start, c.Bucket, n, box)
	marks := c.markSpans(a)
	d := newSVG(c.Title, chartW, height)
	d.yAxis(box, y, ticks, c.Unit, c.Unit)
	d.markBands(box, marks)
	c.drawStacks(d, box, y, a, n)
	c.drawOverlay(d, y, a, n)
	d.timeAxis(box, a)
	d.markLabels(box, marks)
	d.legend(names, box.left, box.right-box.left)
	return d.done()
}

// barChartSVG draws horizontal bars in the given order (the caller
// sorts), label on the left, value at the bar's end; unit names the values
// ("records", "bytes": bytes get KiB/MiB labels). It is 22 px taller for
// each bar, and "" when no bar is above zero.
func barChartSVG(title, unit string, bars []Bar) template.HTML {
	labels := make([]string, len(bars))
	peak := 0.0
	for i, b := range bars {
		labels[i] = b.Label
		peak = max(peak, positive(b.Value))
	}
	if peak <= 0 {
		return ""
	}
	const rowH = 22.0
	f := newHFrame(labels, nil, float64(len(bars))*rowH, peak, unit)
	d := newSVG(title, chartW, f.height)
	f.axes(d, unit)
	for i, b := range bars {
		top := f.box.top + float64(i)*rowH
		v := positive(b.Value)
		f.bar(d, top+3, rowH-6, v, chartColor(0), b.Label+": "+withUnit(v, unit), unit)
		d.label(f.box.left-6, top+rowH/2+4, "end", clip(b.Label, labelRunes), "")
	}
	return d.done()
}

// groupedBarSVG draws, for each label, one horizontal bar per series side
// by side (e.g. SYN in vs SYN-ACK out per destination), with a legend
// when there are several series. values[s][i] is series s at label i; a
// missing value is 0. It is "" when no value is above zero.
func groupedBarSVG(title, unit string, labels []string, series []string, values [][]float64) template.HTML {
	peak := 0.0
	for s := range series {
		for i := range labels {
			peak = max(peak, groupedValue(values, s, i))
		}
	}
	if peak <= 0 {
		return ""
	}
	const barH, gap = 14.0, 8.0
	groupH := float64(len(series))*barH + gap
	f := newHFrame(labels, series, float64(len(labels))*groupH, peak, unit)
	d := newSVG(title, chartW, f.height)
	f.axes(d, unit)
	for i, l := range labels {
		top := f.box.top + float64(i)*groupH + gap/2
		for s, name := range series {
			v := groupedValue(values, s, i)
			f.bar(d, top+float64(s)*barH+1, barH-2, v, chartColor(s), l+", "+name+": "+withUnit(v, unit), unit)
		}
		d.label(f.box.left-6, top+float64(len(series))*barH/2+4, "end", clip(l, labelRunes), "")
	}
	d.legend(series, f.box.left, chartW-f.box.left-8)
	return d.done()
}

// waterfallSVG draws a vertical-bar waterfall: the first bar is total
// (from 0), each step a floating bar going down by its value (a loss,
// e.g. packets not recorded for one reason; a negative value goes up),
// and a last bar end from 0 (e.g. recorded). Values are labelled on the
// bars. A bar of 0 (a step, or the total or end) gets its label below the
// axis but no mark. It is "" when every bar is 0.
func waterfallSVG(title, unit string, total Step, steps []Step, end Step) template.HTML {
	bars := waterfallBars(unit, total, steps, end)
	lo, hi := waterfallExtent(bars)
	if hi <= lo {
		return ""
	}
	colW := (chartW - 60 - 24) / float64(len(bars))
	rotate, below := columnLabelSpace(bars, colW)
	box, height := vLayout(nil, 200, below)
	ticks := linTicks(lo, hi, isBytesUnit(unit), 0)
	y := linScale{ticks[0], ticks[len(ticks)-1], box.bottom, box.top}
	d := newSVG(title, chartW, height)
	d.yAxis(box, y, ticks, unit, unit)
	d.waterfallConnectors(box, y, bars, colW)
	for i, b := range bars {
		d.waterfallBar(box, y, i, colW, b)
		d.columnLabel(box, i, colW, b.label, rotate)
	}
	d.line(box.left, y.at(0), box.right, y.at(0), axisColor, "")
	return d.done()
}

// histogramSVG draws one vertical bar per bucket on a log x axis (the
// caller's bins, usually powers of 10 or 2), ticks at powers of ten
// labelled with xUnit ("s": 1 ms, 10 ms, 1 s; "bytes": 100 B, 1 KiB,
// 10 KiB, at powers of ten of B, KiB, MiB ... so that the labels are
// exact; another unit follows the number), y linear (the count). Buckets
// with Lo <= 0 or Hi <= Lo are left out. It is "" when no bucket counts
// anything.
func histogramSVG(title, xUnit string, buckets []Bucket) template.HTML {
	bs := validBuckets(buckets)
	var peak uint64
	for _, b := range bs {
		peak = max(peak, b.Count)
	}
	if peak == 0 {
		return ""
	}
	box, height := vLayout(nil, 180, 26)
	x := newLogScale(bs, box)
	ticks := linTicks(0, float64(peak), false, 1)
	y := linScale{ticks[0], ticks[len(ticks)-1], box.bottom, box.top}
	d := newSVG(title, chartW, height)
	d.yAxis(box, y, ticks, "", "count")
	for _, b := range bs {
		if b.Count > 0 {
			d.histogramBar(x, y, b, xUnit)
		}
	}
	d.logAxis(box, x, xUnit)
	return d.done()
}

// --- time charts ---

// buckets is the number of buckets: the longest series'.
func (c TimeChart) buckets() int {
	n := 0
	for _, s := range c.Stacked {
		n = max(n, len(s.Values))
	}
	for _, s := range c.Overlay {
		n = max(n, len(s.Values))
	}
	return n
}

// peak is the highest stack or overlay value of the first n buckets.
func (c TimeChart) peak(n int) float64 {
	peak := 0.0
	for i := range n {
		sum := 0.0
		for _, s := range c.Stacked {
			sum += valueAt(s.Values, i)
		}
		peak = max(peak, sum)
		for _, s := range c.Overlay {
			peak = max(peak, valueAt(s.Values, i))
		}
	}
	return peak
}

// names are the series' names in colour order: stacked, then overlay.
func (c TimeChart) names() []string {
	var names []string
	for _, s := range c.Stacked {
		names = append(names, s.Name)
	}
	for _, s := range c.Overlay {
		names = append(names, s.Name)
	}
	return names
}

// drawStacks draws each bucket's stacked bar, bottom = first series. The
// segments' edges are rounded before their heights are taken, so that a
// bar's segments add up to its total height exactly.
func (c TimeChart) drawStacks(d *svgDoc, box plotBox, y linScale, a timeAxis, n int) {
	bw := a.width / float64(n)
	gap := 0.0
	if bw >= 3 {
		gap = min(bw*0.15, 4)
	}
	for i := range n {
		x := box.left + float64(i)*bw + gap/2
		base, sum := round2(y.at(0)), 0.0
		for s, ser := range c.Stacked {
			v := valueAt(ser.Values, i)
			if v == 0 {
				continue
			}
			sum += v
			top := round2(y.at(sum))
			d.markRect(x, top, bw-gap, base-top, chartColor(s), ser.Name+" "+a.bucketText(i)+": "+withUnit(v, c.Unit))
			base = top
		}
	}
}

// drawOverlay draws each overlay series as a line through the buckets'
// middles, and a point (the mark) at each bucket above zero.
func (c TimeChart) drawOverlay(d *svgDoc, y linScale, a timeAxis, n int) {
	for j, ser := range c.Overlay {
		color := chartColor(len(c.Stacked) + j)
		points := make([]string, n)
		for i := range points {
			points[i] = px(a.middle(i)) + "," + px(y.at(valueAt(ser.Values, i)))
		}
		fmt.Fprintf(&d.b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.5"/>`, strings.Join(points, " "), color)
		for i := range n {
			if v := valueAt(ser.Values, i); v > 0 {
				d.markCircle(a.middle(i), y.at(v), 2.5, color, ser.Name+" "+a.bucketText(i)+": "+withUnit(v, c.Unit))
			}
		}
	}
}

// markSpan is a time mark placed on the plot: its left edge and width in
// pixels, its label and its tooltip.
type markSpan struct {
	x, w       float64
	label, tip string
}

// markSpans places the marks that overlap the chart's time, clipped to
// it; a mark shorter than 2 px is drawn 2 px wide.
func (c TimeChart) markSpans(a timeAxis) []markSpan {
	end := c.Start.Add(a.span)
	var spans []markSpan
	for _, m := range c.Marks {
		from, to := m.At, m.Until
		if to.Before(from) {
			from, to = to, from
		}
		if to.Before(c.Start) || from.After(end) {
			continue
		}
		x1, x2 := widen(a.x(from), a.x(to), a.left, a.left+a.width)
		spans = append(spans, markSpan{x1, x2 - x1, m.Label, m.Label + " " + a.rangeText(from, to)})
	}
	return spans
}

// widen makes [x1, x2] at least 2 px wide around its middle, within
// [lo, hi].
func widen(x1, x2, lo, hi float64) (float64, float64) {
	if x2-x1 >= 2 {
		return x1, x2
	}
	mid := (x1 + x2) / 2
	x1, x2 = mid-1, mid+1
	switch {
	case x1 < lo:
		return lo, lo + 2
	case x2 > hi:
		return hi - 2, hi
	}
	return x1, x2
}

// markBands draws the marks' bands over the plot's full height.
func (d *svgDoc) markBands(box plotBox, marks []markSpan) {
	for _, m := range marks {
		fmt.Fprintf(&d.b, `<rect class="mark" x="%s" y="%s" width="%s" height="%s" fill="%s" fill-opacity="0.15"><title>%s</title></rect>`,
			px(m.x), px(box.top), px(m.w), px(box.bottom-box.top), chartColor(3), esc(m.tip))
	}
}

// markLabels writes the marks' labels at the plot's top, over the bars,
// in three staggered rows so that neighbours overlap less.
func (d *svgDoc) markLabels(box plotBox, marks []markSpan) {
	for k, m := range marks {
		text := clip(m.label, 30)
		y := box.top + 11 + float64(k%3)*13
		if m.x+3+textW(text) > chartW {
			d.label(m.x+m.w-3, y, "end", text, halo)
			continue
		}
		d.label(m.x+3, y, "start", text, halo)
	}
}

// timeAxis maps a time chart's buckets onto its plot's width.
type timeAxis struct {
	start       time.Time
	bucket      time.Duration
	span        time.Duration // all the buckets
	left, width float64
	tick, tip   string // time layouts of the tick labels and tooltips
}

// newTimeAxis spans n buckets from start over the plot's width, with
// times to the second (to the millisecond for sub-second ticks or
// buckets; month, day, hours and minutes beyond a day).
func newTimeAxis(start time.Time, bucket time.Duration, n int, box plotBox) timeAxis {
	span := bucket * time.Duration(n)
	a := timeAxis{start: start, bucket: bucket, span: span, left: box.left, width: box.right - box.left,
		tick: "15:04:05", tip: "15:04:05"}
	switch {
	case span > 24*time.Hour:
		a.tick, a.tip = "01-02 15:04", "01-02 15:04:05"
	case timeStep(span, bucket) < time.Second:
		a.tick, a.tip = "15:04:05.000", "15:04:05.000"
	case bucket%time.Second != 0 || start.Nanosecond() != 0:
		a.tip = "15:04:05.000"
	}
	return a
}

// x is where t is, clipped to the plot.
func (a timeAxis) x(t time.Time) float64 {
	f := float64(t.Sub(a.start)) / float64(a.span)
	return a.left + min(max(f, 0), 1)*a.width
}

// middle is the middle of bucket i.
func (a timeAxis) middle(i int) float64 {
	return a.left + (float64(i)+0.5)*a.width/float64(a.span/a.bucket)
}

// bucketText is bucket i's time range, e.g. 12:00:03–12:00:04.
func (a timeAxis) bucketText(i int) string {
	from := a.start.Add(time.Duration(i) * a.bucket)
	return a.rangeText(from, from.Add(a.bucket))
}

// rangeText is from–to in UTC, or one time when they are equal.
func (a timeAxis) rangeText(from, to time.Time) string {
	if from.Equal(to) {
		return from.UTC().Format(a.tip)
	}
	return from.UTC().Format(a.tip) + "–" + to.UTC().Format(a.tip)
}

// timeSteps are the tick intervals of a time axis, smallest first.
var timeSteps = []time.Duration{
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 48 * time.Hour,
}

// timeStep is the tick interval for a span of buckets: the smallest of
// timeSteps that makes at most about six ticks and is no shorter than a
// bucket, or else a whole number of weeks.
func timeStep(span, bucket time.Duration) time.Duration {
	want := max(span/6, bucket)
	for _, s := range timeSteps {
		if s >= want {
			return s
		}
	}
	const week = 7 * 24 * time.Hour
	return (want + week - 1) / week * week
}

// ticks are the multiples of the tick interval (counted from the Unix
// epoch, so whole minutes, hours, UTC days) within the chart's time.
func (a timeAxis) ticks() []time.Time {
	step := int64(timeStep(a.span, a.bucket))
	s := a.start.UnixNano()
	first := s / step * step
	if first < s {
		first += step
	}
	var ts []time.Time
	for t := first; t <= s+int64(a.span); t += step {
		ts = append(ts, time.Unix(0, t).UTC())
	}
	return ts
}

// timeAxis draws the x axis of a time chart: its line, ticks and labels.
func (d *svgDoc) timeAxis(box plotBox, a timeAxis) {
	d.line(box.left, box.bottom, box.right, box.bottom, axisColor, "")
	for _, t := range a.ticks() {
		x := a.x(t)
		text := t.Format(a.tick)
		d.line(x, box.bottom, x, box.bottom+4, axisColor, "")
		d.label(x, box.bottom+15, edgeAnchor(x, textW(text)), text, "")
	}
}

// --- horizontal bar charts ---

// hframe is the layout of a horizontal bar chart: labels in a column on
// the left, bars from box.left, value ticks below and a legend above.
type hframe struct {
	box    plotBox
	height float64
	ticks  []float64
	x      linScale
}

// newHFrame lays out rows of plotH pixels in all for labels, with a
// legend of the names when there are several, and a value axis up to
// peak at least.
func newHFrame(labels, legend []string, plotH, peak float64, unit string) hframe {
	// The unit is written left of the first tick's label, below the
	// bars' labels.
	lw := textW(clip(unit, unitRunes)) + textW(tickText(0, unit))/2 + 12
	for _, l := range labels {
		lw = max(lw, textW(clip(l, labelRunes))+12)
	}
	box := plotBox{left: 4 + lw, right: chartW - 72, top: legendTop + 2}
	if len(legend) > 1 {
		_, _, h := legendPlaces(legend, chartW-box.left-8)
		box.top = legendTop + h + 4
	}
	box.bottom = box.top + plotH
	ticks := linTicks(0, peak, isBytesUnit(unit), 0)
	return hframe{box, box.bottom + 24, ticks, linScale{ticks[0], ticks[len(ticks)-1], box.left, box.right}}
}

// axes draws the value grid, its tick labels below, the unit to their
// left and the bars' base line.
func (f hframe) axes(d *svgDoc, unit string) {
	for _, t := range f.ticks {
		x := f.x.at(t)
		text := tickText(t, unit)
		d.line(x, f.box.top, x, f.box.bottom, gridColor, "")
		d.label(x, f.box.bottom+15, edgeAnchor(x, textW(text)), text, "")
	}
	d.label(f.box.left-8-textW(tickText(f.ticks[0], unit))/2, f.box.bottom+15, "end", clip(unit, unitRunes), "")
	d.line(f.box.left, f.box.top, f.box.left, f.box.bottom, axisColor, "")
}

// bar draws one bar of value v, h pixels thick from y down, and its value
// at its end.
func (f hframe) bar(d *svgDoc, y, h, v float64, color, tip, unit string) {
	w := round2(f.x.at(v)) - round2(f.box.left)
	d.markRect(f.box.left, y, w, h, color, tip)
	d.label(f.box.left+w+4, y+h/2+4, "start", tickText(v, unit), "")
}

// groupedValue is values[s][i], or 0 when it is missing or not positive.
func groupedValue(values [][]float64, s, i int) float64 {
	if s >= len(values) {
		return 0
	}
	return valueAt(values[s], i)
}

// --- waterfalls ---

// wfBar is one column of a waterfall: the levels before and after it
// (from 0 for the total and the end), its colour, the text on it and its
// tooltip.
type wfBar struct {
	label     string
	value     float64
	from, to  float64
	color     string
	text, tip string
}

// waterfallBars are the waterfall's columns: total, steps, end.
func waterfallBars(unit string, total Step, steps []Step, end Step) []wfBar {
	tv, ev := finite(total.Value), finite(end.Value)
	bars := []wfBar{{total.Label, tv, 0, tv, chartColor(0), tickText(tv, unit), total.Label + ": " + withUnit(tv, unit)}}
	level := tv
	for _, s := range steps {
		v := finite(s.Value)
		tip := fmt.Sprintf("%s: %s (%s → %s)", s.Label, withUnit(v, unit), exactNum(level), exactNum(level-v))
		bars = append(bars, wfBar{s.Label, v, level, level - v, chartColor(1), stepText(v, unit), tip})
		level -= v
	}
	return append(bars, wfBar{end.Label, ev, 0, ev, chartColor(2), tickText(ev, unit), end.Label + ": " + withUnit(ev, unit)})
}

// stepText labels a step: a loss with a minus sign, a gain with a plus.
func stepText(v float64, unit string) string {
	switch {
	case v > 0:
		return "−" + tickText(v, unit)
	case v < 0:
		return "+" + tickText(-v, unit)
	}
	return "0"
}

// waterfallExtent is the range of levels the bars span, 0 included.
func waterfallExtent(bars []wfBar) (lo, hi float64) {
	for _, b := range bars {
		lo, hi = min(lo, b.from, b.to), max(hi, b.from, b.to)
	}
	return lo, hi
}

// columnLabelSpace says whether the columns' labels must be turned (one
// is wider than its column) and the height they need below the plot.
func columnLabelSpace(bars []wfBar, colW float64) (rotate bool, below float64) {
	widest := 0.0
	for _, b := range bars {
		widest = max(widest, textW(clip(b.label, 28)))
	}
	if widest <= colW-4 {
		return false, 22
	}
	return true, 20 + widest*math.Sin(35*math.Pi/180)
}

// waterfallBar draws column i: its bar (unless it is 0) and its value
// above.
func (d *svgDoc) waterfallBar(box plotBox, y linScale, i int, colW float64, b wfBar) {
	barW := min(colW*0.7, 72)
	x := box.left + float64(i)*colW + (colW-barW)/2
	top, bottom := round2(y.at(max(b.from, b.to))), round2(y.at(min(b.from, b.to)))
	if b.value != 0 {
		d.markRect(x, top, barW, bottom-top, b.color, b.tip)
	}
	d.label(x+barW/2, top-4, "middle", b.text, "")
}

// waterfallConnectors draws a dashed line at the level between each bar
// and the step after it.
func (d *svgDoc) waterfallConnectors(box plotBox, y linScale, bars []wfBar, colW float64) {
	barW := min(colW*0.7, 72)
	for i := 0; i+2 < len(bars); i++ {
		x1 := box.left + float64(i)*colW + (colW+barW)/2
		d.line(x1, y.at(bars[i].to), x1+colW-barW, y.at(bars[i].to), axisColor, ` stroke-dasharray="3 2"`)
	}
}

// columnLabel writes column i's label below the plot, turned by 35°
// when rotate is set.
func (d *svgDoc) columnLabel(box plotBox, i int, colW float64, label string, rotate bool) {
	x := box.left + (float64(i)+0.5)*colW
	if !rotate {
		d.label(x, box.bottom+15, "middle", clip(label, 28), "")
		return
	}
	y := box.bottom + 12
	d.label(x, y, "end", clip(label, 28), ` transform="rotate(-35 `+px(x)+` `+px(y)+`)"`)
}

// --- histograms ---

// validBuckets are the buckets a log axis can place: 0 < Lo < Hi.
func validBuckets(buckets []Bucket) []Bucket {
	var bs []Bucket
	for _, b := range buckets {
		if b.Lo > 0 && b.Hi > b.Lo && !math.IsInf(b.Hi, 1) {
			bs = append(bs, b)
		}
	}
	return bs
}

// logScale maps [10^llo, 10^lhi] onto [p0, p1], evenly by powers.
type logScale struct {
	llo, lhi, p0, p1 float64
}

// newLogScale spans the buckets' ranges over the plot's width.
func newLogScale(bs []Bucket, box plotBox) logScale {
	lo, hi := bs[0].Lo, bs[0].Hi
	for _, b := range bs {
		lo, hi = min(lo, b.Lo), max(hi, b.Hi)
	}
	return logScale{math.Log10(lo), math.Log10(hi), box.left, box.right}
}

// at is where v > 0 is.
func (s logScale) at(v float64) float64 {
	return s.p0 + (math.Log10(v)-s.llo)/(s.lhi-s.llo)*(s.p1-s.p0)
}

// histogramBar draws bucket b's bar, half a pixel in from each edge when
// it is wide enough.
func (d *svgDoc) histogramBar(x logScale, y linScale, b Bucket, unit string) {
	x1, x2 := round2(x.at(b.Lo)), round2(x.at(b.Hi))
	inset := 0.0
	if x2-x1 > 3 {
		inset = 0.5
	}
	top := round2(y.at(float64(b.Count)))
	tip := rangeText(b.Lo, b.Hi, unit) + ": " + exactNum(float64(b.Count))
	d.markRect(x1+inset, top, x2-x1-2*inset, round2(y.at(0))-top, chartColor(0), tip)
}

// rangeText is a bucket's range: durations for "s", else exact numbers
// and the unit.
func rangeText(lo, hi float64, unit string) string {
	if unit == "s" {
		return durText(lo) + "–" + durText(hi)
	}
	return strings.TrimSpace(exactNum(lo) + "–" + exactNum(hi) + " " + unit)
}

// logAxis draws the x axis of a histogram: its line, ticks at powers of
// ten and as many of their labels as fit.
func (d *svgDoc) logAxis(box plotBox, x logScale, unit string) {
	d.line(box.left, box.bottom, box.right, box.bottom, axisColor, "")
	ticks := logTicks(math.Pow(10, x.llo), math.Pow(10, x.lhi), unit)
	widest := 0.0
	for _, t := range ticks {
		widest = max(widest, textW(logTickText(t, unit)))
	}
	last := math.Inf(-1)
	for _, t := range ticks {
		xt := x.at(t)
		d.line(xt, box.top, xt, box.bottom, gridColor, "")
		d.line(xt, box.bottom, xt, box.bottom+4, axisColor, "")
		if xt-last >= widest+8 {
			text := logTickText(t, unit)
			d.label(xt, box.bottom+15, edgeAnchor(xt, textW(text)), text, "")
			last = xt
		}
	}
}

// logTicks are the powers of ten within [lo, hi] (for bytes: 1, 10 and
// 100 B, KiB, MiB ...), or lo and hi as well when there are fewer than
// two.
func logTicks(lo, hi float64, unit string) []float64 {
	in := func(v float64) bool { return v >= lo*(1-1e-9) && v <= hi*(1+1e-9) }
	var ts []float64
	if unit == "bytes" {
		for k, p := 0, 1.0; k <= 6; k, p = k+1, p*1024 {
			for j := range 3 {
				if v := math.Pow10(j) * p; in(v) {
					ts = append(ts, v)
				}
			}
		}
	} else {
		for k := math.Ceil(math.Log10(lo) - 1e-9); k <= math.Floor(math.Log10(hi)+1e-9); k++ {
			ts = append(ts, math.Pow10(int(k)))
		}
	}
	if len(ts) >= 2 {
		return ts
	}
	return withEnds(ts, lo, hi)
}

// withEnds adds lo and hi to ticks, sorted, without near duplicates.
func withEnds(ticks []float64, lo, hi float64) []float64 {
	all := append([]float64{lo, hi}, ticks...)
	sort.Float64s(all)
	out := all[:1]
	for _, v := range all[1:] {
		if v > out[len(out)-1]*(1+1e-9) {
			out = append(out, v)
		}
	}
	return out
}

// logTickText labels a log tick: a duration for "s", binary units for
// bytes, else the number and the unit.
func logTickText(v float64, unit string) string {
	switch unit {
	case "s":
		return durText(v)
	case "bytes":
		return bytesShort(v)
	}
	return strings.TrimSpace(shortNum(v) + " " + unit)
}

// durText is seconds as ns, µs, ms or s, to three significant digits.
func durText(s float64) string {
	switch {
	case s >= 1:
		return sigText(s) + " s"
	case s >= 1e-3:
		return sigText(s*1e3) + " ms"
	case s >= 1e-6:
		return sigText(s*1e6) + " µs"
	}
	return sigText(s*1e9) + " ns"
}

// --- shared layout and drawing ---

// plotBox is a chart's plotting area in pixels.
type plotBox struct {
	left, top, right, bottom float64
}

// vLayout lays out a vertical chart: a legend of the names when there
// are several, a row for the y unit, a plot plotH pixels high and below
// pixels under it. It returns the plot and the chart's height.
func vLayout(legend []string, plotH, below float64) (plotBox, float64) {
	box := plotBox{left: 60, right: chartW - 24}
	top := legendTop
	if len(legend) > 1 {
		_, _, h := legendPlaces(legend, box.right-box.left)
		top += h + 2
	}
	box.top = top + 20
	box.bottom = box.top + plotH
	return box, box.bottom + below
}

// linScale maps [lo, hi] onto [p0, p1] linearly.
type linScale struct {
	lo, hi, p0, p1 float64
}

// at is where v is.
func (s linScale) at(v float64) float64 {
	return s.p0 + (v-s.lo)/(s.hi-s.lo)*(s.p1-s.p0)
}

// linTicks are about four to six evenly spaced round values from at most
// lo to at least hi (hi > lo): steps of 1, 2 or 5 times a power of ten
// (for bytes, times a power of 1024), and at least minStep.
func linTicks(lo, hi float64, bytes bool, minStep float64) []float64 {
	base := 1.0
	for bytes && base*1024 <= hi-lo {
		base *= 1024
	}
	step := max(niceStep((hi-lo)/4/base)*base, minStep)
	first, last := math.Floor(lo/step+1e-9), math.Ceil(hi/step-1e-9)
	last = max(last, first+1)
	var ts []float64
	for k := first; k <= last; k++ {
		ts = append(ts, k*step)
	}
	return ts
}

// niceStep is the smallest of 1, 2, 5 or 10 times a power of ten that is
// at least x (x > 0).
func niceStep(x float64) float64 {
	p := math.Pow10(int(math.Floor(math.Log10(x))))
	switch f := x / p; {
	case f <= 1:
		return p
	case f <= 2:
		return 2 * p
	case f <= 5:
		return 5 * p
	}
	return 10 * p
}

// yAxis draws the grid lines and tick labels of a vertical chart's value
// axis (ticks formatted for unit) and caption above them.
func (d *svgDoc) yAxis(box plotBox, y linScale, ticks []float64, unit, caption string) {
	for _, t := range ticks {
		yy := y.at(t)
		d.line(box.left, yy, box.right, yy, gridColor, "")
		d.label(box.left-6, yy+4, "end", tickText(t, unit), "")
	}
	d.label(4, box.top-8, "start", clip(caption, unitRunes+8), "")
	d.line(box.left, box.top, box.left, box.bottom, axisColor, "")
}

// legendPlaces lays the names out in rows no wider than width: each
// item's offset from the legend's top left corner, and its height.
func legendPlaces(names []string, width float64) (xs, ys []float64, height float64) {
	x, y := 0.0, 0.0
	for _, n := range names {
		w := 14 + textW(clip(n, nameRunes)) + 14
		if x > 0 && x+w > width {
			x, y = 0, y+16
		}
		xs, ys = append(xs, x), append(ys, y)
		x += w
	}
	return xs, ys, y + 16
}

// legend draws a coloured square and the name of each series, from x0 at
// the chart's top, when there are several.
func (d *svgDoc) legend(names []string, x0, width float64) {
	if len(names) < 2 {
		return
	}
	xs, ys, _ := legendPlaces(names, width)
	for i, n := range names {
		x, y := x0+xs[i], legendTop+ys[i]
		fmt.Fprintf(&d.b, `<rect x="%s" y="%s" width="10" height="10" fill="%s"/>`, px(x), px(y+1), chartColor(i))
		d.label(x+14, y+10, "start", clip(n, nameRunes), "")
	}
}

// edgeAnchor anchors a label of width w at x so that it stays inside the
// chart.
func edgeAnchor(x, w float64) string {
	switch {
	case x-w/2 < 2:
		return "start"
	case x+w/2 > chartW-2:
		return "end"
	}
	return "middle"
}

// svgDoc is a chart being written: the root element and its title, then
// a group with the text attributes holding the drawing.
type svgDoc struct {
	b strings.Builder
}

// newSVG starts a chart w × h pixels titled title.
func newSVG(title string, w, h float64) *svgDoc {
	d := &svgDoc{}
	t := esc(title)
	W, H := int(math.Ceil(w)), int(math.Ceil(h))
	fmt.Fprintf(&d.b, `<svg class="chart-svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg"><title>%s</title>`,
		W, H, W, H, t, t)
	d.b.WriteString(`<g font-size="11" font-family="system-ui,sans-serif">`)
	return d
}

// done closes the chart.
func (d *svgDoc) done() template.HTML {
	d.b.WriteString("</g></svg>")
	return template.HTML(d.b.String())
}

// markRect draws a data mark: a rectangle and its tooltip.
func (d *svgDoc) markRect(x, y, w, h float64, fill, tip string) {
	fmt.Fprintf(&d.b, `<rect class="mark" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>`,
		px(x), px(y), px(max(w, 0)), px(max(h, 0)), fill, esc(tip))
}

// markCircle draws a data mark: a point and its tooltip.
func (d *svgDoc) markCircle(x, y, r float64, fill, tip string) {
	fmt.Fprintf(&d.b, `<circle class="mark" cx="%s" cy="%s" r="%s" fill="%s"><title>%s</title></circle>`,
		px(x), px(y), px(r), fill, esc(tip))
}

// line draws a line (not a mark); attrs are more attributes.
func (d *svgDoc) line(x1, y1, x2, y2 float64, stroke, attrs string) {
	fmt.Fprintf(&d.b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"%s/>`, px(x1), px(y1), px(x2), px(y2), stroke, attrs)
}

// label writes text at (x, y); anchor is start, middle or end, attrs are
// more attributes.
func (d *svgDoc) label(x, y float64, anchor, text, attrs string) {
	fmt.Fprintf(&d.b, `<text x="%s" y="%s" text-anchor="%s" fill="%s"%s>%s</text>`, px(x), px(y), anchor, textColor, attrs, esc(text))
}

// --- text and numbers ---

// esc is s escaped for the page, its characters XML cannot hold (control
// characters) made spaces.
func esc(s string) string {
	return template.HTMLEscapeString(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0xFFFE || r == 0xFFFF {
			return ' '
		}
		return r
	}, s))
}

// clip cuts s to n characters, the last an ellipsis.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// textW is about how wide s is in 11 px text.
func textW(s string) float64 { return float64(len([]rune(s))) * charW }

// round2 rounds v to two decimals (a hundredth of a pixel).
func round2(v float64) float64 {
	r := math.Round(v*100) / 100
	if r == 0 {
		return 0 // not -0
	}
	return r
}

// px is a coordinate as SVG says it: at most two decimals.
func px(v float64) string { return strconv.FormatFloat(round2(v), 'f', -1, 64) }

// finite is v, or 0 for NaN and infinities.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// positive is v, or 0 unless v is finite and above zero.
func positive(v float64) float64 { return max(finite(v), 0) }

// valueAt is vs[i], or 0 when it is missing or not positive.
func valueAt(vs []float64, i int) float64 {
	if i >= len(vs) {
		return 0
	}
	return positive(vs[i])
}

// isBytesUnit says whether values in unit are bytes ("bytes",
// "bytes/s").
func isBytesUnit(unit string) bool { return unit == "bytes" || strings.HasPrefix(unit, "bytes/") }

// tickText is a value shortened for a label: binary units for bytes
// (1.5 KiB), else k, M, G, T (1.2k).
func tickText(v float64, unit string) string {
	if isBytesUnit(unit) {
		return bytesShort(v)
	}
	return shortNum(v)
}

// withUnit is a value exactly (three decimals at most, digits in groups
// of three) and its unit, and for bytes of 1 KiB and more the value in
// binary units too: "1 234 packets/s", "2 048 bytes (2 KiB)".
func withUnit(v float64, unit string) string {
	s := exactNum(v)
	if unit != "" {
		s += " " + unit
	}
	if isBytesUnit(unit) && math.Abs(v) >= 1024 {
		s += " (" + bytesShort(v) + strings.TrimPrefix(unit, "bytes") + ")"
	}
	return s
}

// exactNum is v to three decimals at most, digits grouped by three with
// spaces (1 234 567.5); very large and very small values are in
// scientific notation.
func exactNum(v float64) string {
	v = finite(v)
	if a := math.Abs(v); a >= 1e15 || (a > 0 && a < 0.001) {
		return strconv.FormatFloat(v, 'g', 6, 64)
	}
	r := math.Round(v*1000) / 1000
	if r == 0 {
		r = 0 // not -0
	}
	s := strconv.FormatFloat(r, 'f', -1, 64)
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	whole, frac, ok := strings.Cut(s, ".")
	if ok {
		frac = "." + frac
	}
	return sign + groupDigits(whole) + frac
}

// groupDigits puts a space between groups of three digits.
func groupDigits(digits string) string {
	var b strings.Builder
	for i, c := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// shortNum is v to three significant digits with k, M, G, T or P.
func shortNum(v float64) string {
	return scaledText(v, 1000, []string{"", "k", "M", "G", "T", "P"})
}

// bytesShort is a number of bytes to three significant digits in B, KiB,
// MiB ...
func bytesShort(v float64) string {
	return scaledText(v, 1024, []string{" B", " KiB", " MiB", " GiB", " TiB", " PiB"})
}

// scaledText is v to three significant digits in the first unit of units
// (each step times base) that keeps it below base; the last unit takes
// what is bigger still.
func scaledText(v, base float64, units []string) string {
	v = finite(v)
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	for _, u := range units[:len(units)-1] {
		if v < base-0.5 {
			return sign + sigText(v) + u
		}
		v /= base
	}
	return sign + sigText(v) + units[len(units)-1]
}

// sigText is v >= 0 to three significant digits (at least the whole
// number), without trailing zeros.
func sigText(v float64) string {
	var s string
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		s = strconv.FormatFloat(v, 'f', 1, 64)
	case v >= 1:
		s = strconv.FormatFloat(v, 'f', 2, 64)
	default:
		s = strconv.FormatFloat(v, 'g', 3, 64)
	}
	if strings.Contains(s, ".") && !strings.Contains(s, "e") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
