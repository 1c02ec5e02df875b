package lucid

import (
	"math"
	"testing"
	"time"

	"github.com/tacap/tacap/dataset"
)

// LUCID's highest_layer values, computed by hand with LUCID's own
// expression, int(hashlib.sha256(name.encode('utf-8')).hexdigest(), 16)
// % 10**8.
const (
	hashTCP     float64 = 78354535
	hashUDP     float64 = 26361795
	hashHTTP    float64 = 11875138
	hashDNS     float64 = 63782488
	hashICMP    float64 = 97525412
	hashDATA    float64 = 49489976
	hashTLS     float64 = 18228385
	hashICMPV6  float64 = 12256414
	hashMDNS    float64 = 83392760
	hashFTPDATA float64 = 55278534
)

// LUCID's protocols bits (CountVectorizer numbers its vocabulary
// alphabetically; bit = index).
const (
	bitData           = 1 << 1
	bitDNS            = 1 << 2
	bitFTP            = 1 << 3
	bitHTTP           = 1 << 4
	bitICMP           = 1 << 5
	bitIP             = 1 << 6
	bitTCP            = 1 << 9
	bitUDP            = 1 << 11
	two16     float64 = 1 << 16
	two32     float64 = 1 << 32
	protosMax float64 = 1 << 12
)

// row is one expected normalised row: LUCID's 11 features.
type row [Features]float64

func checkRow(t *testing.T, what string, got []float64, want row) {
	t.Helper()
	for k := range Features {
		ok := got[k] == want[k]
		if k == FeatTime {
			ok = math.Abs(got[k]-want[k]) <= 1e-15
		}
		if !ok {
			t.Errorf("%s: %s = %v (×max %v), want %v (×max %v)", what, FeatureNames[k], got[k], got[k]*maxOf(k), want[k], want[k]*maxOf(k))
		}
	}
}

func maxOf(k int) float64 {
	if k == FeatTime {
		return 10
	}
	return maxima[k]
}

