package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/tacap/tacap/dataset"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/capture"
	"github.com/tacap/tacap/capture/attach"
)

func captureCommand() *cli.Command {
	return &cli.Command{
		Name:      "capture",
		Usage:     "record per-packet features from interfaces into a dataset",
		UsageText: "tacap capture --iface IF [--iface IF ...] [--for DURATION] [--out DIR] [flags]\n   tacap capture --pcap FILE|DIR|GLOB [--pcap ...] [--out DIR] [sampling flags]\n   tacap capture -r - [--out DIR] [sampling flags]",
		Description: "Loads the eBPF feature extractor onto the interfaces, records TCP/UDP/ICMP/ICMPv6 packets under\n" +
			"per-session quotas until the deadline or Ctrl-C, and writes packets/ and sessions/ Parquet, one CSV per\n" +
			"session and a run manifest into --out. A second Ctrl-C stops draining the kernel at once (the files are\n" +
			"still closed properly).",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "iface", Aliases: []string{"i"}, Usage: "interface to attach to (repeatable)"},
			&cli.StringSliceFlag{Name: "pcap", Aliases: []string{"r"}, Usage: "read a pcap or pcapng file (gzip too) through the same kernel program instead; repeatable, a folder (its capture files) or a quoted glob ('cic/*.pcap'); - reads standard input"},
			&cli.StringFlag{Name: "pcap-order", Value: "time", Usage: "order of several capture files: time (of each file's first frame) or name"},
			&cli.BoolFlag{Name: "allow-duplicate", Usage: "replay a capture file that a run of the dataset already replayed (same SHA-256)"},
			&cli.DurationFlag{Name: "for", Aliases: []string{"d"}, DefaultText: "until Ctrl-C", Usage: "stop after this long (a duration with a unit: 90s, 5m, 1h)"},
			&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Value: "./dump", Usage: "dataset folder; runs add to it, never overwrite"},
			&cli.StringFlag{Name: "direction", Value: "both", Usage: "ingress, egress or both"},
			&cli.StringFlag{Name: "attach", Value: "auto", Usage: "auto (TCX, else legacy tc), tcx, tc or xdp (ingress only)"},
			&cli.UintFlag{Name: "sessions", Value: 1024, Usage: "size of the kernel's session table (prototype: N_SESSION)"},
			&cli.UintFlag{Name: "packets-per-session", Value: 100, Usage: "records per session before it pauses; 0 = no limit (N_PACKET_PER_SESSION)"},
			&cli.UintFlag{Name: "buffer-packets", DefaultText: "sessions × max(packets-per-session, 100), at most 4473924", Usage: "kernel-to-user buffer capacity in records (N_PACKET_TOTAL)"},
			&cli.DurationFlag{Name: "session-accept-restart", Value: 5 * time.Second, Usage: "table full: refuse new sessions this long after the last accepted one"},
			&cli.DurationFlag{Name: "session-packet-restart", Value: time.Second, Usage: "quota reached: resume this long after the session's last record"},
			&cli.DurationFlag{Name: "buffer-restart", Value: time.Second, Usage: "buffer full: pause recording this long"},
			&cli.BoolFlag{Name: "bidirectional", Usage: "one session for both directions of a 5-tuple"},
			&cli.UintFlag{Name: "flows", Value: bpf.DefaultFlows, Usage: "size of the kernel's flow table (flows/: statistics of every packet); a packet whose flow finds no room counts as flow_table_full"},
			&cli.DurationFlag{Name: "flow-idle-timeout", Value: 120 * time.Second, Usage: "a packet this long after its flow's last starts a new flow (end_reason idle)"},
			&cli.DurationFlag{Name: "flow-active-timeout", Value: 1800 * time.Second, Usage: "a packet this long after its flow's first starts a new flow (end_reason active)"},
			&cli.StringFlag{Name: "filter", Usage: "record only packets this tcpdump-style expression matches, e.g. 'not port 22' (docs/filters.md); the others are counted filtered"},
			&cli.StringFlag{Name: "filter-file", Aliases: []string{"f"}, Usage: "read the --filter expression from this file ('#' starts a comment)"},
			&cli.StringFlag{Name: "labels", Aliases: []string{"l"}, Usage: "label rows from this rules file (YAML; docs/dataset.md, \"Labels\"); without it every row is labelled benign"},
			&cli.BoolFlag{Name: "no-csv", Usage: "skip the per-flow CSV files"},
			&cli.IntFlag{Name: "csv-max-files", Value: 100_000, Usage: "write at most this many per-flow CSV files (reported when reached)"},
			&cli.Int64Flag{Name: "rotate-rows", Value: 10_000_000, Usage: "start a new packets/ part file after this many rows"},
			&cli.DurationFlag{Name: "rotate-every", Value: time.Minute, Usage: "start a new packets/ part file after this long (a crash loses at most one part)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no live progress display"},
			&cli.StringFlag{Name: "ready-file", Hidden: true, Usage: "create this file once attached (for scripts and tests)"},
			&cli.StringFlag{Name: "cpu-profile", Hidden: true, Usage: "write a Go CPU profile of the run here (for performance work)"},
		},
		Action: runCapture,
	}
}

