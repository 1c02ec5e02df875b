package report

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestHTMLPage: the page carries what the terminal report does — the
// summary first, the shares of recorded and not recorded packets, the
// flows, the caveat that indicators are lower bounds — with times to the
// second or millisecond in UTC, and a layout that fits a narrow window
// (tables scroll inside their own box).
func TestHTMLPage(t *testing.T) {
	_, page := flowsPage(t)
	for _, want := range []string{
		`<h2>Summary</h2>`,
		`<li>recorded 283 of 323 packets seen (87.6 %); not recorded: not_ip 12, session_table_full 20, buffer_full 8</li>`,
		`<li>1 attack indicator fired: syn_flood 198.18.1.1</li>`,
		`<tr><td>recorded</td><td class="n">283</td><td class="n">87.6 %</td></tr>`,
		`<tr><td>not recorded</td><td class="n">40</td><td class="n">12.4 %</td></tr>`,
		`<li>278 flows carried 311 packets and 81.3 KiB: every packet seen in a flow, recorded or not (see Flows)</li>`,
		`<tr><td>all runs</td><td class="n">278</td><td class="n">311</td><td class="n">283</td>`,
		`<tr><td>198.18.0.2:40000 → 198.18.1.1:443</td><td>tcp</td><td class="n">7</td><td class="n">1.8 KiB</td><td class="n">0.006 s</td><td>active</td><td class="n">7</td></tr>`,
		`so their figures are lower bounds`,
		`2026-03-14 09:26:53 UTC`,
		`<meta name="viewport" content="width=device-width, initial-scale=1">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if i, j := strings.Index(page, "<h2>Summary</h2>"), strings.Index(page, "<h2>Runs</h2>"); i < 0 || i > j {
		t.Errorf("the summary does not come first")
	}
	if m := regexp.MustCompile(`\d\d:\d\d:\d\d\.\d{4,}|\+0000`).FindString(page); m != "" {
		t.Errorf("page prints a time as %q: want seconds or milliseconds, UTC", m)
	}
	// Every table sits in a box of its own that scrolls sideways.
	if n, boxed := strings.Count(page, "<table"), strings.Count(page, `<div class="scroll"><table`); n == 0 || n != boxed {
		t.Errorf("%d tables, %d of them in a scrolling box", n, boxed)
	}
	if !strings.Contains(page, ".scroll{overflow-x:auto") {
		t.Errorf("no scrolling box in the style sheet")
	}
}

// TestHTMLFitsWindow renders the page of a report with long names (a
// capture file deep in folders, IPv6 addresses, long evidence) in headless
// Chromium, when it is installed, and checks that nothing is wider than a
// 1280-pixel window (the page itself does not scroll sideways).
func TestHTMLFitsWindow(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed")
	}
	dir := t.TempDir()
	goldenFlowsDataset(t, dir)
	editManifest(t, dir, "20260314T100000Z-bbbbbb", func(m map[string]any) {
		m["pcap"] = "/srv/captures/customer-incident-2026-03-14/sensor-b/very/long/path/to/the/capture-file-as-given-on-the-command-line.pcapng"
	})
	r := build(t, dir)
	var b bytes.Buffer
	if err := WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	// The page has no script; this copy measures itself.
	probe := strings.Replace(b.String(), "</body>", `<script>document.title = "W=" + document.documentElement.scrollWidth;</script></body>`, 1)
	page := filepath.Join(t.TempDir(), "page.html")
	if err := os.WriteFile(page, []byte(probe), 0o644); err != nil {
		t.Fatal(err)
	}
	profile := t.TempDir()
	for _, width := range []int{1280, 800} {
		cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--user-data-dir="+profile,
			"--window-size="+strconv.Itoa(width)+",2000", "--dump-dom", "file://"+page)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil { // chromium cannot run here (no home, no /dev/shm ...): nothing measured
			t.Skipf("chromium: %v: %.300s", err, stderr.String())
		}
		m := regexp.MustCompile(`<title>W=(\d+)</title>`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("chromium gave no width: %.300s", out)
		}
		if got, _ := strconv.Atoi(string(m[1])); got > width {
			t.Errorf("at a window %d px wide the page is %d px wide", width, got)
		}
	}
}

// TestHTMLCharts: the page draws its charts as inline SVG in figures the
// browser test finds by id, fetches nothing, and keeps the text formats
// free of them.
func TestHTMLCharts(t *testing.T) {
	r, page := flowsPage(t)
	for _, id := range []string{"accounting", "traffic-packets-", "traffic-bytes-", "top-sources", "top-destinations", "top-ports",
		"tcp-flags", "syn-synack", "flow-durations", "flow-sizes"} {
		if !strings.Contains(page, `<figure class="chart" id="chart-`+id) {
			t.Errorf("no chart %s", id)
		}
	}
	// Nothing to fetch: the only URL is the SVG namespace.
	if m := regexp.MustCompile(`(src|href)=|https?://[^"]*`).FindAllString(page, -1); len(m) != strings.Count(page, `xmlns="http://www.w3.org/2000/svg"`) {
		t.Errorf("page refers to %v", m)
	}
	if !strings.Contains(page, `<table class="sortable">`) || !strings.Contains(page, `setAttribute("data-js", "ok")`) {
		t.Errorf("no sortable tables or no script")
	}
	var text bytes.Buffer
	if err := WriteText(&text, r, true); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text.String(), "<svg") || strings.Contains(text.String(), "chart-") {
		t.Errorf("Markdown carries a chart")
	}
}

// flowsPage is the report of the golden dataset with flows/, and its page.
func flowsPage(t *testing.T) (*Report, string) {
	t.Helper()
	dir := t.TempDir()
	goldenFlowsDataset(t, dir)
	r := build(t, dir)
	var b bytes.Buffer
	if err := WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	return r, b.String()
}
