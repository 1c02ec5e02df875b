package capture

// The engine against a fake kernel: no privileges, no eBPF. These run in CI
// as an unprivileged user too (scripts/test.sh).

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/capture/attach"
	"github.com/tacap/tacap/capture/sink"
	"github.com/tacap/tacap/dataset"
	"github.com/tacap/tacap/test/pqcheck"
	"github.com/vishvananda/netlink"
)

// t0 is 2026-11-26 12:00:00 UTC in ns.
var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC).UnixNano()

func steps(batches ...[]bpf.Record) []func(*fakeKernel) {
	var out []func(*fakeKernel)
	for _, b := range batches {
		out = append(out, func(k *fakeKernel) { k.record(b...) })
	}
	return out
}

// readManifest reads the run's manifest back from disk.
func readManifest(t *testing.T, dir string, res *Result) dataset.Manifest {
	t.Helper()
	if res == nil {
		t.Fatal("no result: the manifest was not written")
	}
	data, err := os.ReadFile(res.ManifestPath)
	if err != nil {
		t.Fatal(err)
	}
	var m dataset.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(res.ManifestPath) != filepath.Join(dir, dataset.RunsDir) {
		t.Fatalf("manifest at %s, want under %s/_runs", res.ManifestPath, dir)
	}
	return m
}

// rowsOf reads a table's parts listed in the manifest with arrow-go and
// returns each file's ts_ns column.
func rowsOf(t *testing.T, dir string, files []dataset.File) [][]int64 {
	t.Helper()
	var out [][]int64
	for _, f := range files {
		pf, err := pqcheck.Read(filepath.Join(dir, f.Path))
		if err != nil {
			t.Fatalf("read %s: %v", f.Path, err)
		}
		ts, err := pf.Int64("ts_ns")
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(ts)) != f.Rows {
			t.Fatalf("%s holds %d rows, manifest says %d", f.Path, len(ts), f.Rows)
		}
		out = append(out, ts)
	}
	return out
}

func assertNoHidden(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".") && path != dir {
			t.Errorf("hidden file left: %s", path)
		}
		return nil
	})
}

// TestRunWritesEveryRecord: every record read becomes one row in order,
// the sessions table has one row per session, the counters and files add up
// and the run is complete.
func TestRunWritesEveryRecord(t *testing.T) {
	dir := t.TempDir()
	k := newFakeKernel()
	k.refuse(7, 3)
	all := recs(30000, 3, t0) // more than a batch: several batches and pumps
	src := &fakeSource{k: k, steps: steps(all[:100], all[100:20000]), leftover: all[20000:]}
	res, err := runFake(Config{Out: dir, CSV: true, Build: dataset.BuildInfo{Version: "test"}}, src)
	if err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, dir, res)
	if !m.Complete || m.StopReason != dataset.StopDeadline || m.RowsWritten != 30000 || m.RecordedNotWritten != 0 || m.DrainSkipped {
		t.Fatalf("manifest: complete %v stop %q rows %d not written %d skipped %v", m.Complete, m.StopReason, m.RowsWritten, m.RecordedNotWritten, m.DrainSkipped)
	}
	want := dataset.Counters{Seen: 30010, Recorded: 30000, SessionQuota: 7, SessionTableFull: 3}
	if m.Counters != want {
		t.Fatalf("counters %+v, want %+v", m.Counters, want)
	}
	if !src.stopped {
		t.Fatal("the source was never stopped")
	}
	var got []int64
	for _, ts := range rowsOf(t, dir, m.Files.Packets) {
		got = append(got, ts...)
	}
	for i := range all {
		if got[i] != int64(all[i].TsNs) {
			t.Fatalf("row %d: ts_ns %d, want %d", i, got[i], all[i].TsNs)
		}
	}
	if m.Sessions != 3 || len(m.Files.Sessions) != 1 || m.Files.Sessions[0].Rows != 3 {
		t.Fatalf("sessions %d, files %+v; want 3 sessions in one part", m.Sessions, m.Files.Sessions)
	}
	if m.CSV == nil || m.CSV.Files != 3 {
		t.Fatalf("csv %+v, want 3 files", m.CSV)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "csv", m.RunID, "*.csv"))
	if len(names) != 3 {
		t.Fatalf("csv files %v", names)
	}
	data, _ := os.ReadFile(names[0])
	if lines := strings.Count(string(data), "\n"); lines != 10001 {
		t.Fatalf("%s: %d lines, want a header and 10000 rows", names[0], lines)
	}
	assertNoHidden(t, dir)
}