// TestFeatureNormalisation: each feature of hand-built packets against its
// value worked out by hand from docs/lucid.md's table and LUCID's static
// maxima (t = 10 s).
func TestFeatureNormalisation(t *testing.T) {
	cl, sv := "10.0.0.1", "10.0.0.2"
	syn := tcpPkt(0, cl, 40000, sv, 80, 0x02, 1000, 0, 0, "benign")
	syn.IPLen = 60
	synAck := tcpPkt(1*ms, sv, 80, cl, 40000, 0x12, 5000, 1001, 0, "benign")
	synAck.IPLen, synAck.TCPWindow = 60, 65160
	ack := tcpPkt(2*ms, cl, 40000, sv, 80, 0x10, 1001, 5001, 0, "benign")
	ack.TCPWindow = 502
	get := tcpPkt(3*ms, cl, 40000, sv, 80, 0x18, 1001, 5001, 100, "benign")
	get.TCPWindow = 502
	dns := udpPkt(10*ms, cl, 33333, "10.0.0.53", 53, 40, "benign")
	echo := icmpPkt(20*ms, cl, "10.0.0.9", 8, "benign")
	tls := tcpPkt(30*ms, cl, 40001, sv, 443, 0x08, 7, 99, 200, "benign") // no ACK flag: the ack field as it is
	data := udpPkt(40*ms, cl, 5000, "10.0.0.3", 6000, 10, "benign")
	empty := udpPkt(50*ms, cl, 5001, "10.0.0.3", 6001, 0, "benign")
	// The higher port is the well-known one: 8080 is HTTP.
	alt := tcpPkt(60*ms, cl, 8080, sv, 50000, 0x08, 1, 0, 10, "benign")

	_, f := exportRows(t, Options{Window: 10 * time.Second}, syn, synAck, ack, get, dns, echo, tls, data, empty, alt)
	if f.XShape[0] != 7 {
		t.Fatalf("%d samples, want 7", f.XShape[0])
	}
	tcpIP := float64(bitIP|bitTCP) / protosMax
	df := 0x4000 / two16
	checkRow(t, "SYN", f.X[0][0], row{0, 60.0 / two16, hashTCP / two32, df, tcpIP, 0, 0, 2.0 / two16, 64240.0 / two16, 0, 0})
	// The SYN-ACK acknowledges the SYN: relative ack 1.
	checkRow(t, "SYN-ACK", f.X[0][1], row{0.001 / 10, 60.0 / two16, hashTCP / two32, df, tcpIP, 0, 1.0 / two32, 0x12 / two16, 65160.0 / two16, 0, 0})
	checkRow(t, "ACK", f.X[0][2], row{0.002 / 10, 40.0 / two16, hashTCP / two32, df, tcpIP, 0, 1.0 / two32, 0x10 / two16, 502.0 / two16, 0, 0})
	checkRow(t, "HTTP request", f.X[0][3], row{0.003 / 10, 140.0 / two16, hashHTTP / two32, df,
		float64(bitIP|bitTCP|bitHTTP) / protosMax, 100.0 / two16, 1.0 / two32, 0x18 / two16, 502.0 / two16, 0, 0})
	checkRow(t, "DNS query", f.X[1][0], row{0, 68.0 / two16, hashDNS / two32, 0, float64(bitIP|bitUDP|bitDNS) / protosMax, 0, 0, 0, 0, 48.0 / two16, 0})
	// An echo carrying data: tshark's last layer is data (icmp and data bits).
	checkRow(t, "ICMP echo", f.X[2][0], row{0, 84.0 / two16, layerHash("DATA") / two32, 0, float64(bitIP|bitICMP|2) / protosMax, 0, 0, 0, 0, 0, 8.0 / 256})
	// Without ACK the ack field as it is (99), as tshark shows it.
	checkRow(t, "TLS without ACK", f.X[3][0], row{0, 240.0 / two16, hashTLS / two32, df, tcpIP, 200.0 / two16, 99.0 / two32, 0x08 / two16, 64240.0 / two16, 0, 0})
	checkRow(t, "UDP data", f.X[4][0], row{0, 38.0 / two16, hashDATA / two32, 0, float64(bitIP|bitUDP|bitData) / protosMax, 0, 0, 0, 0, 18.0 / two16, 0})
	checkRow(t, "UDP without payload", f.X[5][0], row{0, 28.0 / two16, hashUDP / two32, 0, float64(bitIP|bitUDP) / protosMax, 0, 0, 0, 0, 8.0 / two16, 0})
	checkRow(t, "HTTP on 8080", f.X[6][0], row{0, 50.0 / two16, hashHTTP / two32, df, float64(bitIP|bitTCP|bitHTTP) / protosMax, 10.0 / two16, 0, 0x08 / two16, 64240.0 / two16, 0, 0})
	for i, s := range f.X {
		if n := nonZeroRows(s); (i == 0 && n != 4) || (i > 0 && n != 1) {
			t.Errorf("sample %d has %d packets", i, n)
		}
	}
}

// TestIPv6Features: with --ipv6, an IPv6 row has no ip bit (tshark's token
// is ipv6, not in LUCID's vocabulary); ICMPv6 is ICMPV6 with no token.
func TestIPv6Features(t *testing.T) {
	v6tcp := tcpPkt(0, "2001:db8::1", 40000, "2001:db8::2", 80, 0x02, 1, 0, 0, "benign")
	v6tcp.IPFlagsFrag = 0
	icmp6 := dataset.Packet{TsNs: t0 + ms, IPVersion: 6, SrcIP: "2001:db8::1", DstIP: "2001:db8::2", Protocol: 58, IPLen: 104, ICMPType: 128, Label: "benign"}
	_, f := exportRows(t, Options{IPv6: true}, v6tcp, icmp6)
	checkRow(t, "IPv6 SYN", f.X[0][0], row{0, 40.0 / two16, hashTCP / two32, 0, float64(bitTCP) / protosMax, 0, 0, 2.0 / two16, 64240.0 / two16, 0, 0})
	checkRow(t, "ICMPv6 echo", f.X[1][0], row{0, 104.0 / two16, hashICMPV6 / two32, 0, 0, 0, 0, 0, 0, 0, 128.0 / 256})
}

