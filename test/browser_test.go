package test

// The HTML report opened in a real browser: headless Chromium loads the page
// from disk, runs its script, and the test reads the DOM as it stands
// afterwards (--dump-dom), the browser's network log (--log-net-log) and a
// screenshot. The page must draw its charts, sort its tables and report its
// own script errors without fetching anything: it is one self-contained
// file, opened where there may be no network at all.
//
// The page contract checked here:
//   - each chart is <figure class="chart" id="chart-NAME"> holding one
//     <svg class="chart-svg">, whose data marks have class "mark";
//   - the script ends by setting <body data-js="ok">, and writes every
//     JavaScript error and console.error into <pre id="js-errors">;
//   - tables the reader can sort are <table class="sortable">.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/tacap/tacap/test/testenv"
)

// chromiumPath is Debian's chromium launcher (make test installs it).
const chromiumPath = "/usr/bin/chromium"

// browserTimeout bounds one browser run; the process group is killed after it.
const browserTimeout = 60 * time.Second

// browserFlags keep the browser off the network and away from any state
// but the fresh profile each run gets (--user-data-dir). --host-resolver-rules
// makes every host name unresolvable, so even the browser's own background
// requests (which it makes despite --disable-background-networking: the
// network time, the sign-in reconciler, the component updater) never leave
// the machine.
var browserFlags = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
	"--host-resolver-rules=MAP * ~NOTFOUND",
	"--virtual-time-budget=2000", // let the page's script and timers run before the DOM is dumped
	"--window-size=1280,4000",
	"--enable-logging=stderr", // console messages and uncaught errors, as "CONSOLE" lines
	"--net-log-capture-mode=Default",
}

// synFloodCharts are the charts the SYN-flood capture must fill: every one
// has data there.
var synFloodCharts = []string{
	"chart-traffic-packets", "chart-traffic-bytes", "chart-accounting",
	"chart-top-sources", "chart-top-destinations", "chart-top-ports",
	"chart-tcp-flags", "chart-syn-synack", "chart-flow-durations", "chart-flow-sizes",
}

// craftedCharts are the charts any dataset with recorded packets fills; the
// crafted one is too small to promise more.
var craftedCharts = []string{"chart-traffic-packets", "chart-traffic-bytes", "chart-accounting"}

// TestHTMLReportInBrowser writes the HTML report of a crafted dataset and of
// the shared SYN-flood capture, opens each page in headless Chromium, and
// checks the page contract on the DOM after the script ran, that the page
// made no network request, and that the screenshot shows something. A
// control page first proves the network-log and console checks can fail.
func TestHTMLReportInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		testenv.Unavailable(t, chromiumPath+" is not installed (make test installs the chromium package)")
	}
	t.Run("control: the checks see a request and an error", testBrowserControl)
	for _, tc := range []struct {
		name   string
		build  func(t *testing.T, ds string)
		charts []string
	}{
		{"crafted", buildCraftedDataset, craftedCharts},
		{"syn-flood", buildSynFloodDataset, synFloodCharts},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testenv.Privileged(t) // tacap capture loads its BPF program even for files
			dir := t.TempDir()
			ds, page := filepath.Join(dir, "ds"), filepath.Join(dir, "report.html")
			tc.build(t, ds)
			writeHTMLReport(t, page, ds)
			run := openInBrowser(t, page, tc.name)
			checkNoPageRequests(t, run)
			checkConsole(t, run)
			checkScreenshot(t, run.screenshot)
			checkPage(t, run.dom, tc.charts)
		})
	}
}

// buildCraftedDataset captures the multi-file test's crafted files: a TCP
// connection split over two files, UDP over IPv4 and IPv6, a short frame and
// frames of a link type tacap does not read. It needs no shared capture.
func buildCraftedDataset(t *testing.T, ds string) {
	t.Helper()
	in := t.TempDir()
	mfWrite(t, in, mfFiles())
	mfMustRun(t, nil, "-o", ds, "--pcap", in)
}

// buildSynFloodDataset captures the shared SYN flood with no per-session
// packet quota.
func buildSynFloodDataset(t *testing.T, ds string) {
	t.Helper()
	shared := testenv.SharedDir(t)
	mfMustRun(t, nil, "-o", ds, "--pcap", filepath.Join(shared, "pcaps", "attack", "CIC-DDoS-2019-SynFlood.pcap"))
}

