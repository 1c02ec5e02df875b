package report

import (
	"encoding/xml"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// svgElem is one element of a parsed chart.
type svgElem struct {
	name   string
	attr   map[string]string
	title  string // the text of its <title> child
	parent int    // index of its parent, -1 for the root
}

// parseSVG parses a chart as XML, and fails unless it is one element
// with nothing outside it.
func parseSVG(t *testing.T, s template.HTML) []svgElem {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(string(s)))
	var elems []svgElem
	var stack []int
	roots := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v\n%s", err, s)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			parent := -1
			if len(stack) > 0 {
				parent = stack[len(stack)-1]
			} else {
				roots++
			}
			e := svgElem{name: tok.Name.Local, attr: map[string]string{}, parent: parent}
			for _, a := range tok.Attr {
				e.attr[a.Name.Local] = a.Value
			}
			elems = append(elems, e)
			stack = append(stack, len(elems)-1)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				t.Fatalf("text outside the root: %q", tok)
			}
			if top := elems[stack[len(stack)-1]]; top.name == "title" && top.parent >= 0 {
				elems[top.parent].title += string(tok)
			}
		}
	}
	if roots != 1 {
		t.Fatalf("%d root elements, want 1", roots)
	}
	return elems
}

// checkChart checks the conventions every chart follows and that it has
// wantMarks marks, and returns its elements.
func checkChart(t *testing.T, s template.HTML, title string, wantMarks int) []svgElem {
	t.Helper()
	if s == "" {
		t.Fatal("no chart")
	}
	elems := parseSVG(t, s)
	root := elems[0]
	if root.name != "svg" || root.attr["class"] != "chart-svg" || root.attr["role"] != "img" ||
		root.attr["xmlns"] != "http://www.w3.org/2000/svg" {
		t.Errorf("root %s %v", root.name, root.attr)
	}
	if root.attr["aria-label"] != title || root.title != title || elems[1].name != "title" || elems[1].parent != 0 {
		t.Errorf("title %q, aria-label %q, first child %s; want %q first", root.title, root.attr["aria-label"], elems[1].name, title)
	}
	if want := "0 0 " + root.attr["width"] + " " + root.attr["height"]; root.attr["viewBox"] != want || root.attr["width"] != "720" {
		t.Errorf("viewBox %q, width %q; want %q, 720", root.attr["viewBox"], root.attr["width"], want)
	}
	for _, e := range elems {
		if e.name == "script" || e.name == "style" || e.name == "foreignObject" || e.attr["href"] != "" {
			t.Errorf("%s %v in a chart", e.name, e.attr)
		}
	}
	marks := marksOf(elems)
	if len(marks) != wantMarks {
		t.Errorf("%d marks, want %d", len(marks), wantMarks)
	}
	for _, m := range marks {
		if m.title == "" {
			t.Errorf("mark %s %v without a tooltip", m.name, m.attr)
		}
	}
	return elems
}

// marksOf are the elements of class mark.
func marksOf(elems []svgElem) []svgElem {
	var marks []svgElem
	for _, e := range elems {
		if e.attr["class"] == "mark" {
			marks = append(marks, e)
		}
	}
	return marks
}

// hasTip says whether a mark's tooltip is tip.
func hasTip(elems []svgElem, tip string) bool {
	for _, m := range marksOf(elems) {
		if m.title == tip {
			return true
		}
	}
	return false
}

// svgTexts are the chart's visible texts, in order.
func svgTexts(t *testing.T, s template.HTML) []string {
	dec := xml.NewDecoder(strings.NewReader(string(s)))
	var out []string
	in := false
	for {
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			in = tok.Name.Local == "text"
		case xml.EndElement:
			in = false
		case xml.CharData:
			if in {
				out = append(out, string(tok))
			}
		}
	}
}

func svgHasText(t *testing.T, s template.HTML, want string) bool {
	for _, x := range svgTexts(t, s) {
		if x == want {
			return true
		}
	}
	return false
}

func attrNum(t *testing.T, e svgElem, attr string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(e.attr[attr], 64)
	if err != nil {
		t.Fatalf("%s %s=%q: %v", e.name, attr, e.attr[attr], err)
	}
	return f
}

var chartStart = time.Date(2026, 3, 14, 12, 0, 3, 0, time.UTC)