// TestMDNSProtocols: LUCID's protocols feature is CountVectorizer over
// frame.protocols, whose tokens are whole words (\b\w\w+\b): tshark
// dissects port 5353 as mdns ("eth:ethertype:ip:udp:mdns"), and "mdns" is
// not LUCID's "dns". The packet's value is ip|udp only.
func TestMDNSProtocols(t *testing.T) {
	m := udpPkt(0, "10.0.0.1", 5353, "224.0.0.251", 5353, 30, "benign")
	_, f := exportRows(t, Options{}, m)
	checkRow(t, "mDNS query", f.X[0][0], row{0, 58.0 / two16, hashMDNS / two32, 0, float64(bitIP|bitUDP) / protosMax, 0, 0, 0, 0, 38.0 / two16, 0})
}

// TestFTPDataProtocols: tshark's token for port 20 is "ftp-data", which
// LUCID's tokenizer splits at the hyphen into ftp and data, both in its
// vocabulary: the value is ip|tcp|ftp|data.
func TestFTPDataProtocols(t *testing.T) {
	d := tcpPkt(0, "10.0.0.1", 20, "10.0.0.2", 40000, 0x08, 1, 0, 100, "benign")
	_, f := exportRows(t, Options{}, d)
	checkRow(t, "FTP-DATA", f.X[0][0], row{0, 140.0 / two16, hashFTPDATA / two32, 0.25, float64(bitIP|bitTCP|bitFTP|bitData) / protosMax,
		100.0 / two16, 0, 0x08 / two16, 64240.0 / two16, 0, 0})
}

// TestRelativeAck: the documented rule, on raw features (RawFeatures keeps
// the numbers unnormalised).
func TestRelativeAck(t *testing.T) {
	a, b := "10.0.0.1", "10.0.0.2"
	cases := []struct {
		name string
		rows []Row
		want []float64
	}{
		{
			// The handshake: each side's base is its SYN's seq.
			name: "handshake",
			rows: []Row{
				tcpRow(a, 1, b, 2, 0x02, 1000, 777), // SYN with a stray ack field: no ACK flag, the field as it is
				tcpRow(b, 2, a, 1, 0x12, 5000, 1001),
				tcpRow(a, 1, b, 2, 0x10, 1001, 5001),
				tcpRow(a, 1, b, 2, 0x18, 1001, 5001),
				tcpRow(b, 2, a, 1, 0x10, 5001, 1101),
			},
			want: []float64{777, 1, 1, 1, 101},
		},
		{
			// Caught mid-stream (checked with tshark 4.0.17): each side's
			// base is its first seq − 1.
			name: "mid-stream",
			rows: []Row{
				tcpRow(a, 1, b, 2, 0x10, 7000, 9000),
				tcpRow(b, 2, a, 1, 0x10, 9000, 7000),
				tcpRow(a, 1, b, 2, 0x18, 7000, 9000),
				tcpRow(b, 2, a, 1, 0x10, 9000, 7010),
			},
			want: []float64{1, 1, 1, 11},
		},
		{
			// The peer never recorded: its base is ack − 1, kept for its
			// later acks too.
			name: "one-sided",
			rows: []Row{
				tcpRow(a, 1, b, 2, 0x10, 10, 9000),
				tcpRow(a, 1, b, 2, 0x10, 10, 9500),
			},
			want: []float64{1, 501},
		},
		{
			name: "sequence numbers wrap",
			rows: []Row{
				tcpRow(a, 1, b, 2, 0x02, 0xFFFFFFF0, 0),
				tcpRow(b, 2, a, 1, 0x12, 3, 0xFFFFFFF1),
				tcpRow(b, 2, a, 1, 0x10, 4, 0x10),
			},
			want: []float64{0, 1, 0x20},
		},
		{
			// A new SYN on the same ports is a new connection: its seq is the
			// new base.
			name: "port reuse",
			rows: []Row{
				tcpRow(a, 1, b, 2, 0x02, 100, 0),
				tcpRow(b, 2, a, 1, 0x12, 200, 101),
				tcpRow(a, 1, b, 2, 0x02, 5000, 0),
				tcpRow(b, 2, a, 1, 0x12, 9000, 5001),
				tcpRow(a, 1, b, 2, 0x10, 5001, 9001),
			},
			want: []float64{0, 1, 0, 1, 1},
		},
		{
			// Another connection's base is its own.
			name: "connections apart",
			rows: []Row{
				tcpRow(a, 1, b, 2, 0x02, 100, 0),
				tcpRow(a, 3, b, 2, 0x02, 7000, 0),
				tcpRow(b, 2, a, 3, 0x12, 1, 7001),
				tcpRow(b, 2, a, 1, 0x12, 1, 101),
			},
			want: []float64{0, 0, 1, 1},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for i := range c.rows {
				c.rows[i].TsNs = int64(i)
			}
			got := RawFeatures(c.rows)
			for i, w := range c.want {
				if got[i][FeatTCPAck] != w {
					t.Errorf("row %d %+v: relative ack %v, want %v", i, c.rows[i], got[i][FeatTCPAck], w)
				}
				if got[i][FeatTime] != float64(i) {
					t.Errorf("row %d: RawFeatures time %v, want its ts_ns %d", i, got[i][FeatTime], i)
				}
			}
		})
	}
}

