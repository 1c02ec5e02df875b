package capture

// ExpandInputs (what --pcap arguments name, in which order) and
// checkDuplicates (refusing a capture file the dataset already holds),
// without privileges: small capture files written byte by byte here,
// independently of capture/pcapfile, and fake run manifests.

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/tacap/tacap/dataset"
)

// inT0 is a time (ns since the epoch) the crafted frames are offset from.
const inT0 = int64(1_700_000_000_000_000_000)

// inFrame is a 60-byte Ethernet/IPv4/UDP frame between two benchmark
// addresses (198.18.0.1 → 198.18.0.2); ExpandInputs reads only its time.
func inFrame() []byte {
	b := make([]byte, 60)
	copy(b[0:], []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00})
	ip := b[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], 46)
	copy(ip[12:], []byte{198, 18, 0, 1, 198, 18, 0, 2})
	binary.BigEndian.PutUint16(ip[20:], 4000)
	binary.BigEndian.PutUint16(ip[22:], 53)
	binary.BigEndian.PutUint16(ip[24:], 26)
	return b
}

// inPcap is a little-endian pcap file (nanosecond magic, or microsecond
// with us) of Ethernet frames at the given times.
func inPcap(us bool, times ...int64) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	h := make([]byte, 24)
	le.PutUint32(h[0:], 0xa1b23c4d)
	if us {
		le.PutUint32(h[0:], 0xa1b2c3d4)
	}
	le.PutUint16(h[4:], 2)
	le.PutUint16(h[6:], 4)
	le.PutUint32(h[16:], 262144)
	le.PutUint32(h[20:], 1) // Ethernet
	b.Write(h)
	data := inFrame()
	for _, ns := range times {
		r := make([]byte, 16)
		frac := uint32(ns % 1e9)
		if us {
			frac /= 1000
		}
		le.PutUint32(r[0:], uint32(ns/1e9))
		le.PutUint32(r[4:], frac)
		le.PutUint32(r[8:], uint32(len(data)))
		le.PutUint32(r[12:], uint32(len(data)))
		b.Write(r)
		b.Write(data)
	}
	return b.Bytes()
}

// inPcapng is a little-endian pcapng section: one Ethernet interface with
// nanosecond resolution, one Enhanced Packet Block per time.
func inPcapng(times ...int64) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	block := func(typ uint32, body []byte) {
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
		var w [4]byte
		le.PutUint32(w[:], typ)
		b.Write(w[:])
		le.PutUint32(w[:], uint32(12+len(body)))
		b.Write(w[:])
		b.Write(body)
		b.Write(w[:])
	}
	shb := make([]byte, 16)
	le.PutUint32(shb[0:], 0x1A2B3C4D)
	le.PutUint16(shb[4:], 1)
	le.PutUint64(shb[8:], ^uint64(0))
	block(0x0A0D0D0A, shb)
	idb := make([]byte, 8)
	le.PutUint16(idb[0:], 1)
	le.PutUint32(idb[4:], 262144)
	idb = append(idb, 9, 0, 1, 0, 9, 0, 0, 0) // if_tsresol = 9 (ns), padded
	idb = append(idb, 0, 0, 0, 0)             // opt_endofopt
	block(1, idb)
	data := inFrame()
	for _, ns := range times {
		body := make([]byte, 20)
		le.PutUint32(body[4:], uint32(uint64(ns)>>32))
		le.PutUint32(body[8:], uint32(uint64(ns)))
		le.PutUint32(body[12:], uint32(len(data)))
		le.PutUint32(body[16:], uint32(len(data)))
		block(6, append(body, data...))
	}
	return b.Bytes()
}

