package hdf5

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tacap/tacap/test/testenv"
)

// The oracle of these tests is h5py over libhdf5 (Debian: python3-h5py,
// python3-numpy), a reader that shares no code with this package. Without
// it the tests skip, or fail when TACAP_REQUIRE_PRIVILEGED=1 (CI).

var (
	pythonOnce sync.Once
	pythonPath string
	pythonWhy  string
)

// h5pyPython returns a Python interpreter that imports h5py and numpy:
// $TACAP_PYTHON when set (and only it), else python3 on PATH, else
// /usr/bin/python3 (Debian's, when PATH leads to another Python, such as a
// pyenv one, without Debian's packages).
func h5pyPython(t testing.TB) string {
	t.Helper()
	pythonOnce.Do(func() {
		var cands []string
		if p := os.Getenv("TACAP_PYTHON"); p != "" {
			cands = append(cands, p)
		} else {
			if p, err := exec.LookPath("python3"); err == nil {
				cands = append(cands, p)
			}
			cands = append(cands, "/usr/bin/python3")
		}
		var tried []string
		for _, p := range cands {
			out, err := exec.Command(p, "-c", "import h5py, numpy; print(h5py.version.version, h5py.version.hdf5_version, numpy.__version__)").CombinedOutput()
			if err == nil {
				pythonPath = p
				pythonWhy = strings.TrimSpace(string(out))
				return
			}
			tried = append(tried, fmt.Sprintf("%s: %v", p, err))
		}
		pythonWhy = "no Python with h5py and numpy (" + strings.Join(tried, "; ") +
			"); install python3-h5py and python3-numpy"
	})
	if pythonPath == "" {
		if testenv.Required() {
			t.Fatalf("%s, and %s=1 requires this test to run", pythonWhy, testenv.RequirePrivileged)
		}
		t.Skipf("skipped: %s (set %s=1 to make this a failure)", pythonWhy, testenv.RequirePrivileged)
	}
	return pythonPath
}

// h5pyScript prints, for the HDF5 file argv[1], every member of the root
// group with its shape, dtype, layout, a SHA-256 of its elements as
// little-endian bytes and (unless argv[2] == "nov") the elements
// themselves. It opens the file the way LUCID's load_dataset does.
const h5pyScript = `
import hashlib, json, sys
import h5py, numpy as np
path, want_values = sys.argv[1], sys.argv[2] != "nov"
out = {"members": {}}
with h5py.File(path, "r") as f:
    out["keys"] = list(f.keys())
    for name in f.keys():
        ds = f[name]
        assert isinstance(ds, h5py.Dataset), name
        arr = np.array(ds[()] if ds.shape == () else ds[:])
        le = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
        m = {
            "shape": list(ds.shape),
            "dtype": str(ds.dtype),
            "layout": {h5py.h5d.CONTIGUOUS: "contiguous", h5py.h5d.CHUNKED: "chunked", h5py.h5d.COMPACT: "compact"}[ds.id.get_create_plist().get_layout()],
            "chunks": ds.chunks,
            "compression": ds.compression,
            "sha256": hashlib.sha256(le.tobytes()).hexdigest(),
        }
        if want_values:
            m["values"] = [repr(v) for v in arr.reshape(-1).tolist()]
        out["members"][name] = m
    if "set_x" in f and "set_y" in f and len(f["set_x"].shape) == 3:
        # LUCID's loader: load both arrays, add the channel axis.
        x = np.array(f["set_x"][:]); y = np.array(f["set_y"][:])
        x = np.reshape(x, (x.shape[0], x.shape[1], x.shape[2], 1))
        out["lucid"] = {"x_shape": list(x.shape), "x_dtype": str(x.dtype), "y_shape": list(y.shape), "y_dtype": str(y.dtype),
                        "x_sum": repr(float(np.sum(x[np.abs(x) < 1e300]))), "y_sum": int(np.sum(y))}
print(json.dumps(out))
`

type h5pyMember struct {
	Shape       []uint64 `json:"shape"`
	Dtype       string   `json:"dtype"`
	Layout      string   `json:"layout"`
	Chunks      any      `json:"chunks"`
	Compression any      `json:"compression"`
	SHA256      string   `json:"sha256"`
	Values      []string `json:"values"`
}

type h5pyOut struct {
	Keys    []string              `json:"keys"`
	Members map[string]h5pyMember `json:"members"`
	Lucid   *struct {
		XShape []uint64 `json:"x_shape"`
		XDtype string   `json:"x_dtype"`
		YShape []uint64 `json:"y_shape"`
		YDtype string   `json:"y_dtype"`
		XSum   string   `json:"x_sum"`
		YSum   int64    `json:"y_sum"`
	} `json:"lucid"`
}

