package capture

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/capture/attach"
	"github.com/tacap/tacap/capture/sink"
	"github.com/tacap/tacap/dataset"
)

// Config describes one live capture run.
type Config struct {
	Interfaces  []string
	Directions  []string // "ingress", "egress"
	Attach      attach.Mode
	Out         string
	Options     bpf.Options
	CSV         bool
	CSVMaxFiles int
	// Parts rotate after this many rows or this long (defaults 10 M, 1 min).
	PartMaxRows int64
	PartMaxAge  time.Duration
	Build       dataset.BuildInfo
	// OnLoad is called once the program is loaded, before attaching, with
	// the memory its maps take.
	OnLoad func(memoryBytes uint64)
	// OnReady is called once the programs are attached, before any packet
	// is awaited (the hidden --ready-file of the CLI, tests).
	OnReady func(*Ready)
	// OnStatus is called a few times a second while capturing.
	OnStatus func(Status)
	// PollInterval is how often an idle ring is checked (default 1 ms).
	PollInterval time.Duration
}

// Ready describes a run that has started.
type Ready struct {
	RunID       string
	MemoryBytes uint64
	Attachments []*attach.Attachment
}

// Status is a progress snapshot.
type Status struct {
	Elapsed      time.Duration
	Counters     bpf.Counters
	Flows        int
	RowsWritten  int64
	Pending      uint64 // ring bytes not yet read
	Draining     bool
	BytesWritten int64
}

// Result is what a run produced.
type Result struct {
	Manifest     dataset.Manifest
	ManifestPath string
}

// stopReason says why a run ended.
const (
	stopDeadline = "deadline"
	stopSignal   = "signal"
)

// Run captures until ctx is done (deadline or signal), then detaches, drains
// the ring, settles the counters, closes the files and writes the manifest,
// in that order. Closing hard (a second Ctrl-C) skips what is left of the
// drain but still closes the files properly.
func Run(ctx context.Context, cfg Config, hard <-chan struct{}) (*Result, error) {
	if cfg.PartMaxRows == 0 {
		cfg.PartMaxRows = 10_000_000
	}
	if cfg.PartMaxAge == 0 {
		cfg.PartMaxAge = time.Minute
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = time.Millisecond
	}
	ifaces := make([]*net.Interface, 0, len(cfg.Interfaces))
	ifName := map[uint32]string{}
	for _, name := range cfg.Interfaces {
		iface, err := attach.Interface(name)
		if err != nil {
			return nil, err
		}
		ifaces = append(ifaces, iface)
		ifName[uint32(iface.Index)] = iface.Name
	}
	if err := checkWritable(cfg.Out); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	host = sanitize(host)
	start := time.Now().UTC()
	runID := newRunID(start)

	opts := cfg.Options
	opts.Programs = bpf.ProgramsTC
	if cfg.Attach == attach.XDP {
		opts.Programs = bpf.ProgramsXDP
	}
	objs, err := bpf.Load(opts)
	if err != nil {
		return nil, err
	}
	defer objs.Close()
	if cfg.OnLoad != nil {
		cfg.OnLoad(objs.MemoryBytes)
	}

	anchor := NewAnchor()
	var atts []*attach.Attachment
	detach := func() error {
		var errs []error
		// Last attached, first detached: the tc filter that added a clsact
		// qdisc goes last and can then remove it.
		for i := len(atts) - 1; i >= 0; i-- {
			errs = append(errs, atts[i].Close())
		}
		atts = nil
		return errors.Join(errs...)
	}
	defer detach()
	for _, iface := range ifaces {
		a, err := attach.Attach(iface, cfg.Directions, cfg.Attach, attach.Programs{
			Ingress: objs.TacapTcIngress, Egress: objs.TacapTcEgress, XDP: objs.TacapXdp,
		})
		if err != nil {
			return nil, err
		}
		atts = append(atts, a...)
	}
	modes := map[string]bool{}
	for _, a := range atts {
		modes[string(a.Mode)] = true
	}
	attachments := append([]*attach.Attachment(nil), atts...)
	if cfg.OnReady != nil {
		cfg.OnReady(&Ready{RunID: runID, MemoryBytes: objs.MemoryBytes, Attachments: attachments})
	}

	m := dataset.Manifest{
		Tacap: cfg.Build, RunID: runID, Host: host, Interfaces: cfg.Interfaces, Directions: cfg.Directions,
		Hook: hookOf(cfg.Attach), AttachModes: keys(modes), KernelRelease: kernelRelease(),
		Start: start, Parameters: parametersOf(cfg.Options), Clock: clockOf(anchor),
	}
	meta := func() map[string]string { return partMetadata(&m, objs) }
	w := newWriter(cfg, runID, host, meta)

	c := &converter{anchor: anchor.Wall, ifName: ifName, addrs: newAddrText(), flows: newFlows(cfg.Options.Bidirectional)}
	reason, drainErr := c.capture(ctx, objs, w, cfg, start)

	// Stop: detach first, so nothing new arrives, then drain what is left.
	m.StopReason = reason
	detachErr := detach()
	if drainErr == nil {
		drainErr = c.drainRest(hard, objs, w, cfg, start)
	}
	m.DrainSkipped = c.drainSkipped
	// A detach failure is reported, but the dataset it leaves is whole.
	res, err := finish(&m, objs, c, w, cfg.Out, cfg.CSVMaxFiles, drainErr, true, detachErr)
	if err != nil {
		return res, err
	}
	return res, detachErr
}

