package bpf_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/capture/pcapfile"
	"github.com/tacap/tacap/test/testenv"
)

// filterOracle are the expressions checked against tcpdump on every shared
// capture. $SRC4/$DST4 and $SRC6/$DST6 become the addresses of the first
// IPv4 and IPv6 packet tacap records from the capture ($MAC: the first
// frame's source MAC), so that host tests match something in each file.
var filterOracle = []string{
	"tcp", "udp", "icmp", "icmp6", "ip", "ip6", "not tcp", "tcp or udp", "!udp && !tcp",
	"port 53", "not port 53", "src port 53", "dst port 80", "tcp port 80", "udp port 53 or udp port 161",
	"port 80 or 443 or 53", "portrange 1-1023", "tcp dst portrange 1024-65535", "src or dst port 443",
	"host $SRC4", "src host $SRC4", "dst host $DST4", "$SRC4", "host $SRC4 and not host $DST4",
	"src $SRC4 and dst $DST4", "host $SRC6", "src host $SRC6 or dst host $DST6", "ip6 host $DST6",
	"net 192.168.0.0/16", "src net 10/8", "dst net 172.16.0.0 mask 255.240.0.0", "net 192.168",
	"net fe80::/10", "ip6 net 2000::/3", "not net 192.168.0.0/16 and not net 10.0.0.0/8",
	"tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", "tcp[tcpflags] & tcp-syn != 0", "tcp[13] = 0x12",
	"tcp[tcpflags] & (tcp-fin|tcp-rst) != 0", "tcp[tcpflags] & (tcp-ece|tcp-cwr) != 0",
	"ip[0] & 0xf > 5", "ip[8] < 64", "ip[6:2] & 0x3fff != 0", "ip[6:2] & 0x1fff != 0", "ip6[6] = 44",
	"icmp[icmptype] == icmp-echo or icmp[icmptype] == icmp-echoreply", "icmp6[icmp6type] == icmp6-echo",
	"icmp6 and ip6[40] == 135", "len > 1000", "greater 1000", "less 100", "len - 14 > 576",
	"tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420",
	"(ip[2:2] - ((ip[0]&0xf)<<2)) - ((tcp[12]&0xf0)>>2) != 0", "udp[4:2] > 512", "udp[8:2] = 0",
	"vlan", "vlan and ip", "vlan and vlan", "vlan and vlan and vlan and ip", "not vlan", "vlan 100 or vlan 200",
	"ip proto 17", "ip6 proto 58", "proto \\udp", "ip proto \\tcp", "ether proto 0x86dd", "ether proto \\ip",
	"ip multicast", "ip6 multicast", "ether broadcast", "ether multicast", "ether src $MAC", "ether host $MAC",
	"(tcp or udp) and not (port 53 or port 80)", "! (udp and port 53)", "tcp && src portrange 0-1023 || icmp",
	"ip and udp and ip[6:2] & 0x2000 != 0", "ip6 and (udp or tcp)", "tcp[0:2] > 1023 and tcp[2:2] < 1024",
	"ip[1] & 0xfc != 0", "ip[1] & 3 = 3", "tcp[12] >> 4 > 5", "tcp[14:2] = 0", "ip[2:2] / 2 > 300",
	"ip[2:2] * 2 < 200", "ip[9] ^ 6 = 0", "tcp[13] << 1 > 4", "ip[2:2] >> (ip[0] & 0xf) > 10",
	"ip[2:2] / (ip[8] - 64) > 0", "ip[2:2] % 7 = 3", "ip[8] - 1 < 63", "ip[2:2] + tcp[0] = 5", "ip[12:4] = ip[16:4]",
	"udp and (ip[6:2] & 0x1fff) = 0 and udp[0:2] = 53", "ip6[8:4] = 0xfe800000", "ip6[24:4] & 0xff000000 = 0xff000000",
	"src net 192.168.0.0/16 or 10.0.0.0/8", "port http or domain", "udp port domain", "port https", "portrange 1-100 or 400-500",
	"ip[2:2] % 7 - 1 = 2", "ip[8] + ip[9] ^ 6 = 70", "host $SRC4 and (port 80) or $DST4", "ether proto 0x8100",
	"vlan and ether proto 0x8100",
}

