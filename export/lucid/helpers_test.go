package lucid

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tacap/tacap/capture/sink"
	"github.com/tacap/tacap/dataset"
)

// The tests build datasets with tacap's own Parquet part writer
// (capture/sink) and a run manifest, export them, and read the HDF5 files
// back with h5py, the reader LUCID's load_dataset uses.

// systemPython is the interpreter with h5py and numpy (the python3 on PATH
// may be a pyenv without them).
const systemPython = "/usr/bin/python3"

// t0 is the tests' epoch: 2026-01-01 00:00:00 UTC.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()

const (
	sec = int64(time.Second)
	ms  = int64(time.Millisecond)
)

// requirePython returns systemPython when it can import h5py and numpy;
// otherwise the test is skipped, or fails when TACAP_REQUIRE_PRIVILEGED=1
// (CI must not pass a test that never read a file).
func requirePython(t testing.TB) string {
	t.Helper()
	out, err := exec.Command(systemPython, "-c", "import h5py, numpy").CombinedOutput()
	if err == nil {
		return systemPython
	}
	reason := systemPython + " cannot import h5py and numpy (" + strings.TrimSpace(string(out)) + ")"
	if os.Getenv("TACAP_REQUIRE_PRIVILEGED") == "1" {
		t.Fatalf("%s, and TACAP_REQUIRE_PRIVILEGED=1 requires the HDF5 files to be read back", reason)
	}
	t.Skipf("skipped: %s; install python3-h5py (set TACAP_REQUIRE_PRIVILEGED=1 to make this a failure)", reason)
	return ""
}

// run is a run to write: its rows in the order they are written.
type runSpec struct {
	id    string
	start time.Time
	pps   uint32 // parameters.packets_per_session
	rows  []dataset.Packet
	part  int // rows per part (0: 1000)
}

// writeDataset writes runs into a new dataset folder dir.
func writeDataset(t testing.TB, dir string, runs ...runSpec) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	root, err := sink.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, r := range runs {
		meta := func() map[string]string { return map[string]string{"tacap.run_id": r.id} }
		part := r.part
		if part == 0 {
			part = 1000
		}
		pk := sink.NewParts[dataset.Packet](sink.PartConfig{Root: root, Table: dataset.PacketsTable, Host: "h", RunID: r.id,
			MaxRows: int64(part), RowGroupRows: 300, Metadata: meta, NoBounds: sink.PacketNoBounds})
		for i := range r.rows {
			p := r.rows[i]
			p.RunID = r.id
			p.Ts = p.TsNs / 1000
			if p.Iface == "" {
				p.Iface, p.Direction, p.GSOSegs, p.TTL = "eth0", "ingress", 1, 64
			}
			if err := pk.Write(time.Unix(0, p.TsNs).UTC().Format("2006-01-02"), []dataset.Packet{p}); err != nil {
				t.Fatal(err)
			}
		}
		if err := pk.Close(); err != nil {
			t.Fatal(err)
		}
		m := dataset.Manifest{RunID: r.id, Host: "h", Start: r.start, End: r.start.Add(time.Minute),
			Parameters: dataset.Parameters{PacketsPerSession: r.pps, Sessions: 1 << 20},
			Files:      dataset.Files{Packets: pk.Files()}, RowsWritten: int64(len(r.rows)),
			Labels: &dataset.LabelsInfo{SHA256: "sha-of-" + r.id, Default: "benign"}, Complete: true}
		b, err := json.MarshalIndent(m, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, dataset.ManifestPath(r.id))
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
}

// oneRun is a run of rows starting at t0, recorded without quota.
func oneRun(rows ...dataset.Packet) runSpec {
	return runSpec{id: "20260101T000000Z-aaaaaa", start: time.Unix(0, t0).UTC(), rows: rows}
}

// Row builders. ns is relative to t0; the IP version follows the address.

func ipv(addr string) int32 {
	if strings.Contains(addr, ":") {
		return 6
	}
	return 4
}