type captureArgs struct {
	cfg   capture.Config
	quiet bool
	ready string
}

// parseCaptureArgs turns the flags into one capture.Config and has capture
// check it; only what depends on how a flag was given is checked here.
func parseCaptureArgs(c *cli.Context) (*captureArgs, error) {
	if c.Args().Present() {
		return nil, usagef("capture takes no arguments, got %q (flags go before arguments)", c.Args().First())
	}
	cfg := capture.Config{
		Interfaces:     c.StringSlice("iface"),
		AllowDuplicate: c.Bool("allow-duplicate"),
		Out:            c.String("out"),
		Sampling: capture.Sampling{
			Sessions:             uint64(c.Uint("sessions")),
			PacketsPerSession:    uint64(c.Uint("packets-per-session")),
			BufferPackets:        uint64(c.Uint("buffer-packets")),
			SessionAcceptRestart: c.Duration("session-accept-restart"),
			SessionPacketRestart: c.Duration("session-packet-restart"),
			BufferRestart:        c.Duration("buffer-restart"),
			Bidirectional:        c.Bool("bidirectional"),
		},
		Flows: capture.FlowTable{
			Size:          uint64(c.Uint("flows")),
			IdleTimeout:   c.Duration("flow-idle-timeout"),
			ActiveTimeout: c.Duration("flow-active-timeout"),
		},
		CSV: !c.Bool("no-csv"), CSVMaxFiles: c.Int("csv-max-files"),
		PartMaxRows: c.Int64("rotate-rows"), PartMaxAge: c.Duration("rotate-every"),
	}
	// A flag's zero value means "the default" to capture; given
	// explicitly, these zeros are mistakes.
	switch {
	case c.IsSet("out") && c.String("out") == "":
		return nil, usagef("--out must name a folder (it defaults to ./dump)")
	case c.IsSet("for") && c.Duration("for") == 0:
		return nil, usagef("--for must be a positive duration such as 60s or 5m")
	case c.IsSet("buffer-packets") && c.Uint("buffer-packets") == 0:
		return nil, usagef("--buffer-packets must be at least 1")
	case c.IsSet("rotate-rows") && c.Int64("rotate-rows") == 0, c.IsSet("rotate-every") && c.Duration("rotate-every") == 0:
		return nil, usagef("--rotate-rows and --rotate-every must be positive")
	case c.IsSet("flows") && c.Uint("flows") == 0:
		return nil, usagef("--flows must be at least 1")
	case c.IsSet("flow-idle-timeout") && c.Duration("flow-idle-timeout") == 0, c.IsSet("flow-active-timeout") && c.Duration("flow-active-timeout") == 0:
		return nil, usagef("--flow-idle-timeout and --flow-active-timeout must be positive durations such as 120s")
	}
	if c.IsSet("for") {
		cfg.For = c.Duration("for")
	}
	if c.IsSet("pcap-order") && c.String("pcap-order") == "" {
		return nil, usagef("--pcap-order must be time or name")
	}
	if c.IsSet("pcap") {
		files, err := capture.ExpandInputs(c.StringSlice("pcap"), c.String("pcap-order"))
		if err != nil {
			if ue := usageOf(err); ue != nil {
				return nil, ue
			}
			return nil, err
		}
		cfg.Files = files
	} else if c.IsSet("pcap-order") {
		return nil, usagef("--pcap-order applies to --pcap")
	}
	expr, err := filterExpr(c)
	if err != nil {
		return nil, err
	}
	cfg.Filter = expr
	if c.IsSet("labels") {
		rules, err := loadRules("--labels", c.String("labels"))
		if err != nil {
			return nil, err
		}
		cfg.Labels = rules
	}
	if c.IsSet("direction") || len(cfg.Files) == 0 {
		switch d := c.String("direction"); d {
		case "both":
			cfg.Directions = []string{"ingress", "egress"}
		default:
			cfg.Directions = []string{d}
		}
	}
	if c.IsSet("attach") || len(cfg.Files) == 0 {
		cfg.Attach = attach.Mode(c.String("attach"))
	}
	if err := cfg.Validate(); err != nil {
		if ue := usageOf(err); ue != nil {
			return nil, ue
		}
		return nil, err
	}
	b := readBuildInfo()
	cfg.Build = dataset.BuildInfo{Version: b.Version, Commit: b.Commit, BPFObject: b.BPFObject}
	return &captureArgs{cfg: cfg, quiet: c.Bool("quiet"), ready: c.String("ready-file")}, nil
}

