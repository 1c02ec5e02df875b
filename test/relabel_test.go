package test

// tacap label against an independent reader: every column but the label
// columns reads back identical with arrow-go (values, types, row groups,
// metadata but the rules' digest), the labels are those the rules give
// (computed here with net/netip), and a relabel killed at any moment
// leaves every part readable, each wholly old or wholly new, and a second
// run finishes the job. The dataset is synthetic (no privileges needed):
// parts written by tacap's own part writer, as a capture writes them.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tacap/tacap/capture/sink"
	"github.com/tacap/tacap/dataset"
	"github.com/tacap/tacap/test/pqcheck"
)

// relabelRules labels 198.18.0.0/24 → 198.18.1.7 port 80 as webddos, all
// traffic of 2001:db8:bad::/48 as a scan during a window, and nothing else.
const relabelRules = `default: normal
rules:
  - id: web
    label: ddos
    attack: webddos
    src: 198.18.0.0/24
    dst: 198.18.1.7
    proto: tcp
    dport: 80
  - id: scan6
    label: scan
    src: 2001:db8:bad::/48
    start: 2026-01-01T00:00:10Z
    end: 2026-01-01T00:00:20Z
    both_directions: false
`

// relabelWant is what relabelRules give a packet, computed independently.
func relabelWant(src, dst string, proto, dport int32, ns int64) (label, attack, rule string) {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	label, attack, rule = "normal", "", ""
	web := func(a, b netip.Addr, dp int32) bool {
		return netip.MustParsePrefix("198.18.0.0/24").Contains(a) && b == netip.MustParseAddr("198.18.1.7") && proto == 6 && dp == 80
	}
	if web(s, d, dport) {
		label, attack, rule = "ddos", "webddos", "web"
	}
	if netip.MustParsePrefix("2001:db8:bad::/48").Contains(s) && ns >= t0+10e9 && ns < t0+20e9 {
		label, attack, rule = "scan", "", "scan6"
	}
	return
}