func inGzip(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func inWrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// sec is n seconds after inT0.
func sec(n float64) int64 { return inT0 + int64(n*1e9) }

// inFixture writes, in the working directory:
//
//	caps/b.pcap        first frame at 1 s (ns pcap)
//	caps/c.cap.gz      first frame at 2 s (gzip of a µs pcap)
//	caps/a.pcapng      first frame at 3 s
//	caps/e.PCAP        first frame at 4 s (the extension in capitals)
//	caps/d.pcap.gz     first frame at 0.5 s (gzip of a pcapng)
//	caps/empty2.pcap   a pcap header, no frame
//	caps/empty1.pcapng a section and an interface, no frame
//	caps/.hidden.pcap  first frame at 0 s: hidden, a folder skips it
//	caps/notes.txt     not a capture file
//	caps/sub/f.pcap    in a sub-folder: a folder does not recurse
//	same/z.pcap, same/m.pcap: both first frames at 7 s (a tie)
//	nocaps/readme.txt, nocaps/.x.pcap: no capture file a folder reads
//	order/late.pcap (first frame 9 s; a later one at 0.1 s: only the first counts)
//	order/early.pcap (first frame 8 s)
func inFixture(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir) // relative paths, as a user types them
	inWrite(t, "caps/b.pcap", inPcap(false, sec(1), sec(1.5)))
	inWrite(t, "caps/c.cap.gz", inGzip(t, inPcap(true, sec(2))))
	inWrite(t, "caps/a.pcapng", inPcapng(sec(3), sec(3.1)))
	inWrite(t, "caps/e.PCAP", inPcap(false, sec(4)))
	inWrite(t, "caps/d.pcap.gz", inGzip(t, inPcapng(sec(0.5))))
	inWrite(t, "caps/empty2.pcap", inPcap(false))
	inWrite(t, "caps/empty1.pcapng", inPcapng())
	inWrite(t, "caps/.hidden.pcap", inPcap(false, sec(0)))
	inWrite(t, "caps/notes.txt", []byte("not a capture\n"))
	inWrite(t, "caps/sub/f.pcap", inPcap(false, sec(0.1)))
	inWrite(t, "same/z.pcap", inPcap(false, sec(7)))
	inWrite(t, "same/m.pcap", inPcap(false, sec(7)))
	inWrite(t, "nocaps/readme.txt", []byte("nothing here\n"))
	inWrite(t, "nocaps/.x.pcap", inPcap(false, sec(1)))
	inWrite(t, "order/late.pcap", inPcap(false, sec(9), sec(0.1)))
	inWrite(t, "order/early.pcap", inPcap(false, sec(8)))
}

