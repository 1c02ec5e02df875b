package test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tacap/tacap/dataset"

	"github.com/tacap/tacap/test/netns"
	"github.com/tacap/tacap/test/oracle"
	"github.com/tacap/tacap/test/pqcheck"
	"github.com/tacap/tacap/test/testenv"
	"github.com/tacap/tacap/test/tshark"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds tacap and trafficgen once per test process.
func binaries(t *testing.T) (tacap, trafficgen string) {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "tacap-bin-")
		if buildErr != nil {
			return
		}
		for _, pkg := range []string{"../cmd/tacap", "./trafficgen"} {
			out, err := exec.Command("go", "build", "-o", binDir+"/", pkg).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("go build %s: %v: %s", pkg, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "tacap"), filepath.Join(binDir, "trafficgen")
}

// lab is two namespaces joined by a veth, with addresses on both ends.
type lab struct {
	a, b       *netns.NS
	v4a, v4b   string
	v6a, v6b   string
	tacap, gen string
}

func newLab(t *testing.T) *lab {
	testenv.Privileged(t)
	for _, tool := range []string{"tcpdump", "tshark"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Unavailable(t, tool+" is not installed (make test installs it)")
		}
	}
	l := &lab{a: netns.New(t, "ca"), b: netns.New(t, "cb"), v4a: "198.18.1.1", v4b: "198.18.1.2", v6a: "2001:db8:1::1", v6b: "2001:db8:1::2"}
	l.tacap, l.gen = binaries(t)
	netns.Veth(t, l.a, "veth0", l.b, "veth0")
	l.a.MustIP(t, "addr add %s/24 dev veth0", l.v4a)
	l.b.MustIP(t, "addr add %s/24 dev veth0", l.v4b)
	l.a.MustIP(t, "addr add %s/64 dev veth0 nodad", l.v6a)
	l.b.MustIP(t, "addr add %s/64 dev veth0 nodad", l.v6b)
	return l
}

// stopAtEnd kills cmd (by PID) when the test ends, unless it has exited.
func stopAtEnd(t *testing.T, cmd *exec.Cmd) {
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
}

// start runs a command in ns, stopped (by PID) when the test ends.
func start(t *testing.T, ns *netns.NS, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopAtEnd(t, cmd)
	return cmd
}

// tcpdump starts tcpdump on ns's veth0 writing to path, and returns once it
// listens.
// tcpdump writes what veth0 in ns carries to path, with a large buffer. The
// returned func, called after the process has ended, says how many packets
// tcpdump itself lost ("N packets dropped by kernel").
func tcpdump(t *testing.T, ns *netns.NS, path string) (*exec.Cmd, func() int) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns.Name, "tcpdump", "-i", "veth0", "-n", "-s", "0", "-U", "-B", "32768",
		"--time-stamp-precision", "nano", "-w", path)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopAtEnd(t, cmd)
	listening := make(chan struct{})
	done := make(chan struct{})
	dropped := 0
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, "listening on") && !once {
				once = true
				close(listening)
			}
			if n, ok := strings.CutSuffix(line, " packets dropped by kernel"); ok {
				dropped, _ = strconv.Atoi(strings.TrimSpace(n))
			}
		}
	}()
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		t.Fatal("tcpdump did not start listening")
	}
	return cmd, func() int {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("tcpdump's statistics did not arrive")
		}
		return dropped
	}
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not appear", path)
}

func readManifest(t *testing.T, dir string) dataset.Manifest {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(dir, "_runs", "*.json"))
	if len(paths) != 1 {
		t.Fatalf("%d manifests in %s", len(paths), dir)
	}
	b, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	var m dataset.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// row is one packets/ row as arrow-go reads it.
type row struct {
	timeNs int64
	gso    int64
	iface  string
	dir    string
	f      oracle.Fields
}

