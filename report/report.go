package report

import (
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tacap/tacap/dataset"
)

// Options say what to report on.
type Options struct {
	Dirs       []string
	Top        int    // rows in each top-N table
	RunID      string // only this run (exact ID or a unique prefix)
	Thresholds Thresholds
	Workers    int // columns decoded in parallel; 0: GOMAXPROCS
}

// Build finds the runs under o.Dirs, reads them and computes the report.
// Problems (unreadable files, manifests that disagree with their files)
// are in Report.Problems; the error is for a report that cannot be made at
// all (nothing found, an unknown --run). The stages: select the runs,
// read and aggregate their tables, check the reads against the manifests,
// assemble.
func Build(o Options) (*Report, error) {
	if o.Top <= 0 {
		o.Top = 10
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	runs, problems, warnings, err := selectRuns(o)
	if err != nil {
		return nil, err
	}
	rd := readRuns(runs, o)
	problems = append(problems, rd.problems...)
	problems = append(problems, rd.checkFlows(runs)...)
	rep := rd.assemble(runs, o)
	rep.Warnings = warnings
	if rep.Warnings == nil {
		rep.Warnings = []string{}
	}
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].Path < problems[j].Path })
	rep.Problems = problems
	if rep.Problems == nil {
		rep.Problems = []Problem{}
	}
	return rep, nil
}

// selectRuns finds the runs of o.Dirs, or the one --run names.
func selectRuns(o Options) ([]*run, []Problem, []string, error) {
	runs, problems, warnings := find(o.Dirs)
	if len(runs) == 0 {
		if len(problems) == 0 {
			problems = append(problems, Problem{strings.Join(o.Dirs, ", "), "no tacap runs found"})
		}
		return nil, nil, nil, problemsError(problems)
	}
	if o.RunID == "" {
		return runs, problems, warnings, nil
	}
	var sel []*run
	for _, r := range runs {
		if r.id == o.RunID {
			sel = []*run{r}
			break
		}
		if strings.HasPrefix(r.id, o.RunID) {
			sel = append(sel, r)
		}
	}
	switch {
	case len(sel) == 0:
		ids := make([]string, 0, len(runs))
		for _, r := range runs {
			ids = append(ids, r.id)
		}
		return nil, nil, nil, fmt.Errorf("no run %q under %s (runs found: %s)", o.RunID, strings.Join(o.Dirs, ", "), listOrNone(ids))
	case len(sel) > 1:
		return nil, nil, nil, fmt.Errorf("--run %q matches %d runs — give more of the run ID", o.RunID, len(sel))
	}
	// Problems of other runs do not concern this report.
	return sel, filterProblems(problems, sel[0]), filterWarnings(warnings, sel[0].id), nil
}

// readout is what reading the runs' tables gave: the aggregation, per run
// tallies, and the problems met.
type readout struct {
	names       *interner
	agg         *aggregator
	tallies     []runTally
	rowsRead    []int64
	flowTallies []flowTally
	flowsUnread []bool // a flows/ part of the run was not read in full, or disagrees with its listing
	problems    []Problem
}

// unit is one file to read.
type unit struct {
	run   int
	file  dataFile
	table string // dataset.PacketsTable ...
}

// unitsOf lists every packets file, then every sessions file, then every
// flows file: the decoding buffers are shaped for one table at a time.
func unitsOf(runs []*run) []unit {
	var units []unit
	for _, table := range []string{dataset.PacketsTable, dataset.SessionsTable, dataset.FlowsTable} {
		for i, r := range runs {
			files := r.packets
			switch table {
			case dataset.SessionsTable:
				files = r.sessions
			case dataset.FlowsTable:
				files = r.flows
			}
			for _, f := range files {
				units = append(units, unit{i, f, table})
			}
		}
	}
	return units
}

