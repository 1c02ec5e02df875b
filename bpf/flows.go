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

// Expired is what one ExpireFlows pass did.
type Expired struct {
	Removed int // flows handed over as ended
	// Split counts flows that were taken out of the table while a packet
	// raced to them and could not be put back, because a still newer flow
	// of the same key had started: they are handed over as ended (a flow
	// split in two; it takes a packet within microseconds of the idle
	// timeout, on both sides of a table read, to happen).
	Split int
}

// ExpireFlows removes every flow whose last packet came before idleBefore
// (the program's clock) from the flow table and hands it to fn. Each
// candidate is read and removed in one step (BPF_MAP_LOOKUP_AND_DELETE);
// one that a packet reached between the scan and the removal goes back into
// the table.
func (o *Objects) ExpireFlows(idleBefore uint64, fn func(key *SessionKey, st *FlowStats)) (Expired, error) {
	var res Expired
	type cand struct {
		key SessionKey
		id  uint64
		n   uint64
	}
	var cands []cand
	err := o.WalkFlows(func(k *SessionKey, st *FlowStats) {
		if int64(st.LastNs-idleBefore) < 0 {
			cands = append(cands, cand{*k, st.Id, st.Packets()})
		}
	})
	if err != nil {
		return res, err
	}
	for i := range cands {
		c := &cands[i]
		var v extractorFlow
		if err := o.Flows.LookupAndDelete(&c.key, &v); err != nil {
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				continue
			}
			return res, fmt.Errorf("remove an idle flow: %w", err)
		}
		if v.St.Id == c.id && v.St.Packets() == c.n {
			fn(&c.key, &v.St)
			res.Removed++
			continue
		}
		// A packet reached the flow meanwhile (if it ended the flow, the
		// program sent that one through the ring): v is alive.
		v.Lock = 0
		if err := o.Flows.Update(&c.key, &v, ebpf.UpdateNoExist); err != nil {
			fn(&c.key, &v.St)
			res.Removed++
			res.Split++
		}
	}
	return res, nil
}

// WalkFlows hands every flow in the table to fn. st is valid only during
// the call. An entry a packet is updating at that moment may be read half
// updated: after the program stopped (the end of a run) every entry is
// whole, and ExpireFlows checks what it takes out.
func (o *Objects) WalkFlows(fn func(key *SessionKey, st *FlowStats)) error {
	keys := make([]SessionKey, flowBatch)
	vals := make([]extractorFlow, flowBatch)
	var cursor ebpf.MapBatchCursor
	for {
		n, err := o.Flows.BatchLookup(&cursor, keys, vals, nil)
		for i := 0; i < n; i++ {
			fn(&keys[i], &vals[i].St)
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the flow table: %w", err)
		}
	}
}