// TestTimeChartSVG: one mark per stacked segment above zero, per overlay
// point above zero and per band; tooltips name the series, the bucket's
// time and the exact value; a legend for several series; ticks with
// shortened numbers and UTC times.
func TestTimeChartSVG(t *testing.T) {
	for _, tc := range []struct {
		name   string
		chart  TimeChart
		marks  int
		tip    string
		labels []string // among the texts
	}{{
		name: "stacked",
		chart: TimeChart{Title: "packets per second", Start: chartStart, Bucket: time.Second, Unit: "packets/s",
			Stacked: []Series{{"IPv4/TCP", []float64{1234, 0, 50}}, {"IPv4/UDP", []float64{10, 20, 0}}}},
		marks:  4,
		tip:    "IPv4/TCP 12:00:03–12:00:04: 1 234 packets/s",
		labels: []string{"IPv4/TCP", "IPv4/UDP", "packets/s", "1.5k", "500", "12:00:04"},
	}, {
		name: "overlay and marks",
		chart: TimeChart{Title: "t", Start: chartStart, Bucket: time.Second, Unit: "packets/s",
			Stacked: []Series{{"recorded", []float64{5, 6, 7, 8}}},
			Overlay: []Series{{"not recorded", []float64{0, 2.5, 0, 1}}},
			Marks: []TimeMark{
				{At: chartStart.Add(time.Second), Until: chartStart.Add(3 * time.Second), Label: "syn_flood"},
				{At: chartStart.Add(2 * time.Second), Until: chartStart.Add(2 * time.Second), Label: "line"},
				{At: chartStart.Add(time.Hour), Until: chartStart.Add(2 * time.Hour), Label: "outside"},
			}},
		marks:  4 + 2 + 2,
		tip:    "not recorded 12:00:04–12:00:05: 2.5 packets/s",
		labels: []string{"syn_flood", "line", "not recorded"},
	}, {
		name: "band tooltip",
		chart: TimeChart{Title: "t", Start: chartStart, Bucket: time.Second, Unit: "packets/s",
			Stacked: []Series{{"all", []float64{1, 1}}},
			Marks:   []TimeMark{{At: chartStart.Add(2 * time.Second), Until: chartStart, Label: "reversed"}}},
		marks: 3,
		tip:   "reversed 12:00:03–12:00:05",
	}, {
		name: "bytes over two days",
		chart: TimeChart{Title: "bytes", Start: chartStart, Bucket: time.Hour, Unit: "bytes/s",
			Stacked: []Series{{"all", append(make([]float64, 47), 3<<20)}}},
		marks:  1,
		tip:    "all 03-16 11:00:03–03-16 12:00:03: 3 145 728 bytes/s (3 MiB/s)",
		labels: []string{"1 MiB", "3 MiB", "03-15 00:00"},
	}, {
		name: "milliseconds",
		chart: TimeChart{Title: "ms", Start: chartStart, Bucket: 100 * time.Millisecond, Unit: "packets/s",
			Stacked: []Series{{"all", []float64{1, 2, 3}}}},
		marks:  3,
		tip:    "all 12:00:03.100–12:00:03.200: 2 packets/s",
		labels: []string{"12:00:03.100"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			out := timeChartSVG(tc.chart)
			elems := checkChart(t, out, tc.chart.Title, tc.marks)
			if !hasTip(elems, tc.tip) {
				t.Errorf("no mark says %q", tc.tip)
			}
			for _, l := range tc.labels {
				if !svgHasText(t, out, l) {
					t.Errorf("no text %q in %q", l, svgTexts(t, out))
				}
			}
		})
	}
}

