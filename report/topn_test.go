package report

import (
	"math/rand"
	"slices"
	"sort"
	"testing"
)

func TestTopN(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for _, tc := range []struct{ n, items, distinct int }{{0, 10, 10}, {1, 10, 5}, {3, 2, 2}, {10, 1000, 30}, {10, 1000, 100000}, {50, 50, 10}} {
		var all []int
		top := newTopN(tc.n, func(a, b *int) bool { return *a > *b })
		for i := 0; i < tc.items; i++ {
			x := rng.Intn(tc.distinct)
			all = append(all, x)
			top.offer(x)
		}
		sort.Sort(sort.Reverse(sort.IntSlice(all)))
		if want := all[:min(tc.n, len(all))]; !slices.Equal(top.sorted(), want) {
			t.Errorf("%+v: got %v, want %v", tc, top.sorted(), want)
		}
	}
}
