package test

import (
	"os"
	"testing"
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
