package attach

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Legacy tc filters outlive the process that added them, so each is named
// for its owner and the next attach removes those whose owner is gone:
//
//	tacap-<pidns>-<pid>-<start>
//
// pidns is the inode of the owner's /proc/self/ns/pid, pid its PID in that
// namespace and start its start time (field 22 of /proc/PID/stat, in clock
// ticks since boot), all decimal. A PID alone is not enough: a tacap in a
// container numbers processes differently (its PID 7 is not ours), and a
// PID is reused once its process is gone.
//
// A filter is stale only when its pidns is ours and its PID either names no
// process or one that started at another time (the PID was reused).
// Everything else stays: names of another PID namespace (we cannot see
// those processes), names that do not parse, and the old-style tacap-PID
// names of tacap versions before owner records. Those carry no namespace,
// so a live tacap in a container could own one; the old rule (delete when
// kill(PID, 0) fails) would remove its filter, and we never delete what we
// cannot attribute. They are only left after an older tacap crashed, and
// `tc filter del` removes them.
const filterPrefix = "tacap-"

// owner identifies a process across PID namespaces and PID reuse.
type owner struct {
	pidns uint64 // inode of /proc/PID/ns/pid
	pid   int    // in that namespace
	start uint64 // start time, clock ticks since boot
}

func (o owner) filterName() string {
	return fmt.Sprintf("%s%d-%d-%d", filterPrefix, o.pidns, o.pid, o.start)
}

// parseFilterName reads an owner record; ok is false for anything but a
// well-formed tacap-<pidns>-<pid>-<start> (old-style tacap-PID included).
func parseFilterName(name string) (o owner, ok bool) {
	rest, found := strings.CutPrefix(name, filterPrefix)
	if !found {
		return owner{}, false
	}
	f := strings.Split(rest, "-")
	if len(f) != 3 {
		return owner{}, false
	}
	var v [3]uint64
	for i, s := range f {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || strconv.FormatUint(n, 10) != s { // canonical decimal only
			return owner{}, false
		}
		v[i] = n
	}
	if v[0] == 0 || v[1] == 0 || v[1] > 1<<22 { // PID_MAX_LIMIT is 4194304
		return owner{}, false
	}
	return owner{pidns: v[0], pid: int(v[1]), start: v[2]}, true
}

// procState is what /proc says about a PID.
type procState int

const (
	procUnknown procState = iota // cannot tell: keep its filters
	procGone
	procAlive
)

// staleFilter decides whether a filter named name was left behind by a
// tacap that is gone. lookup reports on a PID of our namespace: its state
// and, when alive, its start time.
func staleFilter(name string, self owner, lookup func(pid int) (procState, uint64)) bool {
	o, ok := parseFilterName(name)
	if !ok || o.pidns != self.pidns || o == self {
		return false
	}
	switch state, start := lookup(o.pid); state {
	case procGone:
		return true
	case procAlive:
		return start != o.start // the PID now names another process
	}
	return false
}

// parseStat reads the PID (field 1) and start time (field 22) of a
// /proc/PID/stat line. The command name (field 2, in parentheses) may hold
// spaces and parentheses itself, so fields are counted after the last ')'.
func parseStat(stat string) (pid int, start uint64, err error) {
	open, end := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
	if open < 0 || end < open {
		return 0, 0, fmt.Errorf("malformed stat %q", stat)
	}
	pid, err = strconv.Atoi(strings.TrimSpace(stat[:open]))
	if err != nil {
		return 0, 0, fmt.Errorf("malformed stat: pid: %w", err)
	}
	f := strings.Fields(stat[end+1:]) // f[0] is field 3, the state
	if len(f) < 22-2 {
		return 0, 0, fmt.Errorf("malformed stat: %d fields", len(f)+2)
	}
	start, err = strconv.ParseUint(f[22-3], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("malformed stat: start time: %w", err)
	}
	return pid, start, nil
}

// procIsOurs reports whether /proc/self/status shows a procfs of our own
// PID namespace: NSpid (Linux 4.1+) lists our PID in every namespace from
// the procfs's down to ours, so it must be a single entry, equal to pid.
func procIsOurs(status string, pid int) bool {
	for line := range strings.Lines(status) {
		if val, ok := strings.CutPrefix(line, "NSpid:"); ok {
			f := strings.Fields(val)
			return len(f) == 1 && f[0] == strconv.Itoa(pid)
		}
	}
	return true // no NSpid: selfOwner still compares the PID in /proc/self/stat
}

// selfOwner is this process's owner record. It fails when /proc is not of
// our PID namespace (then no PID found there can be judged).
func selfOwner() (owner, error) {
	st, err := os.Stat("/proc/self/ns/pid")
	if err != nil {
		return owner{}, err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return owner{}, fmt.Errorf("stat /proc/self/ns/pid: no inode")
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return owner{}, err
	}
	if !procIsOurs(string(status), os.Getpid()) {
		return owner{}, fmt.Errorf("/proc is of another PID namespace")
	}
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return owner{}, err
	}
	pid, start, err := parseStat(string(stat))
	if err != nil {
		return owner{}, err
	}
	if pid != os.Getpid() {
		return owner{}, fmt.Errorf("/proc is of another PID namespace")
	}
	return owner{pidns: sys.Ino, pid: pid, start: start}, nil
}
