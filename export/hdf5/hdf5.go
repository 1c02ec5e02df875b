// Package hdf5 writes HDF5 files holding a few numeric datasets at the root
// group, streaming the data to the file: memory stays at most one 256 KiB
// buffer per dataset however many elements are written. It is pure Go and
// writes only
// what `tacap export lucid` needs — the files LUCID (doriguzzi/lucid-ddos)
// trains on, `set_x` of shape (N, n, 11) float64 and `set_y` of shape (N,)
// int64 — but the shapes, names and element types are the caller's.
//
// # Usage
//
// Declare the datasets, write their elements in row-major (C) order with
// any number of Write calls, interleaved as the caller likes, then Close:
//
//	f, err := hdf5.Create(w, []hdf5.Dataset{
//		{Name: "set_x", Type: hdf5.Float64, Shape: []uint64{hdf5.Unknown, 10, 11}},
//		{Name: "set_y", Type: hdf5.Int64, Shape: []uint64{hdf5.Unknown}},
//	})
//	for each sample { f.Write("set_x", x110); f.Write("set_y", []int64{label}) }
//	err = f.Close() // fixes N, writes the metadata
//
// A first dimension of Unknown is fixed at Close from the number of
// elements written (a whole number of rows). Every other dimension is fixed
// up front, and a dataset with a fully known shape must receive exactly that
// many elements.
//
// # File layout
//
// Data first, metadata last, superblock patched:
//
//	offset 0          superblock, version 2 (48 bytes; zeros until Close)
//	offset 48         data of every dataset with a known shape, in declaration order
//	                  data of one dataset of Unknown length (the one with the widest rows)
//	                  data of the other datasets of Unknown length, in declaration order
//	after the data    one object header per dataset, then the root group's
//	end of file       (the superblock's end-of-file address)
//
// Every dataset is contiguous (layout class 1), so the regions whose start
// is known at Create — the fixed-shape datasets and the widest
// Unknown-length one — are written in place as their buffers fill. The
// other Unknown-length datasets cannot be placed until the widest one is
// complete, so their bytes go to an anonymous temporary file (os.CreateTemp,
// unlinked at once where the system allows; in $TMPDIR) and are copied
// after it at Close. For LUCID that is set_y: 8 bytes a sample against
// set_x's 880, so the spill costs about 1% more disk traffic. When every
// shape is known no spill is ever made, and writes go straight to their
// regions in any order.
//
// Close writes the metadata, then the superblock, its 8-byte signature last:
// a file whose Close failed (too few elements, an I/O error) is never taken
// for HDF5.
//
// Structures (HDF5 File Format Specification 3.0), chosen as the least
// code libhdf5 1.8 and later (h5py) read:
//
//   - Superblock version 2: fixed 48 bytes with a lookup3 checksum, 8-byte
//     offsets and lengths, no superblock extension, no driver info.
//   - Object headers version 2 ("OHDR"), one chunk each, lookup3 checksum,
//     no timestamps, no attributes.
//   - The root group is a "new style" group with compact link storage: a
//     Link Info message (no fractal heap, no name index), a Group Info
//     message and one Link message (hard link) per dataset. This avoids the
//     version 0 superblock's symbol table, v1 B-tree and local heap.
//   - Each dataset header holds a Dataspace message (version 2, simple, or
//     scalar for rank 0; maximum dimensions equal to the current ones), a
//     Datatype message (version 1: little-endian two's-complement integers
//     or IEEE 754 floats), a Fill Value message (version 3, allocation late,
//     no fill value defined) and a Data Layout message (version 3,
//     contiguous: address and size; an empty dataset has none allocated).
//
// Checksums are Jenkins' lookup3 hashlittle, initial value 0, over the
// superblock's first 44 bytes and over each object header up to its last
// message.
//
// # Limitations
//
// Root-group datasets only (no subgroups, attributes, strings, compound
// types, chunking or compression); at most 32 dimensions; names of at most
// 4096 bytes of UTF-8 without '/' or NUL. The WriteSeeker must start empty at
// offset 0 (positions are absolute) and accept seeks past its end while
// regions fill out of order, as an *os.File does. A File is not safe for
// concurrent use.
package hdf5

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"unicode/utf8"
)

// Type is the element type of a dataset.
type Type uint8

