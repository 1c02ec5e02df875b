package oracle

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"
)

const t0 = int64(1_700_000_000) * int64(time.Second)

const (
	fFIN = 1 << iota
	fSYN
	fRST
	fPSH
	fACK
	fURG
	fECE
	fCWR
)

func ver(a string) uint8 {
	if strings.Contains(a, ":") {
		return 6
	}
	return 4
}

// tcpAt is a TCP packet d after t0 with a 20-byte IP and TCP header.
func tcpAt(d time.Duration, src string, sport uint16, dst string, dport uint16, flags uint8, win uint16, payload uint32) BiflowPacket {
	hl := uint32(40)
	if ver(src) == 6 {
		hl = 60
	}
	return BiflowPacket{TimeNs: t0 + int64(d), IPVersion: ver(src), Protocol: 6, Src: src, Dst: dst, SrcPort: sport, DstPort: dport,
		IPLen: hl + payload, Payload: payload, TCPFlags: flags, TCPWindow: win, HasTCPHeader: true}
}

func udpAt(d time.Duration, src string, sport uint16, dst string, dport uint16, payload uint32) BiflowPacket {
	hl := uint32(28)
	if ver(src) == 6 {
		hl = 48
	}
	return BiflowPacket{TimeNs: t0 + int64(d), IPVersion: ver(src), Protocol: 17, Src: src, Dst: dst, SrcPort: sport, DstPort: dport,
		IPLen: hl + payload, Payload: payload}
}

func icmpAt(d time.Duration, src, dst string, ipLen uint32) BiflowPacket {
	p := uint8(1)
	if ver(src) == 6 {
		p = 58
	}
	// Ports and payload given as junk: the oracle must ignore them.
	return BiflowPacket{TimeNs: t0 + int64(d), IPVersion: ver(src), Protocol: p, Src: src, Dst: dst, SrcPort: 8, DstPort: 1234,
		IPLen: ipLen, Payload: ipLen - 28}
}

// nulls is every column of the given stat prefixes, null.
func nulls(prefixes ...string) map[string]any {
	m := map[string]any{}
	for _, p := range prefixes {
		for _, s := range []string{"min", "max", "mean", "std"} {
			m[p+s] = nil
		}
	}
	return m
}

