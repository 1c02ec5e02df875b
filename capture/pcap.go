package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/capture/pcapfile"
	"github.com/tacap/tacap/dataset"
)

// PcapConfig describes a run over a capture file.
type PcapConfig struct {
	Path        string
	Out         string
	Options     bpf.Options // Replay is set by RunPcap
	CSV         bool
	CSVMaxFiles int
	PartMaxRows int64
	PartMaxAge  time.Duration
	Build       dataset.BuildInfo
	OnStatus    func(PcapStatus)
}

// PcapStatus is a progress snapshot of a file run.
type PcapStatus struct {
	Elapsed   time.Duration
	BytesRead int64
	FileBytes int64
	Frames    int64
	Counters  bpf.Counters
}

// RunPcap runs every frame of a capture file through the same kernel
// program as live capture (BPF_PROG_TEST_RUN, each frame with its own
// time), so sampling follows file time, and writes the same dataset. A
// truncated or corrupt file stops the run where it breaks: the dataset of
// what was read is still finished, and the error is returned.
func RunPcap(ctx context.Context, cfg PcapConfig) (*Result, error) {
	f, err := os.Open(cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", cfg.Path, err)
	}
	defer f.Close()
	st, _ := f.Stat()
	rd, err := pcapfile.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Path, err)
	}
	if cfg.PartMaxRows == 0 {
		cfg.PartMaxRows = 10_000_000
	}
	if cfg.PartMaxAge == 0 {
		cfg.PartMaxAge = time.Minute
	}
	if err := checkWritable(cfg.Out); err != nil {
		return nil, err
	}
	opts := cfg.Options
	opts.Replay = true
	opts.Programs = bpf.ProgramsReplayBatch
	objs, err := bpf.Load(opts)
	if err != nil {
		return nil, err
	}
	defer objs.Close()

	host, _ := os.Hostname()
	host = sanitize(host)
	start := time.Now().UTC()
	runID := newRunID(start)
	base := filepath.Base(cfg.Path)
	m := dataset.Manifest{
		Tacap: cfg.Build, RunID: runID, Host: host, Pcap: cfg.Path, Hook: "tc (BPF_PROG_TEST_RUN replay)",
		KernelRelease: kernelRelease(), Start: start, Parameters: parametersOf(opts),
		Clock: dataset.Clock{Source: "capture file timestamps"},
	}
	info := &dataset.PcapInfo{Path: cfg.Path, Unsupported: map[string]int64{}}
	if st != nil {
		info.Bytes = st.Size()
	}
	meta := func() map[string]string { return partMetadata(&m, objs) }
	w := newWriter(Config{Out: cfg.Out, CSV: cfg.CSV, CSVMaxFiles: cfg.CSVMaxFiles, PartMaxRows: cfg.PartMaxRows, PartMaxAge: cfg.PartMaxAge}, runID, host, meta)
	// The file's frames name their interface; the program's ifindex does not.
	c := &converter{anchor: func(ns uint64) int64 { return int64(ns) }, ifName: map[uint32]string{}, addrs: newAddrText(), flows: newFlows(opts.Bidirectional)}

	// One CPU for the whole replay: the LRU session table keeps free
	// entries in per-CPU lists, so which session a full table evicts
	// depends on the CPUs the frames ran on. Pinned, the same file always
	// gives the same rows. (Only this thread is pinned; the writer
	// goroutine runs elsewhere.)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if cpu, err := pinToCPU(); err == nil {
		m.ReplayCPU = &cpu
	}
	readErr := c.replay(ctx, rd, objs, w, cfg, info, base, start)
	m.StopReason = "end of file"
	switch {
	case readErr != nil:
		m.StopReason = "error"
		info.StoppedAt = rd.Consumed()
		info.Error = readErr.Error()
	case ctx.Err() != nil:
		m.StopReason = stopSignal
	}
	m.PcapInfo = info
	var stopped error
	if ctx.Err() != nil {
		stopped = errors.New("stopped by a signal before the end of the file")
	}
	res, err := finish(&m, objs, c, w, cfg.Out, cfg.CSVMaxFiles, readErr, stopped == nil, stopped)
	if info.Frames > 0 && info.Frames == sum(info.Unsupported)+info.ShortFrames && readErr == nil {
		return res, fmt.Errorf("%s: none of its %d frames has a link type tacap reads (Ethernet, raw IP, Linux SLL/SLL2, BSD loopback)", cfg.Path, info.Frames)
	}
	return res, err
}

// pinToCPU binds the calling (locked) thread to the first CPU this
// process may use, the same one run after run.
func pinToCPU() (int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return 0, err
	}
	c := 0
	for c < 1024 && !set.IsSet(c) {
		c++
	}
	var one unix.CPUSet
	one.Set(c)
	return c, unix.SchedSetaffinity(0, &one)
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// replay feeds the file's frames to the program in order, in batches of
// up to 256 frames per BPF_PROG_TEST_RUN, and drains the ring whenever it
// is half full (the file never waits for the reader, so
// no record is ever refused for a full buffer that a live reader would
// have emptied).
func (c *converter) replay(ctx context.Context, rd *pcapfile.Reader, objs *bpf.Objects, w *writer, cfg PcapConfig, info *dataset.PcapInfo, base string, start time.Time) error {
	half := uint64(objs.Ring.Size() / 2)
	b := w.get()
	drain := func(final bool) error {
		for {
			n := c.fill(objs, b)
			if len(b.rows) >= batchRows || (final && n == 0 && len(b.rows) > 0) {
				if err := w.put(b); err != nil {
					return err
				}
				b = w.get()
			}
			if n == 0 {
				return nil
			}
		}
	}
	ifaceIDs := map[string]uint32{}
	nextStatus := time.Now()
	for ctx.Err() == nil {
		fr, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if ferr := objs.FlushReplay(); ferr != nil {
				return ferr
			}
			if derr := drain(true); derr != nil {
				return derr
			}
			what := "corrupt"
			if errors.Is(err, pcapfile.ErrTruncated) {
				what = "truncated"
			}
			return fmt.Errorf("%s: %s after %d frames, at byte %d: %w — the dataset holds what came before", cfg.Path, what, info.Frames, rd.Consumed(), err)
		}
		info.Frames++
		if !fr.Supported {
			info.Unsupported["linktype "+strconv.Itoa(int(fr.LinkType))]++
			continue
		}
		if fr.Short || len(fr.Data) < bpf.MinFrameLen {
			info.ShortFrames++
			continue
		}
		name := base
		if fr.Iface != "" {
			name = fr.Iface
		}
		id, ok := ifaceIDs[name]
		if !ok {
			id = uint32(len(ifaceIDs) + 2) // 1 is the test run's own device
			ifaceIDs[name] = id
			c.ifName[id] = name
		}
		if err := objs.QueueReplay(bpf.ReplayFrame{Data: fr.Data, TimeNs: uint64(fr.TimeNs), Direction: fr.Direction, WireLen: fr.WireLen, Ifindex: id}); err != nil {
			return err
		}
		if objs.Ring.Pending() >= half {
			if err := drain(false); err != nil {
				return err
			}
		}
		if cfg.OnStatus != nil && info.Frames%1024 == 0 && time.Now().After(nextStatus) {
			nextStatus = time.Now().Add(250 * time.Millisecond)
			cnt, _ := objs.ReadCounters()
			cfg.OnStatus(PcapStatus{Elapsed: time.Since(start), BytesRead: rd.Offset(), FileBytes: info.Bytes, Frames: info.Frames, Counters: cnt})
		}
	}
	if err := objs.FlushReplay(); err != nil {
		return err
	}
	return drain(true)
}
