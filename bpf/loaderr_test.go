package bpf

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestLoadErrorWithoutLibraryAdvice: a refused load says what failed, not
// the library's advice to its caller (tacap already lifts the memlock
// limit), and stays a permission error for the command line's remedy.
func TestLoadErrorWithoutLibraryAdvice(t *testing.T) {
	err := explainLoadError(fmt.Errorf("map create: %w (MEMLOCK may be too low, consider rlimit.RemoveMemlock)", unix.EPERM))
	if msg := err.Error(); strings.Contains(msg, "MEMLOCK") || msg != "load eBPF program: map create: operation not permitted" {
		t.Fatalf("message %q", msg)
	}
	if !errors.Is(err, os.ErrPermission) {
		t.Fatal("no longer a permission error")
	}
}
