package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCaptureRefusesPlantedSymlink: a symbolic link below --out makes
// capture refuse at once, naming the link (exit 1), before it loads or
// attaches anything — so this needs no privileges.
func TestCaptureRefusesPlantedSymlink(t *testing.T) {
	dir, target := t.TempDir(), t.TempDir()
	link := filepath.Join(dir, "packets")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"tacap", "capture", "-i", "lo", "--for", "1s", "-o", dir, "-q"}, &out, &errb)
	msg := strings.TrimSpace(errb.String())
	if code != 1 || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, link+" is a symbolic link") || !strings.Contains(msg, "remove the link") {
		t.Fatalf("exit %d, stderr %q; want 1 and one line naming %s", code, msg, link)
	}
	if ents, _ := os.ReadDir(target); len(ents) != 0 {
		t.Fatalf("the link's target got %d entries", len(ents))
	}
}

// TestReportHTMLRefusesSymlink: --html FILE where FILE is a planted
// symbolic link is refused, naming it, and the link's target is untouched.
func TestReportHTMLRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "precious")
	if err := os.WriteFile(target, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(dir, "report.html")
	if err := os.Symlink(target, page); err != nil {
		t.Fatal(err)
	}
	ds := filepath.Join(dir, "ds")
	os.MkdirAll(filepath.Join(ds, "_runs"), 0o750)
	var out, errb bytes.Buffer
	code := run([]string{"tacap", "report", "--html", page, ds}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), page+" is a symbolic link") {
		t.Fatalf("exit %d, stderr %q; want 1 naming the link", code, errb.String())
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Fatalf("the link's target was written: %q", b)
	}
}
