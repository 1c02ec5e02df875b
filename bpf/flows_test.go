package bpf_test

import (
	"math/bits"
	"net/netip"
	"runtime"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/test/frames"
)

// fpkt is one packet of a flow script: which side sends it, when, and its
// TCP flags and window (proto selects UDP, ICMP or TCP).
type fpkt struct {
	fromB   bool
	at      time.Duration
	flags   uint8
	window  uint16
	payload int
}

type flowProto int

const (
	fUDP flowProto = iota
	fTCP
	fICMP
	fTCP6
)

// flowFrame builds the packet between v4a:40000 and v4b:443 (v6 for
// fTCP6); ICMP has no ports.
func flowFrame(proto flowProto, p fpkt) []byte {
	a, b := v4a, v4b
	if proto == fTCP6 {
		a, b = v6a, v6b
	}
	sp, dp := uint16(40000), uint16(443)
	if p.fromB {
		a, b, sp, dp = b, a, dp, sp
	}
	var l3 frames.Layer = frames.IPv4{Src: a, Dst: b, TTL: 64}
	if proto == fTCP6 {
		l3 = frames.IPv6{Src: a, Dst: b, HopLimit: 64}
	}
	var l4 frames.Layer
	switch proto {
	case fUDP:
		l4 = frames.UDP{SrcPort: sp, DstPort: dp}
	case fICMP:
		l4 = frames.ICMP{Type: 8}
		if p.fromB {
			l4 = frames.ICMP{Type: 0}
		}
	default:
		l4 = frames.TCP{SrcPort: sp, DstPort: dp, Flags: p.flags, Window: p.window}
	}
	return frames.Build(eth(), l3, l4, frames.Zeros(p.payload))
}

// flowOut is a flow the program produced: ended (with its reason) or
// still in the table (reason 0).
type flowOut struct {
	key    bpf.SessionKey
	st     bpf.FlowStats
	reason uint32
}

// runFlows replays pkts (time from t0) and returns the ended flows, then
// the open ones, by flow id.
func runFlows(t *testing.T, o *bpf.Objects, proto flowProto, pkts []fpkt) []flowOut {
	t.Helper()
	const t0 = uint64(1_700_000_000 * time.Second)
	if err := o.Reset(); err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if err := o.Replay(bpf.ReplayFrame{Data: flowFrame(proto, p), TimeNs: t0 + uint64(p.at), Direction: bpf.DirectionIngress}); err != nil {
			t.Fatal(err)
		}
	}
	var out []flowOut
	o.FlowRing.DrainFlowEnds(1<<20, func(e *bpf.FlowEnd) { out = append(out, flowOut{e.Key, e.St, e.Reason}) })
	if err := o.WalkFlows(func(k *bpf.SessionKey, st *bpf.FlowStats) { out = append(out, flowOut{*k, *st, 0}) }); err != nil {
		t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].st.Id < out[j].st.Id })
	for i := range out {
		out[i].st.FirstNs -= t0
		out[i].st.LastNs -= t0
		out[i].st.Fwd.FirstNs -= t0 * min(out[i].st.Fwd.Packets, 1)
		out[i].st.Fwd.LastNs -= t0 * min(out[i].st.Fwd.Packets, 1)
		out[i].st.Bwd.FirstNs -= t0 * min(out[i].st.Bwd.Packets, 1)
		out[i].st.Bwd.LastNs -= t0 * min(out[i].st.Bwd.Packets, 1)
	}
	c := counters(t, o)
	if c.FlowsStarted != uint64(len(out))+c.FlowsLost {
		t.Errorf("flows_started %d, but %d flows came out (%d lost)", c.FlowsStarted, len(out), c.FlowsLost)
	}
	var inFlows uint64
	for _, f := range out {
		inFlows += f.st.Packets()
	}
	if want := c.Recordable() - c.FlowTableFull - c.FlowLockTimeout; inFlows != want {
		t.Errorf("flows hold %d packets, want %d (recordable %d, flow_table_full %d)", inFlows, want, c.Recordable(), c.FlowTableFull)
	}
	return out
}

