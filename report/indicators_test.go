package report

import (
	"fmt"
	"slices"
	"testing"

	"github.com/tacap/tacap/dataset"
)

// TestIndicators: each indicator fires on its pattern at the threshold and
// stays quiet just below it and on look-alike ordinary traffic.
func TestIndicators(t *testing.T) {
	const victim = "198.18.1.1"
	spoofed := func(i int) string { return fmt.Sprintf("198.19.%d.%d", i/250, i%250+1) }
	synFlood := func(n int) []pkt {
		var ps []pkt
		for i := 0; i < n; i++ {
			ps = append(ps, pkt{t: at(i), src: spoofed(i), dst: victim, proto: 6, sport: int32(1024 + i), dport: 80, flags: flagSYN, ipLen: 40})
		}
		return ps
	}
	udpBurst := func(n, spreadMs int, from string, sport, dport int32, size int32) []pkt {
		var ps []pkt
		for i := 0; i < n; i++ {
			ps = append(ps, pkt{t: at(i * spreadMs / max(n, 1)), src: from, dst: victim, proto: 17, sport: sport, dport: dport, ipLen: size, payload: size - 28})
		}
		return ps
	}
	for _, tc := range []struct {
		name  string
		pkts  func() []pkt
		flows func([]dataset.Packet) []dataset.Flow // nil: from the packets
		want  []string                              // kinds that fire, in report order
	}{
		{"syn flood at threshold", func() []pkt { return synFlood(200) }, nil, []string{"syn_flood"}},
		{"syn flood below threshold", func() []pkt { return synFlood(199) }, nil, nil},
		{"many completed handshakes are no syn flood", func() []pkt {
			var ps []pkt
			for i := 0; i < 99; i++ {
				ps = append(ps, handshake(i*10, spoofed(i), 5000, victim, 443)...)
			}
			return ps
		}, nil, nil},
		{"connection flood", func() []pkt {
			var ps []pkt
			for i := 0; i < 100; i++ {
				ps = append(ps, handshake(i*10, "198.18.0.7", int32(30000+i), victim, 80)...)
			}
			return ps
		}, nil, []string{"connection_flood"}},
		{"udp flood", func() []pkt { return udpBurst(1000, 900, "198.18.0.7", 4444, 9, 128) }, nil, []string{"udp_flood"}},
		{"udp below threshold", func() []pkt { return udpBurst(999, 900, "198.18.0.7", 4444, 9, 128) }, nil, nil},
		{"udp answered is no flood", func() []pkt {
			ps := udpBurst(1000, 900, "198.18.0.7", 4444, 443, 1200)
			for i := 0; i < 200; i++ { // the victim answers (a QUIC download's acks)
				ps = append(ps, pkt{t: at(i), src: victim, dst: "198.18.0.7", proto: 17, sport: 443, dport: 4444, ipLen: 60, payload: 32})
			}
			return ps
		}, nil, nil},
		{"udp flood seen by the kernel under a quota", func() []pkt { return udpBurst(100, 900, "198.18.0.7", 4444, 9, 128) },
			func(p []dataset.Packet) []dataset.Flow {
				f := flowsOf(p)
				f[0].PacketsSeen, f[0].QuotaLimited = 5000, true
				return f
			}, []string{"udp_flood"}},
		{"icmp echo flood", func() []pkt {
			var ps []pkt
			for i := 0; i < 500; i++ {
				ps = append(ps, pkt{t: at(i), src: "2001:db8::7", dst: "2001:db8::1", proto: 58, icmpType: 128, ipLen: 104})
			}
			return ps
		}, nil, []string{"icmp_flood"}},
		{"icmp error flood", func() []pkt {
			var ps []pkt
			for i := 0; i < 500; i++ {
				ps = append(ps, pkt{t: at(i), src: spoofed(i), dst: victim, proto: 1, icmpType: 3, ipLen: 56})
			}
			return ps
		}, nil, []string{"icmp_flood", "many_to_one"}},
		{"icmp spread over ten seconds", func() []pkt {
			var ps []pkt
			for i := 0; i < 500; i++ {
				ps = append(ps, pkt{t: at(i * 20), src: "2001:db8::7", dst: "2001:db8::1", proto: 58, icmpType: 128, ipLen: 104})
			}
			return ps
		}, nil, nil},
		{"tcp port scan", func() []pkt {
			var ps []pkt
			for i := 0; i < 100; i++ {
				ps = append(ps, pkt{t: at(i), src: "198.18.0.66", dst: victim, proto: 6, sport: 40000, dport: int32(1 + i), flags: flagSYN, ipLen: 44})
			}
			return ps
		}, nil, []string{"port_scan"}},
		{"udp port scan", func() []pkt {
			var ps []pkt
			for i := 0; i < 100; i++ {
				ps = append(ps, pkt{t: at(i), src: "198.18.0.66", dst: victim, proto: 17, sport: 40000, dport: int32(1 + i), ipLen: 28})
			}
			return ps
		}, nil, []string{"port_scan"}},
		{"a server answering many clients is no scan", func() []pkt {
			var ps []pkt
			for i := 0; i < 150; i++ {
				client := fmt.Sprintf("198.18.0.%d", 2+i%2) // 75 connections each
				ps = append(ps,
					pkt{t: at(i), src: client, dst: victim, proto: 6, sport: int32(30000 + i), dport: 443, flags: flagSYN, ipLen: 60},
					pkt{t: at(i), src: victim, dst: client, proto: 6, sport: 443, dport: int32(30000 + i), flags: flagSYN | flagACK, ipLen: 60},
					pkt{t: at(i), src: "198.18.1.53", dst: client, proto: 17, sport: 53, dport: int32(30000 + i), ipLen: 90})
			}
			return ps
		}, nil, nil},
		{"many to one", func() []pkt {
			var ps []pkt
			for i := 0; i < 500; i++ {
				ps = append(ps, pkt{t: at(i * 10), src: spoofed(i), dst: victim, proto: 6, sport: 5555, dport: 443, flags: flagACK, ipLen: 52})
			}
			return ps
		}, nil, []string{"many_to_one"}},
		{"dns amplification", func() []pkt {
			ps := udpBurst(100, 5000, "198.18.5.5", 53, 33000, 1000)
			ps = append(ps, pkt{t: at(0), src: victim, dst: "198.18.5.5", proto: 17, sport: 33000, dport: 53, ipLen: 60, payload: 32})
			return ps
		}, nil, []string{"amplification"}},
		{"dns answers to real queries", func() []pkt {
			ps := udpBurst(100, 5000, "198.18.5.5", 53, 33000, 1000)
			for i := 0; i < 100; i++ {
				ps = append(ps, pkt{t: at(i), src: victim, dst: "198.18.5.5", proto: 17, sport: 33000, dport: 53, ipLen: 110, payload: 82})
			}
			return ps
		}, nil, nil},
		{"tcp syn-ack reflection", func() []pkt {
			var ps []pkt
			for i := 0; i < 200; i++ {
				ps = append(ps, pkt{t: at(i * 10), src: spoofed(i), dst: victim, proto: 6, sport: 80, dport: int32(1024 + i), flags: flagSYN | flagACK, ipLen: 44})
			}
			return ps
		}, nil, []string{"tcp_reflection"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := rows(tc.pkts()...)
			fl := flowsOf(p)
			if tc.flows != nil {
				fl = tc.flows(p)
			}
			writeRun(t, dir, fixtureRun{id: "r", host: "h", iface: "eth0", start: t0, packets: p, flows: fl})
			r := build(t, dir)
			var got []string
			for _, in := range r.Indicators {
				got = append(got, in.Kind)
				if in.Score < 1 || in.Threshold == "" || len(in.Evidence) == 0 || in.Summary == "" {
					t.Errorf("indicator without its evidence: %+v", in)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("fired %v, want %v", kinds(r), tc.want)
			}
		})
	}
}
