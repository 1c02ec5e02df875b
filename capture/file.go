package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
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

// replayer runs frames through the loaded program (bpf.Objects).
type replayer interface {
	QueueReplay(bpf.ReplayFrame) error
	FlushReplay() error
}

// fileSource replays a capture file's frames through the same program as
// live capture (BPF_PROG_TEST_RUN, each frame with its own time), so
// sampling follows file time. A truncated or corrupt file stops the run
// where it breaks: the dataset of what was read is still finished.
type fileSource struct {
	path   string
	f      *os.File
	rd     *pcapfile.Reader
	info   *dataset.PcapInfo
	rep    replayer
	base   string
	ids    map[string]uint32 // interface name -> the ifindex its records carry
	names  map[uint32]string
	cpu    int
	pinned bool
	now    uint64 // time of the last frame handed to the program
}

// ReplayHook names the hook of a capture-file run in the manifest.
const ReplayHook = "replay (BPF_PROG_TEST_RUN of tacap_replay_batch, XDP)"

// ErrNoReadableFrames marks a capture file none of whose frames has a
// link type tacap reads.
var ErrNoReadableFrames = errors.New("no frame has a link type tacap reads (Ethernet, raw IP, Linux SLL/SLL2, BSD loopback)")

func openFile(path string) (*fileSource, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // it names the path, as we do
		}
		return nil, fmt.Errorf("capture file %s: %w", path, err)
	}
	rd, err := pcapfile.NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	info := &dataset.PcapInfo{Path: path, Unsupported: map[string]int64{}}
	if st, err := f.Stat(); err == nil {
		info.Bytes = st.Size()
	}
	return &fileSource{path: path, f: f, rd: rd, info: info, base: filepath.Base(path),
		ids: map[string]uint32{}, names: map[uint32]string{}}, nil
}

func (s *fileSource) programs() (bpf.ProgramSet, bool) { return bpf.ProgramsReplayBatch, true }

func (s *fileSource) start(objs *bpf.Objects, m *dataset.Manifest) error {
	if objs != nil {
		s.rep = objs
	}
	m.Pcap, m.Hook = s.path, ReplayHook
	m.Clock = dataset.Clock{Source: "capture file timestamps"}
	return nil
}

func (s *fileSource) wall(ts uint64) int64 { return int64(ts) } // file time is wall time

func (s *fileSource) ifName(ifindex uint32) string {
	if n, ok := s.names[ifindex]; ok {
		return n
	}
	return s.base
}

// feed replays the frames in order and drains the ring whenever it is half
// full: the file never waits for the reader, so no record is ever refused
// for a full buffer that a live reader would have emptied. It runs pinned
// to one CPU: the LRU session table keeps free entries in per-CPU lists,
// so which session a full table evicts depends on the CPUs the frames ran
// on. Pinned, the same file always gives the same rows. (Only this thread
// is pinned; the writer goroutine runs elsewhere.)
func (s *fileSource) feed(ctx context.Context, r *run) (string, error) {
	var stop string
	var err error
	cpu, perr := onOneCPU(func() { stop, err = s.replay(ctx, r) })
	if perr == nil {
		s.cpu, s.pinned = cpu, true
	}
	if err != nil {
		s.info.StoppedAt, s.info.Error = s.rd.Consumed(), err.Error()
	}
	return stop, err
}

