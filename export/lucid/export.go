// Package lucid exports tacap datasets as the HDF5 files the LUCID DDoS
// detector (doriguzzi/lucid-ddos) trains on: set_x of shape (N, n, 11), the
// first n packets of each flow in each time window as LUCID's 11
// normalised features, and set_y of shape (N,), 1 for an attack sample
// (docs/dataset.md, "LUCID export"). It streams: memory holds one time
// window's samples, not the dataset.
package lucid

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/tacap/tacap/capture/sink"
	"github.com/tacap/tacap/dataset"
)

// Options say how to build the samples and where to write them.
type Options struct {
	Window     time.Duration // LUCID's time window t (default 10 s; whole seconds)
	MaxPackets int           // n, packets per sample (default 10)
	Name       string        // the dataset id in the file names (default "tacap")
	Split      string        // "none" (one -full file) or "lucid" (balanced, then -train/-val/-test)
	Out        string        // the output folder
	Benign     string        // the label of benign traffic (default "benign")
	// AllowSampled exports runs recorded with a per-session quota below n.
	AllowSampled bool
	// IPv6 includes IPv6 packets (LUCID's parser takes IPv4 only).
	IPv6 bool
	// Reorder is how many rows the time-order buffer holds (default 65 536).
	Reorder int
}

// Splits.
const (
	SplitNone  = "none"
	SplitLUCID = "lucid"
)

// Seed is the seed of the balancing and splitting choices (LUCID's SEED).
const Seed = 1

// ErrSampled marks a run whose per-session quota would cut samples short.
var ErrSampled = errors.New("recorded with a per-session quota smaller than the packets per sample")

// ErrUsage marks options that make no export.
var ErrUsage = errors.New("invalid export options")

// File is one HDF5 file written.
type File struct {
	Path    string `json:"path"`
	Samples int64  `json:"samples"`
	Attack  int64  `json:"attack"`
}

// Result says what was exported.
type Result struct {
	Files    []File   `json:"files"`
	Counts   Counts   `json:"counts"`
	Runs     []string `json:"runs"`
	Rules    []string `json:"rules_sha256,omitempty"` // of the runs' labels
	Manifest string   `json:"-"`                      // the sidecar JSON written beside the files
}

func (o *Options) check() error {
	if o.Window == 0 {
		o.Window = 10 * time.Second
	}
	if o.MaxPackets == 0 {
		o.MaxPackets = 10
	}
	if o.Name == "" {
		o.Name = "tacap"
	}
	if o.Split == "" {
		o.Split = SplitNone
	}
	if o.Benign == "" {
		o.Benign = "benign"
	}
	if o.Reorder == 0 {
		o.Reorder = 1 << 16
	}
	switch {
	case o.Window < time.Second || o.Window%time.Second != 0:
		return fmt.Errorf("%w: the time window must be whole seconds (LUCID's file names carry it as an integer), got %v", ErrUsage, o.Window)
	case o.MaxPackets < 1 || o.MaxPackets > 10000:
		return fmt.Errorf("%w: packets per sample must be 1-10000, got %d", ErrUsage, o.MaxPackets)
	case o.Split != SplitNone && o.Split != SplitLUCID:
		return fmt.Errorf("%w: split must be none or lucid, got %q", ErrUsage, o.Split)
	case o.Out == "":
		return fmt.Errorf("%w: no output folder", ErrUsage)
	case filepath.Base(o.Name) != o.Name || o.Name == "." || o.Name == "..":
		return fmt.Errorf("%w: the name %q must not hold a path", ErrUsage, o.Name)
	}
	return nil
}

// base is the files' common name: {t}t-{n}n-{NAME}-dataset.
func (o *Options) base() string {
	return strconv.Itoa(int(o.Window/time.Second)) + "t-" + strconv.Itoa(o.MaxPackets) + "n-" + o.Name + "-dataset"
}

// run is one run to read.
type run struct {
	dir string
	m   dataset.Manifest
}

// findRuns lists the runs of the datasets, oldest first, refusing sampled
// ones unless allowed.
func findRuns(datasets []string, opt *Options) ([]run, error) {
	var runs []run
	for _, dir := range datasets {
		paths, err := filepath.Glob(filepath.Join(dir, dataset.RunsDir, "*.json"))
		if err != nil {
			return nil, err
		}
		if len(paths) == 0 {
			return nil, fmt.Errorf("%s: no runs (no %s/*.json): not a tacap dataset", dir, dataset.RunsDir)
		}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, err
			}
			var m dataset.Manifest
			if err := json.Unmarshal(b, &m); err != nil || m.RunID == "" {
				return nil, fmt.Errorf("%s: not a run manifest", p)
			}
			q := m.Parameters.PacketsPerSession
			if q != 0 && int(q) < opt.MaxPackets && !opt.AllowSampled {
				return nil, fmt.Errorf("run %s (%s): %w (--packets-per-session %d < %d): its samples would silently miss packets — recapture with --packets-per-session 0, lower the packets per sample, or allow it", m.RunID, dir, ErrSampled, q, opt.MaxPackets)
			}
			runs = append(runs, run{dir, m})
		}
	}
	sort.Slice(runs, func(i, j int) bool {
		a, b := runs[i].m, runs[j].m
		return a.Start.Before(b.Start) || (a.Start.Equal(b.Start) && a.RunID < b.RunID)
	})
	return runs, nil
}