func readRows(t *testing.T, dir string, m dataset.Manifest) []row {
	t.Helper()
	var rows []row
	for _, file := range m.Files.Packets {
		pf, err := pqcheck.Read(filepath.Join(dir, file.Path))
		if err != nil {
			t.Fatal(err)
		}
		defer pf.Table.Release()
		if pf.Rows != file.Rows {
			t.Fatalf("%s: arrow-go reads %d rows, manifest says %d", file.Path, pf.Rows, file.Rows)
		}
		ints := map[string][]int64{}
		for _, c := range []string{"ts", "ts_ns", "vlan_id", "ip_version", "protocol", "src_port", "dst_port", "ip_len", "gso_segs",
			"ip_flags_frag", "ttl", "tcp_payload_len", "tcp_seq", "tcp_ack", "tcp_flags", "tcp_window", "udp_payload_len", "icmp_type", "icmp_code"} {
			if ints[c], err = pf.Int64(c); err != nil {
				t.Fatal(err)
			}
		}
		strs := map[string][]string{}
		for _, c := range []string{"iface", "direction", "src_ip", "dst_ip"} {
			if strs[c], err = pf.Strings(c); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < int(pf.Rows); i++ {
			if ints["ts"][i] != ints["ts_ns"][i]/1000 {
				t.Fatalf("row %d: ts %d µs and ts_ns %d disagree", i, ints["ts"][i], ints["ts_ns"][i])
			}
			r := row{timeNs: ints["ts_ns"][i], gso: ints["gso_segs"][i], iface: strs["iface"][i], dir: strs["direction"][i]}
			r.f = oracle.Fields{
				VlanID: uint16(ints["vlan_id"][i]), IPVersion: uint8(ints["ip_version"][i]),
				Src: netip.MustParseAddr(strs["src_ip"][i]), Dst: netip.MustParseAddr(strs["dst_ip"][i]),
				Protocol: uint8(ints["protocol"][i]), SrcPort: uint16(ints["src_port"][i]), DstPort: uint16(ints["dst_port"][i]),
				IPLen: uint32(ints["ip_len"][i]), IPFlagsFrag: uint16(ints["ip_flags_frag"][i]), TTL: uint8(ints["ttl"][i]),
				TCPPayloadLen: uint32(ints["tcp_payload_len"][i]), TCPSeq: uint32(ints["tcp_seq"][i]), TCPAck: uint32(ints["tcp_ack"][i]),
				TCPFlags: uint8(ints["tcp_flags"][i]), TCPWindow: uint16(ints["tcp_window"][i]),
				UDPPayloadLen: uint16(ints["udp_payload_len"][i]), ICMPType: uint8(ints["icmp_type"][i]), ICMPCode: uint8(ints["icmp_code"][i]),
			}
			rows = append(rows, r)
		}
	}
	return rows
}

var (
	labV4 = netip.MustParsePrefix("198.18.0.0/15")
	labV6 = netip.MustParsePrefix("2001:db8::/32")
)

func inLab(a netip.Addr) bool { return labV4.Contains(a) || labV6.Contains(a) }

// TestCaptureMatchesTcpdump captures a traffic mix with quotas off while
// tcpdump records the same interface: every IPv4/IPv6 TCP/UDP/ICMP/ICMPv6
// packet of the lab's addresses in tcpdump's copy is exactly one row, with
// every contract column equal to tshark's decoding and the time within 5 ms.
// Counters add up, rows = recorded = manifest, and arrow-go reads every file.
func TestCaptureMatchesTcpdump(t *testing.T) {
	l := newLab(t)
	dir := t.TempDir()
	pcap := filepath.Join(dir, "oracle.pcap")
	ds := filepath.Join(dir, "dataset")
	ready := filepath.Join(dir, "ready")

	start(t, l.b, l.gen, "serve", "--v4", l.v4b, "--v6", l.v6b)
	dump, dumpDropped := tcpdump(t, l.b, pcap)
	cap := start(t, l.b, l.tacap, "capture", "-i", "veth0", "--for", "6s", "-o", ds, "--packets-per-session", "0", "-q", "--ready-file", ready)
	waitFile(t, ready)
	gen := exec.Command("ip", "netns", "exec", l.a.Name, l.gen, "client", "--v4", l.v4b, "--v6", l.v6b, "--for", "2s")
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("trafficgen: %v: %s", err, out)
	}
	if err := cap.Wait(); err != nil {
		t.Fatalf("tacap capture: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	_ = dump.Process.Signal(syscall.SIGINT)
	_ = dump.Wait()

	m := readManifest(t, ds)
	if err := m.Counters.Check(); err != nil {
		t.Fatal(err)
	}
	if !m.Complete || m.RecordedNotWritten != 0 || int64(m.Counters.Recorded) != m.RowsWritten {
		t.Fatalf("manifest: complete %v, recorded %d, rows %d, not written %d, errors %v",
			m.Complete, m.Counters.Recorded, m.RowsWritten, m.RecordedNotWritten, m.Errors)
	}
	rows := readRows(t, ds, m)
	if int64(len(rows)) != m.RowsWritten {
		t.Fatalf("%d rows in the files, manifest says %d", len(rows), m.RowsWritten)
	}
	frames, err := tshark.Decode(pcap)
	if err != nil {
		t.Fatal(err)
	}

	// Multisets of contract columns (time aside) on both sides.
	want := map[oracle.Fields][]int64{}
	for _, f := range frames {
		if f.Recordable && inLab(f.Fields.Src) && inLab(f.Fields.Dst) {
			want[f.Fields] = append(want[f.Fields], f.TimeNs)
		}
	}
	got := map[oracle.Fields][]int64{}
	for _, r := range rows {
		if r.iface != "veth0" || (r.dir != "ingress" && r.dir != "egress") || r.gso < 1 {
			t.Fatalf("row %+v: iface, direction or gso_segs wrong", r)
		}
		if inLab(r.f.Src) && inLab(r.f.Dst) {
			got[r.f] = append(got[r.f], r.timeNs)
		}
	}
	// Packets tcpdump itself lost are rows only tacap has; they are
	// allowed up to tcpdump's own count of them, and nothing else is.
	lost := dumpDropped()
	var tacapOnly []string
	total, missing, extra, late := 0, 0, 0, 0
	for k, ts := range want {
		total += len(ts)
		g := got[k]
		sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
		sort.Slice(g, func(i, j int) bool { return g[i] < g[j] })
		if len(g) > len(ts) {
			for range len(g) - len(ts) {
				tacapOnly = append(tacapOnly, fmt.Sprintf("%+v", k))
			}
			continue
		}
		if len(g) != len(ts) {
			if missing < 5 {
				t.Errorf("tshark %d, tacap %d rows of %+v", len(ts), len(g), k)
			}
			missing++
			continue
		}
		for i := range ts {
			if d := g[i] - ts[i]; d > 5e6 || d < -5e6 {
				if late < 5 {
					t.Errorf("%+v: tacap time %d, tcpdump %d (%.3f ms apart)", k, g[i], ts[i], float64(d)/1e6)
				}
				late++
			}
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			for range g {
				tacapOnly = append(tacapOnly, fmt.Sprintf("%+v", k))
			}
		}
	}
	if extra = len(tacapOnly); extra > lost {
		sort.Strings(tacapOnly)
		t.Errorf("tacap has %d rows tcpdump's copy does not, and tcpdump lost only %d packets; first ones:\n%s",
			extra, lost, strings.Join(tacapOnly[:min(5, extra)], "\n"))
	}
	if total < 1000 {
		t.Errorf("only %d packets in the comparison: the traffic mix did not run", total)
	}
	t.Logf("%d packets compared field by field; %d keys differ in count, %d rows only tacap has (tcpdump lost %d), %d times over 5 ms; counters %+v",
		total, missing, extra, lost, late, m.Counters)

	// Sessions: packets_recorded adds up to the rows.
	var sessionRows int64
	for _, f := range m.Files.Sessions {
		pf, err := pqcheck.Read(filepath.Join(ds, f.Path))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := pf.Int64("packets_recorded")
		pf.Table.Release()
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range recs {
			sessionRows += n
		}
	}
	if sessionRows != m.RowsWritten {
		t.Errorf("sessions add up to %d recorded packets, packets/ has %d rows", sessionRows, m.RowsWritten)
	}
}

// TestCaptureStops interrupts a running capture: Ctrl-C and SIGTERM give a
// complete dataset and exit 0; kill -9 leaves every visible part readable,
// nothing half-written in view, and no program attached.
func TestCaptureStops(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			l := newLab(t)
			dir := t.TempDir()
			ds := filepath.Join(dir, "dataset")
			ready := filepath.Join(dir, "ready")
			start(t, l.b, l.gen, "serve", "--v4", l.v4b, "--v6", l.v6b)
			cmd := exec.Command("ip", "netns", "exec", l.b.Name, l.tacap, "capture", "-i", "veth0", "-o", ds,
				"--packets-per-session", "0", "--rotate-every", "300ms", "-q", "--ready-file", ready)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitFile(t, ready)
			gen := exec.Command("ip", "netns", "exec", l.a.Name, l.gen, "client", "--v4", l.v4b, "--v6", l.v6b, "--for", "1500ms")
			if out, err := gen.CombinedOutput(); err != nil {
				t.Fatalf("trafficgen: %v: %s", err, out)
			}
			time.Sleep(400 * time.Millisecond) // let at least one part rotate
			_ = cmd.Process.Signal(sig)        // `ip netns exec` execs tacap: this PID is tacap's
			err := cmd.Wait()

			if sig != syscall.SIGKILL {
				if err != nil {
					t.Fatalf("tacap after %s: %v (want exit 0)", sig, err)
				}
				m := readManifest(t, ds)
				if !m.Complete || m.StopReason != "signal" || int64(m.Counters.Recorded) != m.RowsWritten || m.Counters.Check() != nil {
					t.Fatalf("manifest after %s: complete %v, reason %s, recorded %d, rows %d", sig, m.Complete, m.StopReason, m.Counters.Recorded, m.RowsWritten)
				}
				if rows := readRows(t, ds, m); int64(len(rows)) != m.RowsWritten || len(rows) < 500 {
					t.Fatalf("%d rows readable, manifest says %d", len(rows), m.RowsWritten)
				}
				return
			}
			// kill -9: no manifest, but every visible part is whole.
			parts, _ := filepath.Glob(filepath.Join(ds, "packets", "*", "*", "*.parquet"))
			if len(parts) == 0 {
				t.Fatal("no completed part before kill -9 (parts rotate every 300 ms)")
			}
			var rows int64
			for _, p := range parts {
				if strings.HasPrefix(filepath.Base(p), ".") {
					t.Fatalf("hidden file matched: %s", p)
				}
				pf, err := pqcheck.Read(p)
				if err != nil {
					t.Fatalf("part left by kill -9 unreadable: %v", err)
				}
				rows += pf.Rows
				pf.Table.Release()
			}
			out, err := exec.Command("ip", "netns", "exec", l.b.Name, "bpftool", "net", "show", "dev", "veth0").CombinedOutput()
			if err != nil {
				testenv.Unavailable(t, "bpftool: "+err.Error())
			}
			if strings.Contains(string(out), "tacap") {
				t.Fatalf("a tacap program is still attached after kill -9:\n%s", out)
			}
			t.Logf("kill -9: %d readable parts with %d rows; nothing attached", len(parts), rows)
		})
	}
}

