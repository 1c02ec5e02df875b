package bpf

import (
	"crypto/sha256"
	"encoding/hex"
)

// ObjectSHA256 is the hash of the embedded BPF object: what `tacap version`
// prints, so a dataset can be traced to the exact kernel program.
func ObjectSHA256() string {
	sum := sha256.Sum256(_ExtractorBytes)
	return hex.EncodeToString(sum[:])
}
