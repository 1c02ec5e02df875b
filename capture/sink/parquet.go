// Package sink writes a run's files: Parquet parts in hive folders, per-flow
// CSV files and the manifest. Every file is written under a hidden name and
// renamed into place once complete, and no existing file is ever replaced,
// so readers never see half a file and a crash loses at most the part being
// written.
package sink

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/tacap/tacap/dataset"
)

// FileMode is the mode of every file a run writes.
const FileMode = 0o640

// PartConfig places and bounds the parts of one table.
type PartConfig struct {
	Root  *Root  // the dataset folder (--out)
	Dir   string // or its path, opened (made if missing) with the first part
	Table string // "packets" or "sessions"
	Host  string
	RunID string
	// A part is closed and a new one started after MaxRows rows or MaxAge
	// of writing, whichever comes first (0: no limit).
	MaxRows int64
	MaxAge  time.Duration
	// FirstMaxAge, when shorter, closes the first part sooner, so a run
	// killed early still leaves a readable part.
	FirstMaxAge time.Duration
	// RowGroupRows caps a row group (memory stays flat).
	RowGroupRows int64
	// Metadata is asked for each part's key-value metadata when it closes.
	Metadata func() map[string]string
	// NoBounds lists columns whose pages need no min/max statistics,
	// neither in the column index nor in the page headers (dictionary
	// strings nobody filters by range: computing them, a string compare
	// per value, is a large share of the encoding time).
	NoBounds []string
	// Create makes a part's hidden file (given its absolute path),
	// failing if it exists (nil: opened below Root with O_EXCL). Tests give
	// it files that fail.
	Create func(path string) (Output, error)
	// GenericPackets writes packets/ with parquet-go's row writer instead
	// of the column encoder (tests and benchmarks compare the two). The
	// column encoder writes no page min/max for strings whatever NoBounds
	// says (sink.PacketNoBounds lists them all).
	GenericPackets bool
}

// PacketNoBounds are the packets/ columns written without page min/max
// statistics: strings, filtered by equality (the dictionary serves that).
var PacketNoBounds = []string{"iface", "direction", "src_ip", "dst_ip", "run_id", "label", "attack", "label_rule"}

// FlowNoBounds likewise, for flows/.
var FlowNoBounds = []string{"run_id", "src_ip", "dst_ip", "end_reason", "label", "attack", "label_rule"}

// WriterOptions are how every tacap part is encoded: zstd at its fastest
// level, row groups of at most rowGroupRows rows, no page bounds or page
// statistics for the columns noBounds names (parquet-go computes each
// from the page's values separately: skipping one leaves the other).
func WriterOptions(rowGroupRows int64, noBounds []string) []parquet.WriterOption {
	opts := []parquet.WriterOption{
		parquet.Compression(&zstd.Codec{Level: zstd.SpeedFastest}),
		parquet.MaxRowsPerRowGroup(rowGroupRows),
		parquet.CreatedBy("tacap", "", ""),
	}
	for _, c := range noBounds {
		opts = append(opts, parquet.SkipPageBounds(c), parquet.SkipPageStatistics(c))
	}
	return opts
}

// Output is what a part is written to.
type Output interface {
	io.Writer
	Sync() error
	Close() error
	Stat() (os.FileInfo, error)
}

// createNew creates rel below root, failing if it exists.
func createNew(root *Root, rel string) (*os.File, error) {
	return root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, FileMode)
}

// rowEncoder is what encodes a part's rows: parquet-go's writer, or for
// packets/ the column encoder (packets.go).
type rowEncoder[T any] interface {
	Write(rows []T) (int, error)
	SetKeyValueMetadata(k, v string)
	Close() error
}

func newRowEncoder[T any](f io.Writer, cfg PartConfig) (rowEncoder[T], error) {
	var zero T
	if _, ok := any(zero).(dataset.Packet); ok && !cfg.GenericPackets {
		e, err := newPacketEncoder(f, cfg.RowGroupRows)
		if err != nil {
			return nil, err
		}
		return any(e).(rowEncoder[T]), nil
	}
	return parquet.NewGenericWriter[T](f, WriterOptions(cfg.RowGroupRows, cfg.NoBounds)...), nil
}

// Parts writes rows of T to rotating Parquet part files:
// DIR/TABLE/date=YYYY-MM-DD/host=HOST/part-NNNNN-RUNID.parquet.
type Parts[T any] struct {
	cfg       PartConfig
	seq       int
	cur       *part[T]
	files     []dataset.File
	doneBytes int64
}

type part[T any] struct {
	f          Output
	w          rowEncoder[T]
	tmp, final string // relative to the dataset folder
	rel        string
	day        string
	rows       int64
	opened     time.Time
}

// NewParts makes a writer; no file is created before the first row.
func NewParts[T any](cfg PartConfig) *Parts[T] {
	if cfg.RowGroupRows == 0 {
		cfg.RowGroupRows = 1 << 20
	}
	return &Parts[T]{cfg: cfg}
}

// Write appends rows that all belong to day (YYYY-MM-DD, UTC).
func (p *Parts[T]) Write(day string, rows []T) error {
	for len(rows) > 0 {
		if p.cur != nil && (p.cur.day != day || p.full()) {
			if err := p.closePart(); err != nil {
				return err
			}
		}
		if p.cur == nil {
			if err := p.openPart(day); err != nil {
				return err
			}
		}
		n := len(rows)
		if p.cfg.MaxRows > 0 {
			n = min(n, int(p.cfg.MaxRows-p.cur.rows))
		}
		if _, err := p.cur.w.Write(rows[:n]); err != nil {
			return fmt.Errorf("write %s: %w", p.cur.rel, err)
		}
		p.cur.rows += int64(n)
		rows = rows[n:]
	}
	return nil
}

