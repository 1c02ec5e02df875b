package bpf

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"

	"github.com/tacap/tacap/bpf/filter"
)

// Record is one recorded packet as the kernel wrote it (see extractor.c).
type Record = extractorRecord

// SessionKey and Session are the kernel's session table entries.
type (
	SessionKey = extractorSessionKey
	Session    = extractorSession
)

// RecordSize is the size of one record in the ring buffer, header included.
const RecordSize = (int(unsafeSizeofRecord) + ringHeaderSize + 7) &^ 7

// Direction of a recorded packet.
const (
	DirectionUnknown = uint8(extractorDirectionDIRECTION_UNKNOWN)
	DirectionIngress = uint8(extractorDirectionDIRECTION_INGRESS)
	DirectionEgress  = uint8(extractorDirectionDIRECTION_EGRESS)
)

// Options are the sampling parameters (docs/dataset.md, "Sampling"), fixed at load time.
type Options struct {
	Sessions             uint32        // size of the session table (--sessions)
	PacketsPerSession    uint32        // records per session before it pauses; 0 = no limit
	BufferPackets        uint32        // ring buffer capacity in records (rounded up to a power of two in bytes)
	SessionAcceptRestart time.Duration // table full: refuse new sessions this long after the last accepted one
	SessionPacketRestart time.Duration // quota reached: resume this long after the session's last record
	BufferRestart        time.Duration // ring full: pause recording this long
	Bidirectional        bool          // one session for both directions of a 5-tuple

	// Flow statistics (docs/dataset.md, "flows/").
	Flows             uint32        // size of the flow table (--flows)
	FlowIdleTimeout   time.Duration // a packet this long after its flow's last starts a new flow
	FlowActiveTimeout time.Duration // a packet this long after its flow's first starts a new flow

	// Replay makes the program take each packet's time from skb->tstamp,
	// its direction from skb->cb[0] and its length on the wire from
	// skb->cb[1]: for frames fed through BPF_PROG_TEST_RUN (pcap input, tests).
	Replay bool

	// Filter is the compiled --filter (CompileFilter); nil records every
	// recordable packet.
	Filter *filter.Program

	// BenchUniqueKeys makes every packet a new session. Benchmarks only.
	BenchUniqueKeys bool

	// Programs are the entry points to load (0: all). The kernel verifies
	// each one it loads, which takes most of a start-up.
	Programs ProgramSet
}

// ProgramSet selects entry points.
type ProgramSet uint8

const (
	ProgramsTC          ProgramSet = 1 << iota // tacap_tc_ingress, tacap_tc_egress (also Replay)
	ProgramsXDP                                // tacap_xdp
	ProgramsReplayBatch                        // tacap_replay_batch (QueueReplay)
	AllPrograms         = ProgramsTC | ProgramsXDP | ProgramsReplayBatch
)

func (s ProgramSet) wants(name string) bool {
	switch name {
	case extractorProgTacapTcIngress, extractorProgTacapTcEgress:
		return s&ProgramsTC != 0
	case extractorProgTacapXdp:
		return s&ProgramsXDP != 0
	case extractorProgTacapReplayBatch:
		return s&ProgramsReplayBatch != 0
	}
	return true
}

// DefaultOptions returns the prototype's defaults.
func DefaultOptions() Options {
	return Options{
		Sessions:             1024,
		PacketsPerSession:    100,
		BufferPackets:        1024 * 100,
		SessionAcceptRestart: 5 * time.Second,
		SessionPacketRestart: time.Second,
		BufferRestart:        time.Second,
		Flows:                DefaultFlows,
		FlowIdleTimeout:      120 * time.Second,
		FlowActiveTimeout:    1800 * time.Second,
	}
}

// DefaultFlows is the default size of the flow table.
const DefaultFlows = 65536

// FlowRingBytes is the size of the ring that carries the flows the program
// ends (a flow whose packet came after a timeout, or a reused TCP port) to
// user space: room for 10 000 such flows between two reads.
const FlowRingBytes = 1 << 22