// readRuns reads every table of runs into the aggregation. It decodes one
// row group ahead of the aggregation: the producer decodes the columns of
// a row group in parallel and hands the batch over; two batches circulate
// so memory stays at two row groups. Only the producer appends to the
// read problems and flowsUnread; closing ready publishes them.
func readRuns(runs []*run, o Options) *readout {
	rd := &readout{names: newInterner(), tallies: make([]runTally, len(runs)), rowsRead: make([]int64, len(runs)),
		flowTallies: make([]flowTally, len(runs)), flowsUnread: make([]bool, len(runs))}
	rd.agg = newAggregator(rd.names, o.Top, runs)
	units := unitsOf(runs)
	free := make(chan *batch, 2)
	free <- nil
	free <- nil
	ready := make(chan decoded, 1)
	go rd.produce(units, runs, o.Workers, free, ready)
	for it := range ready {
		u := units[it.u]
		switch u.table {
		case dataset.SessionsTable:
			rd.agg.addSessions(it.b, int32(u.run))
		case dataset.FlowsTable:
			rd.agg.addFlows(it.b, int32(u.run), &rd.flowTallies[u.run])
		default:
			rd.agg.add(it.b, int32(u.run), &rd.tallies[u.run], len(runs[u.run].sessions) == 0)
			rd.rowsRead[u.run] += int64(it.b.rows)
		}
		free <- it.b
	}
	rd.agg.finish()
	for i := range runs {
		rd.flowTallies[i].sortDurations()
	}
	return rd
}

// decoded is a batch of unit u's rows.
type decoded struct {
	b *batch
	u int // index into units
}

// produce decodes the units' row groups into batches taken from free and
// sends them to ready, which it closes at the end.
func (rd *readout) produce(units []unit, runs []*run, workers int, free chan *batch, ready chan<- decoded) {
	defer close(ready)
	for ui, u := range units {
		cols := packetCols
		switch u.table {
		case dataset.SessionsTable:
			cols = sessionCols
		case dataset.FlowsTable:
			cols = flowCols
		}
		if u.table != dataset.PacketsTable && (ui == 0 || units[ui-1].table == dataset.PacketsTable) {
			// Sessions and flows come last and need less look-ahead:
			// one batch circulates from here on, so the packets'
			// buffers go.
			<-free
		}
		problem := func(reason string) {
			rd.problems = append(rd.problems, Problem{u.file.path, reason})
			if u.table == dataset.FlowsTable {
				rd.flowsUnread[u.run] = true
			}
		}
		pf, err := openParquet(u.file.path, cols, u.table)
		if err != nil {
			problem(err.Error())
			continue
		}
		var rows int64
		groups := len(pf.pf.RowGroups())
		for g := 0; g < groups; g++ {
			b := <-free
			if b == nil || len(b.i32) != len(cols) {
				b = newBatch(cols)
			}
			if err := decodeParallel(pf, g, cols, b, rd.names, workers); err != nil {
				problem(err.Error())
				free <- b
				break
			}
			rows += int64(b.rows)
			ready <- decoded{b, ui}
		}
		pf.Close()
		if u.file.rows >= 0 && rows != u.file.rows && rows == pf.pf.NumRows() {
			problem(fmt.Sprintf("has %d rows but the manifest of run %s says %d", rows, runs[u.run].id, u.file.rows))
		}
	}
}

// checkFlows holds the flows read against each manifest's flows.written,
// unless a problem already says why they differ (a part unlisted,
// missing, unreadable or of another row count than listed).
func (rd *readout) checkFlows(runs []*run) []Problem {
	var problems []Problem
	for i, r := range runs {
		m := r.manifest
		if m == nil || r.flowsUnlisted || rd.flowsUnread[i] {
			continue
		}
		if read := int64(rd.flowTallies[i].rows); read != m.Flows.Written {
			problems = append(problems, Problem{filepath.Join(r.dataset, dataset.RunsDir, r.id+".json"),
				fmt.Sprintf("flows.written is %d but its flows/ parts hold %d rows", m.Flows.Written, read)})
		}
	}
	return problems
}

