package lucid

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/tacap/tacap/dataset"
)

// sampleWant is what a test expects of one sample, in file order: its
// rows' ip_len (which the tests make unique per packet, so they name the
// packets), the time feature of each row, and y.
type sampleWant struct {
	ipLens []int32
	times  []float64 // nil: not checked
	y      int64
}

// checkSamples compares the file's samples with want, in order, and checks
// padding: rows past the sample's packets are all zero.
func checkSamples(t *testing.T, f h5File, n int, want []sampleWant) {
	t.Helper()
	if f.XShape[0] != len(want) || f.XShape[1] != n {
		t.Fatalf("set_x shape %v, want (%d, %d, 11)", f.XShape, len(want), n)
	}
	for i, w := range want {
		s := f.X[i]
		var got []int32
		for _, r := range s[:nonZeroRows(s)] {
			got = append(got, int32(math.Round(r[FeatIPLen]*65536)))
		}
		if fmt.Sprint(got) != fmt.Sprint(w.ipLens) {
			t.Errorf("sample %d: packets (ip_len) %v, want %v", i, got, w.ipLens)
		}
		for j := len(w.ipLens); j < n; j++ {
			for k, v := range s[j] {
				if v != 0 {
					t.Errorf("sample %d: padding row %d feature %d = %v, want 0", i, j, k, v)
				}
			}
		}
		if w.times != nil {
			for j, wt := range w.times {
				if j >= len(s) || math.Abs(s[j][FeatTime]-wt) > 1e-12 {
					t.Errorf("sample %d row %d: time feature %v, want %v", i, j, s[j][FeatTime], wt)
				}
			}
		}
		if f.Y[i] != w.y {
			t.Errorf("sample %d: y %d, want %d", i, f.Y[i], w.y)
		}
	}
}

// udpLen makes a UDP row of ip_len l (payload l-28) of flow 10.0.0.1:1111
// <-> 10.0.0.2:2222.
func udpLen(ns int64, l int32, label string) dataset.Packet {
	return udpPkt(ns, "10.0.0.1", 1111, "10.0.0.2", 2222, l-28, label)
}