// Element types, all little-endian. Go values map to them one to one: a
// Float64 dataset takes []float64, an Int64 dataset []int64, and so on
// ([]byte is []uint8).
const (
	Float64 Type = iota + 1 // IEEE 754 binary64, H5T_IEEE_F64LE, numpy '<f8'
	Float32                 // IEEE 754 binary32, H5T_IEEE_F32LE, numpy '<f4'
	Int64                   // H5T_STD_I64LE, numpy '<i8'
	Int32                   // H5T_STD_I32LE
	Int16                   // H5T_STD_I16LE
	Int8                    // H5T_STD_I8LE
	Uint64                  // H5T_STD_U64LE
	Uint32                  // H5T_STD_U32LE
	Uint16                  // H5T_STD_U16LE
	Uint8                   // H5T_STD_U8LE
)

var typeNames = [...]string{Float64: "float64", Float32: "float32", Int64: "int64", Int32: "int32",
	Int16: "int16", Int8: "int8", Uint64: "uint64", Uint32: "uint32", Uint16: "uint16", Uint8: "uint8"}

func (t Type) valid() bool { return t >= Float64 && t <= Uint8 }

// String returns the Go name of the element type ("float64", "int64", …).
func (t Type) String() string {
	if !t.valid() {
		return fmt.Sprintf("Type(%d)", uint8(t))
	}
	return typeNames[t]
}

// Size returns the size of one element in bytes (0 for an invalid Type).
func (t Type) Size() int {
	switch t {
	case Float64, Int64, Uint64:
		return 8
	case Float32, Int32, Uint32:
		return 4
	case Int16, Uint16:
		return 2
	case Int8, Uint8:
		return 1
	}
	return 0
}

func (t Type) signed() bool { return t == Int64 || t == Int32 || t == Int16 || t == Int8 }

// Unknown as Shape[0] leaves a dataset's first dimension to be fixed at
// Close from the number of elements written.
const Unknown uint64 = math.MaxUint64

// Dataset declares one dataset of the root group.
type Dataset struct {
	Name  string   // link name in the root group: non-empty UTF-8, no '/', no NUL, not "."
	Shape []uint64 // dimensions, slowest first; Shape[0] may be Unknown; empty for a scalar
	Type  Type
}

// Errors returned (wrapped, with details) by Create, Write and Close; test
// them with errors.Is.
var (
	ErrDataset = errors.New("hdf5: invalid dataset declaration")
	ErrName    = errors.New("hdf5: no such dataset")
	ErrType    = errors.New("hdf5: wrong element type")
	ErrShape   = errors.New("hdf5: more elements than the dataset's shape holds")
	ErrCount   = errors.New("hdf5: wrong number of elements")
	ErrClosed  = errors.New("hdf5: file already closed")
)

// bufSize is the largest write buffer of a dataset: the most a File holds
// of a dataset's data at any time.
const bufSize = 256 << 10

// minBuf is the size a dataset's buffer starts at (powers of two: every
// size stays a multiple of every element size).
const minBuf = 4 << 10

type dataset struct {
	Dataset
	elem     int    // bytes per element
	rowElems uint64 // elements per index of the first dimension (1 for rank 0)
	total    uint64 // elements the shape holds; meaningful when !unknown
	unknown  bool   // Shape[0] == Unknown
	written  uint64 // elements accepted by Write
	flushed  uint64 // bytes handed to the file or the spill
	offset   uint64 // file offset of the data; valid when placed
	placed   bool   // offset known, data written in place
	buf      []byte // pending encoded elements
	spill    *os.File
	spillTmp string // spill path still to remove at Close ("" once removed)
}

// File writes one HDF5 file. Create it, Write every dataset's elements,
// then Close it.
type File struct {
	w        io.WriteSeeker
	pos      uint64 // current position of w
	sets     []*dataset
	byName   map[string]*dataset
	stream   *dataset // the Unknown-length dataset written in place, if any
	dataEnd  uint64   // end of the in-place regions of known size
	err      error    // sticky I/O error
	closed   bool
	tempDir  string         // directory of the spills; "" is os.TempDir (tests set it)
	testHook func(*dataset) // tests: called when a spill is created
}

