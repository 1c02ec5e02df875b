// Package relabel rewrites the label columns of existing runs from a new
// rules file (tacap label): every Parquet part and per-flow CSV file a
// run's manifest lists is rewritten under a hidden name and renamed over
// the old one, then the manifest records the new rules. Every other column
// keeps its values. A crash leaves each file either old or new, never
// half-written; running again finishes the job (parts already labelled by
// the same rules are skipped).
package relabel

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/parquet-go/parquet-go"
	"golang.org/x/sys/unix"

	"github.com/tacap/tacap/capture/sink"
	"github.com/tacap/tacap/dataset"
	"github.com/tacap/tacap/labels"
)

// Options say what to relabel with and how.
type Options struct {
	Rules *labels.Rules
	// DryRun counts what would change and writes nothing.
	DryRun bool
	// Workers rewrite files in parallel (0: one per CPU).
	Workers int
	// Now stamps the manifests (nil: time.Now).
	Now func() time.Time
}

// Table counts what relabelling one table of a run did (or would do).
type Table struct {
	Files   int   `json:"files"`
	Skipped int   `json:"skipped"` // parts already labelled by these rules
	Rows    int64 `json:"rows"`
	Changed int64 `json:"changed"` // rows whose label columns change
	// ByLabel counts rows by label after relabelling (skipped parts included).
	ByLabel map[string]int64 `json:"by_label"`
}

// Run is what relabelling did to one run.
type Run struct {
	Dataset  string `json:"dataset"`
	RunID    string `json:"run_id"`
	Manifest string `json:"manifest"`
	// Before are the rules that labelled it until now (nil: a dataset from
	// before labels).
	Before   *dataset.LabelsInfo `json:"before,omitempty"`
	Packets  Table               `json:"packets"`
	Sessions Table               `json:"sessions"`
	Flows    Table               `json:"flows"`
	CSV      Table               `json:"csv"`
}

// ErrBusy marks a dataset another tacap label is rewriting.
var ErrBusy = errors.New("another tacap label is rewriting this dataset")

