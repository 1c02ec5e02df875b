package report

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tacap/tacap/dataset"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// WriteJSON writes the report as documented in docs/report-json.md.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report as terminal tables (markdown false) or as
// Markdown that pastes into a ticket (markdown true).
func WriteText(w io.Writer, r *Report, markdown bool) error {
	t := &textWriter{w: w, md: markdown}
	t.write(r)
	return t.err
}

type textWriter struct {
	w   io.Writer
	md  bool
	err error
}

func (t *textWriter) printf(format string, a ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format, a...)
	}
}

func (t *textWriter) heading(title string) {
	if t.md {
		t.printf("\n## %s\n\n", title)
	} else {
		t.printf("\n%s\n", strings.ToUpper(title))
	}
}

// para is a line of prose; in Markdown a paragraph of its own.
func (t *textWriter) para(format string, a ...any) {
	if t.md {
		t.printf(format+"\n\n", a...)
	} else {
		t.printf(format+"\n", a...)
	}
}

// grid writes a table whose cells every format shares.
func (t *textWriter) grid(g grid) {
	var right []int
	for i, r := range g.Right {
		if r {
			right = append(right, i)
		}
	}
	t.table(g.Header, right, g.Rows)
}

// table writes rows; right lists the columns aligned right (numbers).
func (t *textWriter) table(header []string, right []int, rows [][]string) {
	if t.err != nil {
		return
	}
	align := make([]tw.Align, len(header))
	for i := range align {
		align[i] = tw.AlignLeft
	}
	for _, i := range right {
		align[i] = tw.AlignRight
	}
	opts := []tablewriter.Option{
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithTrimSpace(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAlignmentConfig(tw.CellAlignment{PerColumn: align}),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: align}),
	}
	if t.md {
		opts = append(opts, tablewriter.WithRenderer(renderer.NewMarkdown()))
	} else {
		opts = append(opts, tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleLight)})))
	}
	tab := tablewriter.NewTable(t.w, opts...)
	tab.Header(header)
	for _, r := range rows {
		if err := tab.Append(r); err != nil {
			t.err = err
			return
		}
	}
	if err := tab.Render(); err != nil {
		t.err = err
	}
	if t.md {
		t.printf("\n")
	}
}

func (t *textWriter) write(r *Report) {
	d := layout(r)
	if t.md {
		t.printf("# tacap report\n\n")
	} else {
		t.printf("tacap report\n")
	}
	t.para("%s", d.intro)
	for _, s := range d.sections {
		t.heading(s.title)
		var shown []block // charts are for the page; the tables say the same
		for _, b := range s.blocks {
			if _, isChart := b.(chart); !isChart {
				shown = append(shown, b)
			}
		}
		for i, b := range shown {
			t.block(b, i+1 < len(shown))
		}
	}
}

// block writes one block; more says whether another follows in its
// section (Markdown then needs a blank line after a list).
func (t *textWriter) block(b block, more bool) {
	switch b := b.(type) {
	case para:
		t.para("%s", b.text)
	case list:
		for _, item := range b {
			t.printf("- %s\n", item)
		}
		if t.md && more {
			t.printf("\n")
		}
	case table:
		t.grid(b.grid)
	case spark:
		line := sparkline(b, 60)
		if t.md {
			line = "`" + line + "`"
		}
		t.para("  %s", line)
	case indicators:
		for _, in := range b {
			if t.md {
				t.printf("- **%s** `%s` (score %.2f): %s.  \n  evidence: %s  \n  rule: %s\n", in.Kind, in.Target, in.Score, in.Summary, evidenceText(in, ", "), in.Threshold)
			} else {
				t.printf("* %s  %s  (score %.2f)\n    %s\n    evidence: %s\n    rule: %s\n", in.Kind, in.Target, in.Score, in.Summary, evidenceText(in, " "), in.Threshold)
			}
		}
		if t.md {
			t.printf("\n")
		}
	}
}

