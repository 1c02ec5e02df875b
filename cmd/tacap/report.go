package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/urfave/cli/v2"

	"github.com/tacap/tacap/report"
)

func reportCommand() *cli.Command {
	th := report.DefaultThresholds()
	return &cli.Command{
		Name:      "report",
		Usage:     "summarise datasets: accounting, traffic, flows, top talkers, TCP, timeline, labels, attack indicators",
		UsageText: "tacap report [--format table|json|markdown] [--html FILE|-] [--top N] [--run RUNID] [thresholds] DIR...",
		Description: "Finds every run under the folders (datasets written by tacap capture, any number of hosts and\n" +
			"dates), reads the manifests and only the Parquet columns it needs, and prints what happened: what\n" +
			"was lost and why, the traffic, the largest sessions and talkers, TCP handshakes, a timeline per run\n" +
			"and the attack indicators that fired with their evidence (the --top highest scores). Needs no\n" +
			"privileges. --html - writes only the HTML page, to standard output. Exit 1 when a file cannot be\n" +
			"read or a manifest disagrees with its files (the report of the rest is still printed).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table, json (documented in docs/report-json.md) or markdown"},
			&cli.StringFlag{Name: "html", Usage: "also write the report as a self-contained HTML page to this file; - writes only the page, to standard output"},
			&cli.IntFlag{Name: "top", Aliases: []string{"n"}, Value: 10, Usage: "rows in each top-N table, and attack indicators listed (highest scores)"},
			&cli.StringFlag{Name: "run", Usage: "only this run (its ID or a unique prefix of it)"},
			&cli.Uint64Flag{Name: "syn-flood-syns", Value: th.SYNFloodSYNs, Usage: "SYN flood: handshakes started towards one destination"},
			&cli.Float64Flag{Name: "syn-flood-half-open", Value: th.SYNFloodHalfOpen, Usage: "SYN flood: share of those never completed"},
			&cli.Uint64Flag{Name: "udp-flood-pps", Value: th.UDPFloodPPS, Usage: "UDP flood: packets to one destination in its busiest second"},
			&cli.Uint64Flag{Name: "icmp-flood-pps", Value: th.ICMPFloodPPS, Usage: "ICMP flood: ICMP/ICMPv6 packets (errors included) to one destination in its busiest second"},
			&cli.Uint64Flag{Name: "scan-ports", Value: th.ScanPorts, Usage: "port scan: distinct destination ports probed by one source"},
			&cli.Uint64Flag{Name: "many-sources", Value: th.ManySources, Usage: "many-to-one: distinct sources sending to one destination"},
			&cli.Uint64Flag{Name: "amp-bytes", Value: th.AmpBytes, Usage: "amplification: bytes from a reflection service port to one destination"},
			&cli.Float64Flag{Name: "amp-factor", Value: th.AmpFactor, Usage: "amplification: ... at least this many times what it sent to that port"},
			&cli.Uint64Flag{Name: "conn-flood", Value: th.ConnFlood, Usage: "connection flood: TCP connections one source starts to one destination port"},
			&cli.Uint64Flag{Name: "reflection-synacks", Value: th.ReflectSYNACKs, Usage: "TCP reflection: SYN-ACKs to one destination that sent (almost) no SYNs"},
		},
		Action: runReport,
	}
}

// reportMemoryLimit is the report's soft memory limit (GOMEMLIMIT).
const reportMemoryLimit = 400 << 20

func runReport(c *cli.Context) error {
	dirs := c.Args().Slice()
	if len(dirs) == 0 {
		return usagef("report needs at least one dataset folder, e.g. `tacap report ./dump`")
	}
	if err := flagAfterFolders(c, "tacap report [flags] DIR..."); err != nil {
		return err
	}
	format := c.String("format")
	if format != "table" && format != "json" && format != "markdown" {
		return usagef("--format %q: want table, json or markdown", format)
	}
	htmlPath := c.String("html")
	if htmlPath != "" && htmlPath != "-" {
		if err := refuseLink(htmlPath); err != nil {
			return err // before reading anything
		}
	}
	if htmlPath == "-" && c.IsSet("format") {
		return usagef("--html - writes the page to standard output, which leaves no room for --format %s: give --html a file name", format)
	}
	if c.Int("top") < 1 {
		return usagef("--top %d: want 1 or more", c.Int("top"))
	}
	th := report.Thresholds{
		SYNFloodSYNs: c.Uint64("syn-flood-syns"), SYNFloodHalfOpen: c.Float64("syn-flood-half-open"),
		UDPFloodPPS: c.Uint64("udp-flood-pps"), ICMPFloodPPS: c.Uint64("icmp-flood-pps"),
		ScanPorts: c.Uint64("scan-ports"), ManySources: c.Uint64("many-sources"),
		AmpBytes: c.Uint64("amp-bytes"), AmpFactor: c.Float64("amp-factor"),
		ConnFlood: c.Uint64("conn-flood"), ReflectSYNACKs: c.Uint64("reflection-synacks"),
	}
	if th.SYNFloodHalfOpen < 0 || th.SYNFloodHalfOpen > 1 {
		return usagef("--syn-flood-half-open %g: want a share between 0 and 1", th.SYNFloodHalfOpen)
	}
	if th.AmpFactor < 0 {
		return usagef("--amp-factor %g: want 0 or more", th.AmpFactor)
	}

	// The report's working set for 10 M rows is about 350 MiB (decoded row
	// groups, per-address counters, handshake state); a soft limit makes
	// the garbage collector keep the process near it instead of letting
	// the heap double between collections. GOMEMLIMIT overrides it.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(reportMemoryLimit)
	}
	rep, err := report.Build(report.Options{Dirs: dirs, Top: c.Int("top"), RunID: c.String("run"), Thresholds: th})
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	out := bufio.NewWriterSize(c.App.Writer, 64<<10)
	switch {
	case htmlPath == "-": // standard output carries the page alone
		err = report.WriteHTML(out, rep)
	case format == "json":
		err = report.WriteJSON(out, rep)
	default:
		err = report.WriteText(out, rep, format == "markdown")
	}
	if err == nil {
		err = out.Flush()
	}
	if err != nil {
		return fmt.Errorf("report: write output: %w", err)
	}
	if htmlPath != "" && htmlPath != "-" {
		if err := writeHTML(htmlPath, rep); err != nil {
			return err
		}
	}
	if err := report.ProblemsError(rep); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// writeHTML writes the page under a hidden, unguessable name beside path
// and renames it into place. A symbolic link at path is refused, never
// written through (someone else may own the folder).
func writeHTML(path string, rep *report.Report) error {
	if err := refuseLink(path); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := report.WriteHTML(&buf, rep); err != nil {
		return fmt.Errorf("report: render HTML: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp") // O_EXCL: a planted name fails
	if err != nil {
		return fmt.Errorf("report: write %s: %w", path, unwrapPath(err))
	}
	tmp := f.Name()
	_, err = f.Write(buf.Bytes())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("report: write %s: %w", path, unwrapPath(err))
	}
	return nil
}

// refuseLink fails when path is a symbolic link.
func refuseLink(path string) error {
	if st, err := os.Lstat(path); err == nil && st.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("report: %s is a symbolic link: tacap does not write through links — remove it or choose another --html file", path)
	}
	return nil
}

// unwrapPath drops the path an *os.PathError repeats.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