// finish settles a run after its last record was read: final counters,
// the sessions still in the kernel's table, the files closed, and the
// manifest written. The run is complete when whole is true, runErr and the
// settling succeed and every recorded packet was written; notes are
// recorded in the manifest without making it incomplete or failing.
func finish(m *dataset.Manifest, objs *bpf.Objects, c *converter, w *writer, out string, csvMax int, runErr error, whole bool, notes ...error) (*Result, error) {
	m.End = time.Now().UTC()
	counters, cerr := objs.ReadCounters()
	m.Counters = counters
	settleSessions(objs, c.flows)
	writeErr := w.close(c.flows.rows(c.anchor))
	m.Files = w.files()
	m.RowsWritten = w.packets.Rows()
	m.RecordedNotWritten = int64(counters.Recorded) - m.RowsWritten
	if w.csv != nil {
		m.CSV = &dataset.CSVInfo{Dir: relTo(out, w.csv.Dir()), Files: w.csvFiles, MaxFiles: csvMax,
			SkippedFlows: w.csv.SkippedFlows, SkippedRows: w.csv.SkippedRows}
	}
	m.Flows = int64(len(c.flows.byKey))
	m.Complete = whole && runErr == nil && cerr == nil && writeErr == nil && m.RecordedNotWritten == 0
	for _, e := range append([]error{runErr, cerr, writeErr}, notes...) {
		if e != nil {
			m.Errors = append(m.Errors, e.Error())
		}
	}
	m.Process = processUsage()
	path, merr := writeManifest(out, m)
	return &Result{Manifest: *m, ManifestPath: path}, errors.Join(runErr, cerr, writeErr, merr)
}

// converter turns records into rows and flows; it runs on one goroutine.
type converter struct {
	anchor       func(uint64) int64
	ifName       map[uint32]string
	addrs        *addrText
	flows        *flows
	drainSkipped bool
	badRecords   int
}

var directionName = [...]string{bpf.DirectionUnknown: "unknown", bpf.DirectionIngress: "ingress", bpf.DirectionEgress: "egress"}