// TestWriterFailureStopsTheRun: a table folder that cannot be created
// stops the run with an error; the manifest still says what happened.
func TestWriterFailureStopsTheRun(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "packets"), nil, 0o600); err != nil { // a file where the folder goes
		t.Fatal(err)
	}
	k := newFakeKernel()
	src := &fakeSource{k: k, steps: steps(recs(9000, 2, t0), recs(9000, 2, t0+1e9), recs(9000, 2, t0+2e9)), untilWriterFails: true}
	res, err := runFake(Config{Out: dir}, src)
	if err == nil || !strings.Contains(err.Error(), "packets") {
		t.Fatalf("got %v, want an error naming the packets folder", err)
	}
	m := readManifest(t, dir, res)
	if m.Complete || m.StopReason != dataset.StopError || len(m.Errors) == 0 || m.RowsWritten != 0 || m.RecordedNotWritten != int64(m.Counters.Recorded) {
		t.Fatalf("manifest: complete %v stop %q errors %v rows %d", m.Complete, m.StopReason, m.Errors, m.RowsWritten)
	}
}

// TestDiskFullMidPart: the disk fills while the second part is written;
// the first part stays published and listed, the second leaves nothing,
// the run fails and is not complete.
func TestDiskFullMidPart(t *testing.T) {
	dir := t.TempDir()
	disk := &fullDisk{roomy: 1, left: 200} // the first file fits, later ones get 200 bytes each
	src := &fakeSource{k: newFakeKernel(), steps: steps(recs(1000, 2, t0), recs(500, 2, t0+1e9))}
	res, err := runFake(Config{Out: dir, PartMaxRows: 1000, createPart: disk.create}, src)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("got %v, want ENOSPC", err)
	}
	m := readManifest(t, dir, res)
	if m.Complete || len(m.Files.Packets) != 1 || m.Files.Packets[0].Rows != 1000 || m.RecordedNotWritten != 500 {
		t.Fatalf("manifest: complete %v parts %+v not written %d", m.Complete, m.Files.Packets, m.RecordedNotWritten)
	}
	rowsOf(t, dir, m.Files.Packets)
	assertNoHidden(t, dir)
}

// TestDayBoundarySplitsParts: rows on both sides of midnight (UTC) go to
// parts in their own date= folders, even within one batch.
func TestDayBoundarySplitsParts(t *testing.T) {
	dir := t.TempDir()
	midnight := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC).UnixNano()
	before := recs(10, 1, midnight-10_000)
	after := recs(5, 1, midnight)
	src := &fakeSource{k: newFakeKernel(), steps: steps(append(before, after...))}
	res, err := runFake(Config{Out: dir}, src)
	if err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, dir, res)
	if len(m.Files.Packets) != 2 {
		t.Fatalf("parts %+v, want two", m.Files.Packets)
	}
	for i, want := range []struct {
		day  string
		rows int64
	}{{"date=2026-11-26", 10}, {"date=2026-11-27", 5}} {
		f := m.Files.Packets[i]
		if !strings.Contains(f.Path, "/"+want.day+"/") || f.Rows != want.rows {
			t.Fatalf("part %d: %+v, want %d rows under %s", i, f, want.rows, want.day)
		}
	}
	rowsOf(t, dir, m.Files.Packets)
}