// TestCaptureDefaultQuotas follows the sampling algorithm on live traffic:
// a table of 4 sessions refuses the 5th and 6th session, and a session's quota of
// 100 refuses what follows within the restart time.
func TestCaptureDefaultQuotas(t *testing.T) {
	l := newLab(t)
	// IPv6 would add sessions of its own (router solicitations, MLD).
	if out, err := exec.Command("ip", "netns", "exec", l.a.Name, "sysctl", "-qw", "net.ipv6.conf.veth0.disable_ipv6=1").CombinedOutput(); err != nil {
		t.Fatalf("disable ipv6: %v: %s", err, out)
	}
	dir := t.TempDir()
	ds := filepath.Join(dir, "dataset")
	ready := filepath.Join(dir, "ready")
	cmd := start(t, l.b, l.tacap, "capture", "-i", "veth0", "--direction", "ingress", "-o", ds, "--sessions", "4",
		"--for", "4s", "-q", "--ready-file", ready)
	waitFile(t, ready)
	for port := 40001; port <= 40006; port++ {
		udpBurst(t, l, port, 10)
	}
	udpBurst(t, l, 40001, 120)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, ds)
	c := m.Counters
	if c.SessionTableFull != 20 || c.SessionQuota != 30 || c.Recorded != 130 {
		t.Fatalf("counters %+v: want 130 recorded, 20 session_table_full, 30 session_quota", c)
	}
	per := map[uint16]int{}
	for _, r := range readRows(t, ds, m) {
		per[r.f.SrcPort]++
	}
	want := map[uint16]int{40001: 100, 40002: 10, 40003: 10, 40004: 10}
	if fmt.Sprint(per) != fmt.Sprint(want) {
		t.Fatalf("rows per source port %v, want %v", per, want)
	}
}

