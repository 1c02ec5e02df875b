package lucid

import (
	"crypto/sha256"
	"math/big"
)

// Row is what a sample needs of a packets/ row.
type Row struct {
	TsNs          int64  `parquet:"ts_ns"`
	IPVersion     int32  `parquet:"ip_version"`
	SrcIP         string `parquet:"src_ip"`
	DstIP         string `parquet:"dst_ip"`
	Protocol      int32  `parquet:"protocol"`
	SrcPort       int32  `parquet:"src_port"`
	DstPort       int32  `parquet:"dst_port"`
	IPLen         int32  `parquet:"ip_len"`
	IPFlagsFrag   int32  `parquet:"ip_flags_frag"`
	TCPPayloadLen int32  `parquet:"tcp_payload_len"`
	TCPSeq        int64  `parquet:"tcp_seq"`
	TCPAck        int64  `parquet:"tcp_ack"`
	TCPFlags      int32  `parquet:"tcp_flags"`
	TCPWindow     int32  `parquet:"tcp_window"`
	UDPPayloadLen int32  `parquet:"udp_payload_len"`
	ICMPType      int32  `parquet:"icmp_type"`
	Label         string `parquet:"label"`
	// src and dst number the addresses (interned: equal text, equal
	// number), for cheap flow keys.
	src, dst uint32
}

// interner numbers strings from 1: equal text, equal number. Its memory
// is bounded (a spoofed flood must not grow it without bound) by keeping
// two generations of at most maxInterned strings: a string seen in either
// keeps its number; one unseen while two generations filled is forgotten
// and gets a new number when it comes back. Numbers are never reused.
type interner struct {
	cur, prev map[string]uint32
	next      uint32
	last      []byte
	lastID    uint32
}

// maxInterned is the size of one generation.
const maxInterned = 1 << 22

func newInterner() *interner { return &interner{cur: map[string]uint32{}, prev: map[string]uint32{}} }

func (in *interner) id(b []byte) uint32 {
	if in.lastID != 0 && string(b) == string(in.last) {
		return in.lastID
	}
	id, ok := in.cur[string(b)]
	if !ok {
		if id, ok = in.prev[string(b)]; !ok {
			in.next++
			id = in.next
		}
		if len(in.cur) >= maxInterned {
			in.prev, in.cur = in.cur, make(map[string]uint32, len(in.cur))
		}
		in.cur[string(b)] = id
	}
	in.last, in.lastID = append(in.last[:0], b...), id
	return id
}

// Features is the number of features per packet, in LUCID's order.
const Features = 11

// The features, in LUCID's order (lucid-ddos util_functions.py,
// feature_list), and the maxima LUCID divides by (its static_min_max: every
// minimum is 0; the time's maximum is the time window).
const (
	FeatTime = iota
	FeatIPLen
	FeatHighestLayer
	FeatIPFlags
	FeatProtocols
	FeatTCPLen
	FeatTCPAck
	FeatTCPFlags
	FeatTCPWindow
	FeatUDPLen
	FeatICMPType
)

// FeatureNames are LUCID's names of the features.
var FeatureNames = [Features]string{"timestamp", "packet_length", "highest_layer", "IP_flags", "protocols",
	"TCP_length", "TCP_ack", "TCP_flags", "TCP_window_size", "UDP_length", "ICMP_type"}

// lucidProtocols is LUCID's vocabulary of frame.protocols tokens; a
// token's bit is its index in sorted order (scikit-learn's CountVectorizer
// numbers its vocabulary alphabetically): arp 0, data 1, dns 2, ftp 3,
// http 4, icmp 5, ip 6, ssdp 7, ssl 8, tcp 9, telnet 10, udp 11.
var lucidProtocols = []string{"arp", "data", "dns", "ftp", "http", "icmp", "ip", "ssdp", "ssl", "tcp", "telnet", "udp"}

func protoBit(name string) uint32 {
	for i, p := range lucidProtocols {
		if p == name {
			return 1 << i
		}
	}
	return 0
}

// maxima are LUCID's static maxima but the time's (the window).
var maxima = [Features]float64{FeatIPLen: 1 << 16, FeatHighestLayer: 1 << 32, FeatIPFlags: 1 << 16,
	FeatProtocols: 1 << 12, FeatTCPLen: 1 << 16, FeatTCPAck: 1 << 32, FeatTCPFlags: 1 << 16,
	FeatTCPWindow: 1 << 16, FeatUDPLen: 1 << 16, FeatICMPType: 1 << 8}

// application is tacap's stand-in for the top of tshark's dissection,
// from the protocol, the ports and whether there is a payload: the layer
// name LUCID hashes (pyshark's highest_layer) and the frame.protocols
// token it adds, if any is in LUCID's vocabulary. tshark dissects by
// heuristics and content; tacap sees only headers, so this is a
// documented approximation (docs/dataset.md, "LUCID export": agreement
// with tshark measured on the shared captures).
type application struct {
	layer  string   // pyshark highest_layer
	tokens []string // the words of its frame.protocols name in LUCID's vocabulary (CountVectorizer splits ftp-data into ftp and data)
}

// wellKnown maps a server port to the application tshark dissects there.
var wellKnown = map[int32]application{
	20: {"FTP-DATA", []string{"ftp", "data"}}, 21: {"FTP", []string{"ftp"}}, 23: {"TELNET", []string{"telnet"}},
	53: {"DNS", []string{"dns"}}, 80: {"HTTP", []string{"http"}}, 8080: {"HTTP", []string{"http"}}, 123: {"NTP", nil},
	137: {"NBNS", nil}, 138: {"BROWSER", nil}, 161: {"SNMP", nil}, 162: {"SNMP", nil}, 389: {"LDAP", nil},
	443: {"TLS", nil}, 1900: {"SSDP", []string{"ssdp"}}, 5353: {"MDNS", nil}, 5355: {"LLMNR", nil},
	1434: {"MSSQL", nil}, 69: {"TFTP", nil}, 22: {"SSH", nil}, 6667: {"IRC", nil},
}

