package test

import (
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/tacap/tacap/report"
	"github.com/tacap/tacap/test/oracle"
	"github.com/tacap/tacap/test/testenv"
)

// reportExpect is what `tacap report` must conclude about each shared
// capture replayed with tacap's default sampling: the attack captures fire
// their indicators (of these kinds, in any order), the ordinary ones fire
// none.
var reportExpect = map[string][]string{
	"attack/CIC-DDoS-2019-SynFlood.pcap":             {"syn_flood", "port_scan"}, // one source, random destination ports
	"attack/CIC-DDoS-2019-WebDDoS.pcap":              {"connection_flood"},       // 145 completed connections to port 80
	"attack/amp.TCP.reflection.SYNACK.pcap":          {"tcp_reflection", "many_to_one"},
	"attack/amp.UDP.snmp.src161.pcapng":              {"amplification", "many_to_one"},
	"attack/amp.dns.RRSIG.fragmented.pcap":           {"amplification"},
	"attack/pkt.TCP.DOMINATE.syn.ecn.cwr.pcapng":     {"syn_flood", "many_to_one"},
	"attack/rsmurf6.pcap":                            {"icmp_flood"},
	"normal/5-pings.pcap":                            nil,
	"normal/quic_win11_firefox_google.pcap":          nil,
	"normal/sv_base64-decode-5885_browsing_tls.pcap": nil,
	"normal/sv_output-eve-ftp-data.pcap":             nil,
	"normal/wikipedia.pcap":                          nil,
}

// TestReportOnSharedCaptures replays every attack and ordinary shared
// capture with default sampling, runs `tacap report` on the dataset in
// every format, checks which indicators fire, and checks the report's
// figures against the same dataset read with arrow-go (an independent
// Parquet reader) and added up here in the plainest way.
func TestReportOnSharedCaptures(t *testing.T) {
	testenv.Privileged(t)
	shared := testenv.SharedDir(t)
	tacap, _ := binaries(t)
	var names []string
	for n := range reportExpect {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			ds := filepath.Join(t.TempDir(), "ds")
			if out, err := exec.Command(tacap, "capture", "--pcap", filepath.Join(shared, "pcaps", name), "-o", ds, "--no-csv", "-q").CombinedOutput(); err != nil {
				t.Fatalf("tacap capture: %v\n%s", err, out)
			}
			for _, format := range []string{"table", "markdown"} {
				out, err := exec.Command(tacap, "report", "--format", format, ds).CombinedOutput()
				if err != nil || !strings.Contains(strings.ToLower(string(out)), "attack indicators") {
					t.Fatalf("tacap report --format %s: %v\n%s", format, err, out)
				}
			}
			r := reportJSON(t, tacap, ds)
			// The kinds that fired, in any order: the report lists the
			// highest scores first.
			var kinds []string
			for _, in := range r.Indicators {
				if !slices.Contains(kinds, in.Kind) {
					kinds = append(kinds, in.Kind)
				}
			}
			slices.Sort(kinds)
			if want := slices.Sorted(slices.Values(reportExpect[name])); !slices.Equal(kinds, want) {
				var detail []string
				for _, in := range r.Indicators {
					detail = append(detail, in.Kind+": "+in.Summary)
				}
				t.Errorf("indicators %v, want %v:\n%s", kinds, want, strings.Join(detail, "\n"))
			}
			checkAgainstArrow(t, ds, &r)
		})
	}
}

