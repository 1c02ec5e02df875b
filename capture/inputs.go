package capture

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tacap/tacap/capture/pcapfile"
	"github.com/tacap/tacap/dataset"
)

// Stdin names standard input as a capture file ("-r -").
const Stdin = "-"

// Orders of several capture files.
const (
	OrderTime = "time" // by the time of each file's first frame (the default)
	OrderName = "name" // by path
)

// captureExts are the names a folder's capture files have.
var captureExts = []string{".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".cap.gz"}

// ErrDuplicate marks a capture file that a run of the dataset already
// replayed (the same SHA-256).
var ErrDuplicate = errors.New("already replayed into this dataset")

// ErrSameContent marks two capture files of one run with the same bytes.
var ErrSameContent = errors.New("given twice")

// ExpandInputs turns --pcap arguments — files, folders (their capture
// files, not recursing) and glob patterns — into the files to read, each
// once, in order: by the time of their first frame (order "time"; files
// without a frame last, by name) or by path ("name"). Standard input ("-")
// must be the only input.
func ExpandInputs(args []string, order string) ([]string, error) {
	if order == "" {
		order = OrderTime
	}
	if order != OrderTime && order != OrderName {
		return nil, bad("pcap-order", "must be time or name, not %q", order)
	}
	var files []string
	seen := map[string]bool{}
	add := func(p string) {
		// The same file spelled twice (./a, a, dir//a) is read once.
		key := filepath.Clean(p)
		if abs, err := filepath.Abs(p); err == nil {
			key = abs
		}
		if !seen[key] {
			seen[key] = true
			files = append(files, p)
		}
	}
	for _, a := range args {
		_, statErr := os.Stat(a)
		switch {
		case a == Stdin:
			if len(args) != 1 {
				return nil, bad("pcap", "- (standard input) must be the only capture file")
			}
			return []string{Stdin}, nil
		case strings.ContainsAny(a, "*?[") && statErr != nil: // a file named so is a file
			m, err := filepath.Glob(a)
			if err != nil {
				return nil, bad("pcap", "%q is not a valid pattern: %v", a, err)
			}
			if len(m) == 0 {
				return nil, bad("pcap", "%q matches no file", a)
			}
			sort.Strings(m)
			for _, p := range m {
				if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && !strings.HasPrefix(filepath.Base(p), ".") {
					add(p)
				}
			}
		default:
			st, err := os.Stat(a)
			if err == nil && st.IsDir() {
				n := 0
				entries, err := os.ReadDir(a)
				if err != nil {
					return nil, fmt.Errorf("capture folder %s: %w", a, err)
				}
				for _, e := range entries {
					p := filepath.Join(a, e.Name())
					if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && hasCaptureExt(e.Name()) && !strings.HasPrefix(e.Name(), ".") {
						add(p) // links to capture files are followed, as by a glob
						n++
					}
				}
				if n == 0 {
					return nil, bad("pcap", "folder %s holds no capture file (%s)", a, strings.Join(captureExts, ", "))
				}
				continue
			}
			add(a) // a missing file fails when it is opened, with its reason
		}
	}
	if order == OrderName {
		sort.Strings(files)
		return files, nil
	}
	first := make(map[string]int64, len(files))
	for _, p := range files {
		first[p] = firstFrameTime(p)
	}
	sort.SliceStable(files, func(i, j int) bool {
		a, b := first[files[i]], first[files[j]]
		if a != b {
			return a < b
		}
		return files[i] < files[j]
	})
	return files, nil
}

func hasCaptureExt(name string) bool {
	n := strings.ToLower(name)
	for _, e := range captureExts {
		if strings.HasSuffix(n, e) {
			return true
		}
	}
	return false
}

// firstFrameTime is the time of a file's first frame; files that cannot
// be read or hold no frame sort last.
func firstFrameTime(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 1<<63 - 1
	}
	defer f.Close()
	rd, err := pcapfile.NewReader(f)
	if err != nil {
		return 1<<63 - 1
	}
	fr, err := rd.Next()
	if err != nil {
		return 1<<63 - 1
	}
	return fr.TimeNs
}

// fileSHA256 is the hex SHA-256 of a file's bytes as stored.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// replayedBefore lists the SHA-256 of every capture file the dataset's
// runs replayed, with the run that did.
func replayedBefore(out string) map[string]string {
	seen := map[string]string{}
	paths, _ := filepath.Glob(filepath.Join(out, dataset.RunsDir, "*.json"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var m dataset.Manifest
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		for _, f := range m.PcapFiles {
			if f.SHA256 != "" {
				seen[f.SHA256] = m.RunID
			}
		}
		if m.PcapInfo != nil && m.PcapInfo.SHA256 != "" {
			seen[m.PcapInfo.SHA256] = m.RunID
		}
	}
	return seen
}

// checkDuplicates hashes the input files and refuses one that a run of the
// dataset already replayed, or that is given twice, unless allowed.
func checkDuplicates(files []string, out string, allow bool) (map[string]string, error) {
	sums := map[string]string{}
	before := replayedBefore(out)
	byHash := map[string]string{}
	for _, p := range files {
		if p == Stdin {
			continue // hashed while it is read; it cannot be checked before
		}
		sum, err := fileSHA256(p)
		if err != nil {
			continue // openFile reports it
		}
		sums[p] = sum
		if allow {
			continue
		}
		if run, ok := before[sum]; ok {
			return nil, fmt.Errorf("capture file %s (sha256 %s…): %w by run %s", p, sum[:12], ErrDuplicate, run)
		}
		if other, ok := byHash[sum]; ok {
			return nil, fmt.Errorf("capture files %s and %s have the same content (sha256 %s…): %w", other, p, sum[:12], ErrSameContent)
		}
		byHash[sum] = p
	}
	return sums, nil
}