// writeHTMLReport runs tacap report --html page ds.
func writeHTMLReport(t *testing.T, page, ds string) {
	t.Helper()
	tacap, _ := binaries(t)
	if out, err := exec.Command(tacap, "report", "--html", page, ds).CombinedOutput(); err != nil {
		t.Fatalf("tacap report --html %s %s: %v\n%s", page, ds, err, out)
	}
}

// browserRun is what one Chromium run over a page left behind.
type browserRun struct {
	page       string
	dom        string // document.documentElement after the script ran, serialized
	stderr     string
	netLog     string // path of the JSON network log
	screenshot string // path of the PNG
}

// openInBrowser loads page in headless Chromium once, with a fresh profile,
// and keeps its DOM, network log, console and screenshot. The screenshot
// goes to $TACAP_ARTIFACTS (created) when set, else to the test's temporary
// folder.
func openInBrowser(t *testing.T, page, name string) browserRun {
	t.Helper()
	dir := t.TempDir()
	abs, err := filepath.Abs(page)
	if err != nil {
		t.Fatal(err)
	}
	run := browserRun{page: abs, netLog: filepath.Join(dir, "netlog.json"), screenshot: artifactPath(t, "browser-"+name+".png")}
	args := append(slices.Clone(browserFlags),
		"--user-data-dir="+filepath.Join(dir, "profile"),
		"--log-net-log="+run.netLog,
		"--screenshot="+run.screenshot,
		"--dump-dom",
		(&url.URL{Scheme: "file", Path: abs}).String())
	var stdout, stderr bytes.Buffer
	err = runBounded(chromiumPath, args, &stdout, &stderr)
	run.dom, run.stderr = stdout.String(), stderr.String()
	if err != nil {
		t.Fatalf("chromium on %s: %v\nstderr (D-Bus noise removed):\n%s", abs, err, chromiumNoise(run.stderr))
	}
	if !strings.Contains(run.dom, "<html") {
		t.Fatalf("chromium printed no DOM for %s (--dump-dom wrote %d bytes)\nstderr:\n%s", abs, len(run.dom), chromiumNoise(run.stderr))
	}
	t.Logf("screenshot of %s: %s", name, run.screenshot)
	return run
}

// runBounded runs the browser in its own process group and waits at most
// browserTimeout; past it, that group (the browser and the renderer, GPU and
// utility processes it started, nothing else) is killed by its id.
func runBounded(name string, args []string, stdout, stderr *bytes.Buffer) error {
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second // a helper process left holding stdout must not hang the test
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // helpers still alive after the browser exited
	}
	if ctx.Err() != nil {
		return fmt.Errorf("did not finish within %v and was killed: %v", browserTimeout, err)
	}
	return err
}

