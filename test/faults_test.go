package test

import (
	"bytes"
	"encoding/csv"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tacap/tacap/dataset"
	"github.com/tacap/tacap/test/pqcheck"
	"github.com/tacap/tacap/test/testenv"
)

// assertWholeFiles checks what a killed run left in ds: every visible
// Parquet part is read whole by arrow-go, every visible CSV file parses
// with encoding/csv into rows of all the packet columns; hidden files are
// the only partial ones. It returns the packets/ parts and their rows.
func assertWholeFiles(t *testing.T, ds string) (parts int, rows int64) {
	t.Helper()
	_ = filepath.WalkDir(ds, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		switch {
		case strings.HasSuffix(path, ".parquet"):
			pf, err := pqcheck.Read(path)
			if err != nil {
				t.Errorf("visible part unreadable: %s: %v", path, err)
				return nil
			}
			if strings.HasPrefix(path, filepath.Join(ds, dataset.PacketsTable)+"/") {
				parts++
				rows += pf.Rows
			}
			pf.Table.Release()
		case strings.HasSuffix(path, ".csv"):
			b, _ := os.ReadFile(path)
			recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
			if err != nil || len(recs) < 2 {
				t.Errorf("visible CSV file unreadable or empty: %s: %v", path, err)
			}
			for _, r := range recs {
				if len(r) != len(dataset.PacketColumns) {
					t.Errorf("%s: a row of %d fields", path, len(r))
				}
			}
		}
		return nil
	})
	return parts, rows
}

// TestKillNineAnywhere: kill -9 at 20 random moments of a capture under
// traffic — before it attaches, while it writes, while it rotates parts —
// never leaves a visible half file or anything attached.
func TestKillNineAnywhere(t *testing.T) {
	l := newLab(t)
	// Steady UDP from A while the captures come and go.
	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		_ = l.a.Do(func() error {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(l.v4a), Port: 42300})
			if err != nil {
				return err
			}
			defer c.Close()
			for {
				select {
				case <-stop:
					return nil
				default:
				}
				for i := 0; i < 50; i++ {
					_, _ = c.WriteToUDP([]byte("steady"), &net.UDPAddr{IP: net.ParseIP(l.v4b), Port: 9})
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}()
	defer func() { close(stop); <-sent }()
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	t.Logf("seed %d", seed)
	var totalParts int
	for i := 0; i < 20; i++ {
		ds := filepath.Join(t.TempDir(), "ds")
		delay := time.Duration(rng.Intn(2500)) * time.Millisecond // start-up (load, verify, attach) takes about 0.5 s
		cmd := exec.Command("ip", "netns", "exec", l.b.Name, l.tacap, "capture", "-i", "veth0", "-o", ds,
			"--packets-per-session", "0", "--rotate-every", "100ms", "-q")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		_ = cmd.Process.Signal(syscall.SIGKILL) // `ip netns exec` execs tacap: this PID is tacap's
		_ = cmd.Wait()
		parts, rows := assertWholeFiles(t, ds)
		totalParts += parts
		assertDetached(t, l.b, false) // TCX links die with the process
		t.Logf("kill -9 after %v: %d whole parts, %d rows", delay, parts, rows)
	}
	if totalParts == 0 {
		t.Fatal("no run got as far as a part: the kills all came too early to test anything")
	}
}

// TestSecondSignalDuringDrain: a burst fills the ring faster than a live
// poll reads it; SIGTERM, then SIGTERM again while the rest drains. The run
// still exits 0 with whole files, and the manifest says what the skipped
// drain cost.
func TestSecondSignalDuringDrain(t *testing.T) {
	l := newLab(t)
	dir := t.TempDir()
	ds, ready := filepath.Join(dir, "ds"), filepath.Join(dir, "ready")
	cmd := exec.Command("ip", "netns", "exec", l.b.Name, l.tacap, "capture", "-i", "veth0", "-o", ds, "--no-csv",
		"--packets-per-session", "0", "--buffer-packets", "2000000", "-q", "--ready-file", ready)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopAtEnd(t, cmd)
	waitFile(t, ready)
	udpBurst(t, l, 42000, 200000)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(5 * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("tacap after two SIGTERMs: %v, want exit 0", err)
	}
	m := readManifest(t, ds)
	_, rows := assertWholeFiles(t, ds)
	if m.Counters.Check() != nil || rows != m.RowsWritten || m.RecordedNotWritten != int64(m.Counters.Recorded)-m.RowsWritten {
		t.Fatalf("manifest: counters %+v rows %d (read %d) not written %d", m.Counters, m.RowsWritten, rows, m.RecordedNotWritten)
	}
	if m.DrainSkipped == m.Complete || (m.DrainSkipped && m.RecordedNotWritten < 0) {
		t.Fatalf("drain skipped %v, complete %v, not written %d: a skipped drain is an incomplete run", m.DrainSkipped, m.Complete, m.RecordedNotWritten)
	}
	t.Logf("drain skipped %v: %d of %d recorded packets written", m.DrainSkipped, m.RowsWritten, m.Counters.Recorded)
}

// TestTwoCapturesLegacyTC: two captures with legacy tc on one interface
// both see the traffic and remove their filters. The clsact qdisc the first
// made stays when the first ends while the second still uses it (empty, it
// changes nothing; README, Limits).
func TestTwoCapturesLegacyTC(t *testing.T) {
	l := newLab(t)
	dir := t.TempDir()
	var cmds []*exec.Cmd
	for i := 0; i < 2; i++ {
		ds, ready := filepath.Join(dir, "ds"+string(rune('a'+i))), filepath.Join(dir, "ready"+string(rune('a'+i)))
		cmd := exec.Command("ip", "netns", "exec", l.b.Name, l.tacap, "capture", "-i", "veth0", "--attach", "tc", "--for", "3s",
			"-o", ds, "-q", "--packets-per-session", "0", "--ready-file", ready)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		stopAtEnd(t, cmd)
		waitFile(t, ready)
		cmds = append(cmds, cmd)
	}
	udpBurst(t, l, 42100, 50)
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("capture %d: %v", i, err)
		}
		m := readManifest(t, filepath.Join(dir, "ds"+string(rune('a'+i))))
		if m.Counters.Recorded < 50 || len(m.AttachModes) != 1 || m.AttachModes[0] != "tc" {
			t.Fatalf("capture %d recorded %d (modes %v), want the 50 packets both saw", i, m.Counters.Recorded, m.AttachModes)
		}
	}
	assertDetached(t, l.b, false)
}

