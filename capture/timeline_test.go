package capture

import (
	"fmt"
	"testing"

	"github.com/tacap/tacap/dataset"
)

// TestReasonTimeline: each sample's increase lands in the second the run
// was in since the previous one; time going back counts in the first
// bucket; a long run merges buckets in pairs and loses nothing.
func TestReasonTimeline(t *testing.T) {
	c := func(quota, filtered uint64) dataset.Counters {
		return dataset.Counters{SessionQuota: quota, Filtered: filtered}
	}
	type sample struct {
		sec int64
		c   dataset.Counters
	}
	for _, tc := range []struct {
		name         string
		samples      []sample
		final        dataset.Counters
		width        int64
		quota, filtd []uint64
	}{
		{"one second", nil, c(3, 1), 1, []uint64{3}, []uint64{1}},
		{"increases go to the second they grew in", []sample{{101, c(2, 0)}, {103, c(5, 4)}}, c(6, 4), 1,
			[]uint64{2, 3, 0, 1}, []uint64{0, 4, 0, 0}},
		{"time going back", []sample{{99, c(1, 0)}, {101, c(1, 0)}}, c(1, 2), 1, []uint64{1, 0}, []uint64{0, 2}},
	} {
		var tl reasonTimeline
		tl.at(100, dataset.Counters{})
		for _, s := range tc.samples {
			tl.at(s.sec, s.c)
		}
		tl.add(tc.final)
		m := tl.manifest()
		if m.BucketSeconds != tc.width || m.Start.Unix() != 100 ||
			fmt.Sprint(m.Reasons["session_quota"]) != fmt.Sprint(tc.quota) || fmt.Sprint(m.Reasons["filtered"]) != fmt.Sprint(tc.filtd) {
			t.Errorf("%s: start %v width %d quota %v filtered %v; want width %d quota %v filtered %v", tc.name, m.Start, m.BucketSeconds,
				m.Reasons["session_quota"], m.Reasons["filtered"], tc.width, tc.quota, tc.filtd)
		}
		if len(m.Reasons) != len(dataset.ReasonNames()) {
			t.Errorf("%s: reasons %v, want every reason", tc.name, m.Reasons)
		}
	}
	var tl reasonTimeline
	var total uint64
	for sec := int64(0); sec < 10000; sec++ {
		total += uint64(sec % 7)
		tl.at(1000+sec, c(total, 0))
	}
	tl.add(c(total, 0))
	m := tl.manifest()
	var sum uint64
	for _, n := range m.Reasons["session_quota"] {
		sum += n
	}
	if n := len(m.Reasons["session_quota"]); n > maxReasonBuckets || m.BucketSeconds != 4 || sum != total {
		t.Errorf("10 000 s: %d buckets of %d s holding %d, want at most %d of 4 s holding %d", n, m.BucketSeconds, sum, maxReasonBuckets, total)
	}
	var none reasonTimeline
	if none.manifest() != nil {
		t.Error("a timeline never sampled gives a manifest entry")
	}
}
