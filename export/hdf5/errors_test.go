package hdf5

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
)

// Test vectors printed by the driver of Bob Jenkins' lookup3.c.
func TestLookup3Vectors(t *testing.T) {
	for _, v := range []struct {
		in   string
		init uint32
		want uint32
	}{
		{"", 0, 0xdeadbeef},
		{"Four score and seven years ago", 0, 0x17770551},
		{"Four score and seven years ago", 1, 0xcd628161},
	} {
		if got := lookup3([]byte(v.in), v.init); got != v.want {
			t.Errorf("lookup3(%q, %d) = %#x, want %#x", v.in, v.init, got, v.want)
		}
	}
}

func TestCreateRejects(t *testing.T) {
	ok := Dataset{Name: "a", Type: Float64, Shape: []uint64{2}}
	for _, c := range []struct {
		name string
		sets []Dataset
		msg  string
	}{
		{"empty name", []Dataset{{Name: "", Type: Float64}}, "empty name"},
		{"dot", []Dataset{{Name: ".", Type: Float64}}, "group itself"},
		{"slash", []Dataset{{Name: "a/b", Type: Float64}}, "'/'"},
		{"nul", []Dataset{{Name: "a\x00", Type: Float64}}, "'\\x00'"},
		{"bad utf8", []Dataset{{Name: "\xff", Type: Float64}}, "UTF-8"},
		{"long name", []Dataset{{Name: strings.Repeat("x", maxNameLen+1), Type: Float64}}, "at most"},
		{"duplicate", []Dataset{ok, ok}, "declared twice"},
		{"type 0", []Dataset{{Name: "a"}}, "invalid element type"},
		{"type 99", []Dataset{{Name: "a", Type: 99}}, "invalid element type"},
		{"rank 33", []Dataset{{Name: "a", Type: Int8, Shape: make([]uint64, 33)}}, "rank 33"},
		{"unknown inner", []Dataset{{Name: "a", Type: Int8, Shape: []uint64{2, Unknown}}}, "only the first"},
		{"unknown with zero row", []Dataset{{Name: "a", Type: Int8, Shape: []uint64{Unknown, 3, 0}}}, "non-zero"},
		{"elements overflow", []Dataset{{Name: "a", Type: Int8, Shape: []uint64{2, 1 << 32, 1 << 32}}}, "2^64"},
		{"bytes overflow", []Dataset{{Name: "a", Type: Int64, Shape: []uint64{1 << 62}}}, "2^63"},
		{"row overflow", []Dataset{{Name: "a", Type: Int64, Shape: []uint64{Unknown, 1 << 61}}}, "row"},
		{"sum overflow", []Dataset{
			{Name: "a", Type: Int8, Shape: []uint64{math.MaxInt64 - 10}},
			{Name: "b", Type: Int8, Shape: []uint64{100}}}, "add up"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := Create(&memFile{}, c.sets)
			if !errors.Is(err, ErrDataset) || f != nil {
				t.Fatalf("Create = %v, %v; want ErrDataset", f, err)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q lacks %q", err, c.msg)
			}
		})
	}
}

