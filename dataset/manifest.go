package dataset

import (
	"bytes"
	"encoding/json"
	"time"
)

// Manifest is a run's _runs/RUNID.json (docs/dataset.md, "The run manifest").
type Manifest struct {
	Tacap      BuildInfo `json:"tacap"`
	RunID      string    `json:"run_id"`
	Host       string    `json:"host"`
	Interfaces []string  `json:"interfaces,omitempty"`
	Pcap       string    `json:"pcap,omitempty"`
	PcapInfo   *PcapInfo `json:"pcap_file,omitempty"`
	// PcapFiles are the capture files read, one by one, in the order read
	// (for one file, the same figures as PcapInfo).
	PcapFiles     []PcapInfo `json:"pcap_files,omitempty"`
	ReplayCPU     *int       `json:"replay_cpu,omitempty"` // the CPU a file was replayed on
	Directions    []string   `json:"directions,omitempty"`
	Hook          string     `json:"hook"`
	AttachModes   []string   `json:"attach_modes,omitempty"`
	KernelRelease string     `json:"kernel_release"`
	Start         time.Time  `json:"start"`
	End           time.Time  `json:"end"`
	StopReason    string     `json:"stop_reason"` // one of the Stop* constants
	// Events are what happened to the interfaces during a live run.
	Events     []Event    `json:"events,omitempty"`
	Parameters Parameters `json:"parameters"`
	Clock      Clock      `json:"clock"`
	Counters   Counters   `json:"counters"`
	// CountersTimeline is when the packets not recorded were refused, by
	// reason; nil for runs from before tacap sampled its counters.
	CountersTimeline *CountersTimeline `json:"counters_timeline,omitempty"`
	// RowsWritten is the number of rows in the run's packets/ files; it
	// equals Counters.Recorded unless RecordedNotWritten says otherwise.
	RowsWritten        int64 `json:"rows_written"`
	RecordedNotWritten int64 `json:"recorded_not_written"`
	DrainSkipped       bool  `json:"drain_skipped"`
	Sessions           int64 `json:"sessions"`
	// Flows describes what went into flows/.
	Flows FlowsInfo `json:"flows"`
	// Labels are the rules the label columns come from.
	Labels   *LabelsInfo `json:"labels,omitempty"`
	Files    Files       `json:"files"`
	CSV      *CSVInfo    `json:"csv,omitempty"`
	Process  Process     `json:"process"`
	Complete bool        `json:"complete"`
	Errors   []string    `json:"errors,omitempty"`
}

// Why a run stopped (Manifest.StopReason).
const (
	StopDeadline  = "deadline"        // --for elapsed
	StopSignal    = "signal"          // Ctrl-C or SIGTERM
	StopError     = "error"           // a failure ended the run early
	StopEndOfFile = "end of file"     // a capture file was read to its end
	StopNoIfaces  = "interfaces gone" // every interface the run was attached to went away
)

// Event is something that happened to an interface during a live run.
type Event struct {
	Time  time.Time `json:"time"`
	Iface string    `json:"iface"`
	What  string    `json:"what"` // one of the Iface* constants
}

// What happened to an interface (Event.What).
const (
	IfaceDown = "down" // it lost IFF_UP: attached, but it carries no traffic
	IfaceUp   = "up"   // it came back up
	IfaceGone = "gone" // it was deleted (or moved to another namespace)
)

// BuildInfo names the tacap that wrote a dataset.
type BuildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	BPFObject string `json:"bpf_object_sha256"`
}

// Parameters are the sampling parameters (docs/dataset.md, "Sampling").
type Parameters struct {
	Sessions             uint32 `json:"sessions"`
	PacketsPerSession    uint32 `json:"packets_per_session"`
	BufferPackets        uint32 `json:"buffer_packets"`
	BufferBytes          uint32 `json:"buffer_bytes"`
	SessionAcceptRestart string `json:"session_accept_restart"`
	SessionPacketRestart string `json:"session_packet_restart"`
	BufferRestart        string `json:"buffer_restart"`
	Bidirectional        bool   `json:"bidirectional"`
	Flows                uint32 `json:"flows"` // size of the flow table
	FlowIdleTimeout      string `json:"flow_idle_timeout"`
	FlowActiveTimeout    string `json:"flow_active_timeout"`
	// Filter is the --filter expression ("" or absent: none).
	Filter string `json:"filter,omitempty"`
}

// FlowsInfo accounts for the rows of flows/.
type FlowsInfo struct {
	Written int64 `json:"written"` // rows in the run's flows/ files
	// ByEndReason counts the flows that ended by end_reason (written or
	// not).
	ByEndReason map[string]int64 `json:"by_end_reason"`
	// NotWritten counts flows that ended but whose rows could not be
	// written (the writer failed).
	NotWritten int64 `json:"not_written,omitempty"`
}