// artifactPath is where a file worth keeping after the test goes.
func artifactPath(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("TACAP_ARTIFACTS")
	if dir == "" {
		return filepath.Join(t.TempDir(), name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("TACAP_ARTIFACTS=%s: %v", dir, err)
	}
	return filepath.Join(dir, name)
}

// chromiumNoise drops the D-Bus complaints of a container without a bus.
func chromiumNoise(stderr string) string {
	var keep []string
	for _, l := range strings.Split(stderr, "\n") {
		if !strings.Contains(l, "dbus") && !strings.Contains(l, "D-Bus") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// controlPage requests two network resources and throws: the checks must
// see all three.
const controlPage = `<!doctype html><html><head><meta charset="utf-8"><title>control</title></head><body>
<img src="http://img.control.invalid/pixel.png">
<script>fetch("https://fetch.control.invalid/data.json").catch(() => {}); document.body.dataset.js = "ok";</script>
<script>throw new Error("control error");</script>
</body></html>`

// testBrowserControl opens controlPage: the network-log reader must find
// its two requests (attributed to the page, not to the browser), the
// console reader its uncaught error, and the screenshot check must call a
// blank image blank. Without it, a Chromium that renamed its
// log fields would let the report checks pass by seeing nothing.
func testBrowserControl(t *testing.T) {
	page := filepath.Join(t.TempDir(), "control.html")
	if err := os.WriteFile(page, []byte(controlPage), 0o600); err != nil {
		t.Fatal(err)
	}
	run := openInBrowser(t, page, "control")
	pageReqs, _, err := readNetLog(run.netLog)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"http://img.control.invalid/pixel.png", "https://fetch.control.invalid/data.json"} {
		if !slices.Contains(pageReqs, want) {
			t.Errorf("the network log of %s does not show the page's request to %s (page requests found: %q): the netlog check cannot be trusted with this Chromium — see readNetLog", run.netLog, want, pageReqs)
		}
	}
	if share := offBackground(image.NewGray(image.Rect(0, 0, 64, 64))); share != 0 {
		t.Errorf("offBackground finds %.2f of a blank image off its background, want 0", share)
	}
	if errs := uncaughtErrors(run.stderr); !slices.ContainsFunc(errs, func(s string) bool { return strings.Contains(s, "control error") }) {
		t.Errorf("chromium's stderr does not show the control page's uncaught error (uncaught errors found: %q): the console check cannot be trusted with this Chromium — see uncaughtErrors", errs)
	}
}

// checkNoPageRequests fails for every request the page made to anything but
// a local URL. The browser's own background requests are logged only.
func checkNoPageRequests(t *testing.T, run browserRun) {
	t.Helper()
	pageReqs, browserReqs, err := readNetLog(run.netLog)
	if err != nil {
		t.Fatal(err)
	}
	if len(browserReqs) > 0 {
		var short []string
		for _, r := range browserReqs {
			if u, err := url.Parse(r); err == nil {
				r = u.Scheme + "://" + u.Host + u.Path
			}
			short = append(short, r)
		}
		t.Logf("the browser's own requests, not the page's (none left the machine: no host name resolves): %s", strings.Join(short, ", "))
	}
	if len(pageReqs) > 0 {
		t.Errorf("the page %s made %d network request(s); it must be self-contained (inline every style, script, font and image):\n  %s",
			run.page, len(pageReqs), strings.Join(pageReqs, "\n  "))
	}
}

// netLog is the part of Chromium's JSON network log the check reads: event
// and source types are numbers, named in constants.
type netLog struct {
	Constants struct {
		EventTypes  map[string]int `json:"logEventTypes"`
		SourceTypes map[string]int `json:"logSourceType"`
	} `json:"constants"`
	Events []struct {
		Type   int `json:"type"`
		Source struct {
			ID   int64 `json:"id"`
			Type int   `json:"type"`
		} `json:"source"`
		Params map[string]json.RawMessage `json:"params"`
	} `json:"events"`
}

// localSchemes never touch the network.
var localSchemes = []string{"file", "data", "about", "chrome"}

// browserInitiator is the initiator of a request no page made (the
// browser's own); a page's requests carry its origin ("null" for file://).
const browserInitiator = "not an origin"

// readNetLog returns the non-local URLs in the network log at path, split
// into those a page asked for and those the browser made on its own: a URL
// is the browser's only when a URL_REQUEST whose URL_REQUEST_START_JOB
// initiator is "not an origin" carries it; any other URL, in any event, is
// counted against the page. It fails on a missing, empty or unreadable log,
// or one without the event types it relies on, so that it never passes by
// reading nothing.
func readNetLog(path string) (page, browser []string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("chromium wrote no network log (--log-net-log): %v", err)
	}
	var nl netLog
	if err := json.Unmarshal(b, &nl); err != nil {
		return nil, nil, fmt.Errorf("network log %s (%d bytes) is not valid JSON — was chromium killed before it closed the log? %v", path, len(b), err)
	}
	start, okStart := nl.Constants.EventTypes["URL_REQUEST_START_JOB"]
	urlRequest, okSource := nl.Constants.SourceTypes["URL_REQUEST"]
	if !okStart || !okSource || len(nl.Events) == 0 {
		return nil, nil, fmt.Errorf("network log %s has %d events and no URL_REQUEST_START_JOB event type or URL_REQUEST source type: its format changed, update readNetLog", path, len(nl.Events))
	}
	urls := map[string]bool{}     // every non-local URL, in any event
	browsers := map[string]bool{} // those a browser-initiated URL_REQUEST carries
	initiator := map[int64]string{}
	for _, e := range nl.Events {
		if e.Type == start && e.Source.Type == urlRequest {
			if s := jsonString(e.Params["initiator"]); s != "" {
				initiator[e.Source.ID] = s
			}
		}
	}
	for _, e := range nl.Events {
		u := jsonString(e.Params["url"])
		if u == "" || isLocalURL(u) {
			continue
		}
		urls[u] = true
		if e.Source.Type == urlRequest && initiator[e.Source.ID] == browserInitiator {
			browsers[u] = true
		}
	}
	for u := range urls {
		if browsers[u] {
			browser = append(browser, u)
		} else {
			page = append(page, u)
		}
	}
	slices.Sort(page)
	slices.Sort(browser)
	return page, browser, nil
}

func jsonString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// isLocalURL: a URL that cannot be parsed counts as remote.
func isLocalURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && slices.Contains(localSchemes, strings.ToLower(u.Scheme))
}