// sq is the sum of squares of vs, as the program's 128-bit (lo, hi).
func sq(vs ...uint64) (lo, hi uint64) {
	for _, v := range vs {
		h, l := bits.Mul64(v, v)
		var c uint64
		lo, c = bits.Add64(lo, l, 0)
		hi += h + c
	}
	return lo, hi
}

const msNs = uint64(time.Millisecond)

// TestFlowRules holds the kernel's flow table to the rules of
// docs/dataset.md ("flows/"), one rule per case, through BPF_PROG_TEST_RUN.
func TestFlowRules(t *testing.T) {
	o := load(t, bpf.Options{})
	short := func(idle, active time.Duration) *bpf.Objects {
		opts := bpf.DefaultOptions()
		opts.FlowIdleTimeout, opts.FlowActiveTimeout = idle, active
		return load(t, opts)
	}
	timeouts := short(2*time.Second, 5*time.Second)
	const (
		S, A, F, R = frames.SYN, frames.ACK, frames.FIN, frames.RST
	)
	type want struct {
		reason   uint32
		fwdIsA   bool
		fwd, bwd uint64
	}
	cases := []struct {
		name  string
		o     *bpf.Objects
		proto flowProto
		pkts  []fpkt
		want  []want
		check func(t *testing.T, fs []flowOut)
	}{
		{
			name: "one-way UDP: gaps and lengths", o: o, proto: fUDP,
			pkts: []fpkt{{at: 0, payload: 10}, {at: 10 * time.Millisecond, payload: 30}, {at: 30 * time.Millisecond, payload: 20}},
			want: []want{{0, true, 3, 0}},
			check: func(t *testing.T, fs []flowOut) {
				st := fs[0].st
				if st.IatMin != 10*msNs || st.IatMax != 20*msNs || st.LastNs-st.FirstNs != 30*msNs {
					t.Errorf("gaps min %d max %d span %d", st.IatMin, st.IatMax, st.LastNs-st.FirstNs)
				}
				if lo, hi := sq(10*msNs, 20*msNs); st.IatSqLo != lo || st.IatSqHi != hi {
					t.Errorf("gap squares (%d, %d), want (%d, %d)", st.IatSqLo, st.IatSqHi, lo, hi)
				}
				if st.Fwd.IatMin != 10*msNs || st.Fwd.IatMax != 20*msNs || st.Bwd.Packets != 0 {
					t.Errorf("fwd gaps %d..%d, bwd %d packets", st.Fwd.IatMin, st.Fwd.IatMax, st.Bwd.Packets)
				}
				// ip_len = 20 + 8 + payload
				if st.Fwd.LenMin != 38 || st.Fwd.LenMax != 58 || st.Fwd.Bytes != 38+58+48 || st.Fwd.Payload != 60 {
					t.Errorf("lengths %d..%d, bytes %d, payload %d", st.Fwd.LenMin, st.Fwd.LenMax, st.Fwd.Bytes, st.Fwd.Payload)
				}
				if lo, hi := sq(38, 58, 48); st.Fwd.LenSqLo != lo || st.Fwd.LenSqHi != hi {
					t.Errorf("length squares %d, want %d", st.Fwd.LenSqLo, lo)
				}
				if st.Recorded != 3 {
					t.Errorf("recorded %d, want 3", st.Recorded)
				}
			},
		},
		{
			name: "both directions of one biflow", o: o, proto: fUDP,
			pkts: []fpkt{{at: 0}, {fromB: true, at: time.Millisecond}, {at: 3 * time.Millisecond}, {fromB: true, at: 7 * time.Millisecond}},
			want: []want{{0, true, 2, 2}},
			check: func(t *testing.T, fs []flowOut) {
				st := fs[0].st
				if st.IatMin != msNs || st.IatMax != 4*msNs || st.Fwd.IatMin != 3*msNs || st.Bwd.IatMin != 6*msNs {
					t.Errorf("gaps all %d..%d fwd %d bwd %d", st.IatMin, st.IatMax, st.Fwd.IatMin, st.Bwd.IatMin)
				}
			},
		},
		{
			name: "idle: a gap of exactly the timeout continues, 1 ns more ends", o: timeouts, proto: fUDP,
			pkts: []fpkt{{at: 0}, {at: 2 * time.Second}, {at: 4*time.Second + 1}},
			want: []want{{bpf.FlowEndIdle, true, 2, 0}, {0, true, 1, 0}},
		},
		{
			name: "active: a packet more than the active timeout after the first", o: timeouts, proto: fUDP,
			pkts: []fpkt{{at: 0}, {at: 1500 * time.Millisecond}, {at: 3 * time.Second}, {at: 4500 * time.Millisecond}, {at: 5*time.Second + 1}},
			want: []want{{bpf.FlowEndActive, true, 4, 0}, {0, true, 1, 0}},
		},
		{
			name: "idle is checked before active", o: timeouts, proto: fUDP,
			pkts: []fpkt{{at: 0}, {at: 6 * time.Second}},
			want: []want{{bpf.FlowEndIdle, true, 1, 0}, {0, true, 1, 0}},
		},
		{
			name: "reuse: FIN ends nothing, the next SYN does", o: o, proto: fTCP,
			pkts: []fpkt{{at: 0, flags: S}, {fromB: true, at: 1, flags: S | A}, {at: 2, flags: A}, {at: 3, flags: F | A},
				{fromB: true, at: 4, flags: F | A}, {at: 5, flags: A}, {at: 6, flags: S}, {fromB: true, at: 7, flags: S | A}},
			want: []want{{bpf.FlowEndReuse, true, 4, 2}, {0, true, 1, 1}},
			check: func(t *testing.T, fs []flowOut) {
				if st := fs[0].st; st.Flags[0] != 2 || st.Flags[1] != 2 || st.Flags[4] != 5 {
					t.Errorf("first flow fin %d syn %d ack %d, want 2 2 5", st.Flags[0], st.Flags[1], st.Flags[4])
				}
			},
		},
		{
			name: "reuse after RST; a retransmitted SYN is no reuse", o: o, proto: fTCP,
			pkts: []fpkt{{at: 0, flags: S}, {at: 1, flags: S}, {fromB: true, at: 2, flags: R | A}, {at: 3, flags: S | A}, {at: 4, flags: S}},
			want: []want{{bpf.FlowEndReuse, true, 3, 1}, {0, true, 1, 0}},
		},
		{
			name: "a SYN-ACK first makes its receiver the source", o: o, proto: fTCP,
			pkts: []fpkt{{fromB: true, at: 0, flags: S | A, window: 100}, {at: 1, flags: A, window: 200}, {fromB: true, at: 2, flags: A, window: 300}},
			want: []want{{0, true, 1, 2}},
			check: func(t *testing.T, fs []flowOut) {
				st := fs[0].st
				if st.Fwd.InitWindow != 200 || st.Bwd.InitWindow != 100 || st.Fwd.HasWindow != 1 || st.Bwd.HasWindow != 1 {
					t.Errorf("init windows fwd %d bwd %d", st.Fwd.InitWindow, st.Bwd.InitWindow)
				}
			},
		},
		{
			name: "a flow of SYN-ACKs only has no forward packet", o: o, proto: fTCP,
			pkts: []fpkt{{fromB: true, at: 0, flags: S | A}, {fromB: true, at: 1, flags: S | A}},
			want: []want{{0, true, 0, 2}},
		},
		{
			name: "the sender of a first packet from b is the source", o: o, proto: fUDP,
			pkts: []fpkt{{fromB: true, at: 0}, {at: 1}},
			want: []want{{0, false, 1, 1}},
		},
		{
			name: "all eight flags, each counted once", o: o, proto: fTCP,
			pkts: []fpkt{{at: 0, flags: S}, {at: 1, flags: frames.PSH}, {at: 2, flags: A}, {at: 3, flags: frames.URG},
				{at: 4, flags: frames.ECE}, {at: 5, flags: frames.CWR}, {at: 6, flags: F}, {at: 7, flags: R}},
			want: []want{{0, true, 8, 0}},
			check: func(t *testing.T, fs []flowOut) {
				for i, n := range fs[0].st.Flags {
					if n != 1 {
						t.Errorf("%s count %d, want 1", bpf.FlowTCPFlags[i], n)
					}
				}
			},
		},
		{
			name: "init window: the first TCP packet's, later ones change nothing", o: o, proto: fTCP,
			pkts: []fpkt{{at: 0, flags: A, window: 7}, {at: 1, flags: A, window: 9}},
			want: []want{{0, true, 2, 0}},
			check: func(t *testing.T, fs []flowOut) {
				if st := fs[0].st; st.Fwd.InitWindow != 7 || st.Bwd.HasWindow != 0 {
					t.Errorf("fwd window %d, bwd has one: %d", st.Fwd.InitWindow, st.Bwd.HasWindow)
				}
			},
		},
		{
			name: "IPv6", o: o, proto: fTCP6,
			pkts: []fpkt{{at: 0, flags: S}, {fromB: true, at: 1, flags: S | A}},
			want: []want{{0, true, 1, 1}},
			check: func(t *testing.T, fs []flowOut) {
				if k := fs[0].key; k.IpVersion != 6 || netip.AddrFrom16(k.AddrA) != v6a || k.PortA != 40000 {
					t.Errorf("key %+v", k)
				}
			},
		},
		{
			name: "ICMP: ports 0, echo and reply are one flow", o: o, proto: fICMP,
			pkts: []fpkt{{at: 0}, {fromB: true, at: 1}},
			want: []want{{0, true, 1, 1}},
			check: func(t *testing.T, fs []flowOut) {
				if k := fs[0].key; k.PortA != 0 || k.PortB != 0 || k.Protocol != 1 {
					t.Errorf("key %+v", k)
				}
				if fs[0].st.Fwd.HasWindow != 0 || fs[0].st.Flags[1] != 0 {
					t.Error("ICMP counted as TCP")
				}
			},
		},
		{
			name: "out of order: a gap of 0, the last time stays", o: o, proto: fUDP,
			pkts: []fpkt{{at: 10 * time.Millisecond}, {at: 5 * time.Millisecond}, {at: 12 * time.Millisecond}},
			want: []want{{0, true, 3, 0}},
			check: func(t *testing.T, fs []flowOut) {
				st := fs[0].st
				if st.IatMin != 0 || st.IatMax != 2*msNs || st.LastNs != 12*msNs || st.FirstNs != 10*msNs {
					t.Errorf("gaps %d..%d first %d last %d", st.IatMin, st.IatMax, st.FirstNs, st.LastNs)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs := runFlows(t, tc.o, tc.proto, tc.pkts)
			if len(fs) != len(tc.want) {
				t.Fatalf("%d flows, want %d: %+v", len(fs), len(tc.want), fs)
			}
			for i, w := range tc.want {
				st := fs[i].st
				if fs[i].reason != w.reason || (st.FwdIsA == 1) != w.fwdIsA || st.Fwd.Packets != w.fwd || st.Bwd.Packets != w.bwd {
					t.Errorf("flow %d: reason %d, fwd is a %d, %d fwd %d bwd; want %+v", i, fs[i].reason, st.FwdIsA, st.Fwd.Packets, st.Bwd.Packets, w)
				}
			}
			if tc.check != nil {
				tc.check(t, fs)
			}
		})
	}
}

// TestFlowAccounting: packets the sampling refuses are still in their
// flow, and a packet whose flow finds no room is counted, never lost.
func TestFlowAccounting(t *testing.T) {
	t.Run("quota-limited packets count in the flow", func(t *testing.T) {
		opts := bpf.DefaultOptions()
		opts.PacketsPerSession, opts.SessionPacketRestart = 2, time.Hour
		o := load(t, opts)
		fs := runFlows(t, o, fUDP, []fpkt{{at: 0}, {at: 1}, {at: 2}, {at: 3}, {at: 4}})
		if len(fs) != 1 || fs[0].st.Packets() != 5 || fs[0].st.Recorded != 2 {
			t.Fatalf("flows %+v, want one of 5 packets, 2 recorded", fs)
		}
		recs := drain(o)
		if len(recs) != 2 || recs[0].FlowId != fs[0].st.Id || recs[1].FlowId != fs[0].st.Id {
			t.Errorf("records carry flow ids %v, want %d", recs, fs[0].st.Id)
		}
	})
	t.Run("a full table counts flow_table_full", func(t *testing.T) {
		opts := bpf.DefaultOptions()
		opts.Flows = 2
		o := load(t, opts)
		if err := o.Reset(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			frame := frames.Build(eth(), ip4(), frames.UDP{SrcPort: uint16(1000 + i), DstPort: 53})
			if err := o.Replay(bpf.ReplayFrame{Data: frame, TimeNs: uint64(i + 1), Direction: bpf.DirectionIngress}); err != nil {
				t.Fatal(err)
			}
		}
		c := counters(t, o)
		if c.FlowTableFull != 1 || c.FlowsStarted != 2 || c.Recorded != 3 {
			t.Fatalf("counters %+v, want 1 flow_table_full, 2 flows, 3 recorded", c)
		}
		recs := drain(o)
		if len(recs) != 3 || recs[2].FlowId != 0 || recs[0].FlowId == 0 {
			t.Errorf("flow ids %d %d %d, want the third 0", recs[0].FlowId, recs[1].FlowId, recs[2].FlowId)
		}
	})
}

// TestExpireFlows: the sweeper takes out exactly the flows idle before the
// given time, and a packet for one afterwards starts a new flow.
func TestExpireFlows(t *testing.T) {
	o := load(t, bpf.Options{})
	if err := o.Reset(); err != nil {
		t.Fatal(err)
	}
	send := func(port uint16, at uint64) {
		frame := frames.Build(eth(), ip4(), frames.UDP{SrcPort: port, DstPort: 53})
		if err := o.Replay(bpf.ReplayFrame{Data: frame, TimeNs: at, Direction: bpf.DirectionIngress}); err != nil {
			t.Fatal(err)
		}
	}
	send(1, 100)
	send(2, 200)
	send(3, 300)
	var got []uint16
	removed, err := o.ExpireFlows(250, func() {
		o.FlowRing.DrainFlowEnds(1<<20, func(e *bpf.FlowEnd) {
			if e.Reason != bpf.FlowEndIdle {
				t.Errorf("swept flow ended %d, want idle", e.Reason)
			}
			got = append(got, e.Key.PortA)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	if removed != 2 || len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("expired %v (%d), want ports 1 and 2", got, removed)
	}
	left := 0
	if err := o.WalkFlows(func(*bpf.SessionKey, *bpf.FlowStats) { left++ }); err != nil || left != 1 {
		t.Fatalf("%d flows left (%v), want 1", left, err)
	}
	send(1, 400)
	c := counters(t, o)
	if c.FlowsStarted != 4 {
		t.Errorf("flows_started %d, want 4 (port 1 again is a new flow)", c.FlowsStarted)
	}
}

// TestFlowEqualEndpoints: a flow from an endpoint to itself has every
// packet forward, also when its first packet is a SYN-ACK.
func TestFlowEqualEndpoints(t *testing.T) {
	o := load(t, bpf.Options{})
	if err := o.Reset(); err != nil {
		t.Fatal(err)
	}
	for i, fl := range []uint8{frames.SYN | frames.ACK, frames.ACK, frames.ACK} {
		frame := frames.Build(eth(), frames.IPv4{Src: v4a, Dst: v4a, TTL: 64}, frames.TCP{SrcPort: 7, DstPort: 7, Flags: fl})
		if err := o.Replay(bpf.ReplayFrame{Data: frame, TimeNs: uint64(i + 1), Direction: bpf.DirectionIngress}); err != nil {
			t.Fatal(err)
		}
	}
	var sts []bpf.FlowStats
	if err := o.WalkFlows(func(_ *bpf.SessionKey, st *bpf.FlowStats) { sts = append(sts, *st) }); err != nil {
		t.Fatal(err)
	}
	if len(sts) != 1 || sts[0].Fwd.Packets != 3 || sts[0].Bwd.Packets != 0 {
		t.Fatalf("flows %+v, want one with 3 forward packets", sts)
	}
}

// TestSweepRacesPackets: the sweeper runs again and again while packets
// of the same flows arrive on another CPU; every packet ends up in exactly
// one flow, and no flow id comes out twice.
func TestSweepRacesPackets(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs")
	}
	opts := bpf.DefaultOptions()
	opts.FlowIdleTimeout = 100 * time.Microsecond
	o := load(t, opts)
	if err := o.Reset(); err != nil {
		t.Fatal(err)
	}
	var clock atomic.Uint64
	clock.Store(1_000_000)
	const packets = 20000
	done := make(chan error, 1)
	go func() {
		defer runtime.UnlockOSThread()
		if err := pinThread(1); err != nil {
			done <- err
			return
		}
		built := make([][]byte, 8)
		for i := range built {
			built[i] = frames.Build(eth(), ip4(), frames.UDP{SrcPort: uint16(2000 + i), DstPort: 53})
		}
		for i := 0; i < packets; i++ {
			// Time moves 10 µs a packet: a flow's packets are 80 µs apart,
			// within the idle timeout, and the sweeper takes flows idle 40 µs.
			ts := clock.Add(10_000)
			if err := o.Replay(bpf.ReplayFrame{Data: built[i%8], TimeNs: ts, Direction: bpf.DirectionIngress}); err != nil {
				done <- err
				return
			}
			// Drain the records so the ring never fills.
			if i%1000 == 0 {
				o.Ring.Drain(1<<20, func(*bpf.Record) {})
			}
		}
		done <- nil
	}()
	ids := map[uint64]bool{}
	var inFlows uint64
	take := func(e *bpf.FlowEnd) {
		if ids[e.St.Id] {
			t.Errorf("flow %d came out twice", e.St.Id)
		}
		ids[e.St.Id] = true
		inFlows += e.St.Packets()
	}
	drainEnds := func() { o.FlowRing.DrainFlowEnds(1<<20, take) }
	sweeps := 0
	for finished := false; !finished; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			finished = true
		default:
		}
		if _, err := o.ExpireFlows(clock.Load()-40_000, drainEnds); err != nil {
			t.Fatal(err)
		}
		sweeps++
	}
	drainEnds()
	if err := o.WalkFlows(func(_ *bpf.SessionKey, st *bpf.FlowStats) {
		if ids[st.Id] {
			t.Errorf("flow %d is both out and in the table", st.Id)
		}
		ids[st.Id] = true
		inFlows += st.Packets()
	}); err != nil {
		t.Fatal(err)
	}
	c := counters(t, o)
	if want := c.Recordable() - c.FlowTableFull - c.FlowLockTimeout; inFlows != want || c.Recordable() != packets {
		t.Fatalf("flows hold %d packets, want %d of %d (counters %+v)", inFlows, want, packets, c)
	}
	if uint64(len(ids)) != c.FlowsStarted-c.FlowsLost {
		t.Fatalf("%d flows came out, %d started, %d lost", len(ids), c.FlowsStarted, c.FlowsLost)
	}
	t.Logf("%d sweeps, %d flows", sweeps, len(ids))
}

// TestFlowTableChurn holds the open-addressing flow table to a model of
// it: flows start while it has room, take every later packet of their key,
// and leave when the sweeper finds them idle. A table of 8 flows in 16
// slots under a random hash seed makes probe sequences collide, removed
// slots sit in them and are cleared again, load after load.
func TestFlowTableChurn(t *testing.T) {
	const flowsMax, keys, rounds = 8, 24, 400
	opts := bpf.DefaultOptions()
	opts.Flows, opts.FlowIdleTimeout, opts.FlowActiveTimeout = flowsMax, time.Hour, time.Hour
	o := load(t, opts)
	if err := o.Reset(); err != nil {
		t.Fatal(err)
	}
	frame := make([][]byte, keys)
	for i := range frame {
		frame[i] = frames.Build(eth(), ip4(), frames.UDP{SrcPort: uint16(3000 + i), DstPort: 53})
	}
	type mflow struct{ packets, last uint64 }
	model := map[uint16]*mflow{} // open flows by source port
	var got, want []uint64       // packets of each flow that came out, by port*1e6+packets
	tableFull := uint64(0)
	ids := map[uint64]bool{}
	takeEnd := func(e *bpf.FlowEnd) {
		if ids[e.St.Id] {
			t.Errorf("flow %d came out twice", e.St.Id)
		}
		ids[e.St.Id] = true
		got = append(got, uint64(e.Key.PortA)*1e6+e.St.Packets())
	}
	rng := uint64(12345)
	next := func(n uint64) uint64 { rng = rng*6364136223846793005 + 1442695040888963407; return (rng >> 33) % n }
	now := uint64(1_000_000)
	for round := 0; round < rounds; round++ {
		for i := 0; i < 6; i++ {
			k := next(keys)
			now += 1000
			port := uint16(3000 + k)
			if err := o.Replay(bpf.ReplayFrame{Data: frame[k], TimeNs: now, Direction: bpf.DirectionIngress}); err != nil {
				t.Fatal(err)
			}
			switch f := model[port]; {
			case f != nil:
				f.packets++
				f.last = now
			case len(model) < flowsMax:
				model[port] = &mflow{1, now}
			default:
				tableFull++
			}
		}
		o.Ring.Drain(1<<20, func(*bpf.Record) {})
		before := now - next(8000)
		if _, err := o.ExpireFlows(before, func() { o.FlowRing.DrainFlowEnds(1<<20, takeEnd) }); err != nil {
			t.Fatal(err)
		}
		for port, f := range model {
			if f.last < before {
				want = append(want, uint64(port)*1e6+f.packets)
				delete(model, port)
			}
		}
	}
	if err := o.WalkFlows(func(k *bpf.SessionKey, st *bpf.FlowStats) {
		takeEnd(&bpf.FlowEnd{Key: *k, St: *st})
	}); err != nil {
		t.Fatal(err)
	}
	for port, f := range model {
		want = append(want, uint64(port)*1e6+f.packets)
	}
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
	if len(got) != len(want) {
		t.Fatalf("%d flows came out, the model has %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("flow %d: port %d with %d packets, the model says port %d with %d",
				i, got[i]/1e6, got[i]%1e6, want[i]/1e6, want[i]%1e6)
		}
	}
	for id := uint64(1); id <= uint64(len(want)); id++ {
		if !ids[id] {
			t.Fatalf("no flow has id %d: ids are not 1 … %d", id, len(want))
		}
	}
	if c := counters(t, o); c.FlowTableFull != tableFull || c.FlowsStarted != uint64(len(want)) {
		t.Fatalf("flow_table_full %d, flows_started %d; the model: %d, %d", c.FlowTableFull, c.FlowsStarted, tableFull, len(want))
	}
	t.Logf("%d flows, %d packets in no flow", len(want), tableFull)
}