// synthDataset writes a pre-labels style dataset of one run: packets parts
// of rowsPerPart rows each (row groups of 10 000), a sessions part, a
// flows part, a few CSV files and the manifest. It returns the run's
// manifest path.
func synthDataset(t *testing.T, dir string, parts, rowsPerPart int) string {
	t.Helper()
	root, err := sink.OpenRoot(mkdir(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	const runID = "20260101T000000Z-abcdef"
	meta := func() map[string]string {
		return map[string]string{"tacap.run_id": runID, "tacap.counters": `{"seen":1}`}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	srcs := []string{"198.18.0.1", "198.18.0.200", "198.18.2.3", "2001:db8:bad::1", "2001:db8:1::5"}
	dsts := []string{"198.18.1.7", "198.18.1.8", "2001:db8::77"}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	pk := sink.NewParts[dataset.Packet](sink.PartConfig{Root: root, Table: dataset.PacketsTable, Host: "h", RunID: runID,
		MaxRows: int64(rowsPerPart), RowGroupRows: 10_000, Metadata: meta, NoBounds: sink.PacketNoBounds})
	var csvRows []dataset.Packet
	for i := range parts * rowsPerPart {
		src := srcs[rng.IntN(len(srcs))]
		dst := dsts[rng.IntN(2)]
		if strings.Contains(src, ":") {
			dst = dsts[2]
		}
		ns := t0 + int64(i)*int64(30*time.Second)/int64(parts*rowsPerPart)
		p := dataset.Packet{Ts: ns / 1000, TsNs: ns, Iface: "eth0", Direction: "ingress", IPVersion: 4, SrcIP: src, DstIP: dst,
			Protocol: []int32{6, 17, 1}[rng.IntN(3)], SrcPort: int32(1024 + rng.IntN(60000)), DstPort: []int32{80, 443, 53}[rng.IntN(3)],
			IPLen: int32(40 + rng.IntN(1400)), GSOSegs: 1, TTL: 64, TCPSeq: int64(rng.Uint32()), TCPAck: int64(rng.Uint32()),
			RunID: runID, FlowID: int64(1 + rng.IntN(500)), Label: "benign"}
		if strings.Contains(src, ":") {
			p.IPVersion = 6
		}
		if err := pk.Write(time.Unix(0, ns).UTC().Format("2006-01-02"), []dataset.Packet{p}); err != nil {
			t.Fatal(err)
		}
		if len(csvRows) < 50 {
			csvRows = append(csvRows, p)
		}
	}
	if err := pk.Close(); err != nil {
		t.Fatal(err)
	}
	ss := sink.NewParts[dataset.Session](sink.PartConfig{Root: root, Table: dataset.SessionsTable, Host: "h", RunID: runID, Metadata: meta})
	fl := sink.NewParts[dataset.Flow](sink.PartConfig{Root: root, Table: dataset.FlowsTable, Host: "h", RunID: runID, Metadata: meta, NoBounds: sink.FlowNoBounds})
	for i, p := range csvRows {
		s := dataset.Session{RunID: runID, SrcIP: p.SrcIP, DstIP: p.DstIP, SrcPort: p.SrcPort, DstPort: p.DstPort, Protocol: p.Protocol,
			FirstTs: p.Ts, LastTs: p.Ts + 5, PacketsRecorded: 1, PacketsSeen: 3, Label: "benign"}
		f := dataset.Flow{RunID: runID, FlowID: int64(i + 1), SrcIP: p.SrcIP, DstIP: p.DstIP, SrcPort: p.SrcPort, DstPort: p.DstPort,
			Protocol: p.Protocol, IPVersion: p.IPVersion, FirstTs: p.Ts, LastTs: p.Ts, FirstTsNs: p.TsNs, LastTsNs: p.TsNs + int64(i)*1e9,
			FwdPackets: 2, BwdPackets: 1, Label: "benign"}
		if err := ss.Write("2026-01-01", []dataset.Session{s}); err != nil {
			t.Fatal(err)
		}
		if err := fl.Write("2026-01-01", []dataset.Flow{f}); err != nil {
			t.Fatal(err)
		}
	}
	if err := ss.Close(); err != nil {
		t.Fatal(err)
	}
	if err := fl.Close(); err != nil {
		t.Fatal(err)
	}
	csvDir := filepath.Join("csv", runID)
	mkdir(t, filepath.Join(dir, csvDir))
	for i := 0; i < len(csvRows); i += 10 {
		var b []byte
		b = append(b, strings.Join(dataset.PacketColumns, ",")+"\n"...)
		for _, p := range csvRows[i : i+10] {
			b = p.AppendCSV(b)
		}
		if err := os.WriteFile(filepath.Join(dir, csvDir, fmt.Sprintf("f%d.csv", i)), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	m := dataset.Manifest{RunID: runID, Host: "h", Files: dataset.Files{Packets: pk.Files(), Sessions: ss.Files(), Flows: fl.Files()},
		CSV: &dataset.CSVInfo{Dir: csvDir, Files: 5}, Labels: &dataset.LabelsInfo{Default: "benign"}, Complete: true}
	b, _ := json.MarshalIndent(m, "", "  ")
	path := filepath.Join(dir, dataset.ManifestPath(runID))
	mkdir(t, filepath.Dir(path))
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
	return path
}

func mkdir(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	return dir
}

// partSnapshot is what arrow-go reads of one part: every column printed,
// the row-group count and the metadata.
type partSnapshot struct {
	cols      map[string]string
	groups    int
	meta      map[string]string
	fields    []string
	labelRule []string
}

var labelColumns = map[string]bool{"label": true, "attack": true, "label_rule": true, "label_packets": true}

func snapshot(t *testing.T, path string) partSnapshot {
	t.Helper()
	pf, err := pqcheck.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Table.Release()
	s := partSnapshot{cols: map[string]string{}, meta: pf.Metadata, fields: pf.Fields()}
	for i, f := range pf.Schema.Fields() {
		var b strings.Builder
		for _, c := range pf.Table.Column(i).Data().Chunks() {
			for j := 0; j < c.Len(); j++ {
				b.WriteString(c.ValueStr(j))
				b.WriteByte('\n')
			}
		}
		s.cols[f.Name] = b.String()
	}
	if rules, err := pf.Strings("label_rule"); err == nil {
		s.labelRule = rules
	}
	if s.groups, err = pqcheck.RowGroups(path); err != nil {
		t.Fatal(err)
	}
	return s
}

func writeRules(t *testing.T, text string) (path, sum string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte(text))
	return path, hex.EncodeToString(h[:])
}

func TestRelabelRoundTrip(t *testing.T) {
	tacap, _ := binaries(t)
	ds := filepath.Join(t.TempDir(), "ds")
	manifest := synthDataset(t, ds, 3, 25_000)
	rules, sum := writeRules(t, relabelRules)
	var m dataset.Manifest
	readJSON(t, manifest, &m)
	var parts []string
	for _, f := range append(append(m.Files.Packets, m.Files.Sessions...), m.Files.Flows...) {
		parts = append(parts, filepath.Join(ds, f.Path))
	}
	before := map[string]partSnapshot{}
	for _, p := range parts {
		before[p] = snapshot(t, p)
	}
	// A dry run writes nothing.
	out, err := exec.Command(tacap, "label", "--rules", rules, "--dry-run", ds).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "would relabel") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	for _, p := range parts {
		if s := snapshot(t, p); s.cols["label"] != before[p].cols["label"] || s.meta[dataset.LabelsSHA256Key] != before[p].meta[dataset.LabelsSHA256Key] {
			t.Fatalf("%s changed in a dry run", p)
		}
	}
	if out, err := exec.Command(tacap, "label", "--rules", rules, ds).CombinedOutput(); err != nil {
		t.Fatalf("tacap label: %v\n%s", err, out)
	}
	for _, p := range parts {
		a, b := before[p], snapshot(t, p)
		if !slices.Equal(a.fields, b.fields) || a.groups != b.groups {
			t.Errorf("%s: schema or row groups changed:\n%v (%d groups)\n%v (%d groups)", p, a.fields, a.groups, b.fields, b.groups)
		}
		for c, v := range a.cols {
			if !labelColumns[c] && b.cols[c] != v {
				t.Errorf("%s: column %s changed", p, c)
			}
		}
		for k, v := range a.meta {
			if k != dataset.LabelsSHA256Key && b.meta[k] != v {
				t.Errorf("%s: metadata %s changed: %q → %q", p, k, v, b.meta[k])
			}
		}
		if b.meta[dataset.LabelsSHA256Key] != sum {
			t.Errorf("%s: metadata %s = %q, want the rules' %s", p, dataset.LabelsSHA256Key, b.meta[dataset.LabelsSHA256Key], sum)
		}
	}
	checkPacketLabels(t, ds, m.Files.Packets)
	checkCSVLabels(t, filepath.Join(ds, m.CSV.Dir))
	var after dataset.Manifest
	readJSON(t, manifest, &after)
	if after.Labels == nil || after.Labels.SHA256 != sum || after.Labels.Content != relabelRules || after.Labels.Relabelled == nil ||
		len(after.Labels.Previous) != 1 || after.Labels.Previous[0].Default != "benign" || after.Labels.Default != "normal" {
		t.Errorf("manifest labels after relabel: %+v", after.Labels)
	}
	// The same rules again change nothing and record nothing new.
	out, err = exec.Command(tacap, "label", "--rules", rules, ds).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "already labelled by these rules") {
		t.Fatalf("second relabel: %v\n%s", err, out)
	}
	var again dataset.Manifest
	readJSON(t, manifest, &again)
	if len(again.Labels.Previous) != 1 {
		t.Errorf("relabelling with the same rules added history: %+v", again.Labels.Previous)
	}
}

// waitReplaced returns once one of the parts has a new inode (renamed over).
func waitReplaced(t *testing.T, ds string, files []dataset.File) {
	t.Helper()
	inode := func(f dataset.File) uint64 {
		st, err := os.Stat(filepath.Join(ds, f.Path))
		if err != nil {
			return 0
		}
		return st.Sys().(*syscall.Stat_t).Ino
	}
	before := map[string]uint64{}
	for _, f := range files {
		before[f.Path] = inode(f)
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		for _, f := range files {
			if inode(f) != before[f.Path] {
				return
			}
		}
	}
	t.Fatal("no part was replaced within 20 s")
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// checkPacketLabels reads the packets parts with arrow-go and checks every
// row's labels against relabelWant.
func checkPacketLabels(t *testing.T, ds string, files []dataset.File) {
	t.Helper()
	counts := map[string]int{}
	for _, f := range files {
		pf, err := pqcheck.Read(filepath.Join(ds, f.Path))
		if err != nil {
			t.Fatal(err)
		}
		src, _ := pf.Strings("src_ip")
		dst, _ := pf.Strings("dst_ip")
		lab, _ := pf.Strings("label")
		att, _ := pf.Strings("attack")
		rule, _ := pf.Strings("label_rule")
		ns, _ := pf.Int64("ts_ns")
		proto, _ := pf.Int64("protocol")
		dport, _ := pf.Int64("dst_port")
		pf.Table.Release()
		for i := range src {
			l, a, r := relabelWant(src[i], dst[i], int32(proto[i]), int32(dport[i]), ns[i])
			if lab[i] != l || att[i] != a || rule[i] != r {
				t.Fatalf("%s row %d (%s → %s proto %d dport %d at %d): labels %q %q %q, want %q %q %q", f.Path, i, src[i], dst[i], proto[i], dport[i], ns[i],
					lab[i], att[i], rule[i], l, a, r)
			}
			counts[r]++
		}
	}
	if counts["web"] == 0 || counts["scan6"] == 0 || counts[""] == 0 {
		t.Fatalf("the synthetic data exercises too little of the rules: %v", counts)
	}
}

func checkCSVLabels(t *testing.T, dir string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.csv"))
	if len(files) == 0 {
		t.Fatal("no CSV files")
	}
	idx := map[string]int{}
	for i, c := range dataset.PacketColumns {
		idx[c] = i
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if lines[0] != strings.Join(dataset.PacketColumns, ",") {
			t.Fatalf("%s: header %q", f, lines[0])
		}
		for _, line := range lines[1:] {
			v := strings.Split(line, ",")
			var proto, dport int32
			var ns int64
			fmt.Sscan(v[idx["protocol"]], &proto)
			fmt.Sscan(v[idx["dst_port"]], &dport)
			fmt.Sscan(v[idx["ts_ns"]], &ns)
			l, a, r := relabelWant(v[idx["src_ip"]], v[idx["dst_ip"]], proto, dport, ns)
			if got := v[len(v)-3:]; got[0] != l || got[1] != a || got[2] != r {
				t.Fatalf("%s: %q labelled %v, want %q %q %q", f, line, got, l, a, r)
			}
		}
	}
}

// TestRelabelKilled kills tacap label at several moments: every part stays
// readable and is wholly old or wholly new, no visible file is left half
// written, and running it again completes the relabelling.
func TestRelabelKilled(t *testing.T) {
	tacap, _ := binaries(t)
	rules, sum := writeRules(t, relabelRules)
	// 0: as soon as the first part has been replaced, so that one kill
	// surely falls between two parts.
	for _, after := range []time.Duration{0, 30 * time.Millisecond, 400 * time.Millisecond} {
		t.Run(after.String(), func(t *testing.T) {
			ds := filepath.Join(t.TempDir(), "ds")
			manifest := synthDataset(t, ds, 12, 40_000)
			var m dataset.Manifest
			readJSON(t, manifest, &m)
			cmd := exec.Command(tacap, "label", "--rules", rules, ds)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if after > 0 {
				time.Sleep(after)
			} else {
				waitReplaced(t, ds, m.Files.Packets)
			}
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
			done := 0
			for _, f := range m.Files.Packets {
				s := snapshot(t, filepath.Join(ds, f.Path))
				switch s.meta[dataset.LabelsSHA256Key] {
				case sum:
					done++
					if strings.Contains(s.cols["label"], "benign") {
						t.Errorf("%s carries the new digest but old labels", f.Path)
					}
				case "", "-":
					if strings.Contains(s.cols["label"], "ddos") {
						t.Errorf("%s carries no digest but new labels", f.Path)
					}
				}
			}
			visible, _ := filepath.Glob(filepath.Join(ds, "packets", "*", "*", "[^.]*"))
			if len(visible) != len(m.Files.Packets) {
				t.Errorf("%d visible packets files after the kill, want %d", len(visible), len(m.Files.Packets))
			}
			t.Logf("killed after %v: %d of %d packets parts relabelled", after, done, len(m.Files.Packets))
			if after == 0 && (done == 0 || done == len(m.Files.Packets)) {
				t.Errorf("killed after the first part was replaced, yet %d of %d parts are relabelled", done, len(m.Files.Packets))
			}
			if out, err := exec.Command(tacap, "label", "--rules", rules, ds).CombinedOutput(); err != nil {
				t.Fatalf("tacap label after the kill: %v\n%s", err, out)
			}
			checkPacketLabels(t, ds, m.Files.Packets)
			hidden, _ := filepath.Glob(filepath.Join(ds, "packets", "*", "*", ".*"))
			if len(hidden) != 0 {
				t.Errorf("hidden files left after the second run: %v", hidden)
			}
			var again dataset.Manifest
			readJSON(t, manifest, &again)
			if again.Labels.SHA256 != sum {
				t.Errorf("manifest after the second run: %+v", again.Labels)
			}
		})
	}
}

// oldPacket is a packets/ row as tacap wrote it before labels (and before
// run_id and flow_id).
type oldPacket struct {
	Ts       int64  `parquet:"ts,timestamp(microsecond)"`
	TsNs     int64  `parquet:"ts_ns"`
	SrcIP    string `parquet:"src_ip,dict"`
	DstIP    string `parquet:"dst_ip,dict"`
	Protocol int32  `parquet:"protocol"`
	SrcPort  int32  `parquet:"src_port"`
	DstPort  int32  `parquet:"dst_port"`
}

// TestRelabelOldSchema: a part from before labels gains the label columns
// (and run_id from the manifest); its own columns keep their values.
func TestRelabelOldSchema(t *testing.T) {
	tacap, _ := binaries(t)
	ds := filepath.Join(t.TempDir(), "ds")
	root, err := sink.OpenRoot(mkdir(t, ds))
	if err != nil {
		t.Fatal(err)
	}
	const runID = "20250101T000000Z-000001"
	parts := sink.NewParts[oldPacket](sink.PartConfig{Root: root, Table: dataset.PacketsTable, Host: "h", RunID: runID})
	t0 := time.Date(2026, 1, 1, 0, 0, 15, 0, time.UTC).UnixNano()
	var rows []oldPacket
	for i := range 300 {
		src := []string{"198.18.0.9", "2001:db8:bad::2", "198.18.9.9"}[i%3]
		dst := []string{"198.18.1.7", "2001:db8::1", "198.18.1.7"}[i%3]
		ns := t0 + int64(i)*1e7
		rows = append(rows, oldPacket{Ts: ns / 1000, TsNs: ns, SrcIP: src, DstIP: dst, Protocol: 6, SrcPort: 40000, DstPort: 80})
	}
	if err := parts.Write("2026-01-01", rows); err != nil {
		t.Fatal(err)
	}
	if err := parts.Close(); err != nil {
		t.Fatal(err)
	}
	root.Close()
	// An old manifest: no labels, flows as a number.
	man := fmt.Sprintf(`{"run_id": %q, "host": "h", "flows": 3, "files": {"packets": [{"path": %q, "rows": 300}]}}`, runID, parts.Files()[0].Path)
	mkdir(t, filepath.Join(ds, dataset.RunsDir))
	if err := os.WriteFile(filepath.Join(ds, dataset.ManifestPath(runID)), []byte(man), 0o640); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(ds, parts.Files()[0].Path)
	before := snapshot(t, path)
	rules, _ := writeRules(t, relabelRules)
	if out, err := exec.Command(tacap, "label", "--rules", rules, ds).CombinedOutput(); err != nil {
		t.Fatalf("tacap label: %v\n%s", err, out)
	}
	after := snapshot(t, path)
	for c, v := range before.cols {
		if after.cols[c] != v {
			t.Errorf("column %s changed", c)
		}
	}
	if after.cols["run_id"] != strings.Repeat(runID+"\n", 300) {
		t.Errorf("run_id not filled from the manifest")
	}
	checkPacketLabels(t, ds, parts.Files())
}