func readH5py(t testing.TB, py, path string, withValues bool) h5pyOut {
	t.Helper()
	arg := "values"
	if !withValues {
		arg = "nov"
	}
	cmd := exec.Command(py, "-c", h5pyScript, path, arg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("h5py could not read %s: %v\n%s", path, err, stderr.String())
	}
	var r h5pyOut
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("h5py output: %v\n%.2000s", err, out)
	}
	return r
}

// decodeValues turns h5py's repr() of each element back into the
// little-endian bytes of type t.
func decodeValues(t *testing.T, typ Type, vals []string) []byte {
	t.Helper()
	b := make([]byte, 0, len(vals)*typ.Size())
	for _, s := range vals {
		switch typ {
		case Float64, Float32:
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatalf("h5py value %q: %v", s, err)
			}
			if typ == Float64 {
				b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
			} else {
				b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(v)))
			}
		default:
			var u uint64
			if typ.signed() {
				v, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					t.Fatalf("h5py value %q: %v", s, err)
				}
				u = uint64(v)
			} else {
				v, err := strconv.ParseUint(s, 10, 64)
				if err != nil {
					t.Fatalf("h5py value %q: %v", s, err)
				}
				u = v
			}
			for i := 0; i < typ.Size(); i++ {
				b = append(b, byte(u>>(8*i)))
			}
		}
	}
	return b
}

// writeOp is one Write call of a round-trip case.
type writeOp struct {
	name  string
	start int // index of the first element in the dataset's value pattern
	n     int
}

type roundTrip struct {
	name  string
	sets  []Dataset
	final map[string][]uint64 // shapes expected back (for Unknown ones)
	ops   []writeOp           // nil: each dataset whole, in declaration order
}

// lucidSets declares LUCID's pair with N given or Unknown.
func lucidSets(n uint64) []Dataset {
	return []Dataset{
		{Name: "set_x", Type: Float64, Shape: []uint64{n, 10, 11}},
		{Name: "set_y", Type: Int64, Shape: []uint64{n}},
	}
}

// perSample interleaves one set_x sample and one set_y label at a time, the
// way a streaming exporter writes.
func perSample(n int) []writeOp {
	var ops []writeOp
	for i := 0; i < n; i++ {
		ops = append(ops, writeOp{"set_x", i * 110, 110}, writeOp{"set_y", i, 1})
	}
	return ops
}

// chunked writes each dataset in pieces of the given sizes, cycling, all of
// one dataset before the next.
func chunked(sets []Dataset, total map[string]int, sizes ...int) []writeOp {
	var ops []writeOp
	for _, d := range sets {
		for at, k := 0, 0; at < total[d.Name]; k++ {
			n := min(sizes[k%len(sizes)], total[d.Name]-at)
			ops = append(ops, writeOp{d.Name, at, n})
			at += n
		}
	}
	return ops
}

func roundTripCases() []roundTrip {
	lucid := func(n int) map[string][]uint64 {
		return map[string][]uint64{"set_x": {uint64(n), 10, 11}, "set_y": {uint64(n)}}
	}
	var types []Dataset
	for ty := Float64; ty <= Uint8; ty++ {
		types = append(types, Dataset{Name: "t_" + ty.String(), Type: ty, Shape: []uint64{3, 5}})
	}
	var many []Dataset
	for i := range 20 {
		many = append(many, Dataset{Name: fmt.Sprintf("d%02d", i), Type: Type(1 + i%10), Shape: []uint64{uint64(i)}})
	}
	long := strings.Repeat("n", 300)
	cases := []roundTrip{
		{name: "lucid-0", sets: lucidSets(0), final: lucid(0)},
		{name: "lucid-1", sets: lucidSets(1), final: lucid(1)},
		{name: "lucid-1000", sets: lucidSets(1000), final: lucid(1000)},
		{name: "lucid-1000-known-interleaved", sets: lucidSets(1000), final: lucid(1000), ops: perSample(1000)},
		{name: "lucid-unknown-0", sets: lucidSets(Unknown), final: lucid(0), ops: []writeOp{}},
		{name: "lucid-unknown-1", sets: lucidSets(Unknown), final: lucid(1), ops: perSample(1)},
		{name: "lucid-unknown-1000-interleaved", sets: lucidSets(Unknown), final: lucid(1000), ops: perSample(1000)},
		{name: "lucid-unknown-1000-sequential", sets: lucidSets(Unknown), final: lucid(1000),
			ops: chunked(lucidSets(Unknown), map[string]int{"set_x": 110000, "set_y": 1000}, 1, 7, 33333, 110)},
		{name: "lucid-unknown-labels-declared-first", sets: []Dataset{lucidSets(Unknown)[1], lucidSets(Unknown)[0]},
			final: lucid(1000), ops: perSample(1000)},
		{name: "y-only-unknown-int64", sets: []Dataset{{Name: "set_y", Type: Int64, Shape: []uint64{Unknown}}},
			final: map[string][]uint64{"set_y": {5000}}, ops: chunked([]Dataset{{Name: "set_y"}}, map[string]int{"set_y": 5000}, 999)},
		{name: "every-type", sets: types},
		{name: "ranks-and-names", sets: []Dataset{
			{Name: "scalar", Type: Float64},
			{Name: "empty-inner", Type: Int32, Shape: []uint64{3, 0}},
			{Name: "one-d", Type: Uint16, Shape: []uint64{7}},
			{Name: "four-d", Type: Float32, Shape: []uint64{2, 3, 1, 4}},
			{Name: "données ✓", Type: Int8, Shape: []uint64{4}},
			{Name: long, Type: Uint64, Shape: []uint64{2}},
			{Name: "grows", Type: Int16, Shape: []uint64{Unknown, 3}},
			{Name: "grows-too", Type: Uint8, Shape: []uint64{Unknown, 1, 2}},
		}, final: map[string][]uint64{"grows": {4, 3}, "grows-too": {5, 1, 2}}},
		{name: "twenty-datasets", sets: many},
		{name: "no-datasets"},
	}
	return cases
}

