// Package attach hooks the extractor's programs to interfaces: TCX where the
// kernel has it, legacy tc (a clsact qdisc and a direct-action bpf filter)
// where it does not, or XDP (ingress only). Every attachment is undone by
// Close; TCX and XDP links also vanish with the process, and stale tc
// filters a crashed tacap left behind are removed on the next attach.
package attach

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
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
	return "", fmt.Errorf("--attach must be auto, tcx, tc or xdp, not %q", s)
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

// filterPrefix names tacap's tc filters: tacap-PID.
const filterPrefix = "tacap-"

// Interface resolves and checks an interface name.
func Interface(name string) (*net.Interface, error) {
	iface, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("interface %s: no such interface here — list them with `ip link`", name)
	}
	if iface.Flags&net.FlagUp == 0 {
		return nil, fmt.Errorf("interface %s is down — bring it up with `ip link set %s up`", name, name)
	}
	return iface, nil
}

// Attach hooks progs to iface in each direction ("ingress", "egress").
// On failure nothing stays attached. Close the attachments in reverse order.
func Attach(iface *net.Interface, directions []string, mode Mode, progs Programs) ([]*Attachment, error) {
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
	case XDP:
		if dir != "ingress" {
			return nil, fmt.Errorf("xdp sees ingress only: use --direction ingress with --attach xdp")
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: progs.XDP, Interface: iface.Index})
		if err != nil {
			return nil, explain("attach xdp to "+iface.Name, err)
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
			return nil, explain(fmt.Sprintf("attach tcx to %s %s", iface.Name, dir), err)
		}
		// No TCX in this kernel: legacy tc.
	}
	closeFn, err := attachTC(iface, dir, prog)
	if err != nil {
		return nil, explain(fmt.Sprintf("attach tc to %s %s", iface.Name, dir), err)
	}
	a.Mode, a.close = TC, closeFn
	return a, nil
}

func explain(what string, err error) error {
	switch {
	case errors.Is(err, os.ErrPermission), errors.Is(err, unix.EPERM):
		return fmt.Errorf("%s: %w — run as root or grant CAP_BPF and CAP_NET_ADMIN", what, err)
	case errors.Is(err, ebpf.ErrNotSupported):
		return fmt.Errorf("%s: %w — this kernel lacks it (TCX needs Linux 6.6; try --attach tc)", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// attachTC adds a clsact qdisc if the interface has none, then a
// direct-action bpf filter named tacap-PID in front of the others.
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
	removeStale(lnk, parent)
	f := &netlink.BpfFilter{
		FilterAttrs: netlink.FilterAttrs{
			LinkIndex: iface.Index,
			Parent:    parent,
			Handle:    netlink.MakeHandle(0, uint16(os.Getpid()|1)), // distinct per process: two runs can share an interface
			Protocol:  unix.ETH_P_ALL,
			Priority:  1, // first: tacap only reads, so running first changes nothing for the others
		},
		Fd:           prog.FD(),
		Name:         filterPrefix + strconv.Itoa(os.Getpid()),
		DirectAction: true,
	}
	if err := netlink.FilterAdd(f); err != nil {
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

// removeStale deletes tacap filters whose process is gone (a crash or
// kill -9 leaves legacy tc filters behind; TCX and XDP links die with it).
func removeStale(lnk netlink.Link, parent uint32) {
	filters, err := netlink.FilterList(lnk, parent)
	if err != nil {
		return
	}
	for _, f := range filters {
		bf, ok := f.(*netlink.BpfFilter)
		if !ok || !strings.HasPrefix(bf.Name, filterPrefix) {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimPrefix(bf.Name, filterPrefix))
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_ = netlink.FilterDel(bf)
	}
}

func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
