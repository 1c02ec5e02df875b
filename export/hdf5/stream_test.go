package hdf5

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// countingWriter passes writes through to an io.WriteSeeker (or discards
// them when w is nil) and counts what reached it.
type countingWriter struct {
	w        io.WriteSeeker
	pos, end int64
	received int64 // bytes written, in total
	maxWrite int   // largest single Write
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.received += int64(len(p))
	c.maxWrite = max(c.maxWrite, len(p))
	if c.w != nil {
		if n, err := c.w.Write(p); err != nil {
			return n, err
		}
	}
	c.pos += int64(len(p))
	c.end = max(c.end, c.pos)
	return len(p), nil
}

func (c *countingWriter) Seek(off int64, whence int) (int64, error) {
	if c.w != nil {
		if _, err := c.w.Seek(off, whence); err != nil {
			return 0, err
		}
	}
	switch whence {
	case io.SeekCurrent:
		off += c.pos
	case io.SeekEnd:
		off += c.end
	}
	c.pos = off
	return off, nil
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestStreamingMemoryBounded writes 50 000 LUCID samples (10 × 11 float64
// each, 44 MB, N unknown, set_x and set_y interleaved sample by sample) and
// checks that the data leaves the process as it is written: at every
// sample, all but at most one buffer of set_x has reached the file and all
// but one buffer of set_y has reached its spill; the Go heap never grows by
// more than a few buffers; no write is larger than a buffer. Then h5py
// reads the file back (SHA-256 of both arrays).
func TestStreamingMemoryBounded(t *testing.T) {
	const samples = 50_000
	path := filepath.Join(t.TempDir(), "big.hdf5")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cw := &countingWriter{w: out}

	x := make([]float64, 110)
	var label [1]int64
	hx, hy := sha256.New(), sha256.New()
	before := heapInUse()

	f, err := Create(cw, lucidSets(Unknown))
	if err != nil {
		t.Fatal(err)
	}
	f.tempDir = t.TempDir()
	var spill *dataset
	f.testHook = func(d *dataset) { spill = d }

	var peak uint64
	for i := 0; i < samples; i++ {
		for j := range x {
			x[j] = f64At(i*110 + j)
		}
		label[0] = int64(i % 2)
		if err := f.Write("set_x", x); err != nil {
			t.Fatal(err)
		}
		if err := f.Write("set_y", label[:]); err != nil {
			t.Fatal(err)
		}
		hashLE(hx, x)
		hashLE(hy, label[:])

		xBytes, yBytes := int64(i+1)*880, int64(i+1)*8
		if inFile := cw.received - superblockSize; inFile < xBytes-bufSize || inFile > xBytes {
			t.Fatalf("sample %d: %d bytes of set_x written, %d in the file: more than one buffer (%d) held", i, xBytes, inFile, bufSize)
		}
		if spill != nil {
			st, err := spill.spill.Stat()
			if err != nil {
				t.Fatal(err)
			}
			if st.Size() < yBytes-bufSize {
				t.Fatalf("sample %d: %d bytes of set_y written, %d spilled", i, yBytes, st.Size())
			}
		} else if yBytes > bufSize {
			t.Fatalf("sample %d: %d bytes of set_y written and no spill", i, yBytes)
		}
		if i%5000 == 4999 {
			peak = max(peak, heapInUse())
		}
	}
	if spill == nil {
		t.Fatal("set_y never spilled")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if peak > before && peak-before > 4*bufSize+1<<20 {
		t.Errorf("heap grew by %d bytes while writing %d bytes (bound: two buffers of %d + slack)", peak-before, samples*888, bufSize)
	}
	if cw.maxWrite > bufSize {
		t.Errorf("largest write %d bytes, over the %d-byte buffer", cw.maxWrite, bufSize)
	}
	st, err := out.Stat()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d samples: file %d bytes, heap growth at peak %d bytes, largest write %d", samples, st.Size(), int64(peak)-int64(before), cw.maxWrite)

	t.Run("h5py", func(t *testing.T) {
		py := h5pyPython(t)
		got := readH5py(t, py, path, false)
		for name, h := range map[string]hash.Hash{"set_x": hx, "set_y": hy} {
			m := got.Members[name]
			if want := hex.EncodeToString(h.Sum(nil)); m.SHA256 != want {
				t.Errorf("%s: h5py sha256 %s, want %s (shape %v dtype %s)", name, m.SHA256, want, m.Shape, m.Dtype)
			}
		}
		if l := got.Lucid; l == nil || l.XShape[0] != samples || l.YSum != samples/2 {
			t.Errorf("LUCID loader: %+v", got.Lucid)
		} else {
			t.Logf("h5py: set_x %v %s, set_y %v %s, sum(set_y) %d",
				got.Members["set_x"].Shape, got.Members["set_x"].Dtype, got.Members["set_y"].Shape, got.Members["set_y"].Dtype, l.YSum)
		}
	})
}

// hashLE feeds h the little-endian bytes of v.
func hashLE[T float64 | int64](h hash.Hash, v []T) {
	var b [8]byte
	for _, x := range v {
		var u uint64
		switch y := any(x).(type) {
		case float64:
			u = math.Float64bits(y)
		case int64:
			u = uint64(y)
		}
		binary.LittleEndian.PutUint64(b[:], u)
		h.Write(b[:])
	}
}

// TestWriteAllocations: a Write of one sample allocates at most the
// interface conversion of its argument, never in proportion to the data.
func TestWriteAllocations(t *testing.T) {
	f, err := Create(&countingWriter{}, lucidSets(Unknown))
	if err != nil {
		t.Fatal(err)
	}
	f.tempDir = t.TempDir()
	defer f.Close()
	x := make([]float64, 110)
	var y []int64 = []int64{1}
	// Warm up: buffers and the spill exist from the first flushes on.
	for range 5000 {
		f.Write("set_x", x)
		f.Write("set_y", y)
	}
	avg := testing.AllocsPerRun(2000, func() {
		if err := f.Write("set_x", x); err != nil {
			t.Fatal(err)
		}
		if err := f.Write("set_y", y); err != nil {
			t.Fatal(err)
		}
	})
	if avg > 2 {
		t.Errorf("%.1f allocations per sample, want at most 2 (argument boxing)", avg)
	}
}

// BenchmarkWriteLUCID writes 1 000 000 LUCID samples (10 × 11 float64 and
// an int64 label, 888 MB) per operation, interleaved, N unknown.
// "discard" measures the package alone; "file" a real file in the
// benchmark's temporary directory (page cache, no fsync).
func BenchmarkWriteLUCID(b *testing.B) {
	const samples = 1_000_000
	x := make([]float64, 110)
	for j := range x {
		x[j] = f64At(j)
	}
	y := []int64{1}
	run := func(b *testing.B, open func() (io.WriteSeeker, func())) {
		b.SetBytes(samples * 888)
		for b.Loop() {
			w, done := open()
			f, err := Create(w, lucidSets(Unknown))
			if err != nil {
				b.Fatal(err)
			}
			f.tempDir = b.TempDir()
			for range samples {
				if err := f.Write("set_x", x); err != nil {
					b.Fatal(err)
				}
				if err := f.Write("set_y", y); err != nil {
					b.Fatal(err)
				}
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
			done()
		}
	}
	b.Run("discard", func(b *testing.B) {
		run(b, func() (io.WriteSeeker, func()) { return &countingWriter{}, func() {} })
	})
	b.Run("file", func(b *testing.B) {
		dir := b.TempDir()
		run(b, func() (io.WriteSeeker, func()) {
			path := filepath.Join(dir, "bench.hdf5")
			w, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			return w, func() { w.Close(); os.Remove(path) }
		})
	})
}
