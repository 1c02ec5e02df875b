package report

import "sort"

// topN keeps the n best items offered, in O(n) memory: a heap whose root
// is the worst item kept. better must be a strict total order so that the
// result does not depend on the order items are offered in.
type topN[T any] struct {
	n      int
	better func(a, b *T) bool
	h      []T
}

func newTopN[T any](n int, better func(a, b *T) bool) *topN[T] {
	return &topN[T]{n: n, better: better}
}

func (t *topN[T]) offer(x T) {
	if t.n <= 0 {
		return
	}
	if len(t.h) < t.n {
		t.h = append(t.h, x)
		for i := len(t.h) - 1; i > 0; {
			p := (i - 1) / 2
			if !t.better(&t.h[p], &t.h[i]) { // parent no better: heap holds
				break
			}
			t.h[p], t.h[i] = t.h[i], t.h[p]
			i = p
		}
		return
	}
	if !t.better(&x, &t.h[0]) {
		return
	}
	t.h[0] = x
	for i := 0; ; {
		l, r, worst := 2*i+1, 2*i+2, i
		if l < len(t.h) && t.better(&t.h[worst], &t.h[l]) {
			worst = l
		}
		if r < len(t.h) && t.better(&t.h[worst], &t.h[r]) {
			worst = r
		}
		if worst == i {
			return
		}
		t.h[i], t.h[worst] = t.h[worst], t.h[i]
		i = worst
	}
}

// sorted returns the items kept, best first.
func (t *topN[T]) sorted() []T {
	out := append([]T(nil), t.h...)
	sort.Slice(out, func(i, j int) bool { return t.better(&out[i], &out[j]) })
	return out
}