// TestPcapInputsExpand: what --pcap arguments expand to, in which order.
func TestPcapInputsExpand(t *testing.T) {
	inFixture(t)
	caps := func(names ...string) []string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = filepath.Join("caps", n)
		}
		return out
	}
	byTime := caps("d.pcap.gz", "b.pcap", "c.cap.gz", "a.pcapng", "e.PCAP", "empty1.pcapng", "empty2.pcap")
	byName := caps("a.pcapng", "b.pcap", "c.cap.gz", "d.pcap.gz", "e.PCAP", "empty1.pcapng", "empty2.pcap")
	for _, tc := range []struct {
		name  string
		args  []string
		order string
		want  []string
	}{
		// One file, as given, whatever its name.
		{"one file", []string{"caps/b.pcap"}, "", []string{"caps/b.pcap"}},
		{"one file not named as a capture", []string{"caps/notes.txt"}, OrderTime, []string{"caps/notes.txt"}},
		{"a missing file is kept for its open to fail", []string{"caps/missing.pcap"}, "", []string{"caps/missing.pcap"}},
		{"a hidden file named explicitly", []string{"caps/.hidden.pcap"}, "", []string{"caps/.hidden.pcap"}},

		// A folder: its capture files (not hidden ones, not notes.txt, not
		// sub/), gzip too, extensions in any case; by first-frame time
		// (the default), files without a frame last (by path).
		{"folder, default order", []string{"caps"}, "", byTime},
		{"folder, time order", []string{"caps"}, OrderTime, byTime},
		{"folder with a trailing slash", []string{"caps/"}, OrderTime, byTime},
		{"folder, name order", []string{"caps"}, OrderName, byName},

		// Several files: time order is the frames' time, not the order given.
		{"files given in name order", []string{"caps/a.pcapng", "caps/b.pcap", "caps/c.cap.gz"}, "",
			caps("b.pcap", "c.cap.gz", "a.pcapng")},
		{"files given in name order, name order", []string{"caps/c.cap.gz", "caps/a.pcapng", "caps/b.pcap"}, OrderName,
			caps("a.pcapng", "b.pcap", "c.cap.gz")},
		{"only the first frame's time counts", []string{"order/late.pcap", "order/early.pcap"}, "",
			[]string{"order/early.pcap", "order/late.pcap"}},
		{"a tie in time goes by path", []string{"same/z.pcap", "same/m.pcap"}, OrderTime,
			[]string{"same/m.pcap", "same/z.pcap"}},
		{"no frame and unreadable files last, by path", []string{"caps/notes.txt", "caps/empty2.pcap", "caps/missing.pcap", "caps/e.PCAP", "caps/empty1.pcapng"}, "",
			caps("e.PCAP", "empty1.pcapng", "empty2.pcap", "missing.pcap", "notes.txt")},

		// Globs: the files they match, any order in the result is by time.
		{"glob", []string{"caps/[a-z]*.pcap"}, "", caps("b.pcap", "empty2.pcap")},
		{"glob over gzip", []string{"caps/*.gz"}, "", caps("d.pcap.gz", "c.cap.gz")},
		{"glob with a class", []string{"caps/[abc]*"}, OrderName, caps("a.pcapng", "b.pcap", "c.cap.gz")},
		{"glob of folders and files keeps the files", []string{"caps/s*", "caps/b*"}, "", caps("b.pcap")},

		// Each file once.
		{"the same file twice", []string{"caps/b.pcap", "caps/b.pcap"}, "", caps("b.pcap")},
		{"a file and its folder", []string{"caps/b.pcap", "caps"}, "", byTime},
		{"a folder and a glob over it", []string{"caps", "caps/[a-z]*.pcap*"}, OrderName, byName},
		{"a folder twice", []string{"caps", "caps/"}, OrderTime, byTime},
		{"two globs matching the same file", []string{"caps/b*", "caps/?.pcap"}, "", caps("b.pcap")},

		// Standard input, alone.
		{"standard input", []string{"-"}, "", []string{Stdin}},
		{"standard input, name order", []string{"-"}, OrderName, []string{Stdin}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ExpandInputs(tc.args, tc.order)
			if err != nil {
				t.Fatalf("ExpandInputs(%q, %q): %v", tc.args, tc.order, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ExpandInputs(%q, %q)\n got %q\nwant %q", tc.args, tc.order, got, tc.want)
			}
		})
	}
}

// TestPcapInputsSameFileOtherSpelling: one file named by two spellings of
// its path (./caps/b.pcap and the folder caps, a doubled slash, an
// absolute path) is still one file, read once — not two files "with the
// same content", which checkDuplicates refuses.
func TestPcapInputsSameFileOtherSpelling(t *testing.T) {
	inFixture(t)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		files int // distinct files named
	}{
		{"./file and its folder", []string{"./caps/b.pcap", "caps"}, 7},
		{"a doubled slash", []string{"caps/e.PCAP", "caps//e.PCAP"}, 1},
		{"a glob and ./file", []string{"caps/?.pcap", "./caps/b.pcap"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ExpandInputs(tc.args, OrderTime)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.files {
				t.Errorf("ExpandInputs(%q) = %q: %d paths for %d files", tc.args, got, len(got), tc.files)
			}
			if _, err := checkDuplicates(got, filepath.Join(wd, "ds"), false); err != nil {
				t.Errorf("the expanded %q are refused: %v", got, err)
			}
		})
	}
}