func TestSamples(t *testing.T) {
	a, b := "10.0.0.1", "10.0.0.2"
	cases := []struct {
		name string
		opt  Options
		rows []dataset.Packet
		want []sampleWant
		// counts to check (negative: unchecked)
		windows, capped, notIPv4, late int64
	}{
		{
			// A packet exactly at start+t is in the window; 1 ns later opens
			// a new one, which starts at that packet.
			name: "window edges",
			opt:  Options{Window: 10 * time.Second},
			rows: []dataset.Packet{
				udpLen(0, 100, "benign"),
				udpLen(10*sec, 101, "benign"),                                    // = start + t: same window
				udpPkt(10*sec+1, "10.0.0.3", 53, "10.0.0.4", 3333, 72, "benign"), // opens window 2 at 10 s + 1 ns
				udpLen(10*sec+2, 102, "benign"),                                  // window 2
				udpLen(20*sec+1, 103, "benign"),                                  // = start2 + t: window 2
				udpLen(20*sec+2, 104, "benign"),                                  // window 3
			},
			want: []sampleWant{
				{ipLens: []int32{100, 101}, times: []float64{0, 1}},
				{ipLens: []int32{100}, times: []float64{0}},
				{ipLens: []int32{102, 103}, times: []float64{0, float64(10*sec-1) / 1e9 / 10}},
				{ipLens: []int32{104}, times: []float64{0}},
			},
			windows: 3, capped: 0, notIPv4: 0, late: 0,
		},
		{
			// The first n packets of a flow in a window; the others are
			// capped and dropped; a shorter sample is padded with zero rows;
			// the next window starts a new sample.
			name: "n cap and padding",
			opt:  Options{MaxPackets: 3, Window: 10 * time.Second},
			rows: []dataset.Packet{
				udpLen(0, 101, "benign"),
				udpLen(100*ms, 102, "benign"),
				udpPkt(150*ms, "10.0.0.7", 7, "10.0.0.8", 8, 71, "benign"), // another flow: one packet, two zero rows
				udpLen(200*ms, 103, "benign"),
				udpLen(300*ms, 104, "benign"), // capped
				udpLen(400*ms, 105, "benign"), // capped
				udpLen(10500*ms, 106, "benign"),
			},
			want: []sampleWant{
				{ipLens: []int32{101, 102, 103}, times: []float64{0, 0.01, 0.02}},
				{ipLens: []int32{99}},
				{ipLens: []int32{106}},
			},
			windows: 2, capped: 2, notIPv4: 0, late: 0,
		},
		{
			// Both directions of a 5-tuple are one sample, in time order;
			// another port or another protocol is another sample.
			name: "both directions in one sample",
			rows: []dataset.Packet{
				tcpPkt(0, a, 1000, b, 80, 0x02, 1, 0, 0, "benign"),     // ip_len 40
				tcpPkt(1*ms, b, 80, a, 1000, 0x12, 9, 2, 1, "benign"),  // 41, the reply
				tcpPkt(2*ms, a, 1001, b, 80, 0x02, 5, 0, 2, "benign"),  // 42, another port
				udpPkt(3*ms, a, 1000, b, 80, 15, "benign"),             // 43, another protocol
				tcpPkt(4*ms, a, 1000, b, 80, 0x10, 2, 10, 4, "benign"), // 44
				tcpPkt(5*ms, b, 80, a, 1000, 0x18, 10, 6, 5, "benign"), // 45
			},
			want: []sampleWant{
				{ipLens: []int32{40, 41, 44, 45}, times: []float64{0, 0.0001, 0.0004, 0.0005}},
				{ipLens: []int32{42}},
				{ipLens: []int32{43}},
			},
			windows: 1, capped: 0,
		},
		{
			// y is the label of the sample's first packet, per window.
			name: "label of the first packet decides y",
			rows: []dataset.Packet{
				udpPkt(0, a, 1, b, 1, 72, "benign"),  // X: benign first, then attack: 0
				udpPkt(1*ms, a, 2, b, 2, 73, "ddos"), // Y: attack first, then benign: 1
				udpPkt(2*ms, b, 1, a, 1, 74, "ddos"),
				udpPkt(3*ms, a, 1, b, 1, 75, "ddos"),
				udpPkt(4*ms, b, 2, a, 2, 76, "benign"),
				udpPkt(5*ms, a, 3, b, 3, 77, "syn-flood"), // any label but benign is an attack
				udpPkt(11*sec, a, 1, b, 1, 78, "ddos"),    // X in the next window: attack first
				udpPkt(11*sec+ms, a, 1, b, 1, 79, "benign"),
			},
			want: []sampleWant{
				{ipLens: []int32{100, 102, 103}, y: 0},
				{ipLens: []int32{101, 104}, y: 1},
				{ipLens: []int32{105}, y: 1},
				{ipLens: []int32{106, 107}, y: 1},
			},
			windows: 2,
		},
		{
			name: "another benign label",
			opt:  Options{Benign: "normal"},
			rows: []dataset.Packet{
				udpPkt(0, a, 1, b, 1, 72, "normal"),
				udpPkt(1*ms, a, 2, b, 2, 73, "benign"),
			},
			want:    []sampleWant{{ipLens: []int32{100}, y: 0}, {ipLens: []int32{101}, y: 1}},
			windows: 1,
		},
		{
			// The time feature is relative to the sample's first packet, not
			// the window's, and divided by t.
			name: "time relative to the sample's first packet",
			opt:  Options{Window: 4 * time.Second},
			rows: []dataset.Packet{
				udpPkt(0, a, 1, b, 1, 72, "benign"),
				udpPkt(1*sec, a, 2, b, 2, 73, "benign"),
				udpPkt(3500*ms, b, 2, a, 2, 74, "benign"),
				udpPkt(4*sec, a, 2, b, 2, 75, "benign"),
				udpPkt(4500*ms, a, 9, b, 9, 76, "benign"), // window 2 at 4.5 s
				udpPkt(5*sec, a, 2, b, 2, 77, "benign"),
				udpPkt(8*sec, b, 2, a, 2, 78, "benign"),
			},
			want: []sampleWant{
				{ipLens: []int32{100}, times: []float64{0}},
				{ipLens: []int32{101, 102, 103}, times: []float64{0, 2.5 / 4, 3.0 / 4}},
				{ipLens: []int32{104}, times: []float64{0}},
				{ipLens: []int32{105, 106}, times: []float64{0, 3.0 / 4}},
			},
			windows: 2,
		},
		{
			// IPv6 rows are left out and counted.
			name: "IPv6 left out",
			rows: []dataset.Packet{
				tcpPkt(0, "2001:db8::1", 1, "2001:db8::2", 2, 0x02, 1, 0, 60, "benign"),
				tcpPkt(1*ms, a, 1, b, 2, 0x02, 1, 0, 61, "benign"),
				udpPkt(2*ms, "2001:db8::1", 1, "2001:db8::2", 2, 62, "benign"),
			},
			want:    []sampleWant{{ipLens: []int32{101}, times: []float64{0}}},
			windows: 1, notIPv4: 2,
		},
		{
			// As in LUCID (process_pcap sets the window before parse_packet
			// drops the packet), an IPv6 row left out still opens a window:
			// 10.5 s opens one, so 20.8 s (> 10.5 + 10) opens the next.
			name: "an IPv6 row opens a window",
			rows: []dataset.Packet{
				udpLen(0, 100, "benign"),
				udpPkt(10500*ms, "2001:db8::1", 1, "2001:db8::2", 2, 72, "benign"),
				udpLen(15*sec, 101, "benign"),
				udpLen(20800*ms, 102, "benign"),
			},
			want:    []sampleWant{{ipLens: []int32{100}}, {ipLens: []int32{101}}, {ipLens: []int32{102}}},
			windows: 3, notIPv4: 1,
		},
		{
			name: "IPv6 with --ipv6",
			opt:  Options{IPv6: true},
			rows: []dataset.Packet{
				tcpPkt(0, "2001:db8::1", 1, "2001:db8::2", 2, 0x02, 1, 0, 60, "benign"),
				tcpPkt(1*ms, a, 1, b, 2, 0x02, 1, 0, 61, "benign"),
				udpPkt(2*ms, "2001:db8::1", 1, "2001:db8::2", 2, 62, "ddos"),
			},
			want: []sampleWant{
				{ipLens: []int32{100}}, {ipLens: []int32{101}}, {ipLens: []int32{90}, y: 1},
			},
			windows: 1, notIPv4: 0,
		},
		{
			// Rows out of time order by less than the buffer are sorted.
			name: "disorder within the reorder buffer",
			opt:  Options{Reorder: 4},
			rows: []dataset.Packet{
				udpLen(30*ms, 130, "benign"), udpLen(10*ms, 110, "benign"), udpLen(20*ms, 120, "benign"),
				udpLen(0, 100, "benign"), udpLen(40*ms, 140, "benign"),
			},
			want:    []sampleWant{{ipLens: []int32{100, 110, 120, 130, 140}, times: []float64{0, 0.001, 0.002, 0.003, 0.004}}},
			windows: 1, late: 0,
		},
		{
			// Rows with the same ts_ns keep the order they were written in
			// (pcap order, the order LUCID reads them in): which packets are
			// a sample's first n, and its first packet's label, must not
			// depend on the heap's arbitrary order of equal keys.
			name: "equal timestamps keep their order",
			opt:  Options{MaxPackets: 2},
			rows: []dataset.Packet{
				udpLen(0, 100, "ddos"), udpLen(0, 101, "benign"), udpLen(0, 102, "benign"), udpLen(0, 103, "benign"),
				udpLen(0, 104, "benign"),
			},
			want:    []sampleWant{{ipLens: []int32{100, 101}, y: 1}},
			windows: 1, capped: 3,
		},
		{
			name: "equal timestamps keep their order across flows",
			opt:  Options{MaxPackets: 1},
			rows: []dataset.Packet{
				udpPkt(0, a, 1, b, 1, 72, "benign"), udpPkt(0, a, 2, b, 2, 73, "ddos"), udpPkt(0, a, 3, b, 3, 74, "benign"),
				udpPkt(0, a, 4, b, 4, 75, "benign"), udpPkt(0, a, 5, b, 5, 76, "benign"),
			},
			want: []sampleWant{
				{ipLens: []int32{100}}, {ipLens: []int32{101}, y: 1}, {ipLens: []int32{102}}, {ipLens: []int32{103}}, {ipLens: []int32{104}},
			},
			windows: 1,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, f := exportRows(t, c.opt, c.rows...)
			n := c.opt.MaxPackets
			if n == 0 {
				n = 10
			}
			checkSamples(t, f, n, c.want)
			got := res.Counts
			if got.Rows != int64(len(c.rows)) || got.Samples != int64(len(c.want)) || got.Windows != c.windows ||
				got.Capped != c.capped || got.NotIPv4 != c.notIPv4 || got.Late != c.late ||
				got.Used != got.Rows-got.Capped-got.NotIPv4 {
				t.Errorf("counts %+v; want rows %d, samples %d, windows %d, capped %d, not_ipv4 %d, late %d, used = rows - capped - not_ipv4",
					got, len(c.rows), len(c.want), c.windows, c.capped, c.notIPv4, c.late)
			}
			var attack int64
			for _, w := range c.want {
				attack += w.y
			}
			if got.Attack != attack || res.Files[0].Attack != attack || res.Files[0].Samples != int64(len(c.want)) {
				t.Errorf("attack samples: counts %d, file %+v; want %d of %d", got.Attack, res.Files[0], attack, len(c.want))
			}
		})
	}
}