// TestSkippedDrain: records still in the ring when the drain is skipped
// (a second Ctrl-C) are counted as recorded and not written.
func TestSkippedDrain(t *testing.T) {
	dir := t.TempDir()
	skip := make(chan struct{})
	close(skip)
	src := &fakeSource{k: newFakeKernel(), steps: steps(recs(100, 2, t0)), leftover: recs(40, 2, t0+1e9), stopAs: dataset.StopSignal}
	res, err := runFake(Config{Out: dir, SkipDrain: skip}, src)
	if err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, dir, res)
	if !m.DrainSkipped || m.Complete || m.RowsWritten != 100 || m.RecordedNotWritten != 40 || m.StopReason != dataset.StopSignal {
		t.Fatalf("manifest: skipped %v complete %v rows %d not written %d stop %q", m.DrainSkipped, m.Complete, m.RowsWritten, m.RecordedNotWritten, m.StopReason)
	}
}

// TestSkipWithNothingLeft: a second Ctrl-C that comes when the ring is
// already empty skips nothing: the run is complete and not marked skipped.
func TestSkipWithNothingLeft(t *testing.T) {
	dir := t.TempDir()
	skip := make(chan struct{})
	close(skip)
	src := &fakeSource{k: newFakeKernel(), steps: steps(recs(100, 2, t0)), stopAs: dataset.StopSignal}
	res, err := runFake(Config{Out: dir, SkipDrain: skip}, src)
	if err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, dir, res)
	if m.DrainSkipped || !m.Complete || m.RowsWritten != 100 || m.RecordedNotWritten != 0 {
		t.Fatalf("manifest: skipped %v complete %v rows %d not written %d", m.DrainSkipped, m.Complete, m.RowsWritten, m.RecordedNotWritten)
	}
}

// TestSessionsSettleAtStop: the sessions table takes the final figures of
// the sessions still in the kernel's table; a session none of whose packets
// was recorded is no row; every row carries the run's id.
func TestSessionsSettleAtStop(t *testing.T) {
	dir := t.TempDir()
	k := newFakeKernel()
	r0, r1 := rec(0, t0, t0), rec(1, t0+1000, t0+1000)
	r0b := rec(0, t0+2000, t0)
	r0b.SessPacketsSeen = 2
	key := func(r bpf.Record) bpf.SessionKey {
		return bpf.SessionKey{AddrA: r.SrcAddr, AddrB: r.DstAddr, PortA: r.SrcPort, PortB: r.DstPort, Protocol: r.Protocol, IpVersion: r.IpVersion}
	}
	// Session 0 went on after its last record: 50 packets seen, 10 refused.
	k.sessions[key(r0)] = bpf.Session{FirstNs: uint64(t0), LastSeenNs: uint64(t0 + 5e9), PacketsSeen: 50, BytesSeen: 3000, QuotaRefused: 10}
	// Unrecorded session: in the table, never in the ring.
	lone := rec(7, t0, t0)
	k.sessions[key(lone)] = bpf.Session{FirstNs: uint64(t0), LastSeenNs: uint64(t0), PacketsSeen: 9, BytesSeen: 540}
	src := &fakeSource{k: k, steps: steps([]bpf.Record{r0, r1, r0b})}
	res, err := runFake(Config{Out: dir}, src)
	if err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, dir, res)
	f, err := pqcheck.Read(filepath.Join(dir, m.Files.Sessions[0].Path))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := f.Strings("run_id")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{m.RunID, m.RunID}; !reflect.DeepEqual(ids, want) {
		t.Fatalf("run_id %q, want %q", ids, want)
	}
	got := map[string][]int64{}
	for _, col := range []string{"src_port", "packets_recorded", "packets_seen", "bytes_seen", "first_ts", "last_ts"} {
		v, err := f.Int64(col)
		if err != nil {
			t.Fatal(err)
		}
		got[col] = v
	}
	want := map[string][]int64{
		"src_port":         {10000, 10001},
		"packets_recorded": {2, 1},
		"packets_seen":     {50, 1},
		"bytes_seen":       {3000, 60},
		"first_ts":         {t0 / 1000, (t0 + 1000) / 1000},
		"last_ts":          {(t0 + 5e9) / 1000, (t0 + 1000) / 1000},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("sessions\n got %v\nwant %v", got, want)
	}
}

