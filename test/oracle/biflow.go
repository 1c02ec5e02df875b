package oracle

// Biflows: the flows/ table (one row per bidirectional flow, statistics over
// every packet) computed from a list of packets in arrival order, by the
// rules of the contract, independently of the kernel's implementation:
// every value is kept and the statistics are computed from the values at
// the end (exact integer sums, two-pass standard deviation).

import (
	"math"
	"time"
)

// Default flow timeouts (--flow-idle-timeout, --flow-active-timeout).
const (
	DefaultIdleTimeout   = 120 * time.Second
	DefaultActiveTimeout = 1800 * time.Second
)

// Why a flow ended (the end_reason column).
const (
	EndIdle   = "idle"   // the next packet came more than the idle timeout after its last one, or the file ended so
	EndActive = "active" // the next packet came more than the active timeout after its first one
	EndReuse  = "reuse"  // a TCP SYN without ACK after a FIN or RST of the flow
	EndEOF    = "end"    // open when the file ended
)

// TCP flag bits, bit 0 (FIN) to bit 7 (CWR), and their column names.
const (
	flagFIN = 1 << 0
	flagSYN = 1 << 1
	flagRST = 1 << 2
	flagACK = 1 << 4
)

// FlagNames are the TCP flags in bit order; the count columns are NAME_count.
var FlagNames = [8]string{"fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr"}

// BiflowPacket is one packet that counts for flows/: a TCP, UDP, ICMP or
// ICMPv6 packet over IPv4 or IPv6 that parses.
type BiflowPacket struct {
	TimeNs           int64  // capture time, ns since the epoch
	IPVersion        uint8  // 4 or 6
	Protocol         uint8  // 6, 17, 1 or 58
	Src, Dst         string // addresses as netip.Addr.String() prints them
	SrcPort, DstPort uint16 // as in the packet; ignored (0) for ICMP and non-first fragments
	NonFirstFragment bool   // IPv4 fragment offset != 0, or an IPv6 fragment header with offset != 0
	IPLen            uint32 // IPv4 total length, IPv6 payload length + 40
	Payload          uint32 // TCP payload length or UDP length − 8; ignored (0) for ICMP and non-first fragments
	TCPFlags         uint8  // the 8 flag bits, when HasTCPHeader
	TCPWindow        uint16 // the raw window field, when HasTCPHeader
	HasTCPHeader     bool   // a TCP packet whose TCP header is there (not a non-first fragment)
}

// BiflowOptions are the flow parameters of a run.
type BiflowOptions struct {
	IdleTimeout   time.Duration // 0 = DefaultIdleTimeout
	ActiveTimeout time.Duration // 0 = DefaultActiveTimeout
	// EndNs is the time of the file's last frame (any frame, counted or
	// not): flows still open then end "idle" when their last packet is
	// more than the idle timeout before it, else "end". 0 = the time of
	// the last packet given.
	EndNs int64
}

// Stat is min, max, mean and sample standard deviation of N values; with
// N == 0 every column of it is null.
type Stat struct {
	N                   int64
	Min, Max, Mean, Std float64
}

// Biflow is one flows/ row as the contract defines it.
type Biflow struct {
	SrcIP, DstIP                     string
	SrcPort, DstPort                 uint16
	Protocol, IPVersion              uint8
	FirstNs, LastNs                  int64
	EndReason                        string
	FwdPackets, BwdPackets           int64
	FwdBytes, BwdBytes               int64 // sums of ip_len
	FwdPayloadBytes, BwdPayloadBytes int64
	FwdLen, BwdLen, Len              Stat     // over ip_len
	IAT, FwdIAT, BwdIAT              Stat     // microseconds
	Flags                            [8]int64 // TCP packets with each flag set (FlagNames order)
	FwdInitWindow, BwdInitWindow     *int32
	// Packets are the indexes (into the input) of the flow's packets, in
	// arrival order; Fwd[i] says whether Packets[i] came from src.
	Packets []int
	Fwd     []bool

	// Working state.
	src                    endpoint
	lastFwd, lastBwd       int64
	seenFwd, seenBwd       bool
	finOrRst               bool
	fwdLen, bwdLen, allLen []int64
	iat, fwdIAT, bwdIAT    []int64 // ns
}

// DurationUs is (last − first) in microseconds.
func (f *Biflow) DurationUs() float64 { return float64(f.LastNs-f.FirstNs) / 1000 }

// Rates are packets and ip_len bytes per second over the flow's duration;
// ok is false (null) when the duration is 0.
func (f *Biflow) Rates() (pps, bps float64, ok bool) {
	d := f.LastNs - f.FirstNs
	if d <= 0 {
		return 0, 0, false
	}
	s := float64(d) / 1e9
	return float64(f.FwdPackets+f.BwdPackets) / s, float64(f.FwdBytes+f.BwdBytes) / s, true
}