// TestPcapInputsErrors: mistakes in the arguments are configuration
// errors (the command line makes them usage errors, exit 2), naming the
// option.
func TestPcapInputsErrors(t *testing.T) {
	inFixture(t)
	for _, tc := range []struct {
		name   string
		args   []string
		order  string
		option string
		says   string
	}{
		{"glob matching nothing", []string{"caps/*.nothing"}, "", "pcap", "matches no file"},
		{"glob matching nothing among good ones", []string{"caps/b.pcap", "nowhere/*.pcap"}, "", "pcap", "matches no file"},
		{"malformed glob", []string{"caps/[a.pcap"}, "", "pcap", "not a valid pattern"},
		{"folder without capture files", []string{"nocaps"}, "", "pcap", "no capture file"},
		{"folder without capture files after a good one", []string{"caps", "nocaps"}, "", "pcap", "no capture file"},
		{"standard input then a file", []string{"-", "caps/b.pcap"}, "", "pcap", "only"},
		{"a file then standard input", []string{"caps/b.pcap", "-"}, "", "pcap", "only"},
		{"standard input and a folder", []string{"caps", "-"}, OrderName, "pcap", "only"},
		{"bad order", []string{"caps/b.pcap"}, "size", "pcap-order", "size"},
		{"bad order, in capitals", []string{"caps/b.pcap"}, "TIME", "pcap-order", "TIME"},
		{"bad order with standard input", []string{"-"}, "random", "pcap-order", "random"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ExpandInputs(tc.args, tc.order)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("ExpandInputs(%q, %q) = %q, %v: want a *ConfigError", tc.args, tc.order, got, err)
			}
			if ce.Option != tc.option || !strings.Contains(ce.Problem, tc.says) {
				t.Fatalf("ExpandInputs(%q, %q): option %q, problem %q; want option %q, a problem saying %q",
					tc.args, tc.order, ce.Option, ce.Problem, tc.option, tc.says)
			}
		})
	}
}

// inSum is the hex SHA-256 of b, computed here.
func inSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// inManifest writes _runs/RUNID.json of the dataset out, raw JSON in the
// contract's field names.
func inManifest(t *testing.T, out, runID, body string) {
	t.Helper()
	inWrite(t, filepath.Join(out, dataset.RunsDir, runID+".json"), []byte(body))
}

// TestPcapInputsDuplicates: checkDuplicates refuses a file whose SHA-256 a
// run of the dataset recorded (in pcap_files[].sha256 or pcap_file.sha256)
// and two files of one command with the same content, unless allowed, and
// hands back every file's SHA-256.
func TestPcapInputsDuplicates(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir) // relative paths, as a user types them
	contents := map[string][]byte{
		"one.pcap":        inPcap(false, sec(1)),
		"two.pcap":        inPcap(false, sec(2)),
		"three.pcapng":    inPcapng(sec(3)),
		"four.pcap.gz":    inGzip(t, inPcap(false, sec(4))),
		"copy-of-one.cap": inPcap(false, sec(1)),
		"fresh.pcap":      inPcap(false, sec(5)),
	}
	for name, b := range contents {
		inWrite(t, name, b)
	}
	sum := func(name string) string { return inSum(contents[name]) }
	other := inSum([]byte("a file replayed long ago"))

	// ds: two earlier runs, one of several files (pcap_files), one older
	// single-file run with only pcap_file; also files that are no manifest.
	inManifest(t, "ds", "20260101T000000Z-aaaa", fmt.Sprintf(`{"run_id":"20260101T000000Z-aaaa","pcap":"x/two.pcap",
		"pcap_file":{"path":"x/two.pcap","bytes":1,"frames":1},
		"pcap_files":[{"path":"x/two.pcap","bytes":1,"frames":1,"sha256":%q},{"path":"x/o.pcap","bytes":1,"frames":1,"sha256":%q}]}`,
		sum("two.pcap"), other))
	inManifest(t, "ds", "20260102T000000Z-bbbb", fmt.Sprintf(`{"run_id":"20260102T000000Z-bbbb","pcap":"y.pcapng",
		"pcap_file":{"path":"y.pcapng","bytes":1,"frames":1,"sha256":%q}}`, sum("three.pcapng")))
	inManifest(t, "ds", "20260103T000000Z-cccc", `{"run_id":"20260103T000000Z-cccc","interfaces":["eth0"]}`) // live
	inManifest(t, "ds", "broken", `{"run_id": "broken", "pcap_files": [`)                                    // not JSON: ignored
	inWrite(t, filepath.Join("ds", dataset.RunsDir, "notes.txt"), []byte(sum("four.pcap.gz")))               // not a manifest
	// A manifest of another dataset says nothing about ds.
	inManifest(t, "elsewhere", "20260104T000000Z-dddd", fmt.Sprintf(`{"run_id":"20260104T000000Z-dddd",
		"pcap_files":[{"path":"one.pcap","bytes":1,"frames":1,"sha256":%q}]}`, sum("one.pcap")))

	for _, tc := range []struct {
		name  string
		files []string
		out   string
		allow bool
		want  error  // nil, ErrDuplicate or ErrSameContent
		names string // what the message must say (the file, the run)
	}{
		{"new files", []string{"one.pcap", "four.pcap.gz", "fresh.pcap"}, "ds", false, nil, ""},
		{"no dataset yet", []string{"two.pcap", "three.pcapng"}, "nowhere", false, nil, ""},
		{"another dataset's files", []string{"one.pcap"}, "ds", false, nil, ""},
		{"recorded in pcap_files", []string{"two.pcap"}, "ds", false, ErrDuplicate, "two.pcap 20260101T000000Z-aaaa"},
		{"recorded in pcap_file of a one-file run", []string{"three.pcapng"}, "ds", false, ErrDuplicate, "three.pcapng 20260102T000000Z-bbbb"},
		{"one of several recorded", []string{"one.pcap", "fresh.pcap", "two.pcap"}, "ds", false, ErrDuplicate, "two.pcap"},
		{"recorded, allowed", []string{"two.pcap", "three.pcapng"}, "ds", true, nil, ""},
		{"same content twice in one command", []string{"one.pcap", "copy-of-one.cap"}, "nowhere", false, ErrSameContent, "one.pcap copy-of-one.cap"},
		{"same content twice among others", []string{"fresh.pcap", "one.pcap", "four.pcap.gz", "copy-of-one.cap"}, "ds", false, ErrSameContent, "copy-of-one.cap"},
		{"same content twice, allowed", []string{"one.pcap", "copy-of-one.cap"}, "ds", true, nil, ""},
		{"standard input is not hashed before", []string{Stdin}, "ds", false, nil, ""},
		{"a missing file is left to its open", []string{"missing.pcap", "fresh.pcap"}, "ds", false, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sums, err := checkDuplicates(tc.files, tc.out, tc.allow)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("checkDuplicates(%q, %s, allow %v): %v", tc.files, tc.out, tc.allow, err)
				}
				for _, f := range tc.files {
					b, ok := contents[f]
					if !ok {
						if s, there := sums[f]; there {
							t.Errorf("sums[%s] = %s for a file that is not there (or standard input)", f, s)
						}
						continue
					}
					if sums[f] != inSum(b) {
						t.Errorf("sums[%s] = %q, want %s (SHA-256 of its bytes as stored)", f, sums[f], inSum(b))
					}
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("checkDuplicates(%q, %s): %v, want %v", tc.files, tc.out, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want.Error()) {
				t.Errorf("message %q does not say %q", err, tc.want)
			}
			for _, w := range strings.Fields(tc.names) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q does not name %s", err, w)
				}
			}
		})
	}
}