func (c *converter) row(r *bpf.Record, p *dataset.Packet) {
	ns := c.anchor(r.TsNs)
	p.Ts = ns / 1000
	p.TsNs = ns
	name, ok := c.ifName[r.Ifindex]
	if !ok {
		name = "if" + strconv.Itoa(int(r.Ifindex))
		c.ifName[r.Ifindex] = name
	}
	p.Iface = name
	p.Direction = "unknown"
	if int(r.Direction) < len(directionName) {
		p.Direction = directionName[r.Direction]
	}
	p.VlanID = int32(r.VlanId)
	p.IPVersion = int32(r.IpVersion)
	p.SrcIP = c.addrs.text(r.SrcAddr, r.IpVersion)
	p.DstIP = c.addrs.text(r.DstAddr, r.IpVersion)
	p.Protocol = int32(r.Protocol)
	p.SrcPort = int32(r.SrcPort)
	p.DstPort = int32(r.DstPort)
	p.IPLen = int32(r.IpLen)
	p.GSOSegs = int32(r.GsoSegs)
	p.IPFlagsFrag = int32(r.IpFlagsFrag)
	p.TTL = int32(r.Ttl)
	p.TCPPayloadLen = int32(r.TcpPayloadLen)
	p.TCPSeq = int64(r.TcpSeq)
	p.TCPAck = int64(r.TcpAck)
	p.TCPFlags = int32(r.TcpFlags)
	p.TCPWindow = int32(r.TcpWindow)
	p.UDPPayloadLen = int32(r.UdpPayloadLen)
	p.ICMPType = int32(r.IcmpType)
	p.ICMPCode = int32(r.IcmpCode)
}

const batchRows = 8192

// fill drains up to one batch of records from the ring into b.
func (c *converter) fill(objs *bpf.Objects, b *batch) int {
	n, bad := objs.Ring.Drain(batchRows-len(b.rows), func(r *bpf.Record) {
		b.rows = append(b.rows, dataset.Packet{})
		p := &b.rows[len(b.rows)-1]
		c.row(r, p)
		f, isNew := c.flows.add(r, p)
		b.flowIDs = append(b.flowIDs, f.id)
		if isNew {
			b.newFlows = append(b.newFlows, newFlow{f.id, f.csvName})
		}
	})
	c.badRecords += bad
	return n
}

// capture reads the ring until ctx ends or writing fails.
func (c *converter) capture(ctx context.Context, objs *bpf.Objects, w *writer, cfg Config, start time.Time) (string, error) {
	// Poll adaptively: at once while records pour in, backing off to
	// maxPoll while they trickle (a wakeup per millisecond for a few
	// records is what costs CPU at low rates), and never longer than the
	// ring takes to fill a sixteenth at the rate just seen.
	const maxPoll = 10 * time.Millisecond
	busy := max(1, objs.Ring.Size()/bpf.RecordSize/16)
	sleep := cfg.PollInterval
	timer := time.NewTimer(sleep)
	defer timer.Stop()
	nextStatus := time.Now()
	b := w.get()
	batchStart := time.Now()
	for {
		n := c.fill(objs, b)
		if len(b.rows) >= batchRows || (len(b.rows) > 0 && time.Since(batchStart) >= 100*time.Millisecond) {
			if err := w.put(b); err != nil {
				return "error", err
			}
			b, batchStart = w.get(), time.Now()
		}
		if cfg.OnStatus != nil && time.Now().After(nextStatus) {
			nextStatus = time.Now().Add(250 * time.Millisecond)
			c.status(objs, w, cfg, start, false)
		}
		if n >= busy {
			sleep = cfg.PollInterval
			if ctx.Err() != nil {
				break
			}
			continue // more is probably waiting
		}
		sleep = min(2*sleep, maxPoll)
		timer.Reset(sleep)
		select {
		case <-ctx.Done():
		case err := <-w.errc:
			return "error", err
		case <-timer.C:
			continue
		}
		break
	}
	if len(b.rows) > 0 {
		if err := w.put(b); err != nil {
			return "error", err
		}
	}
	if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
		return stopDeadline, nil
	}
	return stopSignal, nil
}