// TestStackedBarHeightsSVG: a bucket's segments are as high as a bar of
// their sum, each in proportion to its value, and they touch.
func TestStackedBarHeightsSVG(t *testing.T) {
	vals := [][]float64{{1.1, 0}, {2.345, 0}, {3.3, 0}, {0.7, 0}}
	vals[0][1] = 1.1 + 2.345 + 3.3 + 0.7
	var series []Series
	for i, v := range vals {
		series = append(series, Series{Name: strconv.Itoa(i), Values: v})
	}
	out := timeChartSVG(TimeChart{Title: "t", Start: chartStart, Bucket: time.Second, Unit: "packets/s", Stacked: series})
	marks := marksOf(checkChart(t, out, "t", 5))
	first, second := marks[:4], marks[4]
	if attrNum(t, second, "x") == attrNum(t, first[0], "x") {
		t.Fatal("the buckets' bars are at the same x")
	}
	total := attrNum(t, second, "height")
	sum := 0.0
	for i, m := range first {
		h := attrNum(t, m, "height")
		sum += h
		if want := total * vals[i][0] / vals[0][1]; math.Abs(h-want) > 0.01 {
			t.Errorf("segment %d is %.3f high, want %.3f", i, h, want)
		}
		if i > 0 {
			if below := first[i-1]; math.Abs(attrNum(t, below, "y")-(attrNum(t, m, "y")+h)) > 1e-9 {
				t.Errorf("segment %d does not sit on segment %d", i, i-1)
			}
		}
	}
	if math.Abs(sum-total) > 0.01 {
		t.Errorf("segments add up to %.3f, the total is %.3f high", sum, total)
	}
	if bottom := attrNum(t, first[0], "y") + attrNum(t, first[0], "height"); math.Abs(bottom-(attrNum(t, second, "y")+total)) > 1e-9 {
		t.Errorf("stack bottom %.2f, total bottom %.2f", bottom, attrNum(t, second, "y")+total)
	}
}

// TestBarChartSVG: one mark per bar, zeros included; exact tooltips;
// bytes in binary units; the chart grows with the bars.
func TestBarChartSVG(t *testing.T) {
	for _, tc := range []struct {
		name, unit string
		bars       []Bar
		marks      int
		tip        string
		labels     []string
	}{{
		name: "records", unit: "records",
		bars:   []Bar{{"198.51.100.7", 12345}, {"2001:db8::1", 3}, {"idle", 0}},
		marks:  3,
		tip:    "198.51.100.7: 12 345 records",
		labels: []string{"198.51.100.7", "12.3k", "10k", "records"},
	}, {
		name: "bytes", unit: "bytes",
		bars:   []Bar{{"a", 3 << 20}, {"b", 1536}},
		marks:  2,
		tip:    "b: 1 536 bytes (1.5 KiB)",
		labels: []string{"3 MiB", "1.5 KiB", "1 MiB"},
	}, {
		name: "long label", unit: "",
		bars:   []Bar{{strings.Repeat("x", 50), 0.25}},
		marks:  1,
		tip:    strings.Repeat("x", 50) + ": 0.25",
		labels: []string{strings.Repeat("x", labelRunes-1) + "…", "0.25"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			out := barChartSVG("top "+tc.name, tc.unit, tc.bars)
			elems := checkChart(t, out, "top "+tc.name, tc.marks)
			if !hasTip(elems, tc.tip) {
				t.Errorf("no mark says %q", tc.tip)
			}
			for _, l := range tc.labels {
				if !svgHasText(t, out, l) {
					t.Errorf("no text %q in %q", l, svgTexts(t, out))
				}
			}
		})
	}
}

// TestBarChartHeightSVG: about 22 px more per bar.
func TestBarChartHeightSVG(t *testing.T) {
	h := func(n int) float64 {
		bars := make([]Bar, n)
		for i := range bars {
			bars[i] = Bar{strconv.Itoa(i), float64(i + 1)}
		}
		return attrNum(t, parseSVG(t, barChartSVG("t", "records", bars))[0], "height")
	}
	if d := h(11) - h(1); math.Abs(d-220) > 1 {
		t.Errorf("10 more bars are %.0f px higher, want 220", d)
	}
}

// TestGroupedBarSVG: one mark per label and series, side by side, in the
// series' colours, with a legend.
func TestGroupedBarSVG(t *testing.T) {
	for _, tc := range []struct {
		name   string
		labels []string
		series []string
		values [][]float64
		marks  int
		tip    string
	}{{
		name:   "syn",
		labels: []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"},
		series: []string{"SYN in", "SYN-ACK out"},
		values: [][]float64{{5000, 20, 1}, {10, 0, 1}},
		marks:  6,
		tip:    "192.0.2.1, SYN in: 5 000 packets",
	}, {
		name:   "missing values",
		labels: []string{"a", "b"},
		series: []string{"x", "y", "z"},
		values: [][]float64{{1}, {2, 3}},
		marks:  6,
		tip:    "b, z: 0 packets",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			out := groupedBarSVG(tc.name, "packets", tc.labels, tc.series, tc.values)
			elems := checkChart(t, out, tc.name, tc.marks)
			if !hasTip(elems, tc.tip) {
				t.Errorf("no mark says %q", tc.tip)
			}
			marks := marksOf(elems)
			for i := range tc.labels {
				for s := range tc.series {
					m := marks[i*len(tc.series)+s]
					if m.attr["fill"] != chartColor(s) {
						t.Errorf("label %d series %d is %s, want %s", i, s, m.attr["fill"], chartColor(s))
					}
					if s > 0 && attrNum(t, m, "y") <= attrNum(t, marks[i*len(tc.series)+s-1], "y") {
						t.Errorf("label %d: series %d is not below series %d", i, s, s-1)
					}
				}
			}
			for _, name := range tc.series {
				if !svgHasText(t, out, name) {
					t.Errorf("no legend entry %q", name)
				}
			}
		})
	}
}

