// Package attach hooks the extractor's programs to interfaces: TCX where the
// kernel has it, legacy tc (a clsact qdisc and a direct-action bpf filter)
// where it does not, or XDP (ingress only). Every attachment is undone by
// Close; TCX and XDP links also vanish with the process, and stale tc
// filters a crashed tacap left behind are removed on the next attach.
//
// Errors say what failed and why, never what to do about it: that is the
// command line's business. It can tell the cases apart with errors.Is:
//
//   - ErrBadMode: ParseMode got something other than auto, tcx, tc or xdp.
//   - ErrNoSuchInterface: Interface found no interface of that name.
//   - ErrInterfaceDown: Interface found it, but it is down.
//   - ErrXDPEgress: XDP was asked for a direction other than ingress.
//   - os.ErrPermission: the kernel refused (EPERM or EACCES) to attach or
//     to change qdiscs and filters; Attach wraps the kernel's error.
//   - ebpf.ErrNotSupported: the kernel lacks the hook asked for (TCX before
//     Linux 6.6, XDP on some drivers); Attach wraps the library's error.
package attach

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Sentinel errors, wrapped (%w) by the errors this package returns; the
// comments show the whole messages.
var (
	// ErrBadMode: `attach mode must be auto, tcx, tc or xdp, not "x"`.
	ErrBadMode = errors.New("attach mode must be auto, tcx, tc or xdp")
	// ErrNoSuchInterface: "interface eth9: no such interface".
	ErrNoSuchInterface = errors.New("no such interface")
	// ErrInterfaceDown: "interface eth9 is down" (it reads "down" alone).
	ErrInterfaceDown = errors.New("down")
	// ErrXDPEgress: "attach xdp to eth0 egress: xdp sees ingress only".
	ErrXDPEgress = errors.New("xdp sees ingress only")
)

// Mode is how programs are attached.
type Mode string

const (
	Auto Mode = "auto"
	TCX  Mode = "tcx"
	TC   Mode = "tc"
	XDP  Mode = "xdp"
)

// ParseMode checks a --attach value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Auto, TCX, TC, XDP:
		return m, nil
	}
	return "", fmt.Errorf("%w, not %q", ErrBadMode, s)
}

// Programs are the entry points to attach.
type Programs struct {
	Ingress, Egress, XDP *ebpf.Program
}

// Attachment is one program on one interface and direction.
type Attachment struct {
	Iface     string
	Ifindex   int
	Direction string // ingress or egress
	Mode      Mode   // what was actually used (never Auto)
	close     func() error
}

// Close detaches.
func (a *Attachment) Close() error {
	if a.close == nil {
		return nil
	}
	err := a.close()
	a.close = nil
	if err != nil {
		return fmt.Errorf("detach %s from %s %s: %w", a.Mode, a.Iface, a.Direction, err)
	}
	return nil
}

// Interface resolves and checks an interface name.
func Interface(name string) (*net.Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", name, err)
	}
	return findInterface(name, ifs)
}

// findInterface picks name out of ifs and checks that it is up.
func findInterface(name string, ifs []net.Interface) (*net.Interface, error) {
	for i := range ifs {
		if ifs[i].Name != name {
			continue
		}
		if ifs[i].Flags&net.FlagUp == 0 {
			return nil, fmt.Errorf("interface %s is %w", name, ErrInterfaceDown)
		}
		return &ifs[i], nil
	}
	return nil, fmt.Errorf("interface %s: %w", name, ErrNoSuchInterface)
}

// Attach hooks progs to iface in each direction ("ingress", "egress").
// On failure nothing stays attached. Close the attachments in reverse order.
func Attach(iface *net.Interface, directions []string, mode Mode, progs Programs) ([]*Attachment, error) {
	if mode == XDP {
		for _, dir := range directions {
			if dir != "ingress" {
				return nil, fmt.Errorf("attach xdp to %s %s: %w", iface.Name, dir, ErrXDPEgress)
			}
		}
	}
	var done []*Attachment
	fail := func(err error) ([]*Attachment, error) {
		for i := len(done) - 1; i >= 0; i-- {
			_ = done[i].Close()
		}
		return nil, err
	}
	for _, dir := range directions {
		a, err := attachOne(iface, dir, mode, progs)
		if err != nil {
			return fail(err)
		}
		done = append(done, a)
	}
	return done, nil
}

func attachOne(iface *net.Interface, dir string, mode Mode, progs Programs) (*Attachment, error) {
	a := &Attachment{Iface: iface.Name, Ifindex: iface.Index, Direction: dir}
	prog := progs.Ingress
	if dir == "egress" {
		prog = progs.Egress
	}
	switch mode {
	case XDP: // Attach let ingress only through
		l, err := link.AttachXDP(link.XDPOptions{Program: progs.XDP, Interface: iface.Index})
		if err != nil {
			return nil, fmt.Errorf("attach xdp to %s: %w", iface.Name, err)
		}
		a.Mode, a.close = XDP, l.Close
		return a, nil
	case TCX, Auto:
		at := ebpf.AttachTCXIngress
		if dir == "egress" {
			at = ebpf.AttachTCXEgress
		}
		l, err := link.AttachTCX(link.TCXOptions{Program: prog, Interface: iface.Index, Attach: at})
		if err == nil {
			a.Mode, a.close = TCX, l.Close
			return a, nil
		}
		if mode == TCX || !errors.Is(err, ebpf.ErrNotSupported) {
			return nil, fmt.Errorf("attach tcx to %s %s: %w", iface.Name, dir, err)
		}
		// No TCX in this kernel: legacy tc.
	}
	closeFn, err := attachTC(iface, dir, prog)
	if err != nil {
		return nil, fmt.Errorf("attach tc to %s %s: %w", iface.Name, dir, err)
	}
	a.Mode, a.close = TC, closeFn
	return a, nil
}

