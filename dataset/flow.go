package dataset

// Flow is one row of flows/: one biflow, with statistics over every packet
// of it the kernel saw, recorded or not (docs/dataset.md, "flows/").
// Statistics without values (no packets in a direction — the source of a
// flow first seen as a SYN-ACK may have sent none; fewer than two packets
// for a gap; a zero duration for a rate) are null: the pointer fields.
type Flow struct {
	RunID           string   `parquet:"run_id,dict"`
	FlowID          int64    `parquet:"flow_id"`
	SrcIP           string   `parquet:"src_ip,dict"`
	DstIP           string   `parquet:"dst_ip,dict"`
	SrcPort         int32    `parquet:"src_port"`
	DstPort         int32    `parquet:"dst_port"`
	Protocol        int32    `parquet:"protocol"`
	IPVersion       int32    `parquet:"ip_version"`
	FirstTs         int64    `parquet:"first_ts,timestamp(microsecond)"`
	LastTs          int64    `parquet:"last_ts,timestamp(microsecond)"`
	FirstTsNs       int64    `parquet:"first_ts_ns"`
	LastTsNs        int64    `parquet:"last_ts_ns"`
	DurationUs      float64  `parquet:"duration_us"`
	EndReason       string   `parquet:"end_reason,dict"`
	FwdPackets      int64    `parquet:"fwd_packets"`
	BwdPackets      int64    `parquet:"bwd_packets"`
	FwdBytes        int64    `parquet:"fwd_bytes"`
	BwdBytes        int64    `parquet:"bwd_bytes"`
	FwdPayloadBytes int64    `parquet:"fwd_payload_bytes"`
	BwdPayloadBytes int64    `parquet:"bwd_payload_bytes"`
	FwdLenMin       *int32   `parquet:"fwd_len_min"`
	FwdLenMax       *int32   `parquet:"fwd_len_max"`
	FwdLenMean      *float64 `parquet:"fwd_len_mean"`
	FwdLenStd       *float64 `parquet:"fwd_len_std"`
	BwdLenMin       *int32   `parquet:"bwd_len_min"`
	BwdLenMax       *int32   `parquet:"bwd_len_max"`
	BwdLenMean      *float64 `parquet:"bwd_len_mean"`
	BwdLenStd       *float64 `parquet:"bwd_len_std"`
	LenMin          int32    `parquet:"len_min"`
	LenMax          int32    `parquet:"len_max"`
	LenMean         float64  `parquet:"len_mean"`
	LenStd          float64  `parquet:"len_std"`
	IATMin          *float64 `parquet:"iat_min"`
	IATMax          *float64 `parquet:"iat_max"`
	IATMean         *float64 `parquet:"iat_mean"`
	IATStd          *float64 `parquet:"iat_std"`
	FwdIATMin       *float64 `parquet:"fwd_iat_min"`
	FwdIATMax       *float64 `parquet:"fwd_iat_max"`
	FwdIATMean      *float64 `parquet:"fwd_iat_mean"`
	FwdIATStd       *float64 `parquet:"fwd_iat_std"`
	BwdIATMin       *float64 `parquet:"bwd_iat_min"`
	BwdIATMax       *float64 `parquet:"bwd_iat_max"`
	BwdIATMean      *float64 `parquet:"bwd_iat_mean"`
	BwdIATStd       *float64 `parquet:"bwd_iat_std"`
	FinCount        int64    `parquet:"fin_count"`
	SynCount        int64    `parquet:"syn_count"`
	RstCount        int64    `parquet:"rst_count"`
	PshCount        int64    `parquet:"psh_count"`
	AckCount        int64    `parquet:"ack_count"`
	UrgCount        int64    `parquet:"urg_count"`
	EceCount        int64    `parquet:"ece_count"`
	CwrCount        int64    `parquet:"cwr_count"`
	FwdInitWindow   *int32   `parquet:"fwd_init_window"`
	BwdInitWindow   *int32   `parquet:"bwd_init_window"`
	PacketsPerS     *float64 `parquet:"packets_per_s"`
	BytesPerS       *float64 `parquet:"bytes_per_s"`
	PacketsRecorded int64    `parquet:"packets_recorded"`
	Label           string   `parquet:"label,dict"`
	Attack          string   `parquet:"attack,dict"`
	LabelRule       string   `parquet:"label_rule,dict"`
	// LabelPackets counts the flow's packets that match its rule: null when
	// the flow straddles an edge of the rule's window, so that only the
	// packets tell.
	LabelPackets *int64 `parquet:"label_packets"`
}

// Why a flow ended (Flow.EndReason; docs/dataset.md, "flows/").
const (
	FlowEndIdle   = "idle"   // its next packet came after the idle timeout, or none came before it passed
	FlowEndActive = "active" // its next packet came after the active timeout from its first
	FlowEndReuse  = "reuse"  // a TCP SYN without ACK after its FIN or RST
	FlowEndEnd    = "end"    // still open when the run ended
)

// FlowEndReasons are the end reasons in the contract's order.
func FlowEndReasons() []string {
	return []string{FlowEndIdle, FlowEndActive, FlowEndReuse, FlowEndEnd}
}
