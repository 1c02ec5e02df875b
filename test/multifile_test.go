package test

// Several capture files in one run (`tacap capture --pcap` repeated, a
// folder, a glob, standard input): the files are read one after the other
// in the order of their first frame's time (or by name), each once, flows
// continue across them, and the manifest keeps one pcap_files entry per
// file with its SHA-256. A file the dataset already holds is refused.
// Every capture here is crafted by the test (test/craft_test.go writers,
// test/frames), its SHA-256 computed by the test.

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tacap/tacap/dataset"
	"github.com/tacap/tacap/test/frames"
	"github.com/tacap/tacap/test/testenv"
)

// mfT0 is the time of the first crafted frame (ns since the epoch).
const mfT0 = int64(1_750_000_000_000_000_000)

var (
	mfClient  = netip.MustParseAddr("198.18.5.1")
	mfServer  = netip.MustParseAddr("198.18.5.2")
	mfDNS     = netip.MustParseAddr("198.18.5.3")
	mfClient6 = netip.MustParseAddr("2001:db8:5::1")
	mfServer6 = netip.MustParseAddr("2001:db8:5::2")
)

// The TCP connection split over two files.
const (
	mfCPort = 41000
	mfSPort = 443
)

// linkUser0 is LINKTYPE_USER0: a link type tacap does not read.
const linkUser0 = 147

var mfEther = frames.Ether{Src: [6]byte{2, 0, 0, 0, 5, 1}, Dst: [6]byte{2, 0, 0, 0, 5, 2}}

// mfTCP is a segment of the split connection, from the client or the server.
func mfTCP(ns int64, fromClient bool, flags uint8, payload int) capFrame {
	ip := frames.IPv4{Src: mfClient, Dst: mfServer, TTL: 64, ID: 1}
	tcp := frames.TCP{SrcPort: mfCPort, DstPort: mfSPort, Seq: 1000, Ack: 5000, Flags: flags, Window: 64240}
	if !fromClient {
		ip.Src, ip.Dst = mfServer, mfClient
		tcp.SrcPort, tcp.DstPort, tcp.Seq, tcp.Ack = mfSPort, mfCPort, 5000, 1000
	}
	return capFrame{ns: ns, data: frames.Build(mfEther, ip, tcp, frames.Zeros(payload))}
}

func mfUDP(ns int64, src, dst netip.Addr, sport, dport uint16, payload int) capFrame {
	var ip frames.Layer = frames.IPv4{Src: src, Dst: dst, TTL: 64, ID: 2}
	if src.Is6() {
		ip = frames.IPv6{Src: src, Dst: dst, HopLimit: 64}
	}
	return capFrame{ns: ns, data: frames.Build(mfEther, ip, frames.UDP{SrcPort: sport, DstPort: dport}, frames.Zeros(payload))}
}

// mfFile is a crafted capture file and what tacap must make of it.
type mfFile struct {
	name        string
	link        uint32
	frames      []capFrame
	recorded    []int64 // times of the frames that are packets/ rows
	tcp         int     // frames of the split connection
	unsupported int64   // frames of a link type tacap does not read
	short       int64   // frames shorter than an Ethernet header
}

