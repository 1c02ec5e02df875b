package bpf

import (
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/tacap/tacap/dataset"
)

// Counters are the dataset's counters (package dataset): the kernel
// program's per-CPU counter array, summed.
type Counters = dataset.Counters

// Reason is one not-recorded reason and its count.
type Reason = dataset.Reason

func countersFrom(n [extractorCounterCOUNTER_MAX]uint64) Counters {
	return Counters{
		Seen:             n[extractorCounterCOUNTER_SEEN],
		Recorded:         n[extractorCounterCOUNTER_RECORDED],
		NotIP:            n[extractorCounterCOUNTER_NOT_IP],
		OtherProtocol:    n[extractorCounterCOUNTER_OTHER_PROTOCOL],
		Malformed:        n[extractorCounterCOUNTER_MALFORMED],
		Truncated:        n[extractorCounterCOUNTER_TRUNCATED],
		Filtered:         n[extractorCounterCOUNTER_FILTERED],
		SessionTableFull: n[extractorCounterCOUNTER_SESSION_TABLE_FULL],
		SessionQuota:     n[extractorCounterCOUNTER_SESSION_QUOTA],
		BufferFull:       n[extractorCounterCOUNTER_BUFFER_FULL],
		FlowTableFull:    n[extractorCounterCOUNTER_FLOW_TABLE_FULL],
		FlowsStarted:     n[extractorCounterCOUNTER_FLOWS_STARTED],
		FlowsLost:        n[extractorCounterCOUNTER_FLOWS_LOST],
		FlowLockTimeout:  n[extractorCounterCOUNTER_FLOW_LOCK_TIMEOUT],
	}
}

// ReadCounters sums the per-CPU counters.
func (o *Objects) ReadCounters() (Counters, error) {
	var perCPU []extractorCpuState
	if err := o.Stats.Lookup(uint32(0), &perCPU); err != nil {
		return Counters{}, fmt.Errorf("read counters: %w", err)
	}
	var sum [extractorCounterCOUNTER_MAX]uint64
	for _, c := range perCPU {
		for i, v := range c.Cnt.N {
			sum[i] += v
		}
	}
	c := countersFrom(sum)
	short := o.replayTruncated.Load()
	c.Seen += short
	c.Truncated += short
	return c, nil
}

// ResetCounters zeroes the counters on every CPU.
func (o *Objects) ResetCounters() error {
	perCPU := make([]extractorCpuState, ebpf.MustPossibleCPU())
	if err := o.Stats.Put(uint32(0), perCPU); err != nil {
		return fmt.Errorf("reset counters: %w", err)
	}
	return nil
}