// Dataset relabels every run of the dataset folder dir.
func Dataset(dir string, opt Options) ([]Run, error) {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	paths, err := filepath.Glob(filepath.Join(dir, dataset.RunsDir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s: no runs (no %s/*.json): not a tacap dataset", dir, dataset.RunsDir)
	}
	sort.Strings(paths)
	unlock, err := lock(dir, opt.DryRun)
	if err != nil {
		return nil, err
	}
	defer unlock()
	m := labels.NewMatcher(opt.Rules)
	var states []*runState
	var jobs []job
	for _, p := range paths {
		st, js, err := planRun(dir, p)
		if err != nil {
			return nil, err
		}
		states = append(states, st)
		jobs = append(jobs, js...)
	}
	// Largest files first, so that the workers finish together.
	sort.SliceStable(jobs, func(i, j int) bool { return jobs[i].size > jobs[j].size })
	err = runJobs(jobs, m, opt, func(st *runState) error { return st.finish(m, opt) })
	for _, st := range states {
		if st.files == 0 { // no file to wait for
			err = errors.Join(err, st.finish(m, opt))
		}
	}
	runs := make([]Run, len(states))
	for i, st := range states {
		runs[i] = st.run
	}
	return runs, err
}

// lock takes the dataset's relabel lock, so two tacap label never rewrite
// the same files; a dry run takes it shared.
func lock(dir string, shared bool) (func(), error) {
	path := filepath.Join(dir, dataset.RunsDir, ".relabel.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, sink.FileMode)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	how := unix.LOCK_EX
	if shared {
		how = unix.LOCK_SH
	}
	if err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", dir, ErrBusy)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

func readManifest(path string) (*dataset.Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m dataset.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: not a run manifest: %w", path, err)
	}
	if m.RunID == "" {
		return nil, fmt.Errorf("%s: not a run manifest: no run_id", path)
	}
	return &m, nil
}

// job is one file to rewrite.
type job struct {
	table string
	path  string
	size  int64
	run   *runState
	into  *Table
}

// runState is one run being relabelled: its files left, and whether one
// failed; it is touched only by the goroutine collecting the results.
type runState struct {
	path    string
	man     *dataset.Manifest
	run     Run
	files   int // the run's files
	pending int // those not done yet
	failed  bool
}

// planRun lists the files of one run.
func planRun(dir, manifestPath string) (*runState, []job, error) {
	man, err := readManifest(manifestPath)
	if err != nil {
		return nil, nil, err
	}
	st := &runState{path: manifestPath, man: man, run: Run{Dataset: dir, RunID: man.RunID, Manifest: manifestPath, Before: man.Labels}}
	r := &st.run
	for _, t := range []*Table{&r.Packets, &r.Sessions, &r.Flows, &r.CSV} {
		t.ByLabel = map[string]int64{}
	}
	var jobs []job
	add := func(table, path string, into *Table) {
		var size int64
		if fi, err := os.Stat(path); err == nil {
			size = fi.Size()
		}
		jobs = append(jobs, job{table, path, size, st, into})
	}
	for _, f := range man.Files.Packets {
		add(dataset.PacketsTable, filepath.Join(dir, f.Path), &r.Packets)
	}
	for _, f := range man.Files.Sessions {
		add(dataset.SessionsTable, filepath.Join(dir, f.Path), &r.Sessions)
	}
	for _, f := range man.Files.Flows {
		add(dataset.FlowsTable, filepath.Join(dir, f.Path), &r.Flows)
	}
	if man.CSV != nil && man.CSV.Dir != "" {
		csvs, _ := filepath.Glob(filepath.Join(dir, man.CSV.Dir, "*.csv"))
		for _, p := range csvs {
			add("csv", p, &r.CSV)
		}
	}
	st.files, st.pending = len(jobs), len(jobs)
	return st, jobs, nil
}

// finish records the new rules in the run's manifest once all its files
// are rewritten.
func (st *runState) finish(m *labels.Matcher, opt Options) error {
	man := st.man
	if opt.DryRun || (man.Labels != nil && man.Labels.SHA256 == m.Rules().SHA256 && m.Rules().SHA256 != "" && unchanged(&st.run)) {
		return nil // nothing to record: these rules labelled it already
	}
	return writeManifest(st.path, man, m.Rules(), st.run.Packets.ByLabel, opt.Now())
}

// runJobs rewrites the files on opt.Workers goroutines; the results are
// collected by the calling goroutine, which owns the runs' states and
// calls done for a run once all its files succeeded.
func runJobs(jobs []job, m *labels.Matcher, opt Options, done func(*runState) error) error {
	type result struct {
		j   job
		t   Table
		err error
	}
	work := make(chan job)
	results := make(chan result)
	var wg sync.WaitGroup
	for range min(opt.Workers, max(1, len(jobs))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := newWorker(m)
			for j := range work {
				w.runID, w.bidirectional = j.run.man.RunID, j.run.man.Parameters.Bidirectional
				t, err := w.file(j, opt.DryRun)
				results <- result{j, t, err}
			}
		}()
	}
	go func() {
		defer close(work)
		for _, j := range jobs {
			work <- j
		}
	}()
	go func() { wg.Wait(); close(results) }()
	var errs []error
	for r := range results {
		st := r.j.run
		st.pending--
		if r.err != nil {
			st.failed = true
			errs = append(errs, r.err)
		} else {
			add(r.j.into, &r.t)
		}
		if st.pending == 0 && !st.failed {
			if err := done(st); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func unchanged(r *Run) bool {
	return r.Packets.Changed+r.Sessions.Changed+r.Flows.Changed+r.CSV.Changed == 0
}

func add(into, t *Table) {
	into.Files += t.Files
	into.Skipped += t.Skipped
	into.Rows += t.Rows
	into.Changed += t.Changed
	for k, v := range t.ByLabel {
		into.ByLabel[k] += v
	}
}

// worker rewrites files on one goroutine, with its own matcher space and
// address cache.
type worker struct {
	m     *labels.Matcher
	sc    *labels.Scratch
	vals  *values
	runID string
	// bidirectional: the run's sessions hold both directions.
	bidirectional bool
	addrs         map[string]netip.Addr
	// lastSrc and lastDst short-cut addrs for the row path.
	lastSrc, lastDst lastAddr
}

func newWorker(m *labels.Matcher) *worker {
	return &worker{m: m, sc: m.NewScratch(), vals: newValues(m), addrs: map[string]netip.Addr{}}
}

// addr parses a row's address text, remembering it (the columns are
// dictionaries of few values).
func (w *worker) addr(s string) netip.Addr {
	a, ok := w.addrs[s]
	if !ok {
		a, _ = netip.ParseAddr(s) // an unparsable address matches no prefix
		if len(w.addrs) >= 1<<20 {
			clear(w.addrs)
		}
		w.addrs[s] = a
	}
	return a
}

func (w *worker) tuple(src, dst string, proto, sport, dport int32) labels.Tuple {
	return labels.TupleOf(w.addr(src), w.addr(dst), uint8(proto), uint16(sport), uint16(dport))
}

func (w *worker) file(j job, dry bool) (Table, error) {
	t := Table{Files: 1, ByLabel: map[string]int64{}}
	var err error
	switch j.table {
	case dataset.PacketsTable:
		err = rewritePart(w, j, dry, sink.PacketNoBounds, &t, func(p *dataset.Packet) (string, bool) {
			old := [3]string{p.Label, p.Attack, p.LabelRule}
			if p.RunID == "" {
				p.RunID = w.runID // a part from before run_id
			}
			tp := w.tuple(p.SrcIP, p.DstIP, p.Protocol, p.SrcPort, p.DstPort)
			w.m.LabelPacket(p, &tp, w.sc)
			return p.Label, old != [3]string{p.Label, p.Attack, p.LabelRule}
		})
	case dataset.SessionsTable:
		err = rewritePart(w, j, dry, nil, &t, func(s *dataset.Session) (string, bool) {
			old := [3]string{s.Label, s.Attack, s.LabelRule}
			if s.RunID == "" {
				s.RunID = w.runID
			}
			tp := w.tuple(s.SrcIP, s.DstIP, s.Protocol, s.SrcPort, s.DstPort)
			w.m.LabelSession(s, &tp, w.bidirectional, w.sc)
			return s.Label, old != [3]string{s.Label, s.Attack, s.LabelRule}
		})
	case dataset.FlowsTable:
		err = rewritePart(w, j, dry, sink.FlowNoBounds, &t, func(f *dataset.Flow) (string, bool) {
			old := [3]string{f.Label, f.Attack, f.LabelRule}
			oldN := f.LabelPackets
			tp := w.tuple(f.SrcIP, f.DstIP, f.Protocol, f.SrcPort, f.DstPort)
			w.m.LabelFlow(f, &tp, w.sc)
			sameN := (oldN == nil) == (f.LabelPackets == nil) && (oldN == nil || *oldN == *f.LabelPackets)
			return f.Label, old != [3]string{f.Label, f.Attack, f.LabelRule} || !sameN
		})
	default:
		err = w.rewriteCSV(j.path, dry, &t)
	}
	return t, err
}

// rewritePart relabels one Parquet part: row group by row group into a
// hidden file beside it, with the same row groups, encoding and metadata
// (the rules' SHA-256 updated), renamed over the part once complete.
// label relabels one row and says its new label and whether it changed;
// a part of today's schema is relabelled as rows instead (rows.go).
func rewritePart[T any](wk *worker, j job, dry bool, noBounds []string, t *Table, label func(*T) (string, bool)) (err error) {
	path, sha := j.path, wk.m.Rules().SHA256
	f, pf, err := sink.OpenPart(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	meta := map[string]string{}
	for _, kv := range pf.Metadata().KeyValueMetadata {
		meta[kv.Key] = kv.Value
	}
	if v, ok := meta[dataset.LabelsSHA256Key]; ok && sha != "" && v == sha {
		t.Skipped = 1 // these rules labelled it: count it, rewrite nothing
		dry = true
	}
	var out *os.File
	var wr *parquet.GenericWriter[T]
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".relabel.tmp")
	if !dry {
		// A hidden file of an interrupted relabel is ours to replace.
		_ = os.Remove(tmp)
		if out, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, st.Mode().Perm()); err != nil {
			return err
		}
		defer func() {
			if err != nil {
				out.Close()
				os.Remove(tmp)
			}
		}()
		var groupRows int64 = 1
		for _, rg := range pf.RowGroups() {
			groupRows = max(groupRows, rg.NumRows())
		}
		wr = parquet.NewGenericWriter[T](out, sink.WriterOptions(groupRows, noBounds)...)
		meta[dataset.LabelsSHA256Key] = sha
		for _, k := range slices.Sorted(maps.Keys(meta)) {
			wr.SetKeyValueMetadata(k, meta[k])
		}
	}
	var fast rowLabeller
	if parquet.EqualNodes(pf.Schema(), parquet.SchemaOf(new(T))) {
		if fast, err = wk.rowsOf(j.table, pf.Schema()); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	tally := func(l string, changed bool) {
		t.ByLabel[l]++
		if changed {
			t.Changed++
		}
	}
	buf := make([]T, 4096)
	var cols [][]parquet.Value
	for _, rg := range pf.RowGroups() {
		var err error
		if fast != nil {
			if cols == nil {
				cols = make([][]parquet.Value, len(rg.ColumnChunks()))
				for c := range cols {
					cols[c] = make([]parquet.Value, 4096)
				}
			}
			var writers []*parquet.ColumnWriter
			if wr != nil {
				writers = wr.ColumnWriters()
			}
			err = sink.ColumnBatches(rg, allLeaves(len(cols)), cols, func(n int) error {
				for i := range n {
					tally(fast(rowView{cols, i}))
				}
				t.Rows += int64(n)
				for c, cw := range writers {
					if _, err := cw.WriteRowValues(cols[c][:n]); err != nil {
						return err
					}
				}
				return nil
			})
		} else {
			err = eachRow(rg, buf, func(rows []T) error {
				for i := range rows {
					tally(label(&rows[i]))
				}
				t.Rows += int64(len(rows))
				if wr != nil {
					_, err := wr.Write(rows)
					return err
				}
				return nil
			})
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if wr != nil {
			if err := wr.Flush(); err != nil { // one row group out per row group in
				return fmt.Errorf("%s: %w", tmp, err)
			}
		}
	}
	if dry {
		return nil
	}
	if err := wr.Close(); err != nil {
		return fmt.Errorf("%s: %w", tmp, err)
	}
	return replace(out, tmp, path)
}

// eachRow reads a row group in chunks of len(buf) rows; rows of files
// from before a column existed read as its zero value.
func eachRow[T any](rg parquet.RowGroup, buf []T, f func([]T) error) error {
	r := parquet.NewGenericRowGroupReader[T](rg)
	defer r.Close()
	for {
		clear(buf)
		n, err := r.Read(buf)
		if n > 0 {
			if ferr := f(buf[:n]); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// allLeaves are the leaf indexes 0 … n-1.
func allLeaves(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// replace syncs and closes out (the hidden tmp) and renames it over path,
// then syncs the folder: readers see the old file or the new one.
func replace(out *os.File, tmp, path string) error {
	if err := out.Sync(); err != nil {
		out.Close()
		os.Remove(tmp)
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// CSV columns the labels are computed from, by their place in
// dataset.PacketColumns.
var csvIndex = func() map[string]int {
	m := map[string]int{}
	for i, c := range dataset.PacketColumns {
		m[c] = i
	}
	return m
}()

// rewriteCSV relabels one per-flow CSV file: every field but the label
// columns is written back as read; a file from before labels gains them.
func (w *worker) rewriteCSV(path string, dry bool, t *Table) (err error) {
	in, err := os.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	r := csv.NewReader(in)
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	withLabels := len(dataset.PacketColumns)
	noLabels := withLabels - 3
	if (len(header) != withLabels && len(header) != noLabels) || !slices.Equal(header[:noLabels], dataset.PacketColumns[:noLabels]) {
		return fmt.Errorf("%s: not a tacap per-flow CSV file (unexpected header)", path)
	}
	r.FieldsPerRecord = len(header)
	var b []byte
	b = appendFields(b, dataset.PacketColumns)
	var p dataset.Packet
	line := 1
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		line++
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		ix := func(c string) int64 {
			v, _ := strconv.ParseInt(rec[csvIndex[c]], 10, 64)
			return v
		}
		p.TsNs = ix("ts_ns")
		var old [3]string
		if len(rec) == withLabels {
			copy(old[:], rec[noLabels:])
		}
		tp := w.tuple(rec[csvIndex["src_ip"]], rec[csvIndex["dst_ip"]], int32(ix("protocol")), int32(ix("src_port")), int32(ix("dst_port")))
		w.m.LabelPacket(&p, &tp, w.sc)
		now := [3]string{p.Label, p.Attack, p.LabelRule}
		t.Rows++
		t.ByLabel[p.Label]++
		if now != old {
			t.Changed++
		}
		b = appendFields(b, append(rec[:noLabels:noLabels], now[:]...))
	}
	if dry || (t.Changed == 0 && len(header) == withLabels) {
		return nil
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".relabel.tmp")
	_ = os.Remove(tmp)
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := out.Write(b); err != nil {
		out.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	return replace(out, tmp, path)
}

func appendFields(b []byte, fields []string) []byte {
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = dataset.AppendCSVField(b, f)
	}
	return append(b, '\n')
}

// writeManifest records the new rules in the run's manifest (the old ones
// go to labels.previous), through a hidden file renamed over it.
func writeManifest(path string, m *dataset.Manifest, rules *labels.Rules, rows map[string]int64, now time.Time) error {
	info := rules.Info()
	if len(rows) > 0 {
		info.RowsByLabel = rows
	}
	when := now.UTC()
	info.Relabelled = &when
	if old := m.Labels; old != nil {
		info.Previous = append(slices.Clone(old.Previous), dataset.LabelsHistory{
			File: old.File, SHA256: old.SHA256, Default: old.Default, Rules: old.Rules, Relabelled: old.Relabelled})
	}
	m.Labels = info
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".relabel.tmp")
	_ = os.Remove(tmp)
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, sink.FileMode)
	if err != nil {
		return err
	}
	if _, err := out.Write(append(data, '\n')); err != nil {
		out.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	return replace(out, tmp, path)
}