// udpKnown are the ports whose application differs over UDP.
var udpKnown = map[int32]application{443: {"QUIC", nil}, 67: {"DHCP", nil}, 68: {"DHCP", nil}, 1194: {"OPENVPN", nil}}

// appOf is the application of a row: by its lower well-known port when it
// carries a payload; "DATA" for an undissected payload; the transport
// itself without a payload.
func appOf(r *Row) application {
	payload := r.TCPPayloadLen
	transport := "TCP"
	if r.Protocol == 17 {
		payload, transport = r.UDPPayloadLen, "UDP"
	}
	if payload == 0 {
		return application{transport, nil}
	}
	lo, hi := r.SrcPort, r.DstPort
	if hi < lo {
		lo, hi = hi, lo
	}
	for _, p := range [2]int32{lo, hi} {
		if r.Protocol == 17 {
			if a, ok := udpKnown[p]; ok {
				return a
			}
		}
		if a, ok := wellKnown[p]; ok {
			return a
		}
	}
	return dataApp
}

var dataApp = application{"DATA", []string{"data"}}

// laterFragment says whether a row is a fragment after the first: tshark
// dissects no transport header there (ip, then data), and LUCID's parser
// takes no transport feature from it.
func laterFragment(r *Row) bool {
	if r.IPVersion == 4 {
		return r.IPFlagsFrag&0x1fff != 0
	}
	return r.IPFlagsFrag>>3 != 0
}

// lucidProto is the protocol LUCID files a row's flow under: 0 for a
// later fragment (its parser finds no transport layer there).
func lucidProto(r *Row) int32 {
	if laterFragment(r) {
		return 0
	}
	return r.Protocol
}

var hashMod = big.NewInt(100_000_000)

// layerHash is LUCID's value of a highest layer: the SHA-256 of its name as
// an integer, modulo 10^8.
func layerHash(name string) float64 {
	sum := sha256.Sum256([]byte(name))
	var v big.Int
	v.SetBytes(sum[:])
	return float64(v.Mod(&v, hashMod).Int64())
}

// layerHashes caches layerHash.
var layerHashes = map[string]float64{}

func cachedLayerHash(name string) float64 {
	if v, ok := layerHashes[name]; ok {
		return v
	}
	v := layerHash(name)
	layerHashes[name] = v
	return v
}

// raw fills the raw (unnormalised) features of a row but the time, as
// LUCID's parse_packet takes them from tshark, in tacap's equivalents;
// ack is the relative acknowledgment number (acks.go).
func raw(r *Row, ack uint32, out *[Features]float64) {
	*out = [Features]float64{}
	out[FeatIPLen] = float64(r.IPLen)
	out[FeatIPFlags] = float64(r.IPFlagsFrag)
	var mask uint32
	if r.IPVersion == 4 {
		mask = protoBit("ip") // tshark's IPv6 token is ipv6, not in LUCID's vocabulary
	}
	switch {
	case laterFragment(r): // no transport feature, as in LUCID
	case r.Protocol == 6:
		mask |= protoBit("tcp")
		out[FeatTCPLen] = float64(r.TCPPayloadLen)
		out[FeatTCPAck] = float64(ack)
		out[FeatTCPFlags] = float64(r.TCPFlags)
		out[FeatTCPWindow] = float64(r.TCPWindow)
	case r.Protocol == 17:
		mask |= protoBit("udp")
		out[FeatUDPLen] = float64(r.UDPPayloadLen + 8)
	case r.Protocol == 1, r.Protocol == 58:
		out[FeatICMPType] = float64(r.ICMPType)
	}
	app := appFor(r)
	for _, t := range app.tokens {
		mask |= protoBit(t)
	}
	out[FeatHighestLayer] = cachedLayerHash(app.layer)
	out[FeatProtocols] = float64(mask)
}

// appFor is a row's highest layer and its application's vocabulary words.
func appFor(r *Row) application {
	switch {
	case laterFragment(r):
		return dataApp
	case r.Protocol == 6, r.Protocol == 17:
		return appOf(r)
	case r.Protocol == 1:
		if (r.ICMPType == 0 || r.ICMPType == 8) && r.IPLen > 28 {
			return application{"DATA", []string{"icmp", "data"}} // an echo with data: tshark's last layer is data
		}
		return application{"ICMP", []string{"icmp"}}
	}
	return application{"ICMPV6", nil}
}

// RawFeatures are the unnormalised features of rows taken in order (one
// run, time order), as a sample holds them before normalisation, with the
// time as ts_ns: for comparing tacap's equivalents with tshark's values.
func RawFeatures(rows []Row) [][Features]float64 {
	a := newAcks()
	in := newInterner()
	for i := range rows {
		rows[i].src, rows[i].dst = in.id([]byte(rows[i].SrcIP)), in.id([]byte(rows[i].DstIP))
	}
	out := make([][Features]float64, len(rows))
	for i := range rows {
		raw(&rows[i], a.relative(&rows[i]), &out[i])
		out[i][FeatTime] = float64(rows[i].TsNs)
	}
	return out
}

// LayerName is the highest-layer name tacap infers for a row (hashed into
// the highest_layer feature).
func LayerName(r *Row) string { return appFor(r).layer }
