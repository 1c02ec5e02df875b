package report

import (
	"time"

	"github.com/tacap/tacap/dataset"
)

// SchemaVersion names the shape of the JSON output (documented in
// docs/report-json.md). A change that removes or renames a field bumps it.
const SchemaVersion = "tacap.report/v5"

// Report is everything `tacap report` prints; --format json writes it as is.
type Report struct {
	Schema     string      `json:"schema"`
	Inputs     []string    `json:"inputs"`
	Runs       []Run       `json:"runs"`
	Accounting Accounting  `json:"accounting"`
	Traffic    Traffic     `json:"traffic"`
	Flows      Flows       `json:"flows"`
	Top        Top         `json:"top"`
	TCP        TCP         `json:"tcp"`
	Indicators []Indicator `json:"indicators"` // the --top highest scores
	// IndicatorsOmitted counts the indicators that fired but are not
	// listed (beyond --top).
	IndicatorsOmitted int        `json:"indicators_omitted"`
	Thresholds        Thresholds `json:"thresholds"`
	Labels            Labels     `json:"labels"`
	Warnings          []string   `json:"warnings"`
	Problems          []Problem  `json:"problems"`
}

// Run describes one capture run.
type Run struct {
	RunID      string   `json:"run_id"`
	Dataset    string   `json:"dataset"`
	Host       string   `json:"host"`
	Interfaces []string `json:"interfaces"`
	Pcap       string   `json:"pcap"`
	// PcapFiles counts the capture files of a run that read several (0
	// otherwise).
	PcapFiles   int        `json:"pcap_files,omitempty"`
	Hook        string     `json:"hook"`
	AttachModes []string   `json:"attach_modes"`
	Start       *time.Time `json:"start"` // nil without a manifest
	End         *time.Time `json:"end"`
	DurationSec float64    `json:"duration_seconds"`
	// A capture-file run's own time: the ts of its first and last packet
	// (nil for a live run, or without packets).
	FileStart       *time.Time          `json:"file_start"`
	FileEnd         *time.Time          `json:"file_end"`
	FileDurationSec *float64            `json:"file_duration_seconds"`
	StopReason      string              `json:"stop_reason"`
	Complete        bool                `json:"complete"`
	HasManifest     bool                `json:"has_manifest"`
	TacapVersion    string              `json:"tacap_version"`
	KernelRelease   string              `json:"kernel_release"`
	Parameters      *dataset.Parameters `json:"parameters"` // as in the manifest; null without one
	Counters        *dataset.Counters   `json:"counters"`   // null without a manifest
	PacketFiles     int                 `json:"packet_files"`
	SessionFiles    int                 `json:"session_files"`
	FlowFiles       int                 `json:"flow_files"`
	RowsRead        int64               `json:"rows_read"`
	FirstPacket     *time.Time          `json:"first_packet"` // ts of the earliest row read
	LastPacket      *time.Time          `json:"last_packet"`
	Timeline        Timeline            `json:"timeline"`
	Flows           *FlowStats          `json:"flows"` // its flows/ rows; nil when it has no flows/ part
}

// Timeline counts the run's recorded packets per time bucket.
type Timeline struct {
	Start         *time.Time `json:"start"` // start of the first bucket
	BucketSeconds int64      `json:"bucket_seconds"`
	Records       []uint64   `json:"records"` // rows per bucket
	// ByProtocol: the packets and bytes on the wire those rows stand for,
	// per bucket, for each protocol (TCP, UDP, ICMP, ICMPv6) that has any.
	ByProtocol []TimeSeries `json:"by_protocol"`
	// ByLabel: the rows per bucket for each label (by name; "(none)" for
	// rows without one), when the run's rows carry labels.
	ByLabel []LabelSeries `json:"by_label"`
	// NotRecordedInFlows: the packets of the run's flows that the
	// sampling did not record, per bucket — each flow's spread evenly
	// over its life, an estimate (flows/ has a flow's totals, not its
	// packets' times); empty without flows/.
	NotRecordedInFlows []uint64 `json:"not_recorded_in_flows"`
	// NotRecordedByReason: the packets not recorded per bucket, for each
	// reason with any, from the manifest's counters timeline (runs from
	// before it: empty).
	NotRecordedByReason []ReasonSeries `json:"not_recorded_by_reason"`
}

