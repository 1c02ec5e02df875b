package test

import (
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// TestLiveFlowsMatchTcpdump: live traffic from both CPUs at once — one flow
// whose packets come from both CPUs, one flow per CPU, each echoed back by
// b — and tacap's flows/ must hold, per biflow, exactly the packets tcpdump
// saw on the same interface, though the quota records only a few of them.
func TestLiveFlowsMatchTcpdump(t *testing.T) {
	l := newLab(t)
	if runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs")
	}
	dir := t.TempDir()
	pcap := filepath.Join(dir, "oracle.pcap")
	ds := filepath.Join(dir, "ds")
	ready := filepath.Join(dir, "ready")

	// b echoes every datagram on its ports back.
	var echoes []net.PacketConn
	err := l.b.Do(func() error {
		for port := 46000; port < 46003; port++ {
			c, err := net.ListenPacket("udp4", net.JoinHostPort(l.v4b, fmt.Sprint(port)))
			if err != nil {
				return err
			}
			echoes = append(echoes, c)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var echoWG sync.WaitGroup
	for _, c := range echoes {
		echoWG.Add(1)
		go func(c net.PacketConn) {
			defer echoWG.Done()
			buf := make([]byte, 2048)
			for {
				n, from, err := c.ReadFrom(buf)
				if err != nil {
					return
				}
				_, _ = c.WriteTo(buf[:n], from)
			}
		}(c)
	}
	defer func() {
		for _, c := range echoes {
			c.Close()
		}
		echoWG.Wait()
	}()

	dump, dumpDropped := tcpdump(t, l.b, pcap)
	cmd := start(t, l.b, l.tacap, "capture", "-i", "veth0", "--for", "4s", "-o", ds, "--packets-per-session", "10", "-q", "--ready-file", ready)
	waitFile(t, ready)

	// Senders in a: the shared flow's socket is written from CPU 0 and
	// CPU 1 at once; each CPU also has a flow of its own.
	var shared net.PacketConn
	if err := l.a.Do(func() error {
		var err error
		shared, err = net.ListenPacket("udp4", net.JoinHostPort(l.v4a, "45000"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	const perSender = 3000
	send := func(cpu int, c net.PacketConn, port int) error {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			return err
		}
		to := &net.UDPAddr{IP: net.ParseIP(l.v4b), Port: port}
		for i := 0; i < perSender; i++ {
			if _, err := c.WriteTo([]byte("flow datagram"), to); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for cpu := 0; cpu < 2; cpu++ {
		wg.Add(2)
		go func(cpu int) { defer wg.Done(); errs <- send(cpu, shared, 46000) }(cpu)
		go func(cpu int) {
			defer wg.Done()
			errs <- l.a.Do(func() error {
				c, err := net.ListenPacket("udp4", net.JoinHostPort(l.v4a, fmt.Sprint(45001+cpu)))
				if err != nil {
					return err
				}
				defer c.Close()
				return send(cpu, c, 46001+cpu)
			})
		}(cpu)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("tacap: %v", err)
	}
	// tcpdump's packets per biflow of the test's ports.
	frames := dumpFrames(t, dump, dumpDropped, pcap)
	want := map[string]int64{}
	for _, f := range frames {
		if !f.Recordable {
			continue
		}
		p := bfFromTshark(f)
		if p.Protocol != 17 || (p.SrcPort < 45000 || p.SrcPort > 46002) && (p.DstPort < 45000 || p.DstPort > 46002) {
			continue
		}
		want[liveBiflow(p.Src, p.SrcPort, p.Dst, p.DstPort)]++
	}
	m := bfReadManifest(t, ds)
	if !m.Complete {
		t.Fatalf("run not complete: %+v", m)
	}
	c := m.Counters
	fl := bfReadTable(t, ds, m.Files.Flows)
	got := map[string]int64{}
	var total int64
	for i := 0; i < fl.rows; i++ {
		r := fl.row(i)
		n := r["fwd_packets"].(int64) + r["bwd_packets"].(int64)
		total += n
		sp, dp := uint16(r["src_port"].(int64)), uint16(r["dst_port"].(int64))
		if k := liveBiflow(r["src_ip"].(string), sp, r["dst_ip"].(string), dp); r["protocol"].(int64) == 17 && want[k] > 0 {
			got[k] += n
			if r["fwd_packets"].(int64) == 0 || r["bwd_packets"].(int64) == 0 {
				t.Errorf("flow %s is one-way (%d fwd, %d bwd): the echo is missing", k, r["fwd_packets"], r["bwd_packets"])
			}
		}
	}
	if len(want) != 3 {
		t.Fatalf("tcpdump saw %d of the 3 test flows: %v", len(want), want)
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if got[k] != want[k] {
			t.Errorf("flow %s: tacap counts %d packets, tcpdump saw %d", k, got[k], want[k])
		}
	}
	recordable := c["recorded"] + c["session_table_full"] + c["session_quota"] + c["buffer_full"]
	if inFlows := uint64(total) + c["flow_table_full"] + c["flow_lock_timeout"]; inFlows != recordable {
		t.Errorf("flows hold %d packets (+ %d in none), the counters %d recordable", total, c["flow_table_full"]+c["flow_lock_timeout"], recordable)
	}
	if c["session_quota"] == 0 {
		t.Error("the quota refused nothing: the test does not show flows count refused packets")
	}
	t.Logf("flows %v; counters %v", got, c)
}

func liveBiflow(a string, pa uint16, b string, pb uint16) string {
	x, y := fmt.Sprintf("%s:%d", a, pa), fmt.Sprintf("%s:%d", b, pb)
	if x > y {
		x, y = y, x
	}
	return x + "<>" + y
}