// drainRest reads what the kernel committed before the programs were
// detached. A program still running on another CPU finishes within
// microseconds; a reserved record not yet committed is waited for briefly.
func (c *converter) drainRest(hard <-chan struct{}, objs *bpf.Objects, w *writer, cfg Config, start time.Time) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		select {
		case <-hard:
			c.drainSkipped = true
			return nil
		default:
		}
		b := w.get()
		n := c.fill(objs, b)
		if len(b.rows) > 0 {
			if err := w.put(b); err != nil {
				return err
			}
		}
		if n == 0 {
			if objs.Ring.Pending() == 0 || time.Now().After(deadline) {
				return nil
			}
			time.Sleep(time.Millisecond)
		}
		if cfg.OnStatus != nil {
			c.status(objs, w, cfg, start, true)
		}
	}
}

func (c *converter) status(objs *bpf.Objects, w *writer, cfg Config, start time.Time, draining bool) {
	cnt, _ := objs.ReadCounters()
	rows, bytes := w.progress()
	cfg.OnStatus(Status{
		Elapsed: time.Since(start), Counters: cnt, Flows: len(c.flows.byKey), RowsWritten: rows, BytesWritten: bytes,
		Pending: objs.Ring.Pending(), Draining: draining,
	})
}

func settleSessions(objs *bpf.Objects, fs *flows) {
	var (
		k bpf.SessionKey
		v bpf.Session
	)
	it := objs.Sessions.Iterate()
	for it.Next(&k, &v) {
		fs.settle(k, v)
	}
}

// batch is a slice of rows on its way to the writer.
type batch struct {
	rows     []dataset.Packet
	flowIDs  []uint64
	newFlows []newFlow
}

type newFlow struct {
	id   uint64
	name string
}

// writer encodes batches on its own goroutine, so the ring is read while
// Parquet is compressed.
type writer struct {
	packets  *sink.Parts[dataset.Packet]
	flowsOut *sink.Parts[dataset.Flow]
	csv      *sink.CSVs
	csvFiles int
	names    map[uint64]string
	in       chan *batch
	errc     chan error
	done     chan struct{}
	pool     sync.Pool
	mu       sync.Mutex
	written  int64
	bytes    int64
	failed   error
}

func newWriter(cfg Config, runID, host string, meta func() map[string]string) *writer {
	w := &writer{
		packets: sink.NewParts[dataset.Packet](sink.PartConfig{Dir: cfg.Out, Table: "packets", Host: host, RunID: runID,
			MaxRows: cfg.PartMaxRows, MaxAge: cfg.PartMaxAge, Metadata: meta, NoBounds: packetNoBounds}),
		flowsOut: sink.NewParts[dataset.Flow](sink.PartConfig{Dir: cfg.Out, Table: "flows", Host: host, RunID: runID, Metadata: meta}),
		names:    map[uint64]string{},
		in:       make(chan *batch, 8),
		errc:     make(chan error, 1),
		done:     make(chan struct{}),
	}
	if cfg.CSV {
		w.csv = sink.NewCSVs(cfg.Out, runID, cfg.CSVMaxFiles)
	}
	w.pool.New = func() any {
		return &batch{rows: make([]dataset.Packet, 0, batchRows), flowIDs: make([]uint64, 0, batchRows)}
	}
	go w.loop()
	return w
}

func (w *writer) get() *batch { return w.pool.Get().(*batch) }

// put hands b to the writer goroutine, or reports its failure.
func (w *writer) put(b *batch) error {
	select {
	case w.in <- b:
		return nil
	case err := <-w.errc:
		w.errc <- err // keep it for the capture loop's select
		return err
	}
}

func (w *writer) loop() {
	defer close(w.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case b, ok := <-w.in:
			if !ok {
				return
			}
			if w.failed == nil {
				if err := w.write(b); err != nil {
					w.failed = err
					w.errc <- err
				}
			}
			b.rows, b.flowIDs, b.newFlows = b.rows[:0], b.flowIDs[:0], b.newFlows[:0]
			w.pool.Put(b)
		case <-tick.C:
			if w.failed == nil {
				if err := w.packets.Rotate(); err != nil {
					w.failed = err
					w.errc <- err
				}
			}
		}
	}
}