// TestRuns: runs are exported in order of their start, whatever the order
// of the datasets given; each run starts its own windows and samples.
func TestRuns(t *testing.T) {
	dir := t.TempDir()
	late := runSpec{id: "20260101T000002Z-bbbbbb", start: time.Unix(0, t0+2*sec).UTC(),
		rows: []dataset.Packet{udpLen(2*sec, 120, "ddos"), udpLen(3*sec, 121, "ddos")}}
	early := runSpec{id: "20260101T000000Z-aaaaaa", start: time.Unix(0, t0).UTC(),
		rows: []dataset.Packet{udpLen(0, 100, "benign"), udpLen(1*sec, 101, "benign")}}
	// A run in the same dataset as early, starting last.
	last := runSpec{id: "20260101T000009Z-cccccc", start: time.Unix(0, t0+9*sec).UTC(),
		rows: []dataset.Packet{udpLen(9*sec, 190, "benign")}}
	writeDataset(t, filepath.Join(dir, "a"), late)
	writeDataset(t, filepath.Join(dir, "b"), last, early)
	res := exported(t, Options{Out: filepath.Join(dir, "out")}, filepath.Join(dir, "a"), filepath.Join(dir, "b"))
	f := readH5(t, res.Files[0].Path)
	// One 10 s window would hold all five packets in one sample; runs are
	// cut apart.
	checkSamples(t, f, 10, []sampleWant{
		{ipLens: []int32{100, 101}, times: []float64{0, 0.1}},
		{ipLens: []int32{120, 121}, times: []float64{0, 0.1}, y: 1},
		{ipLens: []int32{190}},
	})
	if fmt.Sprint(res.Runs) != fmt.Sprint([]string{early.id, late.id, last.id}) || res.Counts.Windows != 3 {
		t.Errorf("runs %v, windows %d; want %s, %s, %s and 3 windows", res.Runs, res.Counts.Windows, early.id, late.id, last.id)
	}
	if len(res.Rules) != 3 {
		t.Errorf("rules %v, want the three runs' label SHA-256s", res.Rules)
	}
}

