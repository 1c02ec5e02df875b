package test

import (
	"os"
	"testing"

	"github.com/tacap/tacap/test/testenv"
	"github.com/tacap/tacap/test/tshark"
)

// TestMain removes the binaries the tests built (binaries()) once they are
// done.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// requireTshark skips t without tshark, or fails it where privileged tests
// are required (CI).
func requireTshark(t *testing.T) {
	t.Helper()
	if !tshark.Available() {
		testenv.Unavailable(t, "tshark is not installed (make test installs it)")
	}
}
