package lucid

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tacap/tacap/capture/sink"
	"github.com/tacap/tacap/dataset"
)

// TestManyAddresses: past the address numbering's limit (it forgets every
// number after 4 M distinct addresses) a flow is still one flow. A TCP
// connection's packets before and after 4.2 M IPv6 rows with distinct
// sources (left out of the samples, but read) are one sample of one window,
// and its relative ack still counts from the server's SYN.
func TestManyAddresses(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: writes 4.2 M rows")
	}
	const flood = 4_200_000
	dir := t.TempDir()
	ds := filepath.Join(dir, "ds")
	if err := os.MkdirAll(ds, 0o750); err != nil {
		t.Fatal(err)
	}
	root, err := sink.OpenRoot(ds)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	const runID = "20260101T000000Z-manyaa"
	pk := sink.NewParts[dataset.Packet](sink.PartConfig{Root: root, Table: dataset.PacketsTable, Host: "h", RunID: runID,
		MaxRows: 1 << 21, RowGroupRows: 1 << 16, Metadata: func() map[string]string { return nil }, NoBounds: sink.PacketNoBounds})
	c, s := "10.0.0.1", "10.0.0.2"
	before := []dataset.Packet{
		tcpPkt(0, c, 40000, s, 80, 0x02, 1000, 0, 0, "benign"),    // SYN
		tcpPkt(1, s, 80, c, 40000, 0x12, 5000, 1001, 0, "benign"), // SYN-ACK
		tcpPkt(2, c, 40000, s, 80, 0x10, 1001, 5001, 0, "benign"), // ACK
		tcpPkt(3, s, 80, c, 40000, 0x18, 5001, 1001, 100, "benign"),
	}
	after := tcpPkt(10+flood, c, 40000, s, 80, 0x10, 1001, 5101, 0, "benign")
	fill := func(p []dataset.Packet) []dataset.Packet {
		for i := range p {
			p[i].RunID, p[i].Ts, p[i].Iface, p[i].Direction, p[i].GSOSegs = runID, p[i].TsNs/1000, "eth0", "ingress", 1
		}
		return p
	}
	day := time.Unix(0, t0).UTC().Format("2006-01-02")
	if err := pk.Write(day, fill(before)); err != nil {
		t.Fatal(err)
	}
	batch := make([]dataset.Packet, 0, 1<<14)
	for i := range flood {
		batch = append(batch, udpPkt(int64(5+i), fmt.Sprintf("2001:db8:%x:%x::1", i>>16, i&0xffff), 1, "2001:db8::2", 2, 10, "ddos"))
		if len(batch) == cap(batch) || i == flood-1 {
			if err := pk.Write(day, fill(batch)); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := pk.Write(day, fill([]dataset.Packet{after})); err != nil {
		t.Fatal(err)
	}
	if err := pk.Close(); err != nil {
		t.Fatal(err)
	}
	m := dataset.Manifest{RunID: runID, Host: "h", Start: time.Unix(0, t0).UTC(), Files: dataset.Files{Packets: pk.Files()}, Complete: true}
	b, _ := json.Marshal(m)
	if err := os.MkdirAll(filepath.Join(ds, dataset.RunsDir), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ds, dataset.ManifestPath(runID)), b, 0o640); err != nil {
		t.Fatal(err)
	}
	res := exported(t, Options{Out: filepath.Join(dir, "out")}, ds)
	f := readH5(t, res.Files[0].Path)
	if res.Counts.NotIPv4 != flood || res.Counts.Windows != 1 {
		t.Fatalf("counts %+v", res.Counts)
	}
	var sizes []int
	for _, smp := range f.X {
		sizes = append(sizes, nonZeroRows(smp))
	}
	if f.XShape[0] != 1 || sizes[0] != 5 {
		t.Errorf("the connection made %d samples of %v packets in one window, want one of 5", f.XShape[0], sizes)
	}
	last := f.X[len(f.X)-1][nonZeroRows(f.X[len(f.X)-1])-1]
	if got := last[FeatTCPAck] * (1 << 32); got != 101 {
		t.Errorf("the last ACK's relative ack is %v, want 101 (the server sent 100 bytes after its SYN)", got)
	}
}
