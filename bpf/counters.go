package bpf

import (
	"fmt"

	"github.com/cilium/ebpf"
)

// Counters account for every packet that reached the program:
// Seen = Recorded + NotIP + OtherProtocol + Malformed + Truncated +
// SessionTableFull + SessionQuota + BufferFull.
type Counters struct {
	Seen             uint64 `json:"seen"`
	Recorded         uint64 `json:"recorded"`
	NotIP            uint64 `json:"not_ip"`
	OtherProtocol    uint64 `json:"other_protocol"`
	Malformed        uint64 `json:"malformed"`
	Truncated        uint64 `json:"truncated"`
	SessionTableFull uint64 `json:"session_table_full"`
	SessionQuota     uint64 `json:"session_quota"`
	BufferFull       uint64 `json:"buffer_full"`
}

// Reasons lists the not-recorded reasons in the contract's order, with the
// names the dataset uses.
func (c Counters) Reasons() []Reason {
	return []Reason{
		{"not_ip", c.NotIP},
		{"other_protocol", c.OtherProtocol},
		{"malformed", c.Malformed},
		{"truncated", c.Truncated},
		{"session_table_full", c.SessionTableFull},
		{"session_quota", c.SessionQuota},
		{"buffer_full", c.BufferFull},
	}
}

// Reason is one not-recorded reason and its count.
type Reason struct {
	Name  string
	Count uint64
}

// NotRecorded is the sum of all not-recorded reasons.
func (c Counters) NotRecorded() uint64 {
	var n uint64
	for _, r := range c.Reasons() {
		n += r.Count
	}
	return n
}

// Add adds o to c (the counters of several runs).
func (c *Counters) Add(o Counters) {
	c.Seen += o.Seen
	c.Recorded += o.Recorded
	c.NotIP += o.NotIP
	c.OtherProtocol += o.OtherProtocol
	c.Malformed += o.Malformed
	c.Truncated += o.Truncated
	c.SessionTableFull += o.SessionTableFull
	c.SessionQuota += o.SessionQuota
	c.BufferFull += o.BufferFull
}

// Check reports an error when the counters do not add up.
func (c Counters) Check() error {
	if c.Seen != c.Recorded+c.NotRecorded() {
		return fmt.Errorf("counters do not add up: seen %d != recorded %d + not recorded %d", c.Seen, c.Recorded, c.NotRecorded())
	}
	return nil
}

func countersFrom(n [extractorCounterCOUNTER_MAX]uint64) Counters {
	return Counters{
		Seen:             n[extractorCounterCOUNTER_SEEN],
		Recorded:         n[extractorCounterCOUNTER_RECORDED],
		NotIP:            n[extractorCounterCOUNTER_NOT_IP],
		OtherProtocol:    n[extractorCounterCOUNTER_OTHER_PROTOCOL],
		Malformed:        n[extractorCounterCOUNTER_MALFORMED],
		Truncated:        n[extractorCounterCOUNTER_TRUNCATED],
		SessionTableFull: n[extractorCounterCOUNTER_SESSION_TABLE_FULL],
		SessionQuota:     n[extractorCounterCOUNTER_SESSION_QUOTA],
		BufferFull:       n[extractorCounterCOUNTER_BUFFER_FULL],
	}
}

// ReadCounters sums the per-CPU counters.
func (o *Objects) ReadCounters() (Counters, error) {
	var perCPU []extractorCounters
	if err := o.Stats.Lookup(uint32(0), &perCPU); err != nil {
		return Counters{}, fmt.Errorf("read counters: %w", err)
	}
	var sum [extractorCounterCOUNTER_MAX]uint64
	for _, c := range perCPU {
		for i, v := range c.N {
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
	perCPU := make([]extractorCounters, ebpf.MustPossibleCPU())
	if err := o.Stats.Put(uint32(0), perCPU); err != nil {
		return fmt.Errorf("reset counters: %w", err)
	}
	return nil
}