// TestAttachModes captures with legacy tc and with XDP, and checks that
// nothing of tacap's is left on the interface afterwards (filters, the
// clsact qdisc it created, XDP), also after a kill -9 under legacy tc,
// whose stale filter the next run removes.
func TestAttachModes(t *testing.T) {
	for _, mode := range []string{"tc", "xdp"} {
		t.Run(mode, func(t *testing.T) {
			l := newLab(t)
			dir := t.TempDir()
			ds := filepath.Join(dir, "dataset")
			ready := filepath.Join(dir, "ready")
			args := []string{"capture", "-i", "veth0", "--attach", mode, "--for", "3s", "-o", ds, "-q", "--ready-file", ready, "--packets-per-session", "0"}
			if mode == "xdp" {
				args = append(args, "--direction", "ingress")
			}
			cmd := start(t, l.b, l.tacap, args...)
			waitFile(t, ready)
			if mode == "tc" {
				if out := tcShow(t, l.b, "qdisc"); !strings.Contains(out, "clsact") {
					t.Fatalf("no clsact qdisc while attached with tc:\n%s", out)
				}
			}
			udpBurst(t, l, 40100, 50)
			if err := cmd.Wait(); err != nil {
				t.Fatal(err)
			}
			m := readManifest(t, ds)
			if len(m.AttachModes) != 1 || m.AttachModes[0] != mode || m.Counters.Recorded < 50 {
				t.Fatalf("attach modes %v, recorded %d", m.AttachModes, m.Counters.Recorded)
			}
			if wantHook := map[string]string{"tc": "tc", "xdp": "xdp"}[mode]; m.Hook != wantHook {
				t.Fatalf("hook %q, want %q", m.Hook, wantHook)
			}
			assertDetached(t, l.b, true)
		})
	}
	t.Run("tc stale filter after kill -9", func(t *testing.T) {
		l := newLab(t)
		dir := t.TempDir()
		ready := filepath.Join(dir, "ready")
		cmd := exec.Command("ip", "netns", "exec", l.b.Name, l.tacap, "capture", "-i", "veth0", "--attach", "tc", "-o", filepath.Join(dir, "ds1"), "-q", "--ready-file", ready)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFile(t, ready)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if out := tcShow(t, l.b, "filter"); !strings.Contains(out, "tacap-") {
			t.Fatalf("expected the killed run's filter to remain (legacy tc outlives its process):\n%s", out)
		}
		cmd2 := start(t, l.b, l.tacap, "capture", "-i", "veth0", "--attach", "tc", "--for", "1s", "-o", filepath.Join(dir, "ds2"), "-q")
		if err := cmd2.Wait(); err != nil {
			t.Fatal(err)
		}
		// The clsact qdisc the killed run created stays: no later run can
		// tell it from one another tool added.
		assertDetached(t, l.b, false)
	})
}