// TestPcapInputsDuplicateOfGzip: the SHA-256 is of the bytes as stored: a
// gzip file and the capture inside it are different files, and a run that
// recorded the gzip's SHA-256 refuses the gzip only.
func TestPcapInputsDuplicateOfGzip(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir) // relative paths, as a user types them
	plain := inPcap(false, sec(1), sec(2))
	gz := inGzip(t, plain)
	inWrite(t, "p.pcap", plain)
	inWrite(t, "p.pcap.gz", gz)
	sums, err := checkDuplicates([]string{"p.pcap", "p.pcap.gz"}, "ds", false)
	if err != nil {
		t.Fatalf("a capture and its gzip are refused as the same content: %v", err)
	}
	if sums["p.pcap.gz"] != inSum(gz) || sums["p.pcap"] != inSum(plain) {
		t.Fatalf("sums %v; want the gzip's %s and the capture's %s", sums, inSum(gz), inSum(plain))
	}
	inManifest(t, "ds", "r1", fmt.Sprintf(`{"run_id":"r1","pcap_files":[{"path":"p.pcap.gz","sha256":%q}]}`, inSum(gz)))
	if _, err := checkDuplicates([]string{"p.pcap"}, "ds", false); err != nil {
		t.Fatalf("the capture inside a replayed gzip is refused: %v", err)
	}
	if _, err := checkDuplicates([]string{"p.pcap.gz"}, "ds", false); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("the replayed gzip again: %v, want ErrDuplicate", err)
	}
}