// Create checks the declarations, writes a placeholder for the superblock at
// offset 0 of w and returns a File ready for Write. w must be empty (a new
// or truncated file): offsets in the file are positions in w. The File does
// not close w.
func Create(w io.WriteSeeker, datasets []Dataset) (*File, error) {
	f := &File{w: w, byName: make(map[string]*dataset, len(datasets))}
	off := uint64(superblockSize)
	var unknown []*dataset
	for i, spec := range datasets {
		d, err := newDataset(spec)
		if err != nil {
			return nil, fmt.Errorf("%w: dataset %d (%q): %v", ErrDataset, i, spec.Name, err)
		}
		if _, dup := f.byName[d.Name]; dup {
			return nil, fmt.Errorf("%w: dataset %d: name %q declared twice", ErrDataset, i, d.Name)
		}
		f.byName[d.Name] = d
		f.sets = append(f.sets, d)
		if d.unknown {
			unknown = append(unknown, d)
			continue
		}
		d.offset, d.placed = off, true
		size := d.total * uint64(d.elem) // no overflow: newDataset checked
		if off+size < off || off+size > math.MaxInt64 {
			return nil, fmt.Errorf("%w: the datasets add up to more than 2^63 bytes", ErrDataset)
		}
		off += size
	}
	f.dataEnd = off
	// The widest rows are written in place; the others go through a spill.
	for _, d := range unknown {
		if f.stream == nil || d.rowElems*uint64(d.elem) > f.stream.rowElems*uint64(f.stream.elem) {
			f.stream = d
		}
	}
	if f.stream != nil {
		f.stream.offset, f.stream.placed = f.dataEnd, true
	}
	if _, err := w.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("hdf5: %w", err)
	}
	if _, err := w.Write(make([]byte, superblockSize)); err != nil {
		return nil, fmt.Errorf("hdf5: writing the superblock placeholder: %w", err)
	}
	f.pos = superblockSize
	return f, nil
}

func newDataset(spec Dataset) (*dataset, error) {
	if err := checkName(spec.Name); err != nil {
		return nil, err
	}
	if !spec.Type.valid() {
		return nil, fmt.Errorf("invalid element type %d", uint8(spec.Type))
	}
	if len(spec.Shape) > maxRank {
		return nil, fmt.Errorf("rank %d: at most %d dimensions", len(spec.Shape), maxRank)
	}
	d := &dataset{Dataset: spec, elem: spec.Type.Size(), rowElems: 1}
	d.Shape = append([]uint64(nil), spec.Shape...) // the caller keeps theirs
	for i, n := range d.Shape {
		if n == Unknown {
			if i != 0 {
				return nil, fmt.Errorf("only the first dimension may be Unknown (dimension %d is)", i)
			}
			d.unknown = true
			continue
		}
		if i == 0 {
			continue
		}
		hi, lo := bits.Mul64(d.rowElems, n)
		if hi != 0 {
			return nil, errors.New("the shape holds more than 2^64 elements")
		}
		d.rowElems = lo
	}
	maxElems := uint64(math.MaxInt64) / uint64(d.elem)
	if d.rowElems > maxElems {
		return nil, errors.New("one row is more than 2^63 bytes")
	}
	if d.unknown {
		if d.rowElems == 0 {
			return nil, errors.New("an Unknown first dimension needs non-zero other dimensions")
		}
		return d, nil
	}
	d.total = d.rowElems
	if len(d.Shape) > 0 {
		hi, lo := bits.Mul64(d.rowElems, d.Shape[0])
		if hi != 0 || lo > maxElems {
			return nil, errors.New("the dataset is more than 2^63 bytes")
		}
		d.total = lo
	}
	return d, nil
}

func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty name")
	case name == ".":
		return errors.New(`name "." is the group itself`)
	case len(name) > maxNameLen:
		return fmt.Errorf("name of %d bytes: at most %d", len(name), maxNameLen)
	case !utf8.ValidString(name):
		return errors.New("name is not valid UTF-8")
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' || name[i] == 0 {
			return fmt.Errorf("name holds %q", name[i])
		}
	}
	return nil
}

