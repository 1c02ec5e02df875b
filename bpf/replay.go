package bpf

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/cilium/ebpf"
)

// skbContext mirrors struct __sk_buff (include/uapi/linux/bpf.h). For
// BPF_PROG_TEST_RUN the kernel accepts only some fields (cb, tstamp,
// gso_segs among them) and insists the others are zero.
type skbContext struct {
	Len, PktType, Mark, QueueMapping, Protocol uint32
	VlanPresent, VlanTci, VlanProto, Priority  uint32
	IngressIfindex, Ifindex, TcIndex           uint32
	Cb                                         [5]uint32
	Hash, TcClassid, Data, DataEnd, NapiID     uint32
	Family, RemoteIP4, LocalIP4                uint32
	RemoteIP6, LocalIP6                        [4]uint32
	RemotePort, LocalPort, DataMeta            uint32
	FlowKeys, Tstamp                           uint64
	WireLen, GsoSegs                           uint32
	Sk                                         uint64
	GsoSize                                    uint32
	TstampType                                 uint8
	_                                          [3]uint8
	Hwtstamp                                   uint64
}

// Offsets of the fields Replay sets in struct __sk_buff.
var (
	offCb      = unsafe.Offsetof(skbContext{}.Cb)
	offTstamp  = unsafe.Offsetof(skbContext{}.Tstamp)
	offGSOSegs = unsafe.Offsetof(skbContext{}.GsoSegs)
)

// skbContextSize is the size of struct __sk_buff.
const skbContextSize = unsafe.Sizeof(skbContext{})

// MaxReplayData is the most of a frame handed to the kernel in replay.
const MaxReplayData = 2048

// MinFrameLen is the shortest frame the kernel accepts for a test run: an
// Ethernet header.
const MinFrameLen = 14

// ReplayFrame describes one frame fed to the program outside a live hook.
type ReplayFrame struct {
	Data      []byte // the frame from its Ethernet header on (possibly cut short)
	TimeNs    uint64 // when it was seen; becomes the record's ts_ns
	Direction uint8  // DirectionIngress, DirectionEgress or DirectionUnknown
	WireLen   uint32 // its length on the wire, when more than len(Data)
	GSOSegs   uint32 // segments it stands for (0 or 1: a plain packet)
	Ifindex   uint32 // the record's ifindex (0: the test run's device, loopback)
	// LenDelta is the capture file's link header length less the 14 bytes
	// of the Ethernet header Data starts with (raw IP: -14, Linux SLL:
	// +2): a filter's len, less and greater measure WireLen + LenDelta,
	// the frame's length in its file, as tcpdump does.
	LenDelta int16
}

// wireLen is the frame's length on the wire: its WireLen, but never less
// than the bytes it has. Both replay paths hand the kernel this figure.
func (f ReplayFrame) wireLen() uint32 { return max(f.WireLen, uint32(len(f.Data))) }

// kernelData is the part of the frame handed to the kernel: at most
// MaxReplayData bytes (the kernel takes about a page; the headers tacap
// reads are all in the first bytes, the rest only counts as length).
func (f ReplayFrame) kernelData() []byte { return f.Data[:min(len(f.Data), MaxReplayData)] }

// Replay runs the TC program over one frame with BPF_PROG_TEST_RUN. The
// objects must have been loaded with Options.Replay. Records it produces
// land in the ring like live ones.
func (o *Objects) Replay(f ReplayFrame) error {
	if !o.Options.Replay {
		return fmt.Errorf("replay needs objects loaded with Options.Replay")
	}
	if len(f.Data) < MinFrameLen {
		return fmt.Errorf("frame of %d bytes is shorter than an Ethernet header", len(f.Data))
	}
	if o.TacapTcIngress == nil {
		return fmt.Errorf("replay needs the TC programs loaded (Options.Programs)")
	}
	if kernelRefusesShort(f.Data) {
		// BPF_PROG_TEST_RUN refuses an IPv4/IPv6 frame whose network header
		// is cut (EINVAL). The program would count it as truncated; count it
		// here so the accounting stays whole.
		o.replayTruncated.Add(1)
		return nil
	}
	data, wire := f.kernelData(), f.wireLen()
	// The context goes to the kernel as bytes laid out like struct
	// __sk_buff: encoding the struct by reflection on every frame cost
	// more than the program itself.
	ctx := o.replayCtx[:]
	le := binary.LittleEndian
	le.PutUint64(ctx[offTstamp:], f.TimeNs)
	le.PutUint32(ctx[offGSOSegs:], f.GSOSegs)
	le.PutUint32(ctx[offCb:], uint32(f.Direction))
	le.PutUint32(ctx[offCb+4:], wire)
	le.PutUint32(ctx[offCb+8:], f.Ifindex)
	le.PutUint32(ctx[offCb+12:], uint32(int32(f.LenDelta)))
	ret, err := o.TacapTcIngress.Run(&ebpf.RunOptions{Data: data, Context: ctx})
	if err != nil {
		return fmt.Errorf("run extractor over a %d-byte frame: %w", len(f.Data), err)
	}
	if int32(ret) != -1 {
		return fmt.Errorf("extractor returned verdict %d, want TC_ACT_UNSPEC (-1)", int32(ret))
	}
	return nil
}

