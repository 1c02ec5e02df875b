package capture

import (
	"time"

	"github.com/tacap/tacap/dataset"
)

// maxReasonBuckets bounds a run's counters timeline: past it, buckets
// merge in pairs (their width doubles).
const maxReasonBuckets = 3600

// reasonTimeline records when packets were refused, by reason, from the
// kernel's counters sampled as the run goes: each sample's increase since
// the last goes to the second the run was in since then.
type reasonTimeline struct {
	started bool
	start   int64 // second of bucket 0
	width   int64 // seconds per bucket
	sec     int64 // the second being counted
	last    dataset.Counters
	buckets [][]uint64 // per bucket, per reason (dataset.ReasonNames order)
}

// in says whether the timeline is at second sec.
func (t *reasonTimeline) in(sec int64) bool { return t.started && sec == t.sec }

// at moves the timeline to second sec, taking the counters c as they stand
// when it leaves the second it was in.
func (t *reasonTimeline) at(sec int64, c dataset.Counters) {
	if !t.started {
		t.started, t.start, t.width, t.sec = true, sec, 1, sec
	}
	t.add(c)
	t.sec = sec
}

// add puts the counters' increase since the last sample into the bucket of
// the current second.
func (t *reasonTimeline) add(c dataset.Counters) {
	if !t.started {
		return
	}
	now, before := c.Reasons(), t.last.Reasons()
	t.last = c
	idx := t.index(t.sec)
	for i := range now {
		if now[i].Count > before[i].Count {
			t.buckets[idx][i] += now[i].Count - before[i].Count
		}
	}
}

// index is sec's bucket, growing (and merging) the buckets to hold it. A
// second before the start (a capture file's time going back) counts in the
// first bucket.
func (t *reasonTimeline) index(sec int64) int {
	idx := max(sec-t.start, 0) / t.width
	for idx >= maxReasonBuckets {
		t.merge()
		idx = max(sec-t.start, 0) / t.width
	}
	for int64(len(t.buckets)) <= idx {
		t.buckets = append(t.buckets, make([]uint64, len(dataset.ReasonNames())))
	}
	return int(idx)
}

// merge halves the buckets, doubling their width.
func (t *reasonTimeline) merge() {
	out := make([][]uint64, (len(t.buckets)+1)/2)
	for i, b := range t.buckets {
		if out[i/2] == nil {
			out[i/2] = make([]uint64, len(b))
		}
		for r, n := range b {
			out[i/2][r] += n
		}
	}
	t.buckets, t.width = out, 2*t.width
}

// manifest is the timeline for the manifest; nil when nothing was sampled.
func (t *reasonTimeline) manifest() *dataset.CountersTimeline {
	if !t.started {
		return nil
	}
	names := dataset.ReasonNames()
	out := &dataset.CountersTimeline{Start: time.Unix(t.start, 0).UTC(), BucketSeconds: t.width, Reasons: map[string][]uint64{}}
	for r, name := range names {
		series := make([]uint64, len(t.buckets))
		for i, b := range t.buckets {
			series[i] = b[r]
		}
		out.Reasons[name] = series
	}
	return out
}