// TestCapabilitiesInsteadOfRoot: a copy of tacap with cap_bpf,
// cap_net_admin and cap_perfmon as file capabilities captures as an
// unprivileged user (the README's least-privilege recipe).
func TestCapabilitiesInsteadOfRoot(t *testing.T) {
	l := newLab(t)
	if _, err := exec.LookPath("setcap"); err != nil {
		testenv.Unavailable(t, "setcap is not installed (libcap2-bin; make test installs it)")
	}
	dir, err := os.MkdirTemp("", "tacap-caps-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "tacap")
	data, err := os.ReadFile(l.tacap)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("setcap", "cap_bpf,cap_net_admin,cap_perfmon+ep", bin).CombinedOutput(); err != nil {
		testenv.Unavailable(t, "setcap: "+string(out))
	}
	ds := filepath.Join(dir, "ds")
	os.Mkdir(ds, 0o750)
	exec.Command("chown", "nobody:nogroup", ds).Run()
	ready := filepath.Join(ds, "ready") // where nobody may write
	cmd := exec.Command("ip", "netns", "exec", l.b.Name, "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
		bin, "capture", "-i", "veth0", "--for", "2s", "-o", ds, "-q", "--packets-per-session", "0", "--ready-file", ready)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopAtEnd(t, cmd)
	waitFile(t, ready)
	os.Remove(ready)
	udpBurst(t, l, 42200, 30)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("tacap with capabilities as nobody: %v\n%s", err, out.String())
	}
	m := readManifest(t, ds)
	if m.Counters.Recorded < 30 || !m.Complete {
		t.Fatalf("recorded %d complete %v", m.Counters.Recorded, m.Complete)
	}
}