type endpoint struct {
	addr string
	port uint16
}

func (a endpoint) less(b endpoint) bool {
	if a.addr != b.addr {
		return a.addr < b.addr
	}
	return a.port < b.port
}

type biflowKey struct {
	version, proto uint8
	lo, hi         endpoint
}

// Biflows groups pkts (in arrival order) into flows, in the order of their
// first packets.
func Biflows(pkts []BiflowPacket, opt BiflowOptions) []*Biflow {
	idle, active := int64(opt.IdleTimeout), int64(opt.ActiveTimeout)
	if idle == 0 {
		idle = int64(DefaultIdleTimeout)
	}
	if active == 0 {
		active = int64(DefaultActiveTimeout)
	}
	var all []*Biflow
	open := map[biflowKey]*Biflow{}
	for i, p := range pkts {
		icmp := p.Protocol == 1 || p.Protocol == 58
		src, dst := endpoint{p.Src, p.SrcPort}, endpoint{p.Dst, p.DstPort}
		payload := int64(p.Payload)
		if icmp || p.NonFirstFragment {
			src.port, dst.port, payload = 0, 0, 0
		}
		isTCP := p.Protocol == 6 && p.HasTCPHeader && !p.NonFirstFragment
		var flags uint8
		if isTCP {
			flags = p.TCPFlags
		}
		k := biflowKey{version: p.IPVersion, proto: p.Protocol, lo: src, hi: dst}
		if k.hi.less(k.lo) {
			k.lo, k.hi = k.hi, k.lo
		}
		t := p.TimeNs
		f := open[k]
		if f != nil {
			reason := ""
			switch {
			case t-f.LastNs > idle:
				reason = EndIdle
			case t-f.FirstNs > active:
				reason = EndActive
			case isTCP && flags&flagSYN != 0 && flags&flagACK == 0 && f.finOrRst:
				reason = EndReuse
			}
			if reason != "" {
				f.EndReason = reason
				delete(open, k)
				f = nil
			}
		}
		if f == nil {
			f = &Biflow{Protocol: p.Protocol, IPVersion: p.IPVersion, FirstNs: t, LastNs: t, src: src}
			s, d := src, dst
			if isTCP && flags&flagSYN != 0 && flags&flagACK != 0 {
				s, d = dst, src // a SYN-ACK first: its receiver opened the connection
				f.src = s
			}
			f.SrcIP, f.SrcPort, f.DstIP, f.DstPort = s.addr, s.port, d.addr, d.port
			open[k] = f
			all = append(all, f)
		} else {
			f.iat = append(f.iat, max(0, t-f.LastNs))
			f.LastNs = max(f.LastNs, t)
		}
		fwd := src == f.src
		f.Packets = append(f.Packets, i)
		f.Fwd = append(f.Fwd, fwd)
		n := int64(p.IPLen)
		f.allLen = append(f.allLen, n)
		if fwd {
			f.FwdPackets++
			f.FwdBytes += n
			f.FwdPayloadBytes += payload
			f.fwdLen = append(f.fwdLen, n)
			if f.seenFwd {
				f.fwdIAT = append(f.fwdIAT, max(0, t-f.lastFwd))
				f.lastFwd = max(f.lastFwd, t)
			} else {
				f.seenFwd, f.lastFwd = true, t
			}
			if isTCP && f.FwdInitWindow == nil {
				w := int32(p.TCPWindow)
				f.FwdInitWindow = &w
			}
		} else {
			f.BwdPackets++
			f.BwdBytes += n
			f.BwdPayloadBytes += payload
			f.bwdLen = append(f.bwdLen, n)
			if f.seenBwd {
				f.bwdIAT = append(f.bwdIAT, max(0, t-f.lastBwd))
				f.lastBwd = max(f.lastBwd, t)
			} else {
				f.seenBwd, f.lastBwd = true, t
			}
			if isTCP && f.BwdInitWindow == nil {
				w := int32(p.TCPWindow)
				f.BwdInitWindow = &w
			}
		}
		if isTCP {
			for b := range 8 {
				if flags&(1<<b) != 0 {
					f.Flags[b]++
				}
			}
			if flags&(flagFIN|flagRST) != 0 {
				f.finOrRst = true
			}
		}
	}
	end := opt.EndNs
	if end == 0 && len(pkts) > 0 {
		end = pkts[len(pkts)-1].TimeNs
	}
	for _, f := range all {
		if f.EndReason == "" {
			f.EndReason = EndEOF
			if end-f.LastNs > idle {
				f.EndReason = EndIdle
			}
		}
		f.FwdLen, f.BwdLen, f.Len = stat(f.fwdLen, 1), stat(f.bwdLen, 1), stat(f.allLen, 1)
		f.IAT, f.FwdIAT, f.BwdIAT = stat(f.iat, 1000), stat(f.fwdIAT, 1000), stat(f.bwdIAT, 1000)
		f.fwdLen, f.bwdLen, f.allLen, f.iat, f.fwdIAT, f.bwdIAT = nil, nil, nil, nil, nil, nil
	}
	return all
}