// pass builds every sample of the runs in order and hands it to emit.
func pass(runs []run, opt *Options, counts *Counts, emit func(*sample) error) error {
	rd := newReader()
	for _, r := range runs {
		s := newSampler(int64(opt.Window), opt.MaxPackets, opt.Benign, opt.IPv6, counts, emit)
		q := &reorder{cap: opt.Reorder}
		for _, f := range r.m.Files.Packets {
			if err := rd.readPart(filepath.Join(r.dir, f.Path), func(row *Row) error {
				counts.Rows++
				return q.push(*row, counts, s.add)
			}); err != nil {
				return fmt.Errorf("run %s: %w", r.m.RunID, err)
			}
		}
		if err := q.drain(s.add); err != nil {
			return err
		}
		if err := s.flush(); err != nil {
			return err
		}
	}
	return nil
}

// rowColumns are the packets/ columns a sample needs, in Row's order.
var rowColumns = []string{"ts_ns", "ip_version", "src_ip", "dst_ip", "protocol", "src_port", "dst_port", "ip_len",
	"ip_flags_frag", "tcp_payload_len", "tcp_seq", "tcp_ack", "tcp_flags", "tcp_window", "udp_payload_len", "icmp_type", "label"}

// reader reads rows column by column (only the columns a sample needs, no
// row assembly), interning the strings.
type reader struct {
	cols      [][]parquet.Value
	addrs     *interner
	label     string // the last label read
	labelText []byte
}

func newReader() *reader {
	rd := &reader{cols: make([][]parquet.Value, len(rowColumns)), addrs: newInterner()}
	for i := range rd.cols {
		rd.cols[i] = make([]parquet.Value, 4096)
	}
	return rd
}

// labelOf is a row's label, made a string only when it changes.
func (rd *reader) labelOf(v *parquet.Value) string {
	b := v.ByteArray()
	if rd.labelText == nil || string(b) != string(rd.labelText) {
		rd.label, rd.labelText = string(b), append(rd.labelText[:0:0], b...)
	}
	return rd.label
}

