// Package tshark decodes capture files with Wireshark's tshark, the
// independent dissector the dataset contract names (docs/dataset.md,
// "packets/"), and returns each frame's contract columns.
package tshark

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"

	"github.com/tacap/tacap/test/oracle"
)

// Frame is one frame as tshark decodes it.
type Frame struct {
	Number     int
	TimeNs     int64 // frame.time_epoch in nanoseconds
	Recordable bool  // an IPv4/IPv6 packet whose protocol is TCP, UDP, ICMP or ICMPv6
	Why        string
	Fields     oracle.Fields
}

var fields = []string{
	"frame.number", "frame.time_epoch", "frame.protocols", "frame.len",
	"vlan.id", "ip.version", "ip.src", "ip.dst", "ip.len", "ip.flags", "ip.frag_offset", "ip.ttl", "ip.proto", "ip.hdr_len", "ip.cur_rt",
	"ipv6.src", "ipv6.dst", "ipv6.plen", "ipv6.hlim", "ipv6.fraghdr.offset", "ipv6.fraghdr.more", "ipv6.fraghdr.nxt",
	"tcp.srcport", "tcp.dstport", "tcp.len", "tcp.hdr_len", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags", "tcp.window_size_value",
	"udp.srcport", "udp.dstport", "udp.length", "icmp.type", "icmp.code", "icmpv6.type", "icmpv6.code",
}

// Available reports whether tshark can be run.
func Available() bool {
	_, err := exec.LookPath("tshark")
	return err == nil
}

// Decode runs tshark over path.
func Decode(path string) ([]Frame, error) {
	args := []string{"-r", path, "-n", "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
		"-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=|"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	cmd := exec.Command("tshark", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("tshark %s: %v: %s", path, err, stderr.String())
	}
	var frames []Frame
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) != len(fields) {
			return nil, fmt.Errorf("tshark line with %d fields, want %d: %q", len(cols), len(fields), sc.Text())
		}
		v := map[string][]string{}
		for i, f := range fields {
			if cols[i] != "" {
				v[f] = strings.Split(cols[i], "|")
			}
		}
		frames = append(frames, frame(v))
	}
	return frames, sc.Err()
}

func first(v map[string][]string, k string) string {
	if s := v[k]; len(s) > 0 {
		return s[0]
	}
	return ""
}

func last(v map[string][]string, k string) string {
	if s := v[k]; len(s) > 0 {
		return s[len(s)-1]
	}
	return ""
}

func num(s string) uint64 {
	if s == "" {
		return 0
	}
	n, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		if s == "True" {
			return 1
		}
		return 0
	}
	return n
}

// epochNs parses "1632239124.430031000" exactly.
func epochNs(s string) int64 {
	sec, frac, _ := strings.Cut(s, ".")
	ns := int64(num(sec)) * 1e9
	frac = (frac + "000000000")[:9]
	return ns + int64(num(strings.TrimLeft(frac, "0")))
}

