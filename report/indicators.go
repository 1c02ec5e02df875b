package report

import (
	"fmt"
	"sort"
	"time"
)

// Thresholds tune the attack indicators. Every figure is counted from the
// recorded packets, so under sampling (quotas, a full session table) the
// counts are lower bounds of what was on the wire; the defaults fire on
// the attack captures in shared/pcaps captured with tacap's default quotas
// and on none of the ordinary ones.
type Thresholds struct {
	// SYN flood: to one destination, at least SYNFloodSYNs handshakes
	// started (SYN recorded) of which at least SYNFloodHalfOpen never
	// completed.
	SYNFloodSYNs     uint64  `json:"syn_flood_min_syns"`
	SYNFloodHalfOpen float64 `json:"syn_flood_min_half_open_ratio"`
	// UDP flood: at least UDPFloodPPS UDP packets to one destination in
	// one second, while it sent back fewer than a tenth as many.
	UDPFloodPPS uint64 `json:"udp_flood_min_packets_per_second"`
	// ICMP flood: at least ICMPFloodPPS ICMP/ICMPv6 packets (echo requests
	// and errors included) to one destination in one second.
	ICMPFloodPPS uint64 `json:"icmp_flood_min_packets_per_second"`
	// Port scan: one source probes at least ScanPorts distinct
	// destination ports (TCP SYNs, UDP towards a lower port).
	ScanPorts uint64 `json:"port_scan_min_ports"`
	// Many-to-one: at least ManySources distinct sources send to one
	// destination.
	ManySources uint64 `json:"many_to_one_min_sources"`
	// Amplification: UDP from a known reflection service port to one
	// destination of at least AmpBytes bytes and AmpFactor times what
	// that destination sent to the port.
	AmpBytes  uint64  `json:"amplification_min_bytes"`
	AmpFactor float64 `json:"amplification_min_factor"`
	// Connection flood: one source starts at least ConnFlood TCP
	// connections to one destination port (an application-layer flood
	// completes its handshakes, so it is no SYN flood).
	ConnFlood uint64 `json:"connection_flood_min_connections"`
	// TCP reflection: one destination receives at least ReflectSYNACKs
	// SYN-ACKs while it sent fewer than a tenth as many SYNs.
	ReflectSYNACKs uint64 `json:"tcp_reflection_min_syn_acks"`
}

// DefaultThresholds are the values the flags start from.
func DefaultThresholds() Thresholds {
	return Thresholds{
		SYNFloodSYNs: 200, SYNFloodHalfOpen: 0.8,
		UDPFloodPPS:  1000,
		ICMPFloodPPS: 500,
		ScanPorts:    100,
		ManySources:  500,
		AmpBytes:     100_000, AmpFactor: 10,
		ConnFlood:      100,
		ReflectSYNACKs: 200,
	}
}

