package main

import (
	"fmt"
	"math"
	"math/bits"

	"github.com/tacap/tacap/dataset"
)

// hintShare is the share of the packets seen above which a not-recorded
// reason other than the per-session quota (which is the sampling asked
// for) earns a hint in the summary.
const hintShare = 0.01

// hints says, for each reason that kept many packets out of the dataset
// and that a flag controls, which flag to raise and to about what. The
// estimate scales the current value by seen / (seen − refused): the room
// the packets that did get in needed, stretched to the ones that did not.
func hints(m dataset.Manifest) []string {
	c, p := m.Counters, m.Parameters
	var out []string
	share := func(n uint64) float64 { return float64(n) / float64(c.Seen) }
	scale := func(now uint64, refused uint64) uint64 {
		if c.Seen == refused {
			return now * 16
		}
		return uint64(math.Ceil(float64(now) * float64(c.Seen) / float64(c.Seen-refused)))
	}
	if c.Seen == 0 {
		return nil
	}
	if n := c.SessionTableFull; n > 0 && share(n) >= hintShare {
		want := min(nextPow2(scale(uint64(p.Sessions), n)), 1<<24)
		out = append(out, fmt.Sprintf("%d packets (%.1f %%) were not recorded because the session table was full — "+
			"raise --sessions (now %d) to about %d, or lower --session-accept-restart (now %s) so new sessions replace idle ones sooner",
			n, 100*share(n), p.Sessions, want, p.SessionAcceptRestart))
	}
	if n := c.BufferFull; n > 0 {
		want := min(scale(uint64(p.BufferPackets), n), 1<<32-1)
		out = append(out, fmt.Sprintf("%d packets (%.1f %%) were lost to a full buffer — raise --buffer-packets (now %d) to about %d, "+
			"or give tacap more CPU (--no-csv spares it the CSV files)", n, 100*share(n), p.BufferPackets, want))
	}
	return out
}

func nextPow2(n uint64) uint64 {
	if n <= 1 {
		return 1
	}
	return 1 << bits.Len64(n-1)
}