// stat computes the statistics of vs, each divided by scale: the mean from
// the exact integer sum, the sample standard deviation (n − 1; 0 for one
// value) in two passes.
func stat(vs []int64, scale float64) Stat {
	if len(vs) == 0 {
		return Stat{}
	}
	lo, hi, sum := vs[0], vs[0], int64(0)
	for _, v := range vs {
		lo, hi = min(lo, v), max(hi, v)
		sum += v
	}
	n := float64(len(vs))
	mean := float64(sum) / n
	std := 0.0
	if len(vs) > 1 {
		var ss float64
		for _, v := range vs {
			d := float64(v) - mean
			ss += d * d
		}
		std = math.Sqrt(ss / (n - 1))
	}
	return Stat{N: int64(len(vs)), Min: float64(lo) / scale, Max: float64(hi) / scale, Mean: mean / scale, Std: std / scale}
}

// BiflowColumns are the flows/ columns Row gives, in the contract's order
// (flow_id, run_id and packets_recorded are the run's, not the oracle's).
var BiflowColumns = func() []string {
	cols := []string{"src_ip", "dst_ip", "src_port", "dst_port", "protocol", "ip_version",
		"first_ts_ns", "last_ts_ns", "first_ts", "last_ts", "duration_us", "end_reason",
		"fwd_packets", "bwd_packets", "fwd_bytes", "bwd_bytes", "fwd_payload_bytes", "bwd_payload_bytes"}
	for _, p := range []string{"fwd_len_", "bwd_len_", "len_", "iat_", "fwd_iat_", "bwd_iat_"} {
		for _, s := range []string{"min", "max", "mean", "std"} {
			cols = append(cols, p+s)
		}
	}
	for _, n := range FlagNames {
		cols = append(cols, n+"_count")
	}
	return append(cols, "fwd_init_window", "bwd_init_window", "packets_per_s", "bytes_per_s")
}()

// Row is the flow's flows/ row: column name → int64, float64, string, or
// nil for a null. Integer columns (INT32 or INT64, timestamps in µs) are
// int64; lengths' min and max are int64 too (INT32 columns).
func (f *Biflow) Row() map[string]any {
	r := map[string]any{
		"src_ip": f.SrcIP, "dst_ip": f.DstIP, "src_port": int64(f.SrcPort), "dst_port": int64(f.DstPort),
		"protocol": int64(f.Protocol), "ip_version": int64(f.IPVersion),
		"first_ts_ns": f.FirstNs, "last_ts_ns": f.LastNs, "first_ts": floorDiv(f.FirstNs, 1000), "last_ts": floorDiv(f.LastNs, 1000),
		"duration_us": f.DurationUs(), "end_reason": f.EndReason,
		"fwd_packets": f.FwdPackets, "bwd_packets": f.BwdPackets, "fwd_bytes": f.FwdBytes, "bwd_bytes": f.BwdBytes,
		"fwd_payload_bytes": f.FwdPayloadBytes, "bwd_payload_bytes": f.BwdPayloadBytes,
	}
	put := func(prefix string, s Stat, intMinMax bool) {
		if s.N == 0 {
			for _, c := range []string{"min", "max", "mean", "std"} {
				r[prefix+c] = nil
			}
			return
		}
		if intMinMax {
			r[prefix+"min"], r[prefix+"max"] = int64(s.Min), int64(s.Max)
		} else {
			r[prefix+"min"], r[prefix+"max"] = s.Min, s.Max
		}
		r[prefix+"mean"], r[prefix+"std"] = s.Mean, s.Std
	}
	put("fwd_len_", f.FwdLen, true)
	put("bwd_len_", f.BwdLen, true)
	put("len_", f.Len, true)
	put("iat_", f.IAT, false)
	put("fwd_iat_", f.FwdIAT, false)
	put("bwd_iat_", f.BwdIAT, false)
	for b, n := range FlagNames {
		r[n+"_count"] = f.Flags[b]
	}
	win := func(w *int32) any {
		if w == nil {
			return nil
		}
		return int64(*w)
	}
	r["fwd_init_window"], r["bwd_init_window"] = win(f.FwdInitWindow), win(f.BwdInitWindow)
	if pps, bps, ok := f.Rates(); ok {
		r["packets_per_s"], r["bytes_per_s"] = pps, bps
	} else {
		r["packets_per_s"], r["bytes_per_s"] = nil, nil
	}
	return r
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