func runCapture(c *cli.Context) error {
	a, err := parseCaptureArgs(c)
	if err != nil {
		return err
	}
	stderr := c.App.ErrWriter
	live := !a.quiet && isTerminal(stderr)
	if path := c.String("cpu-profile"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	cfg := a.cfg
	if cfg.Live() {
		opts := cfg.Options()
		ringBytes, _ := bpf.RingBytes(opts.BufferPackets)
		cfg.OnLoad = func(total uint64) {
			fmt.Fprintf(stderr, "tacap: kernel maps take %s (ring buffer %s for ≥ %d records, session table of %d, flow table of %d)\n",
				size(total), size(uint64(ringBytes)), opts.BufferPackets, opts.Sessions, opts.Flows)
		}
		cfg.OnReady = func(r *capture.Ready) {
			var parts []string
			for _, at := range r.Attachments {
				parts = append(parts, fmt.Sprintf("%s %s (%s)", at.Iface, at.Direction, at.Mode))
			}
			fmt.Fprintf(stderr, "tacap: capturing on %s, run %s\n", strings.Join(parts, ", "), r.RunID)
			if a.ready != "" {
				_ = os.WriteFile(a.ready, []byte(r.RunID+"\n"), 0o600)
			}
		}
	}
	if live {
		var rate rateMeter
		cfg.OnStatus = func(s capture.Status) { fmt.Fprint(stderr, "\r"+statusLine(s, cfg.For, &rate)+"\x1b[K") }
	}

	// The first Ctrl-C or SIGTERM stops the capture, a second one skips
	// the rest of the drain.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	skip := make(chan struct{})
	cfg.SkipDrain = skip
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		<-sigs
		stop()
		if live {
			fmt.Fprint(stderr, "\r\x1b[Kstopping: draining the kernel (Ctrl-C again to skip)\n")
		}
		<-sigs
		close(skip)
	}()

	res, err := capture.Run(ctx, cfg)
	if live {
		fmt.Fprint(stderr, "\r\x1b[K")
	}
	if res != nil {
		printSummary(c.App.Writer, res, cfg.Out)
	}
	if err != nil {
		if ue := usageOf(err); ue != nil {
			return ue
		}
		return withRemedy(err, &cfg)
	}
	return nil
}

