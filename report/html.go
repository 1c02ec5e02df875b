package report

import (
	"fmt"
	"html/template"
	"io"
	"strings"
)

// WriteHTML writes the report as one self-contained page (no scripts, no
// external resources): the sections and sentences of the terminal report
// (layout), with each run's timeline drawn as an inline SVG. The page fits
// any window: it is at most 1 240 px wide, long names wrap, and a table
// wider than the window scrolls inside its own box.
func WriteHTML(w io.Writer, r *Report) error {
	d := layout(r)
	h := &htmlWriter{}
	h.raw(pageHead)
	h.raw("<h1>tacap report</h1>\n")
	h.tag("p", "", d.intro)
	for _, s := range d.sections {
		h.raw("\n")
		h.tag("h2", "", s.title)
		for _, b := range s.blocks {
			h.block(b)
		}
	}
	h.raw("<script>" + pageScript + "</script>\n</body></html>\n")
	_, err := io.WriteString(w, h.b.String())
	return err
}

const pageHead = `<!doctype html>
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
figure.chart{margin:.6em 0 1.4em}
figure.chart svg{max-width:720px}
figcaption{color:#555;font-size:.92em}
th[data-sort=asc]::after{content:" ▲"}
th[data-sort=desc]::after{content:" ▼"}
</style></head><body>
`

type htmlWriter struct{ b strings.Builder }

func (h *htmlWriter) raw(s string) { h.b.WriteString(s) }

// tag writes <name class="class">text</name> and a newline, text escaped.
func (h *htmlWriter) tag(name, class, text string) {
	h.b.WriteString("<" + name)
	if class != "" {
		h.b.WriteString(` class="` + class + `"`)
	}
	h.b.WriteString(">" + template.HTMLEscapeString(text) + "</" + name + ">\n")
}

func (h *htmlWriter) block(b block) {
	switch b := b.(type) {
	case para:
		class := ""
		switch {
		case b.warn:
			class = "warn"
		case b.note:
			class = "note"
		}
		h.tag("p", class, firstNonEmpty(b.html, b.text))
	case list:
		h.raw("<ul>")
		for _, item := range b {
			h.raw("<li>" + template.HTMLEscapeString(item) + "</li>")
		}
		h.raw("</ul>\n")
	case table:
		h.table(b)
	case spark:
		h.raw(string(timelineSVG(b)) + "\n")
	case chart:
		h.raw(`<figure class="chart" id="` + template.HTMLEscapeString(b.id) + `">` + string(b.svg) +
			"<figcaption>" + template.HTMLEscapeString(b.caption) + "</figcaption></figure>\n")
	case indicators:
		for _, in := range b {
			fmt.Fprintf(&h.b, `<div class="ind"><b>%s</b> <code>%s</code> (score %.2f)<br>%s<br>`+"\n"+`evidence: %s<br>rule: %s</div>`+"\n",
				template.HTMLEscapeString(in.Kind), template.HTMLEscapeString(in.Target), in.Score, template.HTMLEscapeString(in.Summary),
				template.HTMLEscapeString(evidenceText(in, ", ")), template.HTMLEscapeString(in.Threshold))
		}
	}
}

// table writes a grid in a box of its own that scrolls sideways; numbers
// align right, wide columns wrap, and a cell's leading spaces (an indented
// row) stay.
func (h *htmlWriter) table(t table) {
	h.raw(`<div class="scroll"><table class="sortable"><tr>`)
	for _, c := range t.Header {
		h.raw("<th>" + template.HTMLEscapeString(c) + "</th>")
	}
	h.raw("</tr>\n")
	for _, row := range t.Rows {
		h.raw("<tr>")
		for i, c := range row {
			class := ""
			switch {
			case i < len(t.Right) && t.Right[i]:
				class = ` class="n"`
			case i < len(t.wide) && t.wide[i]:
				class = ` class="w"`
			}
			if c == "-" && class == ` class="n"` {
				c = "–" // no figure: an en dash in a column of numbers
			}
			trimmed := strings.TrimLeft(c, " ")
			h.raw("<td" + class + ">" + strings.Repeat("&nbsp;", len(c)-len(trimmed)) + template.HTMLEscapeString(trimmed) + "</td>")
		}
		h.raw("</tr>\n")
	}
	h.raw("</table></div>\n")
}

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

// pageScript makes the tables sortable by a click on a header (numbers by
// value, the rest as text; again: the other way), and tells a browser test
// it ran: <body data-js="ok">, and any error or console.error in a
// <pre id="js-errors">. The page reads the same without it.
const pageScript = `(function () {
  var errs = [];
  function show() {
    var pre = document.getElementById("js-errors");
    if (!pre) { pre = document.createElement("pre"); pre.id = "js-errors"; document.body.appendChild(pre); }
    pre.textContent = errs.join("\n");
  }
  window.addEventListener("error", function (e) { errs.push(String(e.message)); show(); });
  var ce = console.error;
  console.error = function () { errs.push(Array.prototype.join.call(arguments, " ")); show(); ce.apply(console, arguments); };
  function key(td) {
    var t = td.textContent.trim(), m = t.match(/^-?[0-9.]+/);
    if (td.className === "n" && m) {
      var v = parseFloat(m[0]), u = t.slice(m[0].length).trim();
      var k = {"KiB": 1024, "MiB": 1048576, "GiB": 1073741824, "TiB": 1099511627776, "%": 1}[u.split(" ")[0]] || 1;
      return v * k;
    }
    return t.toLowerCase();
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    var heads = table.rows[0] ? table.rows[0].cells : [];
    Array.prototype.forEach.call(heads, function (th, col) {
      th.style.cursor = "pointer";
      th.title = "sort by this column";
      th.addEventListener("click", function () {
        var rows = Array.prototype.slice.call(table.rows, 1);
        var asc = th.getAttribute("data-sort") !== "asc";
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]);
          return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
        });
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("data-sort"); });
        th.setAttribute("data-sort", asc ? "asc" : "desc");
        rows.forEach(function (r) { table.tBodies[0].appendChild(r); });
      });
    });
  });
  document.body.setAttribute("data-js", "ok");
})();`