// The sentences and cells every format shares, so that they say the same.

// introText says what the report covers.
func introText(r *Report) string {
	datasets := map[string]bool{}
	for _, run := range r.Runs {
		datasets[run.Dataset] = true
	}
	return fmt.Sprintf("%s in %s under %s.", plural(len(r.Runs), "run"), plural(len(datasets), "dataset"), strings.Join(r.Inputs, ", "))
}

// summaryLines are the report's answers, one line each: what was recorded
// of what was seen, whether buffers overflowed, which indicators fired,
// whether anything needs a look.
func summaryLines(r *Report) []string {
	var lines []string
	acc := r.Accounting
	if acc.Runs > 0 {
		line := fmt.Sprintf("recorded %d of %d packets seen (%s)", acc.Recorded, acc.Seen, pct(share(acc.Recorded, acc.Seen)))
		var lost []string
		for _, rs := range acc.Reasons {
			if rs.Packets > 0 {
				lost = append(lost, fmt.Sprintf("%s %d", rs.Reason, rs.Packets))
			}
		}
		if len(lost) > 0 {
			line += "; not recorded: " + strings.Join(lost, ", ")
		}
		lines = append(lines, line)
	} else {
		lines = append(lines, fmt.Sprintf("%d rows read; no manifest, so the packets not recorded are unknown", acc.RowsRead))
	}
	if acc.BufferFullWarning != "" {
		lines = append(lines, "WARNING: packets were lost to a full buffer (see Accounting)")
	}
	if f := r.Flows; f.Runs > 0 && f.Flows > 0 {
		lines = append(lines, fmt.Sprintf("%s carried %d packets and %s: every packet seen in a flow, recorded or not (see Flows)",
			plural(int(f.Flows), "flow"), f.Packets, bytesText(f.Bytes)))
	}
	if fired := len(r.Indicators) + r.IndicatorsOmitted; fired == 0 {
		lines = append(lines, "no attack indicator fired")
	} else {
		var list []string
		for _, in := range r.Indicators {
			list = append(list, in.Kind+" "+in.Target)
		}
		line := fmt.Sprintf("%s fired: %s", plural(fired, "attack indicator"), strings.Join(list, "; "))
		if r.IndicatorsOmitted > 0 {
			line += fmt.Sprintf("; … and %d more", r.IndicatorsOmitted)
		}
		lines = append(lines, line)
	}
	if line := labelsSummary(r); line != "" {
		lines = append(lines, line)
	}
	if n := len(r.Warnings); n > 0 {
		lines = append(lines, plural(n, "warning")+" (see Warnings)")
	}
	if n := len(r.Problems); n > 0 {
		lines = append(lines, plural(n, "problem")+" reading the dataset (see Problems)")
	}
	return lines
}

// runCells are a run's cells of the runs table. A capture-file run is
// placed in the file's own time (fileTimeNote says so and gives the
// replay's wall time).
type runCells struct{ Input, Start, Duration, Stop string }

func runCellsOf(run *Run) runCells {
	c := runCells{Input: strings.Join(run.Interfaces, ","), Start: "-", Duration: "-", Stop: run.StopReason}
	if run.Pcap != "" {
		c.Input = "pcap " + run.Pcap
		if run.PcapFiles > 1 {
			c.Input += fmt.Sprintf(" + %d more", run.PcapFiles-1)
		}
	}
	switch {
	case !run.HasManifest:
		c.Input, c.Stop = "(no manifest)", "killed or still running (no manifest)"
	case !run.Complete:
		c.Stop += " (incomplete)"
	}
	switch {
	case run.FileStart != nil && run.FileDurationSec != nil:
		c.Start = run.FileStart.Format(timeFormat) + " (file)"
		c.Duration = seconds(*run.FileDurationSec) + " (file)"
	case run.Pcap != "":
		// A replay without packets has no file time to give.
	case run.Start != nil:
		c.Start = run.Start.Format(timeFormat)
		c.Duration = seconds(run.DurationSec)
	}
	return c
}