func (a *aggregator) indicators(th Thresholds) []Indicator {
	var out []Indicator
	name := func(id uint32) string { return a.names.names[id] }
	vs, rs := &a.vol, &a.rel
	// Destinations in ID order; the output is sorted at the end.
	for id := range vs.addrs {
		// The destination, and what it sent as a source.
		vsrc, rsrc := &vs.addrs[id], &rs.addrs[id]
		if vsrc.dest < 0 && rsrc.dest < 0 {
			continue
		}
		var v volDest
		var r relDest
		if vsrc.dest >= 0 {
			v = vs.dests[vsrc.dest]
		}
		if rsrc.dest >= 0 {
			r = rs.dests[rsrc.dest]
		}
		ip := name(uint32(id))

		if r.handshakes >= th.SYNFloodSYNs && r.handshakes > 0 {
			half := r.handshakes - r.completed
			ratio := float64(half) / float64(r.handshakes)
			if ratio >= th.SYNFloodHalfOpen {
				out = append(out, Indicator{
					Kind: "syn_flood", Target: ip, ev: evidenceRef{kind: evSYN, addr: uint32(id), set: true},
					Summary: fmt.Sprintf("%d TCP handshakes towards %s started, %d never completed (%.0f %%)", r.handshakes, ip, half, 100*ratio),
					Evidence: []Fact{{"syn_packets", float64(r.synIn)}, {"handshakes_started", float64(r.handshakes)},
						{"handshakes_completed", float64(r.completed)}, {"half_open_ratio", round3(ratio)},
						{"syn_ack_sent", float64(rsrc.synAckOut)}, {"rst_sent", float64(rsrc.rstOut)}, {"distinct_sources", float64(r.sourcesOf(kindSYN))}},
					Threshold: fmt.Sprintf("handshakes_started >= %d and half_open_ratio >= %g", th.SYNFloodSYNs, th.SYNFloodHalfOpen),
					Score:     round3(min(float64(r.handshakes)/float64(th.SYNFloodSYNs), ratio/th.SYNFloodHalfOpen)),
				})
			}
		}
		// Rates: the busiest second of recorded packets, or the packets
		// the kernel saw in those sessions (sessions/, quota refusals
		// included) over their span, whichever is higher.
		udpRate := max(float64(v.udp.max), round3(v.udpSpan.rate(v.udpSeen)))
		if udpRate >= float64(th.UDPFloodPPS) && udpRate > 0 && float64(vsrc.udpOut) < 0.1*float64(max(v.udpIn, v.udpSeen)) {
			out = append(out, Indicator{
				Kind: "udp_flood", Target: ip, ev: evidenceRef{kind: evUDP, addr: uint32(id), set: true},
				Summary: fmt.Sprintf("UDP at %.0f packets/s to %s (%d recorded, %d seen); it sent %d back", udpRate, ip, v.udpIn, v.udpSeen, vsrc.udpOut),
				Evidence: []Fact{{"packets_per_second", udpRate}, {"peak_recorded_per_second", float64(v.udp.max)}, {"peak_second_unix", float64(v.udp.maxAt)},
					{"udp_packets_recorded", float64(v.udpIn)}, {"udp_packets_seen", float64(v.udpSeen)}, {"udp_bytes_recorded", float64(v.udpBytesIn)},
					{"udp_packets_out", float64(vsrc.udpOut)}, {"distinct_sources", float64(r.sourcesOf(kindUDP))}},
				Threshold: fmt.Sprintf("packets_per_second >= %d and udp_packets_out < 0.1 × udp packets in", th.UDPFloodPPS),
				Score:     round3(udpRate / float64(th.UDPFloodPPS)),
			})
		}
		icmpRate := max(float64(v.icmp.max), round3(v.icmpSpan.rate(v.icmpSeen)))
		if icmpRate >= float64(th.ICMPFloodPPS) && icmpRate > 0 {
			out = append(out, Indicator{
				Kind: "icmp_flood", Target: ip, ev: evidenceRef{kind: evICMP, addr: uint32(id), set: true},
				Summary: fmt.Sprintf("ICMP at %.0f packets/s to %s (%d recorded: %d echo requests, %d errors; %d seen)", icmpRate, ip, v.icmpIn, v.icmpEchoIn, v.icmpErrIn, v.icmpSeen),
				Evidence: []Fact{{"packets_per_second", icmpRate}, {"peak_recorded_per_second", float64(v.icmp.max)}, {"peak_second_unix", float64(v.icmp.maxAt)},
					{"icmp_packets_recorded", float64(v.icmpIn)}, {"icmp_packets_seen", float64(v.icmpSeen)}, {"echo_requests_recorded", float64(v.icmpEchoIn)},
					{"errors_recorded", float64(v.icmpErrIn)}, {"distinct_sources", float64(r.sourcesOf(kindICMP))}},
				Threshold: fmt.Sprintf("packets_per_second >= %d (echo requests and errors alike)", th.ICMPFloodPPS),
				Score:     round3(icmpRate / float64(th.ICMPFloodPPS)),
			})
		}
		if r.synAckIn >= th.ReflectSYNACKs && r.synAckIn > 0 && float64(rsrc.synOut) < 0.1*float64(r.synAckIn) {
			senders := r.sourcesOf(kindSYNACK)
			out = append(out, Indicator{
				Kind: "tcp_reflection", Target: ip, ev: evidenceRef{kind: evSYNACK, addr: uint32(id), set: true},
				Summary:   fmt.Sprintf("%s received %d SYN-ACKs from %d sources but sent only %d SYNs", ip, r.synAckIn, senders, rsrc.synOut),
				Evidence:  []Fact{{"syn_acks_in", float64(r.synAckIn)}, {"syns_out", float64(rsrc.synOut)}, {"distinct_sources", float64(senders)}},
				Threshold: fmt.Sprintf("syn_acks_in >= %d and syns_out < 0.1 × syn_acks_in", th.ReflectSYNACKs),
				Score:     round3(float64(r.synAckIn) / float64(th.ReflectSYNACKs)),
			})
		}
		if r.sources >= th.ManySources && r.sources > 0 {
			out = append(out, Indicator{
				Kind: "many_to_one", Target: ip, ev: evidenceRef{kind: evAny, addr: uint32(id), set: true},
				Summary: fmt.Sprintf("%d distinct sources sent to %s (any protocol; %d packets)", r.sources, ip, vsrc.dstRecords),
				Evidence: []Fact{{"distinct_sources", float64(r.sources)}, {"records_in", float64(vsrc.dstRecords)},
					{"bytes_in", float64(vsrc.dstBytes)}, {"records_per_source", round3(float64(vsrc.dstRecords) / float64(r.sources))}},
				Threshold: fmt.Sprintf("distinct_sources >= %d (any protocol)", th.ManySources),
				Score:     round3(float64(r.sources) / float64(th.ManySources)),
			})
		}
	}

	// Port scans: distinct probed ports per source.
	ports := map[uint32][2]uint64{} // TCP, UDP
	for k := range rs.probes {
		c := ports[uint32(k>>17)]
		c[(k>>16)&1]++
		ports[uint32(k>>17)] = c
	}
	if th.ScanPorts <= 1 { // sources that probed a single port
		for id := range rs.addrs {
			if p := rs.addrs[id].firstProbe; p != 0 && !rs.addrs[id].multiProbe {
				c := [2]uint64{}
				c[((p-1)>>16)&1] = 1
				ports[uint32(id)] = c
			}
		}
	}
	for id, c := range ports {
		if n := c[0] + c[1]; n >= th.ScanPorts && n > 0 {
			ip := name(id)
			out = append(out, Indicator{
				Kind: "port_scan", Target: ip, ev: evidenceRef{kind: evProbe, addr: id, set: true},
				Summary:   fmt.Sprintf("%s probed %d distinct destination ports (%d TCP with SYN, %d UDP)", ip, n, c[0], c[1]),
				Evidence:  []Fact{{"ports_probed", float64(n)}, {"tcp_ports", float64(c[0])}, {"udp_ports", float64(c[1])}, {"records_sent", float64(vs.addrs[id].srcRecords)}},
				Threshold: fmt.Sprintf("ports_probed >= %d (TCP SYN without ACK; UDP towards a lower port than its source port)", th.ScanPorts),
				Score:     round3(float64(n) / float64(th.ScanPorts)),
			})
		}
	}

	// Amplification: responses from a service port vs requests to it.
	for k, st := range vs.ampResp {
		req := vs.ampReq[k]
		factor := float64(st.bytes) / float64(max(req, 1))
		if st.bytes >= th.AmpBytes && st.bytes > 0 && float64(st.bytes) >= th.AmpFactor*float64(req) {
			ip, svc := name(k.id), ampPorts[int32(k.port)]
			sum := fmt.Sprintf("%d bytes of %s responses (UDP source port %d) from %d reflectors to %s, which sent %d bytes to that port",
				st.bytes, svc, k.port, st.reflectors, ip, req)
			out = append(out, Indicator{
				Kind: "amplification", Target: fmt.Sprintf("%s (%s, udp/%d)", ip, svc, k.port),
				ev:      evidenceRef{kind: evUDP, addr: k.id, port: k.port, byPort: true, set: true},
				Summary: sum,
				Evidence: []Fact{{"response_bytes", float64(st.bytes)}, {"response_packets", float64(st.packets)},
					{"request_bytes", float64(req)}, {"reflectors", float64(st.reflectors)}, {"amplification_factor", round3(min(factor, 1e12))}},
				Threshold: fmt.Sprintf("response_bytes >= %d and response_bytes >= %g × request_bytes", th.AmpBytes, th.AmpFactor),
				Score:     round3(float64(st.bytes) / float64(th.AmpBytes)),
			})
		}
	}

	// Connection floods: many handshakes from one client to one service.
	for k, c := range rs.connections(th.ConnFlood) {
		if c.started >= th.ConnFlood && c.started > 0 {
			src, dst := name(k.src), name(k.dst)
			out = append(out, Indicator{
				Kind: "connection_flood", Target: fmt.Sprintf("%s tcp/%d", dst, k.dport),
				ev:        evidenceRef{kind: evSYN, addr: k.dst, port: k.dport, byPort: true, set: true},
				Summary:   fmt.Sprintf("%s started %d TCP connections to %s port %d (%d completed)", src, c.started, dst, k.dport, c.completed),
				Evidence:  []Fact{{"connections_started", float64(c.started)}, {"connections_completed", float64(c.completed)}},
				Threshold: fmt.Sprintf("connections_started >= %d from one source to one destination port", th.ConnFlood),
				Score:     round3(float64(c.started) / float64(th.ConnFlood)),
			})
		}
	}

	for i := range out {
		out[i].EvidenceFirst, out[i].EvidenceLast = a.evidenceSpan(out[i].ev)
	}
	// Highest score first (Build keeps the --top first), then in the
	// order of the kinds above.
	order := map[string]int{"syn_flood": 0, "udp_flood": 1, "icmp_flood": 2, "amplification": 3, "tcp_reflection": 4,
		"connection_flood": 5, "many_to_one": 6, "port_scan": 7}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		if out[i].Kind != out[j].Kind {
			return order[out[i].Kind] < order[out[j].Kind]
		}
		if out[i].Target != out[j].Target {
			return out[i].Target < out[j].Target
		}
		// Connection floods of several sources to one service share a
		// target: the summary names the source.
		return out[i].Summary < out[j].Summary
	})
	return out
}

func round3(f float64) float64 {
	if f != f || f > 1e15 || f < -1e15 {
		return f
	}
	return float64(int64(f*1000+copysign(0.5, f))) / 1000
}

func copysign(v, s float64) float64 {
	if s < 0 {
		return -v
	}
	return v
}

// evidenceSpan is when the rows about an indicator's target were: those to
// it, or from it for the probes of a port scan.
func (a *aggregator) evidenceSpan(e evidenceRef) (*time.Time, *time.Time) {
	if int(e.addr) >= len(a.vol.addrs) {
		return nil, nil
	}
	sp := a.vol.addrs[e.addr].dstSpan
	if e.kind == evProbe {
		sp = a.vol.addrs[e.addr].srcSpan
	}
	if sp.first == 0 && sp.last == 0 {
		return nil, nil
	}
	f, l := time.Unix(0, sp.first).UTC(), time.Unix(0, sp.last).UTC()
	return &f, &l
}
