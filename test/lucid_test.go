package test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tacap/tacap/capture/sink"
	"github.com/tacap/tacap/dataset"
	"github.com/tacap/tacap/export/lucid"
	"github.com/tacap/tacap/test/oracle"
	"github.com/tacap/tacap/test/testenv"
	"github.com/tacap/tacap/test/tshark"
)

// `tacap export lucid` end to end: the CLI's exits, the export of the
// CIC-DDoS2019 captures read back with h5py, and the agreement of tacap's
// stand-ins for tshark's dissection (highest layer, protocols, relative
// ack) with tshark on every shared capture.

// systemPython has h5py and numpy (the python3 on PATH may not).
const systemPython = "/usr/bin/python3"

func requireH5py(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(systemPython, "-c", "import h5py, numpy").CombinedOutput(); err != nil {
		testenv.Unavailable(t, fmt.Sprintf("%s cannot import h5py and numpy (%s)", systemPython, strings.TrimSpace(string(out))))
	}
}

// runTacap runs tacap and returns its exit code and output.
func runTacap(t *testing.T, args ...string) (int, string) {
	t.Helper()
	tacap, _ := binaries(t)
	cmd := exec.Command(tacap, args...)
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil {
		t.Fatalf("tacap %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// lucidDataset writes a small labelled dataset of one run recorded with
// the quota pps, without capturing (no privileges).
func lucidDataset(t *testing.T, dir string, pps uint32) {
	t.Helper()
	root, err := sink.OpenRoot(mkdir(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	const runID = "20260101T000000Z-lucid0"
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pk := sink.NewParts[dataset.Packet](sink.PartConfig{Root: root, Table: dataset.PacketsTable, Host: "h", RunID: runID,
		Metadata: func() map[string]string { return nil }, NoBounds: sink.PacketNoBounds})
	var rows []dataset.Packet
	for i := range 40 {
		ns := t0.UnixNano() + int64(i)*int64(100*time.Millisecond)
		label := "benign"
		if i%3 == 0 {
			label = "ddos"
		}
		rows = append(rows, dataset.Packet{Ts: ns / 1000, TsNs: ns, Iface: "eth0", Direction: "ingress", IPVersion: 4,
			SrcIP: "198.18.0." + strconv.Itoa(1+i%7), DstIP: "198.18.1.1", Protocol: 17, SrcPort: int32(1000 + i%7), DstPort: 53,
			IPLen: 60, GSOSegs: 1, TTL: 64, UDPPayloadLen: 32, RunID: runID, Label: label})
	}
	if err := pk.Write(t0.Format("2006-01-02"), rows); err != nil {
		t.Fatal(err)
	}
	if err := pk.Close(); err != nil {
		t.Fatal(err)
	}
	m := dataset.Manifest{RunID: runID, Host: "h", Start: t0, Parameters: dataset.Parameters{PacketsPerSession: pps},
		Files: dataset.Files{Packets: pk.Files()}, RowsWritten: int64(len(rows)), Complete: true}
	b, _ := json.Marshal(m)
	path := filepath.Join(dir, dataset.ManifestPath(runID))
	mkdir(t, filepath.Dir(path))
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

// TestLUCIDCLI: the exits of tacap export lucid — 2 for options that make
// no export, 1 with the remedy for a sampled run and for existing files, 0
// for an export.
func TestLUCIDCLI(t *testing.T) {
	dir := t.TempDir()
	ds, sampled := filepath.Join(dir, "ds"), filepath.Join(dir, "sampled")
	lucidDataset(t, ds, 0)
	lucidDataset(t, sampled, 5)
	out := filepath.Join(dir, "out")
	for _, c := range []struct {
		name string
		args []string
	}{
		{"window not whole seconds", []string{"--time-window", "1500ms"}},
		{"window under a second", []string{"--time-window", "500ms"}},
		{"window 0", []string{"--time-window", "0s"}},
		{"n = 0", []string{"--max-packets", "0"}},
		{"n = 10001", []string{"--max-packets", "10001"}},
		{"n = -3", []string{"--max-packets", "-3"}},
		{"split random", []string{"--split", "random"}},
		{"a name with a path", []string{"--name", "../x"}},
	} {
		o2 := filepath.Join(dir, "usage-"+strings.ReplaceAll(c.name, " ", "-"))
		args := append(append([]string{"export", "lucid", "--out", o2}, c.args...), ds)
		if code, o := runTacap(t, args...); code != 2 {
			t.Errorf("%s: exit %d, want 2\n%s", c.name, code, o)
		}
		if _, err := os.Stat(o2); err == nil {
			t.Errorf("%s: the refused command made %s", c.name, o2)
		}
	}
	if code, o := runTacap(t, "export", "lucid", ds); code != 2 {
		t.Errorf("no --out: exit %d, want 2\n%s", code, o)
	}
	if code, o := runTacap(t, "export", "lucid", "--out", out); code != 2 {
		t.Errorf("no dataset: exit %d, want 2\n%s", code, o)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a refused command made %s", out)
	}
	// A sampled run: exit 1, saying what to do.
	code, o := runTacap(t, "export", "lucid", "--out", out, sampled)
	if code != 1 || !strings.Contains(o, "--allow-sampled") || !strings.Contains(o, "packets-per-session") {
		t.Errorf("a sampled run: exit %d, want 1 with the remedy (--allow-sampled, --packets-per-session)\n%s", code, o)
	}
	if code, o := runTacap(t, "export", "lucid", "--max-packets", "5", "--out", filepath.Join(dir, "n5"), sampled); code != 0 {
		t.Errorf("a run sampled at n: exit %d, want 0\n%s", code, o)
	}
	if code, o := runTacap(t, "export", "lucid", "--allow-sampled", "-q", "--out", filepath.Join(dir, "allowed"), sampled); code != 0 || o != "" {
		t.Errorf("--allow-sampled -q: exit %d, want 0 and no output\n%s", code, o)
	}
	// An export, then the same again: the files exist.
	code, o = runTacap(t, "export", "lucid", "-t", "2s", "-n", "4", "--name", "x", "--split", "lucid", "--out", out, ds)
	if code != 0 || !strings.Contains(o, "40 rows → 14 samples") { // 7 flows in 2 windows
		t.Fatalf("export: exit %d\n%s", code, o)
	}
	for _, f := range []string{"2t-4n-x-dataset-train.hdf5", "2t-4n-x-dataset-val.hdf5", "2t-4n-x-dataset-test.hdf5", "2t-4n-x-dataset.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("after the export: %v", err)
		}
	}
	if code, o := runTacap(t, "export", "lucid", "-t", "2s", "-n", "4", "--name", "x", "--split", "lucid", "--out", out, ds); code != 1 || !strings.Contains(o, "already exists") {
		t.Errorf("exporting over the files: exit %d, want 1 saying they exist\n%s", code, o)
	}
	t.Logf("export output:\n%s", o)
}

// h5Summary is what h5py says of an exported file.
type h5Summary struct {
	XDtype, YDtype   string
	XShape, YShape   []int
	Min, Max         float64
	NaN              int
	Attack           int
	Packets          int // rows not all zero
	PaddingAfterData int // zero rows followed by a non-zero row in a sample
	FeatMax          []float64
}

const h5SummaryScript = `
import sys, json, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    x, y = np.array(f["set_x"][:]), np.array(f["set_y"][:])
    nz = np.any(x != 0, axis=2)
    gaps = int(np.sum(nz[:, 1:] & ~nz[:, :-1])) if x.shape[0] else 0
    json.dump({"XDtype": str(x.dtype), "YDtype": str(y.dtype), "XShape": list(x.shape), "YShape": list(y.shape),
               "Min": float(x.min()) if x.size else 0.0, "Max": float(x.max()) if x.size else 0.0,
               "NaN": int(np.isnan(x).sum()), "Attack": int((y == 1).sum()), "Packets": int(nz.sum()),
               "PaddingAfterData": gaps, "FeatMax": x.reshape(-1, x.shape[2]).max(axis=0).tolist() if x.size else []}, sys.stdout)
`

func summarise(t *testing.T, path string) h5Summary {
	t.Helper()
	out, err := exec.Command(systemPython, "-c", h5SummaryScript, path).Output()
	if err != nil {
		t.Fatalf("h5py: %s: %v", path, err)
	}
	var s h5Summary
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLUCIDExportCIC captures the CIC-DDoS2019 samples with the dataset's
// labels and exports them: the files are LUCID's shapes and types, every
// value in [0, 1]; the SYN flood capture, attacker to victim only, is all
// attack.
func TestLUCIDExportCIC(t *testing.T) {
	testenv.Privileged(t)
	requireH5py(t)
	shared := testenv.SharedDir(t)
	for _, name := range []string{"CIC-DDoS-2019-SynFlood.pcap", "CIC-DDoS-2019-WebDDoS.pcap"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			ds, out := filepath.Join(dir, "ds"), filepath.Join(dir, "lucid")
			code, o := runTacap(t, "capture", "--pcap", filepath.Join(shared, "pcaps", "attack", name), "--labels", "../docs/labels/cic-ddos2019.yaml",
				"--packets-per-session", "0", "--sessions", "1048576", "--no-csv", "-q", "-o", ds)
			if code != 0 {
				t.Fatalf("capture: exit %d\n%s", code, o)
			}
			start := time.Now()
			code, o = runTacap(t, "export", "lucid", "--out", out, ds)
			if code != 0 {
				t.Fatalf("export: exit %d\n%s", code, o)
			}
			t.Logf("%.1f s:\n%s", time.Since(start).Seconds(), o)
			var side struct {
				Files  []lucid.File `json:"files"`
				Counts lucid.Counts `json:"counts"`
				Maxima []float64    `json:"feature_maxima"`
				Runs   []string     `json:"runs"`
			}
			readJSON(t, filepath.Join(out, "10t-10n-tacap-dataset.json"), &side)
			s := summarise(t, filepath.Join(out, "10t-10n-tacap-dataset-full.hdf5"))
			n := side.Counts
			if s.XDtype != "float64" || s.YDtype != "int64" || len(s.XShape) != 3 || s.XShape[1] != 10 || s.XShape[2] != 11 ||
				len(s.YShape) != 1 || s.YShape[0] != s.XShape[0] || int64(s.XShape[0]) != n.Samples || n.Samples == 0 {
				t.Fatalf("set_x %s %v, set_y %s %v; %d samples in the JSON", s.XDtype, s.XShape, s.YDtype, s.YShape, n.Samples)
			}
			if s.Min < 0 || s.Max > 1 || s.NaN != 0 {
				t.Errorf("values in [%v, %v], %d NaN; want [0, 1]", s.Min, s.Max, s.NaN)
			}
			if int64(s.Packets) != n.Used || s.PaddingAfterData != 0 {
				t.Errorf("%d packet rows (JSON: %d used), %d zero rows before a packet", s.Packets, n.Used, s.PaddingAfterData)
			}
			if n.Rows != n.Used+n.Capped+n.NotIPv4 || n.Late != 0 || len(side.Runs) != 1 || side.Files[0].Attack != int64(s.Attack) {
				t.Errorf("counts %+v, files %+v, h5py: %d attack", n, side.Files, s.Attack)
			}
			if name == "CIC-DDoS-2019-SynFlood.pcap" && s.Attack != s.XShape[0] {
				t.Errorf("SYN flood: %d of %d samples attack, want all (every packet is between 172.16.0.5 and 192.168.50.1)", s.Attack, s.XShape[0])
			}
			t.Logf("%d rows → %d samples (%d attack) in %d windows; %d capped, %d not IPv4; feature maxima %v",
				n.Rows, n.Samples, n.Attack, n.Windows, n.Capped, n.NotIPv4, s.FeatMax)
			// The split: balanced, ceil(10 %) to test, ceil(10 %) of the rest to val.
			split := filepath.Join(dir, "split")
			if code, o := runTacap(t, "export", "lucid", "--split", "lucid", "-q", "--out", split, ds); code != 0 {
				t.Fatalf("export --split lucid: exit %d\n%s", code, o)
			}
			kept := n.Samples
			if n.Attack > 0 && n.Attack < n.Samples {
				kept = 2 * min(n.Attack, n.Samples-n.Attack)
			}
			nTest := (kept + 9) / 10
			nVal := (kept - nTest + 9) / 10
			var attack int
			for _, c := range []struct {
				name string
				n    int64
			}{{"train", kept - nTest - nVal}, {"val", nVal}, {"test", nTest}} {
				ss := summarise(t, filepath.Join(split, "10t-10n-tacap-dataset-"+c.name+".hdf5"))
				if int64(ss.XShape[0]) != c.n {
					t.Errorf("-%s: %d samples, want %d", c.name, ss.XShape[0], c.n)
				}
				attack += ss.Attack
			}
			if want := kept / 2; n.Attack > 0 && n.Attack < n.Samples && int64(attack) != want {
				t.Errorf("split: %d attack samples of %d, want half", attack, kept)
			}
		})
	}
}

// lucidWords are the words of LUCID's vocabulary and their bits
// (CountVectorizer numbers them alphabetically).
var lucidWords = map[string]int{"arp": 0, "data": 1, "dns": 2, "ftp": 3, "http": 4, "icmp": 5, "ip": 6, "ssdp": 7, "ssl": 8, "tcp": 9, "telnet": 10, "udp": 11}

// wordRE is CountVectorizer's default token pattern.
var wordRE = regexp.MustCompile(`\b\w\w+\b`)

// lucidProtocols is the value LUCID's parse_packet makes of frame.protocols.
func lucidProtocols(frameProtocols string) float64 {
	v := 0
	for _, w := range wordRE.FindAllString(strings.ToLower(frameProtocols), -1) {
		if b, ok := lucidWords[w]; ok {
			v |= 1 << b
		}
	}
	return float64(v)
}

// pysharkLayer approximates pyshark's highest_layer: the last layer of the
// frame, upper-cased.
func pysharkLayer(frameProtocols string) string {
	p := strings.Split(frameProtocols, ":")
	return strings.ToUpper(p[len(p)-1])
}

// lucidFrame is what LUCID's parser would take from tshark for one frame.
type lucidFrame struct {
	protocols string
	ack       string // tcp.ack, relative ("" when absent)
	ackFlag   bool
}

// tsharkLUCID runs tshark for the fields LUCID takes, by frame number.
func tsharkLUCID(t *testing.T, path string) map[int]lucidFrame {
	t.Helper()
	cmd := exec.Command("tshark", "-r", path, "-n", "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE", "-T", "fields",
		"-E", "separator=\t", "-E", "occurrence=f", "-e", "frame.number", "-e", "frame.time_epoch", "-e", "frame.protocols",
		"-e", "tcp.ack", "-e", "tcp.flags.ack")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %s: %v: %s", path, err, stderr.String())
	}
	m := map[int]lucidFrame{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		c := strings.Split(sc.Text(), "\t")
		if len(c) != 5 {
			t.Fatalf("tshark line %q", sc.Text())
		}
		n, _ := strconv.Atoi(c[0])
		m[n] = lucidFrame{protocols: c[2], ack: c[3], ackFlag: c[4] == "1" || c[4] == "True"}
	}
	return m
}

// matched is one tacap row with the tshark frame it was recorded from.
type matched struct {
	row   lucid.Row
	raw   [lucid.Features]float64
	frame lucidFrame
}

// matchRows captures path with quotas off, reads the rows back (arrow-go),
// computes tacap's raw features on the IPv4 rows in time order and pairs
// each with its tshark frame (same time and contract columns).
func matchRows(t *testing.T, path string) (rows []matched, unmatched int) {
	t.Helper()
	ds := filepath.Join(t.TempDir(), "ds")
	if code, o := runTacap(t, "capture", "--pcap", path, "-o", ds, "--packets-per-session", "0", "--sessions", "1048576", "--no-csv", "-q"); code != 0 {
		t.Fatalf("capture: exit %d\n%s", code, o)
	}
	m := readManifest(t, ds)
	recorded := readRows(t, ds, m)
	sort.SliceStable(recorded, func(i, j int) bool { return recorded[i].timeNs < recorded[j].timeNs })
	frames, err := tshark.Decode(path)
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[timed][]int{}
	for _, f := range frames {
		if f.Recordable {
			k := timed{f.TimeNs, f.Fields}
			byKey[k] = append(byKey[k], f.Number)
		}
	}
	fields := tsharkLUCID(t, path)
	var lrows []lucid.Row
	var numbers []int
	for _, r := range recorded {
		if r.f.IPVersion != 4 {
			continue
		}
		k := timed{r.timeNs, r.f}
		q := byKey[k]
		if len(q) == 0 {
			unmatched++
			continue
		}
		byKey[k] = q[1:]
		numbers = append(numbers, q[0])
		lrows = append(lrows, lucidRow(r.timeNs, r.f))
	}
	raw := lucid.RawFeatures(lrows)
	for i := range lrows {
		rows = append(rows, matched{lrows[i], raw[i], fields[numbers[i]]})
	}
	return rows, unmatched
}

func lucidRow(ns int64, f oracle.Fields) lucid.Row {
	return lucid.Row{TsNs: ns, IPVersion: int32(f.IPVersion), SrcIP: f.Src.String(), DstIP: f.Dst.String(), Protocol: int32(f.Protocol),
		SrcPort: int32(f.SrcPort), DstPort: int32(f.DstPort), IPLen: int32(f.IPLen), IPFlagsFrag: int32(f.IPFlagsFrag),
		TCPPayloadLen: int32(f.TCPPayloadLen), TCPSeq: int64(f.TCPSeq), TCPAck: int64(f.TCPAck), TCPFlags: int32(f.TCPFlags),
		TCPWindow: int32(f.TCPWindow), UDPPayloadLen: int32(f.UDPPayloadLen), ICMPType: int32(f.ICMPType)}
}

// agreement counts, per feature, the rows where tacap's value is tshark's.
type agreement struct {
	capture                       string
	rows, unmatched               int
	layer, protos                 int
	tcp, ack                      int
	hsTCP, hsAck                  int // TCP rows of connections whose SYN and SYN-ACK were recorded before them
	layerMiss, protoMiss, ackMiss map[string]int
}

func pct(a, b int) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f %%", 100*float64(a)/float64(b))
}

func top(m map[string]int, k int) string {
	type kv struct {
		k string
		v int
	}
	var l []kv
	for a, b := range m {
		l = append(l, kv{a, b})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v || (l[i].v == l[j].v && l[i].k < l[j].k) })
	var out []string
	for _, e := range l[:min(k, len(l))] {
		out = append(out, fmt.Sprintf("%s ×%d", e.k, e.v))
	}
	return strings.Join(out, ", ")
}

// measure compares tacap's highest layer, protocols and relative ack with
// tshark's on one capture.
func measure(t *testing.T, path string) agreement {
	rows, unmatched := matchRows(t, path)
	a := agreement{capture: filepath.Base(filepath.Dir(path)) + "/" + filepath.Base(path), rows: len(rows), unmatched: unmatched,
		layerMiss: map[string]int{}, protoMiss: map[string]int{}, ackMiss: map[string]int{}}
	type conn struct {
		a, b   string
		pa, pb int32
	}
	connOf := func(r *lucid.Row) conn {
		if r.SrcIP < r.DstIP || (r.SrcIP == r.DstIP && r.SrcPort < r.DstPort) {
			return conn{r.SrcIP, r.DstIP, r.SrcPort, r.DstPort}
		}
		return conn{r.DstIP, r.SrcIP, r.DstPort, r.SrcPort}
	}
	syn, synAck := map[conn]bool{}, map[conn]bool{}
	for _, m := range rows {
		r := &m.row
		if got, want := lucid.LayerName(r), pysharkLayer(m.frame.protocols); got == want {
			a.layer++
		} else {
			a.layerMiss[got+"≠"+want]++
		}
		if got, want := m.raw[lucid.FeatProtocols], lucidProtocols(m.frame.protocols); got == want {
			a.protos++
		} else {
			a.protoMiss[fmt.Sprintf("%v≠%v (%s)", got, want, m.frame.protocols)]++
		}
		if r.Protocol != 6 {
			continue
		}
		a.tcp++
		want, _ := strconv.ParseUint(m.frame.ack, 10, 32)
		c := connOf(r)
		hs := syn[c] && synAck[c]
		switch {
		case r.TCPFlags&0x12 == 0x02:
			syn[c], synAck[c] = true, false
		case r.TCPFlags&0x12 == 0x12:
			synAck[c] = syn[c]
		}
		if hs {
			a.hsTCP++
		}
		if m.raw[lucid.FeatTCPAck] == float64(want) {
			a.ack++
			if hs {
				a.hsAck++
			}
		} else {
			kind := "ACK"
			if !m.frame.ackFlag {
				kind = "no ACK flag"
			}
			d := int64(m.raw[lucid.FeatTCPAck]) - int64(want)
			if d == -1 || d == 1 {
				kind += fmt.Sprintf(", tacap %+d", d)
			} else {
				kind += ", other"
			}
			if hs {
				kind += ", after a handshake"
			}
			a.ackMiss[kind]++
		}
	}
	return a
}

// cicFloors are the agreements (percent: highest layer, protocols, TCP
// ack) the CIC-DDoS2019 captures keep; measured 100/100/100 and
// 82.0/82.0/99.9 with tshark 4.0.17.
var cicFloors = map[string][3]int{
	"CIC-DDoS-2019-SynFlood.pcap": {99, 99, 99},
	"CIC-DDoS-2019-WebDDoS.pcap":  {75, 75, 99},
}

// TestLUCIDAgreement measures, on every shared capture tacap reads, how
// often tacap's stand-ins for tshark's dissection give LUCID's values:
// the highest layer (pyshark's highest_layer, the frame's last layer), the
// protocols word mask of frame.protocols, and tshark's relative tcp.ack.
// It logs a table (also written to $TACAP_LUCID_AGREEMENT, for the docs)
// and asserts only the floors that hold.
func TestLUCIDAgreement(t *testing.T) {
	testenv.Privileged(t)
	requireTshark(t)
	var all []agreement
	var tot agreement
	for _, path := range sharedCaptures(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			a := measure(t, path)
			all = append(all, a)
			tot.rows += a.rows
			tot.unmatched += a.unmatched
			tot.layer += a.layer
			tot.protos += a.protos
			tot.tcp += a.tcp
			tot.ack += a.ack
			tot.hsTCP += a.hsTCP
			tot.hsAck += a.hsAck
			if a.unmatched > 0 {
				t.Errorf("%d IPv4 rows match no tshark frame", a.unmatched)
			}
			t.Logf("%d IPv4 rows: highest layer %s, protocols %s, TCP ack %s of %d (%s of %d after a handshake)",
				a.rows, pct(a.layer, a.rows), pct(a.protos, a.rows), pct(a.ack, a.tcp), a.tcp, pct(a.hsAck, a.hsTCP), a.hsTCP)
			if len(a.layerMiss) > 0 {
				t.Logf("  highest layer, tacap≠tshark: %s", top(a.layerMiss, 6))
			}
			if len(a.protoMiss) > 0 {
				t.Logf("  protocols, tacap≠LUCID: %s", top(a.protoMiss, 4))
			}
			if len(a.ackMiss) > 0 {
				t.Logf("  ack: %s", top(a.ackMiss, 5))
			}
			// Floors that hold (tshark 4.0): after a recorded handshake the
			// relative ack is Wireshark's; on the CIC-DDoS2019 captures
			// LUCID was trained on, the stand-ins mostly give LUCID's values.
			if a.hsTCP >= 20 && a.hsAck*100 < a.hsTCP*95 {
				t.Errorf("relative ack after a handshake agrees on %s of %d rows, want ≥ 95 %%", pct(a.hsAck, a.hsTCP), a.hsTCP)
			}
			if f, ok := cicFloors[filepath.Base(path)]; ok {
				for _, c := range []struct {
					what    string
					got, of int
					floor   int
				}{{"highest layer", a.layer, a.rows, f[0]}, {"protocols", a.protos, a.rows, f[1]}, {"TCP ack", a.ack, a.tcp, f[2]}} {
					if c.of == 0 || c.got*100 < c.of*c.floor {
						t.Errorf("%s agrees on %s of %d rows, want ≥ %d %%", c.what, pct(c.got, c.of), c.of, c.floor)
					}
				}
			}
		})
	}
	tot.capture = "all"
	var b strings.Builder
	b.WriteString("| capture | IPv4 rows | highest layer | protocols | TCP rows | TCP ack | after a handshake |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|\n")
	for _, a := range append(all, tot) {
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %d | %s | %s (%d) |\n", a.capture, a.rows, pct(a.layer, a.rows), pct(a.protos, a.rows),
			a.tcp, pct(a.ack, a.tcp), pct(a.hsAck, a.hsTCP), a.hsTCP)
	}
	t.Logf("agreement with tshark %s (IPv4 rows; tshark -o ip.defragment:FALSE):\n%s", tsharkVersion(), b.String())
	if p := os.Getenv("TACAP_LUCID_AGREEMENT"); p != "" {
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
	if tot.rows == 0 {
		t.Fatal("no row compared")
	}
}

