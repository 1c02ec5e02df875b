package pcapfile

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReader: whatever bytes a capture file holds (pcap, pcapng, gzip of
// either), the reader never panics, ends (EOF or an error), hands out
// frames no longer than it read, and counts consumed bytes that only grow.
// Seeds: small files built here, and every capture in ../shared/pcaps when
// it is there.
//
//	go test ./capture/pcapfile -run '^$' -fuzz FuzzReader -fuzztime 10m
func FuzzReader(f *testing.F) {
	eth := append(make([]byte, 12), 0x08, 0x00)
	for _, seed := range [][]byte{
		pcapFile(binary.LittleEndian, false, 1, append(eth, ipv4Packet()...)),
		pcapFile(binary.BigEndian, true, 101, ipv4Packet()),
		pcapFile(binary.LittleEndian, false, 113, make([]byte, 16)),
		pcapFile(binary.LittleEndian, false, 276, make([]byte, 20)),
		pcapFile(binary.LittleEndian, false, 0, []byte{2, 0, 0, 0, 0x45}),
		gzipped(pcapFile(binary.LittleEndian, false, 1, append(eth, ipv4Packet()...))),
	} {
		f.Add(seed)
	}
	shared, _ := filepath.Glob(filepath.Join("..", "..", "..", "shared", "pcaps", "*", "*"))
	for _, p := range shared {
		// The first 8 KiB of each: big seeds make the fuzzer crawl (it
		// minimises every new input it finds).
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b[:min(len(b), 8<<10)])
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		last := r.Consumed()
		for i := 0; ; i++ {
			fr, err := r.Next()
			if err != nil {
				return // io.EOF, or where the file breaks
			}
			// Every frame costs at least its 16-byte header, before gzip
			// (which expands at most about 1 032 times).
			if i > 1100*len(data)/16+1 {
				t.Fatalf("%d frames from %d bytes: the reader does not end", i, len(data))
			}
			if c := r.Consumed(); c < last {
				t.Fatalf("consumed went back from %d to %d", last, c)
			} else {
				last = c
			}
			if fr.Supported && len(fr.Data) > maxFrame+64 {
				t.Fatalf("a frame of %d bytes", len(fr.Data))
			}
		}
	})
}

func gzipped(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}