// TestWaterfallSVG: marks for the total, each step of a value other than
// 0 and the end; each step hangs from where the one before ended; every
// column is labelled.
func TestWaterfallSVG(t *testing.T) {
	total := Step{"seen", 323}
	steps := []Step{{"not_ip", 12}, {"session_table_full", 20}, {"ringbuf_full", 0}, {"buffer_full", 8}}
	end := Step{"recorded", 283}
	out := waterfallSVG("where packets went", "packets", total, steps, end)
	elems := checkChart(t, out, "where packets went", 1+3+1)
	for _, tip := range []string{"seen: 323 packets", "not_ip: 12 packets (323 → 311)", "buffer_full: 8 packets (291 → 283)", "recorded: 283 packets"} {
		if !hasTip(elems, tip) {
			t.Errorf("no mark says %q", tip)
		}
	}
	for _, l := range []string{"seen", "ringbuf_full", "recorded", "−12", "323", "283"} {
		if !svgHasText(t, out, l) {
			t.Errorf("no text %q in %q", l, svgTexts(t, out))
		}
	}
	marks := marksOf(elems)
	seen, notIP, full := marks[0], marks[1], marks[2]
	if math.Abs(attrNum(t, notIP, "y")-attrNum(t, seen, "y")) > 0.01 {
		t.Errorf("the first step starts at %.2f, the total ends at %.2f", attrNum(t, notIP, "y"), attrNum(t, seen, "y"))
	}
	if math.Abs(attrNum(t, full, "y")-(attrNum(t, notIP, "y")+attrNum(t, notIP, "height"))) > 0.01 {
		t.Error("the second step does not start where the first ended")
	}
	if r := attrNum(t, full, "height") / attrNum(t, notIP, "height"); math.Abs(r-20.0/12) > 0.01 {
		t.Errorf("steps' heights are %.3f to each other, want %.3f", r, 20.0/12)
	}
	if attrNum(t, notIP, "x") <= attrNum(t, seen, "x") || attrNum(t, full, "x") <= attrNum(t, notIP, "x") {
		t.Error("columns are not left to right")
	}
}

// TestHistogramSVG: one mark per bucket that counts something; ticks at
// powers of ten in the unit.
func TestHistogramSVG(t *testing.T) {
	for _, tc := range []struct {
		name, unit string
		buckets    []Bucket
		marks      int
		tip        string
		labels     []string
	}{{
		name: "durations", unit: "s",
		buckets: []Bucket{{0.001, 0.01, 4}, {0.01, 0.1, 0}, {0.1, 1, 1234}, {1, 10, 1}},
		marks:   3,
		tip:     "100 ms–1 s: 1 234",
		labels:  []string{"1 ms", "10 ms", "100 ms", "1 s", "10 s", "count"},
	}, {
		name: "bytes", unit: "bytes",
		buckets: []Bucket{{64, 128, 3}, {128, 256, 0}, {256, 512, 9}, {1024, 2048, 1}, {16384, 32768, 2}},
		marks:   4,
		tip:     "16 384–32 768 bytes: 2",
		labels:  []string{"100 B", "1 KiB", "10 KiB"},
	}, {
		name: "other unit", unit: "packets",
		buckets: []Bucket{{1, 10, 1}, {10, 100, 2}, {100, 1000, 3}, {1000, 10000, 4}, {0, 1, 100}, {5, 5, 100}},
		marks:   4,
		tip:     "1 000–10 000 packets: 4",
		labels:  []string{"1 packets", "1k packets", "10k packets"},
	}, {
		name: "within a decade", unit: "s",
		buckets: []Bucket{{2, 4, 1}, {4, 8, 1}},
		marks:   2,
		tip:     "2 s–4 s: 1",
		labels:  []string{"2 s", "8 s"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			out := histogramSVG(tc.name, tc.unit, tc.buckets)
			elems := checkChart(t, out, tc.name, tc.marks)
			if !hasTip(elems, tc.tip) {
				t.Errorf("no mark says %q", tc.tip)
			}
			for _, l := range tc.labels {
				if !svgHasText(t, out, l) {
					t.Errorf("no text %q in %q", l, svgTexts(t, out))
				}
			}
		})
	}
}

