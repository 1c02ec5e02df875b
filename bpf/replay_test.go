package bpf_test

import (
	"fmt"
	"testing"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/test/frames"
)

// TestReplayPathsAgree: the single-frame replay (TC entry) and the batched
// one (XDP entry, what --pcap uses) give the same record for the same
// frame: its length on the wire, its GSO segment count, time, direction
// and interface, whatever the frame's length and WireLen.
func TestReplayPathsAgree(t *testing.T) {
	objs := load(t, bpf.Options{})
	tcp := frames.Build(eth(), frames.IPv4{Src: v4a, Dst: v4b, TTL: 64}, frames.TCP{SrcPort: 40000, DstPort: 443, Flags: 0x10}, frames.Zeros(100))
	big := frames.Build(eth(), frames.IPv4{Src: v4a, Dst: v4b, TTL: 64}, frames.TCP{SrcPort: 40001, DstPort: 443, Flags: 0x10}, frames.Zeros(3000))
	for _, tc := range []struct {
		name    string
		data    []byte
		wire    uint32
		gso     uint32
		wantLen uint32 // ip_len: from the IP header, unless Total Length 0
		wantGSO uint32
	}{
		{"plain", tcp, 0, 0, uint32(len(tcp) - 14), 1},
		{"wire longer than captured", tcp[:60], uint32(len(tcp)), 1, uint32(len(tcp) - 14), 1},
		{"gso super-packet", tcp, 0, 5, uint32(len(tcp) - 14), 5},
		{"longer than the kernel takes", big, 0, 3, uint32(len(big) - 14), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := bpf.ReplayFrame{Data: tc.data, TimeNs: 1_000_000_000, Direction: bpf.DirectionEgress, WireLen: tc.wire, GSOSegs: tc.gso, Ifindex: 7}
			var got [2]bpf.Record
			for i, run := range []func() error{
				func() error { return objs.Replay(f) },
				func() error {
					if err := objs.QueueReplay(f); err != nil {
						return err
					}
					return objs.FlushReplay()
				},
			} {
				if err := objs.Reset(); err != nil {
					t.Fatal(err)
				}
				if err := run(); err != nil {
					t.Fatal(err)
				}
				recs := drain(objs)
				if len(recs) != 1 {
					t.Fatalf("path %d: %d records, want 1", i, len(recs))
				}
				got[i] = recs[0]
			}
			for i, r := range got {
				if r.GsoSegs != tc.wantGSO || r.IpLen != tc.wantLen || r.TsNs != 1_000_000_000 || r.Direction != bpf.DirectionEgress || r.Ifindex != 7 {
					t.Errorf("path %d: gso %d ip_len %d ts %d dir %d ifindex %d; want gso %d ip_len %d", i, r.GsoSegs, r.IpLen, r.TsNs, r.Direction, r.Ifindex, tc.wantGSO, tc.wantLen)
				}
			}
			if fmt.Sprint(got[0]) != fmt.Sprint(got[1]) {
				t.Errorf("the two paths differ:\n TC   %+v\n XDP  %+v", got[0], got[1])
			}
		})
	}
}
