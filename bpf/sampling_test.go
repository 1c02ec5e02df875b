package bpf_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/test/frames"
)

// step is one packet of a scripted sequence: which session, when, and the
// counter the sampling algorithm (docs/dataset.md, "Sampling") must move.
type step struct {
	session int           // session number; negative: the reverse direction of -session
	at      time.Duration // time since the start of the script
	want    string        // "recorded" or a not-recorded reason
	drain   bool          // read the ring before this packet
}

func sessionFrame(n int) []byte {
	src, dst := v4a, v4b
	sport, dport := uint16(10000+n), uint16(53)
	if n < 0 {
		src, dst = dst, src
		sport, dport = dport, uint16(10000-n)
	}
	return frames.Build(eth(), frames.IPv4{Src: src, Dst: dst, TTL: 64}, frames.UDP{SrcPort: sport, DstPort: dport}, frames.Zeros(10))
}

func repeat(s step, n int, every time.Duration) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = s
		out[i].at = s.at + time.Duration(i)*every
	}
	return out
}

func seq(parts ...any) []step {
	var out []step
	for _, p := range parts {
		switch v := p.(type) {
		case step:
			out = append(out, v)
		case []step:
			out = append(out, v...)
		}
	}
	return out
}

const ms = time.Millisecond

func TestSampling(t *testing.T) {
	const t0 = 1_000_000 * time.Second // file time far from zero
	base := bpf.Options{Sessions: 3, BufferPackets: 1000, PacketsPerSession: 100, SessionAcceptRestart: 5 * time.Second,
		SessionPacketRestart: time.Second, BufferRestart: time.Second, Flows: 1000, FlowIdleTimeout: time.Hour, FlowActiveTimeout: time.Hour}
	opt := func(f func(*bpf.Options)) bpf.Options { o := base; f(&o); return o }
	page := (os.Getpagesize() - 1) / bpf.RecordSize // records a one-page ring holds (the kernel keeps one byte free)

	cases := []struct {
		name  string
		opts  bpf.Options
		steps []step
		check func(t *testing.T, o *bpf.Objects, c bpf.Counters)
	}{
		{
			name: "table full then accept restart",
			opts: base,
			steps: seq(
				step{1, 0, "recorded", false}, step{2, 1 * ms, "recorded", false}, step{3, 2 * ms, "recorded", false},
				step{4, 3 * ms, "session_table_full", false},
				step{1, 4 * ms, "recorded", false}, // tracked sessions still record
				step{4, 2*ms + 5*time.Second - 1, "session_table_full", false},
				step{4, 2*ms + 5*time.Second, "recorded", false}, // restart: replaces the LRU one
				step{5, 2*ms + 5*time.Second + 1, "recorded", false},
				step{6, 2*ms + 5*time.Second + 2, "recorded", false},
				step{7, 2*ms + 5*time.Second + 3, "session_table_full", false}, // full again
				step{7, 2*ms + 10*time.Second + 2, "recorded", false},
			),
			check: func(t *testing.T, o *bpf.Objects, c bpf.Counters) {
				if n := countSessions(t, o); n != 3 {
					t.Errorf("session table holds %d sessions, want 3", n)
				}
			},
		},
		{
			name: "per-session quota then restart",
			opts: base,
			steps: seq(
				repeat(step{1, 0, "recorded", false}, 100, ms),
				repeat(step{1, 100 * ms, "session_quota", false}, 10, ms),
				step{2, 101 * ms, "recorded", false}, // other sessions are not held back
				step{1, 99*ms + time.Second - 1, "session_quota", false},
				repeat(step{1, 99*ms + time.Second, "recorded", false}, 100, 0),
				step{1, 99*ms + time.Second + 1, "session_quota", false},
			),
			check: func(t *testing.T, o *bpf.Objects, c bpf.Counters) {
				s := lookupSession(t, o, 1)
				if s.PacketsSeen != 212 || s.QuotaRefused != 12 || s.BytesSeen != 212*38 {
					t.Errorf("session 1 = %+v, want 212 seen (%d bytes), 12 refused", s, 212*38)
				}
				// first and last seen: the script's first packet and its last (refused) one.
				if s.FirstNs != uint64(t0) || s.LastSeenNs != uint64(t0+99*ms+time.Second+1) {
					t.Errorf("session 1 first/last seen %d/%d, want %d/%d", s.FirstNs, s.LastSeenNs, uint64(t0), uint64(t0+99*ms+time.Second+1))
				}
			},
		},
		{
			name:  "quota 0 records everything",
			opts:  opt(func(o *bpf.Options) { o.PacketsPerSession = 0 }),
			steps: seq(repeat(step{1, 0, "recorded", false}, 500, 0), repeat(step{2, 0, "recorded", false}, 400, ms)),
		},
		{
			name: "buffer full then pause and resume",
			opts: opt(func(o *bpf.Options) { o.BufferPackets = 1; o.PacketsPerSession = 0 }), // one page
			steps: seq(
				repeat(step{1, 0, "recorded", false}, page, ms),
				step{2, 50 * ms, "buffer_full", false},
				step{1, 51 * ms, "buffer_full", true}, // reading does not end the pause
				step{3, 50*ms + time.Second - 1, "buffer_full", false},
				step{3, 50*ms + time.Second, "recorded", false},
				step{2, 50*ms + time.Second + 1, "recorded", false},
			),
			check: func(t *testing.T, o *bpf.Objects, c bpf.Counters) {
				// session 1's packet in the pause is seen, not recorded.
				if s := lookupSession(t, o, 1); s.PacketsSeen != uint64(page+1) || s.QuotaUsed != uint32(page) {
					t.Errorf("session 1 = %+v, want %d seen, %d recorded", s, page+1, page)
				}
			},
		},
		{
			name: "a failed reservation does not charge the session",
			opts: opt(func(o *bpf.Options) { o.BufferPackets = 1; o.PacketsPerSession = uint32(page); o.BufferRestart = 0 }),
			steps: seq(
				repeat(step{1, 0, "recorded", false}, page-1, 0),
				step{2, 0, "recorded", false},
				step{1, ms, "buffer_full", false},
				step{1, 2 * ms, "recorded", true}, // session 1's last within quota, once there is room
				step{1, 3 * ms, "session_quota", false},
			),
		},
		{
			name: "bidirectional: both directions are one session",
			opts: opt(func(o *bpf.Options) { o.Bidirectional = true; o.PacketsPerSession = 3 }),
			steps: seq(step{1, 0, "recorded", false}, step{-1, 1, "recorded", false}, step{1, 2, "recorded", false},
				step{-1, 3, "session_quota", false}, step{2, 4, "recorded", false}, step{3, 5, "recorded", false},
				step{-4, 6, "session_table_full", false}),
			check: func(t *testing.T, o *bpf.Objects, c bpf.Counters) {
				if n := countSessions(t, o); n != 3 {
					t.Errorf("session table holds %d sessions, want 3", n)
				}
			},
		},
		{
			name: "directional: each direction is its own session",
			opts: opt(func(o *bpf.Options) { o.PacketsPerSession = 3 }),
			steps: seq(step{1, 0, "recorded", false}, step{-1, 1, "recorded", false}, step{1, 2, "recorded", false},
				step{-1, 3, "recorded", false}, step{2, 4, "recorded", false}, step{-2, 5, "session_table_full", false}),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := load(t, tc.opts)
			want := map[string]uint64{}
			recorded := 0
			for i, s := range tc.steps {
				if s.drain {
					recorded += len(drain(o))
				}
				before := counters(t, o)
				if err := o.Replay(bpf.ReplayFrame{Data: sessionFrame(s.session), TimeNs: uint64(t0 + s.at), Direction: bpf.DirectionIngress}); err != nil {
					t.Fatal(err)
				}
				after := counters(t, o)
				if got := movedReason(before, after); got != s.want {
					t.Fatalf("step %d (session %d at %v): counted as %s, want %s", i, s.session, s.at, got, s.want)
				}
				want[s.want]++
			}
			c := counters(t, o)
			recorded += len(drain(o))
			if uint64(recorded) != c.Recorded || c.Recorded != want["recorded"] {
				t.Errorf("ring gave %d records; counters say %d; script says %d", recorded, c.Recorded, want["recorded"])
			}
			if tc.check != nil {
				tc.check(t, o, c)
			}
		})
	}
}

func movedReason(before, after bpf.Counters) string {
	if after.Seen != before.Seen+1 {
		return fmt.Sprintf("seen moved by %d", after.Seen-before.Seen)
	}
	if after.Recorded == before.Recorded+1 {
		return "recorded"
	}
	br, ar := before.Reasons(), after.Reasons()
	for i := range ar {
		if ar[i].Count == br[i].Count+1 {
			return ar[i].Name
		}
	}
	return "nothing"
}

func countSessions(t *testing.T, o *bpf.Objects) int {
	t.Helper()
	var (
		k bpf.SessionKey
		v bpf.Session
		n int
	)
	it := o.Sessions.Iterate()
	for it.Next(&k, &v) {
		n++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

func lookupSession(t *testing.T, o *bpf.Objects, n int) bpf.Session {
	t.Helper()
	k := bpf.SessionKey{AddrA: addr16(v4a), AddrB: addr16(v4b), PortA: uint16(10000 + n), PortB: 53, Protocol: 17, IpVersion: 4}
	var v bpf.Session
	if err := o.Sessions.Lookup(&k, &v); err != nil {
		t.Fatalf("session %d: %v", n, err)
	}
	return v
}