// rateMeter turns cumulative counts into the rate over the last second or
// so (the status line's packets/s is what is happening now, not the
// average since the start).
type rateMeter struct {
	at    time.Duration
	count uint64
	rate  float64
}

func (m *rateMeter) update(now time.Duration, count uint64) float64 {
	if m.at == 0 && m.count == 0 {
		m.at, m.count = now, count
		if now > 0 {
			m.rate = float64(count) / now.Seconds()
		}
		return m.rate
	}
	if dt := now - m.at; dt >= time.Second {
		m.rate = float64(count-m.count) / dt.Seconds()
		m.at, m.count = now, count
	}
	return m.rate
}

func statusLine(s capture.Status, total time.Duration, rate *rateMeter) string {
	if s.File != nil {
		return fileStatusLine(s)
	}
	el := s.Elapsed.Truncate(100 * time.Millisecond).String()
	if total > 0 {
		el += fmt.Sprintf(" (%s left)", max(total-s.Elapsed, 0).Truncate(time.Second))
	}
	if s.Draining {
		el = "draining"
	}
	line := fmt.Sprintf("%s  seen %d  recorded %d  sessions %d  %s pkt/s  rows %d  %s written", el, s.Counters.Seen,
		s.Counters.Recorded, s.Sessions, human(rate.update(s.Elapsed, s.Counters.Seen)), s.RowsWritten, size(uint64(s.BytesWritten)))
	for _, r := range s.Counters.Reasons() {
		if r.Count > 0 {
			line += fmt.Sprintf("  %s %d", r.Name, r.Count)
		}
	}
	for _, i := range s.Interfaces {
		line += "  !" + i
	}
	return line
}

func fileStatusLine(s capture.Status) string {
	f := s.File
	pct := 0.0
	if f.FileBytes > 0 {
		pct = 100 * float64(f.BytesRead) / float64(f.FileBytes)
	}
	return fmt.Sprintf("%s  %s of %s (%.0f %%)  frames %d  %s frames/s  recorded %d", s.Elapsed.Truncate(100*time.Millisecond),
		size(uint64(f.BytesRead)), size(uint64(f.FileBytes)), pct, f.Frames, human(float64(f.Frames)/max(s.Elapsed.Seconds(), 1e-9)), s.Counters.Recorded)
}