// consoleLine is how chromium --enable-logging=stderr prints a console
// message or an uncaught error: [pid:tid:time:INFO:CONSOLE:line] "text",
// source: url (line). Older versions wrote CONSOLE(line).
var consoleLine = regexp.MustCompile(`:CONSOLE(?::\d+|\(\d+\))\] "(.*)", source: (.*)$`)

// consoleMessages are the page's console output, in order.
func consoleMessages(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if m := consoleLine.FindStringSubmatch(l); m != nil {
			out = append(out, m[1]+" ("+m[2]+")")
		}
	}
	return out
}

// uncaughtErrors are the exceptions and rejections no script caught.
// Chromium prints console.error like console.log (no level): those the page
// itself must report in #js-errors.
func uncaughtErrors(stderr string) []string {
	var out []string
	for _, m := range consoleMessages(stderr) {
		if strings.HasPrefix(m, "Uncaught") {
			out = append(out, m)
		}
	}
	return out
}

// checkConsole logs the page's console and fails on an uncaught error,
// whether or not the page's own handler saw it.
func checkConsole(t *testing.T, run browserRun) {
	t.Helper()
	for _, m := range consoleMessages(run.stderr) {
		t.Logf("console: %s", m)
	}
	if errs := uncaughtErrors(run.stderr); len(errs) > 0 {
		t.Errorf("the page's script threw %d uncaught error(s):\n  %s", len(errs), strings.Join(errs, "\n  "))
	}
}

// checkScreenshot fails unless path is a PNG with more than one colour.
func checkScreenshot(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("chromium wrote no screenshot (--screenshot): %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s is not a PNG: %v", path, err)
	}
	if share := offBackground(img); share == 0 {
		t.Errorf("screenshot %s (%v) is one flat colour: the page rendered nothing", path, img.Bounds().Size())
	} else {
		t.Logf("screenshot %v, %.1f %% of its sampled pixels differ from the top-left one", img.Bounds().Size(), 100*share)
	}
}

// offBackground is the share of pixels, sampled every 4th in each
// direction, whose colour differs from the top-left pixel's.
func offBackground(img image.Image) float64 {
	r := img.Bounds()
	bg := fmt.Sprint(img.At(r.Min.X, r.Min.Y))
	var n, off int
	for y := r.Min.Y; y < r.Max.Y; y += 4 {
		for x := r.Min.X; x < r.Max.X; x += 4 {
			n++
			if fmt.Sprint(img.At(x, y)) != bg {
				off++
			}
		}
	}
	if n == 0 {
		return 0
	}
	return float64(off) / float64(n)
}

// checkPage checks the page contract on the DOM after the script ran, and
// that each chart of want is there and holds data marks.
func checkPage(t *testing.T, dom string, want []string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(dom))
	if err != nil {
		t.Fatalf("the dumped DOM does not parse: %v", err)
	}
	for _, problem := range slices.Concat(scriptProblems(doc), tableProblems(doc), chartProblems(doc, want)) {
		t.Error(problem)
	}
}