// checkAgainstArrow recomputes the report's totals, breakdowns, TCP flag
// counts and top talkers from rows read with arrow-go.
func checkAgainstArrow(t *testing.T, ds string, r *report.Report) {
	t.Helper()
	m := readManifest(t, ds)
	rows := readRows(t, ds, m)
	type tally struct{ records, packets, bytes uint64 }
	var total tally
	byProto := map[string]*tally{}
	byDir := map[string]*tally{}
	src, dst := map[string]uint64{}, map[string]uint64{}
	var syn, synack, rst, fin uint64
	for _, row := range rows {
		f := row.f
		segs := uint64(max(row.gso, 1))
		b := uint64(f.IPLen)
		if segs > 1 {
			hdr := uint64(f.IPLen)
			switch f.Protocol {
			case 6:
				hdr -= uint64(f.TCPPayloadLen)
			case 17:
				hdr -= uint64(f.UDPPayloadLen)
			}
			b += (segs - 1) * hdr
		}
		name := map[uint8]string{6: "TCP", 17: "UDP", 1: "ICMP", 58: "ICMPv6"}[f.Protocol]
		key := map[uint8]string{4: "IPv4/", 6: "IPv6/"}[f.IPVersion] + name
		for _, tl := range []*tally{&total, get(byProto, key), get(byDir, row.dir)} {
			tl.records++
			tl.packets += segs
			tl.bytes += b
		}
		src[f.Src.String()]++
		dst[f.Dst.String()]++
		if f.Protocol == 6 {
			switch f.TCPFlags & 0x12 {
			case 0x02:
				syn++
			case 0x12:
				synack++
			}
			if f.TCPFlags&0x04 != 0 {
				rst++
			}
			if f.TCPFlags&0x01 != 0 {
				fin++
			}
		}
	}
	check := func(what string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s: report %v, arrow-go %v", what, got, want)
		}
	}
	check("records", r.Traffic.Records, total.records)
	check("packets", r.Traffic.Packets, total.packets)
	check("bytes", r.Traffic.Bytes, total.bytes)
	check("records = manifest recorded", r.Traffic.Records, m.Counters.Recorded)
	check("seen", r.Accounting.Seen, m.Counters.Seen)
	check("protocols", len(r.Traffic.ByProtocol), len(byProto))
	for _, b := range r.Traffic.ByProtocol {
		w := get(byProto, b.Key)
		check(b.Key, [3]uint64{b.Records, b.Packets, b.Bytes}, [3]uint64{w.records, w.packets, w.bytes})
	}
	check("directions", len(r.Traffic.ByDirection), len(byDir))
	for _, b := range r.Traffic.ByDirection {
		w := get(byDir, b.Key)
		check(b.Key, [3]uint64{b.Records, b.Packets, b.Bytes}, [3]uint64{w.records, w.packets, w.bytes})
	}
	check("SYN", r.TCP.SYN, syn)
	check("SYN-ACK", r.TCP.SYNACK, synack)
	check("RST", r.TCP.RST, rst)
	check("FIN", r.TCP.FIN, fin)
	topCheck := func(what string, list []report.Talker, counts map[string]uint64) {
		t.Helper()
		want := make([]uint64, 0, len(counts))
		for _, n := range counts {
			want = append(want, n)
		}
		sort.Slice(want, func(i, j int) bool { return want[i] > want[j] })
		check(what+" listed", len(list), min(r.Top.N, len(want)))
		for i, x := range list {
			check(what+" "+x.IP, x.Records, counts[x.IP])
			check(what+" rank", x.Records, want[i])
		}
	}
	topCheck("source", r.Top.Sources, src)
	topCheck("destination", r.Top.Destinations, dst)
	checkIndicatorSources(t, rows, r)
}

// checkIndicatorSources: each indicator's distinct_sources counts the
// senders of the traffic it is about, as arrow-go's rows say.
func checkIndicatorSources(t *testing.T, rows []row, r *report.Report) {
	t.Helper()
	about := map[string]func(f oracle.Fields) bool{
		"syn_flood":      func(f oracle.Fields) bool { return f.Protocol == 6 && f.TCPFlags&0x12 == 0x02 },
		"tcp_reflection": func(f oracle.Fields) bool { return f.Protocol == 6 && f.TCPFlags&0x12 == 0x12 },
		"udp_flood":      func(f oracle.Fields) bool { return f.Protocol == 17 },
		"icmp_flood":     func(f oracle.Fields) bool { return f.Protocol == 1 || f.Protocol == 58 },
		"many_to_one":    func(oracle.Fields) bool { return true },
	}
	for _, in := range r.Indicators {
		match, ok := about[in.Kind]
		if !ok {
			continue
		}
		senders := map[string]bool{}
		for _, row := range rows {
			if row.f.Dst.String() == in.Target && match(row.f) {
				senders[row.f.Src.String()] = true
			}
		}
		for _, e := range in.Evidence {
			if e.Name == "distinct_sources" && int(e.Value) != len(senders) {
				t.Errorf("%s %s: distinct_sources %v, arrow-go's rows have %d senders of that traffic", in.Kind, in.Target, e.Value, len(senders))
			}
		}
	}
}

func get[T any](m map[string]*T, k string) *T {
	if m[k] == nil {
		m[k] = new(T)
	}
	return m[k]
}