func tsharkVersion() string {
	out, _ := exec.Command("tshark", "--version").Output()
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

// TestLUCIDTsharkCrafted: crafted frames whose LUCID values tshark fixes
// exactly, against tacap's: mDNS and FTP-DATA words, and the relative ack
// of a connection picked up mid-stream (no SYN recorded), where Wireshark's
// base of a direction is its first sequence number − 1 (packet-tcp.c:
// "Start relative seq and ack numbers at 1 if this is not a SYN packet").
// The ICMP echo and the stray ack of a SYN are documented approximations:
// logged, not asserted.
func TestLUCIDTsharkCrafted(t *testing.T) {
	testenv.Privileged(t)
	requireTshark(t)
	a, b, c, d := [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}, [4]byte{10, 0, 0, 3}, [4]byte{10, 0, 0, 4}
	dnsQuery := []byte("\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05local\x00\x00\x01\x00\x01")
	type frame struct {
		what   string
		pkt    []byte
		assert bool
	}
	frames := []frame{
		{"mDNS query", craftIPv4(a, [4]byte{224, 0, 0, 251}, 17, udpHdr(5353, 5353, dnsQuery)), true},
		{"DNS query", craftIPv4(a, b, 17, udpHdr(33333, 53, dnsQuery)), true},
		{"FTP-DATA", craftIPv4(a, b, 6, tcpHdr(20, 40000, 1000, 5000, 0x18, []byte("hello world data\r\n"))), true},
		{"HTTP SYN", craftIPv4(a, b, 6, tcpHdr(40010, 80, 100, 0, 0x02, nil)), true},
		{"HTTP SYN-ACK", craftIPv4(b, a, 6, tcpHdr(80, 40010, 900, 101, 0x12, nil)), true},
		{"HTTP ACK", craftIPv4(a, b, 6, tcpHdr(40010, 80, 101, 901, 0x10, nil)), true},
		{"HTTP GET", craftIPv4(a, b, 6, tcpHdr(40010, 80, 101, 901, 0x18, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))), true},
		{"mid-stream ACK c→d", craftIPv4(c, d, 6, tcpHdr(40001, 5000, 7000, 9000, 0x10, nil)), true},
		{"mid-stream ACK d→c", craftIPv4(d, c, 6, tcpHdr(5000, 40001, 9000, 7000, 0x10, nil)), true},
		{"mid-stream data c→d", craftIPv4(c, d, 6, tcpHdr(40001, 5000, 7000, 9000, 0x18, []byte("0123456789"))), true},
		{"mid-stream ACK d→c of the data", craftIPv4(d, c, 6, tcpHdr(5000, 40001, 9000, 7010, 0x10, nil)), true},
		{"ICMP echo with data", craftIPv4(a, b, 1, append([]byte{8, 0, 0, 0, 0, 1, 0, 1}, bytes.Repeat([]byte("x"), 32)...)), false},
		{"SYN with a stray ack field", craftIPv4(a, b, 6, tcpHdr(40002, 3333, 100, 12345, 0x02, nil)), false},
	}
	var pkts []capFrame
	for i, f := range frames {
		pkts = append(pkts, capFrame{ns: int64(1700000000+i) * 1e9, data: f.pkt})
	}
	path := filepath.Join(t.TempDir(), "lucid-crafted.pcap")
	writePcap(t, path, linkEthernet, pkts)
	rows, unmatched := matchRows(t, path)
	if len(rows) != len(frames) || unmatched != 0 {
		t.Fatalf("%d rows matched (%d not), want %d", len(rows), unmatched, len(frames))
	}
	for i, f := range frames {
		m := rows[i]
		got, want := m.raw[lucid.FeatProtocols], lucidProtocols(m.frame.protocols)
		gotAck, wantAck := m.raw[lucid.FeatTCPAck], 0.0
		if m.row.Protocol == 6 {
			v, _ := strconv.ParseUint(m.frame.ack, 10, 32)
			wantAck = float64(v)
		}
		msg := fmt.Sprintf("%s (%s): protocols tacap %v, LUCID %v; relative ack tacap %v, tshark %v; layer tacap %s, tshark %s",
			f.what, m.frame.protocols, got, want, gotAck, wantAck, lucid.LayerName(&m.row), pysharkLayer(m.frame.protocols))
		if f.assert && (got != want || gotAck != wantAck) {
			t.Error(msg)
		} else {
			t.Log(msg)
		}
	}
}

// Crafted frames: Ethernet, IPv4 (checksummed), TCP or UDP.

func craftIPv4(src, dst [4]byte, proto byte, payload []byte) []byte {
	h := make([]byte, 20, 20+len(payload))
	h[0], h[8], h[9] = 0x45, 64, proto
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
	binary.BigEndian.PutUint16(h[4:], 1)
	binary.BigEndian.PutUint16(h[6:], 0x4000)
	copy(h[12:], src[:])
	copy(h[16:], dst[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(h[10:], ^uint16(sum))
	eth := []byte{0, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 0x66, 0x77, 0x88, 0x99, 0xaa, 0x08, 0x00}
	return append(append(eth, h...), payload...)
}

func udpHdr(sport, dport uint16, data []byte) []byte {
	h := make([]byte, 8)
	binary.BigEndian.PutUint16(h, sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint16(h[4:], uint16(8+len(data)))
	return append(h, data...)
}

func tcpHdr(sport, dport uint16, seq, ack uint32, flags byte, data []byte) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h, sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint32(h[4:], seq)
	binary.BigEndian.PutUint32(h[8:], ack)
	h[12], h[13] = 5<<4, flags
	binary.BigEndian.PutUint16(h[14:], 1000)
	return append(h, data...)
}
