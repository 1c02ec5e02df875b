package capture

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
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

// fileSource replays capture files' frames, one file after the other,
// through the same program as live capture (BPF_PROG_TEST_RUN, each frame
// with its own time), so sampling follows file time and flows run across
// files. A truncated or corrupt file stops the run where it breaks: the
// dataset of what was read is still finished.
type fileSource struct {
	paths  []string
	sums   map[string]string // SHA-256 of each file, hashed before the run
	next   int               // the next file to open
	path   string            // the file being read
	f      *os.File
	rd     *pcapfile.Reader
	hash   hash.Hash // standard input's, hashed as it is read
	in     io.Reader // standard input, through the hash
	info   *dataset.PcapInfo
	infos  []*dataset.PcapInfo
	done   int64 // bytes of the files already read
	total  int64 // bytes of every file (0 for standard input)
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

// openFiles checks that every file opens as a capture and opens the
// first; sums are their SHA-256.
func openFiles(paths []string, sums map[string]string) (*fileSource, error) {
	s := &fileSource{paths: paths, sums: sums, ids: map[string]uint32{}, names: map[uint32]string{}}
	for _, p := range paths[1:] {
		f, err := openInput(p)
		if err != nil {
			return nil, err
		}
		if _, err := pcapfile.NewReader(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if st, err := f.Stat(); err == nil {
			s.total += st.Size()
		}
		f.Close()
	}
	if err := s.open(); err != nil {
		return nil, err
	}
	s.total += s.info.Bytes
	return s, nil
}

func openInput(path string) (*os.File, error) {
	if path == Stdin {
		return os.Stdin, nil
	}
	f, err := os.Open(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // it names the path, as we do
		}
		return nil, fmt.Errorf("capture file %s: %w", path, err)
	}
	return f, nil
}

// open opens the next file.
func (s *fileSource) open() error {
	path := s.paths[s.next]
	f, err := openInput(path)
	if err != nil {
		return err
	}
	var in io.Reader = f
	s.hash, s.in = nil, nil
	if path == Stdin {
		s.hash = sha256.New()
		s.in = io.TeeReader(f, s.hash)
		in = s.in
	}
	rd, err := pcapfile.NewReader(in)
	if err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	info := &dataset.PcapInfo{Path: path, Unsupported: map[string]int64{}, SHA256: s.sums[path]}
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
		info.Bytes = st.Size()
	}
	s.next++
	s.path, s.f, s.rd, s.info, s.base = path, f, rd, info, filepath.Base(path)
	if path == Stdin {
		s.base = "stdin"
	}
	s.infos = append(s.infos, info)
	return nil
}

// closeCurrent finishes the file being read.
func (s *fileSource) closeCurrent() {
	if s.f == nil {
		return
	}
	if s.hash != nil {
		var rest int64
		if s.info.Error == "" {
			rest, _ = io.Copy(io.Discard, s.in) // read (and hash) what the reader left
		}
		// The bytes as stored (a gzip stream's compressed size: the
		// reader's Offset counts what it took of the stream); a run
		// stopped early hashed only what it read.
		s.info.SHA256 = hex.EncodeToString(s.hash.Sum(nil))
		s.info.Bytes = s.rd.Offset() + rest
	}
	s.done += s.info.Bytes
	if s.f != os.Stdin {
		s.f.Close()
	}
	s.f = nil
}

func (s *fileSource) programs() (bpf.ProgramSet, bool) { return bpf.ProgramsReplayBatch, true }

func (s *fileSource) start(objs *bpf.Objects, m *dataset.Manifest) error {
	if objs != nil {
		s.rep = objs
	}
	m.Pcap, m.Hook = s.paths[0], ReplayHook
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
	if err != nil && s.f != nil {
		s.info.StoppedAt, s.info.Error = s.rd.Consumed(), err.Error()
	}
	s.closeCurrent()
	return stop, err
}

func (s *fileSource) replay(ctx context.Context, r *run) (string, error) {
	half := uint64(r.k.RingSize() / 2)
	flowHalf := uint64(r.k.FlowRingSize() / 2)
	var sinceStatus int
	for ctx.Err() == nil {
		fr, err := s.rd.Next()
		if errors.Is(err, io.EOF) {
			s.closeCurrent()
			if s.next == len(s.paths) {
				break
			}
			if err := s.open(); err != nil {
				return dataset.StopError, err
			}
			continue
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
		if sec := floorSec(fr.TimeNs); !r.reasons.in(sec) {
			// The counters of the second that ends: run what is queued first.
			if err := s.rep.FlushReplay(); err != nil {
				return dataset.StopError, err
			}
			r.secondIs(sec)
		}
		if err := s.rep.QueueReplay(bpf.ReplayFrame{Data: fr.Data, TimeNs: uint64(fr.TimeNs), Direction: fr.Direction,
			WireLen: fr.WireLen, LenDelta: fr.LenDelta, Ifindex: s.ifindex(fr.Iface)}); err != nil {
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
	all := s.totals()
	m.PcapInfo = all
	for _, in := range s.infos {
		m.PcapFiles = append(m.PcapFiles, *in)
	}
	var fail error
	if all.Frames > 0 && all.Frames == sum(all.Unsupported)+all.ShortFrames && stopped != dataset.StopError {
		what := s.paths[0] + ": none of its"
		if len(s.paths) > 1 {
			what = fmt.Sprintf("%d capture files: none of their", len(s.paths))
		}
		fail = fmt.Errorf("%s %d frames can be read: %w", what, all.Frames, ErrNoReadableFrames)
	}
	if stopped == dataset.StopSignal {
		return false, errors.New("stopped by a signal before the end of the file"), fail
	}
	return true, nil, fail
}

// totals adds up the files read: pcap_file of the manifest (one file: its
// own figures; its path is the first file's).
func (s *fileSource) totals() *dataset.PcapInfo {
	if len(s.infos) == 1 {
		c := *s.infos[0]
		return &c
	}
	all := &dataset.PcapInfo{Path: s.paths[0], Unsupported: map[string]int64{}}
	for _, in := range s.infos {
		all.Bytes += in.Bytes
		all.Frames += in.Frames
		all.ShortFrames += in.ShortFrames
		for k, v := range in.Unsupported {
			all.Unsupported[k] += v
		}
		if in.Error != "" {
			all.Error = in.Path + ": " + in.Error
		}
	}
	all.SHA256 = "" // one per file, in pcap_files
	return all
}

func (s *fileSource) progress(st *Status) {
	var frames int64
	for _, in := range s.infos {
		frames += in.Frames
	}
	read := s.done
	if s.f != nil {
		read += s.rd.Offset()
	}
	st.File = &FileProgress{BytesRead: read, FileBytes: max(s.total, read), Frames: frames}
}

func (s *fileSource) close() error {
	s.closeCurrent()
	return nil
}

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

// floorSec is the second a time (ns since the epoch) falls in.
func floorSec(ns int64) int64 {
	sec := ns / 1e9
	if ns < 0 && ns%1e9 != 0 {
		sec--
	}
	return sec
}