// TestSessionWalkErrorIsReported: a failure reading the session table
// makes the run fail and incomplete, and the manifest says why.
func TestSessionWalkErrorIsReported(t *testing.T) {
	dir := t.TempDir()
	k := newFakeKernel()
	k.walkErr = errors.New("read the session table: interrupted")
	res, err := runFake(Config{Out: dir}, &fakeSource{k: k, steps: steps(recs(10, 1, t0))})
	if err == nil || !strings.Contains(err.Error(), "session table") {
		t.Fatalf("got %v, want the session table's error", err)
	}
	m := readManifest(t, dir, res)
	if m.Complete || !slices.ContainsFunc(m.Errors, func(e string) bool { return strings.Contains(e, "session table") }) {
		t.Fatalf("manifest: complete %v errors %v", m.Complete, m.Errors)
	}
}

// TestRotationByRows: parts close at PartMaxRows and the manifest lists
// each with its rows.
func TestRotationByRows(t *testing.T) {
	dir := t.TempDir()
	res, err := runFake(Config{Out: dir, PartMaxRows: 1000}, &fakeSource{k: newFakeKernel(), steps: steps(recs(2500, 5, t0))})
	if err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, dir, res)
	var rows []int64
	for _, f := range m.Files.Packets {
		rows = append(rows, f.Rows)
	}
	if !slices.Equal(rows, []int64{1000, 1000, 500}) {
		t.Fatalf("part rows %v, want [1000 1000 500]", rows)
	}
	rowsOf(t, dir, m.Files.Packets)
}