func tcpRow(src string, sport int32, dst string, dport int32, flags int32, seq, ack int64) Row {
	return Row{IPVersion: 4, SrcIP: src, DstIP: dst, Protocol: 6, SrcPort: sport, DstPort: dport, IPLen: 40,
		TCPSeq: seq, TCPAck: ack, TCPFlags: flags, TCPWindow: 1000, Label: "benign"}
}

// TestLayerName: the names LayerName reports are the ones hashed.
func TestLayerName(t *testing.T) {
	cases := []struct {
		r    Row
		name string
		hash float64
	}{
		{Row{Protocol: 6, SrcPort: 40000, DstPort: 80}, "TCP", hashTCP},
		{Row{Protocol: 6, SrcPort: 40000, DstPort: 80, TCPPayloadLen: 1}, "HTTP", hashHTTP},
		{Row{Protocol: 6, SrcPort: 443, DstPort: 80, TCPPayloadLen: 1}, "HTTP", hashHTTP}, // the lower port first
		{Row{Protocol: 6, SrcPort: 53, DstPort: 443, TCPPayloadLen: 1}, "DNS", hashDNS},
		{Row{Protocol: 6, SrcPort: 40000, DstPort: 50000, TCPPayloadLen: 1}, "DATA", hashDATA},
		{Row{Protocol: 17, SrcPort: 40000, DstPort: 53}, "UDP", hashUDP},
		{Row{Protocol: 17, SrcPort: 40000, DstPort: 53, UDPPayloadLen: 1}, "DNS", hashDNS},
		{Row{Protocol: 17, SrcPort: 40000, DstPort: 53, TCPPayloadLen: 9}, "UDP", hashUDP}, // UDP's payload is udp_payload_len
		{Row{Protocol: 1, ICMPType: 8}, "ICMP", hashICMP},
		{Row{Protocol: 58, IPVersion: 6, ICMPType: 128}, "ICMPV6", hashICMPV6},
	}
	for _, c := range cases {
		c.r.IPVersion = max(c.r.IPVersion, 4)
		if got := LayerName(&c.r); got != c.name {
			t.Errorf("LayerName(%+v) = %q, want %q", c.r, got, c.name)
		}
		if got := RawFeatures([]Row{c.r})[0][FeatHighestLayer]; got != c.hash {
			t.Errorf("highest_layer of %+v = %v, want %v (%s)", c.r, got, c.hash, c.name)
		}
	}
}
