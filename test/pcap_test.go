package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/tacap/tacap/capture"
	"github.com/tacap/tacap/dataset"

	"github.com/tacap/tacap/test/oracle"
	"github.com/tacap/tacap/test/testenv"
	"github.com/tacap/tacap/test/tshark"
)

// unsupportedLinkTypes are the shared captures tacap does not read.
var unsupportedLinkTypes = map[string]bool{"ppp_mpls_traceroute_icmp_ttl_exceeded.pcap": true}

type timed struct {
	ns int64
	f  oracle.Fields
}

// TestPcapMatchesTshark runs every shared capture of a supported link type
// through `tacap capture --pcap` with quotas off and compares the rows with
// tshark's decoding of the same file, frame by frame (matched by time and
// every contract column): every clean TCP/UDP/ICMP/ICMPv6 frame is one row,
// nothing else is, and the counters add up.
func TestPcapMatchesTshark(t *testing.T) {
	testenv.Privileged(t)
	requireTshark(t)
	shared := testenv.SharedDir(t)
	tacap, _ := binaries(t)
	files, _ := filepath.Glob(filepath.Join(shared, "pcaps", "*", "*.pcap*"))
	sort.Strings(files)
	checked := 0
	for _, path := range files {
		name := filepath.Base(path)
		if unsupportedLinkTypes[name] {
			continue
		}
		checked++
		t.Run(filepath.Base(filepath.Dir(path))+"/"+name, func(t *testing.T) {
			ds := filepath.Join(t.TempDir(), "ds")
			out, err := exec.Command(tacap, "capture", "--pcap", path, "-o", ds, "--packets-per-session", "0",
				"--sessions", "1048576", "--no-csv", "-q").CombinedOutput()
			if err != nil {
				t.Fatalf("tacap: %v\n%s", err, out)
			}
			m := readManifest(t, ds)
			if err := m.Counters.Check(); err != nil || !m.Complete || int64(m.Counters.Recorded) != m.RowsWritten {
				t.Fatalf("manifest: %v complete %v recorded %d rows %d", err, m.Complete, m.Counters.Recorded, m.RowsWritten)
			}
			frames, err := tshark.Decode(path)
			if err != nil {
				t.Fatal(err)
			}
			want := map[timed]int{}
			for _, f := range frames {
				if f.Recordable {
					want[timed{f.TimeNs, f.Fields}]++
				}
			}
			got := map[timed]int{}
			for _, r := range readRows(t, ds, m) {
				if r.iface == "" || r.gso != 1 {
					t.Fatalf("row %+v: iface empty or gso_segs not 1", r)
				}
				got[timed{r.timeNs, r.f}]++
			}
			var diffs []string
			for k, n := range want {
				if got[k] != n {
					diffs = append(diffs, fmt.Sprintf("tshark %d, tacap %d: %d %+v", n, got[k], k.ns, k.f))
				}
			}
			for k, n := range got {
				if _, ok := want[k]; !ok {
					diffs = append(diffs, fmt.Sprintf("tacap only (%d): %d %+v", n, k.ns, k.f))
				}
			}
			sort.Strings(diffs)
			if len(diffs) > 0 {
				t.Errorf("%d differences of %d frames; first ones:\n%s", len(diffs), len(frames), strings.Join(diffs[:min(len(diffs), 8)], "\n"))
			}
			t.Logf("%d frames, %d rows match tshark; counters %+v", len(frames), len(got), m.Counters)
		})
	}
	// Nothing compared is a failure, not a pass.
	if checked == 0 {
		t.Fatalf("no capture tacap reads under %s: nothing was compared", filepath.Join(shared, "pcaps"))
	}
}

// runPcap runs tacap over a file (quotas off) and returns its rows in order.
func runPcap(t *testing.T, path string, wantExit int) ([]row, dataset.Manifest) {
	t.Helper()
	tacap, _ := binaries(t)
	ds := filepath.Join(t.TempDir(), "ds")
	cmd := exec.Command(tacap, "capture", "--pcap", path, "-o", ds, "--packets-per-session", "0", "--no-csv", "-q")
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != wantExit {
		t.Fatalf("tacap --pcap %s: exit %d (%v), want %d\n%s", path, code, err, wantExit, out)
	}
	m := readManifest(t, ds)
	// The hook is the one that ran: the batched replay's XDP entry point.
	if m.Hook != capture.ReplayHook || m.PcapInfo == nil || m.Pcap != path {
		t.Fatalf("manifest of a file run: hook %q (want %q), pcap %q, pcap_file %v", m.Hook, capture.ReplayHook, m.Pcap, m.PcapInfo)
	}
	return readRows(t, ds, m), m
}

// TestPcapReplayIsDeterministic: the same file twice gives identical rows,
// and a pcapng file and its pcap conversion give identical rows.
func TestPcapReplayIsDeterministic(t *testing.T) {
	testenv.Privileged(t)
	shared := testenv.SharedDir(t)
	ng := filepath.Join(shared, "pcaps", "attack", "amp.UDP.snmp.src161.pcapng")
	a, _ := runPcap(t, ng, 0)
	b, _ := runPcap(t, ng, 0)
	if fmt.Sprint(a) != fmt.Sprint(b) || len(a) == 0 {
		t.Fatalf("two runs over the same file differ (%d and %d rows)", len(a), len(b))
	}
	if _, err := exec.LookPath("editcap"); err != nil {
		testenv.Unavailable(t, "editcap is not installed (it comes with tshark)")
	}
	conv := filepath.Join(t.TempDir(), "converted.pcap")
	if out, err := exec.Command("editcap", "-F", "pcap", ng, conv).CombinedOutput(); err != nil {
		t.Fatalf("editcap: %v: %s", err, out)
	}
	c, _ := runPcap(t, conv, 0)
	if len(c) != len(a) {
		t.Fatalf("pcapng gave %d rows, its pcap conversion %d", len(a), len(c))
	}
	for i := range a {
		x, y := a[i], c[i]
		x.iface, y.iface = "", "" // the file name differs
		if x != y {
			t.Fatalf("row %d differs:\npcapng %+v\npcap   %+v", i, a[i], c[i])
		}
	}
}

// TestPcapTruncated: a file cut inside a record stops the run there; the
// dataset holds every frame before the cut and tacap exits 1.
func TestPcapTruncated(t *testing.T) {
	testenv.Privileged(t)
	shared := testenv.SharedDir(t)
	src, err := os.ReadFile(filepath.Join(shared, "pcaps", "normal", "wikipedia.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.pcap")
	if err := os.WriteFile(cut, src[:len(src)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	rows, m := runPcap(t, cut, 1)
	if m.Complete || m.StopReason != "error" || m.PcapInfo == nil || m.PcapInfo.StoppedAt == 0 || len(rows) == 0 ||
		int64(len(rows)) != m.RowsWritten || m.Counters.Check() != nil {
		t.Fatalf("manifest after a truncated file: %+v (%d rows)", m, len(rows))
	}
	t.Logf("truncated file: %d frames read, %d rows, stopped at byte %d of %d", m.PcapInfo.Frames, len(rows), m.PcapInfo.StoppedAt, m.PcapInfo.Bytes)
}
