package capture

import (
	"encoding/json"
	"errors"
	"maps"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tacap/tacap/capture/sink"
	"github.com/tacap/tacap/dataset"
)

// batch is a slice of rows on its way to the writer.
type batch struct {
	flows       []endedFlow // flows that ended, for flows/
	rows        []dataset.Packet
	sessionIDs  []uint64
	newSessions []newSession
}

type newSession struct {
	id   uint64
	name string
}

// sinkFile is what a Parquet part is written to (an *os.File).
type sinkFile = sink.Output

// writer encodes batches on its own goroutine, so the ring is read while
// Parquet is compressed. Its files, CSV state and names are owned by that
// goroutine until close returns; the run's goroutine sees only the
// progress figures (atomics) and, once dead is closed, the failure.
type writer struct {
	packets     *sink.Parts[dataset.Packet]
	sessionsOut *sink.Parts[dataset.Session]
	flowsOut    *sink.Parts[dataset.Flow]
	flowConv    flowConv // set before the first batch
	csv         *sink.CSVs
	csvFiles    int
	names       map[uint64]string
	in          chan *batch
	dead        chan struct{} // closed at the first failure, after failed is set
	done        chan struct{}
	pool        sync.Pool
	written     atomic.Int64
	bytes       atomic.Int64
	failed      error
}

// newWriter starts the writer. meta is the parts' fixed metadata; the
// counters are asked of k when each part closes.
func newWriter(cfg Config, root *sink.Root, runID, host string, meta map[string]string, k kernel) *writer {
	partMeta := func() map[string]string {
		md := maps.Clone(meta)
		cnt, _ := k.Counters()
		counters, _ := json.Marshal(cnt)
		md["tacap.counters"] = string(counters)
		return md
	}
	w := &writer{
		packets: sink.NewParts[dataset.Packet](sink.PartConfig{Root: root, Table: dataset.PacketsTable, Host: host, RunID: runID,
			MaxRows: cfg.PartMaxRows, MaxAge: cfg.PartMaxAge, FirstMaxAge: firstPartMaxAge, Metadata: partMeta, NoBounds: packetNoBounds,
			Create: cfg.createPart}),
		sessionsOut: sink.NewParts[dataset.Session](sink.PartConfig{Root: root, Table: dataset.SessionsTable, Host: host, RunID: runID,
			Metadata: partMeta, Create: cfg.createPart}),
		flowsOut: sink.NewParts[dataset.Flow](sink.PartConfig{Root: root, Table: dataset.FlowsTable, Host: host, RunID: runID,
			MaxRows: cfg.PartMaxRows, MaxAge: cfg.PartMaxAge, Metadata: partMeta, NoBounds: flowNoBounds, Create: cfg.createPart,
			RowGroupRows: flowRowGroup}),
		names: map[uint64]string{},
		in:    make(chan *batch, 8),
		dead:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	if cfg.CSV {
		w.csv = sink.NewCSVs(root, runID, cfg.CSVMaxFiles)
	}
	w.pool.New = func() any {
		return &batch{rows: make([]dataset.Packet, 0, batchRows), sessionIDs: make([]uint64, 0, batchRows)}
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
	case <-w.dead:
		return w.failed
	}
}

// failure is closed once the writer has failed; err then says why.
func (w *writer) failure() <-chan struct{} { return w.dead }

// err is the writer's failure, once failure() is closed.
func (w *writer) err() error { return w.failed }

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
				w.fail(w.write(b))
			}
			b.rows, b.sessionIDs, b.newSessions, b.flows = b.rows[:0], b.sessionIDs[:0], b.newSessions[:0], b.flows[:0]
			w.pool.Put(b)
		case <-tick.C:
			if w.failed == nil {
				w.fail(errors.Join(w.packets.Rotate(), w.flowsOut.Rotate()))
			}
		}
	}
}

func (w *writer) fail(err error) {
	if err != nil {
		w.failed = err
		close(w.dead)
	}
}

func (w *writer) write(b *batch) error {
	if err := w.writeFlows(w.flowConv.convert(b.flows)); err != nil {
		return err
	}
	// A batch may span midnight (UTC): each day's rows go to its folder.
	if err := byDay(b.rows, func(p *dataset.Packet) int64 { return p.TsNs }, w.packets.Write); err != nil {
		return err
	}
	w.written.Add(int64(len(b.rows)))
	w.bytes.Store(w.packets.Bytes())
	if w.csv != nil {
		for _, ns := range b.newSessions {
			w.names[ns.id] = ns.name
		}
		for i := range b.rows {
			if err := w.csv.Add(b.sessionIDs[i], w.names[b.sessionIDs[i]], &b.rows[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeFlows writes rows of flows/, each day's (of its last packet, UTC)
// to that day's folder.
func (w *writer) writeFlows(flows []dataset.Flow) error {
	return byDay(flows, func(f *dataset.Flow) int64 { return f.LastTsNs }, w.flowsOut.Write)
}

// byDay hands write each run of consecutive rows of one UTC day (of the
// time ns gives, ns since the epoch).
func byDay[T any](rows []T, ns func(*T) int64, write func(day string, rows []T) error) error {
	for len(rows) > 0 {
		day := ns(&rows[0]) / dayNs
		n := 1
		for n < len(rows) && ns(&rows[n])/dayNs == day {
			n++
		}
		if err := write(dayOf(ns(&rows[0])), rows[:n]); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

func (w *writer) progress() (rows, bytes int64) { return w.written.Load(), w.bytes.Load() }

// close stops the goroutine, finishes the packet parts, the CSV files and
// the sessions table.
func (w *writer) close(sessionRows []dataset.Session) error {
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
		errs = append(errs, err)
	}
	if w.failed != nil && isDiskFull(w.failed) {
		w.flowsOut.Abort()
	}
	if err := w.flowsOut.Close(); err != nil {
		errs = append(errs, err)
	}
	if w.csv != nil {
		n, err := w.csv.Close()
		w.csvFiles = n
		errs = append(errs, err)
	}
	if len(sessionRows) > 0 {
		day := dayOf(sessionRows[0].FirstTs * 1000)
		if err := w.sessionsOut.Write(day, sessionRows); err != nil {
			w.sessionsOut.Abort()
			errs = append(errs, err)
		} else if err := w.sessionsOut.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (w *writer) files() dataset.Files {
	return dataset.Files{Packets: w.packets.Files(), Sessions: w.sessionsOut.Files(), Flows: w.flowsOut.Files()}
}

const dayNs = int64(24 * time.Hour)

// firstPartMaxAge closes the first packets/ part early (when --rotate-every
// is longer), so that a run killed in its first minute leaves data.
const firstPartMaxAge = 10 * time.Second

var (
	packetNoBounds = sink.PacketNoBounds
	flowNoBounds   = sink.FlowNoBounds
)

// flowRowGroup caps a flows/ row group: a row is ~60 columns wide, and a
// row group is held in memory until it is written.
const flowRowGroup = 1 << 16

func dayOf(ns int64) string { return time.Unix(0, ns).UTC().Format("2006-01-02") }

func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
