package sink

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/tacap/tacap/dataset"
)

// CSVs writes one CSV file per session instance (the per-flow CSV files)
// under DIR/csv/RUNID/. Rows are buffered per session and appended to the
// session's hidden file in chunks; Close renames every file into place. At
// most MaxFiles files are made; rows of further sessions are counted in
// Skipped.
type CSVs struct {
	root     *Root
	dir      string // relative to root
	maxFiles int
	sessions map[uint64]*csvFile
	order    []*csvFile
	buffered int
	// SkippedFlows (sessions) and SkippedRows count what the file cap kept
	// out (the manifest's csv.skipped_flows and csv.skipped_rows).
	SkippedFlows, SkippedRows int64
	header                    []byte
}

type csvFile struct {
	name    string
	buf     []byte
	started bool // hidden file exists
	rows    int64
	skipped bool
}

const (
	csvChunk    = 64 << 10 // a session's buffer is appended to its file at this size
	csvBuffered = 64 << 20 // all buffers are flushed beyond this total
)

// NewCSVs prepares csv/RUNID below root.
func NewCSVs(root *Root, runID string, maxFiles int) *CSVs {
	return &CSVs{
		root:     root,
		dir:      filepath.Join(dataset.CSVDir, runID),
		maxFiles: maxFiles,
		sessions: map[uint64]*csvFile{},
		header:   []byte(strings.Join(dataset.PacketColumns, ",") + "\n"),
	}
}

// Add appends row to the file of session id, named name when first seen.
func (c *CSVs) Add(id uint64, name string, row *dataset.Packet) error {
	f := c.sessions[id]
	if f == nil {
		f = &csvFile{name: name}
		if c.maxFiles > 0 && len(c.order) >= c.maxFiles {
			f.skipped = true
			c.SkippedFlows++
		} else {
			c.order = append(c.order, f)
			f.buf = append(f.buf, c.header...)
		}
		c.sessions[id] = f
	}
	if f.skipped {
		c.SkippedRows++
		return nil
	}
	before := len(f.buf)
	f.buf = row.AppendCSV(f.buf)
	f.rows++
	c.buffered += len(f.buf) - before
	if len(f.buf) >= csvChunk {
		if err := c.flush(f); err != nil {
			return err
		}
	}
	if c.buffered >= csvBuffered {
		return c.flushAll()
	}
	return nil
}

func (c *CSVs) hidden(f *csvFile) string { return filepath.Join(c.dir, "."+f.name+".tmp") }

func (c *CSVs) flush(f *csvFile) error {
	if len(f.buf) == 0 {
		return nil
	}
	if !f.started {
		if err := c.root.MkdirAll(c.dir, 0o750); err != nil {
			return err
		}
	}
	n := len(f.buf)
	if err := c.write(f); err != nil {
		return err
	}
	c.buffered -= n
	return nil
}

// write appends f's buffer to its hidden file; it touches only f.
func (c *CSVs) write(f *csvFile) error {
	flags := os.O_WRONLY | os.O_APPEND
	if !f.started {
		flags |= os.O_CREATE | os.O_EXCL
	}
	h, err := c.root.OpenFile(c.hidden(f), flags, FileMode)
	if err != nil {
		return fmt.Errorf("write flow csv: %w", err)
	}
	_, err = h.Write(f.buf)
	if cerr := h.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write flow csv %s: %w", f.name, err)
	}
	f.started = true
	f.buf = f.buf[:0]
	return nil
}

// flushAll writes every buffer, several files at once: creating a file is
// most of the cost, and it waits on the file system more than on the CPU.
func (c *CSVs) flushAll() error {
	if len(c.order) > 0 {
		if err := c.root.MkdirAll(c.dir, 0o750); err != nil {
			return err
		}
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		freed int
	)
	work := make(chan *csvFile)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				n := len(f.buf)
				err := c.write(f)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				if err == nil {
					freed += n
				}
				mu.Unlock()
			}
		}()
	}
	for _, f := range c.order {
		if len(f.buf) > 0 {
			work <- f
		}
	}
	close(work)
	wg.Wait()
	c.buffered -= freed
	return first
}

// Close writes what is buffered and renames every file into place.
func (c *CSVs) Close() (files int, err error) {
	if err := c.flushAll(); err != nil {
		return 0, err
	}
	if len(c.order) == 0 {
		return 0, nil
	}
	// Published without fsync: thousands of fsyncs (a millisecond or more
	// each here, in series or in parallel) would cost more than the whole
	// run. A crash of tacap loses nothing written; a power failure may
	// lose the newest CSV files. The Parquet parts and the manifest are
	// fsynced.
	for _, f := range c.order {
		if !f.started {
			continue
		}
		// Link, not rename: a link never replaces an existing file.
		if err := c.root.Link(c.hidden(f), filepath.Join(c.dir, f.name)); err != nil {
			return files, fmt.Errorf("publish: %w", err)
		}
		if err := c.root.Remove(c.hidden(f)); err != nil {
			return files, err
		}
		files++
	}
	_ = c.root.SyncDir(c.dir)
	return files, nil
}

// Dir is the folder the files go to, relative to the dataset folder.
func (c *CSVs) Dir() string { return c.dir }
