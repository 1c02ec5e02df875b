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

	// DrainFlowEnds hands up to max flows the program ended to fn.
	DrainFlowEnds(max int, fn func(*bpf.FlowEnd)) (n, bad int)
	// FlowPending is the number of bytes of ended flows not yet read, and
	// FlowRingSize the capacity of their ring.
	FlowPending() uint64
	FlowRingSize() int
	// ExpireFlows takes every flow whose last packet came before
	// idleBefore (the program's clock) out of the flow table: they come
	// out of DrainFlowEnds, ended idle; drain is called to read them.
	ExpireFlows(idleBefore uint64, drain func()) (int, error)
	// WalkFlows calls fn for every flow in the table.
	WalkFlows(fn func(*bpf.SessionKey, *bpf.FlowStats)) error
}

// loaded is the kernel of a real run: the program loaded by bpf.Load.
type loaded struct{ objs *bpf.Objects }

func (k loaded) Drain(max int, fn func(*bpf.Record)) (int, int) { return k.objs.Ring.Drain(max, fn) }
func (k loaded) Pending() uint64                                { return k.objs.Ring.Pending() }
func (k loaded) RingSize() int                                  { return k.objs.Ring.Size() }
func (k loaded) Counters() (dataset.Counters, error)            { return k.objs.ReadCounters() }

func (k loaded) DrainFlowEnds(max int, fn func(*bpf.FlowEnd)) (int, int) {
	return k.objs.FlowRing.DrainFlowEnds(max, fn)
}
func (k loaded) FlowPending() uint64 { return k.objs.FlowRing.Pending() }
func (k loaded) FlowRingSize() int   { return k.objs.FlowRing.Size() }
func (k loaded) ExpireFlows(before uint64, drain func()) (int, error) {
	return k.objs.ExpireFlows(before, drain)
}
func (k loaded) WalkFlows(fn func(*bpf.SessionKey, *bpf.FlowStats)) error {
	return k.objs.WalkFlows(fn)
}

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
