package test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/capture/attach"
	"github.com/tacap/tacap/test/netns"
	"github.com/tacap/tacap/test/testenv"
)

// attachLab is a namespace with an up veth pair (veth0, veth1) and the
// extractor's TC programs loaded.
func attachLab(t *testing.T, label string) (*netns.NS, *bpf.Objects) {
	t.Helper()
	testenv.Privileged(t)
	ns := netns.New(t, label)
	ns.MustIP(t, "link add veth0 type veth peer name veth1")
	ns.MustIP(t, "link set veth0 up")
	ns.MustIP(t, "link set veth1 up")
	opts := bpf.DefaultOptions()
	opts.Programs = bpf.ProgramsTC
	objs, err := bpf.Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { objs.Close() })
	return ns, objs
}

// bpfFilters lists the bpf filters on a parent of the link.
func bpfFilters(lnk netlink.Link, parent uint32) ([]*netlink.BpfFilter, error) {
	fs, err := netlink.FilterList(lnk, parent)
	if err != nil {
		return nil, err
	}
	var out []*netlink.BpfFilter
	for _, f := range fs {
		if bf, ok := f.(*netlink.BpfFilter); ok {
			out = append(out, bf)
		}
	}
	return out, nil
}

func hasClsact(lnk netlink.Link) (bool, error) {
	qs, err := netlink.QdiscList(lnk)
	if err != nil {
		return false, err
	}
	for _, q := range qs {
		if q.Type() == "clsact" {
			return true, nil
		}
	}
	return false, nil
}