// ReasonSeries is one not-recorded reason over a run's timeline.
type ReasonSeries struct {
	Reason  string   `json:"reason"`
	Packets []uint64 `json:"packets"`
}

// LabelSeries is one label's rows over a run's timeline.
type LabelSeries struct {
	Label   string   `json:"label"`
	Records []uint64 `json:"records"`
}

// TimeSeries is one protocol's traffic over a run's timeline.
type TimeSeries struct {
	Protocol string   `json:"protocol"`
	Packets  []uint64 `json:"packets"`
	Bytes    []uint64 `json:"bytes"`
}

// Accounting adds up the counters of every run that has a manifest.
type Accounting struct {
	Runs               int      `json:"runs_with_counters"`
	Seen               uint64   `json:"seen"`
	Recorded           uint64   `json:"recorded"`
	NotRecorded        uint64   `json:"not_recorded"`
	Reasons            []Reason `json:"reasons"`
	RecordedNotWritten int64    `json:"recorded_not_written"`
	RowsRead           int64    `json:"rows_read"`
	BufferFullWarning  string   `json:"buffer_full_warning"` // "" when nothing was lost to a full buffer
}

// Reason is one not-recorded reason with its share of seen packets.
type Reason struct {
	Reason  string  `json:"reason"`
	Packets uint64  `json:"packets"`
	Share   float64 `json:"share"` // of seen
}

// Traffic breaks the recorded packets down.
type Traffic struct {
	Records     uint64    `json:"records"`      // rows
	Packets     uint64    `json:"packets"`      // wire packets: sum of gso_segs
	Bytes       uint64    `json:"bytes"`        // IP bytes on the wire (see docs)
	ByProtocol  []Breakup `json:"by_protocol"`  // key: "IPv4/TCP" ...
	ByDirection []Breakup `json:"by_direction"` // key: ingress, egress, unknown
}

// Breakup is one line of a traffic breakdown.
type Breakup struct {
	Key     string  `json:"key"`
	Records uint64  `json:"records"`
	Packets uint64  `json:"packets"`
	Bytes   uint64  `json:"bytes"`
	Share   float64 `json:"share"` // of records
}

// FlowStats adds up rows of flows/ (of one run, or of all): one row per
// biflow, over every packet the kernel saw of it, recorded or not.
type FlowStats struct {
	Flows           uint64      `json:"flows"`            // rows read
	Packets         uint64      `json:"packets"`          // Σ fwd_packets + bwd_packets
	Bytes           uint64      `json:"bytes"`            // Σ fwd_bytes + bwd_bytes (ip_len)
	PacketsRecorded uint64      `json:"packets_recorded"` // Σ packets_recorded
	ByEndReason     []EndReason `json:"by_end_reason"`    // idle, active, reuse, end (then any other value found)
	OneWay          uint64      `json:"one_way"`          // flows with bwd_packets 0
	OneWayShare     float64     `json:"one_way_share"`    // of flows
	// Durations (last_ts_ns − first_ts_ns) in seconds, to the µs; nil
	// without flows.
	MedianDurationSec *float64 `json:"median_duration_seconds"`
	MaxDurationSec    *float64 `json:"max_duration_seconds"`
	// DurationHistogram counts the flows with a duration by decade of
	// seconds (ZeroDuration: those without); SizeHistogram by decade of
	// bytes.
	DurationHistogram []HistogramBin `json:"duration_histogram"`
	ZeroDuration      uint64         `json:"zero_duration"`
	SizeHistogram     []HistogramBin `json:"size_histogram"`
}

// HistogramBin is one bin of a histogram on a log scale: [Lo, Hi).
type HistogramBin struct {
	Lo    float64 `json:"lo"`
	Hi    float64 `json:"hi"`
	Flows uint64  `json:"flows"`
}

// EndReason counts the flows that ended for one reason.
type EndReason struct {
	Reason string  `json:"reason"`
	Flows  uint64  `json:"flows"`
	Share  float64 `json:"share"` // of flows
}

// Flows adds up the flows/ rows of every run.
type Flows struct {
	Runs int `json:"runs_with_flows"` // runs with at least one flows/ part
	FlowStats
}

