package sink_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tacap/tacap/capture/sink"
	"github.com/tacap/tacap/dataset"
)

// FullDisk hands out files that share a budget of bytes and fail with
// ENOSPC once it is spent, as a full file system does.
type FullDisk struct{ Left int64 }

func (d *FullDisk) Create(path string) (sink.Output, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, sink.FileMode)
	if err != nil {
		return nil, err
	}
	return &limitedFile{File: f, disk: d}, nil
}

type limitedFile struct {
	*os.File
	disk *FullDisk
}

func (f *limitedFile) Write(b []byte) (int, error) {
	if int64(len(b)) > f.disk.Left {
		n, _ := f.File.Write(b[:f.disk.Left])
		f.disk.Left = 0
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	f.disk.Left -= int64(len(b))
	return f.File.Write(b)
}

// TestFailedPartLeavesNothing: a part that cannot be finished (the disk
// fills while its footer is written) leaves no hidden file behind, and the
// parts finished before it stay published.
func TestFailedPartLeavesNothing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		parts int // parts published before the disk fills
	}{
		{"first part fails", 0},
		{"second part fails", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			disk := &FullDisk{Left: 1 << 30}
			p := sink.NewParts[dataset.Packet](sink.PartConfig{Dir: dir, Table: "packets", Host: "h", RunID: "RUN", MaxRows: 10, Create: disk.Create})
			for i := 0; i < tc.parts; i++ {
				if err := p.Write("2026-11-26", rows(10)); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.Write("2026-11-26", rows(5)); err != nil { // closes the full part, opens another
				t.Fatal(err)
			}
			disk.Left = 100
			if err := p.Close(); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("got %v, want ENOSPC", err)
			}
			p.Abort()
			assertNoHidden(t, dir)
			if len(p.Files()) != tc.parts {
				t.Fatalf("%d parts published, want %d", len(p.Files()), tc.parts)
			}
			for _, f := range p.Files() {
				if _, err := os.Stat(filepath.Join(dir, f.Path)); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestFirstPartClosesSooner: the first part closes after FirstMaxAge, the
// later ones after MaxAge.
func TestFirstPartClosesSooner(t *testing.T) {
	dir := t.TempDir()
	p := sink.NewParts[dataset.Packet](sink.PartConfig{Dir: dir, Table: "packets", Host: "h", RunID: "RUN",
		MaxAge: time.Hour, FirstMaxAge: 20 * time.Millisecond})
	for i, want := range []int{1, 1} {
		if err := p.Write("2026-11-26", rows(3)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(40 * time.Millisecond)
		if err := p.Rotate(); err != nil {
			t.Fatal(err)
		}
		if got := len(p.Files()); got != want {
			t.Fatalf("after part %d and %v: %d parts published, want %d", i, 40*time.Millisecond, got, want)
		}
	}
	if err := p.Close(); err != nil || len(p.Files()) != 2 {
		t.Fatalf("close: %v, %d parts", err, len(p.Files()))
	}
}
