package attach

import (
	"errors"
	"net"
	"os"
	"strings"
	"testing"
)

func TestPickHandle(t *testing.T) {
	all := func(except ...uint32) map[uint32]bool {
		m := map[uint32]bool{}
		for h := uint32(1); h <= 0xffff; h++ {
			m[h] = true
		}
		for _, h := range except {
			delete(m, h)
		}
		return m
	}
	for _, tc := range []struct {
		name  string
		start uint16
		used  map[uint32]bool
		want  uint32
		err   bool
	}{
		{"none used", 4242, nil, 4242, false},
		{"start used", 4242, map[uint32]bool{4242: true}, 4243, false},
		{"run used", 4242, map[uint32]bool{4242: true, 4243: true, 4244: true}, 4245, false},
		{"other priorities and majors do not count", 4242, map[uint32]bool{0x10000 | 4242: true}, 4242, false},
		{"start 0 is never used", 0, nil, 1, false},
		{"wraps past 0xffff, skipping 0", 0xffff, map[uint32]bool{0xffff: true}, 1, false},
		{"wraps to 1 used", 0xfffe, map[uint32]bool{0xfffe: true, 0xffff: true, 1: true}, 2, false},
		{"all but one used, ahead", 10, all(9000), 9000, false},
		{"all but one used, behind", 9000, all(10), 10, false},
		{"all but the start used", 77, all(77), 77, false},
		{"all used", 4242, all(), 0, true},
		{"all used, start 0", 0, all(), 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pickHandle(tc.start, tc.used)
			if tc.err {
				if err == nil {
					t.Fatalf("pickHandle = %#x, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("pickHandle = %#x, %v; want %#x", got, err, tc.want)
			}
		})
	}
}

func TestParseFilterName(t *testing.T) {
	for _, tc := range []struct {
		name string
		want owner
		ok   bool
	}{
		{"tacap-4026531836-1234-98765", owner{4026531836, 1234, 98765}, true},
		{"tacap-4026531836-1-0", owner{4026531836, 1, 0}, true},
		{"tacap-1234", owner{}, false},                     // old style
		{"tacap-4026531836-1234", owner{}, false},          // a field short
		{"tacap-4026531836-1234-5-6", owner{}, false},      // a field long
		{"tacap-4026531836--1234-5", owner{}, false},       // negative
		{"tacap-4026531836-+1234-5", owner{}, false},       // sign
		{"tacap-4026531836-01234-5", owner{}, false},       // not canonical
		{"tacap-4026531836- 1234-5", owner{}, false},       // space
		{"tacap-0-1234-5", owner{}, false},                 // no namespace
		{"tacap-4026531836-0-5", owner{}, false},           // PID 0
		{"tacap-4026531836-99999999-5", owner{}, false},    // beyond PID_MAX_LIMIT
		{"tacap-4026531836-1234-x", owner{}, false},        // junk
		{"tacap-99999999999999999999-1-2", owner{}, false}, // overflow
		{"tacap-", owner{}, false},
		{"tacap", owner{}, false},
		{"other-4026531836-1234-5", owner{}, false},
		{"", owner{}, false},
	} {
		got, ok := parseFilterName(tc.name)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseFilterName(%q) = %+v, %v; want %+v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	o := owner{pidns: 4026531836, pid: 4194304, start: 1 << 40}
	if got, ok := parseFilterName(o.filterName()); !ok || got != o {
		t.Errorf("round trip of %q: %+v, %v", o.filterName(), got, ok)
	}
}

func TestStaleFilter(t *testing.T) {
	self := owner{pidns: 4026531836, pid: 100, start: 5000}
	name := func(pidns uint64, pid int, start uint64) string {
		return owner{pidns, pid, start}.filterName()
	}
	type proc struct {
		state procState
		start uint64
	}
	procs := map[int]proc{
		100: {procAlive, 5000}, // us
		200: {procAlive, 7000},
		300: {procGone, 0},
		400: {procUnknown, 0},
	}
	for _, tc := range []struct {
		what, name string
		stale      bool
	}{
		{"own ns, dead pid", name(self.pidns, 300, 7000), true},
		{"own ns, live pid, same start", name(self.pidns, 200, 7000), false},
		{"own ns, live pid, other start (reused)", name(self.pidns, 200, 6999), true},
		{"own ns, our pid, other start (reused)", name(self.pidns, 100, 4000), true},
		{"ourselves", self.filterName(), false},
		{"own ns, unknown", name(self.pidns, 400, 1), false},
		{"other ns, dead pid", name(self.pidns+1, 300, 7000), false},
		{"other ns, live pid, other start", name(self.pidns+1, 200, 1), false},
		{"old style, dead pid", "tacap-300", false},
		{"old style, live pid", "tacap-200", false},
		{"malformed", "tacap-4026531836-300", false},
		{"malformed start", "tacap-4026531836-300-x", false},
		{"not tacap", "cilium-4026531836-300-7000", false},
		{"empty", "", false},
	} {
		t.Run(tc.what, func(t *testing.T) {
			lookup := func(pid int) (procState, uint64) {
				p, ok := procs[pid]
				if !ok {
					t.Fatalf("lookup of unexpected pid %d", pid)
				}
				return p.state, p.start
			}
			if got := staleFilter(tc.name, self, lookup); got != tc.stale {
				t.Errorf("staleFilter(%q) = %v, want %v", tc.name, got, tc.stale)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	tail := "S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 987654 20 21 22"
	for _, tc := range []struct {
		what, stat string
		pid        int
		start      uint64
		err        bool
	}{
		{"plain", "42 (tacap) " + tail + "\n", 42, 987654, false},
		{"spaces and parens in the name", "42 (a) (b c) ) " + tail, 42, 987654, false},
		{"real", "1 (systemd) S 0 1 1 0 -1 4194560 50813 2935436 103 1376 133 214 6474 2476 20 0 1 0 12 22192128 3250 18446744073709551615 1 1 0 0 0 0 671173123 4096 1260 0 0 0 17 3 0 0 0 0 0", 1, 12, false},
		{"short", "42 (tacap) S 1 2 3", 0, 0, true},
		{"no parens", "42 tacap " + tail, 0, 0, true},
		{"bad pid", "x (tacap) " + tail, 0, 0, true},
		{"bad start", "42 (tacap) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 -5 20", 0, 0, true},
		{"empty", "", 0, 0, true},
	} {
		pid, start, err := parseStat(tc.stat)
		if (err != nil) != tc.err || pid != tc.pid || start != tc.start {
			t.Errorf("%s: parseStat = %d, %d, %v; want %d, %d, error %v", tc.what, pid, start, err, tc.pid, tc.start, tc.err)
		}
	}
}

func TestProcIsOurs(t *testing.T) {
	for _, tc := range []struct {
		status string
		ours   bool
	}{
		{"Name:\ttacap\nPid:\t42\nNSpid:\t42\n", true},
		{"Name:\ttacap\nPid:\t42\nNSpid:\t9042\t42\n", false}, // procfs of an outer namespace
		{"Name:\ttacap\nPid:\t43\nNSpid:\t43\n", false},
		{"Name:\ttacap\nPid:\t42\n", true}, // before Linux 4.1
	} {
		if got := procIsOurs(tc.status, 42); got != tc.ours {
			t.Errorf("procIsOurs(%q) = %v, want %v", tc.status, got, tc.ours)
		}
	}
}

// TestSelfOwner: this process's record is judged live, a record with
// another start time is judged reused.
func TestSelfOwner(t *testing.T) {
	self, err := selfOwner()
	if err != nil {
		t.Skipf("no owner record here: %v", err)
	}
	if self.pid != os.Getpid() || self.pidns == 0 {
		t.Fatalf("selfOwner = %+v", self)
	}
	if state, start := lookupProc(self.pid); state != procAlive || start != self.start {
		t.Fatalf("lookupProc(self) = %v, %d; want alive, %d", state, start, self.start)
	}
	other := self
	other.start++
	if !staleFilter(other.filterName(), owner{pidns: self.pidns, pid: 1}, lookupProc) {
		t.Errorf("%s: not stale with a different start time", other.filterName())
	}
}

func TestErrors(t *testing.T) {
	_, err := ParseMode("x")
	if !errors.Is(err, ErrBadMode) || err.Error() != `attach mode must be auto, tcx, tc or xdp, not "x"` {
		t.Errorf("ParseMode(x): %v", err)
	}
	ifs := []net.Interface{{Index: 1, Name: "lo", Flags: net.FlagUp | net.FlagLoopback}, {Index: 2, Name: "eth9"}}
	if _, err := findInterface("eth8", ifs); !errors.Is(err, ErrNoSuchInterface) || err.Error() != "interface eth8: no such interface" {
		t.Errorf("missing interface: %v", err)
	}
	if _, err := findInterface("eth9", ifs); !errors.Is(err, ErrInterfaceDown) || err.Error() != "interface eth9 is down" {
		t.Errorf("down interface: %v", err)
	}
	if got, err := findInterface("lo", ifs); err != nil || got.Index != 1 {
		t.Errorf("up interface: %v, %v", got, err)
	}
	if _, err := Interface("tacap-none0"); !errors.Is(err, ErrNoSuchInterface) {
		t.Errorf("Interface(tacap-none0): %v", err)
	}
	for _, dirs := range [][]string{{"egress"}, {"ingress", "egress"}} {
		_, err := Attach(&net.Interface{Index: 1, Name: "eth0"}, dirs, XDP, Programs{})
		if !errors.Is(err, ErrXDPEgress) || err.Error() != "attach xdp to eth0 egress: xdp sees ingress only" {
			t.Errorf("xdp %v: %v", dirs, err)
		}
	}
}

// TestNoRemedies: the library says what failed and why; what to do about
// it is the command line's (it maps the sentinels and errno values).
func TestNoRemedies(t *testing.T) {
	src, err := os.ReadFile("attach.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, remedy := range []string{"—", "run as root", "grant CAP", "ip link", "try --attach", "use --direction"} {
		if strings.Contains(string(src), remedy) {
			t.Errorf("attach.go still tells the user what to do: %q", remedy)
		}
	}
}