func (p *Parts[T]) full() bool {
	age := p.cfg.MaxAge
	if first := p.cfg.FirstMaxAge; p.seq == 1 && first > 0 && (age == 0 || first < age) {
		age = first
	}
	return (p.cfg.MaxRows > 0 && p.cur.rows >= p.cfg.MaxRows) ||
		(age > 0 && time.Since(p.cur.opened) >= age)
}

// Rotate closes the current part if it has grown too old, so that a quiet
// capture still completes parts on time.
func (p *Parts[T]) Rotate() error {
	if p.cur != nil && p.full() {
		return p.closePart()
	}
	return nil
}

func (p *Parts[T]) openPart(day string) error {
	if p.cfg.Root == nil {
		if err := os.MkdirAll(p.cfg.Dir, 0o750); err != nil {
			return err
		}
		root, err := OpenRoot(p.cfg.Dir)
		if err != nil {
			return err
		}
		p.cfg.Root = root
	}
	root := p.cfg.Root
	dir := dataset.PartDir(p.cfg.Table, day, p.cfg.Host)
	if err := root.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	name := dataset.PartName(p.seq, p.cfg.RunID)
	p.seq++
	final := filepath.Join(dir, name)
	tmp := filepath.Join(dir, "."+name+".tmp")
	if exists, err := root.Exists(final); err != nil || exists {
		if err == nil {
			err = errors.New("already exists: tacap never overwrites data")
		}
		return fmt.Errorf("%s: %w", root.Abs(final), err)
	}
	var f Output
	var err error
	if p.cfg.Create != nil {
		f, err = p.cfg.Create(root.Abs(tmp))
	} else {
		f, err = createNew(root, tmp)
	}
	if err != nil {
		return fmt.Errorf("create part: %w", err)
	}
	w, err := newRowEncoder[T](f, p.cfg)
	if err != nil {
		f.Close()
		p.cfg.Root.Remove(tmp)
		return fmt.Errorf("create part: %w", err)
	}
	p.cur = &part[T]{f: f, w: w, tmp: tmp, final: final, rel: final, day: day, opened: time.Now()}
	return nil
}

// closePart finishes the current part and publishes it. On failure the
// hidden file is removed: a part that cannot be finished leaves nothing.
func (p *Parts[T]) closePart() error {
	c := p.cur
	p.cur = nil
	if c.rows == 0 {
		c.f.Close()
		return p.cfg.Root.Remove(c.tmp)
	}
	if err := p.finishPart(c); err != nil {
		c.f.Close()
		p.cfg.Root.Remove(c.tmp)
		return err
	}
	p.files = append(p.files, dataset.File{Path: c.rel, Rows: c.rows})
	return nil
}

// finishPart writes c's metadata and footer, then publishes it.
func (p *Parts[T]) finishPart(c *part[T]) error {
	if p.cfg.Metadata != nil {
		md := p.cfg.Metadata()
		keys := make([]string, 0, len(md))
		for k := range md {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			c.w.SetKeyValueMetadata(k, md[k])
		}
		c.w.SetKeyValueMetadata("tacap.part.rows", fmt.Sprint(c.rows))
	}
	if err := c.w.Close(); err != nil {
		return fmt.Errorf("finish %s: %w", c.rel, err)
	}
	if st, err := c.f.Stat(); err == nil {
		p.doneBytes += st.Size()
	}
	return Publish(p.cfg.Root, c.f, c.tmp, c.final)
}

// Close finishes the current part. Files lists every part written.
func (p *Parts[T]) Close() error {
	if p.cur == nil {
		return nil
	}
	return p.closePart()
}

// Abort removes the part being written (used when the disk is full and it
// cannot be finished).
func (p *Parts[T]) Abort() {
	if p.cur != nil {
		p.cur.f.Close()
		p.cfg.Root.Remove(p.cur.tmp)
		p.cur = nil
	}
}

// Bytes is what is on disk so far: completed parts and the part being
// written (its row group in memory not included).
func (p *Parts[T]) Bytes() int64 {
	n := p.doneBytes
	if p.cur != nil {
		if st, err := p.cur.f.Stat(); err == nil {
			n += st.Size()
		}
	}
	return n
}

// Files are the completed parts, in order.
func (p *Parts[T]) Files() []dataset.File { return p.files }

// Rows is the number of rows in completed parts.
func (p *Parts[T]) Rows() int64 {
	var n int64
	for _, f := range p.files {
		n += f.Rows
	}
	return n
}

// Publish syncs f, closes it and gives tmp its final name without
// replacing an existing file (a hard link fails if final exists), then
// syncs the folder. Both names are below root, in one folder.
func Publish(root *Root, f Output, tmp, final string) error {
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", root.Abs(tmp), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", root.Abs(tmp), err)
	}
	if err := root.Link(tmp, final); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if err := root.Remove(tmp); err != nil {
		return err
	}
	_ = root.SyncDir(filepath.Dir(final))
	return nil
}

// WriteFileNew writes data to rel below root through a hidden temporary
// file, failing if rel exists.
func WriteFileNew(root *Root, rel string, data []byte) error {
	if err := root.MkdirAll(filepath.Dir(rel), 0o750); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(rel), "."+filepath.Base(rel)+".tmp")
	f, err := createNew(root, tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		root.Remove(tmp)
		return err
	}
	if err := Publish(root, f, tmp, rel); err != nil {
		root.Remove(tmp)
		return err
	}
	return nil
}