// writeCase writes c to path and returns each dataset's expected bytes.
func writeCase(t *testing.T, c roundTrip, path string) map[string][]byte {
	t.Helper()
	w, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f, err := Create(w, c.sets)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	ops := c.ops
	if ops == nil {
		for _, d := range c.sets {
			shape := d.Shape
			if fs, ok := c.final[d.Name]; ok {
				shape = fs
			}
			n := 1
			for _, s := range shape {
				n *= int(s)
			}
			ops = append(ops, writeOp{d.Name, 0, n})
		}
	}
	for _, op := range ops {
		var ty Type
		for _, d := range c.sets {
			if d.Name == op.name {
				ty = d.Type
			}
		}
		vals, enc := values(ty, op.start, op.n)
		if err := f.Write(op.name, vals); err != nil {
			t.Fatalf("Write(%q, %d elements): %v", op.name, op.n, err)
		}
		want[op.name] = append(want[op.name], enc...)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return want
}

func numpyDtype(t Type) string { return t.String() }

func TestH5pyRoundTrip(t *testing.T) {
	py := h5pyPython(t)
	t.Logf("oracle: %s (h5py, HDF5, numpy: %s)", py, pythonWhy)
	for _, c := range roundTripCases() {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f.hdf5")
			want := writeCase(t, c, path)
			got := readH5py(t, py, path, true)

			var names []string
			for _, d := range c.sets {
				names = append(names, d.Name)
			}
			slices.Sort(names)
			keys := slices.Clone(got.Keys)
			slices.Sort(keys)
			if !slices.Equal(keys, names) {
				t.Fatalf("h5py keys %q, want %q", got.Keys, names)
			}
			for _, d := range c.sets {
				m := got.Members[d.Name]
				shape := d.Shape
				if fs, ok := c.final[d.Name]; ok {
					shape = fs
				}
				if shape == nil {
					shape = []uint64{}
				}
				if !slices.Equal(m.Shape, shape) {
					t.Errorf("%s: h5py shape %v, want %v", d.Name, m.Shape, shape)
				}
				if m.Dtype != numpyDtype(d.Type) {
					t.Errorf("%s: h5py dtype %s, want %s", d.Name, m.Dtype, numpyDtype(d.Type))
				}
				if m.Layout != "contiguous" || m.Chunks != nil || m.Compression != nil {
					t.Errorf("%s: layout %s chunks %v compression %v, want contiguous", d.Name, m.Layout, m.Chunks, m.Compression)
				}
				wantBytes := want[d.Name]
				if wantBytes == nil {
					wantBytes = []byte{}
				}
				if gotBytes := decodeValues(t, d.Type, m.Values); !bytes.Equal(gotBytes, wantBytes) {
					t.Errorf("%s: h5py values differ from those written (%d bytes read, %d written)", d.Name, len(gotBytes), len(wantBytes))
				}
				sum := sha256.Sum256(wantBytes)
				if m.SHA256 != hex.EncodeToString(sum[:]) {
					t.Errorf("%s: h5py sha256 %s, want %x", d.Name, m.SHA256, sum)
				}
			}
			if strings.HasPrefix(c.name, "lucid") {
				l := got.Lucid
				if l == nil {
					t.Fatal("LUCID loader section missing")
				}
				n := c.final["set_x"][0]
				if !slices.Equal(l.XShape, []uint64{n, 10, 11, 1}) || l.XDtype != "float64" ||
					!slices.Equal(l.YShape, []uint64{n}) || l.YDtype != "int64" {
					t.Errorf("LUCID load_dataset sees x %v %s, y %v %s", l.XShape, l.XDtype, l.YShape, l.YDtype)
				}
				t.Logf("LUCID loader: X %v %s sum(|x|<1e300) %s, Y %v %s sum %d", l.XShape, l.XDtype, l.XSum, l.YShape, l.YDtype, l.YSum)
			}
		})
	}
}