// MaxRingBytes bounds the ring buffer so a large --buffer-packets fails early
// with a clear message rather than deep inside the kernel.
const MaxRingBytes = 1 << 30

// RingBytes is the ring buffer size for a capacity of n records: the next
// power of two (the kernel's requirement) above n records — a ring holds at
// most its size less one byte — and at least one page.
func RingBytes(n uint32) (uint32, error) {
	need := uint64(n) * uint64(RecordSize)
	if need == 0 {
		return 0, errors.New("buffer must hold at least one record")
	}
	size := uint64(1) << bits.Len64(need)
	if page := uint64(os.Getpagesize()); size < page {
		size = page
	}
	if size > MaxRingBytes {
		return 0, fmt.Errorf("a buffer of %d records needs %d MiB, more than the %d MiB limit", n, size>>20, MaxRingBytes>>20)
	}
	return uint32(size), nil
}

func (o Options) validate() error {
	switch {
	case o.Sessions == 0:
		return errors.New("sessions must be at least 1")
	case o.BufferPackets == 0:
		return errors.New("buffer-packets must be at least 1")
	case o.SessionAcceptRestart < 0, o.SessionPacketRestart < 0, o.BufferRestart < 0:
		return errors.New("restart times must not be negative")
	case o.Flows == 0 || o.Flows > MaxFlows:
		return fmt.Errorf("flows must be between 1 and %d", MaxFlows)
	case o.FlowIdleTimeout <= 0, o.FlowActiveTimeout <= 0:
		return errors.New("flow timeouts must be positive")
	}
	_, err := RingBytes(o.BufferPackets)
	return err
}

// Objects are the loaded program, its maps and the ring reader.
type Objects struct {
	extractorObjects
	Ring    *Ring
	Options Options
	// FlowRing carries the flows the program ended.
	FlowRing *Ring
	// MemoryBytes is what the kernel maps take (session and flow tables,
	// rings).
	MemoryBytes uint64

	// replayTruncated counts replayed frames the kernel refused to run
	// because their network header is cut; they are truncated packets.
	replayTruncated atomic.Uint64
	replayCtx       [skbContextSize]byte
	sweepFrame      [64]byte // the sweeper's (unused) test-run packet
	batch           replayBatch
	coll            *ebpf.Collection
}

// Load checks opts, sizes the maps, sets the program's constants and loads
// everything into the kernel.
func Load(opts Options) (*Objects, error) {
	spec, err := loadExtractor()
	if err != nil {
		return nil, fmt.Errorf("parse embedded BPF object: %w", err)
	}
	return load(spec, opts)
}

// LoadObjectFile loads a variant of the extractor compiled to path instead of
// the embedded object: for A/B benchmarks of a change to the C program
// (scripts/bench/ab.sh). The variant must keep the maps, the CONFIG layout
// and the program names.
func LoadObjectFile(path string, opts Options) (*Objects, error) {
	spec, err := ebpf.LoadCollectionSpec(path)
	if err != nil {
		return nil, fmt.Errorf("parse BPF object %s: %w", path, err)
	}
	return load(spec, opts)
}