// udpBurst sends n datagrams from l.a's address and port to l.b, port 9.
func udpBurst(t *testing.T, l *lab, port, n int) { sendUDP(t, l, port, n, 9) }

// sendUDP sends n datagrams from the lab's a side, source port sport, to
// b's port dport.
func sendUDP(t *testing.T, l *lab, sport, n, dport int) {
	t.Helper()
	err := l.a.Do(func() error {
		// Unconnected: the port-unreachable replies must not stop the sender.
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(l.v4a), Port: sport})
		if err != nil {
			return err
		}
		defer c.Close()
		for i := 0; i < n; i++ {
			if _, err := c.WriteToUDP([]byte("other"), &net.UDPAddr{IP: net.ParseIP(l.v4b), Port: dport}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func tcShow(t *testing.T, ns *netns.NS, what string) string {
	t.Helper()
	var out []byte
	var err error
	if what == "qdisc" {
		out, err = exec.Command("tc", "-n", ns.Name, "qdisc", "show", "dev", "veth0").CombinedOutput()
	} else {
		a, _ := exec.Command("tc", "-n", ns.Name, "filter", "show", "dev", "veth0", "ingress").CombinedOutput()
		b, _ := exec.Command("tc", "-n", ns.Name, "filter", "show", "dev", "veth0", "egress").CombinedOutput()
		out = append(a, b...)
	}
	if err != nil {
		t.Fatalf("tc %s show: %v: %s", what, err, out)
	}
	return string(out)
}

func assertDetached(t *testing.T, ns *netns.NS, qdiscToo bool) {
	t.Helper()
	if out := tcShow(t, ns, "filter"); strings.Contains(out, "tacap") {
		t.Errorf("tacap filter left behind:\n%s", out)
	}
	if out := tcShow(t, ns, "qdisc"); qdiscToo && strings.Contains(out, "clsact") {
		t.Errorf("clsact qdisc tacap created left behind:\n%s", out)
	}
	out, err := exec.Command("ip", "netns", "exec", ns.Name, "bpftool", "net", "show", "dev", "veth0").CombinedOutput()
	if err != nil {
		testenv.Unavailable(t, "bpftool: "+err.Error())
	}
	if strings.Contains(string(out), "tacap") {
		t.Errorf("program left attached:\n%s", out)
	}
}

// TestCaptureDiskFull captures into a tiny tmpfs: tacap stops, keeps what
// it completed readable, leaves no visible half file and exits 1 with the
// reason.
func TestCaptureDiskFull(t *testing.T) {
	l := newLab(t)
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	if err := os.Mkdir(small, 0o750); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tacap-test", small).CombinedOutput(); err != nil {
		testenv.Unavailable(t, fmt.Sprintf("mount tmpfs: %v: %s", err, out))
	}
	t.Cleanup(func() { _ = exec.Command("umount", small).Run() })
	ready := filepath.Join(dir, "ready")
	cmd := exec.Command("ip", "netns", "exec", l.b.Name, l.tacap, "capture", "-i", "veth0", "-o", small, "--for", "20s",
		"--packets-per-session", "0", "--rotate-every", "100ms", "--no-csv", "-q", "--ready-file", ready)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopAtEnd(t, cmd)
	waitFile(t, ready)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(15 * time.Second)
	for port := 41000; ; port++ {
		udpBurst(t, l, port, 2000)
		select {
		case err := <-done:
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("tacap on a full disk: %v, want exit status 1; stderr:\n%s", err, stderr.String())
			}
			msg := stderr.String()
			if !strings.Contains(msg, "no space left on device") {
				t.Fatalf("stderr does not name the cause:\n%s", msg)
			}
			if last := strings.TrimSpace(msg[strings.LastIndex(strings.TrimSpace(msg), "\n")+1:]); !strings.HasPrefix(last, "tacap: ") {
				t.Errorf("last line is not the one-line reason: %q", last)
			}
			parts, _ := filepath.Glob(filepath.Join(small, "packets", "*", "*", "*.parquet"))
			for _, p := range parts {
				pf, err := pqcheck.Read(p)
				if err != nil {
					t.Fatalf("visible part unreadable after disk full: %v", err)
				}
				pf.Table.Release()
			}
			t.Logf("stopped on a full disk with %d complete parts", len(parts))
			return
		case <-deadline:
			t.Fatalf("tacap did not stop on a full disk; stderr:\n%s", stderr.String())
		default:
		}
	}
}

// TestSecondRunAdds: a second capture into the same folder adds its own
// files and manifest and leaves the first run's untouched.
func TestSecondRunAdds(t *testing.T) {
	l := newLab(t)
	ds := filepath.Join(t.TempDir(), "dataset")
	snapshot := func() map[string]string {
		out := map[string]string{}
		filepath.Walk(ds, func(p string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				b, _ := os.ReadFile(p)
				out[p] = string(b)
			}
			return nil
		})
		return out
	}
	var before map[string]string
	for i := 0; i < 2; i++ {
		ready := filepath.Join(t.TempDir(), "ready")
		cmd := start(t, l.b, l.tacap, "capture", "-i", "veth0", "--for", "1500ms", "-o", ds, "-q", "--ready-file", ready)
		waitFile(t, ready)
		udpBurst(t, l, 42000+i, 20)
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			before = snapshot()
		}
	}
	after := snapshot()
	for p, content := range before {
		if after[p] != content {
			t.Errorf("first run's %s changed or vanished", p)
		}
	}
	manifests, _ := filepath.Glob(filepath.Join(ds, "_runs", "*.json"))
	parts, _ := filepath.Glob(filepath.Join(ds, "packets", "*", "*", "*.parquet"))
	if len(manifests) != 2 || len(parts) != 2 || len(after) <= len(before) {
		t.Fatalf("%d manifests, %d packet parts after two runs; files %d -> %d", len(manifests), len(parts), len(before), len(after))
	}
}

// TestDoctor: on a machine that runs the rest of these tests, tacap doctor
// finds everything and exits 0.
func TestDoctor(t *testing.T) {
	testenv.Privileged(t)
	tacap, _ := binaries(t)
	out, err := exec.Command(tacap, "doctor").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "everything tacap needs is here") || strings.Contains(string(out), "MISS") {
		t.Fatalf("tacap doctor: %v\n%s", err, out)
	}
	// It probes every attach mode it names, in plain words (no library
	// identifiers such as FnKtimeGetCoarseNs or SchedCLS).
	for _, want := range []string{"ok   TCX attach", "ok   legacy tc attach (clsact qdisc, bpf filter)", "ok   XDP attach", "bpf_loop() in XDP programs"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("doctor does not say %q:\n%s", want, out)
		}
	}
	for _, jargon := range []string{"Fn", "SchedCLS"} {
		if strings.Contains(string(out), jargon) {
			t.Errorf("doctor speaks the library's names (%s):\n%s", jargon, out)
		}
	}
}