type oracleCapture struct {
	name, path string
	frames     []bpf.ReplayFrame
	vars       map[string]string // $SRC4 ... for this capture
	base       []uint64          // times of the frames tacap records without a filter
	link       uint16
}

func readFrames(t *testing.T, path string) ([]bpf.ReplayFrame, uint16) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapfile.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []bpf.ReplayFrame
	var link uint16
	for {
		fr, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, link
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		link = fr.LinkType
		if !fr.Supported || fr.Short || len(fr.Data) < bpf.MinFrameLen {
			continue
		}
		out = append(out, bpf.ReplayFrame{Data: bytes.Clone(fr.Data), TimeNs: uint64(fr.TimeNs), WireLen: fr.WireLen, LenDelta: fr.LenDelta, Direction: fr.Direction})
	}
}

// replayTimes replays frames and returns the times of the records, sorted.
func replayTimes(t *testing.T, o *bpf.Objects, frames []bpf.ReplayFrame) ([]uint64, []bpf.Record, bpf.Counters) {
	t.Helper()
	if err := o.Reset(); err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		if err := o.QueueReplay(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.FlushReplay(); err != nil {
		t.Fatal(err)
	}
	recs := drain(o)
	ts := make([]uint64, len(recs))
	for i := range recs {
		ts[i] = recs[i].TsNs
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	return ts, recs, counters(t, o)
}

func loadFiltered(t *testing.T, expr string) *bpf.Objects {
	t.Helper()
	opts := bpf.DefaultOptions()
	opts.PacketsPerSession = 0
	opts.Sessions = 1 << 15 // more than any shared capture has sessions
	opts.BufferPackets = 1 << 15
	opts.Flows = 1 << 15
	opts.Programs = bpf.ProgramsReplayBatch
	if expr != "" {
		p, err := bpf.CompileFilter(expr)
		if err != nil {
			t.Fatalf("compile %q: %v", expr, err)
		}
		opts.Filter = p
	}
	return load(t, opts)
}

// tcpdumpTimes returns the times of the frames `tcpdump -r path expr`
// selects, sorted, or an error when tcpdump refuses the expression for
// this file (a link type it cannot apply it to).
func tcpdumpTimes(tcpdump, path, expr string) ([]uint64, error) {
	cmd := exec.Command(tcpdump, "-r", path, "--time-stamp-precision=nano", "-w", "-", expr)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	r, err := pcapfile.NewReader(bytes.NewReader(out))
	if err != nil {
		return nil, fmt.Errorf("read tcpdump's output: %w", err)
	}
	var ts []uint64
	for {
		fr, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read tcpdump's output: %w", err)
		}
		ts = append(ts, uint64(fr.TimeNs))
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	return ts, nil
}

// intersect is the multiset intersection of two sorted lists.
func intersect(a, b []uint64) []uint64 {
	var out []uint64
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

func captureVars(recs []bpf.Record, frames []bpf.ReplayFrame) map[string]string {
	vars := map[string]string{}
	for i := range recs {
		r := &recs[i]
		if r.IpVersion == 4 && vars["$SRC4"] == "" {
			vars["$SRC4"] = netip.AddrFrom4([4]byte(r.SrcAddr[:4])).String()
			vars["$DST4"] = netip.AddrFrom4([4]byte(r.DstAddr[:4])).String()
		}
		if r.IpVersion == 6 && vars["$SRC6"] == "" {
			vars["$SRC6"] = netip.AddrFrom16(r.SrcAddr).String()
			vars["$DST6"] = netip.AddrFrom16(r.DstAddr).String()
		}
	}
	if len(frames) > 0 {
		m := frames[0].Data[6:12]
		vars["$MAC"] = fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
	}
	return vars
}

// instantiate fills in a capture's variables, or says the capture has none
// of one the expression needs.
func instantiate(expr string, vars map[string]string) (string, bool) {
	for _, v := range []string{"$SRC4", "$DST4", "$SRC6", "$DST6", "$MAC"} {
		if strings.Contains(expr, v) {
			if vars[v] == "" {
				return "", false
			}
			expr = strings.ReplaceAll(expr, v, vars[v])
		}
	}
	return expr, true
}

// TestFilterAgainstTcpdump: for every shared capture and every expression
// of filterOracle, with quotas off, the packets tacap records with the
// filter are exactly those it records without one that tcpdump -r selects
// with the same expression (matched by time), and the others are counted
// filtered.
func TestFilterAgainstTcpdump(t *testing.T) {
	dir := testenv.SharedDir(t)
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		testenv.Unavailable(t, "tcpdump is not installed (the filter oracle)")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "pcaps", "*", "*.pcap*"))
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatalf("no captures under %s/pcaps", dir)
	}
	base := loadFiltered(t, "")
	var caps []*oracleCapture
	for _, path := range files {
		c := &oracleCapture{name: filepath.Base(filepath.Dir(path)) + "/" + filepath.Base(path), path: path}
		c.frames, c.link = readFrames(t, path)
		var recs []bpf.Record
		c.base, recs, _ = replayTimes(t, base, c.frames)
		c.vars = captureVars(recs, c.frames)
		caps = append(caps, c)
	}
	loaded := map[string]*bpf.Objects{}
	objsFor := func(t *testing.T, expr string) *bpf.Objects {
		if o, ok := loaded[expr]; ok {
			return o
		}
		o := loadFiltered(t, expr)
		loaded[expr] = o
		return o
	}
	checked, refused := 0, 0
	for _, tmpl := range filterOracle {
		t.Run(tmpl, func(t *testing.T) {
			matchedSome := false
			for _, c := range caps {
				expr, ok := instantiate(tmpl, c.vars)
				if !ok {
					continue
				}
				want, err := tcpdumpTimes(tcpdump, c.path, expr)
				if err != nil {
					refused++
					t.Logf("%s: tcpdump refuses %q: %v", c.name, expr, err)
					continue
				}
				want = intersect(c.base, want)
				got, _, cnt := replayTimes(t, objsFor(t, expr), c.frames)
				checked++
				if len(want) > 0 {
					matchedSome = true
				}
				if cnt.Filtered != uint64(len(c.base)-len(got)) {
					t.Errorf("%s: %q: filtered %d, want %d (recordable without the filter) − %d (recorded)", c.name, expr, cnt.Filtered, len(c.base), len(got))
				}
				if !equalU64(got, want) {
					t.Errorf("%s: %q: tacap recorded %d packets, tcpdump selects %d of the %d tacap records without a filter; first difference %s",
						c.name, expr, len(got), len(want), len(c.base), firstDiff(got, want))
				}
			}
			if !matchedSome {
				t.Logf("no capture has a packet that matches %q", tmpl)
			}
		})
	}
	t.Logf("%d expressions, %d (expression, capture) pairs checked, %d refused by tcpdump for the capture's link type", len(filterOracle), checked, refused)
	for _, o := range loaded {
		o.Close()
	}
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func firstDiff(got, want []uint64) string {
	onlyGot, onlyWant := difference(got, want), difference(want, got)
	switch {
	case len(onlyGot) > 0:
		return fmt.Sprintf("tacap recorded the packet at %d ns (and %d more) that tcpdump does not select", onlyGot[0], len(onlyGot)-1)
	case len(onlyWant) > 0:
		return fmt.Sprintf("tacap filtered out the packet at %d ns (and %d more) that tcpdump selects", onlyWant[0], len(onlyWant)-1)
	}
	return "none"
}

// difference is a − b for sorted multisets.
func difference(a, b []uint64) []uint64 {
	var out []uint64
	j := 0
	for _, x := range a {
		for j < len(b) && b[j] < x {
			j++
		}
		if j < len(b) && b[j] == x {
			j++
			continue
		}
		out = append(out, x)
	}
	return out
}