// TestAttachTCTwice attaches with legacy tc twice in one process to the same
// interface and directions: both must succeed with distinct filter handles,
// and closing both (last first) removes both filters and the clsact qdisc
// tacap created.
func TestAttachTCTwice(t *testing.T) {
	ns, objs := attachLab(t, "attc")
	progs := attach.Programs{Ingress: objs.TacapTcIngress, Egress: objs.TacapTcEgress}
	err := ns.Do(func() error {
		iface, err := attach.Interface("veth0")
		if err != nil {
			return err
		}
		lnk, err := netlink.LinkByIndex(iface.Index)
		if err != nil {
			return err
		}
		dirs := []string{"ingress", "egress"}
		var all []*attach.Attachment
		closeAll := func() error {
			for i := len(all) - 1; i >= 0; i-- {
				if err := all[i].Close(); err != nil {
					return err
				}
			}
			all = nil
			return nil
		}
		defer closeAll()
		for run := 1; run <= 2; run++ {
			as, err := attach.Attach(iface, dirs, attach.TC, progs)
			if err != nil {
				return fmt.Errorf("attach #%d: %w", run, err)
			}
			for _, a := range as {
				if a.Mode != attach.TC {
					return fmt.Errorf("attach #%d %s: mode %s, want tc", run, a.Direction, a.Mode)
				}
			}
			all = append(all, as...)
		}
		for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
			fs, err := bpfFilters(lnk, parent)
			if err != nil {
				return err
			}
			handles := map[uint32]bool{}
			for _, f := range fs {
				if !strings.HasPrefix(f.Name, "tacap-") {
					return fmt.Errorf("parent %x: filter %q is not tacap's", parent, f.Name)
				}
				if f.Handle == 0 {
					return fmt.Errorf("parent %x: filter %q has handle 0", parent, f.Name)
				}
				handles[f.Handle] = true
			}
			if len(fs) != 2 || len(handles) != 2 {
				return fmt.Errorf("parent %x: %d filters with %d distinct handles, want 2 and 2", parent, len(fs), len(handles))
			}
		}
		if err := closeAll(); err != nil {
			return err
		}
		for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
			fs, err := bpfFilters(lnk, parent)
			if err != nil && !isNoQdisc(err) {
				return err
			}
			if len(fs) != 0 {
				return fmt.Errorf("parent %x: %d filters left after close", parent, len(fs))
			}
		}
		if has, err := hasClsact(lnk); err != nil || has {
			return fmt.Errorf("clsact qdisc left after close (err %v)", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// isNoQdisc: listing filters on a clsact parent that is gone may fail.
func isNoQdisc(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT)
}

// procStart reads the start time (field 22 of /proc/PID/stat).
func procStart(t *testing.T, pid string) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	v, err := strconv.ParseUint(f[22-3], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestAttachTCStale crafts tc filters named for various owners, then
// attaches with legacy tc. Only filters of this PID namespace whose process
// is gone or whose PID was reused (start time differs) may be removed; a
// live owner of another PID namespace, a live owner of ours, an old-style
// name and another tool's filter stay. tacap's own filter is named
// tacap-<pidns>-<pid>-<start>.
func TestAttachTCStale(t *testing.T) {
	ns, objs := attachLab(t, "atst")
	st, err := os.Stat("/proc/self/ns/pid")
	if err != nil {
		t.Fatal(err)
	}
	pidns := st.Sys().(*syscall.Stat_t).Ino
	self := strconv.Itoa(os.Getpid())
	selfStart := procStart(t, self)

	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadPID := dead.Process.Pid
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", deadPID)); err == nil {
		t.Fatalf("pid %d still exists", deadPID)
	}
	live := exec.Command("sleep", "60")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = live.Process.Kill(); _ = live.Wait() })
	livePID := strconv.Itoa(live.Process.Pid)
	liveStart := procStart(t, livePID)

	crafted := []struct {
		name string
		keep bool
	}{
		{fmt.Sprintf("tacap-%d-%d-%d", pidns+1, deadPID, 12345), true},   // live owner of another PID namespace
		{fmt.Sprintf("tacap-%d-%d-%d", pidns, deadPID, 12345), false},    // dead owner of ours
		{fmt.Sprintf("tacap-%d-%s-%d", pidns, self, selfStart+1), false}, // PID reused: start time differs
		{fmt.Sprintf("tacap-%d-%s-%d", pidns, livePID, liveStart), true}, // live owner of ours
		{fmt.Sprintf("tacap-%d", deadPID), true},                         // old-style name: owner unknown
		{fmt.Sprintf("tacap-%d-%d", pidns, deadPID), true},               // malformed
		{"other-tool", true}, // not tacap's
	}
	handles := make([]uint32, len(crafted))
	for i := range crafted {
		handles[i] = uint32(0x100 + i)
	}
	// Another tool's filter on the handle older tacap took, so that ours
	// may have to look further.
	if h := uint32(uint16(os.Getpid() | 1)); h < 0x100 || h > handles[len(handles)-1] {
		crafted = append(crafted, struct {
			name string
			keep bool
		}{"other-tool-2", true})
		handles = append(handles, h)
	}
	err = ns.Do(func() error {
		iface, err := net.InterfaceByName("veth0")
		if err != nil {
			return err
		}
		lnk, err := netlink.LinkByIndex(iface.Index)
		if err != nil {
			return err
		}
		if err := netlink.QdiscAdd(&netlink.GenericQdisc{
			QdiscAttrs: netlink.QdiscAttrs{LinkIndex: iface.Index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
			QdiscType:  "clsact",
		}); err != nil {
			return fmt.Errorf("add clsact: %w", err)
		}
		for i, c := range crafted {
			f := &netlink.BpfFilter{
				FilterAttrs: netlink.FilterAttrs{
					LinkIndex: iface.Index, Parent: netlink.HANDLE_MIN_INGRESS,
					Handle: handles[i], Protocol: unix.ETH_P_ALL, Priority: 1,
				},
				Fd: objs.TacapTcIngress.FD(), Name: c.name, DirectAction: true,
			}
			if err := netlink.FilterAdd(f); err != nil {
				return fmt.Errorf("add filter %q: %w", c.name, err)
			}
		}
		as, err := attach.Attach(iface, []string{"ingress"}, attach.TC, attach.Programs{Ingress: objs.TacapTcIngress})
		if err != nil {
			return err
		}
		fs, err := bpfFilters(lnk, netlink.HANDLE_MIN_INGRESS)
		if err != nil {
			as[0].Close()
			return err
		}
		names := map[string]bool{}
		var list []string
		for _, f := range fs {
			names[f.Name] = true
			list = append(list, f.Name)
		}
		sort.Strings(list)
		var errs []string
		for _, c := range crafted {
			if names[c.name] != c.keep {
				errs = append(errs, fmt.Sprintf("filter %q: present %v, want %v", c.name, names[c.name], c.keep))
			}
		}
		own := fmt.Sprintf("tacap-%d-%s-%d", pidns, self, selfStart)
		if !names[own] {
			errs = append(errs, fmt.Sprintf("tacap's own filter %q not found", own))
		}
		if err := as[0].Close(); err != nil {
			errs = append(errs, err.Error())
		}
		if fs, err := bpfFilters(lnk, netlink.HANDLE_MIN_INGRESS); err != nil {
			errs = append(errs, err.Error())
		} else {
			for _, f := range fs {
				if f.Name == own {
					errs = append(errs, "own filter left after close")
				}
			}
		}
		if has, err := hasClsact(lnk); err != nil || !has {
			errs = append(errs, fmt.Sprintf("clsact qdisc tacap did not create was removed (err %v)", err))
		}
		if len(errs) > 0 {
			return fmt.Errorf("%s\nfilters after attach: %q", strings.Join(errs, "\n"), list)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