// TestFlowInsertRace: both CPUs send the first packets of the same new
// flows at once; each flow starts once and holds both CPUs' packets.
func TestFlowInsertRace(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs")
	}
	const flows, each = 3000, 4
	o := load(t, bpf.DefaultOptions())
	if err := o.Reset(); err != nil {
		t.Fatal(err)
	}
	built := make([][]byte, flows)
	for i := range built {
		built[i] = udpToHost(18, i, 5000)
	}
	// Both CPUs meet before each flow's first packet: their inserts race.
	var arrived [flows]atomic.Int32
	errs := make(chan error, 2)
	for cpu := 0; cpu < 2; cpu++ {
		go func() {
			defer runtime.UnlockOSThread()
			if err := pinThread(cpu); err != nil {
				errs <- err
				return
			}
			for i := 0; i < flows; i++ {
				for arrived[i].Add(1); arrived[i].Load() < 2; {
				}
				for j := 0; j < each/2; j++ {
					if err := o.Replay(bpf.ReplayFrame{Data: built[i], TimeNs: uint64(1000 + i), Direction: bpf.DirectionIngress}); err != nil {
						errs <- err
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	keys := map[bpf.SessionKey]uint64{}
	if err := o.WalkFlows(func(k *bpf.SessionKey, st *bpf.FlowStats) {
		if _, dup := keys[*k]; dup {
			t.Errorf("flow %v is in the table twice", *k)
		}
		keys[*k] = st.Packets()
	}); err != nil {
		t.Fatal(err)
	}
	c := counters(t, o)
	if len(keys) != flows || c.FlowsStarted != flows || c.FlowTableFull+c.FlowLockTimeout != 0 {
		t.Fatalf("%d flows in the table, %d started, counters %+v; want %d", len(keys), c.FlowsStarted, c, flows)
	}
	for k, n := range keys {
		if n != each {
			t.Fatalf("flow %v holds %d packets, want %d", k, n, each)
		}
	}
}

// TestExpireFlowsRingFull: a sweep that removes more flows than the flow
// ring holds goes on where it stopped after each drain, and every flow
// comes out exactly once.
func TestExpireFlowsRingFull(t *testing.T) {
	const flows = 25000 // the ring holds about 10 000
	opts := bpf.DefaultOptions()
	opts.Flows = flows
	o := load(t, opts)
	if err := o.Reset(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < flows; i++ {
		frame := udpToHost(19, i, 7)
		if err := o.Replay(bpf.ReplayFrame{Data: frame, TimeNs: uint64(1000 + i), Direction: bpf.DirectionIngress}); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 0 {
			o.Ring.Drain(1<<20, func(*bpf.Record) {})
		}
	}
	ids := map[uint64]bool{}
	drains := 0
	removed, err := o.ExpireFlows(1<<40, func() {
		drains++
		o.FlowRing.DrainFlowEnds(1<<20, func(e *bpf.FlowEnd) {
			if ids[e.St.Id] {
				t.Errorf("flow %d came out twice", e.St.Id)
			}
			ids[e.St.Id] = true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	left := 0
	if err := o.WalkFlows(func(*bpf.SessionKey, *bpf.FlowStats) { left++ }); err != nil {
		t.Fatal(err)
	}
	if removed != flows || len(ids) != flows || left != 0 || drains < 3 {
		t.Fatalf("removed %d, %d came out in %d drains, %d left; want %d in at least 3 drains, none left", removed, len(ids), drains, left, flows)
	}
}

// udpToHost is a UDP frame from v4a:sport to port 53 of host i of
// 198.NET.0.0/16 (NET 18 or 19): one flow per host.
func udpToHost(net byte, i int, sport uint16) []byte {
	return frames.Build(eth(), frames.IPv4{Src: v4a, Dst: netip.AddrFrom4([4]byte{198, net, byte(i >> 8), byte(i)}), TTL: 64},
		frames.UDP{SrcPort: sport, DstPort: 53})
}
