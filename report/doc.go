package report

import (
	"fmt"
	"strconv"
	"strings"
)

// A report laid out for reading: sections of blocks, built once from the
// Report (one function per section) and rendered as terminal tables,
// Markdown and HTML, so that every format says the same thing in the same
// order. JSON is the Report itself.

type doc struct {
	intro    string
	sections []section
}

type section struct {
	title  string
	blocks []block
}

// block is one piece of a section.
type block interface{ isBlock() }

type (
	// para is a paragraph; note is set for legends and asides, warn for
	// warnings (the text carries its "WARNING:"); html, when set, is how
	// the page says it (typography plain text has no room for).
	para struct {
		text, html string
		note, warn bool
	}
	// list is a bulleted list.
	list []string
	// table is a grid of cells; Wide marks columns whose long values
	// should wrap (HTML).
	table struct {
		grid
		wide []bool
	}
	// spark is a run's records over time: a sparkline in text, a bar
	// chart in HTML.
	spark []uint64
	// indicators are the attack indicators, each with its evidence.
	indicators []Indicator
)

func (para) isBlock()       {}
func (list) isBlock()       {}
func (table) isBlock()      {}
func (spark) isBlock()      {}
func (indicators) isBlock() {}

func p(text string) para    { return para{text: text} }
func note(text string) para { return para{text: text, note: true} }
func warn(text string) para { return para{text: "WARNING: " + text, warn: true} }

// cols marks the columns (by index) that are numbers.
func cols(n int, idx ...int) []bool {
	r := make([]bool, n)
	for _, i := range idx {
		r[i] = true
	}
	return r
}

// layout builds the document of r.
func layout(r *Report) doc {
	d := doc{intro: introText(r)}
	d.sections = append(d.sections,
		section{"Summary", []block{list(summaryLines(r))}},
		runsSection(r), accountingSection(r), trafficSection(r))
	d.sections = append(d.sections, flowsSections(r)...)
	d.sections = append(d.sections, topSections(r)...)
	d.sections = append(d.sections, tcpSection(r), timelineSection(r), indicatorsSection(r), labelsSection(r))
	if len(r.Warnings) > 0 {
		d.sections = append(d.sections, section{"Warnings", []block{list(r.Warnings)}})
	}
	if len(r.Problems) > 0 {
		items := make(list, len(r.Problems))
		for i, pr := range r.Problems {
			items[i] = pr.String()
		}
		d.sections = append(d.sections, section{"Problems", []block{items}})
	}
	return d
}

func runsSection(r *Report) section {
	t := table{grid: grid{Header: []string{"run", "host", "input", "start (UTC)", "duration", "stopped by", "sampling", "rows", "tacap", "kernel"},
		Right: cols(10, 4, 7)}, wide: cols(10, 2)}
	for _, run := range r.Runs {
		c := runCellsOf(&run)
		t.Rows = append(t.Rows, []string{run.RunID, run.Host, c.Input, c.Start, c.Duration, c.Stop, paramSummary(run.Parameters),
			strconv.FormatInt(run.RowsRead, 10), firstNonEmpty(run.TacapVersion, "-"), firstNonEmpty(run.KernelRelease, "-")})
	}
	s := section{"Runs", []block{t, note(samplingLegend)}}
	for _, run := range r.Runs {
		if n := fileTimeNote(&run); n != "" {
			s.blocks = append(s.blocks, note(n))
		}
	}
	return s
}

func accountingSection(r *Report) section {
	a := r.Accounting
	s := section{title: "Accounting"}
	if a.Runs == 0 {
		s.blocks = append(s.blocks, p(noCountersText(a)))
	} else {
		t := table{grid: grid{Header: []string{"packets", "count", "share of seen"}, Right: cols(3, 1, 2),
			Rows: [][]string{{"seen", u(a.Seen), "100.0 %"}, {"recorded", u(a.Recorded), pct(share(a.Recorded, a.Seen))},
				{"not recorded", u(a.NotRecorded), pct(share(a.NotRecorded, a.Seen))}}}}
		for _, rs := range a.Reasons {
			t.Rows = append(t.Rows, []string{"  " + rs.Reason, u(rs.Packets), pct(rs.Share)})
		}
		s.blocks = append(s.blocks, t)
		s.blocks = append(s.blocks, accountingChart(a)...)
		for _, n := range accountingNotes(r) {
			s.blocks = append(s.blocks, p(n))
		}
	}
	if a.BufferFullWarning != "" {
		s.blocks = append(s.blocks, warn(a.BufferFullWarning))
	}
	return s
}

