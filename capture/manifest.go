package capture

import (
	"encoding/json"

	"fmt"
	"golang.org/x/sys/unix"
	"path/filepath"
	"time"

	"github.com/tacap/tacap/bpf"
	"github.com/tacap/tacap/capture/sink"
)

// Manifest is a run's _runs/RUNID.json (contract section 4).
type Manifest struct {
	Tacap         BuildInfo    `json:"tacap"`
	RunID         string       `json:"run_id"`
	Host          string       `json:"host"`
	Interfaces    []string     `json:"interfaces,omitempty"`
	Pcap          string       `json:"pcap,omitempty"`
	PcapInfo      *PcapInfo    `json:"pcap_file,omitempty"`
	ReplayCPU     *int         `json:"replay_cpu,omitempty"` // the CPU a file was replayed on
	Directions    []string     `json:"directions,omitempty"`
	Hook          string       `json:"hook"`
	AttachModes   []string     `json:"attach_modes,omitempty"`
	KernelRelease string       `json:"kernel_release"`
	Start         time.Time    `json:"start"`
	End           time.Time    `json:"end"`
	StopReason    string       `json:"stop_reason"` // deadline, signal, error, end of file
	Parameters    Parameters   `json:"parameters"`
	Clock         Clock        `json:"clock"`
	Counters      bpf.Counters `json:"counters"`
	// RowsWritten is the number of rows in the run's packets/ files; it
	// equals Counters.Recorded unless RecordedNotWritten says otherwise.
	RowsWritten        int64    `json:"rows_written"`
	RecordedNotWritten int64    `json:"recorded_not_written"`
	DrainSkipped       bool     `json:"drain_skipped"`
	Flows              int64    `json:"flows"`
	Files              Files    `json:"files"`
	CSV                *CSVInfo `json:"csv,omitempty"`
	Process            Process  `json:"process"`
	Complete           bool     `json:"complete"`
	Errors             []string `json:"errors,omitempty"`
}

// Parameters are the sampling parameters (contract section 5).
type Parameters struct {
	Sessions             uint32 `json:"sessions"`
	PacketsPerSession    uint32 `json:"packets_per_session"`
	BufferPackets        uint32 `json:"buffer_packets"`
	BufferBytes          uint32 `json:"buffer_bytes"`
	SessionAcceptRestart string `json:"session_accept_restart"`
	SessionPacketRestart string `json:"session_packet_restart"`
	BufferRestart        string `json:"buffer_restart"`
	Bidirectional        bool   `json:"bidirectional"`
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
	Packets []sink.File `json:"packets"`
	Flows   []sink.File `json:"flows"`
}

// CSVInfo describes the per-flow CSV files.
type CSVInfo struct {
	Dir          string `json:"dir"`
	Files        int    `json:"files"`
	MaxFiles     int    `json:"max_files"`
	SkippedFlows int64  `json:"skipped_flows"`
	SkippedRows  int64  `json:"skipped_rows"`
}

func parametersOf(o bpf.Options) Parameters {
	rb, _ := bpf.RingBytes(o.BufferPackets)
	return Parameters{
		Sessions: o.Sessions, PacketsPerSession: o.PacketsPerSession, BufferPackets: o.BufferPackets, BufferBytes: rb,
		SessionAcceptRestart: o.SessionAcceptRestart.String(), SessionPacketRestart: o.SessionPacketRestart.String(),
		BufferRestart: o.BufferRestart.String(), Bidirectional: o.Bidirectional,
	}
}

func clockOf(a Anchor) Clock {
	return Clock{Source: "kernel CLOCK_MONOTONIC, converted with one anchor taken at start",
		Anchor: time.Unix(0, a.WallNs).UTC(), AnchorNs: a.MonoNs, ErrorNs: a.ErrorNs}
}

func writeManifest(dir string, m *Manifest) (string, error) {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "_runs", m.RunID+".json")
	if err := sink.WriteFileNew(path, append(data, '\n')); err != nil {
		return "", fmt.Errorf("write manifest: %w", err)
	}
	return path, nil
}

// Process is what the run cost tacap itself (getrusage at the end).
type Process struct {
	UserSeconds   float64 `json:"cpu_user_seconds"`
	SystemSeconds float64 `json:"cpu_system_seconds"`
	MaxRSSBytes   int64   `json:"max_rss_bytes"`
}

func processUsage() Process {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return Process{}
	}
	return Process{
		UserSeconds:   float64(ru.Utime.Sec) + float64(ru.Utime.Usec)/1e6,
		SystemSeconds: float64(ru.Stime.Sec) + float64(ru.Stime.Usec)/1e6,
		MaxRSSBytes:   ru.Maxrss * 1024,
	}
}