func (s *fileSource) replay(ctx context.Context, r *run) (string, error) {
	half := uint64(r.k.RingSize() / 2)
	flowHalf := uint64(r.k.FlowRingSize() / 2)
	var sinceStatus int
	for ctx.Err() == nil {
		fr, err := s.rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// Keep everything before the break: run what is queued first.
			if ferr := s.rep.FlushReplay(); ferr != nil {
				return dataset.StopError, ferr
			}
			what := "corrupt"
			if errors.Is(err, pcapfile.ErrTruncated) {
				what = "truncated"
			}
			return dataset.StopError, fmt.Errorf("%s: %s after %d frames, at byte %d: %w — the dataset holds what came before",
				s.path, what, s.info.Frames, s.rd.Consumed(), err)
		}
		s.info.Frames++
		if !fr.Supported {
			s.info.Unsupported["linktype "+strconv.Itoa(int(fr.LinkType))]++
			continue
		}
		if fr.Short || len(fr.Data) < bpf.MinFrameLen {
			s.info.ShortFrames++
			continue
		}
		if err := s.rep.QueueReplay(bpf.ReplayFrame{Data: fr.Data, TimeNs: uint64(fr.TimeNs), Direction: fr.Direction,
			WireLen: fr.WireLen, Ifindex: s.ifindex(fr.Iface)}); err != nil {
			return dataset.StopError, err
		}
		s.now = uint64(fr.TimeNs)
		if r.k.Pending() >= half || r.k.FlowPending() >= flowHalf {
			if _, err := r.pump(true); err != nil {
				return dataset.StopError, err
			}
		}
		if sinceStatus++; sinceStatus == 1024 {
			sinceStatus = 0
			// pump also reads the flows that ended and sweeps idle ones.
			if _, err := r.pump(false); err != nil {
				return dataset.StopError, err
			}
		}
	}
	if err := s.rep.FlushReplay(); err != nil {
		return dataset.StopError, err
	}
	if ctx.Err() != nil {
		return dataset.StopSignal, nil
	}
	return dataset.StopEndOfFile, nil
}

// ifindex is the ifindex the records of frames from interface name carry
// (the file's own names; the program's ifindex means nothing here).
func (s *fileSource) ifindex(name string) uint32 {
	if name == "" {
		name = s.base
	}
	id, ok := s.ids[name]
	if !ok {
		id = uint32(len(s.ids) + 2) // 1 is the test run's own device
		s.ids[name] = id
		s.names[id] = name
	}
	return id
}

func (s *fileSource) stop() error { return nil } // feed ran every queued frame

func (s *fileSource) programNow() uint64 { return s.now }

// flowMargin: a capture file's flows are taken out of the table a whole
// idle timeout after they timed out, looked for every timeout of file time,
// so that frames out of order by less than the timeout still find their
// flow (and the result is the kernel's rule, as if nothing were taken out).
func (s *fileSource) flowMargin(idle time.Duration) (time.Duration, time.Duration) { return idle, idle }

func (s *fileSource) finish(m *dataset.Manifest, stopped string) (bool, error, error) {
	if s.pinned {
		cpu := s.cpu
		m.ReplayCPU = &cpu
	}
	m.PcapInfo = s.info
	var fail error
	if s.info.Frames > 0 && s.info.Frames == sum(s.info.Unsupported)+s.info.ShortFrames && stopped != dataset.StopError {
		fail = fmt.Errorf("%s: none of its %d frames can be read: %w", s.path, s.info.Frames, ErrNoReadableFrames)
	}
	if stopped == dataset.StopSignal {
		return false, errors.New("stopped by a signal before the end of the file"), fail
	}
	return true, nil, fail
}

func (s *fileSource) progress(st *Status) {
	st.File = &FileProgress{BytesRead: s.rd.Offset(), FileBytes: s.info.Bytes, Frames: s.info.Frames}
}

func (s *fileSource) close() error { return s.f.Close() }

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// onOneCPU runs fn on a thread bound to the first CPU this process may use,
// the same one run after run, and returns that CPU. The thread gets its
// old CPU mask back before it is unlocked, so no other goroutine inherits
// the pin. If pinning fails, fn runs unpinned and the error is returned.
func onOneCPU(fn func()) (int, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var saved unix.CPUSet
	if err := unix.SchedGetaffinity(0, &saved); err != nil {
		fn()
		return 0, err
	}
	cpu := 0
	for cpu < 1024 && !saved.IsSet(cpu) {
		cpu++
	}
	var one unix.CPUSet
	one.Set(cpu)
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		fn()
		return 0, err
	}
	defer func() { _ = unix.SchedSetaffinity(0, &saved) }() // runs before the unlock
	fn()
	return cpu, nil
}
