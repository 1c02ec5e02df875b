package bpf

import (
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Ring buffer record header bits (include/uapi/linux/bpf.h).
const (
	ringBusyBit    = 1 << 31
	ringDiscardBit = 1 << 30
	ringHeaderSize = 8
)

// Ring consumes the BPF ring buffer directly from its memory mapping, many
// records per consumer-position update. The program submits without waking
// anyone (BPF_RB_NO_WAKEUP), so the reader polls: that is what makes the
// drain cost a few nanoseconds a record instead of a syscall and a wakeup.
type Ring struct {
	consumerPage []byte // read-write: the consumer position
	producerArea []byte // read-only: the producer position, then the data mapped twice
	data         []byte
	mask         uint64
	consumerPos  *uint64
	producerPos  *uint64
}

// NewRing maps m, a BPF_MAP_TYPE_RINGBUF of records.
func NewRing(m *ebpf.Map) (*Ring, error) { return newRingOf(m) }

func newRingOf(m *ebpf.Map) (*Ring, error) {
	if m.Type() != ebpf.RingBuf {
		return nil, fmt.Errorf("map %s is a %s, not a ring buffer", m, m.Type())
	}
	page := os.Getpagesize()
	size := int(m.MaxEntries())
	cons, err := unix.Mmap(m.FD(), 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map ring buffer consumer page: %w", err)
	}
	prod, err := unix.Mmap(m.FD(), int64(page), page+2*size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		_ = unix.Munmap(cons)
		return nil, fmt.Errorf("map ring buffer data (%d bytes): %w", size, err)
	}
	return &Ring{
		consumerPage: cons,
		producerArea: prod,
		data:         prod[page:],
		mask:         uint64(size - 1),
		consumerPos:  (*uint64)(unsafe.Pointer(&cons[0])),
		producerPos:  (*uint64)(unsafe.Pointer(&prod[0])),
	}, nil
}

// Pending is the number of bytes the kernel has produced and the reader not
// yet consumed.
func (r *Ring) Pending() uint64 {
	return atomic.LoadUint64(r.producerPos) - atomic.LoadUint64(r.consumerPos)
}

// Size is the ring's data size in bytes.
func (r *Ring) Size() int { return len(r.data) / 2 }

// Drain hands up to max committed records to fn, in order, then releases
// their space to the kernel with one consumer-position update. rec points
// into the read-only mapping and is valid only during the call: copy what
// you keep. It returns how many records fn saw. Records of an unexpected
// size (never written by this program) are skipped and counted in bad.
func (r *Ring) Drain(max int, fn func(rec *Record)) (n, bad int) { return drain(r, max, fn) }

// DrainFlowEnds is Drain for the ring of ended flows (Objects.FlowRing).
func (r *Ring) DrainFlowEnds(max int, fn func(*FlowEnd)) (n, bad int) { return drain(r, max, fn) }

func drain[T any](r *Ring, max int, fn func(*T)) (n, bad int) {
	size := unsafe.Sizeof(*new(T))
	cons := atomic.LoadUint64(r.consumerPos)
	prod := atomic.LoadUint64(r.producerPos)
	for cons < prod && n+bad < max {
		hdrPtr := (*uint32)(unsafe.Pointer(&r.data[cons&r.mask]))
		hdr := atomic.LoadUint32(hdrPtr)
		if hdr&ringBusyBit != 0 {
			break // reserved, not yet submitted
		}
		length := hdr &^ (ringBusyBit | ringDiscardBit)
		if hdr&ringDiscardBit == 0 {
			if uintptr(length) == size {
				fn((*T)(unsafe.Pointer(&r.data[(cons&r.mask)+ringHeaderSize])))
				n++
			} else {
				bad++
			}
		}
		cons += (uint64(length) + ringHeaderSize + 7) &^ 7
	}
	atomic.StoreUint64(r.consumerPos, cons)
	return n, bad
}

// Close unmaps the ring.
func (r *Ring) Close() {
	if r.producerArea != nil {
		_ = unix.Munmap(r.producerArea)
		r.producerArea, r.data = nil, nil
	}
	if r.consumerPage != nil {
		_ = unix.Munmap(r.consumerPage)
		r.consumerPage = nil
	}
}
