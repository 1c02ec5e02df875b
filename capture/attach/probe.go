package attach

import (
	"fmt"
	"net"
	"runtime"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ProbeModes attaches a do-nothing program with each mode (TCX, legacy tc
// with a clsact qdisc, XDP) to the loopback interface of a private network
// namespace made for the purpose and gone afterwards, and reports what each
// attempt said (nil: it works). No interface of the host is touched.
func ProbeModes() (map[Mode]error, error) {
	type result struct {
		modes map[Mode]error
		err   error
	}
	done := make(chan result, 1)
	go func() {
		// The thread enters a new network namespace and is never unlocked:
		// Go ends it with the goroutine, so no other goroutine runs there.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- result{err: fmt.Errorf("make a private network namespace: %w", err)}
			return
		}
		modes, err := probeHere()
		done <- result{modes, err}
	}()
	r := <-done
	return r.modes, r.err
}

func probeHere() (map[Mode]error, error) {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return nil, fmt.Errorf("find the private namespace's loopback: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return nil, fmt.Errorf("bring up the private namespace's loopback: %w", err)
	}
	iface, err := net.InterfaceByName("lo")
	if err != nil {
		return nil, err
	}
	tc, err := probeProgram(ebpf.SchedCLS, -1)
	if err != nil {
		return nil, fmt.Errorf("load a probe program: %w", err)
	}
	defer tc.Close()
	xdp, err := probeProgram(ebpf.XDP, 2) // XDP_PASS
	if err != nil {
		return nil, fmt.Errorf("load a probe program: %w", err)
	}
	defer xdp.Close()
	out := map[Mode]error{}
	progs := Programs{Ingress: tc, Egress: tc, XDP: xdp}
	for _, m := range []Mode{TCX, TC, XDP} {
		atts, err := Attach(iface, []string{"ingress"}, m, progs)
		for i := len(atts) - 1; i >= 0; i-- {
			if cerr := atts[i].Close(); err == nil {
				err = cerr
			}
		}
		out[m] = err
	}
	return out, nil
}

func probeProgram(t ebpf.ProgramType, ret int32) (*ebpf.Program, error) {
	return ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         t,
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, ret), asm.Return()},
		License:      "MIT",
	})
}