// Write appends elements to the named dataset, after those of earlier
// Write calls, in row-major order. data must be the slice type of the
// dataset's element type ([]float64 for Float64, []int64 for Int64, …).
// Nothing is written when Write returns ErrName, ErrType or ErrShape (more
// elements than the shape holds); after an I/O error every call fails.
func (f *File) Write(name string, data any) error {
	if f.closed {
		return ErrClosed
	}
	if f.err != nil {
		return f.err
	}
	d := f.byName[name]
	if d == nil {
		return fmt.Errorf("%w: %q", ErrName, name)
	}
	switch s := data.(type) {
	case []float64:
		return f.write(d, Float64, len(s), func(b []byte, i, j int) {
			for k, v := range s[i:j] {
				le.PutUint64(b[8*k:], math.Float64bits(v))
			}
		})
	case []float32:
		return f.write(d, Float32, len(s), func(b []byte, i, j int) {
			for k, v := range s[i:j] {
				le.PutUint32(b[4*k:], math.Float32bits(v))
			}
		})
	case []int64:
		return f.write(d, Int64, len(s), func(b []byte, i, j int) {
			for k, v := range s[i:j] {
				le.PutUint64(b[8*k:], uint64(v))
			}
		})
	case []uint64:
		return f.write(d, Uint64, len(s), func(b []byte, i, j int) {
			for k, v := range s[i:j] {
				le.PutUint64(b[8*k:], v)
			}
		})
	case []int32:
		return f.write(d, Int32, len(s), func(b []byte, i, j int) {
			for k, v := range s[i:j] {
				le.PutUint32(b[4*k:], uint32(v))
			}
		})
	case []uint32:
		return f.write(d, Uint32, len(s), func(b []byte, i, j int) {
			for k, v := range s[i:j] {
				le.PutUint32(b[4*k:], v)
			}
		})
	case []int16:
		return f.write(d, Int16, len(s), func(b []byte, i, j int) {
			for k, v := range s[i:j] {
				le.PutUint16(b[2*k:], uint16(v))
			}
		})
	case []uint16:
		return f.write(d, Uint16, len(s), func(b []byte, i, j int) {
			for k, v := range s[i:j] {
				le.PutUint16(b[2*k:], v)
			}
		})
	case []int8:
		return f.write(d, Int8, len(s), func(b []byte, i, j int) {
			for k, v := range s[i:j] {
				b[k] = byte(v)
			}
		})
	case []uint8:
		return f.write(d, Uint8, len(s), func(b []byte, i, j int) { copy(b, s[i:j]) })
	}
	return fmt.Errorf("%w: dataset %q holds %s, got %T", ErrType, name, d.Type, data)
}

// write checks n more elements of type t fit d, then encodes them through
// d's buffer: enc(b, i, j) encodes elements [i, j) into b.
func (f *File) write(d *dataset, t Type, n int, enc func(b []byte, i, j int)) error {
	if t != d.Type {
		return fmt.Errorf("%w: dataset %q holds %s, got []%s", ErrType, d.Name, d.Type, t)
	}
	limit := d.total
	if d.unknown {
		limit = uint64(math.MaxInt64) / uint64(d.elem)
	}
	if uint64(n) > limit-d.written {
		if d.unknown {
			return fmt.Errorf("%w: dataset %q would pass 2^63 bytes", ErrShape, d.Name)
		}
		return fmt.Errorf("%w: dataset %q of shape %v holds %d elements, has %d, got %d more",
			ErrShape, d.Name, d.Shape, d.total, d.written, n)
	}
	if n == 0 {
		return nil
	}
	// The buffer starts small and doubles up to bufSize (or the dataset's
	// size), so that small datasets cost little; then it is flushed
	// whenever full.
	maxBuf := uint64(bufSize)
	if !d.unknown {
		maxBuf = min(maxBuf, d.total*uint64(d.elem))
	}
	for i := 0; i < n; {
		if len(d.buf) == cap(d.buf) {
			if uint64(cap(d.buf)) < maxBuf {
				grown := make([]byte, len(d.buf), min(maxBuf, max(minBuf, 2*uint64(cap(d.buf)))))
				copy(grown, d.buf)
				d.buf = grown
			} else if err := f.flush(d); err != nil {
				return err // sticky: the File is unusable now
			}
		}
		free := (cap(d.buf) - len(d.buf)) / d.elem
		j := min(n, i+free)
		start := len(d.buf)
		d.buf = d.buf[:start+(j-i)*d.elem]
		enc(d.buf[start:], i, j)
		i = j
	}
	d.written += uint64(n)
	return nil
}

var le = binary.LittleEndian

// flush hands d's buffer to the file (in place) or to d's spill.
func (f *File) flush(d *dataset) error {
	if len(d.buf) == 0 {
		return nil
	}
	if d.placed {
		if err := f.writeAt(d.offset+d.flushed, d.buf); err != nil {
			return err
		}
	} else {
		if d.spill == nil {
			if err := f.openSpill(d); err != nil {
				return err
			}
		}
		if _, err := d.spill.Write(d.buf); err != nil {
			f.err = fmt.Errorf("hdf5: spilling dataset %q: %w", d.Name, err)
			return f.err
		}
	}
	d.flushed += uint64(len(d.buf))
	d.buf = d.buf[:0]
	return nil
}

func (f *File) openSpill(d *dataset) error {
	s, err := os.CreateTemp(f.tempDir, "tacap-hdf5-spill-*")
	if err != nil {
		f.err = fmt.Errorf("hdf5: temporary file for dataset %q: %w", d.Name, err)
		return f.err
	}
	d.spill, d.spillTmp = s, s.Name()
	if os.Remove(s.Name()) == nil { // unlinked now: nothing left behind on a crash
		d.spillTmp = ""
	}
	if f.testHook != nil {
		f.testHook(d)
	}
	return nil
}