// TestRunsNeverOverwrite: a second run into the same folder adds its own
// files and manifest.
func TestRunsNeverOverwrite(t *testing.T) {
	dir := t.TempDir()
	var ids []string
	for i := 0; i < 2; i++ {
		res, err := runFake(Config{Out: dir}, &fakeSource{k: newFakeKernel(), steps: steps(recs(10, 1, t0))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.Manifest.RunID)
	}
	if ids[0] == ids[1] {
		t.Fatal("two runs share an ID")
	}
	parts, _ := filepath.Glob(filepath.Join(dir, "packets", "*", "*", "*.parquet"))
	manifests, _ := filepath.Glob(filepath.Join(dir, "_runs", "*.json"))
	if len(parts) != 2 || len(manifests) != 2 {
		t.Fatalf("parts %v manifests %v, want two of each", parts, manifests)
	}
}

// TestFinalDrainWaitsBoundedAndQuietly: a record reserved and never
// committed keeps Pending above zero; the final drain gives up after
// DrainTimeout, and reports status at most every statusEvery meanwhile.
func TestFinalDrainWaitsBoundedAndQuietly(t *testing.T) {
	dir := t.TempDir()
	k := newFakeKernel()
	k.reserved = 128
	var calls int
	timeout := 600 * time.Millisecond
	start := time.Now()
	res, err := runFake(Config{Out: dir, DrainTimeout: timeout, OnStatus: func(Status) { calls++ }}, &fakeSource{k: k, steps: steps(recs(10, 1, t0))})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < timeout {
		t.Fatalf("drain gave up after %v, before its %v timeout", took, timeout)
	}
	if limit := int(timeout/statusEvery) + 3; calls > limit {
		t.Fatalf("%d status calls during a %v drain, want at most %d (throttled)", calls, timeout, limit)
	}
	if m := readManifest(t, dir, res); m.RowsWritten != 10 {
		t.Fatalf("rows %d", m.RowsWritten)
	}
}

// TestPumpOnEmptyRingAllocatesNothing: the final drain's empty passes
// reuse the batch being filled.
func TestPumpOnEmptyRingAllocatesNothing(t *testing.T) {
	cfg := Config{Out: t.TempDir(), File: "fake.pcap", Sampling: DefaultSampling()}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	src := &fakeSource{k: newFakeKernel()}
	root, _, err := prepareOut(cfg.Out)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	r := newRun(cfg, root, src.k, src)
	r.w = newWriter(r.cfg, root, r.m.RunID, r.m.Host, partMetadata(&r.m), r.k)
	defer r.w.close(nil)
	r.b, r.batchStart = r.w.get(), time.Now()
	if a := testing.AllocsPerRun(100, func() { r.pump(false) }); a != 0 {
		t.Fatalf("pump on an empty ring allocates %.0f times per call", a)
	}
}

// TestAttachModesInOrder: the manifest's attach modes follow the
// attachments, each once, the same on every run.
func TestAttachModesInOrder(t *testing.T) {
	for _, tc := range []struct {
		modes []attach.Mode
		want  []string
	}{
		{[]attach.Mode{attach.TCX, attach.TCX}, []string{"tcx"}},
		{[]attach.Mode{attach.TC, attach.TCX, attach.TC}, []string{"tc", "tcx"}},
		{[]attach.Mode{attach.TCX, attach.TC, attach.TCX}, []string{"tcx", "tc"}},
		{nil, nil},
	} {
		var atts []*attach.Attachment
		for _, m := range tc.modes {
			atts = append(atts, &attach.Attachment{Mode: m})
		}
		for i := 0; i < 20; i++ { // a map-ordered answer would vary
			if got := attachModes(atts); !slices.Equal(got, tc.want) {
				t.Fatalf("attachModes(%v) = %v, want %v", tc.modes, got, tc.want)
			}
		}
	}
}

// TestOneCPUPinIsUndone: the thread a replay ran on gets its CPU mask back
// before other goroutines can be scheduled on it.
func TestOneCPUPinIsUndone(t *testing.T) {
	var before unix.CPUSet
	if err := unix.SchedGetaffinity(0, &before); err != nil {
		t.Skipf("sched_getaffinity: %v", err)
	}
	if before.Count() < 2 {
		t.Skip("this process may use one CPU only: a pin cannot be told from no pin")
	}
	var tid, during int
	_, err := onOneCPU(func() {
		tid = unix.Gettid()
		var s unix.CPUSet
		_ = unix.SchedGetaffinity(0, &s)
		during = s.Count()
	})
	if err != nil {
		t.Fatal(err)
	}
	runtime.Gosched()
	var after unix.CPUSet
	if err := unix.SchedGetaffinity(tid, &after); err != nil {
		t.Fatal(err)
	}
	if during != 1 || after != before {
		t.Fatalf("thread %d: %d CPUs while pinned (want 1), %d after (want %d)", tid, during, after.Count(), before.Count())
	}
}

// TestValidate: every option is checked in one place, with the option's
// name, before anything is loaded.
func TestValidate(t *testing.T) {
	live := func(mod func(*Config)) Config {
		c := Config{Interfaces: []string{"eth0"}, Sampling: DefaultSampling()}
		mod(&c)
		return c
	}
	for _, tc := range []struct {
		name   string
		cfg    Config
		option string // "" : a source error
		msg    string
	}{
		{"no source", Config{Sampling: DefaultSampling()}, "", "no source"},
		{"two sources", live(func(c *Config) { c.File = "x.pcap" }), "", "exclude each other"},
		{"interface twice", live(func(c *Config) { c.Interfaces = []string{"a", "a"} }), "iface", "given twice"},
		{"bad direction", live(func(c *Config) { c.Directions = []string{"up"} }), "direction", "must be ingress, egress or both"},
		{"bad mode", live(func(c *Config) { c.Attach = "magic" }), "attach", "must be auto, tcx, tc or xdp"},
		{"xdp egress", live(func(c *Config) { c.Attach = attach.XDP }), "attach", "xdp sees ingress only"},
		{"file with direction", Config{File: "x", Directions: []string{"ingress"}, Sampling: DefaultSampling()}, "direction", "applies to live capture"},
		{"file with deadline", Config{File: "x", For: time.Second, Sampling: DefaultSampling()}, "for", "applies to live capture"},
		{"no sessions", live(func(c *Config) { c.Sampling.Sessions = 0 }), "sessions", "between 1 and"},
		{"quota too large", live(func(c *Config) { c.Sampling.PacketsPerSession = 1 << 32 }), "packets-per-session", "too large"},
		{"negative restart", live(func(c *Config) { c.Sampling.BufferRestart = -time.Second }), "buffer-restart", "must not be negative"},
		{"buffer over 2^32-1", live(func(c *Config) { c.Sampling.BufferPackets = 1 << 32 }), "buffer-packets", "more than the 4294967295 records"},
		{"buffer over the ring limit", live(func(c *Config) { c.Sampling.BufferPackets = 100_000_000 }), "buffer-packets", "limit"},
		{"negative rotation", live(func(c *Config) { c.PartMaxRows = -1 }), "rotate-rows", "must be positive"},
		{"negative csv cap", live(func(c *Config) { c.CSVMaxFiles = -1 }), "csv-max-files", "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			var ce *ConfigError
			switch {
			case err == nil:
				t.Fatal("accepted")
			case tc.option == "" && !errors.Is(err, ErrNoSource) && !errors.Is(err, ErrTwoSources):
				t.Fatalf("got %v, want a source error", err)
			case tc.option != "" && (!errors.As(err, &ce) || ce.Option != tc.option):
				t.Fatalf("got %v, want a ConfigError for %s", err, tc.option)
			case !strings.Contains(err.Error(), tc.msg):
				t.Fatalf("got %q, want it to say %q", err, tc.msg)
			}
		})
	}
	ok := live(func(*Config) {})
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if ok.Out != DefaultOut || !slices.Equal(ok.Directions, []string{"ingress", "egress"}) || ok.Attach != attach.Auto || ok.Options().BufferPackets != 1024*100 {
		t.Fatalf("defaults not filled in: %+v", ok)
	}
}

