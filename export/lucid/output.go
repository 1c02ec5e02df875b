package lucid

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/tacap/tacap/capture/sink"
	"github.com/tacap/tacap/export/hdf5"
)

// output is one HDF5 file being written, under a hidden name until it is
// complete; it is never written over an existing file.
type output struct {
	root            *sink.Root // the output folder
	path            string     // as reported: the folder joined with name
	name, tmp       string     // below root
	f               *os.File
	h               *hdf5.File
	samples, attack int64
}

// createOutputs makes one file per name, sized for the samples plan
// assigns it, with set_y written at once (the classes are known).
func createOutputs(root *sink.Root, opt *Options, names []string, assign []int, attack []bool) ([]*output, error) {
	outs := make([]*output, len(names))
	ys := make([][]int64, len(names))
	for i, k := range assign {
		if k < 0 {
			continue
		}
		var y int64
		if attack[i] {
			y = 1
		}
		ys[k] = append(ys[k], y)
	}
	fail := func(err error) ([]*output, error) {
		for _, o := range outs {
			if o != nil {
				o.abort()
			}
		}
		return nil, err
	}
	for k, path := range outputPaths(opt, names) {
		if _, err := os.Lstat(path); err == nil {
			return fail(fmt.Errorf("%s already exists: tacap never overwrites data — choose another --out or --name", path))
		}
		name := filepath.Base(path)
		o := &output{root: root, path: path, name: name, tmp: "." + name + ".tmp"}
		_ = root.Remove(o.tmp) // a leftover of an interrupted export
		f, err := root.OpenFile(o.tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, sink.FileMode)
		if err != nil {
			return fail(err)
		}
		o.f = f
		outs[k] = o
		n := uint64(len(ys[k]))
		o.h, err = hdf5.Create(f, []hdf5.Dataset{
			{Name: "set_x", Shape: []uint64{n, uint64(opt.MaxPackets), Features}, Type: hdf5.Float64},
			{Name: "set_y", Shape: []uint64{n}, Type: hdf5.Int64},
		})
		if err != nil {
			return fail(fmt.Errorf("%s: %w", o.tmp, err))
		}
		if err := o.h.Write("set_y", ys[k]); err != nil {
			return fail(fmt.Errorf("%s: %w", o.tmp, err))
		}
		for _, y := range ys[k] {
			o.attack += y
		}
	}
	return outs, nil
}

// outputPaths are the HDF5 files of the names (full, or train/val/test).
func outputPaths(opt *Options, names []string) []string {
	var out []string
	for _, name := range names {
		out = append(out, filepath.Join(opt.Out, opt.base()+"-"+name+".hdf5"))
	}
	return out
}

// sample appends one sample's n × 11 values to set_x.
func (o *output) sample(x []float64) error {
	o.samples++
	if err := o.h.Write("set_x", x); err != nil {
		return fmt.Errorf("%s: %w", o.tmp, err)
	}
	return nil
}

// finish closes the file and gives it its name.
func (o *output) finish() error {
	if err := o.h.Close(); err != nil {
		o.abort()
		return fmt.Errorf("%s: %w", o.path, err)
	}
	f := o.f
	o.f = nil
	if err := sink.Publish(o.root, f, o.tmp, o.name); err != nil {
		o.root.Remove(o.tmp)
		return fmt.Errorf("%s: %w", o.path, err)
	}
	return nil
}

// abort removes the hidden file of an export that failed.
func (o *output) abort() {
	if o.f != nil {
		o.f.Close()
		o.f = nil
		o.root.Remove(o.tmp)
	}
}