func (w *writer) write(b *batch) error {
	rows := b.rows
	for len(rows) > 0 {
		day := dayOf(rows[0].TsNs)
		n := 1
		for n < len(rows) && (rows[n].TsNs/dayNs == rows[0].TsNs/dayNs) {
			n++
		}
		if err := w.packets.Write(day, rows[:n]); err != nil {
			return err
		}
		rows = rows[n:]
	}
	bytes := w.packets.Bytes()
	w.mu.Lock()
	w.written += int64(len(b.rows))
	w.bytes = bytes
	w.mu.Unlock()
	if w.csv != nil {
		for _, nf := range b.newFlows {
			w.names[nf.id] = nf.name
		}
		for i := range b.rows {
			if err := w.csv.Add(b.flowIDs[i], w.names[b.flowIDs[i]], &b.rows[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *writer) progress() (rows, bytes int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written, w.bytes
}

// close stops the goroutine, finishes the packet parts, the CSV files and
// the flows table.
func (w *writer) close(flowRows []dataset.Flow) error {
	close(w.in)
	<-w.done
	var errs []error
	if w.failed != nil {
		errs = append(errs, w.failed)
		if isDiskFull(w.failed) {
			w.packets.Abort()
		}
	}
	if err := w.packets.Close(); err != nil {
		w.packets.Abort()
		errs = append(errs, err)
	}
	if w.csv != nil {
		n, err := w.csv.Close()
		w.csvFiles = n
		errs = append(errs, err)
	}
	if len(flowRows) > 0 {
		day := dayOf(int64(flowRows[0].FirstTs) * 1000)
		if err := w.flowsOut.Write(day, flowRows); err != nil {
			w.flowsOut.Abort()
			errs = append(errs, err)
		} else if err := w.flowsOut.Close(); err != nil {
			w.flowsOut.Abort()
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (w *writer) files() dataset.Files {
	return dataset.Files{Packets: w.packets.Files(), Flows: w.flowsOut.Files()}
}

const dayNs = int64(24 * time.Hour)

// packetNoBounds are the packets/ columns written without page min/max
// statistics: strings, filtered by equality (the dictionary serves that).
var packetNoBounds = []string{"iface", "direction", "src_ip", "dst_ip"}

func dayOf(ns int64) string { return time.Unix(0, ns).UTC().Format("2006-01-02") }

func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

func checkWritable(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "_runs"), 0o750); err != nil {
		return fmt.Errorf("output folder %s: %w — choose another with --out", dir, err)
	}
	f, err := os.CreateTemp(filepath.Join(dir, "_runs"), ".probe-*")
	if err != nil {
		return fmt.Errorf("output folder %s is not writable: %w — choose another with --out", dir, err)
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

func newRunID(start time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return start.Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// sanitize keeps a host name usable in a hive folder name.
func sanitize(s string) string {
	if s == "" {
		return "unknown"
	}
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '=' || r == ' ' || r < 32 {
			return '_'
		}
		return r
	}, s)
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

func relTo(base, path string) string {
	if r, err := filepath.Rel(base, path); err == nil {
		return r
	}
	return path
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func hookOf(m attach.Mode) string {
	if m == attach.XDP {
		return "xdp"
	}
	return "tc"
}

func partMetadata(m *dataset.Manifest, objs *bpf.Objects) map[string]string {
	cnt, _ := objs.ReadCounters()
	params, _ := json.Marshal(m.Parameters)
	counters, _ := json.Marshal(cnt)
	return map[string]string{
		"tacap.version":           m.Tacap.Version,
		"tacap.commit":            m.Tacap.Commit,
		"tacap.bpf_object_sha256": m.Tacap.BPFObject,
		"tacap.run_id":            m.RunID,
		"tacap.host":              m.Host,
		"tacap.interfaces":        strings.Join(m.Interfaces, ","),
		"tacap.hook":              m.Hook,
		"tacap.kernel_release":    m.KernelRelease,
		"tacap.start":             m.Start.Format(time.RFC3339Nano),
		"tacap.parameters":        string(params),
		"tacap.counters":          string(counters),
	}
}
