package lucid

import (
	"cmp"
	"slices"
)

// A sample is one bidirectional flow in one time window: its first
// MaxPackets packets in time order (LUCID's lucid_dataset_parser.py,
// process_pcap and store_packet).
type sample struct {
	rows   [][Features]float64 // raw features but the time
	ts     []int64             // each row's ts_ns
	first  int64               // earliest ts_ns
	label  string              // of its first packet
	attack bool
}

// flowKey is a flow regardless of direction: LUCID files a packet under
// its 5-tuple or, if that flow was seen the other way first, the reverse
// one; either way both directions make one sample.
type flowKey struct {
	a, b   uint32 // interned addresses
	pa, pb int32
	proto  int32
}

func keyOf(r *Row) flowKey {
	p := lucidProto(r)
	if r.src < r.dst || (r.src == r.dst && r.SrcPort <= r.DstPort) {
		return flowKey{r.src, r.dst, r.SrcPort, r.DstPort, p}
	}
	return flowKey{r.dst, r.src, r.DstPort, r.SrcPort, p}
}

// Counts are what building the samples saw.
type Counts struct {
	Rows    int64 `json:"rows"`     // packets/ rows read
	Used    int64 `json:"used"`     // rows that went into a sample
	Capped  int64 `json:"capped"`   // rows of a sample already holding MaxPackets
	NotIPv4 int64 `json:"not_ipv4"` // IPv6 rows (LUCID's parser takes IPv4 only), unless IPv6 is on
	Late    int64 `json:"late"`     // rows more out of time order than the reorder buffer holds (taken as they came)
	Windows int64 `json:"windows"`  // time windows
	Samples int64 `json:"samples"`  // samples made
	Attack  int64 `json:"attack"`   // samples whose first packet is not labelled benign
	MaxOpen int   `json:"max_open"` // the most samples open at once (one window's flows)
}

// sampler cuts one run's rows, in time order, into windows and samples.
type sampler struct {
	window  int64 // ns
	n       int
	benign  string
	ipv6    bool
	start   int64
	started bool
	open    map[flowKey]*sample
	order   []*sample // the window's samples by first packet
	acks    *acks
	addrs   *interner // for rows without numbered addresses
	counts  *Counts
	emit    func(*sample) error
	feat    [Features]float64
}

func newSampler(window int64, n int, benign string, ipv6 bool, counts *Counts, emit func(*sample) error) *sampler {
	return &sampler{window: window, n: n, benign: benign, ipv6: ipv6, open: map[flowKey]*sample{}, acks: newAcks(),
		counts: counts, emit: emit}
}

// add takes the next row in time order.
func (s *sampler) add(r *Row) error {
	// LUCID: a window starts at the first packet, and a new one at the
	// first packet later than its start + t — any packet, also those its
	// parser then drops (IPv6).
	if !s.started || r.TsNs > s.start+s.window {
		if err := s.flush(); err != nil {
			return err
		}
		s.start, s.started = r.TsNs, true
		s.counts.Windows++
	}
	if r.IPVersion != 4 && !s.ipv6 {
		s.counts.NotIPv4++
		return nil
	}
	if r.src == 0 || r.dst == 0 { // a row not from a reader: number its addresses here
		if s.addrs == nil {
			s.addrs = newInterner()
		}
		r.src, r.dst = s.addrs.id([]byte(r.SrcIP)), s.addrs.id([]byte(r.DstIP))
	}
	ack := s.acks.relative(r)
	k := keyOf(r)
	smp := s.open[k]
	if smp == nil {
		smp = &sample{first: r.TsNs, label: r.Label, attack: r.Label != s.benign}
		s.open[k] = smp
		s.order = append(s.order, smp)
		s.counts.MaxOpen = max(s.counts.MaxOpen, len(s.open))
	}
	if len(smp.rows) >= s.n {
		s.counts.Capped++
		return nil
	}
	raw(r, ack, &s.feat)
	smp.rows = append(smp.rows, s.feat)
	smp.ts = append(smp.ts, r.TsNs)
	smp.first = min(smp.first, r.TsNs)
	s.counts.Used++
	return nil
}

// flush emits the open window's samples in the order of their first
// packet and forgets them.
func (s *sampler) flush() error {
	for _, smp := range s.order {
		s.counts.Samples++
		if smp.attack {
			s.counts.Attack++
		}
		if err := s.emit(smp); err != nil {
			return err
		}
	}
	s.order = s.order[:0]
	clear(s.open)
	return nil
}

// normalise writes a sample as LUCID's normalize_and_padding makes it: the
// time relative to the sample's first packet, every feature divided by its
// static maximum (the time's is the window, in seconds), zero rows up to n.
func normalise(smp *sample, n int, windowSeconds float64, out []float64) {
	clear(out)
	for i, row := range smp.rows {
		o := out[i*Features : (i+1)*Features]
		o[FeatTime] = float64(smp.ts[i]-smp.first) / 1e9 / windowSeconds
		for k := 1; k < Features; k++ {
			o[k] = row[k] / maxima[k]
		}
	}
}

// reorder puts rows back in time order within a bounded buffer: the rows
// of a run are written in the order the kernel handed them over, which
// across CPUs is time order only nearly. It collects up to 2×cap rows,
// sorts them (nothing to do when they came in order) and hands on the
// earliest cap; a row earlier than one already handed on is too late to
// sort and is handed on at once (counted late).
type reorder struct {
	buf    []Row
	cap    int
	sorted bool // buf is in order
	last   int64
	handed bool
}

// push adds r and hands on the rows the buffer no longer holds.
func (q *reorder) push(r Row, counts *Counts, out func(*Row) error) error {
	if q.handed && r.TsNs < q.last {
		counts.Late++
		return out(&r)
	}
	if len(q.buf) == 0 {
		q.sorted = true
	} else if r.TsNs < q.buf[len(q.buf)-1].TsNs {
		q.sorted = false
	}
	q.buf = append(q.buf, r)
	if len(q.buf) < 2*q.cap {
		return nil
	}
	q.sort()
	if err := q.hand(q.buf[:q.cap], out); err != nil {
		return err
	}
	q.buf = q.buf[:copy(q.buf, q.buf[q.cap:])]
	return nil
}

func (q *reorder) sort() {
	if !q.sorted {
		slices.SortStableFunc(q.buf, func(a, b Row) int { return cmp.Compare(a.TsNs, b.TsNs) })
		q.sorted = true
	}
}

func (q *reorder) hand(rows []Row, out func(*Row) error) error {
	for i := range rows {
		if err := out(&rows[i]); err != nil {
			return err
		}
		q.last, q.handed = rows[i].TsNs, true
	}
	return nil
}

// drain hands on every row left.
func (q *reorder) drain(out func(*Row) error) error {
	q.sort()
	err := q.hand(q.buf, out)
	q.buf, q.handed = q.buf[:0], false
	return err
}
