package report

import (
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
)

// WriteHTML writes the report as one self-contained page (no scripts, no
// external resources): the same sections and sentences as the terminal
// report, with each run's timeline drawn as an inline SVG. The page fits
// any window: it is at most 1 240 px wide, long names wrap, and a table
// wider than the window scrolls inside its own box.
func WriteHTML(w io.Writer, r *Report) error {
	return pageTemplate.Execute(w, r)
}

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"u":          u,
	"pct":        pct,
	"pctOf":      func(n, of uint64) string { return pct(share(n, of)) },
	"bytes":      bytesText,
	"ibytes":     func(n int64) string { return bytesText(uint64(max(n, 0))) },
	"secs":       seconds,
	"params":     paramSummary,
	"svg":        timelineSVG,
	"ep":         endpoint,
	"score":      func(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) },
	"thresholds": thresholdsText,
	"intro":      introText,
	"summary":    summaryLines,
	"cells":      func(run Run) runCells { return runCellsOf(&run) },
	"fileNote":   func(run Run) string { return fileTimeNote(&run) },
	"legend":     func() string { return samplingLegend },
	"noCounters": noCountersText,
	"accNotes":   accountingNotes,
	"rate":       func(rate *float64) string { return rateText(rate, "–") },
	"rateLegend": func() string { return strings.Replace(rateLegend, "- for", "– for", 1) },
	"fromPackets": func(ss []Session) string {
		if fromPackets(ss) {
			return fromPacketsNote
		}
		return ""
	},
	"flowsText":    flowsText,
	"flowsGrid":    flowsGrid,
	"topFlowsGrid": topFlowsGrid,
	"noFlowsNote":  noFlowsNote,
	"flowsLegend":  func() string { return flowsLegend },
	"timeline":     func(run Run) string { return timelineText(&run) },
	"omitted":      omittedText,
	"caveat":       lowerBoundsCaveat,
	"evidence":     func(in Indicator) string { return evidenceText(in, ", ") },
	"labelsText":   labelsText,
	"rulesFiles":   rulesFileLines,
	"labelsGrid":   labelsGrid,
	"ruleHitsGrid": ruleHitsGrid,
	"unlisted":     unlistedRulesNote,
	"labelFlows":   labelFlowsText,
	"evLines":      evidenceLines,
	"evIntro":      func() string { return evidenceIntro },
	"labelsLegend": func() string { return labelsLegend },
}).Parse(`{{define "grid"}}<div class="scroll"><table><tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range $i, $c := .}}<td{{if index $.Right $i}} class="n"{{end}}>{{$c}}</td>{{end}}</tr>
{{end}}</table></div>{{end}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>tacap report</title>
<style>
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;padding:1em 1.5em;max-width:1240px;color:#222}
h2{margin:1.4em 0 .4em;border-bottom:1px solid #ddd}
p,li,.ind{overflow-wrap:anywhere}
.scroll{overflow-x:auto;max-width:100%;margin:.4em 0 1.2em}
table{border-collapse:collapse}
th,td{border:1px solid #ccc;padding:2px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3;white-space:nowrap}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.w{overflow-wrap:anywhere;min-width:14em}
.note{color:#555;font-size:.92em}
.warn{background:#fff3cd;padding:.5em;border:1px solid #e0c36b}
.ind{border-left:4px solid #c0392b;padding:.2em .8em;margin:.6em 0}
svg{display:block;width:100%;max-width:600px;height:auto;margin:.2em 0 1em}
code{background:#f3f3f3;padding:0 3px}
</style></head><body>
<h1>tacap report</h1>
<p>{{intro .}}</p>

<h2>Summary</h2>
<ul>{{range summary .}}<li>{{.}}</li>{{end}}</ul>

<h2>Runs</h2>
<div class="scroll"><table><tr><th>run</th><th>host</th><th>input</th><th>start (UTC)</th><th>duration</th><th>stopped by</th><th>sampling</th><th>rows</th><th>tacap</th><th>kernel</th></tr>
{{range .Runs}}{{$c := cells .}}<tr><td>{{.RunID}}</td><td>{{.Host}}</td><td class="w">{{$c.Input}}</td><td>{{$c.Start}}</td><td class="n">{{$c.Duration}}</td><td>{{$c.Stop}}</td><td>{{params .Parameters}}</td><td class="n">{{.RowsRead}}</td><td>{{or .TacapVersion "-"}}</td><td>{{or .KernelRelease "-"}}</td></tr>
{{end}}</table></div>
<p class="note">{{legend}}</p>
{{range .Runs}}{{with fileNote .}}<p class="note">{{.}}</p>
{{end}}{{end}}
<h2>Accounting</h2>
{{if .Accounting.Runs}}{{with .Accounting}}<div class="scroll"><table><tr><th>packets</th><th>count</th><th>share of seen</th></tr>
<tr><td>seen</td><td class="n">{{u .Seen}}</td><td class="n">100.0 %</td></tr>
<tr><td>recorded</td><td class="n">{{u .Recorded}}</td><td class="n">{{pctOf .Recorded .Seen}}</td></tr>
<tr><td>not recorded</td><td class="n">{{u .NotRecorded}}</td><td class="n">{{pctOf .NotRecorded .Seen}}</td></tr>
{{range .Reasons}}<tr><td>&nbsp;&nbsp;{{.Reason}}</td><td class="n">{{u .Packets}}</td><td class="n">{{pct .Share}}</td></tr>
{{end}}</table></div>{{end}}
{{range accNotes .}}<p>{{.}}</p>{{end}}{{else}}<p>{{noCounters .Accounting}}</p>{{end}}
{{with .Accounting.BufferFullWarning}}<p class="warn">WARNING: {{.}}</p>{{end}}

<h2>Traffic</h2>
{{with .Traffic}}<p>{{.Records}} records standing for {{.Packets}} packets and {{bytes .Bytes}} on the wire.</p>
{{if .Records}}<div class="scroll"><table><tr><th>protocol</th><th>records</th><th>packets</th><th>bytes</th><th>share</th></tr>
{{range .ByProtocol}}<tr><td>{{.Key}}</td><td class="n">{{u .Records}}</td><td class="n">{{u .Packets}}</td><td class="n">{{bytes .Bytes}}</td><td class="n">{{pct .Share}}</td></tr>
{{end}}</table></div>
<div class="scroll"><table><tr><th>direction</th><th>records</th><th>packets</th><th>bytes</th><th>share</th></tr>
{{range .ByDirection}}<tr><td>{{.Key}}</td><td class="n">{{u .Records}}</td><td class="n">{{u .Packets}}</td><td class="n">{{bytes .Bytes}}</td><td class="n">{{pct .Share}}</td></tr>
{{end}}</table></div>{{end}}{{end}}

<h2>Flows</h2>
<p>{{flowsText .}}</p>
{{if .Flows.Runs}}{{template "grid" flowsGrid .}}
{{with noFlowsNote .}}<p class="note">{{.}}</p>
{{end}}<p class="note">{{flowsLegend}}</p>
<h2>Top {{.Top.N}} flows</h2>
{{if .Top.Flows}}{{template "grid" topFlowsGrid .Top.Flows}}{{else}}<p>No flows.</p>{{end}}
{{end}}
{{with .Top}}<h2>Top {{.N}} sessions</h2>
{{if .Sessions}}<div class="scroll"><table><tr><th>source</th><th>destination</th><th>proto</th><th>packets seen</th><th>recorded</th><th>bytes seen</th><th>duration</th><th>rate</th><th>quota-limited</th></tr>
{{range .Sessions}}<tr><td>{{ep .SrcIP .SrcPort .Protocol}}</td><td>{{ep .DstIP .DstPort .Protocol}}</td><td>{{.Protocol}}</td><td class="n">{{.PacketsSeen}}</td><td class="n">{{.PacketsRecorded}}</td><td class="n">{{ibytes .BytesSeen}}</td><td class="n">{{secs .DurationSec}}</td><td class="n">{{rate .RatePPS}}</td><td>{{if .QuotaLimited}}yes{{else}}no{{end}}</td></tr>
{{end}}</table></div>
<p class="note">{{rateLegend}}</p>
{{with fromPackets .Sessions}}<p class="note">{{.}}</p>{{end}}{{else}}<p>No sessions.</p>{{end}}
<h2>Top {{.N}} sources</h2>
{{if .Sources}}<div class="scroll"><table><tr><th>address</th><th>records</th><th>bytes</th><th>share</th><th>destinations</th></tr>
{{range .Sources}}<tr><td>{{.IP}}</td><td class="n">{{u .Records}}</td><td class="n">{{bytes .Bytes}}</td><td class="n">{{pct .Share}}</td><td class="n">{{u .Peers}}</td></tr>
{{end}}</table></div>{{else}}<p>None.</p>{{end}}
<h2>Top {{.N}} destinations</h2>
{{if .Destinations}}<div class="scroll"><table><tr><th>address</th><th>records</th><th>bytes</th><th>share</th><th>sources</th></tr>
{{range .Destinations}}<tr><td>{{.IP}}</td><td class="n">{{u .Records}}</td><td class="n">{{bytes .Bytes}}</td><td class="n">{{pct .Share}}</td><td class="n">{{u .Peers}}</td></tr>
{{end}}</table></div>{{else}}<p>None.</p>{{end}}
<h2>Top {{.N}} destination ports</h2>
{{if .DstPorts}}<div class="scroll"><table><tr><th>port</th><th>records</th><th>bytes</th><th>share</th></tr>
{{range .DstPorts}}<tr><td>{{.Protocol}}/{{.Port}}</td><td class="n">{{u .Records}}</td><td class="n">{{bytes .Bytes}}</td><td class="n">{{pct .Share}}</td></tr>
{{end}}</table></div>{{else}}<p>No TCP or UDP packets.</p>{{end}}{{end}}

<h2>TCP</h2>
{{with .TCP}}<p>{{.Records}} TCP records: {{.SYN}} SYN, {{.SYNACK}} SYN-ACK, {{.RST}} RST, {{.FIN}} FIN. {{.Handshakes}} handshakes started (SYN recorded), {{.Completed}} completed (the client's ACK recorded): half-open ratio {{pct .HalfOpenRatio}}.</p>
{{if .PerDestination}}<div class="scroll"><table><tr><th>destination</th><th>SYN in</th><th>SYN-ACK out</th><th>RST out</th><th>handshakes</th><th>completed</th><th>half-open</th></tr>
{{range .PerDestination}}<tr><td>{{.IP}}</td><td class="n">{{u .SYN}}</td><td class="n">{{u .SYNACK}}</td><td class="n">{{u .RST}}</td><td class="n">{{u .Handshakes}}</td><td class="n">{{u .Completed}}</td><td class="n">{{pct .HalfOpenRatio}}</td></tr>
{{end}}</table></div>{{end}}{{end}}

<h2>Timeline</h2>
{{range .Runs}}{{if .Timeline.Records}}<p>{{timeline .}}:</p>{{svg .Timeline.Records}}{{else}}<p>{{.RunID}}: no packets.</p>{{end}}
{{end}}
<h2>Attack indicators</h2>
{{if not .Indicators}}<p>None fired. Thresholds: {{thresholds .Thresholds}}.</p>{{end}}
{{range .Indicators}}<div class="ind"><b>{{.Kind}}</b> <code>{{.Target}}</code> (score {{score .Score}})<br>{{.Summary}}<br>
evidence: {{evidence .}}<br>rule: {{.Threshold}}</div>
{{end}}{{with omitted .}}<p>{{.}}</p>
{{end}}{{with caveat .}}<p class="note">{{.}}</p>
{{end}}
<h2>Labels</h2>
<p>{{labelsText .}}</p>
{{if .Labels.RunsWithLabels}}{{range rulesFiles .Labels}}<p>{{.}}</p>
{{end}}{{template "grid" labelsGrid .}}
{{if .Labels.RuleHits}}{{template "grid" ruleHitsGrid .Labels}}
{{end}}{{with unlisted .Labels}}<p class="note">{{.}}</p>
{{end}}{{with labelFlows .}}<p>{{.}}</p>
{{end}}{{with evLines .Labels}}<p>{{evIntro}}</p>
<ul>{{range .}}<li>{{.}}</li>{{end}}</ul>
{{end}}{{range .Labels.Warnings}}<p class="warn">WARNING: {{.}}</p>
{{end}}<p class="note">{{labelsLegend}}</p>
{{end}}
{{if .Warnings}}<h2>Warnings</h2><ul>{{range .Warnings}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{if .Problems}}<h2>Problems</h2><ul>{{range .Problems}}<li>{{.}}</li>{{end}}</ul>{{end}}
</body></html>
`))

// timelineSVG draws counts as a bar chart 600×80 (scaled to the width
// available, at most 600 pixels).
func timelineSVG(counts []uint64) template.HTML {
	if len(counts) == 0 {
		return ""
	}
	var peak uint64
	for _, c := range counts {
		peak = max(peak, c)
	}
	if peak == 0 {
		return ""
	}
	const w, h = 600.0, 80.0
	bw := w / float64(len(counts))
	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="%d" height="%d" viewBox="0 0 %d %d" preserveAspectRatio="none" role="img"><title>records per bucket, peak %d</title>`, int(w), int(h), int(w), int(h), peak)
	for i, c := range counts {
		if c == 0 {
			continue
		}
		bh := h * float64(c) / float64(peak)
		fmt.Fprintf(&b, `<rect x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="#2c7fb8"/>`, float64(i)*bw, h-bh, max(bw, 0.5), bh)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