func load(spec *ebpf.CollectionSpec, opts Options) (*Objects, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	ringBytes, _ := RingBytes(opts.BufferPackets)
	spec.Maps[extractorMapSessions].MaxEntries = opts.Sessions
	spec.Maps[extractorMapRecords].MaxEntries = ringBytes
	slots := FlowSlots(opts.Flows)
	// An older object (scripts/bench: old against new) may have no flows.
	if m, ok := spec.Maps[extractorMapFlows]; ok {
		m.MaxEntries = slots
	}
	var seed [8]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("seed the flow table's hash: %w", err)
	}

	cfg := extractorConfig{
		AcceptRestartNs: uint64(opts.SessionAcceptRestart),
		PacketRestartNs: uint64(opts.SessionPacketRestart),
		BufferRestartNs: uint64(opts.BufferRestart),
		SessionsMax:     opts.Sessions,
		PerSession:      opts.PacketsPerSession,
		Bidirectional:   boolByte(opts.Bidirectional),
		Replay:          boolByte(opts.Replay),
		BenchUniqueKeys: boolByte(opts.BenchUniqueKeys),
		FlowIdleNs:      uint64(opts.FlowIdleTimeout),
		FlowActiveNs:    uint64(opts.FlowActiveTimeout),
		FlowSeed:        binary.LittleEndian.Uint64(seed[:]),
		FlowMask:        slots - 1,
		FlowsMax:        opts.Flows,
	}
	if err := setConfig(spec.Variables[extractorVarCONFIG], cfg); err != nil {
		return nil, fmt.Errorf("set program constants: %w", err)
	}

	if opts.Filter != nil {
		if err := spliceFilter(spec, opts.Filter); err != nil {
			return nil, fmt.Errorf("set the filter: %w", err)
		}
	}

	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
	_ = rlimit.RemoveMemlock()

	want := opts.Programs
	if want == 0 {
		want = AllPrograms
	}
	for name := range spec.Programs {
		if !want.wants(name) {
			delete(spec.Programs, name)
		}
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		return nil, explainLoadError(err)
	}
	o := &Objects{Options: opts, coll: coll}
	o.Records, o.Sessions, o.Stats = coll.Maps[extractorMapRecords], coll.Maps[extractorMapSessions], coll.Maps[extractorMapStats]
	o.Flows, o.FlowEnds = coll.Maps[extractorMapFlows], coll.Maps[extractorMapFlowEnds]
	o.TacapExpire, o.TacapClearFlows = coll.Programs[extractorProgTacapExpire], coll.Programs[extractorProgTacapClearFlows]
	o.EXPIRE_BEFORE, o.EXPIRED = coll.Variables[extractorVarEXPIRE_BEFORE], coll.Variables[extractorVarEXPIRED]
	o.EXPIRE_FROM, o.EXPIRE_NEXT = coll.Variables[extractorVarEXPIRE_FROM], coll.Variables[extractorVarEXPIRE_NEXT]
	o.TacapTcIngress, o.TacapTcEgress = coll.Programs[extractorProgTacapTcIngress], coll.Programs[extractorProgTacapTcEgress]
	o.TacapXdp, o.TacapReplayBatch = coll.Programs[extractorProgTacapXdp], coll.Programs[extractorProgTacapReplayBatch]
	o.CONFIG, o.STATE, o.REPLAY_DONE = coll.Variables[extractorVarCONFIG], coll.Variables[extractorVarSTATE], coll.Variables[extractorVarREPLAY_DONE]
	o.MemoryBytes = MemoryBytes(opts)
	if o.Ring, err = NewRing(o.Records); err == nil && o.FlowEnds != nil {
		o.FlowRing, err = newRingOf(o.FlowEnds)
	}
	if err != nil {
		o.Close()
		return nil, err
	}
	return o, nil
}

// setConfig sets the program's constants; an older object (benchmarks:
// old against new) has a shorter CONFIG, of which the new fields are the
// tail.
func setConfig(v *ebpf.VariableSpec, cfg extractorConfig) error {
	if v == nil {
		return errors.New("the object has no CONFIG")
	}
	b, err := binary.Append(nil, binary.NativeEndian, cfg)
	if err != nil {
		return err
	}
	if size := int(v.Size()); size < len(b) {
		b = b[:size]
	}
	return v.Set(b)
}

// MemoryBytes is what the kernel maps of a load with opts take: the
// session table and the flow table (both preallocated) and both rings.
func MemoryBytes(opts Options) uint64 {
	ringBytes, _ := RingBytes(opts.BufferPackets)
	return uint64(ringBytes) + FlowRingBytes + uint64(opts.Sessions)*sessionEntryBytes +
		uint64(FlowSlots(opts.Flows))*uint64(unsafeSizeofFlow)
}

// sessionEntryBytes approximates one preallocated hash entry: key, value
// and the kernel's htab_elem bookkeeping.
const sessionEntryBytes = uint64(unsafeSizeofSessionKey + unsafeSizeofSession + 64)