func trafficSection(r *Report) section {
	tr := r.Traffic
	s := section{"Traffic", []block{p(fmt.Sprintf("%d records standing for %d packets and %s on the wire.", tr.Records, tr.Packets, bytesText(tr.Bytes)))}}
	if tr.Records == 0 {
		return s
	}
	for _, by := range []struct {
		key  string
		rows []Breakup
	}{{"protocol", tr.ByProtocol}, {"direction", tr.ByDirection}} {
		t := table{grid: grid{Header: []string{by.key, "records", "packets", "bytes", "share"}, Right: cols(5, 1, 2, 3, 4)}}
		for _, b := range by.rows {
			t.Rows = append(t.Rows, []string{b.Key, u(b.Records), u(b.Packets), bytesText(b.Bytes), pct(b.Share)})
		}
		s.blocks = append(s.blocks, t)
	}
	return s
}

// flowsSections: every packet seen, where the traffic above is a sample.
func flowsSections(r *Report) []section {
	s := section{"Flows", []block{p(flowsText(r))}}
	if r.Flows.Runs == 0 {
		return []section{s}
	}
	s.blocks = append(s.blocks, table{grid: flowsGrid(r)})
	s.blocks = append(s.blocks, flowCharts(r.Flows)...)
	if n := noFlowsNote(r); n != "" {
		s.blocks = append(s.blocks, note(n))
	}
	s.blocks = append(s.blocks, note(flowsLegend))
	top := section{title: fmt.Sprintf("Top %d flows", r.Top.N)}
	if len(r.Top.Flows) == 0 {
		top.blocks = []block{p("No flows.")}
	} else {
		top.blocks = []block{table{grid: topFlowsGrid(r.Top.Flows)}}
	}
	return []section{s, top}
}

func topSections(r *Report) []section {
	top := r.Top
	sources := talkersSection(fmt.Sprintf("Top %d sources", top.N), "destinations", top.Sources)
	sources.blocks = append(sources.blocks, talkersChart("top-sources", "Top sources", top.Sources)...)
	dests := talkersSection(fmt.Sprintf("Top %d destinations", top.N), "sources", top.Destinations)
	dests.blocks = append(dests.blocks, talkersChart("top-destinations", "Top destinations", top.Destinations)...)
	ports := portsSection(top)
	ports.blocks = append(ports.blocks, portsChart(top)...)
	return []section{topSessionsSection(top), sources, dests, ports}
}

func topSessionsSection(top Top) section {
	s := section{title: fmt.Sprintf("Top %d sessions", top.N)}
	if len(top.Sessions) == 0 {
		s.blocks = []block{p("No sessions.")}
		return s
	}
	t := table{grid: grid{Header: []string{"source", "destination", "proto", "packets seen", "recorded", "bytes seen", "duration", "rate", "quota-limited"},
		Right: cols(9, 3, 4, 5, 6, 7)}}
	for _, ss := range top.Sessions {
		quota := "no"
		if ss.QuotaLimited {
			quota = "yes"
		}
		t.Rows = append(t.Rows, []string{endpoint(ss.SrcIP, ss.SrcPort, ss.Protocol), endpoint(ss.DstIP, ss.DstPort, ss.Protocol), ss.Protocol,
			strconv.FormatInt(ss.PacketsSeen, 10), strconv.FormatInt(ss.PacketsRecorded, 10), bytesText(uint64(max(ss.BytesSeen, 0))),
			seconds(ss.DurationSec), rateText(ss.RatePPS, "-"), quota})
	}
	s.blocks = []block{t, para{text: rateLegend, html: strings.Replace(rateLegend, "- for", "– for", 1), note: true}}
	if fromPackets(top.Sessions) {
		s.blocks = append(s.blocks, note(fromPacketsNote))
	}
	return s
}