// assemble computes the report's sections from what was read.
func (rd *readout) assemble(runs []*run, o Options) *Report {
	agg := rd.agg
	rep := &Report{Schema: SchemaVersion, Inputs: o.Dirs, Thresholds: o.Thresholds}
	flows, runFlows := agg.flowsReport(rd.flowTallies, runs)
	all := make([]Run, len(runs))
	order := make([]int, len(runs)) // indices into runs, in the order of rep.Runs
	for i, r := range runs {
		all[i] = runOf(r, &rd.tallies[i], &rd.flowTallies[i], rd.rowsRead[i], rd.names.names)
		all[i].Flows = runFlows[i]
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool {
		x, y := &all[order[i]], &all[order[j]]
		if a, b := x.Start, y.Start; a != nil && b != nil && !a.Equal(*b) {
			return a.Before(*b)
		}
		return x.RunID < y.RunID
	})
	for _, i := range order {
		rep.Runs = append(rep.Runs, all[i])
	}
	rep.Accounting = accountingOf(runs, rd.rowsRead)
	rep.Traffic = agg.trafficReport()
	rep.Flows = flows
	rep.Top = agg.topReport(o.Top, runs)
	rep.Top.Flows = agg.topFlows(runs)
	rep.TCP = agg.tcpReport(o.Top)
	rep.Indicators = agg.indicators(o.Thresholds)
	if n := len(rep.Indicators); n > o.Top {
		rep.Indicators, rep.IndicatorsOmitted = rep.Indicators[:o.Top:o.Top], n-o.Top
	}
	if rep.Indicators == nil {
		rep.Indicators = []Indicator{}
	}
	rep.Labels = agg.labelsReport(runs, order, rep)
	return rep
}

// decodeParallel decodes row group g's columns on up to workers goroutines.
func decodeParallel(pf *parquetFile, g int, cols []colSpec, b *batch, in *interner, workers int) error {
	rg := pf.pf.RowGroups()[g]
	b.rows = int(rg.NumRows())
	if workers > len(cols) {
		workers = len(cols)
	}
	errs := make([]error, len(cols))
	var wg sync.WaitGroup
	next := make(chan int, len(cols))
	for i := range cols {
		next <- i
	}
	close(next)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = pf.readColumn(g, cols, i, b, in)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func runOf(r *run, t *runTally, ft *flowTally, rows int64, names []string) Run {
	out := Run{RunID: r.id, Dataset: r.dataset, PacketFiles: len(r.packets), SessionFiles: len(r.sessions), FlowFiles: len(r.flows), RowsRead: rows,
		Interfaces: []string{}, AttachModes: []string{}}
	if m := r.manifest; m != nil {
		out.HasManifest = true
		out.Host = m.Host
		if m.Interfaces != nil {
			out.Interfaces = m.Interfaces
		}
		out.Pcap = m.Pcap
		if len(m.PcapFiles) > 1 {
			out.PcapFiles = len(m.PcapFiles)
		}
		out.Hook = m.Hook
		if m.AttachModes != nil {
			out.AttachModes = m.AttachModes
		}
		s, e := m.Start.UTC(), m.End.UTC()
		out.Start, out.End = &s, &e
		out.DurationSec = round3(e.Sub(s).Seconds())
		out.StopReason = m.StopReason
		out.Complete = m.Complete
		out.TacapVersion = m.Tacap.Version
		out.KernelRelease = m.KernelRelease
		params, counters := m.Parameters, m.Counters
		out.Parameters, out.Counters = &params, &counters
	} else {
		for _, f := range slices.Concat(r.packets, r.sessions, r.flows, r.hidden) {
			if f.host != "" {
				out.Host = f.host
				break
			}
		}
	}
	if t.rows > 0 {
		f, l := time.Unix(0, t.first).UTC(), time.Unix(0, t.last).UTC()
		out.FirstPacket, out.LastPacket = &f, &l
		// A capture file's packets carry the file's own time: its span
		// says when the traffic was, the manifest's start and end only
		// when and how fast it was replayed.
		if m := r.manifest; m != nil && (m.PcapInfo != nil || m.Pcap != "") {
			d := round3(l.Sub(f).Seconds())
			out.FileStart, out.FileEnd, out.FileDurationSec = &f, &l, &d
		}
		out.Timeline = timelineOf(t, names)
		out.Timeline.NotRecordedInFlows = unrecordedSeries(ft.unrecorded, t.base, out.Timeline.BucketSeconds, len(out.Timeline.Records))
		if m := r.manifest; m != nil && m.CountersTimeline != nil {
			out.Timeline.NotRecordedByReason = reasonSeriesOf(m.CountersTimeline, t.base, out.Timeline.BucketSeconds, len(out.Timeline.Records))
		}
	}
	if out.Timeline.Records == nil {
		out.Timeline.Records = []uint64{}
	}
	if out.Timeline.ByProtocol == nil {
		out.Timeline.ByProtocol = []TimeSeries{}
	}
	if out.Timeline.ByLabel == nil {
		out.Timeline.ByLabel = []LabelSeries{}
	}
	if out.Timeline.NotRecordedInFlows == nil {
		out.Timeline.NotRecordedInFlows = []uint64{}
	}
	if out.Timeline.NotRecordedByReason == nil {
		out.Timeline.NotRecordedByReason = []ReasonSeries{}
	}
	return out
}

// maxBuckets bounds a timeline (an hour of seconds).
const maxBuckets = 3600

// timelineOf turns a run's seconds into its timeline: at most maxBuckets
// buckets of whole seconds each.
func timelineOf(t *runTally, names []string) Timeline {
	n := int64(len(t.secs))
	w := max((n+maxBuckets-1)/maxBuckets, 1)
	start := time.Unix(t.base, 0).UTC()
	tl := Timeline{Start: &start, BucketSeconds: w, Records: make([]uint64, (n+w-1)/w)}
	for c, name := range timeClasses {
		ts := TimeSeries{Protocol: name, Packets: make([]uint64, len(tl.Records)), Bytes: make([]uint64, len(tl.Records))}
		seen := false
		for i := range t.secs {
			ts.Packets[int64(i)/w] += t.secs[i].packets[c]
			ts.Bytes[int64(i)/w] += t.secs[i].bytes[c]
			seen = seen || t.secs[i].packets[c] > 0
		}
		if seen {
			tl.ByProtocol = append(tl.ByProtocol, ts)
		}
	}
	for i := range t.secs {
		tl.Records[int64(i)/w] += t.secs[i].rows
	}
	tl.ByLabel = labelSeriesOf(t, w, len(tl.Records), names)
	return tl
}

// labelSeriesOf is a run's rows per label and bucket (w seconds), labels
// by name.
func labelSeriesOf(t *runTally, w int64, buckets int, names []string) []LabelSeries {
	by := map[string][]uint64{}
	for k, n := range t.labels {
		name := labelText(names[k.label])
		s := by[name]
		if s == nil {
			s = make([]uint64, buckets)
			by[name] = s
		}
		if i := (k.sec - t.base) / w; i >= 0 && i < int64(buckets) {
			s[i] += n
		}
	}
	out := make([]LabelSeries, 0, len(by))
	for name, s := range by {
		out = append(out, LabelSeries{Label: name, Records: s})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Label < out[j].Label })
	return out
}

