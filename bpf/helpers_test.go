package bpf_test

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/test/testenv"
)

var (
	v4a = netip.MustParseAddr("198.18.0.1")
	v4b = netip.MustParseAddr("198.19.0.2")
	v6a = netip.MustParseAddr("2001:db8::1")
	v6b = netip.MustParseAddr("2001:db8:0:1::2")
)

// load loads the extractor for replay with opts (defaults when zero) and
// pins the test to one CPU, so per-CPU LRU lists and counters behave as on
// one core.
func load(t testing.TB, opts bpf.Options) *bpf.Objects {
	t.Helper()
	testenv.Privileged(t)
	pinCPU(t)
	if opts == (bpf.Options{}) {
		opts = bpf.DefaultOptions()
	}
	opts.Replay = true
	objs, err := bpf.Load(opts)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { objs.Close() })
	return objs
}

func pinCPU(t testing.TB) {
	t.Cleanup(runtime.UnlockOSThread)
	if err := pinThread(0); err != nil {
		t.Fatal(err)
	}
}

// pinThread locks the calling goroutine to its thread and the thread to
// cpu; the caller unlocks the thread when done.
func pinThread(cpu int) error {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin to CPU %d: %w", cpu, err)
	}
	return nil
}

// drain returns every record in the ring.
func drain(o *bpf.Objects) []bpf.Record {
	var out []bpf.Record
	for {
		n, _ := o.Ring.Drain(1<<20, func(r *bpf.Record) { out = append(out, *r) })
		if n == 0 {
			return out
		}
	}
}

func counters(t testing.TB, o *bpf.Objects) bpf.Counters {
	t.Helper()
	c, err := o.ReadCounters()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Check(); err != nil {
		t.Fatal(err)
	}
	return c
}

func addr16(a netip.Addr) (out [16]byte) {
	if a.Is4() {
		b := a.As4()
		copy(out[:], b[:])
		return out
	}
	return a.As16()
}
