package test

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tacap/tacap/dataset"
	"github.com/tacap/tacap/test/frames"
	"github.com/tacap/tacap/test/pqcheck"
	"github.com/tacap/tacap/test/testenv"
)

// filterCapture is a capture file of DNS, other UDP, TCP and ARP frames.
func filterCapture(t *testing.T, path string) {
	t.Helper()
	dns := netip.MustParseAddr("198.18.7.53")
	client := netip.MustParseAddr("198.18.7.1")
	var fs []capFrame
	ns := int64(1_700_000_000_000_000_000)
	for i := 0; i < 30; i++ {
		ns += 1_000_000
		switch i % 5 {
		case 0, 1:
			fs = append(fs, mfUDP(ns, client, dns, uint16(30000+i), 53, 40))
		case 2:
			fs = append(fs, mfUDP(ns, dns, client, 53, uint16(30000+i-2), 120))
		case 3:
			fs = append(fs, mfTCP(ns, i%2 == 1, frames.ACK, 100))
		default:
			fs = append(fs, capFrame{ns: ns, data: frames.Build(mfEther, frames.Opaque{Bytes: make([]byte, 28)})})
		}
	}
	// Opaque after Ether is no IP: set the EtherType to ARP by hand.
	for i := range fs {
		if len(fs[i].data) == 14+28 {
			fs[i].data[12], fs[i].data[13] = 0x08, 0x06
		}
	}
	writePcap(t, path, 1, fs)
}

// tcpdumpCount is how many frames of path tcpdump selects with expr.
func tcpdumpCount(t *testing.T, path, expr string) int {
	t.Helper()
	out, err := exec.Command("tcpdump", "-r", path, "-nn", "-q", expr).Output()
	if err != nil {
		t.Fatalf("tcpdump -r %s %q: %v", path, expr, err)
	}
	return strings.Count(string(out), "\n")
}

// TestFilterCapture: --filter and --filter-file through tacap capture
// --pcap: the rows are what tcpdump selects, the rest of the recordable
// packets are counted filtered and are in no flow, and the manifest names
// the expression.
func TestFilterCapture(t *testing.T) {
	testenv.Privileged(t)
	if _, err := exec.LookPath("tcpdump"); err != nil {
		testenv.Unavailable(t, "tcpdump is not installed (make test installs it)")
	}
	dir := t.TempDir()
	pcap := filepath.Join(dir, "mix.pcap")
	filterCapture(t, pcap)
	exprFile := filepath.Join(dir, "dns.filter")
	if err := os.WriteFile(exprFile, []byte("# DNS only\nudp port 53 # both ways\n  and not tcp\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const expr = "udp port 53 and not tcp"
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"filter", []string{"--filter", expr}},
		{"filter-file", []string{"-f", exprFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := filepath.Join(dir, tc.name)
			mfMustRun(t, nil, append([]string{"--pcap", pcap, "-o", ds}, tc.args...)...)
			m := readManifest(t, ds)
			if m.Parameters.Filter != expr {
				t.Errorf("manifest parameters.filter %q, want %q", m.Parameters.Filter, expr)
			}
			want := tcpdumpCount(t, pcap, expr)
			c := m.Counters
			if c.Recorded != uint64(want) || c.Filtered != 6 || c.NotIP != 6 {
				t.Fatalf("counters %+v: want %d recorded (tcpdump's count), 6 filtered (TCP), 6 not_ip (ARP)", c, want)
			}
			checkCountersTimeline(t, m)
			for _, r := range readRows(t, ds, m) {
				if r.f.Protocol != 17 || (r.f.SrcPort != 53 && r.f.DstPort != 53) {
					t.Errorf("row %+v is not DNS", r.f)
				}
			}
			var inFlows int64
			for _, f := range m.Files.Flows {
				pf, err := pqcheck.Read(filepath.Join(ds, f.Path))
				if err != nil {
					t.Fatal(err)
				}
				for _, col := range []string{"fwd_packets", "bwd_packets"} {
					v, err := pf.Int64(col)
					if err != nil {
						t.Fatal(err)
					}
					for _, x := range v {
						inFlows += x
					}
				}
				pf.Table.Release()
			}
			if inFlows != int64(want) {
				t.Errorf("flows/ hold %d packets, want the %d the filter let through", inFlows, want)
			}
		})
	}
}

