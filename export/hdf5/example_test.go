package hdf5_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/tacap/tacap/export/hdf5"
)

// A LUCID training file: samples of 10 packets × 11 features, counted while
// streaming. LUCID loads it with h5py as f["set_x"][:] and f["set_y"][:].
func Example_lucid() {
	dir, err := os.MkdirTemp("", "lucid")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	out, err := os.Create(filepath.Join(dir, "10t-10n-DOS2019-dataset-train.hdf5"))
	if err != nil {
		panic(err)
	}
	defer out.Close()

	f, err := hdf5.Create(out, []hdf5.Dataset{
		{Name: "set_x", Type: hdf5.Float64, Shape: []uint64{hdf5.Unknown, 10, 11}},
		{Name: "set_y", Type: hdf5.Int64, Shape: []uint64{hdf5.Unknown}},
	})
	if err != nil {
		panic(err)
	}
	sample := make([]float64, 10*11) // normalised features, zero-padded rows
	for i := range 3 {
		sample[0] = float64(i) / 10
		if err := f.Write("set_x", sample); err != nil {
			panic(err)
		}
		if err := f.Write("set_y", []int64{int64(i % 2)}); err != nil {
			panic(err)
		}
	}
	if err := f.Close(); err != nil { // set_x is now (3, 10, 11), set_y (3,)
		panic(err)
	}
	st, _ := out.Stat()
	fmt.Println(st.Size(), "bytes")
	// Output: 2957 bytes
}
