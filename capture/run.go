// Package capture runs a capture: load the program, feed it (live
// interfaces or a capture file), read its ring into rows and sessions, stop,
// drain, settle the counters and sessions, close the files and write the
// manifest — one engine for both sources.
package capture

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/capture/attach"
	"github.com/tacap/tacap/capture/sink"
	"github.com/tacap/tacap/dataset"
	"github.com/tacap/tacap/labels"
)

// Ready describes a run that has started.
type Ready struct {
	RunID       string
	MemoryBytes uint64
	Attachments []*attach.Attachment // live runs
}

// Status is a progress snapshot.
type Status struct {
	Elapsed      time.Duration
	Counters     dataset.Counters
	Sessions     int
	RowsWritten  int64
	BytesWritten int64
	Pending      uint64 // ring bytes not yet read
	Draining     bool
	// Capture files: how far the replay is.
	File *FileProgress
	// Live runs: attached interfaces that are down or gone ("eth0 down").
	Interfaces []string
}

// FileProgress is how far a capture file has been read.
type FileProgress struct {
	BytesRead int64
	FileBytes int64
	Frames    int64
}

// Result is what a run produced.
type Result struct {
	Manifest     dataset.Manifest
	ManifestPath string
}

// source feeds the program: live interfaces or a capture file.
type source interface {
	// programs are the entry points the source needs loaded, and whether
	// the program takes times and directions from replayed frames.
	programs() (set bpf.ProgramSet, replay bool)
	// start makes the source ready once the program is loaded (live:
	// attach); it fills the manifest's source fields.
	start(objs *bpf.Objects, m *dataset.Manifest) error
	// wall converts a record's timestamp to nanoseconds since the epoch.
	wall(ts uint64) int64
	// programNow is the program's clock now (live: CLOCK_MONOTONIC; a
	// file: its last frame replayed), 0 before the first frame.
	programNow() uint64
	// flowMargin is how long past the idle timeout a flow waits before
	// user space takes it out of the table, and sweepEvery how often it
	// looks (both on the program's clock).
	flowMargin(idle time.Duration) (margin, sweepEvery time.Duration)
	// ifName names the interface of a record.
	ifName(ifindex uint32) string
	// feed runs until ctx ends or the source is exhausted, calling
	// r.pump whenever records may be waiting. It returns why it stopped.
	feed(ctx context.Context, r *run) (stop string, err error)
	// stop ends the input: nothing new reaches the ring after it.
	stop() error
	// finish records what the source knows at the end in the manifest.
	// whole is false when the input was cut short: the run is then not
	// complete, and note says why, without failing it. fail is a failure
	// the source saw only at the end (a file with no readable frame).
	finish(m *dataset.Manifest, stopped string) (whole bool, note, fail error)
	// progress adds the source's figures to a status snapshot.
	progress(s *Status)
	close() error
}

// Run captures until ctx is done, the deadline (Config.For) passes or the
// capture file ends, then stops the source, drains the ring, settles the
// counters and sessions, closes the files and writes the manifest, in that
// order. A Result is returned whenever a manifest was written, also with an
// error.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var src source
	var err error
	if cfg.Live() {
		src, err = openLive(cfg)
	} else {
		var sums map[string]string
		if sums, err = checkDuplicates(cfg.Files, cfg.Out, cfg.AllowDuplicate); err == nil {
			src, err = openFiles(cfg.Files, sums)
		}
	}
	if err != nil {
		return nil, err
	}
	defer src.close()
	root, undo, err := prepareOut(cfg.Out)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	// Until the run starts, a failure leaves no trace in the dataset
	// folder: the folders made for it go again.
	started := false
	defer func() {
		if !started {
			undo()
		}
	}()
	opts := cfg.options
	opts.Programs, opts.Replay = src.programs()
	objs, err := bpf.Load(opts)
	if err != nil {
		return nil, err
	}
	defer objs.Close()
	if cfg.OnLoad != nil {
		cfg.OnLoad(objs.MemoryBytes)
	}
	r := newRun(cfg, root, loaded{objs}, src)
	if err := src.start(objs, &r.m); err != nil {
		return nil, err
	}
	started = true
	if cfg.OnReady != nil {
		ready := &Ready{RunID: r.m.RunID, MemoryBytes: objs.MemoryBytes}
		if l, ok := src.(*liveSource); ok {
			ready.Attachments = append(ready.Attachments, l.atts...)
		}
		cfg.OnReady(ready)
	}
	if cfg.For > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.For)
		defer cancel()
	}
	return r.execute(ctx)
}