// timeFormat is how the report prints a time (UTC, to the second).
const timeFormat = "2006-01-02 15:04:05"

// fileTimeNote says, for a capture-file run, that its times are the
// file's, and when and how fast it was replayed; "" for a live run.
func fileTimeNote(run *Run) string {
	if run.Pcap == "" || !run.HasManifest {
		return ""
	}
	what := "its start and duration are the file's own time (first to last packet)"
	if run.FileStart == nil {
		what = "it recorded no packet, so the file's own time is unknown"
	}
	replayed := ""
	if run.Start != nil {
		replayed = fmt.Sprintf("; it was replayed %s UTC in %s", run.Start.Format(timeFormat), seconds(run.DurationSec))
	}
	file := "the capture file " + run.Pcap
	if run.PcapFiles > 1 {
		file = fmt.Sprintf("%d capture files, one after the other, from %s", run.PcapFiles, run.Pcap)
		what = strings.Replace(what, "the file's own time", "the files' own time", 1)
	}
	return fmt.Sprintf("%s read %s: %s%s.", run.RunID, file, what, replayed)
}

const samplingLegend = `sampling: sessions × packets per session, buffer records, restart times (accept/packet/buffer); "all" = no per-session limit.`

func noCountersText(a Accounting) string {
	return fmt.Sprintf("No run has a manifest, so nothing is known of the packets that were not recorded; %d rows were read.", a.RowsRead)
}

func accountingNotes(r *Report) []string {
	var notes []string
	a := r.Accounting
	if a.Runs < len(r.Runs) {
		notes = append(notes, fmt.Sprintf("Counters cover %d of %d runs (the others have no manifest).", a.Runs, len(r.Runs)))
	}
	if a.RecordedNotWritten > 0 {
		notes = append(notes, fmt.Sprintf("%d recorded packets were not written (the run was stopped before the drain finished).", a.RecordedNotWritten))
	}
	return notes
}

// grid is a table's header and cells, the same in every format.
type grid struct {
	Header []string
	Right  []bool // by column: aligned right (a number)
	Rows   [][]string
}

// numbersAfter marks every column but the first n as numbers.
func numbersAfter(n, cols int) []bool {
	r := make([]bool, cols)
	for i := n; i < cols; i++ {
		r[i] = true
	}
	return r
}

// flowsText says what the flows/ tables hold, or that there are none.
func flowsText(r *Report) string {
	f := r.Flows
	if f.Runs == 0 {
		return "No flows table: no run has a flows/ part (datasets written before tacap wrote flows/ have none)."
	}
	return fmt.Sprintf("%s in %s carried %d packets and %s: every packet the kernel saw in a flow, recorded or not; %d of them (%s) were recorded.",
		plural(int(f.Flows), "flow"), plural(f.Runs, "run"), f.Packets, bytesText(f.Bytes), f.PacketsRecorded, pct(share(f.PacketsRecorded, f.Packets)))
}

// flowsGrid has a row per run with a flows/ part and, when there are
// several, one of them all added up.
func flowsGrid(r *Report) grid {
	reasons := r.Flows.ByEndReason
	header := []string{"run", "flows", "packets", "recorded", "bytes"}
	for _, e := range reasons {
		header = append(header, e.Reason)
	}
	header = append(header, "one-way", "median duration", "max duration")
	row := func(name string, s *FlowStats) []string {
		cells := []string{name, u(s.Flows), u(s.Packets), u(s.PacketsRecorded), bytesText(s.Bytes)}
		for _, e := range reasons {
			var n uint64
			for _, x := range s.ByEndReason {
				if x.Reason == e.Reason {
					n = x.Flows
				}
			}
			cells = append(cells, u(n))
		}
		return append(cells, pct(s.OneWayShare), durationText(s.MedianDurationSec), durationText(s.MaxDurationSec))
	}
	g := grid{Header: header, Right: numbersAfter(1, len(header))}
	for _, run := range r.Runs {
		if run.Flows != nil {
			g.Rows = append(g.Rows, row(run.RunID, run.Flows))
		}
	}
	if r.Flows.Runs > 1 {
		g.Rows = append(g.Rows, row("all runs", &r.Flows.FlowStats))
	}
	return g
}