func printSummary(w io.Writer, res *capture.Result, out string) {
	m := res.Manifest
	c := m.Counters
	pct := func(n uint64) string {
		if c.Seen == 0 {
			return ""
		}
		return fmt.Sprintf("(%.1f %%)", 100*float64(n)/float64(c.Seen))
	}
	source := strings.Join(m.Interfaces, ",")
	if m.PcapInfo != nil {
		name := m.Pcap
		if len(m.PcapFiles) > 1 {
			name = fmt.Sprintf("%d capture files (%s …)", len(m.PcapFiles), m.Pcap)
		}
		source = fmt.Sprintf("%s (%d frames", name, m.PcapInfo.Frames)
		for lt, n := range m.PcapInfo.Unsupported {
			source += fmt.Sprintf(", %d of unsupported %s", n, lt)
		}
		if m.PcapInfo.ShortFrames > 0 {
			source += fmt.Sprintf(", %d shorter than their link header", m.PcapInfo.ShortFrames)
		}
		source += ")"
	}
	fmt.Fprintf(w, "run %s on %s: %s, stopped by %s\n", m.RunID, source, m.End.Sub(m.Start).Round(time.Millisecond), m.StopReason)
	if m.Parameters.Filter != "" {
		fmt.Fprintf(w, "  %-22s %s\n", "filter", m.Parameters.Filter)
	}
	fmt.Fprintf(w, "  %-22s %12d\n", "packets seen", c.Seen)
	fmt.Fprintf(w, "  %-22s %12d %s\n", "recorded", c.Recorded, pct(c.Recorded))
	fmt.Fprintf(w, "  %-22s %12d %s\n", "not recorded", c.NotRecorded(), pct(c.NotRecorded()))
	for _, r := range c.Reasons() {
		fmt.Fprintf(w, "    %-20s %12d %s\n", r.Name, r.Count, pct(r.Count))
	}
	for _, h := range hints(m) {
		fmt.Fprintf(w, "  warning: %s\n", h)
	}
	if m.RecordedNotWritten != 0 {
		fmt.Fprintf(w, "  warning: %d recorded packets were not written (drain skipped or write failed)\n", m.RecordedNotWritten)
	}
	fmt.Fprintf(w, "  %-22s %12d in %d packet files, %d sessions\n", "rows written", m.RowsWritten, len(m.Files.Packets), m.Sessions)
	fmt.Fprintf(w, "  %-22s %12d in %d files%s\n", "flows", m.Flows.Written, len(m.Files.Flows), flowReasons(m.Flows))
	if c.FlowTableFull > 0 {
		fmt.Fprintf(w, "  warning: %d packets are in no flow: the flow table (%d) was full — raise --flows\n", c.FlowTableFull, m.Parameters.Flows)
	}
	if c.FlowLockTimeout > 0 {
		fmt.Fprintf(w, "  warning: %d packets are in no flow: their flow stayed locked by another CPU (please report this)\n", c.FlowLockTimeout)
	}
	if c.FlowsLost > 0 {
		fmt.Fprintf(w, "  warning: %d flows ended in the kernel could not be read in time and are missing from flows/\n", c.FlowsLost)
	}
	if l := m.Labels; l != nil && l.File != "" {
		fmt.Fprintf(w, "  %-22s %s (%d rules): %s\n", "labels", l.File, l.Rules, byLabel(l.RowsByLabel))
	}
	if m.CSV != nil {
		fmt.Fprintf(w, "  %-22s %12d in %s", "flow csv files", m.CSV.Files, m.CSV.Dir)
		if m.CSV.SkippedFlows > 0 {
			fmt.Fprintf(w, " (cap of %d reached: %d sessions without a file)", m.CSV.MaxFiles, m.CSV.SkippedFlows)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "  dataset %s, manifest %s\n", out, res.ManifestPath)
}

// flowReasons lists how the written flows ended: " (idle 3, end 2)".
func flowReasons(f dataset.FlowsInfo) string {
	var parts []string
	for _, r := range dataset.FlowEndReasons() {
		if n := f.ByEndReason[r]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", r, n))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// size says b bytes in the unit that suits it (B, KiB, MiB, GiB).
func size(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%d B", b)
}

func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// filterExpr is the --filter expression, or the one in --filter-file
// (lines joined, '#' to the end of a line dropped, as tcpdump -F).
func filterExpr(c *cli.Context) (string, error) {
	switch {
	case c.IsSet("filter") && c.IsSet("filter-file"):
		return "", usagef("--filter and --filter-file exclude each other: give the expression once")
	case c.IsSet("filter"):
		if strings.TrimSpace(c.String("filter")) == "" {
			return "", usagef("--filter is empty: give an expression such as 'not port 22', or leave the flag out to record every packet")
		}
		return c.String("filter"), nil
	case !c.IsSet("filter-file"):
		return "", nil
	}
	path := c.String("filter-file")
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read --filter-file: %w", err)
	}
	var parts []string
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if line = strings.TrimSpace(line); line != "" {
			parts = append(parts, line)
		}
	}
	if len(parts) == 0 {
		return "", usagef("--filter-file %s holds no expression", path)
	}
	return strings.Join(parts, " "), nil
}
