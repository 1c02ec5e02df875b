package capture

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestAddrText: the cached text of an address is netip's, whatever the
// order and however often addresses collide in the cache or the map
// restarts; the same 16 bytes as IPv4 and as IPv6 are two addresses.
func TestAddrText(t *testing.T) {
	want := func(b [16]byte, v uint8) string {
		if v == 4 {
			return netip.AddrFrom4([4]byte(b[:4])).String()
		}
		return netip.AddrFrom16(b).String()
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name     string
		distinct int // addresses drawn from
		lookups  int
	}{
		{"few addresses, all cached", 16, 20000},
		{"more than the cache holds", 3 * addrHot, 200000},
		{"a spoofed flood", 1 << 21, 300000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			type addr struct {
				b [16]byte
				v uint8
			}
			pool := make([]addr, tc.distinct)
			for i := range pool {
				var b [16]byte
				v := uint8(4)
				if i%3 == 0 {
					v = 6
					for j := range b {
						b[j] = byte(rng.Uint32())
					}
				} else {
					for j := range 4 {
						b[j] = byte(rng.Uint32())
					}
				}
				pool[i] = addr{b, v}
			}
			// The same bytes in both versions.
			pool[0] = addr{[16]byte{198, 18, 0, 1}, 4}
			pool[1] = addr{[16]byte{198, 18, 0, 1}, 6}
			at := newAddrText()
			for n := 0; n < tc.lookups; n++ {
				a := pool[rng.IntN(len(pool))]
				if n < 2 {
					a = pool[n]
				}
				if got, w := at.text(a.b, a.v), want(a.b, a.v); got != w {
					t.Fatalf("lookup %d: %v (IPv%d) is %q, want %q", n, a.b, a.v, got, w)
				}
			}
		})
	}
}