func talkersSection(title, peers string, list []Talker) section {
	if len(list) == 0 {
		return section{title, []block{p("None.")}}
	}
	t := table{grid: grid{Header: []string{"address", "records", "bytes", "share", peers}, Right: cols(5, 1, 2, 3, 4)}}
	for _, x := range list {
		t.Rows = append(t.Rows, []string{x.IP, u(x.Records), bytesText(x.Bytes), pct(x.Share), u(x.Peers)})
	}
	return section{title, []block{t}}
}

func portsSection(top Top) section {
	title := fmt.Sprintf("Top %d destination ports", top.N)
	if len(top.DstPorts) == 0 {
		return section{title, []block{p("No TCP or UDP packets.")}}
	}
	t := table{grid: grid{Header: []string{"port", "records", "bytes", "share"}, Right: cols(4, 1, 2, 3)}}
	for _, pt := range top.DstPorts {
		t.Rows = append(t.Rows, []string{fmt.Sprintf("%s/%d", pt.Protocol, pt.Port), u(pt.Records), bytesText(pt.Bytes), pct(pt.Share)})
	}
	return section{title, []block{t}}
}

func tcpSection(r *Report) section {
	tc := r.TCP
	s := section{"TCP", []block{p(fmt.Sprintf("%d TCP records: %d SYN, %d SYN-ACK, %d RST, %d FIN. %d handshakes started (SYN recorded), %d completed (the client's ACK recorded): half-open ratio %s.",
		tc.Records, tc.SYN, tc.SYNACK, tc.RST, tc.FIN, tc.Handshakes, tc.Completed, pct(tc.HalfOpenRatio)))}}
	if len(tc.PerDestination) == 0 {
		s.blocks = append(s.blocks, tcpCharts(tc)...)
		return s
	}
	t := table{grid: grid{Header: []string{"destination", "SYN in", "SYN-ACK out", "RST out", "handshakes", "completed", "half-open"},
		Right: cols(7, 1, 2, 3, 4, 5, 6)}}
	for _, d := range tc.PerDestination {
		t.Rows = append(t.Rows, []string{d.IP, u(d.SYN), u(d.SYNACK), u(d.RST), u(d.Handshakes), u(d.Completed), pct(d.HalfOpenRatio)})
	}
	s.blocks = append(s.blocks, t)
	s.blocks = append(s.blocks, tcpCharts(tc)...)
	return s
}

func timelineSection(r *Report) section {
	s := section{"Timeline", trafficCharts(r)}
	for _, run := range r.Runs {
		if len(run.Timeline.Records) == 0 {
			s.blocks = append(s.blocks, p(run.RunID+": no packets."))
			continue
		}
		s.blocks = append(s.blocks, p(timelineText(&run)+":"), spark(run.Timeline.Records))
	}
	return s
}

func indicatorsSection(r *Report) section {
	s := section{title: "Attack indicators"}
	if len(r.Indicators) == 0 {
		s.blocks = append(s.blocks, p(fmt.Sprintf("None fired. Thresholds: %s.", thresholdsText(r.Thresholds))))
	} else {
		s.blocks = append(s.blocks, indicators(r.Indicators))
	}
	if more := omittedText(r); more != "" {
		s.blocks = append(s.blocks, p(more))
	}
	if c := lowerBoundsCaveat(r); c != "" {
		s.blocks = append(s.blocks, note(c))
	}
	return s
}

func labelsSection(r *Report) section {
	s := section{"Labels", []block{p(labelsText(r))}}
	lb := &r.Labels
	if lb.RunsWithLabels == 0 {
		return s
	}
	for _, line := range rulesFileLines(lb) {
		s.blocks = append(s.blocks, p(line))
	}
	s.blocks = append(s.blocks, table{grid: labelsGrid(r)})
	s.blocks = append(s.blocks, labelCharts(r)...)
	if len(lb.RuleHits) > 0 {
		s.blocks = append(s.blocks, table{grid: ruleHitsGrid(lb)})
	}
	if n := unlistedRulesNote(lb); n != "" {
		s.blocks = append(s.blocks, note(n))
	}
	if t := labelFlowsText(r); t != "" {
		s.blocks = append(s.blocks, p(t))
	}
	if lines := evidenceLines(lb); len(lines) > 0 {
		s.blocks = append(s.blocks, p(evidenceIntro), list(lines))
	}
	for _, w := range lb.Warnings {
		s.blocks = append(s.blocks, warn(w))
	}
	s.blocks = append(s.blocks, note(labelsLegend))
	return s
}