func with(ms ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

type row = map[string]any

func TestBiflows(t *testing.T) {
	const (
		a, b   = "192.0.2.1", "198.51.100.2"
		a6, b6 = "2001:db8::1", "2001:db8::2"
	)
	s := time.Second
	ms := time.Millisecond
	for _, tc := range []struct {
		name string
		opt  BiflowOptions
		in   []BiflowPacket
		want []row // per flow in order of first packets: the columns checked
	}{
		{
			name: "single packet: bwd, iat and rates null, std 0",
			in:   []BiflowPacket{udpAt(0, a, 1000, b, 53, 30)},
			want: []row{with(row{
				"src_ip": a, "dst_ip": b, "src_port": int64(1000), "dst_port": int64(53), "protocol": int64(17), "ip_version": int64(4),
				"first_ts_ns": t0, "last_ts_ns": t0, "first_ts": t0 / 1000, "last_ts": t0 / 1000, "duration_us": 0.0, "end_reason": "end",
				"fwd_packets": int64(1), "bwd_packets": int64(0), "fwd_bytes": int64(58), "bwd_bytes": int64(0),
				"fwd_payload_bytes": int64(30), "bwd_payload_bytes": int64(0),
				"fwd_len_min": int64(58), "fwd_len_max": int64(58), "fwd_len_mean": 58.0, "fwd_len_std": 0.0,
				"len_min": int64(58), "len_max": int64(58), "len_mean": 58.0, "len_std": 0.0,
				"fwd_init_window": nil, "bwd_init_window": nil, "packets_per_s": nil, "bytes_per_s": nil,
			}, nulls("bwd_len_", "iat_", "fwd_iat_", "bwd_iat_"))},
		},
		{
			name: "two-way: directions, iat, sample std, rates",
			in: []BiflowPacket{
				udpAt(0, a, 1000, b, 53, 30),
				udpAt(1*ms, b, 53, a, 1000, 100),
				udpAt(3*ms, a, 1000, b, 53, 40),
			},
			want: []row{{
				"src_ip": a, "dst_ip": b, "src_port": int64(1000), "dst_port": int64(53), "duration_us": 3000.0, "end_reason": "end",
				"fwd_packets": int64(2), "bwd_packets": int64(1), "fwd_bytes": int64(58 + 68), "bwd_bytes": int64(128),
				"fwd_payload_bytes": int64(70), "bwd_payload_bytes": int64(100),
				"fwd_len_min": int64(58), "fwd_len_max": int64(68), "fwd_len_mean": 63.0, "fwd_len_std": math.Sqrt(50),
				"bwd_len_min": int64(128), "bwd_len_max": int64(128), "bwd_len_mean": 128.0, "bwd_len_std": 0.0,
				"len_min": int64(58), "len_max": int64(128), "len_mean": (58 + 68 + 128) / 3.0,
				"iat_min": 1000.0, "iat_max": 2000.0, "iat_mean": 1500.0, "iat_std": math.Sqrt(500000),
				"fwd_iat_min": 3000.0, "fwd_iat_max": 3000.0, "fwd_iat_mean": 3000.0, "fwd_iat_std": 0.0,
				"bwd_iat_min": nil, "bwd_iat_max": nil, "bwd_iat_mean": nil, "bwd_iat_std": nil,
				"packets_per_s": 1000.0, "bytes_per_s": float64(58+68+128) / 0.003,
				"last_ts_ns": t0 + int64(3*ms), "last_ts": (t0 + int64(3*ms)) / 1000,
			}},
		},
		{
			name: "idle: a gap of exactly the timeout continues, one ns more ends the flow",
			in: []BiflowPacket{
				udpAt(0, a, 1000, b, 53, 1),
				udpAt(120*s, b, 53, a, 1000, 1),
				udpAt(240*s+1, b, 53, a, 1000, 1), // new flow, src b
				udpAt(241*s, a, 1000, b, 53, 1),
			},
			want: []row{
				{"src_ip": a, "fwd_packets": int64(1), "bwd_packets": int64(1), "end_reason": "idle", "last_ts_ns": t0 + int64(120*s)},
				{"src_ip": b, "src_port": int64(53), "dst_ip": a, "fwd_packets": int64(1), "bwd_packets": int64(1), "end_reason": "end",
					"first_ts_ns": t0 + int64(240*s) + 1, "iat_min": 1e6 - 0.001},
			},
		},
		{
			name: "idle with --flow-idle-timeout 2s",
			opt:  BiflowOptions{IdleTimeout: 2 * s},
			in: []BiflowPacket{
				udpAt(0, a, 1000, b, 53, 1),
				udpAt(2*s, a, 1000, b, 53, 1),
				udpAt(4*s+1, a, 1000, b, 53, 1),
			},
			want: []row{
				{"fwd_packets": int64(2), "end_reason": "idle"},
				{"fwd_packets": int64(1), "end_reason": "end", "first_ts_ns": t0 + int64(4*s) + 1},
			},
		},
		{
			name: "active: more than the timeout after the first packet",
			in: func() []BiflowPacket {
				var in []BiflowPacket
				for i := range 19 { // 0 … 1800 s: exactly the timeout, still the same flow
					in = append(in, udpAt(time.Duration(i)*100*s, a, 1000, b, 53, 1))
				}
				return append(in, udpAt(1800*s+1, b, 53, a, 1000, 1), udpAt(1801*s, a, 1000, b, 53, 1))
			}(),
			want: []row{
				{"src_ip": a, "fwd_packets": int64(19), "bwd_packets": int64(0), "end_reason": "active", "duration_us": 1800e6,
					"iat_min": 100e6, "iat_max": 100e6, "iat_std": 0.0, "packets_per_s": 19 / 1800.0},
				{"src_ip": b, "fwd_packets": int64(1), "bwd_packets": int64(1), "end_reason": "end", "first_ts_ns": t0 + int64(1800*s) + 1},
			},
		},
		{
			name: "active with small timeouts; idle is checked first",
			opt:  BiflowOptions{IdleTimeout: 2 * s, ActiveTimeout: 5 * s},
			in: []BiflowPacket{
				udpAt(0, a, 1000, b, 53, 1),
				udpAt(2*s, a, 1000, b, 53, 1),
				udpAt(4*s, a, 1000, b, 53, 1),
				udpAt(5*s+1, a, 1000, b, 53, 1), // active
				udpAt(20*s, a, 1000, b, 53, 1),  // both idle and active: idle
			},
			want: []row{
				{"fwd_packets": int64(3), "end_reason": "active"},
				{"fwd_packets": int64(1), "end_reason": "idle"},
				{"fwd_packets": int64(1), "end_reason": "end"},
			},
		},
		{
			name: "reuse: SYN after FIN starts a new flow; FIN and RST end nothing",
			in: []BiflowPacket{
				tcpAt(0, a, 40000, b, 80, fSYN, 64240, 0),
				tcpAt(1*ms, b, 80, a, 40000, fSYN|fACK, 65160, 0),
				tcpAt(2*ms, a, 40000, b, 80, fACK, 502, 0),
				tcpAt(3*ms, a, 40000, b, 80, fFIN|fACK, 502, 0),
				tcpAt(4*ms, b, 80, a, 40000, fACK|fPSH, 509, 10), // data after a FIN: same flow
				tcpAt(5*ms, b, 80, a, 40000, fSYN|fACK, 509, 0),  // SYN with ACK: no reuse
				tcpAt(6*ms, a, 40000, b, 80, fSYN, 1000, 0),      // reuse
				tcpAt(7*ms, b, 80, a, 40000, fRST, 0, 0),
				tcpAt(8*ms, a, 40000, b, 80, fSYN|fECE|fCWR, 2000, 0), // reuse after RST
				tcpAt(9*ms, a, 40000, b, 80, fSYN, 3000, 0),           // retransmitted SYN: no FIN/RST yet
			},
			want: []row{
				{"src_ip": a, "src_port": int64(40000), "fwd_packets": int64(3), "bwd_packets": int64(3), "end_reason": "reuse",
					"syn_count": int64(3), "ack_count": int64(5), "fin_count": int64(1), "psh_count": int64(1),
					"fwd_init_window": int64(64240), "bwd_init_window": int64(65160), "bwd_payload_bytes": int64(10)},
				{"src_ip": a, "fwd_packets": int64(1), "bwd_packets": int64(1), "end_reason": "reuse", "rst_count": int64(1),
					"fwd_init_window": int64(1000), "bwd_init_window": int64(0), "first_ts_ns": t0 + int64(6*ms)},
				{"src_ip": a, "fwd_packets": int64(2), "bwd_packets": int64(0), "end_reason": "end", "syn_count": int64(2),
					"ece_count": int64(1), "cwr_count": int64(1), "fwd_init_window": int64(2000), "bwd_init_window": nil},
			},
		},
		{
			name: "reuse needs a SYN, and idle wins over reuse",
			in: []BiflowPacket{
				tcpAt(0, a, 40000, b, 80, fFIN|fACK, 10, 0),
				tcpAt(1*ms, a, 40000, b, 80, fACK, 10, 0),
				tcpAt(200*s, a, 40000, b, 80, fSYN, 10, 0), // after FIN, but idle first
			},
			want: []row{
				{"fwd_packets": int64(2), "end_reason": "idle"},
				{"fwd_packets": int64(1), "end_reason": "end"},
			},
		},
		{
			name: "SYN-ACK first: its receiver is src",
			in: []BiflowPacket{
				tcpAt(0, b, 80, a, 40000, fSYN|fACK, 65160, 0),
				tcpAt(1*ms, a, 40000, b, 80, fACK, 502, 0),
				tcpAt(2*ms, b, 80, a, 40000, fACK|fPSH, 509, 100),
			},
			want: []row{{
				"src_ip": a, "src_port": int64(40000), "dst_ip": b, "dst_port": int64(80),
				"fwd_packets": int64(1), "bwd_packets": int64(2), "fwd_init_window": int64(502), "bwd_init_window": int64(65160),
				"first_ts_ns": t0, "bwd_payload_bytes": int64(100), "bwd_iat_min": 2000.0, "fwd_iat_min": nil, "iat_mean": 1000.0,
			}},
		},
		{
			name: "SYN-ACK only (reflection): fwd null",
			in: []BiflowPacket{
				tcpAt(0, b, 80, a, 40000, fSYN|fACK, 65160, 0),
				tcpAt(1*s, b, 80, a, 40000, fSYN|fACK, 65160, 0),
			},
			want: []row{with(row{
				"src_ip": a, "src_port": int64(40000), "dst_ip": b, "dst_port": int64(80),
				"fwd_packets": int64(0), "bwd_packets": int64(2), "fwd_bytes": int64(0), "bwd_bytes": int64(80),
				"fwd_init_window": nil, "bwd_init_window": int64(65160), "bwd_iat_mean": 1e6, "syn_count": int64(2), "ack_count": int64(2),
				"bwd_len_min": int64(40), "len_std": 0.0, "packets_per_s": 2.0, "bytes_per_s": 80.0,
			}, nulls("fwd_len_", "fwd_iat_"))},
		},
		{
			name: "one-way TCP: bwd null",
			in: []BiflowPacket{
				tcpAt(0, a, 1, b, 80, fSYN, 1024, 0),
				tcpAt(1*ms, a, 1, b, 80, fSYN, 2048, 0),
				tcpAt(3*ms, a, 1, b, 80, fSYN, 4096, 0),
			},
			want: []row{with(row{
				"fwd_packets": int64(3), "bwd_packets": int64(0), "bwd_bytes": int64(0), "bwd_payload_bytes": int64(0),
				"fwd_init_window": int64(1024), "bwd_init_window": nil, "syn_count": int64(3),
				"iat_min": 1000.0, "iat_max": 2000.0, "fwd_iat_std": math.Sqrt(500000),
			}, nulls("bwd_len_", "bwd_iat_"))},
		},
		{
			name: "out of order: the gap counts 0, last stays the max",
			in: []BiflowPacket{
				udpAt(10*ms, a, 1000, b, 53, 1),
				udpAt(5*ms, a, 1000, b, 53, 1),
				udpAt(20*ms, a, 1000, b, 53, 1),
				udpAt(15*ms, b, 53, a, 1000, 1),
				udpAt(12*ms, b, 53, a, 1000, 1),
			},
			want: []row{{
				"first_ts_ns": t0 + int64(10*ms), "last_ts_ns": t0 + int64(20*ms), "duration_us": 10000.0,
				"iat_min": 0.0, "iat_max": 10000.0, "iat_mean": 2500.0,
				"fwd_iat_min": 0.0, "fwd_iat_max": 10000.0, "fwd_iat_mean": 5000.0,
				"bwd_iat_min": 0.0, "bwd_iat_max": 0.0, "bwd_iat_std": 0.0,
				"packets_per_s": 500.0, "end_reason": "end",
			}},
		},
		{
			name: "out of order cannot make a gap: no idle split",
			in: []BiflowPacket{
				udpAt(300*s, a, 1000, b, 53, 1),
				udpAt(0, a, 1000, b, 53, 1), // earlier than first
				udpAt(301*s, a, 1000, b, 53, 1),
			},
			want: []row{{"fwd_packets": int64(3), "first_ts_ns": t0 + int64(300*s), "last_ts_ns": t0 + int64(301*s), "iat_min": 0.0, "iat_max": 1e6}},
		},
		{
			name: "ICMP and ICMPv6: ports 0, payload 0, both directions one flow",
			in: []BiflowPacket{
				icmpAt(0, a, b, 84),
				icmpAt(1*ms, b, a, 84),
				icmpAt(2*ms, a6, b6, 104),
				icmpAt(3*ms, b6, a6, 104),
			},
			want: []row{
				{"src_ip": a, "src_port": int64(0), "dst_port": int64(0), "protocol": int64(1), "ip_version": int64(4),
					"fwd_packets": int64(1), "bwd_packets": int64(1), "fwd_payload_bytes": int64(0), "bwd_payload_bytes": int64(0),
					"fwd_bytes": int64(84), "syn_count": int64(0), "fwd_init_window": nil},
				{"src_ip": a6, "dst_ip": b6, "src_port": int64(0), "dst_port": int64(0), "protocol": int64(58), "ip_version": int64(6),
					"fwd_packets": int64(1), "bwd_packets": int64(1), "fwd_payload_bytes": int64(0)},
			},
		},
		{
			name: "fragments: non-first fragments are their own flow, ports and payload 0, no TCP fields",
			in: func() []BiflowPacket {
				first := udpAt(0, b, 53, a, 1000, 1472)
				nf := udpAt(1*ms, b, 53, a, 1000, 1000)
				nf.NonFirstFragment = true
				nf6 := udpAt(2*ms, b6, 53, a6, 1000, 500)
				nf6.NonFirstFragment = true
				tcpFrag := tcpAt(3*ms, a, 40000, b, 80, fSYN, 999, 100)
				tcpFrag.NonFirstFragment, tcpFrag.HasTCPHeader = true, false
				tcpFrag2 := tcpAt(4*ms, b, 80, a, 40000, fSYN|fACK, 999, 100)
				tcpFrag2.NonFirstFragment = true // header flag inconsistent: still no TCP fields
				return []BiflowPacket{first, nf, nf6, tcpFrag, tcpFrag2}
			}(),
			want: []row{
				{"src_ip": b, "src_port": int64(53), "dst_port": int64(1000), "fwd_payload_bytes": int64(1472)},
				{"src_ip": b, "src_port": int64(0), "dst_port": int64(0), "protocol": int64(17), "fwd_payload_bytes": int64(0), "fwd_bytes": int64(1028)},
				{"src_ip": b6, "src_port": int64(0), "dst_port": int64(0), "ip_version": int64(6), "fwd_payload_bytes": int64(0), "fwd_bytes": int64(548)},
				{"src_ip": a, "dst_ip": b, "src_port": int64(0), "dst_port": int64(0), "protocol": int64(6), "fwd_packets": int64(1), "bwd_packets": int64(1),
					"syn_count": int64(0), "ack_count": int64(0), "fwd_init_window": nil, "bwd_init_window": nil, "fwd_payload_bytes": int64(0)},
			},
		},
		{
			name: "all eight flags, both directions; UDP flags ignored",
			in: func() []BiflowPacket {
				var in []BiflowPacket
				// SYN first: a SYN after the FIN would start a new flow.
				for i, bit := range []int{1, 0, 2, 3, 4, 5, 6, 7} {
					in = append(in, tcpAt(time.Duration(i)*ms, a, 1, b, 2, 1<<bit, 100+uint16(i), 0))
				}
				in = append(in, tcpAt(8*ms, b, 2, a, 1, 0xff&^fSYN, 200, 0), tcpAt(9*ms, b, 2, a, 1, 0, 300, 0))
				u := udpAt(10*ms, a, 1, b, 2, 0)
				u.TCPFlags = 0xff
				return append(in, u)
			}(),
			want: []row{
				{"fin_count": int64(2), "syn_count": int64(1), "rst_count": int64(2), "psh_count": int64(2), "ack_count": int64(2),
					"urg_count": int64(2), "ece_count": int64(2), "cwr_count": int64(2), "fwd_packets": int64(8), "bwd_packets": int64(2),
					"fwd_init_window": int64(100), "bwd_init_window": int64(200)},
				{"protocol": int64(17), "fin_count": int64(0), "syn_count": int64(0), "cwr_count": int64(0), "fwd_init_window": nil},
			},
		},
		{
			name: "key: unordered endpoints, protocol and version apart; flows in order of first packets",
			in: []BiflowPacket{
				udpAt(0, a, 5, b, 6, 0),
				tcpAt(1*ms, b, 6, a, 5, fACK, 1, 0),
				udpAt(2*ms, b, 6, a, 5, 0),
				udpAt(3*ms, a, 5, b, 7, 0),
				tcpAt(4*ms, a, 5, b, 6, fACK, 2, 0),
			},
			want: []row{
				{"protocol": int64(17), "src_ip": a, "fwd_packets": int64(1), "bwd_packets": int64(1)},
				{"protocol": int64(6), "src_ip": b, "fwd_packets": int64(1), "bwd_packets": int64(1), "fwd_init_window": int64(1), "bwd_init_window": int64(2)},
				{"protocol": int64(17), "dst_port": int64(7), "fwd_packets": int64(1)},
			},
		},
		{
			name: "same endpoint both sides: every packet is fwd",
			in: []BiflowPacket{
				icmpAt(0, "ff02::1", "ff02::1", 64),
				icmpAt(1*ms, "ff02::1", "ff02::1", 64),
			},
			want: []row{{"src_ip": "ff02::1", "dst_ip": "ff02::1", "fwd_packets": int64(2), "bwd_packets": int64(0)}},
		},
		{
			name: "end of file: idle when the last frame is more than the idle timeout after",
			opt:  BiflowOptions{EndNs: t0 + int64(130*s)},
			in: []BiflowPacket{
				udpAt(0, a, 1, b, 2, 0),
				udpAt(10*s, a, 3, b, 4, 0),
				udpAt(11*s, a, 5, b, 6, 0),
			},
			want: []row{{"end_reason": "idle"}, {"end_reason": "end"}, {"end_reason": "end"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Biflows(tc.in, tc.opt)
			if len(got) != len(tc.want) {
				for _, f := range got {
					t.Logf("flow %+v", f.Row())
				}
				t.Fatalf("%d flows, want %d", len(got), len(tc.want))
			}
			seen := 0
			for i, w := range tc.want {
				r := got[i].Row()
				if len(r) != len(BiflowColumns) {
					t.Fatalf("row has %d columns, BiflowColumns %d", len(r), len(BiflowColumns))
				}
				for _, c := range BiflowColumns {
					if _, ok := r[c]; !ok {
						t.Fatalf("row has no column %s", c)
					}
				}
				for _, c := range sortedKeys(w) {
					if _, ok := r[c]; !ok {
						t.Fatalf("test names column %s, which is not one", c)
					}
					if !same(r[c], w[c]) {
						t.Errorf("flow %d: %s = %v (%T), want %v (%T)", i, c, r[c], r[c], w[c], w[c])
					}
				}
				seen += len(got[i].Packets)
				if int64(len(got[i].Packets)) != got[i].FwdPackets+got[i].BwdPackets {
					t.Errorf("flow %d: %d packets listed, %d counted", i, len(got[i].Packets), got[i].FwdPackets+got[i].BwdPackets)
				}
			}
			if seen != len(tc.in) {
				t.Errorf("%d packets in flows, %d given", seen, len(tc.in))
			}
		})
	}
}

// TestBiflowStatsTwoPass: the standard deviation is computed from the
// values, not from a sum of squares: no cancellation with large equal
// values, and the figures of a known sample.
func TestBiflowStatsTwoPass(t *testing.T) {
	vs := make([]int64, 1000)
	for i := range vs {
		vs[i] = 119_999_999_999 // ns, just under two minutes
	}
	if s := stat(vs, 1000); s.Std != 0 || s.Mean != 119_999_999.999 || s.Min != s.Max {
		t.Fatalf("constant sample: %+v", s)
	}
	s := stat([]int64{2, 4, 4, 4, 5, 5, 7, 9}, 1)
	if s.N != 8 || s.Min != 2 || s.Max != 9 || s.Mean != 5 || math.Abs(s.Std-math.Sqrt(32.0/7)) > 1e-15 {
		t.Fatalf("known sample: %+v", s)
	}
	if s := stat(nil, 1); s.N != 0 {
		t.Fatalf("empty sample: %+v", s)
	}
}

func sortedKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func same(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case float64:
		y, ok := b.(float64)
		return ok && (x == y || math.Abs(x-y) <= 1e-12*math.Max(math.Abs(x), math.Abs(y)))
	default:
		return fmt.Sprint(a) == fmt.Sprint(b) && fmt.Sprintf("%T", a) == fmt.Sprintf("%T", b)
	}
}
