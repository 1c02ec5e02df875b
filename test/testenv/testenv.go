// Package testenv decides whether tests that need privileges and kernel
// features can run, and makes them fail rather than skip where they must
// (CI sets TACAP_REQUIRE_PRIVILEGED=1).
package testenv

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
)

// RequirePrivileged is set in CI: tests that cannot run fail instead of skipping.
const RequirePrivileged = "TACAP_REQUIRE_PRIVILEGED"

// Required reports whether privileged tests must run here.
func Required() bool { return os.Getenv(RequirePrivileged) == "1" }

// Unavailable skips t with reason, or fails it when privileged tests are required.
func Unavailable(t testing.TB, reason string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s, and %s=1 requires this test to run", reason, RequirePrivileged)
	}
	t.Skipf("skipped: %s (run as root; set %s=1 to make this a failure)", reason, RequirePrivileged)
}

// Privileged skips or fails t unless it may load BPF programs and change
// network settings: root (or CAP_BPF+CAP_NET_ADMIN) on a kernel with the
// program and map types tacap uses.
func Privileged(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "not running as root")
	}
	if err := features.HaveProgramType(ebpf.SchedCLS); err != nil {
		Unavailable(t, "kernel cannot load TC programs: "+err.Error())
	}
	if err := features.HaveMapType(ebpf.RingBuf); err != nil {
		Unavailable(t, "kernel has no BPF ring buffer: "+err.Error())
	}
}

// SharedDir returns the ../shared folder beside the repository (the public
// captures and the dataset contract). When its pcaps folder is absent, t
// skips, or fails where privileged tests are required (CI); when the folder
// is there but holds no capture file, t fails everywhere: a test over "every
// shared capture" must not pass by checking none.
func SharedDir(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	dir := filepath.Join(root, "..", "shared")
	if env := os.Getenv("TACAP_SHARED"); env != "" {
		dir = env
	}
	if _, err := os.Stat(filepath.Join(dir, "pcaps")); err != nil {
		if Required() {
			t.Fatalf("shared captures not found at %s (set TACAP_SHARED): %v", dir, err)
		}
		t.Skipf("skipped: shared captures not found at %s (set TACAP_SHARED to their folder)", dir)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "pcaps", "*", "*.pcap*")); len(files) == 0 {
		t.Fatalf("no capture file under %s (pcaps/*/*.pcap*): the shared captures are missing from the folder", filepath.Join(dir, "pcaps"))
	}
	return dir
}
