package dataset

import "fmt"

// Counters account for every packet that reached the kernel program
// (docs/dataset.md, "Accounting"):
//
//	seen = recorded + not_ip + other_protocol + malformed + truncated +
//	       filtered + session_table_full + session_quota + buffer_full
//
// The field order is the order of the reasons in the contract, of
// Reasons() and of the kernel's counter enum.
type Counters struct {
	Seen             uint64 `json:"seen"`
	Recorded         uint64 `json:"recorded"`
	NotIP            uint64 `json:"not_ip"`
	OtherProtocol    uint64 `json:"other_protocol"`
	Malformed        uint64 `json:"malformed"`
	Truncated        uint64 `json:"truncated"`
	Filtered         uint64 `json:"filtered"` // recordable, but --filter did not match
	SessionTableFull uint64 `json:"session_table_full"`
	SessionQuota     uint64 `json:"session_quota"`
	BufferFull       uint64 `json:"buffer_full"`

	// Flow accounting, outside the sum rule: every recordable packet
	// (recorded + session_table_full + session_quota + buffer_full) is in
	// exactly one flow of flows/, or counted in FlowTableFull or
	// FlowLockTimeout.
	FlowTableFull uint64 `json:"flow_table_full"` // recordable packets in no flow: the flow table was full
	FlowsStarted  uint64 `json:"flows_started"`   // flows the kernel started
	FlowsLost     uint64 `json:"flows_lost"`      // flows the kernel ended and could not hand over (flow ring full)
	// FlowLockTimeout: recordable packets in no flow because another CPU
	// held their flow's lock for a million attempts (never seen; counted
	// so that it cannot happen silently).
	FlowLockTimeout uint64 `json:"flow_lock_timeout"`
}

// Reason is one not-recorded reason and its count.
type Reason struct {
	Name  string
	Count uint64
}

// reasonFields lists every not-recorded reason once, with its dataset name;
// Reasons, NotRecorded and Add are all derived from it, so a new reason
// cannot be forgotten by one of them.
var reasonFields = [...]struct {
	name string
	get  func(*Counters) *uint64
}{
	{"not_ip", func(c *Counters) *uint64 { return &c.NotIP }},
	{"other_protocol", func(c *Counters) *uint64 { return &c.OtherProtocol }},
	{"malformed", func(c *Counters) *uint64 { return &c.Malformed }},
	{"truncated", func(c *Counters) *uint64 { return &c.Truncated }},
	{"filtered", func(c *Counters) *uint64 { return &c.Filtered }},
	{"session_table_full", func(c *Counters) *uint64 { return &c.SessionTableFull }},
	{"session_quota", func(c *Counters) *uint64 { return &c.SessionQuota }},
	{"buffer_full", func(c *Counters) *uint64 { return &c.BufferFull }},
}

// flowFields lists the flow counters (outside the sum rule) once, in the
// order of Counters.
var flowFields = [...]struct {
	name string
	get  func(*Counters) *uint64
}{
	{"flow_table_full", func(c *Counters) *uint64 { return &c.FlowTableFull }},
	{"flows_started", func(c *Counters) *uint64 { return &c.FlowsStarted }},
	{"flows_lost", func(c *Counters) *uint64 { return &c.FlowsLost }},
	{"flow_lock_timeout", func(c *Counters) *uint64 { return &c.FlowLockTimeout }},
}

// FlowCounterNames are the flow counters' names, in the order of Counters.
func FlowCounterNames() []string {
	names := make([]string, len(flowFields))
	for i, f := range flowFields {
		names[i] = f.name
	}
	return names
}

// ReasonNames are the not-recorded reasons in the contract's order.
func ReasonNames() []string {
	names := make([]string, len(reasonFields))
	for i, f := range reasonFields {
		names[i] = f.name
	}
	return names
}

// Reasons lists the not-recorded reasons in the contract's order, with the
// names the dataset uses.
func (c Counters) Reasons() []Reason {
	out := make([]Reason, len(reasonFields))
	for i, f := range reasonFields {
		out[i] = Reason{f.name, *f.get(&c)}
	}
	return out
}

// Recordable is the number of packets that parsed as TCP, UDP, ICMP or
// ICMPv6 over IP, recorded or not: the packets flows/ counts.
func (c Counters) Recordable() uint64 {
	return c.Recorded + c.SessionTableFull + c.SessionQuota + c.BufferFull
}

// NotRecorded is the sum of all not-recorded reasons.
func (c Counters) NotRecorded() uint64 {
	var n uint64
	for _, f := range reasonFields {
		n += *f.get(&c)
	}
	return n
}

// Add adds o to c (the counters of several runs).
func (c *Counters) Add(o Counters) {
	c.Seen += o.Seen
	c.Recorded += o.Recorded
	for _, f := range reasonFields {
		*f.get(c) += *f.get(&o)
	}
	for _, f := range flowFields {
		*f.get(c) += *f.get(&o)
	}
}

// Check reports an error when the counters do not add up.
func (c Counters) Check() error {
	if c.Seen != c.Recorded+c.NotRecorded() {
		return fmt.Errorf("counters do not add up: seen %d != recorded %d + not recorded %d", c.Seen, c.Recorded, c.NotRecorded())
	}
	return nil
}