// FlowSlots is the size of the flow table for flows flows: the power of
// two at least twice as large, so that the probe sequences of its open
// addressing stay short (extractor.c, "The flow table").
func FlowSlots(flows uint32) uint32 {
	n := uint32(2)
	for n < 2*flows && n < MaxFlowSlots {
		n <<= 1
	}
	return n
}

// MaxFlowSlots bounds the flow table: 8 Mi slots take 3 GiB of kernel
// memory.
const MaxFlowSlots = 1 << 23

// MaxFlows is the largest flows option: half of MaxFlowSlots.
const MaxFlows = MaxFlowSlots / 2

// Close releases the ring mapping and every kernel object.
func (o *Objects) Close() error {
	if o.Ring != nil {
		o.Ring.Close()
	}
	if o.FlowRing != nil {
		o.FlowRing.Close()
	}
	o.coll.Close()
	return nil
}

// explainLoadError says what failed; the caller adds what to do about it
// (errors.Is os.ErrPermission, ebpf.ErrNotSupported; errors.As
// *ebpf.VerifierError).
func explainLoadError(err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return verifierError{ve}
	}
	return loadError{err}
}

// memlockHint is the library's advice to its caller (tacap already lifts
// the limit); a user gets tacap's own advice instead.
const memlockHint = " (MEMLOCK may be too low, consider rlimit.RemoveMemlock)"

// loadError is a failed load, said without the library's advice.
type loadError struct{ err error }

func (e loadError) Error() string {
	return "load eBPF program: " + strings.ReplaceAll(e.err.Error(), memlockHint, "")
}

func (e loadError) Unwrap() error { return e.err }

// verifierError shows the verifier's whole log, which a plain %w cuts.
type verifierError struct{ ve *ebpf.VerifierError }

func (e verifierError) Error() string {
	return fmt.Sprintf("the kernel's verifier rejected the extractor: %+v", e.ve)
}

func (e verifierError) Unwrap() error { return e.ve }

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// Reset forgets all sessions, sampling state and counters, as if freshly
// loaded. For tests and benchmarks that reuse one load.
func (o *Objects) Reset() error {
	if err := clearTable(o.Sessions, make([]Session, resetBatch)); err != nil {
		return fmt.Errorf("clear sessions: %w", err)
	}
	if err := o.clearFlows(); err != nil {
		return fmt.Errorf("clear flows: %w", err)
	}
	if err := o.STATE.Set(extractorState{}); err != nil {
		return fmt.Errorf("reset sampling state: %w", err)
	}
	o.Ring.Drain(1<<30, func(*Record) {})
	if o.FlowRing != nil {
		o.FlowRing.DrainFlowEnds(1<<30, func(*FlowEnd) {})
	}
	o.replayTruncated.Store(0)
	return o.ResetCounters()
}

const resetBatch = 4096

// clearTable empties a hash table a batch at a time (one system call per
// batch, not two per entry); values is scratch space for one batch.
func clearTable[V any](m *ebpf.Map, values []V) error {
	keys := make([]SessionKey, len(values))
	var cursor ebpf.MapBatchCursor
	for {
		_, err := m.BatchLookupAndDelete(&cursor, keys, values, nil)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// clearFlows empties the flow table: the program's tacap_clear_flows, or,
// for an older object (scripts/bench: old against new), its hash table.
func (o *Objects) clearFlows() error {
	switch {
	case o.TacapClearFlows != nil:
		_, err := o.TacapClearFlows.Run(&ebpf.RunOptions{Data: o.sweepFrame[:]})
		return err
	case o.Flows != nil && o.Flows.Type() == ebpf.Hash:
		return clearTable(o.Flows, make([]extractorFlow, resetBatch))
	}
	return nil
}

// SamplingState is the program's shared sampling state, for tests.
type SamplingState = extractorState

// State reads the program's sampling state.
func (o *Objects) State() (SamplingState, error) {
	var s SamplingState
	err := o.STATE.Get(&s)
	return s, err
}