// TopFlow is one row of flows/.
type TopFlow struct {
	RunID           string    `json:"run_id"`
	FlowID          int64     `json:"flow_id"`
	SrcIP           string    `json:"src_ip"`
	SrcPort         int32     `json:"src_port"`
	DstIP           string    `json:"dst_ip"`
	DstPort         int32     `json:"dst_port"`
	Protocol        string    `json:"protocol"`
	Packets         uint64    `json:"packets"` // fwd_packets + bwd_packets
	Bytes           uint64    `json:"bytes"`   // fwd_bytes + bwd_bytes
	PacketsRecorded uint64    `json:"packets_recorded"`
	First           time.Time `json:"first"` // first_ts_ns
	Last            time.Time `json:"last"`  // last_ts_ns
	DurationSec     float64   `json:"duration_seconds"`
	EndReason       string    `json:"end_reason"`
}

// Top lists the largest sessions, flows and talkers.
type Top struct {
	N            int       `json:"n"`
	Sessions     []Session `json:"sessions"`
	Flows        []TopFlow `json:"flows"` // the largest flows/ rows by bytes`
	Sources      []Talker  `json:"sources"`
	Destinations []Talker  `json:"destinations"`
	DstPorts     []Port    `json:"destination_ports"`
}

// Session is one session instance: a sessions/ row, or for a run without
// a sessions file a 5-tuple added up from its packets.
type Session struct {
	RunID           string    `json:"run_id"`
	SrcIP           string    `json:"src_ip"`
	SrcPort         int32     `json:"src_port"`
	DstIP           string    `json:"dst_ip"`
	DstPort         int32     `json:"dst_port"`
	Protocol        string    `json:"protocol"`
	PacketsSeen     int64     `json:"packets_seen"`
	BytesSeen       int64     `json:"bytes_seen"`
	PacketsRecorded int64     `json:"packets_recorded"`
	BytesRecorded   int64     `json:"bytes_recorded"`
	First           time.Time `json:"first"`
	Last            time.Time `json:"last"`
	DurationSec     float64   `json:"duration_seconds"`
	RatePPS         *float64  `json:"packets_per_second"` // seen / duration; nil when it lasted under a second
	QuotaLimited    bool      `json:"quota_limited"`
	Source          string    `json:"source"` // "sessions", or "packets" for a run without a sessions file
}

// Talker is one address as a source or destination.
type Talker struct {
	IP      string  `json:"ip"`
	Records uint64  `json:"records"`
	Bytes   uint64  `json:"bytes"`
	Share   float64 `json:"share"` // of records
	Peers   uint64  `json:"peers"` // distinct addresses on the other side
}

// Port is one destination port.
type Port struct {
	Protocol string  `json:"protocol"`
	Port     int32   `json:"port"`
	Records  uint64  `json:"records"`
	Bytes    uint64  `json:"bytes"`
	Share    float64 `json:"share"`
}

// TCP sums the handshake and teardown flags.
type TCP struct {
	Records        uint64    `json:"records"`
	SYN            uint64    `json:"syn"`     // SYN without ACK
	SYNACK         uint64    `json:"syn_ack"` // SYN with ACK
	RST            uint64    `json:"rst"`
	FIN            uint64    `json:"fin"`
	Handshakes     uint64    `json:"handshakes_started"`   // sessions whose SYN was recorded
	Completed      uint64    `json:"handshakes_completed"` // ... and whose client then sent an ACK
	HalfOpenRatio  float64   `json:"half_open_ratio"`      // 1 - completed/started
	PerDestination []TCPDest `json:"per_destination"`
}

// TCPDest is the handshake state towards one destination.
type TCPDest struct {
	IP            string  `json:"ip"`
	SYN           uint64  `json:"syn"`
	SYNACK        uint64  `json:"syn_ack_sent"` // SYN-ACKs the destination sent back
	RST           uint64  `json:"rst_sent"`     // RSTs the destination sent
	Handshakes    uint64  `json:"handshakes_started"`
	Completed     uint64  `json:"handshakes_completed"`
	HalfOpenRatio float64 `json:"half_open_ratio"`
}

