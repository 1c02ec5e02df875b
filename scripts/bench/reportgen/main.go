// Command reportgen writes a synthetic tacap dataset for benchmarking
// `tacap report` (scripts/bench/report.sh): packets/, sessions/ and _runs/ laid
// out exactly as `tacap capture` writes them, through the same sink and
// schema code (zstd, 1 M-row groups, dictionary strings), with an attack
// mix that makes the report's aggregates non-trivial: ordinary TCP/UDP
// sessions, a spoofed SYN flood, UDP amplification, ICMP and a port scan,
// over about an hour seen by two gateways. The output depends only on the
// flags.
//
//	go run ./scripts/bench/reportgen -rows 10000000 -out DIR
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/capture/sink"
	"github.com/tacap/tacap/dataset"
)

type config struct {
	rows     int64
	out      string
	hosts    int
	seed     uint64
	start    time.Time
	duration time.Duration
	partRows int64
}

func main() {
	var cfg config
	var start string
	flag.Int64Var(&cfg.rows, "rows", 10_000_000, "packet rows in all")
	flag.StringVar(&cfg.out, "out", "", "dataset folder to create (absent or empty)")
	flag.IntVar(&cfg.hosts, "hosts", 2, "capturing hosts, one run each (1 or 2)")
	flag.Uint64Var(&cfg.seed, "seed", 1, "random seed")
	// The default crosses midnight, so packets/ has two date= partitions.
	flag.StringVar(&start, "start", "2026-03-14T23:30:00Z", "capture start, RFC 3339")
	flag.DurationVar(&cfg.duration, "duration", time.Hour, "capture length (approximate: generation stops at -rows)")
	flag.Int64Var(&cfg.partRows, "part-rows", 10_000_000, "rows per part at most (tacap capture's default)")
	flag.Parse()
	var err error
	if cfg.start, err = time.Parse(time.RFC3339, start); err != nil {
		fmt.Fprintln(os.Stderr, "reportgen: -start:", err)
		os.Exit(2)
	}
	if cfg.out == "" || flag.NArg() > 0 || cfg.rows < int64(cfg.hosts) || cfg.hosts < 1 || cfg.hosts > 2 || cfg.duration <= 0 {
		fmt.Fprintln(os.Stderr, "usage: reportgen [-rows N] [-hosts 1|2] [-seed S] [-start T] [-duration D] -out DIR")
		os.Exit(2)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "reportgen:", err)
		os.Exit(1)
	}
}