// TestHistogramLogAxis: buckets ten times as wide are as wide on the
// page and touch, and a count twice as high is twice as tall.
func TestHistogramLogAxis(t *testing.T) {
	out := histogramSVG("t", "s", []Bucket{{1e-3, 1e-2, 2}, {1e-2, 1e-1, 4}, {1e-1, 1, 1}, {1, 10, 3}})
	marks := marksOf(checkChart(t, out, "t", 4))
	w := attrNum(t, marks[0], "width")
	for i, m := range marks {
		if math.Abs(attrNum(t, m, "width")-w) > 0.01 {
			t.Errorf("bucket %d is %.2f wide, the first %.2f", i, attrNum(t, m, "width"), w)
		}
		if i > 0 {
			// Half a pixel in from each edge: neighbours are 1 px apart.
			if gap := attrNum(t, m, "x") - attrNum(t, marks[i-1], "x") - w; math.Abs(gap-1) > 0.01 {
				t.Errorf("buckets %d and %d are %.2f px apart, want 1", i-1, i, gap)
			}
		}
	}
	if r := attrNum(t, marks[1], "height") / attrNum(t, marks[0], "height"); math.Abs(r-2) > 0.01 {
		t.Errorf("twice the count is %.3f times as tall", r)
	}
}

// TestChartEscapesSVG: titles, labels and names are escaped, and
// characters XML cannot hold do not break the chart.
func TestChartEscapesSVG(t *testing.T) {
	const nasty = `<b> & "q" 'a'` + "\x01"
	for name, out := range map[string]template.HTML{
		"time": timeChartSVG(TimeChart{Title: nasty, Start: chartStart, Bucket: time.Second, Unit: nasty,
			Stacked: []Series{{nasty, []float64{1}}, {"b", []float64{2}}}, Marks: []TimeMark{{chartStart, chartStart, nasty}}}),
		"bar":       barChartSVG(nasty, nasty, []Bar{{nasty, 1}}),
		"grouped":   groupedBarSVG(nasty, nasty, []string{nasty}, []string{nasty, "b"}, [][]float64{{1}, {2}}),
		"waterfall": waterfallSVG(nasty, nasty, Step{nasty, 3}, []Step{{nasty, 1}}, Step{nasty, 2}),
		"histogram": histogramSVG(nasty, nasty, []Bucket{{1, 10, 1}}),
	} {
		t.Run(name, func(t *testing.T) {
			s := string(out)
			if strings.Contains(s, "<b>") || strings.Contains(s, `"q"`) || strings.Contains(s, "'a'") || strings.Contains(s, "\x01") {
				t.Errorf("unescaped text in %s", s)
			}
			if !strings.Contains(s, "&lt;b&gt; &amp; &#34;q&#34; &#39;a&#39;") {
				t.Errorf("no escaped text in %s", s)
			}
			elems := parseSVG(t, out)
			if want := strings.TrimSuffix(nasty, "\x01") + " "; elems[0].title != want {
				t.Errorf("title %q, want %q", elems[0].title, want)
			}
			for _, m := range marksOf(elems) {
				if strings.Contains(m.title, "<b>") {
					return
				}
			}
			t.Error("no tooltip names the label")
		})
	}
}