// Indicator is one attack signature that fired, with its evidence.
type Indicator struct {
	Kind      string  `json:"kind"`   // syn_flood, udp_flood, icmp_flood, port_scan, many_to_one, amplification
	Target    string  `json:"target"` // the address (and port) concerned
	Summary   string  `json:"summary"`
	Evidence  []Fact  `json:"evidence"`
	Threshold string  `json:"threshold"` // the rule that fired, with the values used
	Score     float64 `json:"score"`     // how far above the threshold (≥ 1)
	// EvidenceFirst and EvidenceLast: when the rows about its target
	// were, the first and the last (to it; from it for a port scan).
	EvidenceFirst *time.Time  `json:"evidence_first"`
	EvidenceLast  *time.Time  `json:"evidence_last"`
	ev            evidenceRef // which rows are its evidence, for the labels section
}

// Fact is one named number of an indicator's evidence.
type Fact struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
}

// Labels summarises the label columns (label, attack, label_rule) of the
// runs and the rules files their manifests keep.
type Labels struct {
	RunsWithLabels    int         `json:"runs_with_labels"`
	RunsWithoutLabels []string    `json:"runs_without_labels"` // run IDs: no manifest rules and no labelled row
	RulesFiles        []RulesFile `json:"rules_files"`
	// Records and flows labelled other than their run's default label.
	RecordsLabelled      uint64             `json:"records_labelled"`
	RecordsLabelledShare float64            `json:"records_labelled_share"` // of the records read
	FlowsLabelled        uint64             `json:"flows_labelled"`
	FlowsLabelledShare   float64            `json:"flows_labelled_share"` // of the flows read
	ByLabel              []LabelCount       `json:"by_label"`
	RuleHits             []RuleHit          `json:"rule_hits"`
	FlowsStraddling      uint64             `json:"flows_straddling_window"` // flows with a rule and a null label_packets
	FlowsPartly          uint64             `json:"flows_partly_matching"`   // flows with a rule and label_packets < packets
	Indicators           []LabelledEvidence `json:"indicators"`
	Warnings             []string           `json:"warnings"`
}

// RulesFile is one rules file (or none) that labelled some runs.
type RulesFile struct {
	File           string   `json:"file"`   // as given to tacap; "" when no rules file was given
	SHA256         string   `json:"sha256"` // "" when no rules file was given
	Default        string   `json:"default"`
	Rules          int      `json:"rules"`
	Runs           []string `json:"runs"`
	RelabelledRuns []string `json:"relabelled_runs"` // of those, the runs tacap label rewrote with it
}

// LabelCount is the rows of one label and attack.
type LabelCount struct {
	Label        string  `json:"label"`  // "": rows without a label
	Attack       string  `json:"attack"` // "": none
	Records      uint64  `json:"records"`
	RecordsShare float64 `json:"records_share"` // of the records read
	Flows        uint64  `json:"flows"`
	FlowsShare   float64 `json:"flows_share"`  // of the flows read
	FlowPackets  uint64  `json:"flow_packets"` // Σ fwd_packets + bwd_packets of those flows
	Sessions     uint64  `json:"sessions"`
}

// RuleHit is what one rule labelled: the rows whose label_rule it is.
type RuleHit struct {
	Rule        string `json:"rule"`
	Label       string `json:"label"`
	Attack      string `json:"attack"`
	Records     uint64 `json:"records"`
	Flows       uint64 `json:"flows"`
	Sessions    uint64 `json:"sessions"`
	InRulesFile bool   `json:"in_rules_file"` // listed by a rules file of a manifest (else only seen in rows)
}

// LabelledEvidence says how an indicator's evidence rows are labelled.
type LabelledEvidence struct {
	Kind          string  `json:"kind"`
	Target        string  `json:"target"`
	Evidence      string  `json:"evidence"` // which rows
	Records       uint64  `json:"records"`
	Labelled      uint64  `json:"labelled"` // of them, labelled other than their run's default
	LabelledShare float64 `json:"labelled_share"`
	Label         string  `json:"label"` // the most frequent of those labels ("" when none)
	Attack        string  `json:"attack"`
	LabelRecords  uint64  `json:"label_records"`
	LabelShare    float64 `json:"label_share"` // of records
	// MostlyDefault: under half of the rows are labelled other than the
	// default — the rules may miss this attack.
	MostlyDefault bool `json:"mostly_default"`
}
