package bpf_test

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/test/frames"
	"github.com/tacap/tacap/test/testenv"
)

// reasonOf returns the one counter that moved, and fails if several did.
func reasonOf(t *testing.T, c bpf.Counters) string {
	t.Helper()
	if c.Seen != 1 {
		t.Fatalf("seen = %d, want 1", c.Seen)
	}
	moved := []string{}
	if c.Recorded == 1 {
		moved = append(moved, "recorded")
	}
	for _, r := range c.Reasons() {
		if r.Count == 1 {
			moved = append(moved, r.Name)
		}
	}
	if len(moved) != 1 {
		t.Fatalf("counters moved: %v, want exactly one (%+v)", moved, c)
	}
	return moved[0]
}

// TestPacketShapes runs every packet shape of docs/dataset.md ("packets/") through the
// TC program (replay mode, so time is the frame's own) and checks the counter
// that moved and every field of the record.
func TestPacketShapes(t *testing.T) {
	o := load(t, bpf.Options{})
	for _, s := range shapes() {
		t.Run(s.name, func(t *testing.T) {
			if err := o.Reset(); err != nil {
				t.Fatal(err)
			}
			err := o.Replay(bpf.ReplayFrame{Data: s.frame, TimeNs: testTime, Direction: bpf.DirectionEgress, WireLen: s.wireLen, GSOSegs: s.gso})
			if err != nil {
				t.Fatal(err)
			}
			if got := reasonOf(t, counters(t, o)); got != s.reason {
				t.Fatalf("counted as %s, want %s", got, s.reason)
			}
			recs := drain(o)
			if s.reason != "recorded" {
				if len(recs) != 0 {
					t.Fatalf("%d records for a packet not recorded", len(recs))
				}
				return
			}
			if len(recs) != 1 {
				t.Fatalf("%d records, want 1", len(recs))
			}
			if s.want == nil {
				return
			}
			want := *s.want
			if recs[0].FlowId == 0 {
				t.Fatal("recorded packet has no flow")
			}
			want.FlowId = recs[0].FlowId
			want.TsNs, want.SessFirstNs = testTime, testTime
			want.SessPacketsSeen, want.SessBytesSeen = 1, uint64(want.IpLen)
			want.Direction = bpf.DirectionEgress
			want.Ifindex = 1 // test runs happen on loopback
			if !reflect.DeepEqual(recs[0], want) {
				t.Fatalf("record mismatch\n got %+v\nwant %+v", recs[0], want)
			}
		})
	}
}

// TestPacketShapesXDP runs the same shapes through the XDP entry point,
// which shares the parser: same counter, same record (time 0 in replay
// mode, direction ingress, no skb metadata).
func TestPacketShapesXDP(t *testing.T) {
	o := load(t, bpf.Options{})
	for _, s := range shapes() {
		if s.skbOnly {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			if err := o.Reset(); err != nil {
				t.Fatal(err)
			}
			ret, err := o.TacapXdp.Run(&ebpf.RunOptions{Data: s.frame})
			if err != nil {
				t.Fatal(err)
			}
			if ret != 2 {
				t.Fatalf("verdict %d, want XDP_PASS", ret)
			}
			if got := reasonOf(t, counters(t, o)); got != s.reason {
				t.Fatalf("counted as %s, want %s", got, s.reason)
			}
			recs := drain(o)
			if s.reason != "recorded" || s.want == nil {
				return
			}
			want := *s.want
			want.SessPacketsSeen, want.SessBytesSeen = 1, uint64(want.IpLen)
			want.FlowId = 1 // the first flow since Reset
			want.Direction = bpf.DirectionIngress
			want.Ifindex = 1
			if len(recs) != 1 || !reflect.DeepEqual(recs[0], want) {
				t.Fatalf("records %+v, want %+v", recs, want)
			}
		})
	}
}

// TestLiveClockAndDirection loads the program as for live capture: time
// comes from the kernel's monotonic clock and each entry point stamps its
// own direction.
func TestLiveClockAndDirection(t *testing.T) {
	testenv.Privileged(t)
	pinCPU(t)
	o, err := bpf.Load(bpf.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	frame := frames.Build(eth(), ip4(), frames.UDP{SrcPort: 1, DstPort: 2})
	for _, tc := range []struct {
		prog *ebpf.Program
		dir  uint8
		ret  uint32
	}{
		{o.TacapTcIngress, bpf.DirectionIngress, ^uint32(0)},
		{o.TacapTcEgress, bpf.DirectionEgress, ^uint32(0)},
		{o.TacapXdp, bpf.DirectionIngress, 2},
	} {
		var ts unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
		before := uint64(ts.Nano())
		ret, err := tc.prog.Run(&ebpf.RunOptions{Data: frame})
		if err != nil {
			t.Fatal(err)
		}
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
		after := uint64(ts.Nano())
		if ret != tc.ret {
			t.Errorf("%s: verdict %d, want %d", tc.prog, int32(ret), int32(tc.ret))
		}
		recs := drain(o)
		if len(recs) != 1 {
			t.Fatalf("%s: %d records", tc.prog, len(recs))
		}
		if r := recs[0]; r.Direction != tc.dir || r.TsNs < before || r.TsNs > after {
			t.Errorf("%s: direction %d time %d, want %d in [%d, %d]", tc.prog, r.Direction, r.TsNs, tc.dir, before, after)
		}
	}
}

// TestPacketShapesBatched runs every shape through the batched replay entry
// point, each in its own batch and all in one: the same counters and the
// same records as one frame per test run (no skb metadata: GSO rows aside).
func TestPacketShapesBatched(t *testing.T) {
	o := load(t, bpf.Options{})
	var want []bpf.Record
	if err := o.Reset(); err != nil {
		t.Fatal(err)
	}
	all := shapes()
	var n, recorded uint64
	for i, s := range all {
		if s.skbOnly && s.gso > 1 {
			continue
		}
		// Distinct times keep every frame its own session's first packet.
		ts := uint64(testTime + i)
		if err := o.QueueReplay(bpf.ReplayFrame{Data: s.frame, TimeNs: ts, Direction: bpf.DirectionEgress, WireLen: s.wireLen, Ifindex: 1}); err != nil {
			t.Fatal(err)
		}
		n++
		if s.reason == "recorded" {
			recorded++
			if s.want != nil {
				w := *s.want
				w.TsNs = ts
				w.Direction, w.Ifindex = bpf.DirectionEgress, 1
				want = append(want, w)
			}
		}
	}
	if err := o.FlushReplay(); err != nil {
		t.Fatal(err)
	}
	c := counters(t, o)
	if c.Seen != n || c.Recorded != recorded {
		t.Fatalf("batched: seen %d recorded %d, want %d and %d (%+v)", c.Seen, c.Recorded, n, recorded, c)
	}
	recs := drain(o)
	got := map[string]int{}
	for _, r := range recs {
		if r.FlowId == 0 {
			t.Errorf("record without a flow: %+v", r)
		}
		r.SessFirstNs, r.SessPacketsSeen, r.SessBytesSeen, r.SessQuotaRefused, r.FlowId = 0, 0, 0, 0, 0
		got[fmt.Sprintf("%+v", r)]++
	}
	for _, w := range want {
		k := fmt.Sprintf("%+v", w)
		if got[k] == 0 {
			t.Errorf("batched replay lacks record %s", k)
		}
		got[k]--
	}
}
