package capture

import (
	"context"
	"sync"
	"time"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/dataset"
)

// fakeKernel stands in for the loaded program: records wait in a queue as
// in the ring, counters and the session table are set by the test.
type fakeKernel struct {
	mu       sync.Mutex // Counters is read by the writer goroutine too
	queue    []bpf.Record
	counters dataset.Counters
	sessions map[bpf.SessionKey]bpf.Session
	walkErr  error
	// reserved is ring space reserved and never committed: Pending stays
	// above zero though nothing can be read.
	reserved uint64
	ringSize int
	// flows in the table, and flows the program ended, waiting to be read.
	flows    map[bpf.SessionKey]bpf.FlowStats
	flowEnds []bpf.FlowEnd
}

func newFakeKernel() *fakeKernel {
	return &fakeKernel{sessions: map[bpf.SessionKey]bpf.Session{}, ringSize: 1 << 20, flows: map[bpf.SessionKey]bpf.FlowStats{}}
}

// record queues records as the program would: each is counted seen and
// recorded, and its session keeps its running figures.
func (k *fakeKernel) record(recs ...bpf.Record) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, r := range recs {
		k.queue = append(k.queue, r)
		k.counters.Seen++
		k.counters.Recorded++
	}
}

// refuse counts packets the program saw and did not record.
func (k *fakeKernel) refuse(quota, tableFull uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.counters.Seen += quota + tableFull
	k.counters.SessionQuota += quota
	k.counters.SessionTableFull += tableFull
}

func (k *fakeKernel) Drain(max int, fn func(*bpf.Record)) (int, int) {
	k.mu.Lock()
	n := min(max, len(k.queue))
	recs := k.queue[:n]
	k.queue = k.queue[n:]
	k.mu.Unlock()
	for i := range recs {
		fn(&recs[i])
	}
	return n, 0
}

func (k *fakeKernel) Pending() uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return uint64(len(k.queue)*bpf.RecordSize) + k.reserved
}

func (k *fakeKernel) RingSize() int { return k.ringSize }

func (k *fakeKernel) Counters() (dataset.Counters, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.counters, nil
}

func (k *fakeKernel) DrainFlowEnds(max int, fn func(*bpf.FlowEnd)) (int, int) {
	k.mu.Lock()
	n := min(max, len(k.flowEnds))
	ends := k.flowEnds[:n]
	k.flowEnds = k.flowEnds[n:]
	k.mu.Unlock()
	for i := range ends {
		fn(&ends[i])
	}
	return n, 0
}

func (k *fakeKernel) FlowPending() uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return uint64(len(k.flowEnds)) * 512
}

func (k *fakeKernel) FlowRingSize() int { return 1 << 22 }

func (k *fakeKernel) ExpireFlows(before uint64, drain func()) (int, error) {
	k.mu.Lock()
	n := 0
	for key, st := range k.flows {
		if int64(st.LastNs-before) < 0 {
			k.flowEnds = append(k.flowEnds, bpf.FlowEnd{Key: key, Reason: bpf.FlowEndIdle, St: st})
			delete(k.flows, key)
			n++
		}
	}
	k.mu.Unlock()
	drain()
	return n, nil
}

func (k *fakeKernel) WalkFlows(fn func(*bpf.SessionKey, *bpf.FlowStats)) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for key, st := range k.flows {
		fn(&key, &st)
	}
	return nil
}

func (k *fakeKernel) WalkSessions(fn func(bpf.SessionKey, bpf.Session)) error {
	for key, s := range k.sessions {
		fn(key, s)
	}
	return k.walkErr
}

// fakeSource plays steps: each adds to the kernel, then the engine pumps.
// After the steps, leftover is put in the ring (records the final drain
// must find) and feed returns stop.
type fakeSource struct {
	k        *fakeKernel
	steps    []func(*fakeKernel)
	leftover []bpf.Record
	stopAs   string
	stopped  bool
	// untilWriterFails makes feed wait, as the live source's poll loop
	// does, for the writer to fail, and stop with its error.
	untilWriterFails bool
	// now is the program clock the engine reads (0: none yet).
	now uint64
}

func (s *fakeSource) programs() (bpf.ProgramSet, bool) { return 0, true }

func (s *fakeSource) start(_ *bpf.Objects, m *dataset.Manifest) error {
	m.Interfaces, m.Hook = []string{"fake0"}, "fake"
	return nil
}

func (s *fakeSource) wall(ts uint64) int64 { return int64(ts) }
func (s *fakeSource) programNow() uint64   { return s.now }
func (s *fakeSource) flowMargin(time.Duration) (time.Duration, time.Duration) {
	return time.Second, time.Second
}
func (s *fakeSource) ifName(ifindex uint32) string { return "fake0" }

func (s *fakeSource) feed(ctx context.Context, r *run) (string, error) {
	for _, step := range s.steps {
		if ctx.Err() != nil {
			return dataset.StopSignal, nil
		}
		step(s.k)
		if _, err := r.pump(true); err != nil {
			return dataset.StopError, err
		}
	}
	s.k.record(s.leftover...)
	if s.untilWriterFails {
		select {
		case <-r.w.failure():
			return dataset.StopError, r.w.err()
		case <-time.After(10 * time.Second):
			return dataset.StopDeadline, nil
		}
	}
	if s.stopAs == "" {
		return dataset.StopDeadline, nil
	}
	return s.stopAs, nil
}

func (s *fakeSource) stop() error { s.stopped = true; return nil }
func (s *fakeSource) finish(*dataset.Manifest, string) (bool, error, error) {
	return true, nil, nil
}
func (s *fakeSource) progress(*Status) {}
func (s *fakeSource) close() error     { return nil }

// runFake runs the engine over src with cfg (a capture file stands in as
// the source for validation).
func runFake(cfg Config, src *fakeSource) (*Result, error) {
	if cfg.File == "" && len(cfg.Interfaces) == 0 {
		cfg.File = "fake.pcap"
	}
	if cfg.Sampling == (Sampling{}) {
		cfg.Sampling = DefaultSampling()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	root, _, err := prepareOut(cfg.Out)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	r := newRun(cfg, root, src.k, src)
	if err := src.start(nil, &r.m); err != nil {
		return nil, err
	}
	return r.execute(context.Background())
}

// rec is a TCP record of session f (a distinct source port) at time ts, of a
// session first seen at first (ns since the epoch: file time).
func rec(f int, ts, first int64) bpf.Record {
	var r bpf.Record
	r.TsNs = uint64(ts)
	r.SessFirstNs = uint64(first)
	r.IpVersion, r.Protocol, r.Ttl = 4, 6, 64
	r.SrcAddr = [16]byte{198, 18, 0, 1}
	r.DstAddr = [16]byte{198, 18, 0, 2}
	r.SrcPort, r.DstPort = uint16(10000+f), 443
	r.IpLen, r.GsoSegs, r.TcpFlags, r.TcpWindow = 60, 1, 0x02, 512
	r.Direction, r.Ifindex = bpf.DirectionIngress, 2
	r.SessPacketsSeen = 1
	return r
}

// recs returns n records spread over sessions, 1 µs apart from ts.
func recs(n, sessions int, ts int64) []bpf.Record {
	out := make([]bpf.Record, n)
	for i := range out {
		out[i] = rec(i%sessions, ts+int64(i)*1000, ts+int64(i%sessions)*1000)
	}
	return out
}
