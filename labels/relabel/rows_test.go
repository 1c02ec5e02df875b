package relabel

import (
	"net/netip"
	"testing"
)

func TestParse4(t *testing.T) {
	for _, s := range []string{"0.0.0.0", "1.2.3.4", "255.255.255.255", "198.18.0.1", "10.0.0.10",
		"256.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1..2.3", "", "1.2.3.4 ", "::1", "a.b.c.d", "1.2.3.", ".1.2.3"} {
		want, err := netip.ParseAddr(s)
		ok := err == nil && want.Is4()
		got, gotOK := parse4([]byte(s))
		if gotOK != ok || (ok && got != want) {
			t.Errorf("parse4(%q) = %v, %v; netip says %v, %v", s, got, gotOK, want, ok)
		}
	}
}

func FuzzParse4(f *testing.F) {
	f.Add("1.2.3.4")
	f.Fuzz(func(t *testing.T, s string) {
		want, err := netip.ParseAddr(s)
		ok := err == nil && want.Is4()
		got, gotOK := parse4([]byte(s))
		if gotOK && (!ok || got != want) {
			t.Fatalf("parse4(%q) = %v; netip says %v, %v", s, got, want, ok)
		}
	})
}
