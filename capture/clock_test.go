package capture

import (
	"testing"
	"time"
)

func TestAnchor(t *testing.T) {
	a := NewAnchor()
	if a.ErrorNs < 0 || a.ErrorNs > int64(time.Millisecond) {
		t.Fatalf("anchor bracket ±%d ns, want under 1 ms", a.ErrorNs)
	}
	// A monotonic reading taken now converts to (about) the wall clock now.
	before := time.Now()
	got := a.Time(uint64(monoNow()))
	after := time.Now()
	slack := 2 * time.Millisecond
	if got.Before(before.Add(-slack)) || got.After(after.Add(slack)) {
		t.Fatalf("converted time %v not within [%v, %v] ± %v", got, before, after, slack)
	}
	if got.Location() != time.UTC {
		t.Fatalf("location %v, want UTC", got.Location())
	}
}

func TestAnchorArithmetic(t *testing.T) {
	a := Anchor{WallNs: 1_700_000_000_000_000_000, MonoNs: 5_000_000_000}
	for _, tc := range []struct {
		mono uint64
		want int64
	}{
		{5_000_000_000, 1_700_000_000_000_000_000},
		{5_000_000_001, 1_700_000_000_000_000_001},
		{4_000_000_000, 1_699_999_999_000_000_000}, // before the anchor: a record drained from before the run started
		{65_000_000_000, 1_700_000_060_000_000_000},
	} {
		if got := a.Wall(tc.mono); got != tc.want {
			t.Errorf("Wall(%d) = %d, want %d", tc.mono, got, tc.want)
		}
	}
}
