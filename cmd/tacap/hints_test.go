package main

import (
	"strings"
	"testing"

	"github.com/tacap/tacap/dataset"
)

// TestHints: a large share lost to a full session table or buffer says
// which flag to raise and to about what; the quota (the sampling asked
// for) and small shares say nothing.
func TestHints(t *testing.T) {
	params := dataset.Parameters{Sessions: 1024, PacketsPerSession: 100, BufferPackets: 102400, SessionAcceptRestart: "5s"}
	for _, tc := range []struct {
		name string
		c    dataset.Counters
		want []string
	}{
		{"nothing lost", dataset.Counters{Seen: 100, Recorded: 100}, nil},
		{"quota only", dataset.Counters{Seen: 1000, Recorded: 100, SessionQuota: 900}, nil},
		// The README's example: CIC-DDoS2019 SYN flood with default flags.
		{"table full", dataset.Counters{Seen: 26316, Recorded: 2050, SessionTableFull: 24266},
			[]string{"24266 packets (92.2 %) were not recorded because the session table was full — raise --sessions (now 1024) to about 16384"}},
		{"table full, small share", dataset.Counters{Seen: 10000, Recorded: 9950, SessionTableFull: 50}, nil},
		{"buffer full", dataset.Counters{Seen: 200000, Recorded: 100000, BufferFull: 100000},
			[]string{"100000 packets (50.0 %) were lost to a full buffer — raise --buffer-packets (now 102400) to about 204800"}},
		{"buffer full, any share", dataset.Counters{Seen: 100000, Recorded: 99999, BufferFull: 1},
			[]string{"1 packets (0.0 %) were lost to a full buffer — raise --buffer-packets (now 102400) to about 102402"}},
		{"both", dataset.Counters{Seen: 1000, Recorded: 500, SessionTableFull: 250, BufferFull: 250},
			[]string{"raise --sessions (now 1024) to about 2048", "raise --buffer-packets (now 102400) to about 136534"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := hints(dataset.Manifest{Counters: tc.c, Parameters: params})
			if len(got) != len(tc.want) {
				t.Fatalf("hints %q, want %d", got, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("hint %q, want it to say %q", got[i], w)
				}
			}
		})
	}
}
