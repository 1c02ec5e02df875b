package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
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
		name     string
		pkts     func() []pkt
		sessions func([]dataset.Packet) []dataset.Session // nil: from the packets
		want     []string                                 // kinds that fire, in report order
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
			func(p []dataset.Packet) []dataset.Session {
				f := sessionsOf(p)
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
			ss := sessionsOf(p)
			if tc.sessions != nil {
				ss = tc.sessions(p)
			}
			writeRun(t, dir, fixtureRun{id: "r", host: "h", iface: "eth0", start: t0, packets: p, sessions: ss})
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

// TestIndicatorSources: each indicator's distinct_sources counts the
// senders of the traffic it is about, not every address that sent the
// target anything (many_to_one alone counts every protocol); an
// amplification's reflectors are those that sent from its service port.
func TestIndicatorSources(t *testing.T) {
	const victim, ampVictim = "198.18.1.1", "198.18.1.2"
	var ps []pkt
	for i := 0; i < 300; i++ { // a SYN flood from 300 spoofed sources
		ps = append(ps, pkt{t: at(i), src: fmt.Sprintf("198.19.%d.%d", i/250, i%250+1), dst: victim, proto: 6,
			sport: int32(1024 + i), dport: 80, flags: flagSYN, ipLen: 40})
	}
	for i := 0; i < 1200; i++ { // a UDP flood from one host
		ps = append(ps, pkt{t: at(i * 900 / 1200), src: "198.18.0.7", dst: victim, proto: 17, sport: 4444, dport: 9, ipLen: 128, payload: 100})
	}
	for i := 0; i < 600; i++ { // an ICMP flood from two
		ps = append(ps, pkt{t: at(i), src: fmt.Sprintf("198.18.0.%d", 8+i%2), dst: victim, proto: 1, icmpType: 8, ipLen: 84})
	}
	for i := 0; i < 250; i++ { // SYN-ACKs reflected by 250 servers
		ps = append(ps, pkt{t: at(i), src: fmt.Sprintf("203.0.113.%d", i+1), dst: victim, proto: 6, sport: 80, dport: int32(2000 + i),
			flags: flagSYN | flagACK, ipLen: 44})
	}
	for i := 0; i < 200; i++ { // DNS then NTP responses from the same 5 reflectors
		r := fmt.Sprintf("192.0.2.%d", 1+i%5)
		ps = append(ps,
			pkt{t: at(5 * i), src: r, dst: ampVictim, proto: 17, sport: 53, dport: 33000, ipLen: 1400, payload: 1372},
			pkt{t: at(5*i + 1), src: r, dst: ampVictim, proto: 17, sport: 123, dport: 33000, ipLen: 1400, payload: 1372})
	}
	dir := t.TempDir()
	p := rows(ps...)
	writeRun(t, dir, fixtureRun{id: "r", host: "h", iface: "eth0", start: t0, packets: p, sessions: sessionsOf(p)})
	r := build(t, dir)
	for _, tc := range []struct {
		kind, target, fact string
		want               float64
	}{
		{"syn_flood", victim, "distinct_sources", 300},
		{"udp_flood", victim, "distinct_sources", 1},
		{"icmp_flood", victim, "distinct_sources", 2},
		{"tcp_reflection", victim, "distinct_sources", 250},
		{"many_to_one", victim, "distinct_sources", 300 + 1 + 2 + 250},
		{"amplification", ampVictim + " (DNS, udp/53)", "reflectors", 5},
		{"amplification", ampVictim + " (NTP, udp/123)", "reflectors", 5},
	} {
		t.Run(tc.kind+" "+tc.target, func(t *testing.T) {
			var in *Indicator
			for i := range r.Indicators {
				if r.Indicators[i].Kind == tc.kind && r.Indicators[i].Target == tc.target {
					in = &r.Indicators[i]
				}
			}
			if in == nil {
				t.Fatalf("no %s %s; fired: %v", tc.kind, tc.target, kinds(r))
			}
			if got := fact(*in, tc.fact); got != tc.want {
				t.Errorf("%s = %v, want %v (%s)", tc.fact, got, tc.want, in.Summary)
			}
			if want := fmt.Sprintf("%d ", int(tc.want)); (tc.kind == "tcp_reflection" || tc.kind == "amplification" || tc.kind == "many_to_one") &&
				!strings.HasPrefix(in.Summary, want) && !strings.Contains(in.Summary, " "+want) {
				t.Errorf("summary %q does not give the count %d", in.Summary, int(tc.want))
			}
		})
	}
	if in := find1(t, r, "many_to_one"); !strings.Contains(in.Summary, "any protocol") || !strings.Contains(in.Threshold, "any protocol") {
		t.Errorf("many_to_one does not say it counts every protocol: %q / %q", in.Summary, in.Threshold)
	}
}

// TestIndicatorsCapped: --top caps the indicators listed, highest score
// first whatever their kind, in every format, and says how many more
// fired (here a SYN flood, score 1.25, and the 11 smallest of 15 scans).
func TestIndicatorsCapped(t *testing.T) {
	var ps []pkt
	for s := 0; s < 15; s++ { // 15 scanners, the later ones probing more ports
		for port := 0; port < 100+10*s; port++ {
			ps = append(ps, pkt{t: at(port), src: fmt.Sprintf("198.18.0.%d", 10+s), dst: "198.18.1.1", proto: 6, sport: 40000,
				dport: int32(1 + port), flags: flagSYN, ipLen: 44})
		}
	}
	dir := t.TempDir()
	p := rows(ps...)
	writeRun(t, dir, fixtureRun{id: "r", host: "h", iface: "eth0", start: t0, packets: p, sessions: sessionsOf(p)})
	r, err := Build(Options{Dirs: []string{dir}, Top: 4, Thresholds: DefaultThresholds()})
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, in := range r.Indicators {
		targets = append(targets, in.Kind+" "+in.Target)
	}
	want := []string{"port_scan 198.18.0.24", "port_scan 198.18.0.23", "port_scan 198.18.0.22", "port_scan 198.18.0.21"}
	if !slices.Equal(targets, want) {
		t.Errorf("indicators %v, want %v", targets, want)
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, r); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Indicators []json.RawMessage `json:"indicators"`
		Omitted    *int              `json:"indicators_omitted"`
	}
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Indicators) != 4 || got.Omitted == nil || *got.Omitted != 12 {
		t.Errorf("JSON: %d indicators, indicators_omitted %v; want 4 and 12", len(got.Indicators), got.Omitted)
	}
	for _, f := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"text", func(b *bytes.Buffer) error { return WriteText(b, r, false) }},
		{"markdown", func(b *bytes.Buffer) error { return WriteText(b, r, true) }},
		{"html", func(b *bytes.Buffer) error { return WriteHTML(b, r) }},
	} {
		var b bytes.Buffer
		if err := f.write(&b); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if n := strings.Count(out, "distinct destination ports ("); n != 4 {
			t.Errorf("%s lists %d indicators, want 4", f.name, n)
		}
		if !strings.Contains(out, "and 12 more") || !strings.Contains(out, "16 attack indicators fired") {
			t.Errorf("%s does not say that 16 fired and 12 more are not listed:\n%s", f.name, out)
		}
	}
}
