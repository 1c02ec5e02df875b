package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/capture/attach"
)

func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:  "doctor",
		Usage: "check this machine: privileges, kernel features, each attach mode (tried on a private namespace); say what is missing",
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usagef("doctor takes no arguments")
			}
			return doctor(c)
		},
	}
}

// Capability numbers (linux/capability.h).
const (
	capNetAdmin = 12
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

func effectiveCaps() (uint64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, errors.New("no CapEff in /proc/self/status")
}

// attachModes tries each attach mode on the loopback of a private network
// namespace (nothing on this host's interfaces is touched).
func attachModes(w io.Writer, netAdmin bool, line func(ok bool, name, detail string)) {
	if !netAdmin {
		line(false, "attach modes", "not probed: attaching needs CAP_NET_ADMIN — run tacap doctor as root")
		return
	}
	modes, err := attach.ProbeModes()
	if err != nil {
		line(false, "attach modes", "could not be probed: "+err.Error())
		return
	}
	info := func(name, detail string) { fmt.Fprintf(w, "  info %-44s %s\n", name, detail) }
	switch tcx, tc := modes[attach.TCX], modes[attach.TC]; {
	case tcx == nil:
		line(true, "TCX attach (Linux ≥ 6.6)", "--attach auto uses TCX")
	case tc == nil:
		info("TCX attach (Linux ≥ 6.6)", "absent: --attach auto uses legacy tc ("+tcx.Error()+")")
	default:
		line(false, "TCX attach (Linux ≥ 6.6)", tcx.Error())
	}
	if tc := modes[attach.TC]; tc == nil {
		line(true, "legacy tc attach (clsact qdisc, bpf filter)", "--attach tc works")
	} else {
		line(modes[attach.TCX] == nil, "legacy tc attach (clsact qdisc, bpf filter)", "--attach tc will fail: "+tc.Error())
	}
	if xdp := modes[attach.XDP]; xdp == nil {
		line(true, "XDP attach", "--attach xdp works (on drivers with XDP; generic mode elsewhere)")
	} else {
		info("XDP attach", "--attach xdp will fail: "+xdp.Error())
	}
}

func doctor(c *cli.Context) error {
	w := c.App.Writer
	var u unix.Utsname
	_ = unix.Uname(&u)
	fmt.Fprintf(w, "kernel %s\n", unix.ByteSliceToString(u.Release[:]))
	failed := 0
	line := func(ok bool, name, detail string) {
		mark := "ok  "
		if !ok {
			mark = "MISS"
			failed++
		}
		fmt.Fprintf(w, "  %s %-44s %s\n", mark, name, detail)
	}
	caps, err := effectiveCaps()
	has := func(bit uint) bool { return err == nil && caps&(1<<bit) != 0 }
	line(has(capBPF) || has(capSysAdmin), "CAP_BPF (or CAP_SYS_ADMIN)", "load programs — run as root or grant it")
	line(has(capNetAdmin), "CAP_NET_ADMIN", "attach to interfaces — run as root or grant it")
	line(has(capPerfmon) || has(capSysAdmin), "CAP_PERFMON (or CAP_SYS_ADMIN)", "direct packet access without speculation limits")
	_, btfErr := os.Stat("/sys/kernel/btf/vmlinux")
	fmt.Fprintf(w, "  info %-44s %s\n", "kernel BTF (/sys/kernel/btf/vmlinux)", map[bool]string{true: "present (not needed by tacap)", false: "absent (not needed by tacap)"}[btfErr == nil])
	if !has(capBPF) && !has(capSysAdmin) {
		line(false, "kernel features", "not probed: probing loads programs, which needs CAP_BPF — run tacap doctor as root")
		return fmt.Errorf("%d of the checks above failed: tacap capture will not work here until they pass", failed)
	}
	for _, ch := range bpf.Probe() {
		detail := "needed for " + ch.For
		if ch.Err != nil {
			detail += ": " + ch.Err.Error()
		} else if ch.Detail != "" {
			detail += " (" + ch.Detail + ")"
		}
		line(ch.Err == nil, ch.Name, detail)
	}
	attachModes(w, has(capNetAdmin), line)
	if failed > 0 {
		return fmt.Errorf("%d of the checks above failed: tacap capture will not work here until they pass", failed)
	}
	fmt.Fprintln(w, "everything tacap needs is here")
	return nil
}
