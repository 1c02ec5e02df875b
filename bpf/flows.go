package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// Flow statistics as the kernel keeps them (extractor.c, struct
// flow_stats): sums, 128-bit sums of squares, extremes and times, from
// which the flows/ table's statistics are computed.
type (
	FlowStats = extractorFlowStats
	FlowDir   = extractorFlowDir
	// FlowEnd is a flow the program ended, as it comes out of FlowRing.
	FlowEnd = extractorFlowEnd
)

// Why the program ended a flow (FlowEnd.Reason).
const (
	FlowEndIdle   = uint32(extractorFlowEndReasonFLOW_END_IDLE)
	FlowEndActive = uint32(extractorFlowEndReasonFLOW_END_ACTIVE)
	FlowEndReuse  = uint32(extractorFlowEndReasonFLOW_END_REUSE)
)

// FlowTCPFlags are the TCP flags in the order of FlowStats.Flags.
var FlowTCPFlags = [8]string{"fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr"}

// Packets is the flow's packet count, both directions.
func (s *FlowStats) Packets() uint64 { return s.Fwd.Packets + s.Bwd.Packets }

// flowBatch is how many entries one batch syscall reads.
const flowBatch = 4096

// ExpireFlows runs the sweeper (tacap_expire, through BPF_PROG_TEST_RUN):
// every flow whose last packet came before idleBefore (the program's clock)
// leaves the table through FlowRing, as ended idle. The program takes each
// out under the flow's own lock, so a packet racing it starts a new flow
// and is never lost. drain is called after each run to empty FlowRing; a
// run goes on where the last stopped, when the ring filled up or the table
// is larger than one run looks at.
func (o *Objects) ExpireFlows(idleBefore uint64, drain func()) (removed int, err error) {
	if o.TacapExpire == nil {
		return 0, errors.New("the flow sweeper is not loaded")
	}
	if err := o.EXPIRE_BEFORE.Set(idleBefore); err != nil {
		return 0, fmt.Errorf("set the sweeper's time: %w", err)
	}
	slots := o.Flows.MaxEntries()
	for at, runs := uint32(0), 0; at < slots; runs++ {
		if runs == 1000 {
			return removed, errors.New("the flow ring stays full while sweeping")
		}
		if err := o.EXPIRE_FROM.Set(at); err != nil {
			return removed, fmt.Errorf("set the sweeper's start: %w", err)
		}
		if _, err := o.TacapExpire.Run(&ebpf.RunOptions{Data: o.sweepFrame[:]}); err != nil {
			return removed, fmt.Errorf("run the flow sweeper: %w", err)
		}
		var n, next uint32
		if err := errors.Join(o.EXPIRED.Get(&n), o.EXPIRE_NEXT.Get(&next)); err != nil {
			return removed, fmt.Errorf("read the sweeper's result: %w", err)
		}
		removed += int(n)
		drain()
		at = next
	}
	return removed, nil
}

// WalkFlows hands every flow in the table to fn. key and st are valid only
// during the call. A slot a packet is updating at that moment may be read
// half updated: it is meant for the end of a run, when no packet reaches
// the program any more.
func (o *Objects) WalkFlows(fn func(key *SessionKey, st *FlowStats)) error {
	keys := make([]uint32, flowBatch)
	vals := make([]extractorFlow, flowBatch)
	var cursor ebpf.MapBatchCursor
	for {
		n, err := o.Flows.BatchLookup(&cursor, keys, vals, nil)
		for i := range vals[:n] {
			if vals[i].State == uint32(extractorSlotStateSLOT_USED) {
				fn(&vals[i].Key, &vals[i].St)
			}
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the flow table: %w", err)
		}
	}
}
