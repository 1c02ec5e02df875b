package test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tacap/tacap/dataset"
)

// TestInterfaceLoss: an interface taken down mid-capture is recorded as an
// event and the run goes on; once every attached interface is deleted, the
// run stops at once with a complete dataset, says why, and exits 1.
func TestInterfaceLoss(t *testing.T) {
	l := newLab(t)
	// A second veth pair, so one interface can go while the other stays.
	l.a.MustIP(t, "link add veth1 type veth peer name veth1 netns %s", l.b.Name)
	l.a.MustIP(t, "link set veth1 up")
	l.b.MustIP(t, "link set veth1 up")
	ds := filepath.Join(t.TempDir(), "ds")
	ready := filepath.Join(t.TempDir(), "ready")
	cmd := exec.Command("ip", "netns", "exec", l.b.Name, l.tacap, "capture", "-i", "veth0", "-i", "veth1", "--for", "60s",
		"-o", ds, "-q", "--ready-file", ready)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopAtEnd(t, cmd)
	waitFile(t, ready)
	udpBurst(t, l, 40200, 20)
	l.b.MustIP(t, "link set veth1 down")
	time.Sleep(200 * time.Millisecond)
	l.b.MustIP(t, "link set veth1 up")
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	l.a.MustIP(t, "link del veth0") // both ends go
	l.a.MustIP(t, "link del veth1")
	err := cmd.Wait()
	took := time.Since(start)
	if code := cmd.ProcessState.ExitCode(); code != 1 || took > 10*time.Second {
		t.Fatalf("tacap exited %d (%v) %v after the interfaces went; want 1 within seconds\n%s", code, err, took, stderr.String())
	}
	msg := strings.TrimSpace(stderr.String())
	if last := msg[strings.LastIndex(msg, "\n")+1:]; !strings.Contains(last, "every interface the capture was attached to is gone (veth0 at") {
		t.Fatalf("last stderr line %q", last)
	}
	m := readManifest(t, ds)
	// A deleted interface first goes down, as the kernel says (the down
	// before a gone is optional here).
	var events []string
	for i, e := range m.Events {
		if e.What == dataset.IfaceDown && i+1 < len(m.Events) && m.Events[i+1].Iface == e.Iface && m.Events[i+1].What == dataset.IfaceGone {
			continue
		}
		events = append(events, e.Iface+":"+e.What)
	}
	want := "veth1:down veth1:up veth0:gone veth1:gone"
	if m.StopReason != dataset.StopNoIfaces || !m.Complete || strings.Join(events, " ") != want || m.Counters.Recorded < 20 {
		t.Fatalf("manifest: stop %q complete %v events %v (want %s) recorded %d errors %v", m.StopReason, m.Complete, events, want, m.Counters.Recorded, m.Errors)
	}
	rows := readRows(t, ds, m)
	if int64(len(rows)) != m.RowsWritten || m.RowsWritten != int64(m.Counters.Recorded) {
		t.Fatalf("%d rows read, %d written, %d recorded", len(rows), m.RowsWritten, m.Counters.Recorded)
	}
}