func run(cfg config) error {
	began := time.Now()
	if err := emptyDir(cfg.out); err != nil {
		return err
	}
	// About one spoofed source per 20 rows: hundreds of thousands at 10 M.
	w, err := newWorld(cfg.seed, cfg.hosts, int(max(1000, cfg.rows/20)))
	if err != nil {
		return err
	}
	results := make([]*hostResult, cfg.hosts)
	errs := make([]error, cfg.hosts)
	var wg sync.WaitGroup
	for h := range cfg.hosts {
		quota := cfg.rows / int64(cfg.hosts)
		if h == 0 {
			quota += cfg.rows % int64(cfg.hosts)
		}
		wg.Go(func() { results[h], errs[h] = runHost(w, cfg, h, quota) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	summarise(cfg, w, results, time.Since(began))
	return nil
}

// emptyDir creates dir or checks that it is empty: the generator never
// mixes its runs into an existing dataset.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return os.MkdirAll(dir, 0o750)
	case err != nil:
		return err
	case len(entries) > 0:
		return fmt.Errorf("%s is not empty", dir)
	}
	return nil
}

type hostResult struct {
	host     string
	manifest dataset.Manifest
	counts   [nKinds]int64
	srcSeen  []bool // by address index
	bytes    int64
}

// packetNoBounds matches tacap capture's: the string columns are written
// without page min/max statistics.
var packetNoBounds = []string{"iface", "direction", "src_ip", "dst_ip"}

const batchRows = 1 << 16

func runHost(w *world, cfg config, h int, quota int64) (*hostResult, error) {
	g := newHostGen(w, cfg.seed, h)
	host := fmt.Sprintf("sensor-%c", 'a'+h)
	suffix := rand.New(rand.NewPCG(cfg.seed, 0x72756e+uint64(h))).Uint32() & 0xffffff
	runID := fmt.Sprintf("%s-%06x", cfg.start.UTC().Format("20060102T150405Z"), suffix)
	t0 := cfg.start.UnixNano()
	g.plan(cfg.seed, t0, int64(cfg.duration), quota)

	m := dataset.Manifest{
		Tacap: dataset.BuildInfo{Version: "synthetic (scripts/bench/reportgen)"},
		RunID: runID, Host: host, Interfaces: []string{"eth0"}, Directions: []string{"ingress", "egress"},
		Hook: "tc", AttachModes: []string{"tcx"}, KernelRelease: "synthetic",
		Start: cfg.start.UTC(), StopReason: "deadline", Parameters: parameters(),
		Clock: dataset.Clock{Source: "synthetic: generated wall-clock times"},
	}
	// The parts' key-value metadata, as tacap writes it; the counters are
	// those at the time a part closes (everything generated so far).
	var recorded int64
	meta := func() map[string]string {
		params, _ := json.Marshal(m.Parameters)
		counters, _ := json.Marshal(dataset.Counters{Seen: uint64(recorded), Recorded: uint64(recorded)})
		return map[string]string{
			"tacap.version": m.Tacap.Version, "tacap.commit": "", "tacap.bpf_object_sha256": "",
			"tacap.run_id": runID, "tacap.host": host, "tacap.interfaces": "eth0", "tacap.hook": m.Hook,
			"tacap.kernel_release": m.KernelRelease, "tacap.start": m.Start.Format(time.RFC3339Nano),
			"tacap.parameters": string(params), "tacap.counters": string(counters),
		}
	}
	// No MaxAge: a generator writes an hour in seconds, so parts rotate by
	// rows (and day) only.
	packets := sink.NewParts[dataset.Packet](sink.PartConfig{Dir: cfg.out, Table: dataset.PacketsTable, Host: host, RunID: runID,
		MaxRows: cfg.partRows, Metadata: meta, NoBounds: packetNoBounds})
	sessions := sink.NewParts[dataset.Session](sink.PartConfig{Dir: cfg.out, Table: dataset.SessionsTable, Host: host, RunID: runID, Metadata: meta})

	// Generation and encoding overlap: the generator fills batches on its
	// own goroutine while this one writes the previous ones.
	full := make(chan []dataset.Packet, 2)
	free := make(chan []dataset.Packet, 3)
	for range cap(free) {
		free <- make([]dataset.Packet, 0, batchRows)
	}
	genErr := make(chan error, 1)
	go func() {
		genErr <- g.run(quota, full, free)
		close(full)
	}()
	res := &hostResult{host: host, srcSeen: make([]bool, len(w.text))}
	var writeErr error
	var last int64
	for b := range full {
		recorded += int64(len(b))
		if writeErr == nil {
			writeErr = writeByDay(packets, b)
		}
		last = b[len(b)-1].TsNs
		free <- b[:0]
	}
	if err := errors.Join(<-genErr, writeErr, packets.Close()); err != nil {
		packets.Abort()
		return nil, fmt.Errorf("%s: packets: %w", host, err)
	}

	// tacap writes the sessions table once, at the end, into the partition
	// of the first session's day.
	rows := g.sessionRows(runID)
	if err := sessions.Write(dayOf(rows[0].FirstTs*1000), rows); err != nil {
		sessions.Abort()
		return nil, fmt.Errorf("%s: sessions: %w", host, err)
	}
	if err := sessions.Close(); err != nil {
		return nil, fmt.Errorf("%s: sessions: %w", host, err)
	}

	m.End = time.Unix(0, last).UTC()
	m.Counters = dataset.Counters{Seen: uint64(recorded), Recorded: uint64(recorded)}
	m.RowsWritten = packets.Rows()
	m.Sessions = int64(len(rows))
	m.Files = dataset.Files{Packets: packets.Files(), Sessions: sessions.Files()}
	m.Complete = true
	if m.RowsWritten != quota || sessions.Rows() != m.Sessions {
		return nil, fmt.Errorf("%s: wrote %d packet and %d session rows, want %d and %d", host, m.RowsWritten, sessions.Rows(), quota, m.Sessions)
	}
	data, err := json.MarshalIndent(&m, "", "  ")
	if err != nil {
		return nil, err
	}
	root, err := sink.OpenRoot(cfg.out)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	if err := sink.WriteFileNew(root, filepath.Join("_runs", runID+".json"), append(data, '\n')); err != nil {
		return nil, fmt.Errorf("%s: manifest: %w", host, err)
	}

	res.manifest, res.counts = m, g.counts
	for _, f := range g.order {
		res.srcSeen[f.key.src] = true
	}
	res.bytes = packets.Bytes() + sessions.Bytes()
	return res, nil
}

// parameters are the sampling parameters a capture without quotas would
// record: a session table and buffer large enough that nothing is refused.
func parameters() dataset.Parameters {
	const n = 1 << 20
	rb, _ := bpf.RingBytes(n)
	return dataset.Parameters{
		Sessions: n, PacketsPerSession: 0, BufferPackets: n, BufferBytes: rb,
		SessionAcceptRestart: (5 * time.Second).String(), SessionPacketRestart: time.Second.String(),
		BufferRestart: time.Second.String(),
	}
}

func dayOf(ns int64) string { return time.Unix(0, ns).UTC().Format("2006-01-02") }

// writeByDay writes time-ordered rows, split at midnight (UTC): a part
// holds one day.
func writeByDay(p *sink.Parts[dataset.Packet], rows []dataset.Packet) error {
	for len(rows) > 0 {
		day := time.Unix(0, rows[0].TsNs).UTC().Truncate(24 * time.Hour)
		next := day.Add(24 * time.Hour).UnixNano()
		n := sort.Search(len(rows), func(i int) bool { return rows[i].TsNs >= next })
		if err := p.Write(day.Format("2006-01-02"), rows[:n]); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

func summarise(cfg config, w *world, res []*hostResult, took time.Duration) {
	var rows, sessions, bytes int64
	var counts [nKinds]int64
	files := 0
	for _, r := range res {
		m := &r.manifest
		rows += m.RowsWritten
		sessions += m.Sessions
		bytes += r.bytes
		files += len(m.Files.Packets) + len(m.Files.Sessions)
		for k := range counts {
			counts[k] += r.counts[k]
		}
		fmt.Printf("%s run %s: %d packet rows (%s – %s), %d sessions, %d + %d parts\n", r.host, m.RunID, m.RowsWritten,
			m.Start.Format("2006-01-02 15:04:05"), m.End.Format("15:04:05"), m.Sessions, len(m.Files.Packets), len(m.Files.Sessions))
	}
	src := 0
	for i := range w.text {
		for _, r := range res {
			if r.srcSeen[i] {
				src++
				break
			}
		}
	}
	var mix []string
	for k, n := range counts {
		mix = append(mix, fmt.Sprintf("%s %.1f%%", kindNames[k], 100*float64(n)/float64(rows)))
	}
	fmt.Printf("mix: %s\n", strings.Join(mix, ", "))
	fmt.Printf("wrote %s: %d packet rows, %d sessions (rows of sessions/), %d distinct src_ip, %d files, %.0f MiB in %.1f s\n",
		cfg.out, rows, sessions, src, files+len(res), float64(bytes)/(1<<20), took.Seconds())
}
