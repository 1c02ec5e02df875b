package bpf_test

import (
	"net/netip"
	"testing"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/test/oracle"
)

// fieldsOf converts a record to the oracle's field set.
func fieldsOf(r *bpf.Record) oracle.Fields {
	addr := func(b [16]byte) netip.Addr {
		if r.IpVersion == 4 {
			return netip.AddrFrom4([4]byte(b[:4]))
		}
		return netip.AddrFrom16(b)
	}
	return oracle.Fields{
		VlanID: r.VlanId, IPVersion: r.IpVersion, Src: addr(r.SrcAddr), Dst: addr(r.DstAddr),
		Protocol: r.Protocol, SrcPort: r.SrcPort, DstPort: r.DstPort, IPLen: r.IpLen,
		IPFlagsFrag: r.IpFlagsFrag, TTL: r.Ttl, TCPPayloadLen: r.TcpPayloadLen, TCPSeq: r.TcpSeq,
		TCPAck: r.TcpAck, TCPFlags: r.TcpFlags, TCPWindow: r.TcpWindow, UDPPayloadLen: r.UdpPayloadLen,
		ICMPType: r.IcmpType, ICMPCode: r.IcmpCode,
	}
}

// checkAgainstOracle runs one frame through the program (state reset, no
// quotas) and compares the outcome with gopacket's decoding.
func checkAgainstOracle(t testing.TB, o *bpf.Objects, f bpf.ReplayFrame) (oracle.Result, []bpf.Record) {
	t.Helper()
	if err := o.Reset(); err != nil {
		t.Fatal(err)
	}
	if err := o.Replay(f); err != nil {
		t.Fatalf("replay: %v", err)
	}
	c := counters(t, o)
	recs := drain(o)
	want := oracle.Decode(f.Data, int(f.WireLen))
	if c.Seen != 1 || uint64(len(recs)) != c.Recorded {
		t.Fatalf("seen %d, recorded %d, ring gave %d", c.Seen, c.Recorded, len(recs))
	}
	switch want.Class {
	case oracle.Record:
		if len(recs) != 1 {
			t.Fatalf("frame % x\ngopacket decodes a recordable packet (%+v), tacap did not record it: %+v", f.Data, want.Fields, c)
		}
		if got := fieldsOf(&recs[0]); got != want.Fields {
			t.Fatalf("frame % x\n tacap    %+v\n gopacket %+v", f.Data, got, want.Fields)
		}
		if recs[0].TsNs != f.TimeNs {
			t.Fatalf("ts_ns %d, want the frame's %d", recs[0].TsNs, f.TimeNs)
		}
	case oracle.Skip:
		if len(recs) != 0 {
			t.Fatalf("frame % x\ntacap recorded %+v; gopacket says not recordable: %s", f.Data, fieldsOf(&recs[0]), want.Reason)
		}
	}
	return want, recs
}

func loadNoQuota(t testing.TB) *bpf.Objects {
	opts := bpf.DefaultOptions()
	opts.PacketsPerSession = 0
	// One frame per Reset: a small flow table empties fast.
	opts.Flows = 64
	return load(t, opts)
}

// FuzzExtractor feeds arbitrary frames to the kernel program: the verdict is
// always "continue", the counters always add up, and whatever it records
// agrees with gopacket's decoding of the same bytes.
//
//	go test ./bpf -run '^$' -fuzz FuzzExtractor -fuzztime 2m
func FuzzExtractor(f *testing.F) {
	for _, s := range shapes() {
		f.Add(s.frame)
	}
	o := loadNoQuota(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < bpf.MinFrameLen || len(frame) > 3000 {
			return
		}
		checkAgainstOracle(t, o, bpf.ReplayFrame{Data: frame, TimeNs: 1234, Direction: bpf.DirectionIngress})
	})
}