// tcPriority is the priority of tacap's tc filters: first, since tacap only
// reads and running first changes nothing for the others.
const tcPriority = 1

// attachTC adds a clsact qdisc if the interface has none, then a
// direct-action bpf filter in front of the others, named for its owner (see
// owner.go) and with a handle no other filter at its priority uses.
func attachTC(iface *net.Interface, dir string, prog *ebpf.Program) (func() error, error) {
	lnk, err := netlink.LinkByIndex(iface.Index)
	if err != nil {
		return nil, err
	}
	parent := uint32(netlink.HANDLE_MIN_INGRESS)
	if dir == "egress" {
		parent = netlink.HANDLE_MIN_EGRESS
	}
	created, err := ensureClsact(lnk)
	if err != nil {
		return nil, fmt.Errorf("add clsact qdisc: %w", err)
	}
	name := "tacap" // no owner record: never judged stale
	if self, err := selfOwner(); err == nil {
		name = self.filterName()
		removeStale(lnk, parent, self)
	}
	f := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: iface.Index,
			Parent:    parent,
			Protocol:  unix.ETH_P_ALL,
			Priority:  tcPriority,
		},
		Fd:           prog.FD(),
		Name:         name,
		DirectAction: true,
	}
	// Another tacap may take the handle between listing and adding: the
	// kernel then refuses with EEXIST (FilterAdd sets NLM_F_EXCL), so look
	// again.
	for try := 0; ; try++ {
		f.Handle, err = freeHandle(lnk, parent)
		if err == nil {
			err = netlink.FilterAdd(f)
		}
		if err == nil || !errors.Is(err, unix.EEXIST) || try == 4 {
			break
		}
	}
	if err != nil {
		if created {
			_ = deleteClsactIfEmpty(lnk)
		}
		return nil, fmt.Errorf("add bpf filter: %w", err)
	}
	return func() error {
		err := netlink.FilterDel(f)
		if created {
			// Only a qdisc tacap created, and only once no one else uses it.
			_ = deleteClsactIfEmpty(lnk)
		}
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENODEV) {
			return nil // interface gone, or filter removed by someone else
		}
		return err
	}, nil
}

// freeHandle lists the filters on parent and picks a handle none at
// tacap's priority uses, starting from one derived from the PID so that
// concurrent runs rarely race for the same one.
func freeHandle(lnk netlink.Link, parent uint32) (uint32, error) {
	filters, err := netlink.FilterList(lnk, parent)
	if err != nil {
		return 0, fmt.Errorf("list filters: %w", err)
	}
	used := map[uint32]bool{}
	for _, f := range filters {
		if a := f.Attrs(); a.Priority == tcPriority {
			used[a.Handle] = true
		}
	}
	return pickHandle(uint16(os.Getpid()), used)
}

// pickHandle returns the first handle from start on (major 0, minor
// start, start+1, ... wrapping around, never 0) that is not in used.
func pickHandle(start uint16, used map[uint32]bool) (uint32, error) {
	minor := start
	for range 1<<16 - 1 {
		if minor == 0 {
			minor = 1
		}
		if h := netlink.MakeHandle(0, minor); !used[h] {
			return h, nil
		}
		minor++
	}
	return 0, fmt.Errorf("no free filter handle: all %d are in use at priority %d", 1<<16-1, tcPriority)
}

func ensureClsact(lnk netlink.Link) (created bool, err error) {
	qdiscs, err := netlink.QdiscList(lnk)
	if err != nil {
		return false, err
	}
	for _, q := range qdiscs {
		if q.Type() == "clsact" {
			return false, nil
		}
	}
	q := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: lnk.Attrs().Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
	if err := netlink.QdiscAdd(q); err != nil {
		return false, err
	}
	return true, nil
}

func deleteClsactIfEmpty(lnk netlink.Link) error {
	for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
		if fs, err := netlink.FilterList(lnk, parent); err != nil || len(fs) > 0 {
			return err
		}
	}
	return netlink.QdiscDel(&netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: lnk.Attrs().Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	})
}

// removeStale deletes the tacap filters on parent that staleFilter judges
// left behind by a crash or kill -9 (TCX and XDP links die with the
// process; legacy tc filters do not).
func removeStale(lnk netlink.Link, parent uint32, self owner) {
	filters, err := netlink.FilterList(lnk, parent)
	if err != nil {
		return
	}
	for _, f := range filters {
		if bf, ok := f.(*netlink.BpfFilter); ok && staleFilter(bf.Name, self, lookupProc) {
			_ = netlink.FilterDel(bf)
		}
	}
}

// lookupProc tells whether process pid of our PID namespace runs, and since
// when. hidepid=2 hides other users' /proc entries: only when kill(pid, 0)
// also says there is no such process is it gone.
func lookupProc(pid int) (procState, uint64) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err == nil {
		p, start, err := parseStat(string(b))
		if err != nil || p != pid {
			return procUnknown, 0
		}
		return procAlive, start
	}
	if errors.Is(err, fs.ErrNotExist) && errors.Is(unix.Kill(pid, 0), unix.ESRCH) {
		return procGone, 0
	}
	return procUnknown, 0
}
