package bpf_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/test/oracle"
	"github.com/tacap/tacap/test/testenv"
)

type packetSource interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

type ngSource struct{ *pcapgo.NgReader }

func (s ngSource) LinkType() layers.LinkType { return s.NgReader.LinkType() }

func openCapture(t *testing.T, path string) packetSource {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	r := bufio.NewReader(f)
	magic, _ := r.Peek(4)
	if bytes.Equal(magic, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		ng, err := pcapgo.NewNgReader(r, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return ngSource{ng}
	}
	pr, err := pcapgo.NewReader(r)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pr
}

// TestSharedCaptures runs every frame of every Ethernet capture in
// ../shared/pcaps through the program, one at a time with quotas off, and
// checks each outcome against gopacket's decoding of the same frame.
func TestSharedCaptures(t *testing.T) {
	dir := testenv.SharedDir(t)
	o := loadNoQuota(t)
	files, _ := filepath.Glob(filepath.Join(dir, "pcaps", "*", "*.pcap*"))
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatalf("no captures under %s/pcaps", dir)
	}
	ethernet := 0
	for _, path := range files {
		name := filepath.Base(filepath.Dir(path)) + "/" + filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			src := openCapture(t, path)
			if src.LinkType() != layers.LinkTypeEthernet {
				t.Logf("link type %s: not Ethernet, left to the pcap-input tests", src.LinkType())
				return
			}
			ethernet++
			count := map[oracle.Class]int{}
			for i := 1; ; i++ {
				data, ci, err := src.ReadPacketData()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if len(data) < bpf.MinFrameLen {
					count[oracle.Skip]++
					continue
				}
				res, _ := checkAgainstOracle(t, o, bpf.ReplayFrame{
					Data: data, TimeNs: uint64(ci.Timestamp.UnixNano()), WireLen: uint32(ci.Length), Direction: bpf.DirectionUnknown,
				})
				if res.Class == oracle.Unsure {
					t.Logf("frame %d: oracle unsure: %s", i, res.Reason)
				}
				count[res.Class]++
			}
			t.Logf("recorded %d, not recordable %d, oracle unsure %d", count[oracle.Record], count[oracle.Skip], count[oracle.Unsure])
			if count[oracle.Unsure] > 0 {
				t.Errorf("%d frames the oracle could not judge", count[oracle.Unsure])
			}
		})
	}
	if ethernet == 0 {
		t.Fatal("no Ethernet capture was checked")
	}
}
