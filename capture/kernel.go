package capture

import (
	"fmt"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/dataset"
)

// kernel is what a run needs of the loaded program once packets flow: the
// ring's records, its fill level, the counters and the session table. The
// engine sees nothing else of the kernel, so it is tested against a fake
// (kernel_test.go) without privileges.
type kernel interface {
	// Drain hands up to max committed records to fn, in order; bad counts
	// records of an unexpected size.
	Drain(max int, fn func(*bpf.Record)) (n, bad int)
	// Pending is the number of bytes produced and not yet read.
	Pending() uint64
	// RingSize is the ring's capacity in bytes.
	RingSize() int
	// Counters sums the per-CPU counters. It may be called from any
	// goroutine (the writer asks for them when a part closes).
	Counters() (dataset.Counters, error)
	// WalkSessions calls fn for every entry of the session table.
	WalkSessions(fn func(bpf.SessionKey, bpf.Session)) error
}

// loaded is the kernel of a real run: the program loaded by bpf.Load.
type loaded struct{ objs *bpf.Objects }

func (k loaded) Drain(max int, fn func(*bpf.Record)) (int, int) { return k.objs.Ring.Drain(max, fn) }
func (k loaded) Pending() uint64                                { return k.objs.Ring.Pending() }
func (k loaded) RingSize() int                                  { return k.objs.Ring.Size() }
func (k loaded) Counters() (dataset.Counters, error)            { return k.objs.ReadCounters() }

func (k loaded) WalkSessions(fn func(bpf.SessionKey, bpf.Session)) error {
	var (
		key bpf.SessionKey
		val bpf.Session
	)
	it := k.objs.Sessions.Iterate()
	for it.Next(&key, &val) {
		fn(key, val)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read the session table: %w", err)
	}
	return nil
}