// UnmarshalJSON also reads the manifests of datasets from before flows/
// held biflows, where "flows" was the number of session rows (then in a
// table named flows/): that number is no flows figure, and is dropped.
func (f *FlowsInfo) UnmarshalJSON(b []byte) error {
	if t := bytes.TrimSpace(b); len(t) > 0 && (t[0] == '-' || (t[0] >= '0' && t[0] <= '9')) {
		var n int64
		if err := json.Unmarshal(t, &n); err != nil {
			return err
		}
		*f = FlowsInfo{}
		return nil
	}
	type plain FlowsInfo
	return json.Unmarshal(b, (*plain)(f))
}

// LabelsInfo records the rules file that labelled a run (docs/dataset.md,
// "Labels"): at capture, or by the last tacap label.
type LabelsInfo struct {
	File    string `json:"file,omitempty"` // as given on the command line; "" when no rules file was given
	SHA256  string `json:"sha256,omitempty"`
	Default string `json:"default"`
	Rules   int    `json:"rules"`
	Content string `json:"content,omitempty"` // the file as it was read
	// RowsByLabel counts the run's packets/ rows by label.
	RowsByLabel map[string]int64 `json:"rows_by_label,omitempty"`
	// Relabelled is when tacap label last rewrote the run's label columns
	// (absent when they are from the capture).
	Relabelled *time.Time `json:"relabelled,omitempty"`
	// Previous are the rules in force before each relabelling, oldest first
	// (without their content).
	Previous []LabelsHistory `json:"previous,omitempty"`
}

// LabelsSHA256Key is the part metadata key holding the SHA-256 of the
// rules file its label columns come from ("" when no rules file labelled
// it), so that an interrupted tacap label can tell a part it rewrote.
const LabelsSHA256Key = "tacap.labels.sha256"

// LabelsHistory is a rules file that labelled a run before.
type LabelsHistory struct {
	File       string     `json:"file,omitempty"`
	SHA256     string     `json:"sha256,omitempty"`
	Default    string     `json:"default"`
	Rules      int        `json:"rules"`
	Relabelled *time.Time `json:"relabelled,omitempty"` // when it was applied by tacap label; absent: at capture
}

// Clock says how ts was computed.
type Clock struct {
	Source   string    `json:"source"` // kernel CLOCK_MONOTONIC, or the capture file
	Anchor   time.Time `json:"anchor_wall,omitempty"`
	AnchorNs int64     `json:"anchor_monotonic_ns,omitempty"`
	ErrorNs  int64     `json:"anchor_error_ns,omitempty"`
}

// Files lists the run's Parquet files.
type Files struct {
	Packets  []File `json:"packets"`
	Sessions []File `json:"sessions"`
	Flows    []File `json:"flows"`
}

// File is one completed file of a run.
type File struct {
	Path string `json:"path"` // relative to the dataset folder
	Rows int64  `json:"rows"`
}

// CSVInfo describes the per-flow CSV files.
type CSVInfo struct {
	Dir          string `json:"dir"`
	Files        int    `json:"files"`
	MaxFiles     int    `json:"max_files"`
	SkippedFlows int64  `json:"skipped_flows"`
	SkippedRows  int64  `json:"skipped_rows"`
}

// PcapInfo goes into the manifest of a capture-file run.
type PcapInfo struct {
	Path        string           `json:"path"`
	Bytes       int64            `json:"bytes"`
	Frames      int64            `json:"frames"`
	Unsupported map[string]int64 `json:"unsupported_link_types,omitempty"` // frames by link type, never given to the program
	ShortFrames int64            `json:"short_frames,omitempty"`           // shorter than their own link header
	StoppedAt   int64            `json:"stopped_at_byte,omitempty"`        // where a truncated or corrupt file stopped the run
	Error       string           `json:"error,omitempty"`
	SHA256      string           `json:"sha256,omitempty"` // of the file's bytes as stored; in pcap_file only for one file
}

// Process is what the run cost tacap itself (getrusage at the end).
type Process struct {
	UserSeconds   float64 `json:"cpu_user_seconds"`
	SystemSeconds float64 `json:"cpu_system_seconds"`
	MaxRSSBytes   int64   `json:"max_rss_bytes"`
}

// CountersTimeline holds a run's not-recorded packets per time bucket, for
// each reason (ReasonNames): the counters sampled as the run went (live:
// each second of the wall clock; a capture file: at each second of file
// time), each sample's increase put in the bucket of the second it grew in.
type CountersTimeline struct {
	Start         time.Time           `json:"start"`          // the first bucket's first second, UTC
	BucketSeconds int64               `json:"bucket_seconds"` // 1, doubled as often as a run needs to stay within 3 600 buckets
	Reasons       map[string][]uint64 `json:"reasons"`        // by reason: packets per bucket
}