// TestChartEmptySVG: nothing to draw is "".
func TestChartEmptySVG(t *testing.T) {
	for name, out := range map[string]template.HTML{
		"time none":        timeChartSVG(TimeChart{Title: "t", Start: chartStart, Bucket: time.Second}),
		"time zeros":       timeChartSVG(TimeChart{Title: "t", Start: chartStart, Bucket: time.Second, Stacked: []Series{{"a", []float64{0, 0}}}, Overlay: []Series{{"b", []float64{0}}}}),
		"time negative":    timeChartSVG(TimeChart{Title: "t", Start: chartStart, Bucket: time.Second, Stacked: []Series{{"a", []float64{-1, math.NaN()}}}}),
		"time no bucket":   timeChartSVG(TimeChart{Title: "t", Start: chartStart, Stacked: []Series{{"a", []float64{1}}}}),
		"time marks only":  timeChartSVG(TimeChart{Title: "t", Start: chartStart, Bucket: time.Second, Marks: []TimeMark{{chartStart, chartStart, "m"}}}),
		"bar none":         barChartSVG("t", "records", nil),
		"bar zeros":        barChartSVG("t", "records", []Bar{{"a", 0}, {"b", math.Inf(1)}}),
		"grouped none":     groupedBarSVG("t", "packets", nil, []string{"a"}, nil),
		"grouped noseries": groupedBarSVG("t", "packets", []string{"a"}, nil, nil),
		"grouped zeros":    groupedBarSVG("t", "packets", []string{"a"}, []string{"x"}, [][]float64{{0}}),
		"waterfall zeros":  waterfallSVG("t", "packets", Step{"seen", 0}, []Step{{"lost", 0}}, Step{"recorded", 0}),
		"histogram none":   histogramSVG("t", "s", nil),
		"histogram zeros":  histogramSVG("t", "s", []Bucket{{1, 10, 0}}),
		"histogram bad":    histogramSVG("t", "s", []Bucket{{0, 10, 5}, {10, 1, 5}}),
	} {
		if out != "" {
			t.Errorf("%s: %s", name, out)
		}
	}
}

// TestChartDeterministicSVG: the same input gives the same bytes.
func TestChartDeterministicSVG(t *testing.T) {
	charts := []func() template.HTML{
		func() template.HTML {
			return timeChartSVG(TimeChart{Title: "t", Start: chartStart, Bucket: time.Second, Unit: "bytes/s",
				Stacked: []Series{{"a", []float64{1.0 / 3, 2, 3}}, {"b", []float64{1e7, 0, 1}}},
				Overlay: []Series{{"c", []float64{0.1, 0.2}}}, Marks: []TimeMark{{chartStart, chartStart.Add(time.Second), "m"}}})
		},
		func() template.HTML { return barChartSVG("t", "bytes", []Bar{{"a", 1.0 / 7}, {"b", 12345678}}) },
		func() template.HTML {
			return groupedBarSVG("t", "packets", []string{"a", "b"}, []string{"x", "y"}, [][]float64{{1, 2}, {3, math.Pi}})
		},
		func() template.HTML {
			return waterfallSVG("t", "bytes", Step{"a", 1e9}, []Step{{"b", 1.0 / 3}}, Step{"c", 5e8})
		},
		func() template.HTML {
			return histogramSVG("t", "bytes", []Bucket{{1, 2, 1}, {2, 4, 3}, {4, 1 << 20, 2}})
		},
	}
	for i, c := range charts {
		a, b := c(), c()
		if a == "" || a != b {
			t.Errorf("chart %d differs between calls or is empty", i)
		}
		parseSVG(t, a)
	}
}

// TestChartNumbersSVG: how values are shortened and written out.
func TestChartNumbersSVG(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{shortNum(0), "0"}, {shortNum(999), "999"}, {shortNum(1200), "1.2k"}, {shortNum(3.4e6), "3.4M"},
		{shortNum(5.6e9), "5.6G"}, {shortNum(999.7), "1k"}, {shortNum(0.30000000000000004), "0.3"}, {shortNum(-1500), "-1.5k"},
		{bytesShort(100), "100 B"}, {bytesShort(1536), "1.5 KiB"}, {bytesShort(3 << 20), "3 MiB"}, {bytesShort(5 << 30), "5 GiB"},
		{exactNum(1234), "1 234"}, {exactNum(1234567.5), "1 234 567.5"}, {exactNum(-0.0001), "-0.0001"}, {exactNum(-0.0004), "-0.0004"},
		{exactNum(2.0 / 3), "0.667"}, {exactNum(math.NaN()), "0"}, {exactNum(123), "123"},
		{withUnit(2048, "bytes"), "2 048 bytes (2 KiB)"}, {withUnit(5, "packets/s"), "5 packets/s"}, {withUnit(7, ""), "7"},
		{durText(1e-6), "1 µs"}, {durText(0.0015), "1.5 ms"}, {durText(10), "10 s"}, {durText(5e-8), "50 ns"},
		{px(-0.001), "0"}, {px(12.345678), "12.35"}, {px(3), "3"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
