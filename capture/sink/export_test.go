package sink

// SetOpenat2 switches between openat2 and the per-component fallback.
func SetOpenat2(on bool) (restore func()) {
	old := haveOpenat2
	haveOpenat2 = on
	return func() { haveOpenat2 = old }
}
