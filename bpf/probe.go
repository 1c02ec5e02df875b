package bpf

import (
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
)

// Check is one kernel feature the extractor uses, probed, not guessed from
// the kernel version.
type Check struct {
	Name   string
	For    string // what needs it
	Err    error  // nil: available
	Detail string
}

// Probe checks every kernel feature the extractor needs, then loads it.
func Probe() []Check {
	var out []Check
	add := func(name, forWhat string, err error) {
		out = append(out, Check{Name: name, For: forWhat, Err: err})
	}
	add("TC programs (sched_cls)", "live capture", features.HaveProgramType(ebpf.SchedCLS))
	add("XDP programs", "--attach xdp, --pcap", features.HaveProgramType(ebpf.XDP))
	add("BPF ring buffer", "everything", features.HaveMapType(ebpf.RingBuf))
	add("LRU hash map", "everything", features.HaveMapType(ebpf.LRUHash))
	add("per-CPU array map", "everything", features.HaveMapType(ebpf.PerCPUArray))
	add("hash map", "everything (the flow table)", features.HaveMapType(ebpf.Hash))
	for _, h := range []struct {
		pt   ebpf.ProgramType
		fn   asm.BuiltinFunc
		name string // the helper's name in the kernel's documentation
		what string
	}{
		{ebpf.SchedCLS, asm.FnLoop, "bpf_loop", "everything (a contended flow lock)"},
		{ebpf.XDP, asm.FnForEachMapElem, "bpf_for_each_map_elem", "everything (the flow sweeper)"},
		{ebpf.SchedCLS, asm.FnSkbLoadBytes, "bpf_skb_load_bytes", "live capture"},
		{ebpf.SchedCLS, asm.FnRingbufReserve, "bpf_ringbuf_reserve", "everything"},
		{ebpf.XDP, asm.FnXdpLoadBytes, "bpf_xdp_load_bytes", "--attach xdp, --pcap"},
		{ebpf.XDP, asm.FnLoop, "bpf_loop", "--pcap"},
		{ebpf.XDP, asm.FnXdpGetBuffLen, "bpf_xdp_get_buff_len", "--pcap"},
	} {
		prog := "TC"
		if h.pt == ebpf.XDP {
			prog = "XDP"
		}
		add(fmt.Sprintf("%s() in %s programs", h.name, prog), h.what, features.HaveProgramHelper(h.pt, h.fn))
	}
	opts := DefaultOptions()
	opts.Sessions, opts.BufferPackets = 16, 16
	start := time.Now()
	o, err := Load(opts)
	c := Check{Name: "load and verify the extractor", For: "everything", Err: err}
	if err == nil {
		c.Detail = fmt.Sprintf("%d ms", time.Since(start).Milliseconds())
		o.Close()
	}
	return append(out, c)
}