func accountingOf(runs []*run, rowsRead []int64) Accounting {
	var c dataset.Counters
	a := Accounting{Reasons: []Reason{}}
	var lostRuns []string
	for i, r := range runs {
		a.RowsRead += rowsRead[i]
		if r.manifest == nil {
			continue
		}
		a.Runs++
		c.Add(r.manifest.Counters)
		a.RecordedNotWritten += r.manifest.RecordedNotWritten
		if r.manifest.Counters.BufferFull > 0 {
			lostRuns = append(lostRuns, fmt.Sprintf("%s (%d)", r.id, r.manifest.Counters.BufferFull))
		}
	}
	a.Seen, a.Recorded = c.Seen, c.Recorded
	a.NotRecorded = c.Seen - min(c.Recorded, c.Seen)
	for _, rs := range c.Reasons() {
		a.Reasons = append(a.Reasons, Reason{rs.Name, rs.Count, share(rs.Count, c.Seen)})
	}
	if c.BufferFull > 0 {
		a.BufferFullWarning = fmt.Sprintf("%d packets (%.2f %% of seen) were lost because the kernel buffer was full — tacap could not keep up; "+
			"raise --buffer-packets or lower the load. Runs: %s", c.BufferFull, 100*share(c.BufferFull, c.Seen), strings.Join(lostRuns, ", "))
	}
	return a
}

func share(n, of uint64) float64 {
	if of == 0 {
		return 0
	}
	return round4(float64(n) / float64(of))
}

func round4(f float64) float64 { return float64(int64(f*10000+0.5)) / 10000 }