// topFlowsGrid is the top flows table.
func topFlowsGrid(fs []TopFlow) grid {
	g := grid{Header: []string{"flow", "proto", "packets", "bytes", "duration", "ended", "recorded"},
		Right: []bool{false, false, true, true, true, false, true}}
	for _, f := range fs {
		d := f.DurationSec
		g.Rows = append(g.Rows, []string{endpoint(f.SrcIP, f.SrcPort, f.Protocol) + " → " + endpoint(f.DstIP, f.DstPort, f.Protocol), f.Protocol,
			u(f.Packets), bytesText(f.Bytes), durationText(&d), f.EndReason, u(f.PacketsRecorded)})
	}
	return g
}

// noFlowsNote names the runs without a flows/ part when others have one.
func noFlowsNote(r *Report) string {
	var ids []string
	for _, run := range r.Runs {
		if run.Flows == nil {
			ids = append(ids, run.RunID)
		}
	}
	if len(ids) == 0 || r.Flows.Runs == 0 {
		return ""
	}
	return fmt.Sprintf("No flows/ part for %s (written by a tacap without flows/, saw no recordable packet, or killed before it published one).", listOrNone(ids))
}

const flowsLegend = "flows: rows of flows/, one per biflow, over every packet the kernel saw; recorded: of those packets, the ones the sampling recorded; " +
	"bytes: sum of ip_len; idle … end: flows by end_reason; one-way: flows whose destination sent nothing; duration: first to latest packet."

// durationText is a flow's duration (or a median); "-" for none.
func durationText(s *float64) string {
	switch {
	case s == nil:
		return "-"
	case *s > 0 && *s < 0.001:
		return fmt.Sprintf("%.0f µs", *s*1e6)
	}
	return seconds(*s)
}

// rateText is a session's rate, or none for one shorter than a second.
func rateText(rate *float64, none string) string {
	if rate == nil {
		return none
	}
	return fmt.Sprintf("%.1f/s", *rate)
}

const rateLegend = "rate: packets seen ÷ duration; - for a session shorter than a second."

const fromPacketsNote = "Sessions of runs without a sessions file are counted from their recorded packets (seen = recorded)."

func fromPackets(ss []Session) bool {
	return slices.ContainsFunc(ss, func(s Session) bool { return s.Source == "packets" })
}

// timelineText introduces a run's timeline: its start, buckets and peak.
func timelineText(run *Run) string {
	tl := run.Timeline
	var peak uint64
	peakAt := 0
	for i, c := range tl.Records {
		if c > peak {
			peak, peakAt = c, i
		}
	}
	at := tl.Start.Add(time.Duration(int64(peakAt)*tl.BucketSeconds) * time.Second)
	unit := "1 s"
	if tl.BucketSeconds > 1 {
		unit = fmt.Sprintf("%d s", tl.BucketSeconds)
	}
	return fmt.Sprintf("%s from %s UTC, %s of %s, peak %d records at %s", run.RunID, tl.Start.Format(timeFormat),
		plural(len(tl.Records), "bucket"), unit, peak, at.Format("15:04:05"))
}

// omittedText says how many indicators fired beyond those listed.
func omittedText(r *Report) string {
	if r.IndicatorsOmitted == 0 {
		return ""
	}
	return fmt.Sprintf("… and %d more, not listed: --top %d lists the highest scores only.", r.IndicatorsOmitted, r.Top.N)
}