// TestLateRows: a row more out of order than the reorder buffer holds is
// counted late and taken as it comes — still in its flow's sample, its time
// relative to the sample's earliest packet — and the others stay in time
// order.
func TestLateRows(t *testing.T) {
	var rows []dataset.Packet
	for i := range 20 {
		rows = append(rows, udpLen(int64(10+i)*ms, int32(110+i), "benign"))
	}
	rows = append(rows, udpLen(0, 100, "benign")) // 20 rows late, the buffer holds 2
	res, f := exportRows(t, Options{Reorder: 2, MaxPackets: 30}, rows...)
	if res.Counts.Late != 1 || res.Counts.Used != 21 || f.XShape[0] != 1 {
		t.Fatalf("counts %+v, %d samples; want 1 late row, 21 used, one sample", res.Counts, f.XShape[0])
	}
	s := f.X[0]
	prev := -1.0
	seen := false
	for j := range nonZeroRows(s) {
		l := math.Round(s[j][FeatIPLen] * 65536)
		if l == 100 {
			seen = true
			if s[j][FeatTime] != 0 {
				t.Errorf("the late row's time feature is %v, want 0 (it is the sample's earliest)", s[j][FeatTime])
			}
			continue
		}
		want := (l - 100) / 1000 / 10 // its ms after the earliest, in seconds, over t
		if math.Abs(s[j][FeatTime]-want) > 1e-12 || l <= prev {
			t.Errorf("row %d: ip_len %v after %v, time %v (want %v)", j, l, prev, s[j][FeatTime], want)
		}
		prev = l
	}
	if !seen || nonZeroRows(s) != 21 {
		t.Errorf("the sample has %d packets, the late one %v", nonZeroRows(s), seen)
	}
}

// TestReorderBound: a row written up to Reorder rows after its place in
// time is put back in order and not counted late, wherever it falls
// against the buffer's batches.
func TestReorderBound(t *testing.T) {
	for _, reorder := range []int{1, 2, 3, 7} {
		t.Run(fmt.Sprint("buffer ", reorder), func(t *testing.T) {
			var rows []dataset.Packet
			for i := range 60 {
				rows = append(rows, udpLen(int64(i)*ms, int32(100+i), "benign"))
			}
			for _, p := range []int{3, 13, 24, 35, 46} { // each moved reorder rows later
				r := rows[p]
				copy(rows[p:p+reorder], rows[p+1:p+reorder+1])
				rows[p+reorder] = r
			}
			res, f := exportRows(t, Options{Reorder: reorder, MaxPackets: 60}, rows...)
			if res.Counts.Late != 0 {
				t.Errorf("%d rows late", res.Counts.Late)
			}
			var want []int32
			for i := range 60 {
				want = append(want, int32(100+i))
			}
			checkSamples(t, f, 60, []sampleWant{{ipLens: want}})
		})
	}
}
