package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tacap/tacap/test/testenv"
)

// TestSharedCapturesRequired runs TestPcapMatchesTshark again, in a child
// process of this test binary, over broken shared folders: a pcaps folder
// that is empty, or holds only empty subfolders or no capture file, must
// fail it (in CI and outside); a missing one skips it outside CI and fails
// it in CI (testenv.SharedDir).
func TestSharedCapturesRequired(t *testing.T) {
	testenv.Privileged(t) // TestPcapMatchesTshark needs it before it looks at the folder
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		layout   []string // folders (ending in /) and files to create
		required bool
		fail     bool
		output   string
	}{
		{"empty pcaps folder", []string{"pcaps/"}, false, true, "no capture file under"},
		{"empty pcaps folder in CI", []string{"pcaps/"}, true, true, "no capture file under"},
		{"empty subfolders", []string{"pcaps/attack/", "pcaps/normal/", "pcaps/tricky/"}, false, true, "no capture file under"},
		{"no capture file", []string{"pcaps/README.md", "pcaps/normal/notes.txt"}, false, true, "no capture file under"},
		{"missing folder", nil, false, false, "skipped: shared captures not found"},
		{"missing folder in CI", nil, true, true, "shared captures not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, p := range tc.layout {
				full := filepath.Join(dir, p)
				if strings.HasSuffix(p, "/") {
					if err := os.MkdirAll(full, 0o750); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if err := os.MkdirAll(filepath.Dir(full), 0o750); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(full, []byte("not a capture\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command(bin, "-test.run", "^TestPcapMatchesTshark$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "TACAP_SHARED="+dir, testenv.RequirePrivileged+"=")
			if tc.required {
				cmd.Env = append(cmd.Env, testenv.RequirePrivileged+"=1")
			}
			out, err := cmd.CombinedOutput()
			failed := err != nil
			if failed != tc.fail || !strings.Contains(string(out), tc.output) {
				t.Fatalf("TestPcapMatchesTshark over %v (required %v): failed %v (%v), want failed %v with %q:\n%s",
					tc.layout, tc.required, failed, err, tc.fail, tc.output, out)
			}
			if !tc.fail && !strings.Contains(string(out), "--- SKIP: TestPcapMatchesTshark") {
				t.Fatalf("TestPcapMatchesTshark did not skip:\n%s", out)
			}
		})
	}
}