// lowerBoundsCaveat: under sampling, the indicators' counts are lower
// bounds.
func lowerBoundsCaveat(r *Report) string {
	if len(r.Indicators) == 0 || r.Accounting.NotRecorded == 0 {
		return ""
	}
	return fmt.Sprintf("Indicators count recorded packets; %s of the packets seen were not recorded, so their figures are lower bounds.",
		pct(share(r.Accounting.NotRecorded, r.Accounting.Seen)))
}

func evidenceText(in Indicator, sep string) string {
	ev := make([]string, 0, len(in.Evidence))
	for _, f := range in.Evidence {
		ev = append(ev, f.Name+"="+strconv.FormatFloat(f.Value, 'f', -1, 64))
	}
	return strings.Join(ev, sep)
}

func paramSummary(p *dataset.Parameters) string {
	if p == nil {
		return "-"
	}
	per := "all"
	if p.PacketsPerSession > 0 {
		per = strconv.FormatUint(uint64(p.PacketsPerSession), 10)
	}
	s := fmt.Sprintf("%d×%s, buf %d, %s/%s/%s", p.Sessions, per, p.BufferPackets, p.SessionAcceptRestart, p.SessionPacketRestart, p.BufferRestart)
	if p.Bidirectional {
		s += ", bidir"
	}
	if p.Filter != "" {
		s += ", filter " + strconv.Quote(p.Filter)
	}
	return s
}

func thresholdsText(th Thresholds) string {
	return fmt.Sprintf("SYN flood ≥ %d handshakes to one destination, ≥ %g of them half-open; UDP flood ≥ %d packets/s; ICMP flood ≥ %d packets/s; "+
		"port scan ≥ %d ports; many-to-one ≥ %d sources; amplification ≥ %d bytes and ≥ %g× the request bytes; "+
		"connection flood ≥ %d connections; TCP reflection ≥ %d SYN-ACKs",
		th.SYNFloodSYNs, th.SYNFloodHalfOpen, th.UDPFloodPPS, th.ICMPFloodPPS, th.ScanPorts, th.ManySources, th.AmpBytes, th.AmpFactor,
		th.ConnFlood, th.ReflectSYNACKs)
}

// sparkline draws counts in at most width cells (▁ to █), summing
// neighbouring counts when there are more.
func sparkline(counts []uint64, width int) string {
	if len(counts) == 0 {
		return ""
	}
	cells := counts
	if len(counts) > width {
		cells = make([]uint64, width)
		for i, c := range counts {
			cells[i*width/len(counts)] += c
		}
	}
	var peak uint64
	for _, c := range cells {
		peak = max(peak, c)
	}
	bars := []rune("▁▂▃▄▅▆▇█")
	var b strings.Builder
	for _, c := range cells {
		switch {
		case c == 0:
			b.WriteRune(' ')
		default:
			b.WriteRune(bars[int((c*uint64(len(bars)-1)+peak-1)/peak)])
		}
	}
	return strings.TrimRight(b.String(), " ")
}

func endpoint(ip string, port int32, proto string) string {
	if proto != "tcp" && proto != "udp" {
		return ip
	}
	if strings.Contains(ip, ":") {
		return "[" + ip + "]:" + strconv.Itoa(int(port))
	}
	return ip + ":" + strconv.Itoa(int(port))
}

func u(n uint64) string { return strconv.FormatUint(n, 10) }

func pct(f float64) string { return strconv.FormatFloat(100*f, 'f', 1, 64) + " %" }

func seconds(s float64) string {
	switch {
	case s < 1:
		return fmt.Sprintf("%.3f s", s)
	case s < 120:
		return fmt.Sprintf("%.1f s", s)
	}
	return (time.Duration(s) * time.Second).String()
}

func bytesText(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	for _, s := range []string{"KiB", "MiB", "GiB", "TiB"} {
		f /= unit
		if f < unit {
			return fmt.Sprintf("%.1f %s", f, s)
		}
	}
	return fmt.Sprintf("%.1f PiB", f/unit)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