// run is the state of one run; it lives on the goroutine that called Run,
// except the writer, which owns its files on its own goroutine.
type run struct {
	cfg     Config
	root    *sink.Root // the dataset folder: everything is written below it
	k       kernel
	src     source
	m       dataset.Manifest
	conv    *converter
	matcher *labels.Matcher // shared by the converter and the writer; read-only
	w       *writer
	started time.Time

	b          *batch // being filled
	batchStart time.Time
	draining   bool
	nextStatus time.Time

	flows     *flowRows
	onFlowEnd func(*bpf.FlowEnd) // made once: a drain allocates nothing
	nextSweep uint64             // program clock

	reasons reasonTimeline // when packets were refused, by reason
}

// secondIs samples the counters into the reasons' timeline when the run
// reaches a new second (wall clock live, file time for a capture file).
func (r *run) secondIs(sec int64) {
	if r.reasons.in(sec) {
		return
	}
	if c, err := r.k.Counters(); err == nil {
		r.reasons.at(sec, c)
	}
}

// A batch goes to the writer when full or when its first row is this old.
const maxBatchAge = 100 * time.Millisecond

// statusEvery throttles OnStatus.
const statusEvery = 250 * time.Millisecond

func newRun(cfg Config, root *sink.Root, k kernel, src source) *run {
	host, _ := os.Hostname()
	start := time.Now().UTC()
	r := &run{cfg: cfg, root: root, k: k, src: src, started: start}
	r.m = dataset.Manifest{
		Tacap: cfg.Build, RunID: newRunID(start), Host: sanitize(host), KernelRelease: kernelRelease(),
		Start: start, Parameters: parametersOf(cfg.options),
	}
	rules := cfg.Labels
	if rules == nil {
		rules = labels.None()
	}
	r.matcher = labels.NewMatcher(rules)
	r.m.Labels = rules.Info()
	r.conv = newConverter(src, cfg.options.Bidirectional, r.m.RunID, r.matcher)
	r.flows = newFlowRows()
	r.onFlowEnd = func(e *bpf.FlowEnd) { r.flows.add(r.b, &e.Key, &e.St, flowEndName[e.Reason]) }
	return r
}

// execute feeds, stops, drains and finishes the run.
func (r *run) execute(ctx context.Context) (*Result, error) {
	// The writer's copy of the part metadata is its own: fixed now, with
	// the counters asked of the kernel when a part closes.
	r.w = newWriter(r.cfg, r.root, r.m.RunID, r.m.Host, partMetadata(&r.m), r.k)
	r.w.flowConv = flowConv{runID: r.m.RunID, wall: r.src.wall, addrs: newAddrText(), labels: newLabeller(r.matcher)}
	r.b, r.batchStart = r.w.get(), time.Now()
	stop, runErr := r.src.feed(ctx, r)
	// Stop the input first, so nothing new arrives, then drain what is left.
	stopErr := r.src.stop()
	// Whatever stopped the source, what the kernel recorded is kept (a
	// failed writer refuses it at once).
	err := r.drainRest()
	if err == nil {
		err = r.endFlows()
	}
	if err == nil {
		err = r.flush()
	}
	if runErr == nil {
		runErr = err
	}
	if runErr != nil {
		stop = dataset.StopError
	}
	r.m.StopReason = stop
	whole, note, fail := r.src.finish(&r.m, stop)
	res, err := r.finish(runErr, whole, note, stopErr)
	if err == nil {
		// A detach failure or an unreadable file: the dataset is whole,
		// the run failed.
		err = errors.Join(fail, stopErr)
	}
	return res, err
}

// pump reads records from the ring into rows — one batch's worth, or with
// all until the ring is empty — handing each full batch (or one whose first
// row waited maxBatchAge) to the writer, and returns how many it read. It
// is the one path from the ring to the files.
func (r *run) pump(all bool) (int, error) {
	total := 0
	for {
		want := batchRows - len(r.b.rows)
		n := r.conv.fill(r.k, r.b, want)
		total += n
		if err := r.tendFlows(); err != nil {
			return total, err
		}
		waiting := len(r.b.rows) > 0 || len(r.b.flows) > 0
		if len(r.b.rows) >= batchRows || (waiting && time.Since(r.batchStart) >= maxBatchAge) {
			if err := r.flush(); err != nil {
				return total, err
			}
		}
		if !all || n < want {
			break // one batch asked for, or the ring is empty (the rest not committed yet)
		}
	}
	r.status()
	return total, nil
}

