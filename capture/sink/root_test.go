package sink_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tacap/tacap/capture/sink"
	"github.com/tacap/tacap/dataset"
)

// TestRootRefusesLinks: a symbolic link planted anywhere below a dataset
// folder is never followed — not by a part, a CSV file or a manifest — and
// the error names it; nothing reaches the link's target. With openat2 and
// with the per-component fallback.
func TestRootRefusesLinks(t *testing.T) {
	for _, mode := range []struct {
		name    string
		openat2 bool
	}{{"openat2", true}, {"O_NOFOLLOW per component", false}} {
		t.Run(mode.name, func(t *testing.T) {
			defer sink.SetOpenat2(mode.openat2)()
			for _, tc := range []struct {
				name string
				link string // planted below the dataset, pointing at target
				do   func(r *sink.Root) error
			}{
				{"packets table", "packets", func(r *sink.Root) error {
					p := sink.NewParts[dataset.Packet](sink.PartConfig{Root: r, Table: "packets", Host: "h", RunID: "R"})
					if err := p.Write("2026-11-26", rows(2)); err != nil {
						return err
					}
					return p.Close()
				}},
				{"date folder", "packets/date=2026-11-26", func(r *sink.Root) error {
					p := sink.NewParts[dataset.Packet](sink.PartConfig{Root: r, Table: "packets", Host: "h", RunID: "R"})
					return p.Write("2026-11-26", rows(2))
				}},
				{"manifest folder", "_runs", func(r *sink.Root) error {
					return sink.WriteFileNew(r, "_runs/R.json", []byte("{}"))
				}},
				{"manifest file", "_runs/R.json", func(r *sink.Root) error {
					return sink.WriteFileNew(r, "_runs/R.json", []byte("{}"))
				}},
				{"csv folder", "csv", func(r *sink.Root) error {
					c := sink.NewCSVs(r, "R", 0)
					row := rows(1)[0]
					if err := c.Add(1, "a.csv", &row); err != nil {
						return err
					}
					_, err := c.Close()
					return err
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					dir, target := t.TempDir(), t.TempDir()
					link := filepath.Join(dir, tc.link)
					if err := os.MkdirAll(filepath.Dir(link), 0o750); err != nil {
						t.Fatal(err)
					}
					if err := os.Symlink(target, link); err != nil {
						t.Fatal(err)
					}
					r := mustRoot(t, dir)
					var se *sink.SymlinkError
					err := r.CheckNoSymlinks()
					if !errors.As(err, &se) || se.Path != link {
						t.Fatalf("check: %v, want the link %s named", err, link)
					}
					err = tc.do(r)
					if !errors.Is(err, sink.ErrSymlink) || !errors.As(err, &se) || se.Path != link {
						t.Fatalf("wrote through the link: %v, want a SymlinkError naming %s", err, link)
					}
					if ents, _ := os.ReadDir(target); len(ents) != 0 {
						t.Fatalf("the link's target got %d entries", len(ents))
					}
				})
			}
		})
	}
}

// TestRootStaysBelow: paths that climb out of the folder are refused.
func TestRootStaysBelow(t *testing.T) {
	r := mustRoot(t, t.TempDir())
	for _, rel := range []string{"../x", "/etc/x", "a/../../x"} {
		if _, err := r.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
			t.Errorf("%s: opened", rel)
		}
	}
}