func tcpPkt(ns int64, src string, sport int32, dst string, dport int32, flags int32, seq, ack int64, payload int32, label string) dataset.Packet {
	return dataset.Packet{TsNs: t0 + ns, IPVersion: ipv(src), SrcIP: src, DstIP: dst, Protocol: 6, SrcPort: sport, DstPort: dport,
		IPLen: 40 + payload, IPFlagsFrag: 0x4000, TCPPayloadLen: payload, TCPSeq: seq, TCPAck: ack, TCPFlags: flags,
		TCPWindow: 64240, Label: label}
}

func udpPkt(ns int64, src string, sport int32, dst string, dport int32, payload int32, label string) dataset.Packet {
	return dataset.Packet{TsNs: t0 + ns, IPVersion: ipv(src), SrcIP: src, DstIP: dst, Protocol: 17, SrcPort: sport, DstPort: dport,
		IPLen: 28 + payload, UDPPayloadLen: payload, Label: label}
}

func icmpPkt(ns int64, src, dst string, typ int32, label string) dataset.Packet {
	return dataset.Packet{TsNs: t0 + ns, IPVersion: 4, SrcIP: src, DstIP: dst, Protocol: 1, IPLen: 84, ICMPType: typ, Label: label}
}

// h5File is what h5py reads of an exported file.
type h5File struct {
	Keys   []string      `json:"keys"`
	XDtype string        `json:"x_dtype"`
	YDtype string        `json:"y_dtype"`
	XShape []int         `json:"x_shape"`
	YShape []int         `json:"y_shape"`
	X      [][][]float64 `json:"x"`
	Y      []int64       `json:"y"`
}

// readH5 is LUCID's load_dataset: h5py.File(path), set_x[:], set_y[:].
const readH5Script = `
import sys, json, h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    x = np.array(f["set_x"][:])
    y = np.array(f["set_y"][:])
    out = {"keys": sorted(f.keys()), "x_dtype": str(f["set_x"].dtype), "y_dtype": str(f["set_y"].dtype),
           "x_shape": list(f["set_x"].shape), "y_shape": list(f["set_y"].shape),
           "x": x.tolist(), "y": y.tolist()}
json.dump(out, sys.stdout)
`

func readH5(t testing.TB, path string) h5File {
	t.Helper()
	py := requirePython(t)
	cmd := exec.Command(py, "-c", readH5Script, path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("h5py cannot read %s: %v\n%s", path, err, stderr.String())
	}
	var f h5File
	if err := json.Unmarshal(out, &f); err != nil {
		t.Fatalf("h5py's reading of %s: %v", path, err)
	}
	if f.XDtype != "float64" || f.YDtype != "int64" || strings.Join(f.Keys, ",") != "set_x,set_y" {
		t.Fatalf("%s: keys %v, set_x %s, set_y %s; want set_x float64 and set_y int64", path, f.Keys, f.XDtype, f.YDtype)
	}
	if len(f.XShape) != 3 || len(f.YShape) != 1 || f.XShape[0] != f.YShape[0] || f.XShape[2] != Features {
		t.Fatalf("%s: set_x shape %v, set_y shape %v", path, f.XShape, f.YShape)
	}
	if f.X == nil { // an empty dataset reads as []
		f.X = [][][]float64{}
	}
	return f
}

// exported runs an export of datasets and returns its result.
func exported(t testing.TB, opt Options, datasets ...string) *Result {
	t.Helper()
	res, err := Export(datasets, opt)
	if err != nil {
		t.Fatalf("Export(%v, %+v): %v", datasets, opt, err)
	}
	return res
}

// exportRows writes rows as one run, exports it with opt (Out set to a new
// folder) and reads the -full file back.
func exportRows(t testing.TB, opt Options, rows ...dataset.Packet) (*Result, h5File) {
	t.Helper()
	dir := t.TempDir()
	ds := filepath.Join(dir, "ds")
	writeDataset(t, ds, oneRun(rows...))
	if opt.Out == "" {
		opt.Out = filepath.Join(dir, "out")
	}
	res := exported(t, opt, ds)
	if len(res.Files) != 1 {
		t.Fatalf("files %+v, want one -full file", res.Files)
	}
	return res, readH5(t, res.Files[0].Path)
}

// nonZeroRows counts a sample's rows that are not padding.
func nonZeroRows(s [][]float64) int {
	n := 0
	for _, r := range s {
		for _, v := range r {
			if v != 0 {
				n++
				break
			}
		}
	}
	return n
}
