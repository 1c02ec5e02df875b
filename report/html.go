package report

import (
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
)

// WriteHTML writes the report as one self-contained page (no scripts, no
// external resources): the same sections as the terminal report, with
// each run's timeline drawn as an inline SVG.
func WriteHTML(w io.Writer, r *Report) error {
	return pageTemplate.Execute(w, r)
}

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"u":      u,
	"pct":    pct,
	"bytes":  bytesText,
	"secs":   seconds,
	"params": paramSummary,
	"svg":    timelineSVG,
	"when": func(t any) string {
		if s := fmt.Sprint(t); s != "<nil>" {
			return strings.TrimSuffix(strings.Replace(s, " +0000 UTC", "", 1), " UTC")
		}
		return "-"
	},
	"ep":         endpoint,
	"num":        func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) },
	"thresholds": thresholdsText,
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tacap report</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.2em}
th,td{border:1px solid #ccc;padding:2px 8px;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f3f3f3}
.warn{background:#fff3cd;padding:.5em;border:1px solid #e0c36b}
.ind{border-left:4px solid #c0392b;padding:.2em .8em;margin:.6em 0}
code{background:#f3f3f3;padding:0 3px}
</style></head><body>
<h1>tacap report</h1>
<p>{{len .Runs}} run(s) under {{range $i, $d := .Inputs}}{{if $i}}, {{end}}<code>{{$d}}</code>{{end}}.</p>

<h2>Runs</h2>
<table><tr><th>run</th><th>host</th><th>input</th><th>start (UTC)</th><th>duration</th><th>stopped by</th><th>sampling</th><th>rows</th><th>tacap</th><th>kernel</th></tr>
{{range .Runs}}<tr><td>{{.RunID}}</td><td>{{.Host}}</td><td>{{if .Pcap}}pcap {{.Pcap}}{{else}}{{range $i, $f := .Interfaces}}{{if $i}},{{end}}{{$f}}{{end}}{{end}}{{if not .HasManifest}}(no manifest){{end}}</td>
<td>{{when .Start}}</td><td class="n">{{if .HasManifest}}{{secs .DurationSec}}{{end}}</td><td>{{.StopReason}}{{if and .HasManifest (not .Complete)}} (incomplete){{end}}</td><td>{{params .Parameters}}</td><td class="n">{{.RowsRead}}</td><td>{{.TacapVersion}}</td><td>{{.KernelRelease}}</td></tr>
{{end}}</table>

<h2>Accounting</h2>
{{with .Accounting}}{{if .Runs}}<table><tr><th>packets</th><th>count</th><th>share of seen</th></tr>
<tr><td>seen</td><td class="n">{{u .Seen}}</td><td class="n">100.0 %</td></tr>
<tr><td>recorded</td><td class="n">{{u .Recorded}}</td><td></td></tr>
<tr><td>not recorded</td><td class="n">{{u .NotRecorded}}</td><td></td></tr>
{{range .Reasons}}<tr><td>&nbsp;&nbsp;{{.Reason}}</td><td class="n">{{u .Packets}}</td><td class="n">{{pct .Share}}</td></tr>
{{end}}</table>{{else}}<p>No run has a manifest; {{.RowsRead}} rows were read.</p>{{end}}
{{if .BufferFullWarning}}<p class="warn">WARNING: {{.BufferFullWarning}}</p>{{end}}{{end}}

<h2>Traffic</h2>
{{with .Traffic}}<p>{{.Records}} records standing for {{.Packets}} packets and {{bytes .Bytes}} on the wire.</p>
<table><tr><th>protocol</th><th>records</th><th>packets</th><th>bytes</th><th>share</th></tr>
{{range .ByProtocol}}<tr><td>{{.Key}}</td><td class="n">{{u .Records}}</td><td class="n">{{u .Packets}}</td><td class="n">{{bytes .Bytes}}</td><td class="n">{{pct .Share}}</td></tr>
{{end}}</table>
<table><tr><th>direction</th><th>records</th><th>packets</th><th>bytes</th><th>share</th></tr>
{{range .ByDirection}}<tr><td>{{.Key}}</td><td class="n">{{u .Records}}</td><td class="n">{{u .Packets}}</td><td class="n">{{bytes .Bytes}}</td><td class="n">{{pct .Share}}</td></tr>
{{end}}</table>{{end}}

{{with .Top}}<h2>Top {{.N}} sessions</h2>
<table><tr><th>source</th><th>destination</th><th>proto</th><th>packets seen</th><th>recorded</th><th>bytes seen</th><th>duration</th><th>packets/s</th><th>quota-limited</th></tr>
{{range .Sessions}}<tr><td>{{ep .SrcIP .SrcPort .Protocol}}</td><td>{{ep .DstIP .DstPort .Protocol}}</td><td>{{.Protocol}}</td><td class="n">{{.PacketsSeen}}</td><td class="n">{{.PacketsRecorded}}</td><td class="n">{{.BytesSeen}}</td><td class="n">{{secs .DurationSec}}</td><td class="n">{{num .RatePPS}}</td><td>{{if .QuotaLimited}}yes{{else}}no{{end}}</td></tr>
{{end}}</table>
<h2>Top {{.N}} sources</h2>
<table><tr><th>address</th><th>records</th><th>bytes</th><th>share</th><th>destinations</th></tr>
{{range .Sources}}<tr><td>{{.IP}}</td><td class="n">{{u .Records}}</td><td class="n">{{bytes .Bytes}}</td><td class="n">{{pct .Share}}</td><td class="n">{{u .Peers}}</td></tr>
{{end}}</table>
<h2>Top {{.N}} destinations</h2>
<table><tr><th>address</th><th>records</th><th>bytes</th><th>share</th><th>sources</th></tr>
{{range .Destinations}}<tr><td>{{.IP}}</td><td class="n">{{u .Records}}</td><td class="n">{{bytes .Bytes}}</td><td class="n">{{pct .Share}}</td><td class="n">{{u .Peers}}</td></tr>
{{end}}</table>
<h2>Top {{.N}} destination ports</h2>
<table><tr><th>port</th><th>records</th><th>bytes</th><th>share</th></tr>
{{range .DstPorts}}<tr><td>{{.Protocol}}/{{.Port}}</td><td class="n">{{u .Records}}</td><td class="n">{{bytes .Bytes}}</td><td class="n">{{pct .Share}}</td></tr>
{{end}}</table>{{end}}

<h2>TCP</h2>
{{with .TCP}}<p>{{.Records}} TCP records: {{.SYN}} SYN, {{.SYNACK}} SYN-ACK, {{.RST}} RST, {{.FIN}} FIN. {{.Handshakes}} handshakes started, {{.Completed}} completed: half-open ratio {{pct .HalfOpenRatio}}.</p>
<table><tr><th>destination</th><th>SYN in</th><th>SYN-ACK out</th><th>RST out</th><th>handshakes</th><th>completed</th><th>half-open</th></tr>
{{range .PerDestination}}<tr><td>{{.IP}}</td><td class="n">{{u .SYN}}</td><td class="n">{{u .SYNACK}}</td><td class="n">{{u .RST}}</td><td class="n">{{u .Handshakes}}</td><td class="n">{{u .Completed}}</td><td class="n">{{pct .HalfOpenRatio}}</td></tr>
{{end}}</table>{{end}}

<h2>Timeline</h2>
{{range .Runs}}<p>{{.RunID}}: {{len .Timeline.Records}} buckets of {{.Timeline.BucketSeconds}} s from {{when .Timeline.Start}}</p>{{svg .Timeline.Records}}
{{end}}

<h2>Attack indicators</h2>
{{if not .Indicators}}<p>None fired. Thresholds: {{thresholds .Thresholds}}.</p>{{end}}
{{range .Indicators}}<div class="ind"><b>{{.Kind}}</b> <code>{{.Target}}</code> (score {{num .Score}})<br>{{.Summary}}<br>
evidence: {{range $i, $f := .Evidence}}{{if $i}}, {{end}}{{$f.Name}}={{num $f.Value}}{{end}}<br>rule: {{.Threshold}}</div>
{{end}}
{{if .Warnings}}<h2>Warnings</h2><ul>{{range .Warnings}}<li>{{.}}</li>{{end}}</ul>{{end}}
{{if .Problems}}<h2>Problems</h2><ul>{{range .Problems}}<li>{{.Path}}: {{.Reason}}</li>{{end}}</ul>{{end}}
</body></html>
`))

// timelineSVG draws counts as a bar chart 600×80 pixels.
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
	fmt.Fprintf(&b, `<svg width="%d" height="%d" viewBox="0 0 %d %d" role="img"><title>records per bucket, peak %d</title>`, int(w), int(h), int(w), int(h), peak)
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