// fullDisk gives the first roomy files all the space they want and each
// later one left bytes, then ENOSPC.
type fullDisk struct {
	roomy, created int
	left           int64
}

func (d *fullDisk) create(path string) (sinkFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, sink.FileMode)
	if err != nil {
		return nil, err
	}
	d.created++
	if d.created <= d.roomy {
		return f, nil
	}
	return &budgetFile{File: f, left: d.left}, nil
}

type budgetFile struct {
	*os.File
	left int64
}

func (f *budgetFile) Write(b []byte) (int, error) {
	if int64(len(b)) > f.left {
		n, _ := f.File.Write(b[:f.left])
		f.left = 0
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	f.left -= int64(len(b))
	return f.File.Write(b)
}

// TestPrepareOutUndo: the folders made for a run that never started go
// again; folders that were there, or that hold something, stay.
func TestPrepareOutUndo(t *testing.T) {
	base := t.TempDir()
	out := filepath.Join(base, "a", "b", "ds")
	root, undo, err := prepareOut(out)
	if err != nil {
		t.Fatal(err)
	}
	root.Close()
	if _, err := os.Stat(filepath.Join(out, dataset.RunsDir)); err != nil {
		t.Fatal(err)
	}
	undo()
	if _, err := os.Stat(filepath.Join(base, "a")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("after undo: %v, want the folders made gone", err)
	}
	// An existing dataset keeps everything.
	if err := os.MkdirAll(filepath.Join(out, dataset.RunsDir), 0o750); err != nil {
		t.Fatal(err)
	}
	root, undo, err = prepareOut(out)
	if err != nil {
		t.Fatal(err)
	}
	root.Close()
	undo()
	if _, err := os.Stat(filepath.Join(out, dataset.RunsDir)); err != nil {
		t.Fatalf("undo removed a folder it did not make: %v", err)
	}
}

// TestSymlinksRefused: a dataset folder with a symbolic link below it is
// refused before anything is loaded, naming the link; one planted while a
// run writes is not followed either, and the link's target stays empty.
func TestSymlinksRefused(t *testing.T) {
	for _, link := range []string{"_runs", "packets", "csv", "packets/date=2026-11-26"} {
		t.Run("before "+link, func(t *testing.T) {
			dir, target := t.TempDir(), t.TempDir()
			planted := filepath.Join(dir, link)
			os.MkdirAll(filepath.Dir(planted), 0o750)
			if err := os.Symlink(target, planted); err != nil {
				t.Fatal(err)
			}
			_, err := runFake(Config{Out: dir}, &fakeSource{k: newFakeKernel(), steps: steps(recs(10, 1, t0))})
			if !errors.Is(err, sink.ErrSymlink) || !errors.Is(err, ErrOutput) || !strings.Contains(err.Error(), planted) {
				t.Fatalf("got %v, want a refusal naming %s", err, planted)
			}
			if ents, _ := os.ReadDir(target); len(ents) != 0 {
				t.Fatalf("target got %d entries", len(ents))
			}
		})
	}
	t.Run("planted during the run", func(t *testing.T) {
		dir, target := t.TempDir(), t.TempDir()
		plant := func(*fakeKernel) {
			if err := os.Symlink(target, filepath.Join(dir, "csv")); err != nil {
				t.Error(err)
			}
		}
		src := &fakeSource{k: newFakeKernel(), steps: append([]func(*fakeKernel){plant}, steps(recs(10, 1, t0))...)}
		res, err := runFake(Config{Out: dir, CSV: true}, src)
		if !errors.Is(err, sink.ErrSymlink) {
			t.Fatalf("got %v, want the planted link refused", err)
		}
		if m := readManifest(t, dir, res); m.Complete || m.RowsWritten != 10 {
			t.Fatalf("manifest: complete %v rows %d", m.Complete, m.RowsWritten)
		}
		if ents, _ := os.ReadDir(target); len(ents) != 0 {
			t.Fatalf("target got %d entries", len(ents))
		}
	})
}

// TestLinkChanges: link notifications become events; the run is over only
// when every attached interface is gone (down ones may come back).
func TestLinkChanges(t *testing.T) {
	upd := func(idx int, typ uint16, flags uint32) netlink.LinkUpdate {
		var u netlink.LinkUpdate
		u.Index, u.Header.Type, u.IfInfomsg.Flags = int32(idx), typ, flags
		return u
	}
	up, down, gone := upd(0, unix.RTM_NEWLINK, unix.IFF_UP), upd(0, unix.RTM_NEWLINK, 0), upd(0, unix.RTM_DELLINK, 0)
	at := func(u netlink.LinkUpdate, idx int) netlink.LinkUpdate { u.Index = int32(idx); return u }
	for _, tc := range []struct {
		name    string
		updates []netlink.LinkUpdate
		events  []string // iface:what
		over    bool
	}{
		{"one goes down and up", []netlink.LinkUpdate{at(down, 2), at(down, 2), at(up, 2)}, []string{"a:down", "a:up"}, false},
		{"one of two gone", []netlink.LinkUpdate{at(gone, 3)}, []string{"b:gone"}, false},
		{"both gone", []netlink.LinkUpdate{at(down, 2), at(gone, 2), at(gone, 3)}, []string{"a:down", "a:gone", "b:gone"}, true},
		{"other interfaces", []netlink.LinkUpdate{at(gone, 9), at(down, 1)}, nil, false},
		{"gone stays gone", []netlink.LinkUpdate{at(gone, 2), at(up, 2)}, []string{"a:gone"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &liveSource{ifaces: []*net.Interface{{Index: 2, Name: "a"}, {Index: 3, Name: "b"}}, names: map[uint32]string{2: "a", 3: "b"}}
			s.state = map[uint32]string{2: dataset.IfaceUp, 3: dataset.IfaceUp}
			over := false
			for _, u := range tc.updates {
				over = s.linkChanged(u)
			}
			var got []string
			for _, e := range s.events {
				got = append(got, e.Iface+":"+e.What)
			}
			if !slices.Equal(got, tc.events) || over != tc.over {
				t.Fatalf("events %v over %v; want %v %v", got, over, tc.events, tc.over)
			}
		})
	}
}

// TestFullBatchIsBusy: a pump that brought a whole batch makes the reader
// drain again at once, whatever the ring's size, so the reader's rate is
// not capped at a batch per poll interval; a small ring is busy sooner.
func TestFullBatchIsBusy(t *testing.T) {
	for _, tc := range []struct {
		ringRecords int
		want        int
	}{
		{1 << 10, 64},
		{1 << 17, batchRows},
		{1 << 22, batchRows}, // --buffer-packets 4000000
		{1 << 23, batchRows},
		{1, 1},
	} {
		if got := busyRecords(tc.ringRecords * bpf.RecordSize); got != tc.want {
			t.Errorf("ring of %d records: busy at %d records, want %d", tc.ringRecords, got, tc.want)
		}
	}
}