// flush hands the batch being filled, if any, to the writer, with the
// flows ended since the last.
func (r *run) flush() error {
	if len(r.b.rows) == 0 && len(r.b.flows) == 0 {
		return nil
	}
	if err := r.w.put(r.b); err != nil {
		return err
	}
	r.b, r.batchStart = r.w.get(), time.Now()
	return nil
}

// tendFlows reads the flows the program ended and, when a sweep is due,
// takes the flows that went idle out of the table.
func (r *run) tendFlows() error {
	r.drainFlowEnds()
	now := r.src.programNow()
	if now == 0 || now < r.nextSweep {
		return nil
	}
	idle := r.cfg.options.FlowIdleTimeout
	margin, every := r.src.flowMargin(idle)
	r.nextSweep = now + uint64(every)
	if now <= uint64(idle+margin) {
		return nil
	}
	_, err := r.k.ExpireFlows(now-uint64(idle+margin), r.drainFlowEnds)
	return err
}

func (r *run) drainFlowEnds() {
	for {
		n, bad := r.k.DrainFlowEnds(4096, r.onFlowEnd)
		r.conv.badRecords += bad
		if n+bad < 4096 {
			return
		}
	}
}

// endFlows writes the flows still open when the run ends: idle when their
// last packet is more than the idle timeout before the end (live: now; a
// file: its last frame), else "end", in the order they started within
// each day of their last packet.
func (r *run) endFlows() error {
	r.drainFlowEnds()
	end := r.src.programNow()
	idle := int64(r.cfg.options.FlowIdleTimeout)
	start := len(r.b.flows)
	err := r.k.WalkFlows(func(k *bpf.SessionKey, st *bpf.FlowStats) {
		reason := dataset.FlowEndEnd
		if int64(end-st.LastNs) > idle {
			reason = dataset.FlowEndIdle
		}
		r.flows.add(r.b, k, st, reason)
	})
	last := r.b.flows[start:]
	day := func(e *endedFlow) int64 { return r.src.wall(e.st.LastNs) / dayNs }
	sort.Slice(last, func(i, j int) bool {
		di, dj := day(&last[i]), day(&last[j])
		return di < dj || (di == dj && last[i].st.Id < last[j].st.Id)
	})
	return err
}