// TestFilterUsageErrors: a filter tacap cannot compile is refused before
// anything is loaded, with the column at fault, exit code 2.
func TestFilterUsageErrors(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "mix.pcap")
	filterCapture(t, pcap)
	empty := filepath.Join(dir, "empty.filter")
	if err := os.WriteFile(empty, []byte("# nothing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--filter", "tcp and"}, `--filter "tcp and", column 8 (at the end): expected a primitive`},
		{[]string{"--filter", "port ssh-nope"}, "column 6"},
		{[]string{"--filter", "host example.com"}, "does not resolve host names"},
		{[]string{"--filter", " "}, "--filter is empty"},
		{[]string{"--filter", "tcp", "-f", empty}, "exclude each other"},
		{[]string{"-f", empty}, "holds no expression"},
	} {
		ds := filepath.Join(dir, "ds")
		code, out := mfTacap(t, nil, append([]string{"--pcap", pcap, "-o", ds}, tc.args...)...)
		if code != 2 || !strings.Contains(out, tc.want) {
			t.Errorf("tacap capture %s: exit %d, %q; want exit 2 and %q", strings.Join(tc.args, " "), code, out, tc.want)
		}
		if _, err := os.Stat(ds); err == nil {
			t.Errorf("tacap capture %s: created the dataset folder", strings.Join(tc.args, " "))
		}
	}
}

// TestFilterLive: live on a veth, a filter keeps one UDP port: the rows
// are exactly the packets sent to it, everything else recordable is
// counted filtered.
func TestFilterLive(t *testing.T) {
	l := newLab(t)
	dir := t.TempDir()
	ds := filepath.Join(dir, "dataset")
	ready := filepath.Join(dir, "ready")
	cmd := start(t, l.b, l.tacap, "capture", "-i", "veth0", "--direction", "ingress", "-o", ds,
		"--packets-per-session", "0", "--filter", "udp dst port 9 and src host "+l.v4a, "--for", "4s", "-q", "--ready-file", ready)
	waitFile(t, ready)
	udpBurst(t, l, 40100, 50) // to port 9: recorded
	// Other traffic, filtered: TCP connection attempts (refused) and UDP
	// to another port.
	for i := 0; i < 5; i++ {
		_ = l.a.Do(func() error {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(l.v4b, "80"), time.Second)
			if err == nil {
				c.Close()
			}
			return nil
		})
	}
	sendUDP(t, l, 40200, 10, 7)
	time.Sleep(200 * time.Millisecond)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, ds)
	c := m.Counters
	if c.Recorded != 50 || c.Filtered < 15 {
		t.Fatalf("counters %+v: want 50 recorded (the burst to port 9) and at least 15 filtered (5 SYNs, 10 to port 7)", c)
	}
	checkCountersTimeline(t, m)
	for _, r := range readRows(t, ds, m) {
		if r.f.Protocol != 17 || r.f.DstPort != 9 || r.f.Src.String() != l.v4a {
			t.Errorf("row %+v is not the burst to port 9", r.f)
		}
	}
}

// checkCountersTimeline: the manifest's counters timeline adds up to its
// counters, reason by reason.
func checkCountersTimeline(t *testing.T, m dataset.Manifest) {
	t.Helper()
	ct := m.CountersTimeline
	if ct == nil {
		t.Error("the manifest has no counters_timeline")
		return
	}
	for _, rs := range m.Counters.Reasons() {
		var sum uint64
		for _, n := range ct.Reasons[rs.Name] {
			sum += n
		}
		if sum != rs.Count {
			t.Errorf("counters_timeline %s adds up to %d, the counter is %d", rs.Name, sum, rs.Count)
		}
	}
}