func (a *aggregator) trafficReport() Traffic {
	vs := &a.vol
	t := Traffic{Records: vs.total.records, Packets: vs.total.packets, Bytes: vs.total.bytes, ByProtocol: []Breakup{}, ByDirection: []Breakup{}}
	for k, v := range vs.byProto {
		t.ByProtocol = append(t.ByProtocol, Breakup{k, v.records, v.packets, v.bytes, share(v.records, vs.total.records)})
	}
	for id, v := range vs.byDirection {
		t.ByDirection = append(t.ByDirection, Breakup{a.names.names[id], v.records, v.packets, v.bytes, share(v.records, vs.total.records)})
	}
	byRecords := func(s []Breakup) {
		sort.Slice(s, func(i, j int) bool {
			if s[i].Records != s[j].Records {
				return s[i].Records > s[j].Records
			}
			return s[i].Key < s[j].Key
		})
	}
	byRecords(t.ByProtocol)
	byRecords(t.ByDirection)
	return t
}

func (a *aggregator) topReport(n int, runs []*run) Top {
	top := Top{N: n, Sessions: []Session{}, Sources: []Talker{}, Destinations: []Talker{}, DstPorts: []Port{}}
	names := a.names.names
	vs, rs := &a.vol, &a.rel
	total := vs.total.records

	// Distinct destinations per source.
	peersOut := make([]uint64, len(rs.addrs))
	for pair := range rs.pairs {
		peersOut[uint32(pair)]++
	}
	for id := range rs.addrs {
		if rs.addrs[id].firstDst != 0 && !rs.addrs[id].multiDst {
			peersOut[id] = 1
		}
	}
	type ranked struct {
		id uint32
		n  uint64
	}
	better := func(x, y *ranked) bool {
		if x.n != y.n {
			return x.n > y.n
		}
		return names[x.id] < names[y.id]
	}
	srcs, dsts := newTopN(n, better), newTopN(n, better)
	for id := range vs.addrs {
		if r := vs.addrs[id].srcRecords; r > 0 {
			srcs.offer(ranked{uint32(id), r})
		}
		if r := vs.addrs[id].dstRecords; r > 0 {
			dsts.offer(ranked{uint32(id), r})
		}
	}
	for _, x := range srcs.sorted() {
		ad := vs.addrs[x.id]
		top.Sources = append(top.Sources, Talker{names[x.id], ad.srcRecords, ad.srcBytes, share(ad.srcRecords, total), peersOut[x.id]})
	}
	for _, x := range dsts.sorted() {
		ad := vs.addrs[x.id]
		var peers uint64
		if d := rs.addrs[x.id].dest; d >= 0 {
			peers = rs.dests[d].sources
		}
		top.Destinations = append(top.Destinations, Talker{names[x.id], ad.dstRecords, ad.dstBytes, share(ad.dstRecords, total), peers})
	}

	ports := newTopN(n, func(x, y *Port) bool {
		if x.Records != y.Records {
			return x.Records > y.Records
		}
		if x.Protocol != y.Protocol {
			return x.Protocol < y.Protocol
		}
		return x.Port < y.Port
	})
	for pi, proto := range []string{"tcp", "udp"} {
		for p := range vs.ports[pi] {
			if t := vs.ports[pi][p]; t.records > 0 {
				ports.offer(Port{proto, int32(p), t.records, t.bytes, share(t.records, total)})
			}
		}
	}
	top.DstPorts = append(top.DstPorts, ports.sorted()...)

	for k, s := range vs.sessions {
		a.sessTop.offer(sessRow{k, *s})
	}
	for _, e := range a.sessTop.sorted() {
		s := e.s
		first, last := time.UnixMicro(s.first).UTC(), time.UnixMicro(s.last).UTC()
		dur := last.Sub(first).Seconds()
		var rate *float64 // no rate for a burst shorter than a second
		if dur >= 1 {
			r := round3(float64(s.seen) / dur)
			rate = &r
		}
		src := "sessions"
		if s.fromPackets {
			src = "packets"
		}
		top.Sessions = append(top.Sessions, Session{runs[e.k.run].id, names[e.k.src], int32(e.k.sport), names[e.k.dst], int32(e.k.dport), protoName(int32(e.k.proto)),
			s.seen, s.bytesSeen, s.recorded, s.bytesRecorded, first, last, round3(dur), rate, s.quota, src})
	}
	return top
}