// writeAt writes p at offset off of the file, seeking only when needed.
func (f *File) writeAt(off uint64, p []byte) error {
	if f.pos != off {
		if _, err := f.w.Seek(int64(off), io.SeekStart); err != nil {
			f.err = fmt.Errorf("hdf5: seek to %d: %w", off, err)
			return f.err
		}
		f.pos = off
	}
	n, err := f.w.Write(p)
	f.pos += uint64(n)
	if err == nil && n != len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		f.err = fmt.Errorf("hdf5: write at %d: %w", off, err)
	}
	return f.err
}

// Close checks that every dataset received all its elements (a whole number
// of rows for an Unknown first dimension, which it then fixes), writes the
// remaining data and the metadata, and patches the superblock. When it
// returns an error the file is not valid HDF5 (its signature is never
// written) and should be removed. Close releases the File's buffers and
// temporary files whatever it returns; it does not close the WriteSeeker.
func (f *File) Close() error {
	if f.closed {
		return ErrClosed
	}
	f.closed = true
	defer f.release()
	if f.err != nil {
		return f.err
	}
	var errs []error
	for _, d := range f.sets {
		if d.unknown {
			if d.written%d.rowElems != 0 {
				errs = append(errs, fmt.Errorf("%w: dataset %q got %d elements, not a whole number of rows of %d",
					ErrCount, d.Name, d.written, d.rowElems))
			}
			d.Shape[0] = d.written / d.rowElems
		} else if d.written != d.total {
			errs = append(errs, fmt.Errorf("%w: dataset %q of shape %v needs %d elements, got %d",
				ErrCount, d.Name, d.Shape, d.total, d.written))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, d := range f.sets {
		if err := f.flush(d); err != nil {
			return err
		}
	}
	// Place the spilled datasets after the in-place ones and copy them over.
	end := f.dataEnd
	if f.stream != nil {
		end += f.stream.flushed
	}
	for _, d := range f.sets {
		if d.placed {
			continue
		}
		d.offset, d.placed = end, true
		if err := f.unspill(d); err != nil {
			return err
		}
		end += d.flushed
	}
	// Metadata: dataset headers, then the root group's.
	links := make([]message, 0, 2+len(f.sets))
	links = append(links, linkInfoMessage(), groupInfoMessage())
	for _, d := range f.sets {
		addr, size := d.offset, d.written*uint64(d.elem)
		if size == 0 {
			addr = undefAddr
		}
		hdr, err := objectHeader([]message{
			dataspaceMessage(d.Shape),
			datatypeMessage(d.Type),
			fillValueMessage(),
			layoutMessage(addr, size),
		})
		if err != nil {
			return err
		}
		links = append(links, linkMessage(d.Name, end))
		if err := f.writeAt(end, hdr); err != nil {
			return err
		}
		end += uint64(len(hdr))
	}
	root, err := objectHeader(links)
	if err != nil {
		return err
	}
	rootAddr := end
	if err := f.writeAt(rootAddr, root); err != nil {
		return err
	}
	end += uint64(len(root))
	// The signature goes last, so that a file whose Close failed half-way
	// is never taken for HDF5.
	sb := superblock(end, rootAddr)
	if err := f.writeAt(uint64(len(signature)), sb[len(signature):]); err != nil {
		return err
	}
	return f.writeAt(0, sb[:len(signature)])
}

// unspill copies d's spill to its place in the file.
func (f *File) unspill(d *dataset) error {
	if d.spill == nil {
		return nil
	}
	if _, err := d.spill.Seek(0, io.SeekStart); err != nil {
		f.err = fmt.Errorf("hdf5: rewinding the spill of %q: %w", d.Name, err)
		return f.err
	}
	buf := d.buf[:cap(d.buf)]
	for done := uint64(0); done < d.flushed; {
		n, err := io.ReadFull(d.spill, buf[:min(uint64(len(buf)), d.flushed-done)])
		if err != nil {
			f.err = fmt.Errorf("hdf5: reading the spill of %q: %w", d.Name, err)
			return f.err
		}
		if err := f.writeAt(d.offset+done, buf[:n]); err != nil {
			return err
		}
		done += uint64(n)
	}
	return nil
}

func (f *File) release() {
	for _, d := range f.sets {
		d.buf = nil
		if d.spill != nil {
			d.spill.Close()
			d.spill = nil
		}
		if d.spillTmp != "" {
			os.Remove(d.spillTmp)
			d.spillTmp = ""
		}
	}
}