func frame(v map[string][]string) Frame {
	f := Frame{Number: int(num(first(v, "frame.number"))), TimeNs: epochNs(first(v, "frame.time_epoch"))}
	protos := strings.Split(first(v, "frame.protocols"), ":")
	// The outermost IP layer and what follows it.
	ipAt := -1
	for i, p := range protos {
		if p == "ip" || p == "ipv6" {
			ipAt = i
			break
		}
	}
	if ipAt < 0 {
		f.Why = "not ip"
		return f
	}
	fl := &f.Fields
	fl.VlanID = uint16(num(last(v, "vlan.id")))
	nonFirst := false
	if protos[ipAt] == "ip" {
		fl.IPVersion = 4
		fl.Src, _ = netip.ParseAddr(first(v, "ip.src"))
		fl.Dst, _ = netip.ParseAddr(first(v, "ip.dst"))
		if rt := first(v, "ip.cur_rt"); rt != "" {
			// Source-routed: Wireshark shows the route's final hop as ip.dst;
			// the header's own destination field is ip.cur_rt.
			fl.Dst, _ = netip.ParseAddr(rt)
		}
		fl.IPLen = uint32(num(first(v, "ip.len")))
		fl.TTL = uint8(num(first(v, "ip.ttl")))
		fl.Protocol = uint8(num(first(v, "ip.proto")))
		frag := num(first(v, "ip.frag_offset"))
		fl.IPFlagsFrag = uint16(num(first(v, "ip.flags"))<<13 | frag)
		nonFirst = frag != 0
	} else {
		fl.IPVersion = 6
		fl.Src, _ = netip.ParseAddr(first(v, "ipv6.src"))
		fl.Dst, _ = netip.ParseAddr(first(v, "ipv6.dst"))
		fl.IPLen = uint32(num(first(v, "ipv6.plen"))) + 40
		fl.TTL = uint8(num(first(v, "ipv6.hlim")))
		if off := first(v, "ipv6.fraghdr.offset"); off != "" {
			fl.IPFlagsFrag = uint16(num(off)<<3 | num(first(v, "ipv6.fraghdr.more")))
			nonFirst = num(off) != 0
		}
		// The protocol is the layer after the extension headers.
		next := ""
		for _, p := range protos[ipAt+1:] {
			if !strings.HasPrefix(p, "ipv6.") {
				next = p
				break
			}
		}
		switch {
		case nonFirst:
			fl.Protocol = uint8(num(first(v, "ipv6.fraghdr.nxt")))
		case next == "tcp":
			fl.Protocol = 6
		case next == "udp":
			fl.Protocol = 17
		case next == "icmpv6":
			fl.Protocol = 58
		default:
			f.Why = "ipv6 payload " + next
			return f
		}
	}
	switch fl.Protocol {
	case 6, 17, 1, 58:
	default:
		f.Why = fmt.Sprintf("ip protocol %d", fl.Protocol)
		return f
	}
	f.Recordable = true
	if nonFirst {
		return f
	}
	// First occurrences: the outer packet's own L4 header (an ICMP error's
	// quoted packet comes later in the frame).
	switch fl.Protocol {
	case 6:
		if first(v, "tcp.srcport") == "" {
			f.Recordable, f.Why = false, "no tcp header"
			return f
		}
		fl.SrcPort, fl.DstPort = uint16(num(first(v, "tcp.srcport"))), uint16(num(first(v, "tcp.dstport")))
		fl.TCPPayloadLen = uint32(num(first(v, "tcp.len")))
		if fl.IPVersion == 4 && fl.IPFlagsFrag&0x2000 != 0 {
			// A first fragment: Wireshark counts no segment data without
			// reassembly; the contract's formula is over the IP packet.
			fl.TCPPayloadLen = fl.IPLen - uint32(num(first(v, "ip.hdr_len"))) - uint32(num(first(v, "tcp.hdr_len")))
		}
		fl.TCPSeq, fl.TCPAck = uint32(num(first(v, "tcp.seq_raw"))), uint32(num(first(v, "tcp.ack_raw")))
		fl.TCPFlags = uint8(num(first(v, "tcp.flags")))
		fl.TCPWindow = uint16(num(first(v, "tcp.window_size_value")))
	case 17:
		if first(v, "udp.srcport") == "" {
			f.Recordable, f.Why = false, "no udp header"
			return f
		}
		fl.SrcPort, fl.DstPort = uint16(num(first(v, "udp.srcport"))), uint16(num(first(v, "udp.dstport")))
		fl.UDPPayloadLen = uint16(num(first(v, "udp.length")) - 8)
	case 1:
		fl.ICMPType, fl.ICMPCode = uint8(num(first(v, "icmp.type"))), uint8(num(first(v, "icmp.code")))
	case 58:
		fl.ICMPType, fl.ICMPCode = uint8(num(first(v, "icmpv6.type"))), uint8(num(first(v, "icmpv6.code")))
	}
	return f
}