func (a *aggregator) tcpReport(n int) TCP {
	rs := &a.rel
	t := TCP{Records: rs.tcp.records, SYN: rs.tcp.syn, SYNACK: rs.tcp.synAck, RST: rs.tcp.rst, FIN: rs.tcp.fin, PerDestination: []TCPDest{}}
	names := a.names.names
	best := newTopN(n, func(x, y *uint32) bool {
		dx, dy := &rs.dests[rs.addrs[*x].dest], &rs.dests[rs.addrs[*y].dest]
		if dx.synIn != dy.synIn {
			return dx.synIn > dy.synIn
		}
		return names[*x] < names[*y]
	})
	for id := range rs.addrs {
		if di := rs.addrs[id].dest; di >= 0 {
			d := &rs.dests[di]
			t.Handshakes += d.handshakes
			t.Completed += d.completed
			if d.synIn > 0 || d.handshakes > 0 {
				best.offer(uint32(id))
			}
		}
	}
	t.HalfOpenRatio = halfOpen(t.Handshakes, t.Completed)
	for _, id := range best.sorted() {
		ad := &rs.addrs[id]
		d := &rs.dests[ad.dest]
		t.PerDestination = append(t.PerDestination, TCPDest{names[id], d.synIn, ad.synAckOut, ad.rstOut, d.handshakes, d.completed, halfOpen(d.handshakes, d.completed)})
	}
	return t
}

func halfOpen(started, completed uint64) float64 {
	if started == 0 {
		return 0
	}
	return round4(float64(started-min(completed, started)) / float64(started))
}

func protoName(p int32) string {
	switch p {
	case 6:
		return "tcp"
	case 17:
		return "udp"
	case 1:
		return "icmp"
	case 58:
		return "icmpv6"
	}
	return fmt.Sprint(p)
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	if len(s) > 10 {
		return strings.Join(s[:10], ", ") + fmt.Sprintf(" and %d more", len(s)-10)
	}
	return strings.Join(s, ", ")
}

func filterProblems(ps []Problem, r *run) []Problem {
	var out []Problem
	for _, p := range ps {
		if strings.Contains(p.Path, r.id) || strings.Contains(p.Reason, r.id) || !inFolder(p.Path, r.dataset) {
			out = append(out, p)
		}
	}
	return out
}

// inFolder reports whether path is folder or inside it. It compares the
// cleaned paths lexically: /d/dump2 is not in /d/dump, everything is in /
// and every relative path not above the working folder is in ".". A
// relative path is never in an absolute folder nor the other way round.
func inFolder(path, folder string) bool {
	rel, err := filepath.Rel(folder, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func filterWarnings(ws []string, id string) []string {
	var out []string
	for _, w := range ws {
		if strings.Contains(w, id) {
			out = append(out, w)
		}
	}
	return out
}

// problemsError makes one line of several problems.
func problemsError(ps []Problem) error {
	if len(ps) == 1 {
		return fmt.Errorf("%s", ps[0])
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return fmt.Errorf("%d problems: %s", len(ps), strings.Join(s, "; "))
}

// ProblemsError is the one-line error for a report's problems (nil if none).
func ProblemsError(r *Report) error {
	if len(r.Problems) == 0 {
		return nil
	}
	return problemsError(r.Problems)
}

// reasonSeriesOf puts a manifest's counters timeline on a run's timeline
// (buckets of w seconds from second base), for each reason with any
// packet; a manifest bucket outside the run's span of rows counts in the
// nearest bucket.
func reasonSeriesOf(ct *dataset.CountersTimeline, base, w int64, buckets int) []ReasonSeries {
	var out []ReasonSeries
	if buckets == 0 || w <= 0 {
		return nil
	}
	for _, name := range dataset.ReasonNames() {
		src := ct.Reasons[name]
		series := make([]uint64, buckets)
		var total uint64
		for j, n := range src {
			sec := ct.Start.Unix() + int64(j)*max(ct.BucketSeconds, 1)
			i := min(max((sec-base)/w, 0), int64(buckets-1))
			series[i] += n
			total += n
		}
		if total > 0 {
			out = append(out, ReasonSeries{Reason: name, Packets: series})
		}
	}
	return out
}