// kernelRefusesShort reports frames BPF_PROG_TEST_RUN will not take: an
// untagged IPv4 or IPv6 frame shorter than its fixed network header.
func kernelRefusesShort(frame []byte) bool {
	switch uint16(frame[12])<<8 | uint16(frame[13]) {
	case 0x0800:
		return len(frame) < 14+20
	case 0x86DD:
		return len(frame) < 14+40
	}
	return false
}

// Batched replay: frames queue in one buffer, each behind a replay_meta,
// and one BPF_PROG_TEST_RUN of tacap_replay_batch runs them all, in order,
// through the same parser and sampling as live traffic. The syscall, which
// costs far more than the program, is paid once per batch.
const (
	maxBatchFrames = 256      // MAX_BATCH_FRAMES in extractor.c
	maxBatchBytes  = 56 << 10 // the kernel takes a page plus 17 fragments
	replayMetaSize = int(unsafe.Sizeof(extractorReplayMeta{}))
)

type replayBatch struct {
	buf    []byte
	frames uint32
}

// QueueReplay adds a frame to the current batch, running the batch first
// when it is full. Frames run in the order they were queued; call
// FlushReplay to run what is queued.
func (o *Objects) QueueReplay(f ReplayFrame) error {
	if !o.Options.Replay {
		return fmt.Errorf("replay needs objects loaded with Options.Replay")
	}
	if len(f.Data) < MinFrameLen {
		return fmt.Errorf("frame of %d bytes is shorter than an Ethernet header", len(f.Data))
	}
	data, wire := f.kernelData(), f.wireLen()
	need := replayMetaSize + (len(data)+7)&^7
	if o.batch.frames == maxBatchFrames || len(o.batch.buf)+need > maxBatchBytes {
		if err := o.FlushReplay(); err != nil {
			return err
		}
	}
	b := &o.batch
	at := len(b.buf)
	b.buf = append(b.buf, make([]byte, need)...)
	le := binary.LittleEndian
	le.PutUint64(b.buf[at:], f.TimeNs)
	le.PutUint32(b.buf[at+8:], wire)
	le.PutUint32(b.buf[at+12:], uint32(len(data)))
	le.PutUint32(b.buf[at+16:], f.Ifindex)
	le.PutUint32(b.buf[at+20:], f.GSOSegs)
	b.buf[at+24] = f.Direction
	le.PutUint16(b.buf[at+26:], uint16(f.LenDelta))
	copy(b.buf[at+replayMetaSize:], data)
	b.frames++
	return nil
}

// FlushReplay runs the queued frames.
func (o *Objects) FlushReplay() error {
	b := &o.batch
	if b.frames == 0 {
		return nil
	}
	if o.TacapReplayBatch == nil {
		return fmt.Errorf("batched replay needs its program loaded (Options.Programs)")
	}
	frames := b.frames
	ret, err := o.TacapReplayBatch.Run(&ebpf.RunOptions{Data: b.buf})
	b.buf, b.frames = b.buf[:0], 0
	if err != nil {
		return fmt.Errorf("replay a batch of %d frames: %w", frames, err)
	}
	if ret != 2 {
		return fmt.Errorf("replay batch returned %d, want XDP_PASS", ret)
	}
	var done uint32
	if err := o.REPLAY_DONE.Get(&done); err != nil {
		return fmt.Errorf("read replay progress: %w", err)
	}
	if done != frames {
		return fmt.Errorf("the kernel replayed %d of a batch of %d frames", done, frames)
	}
	return nil
}
