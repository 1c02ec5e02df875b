// Package dataset is what a tacap dataset is: the packet and session columns,
// the folder layout, the run manifest and the counters with their sum rule,
// as docs/dataset.md defines them. capture writes it and report reads it;
// it imports nothing of the kernel, the file system or Parquet, so every
// reader of datasets can use it without linking eBPF code.
package dataset

import (
	"strconv"
	"strings"
	"time"
)

// Packet is one row of packets/ and of a per-flow CSV, in the order of
// docs/dataset.md.
// Types read in Spark 3.x, pyarrow, DuckDB and Polars without options: no
// unsigned or nanosecond annotations.
type Packet struct {
	Ts            int64  `parquet:"ts,timestamp(microsecond)"` // microseconds since the epoch, UTC
	TsNs          int64  `parquet:"ts_ns"`
	Iface         string `parquet:"iface,dict"`
	Direction     string `parquet:"direction,dict"`
	VlanID        int32  `parquet:"vlan_id"`
	IPVersion     int32  `parquet:"ip_version"`
	SrcIP         string `parquet:"src_ip,dict"`
	DstIP         string `parquet:"dst_ip,dict"`
	Protocol      int32  `parquet:"protocol"`
	SrcPort       int32  `parquet:"src_port"`
	DstPort       int32  `parquet:"dst_port"`
	IPLen         int32  `parquet:"ip_len"`
	GSOSegs       int32  `parquet:"gso_segs"`
	IPFlagsFrag   int32  `parquet:"ip_flags_frag"`
	TTL           int32  `parquet:"ttl"`
	TCPPayloadLen int32  `parquet:"tcp_payload_len"`
	TCPSeq        int64  `parquet:"tcp_seq"`
	TCPAck        int64  `parquet:"tcp_ack"`
	TCPFlags      int32  `parquet:"tcp_flags"`
	TCPWindow     int32  `parquet:"tcp_window"`
	UDPPayloadLen int32  `parquet:"udp_payload_len"`
	ICMPType      int32  `parquet:"icmp_type"`
	ICMPCode      int32  `parquet:"icmp_code"`
	RunID         string `parquet:"run_id,dict"`
	FlowID        int64  `parquet:"flow_id,optional"` // 0 (null): in no flow, the flow table was full
	Label         string `parquet:"label,dict"`       // the rules' default when no rule matched
	Attack        string `parquet:"attack,dict"`      // "" when none
	LabelRule     string `parquet:"label_rule,dict"`  // the matching rule's id, "" when none
}

// PacketColumns are the packet columns in order: the CSV header.
var PacketColumns = []string{
	"ts", "ts_ns", "iface", "direction", "vlan_id", "ip_version", "src_ip", "dst_ip", "protocol",
	"src_port", "dst_port", "ip_len", "gso_segs", "ip_flags_frag", "ttl", "tcp_payload_len",
	"tcp_seq", "tcp_ack", "tcp_flags", "tcp_window", "udp_payload_len", "icmp_type", "icmp_code",
	"run_id", "flow_id", "label", "attack", "label_rule",
}

// AppendCSV appends p as one CSV line (ts as RFC 3339 with microseconds,
// UTC). Text fields are quoted as RFC 4180 (and encoding/csv) read them when
// they hold a comma, a quote or a line break: an interface or capture-file
// name can hold anything.
func (p *Packet) AppendCSV(b []byte) []byte {
	b = time.UnixMicro(p.Ts).UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z")
	b = append(b, ',')
	b = strconv.AppendInt(b, p.TsNs, 10)
	b = append(b, ',')
	b = AppendCSVField(b, p.Iface)
	b = append(b, ',')
	b = AppendCSVField(b, p.Direction)
	for _, v := range [...]int32{p.VlanID, p.IPVersion} {
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(v), 10)
	}
	b = append(b, ',')
	b = AppendCSVField(b, p.SrcIP)
	b = append(b, ',')
	b = AppendCSVField(b, p.DstIP)
	for _, v := range [...]int64{int64(p.Protocol), int64(p.SrcPort), int64(p.DstPort), int64(p.IPLen),
		int64(p.GSOSegs), int64(p.IPFlagsFrag), int64(p.TTL), int64(p.TCPPayloadLen), p.TCPSeq, p.TCPAck,
		int64(p.TCPFlags), int64(p.TCPWindow), int64(p.UDPPayloadLen), int64(p.ICMPType), int64(p.ICMPCode)} {
		b = append(b, ',')
		b = strconv.AppendInt(b, v, 10)
	}
	b = append(b, ',')
	b = AppendCSVField(b, p.RunID)
	b = append(b, ',')
	if p.FlowID != 0 {
		b = strconv.AppendInt(b, p.FlowID, 10)
	}
	for _, s := range [...]string{p.Label, p.Attack, p.LabelRule} {
		b = append(b, ',')
		b = AppendCSVField(b, s)
	}
	return append(b, '\n')
}

// AppendCSVField appends s as one CSV field: as it is, or in double quotes
// with quotes doubled when it holds a comma, a quote, a line break or
// leading space.
func AppendCSVField(b []byte, s string) []byte {
	if !strings.ContainsAny(s, ",\"\r\n") && (s == "" || s[0] != ' ') {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// Session is one row of sessions/: one session instance (docs/dataset.md,
// "sessions/").
type Session struct {
	RunID           string `parquet:"run_id,dict"` // the run's id, as in its manifest's run_id
	SrcIP           string `parquet:"src_ip,dict"`
	DstIP           string `parquet:"dst_ip,dict"`
	SrcPort         int32  `parquet:"src_port"`
	DstPort         int32  `parquet:"dst_port"`
	Protocol        int32  `parquet:"protocol"`
	FirstTs         int64  `parquet:"first_ts,timestamp(microsecond)"`
	LastTs          int64  `parquet:"last_ts,timestamp(microsecond)"`
	PacketsRecorded int64  `parquet:"packets_recorded"`
	BytesRecorded   int64  `parquet:"bytes_recorded"`
	PacketsSeen     int64  `parquet:"packets_seen"`
	BytesSeen       int64  `parquet:"bytes_seen"`
	QuotaLimited    bool   `parquet:"quota_limited"`
	Label           string `parquet:"label,dict"`
	Attack          string `parquet:"attack,dict"`
	LabelRule       string `parquet:"label_rule,dict"`
}