// TestH5dump is a second opinion from libhdf5's own tool (Debian:
// hdf5-tools). It is optional: without h5dump it skips, even in CI.
func TestH5dump(t *testing.T) {
	h5dump, err := exec.LookPath("h5dump")
	if err != nil {
		t.Skip("skipped: h5dump not installed (optional second oracle; Debian package hdf5-tools)")
	}
	path := filepath.Join(t.TempDir(), "lucid.hdf5")
	writeCase(t, roundTrip{sets: lucidSets(Unknown), final: map[string][]uint64{"set_x": {2, 10, 11}, "set_y": {2}}, ops: perSample(2)}, path)
	out, err := exec.Command(h5dump, path).CombinedOutput()
	if err != nil {
		t.Fatalf("h5dump: %v\n%s", err, out)
	}
	for _, want := range []string{
		`DATASET "set_x"`, "H5T_IEEE_F64LE", "SIMPLE { ( 2, 10, 11 ) / ( 2, 10, 11 ) }",
		`DATASET "set_y"`, "H5T_STD_I64LE", "SIMPLE { ( 2 ) / ( 2 ) }",
		fmt.Sprintf("(0): %d, %d", i64At(0), i64At(1)),
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("h5dump output lacks %q:\n%s", want, out)
		}
	}
	// -H: headers only, with the storage layout.
	out, err = exec.Command(h5dump, "-p", "-H", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "CONTIGUOUS") {
		t.Errorf("h5dump -p -H: %v\n%s", err, out)
	}
}

// TestLookup3AgainstLibhdf5 checks the checksum on structures libhdf5
// wrote itself: a superblock and the root object header of a file made by
// h5py.
func TestLookup3AgainstLibhdf5(t *testing.T) {
	py := h5pyPython(t)
	path := filepath.Join(t.TempDir(), "ref.hdf5")
	script := `import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "w", libver="latest") as f:
    f.create_dataset("set_x", data=np.zeros((2, 10, 11)))
    f.create_dataset("set_y", data=np.array([0, 1]))`
	if out, err := exec.Command(py, "-c", script, path).CombinedOutput(); err != nil {
		t.Fatalf("h5py: %v\n%s", err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b[:8], signature[:]) || b[8] < 2 {
		t.Fatalf("h5py wrote superblock version %d; want 2 or 3", b[8])
	}
	if got, want := lookup3(b[:44], 0), binary.LittleEndian.Uint32(b[44:]); got != want {
		t.Errorf("superblock: lookup3 %#x, libhdf5 stored %#x", got, want)
	}
	root := binary.LittleEndian.Uint64(b[36:])
	h := b[root:]
	if string(h[:4]) != "OHDR" {
		t.Fatalf("no OHDR at %d", root)
	}
	flags, p := h[5], 6
	if flags&0x20 != 0 {
		p += 16 // access, modification, change, birth times
	}
	if flags&0x10 != 0 {
		p += 4 // attribute phase change values
	}
	w := 1 << (flags & 3)
	size := 0
	for i := w - 1; i >= 0; i-- {
		size = size<<8 | int(h[p+i])
	}
	end := p + w + size
	if got, want := lookup3(h[:end], 0), binary.LittleEndian.Uint32(h[end:]); got != want {
		t.Errorf("root object header: lookup3 %#x, libhdf5 stored %#x", got, want)
	}
}

// TestH5pyModifies: libhdf5 also accepts the file for writing — it adds a
// dataset and rewrites a label in place — and reads it back afterwards.
func TestH5pyModifies(t *testing.T) {
	py := h5pyPython(t)
	path := filepath.Join(t.TempDir(), "f.hdf5")
	writeCase(t, roundTrip{sets: lucidSets(Unknown), final: map[string][]uint64{"set_x": {3, 10, 11}}, ops: perSample(3)}, path)
	script := `import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "a") as f:
    f.create_dataset("extra", data=np.arange(4))
    f["set_y"][1] = 42
with h5py.File(sys.argv[1], "r") as f:
    print(sorted(f.keys()), f["set_y"][:].tolist(), f["extra"][:].tolist(), f["set_x"].shape)`
	out, err := exec.Command(py, "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("h5py: %v\n%s", err, out)
	}
	want := fmt.Sprintf("['extra', 'set_x', 'set_y'] [%d, 42, %d] [0, 1, 2, 3] (3, 10, 11)", i64At(0), i64At(2))
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("h5py after modifying: %s, want %s", got, want)
	}
}
