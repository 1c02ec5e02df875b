package capture

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/capture/sink"
	"github.com/tacap/tacap/dataset"
	"github.com/tacap/tacap/labels"
)

// synthetic returns n records of a realistic mix: 2 000 sessions among 500
// addresses, a few packets in a row per session.
func synthetic(n int) []bpf.Record {
	out := make([]bpf.Record, n)
	for i := range out {
		f := (i / 4) % 2000
		r := &out[i]
		r.TsNs = 1_000_000_000 + uint64(i)*1000
		r.SessFirstNs = uint64(f)
		r.IpVersion, r.Protocol, r.Ttl = 4, 6, 64
		r.SrcAddr = [16]byte{198, 18, byte(f % 250), byte(f % 2)}
		r.DstAddr = [16]byte{198, 19, 0, byte(f % 7)}
		r.SrcPort, r.DstPort = uint16(10000+f), 443
		r.IpLen, r.GsoSegs, r.TcpSeq, r.TcpFlags, r.TcpWindow = 1500, 1, uint32(i*1448), 0x10, 512
		r.Direction, r.Ifindex = 1, 2
		r.SessPacketsSeen = uint32(i/8000 + 1)
	}
	return out
}

// BenchmarkConvert: records to rows and sessions, the reader goroutine's
// work, without rules and with 1 000 rules (benchRules: prefixes, ports,
// protocols and windows, the last matching the synthetic traffic).
//
//	go test ./capture -run '^$' -bench Convert -benchtime 3x
func BenchmarkConvert(b *testing.B) {
	recs := synthetic(1 << 20)
	for _, tc := range []struct {
		name  string
		rules *labels.Rules
	}{{"no-rules", labels.None()}, {"1000-rules", benchRules(b, 1000)}} {
		b.Run(tc.name, func(b *testing.B) {
			c := newConverter(&fakeSource{}, false, "bench", labels.NewMatcher(tc.rules))
			rows := make([]dataset.Packet, len(recs))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range recs {
					c.row(&recs[j], &rows[j])
					c.sessions.add(&recs[j], &rows[j])
				}
			}
			b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// benchRules makes n rules: n-1 that the synthetic records never match,
// then one that matches part of them.
func benchRules(b *testing.B, n int) *labels.Rules {
	var src strings.Builder
	src.WriteString("rules:\n")
	for i := range n - 1 {
		fmt.Fprintf(&src, "  - id: r%d\n    label: l%d\n    src: 10.%d.%d.0/24\n", i, i%7, i/256, i%256)
		if i%2 == 0 {
			fmt.Fprintf(&src, "    dport: %d-%d\n", i, i+100)
		}
		if i%3 == 0 {
			src.WriteString("    proto: udp\n    start: 2026-01-01T00:00:00Z\n    end: 2026-01-02T00:00:00Z\n")
		}
	}
	src.WriteString("  - id: hit\n    label: ddos\n    dst: 0.0.0.0/1\n")
	rs, err := labels.Parse("bench", []byte(src.String()))
	if err != nil {
		b.Fatal(err)
	}
	return rs
}

// BenchmarkWriter: rows into zstd Parquet parts on disk, the writer
// goroutine's work.
//
//	go test ./capture -run '^$' -bench Writer -benchtime 3x
func BenchmarkWriter(b *testing.B) {
	recs := synthetic(1 << 20)
	c := newConverter(&fakeSource{}, false, "bench", labels.NewMatcher(labels.None()))
	rows := make([]dataset.Packet, len(recs))
	for j := range recs {
		c.row(&recs[j], &rows[j])
	}
	for _, tc := range []struct {
		name     string
		generic  bool
		noBounds []string
	}{
		{"tacap", false, packetNoBounds}, // the column encoder
		// baselines: parquet-go's row writer as tacap set it, and with its
		// default statistics on every column
		{"parquet-go", true, packetNoBounds},
		{"parquet-go-string-bounds", true, nil},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var size int64
			for i := 0; i < b.N; i++ {
				p := sink.NewParts[dataset.Packet](sink.PartConfig{Dir: b.TempDir(), Table: "packets", Host: "h", RunID: "bench",
					NoBounds: tc.noBounds, GenericPackets: tc.generic})
				for j := 0; j < len(rows); j += batchRows {
					if err := p.Write("2026-11-26", rows[j:min(j+batchRows, len(rows))]); err != nil {
						b.Fatal(err)
					}
				}
				if err := p.Close(); err != nil {
					b.Fatal(err)
				}
				size = p.Bytes()
			}
			b.ReportMetric(float64(b.N*len(rows))/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(size)/float64(len(rows)), "bytes/row")
		})
	}
}