func TestWriteRejects(t *testing.T) {
	m := &memFile{}
	f, err := Create(m, []Dataset{
		{Name: "x", Type: Float64, Shape: []uint64{2, 3}},
		{Name: "y", Type: Int64, Shape: []uint64{Unknown}},
		{Name: "b", Type: Uint8, Shape: []uint64{4}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		data any
		want error
	}{
		{"nope", []float64{1}, ErrName},
		{"", []float64{1}, ErrName},
		{"x", []int64{1}, ErrType},
		{"x", []float32{1}, ErrType},
		{"x", []int{1}, ErrType},
		{"x", nil, ErrType},
		{"x", 1.5, ErrType},
		{"x", "text", ErrType},
		{"x", [3]float64{}, ErrType},
		{"y", []uint64{1}, ErrType},
		{"b", []int8{1}, ErrType},
		{"x", make([]float64, 7), ErrShape},
		{"b", make([]byte, 5), ErrShape},
	} {
		if err := f.Write(c.name, c.data); !errors.Is(err, c.want) {
			t.Errorf("Write(%q, %T) = %v, want %v", c.name, c.data, err, c.want)
		}
	}
	// Nothing of the rejected writes went in: the exact counts still close.
	must(t, f.Write("x", []float64{1, 2, 3, 4, 5}))
	if err := f.Write("x", []float64{6, 7}); !errors.Is(err, ErrShape) {
		t.Errorf("write past the shape: %v", err)
	}
	must(t, f.Write("x", []float64{6}))
	must(t, f.Write("x", []float64{}))
	must(t, f.Write("b", []byte{1, 2, 3, 4}))
	must(t, f.Write("y", []int64{-1, -2}))
	must(t, f.Close())
	if err := f.Write("x", []float64{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close = %v", err)
	}
	if err := f.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v", err)
	}
	got, err := readBack(m.b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got["b"].data, []byte{1, 2, 3, 4}) || got["y"].shape[0] != 2 || len(got["x"].data) != 48 {
		t.Errorf("read back %+v", got)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestCloseRejectsWrongCounts(t *testing.T) {
	for _, c := range []struct {
		name  string
		sets  []Dataset
		write map[string]any
		msg   []string
	}{
		{"known too few", lucidSets(2), map[string]any{"set_x": make([]float64, 219), "set_y": []int64{0, 1}},
			[]string{`"set_x" of shape [2 10 11] needs 220 elements, got 219`}},
		{"nothing written", lucidSets(1), nil,
			[]string{`"set_x"`, `"set_y"`}},
		{"partial row", lucidSets(Unknown), map[string]any{"set_x": make([]float64, 111), "set_y": []int64{0}},
			[]string{`"set_x" got 111 elements, not a whole number of rows of 110`}},
		{"scalar unwritten", []Dataset{{Name: "s", Type: Int32}}, nil, []string{"needs 1 elements, got 0"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := &memFile{}
			f, err := Create(m, c.sets)
			must(t, err)
			f.tempDir = t.TempDir()
			for name, data := range c.write {
				must(t, f.Write(name, data))
			}
			err = f.Close()
			if !errors.Is(err, ErrCount) {
				t.Fatalf("Close = %v, want ErrCount", err)
			}
			for _, s := range c.msg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
			if bytes.HasPrefix(m.b, signature[:]) {
				t.Error("a failed Close left an HDF5 signature in the file")
			}
			if err := f.Close(); !errors.Is(err, ErrClosed) {
				t.Errorf("second Close = %v", err)
			}
		})
	}
}

// failWriter fails every operation after budget bytes, or every Seek.
type failWriter struct {
	memFile
	budget   int
	failSeek bool
}

var errDisk = errors.New("disk full")

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.budget {
		n, _ := w.memFile.Write(p[:w.budget])
		w.budget = 0
		return n, errDisk
	}
	w.budget -= len(p)
	return w.memFile.Write(p)
}

func (w *failWriter) Seek(off int64, whence int) (int64, error) {
	if w.failSeek {
		return 0, errDisk
	}
	return w.memFile.Seek(off, whence)
}

func TestIOErrorsAreSticky(t *testing.T) {
	if _, err := Create(&failWriter{budget: 10}, lucidSets(1)); !errors.Is(err, errDisk) {
		t.Errorf("Create on a failing writer = %v", err)
	}
	if _, err := Create(&failWriter{budget: 1 << 30, failSeek: true}, lucidSets(1)); !errors.Is(err, errDisk) {
		t.Errorf("Create on a writer that cannot seek = %v", err)
	}
	// Budgets that fail in the data, in the spill copy, in the metadata and
	// in the superblock patch.
	const samples = 3000
	write := func(w io.WriteSeeker) (werr, cerr error) {
		f, err := Create(w, lucidSets(Unknown))
		must(t, err)
		f.tempDir = t.TempDir()
		x := make([]float64, 110)
		for i := 0; i < samples && werr == nil; i++ {
			werr = f.Write("set_x", x)
			if werr == nil {
				werr = f.Write("set_y", []int64{1})
			}
		}
		return werr, f.Close()
	}
	dry := &countingWriter{}
	if werr, cerr := write(dry); werr != nil || cerr != nil {
		t.Fatal(werr, cerr)
	}
	total := int(dry.received) // everything, superblock placeholder and patch included
	for _, budget := range []int{
		superblockSize + 1000,              // in set_x's data
		superblockSize + samples*880 + 100, // copying set_y from its spill
		total - superblockSize - 60,        // in the object headers
		total - 10,                         // patching the superblock
		total - 4,                          // writing the signature
	} {
		w := &failWriter{budget: budget}
		werr, cerr := write(w)
		first := werr
		if first == nil {
			first = cerr
		}
		if !errors.Is(first, errDisk) {
			t.Errorf("budget %d: Write = %v, Close = %v; want the disk error", budget, werr, cerr)
		}
		if werr != nil && !errors.Is(cerr, errDisk) {
			t.Errorf("budget %d: Close after a failed Write = %v, want the same error", budget, cerr)
		}
		if bytes.HasPrefix(w.b, signature[:]) {
			t.Errorf("budget %d: a failed file carries the HDF5 signature", budget)
		}
	}
}

// FuzzWriter drives Create/Write/Close with declarations and write
// sequences decoded from the input, against a model of what each call must
// do; whatever Close accepts must read back (readBack) with the shapes and
// bytes the model expects. No input may panic.
func FuzzWriter(f *testing.F) {
	f.Add([]byte{2, 0, 3, 0x82, 10, 11, 2, 1, 0x80, 1, 0, 110, 1, 1})
	f.Add([]byte{1, 9, 1, 4, 0, 9, 4})
	f.Add([]byte{3, 0, 0, 1, 2, 2, 3, 5, 3, 0x81, 2, 0, 3, 1, 2, 0, 7, 2, 2, 6})
	f.Add([]byte{0})
	f.Add([]byte{4, 7, 2, 0, 0, 1, 0, 3, 0x80, 0, 0, 12, 0, 1, 0, 4})
	tmp := f.TempDir()
	f.Fuzz(func(t *testing.T, in []byte) {
		next := func() byte {
			if len(in) == 0 {
				return 0
			}
			b := in[0]
			in = in[1:]
			return b
		}
		names := []string{"set_x", "set_y", "a", "set_x", "", "b/c"}
		nsets := int(next() % 5)
		var sets []Dataset
		for range nsets {
			d := Dataset{Name: names[next()%byte(len(names))], Type: Type(next() % 12)}
			rank := next()
			unknown := rank&0x80 != 0
			for k := 0; k < int(rank&0x7f%4); k++ {
				d.Shape = append(d.Shape, uint64(next()%13))
			}
			if unknown && len(d.Shape) > 0 {
				d.Shape[0] = Unknown
			}
			sets = append(sets, d)
		}
		m := &memFile{}
		file, err := Create(m, sets)
		valid := modelValid(sets)
		if (err == nil) != valid {
			t.Fatalf("Create(%+v) = %v; model says valid=%v", sets, err, valid)
		}
		if err != nil {
			if !errors.Is(err, ErrDataset) {
				t.Fatalf("Create error %v is not ErrDataset", err)
			}
			return
		}
		file.tempDir = tmp
		want := map[string][]byte{}
		count := map[string]uint64{}
		for len(in) > 0 {
			target := int(next()) % (len(sets) + 1)
			ty := Type(1 + next()%10)
			n := int(next() % 50)
			name := "missing"
			if target < len(sets) {
				name = sets[target].Name
			}
			vals, enc := values(ty, len(want[name]), n)
			err := file.Write(name, vals)
			switch {
			case target == len(sets):
				if !errors.Is(err, ErrName) {
					t.Fatalf("Write to an undeclared name = %v", err)
				}
			case ty != sets[target].Type:
				if !errors.Is(err, ErrType) {
					t.Fatalf("Write of %s to %s = %v", ty, sets[target].Type, err)
				}
			case sets[target].Shape != nil && sets[target].Shape[0] != Unknown && count[name]+uint64(n) > product(sets[target].Shape):
				if !errors.Is(err, ErrShape) {
					t.Fatalf("Write past shape %v = %v", sets[target].Shape, err)
				}
			case len(sets[target].Shape) == 0 && count[name]+uint64(n) > 1:
				if !errors.Is(err, ErrShape) {
					t.Fatalf("Write past a scalar = %v", err)
				}
			default:
				if err != nil {
					t.Fatalf("Write(%q, %d × %s) = %v", name, n, ty, err)
				}
				want[name] = append(want[name], enc...)
				count[name] += uint64(n)
			}
		}
		complete := true
		final := map[string][]uint64{}
		for _, d := range sets {
			shape := append([]uint64{}, d.Shape...)
			if len(shape) > 0 && shape[0] == Unknown {
				row := product(shape[1:])
				if count[d.Name]%row != 0 {
					complete = false
				}
				shape[0] = count[d.Name] / row
			} else if count[d.Name] != product(shape) {
				complete = false
			}
			final[d.Name] = shape
		}
		err = file.Close()
		if complete != (err == nil) {
			t.Fatalf("Close = %v; model says complete=%v", err, complete)
		}
		if err != nil {
			if !errors.Is(err, ErrCount) {
				t.Fatalf("Close error %v is not ErrCount", err)
			}
			return
		}
		got, err := readBack(m.b)
		if err != nil {
			t.Fatalf("read back: %v", err)
		}
		if len(got) != len(sets) {
			t.Fatalf("read back %d datasets, declared %d", len(got), len(sets))
		}
		for _, d := range sets {
			p := got[d.Name]
			if p.typ != d.Type || !equalShape(p.shape, final[d.Name]) || !bytes.Equal(p.data, want[d.Name]) {
				t.Fatalf("%q read back as %s %v (%d bytes), want %s %v (%d bytes)",
					d.Name, p.typ, p.shape, len(p.data), d.Type, final[d.Name], len(want[d.Name]))
			}
		}
	})
}

func product(s []uint64) uint64 {
	n := uint64(1)
	for _, d := range s {
		n *= d
	}
	return n
}

func equalShape(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// modelValid restates the declaration rules for the fuzzer's small shapes.
func modelValid(sets []Dataset) bool {
	seen := map[string]bool{}
	for _, d := range sets {
		if d.Name == "" || strings.Contains(d.Name, "/") || seen[d.Name] || d.Type < Float64 || d.Type > Uint8 {
			return false
		}
		seen[d.Name] = true
		if len(d.Shape) > 0 && d.Shape[0] == Unknown && product(d.Shape[1:]) == 0 {
			return false
		}
	}
	return true
}

var _ io.WriteSeeker = (*failWriter)(nil)