// mfFiles are three files whose name order (a, b, c) is not their time
// order (b, c, a): b holds the first half of a TCP connection, a UDP
// packet and a 10-byte frame; c two frames of LINKTYPE_USER0 a second
// later; a, two seconds after b, the second half of the connection and an
// IPv6 UDP exchange.
func mfFiles() map[string]*mfFile {
	const ms = int64(time.Millisecond)
	b := &mfFile{name: "b.pcap", link: linkEthernet, tcp: 4, short: 1}
	b.frames = []capFrame{
		mfTCP(mfT0, true, frames.SYN, 0),
		mfTCP(mfT0+1*ms, false, frames.SYN|frames.ACK, 0),
		mfTCP(mfT0+2*ms, true, frames.ACK, 0),
		mfTCP(mfT0+3*ms, true, frames.PSH|frames.ACK, 100),
		mfUDP(mfT0+4*ms, mfClient, mfDNS, 4000, 53, 30),
		{ns: mfT0 + 5*ms, data: make([]byte, 10)}, // shorter than an Ethernet header
	}
	c := &mfFile{name: "c.pcap", link: linkUser0, unsupported: 2}
	c.frames = []capFrame{
		{ns: mfT0 + 1000*ms, data: mfUDP(0, mfClient, mfDNS, 4001, 53, 30).data},
		{ns: mfT0 + 1001*ms, data: mfUDP(0, mfClient, mfDNS, 4002, 53, 30).data},
	}
	a := &mfFile{name: "a.pcap", link: linkEthernet, tcp: 4}
	a.frames = []capFrame{
		mfTCP(mfT0+2000*ms, false, frames.PSH|frames.ACK, 1000),
		mfTCP(mfT0+2001*ms, true, frames.FIN|frames.ACK, 0),
		mfTCP(mfT0+2002*ms, false, frames.FIN|frames.ACK, 0),
		mfTCP(mfT0+2003*ms, true, frames.ACK, 0),
		mfUDP(mfT0+2004*ms, mfClient6, mfServer6, 5000, 53, 40),
		mfUDP(mfT0+2005*ms, mfServer6, mfClient6, 53, 5000, 120),
	}
	for _, f := range []*mfFile{a, b} {
		for _, fr := range f.frames {
			if len(fr.data) >= 14 {
				f.recorded = append(f.recorded, fr.ns)
			}
		}
	}
	return map[string]*mfFile{"a.pcap": a, "b.pcap": b, "c.pcap": c}
}

// mfWrite writes the files into dir.
func mfWrite(t *testing.T, dir string, files map[string]*mfFile) {
	t.Helper()
	for _, f := range files {
		writePcap(t, filepath.Join(dir, f.name), f.link, f.frames)
	}
}

func mfSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func mfSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// mfTacap runs tacap capture (quotas off, no CSV, quiet) with args and
// stdin (nil: none), and returns its exit code and output.
func mfTacap(t *testing.T, stdin []byte, args ...string) (int, string) {
	t.Helper()
	tacap, _ := binaries(t)
	cmd := exec.Command(tacap, append([]string{"capture", "--packets-per-session", "0", "--no-csv", "-q"}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if cmd.ProcessState == nil {
		t.Fatalf("tacap %s: %v", strings.Join(args, " "), err)
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// mfMustRun runs tacap and fails unless it exits 0.
func mfMustRun(t *testing.T, stdin []byte, args ...string) {
	t.Helper()
	if code, out := mfTacap(t, stdin, args...); code != 0 {
		t.Fatalf("tacap capture %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
}

// mfManifests reads every run manifest of ds.
func mfManifests(t *testing.T, ds string) []dataset.Manifest {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(ds, dataset.RunsDir, "*.json"))
	sort.Strings(paths)
	var out []dataset.Manifest
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var m dataset.Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		out = append(out, m)
	}
	return out
}

// mfSnapshot is every file of ds with its content.
func mfSnapshot(t *testing.T, ds string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(ds, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[p] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// mfWantInfo is the pcap_files entry the file at path must have.
func mfWantInfo(t *testing.T, path string, f *mfFile) dataset.PcapInfo {
	t.Helper()
	in := dataset.PcapInfo{Path: path, Bytes: mfSize(t, path), Frames: int64(len(f.frames)), ShortFrames: f.short,
		SHA256: mfSHA256(t, path)}
	if f.unsupported > 0 {
		in.Unsupported = map[string]int64{fmt.Sprintf("linktype %d", f.link): f.unsupported}
	}
	return in
}

// mfInfoString prints a PcapInfo with its map in a stable order.
func mfInfoString(in dataset.PcapInfo) string {
	b, _ := json.Marshal(in)
	return string(b)
}

// mfCheckManifest checks pcap, pcap_file and pcap_files of a run over
// paths (in the order they must have been read), and the counters.
func mfCheckManifest(t *testing.T, m dataset.Manifest, paths []string, files []*mfFile) {
	t.Helper()
	if !m.Complete || m.StopReason != dataset.StopEndOfFile {
		t.Errorf("manifest: complete %v, stop_reason %q; want complete, %q (errors %q)", m.Complete, m.StopReason, dataset.StopEndOfFile, m.Errors)
	}
	if m.Pcap != paths[0] {
		t.Errorf("manifest pcap %q, want the first file read, %q", m.Pcap, paths[0])
	}
	var want []dataset.PcapInfo
	total := dataset.PcapInfo{Path: paths[0]}
	var recorded int64
	for i, p := range paths {
		w := mfWantInfo(t, p, files[i])
		want = append(want, w)
		total.Bytes += w.Bytes
		total.Frames += w.Frames
		total.ShortFrames += w.ShortFrames
		for k, v := range w.Unsupported {
			if total.Unsupported == nil {
				total.Unsupported = map[string]int64{}
			}
			total.Unsupported[k] += v
		}
		recorded += int64(len(files[i].recorded))
	}
	if len(paths) == 1 {
		total = want[0] // one file: exactly its figures, with its sha256
	}
	if len(m.PcapFiles) != len(want) {
		t.Errorf("pcap_files has %d entries, want %d (one per file read)", len(m.PcapFiles), len(want))
	}
	for i := range min(len(m.PcapFiles), len(want)) {
		if got := mfInfoString(m.PcapFiles[i]); got != mfInfoString(want[i]) {
			t.Errorf("pcap_files[%d]\n got %s\nwant %s", i, got, mfInfoString(want[i]))
		}
	}
	if m.PcapInfo == nil {
		t.Fatal("manifest has no pcap_file")
	}
	if got := mfInfoString(*m.PcapInfo); got != mfInfoString(total) {
		t.Errorf("pcap_file\n got %s\nwant %s", got, mfInfoString(total))
	}
	// frames = seen + unsupported + short, over all files.
	if int64(m.Counters.Seen) != total.Frames-total.ShortFrames-mfSum(total.Unsupported) || m.RowsWritten != recorded {
		t.Errorf("counters.seen %d, rows_written %d; want seen %d, rows %d", m.Counters.Seen, m.RowsWritten,
			total.Frames-total.ShortFrames-mfSum(total.Unsupported), recorded)
	}
}

func mfSum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// mfCheckRows: the packets/ rows are the recordable frames of the files
// read, by their times, each row named after the file it came from.
func mfCheckRows(t *testing.T, ds string, m dataset.Manifest, files []*mfFile) []row {
	t.Helper()
	rows := readRows(t, ds, m)
	want := map[int64]string{}
	var wantTimes []int64
	for _, f := range files {
		for _, ns := range f.recorded {
			want[ns] = f.name
			wantTimes = append(wantTimes, ns)
		}
	}
	var got []int64
	for _, r := range rows {
		got = append(got, r.timeNs)
		if !inLab(r.f.Src) || !inLab(r.f.Dst) {
			t.Errorf("row %+v: addresses outside the test's ranges", r)
		}
		if name, ok := want[r.timeNs]; ok && r.iface != name {
			t.Errorf("row at %d: iface %q, want %q (the base name of the file it came from)", r.timeNs, r.iface, name)
		}
	}
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	sort.Slice(wantTimes, func(i, j int) bool { return wantTimes[i] < wantTimes[j] })
	if !reflect.DeepEqual(got, wantTimes) {
		t.Errorf("packets/ rows at %v\nwant the frames at %v", got, wantTimes)
	}
	return rows
}

// mfFlow is the flows/ rows of the split TCP connection, and the flow ids
// of its packets/ rows.
type mfFlow struct {
	rows    []map[string]any
	packets int   // packets/ rows of the connection
	ids     []any // their distinct flow ids
}

func mfTCPFlows(t *testing.T, ds string) mfFlow {
	t.Helper()
	bm := bfReadManifest(t, ds)
	var out mfFlow
	fl := bfReadTable(t, ds, bm.Files.Flows)
	for i := range fl.rows {
		r := fl.row(i)
		if r["protocol"] == int64(6) && (r["src_port"] == int64(mfCPort) || r["dst_port"] == int64(mfCPort)) {
			out.rows = append(out.rows, r)
		}
	}
	pk := bfReadTable(t, ds, bm.Files.Packets)
	seen := map[string]bool{}
	for i := range pk.rows {
		r := pk.row(i)
		if r["protocol"] == int64(6) && (r["src_port"] == int64(mfCPort) || r["dst_port"] == int64(mfCPort)) {
			out.packets++
			if k := fmt.Sprint(r["flow_id"]); !seen[k] {
				seen[k] = true
				out.ids = append(out.ids, r["flow_id"])
			}
		}
	}
	return out
}

// mfCheckOneFlow: the connection's packets (tcp of them) are one flows/
// row, and every one of its packets/ rows carries that row's flow_id.
func mfCheckOneFlow(t *testing.T, ds string, tcp int) {
	t.Helper()
	f := mfTCPFlows(t, ds)
	if len(f.rows) != 1 {
		t.Fatalf("the TCP connection is %d flows/ rows, want 1: %v", len(f.rows), f.rows)
	}
	r := f.rows[0]
	n, _ := r["fwd_packets"].(int64)
	m, _ := r["bwd_packets"].(int64)
	if int(n+m) != tcp || f.packets != tcp {
		t.Errorf("the connection's flow has fwd %v + bwd %v packets and %d packets/ rows; want %d", r["fwd_packets"], r["bwd_packets"], f.packets, tcp)
	}
	if len(f.ids) != 1 || fmt.Sprint(f.ids[0]) != fmt.Sprint(r["flow_id"]) {
		t.Errorf("the connection's packets/ rows carry flow ids %v, its flows/ row %v", f.ids, r["flow_id"])
	}
}

// TestMultiFileOrder: files given in any way — repeated --pcap, a folder,
// a glob, with the same file twice — are one run reading each file once,
// by first-frame time (the default) or by name; pcap_files lists them in
// the order read with their figures and SHA-256, pcap_file the totals,
// the rows are the frames of every file, and the TCP connection split
// over b.pcap and a.pcap is one flow when the files are read in time order.
func TestMultiFileOrder(t *testing.T) {
	testenv.Privileged(t)
	dir := t.TempDir()
	files := mfFiles()
	mfWrite(t, dir, files)
	p := func(name string) string { return filepath.Join(dir, name) }
	for _, tc := range []struct {
		name    string
		args    []string
		read    []string // the files, in the order they must be read
		oneFlow bool     // time order: the split connection is one flow
	}{
		{"repeated --pcap, given in name order", []string{"--pcap", p("a.pcap"), "--pcap", p("b.pcap"), "--pcap", p("c.pcap")},
			[]string{"b.pcap", "c.pcap", "a.pcap"}, true},
		{"repeated -r", []string{"-r", p("a.pcap"), "-r", p("c.pcap"), "-r", p("b.pcap")},
			[]string{"b.pcap", "c.pcap", "a.pcap"}, true},
		{"--pcap-order time, given in reverse", []string{"--pcap", p("c.pcap"), "--pcap", p("b.pcap"), "--pcap", p("a.pcap"), "--pcap-order", "time"},
			[]string{"b.pcap", "c.pcap", "a.pcap"}, true},
		{"--pcap-order name", []string{"--pcap", p("c.pcap"), "--pcap", p("b.pcap"), "--pcap", p("a.pcap"), "--pcap-order", "name"},
			[]string{"a.pcap", "b.pcap", "c.pcap"}, false},
		{"a folder", []string{"--pcap", dir}, []string{"b.pcap", "c.pcap", "a.pcap"}, true},
		{"a glob", []string{"--pcap", filepath.Join(dir, "*.pcap")}, []string{"b.pcap", "c.pcap", "a.pcap"}, true},
		{"a folder, name order", []string{"--pcap-order", "name", "--pcap", dir}, []string{"a.pcap", "b.pcap", "c.pcap"}, false},
		{"a folder, a glob and a file over the same files", []string{"--pcap", dir, "--pcap", filepath.Join(dir, "[ab].pcap"), "--pcap", p("c.pcap")},
			[]string{"b.pcap", "c.pcap", "a.pcap"}, true},
		{"two of the files", []string{"--pcap", p("a.pcap"), "--pcap", p("b.pcap")}, []string{"b.pcap", "a.pcap"}, true},
		{"--pcap a --pcap a", []string{"--pcap", p("a.pcap"), "--pcap", p("a.pcap")}, []string{"a.pcap"}, true},
		{"a file twice among others", []string{"--pcap", p("b.pcap"), "--pcap", p("a.pcap"), "--pcap", p("b.pcap")},
			[]string{"b.pcap", "a.pcap"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := filepath.Join(t.TempDir(), "ds")
			mfMustRun(t, nil, append([]string{"-o", ds}, tc.args...)...)
			m := readManifest(t, ds)
			var paths []string
			var read []*mfFile
			tcp := 0
			for _, n := range tc.read {
				paths = append(paths, p(n))
				read = append(read, files[n])
				tcp += files[n].tcp
			}
			mfCheckManifest(t, m, paths, read)
			mfCheckRows(t, ds, m, read)
			if tc.oneFlow {
				mfCheckOneFlow(t, ds, tcp)
			}
		})
	}
}

// TestMultiFileFlowAcrossFiles: a TCP connection whose handshake is in one
// file and its teardown in the next is ONE flows/ row with all its
// packets, both directions, its first and last time from the two files;
// with an idle timeout shorter than the gap between the files it is two
// (the check can tell them apart).
func TestMultiFileFlowAcrossFiles(t *testing.T) {
	testenv.Privileged(t)
	dir := t.TempDir()
	files := mfFiles()
	mfWrite(t, dir, files)
	a, b := files["a.pcap"], files["b.pcap"]
	args := []string{"--pcap", filepath.Join(dir, "a.pcap"), "--pcap", filepath.Join(dir, "b.pcap")}

	ds := filepath.Join(t.TempDir(), "ds")
	mfMustRun(t, nil, append([]string{"-o", ds}, args...)...)
	mfCheckOneFlow(t, ds, a.tcp+b.tcp)
	f := mfTCPFlows(t, ds)
	r := f.rows[0]
	want := map[string]any{
		"src_ip": mfClient.String(), "dst_ip": mfServer.String(), "src_port": int64(mfCPort), "dst_port": int64(mfSPort),
		"fwd_packets": int64(5), "bwd_packets": int64(3), "fwd_payload_bytes": int64(100), "bwd_payload_bytes": int64(1000),
		"first_ts_ns": b.frames[0].ns, "last_ts_ns": a.frames[3].ns,
	}
	for c, w := range want {
		if r[c] != w {
			t.Errorf("the connection's flow: %s = %v (%T), want %v (the SYN in b.pcap, the last ACK in a.pcap)", c, r[c], r[c], w)
		}
	}

	// Control: 2 s between the files, idle timeout 1 s: two flows.
	ds2 := filepath.Join(t.TempDir(), "ds")
	mfMustRun(t, nil, append([]string{"-o", ds2, "--flow-idle-timeout", "1s"}, args...)...)
	if f := mfTCPFlows(t, ds2); len(f.rows) != 2 || len(f.ids) != 2 {
		t.Fatalf("with --flow-idle-timeout 1s the connection is %d flows/ rows (%d flow ids), want 2", len(f.rows), len(f.ids))
	}
}

func mfGzip(t *testing.T, b []byte) []byte {
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

// TestStdinMatchesFile: `-r -` fed a capture (pcap, gzip, pcapng) gives the
// rows the same file gives with --pcap, records path "-", the bytes read
// and the SHA-256 of the bytes fed; a later --pcap of that file into the
// same dataset is refused by that SHA-256.
func TestStdinMatchesFile(t *testing.T) {
	testenv.Privileged(t)
	files := mfFiles()
	var all []capFrame
	for _, n := range []string{"b.pcap", "a.pcap"} {
		all = append(all, files[n].frames...)
	}
	whole := &mfFile{name: "whole", link: linkEthernet, frames: all, short: 1, tcp: 8}
	for _, n := range []string{"b.pcap", "a.pcap"} {
		whole.recorded = append(whole.recorded, files[n].recorded...)
	}
	dir := t.TempDir()
	pcap := filepath.Join(dir, "whole.pcap")
	writePcap(t, pcap, linkEthernet, all)
	plain, err := os.ReadFile(pcap)
	if err != nil {
		t.Fatal(err)
	}
	ng := filepath.Join(dir, "whole.pcapng")
	writePcapng(t, ng, binary.LittleEndian, []ngInterface{{linkType: linkEthernet, name: "whole"}}, all)
	ngBytes, err := os.ReadFile(ng)
	if err != nil {
		t.Fatal(err)
	}
	gz := filepath.Join(dir, "whole.pcap.gz")
	if err := os.WriteFile(gz, mfGzip(t, plain), 0o600); err != nil {
		t.Fatal(err)
	}
	gzBytes, _ := os.ReadFile(gz)

	for _, tc := range []struct {
		name    string
		path    string
		content []byte
	}{
		{"pcap", pcap, plain},
		{"gzip", gz, gzBytes},
		{"pcapng", ng, ngBytes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dsFile := filepath.Join(t.TempDir(), "ds")
			mfMustRun(t, nil, "-o", dsFile, "--pcap", tc.path)
			mFile := readManifest(t, dsFile)
			fileRows := readRows(t, dsFile, mFile)

			ds := filepath.Join(t.TempDir(), "ds")
			mfMustRun(t, tc.content, "-o", ds, "-r", "-")
			m := readManifest(t, ds)
			rows := readRows(t, ds, m)
			if len(rows) != len(whole.recorded) || len(rows) != len(fileRows) {
				t.Fatalf("standard input gave %d rows, the file %d; want %d", len(rows), len(fileRows), len(whole.recorded))
			}
			for i := range rows {
				x, y := rows[i], fileRows[i]
				if tc.name != "pcapng" && x.iface == "" {
					t.Errorf("stdin row %d has no iface", i)
				}
				x.iface, y.iface = "", "" // the file's base name, or what names standard input
				if x != y {
					t.Fatalf("row %d differs:\nstdin %+v\nfile  %+v", i, rows[i], fileRows[i])
				}
			}
			sum := sha256.Sum256(tc.content)
			want := dataset.PcapInfo{Path: "-", Bytes: int64(len(tc.content)), Frames: int64(len(all)), ShortFrames: 1,
				SHA256: hex.EncodeToString(sum[:])}
			if m.Pcap != "-" || len(m.PcapFiles) != 1 || m.PcapInfo == nil {
				t.Fatalf("manifest: pcap %q, %d pcap_files, pcap_file %v; want \"-\", 1, one", m.Pcap, len(m.PcapFiles), m.PcapInfo)
			}
			if got := mfInfoString(m.PcapFiles[0]); got != mfInfoString(want) {
				t.Errorf("pcap_files[0]\n got %s\nwant %s", got, mfInfoString(want))
			}
			if got := mfInfoString(*m.PcapInfo); got != mfInfoString(want) {
				t.Errorf("pcap_file\n got %s\nwant %s", got, mfInfoString(want))
			}
			if mFile.PcapInfo.SHA256 != want.SHA256 {
				t.Errorf("the file's run recorded sha256 %s, standard input's %s", mFile.PcapInfo.SHA256, want.SHA256)
			}

			// The SHA-256 standard input recorded refuses the file later.
			before := mfSnapshot(t, ds)
			code, out := mfTacap(t, nil, "-o", ds, "--pcap", tc.path)
			if code != 1 || !strings.Contains(out, "already replayed into this dataset") {
				t.Errorf("--pcap of the file standard input replayed: exit %d, want 1 saying \"already replayed into this dataset\"\n%s", code, out)
			}
			if after := mfSnapshot(t, ds); !reflect.DeepEqual(before, after) {
				t.Errorf("the refused run changed the dataset: %d files before, %d after", len(before), len(after))
			}
		})
	}
}

// TestMultiFileDuplicate: a file the dataset already holds (by SHA-256:
// the same file, a copy under another name, one among new ones) is
// refused before anything is loaded — exit 1, the reason and the remedy,
// no new run, the dataset untouched; --allow-duplicate replays it.
func TestMultiFileDuplicate(t *testing.T) {
	testenv.Privileged(t)
	dir := t.TempDir()
	files := mfFiles()
	mfWrite(t, dir, files)
	a, b := filepath.Join(dir, "a.pcap"), filepath.Join(dir, "b.pcap")
	other := t.TempDir()
	cp := filepath.Join(other, "renamed.cap")
	content, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cp, content, 0o600); err != nil {
		t.Fatal(err)
	}

	ds := filepath.Join(t.TempDir(), "ds")
	mfMustRun(t, nil, "-o", ds, "--pcap", a)
	first := readManifest(t, ds)
	if len(first.PcapFiles) != 1 || first.PcapFiles[0].SHA256 != mfSHA256(t, a) || first.PcapInfo.SHA256 != mfSHA256(t, a) {
		t.Fatalf("first run: pcap_files %+v, pcap_file %+v; want a.pcap's sha256 %s", first.PcapFiles, first.PcapInfo, mfSHA256(t, a))
	}
	before := mfSnapshot(t, ds)

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"the same file again", []string{"--pcap", a}},
		{"a copy under another name", []string{"--pcap", cp}},
		{"one of several", []string{"--pcap", b, "--pcap", a}},
		{"its folder", []string{"--pcap", dir}},
		{"the copy and a new file, name order", []string{"--pcap-order", "name", "--pcap", b, "--pcap", cp}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := mfTacap(t, nil, append([]string{"-o", ds}, tc.args...)...)
			if code != 1 {
				t.Errorf("exit %d, want 1\n%s", code, out)
			}
			for _, w := range []string{"already replayed into this dataset", "--allow-duplicate", first.RunID} {
				if !strings.Contains(out, w) {
					t.Errorf("the message does not say %q:\n%s", w, out)
				}
			}
			if after := mfSnapshot(t, ds); !reflect.DeepEqual(before, after) {
				t.Errorf("the refused run changed the dataset: %d files before, %d after", len(before), len(after))
			}
		})
	}

	// --allow-duplicate: a second run over the copy, its rows those of a.pcap.
	mfMustRun(t, nil, "-o", ds, "--pcap", cp, "--allow-duplicate")
	ms := mfManifests(t, ds)
	if len(ms) != 2 {
		t.Fatalf("%d runs after --allow-duplicate, want 2", len(ms))
	}
	var second dataset.Manifest
	for _, m := range ms {
		if m.RunID != first.RunID {
			second = m
		}
	}
	mfCheckManifest(t, second, []string{cp}, []*mfFile{files["a.pcap"]})
	files["a.pcap"].name = "renamed.cap" // the rows carry the copy's name
	mfCheckRows(t, ds, second, []*mfFile{files["a.pcap"]})
}

// TestMultiFileSameContent: two files of one command with the same bytes
// are refused ("given twice", exit 1, nothing written) unless
// --allow-duplicate, which reads both.
func TestMultiFileSameContent(t *testing.T) {
	testenv.Privileged(t)
	dir := t.TempDir()
	files := mfFiles()
	mfWrite(t, dir, files)
	a := filepath.Join(dir, "a.pcap")
	cp := filepath.Join(dir, "a-copy.pcap")
	content, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cp, content, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--pcap", a, "--pcap", cp}, {"--pcap", filepath.Join(dir, "a*.pcap")}} {
		ds := filepath.Join(t.TempDir(), "ds")
		code, out := mfTacap(t, nil, append([]string{"-o", ds}, args...)...)
		if code != 1 || !strings.Contains(out, "given twice") || !strings.Contains(out, "--allow-duplicate") {
			t.Errorf("%q: exit %d, want 1 saying \"given twice\" and \"--allow-duplicate\"\n%s", args, code, out)
		}
		if ms := mfManifests(t, ds); len(ms) != 0 {
			t.Errorf("%q: the refused command left %d runs", args, len(ms))
		}
	}
	ds := filepath.Join(t.TempDir(), "ds")
	mfMustRun(t, nil, "-o", ds, "--pcap", a, "--pcap", cp, "--allow-duplicate")
	m := readManifest(t, ds)
	if len(m.PcapFiles) != 2 || m.PcapFiles[0].Path != cp || m.PcapFiles[1].Path != a ||
		m.PcapFiles[0].SHA256 != m.PcapFiles[1].SHA256 || m.PcapFiles[0].SHA256 != mfSHA256(t, a) {
		t.Fatalf("--allow-duplicate: pcap_files %+v; want a-copy.pcap then a.pcap (a tie in time goes by path), both with sha256 %s",
			m.PcapFiles, mfSHA256(t, a))
	}
	if want := 2 * len(files["a.pcap"].recorded); m.RowsWritten != int64(want) {
		t.Fatalf("--allow-duplicate: %d rows, want %d (both files)", m.RowsWritten, want)
	}
}

// TestMultiFileUsageErrors: mistakes in the capture-file arguments are
// usage errors (exit 2) and leave no dataset.
func TestMultiFileUsageErrors(t *testing.T) {
	testenv.Privileged(t)
	dir := t.TempDir()
	mfWrite(t, dir, mfFiles())
	a := filepath.Join(dir, "a.pcap")
	empty := filepath.Join(t.TempDir(), "nocaps")
	if err := os.MkdirAll(filepath.Join(empty, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	writePcap(t, filepath.Join(empty, ".hidden.pcap"), linkEthernet, mfFiles()["a.pcap"].frames)
	writePcap(t, filepath.Join(empty, "sub", "deeper.pcap"), linkEthernet, mfFiles()["a.pcap"].frames)
	if err := os.WriteFile(filepath.Join(empty, "notes.txt"), []byte("no capture\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		says string
	}{
		{"a glob matching nothing", []string{"--pcap", filepath.Join(dir, "*.nothing")}, "matches no file"},
		{"a glob matching nothing after a file", []string{"--pcap", a, "--pcap", filepath.Join(dir, "z*.pcap")}, "matches no file"},
		{"a folder without capture files", []string{"--pcap", empty}, "no capture file"},
		{"- with a file after it", []string{"--pcap", "-", "--pcap", a}, "only"},
		{"- with a file before it", []string{"-r", a, "-r", "-"}, "only"},
		{"- with a folder", []string{"-r", "-", "-r", dir}, "only"},
		{"a bad --pcap-order", []string{"--pcap", a, "--pcap-order", "size"}, "pcap-order"},
		{"--pcap-order without --pcap", []string{"--pcap-order", "name"}, "pcap"},
		{"--pcap-order with --iface", []string{"--iface", "lo", "--pcap-order", "time"}, "pcap-order"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds := filepath.Join(t.TempDir(), "ds")
			code, out := mfTacap(t, nil, append([]string{"-o", ds}, tc.args...)...)
			if code != 2 || !strings.Contains(out, tc.says) {
				t.Errorf("exit %d, want 2 (a usage error) saying %q\n%s", code, tc.says, out)
			}
			if _, err := os.Stat(ds); err == nil {
				t.Errorf("a usage error left the dataset folder %s", ds)
			}
		})
	}
}