// drainRest reads what the kernel committed before the source stopped. A
// program still running on another CPU finishes within microseconds; a
// record reserved and not yet committed is waited for up to DrainTimeout.
func (r *run) drainRest() error {
	r.draining = true
	deadline := time.Now().Add(r.cfg.DrainTimeout)
	for {
		select {
		case <-r.cfg.SkipDrain:
			r.m.DrainSkipped = true
			return nil
		default:
		}
		n, err := r.pump(false)
		if err != nil {
			return err
		}
		if n == 0 {
			if r.k.Pending() == 0 || time.Now().After(deadline) {
				return nil
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// status reports progress, at most every statusEvery.
func (r *run) status() {
	if r.cfg.OnStatus == nil {
		return
	}
	now := time.Now()
	if now.Before(r.nextStatus) {
		return
	}
	r.nextStatus = now.Add(statusEvery)
	cnt, _ := r.k.Counters()
	rows, bytes := r.w.progress()
	s := Status{
		Elapsed: now.Sub(r.started), Counters: cnt, Sessions: r.conv.sessions.count(), RowsWritten: rows,
		BytesWritten: bytes, Pending: r.k.Pending(), Draining: r.draining,
	}
	r.src.progress(&s)
	r.cfg.OnStatus(s)
}

// finish settles the run after its last record was read: final counters,
// the sessions still in the kernel's table, the files closed, and the
// manifest written. The run is complete when whole is true, runErr is nil,
// settling succeeded and every recorded packet was written; notes go into
// the manifest without failing the run.
func (r *run) finish(runErr error, whole bool, notes ...error) (*Result, error) {
	m := &r.m
	m.End = time.Now().UTC()
	counters, cerr := r.k.Counters()
	m.Counters = counters
	if cerr == nil {
		r.reasons.add(counters)
	}
	m.CountersTimeline = r.reasons.manifest()
	serr := r.k.WalkSessions(r.conv.sessions.settle)
	writeErr := r.w.close(r.conv.sessions.rows(m.RunID, r.src.wall, r.conv.labels))
	m.Files = r.w.files()
	m.RowsWritten = r.w.packets.Rows()
	m.RecordedNotWritten = int64(counters.Recorded) - m.RowsWritten
	if r.w.csv != nil {
		m.CSV = &dataset.CSVInfo{Dir: r.w.csv.Dir(), Files: r.w.csvFiles, MaxFiles: r.cfg.CSVMaxFiles,
			SkippedFlows: r.w.csv.SkippedFlows, SkippedRows: r.w.csv.SkippedRows}
	}
	m.Sessions = int64(r.conv.sessions.count())
	m.Labels.RowsByLabel = r.conv.labels.rows()
	ferr := r.flowsInfo(counters)
	if m.DrainSkipped && m.RecordedNotWritten == 0 && m.Flows.NotWritten == 0 {
		// The second Ctrl-C came when everything had been read: it
		// skipped nothing, and the flows can be checked after all.
		m.DrainSkipped = false
		ferr = r.flowsInfo(counters)
	}
	failures := []error{runErr, cerr, serr, writeErr, ferr}
	m.Complete = whole && errors.Join(failures...) == nil && m.RecordedNotWritten == 0 && m.Flows.NotWritten == 0
	for _, e := range append(failures, notes...) {
		if e != nil {
			m.Errors = append(m.Errors, e.Error())
		}
	}
	m.Process = processUsage()
	path, merr := writeManifest(r.root, m)
	return &Result{Manifest: *m, ManifestPath: path}, errors.Join(append(failures, merr)...)
}

// flowsInfo fills the manifest's flows figures, and checks that every
// flow the program started is a row (or was lost, and counted).
func (r *run) flowsInfo(c dataset.Counters) error {
	m := &r.m
	m.Flows = dataset.FlowsInfo{Written: r.w.flowsOut.Rows(), ByEndReason: r.flows.byReason}
	made := r.flows.made()
	m.Flows.NotWritten = made - m.Flows.Written
	if m.DrainSkipped {
		return nil
	}
	if uint64(made) != c.FlowsStarted-c.FlowsLost {
		return fmt.Errorf("flows do not add up: the program started %d and lost %d, but %d ended", c.FlowsStarted, c.FlowsLost, made)
	}
	return nil
}

// ErrOutput marks a dataset folder that cannot be written.
var ErrOutput = errors.New("output folder not writable")

// prepareOut makes the dataset folder, refuses one with a symbolic link
// anywhere below it, and checks that a run can write it. undo removes the
// folders it made, if they are still empty.
func prepareOut(dir string) (root *sink.Root, undo func(), err error) {
	var made []string // deepest last
	for d := filepath.Join(dir, dataset.RunsDir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		made = append([]string{d}, made...)
	}
	undo = func() {
		for i := len(made) - 1; i >= 0; i-- {
			_ = os.Remove(made[i]) // fails, harmlessly, once a folder is not empty
		}
	}
	fail := func(err error) (*sink.Root, func(), error) {
		if root != nil {
			root.Close()
		}
		undo()
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrOutput, dir, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fail(err)
	}
	if root, err = sink.OpenRoot(dir); err != nil {
		return fail(err)
	}
	if err := root.CheckNoSymlinks(); err != nil {
		return fail(err)
	}
	if err := root.MkdirAll(dataset.RunsDir, 0o750); err != nil {
		return fail(err)
	}
	probe := filepath.Join(dataset.RunsDir, ".probe-"+newRunID(time.Now()))
	f, err := root.OpenFile(probe, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fail(err)
	}
	f.Close()
	root.Remove(probe)
	return root, undo, nil
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

// partMetadata is the key-value metadata of every Parquet part, fixed at
// the start of the run (the counters are added when a part closes).
func partMetadata(m *dataset.Manifest) map[string]string {
	params, _ := json.Marshal(m.Parameters)
	sha := ""
	if m.Labels != nil {
		sha = m.Labels.SHA256
	}
	return map[string]string{
		dataset.LabelsSHA256Key:   sha,
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
	}
}
