package report

import (
	"strings"
	"testing"
	"time"

	"github.com/tacap/tacap/dataset"
)

// TestRunOfSeveralCaptureFiles: a replay of several files names the first
// and how many more, in the runs table and in its note.
func TestRunOfSeveralCaptureFiles(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		files     int
		input     string
		noteHas   string
		noteLacks string
	}{
		{0, "pcap a.pcap", "the capture file a.pcap", "capture files"},
		{3, "pcap a.pcap + 2 more", "3 capture files, one after the other, from a.pcap", "the capture file a.pcap"},
	} {
		run := &Run{RunID: "R", Pcap: "a.pcap", PcapFiles: tc.files, HasManifest: true, Complete: true, Start: &start,
			FileStart: &start, FileDurationSec: new(float64)}
		if got := runCellsOf(run).Input; got != tc.input {
			t.Errorf("%d files: input %q, want %q", tc.files, got, tc.input)
		}
		note := fileTimeNote(run)
		if !strings.Contains(note, tc.noteHas) || strings.Contains(note, tc.noteLacks) {
			t.Errorf("%d files: note %q", tc.files, note)
		}
	}
}

// TestParamsNameTheFilter: a run captured with --filter says so in the
// runs table's parameters.
func TestParamsNameTheFilter(t *testing.T) {
	p := &dataset.Parameters{Sessions: 1024, PacketsPerSession: 100, BufferPackets: 102400,
		SessionAcceptRestart: "5s", SessionPacketRestart: "1s", BufferRestart: "1s"}
	if got := paramSummary(p); strings.Contains(got, "filter") {
		t.Errorf("no filter: %q", got)
	}
	p.Filter = `not port 22`
	if got := paramSummary(p); !strings.HasSuffix(got, `, filter "not port 22"`) {
		t.Errorf("with a filter: %q", got)
	}
}