// scriptProblems: the script ran to its end and reported no error.
func scriptProblems(doc *html.Node) []string {
	var out []string
	body := domFirst(doc, func(n *html.Node) bool { return domIsElement(n, "body") })
	if body == nil {
		return []string{"the DOM has no <body>"}
	}
	if js, ok := domAttr(body, "data-js"); !ok {
		out = append(out, `<body> has no data-js attribute: the page's script must set <body data-js="ok"> when it has run (it did not run, or stopped before its end)`)
	} else if js != "ok" {
		out = append(out, fmt.Sprintf(`<body data-js=%q>, want data-js="ok": the page's script did not finish`, js))
	}
	pre := domFirst(doc, func(n *html.Node) bool {
		id, _ := domAttr(n, "id")
		return n.Type == html.ElementNode && id == "js-errors"
	})
	if pre != nil && strings.TrimSpace(domText(pre)) != "" {
		out = append(out, fmt.Sprintf("<%s id=\"js-errors\"> reports JavaScript errors:\n%s", pre.Data, strings.TrimSpace(domText(pre))))
	}
	return out
}

// tableProblems: at least one table the reader can sort.
func tableProblems(doc *html.Node) []string {
	if len(domAll(doc, func(n *html.Node) bool { return domIsElement(n, "table") && domHasClass(n, "sortable") })) == 0 {
		return []string{`no <table class="sortable">: the page must make its tables sortable and mark them with class "sortable"`}
	}
	return nil
}

// chartProblems: every chart figure is well formed, chart ids are unique,
// and each id of want names a chart with at least one data mark.
func chartProblems(doc *html.Node, want []string) []string {
	var out []string
	charts := map[string]*html.Node{}
	for _, fig := range domAll(doc, func(n *html.Node) bool { return domIsElement(n, "figure") && domHasClass(n, "chart") }) {
		id, _ := domAttr(fig, "id")
		switch {
		case !strings.HasPrefix(id, "chart-"):
			out = append(out, fmt.Sprintf(`<figure class="chart" id=%q>: a chart's id must be "chart-NAME"`, id))
		case charts[id] != nil:
			out = append(out, fmt.Sprintf(`two charts have id=%q`, id))
		default:
			charts[id] = fig
		}
		if chartSVG(fig) == nil {
			out = append(out, fmt.Sprintf(`<figure class="chart" id=%q> holds no <svg class="chart-svg">`, id))
		}
	}
	var have []string
	for id := range charts {
		have = append(have, id)
	}
	slices.Sort(have)
	for _, id := range want {
		fig := charts[id]
		if fig == nil {
			out = append(out, fmt.Sprintf(`chart %s missing: no <figure class="chart" id=%q> (charts on the page: %q)`, id, id, have))
			continue
		}
		svg := chartSVG(fig)
		if svg == nil {
			continue // reported above
		}
		if len(domAll(svg, func(n *html.Node) bool { return n.Type == html.ElementNode && domHasClass(n, "mark") })) == 0 {
			out = append(out, fmt.Sprintf(`chart %s draws no data: its <svg class="chart-svg"> holds no element of class "mark"`, id))
		}
	}
	return out
}

func chartSVG(fig *html.Node) *html.Node {
	return domFirst(fig, func(n *html.Node) bool { return domIsElement(n, "svg") && domHasClass(n, "chart-svg") })
}

// all returns the elements under n (n included) that match, in document order.
func domAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	if match(n) {
		out = append(out, n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		out = append(out, domAll(c, match)...)
	}
	return out
}

func domFirst(n *html.Node, match func(*html.Node) bool) *html.Node {
	if found := domAll(n, match); len(found) > 0 {
		return found[0]
	}
	return nil
}

func domIsElement(n *html.Node, name string) bool {
	return n.Type == html.ElementNode && n.Data == name
}

func domAttr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key && a.Namespace == "" {
			return a.Val, true
		}
	}
	return "", false
}

func domHasClass(n *html.Node, class string) bool {
	v, _ := domAttr(n, "class")
	return slices.Contains(strings.Fields(v), class)
}

func domText(n *html.Node) string {
	var b strings.Builder
	for _, t := range domAll(n, func(n *html.Node) bool { return n.Type == html.TextNode }) {
		b.WriteString(t.Data)
	}
	return b.String()
}