// readPart reads the columns a sample needs from one packets/ part.
func (rd *reader) readPart(path string, f func(*Row) error) error {
	fh, pf, err := sink.OpenPart(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	idx := make([]int, len(rowColumns))
	for i, name := range rowColumns {
		leaf, ok := pf.Schema().Lookup(name)
		if !ok {
			if name == "label" {
				return fmt.Errorf("%s: no label column (written before labels): label it first with tacap label --rules FILE", path)
			}
			return fmt.Errorf("%s: no column %s: not a tacap packets/ part", path, name)
		}
		idx[i] = leaf.ColumnIndex
	}
	var row Row
	for _, rg := range pf.RowGroups() {
		if err := rd.rowGroup(rg, idx, &row, f); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return nil
}

func (rd *reader) rowGroup(rg parquet.RowGroup, idx []int, row *Row, f func(*Row) error) error {
	c := rd.cols
	return sink.ColumnBatches(rg, idx, c, func(n int) error {
		for j := range n {
			*row = Row{TsNs: c[0][j].Int64(), IPVersion: c[1][j].Int32(), src: rd.addrs.id(c[2][j].ByteArray()), dst: rd.addrs.id(c[3][j].ByteArray()),
				Protocol: c[4][j].Int32(), SrcPort: c[5][j].Int32(), DstPort: c[6][j].Int32(), IPLen: c[7][j].Int32(),
				IPFlagsFrag: c[8][j].Int32(), TCPPayloadLen: c[9][j].Int32(), TCPSeq: c[10][j].Int64(), TCPAck: c[11][j].Int64(),
				TCPFlags: c[12][j].Int32(), TCPWindow: c[13][j].Int32(), UDPPayloadLen: c[14][j].Int32(), ICMPType: c[15][j].Int32(),
				Label: rd.labelOf(&c[16][j])}
			if err := f(row); err != nil {
				return err
			}
		}
		return nil
	})
}

// Export writes the LUCID files of the datasets' runs into opt.Out.
func Export(datasets []string, opt Options) (*Result, error) {
	if err := opt.check(); err != nil {
		return nil, err
	}
	runs, err := findRuns(datasets, &opt)
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, errors.New("no runs to export")
	}
	// Pass 1: the samples' classes, to balance and split before writing.
	var first Counts
	var attack []bool
	if err := pass(runs, &opt, &first, func(s *sample) error {
		attack = append(attack, s.attack)
		return nil
	}); err != nil {
		return nil, err
	}
	names, assign := plan(&opt, attack)
	for _, p := range append(outputPaths(&opt, names), filepath.Join(opt.Out, opt.base()+".json")) {
		if _, err := os.Lstat(p); err == nil {
			return nil, fmt.Errorf("%s already exists: tacap never overwrites data — choose another --out or --name", p)
		}
	}
	root, err := openOut(opt.Out)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	outs, err := createOutputs(root, &opt, names, assign, attack)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, o := range outs {
			o.abort()
		}
	}()
	// Pass 2: the same samples again, each written to its file.
	var counts Counts
	x := make([]float64, opt.MaxPackets*Features)
	i := 0
	err = pass(runs, &opt, &counts, func(s *sample) error {
		k := assign[i]
		i++
		if k < 0 {
			return nil
		}
		normalise(s, opt.MaxPackets, opt.Window.Seconds(), x)
		return outs[k].sample(x)
	})
	if err == nil && (i != len(attack) || counts.Samples != first.Samples) {
		err = fmt.Errorf("the second pass made %d samples, the first %d: the datasets changed while exporting", i, len(attack))
	}
	if err != nil {
		return nil, err
	}
	res := &Result{Counts: counts}
	for _, r := range runs {
		res.Runs = append(res.Runs, r.m.RunID)
		if r.m.Labels != nil && r.m.Labels.SHA256 != "" && !contains(res.Rules, r.m.Labels.SHA256) {
			res.Rules = append(res.Rules, r.m.Labels.SHA256)
		}
	}
	for _, o := range outs {
		if err := o.finish(); err != nil {
			return nil, err
		}
		res.Files = append(res.Files, File{Path: o.path, Samples: o.samples, Attack: o.attack})
	}
	outs = nil
	res.Manifest, err = writeSidecar(root, &opt, res)
	return res, err
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// plan says which file each sample goes to (-1: left out by balancing):
// with split none, every sample to -full; with split lucid, as LUCID's
// parser: the classes balanced (all of the smaller, as many of the larger
// chosen at random; everything when a class is empty), then 10 % of them
// to -test, 10 % of the rest to -val, the others to -train, chosen with a
// fixed seed.
func plan(opt *Options, attack []bool) (names []string, assign []int) {
	assign = make([]int, len(attack))
	if opt.Split == SplitNone {
		return []string{"full"}, assign
	}
	rng := rand.New(rand.NewPCG(Seed, Seed))
	var na, nb int
	for _, a := range attack {
		if a {
			na++
		} else {
			nb++
		}
	}
	keepA, keepB := na, nb
	if na > 0 && nb > 0 {
		keepA, keepB = min(na, nb), min(na, nb)
	}
	// Algorithm S (Knuth): each of a class's samples is kept with the
	// probability that leaves exactly keep of them.
	leftA, leftB := na, nb
	var selected []int
	for i, a := range attack {
		var keep bool
		if a {
			keep = rng.IntN(leftA) < keepA
			leftA--
			if keep {
				keepA--
			}
		} else {
			keep = rng.IntN(leftB) < keepB
			leftB--
			if keep {
				keepB--
			}
		}
		assign[i] = -1
		if keep {
			selected = append(selected, i)
		}
	}
	m := len(selected)
	nTest := int(math.Ceil(0.1 * float64(m)))
	nVal := int(math.Ceil(0.1 * float64(m-nTest)))
	left := m
	for _, i := range selected {
		switch r := rng.IntN(left); {
		case r < nTest:
			assign[i] = 2
			nTest--
		case r < nTest+nVal:
			assign[i] = 1
			nVal--
		default:
			assign[i] = 0
		}
		left--
	}
	return []string{"train", "val", "test"}, assign
}

// writeSidecar writes FILES.json beside the files: the options, the runs
// and what was made, so a training set says where it came from.
func writeSidecar(root *sink.Root, opt *Options, res *Result) (string, error) {
	doc := struct {
		Tool       string    `json:"tool"`
		Window     float64   `json:"time_window_s"`
		MaxPackets int       `json:"packets_per_sample"`
		Split      string    `json:"split"`
		Seed       int       `json:"seed"`
		Benign     string    `json:"benign_label"`
		IPv6       bool      `json:"ipv6"`
		Features   []string  `json:"features"`
		Maxima     []float64 `json:"feature_maxima"`
		*Result
	}{"tacap export lucid", opt.Window.Seconds(), opt.MaxPackets, opt.Split, Seed, opt.Benign, opt.IPv6,
		FeatureNames[:], append([]float64{opt.Window.Seconds()}, maxima[1:]...), res}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return "", err
	}
	name := opt.base() + ".json"
	if err := sink.WriteFileNew(root, name, append(b, '\n')); err != nil {
		return "", fmt.Errorf("%s: %w", root.Abs(name), err)
	}
	return root.Abs(name), nil
}

// openOut makes the output folder if needed and opens it.
func openOut(dir string) (*sink.Root, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	return sink.OpenRoot(dir)
}
